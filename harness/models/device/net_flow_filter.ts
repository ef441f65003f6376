/**
 * Flow filters of the network device (spec 5.1.6.9, 5.1.9.6): the capabilities (`virtio_net_ff_cap_data`, the
 * selector and action lists), the resource objects (groups, classifiers, rules) as the administration commands carry
 * them, the bytes a classifier's selectors take from a frame, and which action the rules in force take for a frame
 * (groups from the highest priority down, rules within a group from the highest priority down, the first match
 * wins). The reference device steers with it and the clauses use it as the oracle.
 *
 * @module
 */
import { le } from "../../memory.ts";
import { AdminQualifier, type AdminResult, AdminStatus, padTo } from "./admin_command.ts";
import type { AdminCapability, AdminFunction, AdminObjects, AdminResourceKind } from "./admin_queue.ts";

/** Capability ids of flow filters. */
export const NetFfCap = { RESOURCE: 0x0800, SELECTOR: 0x0801, ACTION: 0x0802 } as const;
/** Resource object types of flow filters. */
export const NetFfObject = { GROUP: 0x0200, CLASSIFIER: 0x0201, RULE: 0x0202 } as const;
/** `VIRTIO_NET_FF_MASK_TYPE_*` selector types. */
export const NetFfSelector = { ETH: 1, IPV4: 2, IPV6: 3, TCP: 4, UDP: 5, ESP: 6 } as const;
/** Bytes of header each selector type covers. */
export const FF_SELECTOR_LENGTH: Readonly<Record<number, number>> = { 1: 14, 2: 20, 3: 40, 4: 20, 5: 8, 6: 8 };
/** `VIRTIO_NET_FF_ACTION_*` values. */
export const NetFfAction = { DROP: 1, DIRECT_RX_VQ: 2, IPSEC: 3, IPSEC_RECIRCULATE: 4 } as const;
/** `VIRTIO_NET_FF_MASK_F_PARTIAL_MASK`. */
export const FF_PARTIAL_MASK = 1;

/** `struct virtio_net_ff_cap_data`. */
export interface FfLimits {
  groups: number;
  classifiers: number;
  rules: number;
  rulesPerGroup: number;
  lastRulePriority: number;
  selectorsPerClassifier: number;
}

/** One selector: its type, flags and mask (its length is the mask's). */
export interface FfSelector {
  type: number;
  flags: number;
  mask: Uint8Array;
}

/** A rule as created: its group and classifier ids, priority, action, queue and keys. */
export interface FfRule {
  groupId: number;
  classifierId: number;
  priority: number;
  action: number;
  vqIndex: number;
  keys: Uint8Array;
}

/** Encodes `struct virtio_net_ff_cap_data` (20 bytes). */
export function encodeFfLimits(l: FfLimits): Uint8Array {
  const out = new Uint8Array(20);
  le.setU32(out, 0, l.groups);
  le.setU32(out, 4, l.classifiers);
  le.setU32(out, 8, l.rules);
  le.setU32(out, 12, l.rulesPerGroup);
  out[16] = l.lastRulePriority;
  out[17] = l.selectorsPerClassifier;
  return out;
}

/** Decodes `struct virtio_net_ff_cap_data` (missing bytes read as zero). */
export function decodeFfLimits(b: Uint8Array): FfLimits {
  const x = new Uint8Array(20);
  x.set(b.subarray(0, 20));
  return {
    groups: le.u32(x, 0),
    classifiers: le.u32(x, 4),
    rules: le.u32(x, 8),
    rulesPerGroup: le.u32(x, 12),
    lastRulePriority: x[16]!,
    selectorsPerClassifier: x[17]!,
  };
}

/** Encodes a list of selectors with its count header (the selector capability and the classifier object). */
export function encodeSelectors(list: readonly FfSelector[]): Uint8Array {
  const size = 8 + list.reduce((s, x) => s + 8 + x.mask.length, 0);
  const out = new Uint8Array(size);
  out[0] = list.length;
  let at = 8;
  for (const s of list) {
    out[at] = s.type;
    out[at + 1] = s.flags;
    out[at + 4] = s.mask.length;
    out.set(s.mask, at + 8);
    at += 8 + s.mask.length;
  }
  return out;
}

/** Decodes a selector list; undefined when it runs past the bytes given. */
export function decodeSelectors(b: Uint8Array): FfSelector[] | undefined {
  const count = b[0] ?? 0;
  const out: FfSelector[] = [];
  let at = 8;
  for (let i = 0; i < count; i++) {
    if (at + 8 > b.length) return undefined;
    const length = b[at + 4]!;
    if (at + 8 + length > b.length) return undefined;
    out.push({ type: b[at]!, flags: b[at + 1]!, mask: b.slice(at + 8, at + 8 + length) });
    at += 8 + length;
  }
  return out;
}

/** Encodes `struct virtio_net_ff_actions`. */
export function encodeActions(actions: readonly number[]): Uint8Array {
  const out = new Uint8Array(8 + actions.length);
  out[0] = actions.length;
  out.set(actions, 8);
  return out;
}

/** Decodes `struct virtio_net_ff_actions`. */
export function decodeActions(b: Uint8Array): number[] {
  return [...b.subarray(8, 8 + (b[0] ?? 0))];
}

/** Encodes `struct virtio_net_resource_obj_ff_rule`. */
export function encodeFfRule(r: FfRule): Uint8Array {
  const out = new Uint8Array(16 + r.keys.length);
  le.setU32(out, 0, r.groupId);
  le.setU32(out, 4, r.classifierId);
  out[8] = r.priority;
  out[9] = r.keys.length;
  out[10] = r.action;
  le.setU16(out, 12, r.vqIndex);
  out.set(r.keys, 16);
  return out;
}

/** Decodes a rule; the keys are `key_length` bytes (fewer when the data ends first). */
export function decodeFfRule(b: Uint8Array): FfRule {
  const x = new Uint8Array(Math.max(16, b.length));
  x.set(b);
  return {
    groupId: le.u32(x, 0),
    classifierId: le.u32(x, 4),
    priority: x[8]!,
    action: x[10]!,
    vqIndex: le.u16(x, 12),
    keys: x.slice(16, 16 + x[9]!),
  };
}

/** Encodes a group object (`group_priority`). */
export function encodeFfGroup(priority: number): Uint8Array {
  const out = new Uint8Array(2);
  le.setU16(out, 0, priority);
  return out;
}

/**
 * `virtio_admin_cmd_resource_obj_create_data` (and the modify, query and destroy data): the object's type and id,
 * flags 0, then `body`.
 */
export function encodeObjectData(type: number, id: number, body: Uint8Array = new Uint8Array(0)): Uint8Array {
  const out = new Uint8Array(16 + body.length);
  le.setU16(out, 0, type);
  le.setU32(out, 4, id);
  out.set(body, 16);
  return out;
}

/**
 * A classifier of three selectors for TCP over IPv4: the Ethernet EtherType, the IPv4 protocol and destination
 * address, the TCP destination port (whole fields; EtherType and protocol set, as 5.1.6.9 asks with more selectors).
 */
export function ffTcpClassifier(): FfSelector[] {
  const eth = new Uint8Array(14);
  eth.set([0xff, 0xff], 12);
  const ip = new Uint8Array(20);
  ip[9] = 0xff;
  ip.set([0xff, 0xff, 0xff, 0xff], 16);
  const tcp = new Uint8Array(20);
  tcp.set([0xff, 0xff], 2);
  return [
    { type: NetFfSelector.ETH, flags: 0, mask: eth },
    { type: NetFfSelector.IPV4, flags: 0, mask: ip },
    { type: NetFfSelector.TCP, flags: 0, mask: tcp },
  ];
}

/** The keys of {@link ffTcpClassifier} for TCP to IPv4 address `dst` port `port` (EtherType 0x0800, protocol 6). */
export function ffTcpKeys(dst: readonly number[], port: number): Uint8Array {
  const k = new Uint8Array(14 + 20 + 20);
  k.set([0x08, 0x00], 12);
  k[14 + 9] = 6;
  k.set(dst.slice(0, 4), 14 + 16);
  k.set([port >> 8, port & 0xff], 34 + 2);
  return k;
}

/**
 * The header bytes each selector takes from `frame`, one after another (Ethernet at 0, the IP header after it, the
 * transport header after the IPv4 header's IHL or the 40-byte IPv6 header); undefined when the frame is too short
 * for them.
 */
export function selectedBytes(frame: Uint8Array, selectors: readonly FfSelector[]): Uint8Array | undefined {
  const parts: Uint8Array[] = [];
  let at = 0;
  let next = 0;
  for (const s of selectors) {
    const len = s.mask.length;
    if (s.type === NetFfSelector.ETH) at = 0;
    else if (s.type === NetFfSelector.IPV4 || s.type === NetFfSelector.IPV6) at = 14;
    else at = next;
    if (at + len > frame.length) return undefined;
    parts.push(frame.subarray(at, at + len));
    if (s.type === NetFfSelector.ETH) next = 14;
    else if (s.type === NetFfSelector.IPV4) next = 14 + 4 * (frame[14]! & 0xf);
    else if (s.type === NetFfSelector.IPV6) next = 14 + 40;
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** Whether `frame` matches `keys` under the classifier's masks. */
export function ruleMatches(frame: Uint8Array, selectors: readonly FfSelector[], keys: Uint8Array): boolean {
  const got = selectedBytes(frame, selectors);
  if (!got || got.length !== keys.length) return false;
  let off = 0;
  for (const s of selectors) {
    for (let i = 0; i < s.mask.length; i++) {
      if ((got[off + i]! & s.mask[i]!) !== (keys[off + i]! & s.mask[i]!)) return false;
    }
    off += s.mask.length;
  }
  return true;
}

/** What the flow filters do with a frame: drop it, send it to a receive queue, or nothing (no rule matched). */
export type FfOutcome = { action: "drop" } | { action: "queue"; vq: number } | undefined;

/**
 * The action the rules in `objects` take for `frame`: groups from the highest `group_priority` down, within a group
 * rules from the highest `rule_priority` down (equal priorities by id), the first matching rule's action.
 */
export function flowFilterOutcome(objects: AdminObjects, frame: Uint8Array): FfOutcome {
  const groups = [...(objects.get(NetFfObject.GROUP) ?? new Map())]
    .map(([id, b]) => ({ id, priority: le.u16(padTo(b, 2), 0) }))
    .sort((a, b) => b.priority - a.priority);
  const classifiers = objects.get(NetFfObject.CLASSIFIER) ?? new Map();
  const rules = [...(objects.get(NetFfObject.RULE) ?? new Map())].map(([id, b]) => ({ id, ...decodeFfRule(b) }));
  for (const g of groups) {
    const mine = rules.filter((r) => r.groupId === g.id).sort((a, b) => b.priority - a.priority || a.id - b.id);
    for (const r of mine) {
      const selectors = decodeSelectors(classifiers.get(r.classifierId) ?? new Uint8Array(0)) ?? [];
      if (!ruleMatches(frame, selectors, r.keys)) continue;
      if (r.action === NetFfAction.DROP) return { action: "drop" };
      if (r.action === NetFfAction.DIRECT_RX_VQ) return { action: "queue", vq: r.vqIndex };
      return undefined;
    }
  }
  return undefined;
}

const einval = (qualifier: number = AdminQualifier.INVALID_FIELD): AdminResult => ({
  status: AdminStatus.EINVAL,
  qualifier,
  result: new Uint8Array(0),
});
const enospc = (): AdminResult => ({
  status: AdminStatus.ENOSPC,
  qualifier: AdminQualifier.NORESOURCE,
  result: new Uint8Array(0),
});

/** What a device supports: its limits, selectors (with full masks) and actions. */
export interface FfSupport {
  limits: FfLimits;
  selectors: FfSelector[];
  actions: number[];
}

/** The flow filter support of the reference net device: Ethernet, IPv4, IPv6, TCP and UDP, drop and direct. */
export function referenceFfSupport(): FfSupport {
  const full = (type: number) => ({ type, flags: FF_PARTIAL_MASK, mask: new Uint8Array(FF_SELECTOR_LENGTH[type]!) });
  const selectors = [NetFfSelector.ETH, NetFfSelector.IPV4, NetFfSelector.IPV6, NetFfSelector.TCP, NetFfSelector.UDP]
    .map(full);
  // The fields the device can match: every byte of these headers (partial masks allowed).
  for (const s of selectors) s.mask.fill(0xff);
  return {
    limits: { groups: 4, classifiers: 4, rules: 16, rulesPerGroup: 8, lastRulePriority: 15, selectorsPerClassifier: 3 },
    selectors,
    actions: [NetFfAction.DROP, NetFfAction.DIRECT_RX_VQ],
  };
}

/**
 * The administration side of flow filters for a device with `support` and `rxQueues` receive queues: the three
 * capabilities and the group, classifier and rule objects with the checks 5.1.9.6.4 asks for.
 */
export function flowFilterAdmin(support: FfSupport, rxQueues: () => number): AdminFunction {
  const lim = (caps: ReadonlyMap<number, Uint8Array>) => {
    const b = caps.get(NetFfCap.RESOURCE);
    return b ? decodeFfLimits(b) : undefined;
  };
  const usable = (caps: ReadonlyMap<number, Uint8Array>) =>
    caps.has(NetFfCap.RESOURCE) && caps.has(NetFfCap.SELECTOR) && caps.has(NetFfCap.ACTION);
  const capabilities: AdminCapability[] = [
    {
      id: NetFfCap.RESOURCE,
      device: encodeFfLimits(support.limits),
      accepts(b) {
        const l = decodeFfLimits(b);
        const d = support.limits;
        return l.groups <= d.groups && l.classifiers <= d.classifiers && l.rules <= d.rules &&
          l.rulesPerGroup <= d.rulesPerGroup && l.lastRulePriority <= d.lastRulePriority &&
          l.selectorsPerClassifier <= d.selectorsPerClassifier;
      },
    },
    {
      id: NetFfCap.SELECTOR,
      device: encodeSelectors(support.selectors),
      accepts(b) {
        const list = decodeSelectors(b);
        if (!list) return false;
        return list.every((s) => {
          const d = support.selectors.find((x) => x.type === s.type);
          return d !== undefined && s.mask.length <= d.mask.length && (s.flags & ~d.flags) === 0 &&
            s.mask.every((m, i) => (m & ~d.mask[i]!) === 0);
        });
      },
    },
    {
      id: NetFfCap.ACTION,
      device: encodeActions(support.actions),
      accepts: (b) => decodeActions(b).every((a) => support.actions.includes(a)),
    },
  ];
  const group: AdminResourceKind = {
    type: NetFfObject.GROUP,
    enabled: usable,
    limit: (caps) => usable(caps) ? lim(caps)!.groups : 0,
    check(id, data, objects, creating, caps) {
      const priority = le.u16(padTo(data, 2), 0);
      const others = [...(objects.get(NetFfObject.GROUP) ?? new Map())].filter(([k]) => k !== id);
      if (others.some(([, b]) => le.u16(padTo(b, 2), 0) === priority)) return einval();
      // No more groups than the lower of groups_limit and rules_per_group_limit (5.1.9.6.4#5).
      const l = caps ? lim(caps) : undefined;
      if (creating && l && others.length >= Math.min(l.groups, l.rulesPerGroup)) return enospc();
      return undefined;
    },
    inUse: (id, objects) =>
      [...(objects.get(NetFfObject.RULE)?.values() ?? [])].some((b) => decodeFfRule(b).groupId === id),
  };
  const classifier: AdminResourceKind = {
    type: NetFfObject.CLASSIFIER,
    enabled: usable,
    limit: (caps) => usable(caps) ? lim(caps)!.classifiers : 0,
    check(_id, data) {
      const list = decodeSelectors(data);
      if (!list || list.length === 0) return einval();
      if (list.length > support.limits.selectorsPerClassifier) return enospc();
      const order = [[NetFfSelector.ETH], [NetFfSelector.IPV4, NetFfSelector.IPV6], [
        NetFfSelector.TCP,
        NetFfSelector.UDP,
        NetFfSelector.ESP,
      ]];
      for (const [i, s] of list.entries()) {
        if (!order[i]?.includes(s.type as never)) return einval();
        const d = support.selectors.find((x) => x.type === s.type);
        if (!d || s.mask.length !== d.mask.length || s.mask.some((m, k) => (m & ~d.mask[k]!) !== 0)) return einval();
      }
      return undefined;
    },
    inUse: (id, objects) =>
      [...(objects.get(NetFfObject.RULE)?.values() ?? [])].some((b) => decodeFfRule(b).classifierId === id),
  };
  const rule: AdminResourceKind = {
    type: NetFfObject.RULE,
    enabled: usable,
    limit: (caps) => usable(caps) ? Math.min(lim(caps)!.rules, lim(caps)!.rulesPerGroup) : 0,
    check(id, data, objects) {
      const r = decodeFfRule(data);
      const l = support.limits;
      const groupBytes = objects.get(NetFfObject.GROUP)?.get(r.groupId);
      const classifierBytes = objects.get(NetFfObject.CLASSIFIER)?.get(r.classifierId);
      if (!groupBytes || !classifierBytes) return einval();
      if (r.priority > l.lastRulePriority) return einval();
      if (!support.actions.includes(r.action)) return einval();
      if (r.action === NetFfAction.DIRECT_RX_VQ && (r.vqIndex % 2 !== 0 || r.vqIndex / 2 >= rxQueues())) {
        return einval();
      }
      const selectors = decodeSelectors(classifierBytes) ?? [];
      if (r.keys.length !== selectors.reduce((n, s) => n + s.mask.length, 0) || data.length < 16 + r.keys.length) {
        return einval();
      }
      const inGroup = [...(objects.get(NetFfObject.RULE) ?? new Map())]
        .filter(([k, b]) => k !== id && decodeFfRule(b).groupId === r.groupId).length;
      if (inGroup + 1 > l.rulesPerGroup) return enospc();
      return undefined;
    },
    inUse: () => false,
  };
  return { capabilities, resources: [group, classifier, rule] };
}
