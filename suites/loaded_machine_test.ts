/**
 * Verdicts that do not depend on the machine: the reference targets give the same verdict on every clause while
 * CPU-bound processes compete for every core.
 */
import { assert, assertEquals } from "@std/assert";
import type { Target } from "../harness/adapter.ts";
import { runTarget } from "../harness/core/runner.ts";
import type { DeviceTypeName } from "../harness/features.ts";
import { referenceDeviceTarget } from "../harness/models/device/reference.ts";
import { referenceDriverTarget } from "../harness/models/driver/driver.ts";
import { CLAUSES } from "./mod.ts";

const opts = { seed: 0x5eed, runs: 10, strict: true, targetArg: "test" };
const TARGETS: [string, () => Target, DeviceTypeName | undefined][] = [
  ["reference-rng-device", () => referenceDeviceTarget("rng"), undefined],
  ["reference-blk-device", () => referenceDeviceTarget("blk"), undefined],
  ["reference-driver[rng]", () => referenceDriverTarget(), "rng"],
  ["reference-driver[blk]", () => referenceDriverTarget(), "blk"],
  ["reference-console-device", () => referenceDeviceTarget("console"), undefined],
  ["reference-net-device", () => referenceDeviceTarget("net"), undefined],
  ["reference-driver[console]", () => referenceDriverTarget(), "console"],
  ["reference-driver[net]", () => referenceDriverTarget(), "net"],
];

/** Every verdict of every reference target, keyed by target, clause and transport. */
async function verdicts(): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [name, target, present] of TARGETS) {
    const results = await runTarget(target(), CLAUSES, { ...opts, ...(present ? { present } : {}) });
    for (const r of results) out[`${name} ${r.clause} ${r.transport}`] = r.verdict;
  }
  return out;
}

Deno.test("the reference targets give the same verdicts with a CPU-bound process on every core", async () => {
  const quiet = await verdicts();
  assert(Object.values(quiet).filter((v) => v === "pass").length > 500, "the quiet run judged too little");
  const cores = Math.max(2, navigator.hardwareConcurrency ?? 2);
  const hogs = Array.from(
    { length: cores },
    () => new Deno.Command("deno", { args: ["eval", "for (;;) {}"], stdout: "null", stderr: "null" }).spawn(),
  );
  try {
    const loaded = await verdicts();
    const flipped = Object.keys(quiet).filter((k) => loaded[k] !== quiet[k]).map((k) =>
      `${k}: ${quiet[k]} → ${loaded[k]}`
    );
    assertEquals(flipped, []);
    assertEquals(Object.keys(loaded).length, Object.keys(quiet).length);
  } finally {
    for (const h of hogs) {
      h.kill("SIGKILL");
      await h.status;
    }
  }
});
