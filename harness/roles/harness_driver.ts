/**
 * The harness playing the driver against a device under test: initialization
 * to any stage, queue set-up in harness-owned memory, sample requests per
 * device type, and bounded waits for used buffers.
 *
 * @module
 */
import { netHeaderSize } from "../models/device/net.ts";
import { BLK_ZONED_MODEL_OFFSET } from "../models/device/blk.ts";
import { ZonedModel } from "../models/device/blk_zoned.ts";
import type { DeviceSession } from "../adapter.ts";
import { TargetError } from "../adapter.ts";
import { bit, BLK_F, type DeviceTypeName, F } from "../features.ts";
import { BumpAllocator, le } from "../memory.ts";
import { hex } from "../text.ts";
import { formatStatus, Status } from "../status.ts";
import type { DriverTransport } from "../transport/transport.ts";
import {
  type BufferSpec,
  type DriverQueue,
  type RingFeatures,
  ringFeatures,
  type UsedElem,
} from "../virtqueue/queue.ts";
import { createDriverQueue } from "../virtqueue/rings.ts";
import { RingError, SplitDriverQueue, validQueueSize } from "../virtqueue/split.ts";
import { notApplicable, Violation } from "../verify.ts";

/** Initialization stages, in the order of spec 3.1.1. */
export type Stage = "reset" | "acknowledge" | "driver" | "features-ok" | "queues" | "driver-ok";

/** Outcome of {@link HarnessDriver.init}. */
export interface InitResult {
  /** Status read back after the last step. */
  status: number;
  offered: bigint;
  accepted: bigint;
  /** False when the device refused FEATURES_OK. */
  featuresOk: boolean;
}

/** Number of queues the harness sets up per device type. */
export const QUEUES_BY_TYPE: Record<DeviceTypeName, number> = { rng: 1, blk: 1, net: 2, console: 2, other: 1 };

/** Core features the harness knows how to drive and accepts when offered. */
export const HARNESS_CORE_FEATURES = bit(F.VERSION_1) | bit(F.INDIRECT_DESC) | bit(F.RING_RESET) | bit(F.IN_ORDER);

/** Device types whose requests the harness can make and the device completes on its own. */
export const SAMPLE_REQUEST_TYPES: readonly DeviceTypeName[] = ["rng", "blk"];

/**
 * Bytes of a net sample request: one receive buffer on receiveq1, filled by a frame the harness puts on the wire
 * (header and frame exactly fill it).
 */
export const NET_SAMPLE_BYTES = 128;

/** A request a sample workload put on a queue. */
export interface SampleRequest {
  head: number;
  /** Total bytes of device-writable buffers. */
  writable: number;
  buffers: BufferSpec[];
}

/** The shortest window of a negative check, however fast the device serves requests. */
export const MIN_NEGATIVE_WINDOW_MS = 20;

/**
 * The harness's own minimal driver.
 *
 * @example
 * ```ts ignore
 * const d = new HarnessDriver(session, transport, "rng");
 * await d.init("driver-ok");
 * const req = await d.sampleRequest(0);
 * const used = await d.waitUsed(0, 1);
 * ```
 */
export class HarnessDriver {
  readonly alloc: BumpAllocator;
  readonly queues: Map<number, DriverQueue> = new Map();
  /** Features in force after the last successful FEATURES_OK (0 before). */
  negotiated = 0n;
  /** Default deadline of a wait, in milliseconds. */
  deadlineMs = 2000;
  /** The longest this driver waited for a request that was then used (ms), once one was. */
  #slowestUse: number | undefined;
  #startSignals: boolean | undefined;
  /** The notification data last sent per queue (VIRTIO_F_NOTIFICATION_DATA). */
  readonly #lastNotificationData = new Map<number, number>();
  /** How long a reset may take before status must read 0, in milliseconds. */
  resetDeadlineMs = 500;
  /**
   * The malformed structures this driver gave the device (a looping chain): after a clause that made any, the runner
   * checks that the device, once reset, still serves a plain request.
   */
  readonly faults: string[] = [];
  /** Frames for net sample requests, put on the wire at the next notification of receiveq1. */
  readonly #pendingFrames: Uint8Array[] = [];
  constructor(
    readonly session: DeviceSession,
    readonly transport: DriverTransport,
    readonly deviceType: DeviceTypeName,
  ) {
    const m = session.memory;
    this.alloc = new BumpAllocator(m.base, m.base + m.size);
  }

  /** Writes the reset value and polls until status reads 0; returns the last status read. */
  async reset(): Promise<number> {
    this.queues.clear();
    this.#pendingFrames.length = 0;
    this.negotiated = 0n;
    this.alloc.reset();
    await this.transport.reset();
    let status = await this.transport.getStatus();
    // Bounded by wall-clock time and by device time granted (an idle in-process device settles at once).
    const until = Date.now() + this.resetDeadlineMs;
    for (let granted = 0; status !== 0 && Date.now() < until && granted < this.resetDeadlineMs; granted += 10) {
      await this.session.settle(10);
      status = await this.transport.getStatus();
    }
    return status;
  }

  /** Adds status bits to the current status (never clears one). */
  async addStatus(bits: number): Promise<number> {
    const cur = await this.transport.getStatus();
    await this.transport.setStatus(cur | bits);
    return await this.transport.getStatus();
  }

  /**
   * Initializes the device up to `stage`, following spec 3.1.1. `accept`
   * chooses the driver features from the offered ones (default: the core
   * features the harness drives). A status that does not read 0 after the
   * reset is a {@link TargetError} unless `tolerateReset` is set (for the
   * clause that checks exactly that). Features without which the device cannot
   * work at all (VIRTIO_BLK_F_ZONED on a host-managed zoned disk) are accepted
   * besides `accept`'s choice unless `exact` is set.
   */
  async init(
    stage: Stage,
    accept?: (offered: bigint) => bigint,
    opts: { tolerateReset?: boolean; exact?: boolean } = {},
  ): Promise<InitResult> {
    const status0 = await this.reset();
    if (status0 !== 0 && !opts.tolerateReset) {
      throw new TargetError(`Device status did not read 0 after reset: ${formatStatus(status0)}`);
    }
    const result: InitResult = { status: 0, offered: 0n, accepted: 0n, featuresOk: false };
    if (stage === "reset") return result;
    result.status = await this.addStatus(Status.ACKNOWLEDGE);
    if (stage === "acknowledge") return result;
    result.status = await this.addStatus(Status.DRIVER);
    if (stage === "driver") return result;
    result.offered = await this.transport.readDeviceFeatures();
    const required = opts.exact ? 0n : await this.#requiredFeatures(result.offered);
    result.accepted = (accept ? accept(result.offered) : result.offered & HARNESS_CORE_FEATURES) | required;
    await this.transport.writeDriverFeatures(result.accepted);
    if (this.transport.modern) {
      result.status = await this.addStatus(Status.FEATURES_OK);
      result.featuresOk = (result.status & Status.FEATURES_OK) !== 0;
    } else {
      // The legacy interface has no FEATURES_OK step: the features written are in force.
      result.featuresOk = true;
    }
    if (result.featuresOk) this.negotiated = result.accepted;
    if (stage === "features-ok" || !result.featuresOk) return result;
    for (let q = 0; q < QUEUES_BY_TYPE[this.deviceType]; q++) await this.setupQueue(q);
    if (stage === "queues") return result;
    result.status = await this.addStatus(Status.DRIVER_OK);
    return result;
  }

  /**
   * Offered features the device cannot work without: VIRTIO_BLK_F_ZONED when the zoned model (readable before
   * FEATURES_OK) is host-managed, for such a device refuses FEATURES_OK without it (spec 5.2.5.2).
   */
  async #requiredFeatures(offered: bigint): Promise<bigint> {
    if (this.deviceType !== "blk" || !this.transport.modern || !(offered & bit(BLK_F.ZONED))) return 0n;
    return await this.transport.readConfig(BLK_ZONED_MODEL_OFFSET, 1) === ZonedModel.HM ? bit(BLK_F.ZONED) : 0n;
  }

  /** The ring features of the negotiated feature set. */
  get ringFeatures(): RingFeatures {
    return ringFeatures(this.negotiated);
  }

  /**
   * Allocates queue `q` in the negotiated layout (size: the device maximum
   * capped at 64) and enables it unless `enable` is false.
   */
  async setupQueue(q: number, size?: number, enable = true): Promise<DriverQueue> {
    const max = await this.transport.queueMax(q);
    if (max === 0) throw new TargetError(`Queue ${q} is not available (QueueSizeMax 0)`);
    let n = size ?? Math.min(max, 64);
    while (!validQueueSize(n) && n > 1) n--;
    const queue = await createDriverQueue(
      this.session.memory,
      this.alloc,
      q,
      n,
      this.ringFeatures,
      this.transport.contiguousQueue?.(n),
    );
    if (enable) await this.transport.setupQueue(q, queue.addrs);
    else await this.transport.programQueue(q, queue.addrs);
    this.queues.set(q, queue);
    return queue;
  }

  queue(q: number): DriverQueue {
    const queue = this.queues.get(q);
    if (!queue) throw new Error(`Queue ${q} is not set up by the harness`);
    return queue;
  }

  /** Queue `q` as a split ring (for clauses about split-ring fields). */
  splitQueue(q: number): SplitDriverQueue {
    const queue = this.queue(q);
    if (!(queue instanceof SplitDriverQueue)) throw new Error(`Queue ${q} is not a split ring`);
    return queue;
  }

  /**
   * Puts one well-formed request of the device type on queue `q` and makes it
   * available (without notifying; see {@link kick}).
   */
  async sampleRequest(q: number, writableBytes = 16): Promise<SampleRequest> {
    this.requireSampleRequests();
    const queue = this.queue(q);
    const mem = this.session.memory;
    const descriptors = this.sampleDescriptors(q);
    if (descriptors === 0) this.#noRoomForSample(queue);
    let buffers: BufferSpec[];
    if (this.deviceType === "blk") {
      const hdr = this.alloc.alloc(16);
      const h = new Uint8Array(16); // type IN, sector 0
      le.setU32(h, 0, 0);
      await mem.write(hdr, h);
      buffers = descriptors === 3
        ? [
          { addr: hdr, len: 16, writable: false },
          { addr: this.alloc.alloc(512), len: 512, writable: true },
          { addr: this.alloc.alloc(1), len: 1, writable: true },
        ]
        : [{ addr: hdr, len: 16, writable: false }, { addr: this.alloc.alloc(513), len: 513, writable: true }];
    } else if (this.deviceType === "net") {
      if (q !== 0) notApplicable(`the harness makes net requests on receiveq1 (queue 0) only, not on queue ${q}`);
      const len = Math.max(writableBytes, NET_SAMPLE_BYTES);
      buffers = [{ addr: this.alloc.alloc(len), len, writable: true }];
    } else {
      buffers = [{ addr: this.alloc.alloc(writableBytes), len: writableBytes, writable: true }];
    }
    const head = await queue.add(buffers);
    await queue.publish(head);
    if (this.deviceType === "net") this.#pendingFrames.push(this.#frameFor(buffers[0]!.len));
    const writable = buffers.filter((b) => b.writable).reduce((s, b) => s + b.len, 0);
    return { head, writable, buffers };
  }

  /**
   * Puts one block request of any type on queue `q` and makes it available (without notifying): a 16-byte
   * device-readable header (type, sector), `out` device-readable after it, then `inBytes` device-writable bytes and
   * the status byte in a buffer of its own. Returns the head and the addresses of the data in and the status byte.
   */
  async blkRequest(
    q: number,
    r: { type: number; sector?: number; out?: Uint8Array; inBytes?: number },
  ): Promise<{ head: number; dataIn?: number; status: number }> {
    if (this.deviceType !== "blk") notApplicable(`a block request needs a blk device, not ${this.deviceType}`);
    const mem = this.session.memory;
    const hdr = new Uint8Array(16);
    le.setU32(hdr, 0, r.type);
    le.setU64(hdr, 8, r.sector ?? 0);
    const buffers: BufferSpec[] = [{ addr: this.alloc.alloc(16), len: 16, writable: false }];
    await mem.write(buffers[0]!.addr, hdr);
    if (r.out && r.out.length > 0) {
      const at = this.alloc.alloc(r.out.length);
      await mem.write(at, r.out);
      buffers.push({ addr: at, len: r.out.length, writable: false });
    }
    const dataIn = r.inBytes ? this.alloc.alloc(r.inBytes) : undefined;
    if (dataIn !== undefined) buffers.push({ addr: dataIn, len: r.inBytes!, writable: true });
    const status = this.alloc.alloc(1);
    // A status the device never wrote reads as this, not as a valid status.
    await mem.write(status, new Uint8Array([0xff]));
    buffers.push({ addr: status, len: 1, writable: true });
    const queue = this.queue(q);
    if (queue.size < buffers.length) {
      notApplicable(`queue ${q} has size ${queue.size}: this block request takes ${buffers.length} descriptors`);
    }
    if (queue.freeCount < buffers.length) {
      throw new RangeError(`Queue ${q} has ${queue.freeCount} free descriptors: no room for a block request`);
    }
    const head = await queue.add(buffers);
    await queue.publish(head);
    return { head, status, ...(dataIn !== undefined ? { dataIn } : {}) };
  }

  /**
   * Ring descriptors the next {@link sampleRequest} on queue `q` takes, 0 when
   * it does not fit in the free descriptors. A blk request takes three (header,
   * data, status) when three are free; on the modern interface, where a device
   * may assume no particular layout, it shrinks to two (data and status in one
   * device-writable buffer) so a queue of size 2 still carries one. The legacy
   * interface without VIRTIO_F_ANY_LAYOUT keeps the status byte separate.
   */
  sampleDescriptors(q: number): number {
    const free = this.queue(q).freeCount;
    if (this.deviceType !== "blk") return free >= 1 ? 1 : 0;
    if (free >= 3) return 3;
    return free >= 2 && this.transport.modern ? 2 : 0;
  }

  /** How many more {@link sampleRequest}s fit in the free descriptors of queue `q` now. */
  sampleRoom(q: number): number {
    const free = this.queue(q).freeCount;
    if (this.deviceType !== "blk") return free;
    return Math.floor(free / 3) + (free % 3 === 2 && this.transport.modern ? 1 : 0);
  }

  /**
   * Sample requests that fit in a fresh queue `q` of its size (at least one
   * when the clause can run at all; otherwise the clause is n/a with the reason).
   */
  sampleCapacity(q: number): number {
    const queue = this.queue(q);
    const size = queue.size;
    const n = this.deviceType !== "blk"
      ? size
      : Math.floor(size / 3) + (size % 3 === 2 && this.transport.modern ? 1 : 0);
    if (n === 0) this.#noRoomForSample(queue);
    return n;
  }

  #noRoomForSample(queue: DriverQueue): never {
    const need = this.deviceType !== "blk" ? 1 : this.transport.modern ? 2 : 3;
    if (queue.size < need) {
      // Never more than the queue holds: a queue too small for one request is a limit of the clause, not a fault.
      notApplicable(
        `a ${this.deviceType} request needs ${need} descriptor(s)${
          need === 3 ? " on the legacy interface (status byte in its own descriptor without VIRTIO_F_ANY_LAYOUT)" : ""
        }; queue ${queue.index} has size ${queue.size}`,
      );
    }
    throw new RangeError(
      `Queue ${queue.index} has ${queue.freeCount} free descriptors of ${queue.size}: no room for a sample request ` +
        `(the clause must wait for used buffers first)`,
    );
  }

  /**
   * True when the harness can make sample requests the device completes: rng and blk requests, and on a net device
   * whose wire the harness owns, a receive buffer with a frame put on the wire for it.
   */
  get makesSampleRequests(): boolean {
    return SAMPLE_REQUEST_TYPES.includes(this.deviceType) || (this.deviceType === "net" && !!this.session.wire);
  }

  /** Ends the clause as n/a when the harness makes no requests of this device type that it completes by itself. */
  requireSampleRequests(): void {
    if (!this.makesSampleRequests) {
      // A net receive buffer waits for a packet (unless the harness owns the wire), a console port for input.
      notApplicable(
        `the harness cannot make ${
          this.deviceType === "other" ? "requests of this device type" : `${this.deviceType} requests`
        } the device completes by itself yet (it drives ${SAMPLE_REQUEST_TYPES.join(" and ")})`,
      );
    }
  }

  /**
   * A broadcast frame that, with the header in force, exactly fills a receive buffer of `len` bytes (a device
   * receives it into the oldest buffer it holds; the frames match the buffers one for one).
   */
  #frameFor(len: number): Uint8Array {
    const hdr = netHeaderSize(this.negotiated);
    const frame = new Uint8Array(Math.min(1514, Math.max(60, len - hdr)));
    frame.fill(0xff, 0, 6);
    frame.set([0x02, 0x00, 0x5e, 0x10, 0x00, 0x03], 6);
    frame[12] = 0x88;
    frame[13] = 0xb5;
    for (let i = 14; i < frame.length; i++) frame[i] = (i * 13 + 5) & 0xff;
    return frame;
  }

  /**
   * Makes a malformed chain available on queue `q`: a descriptor whose NEXT
   * points at itself (a loop), which a device must not follow forever.
   */
  async publishLoop(q: number): Promise<number> {
    if (!SAMPLE_REQUEST_TYPES.includes(this.deviceType)) {
      // A net receive queue or a console port is only walked when data arrives: the loop would go unnoticed.
      notApplicable(
        `the harness cannot make ${
          this.deviceType === "other" ? "a device of this type" : `a ${this.deviceType} device`
        } walk a chain on its own yet`,
      );
    }
    const queue = this.splitQueue(q);
    this.faults.push(`a looping descriptor chain on queue ${q}`);
    const buf = this.alloc.alloc(16);
    const head = await queue.add([{ addr: buf, len: 16, writable: true }]);
    const d = new Uint8Array(16);
    le.setU64(d, 0, buf);
    le.setU32(d, 8, 16);
    le.setU16(d, 12, 1 | 2); // NEXT | WRITE
    le.setU16(d, 14, head);
    await this.session.memory.write(queue.addrs.desc + 16 * head, d);
    await queue.publish(head);
    return head;
  }

  /**
   * Sends an available-buffer notification for queue `q` (with the
   * notification data when VIRTIO_F_NOTIFICATION_DATA is negotiated).
   */
  async kick(q: number): Promise<void> {
    const queue = this.queues.get(q);
    if (queue?.features.notificationData) {
      const data = queue.notificationData();
      this.#lastNotificationData.set(q, data);
      await this.transport.notify(q, data);
    } else {
      await this.transport.notify(q);
    }
    if (q === 0 && this.#pendingFrames.length > 0) await this.#sendPendingFrames();
  }

  /**
   * The frames for net sample requests made available since the last notification of receiveq1: put on the wire
   * after it, so a device acts on them when notified (as it does on an rng or blk request), and only while it is
   * live (a frame towards a device that was reset would wait in it for a later buffer).
   */
  async #sendPendingFrames(): Promise<void> {
    const frames = this.#pendingFrames.splice(0);
    const status = await this.transport.getStatus();
    if (!(status & Status.DRIVER_OK) || (status & Status.DEVICE_NEEDS_RESET)) return;
    for (const f of frames) await this.session.wire?.inject(f);
  }

  /**
   * How queue `q` is driven, for a message about a device that did not use
   * what it was given: the ring format, the ring features in force and the
   * last notification data sent (a device that misreads it serves nothing).
   *
   * @example
   * ```ts ignore
   * throw new Error(`The device used 0 of 1 buffers within 1000 ms (${d.describeQueue(0)})`);
   * ```
   */
  describeQueue(q: number): string {
    const queue = this.queues.get(q);
    if (!queue) return `queue ${q} not set up`;
    const f = queue.features;
    const on = [
      f.indirect ? "INDIRECT_DESC" : "",
      f.eventIdx ? "EVENT_IDX" : "",
      f.inOrder ? "IN_ORDER" : "",
      f.notificationData ? "NOTIFICATION_DATA" : "",
    ].filter((x) => x);
    const data = this.#lastNotificationData.get(q);
    return `queue ${q}: ${f.format} ring of ${queue.size}, ` +
      (on.length ? `negotiated ${on.join(", ")}` : "no optional ring feature negotiated") +
      (f.notificationData && data !== undefined ? `; last notification data ${hex(data >>> 0, 8)}` : "");
  }

  /**
   * Waits (bounded) until `count` used elements arrived on queue `q`; returns
   * those seen. A malformed used ring (an id that is not outstanding, an idx
   * that jumps past the queue size) is the device's fault: a {@link Violation}.
   */
  async waitUsed(q: number, count: number, deadlineMs = this.deadlineMs): Promise<UsedElem[]> {
    const queue = this.queue(q);
    const seen: UsedElem[] = [];
    const start = Date.now();
    seen.push(...await this.#harvest(queue));
    // Bounded by wall-clock time, and by device time granted without progress
    // (an idle in-process device settles at once: waiting longer changes nothing),
    // and by the device saying it is broken: once DEVICE_NEEDS_RESET reads set it
    // serves nothing more until a reset (QEMU's virtio_error), so waiting longer
    // only costs the deadline.
    let idle = 0;
    while (seen.length < count && Date.now() - start < deadlineMs && idle < deadlineMs) {
      const step = Math.min(50, deadlineMs);
      await this.session.settle(step, () => queue.hasUsed());
      const got = await this.#harvest(queue);
      seen.push(...got);
      idle = got.length > 0 ? 0 : idle + step;
      if (got.length === 0 && seen.length < count && await this.needsReset()) break;
    }
    if (count > 0 && seen.length >= count && deadlineMs > 0) this.noteServed(Date.now() - start);
    return seen;
  }

  /**
   * Whether the device status reads DEVICE_NEEDS_RESET: the device says it serves nothing more until a reset, so a
   * wait for it to act may end (a device that cannot answer counts as not saying so).
   */
  async needsReset(): Promise<boolean> {
    try {
      return ((await this.transport.getStatus()) & Status.DEVICE_NEEDS_RESET) !== 0;
    } catch {
      return false;
    }
  }

  async #harvest(queue: DriverQueue): Promise<UsedElem[]> {
    try {
      return await queue.harvest();
    } catch (e) {
      if (e instanceof RingError) {
        throw new Violation(`a well-formed used ring on queue ${queue.index}`, e.message);
      }
      throw e;
    }
  }

  /** Records that the device used requests `ms` after they were made available (see {@link negativeWindow}). */
  noteServed(ms: number): void {
    this.#slowestUse = Math.max(this.#slowestUse ?? 0, ms);
  }

  /**
   * How long to let the device run where nothing is expected to happen (a
   * negative check): ten times the longest this driver has waited for a
   * request the device then used, at least {@link MIN_NEGATIVE_WINDOW_MS} and
   * at most `max`; `max` before the device has served anything. A device that
   * would break the check acts on the same time scale as it serves requests,
   * so a fast device gets short windows and a slow one long ones.
   */
  negativeWindow(max: number): number {
    if (this.#slowestUse === undefined) return max;
    return Math.min(max, Math.max(MIN_NEGATIVE_WINDOW_MS, 10 * this.#slowestUse));
  }

  /**
   * How long to wait for a used-buffer notification after the harness has seen the used index of the requests it
   * follows: no time on a target with ordered notifications (the notification, if any, is already visible), else a
   * negative window ({@link negativeWindow}).
   */
  notificationWindow(max: number): number {
    return this.session.capabilities.orderedNotifications ? 0 : this.negativeWindow(max);
  }

  /**
   * Lets in the notification a device may send at DRIVER_OK with nothing used
   * (a vhost-user back end signals once, on its own time, when it is handed
   * its interrupt channel), so a clause does not take it for the first step's
   * notification or for a phantom event. `wait(ms)` lets the device run up to
   * `ms`, acknowledges what arrived and says whether a start notification
   * came. The first call of a clause waits a negative window
   * ({@link negativeWindow}, at most 60 ms); later calls wait only if the
   * device signalled then, so a device that never does costs one window per
   * clause, not one per property run.
   */
  async letStartSignalIn(wait: (ms: number) => Promise<boolean>): Promise<void> {
    const ms = this.#startSignals === false ? 0 : this.negativeWindow(60);
    const came = await wait(ms);
    this.#startSignals ??= came;
  }

  /** Lets the device run for `ms` and returns; used where nothing is expected to happen. */
  quiet(ms = 50): Promise<void> {
    return this.session.settle(ms);
  }

  /** Accepts the offered features the harness drives. */
  static defaultAccept(offered: bigint): bigint {
    return offered & HARNESS_CORE_FEATURES;
  }
}
