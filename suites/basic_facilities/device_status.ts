/**
 * Clauses of spec 2.1 Device Status Field.
 *
 * @module
 */
import fc from "fast-check";
import { defineDeviceClause } from "../../harness/core/clause.ts";
import { checkProperty } from "../../harness/core/property.ts";
import { formatStatus, Status } from "../../harness/status.ts";
import { MmioInterrupt } from "../../harness/transport/mmio_layout.ts";
import { expectThat, notApplicable } from "../../harness/verify.ts";
import type { DeviceClauseContext } from "../../harness/core/clause.ts";

const DEVICE = "devicenormative:Basic Facilities of a Virtio Device / Device Status Field";

export const noUseBeforeDriverOk = defineDeviceClause({
  label: DEVICE,
  statement: 1,
  level: "MUST NOT",
  title: "no buffer used and no used-buffer notification before DRIVER_OK",
  applies: { legacy: true },
  requirement: "Until the driver sets DRIVER_OK, the device neither consumes available buffers nor sends " +
    "used-buffer notifications.",
  action: "Negotiates features, sets up the queues, makes 1–4 requests available and notifies 0–3 times, all " +
    "without DRIVER_OK (never more than the queue holds); checks that the used idx stays 0 and no interrupt " +
    "is pending.",
  async run(ctx) {
    const arb = fc.record({ requests: fc.integer({ min: 1, max: 4 }), kicks: fc.integer({ min: 0, max: 3 }) });
    await checkProperty(ctx, arb, async ({ requests, kicks }) => {
      const init = await ctx.driver.init("queues");
      expectThat(init.featuresOk, "the device to accept the harness's feature set", () => formatStatus(init.status));
      const q = ctx.driver.splitQueue(0);
      // Nothing is used before DRIVER_OK, so never more requests than the queue holds at once.
      const n = Math.min(requests, ctx.driver.sampleCapacity(0));
      for (let i = 0; i < n; i++) await ctx.driver.sampleRequest(0);
      for (let i = 0; i < kicks; i++) await ctx.driver.kick(0);
      await ctx.driver.quiet(20);
      const used = await q.usedIdx();
      const isr = await ctx.transport.interruptStatus();
      expectThat(used === 0, "used idx 0 before DRIVER_OK", () => `used idx ${used}`);
      expectThat(
        (isr & MmioInterrupt.USED_BUFFER) === 0,
        "no used-buffer notification before DRIVER_OK",
        () => `InterruptStatus 0x${isr.toString(16)}`,
      );
    }, (v) => `${v.requests} request(s), ${v.kicks} notification(s) before DRIVER_OK`);
  },
});

/** Provokes the device's error state with a looping chain; returns the status afterwards. */
async function provokeError(ctx: DeviceClauseContext): Promise<number> {
  await ctx.driver.init("driver-ok");
  await ctx.driver.publishLoop(0);
  await ctx.driver.kick(0);
  await ctx.driver.quiet(50);
  return await ctx.transport.getStatus();
}

export const needsResetOnError = defineDeviceClause({
  label: DEVICE,
  statement: 2,
  level: "SHOULD",
  title: "DEVICE_NEEDS_RESET set on an unrecoverable error",
  requirement: "A device that runs into an error it cannot recover from without a reset sets DEVICE_NEEDS_RESET.",
  action: "After DRIVER_OK, makes a chain available whose descriptor points at itself (a loop) and notifies; " +
    "checks that the device answers with DEVICE_NEEDS_RESET.",
  async run(ctx) {
    const status = await provokeError(ctx);
    expectThat(
      (status & Status.DEVICE_NEEDS_RESET) !== 0,
      "DEVICE_NEEDS_RESET after a looping descriptor chain",
      () => `status ${formatStatus(status)}`,
    );
  },
});

export const configIrqOnNeedsReset = defineDeviceClause({
  label: DEVICE,
  statement: 3,
  level: "MUST",
  title: "configuration change notification after DEVICE_NEEDS_RESET",
  requirement: "When the device sets DEVICE_NEEDS_RESET while DRIVER_OK is set, it follows up with a " +
    "configuration change notification.",
  action: "Drives the device into its error state with a looping chain after DRIVER_OK; if it sets " +
    "DEVICE_NEEDS_RESET, checks the configuration-change bit of InterruptStatus and the interrupt line.",
  async run(ctx) {
    const status = await provokeError(ctx);
    if (!(status & Status.DEVICE_NEEDS_RESET)) {
      notApplicable("the device did not set DEVICE_NEEDS_RESET on a looping chain");
    }
    // The line first: on PCI, reading the ISR clears it and drops the line.
    const level = await ctx.session.interruptLevel();
    const isr = await ctx.transport.interruptStatus();
    expectThat(
      (isr & MmioInterrupt.CONFIG_CHANGE) !== 0 && level,
      "a configuration change notification (InterruptStatus bit 1, line raised)",
      () => `InterruptStatus 0x${isr.toString(16)}, line ${level ? "high" : "low"}`,
    );
  },
});

/** The clauses of spec 2.1. */
export const DEVICE_STATUS_CLAUSES = [noUseBeforeDriverOk, needsResetOnError, configIrqOnNeedsReset];
