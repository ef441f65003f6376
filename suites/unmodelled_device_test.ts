/**
 * A device of a type the suite does not model (`other`): judged on the clauses every virtio device obeys, never
 * refused for its ID, and its faults there still caught.
 */
import { assert, assertEquals } from "@std/assert";
import { clauseKey } from "../harness/core/clause.ts";
import { runTarget } from "../harness/core/runner.ts";
import {
  definedMask,
  DEVICE_SPECIFIC_MASK,
  type DeviceTypeName,
  deviceTypeOfId,
  knownMask,
} from "../harness/features.ts";
import type { GuestMemory } from "../harness/memory.ts";
import type { ConfigField, HandleResult } from "../harness/models/device/device_function.ts";
import type { ChainBuffer } from "../harness/virtqueue/split.ts";
import { referenceDeviceTarget } from "../harness/models/device/reference.ts";
import { MUTANTS } from "../fixtures/mutants/mod.ts";
import { CLAUSES } from "./mod.ts";

/** A memory balloon as far as the transport shows it (device ID 5, two queues): it never uses a buffer. */
class BalloonShell {
  readonly type: DeviceTypeName = "other";
  readonly deviceId = 5;
  readonly features = 0n;
  readonly queueCount = 2;
  readonly config = new Uint8Array(8);
  readonly configLayout: readonly ConfigField[] = [];
  queueSizeMax(): number {
    return 128;
  }
  handle(_q: number, _chain: ChainBuffer[], _mem: GuestMemory, _negotiated: bigint): Promise<HandleResult> {
    return Promise.resolve({ kind: "used", written: 0 });
  }
  reset(): void {}
}

const base = { seed: 0x5eed, runs: 10, strict: true, targetArg: "test", shrink: false };

Deno.test("an unmodelled device type: its device-specific bits count as defined, but the harness never picks them", () => {
  assertEquals([deviceTypeOfId(2), deviceTypeOfId(5), deviceTypeOfId(42), deviceTypeOfId(0)], [
    "blk",
    "other",
    "other",
    undefined,
  ]);
  const defined = definedMask("other", "pci");
  assert((defined & (1n << 0n)) && (defined & (1n << 60n)), "device-specific bits are defined for other");
  assert(!(defined & (1n << 45n)) && !(defined & (1n << 130n)), "reserved bits stay undefined");
  assertEquals(knownMask("other", "pci") & DEVICE_SPECIFIC_MASK, 0n);
});

Deno.test("an unmodelled device type runs the generic clauses on every transport, with no error and no fail", async () => {
  const target = referenceDeviceTarget("other", { fn: () => new BalloonShell() }, "balloon-shell");
  const results = await runTarget(target, CLAUSES, base);
  const bad = results.filter((r) => r.verdict === "error" || r.verdict === "fail" || r.verdict === "warn");
  assertEquals(bad.map((r) => `${r.clause} ${r.transport} ${r.verdict}: ${r.message}`), []);
  const passed = results.filter((r) => r.verdict === "pass");
  // On the legacy interface every device clause the harness runs needs requests: n/a there, with the reason.
  for (const t of ["mmio", "pci"]) {
    const n = passed.filter((r) => r.transport === t).length;
    assert(n >= 5, `too few passes on ${t}: ${n}`);
  }
  // 51 since the packed-ring clauses, like the split ones, need requests the harness can make of the device type.
  assert(passed.length >= 50, `only ${passed.length} passes`);
  // Clauses about a modelled type's requests or configuration are n/a with a reason, not errors.
  assert(results.every((r) => r.deviceType === "other"));
});

Deno.test("a fault of an unmodelled device is caught by the clause that names it", async () => {
  const m = MUTANTS.find((x) => x.name === "device-accepts-unoffered")!;
  const target = referenceDeviceTarget("other", { ...m.deviceParts, fn: () => new BalloonShell() }, m.name);
  const named = CLAUSES.filter((c) => m.caughtBy.includes(clauseKey(c)));
  const results = await runTarget(target, named, base);
  assert(results.some((r) => r.verdict === "fail"), results.map((r) => `${r.verdict} ${r.message}`).join("; "));
});
