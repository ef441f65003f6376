import { assertEquals, assertThrows } from "@std/assert";
import { encodeFrame, FrameReader, MAX_FRAME_BYTES, SyncedMemory } from "./frame.ts";

Deno.test("frames: split anywhere across chunks, byte arrays cross as they are", () => {
  const a = encodeFrame({ m: { kind: "req", id: 1, data: new Uint8Array([1, 2, 3]) }, gen: 2 });
  const b = encodeFrame({ m: { kind: "irq", level: true }, gen: 2, mem: [[8, new Uint8Array([9])]] });
  const all = new Uint8Array([...a, ...b]);
  for (let cut = 0; cut <= all.length; cut++) {
    const r = new FrameReader();
    const got = [...r.push(all.subarray(0, cut)), ...r.push(all.subarray(cut))];
    assertEquals(got.length, 2);
    assertEquals((got[0]!.m as { data: Uint8Array }).data, new Uint8Array([1, 2, 3]));
    assertEquals(got[1]!.mem, [[8, new Uint8Array([9])]]);
    assertEquals(r.pending, 0);
  }
});

Deno.test("frames: a stream that is not frames is refused with a reason", () => {
  const huge = new Uint8Array(8);
  new DataView(huge.buffer).setUint32(0, MAX_FRAME_BYTES + 1, true);
  assertThrows(() => new FrameReader().push(huge), Error, "the stream is not frames");
  const text = new TextEncoder().encode("\x05\x00\x00\x00hello");
  assertThrows(() => new FrameReader().push(text), Error, "cannot be decoded");
});

Deno.test("synced memory: writes come out merged once, the other side's changes are applied without echo", async () => {
  const a = new SyncedMemory(0x1000, 64);
  const b = new SyncedMemory(0x1000, 64);
  await a.write(0x1010, new Uint8Array([1, 2]));
  await a.write(0x1000, new Uint8Array([7]));
  await a.write(0x1011, new Uint8Array([3, 4, 5]));
  const patches = a.takePatches();
  assertEquals(patches, [[0, new Uint8Array([7])], [16, new Uint8Array([1, 3, 4, 5])]]);
  assertEquals(a.takePatches(), []);
  b.apply(patches);
  assertEquals(b.bytes.subarray(16, 20), new Uint8Array([1, 3, 4, 5]));
  assertEquals(b.takePatches(), [], "applied changes are not sent back");
  // Both sides change different bytes of one word between two frames: neither loses the other's.
  await a.write(0x1020, new Uint8Array([0xaa]));
  await b.write(0x1021, new Uint8Array([0xbb]));
  const pa = a.takePatches();
  const pb = b.takePatches();
  a.apply(pb);
  b.apply(pa);
  assertEquals(a.bytes.subarray(0x20, 0x22), new Uint8Array([0xaa, 0xbb]));
  assertEquals(b.bytes.subarray(0x20, 0x22), new Uint8Array([0xaa, 0xbb]));
  assertThrows(() => b.apply([[60, new Uint8Array(8)]]), Error, "outside the 64-byte guest memory");
});
