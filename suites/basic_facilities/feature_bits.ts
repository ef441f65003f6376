/**
 * Clauses of spec 2.2 Feature Bits (device obligations).
 *
 * @module
 */
import fc from "fast-check";
import { defineDeviceClause, type DeviceClauseContext } from "../../harness/core/clause.ts";
import {
  bit,
  bitsOf,
  definedMask,
  dependencyGaps,
  DEVICE_SPECIFIC_MASK,
  dropUnsatisfied,
  F,
  featureName,
  formatFeatures,
  hasDependencies,
  knownMask,
  mask,
} from "../../harness/features.ts";
import { checkProperty } from "../../harness/core/property.ts";
import { formatStatus, Status } from "../../harness/status.ts";
import { expectNone, expectThat, notApplicable } from "../../harness/verify.ts";

const DEVICE = "devicenormative:Basic Facilities of a Virtio Device / Feature Bits";

/**
 * Random valid feature subsets of what the device offers: defined, dependencies met, VERSION_1 in. On a device type
 * the suite does not model (`other`) only the device-independent bits vary: every offered device-specific bit is
 * kept, since the suite knows neither their dependencies nor which of them the device needs.
 */
export function validSubsets(ctx: DeviceClauseContext): fc.Arbitrary<bigint> {
  const known = knownMask(ctx.deviceType, ctx.session.transport);
  const candidates = bitsOf(ctx.offered & known & ~bit(F.VERSION_1));
  const kept = (ctx.offered & bit(F.VERSION_1)) |
    (ctx.deviceType === "other" ? ctx.offered & DEVICE_SPECIFIC_MASK : 0n);
  return fc.subarray(candidates).map((bits) => dropUnsatisfied(ctx.deviceType, mask(...bits)) | kept);
}

export const noOfferWithoutDependency = defineDeviceClause({
  label: DEVICE,
  statement: 1,
  level: "MUST NOT",
  title: "no feature offered without the features it depends on",
  requirement: "Every feature the device offers has the features it depends on offered too.",
  action: "Reads all device feature words and checks each offered feature's dependencies against the offered set.",
  run(ctx) {
    if (!hasDependencies(ctx.deviceType)) notApplicable(`no ${ctx.deviceType} feature depends on another`);
    const gaps = dependencyGaps(ctx.deviceType, ctx.offered);
    expectNone(
      "every offered feature's dependencies offered",
      gaps,
      (g) =>
        `${featureName(ctx.deviceType, g.feature)} offered without any of ${
          g.missingAnyOf.map((b) => featureName(ctx.deviceType, b)).join(" / ")
        }`,
    );
    return Promise.resolve();
  },
});

async function negotiate(ctx: DeviceClauseContext, set: bigint): Promise<number> {
  return (await ctx.driver.init("features-ok", () => set)).status;
}

export const acceptsValidSubsets = defineDeviceClause({
  label: DEVICE,
  statement: 2,
  level: "SHOULD",
  title: "any valid feature subset accepted",
  requirement: "The device accepts every valid subset of its offered features that a driver accepts.",
  action: "Negotiates random subsets of the offered features (dependencies satisfied, VERSION_1 included) and " +
    "checks that FEATURES_OK stays set.",
  async run(ctx) {
    await checkProperty(ctx, validSubsets(ctx), async (set) => {
      const status = await negotiate(ctx, set);
      expectThat(
        (status & Status.FEATURES_OK) !== 0,
        `FEATURES_OK kept for ${formatFeatures(set, ctx.deviceType)}`,
        () => `status ${formatStatus(status)}`,
      );
    }, (set) => formatFeatures(set, ctx.deviceType));
  },
});

export const refusesUnsupported = defineDeviceClause({
  label: DEVICE,
  statement: 3,
  level: "MUST",
  title: "FEATURES_OK refused for a feature set the device cannot accept",
  requirement: "When the device does not accept the driver's feature set, it leaves FEATURES_OK clear when the " +
    "driver sets it.",
  action: "Writes a valid subset plus 1–3 feature bits the device never offered (so it cannot support the set), " +
    "sets FEATURES_OK and reads the status back.",
  async run(ctx) {
    const unoffered = Array.from({ length: 128 }, (_, i) => i).filter((b) => !(ctx.offered & bit(b)));
    if (unoffered.length === 0) notApplicable("the device offers every feature bit");
    const arb = fc.tuple(
      validSubsets(ctx),
      fc.uniqueArray(fc.constantFrom(...unoffered), { minLength: 1, maxLength: 3 }),
    );
    await checkProperty(ctx, arb, async ([set, extra]) => {
      const written = set | mask(...extra);
      const status = await negotiate(ctx, written);
      expectThat(
        (status & Status.FEATURES_OK) === 0,
        `FEATURES_OK refused when the driver accepts unoffered ${
          extra.map((b) => featureName(ctx.deviceType, b)).join(", ")
        }`,
        () => `status ${formatStatus(status)} after writing ${formatFeatures(written, ctx.deviceType)}`,
      );
    }, ([set, extra]) => `${formatFeatures(set, ctx.deviceType)} + unoffered [${extra.join(", ")}]`);
  },
});

export const offersOnlySupported = defineDeviceClause({
  label: DEVICE,
  statement: 4,
  level: "MUST NOT",
  title: "no undefined, reserved or transport-foreign feature offered",
  requirement: "The device offers no feature bit it could not honour: none undefined by the spec, none reserved, " +
    "none that belongs to another transport or device type, none of the legacy-only bits on a modern interface.",
  action: "Reads feature words 0–3 and compares the offered set with the bits defined for this device type on " +
    "this transport.",
  run(ctx) {
    const foreign = ctx.offered & ~definedMask(ctx.deviceType, ctx.session.transport);
    expectNone(
      `only bits defined for ${
        ctx.deviceType === "other" ? "a device (any device-specific bit)" : `a ${ctx.deviceType} device`
      } over ${ctx.session.transport}`,
      bitsOf(foreign),
      (b) =>
        `offers ${featureName(ctx.deviceType, b)}${
          featureName(ctx.deviceType, b).startsWith("bit") ? "" : ` (bit ${b})`
        }`,
    );
    return Promise.resolve();
  },
});

export const renegotiatesAfterReset = defineDeviceClause({
  label: DEVICE,
  statement: 5,
  level: "SHOULD NOT",
  title: "re-negotiation of an accepted set after reset",
  requirement: "A feature set the device once accepted is accepted again after a device reset.",
  action: "Negotiates a random valid subset; when the device accepts it, resets and negotiates the same set " +
    "again, checking FEATURES_OK stays set.",
  async run(ctx) {
    await checkProperty(ctx, validSubsets(ctx), async (set) => {
      const first = await negotiate(ctx, set);
      if (!(first & Status.FEATURES_OK)) return;
      const again = await negotiate(ctx, set);
      expectThat(
        (again & Status.FEATURES_OK) !== 0,
        `FEATURES_OK again after reset for ${formatFeatures(set, ctx.deviceType)}`,
        () => `status ${formatStatus(again)} on the second negotiation`,
      );
    }, (set) => formatFeatures(set, ctx.deviceType));
  },
});

/** The device clauses of spec 2.2. */
export const FEATURE_BITS_DEVICE_CLAUSES = [
  noOfferWithoutDependency,
  acceptsValidSubsets,
  refusesUnsupported,
  offersOnlySupported,
  renegotiatesAfterReset,
];
