/**
 * Driver clauses of spec 4.1.4.1 Virtio Structure PCI Capabilities, 4.1.4.8.2
 * Vendor data capability and 4.1.4.9.2 PCI configuration access capability
 * (the harness plays a PCI device and taps the bus).
 *
 * @module
 */
import fc from "fast-check";
import { defineDriverClause, type DriverClauseContext } from "../../harness/core/clause.ts";
import { checkProperty } from "../../harness/core/property.ts";
import type { AccessEvent } from "../../harness/roles/harness_device.ts";
import { VirtioPciCap } from "../../harness/transport/pci_layout.ts";
import { expectNone, notApplicable } from "../../harness/verify.ts";
import { fmtAccess } from "../driver_trace.ts";
import { expectWorks } from "./discovery_driver.ts";
import {
  type BusAccess,
  fmtBus,
  inSpace,
  pciCfgFields,
  type PciScenarioTrace,
  runPci,
  touches,
  virtioCapRanges,
} from "./pci_scenarios_driver.ts";

const PCI = { transports: ["pci" as const] };
const CAPS = "drivernormative:Virtio Transport Options / Virtio Over PCI Bus / Virtio Structure PCI Capabilities";
const VENDOR = "drivernormative:Virtio Transport Options / Virtio Over PCI Bus / PCI Device Layout / " +
  "Vendor data capability";
const PCI_CFG = "drivernormative:Virtio Transport Options / Virtio Over PCI Bus / PCI Device Layout / " +
  "PCI configuration access capability";

/** Memory accesses that fall in no structure the device laid out (no BAR, or a gap of a BAR). */
function stray(t: PciScenarioTrace): BusAccess[] {
  const regions = t.device?.layout.regions ?? [];
  return t.bus.filter((b) =>
    b.bar < 0 || !regions.some((r) => r.bar === b.bar && b.offset >= r.offset && b.offset < r.offset + r.length)
  );
}

/** The driver binds, works, and every memory access lands in a described structure. */
function expectClean(t: PciScenarioTrace, what: string): void {
  expectWorks(t, what);
  expectNone(`every memory access of the driver inside a structure of ${what}`, stray(t), fmtBus);
}

/** Reserved `cfg_type` values (1–5, 8 and 9 are defined). */
const RESERVED_CFG_TYPES = fc.oneof(fc.constantFrom(6, 7), fc.integer({ min: 10, max: 255 }));

export const ignoresReservedCfgType = defineDriverClause({
  label: CAPS,
  statement: 1,
  level: "MUST",
  applies: PCI,
  title: "capability with a reserved cfg_type ignored",
  requirement: "A virtio vendor capability whose cfg_type is reserved has no effect on the driver: it neither " +
    "uses the region it names nor fails because of it.",
  action: "Puts a capability with a random reserved cfg_type (naming an unused stretch of the main BAR) first " +
    "in the list and checks the driver binds, works, and never touches memory outside the real structures.",
  async run(ctx) {
    const one = async (cfgType: number) => {
      const t = await runPci(ctx, { pciLayout: { reservedCapFirst: cfgType } });
      expectClean(t, `a device listing a cfg_type ${cfgType} capability first`);
    };
    await one(10);
    await checkProperty(ctx, RESERVED_CFG_TYPES, one, (v) => `cfg_type ${v}`);
  },
});

export const usesFirstInstance = defineDriverClause({
  label: CAPS,
  statement: 2,
  level: "SHOULD",
  applies: PCI,
  title: "first instance of each structure used",
  requirement: "When a structure type is presented more than once, the driver uses the one listed first.",
  action: "Presents every virtio structure twice (first in BAR4, again in BAR2) and checks the driver's " +
    "memory accesses all go to the BAR4 copies.",
  async run(ctx) {
    const t = await runPci(ctx, { pciLayout: { duplicateStructures: true } });
    expectWorks(t, "a device presenting each structure twice");
    expectNone("no access to the second copies in BAR2", t.bus.filter((b) => b.bar === 2), fmtBus);
  },
});

export const acceptsLongerCapLen = defineDriverClause({
  label: CAPS,
  statement: 3,
  level: "MUST",
  applies: PCI,
  title: "cap_len larger than specified accepted",
  requirement: "A capability whose cap_len exceeds the size the spec gives its structure is still used.",
  action: "Pads every virtio capability by a random 1–16 bytes and checks the driver binds, works and uses " +
    "only the described structures.",
  async run(ctx) {
    await checkProperty(ctx, fc.integer({ min: 1, max: 16 }), async (extra) => {
      const t = await runPci(ctx, { pciLayout: { capLenExtra: extra } });
      expectClean(t, `a device whose capabilities carry ${extra} bytes of padding`);
    }, (n) => `cap_len + ${n}`);
  },
});

export const ignoresReservedBar = defineDriverClause({
  label: CAPS,
  statement: 4,
  level: "MUST",
  applies: PCI,
  title: "capability naming a reserved BAR ignored",
  requirement: "A virtio capability whose bar field is reserved (above 5) is left alone.",
  action: "Puts a common-configuration capability naming BAR 7 first in the list and checks the driver binds, " +
    "works and uses only the structures of the valid capabilities.",
  async run(ctx) {
    const t = await runPci(ctx, { pciLayout: { reservedBarCapFirst: true } });
    expectClean(t, "a device listing a capability with a reserved BAR first");
  },
});

export const handlesLargeLength = defineDriverClause({
  label: CAPS,
  statement: 6,
  level: "MUST",
  applies: PCI,
  title: "unexpectedly large structure length handled",
  requirement: "A structure whose length is larger than the driver needs does not stop the driver.",
  action: "Presents the common, notification, ISR and device-specific structures with random lengths of " +
    "0x100–0x1000 bytes and checks the driver binds and works.",
  async run(ctx) {
    await checkProperty(ctx, fc.integer({ min: 0x100, max: 0x1000 }), async (length) => {
      const t = await runPci(ctx, {}, { structureLength: length });
      expectClean(t, `a device whose structures are 0x${length.toString(16)} bytes long`);
    }, (n) => `length 0x${n.toString(16)}`);
  },
});

/** Configuration-space writes that land inside a virtio capability other than the PCI configuration access one. */
function capWrites(t: PciScenarioTrace): AccessEvent[] {
  const ranges = virtioCapRanges(t.caps).filter((r) => r.cfgType !== VirtioPciCap.PCI_CFG);
  return inSpace(t, "pci-config").filter((e) => e.kind === "write" && ranges.some((r) => touches(e, r.at, r.end)));
}

export const noCapabilityWrites = defineDriverClause({
  label: CAPS,
  statement: 8,
  level: "MUST NOT",
  applies: PCI,
  title: "no write into a virtio capability",
  requirement: "Apart from the PCI configuration access capability, the driver never writes a byte of a virtio " +
    "capability structure.",
  action: "Records every configuration-space write through probe, work, a queue reset and removal, on the " +
    "plain layout and with padded capabilities, and flags those inside a virtio capability.",
  async run(ctx) {
    // A watched driver's own device gives its one run.
    const traces = ctx.scenarios.watched ? [await runPci(ctx, {})] : [
      await runPci(ctx, {}),
      await runPci(ctx, { pciLayout: { capLenExtra: 8 } }),
      await runPci(ctx, { knobs: { queueResetReads: 2 }, workloads: [{ kind: "queue-reset", queue: 0 }] }),
    ];
    expectNone("no write inside a virtio capability", traces.flatMap(capWrites), fmtAccess);
  },
});

export const qualifiesVendorId = defineDriverClause({
  label: VENDOR,
  statement: 2,
  level: "MUST",
  applies: PCI,
  title: "vendor_id read before vendor data is used",
  requirement: "The driver reads a vendor data capability's vendor_id before it reads its payload or writes " +
    "into it.",
  action: "Presents a vendor data capability with a random vendor_id and payload and checks every access to the " +
    "payload comes after a read of that capability's vendor_id.",
  async run(ctx) {
    await checkProperty(
      ctx,
      fc.record({
        vendorId: fc.integer({ min: 0, max: 0xffff }).filter((v) => v !== 0x1af4),
        data: fc.uint8Array({ minLength: 2, maxLength: 24 }),
      }),
      async (vendorData) => {
        const t = await runPci(ctx, { pciLayout: { vendorData } });
        const cap = t.caps.virtio.find((c) => c.cfgType === VirtioPciCap.VENDOR_CFG);
        if (!cap) throw new Error("The harness device did not list its vendor data capability");
        const acc = inSpace(t, "pci-config");
        const bad: AccessEvent[] = [];
        let qualified = false;
        for (const e of acc) {
          if (e.kind === "read" && touches(e, cap.at + 4, cap.at + 6)) qualified = true;
          else if (touches(e, cap.at + 6, cap.at + cap.capLen) && !qualified) bad.push(e);
        }
        expectNone("no vendor data access before its vendor_id was read", bad, fmtAccess);
      },
      (v) => `vendor_id 0x${v.vendorId.toString(16)}, ${v.data.length} payload bytes`,
    );
  },
});

/**
 * Replays the driver's writes to the PCI configuration access capability:
 * for every access of `pci_cfg_data`, the window (bar, offset, length) in
 * force; and every write of `cap.offset` with the length in force then.
 */
function cfgWindowUse(t: PciScenarioTrace): {
  data: { e: AccessEvent; bar: number; offset: number; length: number }[];
  offsetWrites: { e: AccessEvent; offset: number; length: number }[];
  used: boolean;
} {
  const f = pciCfgFields(t.caps)[0];
  const out = { data: [] as never[], offsetWrites: [] as never[], used: false } as ReturnType<typeof cfgWindowUse>;
  if (!f) return out;
  const img = new Uint8Array(20);
  const u32 = (o: number) => (img[o]! | (img[o + 1]! << 8) | (img[o + 2]! << 16) | (img[o + 3]! << 24)) >>> 0;
  for (const e of inSpace(t, "pci-config")) {
    if (!touches(e, f.at, f.at + 20)) continue;
    if (e.kind === "write") {
      out.used = true;
      for (let i = 0; i < e.width; i++) {
        const b = e.raw.offset + i - f.at;
        if (b >= 0 && b < 20) img[b] = (e.raw.value >>> (8 * i)) & 0xff;
      }
      if (touches(e, f.offset, f.offset + 4)) out.offsetWrites.push({ e, offset: u32(8), length: u32(12) });
    }
    if (touches(e, f.data, f.data + 4)) {
      out.used = true;
      out.data.push({ e, bar: img[4]!, offset: u32(8), length: u32(12) });
    }
  }
  return out;
}

async function cfgTraces(ctx: DriverClauseContext) {
  const t = await runPci(ctx, {});
  const use = cfgWindowUse(t);
  if (!use.used) notApplicable("the driver did not use the PCI configuration access capability");
  return { t, use };
}

export const cfgOffsetMultiple = defineDriverClause({
  label: PCI_CFG,
  statement: 1,
  level: "MUST NOT",
  applies: PCI,
  title: "cap.offset written as a multiple of cap.length",
  requirement: "In the PCI configuration access capability the driver only writes an offset that is a " +
    "multiple of the access length it set.",
  action: "Replays the driver's writes to the PCI configuration access capability and checks every offset " +
    "written against the length in force.",
  async run(ctx) {
    const { use } = await cfgTraces(ctx);
    const bad = use.offsetWrites.filter((w) => w.length === 0 || w.offset % w.length !== 0);
    expectNone("each cap.offset a multiple of cap.length", bad, (w) => `${fmtAccess(w.e)} (length ${w.length})`);
  },
});

export const cfgAccessAligned = defineDriverClause({
  label: PCI_CFG,
  statement: 2,
  level: "MUST",
  applies: PCI,
  title: "accesses through the PCI configuration window aligned",
  requirement: "Every access the driver makes through pci_cfg_data is aligned: the window's offset is a " +
    "multiple of its length.",
  action: "Replays the window the driver set up before each pci_cfg_data access and checks its alignment.",
  async run(ctx) {
    const { use } = await cfgTraces(ctx);
    const bad = use.data.filter((d) => d.length === 0 || d.offset % d.length !== 0);
    expectNone("aligned windows", bad, (d) => `${fmtAccess(d.e)} (offset ${d.offset}, length ${d.length})`);
  },
});

export const cfgWindowInsideStructure = defineDriverClause({
  label: PCI_CFG,
  statement: 3,
  level: "MUST NOT",
  applies: PCI,
  title: "pci_cfg_data used only on a described structure",
  requirement: "The driver touches pci_cfg_data only while the window's BAR, offset and length lie inside a " +
    "range that another virtio capability describes.",
  action: "Replays the window before each pci_cfg_data access and checks it against the ranges of the other " +
    "virtio capabilities.",
  async run(ctx) {
    const { t, use } = await cfgTraces(ctx);
    const ranges = t.caps.virtio.filter((c) => c.cfgType !== VirtioPciCap.PCI_CFG && c.bar <= 5);
    const bad = use.data.filter((d) =>
      !ranges.some((c) => c.bar === d.bar && d.offset >= c.offset && d.offset + d.length <= c.offset + c.length)
    );
    expectNone(
      "every window inside a described structure",
      bad,
      (d) => `${fmtAccess(d.e)} (BAR${d.bar}+0x${d.offset.toString(16)}, ${d.length} bytes)`,
    );
  },
});

/** The driver clauses of spec 4.1.4.1, 4.1.4.8.2 and 4.1.4.9.2. */
export const PCI_CAPS_DRIVER_CLAUSES = [
  ignoresReservedCfgType,
  usesFirstInstance,
  acceptsLongerCapLen,
  ignoresReservedBar,
  handlesLargeLength,
  noCapabilityWrites,
  qualifiesVendorId,
  cfgOffsetMultiple,
  cfgAccessAligned,
  cfgWindowInsideStructure,
];
