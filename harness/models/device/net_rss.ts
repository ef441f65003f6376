/**
 * Receive-side scaling for the network device (spec 5.1.9.4 "Hash calculation for incoming packets" and 5.1.9.5.7):
 * the Toeplitz hash, which fields of a frame it covers for each enabled hash type, the hash report values, the
 * `virtio_net_rss_config` structure, and the receive queue RSS picks for a frame. The reference device steers with
 * it and the clauses use it as the oracle.
 *
 * @module
 */
import { le } from "../../memory.ts";
import { transportOf } from "./net_frames.ts";

/** `VIRTIO_NET_HASH_TYPE_*` bits (spec 5.1.9.4, "Supported/enabled hash types"). */
export const NetHashType = {
  IPv4: 1 << 0,
  TCPv4: 1 << 1,
  UDPv4: 1 << 2,
  IPv6: 1 << 3,
  TCPv6: 1 << 4,
  UDPv6: 1 << 5,
  IP_EX: 1 << 6,
  TCP_EX: 1 << 7,
  UDP_EX: 1 << 8,
} as const;

/** Every hash type the spec defines. */
export const NET_HASH_TYPES_ALL = 0x1ff;

/** `VIRTIO_NET_HASH_REPORT_*` values: the report for hash type `1 << (r - 1)` is `r`; 0 for none. */
export const NetHashReport = {
  NONE: 0,
  IPv4: 1,
  TCPv4: 2,
  UDPv4: 3,
  IPv6: 4,
  TCPv6: 5,
  UDPv6: 6,
  IPv6_EX: 7,
  TCPv6_EX: 8,
  UDPv6_EX: 9,
} as const;

/** `VIRTIO_NET_HASH_TUNNEL_TYPE_*` bits: the encapsulations the inner header hash can look through (spec 5.1.9.4). */
export const NetHashTunnel = {
  GRE_2784: 1 << 0,
  GRE_2890: 1 << 1,
  GRE_7676: 1 << 2,
  GRE_UDP: 1 << 3,
  VXLAN: 1 << 4,
  VXLAN_GPE: 1 << 5,
  GENEVE: 1 << 6,
  IPIP: 1 << 7,
  NVGRE: 1 << 8,
} as const;

/** Every encapsulation type the spec defines. */
export const NET_HASH_TUNNELS_ALL = 0x1ff;

/** The UDP port of VXLAN. */
export const VXLAN_PORT = 4789;

/** The inner header hash class and its command (spec 5.1.9.5.6.x "Inner Header Hash"). */
export const HashTunnelCtrl = { CLASS: 7, SET: 0 } as const;

/**
 * The inner packet of a frame encapsulated in one of `types`, as an Ethernet frame: VXLAN (UDP to port 4789 over IPv4
 * or IPv6, an 8-byte VXLAN header, then an Ethernet frame) and IPIP (IPv4 carrying IPv4); undefined for anything
 * else. One level only.
 *
 * @example
 * ```ts
 * import { innerFrame, NetHashTunnel } from "./net_rss.ts";
 * console.log(innerFrame(new Uint8Array(60), NetHashTunnel.VXLAN)); // undefined
 * ```
 */
export function innerFrame(frame: Uint8Array, types: number): Uint8Array | undefined {
  if (types & NetHashTunnel.VXLAN) {
    const t = transportOf(frame);
    if (t && t.proto === 17 && ((frame[t.start + 2]! << 8) | frame[t.start + 3]!) === VXLAN_PORT && t.length >= 30) {
      return frame.slice(t.start + 16, t.start + t.length);
    }
  }
  if (types & NetHashTunnel.IPIP && frame.length >= 54 && frame[12] === 0x08 && frame[13] === 0x00) {
    const ihl = (frame[14]! & 0x0f) * 4;
    if (frame[14]! >> 4 === 4 && ihl >= 20 && frame[23] === 4 && frame.length >= 14 + ihl + 20) {
      const inner = new Uint8Array(frame.length - ihl);
      inner.set([0x08, 0x00], 12);
      inner.set(frame.subarray(14 + ihl), 14);
      return inner;
    }
  }
  return undefined;
}

/** The `MQ` class commands of RSS and hash configuration (spec 5.1.9.5.6.4, 5.1.9.5.7.1). */
export const NetMqCommand = { VQ_PAIRS_SET: 0, RSS_CONFIG: 1, HASH_CONFIG: 2 } as const;

/** The RSS context class and its commands (spec 5.1.9.5.8). */
export const RssContextCtrl = { CLASS: 9, CAP_GET: 0, ADD: 1, MOD: 2, DEL: 3 } as const;

/**
 * The Toeplitz hash of `input` under `key` (the key needs at least 4 bytes more than the input; missing key bytes
 * count as 0): for each set bit of the input, most significant first, the 32 key bits starting at that bit position
 * are XORed into the result.
 *
 * @example
 * ```ts
 * import { toeplitz } from "./net_rss.ts";
 * console.log(toeplitz(new Uint8Array(8), new Uint8Array([1, 2]))); // 0
 * ```
 */
export function toeplitz(key: Uint8Array, input: Uint8Array): number {
  const keyBit = (i: number) => ((key[i >> 3] ?? 0) >> (7 - (i & 7))) & 1;
  let window = 0;
  for (let i = 0; i < 32; i++) window = ((window << 1) | keyBit(i)) >>> 0;
  let hash = 0;
  for (let i = 0; i < input.length * 8; i++) {
    if ((input[i >> 3]! >> (7 - (i & 7))) & 1) hash = (hash ^ window) >>> 0;
    window = ((window << 1) | keyBit(i + 32)) >>> 0;
  }
  return hash;
}

/** A frame's hash and the report type that names what it covered. */
export interface PacketHash {
  hash: number;
  report: number;
}

/** IPv6 extension headers the hash skips over (hop-by-hop, routing, destination options). */
const IPV6_SKIPPED = new Set([0, 43, 60]);
const TCP = 6;
const UDP = 17;

/** What a frame's IP layer offers the hash: addresses, the transport protocol and its ports when present. */
interface IpFlow {
  v6: boolean;
  /** Source then destination address. */
  addresses: Uint8Array;
  /** TCP or UDP with both ports readable; undefined otherwise. */
  proto?: number;
  ports?: Uint8Array;
  /** IPv6 with extension headers. */
  extensions: boolean;
}

function ipFlow(frame: Uint8Array): IpFlow | undefined {
  let off = 12;
  if (frame.length >= 18 && frame[12] === 0x81 && frame[13] === 0x00) off += 4;
  if (frame.length < off + 2) return undefined;
  const type = (frame[off]! << 8) | frame[off + 1]!;
  const ip = off + 2;
  if (type === 0x0800) {
    if (frame.length < ip + 20 || frame[ip]! >> 4 !== 4) return undefined;
    const ihl = (frame[ip]! & 0x0f) * 4;
    if (ihl < 20 || frame.length < ip + ihl) return undefined;
    const fragmented = (((frame[ip + 6]! << 8) | frame[ip + 7]!) & 0x3fff) !== 0;
    const proto = frame[ip + 9]!;
    const l4 = ip + ihl;
    const flow: IpFlow = { v6: false, addresses: frame.slice(ip + 12, ip + 20), extensions: false };
    if (!fragmented && (proto === TCP || proto === UDP) && frame.length >= l4 + 4) {
      flow.proto = proto;
      flow.ports = frame.slice(l4, l4 + 4);
    }
    return flow;
  }
  if (type === 0x86dd) {
    if (frame.length < ip + 40 || frame[ip]! >> 4 !== 6) return undefined;
    let next = frame[ip + 6]!;
    let l4 = ip + 40;
    let extensions = false;
    while (IPV6_SKIPPED.has(next) && frame.length >= l4 + 8) {
      extensions = true;
      const n = frame[l4]!;
      l4 += (frame[l4 + 1]! + 1) * 8;
      next = n;
    }
    const flow: IpFlow = { v6: true, addresses: frame.slice(ip + 8, ip + 40), extensions };
    if ((next === TCP || next === UDP) && frame.length >= l4 + 4) {
      flow.proto = next;
      flow.ports = frame.slice(l4, l4 + 4);
    }
    return flow;
  }
  return undefined;
}

/**
 * The hash of a received frame under the enabled hash `types` and `key` (spec 5.1.9.4): over the addresses and
 * ports of a TCP or UDP packet when that type is enabled, else over the addresses when the IP type is, else none
 * (undefined). IPv6 extension headers (hop-by-hop, routing, destination options) are skipped to find the transport
 * header; the `_EX` types apply to packets that have them, over the addresses of the IPv6 header (this model reads
 * no home address option nor type-2 routing header). With `tunnels` (the encapsulation types enabled for the inner
 * header hash) a frame of one of them is hashed over its inner packet.
 *
 * @example
 * ```ts
 * import { NetHashType, packetHash } from "./net_rss.ts";
 * console.log(packetHash(new Uint8Array(60), NetHashType.IPv4, new Uint8Array(40))); // undefined (not IP)
 * ```
 */
export function packetHash(frame: Uint8Array, types: number, key: Uint8Array, tunnels = 0): PacketHash | undefined {
  const flow = ipFlow((tunnels !== 0 ? innerFrame(frame, tunnels) : undefined) ?? frame);
  if (!flow) return undefined;
  const withPorts = (report: number): PacketHash => {
    const input = new Uint8Array(flow.addresses.length + 4);
    input.set(flow.addresses);
    input.set(flow.ports!, flow.addresses.length);
    return { hash: toeplitz(key, input), report };
  };
  const addressesOnly = (report: number): PacketHash => ({ hash: toeplitz(key, flow.addresses), report });
  if (!flow.v6) {
    if (flow.proto === TCP && types & NetHashType.TCPv4) return withPorts(NetHashReport.TCPv4);
    if (flow.proto === UDP && types & NetHashType.UDPv4) return withPorts(NetHashReport.UDPv4);
    if (types & NetHashType.IPv4) return addressesOnly(NetHashReport.IPv4);
    return undefined;
  }
  if (flow.extensions) {
    if (flow.proto === TCP && types & NetHashType.TCP_EX) return withPorts(NetHashReport.TCPv6_EX);
    if (flow.proto === UDP && types & NetHashType.UDP_EX) return withPorts(NetHashReport.UDPv6_EX);
    if (types & NetHashType.IP_EX) return addressesOnly(NetHashReport.IPv6_EX);
  }
  if (flow.proto === TCP && types & NetHashType.TCPv6) return withPorts(NetHashReport.TCPv6);
  if (flow.proto === UDP && types & NetHashType.UDPv6) return withPorts(NetHashReport.UDPv6);
  if (types & NetHashType.IPv6) return addressesOnly(NetHashReport.IPv6);
  return undefined;
}

/** `struct virtio_net_rss_config` (spec 5.1.9.5.7.1), queue ids as receive queue numbers (virtqueue index / 2). */
export interface RssConfig {
  hashTypes: number;
  /** indirection_table_mask: the table has mask + 1 entries. */
  tableMask: number;
  unclassified: number;
  table: number[];
  maxTxVq: number;
  key: Uint8Array;
}

/**
 * Encodes an RSS configuration as the command-specific data of VIRTIO_NET_CTRL_MQ_RSS_CONFIG (and of an RSS
 * context's `rss`). The table is written as given: its length, not the mask, decides how many entries go out.
 *
 * @example
 * ```ts
 * import { encodeRssConfig } from "./net_rss.ts";
 * const b = encodeRssConfig({ hashTypes: 1, tableMask: 0, unclassified: 0, table: [0], maxTxVq: 1, key: new Uint8Array(40) });
 * console.log(b.length); // 53
 * ```
 */
export function encodeRssConfig(c: RssConfig): Uint8Array {
  const b = new Uint8Array(4 + 2 + 2 + 2 * c.table.length + 2 + 1 + c.key.length);
  le.setU32(b, 0, c.hashTypes);
  le.setU16(b, 4, c.tableMask);
  le.setU16(b, 6, c.unclassified & 0x7fff);
  c.table.forEach((q, i) => le.setU16(b, 8 + 2 * i, q & 0x7fff));
  const at = 8 + 2 * c.table.length;
  le.setU16(b, at, c.maxTxVq);
  b[at + 2] = c.key.length;
  b.set(c.key, at + 3);
  return b;
}

/**
 * Decodes the data of an RSS_CONFIG command; undefined when its length does not match the table and key it
 * announces. The reserved top bit of each queue id is kept (a device can refuse it).
 *
 * @example
 * ```ts
 * import { decodeRssConfig, encodeRssConfig } from "./net_rss.ts";
 * const c = { hashTypes: 1, tableMask: 1, unclassified: 1, table: [0, 1], maxTxVq: 2, key: new Uint8Array(40) };
 * console.log(decodeRssConfig(encodeRssConfig(c))?.table); // [ 0, 1 ]
 * ```
 */
export function decodeRssConfig(data: Uint8Array): RssConfig | undefined {
  if (data.length < 8) return undefined;
  const tableMask = le.u16(data, 4);
  const entries = tableMask + 1;
  const at = 8 + 2 * entries;
  if (data.length < at + 3) return undefined;
  const keyLength = data[at + 2]!;
  if (data.length !== at + 3 + keyLength) return undefined;
  return {
    hashTypes: le.u32(data, 0),
    tableMask,
    unclassified: le.u16(data, 6),
    table: Array.from({ length: entries }, (_, i) => le.u16(data, 8 + 2 * i)),
    maxTxVq: le.u16(data, at),
    key: data.slice(at + 3),
  };
}

/**
 * The receive queue number (receiveq1 is 0) RSS sends a frame to (spec 5.1.9.5.7.3): the indirection table entry
 * the masked hash picks, or the unclassified queue when no hash was calculated (`tunnels` as for {@link packetHash}).
 *
 * @example
 * ```ts
 * import { rssReceiveQueue } from "./net_rss.ts";
 * const c = { hashTypes: 1, tableMask: 0, unclassified: 3, table: [1], maxTxVq: 4, key: new Uint8Array(40) };
 * console.log(rssReceiveQueue(c, new Uint8Array(60))); // 3 (not an IP frame: unclassified)
 * ```
 */
export function rssReceiveQueue(c: RssConfig, frame: Uint8Array, tunnels = 0): number {
  const h = packetHash(frame, c.hashTypes, c.key, tunnels);
  if (!h) return c.unclassified & 0x7fff;
  return c.table[(h.hash & c.tableMask) % c.table.length]! & 0x7fff;
}
