// Builders shared by the IP core tests: the fixture topology and frame helpers.
import { IpCore } from '../../src/ip/ip-core.js';
import type { IpConfig, IpOutput } from '../../src/ip/ip-types.js';
import { SeededRng } from '../../src/random/rng.js';
import { EtherType, emitEthernet } from '../../src/wire/ethernet.js';
import { emitIpv4, type Ipv4Repr } from '../../src/wire/ipv4.js';
import { ArpOperation, emitArp } from '../../src/wire/arp.js';
import { emitIcmp, icmpLen, type IcmpRepr } from '../../src/wire/icmp.js';

/** The captured Linux peers: A = 10.99.0.1 (…:0a) sent to B = 10.99.0.2 (…:0b). */
export const MAC_A = 0x02000000000a;
export const MAC_B = 0x02000000000b;
export const IP_A = 0x0a630001;
export const IP_B = 0x0a630002;
export const MAC_C = 0x02000000000c;
export const IP_C = 0x0a630101; // 10.99.1.1 on the second link
export const IP_B2 = 0x0a630102; // our address on the second link

/** A core playing B (the captured frames' destination), optionally with a second interface. */
export function coreAsB(extra: Partial<IpConfig> = {}, twoLinks = false, now = 0): IpCore {
  const interfaces = [{ name: 'eth0', mac: MAC_B, mtu: 1500, addresses: [{ address: IP_B, prefixLen: 24 }] }];
  if (twoLinks) interfaces.push({ name: 'eth1', mac: 0x02000000001b, mtu: 1000, addresses: [{ address: IP_B2, prefixLen: 24 }] });
  return new IpCore({ interfaces, ...extra }, { rng: new SeededRng(7) }, now);
}

export function frames(outs: IpOutput[]): Extract<IpOutput, { type: 'frame' }>[] {
  return outs.filter((o): o is Extract<IpOutput, { type: 'frame' }> => o.type === 'frame');
}

export function ofType<T extends IpOutput['type']>(outs: IpOutput[], type: T): Extract<IpOutput, { type: T }>[] {
  return outs.filter((o): o is Extract<IpOutput, { type: T }> => o.type === type);
}

/** An Ethernet+IPv4 frame carrying `payload`. */
export function ipFrame(dstMac: number, srcMac: number, ip: Partial<Ipv4Repr> & Pick<Ipv4Repr, 'src' | 'dst' | 'protocol'>, payload: Uint8Array): Uint8Array {
  const repr: Ipv4Repr = {
    tos: 0, ident: 1, dontFragment: false, moreFragments: false, fragmentOffset: 0, ttl: 64, options: new Uint8Array(0),
    payloadLen: payload.length, ...ip,
  };
  const hl = 20 + repr.options.length;
  const f = new Uint8Array(14 + hl + payload.length);
  emitEthernet({ dst: dstMac, src: srcMac, ethertype: EtherType.IPv4, vlan: null }, f, 0);
  emitIpv4(repr, f, 14);
  f.set(payload, 14 + hl);
  return f;
}

export function icmpBytes(repr: IcmpRepr): Uint8Array {
  const b = new Uint8Array(icmpLen(repr));
  emitIcmp(repr, b);
  return b;
}

export function arpFrame(op: 1 | 2, senderMac: number, senderIp: number, targetMac: number, targetIp: number, dstMac: number): Uint8Array {
  const f = new Uint8Array(42);
  emitEthernet({ dst: dstMac, src: senderMac, ethertype: EtherType.ARP, vlan: null }, f, 0);
  emitArp({ operation: op === 1 ? ArpOperation.Request : ArpOperation.Reply, senderMac, senderIp, targetMac, targetIp }, f, 14);
  return f;
}
