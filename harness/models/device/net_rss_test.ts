import { assertEquals } from "@std/assert";
import {
  decodeRssConfig,
  encodeRssConfig,
  NetHashReport,
  NetHashType,
  packetHash,
  type RssConfig,
  rssReceiveQueue,
  toeplitz,
} from "./net_rss.ts";

/** The key of Microsoft's RSS verification suite. */
const KEY = Uint8Array.from(
  "6d5a56da255b0ec24167253d43a38fb0d0ca2bcbae7b30b477cb2da38030f20c6a42b73bbeac01fa".match(/../g)!,
  (h) => parseInt(h, 16),
);

function ipv4Tcp(src: number[], dst: number[], sport: number, dport: number, proto = 6): Uint8Array {
  const f = new Uint8Array(14 + 20 + 20);
  f[12] = 0x08;
  f.set([0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, proto, 0, 0, ...src, ...dst], 14);
  f.set([sport >> 8, sport & 0xff, dport >> 8, dport & 0xff], 34);
  return f;
}

function ipv6Tcp(src: number[], dst: number[], sport: number, dport: number): Uint8Array {
  const f = new Uint8Array(14 + 40 + 20);
  f[12] = 0x86;
  f[13] = 0xdd;
  f.set([0x60, 0, 0, 0, 0, 20, 6, 64, ...src, ...dst], 14);
  f.set([sport >> 8, sport & 0xff, dport >> 8, dport & 0xff], 54);
  return f;
}

const v6 = (s: string) => s.split(":").flatMap((g) => [parseInt(g, 16) >> 8, parseInt(g, 16) & 0xff]);

Deno.test("toeplitz matches the published verification values for IPv4", () => {
  const f = ipv4Tcp([66, 9, 149, 187], [161, 142, 100, 80], 2794, 1766);
  assertEquals(packetHash(f, NetHashType.TCPv4, KEY), { hash: 0x51ccc178, report: NetHashReport.TCPv4 });
  assertEquals(packetHash(f, NetHashType.IPv4, KEY), { hash: 0x323e8fc2, report: NetHashReport.IPv4 });
  assertEquals(packetHash(f, NetHashType.UDPv4, KEY), undefined);
  const g = ipv4Tcp([199, 92, 111, 2], [65, 69, 140, 83], 14230, 4739);
  assertEquals(packetHash(g, NetHashType.TCPv4 | NetHashType.IPv4, KEY)?.hash, 0xc626b0ea);
});

Deno.test("toeplitz matches the published verification values for IPv6", () => {
  const f = ipv6Tcp(v6("3ffe:2501:200:1fff:0:0:0:7"), v6("3ffe:2501:200:3:0:0:0:1"), 2794, 1766);
  assertEquals(packetHash(f, NetHashType.TCPv6, KEY), { hash: 0x40207d3d, report: NetHashReport.TCPv6 });
  assertEquals(packetHash(f, NetHashType.IPv6, KEY), { hash: 0x2cc18cd5, report: NetHashReport.IPv6 });
  assertEquals(packetHash(f, NetHashType.TCPv4 | NetHashType.IPv4, KEY), undefined);
});

Deno.test("a UDP packet falls back to the IP hash when only the IP type is enabled; fragments have no ports", () => {
  const u = ipv4Tcp([66, 9, 149, 187], [161, 142, 100, 80], 2794, 1766, 17);
  assertEquals(packetHash(u, NetHashType.UDPv4, KEY)?.report, NetHashReport.UDPv4);
  assertEquals(packetHash(u, NetHashType.TCPv4 | NetHashType.IPv4, KEY)?.report, NetHashReport.IPv4);
  u[14 + 6] = 0x20; // more fragments
  assertEquals(packetHash(u, NetHashType.UDPv4, KEY), undefined);
  assertEquals(toeplitz(KEY, new Uint8Array(0)), 0);
});

Deno.test("rss config encodes, decodes and steers by table and unclassified queue", () => {
  const c: RssConfig = {
    hashTypes: NetHashType.TCPv4,
    tableMask: 3,
    unclassified: 2,
    table: [0, 1, 3, 1],
    maxTxVq: 4,
    key: KEY,
  };
  const b = encodeRssConfig(c);
  assertEquals(decodeRssConfig(b), c);
  assertEquals(decodeRssConfig(b.subarray(0, b.length - 1)), undefined);
  const f = ipv4Tcp([66, 9, 149, 187], [161, 142, 100, 80], 2794, 1766);
  assertEquals(rssReceiveQueue(c, f), c.table[0x51ccc178 & 3]);
  assertEquals(rssReceiveQueue(c, new Uint8Array(60)), 2);
});
