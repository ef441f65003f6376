/**
 * Device clauses of group administration commands (spec 2.12.1.5) and administration virtqueues (2.13.1), for any
 * device that offers VIRTIO_F_ADMIN_VQ on PCI: the harness sends self-group commands on the first administration
 * virtqueue and judges status, qualifier, used length and the effect on later commands.
 *
 * @module
 */
import fc from "fast-check";
import { defineDeviceClause } from "../../harness/core/clause.ts";
import { checkProperty } from "../../harness/core/property.ts";
import { F } from "../../harness/features.ts";
import {
  AdminGroupType,
  AdminOpcode,
  AdminQualifier,
  adminQualifierName,
  type AdminResult,
  AdminStatus,
  adminStatusName,
  encodeAdminCommand,
  encodeBitmap,
} from "../../harness/models/device/admin_command.ts";
import { formatStatus, Status } from "../../harness/status.ts";
import { expectEqual, expectNone, expectThat, notApplicable } from "../../harness/verify.ts";
import { ON_PCI, pciOf } from "../transport_pci/helpers_device.ts";
import {
  ADMIN_FILL,
  adminUp,
  listUse,
  mustAnswer,
  placeAdmin,
  readAdminReply,
  selfCommand,
  supportedOpcodes,
} from "./admin_io.ts";

const GROUP = "devicenormative:Basic Facilities of a Virtio Device / Device groups / Group administration commands";
const AVQ = "devicenormative:Basic Facilities of a Virtio Device / Administration virtqueues";
const ADMIN = { ...ON_PCI, offered: [F.ADMIN_VQ] };

/** A group type the spec reserves (2-65535). */
const RESERVED_GROUP = 0x1234;
/** An opcode in the range of commands using `struct virtio_admin_cmd` that v1.4 does not define. */
const UNDEFINED_OPCODE = 0x7ffe;

const fmt = (r: AdminResult) => `status ${adminStatusName(r.status)}, qualifier ${adminQualifierName(r.qualifier)}`;

/** Checks `r` failed with EINVAL and `qualifier`. */
function expectRefused(r: AdminResult, qualifier: number, what: string): void {
  expectThat(
    r.status === AdminStatus.EINVAL && r.qualifier === qualifier,
    `${what}: status EINVAL (22), qualifier ${adminQualifierName(qualifier)}`,
    () => fmt(r),
  );
}

export const invalidCommandEinval = defineDeviceClause({
  label: GROUP,
  statement: 1,
  level: "MUST",
  title: "a command with an invalid group type or opcode fails with EINVAL",
  requirement: "The device checks a command's opcode, group type and member id, and answers one it cannot accept " +
    "with status EINVAL.",
  action: "Sends LIST_QUERY with a reserved group type, and an undefined opcode for the self group.",
  applies: ADMIN,
  async run(ctx) {
    const q = await adminUp(ctx);
    const a = await mustAnswer(ctx, q, { ...selfCommand(AdminOpcode.LIST_QUERY), groupType: RESERVED_GROUP });
    const b = await mustAnswer(ctx, q, selfCommand(UNDEFINED_OPCODE));
    const wrong = ([["reserved group type", a], ["undefined opcode", b]] as const).filter(([, r]) =>
      r.result.status !== AdminStatus.EINVAL
    );
    expectNone("status EINVAL (22) for both", wrong, ([what, r]) => `${what}: ${fmt(r.result)}`);
  },
});

export const invalidGroupFirst = defineDeviceClause({
  label: GROUP,
  statement: 2,
  level: "MUST",
  title: "an invalid group type is named INVALID_GROUP",
  requirement: "When the group type is invalid, the device's qualifier says so (INVALID_GROUP), whatever else is " +
    "wrong with the command.",
  action: "Sends a reserved group type with a valid opcode, then with an undefined opcode too.",
  applies: ADMIN,
  async run(ctx) {
    const q = await adminUp(ctx);
    for (const opcode of [AdminOpcode.LIST_QUERY, UNDEFINED_OPCODE]) {
      const r = await mustAnswer(ctx, q, { ...selfCommand(opcode), groupType: RESERVED_GROUP });
      expectRefused(
        r.result,
        AdminQualifier.INVALID_GROUP,
        `group type 0x${RESERVED_GROUP.toString(16)}, opcode ` +
          `0x${opcode.toString(16)}`,
      );
    }
  },
});

export const invalidOpcodeNamed = defineDeviceClause({
  label: GROUP,
  statement: 3,
  level: "MUST",
  title: "an invalid opcode for a valid group is named INVALID_OPCODE",
  requirement: "When the group type is valid but the opcode is not, the qualifier is INVALID_OPCODE.",
  action: "Sends random opcodes the device does not report in LIST_QUERY (undefined ones and, where it reports " +
    "none of them, the capability and resource object opcodes) to the self group.",
  applies: ADMIN,
  async run(ctx) {
    const q = await adminUp(ctx);
    const supported = await supportedOpcodes(ctx, q);
    const candidates = fc.oneof(fc.integer({ min: 0x13, max: 0x7fff }), fc.integer({ min: 2, max: 0x12 }))
      .filter((o) => !supported.has(o));
    await checkProperty(
      ctx,
      candidates,
      async (opcode) => {
        const r = await mustAnswer(ctx, q, selfCommand(opcode));
        expectRefused(r.result, AdminQualifier.INVALID_OPCODE, `opcode 0x${opcode.toString(16)}`);
      },
      (o) => `opcode 0x${o.toString(16)}`,
      { maxRuns: 20 },
    );
  },
});

export const invalidMemberNamed = defineDeviceClause({
  label: GROUP,
  statement: 4,
  level: "MUST",
  title: "a command refused for its member id is named INVALID_MEMBER",
  requirement: "When group type and opcode are valid but the member id a command uses is not, the qualifier is " +
    "INVALID_MEMBER.",
  action: "Sends LIST_QUERY to the self group with member ids 1 and 0xffff (the self group's only member is 0); " +
    "where the device refuses one, checks EINVAL with INVALID_MEMBER (a device that takes the member id as unused " +
    "and answers OK passes).",
  applies: ADMIN,
  async run(ctx) {
    const q = await adminUp(ctx);
    for (const memberId of [1, 0xffff]) {
      const r = await mustAnswer(ctx, q, { ...selfCommand(AdminOpcode.LIST_QUERY), memberId });
      if (r.result.status === AdminStatus.OK) continue;
      expectRefused(r.result, AdminQualifier.INVALID_MEMBER, `self group, member ${memberId}`);
    }
  },
});

export const successIsOk = defineDeviceClause({
  label: GROUP,
  statement: 5,
  level: "MUST",
  title: "a command that succeeds answers OK",
  requirement: "A command carried out answers status OK (and qualifier 0).",
  action: "Sends LIST_QUERY (always supported) and checks status OK with LIST_QUERY and LIST_USE reported.",
  applies: ADMIN,
  async run(ctx) {
    const q = await adminUp(ctx);
    const r = await mustAnswer(ctx, q, selfCommand(AdminOpcode.LIST_QUERY));
    expectThat(
      r.result.status === AdminStatus.OK && r.result.qualifier === 0,
      "LIST_QUERY: status OK, qualifier 0",
      () => fmt(r.result),
    );
    const bits = r.result.result[0] ?? 0;
    expectEqual("LIST_QUERY and LIST_USE (bits 0 and 1) in the reported list", bits & 3, 3);
  },
});

export const failureNotOk = defineDeviceClause({
  label: GROUP,
  statement: 6,
  level: "MUST",
  title: "a command that fails does not answer OK",
  requirement: "A command the device does not carry out answers a status other than OK.",
  action: "Sends LIST_USE asking for an opcode the device did not report, then checks LIST_QUERY still answers " +
    "(the list in use did not change).",
  applies: ADMIN,
  async run(ctx) {
    const q = await adminUp(ctx);
    const supported = await supportedOpcodes(ctx, q);
    const foreign = [0x7fff, 0x13, 0x3f].find((o) => !supported.has(o))!;
    const r = await listUse(ctx, q, [AdminOpcode.LIST_QUERY, AdminOpcode.LIST_USE, foreign]);
    expectThat(
      r.result.status !== AdminStatus.OK,
      `LIST_USE with unreported opcode 0x${foreign.toString(16)}: ` +
        "status not OK",
      () => fmt(r.result),
    );
  },
});

export const einvalLeavesState = defineDeviceClause({
  label: GROUP,
  statement: 7,
  level: "MUST NOT",
  title: "a command refused with EINVAL changes nothing",
  requirement: "A command answered EINVAL leaves the device as it was: here, the list of commands in use.",
  action: "Sends LIST_USE naming only LIST_USE but with a reserved group type (EINVAL), then LIST_QUERY, which must " +
    "still be in use.",
  applies: ADMIN,
  async run(ctx) {
    const q = await adminUp(ctx);
    const bad = await mustAnswer(ctx, q, {
      ...selfCommand(AdminOpcode.LIST_USE, encodeBitmap([AdminOpcode.LIST_USE])),
      groupType: RESERVED_GROUP,
    });
    if (bad.result.status !== AdminStatus.EINVAL) notApplicable(`the refused LIST_USE answered ${fmt(bad.result)}`);
    const r = await mustAnswer(ctx, q, selfCommand(AdminOpcode.LIST_QUERY));
    expectThat(
      r.result.status === AdminStatus.OK,
      "LIST_QUERY still in use after the refused LIST_USE",
      () => fmt(r.result),
    );
  },
});

export const einvalNoErrorState = defineDeviceClause({
  label: GROUP,
  statement: 9,
  level: "MUST NOT",
  title: "a command refused with EINVAL puts the device in no error state",
  requirement: "An EINVAL answer never comes with the device entering its error state (DEVICE_NEEDS_RESET).",
  action: "Sends commands with a reserved group type, an undefined opcode and a LIST_USE of unreported opcodes, " +
    "then reads the device status.",
  applies: ADMIN,
  async run(ctx) {
    const q = await adminUp(ctx);
    await mustAnswer(ctx, q, { ...selfCommand(AdminOpcode.LIST_QUERY), groupType: RESERVED_GROUP });
    await mustAnswer(ctx, q, selfCommand(UNDEFINED_OPCODE));
    await listUse(ctx, q, [AdminOpcode.LIST_QUERY, AdminOpcode.LIST_USE, 0x7fff]);
    const status = await ctx.transport.getStatus();
    expectThat((status & Status.DEVICE_NEEDS_RESET) === 0, "DEVICE_NEEDS_RESET clear", () => formatStatus(status));
  },
});

export const defaultListAfterReset = defineDeviceClause({
  label: GROUP,
  statement: 15,
  level: "MUST",
  title: "after a reset only LIST_QUERY and LIST_USE are in use",
  requirement: "Until the driver sends LIST_USE after a reset, the device takes LIST_QUERY and LIST_USE as the only " +
    "commands in use: other supported commands are refused.",
  action: "Sends LIST_USE with every reported opcode, resets the device, brings the queue up again and sends each " +
    "other reported command (refused as not in use), then LIST_QUERY and LIST_USE (accepted).",
  applies: ADMIN,
  async run(ctx) {
    let q = await adminUp(ctx);
    const supported = await supportedOpcodes(ctx, q);
    await listUse(ctx, q, supported);
    q = await adminUp(ctx);
    for (const opcode of [...supported].filter((o) => o > AdminOpcode.LIST_USE)) {
      const r = await mustAnswer(ctx, q, selfCommand(opcode, new Uint8Array(64)));
      expectRefused(r.result, AdminQualifier.INVALID_OPCODE, `opcode 0x${opcode.toString(16)} after the reset`);
    }
    const query = await mustAnswer(ctx, q, selfCommand(AdminOpcode.LIST_QUERY));
    expectThat(query.result.status === AdminStatus.OK, "LIST_QUERY accepted after the reset", () => fmt(query.result));
  },
});

export const listUseInForce = defineDeviceClause({
  label: GROUP,
  statement: 16,
  level: "MUST",
  title: "LIST_USE sets the list of commands in use",
  requirement: "Once LIST_USE succeeds, the commands in use are exactly those it named.",
  action: "Sends LIST_USE with a random subset of the reported opcodes (LIST_USE always in it), then LIST_QUERY: " +
    "accepted when the subset has it, refused with INVALID_OPCODE when not.",
  applies: ADMIN,
  async run(ctx) {
    const probe = await adminUp(ctx);
    const supported = [...await supportedOpcodes(ctx, probe)];
    await checkProperty(
      ctx,
      fc.subarray(supported),
      async (subset) => {
        const q = await adminUp(ctx);
        const use = new Set([...subset, AdminOpcode.LIST_USE]);
        const r = await listUse(ctx, q, use);
        expectThat(r.result.status === AdminStatus.OK, "LIST_USE of reported opcodes accepted", () => fmt(r.result));
        const query = await mustAnswer(ctx, q, selfCommand(AdminOpcode.LIST_QUERY));
        if (use.has(AdminOpcode.LIST_QUERY)) {
          expectThat(
            query.result.status === AdminStatus.OK,
            "LIST_QUERY accepted (in the list)",
            () => fmt(query.result),
          );
        } else expectRefused(query.result, AdminQualifier.INVALID_OPCODE, "LIST_QUERY left out of the list");
      },
      (s) => `LIST_USE [${[...s].map((o) => `0x${o.toString(16)}`).join(", ")}]`,
      { maxRuns: 20 },
    );
  },
});

export const outsideListRefused = defineDeviceClause({
  label: GROUP,
  statement: 18,
  level: "MUST",
  title: "a supported command not in use is refused as INVALID_OPCODE",
  requirement: "A command the device supports but the driver did not name in LIST_USE is refused with EINVAL and " +
    "INVALID_OPCODE.",
  action: "Sends LIST_USE with LIST_USE alone, then every other reported opcode.",
  applies: ADMIN,
  async run(ctx) {
    const q = await adminUp(ctx);
    const supported = await supportedOpcodes(ctx, q);
    const r = await listUse(ctx, q, [AdminOpcode.LIST_USE]);
    expectThat(r.result.status === AdminStatus.OK, "LIST_USE [LIST_USE] accepted", () => fmt(r.result));
    for (const opcode of [...supported].filter((o) => o !== AdminOpcode.LIST_USE)) {
      const x = await mustAnswer(ctx, q, selfCommand(opcode, new Uint8Array(64)));
      expectRefused(x.result, AdminQualifier.INVALID_OPCODE, `opcode 0x${opcode.toString(16)} not in use`);
    }
  },
});

export const supportedNeverShrinks = defineDeviceClause({
  label: GROUP,
  statement: 19,
  level: "MUST NOT",
  title: "the list of supported commands never shrinks",
  requirement: "A command once reported by LIST_QUERY stays reported, across LIST_USE and device resets.",
  action: "Reads LIST_QUERY, narrows the list in use, resets the device and reads LIST_QUERY again.",
  applies: ADMIN,
  async run(ctx) {
    let q = await adminUp(ctx);
    const first = await supportedOpcodes(ctx, q);
    await listUse(ctx, q, [AdminOpcode.LIST_QUERY, AdminOpcode.LIST_USE]);
    const second = await supportedOpcodes(ctx, q);
    q = await adminUp(ctx);
    const third = await supportedOpcodes(ctx, q);
    const lost = [...first].filter((o) => !second.has(o) || !third.has(o));
    expectNone("every opcode first reported still reported", lost, (o) => `opcode 0x${o.toString(16)} dropped`);
  },
});

export const sameListAfterReset = defineDeviceClause({
  label: GROUP,
  statement: 23,
  level: "MUST NOT",
  title: "a list accepted before a reset is not refused for itself after it",
  requirement: "After a device reset, LIST_USE with a list the device accepted before does not fail because of " +
    "that list.",
  action: "Sends LIST_USE with every reported opcode, resets the device, sends the same LIST_USE again.",
  applies: ADMIN,
  async run(ctx) {
    let q = await adminUp(ctx);
    const supported = await supportedOpcodes(ctx, q);
    const before = await listUse(ctx, q, supported);
    if (before.result.status !== AdminStatus.OK) notApplicable(`the first LIST_USE answered ${fmt(before.result)}`);
    q = await adminUp(ctx);
    const after = await listUse(ctx, q, supported);
    expectThat(
      after.result.status === AdminStatus.OK,
      "the same LIST_USE accepted after the reset",
      () => fmt(after.result),
    );
  },
});

export const sriovGroupWithoutSriov = defineDeviceClause({
  label: GROUP,
  statement: 25,
  level: "MUST",
  title: "SR-IOV group commands on a device without SR-IOV are INVALID_GROUP",
  requirement: "A device with no SR-IOV capability (or VFs not enabled) refuses every SR-IOV group command with " +
    "EINVAL and INVALID_GROUP.",
  action: "On a conventional PCI function (no PCI Express capability, so no SR-IOV one), sends LIST_QUERY and an " +
    "undefined opcode with group type SR-IOV.",
  applies: ADMIN,
  async run(ctx) {
    const q = await adminUp(ctx);
    const caps = pciOf(ctx).walk.caps.map((c) => c.capId);
    if (caps.includes(0x10)) notApplicable("a PCI Express function: the harness does not read extended capabilities");
    for (const opcode of [AdminOpcode.LIST_QUERY, UNDEFINED_OPCODE]) {
      const r = await mustAnswer(ctx, q, { ...selfCommand(opcode), groupType: AdminGroupType.SRIOV, memberId: 1 });
      expectRefused(r.result, AdminQualifier.INVALID_GROUP, `SR-IOV group, opcode 0x${opcode.toString(16)}`);
    }
  },
});

// ---------------------------------------------------------------------------------------------------------------------
// 2.13.1 Administration virtqueues

export const shortBuffersServed = defineDeviceClause({
  label: AVQ,
  statement: 1,
  level: "MUST",
  title: "short buffers: missing bytes read as zero, writes beyond them dropped",
  requirement: "A device-readable part shorter than the command reads as if the rest were zero; a device-writable " +
    "part shorter than the result gets only what fits.",
  action: "Sends LIST_USE whose readable part ends after the 24-byte header (an empty list: every command, " +
    "LIST_QUERY included, then out of use) and checks LIST_QUERY is refused; on a fresh device sends LIST_QUERY with " +
    "8 writable bytes and checks the used length is at most 8 and status OK.",
  applies: ADMIN,
  async run(ctx) {
    let q = await adminUp(ctx);
    const header = encodeAdminCommand(selfCommand(AdminOpcode.LIST_USE)).subarray(0, 24);
    const r = await mustAnswer(ctx, q, selfCommand(AdminOpcode.LIST_USE), { readable: header });
    expectThat(r.result.status === AdminStatus.OK, "LIST_USE without a list (all zero) accepted", () => fmt(r.result));
    const query = await mustAnswer(ctx, q, selfCommand(AdminOpcode.LIST_QUERY));
    expectRefused(query.result, AdminQualifier.INVALID_OPCODE, "LIST_QUERY after a LIST_USE read as empty");
    q = await adminUp(ctx);
    const small = await mustAnswer(ctx, q, selfCommand(AdminOpcode.LIST_QUERY), { writable: 8 });
    expectThat(small.len <= 8, "used length within the 8-byte writable part", () => `used length ${small.len}`);
  },
});

export const longBuffersServed = defineDeviceClause({
  label: AVQ,
  statement: 2,
  level: "MUST",
  title: "long buffers: extra readable bytes ignored, only the result written",
  requirement: "Readable bytes past the command are ignored; in a writable part longer than the result the device " +
    "writes only the result and reports its length as the used length.",
  action: "Sends LIST_QUERY with 64 bytes of 0xff after the command and a 512-byte writable part; checks status OK, " +
    "the used length that of the status and the opcode list, and every byte past it left as the harness filled it.",
  applies: ADMIN,
  async run(ctx) {
    const q = await adminUp(ctx);
    const cmd = encodeAdminCommand(selfCommand(AdminOpcode.LIST_QUERY));
    const readable = new Uint8Array(cmd.length + 64).fill(0xff);
    readable.set(cmd);
    const r = await mustAnswer(ctx, q, selfCommand(AdminOpcode.LIST_QUERY), { readable, writable: 512 });
    expectThat(r.result.status === AdminStatus.OK, "LIST_QUERY with trailing bytes: status OK", () => fmt(r.result));
    expectThat(r.len >= 16 && r.len < 512, "a used length covering the result only", () => `used length ${r.len}`);
    const touched = [...r.bytes.subarray(r.len)].findIndex((b) => b !== ADMIN_FILL);
    expectThat(touched < 0, "bytes past the used length untouched", () => `byte ${r.len + touched} written`);
  },
});

export const sizeNeverFails = defineDeviceClause({
  label: AVQ,
  statement: 4,
  level: "MUST NOT",
  title: "no command fails for the size of its buffers alone",
  requirement: "The device does not fail a command only because its parts are shorter or longer than the spec's " +
    "structures.",
  action: "Sends LIST_QUERY with random trailing readable bytes (0–64) and a random writable part (8–256 bytes, in " +
    "1–3 descriptors); each answers OK.",
  applies: ADMIN,
  async run(ctx) {
    const q = await adminUp(ctx);
    const arb = fc.record({
      extra: fc.integer({ min: 0, max: 8 }),
      writable: fc.integer({ min: 1, max: 32 }),
      pieces: fc.integer({ min: 1, max: 3 }),
    });
    await checkProperty(
      ctx,
      arb,
      async (p) => {
        const cmd = encodeAdminCommand(selfCommand(AdminOpcode.LIST_QUERY));
        const readable = new Uint8Array(cmd.length + 8 * p.extra);
        readable.set(cmd);
        const r = await mustAnswer(ctx, q, selfCommand(AdminOpcode.LIST_QUERY), {
          readable,
          writable: 8 * p.writable,
          writablePieces: p.pieces,
        });
        expectThat(r.result.status === AdminStatus.OK, "status OK", () => fmt(r.result));
      },
      (p) => `${8 * p.extra} extra readable bytes, ${8 * p.writable} writable in ${p.pieces}`,
      { maxRuns: 20 },
    );
  },
});

export const usedLengthMultipleOf8 = defineDeviceClause({
  label: AVQ,
  statement: 5,
  level: "MUST",
  title: "the device writes a multiple of 64 bits",
  requirement: "The part of the result the device initializes, its used length, is a multiple of 8 bytes.",
  action: "Sends LIST_QUERY, refused commands and LIST_USE with writable parts of 8 to 256 bytes; checks every used " +
    "length.",
  applies: ADMIN,
  async run(ctx) {
    const q = await adminUp(ctx);
    const bad: string[] = [];
    for (const writable of [8, 16, 24, 64, 256]) {
      for (
        const cmd of [
          selfCommand(AdminOpcode.LIST_QUERY),
          selfCommand(UNDEFINED_OPCODE),
          { ...selfCommand(AdminOpcode.LIST_QUERY), groupType: RESERVED_GROUP },
        ]
      ) {
        const r = await mustAnswer(ctx, q, cmd, { writable });
        if (r.len % 8 !== 0) {
          bad.push(`opcode 0x${cmd.opcode.toString(16)}, ${writable} writable: used length ${r.len}`);
        }
      }
    }
    expectNone("used lengths that are multiples of 8", bad, (s) => s);
  },
});

export const statusWritten = defineDeviceClause({
  label: AVQ,
  statement: 6,
  level: "MUST",
  title: "status and status_qualifier are always written",
  requirement: "Every command's status and status_qualifier are set by the device, failed commands included.",
  action: "Fills the writable part with 0xa5 and sends a valid, an undefined-opcode and a reserved-group command; " +
    "checks the used length covers the two fields and they no longer hold the fill.",
  applies: ADMIN,
  async run(ctx) {
    const q = await adminUp(ctx);
    const bad: string[] = [];
    for (
      const cmd of [
        selfCommand(AdminOpcode.LIST_QUERY),
        selfCommand(UNDEFINED_OPCODE),
        { ...selfCommand(AdminOpcode.LIST_QUERY), groupType: RESERVED_GROUP },
      ]
    ) {
      const r = await mustAnswer(ctx, q, cmd);
      const fill = (ADMIN_FILL << 8) | ADMIN_FILL;
      const raw = [r.bytes[0]! | (r.bytes[1]! << 8), r.bytes[2]! | (r.bytes[3]! << 8)];
      if (r.len < 4 || raw[0] === fill || raw[1] === fill) {
        bad.push(`opcode 0x${cmd.opcode.toString(16)}: used length ${r.len}, status bytes ${raw.join("/")}`);
      }
    }
    expectNone("status and status_qualifier written", bad, (s) => s);
  },
});

export const processedInOrder = defineDeviceClause({
  label: AVQ,
  statement: 7,
  level: "MUST",
  title: "commands on one administration virtqueue run in the order queued",
  requirement: "The device processes the commands of one administration virtqueue in queue order.",
  action: "Makes available together LIST_USE [LIST_USE] then LIST_QUERY (refused in order), then LIST_USE " +
    "[LIST_QUERY, LIST_USE] then LIST_QUERY (accepted in order), each pair with one notification.",
  applies: ADMIN,
  async run(ctx) {
    const q = await adminUp(ctx);
    for (const [use, accepted] of [[[AdminOpcode.LIST_USE], false], [[0, 1], true]] as const) {
      const first = await placeAdmin(ctx, q, selfCommand(AdminOpcode.LIST_USE, encodeBitmap(use)));
      const second = await placeAdmin(ctx, q, selfCommand(AdminOpcode.LIST_QUERY));
      const queue = ctx.driver.queue(q);
      await queue.publish(first.id);
      await queue.publish(second.id);
      await ctx.driver.kick(q);
      const used = await ctx.driver.waitUsed(q, 2);
      const got = used.find((u) => u.id === second.id);
      expectThat(got !== undefined && used.length === 2, "both commands used", () => `${used.length} used`);
      const r = await readAdminReply(ctx, second.writable, got!.len);
      if (accepted) {
        expectThat(
          r.result.status === AdminStatus.OK,
          "LIST_QUERY after LIST_USE [0, 1] accepted",
          () => fmt(r.result),
        );
      } else expectRefused(r.result, AdminQualifier.INVALID_OPCODE, "LIST_QUERY after LIST_USE [LIST_USE]");
    }
  },
});

/** The administration device clauses. */
export const ADMIN_DEVICE_CLAUSES = [
  invalidCommandEinval,
  invalidGroupFirst,
  invalidOpcodeNamed,
  invalidMemberNamed,
  successIsOk,
  failureNotOk,
  einvalLeavesState,
  einvalNoErrorState,
  defaultListAfterReset,
  listUseInForce,
  outsideListRefused,
  supportedNeverShrinks,
  sameListAfterReset,
  sriovGroupWithoutSriov,
  shortBuffersServed,
  longBuffersServed,
  sizeNeverFails,
  usedLengthMultipleOf8,
  statusWritten,
  processedInOrder,
];
