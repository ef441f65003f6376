/**
 * Driver clauses of spec 5.1.9.5.11 (device statistics): the STATS_GET commands a driver sends, judged against what
 * it asked with STATS_QUERY before, the queue each entry names and the room it gave for the replies.
 *
 * @module
 */
import { defineDriverClause, type DriverClauseContext } from "../../harness/core/clause.ts";
import { bit, F, NET_F } from "../../harness/features.ts";
import { le } from "../../harness/memory.ts";
import {
  type NetControlCommand,
  NetCtrl,
  NetFunction,
  STATS_RX_TYPES,
  STATS_TX_TYPES,
  STATS_TYPE,
} from "../../harness/models/device/net.ts";
import { expectNone, notApplicable } from "../../harness/verify.ts";

const STATS = "drivernormative:Device Types / Network Device / Device Operation / Control Virtqueue / " +
  "Device Statistics";
const NET = { deviceTypes: ["net" as const] };
/** The control queue of the one-pair device these clauses present (no MQ). */
const CONTROL = 2;

/** One entry of a STATS_GET: the queue and the types asked. */
interface Entry {
  vq: number;
  types: bigint;
}

function entriesOf(c: NetControlCommand): Entry[] {
  const out: Entry[] = [];
  for (let at = 0; at + 16 <= c.data.length; at += 16) {
    out.push({
      vq: le.u16(c.data, at),
      types: BigInt(le.u32(c.data, at + 8)) | (BigInt(le.u32(c.data, at + 12)) << 32n),
    });
  }
  return out;
}

/**
 * Presents the harness's one-pair net device (DEVICE_STATS offered, MQ not), asks for the statistics of
 * receiveq1, transmitq1 and the control queue, and returns every STATS command the driver sent, in order.
 */
async function statsSent(ctx: DriverClauseContext): Promise<NetControlCommand[]> {
  if (ctx.scenarios.watched) notApplicable("the driver runs beside its own device: the harness sees no control queue");
  if (!ctx.target.info.workloads.includes("net-stats")) notApplicable("the driver does not declare net-stats");
  const offered = (new NetFunction().features | bit(F.VERSION_1)) & ~bit(NET_F.MQ);
  const t = await ctx.scenarios.run({
    knobs: { offered },
    workloads: [{ kind: "net-stats", queue: 0 }, { kind: "net-stats", queue: 1 }, {
      kind: "net-stats",
      queue: CONTROL,
    }],
  });
  if (!t.probe.bound || !(t.fn instanceof NetFunction)) notApplicable("the driver did not bind");
  const sent = t.fn.controlLog.filter((c) => c.cls === NetCtrl.STATS);
  if (!sent.some((c) => c.command === NetCtrl.STATS_GET)) notApplicable("the driver sent no STATS_GET");
  return sent;
}

const hexTypes = (t: bigint) => `0x${t.toString(16)}`;

export const statsTypesQueried = defineDriverClause({
  label: STATS,
  statement: 1,
  level: "MUST",
  title: "STATS_GET asks only for types STATS_QUERY reported",
  applies: NET,
  requirement: "Every type in a STATS_GET's types_bitmap is one the device reported in answer to a STATS_QUERY the " +
    "driver sent before.",
  action: "Presents a net device supporting the control queue's and the basic statistics, asks for the statistics " +
    "of receiveq1, transmitq1 and the control queue, and checks each STATS_GET against the answered STATS_QUERY " +
    "before it.",
  async run(ctx) {
    const sent = await statsSent(ctx);
    const supported = new NetFunction().statsTypes;
    const wrong: string[] = [];
    let queried = false;
    for (const c of sent) {
      if (c.command === NetCtrl.STATS_QUERY && c.ack === NetCtrl.OK) queried = true;
      if (c.command !== NetCtrl.STATS_GET) continue;
      if (!queried) wrong.push("a STATS_GET before any STATS_QUERY");
      for (const e of entriesOf(c)) {
        if (e.types & ~supported) wrong.push(`queue ${e.vq}: types ${hexTypes(e.types)} beyond ${hexTypes(supported)}`);
      }
    }
    expectNone("types from an earlier STATS_QUERY only", wrong, (x) => x);
  },
});

export const statsTypesFitQueue = defineDriverClause({
  label: STATS,
  statement: 2,
  level: "MUST",
  title: "STATS_GET asks each queue for types of its kind",
  applies: NET,
  requirement: "The types_bitmap of each STATS_GET entry holds only types valid for the queue it names: receive " +
    "types for a receive queue, transmit types for a transmit queue, the control queue's type for the control queue.",
  action: "Presents a one-pair net device with DEVICE_STATS, asks for the statistics of receiveq1, transmitq1 and " +
    "the control queue, and checks every entry of every STATS_GET.",
  async run(ctx) {
    const entries = (await statsSent(ctx)).filter((c) => c.command === NetCtrl.STATS_GET).flatMap(entriesOf);
    const valid = (vq: number) => vq === CONTROL ? STATS_TYPE.CVQ : vq % 2 === 0 ? STATS_RX_TYPES : STATS_TX_TYPES;
    expectNone(
      "types valid for each queue",
      entries.filter((e) => e.vq > CONTROL || (e.types & ~valid(e.vq)) !== 0n),
      (e) => `queue ${e.vq}: types ${hexTypes(e.types)}`,
    );
  },
});

/** Bytes of a reply header. */
const HEADER = 8;

export const statsRoomForHeaders = defineDriverClause({
  label: STATS,
  statement: 3,
  level: "MUST",
  title: "a STATS_GET result buffer holds every reply header",
  applies: NET,
  requirement: "The result buffer of a STATS_GET has room for at least the header of every reply the request asks " +
    "for (one per type of each entry).",
  action: "Presents a net device with DEVICE_STATS, asks for the statistics of receiveq1, transmitq1 and the control " +
    "queue, and compares each STATS_GET's result buffer with 8 bytes per type asked.",
  async run(ctx) {
    const gets = (await statsSent(ctx)).filter((c) => c.command === NetCtrl.STATS_GET);
    const headers = (c: NetControlCommand) =>
      entriesOf(c).reduce((n, e) => n + e.types.toString(2).split("").filter((b) => b === "1").length, 0) * HEADER;
    expectNone(
      "room for every reply header",
      gets.filter((c) => c.resultRoom < headers(c)),
      (c) => `a result buffer of ${c.resultRoom} bytes for ${headers(c) / HEADER} replies`,
    );
  },
});

/** The device statistics driver clauses. */
export const NET_STATS_DRIVER_CLAUSES = [statsTypesQueried, statsTypesFitQueue, statsRoomForHeaders];
