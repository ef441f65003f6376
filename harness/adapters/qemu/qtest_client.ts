/**
 * A client of QEMU's qtest protocol: a line protocol in which the client
 * sends one command per line and QEMU answers each with one line starting
 * `OK`, `ERR` or `FAIL`, in order; `IRQ raise N` / `IRQ lower N` lines
 * arrive asynchronously in between once an interrupt controller's inputs
 * are intercepted.
 *
 * Commands are pipelined: calls made without awaiting each other go out in
 * one socket write and their answers are matched in order. Every command
 * has a deadline; a command QEMU never answers fails the connection (the
 * stream can no longer be matched) and every pending command with it.
 *
 * QEMU asserts on malformed arguments (it aborts), so every argument is
 * checked here before it is sent.
 *
 * @module
 */

/** What went wrong with a qtest command. */
export type QtestErrorKind = "err" | "fail" | "closed" | "timeout" | "protocol" | "argument";

/** A qtest command failed: QEMU answered ERR/FAIL, the connection closed, or no answer came in time. */
export class QtestError extends Error {
  override name = "QtestError";
  constructor(readonly kind: QtestErrorKind, message: string, readonly command?: string) {
    super(message);
  }
}

/** Options of a {@link QtestClient}. */
export interface QtestClientOptions {
  /** Deadline of one command in milliseconds (default 5000). */
  commandTimeoutMs?: number;
  /**
   * Largest chunk of one `b64read`/`b64write` command in bytes (default 64 KiB:
   * QEMU reads its input 1 KiB at a time and rescans the whole pending line
   * each time, so long lines cost quadratic time).
   */
  maxChunk?: number;
  /**
   * Posted writes (default false): the write commands (`write*`, `out*`,
   * `b64write`) resolve once sent, without waiting for QEMU's answer, as
   * writes on a bus are posted. QEMU executes commands in order, so a later
   * read still sees every earlier write done; an error answer to a posted
   * write fails the connection (every later command rejects with it). Call
   * {@link QtestClient.sync} before reading state QEMU reports on its own
   * (interrupt lines).
   */
  postWrites?: boolean;
}

/** The byte stream a client talks over: a `Deno.Conn`, or anything with the same three methods. */
export interface ByteStream {
  read(p: Uint8Array): Promise<number | null>;
  write(p: Uint8Array): Promise<number>;
  close(): void;
}

/** Listener of interrupt line changes (`IRQ raise N` / `IRQ lower N`). */
export type IrqListener = (line: number, level: boolean) => void;

interface Pending {
  command: string;
  deadline: number;
  resolve(value: string): void;
  reject(error: QtestError): void;
}

const encoder = new TextEncoder();

function hexArg(what: string, command: string, value: number | bigint, max: bigint): string {
  const big = typeof value === "bigint" ? value : Number.isSafeInteger(value) ? BigInt(value) : -1n;
  if (big < 0n || big > max) {
    throw new QtestError(
      "argument",
      `Bad qtest argument for ${command}: ${what} must be an integer in 0..0x${max.toString(16)}, got ${String(value)}`,
      command,
    );
  }
  return `0x${big.toString(16)}`;
}

const U64 = (1n << 64n) - 1n;
const U32 = 0xffff_ffffn;
const U16 = 0xffffn;
const U8 = 0xffn;

function parseValue(command: string, rest: string): bigint {
  if (!/^0x[0-9a-fA-F]+$/.test(rest)) {
    throw new QtestError("protocol", `QEMU answered ${command} with a malformed value: "OK ${rest}"`, command);
  }
  return BigInt(rest);
}

interface Base64Codec {
  fromBase64?(text: string): Uint8Array;
}

function base64Encode(data: Uint8Array): string {
  const native = (data as Uint8Array & { toBase64?(): string }).toBase64;
  if (native) return native.call(data);
  let s = "";
  for (let i = 0; i < data.length; i += 0x8000) s += String.fromCharCode(...data.subarray(i, i + 0x8000));
  return btoa(s);
}

function base64Decode(command: string, text: string): Uint8Array {
  try {
    const native = (Uint8Array as unknown as Base64Codec).fromBase64;
    if (native) return native(text);
    const bin = atob(text);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  } catch {
    throw new QtestError("protocol", `QEMU answered ${command} with malformed base64: "${text.slice(0, 40)}"`, command);
  }
}

/**
 * A qtest connection (QEMU connected to a socket the harness listens on).
 *
 * @example
 * ```ts ignore
 * const listener = Deno.listen({ transport: "unix", path: "/tmp/q.sock" });
 * // … start QEMU with `-qtest unix:/tmp/q.sock` …
 * const qtest = new QtestClient(await listener.accept());
 * const magic = await qtest.readl(0x0a00_3e00); // 0x74726976 for a virtio-mmio device
 * const [a, b] = await Promise.all([qtest.readl(0x0a00_3e04), qtest.readl(0x0a00_3e08)]); // one socket write
 * await qtest.close();
 * ```
 */
export class QtestClient {
  readonly #conn: ByteStream;
  readonly #timeoutMs: number;
  readonly #maxChunk: number;
  readonly #pending: Pending[] = [];
  readonly #irqListeners = new Set<IrqListener>();
  readonly #levels = new Map<number, boolean>();
  readonly #postWrites: boolean;
  /** Settles when QEMU has answered the last posted write (see {@link QtestClientOptions.postWrites}). */
  #lastPosted: Promise<void> = Promise.resolve();
  #outbox: string[] = [];
  #flushScheduled = false;
  #writing: Promise<void> = Promise.resolve();
  #watchdog: ReturnType<typeof setTimeout> | undefined;
  #watchdogAt = 0;
  #failure: QtestError | undefined;
  #closing = false;
  /** Resolves when the connection has ended (closed by either side or failed). */
  readonly done: Promise<void>;

  constructor(conn: ByteStream, options: QtestClientOptions = {}) {
    this.#conn = conn;
    this.#timeoutMs = options.commandTimeoutMs ?? 5000;
    this.#maxChunk = options.maxChunk ?? 1 << 16;
    this.#postWrites = options.postWrites ?? false;
    this.done = this.#readLoop();
  }

  /** Why the connection is unusable, or undefined while it works. */
  get failure(): QtestError | undefined {
    return this.#failure;
  }

  /** The last level reported for an intercepted interrupt line (false before any report). */
  irqLevel(line: number): boolean {
    return this.#levels.get(line) ?? false;
  }

  /** Subscribes to interrupt line changes; returns the unsubscribe function. */
  onIrq(listener: IrqListener): () => void {
    this.#irqListeners.add(listener);
    return () => this.#irqListeners.delete(listener);
  }

  /**
   * Sends one raw command line (no newline) and resolves with the text after
   * `OK` (empty when there is none). Rejects with a {@link QtestError}.
   */
  command(line: string): Promise<string> {
    if (line.includes("\n") || line === "") {
      return Promise.reject(new QtestError("argument", `Bad qtest command: ${JSON.stringify(line)}`, line));
    }
    if (this.#failure) return Promise.reject(this.#failure);
    if (this.#closing) {
      return Promise.reject(new QtestError("closed", `The qtest connection is closed: cannot send "${line}"`, line));
    }
    return new Promise<string>((resolve, reject) => this.#enqueue(line, resolve, reject));
  }

  /** Queues `line` for the next write, its answer to `resolve` or `reject` (under the command deadline). */
  #enqueue(line: string, resolve: (value: string) => void, reject: (error: QtestError) => void): void {
    const deadline = Date.now() + this.#timeoutMs;
    this.#pending.push({ command: line, deadline, resolve, reject });
    this.#armWatchdog(deadline);
    this.#outbox.push(line + "\n");
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      queueMicrotask(() => this.#flush());
    }
  }

  /**
   * Sends a command whose answer nobody waits for (a posted write): resolves once it is queued. An answer other
   * than `OK` fails the connection, so the next command reports it.
   */
  #post(line: string): Promise<void> {
    if (this.#failure) return Promise.reject(this.#failure);
    if (this.#closing) {
      return Promise.reject(new QtestError("closed", `The qtest connection is closed: cannot send "${line}"`, line));
    }
    this.#lastPosted = new Promise<void>((resolve) =>
      this.#enqueue(line, () => resolve(), (e) => {
        this.#fail(e.kind === "err" || e.kind === "fail" ? new QtestError(e.kind, `${e.message} (posted)`, line) : e);
        resolve();
      })
    );
    return Promise.resolve();
  }

  /**
   * Resolves once QEMU has answered every command sent so far, so that the interrupt lines it reported while
   * executing them have arrived; rejects when the connection failed. Cheap when no posted write is outstanding.
   */
  async sync(): Promise<void> {
    await this.#lastPosted;
    if (this.#failure) throw this.#failure;
  }

  /** Sends several commands in one write; resolves with their answers in order. */
  batch(lines: string[]): Promise<string[]> {
    return Promise.all(lines.map((l) => this.command(l)));
  }

  async #numeric(cmd: string, max: bigint): Promise<bigint> {
    const v = parseValue(cmd, await this.command(cmd));
    if (v > max) {
      throw new QtestError("protocol", `QEMU answered ${cmd} with an out-of-range value: 0x${v.toString(16)}`);
    }
    return v;
  }

  async #read(op: string, addr: number | bigint, max: bigint, addrMax = U64): Promise<number> {
    const what = addrMax === U16 ? "the port" : "the address";
    return Number(await this.#numeric(`${op} ${hexArg(what, op, addr, addrMax)}`, max));
  }
  async #write(op: string, addr: number | bigint, value: number | bigint, max: bigint, addrMax = U64): Promise<void> {
    const what = addrMax === U16 ? "the port" : "the address";
    const line = `${op} ${hexArg(what, op, addr, addrMax)} ${hexArg("the value", op, value, max)}`;
    if (this.#postWrites) await this.#post(line);
    else await this.command(line);
  }

  /** Reads a byte of guest-physical memory (or MMIO). */
  readb(addr: number | bigint): Promise<number> {
    return this.#read("readb", addr, U8);
  }
  /** Reads a 16-bit little-endian value. */
  readw(addr: number | bigint): Promise<number> {
    return this.#read("readw", addr, U16);
  }
  /** Reads a 32-bit little-endian value. */
  readl(addr: number | bigint): Promise<number> {
    return this.#read("readl", addr, U32);
  }
  /** Reads a 64-bit little-endian value. */
  async readq(addr: number | bigint): Promise<bigint> {
    return await this.#numeric(`readq ${hexArg("the address", "readq", addr, U64)}`, U64);
  }
  /** Writes a byte. */
  writeb(addr: number | bigint, value: number): Promise<void> {
    return this.#write("writeb", addr, value, U8);
  }
  /** Writes a 16-bit value. */
  writew(addr: number | bigint, value: number): Promise<void> {
    return this.#write("writew", addr, value, U16);
  }
  /** Writes a 32-bit value. */
  writel(addr: number | bigint, value: number): Promise<void> {
    return this.#write("writel", addr, value, U32);
  }
  /** Writes a 64-bit value. */
  writeq(addr: number | bigint, value: number | bigint): Promise<void> {
    return this.#write("writeq", addr, value, U64);
  }
  /** Reads an I/O port byte. */
  inb(port: number): Promise<number> {
    return this.#read("inb", port, U8, U16);
  }
  /** Reads an I/O port word. */
  inw(port: number): Promise<number> {
    return this.#read("inw", port, U16, U16);
  }
  /** Reads an I/O port double word. */
  inl(port: number): Promise<number> {
    return this.#read("inl", port, U32, U16);
  }
  /** Writes an I/O port byte. */
  outb(port: number, value: number): Promise<void> {
    return this.#write("outb", port, value, U8, U16);
  }
  /** Writes an I/O port word. */
  outw(port: number, value: number): Promise<void> {
    return this.#write("outw", port, value, U16, U16);
  }
  /** Writes an I/O port double word. */
  outl(port: number, value: number): Promise<void> {
    return this.#write("outl", port, value, U32, U16);
  }

  /** Reads `length` bytes of guest memory (`b64read`, in chunks of at most `maxChunk`). */
  async b64read(addr: number, length: number): Promise<Uint8Array> {
    this.#range("b64read", addr, length);
    const out = new Uint8Array(length);
    const parts: Promise<void>[] = [];
    for (let off = 0; off < length; off += this.#maxChunk) {
      const n = Math.min(this.#maxChunk, length - off);
      const cmd = `b64read 0x${(addr + off).toString(16)} 0x${n.toString(16)}`;
      parts.push(
        this.command(cmd).then((text) => {
          const bytes = base64Decode(cmd, text);
          if (bytes.length !== n) {
            throw new QtestError("protocol", `QEMU answered ${cmd} with ${bytes.length} bytes instead of ${n}`, cmd);
          }
          out.set(bytes, off);
        }),
      );
    }
    await Promise.all(parts);
    return out;
  }

  /** Writes bytes to guest memory (`b64write`, in chunks of at most `maxChunk`). */
  async b64write(addr: number, data: Uint8Array): Promise<void> {
    this.#range("b64write", addr, data.length);
    const parts: Promise<unknown>[] = [];
    for (let off = 0; off < data.length; off += this.#maxChunk) {
      const chunk = data.subarray(off, Math.min(data.length, off + this.#maxChunk));
      const line = `b64write 0x${(addr + off).toString(16)} 0x${chunk.length.toString(16)} ${base64Encode(chunk)}`;
      parts.push(this.#postWrites ? this.#post(line) : this.command(line));
    }
    await Promise.all(parts);
  }

  #range(op: string, addr: number, length: number): void {
    if (!Number.isSafeInteger(addr) || addr < 0 || !Number.isSafeInteger(length) || length < 0) {
      throw new QtestError(
        "argument",
        `Bad qtest argument for ${op}: address ${addr} and length ${length} must be non-negative integers`,
        op,
      );
    }
  }

  /**
   * Routes the unnamed gpio inputs of the device at `qomPath` (an interrupt
   * controller) to this connection: changes arrive as `IRQ` lines.
   */
  async irqInterceptIn(qomPath: string): Promise<void> {
    if (!/^[^\s]+$/.test(qomPath)) {
      throw new QtestError("argument", `Bad QOM path for irq_intercept_in: ${JSON.stringify(qomPath)}`);
    }
    await this.command(`irq_intercept_in ${qomPath}`);
  }

  /**
   * Advances the virtual clock (`clock_step [ns]`); only with the qtest
   * accelerator (`-accel qtest`), otherwise QEMU answers FAIL.
   */
  async clockStep(ns?: number): Promise<bigint> {
    const cmd = ns === undefined ? "clock_step" : `clock_step ${hexArg("the step", "clock_step", ns, U64 >> 1n)}`;
    const rest = await this.command(cmd);
    if (!/^\d+$/.test(rest)) throw new QtestError("protocol", `QEMU answered ${cmd} with "OK ${rest}"`, cmd);
    return BigInt(rest);
  }

  /** Closes the connection; pending commands fail. */
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

  #flush(): void {
    this.#flushScheduled = false;
    const text = this.#outbox.join("");
    this.#outbox = [];
    if (!text || this.#failure) return;
    const bytes = encoder.encode(text);
    this.#writing = this.#writing.then(async () => {
      if (this.#failure) return;
      try {
        let off = 0;
        while (off < bytes.length) off += await this.#conn.write(bytes.subarray(off));
      } catch (e) {
        this.#fail(
          new QtestError("closed", `Writing to the qtest connection failed: ${e instanceof Error ? e.message : e}`),
        );
      }
    });
  }

  #armWatchdog(deadline: number): void {
    if (this.#watchdog !== undefined && this.#watchdogAt <= deadline) return;
    if (this.#watchdog !== undefined) clearTimeout(this.#watchdog);
    this.#watchdogAt = deadline;
    this.#watchdog = setTimeout(() => this.#checkWatchdog(), Math.max(0, deadline - Date.now()));
  }

  #checkWatchdog(): void {
    this.#watchdog = undefined;
    const head = this.#pending[0];
    if (!head) return;
    if (Date.now() >= head.deadline) {
      this.#fail(
        new QtestError(
          "timeout",
          `QEMU did not answer the qtest command "${head.command.slice(0, 80)}" within ${this.#timeoutMs} ms`,
          head.command,
        ),
      );
      return;
    }
    this.#armWatchdog(head.deadline);
  }

  /** Fails the connection: every pending command and every later one get `error`; the stream is closed. */
  #fail(error: QtestError): void {
    if (!this.#failure) this.#failure = error;
    if (!this.#closing) {
      this.#closing = true;
      try {
        this.#conn.close();
      } catch {
        // already closed
      }
    }
    if (this.#watchdog !== undefined) clearTimeout(this.#watchdog);
    this.#watchdog = undefined;
    for (const p of this.#pending.splice(0)) {
      const e = (error.kind === "closed" || error.kind === "timeout") && p.command !== error.command
        ? new QtestError(error.kind, `${error.message} (while waiting for "${p.command.slice(0, 80)}")`, p.command)
        : error;
      p.reject(e);
    }
  }

  #line(line: string): void {
    if (line.startsWith("IRQ ")) {
      const m = /^IRQ (raise|lower) (-?\d+)$/.exec(line);
      if (!m) return;
      const n = Number(m[2]);
      const level = m[1] === "raise";
      this.#levels.set(n, level);
      for (const l of this.#irqListeners) l(n, level);
      return;
    }
    if (line.startsWith("[")) return; // a log prefix when -qtest-log goes to this stream
    const p = this.#pending.shift();
    if (!p) {
      this.#fail(new QtestError("protocol", `QEMU sent a qtest line nobody asked for: "${line.slice(0, 80)}"`));
      return;
    }
    if (this.#pending.length === 0 && this.#watchdog !== undefined) {
      clearTimeout(this.#watchdog);
      this.#watchdog = undefined;
    }
    if (line === "OK" || line.startsWith("OK ")) p.resolve(line.slice(3));
    else if (line.startsWith("ERR")) {
      p.reject(
        new QtestError("err", `QEMU rejected the qtest command "${p.command.slice(0, 80)}": ${line}`, p.command),
      );
    } else if (line.startsWith("FAIL")) {
      p.reject(new QtestError("fail", `QEMU failed the qtest command "${p.command.slice(0, 80)}": ${line}`, p.command));
    } else {
      const e = new QtestError(
        "protocol",
        `QEMU answered "${p.command.slice(0, 80)}" with garbage: "${line.slice(0, 80)}"`,
        p.command,
      );
      p.reject(e);
      this.#fail(e);
    }
  }

  async #readLoop(): Promise<void> {
    const decoder = new TextDecoder();
    const buf = new Uint8Array(1 << 16);
    let partial = "";
    let scanned = 0; // partial[0, scanned) holds no newline
    try {
      for (;;) {
        const n = await this.#conn.read(buf);
        if (n === null) break;
        partial += decoder.decode(buf.subarray(0, n), { stream: true });
        let nl: number;
        let start = 0;
        let from = scanned;
        while ((nl = partial.indexOf("\n", from)) >= 0) {
          this.#line(partial.slice(start, nl));
          start = from = nl + 1;
        }
        partial = partial.slice(start);
        scanned = partial.length;
      }
      this.#fail(
        new QtestError(
          "closed",
          this.#closing ? "The qtest connection was closed" : "QEMU closed the qtest connection",
        ),
      );
    } catch (e) {
      this.#fail(
        new QtestError(
          "closed",
          this.#closing || this.#failure
            ? "The qtest connection was closed"
            : `Reading the qtest connection failed: ${e instanceof Error ? e.message : e}`,
        ),
      );
    }
    await this.#writing;
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
