/**
 * A watched driver target that replays a recorded run (a fixture of the
 * `qemu-guest` adapter, or a mutant of one): the driver clauses judge it as
 * they judge the live guest, with no QEMU.
 *
 * @module
 */
import {
  ADAPTER_CONTRACT_VERSION,
  type DriverSession,
  type DriverTarget,
  type DriverTargetInfo,
  TargetError,
  type WatchedRun,
  type WatchedStep,
} from "../../adapter.ts";
import type { DeviceTypeName, TransportKind } from "../../features.ts";

/** A recorded run as stored in `fixtures/watched/*.json`. */
export interface RecordedRun {
  transport: TransportKind;
  deviceType: DeviceTypeName;
  run: WatchedRun;
}

const KINDS = new Set(["read", "write", "irq", "phase", "memory", "ring-watch", "ring", "blk-request"]);

/** Reads and checks a recorded run; throws a one-sentence error naming the file when it is malformed. */
export async function loadRecordedRun(path: string): Promise<RecordedRun> {
  let data: unknown;
  try {
    data = JSON.parse(await Deno.readTextFile(path));
  } catch (e) {
    throw new Error(`Cannot read the recorded run ${path}: ${e instanceof Error ? e.message : e}`);
  }
  const r = data as RecordedRun;
  const steps = r?.run?.steps;
  if (!Array.isArray(steps) || !r.transport || !r.deviceType || typeof r.run.probe?.bound !== "boolean") {
    throw new Error(`The recorded run ${path} lacks transport, deviceType, run.probe or run.steps`);
  }
  const bad = steps.findIndex((s: WatchedStep) => !s || !KINDS.has(s.kind));
  if (bad >= 0) throw new Error(`The recorded run ${path} has an unknown step at index ${bad}`);
  return r;
}

/**
 * A watched target whose every run is `recorded`.
 *
 * @example
 * ```ts ignore
 * const t = recordedTarget("uboot-recorded", await loadRecordedRun("fixtures/watched/uboot-blk-mmio.json"));
 * const results = await runTarget(t, CLAUSES, { seed: 1, runs: 5, strict: true, targetArg: "x" });
 * ```
 */
export function recordedTarget(name: string, recorded: RecordedRun): DriverTarget {
  const info: DriverTargetInfo = {
    name,
    adapter: "qemu-guest",
    contractVersion: ADAPTER_CONTRACT_VERSION,
    transports: [recorded.transport],
    deviceTypes: [recorded.deviceType],
    workloads: [],
  };
  return {
    role: "driver",
    info,
    attach(): Promise<DriverSession> {
      return Promise.reject(new TargetError(`${name} is a recorded run: it is watched, not attached`));
    },
    watch(): Promise<WatchedRun> {
      return Promise.resolve(structuredClone(recorded.run));
    },
  };
}
