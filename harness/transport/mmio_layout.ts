/**
 * The virtio-mmio register layout (spec 4.2.2, and 4.2.4 for the legacy
 * version 1 layout): offsets, directions and the per-queue registers.
 *
 * @module
 */

/** MMIO register offsets. */
export const Mmio = {
  MagicValue: 0x000,
  Version: 0x004,
  DeviceID: 0x008,
  VendorID: 0x00c,
  DeviceFeatures: 0x010,
  DeviceFeaturesSel: 0x014,
  DriverFeatures: 0x020,
  DriverFeaturesSel: 0x024,
  LegacyGuestPageSize: 0x028,
  QueueSel: 0x030,
  QueueSizeMax: 0x034,
  QueueSize: 0x038,
  LegacyQueueAlign: 0x03c,
  LegacyQueuePFN: 0x040,
  QueueReady: 0x044,
  QueueNotify: 0x050,
  InterruptStatus: 0x060,
  InterruptACK: 0x064,
  Status: 0x070,
  QueueDescLow: 0x080,
  QueueDescHigh: 0x084,
  QueueDriverLow: 0x090,
  QueueDriverHigh: 0x094,
  QueueDeviceLow: 0x0a0,
  QueueDeviceHigh: 0x0a4,
  SHMSel: 0x0ac,
  SHMLenLow: 0x0b0,
  SHMLenHigh: 0x0b4,
  SHMBaseLow: 0x0b8,
  SHMBaseHigh: 0x0bc,
  QueueReset: 0x0c0,
  ConfigGeneration: 0x0fc,
  Config: 0x100,
} as const;

/** "virt" in little-endian. */
export const MMIO_MAGIC = 0x74726976;

/** Interrupt status bits. */
export const MmioInterrupt = { USED_BUFFER: 1, CONFIG_CHANGE: 2 } as const;

/** Register direction as the spec's table gives it. */
export type Direction = "R" | "W" | "RW";

/** One control register of the version 2 layout. */
export interface MmioRegister {
  name: string;
  offset: number;
  direction: Direction;
}

/** The control registers of the version 2 layout (config space excluded). */
export const MMIO_V2_REGISTERS: readonly MmioRegister[] = [
  { name: "MagicValue", offset: 0x000, direction: "R" },
  { name: "Version", offset: 0x004, direction: "R" },
  { name: "DeviceID", offset: 0x008, direction: "R" },
  { name: "VendorID", offset: 0x00c, direction: "R" },
  { name: "DeviceFeatures", offset: 0x010, direction: "R" },
  { name: "DeviceFeaturesSel", offset: 0x014, direction: "W" },
  { name: "DriverFeatures", offset: 0x020, direction: "W" },
  { name: "DriverFeaturesSel", offset: 0x024, direction: "W" },
  { name: "QueueSel", offset: 0x030, direction: "W" },
  { name: "QueueSizeMax", offset: 0x034, direction: "R" },
  { name: "QueueSize", offset: 0x038, direction: "W" },
  { name: "QueueReady", offset: 0x044, direction: "RW" },
  { name: "QueueNotify", offset: 0x050, direction: "W" },
  { name: "InterruptStatus", offset: 0x060, direction: "R" },
  { name: "InterruptACK", offset: 0x064, direction: "W" },
  { name: "Status", offset: 0x070, direction: "RW" },
  { name: "QueueDescLow", offset: 0x080, direction: "W" },
  { name: "QueueDescHigh", offset: 0x084, direction: "W" },
  { name: "QueueDriverLow", offset: 0x090, direction: "W" },
  { name: "QueueDriverHigh", offset: 0x094, direction: "W" },
  { name: "QueueDeviceLow", offset: 0x0a0, direction: "W" },
  { name: "QueueDeviceHigh", offset: 0x0a4, direction: "W" },
  { name: "SHMSel", offset: 0x0ac, direction: "W" },
  { name: "SHMLenLow", offset: 0x0b0, direction: "R" },
  { name: "SHMLenHigh", offset: 0x0b4, direction: "R" },
  { name: "SHMBaseLow", offset: 0x0b8, direction: "R" },
  { name: "SHMBaseHigh", offset: 0x0bc, direction: "R" },
  { name: "QueueReset", offset: 0x0c0, direction: "RW" },
  { name: "ConfigGeneration", offset: 0x0fc, direction: "R" },
];

const byOffset = new Map(MMIO_V2_REGISTERS.map((r) => [r.offset, r]));

/** The version 2 control register at `offset`, if any. */
export function mmioRegisterAt(offset: number): MmioRegister | undefined {
  return byOffset.get(offset);
}

/** A readable name for an offset: the register, `Config+0x08`, or the raw offset. */
export function mmioName(offset: number): string {
  if (offset >= Mmio.Config) return `Config+0x${(offset - Mmio.Config).toString(16).padStart(2, "0")}`;
  return byOffset.get(offset)?.name ?? `0x${offset.toString(16).padStart(3, "0")}`;
}

/** Queue-layout registers a driver must leave alone while QueueReady is set. */
export const MMIO_QUEUE_LAYOUT_REGISTERS: readonly number[] = [
  Mmio.QueueSize,
  Mmio.QueueDescLow,
  Mmio.QueueDescHigh,
  Mmio.QueueDriverLow,
  Mmio.QueueDriverHigh,
  Mmio.QueueDeviceLow,
  Mmio.QueueDeviceHigh,
];

/** Shared-memory registers. */
export const MMIO_SHM_REGISTERS: readonly number[] = [
  Mmio.SHMSel,
  Mmio.SHMLenLow,
  Mmio.SHMLenHigh,
  Mmio.SHMBaseLow,
  Mmio.SHMBaseHigh,
];
