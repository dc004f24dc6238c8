/**
 * The RST that answers a TCP segment we refuse (packet-filter "reject"), per
 * RFC 9293 §3.10.7.1: if the segment had ACK, <SEQ=SEG.ACK><CTL=RST>; else
 * <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>. Never answer a RST.
 *
 * Only the fixed 20-byte header is read and written (offsets from the TCP codec,
 * src/wire/tcp.ts); the RST carries no options.
 */
import { TCP_HEADER_MIN, TcpField, TcpFlag, writeTcpChecksum } from '../wire/tcp.js';

const TCP_SEQ = TcpField.SEQ;
const TCP_ACK = TcpField.ACK;
const TCP_DATA_OFF = TcpField.DATA_OFFSET;
const TCP_FLAGS = TcpField.FLAGS;
const TCP_MIN_HEADER = TCP_HEADER_MIN;
const { FIN, SYN, RST, ACK } = TcpFlag;

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
  // The reply goes dst → src.
  writeTcpChecksum(t, dst, src);
  return buf;
}
