import { assert, assertEquals, assertMatch } from "@std/assert";
import type { RegisterSpace, Width } from "../registers.ts";
import { type BarView, capUnusableReason, selectVirtioCaps, walkCapabilities } from "./pci_caps.ts";
import { PciConfig, PciStatus, VirtioPciCap } from "./pci_layout.ts";

/** A 256-byte configuration space over a byte array (reads past the end read 0xff, like an absent register). */
class ByteConfig implements RegisterSpace {
  readonly bytes = new Uint8Array(256);
  reads = 0;
  constructor() {
    this.bytes[PciConfig.Status] = PciStatus.CAP_LIST;
  }
  read(offset: number, width: Width): Promise<number> {
    this.reads++;
    let v = 0;
    for (let i = width - 1; i >= 0; i--) v = v * 256 + (this.bytes[offset + i] ?? 0xff);
    return Promise.resolve(v);
  }
  write(): Promise<void> {
    throw new Error("the walk must not write configuration space");
  }
  /** Puts a virtio capability at `at`. */
  virtio(
    at: number,
    next: number,
    o: { capLen?: number; type: number; bar?: number; id?: number; offset?: number; length?: number; extra?: number[] },
  ): this {
    const capLen = o.capLen ?? 16;
    const b = [0x09, next, capLen, o.type, o.bar ?? 0, o.id ?? 0, 0, 0, ...le32(o.offset ?? 0), ...le32(o.length ?? 0)];
    b.push(...(o.extra ?? []));
    this.bytes.set(b.slice(0, Math.min(b.length, 256 - at)), at);
    return this;
  }
  first(ptr: number): this {
    this.bytes[PciConfig.CapabilitiesPointer] = ptr;
    return this;
  }
}

function le32(v: number): number[] {
  return [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
}

Deno.test("walk: a well-formed list with virtio caps and MSI-X", async () => {
  const c = new ByteConfig().first(0x40)
    .virtio(0x40, 0x50, { type: VirtioPciCap.COMMON_CFG, bar: 4, offset: 0, length: 0x1000 })
    .virtio(0x50, 0x68, {
      capLen: 20,
      type: VirtioPciCap.NOTIFY_CFG,
      bar: 4,
      offset: 0x3000,
      length: 0x1000,
      extra: le32(4),
    })
    .virtio(0x68, 0x80, {
      capLen: 24,
      type: VirtioPciCap.SHARED_MEMORY_CFG,
      bar: 2,
      offset: 0x10,
      length: 0x20,
      extra: [...le32(1), ...le32(2)],
    });
  c.bytes.set([0x11, 0x00, 0x03, 0x00, ...le32(0x0000_2001), ...le32(0x0000_2801)], 0x80);
  const w = await walkCapabilities(c);
  assertEquals(w.problems, []);
  assertEquals(w.caps.map((x) => x.at), [0x40, 0x50, 0x68, 0x80]);
  assertEquals(w.virtio.length, 3);
  assertEquals(w.virtio[1]?.notifyOffMultiplier, 4);
  assertEquals(w.virtio[2]?.offset64, 0x1_0000_0010n);
  assertEquals(w.virtio[2]?.length64, 0x2_0000_0020n);
  assertEquals(w.msix, {
    at: 0x80,
    control: 3,
    tableSize: 4,
    tableBir: 1,
    tableOffset: 0x2000,
    pbaBir: 1,
    pbaOffset: 0x2800,
  });
});

Deno.test("walk: no CAP_LIST means no walk", async () => {
  const c = new ByteConfig().first(0x40).virtio(0x40, 0, { type: 1 });
  c.bytes[PciConfig.Status] = 0;
  const w = await walkCapabilities(c);
  assertEquals(w.caps, []);
  assertMatch(w.problems[0] ?? "", /CAP_LIST/);
});

Deno.test("walk: a loop is reported and the walk ends", async () => {
  const c = new ByteConfig().first(0x40)
    .virtio(0x40, 0x50, { type: 1 })
    .virtio(0x50, 0x40, { type: 3 });
  const w = await walkCapabilities(c);
  assertEquals(w.caps.length, 2);
  assertEquals(w.problems.length, 1);
  assertMatch(w.problems[0] ?? "", /loops/);
  const self = await walkCapabilities(new ByteConfig().first(0x40).virtio(0x40, 0x40, { type: 1 }));
  assertEquals(self.caps.length, 1);
  assertMatch(self.problems[0] ?? "", /loops/);
});

Deno.test("walk: pointers into the header are reported", async () => {
  const w = await walkCapabilities(new ByteConfig().first(0x20));
  assertEquals(w.caps, []);
  assertMatch(w.problems[0] ?? "", /Capabilities Pointer is 0x20, outside \[0x40, 0x100\)/);
  const w2 = await walkCapabilities(new ByteConfig().first(0x40).virtio(0x40, 0x3c, { type: 1 }));
  assertEquals(w2.caps.length, 1);
  assertMatch(w2.problems[0] ?? "", /cap_next of the capability at 0x40 is 0x3c/);
});

Deno.test("walk: misaligned pointers are reported and masked", async () => {
  const w = await walkCapabilities(new ByteConfig().first(0x43).virtio(0x40, 0, { type: 1 }));
  assertEquals(w.caps.map((x) => x.at), [0x40]);
  assertMatch(w.problems[0] ?? "", /not 4-byte aligned/);
});

Deno.test("walk: a cap running past 0x100 is reported and its missing fields are not read", async () => {
  const c = new ByteConfig().first(0xf8).virtio(0xf8, 0, { type: VirtioPciCap.COMMON_CFG, capLen: 16, bar: 1 });
  const w = await walkCapabilities(c);
  assertEquals(w.virtio.length, 1);
  assertMatch(w.problems.join("\n"), /runs past the end of configuration space/);
  assertEquals(w.virtio[0]?.bar, 1);
  assertEquals(w.virtio[0]?.offset, 0);
  assertMatch(capUnusableReason(w.virtio[0]!) ?? "", /past the end/);
});

Deno.test("walk: bounded by maxCaps, and every aligned slot filled still ends", async () => {
  const c = new ByteConfig().first(0x40);
  for (let at = 0x40; at < 0x100; at += 4) c.bytes.set([0x01, at + 4 < 0x100 ? at + 4 : 0x40], at);
  const w = await walkCapabilities(c);
  assertEquals(w.caps.length, 48);
  assertMatch(w.problems[0] ?? "", /loops/);
  const w2 = await walkCapabilities(c, { maxCaps: 5 });
  assertEquals(w2.caps.length, 5);
  assertMatch(w2.problems[0] ?? "", /more than 5 entries/);
});

Deno.test("walk: a failing read ends the walk with a problem instead of throwing", async () => {
  const c = new ByteConfig().first(0x40).virtio(0x40, 0x50, { type: 1 });
  const failing: RegisterSpace = {
    read: (o, w) => o >= 0x50 ? Promise.reject(new Error("bus error")) : c.read(o, w),
    write: () => Promise.resolve(),
  };
  c.virtio(0x50, 0, { type: 3 });
  const w = await walkCapabilities(failing);
  assertEquals(w.caps.length, 1);
  assertMatch(w.problems[0] ?? "", /at 0x050 \(width 1\) failed: bus error/);
});

Deno.test("walk: the vendor data capability reads vendor_id", async () => {
  const c = new ByteConfig().first(0x40);
  c.bytes.set([0x09, 0x00, 8, VirtioPciCap.VENDOR_CFG, 0x34, 0x12, 0, 0], 0x40);
  const w = await walkCapabilities(c);
  assertEquals(w.virtio[0]?.vendorId, 0x1234);
  assertEquals(selectVirtioCaps(w).vendorData.length, 1);
});

const bars: BarView[] = [
  { index: 0, kind: "mem32", size: 0x4000 },
  { index: 1, kind: "none", size: 0 },
  { index: 2, kind: "io", size: 0x40 },
  { index: 3, kind: "none", size: 0 },
  { index: 4, kind: "mem64", size: 0x4000 },
  { index: 5, kind: "none", size: 0 },
];

Deno.test("select: reserved cfg_type and reserved bar are skipped; the first usable instance is chosen", async () => {
  const c = new ByteConfig().first(0x40)
    .virtio(0x40, 0x50, { type: 0x07, bar: 0, length: 0x100 }) // reserved cfg_type
    .virtio(0x50, 0x60, { type: VirtioPciCap.COMMON_CFG, bar: 6, length: 0x100 }) // reserved bar
    .virtio(0x60, 0x70, { type: VirtioPciCap.COMMON_CFG, bar: 0, offset: 0x0, length: 0x100 })
    .virtio(0x70, 0x80, { type: VirtioPciCap.COMMON_CFG, bar: 4, offset: 0x0, length: 0x100 })
    .virtio(0x80, 0x90, { type: VirtioPciCap.ISR_CFG, bar: 0, offset: 0x5000, length: 1 }) // outside BAR 0
    .virtio(0x90, 0xa0, { type: VirtioPciCap.ISR_CFG, bar: 1, offset: 0, length: 1 }) // BAR 1 unimplemented
    .virtio(0xa0, 0xb0, { type: VirtioPciCap.ISR_CFG, bar: 0, offset: 0x1000, length: 1 })
    .virtio(0xb0, 0, { type: VirtioPciCap.NOTIFY_CFG, bar: 0, offset: 0x2000, length: 4 }); // cap_len 16 < 20
  const w = await walkCapabilities(c);
  const sel = selectVirtioCaps(w, { bars });
  assertEquals(sel.common?.at, 0x60);
  assertEquals(sel.isr?.at, 0xa0);
  assertEquals(sel.notify, undefined);
  const reasons = Object.fromEntries(sel.skipped.map((s) => [s.cap.at, s.reason]));
  assertMatch(reasons[0x40] ?? "", /cfg_type 7 is reserved/);
  assertMatch(reasons[0x50] ?? "", /bar 6 is reserved/);
  assertMatch(reasons[0x70] ?? "", /came earlier/);
  assertMatch(reasons[0x80] ?? "", /not inside BAR 0/);
  assertMatch(reasons[0x90] ?? "", /BAR 1 is not implemented/);
  assertMatch(reasons[0xb0] ?? "", /cap_len 16 is shorter than the 20 bytes/);
});

Deno.test("select: a larger cap_len is accepted", async () => {
  const c = new ByteConfig().first(0x40)
    .virtio(0x40, 0x60, {
      capLen: 28,
      type: VirtioPciCap.NOTIFY_CFG,
      bar: 0,
      offset: 0x2000,
      length: 0x100,
      extra: le32(8),
    })
    .virtio(0x60, 0, { capLen: 0x20, type: VirtioPciCap.COMMON_CFG, bar: 0, length: 0x40 });
  const w = await walkCapabilities(c);
  assertEquals(w.problems, []);
  const sel = selectVirtioCaps(w, { bars });
  assertEquals(sel.notify?.notifyOffMultiplier, 8);
  assertEquals(sel.common?.capLen, 0x20);
  assertEquals(sel.skipped, []);
});

Deno.test("select: I/O BARs are skipped without I/O space; the next instance is used", async () => {
  const c = new ByteConfig().first(0x40)
    .virtio(0x40, 0x54, { capLen: 20, type: VirtioPciCap.NOTIFY_CFG, bar: 2, length: 2, extra: le32(0) })
    .virtio(0x54, 0, { capLen: 20, type: VirtioPciCap.NOTIFY_CFG, bar: 0, offset: 0x3000, length: 4, extra: le32(0) });
  const w = await walkCapabilities(c);
  assertEquals(selectVirtioCaps(w, { bars }).notify?.at, 0x40);
  const sel = selectVirtioCaps(w, { bars, ioAvailable: false });
  assertEquals(sel.notify?.at, 0x54);
  assertMatch(sel.skipped[0]?.reason ?? "", /I\/O BAR/);
});

Deno.test("select: a structure too short to use is skipped; the PCI cfg cap needs no BAR", () => {
  const common = { at: 0x40, capLen: 16, cfgType: 1, bar: 0, id: 0, offset: 0, length: 0x20 };
  assertMatch(capUnusableReason(common, { bars }) ?? "", /length 32 is shorter than the 56 bytes/);
  const pciCfg = { at: 0x40, capLen: 20, cfgType: VirtioPciCap.PCI_CFG, bar: 0, id: 0, offset: 0, length: 0 };
  assertEquals(capUnusableReason(pciCfg, { bars }), undefined);
  const unusable = capUnusableReason({ ...common, length: 0x40 }, { unusableBar: () => "too big" });
  assert(unusable?.includes("BAR 0 cannot be used: too big"));
});
