/**
 * Clauses of spec 2.5 Device Configuration Space (device obligations).
 *
 * @module
 */
import { defineDeviceClause } from "../../harness/core/clause.ts";
import { bit } from "../../harness/features.ts";
import { fieldAccessWidth } from "../../harness/models/device/device_function.ts";
import { configLayoutOf } from "../../harness/device_types.ts";
import { expectNone, notApplicable } from "../../harness/verify.ts";
import type { DeviceClauseContext } from "../../harness/core/clause.ts";

const DEVICE = "devicenormative:Basic Facilities of a Virtio Device / Device Configuration Space";

/**
 * Fields whose value may legitimately change with the negotiated features, so
 * a read before FEATURES_OK need not equal one after: blk `writeback` follows
 * the write-cache mode the negotiation chose (spec 5.2.5/5.2.6: without
 * VIRTIO_BLK_F_FLUSH the device runs write-through, so writeback reads 0).
 */
const NEGOTIATION_DEPENDENT: Readonly<Record<string, readonly string[]>> = { blk: ["writeback"] };

async function readFields(ctx: DeviceClauseContext): Promise<Map<string, number[]>> {
  const out = new Map<string, number[]>();
  for (const f of configLayoutOf(ctx.deviceType)) {
    if (f.feature !== undefined && !(ctx.offered & bit(f.feature))) continue;
    if (NEGOTIATION_DEPENDENT[ctx.deviceType]?.includes(f.name)) continue;
    const w = fieldAccessWidth(f);
    const parts: number[] = [];
    for (let off = 0; off < f.size; off += w) parts.push(await ctx.transport.readConfig(f.offset + off, w));
    out.set(f.name, parts);
  }
  return out;
}

export const configReadableBeforeFeaturesOk = defineDeviceClause({
  label: DEVICE,
  statement: 1,
  level: "MUST",
  title: "configuration readable before FEATURES_OK",
  requirement: "Before FEATURES_OK the driver can read every device-specific configuration field, including " +
    "fields that depend on offered features.",
  action: "Sets ACKNOWLEDGE and DRIVER, reads every field of the device type's layout whose feature is offered " +
    "(at the field's width), completes initialization, reads them again and compares.",
  async run(ctx) {
    if (ctx.deviceType === "other") notApplicable("the suite does not know this device type's configuration layout");
    if (configLayoutOf(ctx.deviceType).length === 0) {
      notApplicable(`a ${ctx.deviceType} device has no configuration fields`);
    }
    await ctx.driver.init("driver");
    const before = await readFields(ctx);
    await ctx.driver.init("driver-ok");
    const after = await readFields(ctx);
    const differing = [...after].filter(([name, v]) => before.get(name)?.join() !== v.join());
    expectNone(
      "the same configuration values before FEATURES_OK as after DRIVER_OK",
      differing,
      ([name, v]) =>
        `${name} read ${before.get(name)?.map((x) => `0x${x.toString(16)}`).join(":")} before, ${
          v.map((x) => `0x${x.toString(16)}`).join(":")
        } after`,
    );
  },
});

/** The device clauses of spec 2.5. */
export const CONFIG_SPACE_DEVICE_CLAUSES = [configReadableBeforeFeaturesOk];
