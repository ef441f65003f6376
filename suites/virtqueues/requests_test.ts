import { assertEquals } from "@std/assert";
import { canary, type PlacedRequest, unwrittenWindows } from "./requests.ts";

/** A request with device-writable buffers of these lengths (addresses do not matter here). */
function placed(...lens: number[]): PlacedRequest {
  return { writable: lens.map((len, i) => ({ addr: 0x1000 * (i + 1), len })) } as unknown as PlacedRequest;
}

/** The bytes a device left: each buffer filled with the canary, then `written` bytes of data from the start. */
function after(lens: number[], written: number): Uint8Array {
  const out: number[] = [];
  for (const len of lens) for (let i = 0; i < len; i++) out.push(canary(i));
  for (let i = 0; i < written; i++) out[i] = 0x11;
  return Uint8Array.from(out);
}

Deno.test("unwrittenWindows: every byte claimed and written is clean", () => {
  for (const lens of [[16], [13], [6], [9, 7], [3]]) {
    const total = lens.reduce((a, b) => a + b, 0);
    assertEquals(unwrittenWindows(placed(...lens), after(lens, total), total), [], `${lens}`);
  }
});

Deno.test("unwrittenWindows: a claimed but unwritten tail of 4 bytes is found, whatever the buffer's length", () => {
  for (const lens of [[16], [13], [6], [20], [9, 7]]) {
    const total = lens.reduce((a, b) => a + b, 0);
    const found = unwrittenWindows(placed(...lens), after(lens, total - 4), total);
    assertEquals(found.length > 0, true, `${lens}: nothing found`);
  }
  // 8-byte windows as before: the first window of a 16-byte buffer left entirely unwritten.
  assertEquals(unwrittenWindows(placed(16), after([16], 0), 16), [0, 8]);
});
