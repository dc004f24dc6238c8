/**
 * The RST that answers a TCP segment we refuse (packet-filter "reject"), per
 * RFC 9293 §3.10.7.1: if the segment had ACK, <SEQ=SEG.ACK><CTL=RST>; else
 * <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>. Never answer a RST.
 *
 * Only the fixed 20-byte header is read and written, at RFC 9293 §3.1 offsets
 * (the full TCP codec with options is src/wire/tcp.ts, owned by the TCP engine).
 */
import { pseudoHeaderSum, sum16, fold16 } from '../wire/checksum.js';
import { IpProtocol } from '../wire/ipv4.js';

const TCP_SEQ = 4;
const TCP_ACK = 8;
const TCP_DATA_OFF = 12;
const TCP_FLAGS = 13;
const TCP_CHECKSUM = 16;
export const TCP_MIN_HEADER = 20;
const FIN = 0x01; const SYN = 0x02; const RST = 0x04; const ACK = 0x10;

function u32(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}
function put32(b: Uint8Array, at: number, v: number): void {
  b[at] = v >>> 24; b[at + 1] = v >>> 16; b[at + 2] = v >>> 8; b[at + 3] = v;
}

/**
 * Build the RST for the segment `seg` (TCP header + data, sent src → dst) in
 * a new buffer after `headroom` bytes, or null when none is due.
 */
export function buildTcpReset(seg: Uint8Array, src: number, dst: number, headroom: number): Uint8Array | null {
  if (seg.length < TCP_MIN_HEADER) return null;
  const flags = seg[TCP_FLAGS]!;
  if ((flags & RST) !== 0) return null;
  const dataOff = (seg[TCP_DATA_OFF]! >>> 4) << 2;
  if (dataOff < TCP_MIN_HEADER || dataOff > seg.length) return null;
  const buf = new Uint8Array(headroom + TCP_MIN_HEADER);
  const t = buf.subarray(headroom);
  t[0] = seg[2]!; t[1] = seg[3]!; t[2] = seg[0]!; t[3] = seg[1]!;
  if ((flags & ACK) !== 0) {
    put32(t, TCP_SEQ, u32(seg, TCP_ACK));
    t[TCP_FLAGS] = RST;
  } else {
    const segLen = seg.length - dataOff + ((flags & SYN) !== 0 ? 1 : 0) + ((flags & FIN) !== 0 ? 1 : 0);
    put32(t, TCP_ACK, (u32(seg, TCP_SEQ) + segLen) >>> 0);
    t[TCP_FLAGS] = RST | ACK;
  }
  t[TCP_DATA_OFF] = 5 << 4;
  // Reply goes dst → src.
  const ck = ~fold16(sum16(t, 0, TCP_MIN_HEADER, pseudoHeaderSum(dst, src, IpProtocol.TCP, TCP_MIN_HEADER))) & 0xffff;
  t[TCP_CHECKSUM] = ck >>> 8; t[TCP_CHECKSUM + 1] = ck;
  return buf;
}
