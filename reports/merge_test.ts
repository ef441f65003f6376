import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import type { ClauseResult, RunReport } from "../harness/core/result.ts";
import { buildReport } from "./json.ts";
import { matrixMarkdown, mergeReports } from "./merge.ts";

function result(
  target: string,
  transport: "mmio" | "pci",
  clause: string,
  verdict: ClauseResult["verdict"],
): ClauseResult {
  return {
    clause,
    label: "devicenormative:x",
    statement: Number(clause.split("#")[1]),
    section: clause.split("#")[0]!,
    role: "device",
    level: "MUST",
    transport,
    target,
    deviceType: "rng",
    title: `title of ${clause}`,
    requirement: "r",
    verdict,
    durationMs: 1,
    message: "",
    seed: 1,
  };
}

function report(target: string, results: ClauseResult[], complete = true): RunReport {
  return buildReport({
    meta: {
      suiteVersion: "0",
      specVersion: "v1.4",
      targets: [target],
      seed: 1,
      runs: 1,
      strict: true,
      start: "2026-12-07T00:00:00Z",
      durationMs: 1,
      complete,
    },
    results,
    waivers: [],
  });
}

Deno.test("merge: results side by side, a duplicate named once and the first kept, complete only if all were", () => {
  const a = report("dev-a", [result("dev-a", "mmio", "2.4.1#1", "pass"), result("dev-a", "mmio", "4.2.2.1#2", "fail")]);
  const b = report("dev-b", [result("dev-b", "pci", "2.4.1#1", "warn")], false);
  const dup = report("dev-a", [result("dev-a", "mmio", "2.4.1#1", "error")]);
  const { report: merged, conflicts } = mergeReports([a, b, dup]);
  assertEquals(merged.results.length, 3);
  assertEquals(merged.meta.targets, ["dev-a", "dev-b"]);
  assertEquals(merged.meta.complete, false);
  assertEquals(merged.summary, { pass: 1, fail: 1, warn: 1, "n/a": 0, error: 0 });
  assertEquals(conflicts, [
    "clause 2.4.1#1 of dev-a over mmio is in report 1 (pass) and report 3 (error): the first is kept",
  ]);
});

Deno.test("merge: the Markdown matrix counts each column, lists the rows not passing first, folds the rest", () => {
  const a = report("dev-a", [result("dev-a", "mmio", "2.4.1#1", "pass"), result("dev-a", "mmio", "4.2.2.1#2", "fail")]);
  const b = report("dev-b", [result("dev-b", "pci", "2.4.1#1", "pass"), result("dev-b", "pci", "4.2.2.1#2", "n/a")]);
  const md = matrixMarkdown(mergeReports([a, b]).report);
  assertStringIncludes(md, "| dev-a mmio | 1 | 1 | 0 | 0 | 0 |");
  assertStringIncludes(md, "| dev-b pci | 1 | 0 | 0 | 1 | 0 |");
  assertStringIncludes(md, "## Not passing (1 clauses)");
  const notPassing = md.slice(md.indexOf("## Not passing"), md.indexOf("<details>"));
  assertStringIncludes(notPassing, "| 4.2.2.1#2 title of 4.2.2.1#2 | MUST | **FAIL** | · |");
  assert(!notPassing.includes("2.4.1#1"), "a row that passes everywhere is not among those not passing");
  assertStringIncludes(md.slice(md.indexOf("<details>")), "| 2.4.1#1 title of 2.4.1#1 | MUST | pass | pass |");
});
