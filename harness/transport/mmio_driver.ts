/**
 * The driver side of virtio-mmio version 2, register-exact (spec 4.2).
 *
 * @module
 */
import type { RegisterSpace, Width } from "../registers.ts";
import { Mmio, MMIO_MAGIC } from "./mmio_layout.ts";
import { type DeviceIdentity, type DriverTransport, FEATURE_WORDS, type QueueAddresses } from "./transport.ts";

/**
 * Driver-side virtio-mmio version 2 transport over a register file.
 *
 * @example
 * ```ts ignore
 * const t = new MmioDriverTransport(registers);
 * const id = await t.identify();
 * await t.reset();
 * ```
 */
export class MmioDriverTransport implements DriverTransport {
  readonly kind = "mmio" as const;
  readonly modern = true;
  constructor(readonly registers: RegisterSpace) {}

  #r(offset: number): Promise<number> {
    return this.registers.read(offset, 4);
  }
  #w(offset: number, value: number): Promise<void> {
    return this.registers.write(offset, 4, value >>> 0);
  }

  async identify(): Promise<DeviceIdentity> {
    const magic = await this.#r(Mmio.MagicValue);
    const version = await this.#r(Mmio.Version);
    if (magic !== MMIO_MAGIC) {
      return { deviceId: 0, vendorId: 0, version, valid: false, reason: `MagicValue is 0x${magic.toString(16)}` };
    }
    if (version !== 2) {
      return { deviceId: 0, vendorId: 0, version, valid: false, reason: `Version is ${version}, not 2` };
    }
    const deviceId = await this.#r(Mmio.DeviceID);
    if (deviceId === 0) {
      return { deviceId, vendorId: 0, version, valid: false, reason: "DeviceID is 0 (placeholder)" };
    }
    const vendorId = await this.#r(Mmio.VendorID);
    return { deviceId, vendorId, version, valid: true };
  }
  getStatus(): Promise<number> {
    return this.#r(Mmio.Status);
  }
  setStatus(value: number): Promise<void> {
    return this.#w(Mmio.Status, value);
  }
  reset(): Promise<void> {
    return this.#w(Mmio.Status, 0);
  }
  async readDeviceFeatures(): Promise<bigint> {
    let f = 0n;
    for (let word = 0; word < FEATURE_WORDS; word++) {
      await this.#w(Mmio.DeviceFeaturesSel, word);
      f |= BigInt(await this.#r(Mmio.DeviceFeatures)) << BigInt(32 * word);
    }
    return f;
  }
  /**
   * Writes the feature words from the highest down to word 0: a device that
   * folds unknown select values onto a lower word (QEMU's virtio-mmio maps
   * selects 2 and 3 onto word 1) then still ends with the words in force.
   */
  async writeDriverFeatures(features: bigint): Promise<void> {
    for (let word = FEATURE_WORDS - 1; word >= 0; word--) {
      await this.#w(Mmio.DriverFeaturesSel, word);
      await this.#w(Mmio.DriverFeatures, Number((features >> BigInt(32 * word)) & 0xffff_ffffn));
    }
  }
  async queueMax(index: number): Promise<number> {
    await this.#w(Mmio.QueueSel, index);
    return this.#r(Mmio.QueueSizeMax);
  }
  async queueReady(index: number): Promise<boolean> {
    await this.#w(Mmio.QueueSel, index);
    return (await this.#r(Mmio.QueueReady)) !== 0;
  }
  async setupQueue(index: number, a: QueueAddresses): Promise<void> {
    await this.programQueue(index, a);
    await this.#w(Mmio.QueueReady, 1);
  }
  async programQueue(index: number, a: QueueAddresses): Promise<void> {
    await this.#w(Mmio.QueueSel, index);
    await this.#w(Mmio.QueueSize, a.size);
    await this.#w(Mmio.QueueDescLow, a.desc % 2 ** 32);
    await this.#w(Mmio.QueueDescHigh, Math.floor(a.desc / 2 ** 32));
    await this.#w(Mmio.QueueDriverLow, a.driver % 2 ** 32);
    await this.#w(Mmio.QueueDriverHigh, Math.floor(a.driver / 2 ** 32));
    await this.#w(Mmio.QueueDeviceLow, a.device % 2 ** 32);
    await this.#w(Mmio.QueueDeviceHigh, Math.floor(a.device / 2 ** 32));
  }
  async disableQueue(index: number): Promise<void> {
    await this.#w(Mmio.QueueSel, index);
    await this.#w(Mmio.QueueReady, 0);
    await this.#r(Mmio.QueueReady);
  }
  async startQueueReset(index: number): Promise<void> {
    await this.#w(Mmio.QueueSel, index);
    await this.#w(Mmio.QueueReset, 1);
  }
  async queueResetPending(index: number): Promise<boolean> {
    await this.#w(Mmio.QueueSel, index);
    return (await this.#r(Mmio.QueueReset)) !== 0;
  }
  notify(index: number, data?: number): Promise<void> {
    return this.#w(Mmio.QueueNotify, data ?? index);
  }
  readConfig(offset: number, width: Width): Promise<number> {
    return this.registers.read(Mmio.Config + offset, width);
  }
  writeConfig(offset: number, width: Width, value: number): Promise<void> {
    return this.registers.write(Mmio.Config + offset, width, value);
  }
  configGeneration(): Promise<number> {
    return this.#r(Mmio.ConfigGeneration);
  }
  interruptStatus(): Promise<number> {
    return this.#r(Mmio.InterruptStatus);
  }
  ackInterrupt(bits: number): Promise<void> {
    return this.#w(Mmio.InterruptACK, bits);
  }
}
