/**
 * Signals sent to a real `conform` process in the middle of a QEMU run (the
 * in-process test, `cli_signal_test.ts`, drives the handler directly):
 * SIGTERM ends it with 143, incomplete reports, no QEMU and no temporary
 * directory left; SIGKILL, which no handler sees, still takes QEMU down with
 * it (QEMU runs under `setpriv --pdeathsig`), and every line the run streamed
 * before it died is whole JSON.
 */
import { assert, assertEquals } from "@std/assert";
import { installed, programAvailable, qemuTempDirs } from "../adapters/qemu/qemu_process.ts";

const OUT = "reports/out/cli_process_signal_test";

/** PIDs of the QEMU processes running now (from `ps`). */
async function qemuPids(): Promise<Set<number>> {
  const out = await new Deno.Command("ps", { args: ["-eo", "pid=,comm="], stdout: "piped", stderr: "null" }).output();
  const pids = new Set<number>();
  for (const line of new TextDecoder().decode(out.stdout).split("\n")) {
    const m = /^\s*(\d+)\s+(qemu-system-\S*)/.exec(line);
    if (m) pids.add(Number(m[1]));
  }
  return pids;
}

/** Waits (up to `ms`) until `ok` holds; whether it did. */
async function until(ok: () => Promise<boolean>, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!await ok()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}

/** The streamed results so far (every whole line parsed; a line cut by the kill is left out). */
async function streamed(path: string): Promise<{ kind: string }[]> {
  let text = "";
  try {
    text = await Deno.readTextFile(path);
  } catch {
    return [];
  }
  const lines = text.split("\n");
  lines.pop(); // after the last newline: empty, or a line still being written
  return lines.map((l) => JSON.parse(l));
}

/** Starts `deno task conform` on the QEMU rng target, writing its reports under `OUT/<name>`. */
function startRun(name: string): { child: Deno.ChildProcess; json: string; jsonl: string } {
  const json = `${OUT}/${name}.json`;
  // A previous run's reports would pass for this one's.
  for (const ext of ["json", "jsonl", "xml"]) {
    try {
      Deno.removeSync(`${OUT}/${name}.${ext}`);
    } catch {
      // not there
    }
  }
  const child = new Deno.Command("deno", {
    args: [
      "run",
      "--no-prompt",
      "-P=conform",
      "conform.ts",
      "--target",
      "fixtures/targets/qemu-rng-mmio.jsonc",
      "--strict",
      "--json",
      json,
      "--junit",
      `${OUT}/${name}.xml`,
    ],
    stdout: "null",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  return { child, json, jsonl: `${OUT}/${name}.jsonl` };
}

// `ps` lists the QEMU processes (Deno reads /proc only with every permission).
const HAVE_QEMU = await installed("qemu-system-aarch64") && await programAvailable("ps");

Deno.test({
  name: "conform process: SIGTERM mid-run exits 143 with incomplete reports, no QEMU and no temp dir left",
  ignore: !HAVE_QEMU,
  sanitizeResources: false,
  async fn() {
    await Deno.mkdir(OUT, { recursive: true });
    const before = await qemuPids();
    const dirsBefore = await qemuTempDirs();
    const run = startRun("sigterm");
    const started = await until(async () => (await streamed(run.jsonl)).some((l) => l.kind === "result"), 60_000);
    assert(started, "the run streamed a result within 60 s");
    const mine = [...await qemuPids()].filter((p) => !before.has(p));
    assert(mine.length >= 1, "the run had QEMU running");
    run.child.kill("SIGTERM");
    const status = await run.child.status;
    const err = new TextDecoder().decode(await new Response(run.child.stderr).arrayBuffer());
    assertEquals(status.code, 143, err);
    assert(
      await until(async () => {
        const now = await qemuPids();
        return mine.every((p) => !now.has(p));
      }, 5000),
      `QEMU ${mine.join(", ")} outlived the run`,
    );
    assertEquals(await qemuTempDirs(), dirsBefore, "no temporary directory is left");
    const report = JSON.parse(await Deno.readTextFile(run.json));
    assertEquals(report.meta.complete, false);
    assertEquals(report.meta.stopped, "SIGTERM");
    const lines = await streamed(run.jsonl);
    assertEquals(lines.at(-1), {
      kind: "end",
      complete: false,
      stopped: "SIGTERM",
      results: lines.filter((l) => l.kind === "result").length,
    });
  },
});

Deno.test({
  name: "conform process: SIGKILL mid-run still takes QEMU down, and every streamed line is whole JSON",
  ignore: !HAVE_QEMU,
  sanitizeResources: false,
  async fn() {
    await Deno.mkdir(OUT, { recursive: true });
    const before = await qemuPids();
    const run = startRun("sigkill");
    const started = await until(async () => (await streamed(run.jsonl)).some((l) => l.kind === "result"), 60_000);
    assert(started, "the run streamed a result within 60 s");
    const mine = [...await qemuPids()].filter((p) => !before.has(p));
    assert(mine.length >= 1, "the run had QEMU running");
    run.child.kill("SIGKILL");
    const status = await run.child.status;
    await run.child.stderr.cancel();
    assertEquals(status.signal, "SIGKILL");
    assert(
      await until(async () => {
        const now = await qemuPids();
        return mine.every((p) => !now.has(p));
      }, 5000),
      `QEMU ${mine.join(", ")} outlived the killed run`,
    );
    const lines = await streamed(run.jsonl);
    assert(lines.filter((l) => l.kind === "result").length >= 1, "the results streamed before the kill are kept");
  },
});
