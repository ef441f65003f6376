/**
 * The reference network device's function (spec 5.1): receiveq1 (queue 0),
 * transmitq1 (queue 1) and, with VIRTIO_NET_F_CTRL_VQ, the control queue
 * (queue 2). The wire is a port the harness owns: frames the driver
 * transmits are kept (header and frame), frames the harness injects are
 * received into the driver's buffers, filtered as the control commands set.
 *
 * Receive buffers are held until a frame arrives. Without
 * VIRTIO_NET_F_MRG_RXBUF a frame takes one buffer, which must hold the header
 * and the frame (a frame that does not fit is dropped and counted); with it a
 * frame is spread over as many held buffers as it needs, every buffer but the
 * last filled completely, and `num_buffers` says how many.
 *
 * @module
 */
import type { AdminFunction, AdminObjects } from "./admin_queue.ts";
import { type FfOutcome, flowFilterAdmin, flowFilterOutcome, referenceFfSupport } from "./net_flow_filter.ts";
import { ipsecAdmin, referenceIpsecModes } from "./net_ipsec.ts";
import { bit, DEVICE_IDS, F, NET_F } from "../../features.ts";
import { le } from "../../memory.ts";
import type { GuestMemory } from "../../memory.ts";
import type { ChainBuffer } from "../../virtqueue/split.ts";
import { NET_CONFIG_LAYOUT } from "../../device_types.ts";
import {
  completeChecksum,
  ipv4HeaderChecksumOk,
  onesComplementSum,
  pseudoHeaderSum,
  sameOnesComplement,
  transportChecksumOk,
  type TransportHeader,
  transportOf,
  udpChecksumOk,
} from "./net_frames.ts";
import { type Coalesced, coalesceTcp, coalesceVxlan } from "./net_lro.ts";
import { segmentTcp, segmentTunnel, segmentUdp } from "./net_tso.ts";
import { type DeviceFunction, type FunctionHost, gather, type HandleResult, scatter } from "./device_function.ts";
import {
  decodeRssConfig,
  HashTunnelCtrl,
  NetHashTunnel,
  NetMqCommand,
  packetHash,
  type RssConfig,
  RssContextCtrl,
  rssReceiveQueue,
} from "./net_rss.ts";

export {
  completeChecksum,
  ipv4HeaderChecksumOk,
  onesComplementSum,
  pseudoHeaderSum,
  sameOnesComplement,
  transportChecksumOk,
  type TransportHeader,
  transportOf,
  udpChecksumOk,
};

/** Flags of `struct virtio_net_hdr` (spec 5.1.9). */
export const NetHdrFlag = { NEEDS_CSUM: 1, DATA_VALID: 2, RSC_INFO: 4, UDP_TUNNEL_CSUM: 8 } as const;
/** `gso_type` values and bits (spec 5.1.9). */
export const NetGso = {
  NONE: 0,
  TCPV4: 1,
  UDP: 3,
  TCPV6: 4,
  UDP_L4: 5,
  UDP_TUNNEL_IPV4: 0x20,
  UDP_TUNNEL_IPV6: 0x40,
  ECN: 0x80,
} as const;

/** Control queue classes and commands (spec 5.1.9.5). */
export const NetCtrl = {
  RX: 0,
  RX_PROMISC: 0,
  RX_ALLMULTI: 1,
  RX_ALLUNI: 2,
  RX_NOMULTI: 3,
  RX_NOUNI: 4,
  RX_NOBCAST: 5,
  MAC: 1,
  MAC_TABLE_SET: 0,
  MAC_ADDR_SET: 1,
  VLAN: 2,
  VLAN_ADD: 0,
  VLAN_DEL: 1,
  ANNOUNCE: 3,
  ANNOUNCE_ACK: 0,
  MQ: 4,
  MQ_VQ_PAIRS_SET: 0,
  NOTF_COAL: 6,
  NOTF_COAL_TX_SET: 0,
  NOTF_COAL_RX_SET: 1,
  NOTF_COAL_VQ_SET: 2,
  NOTF_COAL_VQ_GET: 3,
  GUEST_OFFLOADS: 5,
  GUEST_OFFLOADS_SET: 0,
  STATS: 8,
  STATS_QUERY: 0,
  STATS_GET: 1,
  OK: 0,
  ERR: 1,
} as const;

/**
 * The offloads VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET can switch (spec 5.1.9.5.9.1): bit in the command's le64 → the
 * feature that allows it (the UDP tunnel offloads sit at bits 46 and 47 of the mask, their features at 65 and 66).
 */
export const GUEST_OFFLOAD_FEATURES: Readonly<Record<number, number>> = {
  1: NET_F.GUEST_CSUM,
  7: NET_F.GUEST_TSO4,
  8: NET_F.GUEST_TSO6,
  9: NET_F.GUEST_ECN,
  10: NET_F.GUEST_UFO,
  46: NET_F.GUEST_UDP_TUNNEL_GSO,
  47: NET_F.GUEST_UDP_TUNNEL_GSO_CSUM,
  54: NET_F.GUEST_USO4,
  55: NET_F.GUEST_USO6,
};

/** VIRTIO_NET_S_LINK_UP in `status`. */
export const NET_S_LINK_UP = 1;
/** VIRTIO_NET_S_ANNOUNCE in `status`: the device asks the driver to announce itself (GUEST_ANNOUNCE). */
export const NET_S_ANNOUNCE = 2;

/** The queues of a single queue pair. */
export const NET_RX = 0;
/** transmitq1. */
export const NET_TX = 1;
/** The control queue when VIRTIO_NET_F_MQ is not negotiated. */
export const NET_CTRL = 2;

/** A decoded `struct virtio_net_hdr` (the first 12 bytes; 10 on a legacy device without MRG_RXBUF). */
export interface NetHeader {
  flags: number;
  gsoType: number;
  hdrLen: number;
  gsoSize: number;
  csumStart: number;
  csumOffset: number;
  /** Absent in a 10-byte header. */
  numBuffers?: number;
  /** With a UDP tunnel segmentation feature (24-byte header): the outer transport header's offset. */
  outerThOffset?: number;
  /** With a UDP tunnel segmentation feature (24-byte header): the inner network header's offset. */
  innerNhOffset?: number;
  /** With VIRTIO_NET_F_OUT_NET_HEADER or IPSEC (32-byte header): the outer network header's offset, 0 for none. */
  outerNhOffset?: number;
}

/**
 * The size of `struct virtio_net_hdr` for a negotiated feature set (spec 5.1.6.1, 5.1.9.3.1): 32 bytes with
 * OUT_NET_HEADER or IPSEC (through padding_reserved_2), 24 with a UDP tunnel segmentation feature (the hash fields,
 * then outer_th_offset and inner_nh_offset), 20 with HASH_REPORT, 12 with VERSION_1 or MRG_RXBUF, 10 on a legacy
 * device without MRG_RXBUF.
 */
export function netHeaderSize(negotiated: bigint): number {
  if ((negotiated & (bit(NET_F.OUT_NET_HEADER) | bit(NET_F.IPSEC))) !== 0n) return 32;
  if ((negotiated & (bit(NET_F.HOST_UDP_TUNNEL_GSO) | bit(NET_F.GUEST_UDP_TUNNEL_GSO))) !== 0n) return 24;
  if ((negotiated & bit(NET_F.HASH_REPORT)) !== 0n) return 20;
  if ((negotiated & (bit(F.VERSION_1) | bit(NET_F.MRG_RXBUF))) !== 0n) return 12;
  return 10;
}

/** Decodes the header at the start of `b` (`size` bytes of it). */
export function decodeNetHeader(b: Uint8Array, size: number): NetHeader {
  const h: NetHeader = {
    flags: b[0] ?? 0,
    gsoType: b[1] ?? 0,
    hdrLen: b.length >= 4 ? le.u16(b, 2) : 0,
    gsoSize: b.length >= 6 ? le.u16(b, 4) : 0,
    csumStart: b.length >= 8 ? le.u16(b, 6) : 0,
    csumOffset: b.length >= 10 ? le.u16(b, 8) : 0,
  };
  if (size >= 12 && b.length >= 12) h.numBuffers = le.u16(b, 10);
  if (size >= 24 && b.length >= 24) {
    h.outerThOffset = le.u16(b, 20);
    h.innerNhOffset = le.u16(b, 22);
  }
  if (size >= 32 && b.length >= 26) h.outerNhOffset = le.u16(b, 24);
  return h;
}

/** Encodes a header of `size` bytes. */
export function encodeNetHeader(h: Partial<NetHeader>, size: number): Uint8Array {
  const b = new Uint8Array(size);
  b[0] = h.flags ?? 0;
  b[1] = h.gsoType ?? 0;
  le.setU16(b, 2, h.hdrLen ?? 0);
  le.setU16(b, 4, h.gsoSize ?? 0);
  le.setU16(b, 6, h.csumStart ?? 0);
  le.setU16(b, 8, h.csumOffset ?? 0);
  if (size >= 12) le.setU16(b, 10, h.numBuffers ?? 0);
  if (size >= 24) {
    le.setU16(b, 20, h.outerThOffset ?? 0);
    le.setU16(b, 22, h.innerNhOffset ?? 0);
  }
  if (size >= 32) le.setU16(b, 24, h.outerNhOffset ?? 0);
  return b;
}

/** One frame the driver transmitted: its header, the frame as it went on the wire, and its chain. */
export interface Transmitted {
  header: NetHeader;
  frame: Uint8Array;
  /** How many bytes of header and frame the chain carried, and whether it had a device-writable buffer. */
  length: number;
  writableBuffer: boolean;
  /** The device refused the packet (see {@link NetFunction.acceptsTransmit}): it never reached the wire. */
  refused?: boolean;
  /** With NEEDS_CSUM: the frame as the driver wrote it, before the device completed the checksum. */
  partial?: Uint8Array;
  /** The transmit queue it came on (1 for transmitq1, 3 for transmitq2, …). */
  queue: number;
  /** Its place among the device's transmitted frames and control commands (one counter for both). */
  seq: number;
}

/** One command on the control queue, with the device's answer. */
export interface NetControlCommand {
  /** Its place among the device's transmitted frames and control commands (one counter for both). */
  seq: number;
  cls: number;
  command: number;
  data: Uint8Array;
  ack: number;
  /** The features in force when the command came. */
  negotiated: bigint;
  /** VQ_SET and VQ_GET: whether the queue they name was an enabled transmit or receive queue then. */
  dataQueue?: boolean;
  /** Bytes of command-specific result the driver gave room for (device-writable bytes before the ack). */
  resultRoom: number;
  /** MQ class: the transmit and receive queues the driver had enabled when the command came. */
  enabledQueues?: number[];
  /** MQ class: how many RSS contexts were configured when the command came. */
  rssContexts?: number;
}

/** What the reference device supports of RSS and hash reporting (spec 5.1.9.5.7, 5.1.9.5.8). */
export interface NetRssOptions {
  /** rss_max_key_size; default 40. */
  keySize?: number;
  /** rss_max_indirection_table_length; default 128. */
  tableLength?: number;
  /** supported_hash_types; default the six IPv4 and IPv6 types without extension headers. */
  hashTypes?: number;
  /** max_rss_contexts with VIRTIO_NET_F_RSS_CONTEXT (0: not offered); default 4. */
  contexts?: number;
  /** supported_tunnel_types with VIRTIO_NET_F_HASH_TUNNEL (0: not offered); default VXLAN and IPIP. */
  tunnels?: number;
}

/** Options of the reference network device. */
export interface NetOptions {
  queueSizeMax?: number;
  /** Queue pairs (max_virtqueue_pairs, VIRTIO_NET_F_MQ offered when more than 1); default 4. */
  pairs?: number;
  /** The MAC address in the configuration; default 52:54:00:12:34:56. */
  mac?: readonly number[];
  /** mtu with VIRTIO_NET_F_MTU; default 1500. */
  mtu?: number;
  /** RSS, HASH_REPORT and RSS_CONTEXT as described, or false to offer none of them; offered by default. */
  rss?: NetRssOptions | false;
}

const ETH_HEADER = 14;

/**
 * The reference virtio-net device function.
 *
 * @example
 * ```ts
 * import { NetFunction } from "./net.ts";
 * const net = new NetFunction();
 * console.log(net.deviceId, net.config[0].toString(16)); // 1 "52"
 * ```
 */
export class NetFunction implements DeviceFunction {
  readonly type = "net" as const;
  readonly deviceId = DEVICE_IDS.net;
  features: bigint = [
    NET_F.CSUM,
    NET_F.GUEST_CSUM,
    NET_F.MTU,
    NET_F.MAC,
    NET_F.MRG_RXBUF,
    NET_F.STATUS,
    NET_F.CTRL_VQ,
    NET_F.CTRL_RX,
    NET_F.CTRL_VLAN,
    NET_F.CTRL_RX_EXTRA,
    NET_F.GUEST_ANNOUNCE,
    NET_F.CTRL_MAC_ADDR,
    NET_F.SPEED_DUPLEX,
    NET_F.NOTF_COAL,
    NET_F.VQ_NOTF_COAL,
    NET_F.DEVICE_STATS,
    NET_F.CTRL_GUEST_OFFLOADS,
    NET_F.GUEST_TSO4,
    NET_F.GUEST_TSO6,
    NET_F.GUEST_ECN,
    NET_F.HOST_TSO4,
    NET_F.HOST_TSO6,
    NET_F.HOST_ECN,
    NET_F.GUEST_HDRLEN,
    NET_F.RSC_EXT,
    NET_F.HOST_USO,
    NET_F.HOST_UDP_TUNNEL_GSO,
    NET_F.HOST_UDP_TUNNEL_GSO_CSUM,
    NET_F.GUEST_USO4,
    NET_F.GUEST_USO6,
    NET_F.GUEST_UDP_TUNNEL_GSO,
    NET_F.GUEST_UDP_TUNNEL_GSO_CSUM,
    NET_F.OUT_NET_HEADER,
  ].reduce((m, b) => m | bit(b), 0n);
  readonly queueCount: number;
  /** max_virtqueue_pairs. */
  readonly pairs: number;
  /** Queue pairs in use (VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET; 1 after a reset). */
  activePairs = 1;
  /** The receive queue each received frame went to, in order (across resets). */
  readonly receivedOn: number[] = [];
  readonly config = new Uint8Array(28);
  readonly configLayout = NET_CONFIG_LAYOUT;
  /** Frames the driver transmitted, oldest first (kept across resets; the harness takes them). */
  readonly transmitted: Transmitted[] = [];
  /** Control commands since the function was made, across resets. */
  readonly controlLog: NetControlCommand[] = [];
  /** Flag bits a scenario adds to every received header (bits a driver must ignore when it does not know them). */
  extraReceiveFlags = 0;
  /** Header fields a scenario sets in every received header besides flags and num_buffers (e.g. csum_start). */
  extraReceiveHeader: Partial<NetHeader> = {};
  /** Called after every frame the driver transmitted (scenarios hook host-side changes on it). */
  onTransmit?: () => void;
  /** Frames dropped: no receive buffer could hold them, or the filter refused them. */
  dropped = 0;
  /** The device-writable bytes of every receive buffer the driver gave, in order (across resets). */
  readonly receiveBuffers: number[] = [];
  /** Receive buffers with a device-readable part (the driver's fault): held, never filled. */
  misplacedReceive = 0;
  promiscuous = true;
  allMulticast = false;
  /** The CTRL_RX_EXTRA modes. */
  allUnicast = false;
  noMulticast = false;
  noUnicast = false;
  noBroadcast = false;
  /** The VLAN filter table (CTRL_VLAN): VLAN ids whose tagged frames are received. */
  readonly vlans = new Set<number>();
  /** Coalescing parameters last set for all transmit and all receive queues (TX_SET, RX_SET; 0 after a reset). */
  coalesceTx: Coalescing = { usecs: 0, packets: 0 };
  coalesceRx: Coalescing = { usecs: 0, packets: 0 };
  /** Coalescing parameters in force per queue (VQ_SET, or TX_SET / RX_SET for every queue of the kind). */
  readonly coalesce = new Map<number, Coalescing>();
  /** Statistics per queue (packets and bytes passed on, drops), and of the control queue (commands, OK ones). */
  readonly stats = new Map<number, { packets: number; bytes: number; drops: number }>();
  controlCommands = 0;
  controlOk = 0;
  /** MAC filter table (CTRL_MAC_TABLE_SET): unicast and multicast entries. */
  macTable: { unicast: string[]; multicast: string[] } = { unicast: [], multicast: [] };
  /** What the device supports of RSS (undefined: RSS, HASH_REPORT and RSS_CONTEXT not offered). */
  readonly rssSupport: Required<NetRssOptions> | undefined;
  /** The RSS configuration last set (RSS_CONFIG; none after a reset). */
  rss: RssConfig | undefined;
  /** Hash types and key for hash reports without RSS (HASH_CONFIG; every type disabled after a reset). */
  hashConfig: { hashTypes: number; key: Uint8Array } = { hashTypes: 0, key: new Uint8Array(0) };
  /** The guest offloads in force, as GUEST_OFFLOADS_SET bits (every negotiated one until the driver sets them). */
  guestOffloads: bigint | undefined;
  /** Encapsulation types enabled for the inner header hash (HASH_TUNNEL_SET; none after a reset). */
  enabledTunnels = 0;
  /** RSS contexts by id (VIRTIO_NET_CTRL_RSS_CTX; none after a reset). */
  readonly rssContexts = new Map<number, RssConfig>();
  readonly #mac: readonly number[];
  /** The mtu the configuration shows after every reset (with VIRTIO_NET_F_MTU). */
  mtu: number;
  readonly #max: number;
  #host: FunctionHost | undefined;
  #negotiated = 0n;
  #inbox: Uint8Array[] = [];
  #draining: Promise<void> = Promise.resolve();
  #seq = 0;

  constructor(opts: NetOptions = {}) {
    this.#mac = opts.mac ?? [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];
    this.mtu = opts.mtu ?? 1500;
    this.pairs = Math.max(1, Math.min(0x8000, opts.pairs ?? 4));
    this.queueCount = 2 * this.pairs + 1;
    if (this.pairs > 1) this.features |= bit(NET_F.MQ);
    const rss = opts.rss ?? {};
    this.rssSupport = rss === false ? undefined : {
      keySize: rss.keySize ?? 40,
      tableLength: rss.tableLength ?? 128,
      hashTypes: rss.hashTypes ?? 0x3f,
      contexts: rss.contexts ?? 4,
      tunnels: rss.tunnels ?? (NetHashTunnel.VXLAN | NetHashTunnel.IPIP),
    };
    if (this.rssSupport) {
      this.features |= bit(NET_F.RSS) | bit(NET_F.HASH_REPORT);
      if (this.rssSupport.contexts > 0) this.features |= bit(NET_F.RSS_CONTEXT);
      if (this.rssSupport.tunnels !== 0) this.features |= bit(NET_F.HASH_TUNNEL);
    }
    this.#max = opts.queueSizeMax ?? 64;
    this.reset();
  }

  /** The flow filter objects of the administration virtqueue (PCI), once the core binds them. */
  protected ffObjects: AdminObjects | undefined;
  /**
   * The administration virtqueue (PCI): the flow filter capabilities and the group, classifier and rule objects
   * (spec 5.1.6.9); the rules in force steer received frames before RSS.
   */
  readonly admin: AdminFunction = withIpsec({
    ...flowFilterAdmin(referenceFfSupport(), () => this.pairs),
    bind: (objects) => this.setFfObjects(objects),
  });

  attach(host: FunctionHost): void {
    this.#host = host;
  }

  queueSizeMax(queue: number): number {
    return queue < this.queueCount ? this.#max : 0;
  }

  /** The device's current MAC address. */
  get mac(): number[] {
    return [...this.config.subarray(0, 6)];
  }

  /** Whether the link is up (the `status` field). */
  get linkUp(): boolean {
    return (le.u16(this.config, 6) & NET_S_LINK_UP) !== 0;
  }

  /** Sets the link state in `status` (the caller raises the configuration change). */
  setLink(up: boolean): void {
    le.setU16(this.config, 6, (le.u16(this.config, 6) & ~NET_S_LINK_UP) | (up ? NET_S_LINK_UP : 0));
  }

  /**
   * A host-side change: with GUEST_ANNOUNCE negotiated the device asks for an announcement (VIRTIO_NET_S_ANNOUNCE,
   * as after a migration), else the link goes down or up. The caller raises the configuration change.
   */
  hostChange(): void {
    if (((this.#host?.negotiated ?? this.#negotiated) & bit(NET_F.GUEST_ANNOUNCE)) !== 0n) {
      le.setU16(this.config, 6, le.u16(this.config, 6) | NET_S_ANNOUNCE);
    } else {
      this.setLink(!this.linkUp);
    }
  }

  /** Takes the frames put on the wire since the last take (the packets the driver sent, less those refused). */
  takeTransmitted(): Transmitted[] {
    return this.transmitted.splice(0).filter((t) => !t.refused);
  }

  /** A frame arrives from the wire: it is received into the driver's buffers, now or once it gives some. */
  inject(frame: Uint8Array): Promise<void> {
    if (this.#inbox.length < 1024) this.#inbox.push(frame.slice());
    return this.#drain();
  }

  async handle(queue: number, chain: ChainBuffer[], mem: GuestMemory, negotiated: bigint): Promise<HandleResult> {
    this.#negotiated = negotiated;
    const mq = (negotiated & bit(NET_F.MQ)) !== 0n;
    const ctrl = mq ? 2 * this.pairs : NET_CTRL;
    if (queue === ctrl && (negotiated & bit(NET_F.CTRL_VQ)) !== 0n) return await this.#control(chain, mem, negotiated);
    if (queue >= (mq ? 2 * this.pairs : 2)) {
      return { kind: "error", reason: `queue ${queue} is not in use with the negotiated features` };
    }
    if (queue % 2 === 0) {
      if (chain.some((b) => !b.writable)) this.misplacedReceive++;
      if (this.receiveBuffers.length < 4096) {
        this.receiveBuffers.push(chain.reduce((n, b) => n + (b.writable ? b.len : 0), 0));
      }
      return { kind: "hold" };
    }
    return await this.#transmit(queue, chain, mem, negotiated);
  }

  /**
   * The frames a transmitted packet puts on the wire: with a TCP segmentation request (gso_type TCPV4 or TCPV6, its
   * HOST_TSO feature negotiated, NEEDS_CSUM) the segments of at most gso_size bytes; else the frame itself, its
   * checksum completed when NEEDS_CSUM asks for it (flag bits the device does not know are ignored; csum_start and
   * csum_offset count only with NEEDS_CSUM).
   */
  protected onWire(header: NetHeader, frame: Uint8Array, negotiated: bigint): Uint8Array[] {
    const has = (f: number) => (negotiated & bit(f)) !== 0n;
    const gso = header.gsoType & 0x1f;
    const tunnel = header.gsoType & (NetGso.UDP_TUNNEL_IPV4 | NetGso.UDP_TUNNEL_IPV6);
    const partial = (header.flags & NetHdrFlag.NEEDS_CSUM) !== 0;
    if (tunnel !== 0 && partial && has(NET_F.HOST_UDP_TUNNEL_GSO)) {
      const segments = segmentTunnel(frame, header.gsoSize, gso === NetGso.UDP_L4, {
        outerThOffset: header.outerThOffset ?? 0,
        innerNhOffset: header.innerNhOffset ?? 0,
        outerChecksum: (header.flags & NetHdrFlag.UDP_TUNNEL_CSUM) !== 0 && has(NET_F.HOST_UDP_TUNNEL_GSO_CSUM),
      });
      if (segments) return segments;
    }
    const tso = (gso === NetGso.TCPV4 && has(NET_F.HOST_TSO4)) || (gso === NetGso.TCPV6 && has(NET_F.HOST_TSO6));
    if (tunnel === 0 && partial && tso) {
      // The headers are parsed, not taken from hdr_len.
      const segments = segmentTcp(frame, header.gsoSize);
      if (segments) return segments;
    }
    if (tunnel === 0 && partial && gso === NetGso.UDP_L4 && has(NET_F.HOST_USO)) {
      const segments = segmentUdp(frame, header.gsoSize);
      if (segments) return segments;
    }
    if ((header.flags & NetHdrFlag.NEEDS_CSUM) !== 0 && (negotiated & bit(NET_F.CSUM)) !== 0n) {
      completeChecksum(frame, header.csumStart, header.csumOffset);
    }
    return [frame];
  }

  /**
   * Whether the device takes a transmitted packet (spec 5.1.9.2.2): not with both UDP tunnel bits in gso_type; not
   * with a tunnel bit unless NEEDS_CSUM is set, DATA_VALID clear and a segmentation type given; not with
   * UDP_TUNNEL_CSUM but no tunnel bit. A packet refused is used and never reaches the wire.
   */
  protected acceptsTransmit(h: NetHeader): boolean {
    const tunnel = h.gsoType & (NetGso.UDP_TUNNEL_IPV4 | NetGso.UDP_TUNNEL_IPV6);
    if (tunnel === (NetGso.UDP_TUNNEL_IPV4 | NetGso.UDP_TUNNEL_IPV6)) return false;
    if (tunnel !== 0) {
      const malformed = (h.flags & NetHdrFlag.NEEDS_CSUM) === 0 || (h.flags & NetHdrFlag.DATA_VALID) !== 0 ||
        (h.gsoType & 0x1f) === NetGso.NONE;
      if (malformed) return false;
    }
    return (h.flags & NetHdrFlag.UDP_TUNNEL_CSUM) === 0 || tunnel !== 0;
  }

  afterHold(queue: number): Promise<void> {
    return queue % 2 === 0 && queue < 2 * this.pairs ? this.#drain() : Promise.resolve();
  }

  async #transmit(queue: number, chain: ChainBuffer[], mem: GuestMemory, negotiated: bigint): Promise<HandleResult> {
    const readable = chain.filter((b) => !b.writable);
    const bytes = await gather(mem, readable);
    const size = netHeaderSize(negotiated);
    if (bytes.length < size) return { kind: "used", written: 0 };
    const header = decodeNetHeader(bytes, size);
    const frame = bytes.slice(size);
    const record = { header, length: bytes.length, writableBuffer: chain.some((b) => b.writable), queue };
    if (!this.acceptsTransmit(header)) {
      // Kept for the driver clauses (what the driver sent), never put on the wire.
      if (this.transmitted.length < 4096) this.transmitted.push({ ...record, frame, refused: true, seq: this.#seq++ });
      return { kind: "used", written: 0 };
    }
    const partial = (header.flags & NetHdrFlag.NEEDS_CSUM) !== 0 ? frame.slice() : undefined;
    for (const out of this.onWire(header, frame, negotiated)) {
      this.#count(queue, out.length);
      if (this.transmitted.length >= 4096) break;
      this.transmitted.push({ ...record, frame: out, ...(partial ? { partial } : {}), seq: this.#seq++ });
    }
    this.onTransmit?.();
    return { kind: "used", written: 0 };
  }

  async #control(chain: ChainBuffer[], mem: GuestMemory, negotiated: bigint): Promise<HandleResult> {
    const out = await gather(mem, chain.filter((b) => !b.writable));
    const writable = chain.filter((b) => b.writable);
    const room = writable.reduce((n, b) => n + b.len, 0);
    if (out.length < 2 || room === 0) return { kind: "error", reason: "control command without class, command or ack" };
    const cls = out[0]!;
    const command = out[1]!;
    const data = out.slice(2);
    // A command with a result (VQ_GET) answers in the device-writable bytes before the ack, the last of them.
    this.controlCommands++;
    const contextsBefore = this.rssContexts.size;
    const result = this.query(cls, command, data, negotiated, room - 1);
    const ok = result === undefined
      ? this.command(cls, command, data, negotiated)
      : result !== false && result.length + 1 <= room;
    const ack = ok ? NetCtrl.OK : NetCtrl.ERR;
    const perQueue = cls === NetCtrl.NOTF_COAL && command >= NetCtrl.NOTF_COAL_VQ_SET && data.length >= 2;
    if (this.controlLog.length < 1000) {
      this.controlLog.push({
        seq: this.#seq++,
        cls,
        command,
        data,
        ack,
        negotiated,
        resultRoom: room - 1,
        ...(cls === NetCtrl.MQ ? { enabledQueues: this.#enabledDataQueues(), rssContexts: contextsBefore } : {}),
        ...(perQueue ? { dataQueue: this.dataQueue(le.u16(data, 0)) } : {}),
      });
    }
    if (ok) this.controlOk++;
    if (result === undefined) {
      await scatter(mem, writable, new Uint8Array([ack]));
      return { kind: "used", written: 1 };
    }
    // The result, then the ack in the last device-writable byte; nothing in between is written.
    if (ok && result) await scatter(mem, writable, result);
    const last = writable[writable.length - 1]!;
    await mem.write(last.addr + last.len - 1, new Uint8Array([ack]));
    return { kind: "used", written: room };
  }

  /**
   * A command that answers with data: its result, false when it is refused, undefined for a command that has no
   * result (see {@link command}).
   */
  protected query(
    cls: number,
    command: number,
    data: Uint8Array,
    negotiated: bigint,
    room: number,
  ): Uint8Array | false | undefined {
    if (cls === NetCtrl.STATS) return this.statistics(command, data, negotiated, room);
    if (cls === RssContextCtrl.CLASS && command === RssContextCtrl.CAP_GET) {
      if (!(negotiated & bit(NET_F.RSS_CONTEXT)) || data.length !== 0) return false;
      const out = new Uint8Array(2);
      le.setU16(out, 0, this.rssSupport?.contexts ?? 0);
      return out;
    }
    if (cls !== NetCtrl.NOTF_COAL || command !== NetCtrl.NOTF_COAL_VQ_GET) return undefined;
    if (!(negotiated & bit(NET_F.VQ_NOTF_COAL)) || data.length !== 4) return false;
    const vq = le.u16(data, 0);
    if (!this.dataQueue(vq)) return false;
    const c = this.coalesce.get(vq) ?? { usecs: 0, packets: 0 };
    const out = new Uint8Array(8);
    le.setU32(out, 0, c.usecs);
    le.setU32(out, 4, c.packets);
    return out;
  }

  /**
   * Whether `vq` is an enabled transmit or receive queue: not the control queue, not beyond the pairs (one pair
   * without VIRTIO_NET_F_MQ).
   */
  protected dataQueue(vq: number): boolean {
    const pairs = (this.#negotiated & bit(NET_F.MQ)) !== 0n ? this.pairs : 1;
    return vq < 2 * pairs && (this.#host?.queueEnabled(vq) ?? false);
  }

  #enabledDataQueues(): number[] {
    return Array.from({ length: 2 * this.pairs }, (_, q) => q).filter((q) => this.#host?.queueEnabled(q));
  }

  /** The coalescing commands that set parameters (TX_SET, RX_SET, VQ_SET); false for one refused. */
  protected setCoalescing(command: number, data: Uint8Array, negotiated: bigint): boolean {
    const has = (f: number) => (negotiated & bit(f)) !== 0n;
    const params = (at: number): Coalescing => ({ usecs: le.u32(data, at), packets: le.u32(data, at + 4) });
    if (command === NetCtrl.NOTF_COAL_TX_SET || command === NetCtrl.NOTF_COAL_RX_SET) {
      if (!has(NET_F.NOTF_COAL) || data.length !== 8) return false;
      const tx = command === NetCtrl.NOTF_COAL_TX_SET;
      const c = params(0);
      if (tx) this.coalesceTx = c;
      else this.coalesceRx = c;
      for (let q = tx ? 1 : 0; q < 2 * this.pairs; q += 2) this.coalesce.set(q, { ...c });
      return true;
    }
    if (command === NetCtrl.NOTF_COAL_VQ_SET) {
      // vq_index, then reserved (ignored), then the parameters.
      if (!has(NET_F.VQ_NOTF_COAL) || data.length !== 12) return false;
      const vq = le.u16(data, 0);
      if (!this.dataQueue(vq)) return false;
      this.coalesce.set(vq, params(4));
      return true;
    }
    return false;
  }

  #count(queue: number, bytes: number): void {
    const s = this.stats.get(queue) ?? { packets: 0, bytes: 0, drops: 0 };
    s.packets++;
    s.bytes += bytes;
    this.stats.set(queue, s);
  }

  /** The statistic types this device supports: the control queue's and the basic ones of each data queue. */
  readonly statsTypes: bigint = STATS_TYPE.CVQ | STATS_TYPE.RX_BASIC | STATS_TYPE.TX_BASIC;

  /**
   * VIRTIO_NET_CTRL_STATS (spec 5.1.9.5.11): QUERY answers the supported types; GET the replies for each
   * (vq_index, types_bitmap) asked, in order, as far as `room` holds them, or false for a request with any error.
   */
  protected statistics(command: number, data: Uint8Array, negotiated: bigint, room: number): Uint8Array | false {
    if (!(negotiated & bit(NET_F.DEVICE_STATS))) return false;
    if (command === NetCtrl.STATS_QUERY) {
      const out = new Uint8Array(8);
      le.setU64(out, 0, Number(this.statsTypes));
      return data.length === 0 ? out : false;
    }
    if (command !== NetCtrl.STATS_GET || data.length === 0 || data.length % 16 !== 0) return false;
    const pairs = (negotiated & bit(NET_F.MQ)) !== 0n ? this.pairs : 1;
    const ctrl = 2 * pairs;
    const replies: Uint8Array[] = [];
    for (let at = 0; at < data.length; at += 16) {
      const vq = le.u16(data, at);
      const types = BigInt(le.u32(data, at + 8)) | (BigInt(le.u32(data, at + 12)) << 32n);
      if (vq > ctrl || (negotiated & bit(NET_F.CTRL_VQ)) === 0n && vq === ctrl) return false;
      const valid = vq === ctrl ? STATS_TYPE.CVQ : vq % 2 === 0 ? STATS_RX_TYPES : STATS_TX_TYPES;
      if (types === 0n || (types & ~valid) !== 0n || (types & ~this.statsTypes) !== 0n) return false;
      replies.push(this.statsReply(vq, vq === ctrl ? 32 : vq % 2 === 0 ? 0 : 16));
    }
    const all = new Uint8Array(replies.reduce((n, r) => n + r.length, 0));
    let off = 0;
    for (const r of replies) {
      all.set(r, off);
      off += r.length;
    }
    // Only what the driver's buffer holds: the device writes no byte past the replies, nor past the buffer.
    return all.subarray(0, Math.min(all.length, room));
  }

  /** One statistics reply: the header (type, vq_index, size), then the counters. */
  protected statsReply(vq: number, type: number): Uint8Array {
    const s = this.stats.get(vq) ?? { packets: 0, bytes: 0, drops: 0 };
    const counters = type === 32 ? [this.controlCommands, this.controlOk] : [0, s.packets, s.bytes, 0, s.drops, 0];
    const out = new Uint8Array(8 + 8 * counters.length);
    out[0] = type;
    le.setU16(out, 2, vq);
    le.setU16(out, 6, out.length);
    counters.forEach((v, i) => le.setU64(out, 8 + 8 * i, v));
    return out;
  }

  /** A transmit or receive queue reset on its own takes the parameters last set for its kind (5.1.9.5.10.6). */
  queueReset(queue: number): void {
    if (queue >= 2 * this.pairs) return;
    this.coalesce.set(queue, { ...(queue % 2 === 1 ? this.coalesceTx : this.coalesceRx) });
  }

  /** Carries out one control command; false for one the device refuses. */
  protected command(cls: number, command: number, data: Uint8Array, negotiated: bigint): boolean {
    const has = (f: number) => (negotiated & bit(f)) !== 0n;
    if (cls === NetCtrl.RX && has(NET_F.CTRL_RX)) {
      if (data.length !== 1 || command > NetCtrl.RX_NOBCAST) return false;
      if (command > NetCtrl.RX_ALLMULTI && !has(NET_F.CTRL_RX_EXTRA)) return false;
      const on = data[0] !== 0;
      if (command === NetCtrl.RX_PROMISC) this.promiscuous = on;
      else if (command === NetCtrl.RX_ALLMULTI) this.allMulticast = on;
      else if (command === NetCtrl.RX_ALLUNI) this.allUnicast = on;
      else if (command === NetCtrl.RX_NOMULTI) this.noMulticast = on;
      else if (command === NetCtrl.RX_NOUNI) this.noUnicast = on;
      else this.noBroadcast = on;
      return true;
    }
    if (cls === NetCtrl.NOTF_COAL) return this.setCoalescing(command, data, negotiated);
    if (cls === NetCtrl.MQ && command === NetMqCommand.RSS_CONFIG && has(NET_F.RSS)) {
      const c = this.#rssConfig(data, negotiated);
      if (c) this.rss = c;
      return c !== undefined;
    }
    if (cls === NetCtrl.MQ && command === NetMqCommand.HASH_CONFIG && has(NET_F.HASH_REPORT)) {
      // hash_types, reserved[4] (zero), hash_key_length, the key.
      if (data.length < 13 || data.length !== 13 + data[12]! || data.subarray(4, 12).some((b) => b !== 0)) return false;
      const hashTypes = le.u32(data, 0);
      if ((hashTypes & ~(this.rssSupport?.hashTypes ?? 0)) !== 0 || data[12]! > this.rssSupport!.keySize) return false;
      this.hashConfig = { hashTypes, key: data.slice(13) };
      return true;
    }
    if (cls === RssContextCtrl.CLASS && has(NET_F.RSS_CONTEXT)) return this.#rssContext(command, data, negotiated);
    if (cls === HashTunnelCtrl.CLASS && command === HashTunnelCtrl.SET && has(NET_F.HASH_TUNNEL)) {
      // Types the device does not support are refused.
      if (data.length !== 4) return false;
      const types = le.u32(data, 0);
      if ((types & ~(this.rssSupport?.tunnels ?? 0)) !== 0) return false;
      this.enabledTunnels = types;
      return true;
    }
    if (cls === NetCtrl.GUEST_OFFLOADS && command === NetCtrl.GUEST_OFFLOADS_SET && has(NET_F.CTRL_GUEST_OFFLOADS)) {
      // Only offloads whose feature was negotiated can be switched on.
      if (data.length !== 8) return false;
      const offloads = BigInt(le.u32(data, 0)) | (BigInt(le.u32(data, 4)) << 32n);
      for (let b = 0n; b < 64n; b++) {
        if (!(offloads & (1n << b))) continue;
        const f = GUEST_OFFLOAD_FEATURES[Number(b)];
        if (f === undefined || !has(f)) return false;
      }
      this.guestOffloads = offloads;
      return true;
    }
    if (cls === NetCtrl.MQ && command === NetCtrl.MQ_VQ_PAIRS_SET && has(NET_F.MQ)) {
      if (data.length !== 2) return false;
      const n = le.u16(data, 0);
      if (n < 1 || n > this.pairs) return false;
      this.activePairs = n;
      return true;
    }
    if (cls === NetCtrl.ANNOUNCE && command === NetCtrl.ANNOUNCE_ACK && has(NET_F.GUEST_ANNOUNCE)) {
      // Cleared before the command is used (5.1.9.5.4.2).
      le.setU16(this.config, 6, le.u16(this.config, 6) & ~NET_S_ANNOUNCE);
      return data.length === 0;
    }
    if (cls === NetCtrl.VLAN && has(NET_F.CTRL_VLAN)) {
      if (data.length !== 2 || command > NetCtrl.VLAN_DEL) return false;
      const vid = le.u16(data, 0);
      if (vid >= 4096) return false;
      if (command === NetCtrl.VLAN_ADD) this.vlans.add(vid);
      else this.vlans.delete(vid);
      return true;
    }
    if (cls === NetCtrl.MAC && command === NetCtrl.MAC_ADDR_SET && has(NET_F.CTRL_MAC_ADDR)) {
      if (data.length !== 6) return false;
      this.config.set(data, 0);
      return true;
    }
    if (cls === NetCtrl.MAC && command === NetCtrl.MAC_TABLE_SET && has(NET_F.CTRL_RX)) {
      const tables: string[][] = [];
      let off = 0;
      for (let t = 0; t < 2; t++) {
        if (off + 4 > data.length) return false;
        const n = le.u32(data, off);
        off += 4;
        if (off + 6 * n > data.length) return false;
        tables.push(Array.from({ length: n }, (_, i) => macText(data.subarray(off + 6 * i, off + 6 * i + 6))));
        off += 6 * n;
      }
      if (off !== data.length) return false;
      this.macTable = { unicast: tables[0]!, multicast: tables[1]! };
      return true;
    }
    return false;
  }

  /**
   * An RSS configuration the device accepts, or undefined: a power-of-two table no longer than it supports, queue ids
   * with the reserved bit clear naming enabled receive queues, hash types it supports, a key no longer than its
   * maximum, and max_tx_vq naming at most the pairs it has.
   */
  #rssConfig(data: Uint8Array, negotiated: bigint): RssConfig | undefined {
    const s = this.rssSupport;
    const c = decodeRssConfig(data);
    if (!s || !c) return undefined;
    const entries = c.tableMask + 1;
    if ((entries & c.tableMask) !== 0 || entries > s.tableLength) return undefined;
    const pairs = (negotiated & bit(NET_F.MQ)) !== 0n ? this.pairs : 1;
    const usable = (id: number) => id < pairs && (this.#host?.queueEnabled(2 * id) ?? false);
    if (!c.table.every(usable) || !usable(c.unclassified)) return undefined;
    if ((c.hashTypes & ~s.hashTypes) !== 0 || c.key.length > s.keySize) return undefined;
    if (c.maxTxVq < 1 || c.maxTxVq > pairs) return undefined;
    return c;
  }

  /** VIRTIO_NET_CTRL_RSS_CTX ADD, MOD and DEL (CAP_GET answers in {@link query}). */
  #rssContext(command: number, data: Uint8Array, negotiated: bigint): boolean {
    const max = this.rssSupport?.contexts ?? 0;
    if (data.length < 2) return false;
    const id = le.u16(data, 0);
    if (id < 1 || id > max) return false;
    if (command === RssContextCtrl.DEL) return data.length === 2 && this.rssContexts.delete(id);
    if (command !== RssContextCtrl.ADD && command !== RssContextCtrl.MOD) return false;
    if (this.rssContexts.has(id) !== (command === RssContextCtrl.MOD) || data.length < 8) return false;
    const c = this.#rssConfig(data.subarray(8), negotiated);
    if (c) this.rssContexts.set(id, c);
    return c !== undefined;
  }

  /**
   * Whether the receive filters let a frame through (spec 5.1.9.5.1–5.1.9.5.3): a VLAN-tagged frame only for a VLAN
   * in the table once CTRL_VLAN is negotiated; then promiscuous mode takes everything, else broadcast, multicast and
   * unicast each by their modes, the device's MAC and the MAC table.
   */
  accepts(frame: Uint8Array): boolean {
    if (frame.length < ETH_HEADER) return false;
    if ((this.#negotiated & bit(NET_F.CTRL_VLAN)) !== 0n && frame[12] === 0x81 && frame[13] === 0x00) {
      if (frame.length < ETH_HEADER + 4 || !this.vlans.has(((frame[14]! << 8) | frame[15]!) & 0xfff)) return false;
    }
    if (this.promiscuous) return true;
    const dest = frame.subarray(0, 6);
    if (dest.every((b) => b === 0xff)) return !this.noBroadcast;
    const text = macText(dest);
    if ((dest[0]! & 1) !== 0) {
      return !this.noMulticast && (this.allMulticast || this.macTable.multicast.includes(text));
    }
    if (this.noUnicast) return false;
    return this.allUnicast || text === macText(this.config.subarray(0, 6)) || this.macTable.unicast.includes(text);
  }

  /** Receives waiting frames into held buffers, one drain at a time. */
  #drain(): Promise<void> {
    const next = this.#draining.then(() => this.#drainNow());
    this.#draining = next.catch(() => {});
    return next;
  }

  async #drainNow(): Promise<void> {
    const host = this.#host;
    if (!host) return;
    const size = netHeaderSize(this.#negotiated);
    const merge = (this.#negotiated & bit(NET_F.MRG_RXBUF)) !== 0n;
    while (this.#inbox.length > 0) {
      const frame = this.#inbox[0]!;
      if (!this.accepts(frame)) {
        this.#inbox.shift();
        this.dropped++;
        continue;
      }
      if (this.tooLong(frame)) {
        // Longer than mtu allows: never passed to a driver that negotiated VIRTIO_NET_F_MTU.
        this.#inbox.shift();
        this.dropped++;
        continue;
      }
      const rx = this.route(frame);
      if (rx === "drop") {
        this.#inbox.shift();
        this.dropped++;
        continue;
      }
      const sizes = host.heldSizes(rx);
      if (sizes.length === 0) return;
      // Consecutive segments of one TCP flow for the same queue may go to the driver as one packet.
      const run: Uint8Array[] = [];
      for (const f of this.#inbox.slice(0, 64)) {
        if (!this.accepts(f) || this.tooLong(f) || this.route(f) !== rx) break;
        run.push(f);
      }
      const lro = this.receiveOffload(run);
      const fits = lro !== undefined && (merge || sizes[0]! >= size + lro.frame.length);
      const packet = fits ? lro.frame : frame;
      const total = size + packet.length;
      const pieces = this.spread(total, sizes, merge);
      if (pieces === "wait") return;
      this.#inbox.splice(0, fits ? lro.segments : 1);
      if (pieces === "drop") {
        // Too small for the frame: the frame is dropped (the buffer stays held for the next one).
        this.dropped++;
        continue;
      }
      const data = new Uint8Array(total);
      data.set(this.receiveHeader(pieces.length, size, packet, fits ? this.offloadHeader(lro) : undefined));
      data.set(packet, size);
      let off = 0;
      if (this.receivedOn.length < 4096) this.receivedOn.push(rx);
      this.#count(rx, packet.length);
      for (const n of pieces) {
        await host.deliver(rx, data.subarray(off, off + n));
        off += n;
      }
    }
  }

  /**
   * Receive segment coalescing (GUEST_TSO4 / GUEST_TSO6 negotiated and not switched off by GUEST_OFFLOADS_SET):
   * the packet the leading frames of `frames` make, or undefined to pass the first on alone.
   */
  protected receiveOffload(frames: Uint8Array[]): Coalesced | undefined {
    const on = (f: number, offload: bigint) =>
      (this.#negotiated & bit(f)) !== 0n && (this.guestOffloads === undefined || (this.guestOffloads & offload) !== 0n);
    const v4 = on(NET_F.GUEST_TSO4, 1n << 7n);
    const v6 = on(NET_F.GUEST_TSO6, 1n << 8n);
    if ((!v4 && !v6) || frames.length < 2) return undefined;
    const opts = { v4, v6, ecn: on(NET_F.GUEST_ECN, 1n << 9n) };
    if (on(NET_F.GUEST_UDP_TUNNEL_GSO, 1n << 46n)) {
      const c = coalesceVxlan(frames, opts);
      if (c) {
        // With GUEST_UDP_TUNNEL_GSO_CSUM the outer UDP checksum is left for the driver: its pseudo-header sum.
        if (on(NET_F.GUEST_UDP_TUNNEL_GSO_CSUM, 1n << 47n)) {
          const outer = transportOf(c.frame)!;
          const sum = pseudoHeaderSum(c.frame, outer);
          c.frame.set([sum >> 8, sum & 0xff], outer.start + 6);
          c.tunnel!.outerCsum = true;
        }
        return c;
      }
    }
    return coalesceTcp(frames, opts);
  }

  /**
   * The header fields of a coalesced packet (spec 5.1.9.4.1): NEEDS_CSUM, the GSO type with ECN, MSS and offsets; with
   * RSC_EXT negotiated RSC_INFO too, csum_start the number of segments coalesced and csum_offset the duplicate
   * acknowledgements among them (none: a duplicate carries no payload and is never coalesced).
   */
  protected offloadHeader(c: Coalesced): Partial<NetHeader> {
    const rsc = (this.#negotiated & bit(NET_F.RSC_EXT)) !== 0n;
    const t = c.tunnel;
    const outerCsum = t?.outerCsum === true;
    return {
      flags: NetHdrFlag.NEEDS_CSUM | (rsc ? NetHdrFlag.RSC_INFO : 0) | (outerCsum ? NetHdrFlag.UDP_TUNNEL_CSUM : 0),
      gsoType: (c.v6 ? NetGso.TCPV6 : NetGso.TCPV4) | (c.cwr ? NetGso.ECN : 0) |
        (t ? (t.innerV4 ? NetGso.UDP_TUNNEL_IPV4 : NetGso.UDP_TUNNEL_IPV6) : 0),
      ...(t ? { outerThOffset: t.outerThOffset, innerNhOffset: t.innerNhOffset } : {}),
      gsoSize: c.mss,
      hdrLen: c.hdrLen,
      csumStart: rsc ? c.segments : c.csumStart,
      csumOffset: rsc ? 0 : c.csumOffset,
    };
  }

  /**
   * Where a frame the receive filters accepted goes (spec 5.1.9.6.4): the flow filter rules first (a rule's drop, or
   * its receive queue, dropped when that queue is being reset); when no rule matched, the queue RSS or the pairs in
   * use pick ({@link receiveQueueFor}).
   */
  protected route(frame: Uint8Array): number | "drop" {
    const ff = this.ffObjects ? this.flowFilter(this.ffObjects, frame) : undefined;
    if (ff?.action === "drop") return "drop";
    if (ff?.action === "queue") return (this.#host?.queueEnabled(ff.vq) ?? true) ? ff.vq : "drop";
    const rx = this.receiveQueueFor(frame);
    return this.dropForReset(rx) ? "drop" : rx;
  }

  /** Binds the administration virtqueue's live objects (the flow filter rules this device applies). */
  setFfObjects(objects: AdminObjects): void {
    this.ffObjects = objects;
  }

  /** What the flow filter rules in `objects` do with `frame` ({@link flowFilterOutcome}). */
  protected flowFilter(objects: AdminObjects, frame: Uint8Array): FfOutcome {
    return flowFilterOutcome(objects, frame);
  }

  /**
   * The receive queue a frame goes to: with RSS configured the one RSS picks (spec 5.1.9.5.7.3); else receiveq1
   * until VQ_PAIRS_SET, then one of the pairs in use chosen by the frame's flow (its source address and first
   * payload bytes), so one flow keeps its queue.
   */
  protected receiveQueueFor(frame: Uint8Array): number {
    if (this.#steeredByRss()) return 2 * rssReceiveQueue(this.rss!, frame, this.tunnelsInForce());
    if (this.activePairs <= 1) return NET_RX;
    let h = 0;
    for (let i = 6; i < Math.min(frame.length, 30); i++) if (i < 12 || i >= 14) h = (h * 31 + frame[i]!) >>> 0;
    return 2 * (h % this.activePairs);
  }

  /**
   * Whether a frame for receive queue `rx` is dropped because RSS chose it while it is being reset (reset and not yet
   * enabled again; spec 5.1.9.5.7.3).
   */
  protected dropForReset(rx: number): boolean {
    return this.#steeredByRss() && !(this.#host?.queueEnabled(rx) ?? true);
  }

  /** The encapsulation types the inner header hash looks through: those enabled, with HASH_TUNNEL negotiated. */
  protected tunnelsInForce(): number {
    return (this.#negotiated & bit(NET_F.HASH_TUNNEL)) !== 0n ? this.enabledTunnels : 0;
  }

  /** True once RSS is negotiated and configured: RSS picks each frame's receive queue. */
  #steeredByRss(): boolean {
    return this.rss !== undefined && (this.#negotiated & bit(NET_F.RSS)) !== 0n;
  }

  /** True when a received frame is longer than a driver that negotiated VIRTIO_NET_F_MTU may be given. */
  protected tooLong(frame: Uint8Array): boolean {
    return (this.#negotiated & bit(NET_F.MTU)) !== 0n && frame.length > le.u16(this.config, 10) + ETH_HEADER;
  }

  /**
   * How a received packet of `total` bytes (header included) goes into the held buffers of `sizes` bytes: the bytes
   * for each buffer it takes, "wait" for more buffers, or "drop". Without merging, one buffer that holds it all;
   * with merging, every buffer but the last filled.
   */
  protected spread(total: number, sizes: readonly number[], merge: boolean): number[] | "wait" | "drop" {
    if (!merge) return sizes[0]! >= total ? [total] : "drop";
    const out: number[] = [];
    let left = total;
    for (const room of sizes) {
      if (left === 0) break;
      const n = Math.min(room, left);
      out.push(n);
      left -= n;
    }
    return left > 0 ? "wait" : out;
  }

  /**
   * The header of a received packet that takes `buffers` buffers: num_buffers, and with GUEST_CSUM negotiated
   * DATA_VALID for an IPv4/UDP frame whose checksum the device checked and found right; with HASH_REPORT the hash
   * and its type (the RSS configuration's types and key with RSS negotiated, else HASH_CONFIG's); every other field
   * 0.
   */
  protected receiveHeader(
    buffers: number,
    size: number,
    frame?: Uint8Array,
    offload?: Partial<NetHeader>,
  ): Uint8Array {
    const csum = (this.#negotiated & bit(NET_F.GUEST_CSUM)) !== 0n &&
      (this.guestOffloads === undefined || (this.guestOffloads & 2n) !== 0n);
    const valid = csum && offload === undefined && frame !== undefined && udpChecksumOk(frame) === true;
    const flags = (valid ? NetHdrFlag.DATA_VALID : 0) | (offload?.flags ?? 0) | this.extraReceiveFlags |
      (this.extraReceiveHeader.flags ?? 0);
    const nh = size >= 32 && frame !== undefined ? { outerNhOffset: this.networkHeaderOffset(frame) } : {};
    const out = encodeNetHeader({ ...nh, ...this.extraReceiveHeader, ...offload, numBuffers: buffers, flags }, size);
    if (size >= 20 && frame !== undefined) {
      const params = (this.#negotiated & bit(NET_F.RSS)) !== 0n ? this.rss : this.hashConfig;
      const h = params ? packetHash(frame, params.hashTypes, params.key, this.tunnelsInForce()) : undefined;
      if (h) {
        le.setU32(out, 12, h.hash);
        le.setU16(out, 16, h.report);
      }
    }
    return out;
  }

  /**
   * outer_nh_offset for a received frame (OUT_NET_HEADER): where its IPv4 or IPv6 header starts when it has a valid
   * one (after an 802.1Q tag, if any), else 0.
   */
  protected networkHeaderOffset(frame: Uint8Array): number {
    const at = frame.length >= 18 && frame[12] === 0x81 && frame[13] === 0x00 ? 16 : 12;
    const type = ((frame[at] ?? 0) << 8) | (frame[at + 1] ?? 0);
    const ip = at + 2;
    if (type === 0x0800 && frame.length >= ip + 20 && frame[ip]! >> 4 === 4 && (frame[ip]! & 0x0f) >= 5) return ip;
    if (type === 0x86dd && frame.length >= ip + 40 && frame[ip]! >> 4 === 6) return ip;
    return 0;
  }

  reset(): void {
    this.config.fill(0);
    this.config.set(this.#mac, 0);
    this.setLink(true);
    le.setU16(this.config, 8, this.pairs);
    this.activePairs = 1;
    le.setU16(this.config, 10, this.mtu);
    le.setU32(this.config, 12, 1000);
    this.config[16] = 0x00;
    this.promiscuous = true;
    this.allMulticast = false;
    this.allUnicast = false;
    this.noMulticast = false;
    this.noUnicast = false;
    this.noBroadcast = false;
    this.vlans.clear();
    this.macTable = { unicast: [], multicast: [] };
    this.coalesceTx = { usecs: 0, packets: 0 };
    this.coalesceRx = { usecs: 0, packets: 0 };
    this.coalesce.clear();
    this.rss = undefined;
    this.guestOffloads = undefined;
    this.enabledTunnels = 0;
    this.hashConfig = { hashTypes: 0, key: new Uint8Array(0) };
    this.rssContexts.clear();
    if (this.rssSupport) {
      this.config[17] = this.rssSupport.keySize;
      le.setU16(this.config, 18, this.rssSupport.tableLength);
      le.setU32(this.config, 20, this.rssSupport.hashTypes);
      le.setU32(this.config, 24, this.rssSupport.tunnels);
    }
    this.#inbox = [];
    this.#negotiated = 0n;
  }
}

/** Statistic types (the bits of types_bitmap) the reference device knows. */
export const STATS_TYPE = {
  RX_BASIC: 1n << 0n,
  RX_CSUM: 1n << 1n,
  RX_GSO: 1n << 2n,
  RX_SPEED: 1n << 3n,
  TX_BASIC: 1n << 16n,
  TX_CSUM: 1n << 17n,
  TX_GSO: 1n << 18n,
  TX_SPEED: 1n << 19n,
  CVQ: 1n << 32n,
} as const;

/** Every receive statistic type, and every transmit one (the types valid for a queue of that kind). */
export const STATS_RX_TYPES: bigint = STATS_TYPE.RX_BASIC | STATS_TYPE.RX_CSUM | STATS_TYPE.RX_GSO |
  STATS_TYPE.RX_SPEED;
export const STATS_TX_TYPES: bigint = STATS_TYPE.TX_BASIC | STATS_TYPE.TX_CSUM | STATS_TYPE.TX_GSO |
  STATS_TYPE.TX_SPEED;

/** Bytes of each statistics reply (header included), by the bit number of its type (spec 5.1.9.5.11). */
export const STATS_REPLY_BYTES: Readonly<Record<number, number>> = {
  0: 56,
  1: 24,
  2: 56,
  3: 24,
  16: 56,
  17: 24,
  18: 56,
  19: 24,
  32: 24,
};

/** Notification coalescing parameters of a queue (struct virtio_net_ctrl_coal). */
export interface Coalescing {
  usecs: number;
  packets: number;
}

/** `aa:bb:cc:dd:ee:ff`. */
export function macText(b: ArrayLike<number>): string {
  return Array.from({ length: 6 }, (_, i) => (b[i] ?? 0).toString(16).padStart(2, "0")).join(":");
}

/**
 * `admin` with the reference device's IPsec SA capabilities and objects added (4 SAs each way, ESP modes; SAs are
 * kept, packets are not processed).
 */
export function withIpsec(admin: AdminFunction): AdminFunction {
  const ipsec = ipsecAdmin({ inbound: 4, outbound: 4 }, referenceIpsecModes());
  return {
    ...admin,
    capabilities: [...admin.capabilities, ...ipsec.capabilities],
    resources: [...admin.resources, ...ipsec.resources],
  };
}
