/**
 * Verifiers shared by the clauses: one function per kind of outcome.
 *
 * @module
 */
import type { DeviceClauseContext } from "../harness/clause.ts";
import { Mmio } from "../harness/transport/mmio_layout.ts";
import type { SplitDriverQueue } from "../harness/virtqueue/split.ts";
import { splitLayout } from "../harness/virtqueue/split.ts";
import { expectNone, expectThat } from "../harness/verify.ts";

/**
 * The device stayed quiet: the used idx of each queue did not move, the
 * interrupt line is low, InterruptStatus is 0 and (where the adapter records
 * them) the device made no access to any queue's memory.
 */
export async function expectQuietDevice(
  ctx: DeviceClauseContext,
  queues: SplitDriverQueue[],
  usedBefore: number,
  when: string,
): Promise<void> {
  for (const q of queues) {
    const used = await q.usedIdx();
    expectThat(
      used === usedBefore,
      `the used idx of queue ${q.index} to stay ${usedBefore} ${when}`,
      () => `it moved to ${used}`,
    );
  }
  const accesses = ctx.session.takeMemoryTrace?.() ?? [];
  const touched = accesses.filter((a) =>
    queues.some((q) => {
      const l = splitLayout(q.size);
      return [[q.addrs.desc, l.desc], [q.addrs.driver, l.avail], [q.addrs.device, l.used]].some(([base, len]) =>
        a.addr < base! + len! && a.addr + a.length > base!
      );
    })
  );
  expectNone(
    `no device access to queue memory ${when}`,
    touched,
    (a) => `${a.kind} 0x${a.addr.toString(16)}+${a.length}`,
  );
  const level = await ctx.session.interruptLevel();
  const isr = await ctx.transport.interruptStatus();
  expectThat(
    !level && isr === 0,
    `no notification ${when}`,
    () => `interrupt line ${level ? "high" : "low"}, InterruptStatus 0x${isr.toString(16)}`,
  );
}

/** MMIO offsets, re-exported for clause files. */
export { Mmio };
