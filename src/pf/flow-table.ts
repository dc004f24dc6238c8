/**
 * The packet filter's flow table ("keep state" entries) in memory that can outlive the
 * thread that writes it (ServerContext.shared): a chained hash table of fixed-size entries
 * in an Int32Array, so a successor after a crash finds every flow its predecessor knew.
 *
 * Crash safety, with one writer that may stop between any two stores:
 * - an entry becomes visible by one store (the bucket head or a predecessor's next link)
 *   after all its fields are written, and disappears by one store (the unlink);
 * - every change raises a pending word first and lowers it last. A successor that finds it
 *   raised (its predecessor died mid-change) rebuilds the count and the free list from the
 *   chains (repair): at worst one entry taken from the free list but never linked is
 *   found again, and no flow that was linked is lost.
 *
 * Buckets and links hold entry index + 1 (0: none). The hash is seeded per table, the
 * seed written before the first entry, so a peer cannot aim its flows at one chain.
 */
import { randomInt } from 'node:crypto';

const H_PENDING = 0;
const H_COUNT = 1;
/** Entries ever taken from the never-used tail (below it: linked or in the free list). */
const H_HIGH = 2;
const H_FREE = 3;
const H_SEED = 4;
const H_CAPACITY = 5;
const HEADER_WORDS = 8;

const E_NEXT = 0;
const E_PROTO = 1;
const E_A = 2;
const E_B = 3;
const E_PORTS = 4;
/** The flow's phase (FlowPhase), which its timeout and whether it may be evicted follow. */
const E_PHASE = 5;
/** A float64 over words 6-7 (entries start on an even word). */
const E_EXPIRES = 6;
const ENTRY_WORDS = 8;

function bucketCount(capacity: number): number {
  let n = 2;
  while (n < capacity) n *= 2;
  return n;
}

/** Bytes a table of `capacity` entries takes (a multiple of 8). */
export function flowTableBytes(capacity: number): number {
  return (HEADER_WORDS + bucketCount(capacity) + capacity * ENTRY_WORDS) * 4;
}

/**
 * Where a flow stands. New: only its first direction seen. Replied: the other side answered
 * (a TCP SYN-ACK). Established: a TCP flow whose initiator acknowledged the answer (the
 * handshake completed), any other flow once answered. Closing: a TCP FIN or RST seen.
 * (Closing is 1 as the flag this word was before.)
 */
export const FlowPhase = { New: 0, Closing: 1, Replied: 2, Established: 3 } as const;
export type FlowPhase = typeof FlowPhase[keyof typeof FlowPhase];

export class FlowTable {
  private evictCursor = 0;
  private readonly w: Int32Array;
  private readonly f: Float64Array;
  private readonly mask: number;
  /** Word index of entry 0. */
  private readonly base: number;
  /** Repairs made (a predecessor died mid-change). */
  repairs = 0;

  /** `buffer` from `byteOffset` (a multiple of 8) holds flowTableBytes(capacity) bytes. */
  constructor(buffer: ArrayBufferLike, byteOffset: number, readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`flow table capacity must be a positive integer, not ${capacity}`);
    if (byteOffset % 8 !== 0) throw new RangeError('flow table must start on an 8-byte boundary');
    const nb = bucketCount(capacity);
    if (buffer.byteLength - byteOffset < flowTableBytes(capacity)) {
      throw new RangeError(`a flow table of ${capacity} entries needs ${flowTableBytes(capacity)} bytes, ${buffer.byteLength - byteOffset} are left`);
    }
    this.w = new Int32Array(buffer, byteOffset, flowTableBytes(capacity) / 4);
    this.f = new Float64Array(buffer, byteOffset, flowTableBytes(capacity) / 8);
    this.mask = nb - 1;
    this.base = HEADER_WORDS + nb;
  }

  /**
   * Makes the table usable: a fresh (zeroed) one gets its seed, one left by a writer that died
   * mid-change is repaired. Call before anything else, once the caller owns the memory.
   */
  open(): void {
    const w = this.w;
    if (w[H_CAPACITY] === 0) {
      w[H_SEED] = randomInt(1, 0x7fffffff);
      w[H_CAPACITY] = this.capacity;
    } else if (w[H_CAPACITY] !== this.capacity) {
      throw new RangeError(`flow table memory was laid out for ${w[H_CAPACITY]} entries, not ${this.capacity}`);
    }
    if (w[H_PENDING] !== 0) this.repair();
  }

  get size(): number { return this.w[H_COUNT]!; }

  private hash(proto: number, a: number, ports: number, b: number): number {
    let h = Math.imul(a ^ this.w[H_SEED]!, 0x9e3779b1) ^ Math.imul(b + proto, 0x85ebca6b) ^ Math.imul(ports, 0xc2b2ae35);
    h ^= h >>> 15;
    h = Math.imul(h, 0x2c1b3c6d);
    h ^= h >>> 12;
    return h & this.mask;
  }

  /** The entry of flow (proto, a:ap → b:bp), or -1. */
  find(proto: number, a: number, ap: number, b: number, bp: number): number {
    const w = this.w;
    const ports = ((ap & 0xffff) << 16) | (bp & 0xffff);
    let link = w[HEADER_WORDS + this.hash(proto, a, ports, b)]!;
    while (link !== 0) {
      const e = link - 1;
      const at = this.base + e * ENTRY_WORDS;
      if (w[at + E_A] === (a | 0) && w[at + E_B] === (b | 0) && w[at + E_PORTS] === ports && w[at + E_PROTO] === proto) return e;
      link = w[at + E_NEXT]!;
    }
    return -1;
  }

  /** Adds flow (proto, a:ap → b:bp); its entry, or -1 when the table is full. The caller checked it is absent. */
  insert(proto: number, a: number, ap: number, b: number, bp: number, expiresAt: number): number {
    const w = this.w;
    let e: number;
    w[H_PENDING] = 1;
    if (w[H_FREE] !== 0) {
      e = w[H_FREE]! - 1;
      w[H_FREE] = w[this.base + e * ENTRY_WORDS + E_NEXT]!;
    } else if (w[H_HIGH]! < this.capacity) {
      e = w[H_HIGH]!;
      w[H_HIGH] = e + 1;
    } else {
      w[H_PENDING] = 0;
      return -1;
    }
    const at = this.base + e * ENTRY_WORDS;
    const ports = ((ap & 0xffff) << 16) | (bp & 0xffff);
    const bucket = HEADER_WORDS + this.hash(proto, a, ports, b);
    w[at + E_PROTO] = proto; w[at + E_A] = a | 0; w[at + E_B] = b | 0; w[at + E_PORTS] = ports; w[at + E_PHASE] = FlowPhase.New;
    this.f[(at + E_EXPIRES) / 2] = expiresAt;
    w[at + E_NEXT] = w[bucket]!;
    w[bucket] = e + 1; // visible from here on
    w[H_COUNT] = w[H_COUNT]! + 1;
    w[H_PENDING] = 0;
    return e;
  }

  /** Removes entry `e` (of flow proto, a:ap → b:bp); false if it is not linked. */
  remove(e: number): boolean {
    const w = this.w;
    const at = this.base + e * ENTRY_WORDS;
    const bucket = HEADER_WORDS + this.hash(w[at + E_PROTO]!, w[at + E_A]!, w[at + E_PORTS]!, w[at + E_B]!);
    let prev = bucket;
    for (let link = w[bucket]!, steps = 0; link !== 0 && steps <= this.capacity; link = w[prev]!, steps++) {
      if (link - 1 === e) {
        w[H_PENDING] = 1;
        w[prev] = w[at + E_NEXT]!; // gone from here on
        w[at + E_NEXT] = w[H_FREE]!;
        w[H_FREE] = e + 1;
        w[H_COUNT] = w[H_COUNT]! - 1;
        w[H_PENDING] = 0;
        return true;
      }
      prev = this.base + (link - 1) * ENTRY_WORDS + E_NEXT;
    }
    return false;
  }

  protocol(e: number): number { return this.w[this.base + e * ENTRY_WORDS + E_PROTO]!; }
  phase(e: number): FlowPhase { return this.w[this.base + e * ENTRY_WORDS + E_PHASE]! as FlowPhase; }
  setPhase(e: number, p: FlowPhase): void { this.w[this.base + e * ENTRY_WORDS + E_PHASE] = p; }
  expiresAt(e: number): number { return this.f[(this.base + e * ENTRY_WORDS + E_EXPIRES) / 2]!; }
  setExpiresAt(e: number, t: number): void { this.f[(this.base + e * ENTRY_WORDS + E_EXPIRES) / 2] = t; }

  /**
   * Frees one linked entry whose phase `evictable` accepts, looking at up to `max` entries
   * from where the last call stopped (so successive calls go round the table, oldest slots
   * first after a flood filled it in order); the entry freed, or -1.
   */
  evictOne(evictable: (phase: FlowPhase) => boolean, max: number): number {
    const high = this.w[H_HIGH]!;
    if (high === 0) return -1;
    for (let k = 0; k < max && k < high; k++) {
      const e = this.evictCursor % high;
      this.evictCursor = e + 1;
      // remove() is false for an entry in the free list (not linked): look further.
      if (evictable(this.phase(e)) && this.remove(e)) return e;
    }
    return -1;
  }

  /** Removes every entry that expired by `now`; how many. */
  sweep(now: number): number {
    const w = this.w;
    let removed = 0;
    for (let bkt = 0; bkt <= this.mask; bkt++) {
      let link = w[HEADER_WORDS + bkt]!;
      while (link !== 0) {
        const e = link - 1;
        link = w[this.base + e * ENTRY_WORDS + E_NEXT]!;
        if (this.expiresAt(e) <= now && this.remove(e)) removed++;
      }
    }
    return removed;
  }

  /**
   * The writer died mid-change: every entry reachable from a bucket stays (a chain is cut at
   * an index out of range or at a loop); count and free list are made again from the rest.
   */
  private repair(): void {
    const w = this.w;
    const high = Math.min(Math.max(w[H_HIGH]!, 0), this.capacity);
    w[H_HIGH] = high;
    const linked = new Uint8Array(high);
    let count = 0;
    for (let bkt = 0; bkt <= this.mask; bkt++) {
      let prev = HEADER_WORDS + bkt;
      for (let link = w[prev]!; link !== 0; link = w[prev]!) {
        const e = link - 1;
        if (e < 0 || e >= high || linked[e] !== 0) { w[prev] = 0; break; }
        linked[e] = 1;
        count++;
        prev = this.base + e * ENTRY_WORDS + E_NEXT;
      }
    }
    let free = 0;
    for (let e = high - 1; e >= 0; e--) {
      if (linked[e] !== 0) continue;
      w[this.base + e * ENTRY_WORDS + E_NEXT] = free;
      free = e + 1;
    }
    w[H_FREE] = free;
    w[H_COUNT] = count;
    w[H_PENDING] = 0;
    this.repairs++;
  }
}
