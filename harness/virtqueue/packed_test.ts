import { assert, assertEquals, assertFalse, assertRejects, assertThrows } from "@std/assert";
import { ArrayMemory, BumpAllocator, le, readU16, TracedMemory } from "../memory.ts";
import type { QueueAddresses } from "../transport/transport.ts";
import { type BufferSpec, decodeNotificationData, type RingFeatures } from "./queue.ts";
import {
  advancePos,
  availBits,
  decodeEventSuppression,
  decodePackedDesc,
  encodeOffWrap,
  encodePackedDesc,
  isAvailable,
  isUsed,
  PackedDesc,
  PackedDeviceQueue,
  PackedDriverQueue,
  packedEventPassed,
  packedLayout,
  RingEvent,
  usedBits,
} from "./packed.ts";
import { RingError } from "./split.ts";

const BASE = 0x4000_0000;
const MEM = 1 << 20;

function features(over: Partial<RingFeatures> = {}): RingFeatures {
  return { format: "packed", indirect: false, eventIdx: false, inOrder: false, notificationData: false, ...over };
}

async function pair(size: number, f: RingFeatures = features()) {
  const mem = new ArrayMemory(BASE, MEM);
  const alloc = new BumpAllocator(BASE, BASE + MEM / 2);
  const drv = await PackedDriverQueue.create(mem, alloc, 3, size, f);
  const dev = new PackedDeviceQueue(mem, drv.addrs, f);
  return { mem, alloc, drv, dev };
}

/** Buffers live in the upper half of memory. */
function buf(n: number, len = 8, writable = false): BufferSpec {
  return { addr: BASE + MEM / 2 + 64 * n, len, writable };
}

function writeDesc(
  mem: ArrayMemory,
  addrs: QueueAddresses,
  slot: number,
  d: { addr: number; len: number; id: number; flags: number },
) {
  return mem.write(addrs.desc + 16 * slot, encodePackedDesc(d));
}

/** A small deterministic generator (xorshift32). */
function rng(seed: number): (n: number) => number {
  let s = seed >>> 0 || 1;
  return (n) => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s % n;
  };
}

Deno.test("packed layout, flags and descriptor encoding", () => {
  assertEquals(packedLayout(5), { desc: 80, driver: 4, device: 4 });
  assertEquals([PackedDesc.NEXT, PackedDesc.WRITE, PackedDesc.INDIRECT], [1, 2, 4]);
  assertEquals([PackedDesc.AVAIL, PackedDesc.USED], [0x80, 0x8000]);
  assertEquals([RingEvent.ENABLE, RingEvent.DISABLE, RingEvent.DESC], [0, 1, 2]);
  const d = { addr: 0x1_2345_6789, len: 0xdeadbeef, id: 0x1234, flags: 0x8083 };
  const b = encodePackedDesc(d);
  assertEquals(b.length, 16);
  assertEquals(le.u16(b, 12), 0x1234);
  assertEquals(decodePackedDesc(b), d);
  assert(isAvailable(availBits(1), 1));
  assert(isAvailable(availBits(0), 0));
  assertFalse(isAvailable(availBits(1), 0));
  assertFalse(isAvailable(0, 1), "a zeroed descriptor is not available");
  assert(isUsed(usedBits(1), 1));
  assert(isUsed(usedBits(0), 0));
  assertFalse(isUsed(usedBits(0), 1));
  assertFalse(isUsed(availBits(1), 1));
  assertEquals(advancePos({ pos: 3, wrap: 1 }, 2, 5), { pos: 0, wrap: 0 });
  assertEquals(advancePos({ pos: 3, wrap: 0 }, 5, 5), { pos: 3, wrap: 1 });
  const ev = new Uint8Array(4);
  le.setU16(ev, 0, encodeOffWrap(7, 1));
  le.setU16(ev, 2, 0x0006);
  assertEquals(decodeEventSuppression(ev), { offWrap: 0x8007, flags: 2, reserved: 1 });
});

Deno.test("packedEventPassed: offsets, wrap counters and long moves", () => {
  const size = 4;
  // Cursor from slot 1 (wrap 1) three slots on: covers 1, 2, 3 of wrap 1.
  assert(packedEventPassed(size, encodeOffWrap(1, 1), { pos: 1, wrap: 1 }, 3));
  assert(packedEventPassed(size, encodeOffWrap(3, 1), { pos: 1, wrap: 1 }, 3));
  assertFalse(packedEventPassed(size, encodeOffWrap(0, 0), { pos: 1, wrap: 1 }, 3), "not reached yet");
  assertFalse(packedEventPassed(size, encodeOffWrap(0, 1), { pos: 1, wrap: 1 }, 3), "behind, from the last pass");
  assertFalse(packedEventPassed(size, encodeOffWrap(3, 0), { pos: 1, wrap: 1 }, 3), "same slot, other pass");
  // Across the end of the ring: slot 3 wrap 0, then 0 and 1 of wrap 1.
  assert(packedEventPassed(size, encodeOffWrap(0, 1), { pos: 3, wrap: 0 }, 3));
  assert(packedEventPassed(size, encodeOffWrap(1, 1), { pos: 3, wrap: 0 }, 3));
  assertFalse(packedEventPassed(size, encodeOffWrap(2, 1), { pos: 3, wrap: 0 }, 3));
  assertFalse(packedEventPassed(size, encodeOffWrap(0, 0), { pos: 3, wrap: 0 }, 3));
  assertFalse(packedEventPassed(size, encodeOffWrap(1, 1), { pos: 1, wrap: 1 }, 0), "no move, no event");
  for (let p = 0; p < size; p++) {
    for (const w of [0, 1]) {
      assert(packedEventPassed(size, encodeOffWrap(p, w), { pos: 2, wrap: 1 }, 2 * size), "a double pass covers all");
      assertEquals(
        packedEventPassed(size, encodeOffWrap(p, w), { pos: 2, wrap: 1 }, 2 * size - 1),
        !(p === 1 && w === 1),
      );
    }
  }
  assertFalse(packedEventPassed(size, encodeOffWrap(4, 1), { pos: 0, wrap: 1 }, 100), "offset outside the ring");
});

Deno.test("packed round trip with wrap-around, chains and out-of-order completion", async () => {
  for (const size of [1, 4, 5, 16]) {
    const { drv, dev } = await pair(size);
    const next = rng(size * 7919);
    let serial = 0;
    let done = 0;
    const expected = new Map<number, BufferSpec[]>();
    while (done < 40 * size) {
      // Fill a few buffers.
      const fills = 1 + next(3);
      let published = false;
      for (let f = 0; f < fills; f++) {
        const n = 1 + next(Math.min(3, size));
        if (n > drv.freeCount) break;
        const readable = next(n + 1);
        const chain = Array.from({ length: n }, (_, i) => buf(serial++ % 1000, 4 + i, i >= readable));
        const id = await drv.add(chain);
        assert(id >= 0 && id < size);
        assertEquals(await dev.hasAvailable(), published, "an added buffer is not available before publish");
        await drv.publish(id);
        published = true;
        assert(await dev.hasAvailable());
        expected.set(id, chain);
      }
      // Take everything available, complete in a shuffled order.
      const taken = [];
      for (let b = await dev.take(); b; b = await dev.take()) taken.push(b);
      assertFalse(await dev.hasAvailable());
      for (let i = taken.length - 1; i > 0; i--) {
        const j = next(i + 1);
        [taken[i], taken[j]] = [taken[j]!, taken[i]!];
      }
      for (const b of taken) {
        assertEquals(b.buffers, expected.get(b.id));
        assertEquals(b.slots, b.buffers.length);
        const written = b.buffers.filter((x) => x.writable).reduce((s, x) => s + x.len, 0);
        await dev.pushUsed(b.id, written);
      }
      const used = await drv.harvest();
      assertEquals(used.map((u) => u.id), taken.map((b) => b.id));
      for (const u of used) {
        const chain = expected.get(u.id)!;
        assertEquals(u.len, chain.filter((x) => x.writable).reduce((s, x) => s + x.len, 0));
        assertEquals(u.implied, undefined);
        expected.delete(u.id);
      }
      assertEquals(await drv.harvest(), []);
      done += used.length;
      assertEquals(drv.outstanding(), []);
      assertEquals(drv.freeCount, size);
      assertEquals(drv.usedPos, drv.publishedPos);
      assertEquals(dev.usedPos, dev.availPos);
      assertEquals(dev.availPos, drv.nextPos);
    }
    assert(drv.usedPos.pos < size);
  }
});

Deno.test("packed chain: id in the last descriptor, head flags written last and alone", async () => {
  const base = new ArrayMemory(BASE, MEM);
  const mem = new TracedMemory(base);
  const alloc = new BumpAllocator(BASE, BASE + MEM / 2);
  const f = features();
  const drv = await PackedDriverQueue.create(mem, alloc, 0, 4, f);
  // Move the start to slot 2 so the chain wraps.
  const warm = await drv.add([buf(0)]);
  await drv.publish(warm);
  const warm2 = await drv.add([buf(0)]);
  await drv.publish(warm2);
  const dev = new PackedDeviceQueue(base, drv.addrs, f);
  await dev.take();
  await dev.take();
  await dev.pushUsed(warm, 0);
  await dev.pushUsed(warm2, 0);
  assertEquals((await drv.harvest()).length, 2);
  const id = await drv.add([buf(1), buf(2), buf(3, 8, true)]);
  const headFlagsAddr = drv.addrs.desc + 16 * 2 + 14;
  assertEquals(await readU16(base, headFlagsAddr), 0, "the head's flags are not written yet");
  assertFalse(await dev.hasAvailable());
  mem.accesses.length = 0;
  await drv.publish(id);
  assertEquals(mem.accesses, [{ kind: "write", addr: headFlagsAddr, length: 2 }]);
  const d0 = decodePackedDesc(await base.read(drv.addrs.desc, 16));
  assertEquals(d0.flags, availBits(0) | PackedDesc.WRITE, "the last element is in slot 0 with the flipped wrap");
  assertEquals(d0.id, id);
  const b = await dev.take();
  assertEquals(b?.id, id);
  assertEquals(b?.slots, 3);
  assertEquals(b?.buffers.map((x) => x.writable), [false, false, true]);
  await dev.pushUsed(id, 5);
  const u = decodePackedDesc(await base.read(drv.addrs.desc + 32, 16));
  assertEquals(u.flags, usedBits(1) | PackedDesc.WRITE);
  assertEquals([u.id, u.len], [id, 5]);
  assertEquals(await drv.harvest(), [{ id, len: 5 }]);
  assertEquals(drv.usedPos, { pos: 1, wrap: 0 });
  // Slot 1 still holds the used descriptor of the last pass: added again, it stays unavailable until published.
  const again = await drv.add([buf(4)]);
  assertEquals(await readU16(base, drv.addrs.desc + 16 + 14), usedBits(1));
  assertFalse(await dev.hasAvailable());
  assertEquals(await dev.take(), undefined);
  await drv.publish(again);
  assertEquals((await dev.take())?.id, again);
});

Deno.test("packed pushUsed writes id and len before the flags, WRITE only with a length", async () => {
  const base = new ArrayMemory(BASE, MEM);
  const mem = new TracedMemory(base);
  const alloc = new BumpAllocator(BASE, BASE + MEM / 2);
  const drv = await PackedDriverQueue.create(base, alloc, 0, 2, features());
  const dev = new PackedDeviceQueue(mem, drv.addrs, features());
  const a = await drv.add([buf(0, 8, true)]);
  await drv.publish(a);
  await dev.take();
  mem.accesses.length = 0;
  await dev.pushUsed(a, 0);
  assertEquals(mem.accesses, [
    { kind: "write", addr: drv.addrs.desc + 8, length: 6 },
    { kind: "write", addr: drv.addrs.desc + 14, length: 2 },
  ]);
  assertEquals(await readU16(base, drv.addrs.desc + 14), usedBits(1));
  assertEquals(await drv.harvest(), [{ id: a, len: 0 }]);
  // A length without WRITE is reserved: the driver reports 0.
  const b = await drv.add([buf(1, 8, true)]);
  await drv.publish(b);
  await writeDesc(base, drv.addrs, 1, { addr: 0, len: 99, id: b, flags: usedBits(1) });
  assertEquals(await drv.harvest(), [{ id: b, len: 0 }]);
});

Deno.test("packed indirect buffers: one slot, sequential table, table reused per id", async () => {
  const f = features({ indirect: true });
  const { drv, dev, mem, alloc } = await pair(2, f);
  const chain = [buf(0, 16), buf(1, 32), buf(2, 48, true), buf(3, 8, true)];
  let firstTable = -1;
  for (let round = 0; round < 10; round++) {
    const id = await drv.add(chain, { indirect: true });
    assertEquals(drv.freeCount, 1);
    const ring = decodePackedDesc(await mem.read(drv.addrs.desc + 16 * (round % 2), 16));
    assertEquals(ring.len, 64);
    assertEquals(ring.id, id);
    if (firstTable < 0) firstTable = ring.addr;
    const entries = await mem.read(ring.addr, 64);
    for (let i = 0; i < 4; i++) assertEquals(decodePackedDesc(entries, 16 * i).flags & ~PackedDesc.WRITE, 0);
    await drv.publish(id);
    const b = await dev.take();
    assertEquals(b, { id, buffers: chain, slots: 1 });
    await dev.pushUsed(id, 56);
    assertEquals(await drv.harvest(), [{ id, len: 56 }]);
  }
  // Two ids alternate, so at most two tables were allocated.
  const used = alloc.alloc(1, 1) - BASE;
  assert(used < 200 + 2 * 64 + 16, `allocator used ${used} bytes`);
  await assertRejects(
    async () => {
      const q = await PackedDriverQueue.create(mem, alloc, 1, 2, features());
      await q.add(chain, { indirect: true });
    },
    RangeError,
    "VIRTIO_F_INDIRECT_DESC",
  );
});

Deno.test("packed in-order: one used descriptor for a batch implies the older buffers", async () => {
  const f = features({ inOrder: true });
  const { drv, dev } = await pair(5, f);
  for (let round = 0; round < 12; round++) {
    const a = await drv.add([buf(0)]);
    const b = await drv.add([buf(1), buf(2, 4, true)]);
    const c = await drv.add([buf(3, 4, true)]);
    for (const id of [a, b, c]) await drv.publish(id);
    const taken = [await dev.take(), await dev.take(), await dev.take()];
    assertEquals(taken.map((t) => t?.slots), [1, 2, 1]);
    assertEquals(await dev.take(), undefined);
    await dev.pushUsed(c, 4);
    assertEquals(dev.inflight(), []);
    assertEquals(await drv.harvest(), [
      { id: a, len: 0, implied: true },
      { id: b, len: 0, implied: true },
      { id: c, len: 4 },
    ]);
    assertEquals(drv.freeCount, 5);
    assertEquals(drv.usedPos, dev.usedPos);
    // Then one by one.
    const d = await drv.add([buf(4, 4, true)]);
    await drv.publish(d);
    await dev.take();
    await dev.pushUsed(d, 2);
    assertEquals(await drv.harvest(), [{ id: d, len: 2 }]);
  }
});

Deno.test("packed used-buffer notifications: ENABLE, DISABLE, DESC across the wrap", async () => {
  const f = features({ eventIdx: true });
  const { drv, dev } = await pair(4, f);
  const cycle = async (n: number) => {
    const ids = [];
    for (let i = 0; i < n; i++) {
      const id = await drv.add([buf(i)]);
      await drv.publish(id);
      ids.push(id);
    }
    for (let i = 0; i < n; i++) await dev.take();
    for (const id of ids) await dev.pushUsed(id, 0);
    await drv.harvest();
  };
  assertFalse(await dev.needsNotification(), "nothing used yet");
  await cycle(1);
  assert(await dev.needsNotification(), "ENABLE after a use");
  assertFalse(await dev.needsNotification(), "a new batch starts empty");
  await drv.setUsedNotifications({ kind: "disable" });
  await cycle(2);
  assertFalse(await dev.needsNotification());
  // Device used position is slot 3, wrap 1. Ask for the event at slot 0 of wrap 0 (after the wrap).
  assertEquals(dev.usedPos, { pos: 3, wrap: 1 });
  await drv.setUsedNotifications({ kind: "at", at: encodeOffWrap(0, 0) });
  await cycle(1); // uses slot 3
  assertFalse(await dev.needsNotification(), "slot 3 is before the event");
  await cycle(1); // uses slot 0 of wrap 0
  assert(await dev.needsNotification(), "slot 0 of wrap 0 was used");
  await cycle(3); // slots 1..3 of wrap 0
  assertFalse(await dev.needsNotification(), "the event is behind");
  await cycle(2); // slots 0, 1 of wrap 1
  assertFalse(await dev.needsNotification(), "same offset, other wrap counter");
  // Several buffers in one batch across the wrap.
  await drv.setUsedNotifications({ kind: "at", at: encodeOffWrap(0, 0) });
  await cycle(3); // slots 2, 3 of wrap 1, 0 of wrap 0
  assert(await dev.needsNotification());
  // Without EVENT_IDX, DESC is treated as ENABLE by the device and refused by the driver.
  const plain = await pair(4);
  await assertRejects(
    () => plain.drv.setUsedNotifications({ kind: "at", at: 0 }),
    RangeError,
    "VIRTIO_F_EVENT_IDX",
  );
  await plain.mem.write(plain.drv.addrs.driver, new Uint8Array([0, 0x80, RingEvent.DESC, 0]));
  const id = await plain.drv.add([buf(0)]);
  await plain.drv.publish(id);
  await plain.dev.take();
  await plain.dev.pushUsed(id, 0);
  assert(await plain.dev.needsNotification());
  await assertRejects(() => drv.setUsedNotifications({ kind: "at", at: encodeOffWrap(4, 0) }), RangeError);
});

Deno.test("packed available-buffer notifications and notification data", async () => {
  const f = features({ eventIdx: true, notificationData: true });
  const { drv, dev } = await pair(4, f);
  const round = async (n: number) => {
    for (let i = 0; i < n; i++) await drv.publish(await drv.add([buf(i)]));
    const r = await drv.needsKick();
    for (let b = await dev.take(); b; b = await dev.take()) await dev.pushUsed(b.id, 0);
    await drv.harvest();
    return r;
  };
  assertEquals(decodeNotificationData(drv.notificationData()), { vq: 3, nextOff: 0, wrap: 1 });
  assertFalse(await drv.needsKick(), "nothing published");
  assert(await round(1));
  await dev.setNotifications(false);
  assertFalse(await round(2));
  await dev.setNotifications(true);
  assert(await round(1)); // slot 3 -> position 0 of wrap 0
  assertEquals(decodeNotificationData(drv.notificationData()), { vq: 3, nextOff: 0, wrap: 0 });
  await dev.setDeviceEvent({ kind: "at", at: encodeOffWrap(2, 0) });
  assertFalse(await round(2), "slots 0 and 1 are before the event");
  assert(await round(3), "slots 2, 3 of wrap 0 and 0 of wrap 1");
  assertFalse(await round(3), "the event is behind");
  // An added but unpublished buffer does not move the notification data.
  const id = await drv.add([buf(0)]);
  const before = decodeNotificationData(drv.notificationData());
  assertEquals(before, { vq: 3, nextOff: 0, wrap: 0 });
  await drv.publish(id);
  assertEquals(decodeNotificationData(drv.notificationData()), { vq: 3, nextOff: 1, wrap: 0 });
  const plain = await pair(4);
  await assertRejects(() => plain.dev.setDeviceEvent({ kind: "at", at: 0 }), RangeError);
});

Deno.test("packed driver bookkeeping: free slots, publish order, outstanding", async () => {
  const { drv } = await pair(4);
  await assertRejects(() => drv.add([]), RangeError);
  const a = await drv.add([buf(0), buf(1)]);
  const b = await drv.add([buf(2)]);
  assertEquals(drv.freeCount, 1);
  await assertRejects(() => drv.add([buf(3), buf(4)]), RangeError, "1 free ring slots");
  await assertRejects(() => drv.publish(b), RangeError, "order they were added");
  await assertRejects(() => drv.publish(77), RangeError);
  await drv.publish(a);
  await assertRejects(() => drv.publish(a), RangeError, "already published");
  await drv.publish(b);
  assertEquals(drv.outstanding(), [a, b]);
  await assertRejects(
    () => PackedDriverQueue.create(new ArrayMemory(BASE, 4096), new BumpAllocator(BASE, BASE + 4096), 0, 0, features()),
    RangeError,
  );
});

Deno.test("packed hostile rings: over-long and broken chains are RingErrors", async () => {
  const size = 4;
  const check = async (
    setup: (mem: ArrayMemory, addrs: QueueAddresses) => Promise<void>,
    msg: string,
    f: RingFeatures = features({ indirect: true }),
  ) => {
    const { mem, drv } = await pair(size, f);
    await setup(mem, drv.addrs);
    const dev = new PackedDeviceQueue(mem, drv.addrs, f);
    const before = dev.availPos;
    await assertRejects(() => dev.take(), RingError, msg);
    assertEquals(dev.availPos, before, "a failed take does not move the device");
  };
  const avail = availBits(1);
  const ok = (n: number) => BASE + MEM / 2 + 64 * n;
  await check(async (mem, a) => {
    for (let s = 0; s < size; s++) {
      await writeDesc(mem, a, s, { addr: ok(s), len: 4, id: s, flags: avail | PackedDesc.NEXT });
    }
  }, "longer than the queue size 4");
  await check(async (mem, a) => {
    await writeDesc(mem, a, 0, { addr: ok(0), len: 4, id: 0, flags: avail | PackedDesc.NEXT });
    await writeDesc(mem, a, 1, { addr: ok(1), len: 4, id: 0, flags: availBits(0) });
  }, "ring slot 1 (wrap 1), which is not available");
  await check(async (mem, a) => {
    await writeDesc(mem, a, 0, { addr: BASE + MEM - 2, len: 4, id: 0, flags: avail });
  }, "outside guest memory");
  await check(async (mem, a) => {
    await writeDesc(mem, a, 0, { addr: ok(0), len: 4, id: 0, flags: avail | PackedDesc.NEXT | PackedDesc.WRITE });
    await writeDesc(mem, a, 1, { addr: ok(1), len: 4, id: 0, flags: avail });
  }, "device-readable buffer after a device-writable one");
  await check(async (mem, a) => {
    await writeDesc(mem, a, 0, { addr: ok(0), len: 32, id: 0, flags: avail | PackedDesc.INDIRECT | PackedDesc.NEXT });
    await writeDesc(mem, a, 1, { addr: ok(1), len: 4, id: 0, flags: avail });
  }, "both INDIRECT and NEXT");
  await check(async (mem, a) => {
    await writeDesc(mem, a, 0, { addr: ok(1), len: 4, id: 0, flags: avail | PackedDesc.NEXT });
    await writeDesc(mem, a, 1, { addr: ok(0), len: 32, id: 0, flags: avail | PackedDesc.INDIRECT });
  }, "INDIRECT inside a chain");
  await check(
    async (mem, a) => {
      await writeDesc(mem, a, 0, { addr: ok(0), len: 32, id: 0, flags: avail | PackedDesc.INDIRECT });
    },
    "VIRTIO_F_INDIRECT_DESC is not negotiated",
    features(),
  );
  await check(async (mem, a) => {
    await writeDesc(mem, a, 0, { addr: ok(0), len: 24, id: 0, flags: avail | PackedDesc.INDIRECT });
  }, "not a non-zero multiple of 16");
  await check(async (mem, a) => {
    await writeDesc(mem, a, 0, { addr: ok(0), len: 0, id: 0, flags: avail | PackedDesc.INDIRECT });
  }, "not a non-zero multiple of 16");
  await check(async (mem, a) => {
    await writeDesc(mem, a, 0, { addr: BASE + MEM - 16, len: 32, id: 0, flags: avail | PackedDesc.INDIRECT });
  }, "Indirect table in ring slot 0 (wrap 1) at");
  for (const bad of [PackedDesc.NEXT, PackedDesc.INDIRECT, PackedDesc.AVAIL]) {
    await check(async (mem, a) => {
      await mem.write(ok(10), encodePackedDesc({ addr: ok(1), len: 4, id: 0, flags: 0 }));
      await mem.write(ok(10) + 16, encodePackedDesc({ addr: ok(2), len: 4, id: 0, flags: bad | PackedDesc.WRITE }));
      await writeDesc(mem, a, 0, { addr: ok(10), len: 32, id: 0, flags: avail | PackedDesc.INDIRECT });
    }, "indirect entry 1 of ring slot 0 (wrap 1): flags");
  }
  await check(async (mem, a) => {
    await mem.write(ok(10), encodePackedDesc({ addr: ok(1), len: 4, id: 0, flags: PackedDesc.WRITE }));
    await mem.write(ok(10) + 16, encodePackedDesc({ addr: ok(2), len: 4, id: 0, flags: 0 }));
    await writeDesc(mem, a, 0, { addr: ok(10), len: 32, id: 0, flags: avail | PackedDesc.INDIRECT });
  }, "indirect entry 1 of ring slot 0 (wrap 1): device-readable buffer after a device-writable one");
  await check(async (mem, a) => {
    await mem.write(ok(10), encodePackedDesc({ addr: BASE + MEM, len: 1, id: 0, flags: 0 }));
    await writeDesc(mem, a, 0, { addr: ok(10), len: 16, id: 0, flags: avail | PackedDesc.INDIRECT });
  }, "indirect entry 0 of ring slot 0 (wrap 1): buffer");
});

Deno.test("packed hostile rings: ids in flight, unknown used ids, overfull rings", async () => {
  {
    // The same id made available twice while in flight.
    const { mem, drv, dev } = await pair(4);
    await writeDesc(mem, drv.addrs, 0, { addr: BASE + MEM / 2, len: 4, id: 9, flags: availBits(1) });
    await writeDesc(mem, drv.addrs, 1, { addr: BASE + MEM / 2, len: 4, id: 9, flags: availBits(1) });
    assertEquals((await dev.take())?.id, 9);
    await assertRejects(() => dev.take(), RingError, "Buffer id 9 at ring slot 1 (wrap 1) is already in flight");
    await assertRejects(() => dev.pushUsed(3, 0), RingError, "not in flight");
  }
  {
    // A driver that keeps marking slots available without waiting for used ones never hangs the device.
    const { mem, drv, dev } = await pair(4);
    let taken = 0;
    let err: unknown;
    for (let k = 0; k < 20 && !err; k++) {
      const slot = k % 4;
      const wrap = Math.floor(k / 4) % 2 === 0 ? 1 : 0;
      await writeDesc(mem, drv.addrs, slot, { addr: BASE + MEM / 2, len: 4, id: k, flags: availBits(wrap) });
      try {
        if (await dev.take()) taken++;
      } catch (e) {
        err = e;
      }
    }
    assertEquals(taken, 4);
    assert(err instanceof RingError);
    assert(String(err).includes("more than the queue size 4"));
  }
  {
    // Garbage used ids on the driver side.
    const { mem, drv } = await pair(4);
    const a = await drv.add([buf(0)]);
    await drv.publish(a);
    await writeDesc(mem, drv.addrs, 0, { addr: 0, len: 0, id: 1234, flags: usedBits(1) });
    await assertRejects(() => drv.harvest(), RingError, "names buffer id 1234, which is not outstanding");
  }
  {
    // A used id that was added but not published.
    const { mem, drv } = await pair(4);
    const a = await drv.add([buf(0)]);
    await drv.publish(a);
    const b = await drv.add([buf(1)]);
    await writeDesc(mem, drv.addrs, 0, { addr: 0, len: 0, id: b, flags: usedBits(1) });
    await assertRejects(() => drv.harvest(), RingError, "not outstanding");
  }
  {
    // A used descriptor with nothing outstanding; a ring full of used flags stops after one pass.
    const { mem, drv } = await pair(4);
    for (let s = 0; s < 4; s++) await writeDesc(mem, drv.addrs, s, { addr: 0, len: 0, id: 0, flags: usedBits(1) });
    await assertRejects(() => drv.harvest(), RingError, "ring slot 0 (wrap 1)");
  }
  {
    // The same used descriptor read again is not used twice: after a full pass the wrap counter differs.
    const { mem, drv, dev } = await pair(1);
    const a = await drv.add([buf(0)]);
    await drv.publish(a);
    await dev.take();
    await dev.pushUsed(a, 0);
    assertEquals(await drv.harvest(), [{ id: a, len: 0 }]);
    assertEquals(await drv.harvest(), []);
    assertEquals(decodePackedDesc(await mem.read(drv.addrs.desc, 16)).flags, usedBits(1));
  }
  assertThrows(
    () =>
      new PackedDeviceQueue(new ArrayMemory(BASE, 64), { size: 8, desc: BASE, driver: BASE, device: BASE }, features()),
    RingError,
    "descriptor ring lies outside guest memory",
  );
  assertThrows(
    () =>
      new PackedDeviceQueue(new ArrayMemory(BASE, 64), { size: 0, desc: BASE, driver: BASE, device: BASE }, features()),
    RingError,
  );
});
