/**
 * Time as an implementation sees it: the wall clock, or a virtual clock the harness advances.
 *
 * A driver (or device) that takes its time from a {@link Clock} instead of `Date.now` and `setTimeout` can run on
 * {@link VirtualClock}: while everything in the process is waiting, the clock jumps to the next timer, so waiting for
 * something that does not happen (a request the device holds by design, a notification suppressed on purpose) costs
 * no wall-clock time. The harness offers one to in-process drivers in
 * {@link "../adapter.ts".HarnessDeviceEndpoint.clock}.
 *
 * @module
 */
import { setImmediate } from "node:timers";

/** A timer set on a {@link Clock}: pass it to {@link Clock.clearTimer}. */
export interface ClockTimer {
  /** Internal: the timer's identity on its clock. */
  readonly id: number;
}

/** A source of time and timers. */
export interface Clock {
  /** Milliseconds since some fixed moment (only differences mean anything). */
  now(): number;
  /** Resolves after `ms` milliseconds of this clock's time. */
  sleep(ms: number): Promise<void>;
  /** Calls `callback` once after `ms` milliseconds of this clock's time. */
  setTimer(callback: () => void, ms: number): ClockTimer;
  /** Calls `callback` every `ms` milliseconds of this clock's time until cleared. */
  setRepeating(callback: () => void, ms: number): ClockTimer;
  /** Cancels a timer (a timer already fired or cleared is ignored). */
  clearTimer(timer: ClockTimer | undefined): void;
}

/**
 * The wall clock: `Date.now` and the runtime's timers.
 *
 * @example
 * ```ts
 * import { realClock } from "./clock.ts";
 * const start = realClock.now();
 * await realClock.sleep(5);
 * console.log(realClock.now() - start >= 4); // true
 * ```
 */
export const realClock: Clock = (() => {
  let next = 1;
  const live = new Map<number, ReturnType<typeof setTimeout>>();
  return {
    now: () => Date.now(),
    sleep: (ms) => new Promise<void>((r) => setTimeout(r, ms)),
    setTimer(callback, ms) {
      const id = next++;
      live.set(
        id,
        setTimeout(() => {
          live.delete(id);
          callback();
        }, ms),
      );
      return { id };
    },
    setRepeating(callback, ms) {
      const id = next++;
      live.set(id, setInterval(callback, ms));
      return { id };
    },
    clearTimer(timer) {
      if (!timer) return;
      const handle = live.get(timer.id);
      live.delete(timer.id);
      // clearTimeout and clearInterval cancel either kind of timer.
      if (handle !== undefined) clearTimeout(handle);
    },
  };
})();

interface VirtualTimer {
  id: number;
  at: number;
  every: number;
  callback: () => void;
}

/** Options of a {@link VirtualClock}. */
export interface VirtualClockOptions {
  /**
   * A count that grows whenever the implementation or the harness does anything observable (an access to a register
   * or to guest memory): the clock moves only while the count stands still.
   */
  activity: () => number;
  /** Turns of the event loop the count must stand still before the clock moves (default 3). */
  quietTurns?: number;
}

/**
 * A clock that moves only when nothing else happens: while a timer is pending, it watches `activity` at every turn
 * of the event loop and, once the count has stood still for a few turns, jumps to the earliest timer and fires it.
 * Work that is under way (promises settling, accesses being made) always runs before time moves; waiting for what
 * never comes costs a few turns of the event loop per timer instead of the time waited.
 *
 * It is for implementations that run in this process and take every timer from the clock: a timer taken from the
 * runtime instead still fires in wall-clock time, and may find the virtual clock far ahead. {@link dispose} it when
 * the implementation is done.
 *
 * @example
 * ```ts
 * import { VirtualClock } from "./clock.ts";
 * const clock = new VirtualClock({ activity: () => 0 });
 * const wallStart = Date.now();
 * await clock.sleep(60_000);
 * console.log(clock.now(), Date.now() - wallStart < 1000); // 60000 true
 * clock.dispose();
 * ```
 */
export class VirtualClock implements Clock {
  #now = 0;
  #next = 1;
  #timers: VirtualTimer[] = [];
  #watching = false;
  #disposed = false;
  #seen = -1;
  #quiet = 0;
  readonly #activity: () => number;
  readonly #quietTurns: number;

  /** A clock at 0 that moves while `activity` stands still. */
  constructor(opts: VirtualClockOptions) {
    this.#activity = opts.activity;
    this.#quietTurns = Math.max(1, opts.quietTurns ?? 3);
  }

  /** Milliseconds of virtual time since the clock was made. */
  now(): number {
    return this.#now;
  }

  /** Resolves once the clock has moved `ms` milliseconds on. */
  sleep(ms: number): Promise<void> {
    return new Promise<void>((r) => this.setTimer(r, ms));
  }

  /** Calls `callback` once the clock has moved `ms` milliseconds on. */
  setTimer(callback: () => void, ms: number): ClockTimer {
    return this.#add(callback, ms, 0);
  }

  /** Calls `callback` each time the clock has moved another `ms` milliseconds on, until cleared. */
  setRepeating(callback: () => void, ms: number): ClockTimer {
    return this.#add(callback, ms, Math.max(1, ms));
  }

  /** Cancels a timer. */
  clearTimer(timer: ClockTimer | undefined): void {
    if (!timer) return;
    const i = this.#timers.findIndex((t) => t.id === timer.id);
    if (i >= 0) this.#timers.splice(i, 1);
  }

  /** Drops every pending timer and stops watching: nothing set on this clock fires any more. */
  dispose(): void {
    this.#disposed = true;
    this.#timers = [];
  }

  /** How many timers are pending. */
  get pending(): number {
    return this.#timers.length;
  }

  #add(callback: () => void, ms: number, every: number): ClockTimer {
    const id = this.#next++;
    if (this.#disposed) return { id };
    const delay = Number.isFinite(ms) && ms > 0 ? ms : 0;
    this.#timers.push({ id, at: this.#now + delay, every, callback });
    this.#watch();
    return { id };
  }

  #watch(): void {
    if (this.#watching || this.#disposed) return;
    this.#watching = true;
    this.#seen = -1;
    this.#quiet = 0;
    setImmediate(this.#turn);
  }

  #turn = (): void => {
    if (this.#disposed || this.#timers.length === 0) {
      this.#watching = false;
      return;
    }
    // The next turn is booked first: a callback that throws does not stop the clock.
    setImmediate(this.#turn);
    const seen = this.#activity();
    if (seen !== this.#seen) {
      this.#seen = seen;
      this.#quiet = 0;
    } else if (++this.#quiet >= this.#quietTurns) {
      this.#quiet = 0;
      this.#fireEarliest();
    }
  };

  #fireEarliest(): void {
    let first = this.#timers[0]!;
    for (const t of this.#timers) if (t.at < first.at || (t.at === first.at && t.id < first.id)) first = t;
    this.#now = Math.max(this.#now, first.at);
    if (first.every > 0) first.at = this.#now + first.every;
    else this.#timers.splice(this.#timers.indexOf(first), 1);
    first.callback();
  }
}
