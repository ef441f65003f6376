/**
 * `deno task bench` (QEMU part): costs of the qemu adapter, each group with a
 * baseline so the ratios come out of one run:
 *
 * - qtest commands: 1,000 `readl` of a virtio-mmio register pipelined (sent
 *   without awaiting each other: one socket write, answers matched in order)
 *   vs the baseline, a bare ping-pong (await each answer) on the same socket;
 * - guest memory: 16 KiB written with batched `b64write` vs the baseline,
 *   one `writel` per 32-bit word (pipelined, the best a per-word writer can do);
 * - a whole run: the default strict qemu-blk-pci run (the gate's settings, which
 *   are `deno task conform`'s defaults) vs the baseline, one QEMU start of the halt firmware (spawn,
 *   connect, locate the device) and its shutdown.
 *
 * Skipped when qemu-system-aarch64 is missing.
 *
 * @module
 */
import { installed, QemuProcess } from "../harness/adapters/qemu/qemu_process.ts";
import { VIRT_MMIO_BASE, VIRT_MMIO_SLOTS, VIRT_MMIO_STRIDE } from "../harness/adapters/qemu/qemu_target.ts";
import { GATE_CLAUSE_TIMEOUT_MS, GATE_RUNS, GATE_SEED, GATE_SHRINK } from "../harness/core/expectations.ts";
import { runTarget } from "../harness/core/runner.ts";
import { loadTarget } from "../harness/cli/target_file.ts";
import { CLAUSES } from "../suites/mod.ts";

const ARM = "qemu-system-aarch64";

const have = await installed(ARM);
if (!have) console.warn(`qemu bench: skipped, ${ARM} is not installed`);

const ARGS = ["-M", "virt", "-cpu", "cortex-a57", "-m", "128M", "-global", "virtio-mmio.force-legacy=false"];
const RNG = [...ARGS, "-device", "virtio-rng-device"];
/** The rng device's window: the first -device lands in the highest slot. */
const WINDOW = VIRT_MMIO_BASE + (VIRT_MMIO_SLOTS - 1) * VIRT_MMIO_STRIDE;
const COMMANDS = 1000;
const BULK = 16 * 1024;
const RAM = 0x4000_0000 + 0x10_0000;

let shared: QemuProcess | undefined;
async function qemu(): Promise<QemuProcess> {
  shared ??= await QemuProcess.start({ binary: ARM, args: RNG, firmware: "aarch64" });
  return shared;
}

const opts = (more: { name: string; group: string; baseline?: boolean }) => ({ ignore: !have, ...more });

Deno.bench({
  ...opts({ name: `qtest ping-pong: ${COMMANDS} readl, each awaited`, group: "qtest commands", baseline: true }),
  async fn() {
    const q = (await qemu()).qtest;
    for (let i = 0; i < COMMANDS; i++) await q.readl(WINDOW + 8);
  },
});

Deno.bench({
  ...opts({ name: `qtest pipelined: ${COMMANDS} readl in one batch`, group: "qtest commands" }),
  async fn() {
    const q = (await qemu()).qtest;
    await Promise.all(Array.from({ length: COMMANDS }, () => q.readl(WINDOW + 8)));
  },
});

const data = Uint8Array.from({ length: BULK }, (_, i) => (i * 37) & 0xff);
const view = new DataView(data.buffer);

Deno.bench({
  ...opts({
    name: `memory: ${BULK / 1024} KiB as ${BULK / 4} writel (pipelined)`,
    group: "guest memory",
    baseline: true,
  }),
  async fn() {
    const q = (await qemu()).qtest;
    await Promise.all(Array.from({ length: BULK / 4 }, (_, i) => q.writel(RAM + 4 * i, view.getUint32(4 * i, true))));
  },
});

Deno.bench({
  ...opts({ name: `memory: ${BULK / 1024} KiB as batched b64write`, group: "guest memory" }),
  async fn() {
    const q = (await qemu()).qtest;
    await q.b64write(RAM, data);
  },
});

Deno.bench({
  ...opts({ name: "one QEMU boot of the halt firmware (start, connect, close)", group: "whole run", baseline: true }),
  n: 5,
  warmup: 1,
  async fn() {
    const p = await QemuProcess.start({ binary: ARM, args: RNG, firmware: "aarch64" });
    await p.qtest.readl(WINDOW);
    await p.close();
  },
});

Deno.bench({
  ...opts({
    name: `default strict qemu-blk-pci run (seed ${GATE_SEED}, ${GATE_RUNS} runs, shrinking)`,
    group: "whole run",
  }),
  n: 1,
  warmup: 0,
  async fn() {
    const loaded = await loadTarget("fixtures/targets/qemu-blk-pci.jsonc");
    await runTarget(loaded.target, CLAUSES, {
      seed: GATE_SEED,
      runs: GATE_RUNS,
      strict: true,
      shrink: GATE_SHRINK,
      targetArg: loaded.targetArg,
      clauseTimeoutMs: GATE_CLAUSE_TIMEOUT_MS,
    });
    // Close the shared QEMU of the other groups with the last bench.
    await shared?.close();
    shared = undefined;
  },
});
