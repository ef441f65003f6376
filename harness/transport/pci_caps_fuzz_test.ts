/**
 * Fuzzes the PCI capability walker ({@link walkCapabilities}) and the
 * capability selection after it with hostile configuration spaces: random
 * bytes over a structured capability list (loops, misaligned and
 * out-of-range pointers, short and overlong cap_len, every cfg_type, MSI-X),
 * reads that return values wider than asked, or fail.
 *
 * Accepted errors: none. The walker reports whatever is wrong in `problems`
 * and never throws; {@link selectVirtioCaps} and {@link capUnusableReason}
 * are pure functions of the walk. The number of configuration reads is
 * bounded (every capability is visited once) and each case has a deadline.
 * See `harness/fuzz.ts`.
 */
import fc from "fast-check";
import type { RegisterSpace, Width } from "../registers.ts";
import { type ErrorClass, expectTyped, fuzzAsync, FuzzFailure } from "../fuzz.ts";
import { type BarView, selectVirtioCaps, walkCapabilities } from "./pci_caps.ts";
import { PciCapId, PciConfig, PciStatus, VirtioPciCap } from "./pci_layout.ts";

/** The walker and the selection throw nothing. */
const ACCEPTED: readonly ErrorClass[] = [];

/** Reads a case may answer strangely: wider than the width, negative, not an integer, or by failing. */
type Quirk = "exact" | "wide" | "negative" | "fraction" | "throw" | "throw-string";

/** A configuration space over bytes, with per-offset quirks; counts reads. */
class HostileConfig implements RegisterSpace {
  reads = 0;
  constructor(readonly bytes: Uint8Array, readonly quirks: Map<number, Quirk>, readonly budget: number) {}
  read(offset: number, width: Width): Promise<number> {
    if (++this.reads > this.budget) {
      return Promise.reject(new FuzzFailure(`more than ${this.budget} configuration reads: an unbounded walk`));
    }
    let v = 0;
    for (let i = width - 1; i >= 0; i--) v = v * 256 + (this.bytes[offset + i] ?? 0xff);
    switch (this.quirks.get(offset) ?? "exact") {
      case "exact":
        return Promise.resolve(v);
      case "wide":
        return Promise.resolve(v + 0x1_0000_0000 * 3);
      case "negative":
        return Promise.resolve(-1 - v);
      case "fraction":
        return Promise.resolve(v + 0.5);
      case "throw":
        return Promise.reject(new Error(`read of 0x${offset.toString(16)} failed`));
      case "throw-string":
        return Promise.reject(`read of ${offset} failed`);
    }
  }
  write(): Promise<void> {
    return Promise.reject(new FuzzFailure("the walk must not write configuration space"));
  }
}

const capPtr = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: 0x10, max: 0x3f }).map((k) => 4 * k) },
  { weight: 2, arbitrary: fc.constant(0) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xff }) },
);

/** One capability placed in configuration space. */
const cap = fc.record({
  at: fc.integer({ min: 0x10, max: 0x3f }).map((k) => 4 * k),
  next: capPtr,
  capId: fc.oneof(
    { weight: 6, arbitrary: fc.constant<number>(PciCapId.VENDOR) },
    { weight: 1, arbitrary: fc.constant<number>(PciCapId.MSIX) },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xff }) },
  ),
  capLen: fc.oneof(fc.constantFrom(16, 20, 24, 6, 8), fc.integer({ min: 0, max: 0xff })),
  cfgType: fc.oneof(fc.constantFrom(...Object.values(VirtioPciCap)), fc.integer({ min: 0, max: 0xff })),
  body: fc.uint8Array({ minLength: 20, maxLength: 20 }),
});

const barArb: fc.Arbitrary<BarView> = fc.record({
  index: fc.integer({ min: 0, max: 5 }),
  kind: fc.constantFrom("io", "mem32", "mem64", "none"),
  size: fc.oneof(fc.constantFrom(0, 0x1000, 0x4000), fc.integer({ min: 0, max: 0xffff_ffff })),
});

const space = fc.record({
  noise: fc.uint8Array({ minLength: 256, maxLength: 256 }),
  keepNoise: fc.boolean(),
  status: fc.oneof({ weight: 9, arbitrary: fc.constant(PciStatus.CAP_LIST) }, {
    weight: 1,
    arbitrary: fc.integer({ min: 0, max: 0xffff }),
  }),
  first: capPtr,
  caps: fc.array(cap, { maxLength: 12 }),
  quirks: fc.array(
    fc.tuple(
      fc.oneof(fc.constantFrom(PciConfig.Status, PciConfig.CapabilitiesPointer), fc.integer({ min: 0, max: 0xff })),
      fc.constantFrom<Quirk>("wide", "negative", "fraction", "throw", "throw-string"),
    ),
    { maxLength: 3 },
  ),
  maxCaps: fc.option(fc.integer({ min: 0, max: 64 }), { nil: undefined }),
  bars: fc.option(fc.array(barArb, { maxLength: 6 }), { nil: undefined }),
  ioAvailable: fc.option(fc.boolean(), { nil: undefined }),
});

Deno.test("PCI capability fuzz: any configuration space gives a walk with problems, never an exception", async () => {
  await fuzzAsync("pci capability walk", [space], async (c) => {
    const bytes = c.keepNoise ? c.noise.slice() : new Uint8Array(256);
    for (const k of c.caps) {
      const b = [k.capId, k.next, k.capLen, k.cfgType, ...k.body];
      bytes.set(b.slice(0, 256 - k.at), k.at);
    }
    bytes[PciConfig.Status] = c.status & 0xff;
    bytes[PciConfig.Status + 1] = c.status >> 8;
    bytes[PciConfig.CapabilitiesPointer] = c.first;
    // Status, pointer, then per capability at most id, next and 8 fields.
    const config = new HostileConfig(bytes, new Map(c.quirks), 2 + 10 * 64 + 8);
    const r = await expectTyped(ACCEPTED, async () => {
      const walk = await walkCapabilities(config, c.maxCaps === undefined ? {} : { maxCaps: c.maxCaps });
      const seen = new Set<number>();
      for (const x of walk.caps) {
        if (seen.has(x.at)) throw new FuzzFailure(`capability at 0x${x.at.toString(16)} visited twice`);
        seen.add(x.at);
        if (x.at < 0x40 || x.at > 0xfc || x.at % 4 !== 0) throw new FuzzFailure(`capability at ${x.at}`);
      }
      if (c.maxCaps !== undefined && walk.caps.length > c.maxCaps) {
        throw new FuzzFailure(`${walk.caps.length} capabilities walked, more than maxCaps ${c.maxCaps}`);
      }
      const opts = {
        ...(c.bars ? { bars: c.bars } : {}),
        ...(c.ioAvailable === undefined ? {} : { ioAvailable: c.ioAvailable }),
      };
      const sel = selectVirtioCaps(walk, opts);
      for (const s of sel.skipped) if (s.reason === "") throw new FuzzFailure("a capability skipped without a reason");
      return walk;
    });
    if (r.ok && r.value.problems.some((p) => p.trim() === "")) throw new FuzzFailure("an empty problem");
  }, 1000);
});
