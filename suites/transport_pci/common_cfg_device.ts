/**
 * Device clauses of spec 4.1.3.2 (independent 64-bit halves) and 4.1.4.3.1
 * (the common configuration structure: feature windows, generation, reset,
 * queue_enable, queue_reset, queue_size, admin queues).
 *
 * @module
 */
import fc from "fast-check";
import { defineDeviceClause, type DeviceClauseContext } from "../../harness/core/clause.ts";
import { bit, F } from "../../harness/features.ts";
import { checkProperty } from "../../harness/core/property.ts";
import { HARNESS_CORE_FEATURES } from "../../harness/roles/harness_driver.ts";
import { formatStatus } from "../../harness/status.ts";
import type { PciDriverTransport } from "../../harness/transport/pci_driver.ts";
import { CommonCfg } from "../../harness/transport/pci_layout.ts";
import { expectEqual, expectNone, expectThat } from "../../harness/verify.ts";
import { COMMON, hex, LAYOUT, ON_PCI, pciOf, queueField } from "./helpers_device.ts";

const RING_RESET = { ...ON_PCI, offered: [F.RING_RESET] };
const withRingReset = (offered: bigint) => (offered & HARNESS_CORE_FEATURES) | bit(F.RING_RESET);

/** Reads a 32-bit word of the common configuration after writing its select register. */
async function selectedWord(t: PciDriverTransport, selOff: number, valOff: number, sel: number): Promise<number> {
  await t.common.write(selOff, 4, sel);
  return (await t.common.read(valOff, 4)) >>> 0;
}

/** Initializes with RING_RESET negotiated, to DRIVER_OK. */
async function initWithRingReset(ctx: DeviceClauseContext): Promise<void> {
  const r = await ctx.driver.init("driver-ok", withRingReset);
  expectThat(r.featuresOk, "FEATURES_OK with VIRTIO_F_RING_RESET", () => formatStatus(r.status));
}

/** Polls queue_reset of queue `q` (bounded); returns every value read, the last one 0 unless it never cleared. */
async function pollQueueReset(ctx: DeviceClauseContext, q: number, max = 64): Promise<number[]> {
  const t = pciOf(ctx);
  const reads: number[] = [];
  for (let i = 0; i < max; i++) {
    const v = await queueField(t, q, CommonCfg.queue_reset);
    reads.push(v);
    if (v === 0) break;
    await ctx.driver.quiet(2);
  }
  return reads;
}

const HALVES = [
  ["queue_desc", CommonCfg.queue_desc],
  ["queue_driver", CommonCfg.queue_driver],
  ["queue_device", CommonCfg.queue_device],
] as const;

export const independentHalves = defineDeviceClause({
  label: LAYOUT,
  statement: 1,
  level: "MUST",
  title: "64-bit fields written and read as independent 32-bit halves",
  requirement: "The device lets the driver write and read the low and high 32-bit halves of a 64-bit field " +
    "separately, in any order: each half keeps what was written to it.",
  action: "Writes random 64-bit values into queue_desc, queue_driver and queue_device half by half in a random " +
    "order (some halves twice), then reads the halves back in another random order.",
  applies: ON_PCI,
  async run(ctx) {
    const t = pciOf(ctx);
    const half = fc.tuple(fc.nat({ max: 2 }), fc.boolean(), fc.nat({ max: 0x0fff_ffff }).map((v) => v * 16));
    await checkProperty(
      ctx,
      fc.tuple(
        fc.array(half, { minLength: 1, maxLength: 10 }),
        fc.shuffledSubarray([0, 1, 2, 3, 4, 5], { minLength: 6 }),
      ),
      async ([writes, readOrder]) => {
        await ctx.driver.init("driver");
        await t.selectQueue(0);
        const expected = new Map<number, number>();
        for (let i = 0; i < 6; i++) expected.set(i, (await t.common.read(HALVES[i >> 1]![1] + 4 * (i & 1), 4)) >>> 0);
        for (const [field, high, value] of writes) {
          // High halves stay below 2^21: addresses up to 2^53, what the harness's (and the reference's) address type holds.
          const v = high ? value >>> 11 : value;
          await t.common.write(HALVES[field]![1] + (high ? 4 : 0), 4, v);
          expected.set(field * 2 + (high ? 1 : 0), v >>> 0);
        }
        for (const i of readOrder) {
          const [name, off] = HALVES[i >> 1]!;
          const got = (await t.common.read(off + 4 * (i & 1), 4)) >>> 0;
          expectEqual(`${name} ${i & 1 ? "high" : "low"} half`, got, expected.get(i)!, hex);
        }
      },
      ([w, r]) =>
        `writes ${w.map(([f, h, v]) => `${HALVES[f]![0]}.${h ? "hi" : "lo"}=${hex(h ? v >>> 11 : v)}`).join(", ")}; ` +
        `reads ${r.join(",")}`,
    );
  },
});

export const deviceFeatureWindow = defineDeviceClause({
  label: COMMON,
  statement: 3,
  level: "MUST",
  title: "device_feature shows the offered bits of the selected window",
  requirement: "For any device_feature_select value s the driver writes, device_feature presents the offered " +
    "feature bits 32·s to 32·s+31; in particular VIRTIO_F_VERSION_1 (bit 32) appears as bit 0 of window 1.",
  action: "Reads windows 0–3 once, then writes random sequences of select values (including large ones) and " +
    "reads device_feature after each: every read must match its window, and window 1 must carry VERSION_1. " +
    "Reads windows 0–1 again once the device is live (FEATURES_OK and DRIVER_OK set): still the offered bits.",
  applies: ON_PCI,
  async run(ctx) {
    const t = pciOf(ctx);
    await ctx.driver.reset();
    const words: number[] = [];
    for (let s = 0; s < 4; s++) {
      words.push(await selectedWord(t, CommonCfg.device_feature_select, CommonCfg.device_feature, s));
    }
    expectThat(
      (words[1]! & 1) === 1,
      "VIRTIO_F_VERSION_1 as bit 0 of device_feature with device_feature_select 1",
      () => `window 0 ${hex(words[0]!)}, window 1 ${hex(words[1]!)}`,
    );
    expectEqual(
      "offered features (windows 0–1)",
      BigInt(words[0]!) | (BigInt(words[1]!) << 32n),
      ctx.offered & 0xffff_ffff_ffff_ffffn,
      (v) => `0x${v.toString(16)}`,
    );
    const sel = fc.oneof(fc.nat({ max: 3 }), fc.integer({ min: 4, max: 0xffff_ffff }));
    await checkProperty(ctx, fc.array(sel, { minLength: 1, maxLength: 12 }), async (seq) => {
      for (const s of seq) {
        const got = await selectedWord(t, CommonCfg.device_feature_select, CommonCfg.device_feature, s);
        if (s < 4) expectEqual(`device_feature with device_feature_select ${s}`, got, words[s]!, hex);
        else {
          const again = await selectedWord(t, CommonCfg.device_feature_select, CommonCfg.device_feature, s);
          expectEqual(`device_feature with device_feature_select ${s}, read twice`, again, got, hex);
        }
      }
    }, (seq) => `selects ${seq.join(", ")}`);
    // Negotiation does not change what is offered: the windows still show the offer, not the accepted subset.
    const live = await ctx.driver.init("driver-ok");
    if (!live.featuresOk) return;
    for (let s = 0; s < 2; s++) {
      const got = await selectedWord(t, CommonCfg.device_feature_select, CommonCfg.device_feature, s);
      expectEqual(
        `device_feature window ${s} after FEATURES_OK (negotiated ${hex(live.accepted)})`,
        got,
        words[s]!,
        hex,
      );
    }
  },
});

export const driverFeatureWindow = defineDeviceClause({
  label: COMMON,
  statement: 4,
  level: "MUST",
  title: "driver_feature shows the valid bits written to the selected window",
  requirement: "For any driver_feature_select value s, driver_feature presents the bits the driver wrote to " +
    "window s that the device offers there (other bits are the device's choice).",
  action: "Before FEATURES_OK, writes random words (offered and unoffered bits) to windows 0 and 1 in random " +
    "order, then reads the windows back in random order and compares the offered bits.",
  applies: ON_PCI,
  async run(ctx) {
    const t = pciOf(ctx);
    const word = fc.oneof(fc.constant(0), fc.constant(0xffff_ffff), fc.nat({ max: 0xffff_ffff }));
    const writes = fc.array(fc.tuple(fc.nat({ max: 1 }), word), { minLength: 1, maxLength: 6 });
    const arb = fc.tuple(writes, fc.shuffledSubarray([0, 1], { minLength: 2 }));
    await checkProperty(ctx, arb, async ([ws, order]) => {
      await ctx.driver.init("driver");
      const dev = [
        await selectedWord(t, CommonCfg.device_feature_select, CommonCfg.device_feature, 0),
        await selectedWord(t, CommonCfg.device_feature_select, CommonCfg.device_feature, 1),
      ];
      const written = [0, 0];
      for (let s = 0; s < 2; s++) {
        await t.common.write(CommonCfg.driver_feature_select, 4, s);
        await t.common.write(CommonCfg.driver_feature, 4, 0);
      }
      for (const [s, v] of ws) {
        await t.common.write(CommonCfg.driver_feature_select, 4, s);
        await t.common.write(CommonCfg.driver_feature, 4, v);
        written[s] = v;
      }
      for (const s of order) {
        const got = await selectedWord(t, CommonCfg.driver_feature_select, CommonCfg.driver_feature, s);
        expectEqual(
          `offered bits of driver_feature window ${s} (device_feature ${hex(dev[s]!)})`,
          (got & dev[s]!) >>> 0,
          (written[s]! & dev[s]!) >>> 0,
          hex,
        );
      }
    }, ([ws, o]) => `writes ${ws.map(([s, v]) => `[${s}]=${hex(v)}`).join(", ")}; reads ${o.join(",")}`);
  },
});

export const generationAfterChange = defineDeviceClause({
  label: COMMON,
  statement: 6,
  level: "MUST",
  title: "config_generation changes once a changed value was read",
  requirement: "When the driver has read a device-specific configuration value that changed since the " +
    "configuration was last read, config_generation no longer shows its earlier value.",
  action: "Reads config_generation and the whole device-specific configuration, has the host change the " +
    "configuration, reads the configuration again and then config_generation.",
  applies: { ...ON_PCI, capabilities: ["configChange"] },
  async run(ctx) {
    const t = pciOf(ctx);
    await ctx.driver.init("driver-ok");
    const len = t.structures.device?.length ?? 0;
    const readAll = async () => {
      const out: number[] = [];
      for (let o = 0; o + 4 <= Math.min(len, 64); o += 4) out.push(await t.readConfig(o, 4));
      return out.join(",");
    };
    const gen0 = await t.configGeneration();
    const before = await readAll();
    await ctx.session.triggerConfigChange?.();
    await ctx.driver.quiet(5);
    const after = await readAll();
    const gen1 = await t.configGeneration();
    expectThat(
      gen1 !== gen0 || after === before,
      "a new config_generation after reading a changed configuration",
      () => `config_generation still ${gen0} (configuration ${before} → ${after})`,
    );
  },
});

export const statusZeroResets = defineDeviceClause({
  label: COMMON,
  statement: 7,
  level: "MUST",
  title: "writing 0 to device_status resets and then reads 0",
  requirement: "Writing 0 to device_status resets the device; once the reset is done device_status reads 0 and " +
    "the device has forgotten its queues.",
  action: "Initializes to DRIVER_OK with a request completed, writes 0, polls device_status (bounded) and checks " +
    "queue_enable and a further notification of the old queue.",
  applies: ON_PCI,
  async run(ctx) {
    const t = pciOf(ctx);
    await ctx.driver.init("driver-ok");
    await ctx.driver.sampleRequest(0);
    await ctx.driver.kick(0);
    await ctx.driver.waitUsed(0, 1);
    const q = ctx.driver.queue(0);
    await ctx.driver.sampleRequest(0);
    await t.setStatus(0);
    let status = await t.getStatus();
    for (let i = 0; i < 50 && status !== 0; i++) {
      await ctx.driver.quiet(10);
      status = await t.getStatus();
    }
    expectEqual("device_status after writing 0", status, 0, formatStatus);
    expectEqual("queue_enable of queue 0 after the reset", await queueField(t, 0, CommonCfg.queue_enable), 0);
    await ctx.driver.kick(0).catch(() => {});
    await ctx.driver.quiet(20);
    expectThat(!(await q.hasUsed()), "no service of a queue the reset discarded", () => "a new used element");
  },
});

export const queueEnableZeroOnReset = defineDeviceClause({
  label: COMMON,
  statement: 8,
  level: "MUST",
  title: "queue_enable reads 0 after reset",
  requirement: "After a device reset every queue's queue_enable reads 0.",
  action: "Enables a random subset of the queues (with DRIVER_OK or not), resets by writing 0 to device_status " +
    "and reads queue_enable of every queue below num_queues.",
  applies: ON_PCI,
  async run(ctx) {
    const t = pciOf(ctx);
    await checkProperty(ctx, fc.tuple(fc.boolean(), fc.boolean()), async ([driverOk, request]) => {
      await ctx.driver.init(driverOk ? "driver-ok" : "queues");
      if (driverOk && request) {
        await ctx.driver.sampleRequest(0);
        await ctx.driver.kick(0);
        await ctx.driver.waitUsed(0, 1);
      }
      await ctx.driver.reset();
      const n = Math.min(await t.numQueues(), 256);
      const on: number[] = [];
      for (let q = 0; q < n; q++) if ((await queueField(t, q, CommonCfg.queue_enable)) !== 0) on.push(q);
      expectNone("queue_enable 0 for every queue after reset", on, (q) => `queue ${q} reads 1`);
    }, ([d, r]) => `${d ? "DRIVER_OK" : "queues set up"}${r ? " + request" : ""}, then reset`);
  },
});

export const queueResetZeroOnReset = defineDeviceClause({
  label: COMMON,
  statement: 9,
  level: "MUST",
  title: "queue_reset reads 0 after a device reset",
  requirement: "With VIRTIO_F_RING_RESET negotiated, every queue's queue_reset reads 0 after a device reset.",
  action: "Negotiates RING_RESET, writes 1 to queue_reset of queue 0, resets the device at once, negotiates again " +
    "and reads queue_reset of every queue.",
  applies: RING_RESET,
  async run(ctx) {
    const t = pciOf(ctx);
    await initWithRingReset(ctx);
    await t.startQueueReset(0);
    await initWithRingReset(ctx);
    const n = Math.min(await t.numQueues(), 256);
    const bad: number[] = [];
    for (let q = 0; q < n; q++) if ((await queueField(t, q, CommonCfg.queue_reset)) !== 0) bad.push(q);
    expectNone("queue_reset 0 after a device reset", bad, (q) => `queue ${q} reads 1`);
  },
});

export const queueResetZeroAfterEnable = defineDeviceClause({
  label: COMMON,
  statement: 10,
  level: "MUST",
  title: "queue_reset reads 0 once the queue is enabled",
  requirement: "With VIRTIO_F_RING_RESET negotiated, queue_reset reads 0 after the driver enabled the queue " +
    "through queue_enable (also when the queue is re-enabled after a queue reset).",
  action: "Negotiates RING_RESET, enables queue 0 and reads queue_reset; optionally resets the queue, waits for " +
    "completion, sets it up again and reads queue_reset after re-enabling.",
  applies: RING_RESET,
  async run(ctx) {
    const t = pciOf(ctx);
    await checkProperty(ctx, fc.boolean(), async (again) => {
      await initWithRingReset(ctx);
      expectEqual("queue_reset after queue_enable", await queueField(t, 0, CommonCfg.queue_reset), 0);
      if (!again) return;
      await t.startQueueReset(0);
      const reads = await pollQueueReset(ctx, 0);
      expectThat(reads.at(-1) === 0, "the queue reset to complete", () => `queue_reset read ${reads.join(",")}`);
      await ctx.driver.setupQueue(0);
      expectEqual("queue_reset after re-enabling", await queueField(t, 0, CommonCfg.queue_reset), 0);
    }, (again) => (again ? "enable, queue reset, re-enable" : "enable"));
  },
});

export const queueResetResets = defineDeviceClause({
  label: COMMON,
  statement: 11,
  level: "MUST",
  title: "writing 1 to queue_reset resets the queue",
  requirement: "Writing 1 to queue_reset (RING_RESET negotiated) resets that queue: it is disabled, and the " +
    "device serves a freshly set-up ring from its start.",
  action: "Completes requests on queue 0, writes 1 to queue_reset, waits for completion, checks queue_enable, " +
    "sets the queue up on new memory and completes a request there.",
  applies: RING_RESET,
  async run(ctx) {
    const t = pciOf(ctx);
    await checkProperty(ctx, fc.nat({ max: 3 }), async (served) => {
      await initWithRingReset(ctx);
      for (let i = 0; i < served; i++) {
        await ctx.driver.sampleRequest(0);
        await ctx.driver.kick(0);
        await ctx.driver.waitUsed(0, 1);
      }
      await t.startQueueReset(0);
      const reads = await pollQueueReset(ctx, 0);
      expectThat(reads.at(-1) === 0, "the queue reset to complete", () => `queue_reset read ${reads.join(",")}`);
      expectEqual("queue_enable after the queue reset", await queueField(t, 0, CommonCfg.queue_enable), 0);
      await ctx.driver.setupQueue(0);
      await ctx.driver.sampleRequest(0);
      await ctx.driver.kick(0);
      const used = await ctx.driver.waitUsed(0, 1);
      expectThat(used.length === 1, "the fresh ring served after the queue reset", () => "no used element");
    }, (n) => `${n} request(s) before the queue reset`);
  },
});

export const queueResetOngoing = defineDeviceClause({
  label: COMMON,
  statement: 12,
  level: "MUST",
  title: "queue_reset reads 1 while the reset is under way",
  requirement: "From the write of 1 until the queue reset is complete, queue_reset reads 1: it never reads 0 " +
    "while the queue is still enabled, and once it read 0 it stays 0.",
  action: "Starts a queue reset on an active queue and polls queue_reset (bounded); whenever it reads 0 checks " +
    "that queue_enable is 0, then reads queue_reset a few more times.",
  applies: RING_RESET,
  async run(ctx) {
    const t = pciOf(ctx);
    await initWithRingReset(ctx);
    await ctx.driver.sampleRequest(0);
    await ctx.driver.kick(0);
    await ctx.driver.waitUsed(0, 1);
    await t.startQueueReset(0);
    const reads = await pollQueueReset(ctx, 0);
    expectThat(reads.at(-1) === 0, "the queue reset to complete", () => `queue_reset read ${reads.join(",")}`);
    expectEqual("queue_enable when queue_reset first reads 0", await queueField(t, 0, CommonCfg.queue_enable), 0);
    const later: number[] = [];
    for (let i = 0; i < 3; i++) later.push(await queueField(t, 0, CommonCfg.queue_reset));
    expectThat(later.every((v) => v === 0), "queue_reset stays 0 after completion", () => later.join(","));
  },
});

export const queueResetCompleteBothZero = defineDeviceClause({
  label: COMMON,
  statement: 13,
  level: "MUST",
  title: "queue_reset and queue_enable both 0 after a queue reset",
  requirement: "When a queue reset has completed the device presents 0 in queue_reset and in queue_enable.",
  action: "Resets an enabled queue, polls queue_reset until 0 (bounded) and reads queue_enable.",
  applies: RING_RESET,
  async run(ctx) {
    const t = pciOf(ctx);
    await initWithRingReset(ctx);
    await t.startQueueReset(0);
    const reads = await pollQueueReset(ctx, 0);
    expectEqual("queue_reset when the reset completed", reads.at(-1) ?? 1, 0);
    expectEqual("queue_enable when the reset completed", await queueField(t, 0, CommonCfg.queue_enable), 0);
  },
});

export const unavailableQueueSizeZero = defineDeviceClause({
  label: COMMON,
  statement: 14,
  level: "MUST",
  title: "queue_size 0 for a queue that does not exist",
  requirement: "When queue_select names a queue the device does not have, queue_size reads 0.",
  action: "From queue 0 selected, selects random queue indexes at and above num_queues (num_queues itself and " +
    "0xffff among them) and reads queue_size.",
  applies: ON_PCI,
  async run(ctx) {
    const t = pciOf(ctx);
    await ctx.driver.init("driver");
    const n = await t.numQueues();
    if (n >= 0xffff) return;
    const idx = fc.oneof(fc.constant(n), fc.constant(0xffff), fc.integer({ min: n, max: 0xffff }));
    await checkProperty(ctx, fc.array(idx, { minLength: 1, maxLength: 8 }), async (qs) => {
      // Every run starts from an existing queue selected, whatever the run before it selected last.
      if (n > 0) await t.selectQueue(0);
      for (const q of qs) {
        const size = await queueField(t, q, CommonCfg.queue_size);
        if (size !== 0) {
          const sel = await t.common.read(CommonCfg.queue_select, 2);
          expectEqual(`queue_size of queue ${q} (num_queues ${n}; queue_select reads back ${sel})`, size, 0);
        }
      }
    }, (qs) => `queues ${qs.join(", ")}`);
  },
});

export const queueSizePowerOfTwo = defineDeviceClause({
  label: COMMON,
  statement: 15,
  level: "MUST",
  title: "queue_size 0 or a power of 2 without RING_PACKED",
  requirement: "Unless VIRTIO_F_RING_PACKED was negotiated, queue_size of every queue reads 0 or a power of 2.",
  action: "After a reset and after negotiating without RING_PACKED, reads queue_size of every queue.",
  applies: ON_PCI,
  async run(ctx) {
    const t = pciOf(ctx);
    for (const stage of ["driver", "features-ok"] as const) {
      await ctx.driver.init(stage, (o) => o & HARNESS_CORE_FEATURES & ~bit(F.RING_PACKED));
      const n = Math.min(await t.numQueues(), 256);
      const bad: [number, number][] = [];
      for (let q = 0; q < n; q++) {
        const s = await queueField(t, q, CommonCfg.queue_size);
        if (s !== 0 && (s & (s - 1)) !== 0) bad.push([q, s]);
      }
      expectNone(`queue_size 0 or a power of 2 (${stage})`, bad, ([q, s]) => `queue ${q}: ${s}`);
    }
  },
});

/** Negotiates VIRTIO_F_ADMIN_VQ and returns num_queues, admin_queue_index and admin_queue_num. */
async function adminGeometry(ctx: DeviceClauseContext) {
  const t = pciOf(ctx);
  const r = await ctx.driver.init("features-ok", (o) => (o & HARNESS_CORE_FEATURES) | bit(F.ADMIN_VQ));
  expectThat(r.featuresOk, "FEATURES_OK with VIRTIO_F_ADMIN_VQ", () => formatStatus(r.status));
  return {
    n: await t.numQueues(),
    index: await t.common.read(CommonCfg.admin_queue_index, 2),
    num: await t.common.read(CommonCfg.admin_queue_num, 2),
  };
}

export const adminIndexPastQueues = defineDeviceClause({
  label: COMMON,
  statement: 16,
  level: "MUST",
  title: "admin_queue_index at or past num_queues",
  requirement: "With VIRTIO_F_ADMIN_VQ negotiated, the admin queues start at an index no lower than num_queues.",
  action: "Negotiates ADMIN_VQ and compares admin_queue_index with num_queues.",
  applies: { ...ON_PCI, offered: [F.ADMIN_VQ] },
  async run(ctx) {
    const g = await adminGeometry(ctx);
    expectThat(g.index >= g.n, `admin_queue_index ≥ num_queues ${g.n}`, () => `admin_queue_index ${g.index}`);
  },
});

export const adminQueuesFit = defineDeviceClause({
  label: COMMON,
  statement: 17,
  level: "MUST",
  title: "admin queue indexes fit in 16 bits",
  requirement: "With VIRTIO_F_ADMIN_VQ negotiated, admin_queue_index + admin_queue_num does not exceed 0x10000.",
  action: "Negotiates ADMIN_VQ and reads admin_queue_index and admin_queue_num.",
  applies: { ...ON_PCI, offered: [F.ADMIN_VQ] },
  async run(ctx) {
    const g = await adminGeometry(ctx);
    expectThat(
      g.num <= 0x10000 - g.index,
      "admin_queue_num ≤ 0x10000 − admin_queue_index",
      () => `admin_queue_index ${g.index}, admin_queue_num ${g.num}`,
    );
  },
});

/** Clauses of 4.1.3.2 and 4.1.4.3.1 beyond the capability checks. */
export const PCI_COMMON_CFG_DEVICE_CLAUSES = [
  independentHalves,
  deviceFeatureWindow,
  driverFeatureWindow,
  generationAfterChange,
  statusZeroResets,
  queueEnableZeroOnReset,
  queueResetZeroOnReset,
  queueResetZeroAfterEnable,
  queueResetResets,
  queueResetOngoing,
  queueResetCompleteBothZero,
  unavailableQueueSizeZero,
  queueSizePowerOfTwo,
  adminIndexPastQueues,
  adminQueuesFit,
];
