/**
 * Receive segment coalescing for the reference network device (spec 5.1.9.4, the receive side of
 * VIRTIO_NET_F_GUEST_TSO4 / _TSO6): consecutive TCP segments of one flow, each with a right checksum, become one large
 * packet for the driver, its checksum field holding the pseudo-header sum; the device hands it on with `gso_type`
 * TCPV4 or TCPV6, `gso_size` the segments' size and NEEDS_CSUM.
 *
 * @module
 */
import {
  ipv4HeaderChecksumOk,
  pseudoHeaderSum,
  setIpLength,
  transportChecksumOk,
  type TransportHeader,
  transportOf,
} from "./net_frames.ts";
import { VXLAN_PORT } from "./net_rss.ts";

/** TCP flag bits (byte 13 of the TCP header). */
export const TcpFlag = {
  FIN: 0x01,
  SYN: 0x02,
  RST: 0x04,
  PSH: 0x08,
  ACK: 0x10,
  URG: 0x20,
  ECE: 0x40,
  CWR: 0x80,
} as const;

/** A TCP segment as received: its transport header, sequence number, flags, header length and payload length. */
export interface TcpSegment {
  t: TransportHeader;
  seq: number;
  flags: number;
  headerLength: number;
  payload: number;
  /** The flow: IP version, addresses and ports. */
  flow: string;
}

/**
 * The TCP segment an Ethernet frame carries (IPv4 not fragmented, or IPv6 without extension headers); undefined
 * for anything else.
 *
 * @example
 * ```ts
 * import { tcpSegmentOf } from "./net_lro.ts";
 * console.log(tcpSegmentOf(new Uint8Array(60))); // undefined
 * ```
 */
export function tcpSegmentOf(f: Uint8Array): TcpSegment | undefined {
  const t = transportOf(f);
  if (!t || t.proto !== 6 || t.length < 20) return undefined;
  const headerLength = (f[t.start + 12]! >> 4) * 4;
  if (headerLength < 20 || headerLength > t.length) return undefined;
  const seq = ((f[t.start + 4]! << 24) | (f[t.start + 5]! << 16) | (f[t.start + 6]! << 8) | f[t.start + 7]!) >>> 0;
  const addresses = t.v6 ? f.subarray(t.ip + 8, t.ip + 40) : f.subarray(t.ip + 12, t.ip + 20);
  const flow = `${t.v6 ? 6 : 4}:${Array.from(addresses).join(".")}:${Array.from(f.subarray(t.start, t.start + 4))}`;
  return { t, seq, flags: f[t.start + 13]!, headerLength, payload: t.length - headerLength, flow };
}

/** What the device may coalesce: per IP version, and whether a segment with CWR may start a packet (GUEST_ECN). */
export interface CoalesceOptions {
  v4: boolean;
  v6: boolean;
  ecn: boolean;
}

/**
 * A coalesced packet: the frame (the checksum field holding the pseudo-header sum), how many received frames it
 * took, and what its virtio-net header says: IPv6 or IPv4, CWR on its first segment, the segment size, the length of
 * the headers, and where the checksum is completed.
 */
export interface Coalesced {
  frame: Uint8Array;
  /** A packet carried over VXLAN: where its outer UDP and inner IP headers are, and the inner IP version. */
  tunnel?: { outerThOffset: number; innerNhOffset: number; innerV4: boolean; outerCsum?: boolean };
  segments: number;
  v6: boolean;
  cwr: boolean;
  mss: number;
  hdrLen: number;
  csumStart: number;
  csumOffset: number;
}

/** Flags that end coalescing (or forbid it): anything but ACK, PSH, and CWR on the first segment. */
const STOPPING = TcpFlag.FIN | TcpFlag.SYN | TcpFlag.RST | TcpFlag.URG;

/** The most payload one coalesced packet carries. */
const MAX_PAYLOAD = 60000;

/** Whether a frame's checksums are all right (IPv4 header, TCP). */
function checked(f: Uint8Array): boolean {
  return ipv4HeaderChecksumOk(f) !== false && transportChecksumOk(f) === true;
}

/**
 * Coalesces the leading frames of `frames` when at least two are consecutive TCP segments of one flow: the same
 * header length, no SYN, FIN, RST or URG, CWR on the first only (and only with `ecn`), every segment but the last
 * as long as the first, every checksum right. Undefined when the first frame cannot start a coalesced packet.
 *
 * @example
 * ```ts
 * import { coalesceTcp } from "./net_lro.ts";
 * console.log(coalesceTcp([new Uint8Array(60)], { v4: true, v6: true, ecn: false })); // undefined
 * ```
 */
export function coalesceTcp(frames: readonly Uint8Array[], opts: CoalesceOptions): Coalesced | undefined {
  const first = frames[0] ? tcpSegmentOf(frames[0]) : undefined;
  if (!first || first.payload === 0 || !(first.t.v6 ? opts.v6 : opts.v4)) return undefined;
  if (first.flags & STOPPING || (first.flags & TcpFlag.CWR && !opts.ecn) || !checked(frames[0]!)) return undefined;
  const mss = first.payload;
  const taken: { frame: Uint8Array; s: TcpSegment }[] = [{ frame: frames[0]!, s: first }];
  let next = (first.seq + mss) >>> 0;
  let total = mss;
  for (let i = 1; i < frames.length && taken[taken.length - 1]!.s.payload === mss; i++) {
    const s = tcpSegmentOf(frames[i]!);
    if (!s || s.flow !== first.flow || s.seq !== next || s.headerLength !== first.headerLength) break;
    if (s.flags & (STOPPING | TcpFlag.CWR) || s.payload === 0 || s.payload > mss || total + s.payload > MAX_PAYLOAD) {
      break;
    }
    if (!checked(frames[i]!)) break;
    taken.push({ frame: frames[i]!, s });
    next = (next + s.payload) >>> 0;
    total += s.payload;
  }
  if (taken.length < 2) return undefined;
  const head = first.t.start + first.headerLength;
  const out = new Uint8Array(head + total);
  out.set(frames[0]!.subarray(0, head));
  let off = head;
  for (const { frame, s } of taken) {
    out.set(frame.subarray(s.t.start + s.headerLength, s.t.start + s.t.length), off);
    off += s.payload;
  }
  const l4Length = first.headerLength + total;
  setIpLength(out, first.t.ip, first.t.v6, first.t.start - first.t.ip + l4Length);
  // PSH when any segment had it; the last segment's acknowledgement and window.
  const last = taken[taken.length - 1]!;
  out.set(last.frame.subarray(last.s.t.start + 8, last.s.t.start + 12), first.t.start + 8);
  out.set(last.frame.subarray(last.s.t.start + 14, last.s.t.start + 16), first.t.start + 14);
  out[first.t.start + 13] = first.flags | taken.reduce((m, x) => m | (x.s.flags & TcpFlag.PSH), 0);
  const t: TransportHeader = { ...first.t, length: l4Length };
  const sum = pseudoHeaderSum(out, t);
  out[t.start + 16] = sum >> 8;
  out[t.start + 17] = sum & 0xff;
  return {
    frame: out,
    segments: taken.length,
    v6: first.t.v6,
    cwr: (first.flags & TcpFlag.CWR) !== 0,
    mss,
    hdrLen: head,
    csumStart: t.start,
    csumOffset: t.csumOffset,
  };
}

/**
 * Coalesces the leading frames of `frames` when they are VXLAN packets of one outer flow (outer addresses, ports and
 * VXLAN header alike) whose inner packets {@link coalesceTcp} coalesces: the outer headers of the first, then the
 * coalesced inner packet, the outer IP and UDP lengths set and the outer UDP checksum 0.
 *
 * @example
 * ```ts
 * import { coalesceVxlan } from "./net_lro.ts";
 * console.log(coalesceVxlan([new Uint8Array(60)], { v4: true, v6: true, ecn: false })); // undefined
 * ```
 */
export function coalesceVxlan(frames: readonly Uint8Array[], opts: CoalesceOptions): Coalesced | undefined {
  const outer = frames[0] ? transportOf(frames[0]) : undefined;
  if (!outer || outer.proto !== 17 || outer.length < 30) return undefined;
  const first = frames[0]!;
  if (((first[outer.start + 2]! << 8) | first[outer.start + 3]!) !== VXLAN_PORT) return undefined;
  const innerStart = outer.start + 16;
  // The outer flow: addresses, ports and the VXLAN header must match the first packet's.
  const key = (f: Uint8Array) => {
    const t = transportOf(f);
    if (!t || t.start !== outer.start || t.proto !== 17) return undefined;
    const addresses = t.v6 ? f.subarray(t.ip + 8, t.ip + 40) : f.subarray(t.ip + 12, t.ip + 20);
    return `${Array.from(addresses)}|${Array.from(f.subarray(t.start, t.start + 4))}|${
      Array.from(f.subarray(t.start + 8, t.start + 16))
    }`;
  };
  const flow = key(first);
  const inners: Uint8Array[] = [];
  for (const f of frames) {
    if (key(f) !== flow) break;
    inners.push(f.subarray(innerStart));
  }
  const c = coalesceTcp(inners, opts);
  if (!c) return undefined;
  const out = new Uint8Array(innerStart + c.frame.length);
  out.set(first.subarray(0, innerStart));
  out.set(c.frame, innerStart);
  const udpLength = out.length - outer.start;
  out.set([udpLength >> 8, udpLength & 0xff, 0, 0], outer.start + 4);
  setIpLength(out, outer.ip, outer.v6, out.length - outer.ip);
  return {
    ...c,
    frame: out,
    hdrLen: c.hdrLen + innerStart,
    csumStart: c.csumStart + innerStart,
    tunnel: { outerThOffset: outer.start, innerNhOffset: innerStart + 14, innerV4: !c.v6 },
  };
}
