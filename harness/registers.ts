/**
 * Register access: the narrowest interface between the harness and a
 * transport's register file (MMIO window, PCI BAR, PCI configuration space).
 *
 * @module
 */

/** Access width in bytes. */
export type Width = 1 | 2 | 4;

/** A register file addressed by byte offset. */
export interface RegisterSpace {
  /** Reads `width` bytes at `offset`. */
  read(offset: number, width: Width): Promise<number>;
  /** Writes `value`, `width` bytes wide, at `offset`. */
  write(offset: number, width: Width, value: number): Promise<void>;
}

/** One access to a register file, as a monitor records it. */
export interface RegisterAccess {
  /** Position in the trace (0-based). */
  seq: number;
  kind: "read" | "write";
  offset: number;
  width: Width;
  /** The value written, or the value the read returned. */
  value: number;
}
