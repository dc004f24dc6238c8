/**
 * TCP header codec (RFC 9293 §3.1) with the options Linux speaks: MSS (RFC 9293
 * §3.2), window scale and timestamps (RFC 7323), SACK-permitted and SACK blocks
 * (RFC 2018), NOP and EOL. Unknown options are skipped by their length byte.
 *
 * Two layers, smoltcp style:
 * - `TcpSegment`: a mutable, reusable parse target. `parseTcpInto` fills it without
 *   allocating (the engine's hot path keeps one and reuses it for every segment);
 *   the payload is described by offsets into the parsed bytes, not copied.
 * - `TcpRepr`: a plain readonly value; `parseTcp` returns one, `emitTcp` writes one.
 *
 * Untrusted input never throws: parsers return a reason named for a drop counter.
 * Malformed options follow Linux (tcp_parse_options): an option whose length byte
 * is < 2 or runs past the header ends option parsing, the segment itself is kept;
 * a known option with the wrong length is ignored.
 */
import { fold16, pseudoHeaderSum, sum16 } from './checksum.js';
import { fail, ok, type ParseResult } from './parse-result.js';

export const TCP_PROTOCOL = 6;
export const TCP_HEADER_MIN = 20;
export const TCP_HEADER_MAX = 60;
export const TCP_OPTIONS_MAX = 40;

/** Byte offsets of the fixed header fields. */
export const TcpField = {
  SRC_PORT: 0,
  DST_PORT: 2,
  SEQ: 4,
  ACK: 8,
  DATA_OFFSET: 12,
  FLAGS: 13,
  WINDOW: 14,
  CHECKSUM: 16,
  URGENT: 18,
} as const;

export const TcpFlag = {
  FIN: 0x01,
  SYN: 0x02,
  RST: 0x04,
  PSH: 0x08,
  ACK: 0x10,
  URG: 0x20,
  ECE: 0x40,
  CWR: 0x80,
} as const;

/** Option kinds (IANA "TCP Option Kind Numbers"). */
export const TcpOptionKind = {
  EOL: 0,
  NOP: 1,
  MSS: 2,
  WINDOW_SCALE: 3,
  SACK_PERMITTED: 4,
  SACK: 5,
  TIMESTAMP: 8,
} as const;

/** RFC 2018: at most 4 blocks fit in 40 option bytes (3 next to timestamps). */
export const TCP_MAX_SACK_BLOCKS = 4;

export type TcpParseError = 'truncated' | 'bad-data-offset' | 'bad-checksum';

export interface SackBlock {
  readonly left: number;
  readonly right: number;
}

export interface TcpTimestamp {
  readonly val: number;
  readonly ecr: number;
}

/** A TCP header as plain data. Absent options are `undefined`. */
export interface TcpRepr {
  readonly srcPort: number;
  readonly dstPort: number;
  readonly seq: number;
  readonly ack: number;
  /** TcpFlag bits (the low 8 bits of byte 13). */
  readonly flags: number;
  /** The raw 16-bit window field (unscaled). */
  readonly window: number;
  readonly urgent?: number;
  readonly mss?: number;
  readonly windowScale?: number;
  readonly sackPermitted?: boolean;
  readonly sack?: readonly SackBlock[];
  readonly timestamp?: TcpTimestamp;
  readonly payload?: Uint8Array;
}

export interface TcpParseOptions {
  /** Verify the checksum over the IPv4 pseudo-header (default true). Off for checksum offload. */
  readonly verifyChecksum?: boolean;
}

/**
 * Reusable parse target. Numbers are -1 when an option is absent, so the hot
 * path reads them without allocating. SACK blocks are flattened in `sack`
 * (left0, right0, left1, right1, ...), `sackCount` blocks valid.
 */
export class TcpSegment {
  bytes: Uint8Array = new Uint8Array(0);
  srcPort = 0;
  dstPort = 0;
  seq = 0;
  ack = 0;
  flags = 0;
  window = 0;
  urgent = 0;
  headerLen = 0;
  /** Payload is bytes[headerLen, bytes.length). */
  payloadLen = 0;
  mss = -1;
  windowScale = -1;
  sackPermitted = false;
  tsVal = 0;
  tsEcr = 0;
  hasTimestamp = false;
  readonly sack = new Uint32Array(TCP_MAX_SACK_BLOCKS * 2);
  sackCount = 0;

  payload(): Uint8Array {
    return this.bytes.subarray(this.headerLen, this.headerLen + this.payloadLen);
  }

  /** A plain repr copy of this segment (allocates; for tests and logging). */
  toRepr(): TcpRepr {
    const sack: SackBlock[] = [];
    for (let i = 0; i < this.sackCount; i++) sack.push({ left: this.sack[2 * i]!, right: this.sack[2 * i + 1]! });
    return {
      srcPort: this.srcPort,
      dstPort: this.dstPort,
      seq: this.seq,
      ack: this.ack,
      flags: this.flags,
      window: this.window,
      ...(this.urgent !== 0 ? { urgent: this.urgent } : {}),
      ...(this.mss >= 0 ? { mss: this.mss } : {}),
      ...(this.windowScale >= 0 ? { windowScale: this.windowScale } : {}),
      ...(this.sackPermitted ? { sackPermitted: true } : {}),
      ...(this.sackCount > 0 ? { sack } : {}),
      ...(this.hasTimestamp ? { timestamp: { val: this.tsVal, ecr: this.tsEcr } } : {}),
      payload: this.payload(),
    };
  }
}

function be16(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}

function be32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

function put16(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 8;
  b[o + 1] = v;
}

function put32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = v >>> 16;
  b[o + 2] = v >>> 8;
  b[o + 3] = v;
}

/** Sum of the TCP segment in bytes plus the IPv4 pseudo-header (RFC 9293 §3.1). */
export function tcpChecksumSum(bytes: Uint8Array, src: number, dst: number): number {
  return sum16(bytes, 0, bytes.length, pseudoHeaderSum(src, dst, TCP_PROTOCOL, bytes.length));
}

/** Compute and store the checksum of the complete segment `bytes` (header + payload). */
export function writeTcpChecksum(bytes: Uint8Array, src: number, dst: number): void {
  bytes[TcpField.CHECKSUM] = 0;
  bytes[TcpField.CHECKSUM + 1] = 0;
  put16(bytes, TcpField.CHECKSUM, ~fold16(tcpChecksumSum(bytes, src, dst)) & 0xffff);
}

export function verifyTcpChecksum(bytes: Uint8Array, src: number, dst: number): boolean {
  return fold16(tcpChecksumSum(bytes, src, dst)) === 0xffff;
}

function parseOptions(b: Uint8Array, start: number, end: number, out: TcpSegment): void {
  let i = start;
  while (i < end) {
    const kind = b[i]!;
    if (kind === TcpOptionKind.EOL) return;
    if (kind === TcpOptionKind.NOP) {
      i++;
      continue;
    }
    if (i + 1 >= end) return;
    const len = b[i + 1]!;
    // Linux: "silly options" (< 2) and partial options end parsing.
    if (len < 2 || i + len > end) return;
    switch (kind) {
      case TcpOptionKind.MSS:
        if (len === 4) out.mss = be16(b, i + 2);
        break;
      case TcpOptionKind.WINDOW_SCALE:
        if (len === 3) out.windowScale = b[i + 2]!;
        break;
      case TcpOptionKind.SACK_PERMITTED:
        if (len === 2) out.sackPermitted = true;
        break;
      case TcpOptionKind.SACK:
        if (len >= 10 && (len - 2) % 8 === 0) {
          const n = Math.min((len - 2) >>> 3, TCP_MAX_SACK_BLOCKS);
          for (let k = 0; k < n; k++) {
            out.sack[2 * k] = be32(b, i + 2 + 8 * k);
            out.sack[2 * k + 1] = be32(b, i + 6 + 8 * k);
          }
          out.sackCount = n;
        }
        break;
      case TcpOptionKind.TIMESTAMP:
        if (len === 10) {
          out.hasTimestamp = true;
          out.tsVal = be32(b, i + 2);
          out.tsEcr = be32(b, i + 6);
        }
        break;
      default:
        break; // unknown option: skipped by its length
    }
    i += len;
  }
}

/**
 * Parse a TCP segment (header + payload, as carried in the IPv4 payload) into a
 * reusable `out`. Returns null on success or the drop reason. Never throws,
 * never allocates. The segment keeps a reference to `bytes`.
 */
export function parseTcpInto(
  bytes: Uint8Array, src: number, dst: number, out: TcpSegment, verifyChecksum = true,
): TcpParseError | null {
  if (bytes.length < TCP_HEADER_MIN) return 'truncated';
  const headerLen = (bytes[TcpField.DATA_OFFSET]! >>> 4) * 4;
  if (headerLen < TCP_HEADER_MIN || headerLen > bytes.length) return 'bad-data-offset';
  if (verifyChecksum && !verifyTcpChecksum(bytes, src, dst)) return 'bad-checksum';
  out.bytes = bytes;
  out.srcPort = be16(bytes, TcpField.SRC_PORT);
  out.dstPort = be16(bytes, TcpField.DST_PORT);
  out.seq = be32(bytes, TcpField.SEQ);
  out.ack = be32(bytes, TcpField.ACK);
  out.flags = bytes[TcpField.FLAGS]!;
  out.window = be16(bytes, TcpField.WINDOW);
  out.urgent = be16(bytes, TcpField.URGENT);
  out.headerLen = headerLen;
  out.payloadLen = bytes.length - headerLen;
  out.mss = -1;
  out.windowScale = -1;
  out.sackPermitted = false;
  out.hasTimestamp = false;
  out.tsVal = 0;
  out.tsEcr = 0;
  out.sackCount = 0;
  if (headerLen > TCP_HEADER_MIN) parseOptions(bytes, TCP_HEADER_MIN, headerLen, out);
  return null;
}

/** Parse into a fresh repr (allocates; for tools, tests and fuzzing). */
export function parseTcp(
  bytes: Uint8Array, src: number, dst: number, options: TcpParseOptions = {},
): ParseResult<TcpRepr, TcpParseError> {
  const seg = new TcpSegment();
  const err = parseTcpInto(bytes, src, dst, seg, options.verifyChecksum ?? true);
  return err === null ? ok(seg.toRepr()) : fail(err);
}

/** Fields `emitTcpHeader` writes; options are present when >= 0 / true / count > 0. */
export interface TcpHeaderFields {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  flags: number;
  window: number;
  urgent: number;
  mss: number;
  windowScale: number;
  sackPermitted: boolean;
  hasTimestamp: boolean;
  tsVal: number;
  tsEcr: number;
  /** Flattened SACK blocks (left, right pairs). */
  sack: ArrayLike<number>;
  sackCount: number;
}

/** How many SACK blocks fit next to the other options (RFC 2018 §3). */
export function sackBlocksThatFit(h: Pick<TcpHeaderFields, 'mss' | 'windowScale' | 'sackPermitted' | 'hasTimestamp'>, want: number): number {
  const room = TCP_OPTIONS_MAX - optionsLenWithoutSack(h) - 4;
  return Math.max(0, Math.min(want, TCP_MAX_SACK_BLOCKS, room >> 3));
}

function optionsLenWithoutSack(h: Pick<TcpHeaderFields, 'mss' | 'windowScale' | 'sackPermitted' | 'hasTimestamp'>): number {
  let n = 0;
  if (h.mss >= 0) n += 4;
  if (h.hasTimestamp) n += 12; // [SACK-permitted or NOP NOP] TS
  else if (h.sackPermitted) n += 4; // NOP NOP SACK-permitted
  if (h.windowScale >= 0) n += 4; // NOP WS
  return n;
}

/** Bytes the SACK option takes with `want` blocks beside these options (NOP NOP, kind, length, 8 per block that fits); 0 without blocks. */
export function sackOptionLen(h: Pick<TcpHeaderFields, 'mss' | 'windowScale' | 'sackPermitted' | 'hasTimestamp'>, want: number): number {
  const blocks = want > 0 ? sackBlocksThatFit(h, want) : 0;
  return blocks > 0 ? 4 + 8 * blocks : 0;
}

/** Header length for these fields, options included (always a multiple of 4). */
export function tcpHeaderLenFor(h: TcpHeaderFields): number {
  return TCP_HEADER_MIN + optionsLenWithoutSack(h) + sackOptionLen(h, h.sackCount);
}

/**
 * Write the header (options in Linux's order and layout: MSS, SACK-permitted +
 * timestamps, NOP + window scale, NOP NOP + SACK) at buf[0..]. The checksum field
 * is left 0; call writeTcpChecksum after the payload is in place. Returns the
 * header length. The caller guarantees buf is large enough (tcpHeaderLenFor).
 */
export function emitTcpHeader(h: TcpHeaderFields, buf: Uint8Array): number {
  let i = TCP_HEADER_MIN;
  if (h.mss >= 0) {
    buf[i] = TcpOptionKind.MSS; buf[i + 1] = 4; put16(buf, i + 2, h.mss);
    i += 4;
  }
  if (h.hasTimestamp) {
    if (h.sackPermitted) {
      buf[i] = TcpOptionKind.SACK_PERMITTED; buf[i + 1] = 2;
    } else {
      buf[i] = TcpOptionKind.NOP; buf[i + 1] = TcpOptionKind.NOP;
    }
    buf[i + 2] = TcpOptionKind.TIMESTAMP; buf[i + 3] = 10;
    put32(buf, i + 4, h.tsVal);
    put32(buf, i + 8, h.tsEcr);
    i += 12;
  } else if (h.sackPermitted) {
    buf[i] = TcpOptionKind.NOP; buf[i + 1] = TcpOptionKind.NOP;
    buf[i + 2] = TcpOptionKind.SACK_PERMITTED; buf[i + 3] = 2;
    i += 4;
  }
  if (h.windowScale >= 0) {
    buf[i] = TcpOptionKind.NOP; buf[i + 1] = TcpOptionKind.WINDOW_SCALE; buf[i + 2] = 3; buf[i + 3] = h.windowScale;
    i += 4;
  }
  const blocks = h.sackCount > 0 ? sackBlocksThatFit(h, h.sackCount) : 0;
  if (blocks > 0) {
    buf[i] = TcpOptionKind.NOP; buf[i + 1] = TcpOptionKind.NOP;
    buf[i + 2] = TcpOptionKind.SACK; buf[i + 3] = 2 + 8 * blocks;
    i += 4;
    for (let k = 0; k < blocks; k++) {
      put32(buf, i, h.sack[2 * k]!);
      put32(buf, i + 4, h.sack[2 * k + 1]!);
      i += 8;
    }
  }
  put16(buf, TcpField.SRC_PORT, h.srcPort);
  put16(buf, TcpField.DST_PORT, h.dstPort);
  put32(buf, TcpField.SEQ, h.seq);
  put32(buf, TcpField.ACK, h.ack);
  buf[TcpField.DATA_OFFSET] = (i >>> 2) << 4;
  buf[TcpField.FLAGS] = h.flags;
  put16(buf, TcpField.WINDOW, h.window);
  buf[TcpField.CHECKSUM] = 0;
  buf[TcpField.CHECKSUM + 1] = 0;
  put16(buf, TcpField.URGENT, h.urgent);
  return i;
}

function fieldsOf(r: TcpRepr): TcpHeaderFields {
  const sack: number[] = [];
  for (const b of r.sack ?? []) sack.push(b.left, b.right);
  return {
    srcPort: r.srcPort,
    dstPort: r.dstPort,
    seq: r.seq >>> 0,
    ack: r.ack >>> 0,
    flags: r.flags,
    window: r.window,
    urgent: r.urgent ?? 0,
    mss: r.mss ?? -1,
    windowScale: r.windowScale ?? -1,
    sackPermitted: r.sackPermitted ?? false,
    hasTimestamp: r.timestamp !== undefined,
    tsVal: r.timestamp?.val ?? 0,
    tsEcr: r.timestamp?.ecr ?? 0,
    sack,
    sackCount: sack.length >> 1,
  };
}

/** Header length of a repr, options included. */
export function tcpHeaderLen(r: TcpRepr): number {
  return tcpHeaderLenFor(fieldsOf(r));
}

/** Total segment length (header + payload) of a repr. */
export function tcpSegmentLen(r: TcpRepr): number {
  return tcpHeaderLen(r) + (r.payload?.length ?? 0);
}

export interface TcpEmitOptions {
  /** Compute the checksum (default true). Off for checksum offload. */
  readonly checksum?: boolean;
}

/**
 * Emit a repr (header, options, payload) into buf and compute the checksum.
 * Returns the number of bytes written, or -1 if buf is too small (never throws on it).
 */
export function emitTcp(r: TcpRepr, buf: Uint8Array, src: number, dst: number, options: TcpEmitOptions = {}): number {
  const f = fieldsOf(r);
  const hl = tcpHeaderLenFor(f);
  const total = hl + (r.payload?.length ?? 0);
  if (buf.length < total) return -1;
  emitTcpHeader(f, buf);
  if (r.payload !== undefined) buf.set(r.payload, hl);
  if (options.checksum ?? true) writeTcpChecksum(buf.subarray(0, total), src, dst);
  return total;
}

/** A short human-readable form for logs and test failures: "S 100:100(0) ack 0 win 65535 <mss 1460,...>". */
export function formatTcp(r: TcpRepr): string {
  let f = '';
  if (r.flags & TcpFlag.SYN) f += 'S';
  if (r.flags & TcpFlag.FIN) f += 'F';
  if (r.flags & TcpFlag.RST) f += 'R';
  if (r.flags & TcpFlag.PSH) f += 'P';
  if (r.flags & TcpFlag.URG) f += 'U';
  if (f === '') f = '.';
  else if (r.flags & TcpFlag.ACK) f += '.';
  const len = r.payload?.length ?? 0;
  let s = `${r.srcPort} > ${r.dstPort} ${f} ${r.seq}:${(r.seq + len) >>> 0}(${len})`;
  if (r.flags & TcpFlag.ACK) s += ` ack ${r.ack}`;
  s += ` win ${r.window}`;
  const o: string[] = [];
  if (r.mss !== undefined) o.push(`mss ${r.mss}`);
  if (r.sackPermitted) o.push('sackOK');
  if (r.timestamp) o.push(`TS val ${r.timestamp.val} ecr ${r.timestamp.ecr}`);
  if (r.windowScale !== undefined) o.push(`wscale ${r.windowScale}`);
  if (r.sack) o.push(`sack ${r.sack.map((b) => `${b.left}:${b.right}`).join(' ')}`);
  if (o.length > 0) s += ` <${o.join(',')}>`;
  return s;
}
