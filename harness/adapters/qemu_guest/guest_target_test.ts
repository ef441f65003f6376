/** The qemu-guest adapter against guests that misbehave: bounded errors, nothing left behind. */
import { assert, assertRejects } from "@std/assert";
import { TargetError } from "../../adapter.ts";
import { installed, runningQemu } from "../qemu/qemu_process.ts";
import { haltFirmware } from "../qemu/halt_firmware.ts";
import { GuestDriverTarget } from "./guest_target.ts";

const have = await installed("qemu-system-aarch64");

async function guestDirs(): Promise<string[]> {
  const out: string[] = [];
  try {
    for await (const e of Deno.readDir("reports/tmp")) if (e.name.startsWith("guest-")) out.push(e.name);
  } catch {
    // no directory yet
  }
  return out;
}

Deno.test({
  name: "qemu-guest: a guest that never reaches its prompt is an error with the console tail, within the deadline",
  ignore: !have,
  async fn() {
    const dir = await Deno.makeTempDir({ dir: "reports", prefix: "fw-" });
    try {
      const firmware = `${dir}/halt.bin`;
      await Deno.writeFile(firmware, haltFirmware("aarch64"));
      const before = await guestDirs();
      const target = new GuestDriverTarget({
        name: "hangs",
        guest: "u-boot",
        transport: "mmio",
        deviceType: "blk",
        firmware,
        bootTimeoutMs: 1500,
      });
      const t0 = performance.now();
      const e = await assertRejects(() => target.watch({ transport: "mmio" }), TargetError);
      const ms = performance.now() - t0;
      assert(e.message.includes("did not show U-Boot's autoboot countdown within 1500 ms"), e.message);
      assert(e.message.includes("console ends"), e.message);
      assert(ms < 10_000, `took ${ms} ms`);
      assert(runningQemu() === 0, "a QEMU outlived the run");
      assert((await guestDirs()).length <= before.length, "the guest's directory was left behind");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "qemu-guest: a watch aborted by its signal stops the guest at once",
  ignore: !have,
  async fn() {
    const target = new GuestDriverTarget({ name: "aborted", guest: "u-boot", transport: "mmio", deviceType: "blk" });
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error("stop now")), 200);
    await assertRejects(() => target.watch({ transport: "mmio", signal: ac.signal }), Error, "stop now");
    assert(runningQemu() === 0, "a QEMU outlived the run");
  },
});
