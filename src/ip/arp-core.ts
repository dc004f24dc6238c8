/**
 * The ARP core for one Ethernet interface: resolves IPv4 next hops to MAC
 * addresses (RFC 826), answers requests for our addresses, announces them
 * (gratuitous ARP, RFC 5227 §3), and holds a bounded queue of packets per
 * address still being resolved (RFC 1122 §2.3.2.2: "SHOULD save at least one
 * (the latest) packet").
 *
 * Entry states (after Linux's neighbour table, simplified):
 *   incomplete — a broadcast request is out; retried every retransmitMs up to
 *                maxProbes, then the entry fails and its queued packets drop.
 *   reachable  — confirmed by a reply/request aimed at us within reachableMs.
 *   stale      — older than that, or learnt from traffic not aimed at us. Still
 *                used; the first use starts unicast probes (RFC 1122 §2.3.2.1);
 *                no answer after maxProbes removes it. Unused stale entries
 *                are collected after staleGcMs.
 * Requests are rate-limited twice: per entry (retransmitMs) and by a global
 * token bucket, so a scan of a subnet cannot make us flood the link.
 *
 * Sans-IO: every method takes `now` (ms) and appends what must happen to an
 * `out` array; the owner (the IP core) frames and sends, and returns buffers
 * of dropped packets to their pool.
 */
import { ArpOperation, type ArpRepr } from '../wire/arp.js';
import { MAC_BROADCAST, MAC_ZERO, isMulticastMac } from '../wire/ethernet.js';
import { TokenBucket } from './token-bucket.js';

export interface ArpConfig {
  readonly reachableMs: number;
  readonly staleGcMs: number;
  readonly retransmitMs: number;
  readonly maxProbes: number;
  /**
   * Packets waiting for one address. Linux keeps up to 101 (unres_qlen, bounded by
   * unres_qlen_bytes); with 3 (Linux's old default), 64 connections opened at once to a peer
   * not yet resolved lost 61 SYNs and waited a whole initial RTO (1 s) for them.
   */
  readonly maxQueuePerAddress: number;
  /**
   * Packets waiting for resolution over all entries. The packets are the senders' pool
   * buffers (TCP's are segment-size, 512 of them): without a global bound, the SYN-ACKs of a
   * random-source SYN flood, one per unresolvable source, held a whole pool and the
   * connections in use could not send.
   */
  readonly maxQueuedTotal: number;
  readonly maxEntries: number;
  readonly requestsPerSecond: number;
  readonly requestBurst: number;
  /**
   * Answer requests for our addresses and announce them (default). A stack replica other
   * than the first sees copies of the same ARP frames and only learns from them: one answer
   * per request on the wire.
   */
  readonly answerRequests: boolean;
}

export const DEFAULT_ARP_CONFIG: ArpConfig = {
  reachableMs: 30_000,
  staleGcMs: 60_000,
  retransmitMs: 1_000,
  maxProbes: 3,
  maxQueuePerAddress: 64,
  maxQueuedTotal: 64,
  maxEntries: 512,
  requestsPerSecond: 50,
  requestBurst: 20,
  answerRequests: true,
};

/** A resolved entry must have been idle this long (ms) to be evicted for a new one (Linux neigh_forced_gc: 5 s). */
export const EVICT_IDLE_MS = 5_000;

export type ArpEntryState = 'incomplete' | 'reachable' | 'stale';

export type ArpDropReason = 'unresolved' | 'queue-full' | 'cache-full';

export type ArpOutput<P> =
  | { readonly type: 'arp-transmit'; readonly dstMac: number; readonly repr: ArpRepr }
  | { readonly type: 'arp-resolved'; readonly ip: number; readonly mac: number; readonly packets: readonly P[] }
  | { readonly type: 'arp-dropped'; readonly ip: number; readonly reason: ArpDropReason; readonly packets: readonly P[] };

export interface ArpCounters {
  requestsSent: number;
  requestsRateLimited: number;
  repliesSent: number;
  requestsReceived: number;
  repliesReceived: number;
  announcementsSent: number;
  resolved: number;
  failed: number;
  queueDrops: number;
  cacheFull: number;
  conflicts: number;
  ignored: number;
}

interface Entry<P> {
  state: ArpEntryState;
  mac: number;
  /** Last time reachability was confirmed (reachable) or the entry was learnt/used (stale). */
  updatedAt: number;
  lastUsed: number;
  probes: number;
  /** When the next request is due; Infinity when not probing. */
  nextProbeAt: number;
  queue: P[];
  /** Our address used as sender in requests (the one on the target's subnet). */
  senderIp: number;
}

export interface ArpEntrySnapshot {
  readonly ip: number;
  readonly state: ArpEntryState;
  readonly mac: number;
  readonly queued: number;
}

export class ArpCore<P> {
  readonly config: ArpConfig;
  readonly counters: ArpCounters = {
    requestsSent: 0, requestsRateLimited: 0, repliesSent: 0, requestsReceived: 0, repliesReceived: 0,
    announcementsSent: 0, resolved: 0, failed: 0, queueDrops: 0, cacheFull: 0, conflicts: 0, ignored: 0,
  };
  private readonly entries = new Map<number, Entry<P>>();
  private readonly bucket: TokenBucket;
  /** While full: no entry can be evicted before this time (makeRoom does not scan again until then). */
  private noVictimBefore = -Infinity;
  /** Packets in all entries' queues. */
  private queued = 0;
  private addresses: readonly number[];

  constructor(readonly mac: number, addresses: readonly number[], config: Partial<ArpConfig> = {}, now = 0) {
    this.config = { ...DEFAULT_ARP_CONFIG, ...config };
    this.addresses = addresses.slice();
    this.bucket = new TokenBucket(this.config.requestsPerSecond, this.config.requestBurst, now);
  }

  setAddresses(addresses: readonly number[]): void {
    this.addresses = addresses.slice();
  }

  isOurs(ip: number): boolean {
    return this.addresses.includes(ip);
  }

  /**
   * The MAC for `ip` if usable now, else null after queueing `packet` (which
   * the caller must not reuse) until resolution succeeds or fails.
   * `senderIp` is our address to put in requests (default: our first address).
   */
  resolve(ip: number, packet: P, now: number, out: ArpOutput<P>[], senderIp = this.addresses[0] ?? 0): number | null {
    const mac = this.lookup(ip, now, out);
    if (mac !== null) return mac;
    let e = this.entries.get(ip);
    if (e === undefined) {
      if (!this.makeRoom(now, out)) {
        this.counters.cacheFull++;
        out.push({ type: 'arp-dropped', ip, reason: 'cache-full', packets: [packet] });
        return null;
      }
      e = { state: 'incomplete', mac: MAC_ZERO, updatedAt: now, lastUsed: now, probes: 0, nextProbeAt: now, queue: [], senderIp };
      this.entries.set(ip, e);
    }
    if (e.queue.length >= this.config.maxQueuePerAddress) {
      // Keep the latest packets: drop the oldest.
      this.counters.queueDrops++;
      this.queued--;
      out.push({ type: 'arp-dropped', ip, reason: 'queue-full', packets: [e.queue.shift()!] });
    } else if (this.queued >= this.config.maxQueuedTotal) {
      this.shedOldest(out);
    }
    e.queue.push(packet);
    this.queued++;
    if (e.nextProbeAt <= now) this.probe(ip, e, now, out);
    return null;
  }

  /**
   * True when resolve(ip) would drop its packet at once (no entry, table full, nothing to
   * evict): the owner can drop the packet before any further work on it.
   */
  wouldRefuse(ip: number, now: number): boolean {
    return this.refusing(now) && !this.entries.has(ip);
  }

  /** True while the table is full with nothing to evict: a new address would be refused. */
  refusing(now: number): boolean {
    return this.entries.size >= this.config.maxEntries && now < this.noVictimBefore;
  }

  /** The MAC for `ip` without queueing anything; starts a refresh of stale entries. */
  lookup(ip: number, now: number, out: ArpOutput<P>[]): number | null {
    const e = this.entries.get(ip);
    if (e === undefined || e.state === 'incomplete') return null;
    e.lastUsed = now;
    if (e.state === 'reachable' && now - e.updatedAt >= this.config.reachableMs) e.state = 'stale';
    if (e.state === 'stale' && e.nextProbeAt === Infinity) {
      e.probes = 0;
      e.nextProbeAt = now;
      this.probe(ip, e, now, out);
    }
    return e.mac;
  }

  /** Handle a received ARP packet (RFC 826 "Packet Reception"). */
  onArp(repr: ArpRepr, now: number, out: ArpOutput<P>[]): void {
    if (repr.operation === ArpOperation.Request) this.counters.requestsReceived++;
    else this.counters.repliesReceived++;
    if (repr.senderMac === this.mac || isMulticastMac(repr.senderMac) || repr.senderMac === MAC_ZERO) {
      this.counters.ignored++;
      return;
    }
    if (this.isOurs(repr.senderIp)) {
      // Someone else claims our address (RFC 5227 §2.4): never cache it.
      this.counters.conflicts++;
      return;
    }
    const forUs = this.isOurs(repr.targetIp);
    // RFC 5227 probes carry sender IP 0.0.0.0: answer, but learn nothing.
    if (repr.senderIp !== 0) {
      const e = this.entries.get(repr.senderIp);
      if (e !== undefined) this.learn(repr.senderIp, e, repr.senderMac, forUs, now, out);
      else if (forUs && (this.makeRoom(now, out) || this.evictIncomplete(out))) {
        this.entries.set(repr.senderIp, {
          state: 'reachable', mac: repr.senderMac, updatedAt: now, lastUsed: now, probes: 0, nextProbeAt: Infinity, queue: [],
          senderIp: repr.targetIp,
        });
      }
    }
    if (forUs && repr.operation === ArpOperation.Request && this.config.answerRequests) {
      this.counters.repliesSent++;
      out.push({
        type: 'arp-transmit', dstMac: repr.senderMac,
        repr: { operation: ArpOperation.Reply, senderMac: this.mac, senderIp: repr.targetIp, targetMac: repr.senderMac, targetIp: repr.senderIp },
      });
    }
  }

  /** Gratuitous ARP for each of our addresses (RFC 5227 §3 announcement: a request with sender = target). */
  announce(out: ArpOutput<P>[]): void {
    if (!this.config.answerRequests) return;
    for (const ip of this.addresses) {
      this.counters.announcementsSent++;
      out.push({
        type: 'arp-transmit', dstMac: MAC_BROADCAST,
        repr: { operation: ArpOperation.Request, senderMac: this.mac, senderIp: ip, targetMac: MAC_ZERO, targetIp: ip },
      });
    }
  }

  /**
   * Forget every learnt address (entries still resolving keep their queued
   * packets): the link may be a new device behind the same name, e.g. a TAP
   * created again after a driver restart, whose kernel side has a new MAC.
   * The next packet to each neighbour asks again.
   */
  forgetLearned(): void {
    for (const [ip, e] of this.entries) if (e.state !== 'incomplete') this.entries.delete(ip);
  }

  /** Run timers due at `now`. */
  onTimer(now: number, out: ArpOutput<P>[]): void {
    for (const [ip, e] of this.entries) {
      if (e.nextProbeAt <= now) {
        if (e.probes >= this.config.maxProbes) {
          this.entries.delete(ip);
          this.counters.failed++;
          this.queued -= e.queue.length;
          if (e.queue.length > 0) out.push({ type: 'arp-dropped', ip, reason: 'unresolved', packets: e.queue });
          continue;
        }
        this.probe(ip, e, now, out);
      }
      if (e.state === 'reachable' && now - e.updatedAt >= this.config.reachableMs) e.state = 'stale';
      if (e.state === 'stale' && e.nextProbeAt === Infinity && now - Math.max(e.lastUsed, e.updatedAt) >= this.config.staleGcMs) {
        this.entries.delete(ip);
      }
    }
  }

  /** When onTimer next has work; Infinity when nothing is pending. */
  pollAt(): number {
    let at = Infinity;
    for (const e of this.entries.values()) {
      if (e.nextProbeAt < at) at = e.nextProbeAt;
      if (e.state === 'reachable') at = Math.min(at, e.updatedAt + this.config.reachableMs);
      else if (e.state === 'stale' && e.nextProbeAt === Infinity) at = Math.min(at, Math.max(e.lastUsed, e.updatedAt) + this.config.staleGcMs);
    }
    return at;
  }

  snapshot(): ArpEntrySnapshot[] {
    return [...this.entries].map(([ip, e]) => ({ ip, state: e.state, mac: e.mac, queued: e.queue.length }));
  }

  /** Packets currently waiting for resolution, over all entries. */
  queuedPackets(): number {
    return this.queued;
  }

  /**
   * Drop the oldest waiting packet of the oldest entry that holds any (entries iterate in the
   * order they were made; only entries still resolving hold packets).
   */
  private shedOldest(out: ArpOutput<P>[]): void {
    for (const [ip, e] of this.entries) {
      if (e.queue.length === 0) continue;
      this.counters.queueDrops++;
      this.queued--;
      out.push({ type: 'arp-dropped', ip, reason: 'queue-full', packets: [e.queue.shift()!] });
      return;
    }
  }

  private learn(ip: number, e: Entry<P>, mac: number, confirmed: boolean, now: number, out: ArpOutput<P>[]): void {
    const wasIncomplete = e.state === 'incomplete';
    const changed = e.mac !== mac;
    e.mac = mac;
    if (confirmed || wasIncomplete) {
      e.state = confirmed ? 'reachable' : 'stale';
      e.updatedAt = now;
      e.probes = 0;
      e.nextProbeAt = Infinity;
    } else if (changed) {
      // Unsolicited news (e.g. gratuitous ARP) of a new address: usable, unconfirmed.
      e.state = 'stale';
      e.updatedAt = now;
    }
    if (wasIncomplete) {
      this.counters.resolved++;
      const packets = e.queue;
      e.queue = [];
      this.queued -= packets.length;
      out.push({ type: 'arp-resolved', ip, mac, packets });
    }
  }

  private probe(ip: number, e: Entry<P>, now: number, out: ArpOutput<P>[]): void {
    e.nextProbeAt = now + this.config.retransmitMs;
    // Incomplete: broadcast. Stale: unicast poll of the known address (RFC 1122 §2.3.2.1).
    const unicast = e.state === 'stale';
    // Only broadcasts share the global bucket: a flood of lookups for unknown addresses (a
    // random-source SYN flood's replies) must not starve the re-confirmation of the neighbours
    // we talk to, which would then be removed after maxProbes silent attempts. Unicast polls are
    // bounded by the entries themselves (one per retransmitMs each).
    if (!unicast && !this.bucket.take(now)) {
      // The attempt is spent without a packet: a flood of lookups cannot keep an entry alive forever.
      this.counters.requestsRateLimited++;
      e.probes++;
      return;
    }
    e.probes++;
    this.counters.requestsSent++;
    out.push({
      type: 'arp-transmit', dstMac: unicast ? e.mac : MAC_BROADCAST,
      repr: { operation: ArpOperation.Request, senderMac: this.mac, senderIp: e.senderIp, targetMac: MAC_ZERO, targetIp: ip },
    });
  }

  /**
   * Make room for a neighbour that has just shown itself (an ARP request aimed at us) in a
   * table full of entries still resolving: the oldest of those goes, its packets dropped.
   * What a host says about itself beats what we only asked about; during a random-source SYN
   * flood the table is full of the flood's sources, and a client that turns up then must still
   * be answered.
   */
  private evictIncomplete(out: ArpOutput<P>[]): boolean {
    for (const [ip, e] of this.entries) {
      if (e.state !== 'incomplete') continue;
      this.entries.delete(ip);
      this.counters.cacheFull++;
      this.queued -= e.queue.length;
      if (e.queue.length > 0) out.push({ type: 'arp-dropped', ip, reason: 'cache-full', packets: e.queue });
      return true;
    }
    return false;
  }

  /**
   * Ensure room for one more entry. When full, the least recently used resolved entry is
   * evicted, but only one idle for at least EVICT_IDLE_MS (as Linux's neigh_forced_gc keeps
   * entries updated in the last 5 s): otherwise a flood of packets to unknown addresses (the
   * SYN-ACKs of a random-source SYN flood) would evict the neighbours in use, and their own
   * packets would then wait for a resolution the flood's requests crowd out. Incomplete entries
   * are never evicted (they fail on their own after maxProbes). A full table with nothing to
   * evict refuses new entries, and is not scanned again before an entry could qualify.
   */
  private makeRoom(now: number, _out: ArpOutput<P>[]): boolean {
    if (this.entries.size < this.config.maxEntries) return true;
    if (now < this.noVictimBefore) return false;
    let victim: number | null = null;
    let oldest = Infinity;
    let nextCandidate = now + EVICT_IDLE_MS;
    for (const [ip, e] of this.entries) {
      if (e.state === 'incomplete' || e.queue.length > 0) continue;
      const used = Math.max(e.lastUsed, e.updatedAt);
      if (now - used < EVICT_IDLE_MS) {
        nextCandidate = Math.min(nextCandidate, used + EVICT_IDLE_MS);
      } else if (used < oldest) {
        oldest = used;
        victim = ip;
      }
    }
    if (victim === null) {
      // Rescan when the first resolved entry could have gone idle, or when entries may have
      // failed or resolved meanwhile (at most a second later).
      this.noVictimBefore = Math.min(nextCandidate, now + 1000);
      return false;
    }
    this.entries.delete(victim);
    return true;
  }
}
