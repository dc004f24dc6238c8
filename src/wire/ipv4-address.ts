/**
 * IPv4 addresses as unsigned 32-bit numbers (the convention inside every core),
 * with conversion to and from dotted-quad text and prefix arithmetic.
 *
 * Address classes follow RFC 1122 §3.2.1.3 (0/8 "this network", 127/8 loopback,
 * 255.255.255.255 limited broadcast) and RFC 5771 (224/4 multicast).
 */

export const IPV4_ANY = 0;
export const IPV4_BROADCAST = 0xffffffff;

/**
 * Parse "a.b.c.d" strictly (four decimal octets, no leading '+', no empty parts,
 * no leading zeros: "010" is octal 8 to inet_aton and decimal 10 to others, so
 * it is refused rather than guessed, as Node's net.isIPv4 does).
 */
export function parseIpv4Address(text: string): number | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  let value = 0;
  for (const part of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part)) return null;
    const octet = Number(part);
    if (octet > 255) return null;
    value = value * 256 + octet;
  }
  return value >>> 0;
}

export function formatIpv4Address(address: number): string {
  return `${address >>> 24}.${(address >>> 16) & 0xff}.${(address >>> 8) & 0xff}.${address & 0xff}`;
}

/** The netmask of a prefix length 0..32 as an unsigned number (0 for /0). */
export function prefixMask(prefixLen: number): number {
  return prefixLen <= 0 ? 0 : (0xffffffff << (32 - Math.min(32, prefixLen))) >>> 0;
}

/** True when `address` lies in prefix/prefixLen. */
export function inPrefix(address: number, prefix: number, prefixLen: number): boolean {
  const mask = prefixMask(prefixLen);
  return ((address & mask) >>> 0) === ((prefix & mask) >>> 0);
}

/** The directed broadcast address of a subnet (RFC 919); meaningless for /31 and /32. */
export function subnetBroadcast(address: number, prefixLen: number): number {
  return (address | ~prefixMask(prefixLen)) >>> 0;
}

export function isMulticast(address: number): boolean {
  return address >>> 28 === 0xe;
}

export function isLimitedBroadcast(address: number): boolean {
  return address >>> 0 === IPV4_BROADCAST;
}

export function isLoopback(address: number): boolean {
  return address >>> 24 === 127;
}

/** 0.0.0.0/8: "this host on this network", valid only as a source during bootstrap. */
export function isThisNetwork(address: number): boolean {
  return address >>> 24 === 0;
}

/** 240.0.0.0/4 (reserved, RFC 1112 class E), includes limited broadcast. */
export function isReservedClassE(address: number): boolean {
  return address >>> 28 === 0xf;
}

/** Parse "a.b.c.d/len" (or a bare address as /32). */
export function parseIpv4Cidr(text: string): { address: number; prefixLen: number } | null {
  const slash = text.indexOf('/');
  const addrText = slash < 0 ? text : text.slice(0, slash);
  const address = parseIpv4Address(addrText);
  if (address === null) return null;
  if (slash < 0) return { address, prefixLen: 32 };
  const lenText = text.slice(slash + 1);
  if (!/^[0-9]{1,2}$/.test(lenText)) return null;
  const prefixLen = Number(lenText);
  if (prefixLen > 32) return null;
  return { address, prefixLen };
}
