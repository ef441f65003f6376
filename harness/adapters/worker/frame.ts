/**
 * The byte stream between the harness and a child process that runs a
 * user's module: each frame is a 4-byte little-endian length and a payload
 * of JSON text followed by the byte arrays the message holds (each a
 * 4-byte length and its bytes; in the JSON an array is `{"$bytes": n}`).
 * JSON is several times cheaper here than `node:v8` serialisation. A frame
 * carries one message and the guest-memory bytes its sender changed since
 * its last frame (see {@link SyncedMemory}), tagged with the memory's
 * generation so bytes of a memory that was since replaced are dropped.
 *
 * @module
 */
import { ArrayMemory } from "../../memory.ts";

/** Changed guest-memory bytes: offset from the memory's base, and the bytes there. */
export type Patch = [offset: number, data: Uint8Array];

/** One frame: a message, the memory generation its sender is on, and that memory's changes. */
export interface Frame {
  /** The message (a `ToWorker` or `FromWorker`). */
  m: unknown;
  /** The sender's memory generation (0: none yet). */
  gen: number;
  /** Bytes the sender changed since its last frame. */
  mem?: Patch[];
}

/** The largest frame either side accepts (a guard against a stream that is not frames). */
export const MAX_FRAME_BYTES = 64 << 20;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Encodes a frame: length prefix and payload. */
export function encodeFrame(frame: Frame): Uint8Array {
  const blobs: Uint8Array[] = [];
  const text = encoder.encode(
    JSON.stringify(frame, (_k, v) => v instanceof Uint8Array ? { $bytes: blobs.push(v) - 1 } : v),
  );
  const size = 4 + text.length + blobs.reduce((n, b) => n + 4 + b.length, 0);
  const out = new Uint8Array(4 + size);
  const view = new DataView(out.buffer);
  view.setUint32(0, size, true);
  view.setUint32(4, text.length, true);
  out.set(text, 8);
  let at = 8 + text.length;
  for (const b of blobs) {
    view.setUint32(at, b.length, true);
    out.set(b, at + 4);
    at += 4 + b.length;
  }
  return out;
}

function decodePayload(p: Uint8Array): unknown {
  const view = new DataView(p.buffer, p.byteOffset, p.byteLength);
  if (p.length < 4) throw new Error("the payload is shorter than its header");
  const textLen = view.getUint32(0, true);
  if (4 + textLen > p.length) throw new Error("the JSON text runs past the payload");
  const blobs: Uint8Array[] = [];
  for (let at = 4 + textLen; at < p.length;) {
    if (at + 4 > p.length) throw new Error("a byte array's length runs past the payload");
    const len = view.getUint32(at, true);
    if (at + 4 + len > p.length) throw new Error("a byte array runs past the payload");
    blobs.push(p.slice(at + 4, at + 4 + len));
    at += 4 + len;
  }
  return JSON.parse(decoder.decode(p.subarray(4, 4 + textLen)), (_k, v) => {
    if (typeof v === "object" && v !== null && typeof v.$bytes === "number" && Object.keys(v).length === 1) {
      const b = blobs[v.$bytes];
      if (!b) throw new Error(`byte array ${v.$bytes} is missing`);
      return b;
    }
    return v;
  });
}

/** Splits a byte stream into frames; throws when the stream is not frames. */
export class FrameReader {
  #buf = new Uint8Array(0);
  /** Adds a chunk and returns every frame it completes. */
  push(chunk: Uint8Array): Frame[] {
    const joined = new Uint8Array(this.#buf.length + chunk.length);
    joined.set(this.#buf);
    joined.set(chunk, this.#buf.length);
    const out: Frame[] = [];
    let at = 0;
    while (joined.length - at >= 4) {
      const len = new DataView(joined.buffer, at, 4).getUint32(0, true);
      if (len > MAX_FRAME_BYTES) {
        throw new Error(`a frame claims ${len} bytes (the limit is ${MAX_FRAME_BYTES}): the stream is not frames`);
      }
      if (joined.length - at - 4 < len) break;
      const payload = joined.subarray(at + 4, at + 4 + len);
      let frame: unknown;
      try {
        frame = decodePayload(payload);
      } catch (e) {
        throw new Error(`a frame cannot be decoded: ${e instanceof Error ? e.message : e}`);
      }
      if (typeof frame !== "object" || frame === null || typeof (frame as Frame).gen !== "number") {
        throw new Error("a frame is not an object with a memory generation");
      }
      out.push(frame as Frame);
      at += 4 + len;
    }
    this.#buf = joined.slice(at);
    return out;
  }
  /** Bytes received that do not yet make a whole frame. */
  get pending(): number {
    return this.#buf.length;
  }
}

/**
 * Guest memory kept in step between two processes: every write made through
 * it is remembered, {@link takePatches} hands the changed bytes out (merged,
 * once each), and {@link apply} writes the other side's changes without
 * remembering them. Only writes through `write` are seen.
 *
 * @example
 * ```ts
 * import { SyncedMemory } from "./frame.ts";
 * const a = new SyncedMemory(0x1000, 64);
 * const b = new SyncedMemory(0x1000, 64);
 * await a.write(0x1004, new Uint8Array([1, 2]));
 * b.apply(a.takePatches());
 * console.log(b.bytes[4], b.bytes[5], a.takePatches().length); // 1 2 0
 * ```
 */
export class SyncedMemory extends ArrayMemory {
  #dirty: [number, number][] = [];
  /** A fresh zeroed memory of `size` bytes at `base`. */
  constructor(base: number, size: number) {
    super(base, size);
  }
  /** Writes `data` at `addr` and remembers the range. */
  override write(addr: number, data: Uint8Array): Promise<void> {
    const done = super.write(addr, data);
    if (data.length) this.#dirty.push([addr - this.base, addr - this.base + data.length]);
    return done;
  }
  /** The bytes changed since the last call, merged into ranges. */
  takePatches(): Patch[] {
    if (this.#dirty.length === 0) return [];
    const ranges = this.#dirty.sort((x, y) => x[0] - y[0]);
    this.#dirty = [];
    const out: Patch[] = [];
    let [start, end] = ranges[0]!;
    for (const [s, e] of ranges.slice(1)) {
      if (s <= end) end = Math.max(end, e);
      else {
        out.push([start, this.bytes.slice(start, end)]);
        [start, end] = [s, e];
      }
    }
    out.push([start, this.bytes.slice(start, end)]);
    return out;
  }
  /** Writes the other side's changes (patches out of range are refused with an error). */
  apply(patches: readonly Patch[]): void {
    for (const p of patches) {
      const [off, data] = Array.isArray(p) ? p : [NaN, undefined];
      if (
        !Number.isSafeInteger(off) || !(data instanceof Uint8Array) || off < 0 || off + data.length > this.size
      ) {
        throw new Error(`a memory patch is malformed or outside the ${this.size}-byte guest memory`);
      }
      this.bytes.set(data, off);
    }
  }
}
