/**
 * What a device type contributes to a reference device: its ID, features,
 * queues, configuration layout and request handling.
 *
 * @module
 */
import type { AdminFunction } from "./admin_queue.ts";
import type { DeviceTypeName } from "../../features.ts";
import type { GuestMemory } from "../../memory.ts";
import type { Width } from "../../registers.ts";
import type { ChainBuffer } from "../../virtqueue/split.ts";

/** One field of a device-specific configuration layout. */
export interface ConfigField {
  name: string;
  offset: number;
  /** Field size in bytes (8 for 64-bit fields). */
  size: 1 | 2 | 4 | 8;
  /** The feature bit that makes the field exist, if it is conditional. */
  feature?: number;
}

/** The access width a driver must use for a config field (spec 4.2.2.2: 64-bit fields as two 32-bit reads). */
export function fieldAccessWidth(field: ConfigField): Width {
  return field.size === 8 ? 4 : field.size;
}

/** The outcome of handling one request chain. */
export type HandleResult =
  | { kind: "used"; written: number }
  /**
   * The buffer waits for data the device does not have yet (an input queue): the core keeps it, and the function
   * fills and uses it later through {@link FunctionHost.deliver}.
   */
  | { kind: "hold" }
  /** The request is malformed for this device type: the device enters its error state. */
  | { kind: "error"; reason: string };

/** A device type's behaviour behind the transport-neutral core. */
export interface DeviceFunction {
  readonly type: DeviceTypeName;
  readonly deviceId: number;
  /** Device-type feature bits offered (the core adds the device-independent ones). */
  readonly features: bigint;
  readonly queueCount: number;
  queueSizeMax(queue: number): number;
  /** The live configuration bytes. */
  readonly config: Uint8Array;
  readonly configLayout: readonly ConfigField[];
  /** Handles one chain; `written` is the number of bytes written into device-writable buffers. */
  handle(queue: number, chain: ChainBuffer[], mem: GuestMemory, negotiated: bigint): Promise<HandleResult>;
  /** Back to power-on state (the disk contents of a blk device survive). */
  reset(): void;
  /** Connects the function to its core (a function that sends on its own, e.g. console input, keeps `host`). */
  attach?(host: FunctionHost): void;
  /**
   * Called once the core holds a buffer of `queue` (a `hold` result), so a function with input waiting can deliver
   * it now; the core waits for it before it takes the next buffer.
   */
  afterHold?(queue: number): Promise<void>;
  /** A driver write to the configuration space (absent: writes are ignored). */
  writeConfig?(offset: number, width: Width, value: number): void;
  /** Device-type features the function offers only on a modern interface (never on the legacy one). */
  readonly modernOnly?: bigint;
  /** Whether the function can work with the features the driver accepted (absent: any valid set). */
  acceptsFeatures?(accepted: bigint): boolean;
  /** Queue `queue` was reset on its own (VIRTIO_F_RING_RESET): the function drops what it kept for it. */
  queueReset?(queue: number): void;
  /** The administration commands of this device type (the core adds an administration virtqueue on PCI). */
  readonly admin?: AdminFunction;
}

/** What a device function may ask of its core. */
export interface FunctionHost {
  /**
   * Fills the oldest buffer held on `queue` (see the `hold` result) with `data` and uses it, with a used-buffer
   * notification as the driver asked; false when no buffer is held there or the queue cannot be used now.
   */
  deliver(queue: number, data: Uint8Array): Promise<boolean>;
  /** The device-writable bytes of each buffer held on `queue`, oldest first (none when the queue cannot be used). */
  heldSizes(queue: number): number[];
  /** The features in force (0 before FEATURES_OK). */
  readonly negotiated: bigint;
  /** Whether the driver has enabled queue `queue` (and not reset it since). */
  queueEnabled(queue: number): boolean;
}

/** Writes `data` across the writable buffers of a chain; returns bytes written. */
export async function scatter(mem: GuestMemory, bufs: ChainBuffer[], data: Uint8Array): Promise<number> {
  let done = 0;
  for (const b of bufs) {
    if (done >= data.length) break;
    const n = Math.min(b.len, data.length - done);
    await mem.write(b.addr, data.subarray(done, done + n));
    done += n;
  }
  return done;
}

/** Reads and concatenates the given buffers. */
export async function gather(mem: GuestMemory, bufs: ChainBuffer[]): Promise<Uint8Array> {
  const total = bufs.reduce((s, b) => s + b.len, 0);
  const out = new Uint8Array(total);
  let off = 0;
  for (const b of bufs) {
    out.set(await mem.read(b.addr, b.len), off);
    off += b.len;
  }
  return out;
}
