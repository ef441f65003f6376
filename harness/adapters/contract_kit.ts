/**
 * Test support: the adapter contract test kit. An adapter's test calls
 * {@link checkDeviceTargetContract} with one of its device targets; the kit
 * opens it on every transport it lists and checks what the contract promises
 * (identity and version, every listed transport opens and an unlisted one is
 * refused, capabilities backed by the methods they name, `settle` returning,
 * `restart` leaving a device reset, `close` safe to call twice) and returns
 * each broken promise as a sentence. Every step has a deadline: a target that
 * hangs gives a problem, not a hung test.
 *
 * @module
 */
import { ADAPTER_CONTRACT_VERSION, type DeviceSession, type DeviceTarget } from "../adapter.ts";
import { callWithDeadline } from "../deadline.ts";
import { deviceTypeOfId, type TransportKind } from "../features.ts";
import { Status } from "../status.ts";
import { openDriverTransport } from "../transport/open.ts";

/** How long one step of the kit may take before it counts as a hang (ms). */
export const KIT_STEP_MS = 20_000;

const message = (e: unknown) => (e instanceof Error ? `${e.name}: ${e.message}` : String(e));

/**
 * Checks a device target against the adapter contract; the broken promises, one sentence each (none: it keeps
 * them all). Opens and closes sessions of its own; nothing is left open.
 *
 * @example
 * ```ts ignore
 * import { referenceDeviceTarget } from "../models/device/reference.ts";
 * const problems = await checkDeviceTargetContract(referenceDeviceTarget("rng"));
 * console.log(problems); // []
 * ```
 */
export async function checkDeviceTargetContract(target: DeviceTarget, stepMs = KIT_STEP_MS): Promise<string[]> {
  const problems: string[] = [];
  const info = target.info;
  if (info.contractVersion !== ADAPTER_CONTRACT_VERSION) {
    problems.push(`info.contractVersion is ${info.contractVersion}, not ${ADAPTER_CONTRACT_VERSION}`);
  }
  if (typeof info.name !== "string" || info.name.trim() === "") problems.push("info.name is empty");
  const transports = info.transports ?? [info.transport];
  if (!transports.includes(info.transport)) {
    problems.push(`info.transports (${transports.join(", ")}) leaves out info.transport ${info.transport}`);
  }
  for (const t of transports) problems.push(...await checkTransport(target, t, stepMs));
  const unlisted = (["mmio", "mmio-legacy", "pci"] as TransportKind[]).find((t) => !transports.includes(t));
  if (unlisted) {
    try {
      const s = await callWithDeadline(() => target.open(unlisted), stepMs, `open(${unlisted})`);
      problems.push(`open("${unlisted}") gave a session although info.transports does not list ${unlisted}`);
      await s.close().catch(() => {});
    } catch (e) {
      if (e instanceof Error && e.name === "DeadlineExceeded") {
        problems.push(`open("${unlisted}") neither refused nor answered in time`);
      }
    }
  }
  return problems;
}

async function checkTransport(target: DeviceTarget, t: TransportKind, stepMs: number): Promise<string[]> {
  const problems: string[] = [];
  const step = <T>(what: string, f: () => Promise<T>) => callWithDeadline(f, stepMs, `${what} on ${t}`);
  let session: DeviceSession;
  try {
    session = await step(`open(${t})`, () => target.open(t));
  } catch (e) {
    return [`open("${t}") failed although info.transports lists it: ${message(e)}`];
  }
  try {
    if (session.transport !== t) problems.push(`open("${t}") gave a session on ${session.transport}`);
    if (session.info.name !== target.info.name) {
      problems.push(`the ${t} session is named ${session.info.name}, the target ${target.info.name}`);
    }
    const caps = session.capabilities;
    if (caps.memoryTrace && typeof session.takeMemoryTrace !== "function") {
      problems.push(`the ${t} session claims memoryTrace without takeMemoryTrace`);
    }
    if (caps.configChange && typeof session.triggerConfigChange !== "function") {
      problems.push(`the ${t} session claims configChange without triggerConfigChange`);
    }
    if (t === "pci" && !session.pci) problems.push("the pci session gives no access to the PCI function");
    const transport = await step("opening the driver side", () => openDriverTransport(session));
    const id = await step("identify", () => transport.identify());
    const type = session.info.deviceType ?? target.info.deviceType;
    if (!id.valid) problems.push(`on ${t} the device does not identify as virtio: ${id.reason ?? "no reason"}`);
    else if (type && deviceTypeOfId(id.deviceId) !== type) {
      problems.push(`on ${t} the device ID is ${id.deviceId}, but info says ${type}`);
    }
    await step("settle", () => session.settle(10, () => Promise.resolve(true)));
    await step("settle", () => session.settle(10));
    await step("setStatus", () => transport.setStatus(Status.ACKNOWLEDGE));
    await step("restart", () => session.restart());
    // A restart may clear what the driver side set up (PCI BARs): open it again.
    const again = await step("opening the driver side after restart", () => openDriverTransport(session));
    const status = await step("getStatus", () => again.getStatus());
    if (status !== 0) problems.push(`after restart() on ${t} the device status reads 0x${status.toString(16)}, not 0`);
  } catch (e) {
    problems.push(`on ${t}: ${message(e)}`);
  }
  for (const n of [1, 2]) {
    try {
      await step(`close (call ${n})`, () => session.close());
    } catch (e) {
      problems.push(`close() call ${n} on ${t} failed: ${message(e)}`);
    }
  }
  return problems;
}

/**
 * A session that forwards everything to `s` but what `overrides` replaces: how a kit test (or an adapter's own test)
 * builds a target that breaks one promise. A session object cannot be spread (its class keeps private state).
 *
 * @example
 * ```ts ignore
 * const stubborn = sessionWith(s, { restart: () => Promise.reject(new TargetError("no")) });
 * ```
 */
export function sessionWith(s: DeviceSession, overrides: Partial<DeviceSession>): DeviceSession {
  return {
    info: s.info,
    capabilities: s.capabilities,
    transport: s.transport,
    registers: s.registers,
    pci: s.pci,
    memory: s.memory,
    interruptLevel: () => s.interruptLevel(),
    settle: (ms, until) => s.settle(ms, until),
    ...(s.takeMemoryTrace ? { takeMemoryTrace: () => s.takeMemoryTrace!() } : {}),
    ...(s.triggerConfigChange ? { triggerConfigChange: () => s.triggerConfigChange!() } : {}),
    restart: () => s.restart(),
    close: () => s.close(),
    ...overrides,
  };
}
