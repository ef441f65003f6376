/**
 * Driver-obligation clauses of spec 2.6, 2.7 and 2.8: the harness presents a
 * reference device and its ring monitor watches every ring access of the
 * driver under test. Each clause runs the scenarios that exercise its
 * statement (ring layouts, feature sets, the device's notification
 * settings) and fails on any monitor report naming it, with the exact ring
 * entries.
 *
 * @module
 */
import type { Workload } from "../../harness/adapter.ts";
import { defineDriverClause, type DriverClause, type DriverClauseContext } from "../../harness/core/clause.ts";
import { bit, type DeviceTypeName, F, mask } from "../../harness/features.ts";
import type { DeviceKnobs } from "../../harness/models/device/core.ts";
import { REFERENCE_CORE_FEATURES } from "../../harness/models/device/core.ts";
import { entropyRun, fmtUntrusted, untrustedReads } from "../entropy/entropy_driver.ts";
import { deviceFunctionFor, type Scenario, type ScenarioTrace } from "../../harness/roles/harness_device.ts";
import {
  RING_ACCESS_STATEMENTS,
  SNAPSHOT_RING_STATEMENTS,
  WATCHED_RING_STATEMENTS,
} from "../../harness/roles/watched_trace.ts";
import type { Level } from "../../harness/spec_data.ts";
import { Mmio, mmioName } from "../../harness/transport/mmio_layout.ts";
import { expectNone, expectThat, notApplicable } from "../../harness/verify.ts";
import { accepted, accesses, fmtAccess, fmtRing, ringViolationsOf } from "../driver_trace.ts";
import {
  AVAIL_RING,
  AVAIL_SUPPRESSION,
  DESC_TABLE,
  FRAMING,
  INDIRECT,
  NOTIFYING,
  PACKED,
  PACKED_DESC,
  PACKED_FLAGS,
  PACKED_INDIRECT,
  PACKED_NOTIFY,
  PACKED_SG,
  QUEUE_REENABLE,
  QUEUE_RESET,
  UPDATING_IDX,
  USED_RING,
  USED_SUPPRESSION,
  VQ,
} from "../../harness/ring_labels.ts";

const RESERVED = "drivernormative:Reserved Feature Bits";

/** The ring features a scenario offers on top of VERSION_1 and the device type's own. */
type RingOffer =
  | "packed-all"
  | "split-all"
  | "split-plain"
  | "split-event-idx"
  | "split-indirect-in-order"
  | "packed-plain"
  | "packed-event-idx";

const OFFERS: Record<RingOffer, bigint> = {
  "packed-all": REFERENCE_CORE_FEATURES,
  "split-all": REFERENCE_CORE_FEATURES & ~bit(F.RING_PACKED),
  "split-plain": mask(F.VERSION_1, F.RING_RESET),
  "split-event-idx": mask(F.VERSION_1, F.RING_RESET, F.EVENT_IDX),
  "split-indirect-in-order": mask(F.VERSION_1, F.RING_RESET, F.INDIRECT_DESC, F.IN_ORDER),
  "packed-plain": mask(F.VERSION_1, F.RING_RESET, F.RING_PACKED),
  "packed-event-idx": mask(F.VERSION_1, F.RING_RESET, F.RING_PACKED, F.EVENT_IDX, F.NOTIFICATION_DATA),
};

/** Work that fills small queues several times over, with a queue reset in the middle. */
function ringWork(type: DeviceTypeName): Workload[] {
  if (type === "blk") {
    const data = Uint8Array.from({ length: 1024 }, (_, i) => (i * 13 + 7) & 0xff);
    return [
      { kind: "blk-write", sector: 0, data },
      { kind: "blk-read", sector: 0, sectors: 2 },
      { kind: "blk-read", sector: 1, sectors: 1 },
      { kind: "queue-reset", queue: 0 },
      { kind: "blk-write", sector: 2, data: data.subarray(0, 512) },
      { kind: "blk-read", sector: 0, sectors: 2 },
      { kind: "blk-read", sector: 2, sectors: 1 },
    ];
  }
  const reads: Workload[] = Array.from({ length: 6 }, (_, i) => ({ kind: "rng-read", bytes: 8 + 8 * i }));
  return [...reads, { kind: "queue-reset", queue: 0 }, ...reads];
}

/** One scenario of a ring clause: an offer and device knobs. */
interface RingScenario {
  offer: RingOffer;
  knobs?: DeviceKnobs;
  configure?: Scenario["configure"];
  /** The device leaves some requests unserved by design: the driver's deadline for each (default 400 ms). */
  workloadDeadlineMs?: number;
}

/**
 * A device that keeps avail_event 3 entries ahead serves a request only once a later publication passes it: the
 * driver waits out every request before that, so it is given little time for each.
 */
const AVAIL_EVENT_AHEAD: RingScenario = {
  offer: "split-event-idx",
  knobs: { availEventAhead: 3 },
  workloadDeadlineMs: 30,
};

async function runRing(
  ctx: DriverClauseContext,
  r: RingScenario,
  workloads = ringWork(ctx.deviceType),
): Promise<ScenarioTrace> {
  const offered = deviceFunctionFor(ctx.deviceType).features | OFFERS[r.offer];
  return await ctx.scenarios.run({
    knobs: { ...r.knobs, offered },
    workloads,
    queueSizeMax: 4,
    // A conforming driver finishes each request in milliseconds; one that misses a notification waits this long.
    deadlineMs: 400,
    ...(r.workloadDeadlineMs ? { workloadDeadlineMs: r.workloadDeadlineMs } : {}),
    ...(r.configure ? { configure: r.configure } : {}),
  });
}

/** The device types the harness presents in ring scenarios (a watched driver's own device may be any). */
const PRESENTED: readonly DeviceTypeName[] = ["rng", "blk"];

/** Which ring layouts and features a clause needs the driver to have negotiated for its scenarios to count. */
interface Needs {
  features?: number[];
  without?: number[];
}

function negotiatedAll(t: ScenarioTrace, n: Needs): boolean {
  const a = accepted(t);
  return (n.features ?? []).every((f) => (a & bit(f)) !== 0n) && (n.without ?? []).every((f) => (a & bit(f)) === 0n);
}

/**
 * A clause whose check is "no ring monitor report naming this statement"
 * over its scenarios. Scenarios in which the driver did not negotiate what
 * the statement is about do not count; none counting makes the clause n/a.
 */
function monitorClause(c: {
  label: string;
  statement: number;
  level: Level;
  title: string;
  requirement: string;
  action: string;
  scenarios: RingScenario[];
  needs?: Needs;
  /** The statement whose monitor reports show this one broken (default: this clause's own). */
  reports?: string;
  /** The statement holds on the legacy interface too (`applies.legacy`). */
  legacy?: true;
}): DriverClause {
  const key = c.reports ?? `${c.label}#${c.statement}`;
  return defineDriverClause({
    label: c.label,
    statement: c.statement,
    level: c.level,
    title: c.title,
    requirement: c.requirement,
    action: c.action,
    ...(c.legacy ? { applies: { legacy: true } } : {}),
    async run(ctx) {
      if (!ctx.scenarios.watched && !PRESENTED.includes(ctx.deviceType)) {
        notApplicable(`the harness cannot present a ${ctx.deviceType} device for ring scenarios yet`);
      }
      if (ctx.scenarios.watched) {
        // A real driver beside its own device: only what its register accesses show is judged yet.
        const t = await ctx.scenarios.baseline();
        const judged = WATCHED_RING_STATEMENTS.has(key) || (t.ringSnapshots && SNAPSHOT_RING_STATEMENTS.has(key)) ||
          (t.ringsWatched && RING_ACCESS_STATEMENTS.has(key));
        if (!judged) {
          notApplicable(
            t.ringSnapshots
              ? "a snapshot of an idle driver's rings cannot show this statement (the order of its ring writes, the " +
                "device's notification settings or packed rings)"
              : "the rings of this watched run were not read",
          );
        }
        if (!t.probe.bound || !negotiatedAll(t, c.needs ?? {})) {
          notApplicable("the driver did not negotiate the ring configuration this statement is about");
        }
        return expectNone(`no ring access breaking ${c.title}`, ringViolationsOf(t, key), fmtRing);
      }
      let counted = 0;
      const found: string[] = [];
      for (const s of c.scenarios) {
        const t = await runRing(ctx, s);
        if (!t.probe.bound || !negotiatedAll(t, c.needs ?? {})) continue;
        counted++;
        found.push(...ringViolationsOf(t, key).map((e) => `[${s.offer}] ${fmtRing(e)}`));
      }
      if (counted === 0) notApplicable("the driver negotiated none of the ring configurations this statement is about");
      expectNone(`no ring access breaking ${c.title}`, found, (x) => x);
    },
  });
}

const SPLIT_OFFERS: RingScenario[] = [
  { offer: "split-all" },
  { offer: "split-plain" },
  { offer: "split-event-idx" },
  { offer: "split-indirect-in-order" },
];
const PACKED_OFFERS: RingScenario[] = [{ offer: "packed-all" }, { offer: "packed-plain" }, {
  offer: "packed-event-idx",
}];
const SPLIT = { without: [F.RING_PACKED] };
const PACKED_RING = { features: [F.RING_PACKED] };

export const splitAligned = monitorClause({
  label: VQ,
  statement: 1,
  level: "MUST",
  title: "split queue areas aligned",
  requirement: "Each split-queue area starts on its required alignment: descriptor table 16, available ring 2, " +
    "used ring 4 bytes, and lies in guest memory.",
  action: "Checks each queue's three addresses when the driver enables it, over split scenarios.",
  scenarios: SPLIT_OFFERS,
  needs: SPLIT,
});

export const writableAfterReadable = monitorClause({
  label: FRAMING,
  statement: 1,
  level: "MUST",
  title: "device-writable descriptors after device-readable ones",
  legacy: true,
  requirement: "In every chain the driver places all device-readable descriptors before any device-writable one.",
  action: "Walks every chain the driver publishes on a split ring (indirect tables included).",
  scenarios: SPLIT_OFFERS,
  needs: SPLIT,
});

export const chainBytesBounded = monitorClause({
  label: DESC_TABLE,
  statement: 1,
  level: "MUST NOT",
  title: "no chain longer than 2^32 bytes",
  requirement: "The total length of a chain stays below 2^32 bytes (so no chain loops).",
  action: "Sums the lengths of every published split chain.",
  scenarios: SPLIT_OFFERS,
  needs: SPLIT,
});

export const inOrderNext = monitorClause({
  label: DESC_TABLE,
  statement: 2,
  level: "MUST",
  title: "sequential next fields under IN_ORDER",
  requirement: "With VIRTIO_F_IN_ORDER, a chained descriptor at index x names x + 1 as next (0 after the last " +
    "entry of the table).",
  action: "Offers IN_ORDER on split rings and checks the next field of every chained descriptor published.",
  scenarios: [{ offer: "split-indirect-in-order" }, { offer: "split-all" }],
  needs: { features: [F.IN_ORDER], without: [F.RING_PACKED] },
});

export const indirectOnlyNegotiated = monitorClause({
  label: INDIRECT,
  statement: 1,
  level: "MUST NOT",
  title: "no INDIRECT without VIRTIO_F_INDIRECT_DESC",
  requirement: "The driver sets INDIRECT in a descriptor only when VIRTIO_F_INDIRECT_DESC is negotiated.",
  action: "Offers split rings without INDIRECT_DESC and checks every published descriptor's flags.",
  scenarios: [{ offer: "split-plain" }, { offer: "split-event-idx" }],
  needs: { without: [F.RING_PACKED, F.INDIRECT_DESC] },
});

export const noNestedIndirect = monitorClause({
  label: INDIRECT,
  statement: 2,
  level: "MUST NOT",
  title: "no INDIRECT inside an indirect table",
  legacy: true,
  requirement: "Entries of an indirect table never carry INDIRECT themselves.",
  action: "Offers INDIRECT_DESC on split rings and checks every indirect table the driver publishes.",
  scenarios: [{ offer: "split-all" }, { offer: "split-indirect-in-order" }],
  needs: { features: [F.INDIRECT_DESC], without: [F.RING_PACKED] },
});

export const chainWithinQueueSize = monitorClause({
  label: INDIRECT,
  statement: 3,
  level: "MUST NOT",
  title: "no chain longer than the queue size",
  legacy: true,
  requirement: "A chain never has more descriptors than the queue has entries (so it cannot loop), and every " +
    "index it names lies inside the queue.",
  action: "Walks every published split chain with a queue of 4 entries.",
  scenarios: SPLIT_OFFERS,
  needs: SPLIT,
});

export const indirectNotWithNext = monitorClause({
  label: INDIRECT,
  statement: 4,
  level: "MUST NOT",
  title: "INDIRECT and NEXT never together",
  legacy: true,
  requirement: "No descriptor carries both INDIRECT and NEXT.",
  action: "Offers INDIRECT_DESC on split rings and checks the flags of every published descriptor.",
  scenarios: [{ offer: "split-all" }, { offer: "split-indirect-in-order" }],
  needs: { features: [F.INDIRECT_DESC], without: [F.RING_PACKED] },
});

export const indirectSequentialInOrder = monitorClause({
  label: INDIRECT,
  statement: 5,
  level: "MUST",
  title: "sequential indirect tables under IN_ORDER",
  requirement: "With VIRTIO_F_IN_ORDER, the entries of an indirect table are chained in table order (entry i " +
    "names i + 1).",
  action: "Offers INDIRECT_DESC and IN_ORDER on split rings and checks every indirect table published.",
  scenarios: [{ offer: "split-indirect-in-order" }, { offer: "split-all" }],
  needs: { features: [F.INDIRECT_DESC, F.IN_ORDER], without: [F.RING_PACKED] },
});

export const availIdxForward = monitorClause({
  label: AVAIL_RING,
  statement: 1,
  level: "MUST NOT",
  title: "available idx never decreases",
  legacy: true,
  requirement: "The driver only ever moves the available idx forward (modulo 2^16), and never more than a queue " +
    "ahead of what the device has used.",
  action: "Watches every write of the available idx on split rings.",
  scenarios: SPLIT_OFFERS,
  needs: SPLIT,
});

export const availFlagsZeroOrOne = monitorClause({
  label: USED_SUPPRESSION,
  statement: 1,
  level: "MUST",
  title: "available-ring flags 0 or 1 without EVENT_IDX",
  legacy: true,
  requirement: "Without VIRTIO_F_EVENT_IDX the driver writes only 0 or 1 into the available ring's flags.",
  action: "Offers split rings without EVENT_IDX and watches every write of the available-ring flags.",
  scenarios: [{ offer: "split-plain" }, { offer: "split-indirect-in-order" }],
  needs: { without: [F.RING_PACKED, F.EVENT_IDX] },
});

export const availFlagsZeroWithEventIdx = monitorClause({
  label: USED_SUPPRESSION,
  statement: 3,
  level: "MUST",
  title: "available-ring flags 0 under EVENT_IDX",
  requirement: "With VIRTIO_F_EVENT_IDX the driver keeps the available ring's flags at 0.",
  action: "Offers split rings with EVENT_IDX and watches every write of the available-ring flags.",
  scenarios: [{ offer: "split-event-idx" }, { offer: "split-all" }],
  needs: { features: [F.EVENT_IDX], without: [F.RING_PACKED] },
});

export const survivesSpuriousUsedNotifications = defineDriverClause({
  label: USED_SUPPRESSION,
  statement: 5,
  level: "MUST",
  title: "spurious used-buffer notifications are harmless",
  requirement: "The driver copes with used-buffer notifications that announce nothing new: it keeps working and " +
    "takes nothing for used that the device did not use.",
  action: "Presents a device that sends a used-buffer notification at DRIVER_OK and a second one after every " +
    "used buffer, on split and packed rings, and runs the ring workloads the driver declares; every one must " +
    "still succeed, with no ring violation. The queue reset in the middle is only asked of a driver that " +
    "declares it and counts only when it negotiated VIRTIO_F_RING_RESET.",
  applies: { deviceTypes: ["rng", "blk"] },
  async run(ctx) {
    const declared = new Set(ctx.target.info.workloads);
    const work = ringWork(ctx.deviceType).filter((w) => declared.has(w.kind));
    if (!work.some((w) => w.kind !== "queue-reset")) {
      notApplicable(
        `the driver declares none of the ${ctx.deviceType} request workloads this statement is checked with`,
      );
    }
    const failures: string[] = [];
    for (const offer of ["split-all", "packed-all"] as const) {
      const t = await runRing(ctx, { offer, knobs: { spuriousUsedNotifications: true } }, work);
      if (!t.probe.bound) failures.push(`[${offer}] the driver did not bind: ${t.probe.error ?? "no error given"}`);
      // A queue reset is not the driver's to do without VIRTIO_F_RING_RESET: its refusal says nothing here.
      const ringReset = (accepted(t) & bit(F.RING_RESET)) !== 0n;
      t.results.forEach((r, i) => {
        if (!r.ok && (ringReset || work[i]?.kind !== "queue-reset")) {
          failures.push(`[${offer}] workload ${i} (${work[i]?.kind}): ${r.error}`);
        }
      });
    }
    expectNone("every workload served despite spurious notifications", failures, (x) => x);
  },
});

export const onlyLenBytesTrusted = defineDriverClause({
  label: USED_RING,
  statement: 1,
  level: "MUST NOT",
  title: "nothing beyond len taken from a device-writable buffer",
  requirement: "The driver relies on no byte of a device-writable buffer past the used element's len.",
  action: "Presents an entropy device that fills only 5 bytes of each request (len 5) and asks for 16–56 bytes; " +
    "every byte the driver returns must be one the device wrote, in order.",
  applies: { deviceTypes: ["rng"], legacy: true },
  async run(ctx) {
    const run = await entropyRun(ctx, [{ kind: "rng-read", bytes: 16 }, { kind: "rng-read", bytes: 56 }], 5);
    if (!run.trace.probe.bound) notApplicable("the driver did not bind");
    expectNone("only bytes below len (5 per request) returned", untrustedReads(run), fmtUntrusted(run));
  },
});

export const usedFlagsZeroAtAllocation = monitorClause({
  label: AVAIL_SUPPRESSION,
  statement: 1,
  level: "MUST",
  title: "used-ring flags 0 when the queue is enabled",
  requirement: "The driver hands over a used ring whose flags are 0.",
  action: "Reads the used ring's flags each time the driver enables a split queue (memory left dirty by earlier " +
    "scenarios included).",
  scenarios: SPLIT_OFFERS,
  needs: SPLIT,
});

export const availEventIgnoredWithoutEventIdx = monitorClause({
  label: AVAIL_SUPPRESSION,
  statement: 2,
  level: "MUST",
  title: "avail_event ignored without EVENT_IDX",
  legacy: true,
  requirement: "Without VIRTIO_F_EVENT_IDX the driver pays no attention to avail_event: it notifies whenever the " +
    "used ring's flags are 0.",
  action: "Without EVENT_IDX, presents a device that writes an avail_event that would suppress notifications " +
    "and checks no required notification is missing.",
  scenarios: [{ offer: "split-plain", knobs: { availEventRaw: 0x7fff } }, {
    offer: "split-indirect-in-order",
    knobs: { availEventRaw: 0xfffe },
  }],
  needs: { without: [F.RING_PACKED, F.EVENT_IDX] },
  // A driver that honoured avail_event here would skip notifications the flags (0) require.
  reports: `${AVAIL_SUPPRESSION}#4`,
});

export const noNotifyWhenSuppressed = monitorClause({
  label: AVAIL_SUPPRESSION,
  statement: 3,
  level: "SHOULD NOT",
  title: "no notification while the device's flags say NO_NOTIFY",
  requirement: "Without VIRTIO_F_EVENT_IDX, while the used ring's flags are 1 the driver refrains from " +
    "available-buffer notifications.",
  action: "Presents a device that sets NO_NOTIFY and polls; checks for notifications sent anyway.",
  scenarios: [{ offer: "split-plain", knobs: { suppressAvailNotifications: true } }],
  needs: { without: [F.RING_PACKED, F.EVENT_IDX] },
});

export const notifyWhenFlagsZero = monitorClause({
  label: AVAIL_SUPPRESSION,
  statement: 4,
  level: "MUST",
  title: "notification when the device's flags are 0",
  legacy: true,
  requirement: "Without VIRTIO_F_EVENT_IDX, after making buffers available while the used ring's flags are 0, " +
    "the driver sends an available-buffer notification.",
  action: "Offers split rings without EVENT_IDX and checks each publication is followed by a notification.",
  scenarios: [{ offer: "split-plain" }, { offer: "split-indirect-in-order" }],
  needs: { without: [F.RING_PACKED, F.EVENT_IDX] },
});

export const flagsIgnoredWithEventIdx = monitorClause({
  label: AVAIL_SUPPRESSION,
  statement: 5,
  level: "MUST",
  title: "device flags ignored under EVENT_IDX",
  requirement: "With VIRTIO_F_EVENT_IDX the driver ignores the used ring's flags: NO_NOTIFY does not stop a " +
    "notification avail_event asks for.",
  action: "With EVENT_IDX, presents a device that sets the used ring's flags to 1 while keeping avail_event " +
    "current, and checks required notifications are sent.",
  scenarios: [{ offer: "split-event-idx", knobs: { usedFlagsRaw: 1 } }],
  needs: { features: [F.EVENT_IDX], without: [F.RING_PACKED] },
});

export const notifyAtAvailEvent = monitorClause({
  label: AVAIL_SUPPRESSION,
  statement: 6,
  level: "MUST",
  title: "notification when the available idx passes avail_event",
  requirement: "With VIRTIO_F_EVENT_IDX, when the driver publishes the entry numbered avail_event it sends an " +
    "available-buffer notification.",
  action: "With EVENT_IDX, presents a device that keeps avail_event at its position or 3 entries ahead, and " +
    "checks every publication passing avail_event is notified.",
  scenarios: [{ offer: "split-event-idx" }, AVAIL_EVENT_AHEAD],
  needs: { features: [F.EVENT_IDX], without: [F.RING_PACKED] },
});

export const quietBeforeAvailEvent = monitorClause({
  label: AVAIL_SUPPRESSION,
  statement: 7,
  level: "SHOULD NOT",
  title: "no notification before avail_event",
  requirement: "With VIRTIO_F_EVENT_IDX, the driver refrains from notifications while the available idx has not " +
    "passed avail_event.",
  action: "With EVENT_IDX, presents a device that keeps avail_event 3 entries ahead (or suppresses it and polls) " +
    "and checks for notifications sent before avail_event was passed.",
  scenarios: [
    AVAIL_EVENT_AHEAD,
    { offer: "split-event-idx", knobs: { suppressAvailNotifications: true } },
  ],
  needs: { features: [F.EVENT_IDX], without: [F.RING_PACKED] },
});

export const idxAfterEntries = monitorClause({
  label: UPDATING_IDX,
  statement: 1,
  level: "MUST",
  title: "ring entries complete before the idx update",
  legacy: true,
  requirement: "Everything a publication covers (the ring entry and its descriptors) is written before the " +
    "driver updates the available idx.",
  action: "Records the order of the driver's writes to the available ring, its slots and its descriptors.",
  scenarios: SPLIT_OFFERS,
  needs: SPLIT,
});

export const suppressionReadAfterIdx = monitorClause({
  label: NOTIFYING,
  statement: 1,
  level: "MUST",
  title: "suppression fields read after the idx update",
  requirement: "The driver decides whether to notify from the used ring's flags or avail_event read after it " +
    "updated the available idx, not before.",
  action: "Records the order of the driver's idx writes and its reads of the flags / avail_event before each " +
    "notification decision.",
  scenarios: SPLIT_OFFERS,
  needs: SPLIT,
});

export const packedAligned = monitorClause({
  label: PACKED,
  statement: 1,
  level: "MUST",
  title: "packed queue areas aligned",
  requirement: "The packed ring starts on a 16-byte boundary and both event suppression structures on 4-byte " +
    "boundaries, all inside guest memory.",
  action: "Checks each queue's addresses when the driver enables a packed queue.",
  scenarios: PACKED_OFFERS,
  needs: PACKED_RING,
});

export const packedAvailableUntouched = monitorClause({
  label: PACKED_DESC,
  statement: 2,
  level: "MUST NOT",
  title: "an available packed descriptor is left alone",
  requirement: "Once the driver has flipped a descriptor's AVAIL bit it does not change that descriptor until the " +
    "device has marked it used.",
  action: "Watches every write to packed descriptors against the ring's available/used state.",
  scenarios: PACKED_OFFERS,
  needs: PACKED_RING,
});

export const packedNotificationData = monitorClause({
  label: PACKED_DESC,
  statement: 3,
  level: "MUST",
  title: "notification data names the next descriptor",
  requirement: "With VIRTIO_F_NOTIFICATION_DATA on a packed ring, a notification's next_off and next_wrap name " +
    "the first descriptor the driver has not made available yet and its wrap counter.",
  action: "Offers NOTIFICATION_DATA with packed rings and compares each notification value with the ring state.",
  scenarios: [{ offer: "packed-all" }, { offer: "packed-event-idx" }],
  needs: { features: [F.RING_PACKED, F.NOTIFICATION_DATA] },
});

export const packedListWithinQueue = monitorClause({
  label: PACKED_SG,
  statement: 2,
  level: "MUST NOT",
  title: "no packed list longer than the queue size",
  requirement: "A packed descriptor list never has more elements than the queue size.",
  action: "Walks every list the driver makes available on packed rings of 4 entries.",
  scenarios: PACKED_OFFERS,
  needs: PACKED_RING,
});

export const packedWritableAfterReadable = monitorClause({
  label: PACKED_SG,
  statement: 3,
  level: "MUST",
  title: "packed lists: device-writable after device-readable",
  requirement: "In a packed list (and its indirect table) device-readable elements come before device-writable ones.",
  action: "Walks every list the driver makes available on packed rings.",
  scenarios: PACKED_OFFERS,
  needs: PACKED_RING,
});

export const packedRoomForList = monitorClause({
  label: PACKED_SG,
  statement: 5,
  level: "MUST",
  title: "room in the ring for the whole list",
  requirement: "Before making a list available the driver has free ring slots for all of it: it never overwrites " +
    "slots the device has not used yet.",
  action: "Tracks free slots of packed rings of 4 entries against each list the driver makes available.",
  scenarios: PACKED_OFFERS,
  needs: PACKED_RING,
});

export const packedHeadLast = monitorClause({
  label: PACKED_SG,
  statement: 6,
  level: "MUST NOT",
  title: "the head of a list made available last",
  requirement: "The driver makes the first descriptor of a packed list available only after all the others.",
  action: "Records the order of the driver's flag writes within each packed list.",
  scenarios: PACKED_OFFERS,
  needs: PACKED_RING,
});

export const packedOneUsedPerList = defineDriverClause({
  label: PACKED_SG,
  statement: 4,
  level: "MUST NOT",
  title: "one used descriptor per list is enough",
  requirement: "The driver does not need the device to write a used descriptor for every element of a list: one " +
    "used descriptor for the whole list completes it.",
  action: "Presents a packed blk device without INDIRECT_DESC (so requests are direct lists of 3 or more " +
    "descriptors) that writes a single used descriptor per list; every workload must succeed with no ring violation.",
  applies: { deviceTypes: ["blk"] },
  async run(ctx) {
    const t = await runRing(ctx, { offer: "packed-plain" });
    if (!t.probe.bound || !negotiatedAll(t, PACKED_RING)) notApplicable("the driver did not negotiate RING_PACKED");
    const failed = t.results.map((r, i) => ({ r, i })).filter(({ r }) => !r.ok);
    expectNone(
      "every multi-descriptor request completed",
      failed,
      ({ r, i }) => `workload ${i}: ${r.ok ? "" : r.error}`,
    );
  },
});

export const packedIndirectNegotiated = monitorClause({
  label: PACKED_INDIRECT,
  statement: 1,
  level: "MUST NOT",
  title: "no packed INDIRECT without VIRTIO_F_INDIRECT_DESC",
  requirement: "On a packed ring the driver sets INDIRECT only when VIRTIO_F_INDIRECT_DESC is negotiated.",
  action: "Offers packed rings without INDIRECT_DESC and checks the flags of every descriptor made available.",
  scenarios: [{ offer: "packed-plain" }, { offer: "packed-event-idx" }],
  needs: { features: [F.RING_PACKED], without: [F.INDIRECT_DESC] },
});

export const packedIndirectFlags = monitorClause({
  label: PACKED_INDIRECT,
  statement: 2,
  level: "MUST NOT",
  title: "only WRITE inside a packed indirect table",
  requirement: "Entries of a packed indirect table carry no flag other than WRITE.",
  action: "Offers INDIRECT_DESC with packed rings and checks every indirect table the driver makes available.",
  scenarios: [{ offer: "packed-all" }],
  needs: { features: [F.RING_PACKED, F.INDIRECT_DESC] },
});

export const packedIndirectBounded = monitorClause({
  label: PACKED_INDIRECT,
  statement: 3,
  level: "MUST NOT",
  title: "packed indirect tables within the device's limit",
  requirement: "A packed indirect table is a well-formed table in guest memory with no more entries than the " +
    "device allows (the queue size).",
  action: "Offers INDIRECT_DESC with packed rings and checks every indirect table's length and place.",
  scenarios: [{ offer: "packed-all" }],
  needs: { features: [F.RING_PACKED, F.INDIRECT_DESC] },
});

export const packedIndirectNotInList = monitorClause({
  label: PACKED_INDIRECT,
  statement: 4,
  level: "MUST NOT",
  title: "no INDIRECT inside a chained packed list",
  requirement: "A packed descriptor that carries INDIRECT is never part of a list chained with NEXT.",
  action: "Offers INDIRECT_DESC with packed rings and checks every list made available.",
  scenarios: [{ offer: "packed-all" }],
  needs: { features: [F.RING_PACKED, F.INDIRECT_DESC] },
});

export const packedFlagsLast = monitorClause({
  label: PACKED_FLAGS,
  statement: 1,
  level: "MUST",
  title: "packed flags written after the rest of the descriptor",
  requirement: "The driver writes a packed descriptor's address, length and id before the flags that make it " +
    "available.",
  action: "Records the order of the driver's writes to each packed descriptor.",
  scenarios: PACKED_OFFERS,
  needs: PACKED_RING,
});

export const packedSuppressionReadAfterPublish = monitorClause({
  label: PACKED_NOTIFY,
  statement: 1,
  level: "MUST",
  title: "event suppression read after publishing",
  requirement: "The driver reads the device's event suppression structure for its notification decision after " +
    "making the buffers available, not before.",
  action: "Records the order of the driver's flag writes and its reads of the device event suppression structure.",
  scenarios: PACKED_OFFERS,
  needs: PACKED_RING,
});

/** QueueReset / QueueReady / queue set-up register writes of the selected queue, in trace order. */
function queueRegisterWrites(t: ScenarioTrace) {
  return accesses(t).filter((e) => e.kind === "write" && e.queueSel === 0);
}

export const queueResetVerified = defineDriverClause({
  label: QUEUE_RESET,
  statement: 1,
  level: "MUST",
  title: "queue reset confirmed before the queue is reused",
  requirement: "After asking for a queue reset the driver confirms the reset has happened before it sets the " +
    "queue up again or releases its memory.",
  action: "Presents a device whose queue reset takes 3 reads to complete, asks for a queue reset and checks the " +
    "driver read the reset as complete before touching the queue again.",
  applies: { deviceTypes: ["rng", "blk"] },
  async run(ctx) {
    const t = await ctx.scenarios.run({
      knobs: { queueResetReads: 3 },
      workloads: [{ kind: "queue-reset", queue: 0 }, ...ringWork(ctx.deviceType).slice(0, 2)],
    });
    if (!t.probe.bound || !(accepted(t) & bit(F.RING_RESET))) notApplicable("the driver did not negotiate RING_RESET");
    const acc = accesses(t);
    const start = acc.findIndex((e) => e.kind === "write" && e.offset === Mmio.QueueReset && e.value === 1);
    if (start < 0) notApplicable("the driver did not reset a queue");
    const done = acc.findIndex((e, i) =>
      i > start && e.kind === "read" && e.offset === Mmio.QueueReset && e.value === 0
    );
    const setup: number[] = [
      Mmio.QueueReady,
      Mmio.QueueSize,
      Mmio.QueueDescLow,
      Mmio.QueueDriverLow,
      Mmio.QueueDeviceLow,
    ];
    const early = acc.filter((e, i) =>
      i > start && (done < 0 || i < done) && e.kind === "write" && setup.includes(e.offset)
    );
    expectNone("no queue set-up before the reset was confirmed", early, fmtAccess);
    expectThat(done >= 0, "a read of QueueReset as 0 after the reset", () => "none");
  },
});

export const reenableLikeDiscovery = defineDriverClause({
  label: QUEUE_REENABLE,
  statement: 1,
  level: "MUST",
  title: "re-enabled queue configured from scratch",
  requirement: "Re-enabling a queue after a queue reset, the driver programs it as at first set-up: size and all " +
    "three area addresses, before enabling it.",
  action: "Asks for a queue reset and checks that between the reset and QueueReady=1 the driver wrote QueueNum " +
    "and the low and high halves of the three area addresses.",
  applies: { deviceTypes: ["rng", "blk"] },
  async run(ctx) {
    const t = await ctx.scenarios.run({ workloads: [{ kind: "queue-reset", queue: 0 }] });
    if (!t.probe.bound || !(accepted(t) & bit(F.RING_RESET))) notApplicable("the driver did not negotiate RING_RESET");
    const w = queueRegisterWrites(t);
    const start = w.findIndex((e) => e.offset === Mmio.QueueReset && e.value === 1);
    if (start < 0) notApplicable("the driver did not reset a queue");
    const ready = w.findIndex((e, i) => i > start && e.offset === Mmio.QueueReady && e.value === 1);
    expectThat(ready >= 0, "the queue enabled again after the reset", () => "no QueueReady=1 after the reset");
    const between = new Set(w.slice(start, ready).map((e) => e.offset));
    const needed = [
      Mmio.QueueSize,
      Mmio.QueueDescLow,
      Mmio.QueueDescHigh,
      Mmio.QueueDriverLow,
      Mmio.QueueDriverHigh,
      Mmio.QueueDeviceLow,
      Mmio.QueueDeviceHigh,
    ];
    const missing = needed.filter((o) => !between.has(o));
    expectNone("every queue set-up register written before re-enabling", missing, (o) => `${mmioName(o)} not written`);
  },
});

export const acceptsPacked = defineDriverClause({
  label: RESERVED,
  statement: 6,
  level: "SHOULD",
  title: "VIRTIO_F_RING_PACKED accepted when offered",
  requirement: "A driver accepts VIRTIO_F_RING_PACKED when the device offers it.",
  action: "Offers every ring feature including RING_PACKED and checks the accepted features.",
  applies: { deviceTypes: ["rng", "blk"] },
  async run(ctx) {
    const t = await runRing(ctx, { offer: "packed-all" });
    if (!t.probe.bound) notApplicable("the driver did not bind");
    expectThat((accepted(t) & bit(F.RING_PACKED)) !== 0n, "RING_PACKED accepted", () => "not accepted");
  },
});

/** The driver clauses of spec 2.6, 2.7 and 2.8 (and the ring statement of 6.1). */
export const RING_DRIVER_CLAUSES = [
  queueResetVerified,
  reenableLikeDiscovery,
  splitAligned,
  writableAfterReadable,
  chainBytesBounded,
  inOrderNext,
  indirectOnlyNegotiated,
  noNestedIndirect,
  chainWithinQueueSize,
  indirectNotWithNext,
  indirectSequentialInOrder,
  availIdxForward,
  availFlagsZeroOrOne,
  availFlagsZeroWithEventIdx,
  survivesSpuriousUsedNotifications,
  onlyLenBytesTrusted,
  usedFlagsZeroAtAllocation,
  availEventIgnoredWithoutEventIdx,
  noNotifyWhenSuppressed,
  notifyWhenFlagsZero,
  flagsIgnoredWithEventIdx,
  notifyAtAvailEvent,
  quietBeforeAvailEvent,
  idxAfterEntries,
  suppressionReadAfterIdx,
  packedAligned,
  packedAvailableUntouched,
  packedNotificationData,
  packedListWithinQueue,
  packedWritableAfterReadable,
  packedOneUsedPerList,
  packedRoomForList,
  packedHeadLast,
  packedIndirectNegotiated,
  packedIndirectFlags,
  packedIndirectBounded,
  packedIndirectNotInList,
  packedFlagsLast,
  packedSuppressionReadAfterPublish,
];
