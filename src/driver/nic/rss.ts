/**
 * Software receive-side scaling: which receive queue (replica) gets a frame.
 *
 * As NICs do (Microsoft's "RSS hashing functions", the Intel 82599 datasheet
 * §7.1.2.8): a Toeplitz hash over the IPv4 source address, destination address,
 * source port and destination port, in the order they appear in the packet, for
 * TCP and UDP; over the two addresses only for other IPv4 protocols and for IP
 * fragments (whose later pieces carry no ports); the hash's low bits index an
 * indirection table (128 entries) that names the queue. Exact-match rules
 * ("flow director") override the hash for chosen flows. Frames that are not
 * IPv4 (ARP, IPv6, anything truncated) go to the default queue, queue 0.
 *
 * The hash is linear over GF(2): hash(a ‖ b) = hash(a ‖ 0) ^ hash(0 ‖ b). The
 * hasher precomputes, for every input byte position, the XOR of key windows for
 * each byte value, so a 12-byte tuple costs 12 table lookups.
 *
 * A connection's frames are received with the remote end as source, so a replica
 * that opens a connection and wants its replies looks for a local port with
 * `queueOfTuple(remote, local, remotePort, localPort) === itself`
 * (`findPortForQueue`).
 */
import { invalidArg } from '../../errors.js';
import { DEFAULT_RSS_KEY, ToeplitzHash } from '../../random/toeplitz.js';
import { ENTRY_COUNT_BITS, ENTRY_COUNT_MASK, ENTRY_MOVING, RSS_TABLE_SIZE, replicaOfUdpPort } from '../../abi/rss-table.js';
import { ETH_HEADER_LEN, EtherType } from '../../wire/ethernet.js';
import { IpProtocol } from '../../wire/ipv4.js';

export { DEFAULT_RSS_KEY, ToeplitzHash };

export { RSS_TABLE_SIZE };

/** IPv4 4-tuple: 4 + 4 + 2 + 2 bytes. */
const TUPLE_V4_LEN = 12;


/** A flow in the receive direction: as it appears in frames arriving at the NIC. */
export interface FlowTuple {
  readonly protocol: number;
  readonly src: number;
  readonly dst: number;
  readonly srcPort: number;
  readonly dstPort: number;
}

export interface RssOptions {
  /** Number of receive queues (replicas), 1..RSS_TABLE_SIZE. */
  readonly queues: number;
  /** Toeplitz key; DEFAULT_RSS_KEY if absent. */
  readonly key?: Uint8Array;
  /** The indirection table to steer by (shared memory others may rewrite); a private one if absent. */
  readonly table?: Uint8Array;
  /**
   * Steer for stack replicas (each queue is a whole replica): UDP by destination port,
   * ICMP errors with the flow they quote, echo replies to queue 0, fragments after the
   * first with their first (see steerReplica).
   */
  readonly replicas?: boolean;
  /** Replica mode: TCP frames steered per table entry, counted here (rss-table.ts createEntryFrames). */
  readonly entryFrames?: Int32Array;
}

/** What `steer` decided and why (for counters and tests). */
export type SteerReason = 'rule' | 'hash-4tuple' | 'hash-2tuple' | 'not-ipv4' | 'truncated' | 'udp-port' | 'icmp-quoted' | 'icmp-local' | 'fragment';

/** First fragments remembered for their followers (replica mode). */
const FRAGMENTS_REMEMBERED = 1024;

export interface SteerDecision {
  readonly queue: number;
  readonly reason: SteerReason;
  /** The RSS hash (0 when none was computed). */
  readonly hash: number;
}

/**
 * Steering state of one NIC: key, indirection table, flow-director rules.
 * Not shared between threads; the driver owns it.
 */
/** How long a frame waits at most for the monitor to finish moving its entry (rss-table.ts createEntryFrames). */
const MOVING_WAIT_MS = 50;

export class RssSteering {
  readonly hasher: ToeplitzHash;
  readonly queues: number;
  /** Indirection table: hash & (size-1) → queue. Filled round-robin; may be rewritten. */
  readonly table: Uint8Array;
  private readonly rules = new Map<string, number>();
  private readonly replicaMode: boolean;
  /** Replica mode: source/destination/protocol/id of a fragmented datagram → its first fragment's queue. */
  private readonly fragments = new Map<string, number>();
  private readonly entryFrames: Int32Array | undefined;
  /** Spins a frame waited for an entry the monitor was moving (rss-table.ts createEntryFrames). */
  movingWaits = 0;

  constructor(options: RssOptions) {
    if (!Number.isInteger(options.queues) || options.queues < 1 || options.queues > RSS_TABLE_SIZE) {
      throw invalidArg('queues', `must be an integer in 1..${RSS_TABLE_SIZE}`);
    }
    this.queues = options.queues;
    this.hasher = new ToeplitzHash(options.key ?? DEFAULT_RSS_KEY);
    this.replicaMode = options.replicas === true;
    this.entryFrames = options.entryFrames;
    if (options.table !== undefined) {
      if (options.table.length !== RSS_TABLE_SIZE) throw invalidArg('table', `must have ${RSS_TABLE_SIZE} entries`);
      this.table = options.table;
    } else {
      this.table = new Uint8Array(RSS_TABLE_SIZE);
      this.spread(options.queues);
    }
  }

  /** Rewrites the indirection table round-robin over `queues` queues (e.g. after a replica leaves). */
  spread(queues: number): void {
    if (queues < 1 || queues > this.queues) throw invalidArg('queues', `must be in 1..${this.queues}`);
    for (let i = 0; i < RSS_TABLE_SIZE; i++) this.table[i] = i % queues;
  }

  /** The queue the indirection table gives a hash. */
  queueOfHash(hash: number): number {
    return this.table[hash & (RSS_TABLE_SIZE - 1)]!;
  }

  /** Queue of a receive-direction tuple, rules first, then the 4-tuple hash. */
  queueOfTuple(tuple: FlowTuple): number {
    const rule = this.rules.size === 0 ? undefined : this.rules.get(ruleKey(tuple));
    if (rule !== undefined) return rule;
    return this.queueOfHash(this.hasher.hashV4(tuple.src, tuple.dst, tuple.srcPort, tuple.dstPort));
  }

  /** Flow director: frames of exactly this receive-direction flow go to `queue`. */
  addRule(tuple: FlowTuple, queue: number): void {
    if (!Number.isInteger(queue) || queue < 0 || queue >= this.queues) {
      throw invalidArg('queue', `must be in 0..${this.queues - 1}`);
    }
    this.rules.set(ruleKey(tuple), queue);
  }

  removeRule(tuple: FlowTuple): boolean {
    return this.rules.delete(ruleKey(tuple));
  }

  get ruleCount(): number {
    return this.rules.size;
  }

  /**
   * Receive queue for an Ethernet frame (untrusted: never throws). IPv4 TCP/UDP
   * first fragments and unfragmented packets use the 4-tuple; other IPv4 the
   * 2-tuple; anything else queue 0. One 802.1Q tag is skipped.
   */
  steer(frame: Uint8Array, start = 0, end = frame.length): SteerDecision {
    let p = start + 12;
    if (end - start < ETH_HEADER_LEN) return { queue: 0, reason: 'truncated', hash: 0 };
    let ethertype = (frame[p]! << 8) | frame[p + 1]!;
    p += 2;
    if (ethertype === EtherType.VLAN) {
      if (end - p < 4) return { queue: 0, reason: 'truncated', hash: 0 };
      ethertype = (frame[p + 2]! << 8) | frame[p + 3]!;
      p += 4;
    }
    if (ethertype !== EtherType.IPv4) return { queue: 0, reason: 'not-ipv4', hash: 0 };
    if (end - p < 20) return { queue: 0, reason: 'truncated', hash: 0 };
    const versionIhl = frame[p]!;
    const ihl = (versionIhl & 0x0f) * 4;
    if (versionIhl >> 4 !== 4 || ihl < 20 || end - p < ihl) return { queue: 0, reason: 'truncated', hash: 0 };
    const protocol = frame[p + 9]!;
    const src = readU32(frame, p + 12);
    const dst = readU32(frame, p + 16);
    const flagsFrag = (frame[p + 6]! << 8) | frame[p + 7]!;
    if (this.replicaMode) return this.steerReplica(frame, p, ihl, end, protocol, src, dst, flagsFrag);
    // RFC 791: MF flag 0x2000, fragment offset low 13 bits. Any fragment → 2-tuple,
    // so all pieces of one datagram meet in one queue for reassembly.
    const fragmented = (flagsFrag & 0x3fff) !== 0;
    if ((protocol === IpProtocol.TCP || protocol === IpProtocol.UDP) && !fragmented && end - p >= ihl + 4) {
      const srcPort = (frame[p + ihl]! << 8) | frame[p + ihl + 1]!;
      const dstPort = (frame[p + ihl + 2]! << 8) | frame[p + ihl + 3]!;
      if (this.rules.size !== 0) {
        const rule = this.rules.get(ruleKey({ protocol, src, dst, srcPort, dstPort }));
        if (rule !== undefined) return { queue: rule, reason: 'rule', hash: 0 };
      }
      const hash = this.hasher.hashV4(src, dst, srcPort, dstPort);
      return { queue: this.queueOfHash(hash), reason: 'hash-4tuple', hash };
    }
    const hash = this.hasher.hashV4Addrs(src, dst);
    return { queue: this.queueOfHash(hash), reason: 'hash-2tuple', hash };
  }

  /**
   * Replica mode, for an IPv4 packet at p. Each queue is a whole stack replica, so a packet
   * must reach the replica that has its connection or socket:
   * - TCP: the 4-tuple hash (and rules), as NICs do;
   * - UDP: its destination port (replicaOfUdpPort): the replica that bound it;
   * - ICMP errors (RFC 792: types 3, 4, 5, 11, 12): the replica of the flow they quote, so
   *   "fragmentation needed" reaches the connection's TCP; echo requests by the 2-tuple (any
   *   replica answers); everything else ICMP (echo replies for stack.ping) to queue 0;
   * - fragments: the first by its ports as above, remembered by (source, destination,
   *   protocol, id); later ones with it, so one replica reassembles the datagram (to queue 0
   *   when the first has not been seen: senders, Linux too, send the first first).
   */
  private steerReplica(frame: Uint8Array, p: number, ihl: number, end: number, protocol: number, src: number, dst: number, flagsFrag: number): SteerDecision {
    const fragmented = (flagsFrag & 0x3fff) !== 0;
    const fragKey = fragmented ? `${src}/${dst}/${protocol}/${(frame[p + 4]! << 8) | frame[p + 5]!}` : '';
    if (fragmented && (flagsFrag & 0x1fff) !== 0) {
      return { queue: this.fragments.get(fragKey) ?? 0, reason: 'fragment', hash: 0 };
    }
    let d: SteerDecision;
    const l4 = p + ihl;
    if ((protocol === IpProtocol.TCP || protocol === IpProtocol.UDP) && end - l4 >= 4) {
      const srcPort = (frame[l4]! << 8) | frame[l4 + 1]!;
      const dstPort = (frame[l4 + 2]! << 8) | frame[l4 + 3]!;
      d = protocol === IpProtocol.UDP ? { queue: replicaOfUdpPort(dstPort, this.queues), reason: 'udp-port', hash: 0 }
        : this.steerTcp(src, dst, srcPort, dstPort);
    } else if (protocol === IpProtocol.ICMP && end - l4 >= 8) {
      d = this.steerIcmp(frame, l4, end, src, dst);
    } else {
      const hash = this.hasher.hashV4Addrs(src, dst);
      d = { queue: this.queueOfHash(hash), reason: 'hash-2tuple', hash };
    }
    if (fragmented) {
      if (this.fragments.size >= FRAGMENTS_REMEMBERED) this.fragments.delete(this.fragments.keys().next().value!);
      this.fragments.set(fragKey, d.queue);
    }
    return d;
  }

  private steerTcp(src: number, dst: number, srcPort: number, dstPort: number): SteerDecision {
    if (this.rules.size !== 0) {
      const rule = this.rules.get(ruleKey({ protocol: IpProtocol.TCP, src, dst, srcPort, dstPort }));
      if (rule !== undefined) return { queue: rule, reason: 'rule', hash: 0 };
    }
    const hash = this.hasher.hashV4(src, dst, srcPort, dstPort);
    const e = hash & (RSS_TABLE_SIZE - 1);
    // Counted before the entry is read, and not read while the monitor moves it (rss-table.ts
    // createEntryFrames): either the move fails for this frame or this read sees the new entry.
    const frames = this.entryFrames;
    if (frames !== undefined) {
      const before = Atomics.add(frames, e, 1);
      if ((before & ENTRY_MOVING) !== 0) {
        // The monitor is between its three stores; bounded (MOVING_WAIT_MS), should its thread be
        // descheduled there for longer than that.
        const t0 = performance.now();
        while ((Atomics.load(frames, e) & ENTRY_MOVING) !== 0) {
          if ((++this.movingWaits & 1023) === 0 && performance.now() - t0 > MOVING_WAIT_MS) break;
        }
      }
      // Kept below ENTRY_MOVING: a count that changes is all the monitor looks for.
      if ((before & ENTRY_COUNT_MASK) >= ENTRY_COUNT_MASK - 1) Atomics.and(frames, e, ~(1 << (ENTRY_COUNT_BITS - 1)));
    }
    return { queue: Atomics.load(this.table, e), reason: 'hash-4tuple', hash };
  }

  private steerIcmp(frame: Uint8Array, l4: number, end: number, src: number, dst: number): SteerDecision {
    const type = frame[l4]!;
    if (type === 8) {
      const hash = this.hasher.hashV4Addrs(src, dst);
      return { queue: this.queueOfHash(hash), reason: 'hash-2tuple', hash };
    }
    const quoted = l4 + 8;
    const isError = type === 3 || type === 4 || type === 5 || type === 11 || type === 12;
    if (isError && end - quoted >= 20 && frame[quoted]! >> 4 === 4) {
      const qihl = (frame[quoted]! & 0x0f) * 4;
      const qproto = frame[quoted + 9]!;
      const q4 = quoted + qihl;
      if ((qproto === IpProtocol.TCP || qproto === IpProtocol.UDP) && qihl >= 20 && end - q4 >= 4) {
        // The quoted datagram is one we sent: its source is us. Our replica is the one its replies reach.
        const ourAddr = readU32(frame, quoted + 12);
        const peerAddr = readU32(frame, quoted + 16);
        const ourPort = (frame[q4]! << 8) | frame[q4 + 1]!;
        const peerPort = (frame[q4 + 2]! << 8) | frame[q4 + 3]!;
        if (qproto === IpProtocol.UDP) return { queue: replicaOfUdpPort(ourPort, this.queues), reason: 'icmp-quoted', hash: 0 };
        const d = this.steerTcp(peerAddr, ourAddr, peerPort, ourPort);
        return { ...d, reason: 'icmp-quoted' };
      }
    }
    return { queue: 0, reason: 'icmp-local', hash: 0 };
  }

  /**
   * A local port in [low, high] whose replies (remote → local) hash to `queue`,
   * trying ports from `startAt` upward with wrap-around, skipping those `inUse`
   * says are taken; undefined if none. With the default table about one port in
   * `queues` qualifies.
   */
  findPortForQueue(args: {
    readonly local: number;
    readonly remote: number;
    readonly remotePort: number;
    readonly queue: number;
    /** For flow-director rules (default TCP). */
    readonly protocol?: number;
    readonly low?: number;
    readonly high?: number;
    readonly startAt?: number;
    readonly inUse?: (port: number) => boolean;
  }): number | undefined {
    const low = args.low ?? 49152;
    const high = args.high ?? 65535;
    const span = high - low + 1;
    if (span <= 0) return undefined;
    const start = args.startAt === undefined ? low : low + (((args.startAt - low) % span) + span) % span;
    // Linearity: hash(remote, local, rport, lport) = base ^ contribution(lport).
    // Zero bytes contribute nothing, so the port's share is hashV4(0, 0, 0, port).
    const base = this.hasher.hashV4(args.remote, args.local, args.remotePort, 0);
    for (let i = 0; i < span; i++) {
      const port = low + ((start - low + i) % span);
      const hash = (base ^ this.hasher.hashV4(0, 0, 0, port)) >>> 0;
      if (this.queueOfHash(hash) !== args.queue) continue;
      if (this.rules.size !== 0) {
        const rule = this.rules.get(ruleKey({
          protocol: args.protocol ?? IpProtocol.TCP, src: args.remote, dst: args.local, srcPort: args.remotePort, dstPort: port,
        }));
        if (rule !== undefined && rule !== args.queue) continue;
      }
      if (args.inUse !== undefined && args.inUse(port)) continue;
      return port;
    }
    return undefined;
  }
}

function readU32(b: Uint8Array, p: number): number {
  return ((b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0;
}

function ruleKey(t: FlowTuple): string {
  return `${t.protocol}/${t.src >>> 0}/${t.dst >>> 0}/${t.srcPort}/${t.dstPort}`;
}

/** The input byte string of the IPv4 4-tuple (for tests and for explaining the hash). */
export function tupleBytesV4(src: number, dst: number, srcPort: number, dstPort: number): Uint8Array {
  const b = new Uint8Array(TUPLE_V4_LEN);
  const v = new DataView(b.buffer);
  v.setUint32(0, src >>> 0);
  v.setUint32(4, dst >>> 0);
  v.setUint16(8, srcPort);
  v.setUint16(10, dstPort);
  return b;
}
