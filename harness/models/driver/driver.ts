/**
 * The bundled reference driver: a strict virtio driver for rng and blk
 * devices over MMIO version 2, written from spec v1.4-cs01 (chapters 2, 3,
 * 4.2, 5.2 and 5.4). It is the oracle every driver clause must pass on.
 *
 * It drives split and packed rings through the format-neutral
 * {@link DriverQueue} and implements every ring feature the harness device
 * can offer: VIRTIO_F_EVENT_IDX, VIRTIO_F_INDIRECT_DESC, VIRTIO_F_IN_ORDER,
 * VIRTIO_F_RING_PACKED, VIRTIO_F_NOTIFICATION_DATA and VIRTIO_F_RING_RESET.
 *
 * Ring decisions, in the order a request meets them:
 * - set-up ({@link ReferenceDriver.createQueue}, {@link ReferenceDriver.armUsedNotifications},
 *   {@link ReferenceDriver.programQueue}): fresh zeroed rings at the alignment of the
 *   format, used-buffer notifications enabled before QueueReady=1 — the same at
 *   initial discovery and when a reset queue is re-enabled;
 * - submission ({@link ReferenceDriver.chooseIndirect}, {@link ReferenceDriver.addChain},
 *   {@link ReferenceDriver.makeAvailable}): the chain is written completely (an
 *   indirect table when negotiated and the chain has more than two buffers),
 *   then published (the codecs write the idx or the head flags last), then the
 *   suppression fields are read ({@link ReferenceDriver.kickIfNeeded}) and the device is
 *   notified only when it asks for it, with the notification data when
 *   VIRTIO_F_NOTIFICATION_DATA is negotiated;
 * - completion ({@link ReferenceDriver.harvestQueue}, {@link ReferenceDriver.keepUsedEventCurrent},
 *   {@link ReferenceDriver.trustedLength}): used elements are harvested on
 *   interrupts and by polling, used_event is kept at the next entry (split ring
 *   with EVENT_IDX) and the ring is harvested again so no element slips between;
 *   an interrupt with nothing new is ignored; only the first `len` bytes of the
 *   device-writable buffers are read.
 *
 * IN_ORDER batches: an element the device did not write itself (`implied`)
 * was used completely (spec 2.7's in-order section), but its length is not
 * reported. A blk request reads its status byte, which says whether the
 * request succeeded. An rng request treats it as used with no data the driver
 * can vouch for: it returns zero bytes rather than read memory the device may
 * not have written.
 *
 * Protected methods are the seams the driver mutants in
 * `fixtures/mutants/driver_mutants.ts` and `fixtures/mutants/driver_ring_mutants.ts`
 * override, one fault each.
 *
 * @module
 */
import type { DriverSession, HarnessDeviceEndpoint, ProbeResult, Workload, WorkloadResult } from "../../adapter.ts";
import { InProcessDriverTarget } from "../../adapters/in_process.ts";
import {
  bit,
  BLK_F,
  definedMask,
  DEVICE_IDS,
  type DeviceTypeName,
  dropUnsatisfied,
  F,
  mask,
  NET_F,
} from "../../features.ts";
import {
  completeChecksum,
  decodeNetHeader,
  encodeNetHeader,
  GUEST_OFFLOAD_FEATURES,
  NET_CTRL,
  NET_S_ANNOUNCE,
  NetCtrl,
  NetGso,
  NetHdrFlag,
  type NetHeader,
  netHeaderSize,
  pseudoHeaderSum,
  STATS_REPLY_BYTES,
  STATS_RX_TYPES,
  STATS_TX_TYPES,
  STATS_TYPE,
  type TransportHeader,
  transportOf,
} from "../device/net.ts";
import { BumpAllocator, le } from "../../memory.ts";
import { ZonedModel } from "../device/blk_zoned.ts";
import { type Clock, type ClockTimer, realClock } from "../../clock.ts";
import { CONSOLE_F, ConsoleEvent, CONTROL_RX, CONTROL_TX, controlMessage, receiveqOf } from "../device/console.ts";
import type { RegisterSpace } from "../../registers.ts";
import { formatStatus, Status } from "../../status.ts";
import { MmioDriverTransport } from "../../transport/mmio_driver.ts";
import { openDriverTransport } from "../../transport/open.ts";
import type { DriverTransport } from "../../transport/transport.ts";
import { Mmio, MMIO_MAGIC, MmioInterrupt } from "../../transport/mmio_layout.ts";
import { type BufferSpec, type DriverQueue, ringFeatures, type UsedElem } from "../../virtqueue/queue.ts";
import { createDriverQueue } from "../../virtqueue/rings.ts";
import type { ConfigField } from "../device/device_function.ts";
import {
  BLK_CAPACITY_FIELD,
  BLK_DRIVER_FEATURES,
  BLK_HEADER_SIZE,
  BLK_ID_BYTES,
  BLK_SECTOR_SIZE,
  BLK_ZONE_REPORT_BYTES,
  BLK_ZONED_MODEL_OFFSET,
  blkConfigFields,
  blkHeader,
  BlkRequestStatus,
  BlkRequestType,
  blkSegments,
} from "./blk.ts";
import { errorText } from "../../text.ts";
import { TcpFlag, tcpSegmentOf } from "../device/net_lro.ts";
import { NET_CONFIG_LAYOUT } from "../../device_types.ts";
import { PciDriverTransport } from "../../transport/pci_driver.ts";
import { CommonCfg } from "../../transport/pci_layout.ts";
import {
  AdminGroupType,
  AdminOpcode,
  type AdminResult,
  AdminStatus,
  decodeAdminResult,
  decodeBitmap,
  encodeAdminCommand,
  encodeBitmap,
  roundUp8,
} from "../device/admin_command.ts";
import {
  encodeFfGroup,
  encodeFfRule,
  encodeObjectData,
  encodeSelectors,
  ffTcpClassifier,
  ffTcpKeys,
  NetFfAction,
  NetFfCap,
  NetFfObject,
} from "../device/net_flow_filter.ts";
import {
  decodeIpsecModes,
  encodeIpsecSa,
  IpsecDirection,
  IpsecMode,
  type IpsecModeCap,
  lowestAlgorithm,
  NetIpsecCap,
  NetIpsecObject,
} from "../device/net_ipsec.ts";
import {
  encodeRssConfig,
  HashTunnelCtrl,
  innerFrame,
  NET_HASH_TUNNELS_ALL,
  NET_HASH_TYPES_ALL,
  NetHashTunnel,
  NetMqCommand,
  type RssConfig,
  RssContextCtrl,
} from "../device/net_rss.ts";

/** Device types the reference driver drives. */
export type DrivenType = "rng" | "blk" | "console" | "net";

/** Device-independent features the reference driver implements (accepted when offered). */
export const DRIVER_CORE_FEATURES: bigint = mask(
  F.VERSION_1,
  F.ACCESS_PLATFORM,
  F.ORDER_PLATFORM,
  F.RING_RESET,
  F.EVENT_IDX,
  F.INDIRECT_DESC,
  F.IN_ORDER,
  F.RING_PACKED,
  F.NOTIFICATION_DATA,
  F.SUSPEND,
);

/** Chains with more buffers than this go into an indirect table when VIRTIO_F_INDIRECT_DESC is negotiated. */
export const DIRECT_CHAIN_LIMIT = 2;

/** Device-type features the reference driver implements, by device type. */
export const DRIVER_TYPE_FEATURES: Record<DrivenType, bigint> = {
  rng: 0n,
  blk: BLK_DRIVER_FEATURES,
  console: bit(CONSOLE_F.MULTIPORT),
  net: mask(
    NET_F.MAC,
    NET_F.MTU,
    NET_F.STATUS,
    NET_F.MRG_RXBUF,
    NET_F.CTRL_VQ,
    NET_F.CTRL_RX,
    NET_F.CTRL_RX_EXTRA,
    NET_F.GUEST_ANNOUNCE,
    NET_F.MQ,
    NET_F.NOTF_COAL,
    NET_F.VQ_NOTF_COAL,
    NET_F.DEVICE_STATS,
    NET_F.RSS,
    NET_F.RSS_CONTEXT,
    NET_F.GUEST_CSUM,
    NET_F.CTRL_GUEST_OFFLOADS,
    NET_F.CSUM,
    NET_F.HASH_TUNNEL,
    NET_F.HOST_TSO4,
    NET_F.HOST_TSO6,
    NET_F.HOST_ECN,
    NET_F.GUEST_HDRLEN,
    NET_F.HOST_USO,
    NET_F.HOST_UDP_TUNNEL_GSO,
    NET_F.HOST_UDP_TUNNEL_GSO_CSUM,
  ) | bit(F.ADMIN_VQ),
};

/** Largest queue size the reference driver sets up. */
export const DRIVER_QUEUE_SIZE_LIMIT = 128;

/** Every workload the reference driver supports. */
export const REFERENCE_DRIVER_WORKLOADS: Workload["kind"][] = [
  "rng-read",
  "blk-read",
  "blk-write",
  "blk-capacity",
  "queue-reset",
  "suspend",
  "console-write",
  "blk-flush",
  "blk-get-id",
  "blk-discard",
  "blk-write-zeroes",
  "blk-secure-erase",
  "blk-zone",
  "blk-zone-report",
  "blk-zone-append",
  "net-send",
  "net-receive",
  "net-coalesce",
  "net-stats",
  "net-rss",
  "net-offloads",
  "net-hash-tunnel",
  "net-flow-filter",
  "net-ipsec",
];

/** Queues the reference driver sets up, by device type. */
const QUEUES: Record<DrivenType, number[]> = { rng: [0], blk: [0], console: [0, 1], net: [0, 1] };
/** Queue pairs the reference driver uses with VIRTIO_NET_F_MQ (when the device has that many). */
const NET_PAIRS_USED = 2;
/** The queues of a net device with the control queue (one queue pair, so the control queue is queue 2). */
const NET_QUEUES_WITH_CONTROL = [0, 1, NET_CTRL];
/** The largest Ethernet frame the reference driver receives (no segmentation offload): header, 1500 bytes of data. */
const NET_FRAME_MAX = 1514;
/** The net configuration's mtu field (read with VIRTIO_NET_F_MTU). */
const NET_MTU_FIELD: ConfigField = { name: "mtu", offset: 10, size: 2, feature: NET_F.MTU };
/** The net configuration's max_virtqueue_pairs field (read with VIRTIO_NET_F_MQ). */
const NET_PAIRS_FIELD: ConfigField = { name: "max_virtqueue_pairs", offset: 8, size: 2, feature: NET_F.MQ };
/** The net configuration's RSS fields (read with VIRTIO_NET_F_RSS). */
const NET_RSS_FIELDS: ConfigField[] = NET_CONFIG_LAYOUT.filter((f) =>
  f.feature === NET_F.RSS || f.feature === NET_F.HASH_TUNNEL
);
/** The longest indirection table the reference driver sets up. */
const RSS_TABLE_MAX = 128;
/** The longest RSS key the reference driver sets. */
const RSS_KEY_MAX = 40;
/** How often the reference driver looks for a received frame while a net-receive workload waits. */
const NET_RECEIVE_POLL_MS = 1;

/** Console ports the reference driver sets up with MULTIPORT at most (queues for the rest are left alone). */
const CONSOLE_PORTS_LIMIT = 4;
/** Receive buffers the reference driver keeps posted per console receive queue, and their size. */
const CONSOLE_RX_BUFFERS = 2;
const CONSOLE_RX_BYTES = 64;
/** How long the reference driver waits for one control message to be used. */
const CONSOLE_CONTROL_WAIT_MS = 100;

/** The range requests (discard, write zeroes, secure erase): workload, feature and configuration field names. */
const RANGE_KINDS = {
  11: { workload: "discard", name: "DISCARD", feature: BLK_F.DISCARD, field: "discard" },
  13: { workload: "write-zeroes", name: "WRITE_ZEROES", feature: BLK_F.WRITE_ZEROES, field: "write_zeroes" },
  14: { workload: "secure-erase", name: "SECURE_ERASE", feature: BLK_F.SECURE_ERASE, field: "secure_erase" },
} as const;

/** Zone management request types by workload op. */
const ZONE_OPS = {
  "open": BlkRequestType.ZONE_OPEN,
  "close": BlkRequestType.ZONE_CLOSE,
  "finish": BlkRequestType.ZONE_FINISH,
  "reset": BlkRequestType.ZONE_RESET,
  "reset-all": BlkRequestType.ZONE_RESET_ALL,
} as const;

/** Bounds of the driver's polling loops. */
const RESET_POLL_MS = 1;
const MAX_POLLS = 10_000;
const GENERATION_RETRIES = 16;
const USED_POLL_MS = 2;
/** Deadline of the reset that recovers from DEVICE_NEEDS_RESET. */
const RECOVERY_MS = 1000;

/** What the identification registers said. */
export type Identification =
  | { kind: "device"; deviceId: number }
  /** DeviceID 0: a placeholder with no device behind it (spec 4.2.3.1.1). */
  | { kind: "placeholder" }
  | { kind: "invalid"; reason: string };

/** How a request ended. */
export type RequestOutcome =
  /**
   * The device used the buffer and wrote `len` bytes. `implied`: used as part
   * of a VIRTIO_F_IN_ORDER batch whose element named a later buffer (the
   * device used it completely; `len` is 0 as no length was reported).
   */
  | { kind: "used"; len: number; implied: boolean }
  | { kind: "failed"; reason: string }
  | { kind: "timeout" };

/** A failure the driver reports (probe error, workload error). */
export class DriverFailure extends Error {
  override name = "DriverFailure";
}

interface Pending {
  done: Promise<RequestOutcome>;
  settle(outcome: RequestOutcome): void;
  outcome: RequestOutcome | undefined;
}

/** A set of request buffers; reusable once the request is no longer exposed. */
export class Lease {
  #released = false;
  #held = false;
  constructor(readonly addrs: number[], readonly onRelease: () => void) {}
  /** Keeps the buffers until `until` settles (a request left exposed). */
  hold(until: Promise<unknown>): void {
    this.#held = true;
    void until.then(() => {
      this.#held = false;
      this.release();
    });
  }
  release(): void {
    if (this.#held || this.#released) return;
    this.#released = true;
    this.onRelease();
  }
}

function message(e: unknown): string {
  return errorText(e);
}

function drivenType(deviceId: number): DrivenType | undefined {
  if (deviceId === DEVICE_IDS.rng) return "rng";
  if (deviceId === DEVICE_IDS.blk) return "blk";
  if (deviceId === DEVICE_IDS.console) return "console";
  if (deviceId === DEVICE_IDS.net) return "net";
  return undefined;
}

/**
 * The reference driver, attached to one device endpoint.
 *
 * @example
 * ```ts
 * import { ReferenceDriver } from "./driver.ts";
 * import { ScenarioRunner } from "../../roles/harness_device.ts";
 * import { InProcessDriverTarget } from "../../adapters/in_process.ts";
 * const target = new InProcessDriverTarget(
 *   { name: "ref", transports: ["mmio"], deviceTypes: ["rng"], workloads: ["rng-read"] },
 *   (endpoint) => new ReferenceDriver(endpoint),
 * );
 * const trace = await new ScenarioRunner(target, "rng").run({});
 * console.log(trace.probe.bound, trace.results[0]?.ok); // true true
 * ```
 */
export class ReferenceDriver implements DriverSession {
  /** The endpoint's register file (MMIO window; on PCI the configuration space). */
  protected readonly regs: RegisterSpace;
  #transport: DriverTransport | undefined;
  /** The last status value written (0 after a reset): every write is a superset of it. */
  protected driverStatus = 0;
  /** The device type found at probe. */
  protected deviceType: DrivenType | undefined;
  /** The features the device offered (after identification). */
  protected offered = 0n;
  /** The features both sides agreed on. */
  protected negotiated = 0n;
  /** Initialization finished (DRIVER_OK set) and the device was not reset since. */
  protected bound = false;
  /** The driver has begun initializing the device (it owns it until removal). */
  protected touched = false;
  /** A configuration change was notified since the configuration was last read. */
  protected configStale = false;
  /** Live queues by index. */
  protected readonly queues: Map<number, DriverQueue> = new Map();
  /** Configuration fields read at probe, by name. */
  protected readonly config: Map<string, number> = new Map();
  /** The last error the interrupt handler ran into, for diagnosis. */
  lastError: string | undefined;

  /** Where rings and indirect tables are allocated (rewound when the device is reset). */
  protected readonly ringAlloc: BumpAllocator;
  /** Where the driver's time comes from: the harness's clock when it offers one (virtual time in-process). */
  protected readonly clock: Clock;
  #bufAlloc: BumpAllocator;
  #bufEpoch = 0;
  #buffersInUse = 0;
  #pending = new Map<DriverQueue, Map<number, Pending>>();
  #lock: Promise<void> = Promise.resolve();
  #harvesting: Promise<void> = Promise.resolve();
  #closed = false;
  #irqWanted = false;
  #irqTask: Promise<void> | undefined;

  /** A driver over the harness device's endpoint. */
  constructor(protected readonly endpoint: HarnessDeviceEndpoint) {
    this.regs = endpoint.registers;
    this.clock = endpoint.clock ?? realClock;
    if (endpoint.transport === "mmio") this.#transport = new MmioDriverTransport(endpoint.registers);
    const { base, size } = endpoint.memory;
    const ringBytes = Math.min(Math.floor(size / 2), Math.max(64 * 1024, Math.floor(size / 8)));
    this.ringAlloc = new BumpAllocator(base, base + ringBytes);
    this.#bufAlloc = new BumpAllocator(base + ringBytes, base + size);
    endpoint.onInterrupt((level) => this.#onLine(level));
  }

  // ---------------------------------------------------------------- plumbing

  /** The transport the device is presented on (opened at the first probe). */
  protected get t(): DriverTransport {
    if (!this.#transport) throw new DriverFailure("The driver has not probed the device yet");
    return this.#transport;
  }

  /** Opens the endpoint's transport once (on PCI: BAR placement and the capability walk). */
  protected async openTransport(): Promise<DriverTransport> {
    this.#transport ??= await this.connect();
    return this.#transport;
  }

  /** Opens the endpoint's transport (the seam PCI driver mutants override to choose capabilities differently). */
  protected connect(): Promise<DriverTransport> {
    return openDriverTransport(this.endpoint);
  }

  /** A 32-bit read of a control register. */
  protected read32(offset: number): Promise<number> {
    return this.regs.read(offset, 4);
  }
  /** A 32-bit write of a control register. */
  protected write32(offset: number, value: number): Promise<void> {
    return this.regs.write(offset, 4, value >>> 0);
  }

  /** Runs `fn` with exclusive use of the registers (probe, submission, interrupt handling, removal). */
  protected async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const previous = this.#lock;
    let release!: () => void;
    this.#lock = new Promise<void>((r) => release = r);
    await previous;
    try {
      return await fn();
    } finally {
      release();
    }
  }

  // ------------------------------------------------------------------- probe

  /**
   * Identification, then the initialization sequence of spec 3.1.1. Returns
   * `{ bound: false }` without an error for a placeholder (DeviceID 0).
   */
  async probe(deadlineMs: number): Promise<ProbeResult> {
    const deadline = this.clock.now() + deadlineMs;
    const result = await this.probeLocked(deadline);
    // The console handshake runs with the registers free: the device answers on its queues meanwhile.
    if (result.bound && this.deviceType === "console") await this.startConsole(deadline);
    if (result.bound && this.deviceType === "net") await this.startNet(deadline);
    return result;
  }

  /** The probe itself, with the registers held. */
  protected probeLocked(deadline: number): Promise<ProbeResult> {
    return this.exclusive(async () => {
      this.bound = false;
      try {
        return await this.initialize(deadline);
      } catch (e) {
        if (this.driverStatus !== 0 && !(this.driverStatus & Status.FAILED)) {
          try {
            await this.addStatus(Status.FAILED);
          } catch {
            // The device is gone; the error below says why.
          }
        }
        return { bound: false, error: message(e) };
      }
    });
  }

  /** The whole probe: identification, reset, negotiation, configuration, queues, DRIVER_OK. */
  protected async initialize(deadline: number): Promise<ProbeResult> {
    await this.openTransport();
    const id = await this.identify();
    if (id.kind === "placeholder") return { bound: false };
    if (id.kind === "invalid") return { bound: false, error: id.reason };
    const type = drivenType(id.deviceId);
    if (!type) return { bound: false, error: `This driver does not drive device ID ${id.deviceId}` };
    this.deviceType = type;
    await this.startOver(deadline);
    await this.addStatus(Status.ACKNOWLEDGE);
    await this.addStatus(Status.DRIVER);
    const offered = await this.readDeviceFeatures();
    this.offered = offered;
    if (this.t.modern && !(offered & bit(F.VERSION_1))) {
      return await this.failProbe("The device does not offer VIRTIO_F_VERSION_1 and this driver has no legacy mode");
    }
    this.statsSupported = undefined;
    // A zoned block device's model decides what may be accepted with ZONED (spec 5.2.5.1): read it first.
    this.zonedModel = type === "blk" && this.t.modern && (offered & bit(BLK_F.ZONED))
      ? await this.t.readConfig(BLK_ZONED_MODEL_OFFSET, 1)
      : undefined;
    const accepted = this.chooseFeatures(offered, type);
    await this.writeDriverFeatures(accepted);
    if (!(await this.featuresOk())) {
      return await this.failProbe("The device did not accept the driver's features (FEATURES_OK reads back clear)");
    }
    this.negotiated = accepted;
    await this.readDeviceConfig(type, accepted, deadline);
    for (const q of await this.queuesToSetUp(type)) await this.setupQueue(q);
    await this.driverOk();
    this.bound = true;
    return { bound: true };
  }

  /** The queues set up at probe: a console with MULTIPORT adds its control queues and the queues of its ports. */
  protected async queuesToSetUp(type: DrivenType): Promise<number[]> {
    if (type === "net") return [...this.netQueues(), ...await this.adminQueues()];
    if (type !== "console" || !(this.negotiated & bit(CONSOLE_F.MULTIPORT))) return QUEUES[type];
    const ports = Math.min(CONSOLE_PORTS_LIMIT, Math.max(1, await this.t.readConfig(4, 4)));
    return Array.from({ length: 2 + 2 * ports }, (_, q) => q);
  }

  // ------------------------------------------------------------------ admin

  /** The administration virtqueue in use (VIRTIO_F_ADMIN_VQ negotiated on PCI), set up at probe. */
  protected adminQueue: number | undefined;

  /** The first administration virtqueue when VIRTIO_F_ADMIN_VQ was negotiated on PCI (none otherwise). */
  protected async adminQueues(): Promise<number[]> {
    this.adminQueue = undefined;
    if (!(this.negotiated & bit(F.ADMIN_VQ)) || !(this.t instanceof PciDriverTransport)) return [];
    if ((await this.t.common.read(CommonCfg.admin_queue_num, 2)) === 0) return [];
    this.adminQueue = await this.t.common.read(CommonCfg.admin_queue_index, 2);
    return [this.adminQueue];
  }

  /**
   * Sends one self-group administration command on the administration virtqueue, with room for `resultBytes` of
   * result (both parts a multiple of 8 bytes); undefined when the device did not use it in time.
   */
  protected async adminCommand(
    opcode: number,
    data: Uint8Array,
    resultBytes: number,
    deadline: number,
  ): Promise<AdminResult | undefined> {
    if (this.adminQueue === undefined) return undefined;
    const readable = encodeAdminCommand({ opcode, groupType: AdminGroupType.SELF, memberId: 0, data });
    const writable = roundUp8(8 + resultBytes);
    const lease = this.#lease([readable.length, writable]);
    try {
      const [out, back] = lease.addrs as [number, number];
      await this.endpoint.memory.write(out, readable);
      await this.endpoint.memory.write(back, new Uint8Array(writable));
      const outcome = await this.submit(
        this.adminQueue,
        [
          { addr: out, len: readable.length, writable: false },
          { addr: back, len: writable, writable: true },
        ],
        Math.min(deadline, this.clock.now() + CONSOLE_CONTROL_WAIT_MS),
        lease,
      );
      if (outcome.kind !== "used") return undefined;
      return decodeAdminResult(await this.endpoint.memory.read(back, writable), outcome.len);
    } finally {
      lease.release();
    }
  }

  /**
   * Flow filters (spec 5.1.6.9): LIST_USE of what LIST_QUERY reports, the three capabilities set to what the device
   * reports, then a group, a classifier (Ethernet with the EtherType, IPv4 with the protocol and destination, TCP
   * with the destination port) and a rule directing TCP to 10.0.0.1 port 80 to receiveq1, destroyed in reverse order.
   */
  protected async netFlowFilter(deadline: number): Promise<WorkloadResult> {
    this.#requireBound("net", "net-flow-filter");
    if (this.adminQueue === undefined) {
      return { ok: false, error: "net-flow-filter: no administration virtqueue (VIRTIO_F_ADMIN_VQ on PCI)" };
    }
    const step = async (what: string, opcode: number, data: Uint8Array, resultBytes = 0) => {
      const r = await this.adminCommand(opcode, data, resultBytes, deadline);
      if (!r || r.status !== AdminStatus.OK) {
        throw new Error(`${what} answered ${r ? `status ${r.status}` : "nothing"}`);
      }
      return r.result;
    };
    try {
      const supported = decodeBitmap(await step("LIST_QUERY", AdminOpcode.LIST_QUERY, new Uint8Array(0), 64));
      await step("LIST_USE", AdminOpcode.LIST_USE, encodeBitmap([...supported].filter((o) => o < 64)));
      const caps = decodeBitmap(await step("CAP_ID_LIST_QUERY", AdminOpcode.CAP_ID_LIST_QUERY, new Uint8Array(0), 512));
      const ids = [NetFfCap.RESOURCE, NetFfCap.SELECTOR, NetFfCap.ACTION];
      if (!ids.every((c) => caps.has(c))) return { ok: false, error: "net-flow-filter: no flow filter capabilities" };
      const device = new Map<number, Uint8Array>();
      for (const id of ids) {
        const get = new Uint8Array(8);
        le.setU16(get, 0, id);
        device.set(id, await step(`DEVICE_CAP_GET 0x${id.toString(16)}`, AdminOpcode.DEVICE_CAP_GET, get, 512));
      }
      for (const id of this.ffCapsToSet()) {
        const value = this.ffDriverCap(id, device.get(id) ?? new Uint8Array(0));
        const set = new Uint8Array(8 + value.length);
        le.setU16(set, 0, id);
        set.set(value, 8);
        await step(`DRIVER_CAP_SET 0x${id.toString(16)}`, AdminOpcode.DRIVER_CAP_SET, set);
      }
      for (const [type, body, id = 0] of this.ffObjects()) {
        const data = encodeObjectData(type, id, body);
        await step(`create object 0x${type.toString(16)}`, AdminOpcode.RESOURCE_OBJ_CREATE, data);
      }
      for (const [type, id] of this.ffDestroyOrder()) {
        const data = encodeObjectData(type, id);
        await step(`destroy object 0x${type.toString(16)}`, AdminOpcode.RESOURCE_OBJ_DESTROY, data);
      }
      return { ok: true };
    } catch (e) {
      return { ok: false, error: `net-flow-filter: ${errorText(e)}` };
    }
  }

  /** Sends an administration command that must answer OK; its result (throws a sentence otherwise). */
  protected async adminStep(
    what: string,
    opcode: number,
    data: Uint8Array,
    resultBytes: number,
    deadline: number,
  ): Promise<Uint8Array> {
    const r = await this.adminCommand(opcode, data, resultBytes, deadline);
    if (!r || r.status !== AdminStatus.OK) throw new Error(`${what} answered ${r ? `status ${r.status}` : "nothing"}`);
    return r.result;
  }

  /**
   * IPsec SAs (spec 5.1.6.10): LIST_USE of what LIST_QUERY reports, CAP_ID_LIST_QUERY, both IPsec capabilities read
   * and set to what the device reports, then an outbound and an inbound SA of the first mode reported, destroyed.
   */
  protected async netIpsec(deadline: number): Promise<WorkloadResult> {
    this.#requireBound("net", "net-ipsec");
    if (this.adminQueue === undefined) {
      return { ok: false, error: "net-ipsec: no administration virtqueue (VIRTIO_F_ADMIN_VQ on PCI)" };
    }
    const step = (what: string, opcode: number, data: Uint8Array, resultBytes = 0) =>
      this.adminStep(what, opcode, data, resultBytes, deadline);
    try {
      const supported = decodeBitmap(await step("LIST_QUERY", AdminOpcode.LIST_QUERY, new Uint8Array(0), 64));
      await step("LIST_USE", AdminOpcode.LIST_USE, encodeBitmap([...supported].filter((o) => o < 64)));
      const caps = decodeBitmap(await step("CAP_ID_LIST_QUERY", AdminOpcode.CAP_ID_LIST_QUERY, new Uint8Array(0), 512));
      const ids = [NetIpsecCap.RESOURCE, NetIpsecCap.SA].filter((c) => caps.has(c));
      if (ids.length < 2) return { ok: false, error: "net-ipsec: no IPsec capabilities" };
      const device = new Map<number, Uint8Array>();
      for (const id of ids) {
        const get = new Uint8Array(8);
        le.setU16(get, 0, id);
        device.set(id, await step(`DEVICE_CAP_GET 0x${id.toString(16)}`, AdminOpcode.DEVICE_CAP_GET, get, 512));
      }
      for (const id of this.ipsecCapsUsed()) {
        const value = device.get(id) ?? new Uint8Array(0);
        const set = new Uint8Array(8 + value.length);
        le.setU16(set, 0, id);
        set.set(value, 8);
        await step(`DRIVER_CAP_SET 0x${id.toString(16)}`, AdminOpcode.DRIVER_CAP_SET, set);
      }
      const mode = decodeIpsecModes(device.get(NetIpsecCap.SA) ?? new Uint8Array(0))[0];
      if (!mode) return { ok: false, error: "net-ipsec: the SA capability lists no mode" };
      const sas: [number, Uint8Array][] = [
        [NetIpsecObject.OUTB_SA, this.ipsecSa(mode, false)],
        [NetIpsecObject.INB_SA, this.ipsecSa(mode, true)],
      ];
      for (const [type, sa] of sas) {
        await step(`create SA 0x${type.toString(16)}`, AdminOpcode.RESOURCE_OBJ_CREATE, encodeObjectData(type, 0, sa));
      }
      for (const [type] of sas.reverse()) {
        await step(`destroy SA 0x${type.toString(16)}`, AdminOpcode.RESOURCE_OBJ_DESTROY, encodeObjectData(type, 0));
      }
      return { ok: true };
    } catch (e) {
      return { ok: false, error: `net-ipsec: ${errorText(e)}` };
    }
  }

  /** The IPsec capabilities the workload sets (both, as 5.1.9.7.5 asks). */
  protected ipsecCapsUsed(): number[] {
    return [NetIpsecCap.RESOURCE, NetIpsecCap.SA];
  }

  /**
   * The SA the workload creates in `mode`'s terms: direction, SPI, the lowest algorithms the mode lists with 16-byte
   * keys, an IPv4 tunnel header for an outbound SA of a tunnel mode.
   */
  protected ipsecSa(mode: IpsecModeCap, inbound: boolean): Uint8Array {
    const tunnel = !inbound && (mode.mode === IpsecMode.ESP_TUNNEL || mode.mode === IpsecMode.AH_TUNNEL);
    return encodeIpsecSa({
      mode: mode.mode,
      direction: inbound ? IpsecDirection.INBOUND : IpsecDirection.OUTBOUND,
      spi: inbound ? 0x101 : 0x201,
      options: 0n,
      replayWindow: inbound ? Math.min(32, mode.maxReplayWindow) : 0,
      cipherAlgo: lowestAlgorithm(mode.cipherAlgos),
      cipherKeyLength: Math.min(16, mode.maxCipherKey),
      authAlgo: lowestAlgorithm(mode.hmacAlgos),
      authKeyLength: Math.min(16, mode.maxAuthKey),
      ...(tunnel ? { tunnel: { src: [192, 0, 2, 1], dst: [198, 51, 100, 1], ttl: 64 } } : {}),
    });
  }

  /** The flow filter capabilities the workload sets (all three, as 5.1.9.6.5 asks). */
  protected ffCapsToSet(): number[] {
    return [NetFfCap.RESOURCE, NetFfCap.SELECTOR, NetFfCap.ACTION];
  }

  /** The objects the workload destroys, in order (type, id): the reverse of their creation. */
  protected ffDestroyOrder(): [number, number][] {
    return this.ffObjects().map(([type, , id]) => [type, id ?? 0] as [number, number]).reverse();
  }

  /** The driver capability set for flow filter capability `id`: what the device reports. */
  protected ffDriverCap(_id: number, device: Uint8Array): Uint8Array {
    return device;
  }

  /** The flow filter objects the workload creates, in order (type, resource_obj_specific_data, id: default 0). */
  protected ffObjects(): [number, Uint8Array, number?][] {
    return [
      [NetFfObject.GROUP, encodeFfGroup(1)],
      [NetFfObject.CLASSIFIER, encodeSelectors(ffTcpClassifier())],
      [
        NetFfObject.RULE,
        encodeFfRule({
          groupId: 0,
          classifierId: 0,
          priority: 0,
          action: NetFfAction.DIRECT_RX_VQ,
          vqIndex: 0,
          keys: ffTcpKeys([10, 0, 0, 1], 80),
        }),
      ],
    ];
  }

  // --------------------------------------------------------------------- net

  /** max_virtqueue_pairs (1 without MQ). */
  protected netMaxPairs = 1;
  /** Queue pairs the driver uses: set up at probe; in force once VQ_PAIRS_SET was acknowledged. */
  protected netPairsWanted = 1;
  protected netPairs = 1;
  #txTurn = 0;

  /** The control queue: 2N with MQ (N = max_virtqueue_pairs), else queue 2. */
  protected get netControlQueue(): number {
    return (this.negotiated & bit(NET_F.MQ)) !== 0n ? 2 * this.netMaxPairs : NET_CTRL;
  }

  /** The queues of a net device: the pairs the driver uses and the control queue. */
  protected netQueues(): number[] {
    this.netMaxPairs = this.netPairsWanted = this.netPairs = 1;
    if (!(this.negotiated & bit(NET_F.CTRL_VQ))) return QUEUES.net;
    if (!(this.negotiated & bit(NET_F.MQ))) return NET_QUEUES_WITH_CONTROL;
    const max = this.config.get("max_virtqueue_pairs") ?? 1;
    this.netMaxPairs = max >= 1 && max <= 0x8000 ? max : 1;
    this.netPairsWanted = Math.min(this.netMaxPairs, NET_PAIRS_USED);
    return [...Array.from({ length: 2 * this.netPairsWanted }, (_, q) => q), this.netControlQueue];
  }

  /** Bytes of one receive buffer: a console's, or a net header and the largest frame. */
  protected get rxBytes(): number {
    return this.deviceType === "net" ? netHeaderSize(this.negotiated) + this.netFrameMax : CONSOLE_RX_BYTES;
  }

  /** The longest frame without segmentation offload: mtu plus the Ethernet header with MTU, else 1514. */
  protected get netFrameMax(): number {
    const mtu = this.config.get("mtu");
    return (this.negotiated & bit(NET_F.MTU)) !== 0n && mtu !== undefined ? mtu + 14 : NET_FRAME_MAX;
  }

  /**
   * After DRIVER_OK on a net device: receive buffers on receiveq1, then (with the control queue) the receive mode a
   * plain host stack wants: promiscuous and all-multicast off, broadcast on (CTRL_RX_EXTRA), an empty MAC table.
   */
  protected async startNet(deadline: number): Promise<void> {
    try {
      await this.#startNet(deadline);
    } catch (e) {
      // The device failed meanwhile (DEVICE_NEEDS_RESET, a reset): the driver goes on unbound or recovered, the
      // probe itself finished.
      this.lastError = message(e);
    }
  }

  async #startNet(deadline: number): Promise<void> {
    for (let p = 0; p < this.netPairsWanted; p++) await this.postReceive(2 * p, (data) => this.#netInput(data));
    if (this.netPairsWanted > 1) {
      const n = new Uint8Array(2);
      le.setU16(n, 0, this.netPairsRequested());
      const ack = await this.netControl(NetCtrl.MQ, NetCtrl.MQ_VQ_PAIRS_SET, n, deadline);
      if (ack === NetCtrl.OK) this.netPairs = this.netPairsWanted;
    }
    for (const c of this.netRxModeCommands(this.negotiated)) await this.netControl(c.cls, c.command, c.data, deadline);
  }

  /** The control commands {@link startNet} sends for the negotiated features. */
  protected netRxModeCommands(negotiated: bigint): { cls: number; command: number; data: Uint8Array }[] {
    const has = (f: number) => (negotiated & bit(f)) !== 0n;
    if (!has(NET_F.CTRL_VQ) || !has(NET_F.CTRL_RX)) return [];
    const off = new Uint8Array([0]);
    return [
      { cls: NetCtrl.RX, command: NetCtrl.RX_PROMISC, data: off },
      { cls: NetCtrl.RX, command: NetCtrl.RX_ALLMULTI, data: off },
      ...(has(NET_F.CTRL_RX_EXTRA) ? [{ cls: NetCtrl.RX, command: NetCtrl.RX_NOBCAST, data: off }] : []),
      { cls: NetCtrl.MAC, command: NetCtrl.MAC_TABLE_SET, data: new Uint8Array(8) },
    ];
  }

  /**
   * Sends one command on the control queue (class, command and data device-readable, the ack byte device-writable)
   * and waits until it is used, at most {@link CONSOLE_CONTROL_WAIT_MS}; returns the ack, undefined on a timeout.
   */
  protected async netControl(
    cls: number,
    command: number,
    data: Uint8Array,
    deadline: number,
  ): Promise<number | undefined> {
    return (await this.netQuery(cls, command, data, 0, deadline))?.ack;
  }

  /**
   * Notification coalescing: VQ_SET for `queue` (an enabled transmit or receive queue, VQ_NOTF_COAL negotiated), or
   * TX_SET and RX_SET for every queue (NOTF_COAL negotiated); refused without the feature the command needs.
   */
  protected async netCoalesce(
    usecs: number,
    packets: number,
    queue: number | undefined,
    deadline: number,
  ): Promise<WorkloadResult> {
    this.#requireBound("net", "net-coalesce");
    const params = new Uint8Array(8);
    le.setU32(params, 0, usecs);
    le.setU32(params, 4, packets);
    const sent: { command: number; data: Uint8Array }[] = [];
    if (queue !== undefined) {
      if (!this.mayCoalesce(NET_F.VQ_NOTF_COAL)) {
        return { ok: false, error: "net-coalesce: VIRTIO_NET_F_VQ_NOTF_COAL was not negotiated" };
      }
      if (queue >= 2 * this.netPairs || !this.queues.has(queue)) {
        return { ok: false, error: `net-coalesce: queue ${queue} is no enabled transmit or receive queue` };
      }
      const data = new Uint8Array(12);
      le.setU16(data, 0, this.coalesceQueueIndex(queue));
      data.set(params, 4);
      sent.push({ command: NetCtrl.NOTF_COAL_VQ_SET, data });
    } else {
      if (!this.mayCoalesce(NET_F.NOTF_COAL)) {
        return { ok: false, error: "net-coalesce: VIRTIO_NET_F_NOTF_COAL was not negotiated" };
      }
      sent.push({ command: NetCtrl.NOTF_COAL_TX_SET, data: params }, {
        command: NetCtrl.NOTF_COAL_RX_SET,
        data: params,
      });
    }
    for (const c of sent) {
      const ack = await this.netControl(NetCtrl.NOTF_COAL, c.command, c.data, deadline);
      if (ack !== NetCtrl.OK) return { ok: false, error: `net-coalesce: the device answered ${ack ?? "nothing"}` };
    }
    return { ok: true };
  }

  /** Whether the coalescing commands that need `feature` (NOTF_COAL or VQ_NOTF_COAL) may be sent. */
  protected mayCoalesce(feature: number): boolean {
    return (this.negotiated & bit(feature)) !== 0n;
  }

  /** The statistic types the device supports (STATS_QUERY), once asked. */
  protected statsSupported: bigint | undefined;

  /**
   * Device statistics of queue `queue`: asks STATS_QUERY once, then STATS_GET for every supported type that is valid
   * for the queue, with room for every reply.
   */
  protected async netStats(queue: number, deadline: number): Promise<WorkloadResult> {
    this.#requireBound("net", "net-stats");
    if (!(this.negotiated & bit(NET_F.DEVICE_STATS))) {
      return { ok: false, error: "net-stats: VIRTIO_NET_F_DEVICE_STATS was not negotiated" };
    }
    if (this.statsSupported === undefined) {
      const q = await this.netQuery(NetCtrl.STATS, NetCtrl.STATS_QUERY, new Uint8Array(0), 8, deadline);
      if (!q || q.ack !== NetCtrl.OK) {
        return { ok: false, error: `net-stats: STATS_QUERY answered ${q?.ack ?? "nothing"}` };
      }
      this.statsSupported = BigInt(le.u32(q.result, 0)) | (BigInt(le.u32(q.result, 4)) << 32n);
    }
    const types = this.statsTypesFor(queue) & this.statsSupported;
    if (types === 0n) return { ok: false, error: `net-stats: the device supports no statistics of queue ${queue}` };
    const entry = new Uint8Array(16);
    le.setU16(entry, 0, queue);
    le.setU32(entry, 8, Number(types & 0xffff_ffffn));
    le.setU32(entry, 12, Number(types >> 32n));
    const room = this.statsRoom(types);
    const r = await this.netQuery(NetCtrl.STATS, NetCtrl.STATS_GET, entry, room, deadline);
    if (!r || r.ack !== NetCtrl.OK) return { ok: false, error: `net-stats: STATS_GET answered ${r?.ack ?? "nothing"}` };
    return { ok: true, data: r.result };
  }

  /**
   * Receive-side scaling: RSS_CONFIG with {@link rssConfig}, then with `contexts` and VIRTIO_NET_F_RSS_CONTEXT the
   * number of contexts the device has (CAP_GET), `contexts` at most, each added with the same parameters.
   */
  protected async netRss(contexts: number, deadline: number): Promise<WorkloadResult> {
    this.#requireBound("net", "net-rss");
    if (!this.mayRss(NET_F.RSS)) return { ok: false, error: "net-rss: VIRTIO_NET_F_RSS was not negotiated" };
    const rss = this.rssConfig();
    const ack = await this.netControl(NetCtrl.MQ, NetMqCommand.RSS_CONFIG, encodeRssConfig(rss), deadline);
    if (ack !== NetCtrl.OK) return { ok: false, error: `net-rss: RSS_CONFIG answered ${ack ?? "nothing"}` };
    if (contexts <= 0) return { ok: true };
    if (!this.mayRss(NET_F.RSS_CONTEXT)) {
      return { ok: false, error: "net-rss: VIRTIO_NET_F_RSS_CONTEXT was not negotiated" };
    }
    const cap = await this.netQuery(RssContextCtrl.CLASS, RssContextCtrl.CAP_GET, new Uint8Array(0), 2, deadline);
    if (!cap || cap.ack !== NetCtrl.OK) {
      return { ok: false, error: `net-rss: CAP_GET answered ${cap?.ack ?? "nothing"}` };
    }
    const n = Math.min(contexts, this.rssContextIds(le.u16(cap.result, 0)));
    const body = encodeRssConfig(rss);
    for (let id = 1; id <= n; id++) {
      const data = new Uint8Array(8 + body.length);
      le.setU16(data, 0, id);
      data.set(body, 8);
      const a = await this.netControl(RssContextCtrl.CLASS, RssContextCtrl.ADD, data, deadline);
      if (a !== NetCtrl.OK) return { ok: false, error: `net-rss: ADD of context ${id} answered ${a ?? "nothing"}` };
    }
    return { ok: true, value: n };
  }

  /**
   * Guest offloads: GUEST_OFFLOADS_SET with the bits of `offloads` whose feature was negotiated (CTRL_GUEST_OFFLOADS
   * negotiated); bits with no offload behind them are left out.
   */
  protected async netOffloads(offloads: readonly number[], deadline: number): Promise<WorkloadResult> {
    this.#requireBound("net", "net-offloads");
    if (!(this.negotiated & bit(NET_F.CTRL_GUEST_OFFLOADS))) {
      return { ok: false, error: "net-offloads: VIRTIO_NET_F_CTRL_GUEST_OFFLOADS was not negotiated" };
    }
    let mask = 0n;
    for (const b of offloads) {
      const feature = GUEST_OFFLOAD_FEATURES[b];
      if (feature !== undefined && this.mayOffload(feature)) mask |= 1n << BigInt(b);
    }
    const data = new Uint8Array(8);
    le.setU32(data, 0, Number(mask & 0xffff_ffffn));
    le.setU32(data, 4, Number(mask >> 32n));
    const ack = await this.netControl(NetCtrl.GUEST_OFFLOADS, NetCtrl.GUEST_OFFLOADS_SET, data, deadline);
    if (ack !== NetCtrl.OK) {
      return { ok: false, error: `net-offloads: GUEST_OFFLOADS_SET answered ${ack ?? "nothing"}` };
    }
    return { ok: true, value: Number(mask & 0xffff_ffffn) };
  }

  /**
   * The inner header hash: HASH_TUNNEL_SET with the types of `types` that supported_tunnel_types lists and the spec
   * defines (HASH_TUNNEL negotiated).
   */
  protected async netHashTunnel(types: number, deadline: number): Promise<WorkloadResult> {
    this.#requireBound("net", "net-hash-tunnel");
    if (!this.mayHashTunnel()) {
      return { ok: false, error: "net-hash-tunnel: VIRTIO_NET_F_HASH_TUNNEL was not negotiated" };
    }
    const data = new Uint8Array(4);
    le.setU32(data, 0, types & this.tunnelTypesSupported());
    const ack = await this.netControl(HashTunnelCtrl.CLASS, HashTunnelCtrl.SET, data, deadline);
    if (ack !== NetCtrl.OK) {
      return { ok: false, error: `net-hash-tunnel: HASH_TUNNEL_SET answered ${ack ?? "nothing"}` };
    }
    return { ok: true, value: le.u32(data, 0) };
  }

  /** Whether HASH_TUNNEL_SET may be sent. */
  protected mayHashTunnel(): boolean {
    return (this.negotiated & bit(NET_F.HASH_TUNNEL)) !== 0n;
  }

  /** The encapsulation types the driver may enable: those supported_tunnel_types lists that the spec defines. */
  protected tunnelTypesSupported(): number {
    return (this.config.get("supported_tunnel_types") ?? 0) & NET_HASH_TUNNELS_ALL;
  }

  /** Whether the offload that `feature` allows may be enabled. */
  protected mayOffload(feature: number): boolean {
    return (this.negotiated & bit(feature)) !== 0n;
  }

  /** Whether the RSS commands that need `feature` (RSS or RSS_CONTEXT) may be sent. */
  protected mayRss(feature: number): boolean {
    return (this.negotiated & bit(feature)) !== 0n;
  }

  /** How many context ids (1 … n) the driver may use when the device has `max` contexts. */
  protected rssContextIds(max: number): number {
    return max;
  }

  /**
   * The RSS parameters the driver sets: the supported hash types, a key as long as the device takes (40 bytes at
   * most), and a power-of-two indirection table as long as the device allows (128 entries at most) spreading over the
   * receive queues the driver set up; unclassified packets to receiveq1.
   */
  protected rssConfig(): RssConfig {
    const tableLength = this.config.get("rss_max_indirection_table_length") ?? 1;
    let entries = 1;
    while (entries * 2 <= Math.min(tableLength, RSS_TABLE_MAX)) entries *= 2;
    const keySize = Math.max(1, Math.min(this.config.get("rss_max_key_size") ?? RSS_KEY_MAX, RSS_KEY_MAX));
    return {
      hashTypes: (this.config.get("supported_hash_types") ?? 0) & NET_HASH_TYPES_ALL,
      tableMask: entries - 1,
      unclassified: 0,
      table: Array.from({ length: entries }, (_, i) => i % this.netPairsWanted),
      maxTxVq: this.netPairs,
      key: Uint8Array.from({ length: keySize }, (_, i) => (i * 73 + 0x6d) & 0xff),
    };
  }

  /** The statistic types valid for queue `queue`: the control queue's, a receive queue's or a transmit queue's. */
  protected statsTypesFor(queue: number): bigint {
    if (queue === this.netControlQueue) return STATS_TYPE.CVQ;
    return queue % 2 === 0 ? STATS_RX_TYPES : STATS_TX_TYPES;
  }

  /** Bytes a STATS_GET result needs for `types`: each reply, header included. */
  protected statsRoom(types: bigint): number {
    let room = 0;
    for (let t = 0n; t < 64n; t++) if (types & (1n << t)) room += STATS_REPLY_BYTES[Number(t)] ?? 0;
    return room;
  }

  /** A control command with a result buffer of `resultBytes` before the ack; the ack and the result. */
  protected async netQuery(
    cls: number,
    command: number,
    data: Uint8Array,
    resultBytes: number,
    deadline: number,
  ): Promise<{ ack: number; result: Uint8Array } | undefined> {
    const lease = this.#lease([2 + data.length, Math.max(1, resultBytes), 1]);
    try {
      const [out, result, ack] = lease.addrs as [number, number, number];
      const bytes = new Uint8Array(2 + data.length);
      bytes.set([cls, command]);
      bytes.set(data, 2);
      await this.endpoint.memory.write(out, bytes);
      await this.endpoint.memory.write(ack, new Uint8Array([0xff]));
      const chain: BufferSpec[] = [{ addr: out, len: bytes.length, writable: false }];
      if (resultBytes > 0) chain.push({ addr: result, len: resultBytes, writable: true });
      chain.push({ addr: ack, len: 1, writable: true });
      const outcome = await this.submit(
        this.netControlQueue,
        chain,
        Math.min(deadline, this.clock.now() + CONSOLE_CONTROL_WAIT_MS),
        lease,
      );
      if (outcome.kind !== "used") return undefined;
      return {
        ack: (await this.endpoint.memory.read(ack, 1))[0]!,
        result: resultBytes > 0 ? await this.endpoint.memory.read(result, resultBytes) : new Uint8Array(0),
      };
    } finally {
      lease.release();
    }
  }

  /** The vq_index a VQ_SET names for queue `queue`. */
  protected coalesceQueueIndex(queue: number): number {
    return queue;
  }

  /** Frames received and not yet taken by a net-receive workload (oldest first, at most 64). */
  readonly netInput: Uint8Array[] = [];

  /** One used receive buffer: the header, then the frame (one buffer holds a whole frame of the driver's size). */
  #netInput(data: Uint8Array): void {
    const size = this.receiveHeaderSize();
    if (data.length < size) return;
    const header = decodeNetHeader(data, size);
    if (!this.acceptsReceived(header.flags) || this.malformedReceive(header)) return;
    if (header.numBuffers !== undefined && header.numBuffers > 1) {
      this.lastError = `a received packet spread over ${header.numBuffers} buffers of ${this.rxBytes} bytes`;
      return;
    }
    this.netInput.push(this.receivedFrame(header, data.slice(size)));
    if (this.netInput.length > 64) this.netInput.shift();
  }

  /**
   * The frame a received packet hands on: as the device wrote it, its checksum completed when the header says
   * NEEDS_CSUM (GUEST_CSUM negotiated, RSC_INFO clear: csum_start and csum_offset then say where).
   */
  protected receivedFrame(header: NetHeader, frame: Uint8Array): Uint8Array {
    const partial = (header.flags & NetHdrFlag.NEEDS_CSUM) !== 0 && (header.flags & NetHdrFlag.RSC_INFO) === 0;
    if (partial && (this.negotiated & bit(NET_F.GUEST_CSUM)) !== 0n) {
      completeChecksum(frame, header.csumStart, header.csumOffset);
    }
    return frame;
  }

  /**
   * Whether a received header asks for what no packet may (spec 5.1.9.4.2): both UDP tunnel bits; a tunnel bit without
   * NEEDS_CSUM, with DATA_VALID or over GSO_NONE; UDP_TUNNEL_CSUM without a tunnel bit. Such a packet is dropped.
   */
  protected malformedReceive(h: NetHeader): boolean {
    const both = NetGso.UDP_TUNNEL_IPV4 | NetGso.UDP_TUNNEL_IPV6;
    const tunnel = h.gsoType & both;
    if (tunnel === both) return true;
    if (tunnel !== 0) {
      return (h.flags & NetHdrFlag.NEEDS_CSUM) === 0 || (h.flags & NetHdrFlag.DATA_VALID) !== 0 ||
        (h.gsoType & 0x1f) === NetGso.NONE;
    }
    return (h.flags & NetHdrFlag.UDP_TUNNEL_CSUM) !== 0;
  }

  /** Whether a received packet with these header flags is taken: always (flag bits it does not know are ignored). */
  protected acceptsReceived(_flags: number): boolean {
    return true;
  }

  /** The size of the header before a received frame: the negotiated one. */
  protected receiveHeaderSize(): number {
    return netHeaderSize(this.negotiated);
  }

  /** Transmits one frame on transmitq1: a header of the negotiated size (all fields 0), then the frame. */
  protected async netSend(frame: Uint8Array, deadline: number, deadlineMs: number): Promise<WorkloadResult> {
    this.#requireBound("net", "net-send");
    const long = frame.length > this.netFrameMax;
    const tunnel = long ? this.tunnelOffload(frame) : undefined;
    const gso = long && !tunnel ? this.segmentationOffload(frame) : undefined;
    if (long && !gso && !tunnel) {
      return { ok: false, error: `net-send: a ${frame.length}-byte frame is longer than ${this.netFrameMax} bytes` };
    }
    const size = netHeaderSize(this.negotiated);
    const offload = tunnel ? undefined : this.checksumOffload(frame);
    const header = tunnel ? encodeNetHeader(tunnel.header, size) : offload
      ? encodeNetHeader({
        flags: NetHdrFlag.NEEDS_CSUM,
        csumStart: offload.start,
        csumOffset: offload.offset,
        ...gso,
      }, size)
      : this.transmitHeader(size);
    const body = tunnel?.frame ?? offload?.frame ?? frame;
    const data = new Uint8Array(header.length + body.length);
    data.set(header);
    data.set(body, header.length);
    return await this.transmit(this.netTransmitQueue(), data, deadline)
      ? { ok: true }
      : { ok: false, error: `timeout: the device did not use the frame within ${deadlineMs} ms` };
  }

  /** The pairs asked for with VQ_PAIRS_SET: those set up. */
  protected netPairsRequested(): number {
    return this.netPairsWanted;
  }

  /** The transmit queue of the next frame: the pairs in force in turn (transmitq1 before VQ_PAIRS_SET). */
  protected netTransmitQueue(): number {
    return 2 * (this.#txTurn++ % this.netPairs) + 1;
  }

  /**
   * Checksum offload of a frame to transmit (VIRTIO_NET_F_CSUM negotiated, the frame TCP or UDP over IPv4 or IPv6):
   * the frame with the pseudo-header sum in its checksum field, and where the device is to complete it (csum_start
   * at the transport header, csum_offset at its checksum field); undefined when the frame goes out as it is.
   */
  protected checksumOffload(frame: Uint8Array): { frame: Uint8Array; start: number; offset: number } | undefined {
    if (!(this.negotiated & bit(NET_F.CSUM))) return undefined;
    const t = transportOf(frame);
    if (!t) return undefined;
    const out = frame.slice();
    const at = t.start + t.csumOffset;
    const sum = pseudoHeaderSum(out, t);
    out[at] = sum >> 8;
    out[at + 1] = sum & 0xff;
    return { frame: out, start: t.start, offset: t.csumOffset };
  }

  /**
   * TCP segmentation offload for a frame longer than the link takes (HOST_TSO4 or HOST_TSO6 for its IP version and
   * CSUM negotiated): gso_type, gso_size (segments as long as the link takes) and hdr_len (the headers, transport
   * header included); undefined when the frame cannot be sent that way (not TCP, no such feature, or CWR set without
   * HOST_ECN: such a packet is not sent for segmentation).
   */
  protected segmentationOffload(frame: Uint8Array): Partial<NetHeader> | undefined {
    const has = (f: number) => (this.negotiated & bit(f)) !== 0n;
    const s = tcpSegmentOf(frame);
    if (!s || !has(NET_F.CSUM) || !has(s.t.v6 ? NET_F.HOST_TSO6 : NET_F.HOST_TSO4)) return undefined;
    if (frame.length - s.t.ip > 0xffff + (s.t.v6 ? 40 : 0)) return undefined;
    const cwr = (s.flags & TcpFlag.CWR) !== 0;
    if (cwr && !has(NET_F.HOST_ECN)) return undefined;
    const head = s.t.start + s.headerLength;
    return {
      gsoType: (s.t.v6 ? NetGso.TCPV6 : NetGso.TCPV4) | (cwr && this.marksEcn() ? NetGso.ECN : 0),
      gsoSize: Math.max(1, this.netFrameMax - head),
      hdrLen: this.gsoHeaderLength(head, s.t.start),
    };
  }

  /**
   * UDP tunnel segmentation for a VXLAN frame longer than the link takes whose inner packet is TCP
   * (HOST_UDP_TUNNEL_GSO, CSUM and the inner IP version's HOST_TSO negotiated): the frame with the inner TCP
   * pseudo-header sum in place and the outer UDP checksum 0 (or, with HOST_UDP_TUNNEL_GSO_CSUM, its pseudo-header sum
   * and UDP_TUNNEL_CSUM), and the header: the tunnel bit of the inner IP version, outer_th_offset, inner_nh_offset,
   * csum_start at the inner TCP header, hdr_len through it.
   */
  protected tunnelOffload(frame: Uint8Array): { frame: Uint8Array; header: Partial<NetHeader> } | undefined {
    const has = (f: number) => (this.negotiated & bit(f)) !== 0n;
    if (!has(NET_F.HOST_UDP_TUNNEL_GSO) || !has(NET_F.CSUM)) return undefined;
    const outer = transportOf(frame);
    const inner = innerFrame(frame, NetHashTunnel.VXLAN);
    const s = inner ? tcpSegmentOf(inner) : undefined;
    if (!outer || !inner || !s || !has(s.t.v6 ? NET_F.HOST_TSO6 : NET_F.HOST_TSO4)) return undefined;
    const innerIp = outer.start + 16 + 14;
    const innerL4 = innerIp + s.t.start - s.t.ip;
    const head = innerL4 + s.headerLength;
    const out = frame.slice();
    const sum = pseudoHeaderSum(inner, s.t);
    out.set([sum >> 8, sum & 0xff], innerL4 + 16);
    const offloaded = this.outerChecksumOffload();
    const outerSum = this.outerUdpChecksum(out, outer, offloaded);
    out.set([outerSum >> 8, outerSum & 0xff], outer.start + 6);
    return {
      frame: out,
      header: {
        flags: NetHdrFlag.NEEDS_CSUM | (offloaded ? this.tunnelCsumFlag() : 0),
        gsoType: (s.t.v6 ? NetGso.TCPV6 : NetGso.TCPV4) | this.tunnelBit(!s.t.v6),
        gsoSize: Math.max(1, this.netFrameMax - head),
        hdrLen: head,
        csumStart: innerL4,
        csumOffset: 16,
        outerThOffset: this.outerThOffsetOf(outer.start),
        innerNhOffset: innerIp,
      },
    };
  }

  /** Whether the driver has the device complete the outer UDP checksum: when HOST_UDP_TUNNEL_GSO_CSUM allows it. */
  protected outerChecksumOffload(): boolean {
    return (this.negotiated & bit(NET_F.HOST_UDP_TUNNEL_GSO_CSUM)) !== 0n;
  }

  /** The flag that asks for the outer UDP checksum: VIRTIO_NET_HDR_F_UDP_TUNNEL_CSUM. */
  protected tunnelCsumFlag(): number {
    return NetHdrFlag.UDP_TUNNEL_CSUM;
  }

  /** The gso_type bit for a tunnelled packet whose inner network header is IPv4 (`true`) or IPv6. */
  protected tunnelBit(innerV4: boolean): number {
    return innerV4 ? NetGso.UDP_TUNNEL_IPV4 : NetGso.UDP_TUNNEL_IPV6;
  }

  /** outer_th_offset for an outer UDP header at `udp`. */
  protected outerThOffsetOf(udp: number): number {
    return udp;
  }

  /** The outer UDP checksum of a tunnel request: its pseudo-header sum when the device completes it, else 0. */
  protected outerUdpChecksum(frame: Uint8Array, outer: TransportHeader, offloaded: boolean): number {
    return offloaded ? pseudoHeaderSum(frame, outer) : 0;
  }

  /** hdr_len of a segmentation request: the length of the headers, transport header included. */
  protected gsoHeaderLength(headers: number, _transportStart: number): number {
    return headers;
  }

  /** Whether a segmentation request for a TCP packet with CWR carries VIRTIO_NET_HDR_GSO_ECN. */
  protected marksEcn(): boolean {
    return true;
  }

  /** The header of a transmitted frame: no offload asked for, num_buffers 0. */
  protected transmitHeader(size: number): Uint8Array {
    return encodeNetHeader({}, size);
  }

  /** Waits (bounded) for a received frame and returns it. */
  protected async netReceive(deadline: number, deadlineMs: number): Promise<WorkloadResult> {
    this.#requireBound("net", "net-receive");
    while (this.netInput.length === 0 && this.clock.now() < deadline) await this.clock.sleep(NET_RECEIVE_POLL_MS);
    const frame = this.netInput.shift();
    return frame
      ? { ok: true, data: frame }
      : { ok: false, error: `timeout: no frame received within ${deadlineMs} ms` };
  }

  // ----------------------------------------------------------------- console

  /** Control messages of the console handshake still being answered, and how many arrived. */
  #consoleBusy = 0;
  #consoleMessages = 0;
  /** Console input received per port (bytes, in order). */
  readonly consoleInput: Map<number, number[]> = new Map();

  /**
   * After DRIVER_OK on a console: receive buffers on port 0 (and, with MULTIPORT, on the control receiveq), then
   * DEVICE_READY; the handshake (PORT_READY for each port added, PORT_OPEN for a console port) runs as the device
   * sends, and the probe waits (bounded) until it has been quiet for a while.
   */
  protected async startConsole(deadline: number): Promise<void> {
    await this.postReceive(0, (data) => this.#consoleInput(0, data));
    if (!(this.negotiated & bit(CONSOLE_F.MULTIPORT))) return;
    await this.postReceive(CONTROL_RX, (data) => this.onConsoleControl(data, deadline));
    await this.sendControl(controlMessage(0, ConsoleEvent.DEVICE_READY, 1), deadline);
    // Quiet: no message being handled and none arrived during a short wait, twice in a row.
    for (let idle = 0, seen = this.#consoleMessages; idle < 2 && this.clock.now() < deadline;) {
      await this.clock.sleep(2);
      idle = this.#consoleBusy === 0 && seen === this.#consoleMessages ? idle + 1 : 0;
      seen = this.#consoleMessages;
    }
  }

  #consoleInput(port: number, data: Uint8Array): void {
    const got = this.consoleInput.get(port) ?? [];
    got.push(...data);
    this.consoleInput.set(port, got.slice(-4096));
  }

  /** Keeps {@link CONSOLE_RX_BUFFERS} device-writable buffers posted on `queue`; `onData` gets what each brings. */
  protected async postReceive(queue: number, onData: (data: Uint8Array) => void | Promise<void>): Promise<void> {
    for (let i = 0; i < CONSOLE_RX_BUFFERS; i++) await this.#postOne(queue, onData);
  }

  async #postOne(index: number, onData: (data: Uint8Array) => void | Promise<void>): Promise<void> {
    const queue = this.queues.get(index);
    if (!queue) return;
    const addr = this.ringAlloc.alloc(this.rxBytes, 16);
    const pending = await this.exclusive(async () => {
      const id = await this.addChain(queue, this.receiveBuffers(addr));
      const p = this.#track(queue, id);
      await this.makeAvailable(queue, id);
      return p;
    });
    void pending.done.then(async (o) => {
      if (o.kind !== "used" || this.queues.get(index) !== queue) return;
      this.#consoleBusy++;
      this.#consoleMessages++;
      try {
        const n = Math.min(o.len, this.rxBytes);
        await onData(n > 0 ? await this.endpoint.memory.read(addr, n) : new Uint8Array(0));
        await this.#postOne(index, onData);
      } catch (e) {
        this.lastError = message(e);
      } finally {
        this.#consoleBusy--;
      }
    });
  }

  /** The buffers of one receive request at `addr` (device-writable). */
  protected receiveBuffers(addr: number): BufferSpec[] {
    return [{ addr, len: this.rxBytes, writable: true }];
  }

  /**
   * Sends one control message on the control transmitq and waits until it is used, at most
   * {@link CONSOLE_CONTROL_WAIT_MS} (a message not used by then stays exposed until it is, like any request).
   */
  protected async sendControl(msg: Uint8Array, deadline: number): Promise<void> {
    await this.transmit(CONTROL_TX, msg, Math.min(deadline, this.clock.now() + CONSOLE_CONTROL_WAIT_MS));
  }

  /** Puts `data` in one device-readable buffer on `index` and waits until it is used; false on a timeout. */
  protected async transmit(index: number, data: Uint8Array, deadline: number): Promise<boolean> {
    const lease = this.#lease([data.length]);
    try {
      const addr = lease.addrs[0]!;
      await this.endpoint.memory.write(addr, data);
      const outcome = await this.submit(index, this.transmitBuffers(addr, data.length), deadline, lease);
      return outcome.kind === "used";
    } finally {
      lease.release();
    }
  }

  /** The buffers of one transmit request of `len` bytes at `addr` (device-readable). */
  protected transmitBuffers(addr: number, len: number): BufferSpec[] {
    return [{ addr, len, writable: false }];
  }

  /** A control message from the device: PORT_READY for a port added, PORT_OPEN (value 1) for a console port. */
  protected async onConsoleControl(msg: Uint8Array, deadline: number): Promise<void> {
    if (msg.length < 8) return;
    const id = le.u32(msg, 0);
    const event = le.u16(msg, 4);
    if (event === ConsoleEvent.DEVICE_ADD) {
      const rx = receiveqOf(id);
      if (id > 0 && this.queues.has(rx)) await this.postReceive(rx, (data) => this.#consoleInput(id, data));
      await this.sendControl(controlMessage(id, ConsoleEvent.PORT_READY, 1), deadline);
    } else if (event === ConsoleEvent.CONSOLE_PORT) {
      await this.sendControl(controlMessage(id, ConsoleEvent.PORT_OPEN, 1), deadline);
    }
  }

  /** Writes `data` to console port 0 (its transmitq). */
  protected async consoleWrite(data: Uint8Array, deadline: number, deadlineMs: number): Promise<WorkloadResult> {
    this.#requireBound("console", "console-write");
    if (data.length === 0) return { ok: false, error: "console-write of 0 bytes" };
    const ok = await this.transmit(1, data, deadline);
    return ok
      ? { ok: true }
      : { ok: false, error: `timeout: the device did not use the output within ${deadlineMs} ms` };
  }

  /**
   * Reads MagicValue then Version, and DeviceID only when both are right.
   * Nothing else is touched.
   */
  protected async identify(): Promise<Identification> {
    if (this.t.kind !== "mmio") {
      const id = await this.t.identify();
      if (!id.valid) {
        return id.deviceId === 0 && id.reason?.includes("placeholder")
          ? { kind: "placeholder" }
          : { kind: "invalid", reason: id.reason ?? "not a virtio device" };
      }
      return { kind: "device", deviceId: id.deviceId };
    }
    const magic = await this.read32(Mmio.MagicValue);
    const version = await this.read32(Mmio.Version);
    if (magic !== MMIO_MAGIC) {
      return { kind: "invalid", reason: `MagicValue is 0x${magic.toString(16)}, not 0x${MMIO_MAGIC.toString(16)}` };
    }
    if (version !== 2) return { kind: "invalid", reason: `MMIO Version is ${version}; this driver supports 2 only` };
    const deviceId = await this.read32(Mmio.DeviceID);
    if (deviceId === 0) return { kind: "placeholder" };
    return { kind: "device", deviceId };
  }

  /** The first step of (re-)initialization: reset the device, then forget the old queues and buffers. */
  protected async startOver(deadline: number): Promise<void> {
    this.touched = true;
    await this.resetDevice(deadline);
    this.forget("the driver re-initialized the device");
  }

  /** Writes status 0 and polls until the device reads back 0 (bounded). */
  protected async resetDevice(deadline: number): Promise<void> {
    await this.t.reset();
    this.driverStatus = 0;
    for (let polls = 0;; polls++) {
      const s = await this.t.getStatus();
      if (s === 0) return;
      if (this.clock.now() >= deadline || polls >= MAX_POLLS) {
        throw new DriverFailure(`The device did not complete its reset: Status reads ${formatStatus(s)}`);
      }
      await this.clock.sleep(RESET_POLL_MS);
    }
  }

  /** Sets status bits: writes the previous value with `bits` added (never clears one). */
  protected async addStatus(bits: number): Promise<void> {
    this.driverStatus |= bits;
    await this.t.setStatus(this.driverStatus);
  }

  /** Sets FAILED and returns an unbound probe result. */
  protected async failProbe(reason: string): Promise<ProbeResult> {
    await this.addStatus(Status.FAILED);
    return { bound: false, error: reason };
  }

  /** Reads the device's feature words 0..3, selecting each one first. */
  protected readDeviceFeatures(): Promise<bigint> {
    return this.t.readDeviceFeatures();
  }

  /** The features this driver implements for a device type. */
  protected supportedFeatures(type: DrivenType): bigint {
    return DRIVER_CORE_FEATURES | DRIVER_TYPE_FEATURES[type];
  }

  /**
   * Accepts only features that are offered, defined for the device type on
   * the transport and implemented by this driver, then drops those whose
   * dependencies are not accepted. On the legacy interface only the legacy
   * feature word (bits 0–31) exists.
   */
  protected chooseFeatures(offered: bigint, type: DrivenType): bigint {
    const t: DeviceTypeName = type;
    const kind = this.t.kind === "mmio-legacy" ? "mmio" : this.t.kind;
    const legacy = this.t.modern ? ~0n : 0xffff_ffffn;
    let accepted = dropUnsatisfied(t, offered & this.supportedFeatures(type) & definedMask(t, kind) & legacy);
    // A host-managed zoned device is not discarded (spec 5.2.5.1).
    if ((accepted & bit(BLK_F.ZONED)) && this.zonedModel === ZonedModel.HM) accepted &= ~bit(BLK_F.DISCARD);
    return accepted;
  }

  /** The zoned model of a block device offering VIRTIO_BLK_F_ZONED, read before the features are chosen. */
  protected zonedModel: number | undefined;

  /** Writes the accepted features, selecting each word first. */
  protected writeDriverFeatures(accepted: bigint): Promise<void> {
    return this.t.writeDriverFeatures(accepted);
  }

  /**
   * Sets FEATURES_OK and re-reads Status: true when the device kept it. The
   * legacy interface has no such step: the features written are in force.
   */
  protected async featuresOk(): Promise<boolean> {
    if (!this.t.modern) return true;
    await this.addStatus(Status.FEATURES_OK);
    return ((await this.t.getStatus()) & Status.FEATURES_OK) !== 0;
  }

  /** Sets DRIVER_OK: the device is live. */
  protected driverOk(): Promise<void> {
    return this.addStatus(Status.DRIVER_OK);
  }

  // ----------------------------------------------------------- configuration

  /** The configuration fields to read for a device type under `features` (only fields that exist). */
  protected configFields(type: DrivenType, features: bigint): ConfigField[] {
    if (type === "net") {
      return [NET_MTU_FIELD, NET_PAIRS_FIELD, ...NET_RSS_FIELDS].filter((f) => (features & bit(f.feature!)) !== 0n);
    }
    return type === "blk" ? blkConfigFields(features) : [];
  }

  /** Reads the device configuration consistently (generation loop) into {@link config}. */
  protected async readDeviceConfig(type: DrivenType, features: bigint, deadline: number): Promise<void> {
    const fields = this.configFields(type, features);
    if (fields.length === 0) return;
    const values = await this.readConfigAtomically(async () => {
      const out: [string, number][] = [];
      for (const f of fields) out.push([f.name, await this.readConfigField(f)]);
      return out;
    }, deadline);
    this.config.clear();
    for (const [name, value] of values) this.config.set(name, value);
    this.configStale = false;
  }

  /** Reads one field with an access of its width; a 64-bit field as two aligned 32-bit reads. */
  protected async readConfigField(field: ConfigField): Promise<number> {
    if (field.size === 8) {
      const lo = await this.t.readConfig(field.offset, 4);
      const hi = await this.t.readConfig(field.offset + 4, 4);
      return lo + hi * 2 ** 32;
    }
    return await this.t.readConfig(field.offset, field.size);
  }

  /** Runs `read` between two ConfigGeneration reads until they agree (bounded). */
  protected async readConfigAtomically<T>(read: () => Promise<T>, deadline: number): Promise<T> {
    for (let attempt = 0; attempt < GENERATION_RETRIES; attempt++) {
      const before = await this.t.configGeneration();
      const value = await read();
      const after = await this.t.configGeneration();
      if (before === after) return value;
      if (this.clock.now() >= deadline) break;
    }
    throw new DriverFailure("The configuration generation kept changing while the driver read the configuration");
  }

  // ------------------------------------------------------------------ queues

  /**
   * The queue size for a QueueSizeMax: the largest power of two ≤ min(max,
   * 128). A packed ring would take any size; a power of two suits both.
   */
  protected queueSizeFor(max: number): number {
    const cap = Math.min(max, DRIVER_QUEUE_SIZE_LIMIT);
    let size = 1;
    while (size * 2 <= cap) size *= 2;
    return size;
  }

  /**
   * Sets up queue `index` with fresh zeroed rings: select, check it is not
   * live and exists, size, fresh rings with used-buffer notifications
   * enabled, then the size, the six addresses and QueueReady. A queue that
   * was reset is set up again the same way (`reenable`; spec 2.6.1.2).
   */
  protected async setupQueue(index: number, reenable = false): Promise<DriverQueue> {
    if (await this.t.queueReady(index)) {
      throw new DriverFailure(`Queue ${index} is already live (QueueReady reads non-zero) before set-up`);
    }
    const max = await this.t.queueMax(index);
    if (max === 0) throw new DriverFailure(`Queue ${index} is not available (QueueSizeMax is 0)`);
    const size = this.queueSizeFor(max);
    const queue = await this.createQueue(index, size);
    await this.armUsedNotifications(queue);
    await this.programQueue(index, queue, reenable);
    this.queues.set(index, queue);
    return queue;
  }

  /**
   * Allocates the driver side of queue `index` in the negotiated layout:
   * three zeroed areas at the alignment the format requires (so the used
   * ring flags, or the packed event suppression structures, start at 0).
   */
  protected createQueue(index: number, size: number): Promise<DriverQueue> {
    return createDriverQueue(
      this.endpoint.memory,
      this.ringAlloc,
      index,
      size,
      ringFeatures(this.negotiated),
      this.t.contiguousQueue?.(size),
    );
  }

  /**
   * Asks for a used-buffer notification for every used buffer: available
   * ring flags 0 (split without EVENT_IDX), used_event at the next used entry
   * (split with EVENT_IDX, flags staying 0), or the packed driver event
   * suppression flags set to ENABLE.
   */
  protected armUsedNotifications(queue: DriverQueue): Promise<void> {
    return queue.setUsedNotifications({ kind: "enable" });
  }

  /** Writes the queue's size and the three addresses, then QueueReady=1. */
  protected programQueue(index: number, queue: DriverQueue, _reenable: boolean): Promise<void> {
    return this.t.setupQueue(index, queue.addrs);
  }

  /** Fails every request still waiting on `queue`. */
  #failQueue(queue: DriverQueue, reason: string): void {
    const map = this.#pending.get(queue);
    this.#pending.delete(queue);
    for (const p of map?.values() ?? []) p.settle({ kind: "failed", reason });
  }

  /**
   * Forgets every queue and request buffer (only after the device was reset
   * or never initialized): requests still waiting fail with `reason`.
   */
  protected forget(reason: string): void {
    for (const q of [...this.#pending.keys()]) this.#failQueue(q, reason);
    this.queues.clear();
    this.config.clear();
    this.negotiated = 0n;
    this.ringAlloc.reset();
    this.#bufAlloc.reset();
    this.#bufEpoch++;
    this.#buffersInUse = 0;
  }

  // -------------------------------------------------------------- interrupts

  /**
   * The interrupt line. The handler is armed from DRIVER_OK on (the device
   * may interrupt as soon as it is live); it runs once the probe, which holds
   * the registers, has finished.
   */
  #onLine(level: boolean): void {
    if (!level || this.#closed || !(this.bound || (this.driverStatus & Status.DRIVER_OK))) return;
    this.#irqWanted = true;
    this.#irqTask ??= this.#serviceInterrupts();
  }

  async #serviceInterrupts(): Promise<void> {
    // Never do register work inside the device's own call.
    await Promise.resolve();
    try {
      while (this.#irqWanted && !this.#closed) {
        this.#irqWanted = false;
        await this.exclusive(async () => {
          if (this.bound && !this.#closed) await this.handleInterrupt();
        });
      }
    } catch (e) {
      this.lastError = message(e);
    } finally {
      this.#irqTask = undefined;
    }
  }

  /**
   * Handles one interrupt: reads InterruptStatus, acknowledges the defined
   * causes it saw, then harvests used buffers (bit 0) and handles a
   * configuration change (bit 1). Undefined bits are ignored.
   */
  protected async handleInterrupt(): Promise<void> {
    const raw = await this.t.interruptStatus();
    const handled = raw & (MmioInterrupt.USED_BUFFER | MmioInterrupt.CONFIG_CHANGE);
    if (handled !== 0) await this.ackInterrupt(handled, raw);
    if (raw & MmioInterrupt.USED_BUFFER) {
      if ((await this.#harvestSoon()) === 0) await this.spuriousUsedInterrupt();
    }
    if (raw & MmioInterrupt.CONFIG_CHANGE) await this.configChanged();
  }

  /**
   * A used-buffer interrupt found nothing new in any used ring (a spurious
   * notification, or polling got there first). A driver has to expect these
   * (spec 2.7.7.1): nothing to do.
   */
  protected spuriousUsedInterrupt(): Promise<void> {
    return Promise.resolve();
  }

  /** Writes InterruptACK with the handled causes (`raw` is what InterruptStatus read). */
  protected ackInterrupt(handled: number, _raw: number): Promise<void> {
    return this.t.ackInterrupt(handled);
  }

  /** A configuration change notification: DEVICE_NEEDS_RESET means reset, else the configuration is re-read lazily. */
  protected async configChanged(): Promise<void> {
    const status = await this.t.getStatus();
    if (status & Status.DEVICE_NEEDS_RESET) await this.recoverFromNeedsReset();
    else {
      this.configStale = true;
      if (this.deviceType === "net") await this.netConfigChanged();
    }
  }

  /**
   * A net device's configuration changed: with GUEST_ANNOUNCE, when status asks for an announcement, the driver
   * acknowledges it on the control queue (after this handler has let the registers go).
   */
  protected async netConfigChanged(): Promise<void> {
    const need = bit(NET_F.GUEST_ANNOUNCE) | bit(NET_F.CTRL_VQ);
    if ((this.negotiated & need) !== need) return;
    if (!((await this.t.readConfig(6, 2)) & NET_S_ANNOUNCE)) return;
    void this.netControl(NetCtrl.ANNOUNCE, NetCtrl.ANNOUNCE_ACK, new Uint8Array(0), this.clock.now() + RECOVERY_MS)
      .catch((e) => this.lastError = message(e));
  }

  /** The device set DEVICE_NEEDS_RESET: reset it, then fail every request in flight. */
  protected async recoverFromNeedsReset(): Promise<void> {
    this.bound = false;
    try {
      await this.resetDevice(this.clock.now() + RECOVERY_MS);
    } finally {
      this.forget("The device set DEVICE_NEEDS_RESET; the driver reset it");
    }
  }

  /** Harvests the used rings of every live queue, serialized; resolves to the number of used elements found. */
  #harvestSoon(): Promise<number> {
    const run = this.#harvesting.then(() => this.#harvestAll()).catch((e) => {
      this.lastError = message(e);
      return 0;
    });
    this.#harvesting = run.then(() => {});
    return run;
  }

  async #harvestAll(): Promise<number> {
    let found = 0;
    for (const queue of [...this.queues.values()]) {
      try {
        // Bounded: every round consumes at least one used element.
        for (let round = 0; round <= 2 * queue.size; round++) {
          const used = await this.harvestQueue(queue);
          if (used.length === 0) break;
          found += used.length;
          this.#settle(queue, used);
          // Re-arm, then look again: an element written before used_event moved
          // would otherwise wait for the next interrupt.
          if (this.queues.get(queue.index) === queue) await this.keepUsedEventCurrent(queue);
        }
      } catch (e) {
        this.#failQueue(queue, `The used ring of queue ${queue.index} is malformed: ${message(e)}`);
      }
    }
    return found;
  }

  #settle(queue: DriverQueue, used: UsedElem[]): void {
    const map = this.#pending.get(queue);
    for (const u of used) {
      const p = map?.get(u.id);
      if (!p) continue;
      map!.delete(u.id);
      p.settle({ kind: "used", len: u.len, implied: u.implied === true });
    }
  }

  /** Used elements of `queue` not seen yet (their descriptors become free). */
  protected harvestQueue(queue: DriverQueue): Promise<UsedElem[]> {
    return queue.harvest();
  }

  /**
   * After harvesting: with VIRTIO_F_EVENT_IDX on a split ring, moves
   * used_event to the next used entry so the device keeps notifying. (The
   * packed ENABLE setting needs no update.)
   */
  protected async keepUsedEventCurrent(queue: DriverQueue): Promise<void> {
    if (queue.format === "split" && queue.features.eventIdx) await this.armUsedNotifications(queue);
  }

  // ---------------------------------------------------------------- requests

  /** Request buffers from the buffer pool; the pool rewinds once no request holds any. */
  #lease(sizes: number[]): Lease {
    if (this.#buffersInUse === 0) this.#bufAlloc.reset();
    const addrs = sizes.map((s) => this.#bufAlloc.alloc(Math.max(1, s), 16));
    const epoch = this.#bufEpoch;
    this.#buffersInUse++;
    return new Lease(addrs, () => {
      if (epoch === this.#bufEpoch) this.#buffersInUse--;
    });
  }

  #track(queue: DriverQueue, head: number): Pending {
    let resolve!: (o: RequestOutcome) => void;
    const p: Pending = {
      done: new Promise<RequestOutcome>((r) => resolve = r),
      outcome: undefined,
      settle(o) {
        if (p.outcome) return;
        p.outcome = o;
        resolve(o);
      },
    };
    let map = this.#pending.get(queue);
    if (!map) this.#pending.set(queue, map = new Map());
    map.set(head, p);
    return p;
  }

  #requireBound(type: DrivenType, work: string): void {
    if (!this.bound) throw new DriverFailure(`${work}: the driver is not bound to a device`);
    if (this.deviceType !== type) {
      throw new DriverFailure(`${work} needs a ${type} device; the driver is bound to ${this.deviceType}`);
    }
  }

  /**
   * Makes one chain available on queue `index` and notifies, then waits for
   * it to be used, at most until `deadline`. A request that times out stays
   * exposed (its buffers held) until used or the device is reset.
   */
  protected async submit(
    index: number,
    buffers: BufferSpec[],
    deadline: number,
    lease: Lease,
  ): Promise<RequestOutcome> {
    const { pending, queue, id } = await this.exclusive(async () => {
      const queue = this.queues.get(index);
      if (!this.bound || !queue) throw new DriverFailure(`Queue ${index} is not live`);
      const id = await this.addChain(queue, buffers);
      const pending = this.#track(queue, id);
      await this.makeAvailable(queue, id);
      return { pending, queue, id };
    });
    const outcome = await this.#wait(pending, deadline);
    if (outcome.kind === "timeout") {
      lease.hold(pending.done);
      await this.exclusive(() => this.requestTimedOut(queue, id));
    }
    return outcome;
  }

  /**
   * Whether a chain goes into an indirect table: when VIRTIO_F_INDIRECT_DESC
   * is negotiated and the chain has more than {@link DIRECT_CHAIN_LIMIT}
   * buffers (a blk request; an rng request stays direct).
   */
  protected chooseIndirect(queue: DriverQueue, buffers: BufferSpec[]): boolean {
    return queue.features.indirect && buffers.length > DIRECT_CHAIN_LIMIT;
  }

  /** Writes the chain completely without making it available; returns its id. */
  protected addChain(queue: DriverQueue, buffers: BufferSpec[]): Promise<number> {
    return queue.add(buffers, { indirect: this.chooseIndirect(queue, buffers) });
  }

  /** Publishes the chain, then notifies the device if it asks for it. */
  protected async makeAvailable(queue: DriverQueue, id: number): Promise<void> {
    await this.publishChain(queue, id);
    await this.kickIfNeeded(queue);
  }

  /**
   * Makes chain `id` available: the split ring entry then the available idx,
   * or the packed head descriptor's flags — after everything else of the
   * chain was written.
   */
  protected publishChain(queue: DriverQueue, id: number): Promise<void> {
    return queue.publish(id);
  }

  /**
   * Reads the device's suppression settings (only after publishing) and
   * notifies when they ask for it: flags without EVENT_IDX, avail_event with
   * it (the flags then ignored), or the packed device event suppression
   * structure.
   */
  protected async kickIfNeeded(queue: DriverQueue): Promise<void> {
    if (await queue.needsKick()) await this.notifyDevice(queue);
  }

  /** An available-buffer notification; with VIRTIO_F_NOTIFICATION_DATA it carries the next offset and wrap. */
  protected notifyDevice(queue: DriverQueue): Promise<void> {
    return queue.features.notificationData
      ? this.t.notify(queue.index, queue.notificationData())
      : this.t.notify(queue.index);
  }

  /**
   * A request timed out: its buffer stays exposed, untouched, until the
   * device uses it or is reset (the driver must not change it meanwhile).
   */
  protected requestTimedOut(_queue: DriverQueue, _id: number): Promise<void> {
    return Promise.resolve();
  }

  /**
   * How many bytes at the start of a request's device-writable buffers the
   * driver may read (`writable` of them in all): the used length, capped; for
   * a buffer used as part of an IN_ORDER batch (no length reported) the whole
   * buffer for blk (used completely) and nothing for rng (see the module notes).
   */
  protected trustedLength(outcome: Extract<RequestOutcome, { kind: "used" }>, writable: number): number {
    if (outcome.implied) return this.deviceType === "blk" ? writable : 0;
    return Math.min(outcome.len, writable);
  }

  async #wait(p: Pending, deadline: number): Promise<RequestOutcome> {
    let timer: ClockTimer | undefined;
    let poll: ClockTimer | undefined;
    try {
      const timeout = new Promise<RequestOutcome>((resolve) => {
        timer = this.clock.setTimer(() => resolve({ kind: "timeout" }), Math.max(0, deadline - this.clock.now()));
      });
      poll = this.clock.setRepeating(() => void this.#harvestSoon(), USED_POLL_MS);
      const outcome = await Promise.race([p.done, timeout]);
      if (outcome.kind !== "timeout") return outcome;
      await this.#harvestSoon();
      return p.outcome ?? outcome;
    } finally {
      this.clock.clearTimer(timer);
      this.clock.clearTimer(poll);
    }
  }

  #outcomeError(outcome: RequestOutcome, deadlineMs: number): string {
    if (outcome.kind === "failed") return outcome.reason;
    return `timeout: the device did not use the request within ${deadlineMs} ms`;
  }

  /** An entropy request: one device-writable buffer of `bytes`. */
  protected async rngRead(bytes: number, deadline: number, deadlineMs: number): Promise<WorkloadResult> {
    this.#requireBound("rng", "rng-read");
    if (!Number.isInteger(bytes) || bytes <= 0) return { ok: false, error: `rng-read of ${bytes} bytes` };
    const lease = this.#lease([bytes]);
    try {
      const addr = lease.addrs[0]!;
      const outcome = await this.submit(0, [{ addr, len: bytes, writable: true }], deadline, lease);
      if (outcome.kind !== "used") return { ok: false, error: this.#outcomeError(outcome, deadlineMs) };
      const n = this.trustedLength(outcome, bytes);
      const data = n > 0 ? await this.endpoint.memory.read(addr, n) : new Uint8Array(0);
      return { ok: true, data };
    } finally {
      lease.release();
    }
  }

  /**
   * A block command without sector data: FLUSH (no data, sector 0) or GET_ID (20 device-writable bytes, the device's
   * ID string). Resolves to the status, and GET_ID's bytes.
   */
  protected async blkCommand(type: 4 | 8, deadline: number, deadlineMs: number): Promise<WorkloadResult> {
    const what = type === BlkRequestType.FLUSH ? "blk-flush" : "blk-get-id";
    this.#requireBound("blk", what);
    if (type === BlkRequestType.FLUSH && !(this.negotiated & bit(BLK_F.FLUSH))) {
      return { ok: false, error: "blk-flush: VIRTIO_BLK_F_FLUSH was not negotiated" };
    }
    const dataLen = type === BlkRequestType.GET_ID ? BLK_ID_BYTES : 0;
    const lease = this.#lease([BLK_HEADER_SIZE, Math.max(1, dataLen), 1]);
    try {
      const [hdr, buf, status] = lease.addrs as [number, number, number];
      const mem = this.endpoint.memory;
      await mem.write(hdr, blkHeader(type, this.commandSector(type)));
      await mem.write(status, new Uint8Array([0xff]));
      const outcome = await this.submit(0, this.blkCommandChain(type, hdr, buf, dataLen, status), deadline, lease);
      if (outcome.kind !== "used") return { ok: false, error: this.#outcomeError(outcome, deadlineMs) };
      const code = (await mem.read(status, 1))[0]!;
      if (code !== 0) return { ok: false, error: `${what}: the device answered status ${code}` };
      return dataLen ? { ok: true, data: await mem.read(buf, dataLen) } : { ok: true };
    } finally {
      lease.release();
    }
  }

  /** The sector field of a FLUSH or GET_ID request (0: the spec sets it for FLUSH). */
  protected commandSector(_type: number): number {
    return 0;
  }

  /** The chain of a FLUSH or GET_ID request: header, the ID buffer (GET_ID), status byte. */
  protected blkCommandChain(_type: number, hdr: number, buf: number, dataLen: number, status: number): BufferSpec[] {
    return [
      { addr: hdr, len: BLK_HEADER_SIZE, writable: false },
      ...(dataLen ? [{ addr: buf, len: dataLen, writable: true }] : []),
      { addr: status, len: 1, writable: true },
    ];
  }

  /**
   * A discard or write-zeroes request of one segment (`sectors` from `sector`, unmap clear), within the limits the
   * device's configuration gives (max sectors, max segments) and only with the feature negotiated.
   */
  protected async blkRange(
    type: 11 | 13 | 14,
    sector: number,
    sectors: number,
    deadline: number,
    deadlineMs: number,
  ): Promise<WorkloadResult> {
    const kind = RANGE_KINDS[type];
    const what = `blk-${kind.workload}`;
    this.#requireBound("blk", what);
    if (!(this.negotiated & bit(kind.feature))) {
      return { ok: false, error: `${what}: VIRTIO_BLK_F_${kind.name} was not negotiated` };
    }
    const maxSectors = this.config.get(`max_${kind.field}_sectors`) ?? 0;
    if (!Number.isSafeInteger(sector) || sector < 0 || sectors < 1 || (maxSectors > 0 && sectors > maxSectors)) {
      return { ok: false, error: `${what}: ${sectors} sectors at ${sector} is outside the device's limits` };
    }
    const data = this.rangeSegments(type, sector, sectors);
    const lease = this.#lease([BLK_HEADER_SIZE, data.length, 1]);
    try {
      const [hdr, buf, status] = lease.addrs as [number, number, number];
      const mem = this.endpoint.memory;
      await mem.write(hdr, blkHeader(type, 0));
      await mem.write(buf, data);
      await mem.write(status, new Uint8Array([0xff]));
      const chain: BufferSpec[] = [
        { addr: hdr, len: BLK_HEADER_SIZE, writable: false },
        { addr: buf, len: data.length, writable: false },
        { addr: status, len: 1, writable: true },
      ];
      const outcome = await this.submit(0, chain, deadline, lease);
      if (outcome.kind !== "used") return { ok: false, error: this.#outcomeError(outcome, deadlineMs) };
      const code = (await mem.read(status, 1))[0]!;
      return code === 0 ? { ok: true } : { ok: false, error: `${what}: the device answered status ${code}` };
    } finally {
      lease.release();
    }
  }

  /** Sends a request of a header and a status byte (a zone management request); its outcome. */
  async #headerOnly(type: number, sector: number, what: string, deadline: number, deadlineMs: number) {
    const lease = this.#lease([BLK_HEADER_SIZE, 1]);
    try {
      const [hdr, status] = lease.addrs as [number, number];
      const mem = this.endpoint.memory;
      await mem.write(hdr, blkHeader(type, sector));
      await mem.write(status, new Uint8Array([0xff]));
      const chain: BufferSpec[] = [
        { addr: hdr, len: BLK_HEADER_SIZE, writable: false },
        { addr: status, len: 1, writable: true },
      ];
      const outcome = await this.submit(0, chain, deadline, lease);
      if (outcome.kind !== "used") return { ok: false as const, error: this.#outcomeError(outcome, deadlineMs) };
      const code = (await mem.read(status, 1))[0]!;
      return code === 0 ? { ok: true as const } : { ok: false as const, error: `${what}: the device answered ${code}` };
    } finally {
      lease.release();
    }
  }

  /** Whether VIRTIO_BLK_F_ZONED is in force; a refusal of `what` otherwise. */
  #zonedOrRefusal(what: string): WorkloadResult | undefined {
    this.#requireBound("blk", what);
    return this.negotiated & bit(BLK_F.ZONED)
      ? undefined
      : { ok: false, error: `${what}: VIRTIO_BLK_F_ZONED was not negotiated` };
  }

  /** A zone management request: open, close, finish or reset the zone at `sector`, or reset every zone. */
  protected async zoneCommand(
    op: "open" | "close" | "finish" | "reset" | "reset-all",
    sector: number,
    deadline: number,
    deadlineMs: number,
  ): Promise<WorkloadResult> {
    const refused = this.#zonedOrRefusal("blk-zone");
    if (refused) return refused;
    const type = ZONE_OPS[op];
    return await this.#headerOnly(type, this.zoneCommandSector(type, sector), `blk-zone ${op}`, deadline, deadlineMs);
  }

  /** The sector field of a zone management request: the zone's start, 0 for ZONE_RESET_ALL (spec 5.2.6.1). */
  protected zoneCommandSector(type: number, sector: number): number {
    return type === BlkRequestType.ZONE_RESET_ALL ? 0 : sector;
  }

  /** A ZONE_REPORT from the zone holding `sector`; `value` is the number of zones the report holds. */
  protected async zoneReport(sector: number, deadline: number, deadlineMs: number): Promise<WorkloadResult> {
    const refused = this.#zonedOrRefusal("blk-zone-report");
    if (refused) return refused;
    const lease = this.#lease([BLK_HEADER_SIZE, BLK_ZONE_REPORT_BYTES, 1]);
    try {
      const [hdr, buf, status] = lease.addrs as [number, number, number];
      const mem = this.endpoint.memory;
      await mem.write(hdr, blkHeader(BlkRequestType.ZONE_REPORT, this.reportSector(sector)));
      await mem.write(status, new Uint8Array([0xff]));
      const chain: BufferSpec[] = [
        { addr: hdr, len: BLK_HEADER_SIZE, writable: false },
        { addr: buf, len: BLK_ZONE_REPORT_BYTES, writable: true },
        { addr: status, len: 1, writable: true },
      ];
      const outcome = await this.submit(0, chain, deadline, lease);
      if (outcome.kind !== "used") return { ok: false, error: this.#outcomeError(outcome, deadlineMs) };
      const code = (await mem.read(status, 1))[0]!;
      if (code !== 0) return { ok: false, error: `blk-zone-report: the device answered ${code}` };
      return { ok: true, value: le.u64(await mem.read(buf, 8), 0) };
    } finally {
      lease.release();
    }
  }

  /** The sector field of a ZONE_REPORT: a sector of the first zone to report. */
  protected reportSector(sector: number): number {
    return sector;
  }

  /**
   * A ZONE_APPEND of `data` to the zone at `sector`, refused before it is sent when it breaks the device's limits
   * (write_granularity, max_append_sectors); `value` is the append_sector the device reported.
   */
  protected async zoneAppend(
    sector: number,
    data: Uint8Array,
    deadline: number,
    deadlineMs: number,
  ): Promise<WorkloadResult> {
    const refused = this.#zonedOrRefusal("blk-zone-append");
    if (refused) return refused;
    const granularity = this.config.get("zoned.write_granularity") || BLK_SECTOR_SIZE;
    const maxSectors = this.config.get("zoned.max_append_sectors") ?? 0;
    if (data.length === 0 || data.length % granularity !== 0 || data.length > maxSectors * BLK_SECTOR_SIZE) {
      return {
        ok: false,
        error: `blk-zone-append: ${data.length} bytes break write_granularity ${granularity} or max_append_sectors ` +
          `${maxSectors}`,
      };
    }
    const body = this.appendData(data);
    const lease = this.#lease([BLK_HEADER_SIZE, body.length, 8, 1]);
    try {
      const [hdr, buf, at, status] = lease.addrs as [number, number, number, number];
      const mem = this.endpoint.memory;
      await mem.write(hdr, blkHeader(BlkRequestType.ZONE_APPEND, this.appendSector(sector)));
      await mem.write(buf, body);
      await mem.write(status, new Uint8Array([0xff]));
      const chain: BufferSpec[] = [
        { addr: hdr, len: BLK_HEADER_SIZE, writable: false },
        { addr: buf, len: body.length, writable: false },
        { addr: at, len: 8, writable: true },
        { addr: status, len: 1, writable: true },
      ];
      const outcome = await this.submit(0, chain, deadline, lease);
      if (outcome.kind !== "used") return { ok: false, error: this.#outcomeError(outcome, deadlineMs) };
      const code = (await mem.read(status, 1))[0]!;
      if (code !== 0) return { ok: false, error: `blk-zone-append: the device answered ${code}` };
      return { ok: true, value: le.u64(await mem.read(at, 8), 0) };
    } finally {
      lease.release();
    }
  }

  /** The sector field of a ZONE_APPEND: the start of the zone appended to. */
  protected appendSector(sector: number): number {
    return sector;
  }

  /** The data a ZONE_APPEND carries. */
  protected appendData(data: Uint8Array): Uint8Array {
    return data;
  }

  /** The data of a discard or write-zeroes request: one segment (sector, sectors, flags 0). */
  protected rangeSegments(_type: number, sector: number, sectors: number): Uint8Array {
    const seg = new Uint8Array(16);
    const v = new DataView(seg.buffer);
    v.setUint32(0, sector % 2 ** 32, true);
    v.setUint32(4, Math.floor(sector / 2 ** 32), true);
    v.setUint32(8, sectors, true);
    return seg;
  }

  /** A block read or write of whole sectors. */
  protected async blkTransfer(
    type: number,
    sector: number,
    length: number,
    data: Uint8Array | undefined,
    deadline: number,
    deadlineMs: number,
  ): Promise<WorkloadResult> {
    const what = type === BlkRequestType.OUT ? "blk-write" : "blk-read";
    this.#requireBound("blk", what);
    if (!Number.isSafeInteger(sector) || sector < 0) return { ok: false, error: `${what}: bad sector ${sector}` };
    if (length <= 0 || length % BLK_SECTOR_SIZE !== 0) {
      return { ok: false, error: `${what}: ${length} bytes is not a positive multiple of ${BLK_SECTOR_SIZE}` };
    }
    if (type === BlkRequestType.OUT && (this.negotiated & bit(BLK_F.RO))) {
      return { ok: false, error: "blk-write: the device is read-only (VIRTIO_BLK_F_RO)" };
    }
    if (this.configStale) {
      await this.exclusive(() => this.readDeviceConfig("blk", this.negotiated, deadline));
    }
    const capacity = this.config.get(BLK_CAPACITY_FIELD.name);
    if (capacity !== undefined && sector + length / BLK_SECTOR_SIZE > capacity) {
      return {
        ok: false,
        error: `${what}: sectors ${sector}+${length / BLK_SECTOR_SIZE} lie beyond capacity ${capacity}`,
      };
    }
    const sizeMax = this.negotiated & bit(BLK_F.SIZE_MAX) ? this.config.get("size_max") : undefined;
    const segments = blkSegments(length, sizeMax);
    const segMax = this.negotiated & bit(BLK_F.SEG_MAX) ? this.config.get("seg_max") : undefined;
    if (segMax !== undefined && segMax > 0 && segments.length > segMax) {
      return { ok: false, error: `${what}: ${segments.length} segments exceed seg_max ${segMax}` };
    }
    const lease = this.#lease([BLK_HEADER_SIZE, length, 1]);
    try {
      const [hdr, buf, status] = lease.addrs as [number, number, number];
      const mem = this.endpoint.memory;
      await mem.write(hdr, blkHeader(type, sector));
      if (data) await mem.write(buf, data);
      await mem.write(status, new Uint8Array([0xff]));
      const chain = this.blkChain(type, hdr, buf, status, segments);
      const outcome = await this.submit(0, chain, deadline, lease);
      if (outcome.kind !== "used") return { ok: false, error: this.#outcomeError(outcome, deadlineMs) };
      // Device-writable bytes: the data (reads only), then the status byte, last.
      const writable = (type === BlkRequestType.IN ? length : 0) + 1;
      const trusted = this.trustedLength(outcome, writable);
      if (trusted < writable) {
        return {
          ok: false,
          error: `${what}: the device used the request with length ${outcome.len}, short of the ${writable} ` +
            `device-writable bytes that end with the status byte`,
        };
      }
      const s = (await mem.read(status, 1))[0]!;
      if (s !== BlkRequestStatus.OK) return { ok: false, error: `${what}: the device returned status ${s}` };
      if (type === BlkRequestType.IN) return { ok: true, data: await mem.read(buf, length) };
      return { ok: true };
    } finally {
      lease.release();
    }
  }

  /**
   * A block request's chain: the header (device-readable), the data
   * segments (device-writable for a read), then the status byte
   * (device-writable) — every device-readable buffer before the writable ones.
   */
  protected blkChain(type: number, hdr: number, buf: number, status: number, segments: number[]): BufferSpec[] {
    const chain: BufferSpec[] = [{ addr: hdr, len: BLK_HEADER_SIZE, writable: false }];
    let off = 0;
    for (const len of segments) {
      chain.push({ addr: buf + off, len, writable: type === BlkRequestType.IN });
      off += len;
    }
    chain.push({ addr: status, len: 1, writable: true });
    return chain;
  }

  /** Reads the capacity (in 512-byte sectors) with the generation loop. */
  protected async blkCapacity(deadline: number): Promise<WorkloadResult> {
    this.#requireBound("blk", "blk-capacity");
    const value = await this.exclusive(() =>
      this.readConfigAtomically(() => this.readConfigField(BLK_CAPACITY_FIELD), deadline)
    );
    this.config.set(BLK_CAPACITY_FIELD.name, value);
    return { ok: true, value };
  }

  /**
   * Resets queue `index` alone (VIRTIO_F_RING_RESET): QueueReset=1, poll
   * until it reads 0, then set the queue up again exactly as at discovery:
   * fresh zeroed rings, notifications armed, size, addresses, QueueReady.
   */
  protected async resetQueue(index: number, deadline: number): Promise<WorkloadResult> {
    if (!this.bound) return { ok: false, error: "queue-reset: the driver is not bound to a device" };
    if (!(this.negotiated & bit(F.RING_RESET))) return { ok: false, error: "RING_RESET not negotiated" };
    return await this.exclusive(async () => {
      const queue = this.queues.get(index);
      if (!queue) return { ok: false, error: `queue-reset: queue ${index} is not live` };
      await this.t.startQueueReset(index);
      const error = await this.awaitQueueReset(index, deadline);
      if (error !== undefined) return { ok: false, error };
      this.queues.delete(index);
      this.#failQueue(queue, `Queue ${index} was reset`);
      await this.setupQueue(index, true);
      return { ok: true };
    });
  }

  /**
   * Suspends the device and resumes it (VIRTIO_F_SUSPEND, spec 3.4): sets SUSPEND, re-reads device status until
   * SUSPEND reads 1 and DRIVER_OK 0, then sets DRIVER_OK again and re-reads it until SUSPEND reads 0 and DRIVER_OK 1.
   * Nothing is made available, notified or written to the configuration meanwhile (the registers are the driver's
   * alone for the whole of it).
   */
  protected async suspendAndResume(deadline: number): Promise<WorkloadResult> {
    if (!this.bound) return { ok: false, error: "suspend: the driver is not bound to a device" };
    if (!(this.negotiated & bit(F.SUSPEND))) return { ok: false, error: "SUSPEND not negotiated" };
    return await this.exclusive(async () => {
      await this.t.setStatus(this.driverStatus | Status.SUSPEND);
      const suspended = await this.awaitStatus(
        (s) => (s & Status.SUSPEND) !== 0 && (s & Status.DRIVER_OK) === 0,
        "suspend: the device did not show SUSPEND=1, DRIVER_OK=0",
        deadline,
      );
      if (suspended !== undefined) return { ok: false, error: suspended };
      await this.t.setStatus(this.driverStatus);
      const resumed = await this.awaitStatus(
        (s) => (s & Status.SUSPEND) === 0 && (s & Status.DRIVER_OK) !== 0,
        "suspend: the device did not resume (SUSPEND=0, DRIVER_OK=1)",
        deadline,
      );
      return resumed === undefined ? { ok: true } : { ok: false, error: resumed };
    });
  }

  /** Re-reads device status until `done` holds (bounded; DEVICE_NEEDS_RESET ends it). Returns an error, or `undefined`. */
  protected async awaitStatus(
    done: (s: number) => boolean,
    what: string,
    deadline: number,
  ): Promise<string | undefined> {
    for (let polls = 0;; polls++) {
      const s = await this.t.getStatus();
      if (done(s)) return undefined;
      if (s & Status.DEVICE_NEEDS_RESET) return `${what}: it set DEVICE_NEEDS_RESET (${formatStatus(s)})`;
      if (this.clock.now() >= deadline || polls >= MAX_POLLS) return `${what} in time: status reads ${formatStatus(s)}`;
      await this.clock.sleep(RESET_POLL_MS);
    }
  }

  /** Reads QueueReset until it reads 0 (bounded): the reset took effect. Returns an error, or `undefined`. */
  protected async awaitQueueReset(index: number, deadline: number): Promise<string | undefined> {
    for (let polls = 0; await this.t.queueResetPending(index); polls++) {
      if (this.clock.now() >= deadline || polls >= MAX_POLLS) {
        return `timeout: queue ${index} reset did not complete (QueueReset still reads 1)`;
      }
      await this.clock.sleep(RESET_POLL_MS);
    }
    return undefined;
  }

  /** Runs one workload, bounded by `deadlineMs`. */
  async workload(work: Workload, deadlineMs: number): Promise<WorkloadResult> {
    const deadline = this.clock.now() + deadlineMs;
    try {
      switch (work.kind) {
        case "rng-read":
          return await this.rngRead(work.bytes, deadline, deadlineMs);
        case "blk-read":
          return await this.blkTransfer(
            BlkRequestType.IN,
            work.sector,
            work.sectors * BLK_SECTOR_SIZE,
            undefined,
            deadline,
            deadlineMs,
          );
        case "blk-write":
          return await this.blkTransfer(
            BlkRequestType.OUT,
            work.sector,
            work.data.length,
            work.data,
            deadline,
            deadlineMs,
          );
        case "blk-capacity":
          return await this.blkCapacity(deadline);
        case "queue-reset":
          return await this.resetQueue(work.queue, deadline);
        case "suspend":
          return await this.suspendAndResume(deadline);
        case "console-write":
          return await this.consoleWrite(work.data, deadline, deadlineMs);
        case "net-send":
          return await this.netSend(work.frame, deadline, deadlineMs);
        case "net-receive":
          return await this.netReceive(deadline, deadlineMs);
        case "net-coalesce":
          return await this.netCoalesce(work.usecs, work.packets, work.queue, deadline);
        case "net-stats":
          return await this.netStats(work.queue, deadline);
        case "net-rss":
          return await this.netRss(work.contexts ?? 0, deadline);
        case "net-offloads":
          return await this.netOffloads(work.offloads, deadline);
        case "net-hash-tunnel":
          return await this.netHashTunnel(work.types, deadline);
        case "net-flow-filter":
          return await this.netFlowFilter(deadline);
        case "net-ipsec":
          return await this.netIpsec(deadline);
        case "blk-flush":
          return await this.blkCommand(BlkRequestType.FLUSH, deadline, deadlineMs);
        case "blk-get-id":
          return await this.blkCommand(BlkRequestType.GET_ID, deadline, deadlineMs);
        case "blk-discard":
          return await this.blkRange(BlkRequestType.DISCARD, work.sector, work.sectors, deadline, deadlineMs);
        case "blk-write-zeroes":
          return await this.blkRange(BlkRequestType.WRITE_ZEROES, work.sector, work.sectors, deadline, deadlineMs);
        case "blk-secure-erase":
          return await this.blkRange(BlkRequestType.SECURE_ERASE, work.sector, work.sectors, deadline, deadlineMs);
        case "blk-zone":
          return await this.zoneCommand(work.op, work.sector, deadline, deadlineMs);
        case "blk-zone-report":
          return await this.zoneReport(work.sector, deadline, deadlineMs);
        case "blk-zone-append":
          return await this.zoneAppend(work.sector, work.data, deadline, deadlineMs);
        default:
          return { ok: false, error: `Unsupported workload ${(work as { kind: string }).kind}` };
      }
    } catch (e) {
      return { ok: false, error: message(e) };
    }
  }

  // ----------------------------------------------------------------- removal

  /** Resets the device (if the driver began initializing it) before forgetting any buffer. */
  remove(deadlineMs: number): Promise<void> {
    const deadline = this.clock.now() + deadlineMs;
    return this.exclusive(async () => {
      this.bound = false;
      if (this.touched) {
        try {
          await this.resetDevice(deadline);
        } catch (e) {
          this.lastError = message(e);
        }
      }
      this.forget("The driver was removed");
      this.touched = false;
    });
  }

  /** Stops listening to the device; every wait ends. */
  async close(): Promise<void> {
    this.#closed = true;
    this.bound = false;
    for (const q of [...this.#pending.keys()]) this.#failQueue(q, "The driver was closed");
    await this.#irqTask;
    await this.#harvesting;
  }
}

/** A driver class the in-process adapter can attach (the reference driver or a variant). */
export type DriverClass = new (endpoint: HarnessDeviceEndpoint) => ReferenceDriver;

/**
 * The reference driver as an in-process driver factory: a session on the harness device's endpoint.
 *
 * @example
 * ```ts ignore
 * const target = new InProcessDriverTarget(
 *   { name: "mine", transports: ["mmio"], deviceTypes: ["rng"], workloads: ["rng-read"] },
 *   referenceDriverSession,
 * );
 * ```
 */
export function referenceDriverSession(endpoint: HarnessDeviceEndpoint): DriverSession {
  return new ReferenceDriver(endpoint);
}

/**
 * An in-process driver target running `Driver` (the reference driver by default).
 *
 * @example
 * ```ts ignore
 * class MyMutant extends ReferenceDriver { … }
 * const target = driverTarget("driver-my-mutant", MyMutant);
 * ```
 */
export function driverTarget(name: string, Driver: DriverClass = ReferenceDriver): InProcessDriverTarget {
  return new InProcessDriverTarget(
    {
      name,
      transports: ["mmio", "pci", "mmio-legacy"],
      deviceTypes: ["rng", "blk", "console", "net"],
      workloads: [...REFERENCE_DRIVER_WORKLOADS],
    },
    (endpoint) => new Driver(endpoint),
    // The reference driver and its variants take their time from the endpoint's clock.
    { virtualTime: true },
  );
}

/**
 * The bundled reference driver as a driver target.
 *
 * @example
 * ```ts
 * import { referenceDriverTarget } from "./driver.ts";
 * import { ScenarioRunner } from "../../roles/harness_device.ts";
 * const trace = await new ScenarioRunner(referenceDriverTarget(), "blk").run({
 *   workloads: [{ kind: "blk-capacity" }],
 * });
 * console.log(trace.results[0]); // { ok: true, value: 2048 }
 * ```
 */
export function referenceDriverTarget(name = "reference-driver"): InProcessDriverTarget {
  return driverTarget(name, ReferenceDriver);
}
