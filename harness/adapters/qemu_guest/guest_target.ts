/**
 * The `qemu-guest` adapter: a real driver (U-Boot's, over MMIO on arm64 `virt` and over PCI on x86 `pc`; Linux's;
 * the PC firmware's, SeaBIOS booting from the disk) boots in a QEMU guest beside QEMU's own device model, and the
 * harness watches it at the transport through QEMU's trace, typing the workloads on the guest's serial console. The target is a watched driver target
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
  type DeviceVariation,
  type DeviceVariationKind,
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
import { bootSector, FIRMWARE_DEVICE_TYPES, parseBootSectorReport } from "./boot_sector.ts";
import { GuestProcess, withoutEscapes } from "./guest_process.ts";
import { TraceFilter, type TraceWindow } from "./qemu_trace.ts";
import { QmpClient } from "../qemu/qmp_client.ts";
import { RING_MAPPINGS, RingWatch, type WatchedQueue } from "./ring_watch.ts";
import { GdbClient } from "./gdb_client.ts";
import {
  type DeviceAction,
  isDeviceAction,
  linuxDrives,
  linuxInit,
  linuxInitramfs,
  type LinuxParts,
  type LinuxRemoval,
  type LinuxWorkload,
  parseLinuxReport,
} from "./linux_guest.ts";
import { errorText, hex } from "../../text.ts";

/** The device types U-Boot drives here. */
export const UBOOT_DEVICE_TYPES: readonly DeviceTypeName[] = ["blk", "net"];
/** The device types EDK2's OVMF drives here (its virtio-blk driver, used from the UEFI shell). */
export const UEFI_DEVICE_TYPES: readonly DeviceTypeName[] = ["blk"];

/** Guests this adapter can drive. */
export const GUESTS = ["u-boot", "linux", "seabios", "ovmf"] as const;
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
  /**
   * The transport of the device: `mmio` (QEMU's arm64 `virt` machine) or `pci` (x86_64 `pc`, or `q35` for Linux;
   * modern only). SeaBIOS: `pci` only.
   */
  transport: TransportKind;
  /** The device type QEMU presents (today `blk`). */
  deviceType: DeviceTypeName;
  /**
   * The `-device` argument (default `virtio-blk-device,drive=drive0` on MMIO,
   * `virtio-blk-pci,drive=drive0,disable-legacy=on,ioeventfd=off,addr=5.0` on PCI); extra properties vary the
   * device. Keep `ioeventfd=off`: notifications taken by an ioeventfd never reach QEMU's trace.
   */
  device?: string;
  /**
   * U-Boot: the firmware image (default Debian's U-Boot for the transport's machine, from `u-boot-qemu`);
   * SeaBIOS: a BIOS image (default QEMU's own, SeaBIOS).
   */
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
  /**
   * Watch the driver's accesses to its split rings through QEMU's gdbstub once its queues are live (default false):
   * the ring clauses judge the order of its ring writes then. Linux boots with `nokaslr` so that its direct map of
   * RAM is where the harness looks for it. Each access stops the guest a moment (a Linux run takes about a second
   * longer).
   */
  watchRings?: boolean;
  /**
   * The variations of the device the harness may ask for, each one more run of the driver (default all the target's
   * device can take: on PCI `transitional`, QEMU's `disable-legacy=off`, for the transitional device ID, and
   * `msix-vectors`, QEMU's `vectors`, for other MSI-X table sizes; on blk `read-only`, the drive's `readonly=on`). A
   * slow guest can list fewer.
   */
  variations?: DeviceVariationKind[];
  /**
   * Linux over PCI: how the device leaves the driver at the end (default `unbind`: the guest unbinds the driver).
   * `device-del` puts the device below a PCIe root port in the same slot and has QEMU unplug it (QMP `device_del`,
   * ACPI hot-plug): the driver's remove runs as the device goes away under it.
   */
  removal?: LinuxRemoval;
}

/** The device variations the `qemu-guest` adapter can give. */
export const DEVICE_VARIATION_KINDS: readonly DeviceVariationKind[] = ["transitional", "msix-vectors", "read-only"];

/** The variations a device of `type` on `transport` can take. */
export function variationsFor(transport: TransportKind, type: DeviceTypeName): DeviceVariationKind[] {
  return [
    ...(transport === "pci" ? ["transitional" as const, "msix-vectors" as const] : []),
    ...(type === "blk" ? ["read-only" as const] : []),
  ];
}

/** QEMU arm64 `virt`: the first `-device` lands in the last of 32 virtio-mmio slots. */
export const VIRT_MMIO = { base: 0x0a00_3e00, size: 0x200 } as const;
/** QEMU arm64 `virt`: its 32 virtio-mmio slots (the others hold placeholder devices, DeviceID 0). */
export const VIRT_MMIO_SLOTS = { base: 0x0a00_0000, size: 0x200, count: 32 } as const;
/** The MMIO phase marker: ConfigGeneration of the first virtio-mmio slot, which holds no device. */
export const UBOOT_MARKER = 0x0a00_00fc;
/** The PCI phase marker: the last dword of the function's configuration header, which no driver needs. */
export const PCI_MARKER = 0xfc;
/** Where the PCI device sits (bus 0, device 5, function 0). */
const PCI_SLOT = 5;
/** QEMU's id of the root port a device the run removes sits below. */
const ROOT_PORT_ID = "rp0";

/** How a transport's guest is set up: machine, firmware, device, where its accesses land, how phases are marked. */
interface Platform {
  binary: string;
  machine: string[];
  firmware: string;
  device: string;
  /** Where U-Boot's workloads put their data (in guest RAM). */
  buffer: number;
  /** The guest-physical address of the first byte of RAM. */
  ramBase: number;
  /** Where a driver may map guest RAM (offsets from guest-physical to virtual addresses), tried in order. */
  mappings: readonly bigint[];
  /** QEMU's watchpoints stop the guest before the access (arm64), not after it (x86). */
  watchStopsBefore: boolean;
  window: Omit<TraceWindow, "phases">;
  /** `-device` arguments that come before the device (the port a removable device sits below). */
  before: string[];
  /** QEMU's id of the device (for QMP `device_del`), when the run removes it. */
  removableId?: string;
  /** The U-Boot command that makes the marker access. */
  marker: string;
}

/** The QEMU region names of a device type's virtio-pci structures end with this. */
const PCI_REGION_NAMES: Partial<Record<DeviceTypeName, string>> = {
  blk: "virtio-blk",
  rng: "virtio-rng",
  net: "virtio-net",
  console: "virtio-serial",
};

/**
 * QEMU's PCI device of a type, modern only, in slot {@link PCI_SLOT}, with `ioeventfd=off`: with an ioeventfd
 * a notification is taken before QEMU's memory core traces it, and the driver's notifications would be missing.
 */
const PCI_DEVICES: Partial<Record<DeviceTypeName, string>> = {
  blk: `virtio-blk-pci,drive=drive0,disable-legacy=on,ioeventfd=off,addr=${PCI_SLOT}.0`,
  rng: `virtio-rng-pci,disable-legacy=on,ioeventfd=off,addr=${PCI_SLOT}.0`,
  // No option ROM: the firmware would otherwise run iPXE's driver on the device first.
  net: `virtio-net-pci,netdev=n0,disable-legacy=on,ioeventfd=off,romfile=,addr=${PCI_SLOT}.0`,
  console: `virtio-serial-pci,disable-legacy=on,ioeventfd=off,addr=${PCI_SLOT}.0`,
};

/**
 * The network device a PC firmware boots from: QEMU's default option ROM stays (Debian's `ipxe-qemu`, iPXE's
 * virtio-net driver, the driver under test) and the firmware boots from it first.
 */
const IPXE_NET = `virtio-net-pci,netdev=n0,disable-legacy=on,ioeventfd=off,bootindex=0,addr=${PCI_SLOT}.0`;

/** The kinds of variation `v` asks for. */
function variationKinds(v: DeviceVariation): DeviceVariationKind[] {
  return [
    ...(v.transitional ? ["transitional" as const] : []),
    ...(v.msixVectors !== undefined ? ["msix-vectors" as const] : []),
    ...(v.readOnly ? ["read-only" as const] : []),
  ];
}

/**
 * A `-device` argument varied as asked: QEMU takes the last value of a property given twice, so the variation's
 * properties follow the target's own.
 */
export function variedDevice(device: string, v: DeviceVariation): string {
  return device + (v.transitional ? ",disable-legacy=off" : "") +
    (v.msixVectors !== undefined ? `,vectors=${v.msixVectors}` : "");
}

/** QEMU's MMIO device of a type. */
const MMIO_DEVICES: Partial<Record<DeviceTypeName, string>> = {
  blk: "virtio-blk-device,drive=drive0",
  net: "virtio-net-device,netdev=n0",
  rng: "virtio-rng-device",
  console: "virtio-serial-device",
};

function platform(o: GuestTargetOptions): Platform {
  const { transport, device, deviceType } = o;
  if (transport === "pci") {
    const dev = device ?? (o.guest === "seabios" && deviceType === "net" ? IPXE_NET : PCI_DEVICES[deviceType]) ??
      `${deviceType}?`;
    const slot = /(?:^|,)addr=(?:0x)?([0-9a-f]+)/i.exec(dev)?.[1];
    const n = slot === undefined ? PCI_SLOT : parseInt(slot, 16);
    const two = n.toString(16).padStart(2, "0");
    // A device QEMU removes sits below a hot-pluggable root port in its slot (function 0 of the bus SeaBIOS numbers
    // 1); the port's configuration space carries the phase markers, since the device's goes with it.
    const removable = o.removal === "device-del";
    const id = /(?:^|,)id=([^,]+)/.exec(dev)?.[1] ?? "dut";
    const placed = removable ? `${dev}${dev.includes("id=") ? "" : `,id=${id}`},bus=${ROOT_PORT_ID},addr=0.0` : dev;
    return {
      // U-Boot finds no virtio device on q35; on the i440FX machine it does.
      binary: "qemu-system-x86_64",
      machine: o.guest === "linux" || o.guest === "ovmf" ? ["-accel", "tcg", "-M", "q35"] : ["-M", "pc"],
      firmware: o.guest === "seabios"
        ? ""
        : o.guest === "ovmf"
        ? "/usr/share/ovmf/OVMF.fd"
        : "/usr/lib/u-boot/qemu-x86_64/u-boot.rom",
      device: placed,
      before: removable ? ["-device", `pcie-root-port,id=${ROOT_PORT_ID},bus=pcie.0,chassis=1,addr=${two}.0`] : [],
      ...(removable ? { removableId: id } : {}),
      buffer: 0x0100_0000,
      ramBase: 0,
      mappings: [RING_MAPPINGS.identity, RING_MAPPINGS.linuxX86, RING_MAPPINGS.linuxX86La57],
      watchStopsBefore: false,
      window: {
        pci: {
          device: dev.split(",")[0]!,
          address: removable ? "01:00.0" : `00:${two}.0`,
          regions: PCI_REGION_NAMES[deviceType] ?? "",
          ...(removable ? { markerAt: { device: "pcie-root-port", address: `00:${two}.0` } } : {}),
        },
        marker: { pciConfig: PCI_MARKER },
        // Linux: the firmware (SeaBIOS) probes a bootable disk before the kernel starts. SeaBIOS is the driver
        // under test itself: its accesses from power-on count.
        firstAtMarker: o.guest === "linux",
      },
      marker: o.guest === "ovmf"
        ? `mm 0x${((n << 16) | PCI_MARKER).toString(16).padStart(8, "0")} -pci -w 4 -n`
        : `pci display.l 00.${two}.00 0x${PCI_MARKER.toString(16)} 1`,
    };
  }
  return {
    binary: "qemu-system-aarch64",
    machine: ["-M", "virt", "-cpu", "cortex-a57", "-global", "virtio-mmio.force-legacy=false"],
    firmware: "/usr/lib/u-boot/qemu_arm64/u-boot.bin",
    device: device ?? MMIO_DEVICES[deviceType] ?? `${deviceType}?`,
    before: [],
    buffer: 0x4020_0000,
    ramBase: 0x4000_0000,
    mappings: [RING_MAPPINGS.identity, RING_MAPPINGS.linuxArm64],
    watchStopsBefore: true,
    // Linux boots straight from QEMU (-kernel): nothing drives the device before the first marker.
    window: {
      mmio: VIRT_MMIO,
      mmioSlots: VIRT_MMIO_SLOTS,
      marker: { address: UBOOT_MARKER },
      firstAtMarker: o.guest === "linux",
    },
    marker: `md.l 0x${UBOOT_MARKER.toString(16)} 1`,
  };
}

const PROMPT = /\n=> $/;
/** The UEFI shell's prompt (between colour escapes). */
// deno-lint-ignore no-control-regex
const UEFI_PROMPT = /Shell> (?:\x1b\[[0-9;]*m)*$/;

/** A console workload's result: `ok` matched its output, or its last two lines say what went wrong. */
function consoleResult(ok: RegExp, out: string): WorkloadResult {
  return ok.test(out)
    ? { ok: true }
    : { ok: false, error: withoutEscapes(out).trim().split(/\r?\n/).slice(-2).join(" ") };
}

/** The UEFI shell command of a workload and how its success shows. */
function uefiCommand(w: GuestWorkload): { command: string; ok: RegExp } {
  if (w.kind !== "blk-read") {
    throw new TargetError(`The UEFI shell reads blocks only (dblk): ${w.kind} is not an OVMF workload`);
  }
  if (w.sectors > 16) {
    throw new TargetError(`The UEFI shell's dblk reads at most 16 blocks here: a workload asks for ${w.sectors}`);
  }
  return {
    command: `dblk blk0 ${w.sector.toString(16)} ${w.sectors.toString(16)}`,
    ok: /LBA 0*[0-9A-F]+ Size 0*[0-9A-F]+ bytes/,
  };
}

/** The U-Boot command of a workload and how its success shows on the console. */
function ubootCommand(w: GuestWorkload, buffer: number): { command: string; ok: RegExp } {
  switch (w.kind) {
    case "rng-read":
      throw new TargetError("U-Boot has no virtio-rng driver: rng-read is a Linux workload");
    case "console-write":
      throw new TargetError("U-Boot has no virtio-console driver: console-write is a Linux workload");
    case "blk-resize":
    case "net-link":
      throw new TargetError(`U-Boot does not follow configuration changes: ${w.kind} is a Linux workload`);
    case "net-ping":
      return {
        command: "setenv ipaddr 10.0.2.15; setenv netmask 255.255.255.0; ping 10.0.2.2",
        ok: /host 10\.0\.2\.2 is alive/,
      };
    case "blk-read":
      return { command: `virtio read ${hex(buffer)} ${hex(w.sector)} ${hex(w.sectors)}`, ok: /\d+ blocks read: OK/ };
    case "blk-write":
      return {
        command: `mw.b ${hex(buffer)} ${hex(w.fill & 0xff)} ${hex(512 * w.sectors)}; ` +
          `virtio write ${hex(buffer)} ${hex(w.sector)} ${hex(w.sectors)}`,
        ok: /\d+ blocks written: OK/,
      };
  }
}

/** The guest RAM file beside the disk image in the run's private directory. */
function ramPathBeside(disk: string): string {
  return disk.replace(/[^/]*$/, "ram");
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
    const transports: TransportKind[] = options.guest === "seabios" || options.guest === "ovmf"
      ? ["pci"]
      : ["mmio", "pci"];
    if (!transports.includes(options.transport)) {
      throw new TargetError(
        `The qemu-guest adapter runs ${options.guest} over ${transports.join(" or ")}, not ${options.transport}`,
      );
    }
    const drives = options.guest === "linux"
      ? linuxDrives(options.deviceType)
      : (options.guest === "seabios"
        ? FIRMWARE_DEVICE_TYPES
        : options.guest === "ovmf"
        ? UEFI_DEVICE_TYPES
        : UBOOT_DEVICE_TYPES).includes(options.deviceType);
    if (!drives) {
      throw new TargetError(`The qemu-guest adapter cannot drive a ${options.deviceType} device with ${options.guest}`);
    }
    this.#platform = platform(options);
    // A firmware guest's workloads must fit its boot sector: said now, not at the first run.
    if (options.guest === "seabios") bootSector(this.#pciSlot, this.workloads);
    if (options.guest === "ovmf") this.workloads.forEach((w) => uefiCommand(w));
    this.info = {
      name: options.name,
      adapter: "qemu-guest",
      contractVersion: ADAPTER_CONTRACT_VERSION,
      transports: [options.transport],
      deviceTypes: [options.deviceType],
      // QEMU's virtio-pci devices take both as properties (`disable-legacy`, `vectors`).
      // A disk the workloads grow (QMP block_resize) cannot be read-only.
      variations: variationsFor(options.transport, options.deviceType).filter((k) =>
        (options.variations?.includes(k) ?? true) &&
        !(k === "read-only" && (options.workloads ?? []).some((w) => w.kind === "blk-resize"))
      ),
      // The contract's kinds (a ping has no contract form: the harness cannot make net requests yet).
      workloads: [
        ...new Set(
          this.workloads.flatMap((w) =>
            w.kind === "net-ping" || w.kind === "console-write" || isDeviceAction(w) ? [] : [w.kind]
          ),
        ),
      ],
    };
  }

  /** The files the guest needs on this machine (firmware, or kernel, modules and busybox), for a check first. */
  get needs(): string[] {
    if (this.options.guest === "seabios") return this.options.firmware ? [this.options.firmware] : [];
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
    // A firmware booting from the network: the probe is the whole run (DHCP, then the boot program by TFTP).
    if (this.options.guest === "seabios" && this.options.deviceType === "net") return [];
    switch (this.options.deviceType) {
      case "rng":
        return [{ kind: "rng-read", bytes: 16 }];
      case "net":
        return [{ kind: "net-ping" }];
      case "console":
        return [{ kind: "console-write" }];
      default:
        return [{ kind: "blk-read", sector: 0, sectors: 1 }];
    }
  }

  /** The PCI slot the device sits in (bus 0). */
  get #pciSlot(): number {
    return parseInt(this.#platform.window.pci?.address.slice(3, 5) ?? "0", 16);
  }

  /** Linux: where the kernel, its modules and busybox are (x86_64 for PCI, arm64 for MMIO by default). */
  get linuxParts(): LinuxParts {
    const cache = this.options.transport === "mmio" ? ".cache/linux-arm64" : ".cache/linux";
    return {
      kernel: this.options.kernel ?? `${cache}/vmlinuz`,
      modules: this.options.modules ?? `${cache}/modules`,
      busybox: this.options.busybox ?? `${cache}/busybox`,
    };
  }

  attach(): Promise<DriverSession> {
    return Promise.reject(
      new TargetError(`${this.info.name} is a real driver beside its own device: it is watched, not attached`),
    );
  }

  /**
   * The QEMU command line, with the disk image at `disk` (and on Linux the initramfs at `initrd`), the device
   * varied as `variation` asks.
   */
  args(disk: string, initrd?: string, variation: DeviceVariation = {}, rings = this.watchRings): string[] {
    const o = this.options;
    const p = this.#platform;
    const boot = o.guest === "linux"
      ? [
        "-kernel",
        this.linuxParts.kernel,
        "-initrd",
        initrd ?? "",
        "-append",
        `console=${o.transport === "mmio" ? "ttyAMA0" : "ttyS0"} quiet panic=-1${rings ? " nokaslr" : ""}`,
      ]
      : o.guest === "seabios"
      ? (o.firmware ? ["-bios", o.firmware] : [])
      : ["-bios", this.firmware];
    // A firmware booting from the network fetches the boot program from QEMU's TFTP server in the run's directory.
    const tftp = o.guest === "seabios" ? `,tftp=${disk.replace(/\/[^/]*$/, "")},bootfile=boot.bin` : "";
    const backend = o.deviceType === "blk"
      ? ["-drive", `if=none,id=drive0,file=${disk},format=raw${variation.readOnly ? ",readonly=on" : ""}`]
      : o.deviceType === "net"
      ? ["-netdev", `user,id=n0,restrict=on${tftp}`]
      : [];
    const mib = o.guest === "linux" ? 512 : 256;
    // Guest RAM in a file the harness reads the rings from (shared, so it sees the guest's writes).
    const ram = ramPathBeside(disk);
    return [
      ...p.machine,
      "-m",
      `${mib}M`,
      "-object",
      `memory-backend-file,id=mem,size=${mib}M,mem-path=${ram},share=on`,
      "-machine",
      "memory-backend=mem",
      "-display",
      "none",
      "-nodefaults",
      "-serial",
      "stdio",
      "-no-reboot",
      ...boot,
      ...backend,
      ...p.before,
      "-device",
      variedDevice(p.device, variation),
      // A console port on the serial device's bus (after the device that makes the bus).
      ...(o.deviceType === "console" ? ["-chardev", "null,id=c0", "-device", "virtconsole,chardev=c0"] : []),
      "-trace",
      "memory_region_ops_read",
      "-trace",
      "memory_region_ops_write",
      ...(o.transport === "pci" ? ["-trace", "pci_cfg_read", "-trace", "pci_cfg_write"] : [
        "-trace",
        "virtio_mmio_setting_irq",
      ]),
      ...(rings ? ["-trace", "gdbstub_hit_watchpoint"] : []),
      // The block requests the device receives (their sector range), for the block driver clauses.
      ...(o.deviceType === "blk" ? ["-trace", "virtio_blk_handle_read", "-trace", "virtio_blk_handle_write"] : []),
      ...(o.extraArgs ?? []),
    ];
  }

  /** Whether this target watches the driver's rings (see {@link GuestTargetOptions.watchRings}). */
  get watchRings(): boolean {
    return this.options.watchRings ?? false;
  }

  async watch(request: WatchRequest): Promise<WatchedRun> {
    try {
      return await this.#watchOnce(request);
    } catch (e) {
      // The debugger's port was free when the harness picked it and taken before QEMU listened: once more.
      if (!(e instanceof TargetError) || !/gdb.*(?:Address already in use|available port)/is.test(e.message)) throw e;
      return await this.#watchOnce(request);
    }
  }

  async #watchOnce(request: WatchRequest): Promise<WatchedRun> {
    if (request.transport !== this.options.transport) {
      throw new TargetError(`${this.info.name} runs on ${this.options.transport}, not on ${request.transport}`);
    }
    const asked = variationKinds(request.variation ?? {}).filter((k) => !this.info.variations?.includes(k));
    if (asked.length > 0) {
      throw new TargetError(`${this.info.name} cannot vary its device this way: ${asked.join(", ")}`);
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
      const disk = diskImage(this.options.driveMiB ?? 1);
      if (this.options.guest === "seabios") disk.set(bootSector(this.#pciSlot, work));
      await Deno.writeFile(`${dir}/disk.raw`, disk);
      if (this.options.guest === "seabios" && this.options.deviceType === "net") {
        await Deno.writeFile(`${dir}/boot.bin`, bootSector(this.#pciSlot, work));
      }
    } catch (e) {
      throw new TargetError(`Cannot prepare the guest's disk under ${DEFAULT_TEMP_ROOT}: ${errorText(e)}`);
    }
    if (linux) {
      try {
        initrd = `${dir}/initrd.cpio`;
        const port = window.pci?.markerAt;
        const at = window.pci
          ? { pci: `0000:${window.pci.address}`, ...(port ? { markerAt: `0000:${port.address}` } : {}) }
          : { mmio: UBOOT_MARKER };
        const type = this.options.deviceType;
        if (!linuxDrives(type)) throw new Error(`Linux does not drive ${type} here`);
        const transport = this.options.transport === "mmio" ? "mmio" : "pci";
        const init = linuxInit(type, at, work, this.options.removal);
        await Deno.writeFile(initrd, await linuxInitramfs(this.linuxParts, type, transport, init));
      } catch (e) {
        await Deno.remove(dir, { recursive: true }).catch(() => {});
        throw new TargetError(
          `Cannot build the Linux guest's initramfs (run .ci/fetch-linux first?): ${errorText(e)}`,
        );
      }
    }
    // The device acts through QMP (QEMU connects to the harness on loopback) when a workload asks for it.
    let listener: Deno.TcpListener | undefined;
    if (linux && (work.some(isDeviceAction) || this.#platform.removableId)) {
      try {
        listener = Deno.listen({ hostname: "127.0.0.1", port: 0, transport: "tcp" });
      } catch (e) {
        await Deno.remove(dir, { recursive: true }).catch(() => {});
        throw new TargetError(`Cannot listen for QEMU's QMP connection on 127.0.0.1: ${errorText(e)}`);
      }
    }
    const qmpArgs = listener
      ? [
        "-chardev",
        `socket,id=qmp0,host=127.0.0.1,port=${(listener.addr as Deno.NetAddr).port}`,
        "-mon",
        "chardev=qmp0,mode=control",
      ]
      : [];
    // The rings are watched through QEMU's gdbstub, listening on a loopback port the system just gave the harness.
    const watchesRings = this.watchRings && request.ringAccesses !== false;
    const gdbPort = watchesRings ? freePort() : undefined;
    const gdbArgs = gdbPort ? ["-gdb", `tcp:127.0.0.1:${gdbPort}`] : [];
    const guest = GuestProcess.start(
      this.options.binary ?? this.#platform.binary,
      [...this.args(`${dir}/disk.raw`, initrd, request.variation, watchesRings), ...qmpArgs, ...gdbArgs],
      dir,
      filter,
    );
    let qmp: QmpClient | undefined;
    let gdb: GdbClient | undefined;
    let rings: RingWatch | undefined;
    let watching = false;
    try {
      if (listener) qmp = await this.#connectQmp(listener, guest);
      // Once phase `phase` has started in the trace (the guest idles after the marker), read its rings; at the
      // first such pause with live split queues, start watching them.
      const snapshot = async (phase: number) => {
        if (!await until(() => filter.reached(phase), 2000)) {
          throw new TargetError(`The guest's trace never showed the marker of phase ${phase}: ${guest.describe()}`);
        }
        if (!request.snapshotAreas) return;
        const areas = await this.#snapshot(filter, `${dir}/ram`, request.snapshotAreas);
        if (watchesRings && !watching && areas.length >= 3) {
          gdb ??= gdbPort ? await connectGdb(gdbPort, filter) : undefined;
          const started = gdb && await RingWatch.start({
            gdb,
            ram: `${dir}/ram`,
            ramBase: this.#platform.ramBase,
            mappings: this.#platform.mappings,
            stopsBefore: this.#platform.watchStopsBefore,
            filter,
          }, queuesOf(areas));
          // Rings still empty: the next pause tries again, on a new connection (QEMU stops the guest for it).
          watching = started !== "later";
          if (started instanceof RingWatch) rings = started;
          if (started === "later") {
            gdb?.close();
            gdb = undefined;
          }
        }
      };
      const act = (w: DeviceAction) => this.#act(qmp, w);
      const { probe, results } = linux
        ? await this.#runLinux(guest, snapshot, act, (id) => this.#unplug(qmp, id), request.signal)
        : this.options.guest === "seabios"
        ? await this.#runBootSector(guest, snapshot, request.signal)
        : this.options.guest === "ovmf"
        ? await this.#runUefiShell(guest, snapshot, request.signal)
        : await this.#runUboot(guest, snapshot, request.signal);
      await rings?.finish();
      // The end marker's trace line may still be on its way through QEMU's stderr.
      const end = (window.phases?.length ?? 1) - 1;
      if (!await until(() => filter.reached(end), 2000)) {
        throw new TargetError(`The guest's trace never showed the end marker: ${guest.describe()}`);
      }
      if (filter.overLimit > 0) {
        throw new TargetError(
          `The driver made more than ${filter.limit} accesses (${filter.overLimit} more not kept): the run is too long ` +
            "to judge; give it fewer workloads",
        );
      }
      return { steps: filter.steps, probe, results, console: guest.console.slice(-4096) };
    } finally {
      await rings?.finish().catch(() => {});
      gdb?.close();
      await qmp?.close().catch(() => {});
      try {
        listener?.close();
      } catch {
        // already closed
      }
      await guest.close();
    }
  }

  /** Accepts QEMU's QMP connection (10 s at most, or until the guest ends) and enters command mode. */
  async #connectQmp(listener: Deno.TcpListener, guest: GuestProcess): Promise<QmpClient> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const accept = listener.accept();
    accept.catch(() => {});
    try {
      const conn = await Promise.race([
        accept,
        guest.exited.then(() => {
          throw new TargetError(`QEMU ended before its QMP connection: ${guest.describe()}`);
        }),
        new Promise<never>((_, reject) =>
          timer = setTimeout(
            () => reject(new TargetError(`QEMU did not connect to QMP within 10000 ms: ${guest.describe()}`)),
            10_000,
          )
        ),
      ]);
      const qmp = new QmpClient(conn);
      await qmp.handshake(5000).catch((e) => {
        throw new TargetError(`QMP handshake failed: ${errorText(e)}`);
      });
      return qmp;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Makes QEMU's device act (QMP), while the guest waits at the marker before the workload that watches for it. */
  async #act(qmp: QmpClient | undefined, w: DeviceAction): Promise<void> {
    if (!qmp) throw new TargetError(`${w.kind} needs QEMU's QMP connection, which this run does not have`);
    const [command, args] = w.kind === "blk-resize"
      ? ["block_resize", { device: "drive0", size: w.mib * 1024 * 1024 }] as const
      : ["set_link", { name: "n0", up: w.up }] as const;
    try {
      await qmp.execute(command, args, 5000);
    } catch (e) {
      throw new TargetError(`QEMU refused ${command} ${JSON.stringify(args)}: ${errorText(e)}`);
    }
  }

  /** QEMU unplugs the device (QMP `device_del`) while the guest waits at the marker before the removal phase. */
  async #unplug(qmp: QmpClient | undefined, id: string): Promise<void> {
    if (!qmp) throw new TargetError("device_del needs QEMU's QMP connection, which this run does not have");
    try {
      await qmp.execute("device_del", { id }, 5000);
    } catch (e) {
      throw new TargetError(`QEMU refused device_del of ${id}: ${errorText(e)}`);
    }
  }

  /** Reads the areas of every split queue the driver enabled so far from guest RAM, as `memory` steps. */
  async #snapshot(
    filter: TraceFilter,
    ram: string,
    which: NonNullable<WatchRequest["snapshotAreas"]>,
  ): Promise<{ address: number; length: number }[]> {
    const areas = await which(filter.steps);
    if (areas.length === 0) return areas;
    const file = await Deno.open(ram, { read: true });
    try {
      for (const a of areas) {
        const bytes = new Uint8Array(a.length);
        await file.seek(a.address - this.#platform.ramBase, Deno.SeekMode.Start);
        let got = 0;
        while (got < bytes.length) {
          const n = await file.read(bytes.subarray(got));
          if (n === null) break;
          got += n;
        }
        if (got < bytes.length) continue; // outside guest RAM: the alignment and placement clauses say so
        filter.insert({ kind: "memory", address: a.address, data: encodeBase64(bytes) });
      }
    } finally {
      file.close();
    }
    return areas;
  }

  /** Linux runs its script, pausing after each marker for a snapshot; then the report is read. */
  async #runLinux(
    guest: GuestProcess,
    snapshot: (phase: number) => Promise<void>,
    act: (w: DeviceAction) => Promise<void>,
    remove: (id: string) => Promise<void>,
    signal?: AbortSignal,
  ): Promise<Pick<WatchedRun, "probe" | "results">> {
    const ms = this.options.bootTimeoutMs ?? 60_000;
    const deadline = Date.now() + ms;
    let from = 0;
    for (let pause = 1; pause <= this.workloads.length + 1; pause++) {
      const left = Math.max(1, deadline - Date.now());
      const text = await guest.waitFor(
        new RegExp(`@@ pause ${pause}\\b|@@ end`),
        left,
        `pause ${pause} of the Linux guest's script`,
        from,
        signal,
      );
      if (/@@ end/.test(text)) break;
      from = guest.position;
      await snapshot(pause);
      // Workload `pause - 1` runs once the guest goes on: a device action happens first, the guest then watches for it.
      const next = this.workloads[pause - 1];
      if (next && isDeviceAction(next)) await act(next);
      if (pause === this.workloads.length + 1 && this.#platform.removableId) await remove(this.#platform.removableId);
      await guest.type("\n");
    }
    await guest.waitFor(
      /@@ end/,
      Math.max(1, deadline - Date.now()),
      "the end of the Linux guest's script ('@@ end')",
      0,
      signal,
    );
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

  /**
   * A firmware boots the disk's boot sector through its driver (the probe), which runs the workloads through the
   * firmware's disk services, pausing after each marker for a snapshot.
   */
  async #runBootSector(
    guest: GuestProcess,
    snapshot: (phase: number) => Promise<void>,
    signal?: AbortSignal,
  ): Promise<Pick<WatchedRun, "probe" | "results">> {
    const deadline = Date.now() + (this.options.bootTimeoutMs ?? 20_000);
    const left = () => Math.max(1, deadline - Date.now());
    const n = this.workloads.length;
    for (let pause = 1; pause <= n + 1; pause++) {
      const number = pause.toString(16).toUpperCase().padStart(2, "0");
      const what = pause === 1
        ? "the boot sector's first line (the firmware never booted from the virtio device?)"
        : `pause ${pause} of the boot sector`;
      await guest.waitFor(new RegExp(`@@ pause ${number}\\r?\\n`), left(), what, 0, signal);
      await snapshot(pause);
      await guest.type("x");
    }
    await guest.waitFor(/@@ end/, left(), "the end of the boot sector ('@@ end')", 0, signal);
    const status = parseBootSectorReport(guest.console);
    const results: WorkloadResult[] = this.workloads.map((_, i) => {
      const s = status[i];
      return s === 0 ? { ok: true } : {
        ok: false,
        error: s === undefined ? `workload ${i} never reported` : `the BIOS disk call of workload ${i} returned ${s}`,
      };
    });
    // The firmware read the boot sector through its driver, or the sector would not have run.
    return { probe: { bound: true }, results };
  }

  /**
   * OVMF boots to its UEFI shell (its drivers connect every device on the way: the probe), where each workload is a
   * shell command followed by a marker and a snapshot.
   */
  async #runUefiShell(
    guest: GuestProcess,
    snapshot: (phase: number) => Promise<void>,
    signal?: AbortSignal,
  ): Promise<Pick<WatchedRun, "probe" | "results">> {
    const cmdMs = this.options.commandTimeoutMs ?? 10_000;
    const bootMs = this.options.bootTimeoutMs ?? 40_000;
    // The shell counts down before running startup.nsh; any key skips the wait.
    await guest.waitFor(/Press ESC in \d+ seconds|Shell> /, bootMs, "the UEFI shell", 0, signal);
    if (!/Shell> /.test(guest.console)) {
      const from = guest.position;
      await guest.type(" ");
      await guest.waitFor(UEFI_PROMPT, cmdMs, "the UEFI shell prompt", from, signal);
    }
    const run = (command: string, what: string) => guest.command(command, UEFI_PROMPT, cmdMs, what, signal);
    const marker = this.#platform.marker;
    await run(marker, "the shell's first marker");
    await snapshot(1);
    const results: WorkloadResult[] = [];
    for (const [i, w] of this.workloads.entries()) {
      const { command, ok } = uefiCommand(w);
      const out = await run(command, `the end of '${command}'`);
      await run(marker, `the marker after '${command}'`);
      await snapshot(i + 2);
      results.push(consoleResult(ok, out));
    }
    // The shell's mapping table at start lists the disk when OVMF's driver bound it.
    const found = /BLK0: Alias/.test(withoutEscapes(guest.console));
    const probe: ProbeResult = found
      ? { bound: true }
      : { bound: false, error: "the UEFI shell's mapping table lists no block device (BLK0)" };
    return { probe, results };
  }

  /** U-Boot is driven at its prompt: scan, then each workload, each command followed by a marker and a snapshot. */
  async #runUboot(
    guest: GuestProcess,
    snapshot: (phase: number) => Promise<void>,
    signal?: AbortSignal,
  ): Promise<Pick<WatchedRun, "probe" | "results">> {
    const p = this.#platform;
    const cmdMs = this.options.commandTimeoutMs ?? 10_000;
    const bootMs = this.options.bootTimeoutMs ?? 20_000;
    await guest.waitFor(/Hit any key to stop autoboot/, bootMs, "U-Boot's autoboot countdown", 0, signal);
    const from = guest.position;
    await guest.type(" ");
    await guest.waitFor(PROMPT, cmdMs, "the U-Boot prompt", from, signal);
    const run = (command: string, what: string) => guest.command(command, PROMPT, cmdMs, what, signal);
    const scanned = await run(`virtio scan; virtio info; ${p.marker}`, "the end of 'virtio info'");
    await snapshot(1);
    const results: WorkloadResult[] = [];
    for (const [i, w] of this.workloads.entries()) {
      const { command, ok } = ubootCommand(w, p.buffer);
      const out = await run(`${command}; ${p.marker}`, `the end of '${command}'`);
      await snapshot(i + 2);
      results.push(consoleResult(ok, out));
    }
    // A block device shows in 'virtio info'; a network device once U-Boot used it ("eth0: virtio-net#31" at boot on
    // arm64, "Using virtio-net#0 device" at the first network command on x86).
    const found = this.options.deviceType === "net"
      ? /eth\d+: virtio-net|Using virtio-net/.test(guest.console)
      : /Device \d+: ([^\r\n]*)/.test(scanned);
    const probe: ProbeResult = found ? { bound: true } : {
      bound: false,
      error: `U-Boot found no virtio ${this.options.deviceType} device: ${scanned.trim().slice(-200)}`,
    };
    return { probe, results };
  }
}

/** A loopback port free a moment ago (QEMU's gdbstub listens on it; the harness connects when it watches). */
function freePort(): number | undefined {
  try {
    const l = Deno.listen({ hostname: "127.0.0.1", port: 0, transport: "tcp" });
    const port = (l.addr as Deno.NetAddr).port;
    l.close();
    return port;
  } catch {
    return undefined;
  }
}

/**
 * Connects to QEMU's gdbstub (QEMU stops the guest when a debugger connects); undefined, with a `ring-watch` step
 * saying why, when it cannot.
 */
async function connectGdb(port: number, filter: TraceFilter): Promise<GdbClient | undefined> {
  let gdb: GdbClient | undefined;
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port, transport: "tcp" });
    // Every stop is a short exchange: no waiting to fill a segment.
    conn.setNoDelay(true);
    gdb = new GdbClient(conn);
    await gdb.handshake(5000);
    return gdb;
  } catch (e) {
    gdb?.close();
    filter.insert({ kind: "ring-watch", areas: [], reason: `QEMU's gdbstub on port ${port}: ${errorText(e)}` });
    return undefined;
  }
}

/**
 * The queues whose areas a snapshot read, in threes (split: descriptor table, available ring, used ring; packed:
 * descriptor ring and the two 4-byte event suppression structures).
 */
function queuesOf(areas: { address: number; length: number }[]): WatchedQueue[] {
  const out: WatchedQueue[] = [];
  for (let i = 0; i + 2 < areas.length; i += 3) {
    if (areas[i + 1]!.length === 4 && areas[i + 2]!.length === 4) {
      out.push({
        size: areas[i]!.length / 16,
        desc: areas[i]!.address,
        driver: areas[i + 1]!.address,
        device: areas[i + 2]!.address,
        packed: true,
      });
      continue;
    }
    out.push({
      size: areas[i]!.length / 16,
      desc: areas[i]!.address,
      driver: areas[i + 1]!.address,
      device: areas[i + 2]!.address,
    });
  }
  return out;
}

function encodeBase64(bytes: Uint8Array): string {
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin);
}
