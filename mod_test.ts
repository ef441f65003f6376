/** The public API: what `mod.ts` promises a target author, and that the shipped examples use nothing else. */
import { assert, assertEquals } from "@std/assert";
import {
  ADAPTER_CONTRACT_VERSION,
  clauseId,
  CLAUSES,
  InProcessDeviceTarget,
  referenceDevice,
  runTarget,
  summarize,
} from "./mod.ts";

Deno.test("mod.ts: a device written against the public API runs through the suite", async () => {
  const target = new InProcessDeviceTarget("public-rng", "rng", referenceDevice("rng"), ["mmio"]);
  assertEquals(target.info.contractVersion, ADAPTER_CONTRACT_VERSION);
  const reset = CLAUSES.filter((c) => c.obligation === "device" && clauseId(c).startsWith("2.4.1#"));
  assert(reset.length > 0);
  const results = await runTarget(target, reset, { seed: 1, runs: 3, strict: true, targetArg: "public-rng" });
  const summary = summarize(results);
  assertEquals(summary.fail + summary.error, 0, JSON.stringify(results.filter((r) => r.verdict !== "pass")));
  assert(summary.pass > 0);
});

Deno.test("mod.ts: the example targets import the public API only", async () => {
  for (const file of ["example_device.ts", "example_driver.ts"]) {
    const text = await Deno.readTextFile(`fixtures/targets/${file}`);
    const from = [...text.matchAll(/from "([^"]+)"/g)].map((m) => m[1]);
    assertEquals(from, ["../../mod.ts"], `${file} imports ${from.join(", ")}`);
  }
});
