/**
 * Builds the device or driver side of a virtqueue in the layout the
 * negotiated features call for (split or packed).
 *
 * @module
 */
import type { BumpAllocator, GuestMemory } from "../memory.ts";
import type { ContiguousQueueLayout, QueueAddresses } from "../transport/transport.ts";
import { PackedDeviceQueue, PackedDriverQueue } from "./packed.ts";
import type { DeviceQueue, DriverQueue, RingFeatures } from "./queue.ts";
import { SplitDeviceQueue, SplitDriverQueue } from "./split.ts";

/**
 * The device side of a queue the driver configured at `addrs`.
 *
 * @example
 * ```ts ignore
 * const ring = createDeviceQueue(memory, addrs, ringFeatures(negotiated));
 * ```
 */
export function createDeviceQueue(mem: GuestMemory, addrs: QueueAddresses, features: RingFeatures): DeviceQueue {
  return features.format === "packed"
    ? new PackedDeviceQueue(mem, addrs, features)
    : new SplitDeviceQueue(mem, addrs, features);
}

/**
 * Allocates (zeroed) and returns the driver side of queue `index` with `size`
 * entries; with a `layout` (legacy interface), one contiguous block placed as
 * the layout says (split rings only).
 *
 * @example
 * ```ts ignore
 * const q = await createDriverQueue(memory, alloc, 0, 64, ringFeatures(negotiated));
 * ```
 */
export function createDriverQueue(
  mem: GuestMemory,
  alloc: BumpAllocator,
  index: number,
  size: number,
  features: RingFeatures,
  layout?: ContiguousQueueLayout,
): Promise<DriverQueue> {
  if (layout) {
    if (features.format === "packed") throw new Error("The legacy queue layout has no packed form");
    return SplitDriverQueue.at(mem, alloc, index, layout.at(alloc.alloc(layout.bytes, layout.align)), features);
  }
  return features.format === "packed"
    ? PackedDriverQueue.create(mem, alloc, index, size, features)
    : SplitDriverQueue.create(mem, alloc, index, size, features);
}
