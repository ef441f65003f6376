/**
 * A network device's wire that the harness owns, for QEMU: the harness
 * listens on a loopback TCP port and QEMU's `-netdev socket,connect=…`
 * connects to it. QEMU's socket netdev frames each Ethernet frame with its
 * length (4 bytes, big-endian) in both directions.
 *
 * @module
 */
import { type NetWire, TargetError } from "../../adapter.ts";

/** The largest frame either side may send (64 KiB payload plus headers); a longer length is garbage. */
const MAX_FRAME = 70_000;
/** Frames kept until taken; beyond this the oldest are dropped. */
const MAX_QUEUED = 4096;

/**
 * The harness's end of a QEMU socket netdev.
 *
 * @example
 * ```ts ignore
 * const wire = await SocketWire.listen();
 * // start QEMU with ...wire.netdevArgs("wire0"), then:
 * await wire.connected(5000);
 * await wire.inject(frame);
 * const out = await wire.takeTransmitted();
 * wire.close();
 * ```
 */
export class SocketWire implements NetWire {
  #listener: Deno.TcpListener;
  #conn: Deno.TcpConn | undefined;
  #accepting: Promise<Deno.TcpConn> | undefined;
  #frames: Uint8Array[] = [];
  #failure: string | undefined;
  #closed = false;

  private constructor(listener: Deno.TcpListener) {
    this.#listener = listener;
  }

  /** Listens on a free loopback port. */
  static listen(): Promise<SocketWire> {
    return Promise.resolve(new SocketWire(Deno.listen({ hostname: "127.0.0.1", port: 0, transport: "tcp" })));
  }

  /** The port QEMU connects to. */
  get port(): number {
    return this.#listener.addr.port;
  }

  /** QEMU's arguments for a netdev `id` connected to this wire. */
  netdevArgs(id: string): string[] {
    return ["-netdev", `socket,id=${id},connect=127.0.0.1:${this.port}`];
  }

  /** Waits (bounded) for QEMU to connect; a {@link TargetError} when it did not. */
  async connected(timeoutMs: number): Promise<void> {
    if (this.#conn) return;
    if (!this.#accepting) {
      this.#accepting = this.#listener.accept();
      this.#accepting.catch(() => {}); // a close before QEMU connected
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<undefined>((r) => timer = setTimeout(() => r(undefined), timeoutMs));
    try {
      const conn = await Promise.race([this.#accepting, timeout]);
      if (!conn) throw new TargetError(`QEMU did not connect its socket netdev within ${timeoutMs} ms`);
      this.#conn = conn;
      void this.#read(conn);
    } finally {
      clearTimeout(timer);
    }
  }

  async #read(conn: Deno.TcpConn): Promise<void> {
    let pending = new Uint8Array(0);
    const buf = new Uint8Array(65536);
    try {
      for (;;) {
        const n = await conn.read(buf);
        if (n === null) break;
        const joined = new Uint8Array(pending.length + n);
        joined.set(pending);
        joined.set(buf.subarray(0, n), pending.length);
        let off = 0;
        while (joined.length - off >= 4) {
          const len = new DataView(joined.buffer, off, 4).getUint32(0);
          if (len > MAX_FRAME) {
            this.#failure = `QEMU's socket netdev sent a frame length of ${len} bytes`;
            conn.close();
            return;
          }
          if (joined.length - off - 4 < len) break;
          this.#frames.push(joined.slice(off + 4, off + 4 + len));
          if (this.#frames.length > MAX_QUEUED) this.#frames.shift();
          off += 4 + len;
        }
        pending = joined.slice(off);
      }
    } catch (e) {
      if (!this.#closed) this.#failure = `the socket netdev connection failed: ${(e as Error).message}`;
    }
  }

  /** The frames QEMU transmitted since the last call. */
  takeTransmitted(): Promise<Uint8Array[]> {
    if (this.#failure) return Promise.reject(new TargetError(this.#failure));
    return Promise.resolve(this.#frames.splice(0));
  }

  /** Sends `frame` to QEMU, which receives it on the device's link. */
  async inject(frame: Uint8Array): Promise<void> {
    const conn = this.#conn;
    if (!conn) throw new TargetError("QEMU's socket netdev is not connected");
    if (frame.length > MAX_FRAME) throw new TargetError(`A ${frame.length}-byte frame is too long for the wire`);
    const out = new Uint8Array(4 + frame.length);
    new DataView(out.buffer).setUint32(0, frame.length);
    out.set(frame, 4);
    for (let off = 0; off < out.length;) off += await conn.write(out.subarray(off));
  }

  /** Closes the connection and the listener; calling it again does nothing. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn?.close();
    } catch { /* already closed */ }
    try {
      this.#listener.close();
    } catch { /* already closed */ }
  }
}
