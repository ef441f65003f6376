/**
 * Guest memory as the harness and the implementations under test see it.
 *
 * @module
 */

/** A failed guest-memory access: out of range, or the target could not serve it. */
export class MemoryAccessError extends Error {
  /** The error's name. */
  override name = "MemoryAccessError";
}

/** Guest memory: byte-addressed, little-endian for multi-byte helpers. */
export interface GuestMemory {
  /** First valid guest-physical address. */
  readonly base: number;
  /** Size in bytes of the valid range starting at `base`. */
  readonly size: number;
  /** Reads `length` bytes at guest-physical address `addr`. */
  read(addr: number, length: number): Promise<Uint8Array>;
  /** Writes `data` at guest-physical address `addr`. */
  write(addr: number, data: Uint8Array): Promise<void>;
}

/** One recorded access to guest memory. */
export interface MemoryAccess {
  /**
   * A read or write of guest memory, or `interrupt`: the device sent a notification (raised its interrupt line) at
   * this point among its accesses (`addr` -1, `length` 0, so it overlaps no memory).
   */
  kind: "read" | "write" | "interrupt";
  /** The first guest-physical address accessed. */
  addr: number;
  /** How many bytes. */
  length: number;
}

/** True when `[addr, addr + length)` lies inside the memory. */
export function inRange(mem: { base: number; size: number }, addr: number, length: number): boolean {
  return Number.isSafeInteger(addr) && Number.isSafeInteger(length) && length >= 0 &&
    addr >= mem.base && addr + length <= mem.base + mem.size;
}

/**
 * `size` zero bytes whose pages the system supplies when first touched: a buffer that may grow no further than it
 * is (V8 reserves such a buffer and commits it page by page), so making a fresh guest RAM costs no up-front
 * zero-fill. A harness makes thousands of them in a run; most of each is never touched.
 *
 * @example
 * ```ts
 * import { zeroedBytes } from "./memory.ts";
 * const ram = zeroedBytes(4 << 20);
 * console.log(ram.length, ram[12345]); // 4194304 0
 * ```
 */
export function zeroedBytes(size: number): Uint8Array {
  return new Uint8Array(new ArrayBuffer(size, { maxByteLength: size }));
}

/** How far a growing {@link ArrayMemory} extends its backing store at a time. */
const GROWTH = 64 * 1024;

/**
 * Guest memory backed by one in-process buffer. Without a backing store given, the buffer starts empty and grows (in
 * 64 KiB steps, never beyond `size`) to the highest byte written: bytes above that read as zero. A harness makes
 * thousands of guest memories in a run and touches the first few hundred KiB of each; a buffer sized to what is used
 * keeps the collector from running for memory nobody wrote.
 *
 * @example
 * ```ts
 * import { ArrayMemory, readU32, writeU32 } from "./memory.ts";
 * const mem = new ArrayMemory(0x4000_0000, 1 << 20);
 * await writeU32(mem, 0x4000_0010, 0xdeadbeef);
 * console.log((await readU32(mem, 0x4000_0010)).toString(16)); // "deadbeef"
 * console.log(mem.peek(0x4008_0000, 4)); // Uint8Array(4) [ 0, 0, 0, 0 ]
 * ```
 */
export class ArrayMemory implements GuestMemory {
  #bytes: Uint8Array;
  /** How many reads and writes the memory has served (a measure of activity, e.g. for a virtual clock). */
  accesses = 0;
  /** `bytes`: the backing store (e.g. over a `SharedArrayBuffer`), `size` bytes long; a growing buffer by default. */
  constructor(readonly base: number, readonly size: number, bytes?: Uint8Array) {
    if (bytes && bytes.length !== size) {
      throw new RangeError(`Guest memory backing store has the wrong size: ${bytes.length} bytes, not ${size}`);
    }
    // A view without a length over a resizable buffer tracks the buffer's length as it grows.
    this.#bytes = bytes ?? new Uint8Array(new ArrayBuffer(0, { maxByteLength: size }));
  }
  /**
   * The memory's bytes, offset 0 at the base address, all `size` of them (a growing buffer grows to its full size
   * first: prefer {@link peek}, {@link poke} and {@link u16} for single accesses).
   */
  get bytes(): Uint8Array {
    this.#reach(this.size);
    return this.#bytes;
  }
  /** Grows the backing store to hold at least `end` bytes (offset from the base). */
  #reach(end: number): void {
    if (end <= this.#bytes.length) return;
    const buffer = this.#bytes.buffer as ArrayBuffer;
    buffer.resize(Math.min(this.size, Math.ceil(end / GROWTH) * GROWTH));
  }
  #check(addr: number, length: number): number {
    if (!inRange(this, addr, length)) {
      throw new MemoryAccessError(
        `Guest memory access out of range: 0x${addr.toString(16)}+${length} is outside 0x${this.base.toString(16)}..0x${
          (this.base + this.size).toString(16)
        }`,
      );
    }
    return addr - this.base;
  }
  /** A copy of `length` bytes at guest-physical address `addr`, read now. */
  peek(addr: number, length: number): Uint8Array {
    const off = this.#check(addr, length);
    this.accesses++;
    const b = this.#bytes;
    if (off + length <= b.length) return b.slice(off, off + length);
    const out = new Uint8Array(length);
    if (off < b.length) out.set(b.subarray(off), 0);
    return out;
  }
  /** Writes `data` at guest-physical address `addr` now. */
  poke(addr: number, data: Uint8Array): void {
    const off = this.#check(addr, data.length);
    this.accesses++;
    this.#reach(off + data.length);
    this.#bytes.set(data, off);
  }
  /** The little-endian u16 at `addr` (the caller checked the range). */
  u16(addr: number): number {
    this.accesses++;
    const b = this.#bytes;
    const off = addr - this.base;
    return off + 2 <= b.length ? b[off]! | (b[off + 1]! << 8) : getU16(this.peek(addr, 2), 0);
  }
  /** The little-endian u32 at `addr` (the caller checked the range). */
  u32(addr: number): number {
    this.accesses++;
    const b = this.#bytes;
    const off = addr - this.base;
    return off + 4 <= b.length ? getU32(b, off) : getU32(this.peek(addr, 4), 0);
  }
  /** Reads `length` bytes at guest-physical address `addr`. */
  read(addr: number, length: number): Promise<Uint8Array> {
    return Promise.resolve(this.peek(addr, length));
  }
  /** Writes `data` at guest-physical address `addr`. */
  write(addr: number, data: Uint8Array): Promise<void> {
    this.poke(addr, data);
    return Promise.resolve();
  }
}

/** A view of guest memory that records every access made through it. */
export class TracedMemory implements GuestMemory {
  readonly accesses: MemoryAccess[] = [];
  /** Set to false to stop recording (e.g. while the harness itself inspects memory). */
  recording = true;
  constructor(readonly inner: GuestMemory, readonly limit = 100_000) {}
  get base(): number {
    return this.inner.base;
  }
  get size(): number {
    return this.inner.size;
  }
  #record(kind: MemoryAccess["kind"], addr: number, length: number): void {
    if (this.recording && this.accesses.length < this.limit) this.accesses.push({ kind, addr, length });
  }
  /** Records a notification (the device raised its interrupt line) in order with the memory accesses. */
  markInterrupt(): void {
    this.#record("interrupt", -1, 0);
  }
  read(addr: number, length: number): Promise<Uint8Array> {
    this.#record("read", addr, length);
    return this.inner.read(addr, length);
  }
  write(addr: number, data: Uint8Array): Promise<void> {
    this.#record("write", addr, data.length);
    return this.inner.write(addr, data);
  }
}

// Byte arithmetic rather than a DataView per access: these run millions of times in a run, and a DataView is one
// more object for the collector each time.
function getU16(b: Uint8Array, off: number): number {
  if (off < 0 || off + 2 > b.length) throw new RangeError(`Offset ${off} is outside a ${b.length}-byte array`);
  return b[off]! | (b[off + 1]! << 8);
}
function getU32(b: Uint8Array, off: number): number {
  if (off < 0 || off + 4 > b.length) throw new RangeError(`Offset ${off} is outside a ${b.length}-byte array`);
  return (b[off]! | (b[off + 1]! << 8) | (b[off + 2]! << 16)) + b[off + 3]! * 0x100_0000;
}
function setU16(b: Uint8Array, off: number, v: number): void {
  if (off < 0 || off + 2 > b.length) throw new RangeError(`Offset ${off} is outside a ${b.length}-byte array`);
  b[off] = v;
  b[off + 1] = v >>> 8;
}
function setU32(b: Uint8Array, off: number, v: number): void {
  if (off < 0 || off + 4 > b.length) throw new RangeError(`Offset ${off} is outside a ${b.length}-byte array`);
  b[off] = v;
  b[off + 1] = v >>> 8;
  b[off + 2] = v >>> 16;
  b[off + 3] = v >>> 24;
}
function getU64(b: Uint8Array, off: number): number {
  return getU32(b, off) + getU32(b, off + 4) * 2 ** 32;
}
function setU64(b: Uint8Array, off: number, v: number): void {
  setU32(b, off, v % 2 ** 32);
  setU32(b, off + 4, Math.floor(v / 2 ** 32));
}

/** Reads a little-endian u16. */
export async function readU16(mem: GuestMemory, addr: number): Promise<number> {
  return getU16(await mem.read(addr, 2), 0);
}
/** Reads a little-endian u32. */
export async function readU32(mem: GuestMemory, addr: number): Promise<number> {
  return getU32(await mem.read(addr, 4), 0);
}
/** Reads a little-endian u64 as a number (guest addresses fit in 53 bits here). */
export async function readU64(mem: GuestMemory, addr: number): Promise<number> {
  return getU64(await mem.read(addr, 8), 0);
}
/** Writes a little-endian u16. */
export function writeU16(mem: GuestMemory, addr: number, value: number): Promise<void> {
  const b = new Uint8Array(2);
  setU16(b, 0, value);
  return mem.write(addr, b);
}
/** Writes a little-endian u32. */
export function writeU32(mem: GuestMemory, addr: number, value: number): Promise<void> {
  const b = new Uint8Array(4);
  setU32(b, 0, value);
  return mem.write(addr, b);
}
/** Writes a little-endian u64 from a number. */
export function writeU64(mem: GuestMemory, addr: number, value: number): Promise<void> {
  const b = new Uint8Array(8);
  setU64(b, 0, value);
  return mem.write(addr, b);
}

/** Little-endian field access on a byte array (for structures read in one go). */
export const le = {
  u16: getU16,
  u32: getU32,
  u64: getU64,
  setU16,
  setU32,
  setU64,
};

/** A bump allocator over a region of guest memory (the harness as driver owns the memory). */
export class BumpAllocator {
  #next: number;
  constructor(readonly start: number, readonly end: number) {
    this.#next = start;
  }
  /** Allocates `size` bytes aligned to `align` (a power of two). */
  alloc(size: number, align = 16): number {
    const addr = Math.ceil(this.#next / align) * align;
    if (addr + size > this.end) {
      throw new MemoryAccessError(
        `Harness guest-memory pool exhausted: wanted ${size} bytes at 0x${addr.toString(16)}, pool ends at 0x${
          this.end.toString(16)
        }`,
      );
    }
    this.#next = addr + size;
    return addr;
  }
  /** Frees everything. */
  reset(): void {
    this.#next = this.start;
  }
}
