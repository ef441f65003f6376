/**
 * The reference console device's function (spec 5.3): port 0's receiveq
 * and transmitq, and with VIRTIO_CONSOLE_F_MULTIPORT the control queues and
 * a second port. Input waits in held receive buffers until there is some;
 * output is kept per port; the emergency write register is taken at any
 * time. The multiport handshake follows the spec: DEVICE_READY from the
 * driver brings a DEVICE_ADD per port, PORT_READY for port 0 brings
 * CONSOLE_PORT, PORT_OPEN from the driver opens a port.
 *
 * @module
 */
import { DEVICE_IDS } from "../../features.ts";
import { le } from "../../memory.ts";
import type { GuestMemory } from "../../memory.ts";
import type { Width } from "../../registers.ts";
import type { ChainBuffer } from "../../virtqueue/split.ts";
import { CONSOLE_CONFIG_LAYOUT } from "../../device_types.ts";
import { type DeviceFunction, type FunctionHost, gather, type HandleResult, scatter } from "./device_function.ts";

/** Console feature bits (spec 5.3.3). */
export const CONSOLE_F = { SIZE: 0, MULTIPORT: 1, EMERG_WRITE: 2 } as const;

/** Control events (spec 5.3.6.2). */
export const ConsoleEvent = {
  DEVICE_READY: 0,
  DEVICE_ADD: 1,
  DEVICE_REMOVE: 2,
  PORT_READY: 3,
  CONSOLE_PORT: 4,
  RESIZE: 5,
  PORT_OPEN: 6,
  PORT_NAME: 7,
} as const;

/** The control receiveq and transmitq (with MULTIPORT). */
export const CONTROL_RX = 2;
/** The control transmitq. */
export const CONTROL_TX = 3;

/** The receiveq of `port` (0: queue 0; port n ≥ 1: queue 2n + 2). */
export function receiveqOf(port: number): number {
  return port === 0 ? 0 : 2 * port + 2;
}

/** The port and direction of queue `q`, or "control" for the control queues. */
export function queueRole(q: number): { port: number; dir: "rx" | "tx" } | { control: "rx" | "tx" } {
  if (q === CONTROL_RX) return { control: "rx" };
  if (q === CONTROL_TX) return { control: "tx" };
  const port = q < 2 ? 0 : (q - 2) >> 1;
  return { port, dir: q % 2 === 0 ? "rx" : "tx" };
}

/** One control message: port, event, value (and what follows it). */
export function controlMessage(id: number, event: number, value: number, extra?: Uint8Array): Uint8Array {
  extra ??= new Uint8Array(0);
  const out = new Uint8Array(8 + extra.length);
  le.setU32(out, 0, id);
  le.setU16(out, 4, event);
  le.setU16(out, 6, value);
  out.set(extra, 8);
  return out;
}

/** Options of the reference console. */
export interface ConsoleOptions {
  /** Ports with MULTIPORT (max_nr_ports), at least 1; default 2. */
  ports?: number;
  queueSizeMax?: number;
}

/** The reference console function. */
export class ConsoleFunction implements DeviceFunction {
  readonly type = "console" as const;
  readonly deviceId = DEVICE_IDS.console;
  readonly features = (1n << BigInt(CONSOLE_F.SIZE)) | (1n << BigInt(CONSOLE_F.MULTIPORT)) |
    (1n << BigInt(CONSOLE_F.EMERG_WRITE));
  readonly queueCount: number;
  readonly config = new Uint8Array(12);
  readonly configLayout = CONSOLE_CONFIG_LAYOUT;
  readonly ports: number;
  /** What the driver wrote to each port, and to emerg_wr. */
  readonly output = new Map<number | "emergency", number[]>();
  /** Ports the driver opened. */
  readonly open = new Set<number>();
  /** Whether the driver sent DEVICE_READY. */
  ready = false;
  /** Every control message since the function was made, across resets, with who sent it (driver-role clauses). */
  readonly controlLog: { from: "driver" | "device"; id: number; event: number; value: number }[] = [];
  /** Buffers the driver put on the wrong side: device-readable in a receive queue, device-writable in a transmit queue. */
  readonly misplaced: { queue: number; input: boolean }[] = [];
  #host: FunctionHost | undefined;
  /** Messages and input waiting for a held buffer, per receive queue. */
  readonly #outbox = new Map<number, Uint8Array[]>();
  readonly #max: number;

  constructor(opts: ConsoleOptions = {}) {
    this.ports = Math.max(1, opts.ports ?? 2);
    this.queueCount = 2 + 2 * this.ports;
    this.#max = opts.queueSizeMax ?? 64;
    this.reset();
  }

  attach(host: FunctionHost): void {
    this.#host = host;
  }

  queueSizeMax(queue: number): number {
    return queue < this.queueCount ? this.#max : 0;
  }

  /** Sends `data` on receive queue `q`: into a held buffer if there is one, else when the driver gives one. */
  async send(q: number, data: Uint8Array): Promise<void> {
    const waiting = this.#outbox.get(q) ?? [];
    if (waiting.length === 0 && await this.#host?.deliver(q, data)) return;
    waiting.push(data);
    this.#outbox.set(q, waiting);
  }

  /** Sends a control message (MULTIPORT). */
  control(id: number, event: number, value: number, extra?: Uint8Array): Promise<void> {
    this.#log("device", id, event, value);
    return this.send(CONTROL_RX, controlMessage(id, event, value, extra));
  }

  async handle(queue: number, chain: ChainBuffer[], mem: GuestMemory, negotiated: bigint): Promise<HandleResult> {
    const multiport = (negotiated & (1n << BigInt(CONSOLE_F.MULTIPORT))) !== 0n;
    if (!multiport && queue > 1) return { kind: "error", reason: `queue ${queue} exists only with MULTIPORT` };
    const role = queueRole(queue);
    const input = "control" in role ? role.control === "rx" : role.dir === "rx";
    // A buffer on the wrong side is noted (the driver-role clauses read it) and held or read as it is, so one
    // misplaced buffer does not stop the console for everything the driver does next.
    if (input) {
      if (chain.some((b) => !b.writable)) {
        this.#misplaced(queue, input);
        return { kind: "hold" };
      }
      const next = this.#outbox.get(queue)?.shift();
      if (!next) return { kind: "hold" };
      return { kind: "used", written: await scatter(mem, chain, next) };
    }
    if (chain.some((b) => b.writable)) this.#misplaced(queue, input);
    const data = await gather(mem, chain);
    if ("control" in role) await this.onControl(data);
    else this.#append(role.port, data);
    return { kind: "used", written: 0 };
  }

  #append(port: number | "emergency", data: Uint8Array): void {
    const out = this.output.get(port) ?? [];
    out.push(...data);
    this.output.set(port, out.slice(-65536));
  }

  /** A control message from the driver (MULTIPORT). */
  protected async onControl(msg: Uint8Array): Promise<void> {
    if (msg.length < 8) return;
    const id = le.u32(msg, 0);
    const event = le.u16(msg, 4);
    const value = le.u16(msg, 6);
    this.#log("driver", id, event, value);
    if (event === ConsoleEvent.DEVICE_READY && value === 1 && !this.ready) {
      this.ready = true;
      for (let port = 0; port < this.ports; port++) await this.control(port, ConsoleEvent.DEVICE_ADD, 0);
    } else if (event === ConsoleEvent.PORT_READY && value === 1 && id === 0) {
      await this.control(0, ConsoleEvent.CONSOLE_PORT, 1);
    } else if (event === ConsoleEvent.PORT_OPEN && id < this.ports) {
      if (value === 1) this.open.add(id);
      else this.open.delete(id);
    }
  }

  #misplaced(queue: number, input: boolean): void {
    if (this.misplaced.length < 100) this.misplaced.push({ queue, input });
  }

  #log(from: "driver" | "device", id: number, event: number, value: number): void {
    if (this.controlLog.length < 1000) this.controlLog.push({ from, id, event, value });
  }

  writeConfig(offset: number, width: Width, value: number): void {
    // emerg_wr (offset 8): taken at any time, even before the device is configured (5.3.5.1).
    if (offset === 8) this.#append("emergency", new Uint8Array([value & 0xff]));
    void width;
  }

  reset(): void {
    this.config.fill(0);
    le.setU16(this.config, 0, 80);
    le.setU16(this.config, 2, 25);
    le.setU32(this.config, 4, this.ports);
    this.#outbox.clear();
    this.open.clear();
    this.ready = false;
  }
}
