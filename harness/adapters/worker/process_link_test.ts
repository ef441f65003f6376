import { assert, assertEquals, assertRejects, assertStringIncludes } from "@std/assert";
import { CLAUSES } from "../../../suites/mod.ts";
import { type DeviceSession, TargetError } from "../../adapter.ts";
import { referenceDriverTarget } from "../../models/driver/driver.ts";
import { referenceDeviceFactory } from "../../models/device/reference.ts";
import type { ClauseResult } from "../../core/result.ts";
import { runTarget } from "../../core/runner.ts";
import { ScenarioRunner } from "../../roles/harness_device.ts";
import { InProcessDeviceTarget } from "../in_process.ts";
import { WorkerDeviceTarget } from "./worker_device.ts";
import { WorkerDriverTarget } from "./worker_driver.ts";
import { RemoteDeviceTarget } from "./remote_device.ts";
import { resolveTarget } from "../../cli/target_file.ts";
import { referenceDeviceTarget } from "../../models/device/reference.ts";
import type { Isolation } from "./worker_host.ts";

const fixture = (name: string) => new URL(`../../../fixtures/targets/${name}`, import.meta.url).href;
const ROOT = new URL("../../../", import.meta.url).pathname;
const PROCESS: Isolation = { kind: "process", read: [ROOT], heapMiB: 64 };
const SHORT = { callMs: 2_000, loadMs: 20_000 };

/** A session on the device of fixture `name` in a child process. */
function openChild(name: string, timeouts = SHORT): Promise<DeviceSession> {
  const url = fixture(`worker/${name}.ts`);
  return new WorkerDeviceTarget(name, "rng", { url, export: "default", isolation: PROCESS }, ["mmio"], timeouts).open();
}

function verdicts(rs: ClauseResult[]): string[] {
  return rs.map((r) => `${r.clause} ${r.transport} ${r.verdict}`);
}

for (const filter of ["2.4", "2.8.12", "2.8.15", "4.2.2"]) {
  Deno.test(`process device: the reference device in a child process gets the in-process verdicts (${filter})`, async () => {
    const opts = { seed: 7, runs: 3, strict: false, filter, targetArg: "--target x", shrink: false };
    for (const type of ["rng", "blk"] as const) {
      const inProcess = await runTarget(
        new InProcessDeviceTarget(`ref-${type}`, type, referenceDeviceFactory(type), ["mmio", "pci"]),
        CLAUSES,
        opts,
      );
      const child = await runTarget(
        new WorkerDeviceTarget(`ref-${type}`, type, {
          url: fixture("worker/reference_device.ts"),
          export: type === "rng" ? "default" : "blk",
          isolation: PROCESS,
        }, ["mmio", "pci"]),
        CLAUSES,
        opts,
      );
      assert(inProcess.length > 0);
      assertEquals(verdicts(child), verdicts(inProcess), JSON.stringify(child.filter((r) => r.verdict !== "pass")));
    }
  });
}

Deno.test("process device: a net device's wire crosses to the child (factory and whole target), same verdicts", async () => {
  const opts = { seed: 7, runs: 3, strict: false, filter: "5.1", targetArg: "--target x", shrink: false };
  const inProcess = await runTarget(referenceDeviceTarget("net"), CLAUSES, { ...opts });
  const wired = inProcess.filter((r) => r.verdict === "pass" && r.section.startsWith("5.1.9"));
  assert(wired.length > 10, "the in-process run judges the receive and transmit clauses");
  const factory = new WorkerDeviceTarget("reference-net-device", "net", {
    url: fixture("worker/reference_device.ts"),
    export: "net",
    isolation: PROCESS,
  }, referenceDeviceTarget("net").info.transports ?? []);
  const whole = new RemoteDeviceTarget(
    {
      name: "reference-net-device",
      transport: "mmio",
      transports: referenceDeviceTarget("net").info.transports ?? [],
      deviceType: "net",
    },
    { url: WHOLE, export: "netDevice", isolation: PROCESS },
  );
  for (const target of [factory, whole]) {
    const child = await runTarget(target, CLAUSES, opts);
    assertEquals(verdicts(child), verdicts(inProcess), JSON.stringify(child.filter((r) => r.verdict !== "pass")));
  }
});

Deno.test("process device: standard output of the module does not break the frames", async () => {
  const s = await openChild("hog_device");
  try {
    for (let i = 0; i < 3; i++) assertEquals(await s.registers.read(0x000, 4), 0x74726976);
  } finally {
    await s.close();
  }
});

Deno.test("process device: an exhausted heap is a TargetError naming the limit, and a restart brings a fresh process", async () => {
  const s = await openChild("hog_device", { callMs: 20_000, loadMs: 20_000 });
  try {
    const e = await assertRejects(() => s.registers.read(0x100, 4), TargetError);
    assertStringIncludes(e.message, "a 4-byte read at 0x100 of the register file was pending");
    assertStringIncludes(e.message, "it ran out of memory (its heap limit is 64 MiB)");
    await assertRejects(() => s.registers.read(0x000, 4), TargetError, "is gone");
    await s.restart();
    assertEquals(await s.registers.read(0x000, 4), 0x74726976);
  } finally {
    await s.close();
  }
});

Deno.test("process device: an uncaught error ends the process, the message carries the module's last words", async () => {
  const s = await openChild("hog_device");
  try {
    await s.registers.read(0x104, 4);
    let e: Error | undefined;
    for (let i = 0; i < 100 && !e; i++) {
      await new Promise((r) => setTimeout(r, 20));
      e = await s.registers.read(0x000, 4).then(() => undefined, (x: Error) => x);
    }
    assert(e instanceof TargetError, String(e));
    const message = (e as TargetError).message;
    assertStringIncludes(message, "hog device: thrown from a timer");
    assertStringIncludes(message, "exited with status 1");
  } finally {
    await s.close();
  }
});

Deno.test("process device: the module reads only what it was allowed to", async () => {
  const s = await openChild("hog_device");
  try {
    const e = await assertRejects(() => s.registers.read(0x108, 4));
    assertStringIncludes(e.message, "/etc/hostname");
    assertEquals(await s.registers.read(0x000, 4), 0x74726976, "a refused read is an error of that access only");
  } finally {
    await s.close();
  }
});

Deno.test("process device: a busy loop is killed at the request's deadline", async () => {
  const s = await openChild("busy_device", { callMs: 500, loadMs: 20_000 });
  try {
    const started = performance.now();
    const e = await assertRejects(() => s.registers.read(0x100, 4), TargetError);
    assert(performance.now() - started < 5_000, "bounded");
    assertStringIncludes(e.message, "did not answer");
    await s.restart();
    assertEquals(await s.registers.read(0x000, 4), 0x74726976);
  } finally {
    await s.close();
  }
});

const REF = referenceDriverTarget("example-driver").info;
const INFO = { name: REF.name, transports: REF.transports, deviceTypes: REF.deviceTypes, workloads: REF.workloads };

Deno.test("process driver: the reference driver in a child process gets the in-process verdicts (3.1.1)", async () => {
  const target = new WorkerDriverTarget(INFO, {
    url: fixture("example_driver.ts"),
    export: "default",
    isolation: PROCESS,
  });
  try {
    for (const present of ["rng", "blk"] as const) {
      const opts = { seed: 11, runs: 3, strict: false, filter: "3.1.1", targetArg: "x", shrink: false, present };
      const inProcess = await runTarget(referenceDriverTarget("example-driver"), CLAUSES, opts);
      const child = await runTarget(target, CLAUSES, opts);
      assert(inProcess.length > 0);
      assertEquals(verdicts(child), verdicts(inProcess), JSON.stringify(child.filter((r) => r.verdict === "error")));
    }
  } finally {
    await target.close();
  }
});

Deno.test("process driver: a driver that exits is a TargetError, the next attach starts a fresh process", async () => {
  const target = new WorkerDriverTarget(INFO, {
    url: fixture("worker/exit_driver.ts"),
    export: "default",
    isolation: PROCESS,
  }, SHORT);
  try {
    const runner = new ScenarioRunner(target, "rng", 1000, "mmio");
    const e = await assertRejects(() => runner.run({}), TargetError);
    assertStringIncludes(e.message, "Deno.exit(3)");
    const again = await assertRejects(() => runner.run({}), TargetError);
    assertStringIncludes(again.message, "Deno.exit(3)");
  } finally {
    await target.close();
  }
});

const WHOLE = fixture("worker/whole_targets.ts");

Deno.test("process device: a whole DeviceTarget export runs in the child and gets the in-process verdicts", async () => {
  const target = new RemoteDeviceTarget(
    {
      name: "whole",
      transport: "mmio",
      transports: referenceDeviceTarget("blk").info.transports ?? [],
      deviceType: "blk",
    },
    { url: WHOLE, export: "device", isolation: PROCESS },
  );
  for (const filter of ["2.4", "2.8.12", "4.1.4.3"]) {
    const opts = { seed: 7, runs: 3, strict: false, filter, targetArg: "x", shrink: false };
    const inProcess = await runTarget(referenceDeviceTarget("blk"), CLAUSES, opts);
    const child = await runTarget(target, CLAUSES, opts);
    assert(inProcess.some((r) => r.verdict === "pass"));
    assertEquals(verdicts(child), verdicts(inProcess), JSON.stringify(child.filter((r) => r.verdict !== "pass")));
  }
});

Deno.test("process device: a whole target that exhausts its heap is a TargetError; the next open gets a fresh process", async () => {
  const target = new RemoteDeviceTarget({ name: "hog", transport: "mmio" }, {
    url: WHOLE,
    export: "hog",
    isolation: PROCESS,
  }, { callMs: 20_000, loadMs: 20_000 });
  try {
    const s = await target.open();
    const e = await assertRejects(() => s.registers.read(0x100, 4), TargetError);
    assertStringIncludes(e.message, "it ran out of memory (its heap limit is 64 MiB)");
    const again = await target.open();
    assertEquals(await again.registers.read(0x000, 4), 0x74726976);
    await again.close();
  } finally {
    await target.close();
  }
});

Deno.test("process driver: a whole DriverTarget export runs in the child and gets the in-process verdicts", async () => {
  const target = new WorkerDriverTarget(INFO, { url: WHOLE, export: "driver", isolation: PROCESS });
  try {
    const opts = {
      seed: 11,
      runs: 3,
      strict: false,
      filter: "3.1.1",
      targetArg: "x",
      shrink: false,
      present: "blk" as const,
    };
    const inProcess = await runTarget(referenceDriverTarget("example-driver"), CLAUSES, opts);
    const child = await runTarget(target, CLAUSES, opts);
    assertEquals(verdicts(child), verdicts(inProcess), JSON.stringify(child.filter((r) => r.verdict === "error")));
  } finally {
    await target.close();
  }
});

Deno.test("process: the loader runs a whole target export in a child process, both roles", async () => {
  for (const role of ["device", "driver"] as const) {
    const { target } = await resolveTarget({
      adapter: "in-process",
      role,
      source: {
        kind: "module",
        module: WHOLE,
        export: role,
        info: "info",
        ...(role === "device" ? { deviceType: "blk" as const } : {}),
      },
      arg: `whole-${role}`,
    });
    assert(role === "device" ? target instanceof RemoteDeviceTarget : target instanceof WorkerDriverTarget);
    const rs = await runTarget(target, CLAUSES, {
      seed: 1,
      runs: 2,
      strict: false,
      filter: role === "device" ? "2.4" : "3.1.1",
      targetArg: "x",
    });
    assert(
      rs.length > 0 && rs.every((r: ClauseResult) => r.verdict === "pass" || r.verdict === "n/a"),
      JSON.stringify(rs),
    );
  }
});
