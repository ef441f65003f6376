import { assert, assertEquals, assertFalse, assertNotEquals } from "@std/assert";
import type { PciFunctionAccess } from "../../adapter.ts";
import { bit, F } from "../../features.ts";
import { ArrayMemory, BumpAllocator, readU32 } from "../../memory.ts";
import { Status } from "../../status.ts";
import {
  barOffset,
  CapField,
  CommonCfg,
  MsixCap,
  MsixEntry,
  NO_VECTOR,
  PCI_CAPS_START,
  PciBar,
  PciCapId,
  PciCommand,
  PciConfig,
  PciIsr,
  PciStatus,
  VirtioPciCap,
} from "../../transport/pci_layout.ts";
import { SplitDriverQueue } from "../../virtqueue/split.ts";
import { BlkFunction } from "./blk.ts";
import { DeviceCore, Irq } from "./core.ts";
import { defaultPciLayout, PciDevice, type PciLayoutOptions } from "./pci_device.ts";
import { RngFunction } from "./rng.ts";

const RAM = { base: 0x4000_0000, size: 1 << 20 };

interface Cap {
  at: number;
  id: number;
  next: number;
  len: number;
  cfgType: number;
  bar: number;
  offset: number;
  length: number;
}

/** A minimal driver-side view of the function: BARs sized and placed, capabilities walked. */
class Bench {
  bases: number[] = [];
  sizes: number[] = [];
  caps: Cap[] = [];
  constructor(readonly dev: PciDevice, readonly pci: PciFunctionAccess, readonly mem: ArrayMemory) {}

  static async create(
    fn: RngFunction | BlkFunction = new RngFunction(),
    opts: PciLayoutOptions = {},
  ): Promise<Bench> {
    const mem = new ArrayMemory(RAM.base, RAM.size);
    const core = new DeviceCore(fn, { memory: mem, transport: "pci" });
    const dev = new PciDevice(core, defaultPciLayout(fn, opts));
    const b = new Bench(dev, dev.access(), mem);
    await b.placeBars();
    await b.walkCaps();
    return b;
  }

  cfg(off: number, w: 1 | 2 | 4): Promise<number> {
    return this.pci.config.read(off, w);
  }
  setCfg(off: number, w: 1 | 2 | 4, v: number): Promise<void> {
    return this.pci.config.write(off, w, v);
  }

  /** Sizes every BAR, places memory BARs from the window base up, I/O BARs in the I/O window. */
  async placeBars(): Promise<void> {
    let mem = this.pci.memoryWindow.base;
    let io = this.pci.ioWindow?.base ?? 0;
    for (let i = 0; i < 6; i++) {
      const off = barOffset(i);
      await this.setCfg(off, 4, 0xffff_ffff);
      const probe = await this.cfg(off, 4);
      if (probe === 0) continue;
      if (probe & PciBar.IO_SPACE) {
        const size = (~(probe & PciBar.IO_ADDR_MASK) >>> 0) + 1 & 0xffff;
        io = Math.ceil(io / size) * size;
        await this.setCfg(off, 4, io);
        this.bases[i] = io;
        this.sizes[i] = size;
        io += size;
        continue;
      }
      const size = (~(probe & PciBar.MEM_ADDR_MASK) >>> 0) + 1;
      mem = Math.ceil(mem / size) * size;
      await this.setCfg(off, 4, mem);
      this.bases[i] = mem;
      this.sizes[i] = size;
      if ((probe & PciBar.TYPE_MASK) === PciBar.TYPE_64) {
        await this.setCfg(off + 4, 4, 0);
        i++;
      }
      mem += size;
    }
    await this.setCfg(PciConfig.Command, 2, PciCommand.MEMORY | PciCommand.IO | PciCommand.BUS_MASTER);
  }

  async walkCaps(): Promise<void> {
    this.caps = [];
    let at = await this.cfg(PciConfig.CapabilitiesPointer, 1);
    const seen = new Set<number>();
    while (at !== 0) {
      assert(!seen.has(at), `capability loop at 0x${at.toString(16)}`);
      seen.add(at);
      const id = await this.cfg(at, 1);
      this.caps.push({
        at,
        id,
        next: await this.cfg(at + 1, 1),
        len: await this.cfg(at + 2, 1),
        cfgType: id === PciCapId.VENDOR ? await this.cfg(at + 3, 1) : -1,
        bar: await this.cfg(at + 4, 1),
        offset: await this.cfg(at + 8, 4),
        length: await this.cfg(at + 12, 4),
      });
      at = await this.cfg(at + 1, 1);
    }
  }

  cap(cfgType: number): Cap {
    const c = this.caps.find((c) => c.id === PciCapId.VENDOR && c.cfgType === cfgType);
    if (!c) throw new Error(`no capability of cfg_type ${cfgType}`);
    return c;
  }
  addr(cfgType: number): number {
    const c = this.cap(cfgType);
    return this.bases[c.bar]! + c.offset;
  }
  common(field: keyof typeof CommonCfg, w: 1 | 2 | 4): Promise<number> {
    return this.pci.memory.read(this.addr(VirtioPciCap.COMMON_CFG) + CommonCfg[field], w);
  }
  setCommon(field: keyof typeof CommonCfg, w: 1 | 2 | 4, v: number, half = 0): Promise<void> {
    return this.pci.memory.write(this.addr(VirtioPciCap.COMMON_CFG) + CommonCfg[field] + half, w, v);
  }
  isr(): Promise<number> {
    return this.pci.memory.read(this.addr(VirtioPciCap.ISR_CFG), 1);
  }
  msixCap(): number {
    return this.caps.find((c) => c.id === PciCapId.MSIX)!.at;
  }
  async msixEntry(v: number, addr: number, data: number, masked = false): Promise<void> {
    const tableDw = await this.cfg(this.msixCap() + MsixCap.table, 4);
    const base = this.bases[tableDw & 7]! + (tableDw & ~7) + v * MsixEntry.SIZE;
    await this.pci.memory.write(base + MsixEntry.addrLo, 4, addr);
    await this.pci.memory.write(base + MsixEntry.addrHi, 4, 0);
    await this.pci.memory.write(base + MsixEntry.data, 4, data);
    await this.pci.memory.write(base + MsixEntry.control, 4, masked ? 1 : 0);
  }
  async pba(): Promise<number> {
    const dw = await this.cfg(this.msixCap() + MsixCap.pba, 4);
    return this.pci.memory.read(this.bases[dw & 7]! + (dw & ~7), 4);
  }
  async setMsixControl(bits: number): Promise<void> {
    await this.setCfg(this.msixCap() + MsixCap.control, 2, bits);
  }

  /** Initialises the device up to DRIVER_OK with one split queue of `size` entries. */
  async init(
    features = bit(F.VERSION_1) | bit(F.RING_RESET),
    size = 8,
    vector?: number,
  ): Promise<SplitDriverQueue> {
    await this.setCommon("device_status", 1, 0);
    await this.setCommon("device_status", 1, Status.ACKNOWLEDGE | Status.DRIVER);
    for (const sel of [0, 1]) {
      await this.setCommon("driver_feature_select", 4, sel);
      await this.setCommon("driver_feature", 4, Number((features >> BigInt(32 * sel)) & 0xffff_ffffn));
    }
    await this.setCommon("device_status", 1, Status.ACKNOWLEDGE | Status.DRIVER | Status.FEATURES_OK);
    assert((await this.common("device_status", 1)) & Status.FEATURES_OK, "FEATURES_OK refused");
    const alloc = new BumpAllocator(RAM.base, RAM.base + 0x8000);
    const q = await SplitDriverQueue.create(this.mem, alloc, 0, size);
    await this.setCommon("queue_select", 2, 0);
    await this.setCommon("queue_size", 2, size);
    if (vector !== undefined) await this.setCommon("queue_msix_vector", 2, vector);
    await this.setCommon("queue_desc", 4, q.addrs.desc);
    await this.setCommon("queue_driver", 4, q.addrs.driver);
    await this.setCommon("queue_device", 4, q.addrs.device);
    await this.setCommon("queue_enable", 2, 1);
    await this.setCommon(
      "device_status",
      1,
      Status.ACKNOWLEDGE | Status.DRIVER | Status.FEATURES_OK | Status.DRIVER_OK,
    );
    return q;
  }

  /** Makes one 16-byte writable buffer available and notifies queue 0; returns the buffer address. */
  async request(q: SplitDriverQueue): Promise<number> {
    const buf = RAM.base + 0x10000;
    const id = await q.add([{ addr: buf, len: 16, writable: true }]);
    await q.publish(id);
    const notifyOff = await this.common("queue_notify_off", 2);
    const n = this.caps.find((c) => c.cfgType === VirtioPciCap.NOTIFY_CFG)!;
    const mult = await this.cfg(n.at + CapField.notify_off_multiplier, 4);
    await this.pci.memory.write(this.addr(VirtioPciCap.NOTIFY_CFG) + notifyOff * mult, 2, 0);
    await this.dev.idle();
    return buf;
  }
}

Deno.test("modern header: vendor, device, revision, subsystem, class, pin, capability list", async () => {
  const b = await Bench.create();
  assertEquals(await b.cfg(PciConfig.VendorID, 2), 0x1af4);
  assertEquals(await b.cfg(PciConfig.DeviceID, 2), 0x1044);
  assertEquals(await b.cfg(0, 4), 0x1044_1af4);
  assert((await b.cfg(PciConfig.RevisionID, 1)) >= 1);
  assertEquals(await b.cfg(PciConfig.SubsystemVendorID, 2), 0x1af4);
  assert((await b.cfg(PciConfig.SubsystemID, 2)) >= 0x40);
  assertEquals(await b.cfg(PciConfig.ClassCode, 1), 0xff);
  assertEquals(await b.cfg(PciConfig.HeaderType, 1), 0);
  assertEquals(await b.cfg(PciConfig.InterruptPin, 1), 1);
  assert((await b.cfg(PciConfig.Status, 2)) & PciStatus.CAP_LIST);
  assertEquals(await b.cfg(PciConfig.CapabilitiesPointer, 1), PCI_CAPS_START);
  // Read-only identity ignores writes; InterruptLine is writable.
  await b.setCfg(PciConfig.VendorID, 4, 0);
  assertEquals(await b.cfg(0, 4), 0x1044_1af4);
  await b.setCfg(PciConfig.InterruptLine, 1, 11);
  assertEquals(await b.cfg(PciConfig.InterruptLine, 1), 11);
  assertEquals(await b.cfg(PciConfig.InterruptLine, 2), 0x010b);
});

Deno.test("transitional header: transitional ID, revision 0, subsystem = virtio ID, I/O BAR0 reading zero", async () => {
  const b = await Bench.create(new BlkFunction(), { transitional: true });
  assertEquals(await b.cfg(PciConfig.DeviceID, 2), 0x1001);
  assertEquals(await b.cfg(PciConfig.RevisionID, 1), 0);
  assertEquals(await b.cfg(PciConfig.SubsystemID, 2), 2);
  assertEquals(b.sizes[0], 32);
  const bar0 = await b.cfg(barOffset(0), 4);
  assertEquals(bar0 & PciBar.IO_SPACE, 1);
  await b.pci.io!.write(b.bases[0]! + 18, 1, 0x55);
  assertEquals(await b.pci.io!.read(b.bases[0]! + 18, 1), 0);
  assertEquals(await b.pci.io!.read(b.bases[0]!, 4), 0);
});

Deno.test("BAR sizing: size masks and type bits, 64-bit high half, unimplemented BARs read 0", async () => {
  const mem = new ArrayMemory(RAM.base, RAM.size);
  const dev = new PciDevice(new DeviceCore(new RngFunction(), { memory: mem, transport: "pci" }));
  const cfg = dev.config;
  for (const i of [0, 2, 3]) {
    await cfg.write(barOffset(i), 4, 0xffff_ffff);
    assertEquals(await cfg.read(barOffset(i), 4), 0, `BAR${i}`);
  }
  await cfg.write(barOffset(1), 4, 0xffff_ffff);
  assertEquals(await cfg.read(barOffset(1), 4), 0xffff_f000); // 4 KiB, 32-bit, not prefetchable
  await cfg.write(barOffset(4), 4, 0xffff_ffff);
  assertEquals(await cfg.read(barOffset(4), 4), (0xffff_c000 | PciBar.TYPE_64) >>> 0); // 16 KiB, 64-bit
  await cfg.write(barOffset(5), 4, 0xffff_ffff);
  assertEquals(await cfg.read(barOffset(5), 4), 0xffff_ffff);
  // Placing above 4 GiB through the high half.
  await cfg.write(barOffset(4), 4, 0x1234_5678);
  await cfg.write(barOffset(5), 4, 0x2);
  assertEquals(await cfg.read(barOffset(4), 4), 0x1234_4000 | PciBar.TYPE_64);
  assertEquals(dev.barBase(4), 0x2_1234_4000);
  // Byte-lane write of one byte of a BAR.
  await cfg.write(barOffset(1) + 3, 1, 0xab);
  assertEquals((await cfg.read(barOffset(1), 4)) >>> 24, 0xab);
});

Deno.test("memory decode: only with MEMORY set and inside a placed BAR; otherwise all ones", async () => {
  const b = await Bench.create();
  const common = b.addr(VirtioPciCap.COMMON_CFG);
  assertEquals(await b.pci.memory.read(common + CommonCfg.num_queues, 2), 1);
  await b.setCfg(PciConfig.Command, 2, PciCommand.BUS_MASTER);
  assertEquals(await b.pci.memory.read(common + CommonCfg.num_queues, 2), 0xffff);
  assertEquals(await b.pci.memory.read(common, 4), 0xffff_ffff);
  await b.pci.memory.write(common + CommonCfg.queue_select, 2, 5); // dropped
  await b.setCfg(PciConfig.Command, 2, PciCommand.MEMORY);
  assertEquals(await b.common("queue_select", 2), 0);
  assertEquals(await b.pci.memory.read(b.bases[4]! + b.sizes[4]!, 4), 0xffff_ffff); // past the BAR
  assertEquals(await b.pci.memory.read(0x1000, 1), 0xff);
  // Command keeps only its defined bits.
  await b.setCfg(PciConfig.Command, 2, 0xffff);
  assertEquals(
    await b.cfg(PciConfig.Command, 2),
    PciCommand.MEMORY | PciCommand.BUS_MASTER | PciCommand.INTX_DISABLE,
  );
});

Deno.test("capability chain: terminates, every structure present, aligned offsets, MSI-X last", async () => {
  const b = await Bench.create(new BlkFunction());
  const types = b.caps.filter((c) => c.id === PciCapId.VENDOR).map((c) => c.cfgType);
  assertEquals(types, [1, 2, 3, 4, 5]);
  assertEquals(b.caps.at(-1)!.id, PciCapId.MSIX);
  for (const c of b.caps) {
    assertEquals(c.at % 4, 0);
    assert(c.at >= PCI_CAPS_START);
    if (c.id !== PciCapId.VENDOR) continue;
    assertEquals(c.offset % 4, 0);
    assert(c.bar === 4 || c.cfgType === VirtioPciCap.PCI_CFG);
    if (c.cfgType !== VirtioPciCap.PCI_CFG) assert(c.offset + c.length <= b.sizes[c.bar]!);
  }
  const notify = b.cap(VirtioPciCap.NOTIFY_CFG);
  assertEquals(notify.len, 20);
  assertEquals(await b.cfg(notify.at + CapField.notify_off_multiplier, 4), 4);
  assert(notify.length >= 4);
  const msix = await b.cfg(b.msixCap() + MsixCap.control, 2);
  assertEquals((msix & MsixCap.TABLE_SIZE_MASK) + 1, 2);
  // Without a device configuration (rng) there is no device cap.
  const r = await Bench.create();
  assertFalse(r.caps.some((c) => c.cfgType === VirtioPciCap.DEVICE_CFG));
});

Deno.test("layout variations: reserved cfg_type first, duplicate structures in BAR2 (both live)", async () => {
  const b = await Bench.create(new BlkFunction(), { reservedCapFirst: true, duplicateStructures: true });
  assertEquals(b.caps[0]!.cfgType, 10);
  const commons = b.caps.filter((c) => c.cfgType === VirtioPciCap.COMMON_CFG);
  assertEquals(commons.map((c) => c.bar), [4, 2]);
  const dup = commons[1]!;
  await b.pci.memory.write(b.bases[2]! + dup.offset + CommonCfg.queue_select, 2, 0);
  assertEquals(await b.pci.memory.read(b.bases[2]! + dup.offset + CommonCfg.queue_size, 2), 128);
  await b.pci.memory.write(b.bases[2]! + dup.offset + CommonCfg.queue_size, 2, 32);
  assertEquals(await b.common("queue_size", 2), 32);
  assertEquals(b.caps.at(-1)!.id, PciCapId.MSIX);
});

Deno.test("layout variations: longer caps, vendor data, shared memory, multiplier 0, reserved BAR, no MSI-X", async () => {
  const vendor = new Uint8Array([1, 2, 3, 4, 5]);
  const b = await Bench.create(new BlkFunction(), {
    reservedBarCapFirst: true,
    capLenExtra: 8,
    vendorData: { vendorId: 0x1234, data: vendor },
    sharedMemory: { id: 3, size: 0x1000 },
    msix: false,
    notifyOffMultiplier: 0,
  });
  assertEquals([b.caps[0]!.cfgType, b.caps[0]!.bar], [VirtioPciCap.COMMON_CFG, 7]);
  assertEquals(b.caps.filter((c) => c.cfgType === VirtioPciCap.COMMON_CFG)[1]!.len, 24);
  const notify = b.cap(VirtioPciCap.NOTIFY_CFG);
  assertEquals(notify.len, 28);
  assertEquals(await b.cfg(notify.at + CapField.notify_off_multiplier, 4), 0);
  const v = b.cap(VirtioPciCap.VENDOR_CFG);
  assertEquals(await b.cfg(v.at + CapField.vendor_id, 2), 0x1234);
  assertEquals(v.len % 4, 0);
  assertEquals(await b.cfg(v.at + 6, 1), 1);
  const shm = b.cap(VirtioPciCap.SHARED_MEMORY_CFG);
  assertEquals(shm.len, 24);
  assertEquals(await b.cfg(shm.at + CapField.id, 1), 3);
  assertEquals(shm.length, 0x1000);
  await b.pci.memory.write(b.bases[shm.bar]! + 8, 4, 0xcafe);
  assertEquals(await b.pci.memory.read(b.bases[shm.bar]! + 8, 4), 0xcafe);
  assertFalse(b.caps.some((c) => c.id === PciCapId.MSIX));
  // Without MSI-X no vector can be mapped.
  b.caps.shift(); // the reserved-BAR capability is not the one to use
  await b.setCommon("config_msix_vector", 2, 0);
  assertEquals(await b.common("config_msix_vector", 2), NO_VECTOR);
});

Deno.test("feature windows: device_feature by select, driver_feature presents valid bits only", async () => {
  const b = await Bench.create();
  const offered = b.dev.core.offeredFeatures();
  for (const sel of [0, 1, 2, 7]) {
    await b.setCommon("device_feature_select", 4, sel);
    assertEquals(await b.common("device_feature_select", 4), sel);
    assertEquals(await b.common("device_feature", 4), Number((offered >> BigInt(32 * sel)) & 0xffff_ffffn));
  }
  await b.setCommon("device_status", 1, Status.ACKNOWLEDGE | Status.DRIVER);
  await b.setCommon("driver_feature_select", 4, 1);
  await b.setCommon("driver_feature", 4, 0xffff_ffff);
  assertEquals(await b.common("driver_feature", 4), Number(offered >> 32n) >>> 0);
  await b.setCommon("driver_feature_select", 4, 0);
  assertEquals(await b.common("driver_feature", 4), 0);
  await b.setCommon("device_feature", 4, 0); // read-only: ignored
  await b.setCommon("device_feature_select", 4, 1);
  assertEquals(await b.common("device_feature", 4), Number(offered >> 32n) >>> 0);
});

Deno.test("queue programming: size, 64-bit halves, enable, status reset clears everything", async () => {
  const b = await Bench.create();
  assertEquals(await b.common("num_queues", 2), 1);
  assertEquals(await b.common("queue_size", 2), 64);
  await b.setCommon("queue_select", 2, 1);
  assertEquals(await b.common("queue_size", 2), 0);
  await b.setCommon("queue_select", 2, 0);
  await b.setCommon("queue_size", 2, 16);
  assertEquals(await b.common("queue_size", 2), 16);
  await b.setCommon("queue_desc", 4, 0x9000_0000, 4);
  await b.setCommon("queue_desc", 4, 0x1234_5000);
  assertEquals(await b.pci.memory.read(b.addr(1) + CommonCfg.queue_desc + 4, 4), 0x9000_0000);
  assertEquals(b.dev.core.queues[0]!.desc, 0x1234_5000 + 0x9000_0000 * 2 ** 32);
  assertEquals(await b.common("queue_notify_off", 2), 0);
  assertEquals(await b.common("queue_enable", 2), 0);
  await b.setCommon("queue_enable", 2, 1);
  assertEquals(await b.common("queue_enable", 2), 1);
  await b.setCommon("queue_size", 2, 8); // ignored while enabled
  assertEquals(await b.common("queue_size", 2), 16);
  await b.setCommon("device_status", 1, 0);
  assertEquals(await b.common("device_status", 1), 0);
  assertEquals(await b.common("queue_enable", 2), 0);
  assertEquals(await b.common("queue_size", 2), 64);
  assertEquals(await b.common("queue_desc", 4), 0);
});

Deno.test("notify: a request is processed and the used-buffer interrupt goes to INTx and ISR", async () => {
  const b = await Bench.create();
  const levels: boolean[] = [];
  b.dev.onInterrupt((l) => levels.push(l));
  const q = await b.init();
  const buf = await b.request(q);
  const used = await q.harvest();
  assertEquals(used.length, 1);
  assertEquals(used[0]!.len, 16);
  assertNotEquals([...await b.mem.read(buf, 16)], new Array(16).fill(0));
  assert(b.dev.interruptLevel());
  assert((await b.cfg(PciConfig.Status, 2)) & PciStatus.INTERRUPT);
  assertEquals(levels.at(-1), true);
  // ISR is read-to-clear and deasserts the line.
  assertEquals(await b.isr(), PciIsr.QUEUE);
  assertEquals(await b.isr(), 0);
  assertFalse(b.dev.interruptLevel());
  assertEquals(levels.at(-1), false);
  assertFalse((await b.cfg(PciConfig.Status, 2)) & PciStatus.INTERRUPT);
});

Deno.test("INTX_DISABLE masks the line but not the Status interrupt bit", async () => {
  const b = await Bench.create();
  await b.setCfg(PciConfig.Command, 2, PciCommand.MEMORY | PciCommand.BUS_MASTER | PciCommand.INTX_DISABLE);
  const q = await b.init();
  await b.request(q);
  assertFalse(b.dev.interruptLevel());
  assert((await b.cfg(PciConfig.Status, 2)) & PciStatus.INTERRUPT);
  await b.setCfg(PciConfig.Command, 2, PciCommand.MEMORY | PciCommand.BUS_MASTER);
  assert(b.dev.interruptLevel());
});

Deno.test("notification data: a 32-bit notify carries the queue index in its low half", async () => {
  const b = await Bench.create();
  const q = await b.init(bit(F.VERSION_1) | bit(F.NOTIFICATION_DATA));
  const id = await q.add([{ addr: RAM.base + 0x10000, len: 8, writable: true }]);
  await q.publish(id);
  await b.pci.memory.write(b.addr(VirtioPciCap.NOTIFY_CFG), 4, q.notificationData());
  await b.dev.idle();
  assertEquals(b.dev.core.queues[0]!.notifications, 1);
  assertEquals((await q.harvest()).length, 1);
});

Deno.test("MSI-X: vectors map within the table, delivery writes data to memory, NO_VECTOR sends nothing", async () => {
  const b = await Bench.create();
  const msgAddr = RAM.base + 0x20000;
  await b.msixEntry(0, msgAddr, 0xa0);
  await b.msixEntry(1, msgAddr + 4, 0xb1);
  await b.setMsixControl(MsixCap.ENABLE);
  // Mapping: a vector beyond the table fails (NO_VECTOR).
  await b.setCommon("config_msix_vector", 2, 5);
  assertEquals(await b.common("config_msix_vector", 2), NO_VECTOR);
  await b.setCommon("config_msix_vector", 2, 1);
  assertEquals(await b.common("config_msix_vector", 2), 1);
  const q = await b.init(undefined, 8, 0);
  // init resets the device: config vector unmapped again.
  assertEquals(await b.common("config_msix_vector", 2), NO_VECTOR);
  assertEquals(await b.common("queue_msix_vector", 2), 0);
  await b.setCommon("config_msix_vector", 2, 1);
  await b.request(q);
  assertEquals(await readU32(b.mem, msgAddr), 0xa0);
  assertFalse(b.dev.interruptLevel(), "INTx stays low while MSI-X is enabled");
  assertFalse((await b.cfg(PciConfig.Status, 2)) & PciStatus.INTERRUPT);
  b.dev.core.changeConfig(() => {});
  await b.dev.idle();
  assertEquals(await readU32(b.mem, msgAddr + 4), 0xb1);
  assert((await b.isr()) & PciIsr.CONFIG, "config change sets the ISR config bit");
  // NO_VECTOR: no message at all.
  await b.setCommon("config_msix_vector", 2, NO_VECTOR);
  const before = b.dev.messageCount;
  b.dev.core.changeConfig(() => {});
  await b.dev.idle();
  assertEquals(b.dev.messageCount, before);
  assertEquals(await b.pba(), 0);
});

Deno.test("MSI-X: a masked vector sets its pending bit and is sent when unmasked; function mask too", async () => {
  const b = await Bench.create();
  const msgAddr = RAM.base + 0x20000;
  await b.msixEntry(0, msgAddr, 0x11, true);
  await b.setMsixControl(MsixCap.ENABLE);
  const q = await b.init(undefined, 8, 0);
  await b.request(q);
  assertEquals(await readU32(b.mem, msgAddr), 0);
  assertEquals(await b.pba(), 1);
  await b.msixEntry(0, msgAddr, 0x11, false);
  await b.dev.idle();
  assertEquals(await readU32(b.mem, msgAddr), 0x11);
  assertEquals(await b.pba(), 0);
  // Function mask.
  await b.mem.write(msgAddr, new Uint8Array(4));
  await b.setMsixControl(MsixCap.ENABLE | MsixCap.FUNCTION_MASK);
  b.dev.core.raise(Irq.USED, 0);
  await b.dev.idle();
  assertEquals(await b.pba(), 1);
  assertEquals(await readU32(b.mem, msgAddr), 0);
  await b.setMsixControl(MsixCap.ENABLE);
  await b.dev.idle();
  assertEquals(await readU32(b.mem, msgAddr), 0x11);
  // An address outside guest memory is dropped (but counted as sent).
  const seen: boolean[] = [];
  b.dev.onMessage((m) => seen.push(m.landed));
  await b.msixEntry(0, 0x10, 0x22);
  b.dev.core.raise(Irq.USED, 0);
  await b.dev.idle();
  assertEquals(seen, [false]);
});

Deno.test("PCI cfg access window reaches the common configuration and the ISR", async () => {
  const b = await Bench.create();
  // The window works with memory decoding off.
  await b.setCfg(PciConfig.Command, 2, 0);
  const c = b.cap(VirtioPciCap.PCI_CFG);
  const common = b.cap(VirtioPciCap.COMMON_CFG);
  await b.setCfg(c.at + CapField.bar, 1, common.bar);
  await b.setCfg(c.at + CapField.length, 4, 2);
  await b.setCfg(c.at + CapField.offset, 4, common.offset + CommonCfg.queue_size);
  assertEquals(await b.cfg(c.at + CapField.pci_cfg_data, 2), 64);
  await b.setCfg(c.at + CapField.pci_cfg_data, 2, 32);
  assertEquals(b.dev.core.queues[0]!.size, 32);
  await b.setCfg(c.at + CapField.length, 4, 4);
  await b.setCfg(c.at + CapField.offset, 4, common.offset + CommonCfg.device_feature);
  assertEquals(await b.cfg(c.at + CapField.pci_cfg_data, 4), Number(b.dev.core.offeredFeatures() & 0xffff_ffffn));
  // ISR through the window is read-to-clear as well.
  b.dev.core.raise(Irq.CONFIG);
  const isr = b.cap(VirtioPciCap.ISR_CFG);
  await b.setCfg(c.at + CapField.length, 4, 1);
  await b.setCfg(c.at + CapField.offset, 4, isr.offset);
  assertEquals(await b.cfg(c.at + CapField.pci_cfg_data, 1), PciIsr.CONFIG);
  assertEquals(b.dev.core.interruptStatus, 0);
  // Other capability fields stay read-only.
  await b.setCfg(common.at + CapField.offset, 4, 0x40);
  assertEquals(await b.cfg(common.at + CapField.offset, 4), common.offset);
});

Deno.test("reset: vectors unmapped, queue_enable 0; queue reset unmaps the queue vector", async () => {
  const b = await Bench.create();
  await b.setMsixControl(MsixCap.ENABLE);
  const q = await b.init(undefined, 8, 1);
  assertEquals(await b.common("queue_msix_vector", 2), 1);
  void q;
  await b.setCommon("queue_reset", 2, 1);
  assertEquals(await b.common("queue_reset", 2), 0);
  assertEquals(await b.common("queue_enable", 2), 0);
  assertEquals(await b.common("queue_msix_vector", 2), NO_VECTOR);
  await b.setCommon("queue_msix_vector", 2, 0);
  await b.setCommon("config_msix_vector", 2, 1);
  await b.setCommon("device_status", 1, 0);
  assertEquals(await b.common("device_status", 1), 0);
  assertEquals(await b.common("queue_msix_vector", 2), NO_VECTOR);
  assertEquals(await b.common("config_msix_vector", 2), NO_VECTOR);
  assertEquals(await b.common("queue_reset", 2), 0);
});

Deno.test("queue reset in progress reads 1 until done, then 0 with queue_enable 0", async () => {
  const mem = new ArrayMemory(RAM.base, RAM.size);
  const fn = new RngFunction();
  const core = new DeviceCore(fn, { memory: mem, transport: "pci", knobs: { queueResetReads: 2 } });
  const dev = new PciDevice(core);
  const b = new Bench(dev, dev.access(), mem);
  await b.placeBars();
  await b.walkCaps();
  await b.init();
  await b.setCommon("queue_reset", 2, 1);
  assertEquals(await b.common("queue_reset", 2), 1);
  assertEquals(await b.common("queue_reset", 2), 1);
  assertEquals(await b.common("queue_reset", 2), 0);
  assertEquals(await b.common("queue_enable", 2), 0);
});

Deno.test("config_generation and device configuration through the device cap", async () => {
  const b = await Bench.create(new BlkFunction());
  const gen = await b.common("config_generation", 1);
  const dcfg = b.addr(VirtioPciCap.DEVICE_CFG);
  const capLo = await b.pci.memory.read(dcfg, 4);
  assertEquals(capLo, b.dev.core.readConfig(0, 4));
  b.dev.core.changeConfig(() => {});
  assertEquals(await b.common("config_generation", 1), (gen + 1) & 0xff);
});
