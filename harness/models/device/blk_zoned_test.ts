import { assertEquals } from "@std/assert";
import { le } from "../../memory.ts";
import { ZonedDisk, ZoneReq, ZoneState, ZoneStatus, ZoneType } from "./blk_zoned.ts";

const disk = () => new ZonedDisk(1024, { model: "hm", zoneSectors: 128, maxOpen: 2, maxActive: 3 });

Deno.test("ZonedDisk: writes go at the write pointer, open the zone and fill it", () => {
  const z = disk();
  assertEquals(z.write(128, 8).status, 0);
  assertEquals(z.zoneOf(128)!.state, ZoneState.IOPEN);
  assertEquals(z.write(128, 8).status, ZoneStatus.UNALIGNED_WP);
  assertEquals(z.write(136, 120).status, 0);
  assertEquals(z.zoneOf(128)!.state, ZoneState.FULL);
  assertEquals(z.write(200, 1).status, ZoneStatus.INVALID_CMD);
  assertEquals(z.write(250, 10).status, ZoneStatus.INVALID_CMD, "a write past the zone's capacity");
});

Deno.test("ZonedDisk: open and active limits, active winning when both are exceeded", () => {
  const z = disk();
  assertEquals(z.manage(ZoneReq.OPEN, 128), 0);
  assertEquals(z.manage(ZoneReq.OPEN, 256), 0);
  assertEquals(z.manage(ZoneReq.OPEN, 384), ZoneStatus.OPEN_RESOURCE);
  assertEquals(z.zoneOf(384)!.state, ZoneState.EMPTY);
  assertEquals(z.write(128, 1).status, 0);
  assertEquals(z.manage(ZoneReq.CLOSE, 128), 0);
  assertEquals(z.zoneOf(128)!.state, ZoneState.CLOSED);
  assertEquals(z.manage(ZoneReq.CLOSE, 256), 0);
  assertEquals(z.zoneOf(256)!.state, ZoneState.EMPTY, "closing an open zone with nothing written empties it");
  assertEquals(z.manage(ZoneReq.OPEN, 384), 0);
  assertEquals(z.manage(ZoneReq.OPEN, 512), 0);
  // Three active (one closed, two open) and two open: a fourth zone exceeds both.
  assertEquals(z.write(640, 1).status, ZoneStatus.ACTIVE_RESOURCE);
  assertEquals(z.manage(ZoneReq.RESET_ALL, 0), 0);
  assertEquals(z.zones.filter((x) => x.state === ZoneState.EMPTY).length, 7);
});

Deno.test("ZonedDisk: conventional zones refuse zone operations; appends report the write pointer", () => {
  const z = disk();
  assertEquals(z.zoneOf(0)!.type, ZoneType.CONV);
  for (const t of [ZoneReq.OPEN, ZoneReq.CLOSE, ZoneReq.FINISH, ZoneReq.RESET]) {
    assertEquals(z.manage(t, 0), ZoneStatus.INVALID_CMD);
  }
  assertEquals(z.write(0, 4).status, 0);
  assertEquals(z.write(256, 8).status, 0);
  assertEquals(z.write(256, 8, true), { status: 0, at: 264 });
  assertEquals(z.write(264, 8, true).status, ZoneStatus.INVALID_CMD, "an append not at the zone's start");
  assertEquals(z.write(256, 32, true).status, ZoneStatus.INVALID_CMD, "an append above max_append_sectors");
  assertEquals(z.read(120, 16), ZoneStatus.INVALID_CMD, "a read across into a sequential zone");
});

Deno.test("ZonedDisk: the report lists zones from the one holding the sector, as many as fit", () => {
  const z = disk();
  z.write(256, 8);
  const r = z.report(300, 64 + 2 * 64 + 10)!;
  assertEquals(le.u64(r, 0), 2);
  assertEquals([le.u64(r, 64), le.u64(r, 72), le.u64(r, 80), r[88], r[89]], [128, 256, 264, 2, ZoneState.IOPEN]);
  assertEquals([le.u64(r, 128 + 8), r[128 + 25]], [384, ZoneState.EMPTY]);
});
