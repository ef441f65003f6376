/**
 * Verifiers shared by the clauses: one function per kind of outcome.
 *
 * @module
 */
import type { DeviceClauseContext } from "../harness/core/clause.ts";
import { Mmio } from "../harness/transport/mmio_layout.ts";
import { type DriverQueue, queueAreas } from "../harness/virtqueue/queue.ts";
import { expectNone, expectThat } from "../harness/verify.ts";

/**
 * The device stayed quiet: no queue has a new used element, the
 * interrupt line is low, InterruptStatus is 0 and (where the adapter records
 * them) the device made no access to any queue's memory.
 */
export async function expectQuietDevice(
  ctx: DeviceClauseContext,
  queues: DriverQueue[],
  when: string,
): Promise<void> {
  for (const q of queues) {
    const used = await q.hasUsed();
    expectThat(!used, `no new used element on queue ${q.index} ${when}`, () => "the device used a buffer");
  }
  const accesses = ctx.session.takeMemoryTrace?.() ?? [];
  const touched = accesses.filter((a) =>
    queues.some((q) => queueAreas(q).some(([base, len]) => a.addr < base + len && a.addr + a.length > base))
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
