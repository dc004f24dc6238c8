/**
 * ARP for IPv4 over Ethernet (RFC 826). Only hardware type 1 (Ethernet, 6-byte
 * addresses) with protocol type 0x0800 (4-byte addresses) is understood; any
 * other combination is reported, never guessed at.
 *
 *   0 htype | 2 ptype | 4 hlen | 5 plen | 6 oper | 8 sha(6) | 14 spa(4) | 18 tha(6) | 24 tpa(4) | 28
 */
import { type ParseResult, fail, ok } from './parse-result.js';
import { readMac, writeMac } from './ethernet.js';

export const ARP_HTYPE = 0;
export const ARP_PTYPE = 2;
export const ARP_HLEN = 4;
export const ARP_PLEN = 5;
export const ARP_OPER = 6;
export const ARP_SHA = 8;
export const ARP_SPA = 14;
export const ARP_THA = 18;
export const ARP_TPA = 24;
export const ARP_PACKET_LEN = 28;

export const ARP_HTYPE_ETHERNET = 1;
export const ARP_PTYPE_IPV4 = 0x0800;

export const ArpOperation = { Request: 1, Reply: 2 } as const;
export type ArpOperationCode = (typeof ArpOperation)[keyof typeof ArpOperation];

export interface ArpRepr {
  readonly operation: ArpOperationCode;
  readonly senderMac: number;
  readonly senderIp: number;
  readonly targetMac: number;
  readonly targetIp: number;
}

export type ArpParseError =
  | 'truncated' | 'unsupported-hardware' | 'unsupported-protocol' | 'bad-address-length' | 'unknown-operation';

function u16(b: Uint8Array, at: number): number { return (b[at]! << 8) | b[at + 1]!; }
function u32(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}

/** Checked view over an Ethernet/IPv4 ARP packet. */
export class ArpPacket {
  private constructor(readonly bytes: Uint8Array, readonly offset: number) {}

  static check(bytes: Uint8Array, offset = 0, end = bytes.length): ParseResult<ArpPacket, ArpParseError> {
    if (offset < 0 || end > bytes.length || end - offset < ARP_PACKET_LEN) return fail('truncated');
    if (u16(bytes, offset + ARP_HTYPE) !== ARP_HTYPE_ETHERNET) return fail('unsupported-hardware');
    if (u16(bytes, offset + ARP_PTYPE) !== ARP_PTYPE_IPV4) return fail('unsupported-protocol');
    if (bytes[offset + ARP_HLEN] !== 6 || bytes[offset + ARP_PLEN] !== 4) return fail('bad-address-length');
    const op = u16(bytes, offset + ARP_OPER);
    if (op !== ArpOperation.Request && op !== ArpOperation.Reply) return fail('unknown-operation');
    return ok(new ArpPacket(bytes, offset));
  }

  get operation(): ArpOperationCode { return u16(this.bytes, this.offset + ARP_OPER) as ArpOperationCode; }
  get senderMac(): number { return readMac(this.bytes, this.offset + ARP_SHA); }
  get senderIp(): number { return u32(this.bytes, this.offset + ARP_SPA); }
  get targetMac(): number { return readMac(this.bytes, this.offset + ARP_THA); }
  get targetIp(): number { return u32(this.bytes, this.offset + ARP_TPA); }
}

export function parseArp(bytes: Uint8Array, offset = 0, end = bytes.length): ParseResult<ArpRepr, ArpParseError> {
  const checked = ArpPacket.check(bytes, offset, end);
  if (!checked.ok) return checked;
  const p = checked.value;
  return ok({
    operation: p.operation, senderMac: p.senderMac, senderIp: p.senderIp,
    targetMac: p.targetMac, targetIp: p.targetIp,
  });
}

export function arpPacketLen(_repr?: ArpRepr): number {
  return ARP_PACKET_LEN;
}

export function emitArp(repr: ArpRepr, buf: Uint8Array, offset = 0): number {
  buf[offset + ARP_HTYPE] = 0; buf[offset + ARP_HTYPE + 1] = ARP_HTYPE_ETHERNET;
  buf[offset + ARP_PTYPE] = ARP_PTYPE_IPV4 >>> 8; buf[offset + ARP_PTYPE + 1] = 0;
  buf[offset + ARP_HLEN] = 6;
  buf[offset + ARP_PLEN] = 4;
  buf[offset + ARP_OPER] = 0; buf[offset + ARP_OPER + 1] = repr.operation;
  writeMac(buf, offset + ARP_SHA, repr.senderMac);
  writeU32(buf, offset + ARP_SPA, repr.senderIp);
  writeMac(buf, offset + ARP_THA, repr.targetMac);
  writeU32(buf, offset + ARP_TPA, repr.targetIp);
  return ARP_PACKET_LEN;
}

function writeU32(b: Uint8Array, at: number, v: number): void {
  b[at] = v >>> 24; b[at + 1] = v >>> 16; b[at + 2] = v >>> 8; b[at + 3] = v;
}
