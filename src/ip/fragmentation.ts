/**
 * IPv4 fragmentation on output (RFC 791 §3.2 "Fragmentation", RFC 1812 §5.2.6).
 * Every fragment but the last carries a multiple of 8 payload octets; the
 * first keeps all options, later ones only the options whose "copied" flag is
 * set. Fragmenting a fragment (when forwarding) adds to its offset and keeps
 * its MF flag on the last piece.
 */
import { type Ipv4Repr, emitIpv4, ipv4HeaderLen } from '../wire/ipv4.js';

/** The options that must be copied into every fragment (type bit 0x80), padded to 4 bytes. */
export function copiedOptions(options: Uint8Array): Uint8Array {
  const kept: number[] = [];
  let i = 0;
  while (i < options.length) {
    const type = options[i]!;
    if (type === 0) break; // End of option list.
    if (type === 1) { i++; continue; } // NOP: not copied.
    if (i + 1 >= options.length) break;
    const len = options[i + 1]!;
    if (len < 2 || i + len > options.length) break; // Malformed: copy nothing further.
    if ((type & 0x80) !== 0) for (let k = 0; k < len; k++) kept.push(options[i + k]!);
    i += len;
  }
  while (kept.length % 4 !== 0) kept.push(0);
  return Uint8Array.from(kept);
}

/**
 * Split a datagram whose payload is `payload` into packets of at most `mtu`
 * bytes. Each returned buffer holds `headroom` free bytes (for the link
 * header) followed by one IPv4 packet. Returns null when the MTU cannot carry
 * even 8 payload bytes after the header.
 */
export function fragmentDatagram(repr: Ipv4Repr, payload: Uint8Array, mtu: number, headroom: number): Uint8Array[] | null {
  const firstHlen = ipv4HeaderLen(repr);
  const laterOptions = copiedOptions(repr.options);
  const laterRepr = { ...repr, options: laterOptions };
  const laterHlen = ipv4HeaderLen(laterRepr);
  if (mtu - Math.max(firstHlen, laterHlen) < 8) return null;
  const out: Uint8Array[] = [];
  let at = 0;
  while (at < payload.length) {
    const first = at === 0;
    const hdr = first ? repr : laterRepr;
    const hlen = first ? firstHlen : laterHlen;
    const room = (mtu - hlen) & ~7;
    const len = Math.min(room, payload.length - at);
    const isLast = at + len === payload.length;
    const frag: Ipv4Repr = {
      ...hdr,
      moreFragments: isLast ? repr.moreFragments : true,
      fragmentOffset: repr.fragmentOffset + at,
      payloadLen: len,
    };
    const buf = new Uint8Array(headroom + hlen + len);
    emitIpv4(frag, buf, headroom);
    buf.set(payload.subarray(at, at + len), headroom + hlen);
    out.push(buf);
    at += len;
  }
  return out;
}
