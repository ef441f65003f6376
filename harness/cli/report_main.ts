/**
 * `deno task report [--out <dir>] <report.json>…`: merges JSON reports (targets, transports, shards, runs from other
 * machines) into `<dir>/merged.json`, `<dir>/merged.junit.xml`, the Markdown conformance matrix `<dir>/matrix.md` and the
 * same matrix as a self-contained HTML page `<dir>/matrix.html`
 * (default dir `reports/merged`). A clause found twice for the same target and transport is named on stderr (the first
 * is kept). Exit codes: 0 merged, 1 merged with conflicts, 2 usage or unreadable input.
 *
 * @module
 */
import { flagValue, parseFlags } from "./flags.ts";
import { readJsonReport, writeJsonReport } from "../../reports/json.ts";
import { writeJunitReport } from "../../reports/junit.ts";
import { matrixMarkdown, mergeReports } from "../../reports/merge.ts";
import { matrixHtml } from "../../reports/html.ts";
import { writeTextAtomic } from "../../reports/files.ts";
import type { RunReport } from "../core/result.ts";
import { errorText } from "../text.ts";

const USAGE = `Usage: deno task report [--out <dir>] <report.json> [<report.json> …]
  Merges JSON reports into <dir>/merged.json, merged.junit.xml, matrix.md and matrix.html (default dir reports/merged).`;

/** Runs the task; returns the exit code. */
export async function reportMain(args: string[], io = { out: console.log, err: console.error }): Promise<number> {
  let f;
  try {
    f = parseFlags(args, { values: ["out"], booleans: [], positional: true });
  } catch (e) {
    io.err(`report: error: ${errorText(e)}\n${USAGE}`);
    return 2;
  }
  if (f.booleans.has("help")) {
    io.out(USAGE);
    return 0;
  }
  const files = f.positional;
  if (files.length === 0) {
    io.err(`report: error: name at least one JSON report\n${USAGE}`);
    return 2;
  }
  const reports: RunReport[] = [];
  for (const f of files) {
    try {
      reports.push(await readJsonReport(f));
    } catch (e) {
      io.err(`report: error: cannot read ${f}: ${errorText(e).split("\n")[0]}`);
      return 2;
    }
  }
  const { report, conflicts } = mergeReports(reports);
  for (const c of conflicts) io.err(`report: conflict: ${c}`);
  const dir = flagValue(f, "out") ?? "reports/merged";
  await writeJsonReport(`${dir}/merged.json`, report);
  await writeJunitReport(`${dir}/merged.junit.xml`, report);
  await writeTextAtomic(`${dir}/matrix.md`, matrixMarkdown(report));
  await writeTextAtomic(`${dir}/matrix.html`, matrixHtml(report));
  const s = report.summary;
  io.out(
    `report: ${files.length} reports, ${report.results.length} results (${s.pass} pass, ${s.fail} fail, ${s.warn} warn, ` +
      `${s["n/a"]} n/a, ${s.error} error) → ${dir}/matrix.html, matrix.md, merged.json, merged.junit.xml`,
  );
  return conflicts.length > 0 ? 1 : 0;
}

if (import.meta.main) Deno.exit(await reportMain(Deno.args));
