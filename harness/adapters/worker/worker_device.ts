/**
 * A user's device module (an `InProcessDeviceFactory`) run inside a
 * {@link WorkerChannel}: the session proxies register access, settling, the
 * interrupt line, the memory trace, configuration changes and restarts to
 * the worker. Guest memory is a `SharedArrayBuffer` both sides see: the
 * harness reads and writes it directly, the device's DMA in the worker goes
 * through a traced view whose records come back with every answer.
 *
 * @module
 */
import {
  ADAPTER_CONTRACT_VERSION,
  type Capabilities,
  type DeviceSession,
  type DeviceTarget,
  type DeviceTargetInfo,
  type PciFunctionAccess,
  TargetError,
} from "../../adapter.ts";
import type { DeviceTypeName, TransportKind } from "../../features.ts";
import { ArrayMemory, type MemoryAccess } from "../../memory.ts";
import type { RegisterSpace, Width } from "../../registers.ts";
import { hex } from "../../text.ts";
import { IN_PROCESS_RAM } from "../in_process.ts";
import { WorkerChannel, type WorkerTimeouts } from "./worker_host.ts";
import type { LoadReply, OpenReply, SpaceName } from "./worker_protocol.ts";

/** Where the module is and which export is the factory. */
export interface WorkerModule {
  /** The module's URL (file:). */
  url: string;
  /** The export to use. */
  export: string;
}

/** Starts a channel and imports the module in it (bounded by the load deadline). */
export async function loadInWorker(
  label: string,
  mod: WorkerModule,
  role: "device" | "driver",
  info: string,
  timeouts: WorkerTimeouts,
): Promise<{ channel: WorkerChannel; reply: LoadReply }> {
  const channel = new WorkerChannel(label, timeouts);
  try {
    const reply = await channel.request<LoadReply>(
      { op: "load", url: mod.url, export: mod.export, info, role },
      `the import of ${mod.url}`,
    );
    return { channel, reply };
  } catch (e) {
    channel.kill("the import failed");
    throw e;
  }
}

/** A device under test whose factory runs in a worker (one worker per session). */
export class WorkerDeviceTarget implements DeviceTarget {
  readonly role = "device" as const;
  readonly info: DeviceTargetInfo;
  constructor(
    name: string,
    deviceType: DeviceTypeName,
    readonly module: WorkerModule,
    transports: readonly TransportKind[] = ["mmio"],
    readonly timeouts: WorkerTimeouts = {},
  ) {
    this.info = {
      name,
      transport: transports[0] ?? "mmio",
      transports: [...transports],
      deviceType,
      adapter: "in-process",
      contractVersion: ADAPTER_CONTRACT_VERSION,
    };
  }
  async open(transport: TransportKind = this.info.transport): Promise<DeviceSession> {
    if (!this.info.transports?.includes(transport)) {
      throw new TargetError(
        `${this.info.name} cannot be opened on ${transport}: it offers ${this.info.transports?.join(", ")}`,
      );
    }
    const session = new WorkerDeviceSession(this, transport);
    await session.start();
    return session;
  }
}

class WorkerDeviceSession implements DeviceSession {
  readonly info: DeviceTargetInfo;
  capabilities: Capabilities = {
    registers: true,
    memory: true,
    interrupts: true,
    memoryTrace: true,
    configChange: false,
  };
  memory!: ArrayMemory;
  #channel: WorkerChannel | undefined;
  #shape: OpenReply | undefined;
  #level = false;
  #generation = 0;
  #trace: MemoryAccess[] = [];
  #closed = false;
  constructor(readonly target: WorkerDeviceTarget, readonly transport: TransportKind) {
    this.info = target.info;
  }

  #freshMemory(): SharedArrayBuffer {
    const buffer = new SharedArrayBuffer(IN_PROCESS_RAM.size);
    this.memory = new ArrayMemory(IN_PROCESS_RAM.base, IN_PROCESS_RAM.size, new Uint8Array(buffer));
    this.#level = false;
    this.#trace = [];
    return buffer;
  }

  #opened(reply: OpenReply): void {
    this.#shape = reply;
    this.#generation++;
    this.capabilities = { ...this.capabilities, configChange: reply.configChange };
  }

  /** Starts a fresh worker, imports the module and builds the device. */
  async start(): Promise<void> {
    this.#channel?.kill("the session started a fresh worker");
    const { channel, reply } = await loadInWorker(
      this.info.name,
      this.target.module,
      "device",
      "",
      this.target.timeouts,
    );
    if (reply.type !== "function") {
      channel.kill("the export is not a factory");
      throw new TargetError(
        `The export "${this.target.module.export}" of ${this.target.module.url} is not an InProcessDeviceFactory: it is ${reply.type}`,
      );
    }
    this.#channel = channel;
    channel.onIrq = (generation, level) => {
      if (generation === this.#generation) this.#level = level;
    };
    channel.onTrace = (t) => {
      const room = 100_000 - this.#trace.length;
      if (room > 0) this.#trace.push(...t.slice(0, room));
    };
    const buffer = this.#freshMemory();
    this.#opened(
      await channel.request<OpenReply>(
        { op: "open", transport: this.transport, buffer, base: IN_PROCESS_RAM.base, size: IN_PROCESS_RAM.size },
        "building the device",
      ),
    );
  }

  #live(): WorkerChannel {
    if (this.#closed) throw new TargetError(`The session on ${this.info.name} is closed`);
    if (!this.#channel) throw new TargetError(`The session on ${this.info.name} has no worker`);
    return this.#channel;
  }

  #space(name: SpaceName): RegisterSpace {
    const label = name === "registers" ? "the register file" : `PCI ${name} space`;
    return {
      read: async (offset: number, width: Width) => {
        const v = await this.#live().request<unknown>(
          { op: "reg", space: name, offset, width },
          `a ${width}-byte read at ${hex(offset, 3)} of ${label}`,
        );
        if (typeof v !== "number") throw new TargetError(`The device answered a register read with ${typeof v}`);
        return v;
      },
      write: async (offset: number, width: Width, value: number) => {
        await this.#live().request<unknown>(
          { op: "reg", space: name, offset, width, value },
          `a ${width}-byte write of ${hex(value, 1)} at ${hex(offset, 3)} of ${label}`,
        );
      },
    };
  }

  get registers(): RegisterSpace {
    return this.#space("registers");
  }

  get pci(): PciFunctionAccess | undefined {
    const p = this.#shape?.pci;
    if (!p) return undefined;
    return {
      config: this.#space("config"),
      memory: this.#space("memory"),
      memoryWindow: p.memoryWindow,
      ...(p.io && p.ioWindow ? { io: this.#space("io"), ioWindow: p.ioWindow } : {}),
    };
  }

  interruptLevel(): Promise<boolean> {
    try {
      this.#live();
    } catch (e) {
      return Promise.reject(e);
    }
    return Promise.resolve(this.#level);
  }

  async settle(ms: number, until?: () => Promise<boolean>): Promise<void> {
    const deadline = Date.now() + ms;
    for (;;) {
      const slice = Math.max(1, Math.min(deadline - Date.now(), 10));
      const r = await this.#live().request<{ idle: boolean }>(
        { op: "settle", ms: slice },
        `settling for ${slice} ms`,
        slice + this.#live().callMs,
      );
      const hasIdle = this.#shape?.hasIdle ?? false;
      if (hasIdle && !r.idle) {
        if (Date.now() >= deadline || (until && await until())) return;
        continue;
      }
      // Idle: what has not happened will not happen by waiting.
      if (hasIdle) return;
      // A device that cannot say it is idle may act on its own timers: it runs the whole time asked, never less.
      if ((until && await until()) || Date.now() >= deadline) return;
    }
  }

  takeMemoryTrace(): MemoryAccess[] {
    return this.#trace.splice(0);
  }

  async triggerConfigChange(): Promise<void> {
    if (!this.capabilities.configChange) {
      throw new TargetError("This device cannot change its configuration from the host side");
    }
    await this.#live().request<unknown>({ op: "configChange" }, "a configuration change");
  }

  async restart(): Promise<void> {
    const channel = this.#live();
    if (channel.dead) return await this.start();
    const buffer = this.#freshMemory();
    try {
      this.#opened(await channel.request<OpenReply>({ op: "restart", buffer }, "rebuilding the device (restart)"));
    } catch (e) {
      if (!channel.dead) throw e;
      // The worker died or hung while rebuilding: a fresh one.
      await this.start();
    }
  }

  close(): Promise<void> {
    this.#closed = true;
    this.#channel?.kill("the session was closed");
    return Promise.resolve();
  }
}
