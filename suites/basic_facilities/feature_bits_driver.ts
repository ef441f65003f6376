/**
 * Driver clauses of spec 2.2 Feature Bits.
 *
 * @module
 */
import fc from "fast-check";
import { defineDriverClause, type DriverClauseContext } from "../../harness/core/clause.ts";
import {
  bit,
  bitsOf,
  definedMask,
  dependencyGaps,
  F,
  featureName,
  formatFeatures,
  hasDependencies,
  mask,
} from "../../harness/features.ts";
import { checkProperty } from "../../harness/core/property.ts";
import { Status } from "../../harness/status.ts";
import { expectNone, expectThat, notApplicable } from "../../harness/verify.ts";
import { accepted, acrossOffers, offeredSets, statusWrites, withOffered, wroteStatus } from "../driver_trace.ts";

const DRIVER = "drivernormative:Basic Facilities of a Virtio Device / Feature Bits";

/** Bits no driver may accept from a device of this type on the presented transport (undefined, reserved, foreign). */
function unknownBits(ctx: DriverClauseContext): number[] {
  const defined = definedMask(ctx.deviceType, ctx.scenarios.transport);
  return Array.from({ length: 128 }, (_, i) => i).filter((b) => !(defined & bit(b)));
}

/** A random offered set plus 1–4 bits the driver must ignore. */
function withJunk(ctx: DriverClauseContext) {
  return fc.record({
    offered: offeredSets(ctx.deviceType),
    junk: fc.uniqueArray(fc.constantFrom(...unknownBits(ctx)), { minLength: 1, maxLength: 4 }),
  });
}

const fmtJunk = (ctx: DriverClauseContext) => (v: { offered: bigint; junk: number[] }) =>
  `offered ${formatFeatures(v.offered, ctx.deviceType)} + unknown bits [${v.junk.join(", ")}]`;

export const acceptsOnlyOffered = defineDriverClause({
  label: DRIVER,
  statement: 1,
  level: "MUST NOT",
  title: "no feature accepted that the device did not offer",
  applies: { legacy: true },
  requirement: "The driver accepts only features the device offered.",
  action: "Presents devices offering random feature subsets and compares the driver's accepted set with the offer.",
  async run(ctx) {
    await acrossOffers(ctx, (t, offered) => {
      const extra = accepted(t) & ~offered;
      expectThat(
        extra === 0n,
        `accepted ⊆ offered ${formatFeatures(offered, ctx.deviceType)}`,
        () => `accepted unoffered ${formatFeatures(extra, ctx.deviceType)}`,
      );
    });
  },
});

export const acceptsDependencies = defineDriverClause({
  label: DRIVER,
  statement: 2,
  level: "MUST NOT",
  title: "no feature accepted without the features it depends on",
  requirement: "Every feature the driver accepts has the features it depends on accepted too.",
  action: "Presents devices offering random feature subsets and checks the accepted set's dependencies.",
  async run(ctx) {
    if (!hasDependencies(ctx.deviceType)) notApplicable(`no ${ctx.deviceType} feature depends on another`);
    await checkProperty(ctx, offeredSets(ctx.deviceType), async (offered) => {
      const t = await withOffered(ctx, offered);
      expectNone(
        "every accepted feature's dependencies accepted",
        dependencyGaps(ctx.deviceType, accepted(t)),
        (g) =>
          `${featureName(ctx.deviceType, g.feature)} without ${
            g.missingAnyOf.map((b) => featureName(ctx.deviceType, b)).join(" / ")
          }`,
      );
    }, (o) => formatFeatures(o, ctx.deviceType));
  },
});

export const ignoresUnknownBits = defineDriverClause({
  label: DRIVER,
  statement: 4,
  level: "MUST",
  title: "undefined, reserved and foreign feature bits ignored",
  requirement: "Feature bits the spec does not define for this device type and transport (including reserved " +
    "ones) have no effect on what the driver does.",
  action: "Runs the driver twice against the same offer, once with 1–4 such bits added, and compares the " +
    "accepted sets and probe outcomes.",
  async run(ctx) {
    await checkProperty(ctx, withJunk(ctx), async ({ offered, junk }) => {
      const plain = await withOffered(ctx, offered);
      const noisy = await withOffered(ctx, offered | mask(...junk));
      const a = accepted(plain);
      const b = accepted(noisy) & ~mask(...junk);
      expectThat(
        a === b && plain.probe.bound === noisy.probe.bound,
        `the same behaviour as without the unknown bits (accepted ${formatFeatures(a, ctx.deviceType)}, ${
          plain.probe.bound ? "bound" : "not bound"
        })`,
        () => `accepted ${formatFeatures(b, ctx.deviceType)}, ${noisy.probe.bound ? "bound" : "not bound"}`,
      );
    }, fmtJunk(ctx));
  },
});

export const rejectsUnknownBits = defineDriverClause({
  label: DRIVER,
  statement: 5,
  level: "MUST NOT",
  title: "undefined, reserved and foreign feature bits never accepted",
  requirement: "The driver never accepts a feature bit the spec does not define for this device type and " +
    "transport, nor a reserved one, even when offered.",
  action: "Presents devices offering random feature sets plus 1–4 undefined, reserved or transport-foreign bits " +
    "and checks the accepted set.",
  async run(ctx) {
    if (ctx.scenarios.watched) {
      // A watched driver's own device offers what it offers: no undefined bit may be among what the driver took.
      const t = await ctx.scenarios.baseline();
      const taken = bitsOf(accepted(t) & mask(...unknownBits(ctx)));
      return expectNone(
        "none of the unknown bits accepted",
        taken,
        (b) => `accepted ${featureName(ctx.deviceType, b)}`,
      );
    }
    await checkProperty(ctx, withJunk(ctx), async ({ offered, junk }) => {
      const t = await withOffered(ctx, offered | mask(...junk));
      const taken = bitsOf(accepted(t) & mask(...junk));
      expectNone("none of the unknown bits accepted", taken, (b) => `accepted ${featureName(ctx.deviceType, b)}`);
    }, fmtJunk(ctx));
  },
});

export const failsWithoutUnderstoodFeature = defineDriverClause({
  label: DRIVER,
  statement: 7,
  level: "MUST",
  title: "FAILED and stop when a needed feature is missing",
  requirement: "When the device lacks a feature the driver depends on and the driver has no compatible fallback, " +
    "the driver sets FAILED and stops initializing.",
  action: "Presents a device that does not offer VIRTIO_F_VERSION_1; the driver must either carry on without it " +
    "(a fallback) or set FAILED and never set DRIVER_OK afterwards.",
  async run(ctx) {
    const offered = (ctx.scenarios.deviceType === "blk" ? mask(F.RING_RESET) : 0n) | mask(F.IN_ORDER);
    const t = await withOffered(ctx, offered, { workloads: [] });
    const writes = statusWrites(t);
    const failedAt = writes.findIndex((e) => (e.value & Status.FAILED) !== 0);
    const fallback = wroteStatus(t, Status.DRIVER_OK) && !(accepted(t) & bit(F.VERSION_1));
    if (fallback && failedAt < 0) return;
    expectThat(
      failedAt >= 0,
      "FAILED set (or a fallback without VERSION_1)",
      () => `status writes ${writes.map((e) => `0x${e.value.toString(16)}`).join(", ") || "none"}`,
    );
    const after = writes.slice(failedAt).find((e) => (e.value & Status.DRIVER_OK) && !(e.value & Status.FAILED));
    expectThat(after === undefined, "no DRIVER_OK after FAILED", () => `status 0x${after!.value.toString(16)} written`);
  },
});

export const notFailingOnUnknown = defineDriverClause({
  label: DRIVER,
  statement: 8,
  level: "MUST NOT",
  title: "no failure because of unknown offered features",
  requirement: "Offering features the driver does not understand does not make the driver fail.",
  action: "Presents devices offering random feature sets plus unknown bits; the driver must bind without FAILED.",
  async run(ctx) {
    await checkProperty(ctx, withJunk(ctx), async ({ offered, junk }) => {
      const t = await withOffered(ctx, offered | mask(...junk), { workloads: [] });
      expectThat(
        t.probe.bound && !wroteStatus(t, Status.FAILED),
        "the driver binds without setting FAILED",
        () =>
          `probe ${t.probe.bound ? "bound" : `not bound: ${t.probe.error ?? ""}`}${
            wroteStatus(t, Status.FAILED) ? ", FAILED set" : ""
          }`,
      );
    }, fmtJunk(ctx));
  },
});

/** The driver clauses of spec 2.2. */
export const FEATURE_BITS_DRIVER_CLAUSES = [
  acceptsOnlyOffered,
  acceptsDependencies,
  ignoresUnknownBits,
  rejectsUnknownBits,
  failsWithoutUnderstoodFeature,
  notFailingOnUnknown,
];
