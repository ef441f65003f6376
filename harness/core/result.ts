/**
 * Verdicts and results of a run, the shape every reporter reads.
 *
 * The JSON report (`reports/json.ts`) writes these names; other tools read
 * them, so they are stable: a change bumps {@link REPORT_SCHEMA_VERSION}.
 *
 * @module
 */
import type { TransportKind } from "../features.ts";
import type { Level, Role } from "../spec_data.ts";

/** Schema version of the JSON report. */
export const REPORT_SCHEMA_VERSION = 1;

/** The `$id` of the JSON report's schema, `reports/schema/report.schema.json`; every report names it as `$schema`. */
export const REPORT_SCHEMA_ID = "https://virtio-conformance.invalid/schema/report.schema.json";

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
  /** The spec section the clause's label names. */
  section: string;
  /** Whose obligation: `device` or `driver`. */
  role: Role;
  /** The requirement's keyword (MUST, SHOULD, …). */
  level: Level;
  /** The transport the clause ran on. */
  transport: TransportKind;
  /** Name of the target the result came from. */
  target: string;
  /** Device type presented or tested. */
  deviceType: string;
  /** The clause's short title. */
  title: string;
  /** The requirement, in the suite's words. */
  requirement: string;
  /** The outcome. */
  verdict: Verdict;
  /** How long the clause took. */
  durationMs: number;
  /** One line: why the verdict (empty for a plain pass). */
  message: string;
  /** What the clause expected (a fail or warn). */
  expected?: string;
  /** What it saw instead. */
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
  /** The waived statement's requirement label. */
  label: string;
  /** Its 1-based ordinal in the block. */
  statement: number;
  /** Its spec section. */
  section: string;
  /** Why no clause checks it. */
  reason: string;
}

/** Coverage of one area and role. */
export interface CoverageRow {
  /** The spec area (a chapter or section). */
  area: string;
  /** Whose obligations the row counts. */
  role: Role;
  /** MUST / MUST NOT statements in scope. */
  mandatory: number;
  /** Of those, statements a clause checks. */
  mandatoryCovered: number;
  /** SHOULD / SHOULD NOT statements in scope. */
  advisory: number;
  /** Of those, statements a clause checks. */
  advisoryCovered: number;
  /** Statements answered by a waiver. */
  waived: number;
}

/** Metadata of a run. */
export interface RunMeta {
  /** The suite's version. */
  suiteVersion: string;
  /** The spec version the clauses cite. */
  specVersion: string;
  /** Target names, in run order. */
  targets: string[];
  /** The seed of every random choice. */
  seed: number;
  /** Cases per property. */
  runs: number;
  /** Whether SHOULD statements were judged. */
  strict: boolean;
  /** The clause filter the run was limited to, if any. */
  filter?: string;
  /** The shard of a campaign this run is (`--shard index/count`), if any. */
  shard?: { index: number; count: number };
  /** ISO date-time of the start. */
  start: string;
  /** How long the run took. */
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
  /** The `$id` of the report's JSON Schema ({@link REPORT_SCHEMA_ID}: `reports/schema/report.schema.json`). */
  $schema?: string;
  /** The report format's version ({@link REPORT_SCHEMA_VERSION}). */
  schemaVersion: number;
  /** How the run was made. */
  meta: RunMeta;
  /** How many results of each verdict. */
  summary: Record<Verdict, number>;
  /** One result per clause and transport. */
  results: ClauseResult[];
  /** The statements the suite waives, with why. */
  waivers: WaiverEntry[];
  /** Which statements a clause covers, when asked for. */
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
