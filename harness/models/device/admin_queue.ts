/**
 * The reference device's administration virtqueue (spec 2.12.1, 2.13): the commands of the self group type —
 * `LIST_QUERY`, `LIST_USE`, the capability commands and the resource object commands when the device type defines
 * capabilities and resource objects — validated in the order the spec gives (group type, opcode, member), checked
 * against the list the driver said it uses, with short and long buffers handled as 2.13 asks: missing readable bytes
 * read as zero, the result cut to the writable buffers, the used length the bytes really written (a multiple of 8).
 *
 * @module
 */
import type { GuestMemory } from "../../memory.ts";
import type { ChainBuffer } from "../../virtqueue/queue.ts";
import {
  type AdminCommand,
  AdminGroupType,
  AdminOpcode,
  AdminQualifier,
  type AdminResult,
  AdminStatus,
  decodeAdminCommand,
  decodeBitmap,
  encodeAdminResult,
  encodeBitmap,
} from "./admin_command.ts";
import { gather, scatter } from "./device_function.ts";

/** A device capability a device type exposes through the capability commands (spec 2.12.1.2). */
export interface AdminCapability {
  /** The capability id. */
  id: number;
  /** `cap_specific_data` as VIRTIO_ADMIN_CMD_DEVICE_CAP_GET returns it. */
  device: Uint8Array;
  /** Whether a driver capability is acceptable (limits not above the device's, flags a subset). */
  accepts(driver: Uint8Array): boolean;
}

/** A kind of resource object a device type lets the driver create (spec 2.12.1.3). */
export interface AdminResourceKind {
  /** The resource object type. */
  type: number;
  /** How many objects of this type the driver may create now (ids 0 to limit - 1): its driver capability. */
  limit(caps: ReadonlyMap<number, Uint8Array>): number;
  /**
   * Checks the `resource_obj_specific_data` of a create or modify against the objects that exist: undefined when it
   * is acceptable, else the status and qualifier to fail the command with.
   */
  check(
    id: number,
    data: Uint8Array,
    objects: AdminObjects,
    creating: boolean,
    caps?: ReadonlyMap<number, Uint8Array>,
  ): AdminResult | undefined;
  /** The answer to a create of an id in use (absent: EINVAL, INVALID_FIELD). */
  existing?(): AdminResult;
  /** Whether another object depends on object `id` (its destroy is refused with EBUSY). */
  inUse(id: number, objects: AdminObjects): boolean;
  /** Whether the driver capabilities set allow this type at all (absent: always); else commands are INVALID_OPCODE. */
  enabled?(caps: ReadonlyMap<number, Uint8Array>): boolean;
}

/** The objects that exist, by type then id (their `resource_obj_specific_data`). */
export type AdminObjects = ReadonlyMap<number, ReadonlyMap<number, Uint8Array>>;

/** What a device type adds to the administration virtqueue. */
export interface AdminFunction {
  capabilities: readonly AdminCapability[];
  resources: readonly AdminResourceKind[];
  /** Given the engine's live objects once (the device type acts on them, e.g. flow filter rules). */
  bind?(objects: AdminObjects): void;
}

/** A command outcome with no result. */
function outcome(
  status: number,
  qualifier: number = AdminQualifier.OK,
  result: Uint8Array = new Uint8Array(0),
): AdminResult {
  return { status, qualifier, result };
}

const ok = (result: Uint8Array = new Uint8Array(0)) => outcome(AdminStatus.OK, AdminQualifier.OK, result);
const einval = (qualifier: number) => outcome(AdminStatus.EINVAL, qualifier);

/** Bytes of the resource object command header (`type`, `reserved`, `id`) plus `flags`. */
const OBJ_HEADER = 16;

/**
 * The command engine behind the administration virtqueue of one device.
 *
 * @example
 * ```ts
 * import { AdminEngine } from "./admin_queue.ts";
 * import { AdminOpcode } from "./admin_command.ts";
 * const engine = new AdminEngine({ capabilities: [], resources: [] });
 * const r = engine.execute({ opcode: AdminOpcode.LIST_QUERY, groupType: 0, memberId: 0, data: new Uint8Array(0) });
 * console.log(r.status); // 0
 * ```
 */
export class AdminEngine {
  /** The opcodes the driver said it uses (LIST_QUERY and LIST_USE until a LIST_USE succeeds). */
  #used = new Set<number>([AdminOpcode.LIST_QUERY, AdminOpcode.LIST_USE]);
  readonly #driverCaps = new Map<number, Uint8Array>();
  readonly #objects = new Map<number, Map<number, Uint8Array>>();

  constructor(readonly fn: AdminFunction) {
    fn.bind?.(this.#objects);
  }

  /** The opcodes this device supports for the self group type. */
  get supported(): Set<number> {
    const s = new Set<number>([AdminOpcode.LIST_QUERY, AdminOpcode.LIST_USE]);
    if (this.fn.capabilities.length > 0) {
      for (const o of [AdminOpcode.CAP_ID_LIST_QUERY, AdminOpcode.DEVICE_CAP_GET, AdminOpcode.DRIVER_CAP_SET]) s.add(o);
    }
    if (this.fn.resources.length > 0) {
      for (
        const o of [
          AdminOpcode.RESOURCE_OBJ_CREATE,
          AdminOpcode.RESOURCE_OBJ_QUERY,
          AdminOpcode.RESOURCE_OBJ_MODIFY,
          AdminOpcode.RESOURCE_OBJ_DESTROY,
        ]
      ) s.add(o);
    }
    return s;
  }

  /** The driver capabilities set so far, by id. */
  get driverCaps(): ReadonlyMap<number, Uint8Array> {
    return this.#driverCaps;
  }

  /** The resource objects that exist. */
  get objects(): AdminObjects {
    return this.#objects;
  }

  /** Device reset: the used list back to its default, every driver capability and resource object gone. */
  reset(): void {
    this.#used = new Set([AdminOpcode.LIST_QUERY, AdminOpcode.LIST_USE]);
    this.#driverCaps.clear();
    this.#objects.clear();
  }

  /**
   * Serves one command chain: reads the device-readable buffers, writes the result into the device-writable ones (as
   * far as they reach) and returns the bytes written, a multiple of 8.
   */
  async handle(chain: ChainBuffer[], mem: GuestMemory): Promise<number> {
    const readable = await gather(mem, chain.filter((b) => !b.writable));
    const result = encodeAdminResult(this.execute(decodeAdminCommand(readable)));
    let room = chain.filter((b) => b.writable).reduce((s, b) => s + b.len, 0);
    room -= room % 8;
    return await scatter(mem, chain.filter((b) => b.writable), result.subarray(0, Math.min(result.length, room)));
  }

  /** Every command executed since the engine was built (the first 1000), with its result: what driver clauses judge. */
  readonly log: { cmd: AdminCommand; result: AdminResult }[] = [];

  /** Executes one decoded command (and logs it). */
  execute(cmd: AdminCommand): AdminResult {
    const result = this.#execute({ ...cmd, data: cmd.data.slice() });
    if (this.log.length < 1000) this.log.push({ cmd: { ...cmd, data: cmd.data.slice() }, result });
    return result;
  }

  #execute(cmd: AdminCommand): AdminResult {
    if (cmd.groupType !== AdminGroupType.SELF) return einval(AdminQualifier.INVALID_GROUP);
    if (!this.supported.has(cmd.opcode) || !this.#used.has(cmd.opcode)) return einval(AdminQualifier.INVALID_OPCODE);
    if (cmd.memberId !== 0) return einval(AdminQualifier.INVALID_MEMBER);
    switch (cmd.opcode) {
      case AdminOpcode.LIST_QUERY:
        return ok(encodeBitmap(this.supported));
      case AdminOpcode.LIST_USE: {
        const want = decodeBitmap(cmd.data);
        const supported = this.supported;
        if ([...want].some((o) => !supported.has(o))) return einval(AdminQualifier.INVALID_FIELD);
        this.#used = want;
        return ok();
      }
      case AdminOpcode.CAP_ID_LIST_QUERY:
        return ok(encodeBitmap(this.fn.capabilities.map((c) => c.id)));
      case AdminOpcode.DEVICE_CAP_GET: {
        const cap = this.#capability(cmd.data);
        return cap ? ok(cap.device.slice()) : outcome(AdminStatus.ENXIO, AdminQualifier.INVALID_FIELD);
      }
      case AdminOpcode.DRIVER_CAP_SET: {
        const cap = this.#capability(cmd.data);
        if (!cap) return outcome(AdminStatus.ENXIO, AdminQualifier.INVALID_FIELD);
        const data = cmd.data.slice(8, 8 + cap.device.length);
        const value = new Uint8Array(cap.device.length);
        value.set(data);
        if (!cap.accepts(value)) return einval(AdminQualifier.INVALID_FIELD);
        const before = new Map(this.#driverCaps);
        this.#driverCaps.set(cap.id, value);
        // Limits lowered below objects that exist would strand them: refused, the capability as it was.
        for (const kind of this.fn.resources) {
          const limit = kind.limit(this.#driverCaps);
          if ([...(this.#objects.get(kind.type)?.keys() ?? [])].some((id) => id >= limit)) {
            this.#driverCaps.clear();
            for (const [k, v] of before) this.#driverCaps.set(k, v);
            return outcome(AdminStatus.EBUSY, AdminQualifier.INVALID_FIELD);
          }
        }
        return ok();
      }
      case AdminOpcode.RESOURCE_OBJ_CREATE:
      case AdminOpcode.RESOURCE_OBJ_MODIFY:
      case AdminOpcode.RESOURCE_OBJ_QUERY:
      case AdminOpcode.RESOURCE_OBJ_DESTROY:
        return this.#resource(cmd);
    }
    return einval(AdminQualifier.INVALID_OPCODE);
  }

  #capability(data: Uint8Array): AdminCapability | undefined {
    const id = (data[0] ?? 0) | ((data[1] ?? 0) << 8);
    return this.fn.capabilities.find((c) => c.id === id);
  }

  #resource(cmd: AdminCommand): AdminResult {
    const d = cmd.data;
    const type = (d[0] ?? 0) | ((d[1] ?? 0) << 8);
    const id = ((d[4] ?? 0) | ((d[5] ?? 0) << 8) | ((d[6] ?? 0) << 16) | ((d[7] ?? 0) << 24)) >>> 0;
    const kind = this.fn.resources.find((k) => k.type === type);
    if (!kind) return einval(AdminQualifier.INVALID_FIELD);
    // Objects whose capabilities the driver has not set are not in use at all (5.1.9.6.4#3 for flow filters).
    if (kind.enabled && !kind.enabled(this.#driverCaps)) return einval(AdminQualifier.INVALID_OPCODE);
    if (id >= kind.limit(this.#driverCaps)) return einval(AdminQualifier.INVALID_FIELD);
    const mine = this.#objects.get(type) ?? new Map<number, Uint8Array>();
    const exists = mine.has(id);
    const body = d.slice(OBJ_HEADER);
    switch (cmd.opcode) {
      case AdminOpcode.RESOURCE_OBJ_CREATE:
      case AdminOpcode.RESOURCE_OBJ_MODIFY: {
        const creating = cmd.opcode === AdminOpcode.RESOURCE_OBJ_CREATE;
        if (creating && exists) return kind.existing?.() ?? einval(AdminQualifier.INVALID_FIELD);
        if (!creating && !exists) return einval(AdminQualifier.INVALID_FIELD);
        const bad = kind.check(id, body, this.#objects, creating, this.#driverCaps);
        if (bad) return bad;
        mine.set(id, body);
        this.#objects.set(type, mine);
        return ok();
      }
      case AdminOpcode.RESOURCE_OBJ_QUERY:
        return exists ? ok(mine.get(id)!.slice()) : outcome(AdminStatus.ENXIO, AdminQualifier.INVALID_FIELD);
      default:
        if (!exists) return outcome(AdminStatus.ENXIO, AdminQualifier.INVALID_FIELD);
        if (kind.inUse(id, this.#objects)) return outcome(AdminStatus.EBUSY, AdminQualifier.INVALID_FIELD);
        mine.delete(id);
        return ok();
    }
  }
}
