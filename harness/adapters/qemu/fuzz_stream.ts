/**
 * A scripted byte stream for the qtest and QMP fuzz tests: QEMU's side of
 * the connection as segments of bytes. Segment 0 is readable at once, each
 * write by the client releases the next one (QEMU answers what it was
 * sent), and after the last one the stream ends, fails or stays silent.
 *
 * @module
 */
import fc from "fast-check";
import type { ByteStream } from "./qtest_client.ts";

/** How the stream behaves once the script is used up. */
export type StreamEnd = "eof" | "error" | "silent";

/** QEMU's side of a connection, scripted. */
export class ScriptedStream implements ByteStream {
  readonly written: string[] = [];
  #chunks: Uint8Array[] = [];
  #next = 0;
  #wake: (() => void) | undefined;
  #closed = false;
  constructor(
    readonly segments: readonly (readonly Uint8Array[])[],
    readonly end: StreamEnd,
    readonly writeFails = false,
  ) {
    this.#release();
  }
  #release(): void {
    const s = this.segments[this.#next++];
    if (s) this.#chunks.push(...s.filter((c) => c.length > 0));
    this.#wake?.();
  }
  write(p: Uint8Array): Promise<number> {
    if (this.#closed) return Promise.reject(new Error("Broken pipe"));
    if (this.writeFails) return Promise.reject(new Error("Connection reset by peer"));
    this.written.push(new TextDecoder().decode(p));
    this.#release();
    return Promise.resolve(p.length);
  }
  async read(p: Uint8Array): Promise<number | null> {
    for (;;) {
      if (this.#closed) return null;
      const c = this.#chunks[0];
      if (c) {
        const n = Math.min(p.length, c.length);
        p.set(c.subarray(0, n));
        if (n === c.length) this.#chunks.shift();
        else this.#chunks[0] = c.subarray(n);
        return n;
      }
      if (this.#next >= this.segments.length) {
        if (this.end === "eof") return null;
        if (this.end === "error") throw new Error("Connection reset by peer");
      }
      await new Promise<void>((r) => this.#wake = r);
      this.#wake = undefined;
    }
  }
  close(): void {
    this.#closed = true;
    this.#wake?.();
  }
}

const encoder = new TextEncoder();

/** Text as bytes split into chunks at the given cut points (so lines and UTF-8 sequences straddle reads). */
export function chunked(bytes: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const at = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let from = 0;
  for (const c of at) {
    out.push(bytes.subarray(from, c));
    from = c;
  }
  out.push(bytes.subarray(from));
  return out;
}

/** One segment: a text (or raw bytes) cut into chunks. */
export function segmentArb(text: fc.Arbitrary<string | Uint8Array>): fc.Arbitrary<Uint8Array[]> {
  return fc.tuple(text, fc.array(fc.nat(), { maxLength: 4 })).map(([t, cuts]) =>
    chunked(typeof t === "string" ? encoder.encode(t) : t, cuts)
  );
}

/** What happens after the script. */
export const streamEnd: fc.Arbitrary<StreamEnd> = fc.constantFrom<StreamEnd>("eof", "eof", "error", "silent");
