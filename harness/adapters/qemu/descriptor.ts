/**
 * The `qemu` adapter's descriptor: QEMU's device models driven over qtest
 * (device role), checked from a target file's options.
 *
 * @module
 */
import type { AdapterDescriptor, CheckedOptions } from "../descriptor.ts";
import { DEVICE_IDS, type ModelledDeviceType } from "../../features.ts";
import {
  checkKeys,
  describeValue as describe,
  isRecord,
  oneOf,
  optionalBool,
  optionalInt,
  optionalStrings,
  schemaOf,
  UsageError,
} from "../../options.ts";
import { killAllQemu, QEMU_PROGRAMS } from "./qemu_process.ts";
import { QemuDeviceTarget, type QemuTargetOptions } from "./qemu_target.ts";
import type { BackEndSpec } from "./back_end.ts";

const DEVICE_TYPES = Object.keys(DEVICE_IDS) as ModelledDeviceType[];

/** The shape of `options` (see {@link AdapterDescriptor.optionsSchema}). */
const QEMU_SCHEMA = schemaOf.object({
  transport: schemaOf.oneOf(["mmio", "mmio-legacy", "pci"]),
  device: { type: "string", pattern: "^[\\w.-]+(,[^\\s,]+)*$" },
  machine: schemaOf.oneOf(["q35", "virt"]),
  binary: { type: "string", minLength: 1 },
  deviceType: schemaOf.oneOf(DEVICE_TYPES),
  extraArgs: schemaOf.strings(),
  memoryMiB: schemaOf.int(32, 4096),
  driveMiB: schemaOf.int(1, 4096),
  driveReadOnly: schemaOf.bool(),
  wire: schemaOf.bool(),
  restart: schemaOf.oneOf(["reset", "relaunch"]),
  backEnd: schemaOf.object({
    argv: {
      type: "array",
      minItems: 1,
      maxItems: 256,
      items: { type: "string", minLength: 1 },
      contains: { type: "string", pattern: "\\{socket\\}" },
    },
    env: { type: "object", additionalProperties: { type: "string" } },
    readyTimeoutMs: schemaOf.int(100, 600_000),
  }, ["argv"]),
}, ["transport", "device"]);

/** Checks `options.backEnd`: a command line (with placeholders), its environment, its start deadline. */
function checkBackEnd(where: string, v: unknown): BackEndSpec {
  const at = "options.backEnd";
  if (!isRecord(v)) throw new UsageError(`${where}: "${at}" must be an object with "argv", got ${describe(v)}`);
  checkKeys(where, v, ["argv", "env", "readyTimeoutMs"], at); // the keys of QEMU_SCHEMA's backEnd
  if (
    !Array.isArray(v.argv) || v.argv.length === 0 || v.argv.length > 256 ||
    !v.argv.every((a) => typeof a === "string" && a !== "")
  ) {
    throw new UsageError(
      `${where}: "${at}.argv" must be a non-empty list of non-empty strings (the program first), got ${
        describe(v.argv)
      }`,
    );
  }
  const argv = v.argv as string[];
  if (!argv.some((a) => a.includes("{socket}"))) {
    throw new UsageError(`${where}: "${at}.argv" must place the socket QEMU connects to: name it {socket}`);
  }
  const spec: BackEndSpec = { argv };
  if (v.env !== undefined) {
    if (!isRecord(v.env) || !Object.values(v.env).every((x) => typeof x === "string")) {
      throw new UsageError(`${where}: "${at}.env" must map names to strings, got ${describe(v.env)}`);
    }
    spec.env = v.env as Record<string, string>;
  }
  const ready = optionalInt(where, v, "readyTimeoutMs", 100, 600_000);
  if (ready !== undefined) spec.readyTimeoutMs = ready;
  return spec;
}

/** Checks a target file of the `qemu` adapter (after the common keys). */
function checkQemu(role: unknown, options: unknown, where: string): CheckedOptions {
  if (role !== "device") {
    throw new UsageError(
      `${where}: the qemu adapter runs QEMU's devices: "role" must be "device", got ${describe(role)}`,
    );
  }
  if (!isRecord(options)) {
    throw new UsageError(
      `${where}: "options" must be an object with "transport" and "device", got ${describe(options)}`,
    );
  }
  const o = options;
  checkKeys(where, o, Object.keys(QEMU_SCHEMA.properties as object), "options");
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
  const extraArgs = optionalStrings(where, o, "extraArgs");
  if (extraArgs) qemu.extraArgs = extraArgs;
  for (const key of ["memoryMiB", "driveMiB"] as const) {
    const v = optionalInt(where, o, key, key === "memoryMiB" ? 32 : 1, 4096);
    if (v !== undefined) qemu[key] = v;
  }
  const driveReadOnly = optionalBool(where, o, "driveReadOnly");
  if (driveReadOnly && qemu.driveMiB === undefined) {
    throw new UsageError(`${where}: "options.driveReadOnly" needs "options.driveMiB" (the drive it makes read-only)`);
  }
  if (driveReadOnly !== undefined) qemu.driveReadOnly = driveReadOnly;
  const wire = optionalBool(where, o, "wire");
  if (wire !== undefined) qemu.wire = wire;
  if (o.restart !== undefined) {
    qemu.restart = oneOf(where, "options.restart", o.restart, ["reset", "relaunch"] as const);
  }
  if (o.backEnd !== undefined) {
    qemu.backEnd = checkBackEnd(where, o.backEnd);
    if (driveReadOnly) {
      throw new UsageError(`${where}: "options.driveReadOnly" applies to QEMU's own drive; a back end makes its own`);
    }
  }
  return { role: "device", options: qemu };
}

/**
 * The `qemu` adapter.
 *
 * @example
 * ```ts ignore
 * const checked = QEMU_ADAPTER.check("device", { transport: "mmio", device: "virtio-rng-device" }, "target x");
 * const target = QEMU_ADAPTER.create("x", checked.options);
 * ```
 */
export const QEMU_ADAPTER: AdapterDescriptor = {
  name: "qemu",
  summary: "QEMU's device models, driven by the harness over qtest (device role)",
  roles: ["device"],
  programs: QEMU_PROGRAMS,
  optionsSchema: QEMU_SCHEMA,
  check: checkQemu,
  create: (name, options) => new QemuDeviceTarget({ name, ...(options as Omit<QemuTargetOptions, "name">) }),
  cleanup: killAllQemu,
};
