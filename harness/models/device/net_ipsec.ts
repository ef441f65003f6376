/**
 * IPsec security associations of the network device as administration resource objects (spec 5.1.6.10, with the
 * structures of 5.10.6.5): the two capabilities (`virtio_crypto_ipsec_resource_cap`, the SA capability's modes),
 * the SA object (`virtio_crypto_resource_obj_ipsec_sa_256b_key`, 196 bytes) and the checks a create goes through. The
 * reference device keeps SAs; it does no ESP or AH processing of packets.
 *
 * @module
 */
import { le } from "../../memory.ts";
import { AdminQualifier, type AdminResult, AdminStatus } from "./admin_command.ts";
import type { AdminCapability, AdminResourceKind } from "./admin_queue.ts";

/** Capability ids of IPsec on a network device. */
export const NetIpsecCap = { RESOURCE: 0x0803, SA: 0x0804 } as const;
/** Resource object types of IPsec SAs on a network device. */
export const NetIpsecObject = { OUTB_SA: 0x0203, INB_SA: 0x0204 } as const;
/** `VIRTIO_CRYPTO_IPSEC_DIR_*`. */
export const IpsecDirection = { OUTBOUND: 1, INBOUND: 2 } as const;
/** IPsec modes. */
export const IpsecMode = { ESP_TUNNEL: 1, ESP_TRANSPORT: 2, AH_TUNNEL: 3, AH_TRANSPORT: 4 } as const;
/**
 * `VIRTIO_ADMIN_STATUS_EEXIST`: the IPsec statements name it, the status table of 2.12.1 does not list it; 17 is the
 * Linux error number the table's values follow.
 */
export const ADMIN_STATUS_EEXIST = 17;
/** Bytes of `virtio_crypto_resource_obj_ipsec_sa_256b_key`. */
export const IPSEC_SA_SIZE = 196;

/** One entry of the SA capability (`virtio_crypto_ipsec_mode_cap`, 48 bytes). */
export interface IpsecModeCap {
  mode: number;
  maxReplayWindow: number;
  options: number;
  /** Masks of the cipher and HMAC algorithms supported (bit n: algorithm n). */
  cipherAlgos: bigint;
  hmacAlgos: bigint;
  aeadAlgos: number;
  maxCipherKey: number;
  maxAuthKey: number;
}

/** The fields of an SA the checks look at. */
export interface IpsecSa {
  mode: number;
  direction: number;
  spi: number;
  options: bigint;
  replayWindow: number;
  cipherAlgo: bigint;
  cipherKeyLength: number;
  authAlgo: bigint;
  authKeyLength: number;
  /** The IPv4 tunnel header parameters (tunnel modes, outbound): type 4, addresses and TTL. */
  tunnel?: { src: number[]; dst: number[]; ttl: number };
}

/** Encodes `virtio_crypto_ipsec_resource_cap`. */
export function encodeIpsecLimits(inbound: number, outbound: number): Uint8Array {
  const out = new Uint8Array(8);
  le.setU32(out, 0, inbound);
  le.setU32(out, 4, outbound);
  return out;
}

/** Decodes `virtio_crypto_ipsec_resource_cap` (missing bytes read as zero). */
export function decodeIpsecLimits(b: Uint8Array): { inbound: number; outbound: number } {
  const x = new Uint8Array(8);
  x.set(b.subarray(0, 8));
  return { inbound: le.u32(x, 0), outbound: le.u32(x, 4) };
}

/** Encodes `virtio_crypto_ipsec_sa_cap_data`. */
export function encodeIpsecModes(modes: readonly IpsecModeCap[]): Uint8Array {
  const out = new Uint8Array(8 + 48 * modes.length);
  out[0] = modes.length;
  modes.forEach((m, i) => {
    const at = 8 + 48 * i;
    out[at] = m.mode;
    le.setU32(out, at + 4, m.maxReplayWindow);
    le.setU32(out, at + 8, m.options);
    le.setU64(out, at + 16, Number(m.cipherAlgos));
    le.setU64(out, at + 24, Number(m.hmacAlgos));
    le.setU32(out, at + 32, m.aeadAlgos);
    le.setU32(out, at + 36, m.maxCipherKey);
    le.setU32(out, at + 40, m.maxAuthKey);
  });
  return out;
}

/** Decodes `virtio_crypto_ipsec_sa_cap_data` (entries past the bytes given are left out). */
export function decodeIpsecModes(b: Uint8Array): IpsecModeCap[] {
  const out: IpsecModeCap[] = [];
  for (let i = 0; i < (b[0] ?? 0) && 8 + 48 * (i + 1) <= b.length; i++) {
    const at = 8 + 48 * i;
    out.push({
      mode: b[at]!,
      maxReplayWindow: le.u32(b, at + 4),
      options: le.u32(b, at + 8),
      cipherAlgos: BigInt(le.u64(b, at + 16)),
      hmacAlgos: BigInt(le.u64(b, at + 24)),
      aeadAlgos: le.u32(b, at + 32),
      maxCipherKey: le.u32(b, at + 36),
      maxAuthKey: le.u32(b, at + 40),
    });
  }
  return out;
}

/** Encodes an SA (the fields of {@link IpsecSa}; keys of the lengths given filled with a pattern; the rest zero). */
export function encodeIpsecSa(sa: IpsecSa): Uint8Array {
  const out = new Uint8Array(IPSEC_SA_SIZE);
  out[0] = sa.mode;
  out[1] = sa.direction;
  le.setU32(out, 8, sa.spi);
  le.setU64(out, 16, Number(sa.options));
  le.setU32(out, 72, sa.replayWindow);
  le.setU64(out, 76, Number(sa.cipherAlgo));
  le.setU16(out, 84, sa.cipherKeyLength);
  for (let i = 0; i < Math.min(32, sa.cipherKeyLength); i++) out[88 + i] = 0x11 + i;
  le.setU64(out, 120, Number(sa.authAlgo));
  le.setU16(out, 128, sa.authKeyLength);
  for (let i = 0; i < Math.min(32, sa.authKeyLength); i++) out[132 + i] = 0x51 + i;
  if (sa.tunnel) {
    out[24] = 4;
    out.set(sa.tunnel.src.slice(0, 4), 28);
    out.set(sa.tunnel.dst.slice(0, 4), 32);
    out[38] = sa.tunnel.ttl;
  }
  return out;
}

/** Decodes the fields of an SA the checks look at (missing bytes read as zero). */
export function decodeIpsecSa(b: Uint8Array): IpsecSa {
  const x = new Uint8Array(IPSEC_SA_SIZE);
  x.set(b.subarray(0, IPSEC_SA_SIZE));
  return {
    mode: x[0]!,
    direction: x[1]!,
    spi: le.u32(x, 8),
    options: BigInt(le.u64(x, 16)),
    replayWindow: le.u32(x, 72),
    cipherAlgo: BigInt(le.u64(x, 76)),
    cipherKeyLength: le.u16(x, 84),
    authAlgo: BigInt(le.u64(x, 120)),
    authKeyLength: le.u16(x, 128),
    ...(x[24] !== 0 ? { tunnel: { src: [...x.subarray(28, 32)], dst: [...x.subarray(32, 36)], ttl: x[38]! } } : {}),
  };
}

/** The lowest algorithm identifier set in an algorithm mask (0: none). */
export function lowestAlgorithm(mask: bigint): bigint {
  for (let a = 1n; a < 64n; a++) if ((mask >> a) & 1n) return a;
  return 0n;
}

/** Whether `sa` fits one of `modes` (mode, options, algorithms, key lengths, replay window for inbound). */
export function saSupported(sa: IpsecSa, modes: readonly IpsecModeCap[], inbound: boolean): boolean {
  const m = modes.find((x) => x.mode === sa.mode);
  if (!m) return false;
  if ((sa.options & ~BigInt(m.options)) !== 0n) return false;
  const algo = (a: bigint, mask: bigint) => a === 0n || (a < 64n && ((mask >> a) & 1n) === 1n);
  if (!algo(sa.cipherAlgo, m.cipherAlgos) || !algo(sa.authAlgo, m.hmacAlgos)) return false;
  if (sa.cipherKeyLength > Math.min(32, m.maxCipherKey) || sa.authKeyLength > Math.min(32, m.maxAuthKey)) return false;
  return !inbound || sa.replayWindow <= m.maxReplayWindow;
}

/** The IPsec support of the reference net device: 4 SAs each way, ESP tunnel and transport. */
export function referenceIpsecModes(): IpsecModeCap[] {
  const base = {
    maxReplayWindow: 64,
    options: 0b11,
    cipherAlgos: 1n << 3n,
    hmacAlgos: 1n << 2n,
    aeadAlgos: 0,
    maxCipherKey: 32,
    maxAuthKey: 32,
  };
  return [{ ...base, mode: IpsecMode.ESP_TUNNEL }, { ...base, mode: IpsecMode.ESP_TRANSPORT }];
}

const fail = (status: number, qualifier: number = AdminQualifier.INVALID_FIELD): AdminResult => ({
  status,
  qualifier,
  result: new Uint8Array(0),
});

/**
 * The IPsec capabilities and SA resource kinds of a device with `limits` and `modes`: SA commands are
 * INVALID_OPCODE until both capabilities are set, a create of an id in use is EEXIST, ids past the driver's limit
 * and SAs outside the modes reported are EINVAL.
 */
export function ipsecAdmin(
  limits: { inbound: number; outbound: number },
  modes: readonly IpsecModeCap[],
): { capabilities: AdminCapability[]; resources: AdminResourceKind[] } {
  const usable = (caps: ReadonlyMap<number, Uint8Array>) => caps.has(NetIpsecCap.RESOURCE) && caps.has(NetIpsecCap.SA);
  const driverModes = (caps: ReadonlyMap<number, Uint8Array>) => decodeIpsecModes(caps.get(NetIpsecCap.SA)!);
  const capabilities: AdminCapability[] = [
    {
      id: NetIpsecCap.RESOURCE,
      device: encodeIpsecLimits(limits.inbound, limits.outbound),
      accepts(b) {
        const l = decodeIpsecLimits(b);
        return l.inbound <= limits.inbound && l.outbound <= limits.outbound;
      },
    },
    {
      id: NetIpsecCap.SA,
      device: encodeIpsecModes(modes),
      accepts: (b) =>
        decodeIpsecModes(b).every((m) => {
          const d = modes.find((x) => x.mode === m.mode);
          return d !== undefined && (m.options & ~d.options) === 0 && (m.cipherAlgos & ~d.cipherAlgos) === 0n &&
            (m.hmacAlgos & ~d.hmacAlgos) === 0n && m.maxCipherKey <= d.maxCipherKey && m.maxAuthKey <= d.maxAuthKey &&
            m.maxReplayWindow <= d.maxReplayWindow;
        }),
    },
  ];
  const kind = (type: number, inbound: boolean): AdminResourceKind => ({
    type,
    enabled: usable,
    limit: (caps) => {
      if (!usable(caps)) return 0;
      const l = decodeIpsecLimits(caps.get(NetIpsecCap.RESOURCE)!);
      return inbound ? l.inbound : l.outbound;
    },
    existing: () => fail(ADMIN_STATUS_EEXIST),
    check(_id, data, _objects, _creating, caps) {
      const sa = decodeIpsecSa(data);
      return saSupported(sa, caps ? driverModes(caps) : modes, inbound) ? undefined : fail(AdminStatus.EINVAL);
    },
    inUse: () => false,
  });
  return { capabilities, resources: [kind(NetIpsecObject.OUTB_SA, false), kind(NetIpsecObject.INB_SA, true)] };
}
