/**
 * Driver clauses of spec 4.1.4.5.2 ISR status capability, 4.1.5.1.2.2 MSI-X
 * Vector Configuration, 4.1.5.2.1 Available Buffer Notifications and
 * 4.1.5.4.2 Notification of Device Configuration Changes (the harness plays
 * a PCI device).
 *
 * @module
 */
import fc from "fast-check";
import { defineDriverClause, type DriverClauseContext } from "../../harness/core/clause.ts";
import { bit, F } from "../../harness/features.ts";
import { le } from "../../harness/memory.ts";
import { Irq } from "../../harness/models/device/core.ts";
import { PCI_NOTIFY_MULTIPLIER } from "../../harness/models/device/pci_device.ts";
import { checkProperty } from "../../harness/core/property.ts";
import type { AccessEvent, ScenarioTrace } from "../../harness/roles/harness_device.ts";
import { Status } from "../../harness/status.ts";
import { CommonCfg, MsixCap, NO_VECTOR } from "../../harness/transport/pci_layout.ts";
import { expectNone, expectThat, notApplicable } from "../../harness/verify.ts";
import { accepted, accesses, fmtAccess } from "../driver_trace.ts";
import { expectWorks } from "./discovery_driver.ts";
import { commonWritesTo, inSpace, type PciScenarioTrace, runPci } from "./pci_scenarios_driver.ts";

const PCI = { transports: ["pci" as const] };
const ISR = "drivernormative:Virtio Transport Options / Virtio Over PCI Bus / PCI Device Layout / " +
  "ISR status capability";
const MSIX = "drivernormative:Virtio Transport Options / Virtio Over PCI Bus / PCI-specific Initialization And " +
  "Device Operation / Device Initialization / MSI-X Vector Configuration";
const NOTIFY = "drivernormative:Virtio Transport Options / Virtio Over PCI Bus / PCI-specific Initialization And " +
  "Device Operation / Available Buffer Notifications";
const CONFIG_CHANGE = "drivernormative:Virtio Transport Options / Virtio Over PCI Bus / PCI-specific " +
  "Initialization And Device Operation / Notification of Device Configuration Changes";

// ------------------------------------------------------------------ MSI-X

/** MSI-X table sizes a device may present: the Table Size field is 0–0x7FF. */
const TABLE_SIZES = fc.integer({ min: 1, max: 0x800 });

/** Writes of a vector to config_msix_vector or queue_msix_vector that ask for a mapping (not NO_VECTOR). */
function mappings(t: ScenarioTrace): AccessEvent[] {
  return [CommonCfg.config_msix_vector, CommonCfg.queue_msix_vector]
    .flatMap((f) => commonWritesTo(t, f, 2))
    .filter((e) => e.raw.value !== NO_VECTOR)
    .sort((a, b) => a.seq - b.seq);
}

/**
 * MSI-X table sizes a watched driver's own device is varied to, where its target can (each size is one more run
 * of the real driver): one vector (nothing left for the queues once the configuration change has one) and two.
 */
const WATCHED_TABLE_SIZES = [1, 2] as const;

/** Whether a watched target can give its device another MSI-X table size. */
function variesTable(ctx: DriverClauseContext): boolean {
  return ctx.scenarios.target.info.variations?.includes("msix-vectors") ?? false;
}

/** Traces with random small MSI-X tables (mapping past the end likely) and the default one. */
async function msixTraces(ctx: DriverClauseContext): Promise<{ t: ScenarioTrace; size: number }[]> {
  if (ctx.scenarios.watched) {
    // The real device's table, as the driver read its MSI-X capability, and the varied tables where it can.
    const runs: PciScenarioTrace[] = [await runPci(ctx, {})];
    if (variesTable(ctx)) {
      for (const msix of WATCHED_TABLE_SIZES) runs.push(await runPci(ctx, { pciLayout: { msix } }));
    }
    const read = runs.flatMap((t) => (t.caps.msix ? [{ t, size: t.caps.msix.tableSize }] : []));
    if (read.length === 0) notApplicable("the driver never read an MSI-X capability");
    return read;
  }
  const out = [{ t: await ctx.scenarios.baseline(), size: -1 }];
  for (const size of [1, 2, 3, 0x800]) out.push({ t: await ctx.scenarios.run({ pciLayout: { msix: size } }), size });
  const base = out[0]!;
  base.size = base.t.fn.queueCount + 1;
  return out;
}

export const anyTableSize = defineDriverClause({
  label: MSIX,
  statement: 1,
  level: "MUST",
  applies: PCI,
  title: "any MSI-X table size supported",
  requirement: "The driver works with a device whatever its MSI-X Table Size (0 to 0x7FF, i.e. 1 to 2048 " +
    "vectors).",
  action: "Presents the device with random MSI-X table sizes of 1–2048 vectors and checks the driver binds and " +
    "serves the default workload each time.",
  async run(ctx) {
    if (ctx.scenarios.watched) {
      // A real driver beside its own device: the sizes the device can be given, one run each.
      if (!variesTable(ctx)) notApplicable("the target cannot give its device another MSI-X table size");
      for (const size of WATCHED_TABLE_SIZES) {
        expectWorks(await ctx.scenarios.run({ pciLayout: { msix: size } }), `a device with ${size} MSI-X vectors`);
      }
      return;
    }
    await checkProperty(ctx, TABLE_SIZES, async (size) => {
      expectWorks(await ctx.scenarios.run({ pciLayout: { msix: size } }), `a device with ${size} MSI-X vectors`);
    }, (n) => `Table Size field 0x${(n - 1).toString(16)}`);
  },
});

export const vectorsInsideTable = defineDriverClause({
  label: MSIX,
  statement: 4,
  level: "MUST NOT",
  applies: PCI,
  title: "no event mapped to a vector outside the MSI-X table",
  requirement: "The driver writes to config_msix_vector and queue_msix_vector only vectors the MSI-X table has " +
    "(or NO_VECTOR).",
  action: "Presents MSI-X tables of 1, 2, 3, 2048 and the default number of vectors and checks every vector " +
    "the driver maps against the table size.",
  async run(ctx) {
    const traces = await msixTraces(ctx);
    if (traces.every(({ t }) => mappings(t).length === 0)) {
      notApplicable("the driver did not use MSI-X (it mapped no vector)");
    }
    const bad = traces.flatMap(({ t, size }) =>
      mappings(t).filter((e) => e.raw.value >= size).map((e) => ({ e, size }))
    );
    expectNone("every mapped vector inside the table", bad, ({ e, size }) => `${fmtAccess(e)} (table of ${size})`);
  },
});

export const readsBackVector = defineDriverClause({
  label: MSIX,
  statement: 5,
  level: "MUST",
  applies: PCI,
  title: "vector read back after mapping",
  requirement: "After writing a vector to config_msix_vector or queue_msix_vector, the driver reads the field " +
    "back to learn whether the mapping took (NO_VECTOR when it failed).",
  action: "Checks that each mapping write is followed by a read of the same field, for the same queue, before " +
    "the driver selects another queue, writes the field again or changes the device status.",
  async run(ctx) {
    const traces = await msixTraces(ctx);
    if (traces.every(({ t }) => mappings(t).length === 0)) {
      notApplicable("the driver did not use MSI-X (it mapped no vector)");
    }
    const bad = traces.flatMap(({ t }) => {
      const acc = inSpace(t, "common");
      return mappings(t).filter((m) => {
        const i = acc.findIndex((e) => e.seq === m.seq);
        for (const e of acc.slice(i + 1)) {
          if (e.raw.offset === m.raw.offset && e.kind === "read") return false;
          if (e.kind !== "write") continue;
          if (e.raw.offset === m.raw.offset) return true;
          if (e.raw.offset === CommonCfg.device_status) return true;
          if (m.raw.offset === CommonCfg.queue_msix_vector && e.raw.offset === CommonCfg.queue_select) return true;
        }
        return true;
      });
    });
    expectNone("a read-back after each vector mapping", bad, fmtAccess);
  },
});

/** Index in `events` of the configuration write that set MSI-X Enable, and of the one that cleared it. */
function msixEnabledSpans(t: PciScenarioTrace): [number, number][] {
  const at = t.caps.msix?.at;
  if (at === undefined) return [];
  const spans: [number, number][] = [];
  let from = -1;
  for (const e of inSpace(t, "pci-config")) {
    if (e.kind !== "write" || e.raw.offset > at + MsixCap.control + 1 || e.raw.offset + e.width <= at) continue;
    const shift = (at + MsixCap.control - e.raw.offset) * 8;
    const control = shift >= 0 ? (e.raw.value >>> shift) & 0xffff : (e.raw.value << -shift) & 0xffff;
    const on = (control & MsixCap.ENABLE) !== 0;
    if (on && from < 0) from = e.seq;
    if (!on && from >= 0) {
      spans.push([from, e.seq]);
      from = -1;
    }
  }
  if (from >= 0) spans.push([from, Infinity]);
  return spans;
}

export const noIsrWithMsix = defineDriverClause({
  label: ISR,
  statement: 1,
  level: "SHOULD NOT",
  applies: PCI,
  title: "ISR status left alone for queue interrupts under MSI-X",
  requirement: "While MSI-X is enabled, the driver does not read ISR status to handle a queue interrupt.",
  action: "Lets the driver probe and work; while its MSI-X Enable bit is set, flags every ISR status read.",
  async run(ctx) {
    const t = await runPci(ctx, {});
    const spans = msixEnabledSpans(t);
    if (spans.length === 0) notApplicable("the driver did not enable MSI-X");
    const bad = inSpace(t, "isr").filter((e) => spans.some(([a, b]) => e.seq > a && e.seq < b));
    expectNone("no ISR status read while MSI-X is enabled", bad, fmtAccess);
  },
});

// ----------------------------------------------------------- notifications

/** The queue a notification write addresses: its offset in the notify structure over the multiplier. */
function notifiedQueue(e: AccessEvent): number {
  return Math.floor(e.raw.offset / PCI_NOTIFY_MULTIPLIER);
}

function notifications(t: ScenarioTrace): AccessEvent[] {
  return inSpace(t, "notify").filter((e) => e.kind === "write");
}

/** A trace with VIRTIO_F_NOTIFICATION_DATA offered (`on`) or withheld, and its notifications. */
async function notifyTrace(ctx: DriverClauseContext, on: boolean): Promise<AccessEvent[]> {
  const base = await ctx.scenarios.baseline();
  const offered = on ? base.offered | bit(F.NOTIFICATION_DATA) : base.offered & ~bit(F.NOTIFICATION_DATA);
  // A watched driver's own device offers what it offers: its run counts for the case it negotiated.
  const t = ctx.scenarios.watched ? base : await ctx.scenarios.run({ knobs: { offered } });
  const data = (accepted(t) & bit(F.NOTIFICATION_DATA)) !== 0n;
  if (data !== on) {
    notApplicable(
      on ? "the driver did not negotiate VIRTIO_F_NOTIFICATION_DATA" : "the driver negotiated an unoffered feature",
    );
  }
  const n = notifications(t);
  if (n.length === 0) notApplicable("the driver sent no available-buffer notification");
  return n;
}

export const notify16 = defineDriverClause({
  label: NOTIFY,
  statement: 1,
  level: "MUST",
  applies: PCI,
  title: "16-bit notifications without VIRTIO_F_NOTIFICATION_DATA",
  requirement: "Without VIRTIO_F_NOTIFICATION_DATA, every write to the notification structure is 16 bits wide.",
  action: "Withholds VIRTIO_F_NOTIFICATION_DATA, has the driver do its work and checks the width of each " +
    "notification.",
  async run(ctx) {
    const bad = (await notifyTrace(ctx, false)).filter((e) => e.width !== 2);
    expectNone("16-bit notifications", bad, fmtAccess);
  },
});

export const notify32 = defineDriverClause({
  label: NOTIFY,
  statement: 2,
  level: "MUST",
  applies: PCI,
  title: "32-bit notifications with VIRTIO_F_NOTIFICATION_DATA",
  requirement: "With VIRTIO_F_NOTIFICATION_DATA negotiated, every write to the notification structure is 32 " +
    "bits wide.",
  action: "Offers VIRTIO_F_NOTIFICATION_DATA, has the driver do its work and checks the width of each " +
    "notification.",
  async run(ctx) {
    const bad = (await notifyTrace(ctx, true)).filter((e) => e.width !== 4);
    expectNone("32-bit notifications", bad, fmtAccess);
  },
});

export const notifyValueIsIndex = defineDriverClause({
  label: NOTIFY,
  statement: 3,
  level: "MUST",
  applies: PCI,
  title: "notification value is the queue index",
  requirement: "Without VIRTIO_F_NOTIFICATION_DATA (and without VIRTIO_F_NOTIF_CONFIG_DATA), the value written " +
    "is the index of the notified virtqueue.",
  action: "Withholds VIRTIO_F_NOTIFICATION_DATA and compares each notification value with the queue its " +
    "address belongs to.",
  async run(ctx) {
    const bad = (await notifyTrace(ctx, false)).filter((e) => e.raw.value !== notifiedQueue(e));
    expectNone("each notification value equal to its queue's index", bad, fmtAccess);
  },
});

export const notifyDataIndex = defineDriverClause({
  label: NOTIFY,
  statement: 4,
  level: "MUST",
  applies: PCI,
  title: "vq_index of notification data is the queue index",
  requirement: "With VIRTIO_F_NOTIFICATION_DATA (and without VIRTIO_F_NOTIF_CONFIG_DATA), the low 16 bits of " +
    "the notification carry the index of the notified virtqueue.",
  action: "Offers VIRTIO_F_NOTIFICATION_DATA and compares the vq_index of each notification with the queue its " +
    "address belongs to.",
  async run(ctx) {
    const bad = (await notifyTrace(ctx, true)).filter((e) => (e.raw.value & 0xffff) !== notifiedQueue(e));
    expectNone("each vq_index equal to its queue's index", bad, fmtAccess);
  },
});

// ------------------------------------------------------ configuration change

const SMALL_CAPACITY = 64;
const LARGE_CAPACITY = 2048;

export const sharedInterrupt = defineDriverClause({
  label: CONFIG_CHANGE,
  statement: 1,
  level: "MUST",
  applies: PCI,
  title: "one interrupt for a configuration change and used buffers handled",
  requirement: "When a single interrupt reports both a configuration change and used buffers, the driver " +
    "handles both: it collects the used buffers and looks at the device again (its status or configuration).",
  action: "Presents a device that, with its first used buffer, changes its configuration (a blk device grows) " +
    "and raises one interrupt for both events; checks the request completes and that after reading ISR status " +
    "with both causes the driver reads device_status or the device-specific configuration before it next " +
    "writes device_status. A watched driver is judged on the first ISR read of its run that reported both.",
  async run(ctx) {
    let combined = false;
    if (ctx.scenarios.watched) {
      // A real driver beside its own device: judged where its device happened to report both (INTx, a resize).
      const t = await ctx.scenarios.baseline();
      if (!t.probe.bound) notApplicable(`the driver did not bind: ${t.probe.error ?? "no reason given"}`);
      return expectLooksAfterBoth(t);
    }
    const t = await ctx.scenarios.run({
      configure: (core, fn) => {
        if (ctx.deviceType === "blk") le.setU64(fn.config, 0, SMALL_CAPACITY);
        const raise = core.raise.bind(core);
        core.raise = (cause, queue) => {
          if (!combined && (cause & Irq.USED) && (core.status & Status.DRIVER_OK)) {
            combined = true;
            if (ctx.deviceType === "blk") le.setU64(fn.config, 0, LARGE_CAPACITY);
            core.configGeneration = (core.configGeneration + 1) >>> 0;
            cause |= Irq.CONFIG;
          }
          raise(cause, queue);
        };
      },
    });
    if (!t.probe.bound) notApplicable(`the driver did not bind: ${t.probe.error ?? "no reason given"}`);
    if (!combined) notApplicable("the device never had a used buffer to report");
    const first = t.results[0];
    expectThat(
      first?.ok === true,
      "the request completed with the combined interrupt to succeed",
      () => first && !first.ok ? first.error : "no result",
    );
    expectLooksAfterBoth(t);
  },
});

/** After the first ISR read that reported both causes, the driver reads device_status or the configuration. */
function expectLooksAfterBoth(t: ScenarioTrace): void {
  const acc = accesses(t);
  const isr = acc.findIndex((e) => e.raw.space === "isr" && (e.raw.value & 3) === 3);
  if (isr < 0) notApplicable("the driver never read ISR status with both causes set (it used no INTx interrupt)");
  const isStatus = (e: AccessEvent) => e.raw.space === "common" && e.raw.offset === CommonCfg.device_status;
  let looked = false;
  for (const e of acc.slice(isr + 1)) {
    if (e.kind === "write" && isStatus(e)) break;
    if (e.kind === "read" && (isStatus(e) || e.raw.space === "device")) {
      looked = true;
      break;
    }
  }
  expectThat(
    looked,
    "a device_status or configuration read after the ISR read that reported both causes",
    () => `none before the next device_status write (ISR read ${fmtAccess(acc[isr]!)})`,
  );
}

/** The driver clauses of spec 4.1.4.5.2, 4.1.5.1.2.2, 4.1.5.2.1 and 4.1.5.4.2. */
export const PCI_NOTIFY_MSIX_DRIVER_CLAUSES = [
  noIsrWithMsix,
  anyTableSize,
  vectorsInsideTable,
  readsBackVector,
  notify16,
  notify32,
  notifyValueIsIndex,
  notifyDataIndex,
  sharedInterrupt,
];
