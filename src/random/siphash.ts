/**
 * SipHash-2-4, the keyed 64-bit hash of Aumasson and Bernstein ("SipHash: a
 * fast short-input PRF", 2012), in 32-bit arithmetic: each 64-bit word is a
 * (hi, lo) pair of uint32 numbers, so no BigInt on the hot path.
 *
 * Used where a secret-keyed hash of a few words is needed: RFC 6528 ISNs,
 * SYN cookies, RFC 6056 port selection. The paper's Appendix A and the
 * reference implementation's vectors.h are the test vectors (test/core/).
 *
 * Byte order: the message and key are read little-endian, as in the paper; the
 * 64-bit result is returned as its low 32 bits, with the high 32 bits in
 * `hi` of the same object (read it right after the call). `hashWords` treats
 * each uint32 as 4 little-endian message bytes, so it equals `hash` over those
 * bytes without building them.
 */
import type { Rng } from './rng.js';

/** A SipHash-2-4 instance bound to one 128-bit key. Not thread-shared: it keeps scratch state. */
export class SipHash24 {
  private readonly key = new Int32Array(4); // k0 lo, k0 hi, k1 lo, k1 hi
  /**
   * State v0..v3 as (lo, hi) int32 pairs: [v0l, v0h, v1l, v1h, v2l, v2h, v3l, v3h].
   * A typed array keeps the words unboxed (uint32 values in object fields would
   * become heap numbers).
   */
  private readonly v = new Int32Array(8);
  /** High 32 bits of the last result (unsigned). */
  hi = 0;

  /** `key`: 16 bytes, k0 = bytes 0..7 and k1 = bytes 8..15, little-endian. */
  constructor(key: Uint8Array) {
    if (key.length !== 16) throw new RangeError(`SipHash24: key must be 16 bytes, got ${key.length}`);
    for (let i = 0; i < 4; i++) this.key[i] = le32(key, 4 * i);
  }

  /** A fresh random key drawn from `rng` (use a cryptographic Rng in production). */
  static fromRng(rng: Rng): SipHash24 {
    return new SipHash24(randomKey(rng));
  }

  /** SipHash-2-4 of data[offset, offset+length); returns the low 32 bits, `hi` holds the rest. */
  hash(data: Uint8Array, offset = 0, length = data.length - offset): number {
    this.init();
    const end = offset + length;
    let p = offset;
    for (; p + 8 <= end; p += 8) this.block(le32(data, p), le32(data, p + 4));
    // Last block: remaining bytes, and the length mod 256 in the top byte.
    let ml = 0;
    let mh = (length & 0xff) << 24;
    const rest = end - p;
    for (let k = 0; k < rest; k++) {
      if (k < 4) ml |= data[p + k]! << (8 * k);
      else mh |= data[p + k]! << (8 * (k - 4));
    }
    this.block(ml, mh);
    return this.finish();
  }

  /**
   * SipHash-2-4 of the first `n` uint32 words of `words`, each as 4
   * little-endian bytes (so the message is 4n bytes). Allocation-free.
   */
  hashWords(words: ArrayLike<number>, n = words.length): number {
    this.init();
    let i = 0;
    for (; i + 2 <= n; i += 2) this.block(words[i]! | 0, words[i + 1]! | 0);
    const lenTop = ((4 * n) & 0xff) << 24;
    if (i < n) this.block(words[i]! | 0, lenTop);
    else this.block(0, lenTop);
    return this.finish();
  }

  /** The full 64-bit result of the last call as 16 hex digits (big-endian number notation). */
  lastHex(lo: number): string {
    return (this.hi >>> 0).toString(16).padStart(8, '0') + (lo >>> 0).toString(16).padStart(8, '0');
  }

  private init(): void {
    // "v0 = k0 xor 736f6d6570736575, v1 = k1 xor 646f72616e646f6d,
    //  v2 = k0 xor 6c7967656e657261, v3 = k1 xor 7465646279746573"
    const k = this.key;
    const v = this.v;
    v[0] = k[0]! ^ 0x70736575; v[1] = k[1]! ^ 0x736f6d65;
    v[2] = k[2]! ^ 0x6e646f6d; v[3] = k[3]! ^ 0x646f7261;
    v[4] = k[0]! ^ 0x6e657261; v[5] = k[1]! ^ 0x6c796765;
    v[6] = k[2]! ^ 0x79746573; v[7] = k[3]! ^ 0x74656462;
  }

  /** Compression of one 64-bit message word m = (mh, ml): v3 ^= m; 2 rounds; v0 ^= m. */
  private block(ml: number, mh: number): void {
    const v = this.v;
    v[6] ^= ml; v[7] ^= mh;
    sipRound(v); sipRound(v);
    v[0] ^= ml; v[1] ^= mh;
  }

  /** Finalisation: v2 ^= 0xff; 4 rounds; v0 ^ v1 ^ v2 ^ v3. */
  private finish(): number {
    const v = this.v;
    v[4] ^= 0xff;
    sipRound(v); sipRound(v); sipRound(v); sipRound(v);
    this.hi = (v[1]! ^ v[3]! ^ v[5]! ^ v[7]!) >>> 0;
    return (v[0]! ^ v[2]! ^ v[4]! ^ v[6]!) >>> 0;
  }
}

/**
 * SipRound on (lo, hi) int32 pairs. A 64-bit add is two 32-bit adds with the
 * carry found by an unsigned compare; a rotation by b < 32 mixes the halves,
 * a rotation by 32 swaps them.
 */
function sipRound(v: Int32Array): void {
  let v0l = v[0]!, v0h = v[1]!, v1l = v[2]!, v1h = v[3]!;
  let v2l = v[4]!, v2h = v[5]!, v3l = v[6]!, v3h = v[7]!;
  let l: number; let t: number;
  // v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32)
  l = (v0l + v1l) | 0; v0h = (v0h + v1h + ((l >>> 0) < (v0l >>> 0) ? 1 : 0)) | 0; v0l = l;
  t = v1h; v1h = (v1h << 13) | (v1l >>> 19); v1l = (v1l << 13) | (t >>> 19);
  v1h ^= v0h; v1l ^= v0l;
  t = v0h; v0h = v0l; v0l = t;
  // v2 += v3; v3 = rotl(v3, 16); v3 ^= v2
  l = (v2l + v3l) | 0; v2h = (v2h + v3h + ((l >>> 0) < (v2l >>> 0) ? 1 : 0)) | 0; v2l = l;
  t = v3h; v3h = (v3h << 16) | (v3l >>> 16); v3l = (v3l << 16) | (t >>> 16);
  v3h ^= v2h; v3l ^= v2l;
  // v0 += v3; v3 = rotl(v3, 21); v3 ^= v0
  l = (v0l + v3l) | 0; v0h = (v0h + v3h + ((l >>> 0) < (v0l >>> 0) ? 1 : 0)) | 0; v0l = l;
  t = v3h; v3h = (v3h << 21) | (v3l >>> 11); v3l = (v3l << 21) | (t >>> 11);
  v3h ^= v0h; v3l ^= v0l;
  // v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32)
  l = (v2l + v1l) | 0; v2h = (v2h + v1h + ((l >>> 0) < (v2l >>> 0) ? 1 : 0)) | 0; v2l = l;
  t = v1h; v1h = (v1h << 17) | (v1l >>> 15); v1l = (v1l << 17) | (t >>> 15);
  v1h ^= v2h; v1l ^= v2l;
  t = v2h; v2h = v2l; v2l = t;
  v[0] = v0l; v[1] = v0h; v[2] = v1l; v[3] = v1h;
  v[4] = v2l; v[5] = v2h; v[6] = v3l; v[7] = v3h;
}

/** 16 random key bytes from an Rng. */
export function randomKey(rng: Rng): Uint8Array {
  const key = new Uint8Array(16);
  for (let i = 0; i < 16; i += 4) {
    const w = rng.nextU32();
    key[i] = w; key[i + 1] = w >>> 8; key[i + 2] = w >>> 16; key[i + 3] = w >>> 24;
  }
  return key;
}

function le32(b: Uint8Array, p: number): number {
  return b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24);
}
