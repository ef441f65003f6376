/**
 * Driver clauses of spec 5.2 Block Device (the harness plays the block device).
 *
 * @module
 */
import type { Workload } from "../../harness/adapter.ts";
import { defineDriverClause, type DriverClauseContext } from "../../harness/core/clause.ts";
import { bit, BLK_F } from "../../harness/features.ts";
import { le } from "../../harness/memory.ts";
import { BLK_SEGMENT_BYTES, BlkFunction, BlkType, SECTOR } from "../../harness/models/device/blk.ts";
import { ZoneType } from "../../harness/models/device/blk_zoned.ts";
import { gather } from "../../harness/models/device/device_function.ts";
import { deviceFunctionFor, type Scenario, type ScenarioTrace } from "../../harness/roles/harness_device.ts";
import { REFERENCE_CORE_FEATURES } from "../../harness/models/device/core.ts";
import { accepted, accesses, fmtAccess } from "../../harness/roles/trace.ts";
import { Status } from "../../harness/status.ts";
import { hex } from "../../harness/text.ts";
import { Mmio } from "../../harness/transport/mmio_layout.ts";
import { expectNone, expectThat, notApplicable } from "../../harness/verify.ts";

const OPERATION = "drivernormative:Device Types / Block Device / Device Operation";
const INIT = "drivernormative:Device Types / Block Device / Device Initialization";
/** Offset of `writeback` in the block configuration. */
const WRITEBACK = 32;

/** One block request as the harness's device received it. */
export interface BlkRequestSeen {
  type: number;
  sector: number;
  /** Bytes of data: device-readable after the header (OUT), or device-writable before the status byte (IN). */
  dataLength: number;
  /** DISCARD, WRITE_ZEROES and SECURE_ERASE: the data after the header (its segments), at most 4 KiB of it. */
  segments?: Uint8Array;
  /** On a zoned disk (ZONED negotiated): the zone holding `sector` as the request found it. */
  zone?: { start: number; end: number; wp: number; sequential: boolean };
}

/** Runs a scenario on the harness's block device, recording every request's type, sector and data length. */
export async function blkRequestsOf(
  ctx: DriverClauseContext,
  s: Scenario,
): Promise<{ t: ScenarioTrace; requests: BlkRequestSeen[] }> {
  const requests: BlkRequestSeen[] = [];
  const t = await ctx.scenarios.run({
    ...s,
    configure: (core, fn, device) => {
      s.configure?.(core, fn, device);
      const serve = fn.handle.bind(fn);
      fn.handle = async (queue, chain, mem, negotiated) => {
        const readable = chain.filter((b) => !b.writable);
        const writable = chain.filter((b) => b.writable);
        const first = readable[0];
        if (first && first.len >= 16) {
          const hdr = await mem.read(first.addr, 16);
          const type = le.u32(hdr, 0);
          const ranged = type === BlkType.DISCARD || type === BlkType.WRITE_ZEROES || type === BlkType.SECURE_ERASE;
          const z = fn instanceof BlkFunction && (negotiated & bit(BLK_F.ZONED))
            ? fn.zoned?.zoneOf(le.u64(hdr, 8))
            : undefined;
          const segments = ranged ? (await gather(mem, readable)).slice(16, 16 + 4096) : undefined;
          const inBytes = writable.reduce((n, b) => n + b.len, 0);
          const outBytes = readable.reduce((n, b) => n + b.len, 0) - 16;
          requests.push({
            type: le.u32(hdr, 0),
            sector: le.u64(hdr, 8),
            // Data before the status byte (reads, GET_ID), or after the header (writes); a FLUSH counts both.
            dataLength: le.u32(hdr, 0) === BlkType.IN || le.u32(hdr, 0) === BlkType.GET_ID
              ? Math.max(0, inBytes - 1)
              : le.u32(hdr, 0) === BlkType.FLUSH
              ? outBytes + Math.max(0, inBytes - 1)
              : outBytes,
            ...(segments ? { segments } : {}),
            ...(z
              ? { zone: { start: z.start, end: z.start + z.cap, wp: z.wp, sequential: z.type !== ZoneType.CONV } }
              : {}),
          });
        }
        return await serve(queue, chain, mem, negotiated);
      };
    },
  });
  return { t, requests };
}

/**
 * A real driver beside its own device: each read and write the device received, against the capacity the driver
 * had read from the configuration space by then (requests before it knew the capacity are not judged).
 */
function judgeWatchedCapacity(t: ScenarioTrace): void {
  const requests = t.blkRequests ?? [];
  if (!t.probe.bound) notApplicable("the driver did not bind");
  if (requests.length === 0) notApplicable("the adapter reported no block request of the driver");
  // The capacity's bytes as the driver last read them, and the event after which each read landed.
  const bytes = new Array<number | undefined>(8).fill(undefined);
  const reads = accesses(t).filter((e) => e.kind === "read" && e.offset >= Mmio.Config && e.offset < Mmio.Config + 8);
  let r = 0;
  let judged = 0;
  const past: string[] = [];
  for (const q of requests) {
    for (; r < reads.length && reads[r]!.seq < q.seq; r++) {
      const e = reads[r]!;
      for (let k = 0; k < e.width && e.offset - Mmio.Config + k < 8; k++) {
        bytes[e.offset - Mmio.Config + k] = (e.value >>> (8 * k)) & 0xff;
      }
    }
    if (bytes.some((b) => b === undefined)) continue;
    const capacity = bytes.reduceRight((v: number, b) => v * 256 + b!, 0);
    judged++;
    if (q.sector + q.sectors > capacity) {
      past.push(`${q.op} of ${q.sectors} sectors at sector ${q.sector} (capacity ${capacity})`);
    }
  }
  if (judged === 0) notApplicable("the driver made no block request after reading the capacity");
  expectNone("every read and write inside the capacity the driver read", past, (x) => x);
}

/** The capacity, in sectors, of the small disk the capacity clause presents. */
const SMALL_DISK = 16;

export const withinCapacity = defineDriverClause({
  label: OPERATION,
  statement: 2,
  level: "MUST NOT",
  title: "no request reaching past capacity",
  applies: { deviceTypes: ["blk"], legacy: true },
  requirement: "The driver never submits a read or write whose sectors reach past the capacity the device presents.",
  action: `Presents a disk of ${SMALL_DISK} sectors and asks for reads and writes that end at the last sector and ` +
    "just past it; checks the sector range of every request the device receives.",
  async run(ctx) {
    if (ctx.scenarios.watched) return judgeWatchedCapacity(await ctx.scenarios.baseline());
    const work: Workload[] = [
      { kind: "blk-read", sector: SMALL_DISK - 2, sectors: 2 },
      { kind: "blk-read", sector: SMALL_DISK - 1, sectors: 2 },
      { kind: "blk-write", sector: SMALL_DISK, data: new Uint8Array(SECTOR).fill(0x5a) },
      { kind: "blk-read", sector: SMALL_DISK + 7, sectors: 1 },
    ];
    const { t, requests } = await blkRequestsOf(ctx, { blkSectors: SMALL_DISK, workloads: work });
    if (!t.probe.bound) notApplicable("the driver did not bind");
    const past = requests.filter((r) =>
      (r.type === BlkType.IN || r.type === BlkType.OUT) && r.sector * SECTOR + r.dataLength > SMALL_DISK * SECTOR
    );
    expectNone(
      `every read and write inside the ${SMALL_DISK}-sector capacity`,
      past,
      (r) => `${r.type === BlkType.IN ? "read" : "write"} of ${r.dataLength} bytes at sector ${r.sector}`,
    );
  },
});

export const readOnlyAccepted = defineDriverClause({
  label: OPERATION,
  statement: 3,
  level: "SHOULD",
  title: "VIRTIO_BLK_F_RO accepted when offered",
  applies: { deviceTypes: ["blk"] },
  requirement: "When the device offers VIRTIO_BLK_F_RO, the driver accepts it.",
  action: "Presents a read-only disk (VIRTIO_BLK_F_RO offered, writes refused; a real driver's own device with a " +
    "read-only drive) and checks the features the driver accepts.",
  async run(ctx) {
    const t = await ctx.scenarios.run({ blkReadOnly: true });
    if (!t.probe.bound) notApplicable("the driver did not bind");
    if (!(t.offered & bit(BLK_F.RO))) notApplicable("the device did not offer VIRTIO_BLK_F_RO");
    expectThat(
      (accepted(t) & bit(BLK_F.RO)) !== 0n,
      "VIRTIO_BLK_F_RO (bit 5) accepted",
      () => `accepted 0x${accepted(t).toString(16)}`,
    );
  },
});

export const wholeSectors = defineDriverClause({
  label: OPERATION,
  statement: 6,
  level: "MUST",
  title: "read and write data a multiple of 512 bytes",
  applies: { deviceTypes: ["blk"], legacy: true },
  requirement: "The data of every read and write request the driver submits is a whole number of 512-byte sectors.",
  action: "Has the driver read and write 1, 2, 3 and 8 sectors and checks the data length of every read and write " +
    "request the device receives.",
  async run(ctx) {
    const work: Workload[] = [1, 2, 3, 8].flatMap((n, i): Workload[] => [
      { kind: "blk-read", sector: i * 8, sectors: n },
      { kind: "blk-write", sector: 64 + i * 8, data: new Uint8Array(n * SECTOR).fill(0x30 + i) },
    ]);
    const { t, requests } = await blkRequestsOf(ctx, { workloads: work });
    if (!t.probe.bound) notApplicable("the driver did not bind");
    const io = requests.filter((r) => r.type === BlkType.IN || r.type === BlkType.OUT);
    if (io.length === 0) notApplicable("the driver submitted no read or write");
    expectNone(
      "data lengths that are multiples of 512",
      io.filter((r) => r.dataLength % SECTOR !== 0),
      (r) => `${r.type === BlkType.IN ? "read" : "write"} at sector ${r.sector} with ${r.dataLength} bytes of data`,
    );
  },
});

/** The driver clauses of spec 5.2. */
export const writebackAfterFeaturesOk = defineDriverClause({
  label: INIT,
  statement: 4,
  level: "MUST NOT",
  title: "writeback not read before FEATURES_OK",
  applies: { deviceTypes: ["blk"] },
  requirement: "The driver reads the writeback field only once it has set FEATURES_OK.",
  action: "Presents a block device that offers VIRTIO_BLK_F_CONFIG_WCE and FLUSH, lets the driver probe and read, " +
    "and checks every configuration read that covers writeback (byte 32) against the status at that moment (a real " +
    "driver: its own device's offer).",
  async run(ctx) {
    const t = ctx.scenarios.watched ? await ctx.scenarios.baseline() : await ctx.scenarios.run({
      knobs: {
        offered: deviceFunctionFor("blk").features | REFERENCE_CORE_FEATURES | bit(BLK_F.CONFIG_WCE) | bit(BLK_F.FLUSH),
      },
      workloads: [{ kind: "blk-read", sector: 0, sectors: 1 }],
    });
    if (!t.probe.bound) notApplicable("the driver did not bind");
    const early = accesses(t).filter((e) =>
      e.kind === "read" && e.offset <= Mmio.Config + WRITEBACK && e.offset + e.width > Mmio.Config + WRITEBACK &&
      (e.status & Status.FEATURES_OK) === 0
    );
    expectNone(
      "reads of writeback only after FEATURES_OK",
      early,
      (e) => `${fmtAccess(e)} with status ${hex(e.status, 2)}`,
    );
  },
});

/** Runs the driver's FLUSH and GET_ID workloads (those it declares) on the harness's block device (FLUSH offered). */
async function commands(ctx: DriverClauseContext, kind: "blk-flush" | "blk-get-id"): Promise<BlkRequestSeen[]> {
  if (!ctx.target.info.workloads.includes(kind)) notApplicable(`the driver does not support the ${kind} workload`);
  const { t, requests } = await blkRequestsOf(ctx, { workloads: [{ kind }, { kind }] });
  if (!t.probe.bound) notApplicable("the driver did not bind");
  const type = kind === "blk-flush" ? BlkType.FLUSH : BlkType.GET_ID;
  const mine = requests.filter((r) => r.type === type);
  if (mine.length === 0) notApplicable(`the driver sent no ${kind === "blk-flush" ? "FLUSH" : "GET_ID"} request`);
  return mine;
}

export const flushSectorZero = defineDriverClause({
  label: OPERATION,
  statement: 4,
  level: "MUST",
  title: "a FLUSH request has sector 0",
  applies: { deviceTypes: ["blk"], legacy: true },
  requirement: "The driver sets the sector field of every FLUSH request to 0.",
  action: "Presents a block device that offers VIRTIO_BLK_F_FLUSH, asks for two flushes and reads the sector field " +
    "of each FLUSH request the device receives.",
  async run(ctx) {
    const flushes = await commands(ctx, "blk-flush");
    expectNone("sector 0 in every FLUSH", flushes.filter((r) => r.sector !== 0), (r) => `FLUSH at sector ${r.sector}`);
  },
});

export const flushWithoutData = defineDriverClause({
  label: OPERATION,
  statement: 5,
  level: "SHOULD NOT",
  title: "a FLUSH request carries no data",
  applies: { deviceTypes: ["blk"], legacy: true },
  requirement: "A FLUSH request has only its header and status byte: no data buffer either way.",
  action: "As for 5.2.6.1#4, then measures the bytes each FLUSH carries besides header and status.",
  async run(ctx) {
    const flushes = await commands(ctx, "blk-flush");
    expectNone(
      "FLUSH requests without data",
      flushes.filter((r) => r.dataLength !== 0),
      (r) => `${r.dataLength} data bytes`,
    );
  },
});

export const getIdTwentyBytes = defineDriverClause({
  label: OPERATION,
  statement: 8,
  level: "MUST",
  title: "a GET_ID request has 20 bytes of data",
  applies: { deviceTypes: ["blk"], legacy: true },
  requirement: "The data of a GET_ID request is exactly 20 bytes (the device ID string's room).",
  action: "Asks for the device ID twice and measures the device-writable data of each GET_ID request.",
  async run(ctx) {
    const ids = await commands(ctx, "blk-get-id");
    expectNone("GET_ID data of 20 bytes", ids.filter((r) => r.dataLength !== 20), (r) => `${r.dataLength} bytes`);
  },
});

/** The segments of a discard or write-zeroes request: sector, sectors and flags of each. */
function segmentsOf(r: BlkRequestSeen): { sector: number; sectors: number; flags: number }[] {
  const d = r.segments ?? new Uint8Array(0);
  const out: { sector: number; sectors: number; flags: number }[] = [];
  for (let at = 0; at + BLK_SEGMENT_BYTES <= d.length; at += BLK_SEGMENT_BYTES) {
    out.push({ sector: le.u64(d, at), sectors: le.u32(d, at + 8), flags: le.u32(d, at + 12) });
  }
  return out;
}

/** Limits the harness's block device presents: one segment per discard and per write-zeroes request. */
const MAX_SEGMENTS = 1;

/** The driver's discard and write-zeroes requests on a device that offers both (n/a without such requests). */
async function rangeRequests(ctx: DriverClauseContext, kinds: ("blk-discard" | "blk-write-zeroes")[]) {
  const have = kinds.filter((k) => ctx.target.info.workloads.includes(k));
  if (have.length === 0) notApplicable(`the driver supports neither ${kinds.join(" nor ")}`);
  const { t, requests } = await blkRequestsOf(ctx, {
    knobs: {
      offered: deviceFunctionFor("blk").features | REFERENCE_CORE_FEATURES | bit(BLK_F.DISCARD) |
        bit(BLK_F.WRITE_ZEROES),
    },
    workloads: have.flatMap((kind) => [{ kind, sector: 0, sectors: 8 }, { kind, sector: 16, sectors: 4 }]),
  });
  if (!t.probe.bound) notApplicable("the driver did not bind");
  const mine = requests.filter((r) => r.type === BlkType.DISCARD || r.type === BlkType.WRITE_ZEROES);
  if (mine.length === 0) notApplicable("the driver sent no discard or write-zeroes request");
  return mine;
}

const rangeName = (r: BlkRequestSeen) => (r.type === BlkType.DISCARD ? "DISCARD" : "WRITE_ZEROES");

export const rangeDataWhole = defineDriverClause({
  label: OPERATION,
  statement: 7,
  level: "MUST",
  title: "discard and write-zeroes data a multiple of 16 bytes",
  applies: { deviceTypes: ["blk"] },
  requirement: "The data of a DISCARD, SECURE_ERASE or WRITE_ZEROES request is a whole number of 16-byte segments.",
  action: "Presents a block device that offers DISCARD and WRITE_ZEROES, asks for two discards and two " +
    "write-zeroes (those the driver declares) and measures the data of each such request.",
  async run(ctx) {
    const rs = await rangeRequests(ctx, ["blk-discard", "blk-write-zeroes"]);
    expectNone(
      "segment data a multiple of 16 bytes",
      rs.filter((r) => r.dataLength % BLK_SEGMENT_BYTES !== 0),
      (r) => `${rangeName(r)} with ${r.dataLength} data bytes`,
    );
  },
});

export const discardSegmentsWithinMax = defineDriverClause({
  label: OPERATION,
  statement: 9,
  level: "MUST NOT",
  title: "no DISCARD with more segments than max_discard_seg",
  applies: { deviceTypes: ["blk"] },
  requirement: "A DISCARD request carries at most max_discard_seg segments.",
  action: `Presents max_discard_seg ${MAX_SEGMENTS}, asks for two discards and counts the segments of each.`,
  async run(ctx) {
    const rs = (await rangeRequests(ctx, ["blk-discard"])).filter((r) => r.type === BlkType.DISCARD);
    if (rs.length === 0) notApplicable("the driver sent no DISCARD request");
    expectNone(
      `at most ${MAX_SEGMENTS} segment(s) per DISCARD`,
      rs.filter((r) => segmentsOf(r).length > MAX_SEGMENTS),
      (r) => `DISCARD with ${segmentsOf(r).length} segments`,
    );
  },
});

export const writeZeroesSegmentsWithinMax = defineDriverClause({
  label: OPERATION,
  statement: 11,
  level: "MUST NOT",
  title: "no WRITE_ZEROES with more segments than max_write_zeroes_seg",
  applies: { deviceTypes: ["blk"] },
  requirement: "A WRITE_ZEROES request carries at most max_write_zeroes_seg segments.",
  action: `Presents max_write_zeroes_seg ${MAX_SEGMENTS}, asks for two write-zeroes and counts their segments.`,
  async run(ctx) {
    const rs = (await rangeRequests(ctx, ["blk-write-zeroes"])).filter((r) => r.type === BlkType.WRITE_ZEROES);
    if (rs.length === 0) notApplicable("the driver sent no WRITE_ZEROES request");
    expectNone(
      `at most ${MAX_SEGMENTS} segment(s) per WRITE_ZEROES`,
      rs.filter((r) => segmentsOf(r).length > MAX_SEGMENTS),
      (r) => `WRITE_ZEROES with ${segmentsOf(r).length} segments`,
    );
  },
});

export const discardWithoutUnmap = defineDriverClause({
  label: OPERATION,
  statement: 14,
  level: "MUST",
  title: "the unmap bit clear in DISCARD segments",
  applies: { deviceTypes: ["blk"] },
  requirement: "Every segment of a DISCARD request has its unmap flag (bit 0 of flags) clear.",
  action: "Asks for two discards and reads the flags of every segment.",
  async run(ctx) {
    const rs = (await rangeRequests(ctx, ["blk-discard"])).filter((r) => r.type === BlkType.DISCARD);
    if (rs.length === 0) notApplicable("the driver sent no DISCARD request");
    const bad = rs.flatMap((r) => segmentsOf(r).filter((s) => s.flags & 1));
    expectNone("unmap clear in every DISCARD segment", bad, (s) => `segment at sector ${s.sector} flags ${s.flags}`);
  },
});

export const BLOCK_DRIVER_CLAUSES = [
  withinCapacity,
  readOnlyAccepted,
  flushSectorZero,
  flushWithoutData,
  wholeSectors,
  rangeDataWhole,
  getIdTwentyBytes,
  discardSegmentsWithinMax,
  writeZeroesSegmentsWithinMax,
  discardWithoutUnmap,
  writebackAfterFeaturesOk,
];
