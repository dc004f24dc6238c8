/**
 * The Internet checksum (RFC 1071) and its incremental update (RFC 1624).
 *
 * The one's-complement sum is independent of byte order (RFC 1071 §2(B)), so the
 * fast path sums whole little-endian 32-bit words read through a Uint32Array with
 * four accumulators, folds, and swaps the bytes of the result once at the end.
 * Sums are kept in JS numbers (exact to 2^53), so no carry handling is needed
 * inside the loop; a chunk of at most 2^20 words per accumulator is summed
 * between folds.
 *
 * Conventions: a "partial sum" is a non-negative number whose 16-bit fold is the
 * one's-complement sum of big-endian 16-bit words; partial sums of pieces that
 * start at even offsets of the summed whole may be added together.
 */

const CHUNK_WORDS = 1 << 20;

/** Fold any non-negative partial sum to 16 bits with end-around carry. */
export function fold16(sum: number): number {
  // Two steps of the classic fold handle any sum below 2^48; larger sums are
  // first reduced with exact arithmetic.
  while (sum > 0xffffffff) sum = (sum % 0x100000000) + Math.floor(sum / 0x100000000);
  sum = (sum & 0xffff) + (sum >>> 16);
  sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

function swap16(x: number): number {
  return ((x & 0xff) << 8) | (x >>> 8);
}

/** Byte-wise sum of big-endian 16-bit words of bytes[start, end). */
function sumBytes(bytes: Uint8Array, start: number, end: number): number {
  let sum = 0;
  let i = start;
  for (; i + 1 < end; i += 2) sum += (bytes[i]! << 8) | bytes[i + 1]!;
  if (i < end) sum += bytes[i]! << 8;
  return sum;
}

/**
 * Partial one's-complement sum of bytes[start, end) as big-endian 16-bit words,
 * an odd trailing byte padded with zero (RFC 1071 §4.1).
 */
export function sum16(bytes: Uint8Array, start = 0, end = bytes.length, initial = 0): number {
  const len = end - start;
  const abs = bytes.byteOffset + start;
  if (len < 64 || (abs & 3) !== 0) {
    // Short or unaligned: a 2-byte aligned start can still use the word path
    // after one leading 16-bit word.
    if (len >= 64 && (abs & 1) === 0) {
      const head = (bytes[start]! << 8) | bytes[start + 1]!;
      return sum16(bytes, start + 2, end, initial + head);
    }
    return initial + sumBytes(bytes, start, end);
  }
  const words = len >>> 2;
  const u32 = new Uint32Array(bytes.buffer, abs, words);
  let total = 0;
  for (let base = 0; base < words; base += CHUNK_WORDS) {
    const stop = Math.min(words, base + CHUNK_WORDS);
    // Four independent accumulators let the adds overlap in the pipeline.
    let a = 0;
    let b = 0;
    let c = 0;
    let d = 0;
    let i = base;
    for (; i + 3 < stop; i += 4) {
      a += u32[i]!;
      b += u32[i + 1]!;
      c += u32[i + 2]!;
      d += u32[i + 3]!;
    }
    for (; i < stop; i++) a += u32[i]!;
    total = fold16(total + fold16(a) + fold16(b) + fold16(c) + fold16(d));
  }
  // total is the folded sum of byte-swapped words; swap back to network order.
  let sum = swap16(total);
  const tail = start + (words << 2);
  if (tail < end) sum += sumBytes(bytes, tail, end);
  return initial + sum;
}

/** The checksum field value: complement of the folded sum. */
export function internetChecksum(bytes: Uint8Array, start = 0, end = bytes.length, initial = 0): number {
  return ~fold16(sum16(bytes, start, end, initial)) & 0xffff;
}

/** Partial sum of the IPv4 pseudo-header (RFC 793 §3.1, RFC 768). Addresses are 32-bit numbers. */
export function pseudoHeaderSum(src: number, dst: number, protocol: number, length: number): number {
  return (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + protocol + length;
}

/**
 * RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), for one 16-bit field changing from
 * `oldWord` to `newWord`. Never yields 0xffff → 0x0000 ambiguities of eqn. 2.
 */
export function updateChecksum16(checksum: number, oldWord: number, newWord: number): number {
  const sum = (~checksum & 0xffff) + (~oldWord & 0xffff) + (newWord & 0xffff);
  return ~fold16(sum) & 0xffff;
}

/** RFC 1624 update for a 32-bit field (an address) changing. */
export function updateChecksum32(checksum: number, oldValue: number, newValue: number): number {
  const c = updateChecksum16(checksum, oldValue >>> 16, newValue >>> 16);
  return updateChecksum16(c, oldValue & 0xffff, newValue & 0xffff);
}

/** True when the bytes, checksum field included, sum to 0xffff. */
export function verifyChecksum(bytes: Uint8Array, start = 0, end = bytes.length, initial = 0): boolean {
  return fold16(sum16(bytes, start, end, initial)) === 0xffff;
}
