import { assertEquals, assertThrows } from "@std/assert";
import { ArrayMemory, MemoryAccessError, readU32, writeU32 } from "./memory.ts";

const BASE = 0x4000_0000;

Deno.test("ArrayMemory: bytes never written read as zero, anywhere in the range", async () => {
  const mem = new ArrayMemory(BASE, 4 << 20);
  assertEquals(await mem.read(BASE + (4 << 20) - 8, 8), new Uint8Array(8));
  assertEquals(mem.u16(BASE + 0x30_0000), 0);
  assertEquals(mem.u32(BASE + (4 << 20) - 4), 0);
});

Deno.test("ArrayMemory: a write at the top of the range reads back, and the bytes below it stay zero", async () => {
  const mem = new ArrayMemory(BASE, 4 << 20);
  await writeU32(mem, BASE + 0x10, 0x11223344);
  await writeU32(mem, BASE + (4 << 20) - 4, 0xdeadbeef);
  assertEquals(await readU32(mem, BASE + (4 << 20) - 4), 0xdeadbeef);
  assertEquals(await readU32(mem, BASE + 0x10), 0x11223344);
  assertEquals(mem.u32(BASE + (4 << 20) - 4), 0xdeadbeef);
  assertEquals(await mem.read(BASE + 0x20_0000, 16), new Uint8Array(16));
  assertEquals(mem.bytes.length, 4 << 20);
});

Deno.test("ArrayMemory: a read straddling what was written gets the written bytes then zeroes", async () => {
  const mem = new ArrayMemory(BASE, 1 << 20);
  await mem.write(BASE + 0xfffe, new Uint8Array([7, 8]));
  assertEquals(mem.peek(BASE + 0xfffe, 6), new Uint8Array([7, 8, 0, 0, 0, 0]));
});

Deno.test("ArrayMemory: accesses outside the range are refused, and do not grow the memory", () => {
  const mem = new ArrayMemory(BASE, 1 << 20);
  assertThrows(() => mem.peek(BASE + (1 << 20) - 2, 4), MemoryAccessError, "out of range");
  assertThrows(() => mem.poke(BASE - 1, new Uint8Array(1)), MemoryAccessError, "out of range");
  assertThrows(() => mem.write(BASE + (1 << 20), new Uint8Array(1)), MemoryAccessError, "out of range");
});

Deno.test("ArrayMemory: a given backing store is used as it is", async () => {
  const store = new Uint8Array(4096);
  const mem = new ArrayMemory(BASE, 4096, store);
  await writeU32(mem, BASE + 4092, 0x01020304);
  assertEquals([...store.subarray(4092)], [4, 3, 2, 1]);
  assertThrows(() => new ArrayMemory(BASE, 8192, store), RangeError, "wrong size");
});
