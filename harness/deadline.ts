/**
 * Deadlines the harness enforces itself, whatever a target does: a call into
 * an implementation under test that does not settle in time rejects with
 * {@link DeadlineExceeded}, and the harness moves on.
 *
 * @module
 */
import { TargetError } from "./adapter.ts";

/** A call into the implementation under test did not settle before its deadline. */
export class DeadlineExceeded extends TargetError {
  override name = "DeadlineExceeded";
}

/**
 * Resolves or rejects as `p` does, or rejects with {@link DeadlineExceeded}
 * naming `what` once `ms` milliseconds have passed. The timer is cleared
 * either way; `p` itself cannot be cancelled and is left to settle unobserved.
 *
 * @example
 * ```ts
 * import { withDeadline } from "./deadline.ts";
 * const v = await withDeadline(Promise.resolve(7), 1000, "a register read");
 * ```
 */
export function withDeadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DeadlineExceeded(`${what} did not finish within ${ms} ms`)), ms);
  });
  // A late rejection of `p` after the deadline must not surface as an unhandled rejection.
  p.catch(() => {});
  return Promise.race([p, expired]).finally(() => clearTimeout(timer));
}

/**
 * Calls `f` and bounds its promise with {@link withDeadline}; a synchronous
 * throw from `f` becomes a rejection.
 */
export function callWithDeadline<T>(f: () => Promise<T>, ms: number, what: string): Promise<T> {
  let p: Promise<T>;
  try {
    p = Promise.resolve(f());
  } catch (e) {
    return Promise.reject(e);
  }
  return withDeadline(p, ms, what);
}

/** Resolves after `ms` milliseconds (a macrotask: lets timers and I/O run). */
/**
 * `p`, or a rejection with the signal's reason as soon as `signal` aborts
 * (`p` itself goes on: it may be shared with others).
 *
 * @example
 * ```ts ignore
 * const trace = await untilAborted(sharedBaseline, ctx.signal);
 * ```
 */
export function untilAborted<T>(p: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return p;
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
