/**
 * A Linux guest whose virtio drivers are under test: the kernel (a distribution
 * build whose virtio drivers are modules, e.g. Debian's cloud kernel) boots an
 * initramfs built here, whose `/init` loads the modules in dependency order,
 * runs the workloads, unbinds the device (the driver's remove) and powers off.
 * Before each phase it reads the PCI function's configuration offset 0xfc
 * through sysfs: the phase markers of the trace. Results come back as `@@`
 * lines on the serial console.
 *
 * @module
 */
import type { DeviceTypeName } from "../../features.ts";
import { type CpioEntry, cpioNewc } from "./cpio.ts";

/** Workloads a Linux guest runs (a write fills its sectors with one byte). */
export type LinuxWorkload =
  | { kind: "blk-read"; sector: number; sectors: number }
  | { kind: "blk-write"; sector: number; sectors: number; fill: number }
  | { kind: "rng-read"; bytes: number }
  /** Brings the interface up at 10.0.2.15/24 and pings QEMU's user-network gateway, 10.0.2.2. */
  | { kind: "net-ping" }
  /** Writes a line to the first console port (`/dev/hvc0`). */
  | { kind: "console-write" }
  /**
   * The device acts: QEMU resizes the disk to `mib` MiB (QMP `block_resize`), a configuration change the driver
   * must notice; the guest waits (5 s at most) until the disk's size shows it.
   */
  | { kind: "blk-resize"; mib: number }
  /**
   * The device acts: QEMU takes the link down or up (QMP `set_link`), a configuration change (the status field)
   * the driver must notice; the guest waits (5 s at most) until the interface's carrier shows it.
   */
  | { kind: "net-link"; up: boolean };

/** Workloads in which QEMU's device acts (through QMP) rather than the driver. */
export type DeviceAction = Extract<LinuxWorkload, { kind: "blk-resize" | "net-link" }>;

/** Whether a workload is the device's action. */
export function isDeviceAction(w: LinuxWorkload): w is DeviceAction {
  return w.kind === "blk-resize" || w.kind === "net-link";
}

/** Where the kernel, its modules and busybox are. */
export interface LinuxParts {
  /** The kernel image (bzImage). */
  kernel: string;
  /** A folder holding the virtio modules (`*.ko`, searched recursively by name). */
  modules: string;
  /** A static busybox. */
  busybox: string;
}

/** The device types a Linux guest drives here. */
export const LINUX_DEVICE_TYPES = ["blk", "rng", "net", "console"] as const;
/** A device type a Linux guest drives here. */
export type LinuxDeviceType = typeof LINUX_DEVICE_TYPES[number];

const VIRTIO_PCI = ["virtio_ring", "virtio", "virtio_pci_modern_dev", "virtio_pci_legacy_dev", "virtio_pci"];
const VIRTIO_MMIO = ["virtio_ring", "virtio", "virtio_mmio"];

/** The modules of a device type's driver, in load order, after the transport's. */
const DRIVER_MODULES: Record<LinuxDeviceType, string[]> = {
  blk: ["virtio_blk"],
  rng: ["virtio-rng"],
  net: ["failover", "net_failover", "virtio_net"],
  console: ["virtio_console"],
};

/** The modules a device type's driver needs on `transport`, in load order. */
function modules(deviceType: LinuxDeviceType, transport: LinuxTransport): string[] {
  return [...(transport === "pci" ? VIRTIO_PCI : VIRTIO_MMIO), ...DRIVER_MODULES[deviceType]];
}

/** The transports a Linux guest runs on here: PCI on x86_64 `q35`, MMIO on arm64 `virt`. */
export type LinuxTransport = "pci" | "mmio";

/** Where the device under test is, as the guest script reaches it. */
export type LinuxDeviceAt =
  /**
   * A PCI function (`0000:00:05.0`): phases are marked by a configuration read at 0xfc of the function, or of
   * `markerAt` (the port above a device the run removes).
   */
  | { pci: string; markerAt?: string }
  /** A virtio-mmio device: phases are marked by a read of `marker` (in an empty slot, through /dev/mem). */
  | { mmio: number };

/**
 * How the device leaves the driver at the end of a run: `unbind` (the guest unbinds the driver, its remove) or
 * `device-del` (QEMU unplugs the device, QMP `device_del`: the guest's hot-plug code ejects it and the driver's remove
 * runs under it).
 */
export type LinuxRemoval = "unbind" | "device-del";

/** Whether Linux drives `type` here. */
export function linuxDrives(type: DeviceTypeName): type is LinuxDeviceType {
  return (LINUX_DEVICE_TYPES as readonly string[]).includes(type);
}

/** The shell command of one workload. */
function command(w: LinuxWorkload): string {
  switch (w.kind) {
    case "blk-read":
      return `dd if=/dev/vda of=/dev/null bs=512 skip=${w.sector} count=${w.sectors} iflag=direct`;
    case "blk-write": {
      const octal = (w.fill & 0xff).toString(8).padStart(3, "0");
      return `dd if=/dev/zero bs=512 count=${w.sectors} 2>/dev/null | tr '\\000' '\\${octal}' | ` +
        `dd of=/dev/vda bs=512 seek=${w.sector} count=${w.sectors} oflag=direct`;
    }
    case "rng-read":
      return `dd if=/dev/hwrng of=/dev/null bs=${w.bytes} count=1`;
    case "net-ping":
      return "ip addr add 10.0.2.15/24 dev eth0 2>/dev/null; ip link set eth0 up && ping -c 1 -W 3 10.0.2.2";
    case "console-write":
      return "echo virtio-conformance > /dev/hvc0";
    case "blk-resize":
      return waitUntil(`[ "$(cat /sys/block/vda/size)" = "${w.mib * 2048}" ]`);
    case "net-link":
      return waitUntil(`[ "$(cat /sys/class/net/eth0/carrier 2>/dev/null)" = "${w.up ? 1 : 0}" ]`);
  }
}

/** A command that succeeds once `test` holds, checked every 50 ms for 5 s. */
function waitUntil(test: string): string {
  return `i=0; until ${test}; do [ $i -ge 100 ] && break; sleep 0.05; i=$((i+1)); done; ${test}`;
}

/**
 * The `/init` script: modules, bind check, workloads, the device's removal, power off, each phase preceded by the
 * marker read (a PCI configuration offset 0xfc, or an MMIO address).
 */
export function linuxInit(
  deviceType: LinuxDeviceType,
  at: LinuxDeviceAt,
  workloads: readonly LinuxWorkload[],
  removal: LinuxRemoval = "unbind",
): string {
  if (removal === "device-del" && !("pci" in at && at.markerAt)) {
    throw new Error("a device QEMU removes must sit below a port that marks the phases");
  }
  const transport: LinuxTransport = "pci" in at ? "pci" : "mmio";
  // The virtio device under the transport (its driver link shows the bind).
  const dev = "pci" in at ? `/sys/bus/pci/devices/${at.pci}/virtio0` : "/sys/bus/virtio/devices/virtio0";
  const marks = "pci" in at ? `/sys/bus/pci/devices/${at.markerAt ?? at.pci}/config` : "";
  const mark = "pci" in at
    ? `mark() { dd if=${marks} of=/dev/null bs=4 skip=63 count=1 2>/dev/null; }`
    : `mark() { devmem 0x${at.mmio.toString(16)} 32 >/dev/null; }`;
  // The driver's remove: unbinding the PCI transport (which removes the virtio device), or the virtio driver; or
  // QEMU unplugs the device while the guest waits at the pause (5 s at most) for the function to go.
  const unbind = removal === "device-del" && "pci" in at
    ? waitUntil(`[ ! -e /sys/bus/pci/devices/${at.pci} ]`)
    : "pci" in at
    ? `echo ${at.pci} > /sys/bus/pci/drivers/virtio-pci/unbind`
    : `echo virtio0 > "$(readlink -f ${dev}/driver)/unbind"`;
  const lines = [
    "#!/bin/busybox sh",
    "/bin/busybox --install -s /bin",
    "export PATH=/bin",
    "mkdir -p /proc /sys /dev /tmp",
    "mount -t proc proc /proc",
    "mount -t sysfs sysfs /sys",
    "mount -t devtmpfs devtmpfs /dev",
    mark,
    // After a marker the guest waits for a line on its console: the harness reads the idle driver's rings first.
    'pause() { echo "@@ pause $1"; read -r _; }',
    'echo "@@ init"',
    "mark",
    ...modules(deviceType, transport).map((m) => `insmod /lib/modules/${m}.ko || echo "@@ insmod ${m} failed"`),
    // Bound once the virtio device has a driver.
    "i=0",
    `while [ ! -e ${dev}/driver ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done`,
    {
      blk: `while [ ! -b /dev/vda ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done`,
      rng: `echo virtio_rng.0 > /sys/class/misc/hw_random/rng_current 2>/dev/null`,
      net: `while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done`,
      console: `while [ ! -c /dev/hvc0 ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done`,
    }[deviceType],
    `if [ -e ${dev}/driver ]; then echo "@@ probe ok"; else echo "@@ probe fail"; fi`,
    ...workloads.flatMap((w, i) => ["mark", `pause ${i + 1}`, command(w), `echo "@@ work ${i} $?"`]),
    "mark",
    `pause ${workloads.length + 1}`,
    unbind,
    'echo "@@ remove $?"',
    "mark",
    'echo "@@ end"',
    "poweroff -f",
    "",
  ];
  return lines.join("\n");
}

/** Finds `name.ko` under `dir`. */
async function findModule(dir: string, name: string): Promise<string | undefined> {
  const want = [`${name}.ko`, `${name.replaceAll("-", "_")}.ko`];
  for await (const e of Deno.readDir(dir)) {
    const path = `${dir}/${e.name}`;
    if (e.isFile && want.includes(e.name)) return path;
    if (e.isDirectory) {
      const found = await findModule(path, name);
      if (found) return found;
    }
  }
  return undefined;
}

/** The initramfs: busybox, the modules the device type needs, `/init`. */
export async function linuxInitramfs(
  parts: LinuxParts,
  deviceType: LinuxDeviceType,
  transport: LinuxTransport,
  init: string,
): Promise<Uint8Array> {
  const entries: CpioEntry[] = [
    { kind: "dir", path: "bin" },
    { kind: "dir", path: "lib" },
    { kind: "dir", path: "lib/modules" },
    { kind: "file", path: "bin/busybox", data: await Deno.readFile(parts.busybox), mode: 0o755 },
  ];
  for (const m of modules(deviceType, transport)) {
    const path = await findModule(parts.modules, m);
    if (!path) throw new Error(`module ${m}.ko is not under ${parts.modules}`);
    entries.push({ kind: "file", path: `lib/modules/${m}.ko`, data: await Deno.readFile(path) });
  }
  entries.push({ kind: "file", path: "init", data: new TextEncoder().encode(init), mode: 0o755 });
  return cpioNewc(entries);
}

/** What the guest reported: whether the driver bound, each workload's exit status, whether it got to the end. */
export interface LinuxReport {
  bound: boolean;
  /** Exit status of each workload (undefined: it never reported). */
  work: (number | undefined)[];
  removed: number | undefined;
  ended: boolean;
  /** Problems the script reported (a module that did not load). */
  problems: string[];
}

/** Reads the `@@` lines of the console. */
export function parseLinuxReport(console: string, workloads: number): LinuxReport {
  const report: LinuxReport = {
    bound: false,
    work: Array(workloads).fill(undefined),
    removed: undefined,
    ended: false,
    problems: [],
  };
  for (const raw of console.split("\n")) {
    const line = raw.trim();
    if (!line.startsWith("@@ ")) continue;
    const [, what, a, b] = line.split(/\s+/);
    if (what === "probe") report.bound = a === "ok";
    else if (what === "work" && a !== undefined && Number(a) < workloads) report.work[Number(a)] = Number(b);
    else if (what === "remove") report.removed = Number(a);
    else if (what === "end") report.ended = true;
    else if (what === "insmod") report.problems.push(`insmod ${a} failed`);
  }
  return report;
}
