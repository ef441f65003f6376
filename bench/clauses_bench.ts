/**
 * `deno task bench`: clause throughput against the reference models. The
 * baseline is a bare MMIO register read loop on the reference rng device,
 * one read per device-role clause, so the other benches read as "times the
 * cost of touching the device once per clause".
 *
 * @module
 */
import { CLAUSES } from "../suites/mod.ts";
import { referenceDriver } from "../harness/cli/builtins.ts";
import { runTarget, selectClauses } from "../harness/core/runner.ts";
import { referenceDeviceTarget } from "../harness/models/device/reference.ts";
import { Mmio } from "../harness/transport/mmio_layout.ts";
import { ScenarioRunner } from "../harness/roles/harness_device.ts";
import type { Target } from "../harness/adapter.ts";
import type { DeviceTypeName } from "../harness/features.ts";

const RUNS = 5;
const PROPERTY_RUNS = 10;
const SEED = 0x5eed;

const deviceClauses = selectClauses(CLAUSES, "device", { strict: true });
const driverClauses = selectClauses(CLAUSES, "driver", { strict: true });

async function runAll(target: Target, present?: DeviceTypeName): Promise<void> {
  const results = await runTarget(target, CLAUSES, {
    seed: SEED,
    runs: PROPERTY_RUNS,
    strict: true,
    targetArg: `--target ${target.info.name}`,
    ...(present ? { present } : {}),
  });
  const bad = results.find((r) => r.verdict === "error");
  if (bad) throw new Error(`${bad.clause} on ${bad.target}: ${bad.message}`);
}

Deno.bench({
  name: `baseline: ${deviceClauses.length} MagicValue reads on the reference rng device`,
  group: "device",
  baseline: true,
  n: RUNS,
  warmup: 1,
  async fn() {
    const session = await referenceDeviceTarget("rng").open();
    for (let i = 0; i < deviceClauses.length; i++) await session.registers.read(Mmio.MagicValue, 4);
    await session.close();
  },
});

for (const type of ["rng", "blk"] as const) {
  Deno.bench({
    name: `${deviceClauses.length} device clauses against the reference ${type} device`,
    group: "device",
    n: RUNS,
    warmup: 1,
    async fn() {
      await runAll(referenceDeviceTarget(type));
    },
  });
}

const driver = await referenceDriver();
Deno.bench({
  name: "baseline: one plain scenario (probe, one request, remove) of the reference driver on rng",
  group: "driver",
  baseline: true,
  n: RUNS,
  warmup: 1,
  ignore: driver === undefined,
  async fn() {
    await new ScenarioRunner(driver!, "rng").run({});
  },
});
for (const type of ["rng", "blk"] as const) {
  Deno.bench({
    name: `${driverClauses.length} driver clauses against the reference driver presented ${type}`,
    group: "driver",
    n: RUNS,
    warmup: 1,
    ignore: driver === undefined || driverClauses.length === 0,
    async fn() {
      await runAll(driver!, type);
    },
  });
}
