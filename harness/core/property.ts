/**
 * Property runs with fast-check: random but shrinkable inputs, a seed, and on
 * failure the minimal input, the seed, the shrink path and a replay command.
 *
 * @module
 */
import fc from "fast-check";
import type { RunSettings } from "./clause.ts";
import { NotApplicable, Violation } from "../verify.ts";
import { errorText } from "../text.ts";

/** A property failed: the minimal counterexample and how to replay it. */
export class PropertyViolation extends Violation {
  constructor(
    inner: Violation,
    readonly counterexample: string,
    readonly seed: number,
    readonly path: string,
    readonly replay: string,
    readonly shrinks: number,
    /** False: shrinking stopped early; `counterexample` is the smallest found by then. */
    readonly shrunk = true,
    /** Why shrinking stopped early (default: the clause's time budget ran out). */
    readonly stoppedBecause = "the clause's time budget ran out",
  ) {
    super(
      inner.expected,
      inner.actual,
      shrunk
        ? `minimal case ${counterexample}`
        : `failing case ${counterexample} (shrinking stopped after ${shrinks} steps: ${stoppedBecause})`,
    );
  }
}

/**
 * A property's time budget ran out before all its runs were done, none of
 * them failing: the clause is not judged (`error`), and the message says how
 * far it got.
 */
export class PropertyCutShort extends Error {
  override name = "PropertyCutShort";
  constructor(readonly done: number, readonly asked: number) {
    super(
      `the clause's time budget (--timeout) ran out after ${done} of ${asked} property runs, all passed so far: ` +
        `a property is judged on every run the seed asks for (give a longer --timeout or fewer --runs)`,
    );
  }
}

/** Candidates shrinking tries on the target after the first failure (see {@link checkProperty}). */
export const MAX_SHRINK_TRIES = 50;

/**
 * The part of the time left before `deadline` a property may use for its
 * runs and its shrinking; the rest is kept for the verdict to be reported.
 */
export function propertyBudgetMs(deadline: number, now = Date.now()): number {
  const left = deadline - now;
  return Math.max(1, Math.floor(left - Math.min(2000, Math.max(50, left / 10))));
}

/**
 * Checks an async property over `arb`. The property throws a {@link Violation}
 * when a requirement is broken; any other error is a harness or target error
 * and is rethrown unchanged. Shrinking keeps only failures that are violations.
 *
 * Shrinking tries at most {@link MAX_SHRINK_TRIES} smaller cases on the
 * target. Runs and shrinking share a budget inside the clause's deadline
 * ({@link propertyBudgetMs}): when it runs out during shrinking, the smallest
 * failing case found so far is reported (its replay shows it again); when it
 * runs out before any failure, the property is not judged: it throws
 * {@link PropertyCutShort} (an `error` saying how many runs were done), never
 * a pass on fewer runs than asked. Once the clause's signal aborts, no
 * further run starts.
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
  opts: { maxRuns?: number } = {},
): Promise<void> {
  // A clause whose cases are few and each costly caps its runs (still fixed by the seed alone).
  const runs = Math.min(settings.runs, opts.maxRuns ?? Infinity);
  let other: unknown = undefined;
  // The last case that broke the requirement: a target error while shrinking (a crash, say) does not lose it.
  let violated: { value: T; error: Violation } | undefined;
  // Shrinking tries at most MAX_SHRINK_TRIES candidates on the target: then every further candidate is passed over
  // without touching it, and the smallest failure found by then is reported. A count, not a time: the same seed
  // gives the same counterexample on any machine.
  let shrinkTries = 0;
  const details = await fc.check(
    fc.asyncProperty(arb, async (v) => {
      // A harness or target error ends the property: later runs fail at once without touching the target.
      if (other !== undefined) throw other;
      if (settings.signal.aborted) {
        other = settings.signal.reason ?? new Error("the clause was stopped");
        throw other;
      }
      if (violated && ++shrinkTries > MAX_SHRINK_TRIES) return true;
      try {
        await property(v);
        return true;
      } catch (e) {
        if (e instanceof Violation) {
          violated = { value: v, error: e };
          throw e;
        }
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
      numRuns: runs,
      // Runs and shrinking end inside the clause's deadline: a failure found by then is reported as it stands.
      interruptAfterTimeLimit: propertyBudgetMs(settings.deadline),
      ...(settings.replayPath ? { path: settings.replayPath, endOnFailure: true } : {}),
      ...(settings.shrink === false ? { endOnFailure: true } : {}),
    },
  );
  if (!details.failed) {
    // The seed fixes how many cases run and which: a run cut short is not judged, so a slower machine never
    // passes a property on fewer cases than a faster one would have tried.
    if (details.interrupted) throw new PropertyCutShort(details.numRuns, runs);
    return;
  }
  const err = details.errorInstance;
  if (err instanceof NotApplicable) throw err;
  if (!(err instanceof Violation)) {
    if (violated && !(other instanceof NotApplicable)) {
      // The requirement was broken first; the target failed later, while shrinking. The replay runs the
      // property from its seed, which reaches the first failing case again.
      const cause = other ?? err;
      const why = errorText(cause);
      throw new PropertyViolation(
        violated.error,
        format(violated.value),
        details.seed,
        "",
        settings.replayCommand(details.seed),
        details.numShrinks,
        false,
        `the target failed: ${why.split("\n")[0]!.slice(0, 300)}`,
      );
    }
    throw other ?? err ?? new Error("property failed without an error");
  }
  const example = details.counterexample ? format(details.counterexample[0] as T) : "?";
  const path = details.counterexamplePath ?? "";
  const capped = shrinkTries > MAX_SHRINK_TRIES;
  throw new PropertyViolation(
    err,
    example,
    details.seed,
    path,
    settings.replayCommand(details.seed, path),
    details.numShrinks,
    !details.interrupted && !capped,
    ...(capped && !details.interrupted ? [`${MAX_SHRINK_TRIES} smaller cases were tried`] : []),
  );
}
