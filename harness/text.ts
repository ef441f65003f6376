/**
 * Small text helpers for error messages.
 *
 * @module
 */

/**
 * `s` with line breaks and other control characters written as `\uXXXX`, so
 * that a message quoting text from a file or a target stays on one line.
 *
 * @example
 * ```ts
 * import { escapeControls } from "./text.ts";
 * console.log(escapeControls("a\nb")); // a\u000ab
 * ```
 */
export function escapeControls(s: string): string {
  // deno-lint-ignore no-control-regex
  return s.replace(/[\u0000-\u001f\u007f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** A number as `0x…` in lowercase hex, padded to `digits` digits (`hex(0x70, 3)` is `0x070`). */
export function hex(value: number | bigint, digits = 0): string {
  return `0x${value.toString(16).padStart(digits, "0")}`;
}

/**
 * The message of anything thrown: an `Error`'s message, else the value as text (a target may throw a string, or
 * `undefined`). The one way error sentences quote a cause.
 *
 * @example
 * ```ts
 * import { errorText } from "./text.ts";
 * console.log(errorText(new Error("no such file")), errorText("busy")); // no such file busy
 * ```
 */
export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
