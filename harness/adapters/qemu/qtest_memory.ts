/**
 * Guest memory reached through qtest: `b64read`/`b64write` of guest-physical
 * addresses inside one RAM range the harness owns.
 *
 * @module
 */
import { type GuestMemory, inRange, MemoryAccessError } from "../../memory.ts";
import type { QtestClient } from "./qtest_client.ts";

/**
 * Guest RAM `[base, base + size)` of a QEMU machine, over qtest. The client
 * is looked up on every access (a session may replace its QEMU process).
 *
 * @example
 * ```ts ignore
 * const mem = new QtestMemory(() => qemu.qtest, 0x4000_0000, 128 << 20);
 * await mem.write(0x4000_1000, new Uint8Array([1, 2, 3]));
 * console.log(await mem.read(0x4000_1000, 3)); // Uint8Array(3) [ 1, 2, 3 ]
 * ```
 */
export class QtestMemory implements GuestMemory {
  constructor(
    readonly client: () => QtestClient,
    readonly base: number,
    readonly size: number,
    /** Turns a failed qtest call into the error the caller should see. */
    readonly wrap: (e: unknown) => Error = (e) => e instanceof Error ? e : new Error(String(e)),
  ) {}

  #check(addr: number, length: number): void {
    if (!inRange(this, addr, length)) {
      throw new MemoryAccessError(
        `Guest memory access out of range: 0x${addr.toString(16)}+${length} is outside 0x${this.base.toString(16)}..0x${
          (this.base + this.size).toString(16)
        }`,
      );
    }
  }

  async read(addr: number, length: number): Promise<Uint8Array> {
    this.#check(addr, length);
    if (length === 0) return new Uint8Array(0);
    try {
      return await this.client().b64read(addr, length);
    } catch (e) {
      throw this.wrap(e);
    }
  }

  async write(addr: number, data: Uint8Array): Promise<void> {
    this.#check(addr, data.length);
    if (data.length === 0) return;
    try {
      await this.client().b64write(addr, data);
    } catch (e) {
      throw this.wrap(e);
    }
  }
}
