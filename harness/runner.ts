/**
 * Runs clauses against a target and turns every outcome into a verdict:
 * a broken MUST is `fail`, a broken SHOULD `warn`, an unmet applicability
 * `n/a`, and anything the harness could not decide (timeout, crash, garbage)
 * `error`. A result already obtained is never lost: each clause is isolated.
 *
 * @module
 */
import type { DeviceSession, DeviceTarget, DriverTarget, Target } from "./adapter.ts";
import {
  type Clause,
  clauseId,
  clauseKey,
  clauseSection,
  type DeviceClause,
  type DriverClause,
  isAdvisory,
  type RunSettings,
} from "./clause.ts";
import {
  bit,
  DEVICE_IDS,
  type DeviceTypeName,
  featureName,
  HARNESS_TRANSPORTS,
  type TransportKind,
} from "./features.ts";
import { PropertyViolation } from "./property.ts";
import type { ClauseResult, Verdict } from "./result.ts";
import { HarnessDriver } from "./roles/harness_driver.ts";
import { ScenarioRunner } from "./roles/harness_device.ts";
import { openDriverTransport } from "./transport/open.ts";
import { NotApplicable, Violation } from "./verify.ts";

/** Options of one target run. */
export interface RunOptions {
  seed: number;
  runs: number;
  strict: boolean;
  /** Label, section or clause-id prefix. */
  filter?: string;
  /** Per-clause deadline (default 30 s). */
  clauseTimeoutMs?: number;
  /** fast-check replay path (with a filter naming one clause). */
  replayPath?: string;
  /** False: do not shrink failing property inputs (verdicts only; default true). */
  shrink?: boolean;
  /** How the replay command names the target, e.g. `--target fixtures/targets/x.jsonc`. */
  targetArg: string;
  /** Driver role: the device type the harness presents (default: the driver's first). */
  present?: DeviceTypeName;
  /** Only this transport (default: every transport the target offers and the harness speaks). */
  transport?: TransportKind;
  /** Called with each result as soon as it exists. */
  onResult?: (r: ClauseResult) => void;
}

/**
 * True when a clause matches a filter: a label, section or clause-id prefix,
 * or, for a filter naming one statement (`…#N`), exactly that clause.
 */
export function matchesFilter(c: Clause, filter: string | undefined): boolean {
  if (!filter) return true;
  if (filter.includes("#")) return clauseKey(c) === filter || clauseId(c) === filter;
  return c.label.startsWith(filter) || clauseSection(c).startsWith(filter) ||
    clauseId(c).startsWith(filter) || clauseKey(c).startsWith(filter);
}

/** The clauses a run would execute for a role, filter and strictness. */
export function selectClauses(
  all: readonly Clause[],
  role: "device" | "driver",
  opts: { filter?: string; strict: boolean },
): Clause[] {
  return all.filter((c) =>
    c.obligation === role && matchesFilter(c, opts.filter) && (opts.strict || !isAdvisory(c.level))
  );
}

/**
 * A reason the clause does not apply to a target, or undefined. Driver
 * targets pass no `offered` or `capabilities` (the harness is the device).
 */
export function clauseApplicability(c: Clause, ctx: {
  transport: TransportKind;
  deviceType: DeviceTypeName;
  offered?: bigint;
  capabilities?: Record<string, boolean>;
}): string | undefined {
  const a = c.applies;
  if (ctx.transport === "mmio-legacy" && !a?.legacy && !a?.transports?.includes("mmio-legacy")) {
    return "written for the modern interface: the legacy interface has no such obligation";
  }
  if (!a) return undefined;
  if (a.transports && !a.transports.includes(ctx.transport)) return `applies to ${a.transports.join("/")} only`;
  if (a.deviceTypes && !a.deviceTypes.includes(ctx.deviceType)) {
    return `applies to ${a.deviceTypes.join("/")} devices only`;
  }
  for (const cap of a.capabilities ?? []) {
    if (ctx.capabilities && !ctx.capabilities[cap]) return `the adapter cannot observe ${cap}`;
  }
  for (const f of a.offered ?? []) {
    if (ctx.offered !== undefined && !(ctx.offered & bit(f))) {
      return `the device does not offer ${featureName(ctx.deviceType, f)}`;
    }
  }
  return undefined;
}

function errorMessage(e: unknown): string {
  if (e instanceof Error) return `${e.name === "Error" ? "" : `${e.name}: `}${e.message}`;
  return String(e);
}

class ClauseTimeout extends Error {
  override name = "ClauseTimeout";
}

async function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new ClauseTimeout(`the clause did not finish within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function replayCommand(
  opts: RunOptions,
  c: Clause,
  transport: TransportKind,
  seed: number,
  path?: string,
): string {
  const parts = [
    "deno task conform",
    opts.targetArg,
    `--transport ${transport}`,
    `--filter '${clauseKey(c)}'`,
    `--seed ${seed}`,
  ];
  if (opts.strict) parts.push("--strict");
  if (opts.present) parts.push(`--present ${opts.present}`);
  if (path) parts.push(`--replay '${path}'`);
  return parts.join(" ");
}

function baseResult(
  c: Clause,
  target: string,
  transport: TransportKind,
  deviceType: string,
  seed: number,
): ClauseResult {
  return {
    clause: clauseId(c),
    label: c.label,
    statement: c.statement,
    section: clauseSection(c),
    role: c.obligation,
    level: c.level,
    transport,
    target,
    deviceType,
    title: c.title,
    requirement: c.requirement,
    verdict: "pass",
    durationMs: 0,
    message: "",
    seed,
  };
}

/** Maps an outcome to a verdict and fills the message fields. */
export function settle(r: ClauseResult, c: Clause, outcome: unknown, opts: RunOptions): ClauseResult {
  if (outcome === undefined) return r;
  if (outcome instanceof NotApplicable) return { ...r, verdict: "n/a", message: outcome.message };
  if (outcome instanceof Violation) {
    const verdict: Verdict = isAdvisory(c.level) ? "warn" : "fail";
    const out: ClauseResult = {
      ...r,
      verdict,
      message: outcome.message,
      expected: outcome.expected,
      actual: outcome.actual,
      replay: replayCommand(opts, c, r.transport, opts.seed),
    };
    if (outcome instanceof PropertyViolation) {
      out.seed = outcome.seed;
      out.counterexample = outcome.counterexample;
      out.replay = outcome.replay;
    }
    return out;
  }
  return {
    ...r,
    verdict: "error",
    message: errorMessage(outcome),
    replay: replayCommand(opts, c, r.transport, opts.seed),
  };
}

function settings(opts: RunOptions, c: Clause, transport: TransportKind): RunSettings {
  return {
    seed: opts.seed,
    runs: opts.runs,
    ...(opts.replayPath ? { replayPath: opts.replayPath } : {}),
    ...(opts.shrink === false ? { shrink: false } : {}),
    replayCommand: (seed, path) => replayCommand(opts, c, transport, seed, path),
  };
}

/** The device type a session's identification names, if this suite knows it. */
export async function identifyType(
  session: DeviceSession,
  transport?: { identify(): Promise<{ deviceId: number }> },
): Promise<DeviceTypeName | undefined> {
  if (session.info.deviceType) return session.info.deviceType;
  const t = transport ?? await openDriverTransport(session);
  const id = await t.identify();
  return (Object.entries(DEVICE_IDS).find(([, v]) => v === id.deviceId)?.[0]) as DeviceTypeName | undefined;
}

/**
 * The transports a run covers: those the target offers (and, for a driver,
 * those the harness can present), narrowed to `opts.transport` when given.
 */
export function runTransports(target: Target, only?: TransportKind): TransportKind[] {
  const offered = target.role === "device"
    ? target.info.transports ?? [target.info.transport]
    : target.info.transports.filter((t) => HARNESS_TRANSPORTS.includes(t));
  return only === undefined ? offered : offered.filter((t) => t === only);
}

/**
 * Runs device-obligation clauses against a device under test (the harness
 * plays the driver), once per transport the target offers.
 */
export async function runDeviceTarget(
  target: DeviceTarget,
  clauses: readonly Clause[],
  opts: RunOptions,
): Promise<ClauseResult[]> {
  const results: ClauseResult[] = [];
  for (const transport of runTransports(target, opts.transport)) {
    results.push(...await runDeviceTransport(target, transport, clauses, opts));
  }
  return results;
}

async function runDeviceTransport(
  target: DeviceTarget,
  transport: TransportKind,
  clauses: readonly Clause[],
  opts: RunOptions,
): Promise<ClauseResult[]> {
  const selected = selectClauses(clauses, "device", opts) as DeviceClause[];
  const results: ClauseResult[] = [];
  const name = target.info.name;
  const emit = (r: ClauseResult) => {
    results.push(r);
    opts.onResult?.(r);
  };
  let session: DeviceSession | undefined;
  let deviceType: DeviceTypeName | undefined;
  let offered = 0n;
  try {
    session = await target.open(transport);
    const opened = await openDriverTransport(session);
    deviceType = await identifyType(session, opened);
    if (!deviceType) throw new Error("the device's ID names no device type this suite knows");
    const probe = new HarnessDriver(session, opened, deviceType);
    await probe.reset();
    offered = await probe.transport.readDeviceFeatures();
  } catch (e) {
    await session?.close().catch(() => {});
    for (const c of selected) {
      emit({
        ...baseResult(c, name, transport, deviceType ?? "?", opts.seed),
        verdict: "error",
        message: `Could not open the target: ${errorMessage(e)}`,
      });
    }
    return results;
  }
  for (const c of selected) {
    const r = baseResult(c, name, transport, deviceType, opts.seed);
    const started = performance.now();
    const why = clauseApplicability(c, { transport, deviceType, offered, capabilities: { ...session.capabilities } });
    if (why) {
      emit({ ...r, verdict: "n/a", message: why });
      continue;
    }
    let outcome: unknown = undefined;
    try {
      const live = session;
      const run = async () => {
        await live.restart();
        const transportImpl = await openDriverTransport(live);
        const driver = new HarnessDriver(live, transportImpl, deviceType);
        await c.run({
          ...settings(opts, c, transport),
          session: live,
          transport: transportImpl,
          driver,
          deviceType,
          offered,
        });
      };
      await withTimeout(run(), opts.clauseTimeoutMs ?? 30_000);
    } catch (e) {
      outcome = e ?? new Error("unknown failure");
    }
    emit({ ...settle(r, c, outcome, opts), durationMs: Math.round((performance.now() - started) * 10) / 10 });
  }
  await session.close().catch(() => {});
  return results;
}

/**
 * Runs driver-obligation clauses against a driver under test (the harness
 * plays the device), once per transport the driver attaches over.
 */
export async function runDriverTarget(
  target: DriverTarget,
  clauses: readonly Clause[],
  opts: RunOptions,
): Promise<ClauseResult[]> {
  const results: ClauseResult[] = [];
  for (const transport of runTransports(target, opts.transport)) {
    results.push(...await runDriverTransport(target, transport, clauses, opts));
  }
  return results;
}

async function runDriverTransport(
  target: DriverTarget,
  transport: TransportKind,
  clauses: readonly Clause[],
  opts: RunOptions,
): Promise<ClauseResult[]> {
  const selected = selectClauses(clauses, "driver", opts) as DriverClause[];
  const deviceType = opts.present ?? target.info.deviceTypes[0] ?? "blk";
  const scenarios = new ScenarioRunner(target, deviceType, 2000, transport);
  const results: ClauseResult[] = [];
  for (const c of selected) {
    const r = baseResult(c, target.info.name, transport, deviceType, opts.seed);
    const started = performance.now();
    const why = clauseApplicability(c, { transport, deviceType });
    let outcome: unknown = undefined;
    if (why) outcome = new NotApplicable(why);
    else {
      try {
        await withTimeout(
          c.run({ ...settings(opts, c, transport), target, deviceType, scenarios }),
          opts.clauseTimeoutMs ?? 30_000,
        );
      } catch (e) {
        outcome = e ?? new Error("unknown failure");
      }
    }
    const res = { ...settle(r, c, outcome, opts), durationMs: Math.round((performance.now() - started) * 10) / 10 };
    results.push(res);
    opts.onResult?.(res);
  }
  return results;
}

/** Runs the clauses of the target's role. */
export function runTarget(target: Target, clauses: readonly Clause[], opts: RunOptions): Promise<ClauseResult[]> {
  return target.role === "device" ? runDeviceTarget(target, clauses, opts) : runDriverTarget(target, clauses, opts);
}
