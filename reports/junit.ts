/**
 * The JUnit XML report: one `<testsuite>` per target, one `<testcase>` per
 * result. `fail` gives `<failure>`, `error` gives `<error>`, `n/a` gives
 * `<skipped/>`, and `warn` passes with a `<system-out>` note.
 *
 * @module
 */
import type { ClauseResult, RunReport } from "../harness/core/result.ts";
import { writeTextAtomic, writeTextAtomicSync } from "./files.ts";

// Characters XML 1.0 does not allow at all (control characters other than tab, LF, CR; lone surrogates; U+FFFE/F).
const INVALID_XML =
  // deno-lint-ignore no-control-regex
  /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** Escapes text for an XML text node or attribute value (`& < > " '`; invalid characters become U+FFFD). */
export function xmlEscape(s: string): string {
  return s.replace(INVALID_XML, "\uFFFD")
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&apos;");
}

/** Escapes an attribute value, keeping line breaks and tabs as character references. */
export function xmlAttr(s: string): string {
  return xmlEscape(s).replace(/\r/g, "&#13;").replace(/\n/g, "&#10;").replace(/\t/g, "&#9;");
}

function seconds(ms: number): string {
  return (ms / 1000).toFixed(3);
}

function details(r: ClauseResult): string {
  const lines = [`Requirement: ${r.requirement}`];
  lines.push(`Expected: ${r.expected ?? (r.verdict === "error" ? "the clause to run to a verdict" : "?")}`);
  lines.push(`Actual: ${r.actual ?? r.message}`);
  if (r.counterexample) lines.push(`Counterexample: ${r.counterexample}`);
  lines.push(`Seed: ${r.seed}`);
  if (r.replay) lines.push(`Replay: ${r.replay}`);
  return lines.join("\n");
}

function testcase(r: ClauseResult): string[] {
  const open =
    `    <testcase classname="${xmlAttr(`${r.section}/${r.label}`)}" name="${xmlAttr(`${r.clause} ${r.title}`)}" ` +
    `time="${seconds(r.durationMs)}"`;
  switch (r.verdict) {
    case "pass":
      return [`${open}/>`];
    case "n/a":
      return [`${open}>`, `      <skipped message="${xmlAttr(r.message)}"/>`, `    </testcase>`];
    case "warn":
      return [
        `${open}>`,
        `      <system-out>${xmlEscape(`warn (${r.level}): ${r.message}\n${details(r)}`)}</system-out>`,
        `    </testcase>`,
      ];
    case "fail":
      return [
        `${open}>`,
        `      <failure message="${xmlAttr(r.message)}" type="${xmlAttr(r.level)}">${xmlEscape(details(r))}</failure>`,
        `    </testcase>`,
      ];
    case "error":
      return [
        `${open}>`,
        `      <error message="${xmlAttr(r.message)}" type="error">${xmlEscape(details(r))}</error>`,
        `    </testcase>`,
      ];
  }
}

/** The report as JUnit XML: one test suite per target and transport (`name @ transport`). */
export function junitXml(report: RunReport): string {
  const byTarget = new Map<string, ClauseResult[]>();
  for (const t of report.meta.targets) {
    if (!report.results.some((r) => r.target === t)) byTarget.set(t, []);
  }
  for (const r of report.results) {
    const key = `${r.target} @ ${r.transport}`;
    const list = byTarget.get(key) ?? [];
    list.push(r);
    byTarget.set(key, list);
  }
  const incomplete = report.meta.complete === false;
  const total = report.results.length + (incomplete ? 1 : 0);
  const count = (v: ClauseResult["verdict"], rs: readonly ClauseResult[]) => rs.filter((r) => r.verdict === v).length;
  const time = (rs: readonly ClauseResult[]) => seconds(rs.reduce((a, r) => a + r.durationMs, 0));
  const errors = count("error", report.results) + (incomplete ? 1 : 0);
  const out = [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<testsuites name="virtio-conformance ${xmlAttr(report.meta.specVersion)}" tests="${total}" ` +
    `failures="${count("fail", report.results)}" errors="${errors}" ` +
    `skipped="${count("n/a", report.results)}" time="${seconds(report.meta.durationMs)}">`,
  ];
  for (const [target, rs] of byTarget) {
    out.push(
      `  <testsuite name="${xmlAttr(target)}" tests="${rs.length}" failures="${count("fail", rs)}" ` +
        `errors="${count("error", rs)}" skipped="${count("n/a", rs)}" time="${time(rs)}" ` +
        `timestamp="${xmlAttr(report.meta.start)}">`,
    );
    out.push(`    <properties>`);
    const props: [string, string][] = [
      ["specVersion", report.meta.specVersion],
      ["suiteVersion", report.meta.suiteVersion],
      ["seed", String(report.meta.seed)],
      ["runs", String(report.meta.runs)],
      ["strict", String(report.meta.strict)],
    ];
    if (rs[0]) props.push(["transport", rs[0].transport], ["deviceType", rs[0].deviceType]);
    for (const [k, v] of props) out.push(`      <property name="${xmlAttr(k)}" value="${xmlAttr(v)}"/>`);
    out.push(`    </properties>`);
    for (const r of rs) out.push(...testcase(r));
    out.push(`  </testsuite>`);
  }
  if (incomplete) {
    // A CI reading only the JUnit file must not take an interrupted run for a green one.
    const why = `the run stopped before it finished${report.meta.stopped ? ` (${report.meta.stopped})` : ""}: ` +
      `${report.results.length} results were obtained`;
    out.push(
      `  <testsuite name="run" tests="1" failures="0" errors="1" skipped="0" time="0">`,
      `    <testcase name="the run finished" classname="run" time="0">`,
      `      <error message="${xmlAttr(why)}" type="incomplete"/>`,
      `    </testcase>`,
      `  </testsuite>`,
    );
  }
  out.push(`</testsuites>`);
  return out.join("\n") + "\n";
}

/** Writes the JUnit XML report to `path` atomically, creating the directory if missing. */
export function writeJunitReport(path: string, report: RunReport): Promise<void> {
  return writeTextAtomic(path, junitXml(report));
}

/** {@link writeJunitReport}, synchronously (for signal handlers). */
export function writeJunitReportSync(path: string, report: RunReport): void {
  writeTextAtomicSync(path, junitXml(report));
}
