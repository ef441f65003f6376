/**
 * Facts about device types the clauses need: configuration layouts and the
 * queues a driver sets up.
 *
 * @module
 */
import type { DeviceTypeName } from "./features.ts";
import { BLK_CONFIG_LAYOUT } from "./models/device/blk.ts";
import type { ConfigField } from "./models/device/device_function.ts";

/** The configuration layout of a device type (spec 5.x "Device configuration layout"). */
export function configLayoutOf(type: DeviceTypeName): readonly ConfigField[] {
  return type === "blk" ? BLK_CONFIG_LAYOUT : [];
}
