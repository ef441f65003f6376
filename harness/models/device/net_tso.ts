/**
 * Transmit segmentation for the reference network device (spec 5.1.9.2, VIRTIO_NET_F_HOST_TSO4 / _TSO6): a large TCP
 * packet the driver hands over with `gso_type` TCPV4 or TCPV6 goes on the wire as segments of at most `gso_size`
 * payload bytes, each with its own IP length, sequence number and complete checksums. The headers are found by
 * parsing the packet, never from `hdr_len` (a driver may get it wrong).
 *
 * @module
 */
import { completeChecksum, pseudoHeaderSum, setIpLength, transportOf } from "./net_frames.ts";
import { TcpFlag, tcpSegmentOf } from "./net_lro.ts";

/** Payload bytes the device puts in one segment at least (a gso_size below is taken as this). */
const MIN_SEGMENT = 1;

/**
 * The segments of a TCP packet (IPv4 or IPv6 without extension headers) cut at `mss` payload bytes: the headers
 * repeated, IPv4 total length, identification (counting up) and header checksum, or the IPv6 payload length, set per
 * segment; the sequence number advanced; FIN and PSH on the last segment only, CWR on the first only; the TCP
 * checksum complete. Undefined when the packet is not such a TCP packet.
 *
 * @example
 * ```ts
 * import { segmentTcp } from "./net_tso.ts";
 * console.log(segmentTcp(new Uint8Array(60), 1000)); // undefined
 * ```
 */
export function segmentTcp(frame: Uint8Array, mss: number): Uint8Array[] | undefined {
  const s = tcpSegmentOf(frame);
  if (!s) return undefined;
  const size = Math.max(MIN_SEGMENT, mss);
  const head = s.t.start + s.headerLength;
  const data = frame.subarray(head, s.t.start + s.t.length);
  const out: Uint8Array[] = [];
  const ip = s.t.ip;
  const id = s.t.v6 ? 0 : (frame[ip + 4]! << 8) | frame[ip + 5]!;
  for (let off = 0, i = 0; off < data.length || (data.length === 0 && i === 0); off += size, i++) {
    const chunk = data.subarray(off, Math.min(data.length, off + size));
    const f = new Uint8Array(head + chunk.length);
    f.set(frame.subarray(0, head));
    f.set(chunk, head);
    const l4Length = s.headerLength + chunk.length;
    setIpLength(f, ip, s.t.v6, s.t.start - ip + l4Length, s.t.v6 ? undefined : id + i);
    const seq = (s.seq + off) >>> 0;
    f.set([seq >>> 24, (seq >> 16) & 0xff, (seq >> 8) & 0xff, seq & 0xff], s.t.start + 4);
    const last = off + size >= data.length;
    let flags = s.flags;
    if (!last) flags &= ~(TcpFlag.FIN | TcpFlag.PSH);
    if (i > 0) flags &= ~TcpFlag.CWR;
    f[s.t.start + 13] = flags;
    const t = transportOf(f)!;
    const sum = pseudoHeaderSum(f, t);
    f[t.start + 16] = sum >> 8;
    f[t.start + 17] = sum & 0xff;
    completeChecksum(f, t.start, t.csumOffset);
    out.push(f);
    if (data.length === 0) break;
  }
  return out;
}

/**
 * The datagrams of a UDP packet (IPv4 or IPv6 without extension headers) cut at `size` payload bytes (UDP
 * segmentation, VIRTIO_NET_F_HOST_USO): the headers repeated, IP and UDP lengths set per datagram, IPv4
 * identification counting up, every checksum complete. Undefined when the packet is not such a UDP packet.
 *
 * @example
 * ```ts
 * import { segmentUdp } from "./net_tso.ts";
 * console.log(segmentUdp(new Uint8Array(60), 1000)); // undefined
 * ```
 */
export function segmentUdp(frame: Uint8Array, size: number): Uint8Array[] | undefined {
  const t = transportOf(frame);
  if (!t || t.proto !== 17) return undefined;
  const n = Math.max(MIN_SEGMENT, size);
  const head = t.start + 8;
  const data = frame.subarray(head, t.start + t.length);
  const id = t.v6 ? 0 : (frame[t.ip + 4]! << 8) | frame[t.ip + 5]!;
  const out: Uint8Array[] = [];
  for (let off = 0, i = 0; off < data.length || i === 0; off += n, i++) {
    const chunk = data.subarray(off, Math.min(data.length, off + n));
    const f = new Uint8Array(head + chunk.length);
    f.set(frame.subarray(0, head));
    f.set(chunk, head);
    const l4 = 8 + chunk.length;
    f.set([l4 >> 8, l4 & 0xff], t.start + 4);
    setIpLength(f, t.ip, t.v6, t.start - t.ip + l4, t.v6 ? undefined : id + i);
    const u = transportOf(f)!;
    const sum = pseudoHeaderSum(f, u);
    f.set([sum >> 8, sum & 0xff], u.start + 6);
    completeChecksum(f, u.start, 6);
    out.push(f);
    if (data.length === 0) break;
  }
  return out;
}

/** Where a UDP tunnel segmentation request says its headers are. */
export interface TunnelOffsets {
  /** The outer UDP header. */
  outerThOffset: number;
  /** The inner IP header. */
  innerNhOffset: number;
  /** Complete the outer UDP checksum of each segment (VIRTIO_NET_HDR_F_UDP_TUNNEL_CSUM); else it is 0. */
  outerChecksum: boolean;
}

/**
 * The segments of a UDP-tunnelled packet (spec 5.1.9.2.1, VIRTIO_NET_F_HOST_UDP_TUNNEL_GSO): the inner TCP (or, with
 * `udp`, UDP) packet at `innerNhOffset` cut at `size`, each behind a copy of the outer headers whose IP length and
 * checksum and UDP length are set per segment (the outer UDP checksum 0, or complete with `outerChecksum`).
 * Undefined when the offsets do not lead to an IP header behind a UDP header.
 *
 * @example
 * ```ts
 * import { segmentTunnel } from "./net_tso.ts";
 * const none = segmentTunnel(new Uint8Array(60), 1000, false, { outerThOffset: 34, innerNhOffset: 50, outerChecksum: false });
 * console.log(none); // undefined
 * ```
 */
export function segmentTunnel(
  frame: Uint8Array,
  size: number,
  udp: boolean,
  o: TunnelOffsets,
): Uint8Array[] | undefined {
  const outer = transportOf(frame);
  if (!outer || outer.proto !== 17 || outer.start !== o.outerThOffset) return undefined;
  if (o.innerNhOffset <= o.outerThOffset + 8 || o.innerNhOffset + 20 > frame.length) return undefined;
  const version = frame[o.innerNhOffset]! >> 4;
  if (version !== 4 && version !== 6) return undefined;
  const inner = new Uint8Array(14 + frame.length - o.innerNhOffset);
  inner.set(version === 4 ? [0x08, 0x00] : [0x86, 0xdd], 12);
  inner.set(frame.subarray(o.innerNhOffset), 14);
  const segments = udp ? segmentUdp(inner, size) : segmentTcp(inner, size);
  if (!segments) return undefined;
  const outerId = outer.v6 ? 0 : (frame[outer.ip + 4]! << 8) | frame[outer.ip + 5]!;
  return segments.map((seg, i) => {
    const f = new Uint8Array(o.innerNhOffset + seg.length - 14);
    f.set(frame.subarray(0, o.innerNhOffset));
    f.set(seg.subarray(14), o.innerNhOffset);
    const udpLength = f.length - o.outerThOffset;
    f.set([udpLength >> 8, udpLength & 0xff, 0, 0], o.outerThOffset + 4);
    setIpLength(f, outer.ip, outer.v6, f.length - outer.ip, outer.v6 ? undefined : outerId + i);
    if (o.outerChecksum) {
      const t = transportOf(f)!;
      const sum = pseudoHeaderSum(f, t);
      f.set([sum >> 8, sum & 0xff], t.start + 6);
      completeChecksum(f, t.start, 6);
    }
    return f;
  });
}
