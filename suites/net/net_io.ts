/**
 * The harness as a network driver (spec 5.1): bringing a net device up with
 * chosen features, giving it receive buffers, making it receive frames from
 * the wire the harness owns and reading back what it wrote, and transmitting
 * frames and reading them off the wire.
 *
 * @module
 */
import fc from "fast-check";
import { type NetWire, TargetError } from "../../harness/adapter.ts";
import type { DeviceClauseContext } from "../../harness/core/clause.ts";
import { bit, F, formatFeatures, NET_F } from "../../harness/features.ts";
import {
  decodeNetHeader,
  encodeNetHeader,
  NET_CTRL,
  NET_RX,
  NET_TX,
  type NetHeader,
  netHeaderSize,
  onesComplementSum,
  pseudoHeaderSum,
  transportOf,
} from "../../harness/models/device/net.ts";
import { HARNESS_CORE_FEATURES } from "../../harness/roles/harness_driver.ts";
import { formatStatus, Status } from "../../harness/status.ts";
import { expectThat, notApplicable } from "../../harness/verify.ts";
import type { BufferSpec, UsedElem } from "../../harness/virtqueue/queue.ts";

/** The MAC address the harness's frames come from (locally administered). */
export const HARNESS_MAC = [0x02, 0x00, 0x5e, 0x10, 0x00, 0x01] as const;
/** The Ethernet type of the harness's test frames (IEEE local experimental). */
export const TEST_ETHERTYPE = 0x88b5;
/** The least time a frame the device reported sent may take to reach the harness's end of the wire. */
const WIRE_GRACE_MS = 250;
/** Bytes of an Ethernet header. */
export const ETH_HEADER = 14;

/** A net device brought up by the harness. */
export interface NetLink {
  negotiated: bigint;
  /** Bytes of `struct virtio_net_hdr` in force. */
  hdr: number;
  /** The device's MAC address (from the configuration with VIRTIO_NET_F_MAC, else broadcast is used). */
  mac: number[];
  /** Receive buffers made available and not yet used, by head. */
  receive: Map<number, { pieces: BufferSpec[]; capacity: number }>;
}

/** The wire of the device under test, or n/a with the reason. */
export function wireOf(ctx: DeviceClauseContext): NetWire {
  const wire = ctx.session.wire;
  if (!wire) {
    notApplicable(
      "the harness does not own this device's wire (no wire capability): it can neither make the device receive " +
        "nor see what it transmits",
    );
  }
  return wire;
}

/** True when feature `f` is in `set`. */
export function has(set: bigint, f: number): boolean {
  return (set & bit(f)) !== 0n;
}

/**
 * Brings the device to DRIVER_OK with the harness's core features (without IN_ORDER, so every used element
 * carries its length) and whichever of `want` it offers; receiveq1 and transmitq1 set up, and the control queue
 * when CTRL_VQ is negotiated. `want` may name features that must be negotiated (`need`), else the clause is n/a.
 */
export async function netUp(
  ctx: DeviceClauseContext,
  want: readonly number[],
  need: readonly number[] = [],
): Promise<NetLink> {
  for (const f of need) {
    if (!has(ctx.offered, f)) notApplicable(`the device does not offer ${formatFeatures(bit(f), "net")}`);
  }
  const mask = want.reduce((m, f) => m | bit(f), HARNESS_CORE_FEATURES & ~bit(F.IN_ORDER));
  const r = await ctx.driver.init("features-ok", (o) => o & mask);
  expectThat(r.featuresOk, "FEATURES_OK for features the device offered", () => formatStatus(r.status));
  const negotiated = ctx.driver.negotiated;
  await ctx.driver.setupQueue(NET_RX);
  await ctx.driver.setupQueue(NET_TX);
  if (has(negotiated, NET_F.CTRL_VQ)) await ctx.driver.setupQueue(NET_CTRL);
  const status = await ctx.driver.addStatus(Status.DRIVER_OK);
  expectThat((status & Status.DRIVER_OK) !== 0, "DRIVER_OK set", () => formatStatus(status));
  const mac = has(negotiated, NET_F.MAC)
    ? await Promise.all(Array.from({ length: 6 }, (_, i) => ctx.transport.readConfig(i, 1)))
    : [0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
  return { negotiated, hdr: netHeaderSize(negotiated), mac, receive: new Map() };
}

/** An Ethernet frame of `length` bytes (at least the header) to `dest` from the harness, payload from `seed`. */
export function testFrame(dest: readonly number[], length: number, seed = 1): Uint8Array {
  const f = new Uint8Array(Math.max(ETH_HEADER, length));
  f.set(dest.slice(0, 6), 0);
  f.set(HARNESS_MAC, 6);
  f[12] = TEST_ETHERTYPE >> 8;
  f[13] = TEST_ETHERTYPE & 0xff;
  for (let i = ETH_HEADER; i < f.length; i++) f[i] = (seed * 37 + i * 11) & 0xff;
  return f;
}

/** The fill of receive buffers before the device writes them. */
const RX_FILL = 0xa5;

/**
 * Makes receive buffers available on receiveq1 and notifies: each buffer is `capacity` device-writable bytes cut
 * into `pieces` descriptors (at least 1 byte each).
 */
export async function giveReceiveBuffers(
  ctx: DeviceClauseContext,
  link: NetLink,
  buffers: readonly { capacity: number; pieces: number }[],
): Promise<void> {
  const queue = ctx.driver.queue(NET_RX);
  for (const b of buffers) {
    const n = Math.max(1, Math.min(b.pieces, b.capacity, queue.freeCount));
    if (queue.freeCount < n) break;
    const pieces: BufferSpec[] = [];
    let left = b.capacity;
    for (let i = 0; i < n; i++) {
      const len = i === n - 1 ? left : Math.max(1, Math.floor(b.capacity / n));
      left -= len;
      const addr = ctx.driver.alloc.alloc(len, 8);
      await ctx.session.memory.write(addr, new Uint8Array(len).fill(RX_FILL));
      pieces.push({ addr, len, writable: true });
    }
    const head = await queue.add(pieces);
    await queue.publish(head);
    link.receive.set(head, { pieces, capacity: b.capacity });
  }
  await ctx.driver.kick(NET_RX);
}

/** One used receive buffer as the harness read it back. */
export interface UsedReceive {
  id: number;
  /** The used length the device reported. */
  len: number;
  /** The buffer's device-writable bytes. */
  capacity: number;
  /** The first `min(len, capacity)` bytes of the buffer. */
  bytes: Uint8Array;
}

/** A packet as received: the used buffers it took, its header, and the frame after the header. */
export interface ReceivedPacket {
  header: NetHeader;
  buffers: UsedReceive[];
  frame: Uint8Array;
}

/**
 * Injects `frames` on the wire and collects the receive buffers the device uses: until `expect` buffers came or
 * the device went quiet. Returns the used buffers in the order they were used.
 */
export async function receiveFrames(
  ctx: DeviceClauseContext,
  link: NetLink,
  frames: readonly Uint8Array[],
  expect: number,
): Promise<UsedReceive[]> {
  const wire = wireOf(ctx);
  for (const f of frames) await wire.inject(f);
  const used: UsedElem[] = await ctx.driver.waitUsed(NET_RX, expect);
  // A device that uses more than expected (a frame spread wider than it needed) is seen too.
  used.push(...await ctx.driver.waitUsed(NET_RX, 0, 0));
  const out: UsedReceive[] = [];
  for (const u of used) {
    const b = link.receive.get(u.id);
    if (!b) continue;
    link.receive.delete(u.id);
    const bytes = new Uint8Array(Math.min(u.len, b.capacity));
    let off = 0;
    for (const p of b.pieces) {
      if (off >= bytes.length) break;
      const n = Math.min(p.len, bytes.length - off);
      bytes.set(await ctx.session.memory.read(p.addr, n), off);
      off += n;
    }
    out.push({ id: u.id, len: u.len, capacity: b.capacity, bytes });
  }
  return out;
}

/**
 * Groups used receive buffers into packets as a driver does: with MRG_RXBUF by `num_buffers` (at least 1), without
 * it one buffer per packet whatever `num_buffers` says. A group cut short by the end of the list keeps what there is.
 */
export function packetsOf(link: NetLink, used: readonly UsedReceive[]): ReceivedPacket[] {
  const out: ReceivedPacket[] = [];
  const merged = has(link.negotiated, NET_F.MRG_RXBUF);
  for (let i = 0; i < used.length;) {
    const first = used[i]!;
    const header = decodeNetHeader(first.bytes, link.hdr);
    const count = merged ? Math.max(1, header.numBuffers ?? 1) : 1;
    const buffers = used.slice(i, i + count);
    const total = buffers.reduce((n, b) => n + b.bytes.length, 0);
    const all = new Uint8Array(total);
    let off = 0;
    for (const b of buffers) {
      all.set(b.bytes, off);
      off += b.bytes.length;
    }
    out.push({ header, buffers, frame: all.slice(Math.min(link.hdr, all.length)) });
    i += count;
  }
  return out;
}

/** Formats bytes as hex, at most `max` of them. */
export function hexBytes(b: Uint8Array, max = 24): string {
  const s = Array.from(b.subarray(0, max), (x) => x.toString(16).padStart(2, "0")).join(" ");
  return b.length > max ? `${s} … (${b.length} bytes)` : s;
}

/** One frame to transmit: its header fields and the frame, cut into `pieces` descriptors after the header's. */
export interface Outgoing {
  header: Partial<NetHeader>;
  frame: Uint8Array;
  /** Descriptors for header and frame together (1: one buffer); default 2 (header, frame). */
  pieces?: number;
}

/**
 * Transmits `packets` on transmitq1, waits until the device used them, and collects what reached the wire: until
 * `expect` frames came (default one per packet) or the device went quiet.
 */
export async function transmitFrames(
  ctx: DeviceClauseContext,
  link: NetLink,
  packets: readonly Outgoing[],
  expect = packets.length,
): Promise<Uint8Array[]> {
  const wire = wireOf(ctx);
  await wire.takeTransmitted();
  const queue = ctx.driver.queue(NET_TX);
  let sent = 0;
  for (const p of packets) {
    const bytes = new Uint8Array(link.hdr + p.frame.length);
    bytes.set(encodeNetHeader({ numBuffers: 0, ...p.header }, link.hdr));
    bytes.set(p.frame, link.hdr);
    const n = Math.max(1, Math.min(p.pieces ?? 2, bytes.length, queue.freeCount));
    if (queue.freeCount < n) break;
    const cuts = n === 1 ? [bytes.length] : [link.hdr, ...cutsOf(bytes.length - link.hdr, n - 1)];
    const pieces: BufferSpec[] = [];
    let off = 0;
    for (const len of cuts) {
      const addr = ctx.driver.alloc.alloc(len, 8);
      await ctx.session.memory.write(addr, bytes.subarray(off, off + len));
      pieces.push({ addr, len, writable: false });
      off += len;
    }
    await queue.publish(await queue.add(pieces));
    sent++;
  }
  await ctx.driver.kick(NET_TX);
  await ctx.driver.waitUsed(NET_TX, sent);
  const got: Uint8Array[] = [];
  // The device has used every packet: it says it sent them. What is left is the way from the device to the harness's
  // end of the wire (a socket for QEMU), so the frames still missing are waited for a grace that restarts with every
  // frame that comes: generous against a loaded machine (at least WIRE_GRACE_MS), and never past the deadline.
  const deadline = Date.now() + ctx.driver.deadlineMs;
  const grace = Math.max(WIRE_GRACE_MS, ctx.driver.negativeWindow(2 * WIRE_GRACE_MS));
  let lastNews = Date.now();
  while (got.length < expect && Date.now() < deadline && Date.now() - lastNews < grace) {
    const more = await wire.takeTransmitted();
    got.push(...more);
    if (more.length > 0) lastNews = Date.now();
    else await ctx.session.settle(10);
  }
  got.push(...await wire.takeTransmitted());
  return got;
}

/** `total` bytes cut into `n` non-empty parts (the last takes the rest). */
function cutsOf(total: number, n: number): number[] {
  const parts = Math.max(1, Math.min(n, total));
  const out: number[] = [];
  let left = total;
  for (let i = 0; i < parts; i++) {
    const len = i === parts - 1 ? left : Math.max(1, Math.floor(total / parts));
    out.push(len);
    left -= len;
  }
  return out.filter((x) => x > 0);
}

/**
 * An IPv4/UDP frame to `dest` with `payload` bytes after the UDP header; its UDP checksum right when `good`, else
 * wrong (and not 0, which would mean "none").
 */
export function udpFrame(dest: readonly number[], payload: number, seed: number, good: boolean): Uint8Array {
  const frame = testFrame(dest, ETH_HEADER + 20 + 8 + payload, seed);
  frame[12] = 0x08;
  frame[13] = 0x00;
  const ip = ETH_HEADER;
  frame.set([0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2], ip);
  const total = 20 + 8 + payload;
  frame[ip + 2] = total >> 8;
  frame[ip + 3] = total & 0xff;
  const c = ~onesComplementSum(frame, ip, ip + 20) & 0xffff;
  frame[ip + 10] = c >> 8;
  frame[ip + 11] = c & 0xff;
  const udp = ip + 20;
  const len = 8 + payload;
  frame.set([0x30, 0x39, 0x30, 0x3a, len >> 8, len & 0xff, 0, 0], udp);
  let sumU = ~onesComplementSum(frame, udp, udp + len, onesComplementSum(frame, ip + 12, ip + 20, 17 + len)) & 0xffff;
  if (sumU === 0) sumU = 0xffff;
  if (!good) sumU = sumU === 0x1234 ? 0x4321 : 0x1234;
  frame[udp + 6] = sumU >> 8;
  frame[udp + 7] = sumU & 0xff;
  return frame;
}

/** A frame like {@link testFrame} with an 802.1Q tag for VLAN `vid` after the source MAC. */
export function vlanFrame(dest: readonly number[], vid: number, length: number, seed = 1): Uint8Array {
  const f = testFrame(dest, Math.max(ETH_HEADER + 4, length), seed);
  f[12] = 0x81;
  f[13] = 0x00;
  f[14] = (vid >> 8) & 0x0f;
  f[15] = vid & 0xff;
  f[16] = TEST_ETHERTYPE >> 8;
  f[17] = TEST_ETHERTYPE & 0xff;
  return f;
}

/**
 * Sends one command on the control queue (CTRL_VQ negotiated; queue `index`, 2N with MQ): class and command, then
 * `data`, in device-readable buffers, and a device-writable ack byte (preset to 0xff); returns the ack the device
 * wrote, or undefined when it did not use the command in time.
 */
export async function controlCommand(
  ctx: DeviceClauseContext,
  cls: number,
  command: number,
  data: Uint8Array = new Uint8Array(0),
  index = NET_CTRL,
): Promise<number | undefined> {
  return (await controlQuery(ctx, cls, command, data, 0, index))?.ack;
}

/**
 * A control command that answers with `resultBytes` of command-specific result before its ack (e.g. a VQ_GET), the
 * result buffer filled with `fill` first; undefined when the device did not use it.
 */
export async function controlQuery(
  ctx: DeviceClauseContext,
  cls: number,
  command: number,
  data: Uint8Array,
  resultBytes: number,
  index = NET_CTRL,
  fill = 0,
): Promise<{ ack: number; result: Uint8Array } | undefined> {
  const queue = ctx.driver.queue(index);
  const mem = ctx.session.memory;
  const head = ctx.driver.alloc.alloc(2, 8);
  await mem.write(head, new Uint8Array([cls, command]));
  const pieces: BufferSpec[] = [{ addr: head, len: 2, writable: false }];
  if (data.length > 0) {
    const at = ctx.driver.alloc.alloc(data.length, 8);
    await mem.write(at, data);
    pieces.push({ addr: at, len: data.length, writable: false });
  }
  const result = resultBytes > 0 ? ctx.driver.alloc.alloc(resultBytes, 8) : undefined;
  if (result !== undefined) {
    await mem.write(result, new Uint8Array(resultBytes).fill(fill));
    pieces.push({ addr: result, len: resultBytes, writable: true });
  }
  const ack = ctx.driver.alloc.alloc(1, 8);
  await mem.write(ack, new Uint8Array([0xff]));
  pieces.push({ addr: ack, len: 1, writable: true });
  await queue.publish(await queue.add(pieces));
  await ctx.driver.kick(index);
  const used = await ctx.driver.waitUsed(index, 1);
  if (used.length === 0) return undefined;
  return {
    ack: (await mem.read(ack, 1))[0]!,
    result: result === undefined ? new Uint8Array(0) : await mem.read(result, resultBytes),
  };
}

/** A MAC address as `aa:bb:cc:dd:ee:ff`. */
export function macString(mac: readonly number[]): string {
  return mac.map((b) => b.toString(16).padStart(2, "0")).join(":");
}

/**
 * Which of `frames` the device passes to the driver: gives a receive buffer for each (and one more), injects them,
 * then a marker frame to the device's own address, and reads back until the marker came. A device receives in
 * order, so a frame not received before the marker was dropped: the negative answer costs one round trip, not a
 * wait. Returns the indexes of the frames received; undefined when the marker never came.
 */
export async function whichReceived(
  ctx: DeviceClauseContext,
  link: NetLink,
  frames: readonly Uint8Array[],
  markerTo: readonly number[] = link.mac,
): Promise<Set<number> | undefined> {
  const marker = testFrame(markerTo, 99, 0xee);
  const room = Math.max(1526, link.hdr + Math.max(marker.length, ...frames.map((f) => f.length)));
  const queue = ctx.driver.queue(NET_RX);
  if (queue.freeCount < frames.length + 1) notApplicable(`the receive queue (size ${queue.size}) is too small`);
  await giveReceiveBuffers(ctx, link, Array.from({ length: frames.length + 1 }, () => ({ capacity: room, pieces: 1 })));
  const wire = wireOf(ctx);
  for (const f of [...frames, marker]) await wire.inject(f);
  const got = new Set<number>();
  const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);
  for (let round = 0; round < frames.length + 2; round++) {
    const used = await receiveFrames(ctx, link, [], 1);
    if (used.length === 0) return undefined;
    for (const p of packetsOf(link, used)) {
      if (same(p.frame, marker)) return got;
      const i = frames.findIndex((f) => same(f, p.frame));
      if (i >= 0) got.add(i);
    }
  }
  return undefined;
}

/** The kinds of frame the flows come in. */
export const FLOW_KINDS = ["tcp4", "udp4", "icmp4", "tcp6", "udp6", "icmp6", "other"] as const;
export type FlowKind = typeof FLOW_KINDS[number];

/** One flow's frame: its kind, addresses (the first 4 bytes for IPv4) and ports. */
export interface Flow {
  kind: FlowKind;
  src: number[];
  dst: number[];
  sport: number;
  dport: number;
}

export const arbFlow: fc.Arbitrary<Flow> = fc.record({
  kind: fc.constantFrom(...FLOW_KINDS),
  src: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 16, maxLength: 16 }),
  dst: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 16, maxLength: 16 }),
  sport: fc.integer({ min: 1, max: 0xffff }),
  dport: fc.integer({ min: 1, max: 0xffff }),
});

const PAYLOAD = 24;

/**
 * The frame of a flow to `dest`: Ethernet, then IPv4 (header checksum right) or IPv6, then TCP, UDP or ICMP with
 * the ports and a payload marked with `seed`; "other" is a frame of the harness's test EtherType.
 */
export function flowFrame(dest: readonly number[], f: Flow, seed: number): Uint8Array {
  if (f.kind === "other") return testFrame(dest, 64 + seed, seed);
  const v6 = f.kind.endsWith("6");
  const proto = f.kind.startsWith("tcp") ? 6 : f.kind.startsWith("udp") ? 17 : v6 ? 58 : 1;
  const l4 = proto === 6 ? 20 : 8;
  const ipLen = v6 ? 40 : 20;
  const frame = testFrame(dest, ETH_HEADER + ipLen + l4 + PAYLOAD, seed);
  frame.set(v6 ? [0x86, 0xdd] : [0x08, 0x00], 12);
  const ip = ETH_HEADER;
  const rest = l4 + PAYLOAD;
  if (v6) {
    frame.set([0x60, 0, 0, 0, rest >> 8, rest & 0xff, proto, 64], ip);
    frame.set(f.src.slice(0, 16), ip + 8);
    frame.set(f.dst.slice(0, 16), ip + 24);
  } else {
    const total = ipLen + rest;
    frame.set([0x45, 0, total >> 8, total & 0xff, 0, seed & 0xff, 0x40, 0, 64, proto, 0, 0], ip);
    frame.set(f.src.slice(0, 4), ip + 12);
    frame.set(f.dst.slice(0, 4), ip + 16);
    const c = ~onesComplementSum(frame, ip, ip + 20) & 0xffff;
    frame.set([c >> 8, c & 0xff], ip + 10);
  }
  const t = ip + ipLen;
  frame.fill(0, t, t + l4);
  if (proto === 6 || proto === 17) frame.set([f.sport >> 8, f.sport & 0xff, f.dport >> 8, f.dport & 0xff], t);
  if (proto === 6) frame[t + 12] = 0x50;
  if (proto === 17) frame.set([rest >> 8, rest & 0xff], t + 4);
  if (proto === 1 || proto === 58) frame[t] = proto === 1 ? 8 : 128;
  return frame;
}

/** A TCP segment of flow `flow` to `dest` (checksums right unless `good` is false). */
export function tcpSegmentFrame(
  dest: readonly number[],
  flow: number,
  v6: boolean,
  seq: number,
  payload: number,
  flags: number,
  good: boolean,
): Uint8Array {
  const ipLen = v6 ? 40 : 20;
  const f = testFrame(dest, ETH_HEADER + ipLen + 20 + payload, 0x30 + flow + seq);
  f.set(v6 ? [0x86, 0xdd] : [0x08, 0x00], 12);
  const ip = ETH_HEADER;
  const l4 = 20 + payload;
  if (v6) {
    f.set([0x60, 0, 0, 0, l4 >> 8, l4 & 0xff, 6, 64], ip);
    for (let i = 0; i < 16; i++) {
      f[ip + 8 + i] = i === 15 ? 1 + flow : 0xfd;
      f[ip + 24 + i] = i === 15 ? 0x80 : 0xfd;
    }
  } else {
    const total = ipLen + l4;
    f.set(
      [0x45, 0, total >> 8, total & 0xff, 0, seq & 0xff, 0x40, 0, 64, 6, 0, 0, 10, 1, 0, 1 + flow, 10, 2, 0, 1],
      ip,
    );
    const c = ~onesComplementSum(f, ip, ip + 20) & 0xffff;
    f.set([c >> 8, c & 0xff], ip + 10);
  }
  const t = ip + ipLen;
  const sport = 40000 + flow;
  f.set([sport >> 8, sport & 0xff, 0x1f, 0x90, seq >>> 24, (seq >> 16) & 0xff, (seq >> 8) & 0xff, seq & 0xff], t);
  f.set([0, 0, 0, 1, 0x50, flags, 0x72, 0x10, 0, 0, 0, 0], t + 8);
  const th = transportOf(f)!;
  const sum = ~onesComplementSum(f, t, t + l4, pseudoHeaderSum(f, th)) & 0xffff;
  const c = good ? sum : sum ^ 0x5a5a;
  f.set([c >> 8, c & 0xff], t + 16);
  return f;
}

/** The outer IPv4 addresses (4 bytes each) and UDP source port of an encapsulated frame. */
export interface Outer {
  src: readonly number[];
  dst: readonly number[];
  sport: number;
  /** The VXLAN network identifier (default 1). */
  vni?: number;
}

/** An outer Ethernet and IPv4 header (protocol `proto`, header checksum right) before `payload`. */
function outerIpv4(dest: readonly number[], proto: number, payload: Uint8Array, outer: Outer, seed: number) {
  const f = new Uint8Array(ETH_HEADER + 20 + payload.length);
  f.set(dest, 0);
  f.set([...HARNESS_MAC, 0x08, 0x00], 6);
  const total = 20 + payload.length;
  f.set([0x45, 0, total >> 8, total & 0xff, 0, seed & 0xff, 0x40, 0, 64, proto, 0, 0], ETH_HEADER);
  f.set(outer.src.slice(0, 4), 26);
  f.set(outer.dst.slice(0, 4), 30);
  const c = ~onesComplementSum(f, ETH_HEADER, ETH_HEADER + 20) & 0xffff;
  f.set([c >> 8, c & 0xff], 24);
  f.set(payload, 34);
  return f;
}

/**
 * The Ethernet frame `inner` carried over VXLAN to `dest`: outer IPv4 (identification from `seed`), UDP to port 4789
 * (checksum 0), an 8-byte VXLAN header, then `inner`.
 */
export function vxlanFrame(dest: readonly number[], inner: Uint8Array, outer: Outer, seed: number): Uint8Array {
  const len = 16 + inner.length;
  const udp = new Uint8Array(len);
  udp.set([outer.sport >> 8, outer.sport & 0xff, 4789 >> 8, 4789 & 0xff, len >> 8, len & 0xff, 0, 0]);
  const vni = outer.vni ?? 1;
  udp.set([0x08, 0, 0, 0, (vni >> 16) & 0xff, (vni >> 8) & 0xff, vni & 0xff, 0], 8);
  udp.set(inner, 16);
  return outerIpv4(dest, 17, udp, outer, seed);
}

/** The IPv4 packet of the Ethernet frame `inner` carried over IPIP to `dest` (outer IPv4, protocol 4). */
export function ipipFrame(dest: readonly number[], inner: Uint8Array, outer: Outer, seed: number): Uint8Array {
  return outerIpv4(dest, 4, inner.subarray(ETH_HEADER), outer, seed);
}

/**
 * Resets queue `vq` on its own (VIRTIO_F_RING_RESET) and waits until the reset has completed; a TargetError when
 * it does not within 100 looks.
 */
export async function resetQueueAlone(ctx: DeviceClauseContext, vq: number): Promise<void> {
  await ctx.transport.startQueueReset(vq);
  for (let i = 0; i < 100 && await ctx.transport.queueResetPending(vq); i++) await ctx.driver.quiet(5);
  if (await ctx.transport.queueResetPending(vq)) throw new TargetError(`Queue ${vq}'s reset did not complete`);
}
