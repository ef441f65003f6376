/**
 * Device clauses of spec 4.2.2 MMIO Device Register Layout.
 *
 * @module
 */
import fc from "fast-check";
import { defineDeviceClause, type DeviceClauseContext } from "../../harness/core/clause.ts";
import { bit, F } from "../../harness/features.ts";
import { checkProperty } from "../../harness/core/property.ts";
import { HARNESS_CORE_FEATURES } from "../../harness/roles/harness_driver.ts";
import { formatStatus, Status } from "../../harness/status.ts";
import { Mmio, MMIO_MAGIC, MmioInterrupt } from "../../harness/transport/mmio_layout.ts";
import { expectEqual, expectThat } from "../../harness/verify.ts";
import { expectQuietDevice } from "../verifiers.ts";
import { hex } from "../../harness/text.ts";

const DEVICE = "devicenormative:Virtio Transport Options / Virtio Over MMIO / MMIO Device Register Layout";
const MMIO = { transports: ["mmio" as const] };
const RING_RESET = { transports: ["mmio" as const], offered: [F.RING_RESET] };
const withRingReset = (offered: bigint) => (offered & HARNESS_CORE_FEATURES) | bit(F.RING_RESET);

/** Reads a register of the selected queue. */
async function queueReg(ctx: DeviceClauseContext, q: number, offset: number): Promise<number> {
  await ctx.session.registers.write(Mmio.QueueSel, 4, q);
  return await ctx.session.registers.read(offset, 4);
}

export const magicValue = defineDeviceClause({
  label: DEVICE,
  statement: 1,
  level: "MUST",
  title: "MagicValue reads 0x74726976",
  requirement: 'The MagicValue register holds the little-endian string "virt" (0x74726976).',
  action: "Reads MagicValue at offset 0x000.",
  applies: MMIO,
  async run(ctx) {
    expectEqual("MagicValue", await ctx.session.registers.read(Mmio.MagicValue, 4), MMIO_MAGIC, hex);
  },
});

export const versionTwo = defineDeviceClause({
  label: DEVICE,
  statement: 2,
  level: "MUST",
  title: "Version reads 2",
  requirement: "A non-legacy virtio-mmio device reports version 2 in the Version register.",
  action: "Reads Version at offset 0x004.",
  applies: MMIO,
  async run(ctx) {
    expectEqual("Version", await ctx.session.registers.read(Mmio.Version, 4), 2);
  },
});

export const eventLatchedUntilAck = defineDeviceClause({
  label: DEVICE,
  statement: 3,
  level: "MUST",
  title: "InterruptStatus holds an event until acknowledged",
  requirement: "Each event stays visible as its bit in InterruptStatus from the moment it happens until the " +
    "driver acknowledges that bit through InterruptACK.",
  action: "Completes a request, reads InterruptStatus 1–4 times (the used-buffer bit must stay set and the line " +
    "high), acknowledges it and checks the bit and the line drop. Where the adapter can change the configuration, " +
    "then makes both events pending, acknowledges one of them and checks the other stays set with the line high.",
  applies: { ...MMIO, capabilities: ["interrupts"] },
  async run(ctx) {
    await checkProperty(ctx, fc.integer({ min: 1, max: 4 }), async (reads) => {
      await ctx.driver.init("driver-ok");
      await ctx.driver.sampleRequest(0);
      await ctx.driver.kick(0);
      const used = await ctx.driver.waitUsed(0, 1);
      expectThat(used.length === 1, "the request to be used", () => "no used buffer within the deadline");
      for (let i = 0; i < reads; i++) {
        const isr = await ctx.transport.interruptStatus();
        const level = await ctx.session.interruptLevel();
        expectThat(
          (isr & MmioInterrupt.USED_BUFFER) !== 0 && level,
          `used-buffer bit set and line high on read ${i + 1} before the acknowledgement`,
          () => `InterruptStatus ${hex(isr)}, line ${level ? "high" : "low"}`,
        );
      }
      await ctx.transport.ackInterrupt(MmioInterrupt.USED_BUFFER);
      await ctx.driver.quiet(5);
      const after = await ctx.transport.interruptStatus();
      expectThat(
        (after & MmioInterrupt.USED_BUFFER) === 0,
        "used-buffer bit clear after InterruptACK",
        () => `InterruptStatus ${hex(after)}`,
      );
      if (!ctx.session.capabilities.configChange || !ctx.session.triggerConfigChange) return;
      // Two events pending: acknowledging one leaves the other (odd read counts acknowledge the used buffer first).
      await ctx.driver.sampleRequest(0);
      await ctx.driver.kick(0);
      expectThat((await ctx.driver.waitUsed(0, 1)).length === 1, "the second request to be used", () => "none");
      await ctx.session.triggerConfigChange();
      await ctx.driver.quiet(5);
      const both = MmioInterrupt.USED_BUFFER | MmioInterrupt.CONFIG_CHANGE;
      const pending = await ctx.transport.interruptStatus();
      expectThat((pending & both) === both, "both event bits set", () => `InterruptStatus ${hex(pending)}`);
      const first = reads % 2 ? MmioInterrupt.USED_BUFFER : MmioInterrupt.CONFIG_CHANGE;
      const other = both & ~first;
      await ctx.transport.ackInterrupt(first);
      await ctx.driver.quiet(5);
      const left = await ctx.transport.interruptStatus();
      const level = await ctx.session.interruptLevel();
      expectThat(
        (left & first) === 0 && (left & other) !== 0 && level,
        `only bit ${hex(first)} cleared by InterruptACK ${hex(first)}, bit ${hex(other)} still set, line high`,
        () => `InterruptStatus ${hex(left)}, line ${level ? "high" : "low"}`,
      );
      await ctx.transport.ackInterrupt(other);
    }, (reads) =>
      `${reads} read(s) of InterruptStatus before InterruptACK` +
      (ctx.session.capabilities.configChange
        ? `, then ${reads % 2 ? "used buffer" : "configuration"} acked first`
        : ""));
  },
});

type Step = "request" | "config-change" | "ack-used" | "ack-config";

export const noPhantomEvents = defineDeviceClause({
  label: DEVICE,
  statement: 4,
  level: "MUST",
  title: "no InterruptStatus bit without its event",
  requirement: "InterruptStatus bits that stand for events which did not happen (and every undefined bit) read 0.",
  action: "Initializes (a used-buffer notification the device sends at DRIVER_OK is acknowledged first), runs " +
    "random sequences of requests, host configuration changes (where the adapter can make them) and " +
    "acknowledgements; after each step compares InterruptStatus with the events that happened and are not " +
    "yet acknowledged.",
  applies: MMIO,
  async run(ctx) {
    const steps: Step[] = ["request", "ack-used", "ack-config"];
    if (ctx.session.capabilities.configChange) steps.push("config-change");
    await checkProperty(ctx, fc.array(fc.constantFrom(...steps), { minLength: 1, maxLength: 8 }), async (seq) => {
      await ctx.driver.init("driver-ok");
      // A device may notify at DRIVER_OK with nothing used, on its own time (a vhost-user back end signals once when
      // it is handed its interrupt channel): let that one used-buffer notification in and acknowledge it; any other
      // bit at that point is still a phantom.
      await ctx.driver.letStartSignalIn(async (ms) => {
        if (ctx.session.capabilities.interrupts) await ctx.session.settle(ms, () => ctx.session.interruptLevel());
        if (!((await ctx.transport.interruptStatus()) & MmioInterrupt.USED_BUFFER)) return false;
        await ctx.transport.ackInterrupt(MmioInterrupt.USED_BUFFER);
        return true;
      });
      let pending = 0;
      const check = async (after: string) => {
        const isr = await ctx.transport.interruptStatus();
        expectThat(
          (isr & ~pending) === 0,
          `InterruptStatus within ${hex(pending)} after ${after}`,
          () => `InterruptStatus ${hex(isr)}`,
        );
      };
      await check("initialization");
      for (const step of seq) {
        if (step === "request") {
          await ctx.driver.sampleRequest(0);
          await ctx.driver.kick(0);
          await ctx.driver.waitUsed(0, 1);
          pending |= MmioInterrupt.USED_BUFFER;
        } else if (step === "config-change") {
          await ctx.session.triggerConfigChange?.();
          await ctx.driver.quiet(5);
          pending |= MmioInterrupt.CONFIG_CHANGE;
        } else {
          const b = step === "ack-used" ? MmioInterrupt.USED_BUFFER : MmioInterrupt.CONFIG_CHANGE;
          await ctx.transport.ackInterrupt(b);
          pending &= ~b;
        }
        await check(step);
      }
    }, (seq) => seq.join(" → "));
  },
});

export const resetClearsInterruptsAndReady = defineDeviceClause({
  label: DEVICE,
  statement: 5,
  level: "MUST",
  title: "reset clears InterruptStatus and every QueueReady",
  requirement: "A device reset clears every InterruptStatus bit and the ready bit of every queue.",
  action: "Initializes, completes a request so an interrupt is pending, resets, then reads InterruptStatus and " +
    "QueueReady of each queue.",
  applies: MMIO,
  async run(ctx) {
    await ctx.driver.init("driver-ok");
    await ctx.driver.sampleRequest(0);
    await ctx.driver.kick(0);
    await ctx.driver.waitUsed(0, 1);
    await ctx.transport.reset();
    await ctx.driver.quiet(5);
    expectEqual("InterruptStatus after reset", await ctx.transport.interruptStatus(), 0, hex);
    for (const q of ctx.driver.queues.keys()) {
      expectEqual(`QueueReady of queue ${q} after reset`, await queueReg(ctx, q, Mmio.QueueReady), 0);
    }
  },
});

export const generationChanges = defineDeviceClause({
  label: DEVICE,
  statement: 6,
  level: "MUST",
  title: "ConfigGeneration changes with the configuration",
  requirement: "Whenever the configuration changes in a way a driver could observe half-way, the device presents " +
    "a different ConfigGeneration value.",
  action: "Reads ConfigGeneration and the configuration, has the host change the configuration (e.g. a resize), " +
    "and reads ConfigGeneration again.",
  applies: { ...MMIO, capabilities: ["configChange"] },
  async run(ctx) {
    await ctx.driver.init("driver-ok");
    const before = await ctx.transport.configGeneration();
    await ctx.session.triggerConfigChange?.();
    await ctx.driver.quiet(5);
    const after = await ctx.transport.configGeneration();
    expectThat(after !== before, "a new ConfigGeneration after a configuration change", () => `still ${before}`);
  },
});

export const noAccessWhileNotReady = defineDeviceClause({
  label: DEVICE,
  statement: 7,
  level: "MUST NOT",
  title: "queue untouched while QueueReady is 0",
  requirement: "The device does not access a virtqueue's memory while that queue's QueueReady reads 0.",
  action: "Either programs a queue without ever setting QueueReady, or enables it and disables it again (with the " +
    "read-back); then sets DRIVER_OK, makes requests available, notifies and checks the used ring, the " +
    "interrupt state and the device's memory accesses.",
  applies: MMIO,
  async run(ctx) {
    await checkProperty(ctx, fc.constantFrom("never-enabled", "disabled"), async (mode) => {
      const init = await ctx.driver.init("features-ok");
      expectThat(init.featuresOk, "FEATURES_OK accepted", () => formatStatus(init.status));
      const q = await ctx.driver.setupQueue(0, undefined, mode === "disabled");
      if (mode === "disabled") {
        await ctx.transport.disableQueue(0);
        expectEqual("QueueReady after writing 0", await queueReg(ctx, 0, Mmio.QueueReady), 0);
      }
      await ctx.driver.addStatus(Status.DRIVER_OK);
      await ctx.driver.sampleRequest(0);
      ctx.session.takeMemoryTrace?.();
      await ctx.driver.kick(0);
      await ctx.driver.quiet(30);
      await expectQuietDevice(ctx, [q], "while QueueReady is 0");
    }, (mode) => mode);
  },
});

/** Initializes with RING_RESET negotiated, to DRIVER_OK. */
async function initWithRingReset(ctx: DeviceClauseContext): Promise<void> {
  const r = await ctx.driver.init("driver-ok", withRingReset);
  expectThat(r.featuresOk, "FEATURES_OK with VIRTIO_F_RING_RESET", () => formatStatus(r.status));
}

/** Starts a queue reset and polls QueueReset until it reads 0; returns the values read. */
async function queueResetReads(ctx: DeviceClauseContext, q: number, max = 64): Promise<number[]> {
  await ctx.session.registers.write(Mmio.QueueSel, 4, q);
  await ctx.session.registers.write(Mmio.QueueReset, 4, 1);
  const reads: number[] = [];
  for (let i = 0; i < max; i++) {
    const v = await ctx.session.registers.read(Mmio.QueueReset, 4);
    reads.push(v);
    if (v === 0) break;
    await ctx.driver.quiet(2);
  }
  return reads;
}

export const queueResetZeroOnReset = defineDeviceClause({
  label: DEVICE,
  statement: 8,
  level: "MUST",
  title: "QueueReset reads 0 after a device reset",
  requirement: "With VIRTIO_F_RING_RESET negotiated, QueueReset reads 0 for every queue after a device reset.",
  action: "Negotiates RING_RESET, starts a queue reset, resets the device at once, negotiates again and reads " +
    "QueueReset of each queue.",
  applies: RING_RESET,
  async run(ctx) {
    await initWithRingReset(ctx);
    await ctx.session.registers.write(Mmio.QueueSel, 4, 0);
    await ctx.session.registers.write(Mmio.QueueReset, 4, 1);
    await initWithRingReset(ctx);
    for (const q of ctx.driver.queues.keys()) {
      expectEqual(`QueueReset of queue ${q} after a device reset`, await queueReg(ctx, q, Mmio.QueueReset), 0);
    }
  },
});

export const queueResetZeroWhenEnabled = defineDeviceClause({
  label: DEVICE,
  statement: 9,
  level: "MUST",
  title: "QueueReset reads 0 once the queue is enabled",
  requirement: "With VIRTIO_F_RING_RESET negotiated, a queue enabled through QueueReady reads 0 in QueueReset.",
  action: "Negotiates RING_RESET, enables the queues and reads QueueReset of each.",
  applies: RING_RESET,
  async run(ctx) {
    await initWithRingReset(ctx);
    for (const q of ctx.driver.queues.keys()) {
      expectEqual(`QueueReset of enabled queue ${q}`, await queueReg(ctx, q, Mmio.QueueReset), 0);
    }
  },
});

export const queueResetResets = defineDeviceClause({
  label: DEVICE,
  statement: 10,
  level: "MUST",
  title: "writing 1 to QueueReset resets the queue",
  requirement: "Writing 1 to QueueReset resets the selected queue: the device forgets its rings and stops using them.",
  action: "Negotiates RING_RESET, resets queue 0 and waits for completion, then makes a request available in the " +
    "old rings and notifies; the device must not use it. Then sets the queue up afresh and checks it works.",
  applies: RING_RESET,
  async run(ctx) {
    await initWithRingReset(ctx);
    const old = ctx.driver.splitQueue(0);
    await queueResetReads(ctx, 0);
    await ctx.driver.sampleRequest(0);
    ctx.session.takeMemoryTrace?.();
    await ctx.driver.kick(0);
    await ctx.driver.quiet(30);
    const used = await old.usedIdx();
    expectThat(used === 0, "the old rings left alone after the queue reset", () => `used idx moved to ${used}`);
    await ctx.driver.setupQueue(0);
    await ctx.driver.sampleRequest(0);
    await ctx.driver.kick(0);
    const got = await ctx.driver.waitUsed(0, 1);
    expectThat(got.length === 1, "the re-enabled queue to serve a request", () => "no used buffer within the deadline");
  },
});

export const queueResetStaysOne = defineDeviceClause({
  label: DEVICE,
  statement: 11,
  level: "MUST",
  title: "QueueReset reads 1 until the reset completes",
  requirement: "While a queue reset is in progress QueueReset reads 1; it does not read 0 before the reset is " +
    "done, nor 1 again afterwards.",
  action: "Starts a queue reset and polls QueueReset: the reads must be some 1s then 0s, and at the first 0 the " +
    "queue must already be reset (QueueReady 0).",
  applies: RING_RESET,
  async run(ctx) {
    await initWithRingReset(ctx);
    const reads = await queueResetReads(ctx, 0);
    for (let i = 0; i < 3; i++) reads.push(await ctx.session.registers.read(Mmio.QueueReset, 4));
    const first0 = reads.indexOf(0);
    const backToOne = first0 >= 0 && reads.slice(first0).some((v) => v !== 0);
    expectThat(first0 >= 0 && !backToOne, "QueueReset reads 1…1 then stays 0", () => `reads ${reads.join(",")}`);
    expectEqual("QueueReady when QueueReset first reads 0", await queueReg(ctx, 0, Mmio.QueueReady), 0);
  },
});

export const queueResetCompletes = defineDeviceClause({
  label: DEVICE,
  statement: 12,
  level: "MUST",
  title: "QueueReset and QueueReady read 0 after the queue reset",
  requirement: "When a queue reset completes, both QueueReset and QueueReady of that queue read 0.",
  action: "Starts a queue reset on an enabled queue, polls QueueReset (bounded) and reads QueueReady.",
  applies: RING_RESET,
  async run(ctx) {
    await initWithRingReset(ctx);
    const reads = await queueResetReads(ctx, 0);
    expectThat(
      reads.at(-1) === 0,
      "the queue reset to complete (QueueReset 0)",
      () => `QueueReset still ${reads.at(-1)} after ${reads.length} reads`,
    );
    expectEqual("QueueReady after the queue reset", await queueReg(ctx, 0, Mmio.QueueReady), 0);
  },
});

/** The device clauses of spec 4.2.2. */
export const MMIO_LAYOUT_DEVICE_CLAUSES = [
  magicValue,
  versionTwo,
  eventLatchedUntilAck,
  noPhantomEvents,
  resetClearsInterruptsAndReady,
  generationChanges,
  noAccessWhileNotReady,
  queueResetZeroOnReset,
  queueResetZeroWhenEnabled,
  queueResetResets,
  queueResetStaysOne,
  queueResetCompletes,
];
