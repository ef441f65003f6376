/**
 * The `qemu-guest` adapter: a real driver (U-Boot's virtio-blk driver, over MMIO on arm64 `virt` and over PCI on x86 `pc`)
 * boots in a QEMU guest beside QEMU's own device model, and the harness
 * watches it at the transport through QEMU's trace, typing the workloads on
 * the guest's serial console. The target is a watched driver target
 * ({@link DriverTarget.watch}): each call boots the guest from power-on,
 * runs the probe and every declared workload, and returns every step the
 * driver took at the device's registers, its interrupt line and the phase
 * markers.
 *
 * Phases are marked in the trace itself: before each workload (and at the
 * end) the guest reads an address outside the device's window
 * ({@link UBOOT_MARKER}), so phase and access order come from one stream.
 *
 * @module
 */
import {
  ADAPTER_CONTRACT_VERSION,
  type DriverSession,
  type DriverTarget,
  type DriverTargetInfo,
  type ProbeResult,
  TargetError,
  type WatchedRun,
  type WatchRequest,
  type Workload,
  type WorkloadResult,
} from "../../adapter.ts";
import type { DeviceTypeName, TransportKind } from "../../features.ts";
import { DEFAULT_TEMP_ROOT } from "../qemu/qemu_process.ts";
import { GuestProcess } from "./guest_process.ts";
import { TraceFilter, type TraceWindow } from "./qemu_trace.ts";

/** Guests this adapter can drive. */
export const GUESTS = ["u-boot"] as const;
/** A guest this adapter can drive. */
export type GuestKind = typeof GUESTS[number];

/** Workloads a guest target can declare (the contract's kinds; a write fills its sectors with one byte). */
export type GuestWorkload =
  | { kind: "blk-read"; sector: number; sectors: number }
  | { kind: "blk-write"; sector: number; sectors: number; fill: number };

/** What a `qemu-guest` target file's `options` hold. */
export interface GuestTargetOptions {
  name: string;
  /** The guest software that holds the driver under test. */
  guest: GuestKind;
  /** The transport of the device: `mmio` (QEMU's arm64 `virt` machine) or `pci` (x86_64 `pc`, modern only). */
  transport: TransportKind;
  /** The device type QEMU presents (today `blk`). */
  deviceType: DeviceTypeName;
  /**
   * The `-device` argument (default `virtio-blk-device,drive=drive0` on MMIO,
   * `virtio-blk-pci,drive=drive0,disable-legacy=on,addr=5.0` on PCI); extra properties vary the device.
   */
  device?: string;
  /** The firmware image (default Debian's U-Boot for the transport's machine, from `u-boot-qemu`). */
  firmware?: string;
  /** The QEMU binary (default `qemu-system-aarch64` on MMIO, `qemu-system-x86_64` on PCI). */
  binary?: string;
  /** The disk image's size in MiB (default 1); sector n starts with the text `virtio-conformance sector n`. */
  driveMiB?: number;
  /** The work the driver does after its probe, in order (default: read sector 0). */
  workloads?: GuestWorkload[];
  /** More QEMU arguments. */
  extraArgs?: string[];
  /** Deadline of the boot to the first prompt (default 20000 ms). */
  bootTimeoutMs?: number;
  /** Deadline of each console command (default 10000 ms). */
  commandTimeoutMs?: number;
}

/** QEMU arm64 `virt`: the first `-device` lands in the last of 32 virtio-mmio slots. */
export const VIRT_MMIO = { base: 0x0a00_3e00, size: 0x200 } as const;
/** The MMIO phase marker: ConfigGeneration of the first virtio-mmio slot, which holds no device. */
export const UBOOT_MARKER = 0x0a00_00fc;
/** The PCI phase marker: the last dword of the function's configuration header, which no driver needs. */
export const PCI_MARKER = 0xfc;
/** Where the PCI device sits (bus 0, device 5, function 0). */
const PCI_SLOT = 5;

/** How a transport's guest is set up: machine, firmware, device, where its accesses land, how phases are marked. */
interface Platform {
  binary: string;
  machine: string[];
  firmware: string;
  device: string;
  /** Where U-Boot's workloads put their data (in guest RAM). */
  buffer: number;
  window: Omit<TraceWindow, "phases">;
  /** The U-Boot command that makes the marker access. */
  marker: string;
}

/** The QEMU region names of a device type's virtio-pci structures end with this. */
const PCI_REGION_NAMES: Partial<Record<DeviceTypeName, string>> = { blk: "virtio-blk" };

function platform(transport: TransportKind, device: string | undefined): Platform {
  if (transport === "pci") {
    const dev = device ?? `virtio-blk-pci,drive=drive0,disable-legacy=on,addr=${PCI_SLOT}.0`;
    const slot = /(?:^|,)addr=(?:0x)?([0-9a-f]+)/i.exec(dev)?.[1];
    const n = slot === undefined ? PCI_SLOT : parseInt(slot, 16);
    const two = n.toString(16).padStart(2, "0");
    return {
      // U-Boot finds no virtio device on q35; on the i440FX machine it does.
      binary: "qemu-system-x86_64",
      machine: ["-M", "pc"],
      firmware: "/usr/lib/u-boot/qemu-x86_64/u-boot.rom",
      device: dev,
      buffer: 0x0100_0000,
      window: {
        pci: { device: dev.split(",")[0]!, address: `00:${two}.0`, regions: PCI_REGION_NAMES.blk! },
        marker: { pciConfig: PCI_MARKER },
      },
      marker: `pci display.l 00.${two}.00 0x${PCI_MARKER.toString(16)} 1`,
    };
  }
  return {
    binary: "qemu-system-aarch64",
    machine: ["-M", "virt", "-cpu", "cortex-a57", "-global", "virtio-mmio.force-legacy=false"],
    firmware: "/usr/lib/u-boot/qemu_arm64/u-boot.bin",
    device: device ?? "virtio-blk-device,drive=drive0",
    buffer: 0x4020_0000,
    window: { mmio: VIRT_MMIO, marker: { address: UBOOT_MARKER } },
    marker: `md.l 0x${UBOOT_MARKER.toString(16)} 1`,
  };
}

const PROMPT = /\n=> $/;

/** The U-Boot command of a workload and how its success shows on the console. */
function ubootCommand(w: GuestWorkload, buffer: number): { command: string; ok: RegExp } {
  const h = (n: number) => `0x${n.toString(16)}`;
  switch (w.kind) {
    case "blk-read":
      return { command: `virtio read ${h(buffer)} ${h(w.sector)} ${h(w.sectors)}`, ok: /\d+ blocks read: OK/ };
    case "blk-write":
      return {
        command: `mw.b ${h(buffer)} ${h(w.fill & 0xff)} ${h(512 * w.sectors)}; ` +
          `virtio write ${h(buffer)} ${h(w.sector)} ${h(w.sectors)}`,
        ok: /\d+ blocks written: OK/,
      };
  }
}

/** The contract's form of a guest workload. */
export function contractWorkload(w: GuestWorkload): Workload {
  return w.kind === "blk-read"
    ? w
    : { kind: "blk-write", sector: w.sector, data: new Uint8Array(512 * w.sectors).fill(w.fill) };
}

/** Polls `ok` every 10 ms for up to `ms`; whether it held. */
async function until(ok: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 10));
  }
  return true;
}

/** A disk image whose sector n starts with `virtio-conformance sector n`. */
function diskImage(mib: number): Uint8Array {
  const img = new Uint8Array(mib << 20);
  const enc = new TextEncoder();
  for (let s = 0; s < img.length / 512; s++) img.set(enc.encode(`virtio-conformance sector ${s}`), 512 * s);
  return img;
}

/**
 * A real driver in a QEMU guest, watched.
 *
 * @example
 * ```ts ignore
 * const target = new GuestDriverTarget({ name: "uboot", guest: "u-boot", transport: "mmio", deviceType: "blk" });
 * const run = await target.watch({ transport: "mmio" });
 * console.log(run.probe.bound, run.steps.length);
 * ```
 */
export class GuestDriverTarget implements DriverTarget {
  readonly role = "driver" as const;
  readonly info: DriverTargetInfo;
  readonly #platform: Platform;
  constructor(readonly options: GuestTargetOptions) {
    if (options.guest !== "u-boot") throw new TargetError(`The qemu-guest adapter cannot run guest ${options.guest}`);
    if (options.transport !== "mmio" && options.transport !== "pci") {
      throw new TargetError(`The qemu-guest adapter runs U-Boot over mmio or pci, not ${options.transport}`);
    }
    this.#platform = platform(options.transport, options.device);
    this.info = {
      name: options.name,
      adapter: "qemu-guest",
      contractVersion: ADAPTER_CONTRACT_VERSION,
      transports: [options.transport],
      deviceTypes: [options.deviceType],
      workloads: [...new Set(this.workloads.map((w) => w.kind))],
    };
  }

  /** The firmware image the guest boots. */
  get firmware(): string {
    return this.options.firmware ?? this.#platform.firmware;
  }

  get workloads(): GuestWorkload[] {
    return this.options.workloads ?? [{ kind: "blk-read", sector: 0, sectors: 1 }];
  }

  attach(): Promise<DriverSession> {
    return Promise.reject(
      new TargetError(`${this.info.name} is a real driver beside its own device: it is watched, not attached`),
    );
  }

  /** The QEMU command line, with the disk image at `disk`. */
  args(disk: string): string[] {
    const o = this.options;
    const p = this.#platform;
    return [
      ...p.machine,
      "-m",
      "256M",
      "-display",
      "none",
      "-nodefaults",
      "-serial",
      "stdio",
      "-no-reboot",
      "-bios",
      this.firmware,
      "-drive",
      `if=none,id=drive0,file=${disk},format=raw`,
      "-device",
      p.device,
      "-trace",
      "memory_region_ops_read",
      "-trace",
      "memory_region_ops_write",
      ...(o.transport === "pci" ? ["-trace", "pci_cfg_read", "-trace", "pci_cfg_write"] : [
        "-trace",
        "virtio_mmio_setting_irq",
      ]),
      ...(o.extraArgs ?? []),
    ];
  }

  async watch(request: WatchRequest): Promise<WatchedRun> {
    if (request.transport !== this.options.transport) {
      throw new TargetError(`${this.info.name} runs on ${this.options.transport}, not on ${request.transport}`);
    }
    const work = this.workloads;
    const p = this.#platform;
    const window: TraceWindow = {
      ...p.window,
      phases: [{ phase: "probe" }, ...work.map((_, index) => ({ phase: "workload" as const, index })), {
        phase: "end",
      }],
    };
    const filter = new TraceFilter(window);
    let dir: string;
    try {
      await Deno.mkdir(DEFAULT_TEMP_ROOT, { recursive: true });
      dir = await Deno.makeTempDir({ dir: DEFAULT_TEMP_ROOT, prefix: "guest-" });
      await Deno.writeFile(`${dir}/disk.raw`, diskImage(this.options.driveMiB ?? 1));
    } catch (e) {
      throw new TargetError(`Cannot prepare the guest's disk under ${DEFAULT_TEMP_ROOT}: ${(e as Error).message}`);
    }
    const guest = GuestProcess.start(
      this.options.binary ?? p.binary,
      this.args(`${dir}/disk.raw`),
      dir,
      filter,
    );
    const signal = request.signal;
    const cmdMs = this.options.commandTimeoutMs ?? 10_000;
    try {
      await guest.waitFor(
        /Hit any key to stop autoboot/,
        this.options.bootTimeoutMs ?? 20_000,
        "U-Boot's autoboot countdown",
        0,
        signal,
      );
      let from = guest.position;
      await guest.type(" ");
      await guest.waitFor(PROMPT, cmdMs, "the U-Boot prompt", from, signal);
      const run = async (command: string, what: string): Promise<string> => {
        from = guest.position;
        await guest.type(`${command}\r`);
        return await guest.waitFor(PROMPT, cmdMs, what, from, signal);
      };
      const marker = p.marker;
      const scanned = await run("virtio scan; virtio info", "the end of 'virtio info'");
      const device = /Device \d+: ([^\r\n]*)/.exec(scanned);
      const probe: ProbeResult = device
        ? { bound: true }
        : { bound: false, error: `U-Boot found no virtio block device: ${scanned.trim().slice(-200)}` };
      const results: WorkloadResult[] = [];
      for (const w of work) {
        const { command, ok } = ubootCommand(w, p.buffer);
        const out = await run(`${marker}; ${command}`, `the end of '${command}'`);
        results.push(ok.test(out) ? { ok: true } : { ok: false, error: out.trim().split(/\r?\n/).slice(-2).join(" ") });
      }
      await run(marker, "the end marker");
      // The end marker's trace line may still be on its way through QEMU's stderr.
      const end = (window.phases?.length ?? 1) - 1;
      if (!await until(() => filter.reached(end), 2000)) {
        throw new TargetError(`The guest's trace never showed the end marker (${marker}): ${guest.describe()}`);
      }
      return { steps: filter.steps, probe, results, console: guest.console.slice(-4096) };
    } finally {
      await guest.close();
    }
  }
}
