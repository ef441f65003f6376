/**
 * The transport-neutral driver-side view of a virtio device: what the
 * harness (playing the driver) and the reference driver use, whatever the
 * transport underneath: virtio-mmio version 2 (`mmio_driver.ts`), legacy
 * virtio-mmio version 1 (`mmio_legacy_driver.ts`), virtio over PCI (`pci_driver.ts`).
 *
 * @module
 */
import type { TransportKind } from "../features.ts";
import type { RegisterSpace, Width } from "../registers.ts";

/** Guest-physical addresses of a virtqueue's three areas. */
export interface QueueAddresses {
  size: number;
  desc: number;
  driver: number;
  device: number;
}

/** Identification read at probe time. */
export interface DeviceIdentity {
  deviceId: number;
  vendorId: number;
  /** Transport-specific version (MMIO Version register; PCI Revision ID). */
  version: number;
  /** False when the transport says this is not a usable virtio device (bad magic, version). */
  valid: boolean;
  reason?: string;
}

/**
 * Placement rules for a queue whose three areas must form one block (the
 * legacy layout of spec 2.7.2): `bytes` from a base aligned to `align`, with
 * the areas at the addresses `at(base)` gives.
 */
export interface ContiguousQueueLayout {
  bytes: number;
  align: number;
  at(base: number): QueueAddresses;
}

/**
 * The device's own fault keeps the harness from driving it at all (a PCI
 * function without a usable common configuration, notification or ISR
 * structure, say): raised by every operation of a transport opened
 * degraded. The clauses about the fault itself still run on what could be
 * read; the others end in `error` with this cause.
 */
export class DeviceUnusable extends Error {
  override name = "DeviceUnusable";
}

/** Driver-side operations on one virtio device. */
export interface DriverTransport {
  readonly kind: TransportKind;
  /**
   * Set on a transport opened degraded: why the device cannot be driven.
   * Every operation that needs what is missing rejects with
   * {@link DeviceUnusable}; what could be read (identification, a PCI
   * capability walk) still can.
   */
  readonly unusable?: string | undefined;
  /**
   * False on the legacy interface: no FEATURES_OK step, no VERSION_1, split
   * rings in the legacy layout (see {@link contiguousQueue}).
   */
  readonly modern: boolean;
  /** On the legacy interface: where a queue of `size` must go. Undefined: areas anywhere. */
  contiguousQueue?(size: number): ContiguousQueueLayout;
  /** The raw register file, for transport-specific clauses. */
  readonly registers: RegisterSpace;
  identify(): Promise<DeviceIdentity>;
  getStatus(): Promise<number>;
  setStatus(value: number): Promise<void>;
  /** Writes the reset value; does not wait (see {@link resetAndWait}). */
  reset(): Promise<void>;
  readDeviceFeatures(): Promise<bigint>;
  writeDriverFeatures(features: bigint): Promise<void>;
  queueMax(index: number): Promise<number>;
  queueReady(index: number): Promise<boolean>;
  /** Writes a queue's size and addresses without enabling it. */
  programQueue(index: number, addrs: QueueAddresses): Promise<void>;
  /** Programs a queue and enables it. */
  setupQueue(index: number, addrs: QueueAddresses): Promise<void>;
  disableQueue(index: number): Promise<void>;
  /** Per-queue reset (VIRTIO_F_RING_RESET): starts it; read `queueResetPending` until false. */
  startQueueReset(index: number): Promise<void>;
  queueResetPending(index: number): Promise<boolean>;
  /**
   * An available-buffer notification for queue `index`; with
   * VIRTIO_F_NOTIFICATION_DATA, `data` is the full notification value
   * (see `DriverQueue.notificationData`).
   */
  notify(index: number, data?: number): Promise<void>;
  readConfig(offset: number, width: Width): Promise<number>;
  writeConfig(offset: number, width: Width, value: number): Promise<void>;
  configGeneration(): Promise<number>;
  /** Reads what caused the interrupt (MMIO InterruptStatus / PCI ISR). */
  interruptStatus(): Promise<number>;
  /** Acknowledges handled interrupt causes (a no-op where reading acknowledges). */
  ackInterrupt(bits: number): Promise<void>;
}

/** Number of 32-bit feature words the harness reads and writes (bits 0–127). */
export const FEATURE_WORDS = 4;
