import { assertEquals, assertRejects } from "@std/assert";
import {
  ADAPTER_CONTRACT_VERSION,
  type DeviceVariation,
  type DeviceVariationKind,
  type DriverTarget,
  type WatchedRun,
  type WatchedStep,
  type WatchRequest,
} from "../adapter.ts";
import { NotApplicable } from "../verify.ts";
import { Status } from "../status.ts";
import { CommonCfg } from "../transport/pci_layout.ts";
import { Mmio } from "../transport/mmio_layout.ts";
import { accesses } from "./trace.ts";
import { offeredInRun, traceOfWatchedRun, WatchedScenarioRunner } from "./watched_trace.ts";

const run = (steps: WatchedStep[]): WatchedRun => ({ steps, probe: { bound: true }, results: [], console: "" });
const mmio = (kind: "read" | "write", offset: number, value: number): WatchedStep => ({
  kind,
  space: "mmio",
  offset,
  width: 4,
  value,
});
const common = (kind: "read" | "write", offset: number, value: number, width: 1 | 2 | 4): WatchedStep => ({
  kind,
  space: "common",
  offset,
  width,
  value,
});

Deno.test("watched PCI run: 8- and 16-bit common configuration writes move the shadow's status and queue state", async () => {
  const t = await traceOfWatchedRun(
    run([
      common("write", CommonCfg.device_status, 0, 1),
      common("write", CommonCfg.device_status, Status.ACKNOWLEDGE | Status.DRIVER, 1),
      common("write", CommonCfg.device_feature_select, 1, 4),
      common("read", CommonCfg.device_feature, 1, 4),
      common("write", CommonCfg.driver_feature_select, 1, 4),
      common("write", CommonCfg.driver_feature, 1, 4),
      common("write", CommonCfg.device_status, 0xb, 1),
      common("read", CommonCfg.device_status, 0xb, 1),
      common("write", CommonCfg.queue_select, 0, 2),
      common("write", CommonCfg.queue_size, 8, 2),
      common("write", CommonCfg.queue_enable, 1, 2),
      common("write", CommonCfg.device_status, 0xf, 1),
      { kind: "write", space: "notify", offset: 0, width: 2, value: 0 },
    ]),
    "blk",
    "pci",
  );
  const acc = accesses(t);
  const notify = acc.at(-1)!;
  assertEquals(notify.offset, Mmio.QueueNotify);
  assertEquals(notify.status, 0xf);
  assertEquals(notify.queueReady, true);
  assertEquals(t.offered, 1n << 32n);
});

Deno.test("watched MMIO run: FEATURES_OK kept only when the real device's next status read showed it", async () => {
  const steps = (shown: number) =>
    run([
      mmio("write", Mmio.Status, 0),
      mmio("write", Mmio.Status, 3),
      mmio("write", Mmio.Status, 0xb),
      mmio("read", Mmio.Status, shown),
      mmio("write", Mmio.QueueSel, 0),
    ]);
  const kept = accesses(await traceOfWatchedRun(steps(0xb), "blk", "mmio")).at(-1)!;
  assertEquals(kept.status, 0xb);
  const refused = accesses(await traceOfWatchedRun(steps(0x3), "blk", "mmio")).at(-1)!;
  assertEquals(refused.status, 0x3);
});

Deno.test("offeredInRun: the feature words the driver read, through the select register", () => {
  const r = run([
    mmio("write", Mmio.DeviceFeaturesSel, 1),
    mmio("read", Mmio.DeviceFeatures, 0x101),
    mmio("write", Mmio.DeviceFeaturesSel, 0),
    mmio("read", Mmio.DeviceFeatures, 0x30006e54),
  ]);
  assertEquals(offeredInRun(r, "mmio"), 0x101_3000_6e54n);
});

Deno.test("WatchedScenarioRunner: a PCI layout the target can give is one more watched run, once per variation", async () => {
  const asked: (DeviceVariation | undefined)[] = [];
  const target = (variations: DeviceVariationKind[]): DriverTarget => ({
    role: "driver",
    info: {
      name: "w",
      adapter: "test",
      contractVersion: ADAPTER_CONTRACT_VERSION,
      transports: ["pci"],
      deviceTypes: ["blk"],
      workloads: [],
      variations,
    },
    attach: () => Promise.reject(new Error("watched")),
    watch: (request: WatchRequest) => {
      asked.push(request.variation);
      if (request.variation) assertEquals(request.ringAccesses, false);
      return Promise.resolve(run([]));
    },
  });
  const scenarios = new WatchedScenarioRunner(target(["transitional", "msix-vectors"]), "blk", "pci");
  await scenarios.baseline();
  await scenarios.run({ pciLayout: { transitional: true } });
  await scenarios.run({ pciLayout: { msix: 2 } });
  await scenarios.run({ pciLayout: { msix: false } });
  await scenarios.forClause(new AbortController().signal).run({ pciLayout: { msix: 2 } });
  assertEquals(asked, [undefined, { transitional: true }, { msixVectors: 2 }, { msixVectors: 0 }]);
  // A read-only disk only from a target that lists it.
  await assertRejects(() => scenarios.run({ blkReadOnly: true }), NotApplicable, "a read-only disk");
  await new WatchedScenarioRunner(target(["read-only"]), "blk", "pci").run({ blkReadOnly: true });
  assertEquals(asked.at(-1), { readOnly: true });
  asked.pop();
  // Anything else about the layout, or a layout with device knobs, stays out of reach.
  await assertRejects(() => scenarios.run({ pciLayout: { msix: 2, capLenExtra: 4 } }), NotApplicable);
  await assertRejects(() => scenarios.run({ pciLayout: { msix: 2 }, knobs: { offered: 1n } }), NotApplicable);
  const fixed = new WatchedScenarioRunner(target([]), "blk", "pci");
  await assertRejects(() => fixed.run({ pciLayout: { transitional: true } }), NotApplicable, "another PCI layout");
  assertEquals(asked.length, 4);
});
