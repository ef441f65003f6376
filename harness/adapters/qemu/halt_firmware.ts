/**
 * Halt-loop firmware images for QEMU: with `-qtest` but without the qtest
 * accelerator the guest CPU still runs under TCG, and real firmware (SeaBIOS)
 * races the harness's PCI configuration accesses, while an empty arm flash
 * makes the CPU spin. These images park the CPU so that only the harness
 * drives the machine, yet the VM keeps running (device back ends progress).
 *
 * @module
 */

/** Architectures a halt image exists for. */
export type HaltArch = "x86_64" | "aarch64";

/**
 * The halt firmware for `arch`:
 * - x86_64: 64 KiB of `hlt` (0xF4) with `cli; hlt; jmp -3` (`FA F4 EB FD`) at
 *   the reset vector (offset 0xFFF0);
 * - aarch64: 4 KiB starting `wfi; b .` (`7F 20 03 D5 FF FF FF 17`), for
 *   `-cpu cortex-a57` (a 64-bit CPU).
 *
 * @example
 * ```ts
 * import { haltFirmware } from "./halt_firmware.ts";
 * const image = haltFirmware("x86_64");
 * console.log(image.length, image[0xfff0].toString(16)); // 65536 "fa"
 * ```
 */
export function haltFirmware(arch: HaltArch): Uint8Array {
  if (arch === "x86_64") {
    const image = new Uint8Array(0x10000).fill(0xf4);
    image.set([0xfa, 0xf4, 0xeb, 0xfd], 0xfff0);
    return image;
  }
  const image = new Uint8Array(0x1000);
  image.set([0x7f, 0x20, 0x03, 0xd5, 0xff, 0xff, 0xff, 0x17], 0);
  return image;
}
