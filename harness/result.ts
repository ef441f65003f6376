/**
 * Verdicts and results of a run, the shape every reporter reads.
 *
 * The JSON report (`reports/json.ts`) writes these names; other tools read
 * them, so they are stable: a change bumps {@link REPORT_SCHEMA_VERSION}.
 *
 * @module
 */
import type { TransportKind } from "./features.ts";
import type { Level, Role } from "./spec_data.ts";

/** Schema version of the JSON report. */
export const REPORT_SCHEMA_VERSION = 1;

/**
 * - `pass`: the statement holds;
 * - `fail`: a MUST / MUST NOT statement is broken;
 * - `warn`: a SHOULD / SHOULD NOT statement is broken (under `--strict`);
 * - `n/a`: the clause does not apply (feature not offered, transport, capability);
 * - `error`: the harness could not decide (timeout, target crash, garbage).
 */
export type Verdict = "pass" | "fail" | "warn" | "n/a" | "error";

/** Every verdict, in report order. */
export const VERDICTS: readonly Verdict[] = ["pass", "fail", "warn", "n/a", "error"];

/** The result of one clause against one target. */
export interface ClauseResult {
  /** Display id, `section#statement`. */
  clause: string;
  /** The requirement block's label. */
  label: string;
  /** 1-based ordinal of the statement in the block. */
  statement: number;
  section: string;
  /** Whose obligation: `device` or `driver`. */
  role: Role;
  level: Level;
  transport: TransportKind;
  /** Name of the target the result came from. */
  target: string;
  /** Device type presented or tested. */
  deviceType: string;
  title: string;
  requirement: string;
  verdict: Verdict;
  durationMs: number;
  /** One line: why the verdict (empty for a plain pass). */
  message: string;
  expected?: string;
  actual?: string;
  /** Seed the clause ran with. */
  seed: number;
  /** The one-line command that replays this clause. */
  replay?: string;
  /** Minimal counterexample of a failed property. */
  counterexample?: string;
}

/** A statement answered by a waiver instead of a clause. */
export interface WaiverEntry {
  label: string;
  statement: number;
  section: string;
  reason: string;
}

/** Coverage of one area and role. */
export interface CoverageRow {
  area: string;
  role: Role;
  /** MUST / MUST NOT statements in scope. */
  mandatory: number;
  mandatoryCovered: number;
  /** SHOULD / SHOULD NOT statements in scope. */
  advisory: number;
  advisoryCovered: number;
  waived: number;
}

/** Metadata of a run. */
export interface RunMeta {
  suiteVersion: string;
  specVersion: string;
  /** Target names, in run order. */
  targets: string[];
  seed: number;
  runs: number;
  strict: boolean;
  filter?: string;
  /** ISO date-time of the start. */
  start: string;
  durationMs: number;
  /**
   * False when the run did not finish: the report holds the results obtained
   * before it stopped (an interrupt, a signal, a crash of the harness).
   */
  complete?: boolean;
  /** Why an incomplete run stopped, e.g. `SIGINT`. */
  stopped?: string;
}

/** A whole run. */
export interface RunReport {
  schemaVersion: number;
  meta: RunMeta;
  summary: Record<Verdict, number>;
  results: ClauseResult[];
  waivers: WaiverEntry[];
  coverage?: CoverageRow[];
}

/** Counts results per verdict. */
export function summarize(results: readonly ClauseResult[]): Record<Verdict, number> {
  const s: Record<Verdict, number> = { pass: 0, fail: 0, warn: 0, "n/a": 0, error: 0 };
  for (const r of results) s[r.verdict]++;
  return s;
}

/** True when the run must gate CI: any fail or error. */
export function runFailed(summary: Record<Verdict, number>): boolean {
  return summary.fail > 0 || summary.error > 0;
}
