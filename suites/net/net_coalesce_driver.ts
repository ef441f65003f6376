/**
 * Driver clauses of spec 5.1.9.5.10 (notification coalescing): the commands a driver sends to set coalescing, judged
 * against the features negotiated and the queues it enabled when it sent them.
 *
 * @module
 */
import type { Workload } from "../../harness/adapter.ts";
import { defineDriverClause, type DriverClauseContext } from "../../harness/core/clause.ts";
import { bit, F, NET_F } from "../../harness/features.ts";
import { le } from "../../harness/memory.ts";
import { type NetControlCommand, NetCtrl, NetFunction } from "../../harness/models/device/net.ts";
import { expectNone, notApplicable } from "../../harness/verify.ts";

const COAL = "drivernormative:Device Types / Network Device / Device Operation / Control Virtqueue / " +
  "Notifications Coalescing";
const NET = { deviceTypes: ["net" as const] };

/**
 * Presents the harness's net device with `drop` left out of its features, asks for `work` (n/a when the driver does
 * not declare net-coalesce) and returns the coalescing commands the driver sent.
 */
async function coalescingSent(ctx: DriverClauseContext, drop: number[], work: Workload[]) {
  if (ctx.scenarios.watched) notApplicable("the driver runs beside its own device: the harness sees no control queue");
  if (!ctx.target.info.workloads.includes("net-coalesce")) notApplicable("the driver does not declare net-coalesce");
  const offered = drop.reduce((m, f) => m & ~bit(f), new NetFunction().features | bit(F.VERSION_1));
  const t = await ctx.scenarios.run({ knobs: { offered }, workloads: work });
  if (!t.probe.bound || !(t.fn instanceof NetFunction)) notApplicable("the driver did not bind");
  const sent = t.fn.controlLog.filter((c) => c.cls === NetCtrl.NOTF_COAL);
  if (sent.length === 0) notApplicable("the driver sent no coalescing command");
  return sent;
}

const NAMES = ["TX_SET", "RX_SET", "VQ_SET", "VQ_GET"];
const fmt = (c: NetControlCommand) =>
  `${NAMES[c.command] ?? `command ${c.command}`}${
    c.command >= 2 && c.data.length >= 2 ? ` for queue ${le.u16(c.data, 0)}` : ""
  }`;

/** Coalescing for every queue and for receiveq1 and transmitq1. */
const BOTH: Workload[] = [
  { kind: "net-coalesce", usecs: 20, packets: 4 },
  { kind: "net-coalesce", usecs: 30, packets: 8, queue: 0 },
  { kind: "net-coalesce", usecs: 40, packets: 16, queue: 1 },
];

export const coalesceEnabledQueue = defineDriverClause({
  label: COAL,
  statement: 1,
  level: "MUST",
  title: "VQ_SET and VQ_GET name an enabled transmit or receive queue",
  applies: NET,
  requirement: "The vq_index of a VQ_SET or VQ_GET command is the index of a transmit or receive queue the driver " +
    "has enabled.",
  action: "Presents a one-pair net device (no MQ) offering NOTF_COAL and VQ_NOTF_COAL, asks for coalescing on every " +
    "queue, on receiveq1 and on transmitq1, and checks the queue each per-queue command names.",
  async run(ctx) {
    const sent = (await coalescingSent(ctx, [NET_F.MQ], BOTH)).filter((c) => c.dataQueue !== undefined);
    expectNone("enabled data queues only", sent.filter((c) => !c.dataQueue), fmt);
  },
});

export const coalesceAllNeedsFeature = defineDriverClause({
  label: COAL,
  statement: 2,
  level: "MUST",
  title: "TX_SET and RX_SET only with VIRTIO_NET_F_NOTF_COAL",
  applies: NET,
  requirement: "The driver sends VIRTIO_NET_CTRL_NOTF_COAL_TX_SET and _RX_SET only with VIRTIO_NET_F_NOTF_COAL " +
    "negotiated.",
  action: "Presents a net device offering VQ_NOTF_COAL but not NOTF_COAL, asks for coalescing on every queue and " +
    "on receiveq1, and checks the features in force for each command sent.",
  async run(ctx) {
    const sent = await coalescingSent(ctx, [NET_F.NOTF_COAL], BOTH);
    const bad = sent.filter((c) => c.command <= NetCtrl.NOTF_COAL_RX_SET && !(c.negotiated & bit(NET_F.NOTF_COAL)));
    expectNone("no TX_SET or RX_SET without NOTF_COAL", bad, fmt);
  },
});

export const coalesceQueueNeedsFeature = defineDriverClause({
  label: COAL,
  statement: 3,
  level: "MUST",
  title: "VQ_SET and VQ_GET only with VIRTIO_NET_F_VQ_NOTF_COAL",
  applies: NET,
  requirement: "The driver sends VIRTIO_NET_CTRL_NOTF_COAL_VQ_SET and _VQ_GET only with VIRTIO_NET_F_VQ_NOTF_COAL " +
    "negotiated.",
  action: "Presents a net device offering NOTF_COAL but not VQ_NOTF_COAL, asks for coalescing on every queue and " +
    "on receiveq1 and transmitq1, and checks the features in force for each command sent.",
  async run(ctx) {
    const sent = await coalescingSent(ctx, [NET_F.VQ_NOTF_COAL], BOTH);
    const bad = sent.filter((c) => c.command >= NetCtrl.NOTF_COAL_VQ_SET && !(c.negotiated & bit(NET_F.VQ_NOTF_COAL)));
    expectNone("no VQ_SET or VQ_GET without VQ_NOTF_COAL", bad, fmt);
  },
});

/** The notification coalescing driver clauses. */
export const NET_COALESCE_DRIVER_CLAUSES = [coalesceEnabledQueue, coalesceAllNeedsFeature, coalesceQueueNeedsFeature];
