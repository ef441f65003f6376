/**
 * `deno task coverage`: the coverage table per area and role, the mandatory
 * statements in scope that nothing answers, and the problems of the clause
 * and waiver lists. Exits 1 when a mandatory statement in scope is neither
 * covered nor waived, or when a clause or waiver is malformed.
 *
 * @module
 */
import { CLAUSES, WAIVERS } from "../../suites/mod.ts";
import type { Clause, Waiver } from "../core/clause.ts";
import {
  AREAS_IN_SCOPE,
  coverageDetails,
  type CoverageOptions,
  mandatoryPercent,
  uncoveredMandatory,
  validateAll,
} from "../core/coverage.ts";
import { SPEC_VERSION } from "../spec_data.ts";

function pad(s: string, n: number, right = false): string {
  return right ? s.padStart(n) : s.padEnd(n);
}

/** Renders the coverage table, one line per area and role, and a total line. */
export function coverageTable(
  clauses: readonly Clause[],
  waivers: readonly Waiver[],
  opts: CoverageOptions = {},
): string[] {
  const rows = coverageDetails(clauses, waivers, opts);
  const header = ["area", "role", "mandatory", "advisory", "waived", "mandatory %"];
  const widths = [6, 7, 11, 10, 7, 12];
  const line = (cells: string[]) => cells.map((c, i) => pad(c, widths[i]!, i >= 2)).join("  ").trimEnd();
  const out = [line(header), line(widths.map((w) => "-".repeat(w)))];
  const total = {
    mandatory: 0,
    mandatoryCovered: 0,
    advisory: 0,
    advisoryCovered: 0,
    waived: 0,
    mandatoryWaived: 0,
    advisoryWaived: 0,
  };
  for (const r of rows) {
    out.push(line([
      r.area,
      r.role,
      `${r.mandatoryCovered}/${r.mandatory}`,
      `${r.advisoryCovered}/${r.advisory}`,
      String(r.waived),
      `${mandatoryPercent(r).toFixed(1)}%`,
    ]));
    for (const k of Object.keys(total) as (keyof typeof total)[]) total[k] += r[k];
  }
  out.push(line(widths.map((w) => "-".repeat(w))));
  out.push(line([
    "total",
    "",
    `${total.mandatoryCovered}/${total.mandatory}`,
    `${total.advisoryCovered}/${total.advisory}`,
    String(total.waived),
    `${mandatoryPercent({ area: "", role: "device", ...total }).toFixed(1)}%`,
  ]));
  return out;
}

/**
 * Prints the coverage report and returns the exit code: 0 when every
 * mandatory statement in scope is covered or waived and every clause and
 * waiver is well formed, 1 otherwise.
 */
export function runCoverage(
  clauses: readonly Clause[],
  waivers: readonly Waiver[],
  write: (line: string) => void,
  opts: CoverageOptions = {},
): number {
  const areas = opts.areas ?? AREAS_IN_SCOPE;
  write(`Coverage of spec ${SPEC_VERSION}, areas in scope: ${areas.join(", ")}`);
  write(`${clauses.length} clauses, ${waivers.length} waivers`);
  write("");
  for (const l of coverageTable(clauses, waivers, opts)) write(l);
  const uncovered = uncoveredMandatory(clauses, waivers, opts);
  write("");
  if (uncovered.length === 0) write("Every mandatory statement in scope is covered or waived.");
  else {
    write(`${uncovered.length} mandatory statements in scope are neither covered nor waived:`);
    const w = Math.max(...uncovered.map((u) => `${u.section}#${u.statement}`.length));
    for (const u of uncovered) write(`  ${pad(`${u.section}#${u.statement}`, w)}  ${pad(u.level, 8)}  ${u.label}`);
  }
  const problems = validateAll(clauses, waivers);
  if (problems.length > 0) {
    write("");
    write(`${problems.length} problems in the clause and waiver lists:`);
    for (const p of problems) write(`  ${p.kind} ${p.key}: ${p.message}`);
  }
  return uncovered.length > 0 || problems.length > 0 ? 1 : 0;
}

if (import.meta.main) {
  Deno.exit(runCoverage(CLAUSES, WAIVERS, (l) => console.log(l)));
}
