import { assertEquals, assertRejects, assertStringIncludes } from "@std/assert";
import { CLAUSES } from "../../../suites/mod.ts";
import { TargetError } from "../../adapter.ts";
import { referenceDriverTarget } from "../../models/driver/driver.ts";
import type { ClauseResult } from "../../core/result.ts";
import { ScenarioRunner } from "../../roles/harness_device.ts";
import { runTarget } from "../../core/runner.ts";
import { WorkerDriverTarget } from "./worker_driver.ts";

const fixture = (name: string) => new URL(`../../../fixtures/targets/${name}`, import.meta.url).href;
const REF = referenceDriverTarget("example-driver").info;
const INFO = { name: REF.name, transports: REF.transports, deviceTypes: REF.deviceTypes, workloads: REF.workloads };

function verdicts(rs: ClauseResult[]): string[] {
  return rs.map((r) => `${r.clause} ${r.transport} ${r.verdict}`);
}

for (const filter of ["3.1.1", "2.7.10"]) {
  Deno.test(`worker driver: the reference driver through a worker gets the in-process verdicts (${filter})`, async () => {
    for (const present of ["rng", "blk"] as const) {
      const opts = { seed: 11, runs: 3, strict: false, filter, targetArg: "--target x", shrink: false, present };
      const inProcess = await runTarget(referenceDriverTarget("example-driver"), CLAUSES, opts);
      const worker = await runTarget(
        new WorkerDriverTarget(INFO, { url: fixture("example_driver.ts"), export: "default" }),
        CLAUSES,
        opts,
      );
      assertEquals(verdicts(worker), verdicts(inProcess), JSON.stringify(worker.filter((r) => r.verdict === "error")));
    }
  });
}

Deno.test("worker driver: a driver that exits is a TargetError, the next attach starts a fresh worker", async () => {
  const target = new WorkerDriverTarget(INFO, { url: fixture("worker/exit_driver.ts"), export: "default" }, {
    callMs: 300,
  });
  const runner = new ScenarioRunner(target, "rng", 1000, "mmio");
  const e = await assertRejects(() => runner.run({}), TargetError);
  assertStringIncludes(e.message, "Deno.exit(3)");
  const again = await assertRejects(() => runner.run({}), TargetError);
  assertStringIncludes(again.message, "Deno.exit(3)");
});
