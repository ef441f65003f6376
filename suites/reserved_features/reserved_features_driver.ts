/**
 * Driver clauses of spec 6 Reserved Feature Bits.
 *
 * @module
 */
import { defineDriverClause } from "../../harness/core/clause.ts";
import { bit, F, formatFeatures } from "../../harness/features.ts";
import { inRange, le } from "../../harness/memory.ts";
import { GUEST_RAM } from "../../harness/roles/harness_device.ts";
import { Mmio } from "../../harness/transport/mmio_layout.ts";
import { expectNone, expectThat, notApplicable } from "../../harness/verify.ts";
import { accepted, accesses, offerablePool, withOffered } from "../driver_trace.ts";
import type { DriverClauseContext } from "../../harness/core/clause.ts";

const DRIVER = "drivernormative:Reserved Feature Bits";

/** Accepted set when the default offer is extended by `feature`. */
async function acceptedWith(
  ctx: DriverClauseContext,
  feature: number,
): Promise<{ offered: bigint; got: bigint; bound: boolean }> {
  const baseline = await ctx.scenarios.baseline();
  const base = baseline.offered;
  if (ctx.scenarios.watched) {
    // The real device's offer is what it is: judge the run when it offered the feature.
    if (!(base & bit(feature))) notApplicable(`the device did not offer feature bit ${feature}`);
    return { offered: base, got: accepted(baseline), bound: baseline.probe.bound };
  }
  const offered = base | bit(feature);
  const t = await withOffered(ctx, offered, { workloads: [] });
  return { offered, got: accepted(t), bound: t.probe.bound };
}

export const acceptsVersion1 = defineDriverClause({
  label: DRIVER,
  statement: 1,
  level: "MUST",
  title: "VIRTIO_F_VERSION_1 accepted when offered",
  requirement: "A driver accepts VIRTIO_F_VERSION_1 whenever the device offers it.",
  action: "Presents a device offering VIRTIO_F_VERSION_1 and reads the driver's accepted set.",
  async run(ctx) {
    const t = await ctx.scenarios.baseline();
    expectThat(
      (accepted(t) & bit(F.VERSION_1)) !== 0n,
      "VIRTIO_F_VERSION_1 accepted",
      () => `accepted ${formatFeatures(accepted(t), ctx.deviceType)}`,
    );
  },
});

export const acceptsAccessPlatform = defineDriverClause({
  label: DRIVER,
  statement: 3,
  level: "SHOULD",
  title: "VIRTIO_F_ACCESS_PLATFORM accepted when offered",
  requirement: "A driver accepts VIRTIO_F_ACCESS_PLATFORM when the device offers it.",
  action: "Adds VIRTIO_F_ACCESS_PLATFORM to the offer and reads the accepted set.",
  async run(ctx) {
    const r = await acceptedWith(ctx, F.ACCESS_PLATFORM);
    expectThat(
      (r.got & bit(F.ACCESS_PLATFORM)) !== 0n,
      "VIRTIO_F_ACCESS_PLATFORM accepted",
      () => `accepted ${formatFeatures(r.got, ctx.deviceType)}`,
    );
  },
});

export const physicalAddressesOnly = defineDriverClause({
  label: DRIVER,
  statement: 5,
  level: "MUST",
  title: "only physical addresses without VIRTIO_F_ACCESS_PLATFORM",
  requirement: "Unless VIRTIO_F_ACCESS_PLATFORM is offered, every address the driver gives the device is a " +
    "guest-physical address of real memory.",
  action: "Presents a device without VIRTIO_F_ACCESS_PLATFORM, records the queue addresses the driver programs " +
    "and the buffer addresses in its descriptors, and checks each lies in guest memory.",
  async run(ctx) {
    const offered = offerablePool(ctx.deviceType) & ~bit(F.ACCESS_PLATFORM);
    const t = await withOffered(ctx, offered);
    if (!t.probe.bound) notApplicable("the driver did not bind");
    const regions: { what: string; addr: number; len: number }[] = [];
    const halves = new Map<number, number>();
    for (const e of accesses(t)) {
      if (e.kind === "write" && e.offset >= Mmio.QueueDescLow && e.offset <= Mmio.QueueDeviceHigh) {
        halves.set(e.offset, e.value);
      }
      if (e.kind === "write" && e.offset === Mmio.QueueReady && e.value === 1) {
        for (
          const [name, lo] of [["descriptor area", Mmio.QueueDescLow], ["driver area", Mmio.QueueDriverLow], [
            "device area",
            Mmio.QueueDeviceLow,
          ]] as const
        ) {
          regions.push({
            what: `queue ${e.queueSel} ${name}`,
            addr: (halves.get(lo) ?? 0) + (halves.get(lo + 4) ?? 0) * 2 ** 32,
            len: 1,
          });
        }
      }
    }
    for (const q of t.core.queues) {
      for (let i = 0; i < q.size && q.desc; i++) {
        if (!inRange(t.memory, q.desc + 16 * i, 16)) break;
        const d = await t.memory.read(q.desc + 16 * i, 16);
        if (le.u32(d, 8) > 0) regions.push({ what: `descriptor ${i}`, addr: le.u64(d, 0), len: le.u32(d, 8) });
      }
    }
    const bad = regions.filter((r) => !inRange(GUEST_RAM, r.addr, r.len));
    expectNone("every address inside guest memory", bad, (r) => `${r.what} at 0x${r.addr.toString(16)}+${r.len}`);
  },
});

export const acceptsOrderPlatform = defineDriverClause({
  label: DRIVER,
  statement: 7,
  level: "SHOULD",
  title: "VIRTIO_F_ORDER_PLATFORM accepted when offered",
  requirement: "A driver accepts VIRTIO_F_ORDER_PLATFORM when the device offers it.",
  action: "Adds VIRTIO_F_ORDER_PLATFORM to the offer and reads the accepted set.",
  async run(ctx) {
    const r = await acceptedWith(ctx, F.ORDER_PLATFORM);
    expectThat(
      (r.got & bit(F.ORDER_PLATFORM)) !== 0n,
      "VIRTIO_F_ORDER_PLATFORM accepted",
      () => `accepted ${formatFeatures(r.got, ctx.deviceType)}`,
    );
  },
});

export const noSrIovWithoutCapability = defineDriverClause({
  label: DRIVER,
  statement: 10,
  level: "MUST NOT",
  title: "VIRTIO_F_SR_IOV not negotiated without a PCI SR-IOV capability",
  requirement: "A driver does not negotiate VIRTIO_F_SR_IOV with a device that is not PCI or has no SR-IOV " +
    "capability, even when the device wrongly offers it.",
  action: "Presents an MMIO device that offers VIRTIO_F_SR_IOV and reads the accepted set.",
  async run(ctx) {
    const r = await acceptedWith(ctx, F.SR_IOV);
    expectThat(
      (r.got & bit(F.SR_IOV)) === 0n,
      "VIRTIO_F_SR_IOV not accepted",
      () => `accepted ${formatFeatures(r.got, ctx.deviceType)}`,
    );
  },
});

/** The driver clauses of spec 6. */
export const RESERVED_FEATURES_DRIVER_CLAUSES = [
  acceptsVersion1,
  acceptsAccessPlatform,
  physicalAddressesOnly,
  acceptsOrderPlatform,
  noSrIovWithoutCapability,
];
