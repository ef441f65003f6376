import { assertEquals } from "@std/assert";
import { clauseId } from "../core/clause.ts";
import { runTarget } from "../core/runner.ts";
import { CLAUSES } from "../../suites/mod.ts";
import timerDevice from "../../fixtures/targets/worker/timer_device.ts";
import { InProcessDeviceTarget } from "./in_process.ts";

const opts = { seed: 0x5eed, runs: 5, strict: true, targetArg: "timer" };

Deno.test("in-process device: a device with no idle hook gets the whole settle time to act on its own timer", async () => {
  // 2.1.2#2 lets the device run 50 ms after notifying a looping chain; this device serves it 30 ms after the write.
  const clause = CLAUSES.filter((c) => clauseId(c) === "2.1.2#2");
  assertEquals(clause.length, 1);
  const target = new InProcessDeviceTarget("timer", "rng", timerDevice, ["mmio"]);
  const [r] = await runTarget(target, clause, opts);
  assertEquals(r?.verdict, "pass", r?.message);
});
