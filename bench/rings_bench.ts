/**
 * `deno task bench`: ring operations per second of the split and packed
 * codecs over {@link ArrayMemory}. One operation is a whole round trip of one
 * buffer: driver add + publish, device take + pushUsed, driver harvest; once
 * with a 1-descriptor buffer, once with a 3-descriptor chain (one readable,
 * two writable).
 *
 * Each group has two hand-written references over the same memory, in the
 * same run:
 * - the baseline: a minimal ring loop making the same memory accesses as the
 *   codec (same count, sizes and order, printed in the names) through the
 *   same async `read`/`write` interface, so the ratio is the codec's own
 *   bookkeeping and checking;
 * - a loop on the raw bytes (DataView), no async interface at all: the floor.
 *
 * @module
 */
import { ArrayMemory, BumpAllocator, type GuestMemory, le, TracedMemory } from "../harness/memory.ts";
import type { BufferSpec, DeviceQueue, DriverQueue, RingFeatures } from "../harness/virtqueue/queue.ts";
import { PackedDeviceQueue, PackedDriverQueue } from "../harness/virtqueue/packed.ts";
import { SplitDeviceQueue, SplitDriverQueue } from "../harness/virtqueue/split.ts";

const BASE = 0x10_0000;
const SIZE = 256;
const DATA = BASE + 0x8000;
/** Iterations and warm-up of every bench: enough that a GC pause does not decide the average. */
const ITER = { n: 50_000, warmup: 5_000 };

const features = (format: "split" | "packed"): RingFeatures => ({
  format,
  indirect: false,
  eventIdx: false,
  inOrder: false,
  notificationData: false,
});

/** The chain of one operation: `n` buffers, the first readable when there are several. */
function chain(n: number): BufferSpec[] {
  return Array.from({ length: n }, (_, i) => ({ addr: DATA + 0x100 * i, len: 64, writable: n === 1 || i > 0 }));
}

/** One round trip through the codecs. */
async function codecOp(driver: DriverQueue, device: DeviceQueue, buffers: BufferSpec[]): Promise<void> {
  const id = await driver.add(buffers);
  await driver.publish(id);
  const b = await device.take();
  await device.pushUsed(b!.id, 64);
  const used = await driver.harvest();
  if (used.length !== 1) throw new Error(`harvested ${used.length} elements`);
}

async function codecPair(format: "split" | "packed", mem: GuestMemory) {
  const alloc = new BumpAllocator(BASE, DATA);
  const f = features(format);
  const driver = format === "split"
    ? await SplitDriverQueue.create(mem, alloc, 0, SIZE, f)
    : await PackedDriverQueue.create(mem, alloc, 0, SIZE, f);
  const device = format === "split"
    ? new SplitDeviceQueue(mem, driver.addrs, f)
    : new PackedDeviceQueue(mem, driver.addrs, f);
  return { driver, device };
}

// ---------------------------------------------------------------------------------------------------------------------
// Hand-written split ring: descriptor table at 0, avail ring at 16*SIZE, used ring after it; descriptors handed out
// round-robin (every buffer comes back before the next op).

const SPLIT_DESC = BASE;
const SPLIT_AVAIL = SPLIT_DESC + 16 * SIZE;
const SPLIT_USED = SPLIT_AVAIL + 0x1000;

/** The split round trip through the async interface: the accesses a codec needs, nothing else. */
function splitAsync(mem: GuestMemory, n: number) {
  let next = 0; // next free descriptor
  let avail = 0; // driver's avail idx
  let lastAvail = 0; // device's position
  let used = 0; // device's used idx
  let lastUsed = 0; // driver's position
  const buffers = chain(n);
  return async () => {
    const head = next;
    for (let k = 0; k < n; k++) {
      const d = new Uint8Array(16);
      const b = buffers[k]!;
      le.setU64(d, 0, b.addr);
      le.setU32(d, 8, b.len);
      le.setU16(d, 12, (b.writable ? 2 : 0) | (k + 1 < n ? 1 : 0));
      le.setU16(d, 14, (next + 1) % SIZE);
      await mem.write(SPLIT_DESC + 16 * next, d);
      next = (next + 1) % SIZE;
    }
    const e = new Uint8Array(2);
    le.setU16(e, 0, head);
    await mem.write(SPLIT_AVAIL + 4 + 2 * (avail % SIZE), e);
    avail = (avail + 1) & 0xffff;
    const idx = new Uint8Array(2);
    le.setU16(idx, 0, avail);
    await mem.write(SPLIT_AVAIL + 2, idx);
    // Device.
    const seen = le.u16(await mem.read(SPLIT_AVAIL + 2, 2), 0);
    if (seen === lastAvail) throw new Error("nothing available");
    const h = le.u16(await mem.read(SPLIT_AVAIL + 4 + 2 * (lastAvail % SIZE), 2), 0);
    lastAvail = (lastAvail + 1) & 0xffff;
    let at = h;
    for (let k = 0;; k++) {
      const d = await mem.read(SPLIT_DESC + 16 * at, 16);
      if (!(le.u16(d, 12) & 1) || k >= SIZE) break;
      at = le.u16(d, 14);
    }
    const u = new Uint8Array(8);
    le.setU32(u, 0, h);
    le.setU32(u, 4, 64);
    await mem.write(SPLIT_USED + 4 + 8 * (used % SIZE), u);
    used = (used + 1) & 0xffff;
    const ui = new Uint8Array(2);
    le.setU16(ui, 0, used);
    await mem.write(SPLIT_USED + 2, ui);
    // Driver harvest.
    const uidx = le.u16(await mem.read(SPLIT_USED + 2, 2), 0);
    for (; lastUsed !== uidx; lastUsed = (lastUsed + 1) & 0xffff) {
      const el = await mem.read(SPLIT_USED + 4 + 8 * (lastUsed % SIZE), 8);
      if (le.u32(el, 0) !== head) throw new Error("wrong id");
    }
  };
}

/** The split round trip on the raw bytes. */
function splitRaw(mem: ArrayMemory, n: number) {
  const v = new DataView(mem.bytes.buffer, mem.bytes.byteOffset, mem.bytes.byteLength);
  const o = (addr: number) => addr - mem.base;
  let next = 0, avail = 0, lastAvail = 0, used = 0, lastUsed = 0;
  const buffers = chain(n);
  return () => {
    const head = next;
    for (let k = 0; k < n; k++) {
      const b = buffers[k]!;
      const d = o(SPLIT_DESC + 16 * next);
      v.setUint32(d, b.addr, true);
      v.setUint32(d + 4, 0, true);
      v.setUint32(d + 8, b.len, true);
      v.setUint16(d + 12, (b.writable ? 2 : 0) | (k + 1 < n ? 1 : 0), true);
      v.setUint16(d + 14, (next + 1) % SIZE, true);
      next = (next + 1) % SIZE;
    }
    v.setUint16(o(SPLIT_AVAIL + 4 + 2 * (avail % SIZE)), head, true);
    avail = (avail + 1) & 0xffff;
    v.setUint16(o(SPLIT_AVAIL + 2), avail, true);
    if (v.getUint16(o(SPLIT_AVAIL + 2), true) === lastAvail) throw new Error("nothing available");
    const h = v.getUint16(o(SPLIT_AVAIL + 4 + 2 * (lastAvail % SIZE)), true);
    lastAvail = (lastAvail + 1) & 0xffff;
    let at = h;
    for (let k = 0; (v.getUint16(o(SPLIT_DESC + 16 * at + 12), true) & 1) && k < SIZE; k++) {
      at = v.getUint16(o(SPLIT_DESC + 16 * at + 14), true);
    }
    v.setUint32(o(SPLIT_USED + 4 + 8 * (used % SIZE)), h, true);
    v.setUint32(o(SPLIT_USED + 8 + 8 * (used % SIZE)), 64, true);
    used = (used + 1) & 0xffff;
    v.setUint16(o(SPLIT_USED + 2), used, true);
    const uidx = v.getUint16(o(SPLIT_USED + 2), true);
    for (; lastUsed !== uidx; lastUsed = (lastUsed + 1) & 0xffff) {
      if (v.getUint32(o(SPLIT_USED + 4 + 8 * (lastUsed % SIZE)), true) !== head) throw new Error("wrong id");
    }
  };
}

// ---------------------------------------------------------------------------------------------------------------------
// Hand-written packed ring: descriptor ring at 0; one buffer in flight at a time, so the used descriptor goes to the
// buffer's first slot and both cursors move together.

const PACKED_DESC = BASE;
const AVAIL = 1 << 7;
const USED = 1 << 15;

/** The packed round trip through the async interface. */
function packedAsync(mem: GuestMemory, n: number) {
  let pos = 0;
  let wrap = 1;
  const buffers = chain(n);
  return async () => {
    const head = pos;
    const headWrap = wrap;
    const availFlags = (w: number) => (w ? AVAIL : USED);
    let p = pos, w = wrap, headFlags = 0;
    for (let k = 0; k < n; k++) {
      const b = buffers[k]!;
      const d = new Uint8Array(16);
      le.setU64(d, 0, b.addr);
      le.setU32(d, 8, b.len);
      le.setU16(d, 12, 0);
      const flags = (b.writable ? 2 : 0) | (k + 1 < n ? 1 : 0) | availFlags(w);
      le.setU16(d, 14, flags);
      if (k === 0) {
        headFlags = flags;
        await mem.write(PACKED_DESC + 16 * p, d.subarray(0, 14));
      } else {
        await mem.write(PACKED_DESC + 16 * p, d);
      }
      if (++p === SIZE) (p = 0, w ^= 1);
    }
    const hf = new Uint8Array(2);
    le.setU16(hf, 0, headFlags);
    await mem.write(PACKED_DESC + 16 * head + 14, hf);
    // Device: read the chain.
    let q = head, qw = headWrap;
    for (let k = 0; k < n; k++) {
      const d = await mem.read(PACKED_DESC + 16 * q, 16);
      const f = le.u16(d, 14);
      if (((f & AVAIL) !== 0) !== (qw === 1) || ((f & USED) !== 0) === (qw === 1)) throw new Error("not available");
      if (++q === SIZE) (q = 0, qw ^= 1);
      if (!(f & 1)) break;
    }
    const body = new Uint8Array(6);
    le.setU32(body, 0, 64);
    le.setU16(body, 4, 0);
    await mem.write(PACKED_DESC + 16 * head + 8, body);
    const uf = new Uint8Array(2);
    le.setU16(uf, 0, (headWrap ? AVAIL | USED : 0) | 2);
    await mem.write(PACKED_DESC + 16 * head + 14, uf);
    // Driver harvest: the used descriptor, then the next slot (not used).
    const d = await mem.read(PACKED_DESC + 16 * head, 16);
    if (((le.u16(d, 14) & USED) !== 0) !== (headWrap === 1)) throw new Error("not used");
    pos = p;
    wrap = w;
    await mem.read(PACKED_DESC + 16 * pos, 16);
  };
}

/** The packed round trip on the raw bytes. */
function packedRaw(mem: ArrayMemory, n: number) {
  const v = new DataView(mem.bytes.buffer, mem.bytes.byteOffset, mem.bytes.byteLength);
  const o = (addr: number) => addr - mem.base;
  let pos = 0;
  let wrap = 1;
  const buffers = chain(n);
  return () => {
    const head = pos;
    const headWrap = wrap;
    let p = pos, w = wrap, headFlags = 0;
    for (let k = 0; k < n; k++) {
      const b = buffers[k]!;
      const d = o(PACKED_DESC + 16 * p);
      v.setUint32(d, b.addr, true);
      v.setUint32(d + 4, 0, true);
      v.setUint32(d + 8, b.len, true);
      v.setUint16(d + 12, 0, true);
      const flags = (b.writable ? 2 : 0) | (k + 1 < n ? 1 : 0) | (w ? AVAIL : USED);
      if (k === 0) headFlags = flags;
      else v.setUint16(d + 14, flags, true);
      if (++p === SIZE) (p = 0, w ^= 1);
    }
    v.setUint16(o(PACKED_DESC + 16 * head + 14), headFlags, true);
    let q = head, qw = headWrap;
    for (let k = 0; k < n; k++) {
      const f = v.getUint16(o(PACKED_DESC + 16 * q + 14), true);
      if (((f & AVAIL) !== 0) !== (qw === 1) || ((f & USED) !== 0) === (qw === 1)) throw new Error("not available");
      if (++q === SIZE) (q = 0, qw ^= 1);
      if (!(f & 1)) break;
    }
    v.setUint32(o(PACKED_DESC + 16 * head + 8), 64, true);
    v.setUint16(o(PACKED_DESC + 16 * head + 12), 0, true);
    v.setUint16(o(PACKED_DESC + 16 * head + 14), (headWrap ? AVAIL | USED : 0) | 2, true);
    if (((v.getUint16(o(PACKED_DESC + 16 * head + 14), true) & USED) !== 0) !== (headWrap === 1)) {
      throw new Error("not used");
    }
    pos = p;
    wrap = w;
    void v.getUint16(o(PACKED_DESC + 16 * pos + 14), true);
  };
}

// ---------------------------------------------------------------------------------------------------------------------

/** Memory accesses of one operation (counted after a warm-up op), as "reads/writes". */
async function accesses(op: (mem: GuestMemory) => Promise<() => Promise<void>>): Promise<string> {
  const traced = new TracedMemory(new ArrayMemory(BASE, 0x10000));
  const run = await op(traced);
  await run();
  traced.accesses.length = 0;
  await run();
  const r = traced.accesses.filter((a) => a.kind === "read");
  const w = traced.accesses.filter((a) => a.kind === "write");
  return `${r.length} reads/${w.length} writes, ${r.reduce((n, a) => n + a.length, 0)}+${
    w.reduce((n, a) => n + a.length, 0)
  } bytes`;
}

for (const format of ["split", "packed"] as const) {
  for (const n of [1, 3]) {
    const group = `${format} ring, ${n === 1 ? "1 descriptor" : "3-descriptor chain"} per op`;
    const codec = async (mem: GuestMemory) => {
      const { driver, device } = await codecPair(format, mem);
      const buffers = chain(n);
      // An async function: Deno.bench awaits only those (a plain function returning a promise would overlap ops).
      return async () => await codecOp(driver, device, buffers);
    };
    const hand = (mem: GuestMemory) => Promise.resolve(format === "split" ? splitAsync(mem, n) : packedAsync(mem, n));
    const [codecTraffic, handTraffic] = [await accesses(codec), await accesses(hand)];

    const handMem = new ArrayMemory(BASE, 0x10000);
    const handOp = await hand(handMem);
    Deno.bench({
      name: `hand-written ${format} loop, async read/write (${handTraffic})`,
      group,
      baseline: true,
      ...ITER,
      fn: handOp,
    });
    const rawMem = new ArrayMemory(BASE, 0x10000);
    const rawOp = format === "split" ? splitRaw(rawMem, n) : packedRaw(rawMem, n);
    Deno.bench({ name: `hand-written ${format} loop, raw bytes (DataView)`, group, ...ITER, fn: rawOp });
    const codecOpFn = await codec(new ArrayMemory(BASE, 0x10000));
    Deno.bench({
      name: `${
        format === "split" ? "SplitDriverQueue/SplitDeviceQueue" : "PackedDriverQueue/PackedDeviceQueue"
      } (${codecTraffic})`,
      group,
      ...ITER,
      fn: codecOpFn,
    });
  }
}
