/**
 * Statements no black-box clause can observe, each with the reason.
 * Waivers are counted apart from coverage.
 *
 * @module
 */
import type { Waiver } from "../harness/clause.ts";

/** The waivers. */
export const WAIVERS: readonly Waiver[] = [];
