/**
 * Driver clauses of spec 5.1 Network Device: configuration writes (5.1.4.2),
 * the header of what the driver transmits (5.1.9.2.1), its receive buffers
 * (5.1.9.3.1) and the control commands it may send (5.1.9.5). The harness
 * presents its reference net device, asks the driver to send one frame and
 * receive one, and reads what reached the device; a watched real driver is
 * judged on its register accesses only.
 *
 * @module
 */
import fc from "fast-check";
import type { WorkloadResult } from "../../harness/adapter.ts";
import { checkProperty } from "../../harness/core/property.ts";
import { le } from "../../harness/memory.ts";
import { defineDriverClause, type DriverClauseContext } from "../../harness/core/clause.ts";
import { bit, F, NET_F } from "../../harness/features.ts";
import {
  completeChecksum,
  GUEST_OFFLOAD_FEATURES,
  ipv4HeaderChecksumOk,
  type NetControlCommand,
  NetCtrl,
  NetFunction,
  NetGso,
  NetHdrFlag,
  type NetHeader,
  netHeaderSize,
  pseudoHeaderSum,
  sameOnesComplement,
  type Transmitted,
  transportChecksumOk,
  type TransportHeader,
  transportOf,
} from "../../harness/models/device/net.ts";
import { type Flow, flowFrame, tcpSegmentFrame } from "./net_io.ts";
import { TcpFlag, type TcpSegment, tcpSegmentOf } from "../../harness/models/device/net_lro.ts";
import { presentedFrame, type ScenarioTrace } from "../../harness/roles/harness_device.ts";
import { acceptedSets, accesses, fmtAccess } from "../../harness/roles/trace.ts";
import { hex } from "../../harness/text.ts";
import { Mmio } from "../../harness/transport/mmio_layout.ts";
import { expectNone, expectThat, notApplicable } from "../../harness/verify.ts";

const CONFIG = "drivernormative:Device Types / Network Device / Device configuration layout";
const TX = "drivernormative:Device Types / Network Device / Device Operation / Packet Transmission";
const RX_BUFFERS = "drivernormative:Device Types / Network Device / Device Operation / Setting Up Receive Buffers";
const RX_FILTER = "drivernormative:Device Types / Network Device / Device Operation / Control Virtqueue / " +
  "Packet Receive Filtering";
const MAC_FILTER = "drivernormative:Device Types / Network Device / Device Operation / Control Virtqueue / " +
  "Setting MAC Address Filtering";
const ANNOUNCE = "drivernormative:Device Types / Network Device / Device Operation / Control Virtqueue / " +
  "Gratuitous Packet Sending";
const OFFLOADS = "drivernormative:Device Types / Network Device / Device Operation / Control Virtqueue / " +
  "Offloads State Configuration / Setting Offloads State";
const NET = { deviceTypes: ["net" as const] };

export const noConfigWrites = defineDriverClause({
  label: CONFIG,
  statement: 1,
  level: "MUST NOT",
  title: "no writes to the network configuration fields",
  requirement: "The driver never writes the net device's configuration fields (mac, status, mtu and the rest are " +
    "the device's).",
  action: "Lets the driver probe the device, send and receive a frame and detach (a real driver: its whole run), " +
    "and looks for writes into the device-specific configuration space.",
  applies: NET,
  async run(ctx) {
    const t = await ctx.scenarios.baseline();
    const writes = accesses(t).filter((e) => e.kind === "write" && e.offset >= Mmio.Config);
    expectNone("no write to the configuration", writes, fmtAccess);
  },
});

/** The harness's net device as the scenario left it, or n/a (a watched driver's device is not the harness's). */
function netOf(ctx: DriverClauseContext, t: ScenarioTrace): NetFunction {
  if (ctx.scenarios.watched || !(t.fn instanceof NetFunction)) {
    notApplicable("the driver runs beside its own device: the harness does not see the frames it transmits");
  }
  if (!t.probe.bound) notApplicable(`the driver did not bind${t.probe.error ? `: ${t.probe.error}` : ""}`);
  return t.fn;
}

/** The mtu values the MTU clauses present (the IPv4 minimum for links, a small one, Ethernet, a jumbo frame). */
const MTUS = [576, 1000, 1500, 9000];

/** A scenario with a device showing `mtu` (VIRTIO_NET_F_MTU offered; MRG_RXBUF only with `merge`). */
async function withMtu(
  ctx: DriverClauseContext,
  mtu: number,
  merge: boolean,
  workloads: { kind: "net-send"; frame: Uint8Array }[] = [],
): Promise<{ net: NetFunction; negotiated: bigint }> {
  if (ctx.scenarios.watched) notApplicable("the driver runs beside its own device: the harness cannot set its mtu");
  const offered = (new NetFunction().features | bit(F.VERSION_1)) & ~(merge ? 0n : bit(NET_F.MRG_RXBUF));
  const t = await ctx.scenarios.run({
    knobs: { offered },
    configure: (_core, fn) => {
      if (!(fn instanceof NetFunction)) return;
      fn.mtu = mtu;
      le.setU16(fn.config, 10, mtu);
    },
    workloads: [...workloads, { kind: "net-receive" }],
  });
  const net = netOf(ctx, t);
  const negotiated = acceptedSets(t).at(-1) ?? 0n;
  if (!(negotiated & bit(NET_F.MTU))) notApplicable("the driver did not negotiate VIRTIO_NET_F_MTU");
  return { net, negotiated };
}

export const receiveRoomForMtu = defineDriverClause({
  label: CONFIG,
  statement: 8,
  level: "MUST",
  title: "receive buffers for a frame of mtu plus the Ethernet header",
  requirement: "With VIRTIO_NET_F_MTU negotiated the driver gives receive buffers that can take one frame of mtu " +
    "plus the Ethernet header (without segmentation offload): one buffer that large, or with MRG_RXBUF enough of " +
    "them together.",
  action: "Presents a net device showing an mtu of 576, 1000, 1500 or 9000, with and without MRG_RXBUF, lets the " +
    "driver probe it and receive a frame, and adds up the receive buffers it gave.",
  applies: NET,
  async run(ctx) {
    await checkProperty(
      ctx,
      fc.record({ mtu: fc.constantFrom(...MTUS), merge: fc.boolean() }),
      async ({ mtu, merge }) => {
        const { net, negotiated } = await withMtu(ctx, mtu, merge);
        const need = netHeaderSize(negotiated) + mtu + 14;
        const merged = (negotiated & bit(NET_F.MRG_RXBUF)) !== 0n;
        const room = merged ? net.receiveBuffers.reduce((a, b) => a + b, 0) : Math.max(0, ...net.receiveBuffers);
        expectThat(
          room >= need,
          `receive room for ${need} bytes (header, mtu ${mtu}, Ethernet header)`,
          () =>
            `${
              merged ? "all buffers together" : "the largest buffer"
            }: ${room} bytes (${net.receiveBuffers.length} given)`,
        );
      },
      ({ mtu, merge }) => `mtu ${mtu}, MRG_RXBUF ${merge ? "offered" : "not offered"}`,
    );
  },
});

export const noFrameBeyondMtu = defineDriverClause({
  label: CONFIG,
  statement: 9,
  level: "MUST NOT",
  title: "no transmitted frame longer than mtu plus the Ethernet header",
  requirement: "With VIRTIO_NET_F_MTU negotiated the driver never transmits a frame (without segmentation offload) " +
    "longer than mtu plus the Ethernet header.",
  action: "Presents a net device showing an mtu of 576, 1000 or 1500, asks the driver to send a frame of mtu + 14 " +
    "bytes and one of mtu + 15 (which it must refuse or cut), and checks the length of every frame that reached the " +
    "device.",
  applies: NET,
  async run(ctx) {
    await checkProperty(ctx, fc.constantFrom(576, 1000, 1500), async (mtu) => {
      const frame = (n: number) => {
        const f = new Uint8Array(n);
        f.set(presentedFrame(7).subarray(0, 14));
        return f;
      };
      const { net } = await withMtu(ctx, mtu, true, [
        { kind: "net-send", frame: frame(mtu + 14) },
        { kind: "net-send", frame: frame(mtu + 15) },
      ]);
      const long = net.transmitted.filter((x) => x.frame.length > mtu + 14);
      expectNone(`frames of at most ${mtu + 14} bytes`, long, (x) => `a ${x.frame.length}-byte frame (mtu ${mtu})`);
    }, (mtu) => `mtu ${mtu}`);
  },
});

/** A scenario offering `offered` (the harness device's features with those of `drop` cleared) and two sends. */
async function sending(
  ctx: DriverClauseContext,
  drop: number[] = [],
): Promise<{ t: ScenarioTrace; net: NetFunction; negotiated: bigint }> {
  if (ctx.scenarios.watched) {
    notApplicable("the driver runs beside its own device: the harness does not see the frames it transmits");
  }
  const offered = drop.reduce((m, f) => m & ~bit(f), new NetFunction().features | bit(F.VERSION_1));
  const t = await ctx.scenarios.run({
    knobs: { offered },
    workloads: [
      { kind: "net-send", frame: presentedFrame(11) },
      { kind: "net-send", frame: presentedFrame(12).slice(0, 42) },
      { kind: "net-receive" },
    ],
  });
  const net = netOf(ctx, t);
  if (net.transmitted.length === 0) notApplicable("the driver transmitted nothing");
  // The features in force during the run (the driver's removal reset the device).
  return { t, net, negotiated: acceptedSets(t).at(-1) ?? 0n };
}

const fmtTx = (x: Transmitted) =>
  `flags ${hex(x.header.flags, 2)}, gso_type ${hex(x.header.gsoType, 2)}, num_buffers ${
    x.header.numBuffers ?? "(none)"
  }, ${x.frame.length}-byte frame`;

export const txHeaderSize = defineDriverClause({
  label: TX,
  statement: 1,
  level: "MUST",
  title: "transmitted frames carry a header of the receive header's size",
  requirement: "The driver puts a struct virtio_net_hdr of the size in force (the same as on receive) before each " +
    "transmitted frame.",
  action: "Asks the driver to send two frames and checks that, after a header of the negotiated size, each packet " +
    "holds exactly the frame asked for (a shorter or longer header shifts it).",
  applies: NET,
  async run(ctx) {
    const { net, negotiated } = await sending(ctx);
    const size = netHeaderSize(negotiated);
    const want = [presentedFrame(11), presentedFrame(12).slice(0, 42)];
    const bad = net.transmitted.slice(0, 2).flatMap((x, i) => {
      const w = want[i]!;
      return x.frame.length === w.length && x.frame.every((b, k) => b === w[k])
        ? []
        : [`packet ${i + 1}: ${x.length} bytes, a ${w.length}-byte frame after a ${size}-byte header expected`];
    });
    expectNone(`frames after a ${size}-byte header`, bad, (s) => s);
  },
});

/** A transmit clause: every transmitted header must pass `ok` in a scenario offering the device without `drop`. */
function txClause(
  o: { statement: number; level: "MUST" | "MUST NOT"; title: string; requirement: string; drop?: number[] },
  expect: string,
  bad: (x: Transmitted) => boolean,
) {
  return defineDriverClause({
    label: TX,
    statement: o.statement,
    level: o.level,
    title: o.title,
    requirement: o.requirement,
    action: "Presents a net device" + (o.drop?.length ? " without the features named" : "") + ", asks the driver " +
      "to send two frames and checks the header of each packet that reached the device.",
    applies: NET,
    async run(ctx) {
      const { net } = await sending(ctx, o.drop ?? []);
      expectNone(expect, net.transmitted.filter(bad), fmtTx);
    },
  });
}

export const txNumBuffersZero = txClause(
  {
    statement: 2,
    level: "MUST",
    title: "num_buffers 0 in transmitted headers",
    requirement: "The driver sets num_buffers to 0 in the header of every frame it transmits.",
  },
  "num_buffers 0",
  (x) => (x.header.numBuffers ?? 0) !== 0,
);

export const txFlagsZeroWithoutCsum = txClause(
  {
    statement: 3,
    level: "MUST",
    title: "flags 0 in transmitted headers without VIRTIO_NET_F_CSUM",
    requirement: "Without VIRTIO_NET_F_CSUM negotiated the driver leaves flags 0 in every transmitted header.",
    drop: [NET_F.CSUM],
  },
  "flags 0",
  (x) => x.header.flags !== 0,
);

const gso = (statement: number, value: number, name: string, feature: number, fname: string) =>
  txClause(
    {
      statement,
      level: "MUST NOT",
      title: `no ${name} in gso_type without ${fname}`,
      requirement: `Without ${fname} negotiated the driver never asks for ${name} in a transmitted header.`,
      drop: [feature],
    },
    `gso_type other than ${name}`,
    (x) => (x.header.gsoType & 0x1f) === value,
  );

export const txNoTcpv4 = gso(7, NetGso.TCPV4, "VIRTIO_NET_HDR_GSO_TCPV4", NET_F.HOST_TSO4, "VIRTIO_NET_F_HOST_TSO4");
export const txNoTcpv6 = gso(9, NetGso.TCPV6, "VIRTIO_NET_HDR_GSO_TCPV6", NET_F.HOST_TSO6, "VIRTIO_NET_F_HOST_TSO6");
export const txNoUdp = gso(11, NetGso.UDP, "VIRTIO_NET_HDR_GSO_UDP", NET_F.HOST_UFO, "VIRTIO_NET_F_HOST_UFO");
export const txNoUdpL4 = gso(13, NetGso.UDP_L4, "VIRTIO_NET_HDR_GSO_UDP_L4", NET_F.HOST_USO, "VIRTIO_NET_F_HOST_USO");

const TUNNEL = NetGso.UDP_TUNNEL_IPV4 | NetGso.UDP_TUNNEL_IPV6;

export const txNoTunnelBits = txClause(
  {
    statement: 17,
    level: "MUST NOT",
    title: "no UDP tunnel bits in gso_type without HOST_UDP_TUNNEL_GSO",
    requirement: "Without VIRTIO_NET_F_HOST_UDP_TUNNEL_GSO negotiated the driver sets neither UDP tunnel bit in " +
      "gso_type.",
    drop: [NET_F.HOST_UDP_TUNNEL_GSO],
  },
  "no tunnel bit in gso_type",
  (x) => (x.header.gsoType & TUNNEL) !== 0,
);

export const txNoTunnelCsum = txClause(
  {
    statement: 22,
    level: "MUST NOT",
    title: "no UDP_TUNNEL_CSUM flag without HOST_UDP_TUNNEL_GSO_CSUM",
    requirement: "Without VIRTIO_NET_F_HOST_UDP_TUNNEL_GSO_CSUM negotiated the driver leaves " +
      "VIRTIO_NET_HDR_F_UDP_TUNNEL_CSUM clear.",
    drop: [NET_F.HOST_UDP_TUNNEL_GSO_CSUM],
  },
  "VIRTIO_NET_HDR_F_UDP_TUNNEL_CSUM clear",
  (x) => (x.header.flags & NetHdrFlag.UDP_TUNNEL_CSUM) !== 0,
);

export const txGsoNone = txClause(
  {
    statement: 31,
    level: "MUST",
    title: "gso_type NONE without transmit segmentation offload",
    requirement: "Without HOST_TSO4, HOST_TSO6, HOST_USO or HOST_UFO negotiated the driver sets gso_type to " +
      "VIRTIO_NET_HDR_GSO_NONE.",
    drop: [NET_F.HOST_TSO4, NET_F.HOST_TSO6, NET_F.HOST_USO, NET_F.HOST_UFO],
  },
  "gso_type 0 (NONE)",
  (x) => x.header.gsoType !== NetGso.NONE,
);

export const gsoNeedsCsum = txClause(
  {
    statement: 32,
    level: "MUST",
    title: "NEEDS_CSUM with any segmentation request",
    requirement: "When the driver asks for segmentation (gso_type other than NONE) it also sets " +
      "VIRTIO_NET_HDR_F_NEEDS_CSUM.",
  },
  "NEEDS_CSUM on every header with a gso_type",
  (x) => x.header.gsoType !== NetGso.NONE && (x.header.flags & NetHdrFlag.NEEDS_CSUM) === 0,
);

export const gsoHasSize = txClause(
  {
    statement: 33,
    level: "MUST",
    title: "gso_size set with any segmentation request",
    requirement: "When the driver asks for segmentation (gso_type other than NONE) it sets gso_size to the segment " +
      "size it wants.",
  },
  "gso_size on every header with a gso_type",
  (x) => x.header.gsoType !== NetGso.NONE && x.header.gsoSize === 0,
);

export const txNoTunnelBitsAgain = txClause(
  {
    statement: 42,
    level: "MUST NOT",
    title: "no UDP tunnel bits without HOST_UDP_TUNNEL_GSO (restated)",
    requirement: "The driver does not set the UDP tunnel bits of gso_type unless VIRTIO_NET_F_HOST_UDP_TUNNEL_GSO is " +
      "negotiated (the requirement of statement 17, stated again).",
    drop: [NET_F.HOST_UDP_TUNNEL_GSO],
  },
  "no tunnel bit in gso_type",
  (x) => (x.header.gsoType & TUNNEL) !== 0,
);

export const txNoTunnelCsumAgain = txClause(
  {
    statement: 43,
    level: "MUST NOT",
    title: "no UDP_TUNNEL_CSUM flag without HOST_UDP_TUNNEL_GSO_CSUM (restated)",
    requirement: "The driver does not set VIRTIO_NET_HDR_F_UDP_TUNNEL_CSUM unless " +
      "VIRTIO_NET_F_HOST_UDP_TUNNEL_GSO_CSUM is negotiated (statement 22, stated again).",
    drop: [NET_F.HOST_UDP_TUNNEL_GSO_CSUM],
  },
  "VIRTIO_NET_HDR_F_UDP_TUNNEL_CSUM clear",
  (x) => (x.header.flags & NetHdrFlag.UDP_TUNNEL_CSUM) !== 0,
);

export const txTunnelNotWithUdp = txClause(
  {
    statement: 24,
    level: "MUST NOT",
    title: "no UDP tunnel bit together with GSO_UDP",
    requirement: "The driver never combines a UDP tunnel bit of gso_type with VIRTIO_NET_HDR_GSO_UDP (tunnels go " +
      "with UDP_L4).",
  },
  "no tunnel bit with GSO_UDP",
  (x) => (x.header.gsoType & TUNNEL) !== 0 && (x.header.gsoType & 0x1f) === NetGso.UDP,
);

export const txNotBothTunnelBits = txClause(
  {
    statement: 25,
    level: "MUST NOT",
    title: "never both UDP tunnel bits",
    requirement: "The driver never sets VIRTIO_NET_HDR_GSO_UDP_TUNNEL_IPV4 and _IPV6 in the same gso_type.",
  },
  "at most one tunnel bit",
  (x) => (x.header.gsoType & TUNNEL) === TUNNEL,
);

export const txTunnelCsumNeedsTunnel = txClause(
  {
    statement: 26,
    level: "MUST NOT",
    title: "UDP_TUNNEL_CSUM only with a UDP tunnel bit",
    requirement: "The driver sets VIRTIO_NET_HDR_F_UDP_TUNNEL_CSUM only in a header whose gso_type has a UDP tunnel " +
      "bit.",
  },
  "UDP_TUNNEL_CSUM only with a tunnel bit",
  (x) => (x.header.flags & NetHdrFlag.UDP_TUNNEL_CSUM) !== 0 && (x.header.gsoType & TUNNEL) === 0,
);

export const txNoDataValidWithTunnel = txClause(
  {
    statement: 46,
    level: "MUST NOT",
    title: "no DATA_VALID with a UDP tunnel bit",
    requirement: "The driver never sets VIRTIO_NET_HDR_F_DATA_VALID in a header whose gso_type has a UDP tunnel bit.",
  },
  "no DATA_VALID with a tunnel bit",
  (x) => (x.header.flags & NetHdrFlag.DATA_VALID) !== 0 && (x.header.gsoType & TUNNEL) !== 0,
);

export const txNoReceiveFlags = txClause(
  {
    statement: 45,
    level: "MUST NOT",
    title: "no DATA_VALID or RSC_INFO in transmitted headers",
    requirement: "The driver never sets VIRTIO_NET_HDR_F_DATA_VALID or VIRTIO_NET_HDR_F_RSC_INFO (receive-side " +
      "flags) in a transmitted header.",
  },
  "DATA_VALID and RSC_INFO clear",
  (x) => (x.header.flags & (NetHdrFlag.DATA_VALID | NetHdrFlag.RSC_INFO)) !== 0,
);

export const mergedBuffersHoldHeader = defineDriverClause({
  label: RX_BUFFERS,
  statement: 3,
  level: "MUST",
  title: "each receive buffer at least a header long with MRG_RXBUF",
  requirement: "With VIRTIO_NET_F_MRG_RXBUF negotiated every receive buffer the driver gives holds at least a " +
    "struct virtio_net_hdr (12 bytes, 20 with HASH_REPORT).",
  action: "Presents a net device offering MRG_RXBUF, lets the driver probe it and receive a frame, and checks the " +
    "device-writable size of every receive buffer it gave.",
  applies: NET,
  async run(ctx) {
    const { net, negotiated } = await sending(ctx);
    if (!(negotiated & bit(NET_F.MRG_RXBUF))) notApplicable("the driver did not negotiate MRG_RXBUF");
    const size = netHeaderSize(negotiated);
    expectNone(
      `receive buffers of ${size} bytes or more`,
      net.receiveBuffers.filter((n) => n < size),
      (n) => `a ${n}-byte receive buffer`,
    );
  },
});

export const receiveHeaderSize = defineDriverClause({
  label: RX_BUFFERS,
  statement: 4,
  level: "MUST",
  title: "the receive header taken at the negotiated size",
  requirement: "The driver counts struct virtio_net_hdr at the size the negotiated features give it (12 bytes, 20 " +
    "with HASH_REPORT, 24 or 32 with the tunnel and outer-header features) when it parses a received packet.",
  action: "Puts a frame on the wire, asks the driver for what it received and compares: a driver that takes the " +
    "header at another size returns the frame shifted.",
  applies: NET,
  async run(ctx) {
    const { t } = await sending(ctx);
    const r: WorkloadResult | undefined = t.results[2];
    if (!r || !r.ok || !r.data) {
      notApplicable(`the driver did not report a received frame${r && !r.ok ? `: ${r.error}` : ""}`);
    }
    const want = presentedFrame(4);
    const same = r.data.length === want.length && r.data.every((b, i) => b === want[i]);
    expectThat(
      same,
      `the ${want.length}-byte frame put on the wire`,
      () => `${r.data!.length} bytes starting ${Array.from(r.data!.subarray(0, 8), (b) => hex(b, 2)).join(" ")}`,
    );
  },
});

/** A control clause: in a scenario offering CTRL_VQ but not `without`, no command of class `cls` (and `commands`). */
function noCommandWithout(
  o: { label: string; statement: number; title: string; requirement: string; without: number[] },
  forbidden: (cls: number, command: number) => boolean,
) {
  return defineDriverClause({
    label: o.label,
    statement: o.statement,
    level: "MUST NOT",
    title: o.title,
    requirement: o.requirement,
    action: "Presents a net device with the control queue but without the features named, lets the driver probe " +
      "it, send and receive, and checks the commands it sent on the control queue.",
    applies: NET,
    async run(ctx) {
      const { net } = await sending(ctx, o.without);
      const sent = net.controlLog.filter((c) => forbidden(c.cls, c.command));
      expectNone("no such command", sent, (c) => `class ${c.cls} command ${c.command}`);
    },
  });
}

export const noRxCommandsWithoutCtrlRx = noCommandWithout({
  label: RX_FILTER,
  statement: 1,
  title: "no PROMISC or ALLMULTI without VIRTIO_NET_F_CTRL_RX",
  requirement: "Without VIRTIO_NET_F_CTRL_RX negotiated the driver sends neither VIRTIO_NET_CTRL_RX_PROMISC nor " +
    "VIRTIO_NET_CTRL_RX_ALLMULTI.",
  without: [NET_F.CTRL_RX, NET_F.CTRL_RX_EXTRA],
}, (cls, command) => cls === NetCtrl.RX && command <= NetCtrl.RX_ALLMULTI);

export const noExtraCommandsWithoutRxExtra = noCommandWithout({
  label: RX_FILTER,
  statement: 2,
  title: "no ALLUNI, NOMULTI, NOUNI or NOBCAST without VIRTIO_NET_F_CTRL_RX_EXTRA",
  requirement: "Without VIRTIO_NET_F_CTRL_RX_EXTRA negotiated the driver sends none of the four extra receive-mode " +
    "commands.",
  without: [NET_F.CTRL_RX_EXTRA],
}, (cls, command) => cls === NetCtrl.RX && command >= NetCtrl.RX_ALLUNI && command <= NetCtrl.RX_NOBCAST);

export const noMacCommandsWithoutCtrlRx = noCommandWithout({
  label: MAC_FILTER,
  statement: 1,
  title: "no VIRTIO_NET_CTRL_MAC command without VIRTIO_NET_F_CTRL_RX",
  requirement: "Without VIRTIO_NET_F_CTRL_RX negotiated the driver sends no command of the VIRTIO_NET_CTRL_MAC class.",
  without: [NET_F.CTRL_RX, NET_F.CTRL_RX_EXTRA],
}, (cls) => cls === NetCtrl.MAC);

export const macTableWellFormed = defineDriverClause({
  label: MAC_FILTER,
  statement: 3,
  level: "MUST",
  title: "MAC_TABLE_SET data: a count and unicast addresses, a count and multicast addresses",
  requirement: "The data of VIRTIO_NET_CTRL_MAC_TABLE_SET is a le32 count followed by that many non-multicast MAC " +
    "addresses, then a le32 count followed by that many multicast addresses, and nothing else.",
  action:
    "Presents a net device offering CTRL_VQ and CTRL_RX, lets the driver probe it, send and receive, and parses " +
    "the data of each MAC_TABLE_SET it sent.",
  applies: NET,
  async run(ctx) {
    const { net } = await sending(ctx);
    const tables = net.controlLog.filter((c) => c.cls === NetCtrl.MAC && c.command === NetCtrl.MAC_TABLE_SET);
    if (tables.length === 0) notApplicable("the driver sent no MAC_TABLE_SET");
    expectNone("well-formed tables", tables.map(macTableProblem).filter((p) => p !== undefined), (p) => p!);
  },
});

/** What is wrong with a MAC_TABLE_SET's data, or undefined. */
function macTableProblem(c: NetControlCommand): string | undefined {
  const d = c.data;
  let off = 0;
  for (const [kind, multicast] of [["unicast", false], ["multicast", true]] as const) {
    if (off + 4 > d.length) return `${d.length} bytes end before the ${kind} count`;
    const n = le.u32(d, off);
    off += 4;
    if (off + 6 * n > d.length) return `${kind} count ${n} runs past the ${d.length} bytes`;
    for (let i = 0; i < n; i++, off += 6) {
      if (((d[off]! & 1) !== 0) !== multicast) {
        return `a ${multicast ? "unicast" : "multicast"} address in the ${kind} list`;
      }
    }
  }
  return off === d.length ? undefined : `${d.length - off} bytes after the multicast list`;
}

export const announceAcknowledged = defineDriverClause({
  label: ANNOUNCE,
  statement: 2,
  level: "MUST",
  title: "ANNOUNCE_ACK sent when the device asks for an announcement",
  requirement: "With VIRTIO_NET_F_GUEST_ANNOUNCE negotiated, a driver that sees VIRTIO_NET_S_ANNOUNCE in status " +
    "sends VIRTIO_NET_CTRL_ANNOUNCE_ACK on the control queue.",
  action: "Presents a net device offering CTRL_VQ, STATUS and GUEST_ANNOUNCE that sets VIRTIO_NET_S_ANNOUNCE (with a " +
    "configuration change notification) once the driver has sent a frame; lets it send and receive, then looks " +
    "for the ANNOUNCE_ACK among its control commands.",
  applies: NET,
  async run(ctx) {
    if (ctx.scenarios.watched) {
      notApplicable("the driver runs beside its own device: the harness cannot ask it to announce");
    }
    let asked = false;
    const t = await ctx.scenarios.run({
      configure: (core, fn) => {
        if (!(fn instanceof NetFunction)) return;
        fn.onTransmit = () => {
          if (asked) return;
          asked = true;
          core.changeConfig(() => fn.hostChange());
        };
      },
      workloads: [{ kind: "net-send", frame: presentedFrame(21) }, { kind: "net-receive" }, { kind: "net-receive" }],
    });
    const net = netOf(ctx, t);
    const negotiated = acceptedSets(t).at(-1) ?? 0n;
    const need = bit(NET_F.GUEST_ANNOUNCE) | bit(NET_F.CTRL_VQ);
    if ((negotiated & need) !== need) notApplicable("the driver did not negotiate GUEST_ANNOUNCE with CTRL_VQ");
    if (!asked) notApplicable("the driver sent no frame, so the device never asked for an announcement");
    const acks = net.controlLog.filter((c) => c.cls === NetCtrl.ANNOUNCE && c.command === NetCtrl.ANNOUNCE_ACK);
    expectThat(
      acks.length > 0,
      "an ANNOUNCE_ACK on the control queue",
      () => `commands sent: ${net.controlLog.map((c) => `${c.cls}/${c.command}`).join(", ") || "none"}`,
    );
  },
});

const STEERING = "drivernormative:Device Types / Network Device / Device Operation / Control Virtqueue / " +
  "Automatic receive steering in multiqueue mode";

/** A scenario with a multiqueue device (4 pairs) and four frames to send; n/a unless the driver negotiated MQ. */
async function multiqueue(ctx: DriverClauseContext): Promise<{ net: NetFunction; pairsSet: NetControlCommand[] }> {
  if (ctx.scenarios.watched) {
    notApplicable("the driver runs beside its own device: the harness does not see its queues' traffic");
  }
  const t = await ctx.scenarios.run({
    workloads: [
      ...[31, 32, 33, 34].map((n) => ({ kind: "net-send" as const, frame: presentedFrame(n) })),
      { kind: "net-receive" },
    ],
  });
  const net = netOf(ctx, t);
  const negotiated = acceptedSets(t).at(-1) ?? 0n;
  if (!(negotiated & bit(NET_F.MQ))) notApplicable("the driver did not negotiate VIRTIO_NET_F_MQ");
  return { net, pairsSet: net.controlLog.filter((c) => c.cls === NetCtrl.MQ && c.command === 0) };
}

const pairsOf = (c: NetControlCommand) => c.data.length === 2 ? c.data[0]! | (c.data[1]! << 8) : -1;

export const queuesReadyBeforePairsSet = defineDriverClause({
  label: STEERING,
  statement: 1,
  level: "MUST",
  title: "the queues of every pair set up before VQ_PAIRS_SET",
  requirement: "When the driver asks VQ_PAIRS_SET for N pairs, it has already set up and enabled receiveq1 to " +
    "receiveqN and transmitq1 to transmitqN.",
  action: "Presents a net device with MQ and 4 queue pairs, lets the driver probe it, send four frames and receive " +
    "one, and compares each VQ_PAIRS_SET with the queues enabled when the device took it.",
  applies: NET,
  async run(ctx) {
    const { pairsSet } = await multiqueue(ctx);
    if (pairsSet.length === 0) notApplicable("the driver sent no VQ_PAIRS_SET");
    const missing = (c: NetControlCommand) =>
      Array.from({ length: 2 * Math.max(0, pairsOf(c)) }, (_, q) => q).filter((q) => !c.enabledQueues?.includes(q));
    expectNone(
      "every queue of the pairs asked for enabled first",
      pairsSet.filter((c) => missing(c).length > 0),
      (c) => `VQ_PAIRS_SET ${pairsOf(c)} with queue(s) ${missing(c).join(", ")} not enabled`,
    );
  },
});

export const pairsRequestInRange = defineDriverClause({
  label: STEERING,
  statement: 2,
  level: "MUST NOT",
  title: "VQ_PAIRS_SET neither 0 nor beyond max_virtqueue_pairs",
  requirement: "The driver never asks VQ_PAIRS_SET for 0 queue pairs or for more than max_virtqueue_pairs.",
  action: "Presents a net device with MQ and 4 queue pairs, lets the driver probe it, send four frames and receive " +
    "one, and reads the pair counts of its VQ_PAIRS_SET commands.",
  applies: NET,
  async run(ctx) {
    const { net, pairsSet } = await multiqueue(ctx);
    expectNone(
      `VQ_PAIRS_SET between 1 and ${net.pairs}`,
      pairsSet.filter((c) => pairsOf(c) < 1 || pairsOf(c) > net.pairs),
      (c) => `VQ_PAIRS_SET ${pairsOf(c)}`,
    );
  },
});

export const transmitq1BeforePairsSet = defineDriverClause({
  label: STEERING,
  statement: 3,
  level: "MUST",
  title: "frames only on transmitq1 before VQ_PAIRS_SET",
  requirement: "Until it has sent VQ_PAIRS_SET, the driver transmits on transmitq1 only.",
  action: "Presents a net device with MQ and 4 queue pairs, lets the driver send four frames, and checks the " +
    "transmit queue of every frame the device took before the first VQ_PAIRS_SET.",
  applies: NET,
  async run(ctx) {
    const { net, pairsSet } = await multiqueue(ctx);
    const first = pairsSet[0]?.seq ?? Infinity;
    expectNone(
      "frames before VQ_PAIRS_SET on transmitq1 (queue 1)",
      net.transmitted.filter((x) => x.seq < first && x.queue !== 1),
      (x) => `a frame on queue ${x.queue} before VQ_PAIRS_SET`,
    );
  },
});

export const noTransmitqBeyondPairs = defineDriverClause({
  label: STEERING,
  statement: 4,
  level: "MUST NOT",
  title: "no frame on a transmit queue beyond the pairs set",
  requirement: "Once it has made VQ_PAIRS_SET for n pairs available, the driver transmits on transmitq1 … " +
    "transmitqn only.",
  action: "Presents a net device with MQ and 4 queue pairs, lets the driver send four frames, and checks the " +
    "transmit queue of every frame the device took after each VQ_PAIRS_SET against the pairs it set.",
  applies: NET,
  async run(ctx) {
    const { net, pairsSet } = await multiqueue(ctx);
    if (pairsSet.length === 0) notApplicable("the driver sent no VQ_PAIRS_SET");
    const bad = net.transmitted.filter((x) => {
      const last = pairsSet.findLast((c) => c.seq < x.seq);
      return last !== undefined && x.queue >= 2 * pairsOf(last);
    });
    expectNone("frames on the transmit queues of the pairs set", bad, (x) => `a frame on queue ${x.queue}`);
  },
});

export const unknownReceiveFlagsIgnored = defineDriverClause({
  label: "drivernormative:Device Types / Network Device / Device Operation / Processing of Incoming Packets",
  statement: 1,
  level: "MUST",
  title: "unknown flag bits of a received header ignored",
  requirement: "The driver ignores flag bits of a received header that it does not know: the frame is taken as if " +
    "they were clear.",
  action: "Presents a net device whose received headers carry flag bit 0x80 (no meaning in any feature), puts a " +
    "frame on the wire and checks the driver reports exactly that frame received.",
  applies: NET,
  async run(ctx) {
    if (ctx.scenarios.watched) notApplicable("the driver runs beside its own device: the harness cannot set its flags");
    const t = await ctx.scenarios.run({
      configure: (_core, fn) => {
        if (fn instanceof NetFunction) fn.extraReceiveFlags = 0x80;
      },
      workloads: [{ kind: "net-receive" }],
    });
    netOf(ctx, t);
    const r = t.results[0];
    const want = presentedFrame(2);
    const same = r?.ok === true && r.data !== undefined && r.data.length === want.length &&
      r.data.every((b, i) => b === want[i]);
    expectThat(
      same,
      `the ${want.length}-byte frame received`,
      () => r === undefined ? "no result" : r.ok ? `${r.data?.length ?? 0} bytes` : r.error,
    );
  },
});

/**
 * A clause on received packets the driver must not accept: the harness's device gives every received packet one of
 * `cases`' headers, a frame goes on the wire, and the driver must not report it received.
 */
function notAcceptedClause(o: {
  statement: number;
  title: string;
  requirement: string;
  cases: { name: string; header: Partial<NetHeader> }[];
}) {
  return defineDriverClause({
    label: "drivernormative:Device Types / Network Device / Device Operation / Processing of Incoming Packets",
    statement: o.statement,
    level: "MUST NOT",
    title: o.title,
    requirement: o.requirement,
    action: `Presents a net device whose received headers have ${
      o.cases.map((c) => c.name).join(", or ")
    } (one scenario each), puts a frame on the wire and checks the driver does not report it received.`,
    applies: NET,
    async run(ctx) {
      if (ctx.scenarios.watched) {
        notApplicable("the driver runs beside its own device: the harness cannot set its header");
      }
      if (!ctx.target.info.workloads.includes("net-receive")) notApplicable("the driver does not declare net-receive");
      const bad: string[] = [];
      for (const c of o.cases) {
        const t = await ctx.scenarios.run({
          configure: (_core, fn) => {
            if (fn instanceof NetFunction) fn.extraReceiveHeader = c.header;
          },
          workloads: [{ kind: "net-receive" }],
        });
        netOf(ctx, t);
        // One frame went on the wire: any frame the driver reports is that one (maybe with its checksum completed).
        const r = t.results[0];
        if (r?.ok && r.data !== undefined) bad.push(`${c.name}: a ${r.data.length}-byte frame was reported received`);
      }
      expectNone("no such packet accepted", bad, (s) => s);
    },
  });
}

const TUNNEL_RX: Partial<NetHeader> = {
  flags: NetHdrFlag.NEEDS_CSUM,
  gsoType: NetGso.TCPV4 | NetGso.UDP_TUNNEL_IPV4,
  gsoSize: 1000,
  csumStart: 34,
  csumOffset: 6,
};

export const rxBothTunnelBitsDropped = notAcceptedClause({
  statement: 8,
  title: "a received packet with both UDP tunnel bits is not accepted",
  requirement: "The driver does not accept a received packet whose gso_type has both UDP tunnel bits set.",
  cases: [{ name: "both tunnel bits", header: { ...TUNNEL_RX, gsoType: NetGso.TCPV4 | TUNNEL } }],
});

export const rxMalformedTunnelDropped = notAcceptedClause({
  statement: 10,
  title: "a received UDP tunnel packet without NEEDS_CSUM, with DATA_VALID or without a segmentation type is dropped",
  requirement: "The driver does not accept a received packet with a UDP tunnel bit whose flags lack NEEDS_CSUM, " +
    "carry DATA_VALID, or whose gso_type names no segmentation besides the tunnel bit.",
  cases: [
    { name: "a tunnel bit without NEEDS_CSUM", header: { ...TUNNEL_RX, flags: 0 } },
    {
      name: "a tunnel bit with DATA_VALID",
      header: { ...TUNNEL_RX, flags: NetHdrFlag.NEEDS_CSUM | NetHdrFlag.DATA_VALID },
    },
    { name: "a tunnel bit over GSO_NONE", header: { ...TUNNEL_RX, gsoType: NetGso.UDP_TUNNEL_IPV4 } },
  ],
});

export const csumFieldsUnusedWithoutNeedsCsum = defineDriverClause({
  label: "drivernormative:Device Types / Network Device / Device Operation / Processing of Incoming Packets",
  statement: 4,
  level: "MUST NOT",
  title: "csum_start and csum_offset of a received header unused without NEEDS_CSUM",
  requirement: "When a received header does not have VIRTIO_NET_HDR_F_NEEDS_CSUM set, the driver makes no use of its " +
    "csum_start and csum_offset: the frame is taken as it came.",
  action: "Presents a net device whose received headers carry csum_start 14 and csum_offset 6 (pointing into the " +
    "frame) without NEEDS_CSUM, puts a frame on the wire and checks the driver reports exactly that frame received.",
  applies: NET,
  async run(ctx) {
    if (ctx.scenarios.watched) {
      notApplicable("the driver runs beside its own device: the harness cannot set its header");
    }
    const t = await ctx.scenarios.run({
      configure: (_core, fn) => {
        if (fn instanceof NetFunction) fn.extraReceiveHeader = { csumStart: 14, csumOffset: 6 };
      },
      workloads: [{ kind: "net-receive" }],
    });
    netOf(ctx, t);
    const r = t.results[0];
    const want = presentedFrame(2);
    if (!r?.ok || r.data === undefined) {
      notApplicable(`the driver received no frame: ${r && !r.ok ? r.error : "no result"}`);
    }
    const changed = [...want.keys()].filter((i) => r.data![i] !== want[i]);
    expectThat(
      r.data.length === want.length && changed.length === 0,
      `the ${want.length}-byte frame received unchanged`,
      () => `${r.data!.length} bytes, ${changed.length} changed (the first at ${changed[0]})`,
    );
  },
});

/** The frames the checksum clauses ask the driver to send: IPv4/UDP, IPv4/TCP and IPv6/TCP, all to broadcast. */
function checksumFrames(): Uint8Array[] {
  const flow = (kind: Flow["kind"], seed: number): Flow => ({
    kind,
    src: Array.from({ length: 16 }, (_, i) => (seed * 37 + i * 11) & 0xff),
    dst: Array.from({ length: 16 }, (_, i) => (seed * 53 + i * 7) & 0xff),
    sport: 1000 + seed,
    dport: 2000 + seed,
  });
  const to = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
  return [flowFrame(to, flow("udp4", 1), 1), flowFrame(to, flow("tcp4", 2), 2), flowFrame(to, flow("tcp6", 3), 3)];
}

/**
 * Presents the harness's net device (it offers CSUM), asks the driver to send TCP and UDP frames and returns the
 * packets that asked for checksum offload (NEEDS_CSUM) with their transport header; n/a when none did.
 */
async function checksumOffloaded(ctx: DriverClauseContext) {
  if (ctx.scenarios.watched) {
    notApplicable("the driver runs beside its own device: the harness does not see the frames it transmits");
  }
  const t = await ctx.scenarios.run({ workloads: checksumFrames().map((frame) => ({ kind: "net-send", frame })) });
  const net = netOf(ctx, t);
  const asked = net.transmitted.flatMap((x) => {
    const partial = x.partial;
    const th = partial ? transportOf(partial) : undefined;
    return (x.header.flags & NetHdrFlag.NEEDS_CSUM) && partial && th ? [{ x, partial, th }] : [];
  });
  if (asked.length === 0) notApplicable("the driver asked for no checksum offload on TCP or UDP frames");
  return asked;
}

const CSUM_ACTION = "Presents a net device offering CSUM, asks the driver to send an IPv4/UDP, an IPv4/TCP and an " +
  "IPv6/TCP frame and, for each packet with NEEDS_CSUM, checks ";
const fmtCsum = (p: { x: Transmitted; th: TransportHeader }) =>
  `${p.th.v6 ? "IPv6" : "IPv4"}/${p.th.proto === 6 ? "TCP" : "UDP"} frame of ${p.x.frame.length} bytes, ` +
  `csum_start ${p.x.header.csumStart}, csum_offset ${p.x.header.csumOffset}`;

export const csumPrecedingValid = defineDriverClause({
  label: TX,
  statement: 28,
  level: "MUST",
  title: "checksums before the one offloaded are right",
  applies: NET,
  requirement: "When the driver asks the device to complete a checksum (NEEDS_CSUM), every checksum before that one " +
    "in the packet (the IPv4 header checksum) is already right.",
  action: `${CSUM_ACTION}the IPv4 header checksum.`,
  async run(ctx) {
    const bad = (await checksumOffloaded(ctx)).filter((p) => ipv4HeaderChecksumOk(p.partial) === false);
    expectNone("a right IPv4 header checksum", bad, (p) => `${fmtCsum(p)}: IPv4 header checksum wrong`);
  },
});

export const csumFieldPseudoHeader = defineDriverClause({
  label: TX,
  statement: 29,
  level: "MUST",
  title: "the offloaded checksum field holds the pseudo-header sum",
  applies: NET,
  requirement: "When the driver sets NEEDS_CSUM, the TCP or UDP checksum field of the packet holds the sum of the " +
    "TCP/UDP pseudo header (addresses, protocol, length).",
  action: `${CSUM_ACTION}the checksum field against the pseudo-header sum the harness computes.`,
  async run(ctx) {
    const bad = (await checksumOffloaded(ctx)).flatMap((p) => {
      const at = p.th.start + p.th.csumOffset;
      const got = (p.partial[at]! << 8) | p.partial[at + 1]!;
      const want = pseudoHeaderSum(p.partial, p.th);
      // 0 and 0xffff are the same ones' complement value.
      return sameOnesComplement(got, want)
        ? []
        : [`${fmtCsum(p)}: field ${hex(got, 4)}, pseudo-header sum ${hex(want, 4)}`];
    });
    expectNone("the pseudo-header sum in the checksum field", bad, (s) => s);
  },
});

export const csumPositionsComplete = defineDriverClause({
  label: TX,
  statement: 30,
  level: "MUST",
  title: "csum_start and csum_offset complete the checksum",
  applies: NET,
  requirement: "With NEEDS_CSUM the driver sets csum_start and csum_offset so that the ones' complement sum from " +
    "csum_start to the end of the packet, stored at csum_offset from csum_start, makes the packet fully checksummed.",
  action: `${CSUM_ACTION}that completing the checksum as the header says gives a right TCP or UDP checksum.`,
  async run(ctx) {
    const bad = (await checksumOffloaded(ctx)).filter((p) => {
      const done = p.partial.slice();
      return !completeChecksum(done, p.x.header.csumStart, p.x.header.csumOffset) ||
        transportChecksumOk(done) !== true;
    });
    expectNone("a fully checksummed packet once completed", bad, (p) => `${fmtCsum(p)}: checksum wrong once completed`);
  },
});

/**
 * Presents the harness's net device (it offers HOST_TSO4, HOST_TSO6, HOST_ECN and GUEST_HDRLEN), asks the driver to
 * send large IPv4 and IPv6 TCP packets (the first with CWR set), and returns the segmentation requests it made (one
 * per packet, with the packet as the driver wrote it) and the features in force; n/a when it made none.
 */
async function segmentationRequests(ctx: DriverClauseContext, drop: number[] = []) {
  if (ctx.scenarios.watched) {
    notApplicable("the driver runs beside its own device: the harness does not see the frames it transmits");
  }
  const to = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
  const frames = [
    tcpSegmentFrame(to, 1, false, 1000, 4000, TcpFlag.ACK | TcpFlag.CWR, true),
    tcpSegmentFrame(to, 2, true, 9000, 3000, TcpFlag.ACK | TcpFlag.PSH, true),
  ];
  const offered = drop.reduce((m, f) => m & ~bit(f), new NetFunction().features | bit(F.VERSION_1));
  const t = await ctx.scenarios.run({
    knobs: { offered },
    workloads: frames.map((frame) => ({ kind: "net-send", frame })),
  });
  const net = netOf(ctx, t);
  const negotiated = acceptedSets(t).at(-1) ?? 0n;
  const seen = new Set<Uint8Array>();
  const asked = net.transmitted.flatMap((x) => {
    const raw = x.partial ?? x.frame;
    if (x.header.gsoType === NetGso.NONE || seen.has(raw)) return [];
    seen.add(raw);
    const seg = tcpSegmentOf(raw);
    return seg ? [{ x, seg }] : [];
  });
  if (asked.length === 0) notApplicable("the driver asked for no TCP segmentation");
  return { asked, negotiated };
}

const fmtGso = (p: { x: Transmitted; seg: TcpSegment }) =>
  `a ${p.x.partial?.length ?? p.x.frame.length}-byte ${p.seg.t.v6 ? "IPv6" : "IPv4"}/TCP packet, gso_type ${
    hex(p.x.header.gsoType, 2)
  }, hdr_len ${p.x.header.hdrLen}`;

export const gsoEcnMarked = defineDriverClause({
  label: TX,
  statement: 15,
  level: "MUST",
  title: "GSO_ECN on a segmentation request for a TCP packet with CWR (HOST_ECN)",
  applies: NET,
  requirement:
    "With VIRTIO_NET_F_HOST_ECN negotiated, a TCP packet the driver sends for segmentation whose TCP header " +
    "has the congestion bit (CWR) set carries VIRTIO_NET_HDR_GSO_ECN in gso_type.",
  action: "Presents a net device offering HOST_TSO4, HOST_TSO6 and HOST_ECN, asks the driver to send a 4000-byte " +
    "IPv4/TCP packet with CWR set and a 3000-byte IPv6/TCP one, and checks each segmentation request with CWR.",
  async run(ctx) {
    const { asked, negotiated } = await segmentationRequests(ctx);
    if (!(negotiated & bit(NET_F.HOST_ECN))) notApplicable("VIRTIO_NET_F_HOST_ECN was not negotiated");
    const bad = asked.filter((p) => p.seg.flags & TcpFlag.CWR && !(p.x.header.gsoType & NetGso.ECN));
    expectNone("GSO_ECN with CWR", bad, fmtGso);
  },
});

export const gsoHdrLenExact = defineDriverClause({
  label: TX,
  statement: 34,
  level: "MUST",
  title: "hdr_len the exact header length with GUEST_HDRLEN",
  applies: NET,
  requirement: "With VIRTIO_NET_F_GUEST_HDRLEN negotiated, a segmentation request's hdr_len is exactly the length of " +
    "the packet's headers, transport header included.",
  action: "Presents a net device offering HOST_TSO4, HOST_TSO6 and GUEST_HDRLEN, asks the driver to send a " +
    "4000-byte IPv4/TCP and a 3000-byte IPv6/TCP packet, and checks hdr_len of each segmentation request against the " +
    "headers the harness parses.",
  async run(ctx) {
    const { asked, negotiated } = await segmentationRequests(ctx);
    if (!(negotiated & bit(NET_F.GUEST_HDRLEN))) notApplicable("VIRTIO_NET_F_GUEST_HDRLEN was not negotiated");
    const bad = asked.filter((p) => p.x.header.hdrLen !== p.seg.t.start + p.seg.headerLength);
    expectNone(
      "hdr_len the length of the headers",
      bad,
      (p) => `${fmtGso(p)}: the headers are ${p.seg.t.start + p.seg.headerLength} bytes`,
    );
  },
});

export const gsoNoEcnWithoutFeature = defineDriverClause({
  label: TX,
  statement: 14,
  level: "SHOULD NOT",
  title: "no segmentation request for a TCP packet with CWR without HOST_ECN",
  applies: NET,
  requirement: "Without VIRTIO_NET_F_HOST_ECN negotiated the driver does not send for segmentation a TCP packet with " +
    "the congestion bit (CWR) set.",
  action: "Presents a net device offering HOST_TSO4 and HOST_TSO6 but not HOST_ECN, asks the driver to send a " +
    "4000-byte IPv4/TCP packet with CWR set and a 3000-byte IPv6/TCP one, and checks the segmentation requests.",
  async run(ctx) {
    const { asked } = await segmentationRequests(ctx, [NET_F.HOST_ECN]);
    expectNone("no CWR in a segmentation request", asked.filter((p) => p.seg.flags & TcpFlag.CWR), fmtGso);
  },
});

export const gsoHdrLenCovers = defineDriverClause({
  label: TX,
  statement: 35,
  level: "SHOULD",
  title: "hdr_len covers the headers without GUEST_HDRLEN",
  applies: NET,
  requirement: "Without VIRTIO_NET_F_GUEST_HDRLEN, a segmentation request's hdr_len is at least the length of the " +
    "packet's headers, transport header included.",
  action: "Presents a net device offering HOST_TSO4 and HOST_TSO6 but not GUEST_HDRLEN, asks the driver to send a " +
    "4000-byte IPv4/TCP and a 3000-byte IPv6/TCP packet, and checks hdr_len of each segmentation request.",
  async run(ctx) {
    const { asked } = await segmentationRequests(ctx, [NET_F.GUEST_HDRLEN]);
    const bad = asked.filter((p) => p.x.header.hdrLen < p.seg.t.start + p.seg.headerLength);
    expectNone("hdr_len covering the headers", bad, fmtGso);
  },
});

export const guestHdrLenAccepted = defineDriverClause({
  label: TX,
  statement: 44,
  level: "SHOULD",
  title: "GUEST_HDRLEN accepted by a driver that gives exact header lengths",
  applies: NET,
  requirement: "A driver able to give the exact header length accepts VIRTIO_NET_F_GUEST_HDRLEN when the device " +
    "offers it.",
  action: "Presents a net device offering HOST_TSO4, HOST_TSO6 and GUEST_HDRLEN, asks the driver to send large TCP " +
    "packets, and, when every segmentation request carries the exact header length, checks GUEST_HDRLEN was " +
    "accepted.",
  async run(ctx) {
    const { asked, negotiated } = await segmentationRequests(ctx);
    const exact = asked.every((p) => p.x.header.hdrLen === p.seg.t.start + p.seg.headerLength);
    if (!exact) notApplicable("the driver does not give exact header lengths");
    expectThat((negotiated & bit(NET_F.GUEST_HDRLEN)) !== 0n, "GUEST_HDRLEN accepted", () => "refused");
  },
});

/** GUEST_OFFLOADS_SET bits the offloads clause asks for: GUEST_CSUM, GUEST_TSO4, GUEST_ECN, GUEST_USO4. */
const ASKED_OFFLOADS = [1, 7, 9, 54];

export const offloadsNegotiatedOnly = defineDriverClause({
  label: OFFLOADS,
  statement: 1,
  level: "MUST NOT",
  title: "GUEST_OFFLOADS_SET enables only negotiated offloads",
  applies: NET,
  requirement: "A GUEST_OFFLOADS_SET command enables no offload whose feature bit was not negotiated.",
  action: "Presents a net device offering CTRL_GUEST_OFFLOADS and GUEST_CSUM but no receive segmentation offload, " +
    "asks the driver to enable GUEST_CSUM, GUEST_TSO4, GUEST_ECN and GUEST_USO4, and checks each GUEST_OFFLOADS_SET " +
    "against the features negotiated when it came.",
  async run(ctx) {
    if (ctx.scenarios.watched) {
      notApplicable("the driver runs beside its own device: the harness sees no control queue");
    }
    if (!ctx.target.info.workloads.includes("net-offloads")) notApplicable("the driver does not declare net-offloads");
    const t = await ctx.scenarios.run({ workloads: [{ kind: "net-offloads", offloads: ASKED_OFFLOADS }] });
    const net = netOf(ctx, t);
    const sent = net.controlLog.filter((c) => c.cls === NetCtrl.GUEST_OFFLOADS);
    if (sent.length === 0) notApplicable("the driver sent no GUEST_OFFLOADS_SET");
    const bad = sent.flatMap((c) => {
      if (c.data.length !== 8) return [];
      const mask = BigInt(le.u32(c.data, 0)) | (BigInt(le.u32(c.data, 4)) << 32n);
      const off: number[] = [];
      for (let b = 0; b < 64; b++) {
        if (!(mask & (1n << BigInt(b)))) continue;
        const f = GUEST_OFFLOAD_FEATURES[b];
        if (f === undefined || !(c.negotiated & bit(f))) off.push(b);
      }
      return off.length > 0
        ? [`offloads ${hex(Number(mask & 0xffff_ffffn), 8)}: bit ${off.join(", ")} not negotiated`]
        : [];
    });
    expectNone("only negotiated offloads enabled", bad, (s) => s);
  },
});

/** The driver clauses of spec 5.1. */
export const NET_DRIVER_CLAUSES = [
  noConfigWrites,
  offloadsNegotiatedOnly,
  gsoEcnMarked,
  gsoHdrLenExact,
  gsoNoEcnWithoutFeature,
  gsoHdrLenCovers,
  guestHdrLenAccepted,
  csumPrecedingValid,
  csumFieldPseudoHeader,
  csumPositionsComplete,
  receiveRoomForMtu,
  noFrameBeyondMtu,
  txHeaderSize,
  txNumBuffersZero,
  txFlagsZeroWithoutCsum,
  txNoTcpv4,
  txNoTcpv6,
  txNoUdp,
  txNoUdpL4,
  txNoTunnelBits,
  txNoTunnelCsum,
  txGsoNone,
  gsoNeedsCsum,
  gsoHasSize,
  txNoTunnelBitsAgain,
  txNoTunnelCsumAgain,
  txTunnelNotWithUdp,
  txNotBothTunnelBits,
  txTunnelCsumNeedsTunnel,
  txNoDataValidWithTunnel,
  txNoReceiveFlags,
  mergedBuffersHoldHeader,
  receiveHeaderSize,
  noRxCommandsWithoutCtrlRx,
  noExtraCommandsWithoutRxExtra,
  noMacCommandsWithoutCtrlRx,
  macTableWellFormed,
  announceAcknowledged,
  unknownReceiveFlagsIgnored,
  csumFieldsUnusedWithoutNeedsCsum,
  rxBothTunnelBitsDropped,
  rxMalformedTunnelDropped,
  queuesReadyBeforePairsSet,
  pairsRequestInRange,
  transmitq1BeforePairsSet,
  noTransmitqBeyondPairs,
];
