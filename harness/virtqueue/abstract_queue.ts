/**
 * The spec's abstract virtqueue (spec 2.6–2.8), independent of how a ring is
 * laid out in memory: which buffers the driver added (and what their chains
 * hold), which it made available and in which order, which the device took,
 * which the device used (and with which length), how many descriptors the
 * ring holds, what each side asked of the other's notifications, and pure
 * functions deciding when a notification is owed.
 *
 * It is the reference the model-based tests compare the split and packed
 * codecs against, and is meant to be reused by clauses that need to know what
 * a conforming peer would have done. It does not read memory and knows
 * nothing of descriptor encodings: positions are free-running counters
 * (unbounded integers) from which the spec's 16-bit indexes (split) or
 * offset-and-wrap-counter pairs (packed) are derived.
 *
 * Positions:
 * - split (2.7): the available idx counts ring entries (one per buffer made
 *   available); the used idx counts used buffers — with VIRTIO_F_IN_ORDER a
 *   batch written as one used element still moves it by the batch size
 *   (2.7.9 "In-order use of descriptors");
 * - packed (2.8): both the driver's and the device's cursors count
 *   descriptor ring slots; the slot offset is the count modulo the queue size
 *   and the wrap counter starts at 1 and flips on every pass.
 *
 * @module
 */
import type { BufferSpec, RingFeatures, RingFormat, UsedElem } from "./queue.ts";

/** A buffer the driver added: its id and the chain the device must see. */
export interface ExpectedChain {
  /** The id the codec returned (split: head descriptor index; packed: buffer id). */
  id: number;
  /** The chain, device-readable buffers first. */
  buffers: BufferSpec[];
  /** True when the chain sits in an indirect table named by one ring descriptor. */
  indirect: boolean;
  /** Ring descriptors it occupies: 1 for an indirect chain, else its length. */
  slots: number;
}

/**
 * What one side asked of the other's notifications, resolved to the value
 * the other side reads:
 * - `enable` / `disable`: the flag (split: NO_INTERRUPT / NO_NOTIFY; packed:
 *   RING_EVENT_FLAGS_ENABLE / DISABLE);
 * - `event`: an event index (split: used_event / avail_event, a 16-bit
 *   index) or descriptor event (packed: RING_EVENT_FLAGS_DESC with
 *   off_wrap).
 *
 * On a split ring with VIRTIO_F_EVENT_IDX the flag is ignored and only
 * `event` counts; `enable` and `disable` are then expressed as event values
 * by {@link AbstractVirtqueue.setUsedNotify} / {@link AbstractVirtqueue.setAvailNotify}.
 */
export interface Suppression {
  /** The flag (split without EVENT_IDX, packed ENABLE/DISABLE), or DESC (packed only). */
  mode: "enable" | "disable" | "desc";
  /** Split: the 16-bit event index (meaningful with EVENT_IDX). Packed: off_wrap (with `desc`). */
  event: number;
}

/** How a side asks for notifications, relative to where it stands (resolved by the model). */
export type NotifyRequest =
  /** Every new buffer. */
  | { kind: "enable" }
  /** None. */
  | { kind: "disable" }
  /** EVENT_IDX only: after `ahead` more entries (split) or slots (packed) from this side's position (may be negative). */
  | { kind: "at"; ahead: number };

/** The slot offset and wrap counter of a packed-ring cursor that moved `count` slots from the start. */
export function packedPosition(size: number, count: number): { pos: number; wrap: number } {
  const lap = Math.floor(count / size);
  return { pos: count - lap * size, wrap: lap % 2 === 0 ? 1 : 0 };
}

/** The 16-bit off_wrap value naming the slot a packed cursor reaches after `count` slots. */
export function packedOffWrap(size: number, count: number): number {
  const { pos, wrap } = packedPosition(size, count);
  return (pos & 0x7fff) | (wrap << 15);
}

/**
 * Split ring event index (2.7.7.2, 2.7.10.1): `event` is the 16-bit index of
 * the entry after whose writing the other side wants a notification. The
 * index moved from the free-running count `from` to `to`, writing the
 * entries numbered `from .. to-1` (modulo 2^16); the notification is owed
 * when one of them is `event`.
 *
 * @example
 * ```ts
 * import { splitEventOwed } from "./abstract_queue.ts";
 * console.log(splitEventOwed(0xffff, 0xfffe, 0x10000)); // true: entry 0xffff was written
 * console.log(splitEventOwed(0, 0xfffe, 0x10000)); // false: entry 0 (the 0x10000th) is not yet
 * ```
 */
export function splitEventOwed(event: number, from: number, to: number): boolean {
  const moved = to - from;
  if (moved <= 0) return false;
  if (moved >= 0x10000) return true;
  const distance = ((((event & 0xffff) - from) % 0x10000) + 0x10000) % 0x10000;
  return distance < moved;
}

/**
 * Packed ring descriptor event (2.8.10, 2.8.14): `offWrap` names a slot and
 * a wrap counter; the cursor moved from slot count `from` to `to`, passing
 * the slots numbered `from .. to-1`; the notification is owed when one of
 * them, with its wrap counter, is the one named. An offset outside the ring
 * names no slot.
 *
 * @example
 * ```ts
 * import { packedEventOwed, packedOffWrap } from "./abstract_queue.ts";
 * // Ring of 4: slot 0 on the second pass (wrap counter 0) is count 4.
 * console.log(packedEventOwed(4, packedOffWrap(4, 4), 3, 5)); // true
 * console.log(packedEventOwed(4, packedOffWrap(4, 0), 3, 5)); // false: the first pass's slot 0
 * ```
 */
export function packedEventOwed(size: number, offWrap: number, from: number, to: number): boolean {
  const moved = to - from;
  if (moved <= 0) return false;
  const off = offWrap & 0x7fff;
  if (off >= size) return false;
  const period = 2 * size;
  if (moved >= period) return true;
  const target = off + (((offWrap >> 15) & 1) === 1 ? 0 : size);
  const distance = (((target - from) % period) + period) % period;
  return distance < moved;
}

/**
 * Whether a notification is owed after the notifying side's cursor moved
 * from `from` to `to` since its last decision, under the other side's
 * `suppression`:
 * - split without EVENT_IDX: something moved and the flag is not set;
 * - split with EVENT_IDX: {@link splitEventOwed} on the event index (flag ignored);
 * - packed: DISABLE never; DESC (EVENT_IDX only) {@link packedEventOwed};
 *   ENABLE when something moved.
 *
 * @example
 * ```ts
 * import { notificationOwed } from "./abstract_queue.ts";
 * const plain = { format: "split", indirect: false, eventIdx: false, inOrder: false, notificationData: false } as const;
 * console.log(notificationOwed(plain, 8, { mode: "disable", event: 0 }, 3, 4)); // false
 * console.log(notificationOwed(plain, 8, { mode: "enable", event: 0 }, 3, 4)); // true
 * ```
 */
export function notificationOwed(
  features: RingFeatures,
  size: number,
  suppression: Suppression,
  from: number,
  to: number,
): boolean {
  if (to <= from) return false;
  if (features.format === "split") {
    if (features.eventIdx) return splitEventOwed(suppression.event, from, to);
    return suppression.mode !== "disable";
  }
  if (suppression.mode === "disable") return false;
  if (suppression.mode === "desc" && features.eventIdx) return packedEventOwed(size, suppression.event, from, to);
  return true;
}

/** A model error: the caller asked the abstract queue for a transition the spec does not allow. */
export class ModelError extends Error {
  override name = "ModelError";
}

/**
 * The abstract state of one virtqueue and the transitions a conforming
 * driver and device make on it.
 *
 * @example
 * ```ts
 * import { AbstractVirtqueue } from "./abstract_queue.ts";
 * const q = new AbstractVirtqueue({ format: "packed", indirect: false, eventIdx: false, inOrder: false, notificationData: false }, 4);
 * q.add(0, [{ addr: 0x1000, len: 16, writable: true }], false);
 * q.publish(0);
 * console.log(q.kickOwed()); // true: the device's flags are ENABLE
 * const chain = q.take();
 * q.use(chain!.id, 16);
 * console.log(q.notifyOwed(), q.harvest()); // true [ { id: 0, len: 16 } ]
 * ```
 */
export class AbstractVirtqueue {
  /** Buffers added and not yet used, in add order. */
  readonly chains = new Map<number, ExpectedChain>();
  /** Ids added and not yet made available, in add order. */
  unpublished: number[] = [];
  /** Ids made available and not yet taken by the device, in publish order. */
  available: number[] = [];
  /** Ids the device took and did not use yet, in take order. */
  taken: number[] = [];
  /** Used elements written by the device and not yet harvested by the driver, in ring order. */
  used: UsedElem[] = [];
  /** Ids used by the device and not yet harvested (their descriptors are still the driver's to free). */
  #usedIds = new Set<number>();
  /** Driver's cursor: ring entries (split) or slots (packed) made available. */
  availCount = 0;
  /** Device's cursor: entries or slots taken. */
  takenCount = 0;
  /** Device's used cursor: used buffers (split) or slots (packed). */
  usedCount = 0;
  /** Driver's used cursor: what it harvested, in the same unit. */
  harvestedCount = 0;
  /** `availCount` at the driver's last available-buffer notification decision. */
  kickFrom = 0;
  /** `usedCount` at the device's last used-buffer notification decision. */
  notifyFrom = 0;
  /** What the driver asked of used-buffer notifications (read by the device). */
  usedSuppression: Suppression = { mode: "enable", event: 0 };
  /** What the device asked of available-buffer notifications (read by the driver). */
  availSuppression: Suppression = { mode: "enable", event: 0 };

  /** A fresh (just reset and configured) queue: everything zero, every area zeroed. */
  constructor(readonly features: RingFeatures, readonly size: number) {
    if (!Number.isInteger(size) || size < 1) throw new ModelError(`Queue size ${size} is not a positive integer`);
    if (features.format === "split" && (size & (size - 1)) !== 0) {
      throw new ModelError(`Split queue size ${size} is not a power of two`);
    }
  }
  /** The ring layout. */
  get format(): RingFormat {
    return this.features.format;
  }
  /** Descriptors (ring slots) held by buffers not yet harvested. */
  get slotsInUse(): number {
    let n = 0;
    for (const c of this.chains.values()) n += c.slots;
    return n;
  }
  /** Descriptors the driver can still place. */
  get freeSlots(): number {
    return this.size - this.slotsInUse;
  }
  /** Ring descriptors a chain of `n` buffers occupies. */
  static slotsFor(n: number, indirect: boolean): number {
    return indirect ? 1 : n;
  }
  /** True when the driver may add such a chain now (room in the ring; indirect only when negotiated). */
  canAdd(buffers: number, indirect: boolean): boolean {
    if (buffers < 1) return false;
    if (indirect && !this.features.indirect) return false;
    return AbstractVirtqueue.slotsFor(buffers, indirect) <= this.freeSlots;
  }
  /** Records a chain added under `id` (not yet available). */
  add(id: number, buffers: BufferSpec[], indirect: boolean): ExpectedChain {
    if (!this.canAdd(buffers.length, indirect)) {
      throw new ModelError(`No room for a chain of ${buffers.length} (indirect ${indirect}): ${this.freeSlots} free`);
    }
    if (!Number.isInteger(id) || id < 0 || id >= this.size) {
      throw new ModelError(`Buffer id ${id} is outside 0..${this.size - 1}`);
    }
    if (this.chains.has(id)) throw new ModelError(`Buffer id ${id} is already outstanding`);
    const chain = {
      id,
      buffers: buffers.map((b) => ({ ...b })),
      indirect,
      slots: AbstractVirtqueue.slotsFor(buffers.length, indirect),
    };
    this.chains.set(id, chain);
    this.unpublished.push(id);
    return chain;
  }
  /**
   * Ids the driver may publish next: any unpublished one on a split ring,
   * only the oldest on a packed ring (the device reads the ring in order) or
   * with VIRTIO_F_IN_ORDER (descriptors are used in ring order).
   */
  publishable(): number[] {
    if (this.format === "packed" || this.features.inOrder) return this.unpublished.slice(0, 1);
    return [...this.unpublished];
  }
  /** Makes `id` available. */
  publish(id: number): void {
    if (!this.publishable().includes(id)) throw new ModelError(`Buffer id ${id} cannot be published now`);
    this.unpublished.splice(this.unpublished.indexOf(id), 1);
    this.available.push(id);
    this.availCount += this.format === "split" ? 1 : this.chains.get(id)!.slots;
  }
  /** The device takes the oldest available buffer; `undefined` when none is. */
  take(): ExpectedChain | undefined {
    const id = this.available.shift();
    if (id === undefined) return undefined;
    this.taken.push(id);
    const chain = this.chains.get(id)!;
    this.takenCount += this.format === "split" ? 1 : chain.slots;
    return chain;
  }
  /** Bytes of device-writable buffers in chain `id`: the largest `len` the device may report. */
  writableBytes(id: number): number {
    const c = this.chains.get(id);
    if (!c) throw new ModelError(`Buffer id ${id} is not outstanding`);
    return c.buffers.reduce((n, b) => n + (b.writable ? b.len : 0), 0);
  }
  /**
   * Ids the device may use next: any taken buffer; with VIRTIO_F_IN_ORDER,
   * the oldest, or a later one standing for the batch of every older taken
   * buffer too.
   */
  usable(): number[] {
    return [...this.taken];
  }
  /**
   * The device uses buffer `id` having written `len` bytes. With
   * VIRTIO_F_IN_ORDER and older taken buffers, it is a batch: those are used
   * too (fully, length unknown) and only `id` gets a used element. Returns
   * the ids used, oldest first.
   */
  use(id: number, len: number): number[] {
    const k = this.taken.indexOf(id);
    if (k < 0) throw new ModelError(`Buffer id ${id} was not taken or is already used`);
    if (!Number.isInteger(len) || len < 0 || len > this.writableBytes(id)) {
      throw new ModelError(`Length ${len} is outside 0..${this.writableBytes(id)} for buffer id ${id}`);
    }
    const batch = this.features.inOrder ? this.taken.slice(0, k + 1) : [id];
    for (const b of batch) {
      this.taken.splice(this.taken.indexOf(b), 1);
      this.#usedIds.add(b);
      this.used.push(b === id ? { id, len } : { id: b, len: 0, implied: true });
      this.usedCount += this.format === "split" ? 1 : this.chains.get(b)!.slots;
    }
    return batch;
  }
  /** The driver reads back every used element; their descriptors become free. Returns them in ring order. */
  harvest(): UsedElem[] {
    const out = this.used;
    this.used = [];
    for (const e of out) {
      this.harvestedCount += this.format === "split" ? 1 : this.chains.get(e.id)!.slots;
      this.chains.delete(e.id);
      this.#usedIds.delete(e.id);
    }
    return out;
  }
  /** Resolves a request made by the side whose cursor stands at `position`. */
  #resolve(request: NotifyRequest, position: number, prior: Suppression): Suppression {
    const f = this.features;
    if (request.kind === "at" && !f.eventIdx) throw new ModelError("An event index needs VIRTIO_F_EVENT_IDX");
    if (f.format === "split") {
      if (!f.eventIdx) return { mode: request.kind === "disable" ? "disable" : "enable", event: prior.event };
      const ahead = request.kind === "enable" ? 0 : request.kind === "disable" ? -1 : request.ahead;
      return { mode: prior.mode, event: (((position + ahead) % 0x10000) + 0x10000) % 0x10000 };
    }
    if (request.kind !== "at") return { mode: request.kind, event: prior.event };
    const period = 2 * this.size;
    const count = (((position + request.ahead) % period) + period) % period;
    return { mode: "desc", event: packedOffWrap(this.size, count) };
  }
  /**
   * The driver sets how it wants used-buffer notifications, relative to its
   * used cursor. Split with EVENT_IDX: `enable` is used_event = the next
   * entry, `disable` the entry just behind (a notification only after the
   * index wraps).
   */
  setUsedNotify(request: NotifyRequest): Suppression {
    return this.usedSuppression = this.#resolve(request, this.harvestedCount, this.usedSuppression);
  }
  /** The device sets how it wants available-buffer notifications, relative to its cursor (see {@link setUsedNotify}). */
  setAvailNotify(request: NotifyRequest): Suppression {
    return this.availSuppression = this.#resolve(request, this.takenCount, this.availSuppression);
  }
  /** The driver's decision: whether an available-buffer notification is owed for what it published since the last one. */
  kickOwed(): boolean {
    const owed = notificationOwed(this.features, this.size, this.availSuppression, this.kickFrom, this.availCount);
    this.kickFrom = this.availCount;
    return owed;
  }
  /** The device's decision: whether a used-buffer notification is owed for what it used since the last one. */
  notifyOwed(): boolean {
    const owed = notificationOwed(this.features, this.size, this.usedSuppression, this.notifyFrom, this.usedCount);
    this.notifyFrom = this.usedCount;
    return owed;
  }
}
