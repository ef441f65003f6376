/**
 * Driver clauses of spec 5.1.9.5.7 (setting RSS parameters) and 5.1.9.5.8 (RSS contexts): the harness presents a net
 * device with RSS, asks the driver to configure it (`net-rss`) and judges every RSS_CONFIG and RSS context command
 * against the features negotiated, the queues enabled and what the device's configuration said.
 *
 * @module
 */
import type { Workload } from "../../harness/adapter.ts";
import { defineDriverClause, type DriverClauseContext } from "../../harness/core/clause.ts";
import { bit, F, NET_F } from "../../harness/features.ts";
import { hex } from "../../harness/text.ts";
import { le } from "../../harness/memory.ts";
import { type NetControlCommand, NetCtrl, NetFunction, type NetRssOptions } from "../../harness/models/device/net.ts";
import {
  decodeRssConfig,
  HashTunnelCtrl,
  NET_HASH_TUNNELS_ALL,
  NetHashTunnel,
  NetHashType,
  NetMqCommand,
  type RssConfig,
  RssContextCtrl,
} from "../../harness/models/device/net_rss.ts";
import { expectNone, notApplicable } from "../../harness/verify.ts";

const RSS = "drivernormative:Device Types / Network Device / Device Operation / Control Virtqueue / " +
  "Receive-side scaling (RSS)";
const CONTEXT = "drivernormative:Device Types / Network Device / Device Operation / Control Virtqueue / RSS Context";
const NET = { deviceTypes: ["net" as const] };

/**
 * The device presented: four queue pairs, a 16-entry indirection table at most, the IPv4 hash types only, and two RSS
 * contexts; a driver that takes the stock values (128 entries, every type) instead of reading them is seen.
 */
const PRESENTED: NetRssOptions = {
  tableLength: 16,
  hashTypes: NetHashType.IPv4 | NetHashType.TCPv4 | NetHashType.UDPv4,
  contexts: 2,
  // VXLAN, IPIP, and bit 20, which the spec does not define.
  tunnels: NetHashTunnel.VXLAN | NetHashTunnel.IPIP | (1 << 20),
};

/**
 * Presents the harness's net device (RSS as {@link PRESENTED}) with `drop` left out of its features, asks for `work`
 * (n/a when the driver does not declare the first one's kind) and returns the device, whose control log holds the
 * commands the driver sent.
 */
async function rssRun(ctx: DriverClauseContext, drop: number[], work: Workload[]) {
  if (ctx.scenarios.watched) notApplicable("the driver runs beside its own device: the harness sees no control queue");
  const kind = work[0]!.kind;
  if (!ctx.target.info.workloads.includes(kind)) notApplicable(`the driver does not declare ${kind}`);
  const offered = drop.reduce((m, f) => m & ~bit(f), new NetFunction().features | bit(F.VERSION_1));
  const t = await ctx.scenarios.run({ knobs: { offered }, netRss: PRESENTED, workloads: work });
  if (!t.probe.bound || !(t.fn instanceof NetFunction)) notApplicable("the driver did not bind");
  return t.fn;
}

/** The RSS_CONFIG commands the driver sent (with their decoded parameters); n/a when none. */
async function rssConfigsSent(ctx: DriverClauseContext) {
  const fn = await rssRun(ctx, [], [{ kind: "net-rss" }]);
  const sent = fn.controlLog.filter((c) => c.cls === NetCtrl.MQ && c.command === NetMqCommand.RSS_CONFIG);
  if (sent.length === 0) notApplicable("the driver sent no RSS_CONFIG");
  return sent.map((c) => ({ command: c, rss: decodeRssConfig(c.data) }));
}

const ACTION = "Presents a net device with four queue pairs, RSS (16 table entries at most, IPv4 hash types only) " +
  "and RSS contexts, asks the driver to configure RSS, and checks ";

/** An RSS_CONFIG as sent: its place and its mask, or why it could not be read. */
const fmtConfig = (c: NetControlCommand, rss: RssConfig | undefined) =>
  rss === undefined
    ? `an RSS_CONFIG of ${c.data.length} bytes that does not parse`
    : `RSS_CONFIG with indirection_table_mask ${rss.tableMask}`;

export const rssNeedsFeature = defineDriverClause({
  label: RSS,
  statement: 1,
  level: "MUST NOT",
  title: "no RSS_CONFIG without VIRTIO_NET_F_RSS",
  applies: NET,
  requirement: "The driver never sends VIRTIO_NET_CTRL_MQ_RSS_CONFIG unless VIRTIO_NET_F_RSS was negotiated.",
  action: "Presents a net device offering neither RSS nor RSS_CONTEXT, asks the driver to configure RSS anyway, and " +
    "checks the features in force for every MQ command it sent.",
  async run(ctx) {
    const fn = await rssRun(ctx, [NET_F.RSS, NET_F.RSS_CONTEXT], [{ kind: "net-rss" }]);
    const bad = fn.controlLog.filter((c) =>
      c.cls === NetCtrl.MQ && c.command === NetMqCommand.RSS_CONFIG && !(c.negotiated & bit(NET_F.RSS))
    );
    expectNone("no RSS_CONFIG without RSS negotiated", bad, (c) => `RSS_CONFIG sent as command ${c.seq}`);
  },
});

export const rssTableEnabledQueues = defineDriverClause({
  label: RSS,
  statement: 2,
  level: "MUST",
  title: "indirection_table names enabled receive queues only",
  applies: NET,
  requirement: "Every entry of the indirection table the driver sends names a receive queue it has enabled.",
  action: `${ACTION}every table entry against the receive queues enabled when RSS_CONFIG came.`,
  async run(ctx) {
    const bad: string[] = [];
    for (const { command, rss } of await rssConfigsSent(ctx)) {
      if (!rss) continue;
      const off = [...new Set(rss.table)].filter((id) => !command.enabledQueues?.includes(2 * (id & 0x7fff)));
      if (off.length > 0) {
        bad.push(
          `entries naming ${off.map((id) => `receiveq${(id & 0x7fff) + 1}`).join(", ")} (enabled: ${
            (command.enabledQueues ?? []).filter((q) => q % 2 === 0).map((q) => `receiveq${q / 2 + 1}`).join(", ")
          })`,
        );
      }
    }
    expectNone("enabled receive queues only", bad, (s) => s);
  },
});

export const rssTablePowerOfTwo = defineDriverClause({
  label: RSS,
  statement: 3,
  level: "MUST",
  title: "indirection table length a power of two",
  applies: NET,
  requirement: "The number of indirection table entries the driver sends, indirection_table_mask + 1, is a power of " +
    "two.",
  action: `${ACTION}indirection_table_mask + 1 of each RSS_CONFIG.`,
  async run(ctx) {
    const sent = await rssConfigsSent(ctx);
    const bad = sent.filter(({ command }) => {
      const mask = command.data.length >= 6 ? le.u16(command.data, 4) : 0;
      return ((mask + 1) & mask) !== 0;
    });
    expectNone("mask + 1 a power of two", bad, ({ command, rss }) => fmtConfig(command, rss));
  },
});

export const rssTableWithinLength = defineDriverClause({
  label: RSS,
  statement: 4,
  level: "MUST",
  title: "indirection_table_mask below rss_max_indirection_table_length",
  applies: NET,
  requirement: "The driver's indirection_table_mask is less than the rss_max_indirection_table_length the device " +
    "reports.",
  action: `${ACTION}each mask against the device's 16.`,
  async run(ctx) {
    const sent = await rssConfigsSent(ctx);
    const bad = sent.filter(({ command }) =>
      command.data.length >= 6 && le.u16(command.data, 4) >= PRESENTED.tableLength!
    );
    expectNone(`mask below ${PRESENTED.tableLength}`, bad, ({ command, rss }) => fmtConfig(command, rss));
  },
});

export const rssSupportedHashTypes = defineDriverClause({
  label: RSS,
  statement: 5,
  level: "MUST NOT",
  title: "no hash type the device does not support",
  applies: NET,
  requirement: "The driver sets no VIRTIO_NET_HASH_TYPE_ bit that the device's supported_hash_types lacks.",
  action: `${ACTION}hash_types of each RSS_CONFIG against the device's supported_hash_types (${
    hex(PRESENTED.hashTypes!, 3)
  }).`,
  async run(ctx) {
    const sent = await rssConfigsSent(ctx);
    const bad = sent.filter(({ command }) =>
      command.data.length >= 4 && le.u32(command.data, 0) & ~PRESENTED.hashTypes!
    );
    expectNone(
      `hash_types within ${hex(PRESENTED.hashTypes!, 3)}`,
      bad,
      ({ command }) => `RSS_CONFIG with hash_types ${hex(le.u32(command.data, 0), 3)}`,
    );
  },
});

/** RSS and then up to four contexts (the device has two). */
const WITH_CONTEXTS: Workload[] = [{ kind: "net-rss", contexts: 4 }];

/** The RSS context commands (class 9) among `log`. */
const contextCommands = (log: readonly NetControlCommand[]) => log.filter((c) => c.cls === RssContextCtrl.CLASS);
const CONTEXT_NAMES = ["CAP_GET", "ADD", "MOD", "DEL"];
const fmtContext = (c: NetControlCommand) =>
  `${CONTEXT_NAMES[c.command] ?? `command ${c.command}`}${
    c.command !== RssContextCtrl.CAP_GET && c.data.length >= 2 ? ` of context ${le.u16(c.data, 0)}` : ""
  }`;

export const rssContextNeedsFeature = defineDriverClause({
  label: CONTEXT,
  statement: 1,
  level: "MUST",
  title: "RSS context commands only with VIRTIO_NET_F_RSS_CONTEXT",
  applies: NET,
  requirement: "The driver sends VIRTNET_RSS_CTX_CTRL commands only with VIRTIO_NET_F_RSS_CONTEXT negotiated.",
  action: "Presents a net device with RSS but without RSS_CONTEXT, asks the driver for RSS and up to four contexts, " +
    "and checks the features in force for each context command it sent.",
  async run(ctx) {
    const fn = await rssRun(ctx, [NET_F.RSS_CONTEXT], WITH_CONTEXTS);
    const bad = contextCommands(fn.controlLog).filter((c) => !(c.negotiated & bit(NET_F.RSS_CONTEXT)));
    expectNone("no context command without RSS_CONTEXT", bad, fmtContext);
  },
});

export const rssContextIdsInRange = defineDriverClause({
  label: CONTEXT,
  statement: 2,
  level: "MUST",
  title: "rss_ctx_id between 1 and max_rss_contexts",
  applies: NET,
  requirement: "The rss_ctx_id of every context command is between 1 and the device's max_rss_contexts.",
  action: "Presents a net device with RSS and two RSS contexts, asks the driver for RSS and up to four contexts, and " +
    "checks the id of each ADD, MOD and DEL.",
  async run(ctx) {
    const fn = await rssRun(ctx, [], WITH_CONTEXTS);
    const sent = contextCommands(fn.controlLog).filter((c) => c.command !== RssContextCtrl.CAP_GET);
    if (sent.length === 0) notApplicable("the driver sent no ADD, MOD or DEL");
    const max = PRESENTED.contexts!;
    const bad = sent.filter((c) => c.data.length < 2 || le.u16(c.data, 0) < 1 || le.u16(c.data, 0) > max);
    expectNone(`ids 1 … ${max}`, bad, fmtContext);
  },
});

export const noPairsSetWithContexts = defineDriverClause({
  label: CONTEXT,
  statement: 3,
  level: "MUST NOT",
  title: "no VQ_PAIRS_SET once an RSS context is configured",
  applies: NET,
  requirement: "Once the device has accepted at least one RSS context, the driver sends no VIRTIO_NET_CTRL_MQ_" +
    "VQ_PAIRS_SET.",
  action: "Presents a net device with four queue pairs, RSS and two RSS contexts, asks the driver for RSS and up to " +
    "four contexts, and checks each VQ_PAIRS_SET against the contexts configured when it came.",
  async run(ctx) {
    const fn = await rssRun(ctx, [], WITH_CONTEXTS);
    const added = (c: NetControlCommand) =>
      c.cls === RssContextCtrl.CLASS && c.command === RssContextCtrl.ADD && c.ack === NetCtrl.OK;
    if (!fn.controlLog.some(added)) notApplicable("the driver configured no RSS context");
    const bad = fn.controlLog.filter((c) =>
      c.cls === NetCtrl.MQ && c.command === NetCtrl.MQ_VQ_PAIRS_SET && (c.rssContexts ?? 0) > 0
    );
    expectNone(
      "no VQ_PAIRS_SET with a context configured",
      bad,
      (c) => `VQ_PAIRS_SET with ${c.rssContexts} context(s)`,
    );
  },
});

const INNER = "drivernormative:Device Types / Network Device / Device Operation / Control Virtqueue / " +
  "Inner Header Hash";

/** The HASH_TUNNEL_SET commands among `log`, with their enabled_tunnel_types. */
const tunnelSets = (log: readonly NetControlCommand[]) =>
  log.filter((c) => c.cls === HashTunnelCtrl.CLASS && c.command === HashTunnelCtrl.SET).map((c) => ({
    c,
    types: c.data.length >= 4 ? le.u32(c.data, 0) : 0,
  }));

export const hashTunnelNeedsFeature = defineDriverClause({
  label: INNER,
  statement: 1,
  level: "MUST",
  title: "HASH_TUNNEL_SET only with VIRTIO_NET_F_HASH_TUNNEL",
  applies: NET,
  requirement: "The driver sends VIRTIO_NET_CTRL_HASH_TUNNEL_SET only with VIRTIO_NET_F_HASH_TUNNEL negotiated.",
  action: "Presents a net device with RSS but without HASH_TUNNEL, asks the driver to enable the inner header hash " +
    "for every encapsulation type, and checks the features in force for each HASH_TUNNEL_SET it sent.",
  async run(ctx) {
    const fn = await rssRun(ctx, [NET_F.HASH_TUNNEL], [{ kind: "net-hash-tunnel", types: NET_HASH_TUNNELS_ALL }]);
    const bad = tunnelSets(fn.controlLog).filter(({ c }) => !(c.negotiated & bit(NET_F.HASH_TUNNEL)));
    expectNone("no HASH_TUNNEL_SET without HASH_TUNNEL", bad, ({ types }) => `HASH_TUNNEL_SET ${hex(types, 3)}`);
  },
});

export const hashTunnelSupportedOnly = defineDriverClause({
  label: INNER,
  statement: 2,
  level: "MUST NOT",
  title: "no encapsulation type the device does not support",
  applies: NET,
  requirement: "The driver sets no bit of enabled_tunnel_types that supported_tunnel_types lacks.",
  action: "Presents a net device supporting VXLAN and IPIP (and bit 20), asks the driver to enable every " +
    "encapsulation type the spec defines, and checks each HASH_TUNNEL_SET against supported_tunnel_types.",
  async run(ctx) {
    const fn = await rssRun(ctx, [], [{ kind: "net-hash-tunnel", types: NET_HASH_TUNNELS_ALL }]);
    const sent = tunnelSets(fn.controlLog);
    if (sent.length === 0) notApplicable("the driver sent no HASH_TUNNEL_SET");
    const bad = sent.filter(({ types }) => (types & ~PRESENTED.tunnels!) !== 0);
    expectNone(
      `enabled_tunnel_types within ${hex(PRESENTED.tunnels!, 6)}`,
      bad,
      ({ types }) => `HASH_TUNNEL_SET ${hex(types, 6)}`,
    );
  },
});

export const hashTunnelUndocumentedIgnored = defineDriverClause({
  label: INNER,
  statement: 3,
  level: "MUST",
  title: "undocumented bits of supported_tunnel_types ignored",
  applies: NET,
  requirement: "The driver takes no notice of bits of supported_tunnel_types the spec does not define: it never " +
    "enables them.",
  action:
    "Presents a net device whose supported_tunnel_types has bit 20 (undefined) besides VXLAN and IPIP, asks the " +
    "driver to enable every bit, and checks no HASH_TUNNEL_SET sets a bit the spec does not define.",
  async run(ctx) {
    const fn = await rssRun(ctx, [], [{ kind: "net-hash-tunnel", types: 0xffff_ffff }]);
    const sent = tunnelSets(fn.controlLog);
    if (sent.length === 0) notApplicable("the driver sent no HASH_TUNNEL_SET");
    const bad = sent.filter(({ types }) => (types & ~NET_HASH_TUNNELS_ALL) !== 0);
    expectNone("only defined encapsulation types", bad, ({ types }) => `HASH_TUNNEL_SET ${hex(types >>> 0, 8)}`);
  },
});

/** The RSS driver clauses. */
export const NET_RSS_DRIVER_CLAUSES = [
  rssNeedsFeature,
  rssTableEnabledQueues,
  rssTablePowerOfTwo,
  rssTableWithinLength,
  rssSupportedHashTypes,
  rssContextNeedsFeature,
  rssContextIdsInRange,
  noPairsSetWithContexts,
  hashTunnelNeedsFeature,
  hashTunnelSupportedOnly,
  hashTunnelUndocumentedIgnored,
];
