/**
 * Expectations files (like web-platform-tests metadata): for one target, the
 * clauses it is known not to pass, each with the verdict it is expected to
 * give and a one-line reason. A run compared with its expectations gives:
 *
 * - unexpected results: a clause not listed that did not pass (and was not
 *   n/a), or a listed clause that gave another non-pass verdict;
 * - unexpected passes: a listed clause that now passes or is n/a (the
 *   deviation was fixed: remove the entry);
 * - stale entries: listed clauses that did not run at all.
 *
 * File shape (`fixtures/expectations/<target-name>.jsonc`):
 *
 * ```jsonc
 * {
 *   "target": "qemu-rng-mmio",
 *   "seed": 24301, "runs": 50, "strict": true,
 *   "expectations": [
 *     { "clauseKey": "devicenormative:…#3", "id": "2.2.2#3", "verdict": "fail", "reason": "…" }
 *   ]
 * }
 * ```
 *
 * @module
 */
import { parse as parseJsonc } from "@std/jsonc";
import type { ClauseResult, Verdict } from "./result.ts";
import { errorText, escapeControls } from "../text.ts";

/** Seed of the QEMU gate and of `deno task expectations` (the suite's default seed). */
export const GATE_SEED = 0x5eed;
/** Runs per property in the QEMU gate: the default of `deno task conform`. */
export const GATE_RUNS = 50;
/** Per-clause deadline in the QEMU gate, in milliseconds: the default of `deno task conform`. */
export const GATE_CLAUSE_TIMEOUT_MS = 120_000;
/** The QEMU gate shrinks failing cases, as `deno task conform` does by default. */
export const GATE_SHRINK = true;
/** The shipped QEMU targets the gate runs (`fixtures/targets/<name>.jsonc`, `fixtures/expectations/<name>.jsonc`). */
export const GATE_TARGETS: readonly string[] = [
  "qemu-rng-mmio",
  "qemu-rng-pci",
  "qemu-blk-mmio",
  "qemu-blk-pci",
  "qemu-blk-packed-mmio",
  "qemu-net-mmio",
  "qemu-net-pci",
  "qemu-console-mmio",
  "qemu-console-pci",
  "uboot-blk-mmio",
  "uboot-blk-pci",
  "linux-blk-pci",
  "linux-rng-pci",
  "uboot-blk-mmio-packed",
  "uboot-blk-pci-small-queue",
  "linux-blk-pci-packed",
  "linux-blk-pci-plain",
  "uboot-net-mmio",
  "uboot-net-pci",
  "linux-net-pci",
  "linux-console-pci",
  "linux-blk-mmio",
  "linux-rng-mmio",
  "linux-net-mmio",
  "seabios-blk-pci",
  "ipxe-net-pci",
  "ovmf-blk-pci",
  "linux-blk-pci-intx",
  "qemu-balloon-pci",
  "qemu-scsi-mmio",
  "qemu-input-pci",
  "qemu-iommu-pci",
  "qemu-gpu-pci",
  "qemu-9p-pci",
  "qsd-blk-pci",
  "qsd-blk-mmio",
  "virtiofsd-pci",
  "qemu-blk-ro-mmio",
];

/** Verdicts an expectation may name (a pass or n/a needs no entry). */
export const EXPECTABLE: readonly Verdict[] = ["fail", "warn", "error"];

/** One known non-pass. */
export interface Expectation {
  /** `label#statement`: the stable key of the clause. */
  clauseKey: string;
  /** `section#statement`, for humans. */
  id: string;
  verdict: Verdict;
  /** One line: why (a QEMU deviation, or a harness limitation). */
  reason: string;
  /** Optional: the findings file that writes the deviation up. */
  finding?: string;
}

/** A target's expectations file. */
export interface ExpectationsFile {
  target: string;
  /** Run settings the expectations were recorded with. */
  seed: number;
  runs: number;
  strict: boolean;
  expectations: Expectation[];
}

/** A malformed expectations file. */
export class ExpectationsError extends Error {
  override name = "ExpectationsError";
}

function fail(where: string, msg: string): never {
  throw new ExpectationsError(`${where}: ${msg}`);
}

/** Validates parsed JSON as an expectations file; throws {@link ExpectationsError}. */
export function validateExpectations(data: unknown, where = "expectations"): ExpectationsFile {
  if (typeof data !== "object" || data === null || Array.isArray(data)) fail(where, "must be a JSON object");
  const o = data as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!["target", "seed", "runs", "strict", "expectations"].includes(k)) {
      fail(where, `unknown key ${escapeControls(JSON.stringify(k))}`);
    }
  }
  if (typeof o.target !== "string" || o.target === "") fail(where, `"target" must be a non-empty string`);
  if (!Number.isSafeInteger(o.seed)) fail(where, `"seed" must be an integer`);
  if (!Number.isSafeInteger(o.runs) || (o.runs as number) < 1) fail(where, `"runs" must be a positive integer`);
  if (typeof o.strict !== "boolean") fail(where, `"strict" must be true or false`);
  if (!Array.isArray(o.expectations)) fail(where, `"expectations" must be an array`);
  const seen = new Set<string>();
  const expectations = o.expectations.map((e, i): Expectation => {
    const at = `${where}: expectations[${i}]`;
    if (typeof e !== "object" || e === null || Array.isArray(e)) fail(at, "must be an object");
    const x = e as Record<string, unknown>;
    for (const k of Object.keys(x)) {
      if (!["clauseKey", "id", "verdict", "reason", "finding"].includes(k)) {
        fail(at, `unknown key ${escapeControls(JSON.stringify(k))}`);
      }
    }
    if (typeof x.clauseKey !== "string" || !/#\d+$/.test(x.clauseKey)) {
      fail(at, `"clauseKey" must be "label#statement"`);
    }
    if (typeof x.id !== "string" || x.id === "") fail(at, `"id" must be a non-empty string`);
    if (typeof x.verdict !== "string" || !EXPECTABLE.includes(x.verdict as Verdict)) {
      fail(at, `"verdict" must be one of ${EXPECTABLE.join(", ")}, got ${JSON.stringify(x.verdict)}`);
    }
    if (typeof x.reason !== "string" || x.reason.trim() === "" || x.reason.includes("\n")) {
      fail(at, `"reason" must be one non-empty line`);
    }
    if (x.finding !== undefined && typeof x.finding !== "string") fail(at, `"finding" must be a string`);
    if (seen.has(x.clauseKey)) fail(at, `duplicate clauseKey ${escapeControls(JSON.stringify(x.clauseKey))}`);
    seen.add(x.clauseKey);
    const out: Expectation = {
      clauseKey: x.clauseKey,
      id: x.id,
      verdict: x.verdict as Verdict,
      reason: x.reason,
    };
    if (typeof x.finding === "string") out.finding = x.finding;
    return out;
  });
  return {
    target: o.target,
    seed: o.seed as number,
    runs: o.runs as number,
    strict: o.strict,
    expectations,
  };
}

/** Parses JSONC text as an expectations file. */
export function parseExpectations(text: string, where = "expectations"): ExpectationsFile {
  let data: unknown;
  try {
    data = parseJsonc(text);
  } catch (e) {
    fail(where, `not valid JSONC: ${escapeControls(errorText(e))}`);
  }
  return validateExpectations(data, where);
}

/** Reads and validates an expectations file. */
export async function loadExpectations(path: string): Promise<ExpectationsFile> {
  return parseExpectations(await Deno.readTextFile(path), path);
}

/** The path of a target's expectations file. */
export function expectationsPath(target: string, dir = "fixtures/expectations"): string {
  return `${dir}/${target}.jsonc`;
}

/** The key of a result (`label#statement`). */
export function resultKey(r: Pick<ClauseResult, "label" | "statement">): string {
  return `${r.label}#${r.statement}`;
}

/** One result that differs from its expectation. */
export interface Mismatch {
  clauseKey: string;
  id: string;
  expected: Verdict | "pass";
  actual: Verdict;
  /** The result's message (why it did not pass). */
  message: string;
  replay?: string;
}

/** A run compared with its expectations. */
export interface Comparison {
  /** Non-pass results without an entry, or with another verdict than listed. */
  unexpected: Mismatch[];
  /** Listed clauses that passed or were n/a: the deviation is gone, the entry must go. */
  unexpectedPass: Mismatch[];
  /** Listed clauses that gave no result at all (renamed, removed, filtered out). */
  stale: Expectation[];
  /** Results matching their entry. */
  expected: number;
}

/** True when a comparison should fail a gate. */
export function comparisonFailed(c: Comparison): boolean {
  return c.unexpected.length > 0 || c.unexpectedPass.length > 0 || c.stale.length > 0;
}

/** Compares a run's results with the expectations of its target. */
export function compareExpectations(results: readonly ClauseResult[], file: ExpectationsFile): Comparison {
  const byKey = new Map(file.expectations.map((e) => [e.clauseKey, e]));
  const seen = new Set<string>();
  const out: Comparison = { unexpected: [], unexpectedPass: [], stale: [], expected: 0 };
  for (const r of results) {
    const key = resultKey(r);
    seen.add(key);
    const e = byKey.get(key);
    const mismatch = (expected: Verdict | "pass"): Mismatch => ({
      clauseKey: key,
      id: r.clause,
      expected,
      actual: r.verdict,
      message: r.message,
      ...(r.replay ? { replay: r.replay } : {}),
    });
    const ok = r.verdict === "pass" || r.verdict === "n/a";
    if (!e) {
      if (!ok) out.unexpected.push(mismatch("pass"));
      continue;
    }
    if (r.verdict === e.verdict) out.expected++;
    else if (ok) out.unexpectedPass.push(mismatch(e.verdict));
    else out.unexpected.push(mismatch(e.verdict));
  }
  for (const e of file.expectations) if (!seen.has(e.clauseKey)) out.stale.push(e);
  return out;
}

/** Human-readable lines of a comparison (empty when everything matched). */
export function describeComparison(target: string, c: Comparison): string[] {
  const lines: string[] = [];
  for (const m of c.unexpected) {
    lines.push(`${target}: UNEXPECTED ${m.actual} ${m.id} (expected ${m.expected}): ${m.message}`);
    if (m.replay) lines.push(`  replay: ${m.replay}`);
  }
  for (const m of c.unexpectedPass) {
    lines.push(`${target}: UNEXPECTED ${m.actual} ${m.id} (expected ${m.expected}): remove the entry`);
  }
  for (const e of c.stale) lines.push(`${target}: STALE entry ${e.id} (${e.clauseKey}): no such result in the run`);
  return lines;
}

/**
 * The expectations file a run gives: every fail, warn and error, keeping the
 * reasons (and findings) of entries that already existed.
 */
export function expectationsFromRun(
  target: string,
  results: readonly ClauseResult[],
  settings: { seed: number; runs: number; strict: boolean },
  previous?: ExpectationsFile,
): ExpectationsFile {
  const old = new Map((previous?.expectations ?? []).map((e) => [e.clauseKey, e]));
  const expectations: Expectation[] = [];
  for (const r of results) {
    if (!EXPECTABLE.includes(r.verdict)) continue;
    const key = resultKey(r);
    const before = old.get(key);
    const e: Expectation = {
      clauseKey: key,
      id: r.clause,
      verdict: r.verdict,
      reason: before?.reason ?? `TODO: triage (${oneLine(r.message)})`,
    };
    if (before?.finding) e.finding = before.finding;
    expectations.push(e);
  }
  return { target, ...settings, expectations };
}

function oneLine(s: string): string {
  const l = (s.split("\n")[0] ?? "").trim();
  return l.length > 160 ? `${l.slice(0, 157)}...` : l;
}

/** The text of an expectations file (JSONC with a header comment). */
export function formatExpectations(f: ExpectationsFile): string {
  const head = [
    `// Known non-pass verdicts of target ${f.target}: one entry per clause (clauseKey = label#statement).`,
    `// Regenerate with: deno task expectations --target fixtures/targets/${f.target}.jsonc --update`,
    `// (reasons of existing entries are kept; new entries need a reason instead of TODO).`,
  ];
  return `${head.join("\n")}\n${JSON.stringify(f, null, 2)}\n`;
}
