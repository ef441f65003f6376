/**
 * Records one run of a `qemu-guest` target as a fixture that the driver
 * clauses can judge without QEMU (`recorded_target.ts`):
 *
 * ```sh
 * deno task record fixtures/targets/uboot-blk-mmio.jsonc fixtures/watched/uboot-blk-mmio.json
 * ```
 *
 * @module
 */
import { loadTarget } from "./target_file.ts";
import { GuestDriverTarget } from "../adapters/qemu_guest/guest_target.ts";
import type { RecordedRun } from "../adapters/qemu_guest/recorded_target.ts";
import { queueAreas } from "../roles/watched_trace.ts";

const [targetFile, out] = Deno.args;
if (!targetFile || !out) {
  console.error("usage: record_main.ts <qemu-guest target file> <output .json>");
  Deno.exit(2);
}
const { target } = await loadTarget(targetFile);
if (!(target instanceof GuestDriverTarget)) {
  console.error(`${targetFile} is not a qemu-guest target`);
  Deno.exit(2);
}
const o = target.options;
const run = await target.watch({
  transport: o.transport,
  snapshotAreas: (steps) => queueAreas(steps, o.deviceType, o.transport),
});
const recorded: RecordedRun & { "//": string } = {
  "//": `${o.guest} driving QEMU's ${o.deviceType} device over ${o.transport}, recorded from ${targetFile} ` +
    `(workloads ${JSON.stringify(target.workloads)})`,
  transport: o.transport,
  deviceType: o.deviceType,
  run: { ...run, console: "" },
};
await Deno.writeTextFile(out, JSON.stringify(recorded, null, 2) + "\n");
console.log(`${out}: ${run.steps.length} steps, probe ${run.probe.bound ? "bound" : "not bound"}`);
