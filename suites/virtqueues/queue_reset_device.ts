/**
 * Device clauses of spec 2.6.1 Virtqueue Reset: a reset queue is left alone,
 * comes back in its default state, and its new configuration is observed
 * when it is enabled again. Each clause runs on split and (when offered)
 * packed rings.
 *
 * @module
 */
import fc from "fast-check";
import { defineDeviceClause, type DeviceClauseContext } from "../../harness/core/clause.ts";
import { bit, F } from "../../harness/features.ts";
import type { MemoryAccess } from "../../harness/memory.ts";
import { checkProperty } from "../../harness/core/property.ts";
import { formatStatus, Status } from "../../harness/status.ts";
import { type DriverQueue, queueAreas, type UsedElem } from "../../harness/virtqueue/queue.ts";
import { SplitDriverQueue } from "../../harness/virtqueue/split.ts";
import { expectEqual, expectNone, expectThat, violation } from "../../harness/verify.ts";
import { collectUsed, fmtAccess, overlaps, QUIET_MS, quietTrace, runUntil } from "./packed_device.ts";
import { hex } from "../../harness/text.ts";

const RESET = "devicenormative:Basic Facilities of a Virtio Device / Virtqueues / Virtqueue Reset / Virtqueue Reset";
const REENABLE =
  "devicenormative:Basic Facilities of a Virtio Device / Virtqueues / Virtqueue Reset / Virtqueue Re-enable";

const QUEUE = 0;
const APPLIES = { offered: [F.RING_RESET] };

/** Ring layout and queue size of a run. */
interface Setup {
  packed: boolean;
  eventIdx: boolean;
  size: number;
}

function arbSetup(ctx: DeviceClauseContext, sizes = sizesFor(ctx)): fc.Arbitrary<Setup> {
  const packed = (ctx.offered & bit(F.RING_PACKED)) !== 0n ? fc.boolean() : fc.constant(false);
  return fc.record({ packed, eventIdx: fc.boolean(), size: fc.constantFrom(...sizes) });
}

const sizesFor = (ctx: DeviceClauseContext) => ctx.deviceType === "blk" ? [4, 8, 16] : [2, 4, 8, 16];
const fmtSetup = (s: Setup) => `${s.packed ? "packed" : "split"}${s.eventIdx ? "+EVENT_IDX" : ""}, size ${s.size}`;

/** Negotiates VIRTIO_F_RING_RESET (and the set-up's ring features), sets queue 0 up, sets DRIVER_OK. */
async function open(ctx: DeviceClauseContext, s: Setup): Promise<DriverQueue> {
  let want = bit(F.VERSION_1) | bit(F.RING_RESET);
  if (s.packed) want |= bit(F.RING_PACKED);
  if (s.eventIdx) want |= bit(F.EVENT_IDX);
  const r = await ctx.driver.init("features-ok", (o) => o & want);
  expectThat(r.featuresOk, "FEATURES_OK with VIRTIO_F_RING_RESET", () => formatStatus(r.status));
  const max = await ctx.transport.queueMax(QUEUE);
  const q = await ctx.driver.setupQueue(QUEUE, Math.min(s.size, max));
  await ctx.driver.addStatus(Status.DRIVER_OK);
  return q;
}

/** Completes `n` requests in batches that fit the queue (a device that does not is a harness error here). */
async function serve(ctx: DeviceClauseContext, n: number): Promise<void> {
  const batch = ctx.driver.sampleCapacity(QUEUE);
  for (let done = 0; done < n;) {
    const k = Math.min(batch, n - done);
    for (let i = 0; i < k; i++) await ctx.driver.sampleRequest(QUEUE);
    await ctx.driver.kick(QUEUE);
    const { used } = await collectUsed(ctx, QUEUE, k);
    if (used.length < k) {
      throw new Error(
        `The device used ${used.length} of ${k} requests before the queue reset (${ctx.driver.describeQueue(QUEUE)})`,
      );
    }
    done += k;
  }
}

/** Resets queue 0 and polls QueueReset (bounded) until the reset completed. */
async function resetQueue(ctx: DeviceClauseContext): Promise<void> {
  await ctx.transport.startQueueReset(QUEUE);
  for (let i = 0; i < 100; i++) {
    if (!(await ctx.transport.queueResetPending(QUEUE))) return;
    await ctx.driver.quiet(5);
  }
  throw new Error("The queue reset did not complete: QueueReset still reads 1 after 100 reads");
}

/** Acknowledges every pending interrupt cause. */
async function ackAll(ctx: DeviceClauseContext): Promise<void> {
  const isr = await ctx.transport.interruptStatus();
  if (isr !== 0) await ctx.transport.ackInterrupt(isr);
}

interface Region {
  name: string;
  addr: number;
  len: number;
  bytes: Uint8Array;
}

/** The three areas of a queue plus extra buffers, with their current bytes. */
async function snapshot(
  ctx: DeviceClauseContext,
  q: DriverQueue,
  buffers: { addr: number; len: number }[] = [],
): Promise<Region[]> {
  const names = ["descriptor area", "driver area", "device area"];
  const out: Region[] = [];
  const all: [string, number, number][] = [
    ...queueAreas(q).map(([a, l], i) => [`old ${names[i]}`, a, l] as [string, number, number]),
    ...buffers.map((b, i) => [`request buffer ${i}`, b.addr, b.len] as [string, number, number]),
  ];
  for (const [name, addr, len] of all) out.push({ name, addr, len, bytes: await ctx.session.memory.read(addr, len) });
  return out;
}

/** Checks the regions kept their bytes and the trace has no access to them. */
async function expectUntouched(
  ctx: DeviceClauseContext,
  regions: Region[],
  trace: MemoryAccess[],
  when: string,
): Promise<void> {
  const changed: string[] = [];
  for (const r of regions) {
    const now = await ctx.session.memory.read(r.addr, r.len);
    const k = now.findIndex((v, i) => v !== r.bytes[i]);
    if (k >= 0) changed.push(`${r.name} byte ${k}: ${hex(r.bytes[k]!)} → ${hex(now[k]!)}`);
  }
  expectNone(`the old rings and their requests unchanged ${when}`, changed, (s) => s);
  const hits: string[] = [];
  trace.forEach((a, n) => {
    const r = regions.find((x) => overlaps(a, x.addr, x.len));
    if (r) hits.push(`${fmtAccess(a, n)} (${r.name})`);
  });
  expectNone(`no device access to the old rings or their requests ${when}`, hits, (s) => s);
}

// ---------------------------------------------------------------------------------------------------------------------
// 2.6.1.1.1 Virtqueue Reset

interface QuietPlan {
  setup: Setup;
  before: number;
  pending: number;
  after: number;
  reenable: boolean;
}

export const resetQueueLeftAlone = defineDeviceClause({
  label: RESET,
  statement: 1,
  level: "MUST NOT",
  title: "a reset queue executes nothing and notifies nothing",
  requirement: "Once a queue reset has completed, the device executes no request from that queue (not even one " +
    "that was available, unprocessed, when the reset started) and sends no notification for it.",
  action: "Completes random requests, makes more available without notifying, resets the queue and waits for " +
    "QueueReset to read 0; may add requests to the old rings and may enable the queue on fresh rings; then " +
    "notifies and checks the old rings and the requests' buffers are untouched (bytes and memory accesses) and, " +
    "with the queue still reset, that no interrupt came.",
  applies: APPLIES,
  async run(ctx) {
    const arb = fc.record({
      setup: arbSetup(ctx),
      before: fc.integer({ min: 0, max: 6 }),
      pending: fc.integer({ min: 0, max: 3 }),
      after: fc.integer({ min: 0, max: 2 }),
      reenable: fc.boolean(),
    });
    await checkProperty(
      ctx,
      arb,
      async (p: QuietPlan) => {
        const q = await open(ctx, p.setup);
        await serve(ctx, p.before);
        // The notifications of the requests served come in before the reset (none left to wait for where they are
        // ordered with the used index).
        await ctx.driver.quiet(ctx.driver.notificationWindow(QUIET_MS));
        const buffers: { addr: number; len: number }[] = [];
        const put = async (n: number) => {
          for (let i = 0; i < n && ctx.driver.sampleRoom(QUEUE) > 0; i++) {
            buffers.push(...(await ctx.driver.sampleRequest(QUEUE)).buffers);
          }
        };
        await put(p.pending);
        await resetQueue(ctx);
        await ackAll(ctx);
        ctx.session.takeMemoryTrace?.();
        await put(p.after);
        if (p.reenable) await ctx.driver.setupQueue(QUEUE, q.size);
        const regions = await snapshot(ctx, q, buffers);
        await ctx.driver.kick(QUEUE);
        const trace = [...(ctx.session.takeMemoryTrace?.() ?? []), ...await quietTrace(ctx)];
        const when = `after the queue reset${p.reenable ? " (queue enabled again on fresh rings)" : ""}`;
        await expectUntouched(ctx, regions, trace, when);
        if (!p.reenable) {
          const level = await ctx.session.interruptLevel();
          const isr = await ctx.transport.interruptStatus();
          expectThat(
            !level && isr === 0,
            `no notification ${when}`,
            () => `interrupt line ${level ? "high" : "low"}, InterruptStatus ${hex(isr)}`,
          );
        }
      },
      (p) =>
        `${fmtSetup(p.setup)}; ${p.before} completed, ${p.pending} pending at the reset, ${p.after} added after; ${
          p.reenable ? "re-enabled" : "left reset"
        }`,
    );
  },
});

/** The used elements of `n` fresh requests on the re-enabled queue, or a violation naming where the device went. */
async function expectServedFromStart(
  ctx: DeviceClauseContext,
  q: DriverQueue,
  heads: number[],
  when: string,
): Promise<UsedElem[]> {
  const n = heads.length;
  let trace: MemoryAccess[] = [];
  if (q instanceof SplitDriverQueue) {
    trace = await runUntil(ctx, async () => (await q.usedIdx()) === n);
    const idx = await q.usedIdx();
    expectEqual(`used idx after ${n} request(s) ${when} (counting from 0)`, idx, n);
  }
  const got = await collectUsed(ctx, QUEUE, n);
  trace.push(...got.trace);
  // Where the device first looked for available buffers and first wrote used ones.
  const areas = queueAreas(q);
  const [desc, driver, device] = areas;
  const firstSlot = (kind: "read" | "write", base: number, stride: number, len: number) => {
    const a = trace.find((x) => x.kind === kind && overlaps(x, base, len));
    return a === undefined ? undefined : Math.floor((Math.max(a.addr, base) - base) / stride);
  };
  if (ctx.session.takeMemoryTrace) {
    const split = q.format === "split";
    const firstAvail = split
      ? firstSlot("read", driver![0] + 4, 2, 2 * q.size)
      : firstSlot("read", desc![0], 16, desc![1]);
    const firstUsed = split
      ? firstSlot("write", device![0] + 4, 8, 8 * q.size)
      : firstSlot("write", desc![0], 16, desc![1]);
    expectThat(
      firstAvail === undefined || firstAvail === 0,
      `the device's first look at the available ${split ? "ring" : "descriptors"} ${when} at slot 0`,
      () => `first read at slot ${firstAvail}`,
    );
    expectThat(
      firstUsed === undefined || firstUsed === 0,
      `the device's first used ${split ? "element" : "descriptor"} ${when} at slot 0`,
      () => `first write at slot ${firstUsed}`,
    );
  }
  const ids = got.used.map((u) => u.id).sort((a, b) => a - b);
  const want = [...heads].sort((a, b) => a - b);
  expectThat(
    ids.join() === want.join(),
    `every request ${when} used: ids [${want.join(", ")}]${
      q.format === "packed" ? ", used descriptors from slot 0 with wrap counter 1" : ""
    }`,
    () => `used ids [${ids.join(", ")}] within the deadline`,
  );
  return got.used;
}

interface DefaultsPlan {
  setup: Setup;
  before: number;
  pending: number;
  fresh: number;
}

export const resetQueueDefaults = defineDeviceClause({
  label: RESET,
  statement: 2,
  level: "MUST",
  title: "a reset queue returns to its default state",
  requirement: "A queue reset puts every piece of the queue's state back to its default, the available and the " +
    "used state included: once enabled again, the device reads available buffers from the start of the ring " +
    "and writes used ones from the start.",
  action: "Completes a random number of requests (so the device's positions are not at the start, possibly " +
    "wrapped), may leave some available without notifying, resets the queue, checks it reads disabled, enables it " +
    "on fresh zeroed rings of " +
    "the same size, makes new requests available and checks they are all used, the used index counting from 0 " +
    "(split) or the used descriptors from slot 0 with wrap counter 1 (packed), and (with a memory trace) that " +
    "the device first read slot 0 and first wrote used slot 0.",
  applies: APPLIES,
  async run(ctx) {
    const arb = fc.record({
      setup: arbSetup(ctx),
      before: fc.integer({ min: 1, max: 24 }),
      pending: fc.integer({ min: 0, max: 2 }),
      fresh: fc.integer({ min: 1, max: 4 }),
    });
    await checkProperty(
      ctx,
      arb,
      async (p: DefaultsPlan) => {
        const q = await open(ctx, p.setup);
        await serve(ctx, p.before);
        // The notifications of the requests served come in before the reset (none left to wait for where they are
        // ordered with the used index).
        await ctx.driver.quiet(ctx.driver.notificationWindow(QUIET_MS));
        for (let i = 0; i < p.pending && ctx.driver.sampleRoom(QUEUE) > 0; i++) await ctx.driver.sampleRequest(QUEUE);
        await resetQueue(ctx);
        // The enable state is part of the queue's state: a queue still enabled was not reset (and a request on
        // fresh rings would only show it after a deadline).
        const ready = await ctx.transport.queueReady(QUEUE);
        expectThat(!ready, "the queue disabled once its reset completed (enabled 0, the default)", () => "enabled 1");
        const fresh = await ctx.driver.setupQueue(QUEUE, q.size);
        ctx.session.takeMemoryTrace?.();
        const n = Math.min(p.fresh, ctx.driver.sampleCapacity(QUEUE));
        const heads: number[] = [];
        for (let i = 0; i < n; i++) heads.push((await ctx.driver.sampleRequest(QUEUE)).head);
        await ctx.driver.kick(QUEUE);
        await expectServedFromStart(ctx, fresh, heads, "on the queue enabled again after its reset");
      },
      (p) =>
        `${fmtSetup(p.setup)}; ${p.before} completed, ${p.pending} pending at the reset, ${p.fresh} on the fresh rings`,
    );
  },
});

// ---------------------------------------------------------------------------------------------------------------------
// 2.6.1.2.1 Virtqueue Re-enable

interface ReenablePlan {
  setup: Setup;
  size2: number;
  before: number;
  extra: number;
}

export const reenableObservesConfig = defineDeviceClause({
  label: REENABLE,
  statement: 1,
  level: "MUST",
  title: "re-enable uses the new queue size and addresses",
  requirement: "When a reset queue is enabled again, the device takes the queue configuration the driver wrote " +
    "since (a new size, new ring addresses) into account.",
  action: "Completes some requests, resets the queue, enables it with a different size at new addresses, runs " +
    "more requests through it than either size holds (so the new ring wraps) and checks each is used, while " +
    "the old rings stay unchanged and (with a memory trace) untouched.",
  applies: APPLIES,
  async run(ctx) {
    const sizes = sizesFor(ctx);
    const arb = arbSetup(ctx, sizes).chain((setup) =>
      fc.record({
        setup: fc.constant(setup),
        size2: fc.constantFrom(...sizes.filter((s) => s !== setup.size)),
        before: fc.integer({ min: 0, max: 8 }),
        extra: fc.integer({ min: 0, max: 4 }),
      })
    );
    await checkProperty(ctx, arb, async (p: ReenablePlan) => {
      const old = await open(ctx, p.setup);
      await serve(ctx, p.before);
      await resetQueue(ctx);
      const q = await ctx.driver.setupQueue(QUEUE, Math.min(p.size2, await ctx.transport.queueMax(QUEUE)));
      const regions = await snapshot(ctx, old);
      ctx.session.takeMemoryTrace?.();
      const when = `after re-enabling with size ${q.size} (was ${old.size}) at new addresses`;
      const total = Math.max(old.size, q.size) + 1 + p.extra;
      const batch = ctx.driver.sampleCapacity(QUEUE);
      const trace: MemoryAccess[] = [];
      for (let done = 0; done < total;) {
        const k = Math.min(batch, total - done);
        const heads: number[] = [];
        for (let i = 0; i < k; i++) heads.push((await ctx.driver.sampleRequest(QUEUE)).head);
        await ctx.driver.kick(QUEUE);
        const got = await collectUsed(ctx, QUEUE, k);
        trace.push(...got.trace);
        const ids = got.used.map((u) => u.id).sort((a, b) => a - b).join(", ");
        if (got.used.length < k) {
          await expectUntouched(ctx, regions, trace, when);
          violation(
            `requests ${done + 1}..${done + k} of ${total} used ${when}: ids [${heads.join(", ")}]`,
            `used ids [${ids}] within the deadline`,
          );
        }
        done += k;
      }
      await expectUntouched(ctx, regions, trace, when);
    }, (p) => `${fmtSetup(p.setup)} → size ${p.size2}; ${p.before} completed before the reset, ${p.extra} extra`);
  },
});

/** The device clauses of spec 2.6.1, in spec order. */
export const QUEUE_RESET_DEVICE_CLAUSES = [resetQueueLeftAlone, resetQueueDefaults, reenableObservesConfig];
