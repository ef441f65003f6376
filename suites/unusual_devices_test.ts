/**
 * Conforming but unusual devices get the reference device's verdicts:
 * - a slow one: the reference rng device with no idle hook, serving each
 *   queue notification 30 ms after it is written (on its own timer, as a
 *   device with a work thread does); the harness waits for it where it must
 *   (settle gives a device that cannot say it is idle the whole time asked),
 *   sizes its negative windows from it, and no property runs out of time;
 * - a polling one: it ignores every notification and looks at its queue
 *   every 5 ms while DRIVER_OK is set (notifications are hints);
 * - an out-of-order one: it offers no VIRTIO_F_IN_ORDER and runs and uses the
 *   buffers it found on one look at the ring in reverse order (rng and blk,
 *   every transport, split and packed rings), held to the verdicts of the
 *   reference device without IN_ORDER.
 */
import { assert, assertEquals } from "@std/assert";
import { type InProcessDeviceFactory, InProcessDeviceTarget } from "../harness/adapters/in_process.ts";
import { runTarget } from "../harness/core/runner.ts";
import { referenceDeviceTarget } from "../harness/models/device/reference.ts";
import { DeviceCore, type DeviceOptions, REFERENCE_CORE_FEATURES } from "../harness/models/device/core.ts";
import { bit, F } from "../harness/features.ts";
import type { DeviceFunction } from "../harness/models/device/device_function.ts";
import timerDevice from "../fixtures/targets/worker/timer_device.ts";
import pollingDevice from "../fixtures/targets/worker/polling_device.ts";
import { CLAUSES } from "./mod.ts";

const every = { seed: 0x5eed, runs: 5, strict: true, targetArg: "test" };
const opts = { ...every, transport: "mmio" as const };

/** Runs every clause on `factory` and on the reference rng device (MMIO): the verdicts that differ. */
async function differences(name: string, factory: InProcessDeviceFactory): Promise<string[]> {
  const unusual = await runTarget(new InProcessDeviceTarget(name, "rng", factory, ["mmio"]), CLAUSES, opts);
  const reference = await runTarget(referenceDeviceTarget("rng"), CLAUSES, opts);
  const want = new Map(reference.map((r) => [r.clause, r.verdict]));
  assert(unusual.filter((r) => r.verdict === "pass").length > 40, `${name} passed too few clauses to mean much`);
  return unusual.filter((r) => r.verdict !== want.get(r.clause)).map((r) =>
    `${r.clause}: ${r.verdict} (reference ${want.get(r.clause)}): ${r.message}`
  );
}

Deno.test("a slow device (no idle hook, notifications served 30 ms late) gets the reference device's verdicts", async () => {
  assertEquals(await differences("slow-rng", timerDevice), []);
});

Deno.test({
  name: "a polling device (notifications ignored, queue looked at every 5 ms) gets the reference device's verdicts",
  // Its poll timer outlives the session while the driver left DRIVER_OK set (it is unref'd: it holds nothing open).
  sanitizeOps: false,
  async fn() {
    assertEquals(await differences("polling-rng", pollingDevice), []);
  },
});

/** What the reference device offers, VIRTIO_F_IN_ORDER taken out (so the out-of-order device may reorder). */
function offeredWithoutInOrder(fn: DeviceFunction): bigint {
  return (fn.features | REFERENCE_CORE_FEATURES) & ~bit(F.IN_ORDER);
}

/** The reference core without IN_ORDER on offer: the verdicts the out-of-order device is held to. */
class NoInOrderCore extends DeviceCore {
  constructor(fn: DeviceFunction, opts: DeviceOptions) {
    super(fn, { ...opts, knobs: { ...opts.knobs, offered: offeredWithoutInOrder(fn) } });
  }
}

/** The reference core with {@link DeviceKnobs.outOfOrder} set and no IN_ORDER on offer: every batch runs last to first. */
class OutOfOrderCore extends DeviceCore {
  constructor(fn: DeviceFunction, opts: DeviceOptions) {
    super(fn, { ...opts, knobs: { ...opts.knobs, outOfOrder: true, offered: offeredWithoutInOrder(fn) } });
  }
}

for (const type of ["rng", "blk"] as const) {
  Deno.test(`an out-of-order ${type} device (batches run last to first, no IN_ORDER) gets the reference verdicts`, async () => {
    const unusual = await runTarget(
      referenceDeviceTarget(type, { core: OutOfOrderCore }, `out-of-order-${type}`),
      CLAUSES,
      every,
    );
    const reference = await runTarget(referenceDeviceTarget(type, { core: NoInOrderCore }), CLAUSES, every);
    // Judged, not skipped: most clauses passed (the device reversed hundreds of batches of two or more on the way).
    assert(unusual.filter((r) => r.verdict === "pass").length > 100, "too few passes to mean much");
    const want = new Map(reference.map((r) => [`${r.clause} ${r.transport}`, r.verdict]));
    assertEquals(
      unusual.filter((r) => r.verdict !== want.get(`${r.clause} ${r.transport}`)).map((r) =>
        `${r.clause} ${r.transport}: ${r.verdict} (reference ${want.get(`${r.clause} ${r.transport}`)}): ${r.message}`
      ),
      [],
    );
  });
}

Deno.test("a blk device running each batch last to first passes the arrangement clause (a sector written twice)", async () => {
  // Batches of these seeds write one sector twice and read it back later: either content is right.
  const clause = CLAUSES.filter((c) =>
    c.label === "devicenormative:Basic Facilities of a Virtio Device / Message Framing" && c.statement === 1
  );
  for (const seed of [2, 6, 8]) {
    const results = await runTarget(
      referenceDeviceTarget("blk", { core: OutOfOrderCore }, "out-of-order-blk"),
      clause,
      { seed, runs: 50, strict: false, targetArg: "test", transport: "mmio" },
    );
    assertEquals(results.map((r) => [seed, r.verdict, r.message]), [[seed, "pass", ""]]);
  }
});
