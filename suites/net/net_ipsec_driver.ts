/**
 * Driver clauses of the network device's IPsec SAs (spec 5.1.9.7.5): the harness presents a net device with an
 * administration virtqueue and IPsec capabilities (PCI), asks the driver for the `net-ipsec` workload and judges
 * the administration commands it sent — the capabilities queried, read and set before SAs, and the SA parameters.
 *
 * @module
 */
import { defineDriverClause, type DriverClauseContext } from "../../harness/core/clause.ts";
import { le } from "../../harness/memory.ts";
import { AdminOpcode } from "../../harness/models/device/admin_command.ts";
import {
  decodeIpsecModes,
  decodeIpsecSa,
  IpsecDirection,
  IpsecMode,
  NetIpsecCap,
  NetIpsecObject,
} from "../../harness/models/device/net_ipsec.ts";
import { expectNone, notApplicable } from "../../harness/verify.ts";

const IPSEC = "drivernormative:Device Types / Network Device / Device Operation / IPsec Operation";
const APPLIES = { transports: ["pci" as const], deviceTypes: ["net" as const] };
const SA_TYPES: number[] = [NetIpsecObject.OUTB_SA, NetIpsecObject.INB_SA];
const CAPS = [NetIpsecCap.RESOURCE, NetIpsecCap.SA];

/** One administration command the driver sent. */
interface Sent {
  opcode: number;
  data: Uint8Array;
  ok: boolean;
  /** The device's `command_specific_result`. */
  result: Uint8Array;
}

/** The administration commands of the `net-ipsec` workload and the SA capability the device reported. */
async function ipsecRun(ctx: DriverClauseContext): Promise<Sent[]> {
  if (ctx.scenarios.watched) notApplicable("the driver runs beside its own device: the harness sees no admin queue");
  if (!ctx.target.info.workloads.includes("net-ipsec")) notApplicable("the driver does not declare net-ipsec");
  const t = await ctx.scenarios.run({ workloads: [{ kind: "net-ipsec" }] });
  if (!t.probe.bound) notApplicable("the driver did not bind");
  const log = t.core.admin?.log ?? [];
  if (log.length === 0) notApplicable("the driver sent no administration command");
  return log.map((e) => ({
    opcode: e.cmd.opcode,
    data: e.cmd.data,
    ok: e.result.status === 0,
    result: e.result.result,
  }));
}

const isSaCreate = (s: Sent) =>
  s.opcode === AdminOpcode.RESOURCE_OBJ_CREATE && s.data.length >= 8 && SA_TYPES.includes(le.u16(s.data, 0));
const capId = (s: Sent) => s.data.length >= 2 ? le.u16(s.data, 0) : -1;

/** SA creates that came before `seen(sent so far)` held; one sentence each. */
function createsBefore(sent: Sent[], what: string, seen: (before: Sent[]) => boolean): string[] {
  const bad: string[] = [];
  sent.forEach((s, i) => {
    if (isSaCreate(s) && !seen(sent.slice(0, i))) {
      bad.push(`SA 0x${le.u16(s.data, 0).toString(16)} created before ${what}`);
    }
  });
  return bad;
}

const ACTION = "Presents a net device with an administration virtqueue and IPsec (PCI), runs the driver's net-ipsec " +
  "workload and checks ";

export const ipsecQueriesCaps = defineDriverClause({
  label: IPSEC,
  statement: 1,
  level: "MUST",
  title: "capabilities listed with CAP_ID_LIST_QUERY before SAs",
  requirement: "The driver discovers the capabilities the device offers with CAP_ID_LIST_QUERY before it uses IPsec.",
  action: ACTION + "a CAP_ID_LIST_QUERY came before every SA create.",
  applies: APPLIES,
  async run(ctx) {
    const sent = await ipsecRun(ctx);
    expectNone(
      "CAP_ID_LIST_QUERY first",
      createsBefore(
        sent,
        "CAP_ID_LIST_QUERY",
        (b) => b.some((s) => s.opcode === AdminOpcode.CAP_ID_LIST_QUERY && s.ok),
      ),
      (x) => x,
    );
  },
});

export const ipsecGetsCaps = defineDriverClause({
  label: IPSEC,
  statement: 2,
  level: "MUST",
  title: "both IPsec capabilities read before SAs",
  requirement: "The driver reads the IPsec resource and SA capabilities (DEVICE_CAP_GET) before it creates SAs.",
  action: ACTION + "DEVICE_CAP_GET of both came before every SA create.",
  applies: APPLIES,
  async run(ctx) {
    const sent = await ipsecRun(ctx);
    expectNone(
      "DEVICE_CAP_GET of both first",
      createsBefore(
        sent,
        "DEVICE_CAP_GET of both capabilities",
        (b) => CAPS.every((c) => b.some((s) => s.opcode === AdminOpcode.DEVICE_CAP_GET && s.ok && capId(s) === c)),
      ),
      (x) => x,
    );
  },
});

export const ipsecSetsCaps = defineDriverClause({
  label: IPSEC,
  statement: 3,
  level: "MUST",
  title: "both IPsec capabilities set before SAs",
  requirement: "The driver sets the IPsec resource and SA capabilities (DRIVER_CAP_SET) to say what it uses, " +
    "before it creates SAs.",
  action: ACTION + "DRIVER_CAP_SET of both came before every SA create.",
  applies: APPLIES,
  async run(ctx) {
    const sent = await ipsecRun(ctx);
    expectNone(
      "DRIVER_CAP_SET of both first",
      createsBefore(
        sent,
        "DRIVER_CAP_SET of both capabilities",
        (b) => CAPS.every((c) => b.some((s) => s.opcode === AdminOpcode.DRIVER_CAP_SET && s.ok && capId(s) === c)),
      ),
      (x) => x,
    );
  },
});

/** What is missing from the SA of a create (`inbound`: no tunnel header asked for). */
function missing(s: Sent, inbound: boolean, modes: number[]): string[] {
  const sa = decodeIpsecSa(s.data.subarray(16));
  const out: string[] = [];
  if (!modes.includes(sa.mode)) out.push(`mode ${sa.mode} (reported: ${modes.join(", ")})`);
  const dir = inbound ? IpsecDirection.INBOUND : IpsecDirection.OUTBOUND;
  if (sa.direction !== dir) out.push(`direction ${sa.direction}, not ${dir}`);
  if (sa.spi === 0) out.push("SPI 0");
  if (sa.cipherAlgo !== 0n && sa.cipherKeyLength === 0) out.push("a cipher with no key");
  if (sa.authAlgo !== 0n && sa.authKeyLength === 0) out.push("an authentication algorithm with no key");
  if (sa.cipherAlgo === 0n && sa.authAlgo === 0n) out.push("no cipher and no authentication algorithm");
  const tunnelMode = sa.mode === IpsecMode.ESP_TUNNEL || sa.mode === IpsecMode.AH_TUNNEL;
  if (!inbound && tunnelMode && (!sa.tunnel || sa.tunnel.dst.every((b) => b === 0))) out.push("no tunnel header");
  return out;
}

/** The clause for the SAs of direction `type`. */
function saParameters(statement: number, type: number, name: string, extra: string) {
  return defineDriverClause({
    label: IPSEC,
    statement,
    level: "MUST",
    title: `${name} parameters set`,
    requirement: `An ${name} the driver creates has its parameters set to meaningful values${extra}.`,
    action: ACTION +
      `every ${name} created: a mode the device reported, its direction, a nonzero SPI, algorithms with keys` +
      (type === NetIpsecObject.OUTB_SA ? ", a tunnel header in a tunnel mode." : "."),
    applies: APPLIES,
    async run(ctx) {
      const sent = await ipsecRun(ctx);
      // The modes the device reported to the driver (its answer to DEVICE_CAP_GET of the SA capability).
      const got = sent.find((s) => s.opcode === AdminOpcode.DEVICE_CAP_GET && s.ok && capId(s) === NetIpsecCap.SA);
      const modes = got ? decodeIpsecModes(got.result).map((m) => m.mode) : [];
      const creates = sent.filter((s) =>
        s.opcode === AdminOpcode.RESOURCE_OBJ_CREATE && s.data.length >= 8 && le.u16(s.data, 0) === type
      );
      if (creates.length === 0) notApplicable(`the driver created no ${name}`);
      const bad = creates.flatMap((s) => missing(s, type === NetIpsecObject.INB_SA, modes));
      expectNone(`${name} parameters set`, bad, (x) => x);
    },
  });
}

export const ipsecOutboundParameters = saParameters(
  4,
  NetIpsecObject.OUTB_SA,
  "outbound SA",
  " (the tunnel header included)",
);
export const ipsecInboundParameters = saParameters(
  5,
  NetIpsecObject.INB_SA,
  "inbound SA",
  " (all but the tunnel header)",
);

export const ipsecDistinctInboundSpi = defineDriverClause({
  label: IPSEC,
  statement: 6,
  level: "SHOULD NOT",
  title: "no two inbound SAs with one SPI",
  requirement: "The driver does not create two inbound SAs with the same SPI.",
  action: ACTION + "the SPIs of the inbound SAs alive at once.",
  applies: APPLIES,
  async run(ctx) {
    const live = new Map<number, number>();
    const bad: string[] = [];
    for (const s of await ipsecRun(ctx)) {
      if (!s.ok || s.data.length < 8 || le.u16(s.data, 0) !== NetIpsecObject.INB_SA) continue;
      const id = le.u32(s.data, 4);
      if (s.opcode === AdminOpcode.RESOURCE_OBJ_DESTROY) live.delete(id);
      if (s.opcode !== AdminOpcode.RESOURCE_OBJ_CREATE) continue;
      const spi = decodeIpsecSa(s.data.subarray(16)).spi;
      const other = [...live].find(([, v]) => v === spi);
      if (other) bad.push(`inbound SAs ${other[0]} and ${id} with SPI 0x${spi.toString(16)}`);
      live.set(id, spi);
    }
    expectNone("distinct inbound SPIs", bad, (x) => x);
  },
});

/** The IPsec driver clauses. */
export const NET_IPSEC_DRIVER_CLAUSES = [
  ipsecQueriesCaps,
  ipsecGetsCaps,
  ipsecSetsCaps,
  ipsecOutboundParameters,
  ipsecInboundParameters,
  ipsecDistinctInboundSpi,
];
