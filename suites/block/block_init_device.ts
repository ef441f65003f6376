/**
 * Device clauses of spec 5.2.5 Block Device Initialization: the flush and
 * writeback features together, the writeback mode without a flush, and the
 * configuration's padding bytes.
 *
 * @module
 */
import { defineDeviceClause } from "../../harness/core/clause.ts";
import { bit, BLK_F, F, formatFeatures } from "../../harness/features.ts";
import { formatStatus } from "../../harness/status.ts";
import { hex } from "../../harness/text.ts";
import { expectNone, expectThat, notApplicable } from "../../harness/verify.ts";

const INIT = "devicenormative:Device Types / Block Device / Device Initialization";
const BLK = { deviceTypes: ["blk" as const] };

/** Offset of `writeback`, `unused0` and `unused1` in the block configuration (spec 5.2.4). */
const WRITEBACK = 32;
const UNUSED0 = 33;
const UNUSED1 = [57, 58, 59];

export const flushWithWriteback = defineDeviceClause({
  label: INIT,
  statement: 2,
  level: "MUST",
  title: "VIRTIO_BLK_F_FLUSH offered whenever VIRTIO_BLK_F_CONFIG_WCE is",
  requirement: "A block device that offers VIRTIO_BLK_F_CONFIG_WCE also offers VIRTIO_BLK_F_FLUSH.",
  action: "Reads the offered features and checks CONFIG_WCE against FLUSH.",
  applies: { ...BLK, offered: [BLK_F.CONFIG_WCE] },
  run(ctx) {
    expectThat(
      (ctx.offered & bit(BLK_F.FLUSH)) !== 0n,
      "VIRTIO_BLK_F_FLUSH offered with VIRTIO_BLK_F_CONFIG_WCE",
      () => `offered ${formatFeatures(ctx.offered, "blk")}`,
    );
    return Promise.resolve();
  },
});

export const writethroughWithoutFlush = defineDeviceClause({
  label: INIT,
  statement: 3,
  level: "MUST",
  title: "writeback starts at 0 when CONFIG_WCE is negotiated without FLUSH",
  requirement: "With VIRTIO_BLK_F_CONFIG_WCE negotiated and VIRTIO_BLK_F_FLUSH not, the device starts in " +
    "writethrough mode: writeback reads 0.",
  action: "Negotiates VERSION_1 and CONFIG_WCE only (not FLUSH), then reads writeback before and after DRIVER_OK.",
  applies: { ...BLK, offered: [BLK_F.CONFIG_WCE] },
  async run(ctx) {
    const r = await ctx.driver.init("features-ok", (o) => o & (bit(F.VERSION_1) | bit(BLK_F.CONFIG_WCE)));
    if (!r.featuresOk) notApplicable(`the device refused CONFIG_WCE without FLUSH: ${formatStatus(r.status)}`);
    const before = await ctx.transport.readConfig(WRITEBACK, 1);
    expectThat(before === 0, "writeback 0 once FEATURES_OK is set", () => `writeback ${before}`);
  },
});

export const paddingZero = defineDeviceClause({
  label: INIT,
  statement: 4,
  level: "MUST",
  title: "the padding bytes unused0 and unused1 read 0",
  requirement: "The configuration's padding bytes unused0 (after writeback) and unused1 (after " +
    "write_zeroes_may_unmap) read 0.",
  action: "Initializes to FEATURES_OK with the harness's core features, then reads unused0 when a field after it " +
    "exists (MQ, DISCARD, WRITE_ZEROES, SECURE_ERASE or ZONED offered) and unused1 when one after it does " +
    "(SECURE_ERASE or ZONED offered).",
  applies: BLK,
  async run(ctx) {
    const after0 = [BLK_F.MQ, BLK_F.DISCARD, BLK_F.WRITE_ZEROES, BLK_F.SECURE_ERASE, BLK_F.ZONED];
    const after1 = [BLK_F.SECURE_ERASE, BLK_F.ZONED];
    const has = (bits: number[]) => bits.some((b) => (ctx.offered & bit(b)) !== 0n);
    const offsets = [...(has(after0) ? [UNUSED0] : []), ...(has(after1) ? UNUSED1 : [])];
    if (offsets.length === 0) notApplicable("no offered field lies after a padding byte");
    await ctx.driver.init("features-ok");
    const bad: string[] = [];
    for (const o of offsets) {
      const v = await ctx.transport.readConfig(o, 1);
      if (v !== 0) bad.push(`byte ${o} (${o === UNUSED0 ? "unused0" : "unused1"}) reads ${hex(v, 2)}`);
    }
    expectNone("padding bytes 0", bad, (s) => s);
  },
});

/** The device clauses of spec 5.2.5. */
export const BLOCK_INIT_DEVICE_CLAUSES = [flushWithWriteback, writethroughWithoutFlush, paddingZero];
