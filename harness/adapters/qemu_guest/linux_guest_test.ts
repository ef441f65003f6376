import { assert, assertEquals, assertThrows } from "@std/assert";
import { isDeviceAction, linuxInit, parseLinuxReport } from "./linux_guest.ts";

Deno.test("linuxInit: a device action is a bounded wait for the driver to show the change", () => {
  const script = linuxInit("blk", { pci: "0000:00:05.0" }, [
    { kind: "blk-read", sector: 0, sectors: 1 },
    { kind: "blk-resize", mib: 2 },
  ]);
  // The harness resizes while the guest waits at pause 2; then the guest waits for 2 MiB = 4096 sectors.
  const lines = script.split("\n");
  const pause2 = lines.indexOf("pause 2");
  assert(pause2 > 0 && lines[pause2 - 1] === "mark");
  assert(lines[pause2 + 1]!.includes(`[ "$(cat /sys/block/vda/size)" = "4096" ]`), lines[pause2 + 1]);
  assert(lines[pause2 + 1]!.includes("-ge 100"), "the wait is bounded");
  assertEquals(lines[pause2 + 2], 'echo "@@ work 1 $?"');
  const net = linuxInit("net", { mmio: 0x0a0000fc }, [{ kind: "net-link", up: false }]);
  assert(net.includes(`[ "$(cat /sys/class/net/eth0/carrier 2>/dev/null)" = "0" ]`));
});

Deno.test("isDeviceAction: QEMU's actions, not the driver's", () => {
  assert(isDeviceAction({ kind: "blk-resize", mib: 2 }));
  assert(isDeviceAction({ kind: "net-link", up: true }));
  assert(!isDeviceAction({ kind: "net-ping" }));
  assertEquals(parseLinuxReport("@@ probe ok\n@@ work 0 0\n@@ work 1 1\n", 2).work, [0, 1]);
});

Deno.test("linuxInit: a device QEMU removes is waited for, and the port above it marks the phases", () => {
  const at = { pci: "0000:01:00.0", markerAt: "0000:00:05.0" };
  const script = linuxInit("console", at, [{ kind: "console-write" }], "device-del");
  assert(script.includes("mark() { dd if=/sys/bus/pci/devices/0000:00:05.0/config"), script);
  assert(script.includes("[ ! -e /sys/bus/pci/devices/0000:01:00.0 ]"), "waits for the function to go");
  assert(!script.includes("/unbind"), "nothing unbinds the driver");
  assert(linuxInit("console", at, []).includes("echo 0000:01:00.0 > /sys/bus/pci/drivers/virtio-pci/unbind"));
  assertThrows(() => linuxInit("blk", { pci: "0000:00:05.0" }, [], "device-del"), Error, "below a port");
});
