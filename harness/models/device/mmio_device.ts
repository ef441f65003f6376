/**
 * The device side of virtio-mmio version 2: a register file mapped onto the
 * reference device core (spec 4.2.2).
 *
 * @module
 */
import type { RegisterSpace, Width } from "../../registers.ts";
import { Mmio, MMIO_MAGIC } from "../../transport/mmio_layout.ts";
import { Status } from "../../status.ts";
import type { DeviceCore } from "./core.ts";

/** Identification overrides a scenario may present (e.g. a bad magic value). */
export interface MmioIdentityOverrides {
  magic?: number;
  version?: number;
  deviceId?: number;
  vendorId?: number;
  /** Extra bits ORed into every InterruptStatus read (undefined bits, for driver scenarios). */
  interruptJunk?: number;
}

/** Vendor ID this suite's reference device reports ("VCTS"). */
export const REFERENCE_VENDOR_ID = 0x53544356;

/**
 * The virtio-mmio v2 register file of a reference device.
 *
 * @example
 * ```ts
 * import { ArrayMemory } from "../../memory.ts";
 * import { DeviceCore } from "./core.ts";
 * import { MmioDevice } from "./mmio_device.ts";
 * import { RngFunction } from "./rng.ts";
 * const core = new DeviceCore(new RngFunction(), { memory: new ArrayMemory(0, 4096), transport: "mmio" });
 * const regs = new MmioDevice(core);
 * console.log((await regs.read(0, 4)).toString(16)); // "74726976"
 * ```
 */
export class MmioDevice implements RegisterSpace {
  queueSel = 0;
  deviceFeaturesSel = 0;
  driverFeaturesSel = 0;
  shmSel = 0;
  constructor(readonly core: DeviceCore, readonly overrides: MmioIdentityOverrides = {}) {}

  get #queue() {
    return this.core.queues[this.queueSel];
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
    if (offset >= Mmio.Config) return core.readConfig(offset - Mmio.Config, width);
    if (width !== 4 || offset % 4 !== 0) return 0;
    switch (offset) {
      case Mmio.MagicValue:
        return this.overrides.magic ?? MMIO_MAGIC;
      case Mmio.Version:
        return this.overrides.version ?? 2;
      case Mmio.DeviceID:
        return this.overrides.deviceId ?? core.fn.deviceId;
      case Mmio.VendorID:
        return this.overrides.vendorId ?? REFERENCE_VENDOR_ID;
      case Mmio.DeviceFeatures:
        return this.deviceFeatureWord(this.deviceFeaturesSel);
      case Mmio.QueueSizeMax:
        return this.#queue ? core.fn.queueSizeMax(this.queueSel) : 0;
      case Mmio.QueueReady:
        return this.#queue?.ready ? 1 : 0;
      case Mmio.InterruptStatus:
        return core.interruptStatus | (this.overrides.interruptJunk ?? 0);
      case Mmio.Status:
        return core.status;
      case Mmio.SHMLenLow:
      case Mmio.SHMLenHigh:
      case Mmio.SHMBaseLow:
      case Mmio.SHMBaseHigh:
        return 0xffff_ffff; // no shared memory regions
      case Mmio.QueueReset: {
        const q = this.#queue;
        if (!q) return 0;
        if (q.resetPending > 0) {
          q.resetPending--;
          return 1;
        }
        return 0;
      }
      case Mmio.ConfigGeneration:
        return core.configGeneration;
      default:
        return 0;
    }
  }

  protected deviceFeatureWord(sel: number): number {
    return Number((this.core.offeredFeatures() >> BigInt(32 * sel)) & 0xffff_ffffn);
  }

  protected writeRegister(offset: number, width: Width, value: number): void {
    const core = this.core;
    if (offset >= Mmio.Config) return core.writeConfig(offset - Mmio.Config, width, value);
    if (width !== 4 || offset % 4 !== 0) return;
    const q = this.#queue;
    switch (offset) {
      case Mmio.DeviceFeaturesSel:
        this.deviceFeaturesSel = value;
        return;
      case Mmio.DriverFeatures:
        // Feature words are only writable between DRIVER and FEATURES_OK.
        if (core.status & Status.FEATURES_OK) return;
        core.driverFeatureWords[this.driverFeaturesSel] = value;
        return;
      case Mmio.DriverFeaturesSel:
        if (value < 64) this.driverFeaturesSel = value;
        return;
      case Mmio.QueueSel:
        this.queueSel = value;
        return;
      case Mmio.QueueSize:
        if (q && !q.ready) q.size = value;
        return;
      case Mmio.QueueReady:
        if (!q) return;
        if (value === 1) core.enableQueue(this.queueSel);
        else if (value === 0) core.disableQueue(this.queueSel);
        return;
      case Mmio.QueueNotify:
        core.notify(value & 0xffff, value >>> 0);
        return;
      case Mmio.InterruptACK:
        core.ack(value);
        return;
      case Mmio.Status:
        core.writeStatus(value);
        if (value === 0) this.afterReset();
        return;
      case Mmio.QueueDescLow:
      case Mmio.QueueDescHigh:
      case Mmio.QueueDriverLow:
      case Mmio.QueueDriverHigh:
      case Mmio.QueueDeviceLow:
      case Mmio.QueueDeviceHigh:
        if (q && !q.ready) setHalf(q, offset, value);
        return;
      case Mmio.SHMSel:
        this.shmSel = value;
        return;
      case Mmio.QueueReset:
        if (value === 1 && q) core.resetQueue(this.queueSel);
        return;
    }
  }

  protected afterReset(): void {
    this.queueSel = 0;
    this.deviceFeaturesSel = 0;
    this.driverFeaturesSel = 0;
  }
}

function setHalf(
  q: { desc: number; driver: number; device: number },
  offset: number,
  value: number,
): void {
  const field = offset < Mmio.QueueDriverLow ? "desc" : offset < Mmio.QueueDeviceLow ? "driver" : "device";
  const high = (offset & 4) !== 0;
  const cur = q[field];
  const lo = cur % 2 ** 32;
  const hi = Math.floor(cur / 2 ** 32);
  q[field] = high ? lo + value * 2 ** 32 : value + hi * 2 ** 32;
}
