/**
 * The adapters the target-file loader and the command line know, by name. A new adapter is one folder with its
 * descriptor and one line here (the in-process adapter, whose built-in models and mutants live above the adapters,
 * is added by the loader).
 *
 * @module
 */
import type { AdapterDescriptor } from "./descriptor.ts";
import { QEMU_ADAPTER } from "./qemu/descriptor.ts";
import { GUEST_ADAPTER } from "./qemu_guest/descriptor.ts";

/** Every adapter with a descriptor, in the order help texts list them. */
export const ADAPTER_REGISTRY: readonly AdapterDescriptor[] = [QEMU_ADAPTER, GUEST_ADAPTER];

/** The adapter named `name`, if any. */
export function adapterNamed(name: string): AdapterDescriptor | undefined {
  return ADAPTER_REGISTRY.find((a) => a.name === name);
}

/** Runs every adapter's cleanup (a signal ends the run); how many processes they stopped. */
export function cleanupAdapters(): number {
  let n = 0;
  const done = new Set<unknown>();
  for (const a of ADAPTER_REGISTRY) {
    // Adapters may share a cleanup (both QEMU adapters kill the QEMU processes the harness started).
    if (!a.cleanup || done.has(a.cleanup)) continue;
    done.add(a.cleanup);
    n += a.cleanup();
  }
  return n;
}
