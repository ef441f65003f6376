/**
 * Opens the driver side of whatever transport a device session or a harness
 * device endpoint speaks.
 *
 * @module
 */
import type { PciFunctionAccess } from "../adapter.ts";
import type { TransportKind } from "../features.ts";
import type { RegisterSpace } from "../registers.ts";
import { MmioDriverTransport } from "./mmio_driver.ts";
import { MmioLegacyDriverTransport } from "./mmio_legacy_driver.ts";
import { PciDriverTransport } from "./pci_driver.ts";
import type { DriverTransport } from "./transport.ts";

/** What a transport is opened over: a session or an endpoint. */
export interface TransportAccess {
  readonly transport: TransportKind;
  readonly registers: RegisterSpace;
  readonly pci?: PciFunctionAccess | undefined;
}

/**
 * The driver-side transport of `access`. On PCI this sizes and places the
 * BARs and walks the capability list, so call it again after every reset
 * that clears them. With `degraded`, a device whose own fault keeps it from
 * being driven still opens: {@link DriverTransport.unusable} says why.
 *
 * @example
 * ```ts ignore
 * const transport = await openDriverTransport(session);
 * const id = await transport.identify();
 * ```
 */
export function openDriverTransport(
  access: TransportAccess,
  opts: { degraded?: boolean } = {},
): Promise<DriverTransport> {
  switch (access.transport) {
    case "mmio":
      return Promise.resolve(new MmioDriverTransport(access.registers));
    case "mmio-legacy":
      return Promise.resolve(new MmioLegacyDriverTransport(access.registers));
    case "pci":
      if (!access.pci) return Promise.reject(new Error("A PCI session must give access to the PCI function"));
      return PciDriverTransport.open(access.pci, opts.degraded ? { degraded: true } : {});
    default:
      return Promise.reject(new Error(`The harness cannot speak the ${access.transport} transport`));
  }
}
