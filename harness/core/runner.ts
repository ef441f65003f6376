/**
 * Runs clauses against a target and turns every outcome into a verdict:
 * a broken MUST is `fail`, a broken SHOULD `warn`, an unmet applicability
 * `n/a`, and anything the harness could not decide (timeout, crash, garbage)
 * `error`. A result already obtained is never lost: each clause is isolated.
 *
 * @module
 */
import {
  DeviceCrashed,
  type DeviceSession,
  type DeviceTarget,
  type DriverTarget,
  type Target,
  TargetError,
} from "../adapter.ts";
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
  type DeviceTypeName,
  deviceTypeOfId,
  featureName,
  HARNESS_TRANSPORTS,
  type TransportKind,
} from "../features.ts";
import { callWithDeadline } from "../deadline.ts";
import { ClauseFence, fenceSession, truncateText } from "../fence.ts";
import { PropertyCutShort, PropertyViolation } from "./property.ts";
import type { ClauseResult, Verdict } from "./result.ts";
import { HarnessDriver, SAMPLE_REQUEST_TYPES } from "../roles/harness_driver.ts";
import { ScenarioRunner } from "../roles/harness_device.ts";
import { WatchedScenarioRunner } from "../roles/watched_trace.ts";
import { openDriverTransport } from "../transport/open.ts";
import { DeviceUnusable } from "../transport/transport.ts";
import { NotApplicable, Violation } from "../verify.ts";
import { errorText } from "../text.ts";

/** Options of one target run. */
export interface RunOptions {
  /** The seed of every random choice (property cases). */
  seed: number;
  /** Cases per property. */
  runs: number;
  /** Whether SHOULD statements are judged (a breach is a warning). */
  strict: boolean;
  /** Label, section or clause-id prefix. */
  filter?: string;
  /** Per-clause deadline (default 30 s). */
  clauseTimeoutMs?: number;
  /**
   * Deadline of opening a target, of bringing it back between clauses and of
   * closing it (default 60 s); a target that does not answer in time is
   * relaunched a bounded number of times.
   */
  targetTimeoutMs?: number;
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
  /** Aborting stops the run: the clause running is revoked, no later clause starts. */
  signal?: AbortSignal;
  /**
   * Only the clauses of shard `index` of `count` (1-based): a clause belongs to one shard, chosen by a stable hash of
   * the target's name, the transport and the clause's key, so the shards of a campaign together run it exactly once.
   */
  shard?: { index: number; count: number };
}

/** FNV-1a, 32 bits, of a string's UTF-16 code units. */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/**
 * The shard (1-based, of `count`) that runs `clause` on `transport` of target `target`.
 *
 * @example
 * ```ts ignore
 * shardOf("qemu-rng-mmio", "mmio", "devicenormative:…#1", 3); // 1, 2 or 3, the same on every machine
 * ```
 */
export function shardOf(target: string, transport: TransportKind, clause: string, count: number): number {
  return (fnv1a(`${target}\u0000${transport}\u0000${clause}`) % count) + 1;
}

/** The clauses (already selected) that run on `transport` of `target` in this shard (all of them without sharding). */
export function inShard<C extends Clause>(
  clauses: C[],
  target: string,
  transport: TransportKind,
  opts: Pick<RunOptions, "shard">,
): C[] {
  const s = opts.shard;
  if (!s || s.count <= 1) return clauses;
  return clauses.filter((c) => shardOf(target, transport, clauseKey(c), s.count) === s.index);
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

/** {@link errorText}, with the error's class named when it is not a plain `Error` (a `TypeError` in a clause). */
function errorMessage(e: unknown): string {
  return e instanceof Error && e.name !== "Error" ? `${e.name}: ${e.message}` : errorText(e);
}

class ClauseTimeout extends Error {
  override name = "ClauseTimeout";
}

class RunStopped extends Error {
  override name = "RunStopped";
}

/** The default deadline of one clause. */
export const DEFAULT_CLAUSE_TIMEOUT_MS = 120_000;
/** The default deadline of opening, restarting or closing a target. */
export const DEFAULT_TARGET_TIMEOUT_MS = 60_000;
/** Clauses in a row whose target could not be brought back before the rest of a transport is given up. */
const MAX_FAILED_PREPARES = 3;

/**
 * Runs one clause behind a fresh fence. When the deadline passes first, the
 * fence is revoked (every later call of the clause into the target rejects at
 * once) and the clause ends in a {@link ClauseTimeout} saying what it was
 * waiting for. The fence is revoked when the clause ends too, so nothing the
 * clause left running can reach the next clause's target.
 */
async function fencedRun(
  ms: number,
  body: (fence: ClauseFence) => Promise<void>,
  stop?: AbortSignal,
): Promise<unknown> {
  const fence = new ClauseFence();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let onStop: (() => void) | undefined;
  const expired = new Promise<never>((_, reject) => {
    onStop = () => {
      fence.revoke("the run was stopped");
      reject(new RunStopped("the run was stopped"));
    };
    stop?.addEventListener("abort", onStop);
    timer = setTimeout(() => {
      const waiting = fence.waitingFor();
      const msg = `the clause did not finish within ${ms} ms: ${
        waiting ? `it was waiting for ${waiting}` : "it was not waiting for the target (the harness was busy)"
      }`;
      fence.revoke(msg);
      reject(new ClauseTimeout(msg));
    }, ms);
  });
  let p: Promise<void>;
  try {
    p = body(fence);
  } catch (e) {
    p = Promise.reject(e);
  }
  p.catch(() => {});
  try {
    await Promise.race([p, expired]);
    return undefined;
  } catch (e) {
    return e ?? new Error("unknown failure");
  } finally {
    clearTimeout(timer);
    if (onStop) stop?.removeEventListener("abort", onStop);
    fence.revoke("the clause has ended");
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

/** The longest text a result carries from a target (a message, an expected or actual value). */
export const MAX_RESULT_TEXT = 4000;

/** Maps an outcome to a verdict and fills the message fields (target text cut to {@link MAX_RESULT_TEXT}). */
export function settle(r: ClauseResult, c: Clause, outcome: unknown, opts: RunOptions): ClauseResult {
  if (outcome === undefined) return r;
  const cut = (t: string) => truncateText(t, MAX_RESULT_TEXT);
  if (outcome instanceof NotApplicable) return { ...r, verdict: "n/a", message: cut(outcome.message) };
  if (outcome instanceof Violation) {
    const verdict: Verdict = isAdvisory(c.level) ? "warn" : "fail";
    const out: ClauseResult = {
      ...r,
      verdict,
      message: cut(outcome.message),
      expected: cut(outcome.expected),
      actual: cut(outcome.actual),
      replay: replayCommand(opts, c, r.transport, opts.seed),
    };
    if (outcome instanceof PropertyViolation) {
      out.seed = outcome.seed;
      out.counterexample = cut(outcome.counterexample);
      out.replay = outcome.replay;
    }
    return out;
  }
  if (outcome instanceof PropertyCutShort) {
    return {
      ...r,
      verdict: "error",
      message: cut(`Not judged: ${outcome.message}`),
      replay: replayCommand(opts, c, r.transport, opts.seed),
    };
  }
  if (outcome instanceof DeviceUnusable) {
    return { ...r, verdict: "error", message: cut(`Not run: the device cannot be driven: ${outcome.message}`) };
  }
  if (outcome instanceof DeviceCrashed) {
    // The implementation stopped on its own while driven as a conforming peer would: its fault, this clause's verdict.
    return {
      ...r,
      verdict: isAdvisory(c.level) ? "warn" : "fail",
      message: cut(`the implementation crashed: ${outcome.message}`),
      expected: "the implementation keeps running through the clause's accesses",
      actual: cut(outcome.message),
      replay: replayCommand(opts, c, r.transport, opts.seed),
    };
  }
  return {
    ...r,
    verdict: "error",
    message: cut(errorMessage(outcome)),
    replay: replayCommand(opts, c, r.transport, opts.seed),
  };
}

function settings(
  opts: RunOptions,
  c: Clause,
  transport: TransportKind,
  fence: ClauseFence,
  notes: string[],
): RunSettings {
  return {
    note: (remark) => {
      if (notes.length < 8) notes.push(truncateText(remark, 400));
    },
    seed: opts.seed,
    runs: opts.runs,
    ...(opts.replayPath ? { replayPath: opts.replayPath } : {}),
    ...(opts.shrink === false ? { shrink: false } : {}),
    replayCommand: (seed, path) => replayCommand(opts, c, transport, seed, path),
    signal: fence.signal,
    deadline: Date.now() + (opts.clauseTimeoutMs ?? DEFAULT_CLAUSE_TIMEOUT_MS),
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
  return deviceTypeOfId(id.deviceId);
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
    if (opts.signal?.aborted) break;
    results.push(...await runDeviceTransport(target, transport, clauses, opts));
  }
  return results;
}

/**
 * Keeps one device session alive across the clauses of a transport: opens
 * it, brings it back to power-on state before each clause, proves it clean
 * after a clause that overran, and relaunches it (a bounded number of times)
 * when it cannot. Every call it makes is bounded by the target deadline.
 */
class SessionKeeper {
  session: DeviceSession | undefined;
  /** The last clause overran: the next restart must be proven. */
  dirty = false;
  constructor(readonly target: DeviceTarget, readonly transport: TransportKind, readonly ms: number) {}

  async open(): Promise<DeviceSession> {
    const s = await callWithDeadline(() => this.target.open(this.transport), this.ms, "opening the target");
    this.session = s;
    this.dirty = false;
    return s;
  }

  async close(): Promise<void> {
    const s = this.session;
    this.session = undefined;
    if (s) await callWithDeadline(() => s.close(), this.ms, "closing the target").catch(() => {});
  }

  /** Restart, proven when dirty; on failure close and open again, twice at most. */
  async prepare(): Promise<DeviceSession> {
    let last: unknown;
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const fresh = !this.session || attempt > 0;
        if (fresh) {
          await this.close();
          await this.open();
        }
        const s = this.session!;
        await callWithDeadline(() => s.restart(), this.ms, "restarting the target");
        // A session opened in this very call is clean by construction.
        if (this.dirty && !fresh) {
          await callWithDeadline(() => proveClean(s), this.ms, "resetting the device after a timeout");
        }
        this.dirty = false;
        return s;
      } catch (e) {
        last = e;
      }
    }
    throw new TargetError(`The target could not be brought back to power-on state: ${errorMessage(last)}`);
  }
}

/** How long the plain request of {@link servesAfterReset} may take. */
const SERVING_CHECK_MS = 2000;

/**
 * Whether the device, reset and initialized afresh by a plain driver, serves one plain request: undefined when it does
 * (or when the harness makes no requests for its type), else what went wrong. Run after a clause that gave the device
 * a malformed structure or ended badly, so that a device that stopped serving is named once, on that clause.
 */
async function servesAfterReset(session: DeviceSession, type: DeviceTypeName): Promise<string | undefined> {
  if (!SAMPLE_REQUEST_TYPES.includes(type)) return undefined;
  const t = await openDriverTransport(session, { degraded: true });
  if (t.unusable) return `it cannot be driven: ${t.unusable}`;
  const d = new HarnessDriver(session, t, type);
  const init = await d.init("driver-ok");
  if (!init.featuresOk) return "it refused FEATURES_OK for the harness's plain feature set";
  await d.sampleRequest(0);
  await d.kick(0);
  const used = await d.waitUsed(0, 1, SERVING_CHECK_MS);
  return used.length > 0
    ? undefined
    : `a plain ${type} request was not served within ${SERVING_CHECK_MS} ms of a reset`;
}

/** A result amended with the news that the device stopped serving after its clause. */
function stoppedServing(r: ClauseResult, why: string): ClauseResult {
  const message = truncateText(r.message ? `${r.message}; ${why}` : why, MAX_RESULT_TEXT);
  return r.verdict === "pass" || r.verdict === "n/a" ? { ...r, verdict: "error", message } : { ...r, message };
}

/** A reset through a fresh transport must read back status 0, or the session is not clean. */
async function proveClean(session: DeviceSession): Promise<void> {
  const t = await openDriverTransport(session, { degraded: true });
  if (t.unusable) throw new TargetError(`the device cannot be reset to prove it clean: ${t.unusable}`);
  await t.reset();
  const status = await t.getStatus();
  if (status !== 0) throw new TargetError(`device status read 0x${status.toString(16)} after a reset, not 0`);
}

async function runDeviceTransport(
  target: DeviceTarget,
  transport: TransportKind,
  clauses: readonly Clause[],
  opts: RunOptions,
): Promise<ClauseResult[]> {
  const selected = inShard(selectClauses(clauses, "device", opts) as DeviceClause[], target.info.name, transport, opts);
  const results: ClauseResult[] = [];
  const name = target.info.name;
  const emit = (r: ClauseResult) => {
    results.push(r);
    opts.onResult?.(r);
  };
  const keeper = new SessionKeeper(target, transport, opts.targetTimeoutMs ?? DEFAULT_TARGET_TIMEOUT_MS);
  const clauseMs = opts.clauseTimeoutMs ?? DEFAULT_CLAUSE_TIMEOUT_MS;
  let deviceType: DeviceTypeName | undefined;
  let offered = 0n;
  /** Why the device cannot be driven (its own fault, found while opening): only clauses about that fault run. */
  let unusable: string | undefined;
  let offeredKnown = false;
  let capabilities: Record<string, boolean> = {};
  const probeOutcome = await fencedRun(keeper.ms, async (fence) => {
    let session: DeviceSession;
    try {
      session = await keeper.open();
    } catch {
      // One relaunch: a target may fail its first start (a port or socket still in use).
      session = await keeper.open();
    }
    capabilities = { ...session.capabilities };
    const view = fenceSession(session, fence);
    const opened = await openDriverTransport(view, { degraded: true });
    deviceType = await identifyType(view, opened);
    if (!deviceType) throw new Error("the device presents device ID 0 (a placeholder: no device there)");
    unusable = opened.unusable;
    const probe = new HarnessDriver(view, opened, deviceType);
    try {
      await probe.reset();
      offered = await probe.transport.readDeviceFeatures();
      offeredKnown = true;
    } catch (e) {
      if (!(e instanceof DeviceUnusable)) throw e;
    }
  });
  if (probeOutcome !== undefined || !deviceType) {
    await keeper.close();
    for (const c of selected) {
      emit({
        ...baseResult(c, name, transport, deviceType ?? "?", opts.seed),
        verdict: "error",
        message: truncateText(`Could not open the target: ${errorMessage(probeOutcome)}`, MAX_RESULT_TEXT),
      });
    }
    return results;
  }
  const type: DeviceTypeName = deviceType;
  let failedPrepares = 0;
  let givenUp: string | undefined;
  for (const c of selected) {
    if (opts.signal?.aborted) break;
    const r = baseResult(c, name, transport, type, opts.seed);
    const started = performance.now();
    const why = clauseApplicability(c, {
      transport,
      deviceType: type,
      ...(offeredKnown ? { offered } : {}),
      capabilities,
    });
    if (why) {
      emit({ ...r, verdict: "n/a", message: why });
      continue;
    }
    if (!offeredKnown && c.applies?.offered?.length) {
      emit({
        ...r,
        verdict: "error",
        message: truncateText(`Not run: the device cannot be driven: ${unusable}`, MAX_RESULT_TEXT),
      });
      continue;
    }
    if (givenUp) {
      emit({ ...r, verdict: "error", message: givenUp });
      continue;
    }
    let live: DeviceSession;
    try {
      live = await keeper.prepare();
      failedPrepares = 0;
    } catch (e) {
      const msg = truncateText(errorMessage(e), MAX_RESULT_TEXT);
      if (++failedPrepares >= MAX_FAILED_PREPARES) {
        givenUp = `Not run: the target could not be brought back for ${MAX_FAILED_PREPARES} clauses in a row: ${msg}`;
      }
      emit({ ...r, verdict: "error", message: msg, replay: replayCommand(opts, c, transport, opts.seed) });
      continue;
    }
    const notes: string[] = [];
    let clauseDriver: HarnessDriver | undefined;
    const outcome = await fencedRun(clauseMs, async (fence) => {
      const view = fenceSession(live, fence);
      const transportImpl = await openDriverTransport(view, { degraded: true });
      const driver = new HarnessDriver(view, transportImpl, type);
      clauseDriver = driver;
      const cannotDrive = offeredKnown ? undefined : transportImpl.unusable ?? unusable;
      await c.run({
        ...settings(opts, c, transport, fence, notes),
        session: view,
        transport: transportImpl,
        driver,
        deviceType: type,
        get offered(): bigint {
          if (cannotDrive) throw new DeviceUnusable(cannotDrive);
          return offered;
        },
      });
    }, opts.signal);
    if (opts.signal?.aborted) break;
    // A property whose shrinking stopped early (the deadline, or the target failed) may leave the target anywhere.
    const unsettled = outcome instanceof PropertyViolation && !outcome.shrunk;
    if (outcome instanceof ClauseTimeout || outcome instanceof TargetError || unsettled) keeper.dirty = true;
    const noted = { ...r, message: notes.join("; ") };
    let result = settle(noted, c, outcome, opts);
    // A clause that gave the device a malformed structure, or ended in anything but pass or n/a: does the device,
    // reset, still serve? If not, this clause is where it stopped, and the next clause gets a fresh target.
    const faults = clauseDriver?.faults ?? [];
    if (faults.length > 0 || (result.verdict !== "pass" && result.verdict !== "n/a")) {
      // On the same session, through a device reset only: a relaunch would hide a device that no longer serves.
      const stopped = await fencedRun(keeper.ms, async (fence) => {
        const why = await servesAfterReset(fenceSession(live, fence), type);
        if (why) throw new TargetError(why);
      }, opts.signal);
      if (stopped !== undefined) keeper.dirty = true;
      if (stopped !== undefined && !(stopped instanceof NotApplicable)) {
        const given = faults.length > 0 ? ` (it was given ${faults.join(", ")})` : "";
        const said = keeper.session?.describe?.();
        result = stoppedServing(
          result,
          `the device stopped serving after this clause${given}: ${errorMessage(stopped)}${said ? `; ${said}` : ""}` +
            "; the target is started afresh for the next clause",
        );
        await keeper.close();
      }
    }
    emit({ ...result, durationMs: Math.round((performance.now() - started) * 10) / 10 });
  }
  await keeper.close();
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
    if (opts.signal?.aborted) break;
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
  const selected = inShard(selectClauses(clauses, "driver", opts) as DriverClause[], target.info.name, transport, opts);
  const deviceType = opts.present ?? target.info.deviceTypes[0] ?? "blk";
  const scenarios = target.watch
    ? new WatchedScenarioRunner(target, deviceType, transport)
    : new ScenarioRunner(target, deviceType, 2000, transport);
  const clauseMs = opts.clauseTimeoutMs ?? DEFAULT_CLAUSE_TIMEOUT_MS;
  const results: ClauseResult[] = [];
  for (const c of selected) {
    if (opts.signal?.aborted) break;
    const r = baseResult(c, target.info.name, transport, deviceType, opts.seed);
    const started = performance.now();
    const why = clauseApplicability(c, { transport, deviceType });
    const notes: string[] = [];
    const outcome = why ? new NotApplicable(why) : await fencedRun(clauseMs, (fence) =>
      c.run({
        ...settings(opts, c, transport, fence, notes),
        target,
        deviceType,
        scenarios: scenarios.forClause(fence.signal),
      }), opts.signal);
    if (opts.signal?.aborted) break;
    const noted = { ...r, message: notes.join("; ") };
    const res = { ...settle(noted, c, outcome, opts), durationMs: Math.round((performance.now() - started) * 10) / 10 };
    results.push(res);
    opts.onResult?.(res);
  }
  return results;
}

/** Runs the clauses of the target's role, then lets the target free what it keeps between sessions. */
export async function runTarget(target: Target, clauses: readonly Clause[], opts: RunOptions): Promise<ClauseResult[]> {
  try {
    return target.role === "device"
      ? await runDeviceTarget(target, clauses, opts)
      : await runDriverTarget(target, clauses, opts);
  } finally {
    await target.close?.().catch(() => {
      // Freeing is best effort: the results stand.
    });
  }
}
