/**
 * Device clauses of spec 5.2 Block Device.
 *
 * @module
 */
import { TargetError } from "../../harness/adapter.ts";
import { defineDeviceClause, type DeviceClauseContext } from "../../harness/core/clause.ts";
import { bit, BLK_F } from "../../harness/features.ts";
import { BlkStatus, BlkType, SECTOR } from "../../harness/models/device/blk.ts";
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
export const BLOCK_DEVICE_CLAUSES = [readOnlyWriteFails, readOnlyNothingWritten, zonedRefusedWithoutZoned];
