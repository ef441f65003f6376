import { assert, assertEquals, assertFalse, assertThrows } from "@std/assert";
import fc from "fast-check";
import {
  AbstractVirtqueue,
  ModelError,
  notificationOwed,
  packedEventOwed,
  packedOffWrap,
  packedPosition,
  splitEventOwed,
} from "./abstract_queue.ts";
import { needEvent, type RingFeatures } from "./queue.ts";
import { encodeOffWrap, packedEventPassed } from "./packed.ts";

const split = (over: Partial<RingFeatures> = {}): RingFeatures => ({
  format: "split",
  indirect: false,
  eventIdx: false,
  inOrder: false,
  notificationData: false,
  ...over,
});
const packed = (over: Partial<RingFeatures> = {}): RingFeatures => split({ format: "packed", ...over });
const w = (len: number) => ({ addr: 0x1000, len, writable: true });

Deno.test("splitEventOwed: the entry named by the event index is among those written", () => {
  assert(splitEventOwed(5, 5, 6));
  assertFalse(splitEventOwed(6, 5, 6));
  assertFalse(splitEventOwed(4, 5, 6));
  assert(splitEventOwed(0xffff, 0xfffe, 0x10000));
  assertFalse(splitEventOwed(0, 0xfffe, 0x10000));
  assert(splitEventOwed(0, 0xffff, 0x10001));
  assertFalse(splitEventOwed(3, 7, 7));
  assert(splitEventOwed(3, 7, 7 + 0x10000));
});

Deno.test("splitEventOwed agrees with the spec's vring_need_event on 16-bit indexes", () => {
  fc.assert(
    fc.property(fc.nat(0xffff), fc.nat(0x3ffff), fc.nat(0xffff), (event, from, moved) => {
      const to = from + moved;
      assertEquals(splitEventOwed(event, from, to), needEvent(event, to & 0xffff, from & 0xffff));
    }),
    { seed: 0x5eed },
  );
});

Deno.test("packedPosition and packedOffWrap: the wrap counter starts at 1 and flips every pass", () => {
  assertEquals(packedPosition(3, 0), { pos: 0, wrap: 1 });
  assertEquals(packedPosition(3, 2), { pos: 2, wrap: 1 });
  assertEquals(packedPosition(3, 3), { pos: 0, wrap: 0 });
  assertEquals(packedPosition(3, 7), { pos: 1, wrap: 1 });
  assertEquals(packedOffWrap(3, 4), encodeOffWrap(1, 0));
});

Deno.test("packedEventOwed: the named slot with its wrap counter is among those passed", () => {
  assert(packedEventOwed(4, packedOffWrap(4, 4), 3, 5));
  assertFalse(packedEventOwed(4, packedOffWrap(4, 0), 3, 5));
  assertFalse(packedEventOwed(4, packedOffWrap(4, 5), 3, 5));
  assert(packedEventOwed(4, packedOffWrap(4, 3), 3, 4));
  assertFalse(packedEventOwed(4, encodeOffWrap(4, 1), 0, 8));
  assert(packedEventOwed(1, packedOffWrap(1, 1), 0, 2));
});

Deno.test("packedEventOwed agrees with the codec's packedEventPassed", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 16 }),
      fc.nat(100),
      fc.nat(40),
      fc.nat(31),
      fc.nat(1),
      (size, from, moved, off, wrap) => {
        const ow = encodeOffWrap(off % (size + 1), wrap);
        assertEquals(
          packedEventOwed(size, ow, from, from + moved),
          packedEventPassed(size, ow, packedPosition(size, from), moved),
        );
      },
    ),
    { seed: 0x5eed },
  );
});

Deno.test("notificationOwed: flags, event index and packed DESC", () => {
  assertFalse(notificationOwed(split(), 8, { mode: "enable", event: 0 }, 2, 2));
  assert(notificationOwed(split(), 8, { mode: "enable", event: 0 }, 2, 3));
  assertFalse(notificationOwed(split(), 8, { mode: "disable", event: 0 }, 2, 3));
  // EVENT_IDX: the flag is ignored.
  assert(notificationOwed(split({ eventIdx: true }), 8, { mode: "disable", event: 2 }, 2, 3));
  assertFalse(notificationOwed(split({ eventIdx: true }), 8, { mode: "enable", event: 3 }, 2, 3));
  assertFalse(notificationOwed(packed(), 8, { mode: "disable", event: 0 }, 0, 3));
  assert(notificationOwed(packed(), 8, { mode: "enable", event: 0 }, 0, 3));
  // DESC without EVENT_IDX is not valid; the decision falls back to "anything moved".
  assert(notificationOwed(packed(), 8, { mode: "desc", event: packedOffWrap(8, 7) }, 0, 3));
  assertFalse(notificationOwed(packed({ eventIdx: true }), 8, { mode: "desc", event: packedOffWrap(8, 7) }, 0, 3));
});

Deno.test("AbstractVirtqueue: add, publish, take, use, harvest and capacity", () => {
  const q = new AbstractVirtqueue(split({ indirect: true }), 4);
  q.add(0, [w(8), w(8)], false);
  q.add(2, [w(8), w(8), w(8)], true);
  assertEquals(q.freeSlots, 1);
  assertFalse(q.canAdd(2, false));
  assert(q.canAdd(5, true));
  assertThrows(() => q.add(0, [w(1)], false), ModelError);
  assertEquals(q.publishable(), [0, 2]);
  q.publish(2);
  q.publish(0);
  assertEquals(q.take()?.id, 2);
  assertEquals(q.take()?.id, 0);
  assertEquals(q.take(), undefined);
  assertThrows(() => q.use(0, 17), ModelError);
  q.use(0, 16);
  q.use(2, 1);
  assertEquals(q.harvest(), [{ id: 0, len: 16 }, { id: 2, len: 1 }]);
  assertEquals(q.freeSlots, 4);
});

Deno.test("AbstractVirtqueue: IN_ORDER batch uses every older buffer; split used idx moves by the batch size", () => {
  for (const f of [split({ inOrder: true }), packed({ inOrder: true })]) {
    const q = new AbstractVirtqueue(f, 4);
    for (const id of [0, 1, 2]) {
      q.add(id, [w(4)], false);
      q.publish(id);
      q.take();
    }
    assertEquals(q.use(2, 4), [0, 1, 2]);
    assertEquals(q.usedCount, 3);
    assertEquals(q.harvest(), [{ id: 0, len: 0, implied: true }, { id: 1, len: 0, implied: true }, { id: 2, len: 4 }]);
  }
});

Deno.test("AbstractVirtqueue: notification settings resolve against each side's position", () => {
  const q = new AbstractVirtqueue(split({ eventIdx: true }), 2);
  assertEquals(q.setUsedNotify({ kind: "disable" }).event, 0xffff);
  assertEquals(q.setAvailNotify({ kind: "at", ahead: 1 }).event, 1);
  q.add(0, [w(4)], false);
  q.publish(0);
  assertFalse(q.kickOwed());
  const p = new AbstractVirtqueue(packed({ eventIdx: true }), 3);
  assertEquals(p.setUsedNotify({ kind: "at", ahead: 4 }), { mode: "desc", event: encodeOffWrap(1, 0) });
  assertThrows(() => new AbstractVirtqueue(split(), 3), ModelError);
  assertThrows(() => new AbstractVirtqueue(packed(), 2).setUsedNotify({ kind: "at", ahead: 0 }), ModelError);
});
