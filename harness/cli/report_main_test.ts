import { assertEquals, assertStringIncludes } from "@std/assert";
import { main } from "./cli.ts";
import { reportMain } from "./report_main.ts";
import { readJsonReport } from "../../reports/json.ts";

const OUT = "reports/out/report_main_test";

Deno.test("report task: two real runs merge into one report, a JUnit file and the Markdown and HTML matrices", async () => {
  const quiet = { stdout: () => {}, stderr: () => {}, color: false };
  for (const t of ["reference-rng-device", "reference-blk-device"]) {
    const code = await main(["--target", t, "--filter", "2.4", "--json", `${OUT}/${t}.json`], quiet);
    assertEquals(code, 0);
  }
  const printed: string[] = [];
  const code = await reportMain(
    [`${OUT}/reference-rng-device.json`, `${OUT}/reference-blk-device.json`, "--out", `${OUT}/merged`],
    { out: (l: string) => printed.push(l), err: (l: string) => printed.push(l) },
  );
  assertEquals(code, 0, printed.join("\n"));
  const merged = await readJsonReport(`${OUT}/merged/merged.json`);
  assertEquals(merged.meta.targets, ["reference-rng-device", "reference-blk-device"]);
  const md = await Deno.readTextFile(`${OUT}/merged/matrix.md`);
  assertStringIncludes(md, "| reference-blk-device mmio |");
  assertStringIncludes(md, "| reference-rng-device pci |");
  assertStringIncludes(await Deno.readTextFile(`${OUT}/merged/merged.junit.xml`), "<testsuites");
  const html = await Deno.readTextFile(`${OUT}/merged/matrix.html`);
  assertStringIncludes(html, ">reference-rng-device pci</th>");
  assertEquals(html.match(/<td class="v v-/g)?.length, merged.results.length);
  // The same report twice: every clause is a conflict, named, and the exit code says so.
  const again = await reportMain([
    `${OUT}/reference-rng-device.json`,
    `${OUT}/reference-rng-device.json`,
    "--out",
    `${OUT}/dup`,
  ], {
    out: () => {},
    err: () => {},
  });
  assertEquals(again, 1);
  assertEquals(await reportMain(["no-such.json"], { out: () => {}, err: () => {} }), 2);
});
