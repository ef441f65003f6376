/**
 * Device clauses of spec 6 Reserved Feature Bits.
 *
 * @module
 */
import fc from "fast-check";
import { defineDeviceClause } from "../../harness/core/clause.ts";
import { bit, F, formatFeatures } from "../../harness/features.ts";
import { checkProperty } from "../../harness/core/property.ts";
import { HARNESS_CORE_FEATURES } from "../../harness/roles/harness_driver.ts";
import { formatStatus } from "../../harness/status.ts";
import { expectThat } from "../../harness/verify.ts";
import type { UsedElem } from "../../harness/virtqueue/queue.ts";

const DEVICE = "devicenormative:Reserved Feature Bits";

export const offersVersion1 = defineDeviceClause({
  label: DEVICE,
  statement: 1,
  level: "MUST",
  title: "VIRTIO_F_VERSION_1 offered",
  requirement: "The device offers VIRTIO_F_VERSION_1 (bit 32).",
  action: "Reads the device feature words and checks bit 32.",
  run(ctx) {
    expectThat(
      (ctx.offered & bit(F.VERSION_1)) !== 0n,
      "VIRTIO_F_VERSION_1 offered",
      () => `offered ${formatFeatures(ctx.offered, ctx.deviceType)}`,
    );
    return Promise.resolve();
  },
});

export const usesInOrder = defineDeviceClause({
  label: DEVICE,
  statement: 5,
  level: "MUST",
  title: "buffers used in order under VIRTIO_F_IN_ORDER",
  requirement:
    "With VIRTIO_F_IN_ORDER negotiated, the device uses buffers in the order the driver made them available.",
  action: "Negotiates IN_ORDER, makes requests available in 1–4 random batches of 1–3 with a notification after " +
    "each batch (a batch capped to what the queue holds, used buffers reclaimed before a batch that would not " +
    "fit), and checks the ids of the used elements against the order of availability.",
  applies: { offered: [F.IN_ORDER] },
  async run(ctx) {
    const arb = fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 4 });
    await checkProperty(ctx, arb, async (batches) => {
      const r = await ctx.driver.init("driver-ok", (o) => (o & HARNESS_CORE_FEATURES) | bit(F.IN_ORDER));
      expectThat(r.featuresOk, "FEATURES_OK with VIRTIO_F_IN_ORDER", () => formatStatus(r.status));
      const heads: number[] = [];
      const used: UsedElem[] = [];
      const capacity = ctx.driver.sampleCapacity(0);
      for (const b of batches) {
        // Never more in flight than the queue holds: reclaim the used buffers before a batch that does not fit.
        const n = Math.min(b, capacity);
        if (ctx.driver.sampleRoom(0) < n) used.push(...await ctx.driver.waitUsed(0, heads.length - used.length));
        if (ctx.driver.sampleRoom(0) < n) break; // the device stopped using buffers: the order check reports it
        for (let i = 0; i < n; i++) heads.push((await ctx.driver.sampleRequest(0)).head);
        await ctx.driver.kick(0);
      }
      used.push(...await ctx.driver.waitUsed(0, heads.length - used.length));
      const ids = used.map((u) => u.id);
      expectThat(
        ids.join() === heads.join(),
        `used ids in availability order [${heads.join(", ")}]`,
        () => `used ids [${ids.join(", ")}]`,
      );
    }, (b) => `batches of ${b.join(", ")}`);
  },
});

export const noSrIovOffMmio = defineDeviceClause({
  label: DEVICE,
  statement: 9,
  level: "MUST NOT",
  title: "VIRTIO_F_SR_IOV not offered without a PCI SR-IOV capability",
  requirement: "A device that is not a PCI device with an SR-IOV capability does not offer VIRTIO_F_SR_IOV (bit 37).",
  action: "On a non-PCI transport, reads the device feature words and checks bit 37.",
  applies: { transports: ["mmio", "ccw"] },
  run(ctx) {
    expectThat(
      (ctx.offered & bit(F.SR_IOV)) === 0n,
      "VIRTIO_F_SR_IOV not offered on a non-PCI device",
      () => `offered ${formatFeatures(ctx.offered, ctx.deviceType)}`,
    );
    return Promise.resolve();
  },
});

/** The device clauses of spec 6. */
export const RESERVED_FEATURES_DEVICE_CLAUSES = [offersVersion1, usesInOrder, noSrIovOffMmio];
