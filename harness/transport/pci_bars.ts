/**
 * Base Address Registers from the driver's side: sizing every BAR of a
 * type-0 header and placing the ones the virtio structures need inside the
 * bus windows an adapter offers, then enabling decoding and bus mastering.
 *
 * Values read from the device are untrusted: sizes are derived from the
 * lowest writable address bit, inconsistent BARs are reported, and nothing
 * is placed outside the windows.
 *
 * @module
 */
import type { PciFunctionAccess } from "../adapter.ts";
import type { RegisterSpace } from "../registers.ts";
import { hex } from "../text.ts";
import type { BarView } from "./pci_caps.ts";
import { barOffset, PCI_BAR_COUNT, PciBar, PciCommand, PciConfig } from "./pci_layout.ts";

/** What a BAR decodes. `none`: not implemented, unusable, or the upper half of a 64-bit BAR. */
export type BarKind = "io" | "mem32" | "mem64" | "none";

/** One BAR as sized. */
export interface BarInfo extends BarView {
  kind: BarKind;
  /** Size in bytes, a power of two (0 when not implemented or unusable). */
  size: number;
  prefetchable: boolean;
  /** The BAR register as read before sizing (the low half for a 64-bit BAR). */
  original: number;
  /** For the upper half of a 64-bit BAR: the index of the lower half. */
  upperHalfOf?: number;
}

/** Result of {@link sizeBars}. */
export interface BarSizing {
  /** Six entries, by BAR index. */
  bars: BarInfo[];
  /** Inconsistencies found, one sentence each (a BAR with a problem is marked `none`). */
  problems: string[];
}

const TWO32 = 2 ** 32;

/** The lowest set bit of a non-negative integer below 2^64 (0 for 0). */
function lowestBit(v: bigint): bigint {
  return v & -v;
}

/**
 * Sizes every BAR: saves it, writes all ones, reads the writable address
 * bits back and restores it. Memory and I/O decoding are turned off in the
 * Command register meanwhile (and restored after).
 *
 * @example
 * ```ts ignore
 * const { bars, problems } = await sizeBars(access.config);
 * console.log(bars[0]?.kind, bars[0]?.size); // "mem64" 16384
 * ```
 */
export async function sizeBars(config: RegisterSpace): Promise<BarSizing> {
  const problems: string[] = [];
  const bars: BarInfo[] = [];
  const command = (await config.read(PciConfig.Command, 2)) & 0xffff;
  const decode = PciCommand.IO | PciCommand.MEMORY;
  if (command & decode) await config.write(PciConfig.Command, 2, command & ~decode);
  try {
    let upperHalf = false;
    for (let i = 0; i < PCI_BAR_COUNT; i++) {
      const original = (await config.read(barOffset(i), 4)) >>> 0;
      if (upperHalf) {
        bars.push({ index: i, kind: "none", size: 0, prefetchable: false, original, upperHalfOf: i - 1 });
        upperHalf = false;
        continue;
      }
      const bar = await sizeOne(config, i, original, problems);
      // A 64-bit BAR owns the next slot even when it turned out unusable.
      upperHalf = bar.kind === "mem64" || (!(original & PciBar.IO_SPACE) &&
        (original & PciBar.TYPE_MASK) === PciBar.TYPE_64 && i < PCI_BAR_COUNT - 1);
      bars.push(bar);
    }
  } finally {
    if (command & decode) await config.write(PciConfig.Command, 2, command);
  }
  return { bars, problems };
}

async function sizeOne(config: RegisterSpace, i: number, original: number, problems: string[]): Promise<BarInfo> {
  const off = barOffset(i);
  const none = (): BarInfo => ({ index: i, kind: "none", size: 0, prefetchable: false, original });
  if (original & PciBar.IO_SPACE) {
    await config.write(off, 4, 0xffff_ffff);
    const back = (await config.read(off, 4)) >>> 0;
    await config.write(off, 4, original);
    if ((back & PciBar.IO_SPACE) === 0) {
      problems.push(`BAR ${i} changed from I/O to memory while being sized (read ${hex(back, 8)})`);
      return none();
    }
    const size = Number(lowestBit(BigInt((back & PciBar.IO_ADDR_MASK) >>> 0)));
    return { index: i, kind: size ? "io" : "none", size, prefetchable: false, original };
  }
  const type = original & PciBar.TYPE_MASK;
  const prefetchable = (original & PciBar.PREFETCHABLE) !== 0;
  if (type === 0x6) {
    problems.push(`BAR ${i} has the reserved memory type 0b11 (${hex(original, 8)}): it is not used`);
    return none();
  }
  if (type === PciBar.TYPE_64) {
    if (i === PCI_BAR_COUNT - 1) {
      problems.push(`BAR 5 says it is a 64-bit memory BAR, but there is no BAR 6 for its upper half: it is not used`);
      return none();
    }
    const hiOff = barOffset(i + 1);
    const originalHi = (await config.read(hiOff, 4)) >>> 0;
    await config.write(off, 4, 0xffff_ffff);
    await config.write(hiOff, 4, 0xffff_ffff);
    const back = (await config.read(off, 4)) >>> 0;
    const backHi = (await config.read(hiOff, 4)) >>> 0;
    await config.write(off, 4, original);
    await config.write(hiOff, 4, originalHi);
    if ((back & (PciBar.IO_SPACE | PciBar.TYPE_MASK)) !== (original & (PciBar.IO_SPACE | PciBar.TYPE_MASK))) {
      problems.push(`BAR ${i} changed its type bits while being sized (${hex(original, 8)}, then ${hex(back, 8)})`);
      return none();
    }
    const mask = (BigInt(backHi) << 32n) | BigInt((back & PciBar.MEM_ADDR_MASK) >>> 0);
    const size = Number(lowestBit(mask));
    return { index: i, kind: size ? "mem64" : "none", size, prefetchable, original };
  }
  await config.write(off, 4, 0xffff_ffff);
  const back = (await config.read(off, 4)) >>> 0;
  await config.write(off, 4, original);
  if ((back & (PciBar.IO_SPACE | PciBar.TYPE_MASK)) !== (original & (PciBar.IO_SPACE | PciBar.TYPE_MASK))) {
    problems.push(`BAR ${i} changed its type bits while being sized (${hex(original, 8)}, then ${hex(back, 8)})`);
    return none();
  }
  const size = Number(lowestBit(BigInt((back & PciBar.MEM_ADDR_MASK) >>> 0)));
  return { index: i, kind: size ? "mem32" : "none", size, prefetchable, original };
}

/** Where a BAR was placed. */
export interface BarPlacement {
  index: number;
  kind: "io" | "mem32" | "mem64";
  size: number;
  /** Bus address (memory) or port (I/O) written to the BAR. */
  address: number;
}

/** Result of {@link placeBars}. */
export interface BarPlacementResult {
  placements: BarPlacement[];
  /** BARs that could not be placed, one sentence each (the BAR is left as it was). */
  errors: string[];
  /** Per BAR index: why it could not be placed. */
  failed: Map<number, string>;
  /** The Command register as written. */
  command: number;
}

/**
 * Why BAR `index` cannot be placed at all (independent of the other BARs),
 * or undefined when it can.
 *
 * @example
 * ```ts ignore
 * const why = barUnplaceableReason(bars, 2, access);
 * ```
 */
export function barUnplaceableReason(
  bars: readonly BarInfo[],
  index: number,
  access: Pick<PciFunctionAccess, "memoryWindow" | "io" | "ioWindow">,
  problems: readonly string[] = [],
): string | undefined {
  const bar = bars[index];
  if (!bar || index < 0 || index >= PCI_BAR_COUNT) return `there is no BAR ${index}`;
  if (bar.upperHalfOf !== undefined) {
    return `BAR ${index} is the upper half of the 64-bit BAR ${bar.upperHalfOf}`;
  }
  if (bar.kind === "none") {
    const p = problems.find((s) => s.startsWith(`BAR ${index} `));
    return p ?? `BAR ${index} has size 0 (not implemented)`;
  }
  if (bar.kind === "io") {
    if (!access.io || !access.ioWindow) return `BAR ${index} is an I/O BAR and the adapter has no I/O space`;
    if (bar.size > access.ioWindow.size) {
      return `BAR ${index} is too big for the I/O window: ${hex(bar.size, 3)} bytes, window ${
        hex(access.ioWindow.size, 3)
      }`;
    }
    return undefined;
  }
  const w = access.memoryWindow;
  if (bar.size > w.size) {
    return `BAR ${index} is too big for the memory window: ${hex(bar.size, 3)} bytes, window ${hex(w.size, 3)}`;
  }
  if (bar.kind === "mem32" && alignUp(w.base, bar.size) + bar.size > TWO32) {
    return `BAR ${index} is a 32-bit BAR and the memory window has no room for it below 4 GiB: window ${
      hex(w.base, 3)
    }`;
  }
  return undefined;
}

function alignUp(v: number, a: number): number {
  return Math.ceil(v / a) * a;
}

/**
 * Places BARs `needed` in the adapter's windows (each naturally aligned to
 * its size, none overlapping, biggest first), writes the addresses, reads
 * them back, and enables MEMORY (and IO when an I/O BAR was placed) and
 * BUS_MASTER in the Command register.
 *
 * @example
 * ```ts ignore
 * const sizing = await sizeBars(access.config);
 * const { placements, errors } = await placeBars(access, sizing.bars, [0, 2]);
 * ```
 */
export async function placeBars(
  access: PciFunctionAccess,
  bars: readonly BarInfo[],
  needed: readonly number[],
  problems: readonly string[] = [],
): Promise<BarPlacementResult> {
  const config = access.config;
  const errors: string[] = [];
  const failed = new Map<number, string>();
  const fail = (i: number, why: string) => {
    failed.set(i, why);
    errors.push(why);
  };
  const wanted = [...new Set(needed)].filter((i) => {
    const why = barUnplaceableReason(bars, i, access, problems);
    if (why !== undefined) fail(i, why);
    return why === undefined;
  });
  // Biggest first keeps natural alignment from wasting space.
  wanted.sort((a, b) => (bars[b]?.size ?? 0) - (bars[a]?.size ?? 0) || a - b);
  let nextMem = access.memoryWindow.base;
  const memEnd = access.memoryWindow.base + access.memoryWindow.size;
  let nextIo = access.ioWindow?.base ?? 0;
  const ioEnd = (access.ioWindow?.base ?? 0) + (access.ioWindow?.size ?? 0);
  const placements: BarPlacement[] = [];
  for (const i of wanted) {
    const bar = bars[i];
    if (!bar || bar.kind === "none") continue;
    const isIo = bar.kind === "io";
    const address = alignUp(isIo ? nextIo : nextMem, bar.size);
    const end = isIo ? ioEnd : memEnd;
    if (address + bar.size > end || (bar.kind === "mem32" && address + bar.size > TWO32)) {
      fail(
        i,
        `BAR ${i} (${hex(bar.size, 3)} bytes) does not fit in what is left of the ${
          isIo ? "I/O" : "memory"
        } window: next free ${hex(isIo ? nextIo : nextMem, 3)}, window end ${hex(end, 3)}`,
      );
      continue;
    }
    if (isIo) nextIo = address + bar.size;
    else nextMem = address + bar.size;
    const off = barOffset(i);
    const low = (address % TWO32) >>> 0;
    if (isIo) {
      await config.write(off, 4, (low & PciBar.IO_ADDR_MASK) >>> 0);
    } else {
      await config.write(off, 4, ((low & PciBar.MEM_ADDR_MASK) | (bar.original & 0xf)) >>> 0);
      if (bar.kind === "mem64") await config.write(barOffset(i + 1), 4, Math.floor(address / TWO32) >>> 0);
    }
    const readBack = await readBarAddress(config, i, bar.kind);
    if (readBack !== address) {
      fail(i, `BAR ${i} reads back ${hex(readBack, 3)} after ${hex(address, 3)} was written to it`);
      continue;
    }
    placements.push({ index: i, kind: bar.kind, size: bar.size, address });
  }
  const cmd0 = (await config.read(PciConfig.Command, 2)) & 0xffff;
  let command = cmd0 | PciCommand.BUS_MASTER;
  if (placements.some((p) => p.kind !== "io")) command |= PciCommand.MEMORY;
  if (placements.some((p) => p.kind === "io")) command |= PciCommand.IO;
  await config.write(PciConfig.Command, 2, command);
  placements.sort((a, b) => a.index - b.index);
  return { placements, errors, failed, command };
}

/**
 * The address BAR `index` currently holds (both halves for a 64-bit BAR).
 *
 * @example
 * ```ts ignore
 * const addr = await readBarAddress(access.config, 0, "mem64");
 * ```
 */
export async function readBarAddress(config: RegisterSpace, index: number, kind: BarKind): Promise<number> {
  const low = (await config.read(barOffset(index), 4)) >>> 0;
  if (kind === "io") return (low & PciBar.IO_ADDR_MASK) >>> 0;
  const base = (low & PciBar.MEM_ADDR_MASK) >>> 0;
  if (kind !== "mem64" || index + 1 >= PCI_BAR_COUNT) return base;
  const high = (await config.read(barOffset(index + 1), 4)) >>> 0;
  return high * TWO32 + base;
}
