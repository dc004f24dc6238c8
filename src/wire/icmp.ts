/**
 * ICMPv4 messages (RFC 792), the ones a host and router use:
 * echo request/reply, destination unreachable (with the next-hop MTU of
 * "fragmentation needed", RFC 1191 §4), time exceeded, parameter problem.
 * Other types parse as 'other' with their 4 header-specific bytes kept raw.
 *
 *   0 type | 1 code | 2 checksum | 4 rest of header (4 bytes) | 8 data ...
 *
 * Error messages carry the offending datagram's IP header and at least its first
 * 8 payload bytes (RFC 792; RFC 1812 §4.3.2.3 allows more, up to 576 in total).
 * The checksum covers the whole ICMP message.
 */
import { type ParseResult, fail, ok } from './parse-result.js';
import { internetChecksum, verifyChecksum } from './checksum.js';

export const ICMP_TYPE = 0;
export const ICMP_CODE = 1;
export const ICMP_CHECKSUM = 2;
export const ICMP_REST = 4;
export const ICMP_HEADER_LEN = 8;

export const IcmpType = {
  EchoReply: 0,
  DestUnreachable: 3,
  Redirect: 5,
  EchoRequest: 8,
  TimeExceeded: 11,
  ParameterProblem: 12,
} as const;

/** Destination unreachable codes (RFC 792, RFC 1812 §5.2.7.1). */
export const UnreachableCode = {
  Net: 0,
  Host: 1,
  Protocol: 2,
  Port: 3,
  FragmentationNeeded: 4,
  SourceRouteFailed: 5,
  NetProhibited: 9,
  HostProhibited: 10,
  AdminProhibited: 13,
} as const;

export const TimeExceededCode = { TtlExceeded: 0, ReassemblyTimeout: 1 } as const;

export type IcmpRepr =
  | { readonly kind: 'echo-request' | 'echo-reply'; readonly ident: number; readonly seq: number; readonly data: Uint8Array }
  | { readonly kind: 'dest-unreachable'; readonly code: number; readonly nextHopMtu: number; readonly data: Uint8Array }
  | { readonly kind: 'time-exceeded'; readonly code: number; readonly data: Uint8Array }
  | { readonly kind: 'parameter-problem'; readonly code: number; readonly pointer: number; readonly data: Uint8Array }
  | { readonly kind: 'other'; readonly type: number; readonly code: number; readonly rest: number; readonly data: Uint8Array };

export type IcmpParseError = 'truncated' | 'bad-checksum';

/** True for the types that are errors about another datagram (RFC 1122 §3.2.2). */
export function isIcmpErrorType(type: number): boolean {
  return type === IcmpType.DestUnreachable || type === IcmpType.TimeExceeded ||
    type === IcmpType.ParameterProblem || type === IcmpType.Redirect || type === 4 /* source quench */;
}

/** Checked view over an ICMP message occupying bytes[offset..end). */
export class IcmpPacket {
  private constructor(readonly bytes: Uint8Array, readonly offset: number, readonly end: number) {}

  static check(bytes: Uint8Array, offset = 0, end = bytes.length, checksum = true): ParseResult<IcmpPacket, IcmpParseError> {
    if (offset < 0 || end > bytes.length || end - offset < ICMP_HEADER_LEN) return fail('truncated');
    if (checksum && !verifyChecksum(bytes, offset, end)) return fail('bad-checksum');
    return ok(new IcmpPacket(bytes, offset, end));
  }

  get type(): number { return this.bytes[this.offset + ICMP_TYPE]!; }
  get code(): number { return this.bytes[this.offset + ICMP_CODE]!; }
  get checksum(): number { return (this.bytes[this.offset + ICMP_CHECKSUM]! << 8) | this.bytes[this.offset + ICMP_CHECKSUM + 1]!; }
  get rest(): number {
    const b = this.bytes; const at = this.offset + ICMP_REST;
    return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
  }
  data(): Uint8Array { return this.bytes.subarray(this.offset + ICMP_HEADER_LEN, this.end); }
}

/** Parse an ICMP message; `data` is a view (no copy) into `bytes`. */
export function parseIcmp(bytes: Uint8Array, offset = 0, end = bytes.length, checksum = true): ParseResult<IcmpRepr, IcmpParseError> {
  const c = IcmpPacket.check(bytes, offset, end, checksum);
  if (!c.ok) return c;
  const p = c.value;
  const type = p.type; const code = p.code; const rest = p.rest; const data = p.data();
  switch (type) {
    case IcmpType.EchoRequest:
    case IcmpType.EchoReply:
      return ok({ kind: type === IcmpType.EchoRequest ? 'echo-request' : 'echo-reply', ident: rest >>> 16, seq: rest & 0xffff, data });
    case IcmpType.DestUnreachable:
      // RFC 1191 §4: next-hop MTU in the low 16 bits; zero from old routers.
      return ok({ kind: 'dest-unreachable', code, nextHopMtu: code === UnreachableCode.FragmentationNeeded ? rest & 0xffff : 0, data });
    case IcmpType.TimeExceeded:
      return ok({ kind: 'time-exceeded', code, data });
    case IcmpType.ParameterProblem:
      return ok({ kind: 'parameter-problem', code, pointer: rest >>> 24, data });
    default:
      return ok({ kind: 'other', type, code, rest, data });
  }
}

export function icmpLen(repr: IcmpRepr): number {
  return ICMP_HEADER_LEN + repr.data.length;
}

function typeCodeRest(repr: IcmpRepr): [number, number, number] {
  switch (repr.kind) {
    case 'echo-request': return [IcmpType.EchoRequest, 0, ((repr.ident << 16) | repr.seq) >>> 0];
    case 'echo-reply': return [IcmpType.EchoReply, 0, ((repr.ident << 16) | repr.seq) >>> 0];
    case 'dest-unreachable': return [IcmpType.DestUnreachable, repr.code, repr.nextHopMtu & 0xffff];
    case 'time-exceeded': return [IcmpType.TimeExceeded, repr.code, 0];
    case 'parameter-problem': return [IcmpType.ParameterProblem, repr.code, (repr.pointer & 0xff) << 24 >>> 0];
    case 'other': return [repr.type, repr.code, repr.rest];
  }
}

/**
 * Write the whole message (header, data copied unless it already sits at
 * buf[offset+8..], checksum) at buf[offset..]. Returns its length.
 */
export function emitIcmp(repr: IcmpRepr, buf: Uint8Array, offset = 0): number {
  const [type, code, rest] = typeCodeRest(repr);
  const len = icmpLen(repr);
  buf[offset + ICMP_TYPE] = type;
  buf[offset + ICMP_CODE] = code;
  buf[offset + ICMP_CHECKSUM] = 0;
  buf[offset + ICMP_CHECKSUM + 1] = 0;
  buf[offset + ICMP_REST] = rest >>> 24; buf[offset + ICMP_REST + 1] = rest >>> 16;
  buf[offset + ICMP_REST + 2] = rest >>> 8; buf[offset + ICMP_REST + 3] = rest;
  const d = repr.data;
  if (!(d.buffer === buf.buffer && d.byteOffset === buf.byteOffset + offset + ICMP_HEADER_LEN)) {
    buf.set(d, offset + ICMP_HEADER_LEN);
  }
  const ck = internetChecksum(buf, offset, offset + len);
  buf[offset + ICMP_CHECKSUM] = ck >>> 8;
  buf[offset + ICMP_CHECKSUM + 1] = ck;
  return len;
}
