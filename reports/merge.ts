/**
 * Merging reports: any number of JSON reports (targets, transports, shards,
 * runs from other machines) become one, and the same clause of the same
 * target and transport in two of them is a conflict named in one sentence.
 * The merged report renders as a Markdown conformance matrix compact enough
 * for a CI job summary: counts per column, then the rows with anything but
 * `pass` or `n/a`, then the whole matrix folded away.
 *
 * @module
 */
import {
  type ClauseResult,
  REPORT_SCHEMA_ID,
  REPORT_SCHEMA_VERSION,
  type RunReport,
  summarize,
  type Verdict,
} from "../harness/core/result.ts";

/** The merge of several reports and what did not fit. */
export interface MergedReports {
  report: RunReport;
  /** One sentence per clause found twice for the same target and transport (the first one is kept). */
  conflicts: string[];
}

const keyOf = (r: ClauseResult) => `${r.target}\u0000${r.transport}\u0000${r.clause}`;

/**
 * Merges reports into one: results in the order given, the first of a duplicate kept; `meta` from the first report
 * with every target named and `complete` only when every report was.
 *
 * @example
 * ```ts ignore
 * const { report, conflicts } = mergeReports([await readJsonReport("a.json"), await readJsonReport("b.json")]);
 * ```
 */
export function mergeReports(reports: readonly RunReport[]): MergedReports {
  if (reports.length === 0) throw new Error("No report to merge");
  const seen = new Map<string, { result: ClauseResult; from: number }>();
  const results: ClauseResult[] = [];
  const conflicts: string[] = [];
  reports.forEach((rep, i) => {
    for (const r of rep.results) {
      const k = keyOf(r);
      const first = seen.get(k);
      if (first) {
        conflicts.push(
          `clause ${r.clause} of ${r.target} over ${r.transport} is in report ${
            first.from + 1
          } (${first.result.verdict}) ` +
            `and report ${i + 1} (${r.verdict}): the first is kept`,
        );
        continue;
      }
      seen.set(k, { result: r, from: i });
      results.push(r);
    }
  });
  const first = reports[0]!;
  const targets = [...new Set(reports.flatMap((r) => r.meta.targets))];
  const waivers = new Map(reports.flatMap((r) => r.waivers).map((w) => [`${w.label}#${w.statement}`, w]));
  const complete = reports.every((r) => r.meta.complete !== false);
  const { shard: _shard, ...meta } = first.meta;
  return {
    report: {
      $schema: REPORT_SCHEMA_ID,
      schemaVersion: REPORT_SCHEMA_VERSION,
      meta: { ...meta, targets, complete },
      summary: summarize(results),
      results,
      waivers: [...waivers.values()],
    },
    conflicts,
  };
}

const MARK: Record<Verdict, string> = { pass: "pass", fail: "**FAIL**", warn: "warn", "n/a": "·", error: "**ERROR**" };

/** Escapes a table cell's text. */
function cell(text: string): string {
  return text.replace(/\|/g, "\\|").replace(/\n/g, " ");
}

/**
 * The conformance matrix in Markdown: a column per target and transport, a row per clause (ordered by section), the
 * counts per column first, then the rows with a fail, an error or a warning, then every row inside `<details>`.
 *
 * @example
 * ```ts ignore
 * await Deno.writeTextFile("matrix.md", matrixMarkdown(merged.report));
 * ```
 */
export function matrixMarkdown(report: RunReport): string {
  const columns = [...new Set(report.results.map((r) => `${r.target} ${r.transport}`))].sort();
  const rows = new Map<string, { first: ClauseResult; cells: Map<string, ClauseResult> }>();
  for (const r of report.results) {
    const row = rows.get(r.clause) ?? { first: r, cells: new Map() };
    row.cells.set(`${r.target} ${r.transport}`, r);
    rows.set(r.clause, row);
  }
  const ordered = [...rows.values()].sort((a, b) =>
    a.first.section.localeCompare(b.first.section, "en", { numeric: true }) ||
    a.first.statement - b.first.statement || a.first.clause.localeCompare(b.first.clause)
  );
  const header = `| clause | level | ${columns.map(cell).join(" | ")} |`;
  const rule = `|---|---|${columns.map(() => "---").join("|")}|`;
  const line = (row: { first: ClauseResult; cells: Map<string, ClauseResult> }) =>
    `| ${cell(`${row.first.clause} ${row.first.title}`)} | ${row.first.level} | ${
      columns.map((c) => {
        const r = row.cells.get(c);
        return r ? MARK[r.verdict] : "";
      }).join(" | ")
    } |`;
  const counts = columns.map((c) => {
    const s = summarize(report.results.filter((r) => `${r.target} ${r.transport}` === c));
    return `| ${cell(c)} | ${s.pass} | ${s.fail} | ${s.warn} | ${s["n/a"]} | ${s.error} |`;
  });
  const notable = ordered.filter((row) =>
    [...row.cells.values()].some((r) => r.verdict === "fail" || r.verdict === "error" || r.verdict === "warn")
  );
  const s = report.summary;
  const out = [
    `# Conformance matrix`,
    "",
    `${report.results.length} results over ${columns.length} target × transport columns: ${s.pass} pass, ${s.fail} fail, ` +
    `${s.warn} warn, ${s["n/a"]} n/a, ${s.error} error${report.meta.complete === false ? " (incomplete)" : ""}.`,
    "",
    "| target transport | pass | fail | warn | n/a | error |",
    "|---|---|---|---|---|---|",
    ...counts,
    "",
    notable.length > 0 ? `## Not passing (${notable.length} clauses)` : "## Not passing: none",
    "",
    ...(notable.length > 0 ? [header, rule, ...notable.map(line), ""] : []),
    "<details><summary>Every clause</summary>",
    "",
    header,
    rule,
    ...ordered.map(line),
    "",
    "</details>",
    "",
  ];
  return out.join("\n");
}
