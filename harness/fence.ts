/**
 * A clause's fenced view of a device session. Every call a clause makes into
 * the target goes through its fence; when the clause's deadline passes the
 * runner revokes the fence, and from then on every call through it rejects at
 * once without reaching the target. So a clause that overran can no longer
 * touch the session the next clause uses.
 *
 * The fence also checks what the target answers (a register value must fit
 * the access width, a memory read must have the length asked for) and lets
 * timers run now and then, so a clause polling an in-process target in a
 * tight loop cannot starve its own deadline.
 *
 * @module
 */
import { type DeviceSession, type PciFunctionAccess, TargetError } from "./adapter.ts";
import type { GuestMemory } from "./memory.ts";
import type { RegisterSpace, Width } from "./registers.ts";
import { hex } from "./text.ts";
import { setImmediate } from "node:timers";

/** A call through a revoked fence: the clause's deadline has passed. */
export class FenceRevoked extends Error {
  override name = "FenceRevoked";
}

/** How long a clause may run on microtasks alone before the fence yields to timers. */
const YIELD_EVERY_MS = 20;

/**
 * The fence of one clause run: an abort signal, the call in flight, and
 * revocation.
 *
 * @example
 * ```ts
 * import { ClauseFence } from "./fence.ts";
 * const fence = new ClauseFence();
 * const v = await fence.call("a read", () => Promise.resolve(1));
 * fence.revoke("the clause did not finish within 10 ms");
 * await fence.call("a read", () => Promise.resolve(1)).catch((e) => e.name); // "FenceRevoked"
 * ```
 */
export class ClauseFence {
  readonly #controller = new AbortController();
  #pending: { what: string | (() => string); since: number } | undefined;
  #lastYield = performance.now();

  /** Aborted when the fence is revoked. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** True once revoked. */
  get revoked(): boolean {
    return this.#controller.signal.aborted;
  }

  /** Revokes the fence: later calls reject at once; the signal aborts with `reason`. */
  revoke(reason: string): void {
    if (!this.revoked) this.#controller.abort(new FenceRevoked(reason));
  }

  /** Throws {@link FenceRevoked} when revoked. */
  check(): void {
    if (this.revoked) {
      const r = this.#controller.signal.reason;
      throw r instanceof FenceRevoked ? new FenceRevoked(r.message) : new FenceRevoked(String(r));
    }
  }

  /** What the clause was waiting for when asked, e.g. `a 4-byte read of MMIO register 0x070 (for 1200 ms)`. */
  waitingFor(): string | undefined {
    const p = this.#pending;
    if (!p) return undefined;
    const what = typeof p.what === "string" ? p.what : p.what();
    return `${what} (for ${Math.round(performance.now() - p.since)} ms)`;
  }

  /**
   * Makes one call into the target through the fence: rejects at once when
   * revoked, records the call as in flight, and checks the fence again when
   * the call settles (an answer that arrives after revocation is dropped).
   * `what` describes the call, or makes the description when it is asked for
   * (a register access is made thousands of times; its text rarely read).
   */
  async call<T>(what: string | (() => string), f: () => Promise<T>): Promise<T> {
    this.check();
    let now = performance.now();
    if (now - this.#lastYield > YIELD_EVERY_MS) {
      // setImmediate, not setTimeout(0): it lets due timers and finished I/O run without the 1 ms or more a
      // zero-delay timer waits (a clause yields hundreds of times in a run).
      await new Promise((r) => setImmediate(r));
      this.#lastYield = now = performance.now();
      this.check();
    }
    const outer = this.#pending;
    this.#pending = { what, since: now };
    try {
      const v = await f();
      this.check();
      return v;
    } finally {
      this.#pending = outer;
    }
  }

  /** A synchronous call through the fence. */
  callSync<T>(f: () => T): T {
    this.check();
    return f();
  }
}

/** Checks that a register value fits the access width; throws a {@link TargetError} naming the register. */
export function checkRegisterValue(space: string, offset: number, width: Width, value: unknown): number {
  if (typeof value === "number" && Number.isInteger(value) && value >= 0 && value < 2 ** (8 * width)) return value;
  throw new TargetError(
    `The target answered a ${width}-byte read of ${space} ${hex(offset, 3)} with a value that is not ` +
      `${width * 8}-bit: ${truncateText(String(value), 64)}`,
  );
}

/** A register space seen through a fence, its read values checked against the access width. */
export function fenceRegisters(space: string, inner: RegisterSpace, fence: ClauseFence): RegisterSpace {
  return {
    read: (offset, width) =>
      fence.call(
        () => `a ${width}-byte read of ${space} ${hex(offset, 3)}`,
        async () => checkRegisterValue(space, offset, width, await inner.read(offset, width)),
      ),
    write: (offset, width, value) =>
      fence.call(() => `a ${width}-byte write of ${space} ${hex(offset, 3)}`, () => inner.write(offset, width, value)),
  };
}

/** Guest memory seen through a fence; a read must return the bytes asked for. */
export function fenceMemory(inner: GuestMemory, fence: ClauseFence): GuestMemory {
  return {
    get base() {
      return inner.base;
    },
    get size() {
      return inner.size;
    },
    read: (addr, length) =>
      fence.call(() => `a ${length}-byte read of guest memory at ${hex(addr, 8)}`, async () => {
        const data = await inner.read(addr, length);
        if (!(data instanceof Uint8Array) || data.length !== length) {
          throw new TargetError(
            `The target answered a ${length}-byte read of guest memory at ${hex(addr, 8)} with ` +
              `${data instanceof Uint8Array ? `${data.length} bytes` : "something that is not bytes"}`,
          );
        }
        return data;
      }),
    write: (addr, data) =>
      fence.call(() => `a ${data.length}-byte write of guest memory at ${hex(addr, 8)}`, () => inner.write(addr, data)),
  };
}

function fencePci(pci: PciFunctionAccess, fence: ClauseFence): PciFunctionAccess {
  return {
    config: fenceRegisters("PCI configuration space", pci.config, fence),
    memory: fenceRegisters("PCI memory space", pci.memory, fence),
    memoryWindow: { ...pci.memoryWindow },
    ...(pci.io && pci.ioWindow
      ? { io: fenceRegisters("PCI I/O space", pci.io, fence), ioWindow: { ...pci.ioWindow } }
      : {}),
  };
}

/**
 * A clause's view of a session: every call goes through `fence`. Restart and
 * close are the runner's, not the clause's: through the view they reject.
 */
export function fenceSession(session: DeviceSession, fence: ClauseFence): DeviceSession {
  const space = session.transport === "pci" ? "PCI configuration space" : "MMIO register";
  const pci = session.pci ? fencePci(session.pci, fence) : undefined;
  const wire = session.wire;
  const view: DeviceSession = {
    ...(wire
      ? {
        wire: {
          takeTransmitted: () => fence.call("the frames the device transmitted", () => wire.takeTransmitted()),
          inject: (frame: Uint8Array) =>
            fence.call(() => `a ${frame.length}-byte frame towards the device`, () => wire.inject(frame)),
        },
      }
      : {}),
    info: session.info,
    capabilities: { ...session.capabilities },
    transport: session.transport,
    registers: fenceRegisters(space, session.registers, fence),
    pci,
    memory: fenceMemory(session.memory, fence),
    interruptLevel: () => fence.call("a read of the interrupt line", () => session.interruptLevel()),
    settle: (ms, until) => fence.call(`the device to settle (up to ${ms} ms)`, () => session.settle(ms, until)),
    restart: () => Promise.reject(new Error("A clause cannot restart the session: the runner does, between clauses")),
    close: () => Promise.reject(new Error("A clause cannot close the session: the runner does")),
  };
  const take = session.takeMemoryTrace?.bind(session);
  if (take) view.takeMemoryTrace = () => fence.callSync(take);
  const change = session.triggerConfigChange?.bind(session);
  if (change) view.triggerConfigChange = () => fence.call("a host-side configuration change", change);
  return view;
}

/** At most `max` characters of `text`, with what was cut said at the end. */
export function truncateText(text: string, max = 2000): string {
  if (text.length <= max) return text;
  return `${text.slice(0, max)}… (${text.length - max} more characters cut)`;
}
