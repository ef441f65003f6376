/**
 * Device clauses of spec 3.4 Device Suspend (VIRTIO_F_SUSPEND, v1.4): the
 * SUSPEND bit before initialization, nothing done while suspended,
 * configuration notifications held until resume, suspend and resume (or
 * DEVICE_NEEDS_RESET) as asked.
 *
 * @module
 */
import fc from "fast-check";
import { defineDeviceClause, type DeviceClauseContext } from "../../harness/core/clause.ts";
import { checkProperty } from "../../harness/core/property.ts";
import { configLayoutOf } from "../../harness/device_types.ts";
import { bit, F } from "../../harness/features.ts";
import type { MemoryAccess } from "../../harness/memory.ts";
import { formatStatus, Status } from "../../harness/status.ts";
import { hex } from "../../harness/text.ts";
import { MmioInterrupt } from "../../harness/transport/mmio_layout.ts";
import { expectNone, expectThat, notApplicable } from "../../harness/verify.ts";
import { fmtAccess } from "../virtqueues/packed_device.ts";

const DEVICE = "devicenormative:General Initialization And Device Operation / Device Suspend";
const APPLIES = { offered: [F.SUSPEND] };
const QUEUE = 0;
/** Device time granted for a suspend or a resume to show in device status (a device may first finish its requests). */
const SETTLE_MS = 5000;
/** How long nothing may happen while suspended. */
const QUIET_MS = 100;

const withSuspend = (o: bigint) => o & (bit(F.VERSION_1) | bit(F.SUSPEND));

/** Initializes to DRIVER_OK with VIRTIO_F_SUSPEND negotiated. */
async function open(ctx: DeviceClauseContext): Promise<void> {
  const r = await ctx.driver.init("driver-ok", withSuspend);
  expectThat(r.featuresOk, "FEATURES_OK with VIRTIO_F_SUSPEND", () => formatStatus(r.status));
}

/** What a suspend or resume request ended in, within {@link SETTLE_MS} of device time. */
interface Outcome {
  status: number;
  done: boolean;
  needsReset: boolean;
}

/** Polls device status (bounded) until `done` holds or DEVICE_NEEDS_RESET shows. */
async function pollStatus(ctx: DeviceClauseContext, done: (s: number) => boolean): Promise<Outcome> {
  let status = await ctx.transport.getStatus();
  for (let granted = 0; granted < SETTLE_MS; granted += 10) {
    if (done(status) || (status & Status.DEVICE_NEEDS_RESET)) break;
    await ctx.driver.quiet(10);
    status = await ctx.transport.getStatus();
  }
  return { status, done: done(status), needsReset: (status & Status.DEVICE_NEEDS_RESET) !== 0 };
}

const isSuspended = (s: number) => (s & Status.SUSPEND) !== 0 && (s & Status.DRIVER_OK) === 0;
const isRunning = (s: number) => (s & Status.SUSPEND) === 0 && (s & Status.DRIVER_OK) !== 0;

/** Sets SUSPEND and waits until the device shows it suspended (or DEVICE_NEEDS_RESET). */
async function suspend(ctx: DeviceClauseContext): Promise<Outcome> {
  await ctx.transport.setStatus((await ctx.transport.getStatus()) | Status.SUSPEND);
  return await pollStatus(ctx, isSuspended);
}

/** Sets DRIVER_OK on a suspended device and waits until it runs again (or DEVICE_NEEDS_RESET). */
async function resume(ctx: DeviceClauseContext): Promise<Outcome> {
  await ctx.transport.setStatus((await ctx.transport.getStatus()) | Status.DRIVER_OK);
  return await pollStatus(ctx, isRunning);
}

/** Suspends; true when suspended, false when the device chose DEVICE_NEEDS_RESET (allowed: nothing more to check). */
async function suspendedOrSkip(ctx: DeviceClauseContext): Promise<boolean> {
  const s = await suspend(ctx);
  expectThat(
    s.done || s.needsReset,
    `SUSPEND=1 and DRIVER_OK=0, or DEVICE_NEEDS_RESET, within ${SETTLE_MS} ms of setting SUSPEND`,
    () => formatStatus(s.status),
  );
  return s.done;
}

export const suspendIgnoredBeforeInit = defineDeviceClause({
  label: DEVICE,
  statement: 1,
  level: "MUST",
  title: "SUSPEND written before initialization is complete is ignored",
  requirement: "Until the driver has completed initialization (DRIVER_OK), the device ignores the SUSPEND bit " +
    "in what the driver writes to device status.",
  action: "Initializes to a random stage short of DRIVER_OK (ACKNOWLEDGE, DRIVER, FEATURES_OK with " +
    "VIRTIO_F_SUSPEND, queues set up), writes device status with SUSPEND added, reads it back; then completes " +
    "initialization and checks that a request is served.",
  applies: APPLIES,
  async run(ctx) {
    const stages = ["acknowledge", "driver", "features-ok", "queues"] as const;
    await checkProperty(ctx, fc.constantFrom(...stages), async (stage) => {
      const r = await ctx.driver.init(stage, withSuspend);
      if (stage === "features-ok" || stage === "queues") {
        expectThat(r.featuresOk, "FEATURES_OK with VIRTIO_F_SUSPEND", () => formatStatus(r.status));
      }
      const before = await ctx.transport.getStatus();
      await ctx.transport.setStatus(before | Status.SUSPEND);
      await ctx.driver.quiet(10);
      const after = await ctx.transport.getStatus();
      expectThat(
        after === before,
        `device status unchanged (${formatStatus(before)}) after SUSPEND was written at stage ${stage}`,
        () => formatStatus(after),
      );
      if (stage !== "queues") return;
      await ctx.driver.addStatus(Status.DRIVER_OK);
      await ctx.driver.sampleRequest(QUEUE);
      await ctx.driver.kick(QUEUE);
      const used = await ctx.driver.waitUsed(QUEUE, 1);
      expectThat(used.length === 1, "the request served once DRIVER_OK is set", () => "not used");
    }, (stage) => `SUSPEND written at stage ${stage}`);
  },
});

export const nothingWhileSuspended = defineDeviceClause({
  label: DEVICE,
  statement: 3,
  level: "MUST NOT",
  title: "no notification, no virtqueue access, no configuration change while suspended",
  requirement: "While suspended, the device sends no notification for any virtqueue, touches no virtqueue and " +
    "changes nothing in its configuration space.",
  action: "Negotiates VIRTIO_F_SUSPEND, makes 1–4 requests available and notifies, sets SUSPEND at once and waits " +
    "until the device shows itself suspended; acknowledges any interrupt, reads the configuration space, lets the " +
    "device run, then checks the used index, the interrupt status, the device's memory accesses (when the adapter " +
    "records them) and the configuration space.",
  applies: APPLIES,
  async run(ctx) {
    await checkProperty(ctx, fc.integer({ min: 1, max: 4 }), async (requests) => {
      await open(ctx);
      const n = Math.min(requests, ctx.driver.sampleCapacity(QUEUE));
      for (let i = 0; i < n; i++) await ctx.driver.sampleRequest(QUEUE);
      await ctx.driver.kick(QUEUE);
      if (!await suspendedOrSkip(ctx)) return;
      await ctx.transport.ackInterrupt(await ctx.transport.interruptStatus());
      const config = await readConfig(ctx);
      const before = (await ctx.driver.waitUsed(QUEUE, n, 0)).length;
      ctx.session.takeMemoryTrace?.();
      await ctx.driver.quiet(QUIET_MS);
      const trace: MemoryAccess[] = ctx.session.takeMemoryTrace?.() ?? [];
      const later = await ctx.driver.waitUsed(QUEUE, 1, 0);
      const isr = await ctx.transport.interruptStatus();
      expectThat(
        later.length === 0,
        `no buffer used while suspended (${before} of ${n} were used before the device showed itself suspended)`,
        () => `${later.length} used while suspended`,
      );
      expectThat(isr === 0, "no interrupt while suspended", () => `interrupt status ${hex(isr)}`);
      expectNone("device memory accesses while suspended", trace, (a) => fmtAccess(a));
      const now = await readConfig(ctx);
      expectThat(now === config, `the configuration space unchanged (${config})`, () => now);
    }, (n) => `${n} request(s) made available just before SUSPEND`);
  },
});

/** The fields of the device type's configuration layout, as read (to compare; empty when it has none). */
async function readConfig(ctx: DeviceClauseContext): Promise<string> {
  const out: string[] = [];
  for (const f of configLayoutOf(ctx.deviceType)) {
    if (f.feature && !(ctx.driver.negotiated & bit(f.feature))) continue;
    const width = f.size === 1 || f.size === 2 ? f.size : 4;
    const words: string[] = [];
    for (let at = 0; at < f.size; at += width) {
      words.push(hex(await ctx.transport.readConfig(f.offset + at, width), 2 * width));
    }
    out.push(`${f.name}=${words.join(":")}`);
  }
  return out.join(" ");
}

/** Suspends the device, acknowledges what is pending and has the host change the configuration (false: NEEDS_RESET). */
async function changeWhileSuspended(ctx: DeviceClauseContext): Promise<boolean> {
  await open(ctx);
  if (!await suspendedOrSkip(ctx)) return false;
  await ctx.transport.ackInterrupt(await ctx.transport.interruptStatus());
  await ctx.session.triggerConfigChange?.();
  return true;
}

export const noConfigNotificationWhileSuspended = defineDeviceClause({
  label: DEVICE,
  statement: 4,
  level: "MUST NOT",
  title: "no configuration change notification while suspended",
  requirement: "A configuration change while the device is suspended is not notified while it stays suspended.",
  action: "Negotiates VIRTIO_F_SUSPEND, suspends the device, has the host change the configuration, lets the " +
    "device run and reads the interrupt status.",
  applies: { ...APPLIES, capabilities: ["configChange"] },
  async run(ctx) {
    if (!await changeWhileSuspended(ctx)) return;
    await ctx.driver.quiet(QUIET_MS);
    const isr = await ctx.transport.interruptStatus();
    expectThat(
      (isr & MmioInterrupt.CONFIG_CHANGE) === 0,
      "no configuration change notification while suspended",
      () => `interrupt status ${hex(isr)}`,
    );
  },
});

export const configNotificationAtResume = defineDeviceClause({
  label: DEVICE,
  statement: 5,
  level: "MUST",
  title: "a configuration change made while suspended is notified at resume",
  requirement: "A configuration change that happened while the device was suspended is notified once the device " +
    "resumes.",
  action: "Negotiates VIRTIO_F_SUSPEND, suspends the device, has the host change the configuration, resumes it " +
    "(DRIVER_OK) and waits (bounded) for a configuration change notification.",
  applies: { ...APPLIES, capabilities: ["configChange"] },
  async run(ctx) {
    if (!await changeWhileSuspended(ctx)) return;
    const r = await resume(ctx);
    if (r.needsReset) return;
    expectThat(r.done, `SUSPEND=0 and DRIVER_OK=1 within ${SETTLE_MS} ms of resuming`, () => formatStatus(r.status));
    let isr = 0;
    for (let granted = 0; granted < SETTLE_MS && !(isr & MmioInterrupt.CONFIG_CHANGE); granted += 10) {
      isr |= await ctx.transport.interruptStatus();
      if (!(isr & MmioInterrupt.CONFIG_CHANGE)) await ctx.driver.quiet(10);
    }
    expectThat(
      (isr & MmioInterrupt.CONFIG_CHANGE) !== 0,
      `a configuration change notification within ${SETTLE_MS} ms of resuming`,
      () => `interrupt status ${hex(isr)}`,
    );
  },
});

export const suspendsOrNeedsReset = defineDeviceClause({
  label: DEVICE,
  statement: 6,
  level: "MUST",
  title: "SUSPEND set: the device suspends or sets DEVICE_NEEDS_RESET",
  requirement: "When the driver sets SUSPEND, the device suspends (SUSPEND reads 1, DRIVER_OK 0) or, failing " +
    "that, sets DEVICE_NEEDS_RESET.",
  action: "Negotiates VIRTIO_F_SUSPEND, serves 0–3 requests, sets SUSPEND and polls device status (bounded).",
  applies: APPLIES,
  async run(ctx) {
    await checkProperty(ctx, fc.integer({ min: 0, max: 3 }), async (requests) => {
      await open(ctx);
      for (let i = 0; i < requests; i++) {
        await ctx.driver.sampleRequest(QUEUE);
        await ctx.driver.kick(QUEUE);
        expectThat((await ctx.driver.waitUsed(QUEUE, 1)).length === 1, "the request to be used", () => "not used");
      }
      await suspendedOrSkip(ctx);
    }, (n) => `${n} request(s) served before SUSPEND`);
  },
});

export const resumesOrNeedsReset = defineDeviceClause({
  label: DEVICE,
  statement: 7,
  level: "MUST",
  title: "DRIVER_OK set on a suspended device: it resumes or sets DEVICE_NEEDS_RESET",
  requirement: "When the driver sets DRIVER_OK on a suspended device, the device resumes normal operation " +
    "(SUSPEND reads 0, DRIVER_OK 1, requests are served) or, failing that, sets DEVICE_NEEDS_RESET.",
  action: "Negotiates VIRTIO_F_SUSPEND, suspends the device, sets DRIVER_OK, polls device status (bounded), then " +
    "makes 1–3 requests available and waits for them to be used.",
  applies: APPLIES,
  async run(ctx) {
    await checkProperty(ctx, fc.integer({ min: 1, max: 3 }), async (requests) => {
      await open(ctx);
      if (!await suspendedOrSkip(ctx)) return;
      const r = await resume(ctx);
      expectThat(
        r.done || r.needsReset,
        `SUSPEND=0 and DRIVER_OK=1, or DEVICE_NEEDS_RESET, within ${SETTLE_MS} ms of setting DRIVER_OK`,
        () => formatStatus(r.status),
      );
      if (!r.done) return;
      const n = Math.min(requests, ctx.driver.sampleCapacity(QUEUE));
      for (let i = 0; i < n; i++) await ctx.driver.sampleRequest(QUEUE);
      await ctx.driver.kick(QUEUE);
      const used = await ctx.driver.waitUsed(QUEUE, n);
      expectThat(used.length === n, `${n} request(s) served after resuming`, () => `${used.length} used`);
    }, (n) => `${n} request(s) after resuming`);
  },
});

export const drainsBeforeSuspended = defineDeviceClause({
  label: DEVICE,
  statement: 8,
  level: "SHOULD",
  title: "buffers started are used and notified before the device shows itself suspended",
  requirement: "Between SUSPEND being set and the device showing itself suspended, the device uses every buffer it " +
    "had started on, and sends the used-buffer notification for what it used.",
  action: "Negotiates VIRTIO_F_SUSPEND (split ring), makes 1–8 requests available with one notification, sets " +
    "SUSPEND at once and waits until the device shows itself suspended; then compares the requests whose head " +
    "descriptor the device had read (its memory trace) with the requests used, and looks for a used-buffer " +
    "notification when any was used.",
  applies: { ...APPLIES, capabilities: ["memoryTrace"] },
  async run(ctx) {
    if (ctx.deviceType === "net") {
      // The premise (a request whose head the device read is one it started) does not hold on a receive queue.
      notApplicable(
        "a net device may take receive buffers ahead of the frames that fill them: reading one is not starting a " +
          "request",
      );
    }
    await checkProperty(ctx, fc.integer({ min: 1, max: 8 }), async (requests) => {
      await open(ctx);
      const q = ctx.driver.queue(QUEUE);
      const n = Math.min(requests, ctx.driver.sampleCapacity(QUEUE));
      const heads: number[] = [];
      for (let i = 0; i < n; i++) heads.push((await ctx.driver.sampleRequest(QUEUE)).head);
      ctx.session.takeMemoryTrace?.();
      await ctx.driver.kick(QUEUE);
      if (!await suspendedOrSkip(ctx)) return;
      const trace = ctx.session.takeMemoryTrace?.() ?? [];
      const used = new Set((await ctx.driver.waitUsed(QUEUE, n, 0)).map((u) => u.id));
      const read = (h: number) =>
        trace.some((a) =>
          a.kind === "read" && a.addr <= q.addrs.desc + 16 * h && a.addr + a.length > q.addrs.desc + 16 * h
        );
      const started = heads.filter(read);
      expectNone(
        "every request the device started used before it showed itself suspended",
        started.filter((h) => !used.has(h)),
        (h) => `request with head ${h} was read but is not used`,
      );
      if (used.size === 0) return;
      const isr = await ctx.transport.interruptStatus();
      const notified = (isr & MmioInterrupt.USED_BUFFER) !== 0 || trace.some((a) => a.kind === "interrupt");
      expectThat(
        notified,
        `a used-buffer notification for the ${used.size} request(s) used`,
        () => `interrupt status ${hex(isr)}, no interrupt in the trace`,
      );
    }, (n) => `${n} request(s) made available, then SUSPEND at once`);
  },
});

/** The device clauses of spec 3.4. */
export const SUSPEND_DEVICE_CLAUSES = [
  suspendIgnoredBeforeInit,
  nothingWhileSuspended,
  noConfigNotificationWhileSuspended,
  configNotificationAtResume,
  suspendsOrNeedsReset,
  resumesOrNeedsReset,
  drainsBeforeSuspended,
];
