import { assertEquals, assertThrows } from "@std/assert";
import { flagValue, parseFlags, parseInteger } from "./flags.ts";
import { UsageError } from "../options.ts";

Deno.test("parseFlags: values inline or next, booleans, -h, repeatable flags and positional arguments", () => {
  const f = parseFlags(["--seed=0x10", "--target", "a", "--target=b", "--load", "-h", "x.json"], {
    values: ["seed", "target"],
    booleans: ["load"],
    repeatable: ["target"],
    positional: true,
  });
  assertEquals(flagValue(f, "seed"), "0x10");
  assertEquals(f.values.get("target"), ["a", "b"]);
  assertEquals(flagValue(f, "target"), "b");
  assertEquals([...f.booleans].sort(), ["help", "load"]);
  assertEquals(f.positional, ["x.json"]);
  assertEquals(flagValue(f, "missing"), undefined);
});

Deno.test("parseFlags: every refusal is one usage sentence", () => {
  const spec = { values: ["seed"], booleans: ["strict"], positional: { refuse: "targets are given with --target" } };
  const cases: [string[], string][] = [
    [["--seed"], "--seed needs a value"],
    [["--seed", "--strict"], "--seed needs a value"],
    [["--seed="], "--seed needs a non-empty value"],
    [["--seed", "1", "--seed", "2"], "--seed is given twice"],
    [["--strict", "--strict"], "--strict is given twice"],
    [["--strict=yes"], '--strict takes no value, got "yes"'],
    [["--bogus"], 'unknown flag "--bogus": see --help'],
    [["-x"], 'unknown flag "-x": see --help'],
    [["file.json"], 'unexpected argument "file.json": targets are given with --target'],
    [["--"], 'unexpected "--": flags only'],
  ];
  for (const [args, want] of cases) assertThrows(() => parseFlags(args, spec), UsageError, want);
  assertThrows(() => parseFlags(["a"], { values: [], booleans: [] }), UsageError, 'unexpected argument "a"');
});

Deno.test("parseInteger: decimal or 0x hex within the range, else a sentence naming the flag", () => {
  assertEquals(parseInteger("runs", "12", 1, 100), 12);
  assertEquals(parseInteger("seed", "0xFF", 0, 1000), 255);
  assertThrows(() => parseInteger("runs", "1e3", 1, 100), UsageError, '--runs: "1e3" is not an integer');
  assertThrows(() => parseInteger("runs", "0", 1, 100), UsageError, "--runs: 0 is out of range (1 to 100)");
  assertThrows(() => parseInteger("runs", "-1", 1, 100), UsageError, "is not an integer");
});
