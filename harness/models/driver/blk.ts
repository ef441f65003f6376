/**
 * What the reference driver knows about virtio-blk (spec 5.2): the features
 * it drives, the configuration fields it reads, and the request layout.
 *
 * @module
 */
import { bit, BLK_F, mask } from "../../features.ts";
import { le } from "../../memory.ts";
import type { ConfigField } from "../device/device_function.ts";
import { BLK_CONFIG_LAYOUT } from "../device/blk.ts";
export { BLK_ZONED_MODEL_OFFSET } from "../device/blk.ts";

/** Block features the reference driver knows how to drive (and accepts when offered). */
export const BLK_DRIVER_FEATURES: bigint = mask(
  BLK_F.SIZE_MAX,
  BLK_F.SEG_MAX,
  BLK_F.GEOMETRY,
  BLK_F.RO,
  BLK_F.BLK_SIZE,
  BLK_F.FLUSH,
  BLK_F.TOPOLOGY,
  BLK_F.DISCARD,
  BLK_F.WRITE_ZEROES,
  BLK_F.SECURE_ERASE,
  BLK_F.ZONED,
);

/** Request types the reference driver submits (spec 5.2.6). */
export const BlkRequestType = {
  IN: 0,
  OUT: 1,
  FLUSH: 4,
  GET_ID: 8,
  DISCARD: 11,
  WRITE_ZEROES: 13,
  SECURE_ERASE: 14,
  ZONE_APPEND: 15,
  ZONE_REPORT: 16,
  ZONE_OPEN: 18,
  ZONE_CLOSE: 20,
  ZONE_FINISH: 22,
  ZONE_RESET: 24,
  ZONE_RESET_ALL: 26,
} as const;

/** Bytes of the buffer a ZONE_REPORT request gives (the header and 63 zone descriptors). */
export const BLK_ZONE_REPORT_BYTES = 4096;

/** Bytes of the device ID a GET_ID request reads (spec 5.2.6). */
export const BLK_ID_BYTES = 20;

/** Request status values (spec 5.2.6). */
export const BlkRequestStatus = { OK: 0, IOERR: 1, UNSUPP: 2 } as const;

/** Size of the request interface's sectors, whatever blk_size says. */
export const BLK_SECTOR_SIZE = 512;

/** Size of the device-readable request header (type, reserved, sector). */
export const BLK_HEADER_SIZE = 16;

/** The capacity field: unconditional, 64 bits at offset 0. */
export const BLK_CAPACITY_FIELD: ConfigField = BLK_CONFIG_LAYOUT.find((f) => f.name === "capacity")!;

/**
 * Configuration fields of the block device that exist under `features`:
 * the unconditional ones and those whose feature is in the set.
 *
 * @example
 * ```ts
 * import { blkConfigFields } from "./blk.ts";
 * import { mask } from "../../features.ts";
 * console.log(blkConfigFields(mask(6)).map((f) => f.name)); // ["capacity", "blk_size"]
 * ```
 */
export function blkConfigFields(features: bigint): ConfigField[] {
  return BLK_CONFIG_LAYOUT.filter((f) => f.feature === undefined || (features & bit(f.feature)) !== 0n);
}

/**
 * Encodes a request header: `le32 type`, `le32 reserved`, `le64 sector`.
 *
 * @example
 * ```ts
 * import { blkHeader } from "./blk.ts";
 * console.log(blkHeader(1, 2)); // Uint8Array(16) [1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0]
 * ```
 */
export function blkHeader(type: number, sector: number): Uint8Array {
  const h = new Uint8Array(BLK_HEADER_SIZE);
  le.setU32(h, 0, type);
  le.setU32(h, 4, 0);
  le.setU64(h, 8, sector);
  return h;
}

/**
 * Splits `length` bytes of data into segments of at most `sizeMax` bytes
 * (VIRTIO_BLK_F_SIZE_MAX); no limit when `sizeMax` is undefined or 0.
 *
 * @example
 * ```ts
 * import { blkSegments } from "./blk.ts";
 * console.log(blkSegments(1536, 1024)); // [1024, 512]
 * ```
 */
export function blkSegments(length: number, sizeMax: number | undefined): number[] {
  if (!sizeMax) return [length];
  const out: number[] = [];
  for (let left = length; left > 0; left -= Math.min(left, sizeMax)) out.push(Math.min(left, sizeMax));
  return out;
}
