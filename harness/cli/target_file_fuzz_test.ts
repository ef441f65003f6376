/**
 * Fuzzes target-file validation: {@link validateTargetSpec} over parsed
 * values near a target's shape (every adapter, role and option kind, wrong
 * types, unknown keys, `__proto__`) and {@link parseTargetText} over texts
 * (valid, broken and arbitrary JSONC).
 *
 * Accepted errors: {@link UsageError} only, with a one-line message naming
 * the file. A returned spec must be one the loader understands. Each case
 * has a deadline (see `harness/fuzz.ts`).
 */
import fc from "fast-check";
import { type ErrorClass, expectTypedSync, FuzzFailure, fuzzSync } from "../fuzz.ts";
import { anyJson, jsoncText, nearObject } from "./json_fuzz_support.ts";
import { ADAPTERS, parseTargetText, type TargetSpec, UsageError, validateTargetSpec } from "./target_file.ts";

/** What target-file validation may throw. */
const ACCEPTED: readonly ErrorClass[] = [UsageError];

const WHERE = "target file fuzz.jsonc";

const options = nearObject({
  model: fc.constantFrom("reference", "other"),
  mutant: fc.constantFrom("device-status-not-reset", ""),
  module: fc.constantFrom("./x.ts", "", "file:///x.ts"),
  export: fc.constantFrom("default", "make", ""),
  info: fc.constantFrom("info", ""),
  deviceType: fc.constantFrom("rng", "blk", "net", "console", "nope"),
  present: fc.constantFrom("rng", "blk", "net"),
  transport: fc.constantFrom("mmio", "mmio-legacy", "pci", "ccw"),
  device: fc.constantFrom("virtio-rng-device", "virtio-blk-pci,drive=drive0", "bad device", ""),
  machine: fc.constantFrom("virt", "q35", "pc"),
  binary: fc.constantFrom("qemu-system-aarch64", ""),
  extraArgs: fc.array(fc.oneof(fc.string(), fc.integer()), { maxLength: 3 }),
  memoryMiB: fc.oneof(fc.integer({ min: 0, max: 5000 }), fc.double()),
  driveMiB: fc.oneof(fc.integer({ min: 0, max: 5000 }), fc.double()),
});

const target = nearObject({
  adapter: fc.constantFrom(...ADAPTERS, "vhost-user", ""),
  role: fc.constantFrom("device", "driver", "both"),
  name: fc.constantFrom("my-target", "", "  "),
  description: fc.string(),
  options,
});

const parsed = fc.oneof({ weight: 5, arbitrary: target }, { weight: 1, arbitrary: anyJson });

function checkOutcome(r: ReturnType<typeof expectTypedSync<TargetSpec>>): void {
  if (!r.ok) {
    if (/[\n\r\u2028\u2029]/.test(r.error.message)) {
      throw new FuzzFailure(`a multi-line UsageError: ${r.error.message}`);
    }
    if (!r.error.message.startsWith(`${WHERE}: `)) {
      throw new FuzzFailure(`a UsageError not naming the file: ${r.error.message}`);
    }
    return;
  }
  const s = r.value;
  if (!ADAPTERS.includes(s.adapter)) throw new FuzzFailure(`accepted adapter ${JSON.stringify(s.adapter)}`);
  if (s.role !== "device" && s.role !== "driver") throw new FuzzFailure(`accepted role ${JSON.stringify(s.role)}`);
  if (!["model", "mutant", "module", "adapter"].includes(s.source.kind)) {
    throw new FuzzFailure(`accepted source ${JSON.stringify(s.source)}`);
  }
}

Deno.test("target file fuzz: validateTargetSpec gives a spec or a one-line UsageError for any value", () => {
  fuzzSync("validateTargetSpec", [parsed], (data) => {
    checkOutcome(expectTypedSync(ACCEPTED, () => validateTargetSpec(data, WHERE, "fuzz.jsonc", "fuzz.jsonc")));
  }, 2000);
});

Deno.test("target file fuzz: parseTargetText gives a spec or a one-line UsageError for any text", () => {
  fuzzSync("parseTargetText", [jsoncText(parsed)], (text) => {
    checkOutcome(expectTypedSync(ACCEPTED, () => parseTargetText(text, "fuzz.jsonc")));
  }, 2000);
});

Deno.test("target file fuzz regressions: messages stay one line and name the file", () => {
  const cases: [string, RegExp][] = [
    // The JSONC parser quoted the raw token, line break included.
    ['{"// c\n":{}}', /^target file fuzz\.jsonc: not valid JSONC: .*\\u000a/],
    // Keys and adapter names from the file were quoted raw.
    ['{"adapter": "in-process", "ro\\nle": 1}', /unknown key "ro\\nle" in the target/],
    ['{"adapter": "vhost\\nuser", "role": "device"}', /^target file fuzz\.jsonc: unknown adapter "vhost\\nuser"/],
  ];
  for (const [text, re] of cases) {
    const r = expectTypedSync(ACCEPTED, () => parseTargetText(text, "fuzz.jsonc"));
    if (r.ok) throw new FuzzFailure(`${JSON.stringify(text)} was accepted`);
    checkOutcome(r);
    if (!re.test(r.error.message)) throw new FuzzFailure(`${r.error.message} does not match ${re}`);
  }
});
