/**
 * Coverage of the spec's normative statements by clauses and waivers, per
 * area and role, over the areas in scope for this release.
 *
 * A statement counts when its keyword is MUST / MUST NOT (mandatory) or
 * SHOULD / SHOULD NOT (advisory); MAY statements are not counted. A statement
 * is covered when a clause names its `label#statement`, waived when a waiver
 * names it (and no clause does).
 *
 * @module
 */
import { type Clause, clauseKey, validateClause, type Waiver } from "./clause.ts";
import type { CoverageRow } from "./result.ts";
import { type Level, type Role, type SpecBlock, specBlocks } from "../spec_data.ts";

/** The areas (a block's `areaSection`) this release covers. */
export const AREAS_IN_SCOPE: readonly string[] = [
  "2.1",
  "2.2",
  "2.4",
  "2.5",
  "2.6",
  "2.7",
  "2.8",
  "2.10",
  "3.1",
  "3.3",
  "3.4",
  "4.1",
  "4.2",
  "5.2",
  "5.3",
  "5.4",
  "6",
];

/** The order roles are reported in. */
const ROLES: readonly Role[] = ["device", "driver"];

/** True for MUST / MUST NOT. */
export function isMandatory(level: Level): boolean {
  return level === "MUST" || level === "MUST NOT";
}

/** True for SHOULD / SHOULD NOT. */
function isAdvisoryLevel(level: Level): boolean {
  return level === "SHOULD" || level === "SHOULD NOT";
}

/** One counted statement of a block in scope. */
export interface ScopedStatement {
  label: string;
  section: string;
  area: string;
  role: Role;
  statement: number;
  level: Level;
  /** A clause checks it. */
  covered: boolean;
  /** A waiver answers it (and no clause checks it). */
  waived: boolean;
}

/** A coverage row with the waived statements split by level (for the table). */
export interface CoverageDetail extends CoverageRow {
  mandatoryWaived: number;
  advisoryWaived: number;
}

/** A mandatory statement in scope that no clause checks and no waiver answers. */
export interface UncoveredStatement {
  label: string;
  section: string;
  statement: number;
  level: Level;
}

/** What the coverage functions read; defaults to the spec data and {@link AREAS_IN_SCOPE}. */
export interface CoverageOptions {
  areas?: readonly string[];
  blocks?: readonly SpecBlock[];
}

function blocksInScope(opts: CoverageOptions): SpecBlock[] {
  const areas = opts.areas ?? AREAS_IN_SCOPE;
  return (opts.blocks ?? specBlocks()).filter((b) => b.scope === "in" && areas.includes(b.areaSection));
}

/** Every MUST / SHOULD statement (with negations) in scope, with whether a clause or waiver answers it. */
export function scopedStatements(
  clauses: readonly Pick<Clause, "label" | "statement">[],
  waivers: readonly Waiver[],
  opts: CoverageOptions = {},
): ScopedStatement[] {
  const covered = new Set(clauses.map(clauseKey));
  const waived = new Set(waivers.map(clauseKey));
  const out: ScopedStatement[] = [];
  for (const b of blocksInScope(opts)) {
    b.statements.forEach((level, i) => {
      if (!isMandatory(level) && !isAdvisoryLevel(level)) return;
      const key = clauseKey({ label: b.label, statement: i + 1 });
      const isCovered = covered.has(key);
      out.push({
        label: b.label,
        section: b.section,
        area: b.areaSection,
        role: b.role,
        statement: i + 1,
        level,
        covered: isCovered,
        waived: !isCovered && waived.has(key),
      });
    });
  }
  return out;
}

/** Coverage per area and role, with the waived statements split by level. */
export function coverageDetails(
  clauses: readonly Pick<Clause, "label" | "statement">[],
  waivers: readonly Waiver[],
  opts: CoverageOptions = {},
): CoverageDetail[] {
  const statements = scopedStatements(clauses, waivers, opts);
  const areas = opts.areas ?? AREAS_IN_SCOPE;
  const present = new Set(blocksInScope(opts).map((b) => `${b.areaSection} ${b.role}`));
  const rows: CoverageDetail[] = [];
  for (const area of areas) {
    for (const role of ROLES) {
      if (!present.has(`${area} ${role}`)) continue;
      const mine = statements.filter((s) => s.area === area && s.role === role);
      const mandatory = mine.filter((s) => isMandatory(s.level));
      const advisory = mine.filter((s) => !isMandatory(s.level));
      const mandatoryWaived = mandatory.filter((s) => s.waived).length;
      const advisoryWaived = advisory.filter((s) => s.waived).length;
      rows.push({
        area,
        role,
        mandatory: mandatory.length,
        mandatoryCovered: mandatory.filter((s) => s.covered).length,
        advisory: advisory.length,
        advisoryCovered: advisory.filter((s) => s.covered).length,
        waived: mandatoryWaived + advisoryWaived,
        mandatoryWaived,
        advisoryWaived,
      });
    }
  }
  return rows;
}

/**
 * Coverage per area and role (the rows the JSON report carries).
 *
 * @example
 * ```ts
 * import { computeCoverage } from "./coverage.ts";
 * const rows = computeCoverage([], []);
 * console.log(rows[0]?.area, rows[0]?.mandatoryCovered); // "2.1" 0
 * ```
 */
export function computeCoverage(
  clauses: readonly Pick<Clause, "label" | "statement">[],
  waivers: readonly Waiver[],
  opts: CoverageOptions = {},
): CoverageRow[] {
  return coverageDetails(clauses, waivers, opts).map((d) => ({
    area: d.area,
    role: d.role,
    mandatory: d.mandatory,
    mandatoryCovered: d.mandatoryCovered,
    advisory: d.advisory,
    advisoryCovered: d.advisoryCovered,
    waived: d.waived,
  }));
}

/** Percent of the mandatory statements answered by a clause or a waiver (100 when there are none). */
export function mandatoryPercent(d: CoverageDetail): number {
  if (d.mandatory === 0) return 100;
  return Math.floor(((d.mandatoryCovered + d.mandatoryWaived) * 1000) / d.mandatory) / 10;
}

/** The mandatory statements in scope that are neither covered nor waived, in spec order. */
export function uncoveredMandatory(
  clauses: readonly Pick<Clause, "label" | "statement">[],
  waivers: readonly Waiver[],
  opts: CoverageOptions = {},
): UncoveredStatement[] {
  return scopedStatements(clauses, waivers, opts)
    .filter((s) => isMandatory(s.level) && !s.covered && !s.waived)
    .map((s) => ({ label: s.label, section: s.section, statement: s.statement, level: s.level }));
}

/** A problem found in the clause and waiver lists. */
export interface Problem {
  /** `label#statement` of the clause or waiver. */
  key: string;
  kind: "clause" | "waiver";
  message: string;
}

/**
 * Validates every clause and waiver against the spec data
 * ({@link validateClause}) and checks that waivers carry a reason, are not
 * duplicated and do not answer a statement a clause already checks.
 */
export function validateAll(clauses: readonly Clause[], waivers: readonly Waiver[]): Problem[] {
  const problems: Problem[] = [];
  for (const c of clauses) {
    for (const m of validateClause(c)) problems.push({ key: clauseKey(c), kind: "clause", message: m });
  }
  const checked = new Set(clauses.map(clauseKey));
  const seen = new Set<string>();
  for (const w of waivers) {
    const key = clauseKey(w);
    for (const m of validateClause(w)) problems.push({ key, kind: "waiver", message: m });
    if (!w.reason || !w.reason.trim()) problems.push({ key, kind: "waiver", message: "the waiver gives no reason" });
    if (seen.has(key)) problems.push({ key, kind: "waiver", message: "the statement is waived twice" });
    if (checked.has(key)) {
      problems.push({ key, kind: "waiver", message: "the statement is both checked by a clause and waived" });
    }
    seen.add(key);
  }
  return problems;
}
