/**
 * A conforming driver that never takes the interrupt line (it polls, as
 * firmware drivers do) is not blamed for interrupts it never received: the
 * clause on reading InterruptStatus after an interrupt is n/a, in-process and
 * through a Worker, while a driver that takes the line is still judged.
 */
import { assertEquals, assertStringIncludes } from "@std/assert";
import { InProcessDriverTarget } from "../harness/adapters/in_process.ts";
import { WorkerDriverTarget } from "../harness/adapters/worker/worker_driver.ts";
import { clauseId } from "../harness/core/clause.ts";
import { runTarget } from "../harness/core/runner.ts";
import { REFERENCE_DRIVER_WORKLOADS, referenceDriverSession } from "../mod.ts";
import { CLAUSES } from "./mod.ts";

const INFO = { transports: ["mmio" as const], deviceTypes: ["rng" as const], workloads: REFERENCE_DRIVER_WORKLOADS };
const opts = { seed: 0x5eed, runs: 5, strict: true, targetArg: "test", present: "rng" as const };
const ISR_AFTER_IRQ = CLAUSES.filter((c) => clauseId(c) === "4.2.3.4.1#1");

Deno.test("a polling driver (never takes the interrupt line) is n/a on InterruptStatus after an interrupt", async () => {
  assertEquals(ISR_AFTER_IRQ.length, 1);
  const polling = new InProcessDriverTarget(
    { name: "polling-driver", ...INFO },
    (endpoint) => referenceDriverSession({ ...endpoint, onInterrupt: () => {} }),
  );
  const [r] = await runTarget(polling, ISR_AFTER_IRQ, opts);
  assertEquals(r?.verdict, "n/a", r?.message);
  assertStringIncludes(r?.message ?? "", "never subscribed to the interrupt line");
  // The same driver taking its line is judged (and passes).
  const taking = new InProcessDriverTarget({ name: "reference", ...INFO }, (e) => referenceDriverSession(e));
  const [judged] = await runTarget(taking, ISR_AFTER_IRQ, opts);
  assertEquals(judged?.verdict, "pass", judged?.message);
});

Deno.test("through a Worker, the line is wired only once the driver takes it", async () => {
  const url = new URL("../fixtures/targets/worker/polling_driver.ts", import.meta.url).href;
  const polling = new WorkerDriverTarget({ name: "polling-driver", ...INFO }, { url, export: "default" });
  const taking = new WorkerDriverTarget({ name: "reference", ...INFO }, { url, export: "taking" });
  const [r] = await runTarget(polling, ISR_AFTER_IRQ, opts);
  assertEquals(r?.verdict, "n/a", r?.message);
  const [judged] = await runTarget(taking, ISR_AFTER_IRQ, opts);
  assertEquals(judged?.verdict, "pass", judged?.message);
});
