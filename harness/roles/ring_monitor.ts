/**
 * A runtime monitor of a driver's ring obligations (spec 2.7 split and 2.8
 * packed virtqueues, 3.3 device cleanup), for the harness playing the device.
 *
 * The monitor sees every access the driver under test makes to the ring areas
 * of its live queues (through a {@link WatchedMemory}), every available-buffer
 * notification and every queue enable, disable and reset. It reads the
 * device's side of the rings (used ring, used descriptors, suppression
 * fields) from the raw guest memory whenever it runs, so it always knows
 * which buffers are still exposed. Broken obligations become
 * {@link RingViolation}s naming the exact ring entries involved; each kind
 * maps to the normative statement it breaks ({@link RING_VIOLATION_STATEMENTS}).
 *
 * Every walk is bounded (queue size, indirect table size) and every index and
 * address is checked; no hook ever throws.
 *
 * @module
 */
import { type ArrayMemory, inRange } from "../memory.ts";
import type { QueueAddresses } from "../transport/transport.ts";
import { decodeNotificationData, needEvent, queueAlignment, type RingFeatures } from "../virtqueue/queue.ts";
import type { MemoryWatcher, WatchedMemory } from "./watched_memory.ts";
import {
  AVAIL_RING,
  AVAIL_SUPPRESSION,
  CLEANUP,
  DESC_TABLE,
  FRAMING,
  INDIRECT,
  NOTIFYING,
  PACKED,
  PACKED_DESC,
  PACKED_FLAGS,
  PACKED_INDIRECT,
  PACKED_NOTIFY,
  PACKED_SG,
  SUSPEND_DRIVER,
  UPDATING_IDX,
  USED_SUPPRESSION,
  VQ,
} from "../ring_labels.ts";
import { hex } from "../text.ts";

/** What a driver did wrong on a ring. Split-ring kinds first, then packed (`packed-…`). */
export type RingViolationKind =
  /** Buffers made available after the driver set SUSPEND, before it resumed the device (either ring layout). */
  | "published-while-suspended"
  /** A split queue area not aligned as the split layout table requires (desc 16, driver 2, device 4). */
  | "misaligned-area"
  /** A split queue area not inside guest memory when the queue was enabled (the queue is not monitored). */
  | "area-outside-memory"
  /** The used ring's flags were not 0 when the queue was enabled. */
  | "used-flags-not-zero"
  /** The available idx moved backwards. */
  | "avail-idx-backwards"
  /** The available idx moved more than the queue size ahead of the device's used idx. */
  | "avail-idx-overrun"
  /** The available idx covered a ring slot the driver had not written since the slot was last covered. */
  | "idx-before-entry"
  /** A descriptor (or indirect table entry) of an exposed buffer changed before the device used it. */
  | "desc-changed-while-exposed"
  /** A newly published chain includes a descriptor of a buffer still exposed. */
  | "desc-reused-while-exposed"
  /** A device-readable descriptor after a device-writable one in a chain. */
  | "readable-after-writable"
  /** A chain of more than 2^32 bytes in total. */
  | "chain-too-large"
  /** With VIRTIO_F_IN_ORDER, a NEXT descriptor at index x whose next is not (x + 1) mod queue size. */
  | "in-order-next"
  /** INDIRECT set without VIRTIO_F_INDIRECT_DESC. */
  | "indirect-without-feature"
  /** INDIRECT set in an indirect table entry. */
  | "indirect-in-indirect"
  /** A chain of more direct descriptors than the queue size, or a loop (direct or in an indirect table). */
  | "chain-too-long"
  /** A head or next index outside the queue (or outside its indirect table). */
  | "desc-index-out-of-range"
  /** An indirect table whose length is 0 or not a multiple of 16, or that lies outside guest memory. */
  | "indirect-table-invalid"
  /** INDIRECT and NEXT both set in one descriptor. */
  | "indirect-with-next"
  /** With VIRTIO_F_IN_ORDER, an indirect entry i with NEXT whose next is not i + 1. */
  | "indirect-not-sequential"
  /** Available ring flags other than 0 or 1 without VIRTIO_F_EVENT_IDX. */
  | "avail-flags-invalid"
  /** Available ring flags other than 0 with VIRTIO_F_EVENT_IDX. */
  | "avail-flags-nonzero-event-idx"
  /** Without VIRTIO_F_EVENT_IDX: buffers published while the used flags were 0, and no notification followed. */
  | "missed-notification"
  /** With VIRTIO_F_EVENT_IDX: the idx passed avail_event and no notification followed. */
  | "missed-notification-event-idx"
  /** With VIRTIO_F_EVENT_IDX: a missed notification while the device's used flags had NO_NOTIFY set. */
  | "flags-not-ignored"
  /** Without VIRTIO_F_EVENT_IDX: a notification although the used flags were 1. */
  | "unneeded-notification"
  /** With VIRTIO_F_EVENT_IDX: a notification although the idx did not pass avail_event. */
  | "unneeded-notification-event-idx"
  /** The driver's notification decision read the used flags / avail_event before its idx write, not after. */
  | "stale-suppression-read"
  /** A packed queue area not aligned (desc 16, driver 4, device 4). */
  | "packed-misaligned-area"
  /** A packed queue area not inside guest memory when the queue was enabled (the queue is not monitored). */
  | "packed-area-outside-memory"
  /** A packed descriptor changed while available (after its AVAIL bit was set, before the device used it). */
  | "packed-desc-changed-while-available"
  /** The head of a packed list made available before the rest of the list. */
  | "packed-head-before-rest"
  /** A packed descriptor's addr, len or id written after its flags made it available. */
  | "packed-flags-before-rest"
  /** A packed list longer than the queue size (or looping round the whole ring). */
  | "packed-list-too-long"
  /** A device-readable element after a device-writable one in a packed list or its indirect table. */
  | "packed-writable-before-readable"
  /** A packed list made available without enough free ring slots for all of it. */
  | "packed-list-overrun"
  /** INDIRECT set without VIRTIO_F_INDIRECT_DESC (packed). */
  | "packed-indirect-without-feature"
  /** A packed indirect table entry with a flag other than WRITE. */
  | "packed-indirect-entry-flags"
  /** A packed indirect table with more entries than the queue size, or not a valid table in guest memory. */
  | "packed-indirect-too-long"
  /** INDIRECT in a packed list chained with NEXT. */
  | "packed-indirect-in-list"
  /** With VIRTIO_F_NOTIFICATION_DATA: next_off / next_wrap not the driver's next position and wrap counter. */
  | "packed-notification-data-mismatch"
  /** The driver's notification decision read the device event suppression structure before it published. */
  | "packed-stale-suppression-read";

/**
 * The statement (`label#ordinal`, ordinals as in `blocks.json`) each kind
 * breaks. Choices where the spec offers no exact statement:
 * - a change to an exposed split descriptor and the reuse of one in a new
 *   chain break the cleanup statement (3.3.1#1: exposed buffers' ring entries
 *   stay untouched while the queue is live);
 * - an out-of-range index or an invalid indirect table makes a chain the
 *   device cannot walk within the queue: counted against 2.7.5.3.1#3
 *   (packed: 2.8.19#3, the device's limit on a chain);
 * - a packed descriptor changed while available: 2.8.16#2 (the driver changed
 *   it after setting its AVAIL bit); 2.8.16#1 describes the same slots from the
 *   other end and is not reported separately.
 */
export const RING_VIOLATION_STATEMENTS: Record<RingViolationKind, string> = {
  "misaligned-area": `${VQ}#1`,
  "area-outside-memory": `${VQ}#1`,
  "used-flags-not-zero": `${AVAIL_SUPPRESSION}#1`,
  "published-while-suspended": `${SUSPEND_DRIVER}#3`,
  "avail-idx-backwards": `${AVAIL_RING}#1`,
  "avail-idx-overrun": `${AVAIL_RING}#1`,
  "idx-before-entry": `${UPDATING_IDX}#1`,
  "desc-changed-while-exposed": `${CLEANUP}#1`,
  "desc-reused-while-exposed": `${CLEANUP}#1`,
  "readable-after-writable": `${FRAMING}#1`,
  "chain-too-large": `${DESC_TABLE}#1`,
  "in-order-next": `${DESC_TABLE}#2`,
  "indirect-without-feature": `${INDIRECT}#1`,
  "indirect-in-indirect": `${INDIRECT}#2`,
  "chain-too-long": `${INDIRECT}#3`,
  "desc-index-out-of-range": `${INDIRECT}#3`,
  "indirect-table-invalid": `${INDIRECT}#3`,
  "indirect-with-next": `${INDIRECT}#4`,
  "indirect-not-sequential": `${INDIRECT}#5`,
  "avail-flags-invalid": `${USED_SUPPRESSION}#1`,
  "avail-flags-nonzero-event-idx": `${USED_SUPPRESSION}#3`,
  "missed-notification": `${AVAIL_SUPPRESSION}#4`,
  "missed-notification-event-idx": `${AVAIL_SUPPRESSION}#6`,
  "flags-not-ignored": `${AVAIL_SUPPRESSION}#5`,
  "unneeded-notification": `${AVAIL_SUPPRESSION}#3`,
  "unneeded-notification-event-idx": `${AVAIL_SUPPRESSION}#7`,
  "stale-suppression-read": `${NOTIFYING}#1`,
  "packed-misaligned-area": `${PACKED}#1`,
  "packed-area-outside-memory": `${PACKED}#1`,
  "packed-desc-changed-while-available": `${PACKED_DESC}#2`,
  "packed-head-before-rest": `${PACKED_SG}#6`,
  "packed-flags-before-rest": `${PACKED_FLAGS}#1`,
  "packed-list-too-long": `${PACKED_SG}#2`,
  "packed-writable-before-readable": `${PACKED_SG}#3`,
  "packed-list-overrun": `${PACKED_SG}#5`,
  "packed-indirect-without-feature": `${PACKED_INDIRECT}#1`,
  "packed-indirect-entry-flags": `${PACKED_INDIRECT}#2`,
  "packed-indirect-too-long": `${PACKED_INDIRECT}#3`,
  "packed-indirect-in-list": `${PACKED_INDIRECT}#4`,
  "packed-notification-data-mismatch": `${PACKED_DESC}#3`,
  "packed-stale-suppression-read": `${PACKED_NOTIFY}#1`,
};

/** One broken ring obligation. */
export interface RingViolation {
  kind: RingViolationKind;
  /** The statement key (`label#ordinal`) it breaks. */
  statement: string;
  /** The virtqueue index. */
  queue: number;
  /** The exact ring entries involved: slots, descriptor indexes, flag and idx values. */
  detail: string;
  /** The head descriptor (split) or buffer id (packed) of the exposed buffer concerned, when there is one. */
  head?: number;
}

/**
 * The queue areas not on the alignment their ring format requires (split: desc 16, driver 2, device 4; packed: 16,
 * 4, 4), one phrase each: the evidence of 2.7.1#1 and 2.8.11#1.
 *
 * @example
 * ```ts ignore
 * misalignedAreas("split", { desc: 0x1008, driver: 0x2000, device: 0x3000 }); // ["desc area 0x1008 (alignment 16)"]
 * ```
 */
export function misalignedAreas(
  format: RingFeatures["format"],
  addrs: Pick<QueueAddresses, "desc" | "driver" | "device">,
): string[] {
  const align = queueAlignment(format);
  return (["desc", "driver", "device"] as const).filter((part) => addrs[part] % align[part] !== 0)
    .map((part) => `${part} area ${hex(addrs[part])} (alignment ${align[part]})`);
}

/** Counts for one queue over a whole scenario (every enable of it). */
export interface RingQueueSummary {
  /** Buffers the driver made available. */
  published: number;
  /** Available-buffer notifications for the queue. */
  notifications: number;
  /** Buffers the device used (with IN_ORDER, skipped buffers count too). */
  used: number;
  /** Device-readable elements (descriptors and indirect entries) in the buffers the driver made available. */
  readable: number;
}

/** Construction options of a {@link RingMonitor}. */
export interface RingMonitorOptions {
  /** The view the driver accesses memory through; the monitor watches it. */
  watched?: WatchedMemory;
  /** Called for every new violation (after it was recorded). */
  onViolation?: (v: RingViolation) => void;
  /** Most violations kept (default 10 000); later ones are dropped. */
  limit?: number;
  /**
   * Whether the queues are live now (DRIVER_OK set, no reset since). The
   * kinds of the cleanup statement (changes to exposed buffers) only count
   * while it answers true; without it, from the queue's enable on.
   */
  live?: () => boolean;
  /** Whether the driver has set SUSPEND and not yet resumed the device (spec 3.4): no buffer may be made available. */
  suspended?: () => boolean;
}

const NEXT = 1;
const WRITE = 2;
const IND = 4;
const P_AVAIL = 1 << 7;
const P_USED = 1 << 15;
const NO_NOTIFY = 1;

/**
 * Where the driver of an idle packed ring will make its next descriptor available, read from the ring: the slots it
 * wrote on its current lap carry AVAIL = its wrap counter, the others the previous lap's (or nothing yet). Undefined
 * when some slot the driver wrote is not marked used (a buffer still out: the positions cannot be told then).
 */
function packedIdlePosition(r: Raw, desc: number, size: number): { pos: number; wrap: number } | undefined {
  const availOf = (i: number) => (r.u16(desc + 16 * i + 14) & P_AVAIL) ? 1 : 0;
  const first = availOf(0);
  let pos = 0;
  while (pos < size && availOf(pos) === first) pos++;
  // Every slot on the same side: the lap just ended (or nothing was written yet, which reads as lap 0 ended).
  const wrap = pos === size ? first ^ 1 : first;
  if (pos === size) pos = 0;
  for (let i = 0; i < size; i++) {
    const f = r.u16(desc + 16 * i + 14);
    const written = ((f & P_AVAIL) !== 0) !== ((f & P_USED) !== 0);
    if (written) return undefined;
  }
  return { pos, wrap };
}

/** Raw little-endian reads of the guest memory; callers check ranges first. */
class Raw {
  constructor(readonly mem: ArrayMemory) {}
  has(addr: number, length: number): boolean {
    return inRange(this.mem, addr, length);
  }
  u16(addr: number): number {
    return this.mem.u16(addr);
  }
  u32(addr: number): number {
    return this.mem.u32(addr);
  }
  u64(addr: number): number {
    return this.mem.u32(addr) + this.mem.u32(addr + 4) * 2 ** 32;
  }
}

/** Suppression fields as they were at one moment. */
interface Suppression {
  flags: number;
  event: number;
}

/** What the driver published since its last notification (or checkpoint). */
interface Window {
  /** Split: avail idx before the first publication of the window. */
  startIdx: number;
  /** Split: avail idx after the last one. */
  endIdx: number;
  /** Monitor sequence number of the last publication. */
  lastPublishSeq: number;
  /** Suppression state at the last publication. */
  atPublish: Suppression;
  /** Suppression state at the driver's latest read after the last publication. */
  readAfter: Suppression | undefined;
  /**
   * Other states the device's fields may have been in when the driver published or looked (a watched driver, whose
   * rings are sampled while the device may write them): a decision that depends on which it saw is not judged.
   */
  alternatives: Suppression[];
}

interface QueueBase {
  readonly q: number;
  readonly f: RingFeatures;
  readonly a: QueueAddresses;
  readonly size: number;
  window: Window | undefined;
  /** Sequence number of the last notification or checkpoint that closed a window. */
  boundarySeq: number;
  /** Sequence number of the driver's last read of the suppression fields (-1: none). */
  lastReadSeq: number;
  /** Set after a fault that makes further tracking meaningless. */
  lost: boolean;
}

interface SplitBuffer {
  key: number;
  head: number;
  slot: number;
  descs: number[];
  table: { addr: number; len: number } | undefined;
}

interface SplitQueue extends QueueBase {
  readonly format: "split";
  availIdx: number;
  usedIdx: number;
  availFlags: number;
  /** Per available-ring slot: written since it was last covered by idx. */
  slotWritten: Uint8Array;
  /** Per descriptor: key of the exposed buffer it belongs to, or -1. */
  owner: Int32Array;
  exposed: Map<number, SplitBuffer>;
  nextKey: number;
}

interface PackedBuffer {
  key: number;
  id: number;
  pos: number;
  slots: number;
}

interface PackedQueue extends QueueBase {
  readonly format: "packed";
  availPos: number;
  availWrap: number;
  usedPos: number;
  usedWrap: number;
  /** Ring slots made available and not yet passed by the device's used position. */
  inFlight: number;
  exposed: Map<number, PackedBuffer>;
  nextKey: number;
  /** Lists made available so far (identifies the list a premature head belongs to). */
  listCount: number;
  /** `listCount` at which a premature head was last reported. */
  prematureAt: number;
}

type QueueState = SplitQueue | PackedQueue;

/**
 * The ring monitor of one scenario. Feed it the transport events (queue
 * enable/disable/reset, device reset, notifications) and let it watch the
 * driver's memory view; read {@link violations} and {@link summary} after.
 *
 * @example
 * ```ts
 * import { ArrayMemory, writeU16 } from "../memory.ts";
 * import { PLAIN_SPLIT } from "../virtqueue/queue.ts";
 * import { RingMonitor } from "./ring_monitor.ts";
 * import { WatchedMemory } from "./watched_memory.ts";
 * const raw = new ArrayMemory(0x1000, 0x4000);
 * const driverView = new WatchedMemory(raw);
 * const monitor = new RingMonitor(raw, { watched: driverView });
 * monitor.enableQueue(0, PLAIN_SPLIT, { size: 4, desc: 0x1000, driver: 0x1100, device: 0x1200 });
 * await writeU16(driverView, 0x1102, 1); // idx 1 without writing ring slot 0
 * monitor.checkpoint();
 * console.log(monitor.violations.map((v) => v.kind)); // ["idx-before-entry", "missed-notification"]
 * ```
 */
export class RingMonitor implements MemoryWatcher {
  /** Every violation recorded, in order. */
  readonly violations: RingViolation[] = [];
  readonly #raw: Raw;
  readonly #watched: WatchedMemory | undefined;
  readonly #onViolation: ((v: RingViolation) => void) | undefined;
  readonly #limit: number;
  readonly #live: (() => boolean) | undefined;
  readonly #suspended: (() => boolean) | undefined;
  readonly #queues = new Map<number, QueueState>();
  readonly #summary = new Map<number, RingQueueSummary>();
  readonly #seen = new Set<string>();
  #seq = 0;

  constructor(readonly memory: ArrayMemory, opts: RingMonitorOptions = {}) {
    this.#raw = new Raw(memory);
    this.#watched = opts.watched;
    this.#onViolation = opts.onViolation;
    this.#limit = opts.limit ?? 10_000;
    this.#live = opts.live;
    this.#suspended = opts.suspended;
    if (opts.watched) opts.watched.watcher = this;
  }

  /** Per-queue counts over the whole scenario. */
  summary(): ReadonlyMap<number, RingQueueSummary> {
    for (const st of this.#queues.values()) this.#safe(() => this.#syncUsed(st));
    return this.#summary;
  }

  /** The counts of queue `q` (zeros when it never carried anything). */
  queueSummary(q: number): RingQueueSummary {
    return { ...(this.summary().get(q) ?? { published: 0, notifications: 0, used: 0, readable: 0 }) };
  }

  /** Queues being monitored now. */
  liveQueues(): number[] {
    return [...this.#queues.keys()];
  }

  // ------------------------------------------------------------ transport

  /**
   * The driver enabled queue `q` (QueueReady = 1 after FEATURES_OK): checks
   * the layout and starts watching its areas.
   */
  /**
   * A queue enabled by the driver. `usedFlags` is the used ring's flags word
   * read just before the enabling write (the device may write it as soon as
   * the queue is live); without it the monitor reads it now. `late`: the
   * queue went live earlier and the monitor starts on it now (a watch that
   * began while the driver ran), so the checks of an enable are skipped.
   */
  enableQueue(q: number, features: RingFeatures, addrs: QueueAddresses, usedFlags?: number, late = false): void {
    this.#safe(() => {
      this.#forget(q, true);
      const size = addrs.size;
      if (!Number.isInteger(size) || size < 1 || size > 32768) return;
      const packed = features.format === "packed";
      const areas = packed
        ? { desc: 16 * size, driver: 4, device: 4 }
        : { desc: 16 * size, driver: 6 + 2 * size, device: 6 + 8 * size };
      const misaligned = misalignedAreas(features.format, addrs);
      const outside: string[] = [];
      for (const part of ["desc", "driver", "device"] as const) {
        const addr = addrs[part];
        if (!this.#raw.has(addr, areas[part])) outside.push(`${part} area ${hex(addr)}+${areas[part]}`);
      }
      if (misaligned.length > 0 && !late) {
        this.#report(q, packed ? "packed-misaligned-area" : "misaligned-area", misaligned.join(", "));
      }
      if (outside.length > 0) {
        this.#report(
          q,
          packed ? "packed-area-outside-memory" : "area-outside-memory",
          `${outside.join(", ")} not inside guest memory; the queue is not monitored`,
        );
        return;
      }
      const base: QueueBase = {
        q,
        f: features,
        a: { ...addrs },
        size,
        window: undefined,
        boundarySeq: this.#seq,
        lastReadSeq: -1,
        lost: false,
      };
      let st: QueueState;
      if (packed) {
        // A late start: the driver's position comes from the ring (see packedIdlePosition); a ring with buffers
        // still out cannot tell it, and is not monitored.
        const at = late ? packedIdlePosition(this.#raw, addrs.desc, size) : { pos: 0, wrap: 1 };
        if (!at) return;
        st = {
          ...base,
          format: "packed",
          availPos: at.pos,
          availWrap: at.wrap,
          usedPos: at.pos,
          usedWrap: at.wrap,
          inFlight: 0,
          exposed: new Map(),
          nextKey: 0,
          listCount: 0,
          prematureAt: -1,
        };
      } else {
        const r = this.#raw;
        st = {
          ...base,
          format: "split",
          availIdx: r.u16(addrs.driver + 2),
          usedIdx: r.u16(addrs.device + 2),
          availFlags: r.u16(addrs.driver),
          slotWritten: new Uint8Array(size),
          owner: new Int32Array(size).fill(-1),
          exposed: new Map(),
          nextKey: 0,
        };
        const flags = usedFlags ?? r.u16(addrs.device);
        if (flags !== 0 && !late) {
          this.#report(q, "used-flags-not-zero", `used ring flags ${hex(flags)} at ${hex(addrs.device)}`);
        }
        if (!late) this.#checkAvailFlags(st, st.availFlags, "at enable");
      }
      this.#queues.set(q, st);
      this.#watched?.setRanges(`q${q}:rings`, [
        { start: addrs.desc, end: addrs.desc + areas.desc },
        { start: addrs.driver, end: addrs.driver + areas.driver },
        { start: addrs.device, end: addrs.device + areas.device },
      ]);
    });
  }

  /** Queue `q` disabled (QueueReady = 0) or reset (QueueReset = 1): pending decisions are settled, then it is forgotten. */
  disableQueue(q: number): void {
    this.#safe(() => this.#forget(q, true));
  }

  /** Device reset (status 0): every queue is forgotten. */
  reset(): void {
    this.#safe(() => {
      for (const q of [...this.#queues.keys()]) this.#forget(q, true);
    });
  }

  /**
   * An available-buffer notification: `value` is the raw 32-bit value
   * written (virtqueue index in bits 0–15; with NOTIFICATION_DATA, next_off
   * in bits 16–30 and next_wrap in bit 31).
   */
  notify(value: number): void {
    this.#safe(() => {
      const seq = ++this.#seq;
      const q = value & 0xffff;
      const s = this.#summaryOf(q);
      s.notifications++;
      const st = this.#queues.get(q);
      if (!st || st.lost) return;
      this.#syncUsed(st);
      if (st.format === "packed" && st.f.notificationData) {
        const d = decodeNotificationData(value >>> 0);
        if (d.nextOff !== st.availPos || d.wrap !== st.availWrap) {
          this.#report(
            q,
            "packed-notification-data-mismatch",
            `notification ${hex(value >>> 0)} says next_off ${d.nextOff} next_wrap ${d.wrap}; the next descriptor ` +
              `not yet available is at ${st.availPos} with wrap counter ${st.availWrap}`,
          );
        }
      }
      const w = st.window;
      if (!w) return;
      this.#checkStaleRead(st, w, "notification");
      if (st.format === "split") {
        const need = this.#splitNeed(st, w);
        if (need === "no") {
          this.#report(
            q,
            st.f.eventIdx ? "unneeded-notification-event-idx" : "unneeded-notification",
            `notification after avail idx ${w.startIdx}→${w.endIdx} while ${this.#describeSuppression(st, w)}`,
          );
        }
      }
      st.window = undefined;
      st.boundarySeq = seq;
    });
  }

  /**
   * A watched driver: the device may have changed queue `q`'s suppression fields (used ring flags, avail_event) between
   * two samples of its rings, so when the driver last published or looked they may have held `flags` and `event`
   * instead. The open window takes that as one more possibility: a notification decision that depends on which value
   * the driver saw is not judged.
   */
  suppressionMayHaveBeen(q: number, flags: number, event: number): void {
    this.#safe(() => {
      const w = this.#queues.get(q)?.window;
      if (w) w.alternatives.push({ flags, event });
    });
  }

  /**
   * A point where the driver has had every chance to notify (a phase
   * boundary, the end of a scenario): publications with no notification
   * since are settled now.
   */
  checkpoint(): void {
    this.#safe(() => {
      for (const st of this.#queues.values()) this.#settle(st);
    });
  }

  // ------------------------------------------------------------- watcher

  /**
   * {@link MemoryWatcher} hook: a driver write is about to land. The device's
   * progress is taken in first, so that a write over a used descriptor
   * cannot hide it.
   */
  beforeWrite(_addr: number, _length: number): void {
    this.#safe(() => {
      for (const st of this.#queues.values()) this.#syncUsed(st);
    });
  }

  /** {@link MemoryWatcher} hook: a driver write inside a watched range. */
  onWrite(addr: number, data: Uint8Array, before: Uint8Array): void {
    this.#safe(() => {
      const seq = ++this.#seq;
      const end = addr + data.length;
      for (const st of this.#queues.values()) {
        if (st.lost) continue;
        if (st.format === "split") this.#splitWrite(st, addr, end, data, before, seq);
        else this.#packedWrite(st, addr, end, data, before, seq);
      }
    });
  }

  /** {@link MemoryWatcher} hook: a driver read inside a watched range. */
  onRead(addr: number, length: number): void {
    this.#safe(() => {
      const seq = ++this.#seq;
      const end = addr + length;
      for (const st of this.#queues.values()) {
        if (st.lost) continue;
        // The field that decides a notification: avail_event under EVENT_IDX, the used flags without it (a driver
        // without EVENT_IDX may keep its own data where avail_event would be; with it, the flags are ignored).
        const fields = st.format === "split"
          ? [st.f.eventIdx ? [st.a.device + 4 + 8 * st.size, 2] : [st.a.device, 2]] as const
          : [[st.a.device, 4]] as const;
        if (!fields.some(([start, len]) => addr < start + len && end > start)) continue;
        // A read that also takes the used idx or used elements is harvesting, not a notification decision.
        if (st.format === "split" && addr < st.a.device + 4 + 8 * st.size && end > st.a.device + 2) continue;
        st.lastReadSeq = seq;
        const w = st.window;
        if (w && seq > w.lastPublishSeq) w.readAfter = this.#suppression(st);
      }
    });
  }

  // ------------------------------------------------------------ internals

  #safe(fn: () => void): void {
    try {
      fn();
    } catch {
      // A monitor fault never reaches the driver or the device; the queue state may be incomplete.
    }
  }

  #summaryOf(q: number): RingQueueSummary {
    let s = this.#summary.get(q);
    if (!s) this.#summary.set(q, s = { published: 0, notifications: 0, used: 0, readable: 0 });
    return s;
  }

  #report(q: number, kind: RingViolationKind, detail: string, head?: number): void {
    if (this.#live && RING_VIOLATION_STATEMENTS[kind].startsWith(CLEANUP) && !this.#live()) return;
    const key = `${kind}|${q}|${detail}`;
    if (this.#seen.has(key) || this.violations.length >= this.#limit) return;
    this.#seen.add(key);
    const v: RingViolation = { kind, statement: RING_VIOLATION_STATEMENTS[kind], queue: q, detail };
    if (head !== undefined) v.head = head;
    this.violations.push(v);
    try {
      this.#onViolation?.(v);
    } catch {
      // The listener's problem, not the driver's.
    }
  }

  #forget(q: number, settle: boolean): void {
    const st = this.#queues.get(q);
    if (!st) return;
    if (settle && !st.lost) {
      this.#syncUsed(st);
      this.#settle(st);
    }
    this.#queues.delete(q);
    this.#watched?.clearRanges(`q${q}:`);
  }

  /** Settles a window that ended without a notification. */
  #settle(st: QueueState): void {
    if (st.lost) return;
    this.#syncUsed(st);
    const w = st.window;
    if (!w) return;
    this.#checkStaleRead(st, w, "decision not to notify");
    if (st.format === "split" && this.#splitNeed(st, w) === "yes") {
      const detail = `avail idx ${w.startIdx}→${w.endIdx} published while ${
        this.#describeSuppression(st, w)
      }, and no notification followed`;
      if (st.f.eventIdx) {
        this.#report(st.q, "missed-notification-event-idx", detail);
        if (w.atPublish.flags & NO_NOTIFY) {
          this.#report(
            st.q,
            "flags-not-ignored",
            `used flags ${hex(w.atPublish.flags)} (NO_NOTIFY) apparently honoured with EVENT_IDX: ${detail}`,
          );
        }
      } else {
        this.#report(st.q, "missed-notification", detail);
      }
    }
    st.window = undefined;
    st.boundarySeq = this.#seq;
  }

  #checkStaleRead(st: QueueState, w: Window, what: string): void {
    if (st.lastReadSeq > st.boundarySeq && st.lastReadSeq < w.lastPublishSeq) {
      const fields = st.format === "split"
        ? (st.f.eventIdx ? "avail_event" : "used ring flags")
        : "device event suppression structure";
      this.#report(
        st.q,
        st.format === "split" ? "stale-suppression-read" : "packed-stale-suppression-read",
        `${what}: the driver last read the ${fields} (access #${st.lastReadSeq}) before its publication ` +
          `(access #${w.lastPublishSeq}) and not after`,
      );
    }
  }

  /** The device's suppression fields now. */
  #suppression(st: QueueState): Suppression {
    const r = this.#raw;
    if (st.format === "split") return { flags: r.u16(st.a.device), event: r.u16(st.a.device + 4 + 8 * st.size) };
    return { flags: r.u16(st.a.device + 2), event: r.u16(st.a.device) };
  }

  #describeSuppression(st: SplitQueue, w: Window): string {
    const one = (s: Suppression) =>
      st.f.eventIdx ? `avail_event ${s.event} (used flags ${hex(s.flags)})` : `used flags ${hex(s.flags)}`;
    return `${one(w.atPublish)} at the idx write` +
      (w.readAfter ? `, ${one(w.readAfter)} when the driver read it` : "");
  }

  /** Whether the window needed a notification: "yes"/"no" only when every view of the device's state agrees. */
  #splitNeed(st: SplitQueue, w: Window): "yes" | "no" | "unknown" {
    const views = [w.atPublish, ...(w.readAfter ? [w.readAfter] : []), ...w.alternatives];
    const needs = views.map((s) =>
      st.f.eventIdx ? needEvent(s.event, w.endIdx, w.startIdx) : (s.flags & NO_NOTIFY) === 0
    );
    if (needs.every((n) => n)) return "yes";
    if (needs.every((n) => !n)) return "no";
    return "unknown";
  }

  #openWindow(st: QueueState, startIdx: number, endIdx: number, seq: number): void {
    const w = st.window;
    const atPublish = this.#suppression(st);
    if (w) {
      w.endIdx = endIdx;
      w.lastPublishSeq = seq;
      w.atPublish = atPublish;
      w.readAfter = undefined;
      w.alternatives = [];
    } else {
      st.window = { startIdx, endIdx, lastPublishSeq: seq, atPublish, readAfter: undefined, alternatives: [] };
    }
  }

  #syncUsed(st: QueueState): void {
    if (st.lost) return;
    if (st.format === "split") this.#splitSyncUsed(st);
    else this.#packedSyncUsed(st);
  }

  // ----------------------------------------------------------------- split

  #splitSyncUsed(st: SplitQueue): void {
    const r = this.#raw;
    const idx = r.u16(st.a.device + 2);
    const n = (idx - st.usedIdx) & 0xffff;
    if (n === 0) return;
    if (n > st.size) {
      // The device's fault, not the driver's: resynchronize quietly.
      st.usedIdx = idx;
      return;
    }
    let used = 0;
    for (let k = 0; k < n; k++) {
      const slot = (st.usedIdx + k) % st.size;
      const id = r.u32(st.a.device + 4 + 8 * slot);
      const order = [...st.exposed.values()];
      const at = order.findIndex((b) => b.head === id);
      if (!st.f.inOrder) {
        if (at >= 0) {
          this.#splitFree(st, order[at]!);
          used++;
        }
        continue;
      }
      // IN_ORDER: one element may stand for a batch ending with buffer `id` (the used idx moves by the
      // batch size; the slots in between are not written). An unknown id uses the oldest buffer.
      const batch = order.slice(0, at >= 0 ? at + 1 : 1);
      for (const b of batch) this.#splitFree(st, b);
      used += batch.length;
      k += Math.max(0, batch.length - 1);
    }
    st.usedIdx = idx;
    this.#summaryOf(st.q).used += used;
  }

  #splitFree(st: SplitQueue, b: SplitBuffer): void {
    for (const d of b.descs) if (st.owner[d] === b.key) st.owner[d] = -1;
    st.exposed.delete(b.key);
    if (b.table) this.#watched?.setRanges(`q${st.q}:table:${b.key}`, []);
  }

  #splitWrite(st: SplitQueue, addr: number, end: number, data: Uint8Array, before: Uint8Array, seq: number): void {
    const a = st.a;
    const size = st.size;
    // Descriptor table: changes to exposed descriptors.
    const d0 = a.desc;
    const d1 = a.desc + 16 * size;
    if (addr < d1 && end > d0) {
      const first = Math.floor((Math.max(addr, d0) - d0) / 16);
      const last = Math.ceil((Math.min(end, d1) - d0) / 16);
      const hit = new Map<number, string[]>();
      for (let i = first; i < last; i++) {
        const key = st.owner[i]!;
        if (key < 0) continue;
        const change = describeChange(d0 + 16 * i, addr, data, before, splitFields);
        if (!change) continue;
        let list = hit.get(key);
        if (!list) hit.set(key, list = []);
        list.push(`descriptor ${i} ${change}`);
      }
      for (const [key, changes] of hit) {
        const b = st.exposed.get(key)!;
        this.#report(
          st.q,
          "desc-changed-while-exposed",
          `chain ${b.descs.join("→")} (head ${b.head}, avail slot ${b.slot}) not yet used: ${changes.join("; ")}`,
          b.head,
        );
      }
    }
    // Indirect tables of exposed buffers.
    for (const b of st.exposed.values()) {
      const t = b.table;
      if (!t || addr >= t.addr + t.len || end <= t.addr) continue;
      const from = Math.floor((Math.max(addr, t.addr) - t.addr) / 16);
      const to = Math.ceil((Math.min(end, t.addr + t.len) - t.addr) / 16);
      const changes: string[] = [];
      for (let e = from; e < to; e++) {
        const change = describeChange(t.addr + 16 * e, addr, data, before, splitFields);
        if (change) changes.push(`indirect entry ${e} ${change}`);
      }
      if (changes.length > 0) {
        this.#report(
          st.q,
          "desc-changed-while-exposed",
          `indirect table ${hex(t.addr)} of chain head ${b.head} (avail slot ${b.slot}) not yet used: ${
            changes.join("; ")
          }`,
          b.head,
        );
      }
    }
    // Available ring: flags, entries, then idx.
    const r0 = a.driver;
    if (addr < r0 + 6 + 2 * size && end > r0) {
      if (addr < r0 + 2 && end > r0) {
        st.availFlags = this.#raw.u16(r0);
        this.#checkAvailFlags(st, st.availFlags, "written");
      }
      const firstSlot = Math.max(0, Math.floor((addr - r0 - 4) / 2));
      const lastSlot = Math.min(size, Math.ceil((end - r0 - 4) / 2));
      for (let s = firstSlot; s < lastSlot; s++) st.slotWritten[s] = 1;
      if (addr < r0 + 4 && end > r0 + 2) this.#splitIdx(st, seq);
    }
  }

  #checkAvailFlags(st: SplitQueue, flags: number, when: string): void {
    if (!st.f.eventIdx && flags > 1) {
      this.#report(st.q, "avail-flags-invalid", `available ring flags ${hex(flags)} (${when}), not 0 or 1`);
    } else if (st.f.eventIdx && flags !== 0) {
      this.#report(
        st.q,
        "avail-flags-nonzero-event-idx",
        `available ring flags ${hex(flags)} (${when}) with VIRTIO_F_EVENT_IDX, not 0`,
      );
    }
  }

  #splitIdx(st: SplitQueue, seq: number): void {
    const r = this.#raw;
    const size = st.size;
    const old = st.availIdx;
    const idx = r.u16(st.a.driver + 2);
    const delta = (idx - old) & 0xffff;
    if (delta === 0) return;
    if (delta > 0x8000) {
      this.#report(st.q, "avail-idx-backwards", `available idx written ${old}→${idx} (back by ${0x10000 - delta})`);
      st.availIdx = idx;
      st.slotWritten.fill(1);
      return;
    }
    if (this.#suspended?.()) {
      this.#report(st.q, "published-while-suspended", `available idx written ${old}→${idx} after SUSPEND was set`);
    }
    const usedIdx = r.u16(st.a.device + 2);
    const ahead = (idx - usedIdx) & 0xffff;
    if (ahead > size) {
      this.#report(
        st.q,
        "avail-idx-overrun",
        `available idx written ${old}→${idx}, ${ahead} entries ahead of used idx ${usedIdx} in a queue of ${size} ` +
          `(more buffers exposed than the ring holds: the device would take slots it has not used as new)`,
      );
    }
    const count = Math.min(delta, size);
    let published = 0;
    for (let k = 0; k < count; k++) {
      const position = (old + k) & 0xffff;
      const slot = position % size;
      if (!st.slotWritten[slot]) {
        this.#report(
          st.q,
          "idx-before-entry",
          `available idx ${old}→${idx} covers ring slot ${slot} (entry ${position}), not written since it was last ` +
            `covered; it reads ${r.u16(st.a.driver + 4 + 2 * slot)}`,
        );
      }
      st.slotWritten[slot] = 0;
      const head = r.u16(st.a.driver + 4 + 2 * slot);
      this.#splitPublish(st, head, slot);
      published++;
    }
    st.availIdx = idx;
    this.#summaryOf(st.q).published += published;
    this.#openWindow(st, old, idx, seq);
  }

  #splitPublish(st: SplitQueue, head: number, slot: number): void {
    const q = st.q;
    const r = this.#raw;
    const size = st.size;
    const f = st.f;
    const where = `chain from head ${head} (avail slot ${slot})`;
    if (head >= size) {
      this.#report(
        q,
        "desc-index-out-of-range",
        `avail slot ${slot} names descriptor ${head}, outside a queue of ${size}`,
      );
      return;
    }
    const descs: number[] = [];
    const visited = new Uint8Array(size);
    let table: { addr: number; len: number } | undefined;
    let writableAt = -1;
    let total = 0;
    const element = (writable: boolean, len: number, name: string) => {
      total += len;
      if (!writable) this.#summaryOf(q).readable++;
      if (writable) {
        if (writableAt < 0) writableAt = 0;
      } else if (writableAt >= 0) {
        this.#report(q, "readable-after-writable", `${where}: ${name} is device-readable after a device-writable one`);
      }
    };
    let i = head;
    for (let steps = 0;; steps++) {
      if (visited[i]) {
        this.#report(q, "chain-too-long", `${where} loops: descriptor ${i} comes again after ${descs.join("→")}`);
        break;
      }
      if (steps >= size) {
        this.#report(q, "chain-too-long", `${where} has more than ${size} descriptors`);
        break;
      }
      visited[i] = 1;
      descs.push(i);
      const at = st.a.desc + 16 * i;
      const addr = r.u64(at);
      const len = r.u32(at + 8);
      const flags = r.u16(at + 12);
      const next = r.u16(at + 14);
      if (flags & IND) {
        if (!f.indirect) {
          this.#report(q, "indirect-without-feature", `${where}: descriptor ${i} flags ${hex(flags)} sets INDIRECT`);
        }
        if (flags & NEXT) {
          this.#report(q, "indirect-with-next", `${where}: descriptor ${i} flags ${hex(flags)} sets INDIRECT and NEXT`);
        }
        table = { addr, len };
        this.#splitTable(st, where, i, addr, len, element);
        break;
      }
      element((flags & WRITE) !== 0, len, `descriptor ${i}`);
      if (!(flags & NEXT)) break;
      if (f.inOrder && next !== (i + 1) % size) {
        this.#report(
          q,
          "in-order-next",
          `${where}: descriptor ${i} has NEXT with next ${next}; with IN_ORDER it must be ${(i + 1) % size}`,
        );
      }
      if (next >= size) {
        this.#report(
          q,
          "desc-index-out-of-range",
          `${where}: descriptor ${i} names next ${next}, outside a queue of ${size}`,
        );
        break;
      }
      i = next;
    }
    if (total > 2 ** 32) {
      this.#report(q, "chain-too-large", `${where} describes ${total} bytes in total, more than 2^32`);
    }
    const shared = descs.filter((d) => st.owner[d]! >= 0);
    if (shared.length > 0) {
      const owners = shared.map((d) => {
        const b = st.exposed.get(st.owner[d]!)!;
        return `descriptor ${d} belongs to the chain with head ${b.head} (avail slot ${b.slot})`;
      });
      this.#report(q, "desc-reused-while-exposed", `${where} reuses exposed descriptors: ${owners.join("; ")}`, head);
    }
    const key = st.nextKey++;
    for (const d of descs) if (st.owner[d]! < 0) st.owner[d] = key;
    st.exposed.set(key, { key, head, slot, descs, table });
    if (table && this.#raw.has(table.addr, table.len) && table.len > 0) {
      this.#watched?.setRanges(`q${q}:table:${key}`, [{ start: table.addr, end: table.addr + table.len }]);
    }
  }

  #splitTable(
    st: SplitQueue,
    where: string,
    index: number,
    addr: number,
    len: number,
    element: (writable: boolean, len: number, name: string) => void,
  ): void {
    const q = st.q;
    const r = this.#raw;
    if (len === 0 || len % 16 !== 0 || !r.has(addr, len)) {
      this.#report(
        q,
        "indirect-table-invalid",
        `${where}: descriptor ${index} names an indirect table ${hex(addr)}+${len}, ${
          len === 0 || len % 16 !== 0 ? "not a non-zero multiple of 16 bytes" : "outside guest memory"
        }`,
      );
      return;
    }
    const n = len / 16;
    const visited = new Uint8Array(n);
    let e = 0;
    for (;;) {
      if (visited[e]) {
        this.#report(q, "chain-too-long", `${where}: the indirect table of descriptor ${index} loops at entry ${e}`);
        return;
      }
      visited[e] = 1;
      const at = addr + 16 * e;
      const flags = r.u16(at + 12);
      const next = r.u16(at + 14);
      if (flags & IND) {
        this.#report(q, "indirect-in-indirect", `${where}: indirect entry ${e} flags ${hex(flags)} sets INDIRECT`);
      }
      element((flags & WRITE) !== 0, r.u32(at + 8), `indirect entry ${e}`);
      if (!(flags & NEXT)) return;
      if (st.f.inOrder && next !== e + 1) {
        this.#report(
          q,
          "indirect-not-sequential",
          `${where}: indirect entry ${e} has NEXT with next ${next}; with IN_ORDER it must be ${e + 1}`,
        );
      }
      if (next >= n) {
        this.#report(
          q,
          "desc-index-out-of-range",
          `${where}: indirect entry ${e} names next ${next}, outside a table of ${n}`,
        );
        return;
      }
      e = next;
    }
  }

  // ---------------------------------------------------------------- packed

  /** Ring distance from `from` to `to`. */
  #dist(st: PackedQueue, from: number, to: number): number {
    return (to - from + st.size) % st.size;
  }

  #inFlight(st: PackedQueue, slot: number): boolean {
    return st.inFlight >= st.size || this.#dist(st, st.usedPos, slot) < st.inFlight;
  }

  /** The driver wrap counter a free slot gets when the driver reaches it. */
  #lapWrap(st: PackedQueue, slot: number): number {
    return slot < st.availPos ? st.availWrap ^ 1 : st.availWrap;
  }

  #packedSyncUsed(st: PackedQueue): void {
    const r = this.#raw;
    for (let guard = 0; guard < st.size && st.inFlight > 0; guard++) {
      const at = st.a.desc + 16 * st.usedPos;
      const flags = r.u16(at + 14);
      const avail = (flags & P_AVAIL) ? 1 : 0;
      const used = (flags & P_USED) ? 1 : 0;
      if (avail !== st.usedWrap || used !== st.usedWrap) return;
      const id = r.u16(at + 12);
      const order = [...st.exposed.values()];
      const k = order.findIndex((b) => b.id === id);
      if (k < 0) return; // The device wrote an id that is not exposed: its fault; stop following.
      const done = st.f.inOrder ? order.slice(0, k + 1) : [order[k]!];
      let skip = 0;
      for (const b of done) {
        skip += b.slots;
        st.exposed.delete(b.key);
      }
      skip = Math.min(skip, st.inFlight);
      st.inFlight -= skip;
      st.usedPos += skip;
      if (st.usedPos >= st.size) {
        st.usedPos -= st.size;
        st.usedWrap ^= 1;
      }
      this.#summaryOf(st.q).used += done.length;
    }
  }

  #packedWrite(st: PackedQueue, addr: number, end: number, data: Uint8Array, before: Uint8Array, seq: number): void {
    const d0 = st.a.desc;
    const d1 = d0 + 16 * st.size;
    if (!(addr < d1 && end > d0)) return;
    const first = Math.floor((Math.max(addr, d0) - d0) / 16);
    const last = Math.ceil((Math.min(end, d1) - d0) / 16);
    const changed: string[] = [];
    for (let i = first; i < last; i++) {
      const at = d0 + 16 * i;
      const change = describeChange(at, addr, data, before, packedFields);
      if (!change) continue;
      if (this.#inFlight(st, i)) {
        changed.push(`slot ${i} ${change}`);
        continue;
      }
      const rest = describeChange(at, addr, data, before, packedFields.filter((p) => p.name !== "flags"));
      if (rest) {
        const lo = byteAt(before, addr, at + 14);
        const hi = byteAt(before, addr, at + 15);
        const now = this.#raw.u16(at + 14);
        const oldFlags = (lo < 0 ? now & 0xff : lo) | ((hi < 0 ? now >> 8 : hi) << 8);
        if (isAvail(oldFlags, this.#lapWrap(st, i))) {
          this.#report(
            st.q,
            "packed-flags-before-rest",
            `slot ${i}: flags ${hex(oldFlags)} already made it available (driver wrap ${
              this.#lapWrap(st, i)
            }) when ${rest}`,
          );
        }
      }
    }
    if (changed.length > 0) {
      this.#report(
        st.q,
        "packed-desc-changed-while-available",
        `descriptors available and not yet used changed: ${changed.join("; ")}`,
      );
    }
    this.#packedTryPublish(st, seq);
  }

  #packedTryPublish(st: PackedQueue, seq: number): void {
    const r = this.#raw;
    const size = st.size;
    for (let guard = 0; guard < size && !st.lost; guard++) {
      const head = st.availPos;
      const headFlags = r.u16(st.a.desc + 16 * head + 14);
      if (!isAvail(headFlags, st.availWrap)) return;
      let pos = head;
      let wrap = st.availWrap;
      let n = 0;
      let complete = false;
      let missing = "";
      for (;;) {
        if (n >= size) {
          this.#report(
            st.q,
            "packed-list-too-long",
            `the list from slot ${head} (wrap ${st.availWrap}) has more than ${size} descriptors`,
          );
          st.lost = true;
          return;
        }
        const flags = r.u16(st.a.desc + 16 * pos + 14);
        if (!isAvail(flags, wrap)) {
          missing = `slot ${pos} flags ${hex(flags)} are not available for wrap ${wrap}`;
          break;
        }
        n++;
        if (!(flags & NEXT)) {
          complete = true;
          break;
        }
        pos++;
        if (pos === size) {
          pos = 0;
          wrap ^= 1;
        }
      }
      if (!complete) {
        if (st.prematureAt !== st.listCount) {
          st.prematureAt = st.listCount;
          this.#report(
            st.q,
            "packed-head-before-rest",
            `head slot ${head} flags ${hex(headFlags)} made available after ${n - 1} more of its list: ${missing}`,
          );
        }
        return;
      }
      const free = size - st.inFlight;
      if (n > free) {
        this.#report(
          st.q,
          "packed-list-overrun",
          `list of ${n} descriptors at slot ${head} made available with ${free} free slots ` +
            `(device used position ${st.usedPos}, ${st.inFlight} slots not yet used)`,
        );
      }
      const id = this.#packedValidate(st, head, n);
      const key = st.nextKey++;
      st.exposed.set(key, { key, id, pos: head, slots: n });
      st.inFlight = Math.min(size, st.inFlight + n);
      st.availPos = head + n;
      if (st.availPos >= size) {
        st.availPos -= size;
        st.availWrap ^= 1;
      }
      st.listCount++;
      this.#summaryOf(st.q).published++;
      if (this.#suspended?.()) {
        this.#report(st.q, "published-while-suspended", `descriptor list at slot ${head} made available after SUSPEND`);
      }
      this.#openWindow(st, 0, 0, seq);
    }
  }

  /** Checks a complete list of `n` descriptors from `head`; returns its buffer id (from the last descriptor). */
  #packedValidate(st: PackedQueue, head: number, n: number): number {
    const r = this.#raw;
    const q = st.q;
    const where = `list at slot ${head} (${n} descriptor${n === 1 ? "" : "s"})`;
    let seenWritable = false;
    let id = 0;
    for (let k = 0; k < n; k++) {
      const slot = (head + k) % st.size;
      const at = st.a.desc + 16 * slot;
      const flags = r.u16(at + 14);
      id = r.u16(at + 12);
      if (flags & IND) {
        if (!st.f.indirect) {
          this.#report(
            q,
            "packed-indirect-without-feature",
            `${where}: slot ${slot} flags ${hex(flags)} sets INDIRECT`,
          );
        }
        if (n > 1) {
          this.#report(
            q,
            "packed-indirect-in-list",
            `${where}: slot ${slot} flags ${hex(flags)} sets INDIRECT in a list chained with NEXT`,
          );
        }
        const addr = r.u64(at);
        const len = r.u32(at + 8);
        if (len === 0 || len % 16 !== 0 || !r.has(addr, len)) {
          this.#report(
            q,
            "packed-indirect-too-long",
            `${where}: slot ${slot} names an indirect table ${hex(addr)}+${len}, not a whole number of ` +
              `descriptors inside guest memory`,
          );
          continue;
        }
        const entries = len / 16;
        if (entries > st.size) {
          this.#report(
            q,
            "packed-indirect-too-long",
            `${where}: slot ${slot} names an indirect table of ${entries} descriptors, more than the queue size ${st.size}`,
          );
        }
        const bound = Math.min(entries, 32768);
        for (let e = 0; e < bound; e++) {
          const ef = r.u16(addr + 16 * e + 14);
          if (ef & ~WRITE) {
            this.#report(
              q,
              "packed-indirect-entry-flags",
              `${where}: indirect entry ${e} flags ${hex(ef)} set more than WRITE`,
            );
          }
          if (!(ef & WRITE)) this.#summaryOf(q).readable++;
          if (ef & WRITE) seenWritable = true;
          else if (seenWritable) {
            this.#report(
              q,
              "packed-writable-before-readable",
              `${where}: indirect entry ${e} is device-readable after a device-writable one`,
            );
          }
        }
        continue;
      }
      if (!(flags & WRITE)) this.#summaryOf(q).readable++;
      if (flags & WRITE) seenWritable = true;
      else if (seenWritable) {
        this.#report(
          q,
          "packed-writable-before-readable",
          `${where}: slot ${slot} flags ${hex(flags)} is device-readable after a device-writable one`,
        );
      }
    }
    return id;
  }
}

/** True when packed descriptor `flags` mark it available for driver wrap counter `wrap`. */
function isAvail(flags: number, wrap: number): boolean {
  const avail = (flags & P_AVAIL) ? 1 : 0;
  const used = (flags & P_USED) ? 1 : 0;
  return avail === wrap && used !== wrap;
}

interface Field {
  name: string;
  offset: number;
  width: number;
}

const splitFields: Field[] = [
  { name: "addr", offset: 0, width: 8 },
  { name: "len", offset: 8, width: 4 },
  { name: "flags", offset: 12, width: 2 },
  { name: "next", offset: 14, width: 2 },
];

const packedFields: Field[] = [
  { name: "addr", offset: 0, width: 8 },
  { name: "len", offset: 8, width: 4 },
  { name: "id", offset: 12, width: 2 },
  { name: "flags", offset: 14, width: 2 },
];

/** The byte of a write's old contents at `at`, or -1 when the write did not cover it. */
function byteAt(before: Uint8Array, addr: number, at: number): number {
  const i = at - addr;
  return i >= 0 && i < before.length ? before[i]! : -1;
}

/**
 * Describes the fields of the 16-byte descriptor at `at` that a write
 * (`data` at `addr`, replacing `before`) changed: `flags 0x3→0x0, next 1→0`;
 * "" when none changed.
 */
function describeChange(at: number, addr: number, data: Uint8Array, before: Uint8Array, fields: Field[]): string {
  const out: string[] = [];
  for (const f of fields) {
    let changed = false;
    let oldV = 0;
    let newV = 0;
    let whole = true;
    for (let b = f.width - 1; b >= 0; b--) {
      const i = at + f.offset + b - addr;
      if (i < 0 || i >= data.length) {
        whole = false;
        continue;
      }
      if (data[i] !== before[i]) changed = true;
      oldV = oldV * 256 + before[i]!;
      newV = newV * 256 + data[i]!;
    }
    if (!changed) continue;
    out.push(whole ? `${f.name} ${hex(oldV)}→${hex(newV)}` : `${f.name} (partly written)`);
  }
  return out.join(", ");
}
