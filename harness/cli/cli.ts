/**
 * The `conform` command line: parses flags, builds the target runs, streams
 * results to the console, writes the JSON and JUnit reports.
 *
 * Exit codes: 0 when no result is `fail` or `error`, 1 otherwise, 2 for a
 * usage error (one sentence on stderr: `conform: error: …`).
 *
 * @module
 */
import { CLAUSES, WAIVERS } from "../../suites/mod.ts";
import type { DriverTarget, Target } from "../adapter.ts";
import { type Clause, clauseId, type DeviceClause, isAdvisory, type Waiver } from "../core/clause.ts";
import { computeCoverage } from "../core/coverage.ts";
import { bitsOf, type DeviceTypeName, featureName, HARNESS_TRANSPORTS, type TransportKind } from "../features.ts";
import { findBlock, SPEC_VERSION } from "../spec_data.ts";
import type { ClauseResult, RunMeta, WaiverEntry } from "../core/result.ts";
import { runFailed } from "../core/result.ts";
import {
  clauseApplicability,
  identifyType,
  inShard,
  matchesFilter,
  runTarget,
  runTransports,
  selectClauses,
} from "../core/runner.ts";
import { HarnessDriver } from "../roles/harness_driver.ts";
import { openDriverTransport } from "../transport/open.ts";
import { referenceDeviceTarget } from "../models/device/reference.ts";
import { referenceDriver } from "./builtins.ts";
import { type LoadedTarget, loadTarget, PRESENTABLE, renameDriver, UsageError } from "./target_file.ts";
import { flagValue, parseFlags, parseInteger } from "./flags.ts";
import { ConsoleReporter } from "../../reports/console.ts";
import { checkWritable, JsonLines, writeTextAtomicSync } from "../../reports/files.ts";
import { Progress, type ProgressSink } from "../../reports/progress.ts";
import { buildReport, jsonLinesPath, writeJsonReport, writeJsonReportSync } from "../../reports/json.ts";
import { writeJunitReport, writeJunitReportSync } from "../../reports/junit.ts";
import { cleanupAdapters } from "../adapters/registry.ts";
import denoConfig from "../../deno.json" with { type: "json" };
import { errorText } from "../text.ts";

/** Version of this suite (the JSON report's `meta.suiteVersion`): the package version in `deno.json`. */
export const SUITE_VERSION: string = denoConfig.version;

/** The seed when `--seed` is not given. */
export const DEFAULT_SEED = 0x5eed;

/** Property runs when `--runs` is not given. */
export const DEFAULT_RUNS = 50;

/** Default report paths. */
export const DEFAULT_JSON = "reports/latest.json";
export const DEFAULT_JUNIT = "reports/latest.junit.xml";
/** Where each run writes its own reports when no path is given (`<run id>.json`, `.jsonl`, `.junit.xml`). */
export const RUNS_DIR = "reports/runs";
/** How many runs' reports {@link RUNS_DIR} keeps (the oldest go first). */
const RUNS_KEPT = 40;

/** A run's id: its start (UTC, to the second), the process and a random tail, so no two runs share one. */
export function runId(at = new Date()): string {
  const t = at.toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
  return `${t}-${Deno.pid}-${Math.random().toString(36).slice(2, 6)}`;
}

/** Copies one run's reports to the `latest` names, each atomically (a reader sees the old file or the new one). */
export function publishLatest(from: { json: string; junit: string }): void {
  const pairs: [string, string][] = [
    [from.json, DEFAULT_JSON],
    [jsonLinesPath(from.json), jsonLinesPath(DEFAULT_JSON)],
    [from.junit, DEFAULT_JUNIT],
  ];
  for (const [src, dst] of pairs) {
    try {
      writeTextAtomicSync(dst, Deno.readTextFileSync(src));
    } catch {
      // a report this run could not write has no latest copy either
    }
  }
}

/** Removes the oldest runs' reports beyond {@link RUNS_KEPT} (best effort). */
function pruneRuns(): void {
  try {
    const ids = [...Deno.readDirSync(RUNS_DIR)].filter((e) => e.name.endsWith(".json")).map((e) => e.name.slice(0, -5))
      .sort();
    for (const id of ids.slice(0, Math.max(0, ids.length - RUNS_KEPT))) {
      for (const ext of [".json", ".jsonl", ".junit.xml"]) {
        try {
          Deno.removeSync(`${RUNS_DIR}/${id}${ext}`);
        } catch {
          // gone already
        }
      }
    }
  } catch {
    // nothing to prune, or a concurrent run pruned first
  }
}

/** Parsed command line. */
export interface CliOptions {
  target?: string;
  role?: "device" | "driver";
  present?: DeviceTypeName;
  /** Only this transport. */
  transport?: TransportKind;
  filter?: string;
  strict: boolean;
  seed: number;
  seedGiven: boolean;
  runs: number;
  replay?: string;
  list: boolean;
  json: string;
  junit: string;
  /**
   * Neither --json nor --junit was given: the run writes its own files under {@link RUNS_DIR} and copies them to the
   * `latest` names when it ends, so runs started together in one checkout never write the same file.
   */
  defaultReports: boolean;
  quiet: boolean;
  /** No progress on stderr (`--no-progress`). */
  noProgress: boolean;
  /** Only this shard of the campaign (`--shard index/count`). */
  shard?: { index: number; count: number };
  timeoutMs?: number;
  help: boolean;
}

const VALUE_FLAGS = [
  "target",
  "role",
  "present",
  "transport",
  "filter",
  "seed",
  "runs",
  "replay",
  "json",
  "junit",
  "timeout",
  "shard",
] as const;
const BOOL_FLAGS = ["strict", "list", "quiet", "no-progress", "help"] as const;
/** Every flag `deno task conform` takes (without the leading `--`). */
export const CONFORM_FLAGS: readonly string[] = [...VALUE_FLAGS, ...BOOL_FLAGS];

/** The `--help` text. */
export const USAGE = `Usage: deno task conform [flags]

Runs the virtio ${SPEC_VERSION} conformance clauses against targets. Without
--target: the reference rng and blk devices (device role) and the reference
driver presented an rng and a blk device (driver role).

Flags:
  --target <file|name>   a target file (JSONC) or a built-in target:
                         reference-rng-device, reference-blk-device,
                         reference-console-device, reference-net-device,
                         reference-driver,
                         mutant:<name>
  --role device|driver   run only targets of this role
  --present rng|blk|console|net  the device type the harness presents to a driver
  --transport <t>        only this transport: mmio, pci or mmio-legacy
                         (default: every transport the target offers)
  --filter <prefix>      only clauses whose label, section or id starts so
                         (e.g. 2.4, 2.4.1#1, "devicenormative:…")
  --strict               also run SHOULD clauses (a broken SHOULD warns)
  --seed <n>             seed of every random choice (default 0x5eed)
  --runs <n>             runs per property (default ${DEFAULT_RUNS})
  --replay <path>        replay a property's counterexample path
                         (with --filter naming one clause and its --seed)
  --timeout <ms>         deadline per clause (default 120000)
  --list                 print what would run and why clauses would not apply
  --json <path>          JSON report (default: reports/runs/<run id>.json, copied to ${DEFAULT_JSON} at the end;
                         the JSON Lines stream is beside it, .jsonl)
  --junit <path>         JUnit XML report (default: reports/runs/<run id>.junit.xml, copied to ${DEFAULT_JUNIT})
  --quiet                print only results that are not pass, and the summary
  --shard <i>/<n>        run shard i of n of the campaign (each clause of each target and transport in exactly one
                         shard, by a stable hash: the shards' results together are one run's)
  --no-progress          no progress on stderr (by default: a status line on a terminal, a line every 10 s in a log)
  --help, -h             this text

Exit code: 0 when nothing failed, 1 on a fail or error verdict, 2 on a usage error.`;

/** Parses the command line; throws {@link UsageError} on anything it does not accept. */
export function parseCli(args: readonly string[]): CliOptions {
  const parsed = parseFlags(args, {
    values: VALUE_FLAGS,
    booleans: BOOL_FLAGS,
    positional: { refuse: "targets are given with --target" },
  });
  const values = { get: (name: string) => flagValue(parsed, name), has: (name: string) => parsed.values.has(name) };
  const bools = parsed.booleans;
  const opts: CliOptions = {
    strict: bools.has("strict"),
    seed: DEFAULT_SEED,
    seedGiven: values.has("seed"),
    runs: DEFAULT_RUNS,
    list: bools.has("list"),
    json: values.get("json") ?? DEFAULT_JSON,
    junit: values.get("junit") ?? DEFAULT_JUNIT,
    defaultReports: !values.has("json") && !values.has("junit"),
    quiet: bools.has("quiet"),
    noProgress: bools.has("no-progress"),
    help: bools.has("help"),
  };
  const target = values.get("target");
  if (target !== undefined) opts.target = target;
  const shard = values.get("shard");
  if (shard !== undefined) {
    const m = /^(\d{1,4})\/(\d{1,4})$/.exec(shard);
    const index = Number(m?.[1]);
    const count = Number(m?.[2]);
    if (!m || index < 1 || count < 1 || index > count) {
      throw new UsageError(`--shard must be <index>/<count> with 1 <= index <= count, got ${JSON.stringify(shard)}`);
    }
    opts.shard = { index, count };
  }
  const role = values.get("role");
  if (role !== undefined) {
    if (role !== "device" && role !== "driver") {
      throw new UsageError(`--role: must be "device" or "driver", got "${role}"`);
    }
    opts.role = role;
  }
  const present = values.get("present");
  if (present !== undefined) {
    if (!(PRESENTABLE as readonly string[]).includes(present)) {
      throw new UsageError(`--present: must be ${PRESENTABLE.map((p) => `"${p}"`).join(" or ")}, got "${present}"`);
    }
    opts.present = present as DeviceTypeName;
    if (opts.role === "device") throw new UsageError(`--present: applies to driver targets, but --role is "device"`);
  }
  const transport = values.get("transport");
  if (transport !== undefined) {
    if (!(HARNESS_TRANSPORTS as readonly string[]).includes(transport)) {
      throw new UsageError(
        `--transport: must be ${HARNESS_TRANSPORTS.map((t) => `"${t}"`).join(", ")}, got "${transport}"`,
      );
    }
    opts.transport = transport as TransportKind;
  }
  const filter = values.get("filter");
  if (filter !== undefined) opts.filter = filter;
  const seed = values.get("seed");
  if (seed !== undefined) opts.seed = parseInteger("seed", seed, -0x8000_0000, 0x7fff_ffff);
  const runs = values.get("runs");
  if (runs !== undefined) opts.runs = parseInteger("runs", runs, 1, 1_000_000);
  const timeout = values.get("timeout");
  if (timeout !== undefined) opts.timeoutMs = parseInteger("timeout", timeout, 1, 3_600_000);
  const replay = values.get("replay");
  if (replay !== undefined) {
    if (!/^\d+(:\d+)*$/.test(replay)) {
      throw new UsageError(
        `--replay: "${replay}" is not a counterexample path (numbers separated by colons, e.g. 3:0:1)`,
      );
    }
    if (!opts.filter) throw new UsageError(`--replay: needs --filter naming the one clause to replay`);
    opts.replay = replay;
  }
  return opts;
}

/** One run of clauses against one target. */
export interface TargetRun {
  target: Target;
  /** How replay commands name the target. */
  targetArg: string;
  /** Driver role: the device type presented. */
  present?: DeviceTypeName;
}

function withName(t: DriverTarget, present: DeviceTypeName, fanOut: boolean): DriverTarget {
  return fanOut ? renameDriver(t, `${t.info.name}[${present}]`) : t;
}

function driverRuns(
  loaded: { target: DriverTarget; targetArg: string; present?: DeviceTypeName },
  want?: DeviceTypeName,
): TargetRun[] {
  const t = loaded.target;
  if (want) {
    if (!t.info.deviceTypes.includes(want)) {
      throw new UsageError(
        `--present: driver "${t.info.name}" drives ${t.info.deviceTypes.join(", ")} only, not ${want}`,
      );
    }
    return [{ target: t, targetArg: loaded.targetArg, present: want }];
  }
  if (loaded.present) return [{ target: t, targetArg: loaded.targetArg, present: loaded.present }];
  // A watched driver runs beside its own device: any type it drives is judged, presented or not.
  const types = t.info.deviceTypes.filter((d) => PRESENTABLE.includes(d) || t.watch !== undefined);
  if (types.length === 0) {
    throw new UsageError(
      `target ${t.info.name}: drives ${t.info.deviceTypes.join(", ")}, and the harness can present ${
        PRESENTABLE.join(", ")
      } only`,
    );
  }
  return types.map((p) => ({ target: withName(t, p, types.length > 1), targetArg: loaded.targetArg, present: p }));
}

/** The target runs a command line asks for. */
export async function planRuns(opts: CliOptions): Promise<TargetRun[]> {
  if (opts.target !== undefined) {
    let loaded: LoadedTarget;
    try {
      loaded = await loadTarget(opts.target);
    } catch (e) {
      if (e instanceof UsageError) throw e;
      throw new UsageError(`target ${opts.target}: ${errorText(e)}`);
    }
    const t = loaded.target;
    if (opts.role && opts.role !== t.role) {
      throw new UsageError(`--role: is "${opts.role}" but target ${opts.target} is a ${t.role} target`);
    }
    if (t.role === "device") {
      if (opts.present) {
        throw new UsageError(`--present: applies to driver targets, but ${opts.target} is a device target`);
      }
      return [{ target: t, targetArg: loaded.targetArg }];
    }
    const d: { target: DriverTarget; targetArg: string; present?: DeviceTypeName } = {
      target: t,
      targetArg: loaded.targetArg,
    };
    if (loaded.present) d.present = loaded.present;
    return driverRuns(d, opts.present);
  }
  const runs: TargetRun[] = [];
  if (opts.role !== "driver" && !opts.present) {
    for (const type of ["rng", "blk"] as const) {
      runs.push({ target: referenceDeviceTarget(type), targetArg: `--target reference-${type}-device` });
    }
  }
  if (opts.role !== "device") {
    const drv = await referenceDriver("reference-driver");
    const targetArg = "--target reference-driver";
    if (drv && opts.present) runs.push(...driverRuns({ target: drv, targetArg }, opts.present));
    // The default run presents rng and blk (the four runs the docs name); `--present console` runs the console.
    else if (drv) {
      runs.push(...(["rng", "blk"] as const).map((p) => ({ target: withName(drv, p, true), targetArg, present: p })));
    } else if (opts.role === "driver" || opts.present) {
      throw new UsageError(`--role driver: this build has no reference driver yet`);
    }
  }
  return runs;
}

/** Console and stream plumbing of {@link main}; injectable for tests. */
export interface CliIO {
  stdout(line: string): void;
  stderr(line: string): void;
  /** Force colour on or off (default: NO_COLOR and the terminal decide). */
  color?: boolean;
  /** Clauses and waivers (default: the suite's). */
  clauses?: readonly Clause[];
  waivers?: readonly Waiver[];
  /** Where the run's progress goes (default: none; the command line uses stderr). */
  progress?: ProgressSink;
  /**
   * Where SIGINT / SIGTERM come from (default: none; the command line uses
   * the process's). On either, the run stops: the reports of what was
   * obtained are written marked incomplete, every QEMU is killed, and
   * {@link main} returns 130 / 143 (the command line exits at once with it).
   */
  signals?: SignalSource;
}

/** A source of the signals that stop a run: the process's, or a test's. */
export interface SignalSource {
  add(signal: "SIGINT" | "SIGTERM", handler: () => void): void;
  remove(signal: "SIGINT" | "SIGTERM", handler: () => void): void;
  /** Called with the exit code once the reports are written (the process's source exits). */
  stopped?(code: number): void;
}

const PROCESS_SIGNALS: SignalSource = {
  add: (sig, h) => Deno.addSignalListener(sig, h),
  remove: (sig, h) => Deno.removeSignalListener(sig, h),
  stopped: (code) => Deno.exit(code),
};

const DEFAULT_IO: CliIO = {
  stdout: (l) => console.log(l),
  stderr: (l) => console.error(l),
  signals: PROCESS_SIGNALS,
  progress: {
    write: (text) => {
      try {
        Deno.stderr.writeSync(new TextEncoder().encode(text));
      } catch {
        // stderr closed: no progress
      }
    },
    terminal: Deno.stderr.isTerminal(),
  },
};

function oneLine(e: unknown): string {
  const msg = errorText(e);
  return msg.split("\n")[0] ?? msg;
}

function runDetail(run: TargetRun, transports: readonly TransportKind[]): string {
  const t = run.target;
  const over = transports.join(", ");
  if (t.role === "device") {
    return `device role, ${t.info.adapter} adapter, ${over}${t.info.deviceType ? `, ${t.info.deviceType}` : ""}`;
  }
  return `driver role, ${t.info.adapter} adapter, ${over}, presented ${run.present ?? t.info.deviceTypes[0]}`;
}

interface ListEntry {
  clause: Clause;
  /** Undefined when the clause would run. */
  why?: string;
  skipped?: boolean;
}

async function deviceFacts(run: TargetRun, over: TransportKind): Promise<
  { deviceType?: DeviceTypeName; offered?: bigint; capabilities?: Record<string, boolean>; problem?: string }
> {
  if (run.target.role !== "device") return {};
  try {
    const session = await run.target.open(over);
    try {
      const transport = await openDriverTransport(session);
      const type = await identifyType(session, transport);
      if (!type) return { problem: "the device presents device ID 0 (a placeholder: no device there)" };
      const probe = new HarnessDriver(session, transport, type);
      await probe.reset();
      const offered = await probe.transport.readDeviceFeatures();
      return { deviceType: type, offered, capabilities: { ...session.capabilities } };
    } finally {
      await session.close().catch(() => {});
    }
  } catch (e) {
    return { problem: `could not open the target: ${oneLine(e)}` };
  }
}

async function listRun(
  run: TargetRun,
  clauses: readonly Clause[],
  opts: CliOptions,
  out: (l: string) => void,
): Promise<void> {
  for (const transport of runTransports(run.target, opts.transport)) {
    await listTransport(run, transport, clauses, opts, out);
  }
}

async function listTransport(
  run: TargetRun,
  transport: TransportKind,
  clauses: readonly Clause[],
  opts: CliOptions,
  out: (l: string) => void,
): Promise<void> {
  const role = run.target.role;
  const entries: ListEntry[] = [];
  const facts = await deviceFacts(run, transport);
  for (const c of clauses) {
    if (c.obligation !== role || !matchesFilter(c, opts.filter)) continue;
    if (!opts.strict && isAdvisory(c.level)) {
      entries.push({ clause: c, why: `${c.level} clause: runs under --strict`, skipped: true });
      continue;
    }
    let why: string | undefined;
    if (run.target.role === "device") {
      why = clauseApplicability(c as DeviceClause, {
        transport,
        deviceType: facts.deviceType ?? run.target.info.deviceType ?? "rng",
        ...(facts.offered !== undefined ? { offered: facts.offered } : {}),
        ...(facts.capabilities ? { capabilities: facts.capabilities } : {}),
      });
    } else {
      why = clauseApplicability(c, { transport, deviceType: run.present ?? run.target.info.deviceTypes[0] ?? "blk" });
    }
    entries.push(why ? { clause: c, why } : { clause: c });
  }
  out("");
  out(`${run.target.info.name} @ ${transport} (${runDetail(run, [transport])})`);
  if (facts.problem) out(`  note: ${facts.problem}; applicability by offered features not known`);
  if (facts.offered !== undefined) {
    const names = bitsOf(facts.offered).map((b) => featureName(facts.deviceType, b));
    out(`  offers: ${names.length ? names.join(", ") : "no features"}`);
  }
  const width = Math.max(8, ...entries.map((e) => clauseId(e.clause).length));
  for (const e of entries) {
    const tag = e.why === undefined ? "run " : e.skipped ? "skip" : "n/a ";
    const line = `  ${tag}  ${clauseId(e.clause).padEnd(width)}  ${e.clause.level.padEnd(10)} ${e.clause.title}`;
    out(e.why === undefined ? line : `${line} (${e.why})`);
  }
  const nRun = entries.filter((e) => e.why === undefined).length;
  const nNa = entries.filter((e) => e.why !== undefined && !e.skipped).length;
  const nSkip = entries.filter((e) => e.skipped).length;
  out(`  ${nRun} would run, ${nNa} n/a, ${nSkip} skipped`);
}

function waiverEntries(waivers: readonly Waiver[]): WaiverEntry[] {
  return waivers.map((w) => ({
    label: w.label,
    statement: w.statement,
    section: findBlock(w.label)?.section ?? "?",
    reason: w.reason,
  }));
}

function checkSelection(runs: readonly TargetRun[], clauses: readonly Clause[], opts: CliOptions): void {
  const only = opts.transport;
  if (only !== undefined && runs.every((r) => runTransports(r.target, only).length === 0)) {
    const offered = [...new Set(runs.flatMap((r) => runTransports(r.target)))].join(", ");
    throw new UsageError(`--transport: no target to run offers ${only} (they offer ${offered})`);
  }
  if (!opts.filter) return;
  const selected = new Set<Clause>();
  const any = new Set<Clause>();
  for (const run of runs) {
    for (const c of selectClauses(clauses, run.target.role, { filter: opts.filter, strict: opts.strict })) {
      selected.add(c);
    }
    for (const c of selectClauses(clauses, run.target.role, { filter: opts.filter, strict: true })) any.add(c);
  }
  if (selected.size === 0) {
    const roles = [...new Set(runs.map((r) => r.target.role))].join(" and ");
    const hint = any.size > 0 ? " (it matches only SHOULD clauses: add --strict)" : "";
    throw new UsageError(`--filter: "${opts.filter}" matches no ${roles}-role clause${hint}`);
  }
  if (opts.replay && selected.size !== 1) {
    throw new UsageError(`--replay: the filter "${opts.filter}" selects ${selected.size} clauses; name exactly one`);
  }
}

/** Runs the command line and returns the exit code. Never throws. */
export async function main(args: readonly string[], io: CliIO = DEFAULT_IO): Promise<number> {
  const allClauses = io.clauses ?? CLAUSES;
  const waivers = io.waivers ?? WAIVERS;
  let opts: CliOptions;
  let runs: TargetRun[];
  let clauses: readonly Clause[];
  try {
    opts = parseCli(args);
    clauses = allClauses;
    if (opts.help) {
      for (const l of USAGE.split("\n")) io.stdout(l);
      return 0;
    }
    runs = await planRuns(opts);
    if (runs.length === 0) throw new UsageError(`no target to run: this build has none for the options given`);
    checkSelection(runs, clauses, opts);
  } catch (e) {
    io.stderr(`conform: error: ${oneLine(e)}`);
    return 2;
  }
  try {
    if (opts.list) {
      io.stdout(`virtio conformance ${SUITE_VERSION}, spec ${SPEC_VERSION}${opts.strict ? ", strict" : ""}`);
      for (const run of runs) await listRun(run, clauses, opts, io.stdout);
      return 0;
    }
    const reporter = new ConsoleReporter({
      quiet: opts.quiet,
      write: io.stdout,
      ...(io.color !== undefined ? { color: io.color } : {}),
    });
    reporter.info(
      `virtio conformance ${SUITE_VERSION}, spec ${SPEC_VERSION}: seed ${opts.seed} (0x${
        (opts.seed >>> 0).toString(16)
      })${opts.seedGiven ? "" : " by default"}, ${opts.runs} runs per property${opts.strict ? ", strict" : ""}`,
    );
    const start = new Date();
    const t0 = performance.now();
    const results: ClauseResult[] = [];
    if (opts.defaultReports) {
      const id = runId(start);
      opts = { ...opts, json: `${RUNS_DIR}/${id}.json`, junit: `${RUNS_DIR}/${id}.junit.xml` };
    }
    const latest = () => {
      if (opts.defaultReports) publishLatest(opts);
    };
    if (opts.defaultReports) pruneRuns();
    const meta = (): RunMeta => {
      const m: RunMeta = {
        suiteVersion: SUITE_VERSION,
        specVersion: SPEC_VERSION,
        targets: runs.map((r) => r.target.info.name),
        seed: opts.seed,
        runs: opts.runs,
        strict: opts.strict,
        start: start.toISOString(),
        durationMs: Math.round(performance.now() - t0),
      };
      if (opts.filter !== undefined) m.filter = opts.filter;
      if (opts.shard) m.shard = opts.shard;
      return m;
    };
    const report = (complete: boolean, stopped?: string) => {
      const m = meta();
      if (!complete) {
        m.complete = false;
        if (stopped) m.stopped = stopped;
      } else m.complete = true;
      return buildReport({
        meta: m,
        results,
        waivers: waiverEntries(waivers),
        coverage: computeCoverage(allClauses, waivers),
      });
    };
    // Before the run: every report path must be writable, and the old reports must not look current.
    const jsonl = jsonLinesPath(opts.json);
    for (const [what, path] of [["JSON", opts.json], ["JUnit", opts.junit], ["JSON-lines", jsonl]] as const) {
      try {
        await checkWritable(path);
      } catch (e) {
        io.stderr(`conform: error: cannot write the ${what} report ${path}: ${oneLine(e)}`);
        return 2;
      }
    }
    let lines: JsonLines;
    try {
      writeJsonReportSync(opts.json, report(false, "running"));
      writeJunitReportSync(opts.junit, report(false, "running"));
      lines = JsonLines.open(jsonl);
      lines.write({ kind: "meta", ...meta() });
    } catch (e) {
      io.stderr(`conform: error: cannot write the reports: ${oneLine(e)}`);
      return 2;
    }
    // A signal stops the run: the runner is aborted, the reports say incomplete, QEMU is killed.
    const abort = new AbortController();
    let stop: (code: number) => void = () => {};
    const stoppedBy = new Promise<number>((resolve) => stop = resolve);
    const stopOn = (signal: "SIGINT" | "SIGTERM", code: number) => () => {
      if (abort.signal.aborted) return;
      abort.abort(new Error(`stopped by ${signal}`));
      const killed = cleanupAdapters();
      try {
        lines.write({ kind: "end", complete: false, stopped: signal, results: results.length });
        lines.close();
        writeJsonReportSync(opts.json, report(false, signal));
        writeJunitReportSync(opts.junit, report(false, signal));
        latest();
      } catch (e) {
        io.stderr(`conform: error: cannot write the reports: ${oneLine(e)}`);
      }
      io.stderr(
        `conform: stopped by ${signal}: ${results.length} results written to ${opts.json} (incomplete)` +
          (killed ? `; ${killed} process(es) the adapters started stopped` : ""),
      );
      io.signals?.stopped?.(code);
      stop(code);
    };
    const signals = io.signals;
    const handlers: ["SIGINT" | "SIGTERM", () => void][] = signals
      ? [["SIGINT", stopOn("SIGINT", 130)], ["SIGTERM", stopOn("SIGTERM", 143)]]
      : [];
    for (const [sig, h] of handlers) signals?.add(sig, h);
    const progress = io.progress && !opts.noProgress ? new Progress(io.progress) : undefined;
    const runAll = async () => {
      for (const run of runs) {
        if (abort.signal.aborted) return;
        const transports = runTransports(run.target, opts.transport);
        progress?.clear();
        reporter.target(run.target.info.name, runDetail(run, transports));
        progress?.begin(
          run.target.info.name,
          transports.reduce(
            (n, t) => n + inShard(selectClauses(clauses, run.target.role, opts), run.target.info.name, t, opts).length,
            0,
          ),
        );
        const rs = await runTarget(run.target, clauses, {
          seed: opts.seed,
          runs: opts.runs,
          strict: opts.strict,
          targetArg: run.targetArg,
          signal: abort.signal,
          ...(opts.filter !== undefined ? { filter: opts.filter } : {}),
          ...(opts.timeoutMs !== undefined ? { clauseTimeoutMs: opts.timeoutMs } : {}),
          ...(opts.replay !== undefined ? { replayPath: opts.replay } : {}),
          ...(run.present !== undefined ? { present: run.present } : {}),
          ...(opts.transport !== undefined ? { transport: opts.transport } : {}),
          ...(opts.shard ? { shard: opts.shard } : {}),
          onResult: (r) => {
            if (abort.signal.aborted) return;
            results.push(r);
            lines.write({ kind: "result", ...r });
            progress?.clear();
            reporter.result(r);
            progress?.step(r.transport);
          },
        });
        if (abort.signal.aborted) return;
        // Results a runner returned without announcing them (none today) still count.
        for (const r of rs) if (!results.includes(r)) results.push(r);
      }
    };
    try {
      const ran = runAll().finally(() => progress?.done());
      ran.catch(() => {});
      const code = await Promise.race([ran.then(() => undefined), stoppedBy]);
      if (code !== undefined) {
        await ran.catch(() => {});
        return code;
      }
    } catch (e) {
      lines.write({ kind: "end", complete: false, stopped: oneLine(e), results: results.length });
      lines.close();
      try {
        await writeJsonReport(opts.json, report(false, oneLine(e)));
        await writeJunitReport(opts.junit, report(false, oneLine(e)));
        latest();
      } catch {
        // the error below is what matters
      }
      throw e;
    } finally {
      for (const [sig, h] of handlers) signals?.remove(sig, h);
    }
    const final = report(true);
    lines.write({ kind: "end", complete: true, summary: final.summary });
    lines.close();
    reporter.summary(final.summary);
    try {
      await writeJsonReport(opts.json, final);
    } catch (e) {
      io.stderr(`conform: error: cannot write the JSON report ${opts.json}: ${oneLine(e)}`);
      return 2;
    }
    try {
      await writeJunitReport(opts.junit, final);
    } catch (e) {
      io.stderr(`conform: error: cannot write the JUnit report ${opts.junit}: ${oneLine(e)}`);
      return 2;
    }
    latest();
    return runFailed(final.summary) ? 1 : 0;
  } catch (e) {
    io.stderr(`conform: error: the run stopped: ${oneLine(e)}`);
    return 2;
  }
}
