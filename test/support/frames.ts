/**
 * Tiny hand-built frames for link tests: a responder that answers ARP requests
 * (RFC 826) and ICMP echo requests (RFC 792) for one address, so the kernel's
 * `ping` can succeed against a link whose far end is the test. Not the stack's
 * codecs: deliberately small and independent, so link tests don't depend on
 * the wire layer.
 */
import { internetChecksum } from '../../src/wire/checksum.js';

export function ipv4(text: string): number {
  return text.split('.').reduce((a, o) => a * 256 + Number(o), 0) >>> 0;
}

const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_ARP = 0x0806;

export interface ResponderStats {
  arpRequests: number;
  echoRequests: number;
  other: number;
}

/** Answers ARP who-has `ip` and ICMP echo to `ip` with frames from `mac`. */
export class ArpPingResponder {
  readonly stats: ResponderStats = { arpRequests: 0, echoRequests: 0, other: 0 };
  constructor(readonly mac: Uint8Array, readonly ip: number) {}

  /** The reply frame for `frame`, or null if it needs none. */
  answer(frame: Uint8Array): Uint8Array | null {
    if (frame.length < 14) { this.stats.other++; return null; }
    const v = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
    const type = v.getUint16(12);
    if (type === ETHERTYPE_ARP && frame.length >= 42) {
      // htype 1, ptype IPv4, hlen 6, plen 4, op 1 (request), target IP ours.
      if (v.getUint16(14) === 1 && v.getUint16(16) === ETHERTYPE_IPV4 && v.getUint16(20) === 1
        && v.getUint32(38) === this.ip) {
        this.stats.arpRequests++;
        const reply = new Uint8Array(42);
        const r = new DataView(reply.buffer);
        reply.set(frame.subarray(6, 12), 0); // to the asker
        reply.set(this.mac, 6);
        r.setUint16(12, ETHERTYPE_ARP);
        r.setUint16(14, 1); r.setUint16(16, ETHERTYPE_IPV4); reply[18] = 6; reply[19] = 4;
        r.setUint16(20, 2); // reply
        reply.set(this.mac, 22); r.setUint32(28, this.ip);
        reply.set(frame.subarray(22, 32), 32); // sender MAC + IP become target
        return reply;
      }
    }
    if (type === ETHERTYPE_IPV4 && frame.length >= 14 + 20 + 8) {
      const ihl = (frame[14]! & 0x0f) * 4;
      const total = v.getUint16(16);
      if (frame[23] === 1 && v.getUint32(30) === this.ip && frame[14 + ihl] === 8 && total <= frame.length - 14) {
        this.stats.echoRequests++;
        const reply = frame.slice(0, 14 + total);
        const r = new DataView(reply.buffer);
        reply.set(frame.subarray(6, 12), 0);
        reply.set(this.mac, 6);
        r.setUint32(26, this.ip);
        r.setUint32(30, v.getUint32(26));
        reply[22] = 64; // TTL
        r.setUint16(24, 0);
        r.setUint16(24, internetChecksum(reply.subarray(14, 14 + ihl)));
        reply[14 + ihl] = 0; // echo reply
        r.setUint16(14 + ihl + 2, 0);
        r.setUint16(14 + ihl + 2, internetChecksum(reply.subarray(14 + ihl, 14 + total)));
        return reply;
      }
    }
    this.stats.other++;
    return null;
  }
}

/** A broadcast ARP request from (mac, ip) for `target`. */
export function arpRequest(mac: Uint8Array, ip: number, target: number): Uint8Array {
  const f = new Uint8Array(42);
  const v = new DataView(f.buffer);
  f.fill(0xff, 0, 6);
  f.set(mac, 6);
  v.setUint16(12, ETHERTYPE_ARP);
  v.setUint16(14, 1); v.setUint16(16, ETHERTYPE_IPV4); f[18] = 6; f[19] = 4; v.setUint16(20, 1);
  f.set(mac, 22); v.setUint32(28, ip); v.setUint32(38, target);
  return f;
}
