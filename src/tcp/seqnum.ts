/**
 * 32-bit TCP sequence number arithmetic.
 *
 * Read first: RFC 9293 §3.4 ("Sequence Numbers"), and RFC 1982 (serial number
 * arithmetic) for why comparisons are only meaningful within half the space.
 *
 * RFC 9293 §3.4: "It is essential to remember that the actual sequence number
 * space is finite, though very large. This space ranges from 0 to 2**32 - 1.
 * Since the space is finite, all arithmetic dealing with sequence numbers must
 * be performed modulo 2**32."
 *
 * Representation: a sequence number is a plain JS number holding an unsigned
 * 32-bit value (0 .. 2**32-1). Every function here returns values in that
 * range. Comparisons use the signed 32-bit difference, so `seqLt(a, b)` means
 * "a is before b" when the two are less than 2**31 apart, which TCP guarantees
 * because windows are at most 2**30 (RFC 7323 §2.3).
 */

/** (a + n) mod 2**32. `n` may be negative; it must be an integer in (-2**32, 2**32). */
export function seqAdd(a: number, n: number): number {
  return (a + n) >>> 0;
}

/**
 * Signed distance a - b, in (-2**31, 2**31]. Positive when a is after b.
 * Exactly 2**31 apart is ambiguous (RFC 1982 §3.2); it comes out as -2**31.
 */
export function seqDiff(a: number, b: number): number {
  return (a - b) | 0;
}

/** a < b in sequence space. */
export function seqLt(a: number, b: number): boolean {
  return ((a - b) | 0) < 0;
}

/** a <= b in sequence space. */
export function seqLe(a: number, b: number): boolean {
  return ((a - b) | 0) <= 0;
}

/** a > b in sequence space. */
export function seqGt(a: number, b: number): boolean {
  return ((a - b) | 0) > 0;
}

/** a >= b in sequence space. */
export function seqGe(a: number, b: number): boolean {
  return ((a - b) | 0) >= 0;
}

/** The later of a and b in sequence space. */
export function seqMax(a: number, b: number): number {
  return seqGe(a, b) ? a >>> 0 : b >>> 0;
}

/** The earlier of a and b in sequence space. */
export function seqMin(a: number, b: number): number {
  return seqLe(a, b) ? a >>> 0 : b >>> 0;
}

/**
 * start <= x < start + len (mod 2**32): whether x falls in the window of
 * `len` octets beginning at `start`. `len` is 0 .. 2**32-1; a zero-length
 * window contains nothing (RFC 9293 §3.10.7.4's acceptability test handles
 * the zero-window case separately, as "SEG.SEQ = RCV.NXT").
 */
export function seqInWindow(x: number, start: number, len: number): boolean {
  return ((x - start) >>> 0) < (len >>> 0);
}
