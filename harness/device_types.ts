/**
 * Facts about device types the clauses need: configuration layouts and the
 * queues a driver sets up.
 *
 * @module
 */
import type { DeviceTypeName } from "./features.ts";
import { BLK_CONFIG_LAYOUT } from "./models/device/blk.ts";
import type { ConfigField } from "./models/device/device_function.ts";

/** Network device feature bits that make configuration fields exist (spec 5.1.3). */
const NET_F = { MTU: 3, MAC: 5, STATUS: 16, MQ: 22, HASH_TUNNEL: 51, RSS: 60, SPEED_DUPLEX: 63 } as const;

/**
 * The network device's configuration layout (spec 5.1.4): the MAC address byte by byte, then status,
 * max_virtqueue_pairs, mtu, speed, duplex, the RSS fields and supported_tunnel_types. max_virtqueue_pairs also exists with RSS alone, and
 * the hash fields with HASH_REPORT alone; each field names one of its features.
 */
export const NET_CONFIG_LAYOUT: readonly ConfigField[] = [
  ...Array.from({ length: 6 }, (_, i): ConfigField => ({ name: `mac[${i}]`, offset: i, size: 1, feature: NET_F.MAC })),
  { name: "status", offset: 6, size: 2, feature: NET_F.STATUS },
  { name: "max_virtqueue_pairs", offset: 8, size: 2, feature: NET_F.MQ },
  { name: "mtu", offset: 10, size: 2, feature: NET_F.MTU },
  { name: "speed", offset: 12, size: 4, feature: NET_F.SPEED_DUPLEX },
  { name: "duplex", offset: 16, size: 1, feature: NET_F.SPEED_DUPLEX },
  { name: "rss_max_key_size", offset: 17, size: 1, feature: NET_F.RSS },
  { name: "rss_max_indirection_table_length", offset: 18, size: 2, feature: NET_F.RSS },
  { name: "supported_hash_types", offset: 20, size: 4, feature: NET_F.RSS },
  { name: "supported_tunnel_types", offset: 24, size: 4, feature: NET_F.HASH_TUNNEL },
];

/** The console device's configuration layout (spec 5.3.4). */
export const CONSOLE_CONFIG_LAYOUT: readonly ConfigField[] = [
  { name: "cols", offset: 0, size: 2, feature: 0 },
  { name: "rows", offset: 2, size: 2, feature: 0 },
  { name: "max_nr_ports", offset: 4, size: 4, feature: 1 },
  { name: "emerg_wr", offset: 8, size: 4, feature: 2 },
];

/** The configuration layout of a device type (spec 5.x "Device configuration layout"; rng has none). */
export function configLayoutOf(type: DeviceTypeName): readonly ConfigField[] {
  switch (type) {
    case "blk":
      return BLK_CONFIG_LAYOUT;
    case "net":
      return NET_CONFIG_LAYOUT;
    case "console":
      return CONSOLE_CONFIG_LAYOUT;
    default:
      return [];
  }
}
