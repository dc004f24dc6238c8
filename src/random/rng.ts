/**
 * Injected randomness. Protocol cores never call Math.random or crypto
 * themselves: they are given an Rng, so tests run deterministically from a seed.
 */
export interface Rng {
  /** A uniformly distributed unsigned 32-bit integer. */
  nextU32(): number;
}

/** Deterministic xorshift128+ style generator (not for secrets) for tests and simulations. */
export class SeededRng implements Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    // splitmix32 to spread the seed over the state words.
    let s = seed >>> 0;
    const next = (): number => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next(); this.b = next(); this.c = next(); this.d = next() | 1;
  }

  /** xoshiro128** step. */
  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0;
    const t = this.b << 9;
    this.c ^= this.a; this.d ^= this.b; this.b ^= this.c; this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return result;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** Rng backed by the OS CSPRNG, for production use (key material, ISNs, ports). */
export function cryptoRng(getRandomValues: (a: Uint32Array) => Uint32Array): Rng {
  const buf = new Uint32Array(256);
  let i = buf.length;
  return {
    nextU32(): number {
      if (i === buf.length) { getRandomValues(buf); i = 0; }
      return buf[i++]!;
    },
  };
}
