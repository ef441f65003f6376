import { assertEquals, assertThrows } from "@std/assert";
import { TargetError } from "../../adapter.ts";
import { BOOT_SECTOR_MAX_WORKLOADS, bootSector, parseBootSectorReport } from "./boot_sector.ts";

Deno.test("bootSector: the marker address of the slot, the workload table and the boot signature", () => {
  const s = bootSector(5, [
    { kind: "blk-read", sector: 1, sectors: 2 },
    { kind: "blk-write", sector: 0x12345678, sectors: 1, fill: 0x5a },
  ]);
  const v = new DataView(s.buffer);
  assertEquals(s.length, 512);
  assertEquals([s[510], s[511]], [0x55, 0xaa]);
  // cli, then the marker: bus 0, device 5, function 0, register 0xfc through CF8h.
  assertEquals(s[0], 0xfa);
  assertEquals(v.getUint32(0x180, true), 0x8000_28fc);
  assertEquals([s[0x184], s[0x185], v.getUint16(0x186, true), v.getUint32(0x188, true)], [1, 0, 2, 1]);
  assertEquals([s[0x18c], s[0x18d], v.getUint16(0x18e, true), v.getUint32(0x190, true)], [2, 0x5a, 1, 0x12345678]);
  assertEquals(s[0x194], 0, "the table ends with kind 0");
});

Deno.test("bootSector: refuses what the sector cannot do", () => {
  const read = { kind: "blk-read" as const, sector: 0, sectors: 1 };
  assertThrows(() => bootSector(5, Array(BOOT_SECTOR_MAX_WORKLOADS + 1).fill(read)), TargetError, "at most 13");
  assertThrows(() => bootSector(5, [{ kind: "blk-read", sector: 0, sectors: 65 }]), TargetError, "1 to 64 sectors");
  assertThrows(() => bootSector(5, [{ kind: "rng-read", bytes: 4 }]), TargetError, "blk-read and blk-write");
  assertThrows(() => bootSector(32, [read]), TargetError, "0 to 31");
});

Deno.test("parseBootSectorReport: the BIOS status of each workload in order", () => {
  const text = "SeaBIOS\r\n@@ pause 01\r\n@@ work 00\r\n@@ pause 02\r\n@@ work 0C\r\n@@ pause 03\r\n@@ wor";
  assertEquals(parseBootSectorReport(text), [0, 0x0c]);
});
