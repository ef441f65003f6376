/**
 * Determinism check of the QEMU targets: runs each target `--repeat` times in
 * a row (default 10) with the gate's seed, runs and timeout, and reports, per
 * target, the verdict counts of each repetition and every clause whose
 * verdict flipped between repetitions. Exit code 1 when anything flipped.
 *
 * ```sh
 * deno run --no-prompt --allow-read=. --allow-write=reports/tmp --allow-net=unix:… \
 *   --allow-run=qemu-system-aarch64,qemu-system-x86_64 bench/qemu_determinism.ts [--repeat 10] [target-name …]
 * ```
 *
 * @module
 */
import { parseArgs } from "@std/parse-args";
import { CLAUSES } from "../suites/mod.ts";
import { runTarget } from "../harness/core/runner.ts";
import { loadTarget } from "../harness/cli/target_file.ts";
import {
  GATE_CLAUSE_TIMEOUT_MS,
  GATE_RUNS,
  GATE_SEED,
  GATE_SHRINK,
  GATE_TARGETS,
  resultKey,
} from "../harness/core/expectations.ts";
import type { Verdict } from "../harness/core/result.ts";

const ALL = GATE_TARGETS;

const args = parseArgs(Deno.args, { string: ["repeat"] });
const repeat = Number(args.repeat ?? 10);
const names = args._.length ? args._.map(String) : ALL;
let flips = 0;
for (const name of names) {
  const loaded = await loadTarget(`fixtures/targets/${name}.jsonc`);
  const seen = new Map<string, Set<Verdict>>();
  const times: number[] = [];
  const counts: string[] = [];
  for (let i = 0; i < repeat; i++) {
    const t0 = performance.now();
    const results = await runTarget(loaded.target, CLAUSES, {
      seed: GATE_SEED,
      runs: GATE_RUNS,
      strict: true,
      shrink: GATE_SHRINK,
      targetArg: loaded.targetArg,
      clauseTimeoutMs: GATE_CLAUSE_TIMEOUT_MS,
    });
    times.push((performance.now() - t0) / 1000);
    const c: Record<string, number> = {};
    for (const r of results) {
      c[r.verdict] = (c[r.verdict] ?? 0) + 1;
      const key = `${r.clause} ${resultKey(r)}`;
      if (!seen.has(key)) seen.set(key, new Set());
      seen.get(key)!.add(r.verdict);
    }
    counts.push(["pass", "fail", "warn", "n/a", "error"].map((v) => `${c[v] ?? 0}`).join("/"));
  }
  const flipped = [...seen].filter(([, v]) => v.size > 1);
  flips += flipped.length;
  console.log(
    `${name}: ${repeat} runs, pass/fail/warn/n-a/error per run ${counts.join(" ")}; ${
      times.map((t) => t.toFixed(1)).join(" ")
    } s; ${flipped.length} flipped`,
  );
  for (const [k, v] of flipped) console.log(`  FLIP ${k}: ${[...v].join(", ")}`);
}
Deno.exit(flips ? 1 : 0);
