/**
 * Property runs with fast-check: random but shrinkable inputs, a seed, and on
 * failure the minimal input, the seed, the shrink path and a replay command.
 *
 * @module
 */
import fc from "fast-check";
import type { RunSettings } from "./clause.ts";
import { NotApplicable, Violation } from "./verify.ts";

/** A property failed: the minimal counterexample and how to replay it. */
export class PropertyViolation extends Violation {
  constructor(
    inner: Violation,
    readonly counterexample: string,
    readonly seed: number,
    readonly path: string,
    readonly replay: string,
    readonly shrinks: number,
  ) {
    super(inner.expected, inner.actual, `minimal case ${counterexample}`);
  }
}

/**
 * Checks an async property over `arb`. The property throws a {@link Violation}
 * when a requirement is broken; any other error is a harness or target error
 * and is rethrown unchanged. Shrinking keeps only failures that are violations.
 *
 * @example
 * ```ts ignore
 * await checkProperty(ctx, fc.array(fc.integer({ min: 1, max: 255 })), async (writes) => {
 *   … // drive the target, call verifiers
 * }, (writes) => writes.join(","));
 * ```
 */
export async function checkProperty<T>(
  settings: RunSettings,
  arb: fc.Arbitrary<T>,
  property: (value: T) => Promise<void>,
  format: (value: T) => string = (v) => fc.stringify(v),
): Promise<void> {
  let other: unknown = undefined;
  const details = await fc.check(
    fc.asyncProperty(arb, async (v) => {
      // A harness or target error ends the property: later runs fail at once without touching the target.
      if (other !== undefined) throw other;
      try {
        await property(v);
        return true;
      } catch (e) {
        if (e instanceof Violation) throw e;
        if (e instanceof NotApplicable) {
          // Not applicable once is not applicable at all: later runs and shrinks end at once.
          other ??= e;
          throw e;
        }
        other ??= e;
        throw e;
      }
    }),
    {
      seed: settings.seed,
      numRuns: settings.runs,
      ...(settings.replayPath ? { path: settings.replayPath, endOnFailure: true } : {}),
      ...(settings.shrink === false ? { endOnFailure: true } : {}),
    },
  );
  if (!details.failed) return;
  const err = details.errorInstance;
  if (err instanceof NotApplicable) throw err;
  if (!(err instanceof Violation)) throw other ?? err ?? new Error("property failed without an error");
  const example = details.counterexample ? format(details.counterexample[0] as T) : "?";
  const path = details.counterexamplePath ?? "";
  throw new PropertyViolation(
    err,
    example,
    details.seed,
    path,
    settings.replayCommand(details.seed, path),
    details.numShrinks,
  );
}
