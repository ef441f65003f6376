/**
 * The format-neutral view of a virtqueue (spec 2.6–2.8): what a device and a
 * driver do with a queue whether its memory is laid out split (2.7) or packed
 * (2.8). The split and packed codecs implement these interfaces; the
 * reference models, the harness roles and the model-based tests only use
 * them.
 *
 * Vocabulary:
 * - a *buffer* is what the driver makes available in one go: a chain of
 *   descriptors (direct, or one descriptor naming an indirect table, possibly
 *   after direct ones on a split ring);
 * - its *id* is what the device writes back when it uses it: the head
 *   descriptor index on a split ring, the buffer id on a packed ring.
 *
 * @module
 */
import { bit, F } from "../features.ts";
import type { QueueAddresses } from "../transport/transport.ts";

/** The two ring layouts. */
export type RingFormat = "split" | "packed";

/** The negotiated features that change how a ring is read and written. */
export interface RingFeatures {
  format: RingFormat;
  /** VIRTIO_F_INDIRECT_DESC. */
  indirect: boolean;
  /** VIRTIO_F_EVENT_IDX. */
  eventIdx: boolean;
  /** VIRTIO_F_IN_ORDER. */
  inOrder: boolean;
  /** VIRTIO_F_NOTIFICATION_DATA. */
  notificationData: boolean;
}

/** The ring features in force for a negotiated feature set. */
export function ringFeatures(negotiated: bigint): RingFeatures {
  const has = (b: number) => (negotiated & bit(b)) !== 0n;
  return {
    format: has(F.RING_PACKED) ? "packed" : "split",
    indirect: has(F.INDIRECT_DESC),
    eventIdx: has(F.EVENT_IDX),
    inOrder: has(F.IN_ORDER),
    notificationData: has(F.NOTIFICATION_DATA),
  };
}

/** Ring features with nothing negotiated beyond the split layout. */
export const PLAIN_SPLIT: RingFeatures = {
  format: "split",
  indirect: false,
  eventIdx: false,
  inOrder: false,
  notificationData: false,
};

/** One buffer of a walked chain, as the device sees it. */
export interface ChainBuffer {
  addr: number;
  len: number;
  writable: boolean;
}

/** A buffer the driver places in a chain. */
export interface BufferSpec {
  addr: number;
  len: number;
  writable: boolean;
}

/** A used element as the driver reads it back. */
export interface UsedElem {
  id: number;
  len: number;
  /**
   * True when the device did not write this element itself: with
   * VIRTIO_F_IN_ORDER a device may write one element for a batch, which
   * uses every older buffer too (their lengths are unknown, reported as 0).
   */
  implied?: boolean;
}

/** A buffer the device took from the ring. */
export interface AvailBuffer {
  /** What the device writes back in the used element. */
  id: number;
  /** The chain, in order; device-readable buffers first. */
  buffers: ChainBuffer[];
  /** Ring descriptors the buffer occupies (an indirect table counts as one). */
  slots: number;
}

/**
 * The device side of one virtqueue. Every walk is bounded by the queue size
 * (and the indirect table size); a malformed ring is a `RingError`.
 */
export interface DeviceQueue {
  readonly format: RingFormat;
  readonly size: number;
  readonly features: RingFeatures;
  /** True when the driver made at least one buffer available that the device has not taken. */
  hasAvailable(): Promise<boolean>;
  /** Takes the next available buffer in ring order, or `undefined` when none is. */
  take(): Promise<AvailBuffer | undefined>;
  /** Writes one used element (`len` = bytes written into the buffer) and publishes it. */
  pushUsed(id: number, len: number): Promise<void>;
  /**
   * Decides whether the used buffers published since the last decision need
   * a used-buffer notification under the driver's suppression settings
   * (flags, used_event, or the packed driver event suppression structure).
   * Each call starts a new batch.
   */
  needsNotification(): Promise<boolean>;
  /**
   * Asks the driver not to send available-buffer notifications (`false`) or
   * to send them again (`true`): flags without EVENT_IDX, avail_event (set
   * to the device's next position) with it.
   */
  setNotifications(enabled: boolean): Promise<void>;
}

/** How the driver asks for used-buffer notifications. */
export type UsedNotifyMode =
  /** Every used buffer (flags 0, or used_event tracking the next one). */
  | { kind: "enable" }
  /** None (flags 1 without EVENT_IDX; with EVENT_IDX, used_event left far behind). */
  | { kind: "disable" }
  /** EVENT_IDX only: when the used index passes `at` (split: used idx; packed: ring offset and wrap). */
  | { kind: "at"; at: number };

/** The driver side of one virtqueue, in memory the driver owns. */
export interface DriverQueue {
  readonly format: RingFormat;
  /** The virtqueue index. */
  readonly index: number;
  readonly size: number;
  readonly features: RingFeatures;
  readonly addrs: QueueAddresses;
  /** Descriptors not in use. */
  readonly freeCount: number;
  /**
   * Writes a buffer without making it available and returns its id. With
   * `indirect`, the chain goes into an indirect table (allocated by the
   * queue) named by one ring descriptor.
   */
  add(buffers: BufferSpec[], opts?: { indirect?: boolean }): Promise<number>;
  /** Makes buffer `id` available (split: ring entry, then idx; packed: head flags last). */
  publish(id: number): Promise<void>;
  /**
   * Whether the device wants an available-buffer notification for what was
   * published since the last decision (flags, avail_event, or the packed
   * device event suppression structure). Each call starts a new batch.
   */
  needsKick(): Promise<boolean>;
  /** The 32-bit value of an available-buffer notification with VIRTIO_F_NOTIFICATION_DATA. */
  notificationData(): number;
  /** Used elements not yet seen; their descriptors become free. A garbage used entry is a `RingError`. */
  harvest(): Promise<UsedElem[]>;
  /** True when the device wrote a used element the driver has not harvested yet (nothing is consumed). */
  hasUsed(): Promise<boolean>;
  /** Sets how the driver asks for used-buffer notifications. */
  setUsedNotifications(mode: UsedNotifyMode): Promise<void>;
  /** Ids of buffers made available (or added) and not yet used. */
  outstanding(): number[];
}

/** Byte sizes of a queue's three areas (descriptor area, driver area, device area). */
export function queueAreaSizes(format: RingFormat, size: number): { desc: number; driver: number; device: number } {
  return format === "split"
    ? { desc: 16 * size, driver: 6 + 2 * size, device: 6 + 8 * size }
    : { desc: 16 * size, driver: 4, device: 4 };
}

/** The three areas of a queue as `[base, length]` pairs, for memory-access checks. */
export function queueAreas(q: { format: RingFormat; addrs: QueueAddresses }): [number, number][] {
  const l = queueAreaSizes(q.format, q.addrs.size);
  return [[q.addrs.desc, l.desc], [q.addrs.driver, l.driver], [q.addrs.device, l.device]];
}

/** Alignment of each area of a queue (spec 2.7 table for split; 16/4/4 for packed). */
export function queueAlignment(format: RingFormat): { desc: number; driver: number; device: number } {
  return format === "split" ? { desc: 16, driver: 2, device: 4 } : { desc: 16, driver: 4, device: 4 };
}

/**
 * The event-index test of spec 2.7.7 / 2.7.10 (`vring_need_event`): true when
 * moving an index from `old` to `next` (16-bit, free-running) passes `event`,
 * that is when `event` lies in `[old, next)`.
 *
 * @example
 * ```ts
 * import { needEvent } from "./queue.ts";
 * console.log(needEvent(5, 6, 5)); // true: the entry at 5 was just written
 * console.log(needEvent(5, 5, 4)); // false: not there yet
 * ```
 */
export function needEvent(event: number, next: number, old: number): boolean {
  return ((next - event - 1) & 0xffff) < ((next - old) & 0xffff);
}

/**
 * The notification value with VIRTIO_F_NOTIFICATION_DATA (spec 2.9): the
 * virtqueue index in bits 0–15, then the next offset (15 bits) and wrap bit.
 * For a split ring `nextOff` is the available idx's low 15 bits and `wrap`
 * its bit 15; for a packed ring the next descriptor's offset and the driver's
 * wrap counter.
 */
export function encodeNotificationData(vq: number, nextOff: number, wrap: number): number {
  return ((vq & 0xffff) | ((nextOff & 0x7fff) << 16) | ((wrap & 1) << 31)) >>> 0;
}

/** Splits a notification value into its fields (see {@link encodeNotificationData}). */
export function decodeNotificationData(value: number): { vq: number; nextOff: number; wrap: number } {
  return { vq: value & 0xffff, nextOff: (value >>> 16) & 0x7fff, wrap: (value >>> 31) & 1 };
}
