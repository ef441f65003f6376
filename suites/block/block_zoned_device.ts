/**
 * Device clauses of spec 5.2 for zoned block devices (VIRTIO_BLK_F_ZONED), secure erase on them, and lifetime
 * metrics. Every clause that needs ZONED is `n/a` on a device that does not offer it.
 *
 * @module
 */
import { defineDeviceClause, type DeviceClauseContext } from "../../harness/core/clause.ts";
import { bit, BLK_F, F } from "../../harness/features.ts";
import { le } from "../../harness/memory.ts";
import {
  BLK_LIFETIME_BYTES,
  BLK_SEGMENT_BYTES,
  BLK_ZONED_MODEL_OFFSET,
  BlkType,
  SECTOR,
} from "../../harness/models/device/blk.ts";
import { ZonedModel, ZoneReq, ZoneState, ZoneStatus, ZoneType } from "../../harness/models/device/blk_zoned.ts";
import { hex } from "../../harness/text.ts";
import { expectNone, expectThat, notApplicable } from "../../harness/verify.ts";
import {
  blkCall,
  emptyZones,
  granuleSectors,
  pattern,
  reportZones,
  sequential,
  stateName,
  statusName,
  zoneAt,
  type ZonedConfig,
  type ZoneDesc,
  zonedUp,
  zoneOp,
  zoneWrite,
} from "./zoned_io.ts";

const INIT = "devicenormative:Device Types / Block Device / Device Initialization";
const OPERATION = "devicenormative:Device Types / Block Device / Device Operation";
const BLK = { deviceTypes: ["blk" as const] };
const RESOURCE = [ZoneStatus.OPEN_RESOURCE, ZoneStatus.ACTIVE_RESOURCE] as number[];

/** Zones a resource check opens at most (a device with higher or no limits is checked that far). */
const RESOURCE_ZONES = 16;

export const zonedNotOnLegacy = defineDeviceClause({
  label: INIT,
  statement: 6,
  level: "MUST NOT",
  title: "VIRTIO_BLK_F_ZONED not offered on the legacy interface",
  applies: { ...BLK, transports: ["mmio-legacy"], legacy: true },
  requirement: "A device presented through the legacy interface, which has no FEATURES_OK step to negotiate it, " +
    "does not offer VIRTIO_BLK_F_ZONED.",
  action: "On the legacy interface, reads the device's feature bits.",
  run(ctx) {
    expectThat(
      !(ctx.offered & bit(BLK_F.ZONED)),
      "bit 17 (VIRTIO_BLK_F_ZONED) clear in the legacy feature bits",
      () => `the legacy interface offers ${hex(Number(ctx.offered & 0xffff_ffffn), 8)}, with ZONED`,
    );
    return Promise.resolve();
  },
});

export const hostManagedNeedsZoned = defineDeviceClause({
  label: INIT,
  statement: 8,
  level: "MUST",
  title: "a host-managed device refuses FEATURES_OK without VIRTIO_BLK_F_ZONED",
  applies: BLK,
  requirement: "A device of the host-managed zoned model whose driver did not accept VIRTIO_BLK_F_ZONED does not " +
    "let FEATURES_OK be set.",
  action: "Accepts VERSION_1 alone from a device offering ZONED, sets FEATURES_OK, reads the zoned model and " +
    "the device status.",
  async run(ctx) {
    if (!(ctx.offered & bit(BLK_F.ZONED))) notApplicable("the device does not offer VIRTIO_BLK_F_ZONED");
    const init = await ctx.driver.init("features-ok", () => bit(F.VERSION_1), { exact: true });
    const model = await ctx.transport.readConfig(BLK_ZONED_MODEL_OFFSET, 1);
    if (model !== ZonedModel.HM) notApplicable(`the device reports zoned model ${model}, not host-managed (1)`);
    expectThat(!init.featuresOk, "FEATURES_OK refused", () => "FEATURES_OK stayed set without ZONED accepted");
  },
});

export const modelMatchesZones = defineDeviceClause({
  label: INIT,
  statement: 9,
  level: "MUST",
  title: "the zoned model is a defined one and matches the zones",
  applies: BLK,
  requirement: "With VIRTIO_BLK_F_ZONED negotiated, zoned.model reads NONE, HM or HA as the device works: a " +
    "host-managed device has sequential-write-required zones, a host-aware one sequential-write-preferred zones.",
  action: "Negotiates ZONED, reads zoned.model and walks the zone report.",
  async run(ctx) {
    const cfg = await zonedUp(ctx);
    expectThat(
      [ZonedModel.NONE, ZonedModel.HM, ZonedModel.HA].includes(cfg.model as 0),
      "zoned.model 0 (NONE), 1 (HM) or 2 (HA)",
      () => `zoned.model ${cfg.model}`,
    );
    if (cfg.model === ZonedModel.NONE) return;
    const wrongType = cfg.model === ZonedModel.HM ? ZoneType.SWP : ZoneType.SWR;
    const zones = await reportZones(ctx, cfg);
    expectNone(
      `no ${wrongType === ZoneType.SWP ? "sequential-write-preferred" : "sequential-write-required"} zone on a ` +
        `${cfg.model === ZonedModel.HM ? "host-managed" : "host-aware"} device`,
      zones.filter((z) => z.type === wrongType),
      (z) => `the zone at sector ${z.start} has type ${z.type}`,
    );
  },
});

export const zoneSectorsMatchZones = defineDeviceClause({
  label: INIT,
  statement: 10,
  level: "MUST",
  title: "zone_sectors is the size of every zone but the last",
  applies: BLK,
  requirement: "With VIRTIO_BLK_F_ZONED negotiated on a host-managed or host-aware device, zoned.zone_sectors is " +
    "the size of a zone: every zone has that size except the last, which may be smaller.",
  action: "Negotiates ZONED, reads zone_sectors and the capacity, walks the zone report and compares each zone's " +
    "start with where zone_sectors puts it.",
  async run(ctx) {
    const cfg = await zonedUp(ctx);
    if (cfg.model === ZonedModel.NONE) notApplicable("the device reports the NONE zoned model");
    expectThat(cfg.zoneSectors > 0, "zone_sectors above 0", () => "zone_sectors 0");
    const zones = await reportZones(ctx, cfg);
    const expected = Math.ceil(cfg.capacity / cfg.zoneSectors);
    const wrong: string[] = [];
    if (zones.length !== expected) {
      wrong.push(
        `${zones.length} zones reported, ${expected} for ${cfg.capacity} sectors in zones of ${cfg.zoneSectors}`,
      );
    }
    zones.forEach((z, i) => {
      if (z.start !== i * cfg.zoneSectors) {
        wrong.push(`zone ${i} starts at sector ${z.start}, not ${i * cfg.zoneSectors}`);
      }
      if (z.cap > cfg.zoneSectors) wrong.push(`zone ${i} has capacity ${z.cap}, above zone_sectors`);
    });
    expectNone(`zones of ${cfg.zoneSectors} sectors`, wrong, (x) => x);
  },
});

/** Opens `zones` explicitly, one by one; the statuses that were not OK. */
async function openAll(ctx: DeviceClauseContext, zones: ZoneDesc[]): Promise<string[]> {
  const wrong: string[] = [];
  for (const z of zones) {
    const s = await zoneOp(ctx, ZoneReq.OPEN, z.start);
    if (s !== 0) wrong.push(`ZONE_OPEN of the zone at sector ${z.start}: ${statusName(s)}`);
  }
  return wrong;
}

/** The smaller nonzero of two limits (0: no limit), capped at {@link RESOURCE_ZONES}. */
function limit(a: number, b: number): number {
  return Math.min(a || RESOURCE_ZONES, b || RESOURCE_ZONES, RESOURCE_ZONES);
}

export const maxOpenHonest = defineDeviceClause({
  label: INIT,
  statement: 12,
  level: "MUST",
  title: "max_open_zones zones can be open",
  applies: BLK,
  requirement: "With VIRTIO_BLK_F_ZONED negotiated, zoned.max_open_zones is the number of zones the device lets be " +
    "open at once (0: no limit): that many can be opened.",
  action: `Negotiates ZONED, resets all zones and opens as many empty sequential zones as max_open_zones (and ` +
    `max_active_zones) allow, up to ${RESOURCE_ZONES}, each with ZONE_OPEN.`,
  async run(ctx) {
    const cfg = await zonedUp(ctx);
    const n = limit(cfg.maxOpen, cfg.maxActive);
    const zones = await emptyZones(ctx, cfg, 1);
    const wrong = await openAll(ctx, zones.slice(0, n));
    expectNone(`${Math.min(n, zones.length)} zones opened (max_open_zones ${cfg.maxOpen})`, wrong, (x) => x);
  },
});

export const maxActiveHonest = defineDeviceClause({
  label: INIT,
  statement: 13,
  level: "MUST",
  title: "max_active_zones zones can be active",
  applies: BLK,
  requirement: "With VIRTIO_BLK_F_ZONED negotiated, zoned.max_active_zones is the number of zones the device lets " +
    "be active (open or closed) at once (0: no limit): that many can be made active.",
  action: `Negotiates ZONED, resets all zones, then for as many empty sequential zones as max_active_zones allows ` +
    `(up to ${RESOURCE_ZONES}) writes one granule and closes the zone, which leaves it closed and active.`,
  async run(ctx) {
    const cfg = await zonedUp(ctx);
    const n = Math.min(cfg.maxActive || RESOURCE_ZONES, RESOURCE_ZONES);
    const zones = (await emptyZones(ctx, cfg, 1)).slice(0, n);
    const wrong: string[] = [];
    const g = granuleSectors(cfg);
    for (const z of zones) {
      const w = await zoneWrite(ctx, z.start, pattern(g, z.start));
      if (w !== 0) wrong.push(`a write of one granule at the start of the zone at ${z.start}: ${statusName(w)}`);
      const c = await zoneOp(ctx, ZoneReq.CLOSE, z.start);
      if (c !== 0) wrong.push(`ZONE_CLOSE of the zone at ${z.start}: ${statusName(c)}`);
    }
    expectNone(`${zones.length} zones made active (max_active_zones ${cfg.maxActive})`, wrong, (x) => x);
  },
});

/** An empty sequential-write-required zone after a reset of all zones (appends go to these only). */
async function swrZone(ctx: DeviceClauseContext, cfg: ZonedConfig): Promise<ZoneDesc> {
  const z = (await emptyZones(ctx, cfg, 1)).find((z) => z.type === ZoneType.SWR);
  if (!z) notApplicable("the device has no empty sequential-write-required zone");
  return z;
}

export const maxAppendServed = defineDeviceClause({
  label: INIT,
  statement: 14,
  level: "MUST",
  title: "an append of max_append_sectors succeeds",
  applies: BLK,
  requirement: "With VIRTIO_BLK_F_ZONED negotiated, zoned.max_append_sectors is the largest ZONE_APPEND the device " +
    "serves: an append of that size succeeds.",
  action: "Negotiates ZONED, resets all zones and appends max_append_sectors sectors (at most the zone's " +
    "capacity, in whole granules) to an empty sequential-write-required zone.",
  async run(ctx) {
    const cfg = await zonedUp(ctx);
    if (cfg.maxAppendSectors === 0) notApplicable("max_append_sectors is 0: the device does not serve appends");
    const z = await swrZone(ctx, cfg);
    const g = granuleSectors(cfg);
    const n = Math.floor(Math.min(cfg.maxAppendSectors, z.cap, 1024) / g) * g;
    if (n === 0) notApplicable(`max_append_sectors ${cfg.maxAppendSectors} is below one write granule`);
    const r = await blkCall(ctx, { type: ZoneReq.APPEND, sector: z.start, out: pattern(n, 3), inBytes: 8 });
    expectThat(r.status === 0, `an append of ${n} sectors completed OK`, () => statusName(r.status));
  },
});

export const maxAppendWithinSegments = defineDeviceClause({
  label: INIT,
  statement: 15,
  level: "MUST NOT",
  title: "max_append_sectors within seg_max × size_max",
  applies: BLK,
  requirement: "With VIRTIO_BLK_F_ZONED negotiated, zoned.max_append_sectors (in sectors) is no larger than seg_max " +
    "segments of size_max bytes allow.",
  action: "Negotiates ZONED, SEG_MAX and SIZE_MAX, and compares max_append_sectors × 512 with seg_max × size_max.",
  async run(ctx) {
    if (!(ctx.offered & bit(BLK_F.SEG_MAX)) || !(ctx.offered & bit(BLK_F.SIZE_MAX))) {
      notApplicable("the device does not offer both SEG_MAX and SIZE_MAX");
    }
    const cfg = await zonedUp(ctx, [BLK_F.SEG_MAX, BLK_F.SIZE_MAX]);
    const sizeMax = await ctx.transport.readConfig(8, 4);
    const segMax = await ctx.transport.readConfig(12, 4);
    expectThat(
      cfg.maxAppendSectors * SECTOR <= segMax * sizeMax,
      `max_append_sectors × 512 at most ${segMax} × ${sizeMax}`,
      () => `max_append_sectors ${cfg.maxAppendSectors} (${cfg.maxAppendSectors * SECTOR} bytes)`,
    );
  },
});

export const writeGranularityHonest = defineDeviceClause({
  label: INIT,
  statement: 17,
  level: "MUST",
  title: "write_granularity is a size writes can have",
  applies: BLK,
  requirement: "With VIRTIO_BLK_F_ZONED negotiated, zoned.write_granularity is the alignment of writes to " +
    "sequential zones: a whole number of sectors, and a write of that size at a zone's write pointer succeeds.",
  action: "Negotiates ZONED, reads write_granularity, resets all zones and writes one granule at the start of an " +
    "empty sequential zone.",
  async run(ctx) {
    const cfg = await zonedUp(ctx);
    expectThat(
      cfg.writeGranularity > 0 && cfg.writeGranularity % SECTOR === 0,
      "write_granularity a nonzero multiple of 512",
      () => `write_granularity ${cfg.writeGranularity}`,
    );
    const z = (await emptyZones(ctx, cfg, 1))[0]!;
    const s = await zoneWrite(ctx, z.start, pattern(cfg.writeGranularity / SECTOR, 5));
    expectThat(
      s === 0,
      `a write of ${cfg.writeGranularity} bytes at sector ${z.start} completed OK`,
      () => statusName(s),
    );
  },
});

export const zonedPaddingZero = defineDeviceClause({
  label: INIT,
  statement: 18,
  level: "MUST",
  title: "the padding bytes unused2 read 0",
  applies: BLK,
  requirement: "With VIRTIO_BLK_F_ZONED negotiated, the three padding bytes after zoned.model read 0.",
  action: "Negotiates ZONED and reads configuration bytes 93 to 95.",
  async run(ctx) {
    await zonedUp(ctx);
    const wrong: string[] = [];
    for (let o = 93; o < 96; o++) {
      const v = await ctx.transport.readConfig(o, 1);
      if (v !== 0) wrong.push(`byte ${o} reads ${hex(v, 2)}`);
    }
    expectNone("unused2 all zero", wrong, (x) => x);
  },
});

export const conventionalZoneOpsInvalid = defineDeviceClause({
  label: OPERATION,
  statement: 19,
  level: "MUST",
  title: "zone operations on a conventional zone end in ZONE_INVALID_CMD",
  applies: BLK,
  requirement: "ZONE_OPEN, ZONE_CLOSE, ZONE_FINISH and ZONE_RESET for a conventional zone complete with " +
    "VIRTIO_BLK_S_ZONE_INVALID_CMD.",
  action: "Negotiates ZONED, finds a conventional zone in the zone report and sends each of the four requests for it.",
  async run(ctx) {
    const cfg = await zonedUp(ctx);
    const conv = (await reportZones(ctx, cfg)).find((z) => z.type === ZoneType.CONV);
    if (!conv) notApplicable("the device reports no conventional zone");
    const wrong: string[] = [];
    for (
      const [name, type] of [["OPEN", ZoneReq.OPEN], ["CLOSE", ZoneReq.CLOSE], ["FINISH", ZoneReq.FINISH], [
        "RESET",
        ZoneReq.RESET,
      ]] as const
    ) {
      const s = await zoneOp(ctx, type, conv.start);
      if (s !== ZoneStatus.INVALID_CMD) wrong.push(`ZONE_${name}: ${statusName(s)}`);
    }
    expectNone(`ZONE_INVALID_CMD for each (zone at sector ${conv.start})`, wrong, (x) => x);
  },
});

/** A zone made full: reset all, open one sequential zone, finish it; `n/a` when it does not end full. */
async function fullZone(ctx: DeviceClauseContext, cfg: ZonedConfig): Promise<ZoneDesc> {
  const z = (await emptyZones(ctx, cfg, 1))[0]!;
  const o = await zoneOp(ctx, ZoneReq.OPEN, z.start);
  const f = await zoneOp(ctx, ZoneReq.FINISH, z.start);
  const now = await zoneAt(ctx, z.start);
  if (o !== 0 || f !== 0 || now.state !== ZoneState.FULL) {
    notApplicable(`the zone at ${z.start} did not become full (open ${statusName(o)}, finish ${statusName(f)})`);
  }
  return now;
}

/** Zones the device reports read-only or offline: no transition leads out of those but to offline. */
async function stuckZones(ctx: DeviceClauseContext, cfg: ZonedConfig): Promise<ZoneDesc[]> {
  return (await reportZones(ctx, cfg)).filter((z) =>
    sequential(z) && (z.state === ZoneState.RDONLY || z.state === ZoneState.OFFLINE)
  );
}

/** Sends `type` for each zone; the ones that did not end in ZONE_INVALID_CMD with the zone's state unchanged. */
async function refusedWithStateKept(ctx: DeviceClauseContext, type: number, zones: ZoneDesc[]): Promise<string[]> {
  const wrong: string[] = [];
  for (const z of zones) {
    const s = await zoneOp(ctx, type, z.start);
    const after = await zoneAt(ctx, z.start);
    if (s !== ZoneStatus.INVALID_CMD) wrong.push(`zone at ${z.start} (${stateName(z.state)}): ${statusName(s)}`);
    else if (after.state !== z.state) {
      wrong.push(`zone at ${z.start}: ${stateName(z.state)} became ${stateName(after.state)}`);
    }
  }
  return wrong;
}

/** Sends `type` to a zone made full and to every read-only or offline zone; each must be refused, state kept. */
async function refusedOnFullAndStuck(ctx: DeviceClauseContext, type: number): Promise<void> {
  const cfg = await zonedUp(ctx);
  const zones = [await fullZone(ctx, cfg), ...await stuckZones(ctx, cfg)];
  expectNone("ZONE_INVALID_CMD, state kept", await refusedWithStateKept(ctx, type, zones), (x) => x);
}

/** Sends `type` to every read-only or offline zone; each must be refused, state kept (`n/a` without one). */
async function refusedOnStuck(ctx: DeviceClauseContext, type: number): Promise<void> {
  const cfg = await zonedUp(ctx);
  const zones = await stuckZones(ctx, cfg);
  if (zones.length === 0) notApplicable("the device reports no read-only or offline zone");
  expectNone("ZONE_INVALID_CMD, state kept", await refusedWithStateKept(ctx, type, zones), (x) => x);
}

/**
 * Resets all zones, opens as many as the smaller limit explicitly (the device never closes those on its own), then
 * asks `attempt` to open one more empty zone; its status.
 */
async function beyondLimits(
  ctx: DeviceClauseContext,
  attempt: (cfg: ZonedConfig, zone: ZoneDesc) => Promise<number>,
): Promise<{ status: number; zone: ZoneDesc; n: number }> {
  const cfg = await zonedUp(ctx);
  if (cfg.maxOpen === 0 && cfg.maxActive === 0) notApplicable("the device sets no open or active zone limit");
  const n = limit(cfg.maxOpen, cfg.maxActive);
  const zones = await emptyZones(ctx, cfg, n + 1);
  const first = await openAll(ctx, zones.slice(0, n));
  if (first.length > 0) notApplicable(`the device did not open ${n} zones (${first[0]})`);
  return { status: await attempt(cfg, zones[n]!), zone: zones[n]!, n };
}

export const openImpossibleInvalid = defineDeviceClause({
  label: OPERATION,
  statement: 20,
  level: "MUST",
  title: "ZONE_OPEN of a zone that cannot open ends in ZONE_INVALID_CMD",
  applies: BLK,
  requirement: "A ZONE_OPEN for a zone that cannot go to the explicitly open state (a full, read-only or offline " +
    "zone) completes with VIRTIO_BLK_S_ZONE_INVALID_CMD.",
  action: "Negotiates ZONED, makes a sequential zone full (open, finish) and opens it again; sends ZONE_OPEN to " +
    "each read-only or offline zone the report shows.",
  run: (ctx) => refusedOnFullAndStuck(ctx, ZoneReq.OPEN),
});

export const openBeyondResources = defineDeviceClause({
  label: OPERATION,
  statement: 21,
  level: "MUST",
  title: "ZONE_OPEN beyond the zone limits ends in a resource status",
  applies: BLK,
  requirement: "A ZONE_OPEN the device cannot serve without exceeding max_open_zones or max_active_zones leaves the " +
    "zone as it was and completes with VIRTIO_BLK_S_ZONE_OPEN_RESOURCE or VIRTIO_BLK_S_ZONE_ACTIVE_RESOURCE.",
  action: "Negotiates ZONED, resets all zones, opens as many zones as the smaller limit, then one more.",
  async run(ctx) {
    const { status: s, zone: extra, n } = await beyondLimits(ctx, (_cfg, z) => zoneOp(ctx, ZoneReq.OPEN, z.start));
    const after = await zoneAt(ctx, extra.start);
    expectThat(
      RESOURCE.includes(s) && after.state === ZoneState.EMPTY,
      `ZONE_OPEN_RESOURCE or ZONE_ACTIVE_RESOURCE for zone ${n + 1}, left empty`,
      () => `${statusName(s)}, the zone is ${stateName(after.state)}`,
    );
  },
});

export const closeImpossibleInvalid = defineDeviceClause({
  label: OPERATION,
  statement: 22,
  level: "MUST",
  title: "ZONE_CLOSE of a zone that cannot close ends in ZONE_INVALID_CMD",
  applies: BLK,
  requirement: "A ZONE_CLOSE for a zone that cannot go to the closed state (a full, read-only or offline zone) " +
    "completes with VIRTIO_BLK_S_ZONE_INVALID_CMD.",
  action: "Negotiates ZONED, makes a sequential zone full (open, finish) and closes it; sends ZONE_CLOSE to each " +
    "read-only or offline zone the report shows.",
  run: (ctx) => refusedOnFullAndStuck(ctx, ZoneReq.CLOSE),
});

export const finishImpossibleInvalid = defineDeviceClause({
  label: OPERATION,
  statement: 23,
  level: "MUST",
  title: "ZONE_FINISH of a zone that cannot finish ends in ZONE_INVALID_CMD, state kept",
  applies: BLK,
  requirement: "A ZONE_FINISH for a zone that cannot become full (a read-only or offline zone) leaves the zone as it " +
    "was and completes with VIRTIO_BLK_S_ZONE_INVALID_CMD.",
  action: "Negotiates ZONED, sends ZONE_FINISH to each read-only or offline zone the report shows and reports the " +
    "zone again.",
  run: (ctx) => refusedOnStuck(ctx, ZoneReq.FINISH),
});

export const resetImpossibleInvalid = defineDeviceClause({
  label: OPERATION,
  statement: 24,
  level: "MUST",
  title: "ZONE_RESET of a zone that cannot reset ends in ZONE_INVALID_CMD, state kept",
  applies: BLK,
  requirement: "A ZONE_RESET for a zone that cannot become empty (a read-only or offline zone) leaves the zone as it " +
    "was and completes with VIRTIO_BLK_S_ZONE_INVALID_CMD.",
  action: "Negotiates ZONED, sends ZONE_RESET to each read-only or offline zone the report shows and reports the " +
    "zone again.",
  run: (ctx) => refusedOnStuck(ctx, ZoneReq.RESET),
});

export const implicitOpenBeyondResources = defineDeviceClause({
  label: OPERATION,
  statement: 25,
  level: "MUST",
  title: "a write that would open a zone beyond the limits ends in a resource status",
  applies: BLK,
  requirement: "A write (or append) to an empty or closed sequential zone that the device cannot open without " +
    "exceeding max_open_zones or max_active_zones completes with VIRTIO_BLK_S_ZONE_OPEN_RESOURCE or " +
    "VIRTIO_BLK_S_ZONE_ACTIVE_RESOURCE.",
  action: "Negotiates ZONED, resets all zones, opens as many zones explicitly as the smaller limit (explicitly open " +
    "zones are never closed by the device), then writes one granule at the start of another empty zone.",
  async run(ctx) {
    const { status: s, n } = await beyondLimits(
      ctx,
      (cfg, z) => zoneWrite(ctx, z.start, pattern(granuleSectors(cfg), 9)),
    );
    expectThat(
      RESOURCE.includes(s),
      `ZONE_OPEN_RESOURCE or ZONE_ACTIVE_RESOURCE for a write to zone ${n + 1}`,
      () => statusName(s),
    );
  },
});

export const appendSectorReported = defineDeviceClause({
  label: OPERATION,
  statement: 26,
  level: "MUST",
  title: "a successful append reports where its data went",
  applies: BLK,
  requirement: "A ZONE_APPEND that completes OK sets append_sector to the first sector of the data it wrote.",
  action: "Negotiates ZONED, resets all zones, writes one granule at the start of a sequential-write-required zone, " +
    "appends one more granule to it, and reads back the sectors append_sector names.",
  async run(ctx) {
    const cfg = await zonedUp(ctx);
    if (cfg.maxAppendSectors === 0) notApplicable("max_append_sectors is 0: the device does not serve appends");
    const z = await swrZone(ctx, cfg);
    const g = granuleSectors(cfg);
    if (g > cfg.maxAppendSectors) notApplicable("one write granule is above max_append_sectors");
    const w = await zoneWrite(ctx, z.start, pattern(g, 1));
    if (w !== 0) notApplicable(`the first write to the zone at ${z.start} ended in ${statusName(w)}`);
    const data = pattern(g, 2);
    const r = await blkCall(ctx, { type: ZoneReq.APPEND, sector: z.start, out: data, inBytes: 8 });
    if (r.status !== 0) notApplicable(`the append ended in ${statusName(r.status)}`);
    const at = le.u64(r.data!, 0);
    expectThat(at === z.start + g, `append_sector ${z.start + g} (the write pointer)`, () => `append_sector ${at}`);
    const back = await blkCall(ctx, { type: BlkType.IN, sector: at, inBytes: g * SECTOR });
    const same = back.status === 0 && back.data!.every((b, i) => b === data[i]);
    expectThat(same, "the appended data at append_sector", () => `a read of sector ${at}: ${statusName(back.status)}`);
  },
});

/** Reads `sectors` at `sector`: undefined when the device failed the read (allowed for unwritten data). */
async function readBack(ctx: DeviceClauseContext, sector: number, sectors: number) {
  const r = await blkCall(ctx, { type: BlkType.IN, sector, inBytes: sectors * SECTOR });
  return r.status === 0 ? { data: r.data!, usedLen: r.usedLen } : undefined;
}

export const unwrittenNotStale = defineDeviceClause({
  label: OPERATION,
  statement: 28,
  level: "MUST",
  title: "sectors past the write pointer are unwritten data, after a reset and after a finish",
  applies: BLK,
  requirement: "Sectors between a zone's write pointer and its end, and those a ZONE_FINISH skipped, are unwritten " +
    "data: a read does not return what was written there before the zone was reset.",
  action: "Negotiates ZONED, writes two granules to a sequential zone, resets it, writes one other granule, reads " +
    "the second granule; finishes the zone and reads it again.",
  async run(ctx) {
    const cfg = await zonedUp(ctx);
    const z = (await emptyZones(ctx, cfg, 1))[0]!;
    const g = granuleSectors(cfg);
    const old = pattern(2 * g, 4);
    const w = await zoneWrite(ctx, z.start, old);
    if (w !== 0) notApplicable(`the first write ended in ${statusName(w)}`);
    const r = await zoneOp(ctx, ZoneReq.RESET, z.start);
    const w2 = await zoneWrite(ctx, z.start, pattern(g, 6));
    if (r !== 0 || w2 !== 0) notApplicable(`reset ${statusName(r)}, write ${statusName(w2)}`);
    const stale = old.subarray(g * SECTOR);
    const wrong: string[] = [];
    const check = async (when: string) => {
      const got = await readBack(ctx, z.start + g, g);
      if (got && got.data.every((b, i) => b === stale[i])) wrong.push(`${when}: the read returned the old data`);
    };
    await check("past the write pointer");
    const f = await zoneOp(ctx, ZoneReq.FINISH, z.start);
    if (f === 0) await check("after ZONE_FINISH");
    expectNone(`no old data at sector ${z.start + g}`, wrong, (x) => x);
  },
});

export const unwrittenFilledOrFailed = defineDeviceClause({
  label: OPERATION,
  statement: 29,
  level: "MUST",
  title: "a read of unwritten data is filled or failed",
  applies: BLK,
  requirement: "A read covering unwritten data of a sequential zone either fills it with a byte pattern of the " +
    "device's choice (the whole buffer written) or fails.",
  action: "Negotiates ZONED, writes one granule to an empty sequential zone and reads the granule after it; a read " +
    "that completes OK must report the whole data buffer written.",
  async run(ctx) {
    const cfg = await zonedUp(ctx);
    const z = (await emptyZones(ctx, cfg, 1))[0]!;
    const g = granuleSectors(cfg);
    const w = await zoneWrite(ctx, z.start, pattern(g, 8));
    if (w !== 0) notApplicable(`the write ended in ${statusName(w)}`);
    const got = await readBack(ctx, z.start + g, g);
    if (!got) return;
    expectThat(
      got.usedLen >= g * SECTOR + 1,
      `used length ${g * SECTOR + 1} (the data and the status byte)`,
      () => `used length ${got.usedLen}`,
    );
  },
});

/** A secure erase segment. */
function segment(sector: number, sectors: number): Uint8Array {
  const seg = new Uint8Array(BLK_SEGMENT_BYTES);
  le.setU64(seg, 0, sector);
  le.setU32(seg, 8, sectors);
  return seg;
}

export const eraseAlignedToZones = defineDeviceClause({
  label: OPERATION,
  statement: 30,
  level: "MUST",
  title: "secure_erase_sector_alignment a multiple of zone_sectors",
  applies: BLK,
  requirement: "With VIRTIO_BLK_F_ZONED and VIRTIO_BLK_F_SECURE_ERASE negotiated, secure_erase_sector_alignment is a " +
    "multiple of zoned.zone_sectors.",
  action: "Negotiates ZONED and SECURE_ERASE and reads both fields.",
  async run(ctx) {
    if (!(ctx.offered & bit(BLK_F.SECURE_ERASE))) notApplicable("the device does not offer SECURE_ERASE");
    const cfg = await zonedUp(ctx, [BLK_F.SECURE_ERASE]);
    if (cfg.zoneSectors === 0) notApplicable("zone_sectors is 0");
    const align = await ctx.transport.readConfig(68, 4);
    expectThat(
      align > 0 && align % cfg.zoneSectors === 0,
      `secure_erase_sector_alignment a multiple of ${cfg.zoneSectors}`,
      () => `secure_erase_sector_alignment ${align}`,
    );
  },
});

export const eraseResetsZones = defineDeviceClause({
  label: OPERATION,
  statement: 32,
  level: "MUST",
  title: "a secure erase resets the zones it covers",
  applies: BLK,
  requirement: "With VIRTIO_BLK_F_ZONED negotiated, a SECURE_ERASE acts on the zones of its range as a ZONE_RESET " +
    "would: they end empty, with the write pointer at their start.",
  action: "Negotiates ZONED and SECURE_ERASE, writes one granule to a sequential zone, erases the whole zone and " +
    "reports it.",
  async run(ctx) {
    if (!(ctx.offered & bit(BLK_F.SECURE_ERASE))) notApplicable("the device does not offer SECURE_ERASE");
    const cfg = await zonedUp(ctx, [BLK_F.SECURE_ERASE]);
    const z = (await emptyZones(ctx, cfg, 1))[0]!;
    const w = await zoneWrite(ctx, z.start, pattern(granuleSectors(cfg), 10));
    if (w !== 0) notApplicable(`the write ended in ${statusName(w)}`);
    const e = await blkCall(ctx, { type: BlkType.SECURE_ERASE, out: segment(z.start, cfg.zoneSectors) });
    const after = await zoneAt(ctx, z.start);
    expectThat(
      e.status === 0 && after.state === ZoneState.EMPTY && after.wp === z.start,
      `status OK, the zone empty with its write pointer at ${z.start}`,
      () => `${statusName(e.status)}, the zone ${stateName(after.state)} with its write pointer at ${after.wp}`,
    );
  },
});

export const lifetimeNoReserved = defineDeviceClause({
  label: OPERATION,
  statement: 17,
  level: "MUST NOT",
  title: "no reserved value in the lifetime metrics",
  applies: BLK,
  requirement: "With VIRTIO_BLK_F_LIFETIME, the answer to GET_LIFETIME holds only defined values: pre_eol_info 0 to " +
    "3, each lifetime estimate 0 to 0x0b.",
  action: "Negotiates LIFETIME, sends GET_LIFETIME and reads the three fields.",
  async run(ctx) {
    if (!(ctx.offered & bit(BLK_F.LIFETIME))) notApplicable("the device does not offer VIRTIO_BLK_F_LIFETIME");
    // ZONED too when offered: a host-managed device works only with it.
    const want = bit(F.VERSION_1) | bit(BLK_F.LIFETIME) | bit(BLK_F.ZONED);
    const init = await ctx.driver.init("driver-ok", (o) => o & want);
    if (!init.featuresOk) notApplicable("the device refused LIFETIME with VERSION_1");
    const r = await blkCall(ctx, { type: BlkType.GET_LIFETIME, inBytes: BLK_LIFETIME_BYTES });
    if (r.status !== 0) notApplicable(`GET_LIFETIME ended in ${statusName(r.status)}: no values sent`);
    const [eol, a, b] = [le.u16(r.data!, 0), le.u16(r.data!, 2), le.u16(r.data!, 4)];
    const wrong: string[] = [];
    if (eol > 3) wrong.push(`pre_eol_info ${hex(eol, 4)}`);
    if (a > 0x0b) wrong.push(`device_lifetime_est_typ_a ${hex(a, 4)}`);
    if (b > 0x0b) wrong.push(`device_lifetime_est_typ_b ${hex(b, 4)}`);
    expectNone("values in their defined ranges", wrong, (x) => x);
  },
});

/** The zoned, secure erase and lifetime device clauses of spec 5.2. */
export const BLOCK_ZONED_DEVICE_CLAUSES = [
  zonedNotOnLegacy,
  hostManagedNeedsZoned,
  modelMatchesZones,
  zoneSectorsMatchZones,
  maxOpenHonest,
  maxActiveHonest,
  maxAppendServed,
  maxAppendWithinSegments,
  writeGranularityHonest,
  zonedPaddingZero,
  conventionalZoneOpsInvalid,
  openImpossibleInvalid,
  openBeyondResources,
  closeImpossibleInvalid,
  finishImpossibleInvalid,
  resetImpossibleInvalid,
  implicitOpenBeyondResources,
  appendSectorReported,
  unwrittenNotStale,
  unwrittenFilledOrFailed,
  eraseAlignedToZones,
  eraseResetsZones,
  lifetimeNoReserved,
];
