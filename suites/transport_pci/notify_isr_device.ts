/**
 * Device clauses of spec 4.1.4.5.1 beyond the capability's presence: ISR
 * status bits set before a notification, the PCI Status interrupt bit
 * mirroring ISR status without MSI-X, and read-to-clear.
 *
 * @module
 */
import fc from "fast-check";
import { defineDeviceClause, type DeviceClauseContext } from "../../harness/core/clause.ts";
import { checkProperty } from "../../harness/core/property.ts";
import type { PciDriverTransport } from "../../harness/transport/pci_driver.ts";
import { PciIsr, PciStatus } from "../../harness/transport/pci_layout.ts";
import { expectEqual, expectThat } from "../../harness/verify.ts";
import { hex, ISR, MsixCapture, ON_PCI, pciOf } from "./helpers_device.ts";

/** Completes one request on queue 0 (DRIVER_OK already set). */
async function completeRequest(ctx: DeviceClauseContext): Promise<void> {
  await ctx.driver.sampleRequest(0);
  await ctx.driver.kick(0);
  const used = await ctx.driver.waitUsed(0, 1);
  expectThat(used.length === 1, "the request to be used", () => "no used buffer within the deadline");
}

/** Waits (bounded) for the INTx line to rise; returns whether it did. */
async function waitLine(ctx: DeviceClauseContext, ms = 500): Promise<boolean> {
  if (await ctx.session.interruptLevel()) return true;
  await ctx.session.settle(ms, () => ctx.session.interruptLevel());
  return await ctx.session.interruptLevel();
}

/** The PCI Status register's Interrupt Status bit. */
async function statusBit(t: PciDriverTransport): Promise<boolean> {
  return ((await t.pciStatus()) & PciStatus.INTERRUPT) !== 0;
}

export const configBitBeforeNotification = defineDeviceClause({
  label: ISR,
  statement: 2,
  level: "MUST",
  title: "ISR config bit set before a configuration change notification",
  requirement: "By the time the device notifies a configuration change (INTx asserted or MSI-X message sent), " +
    "the Device Configuration Interrupt bit of ISR status is set.",
  action: "Has the host change the configuration with DRIVER_OK set, either with MSI-X off (waits for INTx) or " +
    "with the configuration event mapped to a vector (waits for the message), then reads ISR status.",
  applies: { ...ON_PCI, capabilities: ["configChange", "interrupts"] },
  async run(ctx) {
    const t = pciOf(ctx);
    const modes = t.walk.msix ? ["intx", "msix"] as const : ["intx"] as const;
    await checkProperty(ctx, fc.constantFrom(...modes), async (mode) => {
      await ctx.driver.init("driver-ok");
      let notified: boolean;
      if (mode === "msix") {
        const cap = await MsixCapture.install(ctx, t);
        await t.setConfigVector(0);
        await ctx.session.triggerConfigChange?.();
        notified = (await cap.fired(30)).includes(0);
      } else {
        if (t.walk.msix) await t.msixEnable(false);
        await ctx.session.triggerConfigChange?.();
        notified = await waitLine(ctx);
      }
      expectThat(notified, `a configuration change notification (${mode})`, () => "none within the deadline");
      const isr = await t.interruptStatus();
      expectThat(
        (isr & PciIsr.CONFIG) !== 0,
        "Device Configuration Interrupt bit set in ISR status after the notification",
        () => `ISR status ${hex(isr, 2)}`,
      );
    }, (m) => m);
  },
});

export const queueBitBeforeNotification = defineDeviceClause({
  label: ISR,
  statement: 3,
  level: "MUST",
  title: "ISR queue bit set before a virtqueue interrupt without MSI-X",
  requirement: "With MSI-X disabled, by the time the device asserts its interrupt for a used buffer, the Queue " +
    "Interrupt bit of ISR status is set.",
  action: "With MSI-X off, completes 1–3 requests; after each waits for INTx and reads ISR status (which clears it).",
  applies: { ...ON_PCI, capabilities: ["interrupts"] },
  async run(ctx) {
    const t = pciOf(ctx);
    await checkProperty(ctx, fc.integer({ min: 1, max: 3 }), async (n) => {
      await ctx.driver.init("driver-ok");
      for (let i = 0; i < n; i++) {
        await completeRequest(ctx);
        const line = await waitLine(ctx);
        expectThat(line, `INTx asserted for used buffer ${i + 1}`, () => "the line stayed low");
        const isr = await t.interruptStatus();
        expectThat(
          (isr & PciIsr.QUEUE) !== 0,
          `Queue Interrupt bit set in ISR status with the line high (request ${i + 1})`,
          () => `ISR status ${hex(isr, 2)}`,
        );
      }
    }, (n) => `${n} request(s)`);
  },
});

type Step = "request" | "read-isr" | "config-change";

export const statusMirrorsIsr = defineDeviceClause({
  label: ISR,
  statement: 4,
  level: "MUST",
  title: "PCI Status interrupt bit mirrors ISR status without MSI-X",
  requirement: "With MSI-X disabled, the Interrupt Status bit of the PCI Status register is set exactly while some " +
    "ISR status bit is set (and INTx follows it).",
  action: "With MSI-X off, runs random sequences of requests, host configuration changes (where the adapter can) " +
    "and ISR reads; after each step compares the PCI Status bit (and the INTx line) with the events pending.",
  applies: { ...ON_PCI, capabilities: ["interrupts"] },
  async run(ctx) {
    const t = pciOf(ctx);
    const steps: Step[] = ["request", "read-isr"];
    if (ctx.session.capabilities.configChange) steps.push("config-change");
    await checkProperty(ctx, fc.array(fc.constantFrom(...steps), { minLength: 1, maxLength: 8 }), async (seq) => {
      await ctx.driver.init("driver-ok");
      // A device may notify at DRIVER_OK (a spurious notification is allowed), on its own time (a vhost-user back end
      // signals once when it is handed its interrupt channel): let it in, then start from a read ISR.
      await ctx.driver.letStartSignalIn(async (ms) => {
        await ctx.session.settle(ms, () => ctx.session.interruptLevel());
        return (await t.interruptStatus()) !== 0;
      });
      await ctx.driver.quiet(2);
      let pending = false;
      const check = async (after: string) => {
        const bit = await statusBit(t);
        expectThat(
          bit === pending,
          `PCI Status Interrupt bit ${pending ? "set" : "clear"} after ${after}`,
          () => `PCI Status ${hex(await0(bit), 4)} (Interrupt bit ${bit ? "set" : "clear"})`,
        );
        const line = await ctx.session.interruptLevel();
        expectEqual(`INTx level after ${after}`, line, pending, (v) => (v ? "high" : "low"));
      };
      await check("initialization and an ISR read");
      for (const step of seq) {
        if (step === "request") {
          await completeRequest(ctx);
          await waitLine(ctx, 100);
          pending = true;
        } else if (step === "config-change") {
          await ctx.session.triggerConfigChange?.();
          await waitLine(ctx, 100);
          pending = true;
        } else {
          await t.interruptStatus();
          await ctx.driver.quiet(2);
          pending = false;
        }
        await check(step);
      }
    }, (seq) => seq.join(" → "));
  },
});

/** Formats the Interrupt bit as the Status register value it stands for. */
function await0(bit: boolean): number {
  return bit ? PciStatus.INTERRUPT : 0;
}

export const isrClearedOnRead = defineDeviceClause({
  label: ISR,
  statement: 5,
  level: "MUST",
  title: "reading ISR status clears it",
  requirement: "A driver read of ISR status returns the pending bits and leaves it 0 afterwards.",
  action: "Completes a request (and, where the adapter can, changes the configuration), reads ISR status, then " +
    "reads it again 1–3 times.",
  applies: ON_PCI,
  async run(ctx) {
    const t = pciOf(ctx);
    const config = ctx.session.capabilities.configChange;
    await checkProperty(ctx, fc.tuple(fc.integer({ min: 1, max: 3 }), fc.boolean()), async ([reads, change]) => {
      await ctx.driver.init("driver-ok");
      await completeRequest(ctx);
      if (change && config) await ctx.session.triggerConfigChange?.();
      await ctx.driver.quiet(5);
      const first = await t.interruptStatus();
      expectThat((first & PciIsr.QUEUE) !== 0, "the Queue Interrupt bit pending", () => `ISR status ${hex(first, 2)}`);
      for (let i = 0; i < reads; i++) {
        expectEqual(`ISR status on read ${i + 2} (first read ${hex(first, 2)})`, await t.interruptStatus(), 0, hex);
      }
    }, ([r, c]) => `${r} extra read(s)${c && config ? ", with a configuration change" : ""}`);
  },
});

/** Clauses of 4.1.4.5.1 #2–#5. */
export const PCI_ISR_DEVICE_CLAUSES = [
  configBitBeforeNotification,
  queueBitBeforeNotification,
  statusMirrorsIsr,
  isrClearedOnRead,
];
