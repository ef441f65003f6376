/**
 * Device clauses of spec 2.8 Packed Virtqueues: ring order, used-descriptor
 * order, access rights on buffers, availability, used descriptors left alone
 * and scatter-gather order.
 *
 * The harness plays the driver on a small packed queue (2–16 slots), makes
 * random batches of random chains available (direct or indirect, device-
 * readable and device-writable elements, more slots than the queue holds so
 * the ring wraps), and reads back the ring, the buffers and, where the
 * adapter records them, the device's memory accesses.
 *
 * @module
 */
import fc from "fast-check";
import { defineDeviceClause, type DeviceClauseContext } from "../../harness/core/clause.ts";
import { bit, BLK_F, F } from "../../harness/features.ts";
import { le, type MemoryAccess } from "../../harness/memory.ts";
import { checkProperty } from "../../harness/core/property.ts";
import { formatStatus, Status } from "../../harness/status.ts";
import {
  advancePos,
  decodePackedDesc,
  encodePackedDesc,
  isUsed,
  PackedDesc,
  PackedDriverQueue,
  type RingPos,
} from "../../harness/virtqueue/packed.ts";
import type { BufferSpec, UsedElem } from "../../harness/virtqueue/queue.ts";
import { expectNone, expectThat, notApplicable, violation } from "../../harness/verify.ts";
import { hex } from "../../harness/text.ts";

const RING = "devicenormative:Basic Facilities of a Virtio Device / Packed Virtqueues";
const TABLE =
  "devicenormative:Basic Facilities of a Virtio Device / Packed Virtqueues / The Virtqueue Descriptor Table";
const SG = "devicenormative:Basic Facilities of a Virtio Device / Packed Virtqueues / Scatter-Gather Support";

const QUEUE = 0;
/** Deadline for buffers the device is expected to use. */
export const WAIT_MS = 1000;
/** Silence (no device memory access) after which a wait gives up; also the wait where nothing is expected. */
export const QUIET_MS = 300;

const PACKED = { offered: [F.RING_PACKED] };
const PACKED_TRACED = { offered: [F.RING_PACKED], capabilities: ["memoryTrace" as const] };

const OPTIONAL = [F.INDIRECT_DESC, F.EVENT_IDX, F.IN_ORDER, F.NOTIFICATION_DATA];
const SHORT: Record<number, string> = {
  [F.INDIRECT_DESC]: "INDIRECT_DESC",
  [F.EVENT_IDX]: "EVENT_IDX",
  [F.IN_ORDER]: "IN_ORDER",
  [F.NOTIFICATION_DATA]: "NOTIFICATION_DATA",
};

const where = (p: RingPos) => `slot ${p.pos} (wrap ${p.wrap})`;

// ---------------------------------------------------------------------------------------------------------------------
// Waiting

/**
 * Lets the device run until `done()` holds, for at most `ms`; with a memory
 * trace it also gives up once the device made no memory access for
 * {@link QUIET_MS}, or once the device status reads DEVICE_NEEDS_RESET.
 * Returns the device's memory accesses meanwhile.
 */
export async function runUntil(
  ctx: DeviceClauseContext,
  done: () => Promise<boolean>,
  ms = WAIT_MS,
): Promise<MemoryAccess[]> {
  const trace: MemoryAccess[] = [];
  const start = Date.now();
  let lastActivity = start;
  // Device time granted since the last activity: bounds the loop on a device that settles at once.
  let quiet = 0;
  while (!(await done())) {
    const now = Date.now();
    if (now - start >= ms || quiet >= ms) break;
    if (ctx.session.takeMemoryTrace && (now - lastActivity >= QUIET_MS || quiet >= QUIET_MS)) break;
    const step = Math.min(50, ms - (now - start));
    await ctx.session.settle(step, done);
    const t = ctx.session.takeMemoryTrace?.() ?? [];
    quiet += step;
    if (t.length > 0) {
      trace.push(...t);
      lastActivity = Date.now();
      quiet = 0;
    } else if (!(await done()) && await ctx.driver.needsReset()) {
      // The device said it is broken (DEVICE_NEEDS_RESET): it acts no more until a reset.
      break;
    }
  }
  trace.push(...(ctx.session.takeMemoryTrace?.() ?? []));
  return trace;
}

/** Waits (bounded, see {@link runUntil}) for `count` used elements on queue `q`; returns them and the trace. */
export async function collectUsed(
  ctx: DeviceClauseContext,
  q: number,
  count: number,
): Promise<{ used: UsedElem[]; trace: MemoryAccess[] }> {
  const used: UsedElem[] = [];
  const start = Date.now();
  const trace = await runUntil(ctx, async () => {
    if (used.length < count) used.push(...await ctx.driver.waitUsed(q, 1, 0));
    return used.length >= count;
  });
  if (count > 0 && used.length >= count) ctx.driver.noteServed(Date.now() - start);
  return { used, trace };
}

/**
 * Lets the device run where nothing is expected (the driver's negative window,
 * {@link QUIET_MS} at most); returns its memory accesses meanwhile.
 */
export async function quietTrace(ctx: DeviceClauseContext): Promise<MemoryAccess[]> {
  await ctx.driver.quiet(ctx.driver.negativeWindow(QUIET_MS));
  return ctx.session.takeMemoryTrace?.() ?? [];
}

/** True when the access overlaps `[addr, addr + len)`. */
export function overlaps(a: MemoryAccess, addr: number, len: number): boolean {
  return a.addr < addr + len && a.addr + a.length > addr;
}

/** Formats an access with its position in the trace. */
export function fmtAccess(a: MemoryAccess, i?: number): string {
  return `${i === undefined ? "" : `#${i} `}${a.kind} ${hex(a.addr)}+${a.length}`;
}

// ---------------------------------------------------------------------------------------------------------------------
// Set-up and chains

/** A packed queue set-up: queue size and the optional features asked for (each negotiated when offered). */
export interface PackedSetup {
  size: number;
  extras: number[];
}

function arbSetup(sizes: number[]): fc.Arbitrary<PackedSetup> {
  return fc.record({ size: fc.constantFrom(...sizes), extras: fc.subarray(OPTIONAL) });
}

function fmtSetup(s: PackedSetup): string {
  const names = s.extras.map((f) => SHORT[f] ?? String(f));
  return `size ${s.size}${names.length ? `, ${names.join("+")}` : ""}`;
}

/**
 * Negotiates VIRTIO_F_RING_PACKED (plus the set-up's optional features the
 * device offers), sets queue 0 up with the set-up's size and sets DRIVER_OK.
 */
export async function openPacked(ctx: DeviceClauseContext, setup: PackedSetup): Promise<PackedDriverQueue> {
  const want = setup.extras.reduce((m, f) => m | bit(f), bit(F.VERSION_1) | bit(F.RING_PACKED));
  const r = await ctx.driver.init("features-ok", (o) => o & want);
  expectThat(r.featuresOk, "FEATURES_OK with VIRTIO_F_RING_PACKED", () => formatStatus(r.status));
  const max = await ctx.transport.queueMax(QUEUE);
  const q = await ctx.driver.setupQueue(QUEUE, Math.min(setup.size, max));
  await ctx.driver.addStatus(Status.DRIVER_OK);
  if (!(q instanceof PackedDriverQueue)) throw new Error("VIRTIO_F_RING_PACKED negotiated but the queue is not packed");
  return q;
}

/** The shape of a random chain: relative element sizes, indirect or not, and (blk) write or read. */
export interface ChainShape {
  pieces: number[];
  indirect: boolean;
  out: boolean;
}

const arbShape: fc.Arbitrary<ChainShape> = fc.record({
  pieces: fc.array(fc.integer({ min: 1, max: 8 }), { minLength: 1, maxLength: 3 }),
  indirect: fc.boolean(),
  out: fc.boolean(),
});

function fmtShape(s: ChainShape): string {
  return `${s.out ? "w" : "r"}[${s.pieces.join("+")}]${s.indirect ? "i" : ""}`;
}

const fmtRounds = (rounds: ChainShape[][]) => rounds.map((r) => `(${r.map(fmtShape).join(" ")})`).join(" ");

/** A chain the harness built, with what it wrote into each element. */
export interface Chain {
  buffers: BufferSpec[];
  /** Bytes the harness wrote into each element before making the chain available. */
  initial: Uint8Array[];
  indirect: boolean;
  /** Ring slots the chain occupies. */
  slots: number;
  /** Buffer id and head position (set when added). */
  id: number;
  head: RingPos;
  /** blk: the request. */
  blk?: { sector: number; out: boolean };
}

/** Known bytes for a buffer at `addr`, distinct from neighbours. */
function guardBytes(addr: number, len: number): Uint8Array {
  const b = new Uint8Array(len);
  for (let i = 0; i < len; i++) b[i] = ((addr + i) * 157 + 0x5a) & 0xff;
  return b;
}

/** The data pattern of a blk sector (no period shorter than 512 bytes). */
function sectorPattern(sector: number, salt: number): Uint8Array {
  const b = new Uint8Array(512);
  for (let i = 0; i < 512; i++) b[i] = (i * 7 + (i >> 8) * 101 + sector * 13 + salt) & 0xff;
  return b;
}

/** Splits `total` bytes in proportion to `weights` (every part at least 1). */
function split(total: number, weights: number[]): number[] {
  const sum = weights.reduce((s, w) => s + w, 0);
  const parts = weights.map((w) => Math.max(1, Math.floor((total * w) / sum)));
  parts[parts.length - 1]! += total - parts.reduce((s, p) => s + p, 0);
  return parts;
}

/** Ring slots a shape takes on this device type. */
function shapeSlots(ctx: DeviceClauseContext, s: ChainShape, indirectOk: boolean): number {
  if (s.indirect && indirectOk) return 1;
  return ctx.deviceType === "blk" ? s.pieces.length + 2 : s.pieces.length;
}

async function element(
  ctx: DeviceClauseContext,
  chain: { buffers: BufferSpec[]; initial: Uint8Array[] },
  len: number,
  writable: boolean,
  content?: Uint8Array,
): Promise<void> {
  const addr = ctx.driver.alloc.alloc(len, 8);
  const bytes = content ?? guardBytes(addr, len);
  await ctx.session.memory.write(addr, bytes);
  chain.buffers.push({ addr, len, writable });
  chain.initial.push(bytes);
}

function blkHeader(out: boolean, sector: number): Uint8Array {
  const h = new Uint8Array(16);
  le.setU32(h, 0, out ? 1 : 0);
  le.setU64(h, 8, sector);
  return h;
}

/**
 * Builds a chain of the shape: rng, device-writable elements of 8× the
 * weights; blk, a 16-byte header, one sector of data split by the weights
 * (device-readable for a write, device-writable for a read) and a status byte.
 */
export async function buildChain(
  ctx: DeviceClauseContext,
  shape: ChainShape,
  indirectOk: boolean,
  sector: number,
  salt = 0,
): Promise<Chain> {
  ctx.driver.requireSampleRequests();
  if (ctx.deviceType !== "blk" && ctx.deviceType !== "rng") {
    notApplicable(`the packed-ring chains are written for rng and blk requests, not ${ctx.deviceType}`);
  }
  const c: Chain = { buffers: [], initial: [], indirect: false, slots: 0, id: -1, head: { pos: 0, wrap: 1 } };
  if (ctx.deviceType === "blk") {
    await element(ctx, c, 16, false, blkHeader(shape.out, sector));
    const data = sectorPattern(sector, salt);
    let off = 0;
    for (const len of split(512, shape.pieces)) {
      await element(ctx, c, len, !shape.out, shape.out ? data.slice(off, off + len) : undefined);
      off += len;
    }
    await element(ctx, c, 1, true);
    c.blk = { sector, out: shape.out };
  } else {
    for (const p of shape.pieces) await element(ctx, c, 8 * p, true);
  }
  c.indirect = shape.indirect && indirectOk;
  c.slots = c.indirect ? 1 : c.buffers.length;
  return c;
}

/** A chain of exactly `slots` ring slots (1 needs an indirect table on blk), for padding up to a wrap. */
async function fillerChain(ctx: DeviceClauseContext, slots: number, indirectOk: boolean): Promise<Chain> {
  if (ctx.deviceType !== "blk") return await buildChain(ctx, { pieces: [1], indirect: false, out: false }, false, 0);
  if (slots === 1) return await buildChain(ctx, { pieces: [1], indirect: true, out: false }, indirectOk, 0);
  if (slots === 3) return await buildChain(ctx, { pieces: [1], indirect: false, out: false }, false, 0);
  // Two slots: the header, then the data and the status byte in one device-writable element.
  const c: Chain = { buffers: [], initial: [], indirect: false, slots: 2, id: -1, head: { pos: 0, wrap: 1 } };
  await element(ctx, c, 16, false, blkHeader(false, 0));
  await element(ctx, c, 513, true);
  c.blk = { sector: 0, out: false };
  return c;
}

/** Sectors a blk request may use (at most 64, within the capacity). */
async function usableSectors(ctx: DeviceClauseContext): Promise<number> {
  if (ctx.deviceType !== "blk") return 64;
  const lo = await ctx.transport.readConfig(0, 4);
  const hi = await ctx.transport.readConfig(4, 4);
  return hi > 0 ? 64 : Math.min(64, lo);
}

// ---------------------------------------------------------------------------------------------------------------------
// Rounds: a batch made available, one notification, the used descriptors collected

/** One batch: the chains in ring order, where the driver expected the first used descriptor, what came back. */
export interface Round {
  chains: Chain[];
  usedStart: RingPos;
  used: UsedElem[];
  trace: MemoryAccess[];
}

/** Adds and publishes the chains in order, notifies, and collects the used elements (bounded). */
async function runRound(ctx: DeviceClauseContext, q: PackedDriverQueue, chains: Chain[]): Promise<Round> {
  ctx.session.takeMemoryTrace?.();
  const usedStart = q.usedPos;
  for (const c of chains) {
    c.head = q.nextPos;
    c.id = await q.add(c.buffers, { indirect: c.indirect });
    await q.publish(c.id);
  }
  await ctx.driver.kick(QUEUE);
  const { used, trace } = await collectUsed(ctx, QUEUE, chains.length);
  return { chains, usedStart, used, trace };
}

function incomplete(ctx: DeviceClauseContext, r: Round): never {
  throw new Error(
    `The device used ${r.used.length} of ${r.chains.length} buffers within ${WAIT_MS} ms ` +
      `(${ctx.driver.describeQueue(QUEUE)})`,
  );
}

/**
 * Plays the rounds of a plan on `q`: each round takes the shapes that fit the
 * free slots, runs, and is handed to `check` (before an incomplete round
 * ends the run as a harness error).
 */
async function playRounds(
  ctx: DeviceClauseContext,
  q: PackedDriverQueue,
  rounds: ChainShape[][],
  check: (r: Round) => Promise<void>,
): Promise<void> {
  const indirectOk = q.features.indirect;
  const sectors = await usableSectors(ctx);
  if (sectors < 1) throw new Error("The block device has no capacity to read from");
  let k = 0;
  for (const shapes of rounds) {
    let room = q.freeCount;
    const chains: Chain[] = [];
    for (const s of shapes) {
      const n = shapeSlots(ctx, s, indirectOk);
      if (n > room) continue;
      room -= n;
      chains.push(await buildChain(ctx, s, indirectOk, k++ % sectors));
    }
    if (chains.length === 0) continue;
    const r = await runRound(ctx, q, chains);
    await check(r);
    if (r.used.length < chains.length) incomplete(ctx, r);
  }
}

/** Ring slots (offsets) an access to the descriptor ring overlaps. */
function slotsTouched(q: PackedDriverQueue, a: MemoryAccess): number[] {
  const base = q.addrs.desc;
  const end = base + 16 * q.size;
  if (a.addr >= end || a.addr + a.length <= base) return [];
  const first = Math.max(0, Math.floor((a.addr - base) / 16));
  const last = Math.min(q.size - 1, Math.floor((a.addr + a.length - 1 - base) / 16));
  const out: number[] = [];
  for (let s = first; s <= last; s++) out.push(s);
  return out;
}

/** Ring slot offsets of a chain. */
function chainSlots(q: PackedDriverQueue, c: Chain): number[] {
  return Array.from({ length: c.slots }, (_, i) => (c.head.pos + i) % q.size);
}

/** Where each used descriptor of a round lies (implied IN_ORDER elements have none). */
function usedPositions(q: PackedDriverQueue, r: Round): { pos: RingPos; id: number }[] {
  const slots = new Map(r.chains.map((c) => [c.id, c.slots]));
  const out: { pos: RingPos; id: number }[] = [];
  let at = r.usedStart;
  let group = 0;
  for (const e of r.used) {
    const n = slots.get(e.id) ?? 1;
    if (e.implied) {
      group += n;
      continue;
    }
    out.push({ pos: at, id: e.id });
    at = advancePos(at, group + n, q.size);
    group = 0;
  }
  return out;
}

async function readSlot(ctx: DeviceClauseContext, q: PackedDriverQueue, slot: number): Promise<Uint8Array> {
  return await ctx.session.memory.read(q.addrs.desc + 16 * slot, 16);
}

function fmtDesc(b: Uint8Array): string {
  const d = decodePackedDesc(b);
  return `id ${d.id}, len ${d.len}, flags ${hex(d.flags)}`;
}

/** A random plan of rounds on a queue of one of `sizes`. */
function arbPlan(sizes: number[]) {
  return fc.record({
    setup: arbSetup(sizes),
    rounds: fc.array(fc.array(arbShape, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 6 }),
  });
}
type Plan = { setup: PackedSetup; rounds: ChainShape[][] };
const fmtPlan = (p: Plan) => `${fmtSetup(p.setup)}; rounds ${fmtRounds(p.rounds)}`;

const sizesFor = (ctx: DeviceClauseContext) => ctx.deviceType === "blk" ? [4, 8, 16] : [2, 4, 8];

// ---------------------------------------------------------------------------------------------------------------------
// 2.8.12 Virtqueues

export const processesInRingOrder = defineDeviceClause({
  label: RING,
  statement: 1,
  level: "MUST",
  title: "descriptors processed in ring order",
  requirement: "The device starts processing available descriptors in the order they appear in the ring.",
  action: "Makes random batches of random chains available on a small packed ring (wrapping it) and checks, in the " +
    "device's memory accesses, that its first read of each buffer's ring descriptors follows ring order.",
  applies: PACKED_TRACED,
  async run(ctx) {
    await checkProperty(ctx, arbPlan(sizesFor(ctx)), async (plan) => {
      const q = await openPacked(ctx, plan.setup);
      await playRounds(ctx, q, plan.rounds, (r) => {
        const first = r.chains.map((c) => {
          const slots = chainSlots(q, c);
          return r.trace.findIndex((a) => a.kind === "read" && slotsTouched(q, a).some((s) => slots.includes(s)));
        });
        const bad: string[] = [];
        r.chains.forEach((c, j) => {
          const fj = first[j]!;
          if (fj < 0) return;
          const earlier = r.chains.findIndex((_, i) => i < j && (first[i]! < 0 || first[i]! > fj));
          if (earlier < 0) return;
          const e = r.chains[earlier]!;
          const fe = first[earlier]!;
          bad.push(
            `buffer id ${c.id} at ${where(c.head)} first read at access #${fj}, buffer id ${e.id} at ${where(e.head)} ${
              fe < 0 ? "not read at all" : `only at access #${fe}`
            }`,
          );
        });
        expectNone("first reads of buffers in ring order", bad, (s) => s);
        return Promise.resolve();
      });
    }, fmtPlan);
  },
});

export const usedInCompletionOrder = defineDeviceClause({
  label: RING,
  statement: 2,
  level: "MUST",
  title: "used descriptors written in order, each at the next used position",
  requirement: "The device starts writing used descriptors into the ring in the order the buffers complete: each " +
    "one at the next used position (after the slots of the previous buffer), marked used for the wrap counter of " +
    "that pass.",
  action: "Makes random batches of random chains available on a small packed ring (wrapping it); per batch, lists " +
    "the ring slots the device started writing, in the order of its first write to each, and compares them with " +
    "the positions where the used descriptors belong, and checks every slot written holds a used descriptor.",
  applies: PACKED_TRACED,
  async run(ctx) {
    await checkProperty(ctx, arbPlan(sizesFor(ctx)), async (plan) => {
      const q = await openPacked(ctx, plan.setup);
      await playRounds(ctx, q, plan.rounds, async (r) => {
        const written: number[] = [];
        for (const a of r.trace) {
          if (a.kind !== "write") continue;
          for (const s of slotsTouched(q, a)) if (!written.includes(s)) written.push(s);
        }
        const expected = usedPositions(q, r);
        const slots = (xs: number[]) => `[${xs.join(", ")}]`;
        const want = expected.map((e) => e.pos.pos);
        const last = expected.at(-1);
        const next = last
          ? advancePos(last.pos, r.chains.find((c) => c.id === last.id)?.slots ?? 1, q.size)
          : r.usedStart;
        for (const [k, s] of written.entries()) {
          if (k < want.length) {
            expectThat(
              want[k] === s,
              `used descriptors started in ring order from ${where(r.usedStart)}: slots ${slots(want)}`,
              () => `device writes started at slots ${slots(written)}`,
            );
            continue;
          }
          const d = await readSlot(ctx, q, s);
          violation(
            `every slot the device writes to hold a used descriptor of its pass (the next at ${where(next)}, ` +
              `AVAIL = USED = ${next.wrap})`,
            `device writes started at slots ${slots(written)}; slot ${s} holds ${fmtDesc(d)}`,
          );
        }
        expectThat(
          written.length >= want.length,
          `a device write to each used descriptor slot ${slots(want)}`,
          () => `device writes to slots ${slots(written)}`,
        );
      });
    }, fmtPlan);
  },
});

// ---------------------------------------------------------------------------------------------------------------------
// 2.8.15 The Virtqueue Descriptor Table

export const readableNotWritten = defineDeviceClause({
  label: TABLE,
  statement: 1,
  level: "MUST NOT",
  title: "device-readable buffers never written",
  requirement: "The device does not write to any device-readable buffer.",
  action: "Makes random batches of block requests available (writes carry device-readable data split in random " +
    "elements, every header is device-readable); after each batch compares every device-readable element with " +
    "what the harness wrote and, where the adapter records accesses, checks no device write touched one.",
  applies: { ...PACKED, deviceTypes: ["blk"] },
  async run(ctx) {
    await checkProperty(ctx, arbPlan(sizesFor(ctx)), async (plan) => {
      const q = await openPacked(ctx, plan.setup);
      await playRounds(ctx, q, plan.rounds, async (r) => {
        const changed: string[] = [];
        const hits: string[] = [];
        for (const c of r.chains) {
          for (const [i, b] of c.buffers.entries()) {
            if (b.writable) continue;
            const now = await ctx.session.memory.read(b.addr, b.len);
            const was = c.initial[i]!;
            const at = now.findIndex((v, k) => v !== was[k]);
            if (at >= 0) {
              changed.push(
                `element ${i} of buffer id ${c.id} (${hex(b.addr)}+${b.len}) byte ${at}: ${hex(was[at]!)} → ${
                  hex(now[at]!)
                }`,
              );
            }
            r.trace.forEach((a, n) => {
              if (a.kind === "write" && overlaps(a, b.addr, b.len)) {
                hits.push(`${fmtAccess(a, n)} into element ${i} of buffer id ${c.id}`);
              }
            });
          }
        }
        expectNone("device-readable elements unchanged", changed, (s) => s);
        expectNone("no device write into a device-readable element", hits, (s) => s);
      });
    }, fmtPlan);
  },
});

export const writableNotRead = defineDeviceClause({
  label: TABLE,
  statement: 2,
  level: "SHOULD NOT",
  title: "device-writable buffers not read",
  requirement: "The device does not read device-writable buffers.",
  action: "Makes random batches of random chains available and checks, in the device's memory accesses, that no " +
    "read touched a device-writable element.",
  applies: PACKED_TRACED,
  async run(ctx) {
    await checkProperty(ctx, arbPlan(sizesFor(ctx)), async (plan) => {
      const q = await openPacked(ctx, plan.setup);
      await playRounds(ctx, q, plan.rounds, (r) => {
        const hits: string[] = [];
        for (const c of r.chains) {
          for (const [i, b] of c.buffers.entries()) {
            if (!b.writable) continue;
            r.trace.forEach((a, n) => {
              if (a.kind === "read" && overlaps(a, b.addr, b.len)) {
                hits.push(`${fmtAccess(a, n)} of element ${i} of buffer id ${c.id} (${hex(b.addr)}+${b.len})`);
              }
            });
          }
        }
        expectNone("no device read of a device-writable element", hits, (s) => s);
        return Promise.resolve();
      });
    }, fmtPlan);
  },
});

/** How a decoy descriptor's flags say "not available" for the wrap counter `w` of its slot. */
type DecoyKind = "used" | "other-wrap" | "unmarked";
const DECOY_KINDS: DecoyKind[] = ["used", "other-wrap", "unmarked"];
const DECOY_TEXT: Record<DecoyKind, string> = {
  "used": "AVAIL and USED both equal to the wrap counter (a used descriptor)",
  "other-wrap": "AVAIL inverted, USED equal (available for the other wrap counter)",
  "unmarked": "AVAIL and USED both inverted (used in the previous pass)",
};

function decoyBits(kind: DecoyKind, wrap: number): number {
  const w = wrap & 1;
  const a = kind === "used" ? w : 1 - w;
  const u = kind === "unmarked" ? 1 - w : w;
  return (a ? PackedDesc.AVAIL : 0) | (u ? PackedDesc.USED : 0);
}

interface Decoy {
  chain: Chain;
}

async function writeDecoys(
  ctx: DeviceClauseContext,
  q: PackedDriverQueue,
  decoys: Decoy[],
  kind: DecoyKind,
): Promise<void> {
  for (const { chain } of decoys) {
    let at = chain.head;
    for (const [i, b] of chain.buffers.entries()) {
      const last = i === chain.buffers.length - 1;
      const flags = (b.writable ? PackedDesc.WRITE : 0) | (last ? 0 : PackedDesc.NEXT) | decoyBits(kind, at.wrap);
      await ctx.session.memory.write(
        q.addrs.desc + 16 * at.pos,
        encodePackedDesc({ addr: b.addr, len: b.len, id: chain.id, flags }),
      );
      at = advancePos(at, 1, q.size);
    }
  }
}

/**
 * Reads the used descriptors of `chains` (made available in this order from
 * the driver's used position `start`) straight from the ring, never past
 * their slots. Returns how many are used and any used descriptor naming
 * another id.
 */
async function rawUsed(
  ctx: DeviceClauseContext,
  q: PackedDriverQueue,
  start: RingPos,
  chains: Chain[],
): Promise<{ used: number; stray?: { at: RingPos; id: number } }> {
  const pending = new Map(chains.map((c) => [c.id, c]));
  let at = start;
  while (pending.size > 0) {
    const d = decodePackedDesc(await readSlot(ctx, q, at.pos));
    if (!isUsed(d.flags, at.wrap)) break;
    const c = pending.get(d.id);
    if (!c) return { used: chains.length - pending.size, stray: { at, id: d.id } };
    let skip = c.slots;
    if (q.features.inOrder) {
      for (const older of chains) {
        if (older.id === d.id) break;
        if (pending.delete(older.id)) skip += older.slots;
      }
    }
    pending.delete(d.id);
    at = advancePos(at, skip, q.size);
  }
  return { used: chains.length - pending.size };
}

interface DecoyPlan {
  setup: PackedSetup;
  mode: "wrap" | "mid";
  warm: ChainShape[][];
  lead: ChainShape[];
  decoys: number;
  kinds: DecoyKind[];
}

const arbDecoyPlan = (sizes: number[]): fc.Arbitrary<DecoyPlan> =>
  fc.record({
    setup: arbSetup(sizes),
    mode: fc.constantFrom("wrap" as const, "mid" as const),
    warm: fc.array(fc.array(arbShape, { minLength: 1, maxLength: 3 }), { maxLength: 4 }),
    lead: fc.array(arbShape, { maxLength: 2 }),
    decoys: fc.integer({ min: 1, max: 2 }),
    kinds: fc.shuffledSubarray(DECOY_KINDS, { minLength: 3, maxLength: 3 }),
  });

const fmtDecoyPlan = (p: DecoyPlan) =>
  `${fmtSetup(p.setup)}; ${p.mode === "wrap" ? "decoys at the first wrap" : "decoys mid-ring"}; warm-up ${
    fmtRounds(p.warm)
  }; lead ${p.lead.map(fmtShape).join(" ") || "none"}; ${p.decoys} decoy(s) as ${p.kinds.join(" → ")}`;

export const onlyAvailableUsed = defineDeviceClause({
  label: TABLE,
  statement: 3,
  level: "MUST NOT",
  title: "only descriptors marked available are used",
  requirement: "The device uses a descriptor only once its AVAIL bit shows it available for the device's current " +
    "wrap counter (AVAIL equal to it, USED not).",
  action: "After random traffic (ending mid-ring or exactly at the first wrap), places complete chains right " +
    "after the available ones whose flags are not available — used-looking, available for the other wrap " +
    "counter, or used in the previous pass — notifies after each kind and checks the device never touched " +
    "their buffers, never wrote their ring slots and named none in a used descriptor; finally makes fresh " +
    "chains available over them and checks the decoys stay untouched.",
  applies: PACKED,
  async run(ctx) {
    const decoySlots = ctx.deviceType === "blk" ? 3 : 1;
    await checkProperty(ctx, arbDecoyPlan(sizesFor(ctx)), async (plan) => {
      const q = await openPacked(ctx, plan.setup);
      const indirectOk = q.features.indirect;
      const size = q.size;
      // Warm-up: in "wrap" mode only the first pass, then padded to exactly one full ring.
      let total = 0;
      const fillable = (r: number) => r === 0 || ctx.deviceType !== "blk" || indirectOk || r >= 2;
      let stalled = false;
      for (const shapes of plan.warm) {
        let room = q.freeCount;
        const chains: Chain[] = [];
        for (const s of shapes) {
          const n = shapeSlots(ctx, s, indirectOk);
          if (n > room) continue;
          if (plan.mode === "wrap" && (total + n > size || !fillable(size - total - n))) continue;
          room -= n;
          total += n;
          chains.push(await buildChain(ctx, s, indirectOk, 0));
        }
        if (chains.length === 0) continue;
        const r = await runRound(ctx, q, chains);
        if (r.used.length < chains.length) stalled = true;
        if (stalled) break;
      }
      if (!stalled && plan.mode === "wrap" && total < size) {
        const pad: Chain[] = [];
        for (let r = size - total; r > 0;) {
          const n = ctx.deviceType !== "blk" ? 1 : r === 1 ? 1 : r === 3 ? 3 : 2;
          pad.push(await fillerChain(ctx, n, indirectOk));
          r -= n;
        }
        const r = await runRound(ctx, q, pad);
        if (r.used.length < pad.length) stalled = true;
      }
      // A device that stopped using available buffers used no decoy either: nothing more to check in this run.
      if (stalled) return;

      // Legit chains (mid mode), then the decoys right after them.
      const decoysFit = Math.min(plan.decoys, Math.floor(q.freeCount / decoySlots));
      if (decoysFit < 1) return;
      let room = q.freeCount - decoysFit * decoySlots;
      const lead: Chain[] = [];
      const usedStart = q.usedPos;
      for (const s of plan.mode === "mid" ? plan.lead : []) {
        const n = shapeSlots(ctx, s, indirectOk);
        if (n > room) continue;
        room -= n;
        const c = await buildChain(ctx, s, indirectOk, 0);
        c.head = q.nextPos;
        c.id = await q.add(c.buffers, { indirect: c.indirect });
        await q.publish(c.id);
        lead.push(c);
      }
      const busy = new Set(q.outstanding());
      const freeIds = Array.from({ length: size }, (_, i) => i).filter((i) => !busy.has(i));
      const decoys: Decoy[] = [];
      let at = q.nextPos;
      for (let k = 0; k < decoysFit; k++) {
        const chain = ctx.deviceType === "blk"
          ? await buildChain(ctx, { pieces: [1], indirect: false, out: false }, false, 0)
          : await buildChain(ctx, { pieces: [2], indirect: false, out: false }, false, 0);
        chain.id = freeIds[k] ?? k;
        chain.head = at;
        at = advancePos(at, chain.slots, size);
        decoys.push({ chain });
      }
      const decoySlotSet = new Set(decoys.flatMap((d) => chainSlots(q, d.chain)));
      ctx.session.takeMemoryTrace?.();

      const check = async (kind: DecoyKind | "fresh", trace: MemoryAccess[]) => {
        const when = kind === "fresh" ? "after fresh chains replaced the decoys" : `with decoys ${DECOY_TEXT[kind]}`;
        const bad: string[] = [];
        for (const { chain } of decoys) {
          for (const [i, b] of chain.buffers.entries()) {
            const now = await ctx.session.memory.read(b.addr, b.len);
            const was = chain.initial[i]!;
            const k = now.findIndex((v, j) => v !== was[j]);
            if (k >= 0) bad.push(`element ${i} of decoy id ${chain.id} changed at byte ${k}`);
            trace.forEach((a, n) => {
              if (overlaps(a, b.addr, b.len)) bad.push(`${fmtAccess(a, n)} on element ${i} of decoy id ${chain.id}`);
            });
          }
        }
        if (kind !== "fresh") {
          trace.forEach((a, n) => {
            if (a.kind !== "write") return;
            const hit = slotsTouched(q, a).filter((s) => decoySlotSet.has(s));
            if (hit.length) bad.push(`${fmtAccess(a, n)} into decoy ring slot(s) ${hit.join(", ")}`);
          });
        }
        expectNone(`the decoys left alone ${when}`, bad, (s) => s);
      };

      for (const kind of plan.kinds) {
        await writeDecoys(ctx, q, decoys, kind);
        await ctx.driver.kick(QUEUE);
        let stray: { at: RingPos; id: number } | undefined;
        const trace = await runUntil(ctx, async () => {
          const r = await rawUsed(ctx, q, usedStart, lead);
          stray = r.stray;
          return r.used === lead.length || stray !== undefined;
        });
        trace.push(...await quietTrace(ctx));
        if (stray) {
          const s = stray;
          const decoy = decoys.find((d) => d.chain.id === s.id);
          violation(
            `used descriptors naming only the ${lead.length} available buffer(s) [${lead.map((c) => c.id).join(", ")}]`,
            `${where(s.at)} holds a used descriptor naming ${decoy ? "decoy" : "unknown"} id ${s.id}`,
          );
        }
        await check(kind, trace);
      }

      // Fresh chains over the decoy slots (whose flags first say "used in the previous pass").
      await writeDecoys(ctx, q, decoys, "unmarked");
      const fresh: Chain[] = [];
      let left = q.freeCount;
      for (let k = 0; k < decoys.length; k++) {
        const c = await fillerChain(ctx, decoySlots, indirectOk);
        if (c.slots > left) break;
        left -= c.slots;
        c.head = q.nextPos;
        c.id = await q.add(c.buffers, { indirect: c.indirect });
        await q.publish(c.id);
        fresh.push(c);
      }
      await ctx.driver.kick(QUEUE);
      // Once the fresh chains over the decoy slots are used, the device has acted on that notification: no window.
      // A device that leaves them unused gets a window for what it might still do.
      const { used, trace } = await collectUsed(ctx, QUEUE, lead.length + fresh.length);
      if (used.length < lead.length + fresh.length) trace.push(...await quietTrace(ctx));
      await check("fresh", trace);
    }, fmtDecoyPlan);
  },
});

export const usedDescriptorFinal = defineDeviceClause({
  label: TABLE,
  statement: 4,
  level: "MUST NOT",
  title: "a used descriptor is not changed after its USED bit",
  requirement: "Once the device has set a descriptor's USED bit (marking it used), it does not change that " +
    "descriptor any more.",
  action: "Makes random batches of random chains available; after each batch reads every used descriptor, sends " +
    "one more notification with nothing new, then serves one more request (the device has acted on the " +
    "notification by then), and reads them again; where the adapter records accesses, also " +
    "checks no device write touched a used descriptor after the write that set its flags.",
  applies: PACKED,
  async run(ctx) {
    await checkProperty(ctx, arbPlan(sizesFor(ctx)), async (plan) => {
      const q = await openPacked(ctx, plan.setup);
      await playRounds(ctx, q, plan.rounds, async (r) => {
        const all = usedPositions(q, r);
        const before = await Promise.all(all.map((p) => readSlot(ctx, q, p.pos.pos)));
        await ctx.driver.kick(QUEUE);
        // The device has acted on that notification once it has served a request made available after it (a probe
        // right after the round): no window to guess. The probe's slots are the driver's again, so they are not
        // compared; a round the device left unfinished gets a window instead.
        const probeSlots = ctx.deviceType === "blk" && !q.features.indirect ? 2 : 1;
        const reused = new Set<number>();
        if (r.used.length === r.chains.length && q.freeCount >= probeSlots) {
          r.trace.push(...(ctx.session.takeMemoryTrace?.() ?? []));
          for (let k = 0; k < probeSlots; k++) reused.add((q.nextPos.pos + k) % q.size);
          const probe = await runRound(ctx, q, [await fillerChain(ctx, probeSlots, q.features.indirect)]);
          r.trace.push(...probe.trace);
          if (probe.used.length < 1) incomplete(ctx, probe);
        } else r.trace.push(...await quietTrace(ctx));
        const positions = all.filter((p) => !reused.has(p.pos.pos));
        const changed: string[] = [];
        for (const [i, p] of all.entries()) {
          if (reused.has(p.pos.pos)) continue;
          const now = await readSlot(ctx, q, p.pos.pos);
          const was = before[i]!;
          if (now.some((v, k) => v !== was[k])) {
            changed.push(`used descriptor at ${where(p.pos)}: ${fmtDesc(was)} → ${fmtDesc(now)}`);
          }
        }
        expectNone("used descriptors unchanged after the driver read them", changed, (s) => s);
        const late: string[] = [];
        for (const p of positions) {
          const base = q.addrs.desc + 16 * p.pos.pos;
          let flagsAt = -1;
          r.trace.forEach((a, n) => {
            if (a.kind === "write" && overlaps(a, base + 14, 2)) flagsAt = n;
          });
          if (flagsAt < 0) continue;
          r.trace.forEach((a, n) => {
            if (n > flagsAt && a.kind === "write" && overlaps(a, base, 16)) {
              late.push(`${fmtAccess(a, n)} into the used descriptor at ${where(p.pos)} after its flags (#${flagsAt})`);
            }
          });
        }
        expectNone("no device write into a used descriptor after the write of its flags", late, (s) => s);
      });
    }, fmtPlan);
  },
});

// ---------------------------------------------------------------------------------------------------------------------
// 2.8.18 Scatter-Gather Support

/** Byte ranges of `[addr, addr + len)` no write of the trace covers. */
function uncovered(trace: MemoryAccess[], addr: number, len: number): [number, number][] {
  const spans = trace.filter((a) => a.kind === "write" && overlaps(a, addr, len))
    .map((a) => [Math.max(a.addr, addr), Math.min(a.addr + a.length, addr + len)] as [number, number])
    .sort((x, y) => x[0] - y[0]);
  const gaps: [number, number][] = [];
  let at = addr;
  for (const [s, e] of spans) {
    if (s > at) gaps.push([at, s]);
    at = Math.max(at, e);
  }
  if (at < addr + len) gaps.push([at, addr + len]);
  return gaps;
}

async function rngChainOrder(ctx: DeviceClauseContext, plan: Plan): Promise<void> {
  const q = await openPacked(ctx, plan.setup);
  const traced = ctx.session.takeMemoryTrace !== undefined;
  await playRounds(ctx, q, plan.rounds, (r) => {
    const byId = new Map(r.chains.map((c) => [c.id, c]));
    for (const e of r.used) {
      const c = byId.get(e.id);
      if (!c || e.implied) continue;
      const total = c.buffers.reduce((s, b) => s + b.len, 0);
      expectThat(
        e.len <= total,
        `used length of buffer id ${e.id} within its chain of ${c.buffers.length} element(s), ${total} bytes`,
        () => `used length ${e.len}`,
      );
      if (!traced) continue;
      let left = e.len;
      for (const [i, b] of c.buffers.entries()) {
        const need = Math.min(left, b.len);
        left -= need;
        const gaps = need > 0 ? uncovered(r.trace, b.addr, need) : [];
        expectThat(
          gaps.length === 0,
          `the first ${e.len} bytes of buffer id ${e.id} written in chain order, from its first element`,
          () =>
            `element ${i} (${hex(b.addr)}+${b.len}) has unwritten bytes ${
              gaps.map(([s, t]) => `${s - b.addr}..${t - b.addr - 1}`).join(", ")
            } inside those ${e.len} bytes`,
        );
      }
    }
    return Promise.resolve();
  });
}

interface SgCase {
  write: ChainShape;
  read: ChainShape;
}

async function blkChainOrder(ctx: DeviceClauseContext, setup: PackedSetup, cases: SgCase[], salt: number) {
  if (ctx.offered & bit(BLK_F.RO)) {
    notApplicable("the disk is read-only (VIRTIO_BLK_F_RO offered): this check writes it");
  }
  const q = await openPacked(ctx, setup);
  if (ctx.driver.negotiated & bit(BLK_F.ZONED)) {
    notApplicable("a host-managed zoned disk (VIRTIO_BLK_F_ZONED negotiated) takes writes only at write pointers");
  }
  const indirectOk = q.features.indirect;
  const sectors = await usableSectors(ctx);
  if (sectors < 1) throw new Error("The block device has no capacity to write to");
  let k = 0;
  while (k < cases.length) {
    // A group of cases whose writes and reads each fit the ring.
    const group: { c: SgCase; sector: number }[] = [];
    let wSlots = 0;
    let rSlots = 0;
    for (; k < cases.length; k++) {
      const c = cases[k]!;
      const w = shapeSlots(ctx, c.write, indirectOk);
      const rd = shapeSlots(ctx, c.read, indirectOk);
      if (w > q.size || rd > q.size) continue;
      if (wSlots + w > q.size || rSlots + rd > q.size) break;
      wSlots += w;
      rSlots += rd;
      group.push({ c, sector: k % sectors });
    }
    if (group.length === 0) continue;
    const writes: Chain[] = [];
    for (const g of group) writes.push(await buildChain(ctx, { ...g.c.write, out: true }, indirectOk, g.sector, salt));
    const w = await runRound(ctx, q, writes);
    if (w.used.length < writes.length) incomplete(ctx, w);
    for (const c of writes) {
      const status = (await ctx.session.memory.read(c.buffers.at(-1)!.addr, 1))[0];
      if (status !== 0) throw new Error(`The block device failed a write of sector ${c.blk?.sector}: status ${status}`);
    }
    const reads: Chain[] = [];
    for (const g of group) reads.push(await buildChain(ctx, { ...g.c.read, out: false }, indirectOk, g.sector, salt));
    const rd = await runRound(ctx, q, reads);
    for (const [i, c] of reads.entries()) {
      if (!rd.used.some((e) => e.id === c.id)) continue;
      const data = new Uint8Array(512);
      let off = 0;
      const layout: string[] = [];
      for (const b of c.buffers.slice(1, -1)) {
        data.set(await ctx.session.memory.read(b.addr, b.len), off);
        layout.push(`${off}..${off + b.len - 1}`);
        off += b.len;
      }
      const want = sectorPattern(group[i]!.sector, salt);
      const wrong = data.findIndex((v, j) => v !== want[j]);
      const written = writes[i]!.buffers.slice(1, -1).map((b) => b.len).join("+");
      expectThat(
        wrong < 0,
        `sector ${group[i]!.sector}, written from elements of ${written} bytes, read back in chain order into ` +
          `elements ${layout.join(", ")}`,
        () => `byte ${wrong} reads ${hex(data[wrong]!)}, the pattern has ${hex(want[wrong]!)} there`,
      );
    }
    if (rd.used.length < reads.length) incomplete(ctx, rd);
  }
}

const arbSgCases = fc.array(fc.record({ write: arbShape, read: arbShape }), { minLength: 1, maxLength: 6 });

export const chainUsedInOrder = defineDeviceClause({
  label: SG,
  statement: 1,
  level: "MUST",
  title: "a NEXT-chained list is used in order",
  requirement: "The device uses the descriptors of a list chained by NEXT in the order the driver made them " +
    "available.",
  action: "blk: writes a known pattern to a sector from random device-readable elements, then reads it back into " +
    "random device-writable elements and checks the bytes land in chain order. rng: makes random chains " +
    "available and checks the used length is within the chain and (with a memory trace) the bytes written " +
    "fill the chain from its first element on.",
  applies: PACKED,
  async run(ctx) {
    if (ctx.deviceType === "blk") {
      const arb = fc.record({ setup: arbSetup([8, 16]), cases: arbSgCases, salt: fc.integer({ min: 0, max: 255 }) });
      await checkProperty(
        ctx,
        arb,
        (v) => blkChainOrder(ctx, v.setup, v.cases, v.salt),
        (v) =>
          `${fmtSetup(v.setup)}; salt ${v.salt}; cases ${
            v.cases.map((c) => `w[${c.write.pieces.join("+")}]→r[${c.read.pieces.join("+")}]`).join(" ")
          }`,
      );
      return;
    }
    await checkProperty(ctx, arbPlan(sizesFor(ctx)), (p) => rngChainOrder(ctx, p), fmtPlan);
  },
});

/** The device clauses of spec 2.8, in spec order. */
export const PACKED_DEVICE_CLAUSES = [
  processesInRingOrder,
  usedInCompletionOrder,
  readableNotWritten,
  writableNotRead,
  onlyAvailableUsed,
  usedDescriptorFinal,
  chainUsedInOrder,
];
