import { assert, assertEquals, assertMatch } from "@std/assert";
import type { PciFunctionAccess } from "../adapter.ts";
import type { RegisterSpace, Width } from "../registers.ts";
import { barUnplaceableReason, placeBars, readBarAddress, sizeBars } from "./pci_bars.ts";
import { barOffset, PciCommand, PciConfig } from "./pci_layout.ts";

type BarSpec = { kind: "io" | "mem32" | "mem64"; size: number; prefetchable?: boolean } | {
  kind: "raw";
  value: number;
};

/** A configuration space whose BARs behave like hardware: only the address bits above the size are writable. */
class BarConfig implements RegisterSpace {
  readonly regs = new Map<number, number>();
  readonly log: string[] = [];
  /** Per dword offset: writable mask and read-only low bits. */
  readonly bar = new Map<number, { mask: number; fixed: number }>();
  constructor(specs: (BarSpec | undefined)[]) {
    specs.forEach((s, i) => {
      if (!s) return;
      const off = barOffset(i);
      if (s.kind === "raw") {
        this.bar.set(off, { mask: 0, fixed: s.value });
      } else if (s.kind === "io") {
        this.bar.set(off, { mask: (~(s.size - 1) & 0xffff_fffc & 0xffff) >>> 0, fixed: 1 });
      } else if (s.kind === "mem32") {
        this.bar.set(off, { mask: (~(s.size - 1) & 0xffff_fff0) >>> 0, fixed: s.prefetchable ? 8 : 0 });
      } else {
        const lo = s.size >= 2 ** 32 ? 0 : (~(s.size - 1) & 0xffff_fff0) >>> 0;
        const hi = s.size >= 2 ** 32 ? (~(s.size / 2 ** 32 - 1)) >>> 0 : 0xffff_ffff;
        this.bar.set(off, { mask: lo, fixed: 4 | (s.prefetchable ? 8 : 0) });
        this.bar.set(off + 4, { mask: hi, fixed: 0 });
      }
    });
    for (const [off, b] of this.bar) this.regs.set(off, b.fixed);
  }
  read(offset: number, width: Width): Promise<number> {
    const v = this.regs.get(offset) ?? 0;
    this.log.push(`r${offset.toString(16)}`);
    return Promise.resolve(width === 4 ? v >>> 0 : v & (2 ** (8 * width) - 1));
  }
  write(offset: number, width: Width, value: number): Promise<void> {
    this.log.push(`w${offset.toString(16)}=${value.toString(16)}`);
    const b = this.bar.get(offset);
    if (b) this.regs.set(offset, ((value & b.mask) | b.fixed) >>> 0);
    else if (offset === PciConfig.Command) this.regs.set(offset, value & 0xffff);
    else if (width === 4 && (offset < barOffset(0) || offset > barOffset(5))) this.regs.set(offset, value >>> 0);
    return Promise.resolve();
  }
}

function access(config: RegisterSpace, io = true): PciFunctionAccess {
  const none: RegisterSpace = { read: () => Promise.resolve(0), write: () => Promise.resolve() };
  return io
    ? {
      config,
      memory: none,
      memoryWindow: { base: 0xe000_0000, size: 0x10_0000 },
      io: none,
      ioWindow: { base: 0xc000, size: 0x1000 },
    }
    : { config, memory: none, memoryWindow: { base: 0xe000_0000, size: 0x10_0000 } };
}

Deno.test("sizeBars: I/O, 32-bit, 64-bit and missing BARs", async () => {
  const c = new BarConfig([
    { kind: "io", size: 0x40 },
    { kind: "mem32", size: 0x1000 },
    { kind: "mem64", size: 0x4000, prefetchable: true },
    undefined,
    undefined,
    { kind: "mem32", size: 0x10 },
  ]);
  c.regs.set(barOffset(1), 0xfebf_0000); // firmware-assigned address, restored after sizing
  const { bars, problems } = await sizeBars(c);
  assertEquals(problems, []);
  assertEquals(bars.map((b) => [b.kind, b.size]), [
    ["io", 0x40],
    ["mem32", 0x1000],
    ["mem64", 0x4000],
    ["none", 0],
    ["none", 0],
    ["mem32", 0x10],
  ]);
  assertEquals(bars[2]?.prefetchable, true);
  assertEquals(bars[3]?.upperHalfOf, 2);
  assertEquals(bars[4]?.upperHalfOf, undefined);
  assertEquals(c.regs.get(barOffset(1)), 0xfebf_0000);
});

Deno.test("sizeBars: a 64-bit BAR bigger than 4 GiB", async () => {
  const { bars } = await sizeBars(new BarConfig([{ kind: "mem64", size: 2 ** 33 }]));
  assertEquals(bars[0]?.size, 2 ** 33);
  assertMatch(barUnplaceableReason(bars, 0, access(new BarConfig([]))) ?? "", /too big for the memory window/);
});

Deno.test("sizeBars: decoding is off while sizing and restored after", async () => {
  const c = new BarConfig([{ kind: "mem32", size: 0x1000 }]);
  c.regs.set(PciConfig.Command, PciCommand.MEMORY | PciCommand.BUS_MASTER);
  await sizeBars(c);
  const cmdWrites = c.log.filter((l) => l.startsWith("w4="));
  assertEquals(cmdWrites, ["w4=4", "w4=6"]);
});

Deno.test("sizeBars: a 64-bit BAR in slot 5 and a reserved memory type are problems", async () => {
  const c = new BarConfig([{ kind: "raw", value: 0x6 }, undefined, undefined, undefined, undefined, {
    kind: "raw",
    value: 0x4,
  }]);
  const { bars, problems } = await sizeBars(c);
  assertEquals(bars[0]?.kind, "none");
  assertEquals(bars[5]?.kind, "none");
  assertEquals(bars[1]?.upperHalfOf, undefined, "a reserved type does not own the next slot");
  assertMatch(problems.join("\n"), /BAR 0 has the reserved memory type/);
  assertMatch(problems.join("\n"), /BAR 5 says it is a 64-bit memory BAR, but there is no BAR 6/);
  assertMatch(barUnplaceableReason(bars, 5, access(c), problems) ?? "", /BAR 5 says it is a 64-bit/);
  assertMatch(barUnplaceableReason(bars, 3, access(c), problems) ?? "", /BAR 3 has size 0/);
});

Deno.test("placeBars: natural alignment, no overlap, addresses written, Command enabled", async () => {
  const c = new BarConfig([
    { kind: "mem32", size: 0x1000 },
    { kind: "io", size: 0x40 },
    { kind: "mem64", size: 0x4000 },
    undefined,
    { kind: "mem32", size: 0x100 },
  ]);
  const a = access(c);
  const { bars } = await sizeBars(c);
  const r = await placeBars(a, bars, [0, 1, 2, 4, 2]);
  assertEquals(r.errors, []);
  assertEquals(r.placements.map((p) => [p.index, p.address]), [
    [0, 0xe000_4000],
    [1, 0xc000],
    [2, 0xe000_0000],
    [4, 0xe000_5000],
  ]);
  for (const p of r.placements) {
    assertEquals(p.address % p.size, 0);
    assertEquals(await readBarAddress(c, p.index, p.kind), p.address);
  }
  assertEquals(r.command, PciCommand.MEMORY | PciCommand.IO | PciCommand.BUS_MASTER);
  assertEquals(c.regs.get(PciConfig.Command), r.command);
});

Deno.test("placeBars: unplaceable BARs are errors with reasons; IO stays off without I/O BARs", async () => {
  const c = new BarConfig([
    { kind: "mem32", size: 0x10_0000 },
    { kind: "io", size: 0x40 },
    { kind: "mem32", size: 0x20_0000 },
    { kind: "mem32", size: 0x1000 },
  ]);
  const a = access(c, false);
  const { bars } = await sizeBars(c);
  const r = await placeBars(a, bars, [0, 1, 2, 3, 5]);
  assertEquals(r.placements.map((p) => p.index), [0]);
  assertMatch(r.failed.get(1) ?? "", /BAR 1 is an I\/O BAR and the adapter has no I\/O space/);
  assertMatch(r.failed.get(2) ?? "", /BAR 2 is too big for the memory window: 0x200000 bytes, window 0x100000/);
  assertMatch(r.failed.get(3) ?? "", /BAR 3 \(0x1000 bytes\) does not fit in what is left of the memory window/);
  assertMatch(r.failed.get(5) ?? "", /BAR 5 has size 0/);
  assertEquals(r.errors.length, 4);
  assert((r.command & PciCommand.IO) === 0);
  assertEquals(r.command, PciCommand.MEMORY | PciCommand.BUS_MASTER);
});

Deno.test("placeBars: a BAR that does not hold its address is an error", async () => {
  const c = new BarConfig([{ kind: "mem32", size: 0x1000 }]);
  const { bars } = await sizeBars(c);
  c.bar.set(barOffset(0), { mask: 0, fixed: 0 }); // stops taking writes
  const r = await placeBars(access(c), bars, [0]);
  assertEquals(r.placements, []);
  assertMatch(r.errors[0] ?? "", /BAR 0 reads back 0x000 after 0xe0000000 was written/);
});
