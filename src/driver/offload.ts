/**
 * Software segmentation and receive offloads in the driver, as Linux does them
 * for NICs without TSO/LRO (GSO and GRO): the servers above the driver move
 * TCP data in bursts of up to 64 KiB, one message per burst instead of one per
 * MTU-sized segment, and only the driver touches wire-sized frames.
 *
 * GSO (transmit): a TCP/IPv4 frame marked TxFlag.Gso carries a burst whose
 * payload is cut into `mss`-byte segments. Each gets a copy of the Ethernet,
 * IPv4 and TCP headers with its own IPv4 total length, identification
 * (consecutive from the burst's, as Linux's TSO does; IP reserved that many IDs
 * for the burst, src/ip/ip-ident.ts, so none repeats) and header checksum, its
 * own sequence number, FIN and PSH only on the last segment and CWR only on the
 * first, and a full TCP checksum (the burst's checksum field is not filled).
 *
 * GRO (receive): consecutive frames of one TCP/IPv4 flow, in sequence, with the
 * same ACK, header length and options, carrying only ACK (PSH ends a run), are
 * merged into one packet in a segment-size buffer, like Linux's tcp_gro_receive:
 * each frame's TCP checksum is verified on the way in, so the merged packet is
 * marked checksum-verified and its own TCP checksum field is left stale (the
 * transport skips the check). The IPv4 header gets the merged length and a new
 * header checksum; the window is the last frame's.
 *
 * Both work on plain byte arrays; nothing here allocates per frame.
 */
import { fold16, sum16 } from '../wire/checksum.js';
import { EtherType } from '../wire/ethernet.js';
import type { FrameSlots } from './nic/backend.js';

const ETH_LEN = 14;
const PROTO_TCP = 6;
const TCP_FIN = 0x01;
const TCP_PSH = 0x08;
const TCP_ACK = 0x10;
const TCP_CWR = 0x80;
/** Largest IPv4 datagram. */
const IP_MAX = 65535;

/** Where the headers of a TCP/IPv4 frame are, or null when it is not one we can segment or merge. */
export interface TcpFrameLayout {
  /** Offset of the IPv4 header (after Ethernet and an optional 802.1Q tag). */
  readonly ip: number;
  readonly ipHeaderLen: number;
  readonly tcp: number;
  readonly tcpHeaderLen: number;
  /** Offset of the TCP payload and its length (from the IPv4 total length). */
  readonly payload: number;
  readonly payloadLen: number;
}

/** Parses just enough of a frame: IPv4 without fragmentation carrying TCP, lengths consistent. */
export function tcpFrameLayout(f: Uint8Array, off: number, len: number): TcpFrameLayout | null {
  if (len < ETH_LEN + 40) return null;
  let ip = off + ETH_LEN;
  let type = (f[off + 12]! << 8) | f[off + 13]!;
  if (type === EtherType.VLAN) {
    type = (f[off + 16]! << 8) | f[off + 17]!;
    ip += 4;
  }
  if (type !== EtherType.IPv4 || (f[ip]! >>> 4) !== 4) return null;
  const ipHeaderLen = (f[ip]! & 0x0f) << 2;
  const total = (f[ip + 2]! << 8) | f[ip + 3]!;
  if (ipHeaderLen < 20 || f[ip + 9] !== PROTO_TCP || total > off + len - ip || total < ipHeaderLen + 20) return null;
  if (((f[ip + 6]! & 0x3f) | f[ip + 7]!) !== 0) return null; // MF or a fragment offset
  const tcp = ip + ipHeaderLen;
  const tcpHeaderLen = (f[tcp + 12]! >>> 4) << 2;
  if (tcpHeaderLen < 20 || ipHeaderLen + tcpHeaderLen > total) return null;
  return { ip, ipHeaderLen, tcp, tcpHeaderLen, payload: tcp + tcpHeaderLen, payloadLen: total - ipHeaderLen - tcpHeaderLen };
}

function u32(f: Uint8Array, at: number): number {
  return ((f[at]! << 24) | (f[at + 1]! << 16) | (f[at + 2]! << 8) | f[at + 3]!) >>> 0;
}

function put16(f: Uint8Array, at: number, v: number): void {
  f[at] = v >>> 8; f[at + 1] = v;
}

function put32(f: Uint8Array, at: number, v: number): void {
  f[at] = v >>> 24; f[at + 1] = v >>> 16; f[at + 2] = v >>> 8; f[at + 3] = v;
}

/** Writes the IPv4 header checksum of the header at f[ip, ip + hl). */
function fillIpChecksum(f: Uint8Array, ip: number, hl: number): void {
  f[ip + 10] = 0; f[ip + 11] = 0;
  put16(f, ip + 10, ~fold16(sum16(f, ip, ip + hl)) & 0xffff);
}

/** The TCP pseudo-header sum for a segment of `tcpLen` bytes of the IPv4 header at `ip`. */
function pseudoSum(f: Uint8Array, ip: number, tcpLen: number): number {
  return ((f[ip + 12]! << 8) | f[ip + 13]!) + ((f[ip + 14]! << 8) | f[ip + 15]!)
    + ((f[ip + 16]! << 8) | f[ip + 17]!) + ((f[ip + 18]! << 8) | f[ip + 19]!) + PROTO_TCP + tcpLen;
}

/** Is the TCP checksum of the segment at f[tcp, tcp + tcpLen) right? */
export function tcpChecksumOk(f: Uint8Array, ip: number, tcp: number, tcpLen: number): boolean {
  return fold16(sum16(f, tcp, tcp + tcpLen, pseudoSum(f, ip, tcpLen))) === 0xffff;
}

/** Fills the TCP checksum of the TCP/IPv4 frame f[off, off + len); false if it is not one. */
export function fillFrameTcpChecksum(f: Uint8Array, off: number, len: number): boolean {
  const l = tcpFrameLayout(f, off, len);
  if (l === null) return false;
  fillTcpChecksum(f, l.ip, l.tcp, l.tcpHeaderLen + l.payloadLen);
  return true;
}

/** Fills the TCP checksum of the segment at f[tcp, tcp + tcpLen). */
export function fillTcpChecksum(f: Uint8Array, ip: number, tcp: number, tcpLen: number): void {
  f[tcp + 16] = 0; f[tcp + 17] = 0;
  put16(f, tcp + 16, ~fold16(sum16(f, tcp, tcp + tcpLen, pseudoSum(f, ip, tcpLen))) & 0xffff);
}

/**
 * Cuts TSO bursts into wire frames in its own scratch memory. Frame k of the
 * last `cut` lies at `memory[offsets[k], offsets[k] + lengths[k])` (a
 * FrameSlots the backend can transmit from). Each frame's payload keeps the
 * address residue modulo 8 it had in the burst, so the copies move words.
 */
export class GsoCutter {
  memory: Uint8Array = new Uint8Array(0);
  offsets: Uint32Array = new Uint32Array(0);
  lengths: Uint32Array = new Uint32Array(0);
  /** Per-frame transmit flags: TX_FLAG_CSUM_PARTIAL on every frame of a cut that left checksums unfilled. */
  txFlags: Uint8Array = new Uint8Array(0);
  private stride = 0;
  /** The frame slots over the arrays above (rebuilt when reserve() replaces them). */
  private all: FrameSlots | null = null;

  /** The frames of the last cut from frame `from` on, as slots a link transmits (no copy; from 0: no allocation). */
  frames(from: number): FrameSlots {
    if (this.all === null || this.all.memory !== this.memory || this.all.offsets !== this.offsets) {
      this.all = { memory: this.memory, offsets: this.offsets, lengths: this.lengths, capacity: 0, txFlags: this.txFlags };
    }
    if (from === 0) return this.all;
    return { memory: this.memory, offsets: this.offsets.subarray(from), lengths: this.lengths.subarray(from), capacity: 0, txFlags: this.txFlags.subarray(from) };
  }

  /**
   * Cuts the burst frame f[off, off + len) into segments of `mss` payload bytes.
   * Returns the number of frames built, or -1 when the frame is not a TCP/IPv4
   * burst this can cut (the caller counts and drops it). With `partialFlag`
   * non-zero (a link with checksum offload) the TCP checksums are left unfilled
   * and every frame's txFlags entry is that flag.
   */
  cut(f: Uint8Array, off: number, len: number, mss: number, partialFlag = 0): number {
    const l = tcpFrameLayout(f, off, len);
    if (l === null || mss < 1) return -1;
    const headers = l.payload - off;
    const count = Math.max(1, Math.ceil(l.payloadLen / mss));
    this.reserve(count, headers + mss);
    const out = this.memory;
    const seq0 = u32(f, l.tcp + 4);
    const id0 = (f[l.ip + 4]! << 8) | f[l.ip + 5]!;
    const flags = f[l.tcp + 13]!;
    for (let k = 0; k < count; k++) {
      const from = k * mss;
      // Put the segment's payload at the address residue (mod 8) it has in the burst: word-sized copies.
      const at = k * this.stride + ((f.byteOffset + l.payload + from - headers - out.byteOffset) & 7);
      this.offsets[k] = at;
      const n = Math.min(mss, l.payloadLen - from);
      out.set(f.subarray(off, l.payload), at);
      out.set(f.subarray(l.payload + from, l.payload + from + n), at + headers);
      const ip = at + (l.ip - off);
      const tcp = at + (l.tcp - off);
      put16(out, ip + 2, l.ipHeaderLen + l.tcpHeaderLen + n);
      put16(out, ip + 4, (id0 + k) & 0xffff);
      fillIpChecksum(out, ip, l.ipHeaderLen);
      put32(out, tcp + 4, (seq0 + from) >>> 0);
      let fl = flags;
      if (k < count - 1) fl &= ~(TCP_FIN | TCP_PSH);
      if (k > 0) fl &= ~TCP_CWR;
      out[tcp + 13] = fl;
      if (partialFlag === 0) fillTcpChecksum(out, ip, tcp, l.tcpHeaderLen + n);
      this.txFlags[k] = partialFlag;
      this.lengths[k] = headers + n;
    }
    return count;
  }

  private reserve(count: number, frameLen: number): void {
    const stride = (frameLen + 8 + 63) & ~63;
    if (this.offsets.length >= count && this.stride >= stride) return;
    const slots = Math.max(count, this.offsets.length);
    this.stride = Math.max(stride, this.stride);
    this.memory = new Uint8Array(slots * this.stride);
    this.offsets = new Uint32Array(slots);
    this.lengths = new Uint32Array(slots);
    this.txFlags = new Uint8Array(slots);

  }
}

/** Outcome of looking at one received frame for GRO. */
export const GroVerdict = {
  /** Not a mergeable TCP data frame (or its checksum is wrong): pass it on as it is. */
  Pass: 0,
  /** A TCP data frame with a good checksum: may start or join a run. */
  Candidate: 1,
} as const;

/**
 * Decides which received frames merge, and merges them. The driver feeds the
 * frames of one receive batch in order: `candidate` says whether a frame is a
 * mergeable TCP segment (checking its checksum unless the link did),
 * `joins` whether it continues the run that the previous candidate started, and
 * `merge` copies a finished run into one buffer.
 */
export class GroMerger {
  /** Frames with a bad TCP checksum seen (they are passed on; TCP drops and counts them too). */
  badChecksums = 0;

  /** Layout of the candidate most recently accepted (valid after candidate() returned true). */
  last: TcpFrameLayout | null = null;

  candidate(f: Uint8Array, off: number, len: number, checksumKnownGood: boolean): boolean {
    const l = tcpFrameLayout(f, off, len);
    this.last = null;
    if (l === null || l.payloadLen === 0) return false;
    const flags = f[l.tcp + 13]!;
    if ((flags & ~(TCP_ACK | TCP_PSH)) !== 0 || (flags & TCP_ACK) === 0) return false;
    if (!checksumKnownGood && !tcpChecksumOk(f, l.ip, l.tcp, l.tcpHeaderLen + l.payloadLen)) {
      this.badChecksums++;
      return false;
    }
    this.last = l;
    return true;
  }

  /**
   * Does frame b (layout lb) continue the run whose previous frame is a (layout la)
   * and whose first frame had `firstPayload` payload bytes, with `runBytes` of
   * IPv4 datagram so far, merged into at most `maxBytes` of IPv4 datagram? Same
   * flow, next sequence number, same ACK, same header lengths and options, a
   * full-sized previous frame without PSH, and room left.
   */
  joins(a: Uint8Array, la: TcpFrameLayout, b: Uint8Array, lb: TcpFrameLayout, firstPayload: number, runBytes: number, maxBytes: number): boolean {
    if (la.ipHeaderLen !== 20 || lb.ipHeaderLen !== 20 || la.tcpHeaderLen !== lb.tcpHeaderLen) return false;
    // Every segment but the last is exactly the first's size; none is larger (Linux's gso_size rule).
    if (la.payloadLen !== firstPayload || lb.payloadLen > firstPayload || (a[la.tcp + 13]! & TCP_PSH) !== 0) return false;
    if (runBytes + lb.payloadLen > Math.min(IP_MAX, maxBytes)) return false;
    // Addresses (12..19), TOS and TTL, ports.
    for (let i = 12; i < 20; i++) if (a[la.ip + i] !== b[lb.ip + i]) return false;
    if (a[la.ip + 1] !== b[lb.ip + 1] || a[la.ip + 8] !== b[lb.ip + 8]) return false;
    for (let i = 0; i < 4; i++) if (a[la.tcp + i] !== b[lb.tcp + i]) return false;
    if (((u32(a, la.tcp + 4) + la.payloadLen) >>> 0) !== u32(b, lb.tcp + 4)) return false;
    if (u32(a, la.tcp + 8) !== u32(b, lb.tcp + 8)) return false;
    // Options, timestamps included (Linux's tcp_gro_receive compares them word for word).
    for (let i = 20; i < la.tcpHeaderLen; i++) if (a[la.tcp + i] !== b[lb.tcp + i]) return false;
    return true;
  }

  /**
   * Writes the run (frames given by memory/offset/layout, in order) into
   * dst[at, ...) as one frame and returns its length: the first frame's
   * headers, every payload, the merged IPv4 length and checksum, the last
   * frame's window and PSH.
   */
  merge(frames: readonly { mem: Uint8Array; off: number; layout: TcpFrameLayout }[], dst: Uint8Array, at: number): number {
    const first = frames[0]!;
    const headers = first.layout.payload - first.off;
    dst.set(first.mem.subarray(first.off, first.layout.payload), at);
    let w = at + headers;
    for (const fr of frames) {
      dst.set(fr.mem.subarray(fr.layout.payload, fr.layout.payload + fr.layout.payloadLen), w);
      w += fr.layout.payloadLen;
    }
    const last = frames[frames.length - 1]!;
    const ip = at + (first.layout.ip - first.off);
    const tcp = at + (first.layout.tcp - first.off);
    put16(dst, ip + 2, w - ip);
    fillIpChecksum(dst, ip, first.layout.ipHeaderLen);
    dst[tcp + 13] = (dst[tcp + 13]! & ~TCP_PSH) | (last.mem[last.layout.tcp + 13]! & TCP_PSH);
    dst[tcp + 14] = last.mem[last.layout.tcp + 14]!;
    dst[tcp + 15] = last.mem[last.layout.tcp + 15]!;
    return w - at;
  }
}
