/**
 * The engine's keyed functions of the 4-tuple: initial sequence numbers
 * (RFC 6528, via IsnGenerator: ISN = M + SipHash(key, 4-tuple), M a
 * 4-microsecond clock), SYN cookie hashes (RFC 4987 §3.6) and the ephemeral
 * port offset (RFC 6056 §3.3.3). Keys are drawn from the injected Rng once per
 * engine; each purpose has its own key.
 */
import type { Rng } from '../random/rng.js';
import { SipHash24, randomKey } from '../random/siphash.js';
import { IsnGenerator } from './isn.js';

export interface TcpSecrets {
  /** RFC 6528 ISN for this 4-tuple at time `now` (ms). */
  isn(localAddr: number, localPort: number, remoteAddr: number, remotePort: number, now: number): number;
  /** 32-bit keyed hash of the 4-tuple and two extra words (SYN cookies, port offsets). */
  hash(localAddr: number, localPort: number, remoteAddr: number, remotePort: number, a: number, b: number): number;
}

export class KeyedTcpSecrets implements TcpSecrets {
  private readonly isnGen: IsnGenerator;
  private readonly prf: SipHash24;
  private readonly words = new Uint32Array(5);

  constructor(rng: Rng) {
    this.isnGen = IsnGenerator.fromRng(rng);
    this.prf = new SipHash24(randomKey(rng));
  }

  isn(la: number, lp: number, ra: number, rp: number, now: number): number {
    return this.isnGen.isn(la, lp, ra, rp, now);
  }

  hash(la: number, lp: number, ra: number, rp: number, a: number, b: number): number {
    const w = this.words;
    w[0] = la;
    w[1] = ra;
    w[2] = ((lp & 0xffff) << 16) | (rp & 0xffff);
    w[3] = a;
    w[4] = b;
    return this.prf.hashWords(w, 5);
  }
}
