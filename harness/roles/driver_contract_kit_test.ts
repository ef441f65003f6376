import { assert, assertEquals } from "@std/assert";
import type { DriverTarget } from "../adapter.ts";
import { GuestDriverTarget } from "../adapters/qemu_guest/guest_target.ts";
import { referenceDriver } from "../cli/builtins.ts";
import { loadTarget } from "../cli/target_file.ts";
import { checkDriverTargetContract } from "./driver_contract_kit.ts";

async function reference(): Promise<DriverTarget> {
  const driver = await referenceDriver("reference-driver");
  if (!driver) throw new Error("this build has no reference driver");
  return driver;
}

Deno.test("driver contract kit: the in-process reference driver keeps every promise", async () => {
  assertEquals(await checkDriverTargetContract(await reference()), []);
});

Deno.test("driver contract kit: the Worker adapter keeps every promise (a driver module from a target file)", async () => {
  const { target } = await loadTarget("fixtures/targets/example_module_driver.jsonc");
  if (target.role !== "driver") throw new Error("example_module_driver.jsonc is not a driver target");
  assertEquals(await checkDriverTargetContract(target), []);
});

Deno.test("driver contract kit: a watched target (the qemu-guest adapter) refuses attach", async () => {
  const guest = new GuestDriverTarget({ name: "g", guest: "u-boot", transport: "mmio", deviceType: "blk" });
  assertEquals(await checkDriverTargetContract(guest), []);
});

Deno.test("driver contract kit: a driver whose declared workload fails, or whose probe hangs, gets a sentence", async () => {
  const inner = await reference();
  const failing: DriverTarget = {
    role: "driver",
    info: { ...inner.info, transports: ["mmio"], deviceTypes: ["rng"], workloads: ["rng-read"] },
    async attach(endpoint) {
      const s = await inner.attach(endpoint);
      return {
        probe: (d) => s.probe(d),
        workload: () => Promise.resolve({ ok: false, error: "no entropy today" }),
        remove: (d) => s.remove(d),
        close: () => s.close(),
      };
    },
  };
  assertEquals(await checkDriverTargetContract(failing), [
    "rng over mmio: declared workload rng-read failed: no entropy today",
  ]);
  const hung: DriverTarget = {
    role: "driver",
    info: failing.info,
    async attach(endpoint) {
      const s = await inner.attach(endpoint);
      return {
        probe: () => new Promise(() => {}),
        workload: (w, d) => s.workload(w, d),
        remove: (d) => s.remove(d),
        close: () => s.close(),
      };
    },
  };
  const problems = await checkDriverTargetContract(hung, 50);
  assertEquals(problems.length, 1, problems.join("\n"));
  assert(problems[0]!.startsWith("rng over mmio: DeadlineExceeded"), problems[0]);
});
