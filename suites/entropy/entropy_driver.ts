/**
 * Driver clauses of spec 5.4 Entropy Device (the harness plays the entropy device).
 *
 * @module
 */
import fc from "fast-check";
import type { Workload, WorkloadResult } from "../../harness/adapter.ts";
import { defineDriverClause, type DriverClauseContext } from "../../harness/core/clause.ts";
import { checkProperty } from "../../harness/core/property.ts";
import type { DeviceFunction } from "../../harness/models/device/device_function.ts";
import type { RngFunction } from "../../harness/models/device/rng.ts";
import type { ScenarioTrace } from "../../harness/roles/harness_device.ts";
import { expectNone, expectThat, notApplicable } from "../../harness/verify.ts";

const OPERATION = "drivernormative:Device Types / Entropy Device / Device Operation";

/** A run against the harness's entropy device, with what it wrote for each request it served, in order. */
export interface EntropyRun {
  trace: ScenarioTrace;
  /** The bytes the device wrote for each request it used (its first `len` bytes). */
  written: Uint8Array[];
}

/**
 * Runs the driver against the harness's entropy device, recording the bytes written for each request;
 * `fill` caps how many bytes the device puts in each request (it reports exactly that many as len).
 */
export async function entropyRun(ctx: DriverClauseContext, workloads: Workload[], fill?: number): Promise<EntropyRun> {
  const written: Uint8Array[] = [];
  const trace = await ctx.scenarios.run({
    workloads,
    configure: (_core, fn: DeviceFunction) => {
      if (fill !== undefined) (fn as RngFunction).maxPerRequest = fill;
      const serve = fn.handle.bind(fn);
      fn.handle = async (queue, chain, mem, negotiated) => {
        const r = await serve(queue, chain, mem, negotiated);
        if (r.kind === "used") {
          const out = new Uint8Array(r.written);
          let at = 0;
          for (const b of chain) {
            if (at >= r.written) break;
            const n = Math.min(b.len, r.written - at);
            out.set(await mem.read(b.addr, n), at);
            at += n;
          }
          written.push(out);
        }
        return r;
      };
    },
  });
  return { trace, written };
}

/**
 * Whether `data` is made only of bytes the device wrote, in the order it used the requests: each request's bytes
 * contribute a prefix (possibly empty, never past len), one request after another.
 */
export function onlyWrittenBytes(data: Uint8Array, written: readonly Uint8Array[]): boolean {
  // fits(i, at): data[at..] can be made of prefixes of written[i..].
  const memo = new Map<number, boolean>();
  const fits = (i: number, at: number): boolean => {
    if (at === data.length) return true;
    if (i === written.length) return false;
    const key = i * (data.length + 1) + at;
    const known = memo.get(key);
    if (known !== undefined) return known;
    const w = written[i]!;
    let ok = fits(i + 1, at);
    for (let n = 1; !ok && n <= w.length && at + n <= data.length && data[at + n - 1] === w[n - 1]; n++) {
      ok = fits(i + 1, at + n);
    }
    memo.set(key, ok);
    return ok;
  };
  return fits(0, 0);
}

/** The workloads whose returned data holds a byte the device never wrote there. */
export function untrustedReads(run: EntropyRun): { i: number; r: WorkloadResult }[] {
  return run.trace.results
    .map((r, i) => ({ r, i }))
    .filter(({ r }) => r.ok && r.data !== undefined && !onlyWrittenBytes(r.data, run.written));
}

/** Describes a workload whose data the device did not write (for failure messages). */
export function fmtUntrusted(run: EntropyRun): (x: { i: number; r: WorkloadResult }) => string {
  return ({ i, r }) =>
    `workload ${i} returned ${r.ok ? r.data?.length : 0} bytes; the device wrote ${
      run.written.map((w) => w.length).join(" + ")
    } bytes over ${run.written.length} requests`;
}

export const noReadableBuffers = defineDriverClause({
  label: OPERATION,
  statement: 1,
  level: "MUST NOT",
  title: "no device-readable buffer in an entropy request",
  applies: { deviceTypes: ["rng"], legacy: true },
  requirement: "Every buffer the driver puts on the entropy queue is device-writable.",
  action: "Has the driver read 1, 16, 64 and 300 random bytes (a real driver: its own reads, its rings watched) and " +
    "counts the device-readable descriptors and indirect entries in the buffers it makes available.",
  async run(ctx) {
    const t = ctx.scenarios.watched
      ? await ctx.scenarios.baseline()
      : await ctx.scenarios.run({ workloads: [1, 16, 64, 300].map((bytes) => ({ kind: "rng-read", bytes })) });
    if (!t.probe.bound) notApplicable("the driver did not bind");
    const q = t.monitor.queueSummary(0);
    if (q.published === 0) notApplicable("no entropy request of the driver was seen on the ring");
    expectThat(
      q.readable === 0,
      "only device-writable buffers on the entropy queue",
      () => `${q.readable} device-readable element(s) in the ${q.published} buffers made available`,
    );
  },
});

export const lengthExamined = defineDriverClause({
  label: OPERATION,
  statement: 2,
  level: "MUST",
  title: "the used length tells how many random bytes arrived",
  applies: { deviceTypes: ["rng"], legacy: true },
  requirement: "The driver takes from each entropy request only as many bytes as the used element's len says the " +
    "device wrote.",
  action: "Presents an entropy device that writes only 1–15 bytes per request (and says so in len) while the " +
    "driver asks for 16–64, and checks every byte the driver returns is one the device wrote, in order.",
  async run(ctx) {
    let served = 0;
    await checkProperty(
      ctx,
      fc.record({ fill: fc.integer({ min: 1, max: 15 }), bytes: fc.integer({ min: 16, max: 64 }) }),
      async ({ fill, bytes }) => {
        const run = await entropyRun(ctx, [{ kind: "rng-read", bytes }], fill);
        if (run.trace.results.some((r) => r.ok)) served++;
        expectNone("only bytes the device wrote (per len) returned", untrustedReads(run), fmtUntrusted(run));
      },
      ({ fill, bytes }) => `${fill} bytes written per request, ${bytes} asked for`,
    );
    if (served === 0) notApplicable("the driver completed no entropy read from a device that fills requests short");
  },
});

/** The driver clauses of spec 5.4. */
export const ENTROPY_DRIVER_CLAUSES = [noReadableBuffers, lengthExamined];
