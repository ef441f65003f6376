import { assertEquals, assertRejects, assertStringIncludes } from "@std/assert";
import { defineDeviceClause } from "../core/clause.ts";
import { registerTargetTests } from "./deno_test.ts";
import { violation } from "../verify.ts";

const RESET = "devicenormative:Basic Facilities of a Virtio Device / Device Reset";

const clauses = [
  defineDeviceClause({
    label: RESET,
    statement: 1,
    level: "MUST",
    title: "passes",
    requirement: "r",
    action: "a",
    run: () => Promise.resolve(),
  }),
  defineDeviceClause({
    label: RESET,
    statement: 2,
    level: "MUST NOT",
    title: "fails",
    requirement: "r",
    action: "a",
    run: () => Promise.resolve(violation("quiet", "noise")),
  }),
];

Deno.test("deno_test: nothing is registered without a target", async () => {
  const defs: Deno.TestDefinition[] = [];
  assertEquals(await registerTargetTests(undefined, { register: (d) => defs.push(d) }), 0);
  assertEquals(await registerTargetTests("", { register: (d) => defs.push(d) }), 0);
  assertEquals(defs, []);
});

Deno.test("deno_test: one test per clause; a fail fails the test with expected, actual and replay", async () => {
  const defs: Deno.TestDefinition[] = [];
  const n = await registerTargetTests("fixtures/targets/reference_rng_device.jsonc", {
    clauses,
    register: (d) => defs.push(d),
  });
  assertEquals(n, 2);
  assertEquals(defs.map((d) => d.name), [
    "reference-rng-device 2.4.1#1 passes",
    "reference-rng-device 2.4.1#2 fails",
  ]);
  const t = {} as Deno.TestContext;
  await defs[0]!.fn(t);
  const err = await assertRejects(async () => await defs[1]!.fn(t));
  const msg = (err as Error).message;
  for (const part of ["Expected: quiet", "Actual: noise", "Replay: deno task conform --target fixtures/targets/"]) {
    assertStringIncludes(msg, part);
  }
});
