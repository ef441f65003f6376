/**
 * Every clause and waiver of the suite, organised like the spec.
 *
 * @module
 */
import type { Clause, Waiver } from "../harness/core/clause.ts";
import { CONFIG_SPACE_DEVICE_CLAUSES } from "./basic_facilities/config_space.ts";
import { CONFIG_SPACE_DRIVER_CLAUSES } from "./basic_facilities/config_space_driver.ts";
import { DEVICE_RESET_CLAUSES } from "./basic_facilities/device_reset.ts";
import { DEVICE_STATUS_CLAUSES } from "./basic_facilities/device_status.ts";
import { DEVICE_STATUS_DRIVER_CLAUSES } from "./basic_facilities/device_status_driver.ts";
import { FEATURE_BITS_DEVICE_CLAUSES } from "./basic_facilities/feature_bits.ts";
import { FEATURE_BITS_DRIVER_CLAUSES } from "./basic_facilities/feature_bits_driver.ts";
import { INIT_DRIVER_CLAUSES } from "./initialization/device_init_driver.ts";
import { SUSPEND_DEVICE_CLAUSES } from "./initialization/device_suspend_device.ts";
import { SUSPEND_DRIVER_CLAUSES } from "./initialization/device_suspend_driver.ts";
import { RESERVED_FEATURES_DEVICE_CLAUSES } from "./reserved_features/reserved_features_device.ts";
import { RESERVED_FEATURES_DRIVER_CLAUSES } from "./reserved_features/reserved_features_driver.ts";
import { MMIO_LAYOUT_DEVICE_CLAUSES } from "./transport_mmio/register_layout_device.ts";
import { MMIO_DRIVER_CLAUSES } from "./transport_mmio/register_layout_driver.ts";
import { PACKED_DEVICE_CLAUSES } from "./virtqueues/packed_device.ts";
import { QUEUE_RESET_DEVICE_CLAUSES } from "./virtqueues/queue_reset_device.ts";
import { RING_DRIVER_CLAUSES } from "./virtqueues/ring_driver.ts";
import { SPLIT_DEVICE_CLAUSES } from "./virtqueues/split_device.ts";
import { WAIVERS as ALL_WAIVERS } from "./waivers.ts";
import { PCI_CAPS_DRIVER_CLAUSES } from "./transport_pci/caps_driver.ts";
import { PCI_COMMON_CFG_DRIVER_CLAUSES } from "./transport_pci/common_cfg_driver.ts";
import { PCI_DISCOVERY_DRIVER_CLAUSES } from "./transport_pci/discovery_driver.ts";
import { PCI_NOTIFY_MSIX_DRIVER_CLAUSES } from "./transport_pci/notify_msix_driver.ts";
import { PCI_DISCOVERY_DEVICE_CLAUSES } from "./transport_pci/discovery_device.ts";
import { PCI_CAPS_DEVICE_CLAUSES } from "./transport_pci/caps_device.ts";
import { PCI_COMMON_CFG_DEVICE_CLAUSES } from "./transport_pci/common_cfg_device.ts";
import { PCI_ISR_DEVICE_CLAUSES } from "./transport_pci/notify_isr_device.ts";
import { PCI_MSIX_DEVICE_CLAUSES } from "./transport_pci/msix_device.ts";
import { BLOCK_DEVICE_CLAUSES } from "./block/block_device.ts";
import { BLOCK_INIT_DEVICE_CLAUSES } from "./block/block_init_device.ts";
import { BLOCK_ZONED_DEVICE_CLAUSES } from "./block/block_zoned_device.ts";
import { BLOCK_ZONED_DRIVER_CLAUSES } from "./block/block_zoned_driver.ts";
import { BLOCK_DRIVER_CLAUSES } from "./block/block_driver.ts";
import { ENTROPY_DEVICE_CLAUSES } from "./entropy/entropy_device.ts";
import { CONSOLE_DEVICE_CLAUSES } from "./console/console_device.ts";
import { NET_DEVICE_CLAUSES } from "./net/net_device.ts";
import { NET_CONTROL_DEVICE_CLAUSES } from "./net/net_control_device.ts";
import { NET_COALESCE_DEVICE_CLAUSES } from "./net/net_coalesce_device.ts";
import { NET_STATS_DEVICE_CLAUSES } from "./net/net_stats_device.ts";
import { NET_RSS_DEVICE_CLAUSES } from "./net/net_rss_device.ts";
import { NET_OFFLOAD_DEVICE_CLAUSES } from "./net/net_offload_device.ts";
import { ADMIN_DEVICE_CLAUSES } from "./admin/admin_device.ts";
import { NET_FLOW_FILTER_DEVICE_CLAUSES } from "./net/net_flow_filter_device.ts";
import { NET_IPSEC_DEVICE_CLAUSES } from "./net/net_ipsec_device.ts";
import { NET_STATS_DRIVER_CLAUSES } from "./net/net_stats_driver.ts";
import { NET_FLOW_FILTER_DRIVER_CLAUSES } from "./net/net_flow_filter_driver.ts";
import { NET_IPSEC_DRIVER_CLAUSES } from "./net/net_ipsec_driver.ts";
import { NET_COALESCE_DRIVER_CLAUSES } from "./net/net_coalesce_driver.ts";
import { NET_RSS_DRIVER_CLAUSES } from "./net/net_rss_driver.ts";
import { NET_TUNNEL_DRIVER_CLAUSES } from "./net/net_tunnel_driver.ts";
import { NET_DRIVER_CLAUSES } from "./net/net_driver.ts";
import { CONSOLE_DRIVER_CLAUSES } from "./console/console_driver.ts";
import { ENTROPY_DRIVER_CLAUSES } from "./entropy/entropy_driver.ts";

/** All clauses, in spec order. */
export const CLAUSES: readonly Clause[] = [
  ...DEVICE_STATUS_DRIVER_CLAUSES,
  ...DEVICE_STATUS_CLAUSES,
  ...FEATURE_BITS_DRIVER_CLAUSES,
  ...FEATURE_BITS_DEVICE_CLAUSES,
  ...DEVICE_RESET_CLAUSES,
  ...CONFIG_SPACE_DRIVER_CLAUSES,
  ...CONFIG_SPACE_DEVICE_CLAUSES,
  ...RING_DRIVER_CLAUSES,
  ...QUEUE_RESET_DEVICE_CLAUSES,
  ...SPLIT_DEVICE_CLAUSES,
  ...PACKED_DEVICE_CLAUSES,
  ...INIT_DRIVER_CLAUSES,
  ...SUSPEND_DRIVER_CLAUSES,
  ...SUSPEND_DEVICE_CLAUSES,
  ...MMIO_LAYOUT_DEVICE_CLAUSES,
  ...MMIO_DRIVER_CLAUSES,
  ...RESERVED_FEATURES_DRIVER_CLAUSES,
  ...RESERVED_FEATURES_DEVICE_CLAUSES,
  ...PCI_DISCOVERY_DRIVER_CLAUSES,
  ...PCI_CAPS_DRIVER_CLAUSES,
  ...PCI_COMMON_CFG_DRIVER_CLAUSES,
  ...PCI_NOTIFY_MSIX_DRIVER_CLAUSES,
  ...PCI_DISCOVERY_DEVICE_CLAUSES,
  ...PCI_CAPS_DEVICE_CLAUSES,
  ...PCI_COMMON_CFG_DEVICE_CLAUSES,
  ...PCI_ISR_DEVICE_CLAUSES,
  ...PCI_MSIX_DEVICE_CLAUSES,
  ...BLOCK_DRIVER_CLAUSES,
  ...BLOCK_ZONED_DRIVER_CLAUSES,
  ...BLOCK_INIT_DEVICE_CLAUSES,
  ...BLOCK_DEVICE_CLAUSES,
  ...BLOCK_ZONED_DEVICE_CLAUSES,
  ...ENTROPY_DRIVER_CLAUSES,
  ...ENTROPY_DEVICE_CLAUSES,
  ...CONSOLE_DRIVER_CLAUSES,
  ...NET_DRIVER_CLAUSES,
  ...NET_COALESCE_DRIVER_CLAUSES,
  ...NET_STATS_DRIVER_CLAUSES,
  ...NET_FLOW_FILTER_DRIVER_CLAUSES,
  ...NET_IPSEC_DRIVER_CLAUSES,
  ...NET_RSS_DRIVER_CLAUSES,
  ...NET_TUNNEL_DRIVER_CLAUSES,
  ...CONSOLE_DEVICE_CLAUSES,
  ...NET_DEVICE_CLAUSES,
  ...NET_CONTROL_DEVICE_CLAUSES,
  ...NET_COALESCE_DEVICE_CLAUSES,
  ...NET_STATS_DEVICE_CLAUSES,
  ...NET_RSS_DEVICE_CLAUSES,
  ...NET_OFFLOAD_DEVICE_CLAUSES,
  ...NET_FLOW_FILTER_DEVICE_CLAUSES,
  ...NET_IPSEC_DEVICE_CLAUSES,
  ...ADMIN_DEVICE_CLAUSES,
];

/** Statements answered by a written waiver instead of a clause. */
export const WAIVERS: readonly Waiver[] = ALL_WAIVERS;
