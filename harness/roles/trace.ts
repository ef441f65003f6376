/**
 * Reading a driver's behaviour out of a scenario trace: register accesses,
 * status writes, the features the driver accepted and the ring violations
 * the ring monitor recorded.
 *
 * @module
 */
import { Status } from "../status.ts";
import { Mmio, mmioName } from "../transport/mmio_layout.ts";
import { mmioLegacyName } from "../transport/mmio_legacy.ts";
import { commonName } from "../transport/pci_layout.ts";
import type { AccessEvent, ScenarioTrace, TraceEvent } from "./harness_device.ts";
import type { RingViolationKind } from "./ring_monitor.ts";

/** A ring-violation event of a trace. */
export type RingEvent = Extract<TraceEvent, { kind: "ring" }>;

/** Register accesses of a trace. */
export function accesses(t: ScenarioTrace): AccessEvent[] {
  return t.events.filter((e): e is AccessEvent => e.kind === "read" || e.kind === "write");
}

/** Writes to the Status register. */
export function statusWrites(t: ScenarioTrace): AccessEvent[] {
  return accesses(t).filter((e) => e.kind === "write" && e.offset === Mmio.Status);
}

/** The name of the register an access really landed on: `Status`, `QueuePFN`, `common.queue_enable`, … */
export function accessName(e: AccessEvent): string {
  const { space, offset } = e.raw;
  switch (space) {
    case "mmio":
      return e.offset === offset ? mmioName(offset) : mmioLegacyName(offset);
    case "common":
      return `common.${commonName(offset)}`;
    case "device":
      return `device+0x${offset.toString(16)}`;
    default:
      return `${space}+0x${offset.toString(16).padStart(2, "0")}`;
  }
}

/** Formats an access for a report: `#12 write Status = 0x3`. */
export function fmtAccess(e: AccessEvent): string {
  return `#${e.seq} ${e.kind} ${accessName(e)}${e.width === 4 ? "" : `/${e.width * 8}bit`} ${
    e.kind === "write" ? "=" : "→"
  } 0x${e.raw.value.toString(16)}`;
}

/** The feature sets the driver wrote, one per FEATURES_OK write (the value at that moment). */
export function acceptedSets(t: ScenarioTrace): bigint[] {
  const words: number[] = [];
  let sel = -1;
  const out: bigint[] = [];
  for (const e of accesses(t)) {
    if (e.kind !== "write") continue;
    if (e.offset === Mmio.Status && e.value === 0) words.length = 0;
    if (e.offset === Mmio.DriverFeaturesSel) sel = e.value;
    if (e.offset === Mmio.DriverFeatures && sel >= 0 && sel < 64) words[sel] = e.value;
    if (e.offset === Mmio.Status && (e.value & Status.FEATURES_OK) && !(e.status & Status.FEATURES_OK)) {
      out.push(words.reduce((m, w, i) => m | (BigInt((w ?? 0) >>> 0) << BigInt(32 * i)), 0n));
    }
  }
  return out;
}

/** The last feature set the driver accepted (0 when it never set FEATURES_OK). */
export function accepted(t: ScenarioTrace): bigint {
  return acceptedSets(t).at(-1) ?? 0n;
}

/** True when the driver wrote a status with `bits` set. */
export function wroteStatus(t: ScenarioTrace, bits: number): boolean {
  return statusWrites(t).some((e) => (e.value & bits) === bits);
}

/** Ring violations of a trace, all or those of one kind. */
export function ringViolations(t: ScenarioTrace, kind?: RingViolationKind): RingEvent[] {
  return t.events.filter((e): e is RingEvent => e.kind === "ring" && (kind === undefined || e.violation === kind));
}

/**
 * Ring violations that break one statement, keyed `label#ordinal` (e.g.
 * `drivernormative:Basic Facilities of a Virtio Device / Virtqueues / The Virtqueue Available Ring#1`).
 *
 * @example
 * ```ts ignore
 * expectNone("no available idx decrement", ringViolationsOf(t, `${AVAIL_RING}#1`), fmtRing);
 * ```
 */
export function ringViolationsOf(t: ScenarioTrace, statementKey: string): RingEvent[] {
  return t.events.filter((e): e is RingEvent => e.kind === "ring" && e.statement === statementKey);
}

/** Formats a ring violation for a report: `#40 queue 0 idx-before-entry: available idx 0→1 covers …`. */
export function fmtRing(e: RingEvent): string {
  return `#${e.seq} queue ${e.queue} ${e.violation}: ${e.detail}`;
}
