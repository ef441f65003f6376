/**
 * `deno task determinism`: runs chosen targets over several seeds, several times each (optionally with a CPU-bound
 * load beside them), and prints every verdict that flips: between repeats of one seed (the run is not deterministic)
 * or between seeds (the verdict depends on the seed).
 *
 * ```sh
 * deno task determinism --target reference-rng-device --target fixtures/targets/qemu-blk-pci.jsonc \
 *   --seeds 3 --repeats 3 --load
 * ```
 *
 * Exit code 1 when a verdict flipped between repeats of one seed, 2 on a usage error.
 *
 * @module
 */
import { flagValue, parseFlags, parseInteger } from "./flags.ts";
import { UsageError } from "../options.ts";
import { CLAUSES } from "../../suites/mod.ts";
import { GATE_CLAUSE_TIMEOUT_MS, GATE_RUNS, GATE_SEED, GATE_SHRINK, resultKey } from "../core/expectations.ts";
import type { Verdict } from "../core/result.ts";
import { runTarget } from "../core/runner.ts";
import { loadTarget } from "./target_file.ts";
import { errorText } from "../text.ts";

/** What to run. */
export interface DeterminismOptions {
  /** Built-in target names or target files. */
  targets: string[];
  /** How many seeds, from the gate's seed up. */
  seeds: number;
  /** Runs per seed. */
  repeats: number;
  /** Keep one CPU busy in a Worker while the targets run. */
  load: boolean;
  /** Where progress lines go. */
  log?: (line: string) => void;
}

/** One result's verdicts: by seed, the verdict of each repeat. */
export interface Flip {
  target: string;
  result: string;
  verdicts: Record<number, Verdict[]>;
}

/** What the runs showed. */
export interface DeterminismReport {
  /** Results whose verdict differed between repeats of one seed. */
  unstable: Flip[];
  /** Results steady within each seed whose verdict differed between seeds. */
  seedDependent: Flip[];
  runs: number;
}

const BUSY = "let x = 0; for (;;) { x = (x * 31 + 7) | 0; }";

/** Runs the targets as asked and compares their verdicts. */
export async function determinism(o: DeterminismOptions): Promise<DeterminismReport> {
  const log = o.log ?? (() => {});
  let busy: Worker | undefined;
  if (o.load) {
    const url = URL.createObjectURL(new Blob([BUSY], { type: "application/javascript" }));
    busy = new Worker(url, { type: "module" });
  }
  const report: DeterminismReport = { unstable: [], seedDependent: [], runs: 0 };
  try {
    for (const arg of o.targets) {
      const seen = new Map<string, Record<number, Verdict[]>>();
      for (let s = 0; s < o.seeds; s++) {
        const seed = GATE_SEED + s;
        for (let r = 0; r < o.repeats; r++) {
          const loaded = await loadTarget(arg);
          const t0 = performance.now();
          const results = await runTarget(loaded.target, CLAUSES, {
            seed,
            runs: GATE_RUNS,
            strict: true,
            shrink: GATE_SHRINK,
            targetArg: loaded.targetArg,
            clauseTimeoutMs: GATE_CLAUSE_TIMEOUT_MS,
            ...(loaded.present ? { present: loaded.present } : {}),
          });
          report.runs++;
          const counts: Record<string, number> = {};
          for (const x of results) {
            counts[x.verdict] = (counts[x.verdict] ?? 0) + 1;
            const key = `${resultKey(x)} on ${x.transport}`;
            const bySeed = seen.get(key) ?? {};
            (bySeed[seed] ??= []).push(x.verdict);
            seen.set(key, bySeed);
          }
          const summary = ["pass", "fail", "warn", "n/a", "error"].map((v) => `${counts[v] ?? 0} ${v}`).join(", ");
          log(`${arg} seed ${seed} run ${r + 1}: ${summary} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
        }
      }
      for (const [result, verdicts] of seen) {
        const perSeed = Object.values(verdicts);
        const flip = { target: arg, result, verdicts };
        if (perSeed.some((v) => new Set(v).size > 1)) report.unstable.push(flip);
        else if (new Set(perSeed.map((v) => v[0])).size > 1) report.seedDependent.push(flip);
      }
    }
  } finally {
    busy?.terminate();
  }
  return report;
}

function describeFlip(f: Flip): string {
  return `${f.target} ${f.result}: ` +
    Object.entries(f.verdicts).map(([seed, v]) => `seed ${seed} ${v.join("/")}`).join("; ");
}

if (import.meta.main) {
  const usage = "usage: deno task determinism --target <name or file> [--target …] [--seeds 1-100 (3)] " +
    "[--repeats 1-100 (3)] [--load]";
  let targets: string[], seeds: number, repeats: number, load: boolean;
  try {
    const f = parseFlags(Deno.args, {
      values: ["target", "seeds", "repeats"],
      booleans: ["load"],
      repeatable: ["target"],
    });
    if (f.booleans.has("help")) {
      console.log(usage);
      Deno.exit(0);
    }
    targets = f.values.get("target") ?? [];
    if (targets.length === 0) throw new UsageError("name at least one --target");
    const seedsFlag = flagValue(f, "seeds");
    const repeatsFlag = flagValue(f, "repeats");
    seeds = seedsFlag === undefined ? 3 : parseInteger("seeds", seedsFlag, 1, 100);
    repeats = repeatsFlag === undefined ? 3 : parseInteger("repeats", repeatsFlag, 1, 100);
    load = f.booleans.has("load");
  } catch (e) {
    console.error(`determinism: error: ${errorText(e)}\n${usage}`);
    Deno.exit(2);
  }
  const r = await determinism({ targets, seeds, repeats, load, log: console.log });
  for (const f of r.unstable) console.log(`UNSTABLE ${describeFlip(f)}`);
  for (const f of r.seedDependent) console.log(`SEED-DEPENDENT ${describeFlip(f)}`);
  console.log(
    `${r.runs} runs: ${r.unstable.length} verdicts flipped between repeats, ${r.seedDependent.length} between seeds`,
  );
  Deno.exit(r.unstable.length > 0 ? 1 : 0);
}
