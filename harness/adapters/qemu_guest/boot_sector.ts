/**
 * A boot sector that makes a PC firmware's virtio-blk driver (SeaBIOS's, through BIOS disk services) do the
 * target's workloads, marking each phase for the trace and pausing for a ring snapshot.
 *
 * The firmware probes the disk and loads this sector through its own driver (the probe phase); the sector
 * then, for each workload, calls `int 13h` extended read (AH=42h) or write (AH=43h) on the drive it was
 * booted from, with a buffer at 1000:0000 (a write fills it with the workload's byte first), prints
 * `@@ work <status>` on COM1, and marks the next phase. A phase mark is a read of PCI configuration offset
 * 0xFC of the device's function through ports CF8h/CFCh (the same marker as the other PCI guests), then
 * `@@ pause <n>` on COM1 and a wait for one byte typed on COM1. After the last workload's mark it prints
 * `@@ end` and halts.
 *
 * The machine code below is assembled from this source (GNU as, `.code16`, linked at 0x7C00); the
 * configuration address (offset 0x180) and the workload table (0x184, 8 bytes per entry: kind 1 read or
 * 2 write, fill byte, sector count u16, first sector u32; kind 0 ends it) are written by {@link bootSector}:
 *
 * ```text
 * _start: cli; xor %ax,%ax; mov %ax,%ds; mov %ax,%es; mov %ax,%ss; mov $0x7c00,%sp; sti
 *         mov %dl,drive; mov $1,%cl; call phase; mov $table,%bx
 * next:   mov (%bx),%al; test %al,%al; jz done
 *         mov 2(%bx),%ax; mov %ax,dap_count; mov 4(%bx),%eax; mov %eax,dap_lba; mov $0x42,%ah
 *         cmpb $2,(%bx); jne go
 *         push %cx; mov 2(%bx),%cx; shl $9,%cx; push %es; push $0x1000; pop %es; xor %di,%di
 *         mov 1(%bx),%al; rep stosb; pop %es; pop %cx; mov $0x43,%ah
 * go:     xor %al,%al; mov drive,%dl; mov $dap,%si; push %cx; push %bx; int $0x13; pop %bx; pop %cx
 *         mov %ah,%al; mov $msg_work,%si; call puts; call puthex; mov $msg_nl,%si; call puts
 *         inc %cl; call phase; add $8,%bx; jmp next
 * done:   mov $msg_end,%si; call puts
 * halt:   hlt; jmp halt
 * phase:  mov cfgaddr,%eax; mov $0xcf8,%dx; out %eax,%dx; mov $0xcfc,%dx; in %dx,%eax
 *         mov $msg_pause,%si; call puts; mov %cl,%al; call puthex; mov $msg_nl,%si; call puts
 *         mov $0x3fd,%dx; 1: in %dx,%al; test $1,%al; jz 1b; mov $0x3f8,%dx; in %dx,%al; ret
 * puthex: push %ax; shr $4,%al; call putnib; pop %ax
 * putnib: and $0xf,%al; add $'0',%al; cmp $'9',%al; jbe putc; add $7,%al
 * putc:   push %dx; push %ax; mov $0x3fd,%dx; 2: in %dx,%al; test $0x20,%al; jz 2b
 *         pop %ax; mov $0x3f8,%dx; out %al,%dx; pop %dx; ret
 * puts:   lodsb; test %al,%al; jz 3f; call putc; jmp puts; 3: ret
 * msg_pause: .asciz "@@ pause "; msg_work: .asciz "@@ work "; msg_end: .asciz "@@ end\r\n"
 * msg_nl: .asciz "\r\n"; drive: .byte 0
 * dap:    .byte 0x10,0; dap_count: .word 0; .word 0,0x1000; dap_lba: .long 0,0
 * ```
 *
 * @module
 */
import { TargetError } from "../../adapter.ts";
import type { DeviceTypeName } from "../../features.ts";
import type { LinuxWorkload as GuestWorkload } from "./linux_guest.ts";

/**
 * The device types a PC firmware drives here: its boot disk (SeaBIOS's virtio-blk driver), its boot network card
 * (the card's option ROM, iPXE's virtio-net driver, which loads the same program by TFTP as a PXE boot program).
 */
export const FIRMWARE_DEVICE_TYPES: readonly DeviceTypeName[] = ["blk", "net"];

/** The most workloads the sector's table holds. */
export const BOOT_SECTOR_MAX_WORKLOADS = 13;
/** The most sectors one workload moves (the buffer is 32 KiB at 1000:0000). */
export const BOOT_SECTOR_MAX_SECTORS = 64;

const CODE = "fa31c08ed88ec08ed0bc007cfb8816f77cb101e86800bb847d8a0784c074568b4702a3fa7c668b470466a3007db44280" +
  "3f027517518b4f02c1e109066800100731ff8a4701f3aa0759b44330c08a16f77cbef87c5153cd135b5988e0bee27ce8" +
  "6b00e84500bef47ce86200fec1e80e0083c308eba4beeb7ce85200f4ebfd66a1807dbaf80c66efbafc0c66edbed87ce8" +
  "3b0088c8e81300bef47ce83000bafd03eca80174fbbaf803ecc350c0e804e8010058240f04303c39760204075250bafd" +
  "03eca82074fb58baf803ee5ac3ac84c07405e8e7ffebf6c340402070617573652000404020776f726b2000404020656e" +
  "640d0a000d0a00001000000000000010";
const CONFIG_ADDRESS_AT = 0x180;
const TABLE_AT = 0x184;

/**
 * The boot sector for a device in PCI slot `slot` (bus 0, function 0) and these block workloads.
 *
 * @example
 * ```ts
 * import { bootSector } from "./boot_sector.ts";
 * const sector = bootSector(5, [{ kind: "blk-read", sector: 1, sectors: 1 }]);
 * console.log(sector.length, sector[510], sector[511]); // 512 85 170
 * ```
 */
export function bootSector(slot: number, workloads: readonly GuestWorkload[]): Uint8Array {
  if (workloads.length > BOOT_SECTOR_MAX_WORKLOADS) {
    throw new TargetError(
      `A firmware guest runs at most ${BOOT_SECTOR_MAX_WORKLOADS} workloads from its boot sector: got ${workloads.length}`,
    );
  }
  if (!Number.isInteger(slot) || slot < 0 || slot > 31) {
    throw new TargetError(`A PCI slot is 0 to 31: got ${slot}`);
  }
  const sector = new Uint8Array(512);
  const view = new DataView(sector.buffer);
  for (let i = 0; i < CODE.length / 2; i++) sector[i] = parseInt(CODE.slice(2 * i, 2 * i + 2), 16);
  view.setUint32(CONFIG_ADDRESS_AT, (0x8000_0000 | (slot << 11) | 0xfc) >>> 0, true);
  for (const [i, w] of workloads.entries()) {
    if (w.kind !== "blk-read" && w.kind !== "blk-write") {
      throw new TargetError(`A firmware guest runs blk-read and blk-write workloads only: got ${w.kind}`);
    }
    if (w.sectors < 1 || w.sectors > BOOT_SECTOR_MAX_SECTORS) {
      throw new TargetError(
        `A firmware guest's workload moves 1 to ${BOOT_SECTOR_MAX_SECTORS} sectors: workload ${i} asks for ${w.sectors}`,
      );
    }
    const at = TABLE_AT + 8 * i;
    sector[at] = w.kind === "blk-read" ? 1 : 2;
    sector[at + 1] = w.kind === "blk-write" ? w.fill & 0xff : 0;
    view.setUint16(at + 2, w.sectors, true);
    view.setUint32(at + 4, w.sector >>> 0, true);
  }
  sector[510] = 0x55;
  sector[511] = 0xaa;
  return sector;
}

/**
 * The BIOS status of each workload the boot sector reported on the console (`@@ work <hex>`, 0 is success),
 * in order; fewer than the workloads when the guest stopped early.
 *
 * @example
 * ```ts
 * import { parseBootSectorReport } from "./boot_sector.ts";
 * console.log(parseBootSectorReport("@@ pause 01\r\n@@ work 00\r\n@@ pause 02\r\n")); // [0]
 * ```
 */
export function parseBootSectorReport(text: string): number[] {
  return [...text.matchAll(/@@ work ([0-9A-F]{2})\r?\n/g)].map((m) => parseInt(m[1]!, 16));
}
