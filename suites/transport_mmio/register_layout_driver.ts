/**
 * Driver clauses of spec 4.2.2 MMIO Device Register Layout and 4.2.3 MMIO-specific
 * Initialization And Device Operation.
 *
 * @module
 */
import fc from "fast-check";
import { defineDriverClause, type DriverClauseContext } from "../../harness/core/clause.ts";
import { bit, F } from "../../harness/features.ts";
import { fieldAccessWidth } from "../../harness/models/device/device_function.ts";
import { configLayoutOf } from "../../harness/device_types.ts";
import { checkProperty } from "../../harness/core/property.ts";
import type { AccessEvent, ScenarioTrace } from "../../harness/roles/harness_device.ts";

import {
  Mmio,
  MMIO_QUEUE_LAYOUT_REGISTERS,
  MMIO_SHM_REGISTERS,
  mmioName,
  mmioRegisterAt,
} from "../../harness/transport/mmio_layout.ts";
import { expectNone, expectThat, notApplicable } from "../../harness/verify.ts";
import { accepted, accesses, fmtAccess } from "../driver_trace.ts";

/** Every clause here reads MMIO register accesses. */
const MMIO = { transports: ["mmio" as const] };

const LAYOUT = "drivernormative:Virtio Transport Options / Virtio Over MMIO / MMIO Device Register Layout";
const INIT =
  "drivernormative:Virtio Transport Options / Virtio Over MMIO / MMIO-specific Initialization And Device Operation / Device Initialization";
const IRQ =
  "drivernormative:Virtio Transport Options / Virtio Over MMIO / MMIO-specific Initialization And Device Operation / Notifications From The Device";

/** Baseline plus the scenarios that exercise interrupts with undefined bits and queue resets. */
async function broadTraces(ctx: DriverClauseContext): Promise<ScenarioTrace[]> {
  // A watched driver's device cannot be varied: its one run is the evidence.
  if (ctx.scenarios.watched) return [await ctx.scenarios.baseline()];
  return [
    await ctx.scenarios.baseline(),
    await ctx.scenarios.run({ identity: { interruptJunk: 0xfc } }),
    await ctx.scenarios.run({ knobs: { queueResetReads: 2 }, workloads: [{ kind: "queue-reset", queue: 0 }] }),
  ];
}

function allAccesses(traces: ScenarioTrace[]): AccessEvent[] {
  return traces.flatMap(accesses);
}

function configSize(ctx: DriverClauseContext): number {
  return Math.max(0, ...configLayoutOf(ctx.deviceType).map((f) => f.offset + f.size));
}

export const onlyDescribedLocations = defineDriverClause({
  label: LAYOUT,
  statement: 1,
  level: "MUST NOT",
  applies: MMIO,
  title: "no access outside the described registers and configuration fields",
  requirement: "The driver accesses only the registers of the MMIO layout and, in configuration space, only the " +
    "fields the device type defines.",
  action: "Records every register access of the driver through probe, work (with interrupts and a queue reset) " +
    "and removal, and checks each offset against the layout and the device type's configuration size.",
  async run(ctx) {
    const size = configSize(ctx);
    const bad = allAccesses(await broadTraces(ctx)).filter((e) =>
      e.offset >= Mmio.Config
        ? e.offset + e.width > Mmio.Config + size
        : mmioRegisterAt(e.offset - (e.offset % 4)) === undefined
    );
    expectNone(`accesses only to described registers and the ${size}-byte configuration`, bad, fmtAccess);
  },
});

export const noWriteToReadOnly = defineDriverClause({
  label: LAYOUT,
  statement: 2,
  level: "MUST NOT",
  applies: MMIO,
  title: "no write to a read-only register",
  requirement: "The driver never writes a register the layout marks read-only.",
  action: "Records the driver's register accesses and looks for writes to read-only registers.",
  async run(ctx) {
    const bad = allAccesses(await broadTraces(ctx)).filter((e) =>
      e.kind === "write" && mmioRegisterAt(e.offset)?.direction === "R"
    );
    expectNone("no write to a read-only register", bad, fmtAccess);
  },
});

export const noReadFromWriteOnly = defineDriverClause({
  label: LAYOUT,
  statement: 3,
  level: "MUST NOT",
  applies: MMIO,
  title: "no read from a write-only register",
  requirement: "The driver never reads a register the layout marks write-only.",
  action: "Records the driver's register accesses and looks for reads of write-only registers.",
  async run(ctx) {
    const bad = allAccesses(await broadTraces(ctx)).filter((e) =>
      e.kind === "read" && mmioRegisterAt(e.offset)?.direction === "W"
    );
    expectNone("no read of a write-only register", bad, fmtAccess);
  },
});

export const wordAccesses = defineDriverClause({
  label: LAYOUT,
  statement: 4,
  level: "MUST",
  applies: MMIO,
  title: "control registers accessed as aligned 32-bit words",
  requirement: "Every access to a control register is 32 bits wide and 32-bit aligned.",
  action: "Records the driver's register accesses below the configuration space and checks width and alignment.",
  async run(ctx) {
    const bad = allAccesses(await broadTraces(ctx)).filter((e) =>
      e.offset < Mmio.Config && (e.width !== 4 || e.offset % 4 !== 0)
    );
    expectNone("32-bit aligned accesses to control registers", bad, fmtAccess);
  },
});

export const configWidths = defineDriverClause({
  label: LAYOUT,
  statement: 5,
  level: "MUST",
  applies: MMIO,
  title: "configuration fields accessed at their own width",
  requirement: "The driver reads 8-bit fields with 8-bit accesses, 16-bit fields with aligned 16-bit accesses, " +
    "and 32- and 64-bit fields with aligned 32-bit accesses.",
  action: "Records the driver's configuration accesses and compares each with the width of the field it hits.",
  async run(ctx) {
    const layout = configLayoutOf(ctx.deviceType);
    const acc = allAccesses(await broadTraces(ctx)).filter((e) => e.offset >= Mmio.Config);
    if (acc.length === 0) notApplicable("the driver made no configuration access");
    const bad = acc.filter((e) => {
      const off = e.offset - Mmio.Config;
      const f = layout.find((x) => off >= x.offset && off < x.offset + x.size);
      if (!f) return true;
      const w = fieldAccessWidth(f);
      return e.width !== w || (off - f.offset) % w !== 0;
    });
    expectNone("each configuration access at its field's width and alignment", bad, fmtAccess);
  },
});

/** Runs a scenario with identification overrides and returns the driver's writes. */
/**
 * How the driver treated a placeholder device (DeviceID 0): the harness presents one, or a watched driver's run
 * shows the empty slots it probed beside its device (formatted `window N: …`). Undefined: the run probed none.
 */
async function placeholderAccesses(
  ctx: DriverClauseContext,
): Promise<{ offset: number; kind: string; text: string }[]> {
  if (ctx.scenarios.watched) {
    const t = await ctx.scenarios.baseline();
    if (!t.placeholders?.length) notApplicable("the driver probed no placeholder device (DeviceID 0) in this run");
    return t.placeholders.map((a) => ({
      offset: a.offset,
      kind: a.kind,
      text: `window ${a.window}: ${a.kind} ${mmioName(a.offset)} ${a.kind === "write" ? "=" : "→"} 0x${
        a.value.toString(16)
      }`,
    }));
  }
  const t = await ctx.scenarios.run({ identity: { deviceId: 0 }, workloads: [] });
  return accesses(t).map((e) => ({ offset: e.offset, kind: e.kind, text: fmtAccess(e) }));
}

async function writesFor(ctx: DriverClauseContext, identity: { magic?: number; version?: number; deviceId?: number }) {
  const t = await ctx.scenarios.run({ identity, workloads: [] });
  return { t, writes: accesses(t).filter((e) => e.kind === "write") };
}

export const ignoresBadMagic = defineDriverClause({
  label: LAYOUT,
  statement: 6,
  level: "MUST",
  applies: MMIO,
  title: "a device with a wrong MagicValue is ignored",
  requirement: "The driver leaves alone a device whose MagicValue is not 0x74726976.",
  action: "Presents a device with a random wrong MagicValue and checks the driver writes no register.",
  async run(ctx) {
    await checkProperty(
      ctx,
      fc.integer({ min: 0, max: 0xffff_ffff }).filter((m) => m !== 0x74726976),
      async (magic) => {
        const { writes } = await writesFor(ctx, { magic });
        expectNone("no register write to a device with a wrong MagicValue", writes, fmtAccess);
      },
      (m) => `MagicValue 0x${m.toString(16)}`,
    );
  },
});

export const ignoresBadVersion = defineDriverClause({
  label: LAYOUT,
  statement: 8,
  level: "MUST",
  applies: MMIO,
  title: "a device with a Version other than 2 is ignored",
  requirement: "A driver of the version 2 interface leaves alone a device whose Version is not 2 (version 1 " +
    "being the legacy interface, which this clause does not present).",
  action: "Presents devices with Version 0 or 3 and up and checks the driver writes no register.",
  async run(ctx) {
    await checkProperty(ctx, fc.oneof(fc.constant(0), fc.integer({ min: 3, max: 0xffff_ffff })), async (version) => {
      const { writes } = await writesFor(ctx, { version });
      expectNone("no register write to a device with an unknown Version", writes, fmtAccess);
    }, (v) => `Version ${v}`);
  },
});

export const ignoresDeviceIdZero = defineDriverClause({
  label: LAYOUT,
  statement: 10,
  level: "MUST",
  applies: MMIO,
  title: "a placeholder device (DeviceID 0) is ignored",
  requirement: "The driver leaves alone a device whose DeviceID is 0.",
  action: "Presents a placeholder device and checks the driver writes no register.",
  async run(ctx) {
    const writes = (await placeholderAccesses(ctx)).filter((e) => e.kind === "write");
    expectNone("no register write to a placeholder device", writes, (e) => e.text);
  },
});

export const noErrorForDeviceIdZero = defineDriverClause({
  label: LAYOUT,
  statement: 11,
  level: "MUST NOT",
  applies: MMIO,
  title: "no error reported for a placeholder device",
  requirement: "Finding a device with DeviceID 0 is not an error for the driver.",
  action: "Presents a placeholder device and checks the driver's probe reports no error.",
  async run(ctx) {
    const { t } = await writesFor(ctx, { deviceId: 0 });
    expectThat(t.probe.error === undefined, "no error from the probe", () => `the driver reported: ${t.probe.error}`);
  },
});

/** Accesses of `reg` not preceded (since the last reset) by a write of `sel`. */
function unselected(t: ScenarioTrace, reg: number, kind: "read" | "write", sel: number): AccessEvent[] {
  let selected = false;
  const bad: AccessEvent[] = [];
  for (const e of accesses(t)) {
    if (e.kind === "write" && e.offset === Mmio.Status && e.value === 0) selected = false;
    if (e.kind === "write" && e.offset === sel) selected = true;
    if (e.kind === kind && e.offset === reg && !selected) bad.push(e);
  }
  return bad;
}

export const selectBeforeDeviceFeatures = defineDriverClause({
  label: LAYOUT,
  statement: 12,
  level: "MUST",
  applies: MMIO,
  title: "DeviceFeaturesSel written before DeviceFeatures is read",
  requirement: "The driver selects a feature word through DeviceFeaturesSel before it reads DeviceFeatures.",
  action: "Checks every DeviceFeatures read in the trace for an earlier DeviceFeaturesSel write since the last reset.",
  async run(ctx) {
    const t = await ctx.scenarios.baseline();
    expectNone(
      "a DeviceFeaturesSel write before each DeviceFeatures read",
      unselected(t, Mmio.DeviceFeatures, "read", Mmio.DeviceFeaturesSel),
      fmtAccess,
    );
  },
});

export const selectBeforeDriverFeatures = defineDriverClause({
  label: LAYOUT,
  statement: 13,
  level: "MUST",
  applies: MMIO,
  title: "DriverFeaturesSel written before DriverFeatures is written",
  requirement: "The driver selects a feature word through DriverFeaturesSel before it writes DriverFeatures.",
  action: "Checks every DriverFeatures write in the trace for an earlier DriverFeaturesSel write since the last reset.",
  async run(ctx) {
    const t = await ctx.scenarios.baseline();
    expectNone(
      "a DriverFeaturesSel write before each DriverFeatures write",
      unselected(t, Mmio.DriverFeatures, "write", Mmio.DriverFeaturesSel),
      fmtAccess,
    );
  },
});

export const queueSizeWithinMax = defineDriverClause({
  label: LAYOUT,
  statement: 14,
  level: "MUST",
  applies: MMIO,
  title: "QueueSize at most QueueSizeMax",
  requirement: "The driver writes a QueueSize no larger than the QueueSizeMax the device presents.",
  action: "Presents devices with random QueueSizeMax values (1–1024) and checks every QueueSize write.",
  async run(ctx) {
    if (ctx.scenarios.watched) {
      // Against the QueueSizeMax the real device showed for the selected queue.
      const acc = accesses(await ctx.scenarios.baseline());
      const bad = acc.filter((e, i) => {
        if (e.kind !== "write" || e.offset !== Mmio.QueueSize) return false;
        const max = acc.slice(0, i).findLast((x) =>
          x.kind === "read" && x.offset === Mmio.QueueSizeMax && x.queueSel === e.queueSel
        );
        return max !== undefined && e.value > max.value;
      });
      return expectNone("QueueSize ≤ the QueueSizeMax read for the queue", bad, fmtAccess);
    }
    await checkProperty(ctx, fc.integer({ min: 1, max: 1024 }), async (max) => {
      const t = await ctx.scenarios.run({ queueSizeMax: max, workloads: [] });
      const bad = accesses(t).filter((e) => e.kind === "write" && e.offset === Mmio.QueueSize && e.value > max);
      expectNone(`QueueSize ≤ ${max}`, bad, fmtAccess);
    }, (max) => `QueueSizeMax ${max}`);
  },
});

export const layoutFrozenWhileReady = defineDriverClause({
  label: LAYOUT,
  statement: 15,
  level: "MUST NOT",
  applies: MMIO,
  title: "queue layout registers untouched while QueueReady is set",
  requirement: "While the selected queue's QueueReady is non-zero, the driver does not access QueueSize or the " +
    "queue address registers.",
  action: "Records the driver's accesses (including a queue reset) and flags layout-register accesses made while " +
    "the selected queue was ready.",
  async run(ctx) {
    const bad = allAccesses(await broadTraces(ctx)).filter((e) =>
      e.queueReady && MMIO_QUEUE_LAYOUT_REGISTERS.includes(e.offset)
    );
    expectNone("no layout-register access while QueueReady is set", bad, fmtAccess);
  },
});

export const readBackQueueReady = defineDriverClause({
  label: LAYOUT,
  statement: 17,
  level: "MUST",
  applies: MMIO,
  title: "QueueReady read back after writing 0",
  requirement: "When the driver writes 0 to QueueReady to stop using a queue, it reads QueueReady back before " +
    "going on with that queue.",
  action: "Finds QueueReady=0 writes in the trace and checks a QueueReady read follows before any other access " +
    "to queue registers.",
  async run(ctx) {
    const acc = allAccesses(await broadTraces(ctx));
    const stops = acc.map((e, i) => [e, i] as const).filter(([e]) =>
      e.kind === "write" && e.offset === Mmio.QueueReady && e.value === 0
    );
    if (stops.length === 0) notApplicable("the driver never stopped a queue through QueueReady");
    const bad = stops.filter(([, i]) => {
      const next = acc.slice(i + 1).find((x) =>
        x.offset === Mmio.QueueReady || x.offset === Mmio.QueueSel || MMIO_QUEUE_LAYOUT_REGISTERS.includes(x.offset)
      );
      return !(next?.kind === "read" && next.offset === Mmio.QueueReady);
    }).map(([e]) => e);
    expectNone("a QueueReady read after each QueueReady=0 write", bad, fmtAccess);
  },
});

export const ignoresUndefinedIsrBits = defineDriverClause({
  label: LAYOUT,
  statement: 18,
  level: "MUST",
  applies: MMIO,
  title: "undefined InterruptStatus bits ignored",
  requirement: "Bits of InterruptStatus the spec does not define have no effect on the driver.",
  action: "Presents a device whose InterruptStatus always has undefined bits set and checks the driver's work " +
    "still succeeds.",
  async run(ctx) {
    const t = await ctx.scenarios.run({ identity: { interruptJunk: 0xfffffffc } });
    expectThat(t.probe.bound, "the driver to bind", () => `probe: ${t.probe.error ?? "not bound"}`);
    const failed = t.results.filter((r) => !r.ok);
    expectNone("the work to succeed despite undefined InterruptStatus bits", failed, (r) => (r.ok ? "" : r.error));
  },
});

/** InterruptStatus reads with events, and whether a later InterruptACK covered those events. */
function unacknowledged(t: ScenarioTrace): AccessEvent[] {
  const acc = accesses(t);
  return acc.filter((e, i) => {
    if (e.kind !== "read" || e.offset !== Mmio.InterruptStatus || (e.value & 3) === 0) return false;
    const nextRead = acc.findIndex((x, j) => j > i && x.kind === "read" && x.offset === Mmio.InterruptStatus);
    const window = acc.slice(i + 1, nextRead < 0 ? undefined : nextRead + 1);
    const covered = window.filter((x) => x.kind === "write" && x.offset === Mmio.InterruptACK).reduce(
      (m, x) => m | x.value,
      0,
    );
    return (covered & e.value & 3) !== (e.value & 3);
  });
}

/** InterruptACK writes with event bits that no InterruptStatus read since the previous InterruptACK showed. */
function blindAcks(t: ScenarioTrace): AccessEvent[] {
  let seen = 0;
  const out: AccessEvent[] = [];
  for (const e of accesses(t)) {
    if (e.kind === "read" && e.offset === Mmio.InterruptStatus) seen |= e.value & 3;
    if (e.kind === "write" && e.offset === Mmio.InterruptACK) {
      if ((e.value & 3 & ~seen) !== 0) out.push(e);
      seen = 0;
    }
  }
  return out;
}

export const acknowledgesHandled = defineDriverClause({
  label: LAYOUT,
  statement: 19,
  level: "MUST",
  applies: MMIO,
  title: "handled interrupts acknowledged through InterruptACK",
  requirement: "After handling an interrupt the driver writes the bits of the events it handled to InterruptACK.",
  action: "Has the driver do work that completes with interrupts and checks that every event bit it read from " +
    "InterruptStatus is written to InterruptACK before it reads InterruptStatus again, and that it acknowledges " +
    "no event it has not read (an event acknowledged unseen is lost).",
  async run(ctx) {
    const t = await ctx.scenarios.baseline();
    if (!accesses(t).some((e) => e.offset === Mmio.InterruptStatus)) {
      notApplicable("the driver never read InterruptStatus");
    }
    expectNone("each event read from InterruptStatus acknowledged", unacknowledged(t), fmtAccess);
    expectNone("InterruptACK naming only events read from InterruptStatus since the last one", blindAcks(t), fmtAccess);
  },
});

export const noUndefinedAckBits = defineDriverClause({
  label: LAYOUT,
  statement: 20,
  level: "MUST NOT",
  applies: MMIO,
  title: "no undefined bit written to InterruptACK",
  requirement: "The driver never sets a bit in InterruptACK that InterruptStatus does not define.",
  action: "Has the driver handle interrupts, also from a device whose InterruptStatus shows undefined bits, and " +
    "checks every InterruptACK value.",
  async run(ctx) {
    const bad = allAccesses(await broadTraces(ctx)).filter((e) =>
      e.kind === "write" && e.offset === Mmio.InterruptACK && (e.value & ~3) !== 0
    );
    expectNone("InterruptACK values within bits 0 and 1", bad, fmtAccess);
  },
});

export const queueResetWaitsForZero = defineDriverClause({
  label: LAYOUT,
  statement: 21,
  level: "MUST NOT",
  applies: MMIO,
  title: "queue reset not taken as done before QueueReset reads 0",
  requirement: "With VIRTIO_F_RING_RESET negotiated, after writing 1 to QueueReset the driver treats the queue " +
    "reset as complete only once it has read 0 from QueueReset.",
  action: "Presents a device whose queue reset takes a few reads, asks the driver to reset queue 0, and checks it " +
    "does not touch the queue's set-up registers before reading QueueReset as 0.",
  async run(ctx) {
    const t = await ctx.scenarios.run({
      knobs: { queueResetReads: 3 },
      workloads: [{ kind: "queue-reset", queue: 0 }],
    });
    if (!(accepted(t) & bit(F.RING_RESET))) notApplicable("the driver did not negotiate VIRTIO_F_RING_RESET");
    const acc = accesses(t);
    const start = acc.findIndex((e) => e.kind === "write" && e.offset === Mmio.QueueReset && e.value === 1);
    if (start < 0) notApplicable("the driver did not reset a queue");
    const done = acc.findIndex((e, i) =>
      i > start && e.kind === "read" && e.offset === Mmio.QueueReset && e.value === 0
    );
    const early = acc.slice(start + 1, done < 0 ? undefined : done).filter((e) =>
      e.kind === "write" && (e.offset === Mmio.QueueReady || MMIO_QUEUE_LAYOUT_REGISTERS.includes(e.offset))
    );
    expectNone("no queue set-up before QueueReset reads 0", early, fmtAccess);
  },
});

export const identificationFirst = defineDriverClause({
  label: INIT,
  statement: 1,
  level: "MUST",
  applies: MMIO,
  title: "initialization starts by reading MagicValue and Version",
  requirement: "The driver's first accesses to the device read and check MagicValue and Version.",
  action: "Checks the first two register accesses of the trace.",
  async run(ctx) {
    const acc = accesses(await ctx.scenarios.baseline());
    const first = acc.slice(0, 2);
    const ok = first.length === 2 && first.every((e) => e.kind === "read") &&
      new Set(first.map((e) => e.offset)).size === 2 && first.every((e) =>
        e.offset === Mmio.MagicValue || e.offset === Mmio.Version
      );
    expectThat(ok, "reads of MagicValue and Version first", () => `first accesses: ${first.map(fmtAccess).join(", ")}`);
  },
});

export const readsDeviceId = defineDriverClause({
  label: INIT,
  statement: 2,
  level: "MUST",
  applies: MMIO,
  title: "DeviceID read once MagicValue and Version are valid",
  requirement: "With a valid MagicValue and Version, the driver reads DeviceID before doing anything else.",
  action: "Checks that a DeviceID read comes before the driver's first register write.",
  async run(ctx) {
    const acc = accesses(await ctx.scenarios.baseline());
    const firstWrite = acc.findIndex((e) => e.kind === "write");
    const id = acc.findIndex((e) => e.kind === "read" && e.offset === Mmio.DeviceID);
    expectThat(
      id >= 0 && (firstWrite < 0 || id < firstWrite),
      "a DeviceID read before the first write",
      () => id < 0 ? "DeviceID never read" : `first write ${fmtAccess(acc[firstWrite]!)} came before DeviceID was read`,
    );
  },
});

export const abortsOnDeviceIdZero = defineDriverClause({
  label: INIT,
  statement: 3,
  level: "MUST",
  applies: MMIO,
  title: "initialization aborted for DeviceID 0",
  requirement: "When DeviceID reads 0 the driver stops initializing: it sets no status at all.",
  action: "Presents a placeholder device and checks there is no Status write.",
  async run(ctx) {
    const writes = (await placeholderAccesses(ctx)).filter((e) => e.kind === "write" && e.offset === Mmio.Status);
    expectNone("no Status write for a placeholder device", writes, (e) => e.text);
  },
});

export const nothingElseOnDeviceIdZero = defineDriverClause({
  label: INIT,
  statement: 4,
  level: "MUST NOT",
  applies: MMIO,
  title: "no other register accessed for DeviceID 0",
  requirement: "After reading DeviceID 0 the driver accesses no register besides MagicValue, Version and DeviceID.",
  action: "Presents a placeholder device and lists accesses to any other register.",
  async run(ctx) {
    const other = (await placeholderAccesses(ctx)).filter((e) =>
      ![Mmio.MagicValue, Mmio.Version, Mmio.DeviceID].includes(e.offset as 0)
    );
    expectNone("only MagicValue, Version and DeviceID accessed", other, (e) => e.text);
  },
});

export const noSharedMemoryRegisters = defineDriverClause({
  label: INIT,
  statement: 5,
  level: "MUST NOT",
  title: "shared-memory registers unused by drivers that expect none",
  requirement: "A driver for a device type without shared memory regions does not use the shared-memory registers.",
  action: "Records the driver's accesses to a device type without shared memory and looks for SHMSel, SHMLen* " +
    "and SHMBase* accesses.",
  applies: { transports: ["mmio"], deviceTypes: ["rng", "blk", "net", "console"] },
  async run(ctx) {
    const bad = allAccesses(await broadTraces(ctx)).filter((e) => MMIO_SHM_REGISTERS.includes(e.offset));
    expectNone("no shared-memory register access", bad, fmtAccess);
  },
});

export const genericInitFollows = defineDriverClause({
  label: INIT,
  statement: 6,
  level: "MUST",
  applies: MMIO,
  title: "generic initialization follows identification",
  requirement: "After identifying the device, the driver goes on with the generic initialization of spec 3.1, " +
    "which begins with a device reset.",
  action: "Checks that the first Status write after the identification reads is the reset (a write of 0); " +
    "reading Status first changes nothing and is allowed.",
  async run(ctx) {
    const acc = accesses(await ctx.scenarios.baseline());
    const firstStatus = acc.find((e) => e.offset === Mmio.Status && e.kind === "write");
    expectThat(
      firstStatus?.value === 0,
      "the first Status write to be the reset",
      () => firstStatus ? fmtAccess(firstStatus) : "no Status write",
    );
  },
});

export const readsIsrAfterInterrupt = defineDriverClause({
  label: IRQ,
  statement: 1,
  level: "MUST",
  applies: MMIO,
  title: "InterruptStatus read after an interrupt",
  requirement: "On receiving an interrupt the driver reads InterruptStatus to learn what caused it.",
  action: "Has the device complete requests with interrupts and checks an InterruptStatus read follows each " +
    "raised interrupt (before the removal begins, for one raised before it); n/a for a driver that never " +
    "subscribed to the interrupt line.",
  async run(ctx) {
    const t = await ctx.scenarios.baseline();
    // A driver that never took the interrupt line polls: it receives no interrupt to answer.
    if (t.listened === false) notApplicable("the driver never subscribed to the interrupt line (it polls)");
    const ev = t.events;
    const raised = ev.map((e, i) => [e, i] as const).filter(([e]) => e.kind === "irq" && e.level);
    if (raised.length === 0) notApplicable("no interrupt was raised");
    // An interrupt before the removal is answered before it; one during the removal, before the rest of the run
    // ends; one after the driver reset the device there is no longer the driver's to answer.
    const endAt = ev.findIndex((e) => e.kind === "phase" && e.phase === "remove");
    const resetAt = endAt < 0
      ? -1
      : ev.findIndex((e, j) => j > endAt && e.kind === "write" && e.offset === Mmio.Status && e.value === 0);
    const missed = raised.filter(([, i]) => {
      if (resetAt >= 0 && i > resetAt) return false;
      const until = endAt >= 0 && i < endAt ? endAt : ev.length;
      return !ev.some((x, j) => j > i && j < until && x.kind === "read" && x.offset === Mmio.InterruptStatus);
    });
    expectNone("an InterruptStatus read after each interrupt", missed, ([e]) => `interrupt at event #${e.seq}`);
  },
});

/** The driver clauses of spec 4.2.2 and 4.2.3. */
export const MMIO_DRIVER_CLAUSES = [
  onlyDescribedLocations,
  noWriteToReadOnly,
  noReadFromWriteOnly,
  wordAccesses,
  configWidths,
  ignoresBadMagic,
  ignoresBadVersion,
  ignoresDeviceIdZero,
  noErrorForDeviceIdZero,
  selectBeforeDeviceFeatures,
  selectBeforeDriverFeatures,
  queueSizeWithinMax,
  layoutFrozenWhileReady,
  readBackQueueReady,
  ignoresUndefinedIsrBits,
  acknowledgesHandled,
  noUndefinedAckBits,
  queueResetWaitsForZero,
  identificationFirst,
  readsDeviceId,
  abortsOnDeviceIdZero,
  nothingElseOnDeviceIdZero,
  noSharedMemoryRegisters,
  genericInitFollows,
  readsIsrAfterInterrupt,
];
