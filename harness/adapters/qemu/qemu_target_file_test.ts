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

Deno.test("qemu target files: a back end's command line, environment and start deadline are kept", () => {
  const backEnd = { argv: ["qemu-storage-daemon", "addr.path={socket}"], env: { X: "1" }, readyTimeoutMs: 500 };
  const spec = parseTargetText(
    file({ transport: "pci", device: "vhost-user-blk-pci", driveMiB: 1, backEnd, restart: "reset" }),
    "x.jsonc",
  );
  assertEquals(spec.source, {
    kind: "adapter",
    options: { transport: "pci", device: "vhost-user-blk-pci", driveMiB: 1, backEnd, restart: "reset" },
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
    [file({ transport: "pci", device: "vhost-user-blk-pci", backEnd: ["qsd"] }), `"options.backEnd" must be an object`],
    [file({ transport: "pci", device: "vhost-user-blk-pci", backEnd: { argv: [] } }), `non-empty list of non-empty`],
    [file({ transport: "pci", device: "vhost-user-blk-pci", backEnd: { argv: ["d"] } }), `name it {socket}`],
    [file({ transport: "pci", device: "v", backEnd: { argv: ["d", "{socket}"], env: { A: 1 } } }), `map names to`],
    [file({ transport: "pci", device: "v", backEnd: { argv: ["d", "{socket}"], user: "x" } }), `unknown key "user"`],
    [file({ transport: "pci", device: "v", restart: "reboot" }), `"options.restart" must be "reset" or "relaunch"`],
  ];
  for (const [text, want] of cases) {
    const e = assertThrows(() => parseTargetText(text, "x.jsonc"), UsageError);
    if (!e.message.includes(want)) throw new Error(`expected "${want}" in: ${e.message}`);
    if (!e.message.startsWith("target file x.jsonc: ")) throw new Error(e.message);
  }
});
