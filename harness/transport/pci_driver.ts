/**
 * The driver side of virtio over PCI, modern interface (spec 4.1): BARs
 * sized and placed, the capability list walked, the first usable instance
 * of each virtio structure chosen, and every transport operation done
 * through the common configuration, notification, ISR and device-specific
 * configuration structures. Also the PCI-only operations transport clauses
 * need: configuration-header fields, MSI-X table and vector mapping, and
 * access through the PCI configuration access capability.
 *
 * Every value the device presents is untrusted: offsets are bounds-checked
 * against the structure and BAR they fall in, and what cannot be done is
 * an Error with a sentence saying why.
 *
 * @module
 */
import type { PciFunctionAccess } from "../adapter.ts";
import type { RegisterSpace, Width } from "../registers.ts";
import { hex } from "../text.ts";
import {
  type BarInfo,
  type BarPlacement,
  type BarPlacementResult,
  barUnplaceableReason,
  placeBars,
  sizeBars,
} from "./pci_bars.ts";
import {
  type CapWalk,
  type SelectOptions,
  selectVirtioCaps,
  type VirtioCapInfo,
  type VirtioCapSelection,
  walkCapabilities,
} from "./pci_caps.ts";
import {
  CapField,
  CommonCfg,
  MsixCap,
  MsixEntry,
  PciConfig,
  VIRTIO_PCI_VENDOR_ID,
  virtioIdFromPci,
  VirtioPciCap,
} from "./pci_layout.ts";
import {
  type DeviceIdentity,
  DeviceUnusable,
  type DriverTransport,
  FEATURE_WORDS,
  type QueueAddresses,
} from "./transport.ts";

const TWO32 = 2 ** 32;

/**
 * A register window onto `[address, address + length)` of a bus space;
 * accesses outside it (or misaligned for their width) are refused with an
 * Error rather than sent to whatever lies beyond.
 */
class StructureWindow implements RegisterSpace {
  constructor(
    readonly name: string,
    readonly bus: RegisterSpace,
    readonly address: number,
    readonly length: number,
  ) {}
  #check(offset: number, width: Width): void {
    if (!Number.isInteger(offset) || offset < 0 || offset + width > this.length) {
      throw new Error(
        `Access outside the ${this.name} structure: offset ${offset} (width ${width}), structure length ${this.length}`,
      );
    }
  }
  async read(offset: number, width: Width): Promise<number> {
    this.#check(offset, width);
    return await this.bus.read(this.address + offset, width);
  }
  async write(offset: number, width: Width, value: number): Promise<void> {
    this.#check(offset, width);
    await this.bus.write(this.address + offset, width, value);
  }
}

/** A structure the device does not present usably: every access rejects with {@link DeviceUnusable}. */
class UnusableWindow implements RegisterSpace {
  constructor(readonly name: string, readonly reason: string) {}
  read(offset: number, _width: Width): Promise<number> {
    return Promise.reject(this.#error(offset));
  }
  write(offset: number, _width: Width, _value: number): Promise<void> {
    return Promise.reject(this.#error(offset));
  }
  #error(offset: number): DeviceUnusable {
    return new DeviceUnusable(`${this.reason} (an access to offset ${offset} of the ${this.name} structure)`);
  }
}

/** A virtio structure as the driver reaches it. */
export interface PciStructure {
  cap: VirtioCapInfo;
  /** The BAR holding it, as placed. */
  bar: BarPlacement;
  /** Bus address (memory) or port (I/O) of the structure's first byte. */
  address: number;
  /** Bytes the driver reaches (the capability's length, at most what the BAR holds). */
  length: number;
}

/** One MSI-X table entry to program. */
export interface MsixEntryValue {
  /** Message address (up to 64 bits). */
  address: number;
  data: number;
  masked: boolean;
}

/** Options of {@link PciDriverTransport.open}. */
export interface PciOpenOptions {
  /** Bound of the capability walk (default 48). */
  maxCaps?: number;
  /** Chooses the structures from the walk (default {@link selectVirtioCaps}: the first usable instance of each). */
  select?: (walk: CapWalk, opts: SelectOptions) => VirtioCapSelection;
  /**
   * Open even when a required structure is missing or cannot be reached:
   * the transport then says why in `unusable`, and every operation that
   * needs a missing structure rejects with {@link DeviceUnusable}.
   */
  degraded?: boolean;
}

/** The structures in use; a required one is absent only on a transport opened degraded. */
export interface PciStructures {
  common?: PciStructure;
  notify?: PciStructure;
  isr?: PciStructure;
  device?: PciStructure;
}

/**
 * Driver-side virtio over PCI (modern interface) on one PCI function.
 *
 * `disableQueue` throws: a driver has no way to turn a single queue off on
 * PCI (writing 0 to `queue_enable` is forbidden); use a queue reset
 * ({@link startQueueReset}) or a device reset instead.
 *
 * @example
 * ```ts ignore
 * const t = await PciDriverTransport.open(session.pci!);
 * const id = await t.identify();
 * await t.reset();
 * console.log(id.deviceId, await t.numQueues(), t.notifyOffMultiplier);
 * ```
 */
export class PciDriverTransport implements DriverTransport {
  readonly kind = "pci" as const;
  readonly modern = true;
  /** The configuration space. */
  readonly registers: RegisterSpace;
  /** The common configuration structure (offsets as in `CommonCfg`). */
  readonly common: RegisterSpace;
  /** The ISR status structure (one byte at offset 0). */
  readonly isr: RegisterSpace;
  /** The device-specific configuration structure, when the device has one. */
  readonly deviceCfg: RegisterSpace | undefined;
  /**
   * Set when VIRTIO_F_NOTIF_CONFIG_DATA is negotiated: a notification
   * without `data` then carries the queue's `queue_notif_config_data`
   * instead of its index.
   */
  notifConfigData = false;
  readonly #notifyOff = new Map<number, number>();
  readonly #notifData = new Map<number, number>();

  private constructor(
    /** The PCI function. */
    readonly access: PciFunctionAccess,
    /** The capability walk. */
    readonly walk: CapWalk,
    /** The structures chosen (first usable instance of each type). */
    readonly selection: VirtioCapSelection,
    /** Every BAR as sized. */
    readonly bars: readonly BarInfo[],
    /** The BARs placed and the Command register written. */
    readonly placement: BarPlacementResult,
    /** The structures in use. */
    readonly structures: PciStructures,
    /** Everything odd found while opening (walk, sizing, placement, skipped capabilities), one sentence each. */
    readonly problems: readonly string[],
    /** Opened degraded: why the device cannot be driven (see {@link PciOpenOptions.degraded}). */
    readonly unusable?: string | undefined,
  ) {
    this.registers = access.config;
    this.common = this.#window("common configuration", structures.common);
    this.isr = this.#window("ISR status", structures.isr);
    this.deviceCfg = structures.device ? this.#window("device-specific configuration", structures.device) : undefined;
  }

  /**
   * Sizes the BARs, walks the capability list, picks the first usable
   * common configuration, notification, ISR and device-specific
   * configuration structures, places the BARs they (and the MSI-X table
   * and PBA) live in and enables MEMORY/IO decoding and bus mastering.
   * Does not touch the device status. Throws an Error when a required
   * structure is missing or unusable.
   *
   * @example
   * ```ts ignore
   * const t = await PciDriverTransport.open(access);
   * ```
   */
  static async open(access: PciFunctionAccess, opts: PciOpenOptions = {}): Promise<PciDriverTransport> {
    const walk = await walkCapabilities(access.config, opts.maxCaps === undefined ? {} : { maxCaps: opts.maxCaps });
    const sizing = await sizeBars(access.config);
    const problems = [...walk.problems, ...sizing.problems];
    const selection = (opts.select ?? selectVirtioCaps)(walk, {
      bars: sizing.bars,
      ioAvailable: access.io !== undefined && access.ioWindow !== undefined,
      unusableBar: (i) => barUnplaceableReason(sizing.bars, i, access, sizing.problems),
    });
    for (const s of selection.skipped) {
      problems.push(`The virtio capability at ${hex(s.cap.at, 2)} is not used: ${s.reason}`);
    }
    const required: [keyof VirtioCapSelection & ("common" | "notify" | "isr"), number, string][] = [
      ["common", VirtioPciCap.COMMON_CFG, "common configuration"],
      ["notify", VirtioPciCap.NOTIFY_CFG, "notification"],
      ["isr", VirtioPciCap.ISR_CFG, "ISR status"],
    ];
    const missing = required.filter(([k]) => !selection[k]);
    const fatal: string[] = [];
    if (missing.length > 0) {
      const details = missing.map(([, type, name]) => {
        const skipped = selection.skipped.filter((s) => s.cap.cfgType === type);
        return skipped.length === 0
          ? `no ${name} capability`
          : `${name} capabilities unusable (${skipped.map((s) => `at ${hex(s.cap.at, 2)}: ${s.reason}`).join("; ")})`;
      });
      fatal.push(`The PCI function is not a usable modern virtio device: ${details.join("; ")}`);
      if (!opts.degraded) throw new Error(fatal[0]);
    }
    const { common, notify, isr, device } = selection;
    const needed = [common, notify, isr, device].flatMap((c) => (c ? [c.bar] : []));
    if (walk.msix) needed.push(walk.msix.tableBir, walk.msix.pbaBir);
    const placement = await placeBars(access, sizing.bars, needed, sizing.problems);
    const mustPlace = ([[common, "common configuration"], [notify, "notification"], [isr, "ISR status"]] as const)
      .flatMap(([c, name]) => (c ? [[c, name] as const] : []));
    const unplaced = mustPlace.filter(([c]) => placement.failed.has(c.bar));
    if (unplaced.length > 0) {
      fatal.push(
        `The BARs of the required virtio structures could not be placed: ${
          unplaced.map(([c, name]) => `${name}: ${placement.failed.get(c.bar)}`).join("; ")
        }`,
      );
      if (!opts.degraded) throw new Error(fatal.at(-1));
    }
    for (const e of placement.errors) problems.push(e);
    const structure = (cap: VirtioCapInfo | undefined): PciStructure | undefined => {
      const bar = cap && placement.placements.find((p) => p.index === cap.bar);
      if (!cap || !bar) return undefined;
      const length = Math.max(0, Math.min(cap.length, bar.size - cap.offset));
      return { cap, bar, address: bar.address + cap.offset, length };
    };
    const structures: PciStructures = {};
    for (const [key, cap] of [["common", common], ["notify", notify], ["isr", isr], ["device", device]] as const) {
      const placed = structure(cap);
      if (placed) structures[key] = placed;
    }
    if (device && !structures.device) {
      problems.push(`The device-specific configuration at ${hex(device.at, 2)} is not used: its BAR was not placed`);
    }
    const unusable = fatal.length > 0 ? fatal.join("; ") : undefined;
    return new PciDriverTransport(access, walk, selection, sizing.bars, placement, structures, problems, unusable);
  }

  #bus(bar: BarPlacement): RegisterSpace {
    if (bar.kind !== "io") return this.access.memory;
    if (!this.access.io) throw new Error(`BAR ${bar.index} is an I/O BAR and the adapter has no I/O space`);
    return this.access.io;
  }
  #window(name: string, s: PciStructure | undefined): RegisterSpace {
    if (!s) return new UnusableWindow(name, this.unusable ?? `The device has no usable ${name} structure`);
    return new StructureWindow(name, this.#bus(s.bar), s.address, s.length);
  }
  /** The notification structure; rejects with DeviceUnusable on a degraded transport without one. */
  #notify(): PciStructure {
    const n = this.structures.notify;
    if (!n) throw new DeviceUnusable(this.unusable ?? "The device has no usable notification structure");
    return n;
  }

  // ---- configuration header -------------------------------------------------------------------------------------

  /** PCI Vendor ID. */
  vendorId(): Promise<number> {
    return this.registers.read(PciConfig.VendorID, 2);
  }
  /** PCI Device ID. */
  pciDeviceId(): Promise<number> {
    return this.registers.read(PciConfig.DeviceID, 2);
  }
  /** PCI Revision ID. */
  revisionId(): Promise<number> {
    return this.registers.read(PciConfig.RevisionID, 1);
  }
  /** PCI Subsystem Vendor ID. */
  subsystemVendorId(): Promise<number> {
    return this.registers.read(PciConfig.SubsystemVendorID, 2);
  }
  /** PCI Subsystem ID. */
  subsystemId(): Promise<number> {
    return this.registers.read(PciConfig.SubsystemID, 2);
  }
  /** The Command register. */
  command(): Promise<number> {
    return this.registers.read(PciConfig.Command, 2);
  }
  /** Writes the Command register. */
  setCommand(value: number): Promise<void> {
    return this.registers.write(PciConfig.Command, 2, value & 0xffff);
  }
  /** The Status register (INTERRUPT bit: the INTx level when MSI-X is off). */
  pciStatus(): Promise<number> {
    return this.registers.read(PciConfig.Status, 2);
  }

  // ---- DriverTransport ------------------------------------------------------------------------------------------

  /**
   * Checks the PCI Vendor ID and maps the PCI Device ID to a virtio device
   * ID; `version` is the Revision ID and `vendorId` the PCI Vendor ID.
   */
  async identify(): Promise<DeviceIdentity> {
    const vendorId = await this.vendorId();
    const pciId = await this.pciDeviceId();
    const version = await this.revisionId();
    if (vendorId !== VIRTIO_PCI_VENDOR_ID) {
      return {
        deviceId: 0,
        vendorId,
        version,
        valid: false,
        reason: `PCI Vendor ID is ${hex(vendorId, 4)}, not 0x1af4`,
      };
    }
    const deviceId = virtioIdFromPci(pciId);
    if (deviceId === undefined) {
      return {
        deviceId: 0,
        vendorId,
        version,
        valid: false,
        reason: `PCI Device ID ${hex(pciId, 4)} names no virtio device`,
      };
    }
    if (deviceId === 0) {
      return {
        deviceId,
        vendorId,
        version,
        valid: false,
        reason: `PCI Device ID ${hex(pciId, 4)} is virtio device ID 0 (reserved)`,
      };
    }
    return { deviceId, vendorId, version, valid: true };
  }
  getStatus(): Promise<number> {
    return this.common.read(CommonCfg.device_status, 1);
  }
  setStatus(value: number): Promise<void> {
    if ((value & 0xff) === 0) this.#clearQueueCaches();
    return this.common.write(CommonCfg.device_status, 1, value & 0xff);
  }
  reset(): Promise<void> {
    return this.setStatus(0);
  }
  async readDeviceFeatures(): Promise<bigint> {
    let f = 0n;
    for (let word = 0; word < FEATURE_WORDS; word++) {
      await this.common.write(CommonCfg.device_feature_select, 4, word);
      f |= BigInt((await this.common.read(CommonCfg.device_feature, 4)) >>> 0) << BigInt(32 * word);
    }
    return f;
  }
  async writeDriverFeatures(features: bigint): Promise<void> {
    for (let word = 0; word < FEATURE_WORDS; word++) {
      await this.common.write(CommonCfg.driver_feature_select, 4, word);
      await this.common.write(CommonCfg.driver_feature, 4, Number((features >> BigInt(32 * word)) & 0xffff_ffffn));
    }
  }
  /** Selects queue `index`. */
  async selectQueue(index: number): Promise<void> {
    checkQueueIndex(index);
    await this.common.write(CommonCfg.queue_select, 2, index);
  }
  /**
   * `queue_size` of queue `index`: the maximum until the driver writes a
   * size, the written size after.
   */
  async queueMax(index: number): Promise<number> {
    await this.selectQueue(index);
    return this.common.read(CommonCfg.queue_size, 2);
  }
  async queueReady(index: number): Promise<boolean> {
    await this.selectQueue(index);
    return (await this.common.read(CommonCfg.queue_enable, 2)) !== 0;
  }
  async programQueue(index: number, a: QueueAddresses): Promise<void> {
    for (const [name, v] of [["desc", a.desc], ["driver", a.driver], ["device", a.device]] as const) {
      if (!Number.isSafeInteger(v) || v < 0) {
        throw new Error(`Queue ${index} ${name} address is not a valid address: ${v}`);
      }
    }
    await this.selectQueue(index);
    await this.common.write(CommonCfg.queue_size, 2, a.size & 0xffff);
    const halves: [number, number][] = [
      [CommonCfg.queue_desc, a.desc],
      [CommonCfg.queue_driver, a.driver],
      [CommonCfg.queue_device, a.device],
    ];
    for (const [off, v] of halves) {
      await this.common.write(off, 4, (v % TWO32) >>> 0);
      await this.common.write(off + 4, 4, Math.floor(v / TWO32) >>> 0);
    }
    // queue_select is already on this queue: remember where its notifications go.
    this.#notifyOff.set(index, await this.common.read(CommonCfg.queue_notify_off, 2));
  }
  async setupQueue(index: number, a: QueueAddresses): Promise<void> {
    await this.programQueue(index, a);
    await this.common.write(CommonCfg.queue_enable, 2, 1);
  }
  /**
   * Always throws: on PCI the driver must not write 0 to `queue_enable`, so
   * a single queue cannot be disabled. Use {@link startQueueReset} or a
   * device reset.
   */
  disableQueue(index: number): Promise<void> {
    return Promise.reject(
      new Error(
        `The PCI transport cannot disable queue ${index}: the driver must not write 0 to queue_enable; ` +
          `use a queue reset (VIRTIO_F_RING_RESET) or a device reset`,
      ),
    );
  }
  async startQueueReset(index: number): Promise<void> {
    await this.selectQueue(index);
    await this.common.write(CommonCfg.queue_reset, 2, 1);
  }
  async queueResetPending(index: number): Promise<boolean> {
    await this.selectQueue(index);
    return (await this.common.read(CommonCfg.queue_reset, 2)) !== 0;
  }
  /**
   * A 16-bit write of the queue index (or, with {@link notifConfigData},
   * of `queue_notif_config_data`) to the queue's notify address, or a
   * 32-bit write of `data` when given (VIRTIO_F_NOTIFICATION_DATA).
   */
  async notify(index: number, data?: number): Promise<void> {
    const width: Width = data === undefined ? 2 : 4;
    const addr = await this.notifyAddress(index, width);
    const bus = this.#bus(this.#notify().bar);
    if (data !== undefined) return bus.write(addr, 4, data >>> 0);
    const value = this.notifConfigData ? await this.queueNotifConfigData(index) : index;
    return bus.write(addr, 2, value & 0xffff);
  }
  async readConfig(offset: number, width: Width): Promise<number> {
    return await this.#deviceCfg(offset).read(offset, width);
  }
  async writeConfig(offset: number, width: Width, value: number): Promise<void> {
    await this.#deviceCfg(offset).write(offset, width, value);
  }
  #deviceCfg(offset: number): RegisterSpace {
    if (!this.deviceCfg) {
      throw new Error(`The device has no usable device-specific configuration structure: access at offset ${offset}`);
    }
    return this.deviceCfg;
  }
  configGeneration(): Promise<number> {
    return this.common.read(CommonCfg.config_generation, 1);
  }
  /** Reads ISR status, which also clears it and deasserts the interrupt. */
  async interruptStatus(): Promise<number> {
    return (await this.isr.read(0, 1)) & 0xff;
  }
  /** Nothing to do: reading ISR status already acknowledged. */
  ackInterrupt(_bits: number): Promise<void> {
    return Promise.resolve();
  }

  // ---- queues and notifications ---------------------------------------------------------------------------------

  /** `num_queues`. */
  numQueues(): Promise<number> {
    return this.common.read(CommonCfg.num_queues, 2);
  }
  /** `queue_notify_off` of queue `q` (selects it; cached until the next reset). */
  async queueNotifyOff(q: number): Promise<number> {
    const cached = this.#notifyOff.get(q);
    if (cached !== undefined) return cached;
    await this.selectQueue(q);
    const v = await this.common.read(CommonCfg.queue_notify_off, 2);
    this.#notifyOff.set(q, v);
    return v;
  }
  /** `queue_notif_config_data` of queue `q` (selects it; cached until the next reset). */
  async queueNotifConfigData(q: number): Promise<number> {
    const cached = this.#notifData.get(q);
    if (cached !== undefined) return cached;
    await this.selectQueue(q);
    const v = await this.common.read(CommonCfg.queue_notif_config_data, 2);
    this.#notifData.set(q, v);
    return v;
  }
  #clearQueueCaches(): void {
    this.#notifyOff.clear();
    this.#notifData.clear();
  }
  /** The notification capability's `notify_off_multiplier`. */
  get notifyOffMultiplier(): number {
    return this.#notify().cap.notifyOffMultiplier ?? 0;
  }
  /** Bus address (or I/O port) of the notification structure (BAR base + `cap.offset`). */
  get notifyBase(): number {
    return this.#notify().address;
  }
  /** The bus space notifications are written to (memory, or I/O for an I/O BAR). */
  get notifyBus(): RegisterSpace {
    return this.#bus(this.#notify().bar);
  }
  /**
   * Bus address of queue `q`'s notifications:
   * BAR base + `cap.offset` + `queue_notify_off` × `notify_off_multiplier`.
   * Throws when a `width`-byte write there would leave the notification structure.
   */
  async notifyAddress(q: number, width: Width = 2): Promise<number> {
    const n = this.#notify();
    const rel = notifyOffset(await this.queueNotifyOff(q), this.notifyOffMultiplier);
    if (rel + width > n.length) {
      throw new Error(
        `Queue ${q}'s notify address is outside the notification structure: queue_notify_off × notify_off_multiplier = ${
          hex(rel, 3)
        }, a ${width}-byte write needs length ≥ ${rel + width}, the structure has ${n.length}`,
      );
    }
    return n.address + rel;
  }

  // ---- MSI-X ----------------------------------------------------------------------------------------------------

  #msix() {
    const m = this.walk.msix;
    if (!m) throw new Error("The device has no MSI-X capability");
    return m;
  }
  #msixBar(bir: number, what: string, offset: number, bytes: number): { bus: RegisterSpace; address: number } {
    const bar = this.placement.placements.find((p) => p.index === bir);
    if (!bar) {
      throw new Error(
        `The MSI-X ${what} is in BAR ${bir}, which is not placed: ${
          this.placement.failed.get(bir) ?? "not implemented"
        }`,
      );
    }
    if (offset + bytes > bar.size) {
      throw new Error(
        `The MSI-X ${what} access at ${hex(offset, 3)} (+${bytes}) is outside BAR ${bir} (size ${hex(bar.size, 3)})`,
      );
    }
    return { bus: this.#bus(bar), address: bar.address + offset };
  }
  /** MSI-X message control. */
  async msixControl(): Promise<number> {
    return await this.registers.read(this.#msix().at + MsixCap.control, 2);
  }
  /** Sets or clears MSI-X Enable (and the function mask when `functionMask` is given); returns control as read back. */
  async msixEnable(on: boolean, functionMask?: boolean): Promise<number> {
    const at = this.#msix().at + MsixCap.control;
    let c = await this.registers.read(at, 2);
    c = on ? c | MsixCap.ENABLE : c & ~MsixCap.ENABLE;
    if (functionMask !== undefined) c = functionMask ? c | MsixCap.FUNCTION_MASK : c & ~MsixCap.FUNCTION_MASK;
    await this.registers.write(at, 2, c & 0xffff);
    return this.registers.read(at, 2);
  }
  /** Whether MSI-X Enable is set. */
  async msixEnabled(): Promise<boolean> {
    return ((await this.msixControl()) & MsixCap.ENABLE) !== 0;
  }
  #entry(i: number): { bus: RegisterSpace; address: number } {
    const m = this.#msix();
    if (!Number.isInteger(i) || i < 0 || i >= m.tableSize) {
      throw new Error(`MSI-X table entry ${i} does not exist: the table has ${m.tableSize} entries`);
    }
    return this.#msixBar(m.tableBir, "table", m.tableOffset + i * MsixEntry.SIZE, MsixEntry.SIZE);
  }
  /** Programs MSI-X table entry `i`. */
  async msixSetEntry(i: number, v: MsixEntryValue): Promise<void> {
    const { bus, address } = this.#entry(i);
    if (!Number.isSafeInteger(v.address) || v.address < 0) throw new Error(`Not a valid MSI-X address: ${v.address}`);
    await bus.write(address + MsixEntry.control, 4, MsixEntry.MASKED);
    await bus.write(address + MsixEntry.addrLo, 4, (v.address % TWO32) >>> 0);
    await bus.write(address + MsixEntry.addrHi, 4, Math.floor(v.address / TWO32) >>> 0);
    await bus.write(address + MsixEntry.data, 4, v.data >>> 0);
    await bus.write(address + MsixEntry.control, 4, v.masked ? MsixEntry.MASKED : 0);
  }
  /** Reads MSI-X table entry `i`. */
  async msixEntry(i: number): Promise<MsixEntryValue> {
    const { bus, address } = this.#entry(i);
    const lo = (await bus.read(address + MsixEntry.addrLo, 4)) >>> 0;
    const hi = (await bus.read(address + MsixEntry.addrHi, 4)) >>> 0;
    const data = (await bus.read(address + MsixEntry.data, 4)) >>> 0;
    const control = (await bus.read(address + MsixEntry.control, 4)) >>> 0;
    return { address: hi * TWO32 + lo, data, masked: (control & MsixEntry.MASKED) !== 0 };
  }
  /** Masks or unmasks MSI-X table entry `i`. */
  async msixMask(i: number, masked: boolean): Promise<void> {
    const { bus, address } = this.#entry(i);
    const c = (await bus.read(address + MsixEntry.control, 4)) >>> 0;
    await bus.write(
      address + MsixEntry.control,
      4,
      masked ? (c | MsixEntry.MASKED) >>> 0 : (c & ~MsixEntry.MASKED) >>> 0,
    );
  }
  /** The pending bit of MSI-X vector `i`. */
  async msixPending(i: number): Promise<boolean> {
    const m = this.#msix();
    if (!Number.isInteger(i) || i < 0 || i >= m.tableSize) {
      throw new Error(`MSI-X vector ${i} does not exist: the table has ${m.tableSize} entries`);
    }
    const { bus, address } = this.#msixBar(m.pbaBir, "pending bit array", m.pbaOffset + 4 * (i >> 5), 4);
    return (((await bus.read(address, 4)) >>> (i & 31)) & 1) !== 0;
  }
  /** Writes `config_msix_vector` and returns it as read back (NO_VECTOR: the device refused the mapping). */
  async setConfigVector(v: number): Promise<number> {
    await this.common.write(CommonCfg.config_msix_vector, 2, v & 0xffff);
    return this.common.read(CommonCfg.config_msix_vector, 2);
  }
  /** Selects queue `q`, writes `queue_msix_vector` and returns it as read back. */
  async setQueueVector(q: number, v: number): Promise<number> {
    await this.selectQueue(q);
    await this.common.write(CommonCfg.queue_msix_vector, 2, v & 0xffff);
    return this.common.read(CommonCfg.queue_msix_vector, 2);
  }

  // ---- PCI configuration access capability ----------------------------------------------------------------------

  #pciCfg(bar: number, offset: number, width: Width): number {
    const cap = this.selection.pciCfg;
    if (!cap) throw new Error("The device has no usable PCI configuration access capability");
    if (!Number.isInteger(bar) || bar < 0 || bar > 5) throw new Error(`Not a BAR index: ${bar}`);
    if (!Number.isInteger(offset) || offset < 0 || offset >= TWO32 || offset % width !== 0) {
      throw new Error(
        `The PCI configuration access offset must be a multiple of the access width: ${offset} (width ${width})`,
      );
    }
    return cap.at;
  }
  async #pciCfgSetup(at: number, bar: number, offset: number, width: Width): Promise<void> {
    await this.registers.write(at + CapField.bar, 1, bar);
    await this.registers.write(at + CapField.length, 4, width);
    await this.registers.write(at + CapField.offset, 4, offset >>> 0);
  }
  /** Reads `width` bytes at `offset` of BAR `bar` through the PCI configuration access capability. */
  async pciCfgRead(bar: number, offset: number, width: Width): Promise<number> {
    const at = this.#pciCfg(bar, offset, width);
    await this.#pciCfgSetup(at, bar, offset, width);
    return this.registers.read(at + CapField.pci_cfg_data, width);
  }
  /** Writes `width` bytes at `offset` of BAR `bar` through the PCI configuration access capability. */
  async pciCfgWrite(bar: number, offset: number, width: Width, value: number): Promise<void> {
    const at = this.#pciCfg(bar, offset, width);
    await this.#pciCfgSetup(at, bar, offset, width);
    await this.registers.write(at + CapField.pci_cfg_data, width, value);
  }
}

/**
 * Offset of a queue's notify address from the notification structure:
 * `queue_notify_off` × `notify_off_multiplier`.
 *
 * @example
 * ```ts
 * import { notifyOffset } from "./pci_driver.ts";
 * console.log(notifyOffset(3, 4)); // 12
 * ```
 */
export function notifyOffset(queueNotifyOff: number, multiplier: number): number {
  return (queueNotifyOff & 0xffff) * (multiplier >>> 0);
}

function checkQueueIndex(index: number): void {
  if (!Number.isInteger(index) || index < 0 || index > 0xffff) {
    throw new Error(`Not a queue index: ${index} (queue_select is 16 bits)`);
  }
}
