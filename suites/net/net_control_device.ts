/**
 * Device clauses of spec 5.1.9.5 Network Device Control Virtqueue: the
 * receive-mode commands, the MAC filter table and address, and VLAN
 * filtering. Each needs the control queue (CTRL_VQ and the feature of the
 * command class) and, where it judges what the device receives, the wire.
 *
 * @module
 */
import fc from "fast-check";
import { defineDeviceClause, type DeviceClauseContext } from "../../harness/core/clause.ts";
import { checkProperty } from "../../harness/core/property.ts";
import { bit, F, NET_F } from "../../harness/features.ts";
import { formatStatus, Status } from "../../harness/status.ts";
import { le } from "../../harness/memory.ts";
import { NetCtrl } from "../../harness/models/device/net.ts";
import { expectNone, expectThat, notApplicable } from "../../harness/verify.ts";
import { controlCommand, type NetLink, netUp, testFrame, vlanFrame, whichReceived, wireOf } from "./net_io.ts";
import { macString } from "./net_io.ts";

const RX_FILTER = "devicenormative:Device Types / Network Device / Device Operation / Control Virtqueue / " +
  "Packet Receive Filtering";
const MAC_FILTER = "devicenormative:Device Types / Network Device / Device Operation / Control Virtqueue / " +
  "Setting MAC Address Filtering";
const VLAN = "devicenormative:Device Types / Network Device / Device Operation / Control Virtqueue / VLAN Filtering";
const ANNOUNCE = "devicenormative:Device Types / Network Device / Device Operation / Control Virtqueue / " +
  "Gratuitous Packet Sending";
/** VIRTIO_NET_S_ANNOUNCE in status (offset 6 of the configuration). */
const S_ANNOUNCE = 2;
const NET = { deviceTypes: ["net" as const] };

const ACK_NAMES: Record<number, string> = { 0: "VIRTIO_NET_OK", 1: "VIRTIO_NET_ERR" };
const fmtAck = (a: number | undefined) => a === undefined ? "the command was never used" : ACK_NAMES[a] ?? `ack ${a}`;

/** Brings the device up with the control queue and `features` (all required). */
function controlUp(ctx: DeviceClauseContext, features: number[], extra: number[] = []): Promise<NetLink> {
  return netUp(ctx, [NET_F.CTRL_VQ, NET_F.MAC, ...features, ...extra], [NET_F.CTRL_VQ, ...features]);
}

/** Sends `commands` and returns those the device did not acknowledge with VIRTIO_NET_OK. */
async function refused(
  ctx: DeviceClauseContext,
  commands: readonly { name: string; cls: number; command: number; data: Uint8Array }[],
): Promise<string[]> {
  const bad: string[] = [];
  for (const c of commands) {
    const ack = await controlCommand(ctx, c.cls, c.command, c.data);
    if (ack !== NetCtrl.OK) bad.push(`${c.name}: ${fmtAck(ack)}`);
  }
  return bad;
}

const onOff = (name: string, command: number) =>
  [0, 1, 0].map((v) => ({ name: `${name} ${v}`, cls: NetCtrl.RX, command, data: new Uint8Array([v]) }));

export const rxModesSupported = defineDeviceClause({
  label: RX_FILTER,
  statement: 1,
  level: "MUST",
  title: "PROMISC and ALLMULTI accepted with VIRTIO_NET_F_CTRL_RX",
  requirement: "With VIRTIO_NET_F_CTRL_RX negotiated the device carries out VIRTIO_NET_CTRL_RX_PROMISC and " +
    "VIRTIO_NET_CTRL_RX_ALLMULTI (one byte, off or on).",
  action: "Negotiates CTRL_VQ and CTRL_RX, turns promiscuous and all-multicast mode on and off on the control queue " +
    "and checks each command is used with VIRTIO_NET_OK.",
  applies: { ...NET, offered: [NET_F.CTRL_VQ, NET_F.CTRL_RX] },
  async run(ctx) {
    await controlUp(ctx, [NET_F.CTRL_RX]);
    const bad = await refused(ctx, [...onOff("PROMISC", NetCtrl.RX_PROMISC), ...onOff("ALLMULTI", 1)]);
    expectNone("every receive-mode command acknowledged with VIRTIO_NET_OK", bad, (s) => s);
  },
});

export const rxExtraModesSupported = defineDeviceClause({
  label: RX_FILTER,
  statement: 5,
  level: "MUST",
  title: "ALLUNI, NOMULTI, NOUNI and NOBCAST accepted with VIRTIO_NET_F_CTRL_RX_EXTRA",
  requirement: "With VIRTIO_NET_F_CTRL_RX_EXTRA negotiated the device carries out the ALLUNI, NOMULTI, NOUNI and " +
    "NOBCAST receive-mode commands (one byte each).",
  action: "Negotiates CTRL_VQ, CTRL_RX and CTRL_RX_EXTRA, sends each of the four commands on, off and on again, and " +
    "checks each is used with VIRTIO_NET_OK.",
  applies: { ...NET, offered: [NET_F.CTRL_VQ, NET_F.CTRL_RX_EXTRA] },
  async run(ctx) {
    await controlUp(ctx, [NET_F.CTRL_RX_EXTRA], [NET_F.CTRL_RX]);
    const bad = await refused(ctx, [
      ...onOff("ALLUNI", NetCtrl.RX_ALLUNI),
      ...onOff("NOMULTI", NetCtrl.RX_NOMULTI),
      ...onOff("NOUNI", NetCtrl.RX_NOUNI),
      ...onOff("NOBCAST", NetCtrl.RX_NOBCAST),
    ]);
    expectNone("every extra receive-mode command acknowledged with VIRTIO_NET_OK", bad, (s) => s);
  },
});

/** A MAC_TABLE_SET payload: the unicast table, then the multicast one. */
function macTable(unicast: readonly number[][], multicast: readonly number[][]): Uint8Array {
  const out = new Uint8Array(8 + 6 * (unicast.length + multicast.length));
  let off = 0;
  for (const t of [unicast, multicast]) {
    le.setU32(out, off, t.length);
    off += 4;
    for (const m of t) {
      out.set(m, off);
      off += 6;
    }
  }
  return out;
}

/** Two locally administered unicast addresses the harness uses as foreign destinations. */
const LISTED = [0x02, 0x11, 0x22, 0x33, 0x44, 0x01];
const STRANGER = [0x02, 0x11, 0x22, 0x33, 0x44, 0x02];

/**
 * Turns promiscuous mode off, then checks whether the device filters by destination at all: a frame to an address
 * in no table must not come through. Returns true when it does filter (the MAC table can then be judged).
 */
async function filtersByMac(ctx: DeviceClauseContext, link: NetLink): Promise<boolean> {
  const ack = await controlCommand(ctx, NetCtrl.RX, NetCtrl.RX_PROMISC, new Uint8Array([0]));
  if (ack !== NetCtrl.OK) notApplicable(`the device refused to leave promiscuous mode (${fmtAck(ack)})`);
  const got = await whichReceived(ctx, link, [testFrame(STRANGER, 64, 1)]);
  if (!got) notApplicable("a frame to the device's own address was not received");
  return !got.has(0);
}

export const macTableEmptyAfterReset = defineDeviceClause({
  label: MAC_FILTER,
  statement: 1,
  level: "MUST",
  title: "the MAC filter table is empty after a reset",
  requirement: "A reset empties the device's MAC filtering table.",
  action: "Negotiates CTRL_VQ and CTRL_RX, puts an address in the table with MAC_TABLE_SET, resets the device, " +
    "brings it up again with promiscuous mode off and injects a frame to that address and one to an address never " +
    "listed: a device that filters (drops the second) must drop the first too.",
  applies: { ...NET, offered: [NET_F.CTRL_VQ, NET_F.CTRL_RX] },
  async run(ctx) {
    wireOf(ctx);
    await controlUp(ctx, [NET_F.CTRL_RX]);
    const set = await controlCommand(ctx, NetCtrl.MAC, NetCtrl.MAC_TABLE_SET, macTable([LISTED], []));
    if (set !== NetCtrl.OK) notApplicable(`the device refused MAC_TABLE_SET (${fmtAck(set)})`);
    const link = await controlUp(ctx, [NET_F.CTRL_RX]);
    if (!await filtersByMac(ctx, link)) notApplicable("the device does not filter by destination address");
    const got = await whichReceived(ctx, link, [testFrame(LISTED, 64, 2)]);
    expectThat(
      got !== undefined && !got.has(0),
      "no address in the table after the reset",
      () => `a frame to ${macString(LISTED)}, listed before the reset, was received`,
    );
  },
});

export const macTableInForceWhenUsed = defineDeviceClause({
  label: MAC_FILTER,
  statement: 2,
  level: "MUST",
  title: "the MAC filter table is in force once MAC_TABLE_SET is used",
  requirement: "The device updates its MAC filtering table before it marks the MAC_TABLE_SET command used.",
  action: "Negotiates CTRL_VQ and CTRL_RX, turns promiscuous mode off (n/a when the device does not filter by " +
    "address at all), sets a table with random unicast addresses, and as soon as the command is used injects a frame " +
    "to each: every one must be received.",
  applies: { ...NET, offered: [NET_F.CTRL_VQ, NET_F.CTRL_RX] },
  async run(ctx) {
    wireOf(ctx);
    const addr = fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 5, maxLength: 5 }).map((b) => [0x02, ...b]);
    await checkProperty(
      ctx,
      fc.uniqueArray(addr, { minLength: 1, maxLength: 3, selector: macString }),
      async (macs) => {
        const link = await controlUp(ctx, [NET_F.CTRL_RX]);
        if (!await filtersByMac(ctx, link)) notApplicable("the device does not filter by destination address");
        const listed = macs.filter((m) => macString(m) !== macString(link.mac));
        const ack = await controlCommand(ctx, NetCtrl.MAC, NetCtrl.MAC_TABLE_SET, macTable(listed, []));
        expectThat(ack === NetCtrl.OK, "MAC_TABLE_SET acknowledged", () => fmtAck(ack));
        const got = await whichReceived(ctx, link, listed.map((m, i) => testFrame(m, 64, i + 3)));
        const missed = listed.filter((_, i) => !got?.has(i));
        expectNone("a frame to every listed address received", missed, (m) => `a frame to ${macString(m)} was dropped`);
      },
      (macs) => macs.map(macString).join(", "),
    );
  },
});

export const macAddressSetInConfig = defineDeviceClause({
  label: MAC_FILTER,
  statement: 3,
  level: "MUST",
  title: "mac in the configuration updated once MAC_ADDR_SET is used",
  requirement: "With VIRTIO_NET_F_MAC negotiated, the device puts the address of a MAC_ADDR_SET command in the " +
    "configuration's mac before it marks the command used.",
  action: "Negotiates CTRL_VQ, CTRL_MAC_ADDR and MAC, sends MAC_ADDR_SET with a random unicast address and, once it " +
    "is used, reads mac from the configuration.",
  applies: { ...NET, offered: [NET_F.CTRL_VQ, NET_F.CTRL_MAC_ADDR, NET_F.MAC] },
  async run(ctx) {
    const addr = fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 5, maxLength: 5 }).map((b) => [0x02, ...b]);
    await checkProperty(ctx, addr, async (mac) => {
      await controlUp(ctx, [NET_F.CTRL_MAC_ADDR, NET_F.MAC]);
      const ack = await controlCommand(ctx, NetCtrl.MAC, NetCtrl.MAC_ADDR_SET, new Uint8Array(mac));
      if (ack !== NetCtrl.OK) notApplicable(`the device refused MAC_ADDR_SET (${fmtAck(ack)})`);
      const now: number[] = [];
      for (let i = 0; i < 6; i++) now.push(await ctx.transport.readConfig(i, 1));
      expectThat(macString(now) === macString(mac), `mac ${macString(mac)}`, () => `mac ${macString(now)}`);
    }, macString);
  },
});

export const vlanTaggedAcceptedWithoutFilter = defineDeviceClause({
  label: VLAN,
  statement: 1,
  level: "MUST",
  title: "every VLAN-tagged frame received without VIRTIO_NET_F_CTRL_VLAN",
  requirement: "Without VIRTIO_NET_F_CTRL_VLAN negotiated the device receives VLAN-tagged frames whatever their tag.",
  action: "Negotiates neither CTRL_VLAN nor CTRL_VQ, injects frames to the device's address tagged with random VLAN " +
    "ids and checks every one is received.",
  applies: NET,
  async run(ctx) {
    wireOf(ctx);
    await checkProperty(
      ctx,
      fc.uniqueArray(fc.integer({ min: 0, max: 4095 }), { minLength: 1, maxLength: 3 }),
      async (vids) => {
        const link = await netUp(ctx, [NET_F.MAC]);
        const got = await whichReceived(ctx, link, vids.map((v, i) => vlanFrame(link.mac, v, 64, i + 1)));
        if (!got) notApplicable("a frame to the device's own address was not received");
        const missed = vids.filter((_, i) => !got.has(i));
        expectNone("every tagged frame received", missed, (v) => `the frame tagged VLAN ${v} was dropped`);
      },
      (vids) => `VLAN ids ${vids.join(", ")}`,
    );
  },
});

export const vlanInTableAccepted = defineDeviceClause({
  label: VLAN,
  statement: 2,
  level: "MUST",
  title: "frames of a VLAN in the filter table received with VIRTIO_NET_F_CTRL_VLAN",
  requirement: "With VIRTIO_NET_F_CTRL_VLAN negotiated the device receives every frame tagged with a VLAN id that is " +
    "in its VLAN filter table.",
  action: "Negotiates CTRL_VQ and CTRL_VLAN, adds random VLAN ids with VLAN_ADD, injects frames to the device's " +
    "address tagged with each and checks every one is received.",
  applies: { ...NET, offered: [NET_F.CTRL_VQ, NET_F.CTRL_VLAN] },
  async run(ctx) {
    wireOf(ctx);
    await checkProperty(
      ctx,
      fc.uniqueArray(fc.integer({ min: 1, max: 4094 }), { minLength: 1, maxLength: 3 }),
      async (vids) => {
        const link = await controlUp(ctx, [NET_F.CTRL_VLAN]);
        for (const v of vids) {
          const vid = new Uint8Array(2);
          le.setU16(vid, 0, v);
          const ack = await controlCommand(ctx, NetCtrl.VLAN, NetCtrl.VLAN_ADD, vid);
          expectThat(ack === NetCtrl.OK, `VLAN_ADD ${v} acknowledged`, () => fmtAck(ack));
        }
        const got = await whichReceived(ctx, link, vids.map((v, i) => vlanFrame(link.mac, v, 64, i + 1)));
        if (!got) notApplicable("a frame to the device's own address was not received");
        const missed = vids.filter((_, i) => !got.has(i));
        expectNone("every frame of a listed VLAN received", missed, (v) => `the frame tagged VLAN ${v} was dropped`);
      },
      (vids) => `VLAN ids ${vids.join(", ")}`,
    );
  },
});

export const announceClearedOnAck = defineDeviceClause({
  label: ANNOUNCE,
  statement: 1,
  level: "MUST",
  title: "VIRTIO_NET_S_ANNOUNCE cleared before ANNOUNCE_ACK is used",
  requirement: "With VIRTIO_NET_F_GUEST_ANNOUNCE negotiated, the device clears VIRTIO_NET_S_ANNOUNCE in status when " +
    "it receives VIRTIO_NET_CTRL_ANNOUNCE_ACK, before it marks that command used.",
  action: "Negotiates CTRL_VQ, STATUS and GUEST_ANNOUNCE, asks the host side for a configuration change (n/a when " +
    "the device does not then set VIRTIO_NET_S_ANNOUNCE), sends ANNOUNCE_ACK and reads status once it is used.",
  applies: { ...NET, offered: [NET_F.CTRL_VQ, NET_F.GUEST_ANNOUNCE, NET_F.STATUS], capabilities: ["configChange"] },
  async run(ctx) {
    await controlUp(ctx, [NET_F.GUEST_ANNOUNCE, NET_F.STATUS]);
    await ctx.session.triggerConfigChange!();
    await ctx.driver.quiet(ctx.driver.negativeWindow(50));
    const before = await ctx.transport.readConfig(6, 2);
    if (!(before & S_ANNOUNCE)) {
      notApplicable("the device did not ask for an announcement after the host-side change");
    }
    const ack = await controlCommand(ctx, NetCtrl.ANNOUNCE, NetCtrl.ANNOUNCE_ACK);
    expectThat(ack !== undefined, "ANNOUNCE_ACK used", () => fmtAck(ack));
    const after = await ctx.transport.readConfig(6, 2);
    expectThat(
      !(after & S_ANNOUNCE),
      "VIRTIO_NET_S_ANNOUNCE clear once ANNOUNCE_ACK is used",
      () => `status 0x${after.toString(16)} (acknowledged ${fmtAck(ack)})`,
    );
  },
});

const STEERING = "devicenormative:Device Types / Network Device / Device Operation / Control Virtqueue / " +
  "Automatic receive steering in multiqueue mode";

/** A multiqueue device brought up: every queue pair and the control queue (queue 2N) set up, DRIVER_OK set. */
interface MqLink {
  link: NetLink;
  pairs: number;
  /** Receive buffers made available, by queue and head. */
  buffers: Map<string, number>;
}

async function mqUp(ctx: DeviceClauseContext): Promise<MqLink> {
  wireOf(ctx);
  const want = bit(F.VERSION_1) | bit(NET_F.MQ) | bit(NET_F.CTRL_VQ) | bit(NET_F.MAC);
  const r = await ctx.driver.init("features-ok", (o) => o & want);
  expectThat(r.featuresOk, "FEATURES_OK with MQ and CTRL_VQ", () => formatStatus(r.status));
  const pairs = await ctx.transport.readConfig(8, 2);
  if (pairs < 2) notApplicable(`max_virtqueue_pairs is ${pairs}: no second queue pair to steer to`);
  const used = Math.min(pairs, 8);
  for (let q = 0; q < 2 * used; q++) await ctx.driver.setupQueue(q, 8);
  await ctx.driver.setupQueue(2 * pairs, 8);
  await ctx.driver.addStatus(Status.DRIVER_OK);
  const mac = await Promise.all(Array.from({ length: 6 }, (_, i) => ctx.transport.readConfig(i, 1)));
  const link: NetLink = { negotiated: ctx.driver.negotiated, hdr: 12, mac, receive: new Map() };
  return { link, pairs: used, buffers: new Map() };
}

/** Gives `per` receive buffers of 1526 bytes on every receive queue of the pairs set up. */
async function fillReceiveQueues(ctx: DeviceClauseContext, mq: MqLink, per: number): Promise<void> {
  for (let p = 0; p < mq.pairs; p++) {
    const queue = ctx.driver.queue(2 * p);
    for (let i = 0; i < per && queue.freeCount > 0; i++) {
      const addr = ctx.driver.alloc.alloc(1526, 8);
      await queue.publish(await queue.add([{ addr, len: 1526, writable: true }]));
    }
    await ctx.driver.kick(2 * p);
  }
}

/**
 * Injects `count` frames of distinct flows (source addresses) and collects where they were received: until every
 * one came on some receive queue (the frames and buffers match one for one) or the deadline. Returns the queue of
 * each used buffer.
 */
async function steer(ctx: DeviceClauseContext, mq: MqLink, count: number, seed: number): Promise<number[]> {
  const wire = wireOf(ctx);
  for (let i = 0; i < count; i++) {
    const f = testFrame(mq.link.mac, 80, seed + i);
    f.set([0x02, 0x00, 0x5e, 0x20, (seed + i) >> 8 & 0xff, (seed + i) & 0xff], 6);
    await wire.inject(f);
  }
  const queues: number[] = [];
  const deadline = Date.now() + ctx.driver.deadlineMs;
  while (queues.length < count && Date.now() < deadline) {
    for (let p = 0; p < mq.pairs; p++) {
      for (const _ of await ctx.driver.waitUsed(2 * p, 0, 0)) queues.push(2 * p);
    }
    if (queues.length < count) await ctx.session.settle(10);
  }
  return queues;
}

export const receiveq1BeforePairsSet = defineDeviceClause({
  label: STEERING,
  statement: 1,
  level: "MUST",
  title: "only receiveq1 used until VQ_PAIRS_SET",
  requirement: "After initialization or a reset, a device with VIRTIO_NET_F_MQ negotiated puts received packets on " +
    "receiveq1 only, until the driver enables more queue pairs.",
  action:
    "Negotiates MQ and CTRL_VQ, sets up every queue pair, gives receive buffers on every receive queue, injects " +
    "frames of distinct flows without sending VQ_PAIRS_SET, and checks each was received on receiveq1.",
  applies: { ...NET, offered: [NET_F.MQ, NET_F.CTRL_VQ] },
  async run(ctx) {
    await checkProperty(ctx, fc.integer({ min: 1, max: 6 }), async (count) => {
      const mq = await mqUp(ctx);
      await fillReceiveQueues(ctx, mq, count);
      const got = await steer(ctx, mq, count, 40);
      expectNone("every frame on receiveq1 (queue 0)", got.filter((q) => q !== 0), (q) => `a frame on queue ${q}`);
      expectThat(got.length === count, `${count} frames received`, () => `${got.length}`);
    }, (count) => `${count} frames of distinct flows`);
  },
});

export const noQueueBeyondPairs = defineDeviceClause({
  label: STEERING,
  statement: 2,
  level: "MUST NOT",
  title: "no receive queue beyond virtqueue_pairs after VQ_PAIRS_SET",
  requirement: "Once the device has used a VQ_PAIRS_SET command for n pairs, it puts no received packet on a " +
    "receive queue beyond receiveqn.",
  action: "Negotiates MQ and CTRL_VQ, sets up every queue pair, sends VQ_PAIRS_SET for a random n below the maximum, " +
    "gives receive buffers on every receive queue, injects frames of distinct flows and checks each landed on " +
    "receiveq1 … receiveqn.",
  applies: { ...NET, offered: [NET_F.MQ, NET_F.CTRL_VQ] },
  async run(ctx) {
    const arb = fc.record({ n: fc.integer({ min: 1, max: 7 }), count: fc.integer({ min: 1, max: 6 }) });
    await checkProperty(ctx, arb, async ({ n, count }) => {
      const mq = await mqUp(ctx);
      const pairs = Math.min(n, mq.pairs - 1);
      const data = new Uint8Array(2);
      le.setU16(data, 0, pairs);
      const ctrl = 2 * await ctx.transport.readConfig(8, 2);
      const ack = await controlCommand(ctx, NetCtrl.MQ, NetCtrl.MQ_VQ_PAIRS_SET, data, ctrl);
      expectThat(ack === NetCtrl.OK, `VQ_PAIRS_SET ${pairs} acknowledged`, () => fmtAck(ack));
      await fillReceiveQueues(ctx, mq, count);
      const got = await steer(ctx, mq, count, 70);
      expectNone(
        `every frame on receiveq1 … receiveq${pairs}`,
        got.filter((q) => q >= 2 * pairs),
        (q) => `a frame on queue ${q} (receiveq${q / 2 + 1})`,
      );
    }, ({ n, count }) => `VQ_PAIRS_SET ${n} (at most max − 1), ${count} frames`);
  },
});

/** A multicast address the harness uses (locally administered group). */
const GROUP = [0x03, 0x11, 0x22, 0x33, 0x44, 0x05];
const BROADCAST = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff];

/** One receive-mode SHOULD: the commands that set the mode, a frame's destination, and whether it should come. */
interface ModeCase {
  statement: number;
  level: "SHOULD" | "SHOULD NOT";
  title: string;
  requirement: string;
  extra: boolean;
  /** Commands after PROMISC 0 (RX class command, value). */
  modes: [number, number][];
  /** A multicast MAC table with this group (MAC_TABLE_SET) before the modes. */
  table?: boolean;
  dest: "stranger" | "group" | "broadcast" | "own";
  received: boolean;
}

function modeClause(c: ModeCase) {
  const names: Record<number, string> = {
    0: "PROMISC",
    1: "ALLMULTI",
    2: "ALLUNI",
    3: "NOMULTI",
    4: "NOUNI",
    5: "NOBCAST",
  };
  const what = {
    stranger: "a unicast address in no table",
    group: "a multicast group",
    broadcast: "broadcast",
    own: "the device's own address",
  }[c.dest];
  return defineDeviceClause({
    label: RX_FILTER,
    statement: c.statement,
    level: c.level,
    title: c.title,
    requirement: c.requirement,
    action:
      `Negotiates CTRL_VQ and CTRL_RX${c.extra ? " and CTRL_RX_EXTRA" : ""}, turns promiscuous mode off${
        c.table ? ", lists a multicast group in the MAC table" : ""
      }, sends ${
        c.modes.map(([m, v]) => `${names[m]} ${v}`).join(", ") || "nothing more"
      }, injects a frame to ${what} ` +
      `and checks it is ${c.received ? "" : "not "}received (a marker frame after it bounds the wait).`,
    applies: { ...NET, offered: [NET_F.CTRL_VQ, NET_F.CTRL_RX, ...(c.extra ? [NET_F.CTRL_RX_EXTRA] : [])] },
    async run(ctx) {
      const link = await controlUp(ctx, c.extra ? [NET_F.CTRL_RX, NET_F.CTRL_RX_EXTRA] : [NET_F.CTRL_RX]);
      wireOf(ctx);
      const commands: [number, number, Uint8Array][] = [[NetCtrl.RX, NetCtrl.RX_PROMISC, new Uint8Array([0])]];
      if (c.table) commands.push([NetCtrl.MAC, NetCtrl.MAC_TABLE_SET, macTable([], [GROUP])]);
      for (const [m, v] of c.modes) commands.push([NetCtrl.RX, m, new Uint8Array([v])]);
      for (const [cls, command, data] of commands) {
        const ack = await controlCommand(ctx, cls, command, data);
        if (ack !== NetCtrl.OK) notApplicable(`the device refused a receive-mode command (${fmtAck(ack)})`);
      }
      const dest = { stranger: STRANGER, group: GROUP, broadcast: BROADCAST, own: link.mac }[c.dest];
      // The marker goes where the modes let it: the device's own address, or broadcast when unicast is suppressed.
      const marker = c.modes.some(([m, v]) => m === NetCtrl.RX_NOUNI && v === 1) ? BROADCAST : link.mac;
      const got = await whichReceived(ctx, link, [testFrame(dest, 64, 9)], marker);
      if (!got) notApplicable("the marker frame after the test frame was not received");
      expectThat(
        got.has(0) === c.received,
        `the frame to ${what} ${c.received ? "received" : "dropped"}`,
        () => got.has(0) ? "it was received" : "it was dropped",
      );
    },
  });
}

export const RX_MODE_CLAUSES = [
  modeClause({
    statement: 2,
    level: "SHOULD",
    title: "promiscuous mode receives every frame",
    requirement: "With promiscuous mode on, the device should receive every incoming frame.",
    extra: false,
    modes: [[NetCtrl.RX_PROMISC, 1]],
    dest: "stranger",
    received: true,
  }),
  modeClause({
    statement: 3,
    level: "SHOULD",
    title: "promiscuous mode wins over the other receive modes",
    requirement: "Promiscuous mode should take effect even while another receive mode (here NOUNI) is on.",
    extra: true,
    modes: [[NetCtrl.RX_NOUNI, 1], [NetCtrl.RX_PROMISC, 1]],
    dest: "own",
    received: true,
  }),
  modeClause({
    statement: 4,
    level: "SHOULD",
    title: "all-multicast mode receives every multicast frame",
    requirement: "With all-multicast receive on, the device should let every incoming multicast frame through.",
    extra: false,
    modes: [[NetCtrl.RX_ALLMULTI, 1]],
    dest: "group",
    received: true,
  }),
  modeClause({
    statement: 6,
    level: "SHOULD",
    title: "all-unicast mode receives every unicast frame",
    requirement: "With all-unicast receive on, the device should let every incoming unicast frame through.",
    extra: true,
    modes: [[NetCtrl.RX_ALLUNI, 1]],
    dest: "stranger",
    received: true,
  }),
  modeClause({
    statement: 7,
    level: "SHOULD NOT",
    title: "no multicast frame while multicast is suppressed",
    requirement: "With NOMULTI on, the device should not pass multicast frames to the driver.",
    extra: true,
    table: true,
    modes: [[NetCtrl.RX_NOMULTI, 1]],
    dest: "group",
    received: false,
  }),
  modeClause({
    statement: 8,
    level: "SHOULD",
    title: "NOMULTI wins over ALLMULTI",
    requirement: "Suppressing multicast should take effect even while all-multicast receive is on.",
    extra: true,
    modes: [[NetCtrl.RX_ALLMULTI, 1], [NetCtrl.RX_NOMULTI, 1]],
    dest: "group",
    received: false,
  }),
  modeClause({
    statement: 9,
    level: "SHOULD NOT",
    title: "broadcast still received while multicast is suppressed",
    requirement: "Suppressing multicast (NOMULTI) should not keep broadcast frames from the driver.",
    extra: true,
    modes: [[NetCtrl.RX_NOMULTI, 1]],
    dest: "broadcast",
    received: true,
  }),
  modeClause({
    statement: 10,
    level: "SHOULD NOT",
    title: "no unicast frame while unicast is suppressed",
    requirement: "With NOUNI on, the device should not pass unicast frames to the driver.",
    extra: true,
    modes: [[NetCtrl.RX_NOUNI, 1]],
    dest: "own",
    received: false,
  }),
  modeClause({
    statement: 11,
    level: "SHOULD",
    title: "NOUNI wins over ALLUNI",
    requirement: "Suppressing unicast should take effect even while all-unicast receive is on.",
    extra: true,
    modes: [[NetCtrl.RX_ALLUNI, 1], [NetCtrl.RX_NOUNI, 1]],
    dest: "stranger",
    received: false,
  }),
  modeClause({
    statement: 12,
    level: "SHOULD NOT",
    title: "no broadcast frame while broadcast is suppressed",
    requirement: "With NOBCAST on, the device should not pass broadcast frames to the driver.",
    extra: true,
    modes: [[NetCtrl.RX_NOBCAST, 1]],
    dest: "broadcast",
    received: false,
  }),
  modeClause({
    statement: 13,
    level: "SHOULD",
    title: "NOBCAST wins over ALLMULTI",
    requirement: "Suppressing broadcast should take effect even while all-multicast receive is on.",
    extra: true,
    modes: [[NetCtrl.RX_ALLMULTI, 1], [NetCtrl.RX_NOBCAST, 1]],
    dest: "broadcast",
    received: false,
  }),
];

/** The control-queue device clauses of spec 5.1.9.5. */
export const NET_CONTROL_DEVICE_CLAUSES = [
  rxModesSupported,
  rxExtraModesSupported,
  macTableEmptyAfterReset,
  macTableInForceWhenUsed,
  macAddressSetInConfig,
  vlanTaggedAcceptedWithoutFilter,
  vlanInTableAccepted,
  announceClearedOnAck,
  receiveq1BeforePairsSet,
  noQueueBeyondPairs,
  ...RX_MODE_CLAUSES,
];
