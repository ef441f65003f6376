/**
 * `deno task expectations --target <file> [--update] [--seed n] [--runs n]`:
 * runs a target (strict, the gate's seed and runs by default) and compares
 * the results with `fixtures/expectations/<target-name>.jsonc`; with
 * `--update` rewrites that file from the run, keeping existing reasons.
 * Exit codes: 0 as expected (or updated), 1 unexpected verdicts, 2 usage.
 *
 * @module
 */
import { CLAUSES } from "../../suites/mod.ts";
import { runTarget } from "../core/runner.ts";
import { loadTarget } from "./target_file.ts";
import { flagValue, parseFlags, parseInteger } from "./flags.ts";
import {
  compareExpectations,
  comparisonFailed,
  describeComparison,
  type ExpectationsFile,
  expectationsFromRun,
  expectationsPath,
  formatExpectations,
  GATE_CLAUSE_TIMEOUT_MS,
  GATE_RUNS,
  GATE_SEED,
  GATE_SHRINK,
  loadExpectations,
} from "../core/expectations.ts";
import { errorText } from "../text.ts";

const USAGE = `Usage: deno task expectations --target <target file> [--update] [--seed <n>] [--runs <n>] [--dir <dir>]
  Runs the target (strict) and compares with <dir>/<target name>.jsonc (default dir fixtures/expectations).
  --update   rewrite the expectations file from this run (existing reasons are kept)`;

async function main(args: string[]): Promise<number> {
  const f = parseFlags(args, { values: ["target", "seed", "runs", "dir"], booleans: ["update"] });
  if (f.booleans.has("help")) {
    console.log(USAGE);
    return 0;
  }
  const targetFile = flagValue(f, "target");
  if (!targetFile) {
    console.error(`expectations: error: --target is required\n${USAGE}`);
    return 2;
  }
  const seedFlag = flagValue(f, "seed");
  const runsFlag = flagValue(f, "runs");
  const seed = seedFlag !== undefined ? parseInteger("seed", seedFlag, 0, 0x7fff_ffff) : GATE_SEED;
  const runs = runsFlag !== undefined ? parseInteger("runs", runsFlag, 1, 1_000_000) : GATE_RUNS;
  const a = { target: targetFile, update: f.booleans.has("update"), dir: flagValue(f, "dir") };
  const loaded = await loadTarget(a.target);
  const target = loaded.target;
  const name = target.info.name;
  const path = expectationsPath(name, a.dir ?? "fixtures/expectations");
  let previous: ExpectationsFile | undefined;
  try {
    previous = await loadExpectations(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  const t0 = performance.now();
  const results = await runTarget(target, CLAUSES, {
    seed,
    runs,
    strict: true,
    shrink: GATE_SHRINK,
    targetArg: loaded.targetArg,
    clauseTimeoutMs: GATE_CLAUSE_TIMEOUT_MS,
  });
  const secs = ((performance.now() - t0) / 1000).toFixed(1);
  const counts = new Map<string, number>();
  for (const r of results) counts.set(r.verdict, (counts.get(r.verdict) ?? 0) + 1);
  console.log(`${name}: ${[...counts].map(([v, n]) => `${n} ${v}`).join(", ")} in ${secs} s`);
  if (a.update) {
    const file = expectationsFromRun(name, results, { seed, runs, strict: true }, previous);
    await Deno.writeTextFile(path, formatExpectations(file));
    const todo = file.expectations.filter((e) => e.reason.startsWith("TODO")).length;
    console.log(`wrote ${path}: ${file.expectations.length} entries${todo ? `, ${todo} need a reason (TODO)` : ""}`);
    return 0;
  }
  if (!previous) {
    console.error(`expectations: error: ${path} does not exist (run with --update to create it)`);
    return 2;
  }
  const cmp = compareExpectations(results, previous);
  for (const l of describeComparison(name, cmp)) console.log(l);
  console.log(
    `${name}: ${cmp.expected} as expected, ${cmp.unexpected.length} unexpected, ${cmp.unexpectedPass.length} unexpected pass, ${cmp.stale.length} stale`,
  );
  return comparisonFailed(cmp) ? 1 : 0;
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (e) {
    console.error(`expectations: error: ${errorText(e)}`);
    Deno.exit(2);
  }
}
