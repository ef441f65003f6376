/**
 * Device clauses about the virtio PCI capabilities (spec 4.1.4): `cap_len`,
 * presence and alignment of the common configuration, notification, ISR,
 * device-specific configuration and PCI configuration access structures,
 * the notification geometry, shared memory regions, vendor data, and the
 * PCI configuration access window.
 *
 * @module
 */
import fc from "fast-check";
import { defineDeviceClause, type DeviceClauseContext } from "../../harness/core/clause.ts";
import { bit, F } from "../../harness/features.ts";
import { checkProperty } from "../../harness/core/property.ts";
import { HARNESS_CORE_FEATURES } from "../../harness/roles/harness_driver.ts";
import { minCapLen, type VirtioCapInfo } from "../../harness/transport/pci_caps.ts";
import type { PciDriverTransport } from "../../harness/transport/pci_driver.ts";
import { DeviceUnusable } from "../../harness/transport/transport.ts";
import {
  CapLength,
  capTypeName,
  CommonCfg,
  VIRTIO_PCI_VENDOR_ID,
  VirtioPciCap,
} from "../../harness/transport/pci_layout.ts";
import { expectEqual, expectNone, expectThat, notApplicable } from "../../harness/verify.ts";
import {
  CAPS,
  COMMON,
  DEVICE_CFG,
  hex,
  ISR,
  NOTIFY,
  ON_PCI,
  PCI_CFG,
  pciOf,
  queueField,
  SHM,
  VENDOR,
} from "./helpers_device.ts";

const where = (c: VirtioCapInfo) => `${capTypeName(c.cfgType)} capability at ${hex(c.at, 2)}`;
const ofType = (t: PciDriverTransport, type: number) => t.walk.virtio.filter((c) => c.cfgType === type);

/** Checks that the device presents at least one capability of `type`. */
function expectPresent(t: PciDriverTransport, type: number): void {
  const caps = ofType(t, type);
  expectThat(caps.length >= 1, `at least one ${capTypeName(type)} capability`, () => "none in the capability list");
  // A capability pointing at no structure (reserved or unimplemented BAR, region outside its BAR, too short)
  // presents nothing. One whose cap_len is short is present but malformed (the cap_len clause names that); one
  // the adapter cannot reach (no I/O space, a BAR bigger than its window) is the harness's limit, not a fault.
  const notTheDevice = /^cap_len|came earlier$|I\/O space|window/;
  const pointless = caps.flatMap((c) => {
    const reason = t.selection.skipped.find((s) => s.cap === c)?.reason;
    return reason && !notTheDevice.test(reason) ? [{ c, reason }] : [];
  });
  expectThat(
    pointless.length < caps.length,
    `at least one ${capTypeName(type)} capability whose structure lies inside an implemented BAR`,
    () => pointless.map(({ c, reason }) => `${where(c)}: ${reason}`).join("; "),
  );
}

/** Checks the `offset` of every capability of `type` is a multiple of `align`. */
function expectAligned(t: PciDriverTransport, type: number, align: number): void {
  const caps = ofType(t, type);
  if (caps.length === 0) notApplicable(`the device presents no ${capTypeName(type)} capability`);
  expectNone(
    `the offset of every ${capTypeName(type)} capability ${align}-byte aligned`,
    caps.filter((c) => c.offset % align !== 0),
    (c) => `${where(c)}: offset ${hex(c.offset)}`,
  );
}

export const capLenCoversStructure = defineDeviceClause({
  label: CAPS,
  statement: 1,
  level: "MUST",
  title: "cap_len covers the capability structure",
  requirement: "The cap_len of each virtio capability counts every byte of its structure, from cap_vndr to the " +
    "end of its type's extra fields (notify_off_multiplier, the 64-bit halves, the pci_cfg_data window), and " +
    "stays inside configuration space.",
  action: "Walks the capability list and compares each virtio capability's cap_len with the size its cfg_type " +
    "needs.",
  applies: ON_PCI,
  run(ctx) {
    const t = pciOf(ctx);
    const known = new Set<number>(Object.values(VirtioPciCap));
    const short = t.walk.virtio.filter((c) => known.has(c.cfgType) && c.capLen < minCapLen(c.cfgType));
    expectNone(
      "cap_len at least the structure size of every virtio capability",
      short,
      (c) => `${where(c)}: cap_len ${c.capLen}, structure needs ${minCapLen(c.cfgType)}`,
    );
    const past = t.walk.virtio.filter((c) => c.at + c.capLen > 0x100);
    expectNone("every capability inside configuration space", past, (c) => `${where(c)}: cap_len ${c.capLen}`);
    return Promise.resolve();
  },
});

export const commonOffsetAligned = defineDeviceClause({
  label: COMMON,
  statement: 1,
  level: "MUST",
  title: "common configuration offset 4-byte aligned",
  requirement: "The offset of the common configuration structure inside its BAR is a multiple of 4.",
  action: "Reads the offset of every common configuration capability.",
  applies: ON_PCI,
  run(ctx) {
    expectAligned(pciOf(ctx), VirtioPciCap.COMMON_CFG, 4);
    return Promise.resolve();
  },
});

export const commonPresent = defineDeviceClause({
  label: COMMON,
  statement: 2,
  level: "MUST",
  title: "a common configuration capability",
  requirement: "The device lists at least one common configuration capability.",
  action: "Walks the capability list (a device without one cannot be opened at all: error).",
  applies: ON_PCI,
  run(ctx) {
    expectPresent(pciOf(ctx), VirtioPciCap.COMMON_CFG);
    return Promise.resolve();
  },
});

// ---- notification capability -----------------------------------------------------------------------------------

/** Notification geometry for the variant a clause is about: n/a for the other variant. */
function notifyVariant(ctx: DeviceClauseContext, data: boolean) {
  const offers = (ctx.offered & bit(F.NOTIFICATION_DATA)) !== 0n;
  if (offers !== data) {
    notApplicable(`the device ${offers ? "offers" : "does not offer"} VIRTIO_F_NOTIFICATION_DATA`);
  }
  const t = pciOf(ctx);
  const cap = t.selection.notify ?? ofType(t, VirtioPciCap.NOTIFY_CFG)[0];
  if (!cap) notApplicable("the device presents no notification capability");
  return { t, cap, width: data ? 4 : 2 };
}

/** Every queue's notification offset that does not fit in `length`. */
async function notifyOverflows(t: PciDriverTransport, cap: VirtioCapInfo, width: number) {
  const mult = cap.notifyOffMultiplier ?? 0;
  const n = await t.numQueues();
  const bad: { q: number; off: number; need: number }[] = [];
  for (let q = 0; q < Math.min(n, 1024); q++) {
    const off = await queueField(t, q, CommonCfg.queue_notify_off);
    const need = off * mult + width;
    if (need > cap.length) bad.push({ q, off, need });
  }
  return bad;
}

function isPow2(v: number): boolean {
  return v > 0 && (v & (v - 1)) === 0;
}

export const notifyPresent = defineDeviceClause({
  label: NOTIFY,
  statement: 1,
  level: "MUST",
  title: "a notification capability",
  requirement: "The device lists at least one notification capability.",
  action: "Walks the capability list.",
  applies: ON_PCI,
  run(ctx) {
    expectPresent(pciOf(ctx), VirtioPciCap.NOTIFY_CFG);
    return Promise.resolve();
  },
});

function notifyOffsetClause(statement: number, data: boolean) {
  const align = data ? 4 : 2;
  return defineDeviceClause({
    label: NOTIFY,
    statement,
    level: "MUST",
    title: `notification offset ${align}-byte aligned (${data ? "with" : "without"} NOTIFICATION_DATA)`,
    requirement: `A device ${data ? "offering" : "not offering"} VIRTIO_F_NOTIFICATION_DATA places the ` +
      `notification structure at a ${align}-byte aligned offset of its BAR.`,
    action: "Reads cap.offset of every notification capability.",
    applies: ON_PCI,
    run(ctx) {
      const { t } = notifyVariant(ctx, data);
      expectAligned(t, VirtioPciCap.NOTIFY_CFG, align);
      return Promise.resolve();
    },
  });
}

function notifyMultiplierClause(statement: number, data: boolean) {
  const quantum = data ? 4 : 2;
  return defineDeviceClause({
    label: NOTIFY,
    statement,
    level: "MUST",
    title: `notify_off_multiplier 0 or a power of 2 that is a multiple of ${quantum}`,
    requirement: `A device ${data ? "offering" : "not offering"} VIRTIO_F_NOTIFICATION_DATA presents a ` +
      `notify_off_multiplier that is either 0 or a power of 2 divisible by ${quantum}, so every queue's ` +
      `notify address stays aligned for ${quantum}-byte writes.`,
    action: "Reads notify_off_multiplier of every notification capability.",
    applies: ON_PCI,
    run(ctx) {
      const { t } = notifyVariant(ctx, data);
      const bad = ofType(t, VirtioPciCap.NOTIFY_CFG).filter((c) => {
        const m = c.notifyOffMultiplier ?? 0;
        return m !== 0 && !(isPow2(m) && m % quantum === 0);
      });
      expectNone(
        `notify_off_multiplier 0 or a power of 2 divisible by ${quantum}`,
        bad,
        (c) => `${where(c)}: notify_off_multiplier ${c.notifyOffMultiplier ?? "missing (cap_len too short)"}`,
      );
      return Promise.resolve();
    },
  });
}

function notifyMinLengthClause(statement: number, data: boolean) {
  const min = data ? 4 : 2;
  return defineDeviceClause({
    label: NOTIFY,
    statement,
    level: "MUST",
    title: `notification cap.length at least ${min}`,
    requirement: `A device ${data ? "offering" : "not offering"} VIRTIO_F_NOTIFICATION_DATA presents a ` +
      `notification structure of at least ${min} bytes.`,
    action: "Reads cap.length of every notification capability.",
    applies: ON_PCI,
    run(ctx) {
      const { t } = notifyVariant(ctx, data);
      expectNone(
        `cap.length ≥ ${min}`,
        ofType(t, VirtioPciCap.NOTIFY_CFG).filter((c) => c.length < min),
        (c) => `${where(c)}: length ${c.length}`,
      );
      return Promise.resolve();
    },
  });
}

function notifyAllConfigurationsClause(statement: number, data: boolean) {
  const width = data ? 4 : 2;
  return defineDeviceClause({
    label: NOTIFY,
    statement,
    level: "MUST",
    title: "notification structure long enough in every configuration",
    requirement: `Whatever features the driver negotiates, the notification structure of a device ` +
      `${data ? "offering" : "not offering"} VIRTIO_F_NOTIFICATION_DATA is long enough to hold a ${width}-byte ` +
      "notification at every queue's notify offset.",
    action: "Negotiates random subsets of the offered features the harness knows, then reads queue_notify_off of " +
      "every queue and checks queue_notify_off × notify_off_multiplier + width against cap.length.",
    applies: ON_PCI,
    async run(ctx) {
      const { t, cap } = notifyVariant(ctx, data);
      const known = HARNESS_CORE_FEATURES | bit(F.RING_PACKED) | bit(F.EVENT_IDX) | bit(F.NOTIFICATION_DATA);
      const optional = [...Array(64).keys()].filter((b) => b !== F.VERSION_1 && (ctx.offered & known & bit(b)) !== 0n);
      const arb = fc.subarray(optional);
      await checkProperty(ctx, arb, async (bits) => {
        const accept = bits.reduce((a, b) => a | bit(b), bit(F.VERSION_1));
        const r = await ctx.driver.init("features-ok", () => accept);
        if (!r.featuresOk) return; // a refused combination is no configuration
        expectNone(
          `queue_notify_off × ${cap.notifyOffMultiplier ?? 0} + ${width} ≤ cap.length ${cap.length}`,
          await notifyOverflows(t, cap, width),
          (b) => `queue ${b.q}: queue_notify_off ${b.off} needs ${b.need} bytes`,
        );
      }, (bits) => `negotiated VERSION_1 + bits [${bits.join(", ")}]`);
    },
  });
}

function notifyFormulaClause(statement: number, data: boolean) {
  const width = data ? 4 : 2;
  return defineDeviceClause({
    label: NOTIFY,
    statement,
    level: "MUST",
    title: `cap.length ≥ queue_notify_off × notify_off_multiplier + ${width} for every queue`,
    requirement: `For each queue, the notification structure of a device ${data ? "offering" : "not offering"} ` +
      `VIRTIO_F_NOTIFICATION_DATA extends at least ${width} bytes past that queue's notify offset ` +
      "(queue_notify_off × notify_off_multiplier).",
    action: "After a reset, selects every queue below num_queues and checks its notify offset against cap.length.",
    applies: ON_PCI,
    async run(ctx) {
      const { t, cap } = notifyVariant(ctx, data);
      await ctx.driver.reset();
      expectNone(
        `queue_notify_off × ${cap.notifyOffMultiplier ?? 0} + ${width} ≤ cap.length ${cap.length}`,
        await notifyOverflows(t, cap, width),
        (b) => `queue ${b.q}: queue_notify_off ${b.off} needs ${b.need} bytes`,
      );
    },
  });
}

// ---- ISR, device-specific configuration, shared memory, vendor data, PCI cfg window -----------------------------

export const isrPresent = defineDeviceClause({
  label: ISR,
  statement: 1,
  level: "MUST",
  title: "an ISR status capability",
  requirement: "The device lists at least one ISR status capability.",
  action: "Walks the capability list.",
  applies: ON_PCI,
  run(ctx) {
    expectPresent(pciOf(ctx), VirtioPciCap.ISR_CFG);
    return Promise.resolve();
  },
});

export const deviceCfgAligned = defineDeviceClause({
  label: DEVICE_CFG,
  statement: 1,
  level: "MUST",
  title: "device-specific configuration offset 4-byte aligned",
  requirement: "The device-specific configuration structure starts at a 4-byte aligned offset of its BAR.",
  action: "Reads the offset of every device-specific configuration capability (n/a when there is none).",
  applies: ON_PCI,
  run(ctx) {
    expectAligned(pciOf(ctx), VirtioPciCap.DEVICE_CFG, 4);
    return Promise.resolve();
  },
});

function sharedMemoryCaps(t: PciDriverTransport): VirtioCapInfo[] {
  const caps = ofType(t, VirtioPciCap.SHARED_MEMORY_CFG);
  if (caps.length === 0) notApplicable("the device presents no shared memory capability");
  return caps;
}

export const sharedMemoryInBar = defineDeviceClause({
  label: SHM,
  statement: 1,
  level: "MUST",
  title: "shared memory region inside its BAR",
  requirement: "The 64-bit offset and length of each shared memory region describe bytes that all lie inside the " +
    "BAR the capability names.",
  action: "Reads every shared memory capability (offset, offset_hi, length, length_hi) and compares the region " +
    "with the size of its BAR.",
  applies: ON_PCI,
  run(ctx) {
    const t = pciOf(ctx);
    const bad = sharedMemoryCaps(t).filter((c) => {
      const bar = c.bar <= 5 ? t.bars[c.bar] : undefined;
      if (!bar || bar.size === 0 || c.offset64 === undefined || c.length64 === undefined) return true;
      return c.offset64 + c.length64 > BigInt(bar.size);
    });
    expectNone(
      "every shared memory region inside its BAR",
      bad,
      (c) =>
        `${where(c)}: BAR ${c.bar} (size ${hex(t.bars[c.bar]?.size ?? 0)}), offset ${
          c.offset64 === undefined ? "?" : hex(Number(c.offset64))
        }, length ${c.length64 === undefined ? "?" : hex(Number(c.length64))}`,
    );
    return Promise.resolve();
  },
});

export const sharedMemoryUniqueIds = defineDeviceClause({
  label: SHM,
  statement: 2,
  level: "MUST",
  title: "shared memory ids unique",
  requirement: "No two shared memory capabilities of one device carry the same id.",
  action: "Collects the id of every shared memory capability.",
  applies: ON_PCI,
  run(ctx) {
    const caps = sharedMemoryCaps(pciOf(ctx));
    const dup = caps.filter((c, i) => caps.findIndex((d) => d.id === c.id) !== i);
    expectNone("distinct shared memory ids", dup, (c) => `${where(c)}: id ${c.id} already used`);
    return Promise.resolve();
  },
});

function vendorCaps(t: PciDriverTransport): VirtioCapInfo[] {
  const caps = ofType(t, VirtioPciCap.VENDOR_CFG);
  if (caps.length === 0) notApplicable("the device presents no vendor data capability");
  return caps;
}

export const vendorDataId = defineDeviceClause({
  label: VENDOR,
  statement: 1,
  level: "MUST NOT",
  title: "vendor data vendor_id is not 0x1AF4",
  requirement: "The vendor_id of a vendor data capability is never the virtio vendor ID 0x1AF4.",
  action: "Reads vendor_id of every vendor data capability.",
  applies: ON_PCI,
  run(ctx) {
    expectNone(
      "vendor_id other than 0x1af4",
      vendorCaps(pciOf(ctx)).filter((c) => c.vendorId === VIRTIO_PCI_VENDOR_ID),
      (c) => `${where(c)}: vendor_id 0x1af4`,
    );
    return Promise.resolve();
  },
});

export const vendorDataSize = defineDeviceClause({
  label: VENDOR,
  statement: 2,
  level: "MUST",
  title: "vendor data capability size a multiple of 4",
  requirement: "A vendor data capability occupies a whole number of dwords (cap_len divisible by 4).",
  action: "Reads cap_len of every vendor data capability.",
  applies: ON_PCI,
  run(ctx) {
    expectNone(
      "cap_len a multiple of 4",
      vendorCaps(pciOf(ctx)).filter((c) => c.capLen % 4 !== 0 || c.capLen < CapLength.VENDOR),
      (c) => `${where(c)}: cap_len ${c.capLen}`,
    );
    return Promise.resolve();
  },
});

/** Everything a side effect of a read could change, as the driver can see it without side effects itself. */
async function observableState(t: PciDriverTransport): Promise<string> {
  const parts = [
    `status ${await t.getStatus()}`,
    `generation ${await t.configGeneration()}`,
    `PCI Status ${hex(await t.pciStatus(), 4)}`,
    `Command ${hex(await t.command(), 4)}`,
  ];
  return parts.join(", ");
}

export const vendorDataReadsPure = defineDeviceClause({
  label: VENDOR,
  statement: 3,
  level: "MUST NOT",
  title: "reading vendor data has no side effects",
  requirement: "Reading a vendor data capability changes nothing: the bytes read back the same and the device " +
    "state the driver can see stays as it was.",
  action: "Reads each vendor data capability byte by byte, dword by dword, several times in random order and " +
    "compares the bytes and the device status, configuration generation and PCI Status before and after.",
  applies: ON_PCI,
  async run(ctx) {
    const t = pciOf(ctx);
    const caps = vendorCaps(t);
    await checkProperty(ctx, fc.array(fc.nat({ max: 255 }), { minLength: 1, maxLength: 12 }), async (picks) => {
      await ctx.driver.init("driver-ok");
      const before = await observableState(t);
      const snapshot = async (c: VirtioCapInfo) => {
        const b: number[] = [];
        for (let i = 0; i < c.capLen; i++) b.push(await t.registers.read(c.at + i, 1));
        return b.join(",");
      };
      const first = await Promise.all(caps.map(snapshot));
      for (const p of picks) {
        const c = caps[p % caps.length]!;
        const off = (p * 4) % Math.max(4, c.capLen - (c.capLen % 4));
        await t.registers.read(c.at + off, 4);
      }
      const second = await Promise.all(caps.map(snapshot));
      caps.forEach((c, i) => expectEqual(`bytes of the ${where(c)} on a second read`, second[i], first[i]));
      expectEqual("device state after reading vendor data", await observableState(t), before);
    }, (picks) => `dword reads ${picks.join(",")}`);
  },
});

export const pciCfgPresent = defineDeviceClause({
  label: PCI_CFG,
  statement: 1,
  level: "MUST",
  title: "a PCI configuration access capability",
  requirement: "The device lists at least one PCI configuration access capability.",
  action: "Walks the capability list.",
  applies: ON_PCI,
  run(ctx) {
    expectPresent(pciOf(ctx), VirtioPciCap.PCI_CFG);
    return Promise.resolve();
  },
});

/** The PCI configuration access window, or n/a. */
function pciCfgWindow(t: PciDriverTransport) {
  if (!t.selection.pciCfg) notApplicable("the device has no usable PCI configuration access capability");
  const common = t.structures.common;
  if (!common) throw new DeviceUnusable(t.unusable ?? "the device has no usable common configuration structure");
  if (common.bar.kind === "io") notApplicable("the common configuration structure is in an I/O BAR");
  return { bar: common.cap.bar, base: common.cap.offset };
}

/** Random accesses to the common configuration structure through the window. */
const windowOp = fc.oneof(
  fc.record({ field: fc.constant("device_feature_select" as const), value: fc.nat({ max: 3 }) }),
  fc.record({ field: fc.constant("driver_feature_select" as const), value: fc.nat({ max: 3 }) }),
  fc.record({ field: fc.constant("queue_select" as const), value: fc.nat({ max: 3 }) }),
  fc.record({ field: fc.constant("queue_desc" as const), value: fc.nat({ max: 0xffff }).map((v) => v * 16) }),
);

export const pciCfgWrite = defineDeviceClause({
  label: PCI_CFG,
  statement: 2,
  level: "MUST",
  title: "a pci_cfg_data write reaches the BAR",
  requirement: "Writing pci_cfg_data makes the device perform that write (the first cap.length bytes) at " +
    "cap.offset of the BAR cap.bar, as if the driver had written there directly.",
  action: "Writes random common configuration fields (feature selects, queue_select, queue_desc) through the " +
    "window and reads them back directly through the BAR.",
  applies: ON_PCI,
  async run(ctx) {
    const t = pciOf(ctx);
    const w = pciCfgWindow(t);
    await checkProperty(ctx, fc.array(windowOp, { minLength: 1, maxLength: 6 }), async (ops) => {
      await ctx.driver.init("driver");
      for (const op of ops) {
        const off = CommonCfg[op.field];
        const width = op.field === "queue_select" ? 2 : 4;
        if (op.field === "queue_desc") await t.selectQueue(0);
        await t.pciCfgWrite(w.bar, w.base + off, width, op.value);
        if (op.field === "queue_desc") await t.selectQueue(0);
        expectEqual(
          `${op.field} read through the BAR after a window write`,
          await t.common.read(off, width),
          op.value,
          hex,
        );
      }
    }, (ops) => ops.map((o) => `${o.field}=${hex(o.value)}`).join(", "));
  },
});

export const pciCfgRead = defineDeviceClause({
  label: PCI_CFG,
  statement: 3,
  level: "MUST",
  title: "a pci_cfg_data read returns the BAR's bytes",
  requirement: "Reading pci_cfg_data returns what a read of cap.length bytes at cap.offset of BAR cap.bar returns.",
  action: "Sets random feature selects and queue selects directly, then reads device_feature, num_queues, " +
    "queue_size, device_status and queue_desc both through the window (8-, 16- and 32-bit) and directly.",
  applies: ON_PCI,
  async run(ctx) {
    const t = pciOf(ctx);
    const w = pciCfgWindow(t);
    const reads = [
      [CommonCfg.device_feature, 4, "device_feature"],
      [CommonCfg.num_queues, 2, "num_queues"],
      [CommonCfg.queue_size, 2, "queue_size"],
      [CommonCfg.device_status, 1, "device_status"],
      [CommonCfg.queue_desc, 4, "queue_desc"],
    ] as const;
    await checkProperty(
      ctx,
      fc.tuple(fc.nat({ max: 3 }), fc.nat({ max: 2 }), fc.shuffledSubarray([0, 1, 2, 3, 4], { minLength: 1 })),
      async ([fsel, qsel, order]) => {
        await ctx.driver.init("driver");
        await t.common.write(CommonCfg.device_feature_select, 4, fsel);
        await t.common.write(CommonCfg.queue_select, 2, qsel);
        for (const i of order) {
          const [off, width, name] = reads[i]!;
          const viaWindow = await t.pciCfgRead(w.bar, w.base + off, width);
          const direct = await t.common.read(off, width);
          expectEqual(`${name} read through the window (direct read ${hex(direct)})`, viaWindow, direct, hex);
        }
      },
      ([f, q, o]) => `device_feature_select ${f}, queue_select ${q}, reads ${o.map((i) => reads[i]![2]).join(",")}`,
    );
  },
});

/** Clauses on the virtio PCI capabilities. */
export const PCI_CAPS_DEVICE_CLAUSES = [
  capLenCoversStructure,
  commonOffsetAligned,
  commonPresent,
  notifyPresent,
  notifyOffsetClause(2, false),
  notifyMultiplierClause(3, false),
  notifyMinLengthClause(4, false),
  notifyAllConfigurationsClause(5, false),
  notifyFormulaClause(6, false),
  notifyMultiplierClause(7, true),
  notifyOffsetClause(8, true),
  notifyMinLengthClause(9, true),
  notifyAllConfigurationsClause(10, true),
  notifyFormulaClause(11, true),
  isrPresent,
  deviceCfgAligned,
  sharedMemoryInBar,
  sharedMemoryUniqueIds,
  vendorDataId,
  vendorDataSize,
  vendorDataReadsPure,
  pciCfgPresent,
  pciCfgWrite,
  pciCfgRead,
];
