/**
 * A real driver watched beside its own device: the steps a watching adapter
 * saw ({@link WatchedRun}) become the same scenario trace the harness device
 * records for in-process drivers, so the driver clauses judge both alike.
 *
 * The trace's context (device status, selected queue, whether it was ready,
 * before each access) comes from a shadow of the harness's reference device
 * that every write the driver made is replayed into, with the features the
 * real device offered; reads keep the values the real device returned, and
 * FEATURES_OK is accepted exactly when the real device's next status read
 * showed it. The shadow never serves a request.
 *
 * @module
 */
import type { DeviceVariation, DeviceVariationKind, DriverTarget, WatchedRun, WatchedStep } from "../adapter.ts";
import { untilAborted } from "../deadline.ts";
import { DEVICE_IDS, type DeviceTypeName, type TransportKind } from "../features.ts";
import { configLayoutOf } from "../device_types.ts";
import type { ConfigField, DeviceFunction, HandleResult } from "../models/device/device_function.ts";
import { ArrayMemory } from "../memory.ts";
import type { RegisterSpace } from "../registers.ts";
import { Status } from "../status.ts";
import { Mmio } from "../transport/mmio_layout.ts";
import { CommonCfg } from "../transport/pci_layout.ts";
import { DeviceCore } from "../models/device/core.ts";
import { MmioDevice } from "../models/device/mmio_device.ts";
import { MmioLegacyDevice } from "../models/device/mmio_legacy_device.ts";
import { notApplicable } from "../verify.ts";
import {
  type CanonicalAccess,
  DeviceRecorder,
  legacyCanonical,
  pciCanonical,
  type PlaceholderAccess,
  type Scenario,
  ScenarioRunner,
  type ScenarioTrace,
} from "./harness_device.ts";
import { misalignedAreas, RING_VIOLATION_STATEMENTS, RingMonitor, type RingViolationKind } from "./ring_monitor.ts";
import { checkSplitSnapshot, SNAPSHOT_KINDS } from "./ring_snapshot.ts";
import { queueAreaSizes, ringFeatures } from "../virtqueue/queue.ts";

/**
 * The ring statements a watched run has the whole evidence for: those judged from the register accesses alone
 * (where the driver placed each queue). The rings' contents in guest memory are not watched yet.
 */
export const WATCHED_RING_STATEMENTS: ReadonlySet<string> = new Set([
  RING_VIOLATION_STATEMENTS["misaligned-area"],
  RING_VIOLATION_STATEMENTS["packed-misaligned-area"],
]);

/**
 * The ring statements a run whose ring accesses were watched judges (every kind the monitor knows, but those of a
 * queue's enable: the watch begins after the queues went live; placement is judged from the registers).
 */
export const RING_ACCESS_STATEMENTS: ReadonlySet<string> = new Set(
  (Object.keys(RING_VIOLATION_STATEMENTS) as RingViolationKind[])
    .filter((k) => !["used-flags-not-zero", "packed-misaligned-area", "packed-area-outside-memory"].includes(k))
    .map((k) => RING_VIOLATION_STATEMENTS[k]),
);

/** The ring statements a watched run with snapshots of its split rings judges too (see `ring_snapshot.ts`). */
export const SNAPSHOT_RING_STATEMENTS: ReadonlySet<string> = new Set(
  SNAPSHOT_KINDS.map((k) => RING_VIOLATION_STATEMENTS[k]),
);

/** The alignment violation of a queue the driver enabled, from the addresses it wrote (none when aligned). */
function misalignment(core: DeviceCore, q: number): { kind: RingViolationKind; detail: string } | undefined {
  const s = core.queues[q];
  if (!s) return undefined;
  const format = ringFeatures(core.negotiated).format;
  const bad = misalignedAreas(format, s);
  if (bad.length === 0) return undefined;
  return { kind: format === "packed" ? "packed-misaligned-area" : "misaligned-area", detail: bad.join(", ") };
}

/** The largest queue size the spec allows: the shadow takes whatever size the real device allowed. */
const MAX_QUEUE_SIZE = 32768;
/** Queues the shadow keeps state for: more than any driver here selects (a queue index past them is not followed). */
const SHADOW_QUEUES = 64;

/**
 * The device type behind the shadow: any type, its configuration layout from the spec, queue state for
 * {@link SHADOW_QUEUES} queues of any size; it serves nothing (the real device does).
 */
class ShadowFunction implements DeviceFunction {
  readonly deviceId: number;
  readonly features = 0n;
  readonly queueCount = SHADOW_QUEUES;
  readonly config = new Uint8Array(256);
  readonly configLayout: readonly ConfigField[];
  constructor(readonly type: DeviceTypeName) {
    // A real driver's target names the type of its own device (one the suite models); 0 for any other.
    this.deviceId = type === "other" ? 0 : DEVICE_IDS[type];
    this.configLayout = configLayoutOf(type);
  }
  queueSizeMax(): number {
    return MAX_QUEUE_SIZE;
  }
  handle(): Promise<HandleResult> {
    return Promise.resolve({ kind: "used", written: 0 });
  }
  reset(): void {}
}

/** A reference device that follows a real one: FEATURES_OK as the real device decided, no request served. */
class ShadowCore extends DeviceCore {
  /** Whether the next FEATURES_OK write is accepted (set from the real device's next status read). */
  acceptNext = true;
  protected override acceptFeatures(): boolean {
    return this.acceptNext;
  }
  protected override kick(): void {
    // The real device serves the requests; the shadow only keeps the driver's view of the registers.
  }
}

type AccessStep = Extract<WatchedStep, { kind: "read" | "write" }>;

/** An access in transport-neutral terms on `transport` (undefined: no MMIO counterpart). */
function canonicalOf(transport: TransportKind, step: AccessStep): CanonicalAccess | undefined {
  if (step.space === "mmio") {
    return transport === "mmio-legacy" ? legacyCanonical(step.offset, step.value) : {
      offset: step.offset,
      value: step.value >>> 0,
    };
  }
  return pciCanonical(step, step.kind, step.value);
}

/** The features the device offered, as the driver read them (word by word, through the select register). */
export function offeredInRun(run: WatchedRun, transport: TransportKind): bigint {
  let sel = 0;
  let offered = 0n;
  for (const step of run.steps) {
    if ((step.kind !== "read" && step.kind !== "write") || step.window !== undefined) continue;
    const c = canonicalOf(transport, step);
    if (!c) continue;
    if (step.kind === "write" && c.offset === Mmio.DeviceFeaturesSel) sel = c.value;
    if (step.kind === "read" && c.offset === Mmio.DeviceFeatures && sel >= 0 && sel < 2) {
      offered |= BigInt(c.value >>> 0) << BigInt(32 * sel);
    }
  }
  return offered;
}

/** The accesses to windows whose DeviceID read 0 (a window the driver never identified is left out). */
function placeholderAccesses(others: PlaceholderAccess[]): PlaceholderAccess[] {
  const placeholders = new Set(
    others.filter((a) => a.kind === "read" && a.offset === Mmio.DeviceID && a.value === 0).map((a) => a.window),
  );
  return others.filter((a) => placeholders.has(a.window));
}

function decodeBase64(text: string): Uint8Array {
  const bin = atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** The split-ring violations a snapshot (areas by address) shows for every queue the shadow has enabled. */
function snapshotViolations(core: DeviceCore, areas: Map<number, Uint8Array>) {
  const read = (addr: number, length: number) => {
    for (const [base, bytes] of areas) {
      if (addr >= base && addr + length <= base + bytes.length) {
        return bytes.subarray(addr - base, addr - base + length);
      }
    }
    return undefined;
  };
  const features = ringFeatures(core.negotiated);
  if (features.format !== "split") return [];
  return core.queues.flatMap((s, q) =>
    s.ready
      ? checkSplitSnapshot({ q, size: s.size, desc: s.desc, driver: s.driver, device: s.device, features }, read)
      : []
  );
}

/**
 * The guest memory areas of every queue a (partial) run has enabled so far, three per queue (split: descriptor
 * table, available ring, used ring; packed: descriptor ring and the driver's and the device's event suppression
 * structures, 4 bytes each): what a watching adapter reads from guest RAM for a snapshot and watches.
 */
export async function queueAreas(
  steps: readonly WatchedStep[],
  deviceType: DeviceTypeName,
  transport: TransportKind,
): Promise<{ address: number; length: number }[]> {
  const run: WatchedRun = { steps: [...steps], probe: { bound: true }, results: [], console: "" };
  const t = await traceOfWatchedRun(run, deviceType, transport);
  const format = ringFeatures(t.core.negotiated).format;
  return t.core.queues.flatMap((s) => {
    if (!s.ready || s.size < 1 || s.size > MAX_QUEUE_SIZE) return [];
    const sizes = queueAreaSizes(format, s.size);
    return [
      { address: s.desc, length: sizes.desc },
      { address: s.driver, length: sizes.driver },
      { address: s.device, length: sizes.device },
    ];
  });
}

/** The configuration space as the driver read it: every configuration read's bytes in place, the rest 0. */
function configSpaceInRun(run: WatchedRun): Uint8Array {
  const image = new Uint8Array(4096);
  for (const s of run.steps) {
    if (s.kind !== "read" || s.space !== "pci-config" || s.offset + s.width > image.length) continue;
    for (let i = 0; i < s.width; i++) image[s.offset + i] = (s.value >>> (8 * i)) & 0xff;
  }
  return image;
}

/** Whether the real device showed FEATURES_OK in the first status read after step `i` (true when none follows). */
function acceptedAfter(steps: readonly WatchedStep[], i: number, transport: TransportKind): boolean {
  for (let j = i + 1; j < steps.length; j++) {
    const s = steps[j]!;
    if ((s.kind !== "read" && s.kind !== "write") || s.window !== undefined) continue;
    const c = canonicalOf(transport, s);
    if (c?.offset !== Mmio.Status) continue;
    if (s.kind === "write") return true;
    return (c.value & Status.FEATURES_OK) !== 0;
  }
  return true;
}

/**
 * The scenario trace of a watched run: every step in order, in the same
 * transport-neutral terms as a harness device's trace.
 *
 * @example
 * ```ts ignore
 * const t = traceOfWatchedRun(run, "blk", "mmio");
 * console.log(statusWrites(t).map((e) => e.value));
 * ```
 */
export function traceOfWatchedRun(
  run: WatchedRun,
  deviceType: DeviceTypeName,
  transport: TransportKind,
): Promise<ScenarioTrace> {
  return replay(run, deviceType, transport);
}

/**
 * Guest memory enough for a run's watched rings: from the lowest to the highest address its `ring-watch` and
 * `ring` steps name (pages never written cost nothing). Undefined when the run watched no rings.
 */
function ringMirror(steps: readonly WatchedStep[]): ArrayMemory | undefined {
  let lo = Infinity;
  let hi = -Infinity;
  const span = (address: number, length: number) => {
    if (!Number.isSafeInteger(address) || address < 0 || length <= 0) return;
    lo = Math.min(lo, address);
    hi = Math.max(hi, address + length);
  };
  const sizeOf = (data: string) => Math.floor((data.length * 3) / 4);
  for (const s of steps) {
    if (s.kind === "ring-watch") { for (const a of s.areas) span(a.address, sizeOf(a.data)); }
    if (s.kind === "ring") {
      span(s.address, s.length);
      for (const m of s.memory ?? []) span(m.address, sizeOf(m.data));
    }
  }
  if (!(hi > lo) || hi - lo > MIRROR_LIMIT) return undefined;
  const base = lo - (lo % 4096);
  return new ArrayMemory(base, Math.ceil((hi - base) / 4096) * 4096);
}

/**
 * The queues whose suppression fields (used flags, avail_event) `memory` changes, with the values they held before
 * it (from the mirror).
 */
function suppressionChanges(
  mirror: ArrayMemory,
  held: readonly { q: number; flags: number; event: number }[],
  memory: readonly { address: number; data: string }[],
): { q: number; flags: number; event: number }[] {
  const u16 = (addr: number) => {
    const off = addr - mirror.base;
    return off >= 0 && off + 2 <= mirror.size ? mirror.bytes[off]! | (mirror.bytes[off + 1]! << 8) : 0;
  };
  const touches = (m: { address: number; data: string }, addr: number) =>
    m.address < addr + 2 && m.address + Math.floor((m.data.length * 3) / 4) > addr;
  return held
    .filter((h) => memory.some((m) => touches(m, h.flags) || touches(m, h.event)))
    .map((h) => ({ q: h.q, flags: u16(h.flags), event: u16(h.event) }));
}

/** Largest span of guest memory a replay mirrors (bytes). */
const MIRROR_LIMIT = 2 ** 31;

/** Copies base64 `data` into `mem` at `address`, as far as it lies inside. */
function place(mem: ArrayMemory, address: number, data: Uint8Array): void {
  const off = address - mem.base;
  if (off < 0 || off + data.length > mem.size) return;
  mem.bytes.set(data, off);
}

async function replay(run: WatchedRun, deviceType: DeviceTypeName, transport: TransportKind): Promise<ScenarioTrace> {
  const offered = offeredInRun(run, transport);
  const fn = new ShadowFunction(deviceType);
  const memory = new ArrayMemory(0, 0);
  const core = new ShadowCore(fn, {
    memory,
    transport: transport === "mmio-legacy" ? "mmio-legacy" : "mmio",
    knobs: { offered, holdRequests: true },
  });
  const shadow: RegisterSpace = transport === "mmio-legacy" ? new MmioLegacyDevice(core) : new MmioDevice(core);
  // Watched rings: a ring monitor over a mirror of guest memory, told of the notifications and resets and of every
  // ring access, in the order the run holds them. It takes the queues the watch holds when the watch begins (not at
  // their enable, which it did not see).
  const mirror = ringMirror(run.steps);
  const monitor = mirror
    ? new RingMonitor(mirror, {
      onViolation: (v) => rec.recordViolation(v),
      live: () => (core.status & Status.DRIVER_OK) !== 0,
    })
    : undefined;
  const rec = new DeviceRecorder(core);
  let watched: "no" | "yes" | "lost" = "no";
  /** The queues the watch holds, with where their device-written suppression fields are. */
  let held: { q: number; flags: number; event: number }[] = [];
  const steps = run.steps;
  const snapshot = new Map<number, Uint8Array>();
  const others: PlaceholderAccess[] = [];
  const reported = new Set<string>();
  let snapshots = 0;
  const blkRequests: NonNullable<ScenarioTrace["blkRequests"]> = [];
  for (let i = 0; i < steps.length; i++) {
    const step = steps[i]!;
    switch (step.kind) {
      case "blk-request":
        blkRequests.push({ op: step.op, sector: step.sector, sectors: step.sectors, seq: rec.events.length });
        break;
      case "memory": {
        snapshot.set(step.address, decodeBase64(step.data));
        if (steps[i + 1]?.kind === "memory") break;
        // The last area of a snapshot: judge every enabled split queue on it, each finding once.
        snapshots++;
        for (const v of snapshotViolations(core, snapshot)) {
          const key = `${v.kind}:${v.queue}:${v.detail}`;
          if (!reported.has(key)) rec.recordViolation(v);
          reported.add(key);
        }
        snapshot.clear();
        break;
      }
      case "phase":
        monitor?.checkpoint();
        rec.push(step.index === undefined ? { kind: "phase", phase: step.phase } : { ...step });
        break;
      case "ring-watch": {
        if (!monitor || !mirror) break;
        if (step.areas.length === 0) {
          if (watched === "yes" && step.lost) watched = "lost";
          break;
        }
        for (const a of step.areas) place(mirror, a.address, decodeBase64(a.data));
        const features = ringFeatures(core.negotiated);
        // The queues whose areas the watch holds (an adapter may watch some of the live queues only).
        const areas = new Set(step.areas.map((a) => a.address));
        held = [];
        for (const [q, s] of core.queues.entries()) {
          if (!s.ready || !areas.has(s.desc)) continue;
          monitor.enableQueue(
            q,
            features,
            { size: s.size, desc: s.desc, driver: s.driver, device: s.device },
            undefined,
            true,
          );
          // A queue the monitor could not take up (a packed ring with buffers out) is not watched.
          if (!monitor.liveQueues().includes(q)) continue;
          held.push(
            features.format === "packed"
              ? { q, flags: s.device + 2, event: s.device }
              : { q, flags: s.device, event: s.device + 4 + 8 * s.size },
          );
        }
        // Watched when the monitor took up at least one queue.
        if (held.length > 0) watched = "yes";
        break;
      }
      case "ring": {
        if (!monitor || !mirror || watched !== "yes" || step.length <= 0) break;
        // The device wrote its suppression fields since the last sample: before or after this access, unknown.
        const changed = suppressionChanges(mirror, held, step.memory ?? []);
        for (const m of step.memory ?? []) place(mirror, m.address, decodeBase64(m.data));
        if (step.access === "read") {
          monitor.onRead(step.address, step.length);
        } else {
          const data = decodeBase64(step.data ?? "");
          const off = step.address - mirror.base;
          if (data.length === 0 || off < 0 || off + data.length > mirror.size) break;
          monitor.beforeWrite(step.address, data.length);
          const before = mirror.bytes.slice(off, off + data.length);
          mirror.bytes.set(data, off);
          monitor.onWrite(step.address, data, before);
        }
        for (const c of changed) monitor.suppressionMayHaveBeen(c.q, c.flags, c.event);
        break;
      }
      case "irq":
        rec.irq(step.level);
        break;
      case "read":
        if (step.window !== undefined) {
          others.push({ window: step.window, kind: "read", offset: step.offset, width: step.width, value: step.value });
          break;
        }
        await rec.read(
          step.space,
          step.offset,
          step.width,
          () => Promise.resolve(step.value),
          () => canonicalOf(transport, step),
        );
        // PCI: queue_size holds the device's size until the driver writes its own, and a driver may keep it
        // (SeaBIOS does): the shadow takes the size the real device showed (not recorded as a driver write).
        if (
          transport === "pci" && step.space === "common" && step.offset === CommonCfg.queue_size &&
          !core.queues[rec.queueSel]?.ready
        ) {
          await shadow.write(Mmio.QueueSize, 4, step.value & 0xffff).catch(() => {});
        }
        break;
      case "write": {
        if (step.window !== undefined) {
          others.push({
            window: step.window,
            kind: "write",
            offset: step.offset,
            width: step.width,
            value: step.value,
          });
          break;
        }
        const c = canonicalOf(transport, step);
        if (c?.offset === Mmio.Status && (c.value & Status.FEATURES_OK) && !(core.status & Status.FEATURES_OK)) {
          core.acceptNext = acceptedAfter(steps, i, transport);
        }
        // The shadow takes the write in its own terms (raw on legacy MMIO, canonical elsewhere): its
        // registers are 32-bit words (PCI's 8- and 16-bit fields included), its configuration space as written.
        const target = transport === "mmio-legacy" ? { offset: step.offset, value: step.value } : c;
        const width = target && target.offset < Mmio.Config ? 4 : step.width;
        const sel = rec.queueSel;
        await rec.write(step.space, step.offset, step.width, step.value, async () => {
          if (target) await shadow.write(target.offset, width, target.value).catch(() => {});
        }, c);
        if (monitor && c) tellMonitor(monitor, c, sel);
        if (c?.offset === Mmio.QueueReady && c.value === 1 && core.queues[sel]?.ready) {
          const m = misalignment(core, sel);
          if (m) rec.recordViolation({ ...m, statement: RING_VIOLATION_STATEMENTS[m.kind], queue: sel });
        }
        break;
      }
    }
  }
  monitor?.checkpoint();
  return {
    events: rec.events,
    probe: run.probe,
    results: run.results,
    core,
    fn,
    offered,
    memory,
    monitor: monitor ?? new RingMonitor(memory),
    ...(watched === "yes" ? { ringsWatched: true } : {}),
    ...(transport === "pci" ? { configSpace: configSpaceInRun(run) } : {}),
    ...(snapshots > 0 ? { ringSnapshots: snapshots } : {}),
    ...(others.length > 0 ? { placeholders: placeholderAccesses(others) } : {}),
    ...(deviceType === "blk" ? { blkRequests } : {}),
  };
}

/** What a register write means to the ring monitor of a watched run (enables come from the watch instead). */
function tellMonitor(m: RingMonitor, c: CanonicalAccess, sel: number): void {
  if (c.offset === Mmio.Status && c.value === 0) m.reset();
  else if ((c.offset === Mmio.QueueReady && c.value === 0) || (c.offset === Mmio.QueueReset && c.value === 1)) {
    m.disableQueue(sel);
  } else if (c.offset === Mmio.QueueNotify) m.notify(c.value >>> 0);
}

/** What a watched run cannot vary, by scenario field: the reason a clause asking for it is `n/a`. */
const FIXED: readonly [keyof Scenario, string][] = [
  ["knobs", "device behaviour chosen by the harness (offered features, refusals, held requests, notifications)"],
  ["identity", "other identification registers"],
  ["pciLayout", "another PCI layout"],
  ["configure", "hooks into the device"],
  ["blkSectors", "another disk size"],
  ["blkReadOnly", "a read-only disk"],
  ["queueSizeMax", "another maximum queue size"],
  ["probes", "repeated probes"],
];

/**
 * Scenarios of a watched driver target: the target runs once per transport
 * (its baseline), and every scenario the real device can give (the default
 * one, with or without workloads) is judged on that run; a scenario that
 * needs the device to behave otherwise is `n/a` with the reason.
 *
 * @example
 * ```ts ignore
 * const scenarios = new WatchedScenarioRunner(target, "blk", "mmio");
 * const t = await scenarios.baseline();
 * ```
 */
export class WatchedScenarioRunner extends ScenarioRunner {
  readonly #watchShared: WatchedRuns;
  constructor(
    target: DriverTarget,
    deviceType: DeviceTypeName,
    transport: TransportKind,
    signal?: AbortSignal,
    shared?: WatchedRuns,
  ) {
    super(target, deviceType, 2000, transport, signal);
    this.#watchShared = shared ?? { runs: new Map() };
  }

  override forClause(signal: AbortSignal): ScenarioRunner {
    return new WatchedScenarioRunner(this.target, this.deviceType, this.transport, signal, this.#watchShared);
  }

  override baseline(): Promise<ScenarioTrace> {
    return this.#watched({});
  }

  /** The run against the device varied as asked (`{}`: as the target declares it), once per variation. */
  #watched(variation: DeviceVariation): Promise<ScenarioTrace> {
    const watch = this.target.watch;
    if (!watch) return Promise.reject(new Error("A watched scenario runner needs a target that can be watched"));
    const key = JSON.stringify(variation);
    let run = this.#watchShared.runs.get(key);
    if (!run) {
      // Run without the clause's signal: the trace is shared by every clause.
      const snapshotAreas = (steps: readonly WatchedStep[]) => queueAreas(steps, this.deviceType, this.transport);
      // A varied device answers clauses on its registers only: its run needs no ring accesses.
      const request = key === "{}"
        ? { transport: this.transport, snapshotAreas }
        : { transport: this.transport, variation, ringAccesses: false };
      run = watch.call(this.target, request).then((r) => traceOfWatchedRun(r, this.deviceType, this.transport));
      this.#watchShared.runs.set(key, run);
    }
    return untilAborted(run, this.signal);
  }

  override async run(s: Scenario): Promise<ScenarioTrace> {
    const variation = variationFor(s, this.target.info.variations ?? []);
    if (variation) return await this.#watched(variation);
    const fixed = FIXED.filter(([k]) => s[k] !== undefined && !(k === "probes" && s.probes === 1));
    if (fixed.length > 0) {
      notApplicable(
        `the driver runs beside its own device, which the harness cannot give ${
          fixed.map(([, what]) => what).join(", ")
        }`,
      );
    }
    return await this.baseline();
  }
}

/** The watched runs of one target and transport, by variation, shared by every clause. */
interface WatchedRuns {
  runs: Map<string, Promise<ScenarioTrace>>;
}

/**
 * The variation of a watched driver's own device that gives scenario `s`, when the target can give it: a PCI
 * layout that differs only in the transitional identity or the MSI-X table size, and nothing else asked.
 */
function variationFor(s: Scenario, can: readonly DeviceVariationKind[]): DeviceVariation | undefined {
  const asked = (k: keyof Scenario) => s[k] !== undefined && !(k === "probes" && s.probes === 1);
  if (s.blkReadOnly) {
    if (!can.includes("read-only") || FIXED.some(([k]) => k !== "blkReadOnly" && asked(k))) return undefined;
    return { readOnly: true };
  }
  const layout = s.pciLayout;
  if (!layout || FIXED.some(([k]) => k !== "pciLayout" && asked(k))) return undefined;
  const v: DeviceVariation = {};
  for (const [k, value] of Object.entries(layout)) {
    if (value === undefined) continue;
    if (k === "transitional" && value === true && can.includes("transitional")) v.transitional = true;
    else if (k === "msix" && can.includes("msix-vectors")) v.msixVectors = value === false ? 0 : value as number;
    else return undefined;
  }
  return Object.keys(v).length > 0 ? v : undefined;
}
