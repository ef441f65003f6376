import { assert, assertEquals, assertRejects, assertStringIncludes } from "@std/assert";
import { CLAUSES } from "../../../suites/mod.ts";
import { clauseId } from "../../core/clause.ts";
import { TargetError } from "../../adapter.ts";
import { readU32, writeU32 } from "../../memory.ts";
import { referenceDeviceFactory } from "../../models/device/reference.ts";
import type { ClauseResult } from "../../core/result.ts";
import { runTarget } from "../../core/runner.ts";
import { resolveTarget } from "../../cli/target_file.ts";
import { InProcessDeviceTarget } from "../in_process.ts";
import { WorkerDeviceTarget } from "./worker_device.ts";

const fixture = (name: string) => new URL(`../../../fixtures/targets/worker/${name}`, import.meta.url).href;
const SHORT = { callMs: 300, loadMs: 20_000 };

Deno.test("worker device: a busy loop in a register read ends in a TargetError, then a restart brings a fresh worker", async () => {
  const target = new WorkerDeviceTarget(
    "busy",
    "rng",
    { url: fixture("busy_device.ts"), export: "default" },
    ["mmio"],
    SHORT,
  );
  const s = await target.open();
  try {
    assertEquals(await s.registers.read(0x000, 4), 0x74726976);
    const started = performance.now();
    const e = await assertRejects(() => s.registers.read(0x100, 4), TargetError);
    assert(performance.now() - started < 3000, "bounded");
    assertStringIncludes(e.message, "a 4-byte read at 0x100 of the register file was pending");
    assertStringIncludes(e.message, "did not answer");
    await assertRejects(() => s.registers.read(0x000, 4), TargetError, "is gone");
    await s.restart();
    assertEquals(await s.registers.read(0x000, 4), 0x74726976);
  } finally {
    await s.close();
  }
});

Deno.test("worker device: Deno.exit(0) in the target is a TargetError, the harness lives", async () => {
  const target = new WorkerDeviceTarget(
    "exit",
    "rng",
    { url: fixture("exit_device.ts"), export: "default" },
    ["mmio"],
    SHORT,
  );
  const s = await target.open();
  try {
    const e = await assertRejects(() => s.registers.write(0x070, 4, 0), TargetError);
    assertStringIncludes(e.message, "it called Deno.exit(0)");
    assertStringIncludes(e.message, "write of 0x0 at 0x070");
    await assertRejects(() => s.settle(10), TargetError, "Deno.exit(0)");
  } finally {
    await s.close();
  }
});

Deno.test("worker device: a module that throws at import is a clear usage error", async () => {
  const e = await assertRejects(() =>
    resolveTarget({
      adapter: "in-process",
      role: "device",
      source: { kind: "module", module: fixture("throw_at_import.ts"), export: "default", deviceType: "rng", info: "" },
      arg: "throws",
    })
  );
  assertStringIncludes(e.message, "target throws: cannot import module");
  assertStringIncludes(e.message, "this module refuses to load");
});

Deno.test("worker device: guest memory is shared, interrupts, trace and config change come through", async () => {
  const target = new WorkerDeviceTarget("blk", "blk", { url: fixture("reference_device.ts"), export: "blk" }, [
    "mmio",
    "pci",
  ]);
  const s = await target.open("pci");
  try {
    const pci = s.pci;
    if (!pci) throw new Error("The session has no PCI access");
    assertEquals(await pci.config.read(0x00, 2), 0x1af4);
    assert(s.capabilities.configChange);
    await writeU32(s.memory, s.memory.base + 16, 0xdeadbeef);
    assertEquals(await readU32(s.memory, s.memory.base + 16), 0xdeadbeef);
    assertEquals(await s.interruptLevel(), false);
    await s.triggerConfigChange!();
    assertEquals(s.takeMemoryTrace!(), []);
  } finally {
    await s.close();
  }
});

function verdicts(rs: ClauseResult[]): string[] {
  return rs.map((r) => `${r.clause} ${r.transport} ${r.verdict}`);
}

for (const filter of ["2.4", "4.2.2", "2.7"]) {
  Deno.test(`worker device: the reference device through a worker gets the in-process verdicts (${filter})`, async () => {
    const opts = { seed: 7, runs: 3, strict: false, filter, targetArg: "--target x", shrink: false };
    for (const type of ["rng", "blk"] as const) {
      const inProcess = await runTarget(
        new InProcessDeviceTarget(`ref-${type}`, type, referenceDeviceFactory(type), ["mmio", "pci"]),
        CLAUSES,
        opts,
      );
      const worker = await runTarget(
        new WorkerDeviceTarget(`ref-${type}`, type, {
          url: fixture("reference_device.ts"),
          export: type === "rng" ? "default" : "blk",
        }, ["mmio", "pci"]),
        CLAUSES,
        opts,
      );
      assert(inProcess.length > 0);
      assertEquals(verdicts(worker), verdicts(inProcess), JSON.stringify(worker.filter((r) => r.verdict === "error")));
    }
  });
}

Deno.test("worker device: a device with no idle hook gets the whole settle time to act on its own timer", async () => {
  // 2.1.2#2 lets the device run 50 ms after notifying a looping chain; this device serves it 30 ms after the write.
  const target = new WorkerDeviceTarget("timer", "rng", { url: fixture("timer_device.ts"), export: "default" });
  const clause = CLAUSES.filter((c) => clauseId(c) === "2.1.2#2");
  assertEquals(clause.length, 1);
  const [r] = await runTarget(target, clause, { seed: 0x5eed, runs: 5, strict: true, targetArg: "timer" });
  assertEquals(r?.verdict, "pass", r?.message);
});
