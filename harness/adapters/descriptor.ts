/**
 * What an adapter tells the target-file loader and the command line about
 * itself: its name, the roles its targets take, how it checks a target
 * file's `options`, how it builds a target, which programs it runs and how
 * whatever it started is stopped when the run is interrupted. The loader
 * looks adapters up by name ({@link ADAPTER_REGISTRY} in `registry.ts`) and
 * has no branch per adapter.
 *
 * @module
 */
import type { Target } from "../adapter.ts";
import type { DeviceTypeName } from "../features.ts";

/** The checked options of a target file, ready for {@link AdapterDescriptor.create}. */
export interface CheckedOptions {
  role: "device" | "driver";
  /** The adapter's own options object (opaque to the loader). */
  options: unknown;
  /** Driver role: the device type the harness presents. */
  present?: DeviceTypeName;
}

/** One adapter, as the loader and the command line see it. */
export interface AdapterDescriptor {
  /** The name target files give in `"adapter"`. */
  readonly name: string;
  /** One line: what the adapter connects the harness to. */
  readonly summary: string;
  /** The roles its targets can take. */
  readonly roles: readonly ("device" | "driver")[];
  /** The programs it runs (what `--allow-run` must name). */
  readonly programs: readonly string[];
  /**
   * A JSON Schema (draft 2020-12) of its `options`: the shape {@link check} accepts (keys, types, ranges, enums).
   * Rules across keys stay in `check`; the schema never refuses what `check` accepts. The target-file schema is
   * assembled from these.
   */
  readonly optionsSchema: Record<string, unknown>;
  /**
   * Checks a target file's `role` and `options` (the common keys are checked already); throws a `UsageError`
   * whose message starts with `where`.
   */
  check(role: unknown, options: unknown, where: string): CheckedOptions;
  /** Builds the target from checked options; `name` is the file's `"name"` or its base name. */
  create(name: string, options: unknown): Target;
  /** Stops whatever the adapter started that is still running (a signal ends the run); how many it stopped. */
  cleanup?(): number;
}
