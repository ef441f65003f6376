import { assert, assertEquals } from "@std/assert";
import { clauseKey, validateClause } from "../harness/core/clause.ts";
import { referenceDeviceTarget } from "../harness/models/device/reference.ts";
import { referenceDriverTarget } from "../harness/models/driver/driver.ts";
import { runTarget } from "../harness/core/runner.ts";
import { uncoveredMandatory } from "../harness/core/coverage.ts";
import { CLAUSES, WAIVERS } from "./mod.ts";

const opts = { seed: 0x5eed, runs: 30, strict: true, targetArg: "test" };

for (const type of ["rng", "blk"] as const) {
  Deno.test(`reference ${type} device passes every device clause`, async () => {
    const results = await runTarget(referenceDeviceTarget(type), CLAUSES, opts);
    assert(results.length > 0);
    const bad = results.filter((r) => r.verdict !== "pass" && r.verdict !== "n/a");
    assertEquals(bad.map((r) => `${r.clause} ${r.verdict}: ${r.message}`), []);
  });
  Deno.test(`reference driver passes every driver clause against a ${type} device`, async () => {
    const results = await runTarget(referenceDriverTarget(), CLAUSES, { ...opts, present: type });
    assert(results.length > 0);
    const bad = results.filter((r) => r.verdict !== "pass" && r.verdict !== "n/a");
    assertEquals(bad.map((r) => `${r.clause} ${r.verdict}: ${r.message}`), []);
  });
}

// The console and net devices are not in the default run; their reference models pass every clause too.
Deno.test("reference driver passes every driver clause against a net device", async () => {
  const results = await runTarget(referenceDriverTarget(), CLAUSES, { ...opts, present: "net" });
  assert(results.some((r) => r.verdict === "pass" && r.section.startsWith("5.1")));
  const bad = results.filter((r) => r.verdict !== "pass" && r.verdict !== "n/a");
  assertEquals(bad.map((r) => `${r.clause} ${r.verdict}: ${r.message}`), []);
});

for (const type of ["console", "net"] as const) {
  Deno.test(`reference ${type} device passes every device clause`, async () => {
    const results = await runTarget(referenceDeviceTarget(type), CLAUSES, opts);
    assert(results.some((r) => r.verdict === "pass" && r.section.startsWith(type === "net" ? "5.1" : "5.3")));
    const bad = results.filter((r) => r.verdict !== "pass" && r.verdict !== "n/a");
    assertEquals(bad.map((r) => `${r.clause} ${r.verdict}: ${r.message}`), []);
  });
}

Deno.test("every clause and waiver names a real statement with the right level and role", () => {
  const problems = [...CLAUSES, ...WAIVERS].flatMap(validateClause);
  assertEquals(problems, []);
});

Deno.test("no statement has two clauses, or a clause and a waiver", () => {
  const keys = [...CLAUSES, ...WAIVERS].map(clauseKey);
  const dup = keys.filter((k, i) => keys.indexOf(k) !== i);
  assertEquals(dup, []);
});

Deno.test("validateClause rejects unknown labels, ordinals past the block and wrong levels", () => {
  const base = CLAUSES[0]!;
  assert(validateClause({ ...base, label: "devicenormative:No Such Block" }).length > 0);
  assert(validateClause({ ...base, statement: 99 }).length > 0);
  assert(validateClause({ ...base, level: base.level === "MUST" ? "MAY" : "MUST" }).length > 0);
});

Deno.test("every mandatory statement in scope has a clause or a waiver", () => {
  assertEquals(uncoveredMandatory(CLAUSES, WAIVERS).map((s) => `${s.section}#${s.statement}`), []);
});
