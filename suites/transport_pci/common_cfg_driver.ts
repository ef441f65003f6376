/**
 * Driver clauses of spec 4.1.4.3.2 Common configuration structure layout
 * (the harness plays a PCI device).
 *
 * @module
 */
import fc from "fast-check";
import { defineDriverClause, type DriverClauseContext } from "../../harness/core/clause.ts";
import { bit, F } from "../../harness/features.ts";
import { checkProperty } from "../../harness/core/property.ts";
import type { AccessEvent, ScenarioTrace } from "../../harness/roles/harness_device.ts";
import { COMMON_FIELDS, CommonCfg } from "../../harness/transport/pci_layout.ts";
import { expectNone, notApplicable } from "../../harness/verify.ts";
import { accepted, fmtAccess, offerablePool } from "../driver_trace.ts";
import { commonWritesTo, inSpace, runPci } from "./pci_scenarios_driver.ts";

const PCI = { transports: ["pci" as const] };
const COMMON = "drivernormative:Virtio Transport Options / Virtio Over PCI Bus / PCI Device Layout / " +
  "Common configuration structure layout";

/** Baseline plus a queue reset (the set-up registers used twice). */
async function broadTraces(ctx: DriverClauseContext): Promise<ScenarioTrace[]> {
  // A watched driver's own device cannot be varied: its one run is the evidence.
  if (ctx.scenarios.watched) return [await ctx.scenarios.baseline()];
  return [
    await ctx.scenarios.baseline(),
    await ctx.scenarios.run({ knobs: { queueResetReads: 2 }, workloads: [{ kind: "queue-reset", queue: 0 }] }),
  ];
}

const READ_ONLY = ["device_feature", "num_queues", "config_generation", "queue_notify_off", "queue_notif_config_data"];

export const noReadOnlyWrites = defineDriverClause({
  label: COMMON,
  statement: 1,
  level: "MUST NOT",
  applies: PCI,
  title: "no write to a read-only common configuration field",
  requirement: "The driver never writes device_feature, num_queues, config_generation, queue_notify_off or " +
    "queue_notif_config_data.",
  action: "Records the driver's common configuration writes through probe, work, a queue reset and removal and " +
    "flags those touching one of these fields.",
  async run(ctx) {
    const fields = COMMON_FIELDS.filter((f) => READ_ONLY.includes(f.name));
    const bad = (await broadTraces(ctx)).flatMap((t) => fields.flatMap((f) => commonWritesTo(t, f.offset, f.size)));
    expectNone("no write to a read-only field", bad, fmtAccess);
  },
});

function queueSizeWrites(t: ScenarioTrace): AccessEvent[] {
  return commonWritesTo(t, CommonCfg.queue_size, 2);
}

export const packedSizeNotZero = defineDriverClause({
  label: COMMON,
  statement: 2,
  level: "MUST NOT",
  applies: PCI,
  title: "queue_size 0 never written with packed rings",
  requirement: "With VIRTIO_F_RING_PACKED negotiated, the driver never writes 0 to queue_size.",
  action: "Offers VIRTIO_F_RING_PACKED with random maximum queue sizes (1–1024) and checks every queue_size write.",
  async run(ctx) {
    const base = await ctx.scenarios.baseline();
    if (ctx.scenarios.watched) {
      if (!(accepted(base) & bit(F.RING_PACKED))) notApplicable("the driver did not negotiate VIRTIO_F_RING_PACKED");
      return expectNone("no queue_size write of 0", queueSizeWrites(base).filter((e) => e.raw.value === 0), fmtAccess);
    }
    const offered = base.offered | offerablePool(ctx.deviceType) | bit(F.RING_PACKED);
    let packed = 0;
    await checkProperty(ctx, fc.integer({ min: 1, max: 1024 }), async (max) => {
      const t = await ctx.scenarios.run({ knobs: { offered }, queueSizeMax: max });
      if (!(accepted(t) & bit(F.RING_PACKED))) return;
      packed++;
      expectNone("no queue_size write of 0", queueSizeWrites(t).filter((e) => e.raw.value === 0), fmtAccess);
    }, (max) => `queue_size maximum ${max}`);
    if (packed === 0) notApplicable("the driver did not negotiate VIRTIO_F_RING_PACKED");
  },
});

export const splitSizePowerOfTwo = defineDriverClause({
  label: COMMON,
  statement: 3,
  level: "MUST NOT",
  applies: PCI,
  title: "queue_size a power of 2 with split rings",
  requirement: "Without VIRTIO_F_RING_PACKED, every value the driver writes to queue_size is a power of 2.",
  action: "Presents random maximum queue sizes (1–1024) without offering VIRTIO_F_RING_PACKED and checks every " +
    "queue_size write.",
  async run(ctx) {
    const base = await ctx.scenarios.baseline();
    const v = (e: AccessEvent) => e.raw.value;
    const notPowers = (t: ScenarioTrace) => queueSizeWrites(t).filter((e) => v(e) === 0 || (v(e) & (v(e) - 1)) !== 0);
    if (ctx.scenarios.watched) {
      if (accepted(base) & bit(F.RING_PACKED)) notApplicable("the driver negotiated VIRTIO_F_RING_PACKED");
      return expectNone("queue_size writes that are powers of 2", notPowers(base), fmtAccess);
    }
    const offered = base.offered & ~bit(F.RING_PACKED);
    await checkProperty(ctx, fc.integer({ min: 1, max: 1024 }), async (max) => {
      const t = await ctx.scenarios.run({ knobs: { offered }, queueSizeMax: max });
      expectNone("queue_size writes that are powers of 2", notPowers(t), fmtAccess);
    }, (max) => `queue_size maximum ${max}`);
  },
});

const ADDRESS_FIELDS = [CommonCfg.queue_desc, CommonCfg.queue_driver, CommonCfg.queue_device];

/** queue_enable=1 writes not preceded (since the queue was last reset) by writes of the three ring addresses. */
function enabledUnconfigured(t: ScenarioTrace): AccessEvent[] {
  const written = new Map<number, Set<number>>();
  const bad: AccessEvent[] = [];
  for (const e of inSpace(t, "common")) {
    if (e.kind !== "write") continue;
    const o = e.raw.offset;
    if (o === CommonCfg.device_status && e.raw.value === 0) written.clear();
    if (o === CommonCfg.queue_reset && e.raw.value === 1) written.delete(e.queueSel);
    const field = ADDRESS_FIELDS.find((f) => o >= f && o < f + 8);
    if (field !== undefined) {
      const s = written.get(e.queueSel) ?? new Set<number>();
      s.add(field);
      written.set(e.queueSel, s);
    }
    if (o === CommonCfg.queue_enable && e.raw.value === 1) {
      const s = written.get(e.queueSel);
      if (!s || ADDRESS_FIELDS.some((f) => !s.has(f))) bad.push(e);
    }
  }
  return bad;
}

export const configureBeforeEnable = defineDriverClause({
  label: COMMON,
  statement: 4,
  level: "MUST",
  applies: PCI,
  title: "queue fields set before queue_enable",
  requirement: "Before enabling a virtqueue with queue_enable, the driver writes its ring addresses " +
    "(queue_desc, queue_driver, queue_device).",
  action: "Follows the driver's common configuration writes, per selected queue, since the last device or queue " +
    "reset, and checks the three addresses were written before each queue_enable = 1.",
  async run(ctx) {
    const bad = (await broadTraces(ctx)).flatMap(enabledUnconfigured);
    expectNone("ring addresses written before queue_enable", bad, fmtAccess);
  },
});

export const waitsForResetCompletion = defineDriverClause({
  label: COMMON,
  statement: 5,
  level: "MUST",
  applies: PCI,
  title: "device_status read as 0 before reinitializing",
  requirement: "After writing 0 to device_status, the driver reads device_status until it returns 0 before it " +
    "writes anything else to the device.",
  action: "Presents a device whose device_status keeps its old value for three reads after a reset, has the " +
    "driver probe twice and be removed, and checks that after each reset a read of 0 comes before the next " +
    "write to the device.",
  async run(ctx) {
    // A watched driver's own device cannot be slowed: its run is judged as it was.
    const t = ctx.scenarios.watched
      ? await ctx.scenarios.baseline()
      : await runPci(ctx, { probes: 2 }, { resetReads: 3 });
    const mem = t.events.filter((e): e is AccessEvent =>
      (e.kind === "read" || e.kind === "write") && e.raw.space !== "pci-config"
    );
    const bad: AccessEvent[] = [];
    let waiting = false;
    for (const e of mem) {
      const isStatus = e.raw.space === "common" && e.raw.offset === CommonCfg.device_status;
      if (e.kind === "write" && isStatus && e.raw.value === 0) {
        waiting = true;
        continue;
      }
      if (waiting && e.kind === "read" && isStatus && e.raw.value === 0) waiting = false;
      else if (waiting && e.kind === "write") {
        bad.push(e);
        waiting = false;
      }
    }
    expectNone("a device_status read of 0 between each reset and the next write", bad, fmtAccess);
  },
});

export const neverZeroQueueEnable = defineDriverClause({
  label: COMMON,
  statement: 6,
  level: "MUST NOT",
  applies: PCI,
  title: "0 never written to queue_enable",
  requirement: "The driver never writes 0 to queue_enable.",
  action: "Records the driver's queue_enable writes through probe, work, a queue reset and removal.",
  async run(ctx) {
    const bad = (await broadTraces(ctx)).flatMap((t) =>
      commonWritesTo(t, CommonCfg.queue_enable, 2).filter((e) => e.raw.value === 0)
    );
    expectNone("no queue_enable = 0 write", bad, fmtAccess);
  },
});

const SETUP_FIELDS = [CommonCfg.queue_enable, CommonCfg.queue_size, ...ADDRESS_FIELDS];

export const queueResetWaits = defineDriverClause({
  label: COMMON,
  statement: 7,
  level: "MUST NOT",
  applies: PCI,
  title: "queue reset not taken as done before queue_reset reads 0",
  requirement: "With VIRTIO_F_RING_RESET negotiated, after writing 1 to queue_reset the driver sets the queue up " +
    "again only once it has read 0 from queue_reset.",
  action: "Presents a device whose queue reset takes three reads, asks the driver to reset queue 0, and checks no " +
    "queue set-up write comes between the queue_reset write and a read of 0.",
  async run(ctx) {
    const t = ctx.scenarios.watched ? await ctx.scenarios.baseline() : await ctx.scenarios.run({
      knobs: { queueResetReads: 3 },
      workloads: [{ kind: "queue-reset", queue: 0 }],
    });
    if (!(accepted(t) & bit(F.RING_RESET))) notApplicable("the driver did not negotiate VIRTIO_F_RING_RESET");
    const acc = inSpace(t, "common");
    const start = acc.findIndex((e) =>
      e.kind === "write" && e.raw.offset === CommonCfg.queue_reset && e.raw.value === 1
    );
    if (start < 0) notApplicable("the driver did not reset a queue");
    const done = acc.findIndex((e, i) =>
      i > start && e.kind === "read" && e.raw.offset === CommonCfg.queue_reset && e.raw.value === 0
    );
    const early = acc.slice(start + 1, done < 0 ? undefined : done).filter((e) =>
      e.kind === "write" && SETUP_FIELDS.some((f) => e.raw.offset >= f && e.raw.offset < f + (f >= 32 ? 8 : 2))
    );
    expectNone("no queue set-up before queue_reset reads 0", early, fmtAccess);
  },
});

export const adminQueuesInRange = defineDriverClause({
  label: COMMON,
  statement: 10,
  level: "MUST",
  applies: PCI,
  title: "administration virtqueues configured only at their indices",
  requirement: "With VIRTIO_F_ADMIN_VQ negotiated, every administration virtqueue the driver configures has an index " +
    "from admin_queue_index to admin_queue_index + admin_queue_num - 1.",
  action: "Presents the device (a net device on PCI has one administration virtqueue, right after its last queue) " +
    "and checks every queue the driver enables at or past num_queues lies in that range.",
  async run(ctx) {
    const t = await ctx.scenarios.baseline();
    if (!(accepted(t) & bit(F.ADMIN_VQ))) notApplicable("the driver did not negotiate VIRTIO_F_ADMIN_VQ");
    const n = t.core.fn.queueCount;
    const first = t.core.adminQueueIndex ?? n;
    const num = t.core.admin ? 1 : 0;
    const bad = commonWritesTo(t, CommonCfg.queue_enable, 2).filter((e) =>
      e.raw.value === 1 && e.queueSel >= n && (e.queueSel < first || e.queueSel >= first + num)
    );
    expectNone(`queues enabled past num_queues (${n}) within ${first}..${first + num - 1}`, bad, fmtAccess);
  },
});

/** The driver clauses of spec 4.1.4.3.2. */
export const PCI_COMMON_CFG_DRIVER_CLAUSES = [
  noReadOnlyWrites,
  packedSizeNotZero,
  splitSizePowerOfTwo,
  configureBeforeEnable,
  waitsForResetCompletion,
  neverZeroQueueEnable,
  queueResetWaits,
  adminQueuesInRange,
];
