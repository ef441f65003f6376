/**
 * The JSON report: a {@link RunReport} (schema version
 * {@link REPORT_SCHEMA_VERSION}) with every result, the waivers and the
 * coverage per area and role.
 *
 * @module
 */
import {
  REPORT_SCHEMA_ID,
  REPORT_SCHEMA_VERSION,
  type RunMeta,
  type RunReport,
  summarize,
} from "../harness/core/result.ts";
import type { ClauseResult, CoverageRow, WaiverEntry } from "../harness/core/result.ts";
import { writeTextAtomic, writeTextAtomicSync } from "./files.ts";

/** Builds a report from the results of a run. */
export function buildReport(args: {
  meta: RunMeta;
  results: readonly ClauseResult[];
  waivers: readonly WaiverEntry[];
  coverage?: readonly CoverageRow[];
}): RunReport {
  const report: RunReport = {
    $schema: REPORT_SCHEMA_ID,
    schemaVersion: REPORT_SCHEMA_VERSION,
    meta: args.meta,
    summary: summarize(args.results),
    results: [...args.results],
    waivers: [...args.waivers],
  };
  if (args.coverage) report.coverage = [...args.coverage];
  return report;
}

/** The report as JSON text (two-space indentation, final newline). */
export function reportJson(report: RunReport): string {
  return JSON.stringify(report, null, 2) + "\n";
}

/** Writes the report to `path` atomically, creating the directory if missing. */
export function writeJsonReport(path: string, report: RunReport): Promise<void> {
  return writeTextAtomic(path, reportJson(report));
}

/** {@link writeJsonReport}, synchronously (for signal handlers). */
export function writeJsonReportSync(path: string, report: RunReport): void {
  writeTextAtomicSync(path, reportJson(report));
}

/** The JSON-lines companion of a JSON report path: `x.json` → `x.jsonl`. */
export function jsonLinesPath(jsonPath: string): string {
  return jsonPath.endsWith(".json") ? `${jsonPath}l` : `${jsonPath}.jsonl`;
}

/** Reads a report back and checks the schema version. */
export async function readJsonReport(path: string): Promise<RunReport> {
  const data = JSON.parse(await Deno.readTextFile(path)) as RunReport;
  if (data?.schemaVersion !== REPORT_SCHEMA_VERSION) {
    throw new Error(`${path}: schemaVersion ${data?.schemaVersion}, expected ${REPORT_SCHEMA_VERSION}`);
  }
  return data;
}
