/**
 * The zones of a zoned block device (spec 5.2, VIRTIO_BLK_F_ZONED): zone types and states, the write pointer, open
 * and active zone resources, and the zone requests (report, open, close, finish, reset, reset all, append) with the
 * status each ends in. The reference block device keeps one when it is built zoned.
 *
 * @module
 */
import { le } from "../../memory.ts";

/** Zoned request types (spec 5.2.6). */
export const ZoneReq = { APPEND: 15, REPORT: 16, OPEN: 18, CLOSE: 20, FINISH: 22, RESET: 24, RESET_ALL: 26 } as const;
/** Zone types of a zone descriptor. */
export const ZoneType = { CONV: 1, SWR: 2, SWP: 3 } as const;
/** Zone states of a zone descriptor. */
export const ZoneState = {
  NOT_WP: 0,
  EMPTY: 1,
  IOPEN: 2,
  EOPEN: 3,
  CLOSED: 4,
  RDONLY: 13,
  FULL: 14,
  OFFLINE: 15,
} as const;
/** Zoned models of the configuration's `zoned.model`. */
export const ZonedModel = { NONE: 0, HM: 1, HA: 2 } as const;
/** The zoned status values besides OK (0), IOERR (1) and UNSUPP (2). */
export const ZoneStatus = { INVALID_CMD: 3, UNALIGNED_WP: 4, OPEN_RESOURCE: 5, ACTIVE_RESOURCE: 6 } as const;
/** Bytes of the zone report header and of one zone descriptor. */
export const ZONE_REPORT_HEADER = 64;
export const ZONE_DESCRIPTOR = 64;

/** How a zoned device is laid out. */
export interface ZonedOptions {
  /** The zoned model the configuration reports. */
  model: "hm" | "ha" | "none";
  /** Sectors per zone (the last zone may be smaller). */
  zoneSectors: number;
  /** Conventional zones at the start of the disk (default 1). */
  conventional?: number;
  /** Zones at the end of the disk that are offline (a failed part of the medium; default 0). */
  offline?: number;
  /** Limits of open and active zones (0: no limit; default 4 and 6). */
  maxOpen?: number;
  maxActive?: number;
  /** Largest append in sectors (0: no append; default 16). */
  maxAppendSectors?: number;
  /** Offset and size alignment of writes to sequential zones, in bytes (default 512). */
  writeGranularity?: number;
}

/** One zone. */
export interface Zone {
  start: number;
  /** Sectors of the zone (the last may be short). */
  length: number;
  /** Writable sectors when empty. */
  cap: number;
  type: number;
  state: number;
  wp: number;
}

/** Where a write goes and how it ended. */
export interface ZoneWrite {
  status: number;
  /** The first sector written (for an append, what append_sector reports). */
  at: number;
}

const OK = 0;

/**
 * The zones of a zoned disk of `sectors` sectors.
 *
 * @example
 * ```ts
 * import { ZonedDisk, ZoneReq, ZoneState } from "./blk_zoned.ts";
 * const z = new ZonedDisk(1024, { model: "hm", zoneSectors: 128 });
 * console.log(z.manage(ZoneReq.OPEN, 128), z.zoneOf(128)!.state === ZoneState.EOPEN); // 0 true
 * ```
 */
export class ZonedDisk {
  readonly zones: Zone[] = [];
  readonly model: number;
  readonly zoneSectors: number;
  readonly maxOpen: number;
  readonly maxActive: number;
  readonly maxAppendSectors: number;
  readonly writeGranularity: number;
  /** Called with the sectors of a zone whose data is discarded (a reset): the disk zeroes them. */
  onDiscard: (start: number, sectors: number) => void = () => {};

  constructor(readonly sectors: number, opts: ZonedOptions) {
    this.model = opts.model === "hm" ? ZonedModel.HM : opts.model === "ha" ? ZonedModel.HA : ZonedModel.NONE;
    this.zoneSectors = opts.zoneSectors;
    this.maxOpen = opts.maxOpen ?? 4;
    this.maxActive = opts.maxActive ?? 6;
    this.maxAppendSectors = opts.maxAppendSectors ?? 16;
    this.writeGranularity = opts.writeGranularity ?? 512;
    const count = Math.ceil(sectors / opts.zoneSectors);
    const conventional = opts.conventional ?? 1;
    const offline = opts.offline ?? 0;
    const seqType = this.model === ZonedModel.HA ? ZoneType.SWP : ZoneType.SWR;
    for (let i = 0; i < count; i++) {
      const start = i * opts.zoneSectors;
      const length = Math.min(opts.zoneSectors, sectors - start);
      const conv = i < conventional;
      this.zones.push({
        start,
        length,
        cap: length,
        type: conv ? ZoneType.CONV : seqType,
        state: conv ? ZoneState.NOT_WP : i >= count - offline ? ZoneState.OFFLINE : ZoneState.EMPTY,
        wp: start,
      });
    }
  }

  /** The zone holding `sector`. */
  zoneOf(sector: number): Zone | undefined {
    if (sector < 0 || sector >= this.sectors) return undefined;
    return this.zones[Math.floor(sector / this.zoneSectors)];
  }

  #open(): number {
    return this.zones.filter((z) => z.state === ZoneState.IOPEN || z.state === ZoneState.EOPEN).length;
  }
  #active(): number {
    return this.zones.filter((z) =>
      z.state === ZoneState.IOPEN || z.state === ZoneState.EOPEN ||
      z.state === ZoneState.CLOSED
    ).length;
  }

  /**
   * The status of moving `z` into an open state (by a write or append when `implicit`, else by ZONE_OPEN), resources
   * considered; OK when it may.
   */
  protected mayOpen(z: Zone, _implicit: boolean): number {
    if (z.state === ZoneState.IOPEN || z.state === ZoneState.EOPEN) return OK;
    // An empty zone becomes active too; running out of both is an active-resource error.
    if (z.state === ZoneState.EMPTY && this.maxActive > 0 && this.#active() >= this.maxActive) {
      return ZoneStatus.ACTIVE_RESOURCE;
    }
    if (this.maxOpen > 0 && this.#open() >= this.maxOpen) return ZoneStatus.OPEN_RESOURCE;
    return OK;
  }

  /** A zone management request (open, close, finish, reset, reset all) for `sector`; its status. */
  manage(type: number, sector: number): number {
    if (type === ZoneReq.RESET_ALL) {
      if (sector !== 0) return ZoneStatus.INVALID_CMD;
      for (const z of this.zones) {
        if ([ZoneState.IOPEN, ZoneState.EOPEN, ZoneState.CLOSED, ZoneState.FULL].includes(z.state as 2)) this.#reset(z);
      }
      return OK;
    }
    const z = this.zoneOf(sector);
    if (!z || z.start !== sector || z.type === ZoneType.CONV) return ZoneStatus.INVALID_CMD;
    if (z.state === ZoneState.OFFLINE || z.state === ZoneState.RDONLY) return ZoneStatus.INVALID_CMD;
    switch (type) {
      case ZoneReq.OPEN: {
        if (z.state === ZoneState.FULL) return ZoneStatus.INVALID_CMD;
        const s = this.mayOpen(z, false);
        if (s !== OK) return s;
        z.state = ZoneState.EOPEN;
        return OK;
      }
      case ZoneReq.CLOSE:
        if (z.state === ZoneState.CLOSED) return OK;
        if (z.state !== ZoneState.IOPEN && z.state !== ZoneState.EOPEN) return ZoneStatus.INVALID_CMD;
        z.state = z.wp === z.start ? ZoneState.EMPTY : ZoneState.CLOSED;
        return OK;
      case ZoneReq.FINISH:
        if (z.state === ZoneState.FULL) return OK;
        z.state = ZoneState.FULL;
        z.wp = z.start + z.cap;
        return OK;
      case ZoneReq.RESET:
        this.#reset(z);
        return OK;
      default:
        return ZoneStatus.INVALID_CMD;
    }
  }

  #reset(z: Zone): void {
    if (z.state !== ZoneState.EMPTY) this.onDiscard(z.start, z.length);
    z.state = ZoneState.EMPTY;
    z.wp = z.start;
  }

  /**
   * Checks a write of `sectors` sectors at `sector` (an append when `append`, at the write pointer of the zone that
   * starts at `sector`) and moves the zone on; `at` is where the data goes.
   */
  write(sector: number, sectors: number, append = false): ZoneWrite {
    const z = this.zoneOf(sector);
    const fail = (status: number): ZoneWrite => ({ status, at: sector });
    if (!z || sectors <= 0) return fail(ZoneStatus.INVALID_CMD);
    if (append) {
      if (z.type !== ZoneType.SWR || z.start !== sector) return fail(ZoneStatus.INVALID_CMD);
      if (sectors > this.maxAppendSectors) return fail(this.maxAppendSectors === 0 ? 2 : ZoneStatus.INVALID_CMD);
    }
    if (z.type === ZoneType.CONV) {
      const last = this.zoneOf(sector + sectors - 1);
      return last && last.type === ZoneType.CONV ? { status: OK, at: sector } : fail(ZoneStatus.INVALID_CMD);
    }
    if (![ZoneState.EMPTY, ZoneState.IOPEN, ZoneState.EOPEN, ZoneState.CLOSED].includes(z.state as 1)) {
      return fail(ZoneStatus.INVALID_CMD);
    }
    const at = append ? z.wp : sector;
    if (at + sectors > z.start + z.cap) return fail(ZoneStatus.INVALID_CMD);
    if (z.type === ZoneType.SWR) {
      if (at !== z.wp || ((at + sectors) * 512) % this.writeGranularity !== 0) return fail(ZoneStatus.UNALIGNED_WP);
    }
    const s = this.mayOpen(z, true);
    if (s !== OK) return fail(s);
    if (z.state !== ZoneState.EOPEN) z.state = ZoneState.IOPEN;
    z.wp = Math.max(z.wp, at + sectors);
    if (z.wp >= z.start + z.cap) z.state = ZoneState.FULL;
    return { status: OK, at };
  }

  /** Checks a read of `sectors` sectors at `sector`: OK, or INVALID_CMD for an offline zone or one crossing zones. */
  read(sector: number, sectors: number): number {
    const first = this.zoneOf(sector);
    const last = this.zoneOf(sector + Math.max(1, sectors) - 1);
    if (!first || !last) return 1;
    for (let i = this.zones.indexOf(first); i <= this.zones.indexOf(last); i++) {
      if (this.zones[i]!.state === ZoneState.OFFLINE) return ZoneStatus.INVALID_CMD;
    }
    if (first !== last && (first.type === ZoneType.SWR || last.type === ZoneType.SWR)) return ZoneStatus.INVALID_CMD;
    return OK;
  }

  /** The zone report for the zones from the one holding `sector`, as many as fit in `bytes`. */
  report(sector: number, bytes: number): Uint8Array | undefined {
    const z = this.zoneOf(sector);
    if (!z || bytes < ZONE_REPORT_HEADER) return undefined;
    const fit = Math.floor((bytes - ZONE_REPORT_HEADER) / ZONE_DESCRIPTOR);
    const zones = this.zones.slice(this.zones.indexOf(z), this.zones.indexOf(z) + fit);
    const out = new Uint8Array(ZONE_REPORT_HEADER + zones.length * ZONE_DESCRIPTOR);
    le.setU64(out, 0, zones.length);
    zones.forEach((zone, i) => {
      const at = ZONE_REPORT_HEADER + i * ZONE_DESCRIPTOR;
      le.setU64(out, at, zone.cap);
      le.setU64(out, at + 8, zone.start);
      le.setU64(out, at + 16, zone.wp);
      out[at + 24] = zone.type;
      out[at + 25] = zone.state;
    });
    return out;
  }

  /** A secure erase of `sectors` from `sector`: every zone it covers is reset, as by ZONE_RESET. */
  erase(sector: number, sectors: number): number {
    for (let s = sector; s < sector + sectors; s += this.zoneSectors) {
      const z = this.zoneOf(s);
      if (!z || z.type === ZoneType.CONV) continue;
      if (z.state === ZoneState.OFFLINE || z.state === ZoneState.RDONLY) return ZoneStatus.INVALID_CMD;
      this.#reset(z);
    }
    return OK;
  }

  /** Writes the zoned characteristics into the configuration at offset 72. */
  writeConfig(config: Uint8Array): void {
    le.setU32(config, 72, this.zoneSectors);
    le.setU32(config, 76, this.maxOpen);
    le.setU32(config, 80, this.maxActive);
    le.setU32(config, 84, this.maxAppendSectors);
    le.setU32(config, 88, this.writeGranularity);
    config[92] = this.model;
  }
}
