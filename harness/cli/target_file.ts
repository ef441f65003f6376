/**
 * Target files and built-in target names: what `--target` accepts.
 *
 * A target file is JSONC:
 *
 * ```jsonc
 * { "adapter": "in-process", "role": "device", "name": "my-blk",
 *   "options": { "model": "reference", "deviceType": "blk" } }
 * ```
 *
 * `options` holds exactly one of `model` (`"reference"`), `mutant` (a
 * mutant's name) or `module` (a TypeScript module relative to the target
 * file, with `export` naming the export, default `default`). Device targets
 * take `deviceType`, driver targets take `present` (the device type the
 * harness presents). Built-in names need no file: `reference-rng-device`,
 * `reference-blk-device`, `reference-console-device`, `reference-net-device`, `reference-driver`,
 * `mutant:<name>`.
 *
 * With `"adapter": "qemu"` (device role only) `options` describes a QEMU
 * device: `transport` (`"mmio"`, `"mmio-legacy"` or `"pci"`), `device` (the
 * `-device` argument), and optionally `machine` (`"virt"` for MMIO, `"q35"`
 * for PCI), `binary`, `deviceType`, `extraArgs`, `memoryMiB` and `driveMiB`
 * (an empty raw disk image attached as `drive0`).
 *
 * Every problem is a {@link UsageError} whose message is one sentence.
 *
 * @module
 */
import { parse as parseJsonc } from "@std/jsonc";
import type { DriverTarget, DriverTargetInfo, Target } from "../adapter.ts";
import { loadInWorker, WorkerDeviceTarget, type WorkerModule } from "../adapters/worker/worker_device.ts";
import { WorkerDriverTarget } from "../adapters/worker/worker_driver.ts";
import { RemoteDeviceTarget } from "../adapters/worker/remote_device.ts";
import type { LoadReply } from "../adapters/worker/worker_protocol.ts";
import { ADAPTER_REGISTRY, adapterNamed } from "../adapters/registry.ts";
import { allMutants, referenceDriver } from "./builtins.ts";
import { DEVICE_IDS, type DeviceTypeName, type ModelledDeviceType, type TransportKind } from "../features.ts";
import { referenceDeviceTarget } from "../models/device/reference.ts";
import { BlkFunction, SECTOR } from "../models/device/blk.ts";
import type { ZonedOptions } from "../models/device/blk_zoned.ts";
import { errorText, escapeControls } from "../text.ts";
import { checkKeys, describeValue as describe, isRecord, oneOf, quoteList, UsageError } from "../options.ts";

export { UsageError } from "../options.ts";

/** Adapters this version implements: the in-process one (built here) and every one in the registry. */
export const ADAPTERS: readonly string[] = ["in-process", ...ADAPTER_REGISTRY.map((a) => a.name)];

/** Device types the bundled reference device models (device role). */
export const REFERENCE_DEVICE_TYPES: readonly DeviceTypeName[] = ["rng", "blk", "console", "net"];

/** Device types the harness can present to a driver under test. */
export const PRESENTABLE: readonly DeviceTypeName[] = ["rng", "blk", "console", "net"];

/** Built-in target names (besides `mutant:<name>`). */
export const BUILTIN_TARGETS: readonly string[] = [
  "reference-rng-device",
  "reference-blk-device",
  "reference-console-device",
  "reference-net-device",
  "reference-driver",
];

const DEVICE_TYPES = Object.keys(DEVICE_IDS) as ModelledDeviceType[];
const TRANSPORTS: readonly TransportKind[] = ["mmio", "mmio-legacy", "pci", "ccw"];
const WORKLOADS: readonly string[] = [
  "rng-read",
  "blk-read",
  "blk-write",
  "blk-capacity",
  "blk-flush",
  "blk-get-id",
  "blk-discard",
  "blk-write-zeroes",
  "blk-secure-erase",
  "blk-zone",
  "blk-zone-report",
  "blk-zone-append",
  "queue-reset",
  "suspend",
  "console-write",
  "net-send",
  "net-receive",
  "net-coalesce",
  "net-stats",
  "net-rss",
  "net-offloads",
  "net-hash-tunnel",
  "net-flow-filter",
  "net-ipsec",
];

/** Where the implementation under test comes from. */
export type TargetSource =
  | { kind: "model"; model: "reference"; deviceType?: DeviceTypeName; zoned?: ZonedOptions }
  | { kind: "mutant"; mutant: string }
  | {
    kind: "module";
    module: string;
    export: string;
    deviceType?: DeviceTypeName;
    info: string;
    /** Where the module runs: a child process (the default) or a worker in the harness. */
    isolation?: "process" | "worker";
    /** The child process's heap limit in MiB. */
    heapMiB?: number;
    /** More paths the child process may read (relative to the target file). */
    allowRead?: string[];
  }
  /** An adapter of the registry, with the options its descriptor checked. */
  | { kind: "adapter"; options: unknown };

/** A validated target file (or built-in name). */
export interface TargetSpec {
  adapter: string;
  role: "device" | "driver";
  name?: string;
  source: TargetSource;
  /** Driver role: the device type the harness presents. */
  present?: DeviceTypeName;
  /** What `--target` said (a path or a built-in name). */
  arg: string;
  /** For files: the file's path (module paths resolve against it). */
  file?: string;
}

/** A target ready to run. */
export interface LoadedTarget {
  spec: TargetSpec;
  target: Target;
  /** Driver role: the device type the target asks to be presented (file or mutant), if any. */
  present?: DeviceTypeName;
  /** How replay commands name the target: `--target <arg>`. */
  targetArg: string;
}

/** The error for an adapter this version does not implement. */
export function unknownAdapter(name: string): UsageError {
  return new UsageError(
    `unknown adapter ${escapeControls(JSON.stringify(name))}: this version supports ${ADAPTERS.join(", ")}`,
  );
}

/**
 * Validates the parsed content of a target file. `where` prefixes every
 * message, e.g. `target file fixtures/targets/x.jsonc`.
 */
export function validateTargetSpec(data: unknown, where: string, arg: string, file?: string): TargetSpec {
  if (!isRecord(data)) throw new UsageError(`${where}: the file must hold a JSON object, got ${describe(data)}`);
  checkKeys(where, data, ["$schema", "adapter", "role", "name", "description", "options"], "the target");
  if (data.$schema !== undefined && typeof data.$schema !== "string") {
    throw new UsageError(`${where}: "$schema" must be a string (the schema's address), got ${describe(data.$schema)}`);
  }
  if (data.adapter === undefined) throw new UsageError(`${where}: "adapter" is missing (use "in-process")`);
  if (typeof data.adapter !== "string") {
    throw new UsageError(`${where}: "adapter" must be a string, got ${describe(data.adapter)}`);
  }
  if (!ADAPTERS.includes(data.adapter)) throw new UsageError(`${where}: ${unknownAdapter(data.adapter).message}`);
  if (data.role === undefined) throw new UsageError(`${where}: "role" is missing (use "device" or "driver")`);
  const role = oneOf(where, "role", data.role, ["device", "driver"] as const);
  if (data.name !== undefined && (typeof data.name !== "string" || data.name.trim() === "")) {
    throw new UsageError(`${where}: "name" must be a non-empty string, got ${describe(data.name)}`);
  }
  if (data.description !== undefined && typeof data.description !== "string") {
    throw new UsageError(`${where}: "description" must be a string, got ${describe(data.description)}`);
  }
  const descriptor = adapterNamed(data.adapter);
  if (descriptor) {
    const checked = descriptor.check(data.role, data.options, where);
    const spec: TargetSpec = {
      adapter: descriptor.name,
      role: checked.role,
      source: { kind: "adapter", options: checked.options },
      arg,
    };
    if (typeof data.name === "string") spec.name = data.name;
    if (checked.present) spec.present = checked.present;
    if (file !== undefined) spec.file = file;
    return spec;
  }
  if (data.options === undefined) {
    throw new UsageError(`${where}: "options" is missing (it names a "model", a "mutant" or a "module")`);
  }
  if (!isRecord(data.options)) {
    throw new UsageError(`${where}: "options" must be an object, got ${describe(data.options)}`);
  }
  const o = data.options;
  const kinds = (["model", "mutant", "module"] as const).filter((k) => o[k] !== undefined);
  if (kinds.length !== 1) {
    throw new UsageError(
      kinds.length === 0
        ? `${where}: "options" must name one of "model", "mutant" or "module"`
        : `${where}: "options" names both ${quoteList(kinds)}; give exactly one`,
    );
  }
  const roleKey = role === "device" ? "deviceType" : "present";
  let present: DeviceTypeName | undefined;
  if (role === "driver" && o.present !== undefined) present = oneOf(where, "options.present", o.present, PRESENTABLE);
  if (role === "device" && o.present !== undefined) {
    throw new UsageError(`${where}: "options.present" is for driver targets; a device target takes "deviceType"`);
  }
  let source: TargetSource;
  switch (kinds[0]!) {
    case "model": {
      checkKeys(where, o, role === "device" ? ["model", roleKey, "zoned"] : ["model", roleKey], "options");
      oneOf(where, "options.model", o.model, ["reference"] as const);
      if (role === "device") {
        if (o.deviceType === undefined) {
          throw new UsageError(
            `${where}: "options.deviceType" is missing (one of ${quoteList(REFERENCE_DEVICE_TYPES)})`,
          );
        }
        const deviceType = oneOf(where, "options.deviceType", o.deviceType, REFERENCE_DEVICE_TYPES);
        if (o.zoned !== undefined && deviceType !== "blk") {
          throw new UsageError(`${where}: "options.zoned" is for a reference blk device, not ${deviceType}`);
        }
        source = {
          kind: "model",
          model: "reference",
          deviceType,
          ...(o.zoned === undefined ? {} : { zoned: zonedOption(where, o.zoned) }),
        };
      } else source = { kind: "model", model: "reference" };
      break;
    }
    case "mutant": {
      checkKeys(where, o, role === "driver" ? ["mutant", "present"] : ["mutant"], "options");
      if (typeof o.mutant !== "string" || o.mutant === "") {
        throw new UsageError(`${where}: "options.mutant" must be a mutant's name, got ${describe(o.mutant)}`);
      }
      source = { kind: "mutant", mutant: o.mutant };
      break;
    }
    case "module": {
      checkKeys(
        where,
        o,
        [
          ...(role === "device" ? ["module", "export", "deviceType"] : ["module", "export", "info", "present"]),
          ...ISOLATION_KEYS,
        ],
        "options",
      );
      if (typeof o.module !== "string" || o.module === "") {
        throw new UsageError(
          `${where}: "options.module" must be a path to a TypeScript module, got ${describe(o.module)}`,
        );
      }
      for (const k of ["export", "info"]) {
        if (o[k] !== undefined && (typeof o[k] !== "string" || o[k] === "")) {
          throw new UsageError(`${where}: "options.${k}" must be an export name, got ${describe(o[k])}`);
        }
      }
      source = {
        kind: "module",
        module: o.module,
        export: (o.export as string | undefined) ?? "default",
        info: (o.info as string | undefined) ?? "info",
        ...isolationOptions(where, o),
      };
      if (role === "device") {
        if (o.deviceType === undefined) {
          throw new UsageError(`${where}: "options.deviceType" is missing (one of ${quoteList(DEVICE_TYPES)})`);
        }
        source.deviceType = oneOf(where, "options.deviceType", o.deviceType, DEVICE_TYPES);
      }
      break;
    }
  }
  const spec: TargetSpec = { adapter: data.adapter, role, source, arg };
  if (typeof data.name === "string") spec.name = data.name;
  if (present) spec.present = present;
  if (file !== undefined) spec.file = file;
  return spec;
}

const ISOLATION_KEYS = ["isolation", "heapMiB", "allowRead"];

function isolationOptions(
  where: string,
  o: Record<string, unknown>,
): { isolation: "process" | "worker"; heapMiB?: number; allowRead: string[] } {
  const isolation = o.isolation === undefined
    ? "process"
    : oneOf(where, "options.isolation", o.isolation, ["process", "worker"] as const);
  if (isolation === "worker" && (o.heapMiB !== undefined || o.allowRead !== undefined)) {
    throw new UsageError(`${where}: "options.heapMiB" and "options.allowRead" are for "isolation": "process"`);
  }
  const out: { isolation: "process" | "worker"; heapMiB?: number; allowRead: string[] } = { isolation, allowRead: [] };
  if (o.heapMiB !== undefined) {
    const h = o.heapMiB;
    if (typeof h !== "number" || !Number.isInteger(h) || h < 16 || h > 65536) {
      throw new UsageError(`${where}: "options.heapMiB" must be a whole number from 16 to 65536, got ${describe(h)}`);
    }
    out.heapMiB = h;
  }
  if (o.allowRead !== undefined) {
    const r = o.allowRead;
    if (!Array.isArray(r) || r.some((x) => typeof x !== "string" || x === "" || x.includes(","))) {
      throw new UsageError(
        `${where}: "options.allowRead" must be a list of paths (no commas), got ${describe(r)}`,
      );
    }
    out.allowRead = r as string[];
  }
  return out;
}

/** Parses and validates the text of a target file. */
export function parseTargetText(text: string, path: string): TargetSpec {
  const where = `target file ${path}`;
  let data: unknown;
  try {
    data = parseJsonc(text);
  } catch (e) {
    throw new UsageError(`${where}: not valid JSONC: ${escapeControls(errorText(e))}`);
  }
  return validateTargetSpec(data, where, path, path);
}

/** Reads and validates a target file. */
export async function readTargetFile(path: string): Promise<TargetSpec> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new UsageError(`target file ${path}: no such file`);
    if (e instanceof Deno.errors.PermissionDenied || (e instanceof Error && e.name === "NotCapable")) {
      throw new UsageError(
        `target file ${path}: not readable with the granted permissions (grant --allow-read for it)`,
      );
    }
    if (e instanceof Deno.errors.IsADirectory) throw new UsageError(`target file ${path}: is a directory`);
    throw new UsageError(`target file ${path}: cannot be read: ${errorText(e)}`);
  }
  return parseTargetText(text, path);
}

/** The built-in reference devices, by name. */
const REFERENCE_DEVICE_NAMES: Record<string, DeviceTypeName> = {
  "reference-rng-device": "rng",
  "reference-blk-device": "blk",
  "reference-console-device": "console",
  "reference-net-device": "net",
};

/** The spec of a built-in target name, or undefined when `arg` is not one. */
export function builtinSpec(arg: string): TargetSpec | undefined {
  const deviceType = REFERENCE_DEVICE_NAMES[arg];
  if (deviceType) {
    return { adapter: "in-process", role: "device", source: { kind: "model", model: "reference", deviceType }, arg };
  }
  if (arg === "reference-driver") {
    return { adapter: "in-process", role: "driver", source: { kind: "model", model: "reference" }, arg };
  }
  if (arg.startsWith("mutant:")) {
    const name = arg.slice("mutant:".length);
    if (!name) throw new UsageError(`target "${arg}": name the mutant, e.g. mutant:device-status-not-reset`);
    return { adapter: "in-process", role: "device", source: { kind: "mutant", mutant: name }, arg };
  }
  return undefined;
}

/** The suite's own folder: a module's child process may read it (a module imports the suite's API). */
const SUITE_ROOT = dirOf(decodeURIComponent(new URL("../../mod.ts", import.meta.url).pathname));

function dirOf(path: string): string {
  const i = path.lastIndexOf("/");
  return i <= 0 ? "/" : path.slice(0, i);
}

function fileUrl(absPath: string): URL {
  const u = new URL("file:///");
  u.pathname = absPath;
  return u;
}

async function moduleUrl(spec: TargetSpec, module: string): Promise<URL> {
  const where = spec.file ? `target file ${spec.file}` : `target ${spec.arg}`;
  if (/^[a-z][a-z0-9+.-]*:/i.test(module) && !/^[a-z]:[\\/]/i.test(module)) {
    if (!module.startsWith("file:")) {
      throw new UsageError(`${where}: "options.module" must be a local path, got ${JSON.stringify(module)}`);
    }
    return new URL(module);
  }
  let base: string;
  try {
    base = spec.file ? await Deno.realPath(spec.file) : `${Deno.cwd()}/`;
  } catch (e) {
    throw new UsageError(`${where}: cannot resolve the target file's directory: ${e instanceof Error ? e.message : e}`);
  }
  return new URL(module, fileUrl(base));
}

/**
 * Loads a user's module. The module is imported in a child process (or a
 * worker, with `"isolation": "worker"`) first, so an import that hangs,
 * throws or exits cannot hurt the harness; a factory export then runs there
 * ({@link WorkerDeviceTarget}, {@link WorkerDriverTarget}), and so does a
 * whole target object ({@link RemoteDeviceTarget}, or a
 * {@link WorkerDriverTarget} that attaches and watches through it).
 */
async function loadModule(spec: TargetSpec, src: Extract<TargetSource, { kind: "module" }>): Promise<Target> {
  const where = spec.file ? `target file ${spec.file}` : `target ${spec.arg}`;
  const url = await moduleUrl(spec, src.module);
  const name = spec.name ?? baseName(spec.file ?? src.module);
  const mod: WorkerModule = { url: url.href, export: src.export, isolation: { kind: "worker" } };
  if (src.isolation !== "worker") {
    const base = spec.file ? dirOf(await Deno.realPath(spec.file)) : Deno.cwd();
    mod.isolation = {
      kind: "process",
      ...(src.heapMiB !== undefined ? { heapMiB: src.heapMiB } : {}),
      read: [
        dirOf(decodeURIComponent(url.pathname)),
        SUITE_ROOT,
        ...(src.allowRead ?? []).map((p) => p.startsWith("/") ? p : `${base}/${p}`),
      ],
    };
  }
  let reply: LoadReply;
  try {
    const loaded = await loadInWorker(name, mod, spec.role, src.info, {});
    loaded.channel.kill("the module was only inspected");
    reply = loaded.reply;
  } catch (e) {
    const msg = (errorText(e)).split("\n")[0];
    const hint = mod.isolation?.kind === "process" && /Requires read access/.test(msg ?? "")
      ? ` (a module's process may read only its own folder and the suite's: list what else it imports in "options.allowRead")`
      : "";
    throw new UsageError(`${where}: cannot import module ${src.module}: ${msg}${hint}`);
  }
  if (reply.type === "missing") {
    const names = reply.exports;
    throw new UsageError(
      `${where}: module ${src.module} has no export "${src.export}" (it exports ${
        names.length ? names.join(", ") : "nothing"
      })`,
    );
  }
  if (reply.targetObject) {
    const what = `the info of target "${src.export}" of ${src.module}`;
    if (spec.role === "device") {
      const info = isRecord(reply.targetInfo) ? reply.targetInfo : {};
      const transports = info.transports === undefined ? [info.transport ?? "mmio"] : info.transports;
      const kinds = TRANSPORTS;
      if (!Array.isArray(transports) || transports.length === 0 || transports.some((t) => !kinds.includes(t))) {
        throw new UsageError(
          `${where}: ${what}: "transports" must be a non-empty list of ${quoteList(kinds)}, got ${
            describe(transports)
          }`,
        );
      }
      const deviceType = src.deviceType ?? info.deviceType;
      return new RemoteDeviceTarget({
        name,
        transport: transports[0] as TransportKind,
        transports: transports as TransportKind[],
        ...(typeof deviceType === "string" ? { deviceType: deviceType as DeviceTypeName } : {}),
      }, mod);
    }
    const info = checkDriverInfo(where, what, reply.targetInfo);
    return new WorkerDriverTarget({ name, ...info }, mod, {}, reply.watch ?? false);
  }
  if (reply.type !== "function") {
    const kind = spec.role === "device" ? "InProcessDeviceFactory" : "InProcessDriverFactory";
    throw new UsageError(
      `${where}: export "${src.export}" of ${src.module} must be an ${kind} (a function), got ${reply.type}`,
    );
  }
  if (spec.role === "device") return new WorkerDeviceTarget(name, src.deviceType!, mod);
  const info = checkDriverInfo(where, `export "${src.info}" of ${src.module}`, reply.info);
  return new WorkerDriverTarget({ name, ...info }, mod);
}

function checkDriverInfo(
  where: string,
  what: string,
  info: unknown,
): Omit<DriverTargetInfo, "adapter" | "contractVersion" | "name"> {
  if (!isRecord(info)) {
    throw new UsageError(
      `${where}: ${what} must describe the driver ({ deviceTypes, transports, workloads }), got ${describe(info)}`,
    );
  }
  const list = <T extends string>(key: string, allowed: readonly T[], fallback?: T[]): T[] => {
    const v = info[key] ?? fallback;
    if (!Array.isArray(v) || v.length === 0 || v.some((x) => !allowed.includes(x as T))) {
      throw new UsageError(
        `${where}: ${what}: "${key}" must be a non-empty list of ${quoteList(allowed)}, got ${describe(v)}`,
      );
    }
    return v as T[];
  };
  return {
    deviceTypes: list("deviceTypes", DEVICE_TYPES),
    transports: list("transports", TRANSPORTS, ["mmio"]),
    workloads: list("workloads", WORKLOADS as readonly DriverTargetInfo["workloads"][number][]),
  };
}

function baseName(path: string): string {
  const b = path.slice(Math.max(path.lastIndexOf("/"), path.lastIndexOf("\\")) + 1);
  return b.replace(/\.(jsonc|json|ts|js|mts|mjs)$/, "");
}

/** Builds the target a spec describes. */
export async function resolveTarget(spec: TargetSpec): Promise<LoadedTarget> {
  const where = spec.file ? `target file ${spec.file}` : `target ${spec.arg}`;
  if (!ADAPTERS.includes(spec.adapter)) throw unknownAdapter(spec.adapter);
  const targetArg = `--target ${/^[\w./:@+-]+$/.test(spec.arg) ? spec.arg : `'${spec.arg.replace(/'/g, "'\\''")}'`}`;
  const src = spec.source;
  let target: Target;
  let present = spec.present;
  switch (src.kind) {
    case "model": {
      if (spec.role === "device") {
        const type = src.deviceType!;
        const zoned = src.zoned;
        const parts = zoned ? { fn: () => new BlkFunction({ zoned }) } : {};
        target = referenceDeviceTarget(type, parts, spec.name ?? `reference-${type}-device`);
      } else {
        const t = await referenceDriver(spec.name ?? "reference-driver");
        if (!t) throw new UsageError(`${where}: this build has no reference driver yet`);
        target = t;
      }
      break;
    }
    case "mutant": {
      const mutants = await allMutants();
      const m = mutants.find((x) => x.name === src.mutant);
      if (!m) {
        const known = mutants.map((x) => x.name);
        throw new UsageError(
          `${where}: unknown mutant "${src.mutant}": ${
            known.length ? `known mutants are ${known.join(", ")}` : "no mutants are registered"
          }`,
        );
      }
      if (spec.file && m.role !== spec.role) {
        throw new UsageError(`${where}: mutant "${m.name}" is a ${m.role} mutant but "role" is "${spec.role}"`);
      }
      spec.role = m.role;
      try {
        target = m.target();
      } catch (e) {
        throw new UsageError(`${where}: mutant "${m.name}" could not be built: ${e instanceof Error ? e.message : e}`);
      }
      if (target.role === "driver") present ??= m.deviceType;
      if (spec.name && target.role === "driver") target = renameDriver(target, spec.name);
      break;
    }
    case "module":
      target = await loadModule(spec, src);
      break;
    case "adapter": {
      const descriptor = adapterNamed(spec.adapter);
      if (!descriptor) throw unknownAdapter(spec.adapter);
      target = descriptor.create(spec.name ?? baseName(spec.file ?? spec.arg), src.options);
      break;
    }
  }
  if (target.role !== spec.role) {
    throw new UsageError(`${where}: the target is a ${target.role} but "role" is "${spec.role}"`);
  }
  if (target.role === "driver" && present && !target.info.deviceTypes.includes(present)) {
    throw new UsageError(
      `${where}: "present" is "${present}" but driver "${target.info.name}" drives ${
        target.info.deviceTypes.join(", ")
      } only`,
    );
  }
  const out: LoadedTarget = { spec, target, targetArg };
  if (present) out.present = present;
  return out;
}

/** The integer fields of a zoned disk (`options.zoned`) with their bounds. */
const ZONED_INTS: readonly [keyof ZonedOptions, number, number][] = [
  ["zoneSectors", 1, 2 ** 31],
  ["conventional", 0, 2 ** 16],
  ["offline", 0, 2 ** 16],
  ["maxOpen", 0, 2 ** 16],
  ["maxActive", 0, 2 ** 16],
  ["maxAppendSectors", 0, 2 ** 16],
  ["writeGranularity", SECTOR, 2 ** 20],
];

/** `options.zoned` of a reference blk device: the zoned disk's layout (see {@link ZonedOptions}). */
function zonedOption(where: string, v: unknown): ZonedOptions {
  if (!isRecord(v)) throw new UsageError(`${where}: "options.zoned" must be an object, got ${describe(v)}`);
  checkKeys(where, v, ["model", ...ZONED_INTS.map(([k]) => k)], "options.zoned");
  const out: ZonedOptions = {
    model: oneOf(where, "options.zoned.model", v.model, ["hm", "ha", "none"] as const),
    zoneSectors: 0,
  };
  for (const [key, min, max] of ZONED_INTS) {
    const x = v[key];
    if (x === undefined) {
      if (key === "zoneSectors") throw new UsageError(`${where}: "options.zoned.zoneSectors" is missing`);
      continue;
    }
    if (typeof x !== "number" || !Number.isInteger(x) || x < min || x > max) {
      throw new UsageError(
        `${where}: "options.zoned.${key}" must be an integer from ${min} to ${max}, got ${describe(x)}`,
      );
    }
    (out as unknown as Record<string, unknown>)[key] = x;
  }
  if ((out.writeGranularity ?? SECTOR) % SECTOR !== 0) {
    throw new UsageError(`${where}: "options.zoned.writeGranularity" must be a multiple of ${SECTOR}`);
  }
  return out;
}

/** Loads `--target`'s argument: a built-in name or a target file. */
export async function loadTarget(arg: string): Promise<LoadedTarget> {
  const builtin = builtinSpec(arg);
  return resolveTarget(builtin ?? await readTargetFile(arg));
}

/** A driver target under another name (the same driver). */
export function renameDriver(t: DriverTarget, name: string): DriverTarget {
  const renamed: DriverTarget = {
    role: "driver",
    info: { ...t.info, name },
    attach: (d) => t.attach(d),
    ...(t.virtualTime ? { virtualTime: true } : {}),
  };
  const watch = t.watch;
  if (watch) renamed.watch = (r) => watch.call(t, r);
  return renamed;
}
