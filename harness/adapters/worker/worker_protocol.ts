/**
 * The messages between the harness and a worker that runs a user's
 * in-process module (see `worker_host.ts` and `worker_main.ts`). Requests
 * go one way and are answered by id; events carry no answer. In the driver
 * role the worker also calls the harness (the device's registers and guest
 * memory); those calls are answered by id too.
 *
 * @module
 */
import type { Capabilities } from "../../adapter.ts";
import type { TransportKind } from "../../features.ts";
import type { MemoryAccess } from "../../memory.ts";
import type { Width } from "../../registers.ts";

/** A register space of a device: the register file, or a PCI space. */
export type SpaceName = "registers" | "config" | "memory" | "io";

/** A bus window (PCI BAR placement range). */
export interface Window {
  base: number;
  size: number;
}

/**
 * Requests the harness sends to the worker. Guest memory is not in them: each side keeps a copy, and the frames
 * that carry the messages carry the changes (`frame.ts`).
 */
export type Request =
  | { op: "load"; url: string; export: string; info: string; role: "device" | "driver" }
  | { op: "open"; transport: TransportKind; base: number; size: number }
  | { op: "restart" }
  | { op: "reg"; space: SpaceName; offset: number; width: Width; value?: number }
  | { op: "settle"; ms: number }
  | { op: "configChange" }
  /** A network device's wire: the frames it transmitted since the last take. */
  | { op: "wireTake" }
  /** A network device's wire: a frame towards the device. */
  | { op: "wireInject"; frame: Uint8Array }
  | {
    op: "attach";
    session: number;
    transport: TransportKind;
    base: number;
    size: number;
    pci: { memoryWindow: Window; ioWindow?: Window; io: boolean } | null;
  }
  | { op: "probe"; session: number; deadlineMs: number }
  | { op: "workload"; session: number; work: unknown; deadlineMs: number }
  | { op: "remove"; session: number; deadlineMs: number }
  | { op: "close"; session: number }
  /** A whole device target: opens a session of it. */
  | { op: "topen"; transport: TransportKind }
  /** A whole device target: one call on a session of it. */
  | { op: "tcall"; session: number; call: SessionCall }
  /** A whole driver target that watches its driver: one watch. */
  | { op: "watch"; request: unknown };

/** One call on a session of a whole device target (`tcall`). */
export type SessionCall =
  | { kind: "reg"; space: SpaceName; offset: number; width: Width; value?: number }
  | { kind: "memRead"; addr: number; length: number }
  | { kind: "memWrite"; addr: number; data: Uint8Array }
  | { kind: "level" }
  | { kind: "settle"; ms: number }
  | { kind: "config" }
  | { kind: "wireTake" }
  | { kind: "wireInject"; frame: Uint8Array }
  | { kind: "restart" }
  | { kind: "describe" }
  | { kind: "close" };

/** What `topen` answers: the session's shape. */
export interface RemoteOpenReply {
  session: number;
  transport: TransportKind;
  capabilities: Capabilities;
  memory: Window;
  pci: { memoryWindow: Window; ioWindow?: Window; io: boolean } | null;
  /** The session can change its configuration from the host side. */
  config: boolean;
  /** The session describes itself. */
  describe: boolean;
  /** The session gives its memory trace. */
  trace: boolean;
  /** The session has a network device's wire. */
  wire: boolean;
}

/** What `load` answers: what the export is. */
export interface LoadReply {
  /** `typeof` the export, or "missing". */
  type: string;
  /** The export is an object with `role` and `open`/`attach` (a whole target). */
  targetObject: boolean;
  /** Every export name of the module. */
  exports: string[];
  /** The driver's info export, structured-cloned (undefined when absent or not cloneable). */
  info?: unknown;
  /** A whole target: its `info`, structured-cloned. */
  targetInfo?: unknown;
  /** A whole driver target that can watch its driver. */
  watch?: boolean;
}

/** What `open` and `restart` answer. */
export interface OpenReply {
  /** The device's generation: its interrupt events carry it (events of a device since rebuilt are stale). */
  generation: number;
  configChange: boolean;
  /** The device has a wire (a network device). */
  wire: boolean;
  hasIdle: boolean;
  pci: { memoryWindow: Window; ioWindow?: Window; io: boolean } | null;
}

/** An error carried across the boundary. */
export interface WireError {
  name: string;
  message: string;
}

/** Calls the worker makes to the harness (driver role). */
export type Call =
  | { op: "reg"; session: number; space: SpaceName; offset: number; width: Width; value?: number }
  | { op: "memRead"; session: number; addr: number; length: number }
  | { op: "memWrite"; session: number; addr: number; data: Uint8Array };

/** Messages from the harness to the worker. */
export type ToWorker =
  | { kind: "req"; id: number; req: Request }
  | { kind: "ret"; id: number; ok: true; value: unknown }
  | { kind: "ret"; id: number; ok: false; error: WireError }
  | { kind: "irq"; session: number; level: boolean };

/** Messages from the worker to the harness. */
export type FromWorker =
  | { kind: "res"; id: number; ok: true; value: unknown; trace: MemoryAccess[] }
  | { kind: "res"; id: number; ok: false; error: WireError; trace: MemoryAccess[] }
  | { kind: "irq"; generation: number; level: boolean; trace: MemoryAccess[] }
  | { kind: "exit"; how: string }
  | { kind: "call"; id: number; call: Call }
  | { kind: "listen"; session: number };

/** Turns anything thrown into a {@link WireError}. */
export function toWire(e: unknown): WireError {
  return e instanceof Error ? { name: e.name, message: e.message } : { name: "Error", message: String(e) };
}
