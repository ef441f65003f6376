/**
 * The harness playing the device against a driver under test: it presents a
 * reference device (with scenario knobs) over MMIO v2, records every register
 * access and device event in a trace, and runs a {@link RingMonitor} over the
 * driver's view of guest memory, so broken ring obligations land in the trace
 * as `ring` events.
 *
 * @module
 */
import type {
  AccessSpace,
  DriverTarget,
  HarnessDeviceEndpoint,
  PciFunctionAccess,
  ProbeResult,
  Workload,
  WorkloadResult,
} from "../adapter.ts";
import { VirtualClock } from "../clock.ts";
import { callWithDeadline, untilAborted } from "../deadline.ts";
import type { DeviceTypeName, TransportKind } from "../features.ts";
import { ArrayMemory, inRange, readU16 } from "../memory.ts";
import type { RegisterSpace, Width } from "../registers.ts";
import { Status } from "../status.ts";
import { Mmio } from "../transport/mmio_layout.ts";
import { BlkFunction } from "../models/device/blk.ts";
import type { ZonedOptions } from "../models/device/blk_zoned.ts";
import { DeviceCore, type DeviceKnobs } from "../models/device/core.ts";
import type { DeviceFunction } from "../models/device/device_function.ts";
import { MmioDevice, type MmioIdentityOverrides } from "../models/device/mmio_device.ts";
import { MmioLegacyDevice } from "../models/device/mmio_legacy_device.ts";
import { MmioLegacy } from "../transport/mmio_legacy.ts";
import { CommonCfg, PciCommand } from "../transport/pci_layout.ts";
import {
  DEFAULT_PCI_WINDOWS,
  defaultPciLayout,
  PciDevice,
  type PciLayoutOptions,
} from "../models/device/pci_device.ts";
import { ConsoleFunction } from "../models/device/console.ts";
import { NetFunction, type NetRssOptions } from "../models/device/net.ts";
import { RngFunction } from "../models/device/rng.ts";
import { ringFeatures } from "../virtqueue/queue.ts";
import { RingMonitor, type RingViolation, type RingViolationKind } from "./ring_monitor.ts";
import { WatchedMemory } from "./watched_memory.ts";
import { notApplicable } from "../verify.ts";

/** Guest memory the harness device gives a driver: base and size. */
export const GUEST_RAM = { base: 0x4000_0000, size: 4 << 20 } as const;

export type { AccessSpace } from "../adapter.ts";

/** One event of a scenario trace. */
export type TraceEvent =
  | {
    seq: number;
    kind: "read" | "write";
    /**
     * The register in transport-neutral terms: its virtio-mmio v2 offset
     * (`Mmio.Status`, `Mmio.QueueReady`, `Mmio.Config + n`, …), whatever the
     * transport; -1 when the register has no MMIO counterpart (PCI
     * configuration space, MSI-X vectors, legacy GuestPageSize, …).
     */
    offset: number;
    width: Width;
    /** The value in transport-neutral terms (a legacy QueuePFN write of a page number is QueueReady = 1). */
    value: number;
    /** Where the access really landed, and its raw value. */
    raw: { space: AccessSpace; offset: number; value: number };
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
  /** PCI: a variation of the device's PCI layout (every default is the strict layout). */
  pciLayout?: PciLayoutOptions;
  /** Work to ask of the driver after probe (default: one request for the device type). */
  workloads?: Workload[];
  /** Remove the driver at the end (default true). */
  remove?: boolean;
  /** Called with the device before the driver attaches (e.g. to hook config reads). */
  configure?: (core: DeviceCore, fn: DeviceFunction, device: DeviceRecorder) => void;
  /** Device-type options: blk capacity in sectors. */
  blkSectors?: number;
  /** A blk device with a read-only disk: it offers VIRTIO_BLK_F_RO and refuses every write. */
  blkReadOnly?: boolean;
  /** A zoned disk laid out so (VIRTIO_BLK_F_ZONED offered besides the stock features). */
  blkZoned?: ZonedOptions;
  /** A net device's RSS support (key size, table length, hash types, contexts) instead of the stock one. */
  netRss?: NetRssOptions;
  /** QueueSizeMax the device presents for its queues. */
  queueSizeMax?: number;
  /** Deadline of each driver operation in this scenario (default: the runner's). */
  deadlineMs?: number;
  /**
   * Deadline of each workload (default: `deadlineMs`): short where the device is made to leave requests unserved,
   * so that the driver gives up on them quickly (what it does then is judged, not how long it waited).
   */
  workloadDeadlineMs?: number;
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
  /**
   * Whether the driver under test subscribed to the interrupt line during the run (`false`: it never did, so it
   * polls and receives no interrupt); absent for a watched driver, whose line is wired by its machine.
   */
  listened?: boolean;
  /**
   * A watched PCI driver: the device's configuration space as the driver read it (4 KiB; bytes it never read
   * are 0), so its capability list can be walked as the driver saw it.
   */
  configSpace?: Uint8Array;
  /** A watched driver: how many snapshots of its rings the run holds (their findings are `ring` events). */
  ringSnapshots?: number;
  /** A watched driver whose every ring access was watched while its queues were live (findings: `ring` events). */
  ringsWatched?: boolean;
  /**
   * A watched driver on MMIO: its accesses, in order, to the other virtio-mmio windows whose DeviceID read 0
   * (placeholder devices it probed beside the device under test).
   */
  placeholders?: PlaceholderAccess[];
  /**
   * A watched block driver: the read and write requests its device received, each with `seq`, the number of events
   * recorded before it (so its place among the register accesses is known).
   */
  blkRequests?: { op: "read" | "write"; sector: number; sectors: number; seq: number }[];
}

/** An access to a placeholder device's window (see {@link ScenarioTrace.placeholders}). */
export interface PlaceholderAccess {
  window: number;
  kind: "read" | "write";
  offset: number;
  width: Width;
  value: number;
}

/** The default workload for a device type. */
export function defaultWorkloads(type: DeviceTypeName): Workload[] {
  if (type === "blk") return [{ kind: "blk-read", sector: 0, sectors: 1 }];
  if (type === "console") return [{ kind: "console-write", data: new TextEncoder().encode("virtio\n") }];
  if (type === "net") return [{ kind: "net-send", frame: presentedFrame(1) }, { kind: "net-receive" }];
  return [{ kind: "rng-read", bytes: 16 }];
}

/**
 * The frames the harness's net device carries in scenarios: broadcast (every receive filter lets it through), from
 * a locally administered address, with a payload numbered by `n`, 60 bytes long.
 */
export function presentedFrame(n: number): Uint8Array {
  const f = new Uint8Array(60);
  f.fill(0xff, 0, 6);
  f.set([0x02, 0x00, 0x5e, 0x10, 0x00, 0x02], 6);
  f[12] = 0x88;
  f[13] = 0xb5;
  for (let i = 14; i < f.length; i++) f[i] = (n * 29 + i * 3) & 0xff;
  return f;
}

/** Creates the reference device function for a type the harness can present. */
export function deviceFunctionFor(
  type: DeviceTypeName,
  opts: {
    blkSectors?: number;
    queueSizeMax?: number;
    blkReadOnly?: boolean;
    blkZoned?: ZonedOptions;
    netRss?: NetRssOptions;
  } = {},
): DeviceFunction {
  const q = opts.queueSizeMax === undefined ? {} : { queueSizeMax: opts.queueSizeMax };
  switch (type) {
    case "rng":
      return new RngFunction(q);
    case "blk":
      return new BlkFunction({
        ...q,
        ...(opts.blkSectors === undefined ? {} : { sectors: opts.blkSectors }),
        ...(opts.blkReadOnly ? { readOnly: true } : {}),
        ...(opts.blkZoned ? { zoned: opts.blkZoned } : {}),
      });
    case "console":
      return new ConsoleFunction(q);
    case "net":
      return new NetFunction({ ...q, ...(opts.netRss ? { rss: opts.netRss } : {}) });
    default:
      throw new Error(`The harness cannot present a ${type} device yet`);
  }
}

/** A register access in transport-neutral terms (see {@link TraceEvent}). */
export interface CanonicalAccess {
  offset: number;
  value: number;
}

/**
 * Records what a driver does to a harness device, whatever the transport:
 * every register access (in transport-neutral terms, with the raw location),
 * interrupts, phases and ring violations; and tells a ring monitor about
 * queue enables, disables and resets, device resets and notifications.
 */
export class DeviceRecorder {
  readonly events: TraceEvent[] = [];
  /** QueueSel as the driver last wrote it (in transport-neutral terms). */
  queueSel = 0;
  constructor(readonly core: DeviceCore, readonly monitor?: RingMonitor, readonly limit = 200_000) {}
  /** Records a change of the interrupt line (INTx or the MMIO line). */
  irq(level: boolean): void {
    this.push({ kind: "irq", level, interruptStatus: this.core.interruptStatus });
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
  /**
   * Performs a read through `read` and records it; `canonical` maps the raw
   * value to the transport-neutral register (or undefined: no counterpart).
   */
  async read(
    space: AccessSpace,
    rawOffset: number,
    width: Width,
    read: () => Promise<number>,
    canonical: (value: number) => CanonicalAccess | undefined,
  ): Promise<number> {
    const before = this.#context();
    const value = await read();
    const c = canonical(value);
    this.push({
      kind: "read",
      offset: c?.offset ?? -1,
      width,
      value: c?.value ?? value,
      raw: { space, offset: rawOffset, value },
      ...before,
    });
    return value;
  }
  /** Performs a write through `write`, records it and tells the ring monitor what it means. */
  async write(
    space: AccessSpace,
    rawOffset: number,
    width: Width,
    value: number,
    write: () => Promise<void>,
    canonical: CanonicalAccess | undefined,
  ): Promise<void> {
    const before = this.#context();
    // The device may write the used ring as soon as the queue is live: read its flags as the driver left them.
    const enabling = canonical?.offset === Mmio.QueueReady && canonical.value === 1;
    let usedFlags = enabling ? await this.#usedFlags() : undefined;
    await write();
    if (enabling && usedFlags === undefined) usedFlags = await this.#usedFlags();
    this.push({
      kind: "write",
      offset: canonical?.offset ?? -1,
      width,
      value: canonical?.value ?? value >>> 0,
      raw: { space, offset: rawOffset, value: value >>> 0 },
      ...before,
    });
    if (canonical?.offset === Mmio.QueueSel) this.queueSel = canonical.value;
    if (canonical?.offset === Mmio.Status && canonical.value === 0) this.queueSel = 0;
    if (canonical) this.#tellMonitor(canonical.offset, canonical.value >>> 0, before.queueSel, usedFlags);
  }
  async #usedFlags(): Promise<number | undefined> {
    const s = this.core.queues[this.queueSel];
    if (!s || s.device === 0 || !inRange(this.core.memory, s.device, 2)) return undefined;
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
        else if (value === 1 && s?.ready && (core.legacy || (core.status & Status.FEATURES_OK))) {
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

/** An MMIO v2 register file whose every access goes through a {@link DeviceRecorder}. */
export function recordedMmio(device: RegisterSpace, rec: DeviceRecorder): RegisterSpace {
  return {
    read: (o, w) => rec.read("mmio", o, w, () => device.read(o, w), (v) => ({ offset: o, value: v })),
    write: (o, w, v) => rec.write("mmio", o, w, v, () => device.write(o, w, v), { offset: o, value: v >>> 0 }),
  };
}

/** Transport-neutral names of the common configuration fields that have an MMIO counterpart. */
const COMMON_TO_MMIO: Readonly<Record<number, { read: number; write: number }>> = {
  [CommonCfg.device_feature_select]: { read: Mmio.DeviceFeaturesSel, write: Mmio.DeviceFeaturesSel },
  [CommonCfg.device_feature]: { read: Mmio.DeviceFeatures, write: Mmio.DeviceFeatures },
  [CommonCfg.driver_feature_select]: { read: Mmio.DriverFeaturesSel, write: Mmio.DriverFeaturesSel },
  [CommonCfg.driver_feature]: { read: Mmio.DriverFeatures, write: Mmio.DriverFeatures },
  [CommonCfg.device_status]: { read: Mmio.Status, write: Mmio.Status },
  [CommonCfg.config_generation]: { read: Mmio.ConfigGeneration, write: Mmio.ConfigGeneration },
  [CommonCfg.queue_select]: { read: Mmio.QueueSel, write: Mmio.QueueSel },
  [CommonCfg.queue_size]: { read: Mmio.QueueSizeMax, write: Mmio.QueueSize },
  [CommonCfg.queue_enable]: { read: Mmio.QueueReady, write: Mmio.QueueReady },
  [CommonCfg.queue_desc]: { read: Mmio.QueueDescLow, write: Mmio.QueueDescLow },
  [CommonCfg.queue_desc + 4]: { read: Mmio.QueueDescHigh, write: Mmio.QueueDescHigh },
  [CommonCfg.queue_driver]: { read: Mmio.QueueDriverLow, write: Mmio.QueueDriverLow },
  [CommonCfg.queue_driver + 4]: { read: Mmio.QueueDriverHigh, write: Mmio.QueueDriverHigh },
  [CommonCfg.queue_device]: { read: Mmio.QueueDeviceLow, write: Mmio.QueueDeviceLow },
  [CommonCfg.queue_device + 4]: { read: Mmio.QueueDeviceHigh, write: Mmio.QueueDeviceHigh },
  [CommonCfg.queue_reset]: { read: Mmio.QueueReset, write: Mmio.QueueReset },
};

/** Where a bus address falls in a PCI device's structures. */
function pciStructureAt(dev: PciDevice, addr: number): { space: AccessSpace; offset: number } | undefined {
  if (!(dev.command & PciCommand.MEMORY)) return undefined;
  for (const r of dev.layout.regions) {
    const spec = dev.layout.bars[r.bar];
    if (!spec || spec.kind === "io") continue;
    const start = dev.barBase(r.bar) + r.offset;
    if (addr < start || addr >= start + r.length) continue;
    const space: AccessSpace = r.structure === "common" || r.structure === "notify" || r.structure === "isr" ||
        r.structure === "device"
      ? r.structure
      : "bar";
    return { space, offset: addr - start };
  }
  return undefined;
}

/** A PCI access in transport-neutral terms (undefined: no MMIO counterpart). */
export function pciCanonical(
  where: { space: AccessSpace; offset: number },
  kind: "read" | "write",
  value: number,
): CanonicalAccess | undefined {
  switch (where.space) {
    case "common": {
      const m = COMMON_TO_MMIO[where.offset];
      return m ? { offset: kind === "read" ? m.read : m.write, value: value >>> 0 } : undefined;
    }
    case "notify":
      return kind === "write" ? { offset: Mmio.QueueNotify, value: value >>> 0 } : undefined;
    case "isr":
      return kind === "read" ? { offset: Mmio.InterruptStatus, value: value >>> 0 } : undefined;
    case "device":
      return { offset: Mmio.Config + where.offset, value: value >>> 0 };
    default:
      return undefined;
  }
}

/**
 * A PCI function through a {@link DeviceRecorder}: configuration space
 * accesses are recorded raw, accesses to the virtio structures with their
 * MMIO counterparts (device_status as Status, queue_enable as QueueReady,
 * a notification as QueueNotify, an ISR read as InterruptStatus, …).
 */
export function recordedPci(dev: PciDevice, rec: DeviceRecorder): PciFunctionAccess {
  const inner = dev.access(DEFAULT_PCI_WINDOWS);
  const bus = (addr: number) => pciStructureAt(dev, addr) ?? { space: "bar" as const, offset: addr };
  return {
    config: {
      read: (o, w) => rec.read("pci-config", o, w, () => inner.config.read(o, w), () => undefined),
      write: (o, w, v) => rec.write("pci-config", o, w, v, () => inner.config.write(o, w, v), undefined),
    },
    memory: {
      read: (a, w) => {
        const where = bus(a);
        return rec.read(
          where.space,
          where.offset,
          w,
          () => inner.memory.read(a, w),
          (v) => pciCanonical(where, "read", v),
        );
      },
      write: (a, w, v) => {
        const where = bus(a);
        return rec.write(
          where.space,
          where.offset,
          w,
          v,
          () => inner.memory.write(a, w, v),
          pciCanonical(where, "write", v),
        );
      },
    },
    memoryWindow: inner.memoryWindow,
    ...(inner.io && inner.ioWindow ? { io: inner.io, ioWindow: inner.ioWindow } : {}),
  };
}

/**
 * A legacy (version 1) MMIO access in transport-neutral terms: QueuePFN is
 * QueueReady (a page number enables the queue, 0 stops it); GuestPageSize
 * and QueueAlign have no counterpart.
 */
export function legacyCanonical(o: number, v: number): CanonicalAccess | undefined {
  if (o === MmioLegacy.QueuePFN) return { offset: Mmio.QueueReady, value: v === 0 ? 0 : 1 };
  if (o === MmioLegacy.GuestPageSize || o === MmioLegacy.QueueAlign) return undefined;
  return { offset: o, value: v >>> 0 };
}

/**
 * A legacy (version 1) MMIO register file through a {@link DeviceRecorder}:
 * QueuePFN is recorded as QueueReady (a page number enables the queue, 0
 * stops it); GuestPageSize and QueueAlign have no counterpart.
 */
export function recordedLegacyMmio(device: RegisterSpace, rec: DeviceRecorder): RegisterSpace {
  const canonical = legacyCanonical;
  return {
    read: (o, w) => rec.read("mmio", o, w, () => device.read(o, w), (v) => canonical(o, v)),
    write: (o, w, v) => rec.write("mmio", o, w, v, () => device.write(o, w, v), canonical(o, v)),
  };
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
  readonly #shared: { baseline?: Promise<ScenarioTrace> };
  /**
   * `signal`: when it aborts, the runner starts no new scenario and no new
   * driver call (a clause's deadline passed). `shared`: the baseline cache of
   * the runner this one was made from ({@link ScenarioRunner.forClause}).
   */
  constructor(
    readonly target: DriverTarget,
    readonly deviceType: DeviceTypeName,
    readonly deadlineMs = 2000,
    readonly transport: TransportKind = "mmio",
    readonly signal?: AbortSignal,
    shared?: { baseline?: Promise<ScenarioTrace> },
  ) {
    this.#shared = shared ?? {};
  }

  /**
   * True when the driver runs beside its own device and the harness only
   * watches it: every scenario is that device's one run (see
   * `WatchedScenarioRunner`), so a clause judges that run instead of varying
   * the device.
   */
  get watched(): boolean {
    return this.target.watch !== undefined;
  }

  /** A runner for one clause: the same target and baseline, stopped by the clause's `signal`. */
  forClause(signal: AbortSignal): ScenarioRunner {
    return new ScenarioRunner(this.target, this.deviceType, this.deadlineMs, this.transport, signal, this.#shared);
  }

  /** The plain scenario (default device, default workload, removal), run once and shared. */
  baseline(): Promise<ScenarioTrace> {
    // Run without the clause's signal: the trace is shared by every clause.
    this.#shared.baseline ??= new ScenarioRunner(this.target, this.deviceType, this.deadlineMs, this.transport)
      .run({});
    return untilAborted(this.#shared.baseline, this.signal);
  }

  /**
   * One call into the driver under test, bounded by the harness whatever the
   * driver does with the deadline it is given; refused once the signal aborted.
   */
  #call<T>(what: string, f: () => Promise<T>, deadline: number): Promise<T> {
    this.signal?.throwIfAborted();
    const bound = 2 * deadline + 500;
    return callWithDeadline(f, bound, `${what} (given ${deadline} ms)`);
  }

  /**
   * The device's register files on the runner's transport, every access
   * recorded, and its interrupt line (INTx on PCI).
   */
  protected present(
    core: DeviceCore,
    rec: DeviceRecorder,
    s: Scenario,
  ): Pick<HarnessDeviceEndpoint, "registers" | "pci"> & { line(listener: (level: boolean) => void): void } {
    const coreLine = (listener: (level: boolean) => void) => {
      const previous = core.onInterrupt;
      core.onInterrupt = (level) => {
        previous(level);
        listener(level);
      };
    };
    switch (this.transport) {
      case "mmio":
        return { registers: recordedMmio(new MmioDevice(core, s.identity ?? {}), rec), line: coreLine };
      case "mmio-legacy":
        return { registers: recordedLegacyMmio(new MmioLegacyDevice(core, s.identity ?? {}), rec), line: coreLine };
      case "pci": {
        const dev = new PciDevice(core, defaultPciLayout(core.fn, s.pciLayout ?? {}));
        const pci = recordedPci(dev, rec);
        return { registers: pci.config, pci, line: (l) => dev.onInterrupt(l) };
      }
      default:
        throw new Error(`The harness cannot present a device on ${this.transport} yet`);
    }
  }

  async run(s: Scenario): Promise<ScenarioTrace> {
    if (this.target.watch) {
      notApplicable("the driver runs beside its own device: the harness cannot present one to it");
    }
    const deadline = s.deadlineMs ?? this.deadlineMs;
    const memory = new ArrayMemory(GUEST_RAM.base, GUEST_RAM.size);
    const fn = deviceFunctionFor(this.deviceType, {
      ...(s.blkSectors === undefined ? {} : { blkSectors: s.blkSectors }),
      ...(s.blkReadOnly ? { blkReadOnly: true } : {}),
      ...(s.blkZoned ? { blkZoned: s.blkZoned } : {}),
      ...(s.netRss ? { netRss: s.netRss } : {}),
      ...(s.queueSizeMax === undefined ? {} : { queueSizeMax: s.queueSizeMax }),
    });
    // A driver that takes its time from the endpoint's clock runs, with the device, on virtual time: time moves while
    // neither touches a register or guest memory.
    const clock: VirtualClock | undefined = this.target.virtualTime
      ? new VirtualClock({ activity: (): number => memory.accesses + device.events.length })
      : undefined;
    const core = new DeviceCore(fn, {
      memory,
      transport: this.transport,
      ...(s.knobs ? { knobs: s.knobs } : {}),
      ...(clock ? { clock } : {}),
    });
    const listeners: ((level: boolean) => void)[] = [];
    const watched = new WatchedMemory(memory);
    const monitor = new RingMonitor(memory, {
      watched,
      onViolation: (v) => device.recordViolation(v),
      live: () => (core.status & Status.DRIVER_OK) !== 0,
      suspended: () => (core.status & Status.SUSPEND) !== 0,
    });
    const device = new DeviceRecorder(core, monitor);
    const { line, ...presented } = this.present(core, device, s);
    line((level) => {
      device.irq(level);
      listeners.forEach((l) => l(level));
    });
    s.configure?.(core, fn, device);
    const phase = (e: DistributiveOmit<Extract<TraceEvent, { kind: "phase" }>, "seq">) => {
      monitor.checkpoint();
      device.push(e);
    };
    const session = await this.#call("the driver's attach", () =>
      this.target.attach({
        transport: this.transport,
        ...presented,
        memory: watched,
        onInterrupt: (l) => listeners.push(l),
        ...(clock ? { clock } : {}),
      }), deadline);
    const results: WorkloadResult[] = [];
    let probe: ProbeResult;
    try {
      phase({ kind: "phase", phase: "probe" });
      probe = await this.#call("the driver's probe", () => session.probe(deadline), deadline);
      for (let i = 1; i < (s.probes ?? 1); i++) {
        phase({ kind: "phase", phase: "probe", index: i });
        probe = await this.#call("the driver's probe", () => session.probe(deadline), deadline);
      }
      if (probe.bound) {
        const work = s.workloads ?? defaultWorkloads(this.deviceType);
        for (let i = 0; i < work.length; i++) {
          phase({ kind: "phase", phase: "workload", index: i });
          const w = work[i]!;
          const ms = s.workloadDeadlineMs ?? deadline;
          // A frame to receive: on the wire before the driver is asked for it (the device holds it for a buffer).
          if (w.kind === "net-receive" && fn instanceof NetFunction) await fn.inject(presentedFrame(i + 2));
          results.push(await this.#call(`the driver's ${w.kind} workload`, () => session.workload(w, ms), ms));
        }
      }
      if (s.remove ?? true) {
        phase({ kind: "phase", phase: "remove" });
        await this.#call("the driver's remove", () => session.remove(deadline), deadline);
      }
      phase({ kind: "phase", phase: "end" });
    } finally {
      await callWithDeadline(() => session.close(), 2 * deadline + 500, "closing the driver session");
      clock?.dispose();
    }
    return {
      events: device.events,
      probe,
      results,
      core,
      fn,
      offered: core.offeredFeatures(),
      memory,
      monitor,
      listened: listeners.length > 0,
    };
  }
}
