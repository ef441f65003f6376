import { assertEquals, assertRejects } from "@std/assert";
import { REPORT_SCHEMA_VERSION } from "../harness/core/result.ts";
import { buildReport, readJsonReport, reportJson, writeJsonReport } from "./json.ts";
import { sampleReport, sampleResults } from "./sample_results_test_data.ts";

const OUT = "reports/out/json_test";

Deno.test("json: buildReport counts verdicts and keeps waivers and coverage", () => {
  const sample = sampleReport();
  const report = buildReport({
    meta: sample.meta,
    results: sampleResults(),
    waivers: sample.waivers,
    coverage: sample.coverage!,
  });
  assertEquals(report.schemaVersion, REPORT_SCHEMA_VERSION);
  assertEquals(report.summary, { pass: 1, fail: 1, warn: 1, "n/a": 1, error: 1 });
  assertEquals(report.waivers, sample.waivers);
  assertEquals(report.coverage, sample.coverage);
});

Deno.test("json: a written report parses back unchanged, in a directory created on demand", async () => {
  const path = `${OUT}/${crypto.randomUUID()}/nested/report.json`;
  const report = sampleReport();
  await writeJsonReport(path, report);
  const text = await Deno.readTextFile(path);
  assertEquals(text.endsWith("\n"), true);
  assertEquals(JSON.parse(text), report);
  assertEquals(await readJsonReport(path), report);
  await Deno.remove(path.slice(0, path.indexOf("/nested")), { recursive: true });
});

Deno.test("json: the report keeps the schema's field names", () => {
  const data = JSON.parse(reportJson(sampleReport()));
  assertEquals(Object.keys(data).sort(), ["coverage", "meta", "results", "schemaVersion", "summary", "waivers"]);
  const r = data.results[1];
  for (
    const k of [
      "clause",
      "label",
      "statement",
      "section",
      "role",
      "level",
      "transport",
      "target",
      "deviceType",
      "title",
    ]
  ) {
    assertEquals(k in r, true, k);
  }
  for (
    const k of [
      "requirement",
      "verdict",
      "durationMs",
      "message",
      "expected",
      "actual",
      "seed",
      "replay",
      "counterexample",
    ]
  ) {
    assertEquals(k in r, true, k);
  }
});

Deno.test("json: readJsonReport refuses another schema version", async () => {
  const path = `${OUT}/${crypto.randomUUID()}.json`;
  await writeJsonReport(path, { ...sampleReport(), schemaVersion: 999 });
  await assertRejects(() => readJsonReport(path), Error, "schemaVersion 999");
  await Deno.remove(path);
});
