import { assert, assertEquals } from "@std/assert";
import { CLAUSES, WAIVERS } from "../../suites/mod.ts";
import { defineDeviceClause, type Waiver } from "./clause.ts";
import { runCoverage } from "../cli/coverage_main.ts";
import {
  AREAS_IN_SCOPE,
  computeCoverage,
  coverageDetails,
  mandatoryPercent,
  uncoveredMandatory,
  validateAll,
} from "./coverage.ts";
import { type SpecBlock, specBlocks } from "../spec_data.ts";

const BLOCKS: SpecBlock[] = [
  {
    label: "devicenormative:A",
    section: "9.1.1",
    title: "A",
    role: "device",
    area: "x",
    areaSection: "9.1",
    scope: "in",
    statements: ["MUST", "MAY", "SHOULD", "MUST NOT", "SHOULD NOT"],
  },
  {
    label: "drivernormative:A",
    section: "9.1.2",
    title: "A",
    role: "driver",
    area: "x",
    areaSection: "9.1",
    scope: "in",
    statements: ["MUST", "MUST"],
  },
  {
    label: "devicenormative:Out",
    section: "9.2.1",
    title: "Out",
    role: "device",
    area: "x",
    areaSection: "9.2",
    scope: "in",
    statements: ["MUST"],
  },
  {
    label: "devicenormative:NotIn",
    section: "9.1.3",
    title: "NotIn",
    role: "device",
    area: "x",
    areaSection: "9.1",
    scope: "out",
    statements: ["MUST"],
  },
];
const OPTS = { areas: ["9.1"], blocks: BLOCKS };

Deno.test("coverage: MUST/MUST NOT mandatory, SHOULD/SHOULD NOT advisory, MAY and out-of-scope not counted", () => {
  const clauses = [{ label: "devicenormative:A", statement: 1 }, { label: "devicenormative:A", statement: 3 }];
  const waivers: Waiver[] = [{ label: "drivernormative:A", statement: 2, reason: "not observable" }];
  assertEquals(computeCoverage(clauses, waivers, OPTS), [
    { area: "9.1", role: "device", mandatory: 2, mandatoryCovered: 1, advisory: 2, advisoryCovered: 1, waived: 0 },
    { area: "9.1", role: "driver", mandatory: 2, mandatoryCovered: 0, advisory: 0, advisoryCovered: 0, waived: 1 },
  ]);
  const details = coverageDetails(clauses, waivers, OPTS);
  assertEquals(details.map(mandatoryPercent), [50, 50]);
  assertEquals(uncoveredMandatory(clauses, waivers, OPTS), [
    { label: "devicenormative:A", section: "9.1.1", statement: 4, level: "MUST NOT" },
    { label: "drivernormative:A", section: "9.1.2", statement: 1, level: "MUST" },
  ]);
});

Deno.test("coverage: a statement both checked and waived counts as covered, not waived", () => {
  const c = [{ label: "drivernormative:A", statement: 1 }];
  const w: Waiver[] = [{ label: "drivernormative:A", statement: 1, reason: "r" }];
  const row = computeCoverage(c, w, OPTS).find((r) => r.role === "driver")!;
  assertEquals([row.mandatoryCovered, row.waived], [1, 0]);
});

Deno.test("coverage: every area in scope exists in the spec data with blocks in scope", () => {
  for (const area of AREAS_IN_SCOPE) {
    assert(specBlocks().some((b) => b.areaSection === area && b.scope === "in"), area);
  }
  const rows = computeCoverage([], []);
  assertEquals(new Set(rows.map((r) => r.area)), new Set(AREAS_IN_SCOPE));
  assert(rows.every((r) => r.mandatoryCovered === 0 && r.waived === 0));
});

Deno.test("coverage: validateAll reports malformed clauses and waivers", () => {
  const bad = defineDeviceClause({
    label: "devicenormative:Basic Facilities of a Virtio Device / Device Reset",
    statement: 1,
    level: "SHOULD",
    title: "t",
    requirement: "r",
    action: "a",
    run: () => Promise.resolve(),
  });
  const problems = validateAll([bad], [
    { label: "nope", statement: 1, reason: "x" },
    { label: bad.label, statement: 1, reason: " " },
  ]);
  assert(problems.some((p) => p.kind === "clause" && p.message.includes("declares SHOULD")));
  assert(problems.some((p) => p.kind === "waiver" && p.message.includes("unknown requirement label")));
  assert(problems.some((p) => p.message.includes("no reason")));
  assert(problems.some((p) => p.message.includes("both checked by a clause and waived")));
});

Deno.test("coverage: the suite's own clauses and waivers are well formed", () => {
  assertEquals(validateAll(CLAUSES, WAIVERS), []);
});

Deno.test("coverage: runCoverage prints the table and exits 1 while mandatory statements are open", () => {
  const lines: string[] = [];
  const code = runCoverage([], [], (l) => lines.push(l), OPTS);
  assertEquals(code, 1);
  assert(lines.some((l) => /^9\.1\s+device\s+0\/2\s+0\/2\s+0\s+0\.0%$/.test(l)), lines.join("\n"));
  assert(lines.some((l) => l.includes("4 mandatory statements in scope are neither covered nor waived")));
  const all = BLOCKS.flatMap((b) => b.statements.map((_, i) => ({ label: b.label, statement: i + 1 })));
  const ok: string[] = [];
  assertEquals(runCoverage([], all.map((s) => ({ ...s, reason: "r" })), (l) => ok.push(l), OPTS), 1);
  // Waivers of unknown labels (the synthetic blocks) are problems; statement coverage is complete.
  assert(ok.some((l) => l.includes("Every mandatory statement in scope is covered or waived.")));
});
