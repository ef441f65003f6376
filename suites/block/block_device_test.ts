/** The block device clauses against a read-only reference disk: judged, and passed, on every transport. */
import { assertEquals } from "@std/assert";
import { runTarget } from "../../harness/core/runner.ts";
import { BLK_F, mask } from "../../harness/features.ts";
import { BlkFunction } from "../../harness/models/device/blk.ts";
import { referenceDeviceTarget } from "../../harness/models/device/reference.ts";
import { BLOCK_DEVICE_CLAUSES } from "./block_device.ts";

Deno.test("a read-only reference disk passes the block device clauses on every transport", async () => {
  // It offers DISCARD and WRITE_ZEROES too: their flag checks are judged; zeroing a read-only disk is not.
  const features = mask(BLK_F.SIZE_MAX, BLK_F.SEG_MAX, BLK_F.BLK_SIZE, BLK_F.FLUSH, BLK_F.DISCARD, BLK_F.WRITE_ZEROES);
  const fn = () => new BlkFunction({ readOnly: true, features });
  const target = referenceDeviceTarget("blk", { fn }, "read-only-blk");
  const results = await runTarget(target, BLOCK_DEVICE_CLAUSES, { seed: 1, runs: 5, strict: true, targetArg: "t" });
  const notPassed = results.map((r) => `${r.clause} ${r.transport} ${r.verdict}`).filter((x) => !x.endsWith(" pass"));
  assertEquals(notPassed.sort(), [
    "5.2.6.2#5 mmio-legacy n/a",
    "5.2.6.2#6 mmio-legacy n/a",
    "5.2.6.2#9 mmio n/a",
    "5.2.6.2#9 mmio-legacy n/a",
    "5.2.6.2#9 pci n/a",
  ]);
  assertEquals(results.length, BLOCK_DEVICE_CLAUSES.length * 3);
});
