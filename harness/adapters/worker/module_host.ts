/**
 * The side of a worker or child process that runs a user's in-process
 * module (device factory or driver factory): it answers the harness's
 * requests (see `worker_protocol.ts`) through a {@link HostPort}, which is
 * the worker's message scope (`worker_main.ts`) or the child's standard
 * input and output (`process_main.ts`). `Deno.exit` and `close` are wrapped
 * so that the harness learns why the host went away.
 *
 * The device's guest memory here is a copy kept in step with the harness's
 * (see `frame.ts`): every frame carries the bytes its sender changed, and
 * every message to the harness carries the device's memory accesses made
 * until then, so the harness never sees a change before the access that
 * made it.
 *
 * @module
 */
import type {
  DeviceTarget,
  DriverSession,
  DriverTarget,
  HarnessDeviceEndpoint,
  PciFunctionAccess,
  ProbeResult,
  Workload,
  WorkloadResult,
} from "../../adapter.ts";
import type { TransportKind } from "../../features.ts";
import { type GuestMemory, type MemoryAccess, TracedMemory } from "../../memory.ts";
import { TargetHost } from "./target_host.ts";
import { type Frame, SyncedMemory } from "./frame.ts";
import type { RegisterSpace, Width } from "../../registers.ts";
import type { InProcessDevice, InProcessDeviceFactory, InProcessDriverFactory } from "../in_process.ts";
import { fromWire } from "./wire_error.ts";
import {
  type Call,
  type FromWorker,
  type LoadReply,
  type OpenReply,
  type Request,
  type SpaceName,
  toWire,
  type ToWorker,
} from "./worker_protocol.ts";
import { errorText } from "../../text.ts";

/** How a module host reaches the harness: frames both ways. */
export interface HostPort {
  /** Sends a frame to the harness. */
  send(frame: Frame): void;
  /** Registers the handler of every frame from the harness. */
  listen(handler: (frame: Frame) => void): void;
}

/** Serves the harness's requests on `port` until the host ends. */
export function serveModule(port: HostPort): void {
  let memory: SyncedMemory | undefined;
  /** The generation of `memory` (the harness's, from the frame that asked for it). */
  let memoryGen = 0;
  /** The generation of the frame being handled: a device built now takes it. */
  let incomingGen = 0;
  const post = (m: FromWorker) => port.send({ m, gen: memoryGen, ...(memory ? { mem: memory.takePatches() } : {}) });
  const realExit = Deno.exit.bind(Deno);
  Deno.exit = ((code?: number) => {
    post({ kind: "exit", how: `it called Deno.exit(${code ?? ""})` });
    return realExit(code);
  }) as typeof Deno.exit;
  const scope = globalThis as unknown as { close?: () => void };
  if (typeof scope.close === "function") {
    const realClose = scope.close.bind(scope);
    scope.close = () => {
      post({ kind: "exit", how: "it called close()" });
      realClose();
    };
  }
  let factory: unknown;
  /** The export when it is a whole target object. */
  let whole: TargetHost | undefined;
  let device: InProcessDevice | undefined;
  let traced: TracedMemory | undefined;
  let generation = 0;
  let memoryShape = { base: 0, size: 0 };
  let transport: TransportKind = "mmio";
  const sessions = new Map<number, { driver: DriverSession; listeners: ((level: boolean) => void)[] }>();
  const calls = new Map<number, { resolve: (v: unknown) => void; reject: (e: unknown) => void }>();
  let nextCall = 1;

  function call(c: Call): Promise<unknown> {
    const id = nextCall++;
    return new Promise((resolve, reject) => {
      calls.set(id, { resolve, reject });
      post({ kind: "call", id, call: c });
    });
  }

  function build(): OpenReply {
    memory = new SyncedMemory(memoryShape.base, memoryShape.size);
    memoryGen = incomingGen;
    traced = new TracedMemory(memory);
    const gen = ++generation;
    try {
      device = (factory as InProcessDeviceFactory)(traced, transport);
    } catch (e) {
      const err = new Error(`The in-process device factory failed: ${errorText(e)}`);
      err.name = "TargetError";
      throw err;
    }
    device.onInterrupt((level) => {
      if (level) traced?.markInterrupt();
      if (gen === generation) post({ kind: "irq", generation: gen, level, trace: traced?.accesses.splice(0) ?? [] });
    });
    const pci = device.pci;
    return {
      generation: gen,
      configChange: device.triggerConfigChange !== undefined,
      wire: device.wire !== undefined,
      hasIdle: device.idle !== undefined,
      pci: pci
        ? {
          memoryWindow: { ...pci.memoryWindow },
          ...(pci.ioWindow ? { ioWindow: { ...pci.ioWindow } } : {}),
          io: pci.io !== undefined && pci.ioWindow !== undefined,
        }
        : null,
    };
  }

  function space(name: SpaceName): RegisterSpace {
    if (!device) throw new Error("No device is open in this worker");
    if (name === "registers") return device.registers;
    const pci = device.pci;
    const s = pci?.[name];
    if (!s) throw new Error(`The device has no ${name} space`);
    return s;
  }

  function driverSession(id: number) {
    const s = sessions.get(id);
    if (!s) throw new Error(`No driver session ${id} in this worker`);
    return s;
  }

  function endpoint(
    req: Extract<Request, { op: "attach" }>,
    listeners: ((level: boolean) => void)[],
  ): HarnessDeviceEndpoint {
    const session = req.session;
    const regs = (name: SpaceName): RegisterSpace => ({
      read: (offset: number, width: Width) =>
        call({ op: "reg", session, space: name, offset, width }) as Promise<number>,
      write: async (offset: number, width: Width, value: number) => {
        await call({ op: "reg", session, space: name, offset, width, value });
      },
    });
    const memory: GuestMemory = {
      base: req.base,
      size: req.size,
      read: (addr, length) => call({ op: "memRead", session, addr, length }) as Promise<Uint8Array>,
      write: async (addr, data) => {
        await call({ op: "memWrite", session, addr, data: data.slice() });
      },
    };
    const out: HarnessDeviceEndpoint = {
      transport: req.transport,
      registers: regs(req.pci ? "config" : "registers"),
      memory,
      onInterrupt: (l) => {
        // The harness wires the line to this worker only once the driver takes it: a driver that never does polls.
        if (listeners.length === 0) post({ kind: "listen", session });
        listeners.push(l);
      },
    };
    if (req.pci) {
      const pci: PciFunctionAccess = {
        config: regs("config"),
        memory: regs("memory"),
        memoryWindow: req.pci.memoryWindow,
        ...(req.pci.io && req.pci.ioWindow ? { io: regs("io"), ioWindow: req.pci.ioWindow } : {}),
      };
      return { ...out, pci };
    }
    return out;
  }

  async function settle(ms: number): Promise<{ idle: boolean }> {
    const d = device;
    if (!d) throw new Error("No device is open in this worker");
    if (!d.idle) {
      // No idle hook: the device may act on its own timers, so it gets the whole slice.
      await new Promise((r) => setTimeout(r, Math.max(0, ms)));
      return { idle: false };
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<"timeout">((r) => timer = setTimeout(() => r("timeout"), Math.max(1, ms)));
    const done = await Promise.race([d.idle().then(() => "idle" as const), timeout]);
    clearTimeout(timer);
    return { idle: done === "idle" };
  }

  async function serve(req: Request): Promise<unknown> {
    switch (req.op) {
      case "load": {
        const mod: Record<string, unknown> = await import(req.url);
        const value = mod[req.export];
        factory = value;
        const isObj = typeof value === "object" && value !== null;
        const rec = value as Record<string, unknown>;
        const reply: LoadReply = {
          type: req.export in mod ? typeof value : "missing",
          targetObject: isObj && rec.role === req.role &&
            typeof (req.role === "device" ? rec.open : rec.attach) === "function",
          exports: Object.keys(mod),
        };
        if (reply.targetObject) {
          whole = new TargetHost(value as DeviceTarget | DriverTarget);
          reply.watch = typeof rec.watch === "function";
          try {
            reply.targetInfo = structuredClone(rec.info);
          } catch {
            // Not cloneable: the harness reports it as not describing the target.
          }
        }
        if (req.role === "driver") {
          try {
            reply.info = structuredClone(mod[req.info]);
          } catch {
            // Not cloneable: the harness reports it as not describing the driver.
          }
        }
        return reply;
      }
      case "open":
        memoryShape = { base: req.base, size: req.size };
        transport = req.transport;
        return build();
      case "restart":
        return build();
      case "reg": {
        const s = space(req.space);
        if (req.value === undefined) return await s.read(req.offset, req.width);
        await s.write(req.offset, req.width, req.value);
        return undefined;
      }
      case "settle":
        return await settle(req.ms);
      case "configChange":
        if (!device?.triggerConfigChange) {
          throw new Error("This device cannot change its configuration from the host side");
        }
        device.triggerConfigChange();
        return undefined;
      case "wireTake":
        if (!device?.wire) throw new Error("This device has no wire");
        return await device.wire.takeTransmitted();
      case "wireInject":
        if (!device?.wire) throw new Error("This device has no wire");
        await device.wire.inject(req.frame);
        return undefined;
      case "attach": {
        const listeners: ((level: boolean) => void)[] = [];
        let driver: DriverSession;
        try {
          const ep = endpoint(req, listeners);
          driver = whole ? await (whole.target as DriverTarget).attach(ep) : (factory as InProcessDriverFactory)(ep);
        } catch (e) {
          const err = new Error(`The in-process driver factory failed: ${errorText(e)}`);
          err.name = "TargetError";
          throw err;
        }
        sessions.set(req.session, { driver, listeners });
        return undefined;
      }
      case "probe":
        return await driverSession(req.session).driver.probe(req.deadlineMs) satisfies ProbeResult;
      case "workload":
        return await driverSession(req.session).driver.workload(
          req.work as Workload,
          req.deadlineMs,
        ) satisfies WorkloadResult;
      case "remove":
        await driverSession(req.session).driver.remove(req.deadlineMs);
        return undefined;
      case "close": {
        const s = sessions.get(req.session);
        sessions.delete(req.session);
        await s?.driver.close();
        return undefined;
      }
      case "topen":
        return await wholeTarget().open(req.transport);
      case "tcall":
        return await wholeTarget().call(req.session, req.call);
      case "watch":
        return await wholeTarget().watch(req.request);
    }
  }

  function wholeTarget(): TargetHost {
    if (!whole) throw new Error("The export is not a whole target object");
    return whole;
  }

  /** The device's memory accesses to send with the answer to `req`. */
  function traceFor(req: Request): MemoryAccess[] {
    if (req.op === "tcall") return whole?.trace(req.session) ?? [];
    return traced?.accesses.splice(0) ?? [];
  }

  port.listen((frame: Frame) => {
    if (frame.mem && memory && frame.gen === memoryGen) memory.apply(frame.mem);
    incomingGen = frame.gen;
    const m = frame.m as ToWorker;
    switch (m.kind) {
      case "req":
        serve(m.req).then(
          (value) => post({ kind: "res", id: m.id, ok: true, value, trace: traceFor(m.req) }),
          (err) => post({ kind: "res", id: m.id, ok: false, error: toWire(err), trace: traceFor(m.req) }),
        );
        break;
      case "ret": {
        const c = calls.get(m.id);
        calls.delete(m.id);
        if (!c) break;
        if (m.ok) c.resolve(m.value);
        else c.reject(fromWire(m.error));
        break;
      }
      case "irq":
        sessions.get(m.session)?.listeners.forEach((l) => l(m.level));
        break;
    }
  });
}
