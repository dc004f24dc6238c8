/**
 * The Toeplitz hash of receive-side scaling (Microsoft's "RSS hashing functions", the
 * Intel 82599 datasheet §7.1.2.8), table-driven. The driver steers frames with it
 * (src/driver/nic/rss.ts); a stack replica's TCP uses it to choose local ports whose
 * replies come back to that replica.
 *
 * The hash is linear over GF(2): hash(a ‖ b) = hash(a ‖ 0) ^ hash(0 ‖ b). The hasher
 * precomputes, for every input byte position, the XOR of key windows for each byte value,
 * so a 12-byte tuple costs 12 table lookups.
 */

/** A Node-style argument error (errors.ts sits on this layer too, so it is not imported). */
function invalidArg(name: string, reason: string): RangeError {
  return Object.assign(new RangeError(`The argument '${name}' ${reason}`), { code: 'ERR_INVALID_ARG_VALUE' });
}

/** The well-known default 40-byte RSS key (Microsoft's verification key, also Linux drivers' old default). */
export const DEFAULT_RSS_KEY: Uint8Array = Uint8Array.from([
  0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3,
  0x8f, 0xb0, 0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3,
  0x80, 0x30, 0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
]);

/** Toeplitz hash with a fixed key, table-driven. */
export class ToeplitzHash {
  /** tables[i * 256 + b]: contribution of byte value b at input position i. */
  private readonly tables: Uint32Array;
  readonly maxInputLen: number;

  constructor(key: Uint8Array = DEFAULT_RSS_KEY) {
    if (key.length < 8) throw invalidArg('key', 'must be at least 8 bytes');
    // Input bit k uses key bits [k, k+32): the key must be 4 bytes longer than the input.
    this.maxInputLen = key.length - 4;
    this.tables = new Uint32Array(this.maxInputLen * 256);
    for (let i = 0; i < this.maxInputLen; i++) {
      const windows: number[] = [];
      for (let bit = 0; bit < 8; bit++) windows.push(keyWindow(key, i * 8 + bit));
      for (let b = 0; b < 256; b++) {
        let h = 0;
        for (let bit = 0; bit < 8; bit++) if ((b & (0x80 >> bit)) !== 0) h ^= windows[bit]!;
        this.tables[i * 256 + b] = h >>> 0;
      }
    }
  }

  /** Hash of bytes[start, start+len) (Microsoft's ComputeHash). */
  hashBytes(bytes: Uint8Array, start = 0, len = bytes.length - start): number {
    if (len > this.maxInputLen) throw invalidArg('len', `exceeds ${this.maxInputLen} bytes for this key`);
    let h = 0;
    for (let i = 0; i < len; i++) h ^= this.tables[i * 256 + bytes[start + i]!]!;
    return h >>> 0;
  }

  /** Contribution of a big-endian 32-bit word at input byte position `pos`. */
  private word(pos: number, w: number): number {
    const t = this.tables;
    return t[pos * 256 + (w >>> 24)]! ^ t[(pos + 1) * 256 + ((w >>> 16) & 0xff)]!
      ^ t[(pos + 2) * 256 + ((w >>> 8) & 0xff)]! ^ t[(pos + 3) * 256 + (w & 0xff)]!;
  }

  private half(pos: number, v: number): number {
    return this.tables[pos * 256 + ((v >>> 8) & 0xff)]! ^ this.tables[(pos + 1) * 256 + (v & 0xff)]!;
  }

  /** IPv4 2-tuple hash (addresses as uint32, packet order: source then destination). */
  hashV4Addrs(src: number, dst: number): number {
    return (this.word(0, src) ^ this.word(4, dst)) >>> 0;
  }

  /** IPv4 4-tuple hash: source address, destination address, source port, destination port. */
  hashV4(src: number, dst: number, srcPort: number, dstPort: number): number {
    return (this.word(0, src) ^ this.word(4, dst) ^ this.half(8, srcPort) ^ this.half(10, dstPort)) >>> 0;
  }
}

/** The 32 key bits starting at bit `k` (bit 0 = most significant bit of key[0]). */
function keyWindow(key: Uint8Array, k: number): number {
  const byte = k >>> 3;
  const shift = k & 7;
  let w = 0;
  for (let i = 0; i < 5; i++) w = w * 256 + (key[byte + i] ?? 0);
  // w holds 40 bits; take the 32 starting `shift` bits from its top.
  return Math.floor(w / 2 ** (8 - shift)) % 2 ** 32 >>> 0;
}
