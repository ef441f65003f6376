/**
 * Driver clauses of spec 5.2 for zoned block devices (VIRTIO_BLK_F_ZONED) and secure erase: the harness presents a
 * zoned disk (or one offering SECURE_ERASE), asks for zone work and checks every request the driver sends.
 *
 * @module
 */
import type { Workload } from "../../harness/adapter.ts";
import { defineDriverClause, type DriverClauseContext } from "../../harness/core/clause.ts";
import { bit, BLK_F } from "../../harness/features.ts";
import { BLK_SEGMENT_BYTES, BlkType, SECTOR } from "../../harness/models/device/blk.ts";
import { type ZonedOptions, ZoneReq } from "../../harness/models/device/blk_zoned.ts";
import { REFERENCE_CORE_FEATURES } from "../../harness/models/device/core.ts";
import { deviceFunctionFor, type Scenario } from "../../harness/roles/harness_device.ts";
import { accepted, wroteStatus } from "../../harness/roles/trace.ts";
import { Status } from "../../harness/status.ts";
import { expectNone, expectThat, notApplicable } from "../../harness/verify.ts";
import { type BlkRequestSeen, blkRequestsOf } from "./block_driver.ts";

const INIT = "drivernormative:Device Types / Block Device / Device Initialization";
const OPERATION = "drivernormative:Device Types / Block Device / Device Operation";
const BLK = { deviceTypes: ["blk" as const] };

/** The zoned disk the harness presents: zones of 64 sectors, one conventional, 8-sector granules, appends up to 16. */
export const PRESENTED_ZONES: ZonedOptions = {
  model: "hm",
  zoneSectors: 64,
  conventional: 1,
  maxOpen: 0,
  maxActive: 0,
  maxAppendSectors: 16,
  writeGranularity: 4096,
};
const ZONE = PRESENTED_ZONES.zoneSectors;
const GRANULE = PRESENTED_ZONES.writeGranularity! / SECTOR;
const MAX_APPEND = PRESENTED_ZONES.maxAppendSectors!;
/** The presented disk's capacity (the harness's default block device size). */
const CAPACITY = 2048;

/** The features a zoned scenario offers: the stock block device's, ZONED, DISCARD and SECURE_ERASE. */
function zonedOffer(): bigint {
  return deviceFunctionFor("blk", { blkZoned: PRESENTED_ZONES }).features | REFERENCE_CORE_FEATURES |
    bit(BLK_F.DISCARD) | bit(BLK_F.SECURE_ERASE);
}

/** A pattern of `sectors` sectors. */
function data(sectors: number): Uint8Array {
  return new Uint8Array(sectors * SECTOR).map((_, i) => (i * 5 + 3) & 0xff);
}

/**
 * Runs `work` (the kinds the driver declares; `n/a` when it declares none) on the presented zoned disk; the requests
 * of the types in `types`, `n/a` when the driver did not bind, did not take ZONED or sent none.
 */
async function zonedRequests(ctx: DriverClauseContext, work: Workload[], types: number[]): Promise<BlkRequestSeen[]> {
  const have = work.filter((w) => ctx.target.info.workloads.includes(w.kind));
  if (have.length === 0) {
    notApplicable(`the driver declares none of ${[...new Set(work.map((w) => w.kind))].join(", ")}`);
  }
  const s: Scenario = { blkZoned: PRESENTED_ZONES, knobs: { offered: zonedOffer() }, workloads: have };
  const { t, requests } = await blkRequestsOf(ctx, s);
  if (!t.probe.bound) notApplicable("the driver did not bind");
  if (!(accepted(t) & bit(BLK_F.ZONED))) notApplicable("the driver did not take the disk as zoned");
  const mine = requests.filter((r) => types.includes(r.type));
  if (mine.length === 0) notApplicable("the driver sent none of the requests this clause judges");
  return mine;
}

const zoneOpName = (t: number) =>
  ({ 18: "ZONE_OPEN", 20: "ZONE_CLOSE", 22: "ZONE_FINISH", 24: "ZONE_RESET", 26: "ZONE_RESET_ALL" })[t] ?? `type ${t}`;

export const noDiscardOnHostManaged = defineDriverClause({
  label: INIT,
  statement: 6,
  level: "MUST NOT",
  title: "VIRTIO_BLK_F_DISCARD not accepted from a host-managed zoned device",
  applies: BLK,
  requirement: "When the device offers VIRTIO_BLK_F_ZONED with the host-managed zoned model, the driver leaves " +
    "VIRTIO_BLK_F_DISCARD out of the features it accepts.",
  action: "Presents a host-managed zoned disk that also offers DISCARD and reads the features the driver writes.",
  async run(ctx) {
    const t = await ctx.scenarios.run({ blkZoned: PRESENTED_ZONES, knobs: { offered: zonedOffer() } });
    const got = accepted(t);
    if (got === 0n) notApplicable("the driver wrote no features");
    expectThat(!(got & bit(BLK_F.DISCARD)), "DISCARD not accepted", () => "the driver accepted DISCARD");
  },
});

export const hostManagedFailedWithoutZoned = defineDriverClause({
  label: INIT,
  statement: 8,
  level: "MUST NOT",
  title: "a driver that does not take a host-managed device as zoned sets FAILED, not FEATURES_OK",
  applies: BLK,
  requirement: "A driver that cannot work with a host-managed zoned device (it leaves VIRTIO_BLK_F_ZONED out of its " +
    "features) does not set FEATURES_OK on reading the host-managed model: it sets FAILED.",
  action: "Presents a host-managed zoned disk; when the driver's features leave ZONED out, checks its status " +
    "writes for FEATURES_OK and FAILED.",
  async run(ctx) {
    const t = await ctx.scenarios.run({ blkZoned: PRESENTED_ZONES, knobs: { offered: zonedOffer() } });
    const got = accepted(t);
    if (got & bit(BLK_F.ZONED)) notApplicable("the driver took the device as zoned");
    if (got === 0n && !wroteStatus(t, Status.FAILED)) notApplicable("the driver wrote no features");
    expectThat(
      !wroteStatus(t, Status.FEATURES_OK) && wroteStatus(t, Status.FAILED),
      "FAILED set, FEATURES_OK never",
      () => wroteStatus(t, Status.FEATURES_OK) ? "the driver set FEATURES_OK" : "the driver never set FAILED",
    );
  },
});

export const secureEraseSegmentsWithinMax = defineDriverClause({
  label: OPERATION,
  statement: 10,
  level: "MUST NOT",
  title: "no SECURE_ERASE with more segments than max_secure_erase_seg",
  applies: BLK,
  requirement: "A SECURE_ERASE request carries at most max_secure_erase_seg segments.",
  action: "Presents a disk offering SECURE_ERASE with max_secure_erase_seg 1, asks for two secure erases and " +
    "counts the segments of each.",
  async run(ctx) {
    if (!ctx.target.info.workloads.includes("blk-secure-erase")) {
      notApplicable("the driver does not declare blk-secure-erase");
    }
    const { t, requests } = await blkRequestsOf(ctx, {
      knobs: { offered: deviceFunctionFor("blk").features | REFERENCE_CORE_FEATURES | bit(BLK_F.SECURE_ERASE) },
      workloads: [{ kind: "blk-secure-erase", sector: 0, sectors: 8 }, {
        kind: "blk-secure-erase",
        sector: 32,
        sectors: 4,
      }],
    });
    if (!t.probe.bound) notApplicable("the driver did not bind");
    const erases = requests.filter((r) => r.type === BlkType.SECURE_ERASE);
    if (erases.length === 0) notApplicable("the driver sent no SECURE_ERASE request");
    const count = (r: BlkRequestSeen) => Math.floor((r.segments?.length ?? 0) / BLK_SEGMENT_BYTES);
    expectNone("at most 1 segment per SECURE_ERASE", erases.filter((r) => count(r) > 1), (r) => `${count(r)} segments`);
  },
});

export const reportSectorInRange = defineDriverClause({
  label: OPERATION,
  statement: 18,
  level: "MUST",
  title: "a ZONE_REPORT names a sector of the disk",
  applies: BLK,
  requirement: "A ZONE_REPORT request's sector is a sector of the zone to report from: inside the disk's capacity.",
  action: `Presents a zoned disk of ${CAPACITY} sectors, asks for reports from sectors 0 and ${3 * ZONE + 5}, ` +
    "and checks each request's sector.",
  async run(ctx) {
    const rs = await zonedRequests(ctx, [{ kind: "blk-zone-report", sector: 0 }, {
      kind: "blk-zone-report",
      sector: 3 * ZONE + 5,
    }], [ZoneReq.REPORT]);
    expectNone(`sectors below ${CAPACITY}`, rs.filter((r) => r.sector >= CAPACITY), (r) => `sector ${r.sector}`);
  },
});

export const zoneOpAtZoneStart = defineDriverClause({
  label: OPERATION,
  statement: 20,
  level: "MUST",
  title: "zone open, close, finish and reset name the zone's first sector",
  applies: BLK,
  requirement: "ZONE_OPEN, ZONE_CLOSE, ZONE_FINISH and ZONE_RESET carry the first sector of their zone.",
  action: `Presents a zoned disk with ${ZONE}-sector zones, asks to open and close the zone at ${ZONE}, finish and ` +
    `reset the zone at ${2 * ZONE}, and checks each request's sector.`,
  async run(ctx) {
    const rs = await zonedRequests(ctx, [
      { kind: "blk-zone", op: "open", sector: ZONE },
      { kind: "blk-zone", op: "close", sector: ZONE },
      { kind: "blk-zone", op: "finish", sector: 2 * ZONE },
      { kind: "blk-zone", op: "reset", sector: 2 * ZONE },
    ], [ZoneReq.OPEN, ZoneReq.CLOSE, ZoneReq.FINISH, ZoneReq.RESET]);
    expectNone(
      `sectors that are multiples of ${ZONE}`,
      rs.filter((r) => r.sector % ZONE !== 0 || r.sector >= CAPACITY),
      (r) => `${zoneOpName(r.type)} at sector ${r.sector}`,
    );
  },
});

export const resetAllSectorZero = defineDriverClause({
  label: OPERATION,
  statement: 21,
  level: "MUST",
  title: "ZONE_RESET_ALL has sector 0",
  applies: BLK,
  requirement: "A ZONE_RESET_ALL request's sector field is 0.",
  action: `Presents a zoned disk and asks to reset all zones (the workload names sector ${ZONE}, which means nothing ` +
    "for a reset of all zones), then checks the request's sector.",
  async run(ctx) {
    const rs = await zonedRequests(ctx, [{ kind: "blk-zone", op: "reset-all", sector: ZONE }], [ZoneReq.RESET_ALL]);
    expectNone("sector 0", rs.filter((r) => r.sector !== 0), (r) => `sector ${r.sector}`);
  },
});

/** The appends a driver sends for two appends of one granule and one of max_append_sectors to the zone at 64. */
function appends(ctx: DriverClauseContext): Promise<BlkRequestSeen[]> {
  return zonedRequests(ctx, [
    { kind: "blk-zone-append", sector: ZONE, data: data(GRANULE) },
    { kind: "blk-zone-append", sector: ZONE, data: data(GRANULE) },
    { kind: "blk-zone-append", sector: 2 * ZONE, data: data(MAX_APPEND) },
  ], [ZoneReq.APPEND]);
}

export const appendAtZoneStart = defineDriverClause({
  label: OPERATION,
  statement: 22,
  level: "MUST",
  title: "ZONE_APPEND names the zone's first sector",
  applies: BLK,
  requirement: "A ZONE_APPEND request's sector is the first sector of the zone appended to (the device picks the " +
    "write pointer).",
  action: `Presents a zoned disk with ${ZONE}-sector zones, asks for two appends to the zone at ${ZONE} and one to ` +
    `the zone at ${2 * ZONE}, and checks each request's sector.`,
  async run(ctx) {
    const rs = await appends(ctx);
    expectNone(
      `sectors that are multiples of ${ZONE}`,
      rs.filter((r) => r.sector % ZONE !== 0),
      (r) => `ZONE_APPEND at sector ${r.sector}`,
    );
  },
});

export const appendWholeGranules = defineDriverClause({
  label: OPERATION,
  statement: 23,
  level: "MUST",
  title: "ZONE_APPEND data a multiple of write_granularity",
  applies: BLK,
  requirement: "The data of a ZONE_APPEND request is a whole number of write_granularity units.",
  action: `Presents write_granularity ${GRANULE * SECTOR}, asks for appends of ${GRANULE} and ${MAX_APPEND} ` +
    "sectors, and measures each request's data.",
  async run(ctx) {
    const rs = await appends(ctx);
    const g = GRANULE * SECTOR;
    expectNone(
      `data a multiple of ${g} bytes`,
      rs.filter((r) => r.dataLength % g !== 0),
      (r) => `ZONE_APPEND of ${r.dataLength} bytes`,
    );
  },
});

export const appendWithinMax = defineDriverClause({
  label: OPERATION,
  statement: 24,
  level: "MUST NOT",
  title: "no ZONE_APPEND larger than max_append_sectors",
  applies: BLK,
  requirement: "The data of a ZONE_APPEND request is at most max_append_sectors sectors.",
  action: `Presents max_append_sectors ${MAX_APPEND}, asks for appends of ${GRANULE} and ${MAX_APPEND} sectors, ` +
    "and measures each request's data.",
  async run(ctx) {
    const rs = await appends(ctx);
    expectNone(
      `data of at most ${MAX_APPEND * SECTOR} bytes`,
      rs.filter((r) => r.dataLength > MAX_APPEND * SECTOR),
      (r) => `ZONE_APPEND of ${r.dataLength} bytes`,
    );
  },
});

export const sequentialWritesAligned = defineDriverClause({
  label: OPERATION,
  statement: 26,
  level: "MUST",
  title: "writes to sequential zones in whole granules, inside the zone",
  applies: BLK,
  requirement: "A write to a sequential zone and a ZONE_APPEND carry a whole number of write_granularity units; a " +
    "write starts at a multiple of write_granularity; neither reaches past the zone's writable capacity from its " +
    "write pointer.",
  action: `Presents write_granularity ${GRANULE * SECTOR} and ${ZONE}-sector zones, asks for writes of ` +
    `${GRANULE} sectors at ${ZONE} and ${ZONE + GRANULE}, and an append to the zone at ${2 * ZONE}, and checks each.`,
  async run(ctx) {
    const rs = await zonedRequests(ctx, [
      { kind: "blk-write", sector: ZONE, data: data(GRANULE) },
      { kind: "blk-write", sector: ZONE + GRANULE, data: data(GRANULE) },
      { kind: "blk-zone-append", sector: 2 * ZONE, data: data(GRANULE) },
    ], [BlkType.OUT, ZoneReq.APPEND]);
    const g = GRANULE * SECTOR;
    const wrong: string[] = [];
    for (const r of rs) {
      if (!r.zone?.sequential) continue;
      const name = r.type === BlkType.OUT ? `write at sector ${r.sector}` : `ZONE_APPEND to sector ${r.sector}`;
      if (r.dataLength % g !== 0) wrong.push(`${name}: ${r.dataLength} bytes, not whole granules`);
      if (r.type === BlkType.OUT && (r.sector * SECTOR) % g !== 0) wrong.push(`${name}: not at a granule boundary`);
      const from = r.type === BlkType.OUT ? Math.max(r.sector, r.zone.wp) : r.zone.wp;
      if (from + r.dataLength / SECTOR > r.zone.end) wrong.push(`${name}: reaches past the zone's end ${r.zone.end}`);
    }
    expectNone("aligned writes inside their zones", wrong, (x) => x);
  },
});

/** The driver clauses of zoned block devices and secure erase. */
export const BLOCK_ZONED_DRIVER_CLAUSES = [
  noDiscardOnHostManaged,
  hostManagedFailedWithoutZoned,
  secureEraseSegmentsWithinMax,
  reportSectorInRange,
  zoneOpAtZoneStart,
  resetAllSectorZero,
  appendAtZoneStart,
  appendWholeGranules,
  appendWithinMax,
  sequentialWritesAligned,
];
