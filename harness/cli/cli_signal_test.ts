/**
 * SIGINT in the middle of a QEMU run: the streamed JSON-lines file holds
 * every result reported so far, the JSON and JUnit reports say the run is
 * incomplete, no QEMU and no temporary directory is left, and the exit code
 * is 130. The signal comes from a test signal source (the command line uses
 * the process's own); everything after it is the real path.
 */
import { assert, assertEquals } from "@std/assert";
import { main, type SignalSource } from "./cli.ts";
import { installed, qemuTempDirs, runningQemu } from "../adapters/qemu/qemu_process.ts";

const OUT = "reports/out/cli_signal_test";

Deno.test({
  name: "cli: SIGINT 5 s into a QEMU run writes incomplete reports, kills QEMU, leaves no temp dir, returns 130",
  ignore: !await installed("qemu-system-aarch64"),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await Deno.mkdir(OUT, { recursive: true });
    const before = await qemuTempDirs();
    const handlers = new Map<string, () => void>();
    let stoppedWith: number | undefined;
    const signals: SignalSource = {
      add: (sig, h) => handlers.set(sig, h),
      remove: (sig) => handlers.delete(sig),
      stopped: (code) => stoppedWith = code,
    };
    const printed: string[] = [];
    let qemuDuringRun = 0;
    const timer = setTimeout(() => {
      qemuDuringRun = runningQemu();
      handlers.get("SIGINT")?.();
    }, 5000);
    const json = `${OUT}/run.json`;
    const code = await main(
      ["--target", "fixtures/targets/qemu-rng-mmio.jsonc", "--strict", "--json", json, "--junit", `${OUT}/run.xml`],
      { stdout: (l) => printed.push(l), stderr: (l) => printed.push(l), color: false, signals },
    );
    clearTimeout(timer);
    assertEquals(code, 130, printed.join("\n"));
    assertEquals(stoppedWith, 130);
    assert(qemuDuringRun >= 1, "QEMU was running when the signal came");
    assertEquals(runningQemu(), 0, "no QEMU is left");
    assertEquals(await qemuTempDirs(), before, "no temporary directory is left");
    const report = JSON.parse(await Deno.readTextFile(json));
    assertEquals(report.meta.complete, false);
    assertEquals(report.meta.stopped, "SIGINT");
    const lines = (await Deno.readTextFile(`${OUT}/run.jsonl`)).trim().split("\n").map((l) => JSON.parse(l));
    const streamed = lines.filter((l) => l.kind === "result");
    assert(streamed.length > 0, "results were streamed before the signal");
    assertEquals(streamed.length, report.results.length);
    assertEquals(streamed.map((r) => r.clause), report.results.map((r: { clause: string }) => r.clause));
    assertEquals(lines.at(-1), { kind: "end", complete: false, stopped: "SIGINT", results: streamed.length });
    assert((await Deno.readTextFile(`${OUT}/run.xml`)).includes("incomplete"), "the JUnit report says incomplete");
  },
});
