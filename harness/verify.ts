/**
 * Verifiers: the one place each kind of outcome is checked. A clause calls a
 * verifier; a broken requirement surfaces as a {@link Violation} carrying the
 * expected and the actual behaviour.
 *
 * @module
 */

/** A requirement was broken: what the harness expected and what it saw. */
export class Violation extends Error {
  /** The error's name. */
  override name = "Violation";
  /** A violation: what was expected, what was seen, and more detail if any. */
  constructor(readonly expected: string, readonly actual: string, readonly detail?: string) {
    super(`Expected ${expected}; actual: ${actual}${detail ? ` (${detail})` : ""}`);
  }
}

/** The clause does not apply to this target, found out while running (e.g. a feature not offered). */
export class NotApplicable extends Error {
  /** The error's name. */
  override name = "NotApplicable";
}

/** Throws {@link NotApplicable} with a reason. */
export function notApplicable(reason: string): never {
  throw new NotApplicable(reason);
}

/** Fails with expected/actual text. */
export function violation(expected: string, actual: string, detail?: string): never {
  throw new Violation(expected, actual, detail);
}

/**
 * Checks a value against the expected one (compared with `===`).
 *
 * @example
 * ```ts
 * import { expectEqual } from "./verify.ts";
 * expectEqual("Version", 2, 2);
 * ```
 */
export function expectEqual<T>(what: string, actual: T, expected: T, fmt: (v: T) => string = String): void {
  if (actual !== expected) violation(`${what} = ${fmt(expected)}`, `${what} = ${fmt(actual)}`);
}

/** Checks a condition; `expected` says what should hold, `actual` what was seen instead. */
export function expectThat(cond: boolean, expected: string, actual: () => string): void {
  if (!cond) violation(expected, actual());
}

/** Checks that a list of offending items is empty. */
export function expectNone<T>(expected: string, offenders: T[], fmt: (v: T) => string, max = 5): void {
  if (offenders.length === 0) return;
  const shown = offenders.slice(0, max).map(fmt).join("; ");
  const more = offenders.length > max ? ` (+${offenders.length - max} more)` : "";
  violation(expected, `${shown}${more}`);
}
