/**
 * Fuzzes qtest reply parsing ({@link QtestClient}) with QEMU's side of the
 * connection scripted ({@link ScriptedStream}): plausible answers (`OK`,
 * `OK 0x…`, base64, `ERR`, `FAIL`, `IRQ …`, log lines) mixed with garbage
 * and raw bytes, split anywhere across reads.
 *
 * Accepted errors: {@link QtestError} only. Every command settles within
 * its deadline, a value that resolves is in range for its width, and `done`
 * resolves once the client is closed. See `harness/fuzz.ts`.
 */
import fc from "fast-check";
import { type ErrorClass, expectTyped, fuzzAsync, FuzzFailure } from "../../fuzz.ts";
import { QtestClient, QtestError } from "./qtest_client.ts";
import { ScriptedStream, segmentArb, type StreamEnd } from "./fuzz_stream.ts";

/** What the qtest client may reject with. */
const ACCEPTED: readonly ErrorClass[] = [QtestError];

const answer = fc.oneof(
  fc.constant("OK"),
  fc.bigInt({ min: 0n, max: 1n << 70n }).map((v) => `OK 0x${v.toString(16)}`),
  fc.uint8Array({ maxLength: 8 }).map((b) => `OK ${btoa(String.fromCharCode(...b))}`),
  fc.string({ maxLength: 12 }).map((s) => `OK ${s}`),
  fc.nat().map((n) => `OK ${n}`),
  fc.constantFrom(
    "ERR bad command",
    "FAIL Unknown command 'x'",
    "IRQ raise 3",
    "IRQ lower -1",
    "IRQ bogus",
    "[I 0.1] log",
  ),
  fc.string({ unit: "binary", maxLength: 20 }),
);

const script = fc.record({
  segments: fc.array(
    fc.oneof(
      {
        weight: 5,
        arbitrary: segmentArb(fc.array(answer, { maxLength: 6 }).map((ls) => ls.map((l) => `${l}\n`).join(""))),
      },
      { weight: 1, arbitrary: segmentArb(fc.uint8Array({ maxLength: 24 })) },
    ),
    { maxLength: 2 }, // pipelined commands go out in one or two writes: an "eof" script then ends
  ),
  end: fc.oneof(
    { weight: 9, arbitrary: fc.constantFrom<StreamEnd>("eof", "error") },
    { weight: 1, arbitrary: fc.constant<StreamEnd>("silent") },
  ),
  writeFails: fc.boolean(),
  ops: fc.array(fc.constantFrom("readb", "readw", "readl", "readq", "inl", "b64read", "clock", "write", "raw"), {
    minLength: 1,
    maxLength: 6,
  }),
  b64len: fc.integer({ min: 0, max: 12 }),
  maxChunk: fc.constantFrom(4, 1 << 16),
});

const MAX: Record<string, bigint> = {
  readb: 0xffn,
  readw: 0xffffn,
  readl: 0xffff_ffffn,
  inl: 0xffff_ffffn,
  readq: (1n << 64n) - 1n,
};

Deno.test("qtest fuzz: any byte stream settles every command with an in-range value or a QtestError", async () => {
  await fuzzAsync("qtest stream", [script], async (c) => {
    const stream = new ScriptedStream(c.segments, c.end, c.writeFails && c.segments.length <= 1);
    const q = new QtestClient(stream, { commandTimeoutMs: 5, maxChunk: c.maxChunk });
    const irqs: number[] = [];
    q.onIrq((n) => irqs.push(n));
    const run = (op: string): Promise<unknown> => {
      switch (op) {
        case "readb":
          return q.readb(0x10);
        case "readw":
          return q.readw(0x10);
        case "readl":
          return q.readl(0x10);
        case "readq":
          return q.readq(0x10);
        case "inl":
          return q.inl(0xcfc);
        case "b64read":
          return q.b64read(0x1000, c.b64len);
        case "clock":
          return q.clockStep(10);
        case "write":
          return q.writel(0x10, 1);
        default:
          return q.command("qom-get x");
      }
    };
    // Pipelined, as the harness issues them.
    const results = await Promise.all(c.ops.map((op) => expectTyped(ACCEPTED, () => run(op))));
    results.forEach((r, i) => {
      if (!r.ok) return;
      const op = c.ops[i]!;
      const max = MAX[op];
      if (max !== undefined) {
        const v = typeof r.value === "bigint" ? r.value : BigInt(r.value as number);
        if (v < 0n || v > max) throw new FuzzFailure(`${op} resolved with ${v}, out of range`);
      }
      if (op === "b64read" && (r.value as Uint8Array).length !== c.b64len) {
        throw new FuzzFailure(`b64read resolved with ${(r.value as Uint8Array).length} bytes, not ${c.b64len}`);
      }
    });
    await expectTyped(ACCEPTED, () => q.close());
    if (irqs.some((n) => !Number.isFinite(n))) throw new FuzzFailure("an IRQ line that is not a number");
  }, 300);
});
