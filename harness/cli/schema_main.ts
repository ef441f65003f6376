/**
 * `deno task schema`: writes the target-file JSON Schema assembled from the
 * adapters' option schemas to `reports/schema/target.schema.json`.
 *
 * @module
 */
import { TARGET_SCHEMA_PATH, targetSchemaText } from "./target_schema.ts";

if (import.meta.main) {
  await Deno.writeTextFile(TARGET_SCHEMA_PATH, targetSchemaText());
  console.log(`wrote ${TARGET_SCHEMA_PATH}`);
}
