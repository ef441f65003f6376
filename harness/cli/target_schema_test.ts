/**
 * The target-file schema is the one the adapters' option schemas assemble, every shipped target file validates
 * against it (Ajv, npm), and it never refuses a file the loader accepts (random edits of the shipped files).
 */
import { assert, assertEquals } from "@std/assert";
import { parse as parseJsonc } from "@std/jsonc";
import Ajv2020Module from "ajv/dist/2020.js";
import fc from "fast-check";
import { TARGET_SCHEMA_ID, TARGET_SCHEMA_PATH, targetFileSchema, targetSchemaText } from "./target_schema.ts";
import { validateTargetSpec } from "./target_file.ts";

const Ajv2020 = ((Ajv2020Module as unknown as { default?: unknown }).default ?? Ajv2020Module) as unknown as new (
  opts: Record<string, unknown>,
) => {
  compile(schema: unknown): ((data: unknown) => boolean) & { errors?: unknown[] | null };
};

const validate = new Ajv2020({ allErrors: true, strict: true, validateFormats: false }).compile(targetFileSchema());

async function shipped(): Promise<[string, Record<string, unknown>][]> {
  const out: [string, Record<string, unknown>][] = [];
  for await (const e of Deno.readDir("fixtures/targets")) {
    if (!e.name.endsWith(".jsonc")) continue;
    const path = `fixtures/targets/${e.name}`;
    out.push([path, parseJsonc(await Deno.readTextFile(path)) as Record<string, unknown>]);
  }
  return out.sort(([a], [b]) => a.localeCompare(b));
}

function loaderAccepts(data: unknown): boolean {
  try {
    validateTargetSpec(data, "target file x", "x", "x.jsonc");
    return true;
  } catch {
    return false;
  }
}

Deno.test("target schema: the published file is the one the adapters' option schemas assemble (deno task schema)", async () => {
  const published = await Deno.readTextFile(TARGET_SCHEMA_PATH);
  assertEquals(published, targetSchemaText(), `${TARGET_SCHEMA_PATH} is stale: run deno task schema`);
  assertEquals(JSON.parse(published).$id, TARGET_SCHEMA_ID);
});

Deno.test("target schema: every shipped target file validates, and the loader accepts each", async () => {
  const files = await shipped();
  assert(files.length >= 40, `only ${files.length} target files`);
  for (const [path, data] of files) {
    assert(validate(data), `${path}: ${JSON.stringify(validate.errors)}`);
    assert(loaderAccepts(data), path);
  }
});

Deno.test("target schema: it refuses what is plainly wrong", () => {
  const bad: unknown[] = [
    { adapter: "qemu", role: "device", options: { transport: "usb", device: "virtio-rng-device" } },
    { adapter: "qemu", role: "driver", options: { transport: "pci", device: "virtio-rng-pci" } },
    { adapter: "qemu", role: "device", options: { transport: "pci", device: "virtio-rng-pci", memoryMiB: 8 } },
    { adapter: "qemu", role: "device", options: { transport: "pci", device: "x", backEnd: { argv: ["qsd"] } } },
    { adapter: "qemu-guest", role: "driver", options: { guest: "u-boot", workloads: [{ kind: "rng-read" }] } },
    { adapter: "in-process", role: "device", options: { model: "reference", deviceType: "rng", present: "rng" } },
    { adapter: "in-process", role: "device", options: { module: "./m.ts", heapMiB: 1 } },
    { adapter: "in-process", role: "device", options: { model: "reference", mutant: "x" } },
    { adapter: "nope", role: "device", options: {} },
    { adapter: "in-process", role: "device", options: { model: "reference" }, extra: 1 },
  ];
  for (const b of bad) {
    assert(!validate(b), `the schema accepts ${JSON.stringify(b)}`);
    assert(!loaderAccepts(b), `the loader accepts ${JSON.stringify(b)}`);
  }
});

const VALUES = fc.oneof(
  fc.constantFrom<unknown>(
    "pci",
    "mmio",
    "device",
    "driver",
    "blk",
    "rng",
    "net",
    "reference",
    "process",
    "worker",
    "",
    " ",
    "a b",
    "{socket}",
    true,
    false,
    null,
    0,
    1,
    16,
    64,
    4096,
    -1,
    1.5,
    [],
    ["x"],
    {},
  ),
  fc.integer({ min: -10, max: 1 << 20 }),
  fc.string({ maxLength: 6 }),
);

Deno.test("target schema: never refuses a file the loader accepts (random edits of the shipped files)", async () => {
  const files = (await shipped()).map(([, d]) => d);
  let refusedByBoth = 0;
  let refusedByLoader = 0;
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: files.length - 1 }),
      fc.array(
        fc.tuple(
          fc.constantFrom("top", "options"),
          fc.constantFrom("set", "delete"),
          fc.string({ maxLength: 3 }),
          VALUES,
        ),
        { minLength: 1, maxLength: 3 },
      ),
      (i, edits) => {
        const data = structuredClone(files[i]!) as Record<string, unknown>;
        for (const [where, op, salt, value] of edits) {
          const obj = (where === "top" ? data : data.options) as Record<string, unknown> | undefined;
          if (typeof obj !== "object" || obj === null) continue;
          const keys = Object.keys(obj);
          const key = keys.length && salt.length < 3 ? keys[salt.length % keys.length]! : `k${salt}`;
          if (op === "delete") delete obj[key];
          else obj[key] = value;
        }
        const loader = loaderAccepts(data);
        const schema = validate(data);
        if (!loader) refusedByLoader++;
        if (!loader && !schema) refusedByBoth++;
        return !loader || schema;
      },
    ),
    { numRuns: 3000, seed: 0x7a9 },
  );
  assert(refusedByLoader > 500, `only ${refusedByLoader} edits were refused`);
  assert(refusedByBoth / refusedByLoader > 0.8, `the schema refuses ${refusedByBoth} of ${refusedByLoader}`);
});
