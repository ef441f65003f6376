/**
 * The one flag parser of the command-line tasks (`conform`, `expectations`,
 * `report`, `determinism`, `record`): `--name value`, `--name=value`, boolean
 * `--name`, `-h` for `--help`; a flag given twice, an unknown flag, a value
 * missing or empty, or an argument where none is taken is a
 * {@link UsageError} sentence. Integers are decimal or `0x` hex, in a range.
 *
 * @module
 */
import { UsageError } from "../options.ts";

/** What a task accepts. */
export interface FlagSpec {
  /** Flags that take a value. */
  values: readonly string[];
  /** Flags that take none (`help` is always one). */
  booleans: readonly string[];
  /** Value flags that may be given more than once (their values kept in order). */
  repeatable?: readonly string[];
  /**
   * Arguments that are not flags: `false` (default) refuses them with this hint (e.g. "targets are given with
   * --target"), `true` keeps them in {@link ParsedFlags.positional}.
   */
  positional?: boolean | { refuse: string };
}

/** A parsed command line. */
export interface ParsedFlags {
  /** The last (for a repeatable flag: every) value of each value flag given. */
  values: Map<string, string[]>;
  /** The boolean flags given. */
  booleans: Set<string>;
  /** Arguments that are not flags, in order (when the spec keeps them). */
  positional: string[];
}

/**
 * Parses `args` against `spec`.
 *
 * @example
 * ```ts
 * import { parseFlags } from "./flags.ts";
 * const f = parseFlags(["--seed=3", "--update", "a.json"], {
 *   values: ["seed"],
 *   booleans: ["update"],
 *   positional: true,
 * });
 * console.log(f.values.get("seed"), f.booleans.has("update"), f.positional); // ["3"] true ["a.json"]
 * ```
 */
export function parseFlags(args: readonly string[], spec: FlagSpec): ParsedFlags {
  const booleans = [...spec.booleans, "help"];
  const parsed: ParsedFlags = { values: new Map(), booleans: new Set(), positional: [] };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "-h") {
      parsed.booleans.add("help");
      continue;
    }
    if (!a.startsWith("-") || a === "-" || a === "--") {
      if (spec.positional === true && a !== "--") {
        parsed.positional.push(a);
        continue;
      }
      const refuse = typeof spec.positional === "object" ? `: ${spec.positional.refuse}` : "";
      throw new UsageError(a === "--" ? `unexpected "--": flags only` : `unexpected argument "${a}"${refuse}`);
    }
    if (!a.startsWith("--")) throw new UsageError(`unknown flag "${a}": see --help`);
    const eq = a.indexOf("=");
    const name = a.slice(2, eq < 0 ? undefined : eq);
    const inline = eq < 0 ? undefined : a.slice(eq + 1);
    if (booleans.includes(name)) {
      if (inline !== undefined) throw new UsageError(`--${name} takes no value, got "${inline}"`);
      if (parsed.booleans.has(name)) throw new UsageError(`--${name} is given twice`);
      parsed.booleans.add(name);
      continue;
    }
    if (!spec.values.includes(name)) throw new UsageError(`unknown flag "--${name}": see --help`);
    const repeatable = spec.repeatable?.includes(name) ?? false;
    if (parsed.values.has(name) && !repeatable) throw new UsageError(`--${name} is given twice`);
    let value = inline;
    if (value === undefined) {
      const next = args[i + 1];
      if (next === undefined || next.startsWith("--")) throw new UsageError(`--${name} needs a value`);
      value = next;
      i++;
    }
    if (value === "") throw new UsageError(`--${name} needs a non-empty value`);
    parsed.values.set(name, [...(parsed.values.get(name) ?? []), value]);
  }
  return parsed;
}

/** The value of a flag given once (the last, for a repeatable one), or undefined. */
export function flagValue(parsed: ParsedFlags, name: string): string | undefined {
  return parsed.values.get(name)?.at(-1);
}

/**
 * A flag's integer value, decimal or `0x` hex, from `min` to `max`.
 *
 * @example
 * ```ts
 * import { parseInteger } from "./flags.ts";
 * console.log(parseInteger("seed", "0x10", 0, 100)); // 16
 * ```
 */
export function parseInteger(flag: string, raw: string, min: number, max: number): number {
  const ok = /^(0x[0-9a-f]+|\d+)$/i.test(raw);
  const n = ok ? Number(raw) : NaN;
  if (!Number.isSafeInteger(n)) {
    throw new UsageError(`--${flag}: "${raw}" is not an integer (use decimal or 0x hex)`);
  }
  if (n < min || n > max) throw new UsageError(`--${flag}: ${raw} is out of range (${min} to ${max})`);
  return n;
}
