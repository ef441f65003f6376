/**
 * Device clauses of spec 5.1.9.5.11 (device statistics, VIRTIO_NET_F_DEVICE_STATS): the capabilities a device
 * reports, the replies to VIRTIO_NET_CTRL_STATS_GET (their headers, sizes and extent) and its refusals.
 *
 * @module
 */
import { TargetError } from "../../harness/adapter.ts";
import { defineDeviceClause, type DeviceClauseContext } from "../../harness/core/clause.ts";
import { NET_F } from "../../harness/features.ts";
import { le } from "../../harness/memory.ts";
import { NET_CTRL, NET_RX, NET_TX, NetCtrl, STATS_REPLY_BYTES, STATS_TYPE } from "../../harness/models/device/net.ts";
import { hex } from "../../harness/text.ts";
import { expectNone, expectThat, notApplicable } from "../../harness/verify.ts";
import { controlQuery, netUp } from "./net_io.ts";

const STATS = "devicenormative:Device Types / Network Device / Device Operation / Control Virtqueue / " +
  "Device Statistics";
const NET = { deviceTypes: ["net" as const] };

/** The fill of a result buffer before the device writes it. */
const FILL = 0xa5;

/** Brings the device up with the control queue and DEVICE_STATS (needed). */
async function statsUp(ctx: DeviceClauseContext) {
  return await netUp(ctx, [NET_F.CTRL_VQ, NET_F.DEVICE_STATS], [NET_F.CTRL_VQ, NET_F.DEVICE_STATS]);
}

/** A STATS_GET request body: one 16-byte entry per (vq_index, types_bitmap). */
function getRequest(entries: [number, bigint][]): Uint8Array {
  const data = new Uint8Array(16 * entries.length);
  entries.forEach(([vq, types], i) => {
    le.setU16(data, 16 * i, vq);
    le.setU32(data, 16 * i + 8, Number(types & 0xffff_ffffn));
    le.setU32(data, 16 * i + 12, Number(types >> 32n));
  });
  return data;
}

/** Sends STATS_GET with a result buffer of `room` bytes filled with {@link FILL}; the ack and the buffer after. */
async function statsGet(ctx: DeviceClauseContext, entries: [number, bigint][], room: number) {
  const r = await controlQuery(ctx, NetCtrl.STATS, NetCtrl.STATS_GET, getRequest(entries), room, NET_CTRL, FILL);
  if (!r) throw new TargetError("The device did not use a STATS_GET command");
  return r;
}

/** The supported types, from STATS_QUERY (an error when it is not answered OK). */
async function supported(ctx: DeviceClauseContext): Promise<bigint> {
  const r = await controlQuery(ctx, NetCtrl.STATS, NetCtrl.STATS_QUERY, new Uint8Array(0), 8);
  if (!r || r.ack !== NetCtrl.OK) throw new TargetError(`STATS_QUERY was answered ${r?.ack ?? "not at all"}`);
  return BigInt(le.u32(r.result, 0)) | (BigInt(le.u32(r.result, 4)) << 32n);
}

/** One reply as read from a result buffer. */
interface Reply {
  type: number;
  vq: number;
  size: number;
  at: number;
}

/** The replies in `result`, by their headers' sizes (stops at a size that cannot be right). */
function repliesIn(result: Uint8Array, count: number): Reply[] {
  const out: Reply[] = [];
  let at = 0;
  while (out.length < count && at + 8 <= result.length) {
    const size = le.u16(result, at + 6);
    out.push({ type: result[at]!, vq: le.u16(result, at + 2), size, at });
    if (size < 8) break;
    at += size;
  }
  return out;
}

export const statsQueryAnswered = defineDeviceClause({
  label: STATS,
  statement: 1,
  level: "MUST",
  title: "STATS_QUERY answered with the supported types, the basic ones among them",
  applies: NET,
  requirement: "With VIRTIO_NET_F_DEVICE_STATS, the device answers STATS_QUERY with its supported statistic types, " +
    "which include every type it serves: the basic receive and transmit statistics at least.",
  action: "Negotiates DEVICE_STATS, sends STATS_QUERY with an 8-byte result buffer and reads the ack and " +
    "supported_stats_types.",
  async run(ctx) {
    await statsUp(ctx);
    const r = await controlQuery(ctx, NetCtrl.STATS, NetCtrl.STATS_QUERY, new Uint8Array(0), 8);
    expectThat(r?.ack === NetCtrl.OK, "STATS_QUERY answered OK", () => `ack ${r?.ack ?? "none"}`);
    const types = BigInt(le.u32(r!.result, 0)) | (BigInt(le.u32(r!.result, 4)) << 32n);
    const basic = STATS_TYPE.RX_BASIC | STATS_TYPE.TX_BASIC;
    expectThat(
      (types & basic) === basic,
      "RX_BASIC and TX_BASIC among the supported types",
      () => `supported_stats_types 0x${types.toString(16)}`,
    );
  },
});

/** Requests each of which has one error: a queue beyond the device's, an unknown type, a type of another queue. */
function wrongRequests(types: bigint): [string, [number, bigint][]][] {
  return [
    ["receiveq1 with an unknown type (bit 40)", [[NET_RX, 1n << 40n]]],
    ["queue 0x7fff", [[0x7fff, STATS_TYPE.RX_BASIC]]],
    ["transmitq1 with RX_BASIC", [[NET_TX, STATS_TYPE.RX_BASIC]]],
    ["receiveq1 with TX_BASIC", [[NET_RX, STATS_TYPE.TX_BASIC]]],
    ...(types & STATS_TYPE.CVQ
      ? [["receiveq1 with CVQ", [[NET_RX, STATS_TYPE.CVQ]]]] as [string, [number, bigint][]][]
      : []),
  ];
}

export const statsWrongRefused = defineDeviceClause({
  label: STATS,
  statement: 2,
  level: "MUST",
  title: "a STATS_GET naming a wrong queue or type answered ERR",
  applies: NET,
  requirement: "A STATS_GET whose request is wrong (a queue beyond the device's, an unknown type, a type not valid " +
    "for the queue) is answered with VIRTIO_NET_ERR.",
  action: "Negotiates DEVICE_STATS (not MQ) and sends STATS_GET for an unknown type, for queue 0x7fff, and with " +
    "receive types for transmitq1 and the other way round, and reads each ack.",
  async run(ctx) {
    await statsUp(ctx);
    const types = await supported(ctx);
    const wrong: string[] = [];
    for (const [name, entries] of wrongRequests(types)) {
      const r = await statsGet(ctx, entries, 64);
      if (r.ack !== NetCtrl.ERR) wrong.push(`${name}: ack ${r.ack}`);
    }
    expectNone("VIRTIO_NET_ERR for each", wrong, (x) => x);
  },
});

export const statsOneWrongFailsAll = defineDeviceClause({
  label: STATS,
  statement: 3,
  level: "MUST",
  title: "one wrong entry fails the whole STATS_GET",
  applies: NET,
  requirement: "A STATS_GET with several entries of which one is wrong is answered with VIRTIO_NET_ERR as a whole, " +
    "however many are right.",
  action: "Negotiates DEVICE_STATS, sends STATS_GET for receiveq1's basic statistics alone (answered OK), then the " +
    "same entry followed by a wrong one (and the wrong one first), and reads the acks.",
  async run(ctx) {
    await statsUp(ctx);
    const good: [number, bigint] = [NET_RX, STATS_TYPE.RX_BASIC];
    const alone = await statsGet(ctx, [good], 64);
    if (alone.ack !== NetCtrl.OK) notApplicable(`receiveq1's basic statistics alone were answered ${alone.ack}`);
    const wrong: string[] = [];
    for (const bad of [[NET_TX, STATS_TYPE.RX_BASIC], [0x7fff, STATS_TYPE.RX_BASIC]] as [number, bigint][]) {
      for (const entries of [[good, bad], [bad, good]]) {
        const r = await statsGet(ctx, entries, 128);
        if (r.ack !== NetCtrl.ERR) {
          wrong.push(`entries ${entries.map(([q, t]) => `(${q}, 0x${t.toString(16)})`)}: ack ${r.ack}`);
        }
      }
    }
    expectNone("VIRTIO_NET_ERR for each", wrong, (x) => x);
  },
});

/** A STATS_GET for receiveq1's and transmitq1's basic statistics (and the control queue's, when supported). */
async function basicReplies(ctx: DeviceClauseContext, room: number) {
  await statsUp(ctx);
  const types = await supported(ctx);
  const entries: [number, bigint][] = [[NET_RX, STATS_TYPE.RX_BASIC], [NET_TX, STATS_TYPE.TX_BASIC]];
  if (types & STATS_TYPE.CVQ) entries.push([NET_CTRL, STATS_TYPE.CVQ]);
  const r = await statsGet(ctx, entries, room);
  if (r.ack !== NetCtrl.OK) notApplicable(`STATS_GET for the basic statistics was answered ${r.ack}`);
  const expected = entries.map(([vq, t]) => ({
    vq,
    type: t === STATS_TYPE.CVQ ? 32 : t === STATS_TYPE.RX_BASIC ? 0 : 16,
  }));
  return { r, expected, replies: repliesIn(r.result, entries.length) };
}

/** Asks for the basic replies and checks each with `check` (a problem sentence, or undefined). */
async function eachReply(
  ctx: DeviceClauseContext,
  expected: string,
  check: (e: { vq: number; type: number }, got: Reply, i: number) => string | undefined,
): Promise<void> {
  const { expected: asked, replies } = await basicReplies(ctx, 256);
  const wrong = asked.flatMap((e, i) => {
    const got = replies[i];
    const problem = got ? check(e, got, i) : `reply ${i + 1} missing`;
    return problem ? [problem] : [];
  });
  expectNone(expected, wrong, (x) => x);
}

export const statsSizeSet = defineDeviceClause({
  label: STATS,
  statement: 4,
  level: "MUST",
  title: "each reply's size is the bytes it takes",
  applies: NET,
  requirement: "The size field of each statistics reply header is the number of bytes that reply takes, header " +
    "included.",
  action: "Negotiates DEVICE_STATS, asks for the basic statistics of receiveq1 and transmitq1 (and of the control " +
    "queue when supported) and checks each reply's size against its type's structure.",
  run: (ctx) =>
    eachReply(
      ctx,
      "sizes of the reply structures",
      (e, got, i) =>
        got.size === STATS_REPLY_BYTES[e.type]
          ? undefined
          : `reply ${i + 1} (type ${e.type}): size ${got.size}, not ${STATS_REPLY_BYTES[e.type]}`,
    ),
});

export const statsHeaderNamesIt = defineDeviceClause({
  label: STATS,
  statement: 5,
  level: "MUST",
  title: "each reply's header names its type and queue",
  applies: NET,
  requirement: "The header of each statistics reply carries the reply's type and the index of the queue it is for.",
  action: "Negotiates DEVICE_STATS, asks for the basic statistics of receiveq1 and transmitq1 (and of the control " +
    "queue when supported) and reads each reply's type and vq_index.",
  run: (ctx) =>
    eachReply(
      ctx,
      "type and vq_index as asked",
      (e, got, i) =>
        got.type === e.type && got.vq === e.vq
          ? undefined
          : `reply ${i + 1}: type ${got.type}, vq_index ${got.vq} (asked: type ${e.type}, vq_index ${e.vq})`,
    ),
});

export const statsNoBytesPast = defineDeviceClause({
  label: STATS,
  statement: 6,
  level: "MUST",
  title: "no byte written past the replies",
  applies: NET,
  requirement: "The device writes the statistics replies and nothing after them, however large the result buffer.",
  action: "Negotiates DEVICE_STATS, asks for the basic statistics into a 512-byte result buffer filled with " +
    `${hex(FILL, 2)} and checks the bytes after the last reply are still the fill.`,
  async run(ctx) {
    const { r, replies } = await basicReplies(ctx, 512);
    const last = replies.at(-1);
    if (!last) notApplicable("no reply could be read");
    const end = last.at + last.size;
    const written = [...r.result.subarray(end).keys()].filter((i) => r.result[end + i] !== FILL);
    expectNone(
      `bytes ${end} to 511 untouched`,
      written.length > 0 ? [written] : [],
      (w) => `${w.length} bytes written, the first at ${end + w[0]!}`,
    );
  },
});

/** The device statistics clauses. */
export const NET_STATS_DEVICE_CLAUSES = [
  statsQueryAnswered,
  statsWrongRefused,
  statsOneWrongFailsAll,
  statsSizeSet,
  statsHeaderNamesIt,
  statsNoBytesPast,
];
