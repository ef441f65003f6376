/**
 * Test support: the adapter contract test kit for driver targets (the device
 * targets' kit is `harness/adapters/contract_kit.ts`). An adapter's test calls
 * {@link checkDriverTargetContract} with one of its driver targets; the kit
 * presents the harness's reference device on every transport and device type
 * the driver lists and the harness can present, runs the probe, one workload of
 * every kind the driver declares for that type and the removal, each under the
 * runner's deadlines (a queue reset not on legacy MMIO, which cannot offer it), and returns each broken promise as a
 * sentence (a driver
 * that does not bind, a declared workload that fails, a call that hangs or
 * throws). A watched target must refuse `attach`.
 *
 * @module
 */
import { ADAPTER_CONTRACT_VERSION, type DriverTarget, TargetError, type Workload } from "../adapter.ts";
import type { DeviceTypeName, TransportKind } from "../features.ts";
import { ScenarioRunner } from "./harness_device.ts";

/** The device types and transports the harness presents to a driver under test. */
const PRESENTED_TYPES: readonly DeviceTypeName[] = ["rng", "blk"];
const PRESENTED_TRANSPORTS: readonly TransportKind[] = ["mmio", "mmio-legacy", "pci"];

/** One workload of `kind` for a device of `type` (undefined: the kind is not one for that type). */
function workloadOf(kind: Workload["kind"], type: DeviceTypeName): Workload | undefined {
  switch (kind) {
    case "rng-read":
      return type === "rng" ? { kind, bytes: 16 } : undefined;
    case "blk-read":
      return type === "blk" ? { kind, sector: 0, sectors: 1 } : undefined;
    case "blk-write":
      return type === "blk" ? { kind, sector: 1, data: new Uint8Array(512).fill(0x5a) } : undefined;
    case "blk-capacity":
    case "blk-flush":
    case "blk-get-id":
      return type === "blk" ? { kind } : undefined;
    case "blk-discard":
    case "blk-write-zeroes":
    case "blk-secure-erase":
    case "blk-zone":
    case "blk-zone-report":
    case "blk-zone-append":
      // The plain harness device does not offer these features: the driver is expected to refuse them cleanly.
      return undefined;
    case "queue-reset":
      return { kind, queue: 0 };
    case "suspend":
      return { kind };
    case "console-write":
      return type === "console" ? { kind, data: new TextEncoder().encode("hello\n") } : undefined;
    case "net-send":
      return type === "net" ? { kind, frame: new Uint8Array(60).fill(0xff, 0, 6) } : undefined;
    case "net-receive":
      return type === "net" ? { kind } : undefined;
    case "net-coalesce":
      return type === "net" ? { kind, usecs: 16, packets: 4 } : undefined;
    case "net-stats":
      return type === "net" ? { kind, queue: 0 } : undefined;
    case "net-rss":
      return type === "net" ? { kind, contexts: 1 } : undefined;
    case "net-offloads":
      return type === "net" ? { kind, offloads: [1] } : undefined;
    case "net-hash-tunnel":
      return type === "net" ? { kind, types: 0x1ff } : undefined;
    case "net-flow-filter":
    case "net-ipsec":
      return type === "net" ? { kind } : undefined;
  }
}

const message = (e: unknown) => (e instanceof Error ? `${e.name}: ${e.message}` : String(e));

/**
 * Checks a driver target against the adapter contract; the broken promises, one sentence each (none: it keeps them
 * all).
 *
 * @example
 * ```ts ignore
 * const problems = await checkDriverTargetContract(await referenceDriver("reference-driver"));
 * console.log(problems); // []
 * ```
 */
export async function checkDriverTargetContract(target: DriverTarget, deadlineMs = 2000): Promise<string[]> {
  const problems: string[] = [];
  const info = target.info;
  if (info.contractVersion !== ADAPTER_CONTRACT_VERSION) {
    problems.push(`info.contractVersion is ${info.contractVersion}, not ${ADAPTER_CONTRACT_VERSION}`);
  }
  if (typeof info.name !== "string" || info.name.trim() === "") problems.push("info.name is empty");
  if (info.transports.length === 0) problems.push("info.transports is empty");
  if (info.deviceTypes.length === 0) problems.push("info.deviceTypes is empty");
  if (target.watch) {
    try {
      await target.attach(undefined as never);
      problems.push("a watched target accepted attach()");
    } catch (e) {
      if (!(e instanceof TargetError)) problems.push(`a watched target refused attach() with ${message(e)}`);
    }
    return problems;
  }
  for (const type of info.deviceTypes.filter((t) => PRESENTED_TYPES.includes(t))) {
    for (const transport of info.transports.filter((t) => PRESENTED_TRANSPORTS.includes(t))) {
      // A queue reset needs VIRTIO_F_RING_RESET, a suspend VIRTIO_F_SUSPEND: the legacy interface offers neither.
      const workloads = info.workloads
        .filter((k) => !((k === "queue-reset" || k === "suspend") && transport === "mmio-legacy"))
        .flatMap((k) => workloadOf(k, type) ?? []);
      const where = `${type} over ${transport}`;
      try {
        const t = await new ScenarioRunner(target, type, deadlineMs, transport).run({ workloads });
        if (!t.probe.bound) {
          problems.push(`${where}: the driver did not bind: ${t.probe.error ?? "no reason given"}`);
          continue;
        }
        if (t.results.length !== workloads.length) {
          problems.push(`${where}: ${workloads.length} workloads asked, ${t.results.length} results`);
        }
        for (const [i, r] of t.results.entries()) {
          if (!r.ok) problems.push(`${where}: declared workload ${workloads[i]!.kind} failed: ${r.error}`);
        }
      } catch (e) {
        problems.push(`${where}: ${message(e)}`);
      }
    }
  }
  return problems;
}
