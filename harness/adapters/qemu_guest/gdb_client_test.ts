import { assertEquals, assertRejects } from "@std/assert";
import { checksum, framePacket, GdbClient, parseStopReply, unframePayload } from "./gdb_client.ts";
import type { ByteStream } from "../qemu/qtest_client.ts";

Deno.test("gdb packets: framing escapes, checksums and run-length decoding", () => {
  assertEquals(checksum("OK"), "9a");
  assertEquals(framePacket("m1000,4"), "$m1000,4#8e");
  assertEquals(framePacket("a#b"), "$a}\x03b#" + checksum("a}\x03b"));
  assertEquals(unframePayload("a}\x03b"), "a#b");
  assertEquals(unframePayload("0* "), "0000"); // '*' then ' ' (32): three more copies
});

Deno.test("gdb stop replies: signal and the watchpoint that stopped the guest", () => {
  assertEquals(parseStopReply("S05"), { signal: 5 });
  assertEquals(parseStopReply("T05thread:01;watch:ffff888005346000;"), {
    signal: 5,
    watch: { kind: "write", address: 0xffff888005346000n },
  });
  assertEquals(parseStopReply("T05rwatch:1000;thread:01;")?.watch?.kind, "read");
  assertEquals(parseStopReply("OK"), undefined);
});

/** A stub that answers each packet with the replies `answer` gives, and acknowledges what it receives. */
function fakeStub(answer: (packet: string) => string[]): ByteStream {
  const out: Uint8Array[] = [];
  let wake: (() => void) | undefined;
  let closed = false;
  const enc = new TextEncoder();
  return {
    read(p) {
      const next = () => {
        const chunk = out.shift();
        if (!chunk) return closed ? null : undefined;
        wake = undefined;
        p.set(chunk.subarray(0, p.length));
        return chunk.length;
      };
      const n = next();
      if (n !== undefined) return Promise.resolve(n);
      return new Promise((resolve) =>
        wake = () => {
          const got = next();
          if (got !== undefined) resolve(got);
        }
      );
    },
    write(p) {
      const text = new TextDecoder().decode(p);
      for (const m of text.matchAll(/\$([^#]*)#[0-9a-f]{2}/g)) {
        out.push(enc.encode("+"));
        for (const r of answer(m[1]!)) out.push(enc.encode(framePacket(r)));
      }
      if (text === "\x03") out.push(enc.encode(framePacket("T02thread:01;")));
      wake?.();
      return Promise.resolve(p.length);
    },
    close() {
      closed = true;
      wake?.();
    },
  };
}

Deno.test("gdb client: a stop when the debugger connects, then commands, watchpoints and a hit", async () => {
  const seen: string[] = [];
  let first = true;
  const gdb = new GdbClient(fakeStub((p) => {
    seen.push(p);
    if (first) {
      first = false;
      return ["T02thread:01;", ""]; // QEMU stopped the guest at the connection; it does not know no-ack mode
    }
    if (p.startsWith("m")) return ["01020304"];
    if (p === "c") return ["T05thread:01;watch:2000;"];
    if (p.startsWith("Z2")) return ["OK"];
    return ["E01"];
  }));
  await gdb.handshake(1000);
  assertEquals(gdb.running, false);
  assertEquals([...await gdb.readMemory(0x1000n, 4, 1000)], [1, 2, 3, 4]);
  await gdb.watch("write", 0x2000n, 16, 1000);
  await gdb.resume();
  assertEquals(await gdb.nextStop(1000), { signal: 5, watch: { kind: "write", address: 0x2000n } });
  await assertRejects(() => gdb.command("qBogus", 1000), Error, "E01");
  assertEquals(seen.slice(1), ["m1000,4", "Z2,2000,10", "c", "qBogus"]);
  gdb.close();
  await gdb.done;
});
