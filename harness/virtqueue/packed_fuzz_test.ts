/**
 * Fuzzes the packed-ring decoders (spec 2.8) with hostile guest memory:
 *
 * - the device side ({@link PackedDeviceQueue}: available descriptors,
 *   chains, indirect tables, the driver event suppression area) over a ring a
 *   hostile driver wrote;
 * - the driver side ({@link PackedDriverQueue.harvest}: used descriptors) over
 *   a ring a hostile device wrote.
 *
 * Accepted errors: {@link RingError} only (a malformed ring). Walks are
 * bounded by counting guest-memory accesses and every case has a deadline
 * (see `harness/fuzz.ts`).
 */
import fc from "fast-check";
import { assert } from "@std/assert";
import { BumpAllocator, le } from "../memory.ts";
import { type ErrorClass, expectTyped, fuzzAsync } from "../fuzz.ts";
import {
  addr64,
  applyPatches,
  BUFFERS_AT,
  checkHarvested,
  checkWalkedBuffers,
  CountingMemory,
  encodeRaw,
  featuresArb,
  freshMemory,
  indexBelow,
  MEM_BASE,
  MEM_SIZE,
  patches,
  TABLE_AT,
  u32Small,
} from "./ring_fuzz_support.ts";
import { PackedDesc, PackedDeviceQueue, PackedDriverQueue } from "./packed.ts";
import { RingError } from "./split.ts";

/** What the packed ring decoders may throw. */
const ACCEPTED: readonly ErrorClass[] = [RingError];

const DESC_AT = MEM_BASE;
const DRIVER_AT = MEM_BASE + 0x400;
const DEVICE_AT = MEM_BASE + 0x404;

/** Packed sizes need not be powers of two. */
const sizeArb = fc.oneof(fc.integer({ min: 1, max: 8 }), fc.constantFrom(16, 31));

const { NEXT, WRITE, INDIRECT, AVAIL, USED } = PackedDesc;

/** Flags: mostly AVAIL/USED combinations with NEXT/WRITE (sometimes INDIRECT), sometimes anything. */
const packedFlags = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.tuple(
      fc.constantFrom(AVAIL, USED, AVAIL | USED, 0),
      fc.constantFrom(0, NEXT, WRITE, NEXT | WRITE, INDIRECT, INDIRECT | WRITE),
    ).map(([a, b]) => a | b),
  },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff }) },
);

function packedDescArb(n: number) {
  return fc.record({ addr: addr64, len: u32Small, a: indexBelow(n), b: packedFlags }); // a: id, b: flags
}

/** Indirect-table entries: flags mostly 0 or WRITE. */
const tableEntry = fc.record({
  addr: addr64,
  len: u32Small,
  a: fc.integer({ min: 0, max: 0xffff }),
  b: fc.oneof({ weight: 8, arbitrary: fc.constantFrom(0, WRITE) }, { weight: 1, arbitrary: packedFlags }),
});

/** A hostile driver's packed ring. */
const driverRing = sizeArb.chain((n) =>
  fc.record({
    n: fc.constant(n),
    misplaced: fc.oneof(
      { weight: 9, arbitrary: fc.constant(undefined) },
      { weight: 1, arbitrary: fc.integer({ min: -16, max: MEM_BASE + MEM_SIZE + 16 }) },
    ),
    badSize: fc.oneof({ weight: 19, arbitrary: fc.constant(undefined) }, {
      weight: 1,
      arbitrary: fc.constantFrom(0, -1, 32769, 1.5, Number.NaN),
    }),
    descs: fc.array(packedDescArb(n), { minLength: n, maxLength: n }),
    table: fc.array(tableEntry, { maxLength: 8 }),
    driverEvent: fc.tuple(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffff })),
    features: featuresArb("packed"),
    steps: fc.array(fc.record({ use: fc.option(u32Small), rewrite: fc.option(packedDescArb(n)) }), { maxLength: 12 }),
    patches,
  })
);

Deno.test("packed ring fuzz: the device side takes any available ring to buffers or a RingError", async () => {
  await fuzzAsync("packed device take", [driverRing], async (c) => {
    const raw = freshMemory();
    c.descs.forEach((d, i) => raw.bytes.set(encodeRaw(d), DESC_AT - MEM_BASE + 16 * i));
    c.table.forEach((d, i) => raw.bytes.set(encodeRaw(d), TABLE_AT - MEM_BASE + 16 * i));
    le.setU16(raw.bytes, DRIVER_AT - MEM_BASE, c.driverEvent[0]);
    le.setU16(raw.bytes, DRIVER_AT - MEM_BASE + 2, c.driverEvent[1]);
    applyPatches(raw, c.patches);
    const steps = c.steps.length + 1;
    const mem = new CountingMemory(raw, steps * (c.n + 8) + 32);
    const addrs = { size: c.badSize ?? c.n, desc: c.misplaced ?? DESC_AT, driver: DRIVER_AT, device: DEVICE_AT };
    await expectTyped(ACCEPTED, async () => {
      const q = new PackedDeviceQueue(mem, addrs, c.features);
      const taken: number[] = [];
      for (const step of [...c.steps, { use: null, rewrite: null }]) {
        // The driver rewrites the slot the device reads next (a new buffer, or garbage).
        if (step.rewrite) raw.bytes.set(encodeRaw(step.rewrite), DESC_AT - MEM_BASE + 16 * q.availPos.pos);
        const b = await q.take();
        if (b) {
          checkWalkedBuffers("take", b.buffers);
          taken.push(b.id);
        }
        const id = taken.shift();
        if (id !== undefined && step.use !== null) await q.pushUsed(id, step.use);
        else if (id !== undefined) taken.unshift(id);
        await q.needsNotification();
      }
      assert(q.inflight().length <= q.size);
    });
  }, 1000);
});

/** A hostile device's used descriptors for a driver with some buffers outstanding. */
const deviceRing = sizeArb.chain((n) =>
  fc.record({
    n: fc.constant(n),
    features: featuresArb("packed"),
    buffers: fc.array(fc.record({ len: fc.integer({ min: 1, max: 3 }), indirect: fc.boolean() }), { maxLength: n }),
    rounds: fc.array(
      fc.array(fc.tuple(fc.integer({ min: 0, max: n - 1 }), packedDescArb(n)), { maxLength: n }),
      { minLength: 1, maxLength: 3 },
    ),
    deviceEvent: fc.tuple(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffff })),
  })
);

Deno.test("packed ring fuzz: the driver side harvests any used descriptors to elements or a RingError", async () => {
  await fuzzAsync("packed driver harvest", [deviceRing], async (c) => {
    const raw = freshMemory();
    const mem = new CountingMemory(raw, 1 << 30);
    const q = await PackedDriverQueue.create(mem, new BumpAllocator(MEM_BASE, BUFFERS_AT), 0, c.n, c.features);
    for (const b of c.buffers) {
      const indirect = b.indirect && c.features.indirect;
      if (q.freeCount < (indirect ? 1 : b.len)) break;
      const id = await q.add(
        Array.from({ length: b.len }, (_, i) => ({ addr: BUFFERS_AT, len: 16, writable: i > 0 })),
        { indirect },
      );
      await q.publish(id);
    }
    const device = q.addrs.device;
    le.setU16(raw.bytes, device - MEM_BASE, c.deviceEvent[0]);
    le.setU16(raw.bytes, device - MEM_BASE + 2, c.deviceEvent[1]);
    for (const round of c.rounds) {
      for (const [slot, d] of round) raw.bytes.set(encodeRaw(d), q.addrs.desc - MEM_BASE + 16 * slot);
      const outstanding = q.outstanding();
      // One harvest reads at most one descriptor per slot, plus the one that stops it.
      mem.accesses = 0;
      mem.budget = c.n + 2;
      const r = await expectTyped(ACCEPTED, async () => {
        const used = await q.harvest();
        await q.needsKick();
        return used;
      });
      mem.budget = 1 << 30;
      if (r.ok) checkHarvested(r.value, outstanding);
      assert(q.freeCount >= 0 && q.freeCount <= c.n, `free slots ${q.freeCount} outside 0..${c.n}`);
    }
  }, 1000);
});
