import { assert, assertEquals, assertMatch, assertThrows } from "@std/assert";
import fc from "fast-check";
import { Mmio, mmioRegisterAt } from "./mmio_layout.ts";
import {
  alignUp,
  isPowerOfTwo,
  LEGACY_PAGE_SIZE,
  legacyAvailBytes,
  legacyDescBytes,
  legacyPlacementProblem,
  legacyQueueAddresses,
  legacyQueueBytes,
  legacyQueueLayout,
  legacyUsedBytes,
  legacyUsedOffset,
  MMIO_LEGACY_REGISTERS,
  MMIO_V2_ONLY_REGISTERS,
  MmioLegacy,
  mmioLegacyName,
  mmioLegacyRegisterAt,
} from "./mmio_legacy.ts";

/** The sizing rule of spec 2.7.2 with the alignment mask it intends (round up to a multiple of qalign). */
function specQueueBytes(qsz: number, qalign: number): number {
  const round = (x: number) => Math.floor((x + qalign - 1) / qalign) * qalign;
  return round(16 * qsz + 2 * (3 + qsz)) + round(2 * 3 + 8 * qsz);
}

Deno.test("legacy register table: the offsets of spec 4.2.4 under their legacy names", () => {
  const byName = Object.fromEntries(MMIO_LEGACY_REGISTERS.map((r) => [r.name, r]));
  assertEquals(byName.HostFeatures?.offset, 0x010);
  assertEquals(byName.HostFeaturesSel?.offset, 0x014);
  assertEquals(byName.GuestFeatures?.offset, 0x020);
  assertEquals(byName.GuestFeaturesSel?.offset, 0x024);
  assertEquals(byName.GuestPageSize?.offset, 0x028);
  assertEquals(byName.GuestPageSize?.direction, "W");
  assertEquals(byName.QueueNumMax?.offset, 0x034);
  assertEquals(byName.QueueNum?.offset, 0x038);
  assertEquals(byName.QueueAlign?.offset, 0x03c);
  assertEquals(byName.QueuePFN?.offset, 0x040);
  assertEquals(byName.QueuePFN?.direction, "RW");
  assertEquals(byName.Status?.offset, 0x070);
  assertEquals(MMIO_LEGACY_REGISTERS.length, 18);
  assertEquals(MmioLegacy.Config, 0x100);
});

Deno.test("legacy register table: no version 2 only register, and every v2-only offset is a v2 register", () => {
  for (const off of MMIO_V2_ONLY_REGISTERS) {
    assertEquals(mmioLegacyRegisterAt(off), undefined, mmioLegacyName(off));
    assert(mmioRegisterAt(off) !== undefined, `0x${off.toString(16)} is a version 2 register`);
  }
  assert(MMIO_V2_ONLY_REGISTERS.includes(Mmio.QueueReady));
  assert(MMIO_V2_ONLY_REGISTERS.includes(Mmio.ConfigGeneration));
  assert(MMIO_V2_ONLY_REGISTERS.includes(Mmio.QueueReset));
  assertEquals(mmioLegacyName(0x040), "QueuePFN");
  assertEquals(mmioLegacyName(0x044), "0x044");
  assertEquals(mmioLegacyName(0x108), "Config+0x08");
});

Deno.test("isPowerOfTwo and alignUp", () => {
  for (const n of [1, 2, 4, 4096, 2 ** 40]) assert(isPowerOfTwo(n), String(n));
  for (const n of [0, -4, 3, 48, 4095, 1.5, NaN]) assert(!isPowerOfTwo(n), String(n));
  assertEquals(alignUp(0, 4096), 0);
  assertEquals(alignUp(1, 4096), 4096);
  assertEquals(alignUp(4096, 4096), 4096);
  assertEquals(alignUp(4097, 4096), 8192);
  assertEquals(alignUp(7, 0), 7);
});

Deno.test("area sizes: descriptors 16 bytes each, avail ring with used_event, used ring with avail_event", () => {
  assertEquals(legacyDescBytes(256), 4096);
  assertEquals(legacyAvailBytes(256), 518);
  assertEquals(legacyUsedBytes(256), 2054);
  assertEquals(legacyUsedOffset(256, 4096), 8192);
  assertEquals(legacyQueueBytes(256, 4096), 12288);
  assertEquals(legacyUsedOffset(8, 16), 160); // 128 + 22 = 150, rounded to 16
});

Deno.test("legacyQueueBytes matches the sizing rule of spec 2.7.2", () => {
  fc.assert(fc.property(fc.integer({ min: 0, max: 15 }), fc.integer({ min: 2, max: 16 }), (k, a) => {
    const size = 2 ** k, align = 2 ** a;
    assertEquals(legacyQueueBytes(size, align), specQueueBytes(size, align));
  }));
});

Deno.test("legacyQueueLayout: areas in order, no overlap, used ring aligned, all inside the block", () => {
  fc.assert(fc.property(
    fc.integer({ min: 0, max: 15 }),
    fc.integer({ min: 2, max: 16 }),
    fc.integer({ min: 1, max: 1000 }),
    (k, a, n) => {
      const size = 2 ** k, align = 2 ** a;
      const l = legacyQueueLayout(size, align);
      assertEquals(l.align, Math.max(align, LEGACY_PAGE_SIZE));
      const base = n * l.align;
      const at = l.at(base);
      assertEquals(at.size, size);
      assertEquals(at.desc, base);
      assertEquals(at.driver, base + 16 * size);
      assertEquals(at.device % align, 0);
      assert(at.device >= at.driver + legacyAvailBytes(size));
      assert(at.device - (at.driver + legacyAvailBytes(size)) < align, "padding shorter than the alignment");
      assert(at.device + legacyUsedBytes(size) <= base + l.bytes);
      assertEquals(legacyPlacementProblem(at, align, LEGACY_PAGE_SIZE), undefined);
    },
  ));
});

Deno.test("legacyQueueLayout: a concrete 64-entry queue at 0x20000", () => {
  const l = legacyQueueLayout(64, 4096);
  assertEquals(l.bytes, 8192);
  assertEquals(l.at(0x20000), { size: 64, desc: 0x20000, driver: 0x20400, device: 0x21000 });
  const small = legacyQueueLayout(64, 64);
  assertEquals(small.at(0x20000).device, 0x204c0); // 0x20400 + 134 = 0x20486, rounded up to 64
  assertEquals(small.align, 4096, "the block still starts on a page");
});

Deno.test("legacyQueueLayout: bad size, alignment, page size or base are errors", () => {
  assertThrows(() => legacyQueueLayout(0), RangeError, "power of two");
  assertThrows(() => legacyQueueLayout(48), RangeError, "power of two");
  assertThrows(() => legacyQueueLayout(65536), RangeError, "32768");
  assertThrows(() => legacyQueueLayout(8, 3000), RangeError, "alignment");
  assertThrows(() => legacyQueueLayout(8, 4096, 1000), RangeError, "page size");
  assertThrows(() => legacyQueueLayout(8).at(0x20010), RangeError, "4096-byte boundary");
});

Deno.test("legacyQueueAddresses: the used ring is aligned absolutely, as a device computes it", () => {
  assertEquals(legacyQueueAddresses(8, 0x10000, 4096), { size: 8, desc: 0x10000, driver: 0x10080, device: 0x11000 });
  // A block on a 1 KiB page with a 4 KiB QueueAlign: the used ring goes to the next absolute 4 KiB boundary.
  assertEquals(legacyQueueAddresses(8, 0x10400, 4096).device, 0x11000);
});

Deno.test("legacyPlacementProblem names what is off, in a sentence", () => {
  const good = legacyQueueAddresses(16, 0x30000, 4096);
  assertEquals(legacyPlacementProblem(good, 4096, 4096), undefined);
  assertMatch(legacyPlacementProblem({ ...good, size: 12 }, 4096, 4096)!, /^The queue size 12 .*\.$/);
  assertMatch(legacyPlacementProblem({ ...good, desc: 0x30010 }, 4096, 4096)!, /page boundary\.$/);
  assertMatch(
    legacyPlacementProblem({ size: 16, desc: 0, driver: 256, device: 4096 }, 4096, 4096)!,
    /non-zero 4096-byte page/,
  );
  assertMatch(legacyPlacementProblem({ ...good, driver: good.driver + 2 }, 4096, 4096)!, /available ring .*0x30100\./);
  assertMatch(
    legacyPlacementProblem({ ...good, device: good.driver + legacyAvailBytes(16) }, 4096, 4096)!,
    /used ring .*0x31000, the first 4096-byte boundary/,
  );
  assertMatch(legacyPlacementProblem(legacyQueueAddresses(16, 2 ** 45, 4096), 4096, 4096)!, /32-bit page frame/);
});
