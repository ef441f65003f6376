/**
 * The reference block device (spec 5.2) over an in-memory disk: read, write,
 * flush and get-id requests, with the configuration layout of spec 5.2.4.
 *
 * @module
 */
import { bit, BLK_F, DEVICE_IDS, mask } from "../../features.ts";
import { type GuestMemory, le, zeroedBytes } from "../../memory.ts";
import type { ChainBuffer } from "../../virtqueue/split.ts";
import { type ConfigField, type DeviceFunction, gather, type HandleResult, scatter } from "./device_function.ts";
import { ZonedDisk, ZonedModel, type ZonedOptions, ZoneReq } from "./blk_zoned.ts";

/** Block request types. */
export const BlkType = {
  IN: 0,
  OUT: 1,
  FLUSH: 4,
  GET_ID: 8,
  GET_LIFETIME: 10,
  DISCARD: 11,
  WRITE_ZEROES: 13,
  SECURE_ERASE: 14,
} as const;

/** Bytes of one discard / write-zeroes segment (struct virtio_blk_discard_write_zeroes). */
export const BLK_SEGMENT_BYTES = 16;
/** Block request status values. */
export const BlkStatus = { OK: 0, IOERR: 1, UNSUPP: 2 } as const;
/** Sector size of the request interface. */
export const SECTOR = 512;

/** Configuration offset of zoned.model (VIRTIO_BLK_F_ZONED), readable before the features are chosen. */
export const BLK_ZONED_MODEL_OFFSET = 92;

/** The virtio-blk configuration layout (spec 5.2.4), as far as this suite reads it. */
export const BLK_CONFIG_LAYOUT: readonly ConfigField[] = [
  { name: "capacity", offset: 0, size: 8 },
  { name: "size_max", offset: 8, size: 4, feature: BLK_F.SIZE_MAX },
  { name: "seg_max", offset: 12, size: 4, feature: BLK_F.SEG_MAX },
  { name: "geometry.cylinders", offset: 16, size: 2, feature: BLK_F.GEOMETRY },
  { name: "geometry.heads", offset: 18, size: 1, feature: BLK_F.GEOMETRY },
  { name: "geometry.sectors", offset: 19, size: 1, feature: BLK_F.GEOMETRY },
  { name: "blk_size", offset: 20, size: 4, feature: BLK_F.BLK_SIZE },
  { name: "topology.physical_block_exp", offset: 24, size: 1, feature: BLK_F.TOPOLOGY },
  { name: "topology.alignment_offset", offset: 25, size: 1, feature: BLK_F.TOPOLOGY },
  { name: "topology.min_io_size", offset: 26, size: 2, feature: BLK_F.TOPOLOGY },
  { name: "topology.opt_io_size", offset: 28, size: 4, feature: BLK_F.TOPOLOGY },
  { name: "writeback", offset: 32, size: 1, feature: BLK_F.CONFIG_WCE },
  { name: "num_queues", offset: 34, size: 2, feature: BLK_F.MQ },
  { name: "max_discard_sectors", offset: 36, size: 4, feature: BLK_F.DISCARD },
  { name: "max_discard_seg", offset: 40, size: 4, feature: BLK_F.DISCARD },
  { name: "discard_sector_alignment", offset: 44, size: 4, feature: BLK_F.DISCARD },
  { name: "max_write_zeroes_sectors", offset: 48, size: 4, feature: BLK_F.WRITE_ZEROES },
  { name: "max_write_zeroes_seg", offset: 52, size: 4, feature: BLK_F.WRITE_ZEROES },
  { name: "write_zeroes_may_unmap", offset: 56, size: 1, feature: BLK_F.WRITE_ZEROES },
  { name: "max_secure_erase_sectors", offset: 60, size: 4, feature: BLK_F.SECURE_ERASE },
  { name: "max_secure_erase_seg", offset: 64, size: 4, feature: BLK_F.SECURE_ERASE },
  { name: "secure_erase_sector_alignment", offset: 68, size: 4, feature: BLK_F.SECURE_ERASE },
  { name: "zoned.zone_sectors", offset: 72, size: 4, feature: BLK_F.ZONED },
  { name: "zoned.max_open_zones", offset: 76, size: 4, feature: BLK_F.ZONED },
  { name: "zoned.max_active_zones", offset: 80, size: 4, feature: BLK_F.ZONED },
  { name: "zoned.max_append_sectors", offset: 84, size: 4, feature: BLK_F.ZONED },
  { name: "zoned.write_granularity", offset: 88, size: 4, feature: BLK_F.ZONED },
  { name: "zoned.model", offset: BLK_ZONED_MODEL_OFFSET, size: 1, feature: BLK_F.ZONED },
];

/** Size in bytes of the configuration space this device presents (up to the secure erase fields). */
export const BLK_CONFIG_SIZE = 72;
/** Size in bytes of the configuration space of a zoned device (with the zoned characteristics). */
export const BLK_ZONED_CONFIG_SIZE = 96;
/** Bytes of a GET_LIFETIME answer (struct virtio_blk_lifetime). */
export const BLK_LIFETIME_BYTES = 6;

/** Options of the reference block device. */
export interface BlkOptions {
  /** Disk size in 512-byte sectors. */
  sectors?: number;
  queueSizeMax?: number;
  /** Serial returned by GET_ID (up to 20 bytes). */
  serial?: string;
  /** Device-type features to offer (default SIZE_MAX, SEG_MAX, BLK_SIZE, FLUSH). */
  features?: bigint;
  /** A read-only disk: VIRTIO_BLK_F_RO offered besides `features`, every write refused with IOERR, nothing written. */
  readOnly?: boolean;
  /** A zoned disk: VIRTIO_BLK_F_ZONED offered besides `features` (never on the legacy interface), laid out so. */
  zoned?: ZonedOptions;
  /**
   * Lifetime metrics: VIRTIO_BLK_F_LIFETIME offered besides `features`, GET_LIFETIME answered with these values of
   * pre_eol_info, device_lifetime_est_typ_a and device_lifetime_est_typ_b.
   */
  lifetime?: readonly [number, number, number];
  /** Builds the zones of a zoned disk (a variant's own {@link ZonedDisk}); the stock one by default. */
  zonedDisk?: (sectors: number, opts: ZonedOptions) => ZonedDisk;
}

/**
 * The reference virtio-blk device function.
 *
 * @example
 * ```ts
 * import { BlkFunction } from "./blk.ts";
 * const blk = new BlkFunction({ sectors: 64 });
 * console.log(blk.capacity); // 64
 * ```
 */
export class BlkFunction implements DeviceFunction {
  readonly type = "blk" as const;
  readonly deviceId = DEVICE_IDS.blk;
  readonly features: bigint;
  readonly queueCount = 1;
  readonly config: Uint8Array;
  readonly configLayout = BLK_CONFIG_LAYOUT;
  readonly disk: Uint8Array;
  /** The disk refuses writes (VIRTIO_BLK_F_RO offered). */
  readonly readOnly: boolean;
  readonly serial: string;
  /** The zones of a zoned disk. */
  readonly zoned: ZonedDisk | undefined;
  /** What GET_LIFETIME answers (with VIRTIO_BLK_F_LIFETIME). */
  readonly lifetime: readonly [number, number, number] | undefined;
  /** Zoned block devices do not exist on the legacy interface. */
  readonly modernOnly: bigint = bit(BLK_F.ZONED);
  #max: number;
  constructor(opts: BlkOptions = {}) {
    const sectors = opts.sectors ?? 2048;
    this.disk = zeroedBytes(sectors * SECTOR);
    this.serial = (opts.serial ?? "virtio-conformance").slice(0, 20);
    this.features = (opts.features ?? mask(BLK_F.SIZE_MAX, BLK_F.SEG_MAX, BLK_F.BLK_SIZE, BLK_F.FLUSH)) |
      (opts.readOnly ? mask(BLK_F.RO) : 0n) | (opts.zoned ? mask(BLK_F.ZONED) : 0n) |
      (opts.lifetime ? mask(BLK_F.LIFETIME) : 0n);
    this.readOnly = opts.readOnly ?? false;
    this.#max = opts.queueSizeMax ?? 128;
    this.lifetime = opts.lifetime;
    this.config = new Uint8Array(opts.zoned ? BLK_ZONED_CONFIG_SIZE : BLK_CONFIG_SIZE);
    this.#writeConfig(sectors);
    if (opts.zoned) {
      const zoned = opts.zonedDisk ? opts.zonedDisk(sectors, opts.zoned) : new ZonedDisk(sectors, opts.zoned);
      zoned.onDiscard = (start, n) => this.disk.fill(0, start * SECTOR, (start + n) * SECTOR);
      zoned.writeConfig(this.config);
      // Secure erase works on whole zones of a zoned disk.
      le.setU32(this.config, 68, zoned.zoneSectors);
      this.zoned = zoned;
    }
  }

  /** A host-managed zoned disk cannot work for a driver that does not take it as zoned. */
  acceptsFeatures(accepted: bigint): boolean {
    return !(this.zoned?.model === ZonedModel.HM && !(accepted & bit(BLK_F.ZONED)));
  }
  #writeConfig(sectors: number): void {
    le.setU64(this.config, 0, sectors);
    le.setU32(this.config, 8, 64 * 1024); // size_max
    le.setU32(this.config, 12, this.#max - 2); // seg_max
    le.setU32(this.config, 20, SECTOR); // blk_size
    // Discard and write zeroes (meaningful when their features are offered): whole disk, one segment per request.
    le.setU32(this.config, 36, sectors); // max_discard_sectors
    le.setU32(this.config, 40, 1); // max_discard_seg
    le.setU32(this.config, 44, 1); // discard_sector_alignment
    le.setU32(this.config, 48, sectors); // max_write_zeroes_sectors
    le.setU32(this.config, 52, 1); // max_write_zeroes_seg
    this.config[56] = 1; // write_zeroes_may_unmap
    le.setU32(this.config, 60, sectors); // max_secure_erase_sectors
    le.setU32(this.config, 64, 1); // max_secure_erase_seg
    le.setU32(this.config, 68, 1); // secure_erase_sector_alignment
  }
  /** Capacity in sectors, as the configuration space presents it. */
  get capacity(): number {
    return le.u64(this.config, 0);
  }
  queueSizeMax(queue: number): number {
    return queue === 0 ? this.#max : 0;
  }
  async handle(_queue: number, chain: ChainBuffer[], mem: GuestMemory, negotiated = 0n): Promise<HandleResult> {
    const readable = chain.filter((b) => !b.writable);
    const writable = chain.filter((b) => b.writable);
    const out = await gather(mem, readable);
    if (out.length < 16) return { kind: "error", reason: `block request header is ${out.length} bytes, needs 16` };
    const last = writable[writable.length - 1];
    if (!last || last.len < 1) return { kind: "error", reason: "block request has no device-writable status byte" };
    const type = le.u32(out, 0);
    const sector = le.u64(out, 8);
    const dataIn = writable.slice(0, -1);
    const statusBuf = { ...last, addr: last.addr + last.len - 1, len: 1 };
    const dataInLen = dataIn.reduce((s, b) => s + b.len, 0) + (last.len - 1);
    const inBufs = last.len > 1 ? [...dataIn, { ...last, len: last.len - 1 }] : dataIn;
    let status: number = BlkStatus.OK;
    let written = 0;
    const span = (len: number) => sector * SECTOR + len <= this.disk.length && len % SECTOR === 0;
    const has = (f: number) => (negotiated & bit(f)) !== 0n;
    const zoned = this.zoned && has(BLK_F.ZONED) ? this.zoned : undefined;
    switch (type) {
      case BlkType.IN:
        if (!span(dataInLen)) status = BlkStatus.IOERR;
        else if (zoned) status = zoned.read(sector, dataInLen / SECTOR);
        if (status === BlkStatus.OK) written = await this.readInto(mem, inBufs, sector, dataInLen);
        break;
      case BlkType.OUT: {
        const data = out.subarray(16);
        if (this.readOnly || !span(data.length)) status = BlkStatus.IOERR;
        else if (zoned) {
          const w = zoned.write(sector, data.length / SECTOR);
          status = w.status;
          if (status === BlkStatus.OK) this.disk.set(data, w.at * SECTOR);
        } else this.disk.set(data, sector * SECTOR);
        break;
      }
      case BlkType.FLUSH:
        break;
      case BlkType.GET_ID: {
        const id = new Uint8Array(20);
        id.set(new TextEncoder().encode(this.serial));
        written = await scatter(mem, inBufs, id);
        break;
      }
      case BlkType.GET_LIFETIME: {
        if (!this.lifetime || !has(BLK_F.LIFETIME)) {
          status = BlkStatus.UNSUPP;
          break;
        }
        const answer = new Uint8Array(BLK_LIFETIME_BYTES);
        this.lifetime.forEach((v, i) => le.setU16(answer, 2 * i, v));
        written = await scatter(mem, inBufs, answer);
        break;
      }
      case BlkType.DISCARD:
      case BlkType.WRITE_ZEROES:
      case BlkType.SECURE_ERASE: {
        const feature = type === BlkType.DISCARD
          ? BLK_F.DISCARD
          : type === BlkType.WRITE_ZEROES
          ? BLK_F.WRITE_ZEROES
          : BLK_F.SECURE_ERASE;
        if (!has(feature)) status = BlkStatus.UNSUPP;
        else status = this.discardOrZero(type, out.subarray(16), zoned);
        break;
      }
      case ZoneReq.APPEND: {
        const data = out.subarray(16);
        if (!zoned) status = BlkStatus.UNSUPP;
        else if (this.readOnly || !span(data.length) || data.length === 0 || dataInLen < 8) status = BlkStatus.IOERR;
        else {
          const w = zoned.write(sector, data.length / SECTOR, true);
          status = w.status;
          if (status === BlkStatus.OK) {
            this.disk.set(data, w.at * SECTOR);
            const appended = new Uint8Array(8);
            le.setU64(appended, 0, this.appendSector(w.at, sector));
            written = await scatter(mem, inBufs, appended);
          }
        }
        break;
      }
      case ZoneReq.REPORT: {
        const report = zoned?.report(sector, dataInLen);
        if (!zoned) status = BlkStatus.UNSUPP;
        else if (!report) status = BlkStatus.IOERR;
        else written = await scatter(mem, inBufs, report);
        break;
      }
      case ZoneReq.OPEN:
      case ZoneReq.CLOSE:
      case ZoneReq.FINISH:
      case ZoneReq.RESET:
      case ZoneReq.RESET_ALL:
        status = zoned ? zoned.manage(type, sector) : BlkStatus.UNSUPP;
        break;
      default:
        status = BlkStatus.UNSUPP;
    }
    await mem.write(statusBuf.addr, new Uint8Array([status]));
    return { kind: "used", written: written + 1 };
  }
  /** Copies `bytes` from the disk at `sector` into a read's buffers; the bytes written. */
  protected async readInto(mem: GuestMemory, bufs: ChainBuffer[], sector: number, bytes: number): Promise<number> {
    return await scatter(mem, bufs, this.disk.subarray(sector * SECTOR, sector * SECTOR + bytes));
  }

  /** What a successful append reports in append_sector: the first sector it wrote (`zone`: the request's sector). */
  protected appendSector(at: number, _zone: number): number {
    return at;
  }

  /**
   * Applies the segments of a discard, write-zeroes or secure erase request (all zero the range here; a secure erase
   * on a zoned disk resets the zones it covers); its status.
   */
  protected discardOrZero(type: number, data: Uint8Array, zoned?: ZonedDisk): number {
    if (data.length === 0 || data.length % BLK_SEGMENT_BYTES !== 0) return BlkStatus.IOERR;
    for (let at = 0; at < data.length; at += BLK_SEGMENT_BYTES) {
      // Only unmap (bit 0) is defined, and only for write zeroes (spec 5.2.6.2).
      const flags = le.u32(data, at + 12);
      if ((flags & ~1) !== 0 || (type !== BlkType.WRITE_ZEROES && (flags & 1) !== 0)) return BlkStatus.UNSUPP;
    }
    if (type === BlkType.SECURE_ERASE && zoned) {
      for (let at = 0; at < data.length; at += BLK_SEGMENT_BYTES) {
        const s = zoned.erase(le.u64(data, at), le.u32(data, at + 8));
        if (s !== BlkStatus.OK) return s;
      }
    }
    for (let at = 0; at < data.length; at += BLK_SEGMENT_BYTES) {
      const sector = le.u64(data, at);
      const sectors = le.u32(data, at + 8);
      if ((sector + sectors) * SECTOR > this.disk.length) return BlkStatus.IOERR;
      if (this.readOnly) return BlkStatus.IOERR;
      this.disk.fill(0, sector * SECTOR, (sector + sectors) * SECTOR);
    }
    return BlkStatus.OK;
  }

  /** Changes the capacity (a resize), as a host would. */
  resize(sectors: number): void {
    le.setU64(this.config, 0, sectors);
  }
  reset(): void {}
}
