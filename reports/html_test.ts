import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import type { ClauseResult, RunReport } from "../harness/core/result.ts";
import { summarize } from "../harness/core/result.ts";
import { areaOf, matrixHtml } from "./html.ts";
import { sampleReport, sampleResults } from "./sample_results_test_data.ts";

/** The sample results, each in its own cell (clause × target × transport). */
const SAMPLE_RESULTS: ClauseResult[] = sampleResults().map((r, i) => ({ ...r, clause: `${r.section}#${i + 1}` }));

function report(results: ClauseResult[]): RunReport {
  return { ...sampleReport(), summary: summarize(results), results };
}

Deno.test("html matrix: one cell per result, in its verdict's colour, with its index into the embedded results", () => {
  const page = matrixHtml(report(SAMPLE_RESULTS));
  const cells = [...page.matchAll(/<td class="v v-(\w+)"[^>]*data-verdict="([^"]+)" data-i="(\d+)"/g)];
  assertEquals(cells.length, SAMPLE_RESULTS.length);
  for (const [, cls, verdict] of cells) assertEquals(cls, verdict === "n/a" ? "na" : verdict);
  assertEquals(new Set(cells.map((c) => c[3])).size, SAMPLE_RESULTS.length);
  // Self-contained: no external script, style, image or font.
  assert(!/<(script|link|img)[^>]+(src|href)=/i.test(page), "the page loads something from outside");
});

Deno.test("html matrix: text from a target cannot break out of the page", () => {
  const hostile = { ...SAMPLE_RESULTS[0]!, message: `</script><script>alert(1)</script><b x="'">` };
  const page = matrixHtml(report([hostile]));
  assertEquals(page.match(/<script/g)?.length, 2, "only the page's own two script elements");
  assertStringIncludes(page, "&lt;/script&gt;&lt;script&gt;alert(1)");
  const data = page.match(/<script type="application\/json" id="results">(.*?)<\/script>/s)?.[1] ?? "";
  assertEquals(JSON.parse(data)[0].message, hostile.message);
});

Deno.test("html matrix: areas are the first two levels of a section", () => {
  assertEquals(areaOf("2.7.5.3.2"), "2.7");
  assertEquals(areaOf("4.1.4.3.1"), "4.1");
  assertEquals(areaOf("6"), "6");
});
