/**
 * Fuzzes QMP reply parsing ({@link QmpClient}) with QEMU's side of the
 * connection scripted ({@link ScriptedStream}): arbitrary bytes, JSON of any
 * shape, replies whose `error` is not an object, lines split across reads.
 *
 * Accepted errors: {@link QmpError} only. A handshake and a command settle
 * within their deadlines and `done` resolves once the client is closed. A
 * line that is not a QMP message (not a JSON object) is ignored like one
 * that is not JSON, and a refused command leaves the connection usable.
 * See `harness/fuzz.ts`.
 */
import fc from "fast-check";
import { assertEquals } from "@std/assert";
import { type ErrorClass, expectTyped, fuzzAsync, FuzzFailure } from "../../fuzz.ts";
import { QmpClient, QmpError } from "./qmp_client.ts";
import { ScriptedStream, segmentArb, type StreamEnd } from "./fuzz_stream.ts";

/** What the QMP client may reject with. */
const ACCEPTED: readonly ErrorClass[] = [QmpError];

const GREETING = '{"QMP": {"version": {"qemu": {"major": 9}}, "capabilities": []}}\n';

/** Lines QEMU might send, and lines it should not. */
const line = fc.oneof(
  fc.constant(GREETING),
  fc.integer({ min: 0, max: 4 }).map((id) => `{"return": {}, "id": ${id}}\n`),
  fc.tuple(fc.integer({ min: 0, max: 4 }), fc.jsonValue({ maxDepth: 2 })).map(([id, e]) =>
    `{"error": ${JSON.stringify(e)}, "id": ${id}}\n`
  ),
  fc.jsonValue({ maxDepth: 2 }).map((v) => `${JSON.stringify(v)}\n`),
  fc.constant('{"event": "STOP", "timestamp": {"seconds": 1}}\n'),
  fc.string({ unit: "binary", maxLength: 40 }),
);

const script = fc.record({
  // At most a greeting and the two answers: the client writes twice, so an "eof" script then ends.
  segments: fc.array(segmentArb(fc.array(line, { maxLength: 5 }).map((ls) => ls.join(""))), { maxLength: 3 }),
  raw: fc.option(segmentArb(fc.uint8Array({ maxLength: 32 })), { nil: undefined }),
  // Silent streams settle only by timeout: rarer, to keep the rate up.
  end: fc.oneof({ weight: 9, arbitrary: fc.constantFrom<StreamEnd>("eof", "error") }, {
    weight: 1,
    arbitrary: fc.constant<StreamEnd>("silent"),
  }),
  writeFails: fc.boolean(),
});

Deno.test("QMP fuzz: any byte stream settles the handshake and a command with a value or a QmpError", async () => {
  await fuzzAsync(
    "qmp stream",
    [script],
    async (c) => {
      const segments = c.raw ? [[...c.raw, ...(c.segments[0] ?? [])], ...c.segments.slice(1)] : c.segments;
      const stream = new ScriptedStream(segments, c.end, c.writeFails && segments.length <= 1);
      const qmp = new QmpClient(stream);
      await expectTyped(ACCEPTED, () => qmp.handshake(1));
      await expectTyped(ACCEPTED, () => qmp.execute("query-status", undefined, 1));
      await expectTyped(ACCEPTED, () => qmp.close());
    },
    300,
    0.1,
  ); // cases that end by timeout cost a millisecond or more: a tenth of FUZZ_RUNS
});

/** Lines that are not QMP messages: JSON that is not an object, and text that is not JSON. */
const notAMessage = fc.oneof(
  fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constant(null)).filter((v) =>
    typeof v !== "object" || v === null || Array.isArray(v)
  ).map((v) => JSON.stringify(v)),
  fc.string({ maxLength: 30 }).filter((s) => !s.includes("\n") && !s.trim().startsWith("{")),
);

Deno.test("QMP fuzz: non-messages are ignored and a refusal of any shape leaves the connection usable", async () => {
  await fuzzAsync("qmp garbage lines", [
    fc.array(notAMessage, { minLength: 3, maxLength: 3 }),
    fc.jsonValue({ maxDepth: 2 }),
    fc.array(fc.nat(), { maxLength: 4 }),
  ], async (junk, error, cuts) => {
    const segments = [
      `${junk[0]}\n${GREETING}`,
      `${junk[1]}\n{"return": {}, "id": 1}\n`,
      `{"error": ${JSON.stringify(error)}, "id": 2}\n${junk[2]}\n`,
      `{"return": {"status": "running"}, "id": 3}\n`,
    ].map((s, i) =>
      [new TextEncoder().encode(s)].flatMap((b) =>
        i === 0 ? [b] : [b.subarray(0, cuts[i] ?? 0), b.subarray(cuts[i] ?? 0)]
      )
    );
    const qmp = new QmpClient(new ScriptedStream(segments, "silent"));
    const r = await expectTyped(ACCEPTED, async () => {
      await qmp.handshake(1000);
      const refused = await expectTyped(ACCEPTED, () => qmp.execute("bad", undefined, 1000));
      if (refused.ok || !refused.error.message.startsWith("QEMU refused the QMP command bad")) {
        throw new FuzzFailure(`the refusal came back as ${refused.ok ? "a value" : refused.error.message}`);
      }
      return await qmp.execute("query-status", undefined, 1000);
    });
    await qmp.close();
    if (!r.ok) throw new FuzzFailure(`the connection broke: ${r.error.message}`);
    assertEquals(r.value, { status: "running" });
  }, 300);
});

Deno.test("QMP fuzz regressions: a non-object line and a refusal whose error is null", async () => {
  // Both threw a TypeError inside the read loop ("QMP" in null, null.desc), which ended the connection
  // with the misleading "QEMU closed the QMP connection".
  const enc = (s: string) => [new TextEncoder().encode(s)];
  const qmp = new QmpClient(
    new ScriptedStream(
      [
        enc(`null\n7\n"text"\n${GREETING}`),
        enc(`{"return": {}, "id": 1}\n`),
        enc(`{"error": null, "id": 2}\n`),
        enc(`{"return": 5, "id": 3}\n`),
      ],
      "silent",
    ),
  );
  await qmp.handshake(1000);
  const refused = await expectTyped(ACCEPTED, () => qmp.execute("bad", undefined, 1000));
  assertEquals(refused.ok ? "" : refused.error.message, "QEMU refused the QMP command bad: null");
  assertEquals(await qmp.execute("query-status", undefined, 1000), 5);
  await qmp.close();
});
