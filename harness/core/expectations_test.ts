import { assertEquals, assertMatch, assertThrows } from "@std/assert";
import {
  compareExpectations,
  comparisonFailed,
  describeComparison,
  ExpectationsError,
  type ExpectationsFile,
  expectationsFromRun,
  formatExpectations,
  parseExpectations,
} from "./expectations.ts";
import type { ClauseResult, Verdict } from "./result.ts";

function result(label: string, statement: number, verdict: Verdict, message = ""): ClauseResult {
  return {
    clause: `9.9#${statement}`,
    label,
    statement,
    section: "9.9",
    role: "device",
    level: "MUST",
    transport: "mmio",
    target: "t",
    deviceType: "rng",
    title: "t",
    requirement: "r",
    verdict,
    durationMs: 1,
    message,
    seed: 1,
  };
}

const FILE: ExpectationsFile = {
  target: "t",
  seed: 1,
  runs: 10,
  strict: true,
  expectations: [
    { clauseKey: "A#1", id: "9.9#1", verdict: "fail", reason: "known deviation" },
    { clauseKey: "A#2", id: "9.9#2", verdict: "warn", reason: "known SHOULD" },
  ],
};

Deno.test("expectations: a run matching its file is as expected", () => {
  const c = compareExpectations(
    [result("A", 1, "fail"), result("A", 2, "warn"), result("A", 3, "pass"), result("A", 4, "n/a")],
    FILE,
  );
  assertEquals(c.expected, 2);
  assertEquals(comparisonFailed(c), false);
  assertEquals(describeComparison("t", c), []);
});

Deno.test("expectations: unexpected fail, unexpected error, verdict change, unexpected pass, stale", () => {
  const c = compareExpectations(
    [result("A", 1, "error", "boom"), result("A", 3, "fail", "new"), result("B", 1, "pass")],
    { ...FILE, expectations: [...FILE.expectations, { clauseKey: "B#1", id: "x", verdict: "fail", reason: "r" }] },
  );
  assertEquals(c.unexpected.map((m) => [m.clauseKey, m.expected, m.actual]), [
    ["A#1", "fail", "error"],
    ["A#3", "pass", "fail"],
  ]);
  assertEquals(c.unexpectedPass.map((m) => m.clauseKey), ["B#1"]);
  assertEquals(c.stale.map((e) => e.clauseKey), ["A#2"]);
  assertEquals(comparisonFailed(c), true);
  const lines = describeComparison("t", c).join("\n");
  assertMatch(lines, /UNEXPECTED fail 9\.9#3 \(expected pass\): new/);
  assertMatch(lines, /remove the entry/);
  assertMatch(lines, /STALE entry/);
});

Deno.test("expectations: an n/a where a fail was expected is an unexpected pass", () => {
  const c = compareExpectations([result("A", 1, "n/a"), result("A", 2, "warn")], FILE);
  assertEquals(c.unexpectedPass.map((m) => m.actual), ["n/a"]);
});

Deno.test("expectations: regenerating keeps reasons, drops fixed entries, marks new ones TODO", () => {
  const f = expectationsFromRun(
    "t",
    [result("A", 1, "fail"), result("A", 2, "pass"), result("A", 5, "error", "Timeout\nstack")],
    { seed: 1, runs: 10, strict: true },
    FILE,
  );
  assertEquals(f.expectations.map((e) => [e.clauseKey, e.verdict, e.reason]), [
    ["A#1", "fail", "known deviation"],
    ["A#5", "error", "TODO: triage (Timeout)"],
  ]);
  // The written text parses back to the same file.
  assertEquals(parseExpectations(formatExpectations(f)), f);
});

Deno.test("expectations: validation names the problem", () => {
  const bad = (o: unknown, re: RegExp) =>
    assertThrows(() => parseExpectations(JSON.stringify(o), "f.jsonc"), ExpectationsError, undefined) &&
    assertMatch(
      (() => {
        try {
          parseExpectations(JSON.stringify(o), "f.jsonc");
        } catch (e) {
          return (e as Error).message;
        }
        return "";
      })(),
      re,
    );
  const ok = { target: "t", seed: 1, runs: 1, strict: true, expectations: [] };
  bad({ ...ok, extra: 1 }, /unknown key "extra"/);
  bad({ ...ok, runs: 0 }, /"runs"/);
  bad({ ...ok, expectations: [{ clauseKey: "A", id: "x", verdict: "fail", reason: "r" }] }, /label#statement/);
  bad({ ...ok, expectations: [{ clauseKey: "A#1", id: "x", verdict: "pass", reason: "r" }] }, /"verdict"/);
  bad({ ...ok, expectations: [{ clauseKey: "A#1", id: "x", verdict: "fail", reason: "" }] }, /"reason"/);
  bad(
    {
      ...ok,
      expectations: [
        { clauseKey: "A#1", id: "x", verdict: "fail", reason: "r" },
        { clauseKey: "A#1", id: "x", verdict: "warn", reason: "r" },
      ],
    },
    /duplicate/,
  );
  assertThrows(() => parseExpectations("{ nope", "f.jsonc"), ExpectationsError, "not valid JSONC");
  assertEquals(parseExpectations("// c\n" + JSON.stringify(ok)).target, "t");
});
