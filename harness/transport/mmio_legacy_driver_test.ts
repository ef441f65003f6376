import { assert, assertEquals, assertFalse, assertRejects } from "@std/assert";
import { bit, F } from "../features.ts";
import { ArrayMemory } from "../memory.ts";
import { DeviceCore, type DeviceKnobs } from "../models/device/core.ts";
import { MmioDevice, REFERENCE_VENDOR_ID } from "../models/device/mmio_device.ts";
import { MmioLegacyDevice } from "../models/device/mmio_legacy_device.ts";
import { RngFunction } from "../models/device/rng.ts";
import type { RegisterAccess, RegisterSpace, Width } from "../registers.ts";
import { Status } from "../status.ts";
import { Mmio } from "./mmio_layout.ts";
import { legacyQueueLayout, MMIO_V2_ONLY_REGISTERS, MmioLegacy, mmioLegacyName } from "./mmio_legacy.ts";
import { MmioLegacyDriverTransport } from "./mmio_legacy_driver.ts";

/** Records every access to a register file. */
class Recorder implements RegisterSpace {
  log: RegisterAccess[] = [];
  constructor(readonly inner: RegisterSpace) {}
  async read(offset: number, width: Width): Promise<number> {
    const value = await this.inner.read(offset, width);
    this.log.push({ seq: this.log.length, kind: "read", offset, width, value });
    return value;
  }
  async write(offset: number, width: Width, value: number): Promise<void> {
    this.log.push({ seq: this.log.length, kind: "write", offset, width, value });
    await this.inner.write(offset, width, value);
  }
  writes(): string[] {
    return this.log.filter((a) => a.kind === "write").map((a) =>
      `${mmioLegacyName(a.offset)}=0x${a.value.toString(16)}`
    );
  }
}

function rig(knobs: DeviceKnobs = {}) {
  const memory = new ArrayMemory(0, 0x80000);
  const core = new DeviceCore(new RngFunction(), { memory, transport: "mmio-legacy", knobs });
  const device = new MmioLegacyDevice(core);
  const regs = new Recorder(device);
  const t = new MmioLegacyDriverTransport(regs);
  return { memory, core, device, regs, t };
}

Deno.test("identify: a legacy device is valid, a version 2 device is not", async () => {
  const { t } = rig();
  assertEquals(t.kind, "mmio-legacy");
  assertFalse(t.modern);
  assertEquals(await t.identify(), { deviceId: 4, vendorId: REFERENCE_VENDOR_ID, version: 1, valid: true });
  const v2core = new DeviceCore(new RngFunction(), { memory: new ArrayMemory(0, 4096), transport: "mmio" });
  const v2 = await new MmioLegacyDriverTransport(new MmioDevice(v2core)).identify();
  assertFalse(v2.valid);
  assertEquals(v2.version, 2);
  assertEquals(v2.reason, "Version is 2, not 1 (legacy interface)");
});

Deno.test("features: the legacy offer through HostFeatures, the driver's words through GuestFeatures", async () => {
  const { t, core, regs } = rig();
  const offered = await t.readDeviceFeatures();
  assertEquals(offered, bit(F.INDIRECT_DESC) | bit(F.EVENT_IDX), "no VERSION_1, nothing from bit 32 up");
  assertEquals(
    regs.writes().filter((w) => w.startsWith("HostFeaturesSel")),
    ["HostFeaturesSel=0x0", "HostFeaturesSel=0x1", "HostFeaturesSel=0x2", "HostFeaturesSel=0x3"],
  );
  await t.setStatus(Status.ACKNOWLEDGE | Status.DRIVER);
  await t.writeDriverFeatures(bit(F.EVENT_IDX));
  assertEquals(core.driverFeatureWords, [1 << 29, 0, 0, 0]);
  assertEquals(core.negotiated, 0n, "nothing in force before DRIVER_OK");
  await t.setStatus(Status.ACKNOWLEDGE | Status.DRIVER | Status.DRIVER_OK);
  assertEquals(core.negotiated, bit(F.EVENT_IDX));
});

Deno.test("features: the offer is masked to the legacy set even when a knob offers everything", async () => {
  const { t } = rig({ offered: (1n << 64n) - 1n });
  assertEquals(await t.readDeviceFeatures(), 0xff_ffffn | bit(F.INDIRECT_DESC) | bit(F.EVENT_IDX));
});

Deno.test("features: FEATURES_OK written by a driver is only stored, whatever was accepted", async () => {
  const { t, core } = rig();
  await t.setStatus(Status.ACKNOWLEDGE | Status.DRIVER);
  await t.writeDriverFeatures(bit(0) | bit(F.VERSION_1)); // neither offered: a v2 device would refuse FEATURES_OK
  await t.setStatus(Status.ACKNOWLEDGE | Status.DRIVER | Status.FEATURES_OK);
  assertEquals(await t.getStatus(), Status.ACKNOWLEDGE | Status.DRIVER | Status.FEATURES_OK);
  assertEquals(core.negotiated, 0n);
  await t.setStatus(Status.ACKNOWLEDGE | Status.DRIVER | Status.FEATURES_OK | Status.DRIVER_OK);
  assertEquals(core.negotiated, bit(0), "only the 32 legacy bits are in force");
});

Deno.test("queue set-up: GuestPageSize, QueueSel, QueueNum, QueueAlign, then QueuePFN of the block", async () => {
  const { t, core, device, regs } = rig();
  assertEquals(await t.queueMax(0), 64);
  assertEquals(await t.queueMax(1), 0);
  assertFalse(await t.queueReady(0));
  const addrs = t.contiguousQueue(64).at(0x20000);
  regs.log = [];
  await t.setupQueue(0, addrs);
  assertEquals(regs.writes(), [
    "GuestPageSize=0x1000",
    "QueueSel=0x0",
    "QueueNum=0x40",
    "QueueAlign=0x1000",
    "QueuePFN=0x20",
  ]);
  assert(regs.log.every((a) => a.width === 4));
  const q = core.queues[0]!;
  assertEquals({ size: q.size, desc: q.desc, driver: q.driver, device: q.device }, addrs);
  assertEquals(addrs, { size: 64, desc: 0x20000, driver: 0x20400, device: 0x21000 });
  assert(q.ready);
  assertEquals(device.queuePfn(0), 0x20);
  assert(await t.queueReady(0));
  assertEquals(await device.read(MmioLegacy.QueuePFN, 4), 0x20);
});

Deno.test("queue set-up: GuestPageSize once per reset, before the first queue", async () => {
  const { t, regs } = rig();
  const addrs = t.contiguousQueue(16).at(0x30000);
  await t.setupQueue(0, addrs);
  await t.disableQueue(0);
  await t.setupQueue(0, addrs);
  assertEquals(regs.writes().filter((w) => w.startsWith("GuestPageSize")).length, 1);
  await t.reset();
  await t.programQueue(0, addrs);
  assertEquals(regs.writes().filter((w) => w.startsWith("GuestPageSize")).length, 2);
  const last = regs.writes().slice(-5);
  assertEquals(last, ["Status=0x0", "GuestPageSize=0x1000", "QueueSel=0x0", "QueueNum=0x10", "QueueAlign=0x1000"]);
});

Deno.test("queue set-up: programQueue does not hand over the queue", async () => {
  const { t, core } = rig();
  await t.programQueue(0, t.contiguousQueue(8).at(0x10000));
  assertFalse(core.queues[0]!.ready);
  assertFalse(await t.queueReady(0));
  assertEquals(core.queues[0]!.size, 8);
});

Deno.test("queue set-up: addresses off the legacy layout are refused before any register is written", async () => {
  const { t, regs } = rig();
  const good = t.contiguousQueue(64).at(0x20000);
  regs.log = [];
  const err = await assertRejects(
    () => t.setupQueue(0, { ...good, device: good.driver + 134 }),
    Error,
    "Queue 0 cannot be handed to a legacy virtio-mmio device: The used ring is at 0x20486",
  );
  assert(err.message.endsWith("."));
  await assertRejects(() => t.setupQueue(0, { ...good, desc: 0x20800, driver: 0x20c00 }), Error, "page boundary");
  await assertRejects(() => t.programQueue(0, { ...good, driver: 0x30000 }), Error, "available ring");
  assertEquals(regs.log, []);
});

Deno.test("disableQueue writes QueuePFN 0 and the device stops using the queue", async () => {
  const { t, core, device } = rig();
  await t.setupQueue(0, t.contiguousQueue(64).at(0x20000));
  await t.disableQueue(0);
  assertFalse(core.queues[0]!.ready);
  assertEquals(device.queuePfn(0), 0);
  assertFalse(await t.queueReady(0));
});

Deno.test("reset: QueuePFN of every queue back to 0", async () => {
  const { t, core, device } = rig();
  await t.setStatus(Status.ACKNOWLEDGE | Status.DRIVER);
  await t.setupQueue(0, t.contiguousQueue(64).at(0x20000));
  assert(await t.queueReady(0));
  await t.reset();
  assertEquals(await t.getStatus(), 0);
  assertEquals(device.queuePfn(0), 0);
  assertFalse(await t.queueReady(0));
  assertFalse(core.queues[0]!.ready);
  // A reset the core performs on its own is seen as well.
  await t.setupQueue(0, t.contiguousQueue(64).at(0x20000));
  core.reset();
  assertFalse(await t.queueReady(0));
});

Deno.test("version 2 only registers are inert on a legacy device", async () => {
  const { t, core, device } = rig();
  const addrs = t.contiguousQueue(64).at(0x20000);
  await t.setupQueue(0, addrs);
  core.changeConfig(() => {}); // bumps the generation a v2 device would show
  for (const off of MMIO_V2_ONLY_REGISTERS) {
    assertEquals(await device.read(off, 4), 0, mmioLegacyName(off));
  }
  for (const off of MMIO_V2_ONLY_REGISTERS) await device.write(off, 4, off === Mmio.QueueReady ? 0 : 0xdead_0000);
  const q = core.queues[0]!;
  assert(q.ready, "QueueReady=0 did not stop the queue");
  assertEquals({ size: q.size, desc: q.desc, driver: q.driver, device: q.device }, addrs);
  assertEquals(q.resetPending, 0);
  assertEquals(device.queuePfn(0), 0x20);
});

Deno.test("no per-queue reset, no configuration generation on the legacy interface", async () => {
  const { t, regs, core } = rig();
  await assertRejects(() => t.startQueueReset(0), Error, "legacy virtio-mmio interface has no QueueReset.");
  await assertRejects(() => t.queueResetPending(0), Error, "no QueueReset.");
  core.changeConfig(() => {});
  assertEquals(await t.configGeneration(), 0);
  assertEquals(regs.log, [], "nothing read or written");
});

Deno.test("notify writes the queue index; interrupt status and acknowledge as version 2", async () => {
  const { t, core, regs } = rig();
  await t.notify(0, 0x1234_0000);
  assertEquals(regs.writes(), ["QueueNotify=0x0"]);
  assertEquals(core.queues[0]!.notifications, 1);
  core.raise(1);
  core.raise(2);
  assertEquals(await t.interruptStatus(), 3);
  await t.ackInterrupt(1);
  assertEquals(await t.interruptStatus(), 2);
});

Deno.test("contiguousQueue is the legacy layout with this transport's page size and alignment", () => {
  const { t } = rig();
  const want = legacyQueueLayout(128, 4096, 4096);
  const got = t.contiguousQueue(128);
  assertEquals(got.bytes, want.bytes);
  assertEquals(got.align, 4096);
  assertEquals(got.at(0x40000), want.at(0x40000));
  const wide = new MmioLegacyDriverTransport(rig().device, { queueAlign: 16384 });
  assertEquals(wide.contiguousQueue(128).align, 16384);
  assertEquals(wide.contiguousQueue(128).at(0x40000).device, 0x44000);
});

Deno.test("config space at 0x100", async () => {
  const reads: number[] = [];
  const { t } = rig({ onConfigRead: (o) => reads.push(o) });
  await t.readConfig(4, 4);
  assertEquals(reads, [4]);
});
