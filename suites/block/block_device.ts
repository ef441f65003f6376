/**
 * Device clauses of spec 5.2 Block Device.
 *
 * @module
 */
import { defineDeviceClause } from "../../harness/core/clause.ts";
import { bit, BLK_F } from "../../harness/features.ts";
import { BlkStatus } from "../../harness/models/device/blk.ts";
import { hex } from "../../harness/text.ts";
import { expectNone, notApplicable } from "../../harness/verify.ts";

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

/** The device clauses of spec 5.2. */
export const BLOCK_DEVICE_CLAUSES = [zonedRefusedWithoutZoned];
