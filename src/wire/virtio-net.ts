/**
 * The virtio-net header (virtio spec 1.x §5.1.6 "Device Operation", struct
 * virtio_net_hdr; Linux include/uapi/linux/virtio_net.h) that a TAP device
 * opened with IFF_VNET_HDR puts before every frame, in both directions:
 *
 *   0 flags u8 | 1 gso_type u8 | 2 hdr_len u16 | 4 gso_size u16
 *   6 csum_start u16 | 8 csum_offset u16          (10 bytes; legacy layout)
 *
 * The u16 fields are in the host's byte order for a legacy TAP (little-endian
 * on x86-64 and arm64, which is what we support; see `littleEndian`).
 *
 * flags NEEDS_CSUM: the checksum is partial. The field at csum_start +
 * csum_offset holds the folded pseudo-header sum (not inverted, Linux's
 * CHECKSUM_PARTIAL); the receiver sums from csum_start to the end and stores
 * the complement there. gso_type != NONE: a "super-frame" to be cut into
 * gso_size-byte payloads behind copies of the first hdr_len bytes.
 */
import { fold16, sum16 } from './checksum.js';
import { fail, ok, type ParseResult } from './parse-result.js';

export const VIRTIO_NET_HDR_LEN = 10;
export const VIRTIO_NET_HDR_F_NEEDS_CSUM = 1;
export const VIRTIO_NET_HDR_F_DATA_VALID = 2;
export const VIRTIO_NET_HDR_GSO_NONE = 0;
export const VIRTIO_NET_HDR_GSO_TCPV4 = 1;
export const VIRTIO_NET_HDR_GSO_UDP = 3;
export const VIRTIO_NET_HDR_GSO_TCPV6 = 4;
export const VIRTIO_NET_HDR_GSO_UDP_L4 = 5;
export const VIRTIO_NET_HDR_GSO_ECN = 0x80;

export interface VirtioNetHdr {
  readonly flags: number;
  readonly gsoType: number;
  readonly hdrLen: number;
  readonly gsoSize: number;
  readonly csumStart: number;
  readonly csumOffset: number;
}

export const NO_OFFLOAD: VirtioNetHdr = { flags: 0, gsoType: 0, hdrLen: 0, gsoSize: 0, csumStart: 0, csumOffset: 0 };

/** Byte order of a legacy TAP's header fields: the host's. */
export const littleEndian = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

export function parseVirtioNetHdr(b: Uint8Array, at = 0, le = littleEndian): ParseResult<VirtioNetHdr, 'truncated'> {
  if (b.length - at < VIRTIO_NET_HDR_LEN) return fail('truncated');
  const v = new DataView(b.buffer, b.byteOffset + at, VIRTIO_NET_HDR_LEN);
  return ok({
    flags: v.getUint8(0), gsoType: v.getUint8(1), hdrLen: v.getUint16(2, le), gsoSize: v.getUint16(4, le),
    csumStart: v.getUint16(6, le), csumOffset: v.getUint16(8, le),
  });
}

export function emitVirtioNetHdr(b: Uint8Array, at: number, h: VirtioNetHdr, le = littleEndian): void {
  const v = new DataView(b.buffer, b.byteOffset + at, VIRTIO_NET_HDR_LEN);
  v.setUint8(0, h.flags); v.setUint8(1, h.gsoType); v.setUint16(2, h.hdrLen, le); v.setUint16(4, h.gsoSize, le);
  v.setUint16(6, h.csumStart, le); v.setUint16(8, h.csumOffset, le);
}

/**
 * Completes a partial checksum in frame[0, len): sums from csumStart to the
 * end (the field already holds the pseudo-header sum) and stores the
 * complement. A UDP result of 0 is sent as 0xffff (RFC 768). Returns false
 * (and changes nothing) when the offsets do not fit the frame.
 */
export function completePartialChecksum(frame: Uint8Array, len: number, csumStart: number, csumOffset: number): boolean {
  const field = csumStart + csumOffset;
  if (csumStart >= len || field + 2 > len) return false;
  let c = ~fold16(sum16(frame, csumStart, len)) & 0xffff;
  if (c === 0 && csumOffset === 6) c = 0xffff;
  frame[field] = c >>> 8;
  frame[field + 1] = c & 0xff;
  return true;
}
