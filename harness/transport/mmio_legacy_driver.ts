/**
 * The driver side of the legacy virtio-mmio interface (Version 1,
 * spec 4.2.4), register-exact.
 *
 * What differs from version 2: feature words go through HostFeatures and
 * GuestFeatures (there is no FEATURES_OK step for the caller to take), the
 * driver tells the device its page size once per reset (GuestPageSize), and a
 * queue is handed over as one page frame number (QueuePFN) of a contiguous
 * block in the legacy layout, so `setupQueue` only accepts addresses that
 * follow {@link legacyQueueLayout}. There is no per-queue reset, no
 * configuration generation counter and no notification data.
 *
 * @module
 */
import type { RegisterSpace, Width } from "../registers.ts";
import { MMIO_MAGIC } from "./mmio_layout.ts";
import {
  isPowerOfTwo,
  LEGACY_PAGE_SIZE,
  LEGACY_QUEUE_ALIGN,
  legacyPlacementProblem,
  legacyQueueLayout,
  MMIO_LEGACY_VERSION,
  MmioLegacy,
} from "./mmio_legacy.ts";
import {
  type ContiguousQueueLayout,
  type DeviceIdentity,
  type DriverTransport,
  FEATURE_WORDS,
  type QueueAddresses,
} from "./transport.ts";

/** Options of {@link MmioLegacyDriverTransport}. */
export interface MmioLegacyDriverOptions {
  /** The value written to GuestPageSize (a power of two; default {@link LEGACY_PAGE_SIZE}). */
  pageSize?: number;
  /** The value written to QueueAlign for every queue (a power of two; default {@link LEGACY_QUEUE_ALIGN}). */
  queueAlign?: number;
}

/**
 * Driver-side legacy virtio-mmio (Version 1) transport over a register file.
 *
 * `modern` is false: callers skip FEATURES_OK and VERSION_1, and place each
 * queue where {@link contiguousQueue} says.
 *
 * @example
 * ```ts ignore
 * const t = new MmioLegacyDriverTransport(registers);
 * const id = await t.identify(); // valid only when Version reads 1
 * await t.reset();
 * const layout = t.contiguousQueue(64);
 * await t.setupQueue(0, layout.at(0x10000)); // GuestPageSize, QueueNum, QueueAlign, QueuePFN = 0x10
 * ```
 */
export class MmioLegacyDriverTransport implements DriverTransport {
  readonly kind = "mmio-legacy" as const;
  readonly modern = false;
  /** Bytes per guest page, as written to GuestPageSize. */
  readonly pageSize: number;
  /** Used-ring alignment, as written to QueueAlign. */
  readonly queueAlign: number;
  /** Whether GuestPageSize was written since the last reset this transport performed. */
  #pageSizeWritten = false;

  constructor(readonly registers: RegisterSpace, opts: MmioLegacyDriverOptions = {}) {
    this.pageSize = opts.pageSize ?? LEGACY_PAGE_SIZE;
    this.queueAlign = opts.queueAlign ?? LEGACY_QUEUE_ALIGN;
    if (!isPowerOfTwo(this.pageSize)) {
      throw new RangeError(`The guest page size must be a power of two, not ${this.pageSize}.`);
    }
    if (!isPowerOfTwo(this.queueAlign)) {
      throw new RangeError(`The used-ring alignment must be a power of two, not ${this.queueAlign}.`);
    }
  }

  #r(offset: number): Promise<number> {
    return this.registers.read(offset, 4);
  }
  #w(offset: number, value: number): Promise<void> {
    return this.registers.write(offset, 4, value >>> 0);
  }

  async identify(): Promise<DeviceIdentity> {
    const magic = await this.#r(MmioLegacy.MagicValue);
    const version = await this.#r(MmioLegacy.Version);
    if (magic !== MMIO_MAGIC) {
      return { deviceId: 0, vendorId: 0, version, valid: false, reason: `MagicValue is 0x${magic.toString(16)}` };
    }
    if (version !== MMIO_LEGACY_VERSION) {
      return {
        deviceId: 0,
        vendorId: 0,
        version,
        valid: false,
        reason: `Version is ${version}, not ${MMIO_LEGACY_VERSION} (legacy interface)`,
      };
    }
    const deviceId = await this.#r(MmioLegacy.DeviceID);
    if (deviceId === 0) {
      return { deviceId, vendorId: 0, version, valid: false, reason: "DeviceID is 0 (placeholder)" };
    }
    const vendorId = await this.#r(MmioLegacy.VendorID);
    return { deviceId, vendorId, version, valid: true };
  }
  getStatus(): Promise<number> {
    return this.#r(MmioLegacy.Status);
  }
  setStatus(value: number): Promise<void> {
    if (value === 0) this.#pageSizeWritten = false;
    return this.#w(MmioLegacy.Status, value);
  }
  reset(): Promise<void> {
    return this.setStatus(0);
  }
  async readDeviceFeatures(): Promise<bigint> {
    let f = 0n;
    for (let word = 0; word < FEATURE_WORDS; word++) {
      await this.#w(MmioLegacy.HostFeaturesSel, word);
      f |= BigInt(await this.#r(MmioLegacy.HostFeatures)) << BigInt(32 * word);
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
      await this.#w(MmioLegacy.GuestFeaturesSel, word);
      await this.#w(MmioLegacy.GuestFeatures, Number((features >> BigInt(32 * word)) & 0xffff_ffffn));
    }
  }
  async queueMax(index: number): Promise<number> {
    await this.#w(MmioLegacy.QueueSel, index);
    return this.#r(MmioLegacy.QueueNumMax);
  }
  /** A queue is in use while its QueuePFN reads non-zero. */
  async queueReady(index: number): Promise<boolean> {
    await this.#w(MmioLegacy.QueueSel, index);
    return (await this.#r(MmioLegacy.QueuePFN)) !== 0;
  }
  /** Writes GuestPageSize (first queue after a reset), QueueNum and QueueAlign; then `setupQueue` writes QueuePFN. */
  async programQueue(index: number, a: QueueAddresses): Promise<void> {
    const problem = legacyPlacementProblem(a, this.queueAlign, this.pageSize);
    if (problem !== undefined) {
      throw new Error(`Queue ${index} cannot be handed to a legacy virtio-mmio device: ${problem}`);
    }
    if (!this.#pageSizeWritten) {
      await this.#w(MmioLegacy.GuestPageSize, this.pageSize);
      this.#pageSizeWritten = true;
    }
    await this.#w(MmioLegacy.QueueSel, index);
    await this.#w(MmioLegacy.QueueNum, a.size);
    await this.#w(MmioLegacy.QueueAlign, this.queueAlign);
  }
  /** Programs the queue, then writes the page frame number of its descriptor table to QueuePFN. */
  async setupQueue(index: number, a: QueueAddresses): Promise<void> {
    await this.programQueue(index, a);
    await this.#w(MmioLegacy.QueuePFN, a.desc / this.pageSize);
  }
  /** Writes 0 to QueuePFN: the driver stops using the queue. */
  async disableQueue(index: number): Promise<void> {
    await this.#w(MmioLegacy.QueueSel, index);
    await this.#w(MmioLegacy.QueuePFN, 0);
  }
  /** Not available: the legacy interface has no per-queue reset. */
  startQueueReset(index: number): Promise<void> {
    return Promise.reject(
      new Error(`Queue ${index} cannot be reset on its own: the legacy virtio-mmio interface has no QueueReset.`),
    );
  }
  /** Not available: the legacy interface has no per-queue reset. */
  queueResetPending(index: number): Promise<boolean> {
    return Promise.reject(
      new Error(`Queue ${index} has no reset state: the legacy virtio-mmio interface has no QueueReset.`),
    );
  }
  /** Writes the queue index to QueueNotify; `data` is ignored (no notification data on the legacy interface). */
  notify(index: number, _data?: number): Promise<void> {
    return this.#w(MmioLegacy.QueueNotify, index);
  }
  readConfig(offset: number, width: Width): Promise<number> {
    return this.registers.read(MmioLegacy.Config + offset, width);
  }
  writeConfig(offset: number, width: Width, value: number): Promise<void> {
    return this.registers.write(MmioLegacy.Config + offset, width, value);
  }
  /**
   * Always 0 without touching the device: the legacy interface has no
   * configuration generation counter, so two equal values prove nothing
   * here. Callers must not rely on it for atomic configuration reads (check
   * `modern` first).
   */
  configGeneration(): Promise<number> {
    return Promise.resolve(0);
  }
  interruptStatus(): Promise<number> {
    return this.#r(MmioLegacy.InterruptStatus);
  }
  ackInterrupt(bits: number): Promise<void> {
    return this.#w(MmioLegacy.InterruptACK, bits);
  }
  /** Where a queue of `size` entries must go: the legacy layout with this transport's QueueAlign and page size. */
  contiguousQueue(size: number): ContiguousQueueLayout {
    return legacyQueueLayout(size, this.queueAlign, this.pageSize);
  }
}
