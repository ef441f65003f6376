import { assertEquals } from "@std/assert";
import { determinism } from "./determinism_main.ts";

Deno.test("determinism: the reference rng device gives the same verdicts over 2 seeds × 2 runs, under load", async () => {
  const lines: string[] = [];
  const r = await determinism({
    targets: ["reference-rng-device"],
    seeds: 2,
    repeats: 2,
    load: true,
    log: (l) => lines.push(l),
  });
  assertEquals(r.runs, 4);
  assertEquals(lines.length, 4);
  assertEquals(r.unstable.map((f) => f.result), []);
  assertEquals(r.seedDependent.map((f) => f.result), []);
});
