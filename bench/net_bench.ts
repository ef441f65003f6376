/**
 * `deno task bench` (network part): frames per second through a net device
 * the harness drives, each group with a baseline from the same run:
 *
 * - reference models: 32 frames received and 32 transmitted through the
 *   reference net device (in-process, its wire the harness's) vs the
 *   baseline, 64 requests served by the reference rng device, both driven by
 *   the harness's driver on MMIO;
 * - QEMU: the same 64 frames through QEMU's virtio-net (qemu-net-pci, its
 *   link a socket the harness owns), QEMU start included, vs the baseline,
 *   one QEMU start of the same target and its shutdown. Skipped when
 *   qemu-system-x86_64 is missing.
 *
 * Frames per second are 64 over the time of one iteration.
 *
 * @module
 */
import type { DeviceSession, DeviceTarget } from "../harness/adapter.ts";
import { installed } from "../harness/adapters/qemu/qemu_process.ts";
import { loadTarget } from "../harness/cli/target_file.ts";
import type { DeviceClauseContext } from "../harness/core/clause.ts";
import { referenceDeviceTarget } from "../harness/models/device/reference.ts";
import { HarnessDriver } from "../harness/roles/harness_driver.ts";
import { openDriverTransport } from "../harness/transport/open.ts";
import { giveReceiveBuffers, netUp, receiveFrames, testFrame, transmitFrames } from "../suites/net/net_io.ts";

const FRAMES = 32;

/** A device-clause context over `session` (what the net helpers need). */
async function contextOf(session: DeviceSession): Promise<DeviceClauseContext> {
  const transport = await openDriverTransport(session);
  const driver = new HarnessDriver(session, transport, "net");
  const offered = await transport.readDeviceFeatures();
  return { session, transport, driver, deviceType: "net", offered } as unknown as DeviceClauseContext;
}

/** Receives and transmits {@link FRAMES} frames each way; throws when one went missing. */
async function frames(ctx: DeviceClauseContext): Promise<void> {
  const link = await netUp(ctx, []);
  await giveReceiveBuffers(ctx, link, Array.from({ length: FRAMES }, () => ({ capacity: 1526, pieces: 1 })));
  const rx = await receiveFrames(
    ctx,
    link,
    Array.from({ length: FRAMES }, (_, i) => testFrame(link.mac, 128, i)),
    FRAMES,
  );
  const tx = await transmitFrames(
    ctx,
    link,
    Array.from(
      { length: FRAMES },
      (_, i) => ({ header: {}, frame: testFrame([0xff, 0xff, 0xff, 0xff, 0xff, 0xff], 128, i) }),
    ),
  );
  if (rx.length !== FRAMES || tx.length !== FRAMES) {
    throw new Error(`net bench: ${rx.length} frames received and ${tx.length} sent, ${FRAMES} each expected`);
  }
}

Deno.bench({
  name: `reference rng: ${2 * FRAMES} requests served`,
  group: "net frames, reference models",
  baseline: true,
  async fn() {
    const session = await referenceDeviceTarget("rng").open("mmio");
    const transport = await openDriverTransport(session);
    const driver = new HarnessDriver(session, transport, "rng");
    await driver.init("driver-ok");
    for (let i = 0; i < 2 * FRAMES; i++) {
      await driver.sampleRequest(0);
      await driver.kick(0);
      if ((await driver.waitUsed(0, 1)).length !== 1) throw new Error("net bench: an rng request was not served");
    }
    await session.close();
  },
});

Deno.bench({
  name: `reference net: ${FRAMES} frames received, ${FRAMES} transmitted`,
  group: "net frames, reference models",
  async fn() {
    const session = await referenceDeviceTarget("net").open("mmio");
    await frames(await contextOf(session));
    await session.close();
  },
});

const X86 = "qemu-system-x86_64";
const haveQemu = await installed(X86);
if (!haveQemu) console.warn(`net bench: the QEMU group is skipped, ${X86} is not installed`);

async function qemuNet(): Promise<DeviceTarget> {
  const loaded = await loadTarget(new URL("../fixtures/targets/qemu-net-pci.jsonc", import.meta.url).pathname);
  return loaded.target as DeviceTarget;
}

Deno.bench({
  name: "QEMU virtio-net: start and shut down",
  group: "net frames, QEMU",
  baseline: true,
  ignore: !haveQemu,
  async fn() {
    const session = await (await qemuNet()).open();
    await session.close();
  },
});

Deno.bench({
  name: `QEMU virtio-net: start, ${FRAMES} frames received, ${FRAMES} transmitted`,
  group: "net frames, QEMU",
  ignore: !haveQemu,
  async fn() {
    const session = await (await qemuNet()).open();
    try {
      await frames(await contextOf(session));
    } finally {
      await session.close();
    }
  },
});
