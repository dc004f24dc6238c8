/**
 * IPv4 header (RFC 791 §3.1).
 *
 *   0 ver|ihl  1 tos  2 total length  4 identification  6 flags|fragment offset
 *   8 ttl  9 protocol  10 header checksum  12 source  16 destination  20 options..
 *
 * The header length (IHL) is honoured: options are kept as raw bytes and never
 * interpreted here. Total length may be shorter than the bytes handed in
 * (Ethernet pads short frames to 60 bytes); bytes past it are ignored. The
 * fragment offset is exposed in bytes (the field counts 8-byte units).
 */
import { type ParseResult, fail, ok } from './parse-result.js';
import { internetChecksum, verifyChecksum } from './checksum.js';

export const IPV4_VER_IHL = 0;
export const IPV4_TOS = 1;
export const IPV4_TOTAL_LEN = 2;
export const IPV4_IDENT = 4;
export const IPV4_FLAGS_FRAG = 6;
export const IPV4_TTL = 8;
export const IPV4_PROTOCOL = 9;
export const IPV4_CHECKSUM = 10;
export const IPV4_SRC = 12;
export const IPV4_DST = 16;
export const IPV4_OPTIONS = 20;
export const IPV4_MIN_HEADER_LEN = 20;
export const IPV4_MAX_HEADER_LEN = 60;
export const IPV4_MAX_PACKET_LEN = 65535;

const FLAG_DF = 0x4000;
const FLAG_MF = 0x2000;
const FRAG_OFFSET_MASK = 0x1fff;

export const IpProtocol = { ICMP: 1, TCP: 6, UDP: 17 } as const;

const EMPTY = new Uint8Array(0);

export interface Ipv4Repr {
  /** The whole second byte: DSCP (6 bits) and ECN (2 bits). */
  readonly tos: number;
  readonly ident: number;
  readonly dontFragment: boolean;
  readonly moreFragments: boolean;
  /** Fragment offset in bytes (a multiple of 8). */
  readonly fragmentOffset: number;
  readonly ttl: number;
  readonly protocol: number;
  readonly src: number;
  readonly dst: number;
  /** Raw option bytes; length a multiple of 4, at most 40. Empty for none. */
  readonly options: Uint8Array;
  /** Bytes after the header, as given by total length. */
  readonly payloadLen: number;
}

export type Ipv4ParseError =
  | 'truncated' | 'bad-version' | 'bad-header-length' | 'bad-total-length' | 'bad-checksum' | 'bad-fragment';

function u16(b: Uint8Array, at: number): number { return (b[at]! << 8) | b[at + 1]!; }
function u32(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}

/** The validation behind Ipv4Packet.check and parseIpv4: null when the header is sound. */
function checkIpv4(bytes: Uint8Array, offset: number, end: number, checksum: boolean): Ipv4ParseError | null {
  if (offset < 0 || end > bytes.length || end - offset < IPV4_MIN_HEADER_LEN) return 'truncated';
  const vihl = bytes[offset]!;
  if (vihl >>> 4 !== 4) return 'bad-version';
  const hlen = (vihl & 0x0f) << 2;
  if (hlen < IPV4_MIN_HEADER_LEN) return 'bad-header-length';
  if (hlen > end - offset) return 'truncated';
  const total = u16(bytes, offset + IPV4_TOTAL_LEN);
  if (total < hlen) return 'bad-total-length';
  if (total > end - offset) return 'truncated';
  const ff = u16(bytes, offset + IPV4_FLAGS_FRAG);
  // RFC 791: the datagram cannot extend past 65535 octets.
  if (((ff & FRAG_OFFSET_MASK) << 3) + total - hlen > IPV4_MAX_PACKET_LEN) return 'bad-fragment';
  if (checksum && !verifyChecksum(bytes, offset, offset + hlen)) return 'bad-checksum';
  return null;
}

/** Checked view: after `check`, header and total length lie within the bytes. */
export class Ipv4Packet {
  private constructor(readonly bytes: Uint8Array, readonly offset: number) {}

  static check(
    bytes: Uint8Array, offset = 0, end = bytes.length, checksum = true,
  ): ParseResult<Ipv4Packet, Ipv4ParseError> {
    const err = checkIpv4(bytes, offset, end, checksum);
    return err === null ? ok(new Ipv4Packet(bytes, offset)) : fail(err);
  }

  get headerLen(): number { return (this.bytes[this.offset]! & 0x0f) << 2; }
  get totalLen(): number { return u16(this.bytes, this.offset + IPV4_TOTAL_LEN); }
  get tos(): number { return this.bytes[this.offset + IPV4_TOS]!; }
  get ident(): number { return u16(this.bytes, this.offset + IPV4_IDENT); }
  get dontFragment(): boolean { return (u16(this.bytes, this.offset + IPV4_FLAGS_FRAG) & FLAG_DF) !== 0; }
  get moreFragments(): boolean { return (u16(this.bytes, this.offset + IPV4_FLAGS_FRAG) & FLAG_MF) !== 0; }
  get fragmentOffset(): number { return (u16(this.bytes, this.offset + IPV4_FLAGS_FRAG) & FRAG_OFFSET_MASK) << 3; }
  get ttl(): number { return this.bytes[this.offset + IPV4_TTL]!; }
  get protocol(): number { return this.bytes[this.offset + IPV4_PROTOCOL]!; }
  get checksum(): number { return u16(this.bytes, this.offset + IPV4_CHECKSUM); }
  get src(): number { return u32(this.bytes, this.offset + IPV4_SRC); }
  get dst(): number { return u32(this.bytes, this.offset + IPV4_DST); }
  get payloadOffset(): number { return this.offset + this.headerLen; }
  options(): Uint8Array {
    const h = this.headerLen;
    return h === IPV4_MIN_HEADER_LEN ? EMPTY : this.bytes.subarray(this.offset + IPV4_OPTIONS, this.offset + h);
  }
  payload(): Uint8Array { return this.bytes.subarray(this.offset + this.headerLen, this.offset + this.totalLen); }
}

/**
 * Parse the header at bytes[offset..end). The payload is
 * bytes[offset + ipv4HeaderLen(repr), offset + ipv4HeaderLen(repr) + repr.payloadLen).
 */
export function parseIpv4(
  bytes: Uint8Array, offset = 0, end = bytes.length, checksum = true,
): ParseResult<Ipv4Repr, Ipv4ParseError> {
  const err = checkIpv4(bytes, offset, end, checksum);
  if (err !== null) return fail(err);
  const ff = u16(bytes, offset + IPV4_FLAGS_FRAG);
  const hlen = (bytes[offset]! & 0x0f) << 2;
  return ok({
    tos: bytes[offset + IPV4_TOS]!,
    ident: u16(bytes, offset + IPV4_IDENT),
    dontFragment: (ff & FLAG_DF) !== 0,
    moreFragments: (ff & FLAG_MF) !== 0,
    fragmentOffset: (ff & FRAG_OFFSET_MASK) << 3,
    ttl: bytes[offset + IPV4_TTL]!,
    protocol: bytes[offset + IPV4_PROTOCOL]!,
    src: u32(bytes, offset + IPV4_SRC),
    dst: u32(bytes, offset + IPV4_DST),
    options: hlen === IPV4_MIN_HEADER_LEN ? EMPTY : bytes.subarray(offset + IPV4_OPTIONS, offset + hlen),
    payloadLen: u16(bytes, offset + IPV4_TOTAL_LEN) - hlen,
  });
}

export function ipv4HeaderLen(repr: Ipv4Repr): number {
  return IPV4_MIN_HEADER_LEN + ((repr.options.length + 3) & ~3);
}

/**
 * Write the header (with options, padded with EOL to a multiple of 4, and the
 * checksum) at buf[offset..]. Returns the header length. Caller ensures room.
 */
export function emitIpv4(repr: Ipv4Repr, buf: Uint8Array, offset = 0): number {
  const hlen = ipv4HeaderLen(repr);
  const total = hlen + repr.payloadLen;
  buf[offset] = 0x40 | (hlen >>> 2);
  buf[offset + IPV4_TOS] = repr.tos;
  buf[offset + IPV4_TOTAL_LEN] = total >>> 8;
  buf[offset + IPV4_TOTAL_LEN + 1] = total;
  buf[offset + IPV4_IDENT] = repr.ident >>> 8;
  buf[offset + IPV4_IDENT + 1] = repr.ident;
  const ff = (repr.dontFragment ? FLAG_DF : 0) | (repr.moreFragments ? FLAG_MF : 0) |
    ((repr.fragmentOffset >>> 3) & FRAG_OFFSET_MASK);
  buf[offset + IPV4_FLAGS_FRAG] = ff >>> 8;
  buf[offset + IPV4_FLAGS_FRAG + 1] = ff;
  buf[offset + IPV4_TTL] = repr.ttl;
  buf[offset + IPV4_PROTOCOL] = repr.protocol;
  buf[offset + IPV4_CHECKSUM] = 0;
  buf[offset + IPV4_CHECKSUM + 1] = 0;
  const s = repr.src; const d = repr.dst;
  buf[offset + IPV4_SRC] = s >>> 24; buf[offset + IPV4_SRC + 1] = s >>> 16;
  buf[offset + IPV4_SRC + 2] = s >>> 8; buf[offset + IPV4_SRC + 3] = s;
  buf[offset + IPV4_DST] = d >>> 24; buf[offset + IPV4_DST + 1] = d >>> 16;
  buf[offset + IPV4_DST + 2] = d >>> 8; buf[offset + IPV4_DST + 3] = d;
  if (hlen > IPV4_MIN_HEADER_LEN) {
    buf.set(repr.options, offset + IPV4_OPTIONS);
    buf.fill(0, offset + IPV4_OPTIONS + repr.options.length, offset + hlen);
  }
  const ck = internetChecksum(buf, offset, offset + hlen);
  buf[offset + IPV4_CHECKSUM] = ck >>> 8;
  buf[offset + IPV4_CHECKSUM + 1] = ck;
  return hlen;
}
