/**
 * Fuzzes the GDB remote client ({@link GdbClient}) with the stub's side of
 * the connection scripted ({@link ScriptedStream}): arbitrary bytes, packets
 * with wrong checksums, escapes and run-length codes, stop replies where
 * answers are due, packets split across reads.
 *
 * Accepted errors: {@link GdbError} only. Every call settles within its
 * deadline, and `done` resolves once the client is closed. See
 * `harness/fuzz.ts`.
 */
import fc from "fast-check";
import { type ErrorClass, expectTyped, fuzzAsync } from "../../fuzz.ts";
import { ScriptedStream, segmentArb, type StreamEnd } from "../qemu/fuzz_stream.ts";
import { checksum, framePacket, GdbClient, GdbError, parseStopReply, unframePayload } from "./gdb_client.ts";

/** What the client may reject with. */
const ACCEPTED: readonly ErrorClass[] = [GdbError];

/** Payloads a stub might send, and some it should not. */
const payload = fc.oneof(
  fc.constantFrom("OK", "", "E01", "S05", "T05thread:01;", "T05thread:01;watch:1000;", "T02rwatch:zz;"),
  fc.uint8Array({ maxLength: 8 }).map((b) => [...b].map((x) => x.toString(16).padStart(2, "0")).join("")),
  fc.string({ maxLength: 20 }),
);

/** Framed packets, some with a wrong checksum, acknowledgements and noise. */
const chunk = fc.oneof(
  payload.map(framePacket),
  payload.map((p) => `$${p}#${checksum(p) === "00" ? "01" : "00"}`),
  fc.constantFrom("+", "-", "$", "#", "}", "*"),
  fc.string({ unit: "binary", maxLength: 12 }),
);

const script = fc.record({
  segments: fc.array(segmentArb(fc.array(chunk, { maxLength: 4 }).map((cs) => cs.join(""))), { maxLength: 5 }),
  end: fc.oneof({ weight: 9, arbitrary: fc.constantFrom<StreamEnd>("eof", "error") }, {
    weight: 1,
    arbitrary: fc.constant<StreamEnd>("silent"),
  }),
  writeFails: fc.boolean(),
});

Deno.test("GDB fuzz: any byte stream settles every call with a value or a GdbError", async () => {
  await fuzzAsync(
    "gdb stream",
    [script],
    async (c) => {
      const gdb = new GdbClient(new ScriptedStream(c.segments, c.end, c.writeFails && c.segments.length <= 1));
      await expectTyped(ACCEPTED, () => gdb.handshake(1));
      await expectTyped(ACCEPTED, () => gdb.readMemory(0x1000n, 8, 1));
      await expectTyped(ACCEPTED, () => gdb.watch("write", 0x2000n, 16, 1));
      await expectTyped(ACCEPTED, async () => {
        await gdb.resume();
        return await gdb.nextStop(1);
      });
      await expectTyped(ACCEPTED, () => gdb.step(1));
      gdb.close();
      await gdb.done;
    },
    300,
    0.1,
  );
});

Deno.test("GDB fuzz: packet decoding never throws and stop replies keep their fields", async () => {
  await fuzzAsync("gdb payloads", [fc.string({ unit: "binary", maxLength: 40 })], async (text) => {
    await Promise.resolve();
    unframePayload(text);
    const stop = parseStopReply(text);
    if (stop && !(stop.signal >= 0 && stop.signal <= 255)) throw new Error(`signal ${stop.signal} out of range`);
    if (stop?.watch && stop.watch.address < 0n) throw new Error("a negative watch address");
  }, 1000);
});
