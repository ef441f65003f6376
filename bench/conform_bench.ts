/**
 * `deno task bench`: the default `deno task conform` (every built-in reference target, 50 runs per property) as a
 * whole process, against the same process only listing what it would run (loading the suite and opening each target
 * once), so the ratio reads as "times the cost of starting the suite".
 *
 * @module
 */

/** Runs `conform.ts` in a child `deno` with the conform permission set; throws when it does not end in success. */
async function conform(args: string[]): Promise<void> {
  const out = await new Deno.Command("deno", {
    args: ["run", "--no-prompt", "-P=conform", "conform.ts", "--no-progress", ...args],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(`conform ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr).slice(-400)}`);
  }
}

Deno.bench({
  name: "baseline: deno task conform --list",
  group: "conform",
  baseline: true,
  n: 3,
  warmup: 1,
  async fn() {
    await conform(["--list"]);
  },
});

Deno.bench({
  name: "deno task conform (reference targets, default seed and runs)",
  group: "conform",
  n: 2,
  warmup: 0,
  async fn() {
    await conform([]);
  },
});
