/**
 * The device side of virtio over PCI (spec 4.1), modern interface: one PCI
 * function (configuration space, BARs, capability list, MSI-X) mapped onto
 * the transport-neutral reference device core.
 *
 * The layout of the function is declarative ({@link PciLayout}); the default
 * ({@link defaultPciLayout}) is the strict one, and its options produce the
 * variations a conforming device may present. Every behaviour the spec
 * constrains sits in a protected method so that device mutants can plant one
 * fault each by subclassing.
 *
 * Transitional devices get the transitional device ID, revision 0 and an I/O
 * BAR0; the legacy interface behind that BAR is not modelled (it reads zero
 * and ignores writes).
 *
 * @module
 */
import type { PciFunctionAccess } from "../../adapter.ts";
import { inRange } from "../../memory.ts";
import type { RegisterSpace, Width } from "../../registers.ts";
import { Status } from "../../status.ts";
import { bit, F } from "../../features.ts";
import {
  barOffset,
  CapField,
  CapLength,
  COMMON_CFG_SIZE,
  CommonCfg,
  commonFieldAt,
  MsixCap,
  MsixEntry,
  NO_VECTOR,
  PCI_BAR_COUNT,
  PCI_CAPS_START,
  PCI_CONFIG_SIZE,
  PciBar,
  PciCapId,
  PciCommand,
  PciConfig,
  PciStatus,
  TRANSITIONAL_PCI_DEVICE_IDS,
  VIRTIO_PCI_MODERN_BASE,
  VIRTIO_PCI_VENDOR_ID,
  VirtioPciCap,
} from "../../transport/pci_layout.ts";
import type { DeviceCore, QueueState } from "./core.ts";
import { Irq } from "./core.ts";
import type { DeviceFunction } from "./device_function.ts";

/** What a BAR decodes: 32-bit memory, 64-bit memory (takes this BAR and the next), or I/O ports. */
export interface PciBarSpec {
  kind: "mem32" | "mem64" | "io";
  /** Size in bytes: a power of two, at least 16 for memory and 4 for I/O. */
  size: number;
  prefetchable?: boolean;
}

/** What lives in a stretch of a BAR. */
export type PciStructure =
  | "common"
  | "notify"
  | "isr"
  | "device"
  | "msix-table"
  | "msix-pba"
  | "shared-memory";

/** One structure placed in a BAR: `[offset, offset + length)` of BAR `bar`. */
export interface PciRegion {
  structure: PciStructure;
  bar: number;
  offset: number;
  length: number;
}

/** One capability of the list, in list order. */
export type PciCap =
  /** A virtio structure capability (`struct virtio_pci_cap`, `_notify_cap` or `_cap64`). */
  | {
    kind: "virtio";
    cfgType: number;
    bar: number;
    offset: number;
    length: number;
    id?: number;
    /** `cap_len` when larger than the minimum (the rest is zero padding). */
    capLen?: number;
    /** Present on notification capabilities. */
    notifyOffMultiplier?: number;
    /** Present on 64-bit capabilities (shared memory): the high halves. */
    offsetHi?: number;
    lengthHi?: number;
  }
  /** The PCI configuration access capability, with its live window. */
  | { kind: "pci-cfg"; capLen?: number }
  /** A vendor data capability (cfg_type 9): its vendor ID and payload. */
  | { kind: "vendor-data"; vendorId: number; data: Uint8Array }
  /** The MSI-X capability described by {@link PciLayout.msix}. */
  | { kind: "msix" }
  /** Any other PCI capability: its ID and the bytes after the two header bytes. */
  | { kind: "raw"; capId: number; body: Uint8Array };

/** The identification registers of the header. */
export interface PciIdentity {
  vendorId: number;
  deviceId: number;
  revisionId: number;
  subsystemVendorId: number;
  subsystemId: number;
  classCode: number;
  subClass: number;
  progIf: number;
  /** 1 = INTA#; 0 = no INTx pin. */
  interruptPin: number;
}

/** Where the MSI-X table and pending-bit array live. */
export interface PciMsixLayout {
  /** Number of vectors (the capability reports this minus one). */
  tableSize: number;
  tableBar: number;
  tableOffset: number;
  pbaBar: number;
  pbaOffset: number;
}

/** A complete, declarative description of the PCI function a {@link PciDevice} presents. */
export interface PciLayout {
  identity: PciIdentity;
  /** BARs by index; a `mem64` BAR leaves the next index undefined (its high half). */
  bars: readonly (PciBarSpec | undefined)[];
  regions: readonly PciRegion[];
  caps: readonly PciCap[];
  /** Present exactly when the caps include `{ kind: "msix" }`. */
  msix?: PciMsixLayout;
  /** Reserved bits ORed into every ISR read (a driver scenario; strict default 0). */
  isrJunk?: number;
}

/** Variations {@link defaultPciLayout} can build; every default is the strict layout. */
export interface PciLayoutOptions {
  /** Transitional identity (device ID, revision 0, subsystem ID) and an I/O BAR0 of 32 bytes. */
  transitional?: boolean;
  /** Overrides of identification registers, applied last. */
  identity?: Partial<PciIdentity>;
  /** `false`: no MSI-X capability. A number: the table size (default: queues + 1). */
  msix?: false | number;
  /** `notify_off_multiplier` (default 4; 0 makes every queue share one address). */
  notifyOffMultiplier?: number;
  /** Bytes of padding added to every virtio capability's `cap_len`. */
  capLenExtra?: number;
  /** Put a virtio capability with this reserved `cfg_type` (`true`: 10) before all others. */
  reservedCapFirst?: boolean | number;
  /** Put a common-configuration capability naming a reserved BAR (7) before all others. */
  reservedBarCapFirst?: boolean;
  /** Present each virtio structure twice: the second, less preferred copy in BAR2. */
  duplicateStructures?: boolean;
  /** Place the notification and ISR structures in BAR2 instead of the main BAR. */
  splitBars?: boolean;
  /** A vendor data capability (its `vendor_id` must not be 0x1AF4). */
  vendorData?: { vendorId: number; data: Uint8Array };
  /** A shared memory region in BAR3 (size: a power of two, at least 4 KiB). */
  sharedMemory?: { id?: number; size: number };
  /** Present a device-specific configuration structure even when the device type has none. */
  deviceCfg?: boolean;
  /** Reserved ISR bits ORed into every ISR read. */
  isrJunk?: number;
}

/** The main BAR (64-bit memory, BAR4 + BAR5) and where the virtio structures sit in it. */
export const PCI_MAIN_BAR = 4;
/** The BAR of the MSI-X table and pending-bit array. */
export const PCI_MSIX_BAR = 1;
/** Offsets of the virtio structures inside the main BAR. */
export const PCI_STRUCT_OFFSETS = { common: 0x0000, isr: 0x1000, device: 0x2000, notify: 0x3000 } as const;
/** Default `notify_off_multiplier`. */
export const PCI_NOTIFY_MULTIPLIER = 4;

/** Default bus windows of {@link PciDevice.access}: well clear of the harness's guest RAM. */
export const DEFAULT_PCI_WINDOWS: {
  memory: { base: number; size: number };
  io: { base: number; size: number };
} = { memory: { base: 0xe000_0000, size: 0x1000_0000 }, io: { base: 0xc000, size: 0x1000 } };

function pow2AtLeast(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}
function align(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

/**
 * The strict layout of a reference device of type `fn`, or a variation of it.
 *
 * BAR1: MSI-X table at 0 and PBA at 0x800 (4 KiB, 32-bit). BAR4+BAR5: one
 * 64-bit BAR with common configuration at 0x0000, ISR at 0x1000,
 * device-specific configuration at 0x2000 and notifications at 0x3000.
 * Capabilities from 0x40: common, notify, ISR, device (when the type has a
 * configuration), PCI configuration access, then MSI-X.
 *
 * @example
 * ```ts
 * import { defaultPciLayout } from "./pci_device.ts";
 * import { RngFunction } from "./rng.ts";
 * const layout = defaultPciLayout(new RngFunction(), { notifyOffMultiplier: 0 });
 * console.log(layout.identity.deviceId.toString(16)); // "1044"
 * ```
 */
export function defaultPciLayout(fn: DeviceFunction, opts: PciLayoutOptions = {}): PciLayout {
  if (opts.duplicateStructures && opts.splitBars) {
    throw new Error("The layout options duplicateStructures and splitBars both use BAR2; choose one.");
  }
  const transitional = opts.transitional === true;
  const transitionalId = TRANSITIONAL_PCI_DEVICE_IDS[fn.deviceId];
  if (transitional && transitionalId === undefined) {
    throw new Error(`Device type ${fn.type} (virtio ID ${fn.deviceId}) has no transitional PCI device ID.`);
  }
  const identity: PciIdentity = {
    vendorId: VIRTIO_PCI_VENDOR_ID,
    deviceId: transitional ? transitionalId! : VIRTIO_PCI_MODERN_BASE + fn.deviceId,
    revisionId: transitional ? 0 : 1,
    subsystemVendorId: VIRTIO_PCI_VENDOR_ID,
    subsystemId: transitional ? fn.deviceId : 0x40 + fn.deviceId,
    classCode: 0xff,
    subClass: 0x00,
    progIf: 0x00,
    interruptPin: 1,
    ...opts.identity,
  };
  const mult = opts.notifyOffMultiplier ?? PCI_NOTIFY_MULTIPLIER;
  // The administration virtqueue (a device type with administration commands has one on PCI) is notified too.
  const queues = fn.queueCount + (fn.admin ? 1 : 0);
  const notifyLength = Math.max(4, (queues - 1) * mult + 4);
  const hasDevice = opts.deviceCfg ?? fn.config.length > 0;
  const deviceLength = Math.max(4, align(fn.config.length, 4));
  const mainSize = pow2AtLeast(Math.max(0x4000, PCI_STRUCT_OFFSETS.notify + notifyLength));

  const bars: (PciBarSpec | undefined)[] = new Array(PCI_BAR_COUNT).fill(undefined);
  bars[PCI_MAIN_BAR] = { kind: "mem64", size: mainSize };
  if (transitional) bars[0] = { kind: "io", size: 32 };
  const second = opts.duplicateStructures || opts.splitBars;
  if (second) bars[2] = { kind: "mem32", size: mainSize };

  const regions: PciRegion[] = [];
  const extra = opts.capLenExtra ?? 0;
  const structCaps: PciCap[] = [];
  const place = (bar: number, which: "common" | "notify" | "isr" | "device") => {
    const offset = PCI_STRUCT_OFFSETS[which];
    const length = which === "common"
      ? COMMON_CFG_SIZE
      : which === "notify"
      ? notifyLength
      : which === "isr"
      ? 4
      : deviceLength;
    regions.push({ structure: which, bar, offset, length });
    const cfgType = {
      common: VirtioPciCap.COMMON_CFG,
      notify: VirtioPciCap.NOTIFY_CFG,
      isr: VirtioPciCap.ISR_CFG,
      device: VirtioPciCap.DEVICE_CFG,
    }[which];
    const min = which === "notify" ? CapLength.NOTIFY : CapLength.BASE;
    structCaps.push({
      kind: "virtio",
      cfgType,
      bar,
      offset,
      length,
      ...(extra ? { capLen: min + extra } : {}),
      ...(which === "notify" ? { notifyOffMultiplier: mult } : {}),
    });
  };
  const kinds = hasDevice ? (["common", "notify", "isr", "device"] as const) : (["common", "notify", "isr"] as const);
  for (const k of kinds) place(opts.splitBars && (k === "notify" || k === "isr") ? 2 : PCI_MAIN_BAR, k);
  if (opts.duplicateStructures) { for (const k of kinds) place(2, k); }

  const caps: PciCap[] = [];
  if (opts.reservedCapFirst) {
    const cfgType = opts.reservedCapFirst === true ? 10 : opts.reservedCapFirst;
    caps.push({ kind: "virtio", cfgType, bar: PCI_MAIN_BAR, offset: 0x2800, length: 0x100 });
  }
  if (opts.reservedBarCapFirst) {
    caps.push({ kind: "virtio", cfgType: VirtioPciCap.COMMON_CFG, bar: 7, offset: 0, length: COMMON_CFG_SIZE });
  }
  caps.push(...structCaps);
  if (opts.sharedMemory) {
    const size = opts.sharedMemory.size;
    bars[3] = { kind: "mem32", size, prefetchable: true };
    regions.push({ structure: "shared-memory", bar: 3, offset: 0, length: size });
    caps.push({
      kind: "virtio",
      cfgType: VirtioPciCap.SHARED_MEMORY_CFG,
      bar: 3,
      offset: 0,
      length: size,
      id: opts.sharedMemory.id ?? 0,
      offsetHi: 0,
      lengthHi: 0,
    });
  }
  if (opts.vendorData) caps.push({ kind: "vendor-data", ...opts.vendorData });
  caps.push(extra ? { kind: "pci-cfg", capLen: CapLength.PCI_CFG + extra } : { kind: "pci-cfg" });

  const layout: PciLayout = { identity, bars, regions, caps, ...(opts.isrJunk ? { isrJunk: opts.isrJunk } : {}) };
  if (opts.msix !== false) {
    const tableSize = opts.msix ?? queues + 1;
    const tableLength = tableSize * MsixEntry.SIZE;
    const pbaOffset = Math.max(0x800, align(tableLength, 8));
    const pbaLength = Math.ceil(tableSize / 64) * 8;
    bars[PCI_MSIX_BAR] = { kind: "mem32", size: pow2AtLeast(Math.max(0x1000, pbaOffset + pbaLength)) };
    regions.push({ structure: "msix-table", bar: PCI_MSIX_BAR, offset: 0, length: tableLength });
    regions.push({ structure: "msix-pba", bar: PCI_MSIX_BAR, offset: pbaOffset, length: pbaLength });
    caps.push({ kind: "msix" });
    layout.msix = { tableSize, tableBar: PCI_MSIX_BAR, tableOffset: 0, pbaBar: PCI_MSIX_BAR, pbaOffset };
  }
  return layout;
}

/** An MSI-X message the device sent. */
export interface MsixMessage {
  vector: number;
  address: number;
  data: number;
  /** The address fell in guest memory and the data was written there. */
  landed: boolean;
}

/** Where one capability sits in configuration space. */
interface PlacedCap {
  cap: PciCap;
  at: number;
  len: number;
}

const U32 = 2 ** 32;

function readLe(bytes: Uint8Array, off: number, width: number): number {
  let v = 0;
  for (let i = width - 1; i >= 0; i--) v = v * 256 + (bytes[off + i] ?? 0);
  return v;
}
function writeLe(bytes: Uint8Array, off: number, width: number, value: number): void {
  let v = value;
  for (let i = 0; i < width; i++) {
    if (off + i < bytes.length) bytes[off + i] = v & 0xff;
    v = Math.floor(v / 256);
  }
}
function ones(width: number): number {
  return width === 4 ? 0xffff_ffff : width === 2 ? 0xffff : 0xff;
}

/**
 * One virtio PCI function (modern interface) over a {@link DeviceCore}.
 *
 * `config` is the 256-byte configuration space; `memory` and `io` decode bus
 * addresses to the placed BARs (only while the Command register enables that
 * space; otherwise reads return all ones and writes are dropped).
 *
 * The device takes over `core.onInterrupt` and `core.onRaise`: subscribe to
 * the INTx line with {@link onInterrupt} and to MSI-X messages with
 * {@link onMessage}. An MSI-X message is also written (32-bit little-endian
 * data) to guest memory when its address lies there. Messages need Bus Master
 * enabled; until then (or while masked) they stay pending in the PBA.
 *
 * @example
 * ```ts
 * import { ArrayMemory } from "../../memory.ts";
 * import { DeviceCore } from "./core.ts";
 * import { PciDevice } from "./pci_device.ts";
 * import { RngFunction } from "./rng.ts";
 * const core = new DeviceCore(new RngFunction(), { memory: new ArrayMemory(0x4000_0000, 1 << 20), transport: "pci" });
 * const dev = new PciDevice(core);
 * const pci = dev.access();
 * console.log((await pci.config.read(0, 4)).toString(16)); // "10441af4"
 * ```
 */
export class PciDevice {
  readonly config: RegisterSpace;
  readonly memory: RegisterSpace;
  readonly io: RegisterSpace;
  /** The live configuration space bytes (registers that are computed are refreshed on read). */
  protected readonly image = new Uint8Array(PCI_CONFIG_SIZE);
  /** Bits of each configuration byte the driver may change. */
  protected readonly writeMask = new Uint8Array(PCI_CONFIG_SIZE);
  /** Where each capability was placed. */
  protected readonly placed: PlacedCap[] = [];
  /** MSI-X table bytes and pending bits. */
  protected msixTable: Uint8Array = new Uint8Array(0);
  protected msixPba: Uint8Array = new Uint8Array(0);
  /** Backing store of shared memory regions, by BAR. */
  protected readonly sharedMemory = new Map<number, Uint8Array>();

  deviceFeatureSelect = 0;
  driverFeatureSelect = 0;
  queueSelect = 0;
  configVector = NO_VECTOR;
  #queueVectors = new WeakMap<QueueState, number>();
  #seenQueues = new WeakSet<QueueState>();
  #epoch: number;
  #intx = false;
  #intxListeners: ((level: boolean) => void)[] = [];
  #messageListeners: ((m: MsixMessage) => void)[] = [];
  #deliveries: Promise<void> = Promise.resolve();
  #messages = 0;

  constructor(readonly core: DeviceCore, readonly layout: PciLayout = defaultPciLayout(core.fn)) {
    this.validateLayout();
    this.#epoch = core.epoch;
    core.onInterrupt = (level) => this.updateIntx(level);
    core.onRaise = (cause, queue) => this.routeEvent(cause, queue);
    this.buildConfigSpace();
    const space = (read: (o: number, w: Width) => number, write: (o: number, w: Width, v: number) => void) => ({
      read: (o: number, w: Width) => Promise.resolve(read(o, w) >>> 0),
      write: (o: number, w: Width, v: number) => Promise.resolve(write(o, w, v >>> 0)),
    });
    this.config = space((o, w) => this.readConfigSpace(o, w), (o, w, v) => this.writeConfigSpace(o, w, v));
    this.memory = space((a, w) => this.busRead("memory", a, w), (a, w, v) => this.busWrite("memory", a, w, v));
    this.io = space((a, w) => this.busRead("io", a, w), (a, w, v) => this.busWrite("io", a, w, v));
  }

  /**
   * The function as the harness reaches it, with BARs to be placed inside `windows`.
   *
   * @example
   * ```ts ignore
   * const pci = device.access(DEFAULT_PCI_WINDOWS);
   * await pci.config.write(barOffset(4), 4, 0xffff_ffff); // size BAR4
   * ```
   */
  access(
    windows: { memory: { base: number; size: number }; io?: { base: number; size: number } } = DEFAULT_PCI_WINDOWS,
  ): PciFunctionAccess {
    const base = { config: this.config, memory: this.memory, memoryWindow: { ...windows.memory } };
    return windows.io ? { ...base, io: this.io, ioWindow: { ...windows.io } } : base;
  }

  /** Subscribes to the INTx line (called on every assertion and when the line drops). */
  onInterrupt(listener: (level: boolean) => void): void {
    this.#intxListeners.push(listener);
  }

  /** Subscribes to MSI-X messages the device sends. */
  onMessage(listener: (m: MsixMessage) => void): void {
    this.#messageListeners.push(listener);
  }

  /** Current level of the INTx line. */
  interruptLevel(): boolean {
    return this.#intx;
  }

  /** MSI-X messages sent so far. */
  get messageCount(): number {
    return this.#messages;
  }

  /** Resolves when the core has no background work left and every MSI-X write has landed. */
  async idle(): Promise<void> {
    await this.core.idle();
    await this.#deliveries;
  }

  /** Function-level reset: configuration space back to power-on values, then a device reset. */
  resetFunction(): void {
    this.buildConfigSpace();
    this.core.reset();
    this.syncEpoch();
    this.updateIntx(false);
  }

  // ---------------------------------------------------------------- layout

  /** Rejects a layout that cannot be presented (errors are sentences). */
  protected validateLayout(): void {
    const { bars, regions, caps, msix } = this.layout;
    if (bars.length > PCI_BAR_COUNT) throw new Error(`A type-0 header has ${PCI_BAR_COUNT} BARs, not ${bars.length}.`);
    bars.forEach((b, i) => {
      if (!b) return;
      const min = b.kind === "io" ? 4 : 16;
      if (b.size < min || pow2AtLeast(b.size) !== b.size) {
        throw new Error(`BAR${i} size ${b.size} is not a power of two of at least ${min} bytes.`);
      }
      if (b.kind === "mem64" && (i === PCI_BAR_COUNT - 1 || bars[i + 1] !== undefined)) {
        throw new Error(`BAR${i} is 64-bit, so BAR${i + 1} must exist and stay undefined (it is the high half).`);
      }
    });
    for (const r of regions) {
      const b = bars[r.bar];
      if (!b || r.offset < 0 || r.offset + r.length > b.size) {
        throw new Error(`Region ${r.structure} at BAR${r.bar}+0x${r.offset.toString(16)} lies outside its BAR.`);
      }
    }
    const hasMsix = caps.some((c) => c.kind === "msix");
    if (hasMsix !== (msix !== undefined)) {
      throw new Error("The layout has an MSI-X capability without an MSI-X table description, or the reverse.");
    }
    if (msix && (msix.tableSize < 1 || msix.tableSize > 0x800)) {
      throw new Error(`An MSI-X table has 1 to 2048 entries, not ${msix.tableSize}.`);
    }
  }

  /** The `cap_len` of a capability as placed. */
  protected capLength(cap: PciCap): number {
    switch (cap.kind) {
      case "virtio": {
        const min = cap.offsetHi !== undefined || cap.lengthHi !== undefined
          ? CapLength.CAP64
          : cap.notifyOffMultiplier !== undefined
          ? CapLength.NOTIFY
          : CapLength.BASE;
        return Math.max(min, cap.capLen ?? 0);
      }
      case "pci-cfg":
        return Math.max(CapLength.PCI_CFG, cap.capLen ?? 0);
      case "vendor-data":
        return Math.max(CapLength.VENDOR, align(6 + cap.data.length, 4));
      case "msix":
        return MsixCap.LENGTH;
      case "raw":
        return 2 + cap.body.length;
    }
  }

  /** Builds the configuration space image and write masks from the layout (power-on state). */
  protected buildConfigSpace(): void {
    const img = this.image;
    const wm = this.writeMask;
    img.fill(0);
    wm.fill(0);
    this.placed.length = 0;
    const id = this.layout.identity;
    writeLe(img, PciConfig.VendorID, 2, id.vendorId);
    writeLe(img, PciConfig.DeviceID, 2, id.deviceId);
    img[PciConfig.RevisionID] = id.revisionId;
    img[PciConfig.ProgIf] = id.progIf;
    img[PciConfig.SubClass] = id.subClass;
    img[PciConfig.ClassCode] = id.classCode;
    img[PciConfig.HeaderType] = 0;
    writeLe(img, PciConfig.SubsystemVendorID, 2, id.subsystemVendorId);
    writeLe(img, PciConfig.SubsystemID, 2, id.subsystemId);
    img[PciConfig.InterruptPin] = id.interruptPin;
    wm[PciConfig.InterruptLine] = 0xff;
    const cmd = this.commandWritableBits();
    wm[PciConfig.Command] = cmd & 0xff;
    wm[PciConfig.Command + 1] = cmd >> 8;
    this.layout.bars.forEach((b, i) => {
      const hiOfPrev = i > 0 && this.layout.bars[i - 1]?.kind === "mem64";
      if (!b && !hiOfPrev) return;
      wm.fill(0xff, barOffset(i), barOffset(i) + 4);
      writeLe(img, barOffset(i), 4, this.normaliseBar(i, 0));
    });
    // Capabilities from 0x40, each dword aligned.
    let at = PCI_CAPS_START;
    let prevNext = PciConfig.CapabilitiesPointer;
    for (const cap of this.layout.caps) {
      const len = this.capLength(cap);
      if (at + len > PCI_CONFIG_SIZE) {
        throw new Error(`The capabilities do not fit in configuration space (capability at 0x${at.toString(16)}).`);
      }
      img[prevNext] = at;
      prevNext = at + CapField.cap_next;
      this.renderCap(cap, at, len);
      this.placed.push({ cap, at, len });
      at = align(at + len, 4);
    }
    if (this.placed.length > 0) img[PciConfig.Status] = PciStatus.CAP_LIST;
    // MSI-X state (power-on: every vector masked, nothing pending).
    const msix = this.layout.msix;
    this.msixTable = new Uint8Array((msix?.tableSize ?? 0) * MsixEntry.SIZE);
    for (let v = 0; v < (msix?.tableSize ?? 0); v++) this.msixTable[v * MsixEntry.SIZE + MsixEntry.control] = 1;
    this.msixPba = new Uint8Array(Math.ceil((msix?.tableSize ?? 0) / 64) * 8);
    for (const r of this.layout.regions) {
      if (r.structure === "shared-memory" && !this.sharedMemory.has(r.bar)) {
        this.sharedMemory.set(r.bar, new Uint8Array(r.length));
      }
    }
  }

  /** Writes one capability's bytes (and the write mask of its driver-writable fields). */
  protected renderCap(cap: PciCap, at: number, len: number): void {
    const img = this.image;
    const wm = this.writeMask;
    switch (cap.kind) {
      case "virtio":
        img[at] = PciCapId.VENDOR;
        img[at + CapField.cap_len] = len;
        img[at + CapField.cfg_type] = cap.cfgType;
        img[at + CapField.bar] = cap.bar;
        img[at + CapField.id] = cap.id ?? 0;
        writeLe(img, at + CapField.offset, 4, cap.offset);
        writeLe(img, at + CapField.length, 4, cap.length);
        if (cap.offsetHi !== undefined || cap.lengthHi !== undefined) {
          writeLe(img, at + CapField.offset_hi, 4, cap.offsetHi ?? 0);
          writeLe(img, at + CapField.length_hi, 4, cap.lengthHi ?? 0);
        } else if (cap.notifyOffMultiplier !== undefined) {
          writeLe(img, at + CapField.notify_off_multiplier, 4, cap.notifyOffMultiplier);
        }
        return;
      case "pci-cfg":
        img[at] = PciCapId.VENDOR;
        img[at + CapField.cap_len] = len;
        img[at + CapField.cfg_type] = VirtioPciCap.PCI_CFG;
        wm[at + CapField.bar] = 0xff;
        wm.fill(0xff, at + CapField.offset, at + CapField.pci_cfg_data + 4);
        return;
      case "vendor-data":
        img[at] = PciCapId.VENDOR;
        img[at + CapField.cap_len] = len;
        img[at + CapField.cfg_type] = VirtioPciCap.VENDOR_CFG;
        writeLe(img, at + CapField.vendor_id, 2, cap.vendorId);
        img.set(cap.data, at + 6);
        return;
      case "msix": {
        const m = this.layout.msix!;
        img[at] = PciCapId.MSIX;
        writeLe(img, at + MsixCap.control, 2, m.tableSize - 1);
        wm[at + MsixCap.control + 1] = (MsixCap.ENABLE | MsixCap.FUNCTION_MASK) >> 8;
        writeLe(img, at + MsixCap.table, 4, m.tableOffset | m.tableBar);
        writeLe(img, at + MsixCap.pba, 4, m.pbaOffset | m.pbaBar);
        return;
      }
      case "raw":
        img[at] = cap.capId;
        img.set(cap.body, at + 2);
        return;
    }
  }

  // -------------------------------------------------------- configuration space

  /** Command bits the driver may set: I/O (when an I/O BAR exists), memory, bus master, INTx disable. */
  protected commandWritableBits(): number {
    const io = this.layout.bars.some((b) => b?.kind === "io") ? PciCommand.IO : 0;
    return io | PciCommand.MEMORY | PciCommand.BUS_MASTER | PciCommand.INTX_DISABLE;
  }

  /** The Command register. */
  get command(): number {
    return readLe(this.image, PciConfig.Command, 2);
  }

  /** The value a BAR register holds after `written` was written: address bits above the size, type bits. */
  protected normaliseBar(i: number, written: number): number {
    const b = this.layout.bars[i];
    if (!b) return this.layout.bars[i - 1]?.kind === "mem64" ? written >>> 0 : 0; // high half of a 64-bit BAR
    if (b.kind === "io") return ((written & PciBar.IO_ADDR_MASK & ~(b.size - 1)) | PciBar.IO_SPACE) >>> 0;
    const type = (b.kind === "mem64" ? PciBar.TYPE_64 : 0) | (b.prefetchable ? PciBar.PREFETCHABLE : 0);
    return ((written & PciBar.MEM_ADDR_MASK & ~(b.size - 1)) | type) >>> 0;
  }

  /** The bus address BAR `i` is placed at. */
  barBase(i: number): number {
    const b = this.layout.bars[i];
    const lo = readLe(this.image, barOffset(i), 4);
    if (!b) return 0;
    if (b.kind === "io") return (lo & PciBar.IO_ADDR_MASK) >>> 0;
    const hi = b.kind === "mem64" ? readLe(this.image, barOffset(i + 1), 4) : 0;
    return ((lo & PciBar.MEM_ADDR_MASK) >>> 0) + hi * U32;
  }

  /** The Interrupt Status bit of the Status register: the OR of the ISR bits while MSI-X is off. */
  protected statusInterrupt(): boolean {
    return !this.msixEnabled() && this.core.interruptStatus !== 0;
  }

  protected readConfigSpace(offset: number, width: Width): number {
    if (offset < 0 || offset + width > PCI_CONFIG_SIZE) return ones(width);
    let v = 0;
    // Split at dword boundaries like byte lanes of separate configuration transactions.
    for (let i = width - 1; i >= 0;) {
      const byte = offset + i;
      const dword = byte & ~3;
      const first = Math.max(offset, dword);
      const n = byte - first + 1;
      this.beforeConfigRead(dword, first - dword, n);
      for (let k = n - 1; k >= 0; k--) v = v * 256 + (this.image[first + k] ?? 0);
      i -= n;
    }
    return v;
  }

  /** Refreshes computed registers of dword `dword` before bytes `[lane, lane + n)` are read. */
  protected beforeConfigRead(dword: number, lane: number, n: number): void {
    if (dword === PciConfig.Command) {
      const s = this.image[PciConfig.Status]! & ~PciStatus.INTERRUPT;
      this.image[PciConfig.Status] = s | (this.statusInterrupt() ? PciStatus.INTERRUPT : 0);
    }
    const cfg = this.pciCfgCapAt(dword - CapField.pci_cfg_data);
    if (cfg !== undefined && lane < 4 && n > 0) this.cfgWindowRead(cfg);
  }

  protected writeConfigSpace(offset: number, width: Width, value: number): void {
    if (offset < 0 || offset + width > PCI_CONFIG_SIZE) return;
    let i = 0;
    while (i < width) {
      const byte = offset + i;
      const dword = byte & ~3;
      const n = Math.min(width - i, dword + 4 - byte);
      let lanes = 0;
      for (let k = 0; k < n; k++) {
        const b = byte + k;
        const v = Math.floor(value / 256 ** (i + k)) & 0xff;
        const m = this.writeMask[b]!;
        this.image[b] = (this.image[b]! & ~m) | (v & m);
        lanes |= 1 << (b - dword);
      }
      this.afterConfigWrite(dword, lanes);
      i += n;
    }
  }

  /** Applies the side effects of a write to dword `dword` (`lanes`: bit k = byte k written). */
  protected afterConfigWrite(dword: number, lanes: number): void {
    if (dword >= PciConfig.Bar0 && dword < barOffset(PCI_BAR_COUNT)) {
      const i = (dword - PciConfig.Bar0) / 4;
      writeLe(this.image, dword, 4, this.normaliseBar(i, readLe(this.image, dword, 4)));
      return;
    }
    if (dword === PciConfig.Command) {
      this.updateIntx(false);
      this.flushPending();
      return;
    }
    const msix = this.placed.find((p) => p.cap.kind === "msix");
    if (msix && dword === msix.at) {
      this.updateIntx(false);
      this.flushPending();
      return;
    }
    const cfg = this.pciCfgCapAt(dword - CapField.pci_cfg_data);
    if (cfg !== undefined && lanes !== 0) this.cfgWindowWrite(cfg);
  }

  /** The PCI configuration access capability placed at `at`, if any. */
  protected pciCfgCapAt(at: number): number | undefined {
    return this.placed.some((p) => p.at === at && p.cap.kind === "pci-cfg") ? at : undefined;
  }

  /** The window of a PCI configuration access capability: `cap.bar`, `cap.offset`, `cap.length`. */
  protected cfgWindow(at: number): { bar: number; offset: number; length: number } {
    return {
      bar: this.image[at + CapField.bar]!,
      offset: readLe(this.image, at + CapField.offset, 4),
      length: readLe(this.image, at + CapField.length, 4),
    };
  }

  /** A driver read of `pci_cfg_data`: reads `cap.length` bytes of the BAR into the data field. */
  protected cfgWindowRead(at: number): void {
    const w = this.cfgWindow(at);
    if (!this.cfgWindowUsable(w)) return;
    const v = this.barRead(w.bar, w.offset, w.length as Width);
    writeLe(this.image, at + CapField.pci_cfg_data, w.length, v);
  }

  /** A driver write of `pci_cfg_data`: writes its first `cap.length` bytes to the BAR. */
  protected cfgWindowWrite(at: number): void {
    const w = this.cfgWindow(at);
    if (!this.cfgWindowUsable(w)) return;
    this.barWrite(w.bar, w.offset, w.length as Width, readLe(this.image, at + CapField.pci_cfg_data, w.length));
  }

  /** Whether the window names an implemented BAR and a width of 1, 2 or 4 inside it. */
  protected cfgWindowUsable(w: { bar: number; offset: number; length: number }): boolean {
    if (w.length !== 1 && w.length !== 2 && w.length !== 4) return false;
    const b = this.layout.bars[w.bar];
    return b !== undefined && w.offset + w.length <= b.size;
  }

  // ---------------------------------------------------------------- bus decode

  /** The BAR and offset a bus access hits, or undefined (space disabled, or no BAR there). */
  protected decode(space: "memory" | "io", addr: number, width: Width): { bar: number; offset: number } | undefined {
    const enable = space === "memory" ? PciCommand.MEMORY : PciCommand.IO;
    if (!(this.command & enable)) return undefined;
    for (let i = 0; i < PCI_BAR_COUNT; i++) {
      const b = this.layout.bars[i];
      if (!b || (b.kind === "io") !== (space === "io")) continue;
      const base = this.barBase(i);
      if (addr >= base && addr + width <= base + b.size) return { bar: i, offset: addr - base };
    }
    return undefined;
  }

  protected busRead(space: "memory" | "io", addr: number, width: Width): number {
    const hit = this.decode(space, addr, width);
    return hit ? this.barRead(hit.bar, hit.offset, width) : ones(width);
  }

  protected busWrite(space: "memory" | "io", addr: number, width: Width, value: number): void {
    const hit = this.decode(space, addr, width);
    if (hit) this.barWrite(hit.bar, hit.offset, width, value);
  }

  /** The region of BAR `bar` holding `offset`. */
  protected regionAt(bar: number, offset: number): PciRegion | undefined {
    return this.layout.regions.find((r) => r.bar === bar && offset >= r.offset && offset < r.offset + r.length);
  }

  /** A read inside BAR `bar` (by bus decode or through the configuration access window). */
  protected barRead(bar: number, offset: number, width: Width): number {
    this.syncEpoch();
    const r = this.regionAt(bar, offset);
    if (!r) return 0;
    const off = offset - r.offset;
    switch (r.structure) {
      case "common":
        return this.readCommon(off, width);
      case "notify":
        return 0;
      case "isr":
        return this.readIsr(off, width);
      case "device":
        return this.core.readConfig(off, width);
      case "msix-table":
        return readLe(this.msixTable, off, width);
      case "msix-pba":
        return readLe(this.msixPba, off, width);
      case "shared-memory":
        return readLe(this.sharedMemory.get(bar)!, off, width);
    }
  }

  /** A write inside BAR `bar`. */
  protected barWrite(bar: number, offset: number, width: Width, value: number): void {
    this.syncEpoch();
    const r = this.regionAt(bar, offset);
    if (!r) return;
    const off = offset - r.offset;
    switch (r.structure) {
      case "common":
        return this.writeCommon(off, width, value);
      case "notify":
        return this.writeNotify(off, width, value);
      case "isr":
        return;
      case "device":
        return this.core.writeConfig(off, width, value);
      case "msix-table":
        return this.writeMsixTable(off, width, value);
      case "msix-pba":
        return;
      case "shared-memory":
        return writeLe(this.sharedMemory.get(bar)!, off, width, value);
    }
  }

  // ------------------------------------------------------- common configuration

  /** Resets the transport's per-device state when the core was reset (device status 0 or otherwise). */
  protected syncEpoch(): void {
    if (this.#epoch === this.core.epoch) return;
    this.#epoch = this.core.epoch;
    this.afterDeviceReset();
  }

  /** Transport state after a device reset: every event unmapped, selectors back to 0. */
  protected afterDeviceReset(): void {
    this.configVector = NO_VECTOR;
    this.deviceFeatureSelect = 0;
    this.driverFeatureSelect = 0;
    this.queueSelect = 0;
  }

  /** Queue `q`'s state; a queue not seen since its (re)set starts with its maximum size. */
  protected queueState(q: number): QueueState | undefined {
    const s = this.core.queues[q];
    if (s && !this.#seenQueues.has(s)) {
      s.size = this.core.queueSizeMax(q);
      // The administration virtqueue exists once VIRTIO_F_ADMIN_VQ is negotiated: until then it is looked at anew.
      if (s.size > 0 || q !== this.core.adminQueueIndex) this.#seenQueues.add(s);
    }
    return s;
  }

  /** The vector of queue `q` (NO_VECTOR after device or queue reset). */
  queueVector(q: number): number {
    const s = this.core.queues[q];
    return s ? this.#queueVectors.get(s) ?? NO_VECTOR : NO_VECTOR;
  }

  /** `device_feature` for a select value. */
  protected deviceFeatureWord(sel: number): number {
    if (sel >= 2 ** 20) return 0;
    return Number((this.core.offeredFeatures() >> BigInt(32 * sel)) & 0xffff_ffffn);
  }

  /** `driver_feature` as presented: the valid bits the driver wrote (a subset of `device_feature`). */
  protected driverFeatureWord(sel: number): number {
    return ((this.core.driverFeatureWords[sel] ?? 0) & this.deviceFeatureWord(sel)) >>> 0;
  }

  /** The vector a mapping request for `v` ends in: `v` when the table has it, else NO_VECTOR (mapping failure). */
  protected mapVector(v: number): number {
    const size = this.layout.msix?.tableSize ?? 0;
    return v < size ? v : NO_VECTOR;
  }

  /** `queue_notify_off` of queue `q`. */
  protected queueNotifyOff(q: number): number {
    return q;
  }

  /** `queue_reset` as read (with the side effect of a read: a pending reset counts down). */
  protected readQueueReset(q: number, consume: boolean): number {
    const s = this.core.queues[q];
    if (!s || s.resetPending <= 0) return 0;
    if (consume) s.resetPending--;
    return 1;
  }

  /** Pure value of a common-configuration field (64-bit fields as a number). */
  protected commonField(name: keyof typeof CommonCfg): number {
    const core = this.core;
    const q = this.queueSelect;
    const s = this.queueState(q);
    switch (name) {
      case "device_feature_select":
        return this.deviceFeatureSelect;
      case "device_feature":
        return this.deviceFeatureWord(this.deviceFeatureSelect);
      case "driver_feature_select":
        return this.driverFeatureSelect;
      case "driver_feature":
        return this.driverFeatureWord(this.driverFeatureSelect);
      case "config_msix_vector":
        return this.configVector;
      case "num_queues":
        return core.fn.queueCount;
      case "device_status":
        return core.status;
      case "config_generation":
        return core.configGeneration & 0xff;
      case "queue_select":
        return q;
      case "queue_size":
        return s ? s.size : 0;
      case "queue_msix_vector":
        return this.queueVector(q);
      case "queue_enable":
        return s?.ready ? 1 : 0;
      case "queue_notify_off":
        return s ? this.queueNotifyOff(q) : 0;
      case "queue_desc":
        return s?.desc ?? 0;
      case "queue_driver":
        return s?.driver ?? 0;
      case "queue_device":
        return s?.device ?? 0;
      case "queue_notif_config_data":
        return 0;
      case "queue_reset":
        return this.readQueueReset(q, false);
      case "admin_queue_index":
        return core.adminQueueIndex ?? 0;
      case "admin_queue_num":
        return core.admin ? 1 : 0;
    }
  }

  /** A read of the common configuration structure at `off`. */
  protected readCommon(off: number, width: Width): number {
    if (off === CommonCfg.queue_reset && width === 2) return this.readQueueReset(this.queueSelect, true);
    let v = 0;
    for (let i = width - 1; i >= 0; i--) {
      const f = commonFieldAt(off + i);
      if (!f) {
        v *= 256;
        continue;
      }
      const fv = this.commonField(f.name);
      const k = off + i - f.offset;
      const byte = k >= 4 ? Math.floor(fv / U32) >>> ((k - 4) * 8) : (fv % U32) >>> (k * 8);
      v = v * 256 + (byte & 0xff);
    }
    return v;
  }

  /** A write of the common configuration structure; only natural-width accesses of driver-writable fields act. */
  protected writeCommon(off: number, width: Width, value: number): void {
    const f = commonFieldAt(off);
    if (!f || !f.driverWritable) return;
    const natural = f.size === 8 ? width === 4 && (off - f.offset) % 4 === 0 : width === f.size && off === f.offset;
    if (!natural) return;
    const q = this.queueSelect;
    const s = this.queueState(q);
    switch (f.name) {
      case "device_feature_select":
        this.deviceFeatureSelect = value;
        return;
      case "driver_feature_select":
        this.driverFeatureSelect = value;
        return;
      case "driver_feature":
        return this.writeDriverFeature(this.driverFeatureSelect, value);
      case "config_msix_vector":
        this.configVector = this.mapVector(value);
        return;
      case "device_status":
        return this.writeDeviceStatus(value);
      case "queue_select":
        this.queueSelect = value;
        return;
      case "queue_size":
        if (s && !s.ready) this.writeQueueSize(q, value);
        return;
      case "queue_msix_vector":
        if (s) this.#queueVectors.set(s, this.mapVector(value));
        return;
      case "queue_enable":
        return this.writeQueueEnable(q, value);
      case "queue_desc":
      case "queue_driver":
      case "queue_device": {
        if (!s || s.ready) return;
        const field = f.name === "queue_desc" ? "desc" : f.name === "queue_driver" ? "driver" : "device";
        const lo = s[field] % U32;
        const hi = Math.floor(s[field] / U32);
        s[field] = off - f.offset === 4 ? lo + value * U32 : value + hi * U32;
        return;
      }
      case "queue_reset":
        return this.writeQueueReset(q, value);
      default:
        return;
    }
  }

  /** `driver_feature` written: stored until FEATURES_OK (later writes are ignored). */
  protected writeDriverFeature(sel: number, value: number): void {
    if (this.core.status & Status.FEATURES_OK) return;
    if (sel < 64) this.core.driverFeatureWords[sel] = value;
  }

  /** `device_status` written: 0 resets the device (and this transport's state). */
  protected writeDeviceStatus(value: number): void {
    this.core.writeStatus(value & 0xff);
    this.syncEpoch();
  }

  /** `queue_size` written while the queue is disabled. */
  protected writeQueueSize(q: number, value: number): void {
    const s = this.core.queues[q];
    if (s) s.size = value;
  }

  /** `queue_enable` written: 1 enables the queue (and ends any pending queue reset); 0 is ignored. */
  protected writeQueueEnable(q: number, value: number): void {
    const s = this.core.queues[q];
    if (!s || value !== 1 || s.ready) return;
    s.resetPending = 0;
    this.core.enableQueue(q);
  }

  /** `queue_reset` written: 1 resets the queue when VIRTIO_F_RING_RESET was negotiated. */
  protected writeQueueReset(q: number, value: number): void {
    if (value !== 1 || !this.core.queues[q]) return;
    if (!(this.core.negotiated & bit(F.RING_RESET))) return;
    this.core.resetQueue(q);
  }

  // -------------------------------------------------------------- notify and ISR

  /**
   * A write to the notification structure: the value names the queue (16 bits),
   * or with VIRTIO_F_NOTIFICATION_DATA a 32-bit value carries the queue index in
   * its low half and the ring position above.
   */
  protected writeNotify(_off: number, width: Width, value: number): void {
    if (width === 1) return;
    const data = width === 4 && (this.core.negotiated & bit(F.NOTIFICATION_DATA)) !== 0n;
    if (data) this.core.notify(value & 0xffff, value >>> 0);
    else this.core.notify(value & 0xffff);
  }

  /** A read of the ISR structure: byte 0 returns the ISR bits and clears them (deasserting INTx). */
  protected readIsr(off: number, _width: Width): number {
    if (off !== 0) return 0;
    const v = this.core.interruptStatus;
    if (v !== 0) this.core.ack(v);
    this.updateIntx(false);
    return (v | (this.layout.isrJunk ?? 0)) & 0xff;
  }

  // ---------------------------------------------------------------- interrupts

  /** Whether MSI-X is enabled in the capability's message control. */
  msixEnabled(): boolean {
    const p = this.placed.find((c) => c.cap.kind === "msix");
    return p !== undefined && (readLe(this.image, p.at + MsixCap.control, 2) & MsixCap.ENABLE) !== 0;
  }

  /** Whether the MSI-X function mask is set. */
  protected functionMasked(): boolean {
    const p = this.placed.find((c) => c.cap.kind === "msix");
    return p !== undefined && (readLe(this.image, p.at + MsixCap.control, 2) & MsixCap.FUNCTION_MASK) !== 0;
  }

  /** The INTx line level: ISR non-zero, MSI-X off, INTx not disabled in Command. */
  protected intxAsserted(): boolean {
    return this.statusInterrupt() && !(this.command & PciCommand.INTX_DISABLE) &&
      this.layout.identity.interruptPin !== 0;
  }

  /** Recomputes the INTx line; listeners hear every assertion (`raised`) and every fall. */
  protected updateIntx(raised: boolean): void {
    this.syncEpoch();
    const level = this.intxAsserted();
    const changed = level !== this.#intx;
    this.#intx = level;
    if (changed || (raised && level)) { for (const l of this.#intxListeners) l(level); }
  }

  /** The vector an event goes to while MSI-X is enabled. */
  protected eventVector(cause: number, queue: number | undefined): number {
    return cause === Irq.CONFIG ? this.configVector : this.queueVector(queue ?? 0);
  }

  /** Routes a raised event: with MSI-X enabled, to its vector (none for NO_VECTOR); otherwise INTx does it. */
  protected routeEvent(cause: number, queue: number | undefined): void {
    this.syncEpoch();
    if (!this.msixEnabled()) return;
    for (const c of [Irq.USED, Irq.CONFIG]) {
      if (!(cause & c)) continue;
      const v = this.eventVector(c, queue);
      if (v !== NO_VECTOR) this.signalVector(v);
    }
  }

  /** Whether vector `v` may be sent now (not masked, MSI-X enabled, Bus Master on). */
  protected canSend(v: number): boolean {
    const masked = (this.msixTable[v * MsixEntry.SIZE + MsixEntry.control]! & MsixEntry.MASKED) !== 0;
    return this.msixEnabled() && !this.functionMasked() && !masked &&
      (this.command & PciCommand.BUS_MASTER) !== 0;
  }

  /** Signals vector `v`: sent now, or its pending bit set until it can be. */
  protected signalVector(v: number): void {
    if (v >= (this.layout.msix?.tableSize ?? 0)) return;
    if (this.canSend(v)) this.sendMessage(v);
    else this.msixPba[v >> 3]! |= 1 << (v & 7);
  }

  /** Sends every pending vector that can be sent now. */
  protected flushPending(): void {
    const n = this.layout.msix?.tableSize ?? 0;
    for (let v = 0; v < n; v++) {
      if (!(this.msixPba[v >> 3]! & (1 << (v & 7))) || !this.canSend(v)) continue;
      this.msixPba[v >> 3]! &= ~(1 << (v & 7));
      this.sendMessage(v);
    }
  }

  /** Sends vector `v`'s message: a 32-bit little-endian write of its data to its address, if that is guest memory. */
  protected sendMessage(v: number): void {
    const e = v * MsixEntry.SIZE;
    const address = readLe(this.msixTable, e + MsixEntry.addrLo, 4) +
      readLe(this.msixTable, e + MsixEntry.addrHi, 4) * U32;
    const data = readLe(this.msixTable, e + MsixEntry.data, 4);
    const mem = this.core.memory;
    const landed = inRange(mem, address, 4);
    this.#messages++;
    if (landed) {
      const bytes = new Uint8Array(4);
      writeLe(bytes, 0, 4, data);
      // A failed write is a lost message, as on a bus; it must not break later deliveries.
      this.#deliveries = this.#deliveries.then(() => mem.write(address, bytes)).catch(() => {});
    }
    for (const l of this.#messageListeners) l({ vector: v, address, data, landed });
  }

  /** A write to the MSI-X table: address (dword aligned), data, and the mask bit of vector control. */
  protected writeMsixTable(off: number, width: Width, value: number): void {
    for (let i = 0; i < width; i++) {
      const b = off + i;
      if (b >= this.msixTable.length) break;
      const field = b % MsixEntry.SIZE;
      let byte = Math.floor(value / 256 ** i) & 0xff;
      if (field === MsixEntry.addrLo) byte &= 0xfc;
      if (field === MsixEntry.control) byte &= MsixEntry.MASKED;
      else if (field > MsixEntry.control) byte = 0;
      this.msixTable[b] = byte;
    }
    this.flushPending();
  }
}
