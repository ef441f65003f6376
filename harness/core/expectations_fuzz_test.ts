/**
 * Fuzzes expectations-file validation: {@link validateExpectations} over
 * parsed values near the file's shape (wrong types, unknown keys, duplicate
 * clause keys, `__proto__`) and {@link parseExpectations} over texts.
 *
 * Accepted errors: {@link ExpectationsError} only, with a one-line message
 * naming the file. A returned file must satisfy what
 * {@link compareExpectations} relies on. Each case has a deadline (see
 * `harness/fuzz.ts`).
 */
import fc from "fast-check";
import { type ErrorClass, expectTypedSync, FuzzFailure, fuzzSync } from "../fuzz.ts";
import { anyJson, jsoncText, nearObject } from "../cli/json_fuzz_support.ts";
import {
  EXPECTABLE,
  ExpectationsError,
  type ExpectationsFile,
  formatExpectations,
  parseExpectations,
  validateExpectations,
} from "./expectations.ts";

/** What expectations validation may throw. */
const ACCEPTED: readonly ErrorClass[] = [ExpectationsError];

const WHERE = "fuzz.jsonc";

const entry = nearObject({
  clauseKey: fc.constantFrom("devicenormative:x#3", "devicenormative:y#1", "a\nb#2", "nohash", "#0"),
  id: fc.constantFrom("2.2.2#3", ""),
  verdict: fc.constantFrom("fail", "warn", "error", "pass", "n/a"),
  reason: fc.constantFrom("QEMU deviation", "", " ", "two\nlines"),
  finding: fc.constantFrom("findings/x.md"),
});

const file = nearObject({
  target: fc.constantFrom("qemu-rng-mmio", ""),
  seed: fc.oneof(fc.integer(), fc.double(), fc.constant(2 ** 60)),
  runs: fc.oneof(fc.integer({ min: -2, max: 100 }), fc.double()),
  strict: fc.boolean(),
  expectations: fc.array(fc.oneof({ weight: 6, arbitrary: entry }, { weight: 1, arbitrary: anyJson }), {
    maxLength: 5,
  }),
});

const parsed = fc.oneof({ weight: 5, arbitrary: file }, { weight: 1, arbitrary: anyJson });

function checkOutcome(r: ReturnType<typeof expectTypedSync<ExpectationsFile>>): void {
  if (!r.ok) {
    const m = r.error.message;
    if (/[\n\r\u2028\u2029]/.test(m)) throw new FuzzFailure(`a multi-line ExpectationsError: ${m}`);
    if (!m.startsWith(`${WHERE}: `)) throw new FuzzFailure(`an ExpectationsError not naming the file: ${m}`);
    return;
  }
  const f = r.value;
  const keys = new Set<string>();
  for (const e of f.expectations) {
    if (!EXPECTABLE.includes(e.verdict)) throw new FuzzFailure(`accepted verdict ${e.verdict}`);
    if (keys.has(e.clauseKey)) throw new FuzzFailure(`accepted duplicate ${e.clauseKey}`);
    keys.add(e.clauseKey);
  }
  // What was accepted formats to a file that is accepted again, unchanged.
  const again = parseExpectations(formatExpectations(f), WHERE);
  if (JSON.stringify(again) !== JSON.stringify(f)) throw new FuzzFailure("format and parse do not round-trip");
}

Deno.test("expectations fuzz: validateExpectations gives a file or a one-line ExpectationsError for any value", () => {
  fuzzSync("validateExpectations", [parsed], (data) => {
    checkOutcome(expectTypedSync(ACCEPTED, () => validateExpectations(data, WHERE)));
  }, 2000);
});

Deno.test("expectations fuzz: parseExpectations gives a file or a one-line ExpectationsError for any text", () => {
  fuzzSync("parseExpectations", [jsoncText(parsed)], (text) => {
    checkOutcome(expectTypedSync(ACCEPTED, () => parseExpectations(text, WHERE)));
  }, 2000);
});

Deno.test("expectations fuzz regressions: messages stay one line", () => {
  const ok = { target: "t", seed: 1, runs: 1, strict: true };
  const cases: [string, RegExp][] = [
    // The JSONC parser quoted the raw token, line break included.
    ['{"// c\n__proto__":{}}', /^fuzz\.jsonc: not valid JSONC: .*\\u000a/],
    // Keys and clause keys from the file were quoted raw.
    [JSON.stringify({ ...ok, "a\nb": 1 }), /unknown key "a\\nb"/],
    [
      JSON.stringify({
        ...ok,
        expectations: [1, 2].map(() => ({ clauseKey: "x\ny#1", id: "1#1", verdict: "fail", reason: "r" })),
      }),
      /duplicate clauseKey "x\\ny#1"/,
    ],
  ];
  for (const [text, re] of cases) {
    const r = expectTypedSync(ACCEPTED, () => parseExpectations(text, WHERE));
    if (r.ok) throw new FuzzFailure(`${JSON.stringify(text)} was accepted`);
    checkOutcome(r);
    if (!re.test(r.error.message)) throw new FuzzFailure(`${r.error.message} does not match ${re}`);
  }
});
