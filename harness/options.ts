/**
 * Checking the options of a target file: the usage error every check throws
 * (one sentence, the file first) and the checks the loader and the adapters'
 * descriptors share.
 *
 * @module
 */
import { escapeControls } from "./text.ts";

/** A problem with how the suite was invoked (exit code 2); the message is one sentence. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** A value as a message names it: strings quoted, objects and arrays by kind. */
export function describeValue(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v === "object") return "an object";
  return String(v);
}

/** `"a", "b", "c"`. */
export function quoteList(xs: readonly string[]): string {
  return xs.map((x) => `"${x}"`).join(", ");
}

/** Whether `v` is a plain object (not null, not an array). */
export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** `v` when it is one of `allowed`; otherwise a usage error naming `key` and the choices. */
export function oneOf<T extends string>(where: string, key: string, v: unknown, allowed: readonly T[]): T {
  if (typeof v !== "string" || !allowed.includes(v as T)) {
    const want = allowed.length === 2 ? `"${allowed[0]}" or "${allowed[1]}"` : `one of ${quoteList(allowed)}`;
    throw new UsageError(`${where}: "${key}" must be ${want}, got ${describeValue(v)}`);
  }
  return v as T;
}

/** A usage error for the first key of `obj` not in `allowed` (`what` names the object). */
export function checkKeys(where: string, obj: Record<string, unknown>, allowed: readonly string[], what: string): void {
  for (const k of Object.keys(obj)) {
    if (!allowed.includes(k)) {
      throw new UsageError(
        `${where}: unknown key ${escapeControls(JSON.stringify(k))} in ${what} (allowed: ${allowed.join(", ")})`,
      );
    }
  }
}

/** `obj[key]` when it is an integer from `min` to `max`, undefined when absent; otherwise a usage error. */
export function optionalInt(
  where: string,
  obj: Record<string, unknown>,
  key: string,
  min: number,
  max: number,
): number | undefined {
  const v = obj[key];
  if (v === undefined) return undefined;
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    throw new UsageError(
      `${where}: "options.${key}" must be an integer from ${min} to ${max}, got ${describeValue(v)}`,
    );
  }
  return v;
}

/** `obj[key]` when it is true or false, undefined when absent; otherwise a usage error. */
export function optionalBool(where: string, obj: Record<string, unknown>, key: string): boolean | undefined {
  const v = obj[key];
  if (v === undefined) return undefined;
  if (typeof v !== "boolean") {
    throw new UsageError(`${where}: "options.${key}" must be true or false, got ${describeValue(v)}`);
  }
  return v;
}

/** `obj[key]` when it is a list of strings, undefined when absent; otherwise a usage error. */
export function optionalStrings(where: string, obj: Record<string, unknown>, key: string): string[] | undefined {
  const v = obj[key];
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || v.some((a) => typeof a !== "string")) {
    throw new UsageError(`${where}: "options.${key}" must be a list of strings, got ${describeValue(v)}`);
  }
  return v as string[];
}

/** JSON Schema pieces for the options the helpers above check (adapters' `optionsSchema`). */
export const schemaOf = {
  /** An integer in `[min, max]` (as {@link optionalInt}). */
  int: (min: number, max: number): Record<string, unknown> => ({ type: "integer", minimum: min, maximum: max }),
  /** One of `values` (as {@link oneOf}). */
  oneOf: (values: readonly string[]): Record<string, unknown> => ({ enum: [...values] }),
  /** A list of strings (as {@link optionalStrings}). */
  strings: (): Record<string, unknown> => ({ type: "array", items: { type: "string" } }),
  /** A boolean (as {@link optionalBool}). */
  bool: (): Record<string, unknown> => ({ type: "boolean" }),
  /** An object with exactly the `properties` given (as {@link checkKeys}), `required` among them. */
  object: (properties: Record<string, unknown>, required: string[] = []): Record<string, unknown> => ({
    type: "object",
    properties,
    ...(required.length ? { required } : {}),
    additionalProperties: false,
  }),
};
