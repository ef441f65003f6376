/**
 * Shared pieces of the decoder fuzz tests (`*_fuzz_test.ts`): the run count,
 * the "typed error or a value" check and a per-case deadline.
 *
 * Every fuzz test asks one question of a decoder that reads what a possibly
 * hostile target wrote (guest memory, configuration space, a socket) or what
 * a user wrote (a target or expectations file): for any input, does it
 * return a value or throw one of the error classes the test lists, within a
 * bounded time? Any other exception (a `TypeError`, a `RangeError`, …) or a
 * case that outlives its deadline is a failure that fast-check shrinks.
 *
 * `FUZZ_RUNS` sets the runs per property (default {@link CI_FUZZ_RUNS});
 * `deno task fuzz` sets it high enough for over a million inputs in all.
 * `FUZZ_SEED` replays a run with fast-check's seed. Without `--allow-env`
 * the defaults apply.
 *
 * @module
 */
import fc from "fast-check";

/** Runs per property when `FUZZ_RUNS` is not set: CI-sized. */
export const CI_FUZZ_RUNS = 400;

/** Per-case deadline in milliseconds (a case is one generated input). */
export const CASE_DEADLINE_MS = 2000;

/** A class of error a decoder is allowed to throw. */
// deno-lint-ignore no-explicit-any
export type ErrorClass = abstract new (...args: any[]) => Error;

/** A fuzz case that broke the property (an untyped error, a hang, a broken invariant). */
export class FuzzFailure extends Error {
  override name = "FuzzFailure";
}

function env(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined; // no --allow-env for it: the default applies
  }
}

/** Runs per property: `FUZZ_RUNS` (a positive integer) times `scale`, or `ciRuns` when it is not set. */
export function fuzzRuns(ciRuns = CI_FUZZ_RUNS, scale = 1): number {
  const raw = env("FUZZ_RUNS");
  if (raw === undefined || raw === "") return ciRuns;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new FuzzFailure(`FUZZ_RUNS must be a positive integer, got ${JSON.stringify(raw)}`);
  }
  return Math.max(1, Math.round(n * scale));
}

/** True when `FUZZ_RUNS` is set (a long run: progress lines are printed). */
export function longRun(): boolean {
  return (env("FUZZ_RUNS") ?? "") !== "";
}

/** fast-check parameters: the run count and, with `FUZZ_SEED`, the seed to replay. */
export function fuzzParams(ciRuns = CI_FUZZ_RUNS, scale = 1): fc.Parameters<unknown> {
  const params: fc.Parameters<unknown> = { numRuns: fuzzRuns(ciRuns, scale) };
  const seed = env("FUZZ_SEED");
  if (seed !== undefined && seed !== "") params.seed = Number(seed);
  return params;
}

function describeError(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : `non-Error ${typeof e}: ${String(e)}`;
}

/** The error classes' names, for messages. */
function names(accepted: readonly ErrorClass[]): string {
  return accepted.map((c) => c.name).join(", ");
}

/**
 * Classifies what `run` threw: rethrows as a {@link FuzzFailure} anything
 * that is not an instance of one of `accepted` (or a typed error with an
 * empty message), and returns the typed error.
 */
export function checkTyped(e: unknown, accepted: readonly ErrorClass[]): Error {
  if (e instanceof FuzzFailure) throw e;
  if (!accepted.some((c) => e instanceof c)) {
    throw new FuzzFailure(`untyped exception (accepted: ${names(accepted)}): ${describeError(e)}`, { cause: e });
  }
  const err = e as Error;
  if (err.message.trim() === "") throw new FuzzFailure(`${err.name} with an empty message`, { cause: e });
  return err;
}

/** What one case gave: a value, or one of the accepted errors. */
export type Outcome<T> = { ok: true; value: T } | { ok: false; error: Error };

/**
 * Runs a synchronous decoder on one input. A synchronous loop cannot be
 * interrupted from its own thread, so the deadline is checked afterwards:
 * a case slower than `deadlineMs` fails (a superlinear blow-up); a decoder
 * that truly never returns hangs the test, which then fails by timing out.
 */
export function expectTypedSync<T>(
  accepted: readonly ErrorClass[],
  run: () => T,
  deadlineMs = CASE_DEADLINE_MS,
): Outcome<T> {
  const start = performance.now();
  let out: Outcome<T>;
  try {
    out = { ok: true, value: run() };
  } catch (e) {
    out = { ok: false, error: checkTyped(e, accepted) };
  }
  const took = performance.now() - start;
  if (took > deadlineMs) {
    throw new FuzzFailure(`one case took ${took.toFixed(0)} ms, over its ${deadlineMs} ms deadline`);
  }
  return out;
}

/**
 * Runs an asynchronous decoder on one input with a deadline: a case that
 * does not settle in `deadlineMs` fails as a hang.
 */
export async function expectTyped<T>(
  accepted: readonly ErrorClass[],
  run: () => Promise<T>,
  deadlineMs = CASE_DEADLINE_MS,
): Promise<Outcome<T>> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new FuzzFailure(`the case did not finish within ${deadlineMs} ms (a hang?)`)),
      deadlineMs,
    );
  });
  try {
    return { ok: true, value: await Promise.race([run(), hang]) };
  } catch (e) {
    return { ok: false, error: checkTyped(e, accepted) };
  } finally {
    clearTimeout(timer);
  }
}

/** Counts generated inputs of one property and, in a long run, prints the rate when done. */
export class FuzzMeter {
  count = 0;
  readonly #start = performance.now();
  constructor(readonly name: string) {}
  /** Call once per generated input. */
  tick(): void {
    this.count++;
  }
  /** Prints `name: N inputs in T s (R/s)` in a long run. */
  done(): void {
    if (!longRun()) return;
    const s = (performance.now() - this.#start) / 1000;
    console.log(`fuzz ${this.name}: ${this.count} inputs in ${s.toFixed(1)} s (${Math.round(this.count / s)}/s)`);
  }
}

/** Runs an asynchronous property with {@link fuzzParams}, counting its inputs. */
export async function fuzzAsync<Ts extends [unknown, ...unknown[]]>(
  name: string,
  arbs: { [K in keyof Ts]: fc.Arbitrary<Ts[K]> },
  body: (...args: Ts) => Promise<void>,
  ciRuns = CI_FUZZ_RUNS,
  scale = 1,
): Promise<void> {
  const meter = new FuzzMeter(name);
  await fc.assert(
    fc.asyncProperty(...arbs, async (...args: Ts) => {
      meter.tick();
      await body(...args);
    }),
    fuzzParams(ciRuns, scale) as fc.Parameters<Ts>,
  );
  meter.done();
}

/** Runs a synchronous property with {@link fuzzParams}, counting its inputs. */
export function fuzzSync<Ts extends [unknown, ...unknown[]]>(
  name: string,
  arbs: { [K in keyof Ts]: fc.Arbitrary<Ts[K]> },
  body: (...args: Ts) => void,
  ciRuns = CI_FUZZ_RUNS,
  scale = 1,
): void {
  const meter = new FuzzMeter(name);
  fc.assert(
    fc.property(...arbs, (...args: Ts) => {
      meter.tick();
      body(...args);
    }),
    fuzzParams(ciRuns, scale) as fc.Parameters<Ts>,
  );
  meter.done();
}
