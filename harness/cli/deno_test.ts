/**
 * `deno test` integration: with `VIRTIO_TARGET` naming a target file (or a
 * built-in target), one `Deno.test` per clause of the target's role, so that
 * `deno test --reporter=junit` reports a user's implementation like any
 * test suite. A `fail` or `error` verdict fails the test; `n/a` passes and
 * logs the reason.
 *
 * ```sh
 * VIRTIO_TARGET=fixtures/targets/reference_blk_device.jsonc deno task test suites/target_test.ts
 * ```
 *
 * @module
 */
import { CLAUSES } from "../../suites/mod.ts";
import { type Clause, clauseId, clauseKey } from "../core/clause.ts";
import { DEFAULT_RUNS, DEFAULT_SEED } from "./cli.ts";
import { runTarget, selectClauses } from "../core/runner.ts";
import { loadTarget } from "./target_file.ts";
import type { ClauseResult } from "../core/result.ts";

/** What {@link registerTargetTests} registers tests with (`Deno.test` by default). */
export type Register = (def: Deno.TestDefinition) => void;

/** Options of {@link registerTargetTests}. */
export interface TargetTestOptions {
  clauses?: readonly Clause[];
  seed?: number;
  runs?: number;
  strict?: boolean;
  register?: Register;
}

function failureText(r: ClauseResult): string {
  const lines = [`${r.clause} ${r.verdict}: ${r.message}`, `Requirement: ${r.requirement}`];
  if (r.expected) lines.push(`Expected: ${r.expected}`);
  if (r.actual) lines.push(`Actual: ${r.actual}`);
  if (r.counterexample) lines.push(`Counterexample: ${r.counterexample}`);
  lines.push(`Seed: ${r.seed}`);
  if (r.replay) lines.push(`Replay: ${r.replay}`);
  return lines.join("\n");
}

/**
 * Loads the target and registers one test per clause of its role. Does
 * nothing when `targetFile` is undefined or empty. Returns the number of
 * tests registered.
 */
export async function registerTargetTests(
  targetFile: string | undefined,
  opts: TargetTestOptions = {},
): Promise<number> {
  if (!targetFile) return 0;
  const loaded = await loadTarget(targetFile);
  const target = loaded.target;
  const present = target.role === "driver" ? loaded.present ?? target.info.deviceTypes[0] : undefined;
  const strict = opts.strict ?? false;
  const clauses = selectClauses(opts.clauses ?? CLAUSES, target.role, { strict });
  const register = opts.register ?? ((d: Deno.TestDefinition) => Deno.test(d));
  for (const c of clauses) {
    register({
      name: `${target.info.name} ${clauseId(c)} ${c.title}`,
      sanitizeOps: false,
      sanitizeResources: false,
      async fn() {
        const [r] = await runTarget(target, [c], {
          seed: opts.seed ?? DEFAULT_SEED,
          runs: opts.runs ?? DEFAULT_RUNS,
          strict,
          filter: clauseKey(c),
          targetArg: loaded.targetArg,
          ...(present ? { present } : {}),
        });
        if (!r) throw new Error(`${clauseId(c)}: the runner returned no result`);
        if (r.verdict === "fail" || r.verdict === "error") throw new Error(failureText(r));
        if (r.verdict === "n/a") console.log(`n/a: ${r.message}`);
        if (r.verdict === "warn") console.log(`warn: ${failureText(r)}`);
      },
    });
  }
  return clauses.length;
}
