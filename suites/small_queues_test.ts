/**
 * Device clauses against reference devices with the smallest legal queues
 * (QueueSizeMax 2 and 4): the harness, playing the driver, must size every
 * workload from the negotiated queue size, so a conforming device passes (or
 * is n/a with the reason) and a faulty one still fails.
 */
import { assert, assertEquals } from "@std/assert";
import { clauseId, clauseKey } from "../harness/core/clause.ts";
import type { DeviceTypeName } from "../harness/features.ts";
import { BlkFunction } from "../harness/models/device/blk.ts";
import { type DeviceParts, REFERENCE_TRANSPORTS, referenceDeviceTarget } from "../harness/models/device/reference.ts";
import { RngFunction } from "../harness/models/device/rng.ts";
import { runTarget } from "../harness/core/runner.ts";
import { MUTANTS } from "../fixtures/mutants/mod.ts";
import { CLAUSES } from "./mod.ts";

const opts = { seed: 0x5eed, runs: 20, strict: true, targetArg: "test" };
const SIZES = [2, 4] as const;

/** Reference device parts whose function presents QueueSizeMax `max`. */
function sized(type: DeviceTypeName, max: number, parts: DeviceParts = {}): DeviceParts {
  return {
    ...parts,
    fn: () => type === "blk" ? new BlkFunction({ queueSizeMax: max }) : new RngFunction({ queueSizeMax: max }),
  };
}

for (const type of ["rng", "blk"] as const) {
  for (const max of SIZES) {
    Deno.test(`reference ${type} device with QueueSizeMax ${max}: no error and no fail on any transport`, async () => {
      const target = referenceDeviceTarget(type, sized(type, max), `reference-${type}-q${max}`);
      const results = await runTarget(target, CLAUSES, opts);
      const bad = results.filter((r) => r.verdict === "error" || r.verdict === "fail");
      assertEquals(bad.map((r) => `${r.clause} ${r.transport} ${r.verdict}: ${r.message}`), []);
      // Every transport ran, and the ring clauses really ran (split and packed), not only n/a.
      assertEquals(new Set(results.map((r) => r.transport)), new Set(REFERENCE_TRANSPORTS));
      for (const section of ["2.7.7.2", "2.1.2", "2.8."]) {
        assert(
          results.some((r) => r.clause.startsWith(section) && r.verdict === "pass"),
          `no ${section} clause passed with QueueSizeMax ${max}`,
        );
      }
      // A clause is n/a for a small queue only with the reason.
      for (const r of results.filter((r) => r.verdict === "n/a" && /descriptor/.test(r.message ?? ""))) {
        assert(/queue 0 has size \d+/.test(r.message ?? ""), `${r.clause}: ${r.message}`);
      }
    });
  }
}

/** Device mutants caught by the clauses whose workloads are now sized from the queue. */
const SIZED_SECTIONS = ["2.1.2#", "2.4.1#", "2.6.1.", "2.7.7.2#", "6.2#5"];

for (const m of MUTANTS.filter((m) => m.role === "device" && m.deviceParts && !m.deviceParts.fn)) {
  const named = CLAUSES.filter((c) => m.caughtBy.includes(clauseKey(c)));
  if (!named.some((c) => SIZED_SECTIONS.some((s) => clauseId(c).startsWith(s)))) continue;
  Deno.test(`mutant ${m.name} is still caught with QueueSizeMax 4`, async () => {
    const target = referenceDeviceTarget(m.deviceType, sized(m.deviceType, 4, m.deviceParts), m.name);
    const results = await runTarget(target, named, { ...opts, shrink: false });
    assert(results.length > 0, `no clause named ${m.caughtBy.join(", ")} ran`);
    assert(
      results.some((r) => r.verdict === "fail" || r.verdict === "warn"),
      `${m.name} escaped: ${results.map((r) => `${r.clause} ${r.transport} ${r.verdict} ${r.message}`).join("; ")}`,
    );
  });
}
