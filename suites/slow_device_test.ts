/**
 * A conforming but slow device: the reference rng device with no idle hook,
 * serving each queue notification 30 ms after it is written (on its own
 * timer, as a device with a work thread does). It gets the same verdicts as
 * the reference device: the harness waits for it where it must (settle gives
 * a device that cannot say it is idle the whole time asked) and sizes its
 * negative windows from it, and no property runs out of time.
 */
import { assert, assertEquals } from "@std/assert";
import { InProcessDeviceTarget } from "../harness/adapters/in_process.ts";
import { runTarget } from "../harness/core/runner.ts";
import { referenceDeviceTarget } from "../harness/models/device/reference.ts";
import timerDevice from "../fixtures/targets/worker/timer_device.ts";
import { CLAUSES } from "./mod.ts";

const opts = { seed: 0x5eed, runs: 5, strict: true, targetArg: "test", transport: "mmio" as const };

Deno.test("a slow device (no idle hook, notifications served 30 ms late) gets the reference device's verdicts", async () => {
  const slow = await runTarget(new InProcessDeviceTarget("slow-rng", "rng", timerDevice, ["mmio"]), CLAUSES, opts);
  const reference = await runTarget(referenceDeviceTarget("rng"), CLAUSES, opts);
  const verdicts = (rs: typeof slow) => new Map(rs.map((r) => [r.clause, r.verdict]));
  const want = verdicts(reference);
  assert(slow.filter((r) => r.verdict === "pass").length > 40, "the slow device passed too few clauses to mean much");
  assertEquals(
    slow.filter((r) => r.verdict !== want.get(r.clause)).map((r) =>
      `${r.clause}: ${r.verdict} (reference ${want.get(r.clause)}): ${r.message}`
    ),
    [],
  );
});
