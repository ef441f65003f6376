import { assertEquals, assertRejects } from "@std/assert";
import { TargetError } from "../../adapter.ts";
import { SocketWire } from "./socket_wire.ts";

/** Plays QEMU's socket netdev: connects to the wire's port. */
async function peer(wire: SocketWire): Promise<Deno.TcpConn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: wire.port });
  await wire.connected(2000);
  return conn;
}

function framed(...frames: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(frames.reduce((n, f) => n + 4 + f.length, 0));
  let off = 0;
  for (const f of frames) {
    new DataView(out.buffer).setUint32(off, f.length);
    out.set(f, off + 4);
    off += 4 + f.length;
  }
  return out;
}

async function until<T>(f: () => Promise<T[]>, count: number): Promise<T[]> {
  const got: T[] = [];
  for (let i = 0; i < 200 && got.length < count; i++) {
    got.push(...await f());
    if (got.length < count) await new Promise((r) => setTimeout(r, 5));
  }
  return got;
}

Deno.test("socket wire: frames from QEMU arrive whole however the stream is cut", async () => {
  const wire = await SocketWire.listen();
  const conn = await peer(wire);
  try {
    assertEquals(wire.netdevArgs("w"), ["-netdev", `socket,id=w,connect=127.0.0.1:${wire.port}`]);
    const a = new Uint8Array(60).fill(1);
    const b = new Uint8Array(1514).map((_, i) => i & 0xff);
    const bytes = framed(a, b);
    // Cut mid-length and mid-frame.
    for (const [from, to] of [[0, 2], [2, 70], [70, bytes.length]]) {
      await conn.write(bytes.subarray(from, to));
      await new Promise((r) => setTimeout(r, 5));
    }
    const got = await until(() => wire.takeTransmitted(), 2);
    assertEquals(got, [a, b]);
    assertEquals(await wire.takeTransmitted(), []);
  } finally {
    conn.close();
    wire.close();
  }
});

Deno.test("socket wire: an injected frame reaches QEMU with its length in front", async () => {
  const wire = await SocketWire.listen();
  const conn = await peer(wire);
  try {
    const frame = new Uint8Array([1, 2, 3, 4, 5, 6, 7]);
    await wire.inject(frame);
    const buf = new Uint8Array(64);
    let n = 0;
    while (n < 11) n += (await conn.read(buf.subarray(n))) ?? 0;
    assertEquals(buf.subarray(0, 11), framed(frame));
  } finally {
    conn.close();
    wire.close();
  }
});

Deno.test("socket wire: a garbage length is a TargetError, a missing QEMU a bounded wait", async () => {
  const wire = await SocketWire.listen();
  const conn = await peer(wire);
  try {
    await conn.write(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0]));
    let error: unknown;
    for (let i = 0; i < 200 && !error; i++) {
      error = await wire.takeTransmitted().then(() => undefined, (e) => e);
      if (!error) await new Promise((r) => setTimeout(r, 5));
    }
    assertEquals((error as Error).name, "TargetError");
    assertEquals((error as Error).message, "QEMU's socket netdev sent a frame length of 4294967295 bytes");
  } finally {
    conn.close();
    wire.close();
  }
  const lonely = await SocketWire.listen();
  try {
    await assertRejects(() => lonely.connected(50), TargetError, "did not connect its socket netdev within 50 ms");
    await assertRejects(() => lonely.inject(new Uint8Array(60)), TargetError, "not connected");
  } finally {
    lonely.close();
    lonely.close();
  }
});
