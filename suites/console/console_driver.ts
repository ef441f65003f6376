/**
 * Driver clauses of spec 5.3 Console Device: buffers on the right side of
 * each queue, and the multiport handshake (DEVICE_READY, PORT_OPEN for a
 * console port). The harness presents its reference console (two ports,
 * MULTIPORT offered) and reads what the driver put on its queues and sent
 * on the control transmitq.
 *
 * @module
 */
import { defineDriverClause, type DriverClauseContext } from "../../harness/core/clause.ts";
import { bit } from "../../harness/features.ts";
import { CONSOLE_F, ConsoleEvent, ConsoleFunction } from "../../harness/models/device/console.ts";
import type { ScenarioTrace } from "../../harness/roles/harness_device.ts";
import { expectNone, expectThat, notApplicable } from "../../harness/verify.ts";
import { accepted } from "../driver_trace.ts";

const OPERATION = "drivernormative:Device Types / Console Device / Device Operation";
const MULTIPORT = "drivernormative:Device Types / Console Device / Device Operation / Multiport Device Operation";
const APPLIES = { deviceTypes: ["console" as const] };

/** Lets the driver probe, write to port 0 (when it can) and be removed; returns the trace and the console. */
async function consoleRun(ctx: DriverClauseContext): Promise<{ trace: ScenarioTrace; fn: ConsoleFunction }> {
  const writes = ctx.target.info.workloads.includes("console-write")
    ? [{ kind: "console-write" as const, data: new TextEncoder().encode("virtio console\n") }]
    : [];
  const trace = await ctx.scenarios.run({ workloads: writes });
  if (!trace.probe.bound) notApplicable(`the driver did not bind: ${trace.probe.error ?? "no reason given"}`);
  if (!(trace.fn instanceof ConsoleFunction)) notApplicable("the harness did not present its console");
  return { trace, fn: trace.fn };
}

/** A console run with MULTIPORT negotiated (n/a otherwise). */
async function multiportRun(ctx: DriverClauseContext): Promise<{ trace: ScenarioTrace; fn: ConsoleFunction }> {
  const run = await consoleRun(ctx);
  if (!(accepted(run.trace) & bit(CONSOLE_F.MULTIPORT))) {
    notApplicable("the driver did not negotiate VIRTIO_CONSOLE_F_MULTIPORT");
  }
  return run;
}

const fmtMisplaced = (m: { queue: number }) => `queue ${m.queue}`;

export const noReadableInReceiveq = defineDriverClause({
  label: OPERATION,
  statement: 1,
  level: "MUST NOT",
  title: "no device-readable buffer in a receiveq",
  requirement: "The driver puts only device-writable buffers in a receive queue (port receiveqs and the control " +
    "receiveq).",
  action: "Lets the driver probe the console, write to port 0 and be removed; the console reports every buffer " +
    "it took from a receive queue that had a device-readable part.",
  applies: APPLIES,
  async run(ctx) {
    const { fn } = await consoleRun(ctx);
    expectNone("device-readable buffers in receive queues", fn.misplaced.filter((m) => m.input), fmtMisplaced);
  },
});

export const noWritableInTransmitq = defineDriverClause({
  label: OPERATION,
  statement: 2,
  level: "MUST NOT",
  title: "no device-writable buffer in a transmitq",
  requirement: "The driver puts only device-readable buffers in a transmit queue (port transmitqs and the " +
    "control transmitq).",
  action: "Lets the driver probe the console, write to port 0 and be removed; the console reports every buffer " +
    "it took from a transmit queue that had a device-writable part.",
  applies: APPLIES,
  async run(ctx) {
    const { fn } = await consoleRun(ctx);
    expectNone("device-writable buffers in transmit queues", fn.misplaced.filter((m) => !m.input), fmtMisplaced);
  },
});

export const sendsDeviceReady = defineDriverClause({
  label: MULTIPORT,
  statement: 1,
  level: "MUST",
  title: "DEVICE_READY sent once MULTIPORT is negotiated",
  requirement: "A driver that negotiated VIRTIO_CONSOLE_F_MULTIPORT sends a DEVICE_READY control message.",
  action: "Offers MULTIPORT, lets the driver probe and work, and looks for DEVICE_READY among the control messages " +
    "the driver sent.",
  applies: APPLIES,
  async run(ctx) {
    const { fn } = await multiportRun(ctx);
    const ready = fn.controlLog.some((m) => m.from === "driver" && m.event === ConsoleEvent.DEVICE_READY);
    expectThat(ready, "a DEVICE_READY control message from the driver", () => describeLog(fn));
  },
});

/** The console ports the device nominated, each with what the driver answered after the nomination. */
function nominations(fn: ConsoleFunction): { id: number; opens: number[] }[] {
  const out: { id: number; opens: number[] }[] = [];
  fn.controlLog.forEach((m, i) => {
    if (m.from !== "device" || m.event !== ConsoleEvent.CONSOLE_PORT) return;
    const opens = fn.controlLog.slice(i + 1)
      .filter((r) => r.from === "driver" && r.event === ConsoleEvent.PORT_OPEN && r.id === m.id)
      .map((r) => r.value);
    out.push({ id: m.id, opens });
  });
  return out;
}

function describeLog(fn: ConsoleFunction): string {
  const names = Object.fromEntries(Object.entries(ConsoleEvent).map(([k, v]) => [v, k]));
  const log = fn.controlLog.map((m) => `${m.from} ${names[m.event] ?? m.event}(${m.id},${m.value})`);
  return log.length ? log.join(", ") : "no control message at all";
}

/** A multiport run in which the device nominated a console port (n/a otherwise). */
async function nominatedRun(ctx: DriverClauseContext) {
  const { fn } = await multiportRun(ctx);
  const noms = nominations(fn);
  if (noms.length === 0) {
    notApplicable(`the device nominated no console port (it does after PORT_READY for port 0): ${describeLog(fn)}`);
  }
  return { fn, noms };
}

export const answersConsolePort = defineDriverClause({
  label: MULTIPORT,
  statement: 3,
  level: "MUST",
  title: "a CONSOLE_PORT is answered with PORT_OPEN",
  requirement: "When the device nominates a port as a console (CONSOLE_PORT), the driver answers with a " +
    "PORT_OPEN message for that port.",
  action: "Offers MULTIPORT with two ports, lets the driver probe (the console nominates port 0 once the driver " +
    "sends PORT_READY for it), and looks for a PORT_OPEN for each nominated port after its CONSOLE_PORT.",
  applies: APPLIES,
  async run(ctx) {
    const { fn, noms } = await nominatedRun(ctx);
    expectNone(
      "a PORT_OPEN for each console port",
      noms.filter((n) => n.opens.length === 0),
      (n) => `port ${n.id}: no PORT_OPEN (${describeLog(fn)})`,
    );
  },
});

export const portOpenValueOne = defineDriverClause({
  label: MULTIPORT,
  statement: 4,
  level: "MUST",
  title: "the PORT_OPEN answering CONSOLE_PORT has value 1",
  requirement: "The PORT_OPEN a driver sends for a console port says the port is open (value 1).",
  action: "As for 5.3.6.2.2#3, then checks the value of the first PORT_OPEN after each CONSOLE_PORT.",
  applies: APPLIES,
  async run(ctx) {
    const { noms } = await nominatedRun(ctx);
    const answered = noms.filter((n) => n.opens.length > 0);
    if (answered.length === 0) notApplicable("the driver answered no CONSOLE_PORT with PORT_OPEN");
    expectNone(
      "PORT_OPEN value 1 for each console port",
      answered.filter((n) => n.opens[0] !== 1),
      (n) => `port ${n.id}: PORT_OPEN value ${n.opens[0]}`,
    );
  },
});

/** The driver clauses of spec 5.3. */
export const CONSOLE_DRIVER_CLAUSES = [
  noReadableInReceiveq,
  noWritableInTransmitq,
  sendsDeviceReady,
  answersConsolePort,
  portOpenValueOne,
];
