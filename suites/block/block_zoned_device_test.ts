/** The zoned block device clauses against zoned reference disks: judged, and passed, where they apply. */
import { assertEquals } from "@std/assert";
import type { Clause } from "../../harness/core/clause.ts";
import { runTarget } from "../../harness/core/runner.ts";
import { BlkFunction } from "../../harness/models/device/blk.ts";
import type { ZonedOptions } from "../../harness/models/device/blk_zoned.ts";
import { referenceDeviceTarget } from "../../harness/models/device/reference.ts";
import { ZONED_DISK, zonedOptions } from "../../fixtures/mutants/block_zoned_mutants.ts";
import { CLAUSES } from "../mod.ts";
import { BLOCK_ZONED_DEVICE_CLAUSES } from "./block_zoned_device.ts";

async function notPassed(
  zoned: ZonedOptions,
  clauses: readonly Clause[] = BLOCK_ZONED_DEVICE_CLAUSES,
  transports = ["mmio", "pci"],
) {
  const fn = () => new BlkFunction(zonedOptions({ zoned }));
  const target = referenceDeviceTarget("blk", { fn }, "zoned-blk");
  const results = await runTarget(target, clauses, { seed: 1, runs: 5, strict: true, targetArg: "t" });
  return results.filter((r) => transports.includes(r.transport) && r.verdict !== "pass")
    .map((r) => `${r.clause} ${r.transport} ${r.verdict}`).sort();
}

Deno.test("a host-managed zoned reference disk passes every zoned clause that applies", async () => {
  assertEquals(await notPassed(ZONED_DISK), ["5.2.5.2#6 mmio n/a", "5.2.5.2#6 pci n/a"]);
});

Deno.test("a host-aware zoned reference disk passes; the append and host-managed clauses are n/a", async () => {
  assertEquals(await notPassed({ ...ZONED_DISK, model: "ha" }), [
    "5.2.5.2#14 mmio n/a",
    "5.2.5.2#14 pci n/a",
    "5.2.5.2#6 mmio n/a",
    "5.2.5.2#6 pci n/a",
    "5.2.5.2#8 mmio n/a",
    "5.2.5.2#8 pci n/a",
    "5.2.6.2#26 mmio n/a",
    "5.2.6.2#26 pci n/a",
  ]);
});

Deno.test("a zoned reference disk without limits or a conventional or offline zone: those clauses are n/a", async () => {
  const zoned = { model: "hm" as const, zoneSectors: 256, conventional: 0, maxOpen: 0, maxActive: 0 };
  assertEquals(await notPassed(zoned), [
    "5.2.5.2#6 mmio n/a",
    "5.2.5.2#6 pci n/a",
    "5.2.6.2#19 mmio n/a",
    "5.2.6.2#19 pci n/a",
    "5.2.6.2#21 mmio n/a",
    "5.2.6.2#21 pci n/a",
    "5.2.6.2#23 mmio n/a",
    "5.2.6.2#23 pci n/a",
    "5.2.6.2#24 mmio n/a",
    "5.2.6.2#24 pci n/a",
    "5.2.6.2#25 mmio n/a",
    "5.2.6.2#25 pci n/a",
  ]);
});

Deno.test("a host-managed disk with no conventional zone gets no fail or error from any clause", async () => {
  const results = (await notPassed({ ...ZONED_DISK, conventional: 0 }, CLAUSES, ["mmio", "pci", "mmio-legacy"]))
    .filter((r) => !r.endsWith(" n/a"));
  assertEquals(results, []);
});

Deno.test("unusual zoned disks (one open zone, no appends, 8-sector zones, host-aware limits, NONE) fail nothing", async () => {
  const variants: ZonedOptions[] = [
    { model: "hm", zoneSectors: 64, maxOpen: 1, maxActive: 1 },
    { model: "hm", zoneSectors: 64, maxOpen: 2, maxActive: 0, writeGranularity: 4096, maxAppendSectors: 0 },
    { model: "hm", zoneSectors: 8, conventional: 0, maxActive: 3, writeGranularity: 4096, maxAppendSectors: 8 },
    { model: "ha", zoneSectors: 256, conventional: 2, offline: 2, maxOpen: 1, maxActive: 2 },
    { model: "none", zoneSectors: 128 },
  ];
  for (const zoned of variants) {
    const bad = (await notPassed(zoned)).filter((r) => !r.endsWith(" n/a"));
    assertEquals(bad, [], JSON.stringify(zoned));
  }
});
