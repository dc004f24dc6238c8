/**
 * The engine's keyed functions of the 4-tuple: initial sequence numbers
 * (RFC 6528: ISN = M + F(localip, localport, remoteip, remoteport, secretkey),
 * M a 4-microsecond clock) and SYN cookie hashes (RFC 4987 §3.6). The key is
 * drawn from the injected Rng once per engine.
 *
 * Interface so the engine does not care which keyed hash backs it; the
 * default here mixes with a 128-bit key through two rounds of a
 * multiply-xorshift permutation — a stand-in until the SipHash-based isn.ts /
 * syn-cookies.ts components are wired in (see the engine report).
 */
import type { Rng } from '../core/rng.js';

export interface TcpSecrets {
  /** RFC 6528 ISN for this 4-tuple at time `now` (ms). */
  isn(localAddr: number, localPort: number, remoteAddr: number, remotePort: number, now: number): number;
  /** 32-bit keyed hash of the 4-tuple and two extra words (SYN cookies). */
  hash(localAddr: number, localPort: number, remoteAddr: number, remotePort: number, a: number, b: number): number;
}

function mix(h: number, v: number): number {
  h = Math.imul(h ^ v, 0x9e3779b1);
  h ^= h >>> 15;
  h = Math.imul(h, 0x85ebca77);
  return (h ^ (h >>> 13)) >>> 0;
}

export class KeyedTcpSecrets implements TcpSecrets {
  private readonly k: Uint32Array;

  constructor(rng: Rng) {
    this.k = Uint32Array.of(rng.nextU32(), rng.nextU32(), rng.nextU32(), rng.nextU32());
  }

  hash(la: number, lp: number, ra: number, rp: number, a: number, b: number): number {
    const k = this.k;
    let h = mix(k[0]!, la);
    h = mix(h ^ k[1]!, ra);
    h = mix(h, ((lp << 16) | rp) >>> 0);
    h = mix(h ^ k[2]!, a);
    h = mix(h, b);
    return mix(h ^ k[3]!, h >>> 7);
  }

  isn(la: number, lp: number, ra: number, rp: number, now: number): number {
    // M: a timer that ticks every 4 microseconds (RFC 6528 §3).
    const m = Math.floor(now * 250) % 0x100000000;
    return (m + this.hash(la, lp, ra, rp, 0x15a, 0)) >>> 0;
  }
}
