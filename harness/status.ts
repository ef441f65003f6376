import { hex } from "./text.ts";
/**
 * Device status bits (spec 2.1) and helpers to print them.
 *
 * @module
 */

/** Device status bits. */
export const Status = {
  ACKNOWLEDGE: 1,
  DRIVER: 2,
  DRIVER_OK: 4,
  FEATURES_OK: 8,
  SUSPEND: 16,
  DEVICE_NEEDS_RESET: 64,
  FAILED: 128,
} as const;

const NAMES: [number, string][] = Object.entries(Status).map(([k, v]) => [v, k]);

/**
 * Formats a status value as `0x0f (ACKNOWLEDGE|DRIVER|DRIVER_OK|FEATURES_OK)`.
 *
 * @example
 * ```ts
 * import { formatStatus } from "./status.ts";
 * formatStatus(3); // "0x03 (ACKNOWLEDGE|DRIVER)"
 * ```
 */
export function formatStatus(value: number): string {
  const code = hex(value, 2);
  if (value === 0) return `${code} (reset)`;
  const names = NAMES.filter(([bit]) => (value & bit) !== 0).map(([, n]) => n);
  const unknown = value & ~NAMES.reduce((a, [bit]) => a | bit, 0);
  if (unknown) names.push(`unknown 0x${unknown.toString(16)}`);
  return `${code} (${names.join("|")})`;
}
