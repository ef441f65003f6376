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
 * `reference-blk-device`, `reference-driver`, `mutant:<name>`.
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
import type { DeviceTarget, DriverTarget, DriverTargetInfo, Target } from "./adapter.ts";
import { loadInWorker, WorkerDeviceTarget } from "./adapters/worker/worker_device.ts";
import { WorkerDriverTarget } from "./adapters/worker/worker_driver.ts";
import type { LoadReply } from "./adapters/worker/worker_protocol.ts";
import { QemuDeviceTarget, type QemuTargetOptions } from "./adapters/qemu/qemu_target.ts";
import {
  GuestDriverTarget,
  GUESTS,
  type GuestTargetOptions,
  type GuestWorkload,
  UBOOT_DEVICE_TYPES,
  UEFI_DEVICE_TYPES,
} from "./adapters/qemu_guest/guest_target.ts";
import { LINUX_DEVICE_TYPES } from "./adapters/qemu_guest/linux_guest.ts";
import { FIRMWARE_DEVICE_TYPES } from "./adapters/qemu_guest/boot_sector.ts";
import { allMutants, referenceDriver } from "./builtins.ts";
import { DEVICE_IDS, type DeviceTypeName, type TransportKind } from "./features.ts";
import { referenceDeviceTarget } from "./models/device/reference.ts";
import { escapeControls } from "./text.ts";

/** A problem with how the suite was invoked (exit code 2); the message is one sentence. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** Adapters this version implements. */
export const ADAPTERS: readonly string[] = ["in-process", "qemu", "qemu-guest"];

/** Device types the bundled reference device models (device role). */
export const REFERENCE_DEVICE_TYPES: readonly DeviceTypeName[] = ["rng", "blk"];

/** Device types the harness can present to a driver under test. */
export const PRESENTABLE: readonly DeviceTypeName[] = ["rng", "blk"];

/** Built-in target names (besides `mutant:<name>`). */
export const BUILTIN_TARGETS: readonly string[] = ["reference-rng-device", "reference-blk-device", "reference-driver"];

const DEVICE_TYPES = Object.keys(DEVICE_IDS) as DeviceTypeName[];
const TRANSPORTS: readonly TransportKind[] = ["mmio", "pci", "ccw"];
const WORKLOADS: readonly string[] = ["rng-read", "blk-read", "blk-write", "blk-capacity", "queue-reset"];

/** Where the implementation under test comes from. */
export type TargetSource =
  | { kind: "model"; model: "reference"; deviceType?: DeviceTypeName }
  | { kind: "mutant"; mutant: string }
  | { kind: "module"; module: string; export: string; deviceType?: DeviceTypeName; info: string }
  | { kind: "qemu"; qemu: Omit<QemuTargetOptions, "name"> }
  | { kind: "qemu-guest"; guest: Omit<GuestTargetOptions, "name"> };

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

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v === "object") return "an object";
  return String(v);
}

function quoteList(xs: readonly string[]): string {
  return xs.map((x) => `"${x}"`).join(", ");
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The error for an adapter this version does not implement. */
export function unknownAdapter(name: string): UsageError {
  return new UsageError(
    `unknown adapter ${escapeControls(JSON.stringify(name))}: this version supports ${ADAPTERS.join(", ")}`,
  );
}

function oneOf<T extends string>(
  where: string,
  key: string,
  v: unknown,
  allowed: readonly T[],
): T {
  if (typeof v !== "string" || !allowed.includes(v as T)) {
    const want = allowed.length === 2 ? `"${allowed[0]}" or "${allowed[1]}"` : `one of ${quoteList(allowed)}`;
    throw new UsageError(`${where}: "${key}" must be ${want}, got ${describe(v)}`);
  }
  return v as T;
}

function checkKeys(where: string, obj: Record<string, unknown>, allowed: readonly string[], what: string): void {
  for (const k of Object.keys(obj)) {
    if (!allowed.includes(k)) {
      throw new UsageError(
        `${where}: unknown key ${escapeControls(JSON.stringify(k))} in ${what} (allowed: ${allowed.join(", ")})`,
      );
    }
  }
}

/**
 * Validates the parsed content of a target file. `where` prefixes every
 * message, e.g. `target file fixtures/targets/x.jsonc`.
 */
export function validateTargetSpec(data: unknown, where: string, arg: string, file?: string): TargetSpec {
  if (!isRecord(data)) throw new UsageError(`${where}: the file must hold a JSON object, got ${describe(data)}`);
  checkKeys(where, data, ["adapter", "role", "name", "description", "options"], "the target");
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
  if (data.adapter === "qemu") return validateQemuSpec(data, where, arg, file);
  if (data.adapter === "qemu-guest") return validateGuestSpec(data, where, arg, file);
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
      checkKeys(where, o, ["model", roleKey], "options");
      oneOf(where, "options.model", o.model, ["reference"] as const);
      if (role === "device") {
        if (o.deviceType === undefined) {
          throw new UsageError(
            `${where}: "options.deviceType" is missing (one of ${quoteList(REFERENCE_DEVICE_TYPES)})`,
          );
        }
        source = {
          kind: "model",
          model: "reference",
          deviceType: oneOf(where, "options.deviceType", o.deviceType, REFERENCE_DEVICE_TYPES),
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
        role === "device" ? ["module", "export", "deviceType"] : ["module", "export", "info", "present"],
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

const GUEST_KEYS = [
  "guest",
  "kernel",
  "modules",
  "busybox",
  "transport",
  "deviceType",
  "device",
  "firmware",
  "binary",
  "driveMiB",
  "workloads",
  "extraArgs",
  "bootTimeoutMs",
  "commandTimeoutMs",
  "watchRings",
];

/** Validates one workload of a `qemu-guest` target. */
function guestWorkload(where: string, i: number, w: unknown): GuestWorkload {
  const at = `options.workloads[${i}]`;
  if (!isRecord(w)) throw new UsageError(`${where}: "${at}" must be an object, got ${describe(w)}`);
  const kind = oneOf(
    where,
    `${at}.kind`,
    w.kind,
    ["blk-read", "blk-write", "rng-read", "net-ping", "console-write", "blk-resize", "net-link"] as const,
  );
  const keys = {
    "blk-read": ["sector", "sectors"],
    "blk-write": ["sector", "sectors", "fill"],
    "rng-read": ["bytes"],
    "net-ping": [],
    "console-write": [],
    "blk-resize": ["mib"],
    "net-link": ["up"],
  };
  checkKeys(where, w, ["kind", ...keys[kind]], at);
  const int = (key: string, min: number, max: number): number => {
    const v = w[key];
    if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
      throw new UsageError(`${where}: "${at}.${key}" must be an integer from ${min} to ${max}, got ${describe(v)}`);
    }
    return v;
  };
  if (kind === "rng-read") return { kind, bytes: int("bytes", 1, 4096) };
  if (kind === "blk-resize") return { kind, mib: int("mib", 1, 1024) };
  if (kind === "net-link") {
    if (typeof w.up !== "boolean") {
      throw new UsageError(`${where}: "${at}.up" must be true or false, got ${describe(w.up)}`);
    }
    return { kind, up: w.up };
  }
  if (kind === "net-ping" || kind === "console-write") return { kind };
  const sector = int("sector", 0, 0xffff_ffff);
  const sectors = int("sectors", 1, 128);
  return kind === "blk-read" ? { kind, sector, sectors } : { kind, sector, sectors, fill: int("fill", 0, 255) };
}

/** Validates a target file of the `qemu-guest` adapter (a real driver in a QEMU guest, watched). */
function validateGuestSpec(data: Record<string, unknown>, where: string, arg: string, file?: string): TargetSpec {
  if (data.role !== "driver") {
    throw new UsageError(
      `${where}: the qemu-guest adapter watches a real driver: "role" must be "driver", got ${describe(data.role)}`,
    );
  }
  if (!isRecord(data.options)) {
    throw new UsageError(`${where}: "options" must be an object with "guest", got ${describe(data.options)}`);
  }
  const o = data.options;
  checkKeys(where, o, GUEST_KEYS, "options");
  const kind = oneOf(where, "options.guest", o.guest, GUESTS);
  const linux = kind === "linux";
  const guest: Omit<GuestTargetOptions, "name"> = {
    guest: kind,
    transport: oneOf(
      where,
      "options.transport",
      o.transport ?? (kind === "u-boot" ? "mmio" : "pci"),
      kind === "seabios" || kind === "ovmf" ? ["pci"] as const : ["mmio", "pci"] as const,
    ),
    deviceType: oneOf(
      where,
      "options.deviceType",
      o.deviceType ?? "blk",
      linux
        ? LINUX_DEVICE_TYPES
        : kind === "seabios"
        ? FIRMWARE_DEVICE_TYPES
        : kind === "ovmf"
        ? UEFI_DEVICE_TYPES
        : UBOOT_DEVICE_TYPES,
    ),
  };
  const onlyFor = linux ? ["firmware"] : ["kernel", "modules", "busybox"];
  const wrong = onlyFor.find((k) => o[k] !== undefined);
  if (wrong) throw new UsageError(`${where}: "options.${wrong}" does not apply to guest "${kind}"`);
  for (const key of ["device", "firmware", "binary", "kernel", "modules", "busybox"] as const) {
    const v = o[key];
    if (v === undefined) continue;
    if (typeof v !== "string" || v === "" || /\s/.test(v)) {
      throw new UsageError(`${where}: "options.${key}" must be a non-empty string without spaces, got ${describe(v)}`);
    }
    guest[key] = v;
  }
  if (o.extraArgs !== undefined) {
    if (!Array.isArray(o.extraArgs) || o.extraArgs.some((a) => typeof a !== "string")) {
      throw new UsageError(`${where}: "options.extraArgs" must be a list of strings, got ${describe(o.extraArgs)}`);
    }
    guest.extraArgs = o.extraArgs as string[];
  }
  if (o.workloads !== undefined) {
    if (!Array.isArray(o.workloads) || o.workloads.length > 64) {
      throw new UsageError(`${where}: "options.workloads" must be a list of at most 64, got ${describe(o.workloads)}`);
    }
    guest.workloads = o.workloads.map((w, i) => guestWorkload(where, i, w));
    const foreign = guest.workloads.findIndex((w) => !w.kind.startsWith(guest.deviceType));
    if (foreign >= 0) {
      throw new UsageError(
        `${where}: "options.workloads[${foreign}]" is a ${guest.workloads[foreign]!.kind} workload, ` +
          `not one for a ${guest.deviceType} device`,
      );
    }
  }
  for (
    const [key, min, max] of [["driveMiB", 1, 1024], ["bootTimeoutMs", 100, 600_000], [
      "commandTimeoutMs",
      100,
      600_000,
    ]] as const
  ) {
    const v = o[key];
    if (v === undefined) continue;
    if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
      throw new UsageError(`${where}: "options.${key}" must be an integer from ${min} to ${max}, got ${describe(v)}`);
    }
    guest[key] = v;
  }
  if (o.watchRings !== undefined) {
    if (typeof o.watchRings !== "boolean") {
      throw new UsageError(`${where}: "options.watchRings" must be true or false, got ${describe(o.watchRings)}`);
    }
    guest.watchRings = o.watchRings;
  }
  const spec: TargetSpec = { adapter: "qemu-guest", role: "driver", source: { kind: "qemu-guest", guest }, arg };
  if (typeof data.name === "string") spec.name = data.name;
  if (file !== undefined) spec.file = file;
  return spec;
}

const QEMU_KEYS = ["transport", "device", "machine", "binary", "deviceType", "extraArgs", "memoryMiB", "driveMiB"];

/** Validates a target file of the `qemu` adapter (after the common keys). */
function validateQemuSpec(data: Record<string, unknown>, where: string, arg: string, file?: string): TargetSpec {
  if (data.role !== "device") {
    throw new UsageError(
      `${where}: the qemu adapter runs QEMU's devices: "role" must be "device", got ${describe(data.role)}`,
    );
  }
  if (!isRecord(data.options)) {
    throw new UsageError(
      `${where}: "options" must be an object with "transport" and "device", got ${describe(data.options)}`,
    );
  }
  const o = data.options;
  checkKeys(where, o, QEMU_KEYS, "options");
  const transport = oneOf(where, "options.transport", o.transport, ["mmio", "mmio-legacy", "pci"] as const);
  if (typeof o.device !== "string" || !/^[\w.-]+(,[^\s,]+)*$/.test(o.device)) {
    throw new UsageError(
      `${where}: "options.device" must be a -device argument such as "virtio-rng-device", got ${describe(o.device)}`,
    );
  }
  const qemu: Omit<QemuTargetOptions, "name"> = { transport, device: o.device };
  const machine = transport === "pci" ? "q35" : "virt";
  if (o.machine !== undefined && o.machine !== machine) {
    throw new UsageError(
      `${where}: "options.machine" must be "${machine}" for transport "${transport}", got ${describe(o.machine)}`,
    );
  }
  if (o.machine !== undefined) qemu.machine = machine;
  if (o.binary !== undefined) {
    if (typeof o.binary !== "string" || o.binary === "") {
      throw new UsageError(`${where}: "options.binary" must be a QEMU executable, got ${describe(o.binary)}`);
    }
    qemu.binary = o.binary;
  }
  if (o.deviceType !== undefined) qemu.deviceType = oneOf(where, "options.deviceType", o.deviceType, DEVICE_TYPES);
  if (o.extraArgs !== undefined) {
    if (!Array.isArray(o.extraArgs) || o.extraArgs.some((a) => typeof a !== "string")) {
      throw new UsageError(`${where}: "options.extraArgs" must be a list of strings, got ${describe(o.extraArgs)}`);
    }
    qemu.extraArgs = o.extraArgs as string[];
  }
  for (const key of ["memoryMiB", "driveMiB"] as const) {
    const v = o[key];
    if (v === undefined) continue;
    const min = key === "memoryMiB" ? 32 : 1;
    if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > 4096) {
      throw new UsageError(`${where}: "options.${key}" must be an integer from ${min} to 4096, got ${describe(v)}`);
    }
    qemu[key] = v;
  }
  const spec: TargetSpec = { adapter: "qemu", role: "device", source: { kind: "qemu", qemu }, arg };
  if (typeof data.name === "string") spec.name = data.name;
  if (file !== undefined) spec.file = file;
  return spec;
}

/** Parses and validates the text of a target file. */
export function parseTargetText(text: string, path: string): TargetSpec {
  const where = `target file ${path}`;
  let data: unknown;
  try {
    data = parseJsonc(text);
  } catch (e) {
    throw new UsageError(`${where}: not valid JSONC: ${escapeControls(e instanceof Error ? e.message : String(e))}`);
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
    throw new UsageError(`target file ${path}: cannot be read: ${e instanceof Error ? e.message : String(e)}`);
  }
  return parseTargetText(text, path);
}

/** The spec of a built-in target name, or undefined when `arg` is not one. */
export function builtinSpec(arg: string): TargetSpec | undefined {
  switch (arg) {
    case "reference-rng-device":
      return {
        adapter: "in-process",
        role: "device",
        source: { kind: "model", model: "reference", deviceType: "rng" },
        arg,
      };
    case "reference-blk-device":
      return {
        adapter: "in-process",
        role: "device",
        source: { kind: "model", model: "reference", deviceType: "blk" },
        arg,
      };
    case "reference-driver":
      return { adapter: "in-process", role: "driver", source: { kind: "model", model: "reference" }, arg };
  }
  if (arg.startsWith("mutant:")) {
    const name = arg.slice("mutant:".length);
    if (!name) throw new UsageError(`target "${arg}": name the mutant, e.g. mutant:device-status-not-reset`);
    return { adapter: "in-process", role: "device", source: { kind: "mutant", mutant: name }, arg };
  }
  return undefined;
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
 * Loads a user's module. The module is imported in a worker first (so an
 * import that hangs, throws or exits cannot hurt the harness); a factory
 * export then runs in a worker per session ({@link WorkerDeviceTarget},
 * {@link WorkerDriverTarget}). An export that is a whole target object
 * cannot cross the worker boundary and is imported in-process as before.
 */
async function loadModule(spec: TargetSpec, src: Extract<TargetSource, { kind: "module" }>): Promise<Target> {
  const where = spec.file ? `target file ${spec.file}` : `target ${spec.arg}`;
  const url = await moduleUrl(spec, src.module);
  const name = spec.name ?? baseName(spec.file ?? src.module);
  const mod = { url: url.href, export: src.export };
  let reply: LoadReply;
  try {
    const loaded = await loadInWorker(name, mod, spec.role, src.info, {});
    loaded.channel.kill("the module was only inspected");
    reply = loaded.reply;
  } catch (e) {
    const msg = (e instanceof Error ? e.message : String(e)).split("\n")[0];
    throw new UsageError(`${where}: cannot import module ${src.module}: ${msg}`);
  }
  if (reply.type === "missing") {
    const names = reply.exports;
    throw new UsageError(
      `${where}: module ${src.module} has no export "${src.export}" (it exports ${
        names.length ? names.join(", ") : "nothing"
      })`,
    );
  }
  if (reply.targetObject) return await loadTargetObject(where, spec, src, url);
  if (reply.type !== "function") {
    const kind = spec.role === "device" ? "InProcessDeviceFactory" : "InProcessDriverFactory";
    throw new UsageError(
      `${where}: export "${src.export}" of ${src.module} must be an ${kind} (a function), got ${reply.type}`,
    );
  }
  if (spec.role === "device") return new WorkerDeviceTarget(name, src.deviceType!, mod);
  const info = checkDriverInfo(where, src, reply.info);
  return new WorkerDriverTarget({ name, ...info }, mod);
}

/** A whole target object exported by a user's module: imported in-process (it cannot cross to a worker). */
async function loadTargetObject(
  where: string,
  spec: TargetSpec,
  src: Extract<TargetSource, { kind: "module" }>,
  url: URL,
): Promise<Target> {
  let mod: Record<string, unknown>;
  try {
    mod = await import(url.href);
  } catch (e) {
    const msg = (e instanceof Error ? e.message : String(e)).split("\n")[0];
    throw new UsageError(`${where}: cannot import module ${src.module}: ${msg}`);
  }
  const value = mod[src.export];
  if (isRecord(value) && value.role === spec.role) return value as unknown as DeviceTarget | DriverTarget;
  throw new UsageError(`${where}: export "${src.export}" of ${src.module} changed between two imports`);
}

function checkDriverInfo(
  where: string,
  src: Extract<TargetSource, { kind: "module" }>,
  info: unknown,
): Omit<DriverTargetInfo, "adapter" | "contractVersion" | "name"> {
  const what = `export "${src.info}" of ${src.module}`;
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
        target = referenceDeviceTarget(type, {}, spec.name ?? `reference-${type}-device`);
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
    case "qemu":
      target = new QemuDeviceTarget({ name: spec.name ?? baseName(spec.file ?? spec.arg), ...src.qemu });
      break;
    case "qemu-guest":
      target = new GuestDriverTarget({ name: spec.name ?? baseName(spec.file ?? spec.arg), ...src.guest });
      break;
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

/** Loads `--target`'s argument: a built-in name or a target file. */
export async function loadTarget(arg: string): Promise<LoadedTarget> {
  const builtin = builtinSpec(arg);
  return resolveTarget(builtin ?? await readTargetFile(arg));
}

/** A driver target under another name (the same driver). */
export function renameDriver(t: DriverTarget, name: string): DriverTarget {
  const renamed: DriverTarget = { role: "driver", info: { ...t.info, name }, attach: (d) => t.attach(d) };
  const watch = t.watch;
  if (watch) renamed.watch = (r) => watch.call(t, r);
  return renamed;
}
