/**
 * The legacy virtio-mmio interface (Version 1, spec 4.2.4): its register
 * table, and the contiguous split-queue layout it needs (spec 2.7.2, the
 * legacy note on virtqueue layout).
 *
 * On this interface a queue is one physically contiguous block that starts
 * on a guest page: the descriptor table first, the available ring directly
 * behind it, then padding up to the next QueueAlign boundary where the used
 * ring starts. The driver hands the device only the page frame number of the
 * block (QueuePFN); the device derives the three area addresses from it, the
 * queue size (QueueNum) and the alignment (QueueAlign).
 *
 * @module
 */
import { Mmio, type MmioRegister } from "./mmio_layout.ts";
import type { ContiguousQueueLayout, QueueAddresses } from "./transport.ts";
import { hex } from "../text.ts";

/** The Version register value of a legacy device. */
export const MMIO_LEGACY_VERSION = 1;

/** Guest page size the harness writes to GuestPageSize (and the device assumes until one is written). */
export const LEGACY_PAGE_SIZE = 4096;

/** Used-ring alignment the harness writes to QueueAlign (and the device assumes until one is written). */
export const LEGACY_QUEUE_ALIGN = 4096;

/**
 * Register offsets of the legacy layout, under their legacy names. The
 * offsets shared with version 2 come from {@link Mmio}.
 */
export const MmioLegacy = {
  MagicValue: Mmio.MagicValue,
  Version: Mmio.Version,
  DeviceID: Mmio.DeviceID,
  VendorID: Mmio.VendorID,
  HostFeatures: Mmio.DeviceFeatures,
  HostFeaturesSel: Mmio.DeviceFeaturesSel,
  GuestFeatures: Mmio.DriverFeatures,
  GuestFeaturesSel: Mmio.DriverFeaturesSel,
  GuestPageSize: Mmio.LegacyGuestPageSize,
  QueueSel: Mmio.QueueSel,
  QueueNumMax: Mmio.QueueSizeMax,
  QueueNum: Mmio.QueueSize,
  QueueAlign: Mmio.LegacyQueueAlign,
  QueuePFN: Mmio.LegacyQueuePFN,
  QueueNotify: Mmio.QueueNotify,
  InterruptStatus: Mmio.InterruptStatus,
  InterruptACK: Mmio.InterruptACK,
  Status: Mmio.Status,
  Config: Mmio.Config,
} as const;

/** The control registers of the legacy layout (config space excluded), with their directions. */
export const MMIO_LEGACY_REGISTERS: readonly MmioRegister[] = [
  { name: "MagicValue", offset: MmioLegacy.MagicValue, direction: "R" },
  { name: "Version", offset: MmioLegacy.Version, direction: "R" },
  { name: "DeviceID", offset: MmioLegacy.DeviceID, direction: "R" },
  { name: "VendorID", offset: MmioLegacy.VendorID, direction: "R" },
  { name: "HostFeatures", offset: MmioLegacy.HostFeatures, direction: "R" },
  { name: "HostFeaturesSel", offset: MmioLegacy.HostFeaturesSel, direction: "W" },
  { name: "GuestFeatures", offset: MmioLegacy.GuestFeatures, direction: "W" },
  { name: "GuestFeaturesSel", offset: MmioLegacy.GuestFeaturesSel, direction: "W" },
  { name: "GuestPageSize", offset: MmioLegacy.GuestPageSize, direction: "W" },
  { name: "QueueSel", offset: MmioLegacy.QueueSel, direction: "W" },
  { name: "QueueNumMax", offset: MmioLegacy.QueueNumMax, direction: "R" },
  { name: "QueueNum", offset: MmioLegacy.QueueNum, direction: "W" },
  { name: "QueueAlign", offset: MmioLegacy.QueueAlign, direction: "W" },
  { name: "QueuePFN", offset: MmioLegacy.QueuePFN, direction: "RW" },
  { name: "QueueNotify", offset: MmioLegacy.QueueNotify, direction: "W" },
  { name: "InterruptStatus", offset: MmioLegacy.InterruptStatus, direction: "R" },
  { name: "InterruptACK", offset: MmioLegacy.InterruptACK, direction: "W" },
  { name: "Status", offset: MmioLegacy.Status, direction: "RW" },
];

/**
 * Version 2 registers with no counterpart on the legacy interface: a legacy
 * device reads them as 0 and ignores writes.
 */
export const MMIO_V2_ONLY_REGISTERS: readonly number[] = [
  Mmio.QueueReady,
  Mmio.QueueDescLow,
  Mmio.QueueDescHigh,
  Mmio.QueueDriverLow,
  Mmio.QueueDriverHigh,
  Mmio.QueueDeviceLow,
  Mmio.QueueDeviceHigh,
  Mmio.SHMSel,
  Mmio.SHMLenLow,
  Mmio.SHMLenHigh,
  Mmio.SHMBaseLow,
  Mmio.SHMBaseHigh,
  Mmio.QueueReset,
  Mmio.ConfigGeneration,
];

const legacyByOffset = new Map(MMIO_LEGACY_REGISTERS.map((r) => [r.offset, r]));

/**
 * The legacy control register at `offset`, if any.
 *
 * @example
 * ```ts
 * import { mmioLegacyRegisterAt } from "./mmio_legacy.ts";
 * console.log(mmioLegacyRegisterAt(0x040)?.name); // "QueuePFN"
 * console.log(mmioLegacyRegisterAt(0x044)); // undefined (QueueReady is version 2 only)
 * ```
 */
export function mmioLegacyRegisterAt(offset: number): MmioRegister | undefined {
  return legacyByOffset.get(offset);
}

/**
 * A readable name for an offset of the legacy layout: the register, `Config+0x08`, or the raw offset.
 *
 * @example
 * ```ts
 * import { mmioLegacyName } from "./mmio_legacy.ts";
 * console.log(mmioLegacyName(0x010)); // "HostFeatures"
 * console.log(mmioLegacyName(0x104)); // "Config+0x04"
 * ```
 */
export function mmioLegacyName(offset: number): string {
  if (offset >= MmioLegacy.Config) return `Config+0x${(offset - MmioLegacy.Config).toString(16).padStart(2, "0")}`;
  return legacyByOffset.get(offset)?.name ?? `0x${offset.toString(16).padStart(3, "0")}`;
}

/**
 * True when `n` is a positive integer power of two.
 *
 * @example
 * ```ts
 * import { isPowerOfTwo } from "./mmio_legacy.ts";
 * console.log(isPowerOfTwo(4096), isPowerOfTwo(0), isPowerOfTwo(48)); // true false false
 * ```
 */
export function isPowerOfTwo(n: number): boolean {
  return Number.isSafeInteger(n) && n > 0 && 2 ** Math.round(Math.log2(n)) === n;
}

/**
 * `value` rounded up to a multiple of `align` (no rounding when `align` is not positive).
 *
 * @example
 * ```ts
 * import { alignUp } from "./mmio_legacy.ts";
 * console.log(alignUp(1158, 4096), alignUp(8192, 4096)); // 4096 8192
 * ```
 */
export function alignUp(value: number, align: number): number {
  return align > 0 ? Math.ceil(value / align) * align : value;
}

/** Bytes of a legacy split queue's descriptor table: 16 per entry. */
export function legacyDescBytes(size: number): number {
  return 16 * size;
}

/** Bytes of a legacy split queue's available ring: flags, idx, one u16 per entry, used_event. */
export function legacyAvailBytes(size: number): number {
  return 2 * (3 + size);
}

/** Bytes of a legacy split queue's used ring: flags, idx, one 8-byte element per entry, avail_event. */
export function legacyUsedBytes(size: number): number {
  return 2 * 3 + 8 * size;
}

/**
 * Offset of the used ring from the start of a legacy queue block that starts
 * on an `align` boundary: the descriptor table and the available ring,
 * rounded up to `align`.
 *
 * @example
 * ```ts
 * import { legacyUsedOffset } from "./mmio_legacy.ts";
 * console.log(legacyUsedOffset(64, 4096)); // 4096
 * console.log(legacyUsedOffset(256, 4096)); // 8192
 * ```
 */
export function legacyUsedOffset(size: number, align: number): number {
  return alignUp(legacyDescBytes(size) + legacyAvailBytes(size), align);
}

/**
 * Total bytes a driver allocates for a legacy queue of `size` entries: the
 * descriptor table plus available ring, and the used ring, each rounded up to
 * `align` (the sizing rule of spec 2.7.2).
 *
 * @example
 * ```ts
 * import { legacyQueueBytes } from "./mmio_legacy.ts";
 * console.log(legacyQueueBytes(64, 4096)); // 8192
 * console.log(legacyQueueBytes(1024, 4096)); // 32768
 * ```
 */
export function legacyQueueBytes(size: number, align: number): number {
  return legacyUsedOffset(size, align) + alignUp(legacyUsedBytes(size), align);
}

/**
 * Where the three areas of a legacy queue of `size` entries lie when its
 * block starts at `base` and the used ring is aligned to `align` (an absolute
 * boundary, as a device computes it from QueuePFN). No validation: this is the
 * device's arithmetic, whatever the driver wrote.
 *
 * @example
 * ```ts
 * import { legacyQueueAddresses } from "./mmio_legacy.ts";
 * const a = legacyQueueAddresses(8, 0x10000, 4096);
 * console.log(a.desc.toString(16), a.driver.toString(16), a.device.toString(16)); // "10000" "10080" "11000"
 * ```
 */
export function legacyQueueAddresses(size: number, base: number, align: number): QueueAddresses {
  const driver = base + legacyDescBytes(size);
  return { size, desc: base, driver, device: alignUp(driver + legacyAvailBytes(size), align) };
}

/**
 * The legacy placement rules for a queue of `size` entries with the used ring
 * aligned to `align`, on an interface whose guest pages are `pageSize` bytes:
 * the block starts on a boundary of both, `bytes` long.
 *
 * @throws {RangeError} when `size` is not a power of two up to 32768, or
 * `align` or `pageSize` is not a power of two.
 *
 * @example
 * ```ts
 * import { legacyQueueLayout } from "./mmio_legacy.ts";
 * const l = legacyQueueLayout(64, 4096);
 * console.log(l.bytes, l.align, l.at(0x20000).device.toString(16)); // 8192 4096 "21000"
 * ```
 */
export function legacyQueueLayout(
  size: number,
  align: number = LEGACY_QUEUE_ALIGN,
  pageSize: number = LEGACY_PAGE_SIZE,
): ContiguousQueueLayout {
  if (!isPowerOfTwo(size) || size > 32768) {
    throw new RangeError(`A legacy queue size must be a power of two between 1 and 32768, not ${size}.`);
  }
  if (!isPowerOfTwo(align)) throw new RangeError(`The used-ring alignment must be a power of two, not ${align}.`);
  if (!isPowerOfTwo(pageSize)) throw new RangeError(`The guest page size must be a power of two, not ${pageSize}.`);
  const blockAlign = Math.max(align, pageSize);
  return {
    bytes: legacyQueueBytes(size, align),
    align: blockAlign,
    at(base: number): QueueAddresses {
      if (!Number.isSafeInteger(base) || base < 0 || base % blockAlign !== 0) {
        throw new RangeError(
          `A legacy queue block must start on a ${blockAlign}-byte boundary; 0x${base.toString(16)} does not.`,
        );
      }
      return legacyQueueAddresses(size, base, align);
    },
  };
}

/**
 * Why `addrs` cannot be handed to a legacy device as one QueuePFN (with
 * QueueAlign `align` and GuestPageSize `pageSize`), as a sentence; undefined
 * when they follow the legacy layout.
 *
 * @example
 * ```ts
 * import { legacyPlacementProblem } from "./mmio_legacy.ts";
 * console.log(legacyPlacementProblem({ size: 8, desc: 0x10000, driver: 0x10080, device: 0x11000 }, 4096, 4096));
 * // undefined
 * console.log(legacyPlacementProblem({ size: 8, desc: 0x10000, driver: 0x10080, device: 0x10100 }, 4096, 4096));
 * // "The used ring is at 0x10100; the legacy layout puts it at 0x11000, the first 4096-byte boundary after the available ring."
 * ```
 */
export function legacyPlacementProblem(addrs: QueueAddresses, align: number, pageSize: number): string | undefined {
  if (!isPowerOfTwo(addrs.size) || addrs.size > 32768) {
    return `The queue size ${addrs.size} is not a power of two between 1 and 32768.`;
  }
  if (!Number.isSafeInteger(addrs.desc) || addrs.desc <= 0 || addrs.desc % pageSize !== 0) {
    return `The descriptor table at ${hex(addrs.desc)} does not start on a non-zero ${pageSize}-byte page boundary.`;
  }
  if (addrs.desc / pageSize > 0xffff_ffff) {
    return `The descriptor table at ${hex(addrs.desc)} lies beyond what a 32-bit page frame number can name.`;
  }
  const want = legacyQueueAddresses(addrs.size, addrs.desc, align);
  if (addrs.driver !== want.driver) {
    return `The available ring is at ${
      hex(addrs.driver)
    }; the legacy layout puts it right after the descriptor table, at ${hex(want.driver)}.`;
  }
  if (addrs.device !== want.device) {
    return `The used ring is at ${hex(addrs.device)}; the legacy layout puts it at ${
      hex(want.device)
    }, the first ${align}-byte boundary after the available ring.`;
  }
  return undefined;
}
