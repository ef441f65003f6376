/**
 * A device that stops serving for good after a fault (a looping chain) is named once: the clause after which it
 * stopped gets the one non-pass result, with the fault it was given, and every other verdict equals a run of the
 * device that keeps serving (the next clause gets a fresh target).
 */
import { assert, assertEquals } from "@std/assert";
import { runTarget } from "../harness/core/runner.ts";
import { DeviceCore } from "../harness/models/device/core.ts";
import { referenceDeviceTarget } from "../harness/models/device/reference.ts";
import { CLAUSES } from "./mod.ts";

/** Enters its error state as the reference device does, and never serves again until it is built anew. */
class BreaksForGood extends DeviceCore {
  #broken = false;
  protected override enterErrorState(reason: string): void {
    this.#broken = true;
    super.enterErrorState(reason);
  }
  protected override canProcess(q: number): boolean {
    return !this.#broken && super.canProcess(q);
  }
}

const opts = { seed: 0x5eed, runs: 10, strict: false, targetArg: "test", shrink: false, transport: "mmio" as const };

Deno.test("a device that stops serving after a looping chain is named once, on that clause; nothing else changes", async () => {
  const clauses = CLAUSES.filter((c) => c.obligation === "device");
  const good = await runTarget(referenceDeviceTarget("blk"), clauses, opts);
  const broken = await runTarget(referenceDeviceTarget("blk", { core: BreaksForGood }, "breaks"), clauses, opts);
  assertEquals(broken.length, good.length);
  const differ = broken.filter((r, i) => r.verdict !== good[i]!.verdict);
  assertEquals(differ.map((r) => [r.clause, r.verdict]), [["2.1.2#3", "error"]]);
  const named = differ[0]!;
  assert(named.message.includes("the device stopped serving after this clause"), named.message);
  assert(named.message.includes("a looping descriptor chain on queue 0"), named.message);
  assert(named.message.includes("started afresh for the next clause"), named.message);
  // The good device was checked too (it was given the same loop) and kept serving: its verdict stands.
  assertEquals(good.find((r) => r.clause === "2.1.2#3")?.verdict, "pass");
});
