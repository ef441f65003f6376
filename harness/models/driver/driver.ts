/**
 * The bundled reference driver: a strict virtio driver for rng and blk
 * devices over MMIO version 2, written from spec v1.4-cs01 (chapters 2, 3,
 * 4.2, 5.2 and 5.4). It is the oracle every driver clause must pass on.
 *
 * Protected methods are the seams the driver mutants in
 * `fixtures/mutants/driver_mutants.ts` override, one fault each.
 *
 * @module
 */
import type { DriverSession, HarnessDeviceEndpoint, ProbeResult, Workload, WorkloadResult } from "../../adapter.ts";
import { InProcessDriverTarget } from "../../adapters/in_process.ts";
import { bit, BLK_F, definedMask, DEVICE_IDS, type DeviceTypeName, dropUnsatisfied, F, mask } from "../../features.ts";
import { BumpAllocator } from "../../memory.ts";
import type { RegisterSpace } from "../../registers.ts";
import { formatStatus, Status } from "../../status.ts";
import { MmioDriverTransport } from "../../transport/mmio_driver.ts";
import { Mmio, MMIO_MAGIC, MmioInterrupt } from "../../transport/mmio_layout.ts";
import { type BufferSpec, SplitDriverQueue, USED_F_NO_NOTIFY } from "../../virtqueue/split.ts";
import type { ConfigField } from "../device/device_function.ts";
import {
  BLK_CAPACITY_FIELD,
  BLK_DRIVER_FEATURES,
  BLK_HEADER_SIZE,
  BLK_SECTOR_SIZE,
  blkConfigFields,
  blkHeader,
  BlkRequestStatus,
  BlkRequestType,
  blkSegments,
} from "./blk.ts";

/** Device types the reference driver drives. */
export type DrivenType = "rng" | "blk";

/** Device-independent features the reference driver implements (accepted when offered). */
export const DRIVER_CORE_FEATURES: bigint = mask(
  F.VERSION_1,
  F.ACCESS_PLATFORM,
  F.ORDER_PLATFORM,
  F.RING_RESET,
);

/** Device-type features the reference driver implements, by device type. */
export const DRIVER_TYPE_FEATURES: Record<DrivenType, bigint> = {
  rng: 0n,
  blk: BLK_DRIVER_FEATURES,
};

/** Largest queue size the reference driver sets up. */
export const DRIVER_QUEUE_SIZE_LIMIT = 128;

/** Every workload the reference driver supports. */
export const REFERENCE_DRIVER_WORKLOADS: Workload["kind"][] = [
  "rng-read",
  "blk-read",
  "blk-write",
  "blk-capacity",
  "queue-reset",
];

/** Queues the reference driver sets up, by device type. */
const QUEUES: Record<DrivenType, number[]> = { rng: [0], blk: [0] };

/** Bounds of the driver's polling loops. */
const RESET_POLL_MS = 1;
const MAX_POLLS = 10_000;
const GENERATION_RETRIES = 16;
const USED_POLL_MS = 2;
/** Deadline of the reset that recovers from DEVICE_NEEDS_RESET. */
const RECOVERY_MS = 1000;

/** What the identification registers said. */
export type Identification =
  | { kind: "device"; deviceId: number }
  /** DeviceID 0: a placeholder with no device behind it (spec 4.2.3.1.1). */
  | { kind: "placeholder" }
  | { kind: "invalid"; reason: string };

/** How a request ended. */
export type RequestOutcome =
  | { kind: "used"; len: number }
  | { kind: "failed"; reason: string }
  | { kind: "timeout" };

/** A failure the driver reports (probe error, workload error). */
export class DriverFailure extends Error {
  override name = "DriverFailure";
}

interface Pending {
  done: Promise<RequestOutcome>;
  settle(outcome: RequestOutcome): void;
  outcome: RequestOutcome | undefined;
}

/** A set of request buffers; reusable once the request is no longer exposed. */
export class Lease {
  #released = false;
  #held = false;
  constructor(readonly addrs: number[], readonly onRelease: () => void) {}
  /** Keeps the buffers until `until` settles (a request left exposed). */
  hold(until: Promise<unknown>): void {
    this.#held = true;
    void until.then(() => {
      this.#held = false;
      this.release();
    });
  }
  release(): void {
    if (this.#held || this.#released) return;
    this.#released = true;
    this.onRelease();
  }
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function drivenType(deviceId: number): DrivenType | undefined {
  if (deviceId === DEVICE_IDS.rng) return "rng";
  if (deviceId === DEVICE_IDS.blk) return "blk";
  return undefined;
}

/**
 * The reference driver, attached to one device endpoint.
 *
 * @example
 * ```ts
 * import { ReferenceDriver } from "./driver.ts";
 * import { ScenarioRunner } from "../../roles/harness_device.ts";
 * import { InProcessDriverTarget } from "../../adapters/in_process.ts";
 * const target = new InProcessDriverTarget(
 *   { name: "ref", transports: ["mmio"], deviceTypes: ["rng"], workloads: ["rng-read"] },
 *   (endpoint) => new ReferenceDriver(endpoint),
 * );
 * const trace = await new ScenarioRunner(target, "rng").run({});
 * console.log(trace.probe.bound, trace.results[0]?.ok); // true true
 * ```
 */
export class ReferenceDriver implements DriverSession {
  /** The transport helpers over the endpoint's registers. */
  protected readonly t: MmioDriverTransport;
  protected readonly regs: RegisterSpace;
  /** The last status value written (0 after a reset): every write is a superset of it. */
  protected driverStatus = 0;
  /** The device type found at probe. */
  protected deviceType: DrivenType | undefined;
  protected offered = 0n;
  protected negotiated = 0n;
  /** Initialization finished (DRIVER_OK set) and the device was not reset since. */
  protected bound = false;
  /** The driver has begun initializing the device (it owns it until removal). */
  protected touched = false;
  /** A configuration change was notified since the configuration was last read. */
  protected configStale = false;
  /** Live queues by index. */
  protected readonly queues: Map<number, SplitDriverQueue> = new Map();
  /** Configuration fields read at probe, by name. */
  protected readonly config: Map<string, number> = new Map();
  /** The last error the interrupt handler ran into, for diagnosis. */
  lastError: string | undefined;

  #ringAlloc: BumpAllocator;
  #bufAlloc: BumpAllocator;
  #bufEpoch = 0;
  #buffersInUse = 0;
  #pending = new Map<SplitDriverQueue, Map<number, Pending>>();
  #lock: Promise<void> = Promise.resolve();
  #harvesting: Promise<void> = Promise.resolve();
  #closed = false;
  #irqWanted = false;
  #irqTask: Promise<void> | undefined;

  constructor(protected readonly endpoint: HarnessDeviceEndpoint) {
    this.regs = endpoint.registers;
    this.t = new MmioDriverTransport(endpoint.registers);
    const { base, size } = endpoint.memory;
    const ringBytes = Math.min(Math.floor(size / 2), Math.max(64 * 1024, Math.floor(size / 8)));
    this.#ringAlloc = new BumpAllocator(base, base + ringBytes);
    this.#bufAlloc = new BumpAllocator(base + ringBytes, base + size);
    endpoint.onInterrupt((level) => this.#onLine(level));
  }

  // ---------------------------------------------------------------- plumbing

  /** A 32-bit read of a control register. */
  protected read32(offset: number): Promise<number> {
    return this.regs.read(offset, 4);
  }
  /** A 32-bit write of a control register. */
  protected write32(offset: number, value: number): Promise<void> {
    return this.regs.write(offset, 4, value >>> 0);
  }

  /** Runs `fn` with exclusive use of the registers (probe, submission, interrupt handling, removal). */
  protected async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const previous = this.#lock;
    let release!: () => void;
    this.#lock = new Promise<void>((r) => release = r);
    await previous;
    try {
      return await fn();
    } finally {
      release();
    }
  }

  // ------------------------------------------------------------------- probe

  /**
   * Identification, then the initialization sequence of spec 3.1.1. Returns
   * `{ bound: false }` without an error for a placeholder (DeviceID 0).
   */
  probe(deadlineMs: number): Promise<ProbeResult> {
    const deadline = Date.now() + deadlineMs;
    return this.exclusive(async () => {
      this.bound = false;
      try {
        return await this.initialize(deadline);
      } catch (e) {
        if (this.driverStatus !== 0 && !(this.driverStatus & Status.FAILED)) {
          try {
            await this.addStatus(Status.FAILED);
          } catch {
            // The device is gone; the error below says why.
          }
        }
        return { bound: false, error: message(e) };
      }
    });
  }

  /** The whole probe: identification, reset, negotiation, configuration, queues, DRIVER_OK. */
  protected async initialize(deadline: number): Promise<ProbeResult> {
    const id = await this.identify();
    if (id.kind === "placeholder") return { bound: false };
    if (id.kind === "invalid") return { bound: false, error: id.reason };
    const type = drivenType(id.deviceId);
    if (!type) return { bound: false, error: `This driver does not drive device ID ${id.deviceId}` };
    this.deviceType = type;
    await this.startOver(deadline);
    await this.addStatus(Status.ACKNOWLEDGE);
    await this.addStatus(Status.DRIVER);
    const offered = await this.readDeviceFeatures();
    this.offered = offered;
    if (!(offered & bit(F.VERSION_1))) {
      return await this.failProbe("The device does not offer VIRTIO_F_VERSION_1 and this driver has no legacy mode");
    }
    const accepted = this.chooseFeatures(offered, type);
    await this.writeDriverFeatures(accepted);
    if (!(await this.featuresOk())) {
      return await this.failProbe("The device did not accept the driver's features (FEATURES_OK reads back clear)");
    }
    this.negotiated = accepted;
    await this.readDeviceConfig(type, accepted, deadline);
    for (const q of QUEUES[type]) await this.setupQueue(q);
    await this.driverOk();
    this.bound = true;
    return { bound: true };
  }

  /**
   * Reads MagicValue then Version, and DeviceID only when both are right.
   * Nothing else is touched.
   */
  protected async identify(): Promise<Identification> {
    const magic = await this.read32(Mmio.MagicValue);
    const version = await this.read32(Mmio.Version);
    if (magic !== MMIO_MAGIC) {
      return { kind: "invalid", reason: `MagicValue is 0x${magic.toString(16)}, not 0x${MMIO_MAGIC.toString(16)}` };
    }
    if (version !== 2) return { kind: "invalid", reason: `MMIO Version is ${version}; this driver supports 2 only` };
    const deviceId = await this.read32(Mmio.DeviceID);
    if (deviceId === 0) return { kind: "placeholder" };
    return { kind: "device", deviceId };
  }

  /** The first step of (re-)initialization: reset the device, then forget the old queues and buffers. */
  protected async startOver(deadline: number): Promise<void> {
    this.touched = true;
    await this.resetDevice(deadline);
    this.forget("the driver re-initialized the device");
  }

  /** Writes status 0 and polls until the device reads back 0 (bounded). */
  protected async resetDevice(deadline: number): Promise<void> {
    await this.t.reset();
    this.driverStatus = 0;
    for (let polls = 0;; polls++) {
      const s = await this.t.getStatus();
      if (s === 0) return;
      if (Date.now() >= deadline || polls >= MAX_POLLS) {
        throw new DriverFailure(`The device did not complete its reset: Status reads ${formatStatus(s)}`);
      }
      await sleep(RESET_POLL_MS);
    }
  }

  /** Sets status bits: writes the previous value with `bits` added (never clears one). */
  protected async addStatus(bits: number): Promise<void> {
    this.driverStatus |= bits;
    await this.t.setStatus(this.driverStatus);
  }

  /** Sets FAILED and returns an unbound probe result. */
  protected async failProbe(reason: string): Promise<ProbeResult> {
    await this.addStatus(Status.FAILED);
    return { bound: false, error: reason };
  }

  /** Reads the device's feature words 0..3, selecting each one first. */
  protected readDeviceFeatures(): Promise<bigint> {
    return this.t.readDeviceFeatures();
  }

  /** The features this driver implements for a device type. */
  protected supportedFeatures(type: DrivenType): bigint {
    return DRIVER_CORE_FEATURES | DRIVER_TYPE_FEATURES[type];
  }

  /**
   * Accepts only features that are offered, defined for the device type on
   * MMIO and implemented by this driver, then drops those whose
   * dependencies are not accepted.
   */
  protected chooseFeatures(offered: bigint, type: DrivenType): bigint {
    const t: DeviceTypeName = type;
    return dropUnsatisfied(t, offered & this.supportedFeatures(type) & definedMask(t, "mmio"));
  }

  /** Writes the accepted features, selecting each word first. */
  protected writeDriverFeatures(accepted: bigint): Promise<void> {
    return this.t.writeDriverFeatures(accepted);
  }

  /** Sets FEATURES_OK and re-reads Status: true when the device kept it. */
  protected async featuresOk(): Promise<boolean> {
    await this.addStatus(Status.FEATURES_OK);
    return ((await this.t.getStatus()) & Status.FEATURES_OK) !== 0;
  }

  /** Sets DRIVER_OK: the device is live. */
  protected driverOk(): Promise<void> {
    return this.addStatus(Status.DRIVER_OK);
  }

  // ----------------------------------------------------------- configuration

  /** The configuration fields to read for a device type under `features` (only fields that exist). */
  protected configFields(type: DrivenType, features: bigint): ConfigField[] {
    return type === "blk" ? blkConfigFields(features) : [];
  }

  /** Reads the device configuration consistently (generation loop) into {@link config}. */
  protected async readDeviceConfig(type: DrivenType, features: bigint, deadline: number): Promise<void> {
    const fields = this.configFields(type, features);
    if (fields.length === 0) return;
    const values = await this.readConfigAtomically(async () => {
      const out: [string, number][] = [];
      for (const f of fields) out.push([f.name, await this.readConfigField(f)]);
      return out;
    }, deadline);
    this.config.clear();
    for (const [name, value] of values) this.config.set(name, value);
    this.configStale = false;
  }

  /** Reads one field with an access of its width; a 64-bit field as two aligned 32-bit reads. */
  protected async readConfigField(field: ConfigField): Promise<number> {
    if (field.size === 8) {
      const lo = await this.t.readConfig(field.offset, 4);
      const hi = await this.t.readConfig(field.offset + 4, 4);
      return lo + hi * 2 ** 32;
    }
    return await this.t.readConfig(field.offset, field.size);
  }

  /** Runs `read` between two ConfigGeneration reads until they agree (bounded). */
  protected async readConfigAtomically<T>(read: () => Promise<T>, deadline: number): Promise<T> {
    for (let attempt = 0; attempt < GENERATION_RETRIES; attempt++) {
      const before = await this.t.configGeneration();
      const value = await read();
      const after = await this.t.configGeneration();
      if (before === after) return value;
      if (Date.now() >= deadline) break;
    }
    throw new DriverFailure("The configuration generation kept changing while the driver read the configuration");
  }

  // ------------------------------------------------------------------ queues

  /** The queue size for a QueueSizeMax: the largest power of two ≤ min(max, 128). */
  protected queueSizeFor(max: number): number {
    const cap = Math.min(max, DRIVER_QUEUE_SIZE_LIMIT);
    let size = 1;
    while (size * 2 <= cap) size *= 2;
    return size;
  }

  /**
   * Sets up queue `index` with fresh zeroed rings: select, check it is not
   * live and exists, size, the six addresses, then QueueReady.
   */
  protected async setupQueue(index: number): Promise<SplitDriverQueue> {
    await this.write32(Mmio.QueueSel, index);
    if ((await this.read32(Mmio.QueueReady)) !== 0) {
      throw new DriverFailure(`Queue ${index} is already live (QueueReady reads non-zero) before set-up`);
    }
    const max = await this.read32(Mmio.QueueSizeMax);
    if (max === 0) throw new DriverFailure(`Queue ${index} is not available (QueueSizeMax is 0)`);
    const size = this.queueSizeFor(max);
    const queue = await SplitDriverQueue.create(this.endpoint.memory, this.#ringAlloc, index, size);
    await this.t.setupQueue(index, queue.addrs);
    this.queues.set(index, queue);
    return queue;
  }

  /** Fails every request still waiting on `queue`. */
  #failQueue(queue: SplitDriverQueue, reason: string): void {
    const map = this.#pending.get(queue);
    this.#pending.delete(queue);
    for (const p of map?.values() ?? []) p.settle({ kind: "failed", reason });
  }

  /**
   * Forgets every queue and request buffer (only after the device was reset
   * or never initialized): requests still waiting fail with `reason`.
   */
  protected forget(reason: string): void {
    for (const q of [...this.#pending.keys()]) this.#failQueue(q, reason);
    this.queues.clear();
    this.config.clear();
    this.negotiated = 0n;
    this.#ringAlloc.reset();
    this.#bufAlloc.reset();
    this.#bufEpoch++;
    this.#buffersInUse = 0;
  }

  // -------------------------------------------------------------- interrupts

  #onLine(level: boolean): void {
    if (!level || this.#closed || !this.bound) return;
    this.#irqWanted = true;
    this.#irqTask ??= this.#serviceInterrupts();
  }

  async #serviceInterrupts(): Promise<void> {
    // Never do register work inside the device's own call.
    await Promise.resolve();
    try {
      while (this.#irqWanted && !this.#closed) {
        this.#irqWanted = false;
        await this.exclusive(async () => {
          if (this.bound && !this.#closed) await this.handleInterrupt();
        });
      }
    } catch (e) {
      this.lastError = message(e);
    } finally {
      this.#irqTask = undefined;
    }
  }

  /**
   * Handles one interrupt: reads InterruptStatus, acknowledges the defined
   * causes it saw, then harvests used buffers (bit 0) and handles a
   * configuration change (bit 1). Undefined bits are ignored.
   */
  protected async handleInterrupt(): Promise<void> {
    const raw = await this.t.interruptStatus();
    const handled = raw & (MmioInterrupt.USED_BUFFER | MmioInterrupt.CONFIG_CHANGE);
    if (handled !== 0) await this.ackInterrupt(handled, raw);
    if (raw & MmioInterrupt.USED_BUFFER) await this.#harvestSoon();
    if (raw & MmioInterrupt.CONFIG_CHANGE) await this.configChanged();
  }

  /** Writes InterruptACK with the handled causes (`raw` is what InterruptStatus read). */
  protected ackInterrupt(handled: number, _raw: number): Promise<void> {
    return this.t.ackInterrupt(handled);
  }

  /** A configuration change notification: DEVICE_NEEDS_RESET means reset, else the configuration is re-read lazily. */
  protected async configChanged(): Promise<void> {
    const status = await this.t.getStatus();
    if (status & Status.DEVICE_NEEDS_RESET) await this.recoverFromNeedsReset();
    else this.configStale = true;
  }

  /** The device set DEVICE_NEEDS_RESET: reset it, then fail every request in flight. */
  protected async recoverFromNeedsReset(): Promise<void> {
    this.bound = false;
    try {
      await this.resetDevice(Date.now() + RECOVERY_MS);
    } finally {
      this.forget("The device set DEVICE_NEEDS_RESET; the driver reset it");
    }
  }

  /** Harvests the used rings of every live queue, serialized. */
  #harvestSoon(): Promise<void> {
    this.#harvesting = this.#harvesting.then(() => this.#harvestAll()).catch((e) => {
      this.lastError = message(e);
    });
    return this.#harvesting;
  }

  async #harvestAll(): Promise<void> {
    for (const queue of [...this.queues.values()]) {
      let used;
      try {
        used = await queue.harvest();
      } catch (e) {
        this.#failQueue(queue, `The used ring of queue ${queue.index} is malformed: ${message(e)}`);
        continue;
      }
      const map = this.#pending.get(queue);
      for (const u of used) {
        const p = map?.get(u.id);
        if (!p) continue;
        map!.delete(u.id);
        p.settle({ kind: "used", len: u.len });
      }
    }
  }

  // ---------------------------------------------------------------- requests

  /** Request buffers from the buffer pool; the pool rewinds once no request holds any. */
  #lease(sizes: number[]): Lease {
    if (this.#buffersInUse === 0) this.#bufAlloc.reset();
    const addrs = sizes.map((s) => this.#bufAlloc.alloc(Math.max(1, s), 16));
    const epoch = this.#bufEpoch;
    this.#buffersInUse++;
    return new Lease(addrs, () => {
      if (epoch === this.#bufEpoch) this.#buffersInUse--;
    });
  }

  #track(queue: SplitDriverQueue, head: number): Pending {
    let resolve!: (o: RequestOutcome) => void;
    const p: Pending = {
      done: new Promise<RequestOutcome>((r) => resolve = r),
      outcome: undefined,
      settle(o) {
        if (p.outcome) return;
        p.outcome = o;
        resolve(o);
      },
    };
    let map = this.#pending.get(queue);
    if (!map) this.#pending.set(queue, map = new Map());
    map.set(head, p);
    return p;
  }

  #requireBound(type: DrivenType, work: string): void {
    if (!this.bound) throw new DriverFailure(`${work}: the driver is not bound to a device`);
    if (this.deviceType !== type) {
      throw new DriverFailure(`${work} needs a ${type} device; the driver is bound to ${this.deviceType}`);
    }
  }

  /**
   * Makes one chain available on queue `index` and notifies, then waits for
   * it to be used, at most until `deadline`. A request that times out stays
   * exposed (its buffers held) until used or the device is reset.
   */
  protected async submit(
    index: number,
    buffers: BufferSpec[],
    deadline: number,
    lease: Lease,
  ): Promise<RequestOutcome> {
    const pending = await this.exclusive(async () => {
      const queue = this.queues.get(index);
      if (!this.bound || !queue) throw new DriverFailure(`Queue ${index} is not live`);
      const head = await queue.add(buffers);
      const p = this.#track(queue, head);
      await queue.publish(head);
      if (!((await queue.usedFlags()) & USED_F_NO_NOTIFY)) await this.t.notify(index);
      return p;
    });
    const outcome = await this.#wait(pending, deadline);
    if (outcome.kind === "timeout") lease.hold(pending.done);
    return outcome;
  }

  async #wait(p: Pending, deadline: number): Promise<RequestOutcome> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    let poll: ReturnType<typeof setInterval> | undefined;
    try {
      const timeout = new Promise<RequestOutcome>((resolve) => {
        timer = setTimeout(() => resolve({ kind: "timeout" }), Math.max(0, deadline - Date.now()));
      });
      poll = setInterval(() => void this.#harvestSoon(), USED_POLL_MS);
      const outcome = await Promise.race([p.done, timeout]);
      if (outcome.kind !== "timeout") return outcome;
      await this.#harvestSoon();
      return p.outcome ?? outcome;
    } finally {
      clearTimeout(timer);
      clearInterval(poll);
    }
  }

  #outcomeError(outcome: RequestOutcome, deadlineMs: number): string {
    if (outcome.kind === "failed") return outcome.reason;
    return `timeout: the device did not use the request within ${deadlineMs} ms`;
  }

  /** An entropy request: one device-writable buffer of `bytes`. */
  protected async rngRead(bytes: number, deadline: number, deadlineMs: number): Promise<WorkloadResult> {
    this.#requireBound("rng", "rng-read");
    if (!Number.isInteger(bytes) || bytes <= 0) return { ok: false, error: `rng-read of ${bytes} bytes` };
    const lease = this.#lease([bytes]);
    try {
      const addr = lease.addrs[0]!;
      const outcome = await this.submit(0, [{ addr, len: bytes, writable: true }], deadline, lease);
      if (outcome.kind !== "used") return { ok: false, error: this.#outcomeError(outcome, deadlineMs) };
      const data = await this.endpoint.memory.read(addr, Math.min(outcome.len, bytes));
      return { ok: true, data };
    } finally {
      lease.release();
    }
  }

  /** A block read or write of whole sectors. */
  protected async blkTransfer(
    type: number,
    sector: number,
    length: number,
    data: Uint8Array | undefined,
    deadline: number,
    deadlineMs: number,
  ): Promise<WorkloadResult> {
    const what = type === BlkRequestType.OUT ? "blk-write" : "blk-read";
    this.#requireBound("blk", what);
    if (!Number.isSafeInteger(sector) || sector < 0) return { ok: false, error: `${what}: bad sector ${sector}` };
    if (length <= 0 || length % BLK_SECTOR_SIZE !== 0) {
      return { ok: false, error: `${what}: ${length} bytes is not a positive multiple of ${BLK_SECTOR_SIZE}` };
    }
    if (type === BlkRequestType.OUT && (this.negotiated & bit(BLK_F.RO))) {
      return { ok: false, error: "blk-write: the device is read-only (VIRTIO_BLK_F_RO)" };
    }
    if (this.configStale) {
      await this.exclusive(() => this.readDeviceConfig("blk", this.negotiated, deadline));
    }
    const capacity = this.config.get(BLK_CAPACITY_FIELD.name);
    if (capacity !== undefined && sector + length / BLK_SECTOR_SIZE > capacity) {
      return {
        ok: false,
        error: `${what}: sectors ${sector}+${length / BLK_SECTOR_SIZE} lie beyond capacity ${capacity}`,
      };
    }
    const sizeMax = this.negotiated & bit(BLK_F.SIZE_MAX) ? this.config.get("size_max") : undefined;
    const segments = blkSegments(length, sizeMax);
    const segMax = this.negotiated & bit(BLK_F.SEG_MAX) ? this.config.get("seg_max") : undefined;
    if (segMax !== undefined && segMax > 0 && segments.length > segMax) {
      return { ok: false, error: `${what}: ${segments.length} segments exceed seg_max ${segMax}` };
    }
    const lease = this.#lease([BLK_HEADER_SIZE, length, 1]);
    try {
      const [hdr, buf, status] = lease.addrs as [number, number, number];
      const mem = this.endpoint.memory;
      await mem.write(hdr, blkHeader(type, sector));
      if (data) await mem.write(buf, data);
      await mem.write(status, new Uint8Array([0xff]));
      const chain: BufferSpec[] = [{ addr: hdr, len: BLK_HEADER_SIZE, writable: false }];
      let off = 0;
      for (const len of segments) {
        chain.push({ addr: buf + off, len, writable: type === BlkRequestType.IN });
        off += len;
      }
      chain.push({ addr: status, len: 1, writable: true });
      const outcome = await this.submit(0, chain, deadline, lease);
      if (outcome.kind !== "used") return { ok: false, error: this.#outcomeError(outcome, deadlineMs) };
      const s = (await mem.read(status, 1))[0]!;
      if (s !== BlkRequestStatus.OK) return { ok: false, error: `${what}: the device returned status ${s}` };
      if (type === BlkRequestType.IN) return { ok: true, data: await mem.read(buf, length) };
      return { ok: true };
    } finally {
      lease.release();
    }
  }

  /** Reads the capacity (in 512-byte sectors) with the generation loop. */
  protected async blkCapacity(deadline: number): Promise<WorkloadResult> {
    this.#requireBound("blk", "blk-capacity");
    const value = await this.exclusive(() =>
      this.readConfigAtomically(() => this.readConfigField(BLK_CAPACITY_FIELD), deadline)
    );
    this.config.set(BLK_CAPACITY_FIELD.name, value);
    return { ok: true, value };
  }

  /**
   * Resets queue `index` alone (VIRTIO_F_RING_RESET): QueueReset=1, poll
   * until it reads 0, then set the queue up again with fresh rings.
   */
  protected async resetQueue(index: number, deadline: number): Promise<WorkloadResult> {
    if (!this.bound) return { ok: false, error: "queue-reset: the driver is not bound to a device" };
    if (!(this.negotiated & bit(F.RING_RESET))) return { ok: false, error: "RING_RESET not negotiated" };
    return await this.exclusive(async () => {
      const queue = this.queues.get(index);
      if (!queue) return { ok: false, error: `queue-reset: queue ${index} is not live` };
      await this.t.startQueueReset(index);
      for (let polls = 0; (await this.read32(Mmio.QueueReset)) !== 0; polls++) {
        if (Date.now() >= deadline || polls >= MAX_POLLS) {
          return { ok: false, error: `timeout: queue ${index} reset did not complete (QueueReset still reads 1)` };
        }
        await sleep(RESET_POLL_MS);
      }
      this.queues.delete(index);
      this.#failQueue(queue, `Queue ${index} was reset`);
      await this.setupQueue(index);
      return { ok: true };
    });
  }

  /** Runs one workload, bounded by `deadlineMs`. */
  async workload(work: Workload, deadlineMs: number): Promise<WorkloadResult> {
    const deadline = Date.now() + deadlineMs;
    try {
      switch (work.kind) {
        case "rng-read":
          return await this.rngRead(work.bytes, deadline, deadlineMs);
        case "blk-read":
          return await this.blkTransfer(
            BlkRequestType.IN,
            work.sector,
            work.sectors * BLK_SECTOR_SIZE,
            undefined,
            deadline,
            deadlineMs,
          );
        case "blk-write":
          return await this.blkTransfer(
            BlkRequestType.OUT,
            work.sector,
            work.data.length,
            work.data,
            deadline,
            deadlineMs,
          );
        case "blk-capacity":
          return await this.blkCapacity(deadline);
        case "queue-reset":
          return await this.resetQueue(work.queue, deadline);
        default:
          return { ok: false, error: `Unsupported workload ${(work as { kind: string }).kind}` };
      }
    } catch (e) {
      return { ok: false, error: message(e) };
    }
  }

  // ----------------------------------------------------------------- removal

  /** Resets the device (if the driver began initializing it) before forgetting any buffer. */
  remove(deadlineMs: number): Promise<void> {
    const deadline = Date.now() + deadlineMs;
    return this.exclusive(async () => {
      this.bound = false;
      if (this.touched) {
        try {
          await this.resetDevice(deadline);
        } catch (e) {
          this.lastError = message(e);
        }
      }
      this.forget("The driver was removed");
      this.touched = false;
    });
  }

  /** Stops listening to the device; every wait ends. */
  async close(): Promise<void> {
    this.#closed = true;
    this.bound = false;
    for (const q of [...this.#pending.keys()]) this.#failQueue(q, "The driver was closed");
    await this.#irqTask;
    await this.#harvesting;
  }
}

/** A driver class the in-process adapter can attach (the reference driver or a variant). */
export type DriverClass = new (endpoint: HarnessDeviceEndpoint) => ReferenceDriver;

/**
 * An in-process driver target running `Driver` (the reference driver by default).
 *
 * @example
 * ```ts ignore
 * class MyMutant extends ReferenceDriver { … }
 * const target = driverTarget("driver-my-mutant", MyMutant);
 * ```
 */
export function driverTarget(name: string, Driver: DriverClass = ReferenceDriver): InProcessDriverTarget {
  return new InProcessDriverTarget(
    { name, transports: ["mmio"], deviceTypes: ["rng", "blk"], workloads: [...REFERENCE_DRIVER_WORKLOADS] },
    (endpoint) => new Driver(endpoint),
  );
}

/**
 * The bundled reference driver as a driver target.
 *
 * @example
 * ```ts
 * import { referenceDriverTarget } from "./driver.ts";
 * import { ScenarioRunner } from "../../roles/harness_device.ts";
 * const trace = await new ScenarioRunner(referenceDriverTarget(), "blk").run({
 *   workloads: [{ kind: "blk-capacity" }],
 * });
 * console.log(trace.results[0]); // { ok: true, value: 2048 }
 * ```
 */
export function referenceDriverTarget(name = "reference-driver"): InProcessDriverTarget {
  return driverTarget(name, ReferenceDriver);
}
