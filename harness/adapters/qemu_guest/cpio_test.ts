import { assertEquals } from "@std/assert";
import { cpioNewc } from "./cpio.ts";

const dec = new TextDecoder();

Deno.test("cpioNewc: newc headers, 4-byte alignment, names and data in place, trailer last", () => {
  const data = new TextEncoder().encode("hello");
  const a = cpioNewc([{ kind: "dir", path: "bin" }, { kind: "file", path: "init", data, mode: 0o755 }]);
  assertEquals(a.length % 4, 0);
  // First entry: a directory named "bin".
  assertEquals(dec.decode(a.subarray(0, 6)), "070701");
  const mode = parseInt(dec.decode(a.subarray(14, 22)), 16);
  assertEquals(mode, 0o040755);
  assertEquals(dec.decode(a.subarray(110, 113)), "bin");
  // Second entry starts at the next multiple of 4 after header + name.
  const second = 110 + 4; // "bin\0" is 4 bytes, 114 % 4 = 2 → padded to 116
  const at = second + 2;
  assertEquals(dec.decode(a.subarray(at, at + 6)), "070701");
  assertEquals(parseInt(dec.decode(a.subarray(at + 54, at + 62)), 16), 5);
  const text = dec.decode(a);
  assertEquals(text.includes("init\0"), true);
  assertEquals(text.includes("hello"), true);
  assertEquals(text.lastIndexOf("TRAILER!!!") > text.indexOf("hello"), true);
});
