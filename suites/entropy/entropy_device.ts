/**
 * Device clauses of spec 5.4 Entropy Device.
 *
 * @module
 */
import fc from "fast-check";
import { defineDeviceClause } from "../../harness/core/clause.ts";
import { checkProperty } from "../../harness/core/property.ts";
import { expectThat } from "../../harness/verify.ts";

const OPERATION = "devicenormative:Device Types / Entropy Device / Device Operation";

export const atLeastOneByte = defineDeviceClause({
  label: OPERATION,
  statement: 1,
  level: "MUST",
  title: "at least one random byte per request",
  applies: { deviceTypes: ["rng"], legacy: true },
  requirement: "Every entropy request the device completes carries at least one random byte in the driver's " +
    "buffer (the device may fill less than all of it).",
  action: "Makes entropy requests of 1–64 device-writable bytes available one at a time, notifies, and checks " +
    "that each used element reports at least 1 byte written.",
  async run(ctx) {
    await ctx.driver.init("driver-ok");
    await checkProperty(ctx, fc.integer({ min: 1, max: 64 }), async (bytes) => {
      await ctx.driver.sampleRequest(0, bytes);
      await ctx.driver.kick(0);
      const used = await ctx.driver.waitUsed(0, 1);
      expectThat(
        used.length === 1 && used[0]!.len >= 1,
        `a used element reporting at least 1 byte written for a ${bytes}-byte request`,
        () => used.length === 0 ? "no used element within the deadline" : `len ${used.map((u) => u.len).join(", ")}`,
      );
    }, (bytes) => `a ${bytes}-byte request`);
  },
});

/** The device clauses of spec 5.4. */
export const ENTROPY_DEVICE_CLAUSES = [atLeastOneByte];
