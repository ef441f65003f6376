/**
 * Driver clauses of network flow filters (spec 5.1.9.6.5): the harness presents a net device with an
 * administration virtqueue and flow filters (PCI), asks the driver for the `net-flow-filter` workload and judges the
 * administration commands it sent — capabilities set before objects, classifier selectors and masks, rule keys, and
 * (under `--strict`) the order of destroys and rule priorities.
 *
 * @module
 */
import { defineDriverClause, type DriverClauseContext } from "../../harness/core/clause.ts";
import { AdminOpcode } from "../../harness/models/device/admin_command.ts";
import {
  decodeFfRule,
  decodeSelectors,
  FF_PARTIAL_MASK,
  FF_SELECTOR_LENGTH,
  type FfRule,
  type FfSelector,
  NetFfCap,
  NetFfObject,
  NetFfSelector,
} from "../../harness/models/device/net_flow_filter.ts";
import { le } from "../../harness/memory.ts";
import { expectNone, notApplicable } from "../../harness/verify.ts";

const FF = "drivernormative:Device Types / Network Device / Device Operation / Flow filter";
const APPLIES = { transports: ["pci" as const], deviceTypes: ["net" as const] };

/** One administration command the driver sent, decoded as far as flow filters go. */
interface Sent {
  opcode: number;
  data: Uint8Array;
  ok: boolean;
}

/** The administration commands the driver sent during the `net-flow-filter` workload; n/a when none. */
async function flowFilterRun(ctx: DriverClauseContext): Promise<Sent[]> {
  if (ctx.scenarios.watched) notApplicable("the driver runs beside its own device: the harness sees no admin queue");
  if (!ctx.target.info.workloads.includes("net-flow-filter")) {
    notApplicable("the driver does not declare net-flow-filter");
  }
  const t = await ctx.scenarios.run({ workloads: [{ kind: "net-flow-filter" }] });
  if (!t.probe.bound) notApplicable("the driver did not bind");
  const log = t.core.admin?.log ?? [];
  if (log.length === 0) notApplicable("the driver sent no administration command");
  return log.map((e) => ({ opcode: e.cmd.opcode, data: e.cmd.data, ok: e.result.status === 0 }));
}

/** The object type and id of a resource object command. */
const objectOf = (s: Sent) => ({ type: le.u16(s.data, 0), id: le.u32(s.data, 4), body: s.data.subarray(16) });
const isObject = (s: Sent, opcode: number, type: number) =>
  s.opcode === opcode && s.data.length >= 8 && le.u16(s.data, 0) === type;
const FF_TYPES: number[] = [NetFfObject.GROUP, NetFfObject.CLASSIFIER, NetFfObject.RULE];

/** The classifiers the driver created, by id (the last create of each id). */
function classifiers(sent: Sent[]): Map<number, FfSelector[] | undefined> {
  const out = new Map<number, FfSelector[] | undefined>();
  for (const s of sent) {
    if (isObject(s, AdminOpcode.RESOURCE_OBJ_CREATE, NetFfObject.CLASSIFIER)) {
      const o = objectOf(s);
      out.set(o.id, decodeSelectors(o.body));
    }
  }
  return out;
}

/** The rules the driver created, each with the classifier it names. */
function rules(sent: Sent[]): { rule: FfRule; selectors: FfSelector[] | undefined }[] {
  const cls = classifiers(sent);
  return sent.filter((s) => isObject(s, AdminOpcode.RESOURCE_OBJ_CREATE, NetFfObject.RULE)).map((s) => {
    const rule = decodeFfRule(objectOf(s).body);
    return { rule, selectors: cls.get(rule.classifierId) };
  });
}

const ACTION = "Presents a net device with an administration virtqueue and flow filters (PCI), runs the driver's " +
  "net-flow-filter workload and checks ";

export const ffCapsBeforeObjects = defineDriverClause({
  label: FF,
  statement: 1,
  level: "MUST",
  title: "the three flow filter capabilities set before flow filter objects",
  requirement: "Before it creates any flow filter group, classifier or rule, the driver sets (DRIVER_CAP_SET) the " +
    "resource, selector and action capabilities.",
  action: ACTION + "every flow filter object create comes after a DRIVER_CAP_SET of each of the three capabilities.",
  applies: APPLIES,
  async run(ctx) {
    const sent = await flowFilterRun(ctx);
    const set = new Set<number>();
    const bad: string[] = [];
    for (const s of sent) {
      if (s.data.length < 8) continue;
      if (s.opcode === AdminOpcode.DRIVER_CAP_SET && s.ok) set.add(le.u16(s.data, 0));
      if (s.opcode === AdminOpcode.RESOURCE_OBJ_CREATE && FF_TYPES.includes(le.u16(s.data, 0))) {
        const missing = [NetFfCap.RESOURCE, NetFfCap.SELECTOR, NetFfCap.ACTION].filter((c) => !set.has(c));
        if (missing.length) {
          bad.push(
            `object 0x${le.u16(s.data, 0).toString(16)} created before ${
              missing.map((c) => `0x${c.toString(16)}`).join(", ")
            } set`,
          );
        }
      }
    }
    expectNone("no flow filter object before the three capabilities", bad, (x) => x);
  },
});

export const ffSelectorOrder = defineDriverClause({
  label: FF,
  statement: 9,
  level: "MUST",
  title: "classifier selectors: Ethernet, then IPv4 or IPv6, then TCP or UDP",
  requirement: "A classifier's first selector is Ethernet; a second is IPv4 or IPv6; a third is TCP or UDP.",
  action: ACTION + "the selector types of every classifier created.",
  applies: APPLIES,
  async run(ctx) {
    const order = [[NetFfSelector.ETH], [NetFfSelector.IPV4, NetFfSelector.IPV6], [
      NetFfSelector.TCP,
      NetFfSelector.UDP,
    ]];
    const bad: string[] = [];
    for (const [id, list] of classifiers(await flowFilterRun(ctx))) {
      if (!list) {
        bad.push(`classifier ${id}: selectors that do not parse`);
        continue;
      }
      list.forEach((s, i) => {
        if (!(order[i] as number[] | undefined)?.includes(s.type)) {
          bad.push(`classifier ${id}: selector ${i} of type ${s.type}`);
        }
      });
    }
    expectNone("selectors in the order the spec gives", bad, (x) => x);
  },
});

/** The mask bytes of `s` at `[from, to)` all 0xff. */
const allOnes = (s: FfSelector, from: number, to: number) => s.mask.subarray(from, to).every((b) => b === 0xff);

export const ffLinkMasks = defineDriverClause({
  label: FF,
  statement: 10,
  level: "MUST",
  title: "EtherType and protocol masks set in full where the next selector depends on them",
  requirement: "With two or more selectors every EtherType mask bit is set; with three, every bit of the IPv4 " +
    "Protocol or IPv6 Next Header mask.",
  action: ACTION + "the masks of every classifier with more than one selector.",
  applies: APPLIES,
  async run(ctx) {
    const bad: string[] = [];
    for (const [id, list] of classifiers(await flowFilterRun(ctx))) {
      if (!list || list.length < 2) continue;
      if (list[0]!.type === NetFfSelector.ETH && !allOnes(list[0]!, 12, 14)) bad.push(`classifier ${id}: EtherType`);
      if (list.length > 2) {
        const ip = list[1]!;
        if (ip.type === NetFfSelector.IPV4 && !allOnes(ip, 9, 10)) bad.push(`classifier ${id}: IPv4 Protocol`);
        if (ip.type === NetFfSelector.IPV6 && !allOnes(ip, 6, 7)) bad.push(`classifier ${id}: IPv6 Next Header`);
      }
    }
    expectNone("EtherType and Protocol / Next Header masks all ones", bad, (x) => `${x} mask not all ones`);
  },
});

export const ffEtherTypeKeys = defineDriverClause({
  label: FF,
  statement: 11,
  level: "MUST",
  title: "rule keys carry the EtherType of the classifier's IP selector",
  requirement: "For a rule whose classifier has two or more selectors, the EtherType bytes of the keys are 0x0800 " +
    "for IPv4 and 0x86DD for IPv6.",
  action: ACTION + "the EtherType key bytes of every rule.",
  applies: APPLIES,
  async run(ctx) {
    const bad: string[] = [];
    for (const { rule, selectors } of rules(await flowFilterRun(ctx))) {
      if (!selectors || selectors.length < 2) continue;
      const want = selectors[1]!.type === NetFfSelector.IPV4
        ? 0x0800
        : selectors[1]!.type === NetFfSelector.IPV6
        ? 0x86dd
        : undefined;
      const got = ((rule.keys[12] ?? 0) << 8) | (rule.keys[13] ?? 0);
      if (want !== undefined && got !== want) {
        bad.push(
          `rule on classifier ${rule.classifierId}: EtherType 0x${got.toString(16)}, not 0x${want.toString(16)}`,
        );
      }
    }
    expectNone("EtherType keys that name the IP version", bad, (x) => x);
  },
});

export const ffProtocolKeys = defineDriverClause({
  label: FF,
  statement: 12,
  level: "MUST",
  title: "rule keys carry the protocol of the classifier's transport selector",
  requirement: "For a rule whose classifier has three selectors after an IPv4 or IPv6 one, the Protocol or Next " +
    "Header key byte is the IANA number of the third selector's protocol (6 for TCP, 17 for UDP).",
  action: ACTION + "the Protocol / Next Header key byte of every rule.",
  applies: APPLIES,
  async run(ctx) {
    const bad: string[] = [];
    for (const { rule, selectors } of rules(await flowFilterRun(ctx))) {
      if (!selectors || selectors.length < 3) continue;
      const ip = selectors[1]!.type;
      if (ip !== NetFfSelector.IPV4 && ip !== NetFfSelector.IPV6) continue;
      const want = selectors[2]!.type === NetFfSelector.TCP ? 6 : selectors[2]!.type === NetFfSelector.UDP ? 17 : 50;
      const at = FF_SELECTOR_LENGTH[NetFfSelector.ETH]! + (ip === NetFfSelector.IPV4 ? 9 : 6);
      if (rule.keys[at] !== want) {
        bad.push(`rule on classifier ${rule.classifierId}: protocol ${rule.keys[at]}, not ${want}`);
      }
    }
    expectNone("protocol keys that name the transport", bad, (x) => x);
  },
});

/** Ids of objects of `type` destroyed while a rule created earlier and not yet destroyed named them. */
function destroyedInUse(sent: Sent[], type: number, field: "groupId" | "classifierId"): string[] {
  const live = new Map<number, FfRule>();
  const bad: string[] = [];
  for (const s of sent) {
    if (isObject(s, AdminOpcode.RESOURCE_OBJ_CREATE, NetFfObject.RULE) && s.ok) {
      live.set(objectOf(s).id, decodeFfRule(objectOf(s).body));
    }
    if (isObject(s, AdminOpcode.RESOURCE_OBJ_DESTROY, NetFfObject.RULE) && s.ok) live.delete(objectOf(s).id);
    if (isObject(s, AdminOpcode.RESOURCE_OBJ_DESTROY, type)) {
      const id = objectOf(s).id;
      const users = [...live].filter(([, r]) => r[field] === id).map(([k]) => k);
      if (users.length) bad.push(`${id} destroyed while rule(s) ${users.join(", ")} depend on it`);
    }
  }
  return bad;
}

export const ffGroupDestroyedLast = defineDriverClause({
  label: FF,
  statement: 2,
  level: "SHOULD NOT",
  title: "no group destroyed while rules depend on it",
  requirement: "The driver destroys a flow filter group only after every rule in it.",
  action: ACTION + "no group destroy comes while a rule of the group exists.",
  applies: APPLIES,
  async run(ctx) {
    expectNone(
      "groups destroyed after their rules",
      destroyedInUse(await flowFilterRun(ctx), NetFfObject.GROUP, "groupId"),
      (x) => `group ${x}`,
    );
  },
});

export const ffClassifierDestroyedLast = defineDriverClause({
  label: FF,
  statement: 4,
  level: "SHOULD NOT",
  title: "no classifier destroyed while rules depend on it",
  requirement: "The driver destroys a flow filter classifier only after every rule using it.",
  action: ACTION + "no classifier destroy comes while a rule using it exists.",
  applies: APPLIES,
  async run(ctx) {
    const sent = await flowFilterRun(ctx);
    expectNone(
      "classifiers destroyed after their rules",
      destroyedInUse(sent, NetFfObject.CLASSIFIER, "classifierId"),
      (x) => `classifier ${x}`,
    );
  },
});

export const ffDistinctRulePriorities = defineDriverClause({
  label: FF,
  statement: 6,
  level: "SHOULD NOT",
  title: "no two rules of a group with the same priority",
  requirement: "The driver does not give two rules of one group the same rule_priority.",
  action: ACTION + "the priorities of the rules it created in each group.",
  applies: APPLIES,
  async run(ctx) {
    const seen = new Map<string, number>();
    const bad: string[] = [];
    for (const { rule } of rules(await flowFilterRun(ctx))) {
      const k = `${rule.groupId}/${rule.priority}`;
      seen.set(k, (seen.get(k) ?? 0) + 1);
      if (seen.get(k) === 2) bad.push(`group ${rule.groupId}: two rules with priority ${rule.priority}`);
    }
    expectNone("distinct rule priorities within a group", bad, (x) => x);
  },
});

export const ffWholeFieldMasks = defineDriverClause({
  label: FF,
  statement: 13,
  level: "SHOULD",
  title: "whole-field masks unless PARTIAL_MASK",
  requirement: "In a classifier, a selector without VIRTIO_NET_FF_MASK_F_PARTIAL_MASK masks each header field " +
    "either fully or not at all.",
  action: ACTION + "the IPv4 address and TCP/UDP port fields of every selector without PARTIAL_MASK.",
  applies: APPLIES,
  async run(ctx) {
    // The fields checked: IPv4 source and destination addresses; TCP and UDP source and destination ports.
    const fields: Record<number, [number, number][]> = {
      [NetFfSelector.IPV4]: [[12, 16], [16, 20]],
      [NetFfSelector.TCP]: [[0, 2], [2, 4]],
      [NetFfSelector.UDP]: [[0, 2], [2, 4]],
    };
    const bad: string[] = [];
    for (const [id, list] of classifiers(await flowFilterRun(ctx))) {
      for (const s of list ?? []) {
        if (s.flags & FF_PARTIAL_MASK) continue;
        for (const [from, to] of fields[s.type] ?? []) {
          const part = s.mask.subarray(from, to);
          if (!part.every((b) => b === 0xff) && !part.every((b) => b === 0)) {
            bad.push(`classifier ${id}, selector type ${s.type}: bytes ${from}–${to - 1} partly masked`);
          }
        }
      }
    }
    expectNone("whole-field masks", bad, (x) => x);
  },
});

/** The flow filter driver clauses. */
export const NET_FLOW_FILTER_DRIVER_CLAUSES = [
  ffCapsBeforeObjects,
  ffSelectorOrder,
  ffLinkMasks,
  ffEtherTypeKeys,
  ffProtocolKeys,
  ffGroupDestroyedLast,
  ffClassifierDestroyedLast,
  ffDistinctRulePriorities,
  ffWholeFieldMasks,
];
