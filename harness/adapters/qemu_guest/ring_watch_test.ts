import { assert, assertEquals } from "@std/assert";
import { watchRegions } from "./ring_watch.ts";

Deno.test("ring watch: a split queue's watchpoints tile its areas, one per descriptor and available field", () => {
  const q = { size: 8, desc: 0x1000, driver: 0x1080, device: 0x10a0 };
  const r = watchRegions(q);
  assertEquals(r.filter((x) => x.watch === "write").length, 8 + 8 + 3);
  assertEquals(r.filter((x) => x.watch === "read").map((x) => [x.address, x.length]), [
    [0x10a0, 4], // flags and idx: a read of both passes for harvesting, not a notification decision
    [0x10a4, 64],
    [0x10e4, 2], // avail_event
  ]);
  const sorted = [...r].sort((a, b) => a.address - b.address);
  for (let i = 1; i < sorted.length; i++) {
    assert(sorted[i - 1]!.address + sorted[i - 1]!.length <= sorted[i]!.address, "watchpoints do not overlap");
  }
  const bytes = (w: "read" | "write") => r.filter((x) => x.watch === w).reduce((n, x) => n + x.length, 0);
  assertEquals(bytes("write"), 16 * 8 + 6 + 2 * 8); // the descriptor table and the whole available ring
  assertEquals(bytes("read"), 6 + 8 * 8); // the whole used ring
});

Deno.test("ring watch: a packed queue watches each descriptor, its own event structure written, the device's read", () => {
  const r = watchRegions({ size: 4, desc: 0x2000, driver: 0x2040, device: 0x2044, packed: true });
  assertEquals(r.map((x) => [x.address, x.length, x.watch]), [
    [0x2000, 16, "write"],
    [0x2010, 16, "write"],
    [0x2020, 16, "write"],
    [0x2030, 16, "write"],
    [0x2040, 4, "write"],
    [0x2044, 4, "read"],
  ]);
});
