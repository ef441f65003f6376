/**
 * Split-ring checks on a snapshot of guest memory taken while the driver is
 * idle (no request in flight): what a watched real driver left in its rings
 * when the harness could look, since it cannot see each ring write as it
 * happens.
 *
 * Only what such a snapshot shows soundly is judged:
 * - the available ring's flags (a value the driver kept while the queue was
 *   live);
 * - where the used ring is in the snapshot too: the available idx at most the
 *   queue size ahead of the used idx (an idle driver's buffers are all used,
 *   so one further ahead moved its idx back, or exposed more than the ring
 *   holds);
 * - the chains behind the available ring's last entries (at most the queue
 *   size of them, all published since the queue was enabled), newest first,
 *   each walked through its NEXT links; a chain that touches a descriptor a
 *   newer chain uses is skipped (its descriptors were reused, so what the
 *   table holds is the newer chain's). Drivers rewrite only the `next` field
 *   of a finished chain's last descriptor (to link their free list), which a
 *   walk never follows. Indirect tables are not read: a driver frees them
 *   once the device used them.
 *
 * @module
 */
import { queueAreaSizes, type RingFeatures } from "../virtqueue/queue.ts";
import { hex } from "../text.ts";
import { RING_VIOLATION_STATEMENTS, type RingViolation, type RingViolationKind } from "./ring_monitor.ts";

const NEXT = 1;
const WRITE = 2;
const INDIRECT = 4;

/** Reads `length` bytes of guest memory at `addr`, or undefined where the snapshot holds none. */
export type SnapshotReader = (addr: number, length: number) => Uint8Array | undefined;

/** A split queue as the driver set it up. */
export interface SnapshotQueue {
  q: number;
  size: number;
  desc: number;
  driver: number;
  device: number;
  features: RingFeatures;
}

/** The ring violation kinds a snapshot can show (the statements they name are judged on watched drivers). */
export const SNAPSHOT_KINDS: readonly RingViolationKind[] = [
  "avail-idx-overrun",
  "avail-flags-invalid",
  "avail-flags-nonzero-event-idx",
  "readable-after-writable",
  "chain-too-large",
  "in-order-next",
  "indirect-without-feature",
  "chain-too-long",
  "desc-index-out-of-range",
  "indirect-with-next",
];

const u16 = (b: Uint8Array, o: number) => b[o]! | (b[o + 1]! << 8);
const u32 = (b: Uint8Array, o: number) => (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;

/**
 * The violations a snapshot of one split queue shows (empty when the snapshot lacks the queue's areas).
 *
 * @example
 * ```ts ignore
 * const found = checkSplitSnapshot({ q: 0, size: 256, desc, driver, device, features }, read);
 * ```
 */
export function checkSplitSnapshot(queue: SnapshotQueue, read: SnapshotReader): RingViolation[] {
  const { q, size, features } = queue;
  if (!Number.isInteger(size) || size < 1 || size > 32768) return [];
  const areas = queueAreaSizes("split", size);
  const table = read(queue.desc, areas.desc);
  const avail = read(queue.driver, areas.driver);
  if (!table || !avail) return [];
  const out: RingViolation[] = [];
  const report = (kind: RingViolationKind, detail: string, head?: number) =>
    out.push({
      kind,
      statement: RING_VIOLATION_STATEMENTS[kind],
      queue: q,
      detail,
      ...(head === undefined ? {} : { head }),
    });
  const flags = u16(avail, 0);
  if (!features.eventIdx && flags > 1) {
    report("avail-flags-invalid", `available ring flags ${hex(flags, 3)}, not 0 or 1`);
  }
  if (features.eventIdx && flags !== 0) {
    report("avail-flags-nonzero-event-idx", `available ring flags ${hex(flags, 3)} with VIRTIO_F_EVENT_IDX`);
  }
  const idx = u16(avail, 2);
  const used = read(queue.device, 4);
  if (used) {
    const usedIdx = u16(used, 2);
    const ahead = (idx - usedIdx) & 0xffff;
    if (ahead > size) {
      report(
        "avail-idx-overrun",
        `available idx ${idx} is ${ahead} entries ahead of used idx ${usedIdx} in a queue of ${size} (the idx went ` +
          "back, or more buffers were exposed than the ring holds)",
      );
    }
  }
  const window = Math.min(size, idx);
  const claimed = new Set<number>();
  for (let k = 1; k <= window; k++) {
    const slot = (idx - k) & 0xffff;
    const head = u16(avail, 4 + 2 * (slot % size));
    const where = `chain of available slot ${slot % size} (idx ${slot})`;
    if (head >= size) {
      report("desc-index-out-of-range", `${where}: head ${head} is outside the queue of ${size}`, head);
      continue;
    }
    const walk = walkChain(table, size, head);
    if (walk.descs.some((d) => claimed.has(d))) continue; // reused by a newer chain
    walk.descs.forEach((d) => claimed.add(d));
    const path = walk.descs.join("→");
    if (walk.outOfRange !== undefined) {
      report("desc-index-out-of-range", `${where}: next ${walk.outOfRange} after ${path} is outside the queue`, head);
    }
    if (walk.loops !== undefined) report("chain-too-long", `${where} loops: ${path} comes back to ${walk.loops}`, head);
    let total = 0;
    let sawWritable = false;
    let misordered = false;
    for (const d of walk.descs) {
      const len = u32(table, 16 * d + 8);
      const f = u16(table, 16 * d + 12);
      const next = u16(table, 16 * d + 14);
      total += len;
      if (f & WRITE) sawWritable = true;
      else if (sawWritable && !(f & INDIRECT) && !misordered) {
        misordered = true; // once per chain
        report(
          "readable-after-writable",
          `${where}: descriptor ${d} is device-readable after a writable one (${path})`,
          head,
        );
      }
      if ((f & INDIRECT) && !features.indirect) {
        report("indirect-without-feature", `${where}: descriptor ${d} flags ${hex(f, 3)} set INDIRECT`, head);
      }
      if ((f & INDIRECT) && (f & NEXT)) {
        report("indirect-with-next", `${where}: descriptor ${d} flags ${hex(f, 3)} set INDIRECT and NEXT`, head);
      }
      if (features.inOrder && (f & NEXT) && next !== (d + 1) % size) {
        report("in-order-next", `${where}: descriptor ${d} links to ${next}, not ${(d + 1) % size}`, head);
      }
    }
    if (total >= 2 ** 32) report("chain-too-large", `${where}: ${total} bytes in ${path}`, head);
  }
  return out;
}

/** The descriptors of a chain through its NEXT links (bounded by the queue size), and how the walk ended. */
function walkChain(
  table: Uint8Array,
  size: number,
  head: number,
): { descs: number[]; loops?: number; outOfRange?: number } {
  const descs: number[] = [];
  const seen = new Set<number>();
  let i = head;
  for (;;) {
    if (seen.has(i)) return { descs, loops: i };
    seen.add(i);
    descs.push(i);
    const f = u16(table, 16 * i + 12);
    if (!(f & NEXT)) return { descs };
    const next = u16(table, 16 * i + 14);
    if (next >= size) return { descs, outOfRange: next };
    if (descs.length > size) return { descs, loops: next };
    i = next;
  }
}
