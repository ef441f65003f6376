/**
 * The clause model: one clause checks one normative statement of the spec,
 * keyed by the requirement block's label and the statement's ordinal.
 *
 * @module
 */
import type { Capability, DeviceSession, DriverTarget } from "../adapter.ts";
import type { DeviceTypeName, TransportKind } from "../features.ts";
import { findBlock, type Level, type Role, statementLevel } from "../spec_data.ts";
import type { DriverTransport } from "../transport/transport.ts";
import type { HarnessDriver } from "../roles/harness_driver.ts";
import type { ScenarioRunner } from "../roles/harness_device.ts";

/** When a clause applies. Anything unmet makes the verdict `n/a`, never `pass`. */
export interface Applicability {
  /** Feature bits the device under test must offer (device role) for the clause to apply. */
  offered?: number[];
  /**
   * Transports the clause is written for; absent means every transport of the
   * modern interface (MMIO v2, PCI, CCW).
   */
  transports?: TransportKind[];
  /**
   * The clause also holds on the legacy interface (`mmio-legacy`): it does not
   * depend on VERSION_1, FEATURES_OK or any v2-only register.
   */
  legacy?: boolean;
  /** Device types the clause is written for; absent means every type. */
  deviceTypes?: DeviceTypeName[];
  /** Adapter capabilities the clause needs. */
  capabilities?: Capability[];
}

/** Run options every clause sees. */
export interface RunSettings {
  /** Seed for every random choice (fast-check and the harness). */
  seed: number;
  /** Property runs per property. */
  runs: number;
  /** Replay path for a property (`--replay`). */
  replayPath?: string;
  /** False: report the first failing input without shrinking it (faster; used when only the verdict matters). */
  shrink?: boolean;
  /** Builds the one-line replay command for this clause. */
  replayCommand(seed: number, path?: string): string;
  /**
   * Aborted when the clause's deadline passes: from then on every call into
   * the target through the clause's context rejects, and the clause should
   * stop at once.
   */
  signal: AbortSignal;
  /** When the clause's deadline passes, as a `Date.now()` value. */
  deadline: number;
  /**
   * Records a remark on how the clause ran (e.g. fewer property runs than
   * asked, within the deadline); a pass carries its remarks as its message.
   */
  note?(remark: string): void;
}

/** Context of a clause whose obligation is the device's (the harness plays the driver). */
export interface DeviceClauseContext extends RunSettings {
  /** The session on the device under test. */
  session: DeviceSession;
  /** The transport the harness driver uses on it. */
  transport: DriverTransport;
  /** The harness driver, in the clause's hands. */
  driver: HarnessDriver;
  /** The device type the device presents. */
  deviceType: DeviceTypeName;
  /** Device features, read once before the clause ran. */
  offered: bigint;
}

/** Context of a clause whose obligation is the driver's (the harness plays the device). */
export interface DriverClauseContext extends RunSettings {
  /** The driver under test. */
  target: DriverTarget;
  /** The device type the harness presents. */
  deviceType: DeviceTypeName;
  /** Runs the driver against harness devices set up as a scenario asks. */
  scenarios: ScenarioRunner;
}

/** What every clause declares: the statement it checks, in the suite's words, and where it applies. */
export interface ClauseCommon {
  /** Requirement block label, e.g. `devicenormative:Basic Facilities of a Virtio Device / Device Reset`. */
  label: string;
  /** 1-based ordinal of the statement inside the block. */
  statement: number;
  /** The statement's keyword; checked against the spec data. */
  level: Level;
  /** Short title. */
  title: string;
  /** The requirement, in this project's own words. */
  requirement: string;
  /** What the harness does to check it. */
  action: string;
  /** Where the clause applies (transports, device types, roles); everywhere when absent. */
  applies?: Applicability;
}

/** A clause checking a device obligation. */
export interface DeviceClause extends ClauseCommon {
  /** Whose obligation the clause checks: the device's. */
  obligation: "device";
  /**
   * Runs the clause's check; a verifier's exception is its verdict. Called by the runner only.
   *
   * @ignore
   */
  run(ctx: DeviceClauseContext): Promise<void>;
}

/** A clause checking a driver obligation. */
export interface DriverClause extends ClauseCommon {
  /** Whose obligation the clause checks: the driver's. */
  obligation: "driver";
  /**
   * Runs the clause's check; a verifier's exception is its verdict. Called by the runner only.
   *
   * @ignore
   */
  run(ctx: DriverClauseContext): Promise<void>;
}

/** Either kind of clause. */
export type Clause = DeviceClause | DriverClause;

/** A statement that no clause checks, with the reason. */
export interface Waiver {
  label: string;
  statement: number;
  reason: string;
}

/** The stable key of a clause or waiver: `label#statement`. */
export function clauseKey(c: { label: string; statement: number }): string {
  return `${c.label}#${c.statement}`;
}

/** The display id: `section#statement`, e.g. `2.4.1#1`. */
export function clauseId(c: { label: string; statement: number }): string {
  return `${findBlock(c.label)?.section ?? "?"}#${c.statement}`;
}

/** The section of a clause's block. */
export function clauseSection(c: { label: string }): string {
  return findBlock(c.label)?.section ?? "?";
}

/** Whose obligation the block of a label states. */
export function labelRole(label: string): Role | undefined {
  return findBlock(label)?.role;
}

/**
 * Checks a clause or waiver against the spec data: the label exists, the
 * ordinal is inside the block, the level matches, the role matches.
 * Returns the problems found (empty when well formed).
 */
export function validateClause(c: Clause | Waiver): string[] {
  const problems: string[] = [];
  const block = findBlock(c.label);
  if (!block) return [`unknown requirement label: ${c.label}`];
  const level = statementLevel(c.label, c.statement);
  if (!level) {
    problems.push(`statement ${c.statement} is past the ${block.statements.length} statements of ${block.section}`);
  }
  if ("level" in c && level && c.level !== level) {
    problems.push(`${clauseId(c)} declares ${c.level} but the spec's statement is ${level}`);
  }
  if ("obligation" in c && c.obligation !== block.role) {
    problems.push(`${clauseId(c)} declares a ${c.obligation} obligation but ${c.label} is a ${block.role} block`);
  }
  return problems;
}

/**
 * Defines a device-obligation clause (identity function that fixes the type).
 *
 * @example
 * ```ts ignore
 * export default defineDeviceClause({
 *   label: "devicenormative:Basic Facilities of a Virtio Device / Device Reset",
 *   statement: 1, level: "MUST", title: "status reads 0 after reset",
 *   requirement: "After a reset the device presents a device status of 0.",
 *   action: "Writes random status sequences, resets, reads status.",
 *   async run(ctx) { … },
 * });
 * ```
 */
export function defineDeviceClause(c: Omit<DeviceClause, "obligation">): DeviceClause {
  return { ...c, obligation: "device" };
}

/** Defines a driver-obligation clause. */
export function defineDriverClause(c: Omit<DriverClause, "obligation">): DriverClause {
  return { ...c, obligation: "driver" };
}

/** True for SHOULD / SHOULD NOT (run under `--strict`, broken gives `warn`). */
export function isAdvisory(level: Level): boolean {
  return level === "SHOULD" || level === "SHOULD NOT";
}
