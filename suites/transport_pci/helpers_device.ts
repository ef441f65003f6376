/**
 * What the PCI device clauses share: the PCI driver transport of a clause's
 * context, MSI-X message capture in guest memory, and small formatters.
 *
 * @module
 */
import type { DeviceClauseContext } from "../../harness/core/clause.ts";
import { le } from "../../harness/memory.ts";
import { PciDriverTransport } from "../../harness/transport/pci_driver.ts";
import { CommonCfg, NO_VECTOR, PciCommand } from "../../harness/transport/pci_layout.ts";
import { notApplicable } from "../../harness/verify.ts";
import { hex } from "../../harness/text.ts";
export { hex };

/** Labels of the device-side requirement blocks of spec 4.1. */
export const PCI = "devicenormative:Virtio Transport Options / Virtio Over PCI Bus";
export const DISCOVERY = `${PCI} / PCI Device Discovery`;
export const LAYOUT = `${PCI} / PCI Device Layout`;
export const CAPS = `${PCI} / Virtio Structure PCI Capabilities`;
export const COMMON = `${PCI} / PCI Device Layout / Common configuration structure layout`;
export const NOTIFY = `${PCI} / PCI Device Layout / Notification capability`;
export const ISR = `${PCI} / PCI Device Layout / ISR status capability`;
export const DEVICE_CFG = `${PCI} / PCI Device Layout / Device-specific configuration`;
export const SHM = `${PCI} / PCI Device Layout / Shared memory capability`;
export const VENDOR = `${PCI} / PCI Device Layout / Vendor data capability`;
export const PCI_CFG = `${PCI} / PCI Device Layout / PCI configuration access capability`;
export const LEGACY_DRIVER =
  `${PCI} / PCI-specific Initialization And Device Operation / Device Initialization / Non-transitional Device With Legacy Driver`;
export const MSIX =
  `${PCI} / PCI-specific Initialization And Device Operation / Device Initialization / MSI-X Vector Configuration`;
export const USED_NOTIFY = `${PCI} / PCI-specific Initialization And Device Operation / Used Buffer Notifications`;
export const CONFIG_NOTIFY =
  `${PCI} / PCI-specific Initialization And Device Operation / Notification of Device Configuration Changes`;

/** Applicability of every clause here: PCI only. */
export const ON_PCI = { transports: ["pci" as const] };

/** The clause's transport as the PCI driver transport (n/a elsewhere). */
export function pciOf(ctx: DeviceClauseContext): PciDriverTransport {
  const t = ctx.transport;
  if (!(t instanceof PciDriverTransport)) notApplicable("the session does not speak virtio over PCI");
  return t;
}

/** The MSI-X capability's table size, or n/a when the device has no MSI-X capability. */
export function msixTableSize(t: PciDriverTransport): number {
  const m = t.walk.msix;
  if (!m) notApplicable("the device has no MSI-X capability");
  return m.tableSize;
}

/** Reads a 16-bit common-configuration field of queue `q`. */
export async function queueField(t: PciDriverTransport, q: number, offset: number): Promise<number> {
  await t.selectQueue(q);
  return await t.common.read(offset, 2);
}

/**
 * Message capture: every MSI-X table entry points at its own 4-byte slot
 * in guest memory with a recognisable data word; {@link MsixCapture.fired}
 * tells which vectors sent a message since the last call.
 */
export class MsixCapture {
  private constructor(
    readonly ctx: DeviceClauseContext,
    readonly t: PciDriverTransport,
    readonly base: number,
    readonly size: number,
  ) {}

  /** Programs every entry (unmasked), clears the slots and enables MSI-X with Bus Master on. */
  static async install(ctx: DeviceClauseContext, t: PciDriverTransport): Promise<MsixCapture> {
    const size = msixTableSize(t);
    const n = Math.min(size, 64);
    const base = ctx.driver.alloc.alloc(4 * n, 4);
    await ctx.session.memory.write(base, new Uint8Array(4 * n));
    for (let v = 0; v < n; v++) {
      await t.msixSetEntry(v, { address: base + 4 * v, data: MsixCapture.data(v), masked: false });
    }
    await t.setCommand((await t.command()) | PciCommand.BUS_MASTER | PciCommand.MEMORY);
    await t.msixEnable(true, false);
    return new MsixCapture(ctx, t, base, n);
  }

  /** The data word of vector `v`'s message. */
  static data(v: number): number {
    return (0x5eed_0000 | (v & 0xffff)) >>> 0;
  }

  /**
   * Vectors whose slot holds their data word, clearing them, after letting the device run `ms` (with `afterUse`, when
   * the harness has just seen the used index of a request: no time on a target with ordered notifications).
   */
  async fired(ms = 20, afterUse = false): Promise<number[]> {
    await this.ctx.driver.quiet(afterUse ? this.ctx.driver.notificationWindow(ms) : ms);
    const bytes = await this.ctx.session.memory.read(this.base, 4 * this.size);
    const out: number[] = [];
    for (let v = 0; v < this.size; v++) {
      if (le.u32(bytes, 4 * v) !== 0) out.push(v);
    }
    if (out.length > 0) await this.ctx.session.memory.write(this.base, new Uint8Array(4 * this.size));
    return out;
  }

  /** Vectors with their pending bit set. */
  async pending(): Promise<number[]> {
    const out: number[] = [];
    for (let v = 0; v < this.size; v++) if (await this.t.msixPending(v)) out.push(v);
    return out;
  }
}

/** Maps every event to NO_VECTOR (config and each of `queues`). */
export async function unmapAll(t: PciDriverTransport, queues: number): Promise<void> {
  await t.common.write(CommonCfg.config_msix_vector, 2, NO_VECTOR);
  for (let q = 0; q < queues; q++) await t.setQueueVector(q, NO_VECTOR);
}

/** Formats a vector value (NO_VECTOR by name). */
export function fmtVector(v: number): string {
  return v === NO_VECTOR ? "NO_VECTOR" : String(v);
}
