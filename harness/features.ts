/**
 * The feature-bit catalogue of spec v1.4-cs01: which bits are defined, for
 * which device types and transports, and which features depend on others
 * (spec 2.2 and chapter 6). Feature sets are `bigint` bit masks.
 *
 * @module
 */

/**
 * A transport a feature or clause can be limited to: virtio-mmio version 2,
 * the legacy virtio-mmio (version 1) interface, virtio over PCI (modern
 * interface of modern and transitional devices), channel I/O.
 */
export type TransportKind = "mmio" | "mmio-legacy" | "pci" | "ccw";

/** The transports the harness speaks in both roles. */
export const HARNESS_TRANSPORTS: readonly TransportKind[] = ["mmio", "pci", "mmio-legacy"];

/** One defined feature bit. */
export interface FeatureInfo {
  bit: number;
  name: string;
  /** `core` for device-independent bits (chapter 6), else the device type name. */
  scope: "core" | DeviceTypeName;
  /** Transports the feature is defined for; absent means every transport. */
  transports?: TransportKind[];
  /** Conjunction of alternatives: every inner list needs one accepted member. */
  requires?: number[][];
  /** Only meaningful for the legacy interface; a modern device must not offer it. */
  legacyOnly?: boolean;
}

/**
 * Device types as the suite sees them: the four it models (spec 5.1–5.4), and `other`, any other virtio device
 * (balloon, SCSI, GPU, vsock, …), which the suite judges on the clauses every virtio device obeys: status, feature
 * negotiation on the device-independent bits, reset, configuration generation, the transport and its queues.
 */
export type DeviceTypeName = "net" | "blk" | "console" | "rng" | "other";

/** The device types the suite models. */
export type ModelledDeviceType = Exclude<DeviceTypeName, "other">;

/** Virtio device IDs (spec 5) of the modelled types. */
export const DEVICE_IDS: Record<ModelledDeviceType, number> = { net: 1, blk: 2, console: 3, rng: 4 };

/** The suite's name for the device type with virtio device ID `id` (0, no device: undefined). */
export function deviceTypeOfId(id: number): DeviceTypeName | undefined {
  if (!Number.isInteger(id) || id <= 0) return undefined;
  return (Object.keys(DEVICE_IDS) as ModelledDeviceType[]).find((t) => DEVICE_IDS[t] === id) ?? "other";
}

/** Device-independent feature bits. */
export const F = {
  INDIRECT_DESC: 28,
  EVENT_IDX: 29,
  VERSION_1: 32,
  ACCESS_PLATFORM: 33,
  RING_PACKED: 34,
  IN_ORDER: 35,
  ORDER_PLATFORM: 36,
  SR_IOV: 37,
  NOTIFICATION_DATA: 38,
  NOTIF_CONFIG_DATA: 39,
  RING_RESET: 40,
  ADMIN_VQ: 41,
  SUSPEND: 43,
} as const;

/** virtio-blk feature bits (spec 5.2.3). */
export const BLK_F = {
  SIZE_MAX: 1,
  SEG_MAX: 2,
  GEOMETRY: 4,
  RO: 5,
  BLK_SIZE: 6,
  FLUSH: 9,
  TOPOLOGY: 10,
  CONFIG_WCE: 11,
  MQ: 12,
  DISCARD: 13,
  WRITE_ZEROES: 14,
  LIFETIME: 15,
  SECURE_ERASE: 16,
  ZONED: 17,
} as const;

/** virtio-net feature bits the suite names (spec 5.1.3). */
export const NET_F = {
  CSUM: 0,
  GUEST_CSUM: 1,
  CTRL_GUEST_OFFLOADS: 2,
  MTU: 3,
  MAC: 5,
  GUEST_TSO4: 7,
  GUEST_TSO6: 8,
  GUEST_ECN: 9,
  GUEST_UFO: 10,
  HOST_TSO4: 11,
  HOST_TSO6: 12,
  HOST_ECN: 13,
  HOST_UFO: 14,
  MRG_RXBUF: 15,
  STATUS: 16,
  CTRL_VQ: 17,
  CTRL_RX: 18,
  CTRL_VLAN: 19,
  CTRL_RX_EXTRA: 20,
  GUEST_ANNOUNCE: 21,
  MQ: 22,
  CTRL_MAC_ADDR: 23,
  DEVICE_STATS: 50,
  HASH_TUNNEL: 51,
  VQ_NOTF_COAL: 52,
  NOTF_COAL: 53,
  GUEST_USO4: 54,
  GUEST_USO6: 55,
  HOST_USO: 56,
  HASH_REPORT: 57,
  GUEST_HDRLEN: 59,
  RSS: 60,
  RSC_EXT: 61,
  STANDBY: 62,
  SPEED_DUPLEX: 63,
  RSS_CONTEXT: 64,
  GUEST_UDP_TUNNEL_GSO: 65,
  GUEST_UDP_TUNNEL_GSO_CSUM: 66,
  HOST_UDP_TUNNEL_GSO: 67,
  HOST_UDP_TUNNEL_GSO_CSUM: 68,
  OUT_NET_HEADER: 69,
  IPSEC: 70,
} as const;

const core: FeatureInfo[] = [
  { bit: 24, name: "VIRTIO_F_NOTIFY_ON_EMPTY", scope: "core", legacyOnly: true },
  { bit: 27, name: "VIRTIO_F_ANY_LAYOUT", scope: "core", legacyOnly: true },
  { bit: 28, name: "VIRTIO_F_INDIRECT_DESC", scope: "core" },
  { bit: 29, name: "VIRTIO_F_EVENT_IDX", scope: "core" },
  { bit: 30, name: "UNUSED (30)", scope: "core", legacyOnly: true },
  { bit: 32, name: "VIRTIO_F_VERSION_1", scope: "core" },
  { bit: 33, name: "VIRTIO_F_ACCESS_PLATFORM", scope: "core" },
  { bit: 34, name: "VIRTIO_F_RING_PACKED", scope: "core" },
  { bit: 35, name: "VIRTIO_F_IN_ORDER", scope: "core" },
  { bit: 36, name: "VIRTIO_F_ORDER_PLATFORM", scope: "core" },
  { bit: 37, name: "VIRTIO_F_SR_IOV", scope: "core", transports: ["pci"] },
  { bit: 38, name: "VIRTIO_F_NOTIFICATION_DATA", scope: "core" },
  { bit: 39, name: "VIRTIO_F_NOTIF_CONFIG_DATA", scope: "core", transports: ["pci"] },
  { bit: 40, name: "VIRTIO_F_RING_RESET", scope: "core" },
  { bit: 41, name: "VIRTIO_F_ADMIN_VQ", scope: "core", transports: ["pci"] },
  { bit: 43, name: "VIRTIO_F_SUSPEND", scope: "core" },
];

const blk: FeatureInfo[] = [
  { bit: 0, name: "VIRTIO_BLK_F_BARRIER", scope: "blk", legacyOnly: true },
  { bit: 1, name: "VIRTIO_BLK_F_SIZE_MAX", scope: "blk" },
  { bit: 2, name: "VIRTIO_BLK_F_SEG_MAX", scope: "blk" },
  { bit: 4, name: "VIRTIO_BLK_F_GEOMETRY", scope: "blk" },
  { bit: 5, name: "VIRTIO_BLK_F_RO", scope: "blk" },
  { bit: 6, name: "VIRTIO_BLK_F_BLK_SIZE", scope: "blk" },
  { bit: 7, name: "VIRTIO_BLK_F_SCSI", scope: "blk", legacyOnly: true },
  { bit: 9, name: "VIRTIO_BLK_F_FLUSH", scope: "blk" },
  { bit: 10, name: "VIRTIO_BLK_F_TOPOLOGY", scope: "blk" },
  { bit: 11, name: "VIRTIO_BLK_F_CONFIG_WCE", scope: "blk" },
  { bit: 12, name: "VIRTIO_BLK_F_MQ", scope: "blk" },
  { bit: 13, name: "VIRTIO_BLK_F_DISCARD", scope: "blk" },
  { bit: 14, name: "VIRTIO_BLK_F_WRITE_ZEROES", scope: "blk" },
  { bit: 15, name: "VIRTIO_BLK_F_LIFETIME", scope: "blk" },
  { bit: 16, name: "VIRTIO_BLK_F_SECURE_ERASE", scope: "blk" },
  { bit: 17, name: "VIRTIO_BLK_F_ZONED", scope: "blk" },
];

const NET = {
  CSUM: 0,
  GUEST_CSUM: 1,
  GUEST_TSO4: 7,
  GUEST_TSO6: 8,
  HOST_TSO4: 11,
  HOST_TSO6: 12,
  CTRL_VQ: 17,
  GUEST_USO4: 54,
  GUEST_USO6: 55,
  HOST_USO: 56,
  HASH_REPORT: 57,
  RSS: 60,
  GUEST_UDP_TUNNEL_GSO: 65,
  HOST_UDP_TUNNEL_GSO: 67,
} as const;
const net: FeatureInfo[] = [
  { bit: 0, name: "VIRTIO_NET_F_CSUM", scope: "net" },
  { bit: 1, name: "VIRTIO_NET_F_GUEST_CSUM", scope: "net" },
  { bit: 2, name: "VIRTIO_NET_F_CTRL_GUEST_OFFLOADS", scope: "net" },
  { bit: 3, name: "VIRTIO_NET_F_MTU", scope: "net" },
  { bit: 5, name: "VIRTIO_NET_F_MAC", scope: "net" },
  { bit: 6, name: "VIRTIO_NET_F_GSO", scope: "net", legacyOnly: true },
  { bit: 7, name: "VIRTIO_NET_F_GUEST_TSO4", scope: "net", requires: [[NET.GUEST_CSUM]] },
  { bit: 8, name: "VIRTIO_NET_F_GUEST_TSO6", scope: "net", requires: [[NET.GUEST_CSUM]] },
  { bit: 9, name: "VIRTIO_NET_F_GUEST_ECN", scope: "net", requires: [[NET.GUEST_TSO4, NET.GUEST_TSO6]] },
  { bit: 10, name: "VIRTIO_NET_F_GUEST_UFO", scope: "net", requires: [[NET.GUEST_CSUM]] },
  { bit: 11, name: "VIRTIO_NET_F_HOST_TSO4", scope: "net", requires: [[NET.CSUM]] },
  { bit: 12, name: "VIRTIO_NET_F_HOST_TSO6", scope: "net", requires: [[NET.CSUM]] },
  { bit: 13, name: "VIRTIO_NET_F_HOST_ECN", scope: "net", requires: [[NET.HOST_TSO4, NET.HOST_TSO6]] },
  { bit: 14, name: "VIRTIO_NET_F_HOST_UFO", scope: "net", requires: [[NET.CSUM]] },
  { bit: 15, name: "VIRTIO_NET_F_MRG_RXBUF", scope: "net" },
  { bit: 16, name: "VIRTIO_NET_F_STATUS", scope: "net" },
  { bit: 17, name: "VIRTIO_NET_F_CTRL_VQ", scope: "net" },
  { bit: 18, name: "VIRTIO_NET_F_CTRL_RX", scope: "net", requires: [[NET.CTRL_VQ]] },
  { bit: 19, name: "VIRTIO_NET_F_CTRL_VLAN", scope: "net", requires: [[NET.CTRL_VQ]] },
  { bit: 20, name: "VIRTIO_NET_F_CTRL_RX_EXTRA", scope: "net" },
  { bit: 21, name: "VIRTIO_NET_F_GUEST_ANNOUNCE", scope: "net", requires: [[NET.CTRL_VQ]] },
  { bit: 22, name: "VIRTIO_NET_F_MQ", scope: "net", requires: [[NET.CTRL_VQ]] },
  { bit: 23, name: "VIRTIO_NET_F_CTRL_MAC_ADDR", scope: "net", requires: [[NET.CTRL_VQ]] },
  { bit: 41, name: "VIRTIO_NET_F_GUEST_RSC4", scope: "net", legacyOnly: true },
  { bit: 42, name: "VIRTIO_NET_F_GUEST_RSC6", scope: "net", legacyOnly: true },
  { bit: 50, name: "VIRTIO_NET_F_DEVICE_STATS", scope: "net" },
  {
    bit: 51,
    name: "VIRTIO_NET_F_HASH_TUNNEL",
    scope: "net",
    requires: [[NET.CTRL_VQ], [NET.RSS, NET.HASH_REPORT]],
  },
  { bit: 52, name: "VIRTIO_NET_F_VQ_NOTF_COAL", scope: "net", requires: [[NET.CTRL_VQ]] },
  { bit: 53, name: "VIRTIO_NET_F_NOTF_COAL", scope: "net", requires: [[NET.CTRL_VQ]] },
  { bit: 54, name: "VIRTIO_NET_F_GUEST_USO4", scope: "net", requires: [[NET.GUEST_CSUM]] },
  { bit: 55, name: "VIRTIO_NET_F_GUEST_USO6", scope: "net", requires: [[NET.GUEST_CSUM]] },
  { bit: 56, name: "VIRTIO_NET_F_HOST_USO", scope: "net", requires: [[NET.CSUM]] },
  { bit: 57, name: "VIRTIO_NET_F_HASH_REPORT", scope: "net" },
  { bit: 59, name: "VIRTIO_NET_F_GUEST_HDRLEN", scope: "net" },
  { bit: 60, name: "VIRTIO_NET_F_RSS", scope: "net", requires: [[NET.CTRL_VQ]] },
  { bit: 61, name: "VIRTIO_NET_F_RSC_EXT", scope: "net", requires: [[NET.HOST_TSO4, NET.HOST_TSO6]] },
  { bit: 62, name: "VIRTIO_NET_F_STANDBY", scope: "net" },
  { bit: 63, name: "VIRTIO_NET_F_SPEED_DUPLEX", scope: "net" },
  { bit: 64, name: "VIRTIO_NET_F_RSS_CONTEXT", scope: "net", requires: [[NET.CTRL_VQ], [NET.RSS]] },
  {
    bit: 65,
    name: "VIRTIO_NET_F_GUEST_UDP_TUNNEL_GSO",
    scope: "net",
    requires: [[NET.GUEST_TSO4], [NET.GUEST_TSO6], [NET.GUEST_USO4], [NET.GUEST_USO6]],
  },
  {
    bit: 66,
    name: "VIRTIO_NET_F_GUEST_UDP_TUNNEL_GSO_CSUM",
    scope: "net",
    requires: [[NET.GUEST_UDP_TUNNEL_GSO]],
  },
  {
    bit: 67,
    name: "VIRTIO_NET_F_HOST_UDP_TUNNEL_GSO",
    scope: "net",
    requires: [[NET.HOST_TSO4], [NET.HOST_TSO6], [NET.HOST_USO]],
  },
  {
    bit: 68,
    name: "VIRTIO_NET_F_HOST_UDP_TUNNEL_GSO_CSUM",
    scope: "net",
    requires: [[NET.HOST_UDP_TUNNEL_GSO]],
  },
  { bit: 69, name: "VIRTIO_NET_F_OUT_NET_HEADER", scope: "net" },
  { bit: 70, name: "VIRTIO_NET_F_IPSEC", scope: "net" },
];

const consoleFeatures: FeatureInfo[] = [
  { bit: 0, name: "VIRTIO_CONSOLE_F_SIZE", scope: "console" },
  { bit: 1, name: "VIRTIO_CONSOLE_F_MULTIPORT", scope: "console" },
  { bit: 2, name: "VIRTIO_CONSOLE_F_EMERG_WRITE", scope: "console" },
];

const byType: Record<DeviceTypeName, FeatureInfo[]> = {
  net,
  blk,
  console: consoleFeatures,
  rng: [],
  // Its device-specific bits are unknown to the suite: see definedMask and knownMask.
  other: [],
};

/** The device-specific feature bits (spec 6: 0 to 23 and 50 to 127). */
export const DEVICE_SPECIFIC_MASK: bigint = (bit(24) - 1n) | ((bit(128) - 1n) & ~(bit(50) - 1n));

/** The single-bit mask of feature `bit`. */
export function bit(n: number): bigint {
  return 1n << BigInt(n);
}

/** Builds a feature mask from bit numbers. */
export function mask(...bits: number[]): bigint {
  return bits.reduce((m, b) => m | bit(b), 0n);
}

/** Bit numbers set in a mask, ascending. */
export function bitsOf(m: bigint): number[] {
  const out: number[] = [];
  for (let i = 0; m >> BigInt(i) !== 0n; i++) if ((m >> BigInt(i)) & 1n) out.push(i);
  return out;
}

/** Features defined for a device type on a transport, for a modern (non-legacy) interface. */
export function definedFeatures(type: DeviceTypeName, transport: TransportKind): FeatureInfo[] {
  return [...core, ...byType[type]].filter((f) => !f.legacyOnly && (!f.transports || f.transports.includes(transport)));
}

/**
 * Mask of the features a modern device of `type` may offer on `transport`. For an `other` device every
 * device-specific bit counts as defined: the suite does not know which its type defines.
 */
export function definedMask(type: DeviceTypeName, transport: TransportKind): bigint {
  return knownMask(type, transport) | (type === "other" ? DEVICE_SPECIFIC_MASK : 0n);
}

/**
 * Mask of the features whose meaning (and dependencies) the suite knows for `type` on `transport`: what the
 * harness may accept when it chooses a feature set (for an `other` device, the device-independent bits only).
 */
export function knownMask(type: DeviceTypeName, transport: TransportKind): bigint {
  return mask(...definedFeatures(type, transport).map((f) => f.bit));
}

/** A feature's name for a device type, or `bit N` when undefined there. */
export function featureName(type: DeviceTypeName | undefined, n: number): string {
  const hit = core.find((f) => f.bit === n) ??
    (type ? byType[type].find((f) => f.bit === n) : undefined);
  return hit ? hit.name : `bit ${n}`;
}

/** Formats a feature mask as `0x… [NAME, NAME]`. */
export function formatFeatures(m: bigint, type?: DeviceTypeName): string {
  const names = bitsOf(m).map((b) => featureName(type, b));
  return `0x${m.toString(16)} [${names.join(", ")}]`;
}

/** One broken dependency: `feature` is in the set but none of `missingAnyOf` is. */
export interface DependencyGap {
  feature: number;
  missingAnyOf: number[];
}

/**
 * Dependency gaps of a feature set: features present whose required features
 * are absent (spec 2.2: neither side may offer or accept such a feature).
 *
 * @example
 * ```ts
 * import { dependencyGaps, mask } from "./features.ts";
 * dependencyGaps("net", mask(7)); // [{ feature: 7, missingAnyOf: [1] }]
 * ```
 */
export function dependencyGaps(type: DeviceTypeName, set: bigint): DependencyGap[] {
  const gaps: DependencyGap[] = [];
  for (const f of [...core, ...byType[type]]) {
    if (!f.requires || !(set & bit(f.bit))) continue;
    for (const group of f.requires) {
      if (!group.some((g) => set & bit(g))) gaps.push({ feature: f.bit, missingAnyOf: group });
    }
  }
  return gaps;
}

/** True when a device type has any feature that depends on another. */
export function hasDependencies(type: DeviceTypeName): boolean {
  return [...core, ...byType[type]].some((f) => f.requires !== undefined);
}

/** Closes a set downwards: drops features whose dependencies are missing, until stable. */
export function dropUnsatisfied(type: DeviceTypeName, set: bigint): bigint {
  let s = set;
  for (;;) {
    const gaps = dependencyGaps(type, s);
    if (gaps.length === 0) return s;
    for (const g of gaps) s &= ~bit(g.feature);
  }
}
