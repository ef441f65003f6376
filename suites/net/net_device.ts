/**
 * Device clauses of spec 5.1 Network Device: the configuration fields
 * (5.1.4.1), what the device writes into receive buffers (5.1.9.3.2,
 * 5.1.9.4.1) and what it does with transmitted frames (5.1.4.1, 5.1.9.2.2).
 * Receive and transmit need the device's wire (the `wire` capability); the
 * configuration clauses need only registers.
 *
 * @module
 */
import fc from "fast-check";
import { defineDeviceClause, type DeviceClauseContext } from "../../harness/core/clause.ts";
import { checkProperty } from "../../harness/core/property.ts";
import { bit, formatFeatures, NET_F } from "../../harness/features.ts";
import { NET_S_LINK_UP, NetGso, NetHdrFlag, type NetHeader, udpChecksumOk } from "../../harness/models/device/net.ts";
import { hex } from "../../harness/text.ts";
import { expectNone, expectThat, notApplicable } from "../../harness/verify.ts";
import {
  ETH_HEADER,
  giveReceiveBuffers,
  has,
  hexBytes,
  type NetLink,
  netUp,
  packetsOf,
  type ReceivedPacket,
  receiveFrames,
  testFrame,
  transmitFrames,
  udpFrame,
  type UsedReceive,
  wireOf,
} from "./net_io.ts";

const CONFIG = "devicenormative:Device Types / Network Device / Device configuration layout";
const RX_BUFFERS = "devicenormative:Device Types / Network Device / Device Operation / Setting Up Receive Buffers";
const RX = "devicenormative:Device Types / Network Device / Device Operation / Processing of Incoming Packets";
const TX = "devicenormative:Device Types / Network Device / Device Operation / Packet Transmission";
const NET = { deviceTypes: ["net" as const] };

/** Configuration offsets (spec 5.1.4). */
const Cfg = { STATUS: 6, MAX_PAIRS: 8, MTU: 10, SPEED: 12, DUPLEX: 16, RSS_KEY: 17, RSS_TABLE: 18 } as const;

/** Features the receive clauses negotiate when offered (nothing that changes the header but MRG_RXBUF). */
const PLAIN = [NET_F.MAC, NET_F.MTU, NET_F.STATUS];

// ---------------------------------------------------------------------------------------------------------------
// 5.1.4.1 Device configuration layout

export const maxPairsInRange = defineDeviceClause({
  label: CONFIG,
  statement: 1,
  level: "MUST",
  title: "max_virtqueue_pairs between 1 and 0x8000 with VIRTIO_NET_F_MQ",
  requirement: "A device offering VIRTIO_NET_F_MQ reports between 1 and 0x8000 queue pairs in max_virtqueue_pairs.",
  action: "Initializes to FEATURES_OK (MQ and CTRL_VQ accepted) and reads max_virtqueue_pairs.",
  applies: { ...NET, offered: [NET_F.MQ] },
  async run(ctx) {
    await ctx.driver.init("features-ok", (o) => o & (bit(32) | bit(NET_F.MQ) | bit(NET_F.CTRL_VQ)));
    const v = await ctx.transport.readConfig(Cfg.MAX_PAIRS, 2);
    expectThat(v >= 1 && v <= 0x8000, "max_virtqueue_pairs in 1..0x8000", () => `${v}`);
  },
});

async function readMtu(ctx: DeviceClauseContext): Promise<number> {
  await ctx.driver.init("features-ok", (o) => o & (bit(32) | bit(NET_F.MTU)));
  return await ctx.transport.readConfig(Cfg.MTU, 2);
}

export const mtuInRange = defineDeviceClause({
  label: CONFIG,
  statement: 2,
  level: "MUST",
  title: "mtu between 68 and 65535 with VIRTIO_NET_F_MTU",
  requirement: "A device offering VIRTIO_NET_F_MTU reports an mtu of at least 68 (and at most 65535).",
  action: "Initializes to FEATURES_OK with MTU accepted and reads mtu.",
  applies: { ...NET, offered: [NET_F.MTU] },
  async run(ctx) {
    const mtu = await readMtu(ctx);
    expectThat(mtu >= 68 && mtu <= 65535, "mtu in 68..65535", () => `${mtu}`);
  },
});

export const mtuAtLeast1280 = defineDeviceClause({
  label: CONFIG,
  statement: 3,
  level: "SHOULD",
  title: "mtu at least 1280 with VIRTIO_NET_F_MTU",
  requirement: "A device offering VIRTIO_NET_F_MTU should report an mtu of at least 1280 (the IPv6 minimum).",
  action: "Initializes to FEATURES_OK with MTU accepted and reads mtu.",
  applies: { ...NET, offered: [NET_F.MTU] },
  async run(ctx) {
    const mtu = await readMtu(ctx);
    expectThat(mtu >= 1280, "mtu ≥ 1280", () => `${mtu}`);
  },
});

export const mtuNeverChanges = defineDeviceClause({
  label: CONFIG,
  statement: 4,
  level: "MUST NOT",
  title: "mtu never changes once set",
  requirement: "Once the device has set mtu, it keeps the value: the field reads the same before and after " +
    "negotiation, at DRIVER_OK, after traffic and after a reset.",
  action: "Reads mtu after a reset, at FEATURES_OK, at DRIVER_OK, after transmitting a frame (when the harness " +
    "owns the wire) and after a second initialization, and compares the readings.",
  applies: { ...NET, offered: [NET_F.MTU] },
  async run(ctx) {
    const readings: [string, number][] = [];
    const read = async (when: string) => readings.push([when, await ctx.transport.readConfig(Cfg.MTU, 2)]);
    await ctx.driver.init("reset");
    await read("after a reset");
    const link = await netUp(ctx, PLAIN);
    await read("at DRIVER_OK");
    if (ctx.session.wire) {
      await transmitFrames(ctx, link, [{ header: {}, frame: testFrame([0xff, 0xff, 0xff, 0xff, 0xff, 0xff], 60) }]);
      await read("after a transmitted frame");
    }
    await readMtu(ctx);
    await read("at FEATURES_OK of a second initialization");
    const first = readings[0]![1];
    expectNone("mtu unchanged", readings.filter(([, v]) => v !== first), ([w, v]) => `${v} ${w} (${first} first)`);
  },
});

export const oversizeNotReceived = defineDeviceClause({
  label: CONFIG,
  statement: 5,
  level: "MUST NOT",
  title: "no received frame longer than mtu plus the Ethernet header",
  requirement: "With VIRTIO_NET_F_MTU negotiated, the device does not pass the driver a received frame longer " +
    "than mtu plus the Ethernet header (without segmentation offload).",
  action: "Negotiates MTU (and MRG_RXBUF when offered), gives large receive buffers, injects a frame one byte " +
    "longer than mtu + 14 and then a frame of exactly mtu + 14, and checks that no received frame exceeds mtu + 14.",
  applies: { ...NET, offered: [NET_F.MTU] },
  async run(ctx) {
    wireOf(ctx);
    const link = await netUp(ctx, [...PLAIN, NET_F.MRG_RXBUF], [NET_F.MTU]);
    const mtu = await ctx.transport.readConfig(Cfg.MTU, 2);
    const limit = mtu + ETH_HEADER;
    const room = link.hdr + limit + 1;
    await giveReceiveBuffers(ctx, link, Array.from({ length: 4 }, () => ({ capacity: room, pieces: 1 })));
    const used = await receiveFrames(ctx, link, [testFrame(link.mac, limit + 1, 3), testFrame(link.mac, limit, 4)], 1);
    const packets = packetsOf(link, used);
    expectNone(
      "received frames ≤ mtu + 14 bytes",
      packets.filter((p) => p.frame.length > limit),
      (p) =>
        `a ${p.frame.length}-byte frame passed to the driver (mtu ${mtu}; the harness injected ${limit + 1} bytes, ` +
        `then ${limit})`,
    );
  },
});

export const mtuFramesForwarded = defineDeviceClause({
  label: CONFIG,
  statement: 6,
  level: "MUST",
  title: "transmitted frames up to mtu plus the Ethernet header go out whole",
  requirement: "With VIRTIO_NET_F_MTU negotiated, the device forwards every transmitted frame of up to mtu plus " +
    "the Ethernet header (without segmentation offload), unfragmented.",
  action: "Negotiates MTU, transmits frames of random sizes up to mtu + 14 (always one of exactly mtu + 14) and " +
    "checks that each reaches the wire once, byte for byte.",
  applies: { ...NET, offered: [NET_F.MTU] },
  async run(ctx) {
    wireOf(ctx);
    await checkProperty(
      ctx,
      fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 0, maxLength: 2 }),
      async (fractions) => {
        const link = await netUp(ctx, PLAIN, [NET_F.MTU]);
        const mtu = await ctx.transport.readConfig(Cfg.MTU, 2);
        const limit = mtu + ETH_HEADER;
        const sizes = [limit, ...fractions.map((f) => 60 + Math.floor(f * (limit - 60)))];
        const frames = sizes.map((n, i) => testFrame([0xff, 0xff, 0xff, 0xff, 0xff, 0xff], n, i + 1));
        const wire = await transmitFrames(ctx, link, frames.map((frame) => ({ header: {}, frame, pieces: 3 })));
        expectSameFrames(frames, wire, `mtu ${mtu}`);
      },
      (fr) => `${fr.length + 1} frames`,
    );
  },
});

/** Checks that `wire` holds exactly `sent`, in order, byte for byte. */
function expectSameFrames(sent: readonly Uint8Array[], wire: readonly Uint8Array[], note: string): void {
  const bad: string[] = [];
  for (let i = 0; i < Math.max(sent.length, wire.length); i++) {
    const s = sent[i];
    const w = wire[i];
    if (!s) bad.push(`an extra ${w!.length}-byte frame on the wire: ${hexBytes(w!)}`);
    else if (!w) bad.push(`the ${s.length}-byte frame ${i + 1} never reached the wire`);
    else if (s.length !== w.length || s.some((b, k) => b !== w[k])) {
      const k = s.findIndex((b, j) => b !== w[j]);
      bad.push(
        `frame ${i + 1}: sent ${s.length} bytes, the wire carried ${w.length}` +
          (k >= 0 && k < w.length
            ? ` (first difference at byte ${k}: ${hex(s[k]!, 2)} sent, ${hex(w[k]!, 2)} seen)`
            : ""),
      );
    }
  }
  expectNone(`every frame on the wire as transmitted (${note})`, bad, (s) => s);
}

export const rssKeySize = defineDeviceClause({
  label: CONFIG,
  statement: 7,
  level: "MUST",
  title: "rss_max_key_size at least 40 with RSS or HASH_REPORT",
  requirement: "A device offering VIRTIO_NET_F_RSS or VIRTIO_NET_F_HASH_REPORT reports rss_max_key_size of at " +
    "least 40.",
  action: "Reads rss_max_key_size after a reset.",
  applies: NET,
  async run(ctx) {
    if (!has(ctx.offered, NET_F.RSS) && !has(ctx.offered, NET_F.HASH_REPORT)) {
      notApplicable("the device offers neither VIRTIO_NET_F_RSS nor VIRTIO_NET_F_HASH_REPORT");
    }
    await ctx.driver.init("reset");
    const v = await ctx.transport.readConfig(Cfg.RSS_KEY, 1);
    expectThat(v >= 40, "rss_max_key_size ≥ 40", () => `${v}`);
  },
});

export const rssTableLength = defineDeviceClause({
  label: CONFIG,
  statement: 8,
  level: "MUST",
  title: "rss_max_indirection_table_length at least 128 with RSS",
  requirement: "A device offering VIRTIO_NET_F_RSS reports rss_max_indirection_table_length of at least 128.",
  action: "Reads rss_max_indirection_table_length after a reset.",
  applies: { ...NET, offered: [NET_F.RSS] },
  async run(ctx) {
    await ctx.driver.init("reset");
    const v = await ctx.transport.readConfig(Cfg.RSS_TABLE, 2);
    expectThat(v >= 128, "rss_max_indirection_table_length ≥ 128", () => `${v}`);
  },
});

async function speedDuplex(ctx: DeviceClauseContext): Promise<{ speed: number; duplex: number; status: number }> {
  await ctx.driver.init("driver-ok", (o) => o & (bit(32) | bit(NET_F.SPEED_DUPLEX) | bit(NET_F.STATUS)));
  return {
    speed: await ctx.transport.readConfig(Cfg.SPEED, 4),
    duplex: await ctx.transport.readConfig(Cfg.DUPLEX, 1),
    status: await ctx.transport.readConfig(Cfg.STATUS, 2),
  };
}

export const speedValue = defineDeviceClause({
  label: CONFIG,
  statement: 10,
  level: "MUST",
  title: "speed a number of Mbit/s or unknown with VIRTIO_NET_F_SPEED_DUPLEX",
  requirement: "With VIRTIO_NET_F_SPEED_DUPLEX negotiated, speed holds the link speed in Mbit/s, at most " +
    "0x7fffffff, or 0xffffffff for unknown.",
  action: "Negotiates SPEED_DUPLEX (and STATUS), sets DRIVER_OK and reads speed.",
  applies: { ...NET, offered: [NET_F.SPEED_DUPLEX] },
  async run(ctx) {
    const { speed } = await speedDuplex(ctx);
    expectThat(speed <= 0x7fff_ffff || speed === 0xffff_ffff, "speed ≤ 0x7fffffff or 0xffffffff", () => hex(speed, 8));
  },
});

export const duplexValue = defineDeviceClause({
  label: CONFIG,
  statement: 11,
  level: "MUST",
  title: "duplex 0x00, 0x01 or 0xff with VIRTIO_NET_F_SPEED_DUPLEX",
  requirement: "With VIRTIO_NET_F_SPEED_DUPLEX negotiated, duplex reads 0x00 (full), 0x01 (half) or 0xff (unknown).",
  action: "Negotiates SPEED_DUPLEX (and STATUS), sets DRIVER_OK and reads duplex.",
  applies: { ...NET, offered: [NET_F.SPEED_DUPLEX] },
  async run(ctx) {
    const { duplex } = await speedDuplex(ctx);
    expectThat([0x00, 0x01, 0xff].includes(duplex), "duplex 0x00, 0x01 or 0xff", () => hex(duplex, 2));
  },
});

export const speedSteadyWhileUp = defineDeviceClause({
  label: CONFIG,
  statement: 12,
  level: "SHOULD NOT",
  title: "speed and duplex steady while the link is up",
  requirement: "With SPEED_DUPLEX and STATUS negotiated, the device should not change speed or duplex while " +
    "status shows the link up.",
  action: "Negotiates SPEED_DUPLEX and STATUS, reads status, speed and duplex at DRIVER_OK and again after the " +
    "device had time to run; compares them when the link was up both times.",
  applies: { ...NET, offered: [NET_F.SPEED_DUPLEX, NET_F.STATUS] },
  async run(ctx) {
    const a = await speedDuplex(ctx);
    await ctx.driver.quiet(ctx.driver.negativeWindow(50));
    const b = {
      status: await ctx.transport.readConfig(Cfg.STATUS, 2),
      speed: await ctx.transport.readConfig(Cfg.SPEED, 4),
      duplex: await ctx.transport.readConfig(Cfg.DUPLEX, 1),
    };
    if (!(a.status & b.status & NET_S_LINK_UP)) notApplicable("the link was not up at both readings");
    expectThat(
      a.speed === b.speed && a.duplex === b.duplex,
      "speed and duplex unchanged",
      () => `speed ${a.speed} → ${b.speed}, duplex ${a.duplex} → ${b.duplex}`,
    );
  },
});

function noFeatureWithoutCtrlVq(statement: number, feature: number, name: string) {
  return defineDeviceClause({
    label: CONFIG,
    statement,
    level: "SHOULD NOT",
    title: `${name} not offered without VIRTIO_NET_F_CTRL_VQ`,
    requirement: `The device should not offer ${name} unless it also offers VIRTIO_NET_F_CTRL_VQ.`,
    action: "Reads the offered features.",
    applies: { ...NET, offered: [feature] },
    run(ctx) {
      expectThat(
        has(ctx.offered, NET_F.CTRL_VQ),
        `VIRTIO_NET_F_CTRL_VQ offered with ${name}`,
        () => `offered ${formatFeatures(ctx.offered, "net")}`,
      );
      return Promise.resolve();
    },
  });
}

export const hashReportNeedsCtrlVq = noFeatureWithoutCtrlVq(13, NET_F.HASH_REPORT, "VIRTIO_NET_F_HASH_REPORT");
export const rxExtraNeedsCtrlVq = noFeatureWithoutCtrlVq(14, NET_F.CTRL_RX_EXTRA, "VIRTIO_NET_F_CTRL_RX_EXTRA");

// ---------------------------------------------------------------------------------------------------------------
// Receiving: 5.1.9.3.2 and 5.1.9.4.1

/** A random receive scenario: frame sizes and, for merged buffers, the buffer sizes and descriptor cuts. */
const receiveCase = fc.record({
  frames: fc.array(fc.integer({ min: 60, max: 1514 }), { minLength: 1, maxLength: 3 }),
  buffer: fc.integer({ min: 64, max: 1600 }),
  pieces: fc.integer({ min: 1, max: 3 }),
});
type ReceiveCase = { frames: number[]; buffer: number; pieces: number };

/**
 * What is wrong with a packet that should carry `sent`: the buffers its num_buffers groups must hold the header and
 * exactly that frame (a num_buffers too high swallows the next packet's bytes, one too low cuts the frame short).
 */
function notIntact(p: ReceivedPacket, sent: Uint8Array | undefined, link: NetLink): string | undefined {
  const n = p.header.numBuffers ?? 1;
  if (p.buffers.length !== n) {
    return `num_buffers ${n} for a packet in ${p.buffers.length} buffer(s) of ${
      p.buffers.map((b) => b.len).join("+")
    } bytes`;
  }
  return frameMismatch(p, sent, link);
}

/** What is wrong with the frame a packet carries, whose frame should be `sent`. */
function frameMismatch(p: ReceivedPacket, sent: Uint8Array | undefined, link: NetLink): string | undefined {
  const lens = `${p.buffers.length} buffer(s) of ${p.buffers.map((b) => b.len).join("+")} bytes`;
  if (!sent) return `a packet beyond the frames injected: ${lens}`;
  if (p.frame.length !== sent.length) {
    return `a ${sent.length}-byte frame came back as ${p.frame.length} bytes (${lens}, header ${link.hdr})`;
  }
  const k = sent.findIndex((b, i) => b !== p.frame[i]);
  return k < 0 ? undefined : `a ${sent.length}-byte frame differs at byte ${k} (${lens})`;
}

/**
 * Brings the device up with `merge` (MRG_RXBUF negotiated when true, refused when false), gives buffers (merged:
 * enough of `c.buffer` bytes for every frame; else one of 1526 bytes or more per frame), injects the frames and
 * returns the used buffers and the packets they form.
 */
async function receiveCaseRun(
  ctx: DeviceClauseContext,
  c: ReceiveCase,
  merge: boolean,
): Promise<{ link: NetLink; used: UsedReceive[]; packets: ReceivedPacket[]; frames: Uint8Array[] }> {
  wireOf(ctx);
  const link = await netUp(ctx, merge ? [...PLAIN, NET_F.MRG_RXBUF] : PLAIN, merge ? [NET_F.MRG_RXBUF] : []);
  const frames = c.frames.map((n, i) => testFrame(link.mac, n, i + 1));
  const queue = ctx.driver.queue(0);
  let buffers: { capacity: number; pieces: number }[];
  if (merge) {
    // Buffers of the case's size, made larger when the queue could not hold enough of them for every frame.
    const bytes = frames.reduce((n, f) => n + link.hdr + f.length, 0);
    const fit = Math.max(1, Math.floor(queue.size / c.pieces) - frames.length);
    const size = Math.max(link.hdr, c.buffer, Math.ceil(bytes / fit));
    const need = frames.reduce((n, f) => n + Math.ceil((link.hdr + f.length) / size), 0);
    buffers = Array.from({ length: need }, () => ({ capacity: size, pieces: c.pieces }));
  } else {
    const pieces = Math.max(1, Math.min(c.pieces, Math.floor(queue.size / frames.length)));
    buffers = frames.map(() => ({ capacity: Math.max(1526, c.buffer), pieces }));
  }
  await giveReceiveBuffers(ctx, link, buffers);
  const used = await receiveFrames(ctx, link, frames, merge ? buffers.length : frames.length);
  expectThat(used.length > 0, "the injected frames received", () => "no receive buffer used");
  return { link, used, packets: packetsOf(link, used), frames };
}

const fmtCase = (c: ReceiveCase) =>
  `frames of ${c.frames.join(", ")} bytes; buffers of ${c.buffer} bytes in ${c.pieces} descriptors`;

/** A receive clause: one property over random receive cases, checking every packet with `check`. */
function receiveClause(
  o: {
    label: string;
    statement: number;
    level: "MUST" | "MUST NOT";
    title: string;
    requirement: string;
    action: string;
    /** MRG_RXBUF negotiated, refused, or either (chosen by the case). */
    merge: boolean | "either";
    expect: string;
    /** What is wrong with packet `p`, the `i`th received, whose frame should be `sent` (absent: more packets than frames). */
    bad: (p: ReceivedPacket, sent: Uint8Array | undefined, link: NetLink) => string | undefined;
  },
) {
  return defineDeviceClause({
    label: o.label,
    statement: o.statement,
    level: o.level,
    title: o.title,
    requirement: o.requirement,
    action: o.action,
    applies: NET,
    async run(ctx) {
      const arb = o.merge === "either"
        ? fc.tuple(receiveCase, fc.boolean())
        : receiveCase.map((c) => [c, o.merge] as const);
      await checkProperty(ctx, arb, async ([c, merge]) => {
        const { link, packets, frames } = await receiveCaseRun(
          ctx,
          c,
          merge === true && (o.merge !== "either" || has(ctx.offered, NET_F.MRG_RXBUF)),
        );
        const bad = packets.map((p, i) => o.bad(p, frames[i], link)).filter((s): s is string => s !== undefined);
        expectNone(o.expect, bad, (s) => s);
      }, ([c, merge]) => `${fmtCase(c)}; MRG_RXBUF ${merge ? "negotiated" : "refused"}`);
    },
  });
}

const EXPECT_INTACT = "each received frame whole and alone in the buffers num_buffers names";

const RANDOM_RX = "Injects 1–3 frames of random sizes addressed to the device and reads back the receive buffers";

export const numBuffersCountsBuffers = receiveClause({
  label: RX_BUFFERS,
  statement: 1,
  level: "MUST",
  title: "num_buffers is the number of buffers the frame took",
  requirement: "In each received packet's header the device puts in num_buffers how many buffers the packet " +
    "occupies.",
  action: `${RANDOM_RX} (MRG_RXBUF negotiated or refused at random; merged buffers of random sizes, so a frame may ` +
    "span several); checks that the buffers each num_buffers groups hold the header and exactly one injected frame.",
  merge: "either",
  expect: EXPECT_INTACT,
  bad: notIntact,
});

export const singleBufferWithoutMerge = receiveClause({
  label: RX_BUFFERS,
  statement: 2,
  level: "MUST",
  title: "one buffer per received frame without MRG_RXBUF",
  requirement: "Without VIRTIO_NET_F_MRG_RXBUF the device puts each received packet, header included, in a single " +
    "buffer.",
  action: `${RANDOM_RX} (MRG_RXBUF refused, one buffer of at least 1526 bytes per frame, cut into 1–3 descriptors); ` +
    "checks that each used buffer holds one whole frame.",
  merge: false,
  expect: "each received frame whole in one buffer",
  // A driver without MRG_RXBUF takes each used buffer for one packet: a frame cut over two buffers comes back short,
  // its tail as one more packet.
  bad: frameMismatch,
});

export const numBuffersOneWithoutMerge = receiveClause({
  label: RX,
  statement: 1,
  level: "MUST",
  title: "num_buffers 1 without MRG_RXBUF",
  requirement: "Without VIRTIO_NET_F_MRG_RXBUF negotiated the device sets num_buffers to 1 in every received header.",
  action: `${RANDOM_RX} (MRG_RXBUF refused); checks num_buffers in each header (when the header has the field).`,
  merge: false,
  expect: "num_buffers 1",
  bad: (p) =>
    p.header.numBuffers === undefined || p.header.numBuffers === 1 ? undefined : `num_buffers ${p.header.numBuffers}`,
});

export const numBuffersMerged = receiveClause({
  label: RX,
  statement: 2,
  level: "MUST",
  title: "num_buffers counts the buffers a merged packet spans",
  requirement: "With VIRTIO_NET_F_MRG_RXBUF negotiated the device sets num_buffers to the number of buffers the " +
    "packet, header included, is spread over.",
  action: `${RANDOM_RX} (MRG_RXBUF negotiated, buffers of random sizes); checks that num_buffers matches the ` +
    "buffers the frame filled: the frame's bytes end in the last of them.",
  merge: true,
  expect: EXPECT_INTACT,
  bad: notIntact,
});

export const mergedBuffersFilled = receiveClause({
  label: RX,
  statement: 3,
  level: "MUST",
  title: "every buffer but the last of a merged packet used in full",
  requirement: "When a received packet spans several buffers, the device fills each of them but the last to its " +
    "full length.",
  action: `${RANDOM_RX} (MRG_RXBUF negotiated, buffers smaller than the frames); checks the used length of ` +
    "each buffer but the last of every packet against its size.",
  merge: true,
  expect: "buffers before the last filled completely",
  bad: (p) => {
    const short = p.buffers.slice(0, -1).filter((b) => b.len !== b.capacity);
    return short.length === 0
      ? undefined
      : `a ${p.buffers.length}-buffer packet with ${
        short.map((b) => `${b.len} of ${b.capacity}`).join(", ")
      } bytes used`;
  },
});

export const mergedBuffersTogether = receiveClause({
  label: RX,
  statement: 4,
  level: "MUST",
  title: "all buffers of a merged packet used",
  requirement: "The device uses all the buffers of one received packet, so that the driver sees at least " +
    "num_buffers used buffers for it.",
  action: `${RANDOM_RX} (MRG_RXBUF negotiated); checks that after each packet's first buffer its other ` +
    "num_buffers − 1 buffers are used too.",
  merge: true,
  expect: "num_buffers used buffers for every packet",
  bad: (p) => {
    const n = p.header.numBuffers ?? 1;
    return p.buffers.length >= n ? undefined : `num_buffers ${n}, only ${p.buffers.length} buffers used`;
  },
});

export const rxFlagsZero = receiveClause({
  label: RX,
  statement: 5,
  level: "MUST",
  title: "flags 0 in received headers without GUEST_CSUM",
  requirement: "Without VIRTIO_NET_F_GUEST_CSUM negotiated, the device leaves flags 0 in every received header.",
  action: `${RANDOM_RX} (GUEST_CSUM refused); checks flags in each header.`,
  merge: false,
  expect: "flags 0",
  bad: (p) => p.header.flags === 0 ? undefined : `flags ${hex(p.header.flags, 2)}`,
});

function gsoClause(statement: number, value: number, name: string, refused: string) {
  return receiveClause({
    label: RX,
    statement,
    level: "MUST NOT",
    title: `no ${name} in gso_type without ${refused}`,
    requirement: `Without ${refused} negotiated the device never reports ${name} in gso_type.`,
    action: `${RANDOM_RX} (no receive offload negotiated); checks gso_type in each header.`,
    merge: false,
    expect: `gso_type other than ${name}`,
    bad: (p) => (p.header.gsoType & 0x1f) === value ? `gso_type ${hex(p.header.gsoType, 2)}` : undefined,
  });
}

export const noGsoTcpv4 = gsoClause(7, NetGso.TCPV4, "VIRTIO_NET_HDR_GSO_TCPV4", "VIRTIO_NET_F_GUEST_TSO4");
export const noGsoUdp = gsoClause(8, NetGso.UDP, "VIRTIO_NET_HDR_GSO_UDP", "VIRTIO_NET_F_GUEST_UFO");
export const noGsoTcpv6 = gsoClause(9, NetGso.TCPV6, "VIRTIO_NET_HDR_GSO_TCPV6", "VIRTIO_NET_F_GUEST_TSO6");
export const noGsoUdpL4 = gsoClause(10, NetGso.UDP_L4, "VIRTIO_NET_HDR_GSO_UDP_L4", "VIRTIO_NET_F_GUEST_USO4 or USO6");

export const noTunnelBits = receiveClause({
  label: RX,
  statement: 11,
  level: "MUST NOT",
  title: "no UDP tunnel bits in gso_type without GUEST_UDP_TUNNEL_GSO",
  requirement: "Without VIRTIO_NET_F_GUEST_UDP_TUNNEL_GSO the device sets neither UDP tunnel bit in gso_type.",
  action: `${RANDOM_RX} (no receive offload negotiated); checks the tunnel bits of gso_type.`,
  merge: false,
  expect: "no tunnel bit in gso_type",
  bad: (p) =>
    p.header.gsoType & (NetGso.UDP_TUNNEL_IPV4 | NetGso.UDP_TUNNEL_IPV6)
      ? `gso_type ${hex(p.header.gsoType, 2)}`
      : undefined,
});

export const noTunnelCsumFlag = receiveClause({
  label: RX,
  statement: 12,
  level: "MUST NOT",
  title: "no UDP_TUNNEL_CSUM flag without GUEST_UDP_TUNNEL_GSO_CSUM",
  requirement: "Without VIRTIO_NET_F_GUEST_UDP_TUNNEL_GSO_CSUM the device never sets VIRTIO_NET_HDR_F_UDP_TUNNEL_CSUM.",
  action: `${RANDOM_RX} (no receive offload negotiated); checks that flag in each header.`,
  merge: false,
  expect: "VIRTIO_NET_HDR_F_UDP_TUNNEL_CSUM clear",
  bad: (p) => p.header.flags & NetHdrFlag.UDP_TUNNEL_CSUM ? `flags ${hex(p.header.flags, 2)}` : undefined,
});

export const gsoNoneWithoutOffload = receiveClause({
  label: RX,
  statement: 26,
  level: "MUST",
  title: "gso_type NONE without receive segmentation offload",
  requirement: "Without any of GUEST_TSO4, GUEST_TSO6, GUEST_UFO, GUEST_USO4 or GUEST_USO6 negotiated, the device " +
    "sets gso_type to VIRTIO_NET_HDR_GSO_NONE.",
  action: `${RANDOM_RX} (no receive offload negotiated); checks gso_type in each header.`,
  merge: false,
  expect: "gso_type 0 (NONE)",
  bad: (p) => p.header.gsoType === NetGso.NONE ? undefined : `gso_type ${hex(p.header.gsoType, 2)}`,
});

export const noRscInfo = receiveClause({
  label: RX,
  statement: 30,
  level: "MUST NOT",
  title: "no RSC_INFO flag without RSC_EXT",
  requirement: "Without VIRTIO_NET_F_RSC_EXT negotiated the device never sets VIRTIO_NET_HDR_F_RSC_INFO.",
  action: `${RANDOM_RX} (RSC_EXT refused); checks that flag in each header.`,
  merge: false,
  expect: "VIRTIO_NET_HDR_F_RSC_INFO clear",
  bad: (p) => p.header.flags & NetHdrFlag.RSC_INFO ? `flags ${hex(p.header.flags, 2)}` : undefined,
});

export const dataValidChecked = defineDeviceClause({
  label: RX,
  statement: 33,
  level: "MUST",
  title: "DATA_VALID only on frames whose checksum the device found right",
  requirement: "With VIRTIO_NET_F_GUEST_CSUM negotiated, a device that sets VIRTIO_NET_HDR_F_DATA_VALID in a " +
    "received header has checked the packet's checksum: it never marks a frame whose checksum is wrong.",
  action: "Negotiates GUEST_CSUM, injects 1–4 IPv4/UDP frames with right or wrong UDP checksums at random and checks " +
    "that every received header with DATA_VALID belongs to a frame whose checksum is right.",
  applies: { ...NET, offered: [NET_F.GUEST_CSUM] },
  async run(ctx) {
    wireOf(ctx);
    const frames = fc.array(fc.record({ payload: fc.integer({ min: 18, max: 1472 }), good: fc.boolean() }), {
      minLength: 1,
      maxLength: 4,
    });
    await checkProperty(ctx, frames, async (fs) => {
      const link = await netUp(ctx, [...PLAIN, NET_F.GUEST_CSUM], [NET_F.GUEST_CSUM]);
      const sent = fs.map((f, i) => udpFrame(link.mac, f.payload, i + 1, f.good));
      await giveReceiveBuffers(ctx, link, sent.map(() => ({ capacity: 1526, pieces: 1 })));
      const packets = packetsOf(link, await receiveFrames(ctx, link, sent, sent.length));
      const marked = packets.filter((p) => (p.header.flags & NetHdrFlag.DATA_VALID) !== 0);
      expectNone(
        "DATA_VALID only with a right checksum",
        marked.filter((p) => udpChecksumOk(p.frame) !== true),
        (p) => `a ${p.frame.length}-byte UDP frame with a wrong checksum marked DATA_VALID`,
      );
    }, (fs) => fs.map((f) => `${f.payload} bytes ${f.good ? "right" : "wrong"}`).join(", "));
  },
});

// ---------------------------------------------------------------------------------------------------------------
// Transmitting: 5.1.9.2.2

export const unknownFlagsIgnored = defineDeviceClause({
  label: TX,
  statement: 1,
  level: "MUST",
  title: "unknown header flag bits ignored on transmit",
  requirement: "The device ignores flag bits of a transmitted header that it does not know: the frame goes out as " +
    "if they were clear.",
  action: "Negotiates CSUM (the driver may set flags only then), transmits frames whose header has flag bit 0x80 " +
    "(no meaning in the features negotiated) set and NEEDS_CSUM clear, and checks each reaches the wire unchanged.",
  applies: { ...NET, offered: [NET_F.CSUM] },
  async run(ctx) {
    wireOf(ctx);
    await checkProperty(ctx, fc.integer({ min: 60, max: 1514 }), async (size) => {
      const link = await netUp(ctx, [...PLAIN, NET_F.CSUM], [NET_F.CSUM]);
      const frames = [testFrame([0xff, 0xff, 0xff, 0xff, 0xff, 0xff], size, 7)];
      const wire = await transmitFrames(ctx, link, frames.map((frame) => ({ header: { flags: 0x80 }, frame })));
      expectSameFrames(frames, wire, "flags 0x80");
    }, (size) => `a ${size}-byte frame`);
  },
});

export const csumFieldsUnusedWithoutFlag = defineDeviceClause({
  label: TX,
  statement: 2,
  level: "MUST NOT",
  title: "csum_start and csum_offset unused without NEEDS_CSUM",
  requirement: "When a transmitted header does not set VIRTIO_NET_HDR_F_NEEDS_CSUM, the device does not act on " +
    "csum_start and csum_offset.",
  action: "Transmits frames whose header leaves NEEDS_CSUM clear but names a checksum position inside the frame " +
    "(CSUM negotiated when offered) and checks each reaches the wire byte for byte (nothing written at that position).",
  applies: NET,
  async run(ctx) {
    wireOf(ctx);
    await checkProperty(
      ctx,
      fc.record({ size: fc.integer({ min: 60, max: 1514 }), start: fc.integer({ min: 14, max: 40 }) }),
      async ({ size, start }) => {
        const link = await netUp(ctx, [...PLAIN, NET_F.CSUM]);
        const frames = [testFrame([0xff, 0xff, 0xff, 0xff, 0xff, 0xff], size, 9)];
        const header = { flags: 0, csumStart: start, csumOffset: 6 };
        const wire = await transmitFrames(ctx, link, frames.map((frame) => ({ header, frame })));
        expectSameFrames(frames, wire, `csum_start ${start}, csum_offset 6`);
      },
      ({ size, start }) => `a ${size}-byte frame, csum_start ${start}`,
    );
  },
});

export const badChecksumForwarded = defineDeviceClause({
  label: TX,
  statement: 12,
  level: "MUST NOT",
  title: "a transmitted checksum is not relied on without NEEDS_CSUM",
  requirement: "When NEEDS_CSUM is clear the device does not count on the frame's checksum being right: a frame " +
    "with a wrong UDP checksum is still sent as it is.",
  action: "Transmits IPv4/UDP frames with a wrong UDP checksum and NEEDS_CSUM clear; checks each reaches the wire " +
    "unchanged.",
  applies: NET,
  async run(ctx) {
    wireOf(ctx);
    await checkProperty(ctx, fc.integer({ min: 18, max: 1472 }), async (payload) => {
      const link = await netUp(ctx, PLAIN);
      const frames = [udpFrame([0xff, 0xff, 0xff, 0xff, 0xff, 0xff], payload, 5, false)];
      const wire = await transmitFrames(ctx, link, frames.map((frame) => ({ header: {}, frame })));
      expectSameFrames(frames, wire, "UDP checksum 0xdead (wrong)");
    }, (payload) => `a UDP frame with ${payload} payload bytes`);
  },
});

const TUNNEL_BITS = NetGso.UDP_TUNNEL_IPV4 | NetGso.UDP_TUNNEL_IPV6;

/** Header fields of a packet the device must not accept, with a name for the report. */
interface Refusable {
  name: string;
  header: Partial<NetHeader>;
}

/** The fields of a well-formed TCPv4 segmentation request over a UDP tunnel (csum over the inner TCP header). */
const TUNNEL_GSO: Partial<NetHeader> = {
  flags: NetHdrFlag.NEEDS_CSUM,
  gsoType: NetGso.TCPV4 | NetGso.UDP_TUNNEL_IPV4,
  gsoSize: 1000,
  csumStart: 34,
  csumOffset: 6,
};

/**
 * A clause on packets the device must not accept: each case transmits one packet with one of `cases`' headers, then
 * a plain marker frame, and checks only the marker reaches the wire (the device sends in order, so the marker's
 * arrival ends the wait for the refused packet).
 */
function refusedClause(o: { statement: number; title: string; requirement: string; cases: Refusable[] }) {
  return defineDeviceClause({
    label: TX,
    statement: o.statement,
    level: "MUST NOT",
    title: o.title,
    requirement: o.requirement,
    action: `Negotiates CSUM when offered, transmits an IPv4/UDP frame whose header is ${
      o.cases.map((c) => c.name).join(", or ")
    }, then a plain frame, and checks that only the plain frame reaches the wire.`,
    applies: NET,
    async run(ctx) {
      wireOf(ctx);
      const arb = fc.record({ payload: fc.integer({ min: 18, max: 1400 }), which: fc.nat(o.cases.length - 1) });
      await checkProperty(ctx, arb, async ({ payload, which }) => {
        const link = await netUp(ctx, [...PLAIN, NET_F.CSUM]);
        const c = o.cases[which % o.cases.length]!;
        const bad = udpFrame([0xff, 0xff, 0xff, 0xff, 0xff, 0xff], payload, 3, true);
        const marker = testFrame([0xff, 0xff, 0xff, 0xff, 0xff, 0xff], 64, 0x4d);
        const wire = await transmitFrames(
          ctx,
          link,
          [{ header: c.header, frame: bad }, { header: {}, frame: marker }],
          1,
        );
        const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);
        expectNone(
          "the packet refused, the marker sent",
          [
            ...wire.filter((w) => !same(w, marker)).map((w) => `a ${w.length}-byte frame reached the wire for it`),
            ...(wire.some((w) => same(w, marker)) ? [] : ["the marker frame after it never reached the wire"]),
          ],
          (s) => `${c.name}: ${s}`,
        );
      }, ({ payload, which }) => `${o.cases[which % o.cases.length]!.name}, ${payload} payload bytes`);
    },
  });
}

export const bothTunnelBitsRefused = refusedClause({
  statement: 8,
  title: "a packet with both UDP tunnel bits is not accepted",
  requirement: "The device does not accept a transmitted packet whose gso_type has both UDP tunnel bits set.",
  cases: [{
    name: "a TCPv4 request with both tunnel bits",
    header: { ...TUNNEL_GSO, gsoType: NetGso.TCPV4 | TUNNEL_BITS },
  }],
});

export const malformedTunnelRefused = refusedClause({
  statement: 10,
  title: "a UDP tunnel packet without NEEDS_CSUM, with DATA_VALID or without a segmentation type is not accepted",
  requirement: "The device does not accept a transmitted packet with a UDP tunnel bit whose flags lack NEEDS_CSUM, " +
    "carry DATA_VALID, or whose gso_type names no segmentation besides the tunnel bit.",
  cases: [
    { name: "a tunnel bit without NEEDS_CSUM", header: { ...TUNNEL_GSO, flags: 0 } },
    {
      name: "a tunnel bit with DATA_VALID",
      header: { ...TUNNEL_GSO, flags: NetHdrFlag.NEEDS_CSUM | NetHdrFlag.DATA_VALID },
    },
    { name: "a tunnel bit over GSO_NONE", header: { ...TUNNEL_GSO, gsoType: NetGso.UDP_TUNNEL_IPV4 } },
  ],
});

export const tunnelCsumAloneRefused = refusedClause({
  statement: 11,
  title: "UDP_TUNNEL_CSUM without a tunnel bit is not accepted",
  requirement: "The device does not accept a transmitted packet that sets VIRTIO_NET_HDR_F_UDP_TUNNEL_CSUM while " +
    "gso_type has no UDP tunnel bit.",
  cases: [{ name: "UDP_TUNNEL_CSUM with no tunnel bit", header: { flags: NetHdrFlag.UDP_TUNNEL_CSUM } }],
});

/** The device clauses of spec 5.1. */
export const NET_DEVICE_CLAUSES = [
  maxPairsInRange,
  mtuInRange,
  mtuAtLeast1280,
  mtuNeverChanges,
  oversizeNotReceived,
  mtuFramesForwarded,
  rssKeySize,
  rssTableLength,
  speedValue,
  duplexValue,
  speedSteadyWhileUp,
  hashReportNeedsCtrlVq,
  rxExtraNeedsCtrlVq,
  numBuffersCountsBuffers,
  singleBufferWithoutMerge,
  numBuffersOneWithoutMerge,
  numBuffersMerged,
  mergedBuffersFilled,
  mergedBuffersTogether,
  rxFlagsZero,
  noGsoTcpv4,
  noGsoUdp,
  noGsoTcpv6,
  noGsoUdpL4,
  noTunnelBits,
  noTunnelCsumFlag,
  gsoNoneWithoutOffload,
  noRscInfo,
  dataValidChecked,
  unknownFlagsIgnored,
  csumFieldsUnusedWithoutFlag,
  badChecksumForwarded,
  bothTunnelBitsRefused,
  malformedTunnelRefused,
  tunnelCsumAloneRefused,
];
