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
import { parseFlags } from "./flags.ts";
import { GuestDriverTarget } from "../adapters/qemu_guest/guest_target.ts";
import type { RecordedRun } from "../adapters/qemu_guest/recorded_target.ts";
import { queueAreas } from "../roles/watched_trace.ts";
import { errorText } from "../text.ts";

const USAGE = "usage: deno task record <qemu-guest target file> <output .json>";
let targetFile: string | undefined, out: string | undefined;
try {
  const f = parseFlags(Deno.args, { values: [], booleans: [], positional: true });
  if (f.booleans.has("help")) {
    console.log(USAGE);
    Deno.exit(0);
  }
  [targetFile, out] = f.positional;
  if (!targetFile || !out || f.positional.length > 2) throw new Error("name a target file and an output file");
} catch (e) {
  console.error(`record: error: ${errorText(e)}\n${USAGE}`);
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
