/**
 * The spurious used-buffer notification clause (2.7.7.1#5) against drivers
 * without VIRTIO_F_RING_RESET: a queue reset is not asked of them (or its
 * refusal does not count), so a conforming one passes on its other workloads
 * and one that breaks on a spurious notification still fails.
 */
import { assert, assertEquals } from "@std/assert";
import { InProcessDriverTarget } from "../../harness/adapters/in_process.ts";
import type { DriverTarget } from "../../harness/adapter.ts";
import { bit, F } from "../../harness/features.ts";
import {
  type DriverClass,
  driverTarget,
  REFERENCE_DRIVER_WORKLOADS,
  ReferenceDriver,
} from "../../harness/models/driver/driver.ts";
import { runTarget } from "../../harness/core/runner.ts";
import { FailsOnSpuriousInterrupt } from "../../fixtures/mutants/driver_ring_mutants.ts";
import { survivesSpuriousUsedNotifications } from "./ring_driver.ts";

const opts = { seed: 0x5eed, runs: 5, strict: true, targetArg: "test", shrink: false };

/** `Driver` with VIRTIO_F_RING_RESET left out of the features it implements. */
function withoutRingReset(Driver: typeof ReferenceDriver): DriverClass {
  return class extends Driver {
    protected override supportedFeatures(type: Parameters<ReferenceDriver["supportedFeatures"]>[0]): bigint {
      return super.supportedFeatures(type) & ~bit(F.RING_RESET);
    }
  };
}

/** A driver target that does not declare the queue-reset workload. */
function undeclared(name: string, Driver: DriverClass): DriverTarget {
  return new InProcessDriverTarget({
    name,
    transports: ["mmio", "pci", "mmio-legacy"],
    deviceTypes: ["rng", "blk"],
    workloads: REFERENCE_DRIVER_WORKLOADS.filter((w) => w !== "queue-reset"),
  }, (endpoint) => new Driver(endpoint));
}

const CONFORMING: [string, DriverTarget][] = [
  [
    "declares queue-reset, does not negotiate RING_RESET",
    driverTarget("no-ring-reset", withoutRingReset(ReferenceDriver)),
  ],
  [
    "neither declares queue-reset nor negotiates RING_RESET",
    undeclared("no-queue-reset", withoutRingReset(ReferenceDriver)),
  ],
  ["does not declare queue-reset, negotiates RING_RESET", undeclared("undeclared-queue-reset", ReferenceDriver)],
];

for (const [what, target] of CONFORMING) {
  for (const present of ["rng", "blk"] as const) {
    Deno.test(`2.7.7.1#5 passes a conforming driver that ${what} (${present})`, async () => {
      const results = await runTarget(target, [survivesSpuriousUsedNotifications], { ...opts, present });
      // Spurious notifications are a modern-interface clause: n/a on mmio-legacy.
      assertEquals(results.map((r) => `${r.transport} ${r.verdict}${r.verdict === "pass" ? "" : `: ${r.message}`}`), [
        "mmio pass",
        "pci pass",
        "mmio-legacy n/a: written for the modern interface: the legacy interface has no such obligation",
      ]);
    });
  }
}

Deno.test("2.7.7.1#5 is n/a for a driver that declares no request workload", async () => {
  const target = new InProcessDriverTarget({
    name: "queue-reset-only",
    transports: ["mmio"],
    deviceTypes: ["rng"],
    workloads: ["queue-reset"],
  }, (endpoint) => new ReferenceDriver(endpoint));
  const [r] = await runTarget(target, [survivesSpuriousUsedNotifications], { ...opts, present: "rng" });
  assertEquals(r?.verdict, "n/a");
  assert(/declares none of the rng request workloads/.test(r?.message ?? ""), r?.message);
});

for (
  const [what, target] of [
    ["negotiating RING_RESET", driverTarget("fails-on-spurious", FailsOnSpuriousInterrupt)],
    ["without RING_RESET", undeclared("fails-on-spurious-no-reset", withoutRingReset(FailsOnSpuriousInterrupt))],
  ] as const
) {
  Deno.test(`2.7.7.1#5 still fails a driver that breaks on a spurious notification, ${what}`, async () => {
    const results = await runTarget(target, [survivesSpuriousUsedNotifications], { ...opts, present: "rng" });
    const modern = results.filter((r) => r.transport !== "mmio-legacy");
    assertEquals(modern.length, 2);
    assert(modern.every((r) => r.verdict === "fail"), modern.map((r) => `${r.verdict}: ${r.message}`).join("; "));
  });
}
