/**
 * Device clauses of the network device's IPsec security associations on the administration virtqueue (spec
 * 5.1.9.7.4): both capabilities reported together, the object commands on outbound and inbound SAs, and how a create
 * is refused (no capabilities, an id in use, an id past the limit, parameters outside the modes reported), recreated
 * after a destroy, and dropped by a device reset.
 *
 * @module
 */
import { defineDeviceClause, type DeviceClauseContext } from "../../harness/core/clause.ts";
import { F, NET_F } from "../../harness/features.ts";
import {
  AdminOpcode,
  AdminQualifier,
  type AdminResult,
  AdminStatus,
} from "../../harness/models/device/admin_command.ts";
import {
  ADMIN_STATUS_EEXIST,
  decodeIpsecLimits,
  decodeIpsecModes,
  encodeIpsecSa,
  IpsecDirection,
  IpsecMode,
  type IpsecModeCap,
  lowestAlgorithm,
  NetIpsecCap,
  NetIpsecObject,
} from "../../harness/models/device/net_ipsec.ts";
import { expectNone, expectThat, notApplicable } from "../../harness/verify.ts";
import { adminNetUp, adminOk, capData, type FfLink, objCommand } from "./net_flow_filter_device.ts";

const IPSEC = "devicenormative:Device Types / Network Device / Device Operation / IPsec Operation";
const APPLIES = { transports: ["pci" as const], deviceTypes: ["net" as const], offered: [F.ADMIN_VQ, NET_F.CTRL_VQ] };
const CAPS = [NetIpsecCap.RESOURCE, NetIpsecCap.SA];
const SA_TYPES: [number, string][] = [[NetIpsecObject.OUTB_SA, "outbound SA"], [NetIpsecObject.INB_SA, "inbound SA"]];

/** A device brought up with its IPsec capabilities read (and set, unless `set` is false). */
interface IpsecLink {
  l: FfLink;
  limits: { inbound: number; outbound: number };
  modes: IpsecModeCap[];
}

/** {@link adminNetUp}, then both IPsec capabilities read and (with `set`) set to what the device reports. */
async function ipsecUp(ctx: DeviceClauseContext, set = true): Promise<IpsecLink> {
  const { l, caps } = await adminNetUp(ctx);
  if (!CAPS.every((c) => caps.has(c))) notApplicable("the device does not report the IPsec capabilities");
  const dev = new Map<number, Uint8Array>();
  for (const id of CAPS) {
    dev.set(id, await adminOk(ctx, l, AdminOpcode.DEVICE_CAP_GET, capData(id), `DEVICE_CAP_GET 0x${id.toString(16)}`));
    if (set) {
      await adminOk(
        ctx,
        l,
        AdminOpcode.DRIVER_CAP_SET,
        capData(id, dev.get(id)),
        `DRIVER_CAP_SET 0x${id.toString(16)}`,
      );
    }
  }
  const modes = decodeIpsecModes(dev.get(NetIpsecCap.SA)!);
  if (modes.length === 0) notApplicable("the SA capability lists no mode");
  return { l, limits: decodeIpsecLimits(dev.get(NetIpsecCap.RESOURCE)!), modes };
}

/** An SA the first mode reported supports (`spi` as given). */
function validSa(x: IpsecLink, inbound: boolean, spi = 0x1000): Uint8Array {
  const m = x.modes[0]!;
  return encodeIpsecSa({
    mode: m.mode,
    direction: inbound ? IpsecDirection.INBOUND : IpsecDirection.OUTBOUND,
    spi,
    options: 0n,
    replayWindow: 0,
    cipherAlgo: lowestAlgorithm(m.cipherAlgos),
    cipherKeyLength: Math.min(16, m.maxCipherKey),
    authAlgo: lowestAlgorithm(m.hmacAlgos),
    authKeyLength: Math.min(16, m.maxAuthKey),
  });
}

const fmt = (r: AdminResult) => `status ${r.status}, qualifier ${r.qualifier}`;

export const ipsecCaps = defineDeviceClause({
  label: IPSEC,
  statement: 1,
  level: "MUST",
  title: "IPsec comes with both of its capabilities",
  requirement: "A device that supports IPsec reports the IPsec resource and SA capabilities together in " +
    "CAP_ID_LIST_QUERY.",
  action: "Reads CAP_ID_LIST_QUERY; where either IPsec capability is reported, checks both are.",
  applies: APPLIES,
  async run(ctx) {
    const { caps } = await adminNetUp(ctx);
    if (!CAPS.some((c) => caps.has(c))) notApplicable("the device reports no IPsec capability");
    expectNone(
      "both IPsec capabilities reported",
      CAPS.filter((c) => !caps.has(c)),
      (c) => `capability 0x${c.toString(16)} missing`,
    );
  },
});

export const ipsecObjectCommands = defineDeviceClause({
  label: IPSEC,
  statement: 2,
  level: "MUST",
  title: "outbound and inbound SAs can be created, queried, modified and destroyed",
  requirement: "A device with IPsec carries out RESOURCE_OBJ_CREATE, _MODIFY, _QUERY and _DESTROY for outbound and " +
    "inbound SAs.",
  action: "Creates an outbound and an inbound SA, queries each, modifies its SPI and queries again, destroys both " +
    "and queries once more (refused).",
  applies: APPLIES,
  async run(ctx) {
    const x = await ipsecUp(ctx);
    const bad: string[] = [];
    for (const [type, name] of SA_TYPES) {
      const inbound = type === NetIpsecObject.INB_SA;
      const sa = validSa(x, inbound);
      const c = await objCommand(ctx, x.l, AdminOpcode.RESOURCE_OBJ_CREATE, type, 0, sa);
      if (c.status !== AdminStatus.OK) bad.push(`create ${name}: ${fmt(c)}`);
      const q = await objCommand(ctx, x.l, AdminOpcode.RESOURCE_OBJ_QUERY, type, 0);
      if (q.status !== AdminStatus.OK) bad.push(`query ${name}: ${fmt(q)}`);
      else if (q.result[8] !== sa[8] || q.result[9] !== sa[9]) bad.push(`query ${name}: another SPI than created`);
      const changed = validSa(x, inbound, 0x2000);
      const m = await objCommand(ctx, x.l, AdminOpcode.RESOURCE_OBJ_MODIFY, type, 0, changed);
      if (m.status !== AdminStatus.OK) bad.push(`modify ${name}: ${fmt(m)}`);
      const q2 = await objCommand(ctx, x.l, AdminOpcode.RESOURCE_OBJ_QUERY, type, 0);
      if (q2.status === AdminStatus.OK && (q2.result[8] !== changed[8] || q2.result[9] !== changed[9])) {
        bad.push(`query ${name} after modify: the SPI as before`);
      }
      const d = await objCommand(ctx, x.l, AdminOpcode.RESOURCE_OBJ_DESTROY, type, 0);
      if (d.status !== AdminStatus.OK) bad.push(`destroy ${name}: ${fmt(d)}`);
      const q3 = await objCommand(ctx, x.l, AdminOpcode.RESOURCE_OBJ_QUERY, type, 0);
      if (q3.status === AdminStatus.OK) bad.push(`query of the destroyed ${name} answered OK`);
    }
    expectNone("every SA command carried out", bad, (s) => s);
  },
});

export const ipsecNeedsCaps = defineDeviceClause({
  label: IPSEC,
  statement: 3,
  level: "MUST",
  title: "SA commands before the IPsec capabilities are set are INVALID_OPCODE",
  requirement: "While either IPsec capability is not enabled by the driver, object commands on SAs are refused " +
    "with qualifier INVALID_OPCODE.",
  action: "Brings the administration virtqueue up without setting the capabilities and creates an outbound and an " +
    "inbound SA.",
  applies: APPLIES,
  async run(ctx) {
    const x = await ipsecUp(ctx, false);
    const bad: string[] = [];
    for (const [type, name] of SA_TYPES) {
      const r = await objCommand(
        ctx,
        x.l,
        AdminOpcode.RESOURCE_OBJ_CREATE,
        type,
        0,
        validSa(x, type === NetIpsecObject.INB_SA),
      );
      if (r.status === AdminStatus.OK || r.qualifier !== AdminQualifier.INVALID_OPCODE) bad.push(`${name}: ${fmt(r)}`);
    }
    expectNone("SA creates refused with INVALID_OPCODE", bad, (s) => s);
  },
});

export const ipsecExistingId = defineDeviceClause({
  label: IPSEC,
  statement: 4,
  level: "MUST",
  title: "a create of an SA id in use is EEXIST",
  requirement: "Creating an SA with the id of an existing one of its type is refused with status EEXIST.",
  action: "Creates SA 0 of each direction twice (the second with another SPI).",
  applies: APPLIES,
  async run(ctx) {
    const x = await ipsecUp(ctx);
    const bad: string[] = [];
    for (const [type, name] of SA_TYPES) {
      const inbound = type === NetIpsecObject.INB_SA;
      await objCommand(ctx, x.l, AdminOpcode.RESOURCE_OBJ_CREATE, type, 0, validSa(x, inbound));
      const r = await objCommand(ctx, x.l, AdminOpcode.RESOURCE_OBJ_CREATE, type, 0, validSa(x, inbound, 0x3000));
      if (r.status !== ADMIN_STATUS_EEXIST) bad.push(`${name}: ${fmt(r)}`);
    }
    expectNone(`second creates answered EEXIST (${ADMIN_STATUS_EEXIST})`, bad, (s) => s);
  },
});

/** The clause that a create of direction `type` fails past the limit or with a mode the device did not report. */
function refusedCreates(statement: number, type: number, name: string) {
  return defineDeviceClause({
    label: IPSEC,
    statement,
    level: "MUST",
    title: `a bad ${name} create fails`,
    requirement: `Creating an ${name} fails when its id is at or past the ${name} limit, or its parameters (mode, ` +
      "algorithms) are not among those the SA capability reports.",
    action: `Creates an ${name} with id equal to the limit, then one of a mode the device does not report.`,
    applies: APPLIES,
    async run(ctx) {
      const x = await ipsecUp(ctx);
      const inbound = type === NetIpsecObject.INB_SA;
      const limit = inbound ? x.limits.inbound : x.limits.outbound;
      const bad: string[] = [];
      const past = await objCommand(ctx, x.l, AdminOpcode.RESOURCE_OBJ_CREATE, type, limit, validSa(x, inbound));
      if (past.status === AdminStatus.OK) bad.push(`id ${limit} (the limit) created`);
      const unknown = [IpsecMode.AH_TRANSPORT, IpsecMode.AH_TUNNEL, IpsecMode.ESP_TRANSPORT, IpsecMode.ESP_TUNNEL]
        .find((m) => !x.modes.some((d) => d.mode === m));
      const sa = validSa(x, inbound);
      sa[0] = unknown ?? 0;
      const r = await objCommand(ctx, x.l, AdminOpcode.RESOURCE_OBJ_CREATE, type, 0, sa);
      if (r.status === AdminStatus.OK) bad.push(`mode ${sa[0]} (not reported) created`);
      expectNone(`bad ${name} creates refused`, bad, (s) => s);
    },
  });
}

export const ipsecOutboundRefused = refusedCreates(5, NetIpsecObject.OUTB_SA, "outbound SA");
export const ipsecInboundRefused = refusedCreates(6, NetIpsecObject.INB_SA, "inbound SA");

export const ipsecRecreate = defineDeviceClause({
  label: IPSEC,
  statement: 8,
  level: "MUST",
  title: "a destroyed SA can be created again without a reset",
  requirement: "After an SA is destroyed, an SA with its id can be created again, with no device reset between.",
  action: "Creates, destroys and creates again SA 0 of each direction.",
  applies: APPLIES,
  async run(ctx) {
    const x = await ipsecUp(ctx);
    const bad: string[] = [];
    for (const [type, name] of SA_TYPES) {
      const inbound = type === NetIpsecObject.INB_SA;
      await objCommand(ctx, x.l, AdminOpcode.RESOURCE_OBJ_CREATE, type, 0, validSa(x, inbound));
      await objCommand(ctx, x.l, AdminOpcode.RESOURCE_OBJ_DESTROY, type, 0);
      const r = await objCommand(ctx, x.l, AdminOpcode.RESOURCE_OBJ_CREATE, type, 0, validSa(x, inbound));
      if (r.status !== AdminStatus.OK) bad.push(`${name}: ${fmt(r)}`);
    }
    expectNone("SAs created again", bad, (s) => s);
  },
});

export const ipsecResetDestroys = defineDeviceClause({
  label: IPSEC,
  statement: 10,
  level: "MUST",
  title: "a device reset destroys every SA",
  requirement: "A device reset destroys every SA the driver created.",
  action: "Creates SA 0 of each direction, resets the device, brings it up again with the capabilities set and " +
    "queries SA 0 of each direction (refused), then creates it (accepted, not EEXIST).",
  applies: APPLIES,
  async run(ctx) {
    let x = await ipsecUp(ctx);
    for (const [type] of SA_TYPES) {
      const r = await objCommand(
        ctx,
        x.l,
        AdminOpcode.RESOURCE_OBJ_CREATE,
        type,
        0,
        validSa(x, type === NetIpsecObject.INB_SA),
      );
      expectThat(r.status === AdminStatus.OK, "the SA created before the reset", () => fmt(r));
    }
    x = await ipsecUp(ctx);
    const bad: string[] = [];
    for (const [type, name] of SA_TYPES) {
      const q = await objCommand(ctx, x.l, AdminOpcode.RESOURCE_OBJ_QUERY, type, 0);
      if (q.status === AdminStatus.OK) bad.push(`${name} 0 still answers a query`);
      const c = await objCommand(
        ctx,
        x.l,
        AdminOpcode.RESOURCE_OBJ_CREATE,
        type,
        0,
        validSa(x, type === NetIpsecObject.INB_SA),
      );
      if (c.status !== AdminStatus.OK) bad.push(`${name} 0 created again: ${fmt(c)}`);
    }
    expectNone("no SA left after the reset", bad, (s) => s);
  },
});

/** The IPsec device clauses. */
export const NET_IPSEC_DEVICE_CLAUSES = [
  ipsecCaps,
  ipsecObjectCommands,
  ipsecNeedsCaps,
  ipsecExistingId,
  ipsecOutboundRefused,
  ipsecInboundRefused,
  ipsecRecreate,
  ipsecResetDestroys,
];
