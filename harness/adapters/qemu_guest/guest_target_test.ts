/** The qemu-guest adapter against guests that misbehave: bounded errors, nothing left behind. */
import { assert, assertEquals, assertRejects, assertThrows } from "@std/assert";
import { TargetError } from "../../adapter.ts";
import { installed, runningQemu } from "../qemu/qemu_process.ts";
import { haltFirmware } from "../qemu/halt_firmware.ts";
import { GuestDriverTarget, type GuestWorkload, variedDevice } from "./guest_target.ts";

const have = await installed("qemu-system-aarch64");
const uboot = await Deno.stat("/usr/lib/u-boot/qemu_arm64/u-boot.bin").then(() => true, () => false);

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

Deno.test({
  name: "qemu-guest: two runs at once do not collide, and each gives the whole record",
  ignore: !have || !uboot,
  async fn() {
    const target = new GuestDriverTarget({ name: "twice", guest: "u-boot", transport: "mmio", deviceType: "blk" });
    const before = await guestDirs();
    const [a, b] = await Promise.all([target.watch({ transport: "mmio" }), target.watch({ transport: "mmio" })]);
    for (const run of [a, b]) {
      assert(run.probe.bound, `not bound: ${run.probe.error}`);
      assert(run.results.every((r) => r.ok), JSON.stringify(run.results));
      assert(run.steps.some((s) => s.kind === "phase" && s.phase === "end"), "no end marker in the record");
    }
    const accesses = (r: typeof a) => r.steps.filter((s) => s.kind === "read" || s.kind === "write").length;
    assert(accesses(a) === accesses(b), `the two records differ: ${accesses(a)} and ${accesses(b)} accesses`);
    assert(runningQemu() === 0, "a QEMU outlived the runs");
    assert((await guestDirs()).length <= before.length, "a guest's directory was left behind");
  },
});

Deno.test("qemu-guest: a firmware guest refuses, when built, the workloads it cannot run", () => {
  const make = (guest: "seabios" | "ovmf", workloads: GuestWorkload[]) => () =>
    new GuestDriverTarget({ name: "fw", guest, transport: "pci", deviceType: "blk", workloads });
  assertThrows(make("ovmf", [{ kind: "blk-write", sector: 1, sectors: 1, fill: 1 }]), TargetError, "reads blocks only");
  assertThrows(make("ovmf", [{ kind: "blk-read", sector: 1, sectors: 17 }]), TargetError, "at most 16 blocks");
  assertThrows(make("seabios", [{ kind: "blk-read", sector: 1, sectors: 65 }]), TargetError, "1 to 64 sectors");
  assertThrows(
    () => new GuestDriverTarget({ name: "fw", guest: "ovmf", transport: "mmio", deviceType: "blk" }),
    TargetError,
    "runs ovmf over pci",
  );
  const ok = new GuestDriverTarget({ name: "fw", guest: "ovmf", transport: "pci", deviceType: "blk" });
  assert(ok.args("/tmp/x/disk.raw").join(" ").includes("-bios /usr/share/ovmf/OVMF.fd -drive"));
  assert(ok.args("/tmp/x/disk.raw").join(" ").includes("-M q35"));
});

Deno.test("qemu-guest: a PCI device varied by its properties (QEMU keeps the last); MMIO refuses a variation", async () => {
  const pci = new GuestDriverTarget({ name: "v", guest: "linux", transport: "pci", deviceType: "rng" });
  assertEquals(pci.info.variations, ["transitional", "msix-vectors"]);
  const blk = new GuestDriverTarget({ name: "b", guest: "linux", transport: "pci", deviceType: "blk" });
  assertEquals(blk.info.variations, ["transitional", "msix-vectors", "read-only"]);
  const drive = (args: string[]) => args[args.indexOf("-drive") + 1];
  assertEquals(
    drive(blk.args("/tmp/x/disk.raw", undefined, { readOnly: true })),
    "if=none,id=drive0,file=/tmp/x/disk.raw,format=raw,readonly=on",
  );
  const device = (args: string[]) => args[args.indexOf("-device") + 1];
  assertEquals(device(pci.args("/tmp/x/disk.raw")), "virtio-rng-pci,disable-legacy=on,ioeventfd=off,addr=5.0");
  assertEquals(
    device(pci.args("/tmp/x/disk.raw", undefined, { transitional: true, msixVectors: 1 })),
    "virtio-rng-pci,disable-legacy=on,ioeventfd=off,addr=5.0,disable-legacy=off,vectors=1",
  );
  assertEquals(
    variedDevice("virtio-blk-pci,drive=drive0", { msixVectors: 0 }),
    "virtio-blk-pci,drive=drive0,vectors=0",
  );
  const mmio = new GuestDriverTarget({ name: "m", guest: "u-boot", transport: "mmio", deviceType: "net" });
  assertEquals(mmio.info.variations, []);
  // Refused before QEMU starts: nothing to install for this.
  await assertRejects(
    () => mmio.watch({ transport: "mmio", variation: { transitional: true } }),
    TargetError,
    "cannot vary its device this way: transitional",
  );
});

Deno.test("qemu-guest: a device QEMU removes sits below a root port in its slot, which carries the markers", () => {
  const t = new GuestDriverTarget({
    name: "r",
    guest: "linux",
    transport: "pci",
    deviceType: "console",
    removal: "device-del",
  });
  const args = t.args("/tmp/x/disk.raw");
  const devices = args.flatMap((a, i) => args[i - 1] === "-device" ? [a] : []);
  assertEquals(devices.slice(0, 2), [
    "pcie-root-port,id=rp0,bus=pcie.0,chassis=1,addr=05.0",
    "virtio-serial-pci,disable-legacy=on,ioeventfd=off,addr=5.0,id=dut,bus=rp0,addr=0.0",
  ]);
  const kept = new GuestDriverTarget({ name: "k", guest: "linux", transport: "pci", deviceType: "console" });
  assert(!kept.args("/tmp/x/disk.raw").join(" ").includes("pcie-root-port"));
});
