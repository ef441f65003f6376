/**
 * Entry point of `deno task conform`; see `harness/cli.ts` and the README.
 *
 * @module
 */
import { main } from "./harness/cli.ts";

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
