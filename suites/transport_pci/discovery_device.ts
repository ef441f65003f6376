/**
 * Device clauses of spec 4.1.1 (a conforming PCI function) and 4.1.2.1
 * (PCI device discovery: vendor, device, revision and subsystem IDs).
 *
 * @module
 */
import { defineDeviceClause } from "../../harness/core/clause.ts";
import { DEVICE_IDS } from "../../harness/features.ts";
import { PciConfig, TRANSITIONAL_PCI_DEVICE_IDS, VIRTIO_PCI_VENDOR_ID } from "../../harness/transport/pci_layout.ts";
import { expectEqual, expectNone, expectThat, notApplicable } from "../../harness/verify.ts";
import { DISCOVERY, hex, ON_PCI, PCI, pciOf } from "./helpers_device.ts";

const MODERN_FIRST = 0x1040;
const MODERN_LAST = 0x107f;

/** Whether a PCI device ID is one of the transitional IDs. */
function isTransitionalId(id: number): boolean {
  return Object.values(TRANSITIONAL_PCI_DEVICE_IDS).includes(id);
}

export const pciConformantFunction = defineDeviceClause({
  label: PCI,
  statement: 1,
  level: "MUST",
  title: "a well-formed PCI function",
  requirement: "The device presents a PCI function that follows the PCI rules the virtio transport relies on: " +
    "a type-0 header with a real vendor ID, a capability list (CAP_LIST set) whose pointers are dword aligned, " +
    "lie in [0x40, 0x100), end with 0 and never loop, and BARs that size consistently.",
  action: "Reads the header, walks the capability list with a bounded, loop-detecting walk and sizes every BAR; " +
    "reports every irregularity found.",
  applies: ON_PCI,
  async run(ctx) {
    const t = pciOf(ctx);
    const vendor = await t.vendorId();
    expectThat(vendor !== 0xffff, "a present function (Vendor ID not 0xffff)", () => `Vendor ID ${hex(vendor, 4)}`);
    const header = (await t.registers.read(PciConfig.HeaderType, 1)) & 0x7f;
    expectEqual("header layout (Header Type bits 6:0)", header, 0, (v) => hex(v, 2));
    const barProblems = t.problems.filter((p) => /BAR/.test(p) && !/capability at/.test(p));
    expectNone("a capability list without problems", t.walk.problems, (p) => p);
    expectNone("BARs that size consistently", barProblems, (p) => p);
  },
});

export const vendorId = defineDeviceClause({
  label: DISCOVERY,
  statement: 1,
  level: "MUST",
  title: "PCI Vendor ID is 0x1AF4",
  requirement: "Every virtio PCI function carries the virtio vendor ID 0x1AF4.",
  action: "Reads the Vendor ID register of the configuration header.",
  applies: ON_PCI,
  async run(ctx) {
    expectEqual("PCI Vendor ID", await pciOf(ctx).vendorId(), VIRTIO_PCI_VENDOR_ID, (v) => hex(v, 4));
  },
});

export const deviceId = defineDeviceClause({
  label: DISCOVERY,
  statement: 2,
  level: "MUST",
  title: "PCI Device ID names the device type",
  requirement: "The PCI Device ID is 0x1040 plus the virtio device ID, or the transitional ID listed for that " +
    "device type.",
  action: "Reads the Device ID register and compares it with the modern and transitional IDs of the device type " +
    "under test.",
  applies: ON_PCI,
  async run(ctx) {
    // An `other` device: its type was read from this ID; the check is then only that the ID is a virtio one.
    const virtioId = ctx.deviceType === "other"
      ? (await ctx.transport.identify()).deviceId
      : DEVICE_IDS[ctx.deviceType];
    const id = await pciOf(ctx).pciDeviceId();
    const modern = MODERN_FIRST + virtioId;
    const transitional = TRANSITIONAL_PCI_DEVICE_IDS[virtioId];
    const allowed = transitional === undefined ? [modern] : [modern, transitional];
    expectThat(
      allowed.includes(id),
      `PCI Device ID ${allowed.map((v) => hex(v, 4)).join(" or ")} for a ${ctx.deviceType} device`,
      () => `PCI Device ID ${hex(id, 4)}`,
    );
  },
});

/** The PCI Device ID, or n/a for a transitional device (these SHOULDs are for non-transitional ones). */
async function nonTransitionalId(ctx: Parameters<typeof deviceId.run>[0]): Promise<number> {
  const id = await pciOf(ctx).pciDeviceId();
  if (isTransitionalId(id)) notApplicable(`a transitional device (PCI Device ID ${hex(id, 4)})`);
  return id;
}

export const modernDeviceIdRange = defineDeviceClause({
  label: DISCOVERY,
  statement: 4,
  level: "SHOULD",
  title: "non-transitional Device ID in 0x1040–0x107f",
  requirement: "A device without the legacy interface uses a PCI Device ID from the modern range 0x1040 to 0x107f.",
  action: "Reads the Device ID register (n/a when it is a transitional ID).",
  applies: ON_PCI,
  async run(ctx) {
    const id = await nonTransitionalId(ctx);
    expectThat(
      id >= MODERN_FIRST && id <= MODERN_LAST,
      "PCI Device ID in 0x1040–0x107f",
      () => `PCI Device ID ${hex(id, 4)}`,
    );
  },
});

export const modernRevision = defineDeviceClause({
  label: DISCOVERY,
  statement: 5,
  level: "SHOULD",
  title: "non-transitional Revision ID at least 1",
  requirement: "A device without the legacy interface reports a PCI Revision ID of 1 or more, so that old legacy " +
    "drivers leave it alone.",
  action: "Reads the Revision ID register (n/a for a transitional device).",
  applies: ON_PCI,
  async run(ctx) {
    await nonTransitionalId(ctx);
    const rev = await pciOf(ctx).revisionId();
    expectThat(rev >= 1, "PCI Revision ID ≥ 1", () => `PCI Revision ID ${rev}`);
  },
});

export const modernSubsystemId = defineDeviceClause({
  label: DISCOVERY,
  statement: 6,
  level: "SHOULD",
  title: "non-transitional Subsystem ID at least 0x40",
  requirement: "A device without the legacy interface reports a PCI Subsystem Device ID of 0x40 or more.",
  action: "Reads the Subsystem ID register (n/a for a transitional device).",
  applies: ON_PCI,
  async run(ctx) {
    await nonTransitionalId(ctx);
    const sub = await pciOf(ctx).subsystemId();
    expectThat(sub >= 0x40, "PCI Subsystem ID ≥ 0x40", () => `PCI Subsystem ID ${hex(sub, 4)}`);
  },
});

/** Clauses of 4.1.1 and 4.1.2.1. */
export const PCI_DISCOVERY_DEVICE_CLAUSES = [
  pciConformantFunction,
  vendorId,
  deviceId,
  modernDeviceIdRange,
  modernRevision,
  modernSubsystemId,
];
