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

/** The well-known default 40-byte RSS key (Microsoft's verification key, also Linux drivers' old default). */
export const DEFAULT_RSS_KEY: Uint8Array = Uint8Array.from([
  0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3,
  0x8f, 0xb0, 0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3,
  0x80, 0x30, 0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
]);

/** Indirection table size (a power of two, as in the 82599 and in Windows). */
export const RSS_TABLE_SIZE = 128;

/** IPv4 4-tuple: 4 + 4 + 2 + 2 bytes. */
const TUPLE_V4_LEN = 12;

const ETH_HEADER_LEN = 14;
const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_VLAN = 0x8100;
const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;

/** Toeplitz hash with a fixed key, table-driven. */
export class ToeplitzHash {
  /** tables[i * 256 + b]: contribution of byte value b at input position i. */
  private readonly tables: Uint32Array;
  readonly maxInputLen: number;

  constructor(key: Uint8Array = DEFAULT_RSS_KEY) {
    if (key.length < 8) throw invalidArg('key', 'must be at least 8 bytes');
    // Input bit k uses key bits [k, k+32): the key must be 4 bytes longer than the input.
    this.maxInputLen = key.length - 4;
    this.tables = new Uint32Array(this.maxInputLen * 256);
    for (let i = 0; i < this.maxInputLen; i++) {
      const windows: number[] = [];
      for (let bit = 0; bit < 8; bit++) windows.push(keyWindow(key, i * 8 + bit));
      for (let b = 0; b < 256; b++) {
        let h = 0;
        for (let bit = 0; bit < 8; bit++) if ((b & (0x80 >> bit)) !== 0) h ^= windows[bit]!;
        this.tables[i * 256 + b] = h >>> 0;
      }
    }
  }

  /** Hash of bytes[start, start+len) (Microsoft's ComputeHash). */
  hashBytes(bytes: Uint8Array, start = 0, len = bytes.length - start): number {
    if (len > this.maxInputLen) throw invalidArg('len', `exceeds ${this.maxInputLen} bytes for this key`);
    let h = 0;
    for (let i = 0; i < len; i++) h ^= this.tables[i * 256 + bytes[start + i]!]!;
    return h >>> 0;
  }

  /** Contribution of a big-endian 32-bit word at input byte position `pos`. */
  private word(pos: number, w: number): number {
    const t = this.tables;
    return t[pos * 256 + (w >>> 24)]! ^ t[(pos + 1) * 256 + ((w >>> 16) & 0xff)]!
      ^ t[(pos + 2) * 256 + ((w >>> 8) & 0xff)]! ^ t[(pos + 3) * 256 + (w & 0xff)]!;
  }

  private half(pos: number, v: number): number {
    return this.tables[pos * 256 + ((v >>> 8) & 0xff)]! ^ this.tables[(pos + 1) * 256 + (v & 0xff)]!;
  }

  /** IPv4 2-tuple hash (addresses as uint32, packet order: source then destination). */
  hashV4Addrs(src: number, dst: number): number {
    return (this.word(0, src) ^ this.word(4, dst)) >>> 0;
  }

  /** IPv4 4-tuple hash: source address, destination address, source port, destination port. */
  hashV4(src: number, dst: number, srcPort: number, dstPort: number): number {
    return (this.word(0, src) ^ this.word(4, dst) ^ this.half(8, srcPort) ^ this.half(10, dstPort)) >>> 0;
  }
}

/** The 32 key bits starting at bit `k` (bit 0 = most significant bit of key[0]). */
function keyWindow(key: Uint8Array, k: number): number {
  const byte = k >>> 3;
  const shift = k & 7;
  let w = 0;
  for (let i = 0; i < 5; i++) w = w * 256 + (key[byte + i] ?? 0);
  // w holds 40 bits; take the 32 starting `shift` bits from its top.
  return Math.floor(w / 2 ** (8 - shift)) % 2 ** 32 >>> 0;
}

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
}

/** What `steer` decided and why (for counters and tests). */
export type SteerReason = 'rule' | 'hash-4tuple' | 'hash-2tuple' | 'not-ipv4' | 'truncated';

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
export class RssSteering {
  readonly hasher: ToeplitzHash;
  readonly queues: number;
  /** Indirection table: hash & (size-1) → queue. Filled round-robin; may be rewritten. */
  readonly table = new Uint8Array(RSS_TABLE_SIZE);
  private readonly rules = new Map<string, number>();

  constructor(options: RssOptions) {
    if (!Number.isInteger(options.queues) || options.queues < 1 || options.queues > RSS_TABLE_SIZE) {
      throw invalidArg('queues', `must be an integer in 1..${RSS_TABLE_SIZE}`);
    }
    this.queues = options.queues;
    this.hasher = new ToeplitzHash(options.key ?? DEFAULT_RSS_KEY);
    this.spread(options.queues);
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
    if (ethertype === ETHERTYPE_VLAN) {
      if (end - p < 4) return { queue: 0, reason: 'truncated', hash: 0 };
      ethertype = (frame[p + 2]! << 8) | frame[p + 3]!;
      p += 4;
    }
    if (ethertype !== ETHERTYPE_IPV4) return { queue: 0, reason: 'not-ipv4', hash: 0 };
    if (end - p < 20) return { queue: 0, reason: 'truncated', hash: 0 };
    const versionIhl = frame[p]!;
    const ihl = (versionIhl & 0x0f) * 4;
    if (versionIhl >> 4 !== 4 || ihl < 20 || end - p < ihl) return { queue: 0, reason: 'truncated', hash: 0 };
    const protocol = frame[p + 9]!;
    const src = readU32(frame, p + 12);
    const dst = readU32(frame, p + 16);
    const flagsFrag = (frame[p + 6]! << 8) | frame[p + 7]!;
    // RFC 791: MF flag 0x2000, fragment offset low 13 bits. Any fragment → 2-tuple,
    // so all pieces of one datagram meet in one queue for reassembly.
    const fragmented = (flagsFrag & 0x3fff) !== 0;
    if ((protocol === IPPROTO_TCP || protocol === IPPROTO_UDP) && !fragmented && end - p >= ihl + 4) {
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
          protocol: args.protocol ?? IPPROTO_TCP, src: args.remote, dst: args.local, srcPort: args.remotePort, dstPort: port,
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
