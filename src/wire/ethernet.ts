/**
 * Ethernet II frames (IEEE 802.3 clause 3.2.6 "Type" interpretation) with an
 * optional single IEEE 802.1Q VLAN tag.
 *
 *   0      6      12          14
 *   | dst  | src  | ethertype | payload ...                       (untagged)
 *   | dst  | src  | 0x8100 | TCI | ethertype | payload ...       (802.1Q)
 *
 * MAC addresses are 48-bit unsigned numbers (exact in a JS number), so frames
 * are parsed and emitted without allocating address objects. The FCS is not
 * part of the frames we see (NICs and TAP strip it). Length-interpreted frames
 * (type < 0x0600, 802.3 with LLC) are reported as 'not-ethernet-ii'.
 */
import { type ParseResult, fail, ok } from './parse-result.js';

export const ETH_DST = 0;
export const ETH_SRC = 6;
export const ETH_TYPE = 12;
export const ETH_HEADER_LEN = 14;
/** 802.1Q: TCI follows the TPID in the type position; the inner type follows it. */
export const ETH_VLAN_TCI = 14;
export const ETH_VLAN_INNER_TYPE = 16;
export const ETH_VLAN_HEADER_LEN = 18;

export const EtherType = {
  IPv4: 0x0800,
  ARP: 0x0806,
  VLAN: 0x8100,
  IPv6: 0x86dd,
} as const;

export const MAC_BROADCAST = 0xffffffffffff;
export const MAC_ZERO = 0;

export interface VlanTag {
  /** Priority code point, 0..7 (IEEE 802.1p). */
  readonly pcp: number;
  /** Drop eligible indicator. */
  readonly dei: boolean;
  /** VLAN identifier, 0..4095. */
  readonly vid: number;
}

export interface EthernetRepr {
  readonly dst: number;
  readonly src: number;
  /** The type of the payload (the inner type when tagged). */
  readonly ethertype: number;
  readonly vlan: VlanTag | null;
}

export type EthernetParseError = 'truncated' | 'truncated-vlan' | 'not-ethernet-ii' | 'stacked-vlan';

/** Read a 48-bit MAC at bytes[offset..offset+6). Caller guarantees bounds. */
export function readMac(bytes: Uint8Array, offset: number): number {
  return (
    ((bytes[offset]! << 8) | bytes[offset + 1]!) * 0x100000000 +
    (((bytes[offset + 2]! << 24) | (bytes[offset + 3]! << 16) | (bytes[offset + 4]! << 8) | bytes[offset + 5]!) >>> 0)
  );
}

export function writeMac(bytes: Uint8Array, offset: number, mac: number): void {
  const hi = Math.floor(mac / 0x100000000);
  const lo = mac >>> 0;
  bytes[offset] = hi >>> 8;
  bytes[offset + 1] = hi;
  bytes[offset + 2] = lo >>> 24;
  bytes[offset + 3] = lo >>> 16;
  bytes[offset + 4] = lo >>> 8;
  bytes[offset + 5] = lo;
}

/** Group bit (I/G) set: multicast or broadcast. */
export function isMulticastMac(mac: number): boolean {
  return (Math.floor(mac / 0x10000000000) & 1) === 1;
}

export function formatMac(mac: number): string {
  const parts: string[] = [];
  for (let i = 5; i >= 0; i--) parts.push((Math.floor(mac / 2 ** (8 * i)) & 0xff).toString(16).padStart(2, '0'));
  return parts.join(':');
}

export function parseMac(text: string): number | null {
  const parts = text.split(/[:-]/);
  if (parts.length !== 6) return null;
  let mac = 0;
  for (const p of parts) {
    if (!/^[0-9a-fA-F]{2}$/.test(p)) return null;
    mac = mac * 256 + parseInt(p, 16);
  }
  return mac;
}

/**
 * Checked view over an Ethernet frame: `check` validates the lengths once, after
 * which no accessor can read out of bounds.
 */
export class EthernetFrame {
  private constructor(
    readonly bytes: Uint8Array,
    readonly offset: number,
    readonly end: number,
    readonly headerLen: number,
  ) {}

  static check(bytes: Uint8Array, offset = 0, end = bytes.length): ParseResult<EthernetFrame, EthernetParseError> {
    if (offset < 0 || end > bytes.length || end - offset < ETH_HEADER_LEN) return fail('truncated');
    const type = (bytes[offset + ETH_TYPE]! << 8) | bytes[offset + ETH_TYPE + 1]!;
    if (type === EtherType.VLAN) {
      if (end - offset < ETH_VLAN_HEADER_LEN) return fail('truncated-vlan');
      const inner = (bytes[offset + ETH_VLAN_INNER_TYPE]! << 8) | bytes[offset + ETH_VLAN_INNER_TYPE + 1]!;
      // Q-in-Q (802.1ad) is not supported: a second tag would be read as the payload type.
      if (inner === EtherType.VLAN || inner === 0x88a8) return fail('stacked-vlan');
      if (inner < 0x0600) return fail('not-ethernet-ii');
      return ok(new EthernetFrame(bytes, offset, end, ETH_VLAN_HEADER_LEN));
    }
    if (type < 0x0600) return fail('not-ethernet-ii');
    return ok(new EthernetFrame(bytes, offset, end, ETH_HEADER_LEN));
  }

  get dst(): number { return readMac(this.bytes, this.offset + ETH_DST); }
  get src(): number { return readMac(this.bytes, this.offset + ETH_SRC); }
  get tagged(): boolean { return this.headerLen === ETH_VLAN_HEADER_LEN; }
  get ethertype(): number {
    const at = this.offset + (this.tagged ? ETH_VLAN_INNER_TYPE : ETH_TYPE);
    return (this.bytes[at]! << 8) | this.bytes[at + 1]!;
  }
  get tci(): number {
    if (!this.tagged) return 0;
    return (this.bytes[this.offset + ETH_VLAN_TCI]! << 8) | this.bytes[this.offset + ETH_VLAN_TCI + 1]!;
  }
  /** Offset of the payload in `bytes`. */
  get payloadOffset(): number { return this.offset + this.headerLen; }
  payload(): Uint8Array { return this.bytes.subarray(this.offset + this.headerLen, this.end); }
}

/** Parse the header at bytes[offset..end). The payload starts at offset + ethernetHeaderLen(repr). */
export function parseEthernet(
  bytes: Uint8Array, offset = 0, end = bytes.length,
): ParseResult<EthernetRepr, EthernetParseError> {
  // Same checks as EthernetFrame.check, without building the view (hot path).
  if (offset < 0 || end > bytes.length || end - offset < ETH_HEADER_LEN) return fail('truncated');
  const type = (bytes[offset + ETH_TYPE]! << 8) | bytes[offset + ETH_TYPE + 1]!;
  let ethertype = type;
  let vlan: VlanTag | null = null;
  if (type === EtherType.VLAN) {
    if (end - offset < ETH_VLAN_HEADER_LEN) return fail('truncated-vlan');
    ethertype = (bytes[offset + ETH_VLAN_INNER_TYPE]! << 8) | bytes[offset + ETH_VLAN_INNER_TYPE + 1]!;
    if (ethertype === EtherType.VLAN || ethertype === 0x88a8) return fail('stacked-vlan');
    const tci = (bytes[offset + ETH_VLAN_TCI]! << 8) | bytes[offset + ETH_VLAN_TCI + 1]!;
    vlan = { pcp: tci >>> 13, dei: (tci & 0x1000) !== 0, vid: tci & 0x0fff };
  }
  if (ethertype < 0x0600) return fail('not-ethernet-ii');
  return ok({ dst: readMac(bytes, offset + ETH_DST), src: readMac(bytes, offset + ETH_SRC), ethertype, vlan });
}

export function ethernetHeaderLen(repr: EthernetRepr): number {
  return repr.vlan === null ? ETH_HEADER_LEN : ETH_VLAN_HEADER_LEN;
}

/** Write the header at buf[offset..]; returns the header length. Caller ensures room. */
export function emitEthernet(repr: EthernetRepr, buf: Uint8Array, offset = 0): number {
  writeMac(buf, offset + ETH_DST, repr.dst);
  writeMac(buf, offset + ETH_SRC, repr.src);
  if (repr.vlan === null) {
    buf[offset + ETH_TYPE] = repr.ethertype >>> 8;
    buf[offset + ETH_TYPE + 1] = repr.ethertype;
    return ETH_HEADER_LEN;
  }
  const v = repr.vlan;
  const tci = ((v.pcp & 7) << 13) | (v.dei ? 0x1000 : 0) | (v.vid & 0x0fff);
  buf[offset + ETH_TYPE] = EtherType.VLAN >>> 8;
  buf[offset + ETH_TYPE + 1] = EtherType.VLAN & 0xff;
  buf[offset + ETH_VLAN_TCI] = tci >>> 8;
  buf[offset + ETH_VLAN_TCI + 1] = tci;
  buf[offset + ETH_VLAN_INNER_TYPE] = repr.ethertype >>> 8;
  buf[offset + ETH_VLAN_INNER_TYPE + 1] = repr.ethertype;
  return ETH_VLAN_HEADER_LEN;
}
