/** Target files of the qemu adapter: what `harness/cli/target_file.ts` accepts and refuses. */
import { assertEquals, assertThrows } from "@std/assert";
import { parseTargetText, UsageError } from "../../cli/target_file.ts";

const file = (options: unknown, role = "device") => JSON.stringify({ adapter: "qemu", role, name: "q", options });

Deno.test("qemu target files: a valid file becomes the qemu adapter's checked options", () => {
  const spec = parseTargetText(
    file({ transport: "pci", device: "virtio-blk-pci,disable-legacy=on", deviceType: "blk", driveMiB: 4 }),
    "x.jsonc",
  );
  assertEquals(spec.adapter, "qemu");
  assertEquals(spec.source, {
    kind: "adapter",
    options: { transport: "pci", device: "virtio-blk-pci,disable-legacy=on", deviceType: "blk", driveMiB: 4 },
  });
});

Deno.test("qemu target files: problems are one sentence each", () => {
  const cases: [string, string][] = [
    [file({ transport: "pci", device: "virtio-rng-pci" }, "driver"), `"role" must be "device", got "driver"`],
    [file({ device: "virtio-rng-device" }), `"options.transport" must be one of "mmio", "mmio-legacy", "pci"`],
    [file({ transport: "mmio" }), `"options.device" must be a -device argument`],
    [file({ transport: "mmio", device: "x y" }), `"options.device" must be a -device argument`],
    [file({ transport: "mmio", device: "virtio-rng-device", machine: "q35" }), `must be "virt" for transport "mmio"`],
    [file({ transport: "mmio", device: "virtio-rng-device", extraArgs: "-m 1G" }), `must be a list of strings`],
    [file({ transport: "mmio", device: "virtio-rng-device", driveMiB: 0 }), `"options.driveMiB" must be an integer`],
    [file({ transport: "mmio", device: "virtio-rng-device", model: "reference" }), `unknown key "model"`],
    [file({ transport: "mmio", device: "virtio-blk-device", driveReadOnly: true }), `needs "options.driveMiB"`],
    [file({ transport: "mmio", device: "virtio-blk-device", driveMiB: 1, driveReadOnly: "yes" }), `true or false`],
  ];
  for (const [text, want] of cases) {
    const e = assertThrows(() => parseTargetText(text, "x.jsonc"), UsageError);
    if (!e.message.includes(want)) throw new Error(`expected "${want}" in: ${e.message}`);
    if (!e.message.startsWith("target file x.jsonc: ")) throw new Error(e.message);
  }
});
