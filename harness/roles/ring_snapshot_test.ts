import { assertEquals } from "@std/assert";
import { checkSplitSnapshot, type SnapshotQueue } from "./ring_snapshot.ts";
import type { RingFeatures } from "../virtqueue/queue.ts";

const SIZE = 8;
const DESC = 0x1000;
const AVAIL = 0x2000;
const plain: RingFeatures = {
  format: "split",
  indirect: false,
  eventIdx: false,
  inOrder: false,
  notificationData: false,
};

/** A snapshot of one split queue: descriptors [flags, next, len] by index, and the heads made available in order. */
function rings(descs: [number, number, number][], heads: number[], flags = 0) {
  const table = new Uint8Array(16 * SIZE);
  const dv = new DataView(table.buffer);
  descs.forEach(([f, next, len], i) => {
    dv.setUint32(16 * i + 8, len, true);
    dv.setUint16(16 * i + 12, f, true);
    dv.setUint16(16 * i + 14, next, true);
  });
  const avail = new Uint8Array(6 + 2 * SIZE);
  const av = new DataView(avail.buffer);
  av.setUint16(0, flags, true);
  av.setUint16(2, heads.length, true);
  heads.forEach((h, i) => av.setUint16(4 + 2 * (i % SIZE), h, true));
  return (addr: number, length: number) =>
    addr === DESC && length === table.length
      ? table
      : addr === AVAIL && length <= avail.length
      ? avail.subarray(0, length)
      : undefined;
}
const queue = (features = plain): SnapshotQueue => ({
  q: 0,
  size: SIZE,
  desc: DESC,
  driver: AVAIL,
  device: 0x3000,
  features,
});
const kinds = (read: ReturnType<typeof rings>, features = plain) =>
  checkSplitSnapshot(queue(features), read).map((v) => v.kind);

Deno.test("ring snapshot: a well-formed request chain and flags 1 without EVENT_IDX show nothing", () => {
  // header (readable) → data (writable) → status (writable)
  assertEquals(kinds(rings([[1, 1, 16], [3, 2, 512], [2, 0, 1]], [0], 1)), []);
});

Deno.test("ring snapshot: each fault of a published chain is named", () => {
  assertEquals(kinds(rings([[3, 1, 16], [1, 2, 512], [0, 0, 1]], [0])), ["readable-after-writable"]);
  assertEquals(kinds(rings([[5, 1, 16], [0, 0, 1]], [0])), ["indirect-without-feature", "indirect-with-next"]);
  assertEquals(kinds(rings([[1, 1, 16], [1, 0, 1]], [0])), ["chain-too-long"]);
  assertEquals(kinds(rings([[1, 9, 16]], [0])), ["desc-index-out-of-range"]);
  assertEquals(kinds(rings([[0, 0, 1]], [12])), ["desc-index-out-of-range"]);
  assertEquals(kinds(rings([[1, 1, 0xffff_ffff], [0, 0, 2]], [0])), ["chain-too-large"]);
  assertEquals(kinds(rings([[0, 0, 1]], [0], 2)), ["avail-flags-invalid"]);
  assertEquals(kinds(rings([[0, 0, 1]], [0], 1), { ...plain, eventIdx: true }), ["avail-flags-nonzero-event-idx"]);
  assertEquals(kinds(rings([[1, 3, 16], [0, 0, 1], [0, 0, 0], [0, 0, 1]], [0]), { ...plain, inOrder: true }), [
    "in-order-next",
  ]);
});

Deno.test("ring snapshot: an older chain whose descriptors a newer one reused is not judged", () => {
  // The older chain at head 0 linked 0 → 1; descriptor 1 now belongs to the newer chain 1 → 2 and is writable,
  // so the older chain would read as readable-after-writable if it were walked: it is skipped instead.
  const read = rings([[3, 1, 16], [3, 2, 16], [2, 0, 1]], [0, 1]);
  assertEquals(kinds(read), []);
});

Deno.test("ring snapshot: a snapshot without the queue's areas shows nothing", () => {
  assertEquals(checkSplitSnapshot(queue(), () => undefined), []);
});
