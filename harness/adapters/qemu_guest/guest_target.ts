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
  type WorkloadResult,
} from "../../adapter.ts";
import type { DeviceTypeName, TransportKind } from "../../features.ts";
import { DEFAULT_TEMP_ROOT } from "../qemu/qemu_process.ts";
import { GuestProcess } from "./guest_process.ts";
import { TraceFilter, type TraceWindow } from "./qemu_trace.ts";
import {
  LINUX_DEVICE_TYPES,
  linuxInit,
  linuxInitramfs,
  type LinuxParts,
  type LinuxWorkload,
  parseLinuxReport,
} from "./linux_guest.ts";

/** Guests this adapter can drive. */
export const GUESTS = ["u-boot", "linux"] as const;
/** A guest this adapter can drive. */
export type GuestKind = typeof GUESTS[number];

/**
 * Workloads a guest target can declare (the contract's kinds; a write fills its sectors with one byte;
 * `rng-read` on Linux only).
 */
export type GuestWorkload = LinuxWorkload;

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
   * `virtio-blk-pci,drive=drive0,disable-legacy=on,ioeventfd=off,addr=5.0` on PCI); extra properties vary the
   * device. Keep `ioeventfd=off`: notifications taken by an ioeventfd never reach QEMU's trace.
   */
  device?: string;
  /** U-Boot: the firmware image (default Debian's U-Boot for the transport's machine, from `u-boot-qemu`). */
  firmware?: string;
  /** Linux: the kernel image (default `.cache/linux/vmlinuz`, see `.ci/fetch-linux`). */
  kernel?: string;
  /** Linux: the folder holding the kernel's virtio modules (default `.cache/linux/modules`). */
  modules?: string;
  /** Linux: a static busybox for the initramfs (default `.cache/linux/busybox`). */
  busybox?: string;
  /** The QEMU binary (default `qemu-system-aarch64` on MMIO, `qemu-system-x86_64` on PCI). */
  binary?: string;
  /** The disk image's size in MiB (default 1); sector n starts with the text `virtio-conformance sector n`. */
  driveMiB?: number;
  /** The work the driver does after its probe, in order (default: read sector 0). */
  workloads?: GuestWorkload[];
  /** More QEMU arguments. */
  extraArgs?: string[];
  /** U-Boot: deadline of the boot to the first prompt (default 20000 ms); Linux: of the whole run (60000 ms). */
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
const PCI_REGION_NAMES: Partial<Record<DeviceTypeName, string>> = { blk: "virtio-blk", rng: "virtio-rng" };

/**
 * QEMU's PCI device of a type, modern only, in slot {@link PCI_SLOT}, with `ioeventfd=off`: with an ioeventfd
 * a notification is taken before QEMU's memory core traces it, and the driver's notifications would be missing.
 */
const PCI_DEVICES: Partial<Record<DeviceTypeName, string>> = {
  blk: `virtio-blk-pci,drive=drive0,disable-legacy=on,ioeventfd=off,addr=${PCI_SLOT}.0`,
  rng: `virtio-rng-pci,disable-legacy=on,ioeventfd=off,addr=${PCI_SLOT}.0`,
};

function platform(o: GuestTargetOptions): Platform {
  const { transport, device, deviceType } = o;
  if (transport === "pci") {
    const dev = device ?? PCI_DEVICES[deviceType] ?? `${deviceType}?`;
    const slot = /(?:^|,)addr=(?:0x)?([0-9a-f]+)/i.exec(dev)?.[1];
    const n = slot === undefined ? PCI_SLOT : parseInt(slot, 16);
    const two = n.toString(16).padStart(2, "0");
    return {
      // U-Boot finds no virtio device on q35; on the i440FX machine it does.
      binary: "qemu-system-x86_64",
      machine: o.guest === "linux" ? ["-accel", "tcg", "-M", "q35"] : ["-M", "pc"],
      firmware: "/usr/lib/u-boot/qemu-x86_64/u-boot.rom",
      device: dev,
      buffer: 0x0100_0000,
      window: {
        pci: { device: dev.split(",")[0]!, address: `00:${two}.0`, regions: PCI_REGION_NAMES[deviceType] ?? "" },
        marker: { pciConfig: PCI_MARKER },
        // Linux: the firmware (SeaBIOS) probes a bootable disk before the kernel starts.
        firstAtMarker: o.guest === "linux",
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
    case "rng-read":
      throw new TargetError("U-Boot has no virtio-rng driver: rng-read is a Linux workload");
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
    if (!GUESTS.includes(options.guest)) {
      throw new TargetError(`The qemu-guest adapter cannot run guest ${options.guest}`);
    }
    const transports: TransportKind[] = options.guest === "linux" ? ["pci"] : ["mmio", "pci"];
    if (!transports.includes(options.transport)) {
      throw new TargetError(
        `The qemu-guest adapter runs ${options.guest} over ${transports.join(" or ")}, not ${options.transport}`,
      );
    }
    const types: readonly DeviceTypeName[] = options.guest === "linux" ? LINUX_DEVICE_TYPES : ["blk"];
    if (!types.includes(options.deviceType)) {
      throw new TargetError(`The qemu-guest adapter drives ${types.join(", ")} with ${options.guest}`);
    }
    this.#platform = platform(options);
    this.info = {
      name: options.name,
      adapter: "qemu-guest",
      contractVersion: ADAPTER_CONTRACT_VERSION,
      transports: [options.transport],
      deviceTypes: [options.deviceType],
      workloads: [...new Set(this.workloads.map((w) => w.kind))],
    };
  }

  /** The files the guest needs on this machine (firmware, or kernel, modules and busybox), for a check first. */
  get needs(): string[] {
    if (this.options.guest !== "linux") return [this.firmware];
    const l = this.linuxParts;
    return [l.kernel, l.modules, l.busybox];
  }

  /** The firmware image the guest boots. */
  get firmware(): string {
    return this.options.firmware ?? this.#platform.firmware;
  }

  get workloads(): GuestWorkload[] {
    if (this.options.workloads) return this.options.workloads;
    return this.options.deviceType === "rng"
      ? [{ kind: "rng-read", bytes: 16 }]
      : [{ kind: "blk-read", sector: 0, sectors: 1 }];
  }

  /** Linux: where the kernel, its modules and busybox are. */
  get linuxParts(): LinuxParts {
    return {
      kernel: this.options.kernel ?? ".cache/linux/vmlinuz",
      modules: this.options.modules ?? ".cache/linux/modules",
      busybox: this.options.busybox ?? ".cache/linux/busybox",
    };
  }

  attach(): Promise<DriverSession> {
    return Promise.reject(
      new TargetError(`${this.info.name} is a real driver beside its own device: it is watched, not attached`),
    );
  }

  /** The QEMU command line, with the disk image at `disk` (and on Linux the initramfs at `initrd`). */
  args(disk: string, initrd?: string): string[] {
    const o = this.options;
    const p = this.#platform;
    const boot = o.guest === "linux"
      ? ["-kernel", this.linuxParts.kernel, "-initrd", initrd ?? "", "-append", "console=ttyS0 quiet panic=-1"]
      : ["-bios", this.firmware];
    const drive = o.deviceType === "blk" ? ["-drive", `if=none,id=drive0,file=${disk},format=raw`] : [];
    return [
      ...p.machine,
      "-m",
      o.guest === "linux" ? "512M" : "256M",
      "-display",
      "none",
      "-nodefaults",
      "-serial",
      "stdio",
      "-no-reboot",
      ...boot,
      ...drive,
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
    const linux = this.options.guest === "linux";
    const window: TraceWindow = {
      ...this.#platform.window,
      phases: [
        { phase: "probe" },
        ...work.map((_, index) => ({ phase: "workload" as const, index })),
        ...(linux ? [{ phase: "remove" as const }] : []),
        { phase: "end" },
      ],
    };
    const filter = new TraceFilter(window);
    let dir: string;
    let initrd: string | undefined;
    try {
      await Deno.mkdir(DEFAULT_TEMP_ROOT, { recursive: true });
      dir = await Deno.makeTempDir({ dir: DEFAULT_TEMP_ROOT, prefix: "guest-" });
      await Deno.writeFile(`${dir}/disk.raw`, diskImage(this.options.driveMiB ?? 1));
    } catch (e) {
      throw new TargetError(`Cannot prepare the guest's disk under ${DEFAULT_TEMP_ROOT}: ${(e as Error).message}`);
    }
    if (linux) {
      try {
        initrd = `${dir}/initrd.cpio`;
        const address = `0000:${window.pci!.address}`;
        const type = this.options.deviceType as "blk" | "rng";
        await Deno.writeFile(initrd, await linuxInitramfs(this.linuxParts, type, linuxInit(type, address, work)));
      } catch (e) {
        await Deno.remove(dir, { recursive: true }).catch(() => {});
        throw new TargetError(
          `Cannot build the Linux guest's initramfs (run .ci/fetch-linux first?): ${(e as Error).message}`,
        );
      }
    }
    const guest = GuestProcess.start(
      this.options.binary ?? this.#platform.binary,
      this.args(`${dir}/disk.raw`, initrd),
      dir,
      filter,
    );
    try {
      const { probe, results } = linux
        ? await this.#runLinux(guest, request.signal)
        : await this.#runUboot(guest, request.signal);
      // The end marker's trace line may still be on its way through QEMU's stderr.
      const end = (window.phases?.length ?? 1) - 1;
      if (!await until(() => filter.reached(end), 2000)) {
        throw new TargetError(`The guest's trace never showed the end marker: ${guest.describe()}`);
      }
      return { steps: filter.steps, probe, results, console: guest.console.slice(-4096) };
    } finally {
      await guest.close();
    }
  }

  /** Linux runs its script alone: wait for the end (bounded), then read the report. */
  async #runLinux(guest: GuestProcess, signal?: AbortSignal): Promise<Pick<WatchedRun, "probe" | "results">> {
    const ms = this.options.bootTimeoutMs ?? 60_000;
    await guest.waitFor(/@@ end/, ms, "the end of the Linux guest's script ('@@ end')", 0, signal);
    const report = parseLinuxReport(guest.console, this.workloads.length);
    const probe: ProbeResult = report.bound
      ? { bound: true }
      : { bound: false, error: `the driver did not bind${report.problems.length ? `: ${report.problems}` : ""}` };
    const results: WorkloadResult[] = report.work.map((status, i) =>
      status === 0 ? { ok: true } : {
        ok: false,
        error: status === undefined ? `workload ${i} never reported` : `workload ${i} exited with ${status}`,
      }
    );
    return { probe, results };
  }

  /** U-Boot is driven at its prompt: scan, then each workload behind a marker, then the end marker. */
  async #runUboot(guest: GuestProcess, signal?: AbortSignal): Promise<Pick<WatchedRun, "probe" | "results">> {
    const p = this.#platform;
    const cmdMs = this.options.commandTimeoutMs ?? 10_000;
    const bootMs = this.options.bootTimeoutMs ?? 20_000;
    await guest.waitFor(/Hit any key to stop autoboot/, bootMs, "U-Boot's autoboot countdown", 0, signal);
    let from = guest.position;
    await guest.type(" ");
    await guest.waitFor(PROMPT, cmdMs, "the U-Boot prompt", from, signal);
    const run = async (command: string, what: string): Promise<string> => {
      from = guest.position;
      await guest.type(`${command}\r`);
      return await guest.waitFor(PROMPT, cmdMs, what, from, signal);
    };
    const scanned = await run("virtio scan; virtio info", "the end of 'virtio info'");
    const device = /Device \d+: ([^\r\n]*)/.exec(scanned);
    const probe: ProbeResult = device
      ? { bound: true }
      : { bound: false, error: `U-Boot found no virtio block device: ${scanned.trim().slice(-200)}` };
    const results: WorkloadResult[] = [];
    for (const w of this.workloads) {
      const { command, ok } = ubootCommand(w, p.buffer);
      const out = await run(`${p.marker}; ${command}`, `the end of '${command}'`);
      results.push(ok.test(out) ? { ok: true } : { ok: false, error: out.trim().split(/\r?\n/).slice(-2).join(" ") });
    }
    await run(p.marker, "the end marker");
    return { probe, results };
  }
}
