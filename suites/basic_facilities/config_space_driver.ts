/**
 * Driver clauses of spec 2.5 Device Configuration Space.
 *
 * @module
 */
import { defineDriverClause } from "../../harness/core/clause.ts";
import { bit } from "../../harness/features.ts";
import { le } from "../../harness/memory.ts";
import { configLayoutOf } from "../../harness/device_types.ts";
import { Mmio } from "../../harness/transport/mmio_layout.ts";
import { expectNone, expectThat, notApplicable } from "../../harness/verify.ts";
import { accesses, acrossOffers, fmtAccess } from "../driver_trace.ts";

const DRIVER = "drivernormative:Basic Facilities of a Virtio Device / Device Configuration Space";

/** Capacity values chosen so that mixing their 32-bit halves gives neither value. */
const OLD_CAPACITY = 0xffff_fff8;
const NEW_CAPACITY = 0x1_0000_0008;

export const noAtomicityAssumed = defineDriverClause({
  label: DRIVER,
  statement: 1,
  level: "MUST NOT",
  title: "64-bit configuration fields not assumed atomic",
  requirement: "The driver does not treat a configuration field wider than 32 bits (or several fields) as read " +
    "in one go: a change between its partial reads must not leave it with a mixed value.",
  action: "Presents a block device whose 64-bit capacity changes (with a new ConfigGeneration) between the " +
    "driver's two 32-bit reads of it while the driver answers a capacity query, and checks the answer is the " +
    "old or the new value, never a mix.",
  applies: { deviceTypes: ["blk"] },
  async run(ctx) {
    let capacityReads = 0;
    let torn = false;
    const t = await ctx.scenarios.run({
      configure: (core, fn, device) => {
        le.setU64(fn.config, 0, OLD_CAPACITY);
        core.knobs.onConfigRead = (offset) => {
          if ((offset !== 0 && offset !== 4) || torn) return;
          const phase = device.events.findLast((e) => e.kind === "phase");
          if (phase?.kind !== "phase" || phase.phase !== "workload") return;
          if (++capacityReads === 2) {
            torn = true;
            core.changeConfig((c) => le.setU64(c, 0, NEW_CAPACITY));
          }
        };
      },
      workloads: [{ kind: "blk-capacity" }],
    });
    if (!t.probe.bound) notApplicable("the driver did not bind");
    const r = t.results[0];
    if (!r || !r.ok || r.value === undefined) notApplicable("the driver cannot report the capacity");
    expectThat(
      r.value === OLD_CAPACITY || r.value === NEW_CAPACITY,
      `capacity 0x${OLD_CAPACITY.toString(16)} or 0x${NEW_CAPACITY.toString(16)}`,
      () => `the driver reported 0x${r.value!.toString(16)} (a torn read)`,
    );
  },
});

export const readsInsideGeneration = defineDriverClause({
  label: DRIVER,
  statement: 2,
  level: "SHOULD",
  title: "configuration reads bracketed by ConfigGeneration",
  requirement: "The driver reads ConfigGeneration before and after reading configuration fields and repeats " +
    "the reads when the two generations differ.",
  action: "Lets the driver probe a device and do its work; every run of configuration reads must have a " +
    "ConfigGeneration read before it and after it.",
  async run(ctx) {
    const t = await ctx.scenarios.baseline();
    const acc = accesses(t);
    const bad: string[] = [];
    for (let i = 0; i < acc.length; i++) {
      const e = acc[i]!;
      if (e.offset < Mmio.Config || e.kind !== "read") continue;
      let j = i;
      while (j + 1 < acc.length && acc[j + 1]!.offset >= Mmio.Config) j++;
      const before = acc.slice(0, i).reverse().find((x) => x.offset !== Mmio.Config && x.offset < Mmio.Config);
      const after = acc[j + 1];
      if (before?.offset !== Mmio.ConfigGeneration || after?.offset !== Mmio.ConfigGeneration) {
        bad.push(`config reads ${fmtAccess(e)}…${fmtAccess(acc[j]!)} not between two ConfigGeneration reads`);
      }
      i = j;
    }
    if (!acc.some((e) => e.offset >= Mmio.Config)) notApplicable("the driver read no configuration field");
    expectNone("every run of configuration reads between ConfigGeneration reads", bad, (s) => s);
  },
});

export const checksFeatureBeforeField = defineDriverClause({
  label: DRIVER,
  statement: 3,
  level: "MUST",
  title: "optional configuration fields read only when their feature is offered",
  requirement: "The driver touches an optional configuration field only when the device offers the feature " +
    "that makes the field exist.",
  action: "Presents block devices offering random feature subsets and checks every configuration access against " +
    "the fields whose features were offered.",
  applies: { deviceTypes: ["blk"] },
  async run(ctx) {
    const layout = configLayoutOf(ctx.deviceType);
    await acrossOffers(ctx, (t, offered) => {
      const absent = accesses(t).filter((e) => {
        if (e.offset < Mmio.Config) return false;
        const off = e.offset - Mmio.Config;
        const field = layout.find((f) => off < f.offset + f.size && off + e.width > f.offset);
        return field?.feature !== undefined && !(offered & bit(field.feature));
      });
      expectNone("no access to a field whose feature is not offered", absent, (e) => {
        const f = layout.find((x) => e.offset - Mmio.Config >= x.offset && e.offset - Mmio.Config < x.offset + x.size);
        return `${fmtAccess(e)} (${f?.name})`;
      });
    });
  },
});

/** The driver clauses of spec 2.5. */
export const CONFIG_SPACE_DRIVER_CLAUSES = [noAtomicityAssumed, readsInsideGeneration, checksFeatureBeforeField];
