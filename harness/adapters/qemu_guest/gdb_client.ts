/**
 * A minimal client of the GDB remote serial protocol, as QEMU's gdbstub
 * speaks it: enough to stop the guest, set and clear watchpoints, read
 * memory and resume. Packets are `$payload#checksum`; the client turns
 * acknowledgements off first (`QStartNoAckMode`) and then sends one command
 * at a time. A resumed guest answers with a stop reply when it stops again
 * (a watchpoint hit, or the interrupt byte 0x03).
 *
 * @module
 */
import type { ByteStream } from "../qemu/qtest_client.ts";
import { errorText } from "../../text.ts";

/** The stub answered with an error, garbage, or not in time, or the connection ended. */
export class GdbError extends Error {
  override name = "GdbError";
}

/** Watchpoint kinds of the `Z`/`z` packets: 2 write, 3 read, 4 access. */
export type WatchKind = "write" | "read" | "access";

const Z_TYPE: Record<WatchKind, number> = { write: 2, read: 3, access: 4 };

/** A stop reply: the signal and, for a watchpoint, which kind of access hit which address. */
export interface GdbStop {
  signal: number;
  watch?: { kind: WatchKind; address: bigint };
}

/** Parses a stop reply (`S05`, `T05thread:01;watch:1000;`); undefined when `reply` is none. */
export function parseStopReply(reply: string): GdbStop | undefined {
  const m = /^([ST])([0-9a-fA-F]{2})(.*)$/.exec(reply);
  if (!m) return undefined;
  const stop: GdbStop = { signal: parseInt(m[2]!, 16) };
  if (m[1] === "T") {
    for (const pair of m[3]!.split(";")) {
      const [key, value] = pair.split(":");
      const kind: WatchKind | undefined = key === "watch"
        ? "write"
        : key === "rwatch"
        ? "read"
        : key === "awatch"
        ? "access"
        : undefined;
      if (kind && value && /^[0-9a-fA-F]{1,16}$/.test(value)) stop.watch = { kind, address: BigInt(`0x${value}`) };
    }
  }
  return stop;
}

/** The checksum of a packet's payload: the sum of its bytes modulo 256, two hex digits. */
export function checksum(payload: string): string {
  let sum = 0;
  for (let i = 0; i < payload.length; i++) sum = (sum + payload.charCodeAt(i)) & 0xff;
  return sum.toString(16).padStart(2, "0");
}

/** A packet ready to send (`$`, the payload with `#$}*` escaped, `#`, the checksum). */
export function framePacket(payload: string): string {
  const escaped = payload.replace(/[#$}*]/g, (c) => `}${String.fromCharCode(c.charCodeAt(0) ^ 0x20)}`);
  return `$${escaped}#${checksum(escaped)}`;
}

/** Undoes escapes and run-length encoding in a received payload. */
export function unframePayload(body: string): string {
  let out = "";
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (c === "}" && i + 1 < body.length) {
      out += String.fromCharCode(body.charCodeAt(++i) ^ 0x20);
    } else if (c === "*" && out.length > 0 && i + 1 < body.length) {
      out += out[out.length - 1]!.repeat(body.charCodeAt(++i) - 29);
    } else {
      out += c;
    }
  }
  return out;
}

/** Hex digits without a prefix, as the remote protocol writes numbers. */
const digits = (n: bigint | number) => n.toString(16);

/**
 * A GDB remote connection to QEMU's gdbstub.
 *
 * @example
 * ```ts ignore
 * const gdb = new GdbClient(conn); // any ByteStream, e.g. a unix socket QEMU's -gdb listens on
 * await gdb.handshake(5000);
 * await gdb.interrupt(5000);
 * await gdb.watch("write", 0xffff888001000000n, 16, 5000);
 * const stop = await gdb.resume(5000); // the next watchpoint hit
 * ```
 */
export class GdbClient {
  readonly #conn: ByteStream;
  readonly #packets: string[] = [];
  #wake: (() => void) | undefined;
  #failure: GdbError | undefined;
  #acks = true;
  #buffer = "";
  /** Whether the guest runs (after {@link resume}, until a stop reply). */
  #running = true;
  /** Resolves when the connection has ended. */
  readonly done: Promise<void>;

  constructor(conn: ByteStream) {
    this.#conn = conn;
    this.done = this.#readLoop();
  }

  /** Whether the guest was left running. */
  get running(): boolean {
    return this.#running;
  }

  /** Turns acknowledgements off where the stub can. QEMU stops the guest when the connection opens. */
  async handshake(timeoutMs: number): Promise<void> {
    const reply = await this.command("QStartNoAckMode", timeoutMs);
    // An empty answer: the stub does not know the command (QEMU 7.2), and acknowledgements stay on.
    if (reply === "OK") this.#acks = false;
    else if (reply !== "") throw new GdbError(`The gdbstub answered QStartNoAckMode with "${reply}"`);
  }

  /** Sends one command and resolves with its reply's payload (`E..` replies reject). */
  async command(payload: string, timeoutMs: number): Promise<string> {
    await this.#send(framePacket(payload));
    let reply = await this.#next(timeoutMs, payload);
    // QEMU stops the guest when a debugger connects and says so unasked: that stop is taken, the answer follows.
    while (payload !== "?" && parseStopReply(reply)) {
      this.#running = false;
      reply = await this.#next(timeoutMs, payload);
    }
    if (/^E[0-9a-fA-F]{2}$/.test(reply)) throw new GdbError(`The gdbstub answered ${reply} to ${payload}`);
    return reply;
  }

  /** Stops a running guest (the interrupt byte) and resolves with the stop reply. */
  async interrupt(timeoutMs: number): Promise<GdbStop> {
    if (!this.#running) throw new GdbError("The guest is already stopped");
    await this.#send("\x03");
    return await this.#stop(timeoutMs, "the interrupt");
  }

  /** Executes one instruction of a stopped guest (`s`) and resolves with the stop that follows it. */
  async step(timeoutMs: number): Promise<GdbStop> {
    await this.#send(framePacket("s"));
    this.#running = true;
    return await this.#stop(timeoutMs, "a single step");
  }

  /** Asks a running guest to stop (the interrupt byte) without waiting: {@link nextStop} receives the stop. */
  async requestStop(): Promise<void> {
    await this.#send("\x03");
  }

  /** Resumes the guest (`c`); {@link nextStop} waits for it to stop again. */
  async resume(): Promise<void> {
    await this.#send(framePacket("c"));
    this.#running = true;
  }

  /** The next stop reply of a resumed guest (`Infinity`: no deadline; the guest may run for long). */
  nextStop(timeoutMs: number): Promise<GdbStop> {
    return this.#stop(timeoutMs, "a stop");
  }

  /** Sets a watchpoint of `length` bytes at virtual address `address`. */
  async watch(kind: WatchKind, address: bigint, length: number, timeoutMs: number): Promise<void> {
    const reply = await this.command(`Z${Z_TYPE[kind]},${digits(address)},${digits(length)}`, timeoutMs);
    if (reply !== "OK") throw new GdbError(`The gdbstub cannot set a ${kind} watchpoint: it answered "${reply}"`);
  }

  /** Clears a watchpoint set by {@link watch} (same kind, address and length). */
  async unwatch(kind: WatchKind, address: bigint, length: number, timeoutMs: number): Promise<void> {
    await this.command(`z${Z_TYPE[kind]},${digits(address)},${digits(length)}`, timeoutMs);
  }

  /** Reads `length` bytes of guest memory at virtual address `address` (the stopped CPU's mapping). */
  async readMemory(address: bigint, length: number, timeoutMs: number): Promise<Uint8Array> {
    const out = new Uint8Array(length);
    for (let done = 0; done < length;) {
      const n = Math.min(1024, length - done);
      const reply = await this.command(`m${digits(address + BigInt(done))},${digits(n)}`, timeoutMs);
      if (!/^([0-9a-fA-F]{2})+$/.test(reply) || reply.length !== 2 * n) {
        throw new GdbError(`The gdbstub answered a memory read with "${reply.slice(0, 40)}"`);
      }
      for (let i = 0; i < n; i++) out[done + i] = parseInt(reply.slice(2 * i, 2 * i + 2), 16);
      done += n;
    }
    return out;
  }

  /** Detaches a stopped guest (`D`): the stub removes every watchpoint and the guest runs on. */
  async detach(timeoutMs: number): Promise<void> {
    await this.command("D", timeoutMs);
    this.#running = true;
  }

  /** Ends the connection. */
  close(): void {
    try {
      this.#conn.close();
    } catch {
      // already closed
    }
  }

  async #stop(timeoutMs: number, what: string): Promise<GdbStop> {
    for (;;) {
      const reply = await this.#next(timeoutMs, what);
      const stop = parseStopReply(reply);
      if (stop) {
        this.#running = false;
        return stop;
      }
      // Console output (`O…`) and anything else unrequested is skipped.
    }
  }

  async #send(text: string): Promise<void> {
    if (this.#failure) throw this.#failure;
    const bytes = new TextEncoder().encode(text);
    try {
      for (let off = 0; off < bytes.length;) off += await this.#conn.write(bytes.subarray(off));
    } catch (e) {
      throw new GdbError(`Cannot write to the gdbstub: ${errorText(e)}`);
    }
  }

  #next(timeoutMs: number, what: string): Promise<string> {
    const packet = this.#packets.shift();
    if (packet !== undefined) return Promise.resolve(packet);
    if (this.#failure) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => {
      const timer = Number.isFinite(timeoutMs)
        ? setTimeout(() => {
          this.#wake = undefined;
          reject(new GdbError(`The gdbstub did not answer ${what} within ${timeoutMs} ms`));
        }, timeoutMs)
        : undefined;
      this.#wake = () => {
        clearTimeout(timer);
        this.#wake = undefined;
        const p = this.#packets.shift();
        if (p !== undefined) resolve(p);
        else reject(this.#failure ?? new GdbError("The gdbstub connection ended"));
      };
    });
  }

  async #readLoop(): Promise<void> {
    const buf = new Uint8Array(65536);
    const dec = new TextDecoder("latin1");
    try {
      for (;;) {
        const n = await this.#conn.read(buf);
        if (n === null) break;
        this.#buffer += dec.decode(buf.subarray(0, n));
        await this.#parse();
      }
      this.#failure = new GdbError("The gdbstub connection ended");
    } catch (e) {
      this.#failure = new GdbError(`The gdbstub connection failed: ${errorText(e)}`);
    }
    this.#wake?.();
  }

  async #parse(): Promise<void> {
    for (;;) {
      const start = this.#buffer.indexOf("$");
      if (start < 0) {
        this.#buffer = "";
        return;
      }
      const hash = this.#buffer.indexOf("#", start);
      if (hash < 0 || hash + 3 > this.#buffer.length) {
        this.#buffer = this.#buffer.slice(start);
        return;
      }
      const body = this.#buffer.slice(start + 1, hash);
      const sum = this.#buffer.slice(hash + 1, hash + 3);
      this.#buffer = this.#buffer.slice(hash + 3);
      if (sum.toLowerCase() !== checksum(body)) {
        this.#failure = new GdbError(`The gdbstub sent a packet with a wrong checksum: ${body.slice(0, 40)}`);
        continue;
      }
      if (this.#acks) await this.#send("+").catch(() => {});
      this.#packets.push(unframePayload(body));
      this.#wake?.();
    }
  }
}
