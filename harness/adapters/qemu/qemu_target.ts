/**
 * The `qemu` adapter: the harness plays the driver against QEMU's own virtio
 * device models through the qtest protocol.
 *
 * - `mmio` / `mmio-legacy`: arm `virt` (`qemu-system-aarch64 -M virt -cpu
 *   cortex-a57`); `mmio` adds `-global virtio-mmio.force-legacy=false`
 *   (Version 2), `mmio-legacy` keeps QEMU's default (Version 1). The device
 *   is found by scanning the 32 virtio-mmio windows at 0x0a000000 (0x200
 *   apart) for a non-zero DeviceID; its interrupt is GIC input 16 + slot.
 * - `pci`: x86 `q35` (`qemu-system-x86_64 -M q35`); the function is found by
 *   scanning bus 0 for vendor 0x1AF4 through ports 0xcf8/0xcfc; the harness
 *   places the BARs itself inside {@link Q35_MEMORY_WINDOW} / {@link Q35_IO_WINDOW};
 *   INTx is observed on the I/O APIC.
 *
 * QEMU boots a halt-loop firmware, so only the harness touches the machine
 * while QEMU's main loop (and with it the device back ends) keeps running.
 *
 * @module
 */
import {
  ADAPTER_CONTRACT_VERSION,
  type Capabilities,
  DeviceCrashed,
  type DeviceSession,
  type DeviceTarget,
  type DeviceTargetInfo,
  type NetWire,
  type PciFunctionAccess,
  TargetError,
} from "../../adapter.ts";
import { DEVICE_IDS, type ModelledDeviceType, type TransportKind } from "../../features.ts";
import type { GuestMemory } from "../../memory.ts";
import type { RegisterSpace, Width } from "../../registers.ts";
import { DEFAULT_TEMP_ROOT, QemuProcess } from "./qemu_process.ts";
import { QtestError } from "./qtest_client.ts";
import { QtestMemory } from "./qtest_memory.ts";
import { BACK_END_CHARDEV, type BackEndSpec } from "./back_end.ts";
import { SocketWire } from "./socket_wire.ts";

/** The netdev id of the harness-owned wire. */
export const WIRE_NETDEV = "wire0";

/** The transports this adapter opens. */
export type QemuTransport = "mmio" | "mmio-legacy" | "pci";

/** The machines this adapter drives. */
export type QemuMachine = "virt" | "q35";

/** Base of the first virtio-mmio window on arm `virt`. */
export const VIRT_MMIO_BASE = 0x0a00_0000;
/** Distance between virtio-mmio windows on arm `virt` (and each window's size). */
export const VIRT_MMIO_STRIDE = 0x200;
/** Number of virtio-mmio windows on arm `virt`. */
export const VIRT_MMIO_SLOTS = 32;
/** GIC input (SPI number) of virtio-mmio slot 0 on arm `virt`. */
export const VIRT_MMIO_FIRST_IRQ = 16;
/** Guest RAM of arm `virt`. */
export const VIRT_RAM_BASE = 0x4000_0000;
/** Where the harness's guest memory starts on q35 (below: low memory, BIOS areas). */
export const Q35_RAM_BASE = 0x0100_0000;
/** Where memory BARs may go on q35: inside the 32-bit PCI hole, below the I/O APIC. */
export const Q35_MEMORY_WINDOW = { base: 0xe000_0000, size: 0x1000_0000 } as const;
/** Where I/O BARs may go on q35. */
export const Q35_IO_WINDOW = { base: 0xc000, size: 0x4000 } as const;

const PCI_CONFIG_ADDRESS = 0xcf8;
const PCI_CONFIG_DATA = 0xcfc;
const VIRTIO_VENDOR = 0x1af4;

/** How to run one QEMU device. */
export interface QemuTargetOptions {
  /** The name in reports. */
  name: string;
  transport: QemuTransport;
  /** The `-device` argument, e.g. `virtio-rng-device` or `virtio-rng-pci,disable-legacy=on`. */
  device: string;
  /** The device type, when known (also picks the device when several are found). */
  deviceType?: ModelledDeviceType;
  /** The machine (default: `virt` for MMIO, `q35` for PCI; the transport requires this one). */
  machine?: QemuMachine;
  /** The QEMU binary (default `qemu-system-aarch64` on virt, `qemu-system-x86_64` on q35). */
  binary?: string;
  /**
   * More QEMU arguments (back ends: `-netdev user,id=n0`, `-fsdev local,…,path={dir}`; `{dir}` is the run's private
   * directory).
   */
  extraArgs?: string[];
  /** Guest RAM in MiB (default 128). */
  memoryMiB?: number;
  /**
   * A raw disk image of this many MiB, created empty in the private directory
   * as drive `drive0` (`-drive if=none,id=drive0,format=raw,file=…`); the
   * device string gets `,drive=drive0` unless it names a drive.
   */
  driveMiB?: number;
  /** Make `drive0` read-only (`readonly=on`): a blk device then offers VIRTIO_BLK_F_RO and refuses writes. */
  driveReadOnly?: boolean;
  /**
   * A network device's link is the harness's (the session's `wire`): QEMU's `-netdev socket` connects to a loopback
   * port the harness listens on, and the device string gets `,netdev=wire0` unless it names a netdev.
   */
  wire?: boolean;
  /**
   * A vhost-user back end that serves the device (see `back_end.ts`): started in the private directory before QEMU
   * (with `driveMiB`, the empty disk image is `{disk}`, for the back end and not for QEMU); guest RAM becomes a shared
   * memfd, and the device string gets `,chardev=vhost0` unless it names a chardev.
   */
  backEnd?: BackEndSpec;
  /**
   * How the target comes back to power-on state before each clause: `reset` (QMP `system_reset`; a new QEMU only when
   * that fails) or `relaunch` (a new QEMU, and a new back end, every time). Default `relaunch` with a back end (a back
   * end may carry state across a device reset that a later clause would trip over), else `reset`.
   */
  restart?: "reset" | "relaunch";
  /** Temporary root (default `reports/tmp`). */
  tempRoot?: string;
  /** Deadline for QEMU to start (default 15000 ms). */
  startTimeoutMs?: number;
  /** Deadline of one qtest command (default 5000 ms). */
  commandTimeoutMs?: number;
}

/** The default QEMU binary of a machine. */
export function defaultBinary(machine: QemuMachine): string {
  return machine === "virt" ? "qemu-system-aarch64" : "qemu-system-x86_64";
}

/** The machine a transport needs. */
export function machineFor(transport: QemuTransport): QemuMachine {
  return transport === "pci" ? "q35" : "virt";
}

/** The error for a QEMU that stopped: {@link DeviceCrashed} when QEMU aborted (an assertion in a device model). */
function ended(qemu: QemuProcess, message: string): TargetError {
  const text = `${message}: ${qemu.describe()}`;
  return qemu.status?.signal === "SIGABRT" ? new DeviceCrashed(text) : new TargetError(text);
}

/**
 * A QEMU virtio device under test.
 *
 * @example
 * ```ts ignore
 * const target = new QemuDeviceTarget({ name: "qemu-rng-mmio", transport: "mmio", device: "virtio-rng-device" });
 * const session = await target.open();
 * console.log((await session.registers.read(0, 4)).toString(16)); // "74726976"
 * await session.close();
 * ```
 */
export class QemuDeviceTarget implements DeviceTarget {
  readonly role = "device" as const;
  readonly info: DeviceTargetInfo;
  constructor(readonly options: QemuTargetOptions) {
    const machine = options.machine ?? machineFor(options.transport);
    if (machine !== machineFor(options.transport)) {
      throw new TargetError(
        `QEMU transport "${options.transport}" needs machine "${machineFor(options.transport)}", not "${machine}"`,
      );
    }
    this.info = {
      name: options.name,
      transport: options.transport,
      transports: [options.transport],
      adapter: "qemu",
      contractVersion: ADAPTER_CONTRACT_VERSION,
    };
    if (options.deviceType) this.info.deviceType = options.deviceType;
  }

  async open(transport?: TransportKind): Promise<DeviceSession> {
    if (transport !== undefined && transport !== this.options.transport) {
      throw new TargetError(
        `QEMU target ${this.info.name} runs on the ${this.options.transport} transport, not on ${transport}`,
      );
    }
    const session = new QemuDeviceSession(this.info, this.options);
    await session.launch();
    return session;
  }
}

interface Located {
  /** MMIO: the window's base; PCI: the device number on bus 0. */
  where: number;
  /** The interrupt controller input that carries the device's interrupt. */
  irq: number;
  deviceId: number;
}

class QemuDeviceSession implements DeviceSession {
  readonly capabilities: Capabilities = {
    registers: true,
    memory: true,
    interrupts: true,
    memoryTrace: false,
    configChange: false,
    wire: false,
  };
  readonly transport: QemuTransport;
  readonly registers: RegisterSpace;
  readonly memory: GuestMemory;
  readonly pci?: PciFunctionAccess;
  readonly machine: QemuMachine;
  #qemu: QemuProcess | undefined;
  #located: Located | undefined;
  #closed = false;
  #wire: SocketWire | undefined;
  /** Milliseconds the last QEMU start took (spawn to located device). */
  lastStartMs = 0;

  constructor(readonly info: DeviceTargetInfo, readonly options: QemuTargetOptions) {
    this.transport = options.transport;
    this.machine = machineFor(options.transport);
    this.capabilities.wire = options.wire === true;
    // QEMU's own device models write the used index and raise the interrupt (an INTx change qtest reports at once, or
    // an MSI-X write to guest memory) in one step of QEMU's main loop, and qtest answers requests in order. A
    // vhost-user back end is another process whose notifications QEMU relays later: no such order.
    this.capabilities.orderedNotifications = !options.backEnd;
    const ramMiB = options.memoryMiB ?? 128;
    const wrap = (e: unknown) => this.#wrap(e);
    this.memory = this.machine === "virt"
      ? new QtestMemory(() => this.#live().qtest, VIRT_RAM_BASE, ramMiB << 20, wrap)
      : new QtestMemory(() => this.#live().qtest, Q35_RAM_BASE, (ramMiB << 20) - Q35_RAM_BASE, wrap);
    if (this.machine === "q35" && ramMiB <= 16) {
      throw new TargetError(`QEMU q35 targets need more than 16 MiB of RAM, got ${ramMiB} MiB`);
    }
    if (this.machine === "virt") {
      this.registers = this.#space("MMIO window", VIRT_MMIO_STRIDE, (o) => this.#loc().where + o, "mem");
    } else {
      const config = this.#configSpace();
      this.registers = config;
      this.pci = {
        config,
        memory: this.#space("PCI memory", 2 ** 32, (o) => o, "mem"),
        memoryWindow: { ...Q35_MEMORY_WINDOW },
        io: this.#space("PCI I/O", 0x10000, (o) => o, "io"),
        ioWindow: { ...Q35_IO_WINDOW },
      };
    }
  }

  /** The running QEMU (for tests and diagnostics). */
  get qemu(): QemuProcess | undefined {
    return this.#qemu;
  }

  #live(): QemuProcess {
    if (this.#closed) throw new TargetError(`QEMU session ${this.info.name} is closed`);
    if (!this.#qemu) throw new TargetError(`QEMU session ${this.info.name} has no running QEMU`);
    return this.#qemu;
  }

  #loc(): Located {
    if (!this.#located) throw new TargetError(`QEMU session ${this.info.name} has not located its device`);
    return this.#located;
  }

  /** Turns any failure of a qtest call into a TargetError that says what QEMU did. */
  #wrap(e: unknown): Error {
    if (e instanceof TargetError) return e;
    const qemu = this.#qemu;
    if (e instanceof QtestError) {
      if ((e.kind === "closed" || e.kind === "timeout") && qemu) return ended(qemu, e.message);
      return new TargetError(e.message);
    }
    return e instanceof Error ? e : new TargetError(String(e));
  }

  async #call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      const err = this.#wrap(e);
      const qemu = this.#qemu;
      if (qemu && err instanceof TargetError && qemu.qtest.failure && qemu.status === undefined) {
        // Give a dying QEMU a moment so the message carries its exit status and last words.
        await Promise.race([qemu.exited, new Promise((r) => setTimeout(r, 300))]);
        throw ended(qemu, qemu.qtest.failure.message);
      }
      throw err;
    }
  }

  #space(what: string, size: number, addr: (offset: number) => number, kind: "mem" | "io"): RegisterSpace {
    const check = (offset: number, width: Width) => {
      if (!Number.isSafeInteger(offset) || offset < 0 || offset + width > size || ![1, 2, 4].includes(width)) {
        throw new TargetError(
          `Bad ${what} access: offset 0x${offset.toString(16)} width ${width} is outside 0..0x${size.toString(16)}`,
        );
      }
    };
    return {
      read: (offset, width) => {
        check(offset, width);
        return this.#call(() => {
          const q = this.#live().qtest;
          const a = addr(offset);
          if (kind === "io") return width === 1 ? q.inb(a) : width === 2 ? q.inw(a) : q.inl(a);
          return width === 1 ? q.readb(a) : width === 2 ? q.readw(a) : q.readl(a);
        });
      },
      write: (offset, width, value) => {
        check(offset, width);
        return this.#call(() => {
          const q = this.#live().qtest;
          const a = addr(offset);
          const v = width === 4 ? value >>> 0 : value & (width === 1 ? 0xff : 0xffff);
          if (kind === "io") return width === 1 ? q.outb(a, v) : width === 2 ? q.outw(a, v) : q.outl(a, v);
          return width === 1 ? q.writeb(a, v) : width === 2 ? q.writew(a, v) : q.writel(a, v);
        });
      },
    };
  }

  /** PCI configuration space of the located function through 0xcf8/0xcfc. */
  #configSpace(): RegisterSpace {
    const check = (offset: number, width: Width) => {
      if (!Number.isSafeInteger(offset) || offset < 0 || offset + width > 256 || offset % width !== 0) {
        throw new TargetError(
          `Bad PCI configuration access: offset 0x${offset.toString(16)} width ${width} (must be aligned, below 0x100)`,
        );
      }
    };
    const address = (offset: number) => (0x8000_0000 | (this.#loc().where << 11) | (offset & 0xfc)) >>> 0;
    return {
      read: (offset, width) => {
        check(offset, width);
        return this.#call(async () => {
          const q = this.#live().qtest;
          const [, v] = await Promise.all([
            q.outl(PCI_CONFIG_ADDRESS, address(offset)),
            width === 1
              ? q.inb(PCI_CONFIG_DATA + (offset & 3))
              : width === 2
              ? q.inw(PCI_CONFIG_DATA + (offset & 2))
              : q.inl(PCI_CONFIG_DATA),
          ]);
          return v;
        });
      },
      write: (offset, width, value) => {
        check(offset, width);
        return this.#call(async () => {
          const q = this.#live().qtest;
          await Promise.all([
            q.outl(PCI_CONFIG_ADDRESS, address(offset)),
            width === 1
              ? q.outb(PCI_CONFIG_DATA + (offset & 3), value & 0xff)
              : width === 2
              ? q.outw(PCI_CONFIG_DATA + (offset & 2), value & 0xffff)
              : q.outl(PCI_CONFIG_DATA, value >>> 0),
          ]);
        });
      },
    };
  }

  #launchArgs(): { binary: string; args: string[]; drive: boolean } {
    const o = this.options;
    const ram = `${o.memoryMiB ?? 128}M`;
    let device = o.device;
    const drive = o.driveMiB !== undefined;
    if (o.backEnd) {
      if (!/(^|,)chardev=/.test(device)) device += `,chardev=${BACK_END_CHARDEV}`;
    } else if (drive && !/(^|,)drive=/.test(device)) device += ",drive=drive0";
    if (this.options.wire && !/(^|,)netdev=/.test(device)) device += `,netdev=${WIRE_NETDEV}`;
    const args = this.machine === "virt" ? ["-M", "virt", "-cpu", "cortex-a57", "-m", ram] : ["-M", "q35", "-m", ram];
    // The back end maps guest RAM: it must be shared memory it can receive (a memfd).
    if (o.backEnd) {
      args.push("-object", `memory-backend-memfd,id=mem,size=${ram},share=on`, "-machine", "memory-backend=mem");
    }
    if (this.transport === "mmio") args.push("-global", "virtio-mmio.force-legacy=false");
    args.push("-device", device, ...(this.#wire?.netdevArgs(WIRE_NETDEV) ?? []), ...(o.extraArgs ?? []));
    return { binary: o.binary ?? defaultBinary(this.machine), args, drive };
  }

  /** Starts QEMU, finds the device and intercepts its interrupt controller. */
  async launch(): Promise<void> {
    const started = performance.now();
    this.#wire?.close();
    this.#wire = this.options.wire ? await SocketWire.listen() : undefined;
    const { binary, args, drive } = this.#launchArgs();
    const driveMiB = this.options.driveMiB;
    const qemu = await QemuProcess.start({
      binary,
      args,
      firmware: this.machine === "virt" ? "aarch64" : "x86_64",
      tempRoot: this.options.tempRoot ?? DEFAULT_TEMP_ROOT,
      ...(this.options.startTimeoutMs ? { startTimeoutMs: this.options.startTimeoutMs } : {}),
      ...(this.options.commandTimeoutMs ? { commandTimeoutMs: this.options.commandTimeoutMs } : {}),
      // Register and memory writes are posted: QEMU executes qtest commands in order, so every read that follows
      // sees them done; the interrupt level is read after a sync (see interruptLevel).
      postWrites: true,
      ...(this.options.backEnd ? { backEnd: this.options.backEnd } : {}),
      ...(drive
        ? {
          prepare: async (dir: string) => {
            const path = `${dir}/drive0.raw`;
            const f = await Deno.open(path, { write: true, create: true, truncate: true });
            try {
              await f.truncate((driveMiB ?? 0) * 1024 * 1024);
            } finally {
              f.close();
            }
            // A back end serves the image itself.
            return this.options.backEnd ? [] : [
              "-drive",
              `if=none,id=drive0,format=raw,file=${path}${this.options.driveReadOnly ? ",readonly=on" : ""}`,
            ];
          },
        }
        : {}),
    });
    this.#qemu = qemu;
    try {
      await this.#wire?.connected(this.options.startTimeoutMs ?? 15_000);
      this.#located = this.machine === "virt" ? await this.#locateMmio() : await this.#locatePci();
      await this.#call(async () => this.#live().qtest.irqInterceptIn(await this.#interruptController()));
    } catch (e) {
      await qemu.close();
      this.#qemu = undefined;
      throw this.#wrap(e);
    }
    this.lastStartMs = performance.now() - started;
  }

  #pick(found: { where: number; deviceId: number; irq: number }[], what: string): Located {
    const want = this.options.deviceType ? DEVICE_IDS[this.options.deviceType] : undefined;
    const hit = want === undefined ? found[0] : found.find((f) => f.deviceId === want);
    if (!hit) {
      const seen = found.length ? found.map((f) => `device ID ${f.deviceId}`).join(", ") : "nothing";
      throw new TargetError(
        `QEMU target ${this.info.name}: no virtio ${
          this.options.deviceType ?? ""
        } device in the ${what} (found ${seen}); check "device": ${this.options.device}`,
      );
    }
    return hit;
  }

  async #locateMmio(): Promise<Located> {
    const q = this.#live().qtest;
    const ids = await this.#call(() =>
      Promise.all(
        Array.from({ length: VIRT_MMIO_SLOTS }, (_, i) => q.readl(VIRT_MMIO_BASE + i * VIRT_MMIO_STRIDE + 8)),
      )
    );
    const found = ids.map((deviceId, slot) => ({
      where: VIRT_MMIO_BASE + slot * VIRT_MMIO_STRIDE,
      deviceId,
      irq: VIRT_MMIO_FIRST_IRQ + slot,
    })).filter((f) => f.deviceId !== 0).reverse(); // the first -device lands in the highest slot
    return this.#pick(found, "virtio-mmio windows");
  }

  async #locatePci(): Promise<Located> {
    const q = this.#live().qtest;
    const words = await this.#call(() =>
      Promise.all(
        Array.from({ length: 32 }, async (_, dev) => {
          const [, id] = await Promise.all([
            q.outl(PCI_CONFIG_ADDRESS, (0x8000_0000 | (dev << 11)) >>> 0),
            q.inl(PCI_CONFIG_DATA),
          ]);
          const [, pin] = await Promise.all([
            q.outl(PCI_CONFIG_ADDRESS, (0x8000_0000 | (dev << 11) | 0x3c) >>> 0),
            q.inb(PCI_CONFIG_DATA + 1),
          ]);
          return { dev, id, pin };
        }),
      )
    );
    const found = words.filter((w) => (w.id & 0xffff) === VIRTIO_VENDOR).map((w) => {
      const pciId = w.id >>> 16;
      const deviceId = pciId >= 0x1040 ? pciId - 0x1040 : TRANSITIONAL[pciId] ?? 0;
      return { where: w.dev, deviceId, irq: q35IntxGsi(w.dev, w.pin) };
    });
    return this.#pick(found, "PCI functions of bus 0");
  }

  async #interruptController(): Promise<string> {
    if (this.machine === "q35") return "ioapic";
    const qemu = this.#live();
    const children = await qemu.qmp.execute("qom-list", { path: "/machine/unattached" }, 5000).catch((e) => {
      throw new TargetError(`QMP qom-list failed: ${e instanceof Error ? e.message : e}`);
    }) as { name: string; type: string }[];
    const gic = children.find((c) => /^child<arm[_-]gic(v3)?>$/.test(c.type));
    if (!gic) {
      throw new TargetError(
        `QEMU target ${this.info.name}: no GIC under /machine/unattached (types: ${
          [...new Set(children.map((c) => c.type))].slice(0, 12).join(", ")
        })`,
      );
    }
    return `/machine/unattached/${gic.name}`;
  }

  interruptLevel(): Promise<boolean> {
    return this.#call(async () => {
      const qtest = this.#live().qtest;
      // The lines QEMU reported while executing the posted writes arrive before their answers.
      await qtest.sync();
      return qtest.irqLevel(this.#loc().irq);
    });
  }

  /**
   * Polls `until` (about every millisecond, and at once on an interrupt
   * change) for up to `ms`; without `until` lets QEMU run for `ms`. Throws a
   * TargetError as soon as QEMU dies.
   */
  async settle(ms: number, until?: () => Promise<boolean>): Promise<void> {
    const qemu = this.#live();
    const deadline = Date.now() + Math.max(0, ms);
    for (;;) {
      if (qemu.status !== undefined || qemu.qtest.failure) {
        await this.#call(() => qemu.qtest.command("endianness"));
      }
      if (until && await until()) return;
      const left = deadline - Date.now();
      if (left <= 0) return;
      let timer: ReturnType<typeof setTimeout> | undefined;
      let off: (() => void) | undefined;
      await Promise.race([
        new Promise((r) => timer = setTimeout(r, until ? Math.min(1, left) : left)),
        new Promise((r) => off = qemu.qtest.onIrq(() => r(undefined))),
        qemu.qtest.done,
      ]);
      clearTimeout(timer);
      off?.();
    }
  }

  /**
   * Brings the device back to power-on state: QMP `system_reset` (waiting
   * for the RESET event), then checks that the device is where it was;
   * starts a new QEMU when that fails or QEMU has died.
   */
  async restart(): Promise<void> {
    const qemu = this.#live();
    const relaunch = (this.options.restart ?? (this.options.backEnd ? "relaunch" : "reset")) === "relaunch";
    if (!relaunch && qemu.status === undefined && !qemu.qtest.failure) {
      try {
        let off: (() => void) | undefined;
        const reset = new Promise<void>((resolve) => off = qemu.qmp.onEvent((e) => e.event === "RESET" && resolve()));
        await qemu.qmp.execute("system_reset", undefined, 5000);
        let timer: ReturnType<typeof setTimeout> | undefined;
        const ok = await Promise.race([
          reset.then(() => true),
          new Promise<boolean>((r) => timer = setTimeout(() => r(false), 5000)),
        ]);
        clearTimeout(timer);
        off?.();
        const before = this.#located;
        if (ok && before) {
          const now = this.machine === "virt" ? await this.#locateMmio() : await this.#locatePci();
          if (now.where === before.where && now.deviceId === before.deviceId) return;
        }
      } catch {
        // fall through to a new process
      }
    }
    await qemu.close();
    this.#qemu = undefined;
    this.#located = undefined;
    await this.launch();
  }

  describe(): string {
    return this.#qemu?.describe() ?? "no QEMU is running";
  }

  /** The device's link, when the target owns it (`wire` option). */
  get wire(): NetWire | undefined {
    if (!this.options.wire) return undefined;
    const live = () => {
      this.#live();
      if (!this.#wire) throw new TargetError(`QEMU session ${this.info.name} has no wire`);
      return this.#wire;
    };
    return {
      takeTransmitted: () => this.#call(() => live().takeTransmitted()),
      inject: (frame) => this.#call(() => live().inject(frame)),
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#qemu?.close();
    this.#qemu = undefined;
    this.#wire?.close();
    this.#wire = undefined;
  }
}

/** Transitional PCI device IDs (0x1000 + n) by virtio device ID. */
const TRANSITIONAL: Readonly<Record<number, number>> = {
  0x1000: 1,
  0x1001: 2,
  0x1002: 5,
  0x1003: 3,
  0x1004: 8,
  0x1005: 4,
  0x1009: 9,
};

/**
 * The I/O APIC input carrying INTx of a device on q35's bus 0 without
 * firmware: ICH9 routes device `d` pin `p` (1 = INTA) to PIRQ E..H, i.e.
 * `((d + p - 1) % 4) + 4`, and PIRQ n reaches I/O APIC input 16 + n.
 */
export function q35IntxGsi(device: number, pin: number): number {
  return 16 + ((device + Math.max(pin, 1) - 1) % 4) + 4;
}
