/**
 * A user's device module (an `InProcessDeviceFactory`) run inside a
 * {@link WorkerChannel}: the session proxies register access, settling, the
 * interrupt line, the memory trace, configuration changes and restarts to
 * the worker or child process. Each side keeps a copy of guest memory (see
 * `frame.ts`): the harness reads and writes its own, the device's DMA goes
 * through a traced view whose records come back with every message, with
 * the bytes it changed.
 *
 * @module
 */
import {
  ADAPTER_CONTRACT_VERSION,
  type Capabilities,
  type DeviceSession,
  type DeviceTarget,
  type DeviceTargetInfo,
  type NetWire,
  type PciFunctionAccess,
  TargetError,
} from "../../adapter.ts";
import type { DeviceTypeName, TransportKind } from "../../features.ts";
import type { ArrayMemory, MemoryAccess } from "../../memory.ts";
import type { RegisterSpace, Width } from "../../registers.ts";
import { hex } from "../../text.ts";
import { IN_PROCESS_RAM } from "../in_process.ts";
import { type Isolation, WorkerChannel, type WorkerTimeouts } from "./worker_host.ts";
import type { LoadReply, OpenReply, Request, SpaceName } from "./worker_protocol.ts";

/** Where the module is and which export is the factory. */
export interface WorkerModule {
  /** The module's URL (file:). */
  url: string;
  /** The export to use. */
  export: string;
  /** Where it runs (default: a worker). */
  isolation?: Isolation;
}

/** Starts a channel and imports the module in it (bounded by the load deadline). */
export async function loadInWorker(
  label: string,
  mod: WorkerModule,
  role: "device" | "driver",
  info: string,
  timeouts: WorkerTimeouts,
): Promise<{ channel: WorkerChannel; reply: LoadReply }> {
  const channel = new WorkerChannel(label, timeouts, mod.isolation);
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

/**
 * A device under test whose factory runs in a worker (one per session) or a
 * child process (one at a time: a healthy process is kept when a session
 * closes and builds the next session's device afresh; one that died or
 * missed a deadline is replaced).
 */
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
    await session.start(this.#takeKept());
    return session;
  }

  #kept: WorkerChannel | undefined;

  #takeKept(): WorkerChannel | undefined {
    const c = this.#kept;
    this.#kept = undefined;
    return c && !c.dead ? c : undefined;
  }

  /** Keeps a session's healthy child process for the next session (internal); false: the caller ends it. */
  keep(channel: WorkerChannel): boolean {
    if (channel.dead || channel.isolation.kind !== "process" || this.#kept) return false;
    this.#kept = channel;
    return true;
  }

  /** Ends the kept child process, if any. */
  async close(): Promise<void> {
    const c = this.#kept;
    this.#kept = undefined;
    c?.kill("the target was closed");
    await c?.exited;
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

  #freshMemory(channel: WorkerChannel): void {
    this.memory = channel.guestMemory(IN_PROCESS_RAM.base, IN_PROCESS_RAM.size);
    this.#level = false;
    this.#trace = [];
  }

  #opened(reply: OpenReply): void {
    this.#shape = reply;
    this.#generation = reply.generation;
    this.capabilities = { ...this.capabilities, configChange: reply.configChange, wire: reply.wire === true };
  }

  /** Builds the device in `kept` (a loaded child process) or in a fresh worker or process that imports the module. */
  async start(kept?: WorkerChannel): Promise<void> {
    this.#channel?.kill("the session started a fresh worker");
    if (kept) {
      this.#channel = kept;
      this.#listen(kept);
      this.#freshMemory(kept);
      try {
        this.#opened(await kept.request<OpenReply>(this.#openRequest(), "building the device"));
        return;
      } catch (e) {
        if (!kept.dead) throw e;
        // The kept process failed: a fresh one below.
      }
    }
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
    this.#listen(channel);
    this.#freshMemory(channel);
    this.#opened(await channel.request<OpenReply>(this.#openRequest(), "building the device"));
  }

  #listen(channel: WorkerChannel): void {
    channel.onIrq = (generation, level) => {
      if (generation === this.#generation) this.#level = level;
    };
    channel.onTrace = (t) => {
      const room = 100_000 - this.#trace.length;
      if (room > 0) this.#trace.push(...t.slice(0, room));
    };
  }

  #openRequest(): Request {
    return { op: "open", transport: this.transport, base: IN_PROCESS_RAM.base, size: IN_PROCESS_RAM.size };
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

  /** The device's wire, when it has one (a network device). */
  get wire(): NetWire | undefined {
    if (!this.capabilities.wire) return undefined;
    return {
      takeTransmitted: async () =>
        framesOf(await this.#live().request<unknown>({ op: "wireTake" }, "the frames the device transmitted")),
      inject: async (frame) => {
        await this.#live().request<unknown>(
          { op: "wireInject", frame: frame.slice() },
          `a ${frame.length}-byte frame towards the device`,
        );
      },
    };
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
    this.#freshMemory(channel);
    try {
      this.#opened(await channel.request<OpenReply>({ op: "restart" }, "rebuilding the device (restart)"));
    } catch (e) {
      if (!channel.dead) throw e;
      // The worker died or hung while rebuilding: a fresh one.
      await this.start();
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const channel = this.#channel;
    this.#channel = undefined;
    if (!channel || this.target.keep(channel)) return;
    channel.kill("the session was closed");
    await channel.exited;
  }
}

/** The frames a worker or child process answered a wire take with, checked: a list of byte arrays. */
export function framesOf(v: unknown): Uint8Array[] {
  if (!Array.isArray(v) || !v.every((f) => f instanceof Uint8Array)) {
    throw new TargetError(`The device answered a wire take with something that is not a list of frames: ${typeof v}`);
  }
  return v;
}
