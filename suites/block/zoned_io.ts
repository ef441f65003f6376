/**
 * The harness as the driver of a zoned block device (VIRTIO_BLK_F_ZONED, spec 5.2): negotiating it, reading the
 * zoned characteristics, zone requests with their status, and walking the zone report.
 *
 * @module
 */
import { TargetError } from "../../harness/adapter.ts";
import type { DeviceClauseContext } from "../../harness/core/clause.ts";
import { bit, BLK_F, F } from "../../harness/features.ts";
import { le } from "../../harness/memory.ts";
import { BLK_ZONED_MODEL_OFFSET, SECTOR } from "../../harness/models/device/blk.ts";
import {
  ZONE_DESCRIPTOR,
  ZONE_REPORT_HEADER,
  ZoneReq,
  ZoneState,
  ZoneType,
} from "../../harness/models/device/blk_zoned.ts";
import { hex } from "../../harness/text.ts";
import { notApplicable } from "../../harness/verify.ts";

/** The zoned characteristics (configuration offset 72 on) and the capacity, as read after FEATURES_OK. */
export interface ZonedConfig {
  capacity: number;
  zoneSectors: number;
  maxOpen: number;
  maxActive: number;
  maxAppendSectors: number;
  writeGranularity: number;
  model: number;
}

/** One zone descriptor of a zone report. */
export interface ZoneDesc {
  cap: number;
  start: number;
  wp: number;
  type: number;
  state: number;
}

/** Bytes of the buffer each zone report request gives (the header and 63 descriptors). */
const REPORT_BYTES = 4096;
/** Zone report requests one walk makes at most. */
const REPORT_REQUESTS = 64;

/** Reads a configuration field of up to 8 bytes, little-endian, 32 bits at a time. */
async function configNumber(ctx: DeviceClauseContext, offset: number, size: 1 | 4 | 8): Promise<number> {
  if (size === 1) return await ctx.transport.readConfig(offset, 1);
  const lo = await ctx.transport.readConfig(offset, 4);
  return size === 4 ? lo : lo + (await ctx.transport.readConfig(offset + 4, 4)) * 2 ** 32;
}

/** The zoned characteristics and capacity, read now. */
export async function readZonedConfig(ctx: DeviceClauseContext): Promise<ZonedConfig> {
  return {
    capacity: await configNumber(ctx, 0, 8),
    zoneSectors: await configNumber(ctx, 72, 4),
    maxOpen: await configNumber(ctx, 76, 4),
    maxActive: await configNumber(ctx, 80, 4),
    maxAppendSectors: await configNumber(ctx, 84, 4),
    writeGranularity: await configNumber(ctx, 88, 4),
    model: await configNumber(ctx, BLK_ZONED_MODEL_OFFSET, 1),
  };
}

/**
 * Negotiates VERSION_1 and ZONED (and `extra` features, those offered), sets DRIVER_OK and reads the zoned
 * characteristics; `n/a` when the device does not offer ZONED or refuses that set.
 */
export async function zonedUp(ctx: DeviceClauseContext, extra: number[] = []): Promise<ZonedConfig> {
  if (!(ctx.offered & bit(BLK_F.ZONED))) notApplicable("the device does not offer VIRTIO_BLK_F_ZONED");
  const want = bit(F.VERSION_1) | bit(BLK_F.ZONED) | extra.reduce((m, f) => m | bit(f), 0n);
  const init = await ctx.driver.init("driver-ok", (o) => o & want);
  if (!init.featuresOk) notApplicable("the device refused VIRTIO_BLK_F_ZONED with VERSION_1");
  return await readZonedConfig(ctx);
}

/** A block request's outcome: its status byte and what it wrote in its device-writable data buffer. */
export interface BlkOutcome {
  status: number;
  /** The used length the device reported: bytes written into the device-writable buffers. */
  usedLen: number;
  data?: Uint8Array;
}

/** Sends one block request on queue 0 and waits for it: an error when the device does not use it in time. */
export async function blkCall(
  ctx: DeviceClauseContext,
  r: { type: number; sector?: number; out?: Uint8Array; inBytes?: number },
): Promise<BlkOutcome> {
  const req = await ctx.driver.blkRequest(0, r);
  await ctx.driver.kick(0);
  const used = await ctx.driver.waitUsed(0, 1);
  if (used.length === 0) {
    throw new TargetError(`The device did not use a request of type ${r.type} (sector ${r.sector ?? 0}) in time`);
  }
  const status = (await ctx.session.memory.read(req.status, 1))[0]!;
  const data = req.dataIn === undefined ? undefined : await ctx.session.memory.read(req.dataIn, r.inBytes!);
  return { status, usedLen: used[0]!.len, ...(data ? { data } : {}) };
}

/** A zone management request (open, close, finish, reset, reset all) for the zone at `sector`; its status. */
export async function zoneOp(ctx: DeviceClauseContext, type: number, sector: number): Promise<number> {
  return (await blkCall(ctx, { type, sector })).status;
}

/** A write of `data` at `sector` (OUT); its status. */
export async function zoneWrite(ctx: DeviceClauseContext, sector: number, data: Uint8Array): Promise<number> {
  return (await blkCall(ctx, { type: 1, sector, out: data })).status;
}

/** Every zone, from zone reports of {@link REPORT_BYTES} each; an error when the device's reports do not add up. */
export async function reportZones(ctx: DeviceClauseContext, cfg: ZonedConfig): Promise<ZoneDesc[]> {
  const zones: ZoneDesc[] = [];
  let sector = 0;
  for (let i = 0; i < REPORT_REQUESTS && sector < cfg.capacity; i++) {
    const r = await blkCall(ctx, { type: ZoneReq.REPORT, sector, inBytes: REPORT_BYTES });
    if (r.status !== 0) {
      throw new TargetError(`A zone report from sector ${sector} ended in status ${hex(r.status, 2)}`);
    }
    const data = r.data!;
    const n = le.u64(data, 0);
    if (n === 0 || n > (REPORT_BYTES - ZONE_REPORT_HEADER) / ZONE_DESCRIPTOR) {
      throw new TargetError(`A zone report from sector ${sector} says it holds ${n} zone descriptors`);
    }
    for (let k = 0; k < n; k++) {
      const at = ZONE_REPORT_HEADER + k * ZONE_DESCRIPTOR;
      zones.push({
        cap: le.u64(data, at),
        start: le.u64(data, at + 8),
        wp: le.u64(data, at + 16),
        type: data[at + 24]!,
        state: data[at + 25]!,
      });
    }
    const last = zones[zones.length - 1]!;
    const next = last.start + Math.max(1, cfg.zoneSectors);
    if (next <= sector) throw new TargetError(`The zone report from sector ${sector} does not move past it`);
    sector = next;
  }
  if (sector < cfg.capacity) notApplicable(`the device has more zones than ${REPORT_REQUESTS} reports walk`);
  return zones;
}

/** The zone holding `sector`, from a fresh report of it alone. */
export async function zoneAt(ctx: DeviceClauseContext, sector: number): Promise<ZoneDesc> {
  const r = await blkCall(ctx, { type: ZoneReq.REPORT, sector, inBytes: ZONE_REPORT_HEADER + ZONE_DESCRIPTOR });
  if (r.status !== 0 || le.u64(r.data!, 0) !== 1) {
    throw new TargetError(`A zone report of sector ${sector} ended in status ${hex(r.status, 2)}`);
  }
  const at = ZONE_REPORT_HEADER;
  const d = r.data!;
  return {
    cap: le.u64(d, at),
    start: le.u64(d, at + 8),
    wp: le.u64(d, at + 16),
    type: d[at + 24]!,
    state: d[at + 25]!,
  };
}

/** Whether a zone is sequential (write pointer) rather than conventional. */
export function sequential(z: ZoneDesc): boolean {
  return z.type === ZoneType.SWR || z.type === ZoneType.SWP;
}

/**
 * Resets every zone (ZONE_RESET_ALL) and returns the empty sequential zones of the device with room for at least
 * two write granules each; `n/a` with fewer than `need`.
 */
export async function emptyZones(ctx: DeviceClauseContext, cfg: ZonedConfig, need: number): Promise<ZoneDesc[]> {
  const s = await zoneOp(ctx, ZoneReq.RESET_ALL, 0);
  if (s !== 0) throw new TargetError(`ZONE_RESET_ALL ended in status ${hex(s, 2)}`);
  const granule = granuleSectors(cfg);
  const zones = (await reportZones(ctx, cfg)).filter((z) =>
    sequential(z) && z.state === ZoneState.EMPTY && z.cap >= 2 * granule
  );
  if (zones.length < need) {
    notApplicable(`the device has ${zones.length} empty sequential zones, the check needs ${need}`);
  }
  return zones;
}

/** Sectors of one write granule (write_granularity, at least one sector). */
export function granuleSectors(cfg: ZonedConfig): number {
  return Math.max(1, Math.ceil(cfg.writeGranularity / SECTOR));
}

/** `sectors` sectors of a pattern that differs with `seed`. */
export function pattern(sectors: number, seed: number): Uint8Array {
  return new Uint8Array(sectors * SECTOR).map((_, i) => (i * 13 + seed * 31 + 7) & 0xff);
}

/** A status byte for messages. */
export function statusName(s: number): string {
  const names: Record<number, string> = {
    0: "OK",
    1: "IOERR",
    2: "UNSUPP",
    3: "ZONE_INVALID_CMD",
    4: "ZONE_UNALIGNED_WP",
    5: "ZONE_OPEN_RESOURCE",
    6: "ZONE_ACTIVE_RESOURCE",
  };
  return `${names[s] ?? "status"} (${hex(s, 2)})`;
}

/** A zone state for messages. */
export function stateName(s: number): string {
  const name = Object.entries(ZoneState).find(([, v]) => v === s)?.[0];
  return name ?? `state ${s}`;
}
