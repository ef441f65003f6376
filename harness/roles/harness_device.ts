/**
 * The harness playing the device against a driver under test: it presents a
 * reference device (with scenario knobs) over MMIO v2, records every register
 * access and device event in a trace, and watches the rings for exposed
 * buffers being altered while their queue is live.
 *
 * @module
 */
import type { DriverTarget, ProbeResult, Workload, WorkloadResult } from "../adapter.ts";
import type { DeviceTypeName } from "../features.ts";
import { ArrayMemory, le, readU16 } from "../memory.ts";
import type { Width } from "../registers.ts";
import { Status } from "../status.ts";
import { Mmio } from "../transport/mmio_layout.ts";
import { BlkFunction } from "../models/device/blk.ts";
import { DeviceCore, type DeviceKnobs } from "../models/device/core.ts";
import type { DeviceFunction } from "../models/device/device_function.ts";
import { MmioDevice, type MmioIdentityOverrides } from "../models/device/mmio_device.ts";
import { RngFunction } from "../models/device/rng.ts";

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
  | { seq: number; kind: "altered"; queue: number; head: number; detail: string };

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
  memory: ArrayMemory;
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

interface Exposed {
  queue: number;
  head: number;
  snapshot: Uint8Array;
  descs: number[];
}

/** An MMIO v2 device that records every access and watches exposed buffers. */
export class MonitoredMmioDevice extends MmioDevice {
  readonly events: TraceEvent[] = [];
  #exposed: Exposed[] = [];
  #availSeen = new Map<number, number>();
  #usedSeen = new Map<number, number>();
  constructor(core: DeviceCore, identity: MmioIdentityOverrides, readonly limit = 200_000) {
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
  override async read(offset: number, width: Width): Promise<number> {
    await this.watch();
    const before = this.#context();
    const value = await super.read(offset, width);
    this.push({ kind: "read", offset, width, value, ...before });
    return value;
  }
  override async write(offset: number, width: Width, value: number): Promise<void> {
    await this.watch();
    const before = this.#context();
    await super.write(offset, width, value);
    this.push({ kind: "write", offset, width, value: value >>> 0, ...before });
    if (offset === Mmio.Status && value === 0) this.#forgetAll();
    if ((offset === Mmio.QueueReady && value === 0) || (offset === Mmio.QueueReset && value === 1)) {
      this.#forgetQueue(this.queueSel);
    }
  }
  #context() {
    return {
      queueSel: this.queueSel,
      status: this.core.status,
      queueReady: this.core.queues[this.queueSel]?.ready ?? false,
    };
  }
  #forgetAll(): void {
    this.#exposed = [];
    this.#availSeen.clear();
    this.#usedSeen.clear();
  }
  #forgetQueue(q: number): void {
    this.#exposed = this.#exposed.filter((x) => x.queue !== q);
    this.#availSeen.delete(q);
    this.#usedSeen.delete(q);
  }
  /**
   * Scans live queues: snapshots chains newly made available, drops used
   * ones, and records an `altered` event for any exposed descriptor whose
   * bytes changed while the queue is live. Every walk is bounded.
   */
  async watch(): Promise<void> {
    const core = this.core;
    if (!(core.status & Status.DRIVER_OK)) return;
    const mem = core.memory;
    for (let q = 0; q < core.queues.length; q++) {
      const s = core.queues[q]!;
      if (!s.ready || s.size === 0) continue;
      try {
        const avail = await readU16(mem, s.driver + 2);
        let seen = this.#availSeen.get(q) ?? 0;
        for (let k = 0; ((avail - seen) & 0xffff) !== 0 && k < s.size; k++) {
          const head = await readU16(mem, s.driver + 4 + 2 * (seen % s.size));
          seen = (seen + 1) & 0xffff;
          const descs: number[] = [];
          let i = head;
          for (let n = 0; n < s.size && i < s.size && !descs.includes(i); n++) {
            descs.push(i);
            const d = await mem.read(s.desc + 16 * i, 16);
            if (!(le.u16(d, 12) & 1)) break;
            i = le.u16(d, 14);
          }
          this.#exposed.push({ queue: q, head, descs, snapshot: await this.#bytes(s.desc, descs) });
        }
        this.#availSeen.set(q, seen);
        const used = await readU16(mem, s.device + 2);
        let useSeen = this.#usedSeen.get(q) ?? 0;
        for (let k = 0; ((used - useSeen) & 0xffff) !== 0 && k < s.size; k++) {
          const id = le.u32(await mem.read(s.device + 4 + 8 * (useSeen % s.size), 4), 0);
          const at = this.#exposed.findIndex((x) => x.queue === q && x.head === id);
          if (at >= 0) this.#exposed.splice(at, 1);
          useSeen = (useSeen + 1) & 0xffff;
        }
        this.#usedSeen.set(q, useSeen);
        for (const x of this.#exposed.filter((x) => x.queue === q)) {
          const now = await this.#bytes(s.desc, x.descs);
          if (!now.every((b, i) => b === x.snapshot[i])) {
            this.push({
              kind: "altered",
              queue: q,
              head: x.head,
              detail: `descriptor chain ${x.descs.join("→")} changed while exposed on a live queue`,
            });
            x.snapshot = now;
          }
        }
      } catch {
        // Out-of-range ring addresses: ring clauses report those; the monitor stays quiet.
      }
    }
  }
  async #bytes(descBase: number, descs: number[]): Promise<Uint8Array> {
    const out = new Uint8Array(16 * descs.length);
    for (let k = 0; k < descs.length; k++) out.set(await this.core.memory.read(descBase + 16 * descs[k]!, 16), 16 * k);
    return out;
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
  constructor(readonly target: DriverTarget, readonly deviceType: DeviceTypeName, readonly deadlineMs = 2000) {}

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
    const device = new MonitoredMmioDevice(core, s.identity ?? {});
    s.configure?.(core, fn, device);
    const session = await this.target.attach({
      registers: device,
      memory,
      onInterrupt: (l) => listeners.push(l),
    });
    const results: WorkloadResult[] = [];
    let probe: ProbeResult;
    try {
      device.push({ kind: "phase", phase: "probe" });
      probe = await session.probe(deadline);
      for (let i = 1; i < (s.probes ?? 1); i++) {
        device.push({ kind: "phase", phase: "probe", index: i });
        probe = await session.probe(deadline);
      }
      if (probe.bound) {
        const work = s.workloads ?? defaultWorkloads(this.deviceType);
        for (let i = 0; i < work.length; i++) {
          device.push({ kind: "phase", phase: "workload", index: i });
          results.push(await session.workload(work[i]!, deadline));
        }
      }
      if (s.remove ?? true) {
        device.push({ kind: "phase", phase: "remove" });
        await session.remove(deadline);
      }
      await device.watch();
      device.push({ kind: "phase", phase: "end" });
    } finally {
      await session.close();
    }
    return { events: device.events, probe, results, core, fn, offered: core.offeredFeatures(), memory };
  }
}
