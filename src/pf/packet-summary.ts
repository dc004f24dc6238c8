/**
 * The fields the filter matches on, read from an IPv4 datagram without
 * trusting it. Non-initial fragments carry no transport header: for them
 * `hasL4` is false and rules with port, flag or ICMP-type criteria never match.
 */
import { IpProtocol, Ipv4Packet } from '../wire/ipv4.js';
import { isIcmpErrorType } from '../wire/icmp.js';

export interface PacketSummary {
  readonly protocol: number;
  readonly src: number;
  readonly dst: number;
  readonly hasL4: boolean;
  readonly srcPort: number;
  readonly dstPort: number;
  readonly tcpFlags: number;
  readonly icmpType: number;
  readonly icmpCode: number;
  /** Echo identifier (request/reply), used as "port" for state. */
  readonly icmpIdent: number;
  /** For ICMP errors: the quoted datagram's summary (our original packet), if readable. */
  readonly inner: PacketSummary | null;
}

export function summarizePacket(bytes: Uint8Array, nested = false): PacketSummary | null {
  // The IP core validated the checksum already; quoted headers are cut short, so
  // for them only the header itself must be present.
  let hlen: number; let total: number;
  if (nested) {
    if (bytes.length < 20 || bytes[0]! >>> 4 !== 4) return null;
    hlen = (bytes[0]! & 0x0f) << 2;
    if (hlen < 20 || hlen > bytes.length) return null;
    total = bytes.length;
  } else {
    const c = Ipv4Packet.check(bytes, 0, bytes.length, false);
    if (!c.ok) return null;
    hlen = c.value.headerLen;
    total = c.value.totalLen;
  }
  const protocol = bytes[9]!;
  const src = ((bytes[12]! << 24) | (bytes[13]! << 16) | (bytes[14]! << 8) | bytes[15]!) >>> 0;
  const dst = ((bytes[16]! << 24) | (bytes[17]! << 16) | (bytes[18]! << 8) | bytes[19]!) >>> 0;
  const fragOff = ((bytes[6]! << 8) | bytes[7]!) & 0x1fff;
  const l4 = bytes.subarray(hlen, total);
  let hasL4 = false;
  let srcPort = 0; let dstPort = 0; let tcpFlags = 0; let icmpType = 0; let icmpCode = 0; let icmpIdent = 0;
  let inner: PacketSummary | null = null;
  if (fragOff === 0) {
    // A quoted TCP header may be cut after 8 bytes: ports only.
    if ((protocol === IpProtocol.TCP && l4.length >= (nested ? 4 : 14)) || (protocol === IpProtocol.UDP && l4.length >= 4)) {
      hasL4 = true;
      srcPort = (l4[0]! << 8) | l4[1]!;
      dstPort = (l4[2]! << 8) | l4[3]!;
      if (protocol === IpProtocol.TCP && l4.length >= 14) tcpFlags = l4[13]!;
    } else if (protocol === IpProtocol.ICMP && l4.length >= 8) {
      hasL4 = true;
      icmpType = l4[0]!;
      icmpCode = l4[1]!;
      icmpIdent = (l4[4]! << 8) | l4[5]!;
      if (!nested && isIcmpErrorType(icmpType)) inner = summarizePacket(l4.subarray(8), true);
    }
  }
  return { protocol, src, dst, hasL4, srcPort, dstPort, tcpFlags, icmpType, icmpCode, icmpIdent, inner };
}
