/** The block device clauses against a read-only reference disk: judged, and passed, on every transport. */
import { assertEquals } from "@std/assert";
import { runTarget } from "../../harness/core/runner.ts";
import { BlkFunction } from "../../harness/models/device/blk.ts";
import { referenceDeviceTarget } from "../../harness/models/device/reference.ts";
import { BLOCK_DEVICE_CLAUSES } from "./block_device.ts";

Deno.test("a read-only reference disk passes the block device clauses on every transport", async () => {
  const target = referenceDeviceTarget("blk", { fn: () => new BlkFunction({ readOnly: true }) }, "read-only-blk");
  const results = await runTarget(target, BLOCK_DEVICE_CLAUSES, { seed: 1, runs: 5, strict: true, targetArg: "t" });
  assertEquals(results.map((r) => `${r.clause} ${r.transport} ${r.verdict}`).filter((x) => !x.endsWith(" pass")), []);
  assertEquals(results.length, BLOCK_DEVICE_CLAUSES.length * 3);
});
