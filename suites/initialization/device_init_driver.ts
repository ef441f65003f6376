/**
 * Driver clauses of spec 3.1 Device Initialization and 3.3 Device Cleanup.
 *
 * @module
 */
import fc from "fast-check";
import { defineDriverClause, type DriverClauseContext } from "../../harness/core/clause.ts";
import { bit, F } from "../../harness/features.ts";
import { REFERENCE_CORE_FEATURES } from "../../harness/models/device/core.ts";
import { checkProperty } from "../../harness/core/property.ts";
import {
  type AccessEvent,
  defaultWorkloads,
  deviceFunctionFor,
  type ScenarioTrace,
} from "../../harness/roles/harness_device.ts";
import { formatStatus, Status } from "../../harness/status.ts";
import { Mmio } from "../../harness/transport/mmio_layout.ts";
import { expectNone, expectThat, notApplicable } from "../../harness/verify.ts";
import {
  accesses,
  acrossOffers,
  fmtAccess,
  fmtRing,
  ringViolationsOf,
  statusWrites,
  wroteStatus,
} from "../driver_trace.ts";

const INIT = "drivernormative:General Initialization And Device Operation / Device Initialization";
const CLEANUP = "drivernormative:General Initialization And Device Operation / Device Cleanup";

/**
 * The milestones of spec 3.1.1 in order, each found as the first matching access after the previous one. DRIVER
 * may be set by the same status write as ACKNOWLEDGE (`withPrevious`): one write of both bits does steps 2 and 3
 * in order (SeaBIOS does so); DRIVER without ACKNOWLEDGE, or before it, is still out of order.
 */
const MILESTONES: { name: string; match: (e: AccessEvent) => boolean; withPrevious?: boolean; bit?: number }[] = [
  { name: "reset (status 0)", match: (e) => e.kind === "write" && e.offset === Mmio.Status && e.value === 0 },
  {
    name: "ACKNOWLEDGE",
    match: (e) => e.kind === "write" && e.offset === Mmio.Status && (e.value & Status.ACKNOWLEDGE) !== 0,
    bit: Status.ACKNOWLEDGE,
  },
  {
    name: "DRIVER",
    match: (e) => e.kind === "write" && e.offset === Mmio.Status && (e.value & Status.DRIVER) !== 0,
    withPrevious: true,
    bit: Status.DRIVER,
  },
  { name: "device features read", match: (e) => e.kind === "read" && e.offset === Mmio.DeviceFeatures },
  { name: "driver features written", match: (e) => e.kind === "write" && e.offset === Mmio.DriverFeatures },
  {
    name: "FEATURES_OK",
    match: (e) => e.kind === "write" && e.offset === Mmio.Status && (e.value & Status.FEATURES_OK) !== 0,
    bit: Status.FEATURES_OK,
  },
  { name: "status re-read", match: (e) => e.kind === "read" && e.offset === Mmio.Status },
  { name: "queue enabled", match: (e) => e.kind === "write" && e.offset === Mmio.QueueReady && e.value === 1 },
  {
    name: "DRIVER_OK",
    match: (e) => e.kind === "write" && e.offset === Mmio.Status && (e.value & Status.DRIVER_OK) !== 0,
  },
];

/**
 * Checks the initialization order in a trace; returns the first milestone out of order, if any. A status bit
 * (ACKNOWLEDGE, DRIVER, FEATURES_OK) set after the reset but before the step it follows is out of order even when a
 * later write sets it again in order; DRIVER_OK set at any time before its turn is too.
 */
export function initOrderProblem(t: ScenarioTrace): string | undefined {
  const acc = accesses(t);
  let from = 0;
  let afterReset = 0;
  let previous = "";
  for (const m of MILESTONES) {
    if (m.withPrevious) from = Math.max(0, from - 1);
    const at = acc.findIndex((e, i) => i >= from && m.match(e));
    if (at < 0) return `${m.name} never happened after the previous step`;
    const earlyFrom = m.name === "DRIVER_OK" ? 0 : m.bit !== undefined ? afterReset : from;
    const early = acc.findIndex((e, i) => i >= earlyFrom && i < from && m.match(e));
    if (early >= 0) return `${m.name} set before ${previous}: ${fmtAccess(acc[early]!)}`;
    if (m.name.startsWith("reset")) afterReset = at + 1;
    from = at + 1;
    previous = m.name;
  }
  return undefined;
}

export const followsSequence = defineDriverClause({
  label: INIT,
  statement: 1,
  level: "MUST",
  title: "initialization follows the spec's sequence",
  requirement: "The driver initializes the device in the spec's order: reset, ACKNOWLEDGE, DRIVER, read the " +
    "device features and write its own, FEATURES_OK, re-read the status, device-specific set-up, DRIVER_OK.",
  action: "Presents devices offering random feature sets and checks the order of these steps in the register trace.",
  async run(ctx) {
    await acrossOffers(ctx, (t) => {
      const problem = initOrderProblem(t);
      expectThat(problem === undefined, "the steps of spec 3.1.1 in order", () => problem!);
    }, { workloads: [] });
  },
});

export const noConfigWriteBeforeFeaturesOk = defineDriverClause({
  label: INIT,
  statement: 3,
  level: "MUST NOT",
  title: "no configuration write before FEATURES_OK",
  requirement: "While negotiating features (before FEATURES_OK) the driver may read the configuration but " +
    "writes none of it.",
  action: "Lets the driver probe devices offering random feature sets and looks for configuration writes while " +
    "FEATURES_OK was clear.",
  async run(ctx) {
    await acrossOffers(ctx, (t) => {
      const early = accesses(t).filter((e) =>
        e.kind === "write" && e.offset >= Mmio.Config && !(e.status & Status.FEATURES_OK)
      );
      expectNone(
        "no configuration write before FEATURES_OK",
        early,
        (e) => `${fmtAccess(e)} at status ${formatStatus(e.status)}`,
      );
    }, { workloads: [] });
  },
});

export const noNewFeaturesAfterFeaturesOk = defineDriverClause({
  label: INIT,
  statement: 4,
  level: "MUST NOT",
  title: "no feature accepted after FEATURES_OK",
  requirement: "Once the driver has set FEATURES_OK it writes no further feature bits (until a reset).",
  action: "Lets the driver probe and work, then looks for DriverFeatures writes while FEATURES_OK was set.",
  async run(ctx) {
    const t = await ctx.scenarios.baseline();
    const late = accesses(t).filter((e) =>
      e.kind === "write" && e.offset === Mmio.DriverFeatures && (e.status & Status.FEATURES_OK)
    );
    expectNone("no DriverFeatures write after FEATURES_OK", late, fmtAccess);
  },
});

export const failedWhenRefused = defineDriverClause({
  label: INIT,
  statement: 5,
  level: "SHOULD",
  title: "FAILED set when initialization cannot go on",
  requirement: "When a step of initialization goes wrong for good, such as the device refusing FEATURES_OK, the " +
    "driver sets FAILED.",
  action: "Presents a device that leaves FEATURES_OK clear and looks for a FAILED status write.",
  async run(ctx) {
    const t = await ctx.scenarios.run({ knobs: { rejectFeaturesOk: true }, workloads: [] });
    expectThat(
      wroteStatus(t, Status.FAILED),
      "a status write with FAILED",
      () => `status writes ${statusWrites(t).map((e) => formatStatus(e.value)).join(", ")}`,
    );
  },
});

export const stopsWhenRefused = defineDriverClause({
  label: INIT,
  statement: 6,
  level: "MUST NOT",
  title: "initialization stops when FEATURES_OK is refused",
  requirement: "After the device refused FEATURES_OK the driver goes no further: no queue set-up, no DRIVER_OK, " +
    "until it resets the device.",
  action: "Presents a device that leaves FEATURES_OK clear and looks for queue enables or DRIVER_OK after the " +
    "refusal.",
  async run(ctx) {
    await checkProperty(ctx, fc.constantFrom(1, 2), async (probes) => {
      const t = await ctx.scenarios.run({ knobs: { rejectFeaturesOk: true }, workloads: [], probes });
      const acc = accesses(t);
      const bad: AccessEvent[] = [];
      let refused = false;
      for (const e of acc) {
        if (e.kind === "write" && e.offset === Mmio.Status && e.value === 0) refused = false;
        if (e.kind === "write" && e.offset === Mmio.Status && (e.value & Status.FEATURES_OK)) refused = true;
        else if (
          refused && e.kind === "write" &&
          (e.offset === Mmio.QueueReady && e.value === 1 || e.offset === Mmio.QueueNotify)
        ) bad.push(e);
        else if (refused && e.kind === "write" && e.offset === Mmio.Status && (e.value & Status.DRIVER_OK)) bad.push(e);
      }
      expectNone("nothing beyond FEATURES_OK once it was refused", bad, fmtAccess);
    }, (p) => `${p} probe(s)`);
  },
});

export const noNotifyBeforeDriverOk = defineDriverClause({
  label: INIT,
  statement: 7,
  level: "MUST NOT",
  title: "no available-buffer notification before DRIVER_OK",
  applies: { legacy: true },
  requirement: "The driver sends no available-buffer notification before it has set DRIVER_OK.",
  action: "Lets the driver probe and work, then looks for QueueNotify writes while DRIVER_OK was clear.",
  async run(ctx) {
    const t = await ctx.scenarios.baseline();
    const early = accesses(t).filter((e) =>
      e.kind === "write" && e.offset === Mmio.QueueNotify && !(e.status & Status.DRIVER_OK)
    );
    expectNone("no QueueNotify before DRIVER_OK", early, (e) => `${fmtAccess(e)} at status ${formatStatus(e.status)}`);
  },
});

/** A scenario where two requests stay exposed (the device never uses them) when the driver is removed. */
function heldRequests(ctx: DriverClauseContext, splitOnly = false): Promise<ScenarioTrace> {
  const work = defaultWorkloads(ctx.deviceType);
  // Only a device the harness presents has a reference function (a watched driver's scenario is n/a first).
  const offered = () => deviceFunctionFor(ctx.deviceType).features | (REFERENCE_CORE_FEATURES & ~bit(F.RING_PACKED));
  return ctx.scenarios.run({
    knobs: { holdRequests: true, ...(splitOnly ? { offered: offered() } : {}) },
    // Every request times out by design: the driver need not wait long for any of them.
    workloadDeadlineMs: 25,
    workloads: [...work, ...work],
  });
}

export const exposedBuffersUntouched = defineDriverClause({
  label: CLEANUP,
  statement: 1,
  level: "MUST NOT",
  title: "exposed buffers left alone while the queue is live",
  applies: { legacy: true },
  requirement: "While a queue is live, the driver does not change the descriptors of buffers it made available " +
    "and the device has not used yet.",
  action: "Presents a device that never completes requests (on its default rings, then split rings only), asks " +
    "for two requests (both time out), removes the driver and watches the exposed descriptors for changes, or " +
    "reuse in a new chain, while the queue is live (a real driver: its descriptor writes while its buffers were out).",
  async run(ctx) {
    if (ctx.scenarios.watched) {
      // A real driver beside its own device: judged on its descriptor writes while its buffers were out, when the
      // adapter watched them.
      const t = await ctx.scenarios.baseline();
      if (!t.ringsWatched) notApplicable("the driver's ring writes were not watched as they happened");
      if (!t.probe.bound) notApplicable("the driver did not bind");
      return expectNone(
        "exposed descriptors unchanged and not reused while the queue is live",
        ringViolationsOf(t, `${CLEANUP}#1`),
        fmtRing,
      );
    }
    const traces = [await heldRequests(ctx), await heldRequests(ctx, true)].filter((t) => t.probe.bound);
    if (traces.length === 0) notApplicable("the driver did not bind");
    // The ring monitor reports exposed descriptors changed or reused in a new chain under this statement.
    const found = traces.flatMap((t) => ringViolationsOf(t, `${CLEANUP}#1`));
    expectNone("exposed descriptors unchanged and not reused while the queue is live", found, fmtRing);
  },
});

export const resetBeforeReclaim = defineDriverClause({
  label: CLEANUP,
  statement: 2,
  level: "MUST",
  title: "device reset before exposed buffers are reclaimed",
  applies: { legacy: true },
  requirement: "Before the driver takes back buffers the device has not used, it makes the queue not live by " +
    "resetting the device.",
  action: "Presents a device that never completes requests, asks for work, removes the driver and checks that " +
    "it reset the device after the buffers were exposed and before it finished.",
  async run(ctx) {
    const t = await heldRequests(ctx);
    if (!t.probe.bound) notApplicable("the driver did not bind");
    const removeAt = t.events.findIndex((e) => e.kind === "phase" && e.phase === "remove");
    const notify = accesses(t).find((e) => e.kind === "write" && e.offset === Mmio.QueueNotify);
    if (!notify) notApplicable("the driver made no request available");
    const reset = statusWrites(t).find((e) => e.value === 0 && e.seq > notify.seq);
    expectThat(
      reset !== undefined,
      "a device reset after the request was exposed",
      () => `no reset after ${fmtAccess(notify)} (removal began at event ${removeAt})`,
    );
  },
});

/** The driver clauses of spec 3.1 and 3.3. */
export const INIT_DRIVER_CLAUSES = [
  followsSequence,
  noConfigWriteBeforeFeaturesOk,
  noNewFeaturesAfterFeaturesOk,
  failedWhenRefused,
  stopsWhenRefused,
  noNotifyBeforeDriverOk,
  exposedBuffersUntouched,
  resetBeforeReclaim,
];
