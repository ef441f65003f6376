/**
 * Device clauses of spec 5.3 Console Device: the emergency write register
 * before the device is configured, and the ports the device announces with
 * VIRTIO_CONSOLE_F_MULTIPORT.
 *
 * @module
 */
import fc from "fast-check";
import { defineDeviceClause, type DeviceClauseContext } from "../../harness/core/clause.ts";
import { checkProperty } from "../../harness/core/property.ts";
import { bit, F } from "../../harness/features.ts";
import { le } from "../../harness/memory.ts";
import {
  CONSOLE_F,
  ConsoleEvent,
  CONTROL_RX,
  CONTROL_TX,
  controlMessage,
} from "../../harness/models/device/console.ts";
import { formatStatus, Status } from "../../harness/status.ts";
import { expectNone, expectThat } from "../../harness/verify.ts";

const INIT = "devicenormative:Device Types / Console Device / Device Initialization";
const MULTIPORT = "devicenormative:Device Types / Console Device / Device Operation / Multiport Device Operation";

/** Offset of emerg_wr in the console configuration. */
const EMERG_WR = 8;

export const emergencyWriteAnyTime = defineDeviceClause({
  label: INIT,
  statement: 1,
  level: "MUST",
  title: "emerg_wr may be written before the device is configured",
  requirement: "With VIRTIO_CONSOLE_F_EMERG_WRITE offered, the device takes a write to emerg_wr at any time, even " +
    "before the driver has configured it: the write neither fails the device nor keeps it from being set up.",
  action: "Resets the device, goes to a random stage before FEATURES_OK (reset, ACKNOWLEDGE, DRIVER), writes a " +
    "random byte to emerg_wr, then checks device status and that initialization completes (FEATURES_OK accepted, " +
    "DRIVER_OK set, no DEVICE_NEEDS_RESET).",
  applies: { deviceTypes: ["console"], offered: [CONSOLE_F.EMERG_WRITE] },
  async run(ctx) {
    const stages = ["reset", "acknowledge", "driver"] as const;
    const arb = fc.record({ stage: fc.constantFrom(...stages), byte: fc.integer({ min: 0x20, max: 0x7e }) });
    await checkProperty(ctx, arb, async ({ stage, byte }) => {
      await ctx.driver.init(stage);
      const before = await ctx.transport.getStatus();
      await ctx.transport.writeConfig(EMERG_WR, 4, byte);
      await ctx.driver.quiet(10);
      const after = await ctx.transport.getStatus();
      expectThat(after === before, `device status still ${formatStatus(before)}`, () => formatStatus(after));
      const r = await ctx.driver.init("driver-ok", (o) => o & (bit(F.VERSION_1) | bit(CONSOLE_F.EMERG_WRITE)));
      expectThat(
        r.featuresOk && (r.status & Status.DRIVER_OK) !== 0 && (r.status & Status.DEVICE_NEEDS_RESET) === 0,
        "initialization completes after the emergency write",
        () => formatStatus(r.status),
      );
    }, (v) => `0x${v.byte.toString(16)} written to emerg_wr at stage ${v.stage}`);
  },
});

/** A control message the device sent. */
interface Control {
  id: number;
  event: number;
  value: number;
}

const EVENT_NAMES = Object.fromEntries(Object.entries(ConsoleEvent).map(([k, v]) => [v, k]));
const fmtControl = (m: Control) => `${EVENT_NAMES[m.event] ?? `event ${m.event}`} port ${m.id} value ${m.value}`;

/**
 * Negotiates MULTIPORT, gives the device `buffers` control receive buffers, sends DEVICE_READY and (when
 * `portReady`) a PORT_READY for each port added; returns max_nr_ports and the control messages the device sent.
 */
async function handshake(
  ctx: DeviceClauseContext,
  buffers: number,
  portReady: boolean,
): Promise<{ maxPorts: number; messages: Control[] }> {
  const want = bit(F.VERSION_1) | bit(CONSOLE_F.MULTIPORT);
  const r = await ctx.driver.init("queues", (o) => o & want);
  expectThat(r.featuresOk, "FEATURES_OK with VIRTIO_CONSOLE_F_MULTIPORT", () => formatStatus(r.status));
  const maxPorts = await ctx.transport.readConfig(4, 4);
  const rx = await ctx.driver.setupQueue(CONTROL_RX);
  const tx = await ctx.driver.setupQueue(CONTROL_TX);
  await ctx.driver.addStatus(Status.DRIVER_OK);
  const addrs = new Map<number, number>();
  for (let i = 0; i < Math.min(buffers, rx.size); i++) {
    const addr = ctx.driver.alloc.alloc(64);
    const id = await rx.add([{ addr, len: 64, writable: true }]);
    addrs.set(id, addr);
    await rx.publish(id);
  }
  await ctx.driver.kick(CONTROL_RX);
  const send = async (msg: Uint8Array) => {
    const addr = ctx.driver.alloc.alloc(msg.length);
    await ctx.session.memory.write(addr, msg);
    await tx.publish(await tx.add([{ addr, len: msg.length, writable: false }]));
    await ctx.driver.kick(CONTROL_TX);
  };
  await send(controlMessage(0, ConsoleEvent.DEVICE_READY, 1));
  const messages: Control[] = [];
  // Collected until the device has been quiet twice for the negative window (scaled to its measured speed).
  for (let quiet = 0; quiet < 2;) {
    const used = await ctx.driver.waitUsed(CONTROL_RX, 1, ctx.driver.negativeWindow(100));
    if (used.length === 0) {
      quiet++;
      continue;
    }
    quiet = 0;
    for (const u of used) {
      const addr = addrs.get(u.id);
      if (addr === undefined || u.len < 8) continue;
      const b = await ctx.session.memory.read(addr, 8);
      const m = { id: le.u32(b, 0), event: le.u16(b, 4), value: le.u16(b, 6) };
      messages.push(m);
      if (portReady && m.event === ConsoleEvent.DEVICE_ADD) {
        await send(controlMessage(m.id, ConsoleEvent.PORT_READY, 1));
      }
    }
  }
  return { maxPorts, messages };
}

/** Runs of a handshake property: 26 cases, each a full multiport handshake (about 0.2 s on QEMU). */
const HANDSHAKE_RUNS = 8;
const arbHandshake = fc.record({ buffers: fc.integer({ min: 4, max: 16 }), portReady: fc.boolean() });
const fmtHandshake = (v: { buffers: number; portReady: boolean }) =>
  `${v.buffers} control receive buffers, ${v.portReady ? "PORT_READY for each port added" : "no PORT_READY"}`;

/**
 * Walks the device's port announcements in order: the DEVICE_ADD messages naming an existing port or one at or above
 * max_nr_ports (`adds`), and the DEVICE_REMOVE messages naming a port not added (`removes`).
 */
function portFaults(messages: Control[], maxPorts: number): { adds: string[]; removes: string[] } {
  const live = new Set<number>();
  const adds: string[] = [];
  const removes: string[] = [];
  for (const m of messages) {
    if (m.event === ConsoleEvent.DEVICE_ADD) {
      if (m.id >= maxPorts) adds.push(`${fmtControl(m)}: max_nr_ports is ${maxPorts}`);
      else if (live.has(m.id)) adds.push(`${fmtControl(m)}: port ${m.id} exists already`);
      live.add(m.id);
    } else if (m.event === ConsoleEvent.DEVICE_REMOVE) {
      if (!live.has(m.id)) removes.push(`${fmtControl(m)}: port ${m.id} was not added`);
      live.delete(m.id);
    }
  }
  return { adds, removes };
}

/** A multiport clause: runs the handshake property and checks one kind of port fault. */
function portClause(statement: 1 | 2, title: string, requirement: string, action: string, expected: string) {
  return defineDeviceClause({
    label: MULTIPORT,
    statement,
    level: "MUST NOT",
    title,
    requirement,
    action,
    applies: { deviceTypes: ["console"], offered: [CONSOLE_F.MULTIPORT] },
    async run(ctx) {
      await checkProperty(
        ctx,
        arbHandshake,
        async (v) => {
          const { maxPorts, messages } = await handshake(ctx, v.buffers, v.portReady);
          const faults = portFaults(messages, maxPorts);
          expectNone(
            `${expected} (max_nr_ports ${maxPorts})`,
            statement === 1 ? faults.adds : faults.removes,
            (x) => x,
          );
        },
        fmtHandshake,
        { maxRuns: HANDSHAKE_RUNS },
      );
    },
  });
}

export const addsNewPortsOnly = portClause(
  1,
  "DEVICE_ADD names a new port below max_nr_ports",
  "A DEVICE_ADD from the device never names a port that already exists, nor one at or above max_nr_ports.",
  "Negotiates VIRTIO_CONSOLE_F_MULTIPORT, sets up the control queues with 4–16 receive buffers, sends " +
    "DEVICE_READY, answers (or not) each DEVICE_ADD with PORT_READY, collects the device's control messages until " +
    "it is quiet and checks every DEVICE_ADD.",
  "DEVICE_ADD of new ports below max_nr_ports",
);

export const removesAddedPortsOnly = portClause(
  2,
  "DEVICE_REMOVE names a port added before",
  "A DEVICE_REMOVE from the device names only a port it created with an earlier DEVICE_ADD.",
  "Runs the multiport handshake as for 5.3.6.2.1#1 and checks that each DEVICE_REMOVE follows a DEVICE_ADD of its " +
    "port (and no later DEVICE_REMOVE of it).",
  "DEVICE_REMOVE of added ports only",
);

/** The device clauses of spec 5.3. */
export const CONSOLE_DEVICE_CLAUSES = [emergencyWriteAnyTime, addsNewPortsOnly, removesAddedPortsOnly];
