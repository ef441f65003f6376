import { assertEquals } from "@std/assert";
import { DeviceCore, type DeviceKnobs, type DeviceOptions } from "../models/device/core.ts";
import type { DeviceFunction } from "../models/device/device_function.ts";
import { referenceDeviceTarget } from "../models/device/reference.ts";
import { openDriverTransport } from "../transport/open.ts";
import { HarnessDriver } from "./harness_driver.ts";

/** A reference core with `knobs` set, for a device that breaks or holds its requests. */
function coreWith(knobs: DeviceKnobs) {
  return class extends DeviceCore {
    constructor(fn: DeviceFunction, opts: DeviceOptions) {
      super(fn, { ...opts, knobs: { ...opts.knobs, ...knobs } });
    }
  };
}

/** Makes one rng request and waits for it; returns what was used and how many times the device was let run. */
async function waitOne(knobs: DeviceKnobs): Promise<{ used: number; steps: number }> {
  const session = await referenceDeviceTarget("rng", { core: coreWith(knobs) }).open("mmio");
  try {
    let steps = 0;
    const settle = session.settle.bind(session);
    session.settle = (ms, until) => {
      steps++;
      return settle(ms, until);
    };
    const driver = new HarnessDriver(session, await openDriverTransport(session), "rng");
    await driver.init("driver-ok");
    await driver.sampleRequest(0);
    await driver.kick(0);
    steps = 0;
    const used = await driver.waitUsed(0, 1);
    return { used: used.length, steps };
  } finally {
    await session.close();
  }
}

Deno.test("harness driver: a wait for a request ends once the device reads DEVICE_NEEDS_RESET", async () => {
  const broken = await waitOne({ needsResetOnRequest: true });
  assertEquals(broken, { used: 0, steps: 1 });
  // A device that only holds the request (no error state) is given the whole deadline, step by step.
  const held = await waitOne({ holdRequests: true });
  assertEquals(held, { used: 0, steps: 2000 / 50 });
});
