/** Target files of the qemu-guest adapter: what `harness/cli/target_file.ts` accepts and refuses. */
import { assertEquals, assertThrows } from "@std/assert";
import { parseTargetText, UsageError } from "../../cli/target_file.ts";

const file = (options: unknown, role = "driver") => JSON.stringify({ adapter: "qemu-guest", role, name: "g", options });

Deno.test("qemu-guest target files: a valid file becomes the qemu-guest adapter's checked options", () => {
  const spec = parseTargetText(
    file({ guest: "u-boot", workloads: [{ kind: "blk-write", sector: 2, sectors: 1, fill: 90 }] }),
    "x.jsonc",
  );
  assertEquals(spec.adapter, "qemu-guest");
  assertEquals(spec.role, "driver");
  assertEquals(spec.source, {
    kind: "adapter",
    options: {
      guest: "u-boot",
      transport: "mmio",
      deviceType: "blk",
      workloads: [{ kind: "blk-write", sector: 2, sectors: 1, fill: 90 }],
    },
  });
});

Deno.test("qemu-guest target files: SeaBIOS defaults to a blk device over PCI", () => {
  const spec = parseTargetText(file({ guest: "seabios" }), "x.jsonc");
  assertEquals(spec.source, { kind: "adapter", options: { guest: "seabios", transport: "pci", deviceType: "blk" } });
});

Deno.test("qemu-guest target files: the device variations a PCI target allows, each once", () => {
  const spec = parseTargetText(file({ guest: "ovmf", variations: ["transitional", "transitional"] }), "x.jsonc");
  assertEquals(spec.source, {
    kind: "adapter",
    options: { guest: "ovmf", transport: "pci", deviceType: "blk", variations: ["transitional"] },
  });
});

Deno.test("qemu-guest target files: problems are one sentence each", () => {
  const cases: [string, string][] = [
    [file({ guest: "u-boot" }, "device"), `"role" must be "driver", got "device"`],
    [file({}), `"options.guest" must be`],
    [file({ guest: "grub" }), `"options.guest" must be`],
    [file({ guest: "u-boot", transport: "ccw" }), `"options.transport" must be`],
    [file({ guest: "u-boot", firmware: "a b" }), `"options.firmware" must be a non-empty string without spaces`],
    [file({ guest: "u-boot", workloads: [{ kind: "net-send" }] }), `"options.workloads[0].kind" must be`],
    [file({ guest: "u-boot", workloads: [{ kind: "rng-read", bytes: 8 }] }), `not one for a blk device`],
    [file({ guest: "u-boot", kernel: "vmlinuz" }), `"options.kernel" does not apply to guest "u-boot"`],
    [file({ guest: "linux", firmware: "x.rom" }), `"options.firmware" does not apply to guest "linux"`],
    [file({ guest: "linux", transport: "ccw" }), `"options.transport" must be`],
    [file({ guest: "linux", deviceType: "gpu" }), `"options.deviceType" must be`],
    [file({ guest: "u-boot", deviceType: "rng" }), `"options.deviceType" must be`],
    [file({ guest: "u-boot", workloads: [{ kind: "blk-read", sector: -1, sectors: 1 }] }), `.sector" must be`],
    [file({ guest: "u-boot", workloads: [{ kind: "blk-write", sector: 0, sectors: 1 }] }), `.fill" must be`],
    [file({ guest: "u-boot", bootTimeoutMs: 5 }), `"options.bootTimeoutMs" must be an integer`],
    [file({ guest: "u-boot", model: "reference" }), `unknown key "model"`],
    [file({ guest: "linux", workloads: [{ kind: "net-link", up: "no" }], deviceType: "net" }), `.up" must be true or`],
    [file({ guest: "linux", workloads: [{ kind: "blk-resize", mib: 0 }] }), `.mib" must be an integer from 1`],
    [file({ guest: "linux", workloads: [{ kind: "net-link", up: true }] }), `not one for a blk device`],
    [file({ guest: "seabios", transport: "mmio" }), `"options.transport" must be one of "pci"`],
    [file({ guest: "seabios", deviceType: "rng" }), `"options.deviceType" must be`],
    [file({ guest: "seabios", kernel: "vmlinuz" }), `"options.kernel" does not apply to guest "seabios"`],
    [file({ guest: "u-boot", watchRings: 1 }), `"options.watchRings" must be true or false, got 1`],
    [file({ guest: "ovmf", variations: "transitional" }), `"options.variations" must be a list`],
    [file({ guest: "ovmf", variations: ["queue-size"] }), `"options.variations[0]" must be one of "transitional"`],
    [file({ guest: "u-boot", variations: ["transitional"] }), `lists transitional, which a blk device over mmio`],
    [file({ guest: "linux", removal: "eject" }), `"options.removal" must be "unbind" or "device-del"`],
    [file({ guest: "u-boot", transport: "pci", removal: "device-del" }), `needs guest "linux" over pci`],
  ];
  for (const [text, want] of cases) {
    const e = assertThrows(() => parseTargetText(text, "x.jsonc"), UsageError);
    if (!e.message.includes(want)) throw new Error(`expected "${want}" in: ${e.message}`);
    if (!e.message.startsWith("target file x.jsonc: ")) throw new Error(e.message);
  }
});
