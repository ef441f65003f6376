/**
 * The worker or child-process side of a whole target object a user's module
 * exports (a `DeviceTarget` or `DriverTarget` rather than a factory): its
 * device sessions are served call by call (`topen`, `tcall`), each answer
 * carrying the session's memory trace; a driver target attaches as a
 * factory's driver does, and a watched one answers `watch`.
 *
 * @module
 */
import type { DeviceSession, DeviceTarget, DriverTarget, WatchRequest } from "../../adapter.ts";
import type { MemoryAccess } from "../../memory.ts";
import type { RegisterSpace } from "../../registers.ts";
import type { RemoteOpenReply, SessionCall, SpaceName, Window } from "./worker_protocol.ts";

function window(w: { base: number; size: number }): Window {
  return { base: w.base, size: w.size };
}

/** The sessions of one whole device target. */
export class TargetHost {
  readonly #sessions = new Map<number, DeviceSession>();
  #next = 1;
  constructor(readonly target: DeviceTarget | DriverTarget) {}

  /** Opens a session of the device target. */
  async open(transport: RemoteOpenReply["transport"]): Promise<RemoteOpenReply> {
    if (this.target.role !== "device") throw new Error("The exported target is not a device target");
    const s = await this.target.open(transport);
    const id = this.#next++;
    this.#sessions.set(id, s);
    const pci = s.pci;
    return {
      session: id,
      transport: s.transport,
      capabilities: { ...s.capabilities },
      memory: window(s.memory),
      pci: pci
        ? {
          memoryWindow: window(pci.memoryWindow),
          ...(pci.ioWindow ? { ioWindow: window(pci.ioWindow) } : {}),
          io: pci.io !== undefined && pci.ioWindow !== undefined,
        }
        : null,
      config: typeof s.triggerConfigChange === "function",
      describe: typeof s.describe === "function",
      trace: typeof s.takeMemoryTrace === "function",
      wire: s.wire !== undefined,
    };
  }

  #session(id: number): DeviceSession {
    const s = this.#sessions.get(id);
    if (!s) throw new Error(`No session ${id} of the exported target is open`);
    return s;
  }

  /** Serves one call on a session. */
  async call(id: number, c: SessionCall): Promise<unknown> {
    const s = this.#session(id);
    switch (c.kind) {
      case "reg": {
        const space = spaceOf(s, c.space);
        if (c.value === undefined) return await space.read(c.offset, c.width);
        await space.write(c.offset, c.width, c.value);
        return undefined;
      }
      case "memRead":
        return await s.memory.read(c.addr, c.length);
      case "memWrite":
        await s.memory.write(c.addr, c.data);
        return undefined;
      case "level":
        return await s.interruptLevel();
      case "settle":
        await s.settle(c.ms);
        return undefined;
      case "config":
        if (!s.triggerConfigChange) throw new Error("This session cannot change its configuration from the host side");
        await s.triggerConfigChange();
        return undefined;
      case "wireTake":
        if (!s.wire) throw new Error("This session has no wire");
        return await s.wire.takeTransmitted();
      case "wireInject":
        if (!s.wire) throw new Error("This session has no wire");
        await s.wire.inject(c.frame);
        return undefined;
      case "restart":
        await s.restart();
        return undefined;
      case "describe":
        return s.describe?.() ?? "";
      case "close":
        this.#sessions.delete(id);
        await s.close();
        return undefined;
    }
  }

  /** The memory accesses of session `id` since the last call (none when it does not trace). */
  trace(id: number): MemoryAccess[] {
    return this.#sessions.get(id)?.takeMemoryTrace?.() ?? [];
  }

  /** Runs one watch of the driver target. */
  watch(request: unknown): Promise<unknown> {
    if (this.target.role !== "driver" || !this.target.watch) throw new Error("The exported target does not watch");
    return this.target.watch(request as WatchRequest);
  }
}

function spaceOf(s: DeviceSession, name: SpaceName): RegisterSpace {
  if (name === "registers") return s.registers;
  const space = s.pci?.[name];
  if (!space) throw new Error(`The session has no PCI ${name} space`);
  return space;
}
