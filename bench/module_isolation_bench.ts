/**
 * `deno task bench`: what isolating a user's module costs per call. The
 * baseline is 1000 MMIO register reads on the reference rng device in the
 * harness process; the same reads on the same device run as a user module
 * in a Deno Worker and in a child `deno` process read as ratios against it
 * (opening and closing the session is not counted).
 *
 * @module
 */
import type { DeviceSession, DeviceTarget } from "../harness/adapter.ts";
import { referenceDeviceTarget } from "../harness/models/device/reference.ts";
import { Mmio } from "../harness/transport/mmio_layout.ts";
import { WorkerDeviceTarget } from "../harness/adapters/worker/worker_device.ts";

const READS = 1000;
const MODULE = new URL("../fixtures/targets/worker/reference_device.ts", import.meta.url).href;
const ROOT = new URL("../", import.meta.url).pathname;

async function reads(session: DeviceSession): Promise<void> {
  for (let i = 0; i < READS; i++) await session.registers.read(Mmio.MagicValue, 4);
}

const targets: [string, () => DeviceTarget][] = [
  ["the harness process", () => referenceDeviceTarget("rng")],
  ...([["a Worker", { kind: "worker" }], ["a child process", { kind: "process", read: [ROOT] }]] as const).map((
    [where, isolation],
  ): [string, () => DeviceTarget] => [
    where,
    () => new WorkerDeviceTarget("bench", "rng", { url: MODULE, export: "default", isolation }),
  ]),
];

targets.forEach(([where, make], i) => {
  Deno.bench({
    name: `${i === 0 ? "baseline: " : ""}${READS} register reads, device ${i === 0 ? "" : "module "}in ${where}`,
    group: "isolation",
    baseline: i === 0,
    n: 10,
    warmup: 1,
    async fn(b) {
      const target = make();
      const session = await target.open();
      b.start();
      await reads(session);
      b.end();
      await session.close();
      await target.close?.();
    },
  });
});
