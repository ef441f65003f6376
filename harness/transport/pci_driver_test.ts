import { assert, assertEquals, assertMatch, assertRejects } from "@std/assert";
import type { PciFunctionAccess } from "../adapter.ts";
import { bit, F } from "../features.ts";
import { ArrayMemory, BumpAllocator } from "../memory.ts";
import { DeviceCore } from "../models/device/core.ts";
import {
  DEFAULT_PCI_WINDOWS,
  defaultPciLayout,
  PCI_MAIN_BAR,
  PciDevice,
  type PciLayoutOptions,
} from "../models/device/pci_device.ts";
import { RngFunction } from "../models/device/rng.ts";
import type { RegisterSpace, Width } from "../registers.ts";
import { Status } from "../status.ts";
import { ringFeatures } from "../virtqueue/queue.ts";
import { createDriverQueue } from "../virtqueue/rings.ts";
import { notifyOffset, PciDriverTransport } from "./pci_driver.ts";
import {
  barOffset,
  CommonCfg,
  MsixCap,
  NO_VECTOR,
  PciCommand,
  PciConfig,
  PciIsr,
  PciStatus,
  VIRTIO_PCI_VENDOR_ID,
  VirtioPciCap,
} from "./pci_layout.ts";

// ---- a small scripted PCI function ------------------------------------------------------------------------------

interface FakeCap {
  type: number;
  bar: number;
  offset: number;
  length: number;
  capLen?: number;
  extra?: number[];
}

interface FakeOptions {
  caps?: FakeCap[];
  vendor?: number;
  deviceId?: number;
  notifyOff?: number[];
  multiplier?: number;
  noMsix?: boolean;
}

function le32(v: number): number[] {
  return [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
}

/**
 * BAR 0/1: 64-bit memory, 16 KiB (common 0x0, ISR 0x1000, device 0x2000, notify 0x3000).
 * BAR 2: 32-bit memory, 4 KiB (MSI-X table at 0, PBA at 0x800).
 */
class FakePci {
  readonly cfg = new Uint8Array(256);
  readonly bar0 = new Uint8Array(0x4000);
  readonly bar2 = new Uint8Array(0x1000);
  readonly notifies: { addr: number; width: Width; value: number }[] = [];
  readonly commonLog: string[] = [];
  readonly queueNotifyOff: number[];
  queueSel = 0;
  queues = [0, 1, 2].map(() => ({ size: 256, enable: 0, vector: 0xffff, reset: 0 }));
  features = [0, 1, 0, 0]; // VERSION_1 only
  isr = 0;
  readonly barMask = new Map<number, number>([
    [barOffset(0), 0xffff_c000],
    [barOffset(1), 0xffff_ffff],
    [barOffset(2), 0xffff_f000],
  ]);
  readonly config: RegisterSpace;
  readonly memory: RegisterSpace;
  readonly access: PciFunctionAccess;

  constructor(o: FakeOptions = {}) {
    const dv = new DataView(this.cfg.buffer);
    dv.setUint16(PciConfig.VendorID, o.vendor ?? VIRTIO_PCI_VENDOR_ID, true);
    dv.setUint16(PciConfig.DeviceID, o.deviceId ?? 0x1044, true);
    dv.setUint8(PciConfig.RevisionID, 1);
    dv.setUint16(PciConfig.Status, PciStatus.CAP_LIST, true);
    dv.setUint32(barOffset(0), 0x4, true);
    this.cfg[PciConfig.CapabilitiesPointer] = 0x40;
    this.queueNotifyOff = o.notifyOff ?? [0, 1, 2];
    const caps = o.caps ?? [
      { type: VirtioPciCap.COMMON_CFG, bar: 0, offset: 0, length: 0x40 },
      { type: VirtioPciCap.ISR_CFG, bar: 0, offset: 0x1000, length: 1 },
      { type: VirtioPciCap.DEVICE_CFG, bar: 0, offset: 0x2000, length: 8 },
      {
        type: VirtioPciCap.NOTIFY_CFG,
        bar: 0,
        offset: 0x3000,
        length: 0x100,
        capLen: 20,
        extra: le32(o.multiplier ?? 4),
      },
      { type: VirtioPciCap.PCI_CFG, bar: 0, offset: 0, length: 0, capLen: 20, extra: [0, 0, 0, 0] },
    ];
    let at = 0x40;
    caps.forEach((c, i) => {
      const capLen = c.capLen ?? 16;
      const last = i === caps.length - 1 && o.noMsix;
      const next = last ? 0 : at + Math.ceil(capLen / 4) * 4;
      this.cfg.set([
        0x09,
        next,
        capLen,
        c.type,
        c.bar,
        0,
        0,
        0,
        ...le32(c.offset),
        ...le32(c.length),
        ...(c.extra ?? []),
      ], at);
      at = next;
    });
    if (!o.noMsix) this.cfg.set([0x11, 0, 3, 0, ...le32(0x2), ...le32(0x802)], at); // 4 entries, BAR 2
    this.bar0.set([1, 2, 3, 4, 5, 6, 7, 8], 0x2000);

    this.config = {
      read: (off, w) => Promise.resolve(this.#get(this.cfg, off, w)),
      write: (off, w, v) => {
        const mask = this.barMask.get(off);
        if (mask !== undefined) {
          const fixed = this.#get(this.cfg, off, 4) & 0xf;
          this.#set(this.cfg, off, 4, ((v & mask) | (off === barOffset(1) ? 0 : fixed)) >>> 0);
        } else if (off >= barOffset(0) && off < barOffset(6)) {
          // unimplemented BAR: read-only 0
        } else this.#set(this.cfg, off, w, v);
        return Promise.resolve();
      },
    };
    this.memory = {
      read: (addr, w) => Promise.resolve(this.#mem(addr, w, undefined)),
      write: (addr, w, v) => {
        this.#mem(addr, w, v);
        return Promise.resolve();
      },
    };
    this.access = {
      config: this.config,
      memory: this.memory,
      memoryWindow: { base: 0xfe00_0000, size: 0x10_0000 },
    };
  }

  #get(b: Uint8Array, off: number, w: Width): number {
    let v = 0;
    for (let i = w - 1; i >= 0; i--) v = v * 256 + (b[off + i] ?? 0);
    return v;
  }
  #set(b: Uint8Array, off: number, w: Width, v: number): void {
    for (let i = 0; i < w; i++) b[off + i] = (v >>> (8 * i)) & 0xff;
  }
  bar(i: 0 | 2): number {
    const lo = (this.#get(this.cfg, barOffset(i), 4) & 0xffff_fff0) >>> 0;
    return i === 0 ? this.#get(this.cfg, barOffset(1), 4) * 2 ** 32 + lo : lo;
  }
  #mem(addr: number, w: Width, v: number | undefined): number {
    if ((this.#get(this.cfg, PciConfig.Command, 2) & PciCommand.MEMORY) === 0) throw new Error("memory decode off");
    const b0 = this.bar(0);
    const b2 = this.bar(2);
    if (addr >= b0 && addr < b0 + 0x4000) {
      const off = addr - b0;
      if (off < 0x40) return this.#common(off, w, v);
      if (off === 0x1000) {
        const r = this.isr;
        this.isr = 0;
        return r;
      }
      if (off >= 0x3000) {
        if (v !== undefined) this.notifies.push({ addr: off, width: w, value: v });
        return 0;
      }
      if (v === undefined) return this.#get(this.bar0, off, w);
      this.#set(this.bar0, off, w, v);
      return 0;
    }
    if (addr >= b2 && addr < b2 + 0x1000) {
      if (v === undefined) return this.#get(this.bar2, addr - b2, w);
      this.#set(this.bar2, addr - b2, w, v);
      return 0;
    }
    throw new Error(`no BAR decodes 0x${addr.toString(16)}`);
  }
  #common(off: number, w: Width, v: number | undefined): number {
    this.commonLog.push(v === undefined ? `r${off}` : `w${off}=${v}`);
    const q = this.queues[this.queueSel];
    if (v !== undefined) {
      if (off === CommonCfg.queue_select) this.queueSel = v;
      else if (off === CommonCfg.queue_size && q) q.size = v;
      else if (off === CommonCfg.queue_enable && q) q.enable = v;
      else if (off === CommonCfg.queue_msix_vector && q) q.vector = v < 4 ? v : 0xffff;
      else if (off === CommonCfg.queue_reset && q) q.reset = 0;
      else if (off === CommonCfg.device_status && v === 0) this.queues.forEach((x) => x.enable = 0);
      else this.#set(this.bar0, off, w, v);
      return 0;
    }
    switch (off) {
      case CommonCfg.device_feature:
        return this.features[this.#get(this.bar0, CommonCfg.device_feature_select, 4)] ?? 0;
      case CommonCfg.num_queues:
        return this.queues.length;
      case CommonCfg.queue_size:
        return q?.size ?? 0;
      case CommonCfg.queue_enable:
        return q?.enable ?? 0;
      case CommonCfg.queue_notify_off:
        return this.queueNotifyOff[this.queueSel] ?? 0;
      case CommonCfg.queue_msix_vector:
        return q?.vector ?? 0xffff;
      case CommonCfg.queue_reset:
        return q?.reset ?? 0;
      default:
        return this.#get(this.bar0, off, w);
    }
  }
}

// ---- tests ------------------------------------------------------------------------------------------------------

Deno.test("notifyOffset: queue_notify_off × notify_off_multiplier", () => {
  assertEquals(notifyOffset(0, 4), 0);
  assertEquals(notifyOffset(3, 4), 12);
  assertEquals(notifyOffset(5, 0), 0);
  assertEquals(notifyOffset(0xffff, 0x1000), 0xffff * 0x1000);
});

Deno.test("open: places BARs, enables decoding and bus mastering, finds the structures", async () => {
  const f = new FakePci();
  const t = await PciDriverTransport.open(f.access);
  assertEquals(t.problems, []);
  assertEquals(t.placement.placements.map((p) => [p.index, p.kind, p.size]), [[0, "mem64", 0x4000], [
    2,
    "mem32",
    0x1000,
  ]]);
  const cmd = await t.command();
  assertEquals(cmd & (PciCommand.MEMORY | PciCommand.BUS_MASTER), PciCommand.MEMORY | PciCommand.BUS_MASTER);
  assertEquals(t.notifyOffMultiplier, 4);
  assertEquals(t.notifyBase, f.bar(0) + 0x3000);
  assertEquals(await t.identify(), { deviceId: 4, vendorId: 0x1af4, version: 1, valid: true });
  assertEquals(await t.numQueues(), 3);
  assertEquals(await t.readConfig(0, 4), 0x04030201);
  assertEquals(await t.readConfig(4, 2), 0x0605);
  await assertRejects(() => t.readConfig(8, 1), Error, "outside the device-specific configuration structure");
});

Deno.test("open: missing or unusable common/notify/ISR capabilities are a clear Error", async () => {
  const f = new FakePci({
    caps: [
      { type: VirtioPciCap.COMMON_CFG, bar: 0, offset: 0, length: 0x40 },
      { type: VirtioPciCap.NOTIFY_CFG, bar: 0, offset: 0x3000, length: 0x100 }, // cap_len 16: too short
    ],
  });
  const e = await assertRejects(() => PciDriverTransport.open(f.access), Error);
  assertMatch(e.message, /^The PCI function is not a usable modern virtio device: /);
  assertMatch(e.message, /notification capabilities unusable \(at 0x50: cap_len 16 is shorter than the 20 bytes/);
  assertMatch(e.message, /no ISR status capability/);
});

Deno.test("identify: wrong vendor, unknown device ID", async () => {
  const t = await PciDriverTransport.open(new FakePci({ vendor: 0x8086 }).access);
  const id = await t.identify();
  assertEquals(id.valid, false);
  assertMatch(id.reason ?? "", /PCI Vendor ID is 0x8086, not 0x1af4/);
  const t2 = await PciDriverTransport.open(new FakePci({ deviceId: 0x1100 }).access);
  assertMatch((await t2.identify()).reason ?? "", /names no virtio device/);
  const t3 = await PciDriverTransport.open(new FakePci({ deviceId: 0x1005 }).access);
  assertEquals((await t3.identify()).deviceId, 4);
});

Deno.test("features, status, queue programming through the common structure", async () => {
  const f = new FakePci();
  const t = await PciDriverTransport.open(f.access);
  assertEquals(await t.readDeviceFeatures(), 1n << 32n);
  await t.writeDriverFeatures((1n << 32n) | 0x5n);
  assertEquals(f.commonLog.filter((l) => l.startsWith(`w${CommonCfg.driver_feature}=`)), [
    "w12=5",
    "w12=1",
    "w12=0",
    "w12=0",
  ]);
  await t.setStatus(0x3);
  assertEquals(await t.getStatus(), 3);
  assertEquals(await t.queueMax(1), 256);
  f.commonLog.length = 0;
  await t.setupQueue(1, { size: 64, desc: 0x1_2345_6000, driver: 0x7000, device: 0x8000 });
  assertEquals(f.queues[1]?.size, 64);
  assertEquals(f.queues[1]?.enable, 1);
  assertEquals(f.commonLog, [
    "w22=1",
    "w24=64",
    "w32=591749120",
    "w36=1",
    "w40=28672",
    "w44=0",
    "w48=32768",
    "w52=0",
    "r30",
    "w28=1",
  ]);
  assert(await t.queueReady(1));
  await assertRejects(() => t.disableQueue(1), Error, "must not write 0 to queue_enable");
  assertEquals(f.queues[1]?.enable, 1);
  await t.startQueueReset(1);
  assertEquals(await t.queueResetPending(1), false);
  await t.reset();
  assertEquals(f.queues[1]?.enable, 0);
});

Deno.test("notify: address from queue_notify_off × multiplier, 16-bit index or 32-bit data, cache cleared on reset", async () => {
  const f = new FakePci({ notifyOff: [0, 5, 2], multiplier: 8 });
  const t = await PciDriverTransport.open(f.access);
  assertEquals(await t.notifyAddress(1), t.notifyBase + 40);
  await t.notify(1);
  await t.notify(2, 0x8001_0002);
  assertEquals(f.notifies, [
    { addr: 0x3000 + 40, width: 2, value: 1 },
    { addr: 0x3000 + 16, width: 4, value: 0x8001_0002 },
  ]);
  // Cached: no queue_select on the next notification.
  f.commonLog.length = 0;
  await t.notify(1);
  assertEquals(f.commonLog, []);
  // Cleared by a reset: read again.
  f.queueNotifyOff[1] = 3;
  await t.reset();
  assertEquals(await t.notifyAddress(1), t.notifyBase + 24);
  // A notify offset past the structure is refused.
  f.queueNotifyOff[0] = 0x40;
  await t.reset();
  await assertRejects(() => t.notify(0), Error, "outside the notification structure");
  await assertRejects(() => t.notify(0x10000), Error, "Not a queue index");
});

Deno.test("notify: with notifConfigData the 16-bit value is queue_notif_config_data", async () => {
  const f = new FakePci();
  new DataView(f.bar0.buffer).setUint16(CommonCfg.queue_notif_config_data, 0xbeef, true);
  const t = await PciDriverTransport.open(f.access);
  t.notifConfigData = true;
  await t.notify(0);
  assertEquals(f.notifies, [{ addr: 0x3000, width: 2, value: 0xbeef }]);
});

Deno.test("ISR: reading clears, ackInterrupt does nothing", async () => {
  const f = new FakePci();
  const t = await PciDriverTransport.open(f.access);
  f.isr = 3;
  assertEquals(await t.interruptStatus(), 3);
  assertEquals(await t.interruptStatus(), 0);
  f.commonLog.length = 0;
  await t.ackInterrupt(3);
  assertEquals(f.commonLog, []);
});

Deno.test("MSI-X: enable, table entries, PBA, vector mapping read back", async () => {
  const f = new FakePci();
  const t = await PciDriverTransport.open(f.access);
  assertEquals(t.walk.msix?.tableSize, 4);
  assertEquals((await t.msixEnable(true)) & MsixCap.ENABLE, MsixCap.ENABLE);
  assert(await t.msixEnabled());
  await t.msixSetEntry(2, { address: 0x1_fee0_0000, data: 0x42, masked: false });
  assertEquals(await t.msixEntry(2), { address: 0x1_fee0_0000, data: 0x42, masked: false });
  await t.msixMask(2, true);
  assertEquals((await t.msixEntry(2)).masked, true);
  await assertRejects(() => t.msixSetEntry(4, { address: 0, data: 0, masked: true }), Error, "table has 4 entries");
  f.bar2[0x800] = 0b0100;
  assertEquals(await t.msixPending(2), true);
  assertEquals(await t.msixPending(1), false);
  assertEquals(await t.setQueueVector(1, 3), 3);
  assertEquals(await t.setQueueVector(1, 9), 0xffff);
  assertEquals(await t.setConfigVector(0), 0);
  await t.msixEnable(false);
  assert(!(await t.msixEnabled()));
});

Deno.test("MSI-X helpers without an MSI-X capability are a clear Error", async () => {
  const t = await PciDriverTransport.open(new FakePci({ noMsix: true }).access);
  assertEquals(t.walk.msix, undefined);
  await assertRejects(() => t.msixEnable(true), Error, "no MSI-X capability");
});

Deno.test("PCI configuration access capability: programs bar/length/offset then accesses pci_cfg_data", async () => {
  const f = new FakePci();
  const t = await PciDriverTransport.open(f.access);
  const at = t.selection.pciCfg?.at ?? 0;
  const writes: string[] = [];
  const config = f.config;
  const spy: RegisterSpace = {
    read: (o, w) => config.read(o, w),
    write: (o, w, v) => {
      writes.push(`${o - at}:${w}=${v}`);
      return config.write(o, w, v);
    },
  };
  Object.defineProperty(t, "registers", { value: spy });
  await t.pciCfgWrite(0, 0x2004, 2, 0xabcd);
  assertEquals(writes, ["4:1=0", "12:4=2", "8:4=8196", "16:2=43981"]);
  await assertRejects(() => t.pciCfgRead(0, 0x2001, 2), Error, "multiple of the access width");
  await assertRejects(() => t.pciCfgRead(6, 0, 4), Error, "Not a BAR index");
});

// ---- end to end against the reference PCI device ----------------------------------------------------------------

function referenceRng(layout?: PciLayoutOptions, windows?: Parameters<PciDevice["access"]>[0]) {
  const memory = new ArrayMemory(0x4000_0000, 1 << 20);
  const core = new DeviceCore(new RngFunction(), { memory, transport: "pci" });
  const device = new PciDevice(core, defaultPciLayout(core.fn, layout));
  return { memory, core, device, access: device.access(windows) };
}

async function negotiate(t: PciDriverTransport): Promise<void> {
  await t.reset();
  assertEquals(await t.getStatus(), 0);
  await t.setStatus(Status.ACKNOWLEDGE | Status.DRIVER);
  const offered = await t.readDeviceFeatures();
  assert(offered & bit(F.VERSION_1));
  await t.writeDriverFeatures(bit(F.VERSION_1));
  await t.setStatus(Status.ACKNOWLEDGE | Status.DRIVER | Status.FEATURES_OK);
  assertEquals(await t.getStatus(), Status.ACKNOWLEDGE | Status.DRIVER | Status.FEATURES_OK);
}

Deno.test("reference rng over PCI: open, negotiate VERSION_1, set up queue 0, read random bytes", async () => {
  const { memory, core, access } = referenceRng();
  try {
    const t = await PciDriverTransport.open(access);
    assertEquals(t.problems, []);
    assertEquals(await t.identify(), { deviceId: 4, vendorId: VIRTIO_PCI_VENDOR_ID, version: 1, valid: true });
    assertEquals(t.deviceCfg, undefined, "rng has no device-specific configuration");
    await negotiate(t);
    const alloc = new BumpAllocator(memory.base, memory.base + memory.size);
    const max = await t.queueMax(0);
    assert(max > 0);
    const q = await createDriverQueue(memory, alloc, 0, Math.min(max, 64), ringFeatures(bit(F.VERSION_1)));
    await t.setupQueue(0, q.addrs);
    assert(await t.queueReady(0));
    await t.setStatus(Status.ACKNOWLEDGE | Status.DRIVER | Status.FEATURES_OK | Status.DRIVER_OK);
    const buf = alloc.alloc(32);
    const id = await q.add([{ addr: buf, len: 32, writable: true }]);
    await q.publish(id);
    if (await q.needsKick()) await t.notify(0);
    await core.idle();
    const used = await q.harvest();
    assertEquals(used.map((u) => [u.id, u.len]), [[id, 32]]);
    const bytes = await memory.read(buf, 32);
    assert(bytes.some((b) => b !== 0), "random bytes were written");
    assertEquals((await t.interruptStatus()) & PciIsr.QUEUE, PciIsr.QUEUE);
    assertEquals(await t.interruptStatus(), 0, "reading ISR cleared it");
    await t.reset();
    assertEquals(await t.getStatus(), 0);
    assertEquals(await t.queueReady(0), false);
  } finally {
    core.stop();
  }
});

Deno.test("reference rng over PCI: MSI-X vector mapping and a queue message landing in guest memory", async () => {
  const { memory, core, access } = referenceRng();
  try {
    const t = await PciDriverTransport.open(access);
    const msix = t.walk.msix;
    if (!msix) throw new Error("the reference device has an MSI-X capability");
    await negotiate(t);
    await t.msixEnable(true);
    const landing = memory.base + 0x8_0000;
    await t.msixSetEntry(1, { address: landing, data: 0x5a5a, masked: false });
    assertEquals(await t.setConfigVector(0), 0);
    assertEquals(await t.setQueueVector(0, 1), 1);
    assertEquals(await t.setQueueVector(0, msix.tableSize), NO_VECTOR, "an out-of-range vector is refused");
    assertEquals(await t.setQueueVector(0, 1), 1);
    const alloc = new BumpAllocator(memory.base, memory.base + 0x4_0000);
    const q = await createDriverQueue(memory, alloc, 0, 16, ringFeatures(bit(F.VERSION_1)));
    await t.setupQueue(0, q.addrs);
    await t.setStatus(Status.ACKNOWLEDGE | Status.DRIVER | Status.FEATURES_OK | Status.DRIVER_OK);
    const buf = alloc.alloc(8);
    await q.publish(await q.add([{ addr: buf, len: 8, writable: true }]));
    await t.notify(0);
    await core.idle();
    for (let i = 0; i < 20 && (await memory.read(landing, 4))[0] !== 0x5a; i++) {
      await new Promise((r) => setTimeout(r, 1));
    }
    assertEquals(Array.from(await memory.read(landing, 4)), [0x5a, 0x5a, 0, 0]);
    assertEquals(await t.msixPending(1), false);
    await t.msixEnable(false);
  } finally {
    core.stop();
  }
});

Deno.test("reference PCI variations: reserved caps skipped, duplicates, split BARs, padded caps, multiplier 0, transitional", async () => {
  const variations: PciLayoutOptions[] = [
    { reservedCapFirst: true, reservedBarCapFirst: true },
    { duplicateStructures: true },
    { splitBars: true },
    { capLenExtra: 8 },
    { notifyOffMultiplier: 0 },
    { msix: false },
    { transitional: true },
  ];
  for (const v of variations) {
    const { memory, core, access } = referenceRng(v);
    try {
      const t = await PciDriverTransport.open(access);
      const label = JSON.stringify(v);
      assert((await t.identify()).valid, label);
      if (v.reservedCapFirst) assertEquals(t.selection.skipped.length, 2, label);
      if (v.duplicateStructures) {
        assert(t.selection.skipped.every((s) => s.reason.includes("came earlier")), label);
        assertEquals(t.selection.common?.bar, PCI_MAIN_BAR, label);
      }
      await negotiate(t);
      const alloc = new BumpAllocator(memory.base, memory.base + memory.size);
      const q = await createDriverQueue(memory, alloc, 0, 16, ringFeatures(bit(F.VERSION_1)));
      await t.setupQueue(0, q.addrs);
      await t.setStatus(Status.ACKNOWLEDGE | Status.DRIVER | Status.FEATURES_OK | Status.DRIVER_OK);
      const buf = alloc.alloc(8);
      await q.publish(await q.add([{ addr: buf, len: 8, writable: true }]));
      await t.notify(0);
      await core.idle();
      assertEquals((await q.harvest()).length, 1, label);
    } finally {
      core.stop();
    }
  }
});

Deno.test("reference PCI device: without an I/O space a transitional device's I/O BAR0 is left alone", async () => {
  const { core, access } = referenceRng({ transitional: true }, { memory: DEFAULT_PCI_WINDOWS.memory });
  try {
    const t = await PciDriverTransport.open(access);
    assertEquals(t.placement.placements.some((p) => p.kind === "io"), false);
    assertEquals((await t.command()) & PciCommand.IO, 0);
    assertEquals((await t.identify()).deviceId, 4);
  } finally {
    core.stop();
  }
});

Deno.test("reference PCI device: the PCI configuration access capability reaches the common structure", async () => {
  const { core, access } = referenceRng();
  try {
    const t = await PciDriverTransport.open(access);
    await t.setStatus(Status.ACKNOWLEDGE);
    const bar = t.selection.common?.bar ?? -1;
    const base = t.selection.common?.offset ?? 0;
    assertEquals(await t.pciCfgRead(bar, base + CommonCfg.device_status, 1), Status.ACKNOWLEDGE);
    assertEquals(await t.pciCfgRead(bar, base + CommonCfg.num_queues, 2), await t.numQueues());
    await t.pciCfgWrite(bar, base + CommonCfg.device_status, 1, Status.ACKNOWLEDGE | Status.DRIVER);
    assertEquals(await t.getStatus(), Status.ACKNOWLEDGE | Status.DRIVER);
  } finally {
    core.stop();
  }
});
