/**
 * Virtio over PCI (spec 4.1): the PCI configuration header fields the
 * transport uses, the virtio vendor capabilities, the common configuration
 * structure and the MSI-X capability, by byte offset. Shared by the driver
 * side (harness and reference driver) and the device side (reference device).
 *
 * @module
 */
import type { Width } from "../registers.ts";

/** PCI configuration header (type 0) offsets. */
export const PciConfig = {
  VendorID: 0x00,
  DeviceID: 0x02,
  Command: 0x04,
  Status: 0x06,
  RevisionID: 0x08,
  ProgIf: 0x09,
  SubClass: 0x0a,
  ClassCode: 0x0b,
  HeaderType: 0x0e,
  Bar0: 0x10,
  SubsystemVendorID: 0x2c,
  SubsystemID: 0x2e,
  CapabilitiesPointer: 0x34,
  InterruptLine: 0x3c,
  InterruptPin: 0x3d,
} as const;

/** Size of a PCI function's configuration space (conventional PCI). */
export const PCI_CONFIG_SIZE = 256;
/** First byte after the type-0 header: capabilities live in [0x40, 0x100). */
export const PCI_CAPS_START = 0x40;
/** Number of BARs of a type-0 header. */
export const PCI_BAR_COUNT = 6;

/** Offset of BAR `n` in configuration space. */
export function barOffset(n: number): number {
  return PciConfig.Bar0 + 4 * n;
}

/** Command register bits. */
export const PciCommand = { IO: 0x1, MEMORY: 0x2, BUS_MASTER: 0x4, INTX_DISABLE: 0x400 } as const;
/** Status register bits. */
export const PciStatus = { INTERRUPT: 0x08, CAP_LIST: 0x10 } as const;

/** BAR register low bits. */
export const PciBar = {
  IO_SPACE: 0x1,
  /** Memory BAR type field (bits 2:1): 0b10 means 64-bit. */
  TYPE_MASK: 0x6,
  TYPE_64: 0x4,
  PREFETCHABLE: 0x8,
  MEM_ADDR_MASK: 0xffff_fff0,
  IO_ADDR_MASK: 0xffff_fffc,
} as const;

/** PCI capability IDs the transport uses. */
export const PciCapId = { VENDOR: 0x09, MSIX: 0x11 } as const;

/** The PCI vendor ID of every virtio device. */
export const VIRTIO_PCI_VENDOR_ID = 0x1af4;
/** Modern (non-transitional) PCI device IDs are this plus the virtio device ID. */
export const VIRTIO_PCI_MODERN_BASE = 0x1040;
/** Last modern PCI device ID. */
export const VIRTIO_PCI_MODERN_LAST = 0x107f;

/** Transitional PCI device IDs, by virtio device ID (spec 4.1.2). */
export const TRANSITIONAL_PCI_DEVICE_IDS: Readonly<Record<number, number>> = {
  1: 0x1000, // network
  2: 0x1001, // block
  5: 0x1002, // traditional balloon
  3: 0x1003, // console
  8: 0x1004, // SCSI host
  4: 0x1005, // entropy
  9: 0x1009, // 9P transport
};

/**
 * The virtio device ID a PCI device ID names, or undefined when it names none.
 *
 * @example
 * ```ts
 * import { virtioIdFromPci } from "./pci_layout.ts";
 * console.log(virtioIdFromPci(0x1044), virtioIdFromPci(0x1001)); // 4 2
 * ```
 */
export function virtioIdFromPci(pciDeviceId: number): number | undefined {
  if (pciDeviceId >= VIRTIO_PCI_MODERN_BASE && pciDeviceId <= VIRTIO_PCI_MODERN_LAST) {
    return pciDeviceId - VIRTIO_PCI_MODERN_BASE;
  }
  for (const [id, pci] of Object.entries(TRANSITIONAL_PCI_DEVICE_IDS)) if (pci === pciDeviceId) return Number(id);
  return undefined;
}

/** Virtio structure types (`cfg_type`). */
export const VirtioPciCap = {
  COMMON_CFG: 1,
  NOTIFY_CFG: 2,
  ISR_CFG: 3,
  DEVICE_CFG: 4,
  PCI_CFG: 5,
  SHARED_MEMORY_CFG: 8,
  VENDOR_CFG: 9,
} as const;

/** Name of a `cfg_type`. */
export function capTypeName(t: number): string {
  for (const [k, v] of Object.entries(VirtioPciCap)) if (v === t) return k;
  return `reserved(${t})`;
}

/** Field offsets inside a virtio vendor capability (`struct virtio_pci_cap` and its extensions). */
export const CapField = {
  cap_vndr: 0,
  cap_next: 1,
  cap_len: 2,
  cfg_type: 3,
  bar: 4,
  id: 5,
  offset: 8,
  length: 12,
  /** Notification capability: `notify_off_multiplier`. */
  notify_off_multiplier: 16,
  /** PCI configuration access capability: the 4-byte data window. */
  pci_cfg_data: 16,
  /** 64-bit capability (shared memory): high halves. */
  offset_hi: 16,
  length_hi: 20,
  /** Vendor data capability: its vendor ID (in place of `bar`/`id`). */
  vendor_id: 4,
} as const;

/** Minimum `cap_len` of each structure. */
export const CapLength = { BASE: 16, NOTIFY: 20, PCI_CFG: 20, CAP64: 24, VENDOR: 8 } as const;

/** Common configuration structure offsets (`struct virtio_pci_common_cfg`). */
export const CommonCfg = {
  device_feature_select: 0,
  device_feature: 4,
  driver_feature_select: 8,
  driver_feature: 12,
  config_msix_vector: 16,
  num_queues: 18,
  device_status: 20,
  config_generation: 21,
  queue_select: 22,
  queue_size: 24,
  queue_msix_vector: 26,
  queue_enable: 28,
  queue_notify_off: 30,
  queue_desc: 32,
  queue_driver: 40,
  queue_device: 48,
  queue_notif_config_data: 56,
  queue_reset: 58,
  admin_queue_index: 60,
  admin_queue_num: 62,
} as const;

/** Size of the common configuration structure in v1.4. */
export const COMMON_CFG_SIZE = 64;

/** One common-configuration field: name, offset, width in bytes, and whether the driver may write it. */
export interface CommonField {
  name: keyof typeof CommonCfg;
  offset: number;
  size: 1 | 2 | 4 | 8;
  driverWritable: boolean;
}

/** Every field of the common configuration structure. */
export const COMMON_FIELDS: readonly CommonField[] = [
  { name: "device_feature_select", offset: 0, size: 4, driverWritable: true },
  { name: "device_feature", offset: 4, size: 4, driverWritable: false },
  { name: "driver_feature_select", offset: 8, size: 4, driverWritable: true },
  { name: "driver_feature", offset: 12, size: 4, driverWritable: true },
  { name: "config_msix_vector", offset: 16, size: 2, driverWritable: true },
  { name: "num_queues", offset: 18, size: 2, driverWritable: false },
  { name: "device_status", offset: 20, size: 1, driverWritable: true },
  { name: "config_generation", offset: 21, size: 1, driverWritable: false },
  { name: "queue_select", offset: 22, size: 2, driverWritable: true },
  { name: "queue_size", offset: 24, size: 2, driverWritable: true },
  { name: "queue_msix_vector", offset: 26, size: 2, driverWritable: true },
  { name: "queue_enable", offset: 28, size: 2, driverWritable: true },
  { name: "queue_notify_off", offset: 30, size: 2, driverWritable: false },
  { name: "queue_desc", offset: 32, size: 8, driverWritable: true },
  { name: "queue_driver", offset: 40, size: 8, driverWritable: true },
  { name: "queue_device", offset: 48, size: 8, driverWritable: true },
  { name: "queue_notif_config_data", offset: 56, size: 2, driverWritable: false },
  { name: "queue_reset", offset: 58, size: 2, driverWritable: true },
  { name: "admin_queue_index", offset: 60, size: 2, driverWritable: false },
  { name: "admin_queue_num", offset: 62, size: 2, driverWritable: false },
];

/** The common-configuration field an access at `offset` falls in, or undefined past the structure. */
export function commonFieldAt(offset: number): CommonField | undefined {
  return COMMON_FIELDS.find((f) => offset >= f.offset && offset < f.offset + f.size);
}

/** Formats a common-configuration access location: `queue_desc+4`. */
export function commonName(offset: number): string {
  const f = commonFieldAt(offset);
  if (!f) return `common+0x${offset.toString(16)}`;
  return offset === f.offset ? f.name : `${f.name}+${offset - f.offset}`;
}

/** The width a driver uses for a common-configuration field (64-bit fields as two 32-bit halves). */
export function commonAccessWidth(f: CommonField): Width {
  return f.size === 8 ? 4 : f.size;
}

/** MSI-X "no vector" value of `config_msix_vector` / `queue_msix_vector`. */
export const NO_VECTOR = 0xffff;

/** ISR status bits. */
export const PciIsr = { QUEUE: 0x1, CONFIG: 0x2 } as const;

/** MSI-X capability layout (PCI 3.0 6.8.2). */
export const MsixCap = {
  /** Message control (16 bits): table size − 1 in bits 10:0, function mask bit 14, enable bit 15. */
  control: 2,
  /** Table offset (bits 31:3) and BAR indicator (bits 2:0). */
  table: 4,
  /** Pending bit array offset and BAR indicator. */
  pba: 8,
  LENGTH: 12,
  TABLE_SIZE_MASK: 0x7ff,
  FUNCTION_MASK: 0x4000,
  ENABLE: 0x8000,
} as const;

/** One MSI-X table entry: address low/high, data, vector control (bit 0 masks). */
export const MsixEntry = { addrLo: 0, addrHi: 4, data: 8, control: 12, SIZE: 16, MASKED: 1 } as const;
