/**
 * The in-process adapter: TypeScript implementations (the bundled reference
 * models, their mutants, or a user's own model) run inside the harness.
 *
 * @module
 */
import {
  ADAPTER_CONTRACT_VERSION,
  type Capabilities,
  type DeviceSession,
  type DeviceTarget,
  type DeviceTargetInfo,
  type DriverSession,
  type DriverTarget,
  type DriverTargetInfo,
  type HarnessDeviceEndpoint,
  type NetWire,
  type PciFunctionAccess,
  TargetError,
} from "../adapter.ts";
import type { DeviceTypeName, TransportKind } from "../features.ts";
import { ArrayMemory, type GuestMemory, TracedMemory } from "../memory.ts";
import type { RegisterSpace } from "../registers.ts";
import { errorText } from "../text.ts";

/** An in-process device as a factory builds it. */
export interface InProcessDevice {
  /** The MMIO window, or on PCI the configuration space. */
  registers: RegisterSpace;
  /** On PCI: the function and its bus. */
  pci?: PciFunctionAccess;
  /** Calls `listener` with the interrupt line's level whenever it changes. */
  onInterrupt(listener: (level: boolean) => void): void;
  /** Resolves when the device's background work is done. */
  idle?(): Promise<void>;
  /** A host-side configuration change (e.g. a resize). */
  triggerConfigChange?(): void;
  /** A network device's wire (the session's `wire` capability). */
  wire?: NetWire;
}

/** Builds a device over the guest memory it is given, presented on `transport`. */
export type InProcessDeviceFactory = (memory: GuestMemory, transport: TransportKind) => InProcessDevice;

/** Guest memory of in-process device sessions. */
export const IN_PROCESS_RAM = { base: 0x4000_0000, size: 4 << 20 } as const;

/**
 * A device under test that runs in-process.
 *
 * @example
 * ```ts ignore
 * const target = new InProcessDeviceTarget("my-rng", "rng", (mem) => buildMyDevice(mem));
 * const session = await target.open();
 * ```
 */
export class InProcessDeviceTarget implements DeviceTarget {
  /** The implementation under test is a device. */
  readonly role = "device" as const;
  /** What the target is. */
  readonly info: DeviceTargetInfo;
  /** `transports`: what the factory can present (default MMIO v2 only); the first is the default. */
  constructor(
    name: string,
    deviceType: DeviceTypeName,
    readonly factory: InProcessDeviceFactory,
    transports: readonly TransportKind[] = ["mmio"],
  ) {
    this.info = {
      name,
      transport: transports[0] ?? "mmio",
      transports: [...transports],
      deviceType,
      adapter: "in-process",
      contractVersion: ADAPTER_CONTRACT_VERSION,
    };
  }
  open(transport: TransportKind = this.info.transport): Promise<DeviceSession> {
    if (!this.info.transports?.includes(transport)) {
      return Promise.reject(
        new TargetError(
          `${this.info.name} cannot be opened on ${transport}: it offers ${this.info.transports?.join(", ")}`,
        ),
      );
    }
    try {
      return Promise.resolve(new InProcessDeviceSession(this.info, transport, this.factory));
    } catch (e) {
      return Promise.reject(e);
    }
  }
}

class InProcessDeviceSession implements DeviceSession {
  readonly capabilities: Capabilities;
  memory!: ArrayMemory;
  #traced!: TracedMemory;
  #device!: InProcessDevice;
  #level = false;
  constructor(
    readonly info: DeviceTargetInfo,
    readonly transport: TransportKind,
    readonly factory: InProcessDeviceFactory,
  ) {
    this.#build();
    this.capabilities = {
      registers: true,
      memory: true,
      interrupts: true,
      memoryTrace: true,
      configChange: this.#device.triggerConfigChange !== undefined,
      wire: this.#device.wire !== undefined,
    };
  }
  #build(): void {
    this.memory = new ArrayMemory(IN_PROCESS_RAM.base, IN_PROCESS_RAM.size);
    this.#traced = new TracedMemory(this.memory);
    this.#level = false;
    try {
      this.#device = this.factory(this.#traced, this.transport);
    } catch (e) {
      throw new TargetError(`The in-process device factory failed: ${errorText(e)}`);
    }
    this.#device.onInterrupt((l) => {
      this.#level = l;
      if (l) this.#traced.markInterrupt();
    });
  }
  get registers(): RegisterSpace {
    const dev = () => this.#device;
    return {
      read: (o, w) => dev().registers.read(o, w),
      write: (o, w, v) => dev().registers.write(o, w, v),
    };
  }
  get pci(): PciFunctionAccess | undefined {
    const p = this.#device.pci;
    if (!p) return undefined;
    const dev = () => this.#device.pci!;
    // Through the current device, so a restart (a new device) keeps the session's view valid.
    const out: PciFunctionAccess = {
      config: { read: (o, w) => dev().config.read(o, w), write: (o, w, v) => dev().config.write(o, w, v) },
      memory: { read: (o, w) => dev().memory.read(o, w), write: (o, w, v) => dev().memory.write(o, w, v) },
      memoryWindow: p.memoryWindow,
      ...(p.io && p.ioWindow
        ? {
          io: { read: (o, w) => dev().io!.read(o, w), write: (o, w, v) => dev().io!.write(o, w, v) },
          ioWindow: p.ioWindow,
        }
        : {}),
    };
    return out;
  }
  get wire(): NetWire | undefined {
    if (!this.#device.wire) return undefined;
    // Through the current device, so a restart keeps the session's view valid.
    const wire = () => {
      const w = this.#device.wire;
      if (!w) throw new TargetError("The device has no wire since the session restarted");
      return w;
    };
    return { takeTransmitted: () => wire().takeTransmitted(), inject: (f) => wire().inject(f) };
  }
  interruptLevel(): Promise<boolean> {
    return Promise.resolve(this.#level);
  }
  async settle(ms: number, until?: () => Promise<boolean>): Promise<void> {
    const deadline = Date.now() + ms;
    for (;;) {
      if (this.#device.idle) {
        let timer: ReturnType<typeof setTimeout> | undefined;
        const timeout = new Promise<"timeout">((r) =>
          timer = setTimeout(() => r("timeout"), Math.max(1, deadline - Date.now()))
        );
        const done = await Promise.race([this.#device.idle().then(() => "idle" as const), timeout]);
        clearTimeout(timer);
        if (done === "timeout") return;
      } else {
        // A device that cannot say it is idle may act on its own timers: let it run the whole time asked (polling
        // `until` meanwhile), never less.
        const left = Math.max(0, deadline - Date.now());
        await new Promise((r) => setTimeout(r, until ? Math.min(left, 1) : left));
      }
      if ((until && await until()) || Date.now() >= deadline) return;
      // Nothing left to run in-process: what has not happened will not happen by waiting.
      if (this.#device.idle) return;
    }
  }
  takeMemoryTrace() {
    const out = this.#traced.accesses.splice(0);
    return out;
  }
  triggerConfigChange(): Promise<void> {
    if (!this.#device.triggerConfigChange) {
      throw new TargetError("This device cannot change its configuration from the host side");
    }
    this.#device.triggerConfigChange();
    return Promise.resolve();
  }
  restart(): Promise<void> {
    this.#build();
    return Promise.resolve();
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** Builds a driver session attached to a harness device. */
export type InProcessDriverFactory = (device: HarnessDeviceEndpoint) => DriverSession;

/**
 * A driver under test that runs in-process.
 *
 * @example
 * ```ts ignore
 * const target = new InProcessDriverTarget({ name: "my-driver", … }, (endpoint) => new MyDriver(endpoint));
 * ```
 */
export class InProcessDriverTarget implements DriverTarget {
  /** The implementation under test is a driver. */
  readonly role = "driver" as const;
  /** What the target is. */
  readonly info: DriverTargetInfo;
  /** Whether the driver takes all its time from the endpoint's clock (see {@link DriverTarget.virtualTime}). */
  readonly virtualTime: boolean;
  /**
   * A driver target from its description and the factory that attaches the driver to the harness device;
   * `virtualTime`: the driver takes every time and timer from the endpoint's clock.
   */
  constructor(
    info: Omit<DriverTargetInfo, "adapter" | "contractVersion">,
    readonly factory: InProcessDriverFactory,
    opts: { virtualTime?: boolean } = {},
  ) {
    this.info = { ...info, adapter: "in-process", contractVersion: ADAPTER_CONTRACT_VERSION };
    this.virtualTime = opts.virtualTime ?? false;
  }
  attach(device: HarnessDeviceEndpoint): Promise<DriverSession> {
    try {
      return Promise.resolve(this.factory(device));
    } catch (e) {
      return Promise.reject(
        new TargetError(`The in-process driver factory failed: ${errorText(e)}`),
      );
    }
  }
}
