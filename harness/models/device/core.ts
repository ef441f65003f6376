/**
 * The transport-neutral core of the reference device: device status, feature
 * negotiation, virtqueues, configuration generation and notifications, written
 * strictly from spec chapters 2, 3 and 6. Transports (MMIO now, PCI later) map
 * their registers onto it.
 *
 * Protected methods are the seams the mutants in `fixtures/mutants/` override,
 * one fault each.
 *
 * @module
 */
import { type Clock, type ClockTimer, realClock } from "../../clock.ts";
import { bit, definedMask, dependencyGaps, F, type TransportKind } from "../../features.ts";
import type { GuestMemory } from "../../memory.ts";
import { Status } from "../../status.ts";
import type { DeviceQueue } from "../../virtqueue/queue.ts";
import { ringFeatures } from "../../virtqueue/queue.ts";
import { createDeviceQueue } from "../../virtqueue/rings.ts";
import { type ChainBuffer, RingError, SplitDeviceQueue } from "../../virtqueue/split.ts";
import { AdminEngine, type AdminFunction } from "./admin_queue.ts";
import { type DeviceFunction, type FunctionHost, scatter } from "./device_function.ts";

/** The size of the reference device's administration virtqueue. */
export const ADMIN_QUEUE_SIZE = 64;

/** The device-independent features the reference device implements and offers. */
export const REFERENCE_CORE_FEATURES: bigint = bit(F.VERSION_1) | bit(F.INDIRECT_DESC) | bit(F.RING_RESET) |
  bit(F.IN_ORDER) | bit(F.EVENT_IDX) | bit(F.NOTIFICATION_DATA) | bit(F.RING_PACKED) | bit(F.SUSPEND);

/**
 * What a device on a legacy interface may offer: device-type bits 0–23 plus
 * INDIRECT_DESC and EVENT_IDX; never VERSION_1 or any bit from 32 up.
 */
export const LEGACY_FEATURE_MASK: bigint = 0xff_ffffn | bit(F.INDIRECT_DESC) | bit(F.EVENT_IDX);

/** Interrupt causes, numbered as MMIO's InterruptStatus (PCI's ISR uses the same bits). */
export const Irq = { USED: 1, CONFIG: 2 } as const;

/** Per-queue state as the driver configured it. */
export interface QueueState {
  size: number;
  desc: number;
  driver: number;
  device: number;
  ready: boolean;
  /** Reads of QueueReset still to answer 1 (queue reset in progress). */
  resetPending: number;
  ring?: DeviceQueue | undefined;
  /** The device wrote its notification-suppression settings into the ring. */
  armed?: boolean;
  /** Notifications received for this queue (with VIRTIO_F_NOTIFICATION_DATA, the raw values). */
  notifications: number;
  /** Buffers taken but held for data the device does not have yet (input queues), oldest first. */
  held: { id: number; buffers: ChainBuffer[] }[];
}

/**
 * Knobs the harness uses when it presents this device to a driver under test.
 * Every default is the strict behaviour; each knob is a behaviour the spec
 * allows a device (or a scenario the harness needs to create).
 */
export interface DeviceKnobs {
  /** Replaces the offered feature set. */
  offered?: bigint;
  /** Refuse FEATURES_OK whatever the driver accepted. */
  rejectFeaturesOk?: boolean;
  /** Never complete requests (keeps buffers exposed). */
  holdRequests?: boolean;
  /** Enter the error state (DEVICE_NEEDS_RESET) on the first request instead of serving it. */
  needsResetOnRequest?: boolean;
  /** Reads of QueueReset that answer 1 after a queue reset starts. */
  queueResetReads?: number;
  /** Called on every read of the device-specific configuration space. */
  onConfigRead?: (offset: number) => void;
  /**
   * Ask the driver not to send available-buffer notifications (used-ring
   * NO_NOTIFY, avail_event left behind, or the packed DISABLE); the device
   * then polls its queues every {@link pollMs}.
   */
  suppressAvailNotifications?: boolean;
  /** With EVENT_IDX: keep avail_event this many entries ahead of the device's position (default 0). */
  availEventAhead?: number;
  /** A raw value for the used-ring flags written when a queue is enabled (e.g. 1 with EVENT_IDX). */
  usedFlagsRaw?: number;
  /** A raw avail_event written when a split queue is enabled (without EVENT_IDX the driver must ignore it). */
  availEventRaw?: number;
  /** Send a used-buffer notification with nothing used: once at DRIVER_OK and again after every used buffer. */
  spuriousUsedNotifications?: boolean;
  /** With IN_ORDER: drain every available buffer, then write one used element for the last one. */
  inOrderBatches?: boolean;
  /**
   * Without VIRTIO_F_IN_ORDER: execute and complete the buffers taken on one look at the ring in reverse order (a
   * conforming device may use buffers in any order, and requests made available together may run in any order).
   */
  outOfOrder?: boolean;
  /** Polling period when available-buffer notifications are suppressed (default 2 ms). */
  pollMs?: number;
}

/** Construction options of a reference device. */
export interface DeviceOptions {
  memory: GuestMemory;
  transport: TransportKind;
  knobs?: DeviceKnobs;
  /** Where the device's timers come from (polling): the wall clock by default. */
  clock?: Clock;
}

/**
 * The reference device core.
 *
 * @example
 * ```ts
 * import { ArrayMemory } from "../../memory.ts";
 * import { DeviceCore } from "./core.ts";
 * import { RngFunction } from "./rng.ts";
 * const core = new DeviceCore(new RngFunction(), { memory: new ArrayMemory(0, 4096), transport: "mmio" });
 * core.writeStatus(1);
 * console.log(core.status); // 1
 * ```
 */
export class DeviceCore implements FunctionHost {
  status = 0;
  /** Driver feature words as written (word index → value). */
  driverFeatureWords: number[] = [];
  /** Features in force after FEATURES_OK was accepted (legacy interface: the driver's bits 0–31 from DRIVER_OK on). */
  negotiated = 0n;
  /** Sets of features accepted at FEATURES_OK since power-on (for re-negotiation). */
  interruptStatus = 0;
  configGeneration = 0;
  queues: QueueState[] = [];
  /** Bumped on every reset; background work from an older epoch stops touching anything. */
  epoch = 0;
  /** Called when the interrupt line changes level. */
  onInterrupt: (level: boolean) => void = () => {};
  /**
   * Called for every interrupt event the device raises, after the cause is
   * recorded in {@link interruptStatus} and before {@link onInterrupt}; `queue`
   * names the virtqueue of a used-buffer event when known. Transports that
   * route events themselves (PCI with MSI-X) listen here.
   */
  onRaise: (cause: number, queue?: number) => void = () => {};
  /** Why the device entered its error state, if it did. */
  errorReason: string | undefined;
  /** A configuration change happened while the device was suspended: its notification is owed at resume (3.4). */
  configChangeOwed = false;
  readonly knobs: DeviceKnobs;
  readonly memory: GuestMemory;
  readonly transport: TransportKind;
  #jobs = new Set<Promise<void>>();
  #poll: ClockTimer | undefined;
  readonly #clock: Clock;
  #stopped = false;
  #rerun = new Set<number>();
  #running = new Set<number>();

  /**
   * The administration virtqueue's engine (spec 2.13): on PCI, for a device type that defines administration
   * commands; the queue is the one after the device's last queue, and VIRTIO_F_ADMIN_VQ is offered.
   */
  readonly admin: AdminEngine | undefined;

  constructor(readonly fn: DeviceFunction, opts: DeviceOptions) {
    this.memory = opts.memory;
    this.transport = opts.transport;
    this.knobs = opts.knobs ?? {};
    this.#clock = opts.clock ?? realClock;
    this.admin = fn.admin && opts.transport === "pci" ? this.createAdminEngine(fn.admin) : undefined;
    this.resetState();
    fn.attach?.(this);
  }

  /**
   * True on the legacy interface (transport `mmio-legacy`): a restricted
   * offer, no FEATURES_OK step, features in force from DRIVER_OK on, split
   * rings only.
   */
  get legacy(): boolean {
    return this.transport === "mmio-legacy";
  }

  /**
   * The features this device offers: device-type features plus the core ones
   * it implements (on the legacy interface, only what {@link LEGACY_FEATURE_MASK} allows).
   */
  offeredFeatures(): bigint {
    const offered = this.knobs.offered ??
      (this.fn.features | REFERENCE_CORE_FEATURES | (this.admin ? bit(F.ADMIN_VQ) : 0n));
    return this.legacy ? offered & LEGACY_FEATURE_MASK & ~(this.fn.modernOnly ?? 0n) : offered;
  }

  /**
   * Legacy interface: the features in force once the driver sets DRIVER_OK,
   * the bits 0–31 it wrote (the legacy interface has 32 feature bits, so no
   * packed ring). No acceptance check: a legacy device cannot refuse.
   */
  protected legacyFeaturesInForce(): bigint {
    return this.driverFeatures() & 0xffff_ffffn;
  }

  /** The driver's accepted features as written so far. */
  driverFeatures(): bigint {
    return this.driverFeatureWords.reduce((m, w, i) => m | (BigInt(w >>> 0) << BigInt(32 * i)), 0n);
  }

  protected resetState(): void {
    this.epoch++;
    this.status = 0;
    this.driverFeatureWords = [];
    this.negotiated = 0n;
    this.interruptStatus = 0;
    this.errorReason = undefined;
    this.configChangeOwed = false;
    this.#rerun.clear();
    this.#clock.clearTimer(this.#poll);
    this.queues = Array.from({ length: this.queueTotal }, () => this.freshQueue());
    this.fn.reset();
    this.admin?.reset();
    this.onInterrupt(false);
  }

  /** Builds the administration virtqueue's engine (a variant may return its own; called during construction). */
  protected createAdminEngine(admin: AdminFunction): AdminEngine {
    return new AdminEngine(admin);
  }

  /** The index of the administration virtqueue, when the device has one. */
  get adminQueueIndex(): number | undefined {
    return this.admin ? this.fn.queueCount : undefined;
  }

  /** Every queue the device has: the device type's, then the administration virtqueue if any. */
  get queueTotal(): number {
    return this.fn.queueCount + (this.admin ? 1 : 0);
  }

  /**
   * The largest size of queue `q`: the device type's, or for the administration virtqueue
   * {@link ADMIN_QUEUE_SIZE} once VIRTIO_F_ADMIN_VQ is negotiated (0 before: the queue does not exist).
   */
  queueSizeMax(q: number): number {
    if (q === this.adminQueueIndex) return (this.negotiated & bit(F.ADMIN_VQ)) !== 0n ? ADMIN_QUEUE_SIZE : 0;
    return this.fn.queueSizeMax(q);
  }

  protected freshQueue(): QueueState {
    return { size: 0, desc: 0, driver: 0, device: 0, ready: false, resetPending: 0, notifications: 0, held: [] };
  }

  /** Device reset (spec 2.4): everything back to the initial state, status 0. */
  reset(): void {
    this.resetState();
  }

  /** A status write from the driver (0 resets). */
  writeStatus(value: number): void {
    if (value === 0) return this.reset();
    const old = this.status;
    let next = value & 0xff;
    // Legacy interface: no FEATURES_OK step, a FEATURES_OK bit written is only stored.
    if (!this.legacy && (next & Status.FEATURES_OK) && !(old & Status.FEATURES_OK)) {
      if (this.acceptFeatures(this.driverFeatures())) this.negotiated = this.driverFeatures();
      else next &= ~Status.FEATURES_OK;
    }
    if (this.writeSuspend(old, next)) return;
    next &= ~Status.SUSPEND;
    // The device keeps DEVICE_NEEDS_RESET once set; the driver cannot clear it.
    this.status = next | (old & Status.DEVICE_NEEDS_RESET);
    if ((next & Status.DRIVER_OK) && !(old & Status.DRIVER_OK)) {
      if (this.legacy) this.negotiated = this.legacyFeaturesInForce();
      for (let q = 0; q < this.queues.length; q++) this.kick(q);
      if (this.knobs.spuriousUsedNotifications) this.raise(Irq.USED, 0);
      if (this.knobs.suppressAvailNotifications) this.#startPolling(this.epoch);
    }
  }

  /** Whether VIRTIO_F_SUSPEND is in force. */
  get suspendable(): boolean {
    return (this.negotiated & bit(F.SUSPEND)) !== 0n;
  }

  /** Suspended (spec 3.4): SUSPEND set, DRIVER_OK clear. */
  get suspended(): boolean {
    return (this.status & Status.SUSPEND) !== 0 && (this.status & Status.DRIVER_OK) === 0;
  }

  /**
   * Handles the SUSPEND bit of a status write (spec 3.4); true when the write was a suspend or a resume and is done.
   * A SUSPEND bit written before the device is initialized (DRIVER_OK) or without VIRTIO_F_SUSPEND is ignored.
   */
  protected writeSuspend(old: number, next: number): boolean {
    if (!this.suspendable || (old & Status.DEVICE_NEEDS_RESET)) return false;
    const keep = old & Status.DEVICE_NEEDS_RESET;
    if ((next & Status.SUSPEND) && !(old & Status.SUSPEND) && (old & Status.DRIVER_OK)) {
      // Stop taking buffers; DRIVER_OK goes to 0 once the requests in flight are used (and notified).
      this.status = next | keep;
      void this.idle().then(() => {
        if ((this.status & Status.SUSPEND) && (this.status & Status.DRIVER_OK)) this.status &= ~Status.DRIVER_OK;
      });
      return true;
    }
    if (this.suspended && (next & Status.DRIVER_OK)) {
      this.status = (next & ~Status.SUSPEND) | keep;
      if (this.configChangeOwed) {
        this.configChangeOwed = false;
        this.raise(Irq.CONFIG);
      }
      for (let q = 0; q < this.queues.length; q++) this.kick(q);
      return true;
    }
    if (old & Status.SUSPEND) {
      // Suspending or suspended: a write that neither resumes nor resets keeps the device as it is.
      this.status = old;
      return true;
    }
    return false;
  }

  /**
   * Decides FEATURES_OK: only offered features, dependencies satisfied,
   * VERSION_1 accepted (this device uses the MAY of spec 6.2 to refuse
   * drivers that do not accept it).
   */
  protected acceptFeatures(accepted: bigint): boolean {
    if (this.knobs.rejectFeaturesOk) return false;
    const offered = this.offeredFeatures();
    if (accepted & ~offered) return false;
    if (accepted & ~definedMask(this.fn.type, this.transport)) return false;
    if (!(accepted & bit(F.VERSION_1))) return false;
    if (this.fn.acceptsFeatures && !this.fn.acceptsFeatures(accepted)) return false;
    return dependencyGaps(this.fn.type, accepted).length === 0;
  }

  /** Whether the device may touch queue `q` now. */
  protected canProcess(q: number): boolean {
    const queue = this.queues[q];
    return (this.status & Status.DRIVER_OK) !== 0 &&
      (this.status & (Status.DEVICE_NEEDS_RESET | Status.SUSPEND)) === 0 &&
      queue !== undefined && queue.ready && queue.resetPending === 0;
  }

  /** An available-buffer notification for queue `q` (`data`: the raw notification value, if any). */
  notify(q: number, _data?: number): void {
    const s = this.queues[q];
    if (s) s.notifications++;
    this.kick(q);
  }

  /** Polls every live queue while notifications are suppressed, until the next reset. */
  #startPolling(epoch: number): void {
    const tick = () => {
      if (epoch !== this.epoch || this.#stopped || !(this.status & Status.DRIVER_OK)) return;
      for (let q = 0; q < this.queues.length; q++) this.kick(q);
      this.#poll = this.#clock.setTimer(tick, this.knobs.pollMs ?? 2);
    };
    this.#poll = this.#clock.setTimer(tick, this.knobs.pollMs ?? 2);
  }

  /** Stops background polling for good (the device is being discarded). */
  stop(): void {
    this.#stopped = true;
    this.#clock.clearTimer(this.#poll);
  }

  /** Starts (or re-arms) background processing of queue `q`. */
  protected kick(q: number): void {
    if (!this.canProcess(q)) return;
    if (this.#running.has(q)) {
      this.#rerun.add(q);
      return;
    }
    this.#running.add(q);
    const job = this.processQueue(q, this.epoch).finally(() => {
      this.#running.delete(q);
      this.#jobs.delete(job);
      if (this.#rerun.delete(q)) this.kick(q);
    });
    this.#jobs.add(job);
  }

  /** Resolves when no background work is left. */
  async idle(): Promise<void> {
    while (this.#jobs.size > 0) await Promise.all([...this.#jobs]);
  }

  /** The ring of queue `q`, created on first use from the negotiated ring features. */
  protected ring(q: number): DeviceQueue {
    const s = this.queues[q]!;
    if (!s.ring) {
      s.ring = this.createQueue(q);
      s.armed = false;
    }
    return s.ring;
  }

  /** Builds the device side of queue `q` (a seam: mutants return a faulty codec). */
  protected createQueue(q: number): DeviceQueue {
    const s = this.queues[q]!;
    const ring = createDeviceQueue(
      this.memory,
      { size: s.size, desc: s.desc, driver: s.driver, device: s.device },
      ringFeatures(this.negotiated),
    );
    return ring;
  }

  /** Writes the device's notification-suppression settings of a freshly enabled queue. */
  protected async armQueue(ring: DeviceQueue): Promise<void> {
    if (this.knobs.usedFlagsRaw !== undefined && ring.format === "split") {
      const s = ring as DeviceQueue & { setUsedFlags(v: number): Promise<void> };
      await s.setUsedFlags(this.knobs.usedFlagsRaw);
    }
    if (this.knobs.availEventRaw !== undefined && ring instanceof SplitDeviceQueue) {
      await ring.setAvailEvent(this.knobs.availEventRaw);
    }
    await this.wantNotifications(ring);
  }

  /** Tells the driver whether (and when) to send available-buffer notifications. */
  protected async wantNotifications(ring: DeviceQueue): Promise<void> {
    if (this.knobs.suppressAvailNotifications) return await ring.setNotifications(false);
    const ahead = this.knobs.availEventAhead ?? 0;
    if (ahead !== 0 && ring.format === "split" && ring.features.eventIdx) {
      const s = ring as DeviceQueue & { lastAvail: number; setAvailEvent(v: number): Promise<void> };
      return await s.setAvailEvent(s.lastAvail + ahead);
    }
    await ring.setNotifications(true);
  }

  protected async processQueue(q: number, epoch: number): Promise<void> {
    try {
      const ring = this.ring(q);
      const state = this.queues[q]!;
      if (!state.armed) {
        state.armed = true;
        await this.armQueue(ring);
      }
      const batch: { id: number; len: number }[] = [];
      const batching = this.knobs.inOrderBatches === true && ring.features.inOrder;
      const reorder = this.knobs.outOfOrder === true && !ring.features.inOrder;
      const taken: { id: number; buffers: ChainBuffer[] }[] = [];
      while (epoch === this.epoch && this.canProcess(q)) {
        if (!(await ring.hasAvailable())) {
          // Re-arm notifications, then look once more: a buffer made available meanwhile is not missed.
          await this.wantNotifications(ring);
          if (!(await ring.hasAvailable())) break;
        }
        if (this.knobs.holdRequests) return;
        if (this.knobs.needsResetOnRequest) {
          return this.enterErrorState("scenario: request refused with DEVICE_NEEDS_RESET");
        }
        const buf = await ring.take();
        if (!buf) break;
        // Out of order: every buffer of this look is taken first, then executed and used last to first.
        if (reorder) {
          taken.push(buf);
          continue;
        }
        const len = await this.#execute(q, buf, epoch);
        if (len === "stop") return;
        if (len === "held") continue;
        if (batching) {
          batch.push({ id: buf.id, len });
          continue;
        }
        await ring.pushUsed(buf.id, len);
        await this.afterUsed(q, ring);
      }
      if (reorder) {
        for (const buf of taken.reverse()) {
          const len = await this.#execute(q, buf, epoch);
          if (len === "stop") return;
          if (len === "held") continue;
          await ring.pushUsed(buf.id, len);
          await this.afterUsed(q, ring);
        }
        return;
      }
      const last = batch.at(-1);
      if (last && epoch === this.epoch && this.queues[q] === state) {
        await ring.pushUsed(last.id, last.len);
        await this.afterUsed(q, ring);
      }
    } catch (e) {
      if (epoch !== this.epoch) return;
      if (e instanceof RingError) return this.enterErrorState(e.message);
      throw e;
    }
  }

  /**
   * Executes one buffer taken from queue `q`: its used length, `"held"` when the function keeps it for later, or
   * `"stop"` when the device entered its error state or was reset meanwhile (its rings are no longer its to write).
   */
  async #execute(
    q: number,
    buf: { id: number; buffers: ChainBuffer[] },
    epoch: number,
  ): Promise<number | "held" | "stop"> {
    const state = this.queues[q];
    if (q === this.adminQueueIndex) {
      const written = await this.admin!.handle(buf.buffers, this.memory);
      return epoch !== this.epoch || this.queues[q] !== state ? "stop" : written;
    }
    const result = await this.fn.handle(q, buf.buffers, this.memory, this.negotiated);
    if (epoch !== this.epoch || this.queues[q] !== state) return "stop";
    if (result.kind === "error") {
      this.enterErrorState(result.reason);
      return "stop";
    }
    if (result.kind === "hold") {
      state!.held.push({ id: buf.id, buffers: buf.buffers });
      await this.fn.afterHold?.(q);
      return "held";
    }
    return this.usedLength(result.written, buf.buffers.reduce((s, b) => s + b.len, 0));
  }

  /** The device-writable bytes of each buffer held on queue `q`, oldest first (see {@link FunctionHost.heldSizes}). */
  heldSizes(q: number): number[] {
    const state = this.queues[q];
    if (!state || !this.canProcess(q)) return [];
    return state.held.map((h) => h.buffers.reduce((n, b) => n + (b.writable ? b.len : 0), 0));
  }

  /** Fills the oldest held buffer of queue `q` with `data` and uses it (see {@link FunctionHost.deliver}). */
  deliver(q: number, data: Uint8Array): Promise<boolean> {
    const state = this.queues[q];
    if (!state || !this.canProcess(q) || state.held.length === 0) return Promise.resolve(false);
    const held = state.held.shift()!;
    const epoch = this.epoch;
    const job = (async () => {
      const written = await scatter(this.memory, held.buffers.filter((b) => b.writable), data);
      if (epoch !== this.epoch || this.queues[q] !== state) return;
      const ring = this.ring(q);
      await ring.pushUsed(held.id, written);
      await this.afterUsed(q, ring);
    })();
    const tracked = job.catch((e) => {
      if (epoch === this.epoch && e instanceof RingError) this.enterErrorState(e.message);
    }).finally(() => this.#jobs.delete(tracked));
    this.#jobs.add(tracked);
    return tracked.then(() => true);
  }

  /** The length reported in a used element: bytes actually written. */
  protected usedLength(written: number, _chainLength: number): number {
    return written;
  }

  /** Sends a used-buffer notification unless the driver suppressed it. */
  protected async afterUsed(q: number, ring: DeviceQueue): Promise<void> {
    if (await ring.needsNotification()) this.raise(Irq.USED, q);
    if (this.knobs.spuriousUsedNotifications) this.raise(Irq.USED, q);
  }

  /** The device's error state (spec 2.1.2): DEVICE_NEEDS_RESET, then a config change notification. */
  protected enterErrorState(reason: string): void {
    this.errorReason = reason;
    this.status |= Status.DEVICE_NEEDS_RESET;
    if (this.status & Status.DRIVER_OK) this.raise(Irq.CONFIG);
  }

  /** Asserts an interrupt cause (`queue`: the virtqueue of a used-buffer event, when known). */
  raise(cause: number, queue?: number): void {
    this.interruptStatus |= cause;
    this.onRaise(cause, queue);
    this.onInterrupt(true);
  }

  /** The driver acknowledged interrupt causes. */
  ack(bits: number): void {
    this.interruptStatus &= ~bits;
    if (this.interruptStatus === 0) this.onInterrupt(false);
  }

  /** A host-side configuration change (e.g. a resize): new generation, then a notification. */
  changeConfig(mutate: (config: Uint8Array) => void): void {
    this.bumpGeneration();
    mutate(this.fn.config);
    if (this.status & Status.SUSPEND) this.configChangeOwed = true;
    else if (this.status & Status.DRIVER_OK) this.raise(Irq.CONFIG);
  }

  protected bumpGeneration(): void {
    this.configGeneration = (this.configGeneration + 1) >>> 0;
  }

  /** Reads configuration bytes (little-endian value of `width` bytes). */
  readConfig(offset: number, width: number): number {
    this.knobs.onConfigRead?.(offset);
    let v = 0;
    for (let i = width - 1; i >= 0; i--) v = v * 256 + (this.fn.config[offset + i] ?? 0);
    return v;
  }

  /** Driver writes to configuration space: the function's to take (ignored when it has no writable field). */
  writeConfig(offset: number, width: number, value: number): void {
    this.fn.writeConfig?.(offset, width as 1 | 2 | 4, value);
  }

  /** Queue `q` enabled by the driver. */
  enableQueue(q: number): void {
    const s = this.queues[q];
    if (!s) return;
    s.ready = true;
    s.ring = undefined;
    this.kick(q);
  }

  /** Queue `q` disabled by the driver. */
  disableQueue(q: number): void {
    const s = this.queues[q];
    if (s) s.ready = false;
  }

  /** Per-queue reset (VIRTIO_F_RING_RESET): back to the initial queue state. */
  resetQueue(q: number): void {
    if (!this.queues[q]) return;
    const pending = this.knobs.queueResetReads ?? 0;
    this.queues[q] = { ...this.freshQueue(), resetPending: pending };
    this.fn.queueReset?.(q);
  }

  /** Whether queue `q` is enabled and not being reset (see {@link FunctionHost.queueEnabled}). */
  queueEnabled(q: number): boolean {
    const s = this.queues[q];
    return s !== undefined && s.ready && s.resetPending === 0;
  }
}
