/**
 * Records one run of a `qemu-guest` target as a fixture that the driver
 * clauses can judge without QEMU (`recorded_target.ts`):
 *
 * ```sh
 * deno run --allow-read=.,/usr/lib/u-boot --allow-write=reports,fixtures/watched --allow-run=qemu-system-aarch64,qemu-system-x86_64,setpriv \
 *   harness/adapters/qemu_guest/record_main.ts fixtures/targets/uboot-blk-mmio.jsonc fixtures/watched/uboot-blk-mmio.json
 * ```
 *
 * @module
 */
import { loadTarget } from "../../target_file.ts";
import { GuestDriverTarget } from "./guest_target.ts";
import type { RecordedRun } from "./recorded_target.ts";

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
const run = await target.watch({ transport: o.transport });
const recorded: RecordedRun & { "//": string } = {
  "//": `${o.guest} driving QEMU's ${o.deviceType} device over ${o.transport}, recorded from ${targetFile} ` +
    `(workloads ${JSON.stringify(target.workloads)})`,
  transport: o.transport,
  deviceType: o.deviceType,
  run: { ...run, console: "" },
};
await Deno.writeTextFile(out, JSON.stringify(recorded, null, 2) + "\n");
console.log(`${out}: ${run.steps.length} steps, probe ${run.probe.bound ? "bound" : "not bound"}`);
