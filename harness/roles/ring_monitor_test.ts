import { assert, assertEquals, assertFalse } from "@std/assert";
import blocksJson from "../../fixtures/spec/v1.4/blocks.json" with { type: "json" };
import { ArrayMemory, le, readU16, writeU16, writeU32 } from "../memory.ts";
import type { QueueAddresses } from "../transport/transport.ts";
import { encodeNotificationData, PLAIN_SPLIT, type RingFeatures } from "../virtqueue/queue.ts";
import { RING_VIOLATION_STATEMENTS, RingMonitor, type RingViolationKind } from "./ring_monitor.ts";
import { WatchedMemory } from "./watched_memory.ts";
import type { Workload } from "../adapter.ts";
import { bit, type DeviceTypeName, F } from "../features.ts";
import { driverTarget, ReferenceDriver, referenceDriverTarget } from "../models/driver/driver.ts";
import { Mmio } from "../transport/mmio_layout.ts";
import { deviceFunctionFor, type Scenario, ScenarioRunner } from "./harness_device.ts";
import { fmtRing, ringViolations, ringViolationsOf } from "./trace.ts";

const BASE = 0x10000;
const MEM_SIZE = 0x10000;
const NEXT = 1;
const WRITE = 2;
const INDIRECT = 4;
const AVAIL = 1 << 7;
const USED = 1 << 15;

interface Desc {
  addr?: number;
  len?: number;
  flags?: number;
  next?: number;
  id?: number;
}

function descBytes(d: Desc, packed: boolean): Uint8Array {
  const b = new Uint8Array(16);
  le.setU64(b, 0, d.addr ?? BASE + 0x8000);
  le.setU32(b, 8, d.len ?? 16);
  if (packed) {
    le.setU16(b, 12, d.id ?? 0);
    le.setU16(b, 14, d.flags ?? 0);
  } else {
    le.setU16(b, 12, d.flags ?? 0);
    le.setU16(b, 14, d.next ?? 0);
  }
  return b;
}

/** A split queue of `size` under a monitor, with a driver writing through the watched view. */
class SplitRig {
  readonly raw = new ArrayMemory(BASE, MEM_SIZE);
  readonly mem = new WatchedMemory(this.raw);
  readonly monitor = new RingMonitor(this.raw, { watched: this.mem });
  readonly addrs: QueueAddresses;
  availIdx = 0;
  usedIdx = 0;
  constructor(readonly features: Partial<RingFeatures> = {}, size = 8, addrs?: Partial<QueueAddresses>) {
    this.addrs = { size, desc: BASE, driver: BASE + 0x2000, device: BASE + 0x3000, ...addrs };
  }
  enable(q = 0): this {
    this.monitor.enableQueue(q, { ...PLAIN_SPLIT, ...this.features }, this.addrs);
    return this;
  }
  kinds(): RingViolationKind[] {
    return this.monitor.violations.map((v) => v.kind);
  }
  desc(i: number, d: Desc): Promise<void> {
    return this.mem.write(this.addrs.desc + 16 * i, descBytes(d, false));
  }
  entry(slot: number, head: number): Promise<void> {
    return writeU16(this.mem, this.addrs.driver + 4 + 2 * slot, head);
  }
  idx(value: number): Promise<void> {
    this.availIdx = value & 0xffff;
    return writeU16(this.mem, this.addrs.driver + 2, value);
  }
  /** Ring entry then idx, the way a correct driver publishes one head. */
  async publish(head: number): Promise<void> {
    await this.entry(this.availIdx % this.addrs.size, head);
    await this.idx(this.availIdx + 1);
  }
  /** Reads the suppression fields (as a driver deciding on a notification). */
  async readSuppression(): Promise<void> {
    await readU16(this.mem, this.addrs.device);
    await readU16(this.mem, this.addrs.device + 4 + 8 * this.addrs.size);
  }
  notify(q = 0): void {
    this.monitor.notify(q);
  }
  /** The device uses buffer `id` (raw memory, unseen by the watcher). */
  async use(id: number, len = 0): Promise<void> {
    const slot = this.usedIdx % this.addrs.size;
    await writeU32(this.raw, this.addrs.device + 4 + 8 * slot, id);
    await writeU32(this.raw, this.addrs.device + 8 + 8 * slot, len);
    this.usedIdx = (this.usedIdx + 1) & 0xffff;
    await writeU16(this.raw, this.addrs.device + 2, this.usedIdx);
  }
  /** The device's used flags / avail_event (raw). */
  async suppress(flags: number, availEvent = 0): Promise<void> {
    await writeU16(this.raw, this.addrs.device, flags);
    await writeU16(this.raw, this.addrs.device + 4 + 8 * this.addrs.size, availEvent);
  }
}

/** A correct one-descriptor submission: descriptor, entry, idx, read, notify. */
async function submit(rig: SplitRig, head: number, d: Desc = { flags: WRITE }): Promise<void> {
  await rig.desc(head, d);
  await rig.publish(head);
  await rig.readSuppression();
  rig.notify();
}

function assertKinds(rig: { kinds(): RingViolationKind[] }, expected: RingViolationKind[]): void {
  assertEquals([...new Set(rig.kinds())].sort(), [...new Set(expected)].sort());
}

Deno.test("every violation kind names a statement of the right level in blocks.json", () => {
  const blocks = new Map(blocksJson.blocks.map((b) => [b.label, b.statements as string[]]));
  for (const [kind, key] of Object.entries(RING_VIOLATION_STATEMENTS)) {
    const hash = key.lastIndexOf("#");
    const statements = blocks.get(key.slice(0, hash));
    assert(statements, `${kind}: no block ${key.slice(0, hash)}`);
    const level = statements?.[Number(key.slice(hash + 1)) - 1];
    assert(level && level !== "MAY", `${kind}: ${key} is ${level}`);
    assert(key.startsWith("drivernormative:"), `${kind}: ${key} is not a driver statement`);
  }
});

Deno.test("watched memory reports only accesses inside its ranges, with the old bytes", async () => {
  const raw = new ArrayMemory(BASE, 0x1000);
  const mem = new WatchedMemory(raw);
  const log: string[] = [];
  mem.watcher = {
    onWrite: (a, d, b) => log.push(`w ${a - BASE} ${[...b]}→${[...d]}`),
    onRead: (a, l) => log.push(`r ${a - BASE}+${l}`),
  };
  mem.setRanges("x", [{ start: BASE + 0x10, end: BASE + 0x20 }]);
  await mem.write(BASE, new Uint8Array([1, 2]));
  await mem.write(BASE + 0x0f, new Uint8Array([3, 4]));
  await mem.read(BASE + 0x1f, 4);
  await mem.read(BASE + 0x20, 4);
  assertEquals(log, ["w 15 0,0→3,4", "r 31+4"]);
  mem.watcher = {
    onWrite: () => {
      throw new Error("hook failure");
    },
    onRead: () => {},
  };
  await mem.write(BASE + 0x10, new Uint8Array([9]));
  assertEquals(raw.bytes[0x10], 9);
  mem.clearRanges();
  assertFalse(mem.watches(BASE + 0x10, 1));
  mem.setRanges("x", [{ start: BASE + 0xff0, end: BASE + 0x1010 }]);
  let threw = false;
  try {
    await mem.write(BASE + 0xfff, new Uint8Array([1, 2]));
  } catch {
    threw = true;
  }
  assert(threw, "out-of-range writes still fail");
});

// ------------------------------------------------------------------ split

Deno.test("split: a correct driver produces no violation over many laps", async () => {
  const rig = new SplitRig({}, 4).enable();
  for (let n = 0; n < 40; n++) {
    const head = n % 4;
    await rig.desc(head, { flags: NEXT, next: (head + 1) % 4 });
    await rig.desc((head + 1) % 4, { flags: WRITE });
    await rig.publish(head);
    await rig.readSuppression();
    rig.notify();
    await rig.use(head, 16);
  }
  rig.monitor.checkpoint();
  assertKinds(rig, []);
  assertEquals(rig.monitor.queueSummary(0), { published: 40, notifications: 40, used: 40, readable: 40 });
});

Deno.test("split: layout checks at enable", async () => {
  const misaligned = new SplitRig({}, 8, { desc: BASE + 8, driver: BASE + 0x2001, device: BASE + 0x3002 }).enable();
  assertKinds(misaligned, ["misaligned-area"]);
  assert(misaligned.monitor.violations[0]!.detail.includes("desc area"));
  const outside = new SplitRig({}, 8, { device: BASE + MEM_SIZE - 8 }).enable();
  assertKinds(outside, ["area-outside-memory"]);
  assertEquals(outside.monitor.liveQueues(), []);
  const dirty = new SplitRig({}, 8);
  await writeU16(dirty.raw, dirty.addrs.device, 1);
  dirty.enable();
  assertKinds(dirty, ["used-flags-not-zero"]);
  const clean = new SplitRig({}, 8).enable();
  assertKinds(clean, []);
});

Deno.test("split: available idx moving backwards or beyond the queue", async () => {
  const rig = new SplitRig({}, 4).enable();
  await submit(rig, 0);
  await rig.idx(0);
  assertKinds(rig, ["avail-idx-backwards"]);
  const over = new SplitRig({}, 4).enable();
  for (let s = 0; s < 4; s++) await over.entry(s, s);
  await over.idx(6);
  assert(over.kinds().includes("avail-idx-overrun"));
  const full = new SplitRig({}, 4).enable();
  for (let s = 0; s < 4; s++) {
    await full.desc(s, {});
    await full.entry(s, s);
  }
  await full.idx(4);
  full.notify();
  assertKinds(full, []);
});

Deno.test("split: idx published before its ring entry", async () => {
  const rig = new SplitRig().enable();
  await rig.desc(0, {});
  await rig.idx(1);
  rig.notify();
  assertKinds(rig, ["idx-before-entry"]);
  // The same slot covered again without a fresh write.
  const again = new SplitRig({}, 1).enable();
  await submit(again, 0);
  await again.use(0);
  await again.idx(2);
  again.notify();
  assertKinds(again, ["idx-before-entry"]);
  const ok = new SplitRig({}, 1).enable();
  await submit(ok, 0);
  await ok.use(0);
  await submit(ok, 0);
  assertKinds(ok, []);
});

Deno.test("split: exposed descriptors changed, reused, or left alone", async () => {
  const rig = new SplitRig().enable();
  await rig.desc(0, { flags: NEXT, next: 1 });
  await rig.desc(1, { flags: WRITE });
  await rig.publish(0);
  rig.notify();
  await rig.mem.write(rig.addrs.desc, new Uint8Array(16 * 8));
  assertKinds(rig, ["desc-changed-while-exposed"]);
  const v = rig.monitor.violations[0]!;
  assertEquals(v.head, 0);
  assert(v.detail.includes("flags 0x1→0x0") && v.detail.includes("descriptor 1"), v.detail);
  // Rewriting identical bytes is not a change.
  const same = new SplitRig().enable();
  await submit(same, 0);
  await same.desc(0, { flags: WRITE });
  assertKinds(same, []);
  // Once used, the descriptor is the driver's again.
  const after = new SplitRig().enable();
  await submit(after, 0);
  await after.use(0);
  await after.desc(0, { flags: 0, len: 99 });
  assertKinds(after, []);
  // Publishing a chain through a descriptor still exposed.
  const reuse = new SplitRig().enable();
  await reuse.desc(2, { flags: WRITE });
  await reuse.desc(3, { flags: NEXT, next: 2 });
  await reuse.publish(2);
  await reuse.publish(3);
  reuse.notify();
  assertKinds(reuse, ["desc-reused-while-exposed"]);
  assert(reuse.monitor.violations[0]!.detail.includes("descriptor 2 belongs to the chain with head 2"));
});

Deno.test("split: chain checks at publication", async (t) => {
  const cases: {
    name: string;
    features?: Partial<RingFeatures>;
    build: (rig: SplitRig) => Promise<void>;
    expect: RingViolationKind[];
  }[] = [
    {
      name: "readable after writable",
      build: async (r) => {
        await r.desc(0, { flags: WRITE | NEXT, next: 1 });
        await r.desc(1, { flags: 0 });
      },
      expect: ["readable-after-writable"],
    },
    {
      name: "readable then writable is fine",
      build: async (r) => {
        await r.desc(0, { flags: NEXT, next: 1 });
        await r.desc(1, { flags: WRITE });
      },
      expect: [],
    },
    {
      name: "more than 2^32 bytes",
      build: async (r) => {
        await r.desc(0, { flags: NEXT, next: 1, len: 0xffff_ffff });
        await r.desc(1, { len: 2 });
      },
      expect: ["chain-too-large"],
    },
    {
      name: "IN_ORDER next not x + 1",
      features: { inOrder: true },
      build: async (r) => {
        await r.desc(0, { flags: NEXT, next: 2 });
        await r.desc(2, {});
      },
      expect: ["in-order-next"],
    },
    {
      name: "next not x + 1 without IN_ORDER is fine",
      build: async (r) => {
        await r.desc(0, { flags: NEXT, next: 2 });
        await r.desc(2, {});
      },
      expect: [],
    },
    {
      name: "INDIRECT without the feature",
      build: (r) => r.desc(0, { flags: INDIRECT, addr: BASE + 0x4000, len: 32 }),
      expect: ["indirect-without-feature"],
    },
    {
      name: "INDIRECT with NEXT",
      features: { indirect: true },
      build: async (r) => {
        await r.desc(0, { flags: INDIRECT | NEXT, next: 1, addr: BASE + 0x4000, len: 16 });
        await r.desc(1, {});
      },
      expect: ["indirect-with-next"],
    },
    {
      name: "INDIRECT inside a table",
      features: { indirect: true },
      build: async (r) => {
        await r.mem.write(BASE + 0x4000, descBytes({ flags: INDIRECT, addr: BASE + 0x5000, len: 16 }, false));
        await r.desc(0, { flags: INDIRECT, addr: BASE + 0x4000, len: 16 });
      },
      expect: ["indirect-in-indirect"],
    },
    {
      name: "a correct indirect table",
      features: { indirect: true, inOrder: true },
      build: async (r) => {
        await r.mem.write(BASE + 0x4000, descBytes({ flags: NEXT, next: 1 }, false));
        await r.mem.write(BASE + 0x4010, descBytes({ flags: WRITE }, false));
        await r.desc(0, { flags: INDIRECT, addr: BASE + 0x4000, len: 32 });
      },
      expect: [],
    },
    {
      name: "IN_ORDER indirect entries out of sequence",
      features: { indirect: true, inOrder: true },
      build: async (r) => {
        await r.mem.write(BASE + 0x4000, descBytes({ flags: NEXT, next: 2 }, false));
        await r.mem.write(BASE + 0x4020, descBytes({ flags: WRITE }, false));
        await r.desc(0, { flags: INDIRECT, addr: BASE + 0x4000, len: 48 });
      },
      expect: ["indirect-not-sequential"],
    },
    {
      name: "writable then readable across an indirect table",
      features: { indirect: true },
      build: async (r) => {
        await r.mem.write(BASE + 0x4000, descBytes({ flags: WRITE | NEXT, next: 1 }, false));
        await r.mem.write(BASE + 0x4010, descBytes({ flags: 0 }, false));
        await r.desc(0, { flags: INDIRECT, addr: BASE + 0x4000, len: 32 });
      },
      expect: ["readable-after-writable"],
    },
    {
      name: "a loop",
      build: async (r) => {
        await r.desc(0, { flags: NEXT, next: 1 });
        await r.desc(1, { flags: NEXT, next: 0 });
      },
      expect: ["chain-too-long"],
    },
    {
      name: "next out of range",
      build: (r) => r.desc(0, { flags: NEXT, next: 500 }),
      expect: ["desc-index-out-of-range"],
    },
    {
      name: "indirect table outside memory, huge length",
      features: { indirect: true },
      build: (r) => r.desc(0, { flags: INDIRECT, addr: 2 ** 52, len: 0xffff_fff0 }),
      expect: ["indirect-table-invalid"],
    },
    {
      name: "indirect table of a bad length",
      features: { indirect: true },
      build: (r) => r.desc(0, { flags: INDIRECT, addr: BASE + 0x4000, len: 20 }),
      expect: ["indirect-table-invalid"],
    },
    {
      name: "indirect table looping",
      features: { indirect: true },
      build: async (r) => {
        await r.mem.write(BASE + 0x4000, descBytes({ flags: NEXT, next: 1 }, false));
        await r.mem.write(BASE + 0x4010, descBytes({ flags: NEXT, next: 0 }, false));
        await r.desc(0, { flags: INDIRECT, addr: BASE + 0x4000, len: 32 });
      },
      expect: ["chain-too-long"],
    },
    {
      name: "indirect next out of the table",
      features: { indirect: true },
      build: async (r) => {
        await r.mem.write(BASE + 0x4000, descBytes({ flags: NEXT, next: 9 }, false));
        await r.desc(0, { flags: INDIRECT, addr: BASE + 0x4000, len: 32 });
      },
      expect: ["desc-index-out-of-range"],
    },
  ];
  for (const c of cases) {
    await t.step(c.name, async () => {
      const rig = new SplitRig(c.features ?? {}).enable();
      await c.build(rig);
      await rig.publish(0);
      rig.notify();
      assertKinds(rig, c.expect);
    });
  }
  await t.step("a head out of range", async () => {
    const rig = new SplitRig().enable();
    await rig.publish(0xffff);
    rig.notify();
    assertKinds(rig, ["desc-index-out-of-range"]);
  });
  await t.step("a loop through the whole of a 32768-entry queue", async () => {
    const rig = new SplitRig({}, 32768, { desc: BASE, driver: BASE + 0x8000, device: BASE + 0x9000 });
    const raw = new ArrayMemory(BASE, 1 << 20);
    const mem = new WatchedMemory(raw);
    const monitor = new RingMonitor(raw, { watched: mem });
    const addrs = { size: 32768, desc: BASE, driver: BASE + 0x80000, device: BASE + 0x90000 };
    monitor.enableQueue(0, PLAIN_SPLIT, addrs);
    for (let i = 0; i < 32768; i++) {
      raw.bytes.set(descBytes({ flags: NEXT, next: (i + 1) % 32768 }, false), 16 * i);
    }
    await writeU16(mem, addrs.driver + 4, 0);
    await writeU16(mem, addrs.driver + 2, 1);
    assertEquals(monitor.violations.map((v) => v.kind), ["chain-too-long"]);
    assertKinds(rig, []);
  });
  await t.step("an indirect table changed while exposed", async () => {
    const rig = new SplitRig({ indirect: true }).enable();
    await rig.mem.write(BASE + 0x4000, descBytes({ flags: WRITE }, false));
    await rig.desc(0, { flags: INDIRECT, addr: BASE + 0x4000, len: 16 });
    await rig.publish(0);
    rig.notify();
    await rig.mem.write(BASE + 0x4008, new Uint8Array([1, 2, 3, 4]));
    assertKinds(rig, ["desc-changed-while-exposed"]);
    await rig.use(0);
    await rig.mem.write(BASE + 0x4008, new Uint8Array([5, 6, 7, 8]));
    assertEquals(rig.monitor.violations.length, 1);
  });
});

Deno.test("split: available ring flags", async () => {
  const plain = new SplitRig().enable();
  await writeU16(plain.mem, plain.addrs.driver, 1);
  assertKinds(plain, []);
  await writeU16(plain.mem, plain.addrs.driver, 2);
  assertKinds(plain, ["avail-flags-invalid"]);
  const event = new SplitRig({ eventIdx: true }).enable();
  await writeU16(event.mem, event.addrs.driver, 0);
  assertKinds(event, []);
  await writeU16(event.mem, event.addrs.driver, 1);
  assertKinds(event, ["avail-flags-nonzero-event-idx"]);
});

Deno.test("split: notifications without EVENT_IDX", async () => {
  const missed = new SplitRig().enable();
  await missed.desc(0, {});
  await missed.publish(0);
  await missed.readSuppression();
  missed.monitor.checkpoint();
  assertKinds(missed, ["missed-notification"]);
  // Flags 1 (NO_NOTIFY): no notification is right, one is a SHOULD NOT.
  const suppressed = new SplitRig().enable();
  await suppressed.suppress(1);
  await suppressed.desc(0, {});
  await suppressed.publish(0);
  await suppressed.readSuppression();
  suppressed.monitor.checkpoint();
  assertKinds(suppressed, []);
  await suppressed.desc(1, {});
  await suppressed.publish(1);
  await suppressed.readSuppression();
  suppressed.notify();
  assertKinds(suppressed, ["unneeded-notification"]);
  // The device cleared the flag after the idx write, before the driver read it: either choice is sound.
  const raced = new SplitRig().enable();
  await raced.suppress(1);
  await raced.desc(0, {});
  await raced.publish(0);
  await raced.suppress(0);
  await raced.readSuppression();
  raced.notify();
  assertKinds(raced, []);
  // A notification with nothing new is allowed.
  raced.notify();
  raced.monitor.checkpoint();
  assertKinds(raced, []);
  // A device reset settles a window too.
  const reset = new SplitRig().enable();
  await reset.desc(0, {});
  await reset.publish(0);
  reset.monitor.reset();
  assertKinds(reset, ["missed-notification"]);
});

Deno.test("split: a watched driver whose device may have changed avail_event between samples is not judged on it", async () => {
  // At the publication and the read after it the ring says "notify" (avail_event 0); the device may have held 5
  // ("do not") when the driver looked: the decision not to notify is not judged.
  const unsure = new SplitRig({ eventIdx: true }).enable();
  await unsure.suppress(0, 0);
  await unsure.desc(0, {});
  await unsure.publish(0);
  unsure.monitor.suppressionMayHaveBeen(0, 0, 5);
  await unsure.readSuppression();
  unsure.monitor.checkpoint();
  assertKinds(unsure, []);
  // The same other value everywhere: still a missed notification.
  const sure = new SplitRig({ eventIdx: true }).enable();
  await sure.suppress(0, 0);
  await sure.desc(0, {});
  await sure.publish(0);
  sure.monitor.suppressionMayHaveBeen(0, 0, 0);
  await sure.readSuppression();
  sure.monitor.checkpoint();
  assertKinds(sure, ["missed-notification-event-idx"]);
});

Deno.test("split: notifications with EVENT_IDX", async () => {
  const missed = new SplitRig({ eventIdx: true }).enable();
  await missed.suppress(0, 0);
  await missed.desc(0, {});
  await missed.publish(0);
  await missed.readSuppression();
  missed.monitor.checkpoint();
  assertKinds(missed, ["missed-notification-event-idx"]);
  const flags = new SplitRig({ eventIdx: true }).enable();
  await flags.suppress(1, 0);
  await flags.desc(0, {});
  await flags.publish(0);
  await flags.readSuppression();
  flags.monitor.checkpoint();
  assertKinds(flags, ["missed-notification-event-idx", "flags-not-ignored"]);
  const unneeded = new SplitRig({ eventIdx: true }).enable();
  await unneeded.suppress(0, 5);
  await unneeded.desc(0, {});
  await unneeded.publish(0);
  await unneeded.readSuppression();
  unneeded.notify();
  assertKinds(unneeded, ["unneeded-notification-event-idx"]);
  const ok = new SplitRig({ eventIdx: true }).enable();
  await ok.suppress(0, 1);
  for (let i = 0; i < 3; i++) {
    await ok.desc(i, {});
    await ok.publish(i);
    await ok.readSuppression();
    if (i === 1) ok.notify(); // idx 1→2 passes avail_event 1
  }
  ok.monitor.checkpoint();
  assertKinds(ok, []);
  assertEquals(ok.monitor.queueSummary(0), { published: 3, notifications: 1, used: 0, readable: 3 });
});

Deno.test("split: suppression read before the idx write", async () => {
  const stale = new SplitRig().enable();
  await stale.desc(0, {});
  await stale.entry(0, 0);
  await stale.readSuppression();
  await stale.idx(1);
  stale.notify();
  assertKinds(stale, ["stale-suppression-read"]);
  // Harvesting the used header in one read is not a notification decision.
  const harvest = new SplitRig().enable();
  await harvest.mem.read(harvest.addrs.device, 4);
  await harvest.desc(0, {});
  await harvest.publish(0);
  harvest.notify();
  assertKinds(harvest, []);
  const never = new SplitRig().enable();
  await never.desc(0, {});
  await never.publish(0);
  never.notify();
  assertKinds(never, []);
});

Deno.test("split: IN_ORDER batches free every earlier buffer", async () => {
  const rig = new SplitRig({ inOrder: true }, 4).enable();
  for (let i = 0; i < 3; i++) await submit(rig, i);
  // One used element for the batch of three, at the batch's first slot, naming its last buffer; used idx += 3.
  await writeU32(rig.raw, rig.addrs.device + 4, 2);
  await writeU16(rig.raw, rig.addrs.device + 2, 3);
  for (let i = 0; i < 3; i++) await rig.desc(i, { len: 77 });
  assertKinds(rig, []);
  assertEquals(rig.monitor.queueSummary(0).used, 3);
  // A device that moves the used idx by one per batch still frees the whole batch.
  for (let i = 0; i < 2; i++) await submit(rig, i);
  await writeU32(rig.raw, rig.addrs.device + 4 + 8 * 3, 1);
  await writeU16(rig.raw, rig.addrs.device + 2, 4);
  await rig.desc(0, { len: 78 });
  await rig.desc(1, { len: 78 });
  assertKinds(rig, []);
  assertEquals(rig.monitor.queueSummary(0).used, 5);
});

Deno.test("split: hostile rings never throw", async () => {
  const rig = new SplitRig({ indirect: true, eventIdx: true, inOrder: true }).enable();
  const junk = new Uint8Array(0x3100);
  for (let i = 0; i < junk.length; i++) junk[i] = (i * 7919 + 13) & 0xff;
  await rig.mem.write(BASE, junk);
  for (let k = 0; k < 50; k++) {
    await rig.idx(k * 4099);
    rig.notify(0);
    rig.notify(0xffff_ffff);
  }
  await writeU16(rig.raw, rig.addrs.device + 2, 0x8000);
  rig.monitor.checkpoint();
  rig.monitor.disableQueue(0);
  rig.monitor.disableQueue(42);
  assert(rig.kinds().length > 0);
  const huge = new SplitRig({}, 8, { desc: 2 ** 60, driver: -4, device: Number.NaN }).enable();
  assertKinds(huge, ["misaligned-area", "area-outside-memory"]);
  const zero = new SplitRig({}, 0).enable();
  assertKinds(zero, []);
});

// ----------------------------------------------------------------- packed

/** A packed queue under a monitor; the driver keeps its own position and wrap counter. */
class PackedRig {
  readonly raw = new ArrayMemory(BASE, MEM_SIZE);
  readonly mem = new WatchedMemory(this.raw);
  readonly monitor = new RingMonitor(this.raw, { watched: this.mem });
  readonly addrs: QueueAddresses;
  next = 0;
  wrap = 1;
  usedPos = 0;
  usedWrap = 1;
  sizes = new Map<number, number>();
  constructor(readonly features: Partial<RingFeatures> = {}, size = 4, addrs?: Partial<QueueAddresses>) {
    this.addrs = { size, desc: BASE, driver: BASE + 0x2000, device: BASE + 0x3000, ...addrs };
  }
  get size(): number {
    return this.addrs.size;
  }
  enable(): this {
    this.monitor.enableQueue(0, { ...PLAIN_SPLIT, ...this.features, format: "packed" }, this.addrs);
    return this;
  }
  kinds(): RingViolationKind[] {
    return this.monitor.violations.map((v) => v.kind);
  }
  availFlags(wrap: number): number {
    return (wrap ? AVAIL : 0) | (wrap ? 0 : USED);
  }
  /** Writes addr/len/id of a slot (not flags). */
  body(slot: number, d: Desc): Promise<void> {
    return this.mem.write(this.addrs.desc + 16 * slot, descBytes(d, true).slice(0, 14));
  }
  flags(slot: number, flags: number): Promise<void> {
    return writeU16(this.mem, this.addrs.desc + 16 * slot + 14, flags);
  }
  /** Makes a list available the correct way: the rest first, the head's flags last. Returns its id. */
  async add(elems: { flags?: number; addr?: number; len?: number }[], id: number): Promise<void> {
    const head = this.next;
    const headWrap = this.wrap;
    let headFlags = 0;
    for (let k = 0; k < elems.length; k++) {
      const e = elems[k]!;
      const last = k === elems.length - 1;
      const f = (e.flags ?? 0) | (last ? 0 : NEXT) | this.availFlags(this.wrap);
      await this.body(this.next, { ...e, id: last ? id : 0 });
      if (k === 0) headFlags = f;
      else await this.flags(this.next, f);
      if (++this.next === this.size) {
        this.next = 0;
        this.wrap ^= 1;
      }
    }
    this.sizes.set(id, elems.length);
    void headWrap;
    await this.flags(head, headFlags);
  }
  notify(): void {
    this.monitor.notify(this.features.notificationData ? encodeNotificationData(0, this.next, this.wrap) : 0);
  }
  /** The device uses buffer `id`: one used descriptor at its position (raw memory). */
  async use(id: number): Promise<void> {
    const at = this.addrs.desc + 16 * this.usedPos;
    await writeU16(this.raw, at + 12, id);
    await writeU16(this.raw, at + 14, this.usedWrap ? AVAIL | USED : 0);
    this.usedPos += this.sizes.get(id) ?? 1;
    if (this.usedPos >= this.size) {
      this.usedPos -= this.size;
      this.usedWrap ^= 1;
    }
  }
  readSuppression(): Promise<number> {
    return readU16(this.mem, this.addrs.device + 2);
  }
}

Deno.test("packed: a correct driver produces no violation over many laps", async () => {
  const rig = new PackedRig({ notificationData: true, indirect: true }, 5).enable();
  const table = BASE + 0x4000;
  await rig.mem.write(table, descBytes({ flags: 0 }, true));
  await rig.mem.write(table + 16, descBytes({ flags: WRITE }, true));
  for (let n = 0; n < 30; n++) {
    if (n % 3 === 2) await rig.add([{ flags: INDIRECT, addr: table, len: 32 }], n);
    else await rig.add([{ flags: 0 }, { flags: WRITE }], n);
    await rig.readSuppression();
    rig.notify();
    if (n % 2 === 1) {
      await rig.use(n);
      await rig.use(n - 1);
    }
  }
  rig.monitor.checkpoint();
  assertKinds(rig, []);
  assertEquals(rig.monitor.queueSummary(0), { published: 30, notifications: 30, used: 30, readable: 30 });
});

Deno.test("packed: taken up late, on an idle ring, from the driver's position; not with a buffer still out", async () => {
  // A driver runs unwatched for a lap and a half (single-descriptor lists, each used at once), then the monitor
  // starts on the idle ring and must follow from slot 2 of the second lap.
  const rig = new PackedRig({}, 4);
  for (let n = 0; n < 6; n++) {
    await rig.add([{ flags: 0 }], n);
    await rig.use(n);
  }
  rig.monitor.enableQueue(0, { ...PLAIN_SPLIT, format: "packed" }, rig.addrs, undefined, true);
  assertEquals(rig.monitor.liveQueues(), [0]);
  for (let n = 6; n < 14; n++) {
    await rig.add([{ flags: 0 }], n);
    rig.notify();
    await rig.use(n);
  }
  rig.monitor.checkpoint();
  assertKinds(rig, []);
  assertEquals(rig.monitor.queueSummary(0).published, 8);
  // One list still out when the monitor starts: it cannot tell the positions and leaves the queue alone.
  const out = new PackedRig({}, 4);
  await out.add([{ flags: 0 }], 0);
  await out.use(0);
  await out.add([{ flags: 0 }], 1);
  out.monitor.enableQueue(0, { ...PLAIN_SPLIT, format: "packed" }, out.addrs, undefined, true);
  assertEquals(out.monitor.liveQueues(), []);
});

Deno.test("packed: layout checks at enable", () => {
  const rig = new PackedRig({}, 4, { driver: BASE + 0x2002 }).enable();
  assertKinds(rig, ["packed-misaligned-area"]);
  const outside = new PackedRig({}, 4, { desc: BASE + MEM_SIZE - 16 }).enable();
  assertKinds(outside, ["packed-area-outside-memory"]);
});

Deno.test("packed: descriptors changed while available, flags before the rest", async () => {
  const rig = new PackedRig().enable();
  await rig.add([{ flags: WRITE }], 7);
  rig.notify();
  await rig.body(0, { id: 7, len: 99 });
  assertKinds(rig, ["packed-desc-changed-while-available"]);
  await rig.use(7);
  await rig.body(0, { id: 8, len: 5 });
  assertEquals(rig.monitor.violations.length, 1);
  // A non-head descriptor's flags made it available, then its length was written.
  const early = new PackedRig().enable();
  await early.flags(1, early.availFlags(1));
  await early.body(1, { len: 3 });
  assertKinds(early, ["packed-flags-before-rest"]);
  // Writing it all in one go is fine.
  const whole = new PackedRig().enable();
  await whole.mem.write(BASE + 16, descBytes({ flags: AVAIL }, true));
  await whole.body(0, { id: 1 });
  await whole.flags(0, AVAIL | NEXT);
  assertKinds(whole, []);
});

Deno.test("packed: list structure checks", async (t) => {
  await t.step("head before the rest", async () => {
    const rig = new PackedRig().enable();
    await rig.body(0, {});
    await rig.flags(0, AVAIL | NEXT);
    await rig.body(1, { id: 3 });
    await rig.flags(1, AVAIL);
    rig.notify();
    assertKinds(rig, ["packed-head-before-rest"]);
    assertEquals(rig.monitor.queueSummary(0).published, 1);
  });
  await t.step("a list round the whole ring", async () => {
    const rig = new PackedRig({}, 4).enable();
    for (let s = 1; s < 4; s++) await rig.mem.write(BASE + 16 * s, descBytes({ flags: AVAIL | NEXT }, true));
    await rig.mem.write(BASE, descBytes({ flags: AVAIL | NEXT }, true));
    assertKinds(rig, ["packed-list-too-long"]);
  });
  await t.step("writable before readable", async () => {
    const rig = new PackedRig().enable();
    await rig.add([{ flags: WRITE }, { flags: 0 }], 1);
    assertKinds(rig, ["packed-writable-before-readable"]);
  });
  await t.step("overrun", async () => {
    const rig = new PackedRig({}, 4).enable();
    await rig.add([{}, {}, {}], 1);
    await rig.add([{}, {}], 2);
    assert(rig.kinds().includes("packed-list-overrun"), rig.kinds().join());
  });
  await t.step("indirect without the feature", async () => {
    const rig = new PackedRig().enable();
    await rig.mem.write(BASE + 0x4000, descBytes({}, true));
    await rig.add([{ flags: INDIRECT, addr: BASE + 0x4000, len: 16 }], 1);
    assertKinds(rig, ["packed-indirect-without-feature"]);
  });
  await t.step("indirect entry flags", async () => {
    const rig = new PackedRig({ indirect: true }).enable();
    await rig.mem.write(BASE + 0x4000, descBytes({ flags: NEXT }, true));
    await rig.mem.write(BASE + 0x4010, descBytes({ flags: WRITE }, true));
    await rig.add([{ flags: INDIRECT, addr: BASE + 0x4000, len: 32 }], 1);
    assertKinds(rig, ["packed-indirect-entry-flags"]);
  });
  await t.step("indirect in a list", async () => {
    const rig = new PackedRig({ indirect: true }).enable();
    await rig.add([{ flags: 0 }, { flags: INDIRECT, addr: BASE + 0x4000, len: 16 }], 1);
    assertKinds(rig, ["packed-indirect-in-list"]);
  });
  await t.step("indirect table too long or outside memory", async () => {
    const rig = new PackedRig({ indirect: true }).enable();
    await rig.add([{ flags: INDIRECT, addr: BASE + 0x4000, len: 16 * 5 }], 1);
    await rig.add([{ flags: INDIRECT, addr: 2 ** 50, len: 0xffff_fff0 }], 2);
    assertKinds(rig, ["packed-indirect-too-long"]);
    assertEquals(rig.monitor.violations.length, 2);
  });
});

Deno.test("packed: notification data and suppression reads", async () => {
  const rig = new PackedRig({ notificationData: true }).enable();
  await rig.add([{}], 1);
  rig.monitor.notify(encodeNotificationData(0, 0, 1));
  assertKinds(rig, ["packed-notification-data-mismatch"]);
  const ok = new PackedRig({ notificationData: true }, 2).enable();
  for (let i = 0; i < 5; i++) {
    await ok.add([{}], i);
    await ok.readSuppression();
    ok.notify();
    ok.notify(); // repeated notifications carry the same position
    await ok.use(i);
  }
  assertKinds(ok, []);
  const stale = new PackedRig().enable();
  await stale.readSuppression();
  await stale.add([{}], 1);
  stale.notify();
  assertKinds(stale, ["packed-stale-suppression-read"]);
});

Deno.test("packed: hostile rings never throw", async () => {
  const rig = new PackedRig({ indirect: true, inOrder: true, notificationData: true }, 16).enable();
  for (let k = 0; k < 40; k++) {
    const junk = new Uint8Array(16 * 16);
    for (let i = 0; i < junk.length; i++) junk[i] = (i * 131 + k * 17) & 0xff;
    await rig.mem.write(BASE, junk);
    rig.notify();
    await writeU16(rig.raw, BASE + 16 * (k % 16) + 14, AVAIL | USED);
  }
  rig.monitor.checkpoint();
  rig.monitor.reset();
  assertEquals(rig.monitor.liveQueues(), []);
  assert(rig.kinds().length > 0);
});

// -------------------------------------------------- the harness device

/** The reference device's offer for `type` with the ring features limited to `ring`. */
function offerWith(type: DeviceTypeName, ring: number[]): bigint {
  const ringBits = [F.INDIRECT_DESC, F.EVENT_IDX, F.IN_ORDER, F.NOTIFICATION_DATA, F.RING_PACKED];
  const all = deviceFunctionFor(type).features | bit(F.VERSION_1) | bit(F.RING_RESET);
  return ring.reduce((m, b) => m | bit(b), all & ~ringBits.reduce((m, b) => m | bit(b), 0n));
}

const RING_FEATURE_SETS: { name: string; ring: number[] }[] = [
  { name: "split", ring: [] },
  { name: "split, all features", ring: [F.INDIRECT_DESC, F.EVENT_IDX, F.IN_ORDER, F.NOTIFICATION_DATA] },
  { name: "split, EVENT_IDX", ring: [F.EVENT_IDX] },
  { name: "packed", ring: [F.RING_PACKED] },
  {
    name: "packed, all features",
    ring: [F.RING_PACKED, F.INDIRECT_DESC, F.EVENT_IDX, F.IN_ORDER, F.NOTIFICATION_DATA],
  },
];

Deno.test("the reference driver breaks no ring obligation", async (t) => {
  const target = referenceDriverTarget();
  const scenarios: { type: DeviceTypeName; name: string; scenario: Scenario }[] = [
    {
      type: "rng",
      name: "many reads on a small queue",
      scenario: { queueSizeMax: 2, workloads: Array.from({ length: 6 }, () => ({ kind: "rng-read", bytes: 8 })) },
    },
    {
      type: "rng",
      name: "queue reset between reads",
      scenario: {
        workloads: [{ kind: "rng-read", bytes: 8 }, { kind: "queue-reset", queue: 0 }, { kind: "rng-read", bytes: 8 }],
      },
    },
    {
      type: "blk",
      name: "reads, writes, capacity",
      scenario: {
        queueSizeMax: 4,
        workloads: [
          { kind: "blk-write", sector: 1, data: new Uint8Array(1024).fill(7) },
          { kind: "blk-read", sector: 0, sectors: 3 },
          { kind: "blk-capacity" },
          { kind: "blk-read", sector: 1, sectors: 2 },
          { kind: "blk-write", sector: 4, data: new Uint8Array(512).fill(1) },
        ],
      },
    },
    { type: "blk", name: "held requests", scenario: { knobs: { holdRequests: true }, deadlineMs: 50 } },
    { type: "rng", name: "probed twice", scenario: { probes: 2 } },
  ];
  const check = async (type: DeviceTypeName, scenario: Scenario) => {
    const trace = await new ScenarioRunner(target, type).run(scenario);
    assert(trace.probe.bound, "the driver bound");
    assertEquals(ringViolations(trace).map(fmtRing), []);
    assertFalse(trace.events.some((e) => e.kind === "altered"));
    const s = trace.monitor.queueSummary(0);
    assert(s.published > 0 && s.notifications >= 1, `queue 0: ${JSON.stringify(s)}`);
    if (!scenario.knobs?.holdRequests) assertEquals(s.used, s.published);
  };
  for (const type of ["rng", "blk"] as const) {
    await t.step(`${type}: the default scenario`, () => check(type, {}));
  }
  for (const { name: features, ring } of RING_FEATURE_SETS) {
    for (const { type, name, scenario } of scenarios) {
      await t.step(
        `${type}, ${features}: ${name}`,
        () => check(type, { ...scenario, knobs: { ...scenario.knobs, offered: offerWith(type, ring) } }),
      );
    }
  }
});

Deno.test("the harness device records ring violations in the trace", async () => {
  /** Publishes its first request without ever writing the available ring entry. */
  class SkipsEntry extends ReferenceDriver {
    override async workload(work: Workload, deadlineMs: number) {
      const q = this.queues.get(0)!;
      await writeU16(this.endpoint.memory, q.addrs.driver + 2, 1);
      await this.endpoint.registers.write(Mmio.QueueNotify, 4, 0);
      return await super.workload(work, deadlineMs);
    }
  }
  const trace = await new ScenarioRunner(driverTarget("skips-entry", SkipsEntry), "rng").run({
    knobs: { offered: offerWith("rng", []) },
  });
  const found = ringViolations(trace, "idx-before-entry");
  assertEquals(found.length, 1);
  assertEquals(ringViolationsOf(trace, RING_VIOLATION_STATEMENTS["idx-before-entry"]), found);
  assert(fmtRing(found[0]!).includes("ring slot 0"), fmtRing(found[0]!));
});
