/**
 * A promise of the command line: `--filter '<label>#<n>'` (the replay command of every result) gives the verdict the
 * whole run gave that clause, with the same seed. Checked here for every clause on the reference rng device and the
 * reference driver, each clause run alone against a fresh target.
 */
import { assertEquals } from "@std/assert";
import { clauseKey } from "./clause.ts";
import { referenceDeviceTarget } from "../models/device/reference.ts";
import { referenceDriverTarget } from "../models/driver/driver.ts";
import type { ClauseResult } from "./result.ts";
import { runTarget } from "./runner.ts";
import type { Target } from "../adapter.ts";
import { CLAUSES } from "../../suites/mod.ts";

const opts = { seed: 0x5eed, runs: 10, strict: true, targetArg: "reference", shrink: false };

const verdicts = (results: ClauseResult[]) =>
  results.map((r) => `${r.label}#${r.statement} ${r.transport} ${r.verdict}`).sort();

for (
  const [name, make, present] of [
    ["reference rng device", () => referenceDeviceTarget("rng"), undefined],
    ["reference driver (rng)", () => referenceDriverTarget(), "rng" as const],
  ] as [string, () => Target, "rng" | undefined][]
) {
  Deno.test(`--filter on one clause gives the whole run's verdict: ${name}`, async () => {
    const extra = present ? { present } : {};
    const whole = await runTarget(make(), CLAUSES, { ...opts, ...extra });
    const keys = [...new Set(whole.map((r) => `${r.label}#${r.statement}`))];
    const alone: ClauseResult[] = [];
    for (const key of keys) {
      alone.push(...await runTarget(make(), CLAUSES, { ...opts, ...extra, filter: key }));
    }
    assertEquals(verdicts(alone), verdicts(whole));
    assertEquals(keys.length, new Set(CLAUSES.filter((c) => keys.includes(clauseKey(c))).map(clauseKey)).size);
  });
}
