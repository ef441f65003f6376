/**
 * Rebuilds an error that crossed the worker boundary, keeping the classes
 * the harness tells apart ({@link TargetError}, {@link MemoryAccessError}).
 *
 * @module
 */
import { TargetError } from "../../adapter.ts";
import { MemoryAccessError } from "../../memory.ts";
import type { WireError } from "./worker_protocol.ts";

/** The error a {@link WireError} describes, as the class its name says when known. */
export function fromWire(e: WireError): Error {
  if (e.name === "TargetError") return new TargetError(e.message);
  if (e.name === "MemoryAccessError") return new MemoryAccessError(e.message);
  const out = new Error(e.message);
  out.name = e.name;
  return out;
}
