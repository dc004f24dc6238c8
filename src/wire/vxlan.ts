/**
 * VXLAN header (RFC 7348 §5): 8 bytes in front of an inner Ethernet frame, in a
 * UDP datagram to port 4789.
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   |R|R|R|R|I|R|R|R|            Reserved                           |
 *   |                VXLAN Network Identifier (VNI) |   Reserved    |
 *
 * "The I flag MUST be set to 1 for a valid VXLAN Network ID (VNI). The other 7
 * bits (designated "R") are reserved fields and MUST be set to zero on
 * transmission and ignored on receipt." Reserved fields likewise.
 */
import { fail, ok, type ParseResult } from './parse-result.js';

export const VXLAN_HEADER_LEN = 8;
/** IANA-assigned VXLAN UDP port (RFC 7348 §5). Linux's default dstport too. */
export const VXLAN_PORT = 4789;
/** The I flag: the VNI field is valid. */
export const VXLAN_FLAG_I = 0x08;
export const VXLAN_VNI_MAX = 0xffffff;

export type VxlanParseError = 'truncated' | 'no-vni-flag';

/** The VNI of a VXLAN datagram payload; the inner frame starts at start + 8. */
export function parseVxlanHeader(bytes: Uint8Array, start = 0, end = bytes.length): ParseResult<number, VxlanParseError> {
  if (end - start < VXLAN_HEADER_LEN) return fail('truncated');
  if ((bytes[start]! & VXLAN_FLAG_I) === 0) return fail('no-vni-flag');
  return ok((bytes[start + 4]! << 16) | (bytes[start + 5]! << 8) | bytes[start + 6]!);
}

/** Writes the 8-byte header with the I flag and `vni` at bytes[start]. */
export function emitVxlanHeader(bytes: Uint8Array, start: number, vni: number): void {
  bytes[start] = VXLAN_FLAG_I;
  bytes[start + 1] = 0; bytes[start + 2] = 0; bytes[start + 3] = 0;
  bytes[start + 4] = (vni >>> 16) & 0xff;
  bytes[start + 5] = (vni >>> 8) & 0xff;
  bytes[start + 6] = vni & 0xff;
  bytes[start + 7] = 0;
}
