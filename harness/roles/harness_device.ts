/**
 * The harness playing the device against a driver under test: it presents a
 * reference device (with scenario knobs) over MMIO v2, records every register
 * access and device event in a trace, and runs a {@link RingMonitor} over the
 * driver's view of guest memory, so broken ring obligations land in the trace
 * as `ring` events.
 *
 * @module
 */
import type { DriverTarget, ProbeResult, Workload, WorkloadResult } from "../adapter.ts";
import type { DeviceTypeName, TransportKind } from "../features.ts";
import { ArrayMemory, inRange, readU16 } from "../memory.ts";
import type { Width } from "../registers.ts";
import { Status } from "../status.ts";
import { Mmio } from "../transport/mmio_layout.ts";
import { BlkFunction } from "../models/device/blk.ts";
import { DeviceCore, type DeviceKnobs } from "../models/device/core.ts";
import type { DeviceFunction } from "../models/device/device_function.ts";
import { MmioDevice, type MmioIdentityOverrides } from "../models/device/mmio_device.ts";
import { RngFunction } from "../models/device/rng.ts";
import { ringFeatures } from "../virtqueue/queue.ts";
import { RingMonitor, type RingViolation, type RingViolationKind } from "./ring_monitor.ts";
import { WatchedMemory } from "./watched_memory.ts";

/** Guest memory the harness device gives a driver: base and size. */
export const GUEST_RAM = { base: 0x4000_0000, size: 4 << 20 } as const;

/** One event of a scenario trace. */
export type TraceEvent =
  | {
    seq: number;
    kind: "read" | "write";
    offset: number;
    width: Width;
    value: number;
    /** QueueSel at the time of the access. */
    queueSel: number;
    /** Device status before the access. */
    status: number;
    /** Whether the selected queue was ready before the access. */
    queueReady: boolean;
  }
  | { seq: number; kind: "irq"; level: boolean; interruptStatus: number }
  | { seq: number; kind: "phase"; phase: "probe" | "workload" | "remove" | "end"; index?: number }
  /** A descriptor of an exposed buffer changed while the queue was live (see also the `ring` events). */
  | { seq: number; kind: "altered"; queue: number; head: number; detail: string }
  /** A broken ring obligation found by the ring monitor; `statement` is the `label#ordinal` it breaks. */
  | {
    seq: number;
    kind: "ring";
    violation: RingViolationKind;
    statement: string;
    queue: number;
    detail: string;
  };

/** A register-access event. */
export type AccessEvent = Extract<TraceEvent, { kind: "read" | "write" }>;

/** What a scenario sets up. */
export interface Scenario {
  knobs?: DeviceKnobs;
  identity?: MmioIdentityOverrides;
  /** Work to ask of the driver after probe (default: one request for the device type). */
  workloads?: Workload[];
  /** Remove the driver at the end (default true). */
  remove?: boolean;
  /** Called with the device before the driver attaches (e.g. to hook config reads). */
  configure?: (core: DeviceCore, fn: DeviceFunction, device: MonitoredMmioDevice) => void;
  /** Device-type options: blk capacity in sectors. */
  blkSectors?: number;
  /** QueueSizeMax the device presents for its queues. */
  queueSizeMax?: number;
  /** Deadline of each driver operation in this scenario (default: the runner's). */
  deadlineMs?: number;
  /** How many times to call the driver's probe in a row (default 1); the last result is kept. */
  probes?: number;
}

/** What a scenario produced. */
export interface ScenarioTrace {
  events: TraceEvent[];
  probe: ProbeResult;
  results: WorkloadResult[];
  core: DeviceCore;
  fn: DeviceFunction;
  offered: bigint;
  /** The raw guest memory (the device's view). */
  memory: ArrayMemory;
  /** The ring monitor of the scenario: its violations are in `events`; per-queue counts in `summary()`. */
  monitor: RingMonitor;
}

/** The default workload for a device type. */
export function defaultWorkloads(type: DeviceTypeName): Workload[] {
  if (type === "blk") return [{ kind: "blk-read", sector: 0, sectors: 1 }];
  return [{ kind: "rng-read", bytes: 16 }];
}

/** Creates the reference device function for a type the harness can present. */
export function deviceFunctionFor(
  type: DeviceTypeName,
  opts: { blkSectors?: number; queueSizeMax?: number } = {},
): DeviceFunction {
  const q = opts.queueSizeMax === undefined ? {} : { queueSizeMax: opts.queueSizeMax };
  switch (type) {
    case "rng":
      return new RngFunction(q);
    case "blk":
      return new BlkFunction(opts.blkSectors === undefined ? q : { ...q, sectors: opts.blkSectors });
    default:
      throw new Error(`The harness cannot present a ${type} device yet`);
  }
}

/**
 * An MMIO v2 device that records every access and tells a ring monitor about
 * queue enables, disables and resets, device resets and notifications.
 */
export class MonitoredMmioDevice extends MmioDevice {
  readonly events: TraceEvent[] = [];
  constructor(
    core: DeviceCore,
    identity: MmioIdentityOverrides,
    readonly monitor?: RingMonitor,
    readonly limit = 200_000,
  ) {
    super(core, identity);
    const previous = core.onInterrupt;
    core.onInterrupt = (level) => {
      previous(level);
      this.push({ kind: "irq", level, interruptStatus: core.interruptStatus });
    };
  }
  push(e: DistributiveOmit<TraceEvent, "seq">): void {
    if (this.events.length < this.limit) this.events.push({ ...e, seq: this.events.length } as TraceEvent);
  }
  /** Records a ring violation (and, for a change to an exposed descriptor, the older `altered` event). */
  recordViolation(v: RingViolation): void {
    this.push({ kind: "ring", violation: v.kind, statement: v.statement, queue: v.queue, detail: v.detail });
    if (v.kind === "desc-changed-while-exposed" || v.kind === "packed-desc-changed-while-available") {
      this.push({ kind: "altered", queue: v.queue, head: v.head ?? -1, detail: v.detail });
    }
  }
  override async read(offset: number, width: Width): Promise<number> {
    const before = this.#context();
    const value = await super.read(offset, width);
    this.push({ kind: "read", offset, width, value, ...before });
    return value;
  }
  override async write(offset: number, width: Width, value: number): Promise<void> {
    const before = this.#context();
    // The device may write the used ring as soon as the queue is live: read its flags as the driver left them.
    const usedFlags = offset === Mmio.QueueReady && value === 1 ? await this.#usedFlags() : undefined;
    await super.write(offset, width, value);
    this.push({ kind: "write", offset, width, value: value >>> 0, ...before });
    if (width === 4) this.#tellMonitor(offset, value >>> 0, before.queueSel, usedFlags);
  }
  async #usedFlags(): Promise<number | undefined> {
    const s = this.core.queues[this.queueSel];
    if (!s || !inRange(this.core.memory, s.device, 2)) return undefined;
    return await readU16(this.core.memory, s.device);
  }
  #context() {
    return {
      queueSel: this.queueSel,
      status: this.core.status,
      queueReady: this.core.queues[this.queueSel]?.ready ?? false,
    };
  }
  #tellMonitor(offset: number, value: number, sel: number, usedFlags: number | undefined): void {
    const m = this.monitor;
    if (!m) return;
    const core = this.core;
    switch (offset) {
      case Mmio.Status:
        if (value === 0) m.reset();
        return;
      case Mmio.QueueReady: {
        const s = core.queues[sel];
        if (value === 0) m.disableQueue(sel);
        else if (value === 1 && s?.ready && (core.status & Status.FEATURES_OK)) {
          m.enableQueue(sel, ringFeatures(core.negotiated), {
            size: s.size,
            desc: s.desc,
            driver: s.driver,
            device: s.device,
          }, usedFlags);
        }
        return;
      }
      case Mmio.QueueReset:
        if (value === 1) m.disableQueue(sel);
        return;
      case Mmio.QueueNotify:
        m.notify(value);
        return;
    }
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/**
 * Runs scenarios of a driver under test against harness devices.
 *
 * @example
 * ```ts ignore
 * const runner = new ScenarioRunner(target, "blk", 2000);
 * const trace = await runner.run({ knobs: { rejectFeaturesOk: true } });
 * ```
 */
export class ScenarioRunner {
  #baseline: Promise<ScenarioTrace> | undefined;
  constructor(
    readonly target: DriverTarget,
    readonly deviceType: DeviceTypeName,
    readonly deadlineMs = 2000,
    readonly transport: TransportKind = "mmio",
  ) {}

  /** The plain scenario (default device, default workload, removal), run once and shared. */
  baseline(): Promise<ScenarioTrace> {
    this.#baseline ??= this.run({});
    return this.#baseline;
  }

  async run(s: Scenario): Promise<ScenarioTrace> {
    const deadline = s.deadlineMs ?? this.deadlineMs;
    const memory = new ArrayMemory(GUEST_RAM.base, GUEST_RAM.size);
    const fn = deviceFunctionFor(this.deviceType, {
      ...(s.blkSectors === undefined ? {} : { blkSectors: s.blkSectors }),
      ...(s.queueSizeMax === undefined ? {} : { queueSizeMax: s.queueSizeMax }),
    });
    const core = new DeviceCore(fn, { memory, transport: "mmio", ...(s.knobs ? { knobs: s.knobs } : {}) });
    const listeners: ((level: boolean) => void)[] = [];
    core.onInterrupt = (level) => listeners.forEach((l) => l(level));
    const watched = new WatchedMemory(memory);
    const monitor = new RingMonitor(memory, {
      watched,
      onViolation: (v) => device.recordViolation(v),
      live: () => (core.status & Status.DRIVER_OK) !== 0,
    });
    const device = new MonitoredMmioDevice(core, s.identity ?? {}, monitor);
    s.configure?.(core, fn, device);
    const phase = (e: DistributiveOmit<Extract<TraceEvent, { kind: "phase" }>, "seq">) => {
      monitor.checkpoint();
      device.push(e);
    };
    const session = await this.target.attach({
      transport: this.transport,
      registers: device,
      memory: watched,
      onInterrupt: (l) => listeners.push(l),
    });
    const results: WorkloadResult[] = [];
    let probe: ProbeResult;
    try {
      phase({ kind: "phase", phase: "probe" });
      probe = await session.probe(deadline);
      for (let i = 1; i < (s.probes ?? 1); i++) {
        phase({ kind: "phase", phase: "probe", index: i });
        probe = await session.probe(deadline);
      }
      if (probe.bound) {
        const work = s.workloads ?? defaultWorkloads(this.deviceType);
        for (let i = 0; i < work.length; i++) {
          phase({ kind: "phase", phase: "workload", index: i });
          results.push(await session.workload(work[i]!, deadline));
        }
      }
      if (s.remove ?? true) {
        phase({ kind: "phase", phase: "remove" });
        await session.remove(deadline);
      }
      phase({ kind: "phase", phase: "end" });
    } finally {
      await session.close();
    }
    return { events: device.events, probe, results, core, fn, offered: core.offeredFeatures(), memory, monitor };
  }
}
