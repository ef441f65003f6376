/**
 * Device clauses of spec 5.1.9.5.7 (receive-side scaling) and 5.1.9.5.8 (RSS contexts): the harness configures RSS,
 * injects frames of many flows and checks the receive queue each lands on against the Toeplitz hash it computes
 * itself (`harness/models/device/net_rss.ts`); and the RSS context commands. Traffic needs the device's wire.
 *
 * @module
 */
import fc from "fast-check";
import { defineDeviceClause, type DeviceClauseContext } from "../../harness/core/clause.ts";
import { checkProperty } from "../../harness/core/property.ts";
import { bit, F, NET_F } from "../../harness/features.ts";
import { le } from "../../harness/memory.ts";
import { NetCtrl, netHeaderSize } from "../../harness/models/device/net.ts";
import {
  encodeRssConfig,
  HashTunnelCtrl,
  NetHashTunnel,
  NetHashType,
  NetMqCommand,
  packetHash,
  type RssConfig,
  RssContextCtrl,
  rssReceiveQueue,
} from "../../harness/models/device/net_rss.ts";
import { formatStatus, Status } from "../../harness/status.ts";
import { hex } from "../../harness/text.ts";
import { expectNone, expectThat, notApplicable } from "../../harness/verify.ts";
import type { BufferSpec } from "../../harness/virtqueue/queue.ts";
import {
  arbFlow,
  controlCommand,
  controlQuery,
  type Flow,
  flowFrame,
  has,
  ipipFrame,
  resetQueueAlone,
  vxlanFrame,
  wireOf,
} from "./net_io.ts";

const RSS = "devicenormative:Device Types / Network Device / Device Operation / Control Virtqueue / " +
  "Receive-side scaling (RSS) / RSS processing";
const CONTEXT = "devicenormative:Device Types / Network Device / Device Operation / Control Virtqueue / RSS Context";
const NET = { deviceTypes: ["net" as const] };

/** Hash types the clauses enable: IPv4 and IPv6 without extension headers (the `_EX` types are left alone). */
const PLAIN_TYPES = 0x3f;
/** Queue pairs the clauses set up at most. */
const PAIRS_USED = 4;
/** Frames injected per case at most. */
const FRAMES_MAX = 6;

/** A device brought up with RSS: the pairs set up, the control queue, and what its configuration says of RSS. */
export interface RssLink {
  negotiated: bigint;
  mac: number[];
  hdr: number;
  pairs: number;
  ctrl: number;
  keySize: number;
  tableLength: number;
  hashTypes: number;
  /** supported_tunnel_types (0 without HASH_TUNNEL). */
  tunnels: number;
}

/**
 * Sets up receive and transmit queues of up to {@link PAIRS_USED} pairs (8 entries each) and the control queue, as
 * `negotiated` places them (MQ: after every pair max_virtqueue_pairs allows).
 */
export async function setUpPairs(
  ctx: DeviceClauseContext,
  negotiated: bigint,
): Promise<{ pairs: number; ctrl: number }> {
  const mq = has(negotiated, NET_F.MQ);
  const max = mq ? await ctx.transport.readConfig(8, 2) : 1;
  const pairs = Math.max(1, Math.min(max, PAIRS_USED));
  for (let q = 0; q < 2 * pairs; q++) await ctx.driver.setupQueue(q, 8);
  const ctrl = mq ? 2 * max : 2;
  await ctx.driver.setupQueue(ctrl, 8);
  return { pairs, ctrl };
}

/** Negotiates CTRL_VQ, RSS, MQ when offered, MAC and `extra`; sets up up to four pairs and the control queue. */
async function rssUp(ctx: DeviceClauseContext, extra: number[] = []): Promise<RssLink> {
  wireOf(ctx);
  const want = [F.VERSION_1, NET_F.CTRL_VQ, NET_F.RSS, NET_F.MQ, NET_F.MAC, ...extra].reduce((m, f) => m | bit(f), 0n);
  const r = await ctx.driver.init("features-ok", (o) => o & want);
  expectThat(r.featuresOk, "FEATURES_OK with CTRL_VQ and RSS", () => formatStatus(r.status));
  const negotiated = ctx.driver.negotiated;
  const { pairs, ctrl } = await setUpPairs(ctx, negotiated);
  const status = await ctx.driver.addStatus(Status.DRIVER_OK);
  expectThat((status & Status.DRIVER_OK) !== 0, "DRIVER_OK set", () => formatStatus(status));
  const mac = await Promise.all(Array.from({ length: 6 }, (_, i) => ctx.transport.readConfig(i, 1)));
  return {
    negotiated,
    mac,
    hdr: netHeaderSize(negotiated),
    pairs,
    ctrl,
    keySize: await ctx.transport.readConfig(17, 1),
    tableLength: await ctx.transport.readConfig(18, 2),
    hashTypes: await ctx.transport.readConfig(20, 4),
    tunnels: has(negotiated, NET_F.HASH_TUNNEL) ? await ctx.transport.readConfig(24, 4) : 0,
  };
}

const fmtAddr = (f: Flow, a: number[]) =>
  f.kind.endsWith("6") ? a.map((b) => b.toString(16).padStart(2, "0")).join("") : a.slice(0, 4).join(".");
const fmtFlow = (f: Flow) =>
  f.kind === "other"
    ? "a non-IP frame"
    : `${f.kind} ${fmtAddr(f, f.src)}${f.kind.startsWith("icmp") ? "" : `:${f.sport}`} → ${fmtAddr(f, f.dst)}${
      f.kind.startsWith("icmp") ? "" : `:${f.dport}`
    }`;

/** Sends RSS_CONFIG; returns the ack (undefined: never used). */
function setRss(ctx: DeviceClauseContext, r: RssLink, c: RssConfig): Promise<number | undefined> {
  return controlCommand(ctx, NetCtrl.MQ, NetMqCommand.RSS_CONFIG, encodeRssConfig(c), r.ctrl);
}

/** Receive buffers made available on one queue, by head. */
export type Buffers = Map<number, BufferSpec>;

/** Gives `count` receive buffers (one descriptor each, room for a header and 1514 bytes) on receive queue `q`. */
export async function giveBuffers(ctx: DeviceClauseContext, r: RssLink, q: number, count: number, into: Buffers) {
  const queue = ctx.driver.queue(q);
  const len = r.hdr + 1514;
  for (let i = 0; i < count && queue.freeCount > 0; i++) {
    const addr = ctx.driver.alloc.alloc(len, 8);
    const head = await queue.add([{ addr, len, writable: true }]);
    await queue.publish(head);
    into.set(head, { addr, len, writable: true });
  }
  await ctx.driver.kick(q);
}

/** One frame as received: the queue, and the frame after the header. */
export interface Arrival {
  queue: number;
  frame: Uint8Array;
}

/**
 * Reads what the receive `queues` used until `done` says enough came or the driver's deadline passed; returns
 * every arrival in the order seen.
 */
export async function arrivals(
  ctx: DeviceClauseContext,
  r: RssLink,
  buffers: Map<number, Buffers>,
  done: (got: readonly Arrival[]) => boolean,
): Promise<Arrival[]> {
  const got: Arrival[] = [];
  const deadline = Date.now() + ctx.driver.deadlineMs;
  while (!done(got) && Date.now() < deadline) {
    let any = false;
    for (const [q, held] of buffers) {
      for (const u of await ctx.driver.waitUsed(q, 0, 0)) {
        const b = held.get(u.id);
        if (!b) continue;
        held.delete(u.id);
        any = true;
        const bytes = await ctx.session.memory.read(b.addr, Math.min(u.len, b.len));
        got.push({ queue: q, frame: bytes.slice(Math.min(r.hdr, bytes.length)) });
      }
    }
    if (!any && !done(got)) await ctx.session.settle(10);
  }
  return got;
}

export const same = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && a.every((x, i) => x === b[i]);
export const rxName = (vq: number): string => `receiveq${vq / 2 + 1}`;

/** A random RSS case: the key, hash types, table, unclassified queue and the flows injected. */
const arbCase = fc.record({
  key: fc.uint8Array({ minLength: 40, maxLength: 40 }),
  types: fc.integer({ min: 0, max: PLAIN_TYPES }),
  tableBits: fc.integer({ min: 0, max: 4 }),
  table: fc.array(fc.nat(), { minLength: 16, maxLength: 16 }),
  unclassified: fc.nat(),
  flows: fc.array(arbFlow, { minLength: 1, maxLength: FRAMES_MAX }),
});
type RssCase = typeof arbCase extends fc.Arbitrary<infer T> ? T : never;

/** The case's RSS configuration for the device as brought up (key as long as rss_max_key_size, table it allows). */
function configOf(c: RssCase, r: RssLink): RssConfig {
  let entries = 1 << c.tableBits;
  while (entries > 1 && entries > r.tableLength) entries >>= 1;
  const key = Uint8Array.from({ length: Math.max(1, r.keySize) }, (_, i) => c.key[i % c.key.length]! ^ (i >> 5));
  return {
    hashTypes: c.types & r.hashTypes,
    tableMask: entries - 1,
    unclassified: c.unclassified % r.pairs,
    table: c.table.slice(0, entries).map((q) => q % r.pairs),
    maxTxVq: r.pairs,
    key,
  };
}

export const rssSteering = defineDeviceClause({
  label: RSS,
  statement: 1,
  level: "MUST",
  title: "each frame on the receive queue its Toeplitz hash and the indirection table pick",
  requirement: "With RSS configured, the device hashes each received packet with the enabled hash types and key, " +
    "masks the hash with indirection_table_mask and places the packet on the receive queue that table entry names; " +
    "a packet it computes no hash for goes to unclassified_queue.",
  action: "Negotiates CTRL_VQ, RSS and MQ (when offered), sets up to four queue pairs, sends RSS_CONFIG with a " +
    "random key, hash types (IPv4 and IPv6 ones, no _EX types), table and unclassified queue, gives receive buffers " +
    "on every receive queue, injects TCP, UDP, ICMP and non-IP frames of random flows and checks the queue each " +
    "arrives on against the harness's own Toeplitz hash.",
  applies: { ...NET, offered: [NET_F.CTRL_VQ, NET_F.RSS] },
  async run(ctx) {
    await checkProperty(ctx, arbCase, async (c) => {
      const r = await rssUp(ctx);
      const cfg = configOf(c, r);
      const ack = await setRss(ctx, r, cfg);
      expectThat(ack === NetCtrl.OK, "a valid RSS_CONFIG acknowledged VIRTIO_NET_OK", () => `ack ${ack}`);
      const buffers = new Map<number, Buffers>();
      for (let p = 0; p < r.pairs; p++) {
        buffers.set(2 * p, new Map());
        await giveBuffers(ctx, r, 2 * p, c.flows.length + 1, buffers.get(2 * p)!);
      }
      const frames = c.flows.map((f, i) => flowFrame(r.mac, f, i + 1));
      const wire = wireOf(ctx);
      for (const f of frames) await wire.inject(f);
      const got = await arrivals(ctx, r, buffers, (g) => g.length >= frames.length);
      const bad: string[] = [];
      frames.forEach((f, i) => {
        const want = 2 * rssReceiveQueue(cfg, f);
        const at = got.find((a) => same(a.frame, f));
        if (at?.queue === want) return;
        const h = packetHash(f, cfg.hashTypes, cfg.key);
        const why = h ? `hash ${hex(h.hash, 8)}, entry ${h.hash & cfg.tableMask}` : "no hash: unclassified";
        bad.push(
          `${fmtFlow(c.flows[i]!)} (${why}): expected on ${rxName(want)}, ${
            at ? `received on ${rxName(at.queue)}` : "not received"
          }`,
        );
      });
      expectNone("every frame on the queue RSS picks", bad, (s) => s);
    }, (c) => {
      return `hash types ${hex(c.types, 2)}, ${1 << c.tableBits} table entries, ${c.flows.map(fmtFlow).join("; ")}`;
    });
  },
});

export const rssDropForResetQueue = defineDeviceClause({
  label: RSS,
  statement: 2,
  level: "MUST",
  title: "a frame for a receive queue being reset is dropped",
  requirement: "When RSS picks a receive queue that is being reset, the device drops the packet: it is not placed " +
    "on another queue, nor on that queue once it is enabled again.",
  action: "Negotiates CTRL_VQ, RSS, MQ and RING_RESET, points every table entry at receiveq2 (unclassified: " +
    "receiveq1), resets receiveq2, injects an IPv4 frame (hashed, so for receiveq2) and then a non-IP marker " +
    "(for receiveq1); once the marker came (or the deadline passed), enables receiveq2 again, injects a second IPv4 " +
    "frame and checks the first was received nowhere. The harness takes a queue as being reset from the reset until it is enabled again.",
  applies: { ...NET, offered: [NET_F.CTRL_VQ, NET_F.RSS, NET_F.MQ, F.RING_RESET] },
  async run(ctx) {
    const arb = fc.tuple(arbFlow, arbFlow).map(([a, b]) => [{ ...a, kind: "udp4" }, { ...b, kind: "tcp4" }] as const);
    await checkProperty(ctx, arb, async ([first, second]) => {
      const r = await rssUp(ctx, [F.RING_RESET]);
      if (!has(r.negotiated, F.RING_RESET)) notApplicable("VIRTIO_F_RING_RESET was not negotiated");
      if (r.pairs < 2) notApplicable("only one queue pair: no other receive queue to reset");
      if (!(r.hashTypes & NetHashType.IPv4)) notApplicable("the device does not support the IPv4 hash type");
      const cfg: RssConfig = {
        hashTypes: NetHashType.IPv4,
        tableMask: 0,
        unclassified: 0,
        table: [1],
        maxTxVq: r.pairs,
        key: new Uint8Array(Math.max(1, r.keySize)).fill(0x6d),
      };
      const ack = await setRss(ctx, r, cfg);
      expectThat(ack === NetCtrl.OK, "a valid RSS_CONFIG acknowledged VIRTIO_NET_OK", () => `ack ${ack}`);
      const size = ctx.driver.queue(2).size;
      await resetQueueAlone(ctx, 2);
      const rx1: Buffers = new Map();
      await giveBuffers(ctx, r, 0, 2, rx1);
      const dropped = flowFrame(r.mac, first, 1);
      const marker = flowFrame(r.mac, { ...first, kind: "other" }, 2);
      const wire = wireOf(ctx);
      await wire.inject(dropped);
      await wire.inject(marker);
      // The marker, after the frame on the wire, shows the device has dealt with the frame. A device that holds the
      // frame may hold everything behind it too: then the marker does not come before the deadline.
      const before = await arrivals(ctx, r, new Map([[0, rx1]]), (g) => g.some((a) => same(a.frame, marker)));
      const markerCame = before.some((a) => same(a.frame, marker));
      await ctx.driver.setupQueue(2, size);
      const rx2: Buffers = new Map();
      await giveBuffers(ctx, r, 2, 3, rx2);
      const later = flowFrame(r.mac, second, 3);
      await wire.inject(later);
      const after = await arrivals(ctx, r, new Map([[0, rx1], [2, rx2]]), (g) => g.some((a) => same(a.frame, later)));
      const seen = [...before, ...after].filter((a) => same(a.frame, dropped));
      expectNone(
        "the frame for receiveq2 while it was reset dropped",
        seen,
        (a) =>
          `${fmtFlow(first)} received on ${rxName(a.queue)}${
            markerCame ? "" : " (nothing behind it was received while receiveq2 was reset)"
          }`,
      );
      if (!markerCame) notApplicable("the non-IP marker for receiveq1 never came");
      if (!after.some((a) => same(a.frame, later))) notApplicable("the frame for the re-enabled receiveq2 never came");
    }, ([first, second]) => `${fmtFlow(first)} during the reset, ${fmtFlow(second)} after`);
  },
});

export const rssContextsAtLeastOne = defineDeviceClause({
  label: CONTEXT,
  statement: 1,
  level: "MUST",
  title: "max_rss_contexts at least 1 with VIRTIO_NET_F_RSS_CONTEXT",
  requirement: "A device offering VIRTIO_NET_F_RSS_CONTEXT answers CAP_GET with max_rss_contexts of 1 or more.",
  action: "Negotiates CTRL_VQ, RSS and RSS_CONTEXT, sends VIRTNET_RSS_CTX_CTRL_CAP_GET and reads max_rss_contexts.",
  applies: { ...NET, offered: [NET_F.CTRL_VQ, NET_F.RSS, NET_F.RSS_CONTEXT] },
  async run(ctx) {
    const r = await rssUp(ctx, [NET_F.RSS_CONTEXT]);
    const got = await controlQuery(ctx, RssContextCtrl.CLASS, RssContextCtrl.CAP_GET, new Uint8Array(0), 2, r.ctrl);
    expectThat(got?.ack === NetCtrl.OK, "CAP_GET acknowledged VIRTIO_NET_OK", () => `ack ${got?.ack}`);
    const max = le.u16(got!.result, 0);
    expectThat(max >= 1, "max_rss_contexts ≥ 1", () => `${max}`);
  },
});

/** Context `id` with `rss` as VIRTNET_RSS_CTX_CTRL_ADD or _MOD data. */
function contextData(id: number, rss: RssConfig): Uint8Array {
  const c = encodeRssConfig(rss);
  const b = new Uint8Array(8 + c.length);
  le.setU16(b, 0, id);
  b.set(c, 8);
  return b;
}

/** Contexts the reset clause adds at most. */
const CONTEXTS_ADDED = 8;

export const rssContextsClearedByReset = defineDeviceClause({
  label: CONTEXT,
  statement: 2,
  level: "MUST",
  title: "a reset clears every RSS context",
  requirement: "A device reset removes all the RSS contexts the driver configured.",
  action: "Negotiates CTRL_VQ, RSS and RSS_CONTEXT, reads max_rss_contexts, adds contexts 1 … n (n at most 8, all " +
    "of them when the device has no more), resets the device, brings it up again and adds the same contexts: a " +
    "device that cleared them accepts each again as it did the first time.",
  applies: { ...NET, offered: [NET_F.CTRL_VQ, NET_F.RSS, NET_F.RSS_CONTEXT] },
  async run(ctx) {
    const add = async (r: RssLink, n: number) => {
      const rss: RssConfig = {
        hashTypes: r.hashTypes & PLAIN_TYPES,
        tableMask: 0,
        unclassified: 0,
        table: [0],
        maxTxVq: r.pairs,
        key: new Uint8Array(Math.max(1, r.keySize)).fill(0x5a),
      };
      const refused: string[] = [];
      for (let id = 1; id <= n; id++) {
        const ack = await controlCommand(ctx, RssContextCtrl.CLASS, RssContextCtrl.ADD, contextData(id, rss), r.ctrl);
        if (ack !== NetCtrl.OK) refused.push(`ADD of context ${id}: ack ${ack}`);
      }
      return refused;
    };
    const r = await rssUp(ctx, [NET_F.RSS_CONTEXT]);
    const cap = await controlQuery(ctx, RssContextCtrl.CLASS, RssContextCtrl.CAP_GET, new Uint8Array(0), 2, r.ctrl);
    const max = cap?.ack === NetCtrl.OK ? le.u16(cap.result, 0) : 0;
    if (max === 0) notApplicable("CAP_GET gave no max_rss_contexts to work with");
    const n = Math.min(max, CONTEXTS_ADDED);
    const first = await add(r, n);
    if (first.length > 0) notApplicable(`the device refused contexts before any reset (${first.join("; ")})`);
    const again = await add(await rssUp(ctx, [NET_F.RSS_CONTEXT]), n);
    expectNone("every context accepted again after the reset", again, (s) => s);
  },
});

const INNER = "devicenormative:Device Types / Network Device / Device Operation / Control Virtqueue / " +
  "Inner Header Hash";

/** How a frame of the inner header hash clauses is wrapped. */
type Encap = "vxlan" | "ipip" | "none";
const ENCAP_TYPE: Record<Encap, number> = { vxlan: NetHashTunnel.VXLAN, ipip: NetHashTunnel.IPIP, none: 0 };

/** One frame: its wrapping, the outer addresses and UDP source port, and the inner flow. */
const arbWrapped = fc.record({
  encap: fc.constantFrom<Encap>("vxlan", "ipip", "none"),
  outerSrc: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 4, maxLength: 4 }),
  outerDst: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 4, maxLength: 4 }),
  sport: fc.integer({ min: 1, max: 0xffff }),
  inner: arbFlow,
});
type Wrapped = typeof arbWrapped extends fc.Arbitrary<infer T> ? T : never;

/**
 * The frame of `w` to `dest`: VXLAN (outer IPv4 and UDP to port 4789, an 8-byte VXLAN header, the inner Ethernet
 * frame), IPIP (outer IPv4 carrying the inner IPv4 packet; an IPv6 inner flow is made IPv4) or the inner frame alone.
 */
function wrappedFrame(dest: readonly number[], w: Wrapped, seed: number): Uint8Array {
  const innerFlow = w.encap === "ipip" && w.inner.kind.endsWith("6")
    ? { ...w.inner, kind: w.inner.kind.replace("6", "4") as Flow["kind"] }
    : w.encap === "ipip" && w.inner.kind === "other"
    ? { ...w.inner, kind: "udp4" as const }
    : w.inner;
  const inner = flowFrame(w.encap === "none" ? dest : [0x02, 0, 0, 0, 0, 0x42], innerFlow, seed);
  if (w.encap === "none") return inner;
  const outer = { src: w.outerSrc, dst: w.outerDst, sport: w.sport };
  return w.encap === "vxlan" ? vxlanFrame(dest, inner, outer, seed) : ipipFrame(dest, inner, outer, seed);
}

const fmtWrapped = (w: Wrapped) =>
  w.encap === "none"
    ? fmtFlow(w.inner)
    : `${w.encap} ${w.outerSrc.join(".")} → ${w.outerDst.join(".")} around ${fmtFlow(w.inner)}`;

/** Sends HASH_TUNNEL_SET with `types`; returns the ack. */
function setTunnels(ctx: DeviceClauseContext, r: RssLink, types: number): Promise<number | undefined> {
  const data = new Uint8Array(4);
  le.setU32(data, 0, types);
  return controlCommand(ctx, HashTunnelCtrl.CLASS, HashTunnelCtrl.SET, data, r.ctrl);
}

/**
 * Configures RSS as `c` says, gives receive buffers on every receive queue, injects `frames` and returns, for each
 * frame `judged` picks, what is wrong with where it landed (the queue RSS picks over its outer header).
 */
async function outerSteered(
  ctx: DeviceClauseContext,
  r: RssLink,
  cfg: RssConfig,
  ws: readonly Wrapped[],
  judged: (w: Wrapped) => boolean,
): Promise<string[]> {
  const buffers = new Map<number, Buffers>();
  for (let p = 0; p < r.pairs; p++) {
    buffers.set(2 * p, new Map());
    await giveBuffers(ctx, r, 2 * p, ws.length + 1, buffers.get(2 * p)!);
  }
  const frames = ws.map((w, i) => wrappedFrame(r.mac, w, i + 1));
  const wire = wireOf(ctx);
  for (const f of frames) await wire.inject(f);
  const got = await arrivals(ctx, r, buffers, (g) => g.length >= frames.length);
  const bad: string[] = [];
  frames.forEach((f, i) => {
    if (!judged(ws[i]!)) return;
    const want = 2 * rssReceiveQueue(cfg, f);
    const at = got.find((a) => same(a.frame, f));
    if (at?.queue === want) return;
    bad.push(
      `${fmtWrapped(ws[i]!)}: expected on ${rxName(want)} (outer header hash), ${
        at ? `received on ${rxName(at.queue)}` : "not received"
      }`,
    );
  });
  return bad;
}

const arbInnerCase = fc.record({
  rss: arbCase,
  enabled: fc.nat(),
  frames: fc.array(arbWrapped, { minLength: 1, maxLength: FRAMES_MAX }),
});

export const outerHashWhenNotEnabled = defineDeviceClause({
  label: INNER,
  statement: 1,
  level: "MUST",
  title: "the outer header hashed for a packet of no enabled encapsulation type",
  requirement: "When a received packet's outer header matches none of the encapsulation types enabled for the inner " +
    "header hash, the device computes the hash over the outer header.",
  action: "Negotiates CTRL_VQ, RSS, HASH_TUNNEL and MQ (when offered), configures RSS at random, enables a random " +
    "subset of the supported encapsulation types with HASH_TUNNEL_SET, injects VXLAN, IPIP and plain frames, and " +
    "checks that every frame of a type not enabled lands on the queue its outer header's hash picks.",
  applies: { ...NET, offered: [NET_F.CTRL_VQ, NET_F.RSS, NET_F.HASH_TUNNEL] },
  async run(ctx) {
    await checkProperty(ctx, arbInnerCase, async (c) => {
      const r = await rssUp(ctx, [NET_F.HASH_TUNNEL]);
      const cfg = configOf({ ...c.rss, flows: [] }, r);
      const ack = await setRss(ctx, r, cfg);
      expectThat(ack === NetCtrl.OK, "a valid RSS_CONFIG acknowledged VIRTIO_NET_OK", () => `ack ${ack}`);
      const enabled = c.enabled & r.tunnels;
      const set = await setTunnels(ctx, r, enabled);
      expectThat(set === NetCtrl.OK, `HASH_TUNNEL_SET ${hex(enabled, 3)} acknowledged`, () => `ack ${set}`);
      const bad = await outerSteered(ctx, r, cfg, c.frames, (w) => (ENCAP_TYPE[w.encap] & enabled) === 0);
      expectNone("the outer header hashed for every frame of no enabled type", bad, (s) => s);
    }, (c) => `enabled types ${hex(c.enabled, 3)} (of those supported); ${c.frames.map(fmtWrapped).join("; ")}`);
  },
});

export const innerHashDisabledByZero = defineDeviceClause({
  label: INNER,
  statement: 3,
  level: "MUST",
  title: "no inner header hash after HASH_TUNNEL_SET 0 or a reset",
  requirement: "Once the driver sets enabled_tunnel_types to 0, or after a device reset, the device computes no " +
    "inner header hash for any encapsulation type.",
  action: "Negotiates CTRL_VQ, RSS, HASH_TUNNEL and MQ (when offered), enables every supported encapsulation type, " +
    "then either sends HASH_TUNNEL_SET 0 or resets the device and brings it up again, configures RSS at random, " +
    "injects VXLAN and IPIP frames and checks each lands on the queue its outer header's hash picks.",
  applies: { ...NET, offered: [NET_F.CTRL_VQ, NET_F.RSS, NET_F.HASH_TUNNEL] },
  async run(ctx) {
    const arb = fc.record({
      rss: arbCase,
      reset: fc.boolean(),
      frames: fc.array(arbWrapped, { minLength: 1, maxLength: FRAMES_MAX }),
    });
    await checkProperty(ctx, arb, async (c) => {
      let r = await rssUp(ctx, [NET_F.HASH_TUNNEL]);
      const all = await setTunnels(ctx, r, r.tunnels);
      if (all !== NetCtrl.OK) notApplicable(`the device refused HASH_TUNNEL_SET of its supported types (ack ${all})`);
      if (c.reset) {
        r = await rssUp(ctx, [NET_F.HASH_TUNNEL]);
      } else {
        const off = await setTunnels(ctx, r, 0);
        expectThat(off === NetCtrl.OK, "HASH_TUNNEL_SET 0 acknowledged", () => `ack ${off}`);
      }
      const cfg = configOf({ ...c.rss, flows: [] }, r);
      const ack = await setRss(ctx, r, cfg);
      expectThat(ack === NetCtrl.OK, "a valid RSS_CONFIG acknowledged VIRTIO_NET_OK", () => `ack ${ack}`);
      const frames = c.frames.map((w) => w.encap === "none" ? { ...w, encap: "vxlan" as const } : w);
      const bad = await outerSteered(ctx, r, cfg, frames, () => true);
      expectNone("the outer header hashed for every frame", bad, (s) => s);
    }, (c) => `${c.reset ? "a device reset" : "HASH_TUNNEL_SET 0"}; ${c.frames.map(fmtWrapped).join("; ")}`);
  },
});

export const tunnelTypesUnsupportedRefused = defineDeviceClause({
  label: INNER,
  statement: 2,
  level: "SHOULD",
  title: "HASH_TUNNEL_SET with an unsupported type answered VIRTIO_NET_ERR",
  requirement: "A device given enabled_tunnel_types with a bit supported_tunnel_types lacks answers " +
    "VIRTIO_NET_CTRL_HASH_TUNNEL_SET with VIRTIO_NET_ERR.",
  action: "Negotiates CTRL_VQ, RSS and HASH_TUNNEL, sends HASH_TUNNEL_SET with the supported types plus one defined " +
    "type the device does not support, and checks the ack.",
  applies: { ...NET, offered: [NET_F.CTRL_VQ, NET_F.RSS, NET_F.HASH_TUNNEL] },
  async run(ctx) {
    const r = await rssUp(ctx, [NET_F.HASH_TUNNEL]);
    const extra = [0, 1, 2, 3, 4, 5, 6, 7, 8].map((b) => 1 << b).find((b) => (r.tunnels & b) === 0);
    if (extra === undefined) notApplicable("the device supports every encapsulation type the spec defines");
    const ack = await setTunnels(ctx, r, r.tunnels | extra);
    expectThat(ack === NetCtrl.ERR, "VIRTIO_NET_ERR", () => `ack ${ack} for ${hex(r.tunnels | extra, 3)}`);
  },
});

/** The RSS device clauses. */
export const NET_RSS_DEVICE_CLAUSES = [
  rssSteering,
  rssDropForResetQueue,
  rssContextsAtLeastOne,
  rssContextsClearedByReset,
  outerHashWhenNotEnabled,
  innerHashDisabledByZero,
  tunnelTypesUnsupportedRefused,
];
