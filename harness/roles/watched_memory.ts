/**
 * A view of guest memory that reports the accesses falling inside watched
 * ranges (the ring areas of live queues) to a watcher, synchronously and with
 * the bytes a write replaced. The harness device gives this view to a driver
 * under test and keeps the raw memory for itself, so only the driver's
 * accesses are seen.
 *
 * @module
 */
import { type ArrayMemory, type GuestMemory, inRange, MemoryAccessError } from "../memory.ts";

/** What a {@link WatchedMemory} reports. Hooks run synchronously and must not throw. */
export interface MemoryWatcher {
  /** A write inside a watched range is about to be applied (memory still holds the old bytes). */
  beforeWrite?(addr: number, length: number): void;
  /** A write inside a watched range, called after it was applied; `before` holds the bytes it replaced. */
  onWrite(addr: number, data: Uint8Array, before: Uint8Array): void;
  /** A read inside a watched range, called before the bytes are returned. */
  onRead(addr: number, length: number): void;
}

/** A half-open address range `[start, end)`. */
export interface AddressRange {
  start: number;
  end: number;
}

/**
 * Guest memory over an {@link ArrayMemory} that reports accesses touching
 * watched ranges. Accesses outside every range cost one scan of a short
 * array; the hooks see the memory exactly as the access left it (nothing runs
 * between the access and its hook).
 *
 * @example
 * ```ts
 * import { ArrayMemory } from "../memory.ts";
 * import { WatchedMemory } from "./watched_memory.ts";
 * const raw = new ArrayMemory(0x1000, 0x1000);
 * const mem = new WatchedMemory(raw);
 * const seen: string[] = [];
 * mem.watcher = {
 *   onWrite: (addr, data, before) => seen.push(`write 0x${addr.toString(16)}: ${before[0]} → ${data[0]}`),
 *   onRead: () => {},
 * };
 * mem.setRanges("ring", [{ start: 0x1100, end: 0x1200 }]);
 * await mem.write(0x1000, new Uint8Array([1])); // outside: not reported
 * await mem.write(0x1100, new Uint8Array([7]));
 * console.log(seen); // ["write 0x1100: 0 → 7"]
 * ```
 */
export class WatchedMemory implements GuestMemory {
  /** Receives the accesses inside watched ranges. */
  watcher: MemoryWatcher | undefined;
  #groups = new Map<string, AddressRange[]>();
  #starts: number[] = [];
  #ends: number[] = [];

  constructor(readonly inner: ArrayMemory) {}

  get base(): number {
    return this.inner.base;
  }
  get size(): number {
    return this.inner.size;
  }

  /** Replaces the ranges watched under `key` (an empty list stops watching them). */
  setRanges(key: string, ranges: AddressRange[]): void {
    const kept = ranges.filter((r) => r.end > r.start);
    if (kept.length === 0) this.#groups.delete(key);
    else this.#groups.set(key, kept);
    this.#rebuild();
  }

  /** Stops watching every range whose key starts with `prefix` ("" clears all). */
  clearRanges(prefix = ""): void {
    for (const key of [...this.#groups.keys()]) if (key.startsWith(prefix)) this.#groups.delete(key);
    this.#rebuild();
  }

  /** The watched ranges, by key. */
  ranges(): ReadonlyMap<string, readonly AddressRange[]> {
    return this.#groups;
  }

  #rebuild(): void {
    this.#starts = [];
    this.#ends = [];
    for (const list of this.#groups.values()) {
      for (const r of list) {
        this.#starts.push(r.start);
        this.#ends.push(r.end);
      }
    }
  }

  /** True when `[addr, addr + length)` touches a watched range. */
  watches(addr: number, length: number): boolean {
    const end = addr + length;
    const starts = this.#starts;
    const ends = this.#ends;
    for (let i = 0; i < starts.length; i++) {
      if (addr < ends[i]! && end > starts[i]!) return true;
    }
    return false;
  }

  #offset(addr: number, length: number): number {
    if (!inRange(this.inner, addr, length)) {
      throw new MemoryAccessError(
        `Guest memory access out of range: 0x${addr.toString(16)}+${length} is outside 0x${
          this.inner.base.toString(16)
        }..0x${(this.inner.base + this.inner.size).toString(16)}`,
      );
    }
    return addr - this.inner.base;
  }

  read(addr: number, length: number): Promise<Uint8Array> {
    if (!this.watcher || !this.watches(addr, length)) return this.inner.read(addr, length);
    try {
      this.#offset(addr, length);
      this.#call(() => this.watcher?.onRead(addr, length));
      return Promise.resolve(this.inner.peek(addr, length));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  write(addr: number, data: Uint8Array): Promise<void> {
    if (!this.watcher || !this.watches(addr, data.length)) return this.inner.write(addr, data);
    try {
      this.#offset(addr, data.length);
      const copy = data.slice();
      this.#call(() => this.watcher?.beforeWrite?.(addr, copy.length));
      const before = this.inner.peek(addr, copy.length);
      this.inner.poke(addr, copy);
      this.#call(() => this.watcher?.onWrite(addr, copy, before));
      return Promise.resolve();
    } catch (e) {
      return Promise.reject(e);
    }
  }

  #call(hook: () => void): void {
    try {
      hook();
    } catch {
      // A watcher never breaks the driver's access.
    }
  }
}
