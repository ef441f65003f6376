import { assert, assertEquals, assertRejects, assertStringIncludes } from "@std/assert";
import { TargetError } from "../adapter.ts";
import { defineDeviceClause, defineDriverClause } from "./clause.ts";
import { referenceDeviceTarget } from "../models/device/reference.ts";
import { referenceDriverTarget } from "../models/driver/driver.ts";
import { ScenarioRunner } from "../roles/harness_device.ts";
import { accesses, statusWrites } from "../roles/trace.ts";
import { runTarget, runTransports, shardOf } from "./runner.ts";
import { Status } from "../status.ts";
import { CLAUSES } from "../../suites/mod.ts";
import { Mmio } from "../transport/mmio_layout.ts";
import { PciDriverTransport } from "../transport/pci_driver.ts";

const RESET = "devicenormative:Basic Facilities of a Virtio Device / Device Reset";
const STATUS = "drivernormative:Basic Facilities of a Virtio Device / Device Status Field";
const opts = { seed: 1, runs: 2, strict: false, targetArg: "--target test" };

Deno.test("runner: a device target is run once per transport it offers, each result naming its transport", async () => {
  const seen: string[] = [];
  const clause = defineDeviceClause({
    label: RESET,
    statement: 1,
    level: "MUST",
    title: "records the transport",
    requirement: "r",
    action: "a",
    async run(ctx) {
      seen.push(ctx.transport.kind);
      assertEquals((await ctx.transport.identify()).valid, true);
    },
  });
  const target = referenceDeviceTarget("rng");
  assertEquals(runTransports(target), ["mmio", "pci", "mmio-legacy"]);
  assertEquals(runTransports(target, "pci"), ["pci"]);
  const results = await runTarget(target, [clause], opts);
  // Not marked legacy: n/a on the legacy interface, without running.
  assertEquals(results.map((r) => [r.transport, r.verdict]), [["mmio", "pass"], ["pci", "pass"], [
    "mmio-legacy",
    "n/a",
  ]]);
  assertEquals(seen, ["mmio", "pci"]);
  assertStringIncludes(results[2]!.message, "modern interface");
  const legacy = await runTarget(target, [{ ...clause, applies: { legacy: true } }], {
    ...opts,
    transport: "mmio-legacy",
  });
  assertEquals(legacy.map((r) => [r.transport, r.verdict]), [["mmio-legacy", "pass"]]);
  assertEquals(seen.at(-1), "mmio-legacy");
});

Deno.test("runner: a transport-specific clause is n/a elsewhere; replay commands name the transport", async () => {
  const clause = defineDeviceClause({
    label: RESET,
    statement: 2,
    level: "MUST NOT",
    title: "PCI only, fails",
    requirement: "r",
    action: "a",
    applies: { transports: ["pci"] },
    run(ctx) {
      assert(ctx.transport instanceof PciDriverTransport);
      return Promise.reject(new Error("boom"));
    },
  });
  const results = await runTarget(referenceDeviceTarget("rng"), [clause], opts);
  assertEquals(results.map((r) => [r.transport, r.verdict]), [["mmio", "n/a"], ["pci", "error"], [
    "mmio-legacy",
    "n/a",
  ]]);
  assertStringIncludes(results[1]!.replay ?? "", "--transport pci");
});

Deno.test("runner: opening a target on a transport it does not offer is a target error", async () => {
  await assertRejects(() => referenceDeviceTarget("rng").open("ccw"), TargetError, "cannot be opened on ccw");
});

Deno.test("runner: driver clauses run once per transport the driver attaches over", async () => {
  const kinds: string[] = [];
  const clause = defineDriverClause({
    label: STATUS,
    statement: 1,
    level: "MUST",
    title: "t",
    requirement: "r",
    action: "a",
    applies: { legacy: true },
    async run(ctx) {
      const t = await ctx.scenarios.run({});
      kinds.push(ctx.scenarios.transport);
      assert(t.probe.bound, t.probe.error);
    },
  });
  const results = await runTarget(referenceDriverTarget(), [clause], { ...opts, present: "rng" });
  assertEquals(results.map((r) => [r.transport, r.verdict]), [["mmio", "pass"], ["pci", "pass"], [
    "mmio-legacy",
    "pass",
  ]]);
  assertEquals(kinds, ["mmio", "pci", "mmio-legacy"]);
});

Deno.test("harness device: PCI and legacy accesses are recorded with their MMIO counterparts and raw location", async () => {
  const pci = await new ScenarioRunner(referenceDriverTarget(), "rng", 2000, "pci").run({});
  assert(pci.probe.bound, pci.probe.error);
  const writes = statusWrites(pci);
  assert(writes.length >= 4);
  assert(writes.every((e) => e.raw.space === "common" && e.raw.offset === 20 && e.width === 1));
  assert(writes.some((e) => (e.value & Status.DRIVER_OK) !== 0));
  const enable = accesses(pci).find((e) => e.kind === "write" && e.offset === Mmio.QueueReady);
  assertEquals(enable?.raw, { space: "common", offset: 28, value: 1 });
  assert(accesses(pci).some((e) => e.raw.space === "pci-config" && e.offset === -1));
  assert(accesses(pci).some((e) => e.kind === "write" && e.offset === Mmio.QueueNotify && e.raw.space === "notify"));
  assert(pci.results[0]?.ok);

  const legacy = await new ScenarioRunner(referenceDriverTarget(), "rng", 2000, "mmio-legacy").run({});
  assert(legacy.probe.bound, legacy.probe.error);
  const pfn = accesses(legacy).find((e) => e.kind === "write" && e.offset === Mmio.QueueReady);
  assertEquals(pfn?.value, 1);
  assertEquals(pfn?.raw.offset, 0x040);
  assert(pfn!.raw.value > 1, "QueuePFN holds a page number");
  assert(!statusWrites(legacy).some((e) => e.value & Status.FEATURES_OK), "no FEATURES_OK on the legacy interface");
  assert(legacy.results[0]?.ok);
});

Deno.test("runner: the shards of a campaign run each clause once, and together give the unsharded run's verdicts", async () => {
  const base = {
    seed: 1,
    runs: 3,
    strict: true,
    targetArg: "--target reference-rng-device",
    shrink: false,
    filter: "4.2",
  };
  const key = (r: { target: string; transport: string; clause: string }) => `${r.target} ${r.transport} ${r.clause}`;
  const whole = await runTarget(referenceDeviceTarget("rng"), CLAUSES, base);
  const shards = [];
  for (let index = 1; index <= 3; index++) {
    shards.push(await runTarget(referenceDeviceTarget("rng"), CLAUSES, { ...base, shard: { index, count: 3 } }));
  }
  assert(shards.every((s) => s.length > 0 && s.length < whole.length), shards.map((s) => s.length).join(", "));
  const merged = shards.flat();
  assertEquals(new Set(merged.map(key)).size, merged.length, "no clause ran in two shards");
  assertEquals(
    new Map(merged.map((r) => [key(r), r.verdict])),
    new Map(whole.map((r) => [key(r), r.verdict])),
  );
  assertEquals(shardOf("t", "mmio", "k", 3), shardOf("t", "mmio", "k", 3));
});
