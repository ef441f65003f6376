/**
 * Device clauses of spec 5.1.9.5.10 (notification coalescing, VIRTIO_NET_F_NOTF_COAL and VIRTIO_NET_F_VQ_NOTF_COAL):
 * what the device answers to the coalescing commands and which parameters a queue has after a queue reset or a
 * device reset, read back with VQ_GET.
 *
 * @module
 */
import { TargetError } from "../../harness/adapter.ts";
import { defineDeviceClause, type DeviceClauseContext } from "../../harness/core/clause.ts";
import fc from "fast-check";
import { checkProperty } from "../../harness/core/property.ts";
import { F, NET_F } from "../../harness/features.ts";
import { le } from "../../harness/memory.ts";
import { type Coalescing, NET_CTRL, NET_RX, NET_TX, NetCtrl } from "../../harness/models/device/net.ts";
import { expectNone, expectThat, notApplicable } from "../../harness/verify.ts";
import { controlCommand, controlQuery, has, netUp, resetQueueAlone } from "./net_io.ts";

const COAL = "devicenormative:Device Types / Network Device / Device Operation / Control Virtqueue / " +
  "Notifications Coalescing";
const NET = { deviceTypes: ["net" as const] };

/** Brings the device up with the control queue and both coalescing features (those offered; VQ_NOTF_COAL needed). */
async function coalUp(ctx: DeviceClauseContext, extra: number[] = []) {
  const link = await netUp(ctx, [NET_F.CTRL_VQ, NET_F.NOTF_COAL, NET_F.VQ_NOTF_COAL, ...extra], [
    NET_F.CTRL_VQ,
    NET_F.VQ_NOTF_COAL,
  ]);
  if (!has(link.negotiated, NET_F.VQ_NOTF_COAL)) notApplicable("VIRTIO_NET_F_VQ_NOTF_COAL was not negotiated");
  return link;
}

/** VQ_SET for queue `vq` (with `reserved` in its reserved field); the ack, an error when the command is not used. */
async function vqSet(ctx: DeviceClauseContext, vq: number, c: Coalescing, reserved = 0): Promise<number> {
  const data = new Uint8Array(12);
  le.setU16(data, 0, vq);
  le.setU16(data, 2, reserved);
  le.setU32(data, 4, c.usecs);
  le.setU32(data, 8, c.packets);
  const ack = await controlCommand(ctx, NetCtrl.NOTF_COAL, NetCtrl.NOTF_COAL_VQ_SET, data);
  if (ack === undefined) throw new TargetError("The device did not use a VQ_SET command");
  return ack;
}

/** VQ_GET for queue `vq`: the ack and, when OK, the parameters. */
async function vqGet(ctx: DeviceClauseContext, vq: number): Promise<{ ack: number; c?: Coalescing }> {
  const data = new Uint8Array(4);
  le.setU16(data, 0, vq);
  const r = await controlQuery(ctx, NetCtrl.NOTF_COAL, NetCtrl.NOTF_COAL_VQ_GET, data, 8);
  if (!r) throw new TargetError("The device did not use a VQ_GET command");
  return r.ack === NetCtrl.OK
    ? { ack: r.ack, c: { usecs: le.u32(r.result, 0), packets: le.u32(r.result, 4) } }
    : { ack: r.ack };
}

/** TX_SET or RX_SET; the ack. */
async function kindSet(ctx: DeviceClauseContext, tx: boolean, c: Coalescing): Promise<number | undefined> {
  const data = new Uint8Array(8);
  le.setU32(data, 0, c.usecs);
  le.setU32(data, 4, c.packets);
  return await controlCommand(ctx, NetCtrl.NOTF_COAL, tx ? NetCtrl.NOTF_COAL_TX_SET : NetCtrl.NOTF_COAL_RX_SET, data);
}

const fmt = (c: Coalescing | undefined) => (c ? `max_usecs ${c.usecs}, max_packets ${c.packets}` : "no parameters");
const same = (a: Coalescing | undefined, b: Coalescing) =>
  a !== undefined && a.usecs === b.usecs &&
  a.packets === b.packets;
const arbCoal = fc.record({ usecs: fc.nat({ max: 1_000_000 }), packets: fc.nat({ max: 4096 }) });

export const coalReservedIgnored = defineDeviceClause({
  label: COAL,
  statement: 1,
  level: "MUST",
  title: "the reserved field of VQ_SET is ignored",
  applies: NET,
  requirement: "The device pays no attention to the reserved field of a coalescing command: a VQ_SET with bits set " +
    "there sets the same parameters as one without.",
  action: "Negotiates VQ_NOTF_COAL, sends VQ_SET for receiveq1 with reserved 0xa5a5, then reads the queue's " +
    "parameters back with VQ_GET.",
  async run(ctx) {
    await coalUp(ctx);
    const c = { usecs: 32, packets: 5 };
    const ack = await vqSet(ctx, NET_RX, c, 0xa5a5);
    if (ack !== NetCtrl.OK) notApplicable("the device could not change receiveq1's parameters (VQ_SET answered ERR)");
    const got = await vqGet(ctx, NET_RX);
    expectThat(same(got.c, c), `VQ_GET reads ${fmt(c)}`, () => `VQ_GET: ack ${got.ack}, ${fmt(got.c)}`);
  },
});

export const coalSetTakesEffect = defineDeviceClause({
  label: COAL,
  statement: 3,
  level: "MUST",
  title: "a VQ_SET answered OK changed the parameters",
  applies: NET,
  requirement: "A device that could not change a queue's parameters answers VQ_SET with VIRTIO_NET_ERR: a VQ_SET it " +
    "answered OK has set them.",
  action: "Negotiates VQ_NOTF_COAL, sends VQ_SET with random parameters to receiveq1 or transmitq1, and when it " +
    "is answered OK reads them back with VQ_GET.",
  async run(ctx) {
    await checkProperty(
      ctx,
      fc.record({ tx: fc.boolean(), c: arbCoal }),
      async ({ tx, c }) => {
        await coalUp(ctx);
        const vq = tx ? NET_TX : NET_RX;
        if ((await vqSet(ctx, vq, c)) !== NetCtrl.OK) return;
        const got = await vqGet(ctx, vq);
        expectThat(same(got.c, c), `VQ_GET of queue ${vq} reads ${fmt(c)}`, () => `ack ${got.ack}, ${fmt(got.c)}`);
      },
      ({ tx, c }) => `VQ_SET ${tx ? "transmitq1" : "receiveq1"}: ${fmt(c)}`,
      { maxRuns: 20 },
    );
  },
});

export const coalBadQueueRefused = defineDeviceClause({
  label: COAL,
  statement: 4,
  level: "MUST",
  title: "VQ_SET and VQ_GET for a queue that is no enabled data queue answered ERR",
  applies: NET,
  requirement: "VQ_SET and VQ_GET naming the control queue, a queue beyond the device's queues, or a transmit or " +
    "receive queue the driver has not enabled are answered with VIRTIO_NET_ERR.",
  action: "Negotiates VQ_NOTF_COAL (not MQ), then sends VQ_SET and VQ_GET for the control queue and for queue " +
    "0x7fff, and reads each ack.",
  async run(ctx) {
    await coalUp(ctx);
    const queues: [string, number][] = [["the control queue", NET_CTRL], ["queue 0x7fff", 0x7fff]];
    const wrong: string[] = [];
    for (const [name, vq] of queues) {
      const set = await vqSet(ctx, vq, { usecs: 8, packets: 2 });
      if (set !== NetCtrl.ERR) wrong.push(`VQ_SET for ${name}: ack ${set}`);
      const get = await vqGet(ctx, vq);
      if (get.ack !== NetCtrl.ERR) wrong.push(`VQ_GET for ${name}: ack ${get.ack}`);
    }
    expectNone("VIRTIO_NET_ERR for each", wrong, (x) => x);
  },
});

/** Resets queue `vq` on its own and enables it again on fresh rings (VIRTIO_F_RING_RESET). */
async function resetAndReenable(ctx: DeviceClauseContext, vq: number): Promise<void> {
  const size = ctx.driver.queue(vq).size;
  await resetQueueAlone(ctx, vq);
  await ctx.driver.setupQueue(vq, size);
}

/** The check of #5 (transmit) and #6 (receive): a queue reset brings back the kind's parameters, or 0. */
async function reenabledParameters(ctx: DeviceClauseContext, tx: boolean): Promise<void> {
  if (!has(ctx.offered, F.RING_RESET)) notApplicable("the device does not offer VIRTIO_F_RING_RESET");
  await checkProperty(
    ctx,
    fc.record({ kindSet: fc.boolean(), kind: arbCoal, own: arbCoal }),
    async (p) => {
      const link = await coalUp(ctx, [F.RING_RESET]);
      if (!has(link.negotiated, F.RING_RESET)) notApplicable("VIRTIO_F_RING_RESET was not negotiated");
      const vq = tx ? NET_TX : NET_RX;
      let expected = { usecs: 0, packets: 0 };
      if (p.kindSet) {
        if (!has(link.negotiated, NET_F.NOTF_COAL)) notApplicable("VIRTIO_NET_F_NOTF_COAL was not negotiated");
        if ((await kindSet(ctx, tx, p.kind)) !== NetCtrl.OK) return;
        expected = p.kind;
      }
      if ((await vqSet(ctx, vq, p.own)) !== NetCtrl.OK) return;
      await resetAndReenable(ctx, vq);
      const got = await vqGet(ctx, vq);
      expectThat(
        same(got.c, expected),
        `queue ${vq} back at ${fmt(expected)} after its reset`,
        () => `VQ_GET: ack ${got.ack}, ${fmt(got.c)}`,
      );
    },
    (p) =>
      `${p.kindSet ? `${tx ? "TX" : "RX"}_SET ${fmt(p.kind)}, ` : ""}VQ_SET ${fmt(p.own)}, then queue ${
        tx ? NET_TX : NET_RX
      } reset and enabled again`,
    { maxRuns: 10 },
  );
}

export const coalTxAfterQueueReset = defineDeviceClause({
  label: COAL,
  statement: 5,
  level: "MUST",
  title: "a transmit queue reset brings back the TX_SET parameters, or 0",
  applies: NET,
  requirement: "When a transmit queue is reset and enabled again, its coalescing parameters are those TX_SET last " +
    "set, or 0 when the driver never sent TX_SET.",
  action: "Negotiates RING_RESET and the coalescing features, sends TX_SET (or not) and VQ_SET for transmitq1, " +
    "resets transmitq1, enables it again and reads its parameters with VQ_GET.",
  run: (ctx) => reenabledParameters(ctx, true),
});

export const coalRxAfterQueueReset = defineDeviceClause({
  label: COAL,
  statement: 6,
  level: "MUST",
  title: "a receive queue reset brings back the RX_SET parameters, or 0",
  applies: NET,
  requirement: "When a receive queue is reset and enabled again, its coalescing parameters are those RX_SET last " +
    "set, or 0 when the driver never sent RX_SET.",
  action: "Negotiates RING_RESET and the coalescing features, sends RX_SET (or not) and VQ_SET for receiveq1, " +
    "resets receiveq1, enables it again and reads its parameters with VQ_GET.",
  run: (ctx) => reenabledParameters(ctx, false),
});

export const coalZeroAfterReset = defineDeviceClause({
  label: COAL,
  statement: 9,
  level: "MUST",
  title: "a device reset sets every coalescing parameter to 0",
  applies: NET,
  requirement: "After a device reset every queue's coalescing parameters are 0.",
  action: "Negotiates the coalescing features, sets parameters with TX_SET, RX_SET and VQ_SET, resets the device, " +
    "brings it up again and reads receiveq1's and transmitq1's parameters with VQ_GET.",
  async run(ctx) {
    const link = await coalUp(ctx);
    const c = { usecs: 50, packets: 9 };
    if (has(link.negotiated, NET_F.NOTF_COAL)) {
      await kindSet(ctx, true, c);
      await kindSet(ctx, false, c);
    }
    const rx = await vqSet(ctx, NET_RX, c);
    const tx = await vqSet(ctx, NET_TX, c);
    if (rx !== NetCtrl.OK && tx !== NetCtrl.OK) notApplicable("the device changed no queue's parameters");
    await coalUp(ctx);
    const wrong: string[] = [];
    for (const vq of [NET_RX, NET_TX]) {
      const got = await vqGet(ctx, vq);
      if (!same(got.c, { usecs: 0, packets: 0 })) wrong.push(`queue ${vq}: ack ${got.ack}, ${fmt(got.c)}`);
    }
    expectNone("max_usecs 0 and max_packets 0 on both queues", wrong, (x) => x);
  },
});

/** The notification coalescing device clauses. */
export const NET_COALESCE_DEVICE_CLAUSES = [
  coalReservedIgnored,
  coalSetTakesEffect,
  coalBadQueueRefused,
  coalTxAfterQueueReset,
  coalRxAfterQueueReset,
  coalZeroAfterReset,
];
