import { assert, assertEquals } from "@std/assert";
import { programAvailable } from "./qemu/qemu_process.ts";
import { type DeviceTarget, TargetError } from "../adapter.ts";
import { referenceDeviceTarget } from "../models/device/reference.ts";
import { loadTarget } from "../cli/target_file.ts";
import { checkDeviceTargetContract, sessionWith } from "./contract_kit.ts";

Deno.test("contract kit: the in-process adapter keeps every promise (reference rng and blk devices)", async () => {
  for (const type of ["rng", "blk"] as const) {
    assertEquals(await checkDeviceTargetContract(referenceDeviceTarget(type)), [], type);
  }
});

Deno.test("contract kit: the Worker adapter keeps every promise (a device module from a target file)", async () => {
  const { target } = await loadTarget("fixtures/targets/example_module_device.jsonc");
  if (target.role !== "device") throw new Error("example_module_device.jsonc is not a device target");
  assertEquals(await checkDeviceTargetContract(target), []);
});

Deno.test({
  name: "contract kit: the qemu adapter keeps every promise (QEMU's rng over MMIO and PCI)",
  ignore: !(await programAvailable("qemu-system-aarch64")) || !(await programAvailable("qemu-system-x86_64")),
  async fn() {
    for (const file of ["fixtures/targets/qemu-rng-mmio.jsonc", "fixtures/targets/qemu-rng-pci.jsonc"]) {
      const { target } = await loadTarget(file);
      if (target.role !== "device") throw new Error(`${file} is not a device target`);
      assertEquals(await checkDeviceTargetContract(target), [], file);
    }
  },
});

/** A target on MMIO only whose sessions break promises: restart() does nothing, close() throws the second time. */
function careless(inner: DeviceTarget): DeviceTarget {
  return {
    role: "device",
    info: { ...inner.info, transport: "mmio", transports: ["mmio"] },
    async open(t) {
      if (t !== "mmio") throw new TargetError(`careless opens mmio only, not ${t}`);
      const s = await inner.open(t);
      let closed = false;
      return sessionWith(s, {
        restart: () => Promise.resolve(),
        close: async () => {
          if (closed) throw new Error("already closed");
          closed = true;
          await s.close();
        },
      });
    },
  };
}

Deno.test("contract kit: a target that breaks promises gets one sentence per broken promise", async () => {
  const problems = await checkDeviceTargetContract(careless(referenceDeviceTarget("rng")));
  assertEquals(problems.length, 2, problems.join("\n"));
  assert(problems[0]!.startsWith("after restart() on mmio the device status reads 0x1, not 0"), problems[0]);
  assert(problems[1]!.startsWith("close() call 2 on mmio failed: Error: already closed"), problems[1]);
});

Deno.test("contract kit: a hung open is a problem within the step's deadline, not a hung test", async () => {
  const inner = referenceDeviceTarget("rng");
  const hung: DeviceTarget = {
    role: "device",
    info: { ...inner.info, transport: "mmio", transports: ["mmio"] },
    open: () => new Promise(() => {}),
  };
  const problems = await checkDeviceTargetContract(hung, 50);
  assertEquals(problems.length, 2, problems.join("\n"));
  assert(problems[0]!.startsWith(`open("mmio") failed although info.transports lists it`), problems[0]);
  assert(problems[1]!.includes("neither refused nor answered in time"), problems[1]);
});
