/**
 * Driver clauses of spec 2.1 Device Status Field.
 *
 * @module
 */
import fc from "fast-check";
import { defineDriverClause } from "../../harness/core/clause.ts";
import { checkProperty } from "../../harness/core/property.ts";
import { formatStatus, Status } from "../../harness/status.ts";
import { expectNone, expectThat, notApplicable } from "../../harness/verify.ts";
import { fmtAccess, offeredSets, statusWrites } from "../driver_trace.ts";
import { formatFeatures } from "../../harness/features.ts";

const DRIVER = "drivernormative:Basic Facilities of a Virtio Device / Device Status Field";
const INIT_BITS = Status.ACKNOWLEDGE | Status.DRIVER | Status.FEATURES_OK | Status.DRIVER_OK;

export const statusRecordsSteps = defineDriverClause({
  label: DRIVER,
  statement: 1,
  level: "MUST",
  title: "status bits record the completed initialization steps",
  requirement: "As the driver completes the steps of initialization it sets the matching status bits, so a " +
    "driver that finished initialization has set ACKNOWLEDGE, DRIVER, FEATURES_OK and DRIVER_OK.",
  action: "Presents a conforming device, lets the driver probe it and do one request, and reads the last status " +
    "value the driver wrote before it was removed.",
  async run(ctx) {
    const t = await ctx.scenarios.baseline();
    expectThat(
      t.probe.bound,
      "the driver to bind to a conforming device",
      () => `probe: ${t.probe.error ?? "not bound"}`,
    );
    // What the driver wrote once it had initialized, not what it does after it is removed (Linux writes
    // ACKNOWLEDGE again after its remove, so the device shows it was seen).
    const removeAt = t.events.find((e) => e.kind === "phase" && e.phase === "remove")?.seq ?? Infinity;
    const final = statusWrites(t).filter((e) => e.value !== 0 && e.seq < removeAt).at(-1);
    expectThat(
      final !== undefined && (final.value & INIT_BITS) === INIT_BITS,
      `a status write with ${formatStatus(INIT_BITS)}`,
      () => final ? `last status written ${formatStatus(final.value)}` : "no status written",
    );
  },
});

export const neverClearsBit = defineDriverClause({
  label: DRIVER,
  statement: 2,
  level: "MUST NOT",
  title: "no status bit cleared",
  applies: { legacy: true },
  requirement: "Apart from the reset (writing 0), every status the driver writes keeps all bits already set.",
  action: "Runs the driver against devices offering random feature sets, some refusing FEATURES_OK, and checks " +
    "every non-zero status write against the status before it.",
  async run(ctx) {
    const arb = fc.record({ offered: offeredSets(ctx.deviceType), refuse: fc.boolean() });
    const watched = ctx.scenarios.watched;
    await checkProperty(
      ctx,
      watched ? fc.constant({ offered: 0n, refuse: false }) : arb,
      async ({ offered, refuse }) => {
        const t = watched
          ? await ctx.scenarios.baseline()
          : await ctx.scenarios.run({ knobs: { offered, rejectFeaturesOk: refuse } });
        const cleared = statusWrites(t).filter((e) => {
          const before = e.status & ~Status.DEVICE_NEEDS_RESET;
          return e.value !== 0 && (e.value & before) !== before;
        });
        expectNone(
          "every non-zero status write to keep the bits already set",
          cleared,
          (e) => `${fmtAccess(e)} while status was ${formatStatus(e.status)}`,
        );
      },
      (v) =>
        watched
          ? "the real device's own run"
          : `offered ${formatFeatures(v.offered, ctx.deviceType)}${v.refuse ? ", FEATURES_OK refused" : ""}`,
    );
  },
});

export const resetAfterFailed = defineDriverClause({
  label: DRIVER,
  statement: 3,
  level: "MUST",
  title: "reset before re-initializing after FAILED",
  requirement: "Once the driver has set FAILED, it resets the device before it tries to initialize it again.",
  action: "Presents a device that refuses FEATURES_OK, probes twice, and checks that after a status write with " +
    "FAILED the next status write is the reset value 0.",
  async run(ctx) {
    const t = await ctx.scenarios.run({ knobs: { rejectFeaturesOk: true }, probes: 2, workloads: [] });
    const writes = statusWrites(t);
    const at = writes.findIndex((e) => (e.value & Status.FAILED) !== 0);
    if (at < 0) notApplicable("the driver never set FAILED");
    const next = writes.slice(at + 1).find((e) => !(e.value & Status.FAILED));
    if (!next) notApplicable("the driver did not try to initialize the device again");
    expectThat(next.value === 0, "the first status write after FAILED to be the reset (0)", () => fmtAccess(next));
  },
});

export const noRelianceAfterNeedsReset = defineDriverClause({
  label: DRIVER,
  statement: 4,
  level: "SHOULD NOT",
  title: "no reliance on completions after DEVICE_NEEDS_RESET",
  requirement: "When the device reports DEVICE_NEEDS_RESET, the driver stops counting on outstanding requests " +
    "completing and recovers (typically with a reset) instead of waiting for them.",
  action: "Presents a device that answers the first request with DEVICE_NEEDS_RESET and a configuration change " +
    "notification; checks that the request is reported failed and the driver resets the device before removal.",
  async run(ctx) {
    const t = await ctx.scenarios.run({ knobs: { needsResetOnRequest: true } });
    if (!t.probe.bound) notApplicable("the driver did not bind");
    const removeAt = t.events.findIndex((e) => e.kind === "phase" && e.phase === "remove");
    const resetBeforeRemove = statusWrites(t).some((e) =>
      e.value === 0 && e.seq < removeAt && (e.status & Status.DEVICE_NEEDS_RESET)
    );
    const result = t.results[0];
    expectThat(
      result !== undefined && !result.ok && resetBeforeRemove,
      "the request reported failed and a reset issued before removal",
      () =>
        `request ${
          result?.ok ? "reported success" : `failed (${result && !result.ok ? result.error : "no result"})`
        }, ${resetBeforeRemove ? "" : "no "}reset before removal`,
    );
  },
});

/** The driver clauses of spec 2.1. */
export const DEVICE_STATUS_DRIVER_CLAUSES = [
  statusRecordsSteps,
  neverClearsBit,
  resetAfterFailed,
  noRelianceAfterNeedsReset,
];
