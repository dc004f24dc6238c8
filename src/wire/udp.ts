/**
 * UDP header (RFC 768).
 *
 *   0 source port | 2 destination port | 4 length | 6 checksum | 8 data ...
 *
 * The checksum covers the IPv4 pseudo-header, the header and the data. On
 * receive a zero checksum means "none" (RFC 768); on emit we always compute it,
 * sending 0xffff when the sum is zero (RFC 768: "if the computed checksum is
 * zero, it is transmitted as all ones").
 */
import { type ParseResult, fail, ok } from './parse-result.js';
import { fold16, pseudoHeaderSum, sum16 } from './checksum.js';
import { IpProtocol } from './ipv4.js';

export const UDP_SRC_PORT = 0;
export const UDP_DST_PORT = 2;
export const UDP_LENGTH = 4;
export const UDP_CHECKSUM = 6;
export const UDP_HEADER_LEN = 8;

export interface UdpRepr {
  readonly srcPort: number;
  readonly dstPort: number;
  readonly payloadLen: number;
}

export type UdpParseError = 'truncated' | 'bad-length' | 'bad-checksum';

function u16(b: Uint8Array, at: number): number { return (b[at]! << 8) | b[at + 1]!; }

/** Checked view: the length field lies within [8, end - offset]. */
export class UdpPacket {
  private constructor(readonly bytes: Uint8Array, readonly offset: number) {}

  /**
   * `src`/`dst` are the IPv4 addresses for the pseudo-header; pass
   * `checksum = false` to skip verification (e.g. a NIC already did it).
   */
  static check(
    bytes: Uint8Array, offset: number, end: number, src: number, dst: number, checksum = true,
  ): ParseResult<UdpPacket, UdpParseError> {
    if (offset < 0 || end > bytes.length || end - offset < UDP_HEADER_LEN) return fail('truncated');
    const len = u16(bytes, offset + UDP_LENGTH);
    if (len < UDP_HEADER_LEN || len > end - offset) return fail('bad-length');
    if (checksum && u16(bytes, offset + UDP_CHECKSUM) !== 0) {
      const sum = sum16(bytes, offset, offset + len, pseudoHeaderSum(src, dst, IpProtocol.UDP, len));
      if (fold16(sum) !== 0xffff) return fail('bad-checksum');
    }
    return ok(new UdpPacket(bytes, offset));
  }

  get srcPort(): number { return u16(this.bytes, this.offset + UDP_SRC_PORT); }
  get dstPort(): number { return u16(this.bytes, this.offset + UDP_DST_PORT); }
  get length(): number { return u16(this.bytes, this.offset + UDP_LENGTH); }
  get checksum(): number { return u16(this.bytes, this.offset + UDP_CHECKSUM); }
  get payloadOffset(): number { return this.offset + UDP_HEADER_LEN; }
  payload(): Uint8Array { return this.bytes.subarray(this.offset + UDP_HEADER_LEN, this.offset + this.length); }
}

/** Parse the datagram at bytes[offset..end); data is bytes[offset+8, offset+8+payloadLen). */
export function parseUdp(
  bytes: Uint8Array, offset: number, end: number, src: number, dst: number, checksum = true,
): ParseResult<UdpRepr, UdpParseError> {
  const c = UdpPacket.check(bytes, offset, end, src, dst, checksum);
  if (!c.ok) return c;
  const p = c.value;
  return ok({ srcPort: p.srcPort, dstPort: p.dstPort, payloadLen: p.length - UDP_HEADER_LEN });
}

export function udpHeaderLen(_repr?: UdpRepr): number {
  return UDP_HEADER_LEN;
}

/**
 * Write the header at buf[offset..] and compute the checksum over it and the
 * `repr.payloadLen` data bytes that must already sit at buf[offset+8..].
 * Returns the header length.
 */
export function emitUdp(repr: UdpRepr, buf: Uint8Array, offset: number, src: number, dst: number): number {
  const len = UDP_HEADER_LEN + repr.payloadLen;
  buf[offset] = repr.srcPort >>> 8; buf[offset + 1] = repr.srcPort;
  buf[offset + 2] = repr.dstPort >>> 8; buf[offset + 3] = repr.dstPort;
  buf[offset + 4] = len >>> 8; buf[offset + 5] = len;
  buf[offset + 6] = 0; buf[offset + 7] = 0;
  const sum = fold16(sum16(buf, offset, offset + len, pseudoHeaderSum(src, dst, IpProtocol.UDP, len)));
  const ck = ~sum & 0xffff || 0xffff;
  buf[offset + 6] = ck >>> 8; buf[offset + 7] = ck;
  return UDP_HEADER_LEN;
}
