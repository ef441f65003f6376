/**
 * Transmit segmentation for the reference network device (spec 5.1.9.2, VIRTIO_NET_F_HOST_TSO4 / _TSO6): a large TCP
 * packet the driver hands over with `gso_type` TCPV4 or TCPV6 goes on the wire as segments of at most `gso_size`
 * payload bytes, each with its own IP length, sequence number and complete checksums. The headers are found by
 * parsing the packet, never from `hdr_len` (a driver may get it wrong).
 *
 * @module
 */
import { completeChecksum, onesComplementSum, pseudoHeaderSum, transportOf } from "./net_frames.ts";
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
    if (s.t.v6) {
      f[ip + 4] = l4Length >> 8;
      f[ip + 5] = l4Length & 0xff;
    } else {
      const total = s.t.start - ip + l4Length;
      f[ip + 2] = total >> 8;
      f[ip + 3] = total & 0xff;
      f[ip + 4] = ((id + i) >> 8) & 0xff;
      f[ip + 5] = (id + i) & 0xff;
      f[ip + 10] = f[ip + 11] = 0;
      const c = ~onesComplementSum(f, ip, s.t.start) & 0xffff;
      f[ip + 10] = c >> 8;
      f[ip + 11] = c & 0xff;
    }
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
