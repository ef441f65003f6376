/**
 * Factories of the bundled reference devices as in-process device targets.
 *
 * @module
 */
import type { InProcessDevice, InProcessDeviceFactory } from "../../adapters/in_process.ts";
import { InProcessDeviceTarget } from "../../adapters/in_process.ts";
import type { DeviceTypeName, TransportKind } from "../../features.ts";
import type { GuestMemory } from "../../memory.ts";
import { BlkFunction } from "./blk.ts";
import { ConsoleFunction } from "./console.ts";
import { DeviceCore, type DeviceOptions } from "./core.ts";
import type { DeviceFunction } from "./device_function.ts";
import { MmioDevice } from "./mmio_device.ts";
import { MmioLegacyDevice } from "./mmio_legacy_device.ts";
import { DEFAULT_PCI_WINDOWS, PciDevice } from "./pci_device.ts";
import { NetFunction } from "./net.ts";
import { RngFunction } from "./rng.ts";

/** The classes a device variant may replace (mutants replace one). */
export interface DeviceParts {
  core?: new (fn: DeviceFunction, opts: DeviceOptions) => DeviceCore;
  mmio?: new (core: DeviceCore) => MmioDevice;
  legacy?: new (core: DeviceCore) => MmioLegacyDevice;
  pci?: new (core: DeviceCore) => PciDevice;
  fn?: (type: DeviceTypeName) => DeviceFunction;
}

function makeFunction(type: DeviceTypeName): DeviceFunction {
  if (type === "rng") return new RngFunction();
  if (type === "blk") return new BlkFunction();
  if (type === "console") return new ConsoleFunction();
  if (type === "net") return new NetFunction();
  throw new Error(`No reference ${type} device yet`);
}

/**
 * A factory for a reference device of `type` on any transport of
 * {@link REFERENCE_TRANSPORTS}, optionally with replaced parts.
 *
 * @example
 * ```ts
 * import { referenceDeviceFactory } from "./reference.ts";
 * import { ArrayMemory } from "../../memory.ts";
 * const dev = referenceDeviceFactory("rng")(new ArrayMemory(0x4000_0000, 1 << 20), "mmio");
 * console.log((await dev.registers.read(0x008, 4))); // 4
 * ```
 */
export function referenceDeviceFactory(type: DeviceTypeName, parts: DeviceParts = {}): InProcessDeviceFactory {
  return (memory: GuestMemory, transport: TransportKind): InProcessDevice => {
    const fn = (parts.fn ?? makeFunction)(type);
    const Core = parts.core ?? DeviceCore;
    const core = new Core(fn, { memory, transport });
    const device = presentOn(transport, core, parts);
    if (fn instanceof BlkFunction) {
      device.triggerConfigChange = () => core.changeConfig(() => fn.resize(fn.capacity + 8));
    }
    if (fn instanceof NetFunction) {
      // The far end of the link: what the driver transmits, and frames the harness injects.
      device.wire = {
        takeTransmitted: () => Promise.resolve(fn.takeTransmitted().map((t) => t.frame)),
        inject: (frame) => fn.inject(frame),
      };
      device.triggerConfigChange = () => core.changeConfig(() => fn.hostChange());
    }
    return device;
  };
}

/** The register files of a core presented on `transport`. */
function presentOn(transport: TransportKind, core: DeviceCore, parts: DeviceParts): InProcessDevice {
  switch (transport) {
    case "mmio":
    case "mmio-legacy": {
      const registers = transport === "mmio"
        ? new (parts.mmio ?? MmioDevice)(core)
        : new (parts.legacy ?? MmioLegacyDevice)(core);
      const listeners: ((l: boolean) => void)[] = [];
      core.onInterrupt = (l) => listeners.forEach((f) => f(l));
      return { registers, onInterrupt: (l) => listeners.push(l), idle: () => core.idle() };
    }
    case "pci": {
      const dev = new (parts.pci ?? PciDevice)(core);
      const pci = dev.access(DEFAULT_PCI_WINDOWS);
      return { registers: pci.config, pci, onInterrupt: (l) => dev.onInterrupt(l), idle: () => dev.idle() };
    }
    default:
      throw new Error(`No reference device on the ${transport} transport`);
  }
}

/**
 * The reference device of `type` as an in-process device factory (the public form of
 * {@link referenceDeviceFactory}, with no parts replaced).
 *
 * @example
 * ```ts
 * import { ArrayMemory } from "../../memory.ts";
 * const dev = referenceDevice("blk")(new ArrayMemory(0x4000_0000, 1 << 20), "mmio");
 * console.log(await dev.registers.read(0x008, 4)); // 2
 * ```
 */
export function referenceDevice(type: DeviceTypeName): InProcessDeviceFactory {
  return referenceDeviceFactory(type);
}

/** Transports the reference devices are presented on, default first. */
export const REFERENCE_TRANSPORTS: readonly TransportKind[] = ["mmio", "pci", "mmio-legacy"];

/** The reference device of `type` as a device target. */
export function referenceDeviceTarget(
  type: DeviceTypeName,
  parts: DeviceParts = {},
  name?: string,
): InProcessDeviceTarget {
  return new InProcessDeviceTarget(
    name ?? `reference-${type}-device`,
    type,
    referenceDeviceFactory(type, parts),
    REFERENCE_TRANSPORTS,
  );
}
