import { assert, assertEquals, assertFalse } from "@std/assert";
import {
  type AccessEvent,
  GUEST_RAM,
  type Scenario,
  ScenarioRunner,
  type ScenarioTrace,
  type TraceEvent,
} from "../../roles/harness_device.ts";
import type { WorkloadResult } from "../../adapter.ts";
import { accepted, accesses } from "../../roles/trace.ts";
import { Mmio } from "../../transport/mmio_layout.ts";
import { Status } from "../../status.ts";
import { BlkFunction } from "../device/blk.ts";
import { type DeviceKnobs, REFERENCE_CORE_FEATURES } from "../device/core.ts";
import { RngFunction } from "../device/rng.ts";
import { bit, BLK_F, definedMask, F, mask } from "../../features.ts";
import { decodeNotificationData } from "../../virtqueue/queue.ts";
import { referenceDriverTarget } from "./driver.ts";

const target = referenceDriverTarget();

/** The ring features the reference driver accepts when offered. */
const RING_FEATURES = mask(F.EVENT_IDX, F.INDIRECT_DESC, F.IN_ORDER, F.RING_PACKED, F.NOTIFICATION_DATA);

/** The data of a successful result (fails the test otherwise). */
function okData(r: WorkloadResult | undefined): Uint8Array | undefined {
  if (!r || !r.ok) throw new Error(`workload failed: ${JSON.stringify(r)}`);
  return r.data;
}

function writes(t: ScenarioTrace, offset: number): AccessEvent[] {
  return accesses(t).filter((e) => e.kind === "write" && e.offset === offset);
}
function statusWrites(t: ScenarioTrace): number[] {
  return accesses(t).filter((e) => e.kind === "write" && e.offset === Mmio.Status).map((e) => e.value);
}
function phaseIndex(t: ScenarioTrace, phase: Extract<TraceEvent, { kind: "phase" }>["phase"]): number {
  return t.events.findIndex((e) => e.kind === "phase" && e.phase === phase);
}
/** The remove phase ends with a reset: Status 0 written, then read back 0. */
function removeResets(t: ScenarioTrace): boolean {
  const from = phaseIndex(t, "remove");
  const tail = t.events.slice(from).filter((e): e is AccessEvent => e.kind === "read" || e.kind === "write");
  const w = tail.findIndex((e) => e.kind === "write" && e.offset === Mmio.Status && e.value === 0);
  return w >= 0 && tail.slice(w + 1).some((e) => e.kind === "read" && e.offset === Mmio.Status && e.value === 0);
}
/** Common strictness checks every reference trace must pass. */
function assertStrict(t: ScenarioTrace): void {
  let prev = 0;
  let driverOk = false;
  for (const e of accesses(t)) {
    assertEquals(e.width === 4 || e.offset >= Mmio.Config, true, `narrow control access at 0x${e.offset.toString(16)}`);
    assert(e.offset < Mmio.SHMSel || e.offset > Mmio.SHMBaseHigh, "touched a shared-memory register");
    if (e.kind === "write" && e.offset === Mmio.Status) {
      if (e.value !== 0) assertEquals(e.value & prev, prev, `status write 0x${e.value.toString(16)} clears a bit`);
      prev = e.value;
      driverOk = (e.value & Status.DRIVER_OK) !== 0;
    }
    if (e.kind === "write" && e.offset >= Mmio.Config) {
      throw new Error("the reference driver wrote configuration space");
    }
    if (e.kind === "write" && e.offset === Mmio.QueueNotify) assert(driverOk, "notified before DRIVER_OK");
    if (e.kind === "write" && e.offset === Mmio.InterruptACK) assertEquals(e.value & ~3, 0);
    if (e.kind === "write" && e.queueReady) {
      assert(
        ![Mmio.QueueSize, Mmio.QueueDescLow, Mmio.QueueDescHigh, Mmio.QueueDriverLow, Mmio.QueueDriverHigh]
          .includes(e.offset as never) &&
          e.offset !== Mmio.QueueDeviceLow && e.offset !== Mmio.QueueDeviceHigh,
        "queue layout written while ready",
      );
    }
  }
  assertFalse(t.events.some((e) => e.kind === "altered"), "exposed descriptors altered");
}

Deno.test("reference driver binds to rng and reads entropy", async () => {
  const t = await new ScenarioRunner(target, "rng").run({ workloads: [{ kind: "rng-read", bytes: 32 }] });
  assertEquals(t.probe, { bound: true });
  assertEquals(okData(t.results[0])?.length, 32);
  assertEquals(accepted(t), bit(F.VERSION_1) | bit(F.RING_RESET) | bit(F.SUSPEND) | RING_FEATURES);
  assert(statusWrites(t).some((s) => s & Status.DRIVER_OK));
  assert(removeResets(t));
  assertStrict(t);
  // The interrupt was acknowledged with exactly the used-buffer bit.
  assert(accesses(t).some((e) => e.kind === "write" && e.offset === Mmio.InterruptACK && e.value === 1));
});

Deno.test("reference driver: the initialization sequence of spec 3.1", async () => {
  const t = await new ScenarioRunner(target, "blk").run({});
  assertEquals(statusWrites(t).slice(0, 5), [0, 1, 3, 11, 15]);
  const a = accesses(t);
  assertEquals(a.slice(0, 3).map((e) => e.offset), [Mmio.MagicValue, Mmio.Version, Mmio.DeviceID]);
  // Every DeviceFeatures read is preceded by a DeviceFeaturesSel write.
  const reads = a.map((e, i) => [e, i] as const).filter(([e]) => e.kind === "read" && e.offset === Mmio.DeviceFeatures);
  assertEquals(reads.length, 4);
  for (const [, i] of reads) assertEquals(a[i - 1]!.offset, Mmio.DeviceFeaturesSel);
  // Config read between two ConfigGeneration reads, capacity as two 32-bit reads.
  const cap = a.findIndex((e) => e.offset === Mmio.Config);
  assertEquals(a[cap - 1]!.offset, Mmio.ConfigGeneration);
  assertEquals(a[cap + 1]!.offset, Mmio.Config + 4);
  assertEquals(a[cap]!.width, 4);
  assertStrict(t);
});

Deno.test("reference driver: blk write then read round-trips, capacity, queue reset", async () => {
  const data = new Uint8Array(1024).map((_, i) => (i * 7 + 3) & 0xff);
  const t = await new ScenarioRunner(target, "blk").run({
    blkSectors: 4096,
    knobs: { queueResetReads: 3 },
    workloads: [
      { kind: "blk-write", sector: 5, data },
      { kind: "blk-read", sector: 5, sectors: 2 },
      { kind: "blk-capacity" },
      { kind: "queue-reset", queue: 0 },
      { kind: "blk-read", sector: 5, sectors: 2 },
    ],
  });
  assertEquals(t.probe, { bound: true });
  const [w, r, c, qr, r2] = t.results;
  assertEquals(w, { ok: true });
  assertEquals(okData(r), data);
  assertEquals(c, { ok: true, value: (t.fn as BlkFunction).capacity });
  assertEquals(c, { ok: true, value: 4096 });
  assertEquals(qr, { ok: true });
  assertEquals(okData(r2), data);
  assert(accesses(t).some((e) => e.kind === "write" && e.offset === Mmio.QueueReset && e.value === 1));
  assert(removeResets(t));
  assertStrict(t);
});

Deno.test("reference driver: queue-reset without RING_RESET is refused", async () => {
  const offered = bit(F.VERSION_1) | bit(BLK_F.FLUSH);
  const t = await new ScenarioRunner(target, "blk").run({
    knobs: { offered },
    workloads: [{ kind: "queue-reset", queue: 0 }],
  });
  assertEquals(t.probe, { bound: true });
  assertEquals(t.results[0], { ok: false, error: "RING_RESET not negotiated" });
  assertFalse(accesses(t).some((e) => e.offset === Mmio.QueueReset));
});

Deno.test("reference driver: refused FEATURES_OK sets FAILED, no DRIVER_OK, no queues", async () => {
  const t = await new ScenarioRunner(target, "blk").run({ knobs: { rejectFeaturesOk: true } });
  assertFalse(t.probe.bound);
  assert(t.probe.error);
  const s = statusWrites(t);
  assert(s.some((v) => v & Status.FAILED));
  assertFalse(s.some((v) => v & Status.DRIVER_OK));
  assertFalse(accesses(t).some((e) => e.offset === Mmio.QueueSel || e.offset === Mmio.QueueNotify));
  assertStrict(t);
});

Deno.test("reference driver: re-probe after FAILED starts with a reset", async () => {
  const t = await new ScenarioRunner(target, "blk").run({ knobs: { rejectFeaturesOk: true }, probes: 2 });
  const s = statusWrites(t);
  const failed = s.findIndex((v) => (v & Status.FAILED) !== 0);
  assert(failed >= 0);
  assertEquals(s[failed + 1], 0);
});

Deno.test("reference driver: no VERSION_1 offered → FAILED before FEATURES_OK", async () => {
  const t = await new ScenarioRunner(target, "rng").run({ knobs: { offered: 0n } });
  assertFalse(t.probe.bound);
  const s = statusWrites(t);
  assertFalse(s.some((v) => v & Status.FEATURES_OK));
  assert(s.some((v) => v & Status.FAILED));
});

Deno.test("reference driver: unknown and unimplemented offered bits are declined, not fatal", async () => {
  const offered = bit(F.VERSION_1) | bit(F.EVENT_IDX) | bit(F.INDIRECT_DESC) | bit(F.RING_PACKED) | bit(F.SR_IOV) |
    bit(F.NOTIFICATION_DATA) | bit(F.ADMIN_VQ) | bit(F.ACCESS_PLATFORM) | bit(F.ORDER_PLATFORM) | bit(3) | bit(50) |
    bit(BLK_F.BLK_SIZE) | bit(BLK_F.CONFIG_WCE) | bit(BLK_F.GEOMETRY);
  const t = await new ScenarioRunner(target, "blk").run({ knobs: { offered } });
  assertEquals(t.probe, { bound: true });
  assert(t.results[0]?.ok);
  const a = accepted(t);
  assertEquals(
    a,
    bit(F.VERSION_1) | bit(F.ACCESS_PLATFORM) | bit(F.ORDER_PLATFORM) | bit(BLK_F.BLK_SIZE) | bit(BLK_F.GEOMETRY) |
      bit(F.EVENT_IDX) | bit(F.INDIRECT_DESC) | bit(F.RING_PACKED) | bit(F.NOTIFICATION_DATA),
  );
  assertEquals(a & ~definedMask("blk", "mmio"), 0n);
  // geometry read with exact widths; writeback (CONFIG_WCE, declined) never read.
  const cfg = accesses(t).filter((e) => e.offset >= Mmio.Config).map((e) => [e.offset - Mmio.Config, e.width]);
  assert(cfg.some(([o, w]) => o === 16 && w === 2));
  assert(cfg.some(([o, w]) => o === 18 && w === 1));
  assertFalse(cfg.some(([o]) => o === 32));
  assertStrict(t);
});

Deno.test("reference driver: bad magic → no register writes at all", async () => {
  const t = await new ScenarioRunner(target, "blk").run({ identity: { magic: 0 } });
  assertFalse(t.probe.bound);
  assert(t.probe.error);
  assertFalse(accesses(t).some((e) => e.kind === "write"));
  assertEquals(accesses(t).map((e) => e.offset), [Mmio.MagicValue, Mmio.Version]);
});

Deno.test("reference driver: bad version → no register writes", async () => {
  const t = await new ScenarioRunner(target, "rng").run({ identity: { version: 1 } });
  assertFalse(t.probe.bound);
  assertFalse(accesses(t).some((e) => e.kind === "write"));
});

Deno.test("reference driver: DeviceID 0 → only the three identification reads", async () => {
  const t = await new ScenarioRunner(target, "rng").run({ identity: { deviceId: 0 } });
  assertEquals(t.probe, { bound: false });
  assertEquals(
    accesses(t).map((e) => [e.kind, e.offset]),
    [["read", Mmio.MagicValue], ["read", Mmio.Version], ["read", Mmio.DeviceID]],
  );
});

Deno.test("reference driver: held request times out, buffers stay exposed, remove resets", async () => {
  const t = await new ScenarioRunner(target, "blk", 60).run({ knobs: { holdRequests: true } });
  assertEquals(t.probe, { bound: true });
  const r = t.results[0]!;
  assertFalse(r.ok);
  assert(!r.ok && r.error.startsWith("timeout"));
  assert(removeResets(t));
  assertStrict(t);
});

Deno.test("reference driver: DEVICE_NEEDS_RESET fails the request promptly and resets", async () => {
  const started = Date.now();
  const t = await new ScenarioRunner(target, "rng", 1500).run({ knobs: { needsResetOnRequest: true } });
  assert(Date.now() - started < 1000, "did not wait for the deadline");
  const r = t.results[0]!;
  assertFalse(r.ok);
  const wl = phaseIndex(t, "workload");
  const rm = phaseIndex(t, "remove");
  const during = t.events.slice(wl, rm).filter((e): e is AccessEvent => e.kind === "write" && e.offset === Mmio.Status);
  assertEquals(during.map((e) => e.value), [0]);
  assertEquals(t.core.status, 0);
  assertStrict(t);
});

Deno.test("reference driver: acknowledges only defined interrupt bits", async () => {
  const t = await new ScenarioRunner(target, "rng").run({ identity: { interruptJunk: 0x10 } });
  assert(t.results[0]?.ok);
  const acks = accesses(t).filter((e) => e.kind === "write" && e.offset === Mmio.InterruptACK);
  assert(acks.length > 0);
  for (const a of acks) assertEquals(a.value, 1);
});

Deno.test("reference driver: no config read for features not offered", async () => {
  const offered = bit(F.VERSION_1);
  const t = await new ScenarioRunner(target, "blk").run({ knobs: { offered } });
  assertEquals(t.probe, { bound: true });
  const cfg = accesses(t).filter((e) => e.offset >= Mmio.Config).map((e) => e.offset - Mmio.Config);
  assertEquals(new Set(cfg), new Set([0, 4]));
});

Deno.test("reference driver: addresses stay inside guest memory; probe twice re-initializes", async () => {
  const t = await new ScenarioRunner(target, "blk").run({ probes: 2 });
  assertEquals(t.probe, { bound: true });
  assert(t.results[0]?.ok);
  const lows = [Mmio.QueueDescLow, Mmio.QueueDriverLow, Mmio.QueueDeviceLow] as number[];
  const a = accesses(t);
  for (let i = 0; i < a.length; i++) {
    const e = a[i]!;
    if (e.kind !== "write" || !lows.includes(e.offset)) continue;
    const high = a[i + 1]!;
    assertEquals(high.offset, e.offset + 4);
    const addr = e.value + high.value * 2 ** 32;
    assert(addr >= GUEST_RAM.base && addr < GUEST_RAM.base + GUEST_RAM.size);
  }
  const s = statusWrites(t);
  assertEquals(s.filter((v) => v === 0).length, 3); // two probes, one remove
  assertStrict(t);
});

Deno.test("reference driver: generation loop retries a read torn by a resize; requests use the new capacity", async () => {
  let resized = false;
  const t = await new ScenarioRunner(target, "blk").run({
    blkSectors: 4096,
    configure: (core, fn) => {
      core.knobs.onConfigRead = () => {
        if (resized || !(core.status & Status.DRIVER_OK)) return;
        resized = true;
        core.changeConfig(() => (fn as BlkFunction).resize(2048));
      };
    },
    workloads: [
      { kind: "blk-capacity" },
      { kind: "blk-read", sector: 3000, sectors: 1 },
      { kind: "blk-read", sector: 100, sectors: 1 },
    ],
  });
  assert(resized);
  assertEquals(t.results[0], { ok: true, value: 2048 });
  assertFalse(t.results[1]?.ok); // beyond the new capacity: refused by the driver, never submitted
  assert(t.results[2]?.ok);
  assertEquals(writes(t, Mmio.QueueNotify).length, 1);
  const gens = accesses(t).filter((e) => e.offset === Mmio.ConfigGeneration);
  assert(new Set(gens.map((e) => e.value)).size >= 2);
  assert(accesses(t).some((e) => e.kind === "write" && e.offset === Mmio.InterruptACK && e.value === 2));
  assertStrict(t);
});

// ------------------------------------------------------------------ ring features

type Driven = "rng" | "blk";

/** What the harness device offers by default for a type, minus `without`. */
function offer(type: Driven, without = 0n): bigint {
  const fn = type === "blk" ? new BlkFunction() : new RngFunction();
  return (fn.features | REFERENCE_CORE_FEATURES) & ~without;
}

/** Ring violations the harness's ring monitor recorded (none when it is not there). */
function ringEvents(t: ScenarioTrace): TraceEvent[] {
  return t.events.filter((e) => (e as { kind: string }).kind === "ring");
}

/** Ring violations of the driver (the monitor reads the used flags as the driver left them at enable). */
function driverRingEvents(t: ScenarioTrace, _knobs: DeviceKnobs): TraceEvent[] {
  return ringEvents(t);
}

/** Register writes with a given offset. */
function notifies(t: ScenarioTrace): AccessEvent[] {
  return writes(t, Mmio.QueueNotify);
}

const SECTOR_DATA = new Uint8Array(1024).map((_, i) => (i * 13 + 1) & 0xff);

/** The workloads every ring scenario runs, with a queue reset in the middle. */
function ringWorkloads(type: Driven) {
  return type === "rng"
    ? [
      { kind: "rng-read", bytes: 16 },
      { kind: "rng-read", bytes: 24 },
      { kind: "queue-reset", queue: 0 },
      { kind: "rng-read", bytes: 8 },
    ] as const
    : [
      { kind: "blk-write", sector: 7, data: SECTOR_DATA },
      { kind: "blk-read", sector: 7, sectors: 2 },
      { kind: "queue-reset", queue: 0 },
      { kind: "blk-read", sector: 7, sectors: 2 },
      { kind: "blk-write", sector: 9, data: SECTOR_DATA.subarray(0, 512) },
    ] as const;
}

/** Runs the ring workloads; checks every result, strictness and a clean ring monitor. */
async function ringScenario(type: Driven, knobs: DeviceKnobs) {
  const work = ringWorkloads(type);
  const t = await new ScenarioRunner(target, type).run({
    knobs: { queueResetReads: 2, ...knobs },
    workloads: [...work],
  });
  assertEquals(t.probe, { bound: true });
  assertEquals(t.results.length, work.length);
  for (const [i, w] of work.entries()) {
    const r = t.results[i]!;
    if (!r.ok) throw new Error(`${type} workload ${i} (${w.kind}) failed: ${r.error}`);
    if (w.kind === "rng-read") assertEquals(r.data?.length, w.bytes);
    if (w.kind === "blk-read") assertEquals(r.data, SECTOR_DATA);
  }
  assertStrict(t);
  assertEquals(driverRingEvents(t, knobs), [], "the ring monitor found violations");
  assertFalse(statusWrites(t).some((v) => v & Status.FAILED));
  assertEquals(t.core.errorReason, undefined);
  return t;
}

/** The queue set-up writes between two QueueReady=1 writes: a reset queue is set up like a new one. */
function queueSetups(t: ScenarioTrace): number[][] {
  const out: number[][] = [];
  let current: number[] = [];
  for (const e of accesses(t)) {
    if (e.kind !== "write") continue;
    if (e.offset === Mmio.QueueSel) current = [];
    else if ((LAYOUT_WRITES as number[]).includes(e.offset)) current.push(e.offset);
    if (e.offset === Mmio.QueueReady && e.value === 1) {
      out.push(current);
      current = [];
    }
  }
  return out;
}

const LAYOUT_WRITES = [
  Mmio.QueueSize,
  Mmio.QueueDescLow,
  Mmio.QueueDescHigh,
  Mmio.QueueDriverLow,
  Mmio.QueueDriverHigh,
  Mmio.QueueDeviceLow,
  Mmio.QueueDeviceHigh,
].sort((a, b) => a - b);

for (const type of ["rng", "blk"] as const) {
  Deno.test(`reference driver (${type}): everything offered → packed, EVENT_IDX, indirect, in-order, notification data`, async () => {
    const t = await ringScenario(type, {});
    assertEquals(accepted(t) & RING_FEATURES, RING_FEATURES);
    // Every notification carries the next offset and wrap of the ring; the first names slot 1, wrap 1.
    const n = notifies(t);
    assert(n.length > 0);
    assertEquals(decodeNotificationData(n[0]!.value), { vq: 0, nextOff: 1, wrap: 1 });
    // The reset queue was set up again with size and all six addresses, like at discovery.
    const setups = queueSetups(t);
    assertEquals(setups.length, 2);
    for (const s of setups) assertEquals([...s].sort((a, b) => a - b), LAYOUT_WRITES);
  });

  Deno.test(`reference driver (${type}): split ring with EVENT_IDX, indirect, in-order, notification data`, async () => {
    const t = await ringScenario(type, { offered: offer(type, bit(F.RING_PACKED)) });
    assertEquals(accepted(t) & RING_FEATURES, RING_FEATURES & ~bit(F.RING_PACKED));
    // Split notification data: the available idx after publishing (the ring restarts at 0 after the reset).
    const first = decodeNotificationData(notifies(t)[0]!.value);
    assertEquals(first, { vq: 0, nextOff: 1, wrap: 0 });
  });

  Deno.test(`reference driver (${type}): no EVENT_IDX, split and packed`, async () => {
    for (const without of [bit(F.EVENT_IDX), bit(F.EVENT_IDX) | bit(F.RING_PACKED)]) {
      const t = await ringScenario(type, { offered: offer(type, without) });
      assertEquals(accepted(t) & bit(F.EVENT_IDX), 0n);
      assertEquals(notifies(t).length, ringWorkloads(type).length - 1, "one notification per request");
    }
  });

  Deno.test(`reference driver (${type}): plain split ring (no ring feature at all)`, async () => {
    const t = await ringScenario(type, { offered: offer(type, RING_FEATURES) });
    assertEquals(accepted(t) & RING_FEATURES, 0n);
    for (const e of notifies(t)) assertEquals(e.value, 0);
  });

  Deno.test(`reference driver (${type}): device suppresses available-buffer notifications`, async () => {
    for (const without of [0n, bit(F.RING_PACKED), bit(F.EVENT_IDX) | bit(F.RING_PACKED), bit(F.EVENT_IDX)]) {
      const t = await ringScenario(type, { offered: offer(type, without), suppressAvailNotifications: true });
      assertEquals(notifies(t), [], `offered without 0x${without.toString(16)}`);
    }
  });

  Deno.test(`reference driver (${type}): spurious used-buffer notifications are harmless`, async () => {
    for (const without of [0n, bit(F.RING_PACKED), bit(F.EVENT_IDX) | bit(F.RING_PACKED)]) {
      const t = await ringScenario(type, { offered: offer(type, without), spuriousUsedNotifications: true });
      assert(t.events.filter((e) => e.kind === "irq" && e.level).length > ringWorkloads(type).length);
    }
  });

  Deno.test(`reference driver (${type}): IN_ORDER batches, split and packed`, async () => {
    for (const without of [0n, bit(F.RING_PACKED), bit(F.INDIRECT_DESC) | bit(F.RING_PACKED)]) {
      await ringScenario(type, { offered: offer(type, without), inOrderBatches: true });
    }
  });

  Deno.test(`reference driver (${type}): EVENT_IDX ignores the used ring flags (flags 1 on a split ring)`, async () => {
    const t = await ringScenario(type, { offered: offer(type, bit(F.RING_PACKED)), usedFlagsRaw: 1 });
    assertEquals(notifies(t).length, ringWorkloads(type).length - 1);
  });
}

Deno.test("reference driver: avail_event three ahead → no notification until the idx reaches it", async () => {
  const t = await new ScenarioRunner(target, "rng", 60).run({
    knobs: { offered: offer("rng", bit(F.RING_PACKED)), availEventAhead: 3 },
    workloads: [1, 2, 3, 4].map(() => ({ kind: "rng-read", bytes: 8 })),
  });
  assertEquals(t.probe, { bound: true });
  // Requests 1–3 are published without a notification (the idx does not pass avail_event = 3) and time out;
  // request 4 writes entry 3 and notifies; the device then serves all four.
  assertEquals(t.results.map((r) => r.ok), [false, false, false, true]);
  assertEquals(notifies(t).map((e) => decodeNotificationData(e.value)), [{ vq: 0, nextOff: 4, wrap: 0 }]);
  assertEquals(ringEvents(t), []);
  assertStrict(t);
});

Deno.test("reference driver: rng returns exactly the used length (never reads beyond len)", async () => {
  for (const without of [0n, bit(F.RING_PACKED)]) {
    const t = await new ScenarioRunner(target, "rng").run({
      knobs: { offered: offer("rng", without) },
      configure: (_c, fn) => {
        (fn as RngFunction).maxPerRequest = 5;
      },
      workloads: [{ kind: "rng-read", bytes: 16 }, { kind: "rng-read", bytes: 3 }],
    });
    assertEquals(okData(t.results[0])?.length, 5);
    assertEquals(okData(t.results[1])?.length, 3);
    assertEquals(ringEvents(t), []);
  }
});

Deno.test("reference driver: an IN_ORDER batch completes a timed-out request; later requests go on", async () => {
  // Split rings without EVENT_IDX: a holding device does not move avail_event, so with it the second request
  // would (rightly) not be notified.
  const split = bit(F.RING_PACKED) | bit(F.EVENT_IDX);
  for (const [type, without] of [["rng", 0n], ["rng", split], ["blk", split], ["blk", 0n]] as const) {
    const t = await new ScenarioRunner(target, type, 80).run({
      knobs: { offered: offer(type, without), inOrderBatches: true, holdRequests: true },
      configure: ((c) => {
        const notify = c.notify.bind(c);
        let n = 0;
        c.notify = (q, d) => {
          // Hold the first request; serve from the second notification on (one batch of two).
          if (++n === 2) c.knobs.holdRequests = false;
          notify(q, d);
        };
      }) satisfies Scenario["configure"],
      workloads: type === "rng"
        ? [{ kind: "rng-read", bytes: 8 }, { kind: "rng-read", bytes: 8 }, { kind: "rng-read", bytes: 8 }]
        : [
          { kind: "blk-read", sector: 0, sectors: 1 },
          { kind: "blk-read", sector: 1, sectors: 1 },
          { kind: "blk-write", sector: 1, data: SECTOR_DATA.subarray(0, 512) },
        ],
    });
    assertEquals(t.results.map((r) => r.ok), [false, true, true], `${type} without 0x${without.toString(16)}`);
    assertEquals(ringEvents(t), []);
    assertStrict(t);
  }
});
