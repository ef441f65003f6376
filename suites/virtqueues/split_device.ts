/**
 * Device-obligation clauses of spec 2.7 (split virtqueues): the harness
 * plays the driver, makes requests of random shape available in batches and
 * checks what the device did with the buffers, the rings and notifications.
 *
 * @module
 */
import fc from "fast-check";
import { defineDeviceClause, type DeviceClauseContext } from "../../harness/core/clause.ts";
import { bit, BLK_F, type DeviceTypeName, F } from "../../harness/features.ts";
import type { MemoryAccess } from "../../harness/memory.ts";
import { checkProperty } from "../../harness/core/property.ts";
import { Status } from "../../harness/status.ts";
import { MmioInterrupt } from "../../harness/transport/mmio_layout.ts";
import { expectNone, expectThat } from "../../harness/verify.ts";
import type { UsedElem } from "../../harness/virtqueue/queue.ts";
import { type SplitDriverQueue, splitLayout, USED_F_NO_NOTIFY } from "../../harness/virtqueue/split.ts";
import {
  acceptWith,
  blkStatus,
  fitQueue,
  fmtShape,
  initRing,
  type PlacedRequest,
  placeRequest,
  rememberWrite,
  type RequestShape,
  requestShapes,
  serveBatch,
  unwrittenWindows,
  writableTotal,
  writtenBytes,
} from "./requests.ts";

const BLOCK = "devicenormative:Basic Facilities of a Virtio Device";
const FRAMING = `${BLOCK} / Message Framing`;
const DESC = `${BLOCK} / Virtqueues / The Virtqueue Descriptor Table`;
const INDIRECT = `${BLOCK} / Virtqueues / The Virtqueue Descriptor Table / Indirect Descriptors`;
const USED_SUPPRESSION = `${BLOCK} / Virtqueues / Used Buffer Notification Suppression`;
const USED_RING = `${BLOCK} / Virtqueues / The Virtqueue Used Ring`;
const AVAIL_SUPPRESSION = `${BLOCK} / Virtqueues / Available Buffer Notification Suppression`;

const TYPES: { deviceTypes: DeviceTypeName[] } = { deviceTypes: ["rng", "blk"] };

/** One served request: what was placed, its used element, the bytes in its writable buffers. */
interface Served {
  placed: PlacedRequest;
  used: UsedElem | undefined;
  bytes: Uint8Array;
}

/** What one round of batches produced. */
interface RoundResult {
  served: Served[];
  /** Device memory accesses during each batch (empty without the memoryTrace capability). */
  traces: MemoryAccess[][];
  queue: SplitDriverQueue;
}

/** A workload: optional features to add, then batches of request shapes. */
interface Workload {
  features: number[];
  batches: RequestShape[][];
}

function workloads(
  ctx: DeviceClauseContext,
  opts: { features?: fc.Arbitrary<number[]>; indirect?: "force-mixed" | "force-write-flag" } = {},
): fc.Arbitrary<Workload> {
  const features = opts.features ??
    fc.subarray([F.INDIRECT_DESC, F.EVENT_IDX, F.IN_ORDER]).map((fs) =>
      fs.filter((f) => (ctx.offered >> BigInt(f)) & 1n)
    );
  return features.chain((fs) => {
    const indirect = fs.includes(F.INDIRECT_DESC);
    const shapes = requestShapes(ctx.deviceType, {
      indirect,
      maxDescriptors: 6,
      // Direct descriptors followed by an indirect one only where a clause names that arrangement
      // (2.7.5.3.2#2): a device that cannot serve it then fails that clause, not every clause that serves requests.
      mixed: opts.indirect === "force-mixed",
      forceIndirect: opts.indirect === "force-mixed" || opts.indirect === "force-write-flag",
      indirectWriteFlag: opts.indirect === "force-write-flag",
      // A zoned disk takes writes only at write pointers (the harness may have to negotiate ZONED): reads only.
      readOnly: (ctx.offered & (bit(BLK_F.RO) | bit(BLK_F.ZONED))) !== 0n,
    });
    return fc.record({
      features: fc.constant(fs),
      batches: fc.array(fc.array(shapes, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 3 }),
    });
  });
}

function fmtWorkload(w: Workload): string {
  const fs = w.features.map((f) => ({ 28: "INDIRECT_DESC", 29: "EVENT_IDX", 35: "IN_ORDER" })[f] ?? `bit ${f}`);
  return `features [${fs.join(", ")}], batches ${w.batches.map((b) => `[${b.map(fmtShape).join("; ")}]`).join(" ")}`;
}

/** Runs one workload on queue 0 of a split ring; returns every request with its outcome. */
async function runRound(ctx: DeviceClauseContext, w: Workload): Promise<RoundResult> {
  await initRing(ctx, acceptWith(...w.features));
  const queue = ctx.driver.splitQueue(0);
  const known = new Map<number, Uint8Array>();
  const served: Served[] = [];
  const traces: MemoryAccess[][] = [];
  for (const shapes of w.batches) {
    // Requests of one batch may run in any order: sectors written in it have no known content yet.
    const settled = new Map(known);
    for (const s of shapes) {
      if (s.kind !== "blk-write") continue;
      for (let k = 0; k * 512 < s.readable.reduce((a, b) => a + b, 0) - 16; k++) settled.delete(s.sector + k);
    }
    const batch: PlacedRequest[] = [];
    for (const s of fitQueue(ctx, 0, shapes)) batch.push(await placeRequest(ctx, 0, s, settled));
    ctx.session.takeMemoryTrace?.();
    const used = await serveBatch(ctx, 0, batch);
    traces.push(ctx.session.takeMemoryTrace?.() ?? []);
    // Writes of one batch to the same sector may run in either order: that sector's content is not known after it.
    const writers = new Map<number, number>();
    for (const p of batch) {
      const u = used.get(p.id);
      served.push({ placed: p, used: u, bytes: await writtenBytes(ctx, p) });
      if (!u) continue;
      const mine = new Map<number, Uint8Array>();
      rememberWrite(p, mine);
      for (const [sector, bytes] of mine) {
        writers.set(sector, (writers.get(sector) ?? 0) + 1);
        known.set(sector, bytes);
      }
    }
    for (const [sector, n] of writers) if (n > 1) known.delete(sector);
    // A device that left a batch unserved has stopped (or broken): later batches would only wait out deadlines.
    if (used.size < batch.length) break;
  }
  return { served, traces, queue };
}

function overlaps(a: MemoryAccess, addr: number, len: number): boolean {
  return a.addr < addr + len && a.addr + a.length > addr;
}

export const arrangementIndependent = defineDeviceClause({
  label: FRAMING,
  statement: 1,
  level: "MUST NOT",
  title: "any arrangement of descriptors is served",
  requirement: "The device serves a request whatever way the driver cut it into descriptors: a blk header split " +
    "in pieces, data spread over several buffers, the status byte sharing a buffer, direct or indirect.",
  action: "Makes random batches of rng and blk requests available, each cut at random places into 1–6 " +
    "descriptors (indirect when negotiated), and checks each is used, blk requests end with status OK and blk " +
    "reads return what earlier writes stored. Direct descriptors ending in an indirect one are 2.7.5.3.2#2's.",
  applies: { ...TYPES, legacy: true },
  async run(ctx) {
    await checkProperty(ctx, workloads(ctx), async (w) => {
      const r = await runRound(ctx, w);
      expectNone("every request used", r.served.filter((s) => !s.used), (s) => fmtShape(s.placed.shape));
      const bad = r.served.filter((s) => s.used && s.placed.shape.kind !== "rng" && blkStatus(s.bytes) !== 0);
      expectNone("blk status OK (0)", bad, (s) => `${fmtShape(s.placed.shape)}: status ${blkStatus(s.bytes)}`);
      const wrong = r.served.filter((s) =>
        s.used && s.placed.expectData && s.placed.expectData.some((b, i) => s.bytes[i] !== b)
      );
      expectNone("blk reads return the data written before", wrong, (s) => fmtShape(s.placed.shape));
    }, fmtWorkload);
  },
});

export const noWriteToReadable = defineDeviceClause({
  label: DESC,
  statement: 1,
  level: "MUST NOT",
  title: "device-readable buffers are not written",
  requirement: "The device never writes into a buffer the driver marked device-readable.",
  action: "Serves random requests whose device-readable buffers hold known bytes; checks the bytes are unchanged " +
    "after use and (with a memory trace) that no device write touched them.",
  applies: { ...TYPES, legacy: true },
  async run(ctx) {
    await checkProperty(ctx, workloads(ctx), async (w) => {
      const r = await runRound(ctx, w);
      const changed: string[] = [];
      for (const s of r.served) {
        for (const b of s.placed.readable) {
          const now = await ctx.session.memory.read(b.addr, b.bytes.length);
          if (now.some((x, i) => x !== b.bytes[i])) {
            changed.push(`${fmtShape(s.placed.shape)}: readable 0x${b.addr.toString(16)}+${b.bytes.length}`);
          }
        }
      }
      expectNone("device-readable buffers unchanged", changed, (x) => x);
      const readable = r.served.flatMap((s) => s.placed.readable);
      const hits = r.traces.flat().filter((a) =>
        a.kind === "write" && readable.some((b) => overlaps(a, b.addr, b.bytes.length))
      );
      expectNone(
        "no device write to a device-readable buffer",
        hits,
        (a) => `write 0x${a.addr.toString(16)}+${a.length}`,
      );
    }, fmtWorkload);
  },
});

export const noReadOfWritable = defineDeviceClause({
  label: DESC,
  statement: 2,
  level: "SHOULD NOT",
  title: "device-writable buffers are not read",
  requirement: "Outside debugging, the device does not read buffers the driver marked device-writable.",
  action: "Serves random requests and checks the device's memory trace for reads of device-writable buffers.",
  applies: { ...TYPES, capabilities: ["memoryTrace"] },
  async run(ctx) {
    await checkProperty(ctx, workloads(ctx), async (w) => {
      const r = await runRound(ctx, w);
      const writable = r.served.flatMap((s) => s.placed.writable);
      const hits = r.traces.flat().filter((a) => a.kind === "read" && writable.some((b) => overlaps(a, b.addr, b.len)));
      expectNone(
        "no device read of a device-writable buffer",
        hits,
        (a) => `read 0x${a.addr.toString(16)}+${a.length}`,
      );
    }, fmtWorkload);
  },
});

export const noWriteToDescriptors = defineDeviceClause({
  label: DESC,
  statement: 4,
  level: "MUST NOT",
  title: "descriptor tables are not written",
  requirement: "The device never writes a descriptor table entry, in the ring's table or in an indirect table.",
  action: "Serves random requests (indirect when negotiated), snapshotting the descriptor table and every " +
    "indirect table before publishing; compares after use and checks the memory trace for writes to them.",
  applies: { ...TYPES, legacy: true },
  async run(ctx) {
    await checkProperty(ctx, workloads(ctx), async (w) => {
      await initRing(ctx, acceptWith(...w.features));
      const queue = ctx.driver.splitQueue(0);
      const mem = ctx.session.memory;
      const tableLen = splitLayout(queue.size).desc;
      const changed: string[] = [];
      const hits: MemoryAccess[] = [];
      for (const shapes of w.batches) {
        const batch: PlacedRequest[] = [];
        for (const s of fitQueue(ctx, 0, shapes)) batch.push(await placeRequest(ctx, 0, s));
        const areas: [number, number][] = [[queue.addrs.desc, tableLen]];
        for (const p of batch) {
          const t = queue.indirectTable(p.id);
          if (t) areas.push([t.addr, t.len]);
        }
        const before = await Promise.all(areas.map(([a, l]) => mem.read(a, l)));
        ctx.session.takeMemoryTrace?.();
        await serveBatch(ctx, 0, batch);
        hits.push(
          ...(ctx.session.takeMemoryTrace?.() ?? []).filter((a) =>
            a.kind === "write" && areas.some(([b, l]) => overlaps(a, b, l))
          ),
        );
        for (let i = 0; i < areas.length; i++) {
          const [a, l] = areas[i]!;
          const now = await mem.read(a, l);
          const at = now.findIndex((x, k) => x !== before[i]![k]);
          if (at >= 0) {
            changed.push(`${i === 0 ? "descriptor table" : "indirect table"} byte ${at} at 0x${a.toString(16)}`);
          }
        }
      }
      expectNone("descriptor tables unchanged by the device", changed, (x) => x);
      expectNone("no device write to a descriptor table", hits, (a) => `write 0x${a.addr.toString(16)}+${a.length}`);
    }, fmtWorkload);
  },
});

function servedCorrectly(r: RoundResult): void {
  expectNone("every request used", r.served.filter((s) => !s.used), (s) => fmtShape(s.placed.shape));
  const bad = r.served.filter((s) => s.placed.shape.kind !== "rng" && blkStatus(s.bytes) !== 0);
  expectNone("blk status OK (0)", bad, (s) => `${fmtShape(s.placed.shape)}: status ${blkStatus(s.bytes)}`);
  const readableHit = r.served.filter((s) => s.placed.shape.kind === "rng" && (s.used?.len ?? 0) === 0);
  expectNone("rng requests filled", readableHit, (s) => fmtShape(s.placed.shape));
}

export const indirectWriteFlagIgnored = defineDeviceClause({
  label: INDIRECT,
  statement: 1,
  level: "MUST",
  title: "WRITE on the descriptor naming an indirect table is ignored",
  requirement: "The device disregards the WRITE flag of a descriptor that points at an indirect table; only the " +
    "table's own entries say which buffers are writable.",
  action: "Negotiates INDIRECT_DESC and makes requests available through indirect tables whose ring descriptor " +
    "also carries WRITE; checks they are served correctly and device-readable bytes stay unchanged.",
  applies: { ...TYPES, offered: [F.INDIRECT_DESC], legacy: true },
  async run(ctx) {
    const opts = { features: fc.constant<number[]>([F.INDIRECT_DESC]), indirect: "force-write-flag" as const };
    await checkProperty(ctx, workloads(ctx, opts), async (w) => {
      const r = await runRound(ctx, w);
      servedCorrectly(r);
      const changed: string[] = [];
      for (const s of r.served) {
        for (const b of s.placed.readable) {
          const now = await ctx.session.memory.read(b.addr, b.bytes.length);
          if (now.some((x, i) => x !== b.bytes[i])) changed.push(fmtShape(s.placed.shape));
        }
      }
      expectNone("table entries' own flags obeyed (readable bytes unchanged)", changed, (x) => x);
    }, fmtWorkload);
  },
});

export const directThenIndirect = defineDeviceClause({
  label: INDIRECT,
  statement: 2,
  level: "MUST",
  title: "direct descriptors followed by an indirect one are served",
  requirement: "The device accepts a chain of zero or more ordinary descriptors that ends in one descriptor " +
    "naming an indirect table.",
  action: "Negotiates INDIRECT_DESC and makes requests available whose first 0–2 pieces are ring descriptors " +
    "chained to a final indirect descriptor; checks every request is served correctly.",
  applies: { ...TYPES, offered: [F.INDIRECT_DESC], legacy: true },
  async run(ctx) {
    const opts = { features: fc.constant<number[]>([F.INDIRECT_DESC]), indirect: "force-mixed" as const };
    await checkProperty(ctx, workloads(ctx, opts), async (w) => {
      servedCorrectly(await runRound(ctx, w));
    }, fmtWorkload);
  },
});

export const lenBeforeIdx = defineDeviceClause({
  label: USED_RING,
  statement: 1,
  level: "MUST",
  title: "used element written before the used idx",
  requirement: "The device fills in a used element (id and len) before it publishes the used idx that covers it.",
  action: "Serves random requests and reads the device's memory trace: every used-ring slot a used idx update " +
    "covers must have been written before that update.",
  applies: { ...TYPES, capabilities: ["memoryTrace"], legacy: true },
  async run(ctx) {
    await checkProperty(ctx, workloads(ctx), async (w) => {
      const r = await runRound(ctx, w);
      const q = r.queue;
      const idxAddr = q.addrs.device + 2;
      const slotAddr = (k: number) => q.addrs.device + 4 + 8 * (k % q.size);
      const late: string[] = [];
      let published = 0;
      const written = new Set<number>();
      for (const a of r.traces.flat()) {
        if (a.kind !== "write") continue;
        for (let k = 0; k < q.size; k++) if (overlaps(a, slotAddr(k), 8)) written.add(k);
        if (overlaps(a, idxAddr, 2)) {
          // The trace has no values: count one new entry per idx write at least, and check those slots.
          const slot = published % q.size;
          if (!written.has(slot)) late.push(`used idx write covering slot ${slot} before the slot was written`);
          written.delete(slot);
          published++;
        }
      }
      expectNone("each used slot written before the idx update covering it", late, (x) => x);
    }, fmtWorkload);
  },
});

export const writesAtLeastLen = defineDeviceClause({
  label: USED_RING,
  statement: 2,
  level: "MUST",
  title: "len bytes really written",
  requirement: "Before publishing a used element the device has written at least len bytes into the buffer, from " +
    "its first device-writable byte, and len never exceeds the device-writable space.",
  action: "Fills device-writable buffers with a canary pattern, serves random requests, and checks len against the " +
    "writable space and that no 8-byte window below len still holds the canary.",
  applies: { ...TYPES, legacy: true },
  async run(ctx) {
    await checkProperty(ctx, workloads(ctx), async (w) => {
      const r = await runRound(ctx, w);
      const over = r.served.filter((s) => s.used && s.used.len > writableTotal(s.placed));
      expectNone(
        "len within the device-writable space",
        over,
        (s) => `${fmtShape(s.placed.shape)}: len ${s.used?.len} > ${writableTotal(s.placed)}`,
      );
      const unwritten = r.served.flatMap((s) =>
        s.used && !s.used.implied
          ? unwrittenWindows(s.placed, s.bytes, s.used.len).map((o) =>
            `${fmtShape(s.placed.shape)}: len ${s.used!.len} but byte ${o} still holds the canary`
          )
          : []
      );
      expectNone("every byte below len written by the device", unwritten, (x) => x);
    }, fmtWorkload);
  },
});

/**
 * Reads the interrupt status after a batch: waits for the USED bit up to
 * `ms`, acknowledging what it sees (on PCI the read itself clears the ISR,
 * so every bit read is kept).
 */
async function usedNotification(ctx: DeviceClauseContext, ms: number): Promise<boolean> {
  let seen = 0;
  const poll = async () => {
    const isr = await ctx.transport.interruptStatus();
    seen |= isr;
    if (isr) await ctx.transport.ackInterrupt(isr);
    return (seen & MmioInterrupt.USED_BUFFER) !== 0;
  };
  await ctx.session.settle(ms, poll);
  await poll();
  return (seen & MmioInterrupt.USED_BUFFER) !== 0;
}

/** How the harness sets up used-buffer notifications for one batch. */
interface NotifyStep {
  size: number;
  /** flags value (0/1) the driver writes in the available ring. */
  flags: number;
  /** used_event, relative to the used idx before the batch. */
  eventAhead: number;
}

const notifySteps = fc.array(
  fc.record({
    size: fc.integer({ min: 1, max: 3 }),
    flags: fc.constantFrom(0, 1),
    eventAhead: fc.integer({ min: -3, max: 5 }),
  }),
  { minLength: 1, maxLength: 5 },
);

function fmtSteps(steps: NotifyStep[]): string {
  return steps.map((s) => `${s.size} req, flags ${s.flags}, used_event ${s.eventAhead >= 0 ? "+" : ""}${s.eventAhead}`)
    .join("; ");
}

/** Outcome of one notification step. */
interface StepOutcome {
  step: NotifyStep;
  oldIdx: number;
  newIdx: number;
  usedEvent: number;
  notified: boolean;
  /**
   * The device's memory trace marks its notifications and every one of this batch came before its last used idx
   * write: none announced the last buffers (only adapters that mark notifications can tell).
   */
  notifiedBeforeIdx: boolean;
}

/**
 * Runs notification steps with simple requests; returns what each step saw.
 * With `eventInside`, used_event is taken modulo the batch as served (a
 * batch is capped to what the queue holds), so it always falls inside it.
 */
async function notificationRun(
  ctx: DeviceClauseContext,
  eventIdx: boolean,
  steps: NotifyStep[],
  eventInside = false,
): Promise<StepOutcome[]> {
  await initRing(ctx, acceptWith(...(eventIdx ? [F.EVENT_IDX] : [])));
  const queue = ctx.driver.splitQueue(0);
  const out: StepOutcome[] = [];
  // A batch never holds more requests than the queue: every step starts on an empty queue, and a blk read puts
  // its status byte after the data in one buffer when the queue is smaller than three descriptors.
  const capacity = ctx.driver.sampleCapacity(0);
  const shape: RequestShape = ctx.deviceType === "blk"
    ? {
      kind: "blk-read",
      readable: [16],
      writable: queue.size >= 3 ? [512, 1] : [513],
      indirect: false,
      direct: 0,
      indirectWriteFlag: false,
      sector: 0,
    }
    : { kind: "rng", readable: [], writable: [16], indirect: false, direct: 0, indirectWriteFlag: false, sector: 0 };
  // Whatever the device signalled while it started, with nothing used yet (a vhost-user back end signals once, on
  // its own time, when it is handed its interrupt channel), is let in and acknowledged before the first step, not
  // taken for that step's notification. No request: the first used-buffer notification after start is judged.
  await ctx.driver.letStartSignalIn((ms) => usedNotification(ctx, ms));
  for (const step of steps) {
    const oldIdx = queue.lastUsed;
    const n = Math.min(step.size, capacity);
    const usedEvent = (oldIdx + (eventInside ? step.eventAhead % n : step.eventAhead)) & 0xffff;
    await queue.setAvailFlags(step.flags);
    await queue.setUsedEvent(usedEvent);
    const batch: PlacedRequest[] = [];
    for (let i = 0; i < n; i++) batch.push(await placeRequest(ctx, 0, shape));
    ctx.session.takeMemoryTrace?.();
    const used = await serveBatch(ctx, 0, batch);
    expectThat(used.size === batch.length, `all ${batch.length} requests used`, () => `${used.size} used`);
    // The interrupt comes with the used idx: on a target that shows both in order nothing more is waited; else as
    // long as a negative check would (sized from the device).
    const notified = await usedNotification(ctx, ctx.driver.notificationWindow(60));
    const trace = ctx.session.takeMemoryTrace?.() ?? [];
    const lastIdxWrite = trace.findLastIndex((a) => a.kind === "write" && overlaps(a, queue.addrs.device + 2, 2));
    const marks = trace.flatMap((a, i) => a.kind === "interrupt" ? [i] : []);
    const notifiedBeforeIdx = marks.length > 0 && lastIdxWrite >= 0 && marks.every((i) => i < lastIdxWrite);
    out.push({ step, oldIdx, newIdx: queue.lastUsed, usedEvent, notified, notifiedBeforeIdx });
  }
  return out;
}

function fmtOutcome(o: StepOutcome): string {
  return `${o.step.size} used (idx ${o.oldIdx}→${o.newIdx}), flags ${o.step.flags}, used_event ${o.usedEvent}: ` +
    (o.notified
      ? (o.notifiedBeforeIdx ? "notified only before its last used idx write" : "notified")
      : "no notification");
}

/** True when one of the used slots written in the step sits at used_event. */
function crossed(o: StepOutcome): boolean {
  return ((o.usedEvent - o.oldIdx) & 0xffff) < ((o.newIdx - o.oldIdx) & 0xffff);
}

export const usedEventIgnoredWithoutEventIdx = defineDeviceClause({
  label: USED_SUPPRESSION,
  statement: 1,
  level: "MUST",
  title: "used_event ignored without EVENT_IDX",
  requirement: "Without VIRTIO_F_EVENT_IDX the device pays no attention to used_event: with flags 0 it notifies " +
    "whatever used_event holds.",
  action: "Without EVENT_IDX, writes random used_event values (including ones that would suppress) with flags 0, " +
    "serves batches and checks every batch brings a used-buffer notification.",
  applies: { ...TYPES, legacy: true },
  async run(ctx) {
    const arb = notifySteps.map((s) => s.map((x) => ({ ...x, flags: 0 })));
    await checkProperty(ctx, arb, async (steps) => {
      const out = await notificationRun(ctx, false, steps);
      expectNone(
        "a notification after every batch with flags 0",
        out.filter((o) => !o.notified || o.notifiedBeforeIdx),
        fmtOutcome,
      );
    }, fmtSteps);
  },
});

export const noNotifyWhenFlagged = defineDeviceClause({
  label: USED_SUPPRESSION,
  statement: 2,
  level: "SHOULD NOT",
  title: "no notification while the driver's flags say NO_INTERRUPT",
  requirement: "Without VIRTIO_F_EVENT_IDX, while the driver's available-ring flags are 1 the device refrains " +
    "from used-buffer notifications.",
  action: "Without EVENT_IDX, sets flags 1 for random batches and checks no used-buffer notification follows them.",
  applies: TYPES,
  async run(ctx) {
    const arb = notifySteps.map((s) => s.map((x) => ({ ...x, flags: 1 })));
    await checkProperty(ctx, arb, async (steps) => {
      const out = await notificationRun(ctx, false, steps);
      expectNone("no notification after batches with flags 1", out.filter((o) => o.notified), fmtOutcome);
    }, fmtSteps);
  },
});

export const notifyWhenFlagsZero = defineDeviceClause({
  label: USED_SUPPRESSION,
  statement: 3,
  level: "MUST",
  title: "notification when the driver's flags are 0",
  requirement: "Without VIRTIO_F_EVENT_IDX, after using buffers while the driver's flags are 0 the device sends " +
    "a used-buffer notification.",
  action: "Without EVENT_IDX, alternates flags 0 and 1 across random batches and checks each batch served under " +
    "flags 0 is followed by a notification, sent after the batch's last used idx write where the memory trace " +
    "marks notifications.",
  applies: { ...TYPES, legacy: true },
  async run(ctx) {
    await checkProperty(ctx, notifySteps, async (steps) => {
      const out = await notificationRun(ctx, false, steps);
      expectNone(
        "a notification after every batch with flags 0",
        out.filter((o) => o.step.flags === 0 && (!o.notified || o.notifiedBeforeIdx)),
        fmtOutcome,
      );
    }, fmtSteps);
  },
});

export const flagsIgnoredWithEventIdx = defineDeviceClause({
  label: USED_SUPPRESSION,
  statement: 4,
  level: "MUST",
  title: "driver flags ignored under EVENT_IDX",
  requirement: "With VIRTIO_F_EVENT_IDX the device ignores the low bit of the driver's flags: flags 1 does not " +
    "suppress a notification used_event asks for.",
  action: "With EVENT_IDX, sets flags 1 and used_event inside each batch, and checks each batch is notified.",
  applies: { ...TYPES, offered: [F.EVENT_IDX], legacy: true },
  async run(ctx) {
    const arb = notifySteps.map((s) =>
      s.map((x) => ({ ...x, flags: 1, eventAhead: ((x.eventAhead % x.size) + x.size) % x.size }))
    );
    await checkProperty(ctx, arb, async (steps) => {
      const out = await notificationRun(ctx, true, steps, true);
      expectNone(
        "a notification when used_event is reached, flags 1 notwithstanding",
        out.filter((o) => !o.notified),
        fmtOutcome,
      );
    }, fmtSteps);
  },
});

export const notifyAtUsedEvent = defineDeviceClause({
  label: USED_SUPPRESSION,
  statement: 5,
  level: "MUST",
  title: "notification when the used idx passes used_event",
  requirement: "With VIRTIO_F_EVENT_IDX, when the device writes a used element into the slot numbered used_event, " +
    "it sends a used-buffer notification.",
  action: "With EVENT_IDX, sets used_event at random positions before, inside and after each batch and checks " +
    "every batch whose slots include used_event is notified.",
  applies: { ...TYPES, offered: [F.EVENT_IDX], legacy: true },
  async run(ctx) {
    await checkProperty(ctx, notifySteps, async (steps) => {
      const out = await notificationRun(ctx, true, steps);
      expectNone(
        "a notification when a used slot reaches used_event",
        out.filter((o) => crossed(o) && !o.notified),
        fmtOutcome,
      );
    }, fmtSteps);
  },
});

export const quietBeforeUsedEvent = defineDeviceClause({
  label: USED_SUPPRESSION,
  statement: 6,
  level: "SHOULD NOT",
  title: "no notification before used_event",
  requirement: "With VIRTIO_F_EVENT_IDX, the device refrains from used-buffer notifications while the used idx " +
    "has not reached used_event.",
  action: "With EVENT_IDX, sets used_event at random positions and checks batches that do not reach it are not " +
    "notified.",
  applies: { ...TYPES, offered: [F.EVENT_IDX] },
  async run(ctx) {
    await checkProperty(ctx, notifySteps, async (steps) => {
      const out = await notificationRun(ctx, true, steps);
      expectNone("no notification before used_event", out.filter((o) => !crossed(o) && o.notified), fmtOutcome);
    }, fmtSteps);
  },
});

/** Serves random batches and samples the device's used-ring flags and avail_event after each. */
async function sampleDeviceFlags(ctx: DeviceClauseContext, w: Workload): Promise<number[]> {
  await initRing(ctx, acceptWith(...w.features));
  const queue = ctx.driver.splitQueue(0);
  const seen = [await queue.usedFlags()];
  for (const shapes of w.batches) {
    const batch: PlacedRequest[] = [];
    for (const s of fitQueue(ctx, 0, shapes)) batch.push(await placeRequest(ctx, 0, s));
    await serveBatch(ctx, 0, batch);
    seen.push(await queue.usedFlags());
  }
  return seen;
}

export const deviceFlagsZeroOrOne = defineDeviceClause({
  label: AVAIL_SUPPRESSION,
  statement: 1,
  level: "MUST",
  title: "used-ring flags 0 or 1 without EVENT_IDX",
  requirement: "Without VIRTIO_F_EVENT_IDX, the only values the device writes into the used ring's flags are 0 " +
    "and 1.",
  action: "Without EVENT_IDX, serves random batches and reads the used-ring flags after each.",
  applies: { ...TYPES, legacy: true },
  async run(ctx) {
    const arb = workloads(ctx, {
      features: fc.subarray([F.INDIRECT_DESC]).map((f) => f.filter((b) => (ctx.offered >> BigInt(b)) & 1n)),
    });
    await checkProperty(ctx, arb, async (w) => {
      const seen = await sampleDeviceFlags(ctx, w);
      expectNone("used-ring flags 0 or 1", seen.filter((f) => f > USED_F_NO_NOTIFY), (f) => `flags ${f}`);
    }, fmtWorkload);
  },
});

export const deviceFlagsZeroWithEventIdx = defineDeviceClause({
  label: AVAIL_SUPPRESSION,
  statement: 3,
  level: "MUST",
  title: "used-ring flags 0 under EVENT_IDX",
  requirement: "With VIRTIO_F_EVENT_IDX the device keeps the used ring's flags at 0 (it uses avail_event instead).",
  action: "With EVENT_IDX, serves random batches and reads the used-ring flags after each.",
  applies: { ...TYPES, offered: [F.EVENT_IDX], legacy: true },
  async run(ctx) {
    await checkProperty(ctx, workloads(ctx, { features: fc.constant<number[]>([F.EVENT_IDX]) }), async (w) => {
      const seen = await sampleDeviceFlags(ctx, w);
      expectNone("used-ring flags 0", seen.filter((f) => f !== 0), (f) => `flags ${f}`);
    }, fmtWorkload);
  },
});

export const survivesSpuriousNotifications = defineDeviceClause({
  label: AVAIL_SUPPRESSION,
  statement: 5,
  level: "MUST",
  title: "spurious available-buffer notifications are harmless",
  requirement: "The device copes with notifications that announce nothing new: it keeps serving the queue " +
    "correctly and does not enter an error state.",
  action: "Sends 1–8 notifications with nothing new (before and after requests, to live and unused queues), then " +
    "serves random requests; checks they are used correctly, nothing extra is used, and DEVICE_NEEDS_RESET stays clear.",
  applies: { ...TYPES, legacy: true },
  async run(ctx) {
    const arb = fc.record({
      w: workloads(ctx),
      spurious: fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 4 }),
    });
    await checkProperty(ctx, arb, async ({ w, spurious }) => {
      await initRing(ctx, acceptWith(...w.features));
      const queue = ctx.driver.splitQueue(0);
      for (const n of spurious) for (let i = 0; i < n; i++) await ctx.driver.kick(0);
      await ctx.driver.quiet(5);
      expectThat(
        !(await queue.hasUsed()),
        "nothing used after notifications announcing nothing",
        () => "a used element appeared",
      );
      const served: Served[] = [];
      for (const shapes of w.batches) {
        const batch: PlacedRequest[] = [];
        for (const s of fitQueue(ctx, 0, shapes)) batch.push(await placeRequest(ctx, 0, s));
        const used = await serveBatch(ctx, 0, batch);
        for (const n of spurious) for (let i = 0; i < n; i++) await ctx.driver.kick(0);
        for (const p of batch) served.push({ placed: p, used: used.get(p.id), bytes: await writtenBytes(ctx, p) });
      }
      servedCorrectly({ served, traces: [], queue });
      const status = await ctx.transport.getStatus();
      expectThat(
        !(status & Status.DEVICE_NEEDS_RESET),
        "DEVICE_NEEDS_RESET clear",
        () => `status 0x${status.toString(16)}`,
      );
    }, (v) => `${fmtWorkload(v.w)}, spurious notifications ${v.spurious.join(",")}`);
  },
});

/** The device clauses of spec 2.7. */
export const SPLIT_DEVICE_CLAUSES = [
  arrangementIndependent,
  noWriteToReadable,
  noReadOfWritable,
  noWriteToDescriptors,
  indirectWriteFlagIgnored,
  directThenIndirect,
  usedEventIgnoredWithoutEventIdx,
  noNotifyWhenFlagged,
  notifyWhenFlagsZero,
  flagsIgnoredWithEventIdx,
  notifyAtUsedEvent,
  quietBeforeUsedEvent,
  lenBeforeIdx,
  writesAtLeastLen,
  deviceFlagsZeroOrOne,
  deviceFlagsZeroWithEventIdx,
  survivesSpuriousNotifications,
];
