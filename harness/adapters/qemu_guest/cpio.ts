/**
 * A minimal writer of the cpio "newc" format (what the Linux kernel unpacks
 * as an initramfs): regular files, directories and the trailer, no
 * compression, so a guest's initramfs is built in memory at run time.
 *
 * @module
 */

/** One entry of an archive. */
export type CpioEntry =
  | { kind: "dir"; path: string; mode?: number }
  | { kind: "file"; path: string; data: Uint8Array; mode?: number };

const enc = new TextEncoder();

function hex8(n: number): string {
  return (n >>> 0).toString(16).padStart(8, "0");
}

function header(ino: number, mode: number, size: number, nameLength: number): string {
  // magic, ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor, rdevmajor, rdevminor, namesize, check
  return "070701" + [ino, mode, 0, 0, 1, 0, size, 0, 0, 0, 0, nameLength, 0].map(hex8).join("");
}

function pad4(n: number): number {
  return (4 - (n % 4)) % 4;
}

/**
 * The archive of `entries`, in order (a directory must come before what it holds).
 *
 * @example
 * ```ts
 * import { cpioNewc } from "./cpio.ts";
 * const archive = cpioNewc([{ kind: "dir", path: "bin" }, { kind: "file", path: "init", data: new Uint8Array(3) }]);
 * console.log(new TextDecoder().decode(archive.subarray(0, 6))); // "070701"
 * ```
 */
export function cpioNewc(entries: readonly CpioEntry[]): Uint8Array {
  const parts: Uint8Array[] = [];
  let length = 0;
  const push = (b: Uint8Array) => {
    parts.push(b);
    length += b.length;
  };
  const entry = (ino: number, mode: number, path: string, data: Uint8Array) => {
    const name = enc.encode(path + "\0");
    const head = enc.encode(header(ino, mode, data.length, name.length));
    push(head);
    push(name);
    push(new Uint8Array(pad4(head.length + name.length)));
    push(data);
    push(new Uint8Array(pad4(data.length)));
  };
  entries.forEach((e, i) => {
    if (e.kind === "dir") entry(i + 1, 0o040000 | (e.mode ?? 0o755), e.path, new Uint8Array(0));
    else entry(i + 1, 0o100000 | (e.mode ?? 0o644), e.path, e.data);
  });
  entry(0, 0, "TRAILER!!!", new Uint8Array(0));
  const out = new Uint8Array(length);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
