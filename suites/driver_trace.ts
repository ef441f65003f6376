/**
 * Reading a driver's behaviour out of a scenario trace: status writes, the
 * features it accepted, queue set-up, and the scenario builders the driver
 * clauses share.
 *
 * @module
 */
import fc from "fast-check";
import type { DriverClauseContext } from "../harness/clause.ts";
import { bit, BLK_F, type DeviceTypeName, F, mask } from "../harness/features.ts";
import type { AccessEvent, Scenario, ScenarioTrace, TraceEvent } from "../harness/roles/harness_device.ts";
import { Status } from "../harness/status.ts";
import { Mmio, mmioName } from "../harness/transport/mmio_layout.ts";

/** Register accesses of a trace. */
export function accesses(t: ScenarioTrace): AccessEvent[] {
  return t.events.filter((e): e is AccessEvent => e.kind === "read" || e.kind === "write");
}

/** Writes to the Status register. */
export function statusWrites(t: ScenarioTrace): AccessEvent[] {
  return accesses(t).filter((e) => e.kind === "write" && e.offset === Mmio.Status);
}

/** Formats an access for a report: `#12 write Status = 0x3`. */
export function fmtAccess(e: AccessEvent): string {
  return `#${e.seq} ${e.kind} ${mmioName(e.offset)}${e.width === 4 ? "" : `/${e.width * 8}bit`} ${
    e.kind === "write" ? "=" : "→"
  } 0x${e.value.toString(16)}`;
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

/** Features the harness device implements and may offer in random scenarios, per device type. */
export function offerablePool(type: DeviceTypeName): bigint {
  const core = mask(F.VERSION_1, F.INDIRECT_DESC, F.RING_RESET, F.IN_ORDER, F.ACCESS_PLATFORM, F.ORDER_PLATFORM);
  if (type !== "blk") return core;
  return core | mask(
    BLK_F.SIZE_MAX,
    BLK_F.SEG_MAX,
    BLK_F.GEOMETRY,
    BLK_F.BLK_SIZE,
    BLK_F.FLUSH,
    BLK_F.TOPOLOGY,
    BLK_F.CONFIG_WCE,
  );
}

/** Random offered sets: VERSION_1 plus any subset of what the harness device implements. */
export function offeredSets(type: DeviceTypeName): fc.Arbitrary<bigint> {
  const pool = offerablePool(type) & ~bit(F.VERSION_1);
  const bits = Array.from({ length: 64 }, (_, i) => i).filter((b) => pool & bit(b));
  return fc.subarray(bits).map((bs) => mask(...bs) | bit(F.VERSION_1));
}

/** Runs a scenario with an offered feature set. */
export function withOffered(ctx: DriverClauseContext, offered: bigint, extra: Scenario = {}): Promise<ScenarioTrace> {
  return ctx.scenarios.run({ ...extra, knobs: { ...extra.knobs, offered } });
}

/** Index of the first event matching, or -1. */
export function firstIndex(events: TraceEvent[], pred: (e: TraceEvent) => boolean, from = 0): number {
  for (let i = from; i < events.length; i++) if (pred(events[i]!)) return i;
  return -1;
}
