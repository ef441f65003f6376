/**
 * The reference entropy device (spec 5.4): one request queue, no
 * configuration, every device-writable byte filled with random data.
 *
 * @module
 */
import { DEVICE_IDS } from "../../features.ts";
import type { GuestMemory } from "../../memory.ts";
import type { ChainBuffer } from "../../virtqueue/split.ts";
import type { ConfigField, DeviceFunction, HandleResult } from "./device_function.ts";
import { scatter } from "./device_function.ts";

/** Options of the reference entropy device. */
export interface RngOptions {
  queueSizeMax?: number;
  /** Seed of the deterministic byte stream (xorshift32). */
  seed?: number;
}

/**
 * The reference virtio-rng device function.
 *
 * @example
 * ```ts
 * import { RngFunction } from "./rng.ts";
 * const rng = new RngFunction({ seed: 1 });
 * console.log(rng.deviceId); // 4
 * ```
 */
export class RngFunction implements DeviceFunction {
  readonly type = "rng" as const;
  readonly deviceId = DEVICE_IDS.rng;
  readonly features = 0n;
  readonly queueCount = 1;
  readonly config = new Uint8Array(0);
  readonly configLayout: readonly ConfigField[] = [];
  /** Bytes the device fills per request at most (it may use fewer than offered); unlimited by default. */
  maxPerRequest = Infinity;
  #max: number;
  #state: number;
  constructor(opts: RngOptions = {}) {
    this.#max = opts.queueSizeMax ?? 64;
    this.#state = (opts.seed ?? 0x9e3779b9) >>> 0 || 1;
  }
  queueSizeMax(queue: number): number {
    return queue === 0 ? this.#max : 0;
  }
  #byte(): number {
    let x = this.#state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.#state = x >>> 0;
    return this.#state & 0xff;
  }
  async handle(_queue: number, chain: ChainBuffer[], mem: GuestMemory): Promise<HandleResult> {
    if (chain.some((b) => !b.writable)) {
      return { kind: "error", reason: "entropy request carries a device-readable buffer" };
    }
    const total = Math.min(this.maxPerRequest, chain.reduce((s, b) => s + b.len, 0));
    const data = new Uint8Array(total);
    for (let i = 0; i < total; i++) data[i] = this.#byte();
    return { kind: "used", written: await scatter(mem, chain, data) };
  }
  reset(): void {}
}
