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
import type { AccessSpace, DriverPhase, RingAccessStep, WatchedStep } from "../../adapter.ts";
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

/** A PCI configuration access as QEMU's `pci_cfg_read` / `pci_cfg_write` events report it (no size). */
export interface TraceConfigAccess {
  kind: "config-read" | "config-write";
  /** The device model's name, e.g. `virtio-blk-pci`. */
  device: string;
  /** Bus, device and function as QEMU prints them, e.g. `00:05.0`. */
  address: string;
  offset: number;
  value: number;
}

/** One trace event the harness understands. */
export type TraceRecord =
  | TraceAccess
  | TraceConfigAccess
  | { kind: "irq"; level: boolean }
  | { kind: "blk-request"; op: "read" | "write"; sector: number; sectors: number };

const PREFIX = String.raw`^(?:\d+@[\d.]+:)?`;
const ACCESS = new RegExp(
  PREFIX +
    String.raw`memory_region_ops_(read|write) .*?addr (0x[0-9a-f]+) value (0x[0-9a-f]+) size (\d+) name '([^']*)'`,
);
const CONFIG = new RegExp(
  PREFIX + String.raw`pci_cfg_(read|write) (\S+) ([0-9a-f]+:[0-9a-f]+\.[0-7]) @(0x[0-9a-f]+) (?:->|<-) (0x[0-9a-f]+)`,
);
const MMIO_IRQ = new RegExp(PREFIX + String.raw`virtio_mmio_setting_irq virtio_mmio setting IRQ (\d+)`);
const BLK_REQUEST = new RegExp(PREFIX + String.raw`virtio_blk_handle_(read|write) .*?sector (\d+) nsectors (\d+)`);

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
  const c = CONFIG.exec(line);
  if (c) {
    const offset = Number(c[4]);
    if (offset > 0xfff) return undefined;
    return {
      kind: c[1] === "read" ? "config-read" : "config-write",
      device: c[2]!,
      address: c[3]!,
      offset,
      value: Number(BigInt(c[5]!) & 0xffff_ffffn),
    };
  }
  const irq = MMIO_IRQ.exec(line);
  if (irq) return { kind: "irq", level: irq[1] !== "0" };
  const blk = BLK_REQUEST.exec(line);
  if (blk) {
    const sector = Number(blk[2]);
    const sectors = Number(blk[3]);
    if (!Number.isSafeInteger(sector) || !Number.isSafeInteger(sectors)) return undefined;
    return { kind: "blk-request", op: blk[1] === "read" ? "read" : "write", sector, sectors };
  }
  return undefined;
}

/** `gdbstub_hit_watchpoint Watchpoint hit, type="r" cpu=0, vaddr=0x…`: "" is a write, "r" a read, "a" either. */
const WATCH_HIT = /Watchpoint hit, type="([ra]?)"/;

/** The regions through which a guest reaches PCI configuration space (they carry the access size). */
const CONFIG_DATA_REGIONS = ["pci-conf-data", "pcie-mmcfg-mmio"];

/** The virtio structure a QEMU virtio-pci region name stands for. */
const PCI_REGIONS: readonly [string, AccessSpace][] = [
  ["virtio-pci-common-", "common"],
  ["virtio-pci-isr-", "isr"],
  ["virtio-pci-device-", "device"],
  ["virtio-pci-notify-", "notify"],
];

/** Where phase markers are. */
export type TraceMarker =
  /** A read of this guest-physical address (a `virtio-mmio` region outside the device's window). */
  | { address: number }
  /** A read of this offset of the device's PCI configuration space (an offset the driver has no use for). */
  | { pciConfig: number };

/** Which accesses belong to the device under test, and where the phase markers are. */
export interface TraceWindow {
  /** The device's MMIO window: `[base, base + size)` of region `virtio-mmio`. */
  mmio?: { base: number; size: number };
  /**
   * Every virtio-mmio window of the machine, `count` of `size` bytes from `base`: accesses to the others are kept
   * with their window index (how the driver treats placeholder devices).
   */
  mmioSlots?: { base: number; size: number; count: number };
  /**
   * The device's PCI function: QEMU's model name (`virtio-blk-pci`) and address (`00:05.0`) as the
   * configuration events print them, and the name its structures' regions end with (`virtio-blk`). An
   * access's offset in its structure is taken from the address's low 12 bits: QEMU places each structure
   * at a 4 KiB boundary of its BAR, none longer than 4 KiB. `markerAt` is the function whose configuration reads
   * mark phases when it is not the device (the hot-pluggable port above a device the run removes: a marker must
   * still be read once the device is gone).
   */
  pci?: { device: string; address: string; regions: string; markerAt?: { device: string; address: string } };
  /** Where each next phase starts. */
  marker?: TraceMarker;
  /** The phases the guest script marks, in order (the first starts at power-on, unless `firstAtMarker`). */
  phases?: { phase: DriverPhase; index?: number }[];
  /**
   * The first phase starts at the first marker, and every step before it is dropped: another driver (the
   * firmware probing a bootable disk) used the device before the one under test.
   */
  firstAtMarker?: boolean;
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
  /** Reads not kept because they repeat the read just before them (see {@link sameRead}). */
  repeatedReads = 0;
  /** Steps not kept because {@link limit} steps were kept already: a run with any is incomplete. */
  overLimit = 0;
  #phase = 0;
  /** A configuration read waiting for the size its data-region read reports just after it. */
  #pendingRead: { step: Extract<WatchedStep, { kind: "read" | "write" }>; raw: number } | undefined;
  /** The size of the last configuration data-region write (reported just before its `pci_cfg_write`). */
  #lastWriteSize: Width | undefined;
  constructor(readonly scope: TraceWindow, readonly limit = 200_000) {
    const first = scope.phases?.[0];
    if (first && !scope.firstAtMarker) {
      this.steps.push(phaseStep(first));
      this.#phase = 1;
    }
  }

  /** Adds a step the adapter made itself (a memory snapshot) at the current end of the stream. */
  insert(step: WatchedStep): void {
    this.#add(step);
  }

  /** Whether the phase of index `i` of {@link TraceWindow.phases} has started. */
  reached(i: number): boolean {
    return this.#phase > i;
  }

  /**
   * A ring step per `gdbstub_hit_watchpoint` line, in order (the adapter that set the watchpoints fills each in when
   * it handles the matching stop): the line comes after every access the stopped CPU made before the hit.
   */
  readonly hits: RingAccessStep[] = [];
  /** Called after each hit line is taken. */
  onHit: (() => void) | undefined;

  /** Takes one line; returns true when it was a step of the device. */
  push(line: string): boolean {
    this.lines++;
    if (line.includes("gdbstub_hit_watchpoint")) {
      const type = WATCH_HIT.exec(line)?.[1];
      const step: RingAccessStep = { kind: "ring", access: type === "r" ? "read" : "write", address: 0, length: 0 };
      this.hits.push(step);
      const kept = this.#add(step);
      this.onHit?.();
      return kept;
    }
    // Most lines are someone else's (a UART poll): reject them before the regular expression.
    const pci = this.scope.pci;
    if (
      !line.includes("virtio") && !(pci && CONFIG_DATA_REGIONS.some((r) => line.includes(r))) &&
      !(pci?.markerAt && line.includes(pci.markerAt.device))
    ) {
      return false;
    }
    const r = parseTraceLine(line);
    if (!r) return false;
    if (r.kind === "irq") return this.#add({ kind: "irq", level: r.level });
    // The guest has one block device: the one under test.
    if (r.kind === "blk-request") return this.#add({ ...r });
    if ("device" in r) return this.#config(r);
    const w = this.scope;
    if (CONFIG_DATA_REGIONS.includes(r.region)) {
      const pending = this.#pendingRead;
      if (r.kind === "read" && pending) {
        pending.step.width = r.size;
        pending.step.value = mask(pending.raw, r.size);
      }
      if (r.kind === "write") this.#lastWriteSize = r.size;
      this.#pendingRead = undefined;
      return false;
    }
    const m = w.marker;
    if (m && "address" in m && r.kind === "read" && r.addr === m.address) return this.#nextPhase();
    if (w.mmio && r.region === "virtio-mmio" && r.addr >= w.mmio.base && r.addr < w.mmio.base + w.mmio.size) {
      return this.#add({ kind: r.kind, space: "mmio", offset: r.addr - w.mmio.base, width: r.size, value: r.value });
    }
    const slots = w.mmioSlots;
    if (slots && r.region === "virtio-mmio" && r.addr >= slots.base && r.addr < slots.base + slots.count * slots.size) {
      const window = Math.floor((r.addr - slots.base) / slots.size);
      const offset = r.addr - slots.base - window * slots.size;
      return this.#add({ kind: r.kind, space: "mmio", offset, width: r.size, value: r.value, window });
    }
    if (w.pci) {
      const region = PCI_REGIONS.find(([prefix]) => r.region === prefix + w.pci!.regions);
      if (region) {
        return this.#add({ kind: r.kind, space: region[1], offset: r.addr & 0xfff, width: r.size, value: r.value });
      }
    }
    return false;
  }

  #config(r: TraceConfigAccess): boolean {
    const pci = this.scope.pci;
    if (!pci) return false;
    const m = this.scope.marker;
    const marks = pci.markerAt ?? pci;
    if (
      m && "pciConfig" in m && r.kind === "config-read" && r.offset === m.pciConfig && r.device === marks.device &&
      r.address === marks.address
    ) return this.#nextPhase();
    if (r.device !== pci.device || r.address !== pci.address) return false;
    if (r.kind === "config-write") {
      const width = this.#lastWriteSize ?? naturalWidth(r.offset);
      this.#lastWriteSize = undefined;
      return this.#add({ kind: "write", space: "pci-config", offset: r.offset, width, value: mask(r.value, width) });
    }
    // The size comes in the data-region line that follows; until then assume the offset's natural width.
    const width = naturalWidth(r.offset);
    const step: Extract<WatchedStep, { kind: "read" | "write" }> = {
      kind: "read",
      space: "pci-config",
      offset: r.offset,
      width,
      value: mask(r.value, width),
    };
    this.#pendingRead = { step, raw: r.value };
    return this.#add(step);
  }

  #nextPhase(): boolean {
    const next = this.scope.phases?.[this.#phase++];
    return next ? this.#add(phaseStep(next)) : false;
  }

  #add(step: WatchedStep): boolean {
    if (this.scope.firstAtMarker && this.#phase === 0) return false;
    if (sameRead(this.steps.at(-1), step)) {
      this.repeatedReads++;
      return true;
    }
    if (this.steps.length >= this.limit) {
      this.overLimit++;
      return false;
    }
    this.steps.push(step);
    return true;
  }
}

/**
 * Whether `step` reads what the step just before it read, from the same register, with nothing between: a polling
 * loop (iPXE reads the ISR status hundreds of thousands of times while it waits). Such a read changes nothing a clause
 * judges and is kept once. Configuration-space reads are never merged (their width is fixed by the line after them).
 */
function sameRead(last: WatchedStep | undefined, step: WatchedStep): boolean {
  return last?.kind === "read" && step.kind === "read" && step.space !== "pci-config" && last.space === step.space &&
    last.offset === step.offset && last.width === step.width && last.value === step.value &&
    last.window === step.window;
}

function naturalWidth(offset: number): Width {
  return offset % 4 === 0 ? 4 : offset % 2 === 0 ? 2 : 1;
}

function mask(value: number, width: Width): number {
  return width === 4 ? value >>> 0 : value & ((1 << (8 * width)) - 1);
}

function phaseStep(p: { phase: DriverPhase; index?: number }): WatchedStep {
  return p.index === undefined ? { kind: "phase", phase: p.phase } : { kind: "phase", phase: p.phase, index: p.index };
}
