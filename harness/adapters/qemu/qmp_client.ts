/**
 * A minimal QMP (QEMU Machine Protocol) client: JSON objects, one per line;
 * a greeting, `qmp_capabilities`, then commands answered by `return` or
 * `error`, with asynchronous `event`s in between.
 *
 * @module
 */
import type { ByteStream } from "./qtest_client.ts";
import { errorText } from "../../text.ts";

/** A QMP command failed or the connection ended. */
export class QmpError extends Error {
  override name = "QmpError";
}

interface Waiter {
  resolve(v: unknown): void;
  reject(e: Error): void;
  timer: ReturnType<typeof setTimeout>;
  command: string;
}

/** One QMP event as QEMU sends it. */
export interface QmpEvent {
  event: string;
  data?: unknown;
}

/**
 * A QMP connection (e.g. QEMU's stdin and stdout with `-mon chardev=…,mode=control` on a stdio chardev).
 *
 * @example
 * ```ts ignore
 * const qmp = new QmpClient(stdioStream(child)); // any ByteStream
 * await qmp.handshake(5000);
 * const children = await qmp.execute("qom-list", { path: "/machine/unattached" }, 5000);
 * ```
 */
export class QmpClient {
  readonly #conn: ByteStream;
  readonly #waiters = new Map<number, Waiter>();
  readonly #eventListeners = new Set<(e: QmpEvent) => void>();
  #greeting: ((v: unknown) => void) | undefined;
  #nextId = 1;
  #failure: QmpError | undefined;
  #closing = false;
  /** Resolves when the connection has ended. */
  readonly done: Promise<void>;

  constructor(conn: ByteStream) {
    this.#conn = conn;
    this.done = this.#readLoop();
  }

  /** Waits for the greeting and enters command mode (`qmp_capabilities`). */
  async handshake(timeoutMs: number): Promise<void> {
    await new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new QmpError(`QEMU sent no QMP greeting within ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.#greeting = (v) => {
        clearTimeout(timer);
        if (v instanceof Error) reject(v);
        else resolve(v);
      };
      if (this.#failure) this.#greeting(this.#failure);
    });
    await this.execute("qmp_capabilities", undefined, timeoutMs);
  }

  /** Subscribes to events; returns the unsubscribe function. */
  onEvent(listener: (e: QmpEvent) => void): () => void {
    this.#eventListeners.add(listener);
    return () => this.#eventListeners.delete(listener);
  }

  /** Runs a command and resolves with its `return` value. */
  execute(command: string, args: Record<string, unknown> | undefined, timeoutMs: number): Promise<unknown> {
    if (this.#failure) return Promise.reject(this.#failure);
    const id = this.#nextId++;
    const msg = JSON.stringify(args ? { execute: command, arguments: args, id } : { execute: command, id }) + "\n";
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(id);
        reject(new QmpError(`QEMU did not answer the QMP command ${command} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiters.set(id, { resolve, reject, timer, command });
      this.#conn.write(new TextEncoder().encode(msg)).catch((e) =>
        this.#fail(new QmpError(`Writing to the QMP connection failed: ${e instanceof Error ? e.message : e}`))
      );
    });
  }

  /** Closes the connection. */
  async close(): Promise<void> {
    if (!this.#closing) {
      this.#closing = true;
      try {
        this.#conn.close();
      } catch {
        // already closed
      }
    }
    await this.done;
  }

  #fail(e: QmpError): void {
    this.#failure ??= e;
    for (const [id, w] of this.#waiters) {
      clearTimeout(w.timer);
      this.#waiters.delete(id);
      w.reject(new QmpError(`${e.message} (while waiting for ${w.command})`));
    }
    this.#greeting?.(e);
  }

  #message(line: string): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      return;
    }
    // Every QMP message is a JSON object; any other JSON line is ignored like a line that is not JSON.
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return;
    const msg = parsed as Record<string, unknown>;
    if ("QMP" in msg) {
      this.#greeting?.(msg);
      return;
    }
    if (typeof msg.event === "string") {
      for (const l of this.#eventListeners) l(msg as unknown as QmpEvent);
      return;
    }
    const w = typeof msg.id === "number" ? this.#waiters.get(msg.id) : undefined;
    if (!w) return;
    this.#waiters.delete(msg.id as number);
    clearTimeout(w.timer);
    if ("error" in msg) {
      const err = msg.error;
      const desc = typeof err === "object" && err !== null && "desc" in err && typeof err.desc === "string"
        ? err.desc
        : JSON.stringify(err);
      w.reject(new QmpError(`QEMU refused the QMP command ${w.command}: ${desc}`));
    } else w.resolve(msg.return);
  }

  async #readLoop(): Promise<void> {
    const decoder = new TextDecoder();
    const buf = new Uint8Array(1 << 16);
    let partial = "";
    let failed: string | undefined;
    try {
      for (;;) {
        const n = await this.#conn.read(buf);
        if (n === null) break;
        partial += decoder.decode(buf.subarray(0, n), { stream: true });
        let nl: number;
        while ((nl = partial.indexOf("\n")) >= 0) {
          const line = partial.slice(0, nl).trim();
          partial = partial.slice(nl + 1);
          if (line) this.#message(line);
        }
      }
    } catch (e) {
      failed = errorText(e);
    }
    this.#fail(
      new QmpError(
        this.#closing
          ? "The QMP connection was closed"
          : failed === undefined
          ? "QEMU closed the QMP connection"
          : `Reading the QMP connection failed: ${failed}`,
      ),
    );
    if (!this.#closing) {
      this.#closing = true;
      try {
        this.#conn.close();
      } catch {
        // already closed
      }
    }
  }
}
