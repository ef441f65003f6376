/**
 * Device clauses of spec 5.1.9.4.1 on receive offloads: with GUEST_CSUM and GUEST_TSO4 / GUEST_TSO6 negotiated the
 * harness injects runs of consecutive TCP segments (some with a wrong checksum, some starting with CWR) and checks
 * every packet the device hands on as a segmentation offload (gso_type other than NONE) or with NEEDS_CSUM: the flags
 * and sizes it must carry and a checksum that completes, built only from segments whose checksums were right.
 *
 * @module
 */
import fc from "fast-check";
import { defineDeviceClause, type DeviceClauseContext } from "../../harness/core/clause.ts";
import { checkProperty } from "../../harness/core/property.ts";
import { NET_F } from "../../harness/features.ts";
import {
  completeChecksum,
  ipv4HeaderChecksumOk,
  NetGso,
  NetHdrFlag,
  type NetHeader,
  pseudoHeaderSum,
  sameOnesComplement,
  transportChecksumOk,
  type TransportHeader,
  transportOf,
} from "../../harness/models/device/net.ts";
import { TcpFlag, tcpSegmentOf } from "../../harness/models/device/net_lro.ts";
import { innerFrame, NetHashTunnel } from "../../harness/models/device/net_rss.ts";
import { hex } from "../../harness/text.ts";
import { expectNone, notApplicable } from "../../harness/verify.ts";
import {
  arbFlow,
  type Flow,
  flowFrame,
  giveReceiveBuffers,
  has,
  type NetLink,
  netUp,
  packetsOf,
  type ReceivedPacket,
  receiveFrames,
  tcpSegmentFrame,
  testFrame,
  transmitFrames,
  type UsedReceive,
  vxlanFrame,
  wireOf,
} from "./net_io.ts";

const RX = "devicenormative:Device Types / Network Device / Device Operation / Processing of Incoming Packets";
const NET = { deviceTypes: ["net" as const] };

/** One run of segments of a flow: IP version, segment size, how many, a short last one, CWR first, a bad one. */
interface SegmentRun {
  v6: boolean;
  mss: number;
  count: number;
  shortLast: boolean;
  cwr: boolean;
  /** Index of the segment with a wrong checksum (none when out of range). */
  bad: number;
}

const arbRun: fc.Arbitrary<SegmentRun> = fc.record({
  v6: fc.boolean(),
  mss: fc.integer({ min: 64, max: 1400 }),
  count: fc.integer({ min: 2, max: 6 }),
  shortLast: fc.boolean(),
  cwr: fc.boolean(),
  bad: fc.integer({ min: -4, max: 5 }),
});

const arbRuns = fc.array(arbRun, { minLength: 1, maxLength: 2 });

/** An injected segment: its frame, flow, sequence range and whether its checksum is right. */
interface Injected {
  frame: Uint8Array;
  flow: number;
  seq: number;
  payload: number;
  good: boolean;
}

/** The segments of `runs` (a run's IP version falls back to the other when its offload was not negotiated). */
function segmentsOf(dest: readonly number[], runs: readonly SegmentRun[], v4: boolean, v6: boolean): Injected[] {
  const out: Injected[] = [];
  runs.forEach((r, flow) => {
    const six = r.v6 ? v6 || !v4 : !v4;
    let seq = 1000 * (flow + 1);
    for (let i = 0; i < r.count; i++) {
      const payload = r.shortLast && i === r.count - 1 ? Math.max(1, r.mss >> 1) : r.mss;
      const flags = TcpFlag.ACK | (i === 0 && r.cwr ? TcpFlag.CWR : 0) | (i === r.count - 1 ? TcpFlag.PSH : 0);
      const good = i !== r.bad;
      out.push({ frame: tcpSegmentFrame(dest, flow, six, seq, payload, flags, good), flow, seq, payload, good });
      seq += payload;
    }
  });
  return out;
}

/** What one case produced: the link, the segments injected and the packets received (the marker left out). */
interface OffloadRun {
  link: NetLink;
  injected: Injected[];
  packets: ReceivedPacket[];
}

/**
 * Negotiates GUEST_CSUM, GUEST_TSO4 and GUEST_TSO6 (those offered; n/a without either), GUEST_ECN and MRG_RXBUF when
 * offered, injects the runs' segments and a marker frame before giving receive buffers (so a device can coalesce),
 * then reads back until the marker came.
 */
async function offloadRun(
  ctx: DeviceClauseContext,
  runs: readonly SegmentRun[],
  extra: number[] = [],
  wrap?: (inner: Uint8Array, i: number) => Uint8Array,
  without: number[] = [],
): Promise<OffloadRun> {
  wireOf(ctx);
  if (!has(ctx.offered, NET_F.GUEST_TSO4) && !has(ctx.offered, NET_F.GUEST_TSO6)) {
    notApplicable("the device offers neither VIRTIO_NET_F_GUEST_TSO4 nor _TSO6");
  }
  const want = [
    NET_F.MAC,
    NET_F.MRG_RXBUF,
    NET_F.GUEST_CSUM,
    NET_F.GUEST_TSO4,
    NET_F.GUEST_TSO6,
    NET_F.GUEST_ECN,
    ...extra,
  ].filter((f) => !without.includes(f));
  const link = await netUp(ctx, want, [NET_F.GUEST_CSUM]);
  const v4 = has(link.negotiated, NET_F.GUEST_TSO4);
  const v6 = has(link.negotiated, NET_F.GUEST_TSO6);
  if (!v4 && !v6) notApplicable("neither GUEST_TSO4 nor GUEST_TSO6 was negotiated");
  const injected = segmentsOf(link.mac, runs, v4, v6);
  const marker = testFrame(link.mac, 90, 0x6b);
  const wire = wireOf(ctx);
  if (wrap) injected.forEach((s, i) => s.frame = wrap(s.frame, i));
  for (const s of injected) await wire.inject(s.frame);
  await wire.inject(marker);
  const queue = ctx.driver.queue(0);
  const merged = has(link.negotiated, NET_F.MRG_RXBUF);
  // Room for every byte injected: small merged buffers, or (without MRG_RXBUF) buffers for the largest packet.
  const count = Math.min(queue.freeCount, merged ? 48 : 4);
  await giveReceiveBuffers(
    ctx,
    link,
    Array.from({ length: count }, () => ({ capacity: merged ? 2048 : 65562 + link.hdr, pieces: 1 })),
  );
  const used: UsedReceive[] = [];
  const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);
  for (let round = 0; round < injected.length + 2; round++) {
    const got = await receiveFrames(ctx, link, [], 1);
    if (got.length === 0) break;
    used.push(...got);
    if (packetsOf(link, used).some((p) => same(p.frame, marker))) break;
  }
  const packets = packetsOf(link, used).filter((p) => !same(p.frame, marker));
  return { link, injected, packets };
}

const fmtRuns = (runs: readonly SegmentRun[]) =>
  runs.map((r) =>
    `${r.count} ${r.v6 ? "IPv6" : "IPv4"} segments of ${r.mss} bytes${r.shortLast ? " (last shorter)" : ""}${
      r.cwr ? ", CWR first" : ""
    }${r.bad >= 0 && r.bad < r.count ? `, segment ${r.bad + 1} with a wrong checksum` : ""}`
  ).join("; ");

const fmtPacket = (p: ReceivedPacket) =>
  `a ${p.frame.length}-byte packet with flags ${hex(p.header.flags, 2)}, gso_type ${
    hex(p.header.gsoType, 2)
  }, gso_size ${p.header.gsoSize}, csum_start ${p.header.csumStart}, csum_offset ${p.header.csumOffset}`;

/** A receive-offload clause: one property over runs of segments, each received packet checked by `bad`. */
function offloadClause(o: {
  statement: number;
  level?: "MUST" | "MUST NOT" | "SHOULD" | "SHOULD NOT";
  title: string;
  requirement: string;
  check: string;
  expect: string;
  /** Features negotiated besides the receive offloads, when offered. */
  extra?: number[];
  /** How each injected segment is wrapped (e.g. in a UDP tunnel). */
  wrap?: (inner: Uint8Array, i: number) => Uint8Array;
  /** What else the clause needs offered. */
  needs?: number[];
  /** Features the clause leaves out even when offered. */
  without?: number[];
  /** Why a run is n/a (given the features negotiated). */
  skip?: (negotiated: bigint) => string | undefined;
  bad: (p: ReceivedPacket, run: OffloadRun) => string | undefined;
}) {
  return defineDeviceClause({
    label: RX,
    statement: o.statement,
    level: o.level ?? "MUST",
    title: o.title,
    requirement: o.requirement,
    action:
      "Negotiates GUEST_CSUM, GUEST_TSO4 / GUEST_TSO6, GUEST_ECN and MRG_RXBUF (those offered), injects runs of " +
      "2–6 consecutive TCP segments of one or two flows (random size, a shorter last one, CWR on the first, a wrong " +
      `checksum in one, at random) before giving receive buffers, and checks ${o.check}.`,
    applies: { ...NET, offered: [NET_F.GUEST_CSUM, ...(o.needs ?? [])] },
    async run(ctx) {
      await checkProperty(ctx, arbRuns, async (runs) => {
        const run = await offloadRun(ctx, runs, o.extra, o.wrap, o.without);
        const why = o.skip?.(run.link.negotiated);
        if (why) notApplicable(why);
        const bad = run.packets.flatMap((p) => {
          const why = o.bad(p, run);
          return why === undefined ? [] : [`${fmtPacket(p)}: ${why}`];
        });
        expectNone(o.expect, bad, (s) => s);
      }, fmtRuns);
    },
  });
}

const segmented = (p: ReceivedPacket) => (p.header.gsoType & ~NetGso.ECN) !== NetGso.NONE;
const needsCsum = (p: ReceivedPacket) => (p.header.flags & NetHdrFlag.NEEDS_CSUM) !== 0;

export const rxEcnMarked = offloadClause({
  statement: 14,
  title: "GSO_ECN on a coalesced TCP packet with CWR when GUEST_ECN is negotiated",
  requirement: "With VIRTIO_NET_F_GUEST_ECN negotiated, a TCP packet the device hands on for segmentation whose TCP " +
    "header has the congestion bit (CWR) set carries VIRTIO_NET_HDR_GSO_ECN in gso_type.",
  check: "that every TCP segmentation packet with CWR set has the ECN bit in gso_type (when GUEST_ECN was negotiated)",
  expect: "GSO_ECN with CWR",
  bad: (p, run) => {
    if (!has(run.link.negotiated, NET_F.GUEST_ECN) || !segmented(p)) return undefined;
    const seg = tcpSegmentOf(p.frame);
    return seg && seg.flags & TcpFlag.CWR && !(p.header.gsoType & NetGso.ECN) ? "CWR set, no GSO_ECN" : undefined;
  },
});

export const rxNeedsCsumValidated = offloadClause({
  statement: 18,
  title: "NEEDS_CSUM only over checksums the device checked",
  requirement: "A received packet with NEEDS_CSUM carries only data whose checksum the device validated, and the " +
    "checksums before the one left to complete (the IPv4 header checksum) are right.",
  check: "that no packet with NEEDS_CSUM holds a segment injected with a wrong checksum, and its IPv4 header " +
    "checksum is right",
  expect: "NEEDS_CSUM over validated data only",
  bad: (p, run) => {
    if (!needsCsum(p)) return undefined;
    if (ipv4HeaderChecksumOk(p.frame) === false) return "IPv4 header checksum wrong";
    const seg = tcpSegmentOf(p.frame);
    if (!seg) return undefined;
    const port = (p.frame[seg.t.start]! << 8) | p.frame[seg.t.start + 1]!;
    const end = seg.seq + seg.payload;
    const wrong = run.injected.filter((s) => 40000 + s.flow === port && !s.good && s.seq >= seg.seq && s.seq < end);
    return wrong.length > 0 ? `holds the segment at seq ${wrong[0]!.seq}, injected with a wrong checksum` : undefined;
  },
});

export const rxPseudoHeaderInField = offloadClause({
  statement: 19,
  title: "the checksum field of a NEEDS_CSUM packet holds the pseudo-header sum",
  requirement: "In a received packet with NEEDS_CSUM, the TCP or UDP checksum field holds the sum of the pseudo " +
    "header.",
  check: "the checksum field of every NEEDS_CSUM packet against the pseudo-header sum",
  expect: "the pseudo-header sum in the checksum field",
  bad: (p) => {
    const t = needsCsum(p) ? transportOf(p.frame) : undefined;
    if (!t) return undefined;
    const at = t.start + t.csumOffset;
    const got = (p.frame[at]! << 8) | p.frame[at + 1]!;
    const want = pseudoHeaderSum(p.frame, t);
    return sameOnesComplement(got, want) ? undefined : `field ${hex(got, 4)}, pseudo-header sum ${hex(want, 4)}`;
  },
});

export const rxCsumCompletes = offloadClause({
  statement: 20,
  title: "csum_start and csum_offset of a NEEDS_CSUM packet complete its checksum",
  requirement: "For a received packet with NEEDS_CSUM, the ones' complement sum from csum_start to the end, stored " +
    "at csum_offset from csum_start, makes the packet fully checksummed.",
  check: "that completing each NEEDS_CSUM packet's checksum as its header says gives a right TCP checksum",
  expect: "a right checksum once completed",
  bad: (p) => {
    // With RSC_INFO, csum_start and csum_offset count segments and duplicate acknowledgements instead.
    if (!needsCsum(p) || p.header.flags & NetHdrFlag.RSC_INFO || !transportOf(p.frame)) return undefined;
    const done = p.frame.slice();
    return completeChecksum(done, p.header.csumStart, p.header.csumOffset) && transportChecksumOk(done) === true
      ? undefined
      : "checksum wrong once completed";
  },
});

export const rxGsoNeedsCsum = offloadClause({
  statement: 27,
  title: "NEEDS_CSUM on every received segmentation packet",
  requirement: "A received packet whose gso_type is not NONE has VIRTIO_NET_HDR_F_NEEDS_CSUM set.",
  check: "the flags of every packet with a gso_type",
  expect: "NEEDS_CSUM with a gso_type",
  bad: (p) => segmented(p) && !needsCsum(p) ? "NEEDS_CSUM clear" : undefined,
});

export const rxGsoSizeSet = offloadClause({
  statement: 28,
  title: "gso_size set on every received segmentation packet",
  requirement: "A received packet whose gso_type is not NONE has gso_size set to the segment size (MSS).",
  check: "that every packet with a gso_type has a gso_size between 1 and its TCP payload",
  expect: "a gso_size with a gso_type",
  bad: (p) => {
    if (!segmented(p)) return undefined;
    const seg = tcpSegmentOf(p.frame);
    const max = seg?.payload ?? p.frame.length;
    return p.header.gsoSize >= 1 && p.header.gsoSize <= max ? undefined : `gso_size ${p.header.gsoSize}`;
  },
});

export const rxRscInfo = offloadClause({
  statement: 29,
  title: "RSC_INFO with the segment count on a coalesced packet with RSC_EXT",
  requirement: "With VIRTIO_NET_F_RSC_EXT negotiated, a received packet handed on for segmentation has " +
    "VIRTIO_NET_HDR_F_RSC_INFO set, csum_start the number of TCP segments coalesced into it and csum_offset the " +
    "number of duplicate acknowledgements among them.",
  check: "with RSC_EXT (and the HOST_TSO and CSUM features it needs) negotiated, that every packet with a gso_type " +
    "has RSC_INFO, csum_start the number of injected segments it carries and csum_offset 0 (none was a duplicate " +
    "acknowledgement)",
  expect: "RSC_INFO and the counts",
  extra: [NET_F.RSC_EXT, NET_F.HOST_TSO4, NET_F.HOST_TSO6, NET_F.CSUM],
  needs: [NET_F.RSC_EXT],
  skip: (n) => has(n, NET_F.RSC_EXT) ? undefined : "VIRTIO_NET_F_RSC_EXT was not negotiated",
  bad: (p, run) => {
    if (!segmented(p)) return undefined;
    if (!(p.header.flags & NetHdrFlag.RSC_INFO)) return "RSC_INFO clear";
    const seg = tcpSegmentOf(p.frame);
    if (!seg) return undefined;
    const port = (p.frame[seg.t.start]! << 8) | p.frame[seg.t.start + 1]!;
    const carried = run.injected.filter((s) =>
      40000 + s.flow === port && s.seq >= seg.seq && s.seq < seg.seq + seg.payload
    ).length;
    if (p.header.csumStart !== carried) return `csum_start ${p.header.csumStart}, ${carried} segments carried`;
    return p.header.csumOffset === 0 ? undefined : `csum_offset ${p.header.csumOffset}, no duplicate acknowledgement`;
  },
});

export const rxNoTunnelGso = offloadClause({
  statement: 21,
  level: "MUST NOT",
  title: "no UDP-tunnelled packet for segmentation without GUEST_UDP_TUNNEL_GSO",
  requirement: "Without VIRTIO_NET_F_GUEST_UDP_TUNNEL_GSO negotiated, the device hands the driver no packet " +
    "encapsulated in a UDP tunnel that needs segmentation (a gso_type other than NONE).",
  check:
    "with every segment carried over VXLAN (GUEST_UDP_TUNNEL_GSO not negotiated), that no packet handed on with a " +
    "gso_type is UDP-encapsulated",
  expect: "no tunnelled packet with a gso_type",
  wrap: (inner, i) =>
    vxlanFrame([...inner.subarray(0, 6)], inner, { src: [10, 9, 0, 1], dst: [10, 9, 0, 2], sport: 5555 }, i),
  skip: (n) => has(n, NET_F.GUEST_UDP_TUNNEL_GSO) ? "VIRTIO_NET_F_GUEST_UDP_TUNNEL_GSO was negotiated" : undefined,
  bad: (p) =>
    segmented(p) && transportOf(p.frame)?.proto === 17 ? "a UDP-encapsulated packet with a gso_type" : undefined,
});

export const rxNoEcnGsoWithoutFeature = offloadClause({
  statement: 13,
  level: "SHOULD NOT",
  title: "no TCP segmentation packet with CWR without GUEST_ECN",
  requirement: "Without VIRTIO_NET_F_GUEST_ECN negotiated the device does not hand on for segmentation a TCP packet " +
    "with the congestion bit (CWR) set.",
  check: "with GUEST_ECN left out, that no packet with a gso_type has CWR set in its TCP header",
  expect: "no CWR on a segmentation packet",
  without: [NET_F.GUEST_ECN],
  bad: (p) => {
    const seg = segmented(p) ? tcpSegmentOf(p.frame) : undefined;
    return seg && seg.flags & TcpFlag.CWR ? "CWR set" : undefined;
  },
});

export const rxHdrLenCoversHeaders = offloadClause({
  statement: 31,
  level: "SHOULD",
  title: "hdr_len covers the headers of a received segmentation packet",
  requirement: "With a receive segmentation feature negotiated, the device sets hdr_len to at least the length of " +
    "the packet's headers, transport header included.",
  check: "that every packet with a gso_type has hdr_len at least the length of its headers",
  expect: "hdr_len covering the headers",
  bad: (p) => {
    const seg = segmented(p) ? tcpSegmentOf(p.frame) : undefined;
    const head = seg ? seg.t.start + seg.headerLength : 0;
    return seg && p.header.hdrLen < head ? `hdr_len ${p.header.hdrLen}, headers ${head} bytes` : undefined;
  },
});

/** The features the receive tunnel clauses negotiate besides the receive offloads (those offered). */
const TUNNEL_RX = [NET_F.GUEST_UDP_TUNNEL_GSO, NET_F.GUEST_USO4, NET_F.GUEST_USO6];
const TUNNEL_BITS = NetGso.UDP_TUNNEL_IPV4 | NetGso.UDP_TUNNEL_IPV6;
const VXLAN_OUTER = { src: [10, 9, 0, 1], dst: [10, 9, 0, 2], sport: 5555 };
const overVxlan = (inner: Uint8Array, i: number) => vxlanFrame([...inner.subarray(0, 6)], inner, VXLAN_OUTER, i);
const tunnelled = (p: ReceivedPacket) => (p.header.gsoType & TUNNEL_BITS) !== 0;
const outerSum = (p: ReceivedPacket, t: TransportHeader) => (p.frame[t.start + 6]! << 8) | p.frame[t.start + 7]!;
/** Whether a tunnelled packet's outer UDP checksum is 0 or right as it stands. */
const outerSettled = (p: ReceivedPacket) => {
  const t = transportOf(p.frame);
  return !t || t.proto !== 17 || outerSum(p, t) === 0 || transportChecksumOk(p.frame) === true;
};
const noTunnelFeature = (n: bigint) =>
  has(n, NET_F.GUEST_UDP_TUNNEL_GSO) ? undefined : "VIRTIO_NET_F_GUEST_UDP_TUNNEL_GSO was not negotiated";
const TUNNEL_CHECK = "with GUEST_UDP_TUNNEL_GSO negotiated and every segment carried over VXLAN, ";

export const rxTunnelBitByInner = offloadClause({
  statement: 22,
  title: "the UDP tunnel bit of the inner IP version on a tunnelled segmentation packet",
  requirement: "With VIRTIO_NET_F_GUEST_UDP_TUNNEL_GSO negotiated, a UDP-tunnelled packet handed on for segmentation " +
    "has VIRTIO_NET_HDR_GSO_UDP_TUNNEL_IPV4 set when its inner network header is IPv4, _IPV6 when it is IPv6.",
  check: `${TUNNEL_CHECK}the tunnel bit of every packet with a gso_type against its inner IP version`,
  expect: "the tunnel bit of the inner IP version",
  extra: TUNNEL_RX,
  needs: [NET_F.GUEST_UDP_TUNNEL_GSO],
  wrap: overVxlan,
  skip: noTunnelFeature,
  bad: (p) => {
    const inner = segmented(p) ? innerFrame(p.frame, NetHashTunnel.VXLAN) : undefined;
    if (!inner) return undefined;
    const want = inner[12] === 0x08 ? NetGso.UDP_TUNNEL_IPV4 : NetGso.UDP_TUNNEL_IPV6;
    return (p.header.gsoType & TUNNEL_BITS) === want ? undefined : `inner IPv${inner[12] === 0x08 ? 4 : 6}`;
  },
});

export const rxTunnelOffsets = offloadClause({
  statement: 23,
  title: "outer_th_offset and inner_nh_offset on a tunnelled segmentation packet",
  requirement: "A UDP-tunnelled packet the device hands on for segmentation has outer_th_offset at its outer UDP " +
    "header and inner_nh_offset at its inner network header.",
  check: `${TUNNEL_CHECK}both offsets of every packet with a tunnel bit against the headers the harness parses`,
  expect: "the offsets of the headers",
  extra: TUNNEL_RX,
  needs: [NET_F.GUEST_UDP_TUNNEL_GSO],
  wrap: overVxlan,
  skip: noTunnelFeature,
  bad: (p) => {
    const t = tunnelled(p) ? transportOf(p.frame) : undefined;
    if (!t) return undefined;
    const nh = t.start + 16 + 14;
    return p.header.outerThOffset === t.start && p.header.innerNhOffset === nh
      ? undefined
      : `outer_th_offset ${p.header.outerThOffset}, inner_nh_offset ${p.header.innerNhOffset} (headers at ${t.start}, ${nh})`;
  },
});

export const rxTunnelOuterNotOffloaded = offloadClause({
  statement: 24,
  level: "MUST NOT",
  title: "the outer UDP header of a tunnelled segmentation packet needs no checksum offload",
  requirement: "A UDP-tunnelled packet the device hands on for segmentation without UDP_TUNNEL_CSUM does not leave " +
    "its outer UDP checksum for the driver: it is 0 or right.",
  check: `${TUNNEL_CHECK}that every packet with a tunnel bit and no UDP_TUNNEL_CSUM has an outer UDP checksum of 0 ` +
    "or a right one",
  expect: "an outer UDP checksum of 0 or right",
  extra: TUNNEL_RX,
  needs: [NET_F.GUEST_UDP_TUNNEL_GSO],
  wrap: overVxlan,
  skip: noTunnelFeature,
  bad: (p) =>
    tunnelled(p) && !(p.header.flags & NetHdrFlag.UDP_TUNNEL_CSUM) && !outerSettled(p)
      ? "the outer UDP checksum left for the driver"
      : undefined,
});

export const rxTunnelNoOuterOffloadWithoutCsum = offloadClause({
  statement: 25,
  level: "MUST NOT",
  title: "no outer checksum offload on tunnelled packets without GUEST_UDP_TUNNEL_GSO_CSUM",
  requirement: "Without VIRTIO_NET_F_GUEST_UDP_TUNNEL_GSO_CSUM the device hands on no UDP-tunnelled segmentation " +
    "packet whose outer UDP checksum is left for the driver.",
  check: `${TUNNEL_CHECK}GUEST_UDP_TUNNEL_GSO_CSUM not negotiated, that every packet with a tunnel bit has an outer ` +
    "UDP checksum of 0 or a right one",
  expect: "no outer checksum left for the driver",
  extra: TUNNEL_RX,
  needs: [NET_F.GUEST_UDP_TUNNEL_GSO],
  wrap: overVxlan,
  skip: noTunnelFeature,
  bad: (p, run) =>
    !has(run.link.negotiated, NET_F.GUEST_UDP_TUNNEL_GSO_CSUM) && tunnelled(p) && !outerSettled(p)
      ? "the outer UDP checksum left for the driver"
      : undefined,
});

export const rxTunnelNoDataValid = offloadClause({
  statement: 34,
  level: "MUST NOT",
  title: "no DATA_VALID on a packet with a UDP tunnel bit",
  requirement: "The device never sets VIRTIO_NET_HDR_F_DATA_VALID on a received packet whose gso_type has a UDP " +
    "tunnel bit.",
  check: `${TUNNEL_CHECK}the flags of every packet with a tunnel bit`,
  expect: "DATA_VALID clear with a tunnel bit",
  extra: TUNNEL_RX,
  needs: [NET_F.GUEST_UDP_TUNNEL_GSO],
  wrap: overVxlan,
  skip: noTunnelFeature,
  bad: (p) => tunnelled(p) && p.header.flags & NetHdrFlag.DATA_VALID ? "DATA_VALID set" : undefined,
});

export const rxTunnelCsumPseudoHeader = offloadClause({
  statement: 36,
  title: "the outer UDP pseudo-header sum with UDP_TUNNEL_CSUM",
  requirement: "When the device sets VIRTIO_NET_HDR_F_UDP_TUNNEL_CSUM on a tunnelled packet, its outer UDP checksum " +
    "holds the outer UDP pseudo-header sum.",
  check: `${TUNNEL_CHECK}GUEST_UDP_TUNNEL_GSO_CSUM too, the outer UDP checksum of every packet with UDP_TUNNEL_CSUM`,
  expect: "the outer pseudo-header sum",
  extra: [...TUNNEL_RX, NET_F.GUEST_UDP_TUNNEL_GSO_CSUM],
  needs: [NET_F.GUEST_UDP_TUNNEL_GSO_CSUM],
  wrap: overVxlan,
  skip: (n) =>
    has(n, NET_F.GUEST_UDP_TUNNEL_GSO_CSUM) ? undefined : "VIRTIO_NET_F_GUEST_UDP_TUNNEL_GSO_CSUM was not negotiated",
  bad: (p) => {
    const t = tunnelled(p) && p.header.flags & NetHdrFlag.UDP_TUNNEL_CSUM ? transportOf(p.frame) : undefined;
    if (!t) return undefined;
    const got = outerSum(p, t);
    const want = pseudoHeaderSum(p.frame, t);
    return sameOnesComplement(got, want)
      ? undefined
      : `outer checksum ${hex(got, 4)}, pseudo-header sum ${hex(want, 4)}`;
  },
});

export const rxTunnelUnflaggedSettled = offloadClause({
  statement: 37,
  title: "outer UDP checksum 0 or complete on a tunnelled packet without UDP_TUNNEL_CSUM",
  requirement:
    "With GUEST_UDP_TUNNEL_GSO_CSUM negotiated, a tunnelled packet handed on without UDP_TUNNEL_CSUM has an " +
    "outer UDP checksum of 0 or a complete, right one.",
  check: `${TUNNEL_CHECK}GUEST_UDP_TUNNEL_GSO_CSUM too, the outer UDP checksum of every packet with a tunnel bit and ` +
    "no UDP_TUNNEL_CSUM",
  expect: "an outer UDP checksum of 0 or right",
  extra: [...TUNNEL_RX, NET_F.GUEST_UDP_TUNNEL_GSO_CSUM],
  needs: [NET_F.GUEST_UDP_TUNNEL_GSO_CSUM],
  wrap: overVxlan,
  skip: (n) =>
    has(n, NET_F.GUEST_UDP_TUNNEL_GSO_CSUM) ? undefined : "VIRTIO_NET_F_GUEST_UDP_TUNNEL_GSO_CSUM was not negotiated",
  bad: (p) =>
    tunnelled(p) && !(p.header.flags & NetHdrFlag.UDP_TUNNEL_CSUM) && !outerSettled(p)
      ? "the outer UDP checksum neither 0 nor right"
      : undefined,
});

const TX = "devicenormative:Device Types / Network Device / Device Operation / Packet Transmission";

/** The transmit segmentation features, one of which the hdr_len clause needs. */
const HOST_GSO = [NET_F.HOST_TSO4, NET_F.HOST_TSO6, NET_F.HOST_USO, NET_F.HOST_UFO];

/** A large TCP packet to send with a wrong hdr_len: IP version, payload, segment size, and the hdr_len. */
const arbBigSend = fc.record({
  v6: fc.boolean(),
  payload: fc.integer({ min: 1, max: 6000 }),
  mss: fc.integer({ min: 200, max: 1400 }),
  hdrLen: fc.oneof(fc.constantFrom(0, 1, 14, 34, 53, 55, 0xffff), fc.integer({ min: 0, max: 0xffff })),
  segment: fc.boolean(),
});

/** One case of the segmentation clauses: the arbitrary's case and the header fields the clause spoils. */
type BigSend = typeof arbBigSend extends fc.Arbitrary<infer T> ? T : never;

/**
 * Transmits a TCP packet with NEEDS_CSUM (asking for segmentation when the case says so and the IP version's
 * HOST_TSO feature is negotiated), its header spoilt by `spoil`, and returns what is wrong with the wire: the payload
 * must arrive whole, in segments of at most gso_size bytes with right checksums.
 */
async function sentIntact(
  ctx: DeviceClauseContext,
  c: BigSend,
  want: number[],
  spoil: (h: Partial<NetHeader>) => Partial<NetHeader>,
): Promise<string[]> {
  const link = await netUp(ctx, [NET_F.MAC, NET_F.CSUM, NET_F.HOST_TSO4, NET_F.HOST_TSO6, ...want], [NET_F.CSUM]);
  const tso = has(link.negotiated, c.v6 ? NET_F.HOST_TSO6 : NET_F.HOST_TSO4) && c.segment;
  const payload = tso ? c.payload : Math.min(c.payload, 1400);
  const frame = tcpSegmentFrame([0xff, 0xff, 0xff, 0xff, 0xff, 0xff], 7, c.v6, 77, payload, TcpFlag.ACK, true);
  const t = transportOf(frame)!;
  const sum = pseudoHeaderSum(frame, t);
  frame.set([sum >> 8, sum & 0xff], t.start + t.csumOffset);
  const header = spoil({
    flags: NetHdrFlag.NEEDS_CSUM,
    gsoType: tso ? (c.v6 ? NetGso.TCPV6 : NetGso.TCPV4) : NetGso.NONE,
    gsoSize: tso ? c.mss : 0,
    hdrLen: t.start + 20,
    csumStart: t.start,
    csumOffset: t.csumOffset,
  });
  const expect = tso ? Math.ceil(payload / c.mss) : 1;
  const wire = await transmitFrames(ctx, link, [{ header, frame, pieces: 3 }], expect);
  const bad: string[] = [];
  const segs = wire.map((w) => ({ w, s: tcpSegmentOf(w) }));
  for (const { w, s } of segs) {
    if (!s) bad.push(`a ${w.length}-byte frame that is no TCP segment`);
    else if (transportChecksumOk(w) !== true || ipv4HeaderChecksumOk(w) === false) {
      bad.push(`a segment at seq ${s.seq} with a wrong checksum`);
    } else if (tso && s.payload > c.mss) bad.push(`a segment of ${s.payload} bytes, gso_size ${c.mss}`);
  }
  const data = segs.filter((x) => x.s).sort((a, b) => a.s!.seq - b.s!.seq).map((x) =>
    x.w.subarray(x.s!.t.start + x.s!.headerLength, x.s!.t.start + x.s!.t.length)
  );
  const joined = new Uint8Array(data.reduce((n, d) => n + d.length, 0));
  data.reduce((off, d) => (joined.set(d, off), off + d.length), 0);
  const sent = frame.subarray(t.start + 20);
  if (joined.length !== sent.length || joined.some((b, i) => b !== sent[i])) {
    bad.push(`the wire carried ${joined.length} payload bytes in ${wire.length} frame(s), ${sent.length} were sent`);
  }
  return bad;
}

const fmtBigSend = (c: BigSend) =>
  `a ${c.v6 ? "IPv6" : "IPv4"}/TCP packet of ${c.payload} payload bytes, ${
    c.segment ? `gso_size ${c.mss}` : "no segmentation"
  }`;

export const hdrLenNotRelied = defineDeviceClause({
  label: TX,
  statement: 7,
  level: "MUST NOT",
  title: "a wrong hdr_len does not spoil what is sent without GUEST_HDRLEN",
  requirement: "With a transmit segmentation feature negotiated but not GUEST_HDRLEN (or with gso_type NONE), the " +
    "device takes hdr_len at most as a hint: a wrong value changes nothing on the wire.",
  action: "Negotiates CSUM and the HOST_TSO4 / HOST_TSO6 features offered (not GUEST_HDRLEN), transmits TCP packets " +
    "with NEEDS_CSUM and a wrong hdr_len, asking for segmentation when the IP version's feature is negotiated, and " +
    "checks the wire carries the packet's payload whole, in segments of at most gso_size bytes with right checksums.",
  applies: { ...NET, offered: [NET_F.CSUM] },
  async run(ctx) {
    wireOf(ctx);
    if (!HOST_GSO.some((f) => has(ctx.offered, f))) notApplicable("the device offers no transmit segmentation");
    await checkProperty(ctx, arbBigSend, async (c) => {
      const bad = await sentIntact(ctx, c, [], (h) => ({ ...h, hdrLen: c.hdrLen }));
      expectNone("the payload whole, in right segments", bad, (s) => s);
    }, (c) => `${fmtBigSend(c)}, hdr_len ${c.hdrLen}`);
  },
});

export const tunnelOffsetsUnusedWithoutTunnel = defineDeviceClause({
  label: TX,
  statement: 9,
  level: "MUST NOT",
  title: "outer_th_offset and inner_nh_offset unused without a tunnel bit",
  requirement: "When a transmitted header has neither UDP tunnel bit in gso_type, the device does not act on " +
    "outer_th_offset and inner_nh_offset.",
  action: "Negotiates CSUM, HOST_UDP_TUNNEL_GSO (so the header has the two fields) and the HOST_TSO4 / HOST_TSO6 " +
    "features it needs, transmits TCP packets with NEEDS_CSUM (asking for plain segmentation or none) whose " +
    "outer_th_offset and inner_nh_offset point into the packet, and checks the payload reaches the wire whole in " +
    "right segments.",
  applies: { ...NET, offered: [NET_F.CSUM, NET_F.HOST_UDP_TUNNEL_GSO] },
  async run(ctx) {
    wireOf(ctx);
    const arb = fc.tuple(arbBigSend, fc.integer({ min: 0, max: 80 }), fc.integer({ min: 0, max: 120 }));
    await checkProperty(ctx, arb, async ([c, th, nh]) => {
      const bad = await sentIntact(
        ctx,
        c,
        [NET_F.HOST_USO, NET_F.HOST_UDP_TUNNEL_GSO],
        (h) => ({ ...h, outerThOffset: th, innerNhOffset: nh }),
      );
      expectNone("the payload whole, in right segments", bad, (s) => s);
    }, ([c, th, nh]) => `${fmtBigSend(c)}, outer_th_offset ${th}, inner_nh_offset ${nh}`);
  },
});

export const outerNhOffsetZeroUnused = defineDeviceClause({
  label: TX,
  statement: 4,
  level: "MUST NOT",
  title: "an outer_nh_offset of 0 is not used",
  requirement: "A device that negotiated VIRTIO_NET_F_OUT_NET_HEADER takes no notice of outer_nh_offset when it is 0 " +
    "(the driver gives no outer network header): what is sent is the same.",
  action:
    "Negotiates OUT_NET_HEADER, CSUM and the HOST_TSO4 / HOST_TSO6 features offered, transmits TCP packets with " +
    "NEEDS_CSUM (asking for segmentation or not) and outer_nh_offset 0, and checks the payload reaches the wire whole " +
    "in right segments.",
  applies: { ...NET, offered: [NET_F.CSUM, NET_F.OUT_NET_HEADER] },
  async run(ctx) {
    wireOf(ctx);
    await checkProperty(ctx, arbBigSend, async (c) => {
      const bad = await sentIntact(ctx, c, [NET_F.OUT_NET_HEADER], (h) => ({ ...h, outerNhOffset: 0 }));
      expectNone("the payload whole, in right segments", bad, (s) => s);
    }, fmtBigSend);
  },
});

export const rxOuterNhOffsetValid = defineDeviceClause({
  label: RX,
  statement: 16,
  level: "MUST NOT",
  title: "outer_nh_offset only for a valid network header",
  requirement: "With VIRTIO_NET_F_OUT_NET_HEADER negotiated the device gives a nonzero outer_nh_offset only for a " +
    "received packet with a valid network header, and then the offset of that header; otherwise it leaves the " +
    "field 0.",
  action: "Negotiates OUT_NET_HEADER, injects IPv4, IPv6 and non-IP frames and checks outer_nh_offset in each " +
    "received header: 0 for a non-IP frame, 0 or 14 for an IP one.",
  applies: { ...NET, offered: [NET_F.OUT_NET_HEADER] },
  async run(ctx) {
    wireOf(ctx);
    await checkProperty(ctx, fc.array(arbFlow, { minLength: 1, maxLength: 4 }), async (flows) => {
      const link = await netUp(ctx, [NET_F.MAC, NET_F.OUT_NET_HEADER], [NET_F.OUT_NET_HEADER]);
      const sent = flows.map((f, i) => flowFrame(link.mac, f, i + 1));
      await giveReceiveBuffers(ctx, link, sent.map(() => ({ capacity: link.hdr + 1514, pieces: 1 })));
      const packets = packetsOf(link, await receiveFrames(ctx, link, sent, sent.length));
      const bad = packets.flatMap((p) => {
        const ip = p.frame[12] === 0x08 && p.frame[13] === 0x00 || p.frame[12] === 0x86 && p.frame[13] === 0xdd;
        const off = p.header.outerNhOffset ?? 0;
        return off === 0 || (ip && off === 14) ? [] : [`a ${ip ? "IP" : "non-IP"} frame with outer_nh_offset ${off}`];
      });
      expectNone("outer_nh_offset 0, or 14 on an IP frame", bad, (s) => s);
    }, (flows) => flows.map(fmtFlowKind).join(", "));
  },
});

const fmtFlowKind = (f: Flow) => f.kind === "other" ? "a non-IP frame" : `a ${f.kind} frame`;

/** The receive offload device clauses. */
export const NET_OFFLOAD_DEVICE_CLAUSES = [
  rxEcnMarked,
  rxNeedsCsumValidated,
  rxPseudoHeaderInField,
  rxCsumCompletes,
  rxGsoNeedsCsum,
  rxGsoSizeSet,
  rxNoEcnGsoWithoutFeature,
  rxHdrLenCoversHeaders,
  rxRscInfo,
  rxNoTunnelGso,
  rxTunnelBitByInner,
  rxTunnelOffsets,
  rxTunnelOuterNotOffloaded,
  rxTunnelNoOuterOffloadWithoutCsum,
  rxTunnelNoDataValid,
  rxTunnelCsumPseudoHeader,
  rxTunnelUnflaggedSettled,
  hdrLenNotRelied,
  tunnelOffsetsUnusedWithoutTunnel,
  outerNhOffsetZeroUnused,
  rxOuterNhOffsetValid,
];
