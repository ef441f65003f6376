/**
 * The JSON Schema of target files, assembled from the adapters' own option
 * schemas ({@link AdapterDescriptor.optionsSchema}) and the in-process
 * adapter's. `reports/schema/target.schema.json` is this, written by
 * `deno task schema`; a test keeps the two equal and checks that the schema
 * never refuses a file the loader accepts. The loader stays the authority on
 * rules across keys (a workload of another device type, a variation a
 * transport cannot take).
 *
 * @module
 */
import { DEVICE_IDS } from "../features.ts";
import { ADAPTER_REGISTRY } from "../adapters/registry.ts";
import type { AdapterDescriptor } from "../adapters/descriptor.ts";
import { schemaOf } from "../options.ts";
import { ADAPTERS, PRESENTABLE, REFERENCE_DEVICE_TYPES } from "./target_file.ts";

/** Where the schema is published (its `$id`). */
export const TARGET_SCHEMA_ID = "https://virtio-conformance.invalid/schema/target.schema.json";

/** The file `deno task schema` writes. */
export const TARGET_SCHEMA_PATH = "reports/schema/target.schema.json";

const EXPORT_NAME = { type: "string", minLength: 1 };

/** The in-process adapter's `options`: a reference model, a mutant or a user's module. */
export const IN_PROCESS_OPTIONS_SCHEMA: Record<string, unknown> = {
  oneOf: [
    schemaOf.object({
      model: { const: "reference" },
      deviceType: schemaOf.oneOf(REFERENCE_DEVICE_TYPES),
      present: schemaOf.oneOf(PRESENTABLE),
      zoned: schemaOf.object({
        model: schemaOf.oneOf(["hm", "ha", "none"]),
        zoneSectors: schemaOf.int(1, 2 ** 31),
        conventional: schemaOf.int(0, 2 ** 16),
        offline: schemaOf.int(0, 2 ** 16),
        maxOpen: schemaOf.int(0, 2 ** 16),
        maxActive: schemaOf.int(0, 2 ** 16),
        maxAppendSectors: schemaOf.int(0, 2 ** 16),
        writeGranularity: schemaOf.int(512, 2 ** 20),
      }, ["model", "zoneSectors"]),
    }, ["model"]),
    schemaOf.object({ mutant: { type: "string", minLength: 1 }, present: schemaOf.oneOf(PRESENTABLE) }, ["mutant"]),
    schemaOf.object({
      module: { type: "string", minLength: 1 },
      export: EXPORT_NAME,
      info: EXPORT_NAME,
      deviceType: schemaOf.oneOf(Object.keys(DEVICE_IDS)),
      present: schemaOf.oneOf(PRESENTABLE),
      isolation: schemaOf.oneOf(["process", "worker"]),
      heapMiB: schemaOf.int(16, 65536),
      allowRead: { type: "array", items: { type: "string", minLength: 1, pattern: "^[^,]*$" } },
    }, ["module"]),
  ],
};

function forAdapter(name: string, roles: readonly string[], options: Record<string, unknown>) {
  return {
    if: { type: "object", properties: { adapter: { const: name } }, required: ["adapter"] },
    then: { type: "object", properties: { role: schemaOf.oneOf(roles), options } },
  };
}

function forRole(role: "device" | "driver", forbidden: string[]) {
  return {
    if: {
      type: "object",
      properties: { adapter: { const: "in-process" }, role: { const: role } },
      required: ["adapter", "role"],
    },
    then: {
      type: "object",
      properties: { options: { type: "object", properties: Object.fromEntries(forbidden.map((k) => [k, false])) } },
    },
  };
}

/** The target-file schema for `adapters` (default: the registry's). */
export function targetFileSchema(adapters: readonly AdapterDescriptor[] = ADAPTER_REGISTRY): Record<string, unknown> {
  return {
    $schema: "https://json-schema.org/draft/2020-12/schema",
    $id: TARGET_SCHEMA_ID,
    title: "virtio conformance suite: target file",
    description: "What --target names: the adapter that reaches the implementation under test, its role and its " +
      "options. Assembled from the adapters' own option schemas (harness/cli/target_schema.ts); do not edit.",
    ...schemaOf.object({
      $schema: { type: "string" },
      adapter: schemaOf.oneOf(ADAPTERS),
      role: schemaOf.oneOf(["device", "driver"]),
      name: { type: "string", pattern: "\\S" },
      description: { type: "string" },
      options: { type: "object" },
    }, ["adapter", "role", "options"]),
    allOf: [
      forAdapter("in-process", ["device", "driver"], IN_PROCESS_OPTIONS_SCHEMA),
      forRole("device", ["present", "info"]),
      forRole("driver", ["deviceType"]),
      ...adapters.map((a) => forAdapter(a.name, a.roles, a.optionsSchema)),
    ],
  };
}

/** The schema as `deno task schema` writes it. */
export function targetSchemaText(): string {
  return JSON.stringify(targetFileSchema(), null, 2) + "\n";
}
