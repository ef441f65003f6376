/**
 * What the driver clauses share: the trace readers (re-exported from the
 * harness) and the scenario builders.
 *
 * @module
 */
import fc from "fast-check";
import type { DriverClauseContext } from "../harness/core/clause.ts";
import { bit, BLK_F, type DeviceTypeName, F, formatFeatures, mask } from "../harness/features.ts";
import { checkProperty } from "../harness/core/property.ts";
import type { Scenario, ScenarioTrace, TraceEvent } from "../harness/roles/harness_device.ts";
export {
  accepted,
  acceptedSets,
  accesses,
  fmtAccess,
  fmtRing,
  ringViolationsOf,
  statusWrites,
  wroteStatus,
} from "../harness/roles/trace.ts";

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

/**
 * Checks the driver under random offered feature sets (a property), or, on a
 * watched driver whose device the harness cannot vary, once on the run its
 * own device gave, with the features that device offered.
 */
export async function acrossOffers(
  ctx: DriverClauseContext,
  check: (t: ScenarioTrace, offered: bigint) => void | Promise<void>,
  extra: Scenario = {},
): Promise<void> {
  if (ctx.scenarios.watched) {
    const t = await ctx.scenarios.baseline();
    return await check(t, t.offered);
  }
  await checkProperty(
    ctx,
    offeredSets(ctx.deviceType),
    async (offered) => await check(await withOffered(ctx, offered, extra), offered),
    (o) => `offered ${formatFeatures(o, ctx.deviceType)}`,
  );
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
