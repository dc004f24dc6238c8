/**
 * SYN cookies: answer a SYN without keeping state when the SYN queue is full,
 * and rebuild the connection from the returning ACK.
 *
 * Read first: RFC 4987 §3.6 (SYN cookies), RFC 9293 §3.10.7.2 (LISTEN state),
 * then Linux net/ipv4/syncookies.c, whose layout this follows:
 *
 *   cookie = H1(4-tuple) + ISN_client + (count << 24)
 *            + ((H2(4-tuple, count) + mssIndex) mod 2**24)
 *
 * `count` is a coarse clock (one tick per 64 s); H1 and H2 are SipHash-2-4
 * with two independent secret keys. Validation strips H1 and the client ISN,
 * reads the 8-bit count, accepts it only if it is the current or the previous
 * tick (`maxAge` ticks, default 2, like Linux's MAX_SYNCOOKIE_AGE), subtracts
 * H2 for that count and requires the remainder to be a valid MSS index. A
 * random ACK number passes with probability about maxAge/256 * 4/2**24 ~ 2**-29.
 * As in Linux, an ACK whose numbers are off by less than 4 from a genuine one
 * may validate with another MSS index; producing it requires knowing the
 * cookie (an on-path attacker), who could complete the handshake anyway.
 *
 * Only the MSS survives in the cookie, as one of four Linux values. Window
 * scale and SACK-permitted can survive only when the client uses timestamps
 * (RFC 7323): like Linux, we put them in the low 6 bits of our TSval in the
 * SYN-ACK (`encodeCookieTimestamp`), and the client echoes them back in TSecr
 * (`decodeCookieTimestamp`). Without timestamps the connection goes on without
 * window scaling and SACK.
 *
 * The engine's part: use cookies only while the SYN queue overflows (and
 * accept cookie ACKs only for a while after, as Linux's
 * tcp_synq_no_recent_overflow does), pass SEG.SEQ and SEG.ACK of the ACK
 * unchanged (this module subtracts the 1 each side consumed with its SYN).
 */
import type { Rng } from '../random/rng.js';
import { randomKey, SipHash24 } from '../random/siphash.js';

/** The MSS values a cookie can carry (Linux msstab for IPv4). */
export const SYN_COOKIE_MSS_TABLE: readonly number[] = [536, 1300, 1440, 1460];
/** Length of one tick of the cookie clock, ms. */
export const SYN_COOKIE_PERIOD_MS = 64_000;

const COOKIE_BITS = 24;
const COOKIE_MASK = (1 << COOKIE_BITS) - 1;

export interface SynCookiesOptions {
  /** Cookie ages (in 64 s ticks) accepted: 2 = current and previous tick. */
  readonly maxAge?: number;
}

export class SynCookies {
  readonly maxAge: number;
  private readonly h1: SipHash24;
  private readonly h2: SipHash24;
  private readonly words = new Uint32Array(4);

  constructor(key1: Uint8Array, key2: Uint8Array, options: SynCookiesOptions = {}) {
    this.h1 = new SipHash24(key1);
    this.h2 = new SipHash24(key2);
    this.maxAge = options.maxAge ?? 2;
    if (!(Number.isInteger(this.maxAge) && this.maxAge >= 1 && this.maxAge <= 128)) {
      throw new RangeError(`SynCookies: maxAge ${this.maxAge} must be in [1, 128]`);
    }
  }

  static fromRng(rng: Rng, options: SynCookiesOptions = {}): SynCookies {
    return new SynCookies(randomKey(rng), randomKey(rng), options);
  }

  /** Index into SYN_COOKIE_MSS_TABLE for a client MSS: the largest entry not above it (else 0). */
  static mssIndex(clientMss: number): number {
    for (let i = SYN_COOKIE_MSS_TABLE.length - 1; i > 0; i--) if (clientMss >= SYN_COOKIE_MSS_TABLE[i]!) return i;
    return 0;
  }

  /** The MSS a cookie for `clientMss` carries (what the connection will use). */
  static cookieMss(clientMss: number): number {
    return SYN_COOKIE_MSS_TABLE[SynCookies.mssIndex(clientMss)]!;
  }

  /** The coarse clock at `now` ms. */
  static count(now: number): number {
    return Math.floor(now / SYN_COOKIE_PERIOD_MS) >>> 0;
  }

  /**
   * Our ISN for the SYN-ACK: a cookie for this 4-tuple, the client's ISN (the
   * SYN's SEG.SEQ) and MSS, at time `now`.
   */
  encode(localAddr: number, localPort: number, remoteAddr: number, remotePort: number,
    clientIsn: number, clientMss: number, now: number): number {
    const count = SynCookies.count(now);
    const data = SynCookies.mssIndex(clientMss);
    return (this.hash1(localAddr, localPort, remoteAddr, remotePort) + clientIsn + (count << COOKIE_BITS)
      + ((this.hash2(localAddr, localPort, remoteAddr, remotePort, count) + data) & COOKIE_MASK)) >>> 0;
  }

  /**
   * Check the ACK completing a cookie handshake. `segSeq`/`segAck` are the
   * ACK's SEG.SEQ and SEG.ACK as received. Returns the MSS the cookie carried,
   * or undefined when the cookie is forged, for another connection, or too old.
   * Never throws: the input is untrusted.
   */
  validate(localAddr: number, localPort: number, remoteAddr: number, remotePort: number,
    segSeq: number, segAck: number, now: number): number | undefined {
    const count = SynCookies.count(now);
    const clientIsn = (segSeq - 1) >>> 0;
    const cookie = ((segAck - 1) - this.hash1(localAddr, localPort, remoteAddr, remotePort) - clientIsn) >>> 0;
    const age = (count - (cookie >>> COOKIE_BITS)) & 0xff;
    if (age >= this.maxAge) return undefined;
    const data = (cookie - this.hash2(localAddr, localPort, remoteAddr, remotePort, (count - age) >>> 0)) & COOKIE_MASK;
    return data < SYN_COOKIE_MSS_TABLE.length ? SYN_COOKIE_MSS_TABLE[data] : undefined;
  }

  private hash1(la: number, lp: number, ra: number, rp: number): number {
    const w = this.words;
    w[0] = la; w[1] = ra; w[2] = ((lp & 0xffff) << 16) | (rp & 0xffff);
    return this.h1.hashWords(w, 3);
  }

  private hash2(la: number, lp: number, ra: number, rp: number, count: number): number {
    const w = this.words;
    w[0] = la; w[1] = ra; w[2] = ((lp & 0xffff) << 16) | (rp & 0xffff); w[3] = count;
    return this.h2.hashWords(w, 4);
  }
}

/** Options carried in a cookie timestamp. */
export interface CookieTimestampOptions {
  /** The client's window scale shift (0..14), or undefined if it sent no window scale option. */
  readonly wscale: number | undefined;
  readonly sackPermitted: boolean;
}

const TS_BITS = 6;
const TS_WSCALE_MASK = 0xf; // 0xf = no window scaling
const TS_SACK = 1 << 4;
/** RFC 7323 §2.3: the shift count is at most 14. */
const MAX_WSCALE = 14;

/**
 * TSval for a cookie SYN-ACK: the timestamp clock `tsNow` with its low 6 bits
 * replaced by the client's options (Linux cookie_init_timestamp). Never later
 * than tsNow (so the clock does not appear to jump forward), at most 64 ticks earlier.
 */
export function encodeCookieTimestamp(tsNow: number, options: CookieTimestampOptions): number {
  const ws = options.wscale;
  let opts = ws === undefined ? TS_WSCALE_MASK : Math.min(MAX_WSCALE, Math.max(0, ws | 0));
  if (options.sackPermitted) opts |= TS_SACK;
  const now = tsNow >>> 0;
  let ts = ((now & ~((1 << TS_BITS) - 1)) | opts) >>> 0;
  if (ts > now) ts = (ts - (1 << TS_BITS)) >>> 0;
  return ts;
}

/**
 * Options from the TSecr of a cookie ACK. Every 4-bit value is meaningful
 * (0..14 a shift, 15 none), so this cannot fail; the cookie itself in SEG.ACK
 * is what authenticates the ACK (TSecr is not covered by it, as in Linux).
 */
export function decodeCookieTimestamp(tsEcr: number): CookieTimestampOptions {
  const ws = tsEcr & TS_WSCALE_MASK;
  return { wscale: ws === TS_WSCALE_MASK ? undefined : ws, sackPermitted: (tsEcr & TS_SACK) !== 0 };
}
