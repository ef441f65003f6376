import { assertEquals, assertRejects } from "@std/assert";
import { loadRecordedRun, recordedTarget } from "./recorded_target.ts";

async function withFile(text: string, f: (path: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ dir: "reports", prefix: "recorded-" });
  try {
    await Deno.writeTextFile(`${dir}/run.json`, text);
    await f(`${dir}/run.json`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("recorded runs: a malformed file is refused with a sentence naming it", async () => {
  const cases: [string, string][] = [
    ["{ not json", "Cannot read the recorded run"],
    ["{}", "lacks transport, deviceType, run.probe or run.steps"],
    [
      JSON.stringify({ transport: "mmio", deviceType: "blk", run: { probe: { bound: true }, steps: [{ kind: "x" }] } }),
      "unknown step at index 0",
    ],
  ];
  for (const [text, want] of cases) {
    await withFile(text, async (path) => {
      await assertRejects(() => loadRecordedRun(path), Error, want);
      await assertRejects(() => loadRecordedRun(path), Error, path);
    });
  }
});

Deno.test("recorded runs: the target replays a copy each time and is never attached", async () => {
  const recorded = await loadRecordedRun("fixtures/watched/uboot-blk-mmio.json");
  const t = recordedTarget("again", recorded);
  const a = await t.watch!({ transport: "mmio" });
  a.steps.length = 0;
  const b = await t.watch!({ transport: "mmio" });
  assertEquals(b.steps.length, recorded.run.steps.length);
  await assertRejects(() => t.attach({} as never), Error, "watched, not attached");
});
