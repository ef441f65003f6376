import { assert, assertEquals, assertMatch, assertStringIncludes } from "@std/assert";
import fc from "fast-check";
import { DeviceCrashed, type DeviceTarget, type DriverSession, TargetError } from "../adapter.ts";
import { InProcessDeviceTarget, InProcessDriverTarget } from "../adapters/in_process.ts";
import { defineDeviceClause, defineDriverClause, type DeviceClause } from "./clause.ts";
import { sleep } from "../deadline.ts";
import { referenceDeviceFactory } from "../models/device/reference.ts";
import { referenceDriverTarget } from "../models/driver/driver.ts";
import { checkProperty, MAX_SHRINK_TRIES } from "./property.ts";
import type { RegisterSpace } from "../registers.ts";
import { runTarget } from "./runner.ts";
import { sessionWith } from "../adapters/contract_kit.ts";
import { Mmio } from "../transport/mmio_layout.ts";
import { Violation } from "../verify.ts";

const RESET = "devicenormative:Basic Facilities of a Virtio Device / Device Reset";
const STATUS = "drivernormative:Basic Facilities of a Virtio Device / Device Status Field";
const opts = { seed: 1, runs: 5, strict: false, targetArg: "--target test", transport: "mmio" as const };

function clause(statement: number, run: DeviceClause["run"]): DeviceClause {
  return defineDeviceClause({ label: RESET, statement, level: "MUST", title: "t", requirement: "r", action: "a", run });
}

/** A reference rng device whose register file is wrapped by `wrap`. */
function wrappedTarget(wrap: (inner: RegisterSpace) => RegisterSpace): InProcessDeviceTarget {
  const ref = referenceDeviceFactory("rng");
  return new InProcessDeviceTarget("wrapped", "rng", (mem, t) => {
    const d = ref(mem, t);
    return { ...d, registers: wrap(d.registers), onInterrupt: (l) => d.onInterrupt(l) };
  });
}

Deno.test("runner isolation: an overrunning clause is revoked and cannot reach the next clause's target", async () => {
  const writes: { at: number; offset: number }[] = [];
  const target = wrappedTarget((inner) => ({
    read: (o, w) => inner.read(o, w),
    write: (o, w, v) => {
      writes.push({ at: performance.now(), offset: o });
      return inner.write(o, w, v);
    },
  }));
  let lateError = "";
  let secondStarted = 0;
  const results = await runTarget(target, [
    clause(1, async (ctx) => {
      // Keeps writing after its deadline, as a clause stuck in a slow loop would.
      try {
        for (;;) {
          await sleep(20);
          await ctx.session.registers.write(Mmio.QueueSel, 4, 0);
        }
      } catch (e) {
        lateError = e instanceof Error ? e.name : String(e);
        throw e;
      }
    }),
    clause(2, async () => {
      secondStarted = performance.now();
      await sleep(120);
    }),
  ], { ...opts, clauseTimeoutMs: 150 });
  assertEquals(results.map((r) => r.verdict), ["error", "pass"]);
  assertStringIncludes(results[0]!.message, "did not finish within 150 ms");
  assertEquals(lateError, "FenceRevoked");
  const late = writes.filter((w) => w.offset === Mmio.QueueSel && w.at >= secondStarted);
  assertEquals(late.length, 0, "no write of the first clause reached the target while the second ran");
});

Deno.test("runner isolation: a register read that never resolves ends in error naming the read, and the run goes on", async () => {
  let hang = false;
  const target = wrappedTarget((inner) => ({
    read: (o, w) => hang && o === Mmio.Status ? new Promise<number>(() => {}) : inner.read(o, w),
    write: (o, w, v) => inner.write(o, w, v),
  }));
  const results = await runTarget(target, [
    clause(1, async (ctx) => {
      hang = true;
      await ctx.transport.getStatus();
    }),
    clause(2, async (ctx) => {
      hang = false;
      assertEquals((await ctx.transport.identify()).valid, true);
    }),
  ], { ...opts, clauseTimeoutMs: 200, targetTimeoutMs: 500 });
  assertEquals(results.map((r) => r.verdict), ["error", "pass"]);
  assertStringIncludes(results[0]!.message, "waiting for a 4-byte read of MMIO register 0x070");
});

Deno.test("runner isolation: register values that do not fit the access width are target errors, not verdicts", async () => {
  for (const bad of [-1, Number.NaN, 2 ** 40, 1.5]) {
    const target = wrappedTarget((inner) => ({
      read: (o, w) => o === Mmio.DeviceFeatures ? Promise.resolve(bad) : inner.read(o, w),
      write: (o, w, v) => inner.write(o, w, v),
    }));
    const results = await runTarget(target, [clause(1, () => Promise.resolve())], opts);
    assertEquals(results.map((r) => r.verdict), ["error"], String(bad));
    assertStringIncludes(results[0]!.message, "MMIO register 0x010");
    assertStringIncludes(results[0]!.message, String(bad));
  }
});

Deno.test("runner isolation: a clause polling an idle in-process device in a tight loop still meets its deadline", async () => {
  const started = performance.now();
  const results = await runTarget(wrappedTarget((r) => r), [
    clause(1, async (ctx) => {
      for (;;) await ctx.session.settle(1000, () => Promise.resolve(false));
    }),
  ], { ...opts, clauseTimeoutMs: 100 });
  assertEquals(results.map((r) => r.verdict), ["error"]);
  assert(performance.now() - started < 5000, "the deadline fired");
});

Deno.test("runner isolation: a 10 MB message from a target is cut in the result", async () => {
  const results = await runTarget(wrappedTarget((r) => r), [
    clause(1, () => Promise.reject(new Violation("x".repeat(10_000_000), "y".repeat(10_000_000)))),
  ], opts);
  assertEquals(results[0]!.verdict, "fail");
  assert(results[0]!.expected!.length < 5000);
  assert(results[0]!.actual!.length < 5000);
  assertStringIncludes(results[0]!.actual!, "more characters cut");
});

Deno.test("runner isolation: shrinking against a slow target stops inside the deadline and still reports the failure", async () => {
  const results = await runTarget(wrappedTarget((r) => r), [
    clause(1, (ctx) =>
      // Shrinking to the smallest odd element, 40 ms an attempt, takes far longer than the deadline.
      checkProperty(ctx, fc.array(fc.integer({ min: 1e8, max: 2e9 }), { minLength: 5 }), async (xs) => {
        await sleep(40);
        if (xs.some((x) => x % 2 === 1)) throw new Violation("even elements", `${xs.length} elements`);
      })),
  ], { ...opts, runs: 50, clauseTimeoutMs: 300 });
  assertEquals(results[0]!.verdict, "fail");
  assert(results[0]!.counterexample !== undefined);
  assertStringIncludes(results[0]!.message, "shrinking stopped");
  assert(results[0]!.durationMs < 1000, `ended in ${results[0]!.durationMs} ms`);
});

Deno.test("property: shrinking tries a bounded number of smaller cases on the target, the same on any machine", async () => {
  const counts: number[] = [];
  const messages: string[] = [];
  for (let i = 0; i < 2; i++) {
    let calls = 0;
    const results = await runTarget(wrappedTarget((r) => r), [
      clause(1, (ctx) =>
        checkProperty(ctx, fc.array(fc.integer({ min: 1e8, max: 2e9 }), { minLength: 40 }), (xs) => {
          calls++;
          if (xs.some((x) => x % 2 === 1)) throw new Violation("even elements", `${xs.length} elements`);
          return Promise.resolve();
        })),
    ], { ...opts, runs: 50 });
    assertEquals(results[0]!.verdict, "fail");
    counts.push(calls);
    messages.push(results[0]!.message);
  }
  // The first run fails; shrinking then touches the target at most MAX_SHRINK_TRIES times.
  assert(counts[0]! <= 1 + MAX_SHRINK_TRIES, `the property ran ${counts[0]} times`);
  assertEquals(counts[0], counts[1]);
  assertEquals(messages[0], messages[1]);
  assertStringIncludes(messages[0]!, `${MAX_SHRINK_TRIES} smaller cases were tried`);
});

Deno.test("runner isolation: a driver call that never returns ends in error once, bounded, for every clause", async () => {
  const never: DriverSession = {
    probe: () => new Promise(() => {}),
    workload: () => new Promise(() => {}),
    remove: () => Promise.resolve(),
    close: () => Promise.resolve(),
  };
  const ref = referenceDriverTarget();
  const target = new InProcessDriverTarget({ ...ref.info, name: "hangs" }, () => never);
  const driverClause = (statement: number) =>
    defineDriverClause({
      label: STATUS,
      statement,
      level: "MUST",
      title: "t",
      requirement: "r",
      action: "a",
      async run(ctx) {
        await ctx.scenarios.baseline();
      },
    });
  const started = performance.now();
  const results = await runTarget(target, [driverClause(1), driverClause(2), driverClause(3)], {
    ...opts,
    present: "rng",
    clauseTimeoutMs: 60_000,
  });
  assertEquals(results.map((r) => r.verdict), ["error", "error", "error"]);
  assertStringIncludes(results[0]!.message, "the driver's probe");
  // One bounded wait (2 × 2000 ms + 500 ms), shared: not one per clause.
  assert(performance.now() - started < 10_000, `took ${performance.now() - started} ms`);
});

Deno.test("runner isolation: a property cut short by the deadline is an error saying how many runs were done", async () => {
  const target = wrappedTarget((inner) => inner);
  const [r] = await runTarget(target, [
    clause(1, (ctx) =>
      checkProperty(ctx, fc.nat(), async () => {
        await sleep(30);
      })),
  ], { ...opts, runs: 1000, clauseTimeoutMs: 600 });
  assertEquals(r?.verdict, "error", r?.message);
  assertMatch(
    r?.message ?? "",
    /^Not judged: the clause's time budget \(--timeout\) ran out after \d+ of 1000 property runs, all passed so far/,
  );
});

Deno.test("runner isolation: a target that fails while a found failure is shrunk still gives the fail", async () => {
  let attempts = 0;
  const [r] = await runTarget(wrappedTarget((inner) => inner), [
    clause(1, (ctx) =>
      checkProperty(ctx, fc.array(fc.nat(), { minLength: 3 }), (xs) => {
        attempts++;
        // The first failing case is a violation; the device crashes on the next case tried (the first shrink).
        if (attempts === 1) return Promise.reject(new Violation("no element", `${xs.length} elements`));
        return Promise.reject(new TargetError("QEMU was killed by SIGABRT"));
      })),
  ], { ...opts, runs: 20 });
  assertEquals(r?.verdict, "fail", r?.message);
  assertStringIncludes(r?.message ?? "", "the target failed: QEMU was killed by SIGABRT");
  assert(r?.replay?.includes("--seed"), r?.replay);
});

Deno.test("runner isolation: an implementation that crashes on its own fails the clause it was running", async () => {
  const results = await runTarget(wrappedTarget((inner) => inner), [
    clause(1, () => Promise.reject(new DeviceCrashed("QEMU was killed by SIGABRT: Assertion `addr < len' failed"))),
    clause(2, () => Promise.reject(new TargetError("QEMU was killed by SIGKILL"))),
  ], opts);
  assertEquals(results.map((r) => r.verdict), ["fail", "error"]);
  assertStringIncludes(results[0]!.message, "the implementation crashed");
});

Deno.test("runner isolation: a target that cannot be brought back is given up after 3 clauses in a row, with why", async () => {
  // Opens once (the probe), then every restart and every relaunch fails.
  const inner = wrappedTarget((r) => r);
  let opens = 0;
  const target: DeviceTarget = {
    role: "device",
    info: inner.info,
    async open(t) {
      if (++opens > 1) throw new TargetError(`relaunch ${opens} refused`);
      const s = await inner.open(t);
      return sessionWith(s, { restart: () => Promise.reject(new TargetError("restart refused")) });
    },
  };
  const clauses = [1, 2, 3, 4, 5].map((n) => clause(n, () => Promise.resolve()));
  const results = await runTarget(target, clauses, opts);
  assertEquals(results.map((r) => r.verdict), ["error", "error", "error", "error", "error"]);
  for (const r of results.slice(0, 3)) {
    assertStringIncludes(r.message, "could not be brought back to power-on state");
    assertStringIncludes(r.message, "refused");
  }
  for (const r of results.slice(3)) {
    assertStringIncludes(r.message, "Not run: the target could not be brought back for 3 clauses in a row");
  }
  // The probe's open; the first clause restarts and relaunches twice, the next two relaunch three times each (the
  // session was closed); none after the run gave up.
  assertEquals(opens, 1 + 2 + 3 + 3);
});
