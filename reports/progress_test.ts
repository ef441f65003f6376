import { assertEquals } from "@std/assert";
import { Progress, PROGRESS_EVERY_MS } from "./progress.ts";

function rig(terminal: boolean) {
  let t = 0;
  const out: string[] = [];
  const p = new Progress({ write: (x) => out.push(x), terminal, now: () => t });
  return { p, out, at: (ms: number) => t = ms };
}

Deno.test("progress in a log: a whole line at the start of a target and then every 10 s, nothing else", () => {
  const { p, out, at } = rig(false);
  p.begin("qemu-rng-mmio", 4);
  at(1000);
  p.step("mmio");
  at(PROGRESS_EVERY_MS + 1);
  p.step("mmio");
  at(PROGRESS_EVERY_MS + 2000);
  p.step("pci");
  p.done();
  assertEquals(out, [
    "qemu-rng-mmio: clause 0 of 4, 0 s\n",
    "qemu-rng-mmio mmio: clause 2 of 4, 10 s, about 10 s left on this target\n",
  ]);
});

Deno.test("progress on a terminal: one line rewritten in place, cleared before a result and at the end", () => {
  const { p, out, at } = rig(true);
  p.begin("reference-rng-device", 2);
  at(65_000);
  p.step("pci");
  p.clear();
  p.done();
  assertEquals(out, [
    "\r\x1b[Kreference-rng-device: clause 0 of 2, 0 s",
    "\r\x1b[Kreference-rng-device pci: clause 1 of 2, 1 min 05 s, about 1 min 05 s left on this target",
    "\r\x1b[K",
  ]);
});
