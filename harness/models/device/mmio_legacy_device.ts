/**
 * The device side of the legacy virtio-mmio interface (Version 1,
 * spec 4.2.4): a register file mapped onto the reference device core, whose
 * transport must be `mmio-legacy` (legacy feature offer, no FEATURES_OK
 * step, split rings).
 *
 * A queue is in use while its QueuePFN is non-zero: writing a page frame
 * number places the queue at `PFN × GuestPageSize` in the legacy layout for
 * the queue's QueueNum and QueueAlign, and enables it; writing 0 stops it.
 * Version 2 registers (QueueReady, the 64-bit queue addresses, shared memory,
 * QueueReset, ConfigGeneration) do not exist here: they read 0 and ignore
 * writes.
 *
 * Protected methods are seams for mutants, one decision each.
 *
 * @module
 */
import type { RegisterSpace, Width } from "../../registers.ts";
import { MMIO_MAGIC } from "../../transport/mmio_layout.ts";
import {
  LEGACY_PAGE_SIZE,
  LEGACY_QUEUE_ALIGN,
  legacyQueueAddresses,
  MMIO_LEGACY_VERSION,
  MmioLegacy,
} from "../../transport/mmio_legacy.ts";
import type { QueueAddresses } from "../../transport/transport.ts";
import { Status } from "../../status.ts";
import type { DeviceCore } from "./core.ts";
import { type MmioIdentityOverrides, REFERENCE_VENDOR_ID } from "./mmio_device.ts";

/** Legacy per-queue registers the core's queue state has no field for. */
interface LegacyQueueRegs {
  /** QueuePFN as last accepted (0: not in use). */
  pfn: number;
  /** QueueAlign as written; undefined until the driver writes it. */
  align: number | undefined;
}

/**
 * The legacy virtio-mmio (Version 1) register file of a reference device.
 *
 * @example
 * ```ts
 * import { ArrayMemory } from "../../memory.ts";
 * import { DeviceCore } from "./core.ts";
 * import { MmioLegacyDevice } from "./mmio_legacy_device.ts";
 * import { RngFunction } from "./rng.ts";
 * const core = new DeviceCore(new RngFunction(), { memory: new ArrayMemory(0, 0x10000), transport: "mmio-legacy" });
 * const regs = new MmioLegacyDevice(core);
 * console.log(await regs.read(0x004, 4)); // 1
 * ```
 */
export class MmioLegacyDevice implements RegisterSpace {
  queueSel = 0;
  hostFeaturesSel = 0;
  guestFeaturesSel = 0;
  /** GuestPageSize as written since the last reset; undefined until the driver writes it. */
  guestPageSize: number | undefined;
  #regs: LegacyQueueRegs[] = [];
  #epoch = -1;

  constructor(readonly core: DeviceCore, readonly overrides: MmioIdentityOverrides = {}) {
    if (core.transport !== "mmio-legacy") {
      throw new Error(
        `A legacy virtio-mmio register file needs a device core of transport "mmio-legacy", not "${core.transport}".`,
      );
    }
  }

  /** The legacy per-queue registers, forgotten whenever the core was reset (by any path). */
  #queueRegs(q: number): LegacyQueueRegs | undefined {
    if (this.#epoch !== this.core.epoch) {
      this.#epoch = this.core.epoch;
      this.#regs = this.core.queues.map(() => ({ pfn: 0, align: undefined }));
    }
    return this.#regs[q];
  }

  /** QueuePFN of queue `q` as the device holds it (0: not in use). */
  queuePfn(q: number): number {
    return this.#queueRegs(q)?.pfn ?? 0;
  }

  read(offset: number, width: Width): Promise<number> {
    return Promise.resolve(this.readRegister(offset, width) >>> 0);
  }
  write(offset: number, width: Width, value: number): Promise<void> {
    this.writeRegister(offset, width, value >>> 0);
    return Promise.resolve();
  }

  protected readRegister(offset: number, width: Width): number {
    const core = this.core;
    if (offset >= MmioLegacy.Config) return core.readConfig(offset - MmioLegacy.Config, width);
    if (width !== 4 || offset % 4 !== 0) return 0;
    const q = core.queues[this.queueSel];
    switch (offset) {
      case MmioLegacy.MagicValue:
        return this.overrides.magic ?? MMIO_MAGIC;
      case MmioLegacy.Version:
        return this.overrides.version ?? MMIO_LEGACY_VERSION;
      case MmioLegacy.DeviceID:
        return this.overrides.deviceId ?? core.fn.deviceId;
      case MmioLegacy.VendorID:
        return this.overrides.vendorId ?? REFERENCE_VENDOR_ID;
      case MmioLegacy.HostFeatures:
        return this.hostFeatureWord(this.hostFeaturesSel);
      case MmioLegacy.QueueNumMax:
        return q ? core.fn.queueSizeMax(this.queueSel) : 0;
      case MmioLegacy.QueuePFN:
        return this.queuePfn(this.queueSel);
      case MmioLegacy.InterruptStatus:
        return core.interruptStatus | (this.overrides.interruptJunk ?? 0);
      case MmioLegacy.Status:
        return core.status;
      default:
        // Write-only registers, unassigned offsets and every version 2 only register.
        return 0;
    }
  }

  /** The HostFeatures word `sel` (bits `32 × sel` up). */
  protected hostFeatureWord(sel: number): number {
    return Number((this.core.offeredFeatures() >> BigInt(32 * sel)) & 0xffff_ffffn);
  }

  /** Whether a GuestFeatures write is taken: until DRIVER_OK (there is no FEATURES_OK step to close it). */
  protected guestFeaturesWritable(): boolean {
    return (this.core.status & Status.DRIVER_OK) === 0;
  }

  /** The guest page size in force: as written, or {@link LEGACY_PAGE_SIZE} before the driver writes one. */
  protected pageSize(): number {
    return this.guestPageSize ?? LEGACY_PAGE_SIZE;
  }

  /** The guest-physical address of page frame `pfn`. */
  protected queueBase(pfn: number): number {
    return pfn * this.pageSize();
  }

  /** The used-ring alignment in force for queue `q`: as written, or {@link LEGACY_QUEUE_ALIGN}. */
  protected queueAlign(q: number): number {
    return this.#queueRegs(q)?.align ?? LEGACY_QUEUE_ALIGN;
  }

  /** Where the areas of a queue of `size` entries lie in the block at `base` (the legacy layout). */
  protected queueAddresses(size: number, base: number, align: number): QueueAddresses {
    return legacyQueueAddresses(size, base, align);
  }

  /** A non-zero QueuePFN: place queue `q` there and start using it. */
  protected startQueue(q: number, pfn: number): void {
    const state = this.core.queues[q];
    const regs = this.#queueRegs(q);
    if (!state || !regs) return;
    const a = this.queueAddresses(state.size, this.queueBase(pfn), this.queueAlign(q));
    state.desc = a.desc;
    state.driver = a.driver;
    state.device = a.device;
    regs.pfn = pfn;
    this.core.enableQueue(q);
  }

  /** QueuePFN 0: the driver stopped using queue `q`. */
  protected stopQueue(q: number): void {
    const regs = this.#queueRegs(q);
    if (!regs) return;
    regs.pfn = 0;
    this.core.disableQueue(q);
  }

  protected writeRegister(offset: number, width: Width, value: number): void {
    const core = this.core;
    if (offset >= MmioLegacy.Config) return core.writeConfig(offset - MmioLegacy.Config, width, value);
    if (width !== 4 || offset % 4 !== 0) return;
    const q = core.queues[this.queueSel];
    switch (offset) {
      case MmioLegacy.HostFeaturesSel:
        this.hostFeaturesSel = value;
        return;
      case MmioLegacy.GuestFeatures:
        if (this.guestFeaturesWritable()) core.driverFeatureWords[this.guestFeaturesSel] = value;
        return;
      case MmioLegacy.GuestFeaturesSel:
        if (value < 64) this.guestFeaturesSel = value;
        return;
      case MmioLegacy.GuestPageSize:
        this.guestPageSize = value;
        return;
      case MmioLegacy.QueueSel:
        this.queueSel = value;
        return;
      case MmioLegacy.QueueNum:
        if (q && this.queuePfn(this.queueSel) === 0) q.size = value;
        return;
      case MmioLegacy.QueueAlign: {
        const regs = this.#queueRegs(this.queueSel);
        if (regs) regs.align = value;
        return;
      }
      case MmioLegacy.QueuePFN:
        if (!q) return;
        if (value === 0) this.stopQueue(this.queueSel);
        else this.startQueue(this.queueSel, value);
        return;
      case MmioLegacy.QueueNotify:
        core.notify(value & 0xffff, value >>> 0);
        return;
      case MmioLegacy.InterruptACK:
        core.ack(value);
        return;
      case MmioLegacy.Status:
        core.writeStatus(value);
        if (value === 0) this.afterReset();
        return;
      default:
        // Read-only registers, unassigned offsets and every version 2 only register: ignored.
        return;
    }
  }

  /** After a reset: selectors, page size and every queue's QueuePFN and QueueAlign back to their initial values. */
  protected afterReset(): void {
    this.queueSel = 0;
    this.hostFeaturesSel = 0;
    this.guestFeaturesSel = 0;
    this.guestPageSize = undefined;
    this.#epoch = -1;
  }
}
