/**
 * Fuzzes the split-ring decoders (spec 2.7) with hostile guest memory:
 *
 * - the device side ({@link SplitDeviceQueue}: available ring, descriptor
 *   chains, indirect tables) over rings a hostile driver wrote;
 * - the driver side ({@link SplitDriverQueue.harvest}: the used ring) over a
 *   used ring a hostile device wrote.
 *
 * Accepted errors: {@link RingError} only (a malformed ring). A
 * MemoryAccessError would mean a walker read outside the areas it checked.
 * A walk is bounded by counting guest-memory accesses ({@link CountingMemory})
 * and every case has a deadline. See `harness/fuzz.ts`.
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
  u16Near,
  u32Small,
} from "./ring_fuzz_support.ts";
import { Desc, RingError, SplitDeviceQueue, SplitDriverQueue } from "./split.ts";

/** What the split ring decoders may throw. */
const ACCEPTED: readonly ErrorClass[] = [RingError];

const DESC_AT = MEM_BASE;
const AVAIL_AT = MEM_BASE + 0x400;
const USED_AT = MEM_BASE + 0x600;

const sizeArb = fc.constantFrom(1, 2, 4, 8, 16);

function splitDescArb(n: number) {
  return fc.record({
    addr: addr64,
    len: u32Small,
    a: fc.oneof( // flags
      { weight: 8, arbitrary: fc.constantFrom(0, Desc.NEXT, Desc.WRITE, Desc.NEXT | Desc.WRITE) },
      { weight: 2, arbitrary: fc.integer({ min: 0, max: 7 }) },
      { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff }) },
    ),
    b: indexBelow(n), // next
  });
}

/** A hostile driver's split ring: descriptors, an indirect table, the available ring, raw patches. */
const driverRing = sizeArb.chain((n) =>
  fc.record({
    n: fc.constant(n),
    misplaced: fc.oneof(
      { weight: 9, arbitrary: fc.constant(undefined) },
      { weight: 1, arbitrary: fc.integer({ min: -16, max: MEM_BASE + MEM_SIZE + 16 }) },
    ),
    descs: fc.array(splitDescArb(n), { minLength: n, maxLength: n }),
    table: fc.array(splitDescArb(8), { maxLength: 8 }),
    availFlags: fc.integer({ min: 0, max: 0xffff }),
    availIdx: fc.oneof({ weight: 6, arbitrary: fc.integer({ min: 0, max: n }) }, { weight: 1, arbitrary: u16Near(n) }),
    ring: fc.array(indexBelow(n), { minLength: n + 1, maxLength: n + 1 }), // entries and used_event
    features: featuresArb("split"),
    useLens: fc.array(fc.option(u32Small), { maxLength: 20 }),
    patches,
  })
);

Deno.test("split ring fuzz: the device side walks any available ring to buffers or a RingError", async () => {
  await fuzzAsync("split device walk", [driverRing], async (c) => {
    const raw = freshMemory();
    c.descs.forEach((d, i) => raw.bytes.set(encodeRaw(d), DESC_AT - MEM_BASE + 16 * i));
    c.table.forEach((d, i) => raw.bytes.set(encodeRaw(d), TABLE_AT - MEM_BASE + 16 * i));
    le.setU16(raw.bytes, AVAIL_AT - MEM_BASE, c.availFlags);
    le.setU16(raw.bytes, AVAIL_AT - MEM_BASE + 2, c.availIdx);
    c.ring.forEach((v, i) => le.setU16(raw.bytes, AVAIL_AT - MEM_BASE + 4 + 2 * i, v));
    applyPatches(raw, c.patches);
    // Each take reads at most the avail idx, one ring entry, n descriptors and a table.
    const mem = new CountingMemory(raw, (c.n + 2) * (c.n + 6) + 32);
    const addrs = { size: c.n, desc: c.misplaced ?? DESC_AT, driver: AVAIL_AT, device: USED_AT };
    await expectTyped(ACCEPTED, async () => {
      const q = new SplitDeviceQueue(mem, addrs, c.features);
      for (let k = 0; k < c.n + 2; k++) {
        const b = await q.take();
        if (!b) break;
        checkWalkedBuffers("walk", b.buffers);
        const len = c.useLens[k];
        if (len !== undefined && len !== null) await q.pushUsed(b.id, len);
      }
      await q.needsNotification();
      await q.setNotifications(c.availFlags % 2 === 0);
    });
  }, 1000);
});

/** A hostile device's used ring for a driver with some chains outstanding. */
const deviceRing = sizeArb.chain((n) =>
  fc.record({
    n: fc.constant(n),
    features: featuresArb("split"),
    chains: fc.array(fc.integer({ min: 1, max: 3 }), { maxLength: n }),
    rounds: fc.array(
      fc.record({
        usedIdx: u16Near(n),
        elems: fc.array(fc.tuple(fc.oneof(indexBelow(n), u32Small), u32Small), { minLength: n, maxLength: n }),
      }),
      { minLength: 1, maxLength: 3 },
    ),
  })
);

Deno.test("split ring fuzz: the driver side harvests any used ring to elements or a RingError", async () => {
  await fuzzAsync("split driver harvest", [deviceRing], async (c) => {
    const raw = freshMemory();
    const mem = new CountingMemory(raw, 1 << 30);
    const q = await SplitDriverQueue.create(mem, new BumpAllocator(MEM_BASE, BUFFERS_AT), 0, c.n, c.features);
    for (const len of c.chains) {
      if (q.freeCount < len) break;
      const head = await q.add(Array.from({ length: len }, (_, i) => ({ addr: BUFFERS_AT, len: 16, writable: i > 0 })));
      await q.publish(head);
    }
    const device = q.addrs.device;
    for (const round of c.rounds) {
      le.setU16(raw.bytes, device - MEM_BASE + 2, round.usedIdx);
      round.elems.forEach(([id, len], i) => {
        le.setU32(raw.bytes, device - MEM_BASE + 4 + 8 * i, id);
        le.setU32(raw.bytes, device - MEM_BASE + 8 + 8 * i, len);
      });
      const outstanding = q.outstanding();
      // One harvest reads the used idx and at most n elements.
      mem.accesses = 0;
      mem.budget = c.n + 4;
      const r = await expectTyped(ACCEPTED, () => q.harvest());
      mem.budget = 1 << 30;
      if (r.ok) checkHarvested(r.value, outstanding);
      assert(q.freeCount <= c.n, `free descriptors ${q.freeCount} exceed the queue size ${c.n}`);
    }
  }, 1000);
});
