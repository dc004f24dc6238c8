/**
 * Path MTUs learnt per destination (RFC 1191 §5, RFC 1122 §3.3.1.3).
 *
 * An ICMP "fragmentation needed" (type 3 code 4) names the next-hop MTU of a
 * router on the way to a destination; IP remembers it here, sends no datagram
 * with DF larger than it to that destination (the transport hears EMSGSIZE with
 * the MTU and sends smaller), and cuts TCP bursts at it. As Linux's route
 * exceptions (net/ipv4/route.c, __ip_rt_update_pmtu):
 *  - an entry only ever lowers the MTU; a larger report is ignored;
 *  - it expires `expiresMs` after it was learnt (ip_rt_mtu_expires, 10 minutes),
 *    so a path that grew again is found (RFC 1191 §6.3 asks for at least 10 minutes);
 *  - a report below `minMtu` (ip_rt_min_pmtu, 552) is taken as `minMtu` and the
 *    entry is "locked": datagrams to that destination go without DF and are
 *    fragmented instead, so a forged ICMP cannot shrink segments to a few bytes.
 * The table is bounded (`maxEntries`): when full, the entry nearest to expiry goes.
 */

export interface PmtuConfig {
  /** How long a learnt path MTU holds, in ms (Linux: net.ipv4.route.mtu_expires, 600 s). */
  readonly expiresMs: number;
  /** Smallest path MTU believed (Linux: net.ipv4.route.min_pmtu, 552). */
  readonly minMtu: number;
  readonly maxEntries: number;
}

export const DEFAULT_PMTU_CONFIG: PmtuConfig = { expiresMs: 600_000, minMtu: 552, maxEntries: 4096 };

export interface PmtuEntry {
  readonly dst: number;
  readonly mtu: number;
  /** The report was below minMtu: send without DF (fragment) rather than smaller still. */
  readonly locked: boolean;
  readonly expiresAt: number;
}

// A type, not an interface: published as a counter tree (an index signature).
export type PmtuCounters = {
  /** Entries in the table now. */
  entries: number;
  /** Reports that lowered (or created) an entry. */
  learned: number;
  /** Reports ignored: not below the current path MTU, or nonsense (below 68). */
  ignored: number;
  /** Entries that expired (the interface MTU holds again). */
  expired: number;
};

export class PmtuCache {
  readonly cfg: PmtuConfig;
  readonly counters: PmtuCounters = { entries: 0, learned: 0, ignored: 0, expired: 0 };
  /** In expiry order: every entry lives expiresMs, so insertion order is expiry order. */
  private readonly byDst = new Map<number, PmtuEntry>();

  constructor(config: Partial<PmtuConfig> = {}) {
    this.cfg = { ...DEFAULT_PMTU_CONFIG, ...config };
  }

  /**
   * A router reported next-hop MTU `mtu` towards `dst`, whose current path MTU
   * (the entry's, else the interface's) is `current`. Returns the entry when it
   * changed the path MTU, else null.
   */
  learn(dst: number, mtu: number, current: number, now: number): PmtuEntry | null {
    // RFC 1191 §4: 68 is the smallest MTU any IPv4 link may have; below it the report is bogus.
    if (mtu < 68) { this.counters.ignored++; return null; }
    const old = this.lookup(dst, now);
    const locked = mtu < this.cfg.minMtu;
    const value = Math.max(mtu, this.cfg.minMtu);
    const base = old?.mtu ?? current;
    if (value >= base) {
      this.counters.ignored++;
      return null;
    }
    if (old !== undefined) this.byDst.delete(dst);
    else if (this.byDst.size >= this.cfg.maxEntries) this.byDst.delete(this.byDst.keys().next().value!);
    const e: PmtuEntry = { dst, mtu: value, locked, expiresAt: now + this.cfg.expiresMs };
    this.byDst.set(dst, e);
    this.counters.learned++;
    this.counters.entries = this.byDst.size;
    return e;
  }

  /** The live entry for `dst`, if any (an expired one is dropped on the way). */
  lookup(dst: number, now: number): PmtuEntry | undefined {
    const e = this.byDst.get(dst);
    if (e === undefined) return undefined;
    if (e.expiresAt > now) return e;
    this.byDst.delete(dst);
    this.counters.expired++;
    this.counters.entries = this.byDst.size;
    return undefined;
  }

  /** Drops every expired entry. */
  expire(now: number): void {
    for (const e of this.byDst.values()) {
      if (e.expiresAt > now) break;
      this.byDst.delete(e.dst);
      this.counters.expired++;
    }
    this.counters.entries = this.byDst.size;
  }

  /** When the next entry expires (Infinity when none). */
  pollAt(): number {
    const first = this.byDst.values().next();
    return first.done === true ? Infinity : first.value.expiresAt;
  }

  snapshot(): PmtuEntry[] {
    return [...this.byDst.values()];
  }
}
