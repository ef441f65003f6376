/**
 * The console reporter: one line per result as it arrives, and for a
 * `fail`, `warn` or `error` the requirement, what was expected, what was
 * seen, the seed and the one-line replay command (in the manner of h2spec).
 *
 * The last two lines are the summary, `N passed, N failed, N warned, N n/a,
 * N errors`, and `N passed, N failed` (failed counting fail and error) which
 * CI parses. Neither carries colour.
 *
 * @module
 */
import { Chalk, type ChalkInstance, supportsColor } from "chalk";
import type { ClauseResult, Verdict } from "../harness/core/result.ts";

/** Options of the console reporter. */
export interface ConsoleReporterOptions {
  /** Print only results that are not `pass`, and the summary. */
  quiet?: boolean;
  /** Colour: true/false forces, undefined decides from NO_COLOR and the terminal. */
  color?: boolean;
  /** Where lines go (default: `console.log`). */
  write?: (line: string) => void;
}

/** True when colour should be used: NO_COLOR unset (or empty) and stdout is a terminal. */
export function colorWanted(): boolean {
  let noColor: string | undefined;
  try {
    noColor = Deno.env.get("NO_COLOR");
  } catch {
    noColor = undefined;
  }
  if (noColor !== undefined && noColor !== "") return false;
  try {
    return Deno.stdout.isTerminal();
  } catch {
    return false;
  }
}

/** A chalk instance honouring NO_COLOR and the terminal (or the forced choice). */
export function makeChalk(color?: boolean): ChalkInstance {
  if (color === true) return new Chalk({ level: supportsColor ? Math.max(1, supportsColor.level) as 1 | 2 | 3 : 1 });
  return color === undefined && colorWanted() ? new Chalk() : new Chalk({ level: 0 });
}

const LABELS: Record<Verdict, string> = {
  pass: "PASS",
  fail: "FAIL",
  warn: "WARN",
  "n/a": "N/A",
  error: "ERROR",
};

/** The summary line: `N passed, N failed, N warned, N n/a, N errors`. */
export function summaryLine(s: Record<Verdict, number>): string {
  return `${s.pass} passed, ${s.fail} failed, ${s.warn} warned, ${s["n/a"]} n/a, ${s.error} errors`;
}

/** The CI line: `N passed, N failed`, where failed counts fail and error. */
export function ciLine(s: Record<Verdict, number>): string {
  return `${s.pass} passed, ${s.fail + s.error} failed`;
}

/** Prints results as they arrive and a summary at the end. */
export class ConsoleReporter {
  readonly #quiet: boolean;
  readonly #c: ChalkInstance;
  readonly #write: (line: string) => void;

  constructor(opts: ConsoleReporterOptions = {}) {
    this.#quiet = opts.quiet ?? false;
    this.#c = makeChalk(opts.color);
    this.#write = opts.write ?? ((l) => console.log(l));
  }

  #paint(v: Verdict, text: string): string {
    const c = this.#c;
    switch (v) {
      case "pass":
        return c.green(text);
      case "fail":
        return c.red.bold(text);
      case "warn":
        return c.yellow(text);
      case "n/a":
        return c.gray(text);
      case "error":
        return c.magenta.bold(text);
    }
  }

  /** A free line (e.g. the seed), printed unless quiet. */
  info(line: string): void {
    if (!this.#quiet) this.#write(line);
  }

  /** The heading of a target run, printed unless quiet. */
  target(name: string, detail: string): void {
    if (this.#quiet) return;
    this.#write("");
    this.#write(this.#c.bold(`${name}`) + this.#c.gray(` (${detail})`));
  }

  /** The lines of one result (empty for a pass when quiet). */
  format(r: ClauseResult): string[] {
    if (this.#quiet && r.verdict === "pass") return [];
    const c = this.#c;
    const verdict = this.#paint(r.verdict, LABELS[r.verdict].padEnd(5));
    const head = `  ${verdict} ${c.bold(r.clause.padEnd(10))} ${
      r.level.padEnd(10)
    } ${r.target}/${r.transport}  ${r.title}`;
    // An n/a says why; a pass carries remarks on how it ran (e.g. a window the device was given).
    const aside = (r.verdict === "n/a" || r.verdict === "pass") && r.message;
    const lines = [aside ? `${head} ${c.gray(`(${r.message})`)}` : head];
    if (r.verdict === "fail" || r.verdict === "warn" || r.verdict === "error") {
      const pad = "          ";
      lines.push(`${pad}${c.gray("Requirement:")} ${r.requirement}`);
      if (r.verdict === "error") {
        lines.push(`${pad}${c.gray("Expected:")} ${r.expected ?? "the clause to run to a verdict"}`);
        lines.push(`${pad}${c.gray("Actual:")} ${r.actual ?? r.message}`);
      } else {
        lines.push(`${pad}${c.gray("Expected:")} ${r.expected ?? "?"}`);
        lines.push(`${pad}${c.gray("Actual:")} ${r.actual ?? r.message}`);
      }
      if (r.counterexample) lines.push(`${pad}${c.gray("Counterexample:")} ${r.counterexample}`);
      lines.push(`${pad}${c.gray("Seed:")} ${r.seed}`);
      if (r.replay) lines.push(`${pad}${c.gray("Replay:")} ${r.replay}`);
    }
    return lines;
  }

  /** Prints one result. */
  result(r: ClauseResult): void {
    for (const l of this.format(r)) this.#write(l);
  }

  /** Prints the two summary lines (always, uncoloured). */
  summary(s: Record<Verdict, number>): void {
    this.#write("");
    this.#write(summaryLine(s));
    this.#write(ciLine(s));
  }
}
