/**
 * Driver clauses of spec 5.1.9.2.1 on UDP tunnel segmentation: the harness presents a net device offering
 * HOST_UDP_TUNNEL_GSO (with or without HOST_UDP_TUNNEL_GSO_CSUM), asks the driver to send VXLAN frames longer than the
 * link takes, and judges each tunnel segmentation request: the tunnel bit, the offsets, and the outer UDP checksum.
 *
 * @module
 */
import { defineDriverClause, type DriverClauseContext } from "../../harness/core/clause.ts";
import { bit, F, NET_F } from "../../harness/features.ts";
import {
  NetFunction,
  NetGso,
  NetHdrFlag,
  onesComplementSum,
  pseudoHeaderSum,
  sameOnesComplement,
  type Transmitted,
  type TransportHeader,
  transportOf,
} from "../../harness/models/device/net.ts";
import { TcpFlag, tcpSegmentOf } from "../../harness/models/device/net_lro.ts";
import { innerFrame, NetHashTunnel } from "../../harness/models/device/net_rss.ts";
import { segmentTunnel } from "../../harness/models/device/net_tso.ts";
import { acceptedSets } from "../../harness/roles/trace.ts";
import { hex } from "../../harness/text.ts";
import { expectNone, notApplicable } from "../../harness/verify.ts";
import { tcpSegmentFrame, vxlanFrame } from "./net_io.ts";

const TX = "drivernormative:Device Types / Network Device / Device Operation / Packet Transmission";
const NET = { deviceTypes: ["net" as const] };
const TUNNEL = NetGso.UDP_TUNNEL_IPV4 | NetGso.UDP_TUNNEL_IPV6;

/** One tunnel segmentation request as the device received it. */
interface TunnelRequest {
  x: Transmitted;
  /** The packet as the driver wrote it. */
  raw: Uint8Array;
  outer: TransportHeader;
  /** The inner Ethernet frame. */
  inner: Uint8Array;
  innerV4: boolean;
}

/**
 * Presents the harness's net device without `drop`, asks the driver to send a 3000-byte IPv4/TCP and a 2500-byte
 * IPv6/TCP packet, each carried over VXLAN, and returns the tunnel segmentation requests it made and the features in
 * force; n/a when it made none.
 */
async function tunnelRequests(ctx: DriverClauseContext, drop: number[] = []) {
  if (ctx.scenarios.watched) {
    notApplicable("the driver runs beside its own device: the harness does not see the frames it transmits");
  }
  const offered = drop.reduce((m, f) => m & ~bit(f), new NetFunction().features | bit(F.VERSION_1));
  const to = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
  const via = (inner: Uint8Array, seed: number) =>
    vxlanFrame(to, inner, { src: [10, 7, 0, 1], dst: [10, 7, 0, 2], sport: 49152 + seed }, seed);
  const frames = [
    via(tcpSegmentFrame([2, 0, 0, 0, 0, 9], 1, false, 100, 3000, TcpFlag.ACK, true), 1),
    via(tcpSegmentFrame([2, 0, 0, 0, 0, 9], 2, true, 200, 2500, TcpFlag.ACK, true), 2),
  ];
  const t = await ctx.scenarios.run({
    knobs: { offered },
    workloads: frames.map((frame) => ({ kind: "net-send", frame })),
  });
  if (!t.probe.bound || !(t.fn instanceof NetFunction)) notApplicable("the driver did not bind");
  const negotiated = acceptedSets(t).at(-1) ?? 0n;
  const seen = new Set<Uint8Array>();
  const asked: TunnelRequest[] = t.fn.transmitted.flatMap((x) => {
    const raw = x.partial ?? x.frame;
    if (!(x.header.gsoType & TUNNEL) || seen.has(raw)) return [];
    seen.add(raw);
    const outer = transportOf(raw);
    const inner = innerFrame(raw, NetHashTunnel.VXLAN);
    return outer && inner ? [{ x, raw, outer, inner, innerV4: inner[12] === 0x08 }] : [];
  });
  if (asked.length === 0) notApplicable("the driver asked for no UDP tunnel segmentation");
  return { asked, negotiated };
}

const outerChecksum = (r: TunnelRequest) => (r.raw[r.outer.start + 6]! << 8) | r.raw[r.outer.start + 7]!;

/** Whether the outer UDP checksum of every segment the device cuts (leaving that checksum alone) is right. */
function outerValidInSegments(r: TunnelRequest): boolean {
  const segs = segmentTunnel(r.raw, r.x.header.gsoSize, false, {
    outerThOffset: r.outer.start,
    innerNhOffset: r.outer.start + 30,
    outerChecksum: false,
  });
  if (!segs) return false;
  const value = outerChecksum(r);
  return segs.every((seg) => {
    seg.set([value >> 8, value & 0xff], r.outer.start + 6);
    const t = transportOf(seg)!;
    return onesComplementSum(seg, t.start, t.start + t.length, pseudoHeaderSum(seg, t)) === 0xffff;
  });
}

/** Whether the request leaves the outer UDP checksum for the device to complete (neither 0 nor already right). */
const needsOuterOffload = (r: TunnelRequest) => outerChecksum(r) !== 0 && !outerValidInSegments(r);

const fmtRequest = (r: TunnelRequest) =>
  `a ${r.raw.length}-byte VXLAN packet (inner IPv${r.innerV4 ? 4 : 6}), flags ${hex(r.x.header.flags, 2)}, gso_type ${
    hex(r.x.header.gsoType, 2)
  }, outer UDP checksum ${hex(outerChecksum(r), 4)}`;

const ACTION = "Presents a net device offering HOST_UDP_TUNNEL_GSO";
const SENDS = "asks the driver to send a 3000-byte IPv4/TCP and a 2500-byte IPv6/TCP packet over VXLAN, and checks ";

function tunnelBitClause(statement: number, v4: boolean) {
  const bitName = v4 ? "VIRTIO_NET_HDR_GSO_UDP_TUNNEL_IPV4" : "VIRTIO_NET_HDR_GSO_UDP_TUNNEL_IPV6";
  return defineDriverClause({
    label: TX,
    statement,
    level: "MUST",
    title: `${bitName} for a tunnelled packet whose inner header is IPv${v4 ? 4 : 6}`,
    applies: NET,
    requirement: `A UDP tunnel segmentation request for a packet whose inner network header is IPv${
      v4 ? 4 : 6
    } sets ${bitName} (and not the other tunnel bit).`,
    action: `${ACTION}, ${SENDS}the tunnel bit of each request for an inner IPv${v4 ? 4 : 6} packet.`,
    async run(ctx) {
      const { asked } = await tunnelRequests(ctx);
      const want = v4 ? NetGso.UDP_TUNNEL_IPV4 : NetGso.UDP_TUNNEL_IPV6;
      const bad = asked.filter((r) => r.innerV4 === v4 && (r.x.header.gsoType & TUNNEL) !== want);
      expectNone(`${bitName} alone`, bad, fmtRequest);
    },
  });
}

export const tunnelBitInnerV4 = tunnelBitClause(18, true);
export const tunnelBitInnerV6 = tunnelBitClause(19, false);

export const outerOffloadNeedsBoth = defineDriverClause({
  label: TX,
  statement: 20,
  level: "MUST NOT",
  title: "no outer checksum offload for a tunnel request without both tunnel features",
  applies: NET,
  requirement: "The driver asks the device to complete the outer UDP checksum of a UDP tunnel segmentation request " +
    "only with both HOST_UDP_TUNNEL_GSO and HOST_UDP_TUNNEL_GSO_CSUM negotiated.",
  action: `${ACTION} but not HOST_UDP_TUNNEL_GSO_CSUM, ${SENDS}that no request leaves its outer UDP checksum for the ` +
    "device (neither 0 nor right for every segment).",
  async run(ctx) {
    const { asked, negotiated } = await tunnelRequests(ctx, [NET_F.HOST_UDP_TUNNEL_GSO_CSUM]);
    const both = (negotiated & bit(NET_F.HOST_UDP_TUNNEL_GSO)) && (negotiated & bit(NET_F.HOST_UDP_TUNNEL_GSO_CSUM));
    const bad = both ? [] : asked.filter(needsOuterOffload);
    expectNone("no outer checksum left for the device", bad, fmtRequest);
  },
});

export const outerOffloadFlagged = defineDriverClause({
  label: TX,
  statement: 21,
  level: "MUST",
  title: "UDP_TUNNEL_CSUM and a tunnel bit on a request leaving the outer checksum to the device",
  applies: NET,
  requirement: "When both tunnel features are negotiated and the driver leaves the outer UDP checksum of a tunnel " +
    "segmentation request to the device, it sets a UDP tunnel bit in gso_type and VIRTIO_NET_HDR_F_UDP_TUNNEL_CSUM.",
  action:
    `${ACTION} and HOST_UDP_TUNNEL_GSO_CSUM, ${SENDS}that every request whose outer UDP checksum is left to the ` +
    "device has UDP_TUNNEL_CSUM and a tunnel bit.",
  async run(ctx) {
    const { asked } = await tunnelRequests(ctx);
    const bad = asked.filter((r) =>
      needsOuterOffload(r) && !((r.x.header.flags & NetHdrFlag.UDP_TUNNEL_CSUM) && (r.x.header.gsoType & TUNNEL))
    );
    expectNone("UDP_TUNNEL_CSUM with the outer checksum left to the device", bad, fmtRequest);
  },
});

export const noOuterOffloadWithoutCsum = defineDriverClause({
  label: TX,
  statement: 23,
  level: "MUST NOT",
  title: "no outer checksum offload without HOST_UDP_TUNNEL_GSO_CSUM",
  applies: NET,
  requirement: "Without VIRTIO_NET_F_HOST_UDP_TUNNEL_GSO_CSUM the driver sends no UDP tunnel segmentation request " +
    "that leaves the outer UDP checksum to the device (statement 20 from the side of the missing feature).",
  action:
    `${ACTION} but not HOST_UDP_TUNNEL_GSO_CSUM, ${SENDS}each request's outer UDP checksum (0, or right for every ` +
    "segment).",
  async run(ctx) {
    const { asked, negotiated } = await tunnelRequests(ctx, [NET_F.HOST_UDP_TUNNEL_GSO_CSUM]);
    if (negotiated & bit(NET_F.HOST_UDP_TUNNEL_GSO_CSUM)) notApplicable("HOST_UDP_TUNNEL_GSO_CSUM was negotiated");
    expectNone("no outer checksum left for the device", asked.filter(needsOuterOffload), fmtRequest);
  },
});

export const tunnelOffsetsSet = defineDriverClause({
  label: TX,
  statement: 37,
  level: "MUST",
  title: "outer_th_offset, inner_nh_offset, csum_start and csum_offset of a tunnel request",
  applies: NET,
  requirement: "A UDP tunnel segmentation request has outer_th_offset at the outer UDP header and inner_nh_offset at " +
    "the inner network header, and csum_start and csum_offset at the inner transport header and its checksum.",
  action: `${ACTION}, ${SENDS}the four offsets of each request against the headers the harness parses.`,
  async run(ctx) {
    const { asked } = await tunnelRequests(ctx);
    const bad = asked.flatMap((r) => {
      const innerIp = r.outer.start + 16 + 14;
      const seg = tcpSegmentOf(r.inner);
      const innerL4 = seg ? innerIp + seg.t.start - seg.t.ip : -1;
      const h = r.x.header;
      const want = { outerThOffset: r.outer.start, innerNhOffset: innerIp, csumStart: innerL4, csumOffset: 16 };
      const got = {
        outerThOffset: h.outerThOffset,
        innerNhOffset: h.innerNhOffset,
        csumStart: h.csumStart,
        csumOffset: h.csumOffset,
      };
      const off = (Object.keys(want) as (keyof typeof want)[]).filter((k) => got[k] !== want[k]);
      return off.map((k) => `${fmtRequest(r)}: ${k} ${got[k]}, the header is at ${want[k]}`);
    });
    expectNone("the offsets of the headers", bad, (s) => s);
  },
});

export const outerPseudoHeaderWithFlag = defineDriverClause({
  label: TX,
  statement: 39,
  level: "MUST",
  title: "the outer UDP pseudo-header sum with UDP_TUNNEL_CSUM",
  applies: NET,
  requirement: "When a UDP tunnel request sets VIRTIO_NET_HDR_F_UDP_TUNNEL_CSUM, its outer UDP checksum holds the " +
    "sum of the outer UDP pseudo header.",
  action: `${ACTION} and HOST_UDP_TUNNEL_GSO_CSUM, ${SENDS}the outer UDP checksum of each request with ` +
    "UDP_TUNNEL_CSUM.",
  async run(ctx) {
    const { asked, negotiated } = await tunnelRequests(ctx);
    if (!(negotiated & bit(NET_F.HOST_UDP_TUNNEL_GSO_CSUM))) {
      notApplicable("HOST_UDP_TUNNEL_GSO_CSUM was not negotiated");
    }
    const bad = asked.filter((r) => {
      if (!(r.x.header.flags & NetHdrFlag.UDP_TUNNEL_CSUM)) return false;
      const want = pseudoHeaderSum(r.raw, r.outer);
      const got = outerChecksum(r);
      return !sameOnesComplement(got, want);
    });
    expectNone(
      "the outer pseudo-header sum",
      bad,
      (r) => `${fmtRequest(r)}, pseudo-header sum ${hex(pseudoHeaderSum(r.raw, r.outer), 4)}`,
    );
  },
});

function outerNotLeftClause(statement: number, level: "MUST" | "MUST NOT", title: string, requirement: string) {
  return defineDriverClause({
    label: TX,
    statement,
    level,
    title,
    applies: NET,
    requirement,
    action:
      `${ACTION} but not HOST_UDP_TUNNEL_GSO_CSUM, ${SENDS}that each request's outer UDP checksum is 0 or right ` +
      "for every segment the device cuts.",
    async run(ctx) {
      const { asked, negotiated } = await tunnelRequests(ctx, [NET_F.HOST_UDP_TUNNEL_GSO_CSUM]);
      if (negotiated & bit(NET_F.HOST_UDP_TUNNEL_GSO_CSUM)) notApplicable("HOST_UDP_TUNNEL_GSO_CSUM was negotiated");
      expectNone("an outer UDP checksum of 0 or right", asked.filter(needsOuterOffload), fmtRequest);
    },
  });
}

export const outerNeedsNoValidation = outerNotLeftClause(
  40,
  "MUST NOT",
  "the outer UDP header of a tunnel request needs no validation without HOST_UDP_TUNNEL_GSO_CSUM",
  "With a UDP tunnel bit set and HOST_UDP_TUNNEL_GSO_CSUM not negotiated, the outer UDP header of the request needs " +
    "no checksum validation.",
);

export const outerZeroOrComplete = outerNotLeftClause(
  41,
  "MUST",
  "outer UDP checksum 0 or complete without HOST_UDP_TUNNEL_GSO_CSUM",
  "With a UDP tunnel bit set and HOST_UDP_TUNNEL_GSO_CSUM not negotiated, the outer UDP checksum is 0 or the " +
    "complete, right checksum of that header.",
);

/** The UDP tunnel segmentation driver clauses. */
export const NET_TUNNEL_DRIVER_CLAUSES = [
  tunnelBitInnerV4,
  tunnelBitInnerV6,
  outerOffloadNeedsBoth,
  outerOffloadFlagged,
  noOuterOffloadWithoutCsum,
  tunnelOffsetsSet,
  outerPseudoHeaderWithFlag,
  outerNeedsNoValidation,
  outerZeroOrComplete,
];
