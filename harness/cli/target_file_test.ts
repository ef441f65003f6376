/** The module options of a target file: where a module runs and what its process may read. */
import { assertEquals, assertThrows } from "@std/assert";
import { UsageError, validateTargetSpec } from "./target_file.ts";

const where = "target file t.jsonc";
const moduleTarget = (extra: Record<string, unknown>) => ({
  adapter: "in-process",
  role: "device",
  options: { module: "./m.ts", deviceType: "rng", ...extra },
});

Deno.test("target file: a module runs in a child process unless the file says worker", () => {
  const plain = validateTargetSpec(moduleTarget({}), where, "t", "t.jsonc");
  assertEquals(plain.source.kind === "module" ? plain.source.isolation : "?", "process");
  const worker = validateTargetSpec(moduleTarget({ isolation: "worker" }), where, "t", "t.jsonc");
  assertEquals(worker.source.kind === "module" ? worker.source.isolation : "?", "worker");
  const child = validateTargetSpec(moduleTarget({ heapMiB: 64, allowRead: ["../data"] }), where, "t", "t.jsonc");
  assertEquals(
    child.source.kind === "module" ? [child.source.heapMiB, child.source.allowRead] : [],
    [64, ["../data"]],
  );
});

Deno.test("target file: process options are checked and refused with a reason", () => {
  const bad: [Record<string, unknown>, string][] = [
    [{ isolation: "thread" }, `"options.isolation" must be`],
    [{ isolation: "worker", heapMiB: 64 }, `are for "isolation": "process"`],
    [{ heapMiB: 8 }, `"options.heapMiB" must be a whole number from 16 to 65536`],
    [{ heapMiB: 100.5 }, `"options.heapMiB" must be a whole number`],
    [{ allowRead: "../data" }, `"options.allowRead" must be a list of paths`],
    [{ allowRead: ["a,b"] }, `"options.allowRead" must be a list of paths (no commas)`],
  ];
  for (const [extra, message] of bad) {
    assertThrows(() => validateTargetSpec(moduleTarget(extra), where, "t", "t.jsonc"), UsageError, message);
  }
});

const zonedTarget = (zoned: unknown, deviceType = "blk") => ({
  adapter: "in-process",
  role: "device",
  options: { model: "reference", deviceType, zoned },
});

Deno.test("target file: a reference blk device can be zoned, with its layout checked", () => {
  const spec = validateTargetSpec(zonedTarget({ model: "hm", zoneSectors: 64, maxOpen: 2 }), where, "t", "t.jsonc");
  assertEquals(spec.source, {
    kind: "model",
    model: "reference",
    deviceType: "blk",
    zoned: { model: "hm", zoneSectors: 64, maxOpen: 2 },
  });
  for (
    const [zoned, type, message] of [
      [{ model: "hm", zoneSectors: 64 }, "rng", `"options.zoned" is for a reference blk device, not rng`],
      [{ model: "hm" }, "blk", `"options.zoned.zoneSectors" is missing`],
      [{ model: "smr", zoneSectors: 64 }, "blk", `"options.zoned.model"`],
      [{ model: "hm", zoneSectors: 0 }, "blk", `"options.zoned.zoneSectors" must be an integer from 1`],
      [{ model: "hm", zoneSectors: 64, writeGranularity: 700 }, "blk", "must be a multiple of 512"],
      [{ model: "hm", zoneSectors: 64, capacity: 1 }, "blk", "capacity"],
      ["hm", "blk", `"options.zoned" must be an object`],
    ] as const
  ) {
    assertThrows(() => validateTargetSpec(zonedTarget(zoned, type), where, "t", "t.jsonc"), UsageError, message);
  }
});
