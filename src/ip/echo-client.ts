/**
 * ICMP echo requests sent on behalf of the application (`stack.ping`), sans-IO:
 * it builds the request, remembers when it left, and matches what comes back —
 * an echo reply (RFC 792, RFC 1122 §3.2.2.6), an ICMP error quoting the
 * request (RFC 792: the quote holds the original IP header and the first 8
 * bytes of its data, i.e. our ICMP header with identifier and sequence
 * number), or a local send failure (no route, ARP unresolved) — to the
 * application's request id. Round-trip times are taken here, in the IP server,
 * from `now` at send and at receipt, as close to the wire as newtos gets.
 *
 * One identifier per IP server incarnation (a restarted server picks a new
 * one, so replies to a dead generation's requests are not mistaken for ours);
 * the sequence number counts requests. Each request's data is a fixed
 * pattern (as Linux ping fills its packets) that the reply must carry back
 * unchanged.
 */
import { ICMP_HEADER_LEN, IcmpType, emitIcmp } from '../wire/icmp.js';
import { ECHO_MAX_DATA, EchoStatus, type EchoSendError, type EchoStatusCode } from '../abi/echo.js';

export interface EchoResult {
  readonly id: number;
  readonly status: EchoStatusCode;
  /** Reply: round-trip time in ms. */
  readonly rttMs: number;
  /** Reply: TTL of the reply. */
  readonly ttl: number;
  /** Reply: data bytes received. */
  readonly bytes: number;
  /** Reply or ICMP error: who sent it. */
  readonly from: number;
  /** IcmpError: type << 8 | code. */
  readonly icmp: number;
  /** SendFailed: the reason. */
  readonly error: EchoSendError | null;
}

interface Outstanding {
  readonly id: number;
  readonly dst: number;
  readonly size: number;
  readonly sentAt: number;
  readonly expiresAt: number;
}

export interface EchoCounters {
  requests: number;
  replies: number;
  badData: number;
  icmpErrors: number;
  sendFailures: number;
  expired: number;
  /** Echo replies that matched no outstanding request (late, duplicate, someone else's). */
  unmatchedReplies: number;
}

/** Byte i of a request's data (Linux ping's pattern continues 0x08, 0x09, ... after its timestamp). */
function patternByte(i: number): number {
  return (i + 8) & 0xff;
}

export class EchoClient {
  private readonly outstanding = new Map<number, Outstanding>();
  private nextSeq = 0;
  /** Earliest expiresAt, cached (NaN: recompute); pollAt is asked on every loop iteration. */
  private earliest = Infinity;
  readonly counters: EchoCounters = { requests: 0, replies: 0, badData: 0, icmpErrors: 0, sendFailures: 0, expired: 0, unmatchedReplies: 0 };

  /**
   * @param ident ICMP identifier of this incarnation (16 bits).
   * @param maxOutstanding requests waiting for an answer at most; more fail with ENOBUFS.
   */
  constructor(readonly ident: number, private readonly maxOutstanding = 1024) {}

  /**
   * Build an echo request for application request `id`. Returns the ICMP
   * message (with `headroom` free bytes before it for the IP and link headers)
   * and the token to pass with it to the IP core, or a failure to report now.
   */
  request(id: number, dst: number, size: number, now: number, timeoutMs: number, headroom: number):
    { ok: true; message: Uint8Array; token: number } | { ok: false; result: EchoResult } {
    if (!Number.isInteger(size) || size < 0 || size > ECHO_MAX_DATA) return { ok: false, result: this.failed(id, 'EMSGSIZE') };
    if (this.outstanding.size >= this.maxOutstanding) return { ok: false, result: this.failed(id, 'ENOBUFS') };
    let seq = this.nextSeq;
    // Skip sequence numbers still outstanding (only after 65536 requests in one timeout).
    for (let i = 0; i < 0x10000 && this.outstanding.has(seq); i++) seq = (seq + 1) & 0xffff;
    this.nextSeq = (seq + 1) & 0xffff;
    const buf = new Uint8Array(headroom + ICMP_HEADER_LEN + size);
    const data = buf.subarray(headroom + ICMP_HEADER_LEN);
    for (let i = 0; i < size; i++) data[i] = patternByte(i);
    emitIcmp({ kind: 'echo-request', ident: this.ident, seq, data }, buf, headroom);
    const expiresAt = now + Math.max(0, timeoutMs);
    this.outstanding.set(seq, { id, dst, size, sentAt: now, expiresAt });
    if (!Number.isNaN(this.earliest) && expiresAt < this.earliest) this.earliest = expiresAt;
    this.counters.requests++;
    return { ok: true, message: buf.subarray(headroom), token: EchoClient.tokenOf(seq) };
  }

  /**
   * Tokens are -2 and below, so they never collide with the IP server's tokens
   * for transport buffers (pool keys: never negative; -1 for an unknown pool).
   */
  static tokenOf(seq: number): number {
    return -2 - seq;
  }

  static isEchoToken(token: number): boolean {
    return token <= -2 && token >= -2 - 0xffff;
  }

  /** An ICMP echo reply arrived from `src`: ours? */
  onReply(src: number, ident: number, seq: number, data: Uint8Array, ttl: number, now: number): EchoResult | null {
    const o = ident === this.ident ? this.outstanding.get(seq) : undefined;
    // RFC 1122 §3.2.2.6: the reply comes from the address the request was sent to
    // (a broadcast request may be answered by anyone, but we do not send those).
    if (o === undefined || o.dst !== src) { this.counters.unmatchedReplies++; return null; }
    this.forget(seq, o);
    let same = data.length === o.size;
    for (let i = 0; same && i < data.length; i++) same = data[i] === patternByte(i);
    if (same) this.counters.replies++; else this.counters.badData++;
    return {
      id: o.id, status: same ? EchoStatus.Reply : EchoStatus.ReplyBadData, rttMs: now - o.sentAt, ttl, bytes: data.length,
      from: src, icmp: 0, error: null,
    };
  }

  /**
   * An ICMP error about a datagram we sent, reported by `reporter`; `quoted`
   * holds the bytes after the quoted IP header (our ICMP header first).
   */
  onIcmpError(reporter: number, origDst: number, icmpType: number, icmpCode: number, quoted: Uint8Array): EchoResult | null {
    if (quoted.length < ICMP_HEADER_LEN || quoted[0] !== IcmpType.EchoRequest) return null;
    const ident = (quoted[4]! << 8) | quoted[5]!;
    const seq = (quoted[6]! << 8) | quoted[7]!;
    const o = ident === this.ident ? this.outstanding.get(seq) : undefined;
    if (o === undefined || o.dst !== origDst) return null;
    this.forget(seq, o);
    this.counters.icmpErrors++;
    return { id: o.id, status: EchoStatus.IcmpError, rttMs: 0, ttl: 0, bytes: 0, from: reporter, icmp: (icmpType << 8) | icmpCode, error: null };
  }

  /** The IP core could not send the request with `token`. */
  onSendError(token: number, code: EchoSendError): EchoResult | null {
    if (!EchoClient.isEchoToken(token)) return null;
    const seq = -2 - token;
    const o = this.outstanding.get(seq);
    if (o === undefined) return null;
    this.forget(seq, o);
    return this.failed(o.id, code);
  }

  /** Forget requests whose time is up (the application has its own timer; this bounds memory). */
  expire(now: number): number {
    let n = 0;
    for (const [seq, o] of this.outstanding) {
      if (o.expiresAt <= now) { this.forget(seq, o); n++; }
    }
    this.counters.expired += n;
    return n;
  }

  pollAt(): number {
    if (Number.isNaN(this.earliest)) {
      let at = Infinity;
      for (const o of this.outstanding.values()) at = Math.min(at, o.expiresAt);
      this.earliest = at;
    }
    return this.earliest;
  }

  private forget(seq: number, o: Outstanding): void {
    this.outstanding.delete(seq);
    if (o.expiresAt <= this.earliest) this.earliest = NaN;
  }

  get pending(): number {
    return this.outstanding.size;
  }

  private failed(id: number, error: EchoSendError): EchoResult {
    this.counters.sendFailures++;
    return { id, status: EchoStatus.SendFailed, rttMs: 0, ttl: 0, bytes: 0, from: 0, icmp: 0, error };
  }
}
