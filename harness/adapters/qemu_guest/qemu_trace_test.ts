import { assertEquals } from "@std/assert";
import { parseTraceLine, TraceFilter } from "./qemu_trace.ts";

const line = (kind: string, addr: number, value: string, size: number, region = "virtio-mmio") =>
  `memory_region_ops_${kind} cpu 0 mr 0x55a531d3b340 addr 0x${
    addr.toString(16)
  } value ${value} size ${size} name '${region}'`;

Deno.test("parseTraceLine: accesses with the value masked to the access size, interrupts, anything else ignored", () => {
  assertEquals(parseTraceLine(line("read", 0xa003e10, "0x10130006e54", 4)), {
    kind: "read",
    addr: 0xa003e10,
    value: 0x30006e54,
    size: 4,
    region: "virtio-mmio",
  });
  assertEquals(parseTraceLine(line("write", 0xa003e70, "0x1ff", 1))?.kind, "write");
  assertEquals((parseTraceLine(line("write", 0xa003e70, "0x1ff", 1)) as { value: number }).value, 0xff);
  assertEquals(parseTraceLine(`12@1733.5:${line("read", 0xa003e00, "0x74726976", 4)}`)?.kind, "read");
  assertEquals(parseTraceLine("virtio_mmio_setting_irq virtio_mmio setting IRQ 1"), { kind: "irq", level: true });
  assertEquals(parseTraceLine("virtio_mmio_setting_irq virtio_mmio setting IRQ 0"), { kind: "irq", level: false });
  assertEquals(parseTraceLine(line("read", 0x9000018, "0x90", 8, "pl011")), undefined);
  assertEquals(parseTraceLine("qemu-system-aarch64: warning: something"), undefined);
  assertEquals(parseTraceLine(""), undefined);
});

Deno.test("TraceFilter keeps the device's window and the markers, in stream order", () => {
  const f = new TraceFilter({
    mmio: { base: 0xa003e00, size: 0x200 },
    marker: { address: 0xa0000fc },
    phases: [{ phase: "probe" }, { phase: "workload", index: 0 }, { phase: "end" }],
  });
  const lines = [
    line("read", 0xa000000, "0x74726976", 4), // another slot
    line("read", 0xa003e00, "0x74726976", 4),
    line("read", 0x9000018, "0x90", 4, "pl011"),
    line("write", 0xa003e70, "0x1", 4),
    line("read", 0xa0000fc, "0x0", 4), // marker: workload 0
    line("write", 0xa003e50, "0x0", 4),
    line("read", 0xa0000fc, "0x0", 4), // marker: end
    line("read", 0xa0000fc, "0x0", 4), // a marker past the last phase is dropped
    "virtio_mmio_setting_irq virtio_mmio setting IRQ 1",
  ];
  for (const l of lines) f.push(l);
  assertEquals(f.lines, lines.length);
  assertEquals(f.steps, [
    { kind: "phase", phase: "probe" },
    { kind: "read", space: "mmio", offset: 0, width: 4, value: 0x74726976 },
    { kind: "write", space: "mmio", offset: 0x70, width: 4, value: 1 },
    { kind: "phase", phase: "workload", index: 0 },
    { kind: "write", space: "mmio", offset: 0x50, width: 4, value: 0 },
    { kind: "phase", phase: "end" },
    { kind: "irq", level: true },
  ]);
});

Deno.test("TraceFilter: a polling loop's identical reads are kept once, and the limit is counted", () => {
  const isr = (value: number) =>
    `memory_region_ops_read cpu 0 mr 0x1 addr 0xfebfd000 value 0x${value.toString(16)} size 1 ` +
    `name 'virtio-pci-isr-virtio-net'`;
  const f = new TraceFilter({ pci: { device: "virtio-net-pci", address: "00:05.0", regions: "virtio-net" } }, 3);
  for (const v of [0, 0, 0, 1, 0, 0]) f.push(isr(v));
  assertEquals(f.steps.map((s) => s.kind === "read" ? s.value : -1), [0, 1, 0]);
  assertEquals([f.repeatedReads, f.overLimit], [3, 0]);
  f.push(isr(1));
  assertEquals([f.steps.length, f.overLimit], [3, 1]);
});

Deno.test("trace: the block device's read and write requests become steps in their place", () => {
  const f = new TraceFilter({ mmio: { base: 0x0a003e00, size: 0x200 } });
  f.push("memory_region_ops_write cpu 0 mr 0x1 addr 0xa003e50 value 0x0 size 4 name 'virtio-mmio'");
  f.push("12@1.5:virtio_blk_handle_read vdev 0x55d0 req 0x7f00 sector 16 nsectors 8");
  f.push("virtio_blk_handle_write vdev 0x55d0 req 0x7f08 sector 2 nsectors 1");
  f.push("virtio_blk_handle_read vdev 0x55d0 req 0x7f00 sector -1 nsectors 8");
  assertEquals(f.steps.map((s) => s.kind), ["write", "blk-request", "blk-request"]);
  assertEquals(f.steps[1], { kind: "blk-request", op: "read", sector: 16, sectors: 8 });
  assertEquals(f.steps[2], { kind: "blk-request", op: "write", sector: 2, sectors: 1 });
});

Deno.test("TraceFilter: the port above a removable device marks the phases; its other reads are not the device's", () => {
  const cfg = (device: string, address: string, offset: number) =>
    `pci_cfg_read ${device} ${address} @0x${offset.toString(16)} -> 0x0`;
  const f = new TraceFilter({
    pci: {
      device: "virtio-serial-pci",
      address: "01:00.0",
      regions: "virtio-serial",
      markerAt: { device: "pcie-root-port", address: "00:05.0" },
    },
    marker: { pciConfig: 0xfc },
    phases: [{ phase: "probe" }, { phase: "remove" }, { phase: "end" }],
    firstAtMarker: true,
  });
  for (
    const l of [
      cfg("virtio-serial-pci", "01:00.0", 0), // before the first marker: dropped
      cfg("pcie-root-port", "00:05.0", 0xfc), // probe
      cfg("virtio-serial-pci", "01:00.0", 4),
      cfg("pcie-root-port", "00:05.0", 0x40), // the port's own: not the device's
      cfg("virtio-serial-pci", "01:00.0", 0xfc), // the device's 0xfc is not a marker here
      cfg("pcie-root-port", "00:05.0", 0xfc), // remove
      cfg("pcie-root-port", "00:05.0", 0xfc), // end
    ]
  ) f.push(l);
  assertEquals(f.steps.map((s) => s.kind === "phase" ? s.phase : `${s.kind}@${"offset" in s ? s.offset : ""}`), [
    "probe",
    "read@4",
    "read@252",
    "remove",
    "end",
  ]);
});
