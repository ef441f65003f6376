/**
 * Entry point of `deno task conform`; see `harness/cli/cli.ts` and the README.
 *
 * @module
 */
import { main } from "./harness/cli/cli.ts";

if (import.meta.main) {
  // An implementation under test that throws from a timer or leaves a promise
  // rejected must not kill the run with a stack trace: note it in one line;
  // the clause it belongs to ends in a verdict (usually error by timeout).
  const note = (what: string, reason: unknown) => {
    const msg = reason instanceof Error ? reason.message : String(reason);
    console.error(`conform: note: ${what} in the target: ${msg.split("\n")[0]}`);
  };
  globalThis.addEventListener("unhandledrejection", (e) => {
    e.preventDefault();
    note("unhandled rejection", e.reason);
  });
  globalThis.addEventListener("error", (e) => {
    e.preventDefault();
    note("uncaught exception", e.error ?? e.message);
  });
  Deno.exit(await main(Deno.args));
}
