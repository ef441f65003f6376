/**
 * Clauses of spec 2.4 Device Reset.
 *
 * @module
 */
import fc from "fast-check";
import { defineDeviceClause, defineDriverClause } from "../../harness/core/clause.ts";
import { Mmio } from "../../harness/transport/mmio_layout.ts";
import { accesses, fmtAccess } from "../driver_trace.ts";
import { checkProperty } from "../../harness/core/property.ts";
import { formatStatus, Status } from "../../harness/status.ts";
import { expectEqual, expectNone } from "../../harness/verify.ts";
import { expectQuietDevice } from "../verifiers.ts";

const DEVICE = "devicenormative:Basic Facilities of a Virtio Device / Device Reset";

/** Status values a driver writes on the way through initialization (plus FAILED). */
const STATUS_STEPS = [
  Status.ACKNOWLEDGE,
  Status.ACKNOWLEDGE | Status.DRIVER,
  Status.ACKNOWLEDGE | Status.DRIVER | Status.FEATURES_OK,
  Status.ACKNOWLEDGE | Status.DRIVER | Status.FEATURES_OK | Status.DRIVER_OK,
  Status.ACKNOWLEDGE | Status.DRIVER | Status.FAILED,
];

export const resetClearsStatus = defineDeviceClause({
  label: DEVICE,
  statement: 1,
  level: "MUST",
  title: "status reads 0 after a reset",
  applies: { legacy: true },
  requirement: "Once the driver resets the device, the device presents a device status of 0.",
  action: "Writes random sequences of status values (any bits, including FAILED and DRIVER_OK), sometimes " +
    "after a full initialization with a request in flight, then resets and reads the status back.",
  async run(ctx) {
    const arb = fc.record({
      init: fc.boolean(),
      writes: fc.array(fc.oneof(fc.constantFrom(...STATUS_STEPS), fc.integer({ min: 1, max: 255 })), { maxLength: 6 }),
    });
    await checkProperty(
      ctx,
      arb,
      async ({ init, writes }) => {
        if (init) {
          const r = await ctx.driver.init("driver-ok", undefined, { tolerateReset: true });
          // The request in flight is incidental here: left out when the queue cannot hold one.
          if ((r.status & Status.DRIVER_OK) && ctx.driver.sampleRoom(0) > 0) {
            await ctx.driver.sampleRequest(0);
            await ctx.driver.kick(0);
          }
        }
        for (const w of writes) await ctx.transport.setStatus(w);
        await ctx.transport.reset();
        await ctx.driver.quiet(5);
        expectEqual("device status after reset", await ctx.transport.getStatus(), 0, formatStatus);
      },
      (v) =>
        `${v.init ? "init to DRIVER_OK + request, then " : ""}status writes [${
          v.writes.map(formatStatus).join(", ")
        }], reset`,
    );
  },
});

export const quietAfterReset = defineDeviceClause({
  label: DEVICE,
  statement: 2,
  level: "MUST NOT",
  title: "no queue access or notification after reset",
  applies: { legacy: true },
  requirement: "After completing a reset (status reads 0) the device neither touches its virtqueues nor sends " +
    "notifications until the driver initializes it again.",
  action: "Initializes to DRIVER_OK, makes a request available without notifying, resets, waits for status 0, " +
    "then notifies the old queue; checks the used ring, the interrupt line and the device's memory accesses.",
  async run(ctx) {
    await ctx.driver.init("driver-ok");
    const q = ctx.driver.queue(0);
    await ctx.driver.sampleRequest(0);
    await ctx.transport.reset();
    await ctx.driver.quiet(5);
    expectEqual("device status after reset", await ctx.transport.getStatus(), 0, formatStatus);
    await q.harvest();
    ctx.session.takeMemoryTrace?.();
    await ctx.driver.kick(0);
    await ctx.driver.quiet(50);
    await expectQuietDevice(ctx, [q], "after the reset completed");
  },
});

const DRIVER = "drivernormative:Basic Facilities of a Virtio Device / Device Reset";

export const resetCompleteOnZero = defineDriverClause({
  label: DRIVER,
  statement: 1,
  level: "SHOULD",
  title: "reset taken as complete once status reads 0",
  requirement: "After writing the reset value, the driver waits until it reads a device status of 0 before it " +
    "treats the reset as complete and writes the status again.",
  action: "Records the driver's probe and removal and checks that every reset write is followed by a Status read " +
    "returning 0 before the next Status write.",
  async run(ctx) {
    const t = await ctx.scenarios.baseline();
    const acc = accesses(t);
    const bad = acc.filter((e, i) => {
      if (e.kind !== "write" || e.offset !== Mmio.Status || e.value !== 0) return false;
      const nextWrite = acc.findIndex((x, j) => j > i && x.kind === "write" && x.offset === Mmio.Status);
      const window = acc.slice(i + 1, nextWrite < 0 ? undefined : nextWrite);
      return nextWrite >= 0 && !window.some((x) => x.kind === "read" && x.offset === Mmio.Status && x.value === 0);
    });
    expectNone("a Status read of 0 after each reset before the next Status write", bad, fmtAccess);
  },
});

/** The clauses of spec 2.4. */
export const DEVICE_RESET_CLAUSES = [resetClearsStatus, quietAfterReset, resetCompleteOnZero];
