/**
 * The harness side of a worker that runs a user's in-process module: starts
 * the module worker, sends requests with a deadline each and turns every
 * way the worker can fail (no answer in time, an uncaught error, `Deno.exit`
 * or `close()` inside the target) into a {@link TargetError} for every
 * pending and later request. A worker that misses a deadline is terminated
 * (this works even inside a busy loop); a new channel starts a fresh one.
 *
 * @module
 */
import { TargetError } from "../../adapter.ts";
import type { MemoryAccess } from "../../memory.ts";
import { fromWire } from "./wire_error.ts";
import type { Call, FromWorker, Request, ToWorker, WireError } from "./worker_protocol.ts";
import { toWire } from "./worker_protocol.ts";
import { errorText } from "../../text.ts";

/** How long the worker gets to answer one request (register access, memory access, settle slice, restart). */
export const DEFAULT_WORKER_CALL_TIMEOUT_MS = 5_000;
/** How long the worker gets to import the user's module. */
export const DEFAULT_WORKER_LOAD_TIMEOUT_MS = 30_000;

/** Deadlines of a worker channel. */
export interface WorkerTimeouts {
  /** Per request (default {@link DEFAULT_WORKER_CALL_TIMEOUT_MS}). */
  callMs?: number;
  /** For the import (default {@link DEFAULT_WORKER_LOAD_TIMEOUT_MS}). */
  loadMs?: number;
}

interface Pending {
  what: string;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
  timer: ReturnType<typeof setTimeout>;
}

/** One worker and the requests in flight to it. */
export class WorkerChannel {
  readonly #worker: Worker;
  readonly #pending = new Map<number, Pending>();
  #next = 1;
  #dead: string | undefined;
  /** Called for every interrupt event (device role). */
  onIrq: (generation: number, level: boolean) => void = () => {};
  /** Serves the worker's calls to the harness (driver role). */
  onCall: (call: Call) => Promise<unknown> = () => Promise.reject(new Error("This worker may not call the harness"));
  /** Called when the driver of session `session` subscribes to its interrupt line (driver role). */
  onListen: (session: number) => void = () => {};
  /** Called with the memory-trace records each answer carries (device role). */
  onTrace: (trace: MemoryAccess[]) => void = () => {};

  /** Starts a worker for the target called `label` (used in error messages). */
  constructor(readonly label: string, readonly timeouts: WorkerTimeouts = {}) {
    this.#worker = new Worker(new URL("./worker_main.ts", import.meta.url), { type: "module", name: label });
    this.#worker.onerror = (e) => {
      e.preventDefault();
      this.kill(`it threw an uncaught error: ${e.message}`);
    };
    this.#worker.onmessageerror = () => this.kill("it sent a message the harness cannot read");
    this.#worker.onmessage = (e: MessageEvent<FromWorker>) => this.#receive(e.data);
  }

  /** Why the worker is gone, or undefined while it lives. */
  get dead(): string | undefined {
    return this.#dead;
  }

  /** Sends `req` and waits for its answer at most `ms` (default: the call timeout); `what` names it in errors. */
  request<T>(req: Request, what: string, ms?: number): Promise<T> {
    if (this.#dead) {
      return Promise.reject(
        new TargetError(`The worker running ${this.label} is gone (${this.#dead}): ${what} failed`),
      );
    }
    const limit = ms ?? (req.op === "load" ? this.timeouts.loadMs ?? DEFAULT_WORKER_LOAD_TIMEOUT_MS : this.callMs);
    const id = this.#next++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(
        () => this.kill(`it did not answer ${what} within ${limit} ms`),
        limit,
      );
      this.#pending.set(id, { what, resolve: resolve as (v: unknown) => void, reject, timer });
      this.#post({ kind: "req", id, req });
    });
  }

  /** The per-request deadline. */
  get callMs(): number {
    return this.timeouts.callMs ?? DEFAULT_WORKER_CALL_TIMEOUT_MS;
  }

  /** Sends an event (no answer). */
  send(message: ToWorker): void {
    if (!this.#dead) this.#post(message);
  }

  /** Terminates the worker; every pending and later request fails with `cause`. */
  kill(cause: string): void {
    if (this.#dead) return;
    this.#dead = cause;
    this.#worker.terminate();
    for (const [id, p] of this.#pending) {
      this.#pending.delete(id);
      clearTimeout(p.timer);
      p.reject(new TargetError(`The worker running ${this.label} failed while ${p.what} was pending: ${cause}`));
    }
  }

  #post(message: ToWorker): void {
    try {
      this.#worker.postMessage(message);
    } catch (e) {
      this.kill(`a message could not be sent to it: ${errorText(e)}`);
    }
  }

  #receive(m: FromWorker): void {
    if (this.#dead || typeof m !== "object" || m === null) return;
    switch (m.kind) {
      case "res": {
        const p = this.#pending.get(m.id);
        if (!p) return;
        this.#pending.delete(m.id);
        clearTimeout(p.timer);
        if (Array.isArray(m.trace) && m.trace.length) this.onTrace(m.trace);
        if (m.ok) p.resolve(m.value);
        else p.reject(fromWire(m.error));
        return;
      }
      case "irq":
        this.onIrq(m.generation, m.level);
        return;
      case "exit":
        this.kill(String(m.how));
        return;
      case "listen":
        this.onListen(m.session);
        return;
      case "call":
        this.onCall(m.call).then(
          (value) => this.send({ kind: "ret", id: m.id, ok: true, value }),
          (e: unknown) => this.send({ kind: "ret", id: m.id, ok: false, error: toWire(e) satisfies WireError }),
        );
        return;
    }
  }
}
