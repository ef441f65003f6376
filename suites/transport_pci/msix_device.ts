/**
 * Device clauses of spec 4.1.5.1.2.1 (MSI-X vector configuration), 4.1.5.3.1
 * (no used-buffer interrupt for an unmapped queue) and 4.1.5.4.1 (no
 * configuration interrupt while unmapped).
 *
 * @module
 */
import fc from "fast-check";
import { defineDeviceClause, type DeviceClauseContext } from "../../harness/core/clause.ts";
import { checkProperty } from "../../harness/core/property.ts";
import { CommonCfg, NO_VECTOR } from "../../harness/transport/pci_layout.ts";
import { expectEqual, expectNone, expectThat } from "../../harness/verify.ts";
import {
  CONFIG_NOTIFY,
  fmtVector,
  MSIX,
  MsixCapture,
  msixTableSize,
  ON_PCI,
  pciOf,
  queueField,
  USED_NOTIFY,
} from "./helpers_device.ts";

/** An event: the configuration change event (`"config"`) or queue `q`. */
type Event = "config" | number;

const fmtEvent = (e: Event) => (e === "config" ? "config_msix_vector" : `queue_msix_vector of queue ${e}`);

/** Maps event `e` to vector `v` and returns the read-back. */
async function mapEvent(ctx: DeviceClauseContext, e: Event, v: number): Promise<number> {
  const t = pciOf(ctx);
  return e === "config" ? await t.setConfigVector(v) : await t.setQueueVector(e, v);
}

/** Reads the vector of event `e`. */
async function readVector(ctx: DeviceClauseContext, e: Event): Promise<number> {
  const t = pciOf(ctx);
  if (e === "config") return await t.common.read(CommonCfg.config_msix_vector, 2);
  return await queueField(t, e, CommonCfg.queue_msix_vector);
}

/** The events of the device: config and every queue (capped). */
async function events(ctx: DeviceClauseContext): Promise<Event[]> {
  const n = Math.min(await pciOf(ctx).numQueues(), 16);
  return ["config", ...Array.from({ length: n }, (_, q) => q)];
}

/** Completes one request on queue 0 (DRIVER_OK already set). */
async function completeRequest(ctx: DeviceClauseContext): Promise<void> {
  await ctx.driver.sampleRequest(0);
  await ctx.driver.kick(0);
  const used = await ctx.driver.waitUsed(0, 1);
  expectThat(used.length === 1, "the request to be used", () => "no used buffer within the deadline");
}

export const tableSizeRange = defineDeviceClause({
  label: MSIX,
  statement: 1,
  level: "SHOULD",
  title: "MSI-X table of 2 to 0x800 vectors",
  requirement: "A device with an MSI-X capability offers at least 2 and at most 0x800 vectors.",
  action: "Reads the Table Size field of the MSI-X capability (n/a without one).",
  applies: ON_PCI,
  run(ctx) {
    const n = msixTableSize(pciOf(ctx));
    expectThat(n >= 2 && n <= 0x800, "2 ≤ vectors ≤ 0x800", () => `${n} vector(s)`);
    return Promise.resolve();
  },
});

export const tableSizeReported = defineDeviceClause({
  label: MSIX,
  statement: 2,
  level: "MUST",
  title: "Table Size reports the vectors the device has",
  requirement: "The Table Size field tells how many vectors the device supports: every entry it counts exists " +
    "(its address, data and mask read back as written) and has a pending bit, and each can deliver a message.",
  action: "Programs every table entry the Table Size counts with distinct values and reads them back, reads the " +
    "PBA, then maps queue 0 to the last vector and checks its message lands.",
  applies: { ...ON_PCI, capabilities: ["memory"] },
  async run(ctx) {
    const t = pciOf(ctx);
    const n = msixTableSize(t);
    await ctx.driver.init("driver-ok");
    const bad: string[] = [];
    for (let v = 0; v < Math.min(n, 64); v++) {
      const want = { address: 0x1000_0000 + 16 * v, data: 0xa000 + v, masked: true };
      await t.msixSetEntry(v, want);
      const got = await t.msixEntry(v);
      if (got.address !== want.address || got.data !== want.data || !got.masked) {
        bad.push(`entry ${v}: ${JSON.stringify(got)}`);
      }
      await t.msixPending(v);
    }
    expectNone(`every one of the ${n} table entries to hold what was written`, bad, (s) => s);
    const last = Math.min(n, 64) - 1;
    const cap = await MsixCapture.install(ctx, t);
    expectEqual(`queue_msix_vector after mapping to vector ${last}`, await mapEvent(ctx, 0, last), last, fmtVector);
    await completeRequest(ctx);
    const fired = await cap.fired(30, true);
    expectThat(fired.includes(last), `a message on vector ${last}`, () => `messages on [${fired.join(", ")}]`);
  },
});

export const mapAnyEventAnyVector = defineDeviceClause({
  label: MSIX,
  statement: 4,
  level: "MUST",
  title: "any event maps to any valid vector",
  requirement: "Every event (configuration change, each queue) can be mapped to every vector from 0 to the Table " +
    "Size field: the vector reads back as written.",
  action: "Maps random events to random vectors below the table size and reads each back; a used buffer on a " +
    "queue mapped to a random vector sends its message there.",
  applies: ON_PCI,
  async run(ctx) {
    const t = pciOf(ctx);
    const n = msixTableSize(t);
    await ctx.driver.init("driver-ok");
    const evs = await events(ctx);
    const arb = fc.tuple(
      fc.array(fc.tuple(fc.constantFrom(...evs), fc.nat({ max: n - 1 })), { minLength: 1, maxLength: 10 }),
      fc.nat({ max: n - 1 }),
    );
    await checkProperty(ctx, arb, async ([maps, qv]) => {
      await ctx.driver.init("driver-ok");
      for (const [e, v] of maps) {
        expectEqual(`${fmtEvent(e)} after writing ${v}`, await mapEvent(ctx, e, v), v, fmtVector);
      }
      const cap = await MsixCapture.install(ctx, t);
      expectEqual(`queue_msix_vector of queue 0 after writing ${qv}`, await mapEvent(ctx, 0, qv), qv, fmtVector);
      await completeRequest(ctx);
      const fired = await cap.fired(30, true);
      expectThat(
        fired.includes(qv),
        `a used-buffer message on vector ${qv}`,
        () => `messages on [${fired.join(", ")}]`,
      );
    }, ([maps, qv]) => `${maps.map(([e, v]) => `${e}→${v}`).join(", ")}; queue 0→${qv} for delivery`);
  },
});

export const unmapAnyEvent = defineDeviceClause({
  label: MSIX,
  statement: 5,
  level: "MUST",
  title: "any event can be unmapped",
  requirement: "Writing NO_VECTOR to an event's vector field unmaps it: it reads NO_VECTOR afterwards.",
  action: "Maps every event to a random valid vector, then unmaps a random subset and reads every field.",
  applies: ON_PCI,
  async run(ctx) {
    const t = pciOf(ctx);
    const n = msixTableSize(t);
    await ctx.driver.init("driver-ok");
    const evs = await events(ctx);
    const arb = fc.tuple(fc.nat({ max: n - 1 }), fc.subarray(evs, { minLength: 1 }));
    await checkProperty(ctx, arb, async ([v, off]) => {
      await ctx.driver.init("driver-ok");
      for (const e of evs) await mapEvent(ctx, e, v);
      for (const e of off) await mapEvent(ctx, e, NO_VECTOR);
      for (const e of evs) {
        const want = off.includes(e) ? NO_VECTOR : v;
        expectEqual(fmtEvent(e), await readVector(ctx, e), want, fmtVector);
      }
    }, ([v, off]) => `all mapped to ${v}, then unmapped ${off.join(", ")}`);
  },
});

export const readBackMapping = defineDeviceClause({
  label: MSIX,
  statement: 6,
  level: "MUST",
  title: "vector fields read the current mapping",
  requirement: "config_msix_vector and each queue's queue_msix_vector read the vector the event is mapped to, " +
    "or NO_VECTOR while it is unmapped.",
  action: "Runs random sequences of mappings and unmappings over the events (switching queue_select in between) " +
    "and compares every field with the mapping written so far.",
  applies: ON_PCI,
  async run(ctx) {
    const t = pciOf(ctx);
    const n = msixTableSize(t);
    await ctx.driver.init("driver-ok");
    const evs = await events(ctx);
    const vec = fc.oneof(fc.nat({ max: n - 1 }), fc.constant(NO_VECTOR));
    await checkProperty(ctx, fc.array(fc.tuple(fc.constantFrom(...evs), vec), { maxLength: 12 }), async (ops) => {
      await ctx.driver.init("driver-ok");
      const model = new Map<Event, number>(evs.map((e) => [e, NO_VECTOR]));
      for (const [e, v] of ops) {
        await mapEvent(ctx, e, v);
        model.set(e, v);
      }
      for (const e of [...evs].reverse()) expectEqual(fmtEvent(e), await readVector(ctx, e), model.get(e)!, fmtVector);
    }, (ops) => ops.map(([e, v]) => `${e}→${fmtVector(v)}`).join(", ") || "no mapping");
  },
});

export const unmappedAfterReset = defineDeviceClause({
  label: MSIX,
  statement: 7,
  level: "MUST",
  title: "every event unmapped after reset",
  requirement: "A device reset unmaps the configuration event and every queue event: their fields read NO_VECTOR.",
  action: "Maps random events to random vectors, resets the device (device_status 0) and reads every vector field.",
  applies: ON_PCI,
  async run(ctx) {
    const t = pciOf(ctx);
    const n = msixTableSize(t);
    await ctx.driver.init("driver-ok");
    const evs = await events(ctx);
    const arb = fc.array(fc.tuple(fc.constantFrom(...evs), fc.nat({ max: n - 1 })), { minLength: 1, maxLength: 6 });
    await checkProperty(ctx, arb, async (maps) => {
      await ctx.driver.init("driver-ok");
      for (const [e, v] of maps) await mapEvent(ctx, e, v);
      await ctx.driver.reset();
      const mapped: [Event, number][] = [];
      for (const e of evs) {
        const v = await readVector(ctx, e);
        if (v !== NO_VECTOR) mapped.push([e, v]);
      }
      expectNone("NO_VECTOR in every vector field after reset", mapped, ([e, v]) => `${fmtEvent(e)} reads ${v}`);
    }, (maps) => maps.map(([e, v]) => `${e}→${v}`).join(", "));
  },
});

export const mappingsSucceed = defineDeviceClause({
  label: MSIX,
  statement: 8,
  level: "SHOULD NOT",
  title: "no needless mapping failures",
  requirement: "A device does not refuse a mapping it could satisfy: many events sharing one vector, and repeated " +
    "re-mappings, all succeed.",
  action: "Maps every event to the same random vector, then re-maps random events repeatedly; every read-back " +
    "must equal the vector written.",
  applies: ON_PCI,
  async run(ctx) {
    const t = pciOf(ctx);
    const n = msixTableSize(t);
    await ctx.driver.init("driver-ok");
    const evs = await events(ctx);
    const arb = fc.tuple(
      fc.nat({ max: n - 1 }),
      fc.array(fc.tuple(fc.constantFrom(...evs), fc.nat({ max: n - 1 })), { maxLength: 10 }),
    );
    await checkProperty(ctx, arb, async ([shared, again]) => {
      await ctx.driver.init("driver-ok");
      const refused: string[] = [];
      for (const [e, v] of [...evs.map((e) => [e, shared] as const), ...again]) {
        const got = await mapEvent(ctx, e, v);
        if (got !== v) refused.push(`${fmtEvent(e)} → ${v} read ${fmtVector(got)}`);
      }
      expectNone("every satisfiable mapping accepted", refused, (s) => s);
    }, ([s, a]) => `all → ${s}; then ${a.map(([e, v]) => `${e}→${v}`).join(", ")}`);
  },
});

export const failureReadsNoVector = defineDeviceClause({
  label: MSIX,
  statement: 9,
  level: "MUST",
  title: "a failed mapping reads NO_VECTOR",
  requirement: "When the device cannot satisfy a mapping (e.g. a vector past its table), the vector field reads " +
    "NO_VECTOR.",
  action: "Maps events to random vectors at or beyond the table size (below NO_VECTOR) and reads each back.",
  applies: ON_PCI,
  async run(ctx) {
    const t = pciOf(ctx);
    const n = msixTableSize(t);
    await ctx.driver.init("driver-ok");
    const evs = await events(ctx);
    const arb = fc.array(
      fc.tuple(fc.constantFrom(...evs), fc.oneof(fc.constant(n), fc.integer({ min: n, max: NO_VECTOR - 1 }))),
      { minLength: 1, maxLength: 6 },
    );
    await checkProperty(ctx, arb, async (maps) => {
      await ctx.driver.init("driver-ok");
      for (const [e, v] of maps) {
        expectEqual(
          `${fmtEvent(e)} after writing ${v} (table of ${n})`,
          await mapEvent(ctx, e, v),
          NO_VECTOR,
          fmtVector,
        );
      }
    }, (maps) => maps.map(([e, v]) => `${e}→${v}`).join(", "));
  },
});

export const noInterruptUnmappedQueue = defineDeviceClause({
  label: USED_NOTIFY,
  statement: 1,
  level: "MUST NOT",
  title: "no interrupt for a queue mapped to NO_VECTOR",
  requirement: "With MSI-X enabled and a queue's vector NO_VECTOR, the device sends no interrupt for that " +
    "queue's used buffers: no message, no pending bit, no INTx.",
  action: "Enables MSI-X with every entry pointing into guest memory, maps the configuration event to a random " +
    "vector and queue 0 to NO_VECTOR (never mapped, or mapped and unmapped), completes requests and checks the " +
    "message slots, the PBA and the INTx line.",
  applies: { ...ON_PCI, capabilities: ["memory"] },
  async run(ctx) {
    const t = pciOf(ctx);
    const n = msixTableSize(t);
    await checkProperty(
      ctx,
      fc.tuple(fc.nat({ max: n - 1 }), fc.boolean(), fc.integer({ min: 1, max: 3 })),
      async ([cv, remap, reqs]) => {
        await ctx.driver.init("driver-ok");
        const cap = await MsixCapture.install(ctx, t);
        await t.setConfigVector(cv);
        if (remap) await t.setQueueVector(0, cv);
        expectEqual("queue_msix_vector of queue 0", await t.setQueueVector(0, NO_VECTOR), NO_VECTOR, fmtVector);
        for (let i = 0; i < reqs; i++) await completeRequest(ctx);
        const fired = await cap.fired(30, true);
        expectNone("no MSI-X message for the unmapped queue", fired, (v) => `message on vector ${v}`);
        expectNone("no pending vector for the unmapped queue", await cap.pending(), (v) => `vector ${v} pending`);
        expectThat(!(await ctx.session.interruptLevel()), "INTx low with MSI-X enabled", () => "INTx high");
      },
      ([cv, remap, reqs]) =>
        `config→${cv}, queue 0 ${remap ? "mapped then unmapped" : "never mapped"}, ${reqs} request(s)`,
    );
  },
});

export const noInterruptUnmappedConfig = defineDeviceClause({
  label: CONFIG_NOTIFY,
  statement: 1,
  level: "MUST NOT",
  title: "no configuration interrupt while config_msix_vector is NO_VECTOR",
  requirement: "With MSI-X enabled and config_msix_vector NO_VECTOR, a configuration change sends no interrupt.",
  action: "Enables MSI-X with every entry pointing into guest memory, maps queue 0 to a random vector and the " +
    "configuration event to NO_VECTOR, has the host change the configuration and checks the message slots, " +
    "the PBA and the INTx line.",
  applies: { ...ON_PCI, capabilities: ["configChange", "memory"] },
  async run(ctx) {
    const t = pciOf(ctx);
    const n = msixTableSize(t);
    await checkProperty(ctx, fc.tuple(fc.nat({ max: n - 1 }), fc.boolean()), async ([qv, remap]) => {
      await ctx.driver.init("driver-ok");
      const cap = await MsixCapture.install(ctx, t);
      await t.setQueueVector(0, qv);
      if (remap) await t.setConfigVector(qv);
      expectEqual("config_msix_vector", await t.setConfigVector(NO_VECTOR), NO_VECTOR, fmtVector);
      await ctx.session.triggerConfigChange?.();
      const fired = await cap.fired(30);
      expectNone("no MSI-X message for the configuration change", fired, (v) => `message on vector ${v}`);
      expectNone("no pending vector for the configuration change", await cap.pending(), (v) => `vector ${v} pending`);
      expectThat(!(await ctx.session.interruptLevel()), "INTx low with MSI-X enabled", () => "INTx high");
    }, ([qv, remap]) => `queue 0→${qv}, config ${remap ? "mapped then unmapped" : "never mapped"}`);
  },
});

/** Clauses of 4.1.5.1.2.1, 4.1.5.3.1 and 4.1.5.4.1. */
export const PCI_MSIX_DEVICE_CLAUSES = [
  tableSizeRange,
  tableSizeReported,
  mapAnyEventAnyVector,
  unmapAnyEvent,
  readBackMapping,
  unmappedAfterReset,
  mappingsSucceed,
  failureReadsNoVector,
  noInterruptUnmappedQueue,
  noInterruptUnmappedConfig,
];
