/**
 * Generators and a step-counting memory shared by the split and packed ring
 * fuzz tests (`split_fuzz_test.ts`, `packed_fuzz_test.ts`).
 *
 * @module
 */
import fc from "fast-check";
import { ArrayMemory, type GuestMemory, le } from "../memory.ts";
import { FuzzFailure } from "../fuzz.ts";
import type { RingFeatures } from "./queue.ts";

/** Guest memory of every case: 0x1000..0x3000. */
export const MEM_BASE = 0x1000;
export const MEM_SIZE = 0x2000;
/** Where the fuzzed indirect table lies (descriptors point there often). */
export const TABLE_AT = 0x2000;
/** Where buffers lie (descriptors point there often). */
export const BUFFERS_AT = 0x2400;

/**
 * Guest memory that counts accesses: a walk that makes more than `budget`
 * of them is unbounded (a loop the walker did not catch) and fails the case
 * at once, long before a time limit would.
 */
export class CountingMemory implements GuestMemory {
  accesses = 0;
  constructor(readonly inner: GuestMemory, public budget: number) {}
  get base(): number {
    return this.inner.base;
  }
  get size(): number {
    return this.inner.size;
  }
  #count(): void {
    if (++this.accesses > this.budget) {
      throw new FuzzFailure(`more than ${this.budget} guest-memory accesses: an unbounded walk`);
    }
  }
  read(addr: number, length: number): Promise<Uint8Array> {
    this.#count();
    return this.inner.read(addr, length);
  }
  write(addr: number, data: Uint8Array): Promise<void> {
    this.#count();
    return this.inner.write(addr, data);
  }
}

/** Fresh memory of {@link MEM_SIZE} bytes at {@link MEM_BASE}. */
export function freshMemory(): ArrayMemory {
  return new ArrayMemory(MEM_BASE, MEM_SIZE);
}

/** A 16-bit value: mostly small (near the queue size), sometimes anything. */
export function u16Near(n: number): fc.Arbitrary<number> {
  return fc.oneof(
    { weight: 4, arbitrary: fc.integer({ min: 0, max: n + 2 }) },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff }) },
  );
}

/** An index below `n` most of the time, sometimes just past it or anything. */
export function indexBelow(n: number): fc.Arbitrary<number> {
  return fc.oneof({ weight: 8, arbitrary: fc.integer({ min: 0, max: n - 1 }) }, { weight: 1, arbitrary: u16Near(n) });
}

/** A 32-bit value: mostly small, sometimes anything. */
export const u32Small: fc.Arbitrary<number> = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: 0, max: 0x100 }) },
  { weight: 3, arbitrary: fc.integer({ min: 1, max: 8 }).map((k) => 16 * k) }, // indirect table lengths
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff_ffff }) },
);

/** A 64-bit guest address as [low, high] words: mostly inside memory (buffers, the table), sometimes anything. */
export const addr64: fc.Arbitrary<[number, number]> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.integer({ min: BUFFERS_AT, max: MEM_BASE + MEM_SIZE - 0x100 }).map((a): [number, number] => [a, 0]),
  },
  {
    weight: 1,
    arbitrary: fc.integer({ min: BUFFERS_AT, max: MEM_BASE + MEM_SIZE }).map((a): [number, number] => [a, 0]),
  },
  {
    weight: 3,
    arbitrary: fc.constantFrom(TABLE_AT, TABLE_AT, TABLE_AT + 16, MEM_BASE).map((a): [number, number] => [a, 0]),
  },
  {
    weight: 1,
    arbitrary: fc.tuple(fc.integer({ min: 0, max: 0xffff_ffff }), fc.integer({ min: 0, max: 0xffff_ffff })),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom<[number, number]>([0xffff_fff0, 0], [0, 0x20_0000], [0xffff_ffff, 0xffff_ffff]),
  },
);

/** One raw 16-byte descriptor (split: addr, len, flags, next; packed: addr, len, id, flags). */
export interface RawDesc {
  addr: [number, number];
  len: number;
  /** Split flags / packed id. */
  a: number;
  /** Split next / packed flags. */
  b: number;
}

/** The 16 bytes of a raw descriptor. */
export function encodeRaw(d: RawDesc): Uint8Array {
  const out = new Uint8Array(16);
  le.setU32(out, 0, d.addr[0]);
  le.setU32(out, 4, d.addr[1]);
  le.setU32(out, 8, d.len);
  le.setU16(out, 12, d.a);
  le.setU16(out, 14, d.b);
  return out;
}

/** Ring features, every combination. */
export function featuresArb(format: RingFeatures["format"]): fc.Arbitrary<RingFeatures> {
  return fc.record({
    format: fc.constant(format),
    indirect: fc.boolean(),
    eventIdx: fc.boolean(),
    inOrder: fc.boolean(),
    notificationData: fc.boolean(),
  });
}

/** Byte patches: raw bytes written anywhere in memory after the structured content. */
export const patches: fc.Arbitrary<{ at: number; bytes: Uint8Array }[]> = fc.array(
  fc.record({
    at: fc.integer({ min: 0, max: MEM_SIZE - 1 }),
    bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }),
  }),
  { maxLength: 3 },
);

/** Writes the patches into `mem` (clipped at its end). */
export function applyPatches(mem: ArrayMemory, ps: readonly { at: number; bytes: Uint8Array }[]): void {
  for (const p of ps) mem.bytes.set(p.bytes.subarray(0, MEM_SIZE - p.at), p.at);
}

/**
 * Checks what a device-side walk returned: every buffer inside guest memory,
 * no device-readable buffer after a device-writable one.
 */
export function checkWalkedBuffers(
  what: string,
  buffers: readonly { addr: number; len: number; writable: boolean }[],
): void {
  let seenWritable = false;
  for (const x of buffers) {
    if (x.addr < MEM_BASE || x.addr + x.len > MEM_BASE + MEM_SIZE) {
      throw new FuzzFailure(`${what} returned a buffer outside memory: 0x${x.addr.toString(16)}+${x.len}`);
    }
    if (seenWritable && !x.writable) throw new FuzzFailure(`${what} returned a readable buffer after a writable one`);
    seenWritable ||= x.writable;
  }
}

/** Checks that a driver-side harvest returned only ids that were outstanding, each once. */
export function checkHarvested(used: readonly { id: number }[], outstanding: readonly number[]): void {
  const left = new Set(outstanding);
  for (const e of used) {
    if (!left.delete(e.id)) throw new FuzzFailure(`harvest returned id ${e.id}, not outstanding`);
  }
}
