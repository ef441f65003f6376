/**
 * QEMU's trace (the `log` backend, one event per line) turned into the steps
 * of a watched driver: every guest access to the device's transport window
 * (`memory_region_ops_read` / `memory_region_ops_write` with address, value,
 * size and region name), the device's interrupt line
 * (`virtio_mmio_setting_irq`), and phase markers (a read of an address the
 * guest script touches between phases, see {@link TraceWindow.marker}).
 *
 * Lines are read as they stream: {@link TraceFilter.push} keeps what
 * concerns the device and drops the rest at once (a firmware polling its
 * UART writes hundreds of thousands of lines a second).
 *
 * @module
 */
import type { DriverPhase, WatchedStep } from "../../adapter.ts";
import type { Width } from "../../registers.ts";

/** One guest access as QEMU's `memory_region_ops_*` events report it. */
export interface TraceAccess {
  kind: "read" | "write";
  /** The guest-physical (bus) address. */
  addr: number;
  /** The value, masked to the access size (QEMU reports some reads wider than the access). */
  value: number;
  size: Width;
  /** The memory region's name, e.g. `virtio-mmio` or `virtio-pci-common-virtio-blk`. */
  region: string;
}

/** One trace event the harness understands. */
export type TraceRecord = TraceAccess | { kind: "irq"; level: boolean };

const ACCESS =
  /^(?:\d+@[\d.]+:)?memory_region_ops_(read|write) .*?addr (0x[0-9a-f]+) value (0x[0-9a-f]+) size (\d+) name '([^']*)'/;
const MMIO_IRQ = /^(?:\d+@[\d.]+:)?virtio_mmio_setting_irq virtio_mmio setting IRQ (\d+)/;

/**
 * Parses one trace line; undefined for any other event or a malformed line.
 *
 * @example
 * ```ts
 * import { parseTraceLine } from "./qemu_trace.ts";
 * const r = parseTraceLine(
 *   "memory_region_ops_read cpu 0 mr 0x55 addr 0xa003e10 value 0x10130006e54 size 4 name 'virtio-mmio'",
 * );
 * console.log(r); // { kind: "read", addr: 0xa003e10, value: 0x30006e54, size: 4, region: "virtio-mmio" }
 * ```
 */
export function parseTraceLine(line: string): TraceRecord | undefined {
  const a = ACCESS.exec(line);
  if (a) {
    const size = Number(a[4]);
    if (size !== 1 && size !== 2 && size !== 4) return undefined;
    const addr = Number(BigInt(a[2]!) & 0xffff_ffff_ffffn);
    const value = Number(BigInt(a[3]!) & ((1n << BigInt(8 * size)) - 1n));
    return { kind: a[1] === "read" ? "read" : "write", addr, value, size, region: a[5]! };
  }
  const irq = MMIO_IRQ.exec(line);
  if (irq) return { kind: "irq", level: irq[1] !== "0" };
  return undefined;
}

/** Which accesses belong to the device under test, and where the phase markers are. */
export interface TraceWindow {
  /** The device's MMIO window: `[base, base + size)` of region `virtio-mmio`. */
  mmio?: { base: number; size: number };
  /** A read of this address (in a `virtio-mmio` region outside the device's window) starts the next phase. */
  marker?: number;
  /** The phases the guest script marks, in order (the first starts at power-on). */
  phases?: { phase: DriverPhase; index?: number }[];
}

/**
 * Keeps, from a stream of trace lines, the steps of the device under test.
 *
 * @example
 * ```ts ignore
 * const f = new TraceFilter({ mmio: { base: 0x0a003e00, size: 0x200 } });
 * for (const line of lines) f.push(line);
 * console.log(f.steps.length);
 * ```
 */
export class TraceFilter {
  readonly steps: WatchedStep[] = [];
  /** Lines seen in all, kept or not. */
  lines = 0;
  #phase = 0;
  constructor(readonly scope: TraceWindow, readonly limit = 200_000) {
    const first = scope.phases?.[0];
    if (first) this.steps.push(phaseStep(first));
    this.#phase = 1;
  }

  /** Takes one line; returns true when it was a step of the device. */
  push(line: string): boolean {
    this.lines++;
    // Most lines are someone else's (a UART poll): reject them before the regular expression.
    if (!line.includes("virtio")) return false;
    const r = parseTraceLine(line);
    if (!r) return false;
    if (r.kind === "irq") return this.#add({ kind: "irq", level: r.level });
    const w = this.scope;
    if (w.marker !== undefined && r.kind === "read" && r.addr === w.marker) {
      const next = w.phases?.[this.#phase++];
      return next ? this.#add(phaseStep(next)) : false;
    }
    if (w.mmio && r.region === "virtio-mmio" && r.addr >= w.mmio.base && r.addr < w.mmio.base + w.mmio.size) {
      return this.#add({ kind: r.kind, space: "mmio", offset: r.addr - w.mmio.base, width: r.size, value: r.value });
    }
    return false;
  }

  #add(step: WatchedStep): boolean {
    if (this.steps.length >= this.limit) return false;
    this.steps.push(step);
    return true;
  }
}

function phaseStep(p: { phase: DriverPhase; index?: number }): WatchedStep {
  return p.index === undefined ? { kind: "phase", phase: p.phase } : { kind: "phase", phase: p.phase, index: p.index };
}
