/**
 * The reports the suite writes validate against the published JSON Schemas (`reports/schema/`), with Ajv (npm), and a
 * report whose shape drifts does not.
 */
import { assert, assertEquals } from "@std/assert";
import Ajv2020Module from "ajv/dist/2020.js";
import { main } from "../../harness/cli/cli.ts";
import { parse as parseJsonc } from "@std/jsonc";
import { validateExpectations } from "../../harness/core/expectations.ts";

// The npm module's default export, whether Deno hands over the module or its default.
const Ajv2020 = ((Ajv2020Module as unknown as { default?: unknown }).default ?? Ajv2020Module) as unknown as new (
  opts: Record<string, unknown>,
) => {
  addSchema(schema: unknown): unknown;
  getSchema(id: string): ((data: unknown) => boolean) & { errors?: unknown[] | null } | undefined;
};

const OUT = "reports/out/schema_test";
const ID = "https://virtio-conformance.invalid/schema/";

async function validators() {
  const ajv = new Ajv2020({ allErrors: true, strict: true, validateFormats: false });
  for (const f of ["report.schema.json", "lines.schema.json", "expectations.schema.json"]) {
    ajv.addSchema(JSON.parse(await Deno.readTextFile(`reports/schema/${f}`)));
  }
  return {
    report: ajv.getSchema(`${ID}report.schema.json`)!,
    line: ajv.getSchema(`${ID}lines.schema.json`)!,
    expectations: ajv.getSchema(`${ID}expectations.schema.json`)!,
  };
}

Deno.test("schemas: a real run's JSON report and every JSON Lines record validate", async () => {
  const v = await validators();
  const quiet = { stdout: () => {}, stderr: () => {}, color: false };
  for (const target of ["reference-blk-device", "reference-driver"]) {
    const json = `${OUT}/${target}.json`;
    assertEquals(await main(["--target", target, "--filter", "2.4", "--strict", "--json", json], quiet), 0);
    const report = JSON.parse(await Deno.readTextFile(json));
    assert(v.report(report), JSON.stringify(v.report.errors));
    // The report names its schema by the schema's own $id.
    const schema = JSON.parse(await Deno.readTextFile("reports/schema/report.schema.json"));
    assertEquals(report.$schema, schema.$id);
    const lines = (await Deno.readTextFile(`${json}l`)).trim().split("\n").map((l) => JSON.parse(l));
    for (const l of lines) assert(v.line(l), `${l.kind}: ${JSON.stringify(v.line.errors)}`);
  }
});

Deno.test("schemas: a report with a renamed field, an unknown verdict or a stray key does not validate", async () => {
  const v = await validators();
  const quiet = { stdout: () => {}, stderr: () => {}, color: false };
  const json = `${OUT}/drift.json`;
  assertEquals(await main(["--target", "reference-rng-device", "--filter", "2.4", "--json", json], quiet), 0);
  const good = JSON.parse(await Deno.readTextFile(json));
  assert(v.report(good));
  const renamed = structuredClone(good);
  renamed.results[0].verdictName = renamed.results[0].verdict;
  delete renamed.results[0].verdict;
  assert(!v.report(renamed), "a renamed result field");
  const unknown = structuredClone(good);
  unknown.results[0].verdict = "maybe";
  assert(!v.report(unknown), "an unknown verdict");
  const stray = structuredClone(good);
  stray.meta.extra = 1;
  assert(!v.report(stray), "a stray meta key");
  assert(!v.line({ kind: "result", ...good.results[0], extra: true }), "a stray key on a result line");
});

Deno.test("schemas: every shipped expectations file validates, and the schema refuses what the reader refuses", async () => {
  const v = await validators();
  let files = 0;
  for await (const e of Deno.readDir("fixtures/expectations")) {
    if (!e.name.endsWith(".jsonc")) continue;
    const data = parseJsonc(await Deno.readTextFile(`fixtures/expectations/${e.name}`));
    assert(v.expectations(data), `${e.name}: ${JSON.stringify(v.expectations.errors)}`);
    validateExpectations(data, e.name);
    files++;
  }
  assert(files >= 20, `only ${files} expectations files`);
  const entry = { clauseKey: "devicenormative:X#1", id: "2.1#1", verdict: "fail", reason: "why" };
  const ok = { target: "t", seed: 1, runs: 50, strict: true, expectations: [entry] };
  assert(v.expectations(ok), JSON.stringify(v.expectations.errors));
  const bad: unknown[] = [
    { ...ok, extra: 1 },
    { ...ok, runs: 0 },
    { ...ok, target: "" },
    { ...ok, expectations: [{ ...entry, verdict: "pass" }] },
    { ...ok, expectations: [{ ...entry, verdict: "n/a" }] },
    { ...ok, expectations: [{ ...entry, clauseKey: "no statement" }] },
    { ...ok, expectations: [{ ...entry, reason: "two\nlines" }] },
    { ...ok, expectations: [{ ...entry, reason: "   " }] },
    { ...ok, expectations: [{ ...entry, note: "x" }] },
  ];
  for (const b of bad) {
    assert(!v.expectations(b), `the schema accepts ${JSON.stringify(b)}`);
    let refused = false;
    try {
      validateExpectations(b);
    } catch {
      refused = true;
    }
    assert(refused, `the reader accepts ${JSON.stringify(b)}`);
  }
});

Deno.test("schemas: ten rounds of two conform processes started together leave every report whole and valid", async () => {
  const v = await validators();
  const runs = "reports/runs";
  const seen = new Set<string>();
  try {
    for (const e of Deno.readDirSync(runs)) seen.add(e.name);
  } catch {
    // no runs yet
  }
  const conform = () =>
    new Deno.Command("deno", {
      args: [
        "run",
        "--no-prompt",
        "-P=conform",
        "conform.ts",
        "--target",
        "reference-rng-device",
        "--transport",
        "mmio",
      ]
        .concat(["--filter", "2.4", "--no-progress"]),
      stdout: "null",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).output();
  for (let round = 1; round <= 10; round++) {
    const outs = await Promise.all([conform(), conform()]);
    for (const o of outs) assertEquals(o.code, 0, new TextDecoder().decode(o.stderr));
    const fresh = [...Deno.readDirSync(runs)].map((e) => e.name).filter((n) => !seen.has(n));
    fresh.forEach((n) => seen.add(n));
    const reports = fresh.filter((n) => n.endsWith(".json"));
    assertEquals(reports.length, 2, `round ${round}: new run reports ${fresh.join(", ")}`);
    const texts: string[] = [];
    for (const name of reports) {
      const text = await Deno.readTextFile(`${runs}/${name}`);
      texts.push(text);
      const report = JSON.parse(text);
      assert(v.report(report), `round ${round}, ${name}: ${JSON.stringify(v.report.errors)}`);
      assertEquals(report.meta.complete, true);
      const lines = (await Deno.readTextFile(`${runs}/${name}l`)).trim().split("\n").map((l) => JSON.parse(l));
      for (const l of lines) assert(v.line(l), `round ${round}, ${name}l: ${JSON.stringify(v.line.errors)}`);
      assertEquals(lines.filter((l) => l.kind === "result").length, report.results.length);
    }
    const latest = await Deno.readTextFile("reports/latest.json");
    assert(v.report(JSON.parse(latest)), `round ${round}: latest.json ${JSON.stringify(v.report.errors)}`);
    assert(texts.includes(latest), `round ${round}: latest.json is a copy of neither run's report`);
  }
});
