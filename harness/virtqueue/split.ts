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

/** One buffer of a walked chain. */
export interface ChainBuffer {
  addr: number;
  len: number;
  writable: boolean;
}

/** A used-ring element. */
export interface UsedElem {
  id: number;
  len: number;
}

/** True when `n` is a power of two between 1 and 32768. */
export function validQueueSize(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && n <= 32768 && (n & (n - 1)) === 0;
}

function decodeDesc(b: Uint8Array, off: number): Descriptor {
  return { addr: le.u64(b, off), len: le.u32(b, off + 8), flags: le.u16(b, off + 12), next: le.u16(b, off + 14) };
}

/**
 * The device side of one split virtqueue.
 *
 * @example
 * ```ts ignore
 * const q = new SplitDeviceQueue(memory, addrs, { indirect: false });
 * while (q.lastAvail !== await q.availIdx()) {
 *   const head = await q.nextAvail();
 *   const chain = await q.walk(head);
 *   await q.pushUsed(head, 0);
 * }
 * ```
 */
export class SplitDeviceQueue {
  /** Next available-ring slot the device will consume (free-running 16-bit). */
  lastAvail = 0;
  /** Used index the device will publish next (free-running 16-bit). */
  usedIdx = 0;
  constructor(
    readonly mem: GuestMemory,
    readonly addrs: QueueAddresses,
    readonly opts: { indirect: boolean },
  ) {
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
      if (d.flags & Desc.INDIRECT) {
        if (!this.opts.indirect) {
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
  /** Writes one used element, then publishes the new used idx. */
  async pushUsed(id: number, len: number): Promise<void> {
    const slot = this.usedIdx % this.size;
    const e = new Uint8Array(8);
    le.setU32(e, 0, id);
    le.setU32(e, 4, len);
    await this.mem.write(this.addrs.device + 4 + 8 * slot, e);
    this.usedIdx = (this.usedIdx + 1) & 0xffff;
    await writeU16(this.mem, this.addrs.device + 2, this.usedIdx);
  }
  /** Sets the used-ring flags (e.g. {@link USED_F_NO_NOTIFY}). */
  setUsedFlags(flags: number): Promise<void> {
    return writeU16(this.mem, this.addrs.device, flags);
  }
}

/** A buffer the driver side places in a chain. */
export interface BufferSpec {
  addr: number;
  len: number;
  writable: boolean;
}

/**
 * The driver side of one split virtqueue, in harness-owned memory.
 *
 * @example
 * ```ts ignore
 * const q = await SplitDriverQueue.create(memory, allocator, 0, 8);
 * const head = await q.add([{ addr: buf, len: 16, writable: true }]);
 * await q.publish(head);
 * ```
 */
export class SplitDriverQueue {
  #free: number[] = [];
  #chains = new Map<number, number[]>();
  availIdx = 0;
  lastUsed = 0;
  private constructor(
    readonly mem: GuestMemory,
    readonly index: number,
    readonly addrs: QueueAddresses,
  ) {
    for (let i = 0; i < addrs.size; i++) this.#free.push(i);
  }
  /** Allocates and zeroes the three areas of a queue of `size` entries. */
  static async create(mem: GuestMemory, alloc: BumpAllocator, index: number, size: number): Promise<SplitDriverQueue> {
    const l = splitLayout(size);
    const addrs = {
      size,
      desc: alloc.alloc(l.desc, 16),
      driver: alloc.alloc(l.avail, 2),
      device: alloc.alloc(l.used, 4),
    };
    await mem.write(addrs.desc, new Uint8Array(l.desc));
    await mem.write(addrs.driver, new Uint8Array(l.avail));
    await mem.write(addrs.device, new Uint8Array(l.used));
    return new SplitDriverQueue(mem, index, addrs);
  }
  get size(): number {
    return this.addrs.size;
  }
  get freeCount(): number {
    return this.#free.length;
  }
  /** Writes a chain of descriptors and returns its head (not yet published). */
  async add(buffers: BufferSpec[]): Promise<number> {
    if (buffers.length === 0) throw new RangeError("A chain needs at least one buffer");
    if (buffers.length > this.#free.length) {
      throw new RangeError(
        `Queue ${this.index} has ${this.#free.length} free descriptors, chain needs ${buffers.length}`,
      );
    }
    const ids = this.#free.splice(0, buffers.length);
    for (let k = 0; k < buffers.length; k++) {
      const b = buffers[k]!;
      const d = new Uint8Array(16);
      le.setU64(d, 0, b.addr);
      le.setU32(d, 8, b.len);
      const last = k === buffers.length - 1;
      le.setU16(d, 12, (b.writable ? Desc.WRITE : 0) | (last ? 0 : Desc.NEXT));
      le.setU16(d, 14, last ? 0 : ids[k + 1]!);
      await this.mem.write(this.addrs.desc + 16 * ids[k]!, d);
    }
    this.#chains.set(ids[0]!, ids);
    return ids[0]!;
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
  usedIdx(): Promise<number> {
    return readU16(this.mem, this.addrs.device + 2);
  }
  usedFlags(): Promise<number> {
    return readU16(this.mem, this.addrs.device);
  }
  /**
   * Returns used elements not yet seen and frees their chains. A used idx
   * more than a queue ahead, or an unknown id, is a {@link RingError}.
   */
  async harvest(): Promise<UsedElem[]> {
    const idx = await this.usedIdx();
    const n = (idx - this.lastUsed) & 0xffff;
    if (n > this.size) throw new RingError(`Used idx ${idx} moved ${n} entries, more than the queue size ${this.size}`);
    const out: UsedElem[] = [];
    for (let k = 0; k < n; k++) {
      const slot = (this.lastUsed + k) % this.size;
      const e = await this.mem.read(this.addrs.device + 4 + 8 * slot, 8);
      const elem = { id: le.u32(e, 0), len: le.u32(e, 4) };
      const chain = this.#chains.get(elem.id);
      if (!chain) {
        throw new RingError(`Used ring slot ${slot} names id ${elem.id}, which is not an outstanding chain head`);
      }
      this.#chains.delete(elem.id);
      this.#free.push(...chain);
      out.push(elem);
    }
    this.lastUsed = idx;
    return out;
  }
  /** Heads of chains made available and not yet used. */
  outstanding(): number[] {
    return [...this.#chains.keys()];
  }
}
