import { assert, assertEquals } from "@std/assert";
import { coalesceTcp, TcpFlag, tcpSegmentOf } from "./net_lro.ts";
import { completeChecksum, ipv4HeaderChecksumOk, onesComplementSum, transportChecksumOk } from "./net_frames.ts";

/** An IPv4/TCP segment of the flow 10.0.0.1:1000 → 10.0.0.2:2000 with a right checksum. */
function segment(seq: number, payload: number, flags: number = TcpFlag.ACK, fill = seq & 0xff): Uint8Array {
  const f = new Uint8Array(14 + 20 + 20 + payload);
  f.set([0x08, 0x00], 12);
  const total = 40 + payload;
  f.set([0x45, 0, total >> 8, total & 0xff, 0, 1, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2], 14);
  const c = ~onesComplementSum(f, 14, 34) & 0xffff;
  f.set([c >> 8, c & 0xff], 24);
  f.set([0x03, 0xe8, 0x07, 0xd0, seq >>> 24, (seq >> 16) & 0xff, (seq >> 8) & 0xff, seq & 0xff], 34);
  f[46] = 0x50;
  f[47] = flags;
  f.fill(fill, 54);
  // The TCP checksum: pseudo header (addresses, protocol, length), then the segment.
  const sum = onesComplementSum(f, 34, f.length, onesComplementSum(f, 26, 34, 6 + 20 + payload));
  const t = ~sum & 0xffff;
  f.set([t >> 8, t & 0xff], 50);
  return f;
}

const ALL = { v4: true, v6: true, ecn: true };

Deno.test("consecutive segments of one flow become one packet whose checksum completes", () => {
  const segs = [segment(100, 500), segment(600, 500), segment(1100, 200)];
  assert(segs.every((s) => transportChecksumOk(s)));
  const c = coalesceTcp(segs, ALL)!;
  assertEquals([c.segments, c.mss, c.csumStart, c.csumOffset, c.hdrLen, c.v6, c.cwr], [
    3,
    500,
    34,
    16,
    54,
    false,
    false,
  ]);
  assertEquals(c.frame.length, 54 + 1200);
  assertEquals(ipv4HeaderChecksumOk(c.frame), true);
  const done = c.frame.slice();
  completeChecksum(done, c.csumStart, c.csumOffset);
  assertEquals(transportChecksumOk(done), true);
  assertEquals(tcpSegmentOf(done)?.payload, 1200);
});

Deno.test("coalescing stops at a gap, a bad checksum, a SYN, and needs two segments", () => {
  assertEquals(coalesceTcp([segment(100, 500), segment(700, 500)], ALL), undefined);
  const bad = segment(600, 500);
  bad[60] = bad[60]! ^ 0xff;
  assertEquals(coalesceTcp([segment(100, 500), bad], ALL), undefined);
  assertEquals(coalesceTcp([segment(100, 500), segment(600, 500, TcpFlag.SYN)], ALL), undefined);
  assertEquals(coalesceTcp([segment(100, 500)], ALL), undefined);
  assertEquals(coalesceTcp([segment(100, 500), segment(600, 500)], { ...ALL, v4: false }), undefined);
  assertEquals(coalesceTcp([segment(100, 500, TcpFlag.CWR), segment(600, 500)], { ...ALL, ecn: false }), undefined);
  assertEquals(coalesceTcp([segment(100, 500, TcpFlag.CWR), segment(600, 500)], ALL)?.cwr, true);
  assertEquals(coalesceTcp([segment(100, 300), segment(400, 200), segment(600, 300)], ALL)?.segments, 2);
});
