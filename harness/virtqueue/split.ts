/**
 * Split virtqueue codec (spec 2.7) over the guest-memory interface: layout,
 * the device side (bounded chain walks, used-ring writes) and the driver side
 * (descriptor allocation, available-ring publication, used-ring harvest).
 *
 * Every walk is bounded by the queue size and every index and address is
 * checked, so a hostile ring becomes a {@link RingError}, never a hang.
 *
 * @module
 */
import { type BumpAllocator, type GuestMemory, inRange, le, readU16, writeU16 } from "../memory.ts";
import type { QueueAddresses } from "../transport/transport.ts";
import {
  type AvailBuffer,
  type BufferSpec,
  type ChainBuffer,
  type DeviceQueue,
  type DriverQueue,
  encodeNotificationData,
  needEvent,
  PLAIN_SPLIT,
  type RingFeatures,
  type UsedElem,
  type UsedNotifyMode,
} from "./queue.ts";

export type { BufferSpec, ChainBuffer, UsedElem } from "./queue.ts";

/** Descriptor flags. */
export const Desc = { NEXT: 1, WRITE: 2, INDIRECT: 4 } as const;
/** Available-ring flag: the driver does not want used-buffer notifications. */
export const AVAIL_F_NO_INTERRUPT = 1;
/** Used-ring flag: the device does not want available-buffer notifications. */
export const USED_F_NO_NOTIFY = 1;

/** Byte sizes of a split queue's three areas. */
export function splitLayout(size: number): { desc: number; avail: number; used: number } {
  return { desc: 16 * size, avail: 6 + 2 * size, used: 6 + 8 * size };
}

/** A malformed ring: what was wrong and where. */
export class RingError extends Error {
  override name = "RingError";
}

/** One raw descriptor. */
export interface Descriptor {
  addr: number;
  len: number;
  flags: number;
  next: number;
}

/** True when `n` is a power of two between 1 and 32768. */
export function validQueueSize(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && n <= 32768 && (n & (n - 1)) === 0;
}

function decodeDesc(b: Uint8Array, off: number): Descriptor {
  return { addr: le.u64(b, off), len: le.u32(b, off + 8), flags: le.u16(b, off + 12), next: le.u16(b, off + 14) };
}

/** Accepts the older `{ indirect }` options as well as full ring features. */
function splitFeatures(f: Partial<RingFeatures>): RingFeatures {
  return { ...PLAIN_SPLIT, ...f, format: "split" };
}

/**
 * The device side of one split virtqueue.
 *
 * @example
 * ```ts ignore
 * const q = new SplitDeviceQueue(memory, addrs, { indirect: false });
 * for (let b = await q.take(); b; b = await q.take()) await q.pushUsed(b.id, 0);
 * if (await q.needsNotification()) raiseInterrupt();
 * ```
 */
export class SplitDeviceQueue implements DeviceQueue {
  readonly format = "split";
  readonly features: RingFeatures;
  /** Next available-ring slot the device will consume (free-running 16-bit). */
  lastAvail = 0;
  /** Used index the device will publish next (free-running 16-bit). */
  usedIdx = 0;
  /** Used idx at the last notification decision. */
  #signalledAt = 0;
  /** Ring descriptors the last {@link walk} went through (an indirect table counts as one). */
  lastWalkSlots = 0;
  /** Ids taken and not yet used, oldest first. */
  #inflight: number[] = [];
  constructor(
    readonly mem: GuestMemory,
    readonly addrs: QueueAddresses,
    features: Partial<RingFeatures> = {},
  ) {
    this.features = splitFeatures(features);
    for (
      const [name, addr, len] of [
        ["descriptor area", addrs.desc, splitLayout(addrs.size).desc],
        ["driver area", addrs.driver, splitLayout(addrs.size).avail],
        ["device area", addrs.device, splitLayout(addrs.size).used],
      ] as const
    ) {
      if (!inRange(mem, addr, len)) {
        throw new RingError(`Queue ${name} lies outside guest memory: 0x${addr.toString(16)}+${len}`);
      }
    }
  }
  get size(): number {
    return this.addrs.size;
  }
  availFlags(): Promise<number> {
    return readU16(this.mem, this.addrs.driver);
  }
  availIdx(): Promise<number> {
    return readU16(this.mem, this.addrs.driver + 2);
  }
  /** used_event (EVENT_IDX), at the end of the available ring. */
  usedEvent(): Promise<number> {
    return readU16(this.mem, this.addrs.driver + 4 + 2 * this.size);
  }
  /** Pending available entries, checked against the queue size. */
  async pending(): Promise<number> {
    const idx = await this.availIdx();
    const n = (idx - this.lastAvail) & 0xffff;
    if (n > this.size) {
      throw new RingError(
        `Available idx ${idx} is ${n} entries ahead of the device's position ${this.lastAvail}, more than the queue size ${this.size}`,
      );
    }
    return n;
  }
  /** Consumes the next available entry and returns its head index. */
  async nextAvail(): Promise<number> {
    const slot = this.lastAvail % this.size;
    const head = await readU16(this.mem, this.addrs.driver + 4 + 2 * slot);
    this.lastAvail = (this.lastAvail + 1) & 0xffff;
    if (head >= this.size) {
      throw new RingError(`Available ring slot ${slot} names descriptor ${head}, outside a queue of ${this.size}`);
    }
    return head;
  }
  async readDescriptor(index: number): Promise<Descriptor> {
    if (index >= this.size) throw new RingError(`Descriptor index ${index} outside a queue of ${this.size}`);
    return decodeDesc(await this.mem.read(this.addrs.desc + 16 * index, 16), 0);
  }
  /**
   * Walks the chain starting at `head`: bounded by the queue size (and the
   * indirect table size), every next index and buffer checked.
   */
  async walk(head: number): Promise<ChainBuffer[]> {
    const out: ChainBuffer[] = [];
    this.lastWalkSlots = 0;
    let index = head;
    let seenWritable = false;
    const push = (d: Descriptor, where: string) => {
      if (!inRange(this.mem, d.addr, d.len)) {
        throw new RingError(`${where}: buffer 0x${d.addr.toString(16)}+${d.len} lies outside guest memory`);
      }
      const writable = (d.flags & Desc.WRITE) !== 0;
      if (!writable && seenWritable) {
        throw new RingError(`${where}: device-readable buffer after a device-writable one`);
      }
      seenWritable ||= writable;
      out.push({ addr: d.addr, len: d.len, writable });
    };
    for (let steps = 0;; steps++) {
      if (steps >= this.size) {
        throw new RingError(`Chain from head ${head} is longer than the queue size ${this.size} (a loop?)`);
      }
      const d = await this.readDescriptor(index);
      this.lastWalkSlots++;
      if (d.flags & Desc.INDIRECT) {
        if (!this.features.indirect) {
          throw new RingError(`Descriptor ${index} is INDIRECT but VIRTIO_F_INDIRECT_DESC is not negotiated`);
        }
        if (d.flags & Desc.NEXT) throw new RingError(`Descriptor ${index} has both INDIRECT and NEXT`);
        if (d.len % 16 !== 0 || d.len === 0) {
          throw new RingError(
            `Indirect table at descriptor ${index} has length ${d.len}, not a non-zero multiple of 16`,
          );
        }
        if (!inRange(this.mem, d.addr, d.len)) {
          throw new RingError(`Indirect table 0x${d.addr.toString(16)}+${d.len} lies outside guest memory`);
        }
        const table = await this.mem.read(d.addr, d.len);
        const n = d.len / 16;
        let i = 0;
        for (let k = 0;; k++) {
          if (k >= n) {
            throw new RingError(`Indirect chain in descriptor ${index} is longer than its table of ${n} (a loop?)`);
          }
          const e = decodeDesc(table, 16 * i);
          if (e.flags & Desc.INDIRECT) {
            throw new RingError(`Indirect table entry ${i} of descriptor ${index} is itself INDIRECT`);
          }
          push(e, `indirect entry ${i} of descriptor ${index}`);
          if (!(e.flags & Desc.NEXT)) break;
          if (e.next >= n) throw new RingError(`Indirect entry ${i} names next ${e.next}, outside a table of ${n}`);
          i = e.next;
        }
        return out;
      }
      push(d, `descriptor ${index}`);
      if (!(d.flags & Desc.NEXT)) return out;
      index = d.next;
    }
  }
  /**
   * Writes one used element, then publishes the new used idx. With IN_ORDER,
   * an element for a buffer that is not the oldest in flight stands for the
   * whole batch up to it: the used idx moves by the batch size (spec 2.7.9).
   */
  async pushUsed(id: number, len: number): Promise<void> {
    const slot = this.usedIdx % this.size;
    const e = new Uint8Array(8);
    le.setU32(e, 0, id);
    le.setU32(e, 4, len);
    await this.mem.write(this.addrs.device + 4 + 8 * slot, e);
    const at = this.#inflight.indexOf(id);
    const count = this.features.inOrder && at >= 0 ? at + 1 : 1;
    if (this.features.inOrder && at >= 0) this.#inflight.splice(0, count);
    else if (at >= 0) this.#inflight.splice(at, 1);
    this.usedIdx = (this.usedIdx + count) & 0xffff;
    await writeU16(this.mem, this.addrs.device + 2, this.usedIdx);
  }
  /** Sets the used-ring flags (e.g. {@link USED_F_NO_NOTIFY}). */
  setUsedFlags(flags: number): Promise<void> {
    return writeU16(this.mem, this.addrs.device, flags);
  }
  /** Writes avail_event (EVENT_IDX), at the end of the used ring. */
  setAvailEvent(value: number): Promise<void> {
    return writeU16(this.mem, this.addrs.device + 4 + 8 * this.size, value & 0xffff);
  }
  async hasAvailable(): Promise<boolean> {
    return (await this.pending()) > 0;
  }
  async take(): Promise<AvailBuffer | undefined> {
    if ((await this.pending()) === 0) return undefined;
    const head = await this.nextAvail();
    const buffers = await this.walk(head);
    this.#inflight.push(head);
    return { id: head, buffers, slots: this.lastWalkSlots };
  }
  /**
   * Without EVENT_IDX: notify when something was used and the driver's flags
   * do not say NO_INTERRUPT. With EVENT_IDX: notify when the used idx passed
   * used_event since the last decision (the flags are ignored).
   */
  async needsNotification(): Promise<boolean> {
    const from = this.#signalledAt;
    this.#signalledAt = this.usedIdx;
    if (from === this.usedIdx) return false;
    if (this.features.eventIdx) return needEvent(await this.usedEvent(), this.usedIdx, from);
    return ((await this.availFlags()) & AVAIL_F_NO_INTERRUPT) === 0;
  }
  /**
   * Without EVENT_IDX: the NO_NOTIFY flag. With EVENT_IDX the flags stay 0
   * and avail_event names the next entry (enabled) or the one just behind the
   * device's position (disabled: no notification until the index wraps).
   */
  async setNotifications(enabled: boolean): Promise<void> {
    if (!this.features.eventIdx) return await this.setUsedFlags(enabled ? 0 : USED_F_NO_NOTIFY);
    await this.setAvailEvent(enabled ? this.lastAvail : this.lastAvail - 1);
  }
}

/**
 * The driver side of one split virtqueue, in harness-owned memory.
 *
 * Descriptors are handed out first-freed first-used, so with in-order use
 * every chain occupies consecutive descriptors (the IN_ORDER rule of 2.7.5.2).
 * Indirect tables come from the allocator given to {@link create} and are
 * reused once their buffer is used.
 *
 * @example
 * ```ts
 * import { ArrayMemory, BumpAllocator } from "../memory.ts";
 * import { SplitDriverQueue } from "./split.ts";
 * const mem = new ArrayMemory(0x1000, 0x10000);
 * const q = await SplitDriverQueue.create(mem, new BumpAllocator(0x1000, 0x11000), 0, 8);
 * const head = await q.add([{ addr: 0x8000, len: 16, writable: true }]);
 * await q.publish(head);
 * console.log(q.availIdx, await q.needsKick()); // 1 true
 * ```
 */
export class SplitDriverQueue implements DriverQueue {
  readonly format = "split";
  #free: number[] = [];
  /** Outstanding chains by head, in the order they were added. */
  #chains = new Map<number, { descs: number[]; table?: { addr: number; entries: number } }>();
  #tables = new Map<number, number[]>();
  #kickedAt = 0;
  availIdx = 0;
  lastUsed = 0;
  private constructor(
    readonly mem: GuestMemory,
    readonly alloc: BumpAllocator,
    readonly index: number,
    readonly addrs: QueueAddresses,
    readonly features: RingFeatures,
  ) {
    for (let i = 0; i < addrs.size; i++) this.#free.push(i);
  }
  /** Allocates and zeroes the three areas of a queue of `size` entries. */
  static async create(
    mem: GuestMemory,
    alloc: BumpAllocator,
    index: number,
    size: number,
    features: Partial<RingFeatures> = {},
  ): Promise<SplitDriverQueue> {
    const l = splitLayout(size);
    const addrs = {
      size,
      desc: alloc.alloc(l.desc, 16),
      driver: alloc.alloc(l.avail, 2),
      device: alloc.alloc(l.used, 4),
    };
    return await SplitDriverQueue.at(mem, alloc, index, addrs, features);
  }
  /**
   * The driver side of a queue whose areas the caller placed (e.g. the legacy
   * contiguous layout); the areas are zeroed.
   */
  static async at(
    mem: GuestMemory,
    alloc: BumpAllocator,
    index: number,
    addrs: QueueAddresses,
    features: Partial<RingFeatures> = {},
  ): Promise<SplitDriverQueue> {
    const l = splitLayout(addrs.size);
    await mem.write(addrs.desc, new Uint8Array(l.desc));
    await mem.write(addrs.driver, new Uint8Array(l.avail));
    await mem.write(addrs.device, new Uint8Array(l.used));
    return new SplitDriverQueue(mem, alloc, index, addrs, splitFeatures(features));
  }
  get size(): number {
    return this.addrs.size;
  }
  get freeCount(): number {
    return this.#free.length;
  }
  #tableFor(entries: number): number {
    const pool = this.#tables.get(entries);
    return pool?.pop() ?? this.alloc.alloc(16 * entries, 16);
  }
  /**
   * Writes a chain of descriptors (or one naming an indirect table) and
   * returns its head (not yet published). Split rings also allow `direct`
   * leading buffers in ring descriptors before the one naming the table, and
   * `indirectWriteFlag` sets WRITE on that descriptor (which a device ignores).
   */
  async add(buffers: BufferSpec[], opts: SplitAddOptions = {}): Promise<number> {
    if (buffers.length === 0) throw new RangeError("A chain needs at least one buffer");
    const indirect = opts.indirect ?? false;
    if (indirect && !this.features.indirect) {
      throw new RangeError(`Queue ${this.index}: an indirect chain needs VIRTIO_F_INDIRECT_DESC`);
    }
    const direct = indirect ? Math.min(opts.direct ?? 0, buffers.length - 1) : buffers.length;
    const ringCount = indirect ? direct + 1 : buffers.length;
    if (ringCount > this.#free.length) {
      throw new RangeError(`Queue ${this.index} has ${this.#free.length} free descriptors, chain needs ${ringCount}`);
    }
    const ids = this.#free.splice(0, ringCount);
    for (let k = 0; k < direct; k++) {
      const d = new Uint8Array(16);
      encodeDesc(d, 0, buffers[k]!, k + 1 < ringCount ? ids[k + 1]! : undefined);
      await this.mem.write(this.addrs.desc + 16 * ids[k]!, d);
    }
    if (!indirect) {
      this.#chains.set(ids[0]!, { descs: ids });
      return ids[0]!;
    }
    const rest = buffers.slice(direct);
    const table = this.#tableFor(rest.length);
    const bytes = new Uint8Array(16 * rest.length);
    rest.forEach((b, k) => encodeDesc(bytes, 16 * k, b, k + 1 < rest.length ? k + 1 : undefined));
    await this.mem.write(table, bytes);
    const d = new Uint8Array(16);
    le.setU64(d, 0, table);
    le.setU32(d, 8, bytes.length);
    le.setU16(d, 12, Desc.INDIRECT | (opts.indirectWriteFlag ? Desc.WRITE : 0));
    await this.mem.write(this.addrs.desc + 16 * ids[direct]!, d);
    this.#chains.set(ids[0]!, { descs: ids, table: { addr: table, entries: rest.length } });
    return ids[0]!;
  }
  /** Where the indirect table of outstanding chain `head` lies, if it has one. */
  indirectTable(head: number): { addr: number; len: number } | undefined {
    const t = this.#chains.get(head)?.table;
    return t && { addr: t.addr, len: 16 * t.entries };
  }
  /** Places `head` in the available ring, then publishes the new available idx. */
  async publish(head: number): Promise<void> {
    await writeU16(this.mem, this.addrs.driver + 4 + 2 * (this.availIdx % this.size), head);
    this.availIdx = (this.availIdx + 1) & 0xffff;
    await writeU16(this.mem, this.addrs.driver + 2, this.availIdx);
  }
  setAvailFlags(flags: number): Promise<void> {
    return writeU16(this.mem, this.addrs.driver, flags);
  }
  /** Writes used_event (EVENT_IDX), at the end of the available ring. */
  setUsedEvent(value: number): Promise<void> {
    return writeU16(this.mem, this.addrs.driver + 4 + 2 * this.size, value & 0xffff);
  }
  usedIdx(): Promise<number> {
    return readU16(this.mem, this.addrs.device + 2);
  }
  usedFlags(): Promise<number> {
    return readU16(this.mem, this.addrs.device);
  }
  /** avail_event (EVENT_IDX), at the end of the used ring. */
  availEvent(): Promise<number> {
    return readU16(this.mem, this.addrs.device + 4 + 8 * this.size);
  }
  /**
   * Without EVENT_IDX: notify unless the device set NO_NOTIFY. With
   * EVENT_IDX: notify when the available idx passed avail_event since the
   * last decision (the flags are ignored).
   */
  async needsKick(): Promise<boolean> {
    const from = this.#kickedAt;
    this.#kickedAt = this.availIdx;
    if (from === this.availIdx) return false;
    if (this.features.eventIdx) return needEvent(await this.availEvent(), this.availIdx, from);
    return ((await this.usedFlags()) & USED_F_NO_NOTIFY) === 0;
  }
  /** The available idx as notification data: low 15 bits as the offset, bit 15 as the wrap bit. */
  notificationData(): number {
    return encodeNotificationData(this.index, this.availIdx & 0x7fff, this.availIdx >> 15);
  }
  async setUsedNotifications(mode: UsedNotifyMode): Promise<void> {
    if (!this.features.eventIdx) {
      if (mode.kind === "at") throw new RangeError("A used-notification event index needs VIRTIO_F_EVENT_IDX");
      return await this.setAvailFlags(mode.kind === "disable" ? AVAIL_F_NO_INTERRUPT : 0);
    }
    const at = mode.kind === "enable" ? this.lastUsed : mode.kind === "disable" ? this.lastUsed - 1 : mode.at;
    await this.setUsedEvent(at);
  }
  /**
   * Returns used elements not yet seen and frees their chains. A used idx
   * more than a queue ahead, or an unknown id, is a {@link RingError}. With
   * IN_ORDER an element for a later buffer also uses every older one (they
   * come back with `implied: true`).
   */
  async harvest(): Promise<UsedElem[]> {
    const idx = await this.usedIdx();
    const n = (idx - this.lastUsed) & 0xffff;
    if (n > this.size) throw new RingError(`Used idx ${idx} moved ${n} entries, more than the queue size ${this.size}`);
    const out: UsedElem[] = [];
    for (let k = 0; k < n;) {
      const slot = (this.lastUsed + k) % this.size;
      const e = await this.mem.read(this.addrs.device + 4 + 8 * slot, 8);
      const elem = { id: le.u32(e, 0), len: le.u32(e, 4) };
      if (!this.#chains.has(elem.id)) {
        this.lastUsed = (this.lastUsed + k) & 0xffff;
        throw new RingError(`Used ring slot ${slot} names id ${elem.id}, which is not an outstanding chain head`);
      }
      let count = 1;
      if (this.features.inOrder) {
        const older = [...this.#chains.keys()];
        count = older.indexOf(elem.id) + 1;
        if (k + count > n) {
          this.lastUsed = (this.lastUsed + k) & 0xffff;
          throw new RingError(
            `Used ring slot ${slot} names id ${elem.id}, a batch of ${count} buffers, but the used idx moved only ${
              n - k
            } more`,
          );
        }
        for (const o of older.slice(0, count - 1)) {
          this.#release(o);
          out.push({ id: o, len: 0, implied: true });
        }
      }
      this.#release(elem.id);
      out.push(elem);
      k += count;
    }
    this.lastUsed = idx;
    return out;
  }
  async hasUsed(): Promise<boolean> {
    return (await this.usedIdx()) !== this.lastUsed;
  }
  #release(head: number): void {
    const chain = this.#chains.get(head);
    if (!chain) return;
    this.#chains.delete(head);
    this.#free.push(...chain.descs);
    if (chain.table) {
      const pool = this.#tables.get(chain.table.entries) ?? [];
      pool.push(chain.table.addr);
      this.#tables.set(chain.table.entries, pool);
    }
  }
  /** Heads of chains added and not yet used, oldest first. */
  outstanding(): number[] {
    return [...this.#chains.keys()];
  }
}

/** Options of {@link SplitDriverQueue.add}. */
export interface SplitAddOptions {
  /** Put the buffers (after the `direct` ones) in an indirect table. */
  indirect?: boolean;
  /** With `indirect`: how many leading buffers stay in ring descriptors, chained before the indirect one. */
  direct?: number;
  /** With `indirect`: also set WRITE on the descriptor naming the table. */
  indirectWriteFlag?: boolean;
}

function encodeDesc(out: Uint8Array, off: number, b: BufferSpec, next: number | undefined): void {
  le.setU64(out, off, b.addr);
  le.setU32(out, off + 8, b.len);
  le.setU16(out, off + 12, (b.writable ? Desc.WRITE : 0) | (next === undefined ? 0 : Desc.NEXT));
  le.setU16(out, off + 14, next ?? 0);
}
