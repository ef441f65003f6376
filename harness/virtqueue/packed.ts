/**
 * Packed virtqueue codec (spec 2.8) over the guest-memory interface: layout,
 * the device side (bounded walks of available descriptors, used descriptors
 * written back into the ring) and the driver side (descriptor placement with
 * the head published last, used-descriptor harvest, event suppression).
 *
 * Positions in the ring are a slot offset (`0 .. size-1`) plus a one-bit wrap
 * counter that starts at 1 and flips every time a cursor passes the end of
 * the ring. A descriptor is available for wrap counter `w` when its AVAIL bit
 * equals `w` and its USED bit does not; it is used when both bits equal `w`.
 *
 * Strictness of the device side: a chain whose head is available but one of
 * whose later elements is not (judged with the wrap counter of that element's
 * slot) is a {@link RingError}, as are chains longer than the queue, INDIRECT
 * mixed with NEXT chaining, flags other than WRITE in an indirect table, a
 * device-readable element after a device-writable one, buffers outside guest
 * memory and a buffer id that is already in flight. Every walk is bounded by
 * the queue size (or the indirect table size), so a hostile ring is an error,
 * never a hang. A failed {@link PackedDeviceQueue.take} leaves the device's
 * position where it was.
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
  type RingFeatures,
  type UsedElem,
  type UsedNotifyMode,
} from "./queue.ts";
import { RingError } from "./split.ts";

/** Flags of a packed descriptor. */
export const PackedDesc = {
  NEXT: 1,
  WRITE: 2,
  INDIRECT: 4,
  AVAIL: 1 << 7,
  USED: 1 << 15,
} as const;

/** Values of the flags field of an event suppression structure (two low bits). */
export const RingEvent = { ENABLE: 0, DISABLE: 1, DESC: 2 } as const;

/** Largest queue size a packed ring supports. */
export const PACKED_MAX_SIZE = 32768;

/** Byte sizes of a packed queue's three areas: descriptor ring, driver and device event suppression. */
export function packedLayout(size: number): { desc: number; driver: number; device: number } {
  return { desc: 16 * size, driver: 4, device: 4 };
}

/** True when `n` is a valid packed queue size (1 to 32768; a power of two is not required). */
export function validPackedQueueSize(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && n <= PACKED_MAX_SIZE;
}

/** One raw packed descriptor (`struct pvirtq_desc`). */
export interface PackedDescriptor {
  /** Element address (unused in a used descriptor). */
  addr: number;
  /** Element length (bytes written, in a used descriptor with WRITE). */
  len: number;
  /** Buffer id. */
  id: number;
  /** {@link PackedDesc} bits. */
  flags: number;
}

/** Reads the 16-byte packed descriptor at byte offset `off` of `b`. */
export function decodePackedDesc(b: Uint8Array, off = 0): PackedDescriptor {
  return { addr: le.u64(b, off), len: le.u32(b, off + 8), id: le.u16(b, off + 12), flags: le.u16(b, off + 14) };
}

/** The 16 bytes of a packed descriptor. */
export function encodePackedDesc(d: PackedDescriptor): Uint8Array {
  const b = new Uint8Array(16);
  le.setU64(b, 0, d.addr);
  le.setU32(b, 8, d.len);
  le.setU16(b, 12, d.id);
  le.setU16(b, 14, d.flags);
  return b;
}

/**
 * The AVAIL and USED bits a driver sets to make a descriptor available under
 * wrap counter `wrap`: AVAIL equal to it, USED its inverse.
 */
export function availBits(wrap: number): number {
  return wrap & 1 ? PackedDesc.AVAIL : PackedDesc.USED;
}

/** The AVAIL and USED bits a device sets to mark a descriptor used under wrap counter `wrap`: both equal to it. */
export function usedBits(wrap: number): number {
  return wrap & 1 ? PackedDesc.AVAIL | PackedDesc.USED : 0;
}

/** True when `flags` mark a descriptor available for wrap counter `wrap`. */
export function isAvailable(flags: number, wrap: number): boolean {
  const a = (flags & PackedDesc.AVAIL) !== 0 ? 1 : 0;
  const u = (flags & PackedDesc.USED) !== 0 ? 1 : 0;
  return a === (wrap & 1) && u !== (wrap & 1);
}

/** True when `flags` mark a descriptor used for wrap counter `wrap`. */
export function isUsed(flags: number, wrap: number): boolean {
  const a = (flags & PackedDesc.AVAIL) !== 0 ? 1 : 0;
  const u = (flags & PackedDesc.USED) !== 0 ? 1 : 0;
  return a === (wrap & 1) && u === (wrap & 1);
}

/** A ring position: slot offset and wrap counter. */
export interface RingPos {
  /** Slot offset, `0 .. size-1`. */
  pos: number;
  /** Wrap counter, 0 or 1. */
  wrap: number;
}

/** Moves `p` forward by `n` slots (`0 <= n <= size`) in a ring of `size`, flipping the wrap counter on each wrap. */
export function advancePos(p: RingPos, n: number, size: number): RingPos {
  let pos = p.pos + n;
  let wrap = p.wrap;
  if (pos >= size) {
    pos -= size;
    wrap ^= 1;
  }
  return { pos, wrap };
}

/** The 16-bit off_wrap value of an event suppression structure: offset in bits 0–14, wrap counter in bit 15. */
export function encodeOffWrap(off: number, wrap: number): number {
  return (off & 0x7fff) | ((wrap & 1) << 15);
}

/** Splits an off_wrap value (see {@link encodeOffWrap}). */
export function decodeOffWrap(offWrap: number): RingPos {
  return { pos: offWrap & 0x7fff, wrap: (offWrap >> 15) & 1 };
}

/** A decoded event suppression structure (`struct pvirtq_event_suppress`). */
export interface EventSuppression {
  /** desc_event_off_wrap as a 16-bit value. */
  offWrap: number;
  /** desc_event_flags (two bits; see {@link RingEvent}). */
  flags: number;
  /** The reserved upper 14 bits of the flags word. */
  reserved: number;
}

/** Reads the 4-byte event suppression structure at byte offset `off` of `b`. */
export function decodeEventSuppression(b: Uint8Array, off = 0): EventSuppression {
  const word = le.u16(b, off + 2);
  return { offWrap: le.u16(b, off), flags: word & 3, reserved: word >> 2 };
}

/**
 * The packed event-index test: true when a cursor that moved `moved` slots
 * forward from `old` passed the descriptor named by `offWrap`, that is when
 * that descriptor lies in the `moved` slots starting at `old` (in ring order,
 * wrap counter included). A cursor covers `2 * size` distinct (offset, wrap)
 * positions before repeating, so a move of that many slots or more passes
 * every position. An offset outside the ring is never passed.
 *
 * @example
 * ```ts
 * import { encodeOffWrap, packedEventPassed } from "./packed.ts";
 * // Ring of 4; the cursor went from slot 3 (wrap 1) two slots on, to slot 1 (wrap 0).
 * console.log(packedEventPassed(4, encodeOffWrap(0, 0), { pos: 3, wrap: 1 }, 2)); // true
 * console.log(packedEventPassed(4, encodeOffWrap(0, 1), { pos: 3, wrap: 1 }, 2)); // false: next pass
 * ```
 */
export function packedEventPassed(size: number, offWrap: number, old: RingPos, moved: number): boolean {
  if (moved <= 0) return false;
  const ev = decodeOffWrap(offWrap);
  if (ev.pos >= size) return false;
  const period = 2 * size;
  // Linear position over two passes: wrap 1 first, then wrap 0.
  const lin = (p: RingPos) => p.pos + ((p.wrap & 1) === 1 ? 0 : size);
  const ahead = (lin(ev) - lin(old) + period) % period;
  return ahead < moved;
}

function slotWhere(slot: number, wrap: number): string {
  return `ring slot ${slot} (wrap ${wrap})`;
}

/**
 * The device side of one packed virtqueue.
 *
 * `pushUsed` of a buffer other than the oldest one in flight, with
 * VIRTIO_F_IN_ORDER negotiated, writes one used descriptor for the batch:
 * every older buffer in flight counts as used too and their slots are skipped.
 *
 * @example
 * ```ts ignore
 * const q = new PackedDeviceQueue(memory, addrs, ringFeatures(negotiated));
 * for (let b = await q.take(); b; b = await q.take()) {
 *   await q.pushUsed(b.id, 0);
 * }
 * if (await q.needsNotification()) await interrupt();
 * ```
 */
export class PackedDeviceQueue implements DeviceQueue {
  /** Always `"packed"`. */
  readonly format = "packed" as const;
  #avail: RingPos = { pos: 0, wrap: 1 };
  #used: RingPos = { pos: 0, wrap: 1 };
  /** Buffers taken and not yet used: id → ring slots, in take order. */
  #inflight = new Map<number, number>();
  #inflightSlots = 0;
  #decision: RingPos = { pos: 0, wrap: 1 };
  #moved = 0;

  /** Checks that the three areas lie in guest memory; a misplaced queue is a {@link RingError}. */
  constructor(
    readonly mem: GuestMemory,
    readonly addrs: QueueAddresses,
    readonly features: RingFeatures,
  ) {
    if (!validPackedQueueSize(addrs.size)) {
      throw new RingError(`Packed queue size ${addrs.size} is outside 1..${PACKED_MAX_SIZE}`);
    }
    const l = packedLayout(addrs.size);
    for (
      const [name, addr, len] of [
        ["descriptor ring", addrs.desc, l.desc],
        ["driver event suppression area", addrs.driver, l.driver],
        ["device event suppression area", addrs.device, l.device],
      ] as const
    ) {
      if (!inRange(mem, addr, len)) {
        throw new RingError(`Queue ${name} lies outside guest memory: 0x${addr.toString(16)}+${len}`);
      }
    }
  }
  /** Queue size (ring slots). */
  get size(): number {
    return this.addrs.size;
  }
  /** The slot and wrap counter the device reads next. */
  get availPos(): RingPos {
    return { ...this.#avail };
  }
  /** The slot and wrap counter where the device writes its next used descriptor. */
  get usedPos(): RingPos {
    return { ...this.#used };
  }
  /** Ids of buffers taken and not yet used, in take order. */
  inflight(): number[] {
    return [...this.#inflight.keys()];
  }
  /** Reads the raw descriptor in ring slot `slot`. */
  async readDescriptor(slot: number): Promise<PackedDescriptor> {
    if (!Number.isInteger(slot) || slot < 0 || slot >= this.size) {
      throw new RingError(`Ring slot ${slot} outside a queue of ${this.size}`);
    }
    return decodePackedDesc(await this.mem.read(this.addrs.desc + 16 * slot, 16));
  }
  /** Reads the driver event suppression structure (driver area). */
  async driverEvent(): Promise<EventSuppression> {
    return decodeEventSuppression(await this.mem.read(this.addrs.driver, 4));
  }
  /** True when the descriptor at the device's position is available under its wrap counter. */
  async hasAvailable(): Promise<boolean> {
    const flags = await readU16(this.mem, this.addrs.desc + 16 * this.#avail.pos + 14);
    return isAvailable(flags, this.#avail.wrap);
  }
  /**
   * Takes the buffer at the device's position, or returns `undefined` when
   * its first descriptor is not available. The buffer id is the one of the
   * last descriptor of the chain.
   */
  async take(): Promise<AvailBuffer | undefined> {
    const out: ChainBuffer[] = [];
    let seenWritable = false;
    const push = (addr: number, len: number, writable: boolean, where: string) => {
      if (!inRange(this.mem, addr, len)) {
        throw new RingError(`${where}: buffer 0x${addr.toString(16)}+${len} lies outside guest memory`);
      }
      if (!writable && seenWritable) {
        throw new RingError(`${where}: device-readable buffer after a device-writable one`);
      }
      seenWritable ||= writable;
      out.push({ addr, len, writable });
    };
    let at: RingPos = { ...this.#avail };
    const head = { ...at };
    for (let k = 0;; k++) {
      if (k >= this.size) {
        throw new RingError(
          `Chain from ${slotWhere(head.pos, head.wrap)} is longer than the queue size ${this.size}`,
        );
      }
      const where = slotWhere(at.pos, at.wrap);
      const d = await this.readDescriptor(at.pos);
      if (!isAvailable(d.flags, at.wrap)) {
        if (k === 0) return undefined;
        throw new RingError(
          `Chain from ${slotWhere(head.pos, head.wrap)} continues into ${where}, which is not available (flags 0x${
            d.flags.toString(16)
          })`,
        );
      }
      at = advancePos(at, 1, this.size);
      if (d.flags & PackedDesc.INDIRECT) {
        if (!this.features.indirect) {
          throw new RingError(`Descriptor in ${where} is INDIRECT but VIRTIO_F_INDIRECT_DESC is not negotiated`);
        }
        if (d.flags & PackedDesc.NEXT) throw new RingError(`Descriptor in ${where} has both INDIRECT and NEXT`);
        if (k > 0) {
          throw new RingError(`Descriptor in ${where} is INDIRECT inside a chain linked by NEXT`);
        }
        if (d.len === 0 || d.len % 16 !== 0) {
          throw new RingError(`Indirect table in ${where} has length ${d.len}, not a non-zero multiple of 16`);
        }
        if (!inRange(this.mem, d.addr, d.len)) {
          throw new RingError(
            `Indirect table in ${where} at 0x${d.addr.toString(16)}+${d.len} lies outside guest memory`,
          );
        }
        const table = await this.mem.read(d.addr, d.len);
        const n = d.len / 16;
        for (let i = 0; i < n; i++) {
          const e = decodePackedDesc(table, 16 * i);
          const entry = `indirect entry ${i} of ${where}`;
          if (e.flags & ~PackedDesc.WRITE) {
            throw new RingError(`${entry}: flags 0x${e.flags.toString(16)} carry bits other than WRITE`);
          }
          push(e.addr, e.len, (e.flags & PackedDesc.WRITE) !== 0, entry);
        }
        return this.#took(d.id, out, 1, at);
      }
      push(d.addr, d.len, (d.flags & PackedDesc.WRITE) !== 0, `descriptor in ${where}`);
      if (!(d.flags & PackedDesc.NEXT)) return this.#took(d.id, out, k + 1, at);
    }
  }
  #took(id: number, buffers: ChainBuffer[], slots: number, next: RingPos): AvailBuffer {
    if (this.#inflight.has(id)) {
      throw new RingError(
        `Buffer id ${id} at ${slotWhere(this.#avail.pos, this.#avail.wrap)} is already in flight`,
      );
    }
    if (this.#inflightSlots + slots > this.size) {
      throw new RingError(
        `Buffer id ${id} at ${slotWhere(this.#avail.pos, this.#avail.wrap)} would put ${
          this.#inflightSlots + slots
        } ring slots in flight, more than the queue size ${this.size}`,
      );
    }
    this.#inflight.set(id, slots);
    this.#inflightSlots += slots;
    this.#avail = next;
    return { id, buffers, slots };
  }
  /**
   * Writes a used descriptor for buffer `id` at the device's used position:
   * id and len first, then the flags in a separate write (AVAIL and USED
   * equal to the device's wrap counter, WRITE when `len > 0`). The used
   * position then skips the slots the buffer occupied (with
   * VIRTIO_F_IN_ORDER, those of every older buffer in flight too).
   */
  async pushUsed(id: number, len: number): Promise<void> {
    const slots = this.#inflight.get(id);
    if (slots === undefined) {
      throw new RingError(`Buffer id ${id} is not in flight: the device cannot mark it used`);
    }
    let skip = 0;
    const batch: number[] = [];
    for (const [other, n] of this.#inflight) {
      if (other === id) break;
      if (!this.features.inOrder) continue;
      batch.push(other);
      skip += n;
    }
    skip += slots;
    const base = this.addrs.desc + 16 * this.#used.pos;
    const body = new Uint8Array(6);
    le.setU32(body, 0, len);
    le.setU16(body, 4, id);
    await this.mem.write(base + 8, body);
    await writeU16(this.mem, base + 14, usedBits(this.#used.wrap) | (len > 0 ? PackedDesc.WRITE : 0));
    for (const other of batch) this.#inflight.delete(other);
    this.#inflight.delete(id);
    this.#inflightSlots -= skip;
    this.#used = advancePos(this.#used, skip, this.size);
    this.#moved += skip;
  }
  /**
   * Whether the used descriptors written since the last decision need a
   * used-buffer notification. DISABLE: no. DESC with VIRTIO_F_EVENT_IDX: when
   * the used position passed the driver's event offset and wrap. Anything
   * else (ENABLE, DESC without EVENT_IDX, the reserved value 3): when
   * anything was used.
   */
  async needsNotification(): Promise<boolean> {
    const ev = await this.driverEvent();
    const moved = this.#moved;
    const old = this.#decision;
    this.#moved = 0;
    this.#decision = { ...this.#used };
    if (ev.flags === RingEvent.DISABLE) return false;
    if (ev.flags === RingEvent.DESC && this.features.eventIdx) {
      return packedEventPassed(this.size, ev.offWrap, old, moved);
    }
    return moved > 0;
  }
  /**
   * Writes the device event suppression flags: ENABLE or DISABLE (packed
   * rings honour the flags with or without VIRTIO_F_EVENT_IDX).
   */
  setNotifications(enabled: boolean): Promise<void> {
    return this.setDeviceEvent({ kind: enabled ? "enable" : "disable" });
  }
  /**
   * Writes the device event suppression structure: `at` (VIRTIO_F_EVENT_IDX
   * only, else a `RangeError`) asks for a notification when the driver makes
   * the descriptor at that offset and wrap ({@link encodeOffWrap}) available;
   * off_wrap is written before the flags.
   */
  async setDeviceEvent(mode: UsedNotifyMode): Promise<void> {
    await writeEvent(this.mem, this.addrs.device, this.size, this.features, mode, "device");
  }
}

async function writeEvent(
  mem: GuestMemory,
  addr: number,
  size: number,
  features: RingFeatures,
  mode: UsedNotifyMode,
  side: string,
): Promise<void> {
  switch (mode.kind) {
    case "enable":
      return writeU16(mem, addr + 2, RingEvent.ENABLE);
    case "disable":
      return writeU16(mem, addr + 2, RingEvent.DISABLE);
    case "at": {
      if (!features.eventIdx) {
        throw new RangeError(`A descriptor-specific ${side} event needs VIRTIO_F_EVENT_IDX, which is not negotiated`);
      }
      const { pos } = decodeOffWrap(mode.at);
      if (!Number.isInteger(mode.at) || mode.at < 0 || mode.at > 0xffff || pos >= size) {
        throw new RangeError(`Event off_wrap 0x${mode.at.toString(16)} does not name a slot of a ring of ${size}`);
      }
      await writeU16(mem, addr, mode.at);
      return writeU16(mem, addr + 2, RingEvent.DESC);
    }
  }
}

interface DriverBuffer {
  id: number;
  slots: number;
  head: RingPos;
  headFlags: number;
  published: boolean;
}

/**
 * The driver side of one packed virtqueue, in memory the driver owns.
 *
 * Buffer ids come from a pool `0 .. size-1`. Buffers must be published in
 * the order they were added (a `RangeError` otherwise), since the device
 * reads the ring in order and an unpublished head stops it. `add` does not
 * check the order of readable and writable buffers, so a test can build a
 * wrong chain on purpose.
 *
 * @example
 * ```ts ignore
 * const q = await PackedDriverQueue.create(memory, allocator, 0, 8, ringFeatures(negotiated));
 * const id = await q.add([{ addr: buf, len: 16, writable: true }]);
 * await q.publish(id);
 * if (await q.needsKick()) await transport.notify(0);
 * for (const used of await q.harvest()) console.log(used.id, used.len);
 * ```
 */
export class PackedDriverQueue implements DriverQueue {
  /** Always `"packed"`. */
  readonly format = "packed" as const;
  #freeIds: number[] = [];
  /** Buffers added and not yet used, in add order. */
  #buffers = new Map<number, DriverBuffer>();
  /** Indirect tables by buffer id, reused when large enough. */
  #tables = new Map<number, { addr: number; entries: number }>();
  #usedSlots = 0;
  #next: RingPos = { pos: 0, wrap: 1 };
  #published: RingPos = { pos: 0, wrap: 1 };
  #used: RingPos = { pos: 0, wrap: 1 };
  #decision: RingPos = { pos: 0, wrap: 1 };
  #moved = 0;

  private constructor(
    readonly mem: GuestMemory,
    readonly alloc: BumpAllocator,
    readonly index: number,
    readonly addrs: QueueAddresses,
    readonly features: RingFeatures,
  ) {
    for (let i = 0; i < addrs.size; i++) this.#freeIds.push(i);
  }
  /** Allocates and zeroes the descriptor ring (16-aligned) and both event suppression areas (4-aligned). */
  static async create(
    mem: GuestMemory,
    alloc: BumpAllocator,
    index: number,
    size: number,
    features: RingFeatures,
  ): Promise<PackedDriverQueue> {
    if (!validPackedQueueSize(size)) throw new RangeError(`Packed queue size ${size} is outside 1..${PACKED_MAX_SIZE}`);
    const l = packedLayout(size);
    const addrs = {
      size,
      desc: alloc.alloc(l.desc, 16),
      driver: alloc.alloc(l.driver, 4),
      device: alloc.alloc(l.device, 4),
    };
    await mem.write(addrs.desc, new Uint8Array(l.desc));
    await mem.write(addrs.driver, new Uint8Array(l.driver));
    await mem.write(addrs.device, new Uint8Array(l.device));
    return new PackedDriverQueue(mem, alloc, index, addrs, features);
  }
  /** Queue size (ring slots). */
  get size(): number {
    return this.addrs.size;
  }
  /** Ring slots not held by an added buffer. */
  get freeCount(): number {
    return this.size - this.#usedSlots;
  }
  /** The slot and wrap counter where the next added buffer starts. */
  get nextPos(): RingPos {
    return { ...this.#next };
  }
  /** The first slot (and its wrap counter) not yet made available to the device. */
  get publishedPos(): RingPos {
    return { ...this.#published };
  }
  /** The slot and wrap counter where the driver expects the next used descriptor. */
  get usedPos(): RingPos {
    return { ...this.#used };
  }
  /** Reads the device event suppression structure (device area). */
  async deviceEvent(): Promise<EventSuppression> {
    return decodeEventSuppression(await this.mem.read(this.addrs.device, 4));
  }
  /**
   * Writes a buffer into consecutive ring slots from the driver's next
   * position, every descriptor complete except the head's flags (written by
   * {@link publish}), and returns its buffer id. The id is written in every
   * descriptor. With `indirect`, the chain goes into a table (kept per id and
   * reused) named by one INDIRECT ring descriptor.
   */
  async add(buffers: BufferSpec[], opts: { indirect?: boolean } = {}): Promise<number> {
    if (buffers.length === 0) throw new RangeError("A buffer needs at least one element");
    const indirect = opts.indirect === true;
    if (indirect && !this.features.indirect) {
      throw new RangeError("An indirect buffer needs VIRTIO_F_INDIRECT_DESC, which is not negotiated");
    }
    const slots = indirect ? 1 : buffers.length;
    if (slots > this.freeCount) {
      throw new RangeError(`Queue ${this.index} has ${this.freeCount} free ring slots, the buffer needs ${slots}`);
    }
    const id = this.#freeIds.shift();
    if (id === undefined) throw new RangeError(`Queue ${this.index} has no free buffer id`);
    const ring: PackedDescriptor[] = [];
    if (indirect) {
      const n = buffers.length;
      let table = this.#tables.get(id);
      if (!table || table.entries < n) {
        table = { addr: this.alloc.alloc(16 * n, 16), entries: n };
        this.#tables.set(id, table);
      }
      const bytes = new Uint8Array(16 * n);
      buffers.forEach((b, i) => {
        bytes.set(
          encodePackedDesc({ addr: b.addr, len: b.len, id: 0, flags: b.writable ? PackedDesc.WRITE : 0 }),
          16 * i,
        );
      });
      await this.mem.write(table.addr, bytes);
      ring.push({ addr: table.addr, len: 16 * n, id, flags: PackedDesc.INDIRECT });
    } else {
      buffers.forEach((b, i) => {
        const last = i === buffers.length - 1;
        ring.push({
          addr: b.addr,
          len: b.len,
          id,
          flags: (b.writable ? PackedDesc.WRITE : 0) | (last ? 0 : PackedDesc.NEXT),
        });
      });
    }
    const head = { ...this.#next };
    let at = { ...this.#next };
    let headFlags = 0;
    for (const [i, d] of ring.entries()) {
      const flags = d.flags | availBits(at.wrap);
      const bytes = encodePackedDesc({ ...d, flags });
      const base = this.addrs.desc + 16 * at.pos;
      if (i === 0) {
        headFlags = flags;
        await this.mem.write(base, bytes.subarray(0, 14));
      } else {
        await this.mem.write(base, bytes);
      }
      at = advancePos(at, 1, this.size);
    }
    this.#next = at;
    this.#usedSlots += slots;
    this.#buffers.set(id, { id, slots, head, headFlags, published: false });
    return id;
  }
  /** Makes buffer `id` available by writing its head descriptor's flags; buffers are published in add order. */
  async publish(id: number): Promise<void> {
    const b = this.#buffers.get(id);
    if (!b) throw new RangeError(`Buffer id ${id} was not added to queue ${this.index}`);
    if (b.published) throw new RangeError(`Buffer id ${id} of queue ${this.index} is already published`);
    const first = [...this.#buffers.values()].find((x) => !x.published);
    if (first && first.id !== id) {
      throw new RangeError(
        `Buffers of queue ${this.index} are published in the order they were added: expected id ${first.id}, not ${id}`,
      );
    }
    await writeU16(this.mem, this.addrs.desc + 16 * b.head.pos + 14, b.headFlags);
    b.published = true;
    this.#published = advancePos(this.#published, b.slots, this.size);
    this.#moved += b.slots;
  }
  /**
   * Whether the device wants an available-buffer notification for what was
   * published since the last decision. DISABLE: no. DESC with
   * VIRTIO_F_EVENT_IDX: when the published position passed the device's
   * event offset and wrap. Anything else: when anything was published.
   */
  async needsKick(): Promise<boolean> {
    const ev = await this.deviceEvent();
    const moved = this.#moved;
    const old = this.#decision;
    this.#moved = 0;
    this.#decision = { ...this.#published };
    if (ev.flags === RingEvent.DISABLE) return false;
    if (ev.flags === RingEvent.DESC && this.features.eventIdx) {
      return packedEventPassed(this.size, ev.offWrap, old, moved);
    }
    return moved > 0;
  }
  /** The notification value: queue index, offset and wrap counter of the first descriptor not yet available. */
  notificationData(): number {
    return encodeNotificationData(this.index, this.#published.pos, this.#published.wrap);
  }
  /**
   * Reads used descriptors from the driver's used position until one is not
   * used. A used descriptor naming an id that is not published and
   * outstanding is a {@link RingError}. The length is reported only when the
   * used descriptor has WRITE set (0 otherwise, as its len is then
   * reserved). With VIRTIO_F_IN_ORDER, a used descriptor for a buffer other
   * than the oldest outstanding one also uses every older buffer; those come
   * back with `implied: true` and length 0.
   */
  async hasUsed(): Promise<boolean> {
    const at = this.#used;
    return isUsed(decodePackedDesc(await this.mem.read(this.addrs.desc + 16 * at.pos, 16)).flags, at.wrap);
  }
  async harvest(): Promise<UsedElem[]> {
    const out: UsedElem[] = [];
    for (let k = 0; k < this.size; k++) {
      const at = this.#used;
      const d = decodePackedDesc(await this.mem.read(this.addrs.desc + 16 * at.pos, 16));
      if (!isUsed(d.flags, at.wrap)) break;
      const b = this.#buffers.get(d.id);
      if (!b || !b.published) {
        throw new RingError(
          `Used descriptor in ${slotWhere(at.pos, at.wrap)} names buffer id ${d.id}, which is not outstanding`,
        );
      }
      let skip = 0;
      if (this.features.inOrder) {
        for (const older of this.#buffers.values()) {
          if (older.id === d.id) break;
          out.push({ id: older.id, len: 0, implied: true });
          skip += older.slots;
          this.#release(older);
        }
      }
      skip += b.slots;
      this.#release(b);
      out.push({ id: d.id, len: d.flags & PackedDesc.WRITE ? d.len : 0 });
      this.#used = advancePos(this.#used, skip, this.size);
    }
    return out;
  }
  #release(b: DriverBuffer): void {
    this.#buffers.delete(b.id);
    this.#usedSlots -= b.slots;
    this.#freeIds.push(b.id);
  }
  /**
   * Sets the driver event suppression structure: ENABLE, DISABLE, or DESC
   * with off_wrap `at` ({@link encodeOffWrap}; VIRTIO_F_EVENT_IDX only, else
   * a `RangeError`), off_wrap written before the flags.
   */
  async setUsedNotifications(mode: UsedNotifyMode): Promise<void> {
    await writeEvent(this.mem, this.addrs.driver, this.size, this.features, mode, "driver");
  }
  /** Ids of buffers added and not yet used, in add order. */
  outstanding(): number[] {
    return [...this.#buffers.keys()];
  }
}
