/**
 * The adapter contract (version 2): what connects the harness to an
 * implementation under test. See the README's "Adapter contract" section.
 *
 * Two roles:
 * - a {@link DeviceTarget} is a device under test; the harness plays the driver
 *   through register access, guest memory and interrupt observation;
 * - a {@link DriverTarget} is a driver under test; the harness plays the
 *   device and the target attaches its driver to the device the harness
 *   presents.
 *
 * Every wait an adapter performs is bounded by a deadline; an adapter that
 * cannot serve a request throws {@link TargetError}, which the runner turns
 * into an `error` verdict.
 *
 * @module
 */
import type { Clock } from "./clock.ts";
import type { DeviceTypeName, TransportKind } from "./features.ts";
import type { GuestMemory } from "./memory.ts";
import type { RegisterSpace, Width } from "./registers.ts";

/**
 * The version of this contract; adapters declare the version they implement.
 * Version 2 added transports: a target may offer several ({@link DeviceTargetInfo.transports}),
 * PCI functions are reached through {@link PciFunctionAccess}, and the harness
 * device endpoint says which transport it presents.
 */
export const ADAPTER_CONTRACT_VERSION = 3;

/** The implementation under test failed in a way that is not a verdict (crash, hang, garbage). */
export class TargetError extends Error {
  /** The error's name. */
  override name = "TargetError";
}

/**
 * The implementation under test stopped on its own (an assertion failure or
 * an abort inside it) while the harness drove it as a conforming peer would:
 * a fault of the implementation, scored `fail` against the clause that was
 * running, not `error`. Adapters raise it only when the implementation itself
 * says so (QEMU: killed by SIGABRT), never for a harness-side kill or timeout.
 */
export class DeviceCrashed extends TargetError {
  /** The error's name. */
  override name = "DeviceCrashed";
}

/** What an adapter lets the harness observe or do. A clause needing more is `n/a` there. */
export interface Capabilities {
  /** Transport registers are readable and writable (false behind QEMU for vhost-user). */
  registers: boolean;
  /** Guest memory is readable and writable by the harness. */
  memory: boolean;
  /** The interrupt line (or MSI-X messages) can be observed. */
  interrupts: boolean;
  /** Every guest-memory access of the device is recorded. */
  memoryTrace: boolean;
  /** The host side can change the device configuration (e.g. a resize). */
  configChange: boolean;
  /** A network device's wire is the harness's: it reads what the device transmits and injects what it receives. */
  wire?: boolean;
  /**
   * The device raises a used-buffer notification in the same step as it writes the used index it announces, and
   * the harness sees both through one ordered channel: once a read shows the used index, the notification (if the
   * device sends one) is visible to the next look. A check that nothing was notified after a use then needs no wait.
   */
  orderedNotifications?: boolean;
}

/** Names of the capabilities, for applicability declarations. */
export type Capability = keyof Capabilities;

/**
 * One PCI function as the harness reaches it: its configuration space and
 * the bus address spaces its BARs decode. The side that plays the driver
 * sizes and places the BARs inside the windows, enables decoding in the
 * Command register and then reaches the virtio structures at those
 * addresses. Offsets of `memory` and `io` are bus addresses.
 */
export interface PciFunctionAccess {
  /** The function's configuration space (256 bytes). */
  readonly config: RegisterSpace;
  /** Memory space by bus address (where memory BARs are placed). */
  readonly memory: RegisterSpace;
  /** Where memory BARs may be placed: `[base, base + size)`. */
  readonly memoryWindow: { base: number; size: number };
  /** I/O space by port (I/O BARs), when the adapter has one. */
  readonly io?: RegisterSpace;
  /** Where I/O BARs may be placed. */
  readonly ioWindow?: { base: number; size: number };
}

/** Static facts a device target reports. */
export interface DeviceTargetInfo {
  /** The target's name, as reports show it. */
  name: string;
  /** The transport the target is opened on by default. */
  transport: TransportKind;
  /** Every transport the target can be opened on (default: just `transport`). */
  transports?: TransportKind[];
  /** The device type the target presents, when known before probing. */
  deviceType?: DeviceTypeName;
  /** The adapter that drives the target (`in-process`, `qemu`, `qemu-guest`, …). */
  adapter: string;
  /** The contract version the adapter implements ({@link ADAPTER_CONTRACT_VERSION}). */
  contractVersion: number;
}

/**
 * A network device's wire as the harness owns it: the far end of the link. Frames are Ethernet frames (destination
 * MAC first) without the virtio header.
 */
export interface NetWire {
  /** The frames the device put on the wire since the last call, oldest first. */
  takeTransmitted(): Promise<Uint8Array[]>;
  /** Puts `frame` on the wire towards the device, which receives it (into the driver's buffers, filters permitting). */
  inject(frame: Uint8Array): Promise<void>;
}

/** A live connection to a device under test; the harness plays the driver. */
export interface DeviceSession {
  /** What the target is. */
  readonly info: DeviceTargetInfo;
  /** What the session can do beyond the basic contract. */
  readonly capabilities: Capabilities;
  /** The transport this session speaks. */
  readonly transport: TransportKind;
  /** The transport's register file: the MMIO window, or on PCI the configuration space. */
  readonly registers: RegisterSpace;
  /** On PCI: the function and the bus its BARs are placed on. */
  readonly pci?: PciFunctionAccess | undefined;
  /**
   * Guest memory; `[base, base + size)` is the harness's to allocate. The
   * device reaches it by DMA; on PCI, MSI-X messages whose address falls in it
   * land there as 32-bit writes.
   */
  readonly memory: GuestMemory;
  /** Current level of the device's interrupt line. */
  interruptLevel(): Promise<boolean>;
  /**
   * Lets the device make progress for up to `ms` milliseconds of device time
   * and returns as soon as `until` (if given) holds; never waits longer.
   */
  settle(ms: number, until?: () => Promise<boolean>): Promise<void>;
  /**
   * Guest-memory accesses of the device since the last call (memoryTrace capability), in order; an adapter that can
   * may put `interrupt` entries among them where the device raised its interrupt line (`addr` -1, `length` 0).
   */
  takeMemoryTrace?(): { kind: "read" | "write" | "interrupt"; addr: number; length: number }[];
  /** Changes the device configuration from the host side (configChange capability). */
  triggerConfigChange?(): Promise<void>;
  /** A network device's wire (wire capability). */
  readonly wire?: NetWire | undefined;
  /** Brings the implementation back to power-on state (a new process if need be). */
  restart(): Promise<void>;
  /**
   * What the implementation said last, as a sentence fragment (a process's state and output tail): quoted when the
   * device stopped serving. Optional.
   */
  describe?(): string;
  /** Ends the session and frees what it holds; calling it again does nothing. */
  close(): Promise<void>;
}

/** A device under test. */
export interface DeviceTarget {
  /** The implementation under test is a device. */
  readonly role: "device";
  /** What the target is. */
  readonly info: DeviceTargetInfo;
  /** Opens a session on `transport` (default `info.transport`; one of `info.transports`). */
  open(transport?: TransportKind): Promise<DeviceSession>;
  /**
   * Frees what the target keeps between sessions (e.g. a child process kept for the next session); `runTarget`
   * calls it when it is done with the target. A later `open` starts afresh. Optional.
   */
  close?(): Promise<void>;
}

/** What the harness presents to a driver under test. */
export interface HarnessDeviceEndpoint {
  /** The transport the device is presented on. */
  readonly transport: TransportKind;
  /**
   * The device's register file (already instrumented by the harness): the
   * MMIO window, or on PCI the configuration space.
   */
  readonly registers: RegisterSpace;
  /** On PCI: the function and the bus its BARs are placed on. */
  readonly pci?: PciFunctionAccess;
  /** Guest memory shared by the driver and the harness device. */
  readonly memory: GuestMemory;
  /** Subscribes to the device's interrupt line. */
  onInterrupt(listener: (level: boolean) => void): void;
  /**
   * The harness's clock, when it offers one (to drivers that run in this process): a driver that takes its time and
   * timers from it instead of `Date.now` and `setTimeout` runs on virtual time, so waiting out a request the device
   * holds by design costs no wall-clock time. Absent: the driver uses the wall clock.
   */
  readonly clock?: Clock;
}

/** Work a driver under test is asked to do, by device type. */
export type Workload =
  | { kind: "rng-read"; bytes: number }
  | { kind: "blk-read"; sector: number; sectors: number }
  | { kind: "blk-write"; sector: number; data: Uint8Array }
  | { kind: "blk-capacity" }
  /** A FLUSH request (VIRTIO_BLK_F_FLUSH). */
  | { kind: "blk-flush" }
  /** A GET_ID request: the device's ID string. */
  | { kind: "blk-get-id" }
  /** A DISCARD request for `sectors` from `sector` (VIRTIO_BLK_F_DISCARD). */
  | { kind: "blk-discard"; sector: number; sectors: number }
  /** A WRITE_ZEROES request for `sectors` from `sector` (VIRTIO_BLK_F_WRITE_ZEROES). */
  | { kind: "blk-write-zeroes"; sector: number; sectors: number }
  /** A SECURE_ERASE request for `sectors` from `sector` (VIRTIO_BLK_F_SECURE_ERASE). */
  | { kind: "blk-secure-erase"; sector: number; sectors: number }
  /**
   * A zone management request (VIRTIO_BLK_F_ZONED) for the zone that starts at `sector`: ZONE_OPEN, ZONE_CLOSE,
   * ZONE_FINISH, ZONE_RESET, or ZONE_RESET_ALL (every zone: `sector` means nothing then).
   */
  | { kind: "blk-zone"; op: "open" | "close" | "finish" | "reset" | "reset-all"; sector: number }
  /** A ZONE_REPORT from the zone holding `sector`; the result's `value` is the number of zones reported. */
  | { kind: "blk-zone-report"; sector: number }
  /** A ZONE_APPEND of `data` to the zone that starts at `sector`; the result's `value` is the append_sector. */
  | { kind: "blk-zone-append"; sector: number; data: Uint8Array }
  | { kind: "queue-reset"; queue: number }
  /** Suspend the device and resume it (VIRTIO_F_SUSPEND, spec 3.4), then go on as before. */
  | { kind: "suspend" }
  /** Write bytes to console port 0. */
  | { kind: "console-write"; data: Uint8Array }
  /** Transmit one Ethernet frame (the driver adds the virtio header). */
  | { kind: "net-send"; frame: Uint8Array }
  /** Receive one frame: the harness puts one on the wire; the result's `data` is the frame the driver got. */
  | { kind: "net-receive" }
  /**
   * Set notification coalescing (VIRTIO_NET_F_NOTF_COAL / VIRTIO_NET_F_VQ_NOTF_COAL): `max_usecs` and `max_packets`
   * for queue `queue` (VQ_SET), or for every transmit and receive queue without `queue` (TX_SET and RX_SET).
   */
  | { kind: "net-coalesce"; usecs: number; packets: number; queue?: number }
  /**
   * Read the statistics of queue `queue` (VIRTIO_NET_F_DEVICE_STATS): every type the device supports for it; the
   * result's `data` is the replies.
   */
  | { kind: "net-stats"; queue: number }
  /**
   * Configure receive-side scaling (VIRTIO_NET_F_RSS): RSS_CONFIG over the receive queues in use, then with
   * `contexts` (VIRTIO_NET_F_RSS_CONTEXT) that many RSS contexts at most (as many as the device has).
   */
  | { kind: "net-rss"; contexts?: number }
  /**
   * Switch guest offloads with VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET: `offloads` lists the bits of its mask to set (1
   * GUEST_CSUM, 7 GUEST_TSO4, 8 GUEST_TSO6, 9 GUEST_ECN, 10 GUEST_UFO, 54 GUEST_USO4, 55 GUEST_USO6, …); the driver
   * enables those it may.
   */
  | { kind: "net-offloads"; offloads: number[] }
  /**
   * Enable the inner header hash (VIRTIO_NET_F_HASH_TUNNEL) for the encapsulation types of `types`
   * (VIRTIO_NET_HASH_TUNNEL_TYPE_* bits) that the device supports.
   */
  | { kind: "net-hash-tunnel"; types: number }
  /**
   * Flow filters on the administration virtqueue (net over PCI, VIRTIO_F_ADMIN_VQ): the three flow filter
   * capabilities set, a group, a classifier (Ethernet, IPv4, TCP) and a rule directing a TCP/IPv4 flow to
   * receiveq1 created, then destroyed in reverse order.
   */
  | { kind: "net-flow-filter" }
  /**
   * IPsec SAs on the administration virtqueue (net over PCI): the two IPsec capabilities set, an outbound and an
   * inbound SA of the first mode the device reports created, then destroyed.
   */
  | { kind: "net-ipsec" };

/** The result of a workload. */
export type WorkloadResult =
  | { ok: true; data?: Uint8Array; value?: number }
  | { ok: false; error: string };

/** What a driver's probe ended in. */
export interface ProbeResult {
  /** The driver bound to the device and finished initialization. */
  bound: boolean;
  /** An error the driver reported, if any. */
  error?: string;
}

/** A driver attached to a harness device. */
export interface DriverSession {
  /** Runs the driver's probe (initialization) against the device; bounded by `deadlineMs`. */
  probe(deadlineMs: number): Promise<ProbeResult>;
  /** Asks the driver to do work; bounded by `deadlineMs`. */
  workload(work: Workload, deadlineMs: number): Promise<WorkloadResult>;
  /** Detaches the driver (module unload / device removal); bounded by `deadlineMs`. */
  remove(deadlineMs: number): Promise<void>;
  /** Ends the session and frees what it holds; calling it again does nothing. */
  close(): Promise<void>;
}

/** Static facts a driver target reports. */
export interface DriverTargetInfo {
  /** The target's name, as reports show it. */
  name: string;
  /** The adapter that drives the target (`in-process`, `qemu`, `qemu-guest`, …). */
  adapter: string;
  /** The contract version the adapter implements ({@link ADAPTER_CONTRACT_VERSION}). */
  contractVersion: number;
  /** Transports the driver can be attached over. */
  transports: TransportKind[];
  /** Device types the driver drives. */
  deviceTypes: DeviceTypeName[];
  /** Workloads the driver supports. */
  workloads: Workload["kind"][];
  /**
   * A watched target: the variations of its own device it can run the driver against when a
   * {@link WatchRequest} asks for one (none: only the device as the target declares it).
   */
  variations?: DeviceVariationKind[];
}

/** The kinds of {@link DeviceVariation} a watched target may offer. */
export type DeviceVariationKind = "transitional" | "msix-vectors" | "read-only";

/** A variation of a watched driver's own device, asked for by the harness (one of the target's `variations`). */
export interface DeviceVariation {
  /** PCI: the device presents its transitional identity (transitional device ID, revision 0, a legacy I/O BAR). */
  transitional?: boolean;
  /** PCI: the number of MSI-X vectors in the device's table (0: no MSI-X capability). */
  msixVectors?: number;
  /** blk: the disk is read-only (the device offers VIRTIO_BLK_F_RO and refuses writes). */
  readOnly?: boolean;
}

/**
 * Where a driver's access landed: the MMIO window (v2 or legacy), PCI
 * configuration space, one of the PCI virtio structures (common, notify,
 * ISR, device configuration) or another BAR range (e.g. the MSI-X table).
 */
export type AccessSpace = "mmio" | "pci-config" | "common" | "notify" | "isr" | "device" | "bar";

/** The phases of a driver's run: probe, each workload, removal, the end. */
export type DriverPhase = "probe" | "workload" | "remove" | "end";

/**
 * One step of a real driver as a watching adapter saw it, in the order it
 * happened: a register access (offset inside its space, value as read or
 * written, masked to the width), a change of the device's interrupt line,
 * the start of a phase of the run, a snapshot of guest memory taken while
 * the driver was idle (`data` in base64; consecutive `memory` steps make one
 * snapshot, normally the areas of every queue the driver enabled), or, where
 * the adapter can watch guest memory, the driver's accesses to its rings.
 */
export type WatchedStep =
  | {
    kind: "read" | "write";
    space: AccessSpace;
    offset: number;
    width: Width;
    value: number;
    /**
     * An access to another transport window of the same kind (another virtio-mmio slot, by index), not to the
     * device under test: how the driver treats the devices it probes beside it (placeholders, DeviceID 0).
     */
    window?: number;
  }
  | { kind: "irq"; level: boolean }
  | { kind: "phase"; phase: DriverPhase; index?: number }
  | { kind: "memory"; address: number; data: string }
  | RingWatchStep
  | RingAccessStep
  | BlockRequestStep;

/**
 * A read or write request the block device received from the watched driver, at its place among the register
 * accesses, as the device reports it: the first sector and the whole sectors of data (a partial sector not counted).
 */
export interface BlockRequestStep {
  /** The kind of step. */
  kind: "blk-request";
  /** A read (VIRTIO_BLK_T_IN) or a write (VIRTIO_BLK_T_OUT). */
  op: "read" | "write";
  /** The request's sector field. */
  sector: number;
  /** Its data length in whole 512-byte sectors. */
  sectors: number;
}

/**
 * The adapter watches the driver's accesses to its rings in guest memory from here on (a debugger's watchpoints):
 * `areas` holds the bytes of every area of each live queue now (guest-physical addresses, base64). An empty list
 * ends the watch (`reason` says why: the driver reset the device, or the adapter could not go on); what the driver
 * did to its rings after that is not in the run.
 */
export interface RingWatchStep {
  /** The kind of step. */
  kind: "ring-watch";
  /** The bytes of every area of each live queue when the watch began (none: the watch ended here). */
  areas: { address: number; data: string }[];
  /** Why the watch ended or never began. */
  reason?: string;
  /** The watch ended before the run did for a reason of the adapter's (not the driver's reset): it is incomplete. */
  lost?: boolean;
}

/**
 * One access of the driver to a watched ring area, where it happened among the register accesses: `length` bytes
 * at guest-physical `address`, with the bytes a write left (`data`, base64). `memory` holds what changed in the
 * watched areas (the device's used entries) and in the indirect tables the driver published since the step before,
 * applied before this access.
 */
export interface RingAccessStep {
  /** The kind of step. */
  kind: "ring";
  /** Whether the driver read or wrote. */
  access: "read" | "write";
  /** Guest-physical address of the first byte accessed. */
  address: number;
  /** Bytes accessed (0: the adapter could not tell; the step is ignored). */
  length: number;
  /** A write: the bytes it left, base64. */
  data?: string;
  /** What else changed in guest memory since the step before (guest-physical address, bytes in base64). */
  memory?: { address: number; data: string }[];
}

/** What the harness asks of one watched run. */
export interface WatchRequest {
  /** The transport the device is on (one of the target's `transports`). */
  transport: TransportKind;
  /** Stops the run early (the clause's deadline passed, or the user interrupted). */
  signal?: AbortSignal;
  /**
   * Which guest memory to copy into the run (as `memory` steps) each time the driver is idle, given the steps so
   * far: the harness names the areas of the queues the driver enabled. An adapter that cannot read guest memory
   * ignores it.
   */
  snapshotAreas?: (steps: readonly WatchedStep[]) => Promise<{ address: number; length: number }[]>;
  /** Run the driver against this variation of its device (only kinds the target lists in `info.variations`). */
  variation?: DeviceVariation;
  /**
   * `false`: the harness needs no ring accesses from this run (only its register steps), so an adapter that watches
   * them may skip that work. Default true.
   */
  ringAccesses?: boolean;
}

/** Everything a watched driver did in one run, from power-on to the end of its last workload. */
export interface WatchedRun {
  /** Every step the driver took, in order. */
  steps: WatchedStep[];
  /** Whether the driver bound to the device (found it and finished initialization, as the guest reports). */
  probe: ProbeResult;
  /** One result per workload the target declares, in order. */
  results: WorkloadResult[];
  /** The end of what the guest printed, for messages. */
  console: string;
}

/**
 * A driver under test. Either the harness presents the device and the
 * driver attaches to it ({@link attach}), or the driver runs beside a device
 * of its own (a real driver in a QEMU guest, next to QEMU's device model) and
 * the harness watches it ({@link watch}): then the harness never calls
 * `attach`, and every clause that needs the device to behave otherwise than
 * it does is `n/a` there.
 */
export interface DriverTarget {
  /** The implementation under test is a driver. */
  readonly role: "driver";
  /** What the target is. */
  readonly info: DriverTargetInfo;
  /** Attaches the driver to a device the harness presents (rejects on a watched target). */
  attach(device: HarnessDeviceEndpoint): Promise<DriverSession>;
  /**
   * True when the driver runs in this process and takes every time and timer from
   * {@link HarnessDeviceEndpoint.clock}: the harness then runs it, and the device it presents, on virtual time.
   */
  readonly virtualTime?: boolean;
  /** A watched target: runs the driver once, from power-on, and returns every step it took at the transport. */
  watch?(request: WatchRequest): Promise<WatchedRun>;
  /** Frees what the target keeps between sessions (as {@link DeviceTarget.close}). Optional. */
  close?(): Promise<void>;
}

/** Either role. */
export type Target = DeviceTarget | DriverTarget;
