/**
 * A user's driver module (an `InProcessDriverFactory`) run inside a
 * {@link WorkerChannel}. One worker serves every session of the target; a
 * worker that died or missed a deadline is replaced at the next `attach`.
 * The driver reaches the harness device through calls back to the harness:
 * every register and guest-memory access is one message, served by the
 * endpoint the harness gave (so its watched memory records every access).
 *
 * @module
 */
import {
  ADAPTER_CONTRACT_VERSION,
  type DriverSession,
  type DriverTarget,
  type DriverTargetInfo,
  type HarnessDeviceEndpoint,
  type ProbeResult,
  TargetError,
  type WatchedRun,
  type WatchRequest,
  type Workload,
  type WorkloadResult,
} from "../../adapter.ts";
import type { RegisterSpace } from "../../registers.ts";
import { loadInWorker, type WorkerModule } from "./worker_device.ts";
import type { WorkerChannel, WorkerTimeouts } from "./worker_host.ts";
import type { Call, SpaceName } from "./worker_protocol.ts";

/** A driver under test whose factory runs in a worker. */
export class WorkerDriverTarget implements DriverTarget {
  readonly role = "driver" as const;
  readonly info: DriverTargetInfo;
  #channel: WorkerChannel | undefined;
  #starting: Promise<WorkerChannel> | undefined;
  #nextSession = 1;
  readonly #endpoints = new Map<number, HarnessDeviceEndpoint>();

  /** A whole driver target that watches its driver: each watch crosses as one request. */
  readonly watch?: (request: WatchRequest) => Promise<WatchedRun>;

  /** `watches`: the module's export is a whole target object with `watch` (set from its load reply). */
  constructor(
    info: Omit<DriverTargetInfo, "adapter" | "contractVersion">,
    readonly module: WorkerModule,
    readonly timeouts: WorkerTimeouts = {},
    watches = false,
  ) {
    this.info = { ...info, adapter: "in-process", contractVersion: ADAPTER_CONTRACT_VERSION };
    if (watches) {
      this.watch = async (request) => {
        const channel = await this.#worker();
        return await channel.request<WatchedRun>(
          { op: "watch", request },
          "a watch of the driver",
          (this.timeouts.loadMs ?? 30_000) * 20,
        );
      };
    }
  }

  #worker(): Promise<WorkerChannel> {
    if (this.#channel && !this.#channel.dead) return Promise.resolve(this.#channel);
    this.#starting ??= (async () => {
      try {
        this.#endpoints.clear();
        const { channel, reply } = await loadInWorker(this.info.name, this.module, "driver", "", this.timeouts);
        if (reply.type !== "function" && !reply.targetObject) {
          channel.kill("the export is not a factory");
          throw new TargetError(
            `The export "${this.module.export}" of ${this.module.url} is not an InProcessDriverFactory: it is ${reply.type}`,
          );
        }
        channel.onCall = (c) => this.#serve(c);
        // The line is wired once the driver in the worker takes it (a driver that never does polls).
        channel.onListen = (id) => {
          this.#endpoints.get(id)?.onInterrupt((level) => {
            if (this.#endpoints.has(id)) channel.send({ kind: "irq", session: id, level });
          });
        };
        this.#channel = channel;
        return channel;
      } finally {
        this.#starting = undefined;
      }
    })();
    return this.#starting;
  }

  async #serve(c: Call): Promise<unknown> {
    const ep = this.#endpoints.get(c.session);
    if (!ep) throw new TargetError(`Driver session ${c.session} is closed: its device is gone`);
    switch (c.op) {
      case "reg": {
        const s = space(ep, c.space);
        if (c.value === undefined) return await s.read(c.offset, c.width);
        await s.write(c.offset, c.width, c.value);
        return undefined;
      }
      case "memRead":
        return await ep.memory.read(c.addr, c.length);
      case "memWrite":
        await ep.memory.write(c.addr, c.data);
        return undefined;
    }
  }

  /** Ends the worker or child process (a later `attach` starts a fresh one) and waits until it is gone. */
  async close(): Promise<void> {
    const channel = this.#channel;
    channel?.kill("the target was closed");
    await channel?.exited;
  }

  /** Attaches a driver session in the worker (starting one if need be). */
  async attach(device: HarnessDeviceEndpoint): Promise<DriverSession> {
    const channel = await this.#worker();
    const id = this.#nextSession++;
    this.#endpoints.set(id, device);
    const p = device.pci;
    try {
      await channel.request<unknown>({
        op: "attach",
        session: id,
        transport: device.transport,
        base: device.memory.base,
        size: device.memory.size,
        pci: p
          ? {
            memoryWindow: { ...p.memoryWindow },
            ...(p.ioWindow ? { ioWindow: { ...p.ioWindow } } : {}),
            io: p.io !== undefined && p.ioWindow !== undefined,
          }
          : null,
      }, "the driver's attach");
    } catch (e) {
      this.#endpoints.delete(id);
      throw e;
    }
    return new WorkerDriverSession(channel, id, () => this.#endpoints.delete(id));
  }
}

function space(ep: HarnessDeviceEndpoint, name: SpaceName): RegisterSpace {
  if (name === "registers") return ep.registers;
  const s = ep.pci?.[name];
  if (!s) throw new TargetError(`The harness device has no PCI ${name} space`);
  return s;
}

class WorkerDriverSession implements DriverSession {
  constructor(readonly channel: WorkerChannel, readonly id: number, readonly forget: () => void) {}
  #bounded(ms: number): number {
    return ms + this.channel.callMs;
  }
  probe(deadlineMs: number): Promise<ProbeResult> {
    return this.channel.request<ProbeResult>(
      { op: "probe", session: this.id, deadlineMs },
      "the driver's probe",
      this.#bounded(deadlineMs),
    );
  }
  workload(work: Workload, deadlineMs: number): Promise<WorkloadResult> {
    return this.channel.request<WorkloadResult>(
      { op: "workload", session: this.id, work, deadlineMs },
      `the driver's ${work.kind} workload`,
      this.#bounded(deadlineMs),
    );
  }
  async remove(deadlineMs: number): Promise<void> {
    await this.channel.request<unknown>(
      { op: "remove", session: this.id, deadlineMs },
      "the driver's remove",
      this.#bounded(deadlineMs),
    );
  }
  async close(): Promise<void> {
    try {
      if (!this.channel.dead) {
        await this.channel.request<unknown>({ op: "close", session: this.id }, "closing the driver");
      }
    } finally {
      this.forget();
    }
  }
}
