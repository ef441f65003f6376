/**
 * A whole `DeviceTarget` object a user's module exports, run in a worker or
 * child process like a factory: every session call crosses as one request
 * (register and PCI accesses, guest-memory reads and writes, the interrupt
 * level, settling in slices, configuration changes, restarts), and each
 * answer brings the session's memory trace. One worker or process serves
 * the target's sessions; one that died or missed a deadline is replaced at
 * the next `open`.
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
import type { TransportKind } from "../../features.ts";
import type { GuestMemory, MemoryAccess } from "../../memory.ts";
import type { RegisterSpace, Width } from "../../registers.ts";
import { hex } from "../../text.ts";
import { framesOf, loadInWorker, type WorkerModule } from "./worker_device.ts";
import type { WorkerChannel, WorkerTimeouts } from "./worker_host.ts";
import type { RemoteOpenReply, SessionCall, SpaceName } from "./worker_protocol.ts";

/** A device target object that lives in a worker or child process. */
export class RemoteDeviceTarget implements DeviceTarget {
  readonly role = "device" as const;
  #channel: WorkerChannel | undefined;
  #starting: Promise<WorkerChannel> | undefined;

  /** `info` as the module's target reports it (its adapter is "in-process"). */
  constructor(
    info: Omit<DeviceTargetInfo, "adapter" | "contractVersion">,
    readonly module: WorkerModule,
    readonly timeouts: WorkerTimeouts = {},
  ) {
    this.info = { ...info, adapter: "in-process", contractVersion: ADAPTER_CONTRACT_VERSION };
  }
  readonly info: DeviceTargetInfo;

  #host(): Promise<WorkerChannel> {
    if (this.#channel && !this.#channel.dead) return Promise.resolve(this.#channel);
    this.#starting ??= (async () => {
      try {
        const { channel, reply } = await loadInWorker(this.info.name, this.module, "device", "", this.timeouts);
        if (!reply.targetObject) {
          channel.kill("the export is not a target object");
          throw new TargetError(`The export "${this.module.export}" of ${this.module.url} is no longer a DeviceTarget`);
        }
        this.#channel = channel;
        return channel;
      } finally {
        this.#starting = undefined;
      }
    })();
    return this.#starting;
  }

  async open(transport: TransportKind = this.info.transport): Promise<DeviceSession> {
    const channel = await this.#host();
    const reply = await channel.request<RemoteOpenReply>(
      { op: "topen", transport },
      `opening a session on ${transport}`,
      channel.timeouts.loadMs ?? 30_000,
    );
    return new RemoteDeviceSession(this.info, channel, reply);
  }

  /** Ends the worker or process (a later `open` starts a fresh one) and waits until it is gone. */
  async close(): Promise<void> {
    const channel = this.#channel;
    channel?.kill("the target was closed");
    await channel?.exited;
  }
}

class RemoteDeviceSession implements DeviceSession {
  readonly capabilities: Capabilities;
  readonly transport: TransportKind;
  readonly memory: GuestMemory;
  readonly describe?: () => string;
  readonly triggerConfigChange?: () => Promise<void>;
  readonly takeMemoryTrace?: () => MemoryAccess[];
  readonly wire?: NetWire;
  #trace: MemoryAccess[] = [];
  #said = "";
  #closed = false;

  constructor(readonly info: DeviceTargetInfo, readonly channel: WorkerChannel, readonly shape: RemoteOpenReply) {
    this.capabilities = { ...shape.capabilities };
    this.transport = shape.transport;
    this.memory = {
      base: shape.memory.base,
      size: shape.memory.size,
      read: async (addr, length) => {
        const v = await this.#call({ kind: "memRead", addr, length }, `a ${length}-byte guest-memory read`);
        if (!(v instanceof Uint8Array)) throw new TargetError(`The session answered a memory read with ${typeof v}`);
        return v;
      },
      write: async (addr, data) => {
        await this.#call({ kind: "memWrite", addr, data: data.slice() }, `a ${data.length}-byte guest-memory write`);
      },
    };
    if (shape.config) {
      this.triggerConfigChange = async () => {
        await this.#call({ kind: "config" }, "a configuration change");
      };
    }
    if (shape.wire) {
      this.wire = {
        takeTransmitted: async () =>
          framesOf(await this.#call({ kind: "wireTake" }, "the frames the device transmitted")),
        inject: async (frame) => {
          await this.#call(
            { kind: "wireInject", frame: frame.slice() },
            `a ${frame.length}-byte frame towards the device`,
          );
        },
      };
    }
    if (shape.describe) this.describe = () => this.#said;
    if (shape.trace) {
      this.takeMemoryTrace = () => this.#trace.splice(0);
      channel.onTrace = (t) => {
        const room = 100_000 - this.#trace.length;
        if (room > 0) this.#trace.push(...t.slice(0, room));
      };
    }
  }

  async #call(call: SessionCall, what: string, ms?: number): Promise<unknown> {
    if (this.#closed) throw new TargetError(`The session on ${this.info.name} is closed`);
    try {
      return await this.channel.request<unknown>({ op: "tcall", session: this.shape.session, call }, what, ms);
    } catch (e) {
      // What the implementation says now, for `describe()` (which is synchronous): fetched after a failure only.
      if (this.shape.describe && !this.channel.dead) {
        const said = await this.channel.request<unknown>(
          { op: "tcall", session: this.shape.session, call: { kind: "describe" } },
          "describing the session",
        ).catch(() => this.#said);
        this.#said = String(said);
      }
      throw e;
    }
  }

  #space(name: SpaceName): RegisterSpace {
    const label = name === "registers" ? "the register file" : `PCI ${name} space`;
    return {
      read: async (offset: number, width: Width) => {
        const v = await this.#call(
          { kind: "reg", space: name, offset, width },
          `a ${width}-byte read at ${hex(offset, 3)} of ${label}`,
        );
        if (typeof v !== "number") throw new TargetError(`The device answered a register read with ${typeof v}`);
        return v;
      },
      write: async (offset: number, width: Width, value: number) => {
        await this.#call(
          { kind: "reg", space: name, offset, width, value },
          `a ${width}-byte write of ${hex(value, 1)} at ${hex(offset, 3)} of ${label}`,
        );
      },
    };
  }

  get registers(): RegisterSpace {
    return this.#space("registers");
  }

  get pci(): PciFunctionAccess | undefined {
    const p = this.shape.pci;
    if (!p) return undefined;
    return {
      config: this.#space("config"),
      memory: this.#space("memory"),
      memoryWindow: p.memoryWindow,
      ...(p.io && p.ioWindow ? { io: this.#space("io"), ioWindow: p.ioWindow } : {}),
    };
  }

  async interruptLevel(): Promise<boolean> {
    return Boolean(await this.#call({ kind: "level" }, "reading the interrupt line"));
  }

  async settle(ms: number, until?: () => Promise<boolean>): Promise<void> {
    const deadline = Date.now() + ms;
    for (;;) {
      const slice = Math.max(1, Math.min(deadline - Date.now(), 10));
      await this.#call({ kind: "settle", ms: slice }, `settling for ${slice} ms`, slice + this.channel.callMs);
      if ((until && await until()) || Date.now() >= deadline) return;
    }
  }

  async restart(): Promise<void> {
    await this.#call({ kind: "restart" }, "restarting the device", this.channel.timeouts.loadMs ?? 30_000);
    this.#trace = [];
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    try {
      if (!this.channel.dead) await this.#call({ kind: "close" }, "closing the session");
    } finally {
      this.#closed = true;
    }
  }
}
