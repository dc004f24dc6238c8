/**
 * When an ICMP error may be sent about a datagram, and the error message itself.
 *
 * RFC 1122 §3.2.2 (and RFC 1812 §4.3.2.7 for routers): an ICMP error MUST NOT
 * be sent about
 *   - an ICMP error message (queries such as echo are fine),
 *   - a datagram sent to an IP broadcast or multicast address,
 *   - a datagram sent as a link-layer broadcast,
 *   - a non-initial fragment,
 *   - a datagram whose source is not a single host (0.0.0.0, loopback,
 *     broadcast, multicast, class E).
 * The quote is the offending header plus as much data as fits in a 576-octet
 * datagram (RFC 1812 §4.3.2.3; RFC 792 asked for 8 octets at least).
 */
import { ICMP_HEADER_LEN, emitIcmp, isIcmpErrorType, type IcmpRepr } from '../wire/icmp.js';
import { IpProtocol, type Ipv4Repr } from '../wire/ipv4.js';
import {
  isLimitedBroadcast, isLoopback, isMulticast, isReservedClassE, isThisNetwork,
} from '../wire/ipv4-address.js';

export const ICMP_ERROR_MAX_DATAGRAM = 576;

export type IcmpSuppressReason =
  | 'about-icmp-error' | 'to-broadcast' | 'link-broadcast' | 'non-initial-fragment' | 'bad-source';

/**
 * Null when an error may be sent about `orig` (whose payload starts at
 * bytes[payloadOffset]); otherwise why not. `isBroadcast` says whether an
 * address is one of our subnets' directed broadcasts.
 */
export function icmpErrorSuppressed(
  orig: Ipv4Repr, bytes: Uint8Array, payloadOffset: number, linkBroadcast: boolean,
  isBroadcast: (address: number) => boolean,
): IcmpSuppressReason | null {
  if (orig.fragmentOffset !== 0) return 'non-initial-fragment';
  if (linkBroadcast) return 'link-broadcast';
  if (isLimitedBroadcast(orig.dst) || isMulticast(orig.dst) || isBroadcast(orig.dst)) return 'to-broadcast';
  const s = orig.src;
  if (isThisNetwork(s) || isLoopback(s) || isMulticast(s) || isReservedClassE(s) || isBroadcast(s)) return 'bad-source';
  if (orig.protocol === IpProtocol.ICMP) {
    // Without the type we cannot tell an error from a query: stay silent.
    if (orig.payloadLen < 1 || payloadOffset >= bytes.length) return 'about-icmp-error';
    if (isIcmpErrorType(bytes[payloadOffset]!)) return 'about-icmp-error';
  }
  return null;
}

/**
 * The ICMP error message quoting `datagram` (header + data), written into a
 * new buffer after `headroom` free bytes. Returns the buffer; the message is
 * buf[headroom..].
 */
export function buildIcmpError(
  kind: 'dest-unreachable' | 'time-exceeded' | 'parameter-problem', code: number, value: number,
  datagram: Uint8Array, headroom: number,
): Uint8Array {
  const quoteLen = Math.min(datagram.length, ICMP_ERROR_MAX_DATAGRAM - 20 - ICMP_HEADER_LEN);
  const buf = new Uint8Array(headroom + ICMP_HEADER_LEN + quoteLen);
  buf.set(datagram.subarray(0, quoteLen), headroom + ICMP_HEADER_LEN);
  const data = buf.subarray(headroom + ICMP_HEADER_LEN);
  let repr: IcmpRepr;
  if (kind === 'dest-unreachable') repr = { kind, code, nextHopMtu: value, data };
  else if (kind === 'time-exceeded') repr = { kind, code, data };
  else repr = { kind, code, pointer: value, data };
  emitIcmp(repr, buf, headroom);
  return buf;
}
