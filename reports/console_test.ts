import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import type { ClauseResult } from "../harness/core/result.ts";
import { summarize } from "../harness/core/result.ts";
import { ciLine, ConsoleReporter, summaryLine } from "./console.ts";
import { sampleResults } from "./sample_results_test_data.ts";

function capture(quiet: boolean, color = false): { lines: string[]; reporter: ConsoleReporter } {
  const lines: string[] = [];
  return { lines, reporter: new ConsoleReporter({ quiet, color, write: (l) => lines.push(l) }) };
}

Deno.test("console: one line per pass with verdict, id, level, target/transport and title", () => {
  const { lines, reporter } = capture(false);
  const pass = sampleResults().find((r) => r.verdict === "pass")!;
  reporter.result(pass);
  assertEquals(lines.length, 1);
  const line = lines[0]!;
  for (const part of ["PASS", pass.clause, pass.level, `${pass.target}/${pass.transport}`, pass.title]) {
    assertStringIncludes(line, part);
  }
});

Deno.test("console: a fail carries requirement, expected, actual, counterexample, seed and replay", () => {
  const { lines, reporter } = capture(false);
  const fail = sampleResults().find((r) => r.verdict === "fail")!;
  reporter.result(fail);
  const text = lines.join("\n");
  assertStringIncludes(lines[0]!, "FAIL");
  for (const prefix of ["Requirement: ", "Expected: ", "Actual: ", "Counterexample: ", "Seed: ", "Replay: "]) {
    assert(lines.some((l) => l.trimStart().startsWith(prefix)), `missing ${prefix}\n${text}`);
  }
  assertStringIncludes(text, fail.replay!);
});

Deno.test("console: an error explains itself with the message as the actual behaviour", () => {
  const { lines, reporter } = capture(false);
  const err = sampleResults().find((r) => r.verdict === "error")!;
  reporter.result(err);
  assert(lines.some((l) => l.trimStart() === `Actual: ${err.message}`));
  assert(lines.some((l) => l.trimStart().startsWith("Replay: ")));
});

Deno.test("console: quiet prints only non-pass results", () => {
  const { lines, reporter } = capture(true);
  const results = sampleResults();
  for (const r of results) reporter.result(r);
  reporter.info("seed line");
  reporter.target("t", "detail");
  assert(!lines.some((l) => l.includes("PASS")));
  assert(!lines.includes("seed line"));
  for (const v of ["FAIL", "WARN", "N/A", "ERROR"]) assert(lines.some((l) => l.includes(v)), v);
});

Deno.test("console: summary lines are exact and the CI line is last", () => {
  const { lines, reporter } = capture(true, true);
  const s = summarize(sampleResults());
  reporter.summary(s);
  assertEquals(lines.at(-2), "1 passed, 1 failed, 1 warned, 1 n/a, 1 errors");
  assertEquals(lines.at(-1), "1 passed, 2 failed");
  assertEquals(summaryLine(s), lines.at(-2));
  assertEquals(ciLine(s), lines.at(-1));
});

Deno.test("console: no colour codes when colour is off, colour codes when forced on", () => {
  const r: ClauseResult = sampleResults().find((x) => x.verdict === "fail")!;
  const off = capture(false, false);
  off.reporter.result(r);
  assert(!off.lines.join("\n").includes("\x1b["));
  const on = capture(false, true);
  on.reporter.result(r);
  assert(on.lines.join("\n").includes("\x1b["));
});
