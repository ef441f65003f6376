/**
 * Driver clauses of spec 4.1.2.2 PCI Device Discovery and 4.1.3.1 PCI
 * Device Layout (the harness plays a PCI device).
 *
 * @module
 */
import fc from "fast-check";
import { defineDriverClause, type DriverClauseContext } from "../../harness/core/clause.ts";
import { configLayoutOf } from "../../harness/device_types.ts";
import { fieldAccessWidth } from "../../harness/models/device/device_function.ts";
import type { PciIdentity, PciLayoutOptions } from "../../harness/models/device/pci_device.ts";
import { checkProperty } from "../../harness/core/property.ts";
import type { Scenario, ScenarioTrace } from "../../harness/roles/harness_device.ts";
import { expectNone, expectThat, notApplicable } from "../../harness/verify.ts";
import { fmtAccess, offerablePool } from "../driver_trace.ts";
import { inSpace } from "./pci_scenarios_driver.ts";
import { hex } from "../../harness/text.ts";

const PCI = { transports: ["pci" as const] };
const DISCOVERY = "drivernormative:Virtio Transport Options / Virtio Over PCI Bus / PCI Device Discovery";
const LAYOUT = "drivernormative:Virtio Transport Options / Virtio Over PCI Bus / PCI Device Layout";

/** Checks the driver bound and every workload succeeded; `what` names the presented variation. */
export function expectWorks(t: ScenarioTrace, what: string): void {
  expectThat(t.probe.bound, `the driver to bind to ${what}`, () => `probe: ${t.probe.error ?? "not bound"}`);
  const failed = t.results.filter((r) => !r.ok);
  expectNone(`the work on ${what} to succeed`, failed, (r) => (r.ok ? "" : r.error));
}

function withIdentity(ctx: DriverClauseContext, pciLayout: PciLayoutOptions): Promise<ScenarioTrace> {
  const s: Scenario = { pciLayout };
  return ctx.scenarios.run(s);
}

export const matchesModernId = defineDriverClause({
  label: DISCOVERY,
  statement: 1,
  level: "MUST",
  applies: PCI,
  title: "modern PCI device ID matched",
  requirement: "The driver takes a function with vendor 0x1AF4 and device ID 0x1040 plus the virtio device ID " +
    "as its device, whatever the subsystem IDs say.",
  action: "Presents the device under its modern ID with random subsystem vendor and device IDs and checks the " +
    "driver binds and serves the default workload.",
  async run(ctx) {
    if (ctx.scenarios.watched) {
      // A real driver beside its own device: the modern ID (and subsystem IDs) that device presents.
      const t = await ctx.scenarios.baseline();
      const deviceId = t.configSpace && t.configSpace.length >= 4 ? t.configSpace[2]! | (t.configSpace[3]! << 8) : 0;
      if (deviceId < 0x1040) notApplicable("the device did not present a modern PCI device ID");
      return expectWorks(t, `a device with the modern ID ${hex(deviceId, 4)}`);
    }
    await checkProperty(
      ctx,
      fc.record({
        subsystemVendorId: fc.integer({ min: 0, max: 0xffff }),
        subsystemId: fc.integer({ min: 0, max: 0xffff }),
      }),
      async (ids: Partial<PciIdentity>) => {
        expectWorks(await withIdentity(ctx, { identity: ids }), "a modern-ID device");
      },
      (ids) => `subsystem vendor ${hex(ids.subsystemVendorId!)}, subsystem ${hex(ids.subsystemId!)}`,
    );
  },
});

export const matchesTransitionalId = defineDriverClause({
  label: DISCOVERY,
  statement: 2,
  level: "MUST",
  applies: { transports: ["pci"], deviceTypes: ["net", "blk", "console", "rng"] },
  title: "transitional PCI device ID matched",
  requirement: "For a device type that has a transitional PCI device ID, the driver also takes a function " +
    "presenting that ID (revision 0, an I/O BAR0) as its device.",
  action: "Presents a transitional device (transitional device ID, revision 0, I/O BAR0) and checks the driver " +
    "binds and serves the default workload.",
  async run(ctx) {
    expectWorks(await withIdentity(ctx, { transitional: true }), "a transitional-ID device");
  },
});

export const matchesAnyRevision = defineDriverClause({
  label: DISCOVERY,
  statement: 3,
  level: "MUST",
  applies: PCI,
  title: "any PCI revision ID matched",
  requirement: "The Revision ID does not decide whether the driver takes the device.",
  action: "Presents the device with random Revision IDs (0–255) and checks the driver binds and serves the " +
    "default workload each time.",
  async run(ctx) {
    await checkProperty(ctx, fc.integer({ min: 0, max: 255 }), async (revisionId) => {
      expectWorks(await withIdentity(ctx, { identity: { revisionId } }), `a device with revision ${revisionId}`);
    }, (r) => `Revision ID ${r}`);
  },
});

export const deviceConfigWidths = defineDriverClause({
  label: LAYOUT,
  statement: 1,
  level: "MUST",
  applies: PCI,
  title: "device configuration fields accessed at their own width",
  requirement: "In the device-specific configuration structure the driver uses 8-bit accesses for 8-bit " +
    "fields, aligned 16-bit accesses for 16-bit fields and aligned 32-bit accesses for 32- and 64-bit fields.",
  action: "Offers every device-type feature the harness implements, has the driver probe and do its work, and " +
    "compares each access to the device-specific structure with the width of the field it hits.",
  async run(ctx) {
    const layout = configLayoutOf(ctx.deviceType);
    const base = await ctx.scenarios.baseline();
    const wide = ctx.scenarios.watched ? base : await ctx.scenarios.run({
      knobs: { offered: base.offered | offerablePool(ctx.deviceType) },
      ...(ctx.deviceType === "blk"
        ? { workloads: [{ kind: "blk-capacity" }, { kind: "blk-read", sector: 0, sectors: 1 }] }
        : {}),
    });
    const acc = [base, wide].flatMap((t) => inSpace(t, "device"));
    if (acc.length === 0) notApplicable("the driver made no device-specific configuration access");
    const bad = acc.filter((e) => {
      const off = e.raw.offset;
      const f = layout.find((x) => off >= x.offset && off < x.offset + x.size);
      if (!f) return true;
      const w = fieldAccessWidth(f);
      return e.width !== w || (off - f.offset) % w !== 0;
    });
    expectNone("each device configuration access at its field's width and alignment", bad, fmtAccess);
  },
});

/** The driver clauses of spec 4.1.2.2 and 4.1.3.1. */
export const PCI_DISCOVERY_DRIVER_CLAUSES = [
  matchesModernId,
  matchesTransitionalId,
  matchesAnyRevision,
  deviceConfigWidths,
];
