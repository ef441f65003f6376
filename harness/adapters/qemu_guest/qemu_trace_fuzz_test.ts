/**
 * Fuzzes the trace reader ({@link TraceFilter}) with QEMU-like trace lines (accesses of any size, value and region,
 * configuration events, interrupts, markers) mixed with garbage, and the replay of a watched run
 * ({@link traceOfWatchedRun}) with hostile steps (any space, offset, width and value, memory snapshots of any
 * content). Nothing may throw; every kept step is well formed; the replay ends in bounded time with one event per
 * access. See `harness/fuzz.ts`.
 */
import fc from "fast-check";
import type { WatchedStep } from "../../adapter.ts";
import { expectTyped, expectTypedSync, fuzzAsync, FuzzFailure, fuzzSync } from "../../fuzz.ts";
import { traceOfWatchedRun } from "../../roles/watched_trace.ts";
import { TraceFilter } from "./qemu_trace.ts";

const hex = fc.bigInt({ min: 0n, max: (1n << 70n) - 1n }).map((v) => `0x${v.toString(16)}`);
const region = fc.constantFrom(
  "virtio-mmio",
  "virtio-pci-common-virtio-blk",
  "virtio-pci-notify-virtio-blk",
  "virtio-pci-device-virtio-blk",
  "virtio-pci-isr-virtio-blk",
  "pci-conf-data",
  "pcie-mmcfg-mmio",
  "pl011",
  "it's'broken",
);
const line = fc.oneof(
  fc.record({ k: fc.constantFrom("read", "write"), a: hex, v: hex, s: fc.constantFrom(1, 2, 3, 4, 8, 0), r: region })
    .map(({ k, a, v, s, r }) => `memory_region_ops_${k} cpu 0 mr 0x55 addr ${a} value ${v} size ${s} name '${r}'`),
  fc.record({ k: fc.constantFrom("read", "write"), o: hex, v: hex, d: fc.constantFrom("virtio-blk-pci", "x") })
    .map(({ k, o, v, d }) => `pci_cfg_${k} ${d} 00:05.0 @${o} ${k === "read" ? "->" : "<-"} ${v}`),
  fc.nat(3).map((l) => `virtio_mmio_setting_irq virtio_mmio setting IRQ ${l}`),
  fc.string({ maxLength: 80 }),
  fc.string({ unit: "binary", maxLength: 80 }),
);

const ACCESS_SPACES = ["mmio", "pci-config", "common", "notify", "isr", "device", "bar"] as const;

Deno.test("fuzz: the trace filter keeps only well-formed steps of the device, whatever the lines", () => {
  fuzzSync("trace filter", [fc.array(line, { maxLength: 40 }), fc.boolean()], (lines, pci) => {
    const f = new TraceFilter(
      pci
        ? {
          pci: { device: "virtio-blk-pci", address: "00:05.0", regions: "virtio-blk" },
          marker: { pciConfig: 0xfc },
          phases: [{ phase: "probe" }, { phase: "end" }],
        }
        : {
          mmio: { base: 0xa003e00, size: 0x200 },
          mmioSlots: { base: 0xa000000, size: 0x200, count: 32 },
          marker: { address: 0xa0000fc },
          phases: [{ phase: "probe" }, { phase: "end" }],
        },
      100,
    );
    expectTypedSync([], () => lines.forEach((l) => f.push(l)));
    if (f.steps.length > 100) throw new FuzzFailure(`the filter kept ${f.steps.length} steps over its limit of 100`);
    for (const s of f.steps) {
      if (s.kind !== "read" && s.kind !== "write") continue;
      const bad = !ACCESS_SPACES.includes(s.space) || ![1, 2, 4].includes(s.width) || s.offset < 0 ||
        !Number.isInteger(s.value) || s.value < 0 || s.value >= 2 ** (8 * s.width);
      if (bad) throw new FuzzFailure(`a malformed step was kept: ${JSON.stringify(s)}`);
    }
  });
});

const step: fc.Arbitrary<WatchedStep> = fc.oneof(
  fc.record({
    kind: fc.constantFrom("read" as const, "write" as const),
    space: fc.constantFrom(...ACCESS_SPACES),
    offset: fc.oneof(fc.constantFrom(0x14, 0x16, 0x18, 0x1c, 0x20, 0x44, 0x70, 0x80, 0x90, 0xa0), fc.nat(0x1000)),
    width: fc.constantFrom(1 as const, 2 as const, 4 as const),
    value: fc.nat(),
  }),
  fc.record({ kind: fc.constant("irq" as const), level: fc.boolean() }),
  fc.record({ kind: fc.constant("phase" as const), phase: fc.constantFrom("probe" as const, "workload" as const) }),
  fc.record({
    kind: fc.constant("memory" as const),
    address: fc.nat(0x10000),
    data: fc.uint8Array({ maxLength: 256 }).map((b) => btoa(String.fromCharCode(...b))),
  }),
);

Deno.test("fuzz: the replay of a watched run takes any steps and gives one event per access", async () => {
  await fuzzAsync(
    "watched replay",
    [fc.array(step, { maxLength: 60 }), fc.constantFrom("mmio" as const, "pci" as const, "mmio-legacy" as const)],
    async (steps, transport) => {
      const out = await expectTyped(
        [],
        () => traceOfWatchedRun({ steps, probe: { bound: true }, results: [], console: "" }, "blk", transport),
      );
      if (!out.ok) throw new FuzzFailure(`the replay failed: ${out.error.message}`);
      const accesses = steps.filter((s) => s.kind === "read" || s.kind === "write").length;
      const events = out.value.events.filter((e) => e.kind === "read" || e.kind === "write").length;
      if (events !== accesses) throw new FuzzFailure(`${accesses} accesses became ${events} events`);
    },
    200,
  );
});
