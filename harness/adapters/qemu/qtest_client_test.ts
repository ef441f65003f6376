/** The qtest client against a fake QEMU (an in-memory byte stream): framing, pipelining, errors, deadlines. */
import { assertEquals, assertRejects } from "@std/assert";
import { type ByteStream, QtestClient, QtestError } from "./qtest_client.ts";

/** A fake qtest server: every line the client writes goes to `serve`, which answers through `send`. */
class FakeQemu implements ByteStream {
  readonly writes: string[] = [];
  readonly lines: string[] = [];
  #chunks: Uint8Array[] = [];
  #wake: (() => void) | undefined;
  #ended = false;
  constructor(readonly serve: (line: string, q: FakeQemu) => void, readonly chunkSize = 1 << 16) {}
  write(p: Uint8Array): Promise<number> {
    if (this.#ended) return Promise.reject(new Error("Broken pipe"));
    const text = new TextDecoder().decode(p);
    this.writes.push(text);
    for (const line of text.split("\n").slice(0, -1)) {
      this.lines.push(line);
      this.serve(line, this);
    }
    return Promise.resolve(p.length);
  }
  send(text: string): void {
    const bytes = new TextEncoder().encode(text);
    for (let i = 0; i < bytes.length; i += this.chunkSize) this.#chunks.push(bytes.slice(i, i + this.chunkSize));
    this.#wake?.();
  }
  end(): void {
    this.#ended = true;
    this.#wake?.();
  }
  async read(p: Uint8Array): Promise<number | null> {
    while (this.#chunks.length === 0) {
      if (this.#ended) return null;
      await new Promise<void>((r) => this.#wake = r);
      this.#wake = undefined;
    }
    const c = this.#chunks[0]!;
    const n = Math.min(p.length, c.length);
    p.set(c.subarray(0, n));
    if (n === c.length) this.#chunks.shift();
    else this.#chunks[0] = c.subarray(n);
    return n;
  }
  close(): void {
    this.end();
  }
}

/** Answers like QEMU: reads return the address's low bits, writes and the rest OK. */
function echo(line: string, q: FakeQemu): void {
  const [cmd, a] = line.split(" ");
  if (cmd?.startsWith("read") || cmd?.startsWith("in")) {
    q.send(`OK 0x${(Number(a) & 0xff).toString(16).padStart(16, "0")}\n`);
  } else q.send("OK\n");
}

Deno.test("qtest client: answers split into single bytes and several lines per chunk are framed right", async () => {
  const fake = new FakeQemu(echo, 1);
  const c = new QtestClient(fake);
  assertEquals(await c.readl(0x1234), 0x34);
  assertEquals(await c.readq(0x10), 0x10n);
  assertEquals(await c.inb(0xcfd), 0xfd);
  await c.writel(0x1000, 0xdeadbeef);
  assertEquals(fake.lines, ["readl 0x1234", "readq 0x10", "inb 0xcfd", "writel 0x1000 0xdeadbeef"]);
  await c.close();
});

Deno.test("qtest client: commands issued together go out in one write and are answered in order", async () => {
  const fake = new FakeQemu(echo);
  const c = new QtestClient(fake);
  const values = await Promise.all(Array.from({ length: 200 }, (_, i) => c.readb(i)));
  assertEquals(values, Array.from({ length: 200 }, (_, i) => i & 0xff));
  assertEquals(fake.writes.length, 1);
  await c.close();
});

Deno.test("qtest client: ERR and FAIL reject that command only", async () => {
  const fake = new FakeQemu((line, q) => {
    if (line.startsWith("clock_step")) q.send("FAIL Unknown command 'clock_step'\n");
    else if (line.startsWith("b64write")) q.send("ERR invalid argument size\n");
    else echo(line, q);
  });
  const c = new QtestClient(fake);
  const [a, b, d] = await Promise.allSettled([c.clockStep(), c.command("b64write 0x0 0x1 AA"), c.readw(7)]);
  assertEquals(a.status, "rejected");
  assertEquals(((a as PromiseRejectedResult).reason as QtestError).kind, "fail");
  assertEquals(((b as PromiseRejectedResult).reason as QtestError).kind, "err");
  assertEquals(d, { status: "fulfilled", value: 7 });
  const e = (a as PromiseRejectedResult).reason as Error;
  assertEquals(e.message, `QEMU failed the qtest command "clock_step": FAIL Unknown command 'clock_step'`);
  await c.close();
});

Deno.test("qtest client: IRQ lines interleaved with answers reach listeners and do not shift answers", async () => {
  const fake = new FakeQemu((line, q) => {
    q.send("IRQ raise 47\n");
    echo(line, q);
    q.send("IRQ lower 47\nIRQ raise 3\n");
  }, 5);
  const c = new QtestClient(fake);
  const seen: string[] = [];
  c.onIrq((n, level) => seen.push(`${n}:${level}`));
  assertEquals(await c.readl(0x60), 0x60);
  assertEquals(await c.readl(0x61), 0x61);
  await c.command("endianness");
  assertEquals(seen.slice(0, 4), ["47:true", "47:false", "3:true", "47:true"]);
  assertEquals(c.irqLevel(3), true);
  assertEquals(c.irqLevel(9), false);
  await c.close();
});

Deno.test("qtest client: QEMU exiting mid-command fails it and every later command with a clear error", async () => {
  const fake = new FakeQemu((line, q) => {
    if (line.startsWith("writel")) q.end();
    else echo(line, q);
  });
  const c = new QtestClient(fake);
  assertEquals(await c.readl(4), 4);
  const e = await assertRejects(() => c.writel(0x70, 0), QtestError);
  assertEquals(e.kind, "closed");
  assertEquals(e.message, `QEMU closed the qtest connection (while waiting for "writel 0x70 0x0")`);
  const later = await assertRejects(() => c.readl(0), QtestError);
  assertEquals(later.kind, "closed");
  await c.done;
});

Deno.test("qtest client: a command never answered fails at its deadline, with the pending ones, without hanging", async () => {
  let hung = false; // like QEMU, nothing after the stuck command is answered
  const fake = new FakeQemu((line, q) => {
    hung ||= line.startsWith("readl 0x50");
    if (!hung) echo(line, q);
  });
  const c = new QtestClient(fake, { commandTimeoutMs: 60 });
  const started = Date.now();
  const [stuck, after] = await Promise.allSettled([c.readl(0x50), c.readl(0x54)]);
  const took = Date.now() - started;
  const e = (stuck as PromiseRejectedResult).reason as QtestError;
  assertEquals(e.kind, "timeout");
  assertEquals(e.message, `QEMU did not answer the qtest command "readl 0x50" within 60 ms`);
  assertEquals(((after as PromiseRejectedResult).reason as QtestError).kind, "timeout");
  if (took > 1000) throw new Error(`the deadline took ${took} ms`);
  await c.done;
});

Deno.test("qtest client: bad arguments are refused before anything is sent (QEMU would abort)", async () => {
  const fake = new FakeQemu(echo);
  const c = new QtestClient(fake);
  for (
    const call of [
      () => c.outl(0x10000, 0),
      () => c.outb(0x80, 0x100),
      () => c.readl(-1),
      () => c.writel(0, 2 ** 32),
      () => c.b64read(0, -1),
      () => c.command("readl 0\nreadl 4"),
      () => c.irqInterceptIn("a b"),
    ]
  ) {
    const e = await assertRejects(call, QtestError);
    assertEquals(e.kind, "argument");
  }
  assertEquals(fake.lines, []);
  await c.close();
});

Deno.test("qtest client: b64read and b64write are chunked and reassembled", async () => {
  const memory = new Uint8Array(64);
  const fake = new FakeQemu((line, q) => {
    const [cmd, a, n, data] = line.split(" ");
    if (cmd === "b64write") {
      memory.set(Uint8Array.from(atob(data!), (ch) => ch.charCodeAt(0)), Number(a));
      q.send("OK\n");
    } else if (cmd === "b64read") {
      q.send(`OK ${btoa(String.fromCharCode(...memory.subarray(Number(a), Number(a) + Number(n))))}\n`);
    }
  });
  const c = new QtestClient(fake, { maxChunk: 5 });
  const data = Uint8Array.from({ length: 23 }, (_, i) => i * 7);
  await c.b64write(3, data);
  assertEquals(await c.b64read(3, 23), data);
  assertEquals(fake.lines.filter((l) => l.startsWith("b64write")).length, 5);
  assertEquals(fake.lines.filter((l) => l.startsWith("b64read")).length, 5);
  await c.close();
});

Deno.test("qtest client: an answer nobody asked for or a garbage answer fails the connection", async () => {
  const fake = new FakeQemu((_line, q) => q.send("WHAT\n"));
  const c = new QtestClient(fake);
  const e = await assertRejects(() => c.readl(0), QtestError);
  assertEquals(e.kind, "protocol");
  assertEquals(e.message, `QEMU answered "readl 0x0" with garbage: "WHAT"`);
  await c.close();
  const fake2 = new FakeQemu(() => {});
  const c2 = new QtestClient(fake2);
  fake2.send("OK\n");
  await c2.done;
  assertEquals(c2.failure?.kind, "protocol");
  assertEquals(c2.failure?.message, `QEMU sent a qtest line nobody asked for: "OK"`);
  const e2 = await assertRejects(() => c2.readl(0), QtestError);
  assertEquals(e2.kind, "protocol");
  await c2.close();
});

Deno.test("qtest client: posted writes resolve before QEMU answers, stay in order; sync waits for their answers", async () => {
  // This QEMU holds its answers until a read comes; a write lowers line 5 before its answer, as qtest reports it.
  let held: string[] = [];
  const fake = new FakeQemu((line, q) => {
    if (line.startsWith("writel")) held.push("IRQ lower 5\n");
    held.push(line.startsWith("readl") ? `OK 0x${(Number(line.split(" ")[1]) & 0xff).toString(16)}\n` : "OK\n");
    if (line.startsWith("readl")) {
      q.send(held.join(""));
      held = [];
    }
  });
  fake.send("IRQ raise 5\n");
  const c = new QtestClient(fake, { postWrites: true });
  await c.writel(0x1000, 1);
  await c.b64write(0x2000, new Uint8Array([1, 2, 3]));
  await c.outb(0xcf8, 7);
  // Nothing answered yet (a write waiting for its answer would not have returned): the line reads as before.
  assertEquals(c.irqLevel(5), true);
  assertEquals(await c.readl(0x60), 0x60);
  assertEquals(fake.lines, ["writel 0x1000 0x1", "b64write 0x2000 0x3 AQID", "outb 0xcf8 0x7", "readl 0x60"]);
  assertEquals(c.irqLevel(5), false);
  // A sync waits for the answer of the last posted write.
  await c.writel(0x1004, 2);
  let synced = false;
  const sync = c.sync().then(() => synced = true);
  await new Promise((r) => setTimeout(r, 5));
  assertEquals(synced, false);
  await c.readl(0x61);
  await sync;
  assertEquals(synced, true);
  await c.close();
});

Deno.test("qtest client: an error answer to a posted write fails the connection, and the next command says so", async () => {
  const fake = new FakeQemu((line, q) => {
    if (line.startsWith("writew")) q.send("ERR bad write\n");
    else echo(line, q);
  });
  const c = new QtestClient(fake, { postWrites: true });
  await c.writew(0x10, 1);
  const e = await assertRejects(() => c.readl(0), QtestError);
  assertEquals(e.kind, "err");
  assertEquals(e.message, `QEMU rejected the qtest command "writew 0x10 0x1": ERR bad write (posted)`);
  await assertRejects(() => c.sync(), QtestError);
  await assertRejects(() => c.writel(0, 0), QtestError);
  await c.done;
});
