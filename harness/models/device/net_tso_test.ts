import { assert, assertEquals } from "@std/assert";
import { segmentTcp } from "./net_tso.ts";
import { TcpFlag, tcpSegmentOf } from "./net_lro.ts";
import { ipv4HeaderChecksumOk, onesComplementSum, transportChecksumOk } from "./net_frames.ts";

/** A large IPv4/TCP packet of `payload` bytes (sequence 5000, the given flags). */
function bigTcp(payload: number, flags: number): Uint8Array {
  const f = new Uint8Array(54 + payload);
  f.set([0x08, 0x00], 12);
  const total = 40 + payload;
  f.set([0x45, 0, total >> 8, total & 0xff, 0x12, 0x34, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2], 14);
  const c = ~onesComplementSum(f, 14, 34) & 0xffff;
  f.set([c >> 8, c & 0xff], 24);
  f.set([0x03, 0xe8, 0x07, 0xd0, 0, 0, 0x13, 0x88, 0, 0, 0, 1, 0x50, flags], 34);
  for (let i = 54; i < f.length; i++) f[i] = i & 0xff;
  return f;
}

Deno.test("a TCP packet is cut into right segments of at most mss bytes", () => {
  const big = bigTcp(2500, TcpFlag.ACK | TcpFlag.PSH | TcpFlag.CWR);
  const segs = segmentTcp(big, 1000)!;
  assertEquals(segs.map((s) => s.length - 54), [1000, 1000, 500]);
  segs.forEach((s, i) => {
    assert(ipv4HeaderChecksumOk(s));
    assert(transportChecksumOk(s));
    const t = tcpSegmentOf(s)!;
    assertEquals(t.seq, 5000 + 1000 * i);
    assertEquals((t.flags & TcpFlag.PSH) !== 0, i === 2);
    assertEquals((t.flags & TcpFlag.CWR) !== 0, i === 0);
    assertEquals(s.subarray(54), big.subarray(54 + 1000 * i, 54 + 1000 * i + s.length - 54));
  });
  assertEquals(segmentTcp(new Uint8Array(60), 1000), undefined);
});

Deno.test("a VXLAN-carried TCP packet is cut behind copies of the outer headers, outer lengths set", async () => {
  const { segmentTunnel } = await import("./net_tso.ts");
  const inner = bigTcp(1800, TcpFlag.ACK);
  const f = new Uint8Array(50 + inner.length);
  f.set([0x08, 0x00], 12);
  const total = 36 + inner.length;
  f.set([0x45, 0, total >> 8, total & 0xff, 0, 7, 0x40, 0, 64, 17, 0, 0, 10, 9, 0, 1, 10, 9, 0, 2], 14);
  f.set([0xc0, 0x00, 0x12, 0xb5, (8 + 8 + inner.length) >> 8, (8 + 8 + inner.length) & 0xff, 0, 0], 34);
  f.set([0x08, 0, 0, 0, 0, 0, 1, 0], 42);
  f.set(inner, 50);
  const segs = segmentTunnel(f, 1000, false, { outerThOffset: 34, innerNhOffset: 64, outerChecksum: true })!;
  assertEquals(segs.map((s) => s.length - 64 - 40), [1000, 800]);
  for (const s of segs) {
    assert(ipv4HeaderChecksumOk(s));
    assert(transportChecksumOk(s), "the outer UDP checksum is complete");
    assertEquals((s[38]! << 8) | s[39]!, s.length - 34);
    const innerFrame = new Uint8Array(s.length - 50);
    innerFrame.set(s.subarray(50));
    assert(transportChecksumOk(innerFrame), "the inner TCP checksum is complete");
  }
  assertEquals(
    segmentTunnel(f, 1000, false, { outerThOffset: 20, innerNhOffset: 64, outerChecksum: false }),
    undefined,
  );
});
