import { assert, assertEquals, assertMatch, assertStringIncludes } from "@std/assert";
import { type Clause, defineDeviceClause } from "../core/clause.ts";
import { type CliIO, DEFAULT_SEED, main, parseCli, RUNS_DIR } from "./cli.ts";
import { matchesFilter } from "../core/runner.ts";
import { readJsonReport } from "../../reports/json.ts";
import { violation } from "../verify.ts";

const OUT = "reports/out/cli_test";

interface Captured {
  code: number;
  out: string[];
  err: string[];
}

async function run(args: string[], extra: Partial<CliIO> = {}): Promise<Captured> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, { stdout: (l) => out.push(l), stderr: (l) => err.push(l), color: false, ...extra });
  return { code, out, err };
}

/** Exit code 2, exactly one stderr line `conform: error: …`, no stack trace. */
async function usageError(args: string[], expected: string | RegExp): Promise<void> {
  const r = await run(args);
  assertEquals(r.code, 2, `${args.join(" ")}: ${r.err.join("\n")}`);
  assertEquals(r.err.length, 1, r.err.join("\n"));
  const line = r.err[0]!;
  assert(!line.includes("\n") && !/\bat .*:\d+:\d+/.test(line), line);
  if (typeof expected === "string") assertEquals(line, `conform: error: ${expected}`);
  else assertMatch(line, expected);
}

async function writeTarget(name: string, text: string): Promise<string> {
  await Deno.mkdir(OUT, { recursive: true });
  const path = `${OUT}/${name}`;
  await Deno.writeTextFile(path, text);
  return path;
}

const RESET = "devicenormative:Basic Facilities of a Virtio Device / Device Reset";

function fakeClauses(): Clause[] {
  return [
    defineDeviceClause({
      label: RESET,
      statement: 1,
      level: "MUST",
      title: "passes",
      requirement: "r1",
      action: "a",
      run: () => Promise.resolve(),
    }),
    defineDeviceClause({
      label: RESET,
      statement: 2,
      level: "MUST NOT",
      title: "fails",
      requirement: "the requirement",
      action: "a",
      run: () => Promise.resolve(violation("<quiet>", "noise & more")),
    }),
  ];
}

Deno.test("cli: usage errors exit 2 with one sentence on stderr", async () => {
  await usageError(["--bogus"], `unknown flag "--bogus": see --help`);
  await usageError(["-x"], `unknown flag "-x": see --help`);
  await usageError(["extra"], `unexpected argument "extra": targets are given with --target`);
  await usageError(["--seed", "abc"], `--seed: "abc" is not an integer (use decimal or 0x hex)`);
  await usageError(["--seed"], "--seed needs a value");
  await usageError(["--runs", "0"], "--runs: 0 is out of range (1 to 1000000)");
  await usageError(["--timeout", "-5"], `--timeout: "-5" is not an integer (use decimal or 0x hex)`);
  await usageError(["--role", "dev"], `--role: must be "device" or "driver", got "dev"`);
  await usageError(["--present", "gpu"], `--present: must be "rng" or "blk" or "console" or "net", got "gpu"`);
  await usageError(["--strict=yes"], `--strict takes no value, got "yes"`);
  await usageError(["--quiet", "--quiet"], "--quiet is given twice");
  await usageError(["--replay", "1:2"], "--replay: needs --filter naming the one clause to replay");
  await usageError(
    ["--replay", "abc", "--filter", "2.4"],
    /^conform: error: --replay: "abc" is not a counterexample path/,
  );
  await usageError(["--role", "device", "--filter", "9.9.9"], `--filter: "9.9.9" matches no device-role clause`);
});

Deno.test("cli: target problems exit 2 with one sentence", async () => {
  await usageError(["--target", `${OUT}/missing.jsonc`], `target file ${OUT}/missing.jsonc: no such file`);
  const malformed = await writeTarget("malformed.jsonc", `{ "adapter": "in-process", "role": "device",, }`);
  await usageError(["--target", malformed], new RegExp(`^conform: error: target file ${malformed}: not valid JSONC: `));
  const vhost = await writeTarget(
    "vhost.jsonc",
    `// a comment\n{ "adapter": "vhost-user", "role": "device", "options": {} }`,
  );
  await usageError(["--target", vhost], /unknown adapter "vhost-user"/);
  const qemu = await writeTarget("qemu.jsonc", `{ "adapter": "qemu", "role": "device", "options": {} }`);
  await usageError(
    ["--target", qemu],
    /"options.transport" must be one of "mmio", "mmio-legacy", "pci", got undefined/,
  );
  const role = await writeTarget("role.jsonc", `{ "adapter": "in-process", "role": "dev", "options": {} }`);
  await usageError(["--target", role], `target file ${role}: "role" must be "device" or "driver", got "dev"`);
  const noType = await writeTarget(
    "notype.jsonc",
    `{ "adapter": "in-process", "role": "device", "options": { "model": "reference" } }`,
  );
  await usageError(
    ["--target", noType],
    `target file ${noType}: "options.deviceType" is missing (one of "rng", "blk", "console", "net")`,
  );
  const two = await writeTarget(
    "two.jsonc",
    `{ "adapter": "in-process", "role": "device", "options": { "model": "reference", "mutant": "x" } }`,
  );
  await usageError(["--target", two], `target file ${two}: "options" names both "model", "mutant"; give exactly one`);
  const extraKey = await writeTarget(
    "extra.jsonc",
    `{ "adapter": "in-process", "role": "device", "colour": 1, "options": { "model": "reference", "deviceType": "rng" } }`,
  );
  await usageError(["--target", extraKey], /unknown key "colour" in the target/);
  const arr = await writeTarget("array.jsonc", `[1, 2]`);
  await usageError(["--target", arr], `target file ${arr}: the file must hold a JSON object, got an array`);
  await usageError(
    ["--target", "mutant:no-such-mutant"],
    /^conform: error: target mutant:no-such-mutant: unknown mutant "no-such-mutant": /,
  );
  const badModule = await writeTarget(
    "badmodule.jsonc",
    `{ "adapter": "in-process", "role": "device", "options": { "module": "./nope.ts", "deviceType": "rng" } }`,
  );
  await usageError(
    ["--target", badModule],
    new RegExp(`^conform: error: target file ${badModule}: cannot import module ./nope.ts: `),
  );
  const badExport = await writeTarget(
    "badexport.jsonc",
    `{ "adapter": "in-process", "role": "device", "options": { "module": "../../../fixtures/targets/example_device.ts", "export": "nope", "deviceType": "rng" } }`,
  );
  await usageError(["--target", badExport], /has no export "nope" \(it exports default\)$/);
  await usageError(
    ["--target", "reference-rng-device", "--present", "blk"],
    "--present: applies to driver targets, but reference-rng-device is a device target",
  );
  await usageError(
    ["--target", "reference-rng-device", "--role", "driver"],
    `--role: is "driver" but target reference-rng-device is a device target`,
  );
});

Deno.test("cli: --help prints the usage and exits 0", async () => {
  const r = await run(["--help"]);
  assertEquals(r.code, 0);
  const text = r.out.join("\n");
  for (
    const flag of ["--target", "--role", "--present", "--filter", "--strict", "--seed", "--runs", "--replay", "--list"]
  ) {
    assertStringIncludes(text, flag);
  }
  for (const flag of ["--json", "--junit", "--quiet", "--timeout", "--help"]) assertStringIncludes(text, flag);
});

Deno.test("cli: defaults and parsing", () => {
  const o = parseCli([]);
  assertEquals([o.seed, o.runs, o.json, o.junit, o.strict, o.quiet], [
    DEFAULT_SEED,
    50,
    "reports/latest.json",
    "reports/latest.junit.xml",
    false,
    false,
  ]);
  assertEquals(DEFAULT_SEED, 0x5eed);
  const p = parseCli(["--seed=0x10", "--runs", "7", "--filter", "2.4", "--timeout=100", "--strict", "-h"]);
  assertEquals([p.seed, p.runs, p.filter, p.timeoutMs, p.strict, p.help], [16, 7, "2.4", 100, true, true]);
});

Deno.test("cli: a filter equal to a clause id names exactly that clause", () => {
  const clauses = fakeClauses();
  const pick = (f: string) => clauses.filter((c) => matchesFilter(c, f));
  assertEquals(pick("2.4.1#1").length, 1);
  assertEquals(pick(`${RESET}#2`).map((c) => c.statement), [2]);
  assertEquals(pick("2.4").length, 2);
});

Deno.test("cli: a run streams results, prints the summary last and writes both reports", async () => {
  const json = `${OUT}/run/report.json`;
  const junit = `${OUT}/run/report.xml`;
  const r = await run(
    [
      "--target",
      "reference-rng-device",
      "--transport",
      "mmio",
      "--seed",
      "7",
      "--runs",
      "3",
      "--json",
      json,
      "--junit",
      junit,
    ],
    { clauses: fakeClauses(), waivers: [] },
  );
  assertEquals(r.err, []);
  assertEquals(r.code, 1);
  assertStringIncludes(r.out[0]!, "seed 7");
  assert(r.out.some((l) => /PASS\s+2\.4\.1#1\s+MUST\s+reference-rng-device\/mmio\s+passes/.test(l)), r.out.join("\n"));
  assert(r.out.some((l) => l.trim() === "Expected: <quiet>"));
  assert(r.out.some((l) => l.trim() === "Actual: noise & more"));
  assert(
    r.out.some((l) =>
      l.trim().startsWith("Replay: deno task conform --target reference-rng-device --transport mmio --filter '")
    ),
  );
  assertEquals(r.out.at(-2), "1 passed, 1 failed, 0 warned, 0 n/a, 0 errors");
  assertEquals(r.out.at(-1), "1 passed, 1 failed");
  const report = await readJsonReport(json);
  assertEquals(report.meta.seed, 7);
  assertEquals(report.meta.targets, ["reference-rng-device"]);
  assertEquals(report.summary.fail, 1);
  assert(report.coverage && report.coverage.length > 0);
  assertStringIncludes(await Deno.readTextFile(junit), "<failure ");
});

Deno.test("cli: --quiet prints only non-pass results and the summary", async () => {
  const r = await run(
    [
      "--target",
      "reference-rng-device",
      "--transport",
      "mmio",
      "--quiet",
      "--json",
      `${OUT}/q.json`,
      "--junit",
      `${OUT}/q.xml`,
    ],
    { clauses: fakeClauses(), waivers: [] },
  );
  assertEquals(r.code, 1);
  assert(!r.out.some((l) => l.includes("PASS")));
  assert(r.out.some((l) => l.includes("FAIL")));
  assertEquals(r.out.at(-1), "1 passed, 1 failed");
});

Deno.test("cli: the reference devices pass every device clause (exit 0)", async () => {
  const r = await run(["--role", "device", "--runs", "5", "--json", `${OUT}/ref.json`, "--junit", `${OUT}/ref.xml`]);
  assertEquals(r.code, 0, r.out.filter((l) => !l.includes("PASS")).join("\n"));
  assertMatch(r.out.at(-1)!, /^\d+ passed, 0 failed$/);
  const report = await readJsonReport(`${OUT}/ref.json`);
  assertEquals(report.meta.targets, ["reference-rng-device", "reference-blk-device"]);
});

Deno.test("cli: a user module target and --list", async () => {
  const r = await run(["--target", "fixtures/targets/example_module_device.jsonc", "--list"]);
  assertEquals(r.code, 0, r.err.join("\n"));
  assertStringIncludes(r.out.join("\n"), "example-module-rng @ mmio (device role, in-process adapter, mmio, rng)");
  assert(
    r.out.some((l) => l.includes("n/a ") && l.includes("the adapter cannot observe configChange")),
    r.out.join("\n"),
  );
  assert(r.out.some((l) => /^\s+run\s+2\.4\.1#1/.test(l)));
  const s = await run(["--target", "fixtures/targets/reference_rng_device.jsonc", "--list", "--filter", "2.1.2"]);
  assertEquals(s.code, 0);
  assert(
    s.out.some((l) => /^\s+skip\s+2\.1\.2#2\s+SHOULD/.test(l) && l.includes("runs under --strict")),
    s.out.join("\n"),
  );
});

Deno.test("cli: a mutant target fails the clause that catches it", async () => {
  const r = await run([
    "--target",
    "fixtures/targets/mutant_device_status_not_reset.jsonc",
    "--filter",
    "2.4.1#1",
    "--runs",
    "20",
    "--json",
    `${OUT}/m.json`,
    "--junit",
    `${OUT}/m.xml`,
  ]);
  assertEquals(r.code, 1, r.out.join("\n"));
  assert(r.out.some((l) => l.includes("FAIL") && l.includes("2.4.1#1")));
  assert(r.out.some((l) => l.trim().startsWith("Counterexample: ")));
});

Deno.test("cli: without --target, four runs: two reference devices, the reference driver presented rng and blk", async () => {
  const r = await run(["--list"]);
  assertEquals(r.code, 0, r.err.join("\n"));
  const heads = r.out.filter((l) => /^\S+ @ \S+ \(/.test(l)).map((l) => l.slice(0, l.indexOf(" @ ")));
  assertEquals([...new Set(heads)], [
    "reference-rng-device",
    "reference-blk-device",
    "reference-driver[rng]",
    "reference-driver[blk]",
  ]);
  const d = await run(["--list", "--role", "driver", "--present", "blk", "--transport", "mmio"]);
  assertEquals(d.out.filter((l) => /^\S+ @ \S+ \(/.test(l)).length, 1);
  assertStringIncludes(
    d.out.join("\n"),
    "reference-driver @ mmio (driver role, in-process adapter, mmio, presented blk)",
  );
});

Deno.test("cli: driver target files present their device type", async () => {
  const r = await run(["--target", "fixtures/targets/reference_driver_blk.jsonc", "--list"]);
  assertEquals(r.code, 0, r.err.join("\n"));
  assertStringIncludes(
    r.out.join("\n"),
    "reference-driver-blk @ mmio (driver role, in-process adapter, mmio, presented blk)",
  );
  await usageError(
    ["--target", "mutant:driver-ok-before-features-ok", "--role", "device"],
    `--role: is "device" but target mutant:driver-ok-before-features-ok is a driver target`,
  );
});

Deno.test("cli: a user module driver target", async () => {
  const r = await run(["--target", "fixtures/targets/example_module_driver.jsonc", "--list"]);
  assertEquals(r.code, 0, r.err.join("\n"));
  assertStringIncludes(
    r.out.join("\n"),
    "example-module-driver @ mmio (driver role, in-process adapter, mmio, presented rng)",
  );
  const noInfo = await writeTarget(
    "noinfo.jsonc",
    `{ "adapter": "in-process", "role": "driver", "options": { "module": "../../../fixtures/targets/example_driver.ts", "info": "nope" } }`,
  );
  await usageError(
    ["--target", noInfo],
    `target file ${noInfo}: export "nope" of ../../../fixtures/targets/example_driver.ts must describe the driver ` +
      `({ deviceTypes, transports, workloads }), got undefined`,
  );
});

Deno.test("cli: an unwritable report path is found before the run, and no clause runs", async () => {
  let ran = 0;
  const clauses = fakeClauses().map((c) => ({
    ...c,
    run: () => {
      ran++;
      return Promise.resolve();
    },
  })) as Clause[];
  await Deno.mkdir(`${OUT}/a-directory.json`, { recursive: true });
  const r = await run(["--target", "reference-rng-device", "--json", `${OUT}/a-directory.json`], { clauses });
  assertEquals(r.code, 2);
  assertMatch(r.err.join("\n"), /cannot write the JSON report .*a-directory\.json: .*is a directory/);
  assertEquals(ran, 0);
});

Deno.test("cli: a JSON-lines file streams every result beside the JSON report; the JSON says the run is complete", async () => {
  const json = `${OUT}/stream.json`;
  const r = await run(["--target", "reference-rng-device", "--json", json, "--junit", `${OUT}/stream.xml`], {
    clauses: fakeClauses(),
  });
  assert(r.code === 0 || r.code === 1, r.err.join("\n"));
  const lines = (await Deno.readTextFile(`${OUT}/stream.jsonl`)).trim().split("\n").map((l) => JSON.parse(l));
  const report = JSON.parse(await Deno.readTextFile(json));
  assertEquals(lines[0].kind, "meta");
  assertEquals(lines.at(-1).kind, "end");
  assertEquals(lines.at(-1).complete, true);
  assertEquals(lines.filter((l) => l.kind === "result").length, report.results.length);
  assertEquals(report.meta.complete, true);
});

Deno.test("cli: two runs started together in one checkout write their own reports, both whole, and latest is one of them", async () => {
  const io = () => ({ stdout: () => {}, stderr: () => {}, color: false });
  const args = ["--target", "reference-rng-device", "--transport", "mmio", "--filter", "2.4"];
  const before = new Set<string>();
  try {
    for (const e of Deno.readDirSync(RUNS_DIR)) before.add(e.name);
  } catch {
    // no runs yet
  }
  const codes = await Promise.all([main(args, io()), main(args, io())]);
  assertEquals(codes, [0, 0]);
  const mine = [...Deno.readDirSync(RUNS_DIR)].map((e) => e.name).filter((n) => !before.has(n) && n.endsWith(".json"));
  assertEquals(mine.length, 2, `new run reports: ${mine.join(", ")}`);
  for (const name of mine) {
    const report = JSON.parse(await Deno.readTextFile(`${RUNS_DIR}/${name}`));
    assertEquals(report.meta.complete, true);
    const lines = (await Deno.readTextFile(`${RUNS_DIR}/${name}l`)).trim().split("\n").map((l) => JSON.parse(l));
    assertEquals(lines[0].kind, "meta");
    assertEquals(lines.at(-1).kind, "end");
    assertEquals(lines.filter((l) => l.kind === "result").length, report.results.length);
  }
  // latest.json is a whole copy of one of them (the one that ended last).
  const texts = await Promise.all(mine.map((n) => Deno.readTextFile(`${RUNS_DIR}/${n}`)));
  assert(texts.includes(await Deno.readTextFile("reports/latest.json")), "latest.json is one of the two runs' reports");
});

Deno.test("cli: progress goes to its own sink, never among the result lines, and --no-progress silences it", async () => {
  const run = async (extra: string[]) => {
    const stdout: string[] = [];
    const progress: string[] = [];
    const code = await main(
      [
        "--target",
        "reference-rng-device",
        "--transport",
        "mmio",
        "--filter",
        "2.4",
        "--json",
        "reports/out/p.json",
        ...extra,
      ],
      {
        stdout: (l) => stdout.push(l),
        stderr: () => {},
        color: false,
        progress: { write: (t) => progress.push(t), terminal: true },
      },
    );
    assertEquals(code, 0);
    return { stdout, progress };
  };
  const on = await run([]);
  assert(on.progress.some((t) => t.includes("reference-rng-device mmio: clause 1 of")), on.progress.join(""));
  assertEquals(on.stdout.filter((l) => l.includes("\r") || l.includes("clause 1 of")), []);
  assertEquals(on.progress.at(-1), "\r\x1b[K", "the status line is cleared at the end");
  const off = await run(["--no-progress"]);
  assertEquals(off.progress, []);
});

Deno.test("cli: --shard takes index/count, one sentence when it does not", () => {
  assertEquals(parseCli(["--shard", "2/3"]).shard, { index: 2, count: 3 });
  assertEquals(parseCli([]).shard, undefined);
  for (const bad of ["0/3", "4/3", "1/0", "a/b", "1-3"]) {
    let message = "";
    try {
      parseCli(["--shard", bad]);
    } catch (e) {
      message = (e as Error).message;
    }
    assertStringIncludes(message, "--shard must be <index>/<count>");
  }
});
