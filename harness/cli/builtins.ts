/**
 * The built-in targets the CLI knows by name: the reference driver and the
 * mutants. The one place the CLI reaches the model and mutant registries.
 *
 * @module
 */
import type { DriverTarget } from "../adapter.ts";
import { referenceDriverTarget } from "../models/driver/driver.ts";
import { MUTANTS } from "../../fixtures/mutants/mod.ts";
import type { Mutant } from "../../fixtures/mutants/mutant.ts";

/** The reference driver as a driver target, or undefined when this build has none. */
export function referenceDriver(name?: string): Promise<DriverTarget | undefined> {
  return Promise.resolve(referenceDriverTarget(name));
}

/** Every registered mutant (device and driver). */
export function allMutants(): Promise<readonly Mutant[]> {
  return Promise.resolve(MUTANTS);
}
