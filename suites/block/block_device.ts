/**
 * Device clauses of spec 5.2 Block Device.
 *
 * @module
 */
import { TargetError } from "../../harness/adapter.ts";
import { defineDeviceClause, type DeviceClauseContext } from "../../harness/core/clause.ts";
import fc from "fast-check";
import { checkProperty } from "../../harness/core/property.ts";
import { bit, BLK_F, F } from "../../harness/features.ts";
import { le } from "../../harness/memory.ts";
import { BLK_SEGMENT_BYTES, BlkStatus, BlkType, SECTOR } from "../../harness/models/device/blk.ts";
import { hex } from "../../harness/text.ts";
import { expectNone, expectThat, notApplicable } from "../../harness/verify.ts";

const OPERATION = "devicenormative:Device Types / Block Device / Device Operation";

/** The zoned request types (spec 5.2.6, zoned block devices), with the buffers each carries besides its header. */
export const ZONED_REQUESTS: readonly { name: string; type: number; out?: number; inBytes?: number }[] = [
  { name: "ZONE_APPEND", type: 15, out: 512, inBytes: 8 },
  { name: "ZONE_REPORT", type: 16, inBytes: 512 },
  { name: "ZONE_OPEN", type: 18 },
  { name: "ZONE_CLOSE", type: 20 },
  { name: "ZONE_FINISH", type: 22 },
  { name: "ZONE_RESET", type: 24 },
  { name: "ZONE_RESET_ALL", type: 26 },
];

export const zonedRefusedWithoutZoned = defineDeviceClause({
  label: OPERATION,
  statement: 18,
  level: "MUST",
  title: "zoned requests refused with UNSUPP unless VIRTIO_BLK_F_ZONED is negotiated",
  applies: { deviceTypes: ["blk"], legacy: true },
  requirement: "Without VIRTIO_BLK_F_ZONED negotiated, the device completes every zone request (append, report, " +
    "open, close, finish, reset, reset all) with status VIRTIO_BLK_S_UNSUPP.",
  action: "Negotiates the harness's core features (never ZONED), then sends each of the seven zone request types " +
    "for sector 0, one at a time, and reads the status byte of each.",
  async run(ctx) {
    const init = await ctx.driver.init("driver-ok");
    if (!init.featuresOk) notApplicable("the device refused the harness's feature set");
    if (init.accepted & bit(BLK_F.ZONED)) notApplicable("VIRTIO_BLK_F_ZONED was negotiated");
    const wrong: string[] = [];
    // A queue too small for a request's descriptors (header, data, status) skips that request type.
    const size = ctx.driver.queue(0).size;
    const fitting = ZONED_REQUESTS.filter((z) => 2 + (z.out ? 1 : 0) + (z.inBytes ? 1 : 0) <= size);
    if (fitting.length === 0) notApplicable(`queue 0 has size ${size}: no zone request fits`);
    for (const z of fitting) {
      const r = await ctx.driver.blkRequest(0, {
        type: z.type,
        ...(z.out ? { out: new Uint8Array(z.out) } : {}),
        ...(z.inBytes ? { inBytes: z.inBytes } : {}),
      });
      await ctx.driver.kick(0);
      const used = await ctx.driver.waitUsed(0, 1);
      const status = (await ctx.session.memory.read(r.status, 1))[0]!;
      if (used.length === 0) wrong.push(`${z.name} (type ${z.type}): not used within the deadline`);
      else if (status !== BlkStatus.UNSUPP) {
        wrong.push(`${z.name} (type ${z.type}): status ${status === 0xff ? "not written" : hex(status, 2)}`);
      }
    }
    expectNone(`status VIRTIO_BLK_S_UNSUPP (${hex(BlkStatus.UNSUPP, 2)}) for every zone request`, wrong, (x) => x);
  },
});

/** The sector the read-only clauses try to write (the disk holds it whatever its size). */
const RO_SECTOR = 1;

/**
 * On a read-only disk (VIRTIO_BLK_F_RO offered): reads sector {@link RO_SECTOR}, asks to write a pattern over it,
 * reads it again. Returns the write's status byte and the sector before and after.
 */
async function writeToReadOnly(
  ctx: DeviceClauseContext,
): Promise<{ status: number | undefined; before: Uint8Array; after: Uint8Array }> {
  if (!(ctx.offered & bit(BLK_F.RO))) notApplicable("the device does not offer VIRTIO_BLK_F_RO");
  const init = await ctx.driver.init("driver-ok");
  if (!init.featuresOk) notApplicable("the device refused the harness's feature set");
  const read = async (): Promise<Uint8Array> => {
    const r = await ctx.driver.blkRequest(0, { type: BlkType.IN, sector: RO_SECTOR, inBytes: SECTOR });
    await ctx.driver.kick(0);
    const used = await ctx.driver.waitUsed(0, 1);
    const status = (await ctx.session.memory.read(r.status, 1))[0];
    if (used.length === 0 || status !== BlkStatus.OK) {
      throw new TargetError(`The read-only disk did not serve a read of sector ${RO_SECTOR} (status ${status})`);
    }
    return await ctx.session.memory.read(r.dataIn!, SECTOR);
  };
  const before = await read();
  const pattern = before.map((b) => b ^ 0xa5);
  const w = await ctx.driver.blkRequest(0, { type: BlkType.OUT, sector: RO_SECTOR, out: pattern });
  await ctx.driver.kick(0);
  const used = await ctx.driver.waitUsed(0, 1);
  const status = used.length === 0 ? undefined : (await ctx.session.memory.read(w.status, 1))[0];
  return { status, before, after: await read() };
}

export const readOnlyWriteFails = defineDeviceClause({
  label: OPERATION,
  statement: 3,
  level: "MUST",
  title: "a write to a read-only disk ends in IOERR",
  applies: { deviceTypes: ["blk"], legacy: true },
  requirement: "When the device offers VIRTIO_BLK_F_RO, it completes every write request with status " +
    "VIRTIO_BLK_S_IOERR.",
  action: `On a device offering VIRTIO_BLK_F_RO, asks to write sector ${RO_SECTOR} and reads the write's status byte.`,
  async run(ctx) {
    const { status } = await writeToReadOnly(ctx);
    expectThat(
      status === BlkStatus.IOERR,
      `status VIRTIO_BLK_S_IOERR (${hex(BlkStatus.IOERR, 2)}) for the write`,
      () => status === undefined ? "the write was not used within the deadline" : `status ${hex(status, 2)}`,
    );
  },
});

export const readOnlyNothingWritten = defineDeviceClause({
  label: OPERATION,
  statement: 4,
  level: "MUST NOT",
  title: "a read-only disk keeps its data through a write",
  applies: { deviceTypes: ["blk"], legacy: true },
  requirement: "When the device offers VIRTIO_BLK_F_RO, a write request changes none of the disk's data.",
  action: `On a device offering VIRTIO_BLK_F_RO, reads sector ${RO_SECTOR}, asks to write other bytes over it and ` +
    "reads it again.",
  async run(ctx) {
    const { before, after } = await writeToReadOnly(ctx);
    const changed = [...after.keys()].filter((i) => after[i] !== before[i]);
    expectNone(
      `sector ${RO_SECTOR} unchanged`,
      changed.length > 0 ? [changed] : [],
      (c) => `${c.length} bytes changed, the first at offset ${c[0]}`,
    );
  },
});

/** The device clauses of spec 5.2. */
/** One discard / write-zeroes segment. */
function segment(sector: number, sectors: number, flags: number): Uint8Array {
  const seg = new Uint8Array(BLK_SEGMENT_BYTES);
  le.setU64(seg, 0, sector);
  le.setU32(seg, 8, sectors);
  le.setU32(seg, 12, flags);
  return seg;
}

/** Negotiates DISCARD and WRITE_ZEROES (those offered) and sets DRIVER_OK; the kinds negotiated. */
async function openRanges(ctx: DeviceClauseContext): Promise<number[]> {
  const want = [BLK_F.DISCARD, BLK_F.WRITE_ZEROES].filter((f) => ctx.offered & bit(f));
  if (want.length === 0) notApplicable("the device offers neither VIRTIO_BLK_F_DISCARD nor VIRTIO_BLK_F_WRITE_ZEROES");
  const init = await ctx.driver.init(
    "driver-ok",
    (o) => o & (bit(F.VERSION_1) | want.reduce((m, f) => m | bit(f), 0n)),
  );
  if (!init.featuresOk) notApplicable("the device refused DISCARD / WRITE_ZEROES with VERSION_1 alone");
  return want.map((f) => (f === BLK_F.DISCARD ? BlkType.DISCARD : BlkType.WRITE_ZEROES));
}

/** Sends one request and returns its status byte (undefined: not used in time). */
async function statusOf(ctx: DeviceClauseContext, r: Parameters<DeviceClauseContext["driver"]["blkRequest"]>[1]) {
  const req = await ctx.driver.blkRequest(0, r);
  await ctx.driver.kick(0);
  const used = await ctx.driver.waitUsed(0, 1);
  return used.length === 0 ? undefined : (await ctx.session.memory.read(req.status, 1))[0]!;
}

const kindName = (t: number) => (t === BlkType.DISCARD ? "DISCARD" : "WRITE_ZEROES");

export const unknownRangeFlagsUnsupported = defineDeviceClause({
  label: OPERATION,
  statement: 5,
  level: "MUST",
  title: "discard and write zeroes with an unknown flag answered UNSUPP",
  applies: { deviceTypes: ["blk"] },
  requirement: "A discard, secure erase or write zeroes request whose segment has a flag the spec does not define " +
    "(any but unmap) gets status VIRTIO_BLK_S_UNSUPP.",
  action: "Negotiates DISCARD and WRITE_ZEROES (those offered), sends each with one segment of one sector whose " +
    "flags have bit 1 set, and reads the status byte.",
  async run(ctx) {
    const wrong: string[] = [];
    for (const type of await openRanges(ctx)) {
      const status = await statusOf(ctx, { type, out: segment(2, 1, 2) });
      if (status !== BlkStatus.UNSUPP) {
        wrong.push(`${kindName(type)}: status ${status === undefined ? "none" : hex(status, 2)}`);
      }
    }
    expectNone(`status UNSUPP (${hex(BlkStatus.UNSUPP, 2)}) for an unknown flag`, wrong, (x) => x);
  },
});

export const discardUnmapUnsupported = defineDeviceClause({
  label: OPERATION,
  statement: 6,
  level: "MUST",
  title: "a discard with the unmap flag answered UNSUPP",
  applies: { deviceTypes: ["blk"], offered: [BLK_F.DISCARD] },
  requirement: "A discard request whose segment has the unmap flag set gets status VIRTIO_BLK_S_UNSUPP.",
  action: "Negotiates DISCARD, sends a discard of one sector with unmap set, and reads the status byte.",
  async run(ctx) {
    if (!(await openRanges(ctx)).includes(BlkType.DISCARD)) notApplicable("DISCARD was not negotiated");
    const status = await statusOf(ctx, { type: BlkType.DISCARD, out: segment(2, 1, 1) });
    expectThat(
      status === BlkStatus.UNSUPP,
      `status UNSUPP (${hex(BlkStatus.UNSUPP, 2)})`,
      () => status === undefined ? "not used" : `status ${hex(status, 2)}`,
    );
  },
});

export const writeZeroesReadsZero = defineDeviceClause({
  label: OPERATION,
  statement: 9,
  level: "MUST",
  title: "sectors read back as zeroes after a write zeroes",
  applies: { deviceTypes: ["blk"], offered: [BLK_F.WRITE_ZEROES] },
  requirement: "Once a write zeroes request has completed, reads of its sectors return zeroes, with or without unmap.",
  action: "Negotiates WRITE_ZEROES, writes a pattern to two sectors, sends a write zeroes over them (unmap set or " +
    "not), then reads them back.",
  async run(ctx) {
    await checkProperty(ctx, fc.boolean(), async (unmap) => {
      if (ctx.offered & bit(BLK_F.RO)) notApplicable("the disk is read-only (VIRTIO_BLK_F_RO): nothing can be zeroed");
      if (!(await openRanges(ctx)).includes(BlkType.WRITE_ZEROES)) notApplicable("WRITE_ZEROES was not negotiated");
      const sector = 4;
      const pattern = new Uint8Array(2 * SECTOR).map((_, i) => (i * 7 + 1) & 0xff);
      const w = await statusOf(ctx, { type: BlkType.OUT, sector, out: pattern });
      if (w !== BlkStatus.OK) throw new TargetError(`The device did not write the pattern (status ${w})`);
      const z = await statusOf(ctx, { type: BlkType.WRITE_ZEROES, out: segment(sector, 2, unmap ? 1 : 0) });
      expectThat(z === BlkStatus.OK, "the write zeroes completed with status OK", () => `status ${z}`);
      const r = await ctx.driver.blkRequest(0, { type: BlkType.IN, sector, inBytes: 2 * SECTOR });
      await ctx.driver.kick(0);
      await ctx.driver.waitUsed(0, 1);
      const data = await ctx.session.memory.read(r.dataIn!, 2 * SECTOR);
      const nonzero = data.findIndex((b) => b !== 0);
      expectThat(nonzero < 0, "zeroes read back", () => `byte ${nonzero} reads ${hex(data[nonzero]!, 2)}`);
    }, (unmap) => `write zeroes with unmap ${unmap ? "set" : "clear"}`);
  },
});

export const BLOCK_DEVICE_CLAUSES = [
  readOnlyWriteFails,
  readOnlyNothingWritten,
  unknownRangeFlagsUnsupported,
  discardUnmapUnsupported,
  writeZeroesReadsZero,
  zonedRefusedWithoutZoned,
];
