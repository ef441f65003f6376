/**
 * Device clauses of network flow filters (spec 5.1.9.6.4): the capabilities and resource objects on the
 * administration virtqueue, and what the rules in force do with received frames — the action of the first matching
 * rule, groups and rules in priority order, before RSS, after the MAC filters, a frame for a queue being reset
 * dropped. The harness keeps its own copy of every object it created and judges each frame against
 * {@link flowFilterOutcome}.
 *
 * @module
 */
import fc from "fast-check";
import { defineDeviceClause, type DeviceClauseContext } from "../../harness/core/clause.ts";
import { checkProperty } from "../../harness/core/property.ts";
import { bit, F, NET_F } from "../../harness/features.ts";
import { le } from "../../harness/memory.ts";
import { AdminOpcode, AdminQualifier, AdminStatus, decodeBitmap } from "../../harness/models/device/admin_command.ts";
import type { AdminObjects } from "../../harness/models/device/admin_queue.ts";
import { NetCtrl, netHeaderSize } from "../../harness/models/device/net.ts";
import {
  decodeActions,
  decodeFfLimits,
  decodeSelectors,
  encodeFfGroup,
  encodeFfLimits,
  encodeFfRule,
  encodeObjectData,
  encodeSelectors,
  FF_PARTIAL_MASK,
  FF_SELECTOR_LENGTH,
  type FfRule,
  type FfSelector,
  ffTcpClassifier,
  ffTcpKeys,
  flowFilterOutcome,
  NetFfAction,
  NetFfCap,
  NetFfObject,
  NetFfSelector,
} from "../../harness/models/device/net_flow_filter.ts";
import { encodeRssConfig, NetHashType, NetMqCommand, type RssConfig } from "../../harness/models/device/net_rss.ts";
import { formatStatus, Status } from "../../harness/status.ts";
import { CommonCfg } from "../../harness/transport/pci_layout.ts";
import { expectNone, expectThat, notApplicable } from "../../harness/verify.ts";
import { mustAnswer, selfCommand } from "../admin/admin_io.ts";
import { pciOf } from "../transport_pci/helpers_device.ts";
import { controlCommand, has, resetQueueAlone, testFrame, wireOf } from "./net_io.ts";
import {
  type Arrival,
  arrivals,
  type Buffers,
  giveBuffers,
  type RssLink,
  rxName,
  same,
  setUpPairs,
} from "./net_rss_device.ts";

const FF = "devicenormative:Device Types / Network Device / Device Operation / Flow filter";
const APPLIES = { transports: ["pci" as const], deviceTypes: ["net" as const], offered: [F.ADMIN_VQ, NET_F.CTRL_VQ] };

/** A net device brought up with its administration virtqueue and flow filters usable. */
export interface FfLink extends RssLink {
  admin: number;
  /** The selectors the device supports, by type. */
  selectors: Map<number, FfSelector>;
  lastRulePriority: number;
  actions: number[];
  /** Receive buffers given and not yet used, by queue. */
  buffers: Map<number, Buffers>;
}

/** Sends one administration command and fails the clause unless it answers OK. */
export async function adminOk(
  ctx: DeviceClauseContext,
  l: { admin: number },
  opcode: number,
  data: Uint8Array,
  what: string,
) {
  // Room for the longest result here: CAP_ID_LIST_QUERY's bitmap reaches id 0x802 (264 bytes).
  const r = await mustAnswer(ctx, l.admin, selfCommand(opcode, data), { resultBytes: 512 });
  expectThat(r.result.status === AdminStatus.OK, `${what}: status OK`, () => `status ${r.result.status}`);
  return r.result.result;
}

/** `virtio_admin_cmd_cap_get_data` / `_set_data` for capability `id` (with `data` after it). */
export function capData(id: number, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const out = new Uint8Array(8 + data.length);
  le.setU16(out, 0, id);
  out.set(data, 8);
  return out;
}

/**
 * Negotiates CTRL_VQ, MQ, MAC, ADMIN_VQ and `extra`, sets up to four pairs, the control and the administration
 * queue, sets the pairs in use, and sends LIST_USE of every command LIST_QUERY reports; returns the link and the
 * capability ids CAP_ID_LIST_QUERY reports (none when the device has no capability commands).
 */
export async function adminNetUp(
  ctx: DeviceClauseContext,
  extra: number[] = [],
): Promise<{ l: FfLink; caps: Set<number> }> {
  wireOf(ctx);
  const t = pciOf(ctx);
  const want = [F.VERSION_1, NET_F.CTRL_VQ, NET_F.MQ, NET_F.MAC, F.ADMIN_VQ, ...extra].reduce((m, f) => m | bit(f), 0n);
  const r = await ctx.driver.init("features-ok", (o) => o & want);
  expectThat(r.featuresOk, "FEATURES_OK with CTRL_VQ and ADMIN_VQ", () => formatStatus(r.status));
  const negotiated = ctx.driver.negotiated;
  const mq = has(negotiated, NET_F.MQ);
  const { pairs, ctrl } = await setUpPairs(ctx, negotiated);
  const admin = await t.common.read(CommonCfg.admin_queue_index, 2);
  if ((await t.common.read(CommonCfg.admin_queue_num, 2)) === 0) notApplicable("admin_queue_num reads 0");
  await ctx.driver.setupQueue(admin, 8);
  const status = await ctx.driver.addStatus(Status.DRIVER_OK);
  expectThat((status & Status.DRIVER_OK) !== 0, "DRIVER_OK set", () => formatStatus(status));
  if (mq && pairs > 1) {
    const ack = await controlCommand(ctx, NetCtrl.MQ, NetMqCommand.VQ_PAIRS_SET, new Uint8Array([pairs, 0]), ctrl);
    expectThat(ack === NetCtrl.OK, `VQ_PAIRS_SET ${pairs} acknowledged`, () => `ack ${ack}`);
  }
  const mac = await Promise.all(Array.from({ length: 6 }, (_, i) => ctx.transport.readConfig(i, 1)));
  const l: FfLink = {
    negotiated,
    mac,
    hdr: netHeaderSize(negotiated),
    pairs,
    ctrl,
    keySize: 0,
    tableLength: 0,
    hashTypes: 0,
    tunnels: 0,
    admin,
    selectors: new Map(),
    lastRulePriority: 0,
    actions: [],
    buffers: new Map(),
  };
  const supported = decodeBitmap(await adminOk(ctx, l, AdminOpcode.LIST_QUERY, new Uint8Array(0), "LIST_QUERY"));
  const bits = new Uint8Array(8);
  for (const o of supported) if (o < 64) bits[o >> 3]! |= 1 << (o & 7);
  await adminOk(ctx, l, AdminOpcode.LIST_USE, bits, "LIST_USE of every reported command");
  if (!supported.has(AdminOpcode.CAP_ID_LIST_QUERY)) return { l, caps: new Set() };
  const caps = decodeBitmap(await adminOk(ctx, l, AdminOpcode.CAP_ID_LIST_QUERY, new Uint8Array(0), "CAP_ID_LIST"));
  return { l, caps };
}

const FF_CAPS = [NetFfCap.RESOURCE, NetFfCap.SELECTOR, NetFfCap.ACTION];

/**
 * {@link adminNetUp}, then the three flow filter driver capabilities set to what the device reports. `n/a` when the
 * device reports no flow filters.
 */
async function ffUp(ctx: DeviceClauseContext, extra: number[] = []): Promise<FfLink> {
  const { l, caps } = await adminNetUp(ctx, extra);
  if (!FF_CAPS.every((c) => caps.has(c))) notApplicable("the device does not report the flow filter capabilities");
  const dev = new Map<number, Uint8Array>();
  for (const id of FF_CAPS) {
    dev.set(id, await adminOk(ctx, l, AdminOpcode.DEVICE_CAP_GET, capData(id), `DEVICE_CAP_GET 0x${id.toString(16)}`));
    await adminOk(ctx, l, AdminOpcode.DRIVER_CAP_SET, capData(id, dev.get(id)), `DRIVER_CAP_SET 0x${id.toString(16)}`);
  }
  l.selectors = new Map((decodeSelectors(dev.get(NetFfCap.SELECTOR)!) ?? []).map((s) => [s.type, s]));
  l.lastRulePriority = decodeFfLimits(dev.get(NetFfCap.RESOURCE)!).lastRulePriority;
  l.actions = decodeActions(dev.get(NetFfCap.ACTION)!);
  return l;
}

/** The harness's copy of the objects it created (the oracle's input). */
type Objects = Map<number, Map<number, Uint8Array>>;

/** Creates an object; fails the clause unless the device answers OK; records it in `objects`. */
async function create(
  ctx: DeviceClauseContext,
  l: FfLink,
  objects: Objects,
  type: number,
  id: number,
  body: Uint8Array,
) {
  await adminOk(
    ctx,
    l,
    AdminOpcode.RESOURCE_OBJ_CREATE,
    encodeObjectData(type, id, body),
    `create object 0x${type.toString(16)} ${id}`,
  );
  const m = objects.get(type) ?? new Map();
  m.set(id, body);
  objects.set(type, m);
}

/** The classifier of the clauses: EtherType, then the IPv4 protocol and destination, then the destination port. */
function classifierOf(l: FfLink): FfSelector[] {
  for (const t of [NetFfSelector.ETH, NetFfSelector.IPV4, NetFfSelector.TCP]) {
    const s = l.selectors.get(t);
    if (!s) notApplicable(`the device supports no selector of type ${t}`);
    if (s.mask.length < FF_SELECTOR_LENGTH[t]!) notApplicable(`selector type ${t} does not cover its header`);
  }
  const want = ffTcpClassifier();
  for (const s of want) {
    const d = l.selectors.get(s.type)!;
    if (s.mask.some((m, i) => (m & ~d.mask[i]!) !== 0)) notApplicable(`selector ${s.type} cannot match these fields`);
  }
  return want;
}

/** The match a rule's key names: a TCP/IPv4 destination 10.0.0.`host` port `port`. */
interface Match {
  host: number;
  port: number;
}

function keysOf(m: Match): Uint8Array {
  return ffTcpKeys([10, 0, 0, m.host], m.port);
}

/** A TCP/IPv4 frame to the device for 10.0.0.`host` port `port`, payload marked with `seed`. */
function frameFor(mac: readonly number[], m: Match, seed: number): Uint8Array {
  const f = testFrame(mac, 14 + 20 + 20 + 16, seed);
  f.set([0x08, 0x00], 12);
  f.set([0x45, 0, 0, 56, 0, seed & 0xff, 0x40, 0, 64, 6, 0, 0, 192, 168, 1, seed & 0xff, 10, 0, 0, m.host], 14);
  f.fill(0, 34, 54);
  f.set([0x30, 0x39, m.port >> 8, m.port & 0xff], 34);
  f[34 + 12] = 0x50;
  return f;
}

/** A random rule set: groups with distinct priorities, rules on them, and the frames injected. */
interface FfCase {
  groups: number[];
  rules: { group: number; priority: number; drop: boolean; queue: number; match: Match }[];
  frames: Match[];
}

const arbMatch = fc.record({ host: fc.integer({ min: 1, max: 3 }), port: fc.constantFrom(80, 443) });

function arbCase(groups: { min: number; max: number }): fc.Arbitrary<FfCase> {
  return fc.record({
    groups: fc.uniqueArray(fc.integer({ min: 0, max: 7 }), { minLength: groups.min, maxLength: groups.max }),
    rules: fc.array(
      fc.record({
        group: fc.nat(),
        priority: fc.integer({ min: 0, max: 7 }),
        drop: fc.boolean(),
        queue: fc.nat(),
        match: arbMatch,
      }),
      { minLength: 1, maxLength: 6 },
    ),
    frames: fc.array(fc.record({ host: fc.integer({ min: 1, max: 4 }), port: fc.constantFrom(80, 443, 22) }), {
      minLength: 1,
      maxLength: 5,
    }),
  });
}

const fmtCase = (c: FfCase) =>
  `groups ${c.groups.join("/")}; rules ${
    c.rules.map((r) =>
      `g${r.group % c.groups.length} p${r.priority} 10.0.0.${r.match.host}:${r.match.port}→${
        r.drop ? "drop" : `q${r.queue}`
      }`
    ).join(", ")
  }; frames ${c.frames.map((f) => `10.0.0.${f.host}:${f.port}`).join(", ")}`;

/** What happened to each frame: the queues it arrived on (none: dropped). */
interface Observed {
  frames: Uint8Array[];
  seen: Arrival[][];
  /** Every arrival, marker included. */
  all: Arrival[];
  objects: AdminObjects;
  link: FfLink;
}

/**
 * Brings the device up, creates the case's groups, one classifier and the rules (queues modulo the pairs set up),
 * gives buffers on every receive queue, injects the frames and then a non-IP marker no rule matches, and collects
 * until every frame the oracle says is received came, and the marker.
 */
async function play(ctx: DeviceClauseContext, c: FfCase, extra: number[] = []): Promise<Observed> {
  const l = await ffUp(ctx, extra);
  const objects = await installRules(ctx, l, c);
  return await observe(ctx, l, objects, c.frames.map((m, i) => frameFor(l.mac, m, i + 1)));
}

/**
 * Creates the case's groups, one classifier and the rules (queues modulo the pairs set up); returns the harness's
 * copy of them. `n/a` without DROP and DIRECT_RX_VQ among the actions.
 */
async function installRules(ctx: DeviceClauseContext, l: FfLink, c: FfCase): Promise<Objects> {
  if (!l.actions.includes(NetFfAction.DROP) || !l.actions.includes(NetFfAction.DIRECT_RX_VQ)) {
    notApplicable("the device does not support both DROP and DIRECT_RX_VQ actions");
  }
  const objects: Objects = new Map();
  for (const [i, p] of c.groups.entries()) await create(ctx, l, objects, NetFfObject.GROUP, i, encodeFfGroup(p));
  await create(ctx, l, objects, NetFfObject.CLASSIFIER, 0, encodeSelectors(classifierOf(l)));
  for (const [i, r] of c.rules.entries()) {
    const rule: FfRule = {
      groupId: r.group % c.groups.length,
      classifierId: 0,
      priority: Math.min(r.priority, l.lastRulePriority),
      action: r.drop ? NetFfAction.DROP : NetFfAction.DIRECT_RX_VQ,
      vqIndex: r.drop ? 0 : 2 * (r.queue % l.pairs),
      keys: keysOf(r.match),
    };
    await create(ctx, l, objects, NetFfObject.RULE, i, encodeFfRule(rule));
  }
  return objects;
}

/**
 * Gives buffers on every receive queue, injects `frames` and then a non-IP marker no rule matches, and collects until
 * the marker and every frame of `awaited` (default: those the rules in `objects` do not drop) came, or the deadline
 * passed. `opts.marker` replaces the marker; `opts.skip` is a receive queue given no buffers (being reset).
 */
async function observe(
  ctx: DeviceClauseContext,
  l: FfLink,
  objects: Objects,
  frames: Uint8Array[],
  awaited: Uint8Array[] = frames.filter((f) => flowFilterOutcome(objects, f)?.action !== "drop"),
  opts: { marker?: Uint8Array; skip?: number } = {},
): Promise<Observed> {
  // The buffers left from an earlier look stay the harness's: the device fills them first.
  const buffers = l.buffers;
  for (let p = 0; p < l.pairs; p++) {
    if (2 * p === opts.skip) continue;
    if (!buffers.has(2 * p)) buffers.set(2 * p, new Map());
    await giveBuffers(ctx, l, 2 * p, frames.length + 1, buffers.get(2 * p)!);
  }
  const marker = opts.marker ?? testFrame(l.mac, 80, 0xee);
  const wire = wireOf(ctx);
  for (const f of [...frames, marker]) await wire.inject(f);
  const got = await arrivals(
    ctx,
    l,
    buffers,
    (g) => g.some((a) => same(a.frame, marker)) && awaited.every((f) => g.some((a) => same(a.frame, f))),
  );
  if (!got.some((a) => same(a.frame, marker))) notApplicable("the non-IP marker after the frames never came");
  return { frames, seen: frames.map((f) => got.filter((a) => same(a.frame, f))), all: got, objects, link: l };
}

/** Runs the property over `arb`: each case played ({@link play}) and judged by `judge`. */
function checkCases(
  ctx: DeviceClauseContext,
  arb: fc.Arbitrary<FfCase>,
  judge: (o: Observed, c: FfCase) => void,
): Promise<void> {
  return checkProperty(ctx, arb, async (c) => judge(await play(ctx, c), c), fmtCase, { maxRuns: 20 });
}

/** Frames not where the oracle puts them: dropped ones received, directed ones elsewhere or missing. */
function misplaced(o: Observed, c: FfCase, which: (i: number) => boolean): string[] {
  const bad: string[] = [];
  o.frames.forEach((f, i) => {
    if (!which(i)) return;
    const want = flowFilterOutcome(o.objects, f);
    const at = o.seen[i]!.map((a) => rxName(a.queue));
    const name = `10.0.0.${c.frames[i]!.host}:${c.frames[i]!.port}`;
    if (want?.action === "drop" && at.length > 0) bad.push(`${name}: expected dropped, received on ${at.join(", ")}`);
    if (want?.action === "queue" && (at.length !== 1 || at[0] !== rxName(want.vq))) {
      bad.push(
        `${name}: expected on ${rxName(want.vq)}, ${at.length ? `received on ${at.join(", ")}` : "not received"}`,
      );
    }
  });
  return bad;
}

/** The index of the group whose rule decides frame `m` (the first in priority order with a matching rule). */
function deciding(c: FfCase, m: Match): { group: number; matchedGroups: number } | undefined {
  const groups = c.groups.map((p, i) => ({ p, i })).sort((a, b) => b.p - a.p);
  const matched = groups.filter((g) =>
    c.rules.some((r) => r.group % c.groups.length === g.i && r.match.host === m.host && r.match.port === m.port)
  );
  return matched.length ? { group: matched[0]!.i, matchedGroups: matched.length } : undefined;
}

export const ffCapabilities = defineDeviceClause({
  label: FF,
  statement: 1,
  level: "MUST",
  title: "flow filters come with all three of their capabilities",
  requirement: "A device that supports flow filters reports the resource, selector and action capabilities " +
    "together in CAP_ID_LIST_QUERY.",
  action: "Brings the administration virtqueue up and reads CAP_ID_LIST_QUERY; where any flow filter capability " +
    "is reported, checks all three are.",
  applies: APPLIES,
  async run(ctx) {
    const { caps } = await adminNetUp(ctx);
    const ff = FF_CAPS.filter((c) => caps.has(c));
    if (ff.length === 0) notApplicable("the device reports no flow filter capability");
    expectNone(
      "the resource (0x800), selector (0x801) and action (0x802) capabilities all reported",
      FF_CAPS
        .filter((c) => !caps.has(c)),
      (c) => `capability 0x${c.toString(16)} missing`,
    );
  },
});

export const ffActionTaken = defineDeviceClause({
  label: FF,
  statement: 16,
  level: "MUST",
  title: "a frame a rule matches gets that rule's action",
  requirement: "When a rule matches a received frame, the device takes the rule's action: it drops the frame, or " +
    "places it on the rule's receive queue.",
  action: "Creates one group, a classifier (EtherType, IPv4 protocol and destination, TCP destination port) and " +
    "random rules dropping or directing to random receive queues, injects random TCP/IPv4 frames and a non-IP " +
    "marker, and checks every frame a rule matches against the harness's own rule evaluation.",
  applies: APPLIES,
  async run(ctx) {
    await checkCases(ctx, arbCase({ min: 1, max: 1 }), (o, c) => {
      expectNone(
        "each matched frame dropped or on its rule's queue",
        misplaced(o, c, (i) => flowFilterOutcome(o.objects, o.frames[i]!) !== undefined),
        (s) => s,
      );
    });
  },
});

export const ffSingleAction = defineDeviceClause({
  label: FF,
  statement: 17,
  level: "MUST NOT",
  title: "no second action for a frame",
  requirement: "Once a rule's action is taken for a frame, no other action is: the frame is placed once, or " +
    "dropped.",
  action: "As 5.1.9.6.4#16, with overlapping rules in one group; checks no frame arrives more than once.",
  applies: APPLIES,
  async run(ctx) {
    await checkCases(ctx, arbCase({ min: 1, max: 2 }), (o) => {
      const twice = o.seen.map((s, i) => ({ s, i })).filter((x) => x.s.length > 1);
      expectNone(
        "every frame received at most once",
        twice,
        (x) => `frame ${x.i + 1} received on ${x.s.map((a) => rxName(a.queue)).join(", ")}`,
      );
    });
  },
});

export const ffGroupPriority = defineDeviceClause({
  label: FF,
  statement: 12,
  level: "MUST",
  title: "the group of highest priority with a matching rule decides",
  requirement: "With several groups, the device applies the rules of the group of highest priority first; a rule " +
    "of a lower group decides only if no higher group has one that matches.",
  action: "Creates two or three groups with distinct random priorities, in each a rule for the same frame with a " +
    "random action, injects that frame and others, and checks the frame gets the action of the highest group.",
  applies: APPLIES,
  async run(ctx) {
    // One rule per group for the same frame, with random actions: the group order alone decides.
    const arb = arbCase({ min: 2, max: 3 }).map((c) => ({
      ...c,
      rules: c.groups.map((_, i) => ({ ...c.rules[i % c.rules.length]!, group: i, match: { host: 1, port: 80 } })),
      frames: [{ host: 1, port: 80 }, ...c.frames],
    }));
    await checkCases(ctx, arb, (o, c) => {
      expectNone(
        "frames matched in several groups handled by the highest",
        misplaced(o, c, (i) => (deciding(c, c.frames[i]!)?.matchedGroups ?? 0) > 1),
        (s) => s,
      );
    });
  },
});

export const ffNextGroup = defineDeviceClause({
  label: FF,
  statement: 14,
  level: "MUST",
  title: "a frame no rule of a higher group matches goes to the next group",
  requirement: "When no rule of the highest group matches, the device tries the next group down, and so on until " +
    "a rule matches or every group was tried.",
  action: "As 5.1.9.6.4#12; checks the frames matched only by rules of a group below the highest.",
  applies: APPLIES,
  async run(ctx) {
    await checkCases(ctx, arbCase({ min: 2, max: 3 }), (o, c) => {
      const top = c.groups.indexOf(Math.max(...c.groups));
      expectNone(
        "frames matched below the highest group handled by their group",
        misplaced(o, c, (i) => {
          const d = deciding(c, c.frames[i]!);
          return d !== undefined && d.group !== top;
        }),
        (s) => s,
      );
    });
  },
});

export const ffRulePriority = defineDeviceClause({
  label: FF,
  statement: 15,
  level: "MUST",
  title: "within a group, the matching rule of highest priority decides",
  requirement: "Inside a group, the device tries rules from the highest priority to the lowest and takes the " +
    "action of the first that matches.",
  action: "Creates one group with several rules matching the same frames at distinct priorities and different " +
    "actions; checks each frame gets the action of the highest.",
  applies: APPLIES,
  async run(ctx) {
    const arb = arbCase({ min: 1, max: 1 }).map((c) => ({
      ...c,
      // Distinct priorities per match so the order is the device's to get right (equal ones may go either way).
      rules: c.rules.map((r, i) => ({ ...r, priority: (r.priority + i) % 8, match: { host: 1, port: 80 } }))
        .filter((r, i, all) => all.findIndex((x) => x.priority === r.priority) === i),
      frames: [{ host: 1, port: 80 }, ...c.frames],
    }));
    await checkCases(ctx, arb, (o, c) => {
      expectNone(
        "frames matched by several rules handled by the highest",
        misplaced(o, c, (i) => c.frames[i]!.host === 1 && c.frames[i]!.port === 80),
        (s) => s,
      );
    });
  },
});

/** A case of one group and one rule directing 10.0.0.1:80 to `queue` (a pair index). */
function directCase(queue: number): FfCase {
  return {
    groups: [0],
    rules: [{ group: 0, priority: 0, drop: false, queue, match: { host: 1, port: 80 } }],
    frames: [{ host: 1, port: 80 }],
  };
}

export const ffResetQueueDrops = defineDeviceClause({
  label: FF,
  statement: 10,
  level: "MUST",
  title: "a frame a rule directs to a receive queue being reset is dropped",
  requirement: "When a rule directs a packet to a receive queue that is being reset, the device drops it: not on " +
    "another queue, nor on that queue once enabled again.",
  action: "Negotiates RING_RESET, creates a rule directing a TCP/IPv4 flow to receiveq2 and one directing a marker " +
    "flow to receiveq1, resets receiveq2, injects a frame of the flow and a marker frame; once the marker came, enables receiveq2 again, injects a second frame " +
    "of the flow and checks the first was received nowhere.",
  applies: { ...APPLIES, offered: [...APPLIES.offered, F.RING_RESET, NET_F.MQ] },
  async run(ctx) {
    const l = await ffUp(ctx, [F.RING_RESET]);
    if (!has(l.negotiated, F.RING_RESET)) notApplicable("VIRTIO_F_RING_RESET was not negotiated");
    if (l.pairs < 2) notApplicable("only one queue pair: no other receive queue to direct to");
    // 10.0.0.1:80 to receiveq2; the marker, 10.0.0.3:443, to receiveq1 (a frame no rule took could go to receiveq2).
    const c = directCase(1);
    c.rules.push({ group: 0, priority: 0, drop: false, queue: 0, match: { host: 3, port: 443 } });
    const objects = await installRules(ctx, l, c);
    const size = ctx.driver.queue(2).size;
    await resetQueueAlone(ctx, 2);
    const first = frameFor(l.mac, { host: 1, port: 80 }, 1);
    const marker = frameFor(l.mac, { host: 3, port: 443 }, 9);
    const before = await observe(ctx, l, objects, [first], [], { marker, skip: 2 });
    await ctx.driver.setupQueue(2, size);
    l.buffers.delete(2);
    const second = frameFor(l.mac, { host: 1, port: 80 }, 2);
    const after = await observe(ctx, l, objects, [second], [second], { marker });
    expectNone(
      "the frame for receiveq2 while it was reset dropped",
      [...before.seen[0]!, ...after.all.filter((a) => same(a.frame, first))],
      (a) => `received on ${rxName(a.queue)}`,
    );
    if (!after.seen[0]!.some((a) => a.queue === 2)) notApplicable("the frame for the re-enabled receiveq2 never came");
  },
});

export const ffBeforeRss = defineDeviceClause({
  label: FF,
  statement: 11,
  level: "MUST",
  title: "a rule's action ends the steering: RSS does not move the frame",
  requirement: "Once a rule is applied to a packet, the device applies no further rule and no other steering (RSS " +
    "included).",
  action: "Negotiates RSS, points every RSS table entry and the unclassified queue at receiveq1, creates a rule " +
    "directing a TCP/IPv4 flow to receiveq2, injects frames of it and of other flows, and checks the flow's frames " +
    "arrive on receiveq2 and the others on receiveq1.",
  applies: { ...APPLIES, offered: [...APPLIES.offered, NET_F.RSS, NET_F.MQ] },
  async run(ctx) {
    const l = await rssAllToFirst(ctx);
    const c: FfCase = {
      ...directCase(1),
      frames: [{ host: 1, port: 80 }, { host: 2, port: 80 }, { host: 1, port: 22 }],
    };
    const objects = await installRules(ctx, l, c);
    const o = await observe(ctx, l, objects, c.frames.map((m, i) => frameFor(l.mac, m, i + 1)));
    const bad = [...misplaced(o, c, () => true), ...offRss(o)];
    expectNone("the rule's frames on receiveq2, the others where RSS puts them", bad, (s) => s);
  },
});

/**
 * Brings flow filters up with RSS negotiated and configured so that RSS sends every frame to receiveq1 (table and
 * unclassified queue); `n/a` without RSS or with one pair. `extra` features are asked for too.
 */
async function rssAllToFirst(ctx: DeviceClauseContext, extra: number[] = []): Promise<FfLink> {
  const l = await ffUp(ctx, [NET_F.RSS, ...extra]);
  if (!has(l.negotiated, NET_F.RSS)) notApplicable("VIRTIO_NET_F_RSS was not negotiated");
  if (l.pairs < 2) notApplicable("only one queue pair: no other receive queue to direct to");
  const keySize = await ctx.transport.readConfig(17, 1);
  const types = (await ctx.transport.readConfig(20, 4)) & (NetHashType.IPv4 | NetHashType.TCPv4);
  const cfg: RssConfig = {
    hashTypes: types,
    tableMask: 0,
    unclassified: 0,
    table: [0],
    maxTxVq: l.pairs,
    key: new Uint8Array(Math.max(1, keySize)).fill(0x6d),
  };
  const ack = await controlCommand(ctx, NetCtrl.MQ, NetMqCommand.RSS_CONFIG, encodeRssConfig(cfg), l.ctrl);
  expectThat(ack === NetCtrl.OK, "RSS_CONFIG (everything to receiveq1) acknowledged", () => `ack ${ack}`);
  return l;
}

/** Frames no rule matched that RSS (everything to receiveq1) did not place on receiveq1. */
function offRss(o: Observed): string[] {
  const bad: string[] = [];
  o.seen.forEach((at, i) => {
    if (flowFilterOutcome(o.objects, o.frames[i]!) === undefined && at.some((a) => a.queue !== 0)) {
      bad.push(
        `frame ${i + 1} (no rule): received on ${at.map((a) => rxName(a.queue)).join(", ")}, RSS says receiveq1`,
      );
    }
  });
  return bad;
}

export const ffTopGroupOnly = defineDeviceClause({
  label: FF,
  statement: 13,
  level: "MUST",
  title: "once a rule of a group applies, lower groups are not consulted",
  requirement: "When a rule of the group of highest priority is applied to a packet, the device ignores every other " +
    "group: a lower group's rule for the same packet takes no action.",
  action: "Creates a high group with a rule directing a flow to a receive queue and lower groups with rules dropping " +
    "it or directing it elsewhere; injects frames of the flow and checks each arrives once, on the high rule's queue.",
  applies: APPLIES,
  async run(ctx) {
    const arb = fc.record({
      top: fc.nat(),
      low: fc.array(fc.record({ drop: fc.boolean(), queue: fc.nat() }), {
        minLength: 1,
        maxLength: 2,
      }),
    });
    await checkProperty(
      ctx,
      arb,
      async (p) => {
        const l = await ffUp(ctx);
        const c: FfCase = {
          groups: [7, ...p.low.map((_, i) => 6 - i)],
          rules: [
            { group: 0, priority: 0, drop: false, queue: p.top, match: { host: 1, port: 80 } },
            ...p.low.map((r, i) => ({
              group: i + 1,
              priority: 0,
              drop: r.drop,
              queue: r.queue,
              match: { host: 1, port: 80 },
            })),
          ],
          frames: [{ host: 1, port: 80 }, { host: 1, port: 80 }],
        };
        const objects = await installRules(ctx, l, c);
        const o = await observe(ctx, l, objects, c.frames.map((m, i) => frameFor(l.mac, m, i + 1)));
        expectNone("the high group's action alone", misplaced(o, c, () => true), (s) => s);
      },
      (p) => `high rule to q${p.top}, lower rules ${p.low.map((r) => r.drop ? "drop" : `q${r.queue}`).join(", ")}`,
      {
        maxRuns: 10,
      },
    );
  },
});

export const ffProcessingOrder = defineDeviceClause({
  label: FF,
  statement: 19,
  level: "MUST",
  title: "receive filters, then flow filter rules, then RSS",
  requirement: "The device handles a received packet in this order: the RX mode, MAC and VLAN filtering of the " +
    "control queue, then the flow filter rules, then (no rule applied) RSS or automatic steering.",
  action: "With promiscuous mode off and RSS sending everything to receiveq1, creates a rule directing a flow to " +
    "receiveq2; injects a frame of the flow to another address (dropped first), one to the device (the rule's " +
    "queue) and one of another flow (RSS's queue).",
  applies: { ...APPLIES, offered: [...APPLIES.offered, NET_F.RSS, NET_F.MQ, NET_F.CTRL_RX] },
  async run(ctx) {
    const l = await rssAllToFirst(ctx, [NET_F.CTRL_RX]);
    if (!has(l.negotiated, NET_F.CTRL_RX)) notApplicable("VIRTIO_NET_F_CTRL_RX was not negotiated");
    const ack = await controlCommand(ctx, NetCtrl.RX, NetCtrl.RX_PROMISC, new Uint8Array([0]), l.ctrl);
    expectThat(ack === NetCtrl.OK, "RX_PROMISC 0 acknowledged", () => `ack ${ack}`);
    const c: FfCase = { ...directCase(1), frames: [{ host: 1, port: 80 }, { host: 2, port: 80 }] };
    const objects = await installRules(ctx, l, c);
    const stray = frameFor([0x02, 0x11, 0x22, 0x33, 0x44, 0x55], { host: 1, port: 80 }, 7);
    const frames = [stray, ...c.frames.map((m, i) => frameFor(l.mac, m, i + 1))];
    const o = await observe(ctx, l, objects, frames, frames.slice(1));
    const bad = [
      ...o.seen[0]!.map((a) => `the frame to another address received on ${rxName(a.queue)}`),
      ...misplaced({ ...o, frames: o.frames.slice(1), seen: o.seen.slice(1) }, c, () => true),
      ...offRss({ ...o, frames: o.frames.slice(1), seen: o.seen.slice(1) }),
    ];
    expectNone("each frame where the order puts it", bad, (s) => s);
  },
});

export const ffDropEndsProcessing = defineDeviceClause({
  label: FF,
  statement: 20,
  level: "MUST",
  title: "a frame dropped by a rule goes no further",
  requirement: "A packet dropped at any stage of receive processing is not processed further: a rule's drop is " +
    "final, RSS does not place it.",
  action: "With RSS sending everything to receiveq1, creates a rule dropping a flow; injects frames of it and of " +
    "another flow and checks the dropped flow's frames arrive nowhere.",
  applies: { ...APPLIES, offered: [...APPLIES.offered, NET_F.RSS, NET_F.MQ] },
  async run(ctx) {
    const l = await rssAllToFirst(ctx);
    const c: FfCase = {
      groups: [0],
      rules: [{ group: 0, priority: 0, drop: true, queue: 0, match: { host: 1, port: 80 } }],
      frames: [{ host: 1, port: 80 }, { host: 2, port: 80 }],
    };
    const objects = await installRules(ctx, l, c);
    const o = await observe(ctx, l, objects, c.frames.map((m, i) => frameFor(l.mac, m, i + 1)));
    expectNone("the dropped flow received nowhere", o.seen[0]!, (a) => `received on ${rxName(a.queue)}`);
  },
});

export const ffAfterMacFilter = defineDeviceClause({
  label: FF,
  statement: 21,
  level: "MUST",
  title: "a frame the MAC filters drop gets no flow filter rule",
  requirement: "A packet the receive filters (RX mode, MAC table, VLAN table) drop is not handed to the flow filter " +
    "rules: no rule can bring it back.",
  action: "Negotiates CTRL_RX, turns promiscuous mode off, creates a rule directing a TCP/IPv4 flow to a receive " +
    "queue, injects a frame of that flow to another unicast address, then one to the device, and checks only the " +
    "second arrives.",
  applies: { ...APPLIES, offered: [...APPLIES.offered, NET_F.CTRL_RX] },
  async run(ctx) {
    const l = await ffUp(ctx, [NET_F.CTRL_RX]);
    if (!has(l.negotiated, NET_F.CTRL_RX)) notApplicable("VIRTIO_NET_F_CTRL_RX was not negotiated");
    const ack = await controlCommand(ctx, NetCtrl.RX, NetCtrl.RX_PROMISC, new Uint8Array([0]), l.ctrl);
    expectThat(ack === NetCtrl.OK, "RX_PROMISC 0 acknowledged", () => `ack ${ack}`);
    const objects = await installRules(ctx, l, directCase(l.pairs - 1));
    const other = [0x02, 0x11, 0x22, 0x33, 0x44, 0x55];
    const stray = frameFor(other, { host: 1, port: 80 }, 1);
    const mine = frameFor(l.mac, { host: 1, port: 80 }, 2);
    const o = await observe(ctx, l, objects, [stray, mine]);
    expectNone("the frame to another address received nowhere", o.seen[0]!, (a) => `received on ${rxName(a.queue)}`);
  },
});

/** Sends an object command; returns the reply's status and result (the clause fails if it is not used). */
export async function objCommand(
  ctx: DeviceClauseContext,
  l: FfLink,
  opcode: number,
  type: number,
  id: number,
  body?: Uint8Array,
) {
  const r = await mustAnswer(ctx, l.admin, selfCommand(opcode, encodeObjectData(type, id, body)), { resultBytes: 512 });
  return r.result;
}

const OBJECT_NAMES: Record<number, string> = { 0x200: "group", 0x201: "classifier", 0x202: "rule" };

export const ffObjectCommands = defineDeviceClause({
  label: FF,
  statement: 2,
  level: "MUST",
  title: "groups, classifiers and rules can be created, queried, modified and destroyed",
  requirement: "A device with flow filters carries out RESOURCE_OBJ_CREATE, _MODIFY, _QUERY and _DESTROY for " +
    "flow filter groups, classifiers and rules.",
  action: "Creates a group, a classifier and a rule; queries each (the data as created); modifies the group's " +
    "priority and the rule's action and queries them again; destroys the rule, classifier and group; queries once " +
    "more (refused).",
  applies: APPLIES,
  async run(ctx) {
    const l = await ffUp(ctx);
    const rule = (action: number): FfRule => ({
      groupId: 0,
      classifierId: 0,
      priority: 0,
      action,
      vqIndex: 0,
      keys: keysOf({ host: 1, port: 80 }),
    });
    const objects: [number, Uint8Array, Uint8Array][] = [
      [NetFfObject.GROUP, encodeFfGroup(3), encodeFfGroup(5)],
      [NetFfObject.CLASSIFIER, encodeSelectors(classifierOf(l)), encodeSelectors(classifierOf(l))],
      [NetFfObject.RULE, encodeFfRule(rule(NetFfAction.DIRECT_RX_VQ)), encodeFfRule(rule(NetFfAction.DROP))],
    ];
    const bad: string[] = [];
    const expectOk = (what: string, r: { status: number }) => {
      if (r.status !== AdminStatus.OK) bad.push(`${what}: status ${r.status}`);
    };
    const expectData = (what: string, got: Uint8Array, want: Uint8Array) => {
      if (!same(got.subarray(0, want.length), want)) bad.push(`${what}: query returned other data`);
    };
    for (const [type, data] of objects) {
      const name = OBJECT_NAMES[type]!;
      expectOk(`create ${name}`, await objCommand(ctx, l, AdminOpcode.RESOURCE_OBJ_CREATE, type, 0, data));
      const q = await objCommand(ctx, l, AdminOpcode.RESOURCE_OBJ_QUERY, type, 0);
      expectOk(`query ${name}`, q);
      if (q.status === AdminStatus.OK) expectData(`${name} as created`, q.result, data);
    }
    for (const [type, , changed] of objects) {
      if (type === NetFfObject.CLASSIFIER) continue;
      const name = OBJECT_NAMES[type]!;
      expectOk(`modify ${name}`, await objCommand(ctx, l, AdminOpcode.RESOURCE_OBJ_MODIFY, type, 0, changed));
      const q = await objCommand(ctx, l, AdminOpcode.RESOURCE_OBJ_QUERY, type, 0);
      if (q.status === AdminStatus.OK) expectData(`${name} as modified`, q.result, changed);
    }
    for (const [type] of [...objects].reverse()) {
      const name = OBJECT_NAMES[type]!;
      expectOk(`destroy ${name}`, await objCommand(ctx, l, AdminOpcode.RESOURCE_OBJ_DESTROY, type, 0));
      const q = await objCommand(ctx, l, AdminOpcode.RESOURCE_OBJ_QUERY, type, 0);
      if (q.status === AdminStatus.OK) bad.push(`query of the destroyed ${name} answered OK`);
    }
    expectNone("every object command carried out", bad, (x) => x);
  },
});

/** Creates one group (priority 0), the classifier and a rule directing 10.0.0.1:80 to receiveq1. */
async function oneRule(ctx: DeviceClauseContext, l: FfLink): Promise<Objects> {
  return await installRules(ctx, l, directCase(0));
}

const refusedWith = (r: { status: number }, status: number, what: string) =>
  expectThat(r.status === status, `${what}: status ${status}`, () => `status ${r.status}`);

export const ffCommandsWithoutCaps = defineDeviceClause({
  label: FF,
  statement: 3,
  level: "SHOULD",
  title: "object commands before the capabilities are set are INVALID_OPCODE",
  requirement: "While any of the three flow filter capabilities is not enabled by the driver, the object commands " +
    "for flow filter groups, classifiers and rules are refused as an invalid opcode.",
  action: "Brings the administration virtqueue up without setting any driver capability and sends a group create.",
  applies: APPLIES,
  async run(ctx) {
    const { l, caps } = await adminNetUp(ctx);
    if (!FF_CAPS.every((c) => caps.has(c))) notApplicable("the device does not report the flow filter capabilities");
    const r = await mustAnswer(
      ctx,
      l.admin,
      selfCommand(AdminOpcode.RESOURCE_OBJ_CREATE, encodeObjectData(NetFfObject.GROUP, 0, encodeFfGroup(1))),
    );
    expectThat(
      r.result.status === AdminStatus.EINVAL && r.result.qualifier === AdminQualifier.INVALID_OPCODE,
      "group create without capabilities: EINVAL, INVALID_OPCODE",
      () => `status ${r.result.status}, qualifier ${r.result.qualifier}`,
    );
  },
});

export const ffGroupPriorityTaken = defineDeviceClause({
  label: FF,
  statement: 4,
  level: "SHOULD",
  title: "a second group with the same priority is EINVAL",
  requirement: "Creating a flow filter group whose priority another group has is refused with EINVAL.",
  action: "Creates group 0 with priority 2, then group 1 with priority 2.",
  applies: APPLIES,
  async run(ctx) {
    const l = await ffUp(ctx);
    await create(ctx, l, new Map(), NetFfObject.GROUP, 0, encodeFfGroup(2));
    const r = await objCommand(ctx, l, AdminOpcode.RESOURCE_OBJ_CREATE, NetFfObject.GROUP, 1, encodeFfGroup(2));
    refusedWith(r, AdminStatus.EINVAL, "a second group with priority 2");
  },
});

export const ffGroupsNoSpace = defineDeviceClause({
  label: FF,
  statement: 5,
  level: "SHOULD",
  title: "groups past the lower of groups_limit and rules_per_group_limit are ENOSPC",
  requirement: "Creating a flow filter group when there are already as many as the lower of the driver's " +
    "groups_limit and rules_per_group_limit is refused with ENOSPC.",
  action: "Sets the resource capability with rules_per_group_limit 1 (groups_limit as reported, at least 2), creates " +
    "group 0, then group 1.",
  applies: APPLIES,
  async run(ctx) {
    const l = await ffUp(ctx);
    const dev = decodeFfLimits(
      await adminOk(ctx, l, AdminOpcode.DEVICE_CAP_GET, capData(NetFfCap.RESOURCE), "DEVICE_CAP_GET"),
    );
    if (dev.groups < 2 || dev.rulesPerGroup < 1) notApplicable("the device allows fewer than two groups");
    const narrowed = encodeFfLimits({ ...dev, rulesPerGroup: 1 });
    await adminOk(ctx, l, AdminOpcode.DRIVER_CAP_SET, capData(NetFfCap.RESOURCE, narrowed), "DRIVER_CAP_SET");
    await create(ctx, l, new Map(), NetFfObject.GROUP, 0, encodeFfGroup(1));
    const r = await objCommand(ctx, l, AdminOpcode.RESOURCE_OBJ_CREATE, NetFfObject.GROUP, 1, encodeFfGroup(2));
    refusedWith(r, AdminStatus.ENOSPC, "a second group with rules_per_group_limit 1");
  },
});

/** The SHOULD clause: destroying the `name` (object `type`) a rule depends on is refused with EBUSY. */
function busyClause(statement: number, type: number, name: string, depends: string) {
  return defineDeviceClause({
    label: FF,
    statement,
    level: "SHOULD",
    title: `destroying a ${name} a rule depends on is EBUSY`,
    requirement: `Destroying a flow filter ${name} that a rule ${depends} is refused with EBUSY.`,
    action: `Creates a group, a classifier and a rule using both, then destroys the ${name}.`,
    applies: APPLIES,
    async run(ctx) {
      const l = await ffUp(ctx);
      await oneRule(ctx, l);
      const r = await objCommand(ctx, l, AdminOpcode.RESOURCE_OBJ_DESTROY, type, 0);
      refusedWith(r, AdminStatus.EBUSY, `destroy of the ${name} a rule ${depends}`);
    },
  });
}

export const ffGroupBusy = busyClause(7, NetFfObject.GROUP, "group", "belongs to");
export const ffClassifierBusy = busyClause(8, NetFfObject.CLASSIFIER, "classifier", "uses");

export const ffBadRuleRefused = defineDeviceClause({
  label: FF,
  statement: 9,
  level: "SHOULD",
  title: "a rule with an invalid queue, priority, key length or action is refused",
  requirement: "Creating a rule fails when its queue is not a receive queue (for DIRECT_RX_VQ), its priority is " +
    "above last_rule_priority, its keys do not have the classifier's length, or its action is not supported.",
  action: "Creates a group and the classifier, then tries one rule with each fault.",
  applies: APPLIES,
  async run(ctx) {
    const l = await ffUp(ctx);
    const objects: Objects = new Map();
    await create(ctx, l, objects, NetFfObject.GROUP, 0, encodeFfGroup(0));
    await create(ctx, l, objects, NetFfObject.CLASSIFIER, 0, encodeSelectors(classifierOf(l)));
    const good: FfRule = {
      groupId: 0,
      classifierId: 0,
      priority: 0,
      action: NetFfAction.DIRECT_RX_VQ,
      vqIndex: 0,
      keys: keysOf({ host: 1, port: 80 }),
    };
    const faults: [string, FfRule][] = [
      ["a transmit queue (1) for DIRECT_RX_VQ", { ...good, vqIndex: 1 }],
      [`priority ${l.lastRulePriority + 1}`, { ...good, priority: l.lastRulePriority + 1 }],
      ["keys one byte short", { ...good, keys: good.keys.subarray(1) }],
    ];
    const unsupported = [1, 2, 3, 4, 5].find((a) => !l.actions.includes(a));
    if (unsupported !== undefined) faults.push([`action ${unsupported}`, { ...good, action: unsupported }]);
    const accepted: string[] = [];
    for (const [what, rule] of faults) {
      const r = await objCommand(ctx, l, AdminOpcode.RESOURCE_OBJ_CREATE, NetFfObject.RULE, 0, encodeFfRule(rule));
      if (r.status === AdminStatus.OK) {
        accepted.push(what);
        await objCommand(ctx, l, AdminOpcode.RESOURCE_OBJ_DESTROY, NetFfObject.RULE, 0);
      }
    }
    expectNone("every faulty rule refused", accepted, (w) => `a rule with ${w} created`);
  },
});

export const ffPartialMaskClassifier = defineDeviceClause({
  label: FF,
  statement: 22,
  level: "MUST",
  title: "classifiers flagged PARTIAL_MASK are created where partial masks are supported",
  requirement: "Where the selector capability reports partial masking for the selectors used, the device creates " +
    "a classifier whose selectors carry VIRTIO_NET_FF_MASK_F_PARTIAL_MASK, even when every mask bit of a field is set.",
  action: "Creates the clauses' classifier (EtherType, IPv4 protocol and destination, TCP destination port) with " +
    "PARTIAL_MASK on every selector, once with whole-field masks and once with a 24-bit destination address mask.",
  applies: APPLIES,
  async run(ctx) {
    const l = await ffUp(ctx);
    const selectors = classifierOf(l);
    const lacking = selectors.filter((s) => !(l.selectors.get(s.type)!.flags & FF_PARTIAL_MASK));
    if (lacking.length > 0) {
      notApplicable(`no partial masking for selector types ${lacking.map((s) => s.type).join(", ")}`);
    }
    const flagged = selectors.map((s) => ({ ...s, flags: FF_PARTIAL_MASK }));
    const narrow = flagged.map((s) => {
      if (s.type !== NetFfSelector.IPV4) return s;
      const mask = s.mask.slice();
      mask[19] = 0;
      return { ...s, mask };
    });
    const bad: string[] = [];
    for (const [id, list, what] of [[0, flagged, "whole-field masks"], [1, narrow, "a 24-bit address mask"]] as const) {
      const r = await objCommand(
        ctx,
        l,
        AdminOpcode.RESOURCE_OBJ_CREATE,
        NetFfObject.CLASSIFIER,
        id,
        encodeSelectors(list),
      );
      if (r.status !== AdminStatus.OK) bad.push(`PARTIAL_MASK classifier with ${what}: status ${r.status}`);
    }
    expectNone("both classifiers created", bad, (x) => x);
  },
});

/** The flow filter device clauses. */
export const NET_FLOW_FILTER_DEVICE_CLAUSES = [
  ffCapabilities,
  ffActionTaken,
  ffSingleAction,
  ffGroupPriority,
  ffNextGroup,
  ffRulePriority,
  ffResetQueueDrops,
  ffBeforeRss,
  ffAfterMacFilter,
  ffObjectCommands,
  ffCommandsWithoutCaps,
  ffGroupPriorityTaken,
  ffGroupsNoSpace,
  ffGroupBusy,
  ffClassifierBusy,
  ffBadRuleRefused,
  ffTopGroupOnly,
  ffProcessingOrder,
  ffDropEndsProcessing,
  ffPartialMaskClassifier,
];
