/**
 * The harness as driver on a device's administration virtqueue (spec 2.13, PCI): bringing the queue up and sending
 * one command as the clauses need it — the readable part exactly as given (shorter or longer than the structure),
 * the writable part of a chosen size, pre-filled so that bytes the device wrote can be told from bytes it left.
 *
 * @module
 */
import type { DeviceClauseContext } from "../../harness/core/clause.ts";
import { bit, F } from "../../harness/features.ts";
import {
  type AdminCommand,
  AdminGroupType,
  AdminOpcode,
  type AdminResult,
  decodeAdminResult,
  decodeBitmap,
  encodeAdminCommand,
  encodeBitmap,
} from "../../harness/models/device/admin_command.ts";
import { HARNESS_CORE_FEATURES } from "../../harness/roles/harness_driver.ts";
import { formatStatus, Status } from "../../harness/status.ts";
import { CommonCfg } from "../../harness/transport/pci_layout.ts";
import type { BufferSpec } from "../../harness/virtqueue/queue.ts";
import { expectThat, notApplicable } from "../../harness/verify.ts";
import { pciOf } from "../transport_pci/helpers_device.ts";

/** The fill of device-writable bytes before a command (a device that leaves a byte leaves this value). */
export const ADMIN_FILL = 0xa5;

/** How a command goes out: the readable bytes (default: the encoded command) and the writable size. */
export interface AdminSend {
  /** The device-readable part as sent (default: {@link encodeAdminCommand} of the command). */
  readable?: Uint8Array;
  /** Bytes of the device-writable part (default 8 + `resultBytes`, rounded up to 8). */
  writable?: number;
  /** Bytes of command-specific result the driver expects (default 64). */
  resultBytes?: number;
  /** Device-writable part cut in this many descriptors (default 1). */
  writablePieces?: number;
}

/** What came back: the used length, the writable bytes as they are now, and the result decoded from them. */
export interface AdminReply {
  len: number;
  bytes: Uint8Array;
  result: AdminResult;
}

/**
 * Negotiates VIRTIO_F_ADMIN_VQ (with the core features), enables the first administration virtqueue and sets
 * DRIVER_OK; returns the queue's index. `n/a` when the device offers no ADMIN_VQ or has no administration virtqueue.
 */
export async function adminUp(ctx: DeviceClauseContext): Promise<number> {
  if ((ctx.offered & bit(F.ADMIN_VQ)) === 0n) notApplicable("the device does not offer VIRTIO_F_ADMIN_VQ");
  const t = pciOf(ctx);
  const r = await ctx.driver.init(
    "features-ok",
    (o) => (o & HARNESS_CORE_FEATURES & ~bit(F.IN_ORDER)) | bit(F.ADMIN_VQ),
  );
  expectThat(r.featuresOk, "FEATURES_OK with VIRTIO_F_ADMIN_VQ", () => formatStatus(r.status));
  const index = await t.common.read(CommonCfg.admin_queue_index, 2);
  const num = await t.common.read(CommonCfg.admin_queue_num, 2);
  if (num === 0) notApplicable("admin_queue_num reads 0 with VIRTIO_F_ADMIN_VQ negotiated");
  await ctx.driver.setupQueue(index);
  const status = await ctx.driver.addStatus(Status.DRIVER_OK);
  expectThat((status & Status.DRIVER_OK) !== 0, "DRIVER_OK set", () => formatStatus(status));
  return index;
}

/** Places one command on queue `q` (not yet published); returns its id and where its writable part is. */
export async function placeAdmin(
  ctx: DeviceClauseContext,
  q: number,
  cmd: AdminCommand,
  send: AdminSend = {},
): Promise<{ id: number; writable: { addr: number; len: number }[] }> {
  const mem = ctx.session.memory;
  const readable = send.readable ?? encodeAdminCommand(cmd);
  const pieces: BufferSpec[] = [];
  if (readable.length > 0) {
    const at = ctx.driver.alloc.alloc(readable.length, 8);
    await mem.write(at, readable);
    pieces.push({ addr: at, len: readable.length, writable: false });
  }
  const total = send.writable ?? Math.ceil((8 + (send.resultBytes ?? 64)) / 8) * 8;
  const n = Math.max(1, Math.min(send.writablePieces ?? 1, total));
  const writable: { addr: number; len: number }[] = [];
  for (let k = 0, left = total; k < n; k++) {
    const len = k === n - 1 ? left : Math.floor(total / n);
    left -= len;
    const at = ctx.driver.alloc.alloc(len, 8);
    await mem.write(at, new Uint8Array(len).fill(ADMIN_FILL));
    pieces.push({ addr: at, len, writable: true });
    writable.push({ addr: at, len });
  }
  const queue = ctx.driver.queue(q);
  return { id: await queue.add(pieces), writable };
}

/** Reads back a command's writable part and decodes it as far as the device said it wrote (`len`). */
export async function readAdminReply(
  ctx: DeviceClauseContext,
  writable: { addr: number; len: number }[],
  len: number,
): Promise<AdminReply> {
  const parts = await Promise.all(writable.map((w) => ctx.session.memory.read(w.addr, w.len)));
  const bytes = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let off = 0;
  for (const p of parts) {
    bytes.set(p, off);
    off += p.length;
  }
  return { len, bytes, result: decodeAdminResult(bytes, len) };
}

/** Sends one command on queue `q` and waits for it; undefined when the device did not use it. */
export async function adminCommand(
  ctx: DeviceClauseContext,
  q: number,
  cmd: AdminCommand,
  send: AdminSend = {},
): Promise<AdminReply | undefined> {
  const placed = await placeAdmin(ctx, q, cmd, send);
  await ctx.driver.queue(q).publish(placed.id);
  await ctx.driver.kick(q);
  const used = await ctx.driver.waitUsed(q, 1);
  if (used.length === 0) return undefined;
  return await readAdminReply(ctx, placed.writable, used[0]!.len);
}

/** A self-group command with `opcode` and `data`. */
export function selfCommand(opcode: number, data: Uint8Array = new Uint8Array(0)): AdminCommand {
  return { opcode, groupType: AdminGroupType.SELF, memberId: 0, data };
}

/** Sends `cmd` and fails the clause when the device does not use it. */
export async function mustAnswer(
  ctx: DeviceClauseContext,
  q: number,
  cmd: AdminCommand,
  send: AdminSend = {},
): Promise<AdminReply> {
  const r = await adminCommand(ctx, q, cmd, send);
  expectThat(r !== undefined, `the command with opcode 0x${cmd.opcode.toString(16)} used`, () => "not used");
  return r!;
}

/** The opcodes LIST_QUERY reports for the self group (it must answer OK). */
export async function supportedOpcodes(ctx: DeviceClauseContext, q: number): Promise<Set<number>> {
  const r = await mustAnswer(ctx, q, selfCommand(AdminOpcode.LIST_QUERY));
  expectThat(r.result.status === 0, "LIST_QUERY answered OK", () => `status ${r.result.status}`);
  return decodeBitmap(r.result.result);
}

/** Sends LIST_USE with `opcodes`; returns the reply. */
export async function listUse(ctx: DeviceClauseContext, q: number, opcodes: Iterable<number>): Promise<AdminReply> {
  return await mustAnswer(ctx, q, selfCommand(AdminOpcode.LIST_USE, encodeBitmap(opcodes)));
}
