/**
 * Walking a PCI function's capability list and reading the virtio vendor
 * capabilities and the MSI-X capability from it (spec 4.1.4), without
 * trusting anything the device presents: every pointer is range- and
 * alignment-checked, loops are detected, the walk is bounded, and whatever
 * is wrong is reported in `problems` instead of being thrown.
 *
 * The walk only reads configuration space; it never writes a capability.
 *
 * @module
 */
import type { RegisterSpace, Width } from "../registers.ts";
import { errorText, hex } from "../text.ts";
import {
  CapField,
  CapLength,
  capTypeName,
  MsixCap,
  PCI_CAPS_START,
  PCI_CONFIG_SIZE,
  PciCapId,
  PciConfig,
  PciStatus,
  VirtioPciCap,
} from "./pci_layout.ts";

/** One entry of the capability list, whatever its ID. */
export interface PciCapEntry {
  /** Configuration-space offset of the capability. */
  at: number;
  /** Capability ID (first byte). */
  capId: number;
  /** Raw next pointer (second byte). */
  next: number;
}

/** A virtio vendor capability (`cap_vndr` 0x09), as read. */
export interface VirtioCapInfo {
  /** Configuration-space offset of the capability. */
  at: number;
  capLen: number;
  cfgType: number;
  /** `bar` (0 on a vendor data capability, whose bytes 4–5 hold `vendor_id` instead). */
  bar: number;
  id: number;
  /** `offset` (the low 32 bits on a 64-bit capability). */
  offset: number;
  /** `length` (the low 32 bits on a 64-bit capability). */
  length: number;
  /** Notification capability: `notify_off_multiplier` (when `cap_len` covers it). */
  notifyOffMultiplier?: number;
  /** Shared memory capability: the full 64-bit offset (when `cap_len` covers `offset_hi`). */
  offset64?: bigint;
  /** Shared memory capability: the full 64-bit length (when `cap_len` covers `length_hi`). */
  length64?: bigint;
  /** Vendor data capability: `vendor_id`. */
  vendorId?: number;
}

/** The MSI-X capability, as read. */
export interface MsixCapInfo {
  /** Configuration-space offset of the capability. */
  at: number;
  /** Message control as read. */
  control: number;
  /** Number of table entries (Table Size field + 1). */
  tableSize: number;
  tableBir: number;
  tableOffset: number;
  pbaBir: number;
  pbaOffset: number;
}

/** What a capability walk found. */
export interface CapWalk {
  /** Every capability reached, in list order. */
  caps: PciCapEntry[];
  /** The virtio vendor capabilities, in list order. */
  virtio: VirtioCapInfo[];
  /** The first MSI-X capability, if any. */
  msix?: MsixCapInfo;
  /** Everything wrong with the list, one sentence each. */
  problems: string[];
}

/** Options of {@link walkCapabilities}. */
export interface WalkOptions {
  /** Stop after this many capabilities (default 48: as many as fit in [0x40, 0x100) at 4 bytes each). */
  maxCaps?: number;
}

const MAX_CAPS_DEFAULT = (PCI_CONFIG_SIZE - PCI_CAPS_START) / 4;

/**
 * Walks the capability list of a configuration space. Never throws on what
 * the device presents (a failing read ends the walk with a problem) and
 * never visits a capability twice.
 *
 * @example
 * ```ts
 * import { walkCapabilities } from "./pci_caps.ts";
 * const bytes = new Uint8Array(256);
 * bytes[0x06] = 0x10; // Status: CAP_LIST
 * bytes[0x34] = 0x40; // Capabilities Pointer
 * bytes.set([0x09, 0x00, 16, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0x38, 0, 0, 0], 0x40); // common cfg, BAR 0, length 0x38
 * const config = {
 *   read: (o: number, w: 1 | 2 | 4) => Promise.resolve(new DataView(bytes.buffer).getUint32(o, true) & (2 ** (8 * w) - 1)),
 *   write: () => Promise.resolve(),
 * };
 * const walk = await walkCapabilities(config);
 * console.log(walk.virtio[0]?.cfgType, walk.problems); // 1 []
 * ```
 */
export async function walkCapabilities(config: RegisterSpace, opts: WalkOptions = {}): Promise<CapWalk> {
  const out: CapWalk = { caps: [], virtio: [], problems: [] };
  const maxCaps = opts.maxCaps ?? MAX_CAPS_DEFAULT;
  const read = async (offset: number, width: Width): Promise<number | undefined> => {
    try {
      const v = await config.read(offset, width);
      return width === 4 ? v >>> 0 : v & (width === 1 ? 0xff : 0xffff);
    } catch (e) {
      out.problems.push(`Reading configuration space at ${hex(offset, 3)} (width ${width}) failed: ${errorText(e)}`);
      return undefined;
    }
  };

  const status = await read(PciConfig.Status, 2);
  if (status === undefined) return out;
  if ((status & PciStatus.CAP_LIST) === 0) {
    out.problems.push(`The Status register (${hex(status, 4)}) does not have CAP_LIST set: no capability list`);
    return out;
  }
  const first = await read(PciConfig.CapabilitiesPointer, 1);
  if (first === undefined) return out;

  const visited = new Set<number>();
  let ptr = first;
  let from = "the Capabilities Pointer";
  while (ptr !== 0) {
    if ((ptr & 3) !== 0) {
      out.problems.push(`${cap1(from)} is ${hex(ptr, 2)}, not 4-byte aligned: its low 2 bits are ignored`);
      ptr &= ~3;
    }
    if (ptr < PCI_CAPS_START || ptr >= PCI_CONFIG_SIZE) {
      out.problems.push(
        `${cap1(from)} is ${hex(ptr, 2)}, outside [0x40, 0x100): the walk stops there`,
      );
      break;
    }
    if (visited.has(ptr)) {
      out.problems.push(`${cap1(from)} points back to the capability at ${hex(ptr, 2)}: the list loops`);
      break;
    }
    if (out.caps.length >= maxCaps) {
      out.problems.push(`The capability list has more than ${maxCaps} entries: the walk stops at ${hex(ptr, 2)}`);
      break;
    }
    visited.add(ptr);
    const capId = await read(ptr, 1);
    const next = await read(ptr + 1, 1);
    if (capId === undefined || next === undefined) break;
    out.caps.push({ at: ptr, capId, next });
    if (capId === PciCapId.VENDOR) {
      const v = await readVirtioCap(ptr, read, out.problems);
      if (v) out.virtio.push(v);
    } else if (capId === PciCapId.MSIX && !out.msix) {
      const m = await readMsixCap(ptr, read, out.problems);
      if (m) out.msix = m;
    }
    from = `the cap_next of the capability at ${hex(ptr, 2)}`;
    ptr = next;
  }
  return out;
}

type Reader = (offset: number, width: Width) => Promise<number | undefined>;

async function readVirtioCap(at: number, read: Reader, problems: string[]): Promise<VirtioCapInfo | undefined> {
  const capLen = await read(at + CapField.cap_len, 1);
  const cfgType = await read(at + CapField.cfg_type, 1);
  if (capLen === undefined || cfgType === undefined) return undefined;
  const where = `The virtio capability at ${hex(at, 2)} (${capTypeName(cfgType)})`;
  // The vendor data capability is shorter than struct virtio_pci_cap.
  const minLen = cfgType === VirtioPciCap.VENDOR_CFG ? 6 : CapLength.BASE;
  if (capLen < minLen) {
    problems.push(`${where} has cap_len ${capLen}, shorter than the ${minLen} bytes of its header`);
  }
  if (at + capLen > PCI_CONFIG_SIZE) {
    problems.push(`${where} has cap_len ${capLen}: it runs past the end of configuration space (0x100)`);
  }
  // Read only fields that both cap_len and configuration space cover.
  const covers = (field: number, width: number) => field + width <= capLen && at + field + width <= PCI_CONFIG_SIZE;
  const info: VirtioCapInfo = { at, capLen, cfgType, bar: 0, id: 0, offset: 0, length: 0 };
  if (cfgType === VirtioPciCap.VENDOR_CFG) {
    if (covers(CapField.vendor_id, 2)) {
      const vendorId = await read(at + CapField.vendor_id, 2);
      if (vendorId === undefined) return undefined;
      info.vendorId = vendorId;
    }
    return info;
  }
  if (covers(CapField.bar, 1)) info.bar = (await read(at + CapField.bar, 1)) ?? 0;
  if (covers(CapField.id, 1)) info.id = (await read(at + CapField.id, 1)) ?? 0;
  if (covers(CapField.offset, 4)) info.offset = (await read(at + CapField.offset, 4)) ?? 0;
  if (covers(CapField.length, 4)) info.length = (await read(at + CapField.length, 4)) ?? 0;
  if (cfgType === VirtioPciCap.NOTIFY_CFG && covers(CapField.notify_off_multiplier, 4)) {
    const m = await read(at + CapField.notify_off_multiplier, 4);
    if (m !== undefined) info.notifyOffMultiplier = m;
  }
  if (cfgType === VirtioPciCap.SHARED_MEMORY_CFG && covers(CapField.length_hi, 4)) {
    const oh = await read(at + CapField.offset_hi, 4);
    const lh = await read(at + CapField.length_hi, 4);
    if (oh !== undefined && lh !== undefined) {
      info.offset64 = (BigInt(oh) << 32n) | BigInt(info.offset);
      info.length64 = (BigInt(lh) << 32n) | BigInt(info.length);
    }
  }
  return info;
}

async function readMsixCap(at: number, read: Reader, problems: string[]): Promise<MsixCapInfo | undefined> {
  if (at + MsixCap.LENGTH > PCI_CONFIG_SIZE) {
    problems.push(`The MSI-X capability at ${hex(at, 2)} runs past the end of configuration space (0x100)`);
    return undefined;
  }
  const control = await read(at + MsixCap.control, 2);
  const table = await read(at + MsixCap.table, 4);
  const pba = await read(at + MsixCap.pba, 4);
  if (control === undefined || table === undefined || pba === undefined) return undefined;
  return {
    at,
    control,
    tableSize: (control & MsixCap.TABLE_SIZE_MASK) + 1,
    tableBir: table & 7,
    tableOffset: (table & ~7) >>> 0,
    pbaBir: pba & 7,
    pbaOffset: (pba & ~7) >>> 0,
  };
}

/** What the driver needs to know about a BAR to decide whether a structure in it is usable. */
export interface BarView {
  index: number;
  /** `none`: the BAR is not implemented (or not usable, e.g. the upper half of a 64-bit BAR). */
  kind: "io" | "mem32" | "mem64" | "none";
  /** Size in bytes (0: not implemented). */
  size: number;
}

/** A virtio capability the selection did not use, and why. */
export interface SkippedCap {
  cap: VirtioCapInfo;
  reason: string;
}

/** The virtio structures a driver uses: the first usable instance of each type. */
export interface VirtioCapSelection {
  common?: VirtioCapInfo;
  notify?: VirtioCapInfo;
  isr?: VirtioCapInfo;
  device?: VirtioCapInfo;
  pciCfg?: VirtioCapInfo;
  /** Every usable shared memory capability (one per region, told apart by `id`). */
  sharedMemory: VirtioCapInfo[];
  /** Every vendor data capability (qualify `vendorId` before interpreting one). */
  vendorData: VirtioCapInfo[];
  /** Capabilities not used, with the reason. */
  skipped: SkippedCap[];
}

/** Options of {@link selectVirtioCaps}. */
export interface SelectOptions {
  /** BARs by index (from BAR sizing); without them the region checks are skipped. */
  bars?: readonly BarView[];
  /** Whether I/O BARs can be reached (the adapter has an I/O space). Default true. */
  ioAvailable?: boolean;
  /** A BAR that cannot be used for another reason (e.g. it could not be placed), by index. */
  unusableBar?: (index: number) => string | undefined;
}

/** The smallest structure length the driver accepts, by `cfg_type` (v1.0 common layout: 56 bytes). */
export const MIN_STRUCTURE_LENGTH: Readonly<Record<number, number>> = {
  [VirtioPciCap.COMMON_CFG]: 56,
  [VirtioPciCap.NOTIFY_CFG]: 2,
  [VirtioPciCap.ISR_CFG]: 1,
};

/**
 * The smallest `cap_len` the driver accepts, by `cfg_type`.
 *
 * @example
 * ```ts
 * import { minCapLen } from "./pci_caps.ts";
 * console.log(minCapLen(2), minCapLen(8)); // 20 24
 * ```
 */
export function minCapLen(cfgType: number): number {
  switch (cfgType) {
    case VirtioPciCap.NOTIFY_CFG:
      return CapLength.NOTIFY;
    case VirtioPciCap.PCI_CFG:
      return CapLength.PCI_CFG;
    case VirtioPciCap.SHARED_MEMORY_CFG:
      return CapLength.CAP64;
    case VirtioPciCap.VENDOR_CFG:
      return 6;
    default:
      return CapLength.BASE;
  }
}

const SINGLE_SLOTS: ReadonlyMap<number, "common" | "notify" | "isr" | "device" | "pciCfg"> = new Map([
  [VirtioPciCap.COMMON_CFG, "common"],
  [VirtioPciCap.NOTIFY_CFG, "notify"],
  [VirtioPciCap.ISR_CFG, "isr"],
  [VirtioPciCap.DEVICE_CFG, "device"],
  [VirtioPciCap.PCI_CFG, "pciCfg"],
]);

const KNOWN_TYPES: ReadonlySet<number> = new Set(Object.values(VirtioPciCap));

/**
 * Why a driver cannot use capability `cap`, or undefined when it can.
 * Checks: reserved `cfg_type`, `cap_len` too small or past the end of
 * configuration space, reserved `bar`, BAR not implemented or unreachable,
 * region not inside the BAR, structure too short.
 *
 * @example
 * ```ts
 * import { capUnusableReason } from "./pci_caps.ts";
 * const cap = { at: 0x40, capLen: 16, cfgType: 1, bar: 7, id: 0, offset: 0, length: 64 };
 * console.log(capUnusableReason(cap)); // "bar 7 is reserved"
 * ```
 */
export function capUnusableReason(cap: VirtioCapInfo, opts: SelectOptions = {}): string | undefined {
  if (!KNOWN_TYPES.has(cap.cfgType)) return `cfg_type ${cap.cfgType} is reserved`;
  const need = minCapLen(cap.cfgType);
  if (cap.capLen < need) return `cap_len ${cap.capLen} is shorter than the ${need} bytes of the structure`;
  if (cap.at + cap.capLen > PCI_CONFIG_SIZE) return `cap_len ${cap.capLen} runs past the end of configuration space`;
  if (cap.cfgType === VirtioPciCap.VENDOR_CFG) return undefined;
  if (cap.bar > 5) return `bar ${cap.bar} is reserved`;
  // The PCI configuration access capability's bar/offset/length are the driver's to write.
  if (cap.cfgType === VirtioPciCap.PCI_CFG) return undefined;
  const other = opts.unusableBar?.(cap.bar);
  if (other !== undefined) return `BAR ${cap.bar} cannot be used: ${other}`;
  const minLength = MIN_STRUCTURE_LENGTH[cap.cfgType] ?? 0;
  if (cap.length < minLength) return `length ${cap.length} is shorter than the ${minLength} bytes the driver needs`;
  const bar = opts.bars?.[cap.bar];
  if (opts.bars) {
    if (!bar || bar.kind === "none" || bar.size === 0) return `BAR ${cap.bar} is not implemented`;
    if (bar.kind === "io" && opts.ioAvailable === false) {
      return `BAR ${cap.bar} is an I/O BAR and there is no I/O space`;
    }
    const offset = cap.offset64 ?? BigInt(cap.offset);
    const length = cap.length64 ?? BigInt(cap.length);
    if (offset + length > BigInt(bar.size)) {
      return `the region [${hex(Number(offset), 3)}, +${hex(Number(length), 3)}) is not inside BAR ${cap.bar} (size ${
        hex(bar.size, 3)
      })`;
    }
  }
  return undefined;
}

/**
 * Picks the structures a driver uses: the first usable instance of each
 * `cfg_type` (list order is the device's order of preference), every
 * usable shared memory region and every vendor data capability.
 *
 * @example
 * ```ts ignore
 * const walk = await walkCapabilities(access.config);
 * const sel = selectVirtioCaps(walk, { bars });
 * if (!sel.common) throw new Error("no usable common configuration capability");
 * ```
 */
export function selectVirtioCaps(walk: Pick<CapWalk, "virtio">, opts: SelectOptions = {}): VirtioCapSelection {
  const sel: VirtioCapSelection = { sharedMemory: [], vendorData: [], skipped: [] };
  for (const cap of walk.virtio) {
    const reason = capUnusableReason(cap, opts);
    if (reason !== undefined) {
      sel.skipped.push({ cap, reason });
      continue;
    }
    if (cap.cfgType === VirtioPciCap.SHARED_MEMORY_CFG) {
      sel.sharedMemory.push(cap);
      continue;
    }
    if (cap.cfgType === VirtioPciCap.VENDOR_CFG) {
      sel.vendorData.push(cap);
      continue;
    }
    const key = SINGLE_SLOTS.get(cap.cfgType);
    if (key === undefined) continue;
    if (sel[key]) sel.skipped.push({ cap, reason: `a ${capTypeName(cap.cfgType)} capability came earlier` });
    else sel[key] = cap;
  }
  return sel;
}

function cap1(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
