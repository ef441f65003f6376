import { assert, assertEquals, assertFalse, assertThrows } from "@std/assert";
import { bit, F } from "../../features.ts";
import { ArrayMemory, BumpAllocator, readU16, readU32 } from "../../memory.ts";
import { Status } from "../../status.ts";
import { Mmio } from "../../transport/mmio_layout.ts";
import { legacyAvailBytes, legacyQueueAddresses, MmioLegacy } from "../../transport/mmio_legacy.ts";
import { MmioLegacyDriverTransport } from "../../transport/mmio_legacy_driver.ts";
import { ringFeatures } from "../../virtqueue/queue.ts";
import { createDriverQueue } from "../../virtqueue/rings.ts";
import { DeviceCore, REFERENCE_CORE_FEATURES } from "./core.ts";
import { MmioDevice } from "./mmio_device.ts";
import { MmioLegacyDevice } from "./mmio_legacy_device.ts";
import { RngFunction } from "./rng.ts";

const W = 4 as const;

/** Hands out the given addresses first (the three areas of a queue), then bump-allocates. */
class PlacedAllocator extends BumpAllocator {
  constructor(readonly places: number[], start: number, end: number) {
    super(start, end);
  }
  override alloc(size: number, align = 16): number {
    return this.places.shift() ?? super.alloc(size, align);
  }
}

function legacyRig(seed = 7) {
  const memory = new ArrayMemory(0, 0x80000);
  const core = new DeviceCore(new RngFunction({ seed }), { memory, transport: "mmio-legacy" });
  const device = new MmioLegacyDevice(core);
  return { memory, core, device };
}

/** The first `n` bytes a fresh rng function with `seed` produces. */
async function rngBytes(seed: number, n: number): Promise<Uint8Array> {
  const scratch = new ArrayMemory(0, n);
  await new RngFunction({ seed }).handle(0, [{ addr: 0, len: n, writable: true }], scratch);
  return scratch.bytes.slice();
}

Deno.test("MmioLegacyDevice: identification and the legacy offer", async () => {
  const { device } = legacyRig();
  assertEquals(await device.read(MmioLegacy.MagicValue, W), 0x74726976);
  assertEquals(await device.read(MmioLegacy.Version, W), 1);
  assertEquals(await device.read(MmioLegacy.DeviceID, W), 4);
  await device.write(MmioLegacy.HostFeaturesSel, W, 0);
  assertEquals(await device.read(MmioLegacy.HostFeatures, W), (1 << 28 | 1 << 29) >>> 0);
  await device.write(MmioLegacy.HostFeaturesSel, W, 1);
  assertEquals(await device.read(MmioLegacy.HostFeatures, W), 0, "no VERSION_1 nor anything above bit 31");
});

Deno.test("MmioLegacyDevice: needs a core of transport mmio-legacy", () => {
  const core = new DeviceCore(new RngFunction(), { memory: new ArrayMemory(0, 4096), transport: "mmio" });
  assertThrows(() => new MmioLegacyDevice(core), Error, 'transport "mmio-legacy", not "mmio".');
});

Deno.test("MmioLegacyDevice: GuestFeatures are taken until DRIVER_OK, then ignored", async () => {
  const { core, device } = legacyRig();
  await device.write(MmioLegacy.Status, W, Status.ACKNOWLEDGE | Status.DRIVER);
  await device.write(MmioLegacy.GuestFeaturesSel, W, 0);
  await device.write(MmioLegacy.GuestFeatures, W, 1 << 28);
  await device.write(MmioLegacy.Status, W, Status.ACKNOWLEDGE | Status.DRIVER | Status.DRIVER_OK);
  assertEquals(core.negotiated, bit(F.INDIRECT_DESC));
  await device.write(MmioLegacy.GuestFeatures, W, 1 << 29);
  assertEquals(core.driverFeatureWords[0], 1 << 28);
  assertEquals(core.negotiated, bit(F.INDIRECT_DESC));
});

Deno.test("MmioLegacyDevice: QueuePFN × GuestPageSize is the block, QueueAlign places the used ring", async () => {
  const { core, device } = legacyRig();
  await device.write(MmioLegacy.GuestPageSize, W, 1024);
  await device.write(MmioLegacy.QueueSel, W, 0);
  await device.write(MmioLegacy.QueueNum, W, 16);
  await device.write(MmioLegacy.QueueAlign, W, 128);
  await device.write(MmioLegacy.QueuePFN, W, 0x41);
  const q = core.queues[0]!;
  assert(q.ready);
  // 0x41 × 1024 = 0x10400; avail at +256; avail ends at 0x10500 + 38 = 0x10526; next 128 boundary 0x10580.
  assertEquals({ size: q.size, desc: q.desc, driver: q.driver, device: q.device }, {
    size: 16,
    desc: 0x10400,
    driver: 0x10500,
    device: 0x10580,
  });
  assertEquals(await device.read(MmioLegacy.QueuePFN, W), 0x41);
});

Deno.test("MmioLegacyDevice: page size and alignment default to 4096 until written", async () => {
  const { core, device } = legacyRig();
  await device.write(MmioLegacy.QueueNum, W, 8);
  await device.write(MmioLegacy.QueuePFN, W, 0x10);
  const q = core.queues[0]!;
  assertEquals([q.desc, q.driver, q.device], [0x10000, 0x10080, 0x11000]);
});

Deno.test("MmioLegacyDevice: QueueNum is ignored while the queue is in use; QueuePFN 0 stops it", async () => {
  const { core, device } = legacyRig();
  await device.write(MmioLegacy.QueueNum, W, 8);
  await device.write(MmioLegacy.QueuePFN, W, 0x10);
  await device.write(MmioLegacy.QueueNum, W, 32);
  assertEquals(core.queues[0]!.size, 8);
  await device.write(MmioLegacy.QueuePFN, W, 0);
  assertFalse(core.queues[0]!.ready);
  assertEquals(await device.read(MmioLegacy.QueuePFN, W), 0);
  await device.write(MmioLegacy.QueueNum, W, 32);
  assertEquals(core.queues[0]!.size, 32);
});

Deno.test("MmioLegacyDevice: a queue that does not exist reads 0 and ignores writes", async () => {
  const { core, device } = legacyRig();
  await device.write(MmioLegacy.QueueSel, W, 3);
  assertEquals(await device.read(MmioLegacy.QueueNumMax, W), 0);
  await device.write(MmioLegacy.QueuePFN, W, 0x10);
  assertEquals(await device.read(MmioLegacy.QueuePFN, W), 0);
  assertEquals(core.queues.length, 1);
});

Deno.test("MmioLegacyDevice: Status 0 resets the device, every QueuePFN and the page size", async () => {
  const { core, device } = legacyRig();
  await device.write(MmioLegacy.GuestPageSize, W, 1024);
  await device.write(MmioLegacy.QueueNum, W, 8);
  await device.write(MmioLegacy.QueueAlign, W, 64);
  await device.write(MmioLegacy.QueuePFN, W, 0x40);
  await device.write(MmioLegacy.Status, W, 0);
  assertEquals(await device.read(MmioLegacy.QueuePFN, W), 0);
  assertFalse(core.queues[0]!.ready);
  assertEquals(device.guestPageSize, undefined);
  await device.write(MmioLegacy.QueueNum, W, 8);
  await device.write(MmioLegacy.QueuePFN, W, 0x10);
  assertEquals(core.queues[0]!.desc, 0x10000, "page size back to 4096");
  assertEquals(core.queues[0]!.device, 0x11000, "QueueAlign back to 4096");
});

Deno.test("MmioLegacyDevice: the version 2 registers do not exist", async () => {
  const { core, device } = legacyRig();
  await device.write(Mmio.QueueSize, W, 8);
  for (const off of [Mmio.QueueDescLow, Mmio.QueueDriverLow, Mmio.QueueDeviceLow]) {
    await device.write(off, W, 0x5000);
  }
  await device.write(Mmio.QueueReady, W, 1);
  assertFalse(core.queues[0]!.ready, "QueueReady=1 enabled nothing");
  assertEquals(core.queues[0]!.desc, 0);
  assertEquals(await device.read(Mmio.QueueReady, W), 0);
  assertEquals(await device.read(Mmio.SHMLenLow, W), 0);
  assertEquals(await device.read(Mmio.ConfigGeneration, W), 0);
});

Deno.test("DeviceCore on mmio: the version 2 rules are unchanged", async () => {
  const core = new DeviceCore(new RngFunction(), { memory: new ArrayMemory(0, 4096), transport: "mmio" });
  assertFalse(core.legacy);
  assertEquals(core.offeredFeatures(), REFERENCE_CORE_FEATURES);
  const regs = new MmioDevice(core);
  await regs.write(Mmio.Status, W, Status.ACKNOWLEDGE | Status.DRIVER);
  await regs.write(Mmio.DriverFeaturesSel, W, 0);
  await regs.write(Mmio.DriverFeatures, W, 1 << 28);
  await regs.write(Mmio.Status, W, Status.ACKNOWLEDGE | Status.DRIVER | Status.FEATURES_OK);
  assertEquals(await regs.read(Mmio.Status, W), Status.ACKNOWLEDGE | Status.DRIVER, "no VERSION_1: refused");
  await regs.write(Mmio.DriverFeaturesSel, W, 1);
  await regs.write(Mmio.DriverFeatures, W, 1);
  await regs.write(Mmio.Status, W, Status.ACKNOWLEDGE | Status.DRIVER | Status.FEATURES_OK);
  assertEquals(core.negotiated, bit(F.INDIRECT_DESC) | bit(F.VERSION_1));
});

Deno.test("end to end: an rng request over legacy virtio-mmio, the used ring where the legacy layout puts it", async () => {
  const seed = 0x5eed;
  const { memory, core, device } = legacyRig(seed);
  const t = new MmioLegacyDriverTransport(device);
  assert((await t.identify()).valid);
  await t.reset();
  await t.setStatus(Status.ACKNOWLEDGE);
  await t.setStatus(Status.ACKNOWLEDGE | Status.DRIVER);
  const features = (await t.readDeviceFeatures()) & (bit(F.EVENT_IDX) | bit(F.INDIRECT_DESC));
  assertEquals(features, bit(F.EVENT_IDX) | bit(F.INDIRECT_DESC));
  await t.writeDriverFeatures(features);

  const size = await t.queueMax(0);
  assertEquals(size, 64);
  const layout = t.contiguousQueue(size);
  const base = 0x10000;
  const addrs = layout.at(base);
  const q = await createDriverQueue(
    memory,
    new PlacedAllocator([addrs.desc, addrs.driver, addrs.device], 0x20000, 0x30000),
    0,
    size,
    ringFeatures(features),
  );
  assertEquals(q.addrs, addrs);
  await t.setupQueue(0, q.addrs);
  await t.setStatus(Status.ACKNOWLEDGE | Status.DRIVER | Status.DRIVER_OK);
  assertEquals(core.negotiated, features);

  const buf = 0x40000;
  const head = await q.add([{ addr: buf, len: 48, writable: true }]);
  await q.publish(head);
  assert(await q.needsKick(), "avail_event, read at the end of the legacy used ring, asks for a kick");
  await t.notify(0);
  await core.idle();

  assertEquals(await q.harvest(), [{ id: head, len: 48 }]);
  assertEquals(await memory.read(buf, 48), await rngBytes(seed, 48));
  assertEquals(core.errorReason, undefined);
  assertEquals(await t.interruptStatus(), 1, "used-buffer notification");

  // The used ring: at the first 4096 boundary after the available ring, i.e. the second page of the block.
  const used = base + 4096;
  assertEquals(addrs.device, used);
  assertEquals(await readU16(memory, used + 2), 1, "used idx");
  assertEquals(await readU32(memory, used + 4), head, "used element id");
  assertEquals(await readU32(memory, used + 8), 48, "used element len");
  assertEquals(await readU16(memory, used + 4 + 8 * size), 1, "avail_event after the used ring");
  const padding = await memory.read(
    addrs.driver + legacyAvailBytes(size),
    used - addrs.driver - legacyAvailBytes(size),
  );
  assert(padding.every((b) => b === 0), "nothing written in the padding");
});

Deno.test("end to end: a device that ignores QueueAlign writes its used ring where the driver does not look", async () => {
  class IgnoresAlign extends MmioLegacyDevice {
    protected override queueAlign(_q: number): number {
      return 4096;
    }
  }
  const memory = new ArrayMemory(0, 0x80000);
  const core = new DeviceCore(new RngFunction(), { memory, transport: "mmio-legacy" });
  const t = new MmioLegacyDriverTransport(new IgnoresAlign(core), { queueAlign: 64 });
  await t.setStatus(Status.ACKNOWLEDGE | Status.DRIVER);
  await t.writeDriverFeatures(0n);
  const addrs = t.contiguousQueue(8).at(0x10000);
  assertEquals(addrs.device, 0x100c0);
  const q = await createDriverQueue(
    memory,
    new PlacedAllocator([addrs.desc, addrs.driver, addrs.device], 0x20000, 0x30000),
    0,
    8,
    ringFeatures(0n),
  );
  await t.setupQueue(0, q.addrs);
  await t.setStatus(Status.ACKNOWLEDGE | Status.DRIVER | Status.DRIVER_OK);
  await q.publish(await q.add([{ addr: 0x40000, len: 8, writable: true }]));
  await t.notify(0);
  await core.idle();
  assertFalse(await q.hasUsed());
  assertEquals(core.queues[0]!.device, legacyQueueAddresses(8, 0x10000, 4096).device);
  assertEquals(await readU16(memory, 0x11000 + 2), 1, "the used idx went to the 4096 boundary");
});
