/**
 * A conformance test suite for virtio implementations (spec v1.4-cs01): the public API.
 *
 * What a **target author** needs: the adapter contract (the {@link DeviceTarget} and {@link DriverTarget}
 * interfaces any implementation is driven through, and their versioned types), the in-process factories a
 * TypeScript device or driver is written against, and the reference models to wrap or compare with. What a
 * **clause author** needs: {@link defineDeviceClause} and {@link defineDriverClause}, the verifiers that turn a
 * check into a verdict, {@link checkProperty} for property-based checks, and {@link runTarget} with the
 * result types to run clauses on a target. {@link CLAUSES} is the suite itself.
 *
 * Everything not exported here is internal and may change between versions.
 *
 * @example Run the whole suite on the reference rng device
 * ```ts ignore
 * import { CLAUSES, InProcessDeviceTarget, referenceDevice, runTarget, summarize } from "./mod.ts";
 *
 * const target = new InProcessDeviceTarget("my-rng", "rng", referenceDevice("rng"), ["mmio"]);
 * const results = await runTarget(target, CLAUSES, { seed: 0x5eed, runs: 10, strict: false, targetArg: "my-rng" });
 * console.log(summarize(results));
 * ```
 *
 * @module
 */

// The adapter contract.
export {
  type AccessSpace,
  ADAPTER_CONTRACT_VERSION,
  type BlockRequestStep,
  type Capabilities,
  type Capability,
  DeviceCrashed,
  type DeviceSession,
  type DeviceTarget,
  type DeviceTargetInfo,
  type DeviceVariation,
  type DeviceVariationKind,
  type DriverPhase,
  type DriverSession,
  type DriverTarget,
  type DriverTargetInfo,
  type HarnessDeviceEndpoint,
  type NetWire,
  type PciFunctionAccess,
  type ProbeResult,
  type RingAccessStep,
  type RingWatchStep,
  type Target,
  TargetError,
  type WatchedRun,
  type WatchedStep,
  type WatchRequest,
  type Workload,
  type WorkloadResult,
} from "./harness/adapter.ts";
export type { DeviceTypeName, TransportKind } from "./harness/features.ts";
export { type Clock, type ClockTimer, realClock, VirtualClock, type VirtualClockOptions } from "./harness/clock.ts";
export { ArrayMemory, type GuestMemory, MemoryAccessError } from "./harness/memory.ts";
export type { RegisterSpace, Width } from "./harness/registers.ts";

// In-process targets and the reference models.
export {
  IN_PROCESS_RAM,
  type InProcessDevice,
  type InProcessDeviceFactory,
  InProcessDeviceTarget,
  type InProcessDriverFactory,
  InProcessDriverTarget,
} from "./harness/adapters/in_process.ts";
export { referenceDevice } from "./harness/models/device/reference.ts";
export { REFERENCE_DRIVER_WORKLOADS, referenceDriverSession } from "./harness/models/driver/driver.ts";

// Verifiers: how a check becomes a verdict.
export {
  expectEqual,
  expectNone,
  expectThat,
  NotApplicable,
  notApplicable,
  Violation,
  violation,
} from "./harness/verify.ts";

// Running clauses and their results.
export { type RunOptions, runTarget } from "./harness/core/runner.ts";
export {
  type ClauseResult,
  type CoverageRow,
  type RunMeta,
  type RunReport,
  summarize,
  type Verdict,
  VERDICTS,
  type WaiverEntry,
} from "./harness/core/result.ts";
export { CLAUSES } from "./suites/mod.ts";
export type { Applicability, Clause, ClauseCommon, DeviceClause, DriverClause } from "./harness/core/clause.ts";
export { clauseId, clauseKey } from "./harness/core/clause.ts";
export type { Level, Role } from "./harness/spec_data.ts";
