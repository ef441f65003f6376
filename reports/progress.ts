/**
 * The run's progress on stderr, never among the result lines on stdout: on a
 * terminal one status line rewritten in place (target, transport, clause n of
 * N, elapsed time, an estimate of what is left); without one (CI logs), a
 * whole line every 10 seconds.
 *
 * @module
 */

/** How often a progress line is written without a terminal (ms). */
export const PROGRESS_EVERY_MS = 10_000;

/** Where and how progress is shown. */
export interface ProgressSink {
  /** Writes text as it is (no newline added). */
  write(text: string): void;
  /** Whether the sink is a terminal (a line rewritten in place) or a log (whole lines now and then). */
  terminal: boolean;
  /** The clock (ms; default `performance.now`). */
  now?: () => number;
}

function seconds(ms: number): string {
  const s = Math.round(ms / 1000);
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
}

/**
 * Progress of one run over its targets.
 *
 * @example
 * ```ts
 * import { Progress } from "./progress.ts";
 * const out: string[] = [];
 * const p = new Progress({ write: (t) => out.push(t), terminal: false, now: () => 0 });
 * p.begin("reference-rng-device", 10);
 * p.step("mmio");
 * p.done();
 * console.log(out.join(""));
 * ```
 */
export class Progress {
  readonly #sink: ProgressSink;
  readonly #now: () => number;
  readonly #start: number;
  #label = "";
  #total = 0;
  #done = 0;
  #transport = "";
  #lastLine = -Infinity;
  #shown = false;

  constructor(sink: ProgressSink) {
    this.#sink = sink;
    this.#now = sink.now ?? (() => performance.now());
    this.#start = this.#now();
  }

  /** A target starts: `total` results are expected from it. */
  begin(label: string, total: number): void {
    this.#label = label;
    this.#total = Math.max(0, total);
    this.#done = 0;
    this.#transport = "";
    this.#show(true);
  }

  /** One result arrived (on `transport`). */
  step(transport: string): void {
    this.#done++;
    this.#transport = transport;
    this.#show(false);
  }

  /** Clears a terminal's status line (before a result line is printed on the same terminal). */
  clear(): void {
    if (this.#sink.terminal && this.#shown) this.#sink.write("\r\x1b[K");
    this.#shown = false;
  }

  /** The run ended: a terminal's status line is cleared. */
  done(): void {
    this.clear();
  }

  /** The status text now. */
  status(): string {
    const elapsed = this.#now() - this.#start;
    const left = this.#total - this.#done;
    const perResult = this.#done > 0 ? elapsed / this.#done : 0;
    const estimate = this.#done > 0 && left > 0 ? `, about ${seconds(perResult * left)} left on this target` : "";
    const where = this.#transport ? ` ${this.#transport}` : "";
    return `${this.#label}${where}: clause ${Math.min(this.#done, this.#total)} of ${this.#total}, ${
      seconds(elapsed)
    }${estimate}`;
  }

  #show(force: boolean): void {
    if (this.#sink.terminal) {
      this.#sink.write(`\r\x1b[K${this.status()}`);
      this.#shown = true;
      return;
    }
    const now = this.#now();
    if (!force && now - this.#lastLine < PROGRESS_EVERY_MS) return;
    this.#lastLine = now;
    this.#sink.write(`${this.status()}\n`);
  }
}
