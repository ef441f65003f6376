/**
 * The requirement-block data of the virtio specification (labels, sections,
 * roles and the reading order of normative keywords), loaded from
 * `fixtures/spec/v1.4/blocks.json`. No spec text lives here.
 *
 * @module
 */
import blocksJson from "../fixtures/spec/v1.4/blocks.json" with { type: "json" };

/** A normative keyword as counted in the spec's requirement blocks. */
export type Level = "MUST" | "MUST NOT" | "SHOULD" | "SHOULD NOT" | "MAY";

/** Whose obligation a requirement block states. */
export type Role = "device" | "driver";

/** One requirement block (`devicenormative:…` / `drivernormative:…`). */
export interface SpecBlock {
  /** The block's stable label, e.g. `devicenormative:Basic Facilities of a Virtio Device / Device Reset`. */
  label: string;
  /** Section number in the spec version the data was counted against. */
  section: string;
  title: string;
  role: Role;
  area: string;
  areaSection: string;
  scope: string;
  /** Normative keywords of the block in reading order; statement N is `statements[N - 1]`. */
  statements: Level[];
}

/** The spec version every clause of this suite is written against. */
export const SPEC_VERSION = "v1.4-cs01";

const blocks: readonly SpecBlock[] = blocksJson.blocks as unknown as SpecBlock[];
const byLabel = new Map<string, SpecBlock>(blocks.map((b) => [b.label, b]));

/** Every requirement block of the spec version. */
export function specBlocks(): readonly SpecBlock[] {
  return blocks;
}

/**
 * Looks a requirement block up by its label.
 *
 * @example
 * ```ts
 * import { findBlock } from "./spec_data.ts";
 * const block = findBlock("devicenormative:Basic Facilities of a Virtio Device / Device Reset");
 * console.log(block?.section); // "2.4.1"
 * ```
 */
export function findBlock(label: string): SpecBlock | undefined {
  return byLabel.get(label);
}

/** The keyword of statement `ordinal` (1-based) of a block, or undefined when out of range. */
export function statementLevel(label: string, ordinal: number): Level | undefined {
  const block = byLabel.get(label);
  if (!block || !Number.isInteger(ordinal) || ordinal < 1) return undefined;
  return block.statements[ordinal - 1];
}
