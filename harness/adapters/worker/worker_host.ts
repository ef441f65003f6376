/**
 * The harness side of the worker or child process that runs a user's
 * in-process module: starts it, sends requests with a deadline each and turns
 * every way it can fail (no answer in time, an uncaught error, `Deno.exit`
 * or `close()` inside the target, and for a process an exhausted heap or a
 * crash) into a {@link TargetError} for every pending and later request. A
 * worker or process that misses a deadline is terminated (this works even
 * inside a busy loop); a new channel starts a fresh one.
 *
 * @module
 */
import { TargetError } from "../../adapter.ts";
import type { MemoryAccess } from "../../memory.ts";
import { type Frame, SyncedMemory } from "./frame.ts";
import { ProcessLink, type ProcessOptions } from "./process_link.ts";
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

/**
 * Where a user's module runs: a Deno `Worker` in the harness process (fast,
 * shares the harness's heap and permissions), or a child `deno` process with
 * its own heap limit and read-only access to the paths given (the default for
 * target files).
 */
export type Isolation = { kind: "worker" } | ({ kind: "process" } & ProcessOptions);

interface Pending {
  what: string;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
  timer: ReturnType<typeof setTimeout>;
}

/** One worker or child process and the requests in flight to it. */
export class WorkerChannel {
  readonly #worker: Worker | undefined;
  readonly #process: ProcessLink | undefined;
  readonly #pending = new Map<number, Pending>();
  #memory: SyncedMemory | undefined;
  #gen = 0;
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

  /** Starts a worker or child process for the target called `label` (used in error messages). */
  constructor(
    readonly label: string,
    readonly timeouts: WorkerTimeouts = {},
    readonly isolation: Isolation = { kind: "worker" },
  ) {
    if (isolation.kind === "process") {
      try {
        this.#process = new ProcessLink(isolation, (f) => this.#frame(f), (cause) => this.kill(cause));
      } catch (e) {
        this.#dead = `its process could not be started (${errorText(e)})`;
      }
      return;
    }
    const worker = new Worker(new URL("./worker_main.ts", import.meta.url), { type: "module", name: label });
    this.#worker = worker;
    worker.onerror = (e) => {
      e.preventDefault();
      this.kill(`it threw an uncaught error: ${e.message}`);
    };
    worker.onmessageerror = () => this.kill("it sent a message the harness cannot read");
    worker.onmessage = (e: MessageEvent<Frame>) => this.#frame(e.data);
  }

  /** What the module runs in, for messages: "worker" or "process". */
  get host(): string {
    return this.isolation.kind === "process" ? "process" : "worker";
  }

  /**
   * Fresh guest memory for the device built next (by the `open` or `restart` sent after this): a copy the
   * worker or child keeps in step through the frames. Changes the device made to the memory it replaces are dropped.
   */
  guestMemory(base: number, size: number): SyncedMemory {
    this.#gen++;
    this.#memory = new SyncedMemory(base, size);
    return this.#memory;
  }

  /** Settles once a child process is gone and its output read (at once for a worker). */
  get exited(): Promise<void> {
    return this.#process?.exited ?? Promise.resolve();
  }

  /** Why the worker is gone, or undefined while it lives. */
  get dead(): string | undefined {
    return this.#dead;
  }

  /** Sends `req` and waits for its answer at most `ms` (default: the call timeout); `what` names it in errors. */
  request<T>(req: Request, what: string, ms?: number): Promise<T> {
    if (this.#dead) {
      return Promise.reject(
        new TargetError(`The ${this.host} running ${this.label} is gone (${this.#dead}): ${what} failed`),
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
    this.#worker?.terminate();
    this.#process?.terminate();
    for (const [id, p] of this.#pending) {
      this.#pending.delete(id);
      clearTimeout(p.timer);
      p.reject(new TargetError(`The ${this.host} running ${this.label} failed while ${p.what} was pending: ${cause}`));
    }
  }

  #post(message: ToWorker): void {
    const frame: Frame = { m: message, gen: this.#gen, ...(this.#memory ? { mem: this.#memory.takePatches() } : {}) };
    try {
      if (this.#process) this.#process.post(frame);
      else this.#worker?.postMessage(frame);
    } catch (e) {
      this.kill(`a message could not be sent to it: ${errorText(e)}`);
    }
  }

  #frame(f: Frame): void {
    if (this.#dead || typeof f !== "object" || f === null) return;
    if (f.mem && this.#memory && f.gen === this.#gen) {
      try {
        this.#memory.apply(f.mem);
      } catch (e) {
        this.kill(`it sent a memory change the harness cannot apply: ${errorText(e)}`);
        return;
      }
    }
    this.#receive(f.m as FromWorker);
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
        if (Array.isArray(m.trace) && m.trace.length) this.onTrace(m.trace);
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
