/**
 * Model-based tests of the split and packed ring codecs against the abstract
 * virtqueue of `abstract_queue.ts`: random command sequences (driver add,
 * publish, kick decision, harvest, used-notification settings; device take,
 * use, notification decision, notification settings; queue reset) run on a
 * driver/device pair over one guest memory and on the model, every answer
 * compared; plus a memory guard (what each side writes), interleavings of a
 * driver and a device task at the granularity of single memory accesses
 * (`fc.scheduler`), a 16-bit index wrap of the split ring, and the scripted
 * regressions in `fixtures/regressions/`.
 *
 * A failure prints the minimal command list (as a fixture ready to save in
 * `fixtures/regressions/`), the seed, the shrink path and the replay command,
 * which is:
 *
 * ```sh
 * VIRTIO_SEED=<seed> VIRTIO_PATH=<path> VIRTIO_CMDS='<replayPath>' deno test --allow-read=. --allow-env harness/virtqueue/queue_model_test.ts --filter "<test name>"
 * ```
 *
 * (`VIRTIO_CMDS` is fast-check's replay path of the command list, the `replayPath` comment of the report; only the
 * model runs need it.)
 *
 * `VIRTIO_SEED` alone runs the properties with another seed; `VIRTIO_RUNS`
 * scales the number of runs (e.g. `VIRTIO_RUNS=2000` for a long search).
 * Without `--allow-env` (as under `deno task test`) the default seed is used.
 *
 * @module
 */
import fc from "fast-check";
import { assert, assertEquals } from "@std/assert";
import { ArrayMemory, BumpAllocator, type GuestMemory, TracedMemory } from "../memory.ts";
import { AbstractVirtqueue, type NotifyRequest, packedPosition, type Suppression } from "./abstract_queue.ts";
import { PackedDeviceQueue } from "./packed.ts";
import {
  type BufferSpec,
  decodeNotificationData,
  type DeviceQueue,
  type DriverQueue,
  type RingFeatures,
  type RingFormat,
  type UsedElem,
} from "./queue.ts";
import { createDeviceQueue, createDriverQueue } from "./rings.ts";
import { SplitDeviceQueue } from "./split.ts";
import { featuresArb } from "./ring_fuzz_support.ts";

// ---------------------------------------------------------------------------------------------------------------------
// Known codec deviations (each has an expected-failure fixture in fixtures/regressions/). While one is open, the random
// properties do not generate the case (or do not check the field), so they stay green; the fixture turns red the day
// the codec is fixed, as a reminder to flip the switch here.

/**
 * Split ring, VIRTIO_F_IN_ORDER, one used element for a batch: spec 2.7.9 has the device move the used idx by the
 * batch size; SplitDeviceQueue.pushUsed moves it by 1 and SplitDriverQueue.harvest reads one element per idx step.
 * Fixture: split_in_order_batch_used_idx.json.
 */
const SPLIT_IN_ORDER_BATCH_FIXED = true;
/**
 * Split ring, indirect chain: AvailBuffer.slots is documented as the ring descriptors the buffer occupies (an indirect
 * table counts as one); SplitDeviceQueue.take reports the number of buffers in the chain. Fixture:
 * split_indirect_slots.json.
 */
const SPLIT_INDIRECT_SLOTS_FIXED = true;

// ---------------------------------------------------------------------------------------------------------------------
// Settings: seed, runs, replay path.

function envVar(name: string): string | undefined {
  try {
    return Deno.permissions.querySync({ name: "env", variable: name }).state === "granted"
      ? Deno.env.get(name)
      : undefined;
  } catch {
    return undefined;
  }
}

const DEFAULT_SEED = 0x5eed;
const SEED = (() => {
  const v = envVar("VIRTIO_SEED");
  if (v === undefined || v === "") return DEFAULT_SEED;
  const n = Number(v);
  if (!Number.isInteger(n)) throw new Error(`VIRTIO_SEED=${v} is not an integer`);
  return n | 0;
})();
const REPLAY_PATH = envVar("VIRTIO_PATH");
/** fast-check's replay path of a command list (the replayPath comment in a report), needed to replay model runs. */
const COMMANDS_PATH = envVar("VIRTIO_CMDS");
const replayable = COMMANDS_PATH ? { replayPath: COMMANDS_PATH } : {};
const RUNS_SCALE = (() => {
  const v = Number(envVar("VIRTIO_RUNS") ?? "");
  return Number.isFinite(v) && v > 0 ? v / 100 : 1;
})();
const THIS_FILE = "harness/virtqueue/queue_model_test.ts";

function replayCommand(test: string, seed: number, path: string, commandsPath: string | undefined): string {
  const cmds = commandsPath === undefined ? "" : ` VIRTIO_CMDS='${commandsPath}'`;
  return `VIRTIO_SEED=${seed} VIRTIO_PATH=${path}${cmds} deno test --allow-read=. --allow-env ${THIS_FILE} --filter "${test}"`;
}

/**
 * Runs a property the way harness/core/property.ts does: fixed seed (or VIRTIO_SEED), replay path (VIRTIO_PATH), and on
 * failure an error with the minimal case, the seed, the path and the replay command.
 */
async function checkModel<T>(
  test: string,
  runs: number,
  prop: fc.IAsyncPropertyWithHooks<T>,
  describe: (value: T) => string,
): Promise<void> {
  const details = await fc.check(prop, {
    seed: SEED,
    numRuns: Math.max(1, Math.round(runs * RUNS_SCALE)),
    ...(REPLAY_PATH ? { path: REPLAY_PATH, endOnFailure: true } : {}),
  });
  if (!details.failed) return;
  const example = details.counterexample ? describe(details.counterexample as T) : "?";
  const path = details.counterexamplePath ?? "";
  const err = details.errorInstance;
  throw new Error(
    [
      `${test}: ${err instanceof Error ? err.message : String(err)}`,
      `minimal case (${details.numShrinks} shrinks): ${example}`,
      `seed ${details.seed}, path ${path}`,
      `replay: ${replayCommand(test, details.seed, path, /\/\*replayPath="([^"]*)"\*\//.exec(example)?.[1])}`,
    ].join("\n"),
    { cause: err },
  );
}

// ---------------------------------------------------------------------------------------------------------------------
// The system under test: a driver/device pair over one memory, each side seen through its own trace.

const BASE = 0x10_0000;
const MEM_SIZE = 0x4_0000;
/** Rings and indirect tables come from here. */
const POOL_END = BASE + 0x2_0000;
/** Data buffers: ARENA_SLOTS slots of ARENA_SLOT bytes, handed out round-robin (never two outstanding at once). */
const ARENA = POOL_END;
const ARENA_SLOT = 0x100;
const ARENA_SLOTS = 256;

interface Real {
  mem: ArrayMemory;
  alloc: BumpAllocator;
  /** The driver's view of memory (its writes are checked). */
  driverMem: TracedMemory;
  /** The device's view of memory (its writes are checked). */
  deviceMem: TracedMemory;
  driver: DriverQueue;
  device: DeviceQueue;
  /** Check what each side writes (off for the long wrap test). */
  guard: boolean;
}

interface Model {
  q: AbstractVirtqueue;
  /** Next arena slot. */
  arena: number;
  /** Commands run so far (JSON), for the fixture printed on failure. */
  log: CommandJson[];
  /** Completed passes of the used cursor round the ring, across resets (statistics). */
  wraps: number;
  /** A scripted replay: every check of the spec applies, known codec bugs included. */
  scripted: boolean;
}

async function freshQueues(
  mem: ArrayMemory,
  alloc: BumpAllocator,
  f: RingFeatures,
  size: number,
): Promise<Pick<Real, "driverMem" | "deviceMem" | "driver" | "device">> {
  alloc.reset();
  const driverMem = new TracedMemory(mem, 1_000);
  const deviceMem = new TracedMemory(mem, 1_000);
  const driver = await createDriverQueue(driverMem, alloc, 0, size, f);
  const device = createDeviceQueue(deviceMem, driver.addrs, f);
  driverMem.accesses.length = 0;
  return { driverMem, deviceMem, driver, device };
}

async function setup(f: RingFeatures, size: number, guard = true): Promise<{ model: Model; real: Real }> {
  const mem = new ArrayMemory(BASE, MEM_SIZE);
  const alloc = new BumpAllocator(BASE, POOL_END);
  const real = { mem, alloc, guard, ...(await freshQueues(mem, alloc, f, size)) };
  return { model: { q: new AbstractVirtqueue(f, size), arena: 0, log: [], wraps: 0, scripted: false }, real };
}

/** A disagreement between the codec and the model. */
class Mismatch extends Error {
  override name = "Mismatch";
}

function same<T>(actual: T, expected: T, what: string): void {
  try {
    assertEquals(actual, expected);
  } catch {
    throw new Mismatch(`${what}: codec gave ${fc.stringify(actual)}, the model expects ${fc.stringify(expected)}`);
  }
}

/** The three areas of the queue, as [start, length]. */
function areas(r: Real): { desc: [number, number]; driver: [number, number]; device: [number, number] } {
  const a = r.driver.addrs;
  const split = r.driver.format === "split";
  return {
    desc: [a.desc, 16 * a.size],
    driver: [a.driver, split ? 6 + 2 * a.size : 4],
    device: [a.device, split ? 6 + 8 * a.size : 4],
  };
}

function overlaps(addr: number, len: number, [start, n]: [number, number]): boolean {
  return addr < start + n && start < addr + len;
}
function within(addr: number, len: number, [start, n]: [number, number]): boolean {
  return addr >= start && addr + len <= start + n;
}

/** The driver never writes the device area (split used ring, packed device event suppression). */
function guardDriverWrites(r: Real, what: string): void {
  if (!r.guard) return;
  const device = areas(r).device;
  for (const a of r.driverMem.accesses) {
    if (a.kind === "write" && overlaps(a.addr, a.length, device)) {
      throw new Mismatch(`${what}: the driver wrote 0x${a.addr.toString(16)}+${a.length}, in the device area`);
    }
  }
  r.driverMem.accesses.length = 0;
}

function hex(n: number): string {
  return `0x${n.toString(16)}`;
}

// ---------------------------------------------------------------------------------------------------------------------
// Commands.

/** The JSON form of a command, as kept in fixtures/regressions/. */
type CommandJson =
  | { op: "add"; indirect: boolean; readable: number[]; writable: number[] }
  | { op: "publish"; pick: number }
  | { op: "kick" }
  | { op: "take" }
  | { op: "use"; pick: number; len: number }
  | { op: "notify" }
  | { op: "harvest" }
  | { op: "usedNotify"; mode: "enable" | "disable" }
  | { op: "usedNotify"; mode: "at"; ahead: number }
  | { op: "availNotify"; mode: "enable" | "disable" }
  | { op: "availNotify"; mode: "at"; ahead: number }
  | { op: "reset" };

type ModelCommand = fc.AsyncCommand<Model, Real, false>;

abstract class Base implements ModelCommand {
  constructor(readonly json: CommandJson) {}
  abstract check(m: Readonly<Model>): boolean;
  abstract exec(m: Model, r: Real): Promise<void>;
  async run(m: Model, r: Real): Promise<void> {
    m.log.push(this.json);
    try {
      await this.exec(m, r);
    } catch (e) {
      if (e instanceof Error) e.message = `${this} (command ${m.log.length}): ${e.message}`;
      throw e;
    }
  }
  toString(): string {
    return JSON.stringify(this.json);
  }
}

function request(json: { mode: "enable" | "disable" } | { mode: "at"; ahead: number }): NotifyRequest {
  return json.mode === "at" ? { kind: "at", ahead: json.ahead } : { kind: json.mode };
}

/** DriverAdd: a chain of readable then writable buffers, direct or in an indirect table. */
class DriverAdd extends Base {
  constructor(readonly spec: Extract<CommandJson, { op: "add" }>) {
    super(spec);
  }
  check(m: Readonly<Model>): boolean {
    return m.q.canAdd(this.spec.readable.length + this.spec.writable.length, this.spec.indirect);
  }
  async exec(m: Model, r: Real): Promise<void> {
    const buffers: BufferSpec[] = [];
    const place = (len: number, writable: boolean) => {
      const slot = m.arena++ % ARENA_SLOTS;
      const addr = ARENA + ARENA_SLOT * slot;
      // Readable data gets a pattern the device must leave alone.
      if (!writable) r.mem.bytes.fill((slot * 7 + 1) & 0xff, addr - BASE, addr - BASE + len);
      buffers.push({ addr, len, writable });
    };
    for (const len of this.spec.readable) place(len, false);
    for (const len of this.spec.writable) place(len, true);
    const id = await r.driver.add(buffers, { indirect: this.spec.indirect });
    m.q.add(id, buffers, this.spec.indirect);
    guardDriverWrites(r, "add");
    same(r.driver.freeCount, m.q.freeSlots, "free descriptors after add");
    same(r.driver.outstanding(), [...m.q.chains.keys()], "outstanding ids after add");
  }
}

/** DriverPublish: makes one added buffer available (any on a plain split ring, else the oldest). */
class DriverPublish extends Base {
  constructor(readonly pick: number) {
    super({ op: "publish", pick });
  }
  check(m: Readonly<Model>): boolean {
    return m.q.publishable().length > 0;
  }
  async exec(m: Model, r: Real): Promise<void> {
    const choices = m.q.publishable();
    const id = choices[this.pick % choices.length]!;
    await r.driver.publish(id);
    m.q.publish(id);
    guardDriverWrites(r, "publish");
    const nd = decodeNotificationData(r.driver.notificationData());
    const next = m.q.format === "split"
      ? { vq: 0, nextOff: m.q.availCount & 0x7fff, wrap: (m.q.availCount >> 15) & 1 }
      : (() => {
        const p = packedPosition(m.q.size, m.q.availCount);
        return { vq: 0, nextOff: p.pos, wrap: p.wrap };
      })();
    same(nd, next, "notification data after publish");
  }
}

/** DriverKickDecision: DriverQueue.needsKick() against the model. */
class DriverKickDecision extends Base {
  constructor() {
    super({ op: "kick" });
  }
  check(): boolean {
    return true;
  }
  async exec(m: Model, r: Real): Promise<void> {
    const before = fc.stringify(m.q.availSuppression);
    same(await r.driver.needsKick(), m.q.kickOwed(), `kick decision (device asked ${before})`);
    guardDriverWrites(r, "kick decision");
  }
}

/** DeviceTake: the next available buffer, chain and order as the driver made them. */
class DeviceTake extends Base {
  /** With `evenIfEmpty` false, only when something is available (keeps buffers flowing in random runs). */
  constructor(readonly evenIfEmpty = true) {
    super({ op: "take" });
  }
  check(m: Readonly<Model>): boolean {
    return this.evenIfEmpty || m.q.available.length > 0;
  }
  async exec(m: Model, r: Real): Promise<void> {
    same(await r.device.hasAvailable(), m.q.available.length > 0, "hasAvailable");
    const got = await r.device.take();
    const want = m.q.take();
    if (!want) return same(got, undefined, "take with nothing available");
    if (!got) throw new Mismatch(`take: codec found nothing, the model expects id ${want.id}`);
    same(got.id, want.id, "id of the taken buffer");
    same(got.buffers, want.buffers, `chain of id ${want.id}`);
    const checkSlots = m.q.format === "packed" || !want.indirect || SPLIT_INDIRECT_SLOTS_FIXED || m.scripted;
    if (checkSlots) same(got.slots, want.slots, `ring descriptors of id ${want.id}`);
    guardDeviceWrites(r, [], "take");
  }
}

/** Device writes must lie in `allowed`; they never touch the driver area. */
function guardDeviceWrites(r: Real, allowed: [number, number][], what: string): void {
  if (!r.guard) return;
  for (const a of r.deviceMem.accesses) {
    if (a.kind !== "write") continue;
    if (!allowed.some((area) => within(a.addr, a.length, area))) {
      throw new Mismatch(`${what}: the device wrote ${hex(a.addr)}+${a.length}, outside ${fc.stringify(allowed)}`);
    }
  }
  r.deviceMem.accesses.length = 0;
}

/** DeviceUse: uses one taken buffer (with IN_ORDER, a later one stands for the batch of every older one). */
class DeviceUse extends Base {
  constructor(readonly pick: number, readonly len: number) {
    super({ op: "use", pick, len });
  }
  check(m: Readonly<Model>): boolean {
    return m.q.taken.length > 0;
  }
  /** The buffer picked; split IN_ORDER batches stay out while the known bug is open (the oldest is used instead). */
  static pickId(m: Readonly<Model>, pick: number): number {
    const noBatch = m.q.format === "split" && m.q.features.inOrder && !SPLIT_IN_ORDER_BATCH_FIXED && !m.scripted;
    return m.q.taken[noBatch ? 0 : pick % m.q.taken.length]!;
  }
  async exec(m: Model, r: Real): Promise<void> {
    const id = DeviceUse.pickId(m, this.pick);
    const len = this.len % (m.q.writableBytes(id) + 1);
    const a = areas(r);
    const usedSlot = packedPosition(m.q.size, m.q.usedCount).pos;
    // What the device may write: the used ring (split), or the id/len/flags of one ring slot (packed).
    const allowed: [number, number] = m.q.format === "split" ? a.device : [a.desc[0] + 16 * usedSlot + 8, 8];
    const snap = (area: [number, number]) => r.mem.bytes.slice(area[0] - BASE, area[0] - BASE + area[1]);
    const before = r.guard ? { desc: snap(a.desc), driver: snap(a.driver) } : undefined;
    r.deviceMem.accesses.length = 0;
    await r.device.pushUsed(id, len);
    const batch = m.q.use(id, len);
    guardDeviceWrites(r, [allowed], `use of id ${id}`);
    if (!before) return;
    const desc = snap(a.desc);
    if (m.q.format === "packed") {
      desc.set(before.desc.subarray(16 * usedSlot + 8, 16 * usedSlot + 16), 16 * usedSlot + 8);
    }
    same(desc, before.desc, "descriptor area after use (the device changed it)");
    same(snap(a.driver), before.driver, "driver area after use (the device changed it)");
    for (const b of batch) {
      for (const buf of m.q.chains.get(b)!.buffers) {
        if (buf.writable) continue;
        const slot = (buf.addr - ARENA) / ARENA_SLOT;
        const bytes = r.mem.bytes.subarray(buf.addr - BASE, buf.addr - BASE + buf.len);
        if (bytes.some((x) => x !== ((slot * 7 + 1) & 0xff))) {
          throw new Mismatch(`use of id ${id}: device-readable buffer ${hex(buf.addr)}+${buf.len} of id ${b} changed`);
        }
      }
    }
  }
}

/** DeviceNotifyDecision: DeviceQueue.needsNotification() against the model. */
class DeviceNotifyDecision extends Base {
  constructor() {
    super({ op: "notify" });
  }
  check(): boolean {
    return true;
  }
  async exec(m: Model, r: Real): Promise<void> {
    const before = fc.stringify(m.q.usedSuppression);
    same(
      await r.device.needsNotification(),
      m.q.notifyOwed(),
      `used-buffer notification decision (driver asked ${before})`,
    );
    guardDeviceWrites(r, [], "notification decision");
  }
}

function normalize(elems: UsedElem[]): UsedElem[] {
  return elems.map((e) => (e.implied ? { id: e.id, len: e.len, implied: true } : { id: e.id, len: e.len }));
}

/** DriverHarvest: ids, lengths and implied (in-order batch) elements. */
class DriverHarvest extends Base {
  constructor() {
    super({ op: "harvest" });
  }
  check(): boolean {
    return true;
  }
  async exec(m: Model, r: Real): Promise<void> {
    const got = normalize(await r.driver.harvest());
    same(got, normalize(m.q.harvest()), "harvested used elements");
    guardDriverWrites(r, "harvest");
    same(r.driver.freeCount, m.q.freeSlots, "free descriptors after harvest");
    same(r.driver.outstanding(), [...m.q.chains.keys()], "outstanding ids after harvest");
  }
}

/** DriverSetUsedNotify: enable, disable, or (EVENT_IDX) an event `ahead` entries/slots from the driver's position. */
class DriverSetUsedNotify extends Base {
  constructor(readonly spec: Extract<CommandJson, { op: "usedNotify" }>) {
    super(spec);
  }
  check(m: Readonly<Model>): boolean {
    return this.spec.mode !== "at" || m.q.features.eventIdx;
  }
  async exec(m: Model, r: Real): Promise<void> {
    const s: Suppression = m.q.setUsedNotify(request(this.spec));
    await r.driver.setUsedNotifications(
      this.spec.mode === "at" ? { kind: "at", at: s.event } : { kind: this.spec.mode },
    );
    guardDriverWrites(r, "set used notifications");
  }
}

/** DeviceSetNotifications: enabled or not (and, EVENT_IDX, an avail event `ahead` of the device's position). */
class DeviceSetNotifications extends Base {
  constructor(readonly spec: Extract<CommandJson, { op: "availNotify" }>) {
    super(spec);
  }
  check(m: Readonly<Model>): boolean {
    return this.spec.mode !== "at" || m.q.features.eventIdx;
  }
  async exec(m: Model, r: Real): Promise<void> {
    const s = m.q.setAvailNotify(request(this.spec));
    const a = areas(r);
    if (this.spec.mode !== "at") {
      await r.device.setNotifications(this.spec.mode === "enable");
    } else if (r.device instanceof SplitDeviceQueue) {
      await r.device.setAvailEvent(s.event);
    } else if (r.device instanceof PackedDeviceQueue) {
      await r.device.setDeviceEvent({ kind: "at", at: s.event });
    }
    guardDeviceWrites(r, [a.device], "set available-buffer notifications");
  }
}

/** Queue reset mid-flight: a fresh pair of queues at the same addresses, and a fresh model. */
class QueueReset extends Base {
  constructor() {
    super({ op: "reset" });
  }
  check(): boolean {
    return true;
  }
  async exec(m: Model, r: Real): Promise<void> {
    m.wraps += Math.floor(m.q.usedCount / m.q.size);
    Object.assign(r, await freshQueues(r.mem, r.alloc, m.q.features, m.q.size));
    m.q = new AbstractVirtqueue(m.q.features, m.q.size);
  }
}

/** The command a JSON form stands for. */
function fromJson(j: CommandJson): Base {
  switch (j.op) {
    case "add":
      return new DriverAdd(j);
    case "publish":
      return new DriverPublish(j.pick);
    case "kick":
      return new DriverKickDecision();
    case "take":
      return new DeviceTake();
    case "use":
      return new DeviceUse(j.pick, j.len);
    case "notify":
      return new DeviceNotifyDecision();
    case "harvest":
      return new DriverHarvest();
    case "usedNotify":
      return new DriverSetUsedNotify(j);
    case "availNotify":
      return new DeviceSetNotifications(j);
    case "reset":
      return new QueueReset();
  }
}

// ---------------------------------------------------------------------------------------------------------------------
// Arbitraries.

const lens = fc.array(fc.integer({ min: 1, max: ARENA_SLOT }), { maxLength: 3 });
const notifyMode = fc.oneof(
  fc.constantFrom("enable" as const, "disable" as const).map((mode) => ({ mode })),
  fc.integer({ min: -2, max: 34 }).map((ahead) => ({ mode: "at" as const, ahead })),
);

/**
 * Every command, weighted so that buffers flow round the ring (long runs wrap small rings many times) while the
 * settings, decisions and resets still come often.
 */
const commandArbs: fc.Arbitrary<ModelCommand>[] = [fc.oneof(
  {
    weight: 10,
    arbitrary: fc.record({ indirect: fc.boolean(), readable: lens, writable: lens })
      .filter((s) => s.readable.length + s.writable.length > 0)
      .map((s): ModelCommand => new DriverAdd({ op: "add", ...s })),
  },
  { weight: 10, arbitrary: fc.nat(15).map((pick): ModelCommand => new DriverPublish(pick)) },
  { weight: 3, arbitrary: fc.constant(null).map((): ModelCommand => new DriverKickDecision()) },
  { weight: 2, arbitrary: fc.constant(null).map((): ModelCommand => new DeviceTake()) },
  { weight: 10, arbitrary: fc.constant(null).map((): ModelCommand => new DeviceTake(false)) },
  {
    weight: 10,
    arbitrary: fc.tuple(fc.nat(15), fc.nat(0xffff)).map(([pick, len]): ModelCommand => new DeviceUse(pick, len)),
  },
  { weight: 3, arbitrary: fc.constant(null).map((): ModelCommand => new DeviceNotifyDecision()) },
  { weight: 6, arbitrary: fc.constant(null).map((): ModelCommand => new DriverHarvest()) },
  { weight: 2, arbitrary: notifyMode.map((m): ModelCommand => new DriverSetUsedNotify({ op: "usedNotify", ...m })) },
  {
    weight: 2,
    arbitrary: notifyMode.map((m): ModelCommand => new DeviceSetNotifications({ op: "availNotify", ...m })),
  },
  { weight: 1, arbitrary: fc.constant(null).map((): ModelCommand => new QueueReset()) },
)];

function sizeArb(format: RingFormat): fc.Arbitrary<number> {
  // Small rings more often: they wrap (indexes, wrap counters) within one run.
  return format === "split"
    ? fc.constantFrom(1, 2, 4, 8, 16)
    : fc.oneof({ weight: 2, arbitrary: fc.integer({ min: 1, max: 4 }) }, fc.integer({ min: 1, max: 16 }));
}

/** A fixture: the features, the size and the commands; `expect` says whether it passes today. */
interface Fixture {
  description: string;
  features: RingFeatures;
  size: number;
  commands: CommandJson[];
  /** "pass", or a known codec bug: the failure message must contain `failure`. */
  expect: "pass" | { failure: string; bug: string };
}

function fixtureText(f: RingFeatures, size: number, commands: CommandJson[]): string {
  const fx: Fixture = { description: "TODO", features: f, size, commands, expect: "pass" };
  return JSON.stringify(fx);
}

// ---------------------------------------------------------------------------------------------------------------------
// Properties: sequential model runs.

/** What the random runs did, per format: a generator that stopped moving buffers round the ring would show here. */
const STATS = {
  split: { runs: 0, commands: 0, wraps: 0, ops: {} as Record<string, number> },
  packed: { runs: 0, commands: 0, wraps: 0, ops: {} as Record<string, number> },
};

for (const format of ["split", "packed"] as const) {
  const name = `model: ${format} ring codecs against the abstract virtqueue`;
  Deno.test(name, async () => {
    let lastFailing: { f: RingFeatures; size: number; log: CommandJson[] } | undefined;
    await checkModel(
      name,
      300,
      fc.asyncProperty(
        featuresArb(format),
        sizeArb(format),
        fc.commands(commandArbs, { maxCommands: 200, size: "max", ...replayable }),
        async (f, size, cmds) => {
          const s = await setup(f, size);
          try {
            await fc.asyncModelRun(() => s, cmds);
            const st = STATS[format];
            st.runs++;
            st.commands += s.model.log.length;
            for (const j of s.model.log) st.ops[j.op] = (st.ops[j.op] ?? 0) + 1;
            st.wraps += s.model.wraps + Math.floor(s.model.q.usedCount / size);
          } catch (e) {
            lastFailing = { f, size, log: s.model.log };
            throw e;
          }
        },
      ),
      ([f, size, cmds]) =>
        `${String(cmds)}\n` +
        (lastFailing
          ? `fixture (save under fixtures/regressions/):\n${fixtureText(f, size, lastFailing.log)}`
          : `${fc.stringify(f)} size ${size}`),
    );
    if (!REPLAY_PATH) {
      const st = STATS[format];
      assert(
        st.wraps >= st.runs / 4 && (st.ops.use ?? 0) > st.runs,
        `the random runs barely moved buffers round the ring: ${JSON.stringify(st)}`,
      );
    }
  });

  const sname = `model: ${format} ring codecs, scheduled command order (fc.scheduledModelRun)`;
  Deno.test(sname, async () => {
    await checkModel(
      sname,
      40,
      fc.asyncProperty(
        fc.scheduler(),
        featuresArb(format),
        sizeArb(format),
        fc.commands(commandArbs, { maxCommands: 60, size: "max", ...replayable }),
        async (s, f, size, cmds) => {
          const start = await setup(f, size);
          await fc.scheduledModelRun(s, () => start, cmds);
        },
      ),
      ([s, f, size, cmds]) => `${fc.stringify(f)} size ${size}\n${String(cmds)}\n${s.report().length} scheduler steps`,
    );
  });
}

// ---------------------------------------------------------------------------------------------------------------------
// Scripted regressions.

const REGRESSIONS = new URL("../../fixtures/regressions/", import.meta.url);

async function replay(fx: Fixture): Promise<void> {
  const { model, real } = await setup(fx.features, fx.size);
  model.scripted = true;
  for (const [i, j] of fx.commands.entries()) {
    const cmd = fromJson(j);
    if (!cmd.check(model)) throw new Error(`fixture command ${i + 1} ${cmd} does not apply (stale fixture?)`);
    await cmd.run(model, real);
  }
}

for (const entry of [...Deno.readDirSync(REGRESSIONS)].sort((a, b) => a.name.localeCompare(b.name))) {
  if (!entry.isFile || !entry.name.endsWith(".json")) continue;
  Deno.test(`model regression: ${entry.name}`, async () => {
    const fx = JSON.parse(await Deno.readTextFile(new URL(entry.name, REGRESSIONS))) as Fixture;
    if (fx.expect === "pass") return await replay(fx);
    let failure: unknown;
    try {
      await replay(fx);
    } catch (e) {
      failure = e;
    }
    if (failure === undefined) {
      throw new Error(
        `${entry.name} passes now: the known bug "${fx.expect.bug}" looks fixed. Set "expect": "pass" in the fixture and flip the matching *_FIXED switch at the top of ${THIS_FILE}.`,
      );
    }
    const message = failure instanceof Error ? failure.message : String(failure);
    assert(
      message.includes(fx.expect.failure),
      `${entry.name} fails, but not with the known bug (want "${fx.expect.failure}"): ${message}`,
    );
  });
}

// ---------------------------------------------------------------------------------------------------------------------
// Split 16-bit index wrap: a ring of 2 through more than 65536 buffers, event indexes set at every position.

Deno.test("model: split ring 16-bit avail and used idx wrap (70000 buffers, EVENT_IDX at every position)", async () => {
  const f: RingFeatures = { format: "split", indirect: true, eventIdx: true, inOrder: false, notificationData: true };
  const { model, real } = await setup(f, 2, false);
  const step: Base[] = [
    new DriverSetUsedNotify({ op: "usedNotify", mode: "at", ahead: 1 }),
    new DeviceSetNotifications({ op: "availNotify", mode: "at", ahead: 0 }),
    new DriverAdd({ op: "add", indirect: false, readable: [], writable: [8] }),
    new DriverPublish(0),
    new DriverKickDecision(),
    new DriverAdd({ op: "add", indirect: true, readable: [4], writable: [8] }),
    new DriverPublish(0),
    new DriverKickDecision(),
    new DeviceTake(),
    new DeviceUse(0, 5),
    new DeviceNotifyDecision(),
    new DeviceTake(),
    new DeviceUse(0, 3),
    new DeviceNotifyDecision(),
    new DriverHarvest(),
  ];
  let kicks = 0;
  while (model.q.availCount < 70_000) {
    for (const c of step) {
      if (!c.check(model)) throw new Error(`${c} does not apply at avail ${model.q.availCount}`);
      await c.run(model, real);
    }
    kicks++;
    model.log.length = 0;
  }
  assert(model.q.usedCount > 0x10000 && kicks > 0);
});

// ---------------------------------------------------------------------------------------------------------------------
// Interleavings: a driver task and a device task, every memory access a scheduling point.

/** Guest memory whose every access waits for the scheduler once `on` is set. */
class ScheduledMemory implements GuestMemory {
  on = false;
  constructor(readonly inner: GuestMemory, readonly s: fc.Scheduler, readonly who: string) {}
  get base(): number {
    return this.inner.base;
  }
  get size(): number {
    return this.inner.size;
  }
  read(addr: number, length: number): Promise<Uint8Array> {
    if (!this.on) return this.inner.read(addr, length);
    return this.s.schedule(Promise.resolve(), `${this.who} read ${hex(addr)}+${length}`)
      .then(() => this.inner.read(addr, length));
  }
  write(addr: number, data: Uint8Array): Promise<void> {
    if (!this.on) return this.inner.write(addr, data);
    const copy = data.slice();
    return this.s.schedule(Promise.resolve(), `${this.who} write ${hex(addr)}+${copy.length}`)
      .then(() => this.inner.write(addr, copy));
  }
}

/** A notification line: `signal` sets it, `wait` returns once it is set, `clear` drops stale signals. */
class Line {
  #set = false;
  #waiter: (() => void) | undefined;
  waiting = false;
  signal(): void {
    this.#set = true;
    const w = this.#waiter;
    this.#waiter = undefined;
    w?.();
  }
  clear(): void {
    this.#set = false;
  }
  async wait(): Promise<void> {
    if (!this.#set) {
      this.waiting = true;
      await new Promise<void>((r) => (this.#waiter = r));
      this.waiting = false;
    }
    this.#set = false;
  }
}

interface Shape {
  indirect: boolean;
  readable: number;
  writable: number;
}

/**
 * Both sides suppress notifications while busy and re-enable them before going idle, re-checking the ring after
 * re-enabling (the protocol of 2.7.7/2.7.10 and 2.8.10): with every interleaving of their memory accesses, no buffer is
 * lost, reordered or torn, and neither side sleeps while the other has work for it (no lost wakeup).
 */
async function concurrentRun(s: fc.Scheduler, f: RingFeatures, size: number, shapes: Shape[]): Promise<void> {
  const mem = new ArrayMemory(BASE, MEM_SIZE);
  const driverMem = new ScheduledMemory(mem, s, "driver");
  const deviceMem = new ScheduledMemory(mem, s, "device");
  const driver = await createDriverQueue(driverMem, new BumpAllocator(BASE, POOL_END), 0, size, f);
  const device = createDeviceQueue(deviceMem, driver.addrs, f);
  driverMem.on = deviceMem.on = true;
  const kick = new Line();
  const irq = new Line();
  const published: { id: number; buffers: BufferSpec[] }[] = [];
  const taken: { id: number; buffers: BufferSpec[] }[] = [];
  const harvested: UsedElem[] = [];
  const state = { driver: "running", device: "running" };
  let arena = 0;
  const writableOf = (buffers: BufferSpec[]) => buffers.reduce((n, b) => n + (b.writable ? b.len : 0), 0);

  const reap = async () => {
    for (;;) {
      let got = await driver.harvest();
      if (got.length === 0) {
        irq.clear();
        await driver.setUsedNotifications({ kind: "enable" });
        got = await driver.harvest();
        if (got.length === 0) {
          state.driver = "waiting for a used-buffer notification";
          await irq.wait();
          state.driver = "running";
          continue;
        }
        await driver.setUsedNotifications({ kind: "disable" });
      }
      harvested.push(...got);
      return;
    }
  };
  const driverTask = async () => {
    await driver.setUsedNotifications({ kind: "disable" });
    for (const shape of shapes) {
      const n = shape.readable + shape.writable;
      while ((shape.indirect ? 1 : n) > driver.freeCount) await reap();
      const buffers: BufferSpec[] = [];
      for (let i = 0; i < n; i++) {
        buffers.push({
          addr: ARENA + ARENA_SLOT * (arena++ % ARENA_SLOTS),
          len: 16 + i,
          writable: i >= shape.readable,
        });
      }
      const id = await driver.add(buffers, { indirect: shape.indirect });
      published.push({ id, buffers });
      await driver.publish(id);
      if (await driver.needsKick()) kick.signal();
    }
    while (harvested.length < shapes.length) await reap();
    state.driver = "done";
  };
  const deviceTask = async () => {
    let used = 0;
    while (used < shapes.length) {
      await device.setNotifications(false);
      for (let b = await device.take(); b; b = await device.take()) {
        taken.push({ id: b.id, buffers: b.buffers });
        await device.pushUsed(b.id, writableOf(b.buffers));
        used++;
        if (await device.needsNotification()) irq.signal();
      }
      if (used >= shapes.length) break;
      kick.clear();
      await device.setNotifications(true);
      if (await device.hasAvailable()) continue;
      state.device = "waiting for an available-buffer notification";
      await kick.wait();
      state.device = "running";
    }
    state.device = "done";
  };
  const failures: unknown[] = [];
  const tasks = Promise.all([driverTask(), deviceTask()].map((t) => t.catch((e) => void failures.push(e))));
  await s.waitIdle();
  if (failures.length > 0) throw failures[0];
  if (state.driver !== "done" || state.device !== "done") {
    throw new Mismatch(
      `lost wakeup: driver ${state.driver}, device ${state.device}; ${published.length} published, ${taken.length} taken, ${harvested.length} harvested`,
    );
  }
  await tasks;
  same(taken, published, "chains the device took (order and content)");
  same(
    normalize(harvested),
    published.map((p) => ({ id: p.id, len: writableOf(p.buffers) })),
    "used elements the driver harvested",
  );
}

for (const format of ["split", "packed"] as const) {
  const name = `model: ${format} ring, driver and device interleaved access by access (fc.scheduler)`;
  Deno.test(name, async () => {
    await checkModel(
      name,
      100,
      fc.asyncProperty(
        fc.scheduler(),
        featuresArb(format),
        sizeArb(format),
        fc.array(
          fc.record({ indirect: fc.boolean(), readable: fc.nat(2), writable: fc.nat(2) })
            .filter((sh) => sh.readable + sh.writable > 0),
          { minLength: 1, maxLength: 12 },
        ),
        async (s, f, size, shapes) => {
          const fitting = shapes.map((sh) => ({
            ...sh,
            indirect: sh.indirect && f.indirect,
            readable: Math.min(sh.readable, size),
            writable: Math.min(sh.writable, Math.max(0, size - Math.min(sh.readable, size))),
          })).filter((sh) => sh.readable + sh.writable > 0);
          await concurrentRun(s, f, size, fitting);
        },
      ),
      ([s, f, size, shapes]) =>
        `${fc.stringify(f)} size ${size} shapes ${fc.stringify(shapes)}\n${
          s.report().slice(-30).map((t) => `${t.status} ${t.label}`).join("\n")
        }`,
    );
  });
}
