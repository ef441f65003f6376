/**
 * Checksums of the frames a network device carries (spec 5.1.9.2, 5.1.9.4): the ones' complement sum, where a
 * frame's TCP or UDP header sits, its pseudo header, and whether a checksum is right or completes.
 *
 * @module
 */

/**
 * Completes a partial checksum (spec 5.1.9.2.1): the ones' complement sum of the bytes from `start` to the end,
 * stored big-endian at `start + offset` (where the driver put the pseudo-header sum). False when the field does
 * not lie inside the frame.
 */
export function completeChecksum(frame: Uint8Array, start: number, offset: number): boolean {
  const at = start + offset;
  if (at + 2 > frame.length) return false;
  const c = ~onesComplementSum(frame, start, frame.length) & 0xffff;
  frame[at] = c >> 8;
  frame[at + 1] = c & 0xff;
  return true;
}

/**
 * Whether an IPv4/UDP frame's UDP checksum is right: undefined when the frame is not IPv4/UDP (no options, not a
 * fragment) or carries no checksum (0).
 */
export function udpChecksumOk(f: Uint8Array): boolean | undefined {
  if (f.length < 42 || f[12] !== 0x08 || f[13] !== 0x00 || f[14] !== 0x45 || f[23] !== 17) return undefined;
  if ((f[20]! & 0x3f) !== 0 || f[21] !== 0) return undefined;
  const udpLen = (f[38]! << 8) | f[39]!;
  if (udpLen < 8 || 34 + udpLen > f.length || ((f[40]! << 8) | f[41]!) === 0) return undefined;
  // The pseudo header: addresses, protocol, UDP length; then the UDP header and data.
  return onesComplementSum(f, 34, 34 + udpLen, onesComplementSum(f, 26, 34, 17 + udpLen)) === 0xffff;
}

/** Where a frame's TCP or UDP header sits and what its checksum covers. */
export interface TransportHeader {
  /** Offset of the IP header. */
  ip: number;
  v6: boolean;
  /** Offset of the TCP or UDP header. */
  start: number;
  proto: 6 | 17;
  /** Bytes of TCP or UDP header and data (what the checksum covers besides the pseudo header). */
  length: number;
  /** Offset of the checksum field within the transport header: 16 for TCP, 6 for UDP. */
  csumOffset: number;
}

/**
 * The TCP or UDP header of an Ethernet frame carrying IPv4 (not a fragment) or IPv6 (no extension header); undefined
 * for anything else or a frame too short for the lengths its headers give.
 *
 * @example
 * ```ts
 * import { transportOf } from "./net_frames.ts";
 * console.log(transportOf(new Uint8Array(60))); // undefined
 * ```
 */
export function transportOf(f: Uint8Array): TransportHeader | undefined {
  if (f.length < 14) return undefined;
  const type = (f[12]! << 8) | f[13]!;
  let t: { ip: number; v6: boolean; start: number; proto: number; length: number };
  if (type === 0x0800 && f.length >= 34 && f[14]! >> 4 === 4) {
    const ihl = (f[14]! & 0x0f) * 4;
    const total = (f[16]! << 8) | f[17]!;
    if (ihl < 20 || (((f[20]! << 8) | f[21]!) & 0x3fff) !== 0 || total < ihl) return undefined;
    t = { ip: 14, v6: false, start: 14 + ihl, proto: f[23]!, length: total - ihl };
  } else if (type === 0x86dd && f.length >= 54 && f[14]! >> 4 === 6) {
    t = { ip: 14, v6: true, start: 54, proto: f[20]!, length: (f[18]! << 8) | f[19]! };
  } else {
    return undefined;
  }
  const proto = t.proto;
  if (proto !== 6 && proto !== 17) return undefined;
  const csumOffset = proto === 6 ? 16 : 6;
  if (t.length < csumOffset + 2 || t.start + t.length > f.length) return undefined;
  return { ...t, proto, csumOffset };
}

/** The folded ones' complement sum of a transport header's pseudo header (addresses, protocol, length). */
export function pseudoHeaderSum(f: Uint8Array, t: TransportHeader): number {
  const addresses = t.v6 ? [t.ip + 8, t.ip + 40] : [t.ip + 12, t.ip + 20];
  return onesComplementSum(f, addresses[0]!, addresses[1]!, t.proto + (t.length & 0xffff) + (t.length >>> 16));
}

/** Whether the TCP or UDP checksum of a frame is right (undefined: no such header, see {@link transportOf}). */
export function transportChecksumOk(f: Uint8Array): boolean | undefined {
  const t = transportOf(f);
  if (!t) return undefined;
  return onesComplementSum(f, t.start, t.start + t.length, pseudoHeaderSum(f, t)) === 0xffff;
}

/** Whether an IPv4 frame's header checksum is right (undefined: not IPv4). */
export function ipv4HeaderChecksumOk(f: Uint8Array): boolean | undefined {
  if (f.length < 34 || f[12] !== 0x08 || f[13] !== 0x00 || f[14]! >> 4 !== 4) return undefined;
  const ihl = (f[14]! & 0x0f) * 4;
  if (ihl < 20 || f.length < 14 + ihl) return undefined;
  return onesComplementSum(f, 14, 14 + ihl) === 0xffff;
}

/**
 * The 16-bit ones' complement sum of the big-endian words of `b[from, to)` (an odd last byte padded with 0), added to
 * `initial` and folded: the Internet checksum is its complement.
 */
export function onesComplementSum(b: Uint8Array, from: number, to: number, initial = 0): number {
  let sum = initial;
  for (let i = from; i < to; i += 2) sum += (b[i]! << 8) | (i + 1 < to ? b[i + 1]! : 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/**
 * Sets the length of an IP packet whose header starts at `ip` to `ipLength` bytes (header included): the IPv4 total
 * length and header checksum (and the identification, when `id` is given), or the IPv6 payload length.
 */
export function setIpLength(f: Uint8Array, ip: number, v6: boolean, ipLength: number, id?: number): void {
  if (v6) {
    const payload = ipLength - 40;
    f[ip + 4] = payload >> 8;
    f[ip + 5] = payload & 0xff;
    return;
  }
  f[ip + 2] = ipLength >> 8;
  f[ip + 3] = ipLength & 0xff;
  if (id !== undefined) {
    f[ip + 4] = (id >> 8) & 0xff;
    f[ip + 5] = id & 0xff;
  }
  f[ip + 10] = f[ip + 11] = 0;
  const ihl = (f[ip]! & 0x0f) * 4;
  const c = ~onesComplementSum(f, ip, ip + ihl) & 0xffff;
  f[ip + 10] = c >> 8;
  f[ip + 11] = c & 0xff;
}

/** Whether two 16-bit checksum values are the same ones' complement number (0 and 0xffff both mean zero). */
export function sameOnesComplement(a: number, b: number): boolean {
  return a === b || ((a | b) === 0xffff && (a & b) === 0);
}
