/**
 * Watching a real driver's rings in guest memory while it runs: QEMU's
 * gdbstub sets a write watchpoint on each queue's descriptor table and
 * available ring and a read watchpoint on its used ring (packed: on each
 * descriptor and the driver's event suppression structure, and a read
 * watchpoint on the device's), so the guest stops at
 * every access the driver makes there. At each stop the harness reads the
 * rings from the guest's RAM file (the guest is stopped: the bytes are exact)
 * and fills in the `ring` step the trace holds for that stop (QEMU traces each
 * hit, `gdbstub_hit_watchpoint`, after every register access made before it),
 * then lets the guest go on. The device's own writes (used entries) and the
 * indirect tables the driver publishes are carried in each step's `memory`.
 *
 * Watchpoints take virtual addresses: the harness finds the driver's mapping of
 * guest RAM among a few candidates (firmware maps it 1:1; Linux, booted with
 * `nokaslr`, at its direct map) by reading the rings through the debugger and
 * comparing with the RAM file.
 *
 * @module
 */
import type { RingAccessStep, WatchedStep } from "../../adapter.ts";
import { Mmio } from "../../transport/mmio_layout.ts";
import { CommonCfg } from "../../transport/pci_layout.ts";
import type { GdbClient, GdbStop } from "./gdb_client.ts";
import type { TraceFilter } from "./qemu_trace.ts";
import { errorText } from "../../text.ts";

/** A queue being watched: its size, ring layout and the guest-physical addresses of its areas. */
export interface WatchedQueue {
  size: number;
  desc: number;
  driver: number;
  device: number;
  /** A packed ring (`driver` and `device` are its event suppression structures). */
  packed?: boolean;
}

/** Candidate offsets from guest-physical to the driver's virtual addresses, by platform. */
export const RING_MAPPINGS = {
  /** Firmware (U-Boot, OVMF, SeaBIOS): guest RAM mapped 1:1. */
  identity: 0n,
  /** Linux on x86_64 without KASLR, 4-level paging: the direct map at 0xffff888000000000. */
  linuxX86: 0xffff_8880_0000_0000n,
  /** Linux on x86_64 without KASLR, 5-level paging. */
  linuxX86La57: 0xff11_0000_0000_0000n,
  /** Linux on arm64 without KASLR, 48-bit virtual addresses, RAM from 0x40000000 (QEMU `virt`). */
  linuxArm64: 0xffff_0000_0000_0000n - 0x4000_0000n,
} as const;

const DESC_F_NEXT = 1;
const DESC_F_INDIRECT = 4;
/** Largest indirect table the harness copies (bytes): more than any queue size here needs. */
const TABLE_MAX = 16 * 1024;
/** Why a watch ends with the run still complete. */
const RESET = "the driver reset the device";
/** Stops handled before the watch gives up (a driver that rewrites its rings without end). */
const STOP_LIMIT = 50_000;

function encodeBase64(bytes: Uint8Array): string {
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin);
}

/** One watchpoint: a field (or a run of fields the harness need not tell apart) and the access it catches. */
export interface WatchRegion {
  address: number;
  length: number;
  watch: "write" | "read";
}

/**
 * The watchpoints of a split queue. QEMU's stop names the watchpoint, not the byte the access touched, so each
 * descriptor and each available slot has its own (a write of an unchanged value is still placed exactly); the used
 * ring has one for flags and idx, one for the elements and one for avail_event (which of them a read took is all a
 * clause needs).
 */
export function watchRegions(q: WatchedQueue): WatchRegion[] {
  const out: WatchRegion[] = [];
  if (q.packed) {
    // Packed: each descriptor (the device writes used ones too: those come in with the next stop's memory), the
    // driver's event suppression structure, and reads of the device's.
    for (let i = 0; i < q.size; i++) out.push({ address: q.desc + 16 * i, length: 16, watch: "write" });
    out.push({ address: q.driver, length: 4, watch: "write" }, { address: q.device, length: 4, watch: "read" });
    return out;
  }
  for (let i = 0; i < q.size; i++) out.push({ address: q.desc + 16 * i, length: 16, watch: "write" });
  for (let i = 0; i < q.size + 3; i++) out.push({ address: q.driver + 2 * i, length: 2, watch: "write" });
  // The used flags and idx are one watchpoint: a stop names the first watchpoint an access touched, so a read of
  // both at once would otherwise pass for a read of the flags alone (a notification decision, not harvesting).
  out.push(
    { address: q.device, length: 4, watch: "read" },
    { address: q.device + 4, length: 8 * q.size, watch: "read" },
    { address: q.device + 4 + 8 * q.size, length: 2, watch: "read" },
  );
  return out;
}

/** The areas of a queue: descriptor table, available ring, used ring. */
function areasOf(q: WatchedQueue): { address: number; length: number }[] {
  if (q.packed) {
    return [{ address: q.desc, length: 16 * q.size }, { address: q.driver, length: 4 }, {
      address: q.device,
      length: 4,
    }];
  }
  return [
    { address: q.desc, length: 16 * q.size },
    { address: q.driver, length: 6 + 2 * q.size },
    { address: q.device, length: 6 + 8 * q.size },
  ];
}

/** Most watchpoints a run sets (QEMU checks each on every access to a watched page). */
const WATCH_LIMIT = 8192;

/** The byte runs where `now` differs from `before`, outside `[skipFrom, skipTo)`, as memory entries at `base`. */
function changedRuns(
  base: number,
  before: Uint8Array,
  now: Uint8Array,
  skipFrom: number,
  skipTo: number,
): { address: number; data: string }[] {
  const out: { address: number; data: string }[] = [];
  for (let i = 0; i < now.length;) {
    const a = base + i;
    if (now[i] === before[i] || (a >= skipFrom && a < skipTo)) {
      i++;
      continue;
    }
    let j = i;
    while (j < now.length && now[j] !== before[j] && !(base + j >= skipFrom && base + j < skipTo)) j++;
    out.push({ address: a, data: encodeBase64(now.subarray(i, j)) });
    i = j;
  }
  return out;
}

/** Where and how the watch runs. */
export interface RingWatchOptions {
  /** The debugger connection to QEMU's gdbstub, past its handshake, the guest running. */
  gdb: GdbClient;
  /** The guest RAM file (`memory-backend-file`). */
  ram: string;
  /** Guest-physical address of the RAM file's first byte. */
  ramBase: number;
  /** Candidate offsets from guest-physical to virtual addresses, tried in order. */
  mappings: readonly bigint[];
  /** The trace filter whose `hits` the stops fill in, and where the watch's own steps go. */
  filter: TraceFilter;
  /** Deadline of each debugger exchange (default 5000 ms). */
  timeoutMs?: number;
  /**
   * The guest stops before the access a watchpoint caught (QEMU on arm64), not after it (x86): the harness then
   * lifts the watchpoint, steps over the instruction and sets it again before reading what the access did.
   */
  stopsBefore?: boolean;
}

/**
 * The watch of one run: started once the driver is idle with its queues live, ended at the run's end or when the
 * driver resets the device.
 *
 * @example
 * ```ts ignore
 * const watch = await RingWatch.start(options, [{ size: 256, desc: 0x5346000, driver: 0x5347000, device: 0x5347240 }]);
 * // … the guest runs its workloads …
 * await watch.finish();
 * ```
 */
export class RingWatch {
  readonly #o: RingWatchOptions;
  readonly #gdb: GdbClient;
  readonly #file: Deno.FsFile;
  readonly #queues: WatchedQueue[];
  readonly #offset: bigint;
  readonly #copies = new Map<number, Uint8Array>();
  /** Every watchpoint, by guest-physical address. */
  readonly #regions = new Map<number, WatchRegion>();
  readonly #tables = new Map<number, Uint8Array>();
  #stops = 0;
  #ended = false;
  #resetFrom: number;
  #loop: Promise<void> = Promise.resolve();

  private constructor(
    o: RingWatchOptions,
    gdb: GdbClient,
    file: Deno.FsFile,
    queues: WatchedQueue[],
    offset: bigint,
  ) {
    this.#o = o;
    this.#gdb = gdb;
    this.#file = file;
    this.#queues = queues;
    this.#offset = offset;
    this.#resetFrom = o.filter.steps.length;
  }

  /**
   * Stops the guest, finds the mapping, sets the watchpoints (on the queues in index order, as many as 8192
   * watchpoints allow), records the rings as they are (a `ring-watch` step) and resumes the guest. Undefined when the
   * rings cannot be watched (a `ring-watch` step with no areas says why); "later" when the rings hold nothing yet to
   * find the mapping by (try again at the next pause). The guest runs on in every case.
   */
  static async start(o: RingWatchOptions, queues: WatchedQueue[]): Promise<RingWatch | "later" | undefined> {
    const ms = o.timeoutMs ?? 5000;
    const gdb = o.gdb;
    // Whatever happens, the guest runs on: a refused watch leaves it detached.
    const refuse = async (reason: string) => {
      if (!gdb.running) await gdb.detach(ms).catch(() => {});
      o.filter.insert({ kind: "ring-watch", areas: [], reason });
      return undefined;
    };
    // The queues in index order, as many as the watchpoint budget allows.
    const watched: WatchedQueue[] = [];
    let budget = WATCH_LIMIT;
    for (const q of queues) {
      const need = watchRegions(q).length;
      if (need > budget) break;
      budget -= need;
      watched.push(q);
    }
    if (watched.length === 0) {
      return await refuse(`the first queue would need more than ${WATCH_LIMIT} watchpoints`);
    }
    let file: Deno.FsFile | undefined;
    try {
      if (gdb.running) await gdb.interrupt(ms);
      file = await Deno.open(o.ram, { read: true });
      const offset = await RingWatch.#mapping(o, gdb, file, watched, ms);
      if (offset === "later") {
        file.close();
        await gdb.detach(ms);
        return "later";
      }
      if (offset === undefined) {
        file.close();
        return await refuse(
          `the driver's view of its rings matched none of the mappings tried (${
            o.mappings.map((m) => `0x${m.toString(16)}`).join(", ")
          })`,
        );
      }
      const watch = new RingWatch(o, gdb, file, watched, offset);
      await watch.#arm(ms);
      return watch;
    } catch (e) {
      file?.close();
      return await refuse(`the debugger failed: ${errorText(e)}`);
    }
  }

  /**
   * The first mapping under which the debugger reads a queue's areas exactly as the RAM file holds them (the first
   * queue whose areas hold anything but zeros); "later" when every ring is still all zeros (nothing to tell mappings
   * apart by).
   */
  static async #mapping(
    o: RingWatchOptions,
    gdb: GdbClient,
    file: Deno.FsFile,
    queues: WatchedQueue[],
    ms: number,
  ): Promise<bigint | "later" | undefined> {
    let areas: { address: number; length: number }[] = [];
    const real: Uint8Array[] = [];
    for (const q of queues) {
      areas = areasOf(q).map((a) => ({ ...a, length: Math.min(a.length, 512) }));
      real.length = 0;
      for (const a of areas) real.push(await readRam(file, o.ramBase, a.address, a.length)); // one seek at a time
      if (real.some((b) => b.some((x) => x !== 0))) break;
    }
    if (real.every((b) => b.every((x) => x === 0))) return "later";
    for (const m of o.mappings) {
      let same = true;
      for (const [i, a] of areas.entries()) {
        const seen = await gdb.readMemory(BigInt(a.address) + m, a.length, ms).catch(() => undefined);
        if (!seen || seen.some((x, k) => x !== real[i]![k])) {
          same = false;
          break;
        }
      }
      if (same) return m;
    }
    return undefined;
  }

  async #arm(ms: number): Promise<void> {
    const areas: { address: number; data: string }[] = [];
    for (const q of this.#queues) {
      for (const a of areasOf(q)) {
        const bytes = await readRam(this.#file, this.#o.ramBase, a.address, a.length);
        this.#copies.set(a.address, bytes);
        areas.push({ address: a.address, data: encodeBase64(bytes) });
      }
      for (const r of watchRegions(q)) {
        this.#regions.set(r.address, r);
        await this.#gdb.watch(r.watch, BigInt(r.address) + this.#offset, r.length, ms);
      }
    }
    this.#o.filter.insert({ kind: "ring-watch", areas });
    await this.#gdb.resume();
    // Only now: one exchange with the stub at a time.
    this.#loop = this.#run();
  }

  /** Ends the watch (the guest reached its end): stops the guest if it runs, and the stop handler detaches. */
  async finish(): Promise<void> {
    this.#ended = true;
    if (this.#gdb.running) await this.#gdb.requestStop().catch(() => {});
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      this.#loop.catch(() => {}),
      new Promise((r) => timer = setTimeout(r, this.#o.timeoutMs ?? 5000)),
    ]);
    clearTimeout(timer);
    this.#gdb.close();
    this.#file.close();
  }

  /** Detaches a stopped guest (it runs on without watchpoints); `reason` ends the watch in the run. */
  async #end(reason: string | undefined): Promise<void> {
    await this.#gdb.detach(this.#o.timeoutMs ?? 5000).catch(() => {});
    this.#gdb.close();
    if (reason !== undefined) {
      this.#o.filter.insert({ kind: "ring-watch", areas: [], reason, ...(reason === RESET ? {} : { lost: true }) });
    }
  }

  async #run(): Promise<void> {
    const ms = this.#o.timeoutMs ?? 5000;
    for (;;) {
      let stop: GdbStop;
      try {
        stop = await this.#gdb.nextStop(Infinity);
      } catch {
        return; // the connection ended (QEMU exited)
      }
      try {
        const n = ++this.#stops;
        const hit = await this.#hitLine(n, ms);
        if (this.#ended) return await this.#end(undefined);
        if (!hit) return await this.#end(`QEMU's trace never showed watchpoint hit ${n}`);
        const hits: [RingAccessStep, GdbStop][] = [[hit, stop]];
        if (this.#o.stopsBefore && stop.watch) {
          const more = await this.#stepOver(stop, ms);
          if (!more) return await this.#end(`QEMU's trace never showed the watchpoint hit after stop ${this.#stops}`);
          hits.push(...more);
        }
        for (const [step, s] of hits) {
          if (s.watch) await this.#fill(step, s.watch.address - this.#offset, s.watch.kind);
        }
        if (this.#resetSeen()) return await this.#end(RESET);
        if (n >= STOP_LIMIT) return await this.#end(`the driver touched its rings more than ${STOP_LIMIT} times`);
        if (this.#ended) return await this.#end(undefined);
        await this.#gdb.resume();
      } catch (e) {
        return await this.#end(`the debugger failed: ${errorText(e)}`);
      }
    }
  }

  /**
   * Steps the guest over the instruction stopped before its access, each watchpoint it meets lifted for the step
   * and set again after: the other hits of that instruction (each has its trace line), in order.
   */
  async #stepOver(stop: GdbStop, ms: number): Promise<[RingAccessStep, GdbStop][] | undefined> {
    const lifted: WatchRegion[] = [];
    const more: [RingAccessStep, GdbStop][] = [];
    let at = stop;
    for (let guard = 0; guard < 8 && at.watch; guard++) {
      const region = this.#regions.get(Number(at.watch.address - this.#offset));
      if (!region) throw new Error(`the stop names no watchpoint the harness set (0x${at.watch.address.toString(16)})`);
      await this.#gdb.unwatch(region.watch, BigInt(region.address) + this.#offset, region.length, ms);
      lifted.push(region);
      at = await this.#gdb.step(ms);
      if (!at.watch) break;
      const hit = await this.#hitLine(++this.#stops, ms);
      if (!hit) return undefined;
      more.push([hit, at]);
    }
    for (const r of lifted) await this.#gdb.watch(r.watch, BigInt(r.address) + this.#offset, r.length, ms);
    return more;
  }

  /** The `ring` step of the n-th hit, once the trace has reached it (every access before the stop is in then). */
  async #hitLine(n: number, ms: number): Promise<RingAccessStep | undefined> {
    const filter = this.#o.filter;
    if (filter.hits.length < n && !this.#ended) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        timer = setTimeout(resolve, ms);
        filter.onHit = () => {
          if (filter.hits.length >= n) resolve();
        };
      });
      clearTimeout(timer);
      filter.onHit = undefined;
    }
    // An interrupt's stop (finish) has no trace line: the step it finds, if any, is not this stop's.
    return filter.hits.length >= n ? filter.hits[n - 1] : undefined;
  }

  /** Whether the driver wrote 0 to the device status (a reset) since the watch began. */
  #resetSeen(): boolean {
    const steps = this.#o.filter.steps;
    for (; this.#resetFrom < steps.length; this.#resetFrom++) {
      const s: WatchedStep = steps[this.#resetFrom]!;
      if (s.kind !== "write" || s.value !== 0 || s.window !== undefined) continue;
      if (
        (s.space === "mmio" && s.offset === Mmio.Status) ||
        (s.space === "common" && s.offset === CommonCfg.device_status)
      ) return true;
    }
    return false;
  }

  async #fill(step: RingAccessStep, physical: bigint, kind: "read" | "write" | "access"): Promise<void> {
    const region = this.#regions.get(Number(physical));
    if (!region) throw new Error(`the stop names no watchpoint the harness set (0x${physical.toString(16)})`);
    const read = kind === "read" || region.watch === "read";
    const memory: { address: number; data: string }[] = [];
    let data: { address: number; bytes: Uint8Array } | undefined;
    for (const x of this.#queues) {
      for (const a of areasOf(x)) {
        const now = await readRam(this.#file, this.#o.ramBase, a.address, a.length);
        const before = this.#copies.get(a.address)!;
        const inside = !read && region.address >= a.address && region.address < a.address + a.length;
        // A store wider than its watchpoint: the changed bytes next to it were written by the same access.
        let from = inside ? region.address - a.address : 0;
        let to = inside ? Math.min(a.length, region.address + region.length - a.address) : 0;
        if (inside) {
          while (from > 0 && now[from - 1] !== before[from - 1]) from--;
          while (to < a.length && now[to] !== before[to]) to++;
          from += a.address;
          to += a.address;
        }
        memory.push(...changedRuns(a.address, before, now, from, to));
        if (inside) data = { address: from, bytes: now.slice(from - a.address, to - a.address) };
        this.#copies.set(a.address, now);
      }
    }
    // A write to the available ring may publish chains: the indirect tables they name go in before it. On a packed
    // ring, a descriptor written with INDIRECT names its table.
    const q = this.#queues.find((x) =>
      !x.packed && region.address >= x.driver && region.address < x.driver + 6 + 2 * x.size
    );
    if (q && !read) memory.push(...await this.#tablesOf(q));
    const p = this.#queues.find((x) => x.packed && region.address >= x.desc && region.address < x.desc + 16 * x.size);
    if (p && !read) {
      const table = await this.#packedTable(p, (region.address - p.desc) >> 4);
      if (table) memory.push(table);
    }
    step.access = read ? "read" : "write";
    step.address = region.address;
    step.length = region.length;
    if (data) {
      step.data = encodeBase64(data.bytes);
      step.address = data.address;
      step.length = data.bytes.length;
    }
    if (memory.length > 0) step.memory = memory;
  }

  /** The indirect table packed descriptor `i` names, when it has INDIRECT and the table changed since last copied. */
  async #packedTable(q: WatchedQueue, i: number): Promise<{ address: number; data: string } | undefined> {
    const desc = this.#copies.get(q.desc)!;
    const view = new DataView(desc.buffer, desc.byteOffset, desc.byteLength);
    if (!(view.getUint16(16 * i + 14, true) & DESC_F_INDIRECT)) return undefined;
    return await this.#tableAt(Number(view.getBigUint64(16 * i, true)), view.getUint32(16 * i + 8, true));
  }

  /** The indirect table at `address` (`length` bytes) when it is new or changed since last copied. */
  async #tableAt(address: number, length: number): Promise<{ address: number; data: string } | undefined> {
    if (length <= 0 || length > TABLE_MAX) return undefined;
    const bytes = await readRam(this.#file, this.#o.ramBase, address, length).catch(() => undefined);
    const last = this.#tables.get(address);
    if (!bytes || (last && last.length === bytes.length && bytes.every((b, j) => b === last[j]))) return undefined;
    this.#tables.set(address, bytes);
    return { address, data: encodeBase64(bytes) };
  }

  /** The indirect tables named by the chains of every available slot, where they changed since last copied. */
  async #tablesOf(q: WatchedQueue): Promise<{ address: number; data: string }[]> {
    const desc = this.#copies.get(q.desc)!;
    const avail = this.#copies.get(q.driver)!;
    const view = new DataView(desc.buffer, desc.byteOffset, desc.byteLength);
    const out: { address: number; data: string }[] = [];
    const seen = new Set<number>();
    const idx = avail[2]! | (avail[3]! << 8);
    // The slots up to the idx and the one after it (a slot written before its idx).
    for (let k = 0; k <= Math.min(q.size, 8); k++) {
      const slot = (idx - k + 1 + q.size * 2) % q.size;
      let i = avail[4 + 2 * slot]! | (avail[5 + 2 * slot]! << 8);
      for (let hops = 0; hops < q.size && i < q.size && !seen.has(i); hops++) {
        seen.add(i);
        const flags = view.getUint16(16 * i + 12, true);
        if (flags & DESC_F_INDIRECT) {
          const table = await this.#tableAt(Number(view.getBigUint64(16 * i, true)), view.getUint32(16 * i + 8, true));
          if (table) out.push(table);
        }
        if (!(flags & DESC_F_NEXT)) break;
        i = view.getUint16(16 * i + 14, true);
      }
    }
    return out;
  }
}

/** `length` bytes of guest RAM at guest-physical `address` from the RAM file (short reads are an error). */
async function readRam(file: Deno.FsFile, ramBase: number, address: number, length: number): Promise<Uint8Array> {
  const bytes = new Uint8Array(length);
  if (address < ramBase) throw new Error(`0x${address.toString(16)} is below guest RAM`);
  await file.seek(address - ramBase, Deno.SeekMode.Start);
  let got = 0;
  while (got < length) {
    const n = await file.read(bytes.subarray(got));
    if (n === null) throw new Error(`0x${address.toString(16)}+${length} is past the end of guest RAM`);
    got += n;
  }
  return bytes;
}
