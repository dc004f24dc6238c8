/**
 * IPv4 reassembly (RFC 791 §3.2, RFC 815) hardened against the usual attacks:
 *
 * - Overlap (RFC 5722's reasoning applies to IPv4 too; Linux has dropped
 *   overlapping IPv4 fragments since 2018): a fragment that overlaps another
 *   without being an exact duplicate discards the whole datagram. Exact
 *   duplicates are ignored.
 * - Memory: every held fragment is charged its length plus a fixed overhead,
 *   so a flood of tiny fragments exhausts its budget as fast as one of big
 *   ones; when the global budget is exceeded the oldest datagrams go first.
 *   The number of datagrams in progress and fragments per datagram are capped.
 * - Time: a datagram not complete `timeoutMs` after its first fragment is
 *   dropped (RFC 791 timer; it is not restarted by later fragments, so a
 *   trickle cannot keep it alive). If its first fragment was held, the caller
 *   may send ICMP time exceeded, code 1 (RFC 792, RFC 1122 §3.3.2).
 */
import { IPV4_MAX_PACKET_LEN, type Ipv4Repr, emitIpv4, ipv4HeaderLen } from '../wire/ipv4.js';

export interface ReassemblyConfig {
  readonly timeoutMs: number;
  readonly maxBytes: number;
  readonly maxDatagrams: number;
  readonly maxFragmentsPerDatagram: number;
  /** Bytes charged per fragment beyond its payload. */
  readonly fragmentOverhead: number;
}

export const DEFAULT_REASSEMBLY_CONFIG: ReassemblyConfig = {
  timeoutMs: 30_000,
  maxBytes: 1 << 20,
  maxDatagrams: 64,
  maxFragmentsPerDatagram: 64,
  fragmentOverhead: 128,
};

export type ReassemblyDropReason =
  | 'reassembly-overlap' | 'reassembly-duplicate' | 'reassembly-bad-length' | 'reassembly-conflict'
  | 'reassembly-too-many-fragments' | 'reassembly-memory' | 'reassembly-too-big';

export type FragmentOutcome =
  | { readonly type: 'held' }
  | { readonly type: 'complete'; readonly datagram: Uint8Array }
  | { readonly type: 'dropped'; readonly reason: ReassemblyDropReason };

export interface ExpiredDatagram {
  readonly src: number;
  readonly dst: number;
  readonly protocol: number;
  readonly ident: number;
  /** Header and first 8 payload bytes of the first fragment, if it arrived (for ICMP time exceeded). */
  readonly firstFragmentQuote: Uint8Array | null;
}

export interface ReassemblyStats {
  completed: number;
  timedOut: number;
  /** Datagrams discarded to stay within the memory/datagram bounds. */
  evicted: number;
  /** Datagrams discarded because of overlap, conflicts or too many fragments. */
  discarded: number;
}

interface Fragment { readonly start: number; readonly end: number; readonly data: Uint8Array }

interface Datagram {
  readonly src: number;
  readonly dst: number;
  readonly protocol: number;
  readonly ident: number;
  readonly expiresAt: number;
  fragments: Fragment[];
  /** Payload length once the last fragment arrived. */
  total: number;
  covered: number;
  charged: number;
  /** Header repr of the fragment at offset 0. */
  first: Ipv4Repr | null;
  firstQuote: Uint8Array | null;
}

const HOLE = -1;

export class Reassembler {
  readonly config: ReassemblyConfig;
  readonly stats: ReassemblyStats = { completed: 0, timedOut: 0, evicted: 0, discarded: 0 };
  /** Insertion order = creation order = expiry order (one timeout for all). */
  private readonly datagrams = new Map<string, Datagram>();
  private used = 0;

  constructor(config: Partial<ReassemblyConfig> = {}) {
    this.config = { ...DEFAULT_REASSEMBLY_CONFIG, ...config };
  }

  /** Bytes charged to held fragments now. */
  get bytesHeld(): number { return this.used; }
  get datagramsInProgress(): number { return this.datagrams.size; }

  /**
   * Add one fragment: `repr` parsed from bytes[headerOffset..], payload at
   * bytes[headerOffset + ipv4HeaderLen(repr), + repr.payloadLen). The payload is copied.
   */
  add(repr: Ipv4Repr, bytes: Uint8Array, headerOffset: number, now: number): FragmentOutcome {
    const start = repr.fragmentOffset;
    const end = start + repr.payloadLen;
    const last = !repr.moreFragments;
    // RFC 791: every fragment but the last carries a multiple of 8 octets.
    if (!last && (repr.payloadLen === 0 || (repr.payloadLen & 7) !== 0)) return { type: 'dropped', reason: 'reassembly-bad-length' };
    // The reassembled datagram, header included, must fit in 65535 octets (RFC 791).
    if (end + ipv4HeaderLen(repr) > IPV4_MAX_PACKET_LEN) return { type: 'dropped', reason: 'reassembly-too-big' };
    const key = `${repr.src}/${repr.dst}/${repr.protocol}/${repr.ident}`;
    let d = this.datagrams.get(key);
    if (d !== undefined && d.expiresAt <= now) {
      this.discard(key, d);
      this.stats.timedOut++;
      d = undefined;
    }
    if (d === undefined) {
      if (this.datagrams.size >= this.config.maxDatagrams) this.evictOldest();
      d = {
        src: repr.src, dst: repr.dst, protocol: repr.protocol, ident: repr.ident, expiresAt: now + this.config.timeoutMs,
        fragments: [], total: HOLE, covered: 0, charged: 0, first: null, firstQuote: null,
      };
      this.datagrams.set(key, d);
    }
    // Consistency of the end of the datagram.
    if (last) {
      if ((d.total !== HOLE && d.total !== end) || d.fragments.some((f) => f.end > end)) return this.kill(key, d, 'reassembly-conflict');
    } else if (d.total !== HOLE && end > d.total) {
      return this.kill(key, d, 'reassembly-conflict');
    }
    // Overlap: find the insertion point in the sorted list and check neighbours.
    let i = 0;
    while (i < d.fragments.length && d.fragments[i]!.start < start) i++;
    const prev = d.fragments[i - 1];
    const next = d.fragments[i];
    if (next !== undefined && next.start === start && next.end === end) return { type: 'dropped', reason: 'reassembly-duplicate' };
    if ((prev !== undefined && prev.end > start) || (next !== undefined && next.start < end)) return this.kill(key, d, 'reassembly-overlap');
    if (d.fragments.length >= this.config.maxFragmentsPerDatagram) return this.kill(key, d, 'reassembly-too-many-fragments');
    const charge = repr.payloadLen + this.config.fragmentOverhead;
    while (this.used + charge > this.config.maxBytes) {
      const oldest = this.datagrams.keys().next();
      if (oldest.done || oldest.value === key) {
        // Even alone this datagram does not fit.
        return this.kill(key, d, 'reassembly-memory');
      }
      this.evictOldest();
    }
    const payloadStart = headerOffset + ipv4HeaderLen(repr);
    d.fragments.splice(i, 0, { start, end, data: bytes.slice(payloadStart, payloadStart + repr.payloadLen) });
    d.covered += repr.payloadLen;
    d.charged += charge;
    this.used += charge;
    if (last) d.total = end;
    if (start === 0) {
      d.first = repr;
      d.firstQuote = bytes.slice(headerOffset, payloadStart + Math.min(8, repr.payloadLen));
    }
    // With no overlaps, full coverage of [0, total) means complete.
    if (d.total !== HOLE && d.covered === d.total && d.first !== null) return this.complete(key, d);
    return { type: 'held' };
  }

  /** Drop datagrams whose time is up; returns them for ICMP time exceeded. */
  onTimer(now: number): ExpiredDatagram[] {
    const expired: ExpiredDatagram[] = [];
    for (const [key, d] of this.datagrams) {
      if (d.expiresAt > now) break;
      this.discard(key, d);
      this.stats.timedOut++;
      expired.push({ src: d.src, dst: d.dst, protocol: d.protocol, ident: d.ident, firstFragmentQuote: d.firstQuote });
    }
    return expired;
  }

  pollAt(): number {
    const first = this.datagrams.values().next();
    return first.done ? Infinity : first.value.expiresAt;
  }

  private complete(key: string, d: Datagram): FragmentOutcome {
    const first = d.first!;
    const header: Ipv4Repr = { ...first, moreFragments: false, fragmentOffset: 0, payloadLen: d.total };
    const hlen = ipv4HeaderLen(header);
    if (hlen + d.total > IPV4_MAX_PACKET_LEN) return this.kill(key, d, 'reassembly-too-big');
    const out = new Uint8Array(hlen + d.total);
    emitIpv4(header, out, 0);
    for (const f of d.fragments) out.set(f.data, hlen + f.start);
    this.discard(key, d);
    this.stats.completed++;
    return { type: 'complete', datagram: out };
  }

  private kill(key: string, d: Datagram, reason: ReassemblyDropReason): FragmentOutcome {
    this.discard(key, d);
    this.stats.discarded++;
    return { type: 'dropped', reason };
  }

  private evictOldest(): void {
    const oldest = this.datagrams.entries().next();
    if (oldest.done) return;
    this.discard(oldest.value[0], oldest.value[1]);
    this.stats.evicted++;
  }

  private discard(key: string, d: Datagram): void {
    this.used -= d.charged;
    this.datagrams.delete(key);
  }
}
