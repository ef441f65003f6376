/**
 * What the PCI driver clauses share: a scenario runner that presents the
 * harness's PCI device with layout variations the plain runner cannot make
 * (a slow device reset, structures longer than needed) and taps the bus, so a clause knows which
 * BAR and which offset every memory access of the driver hit and where the
 * capabilities sit in configuration space.
 *
 * @module
 */
import type { HarnessDeviceEndpoint } from "../../harness/adapter.ts";
import type { DriverClauseContext } from "../../harness/core/clause.ts";
import type { RegisterSpace, Width } from "../../harness/registers.ts";
import { notApplicable } from "../../harness/verify.ts";
import type { DeviceCore } from "../../harness/models/device/core.ts";
import { defaultPciLayout, PciDevice, type PciLayout } from "../../harness/models/device/pci_device.ts";
import {
  type AccessEvent,
  type DeviceRecorder,
  recordedPci,
  type Scenario,
  ScenarioRunner,
  type ScenarioTrace,
} from "../../harness/roles/harness_device.ts";
import { accesses } from "../../harness/roles/trace.ts";
import { type CapWalk, minCapLen, walkCapabilities } from "../../harness/transport/pci_caps.ts";
import { CapField, CommonCfg, VirtioPciCap } from "../../harness/transport/pci_layout.ts";

/** One memory access of the driver as the bus saw it. */
export interface BusAccess {
  /** Sequence number of the matching trace event. */
  seq: number;
  kind: "read" | "write";
  address: number;
  width: Width;
  value: number;
  /** The BAR it hit (-1: none) and the offset inside it. */
  bar: number;
  offset: number;
}

/** Variations of the presented PCI function beyond {@link PciLayoutOptions}. */
export interface PciVariation {
  /** Reads of `device_status` that still show the old status after the driver wrote 0. */
  resetReads?: number;
  /** Every virtio structure capability's `length` raised to this many bytes (and the structure decoded that far). */
  structureLength?: number;
}

/** A PCI scenario's trace plus the bus tap and the capability list as the device lays it out. */
export interface PciScenarioTrace extends ScenarioTrace {
  /** Accesses to the function's BARs by address (empty for a watched driver, whose accesses are in `events`). */
  bus: BusAccess[];
  /** The harness's PCI device (undefined for a watched driver beside its own device). */
  device: PciDevice | undefined;
  /** The capability list: the device's, or for a watched driver the one its configuration reads show. */
  caps: CapWalk;
}

/** A PCI device whose reset is seen to complete only after a few `device_status` reads. */
class SlowResetPciDevice extends PciDevice {
  #pending = 0;
  #shown = 0;
  constructor(core: DeviceCore, layout: PciLayout, readonly resetReads: number) {
    super(core, layout);
  }
  protected override writeDeviceStatus(value: number): void {
    if ((value & 0xff) === 0) {
      this.#shown = this.core.status;
      this.#pending = this.#shown === 0 ? 0 : this.resetReads;
    } else {
      this.#pending = 0;
    }
    super.writeDeviceStatus(value);
  }
  protected override commonField(name: keyof typeof CommonCfg): number {
    if (name === "device_status" && this.#pending > 0) {
      this.#pending--;
      return this.#shown;
    }
    return super.commonField(name);
  }
}

function lengthened(layout: PciLayout, length: number): PciLayout {
  const grow = (s: string) => s === "common" || s === "notify" || s === "isr" || s === "device";
  return {
    ...layout,
    regions: layout.regions.map((r) => grow(r.structure) ? { ...r, length: Math.max(r.length, length) } : r),
    caps: layout.caps.map((c) =>
      c.kind === "virtio" && c.cfgType >= VirtioPciCap.COMMON_CFG && c.cfgType <= VirtioPciCap.DEVICE_CFG
        ? { ...c, length: Math.max(c.length, length) }
        : c
    ),
  };
}

/** The scenario runner of the PCI driver clauses (the harness plays a PCI device). */
export class PciScenarioRunner extends ScenarioRunner {
  #last: { device: PciDevice; bus: BusAccess[] } | undefined;
  constructor(ctx: DriverClauseContext, readonly variation: PciVariation = {}) {
    super(ctx.scenarios.target, ctx.deviceType, ctx.scenarios.deadlineMs, "pci", ctx.signal);
  }

  protected override present(
    core: DeviceCore,
    rec: DeviceRecorder,
    s: Scenario,
  ): Pick<HarnessDeviceEndpoint, "registers" | "pci"> & { line(listener: (level: boolean) => void): void } {
    let layout = defaultPciLayout(core.fn, s.pciLayout ?? {});
    const v = this.variation;
    if (v.structureLength) layout = lengthened(layout, v.structureLength);
    const dev = v.resetReads ? new SlowResetPciDevice(core, layout, v.resetReads) : new PciDevice(core, layout);
    const pci = recordedPci(dev, rec);
    const bus: BusAccess[] = [];
    this.#last = { device: dev, bus };
    const where = (address: number) => {
      for (let i = 0; i < layout.bars.length; i++) {
        const b = layout.bars[i];
        if (!b || b.kind === "io") continue;
        const base = dev.barBase(i);
        if (address >= base && address < base + b.size) return { bar: i, offset: address - base };
      }
      return { bar: -1, offset: address };
    };
    const memory = {
      read: async (a: number, w: Width) => {
        const value = await pci.memory.read(a, w);
        bus.push({ seq: rec.events.length - 1, kind: "read", address: a, width: w, value, ...where(a) });
        return value;
      },
      write: async (a: number, w: Width, value: number) => {
        await pci.memory.write(a, w, value);
        bus.push({ seq: rec.events.length - 1, kind: "write", address: a, width: w, value, ...where(a) });
      },
    };
    return { registers: pci.config, pci: { ...pci, memory }, line: (l) => dev.onInterrupt(l) };
  }

  /** Runs a scenario and returns its trace with the bus tap and the device's capability list. */
  async runPci(s: Scenario): Promise<PciScenarioTrace> {
    const t = await this.run(s);
    const last = this.#last!;
    const caps = await walkCapabilities(last.device.config);
    return { ...t, ...last, caps };
  }
}

/**
 * Runs a PCI scenario (layout options, workloads, …) with an optional variation. A watched driver's own device
 * gives only its default scenario: its run, with the capability list its configuration reads show.
 */
export async function runPci(
  ctx: DriverClauseContext,
  s: Scenario,
  variation: PciVariation = {},
): Promise<PciScenarioTrace> {
  if (!ctx.scenarios.watched) return await new PciScenarioRunner(ctx, variation).runPci(s);
  if (Object.keys(variation).length > 0) {
    notApplicable(
      "the driver runs beside its own device, which the harness cannot give a slow reset or longer structures",
    );
  }
  const t = Object.keys(s).length > 0 ? await ctx.scenarios.run(s) : await ctx.scenarios.baseline();
  const image = t.configSpace ?? new Uint8Array(4096);
  const config: RegisterSpace = {
    read: (o, w) => Promise.resolve(o + w <= image.length ? readLe(image, o, w) : 0),
    write: () => Promise.reject(new Error("the configuration space of a watched run is read-only")),
  };
  return { ...t, bus: [], device: undefined, caps: await walkCapabilities(config) };
}

function readLe(bytes: Uint8Array, offset: number, width: Width): number {
  let v = 0;
  for (let i = width - 1; i >= 0; i--) v = v * 256 + bytes[offset + i]!;
  return v;
}

/** Accesses of a trace that landed in one raw space. */
export function inSpace(t: ScenarioTrace, space: AccessEvent["raw"]["space"]): AccessEvent[] {
  return accesses(t).filter((e) => e.raw.space === space);
}

/** Writes to the common configuration structure that touch `[offset, offset + size)`. */
export function commonWritesTo(t: ScenarioTrace, offset: number, size: number): AccessEvent[] {
  return inSpace(t, "common").filter((e) =>
    e.kind === "write" && e.raw.offset < offset + size && e.raw.offset + e.width > offset
  );
}

/** Whether an access covers any of the bytes `[from, to)` of configuration space. */
export function touches(e: AccessEvent, from: number, to: number): boolean {
  return e.raw.offset < to && e.raw.offset + e.width > from;
}

/** Configuration-space range `[at, at + cap_len)` of each virtio capability, with its type. */
export function virtioCapRanges(caps: CapWalk): { at: number; end: number; cfgType: number }[] {
  // At least the structure's specified size: a watched driver may never have read cap_len (Linux does not).
  return caps.virtio.map((c) => ({
    at: c.at,
    end: c.at + Math.max(c.capLen, minCapLen(c.cfgType)),
    cfgType: c.cfgType,
  }));
}

/** The PCI configuration access capability's fields, by configuration-space offset. */
export function pciCfgFields(
  caps: CapWalk,
): { at: number; bar: number; length: number; offset: number; data: number }[] {
  return caps.virtio.filter((c) => c.cfgType === VirtioPciCap.PCI_CFG).map((c) => ({
    at: c.at,
    bar: c.at + CapField.bar,
    length: c.at + CapField.length,
    offset: c.at + CapField.offset,
    data: c.at + CapField.pci_cfg_data,
  }));
}

/** Formats a bus access: `#12 write BAR4+0x3000/16bit = 0x0`. */
export function fmtBus(b: BusAccess): string {
  const where = b.bar < 0 ? `0x${b.address.toString(16)} (no BAR)` : `BAR${b.bar}+0x${b.offset.toString(16)}`;
  return `#${b.seq} ${b.kind} ${where}${b.width === 4 ? "" : `/${b.width * 8}bit`} ${
    b.kind === "write" ? "=" : "→"
  } 0x${(b.value >>> 0).toString(16)}`;
}

/** Common configuration offsets, re-exported for the clauses. */
export { CommonCfg };
