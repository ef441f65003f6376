/**
 * The `qemu-guest` adapter's descriptor: a real driver (U-Boot, Linux, SeaBIOS, iPXE, OVMF) in a QEMU guest,
 * watched at the transport (driver role), checked from a target file's options.
 *
 * @module
 */
import type { AdapterDescriptor, CheckedOptions } from "../descriptor.ts";
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
import { killAllQemu, QEMU_PROGRAMS } from "../qemu/qemu_process.ts";
import { FIRMWARE_DEVICE_TYPES } from "./boot_sector.ts";
import {
  DEVICE_VARIATION_KINDS,
  GuestDriverTarget,
  GUESTS,
  type GuestTargetOptions,
  type GuestWorkload,
  UBOOT_DEVICE_TYPES,
  UEFI_DEVICE_TYPES,
  variationsFor,
} from "./guest_target.ts";
import { LINUX_DEVICE_TYPES } from "./linux_guest.ts";

const WORKLOAD_KEYS = {
  "blk-read": ["sector", "sectors"],
  "blk-write": ["sector", "sectors", "fill"],
  "rng-read": ["bytes"],
  "net-ping": [],
  "console-write": [],
  "blk-resize": ["mib"],
  "net-link": ["up"],
} as const;

const WORKLOAD_FIELDS: Record<string, Record<string, unknown>> = {
  sector: schemaOf.int(0, 0xffff_ffff),
  sectors: schemaOf.int(1, 128),
  fill: schemaOf.int(0, 255),
  bytes: schemaOf.int(1, 4096),
  mib: schemaOf.int(1, 1024),
  up: schemaOf.bool(),
};

const NAME = { type: "string", minLength: 1, pattern: "^\\S+$" };

/** The shape of `options` (see {@link AdapterDescriptor.optionsSchema}). */
const GUEST_SCHEMA = schemaOf.object({
  guest: schemaOf.oneOf(GUESTS),
  kernel: NAME,
  modules: NAME,
  busybox: NAME,
  transport: schemaOf.oneOf(["mmio", "pci"]),
  deviceType: schemaOf.oneOf([...new Set([...LINUX_DEVICE_TYPES, ...FIRMWARE_DEVICE_TYPES, ...UBOOT_DEVICE_TYPES])]),
  device: NAME,
  firmware: NAME,
  binary: NAME,
  driveMiB: schemaOf.int(1, 1024),
  workloads: {
    type: "array",
    maxItems: 64,
    items: {
      oneOf: Object.entries(WORKLOAD_KEYS).map(([kind, keys]) =>
        schemaOf.object(
          { kind: { const: kind }, ...Object.fromEntries(keys.map((k) => [k, WORKLOAD_FIELDS[k]])) },
          ["kind", ...keys],
        )
      ),
    },
  },
  extraArgs: schemaOf.strings(),
  bootTimeoutMs: schemaOf.int(100, 600_000),
  commandTimeoutMs: schemaOf.int(100, 600_000),
  watchRings: schemaOf.bool(),
  variations: { type: "array", items: schemaOf.oneOf(DEVICE_VARIATION_KINDS) },
  removal: schemaOf.oneOf(["unbind", "device-del"]),
}, ["guest"]);

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
  checkKeys(where, w, ["kind", ...WORKLOAD_KEYS[kind]], at);
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

/** Checks a target file of the `qemu-guest` adapter (a real driver in a QEMU guest, watched). */
function checkGuest(role: unknown, options: unknown, where: string): CheckedOptions {
  if (role !== "driver") {
    throw new UsageError(
      `${where}: the qemu-guest adapter watches a real driver: "role" must be "driver", got ${describe(role)}`,
    );
  }
  if (!isRecord(options)) {
    throw new UsageError(`${where}: "options" must be an object with "guest", got ${describe(options)}`);
  }
  const o = options;
  checkKeys(where, o, Object.keys(GUEST_SCHEMA.properties as object), "options");
  const kind = oneOf(where, "options.guest", o.guest, GUESTS);
  const linux = kind === "linux";
  const guest: Omit<GuestTargetOptions, "name"> = {
    guest: kind,
    transport: oneOf(
      where,
      "options.transport",
      o.transport === undefined ? (kind === "u-boot" ? "mmio" : "pci") : o.transport,
      kind === "seabios" || kind === "ovmf" ? ["pci"] as const : ["mmio", "pci"] as const,
    ),
    deviceType: oneOf(
      where,
      "options.deviceType",
      o.deviceType === undefined ? "blk" : o.deviceType,
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
  const extraArgs = optionalStrings(where, o, "extraArgs");
  if (extraArgs) guest.extraArgs = extraArgs;
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
    const v = optionalInt(where, o, key, min, max);
    if (v !== undefined) guest[key] = v;
  }
  const watchRings = optionalBool(where, o, "watchRings");
  if (watchRings !== undefined) guest.watchRings = watchRings;
  if (o.variations !== undefined) {
    if (!Array.isArray(o.variations)) {
      throw new UsageError(`${where}: "options.variations" must be a list, got ${describe(o.variations)}`);
    }
    const kinds = [
      ...new Set(o.variations.map((v, i) => oneOf(where, `options.variations[${i}]`, v, DEVICE_VARIATION_KINDS))),
    ];
    const can = variationsFor(guest.transport, guest.deviceType);
    const cannot = kinds.find((k) => !can.includes(k));
    if (cannot) {
      throw new UsageError(
        `${where}: "options.variations" lists ${cannot}, which a ${guest.deviceType} device over ${guest.transport} ` +
          `cannot take (it can: ${can.join(", ") || "none"})`,
      );
    }
    guest.variations = kinds;
  }
  if (o.removal !== undefined) {
    guest.removal = oneOf(where, "options.removal", o.removal, ["unbind", "device-del"] as const);
    if (guest.removal === "device-del" && !(linux && guest.transport === "pci")) {
      throw new UsageError(
        `${where}: "options.removal" "device-del" needs guest "linux" over pci (a hot-pluggable port)`,
      );
    }
  }
  return { role: "driver", options: guest };
}

/**
 * The `qemu-guest` adapter.
 *
 * @example
 * ```ts ignore
 * const checked = GUEST_ADAPTER.check("driver", { guest: "u-boot", transport: "mmio", deviceType: "blk" }, "x");
 * const target = GUEST_ADAPTER.create("x", checked.options);
 * ```
 */
export const GUEST_ADAPTER: AdapterDescriptor = {
  name: "qemu-guest",
  summary: "a real driver in a QEMU guest beside QEMU's device, watched at the transport (driver role)",
  roles: ["driver"],
  programs: QEMU_PROGRAMS,
  optionsSchema: GUEST_SCHEMA,
  check: checkGuest,
  create: (name, options) => new GuestDriverTarget({ name, ...(options as Omit<GuestTargetOptions, "name">) }),
  cleanup: killAllQemu,
};
