/**
 * The HTML matrix in a real headless browser (Debian's chromium over the
 * DevTools protocol, see `chromium_test_support.ts`): the page loads from a
 * file with no console error and no request outside it, has a cell per
 * result, its filters hide what they should, a cell clicked with the mouse
 * opens its detail, and a screenshot is written. Skipped with a message
 * when chromium is not installed (`.ci/run` installs it).
 */
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { CHROMIUM, ChromiumPage } from "./chromium_test_support.ts";
import { main } from "../harness/cli/cli.ts";
import { readJsonReport } from "./json.ts";
import { mergeReports } from "./merge.ts";
import { matrixHtml } from "./html.ts";
import { sampleReport, sampleResults } from "./sample_results_test_data.ts";

const OUT = "reports/out/html_browser_test";

let have = true;
try {
  Deno.statSync(CHROMIUM);
} catch {
  console.warn(`html browser test: SKIPPED: ${CHROMIUM} missing (see .ci/run: chromium)`);
  have = false;
}

/** A real run of the reference rng device (2.4, both its transports) and sample results of every verdict. */
async function page(): Promise<{ path: string; results: number; fails: number }> {
  const quiet = { stdout: () => {}, stderr: () => {}, color: false };
  assertEquals(
    await main(["--target", "reference-rng-device", "--filter", "2.4", "--json", `${OUT}/run.json`], quiet),
    0,
  );
  const samples = {
    ...sampleReport(),
    results: sampleResults().map((r, i) => ({ ...r, section: "9.9", clause: `9.9#${i + 1}`, statement: i + 1 })),
  };
  const { report } = mergeReports([await readJsonReport(`${OUT}/run.json`), samples]);
  const path = `${OUT}/matrix.html`;
  await Deno.writeTextFile(path, matrixHtml(report));
  return { path, results: report.results.length, fails: report.results.filter((r) => r.verdict === "fail").length };
}

Deno.test({
  name: "html matrix in chromium: loads offline without errors, filters hide rows and columns, a cell opens its detail",
  ignore: !have,
  async fn() {
    await Deno.mkdir(OUT, { recursive: true });
    const { path, results, fails } = await page();
    const tab = await ChromiumPage.launch(OUT);
    try {
      await tab.goto(`file://${Deno.realPathSync(path)}`);
      assertEquals(await tab.evaluate<string>("document.title"), "virtio conformance matrix");
      assertEquals(await tab.evaluate<number>(`document.querySelectorAll("#matrix td[data-verdict]").length`), results);
      assertEquals(await tab.evaluate<number>(`document.querySelectorAll("#matrix td.v-fail").length`), fails);
      const visible = (selector: string, attribute: string) =>
        tab.evaluate<string[]>(
          `[...document.querySelectorAll(${JSON.stringify(selector)})].filter((e) => e.getClientRects().length > 0)` +
            `.map((e) => e.getAttribute(${JSON.stringify(attribute)}))`,
        );
      const rows = () => visible("#matrix tbody tr.clause", "data-section");
      const all = (await rows()).length;
      assert(all > 5, `only ${all} rows`);

      // Only failures: every other verdict unticked with the mouse, the rows without a fail disappear.
      const others = ["pass", "warn", "error", "n/a"].map((v) => `input[name=verdict][value="${v}"]`);
      for (const box of others) await tab.click(box);
      assertEquals((await rows()).length, fails);
      assertEquals(await tab.evaluate<string>(`document.getElementById("shown").textContent`), String(fails));
      for (const box of others) await tab.click(box);
      assertEquals((await rows()).length, all);

      // A section: only its rows stay.
      await tab.evaluate(`(() => { const i = document.querySelector("input[name=section]"); i.value = "2.4";
        i.dispatchEvent(new Event("input", { bubbles: true })); })()`);
      const sections = await rows();
      assert(sections.length > 0 && sections.every((s) => s === "2.4" || s.startsWith("2.4.")), sections.join(","));
      await tab.evaluate(`(() => { const i = document.querySelector("input[name=section]"); i.value = "";
        i.dispatchEvent(new Event("input", { bubbles: true })); })()`);
      assertEquals((await rows()).length, all);

      // A target: the other targets' columns go.
      await tab.evaluate(`(() => { const s = document.querySelector("select[name=target]"); s.value = "mutant-a";
        s.dispatchEvent(new Event("change", { bubbles: true })); })()`);
      const targets = await visible("#matrix td.v", "data-target");
      assert(targets.length > 0 && targets.every((t) => t === "mutant-a"), targets.join(","));
      await tab.evaluate(`(() => { const s = document.querySelector("select[name=target]"); s.value = "";
        s.dispatchEvent(new Event("change", { bubbles: true })); })()`);

      // A failed cell clicked opens its detail: expected, actual and the replay command; close hides it.
      const detailShown = () => tab.evaluate<boolean>(`!document.getElementById("detail").hidden`);
      assertEquals(await detailShown(), false);
      await tab.click("#matrix td.v-fail");
      assertEquals(await detailShown(), true);
      const detail = await tab.evaluate<string>(`document.getElementById("detail").textContent`);
      assertStringIncludes(detail, `used idx <= 0 & 'quiet'`);
      assertStringIncludes(detail, "deno task conform --target reference-rng-device");
      await tab.click("#detail button");
      assertEquals(await detailShown(), false);

      const shot = await tab.screenshot();
      assertEquals(String.fromCharCode(...shot.subarray(1, 4)), "PNG");
      await Deno.writeFile(`${OUT}/matrix.png`, shot);
      assertEquals(tab.errors, [], "console errors");
      assertEquals(tab.outside, [], "requests outside the file");
    } finally {
      await tab.close();
    }
  },
});
