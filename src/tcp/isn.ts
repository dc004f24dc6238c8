/**
 * Initial sequence numbers, RFC 6528.
 *
 * Read first: RFC 6528 §3 (the algorithm) and RFC 9293 §3.4.1 (which adopts
 * it: "TCP implementations MUST use the above type of 'clock' value ... and
 * SHOULD generate their ISNs using the expression in RFC 6528").
 *
 * RFC 6528 §3: "ISN = M + F(localip, localport, remoteip, remoteport, secretkey)
 * where M is the 4 microsecond timer, and F() is a pseudorandom function (PRF)
 * of the connection-id. F() MUST NOT be computable from the outside, or an
 * attacker could still guess at sequence numbers from the ISN used for some
 * other connection." F here is SipHash-2-4 (src/core/siphash.ts), the PRF Linux
 * also uses (secure_tcp_seq), keyed with 128 secret bits drawn once from the
 * injected Rng. M comes from the injected clock: now (ms) * 250, mod 2**32.
 *
 * The RFC notes the key "SHOULD be of at least 128 bits" and MAY be changed
 * from time to time; changing it breaks the monotonicity per connection-id
 * that protects old duplicates (RFC 6528 §3), so we keep one key per stack.
 */
import type { Rng } from '../random/rng.js';
import { randomKey, SipHash24 } from '../random/siphash.js';

/** 4-microsecond ticks per millisecond (RFC 6528 §3 "the 4 microsecond timer"). */
const TICKS_PER_MS = 250;

export class IsnGenerator {
  private readonly prf: SipHash24;
  private readonly words = new Uint32Array(3);

  /** `key`: 16 secret bytes. Prefer `IsnGenerator.fromRng`. */
  constructor(key: Uint8Array) {
    this.prf = new SipHash24(key);
  }

  static fromRng(rng: Rng): IsnGenerator {
    return new IsnGenerator(randomKey(rng));
  }

  /**
   * The ISN for a connection from localAddr:localPort to remoteAddr:remotePort
   * (IPv4 addresses as uint32) at time `now` (ms).
   */
  isn(localAddr: number, localPort: number, remoteAddr: number, remotePort: number, now: number): number {
    return (this.clock(now) + this.offset(localAddr, localPort, remoteAddr, remotePort)) >>> 0;
  }

  /** F(): the keyed hash of the connection-id alone (without M). */
  offset(localAddr: number, localPort: number, remoteAddr: number, remotePort: number): number {
    const w = this.words;
    w[0] = localAddr;
    w[1] = remoteAddr;
    w[2] = ((localPort & 0xffff) << 16) | (remotePort & 0xffff);
    return this.prf.hashWords(w, 3);
  }

  /** M: the 4-microsecond timer at `now` ms, mod 2**32. */
  clock(now: number): number {
    // Exact for any realistic now: ms * 250 stays far below 2**53.
    return (Math.floor(now * TICKS_PER_MS) % 0x1_0000_0000) >>> 0;
  }
}
