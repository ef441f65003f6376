/**
 * Driver clauses of spec 3.4 Device Suspend (VIRTIO_F_SUSPEND, v1.4): the
 * harness presents a device that offers VIRTIO_F_SUSPEND, asks the driver to
 * suspend and resume it between two ordinary workloads, and reads what the
 * driver did in between.
 *
 * @module
 */
import { defineDriverClause, type DriverClauseContext } from "../../harness/core/clause.ts";
import { bit, F } from "../../harness/features.ts";
import { type AccessEvent, defaultWorkloads, type ScenarioTrace } from "../../harness/roles/harness_device.ts";
import { SUSPEND_DRIVER } from "../../harness/ring_labels.ts";
import { formatStatus, Status } from "../../harness/status.ts";
import { Mmio } from "../../harness/transport/mmio_layout.ts";
import { expectNone, expectThat, notApplicable } from "../../harness/verify.ts";
import { accepted, accesses, fmtAccess, fmtRing, ringViolationsOf } from "../driver_trace.ts";

const APPLIES = { deviceTypes: ["rng" as const, "blk" as const] };

/** The register accesses from the driver's SUSPEND write to its resume (DRIVER_OK set again), and after. */
interface SuspendWindow {
  trace: ScenarioTrace;
  all: AccessEvent[];
  /** Index of the status write that set SUSPEND on an initialized device. */
  start: number;
  /** Index of the status write that set DRIVER_OK on the suspended device (-1: none). */
  resume: number;
}

const isStatusWrite = (e: AccessEvent) => e.kind === "write" && e.offset === Mmio.Status;

/** Runs an ordinary workload, a suspend and resume, and the workload again; n/a when the driver does not suspend. */
async function suspendRun(ctx: DriverClauseContext): Promise<SuspendWindow> {
  if (!ctx.target.info.workloads.includes("suspend")) notApplicable("the driver does not support the suspend workload");
  const work = defaultWorkloads(ctx.deviceType).slice(0, 1);
  const trace = await ctx.scenarios.run({ workloads: [...work, { kind: "suspend" }, ...work] });
  if (!trace.probe.bound) notApplicable(`the driver did not bind: ${trace.probe.error ?? "no reason given"}`);
  if (!(accepted(trace) & bit(F.SUSPEND))) notApplicable("the driver did not negotiate VIRTIO_F_SUSPEND");
  const all = accesses(trace);
  const start = all.findIndex((e) =>
    isStatusWrite(e) && (e.value & Status.SUSPEND) !== 0 && (e.status & Status.DRIVER_OK) !== 0
  );
  if (start < 0) notApplicable("the driver never set SUSPEND on the initialized device");
  const resume = all.findIndex((e, i) =>
    i > start && isStatusWrite(e) && (e.value & Status.DRIVER_OK) !== 0 && (e.status & Status.DRIVER_OK) === 0
  );
  return { trace, all, start, resume };
}

/** The accesses while the driver had the device suspended (from SUSPEND to the resume write, or to the end). */
function whileSuspended(w: SuspendWindow): AccessEvent[] {
  return w.all.slice(w.start + 1, w.resume < 0 ? undefined : w.resume);
}

const isNotify = (e: AccessEvent) => e.kind === "write" && e.offset === Mmio.QueueNotify;

export const suspendOnlyWhenRunning = defineDriverClause({
  label: SUSPEND_DRIVER,
  statement: 1,
  level: "SHOULD NOT",
  title: "SUSPEND set only with DRIVER_OK set and VIRTIO_F_SUSPEND negotiated",
  requirement: "The driver sets SUSPEND only on a device that is running (DRIVER_OK) and with which it negotiated " +
    "VIRTIO_F_SUSPEND.",
  action: "Lets the driver work, suspend and resume the device, and work again; checks every status write that " +
    "sets SUSPEND.",
  applies: APPLIES,
  async run(ctx) {
    const w = await suspendRun(ctx);
    const negotiated = (accepted(w.trace) & bit(F.SUSPEND)) !== 0n;
    const bad = w.all.filter((e) =>
      isStatusWrite(e) && (e.value & Status.SUSPEND) !== 0 &&
      (!negotiated || ((e.status & Status.DRIVER_OK) === 0 && (e.status & Status.SUSPEND) === 0))
    );
    expectNone(
      "SUSPEND written only while DRIVER_OK is set",
      bad,
      (e) => `${fmtAccess(e)} on ${formatStatus(e.status)}`,
    );
  },
});

export const verifiesSuspended = defineDriverClause({
  label: SUSPEND_DRIVER,
  statement: 2,
  level: "MUST",
  title: "after setting SUSPEND, the driver re-reads status until the device shows itself suspended",
  requirement: "Having set SUSPEND, the driver reads device status again and looks for SUSPEND set and DRIVER_OK " +
    "clear before it takes the device as suspended.",
  action: "Lets the driver suspend and resume the device; checks that between the SUSPEND write and the resume " +
    "write a status read returned SUSPEND=1, DRIVER_OK=0.",
  applies: APPLIES,
  async run(ctx) {
    const w = await suspendRun(ctx);
    const seen = whileSuspended(w).some((e) =>
      e.kind === "read" && e.offset === Mmio.Status && (e.value & Status.SUSPEND) !== 0 &&
      (e.value & Status.DRIVER_OK) === 0
    );
    expectThat(
      seen,
      "a status read showing SUSPEND=1, DRIVER_OK=0 after the SUSPEND write" +
        (w.resume < 0 ? "" : " and before the resume"),
      () => `none among ${whileSuspended(w).length} accesses after ${fmtAccess(w.all[w.start]!)}`,
    );
  },
});

export const noBuffersWhileSuspended = defineDriverClause({
  label: SUSPEND_DRIVER,
  statement: 3,
  level: "MUST NOT",
  title: "no buffer made available after setting SUSPEND",
  requirement: "From setting SUSPEND until it resumes the device, the driver makes no buffer available.",
  action: "Lets the driver suspend and resume the device between two workloads; the ring monitor flags any " +
    "buffer made available while SUSPEND is set.",
  applies: APPLIES,
  async run(ctx) {
    const w = await suspendRun(ctx);
    expectNone("buffers made available while suspended", ringViolationsOf(w.trace, `${SUSPEND_DRIVER}#3`), fmtRing);
  },
});

export const noNotifyWhileSuspended = defineDriverClause({
  label: SUSPEND_DRIVER,
  statement: 4,
  level: "MUST NOT",
  title: "no notification after setting SUSPEND",
  requirement: "From setting SUSPEND until it resumes the device, the driver sends no available-buffer " +
    "notification on any virtqueue.",
  action: "Lets the driver suspend and resume the device between two workloads and looks for queue notifications " +
    "between the SUSPEND write and the resume write.",
  applies: APPLIES,
  async run(ctx) {
    const w = await suspendRun(ctx);
    expectNone("queue notifications while suspended", whileSuspended(w).filter(isNotify), fmtAccess);
  },
});

export const noConfigWriteWhileSuspended = defineDriverClause({
  label: SUSPEND_DRIVER,
  statement: 5,
  level: "MUST NOT",
  title: "no configuration write after setting SUSPEND",
  requirement: "From setting SUSPEND until it resumes the device, the driver writes nothing to the device " +
    "configuration space (device status aside).",
  action: "Lets the driver suspend and resume the device between two workloads and looks for writes to the " +
    "device-specific configuration between the SUSPEND write and the resume write.",
  applies: APPLIES,
  async run(ctx) {
    const w = await suspendRun(ctx);
    const writes = whileSuspended(w).filter((e) => e.kind === "write" && e.offset >= Mmio.Config);
    expectNone("configuration writes while suspended", writes, fmtAccess);
  },
});

export const waitsForResume = defineDriverClause({
  label: SUSPEND_DRIVER,
  statement: 6,
  level: "MUST",
  title: "after resuming, the driver waits for SUSPEND=0 and DRIVER_OK=1 before working",
  requirement: "Having set DRIVER_OK on a suspended device, the driver waits until device status shows SUSPEND " +
    "clear and DRIVER_OK set before it uses the device normally again.",
  action: "Lets the driver suspend and resume the device, then work; checks that a status read showing SUSPEND=0, " +
    "DRIVER_OK=1 comes after the resume write and before the next queue notification.",
  applies: APPLIES,
  async run(ctx) {
    const w = await suspendRun(ctx);
    if (w.resume < 0) notApplicable("the driver did not resume the device");
    const next = w.all.findIndex((e, i) => i > w.resume && isNotify(e));
    if (next < 0) notApplicable("the driver notified no queue after resuming");
    const ok = w.all.slice(w.resume + 1, next).some((e) =>
      e.kind === "read" && e.offset === Mmio.Status && (e.value & Status.SUSPEND) === 0 &&
      (e.value & Status.DRIVER_OK) !== 0
    );
    expectThat(
      ok,
      "a status read showing SUSPEND=0, DRIVER_OK=1 between the resume write and the next notification",
      () => `${fmtAccess(w.all[next]!)} came first`,
    );
  },
});

/** The driver clauses of spec 3.4. */
export const SUSPEND_DRIVER_CLAUSES = [
  suspendOnlyWhenRunning,
  verifiesSuspended,
  noBuffersWhileSuspended,
  noNotifyWhileSuspended,
  noConfigWriteWhileSuspended,
  waitsForResume,
];
