/**
 * Every clause and waiver of the suite, organised like the spec.
 *
 * @module
 */
import type { Clause, Waiver } from "../harness/clause.ts";
import { DEVICE_RESET_CLAUSES } from "./basic_facilities/device_reset.ts";
import { WAIVERS as ALL_WAIVERS } from "./waivers.ts";

/** All clauses, in spec order. */
export const CLAUSES: readonly Clause[] = [
  ...DEVICE_RESET_CLAUSES,
];

/** Statements answered by a written waiver instead of a clause. */
export const WAIVERS: readonly Waiver[] = ALL_WAIVERS;
