/**
 * Results of every verdict, shared by the report tests.
 *
 * @module
 */
import type { ClauseResult, RunReport } from "../harness/core/result.ts";
import { REPORT_SCHEMA_VERSION, summarize } from "../harness/core/result.ts";

const LABEL = "devicenormative:Basic Facilities of a Virtio Device / Device Reset";

function base(over: Partial<ClauseResult>): ClauseResult {
  return {
    clause: "2.4.1#1",
    label: LABEL,
    statement: 1,
    section: "2.4.1",
    role: "device",
    level: "MUST",
    transport: "mmio",
    target: "reference-rng-device",
    deviceType: "rng",
    title: "status reads 0 after a reset",
    requirement: "Once the driver resets the device, the device presents a device status of 0.",
    verdict: "pass",
    durationMs: 1.5,
    message: "",
    seed: 24301,
    ...over,
  };
}

/** One result of each verdict; the failure texts hold every XML special character. */
export function sampleResults(): ClauseResult[] {
  return [
    base({}),
    base({
      verdict: "fail",
      clause: "2.4.1#2",
      statement: 2,
      level: "MUST NOT",
      title: `no <queue> access & "no" notification`,
      message: `Expected used idx <= 0 & 'quiet'; actual: "1"`,
      expected: `used idx <= 0 & 'quiet'`,
      actual: `"1" <moved>`,
      counterexample: `{"writes":[1,"<&>"]}`,
      replay: "deno task conform --target reference-rng-device --filter 'x#2' --seed 1",
      target: "mutant-a",
    }),
    base({
      verdict: "warn",
      level: "SHOULD",
      clause: "2.1.2#2",
      message: "broken SHOULD",
      expected: "a",
      actual: "b",
      replay: "r",
      target: "mutant-a",
    }),
    base({ verdict: "n/a", message: "the device does not offer VIRTIO_F_RING_RESET", target: "mutant-a" }),
    base({ verdict: "error", message: "ClauseTimeout: the clause did not finish within 5 ms\u0001", replay: "r2" }),
  ];
}

/** A report over {@link sampleResults}. */
export function sampleReport(): RunReport {
  const results = sampleResults();
  return {
    schemaVersion: REPORT_SCHEMA_VERSION,
    meta: {
      suiteVersion: "0.1.0",
      specVersion: "v1.4-cs01",
      targets: ["reference-rng-device", "mutant-a"],
      seed: 24301,
      runs: 50,
      strict: true,
      start: "2026-01-01T00:00:00.000Z",
      durationMs: 12,
    },
    summary: summarize(results),
    results,
    waivers: [{ label: LABEL, statement: 9, section: "2.4.1", reason: "not observable <here>" }],
    coverage: [{
      area: "2.4",
      role: "device",
      mandatory: 2,
      mandatoryCovered: 2,
      advisory: 0,
      advisoryCovered: 0,
      waived: 0,
    }],
  };
}
