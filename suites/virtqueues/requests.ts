/**
 * Requests of random shape for the device-obligation ring clauses: how the
 * harness (playing the driver) lays out one request's buffers, fills them
 * with known bytes, and checks what the device did with them.
 *
 * Device-readable buffers carry the request (a blk header split anywhere,
 * blk write data); device-writable buffers are filled with a canary pattern
 * so the harness can tell which bytes the device wrote.
 *
 * @module
 */
import fc from "fast-check";
import type { DeviceClauseContext } from "../../harness/core/clause.ts";
import { bit, F } from "../../harness/features.ts";
import { le } from "../../harness/memory.ts";
import { HARNESS_CORE_FEATURES } from "../../harness/roles/harness_driver.ts";
import { formatStatus } from "../../harness/status.ts";
import { expectThat } from "../../harness/verify.ts";
import type { BufferSpec, UsedElem } from "../../harness/virtqueue/queue.ts";
import { type SplitAddOptions, SplitDriverQueue } from "../../harness/virtqueue/split.ts";

/** The kinds of request the ring clauses send, by device type. */
export type RequestKind = "rng" | "blk-read" | "blk-write";

/** How one request is laid out. */
export interface RequestShape {
  kind: RequestKind;
  /** Lengths of the device-readable pieces (blk: the 16-byte header, then write data). */
  readable: number[];
  /** Lengths of the device-writable pieces (blk: read data, then the status byte in the last piece). */
  writable: number[];
  /** Put the chain in an indirect table. */
  indirect: boolean;
  /** With `indirect`, leading pieces that stay in ring descriptors (split rings). */
  direct: number;
  /** Set WRITE on the descriptor naming the indirect table. */
  indirectWriteFlag: boolean;
  /** First sector (blk). */
  sector: number;
}

/** A request placed in a queue (added, not yet published). */
export interface PlacedRequest {
  id: number;
  shape: RequestShape;
  buffers: BufferSpec[];
  /** Device-readable buffers and the bytes the harness put there. */
  readable: { addr: number; bytes: Uint8Array }[];
  /** Device-writable buffers (filled with the canary). */
  writable: { addr: number; len: number }[];
  /** Expected data in the writable buffers (blk read of known sectors), if known. */
  expectData?: Uint8Array;
}

const SECTOR = 512;

/** The canary byte at offset `i` of a writable buffer. */
export function canary(i: number): number {
  return (0x5a + i * 0x9d) & 0xff;
}

/** The data a blk write puts at byte `i` of `sector` (never the canary at the same offset). */
export function diskPattern(sector: number, i: number): number {
  return (sector * 31 + i * 7 + 1) & 0xff;
}

/** Splits `total` bytes into `pieces` non-empty parts at the given cut fractions. */
function split(total: number, cuts: number[]): number[] {
  const points = [...new Set(cuts.map((c) => 1 + Math.floor(c * (total - 1))))].filter((p) => p > 0 && p < total)
    .sort((a, b) => a - b);
  const out: number[] = [];
  let prev = 0;
  for (const p of [...points, total]) {
    out.push(p - prev);
    prev = p;
  }
  return out;
}

/** Options of {@link requestShapes}. */
export interface ShapeOptions {
  /** Indirect tables allowed (VIRTIO_F_INDIRECT_DESC negotiated). */
  indirect: boolean;
  /** Most descriptors a direct chain may use. */
  maxDescriptors: number;
  /** Allow direct descriptors before an indirect one (split rings only). */
  mixed?: boolean;
  /** Force WRITE on the descriptor naming the table (for the clause about ignoring it). */
  indirectWriteFlag?: boolean;
  /** Force an indirect table. */
  forceIndirect?: boolean;
  /** The disk is read-only (VIRTIO_BLK_F_RO offered): blk reads only, since every write ends in IOERR. */
  readOnly?: boolean;
}

/**
 * Random request shapes for a device type: rng requests of 1–4 writable
 * pieces, blk reads and writes of 1–2 sectors with the header, data and
 * status split at random places.
 */
export function requestShapes(deviceType: string, opts: ShapeOptions): fc.Arbitrary<RequestShape> {
  const cuts = (n: number) => fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: n });
  const finish = (s: Omit<RequestShape, "indirect" | "direct" | "indirectWriteFlag">) =>
    fc.record({ indirect: fc.boolean(), direct: fc.nat({ max: 2 }) }).map(({ indirect, direct }) => {
      const pieces = s.readable.length + s.writable.length;
      const useIndirect = opts.indirect && (opts.forceIndirect || indirect || pieces > opts.maxDescriptors);
      const keep = (w: number[], n: number) => w.length <= n ? w : [...w.slice(0, n - 1), sum(w.slice(n - 1))];
      const shape: RequestShape = {
        ...s,
        indirect: useIndirect,
        direct: useIndirect && opts.mixed ? Math.min(direct, pieces - 1) : 0,
        indirectWriteFlag: useIndirect && (opts.indirectWriteFlag ?? false),
      };
      if (!useIndirect && pieces > opts.maxDescriptors) {
        // Too many pieces for the ring: merge the tail pieces.
        const r = keep(shape.readable, Math.max(1, opts.maxDescriptors - 1));
        shape.readable = r;
        shape.writable = keep(shape.writable, Math.max(1, opts.maxDescriptors - r.length));
        if (shape.readable.length + shape.writable.length > opts.maxDescriptors) shape.readable = [sum(r)];
      }
      return shape;
    });
  if (deviceType === "blk") {
    return fc.record({
      write: opts.readOnly ? fc.constant(false) : fc.boolean(),
      sectors: fc.integer({ min: 1, max: 2 }),
      sector: fc.integer({ min: 0, max: 6 }),
      hdrCuts: cuts(2),
      dataCuts: cuts(3),
      statusAlone: fc.boolean(),
    }).chain((r) => {
      const data = split(r.sectors * SECTOR, r.dataCuts);
      const header = split(16, r.hdrCuts);
      if (r.write) {
        return finish({ kind: "blk-write", readable: [...header, ...data], writable: [1], sector: r.sector });
      }
      const writable = r.statusAlone ? [...data, 1] : [...data.slice(0, -1), data.at(-1)! + 1];
      return finish({ kind: "blk-read", readable: header, writable, sector: r.sector });
    });
  }
  return fc.array(fc.integer({ min: 8, max: 64 }), { minLength: 1, maxLength: 4 }).chain((writable) =>
    finish({ kind: "rng", readable: [], writable, sector: 0 })
  );
}

function sum(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0);
}

/** A short description of a shape for counterexamples: `blk-read r[10,6] w[512,1] indirect(direct 1)`. */
export function fmtShape(s: RequestShape): string {
  const ind = s.indirect
    ? ` indirect${s.direct ? `(direct ${s.direct})` : ""}${s.indirectWriteFlag ? "+WRITE" : ""}`
    : "";
  return `${s.kind}${s.kind === "rng" ? "" : `@${s.sector}`} r[${s.readable.join(",")}] w[${
    s.writable.join(",")
  }]${ind}`;
}

/** The features a ring clause negotiates: the harness's defaults plus `extra` where offered. */
export function acceptWith(...extra: number[]): (offered: bigint) => bigint {
  return (offered) => (offered & HARNESS_CORE_FEATURES) | (offered & extra.reduce((m, b) => m | bit(b), 0n));
}

/** Initializes to DRIVER_OK with `accept`; a refused FEATURES_OK is a violation of the caller's premise. */
export async function initRing(ctx: DeviceClauseContext, accept: (offered: bigint) => bigint): Promise<void> {
  const r = await ctx.driver.init("driver-ok", accept);
  expectThat(r.featuresOk, "the device to accept the negotiated ring features", () => formatStatus(r.status));
}

/** Bytes of a blk request header. */
function blkHeader(kind: RequestKind, sector: number): Uint8Array {
  const h = new Uint8Array(16);
  le.setU32(h, 0, kind === "blk-write" ? 1 : 0);
  le.setU64(h, 8, sector);
  return h;
}

/**
 * Allocates and fills the buffers of a request and adds it to queue `q`
 * (without publishing). `known` maps sectors to the bytes a previous write
 * put there, so reads of them can be checked.
 */
export async function placeRequest(
  ctx: DeviceClauseContext,
  q: number,
  shape: RequestShape,
  known?: Map<number, Uint8Array>,
): Promise<PlacedRequest> {
  const mem = ctx.session.memory;
  const stream = new Uint8Array(sum(shape.readable));
  if (shape.kind !== "rng") {
    stream.set(blkHeader(shape.kind, shape.sector));
    for (let i = 16; i < stream.length; i++) stream[i] = diskPattern(shape.sector, i - 16);
  }
  const buffers: BufferSpec[] = [];
  const readable: PlacedRequest["readable"] = [];
  let off = 0;
  for (const len of shape.readable) {
    const addr = ctx.driver.alloc.alloc(len, 8);
    const bytes = stream.slice(off, off + len);
    off += len;
    await mem.write(addr, bytes);
    readable.push({ addr, bytes });
    buffers.push({ addr, len, writable: false });
  }
  const writable: PlacedRequest["writable"] = [];
  for (const len of shape.writable) {
    const addr = ctx.driver.alloc.alloc(len, 8);
    const fill = new Uint8Array(len);
    for (let i = 0; i < len; i++) fill[i] = canary(i);
    await mem.write(addr, fill);
    writable.push({ addr, len });
    buffers.push({ addr, len, writable: true });
  }
  const queue = ctx.driver.queue(q);
  const opts: SplitAddOptions = { indirect: shape.indirect };
  if (queue instanceof SplitDriverQueue) {
    opts.direct = shape.direct;
    opts.indirectWriteFlag = shape.indirectWriteFlag;
  }
  const id = await queue.add(buffers, opts);
  const placed: PlacedRequest = { id, shape, buffers, readable, writable };
  if (shape.kind === "blk-read" && known) {
    const sectors = (sum(shape.writable) - 1) / SECTOR;
    const parts: Uint8Array[] = [];
    for (let s = 0; s < sectors; s++) {
      const k = known.get(shape.sector + s);
      if (!k) return placed;
      parts.push(k);
    }
    const data = new Uint8Array(sectors * SECTOR);
    parts.forEach((p, i) => data.set(p, i * SECTOR));
    placed.expectData = data;
  }
  return placed;
}

/** Descriptors a request of this shape takes in the ring itself (an indirect table counts as one). */
export function ringDescriptors(s: RequestShape): number {
  return s.indirect ? s.direct + 1 : s.readable.length + s.writable.length;
}

/**
 * The leading shapes of a batch that fit in the free descriptors of queue
 * `q`: a device's queue may be smaller than a random batch needs (QEMU's
 * virtio-rng has 8 entries), and the workload is clipped to it rather than
 * overrunning the ring (a harness error, not the device's fault).
 */
export function fitQueue(ctx: DeviceClauseContext, q: number, shapes: readonly RequestShape[]): RequestShape[] {
  const queue = ctx.driver.queue(q) as { freeCount?: number };
  let free = queue.freeCount ?? Infinity;
  const out: RequestShape[] = [];
  for (const s of shapes) {
    const need = ringDescriptors(s);
    if (need > free) break;
    free -= need;
    out.push(s);
  }
  return out;
}

/** Records the sectors a completed blk write put on the disk. */
export function rememberWrite(p: PlacedRequest, known: Map<number, Uint8Array>): void {
  if (p.shape.kind !== "blk-write") return;
  const n = (sum(p.shape.readable) - 16) / SECTOR;
  for (let s = 0; s < n; s++) {
    const sector = new Uint8Array(SECTOR);
    for (let i = 0; i < SECTOR; i++) sector[i] = diskPattern(p.shape.sector, s * SECTOR + i);
    known.set(p.shape.sector + s, sector);
  }
}

/** The bytes now in a request's writable buffers, concatenated. */
export async function writtenBytes(ctx: DeviceClauseContext, p: PlacedRequest): Promise<Uint8Array> {
  const out = new Uint8Array(sum(p.writable.map((w) => w.len)));
  let off = 0;
  for (const w of p.writable) {
    out.set(await ctx.session.memory.read(w.addr, w.len), off);
    off += w.len;
  }
  return out;
}

/**
 * Offsets below `len` where an 8-byte window (or the whole of a shorter
 * `len` of at least 4 bytes) still holds the canary: bytes the device
 * claims to have written but did not. Windows restart per buffer, and the
 * last 4 bytes of each buffer's part below `len` are one more window (a
 * device that leaves the end of what it claims unwritten). Data never matches 4 canary bytes in a row: the disk pattern
 * steps by 7, the canary by 0x9d, and random bytes match with odds 2^-32.
 */
export function unwrittenWindows(p: PlacedRequest, bytes: Uint8Array, len: number): number[] {
  const out: number[] = [];
  let base = 0;
  const holdsCanary = (from: number, n: number) => {
    for (let k = 0; k < n; k++) if (bytes[base + from + k] !== canary(from + k)) return false;
    return true;
  };
  for (const w of p.writable) {
    const end = Math.min(w.len, len - base);
    const win = end >= 8 ? 8 : end >= 4 ? end : 0;
    for (let i = 0; win > 0 && i + win <= end; i += win) {
      if (holdsCanary(i, win)) out.push(base + i);
    }
    // The last window ends at `end` only when `end` is a multiple of it; a window that did and held the canary said so.
    const lastWindowEnd = win > 0 ? end - (end % win) : 0;
    const reported = lastWindowEnd === end && out.at(-1) === base + end - win;
    if (end > 4 && !reported && holdsCanary(end - 4, 4)) out.push(base + end - 4);
    base += w.len;
    if (base >= len) break;
  }
  return out;
}

/** The blk status byte a device wrote for a request (the last writable byte). */
export function blkStatus(bytes: Uint8Array): number {
  return bytes[bytes.length - 1] ?? -1;
}

/** Total length of the device-writable buffers of a request. */
export function writableTotal(p: PlacedRequest): number {
  return sum(p.writable.map((w) => w.len));
}

/**
 * Publishes and notifies a batch of placed requests, waits (bounded) for
 * all of them, and returns the used elements by id. Missing ones are absent.
 */
export async function serveBatch(
  ctx: DeviceClauseContext,
  q: number,
  batch: PlacedRequest[],
  deadlineMs?: number,
): Promise<Map<number, UsedElem>> {
  const queue = ctx.driver.queue(q);
  for (const p of batch) await queue.publish(p.id);
  await ctx.driver.kick(q);
  const used = await ctx.driver.waitUsed(q, batch.length, deadlineMs);
  return new Map(used.map((u) => [u.id, u]));
}

/** The in-order and extra features a clause may randomly add on top of its own. */
export const OPTIONAL_RING_FEATURES = [F.INDIRECT_DESC, F.EVENT_IDX, F.IN_ORDER] as const;
