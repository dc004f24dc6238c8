/**
 * Single-producer single-consumer ring of fixed-size message slots in a
 * SharedArrayBuffer: the thesis's user-space channel between two servers.
 *
 * Layout (layout.ts): a 3-cache-line header, then `capacity` slots of
 * `slotWords` 32-bit words. `capacity` is a power of two.
 *
 * Invariants
 * - HEAD and TAIL are free-running u32 counters; a slot's index is
 *   `counter & (capacity - 1)`. `(tail - head) | 0` is the occupancy and is
 *   always within [0, capacity] (capacity < 2^31).
 * - Only the producer (RingWriter) writes TAIL, RING_WRITER_WAITING and the
 *   slots in [tail, head + capacity). Only the consumer (RingReader) writes
 *   HEAD and only reads the slots in [head, tail).
 * - The producer fills any number of slots with plain stores and then makes
 *   them visible with ONE `Atomics.store` of TAIL (a batch). The consumer
 *   reads slots with plain loads and frees any number of them with ONE
 *   `Atomics.store` of HEAD.
 *
 * Memory ordering relied on
 * - JS Atomics are sequentially consistent. A consumer that reads TAIL with
 *   `Atomics.load` and sees the producer's value synchronizes with the
 *   producer's `Atomics.store`, so every plain slot store the producer made
 *   before publishing happens-before the consumer's plain slot loads
 *   (ECMA-262 memory model: synchronizes-with on the same location).
 * - Symmetrically, the producer reuses a slot only after seeing the
 *   consumer's HEAD store (`Atomics.load`), so the consumer's reads of that
 *   slot happened before the producer overwrites it.
 * - Each side caches the other side's counter and re-reads it (one
 *   Atomics.load) only when the cache says "empty" / "full", so the common
 *   case touches no shared line but the slots.
 *
 * Restart: both counters live in the SAB, so a successor that attaches a new
 * RingWriter/RingReader to the same SAB continues exactly where its
 * predecessor's last *published* store left off. Slots filled but not
 * published are overwritten; slots read but not freed are read again. That
 * is the basis of the restart protocol (restart-protocol.ts).
 */
import {
  RING_CAPACITY, RING_HEAD, RING_HEADER_WORDS, RING_MAGIC, RING_MAGIC_WORD, RING_SLOT_WORDS,
  RING_TAIL, RING_WRITER_WAITING,
} from './layout.js';
import { invalidArg } from '../errors.js';

/** Bytes a ring of `capacity` slots of `slotWords` words needs. */
export function ringBytes(capacity: number, slotWords: number): number {
  return (RING_HEADER_WORDS + capacity * slotWords) * 4;
}

/** Allocates and formats a ring. `capacity` must be a power of two in [2, 2^24]. */
export function createRing(capacity: number, slotWords: number): SharedArrayBuffer {
  if (!Number.isInteger(capacity) || capacity < 2 || capacity > (1 << 24) || (capacity & (capacity - 1)) !== 0) {
    throw invalidArg('capacity', `must be a power of two in [2, 2^24], got ${capacity}`);
  }
  if (!Number.isInteger(slotWords) || slotWords < 1 || slotWords > 1024) {
    throw invalidArg('slotWords', `must be an integer in [1, 1024], got ${slotWords}`);
  }
  const sab = new SharedArrayBuffer(ringBytes(capacity, slotWords));
  const w = new Int32Array(sab);
  w[RING_CAPACITY] = capacity;
  w[RING_SLOT_WORDS] = slotWords;
  w[RING_MAGIC_WORD] = RING_MAGIC;
  return sab;
}

function attach(sab: SharedArrayBuffer): { w: Int32Array; capacity: number; slotWords: number } {
  const w = new Int32Array(sab);
  if (w[RING_MAGIC_WORD] !== RING_MAGIC) throw invalidArg('sab', 'is not a ring (bad magic)');
  return { w, capacity: w[RING_CAPACITY]!, slotWords: w[RING_SLOT_WORDS]! };
}

/** Producer side. Exactly one RingWriter may be live per ring. */
export class RingWriter {
  /** The whole ring as words; slot `s` starts at the index `reserve()` returned. */
  readonly words: Int32Array;
  readonly capacity: number;
  readonly slotWords: number;
  private readonly mask: number;
  private tail = 0;       // local, ahead of the published TAIL by `pending`
  private headCache = 0;  // last HEAD seen
  private published = 0;  // last TAIL stored

  constructor(sab: SharedArrayBuffer) {
    const a = attach(sab);
    this.words = a.w;
    this.capacity = a.capacity;
    this.slotWords = a.slotWords;
    this.mask = a.capacity - 1;
    this.resync();
  }

  /** Takes up the ring where the shared words stand now (at construction, and a standby built ahead taking over from a dead writer). */
  resync(): void {
    this.tail = Atomics.load(this.words, RING_TAIL);
    this.published = this.tail;
    this.headCache = Atomics.load(this.words, RING_HEAD);
  }

  /**
   * Word index of the next free slot, or -1 when the ring is full. The slot
   * is not visible to the consumer until `commit()` then `publish()`.
   * Calling reserve() twice without commit() returns the same slot.
   */
  reserve(): number {
    if (((this.tail - this.headCache) | 0) >= this.capacity) {
      this.headCache = Atomics.load(this.words, RING_HEAD);
      if (((this.tail - this.headCache) | 0) >= this.capacity) return -1;
    }
    return RING_HEADER_WORDS + (this.tail & this.mask) * this.slotWords;
  }

  /** Marks the reserved slot as filled (still unpublished). */
  commit(): void {
    this.tail = (this.tail + 1) | 0;
  }

  /** Slots committed but not yet published. */
  get pending(): number {
    return (this.tail - this.published) | 0;
  }

  /**
   * Makes every committed slot visible with one store of TAIL. Returns how
   * many slots became visible (0: nothing stored).
   */
  publish(): number {
    const n = (this.tail - this.published) | 0;
    if (n === 0) return 0;
    Atomics.store(this.words, RING_TAIL, this.tail);
    this.published = this.tail;
    return n;
  }

  /**
   * Calls `fn` with the word index of every slot committed and not yet freed by the
   * consumer (published or not), oldest first: what the consumer (or its successor,
   * which starts at HEAD) will still read.
   */
  forEachUnconsumed(fn: (at: number) => void): void {
    for (let i = Atomics.load(this.words, RING_HEAD); i !== this.tail; i = (i + 1) | 0) fn(RING_HEADER_WORDS + (i & this.mask) * this.slotWords);
  }

  /** Copies `src` (up to slotWords words) into a slot and commits it. false when full. */
  tryWrite(src: ArrayLike<number>): boolean {
    const at = this.reserve();
    if (at < 0) return false;
    const n = Math.min(src.length, this.slotWords);
    for (let i = 0; i < n; i++) this.words[at + i] = src[i]!;
    this.commit();
    return true;
  }

  /** Free slots as far as this writer knows (re-reads HEAD). */
  free(): number {
    this.headCache = Atomics.load(this.words, RING_HEAD);
    return this.capacity - ((this.tail - this.headCache) | 0);
  }

  /** Announces that the writer is blocked on a full ring (the consumer rings back on release). */
  setWaiting(waiting: boolean): void {
    Atomics.store(this.words, RING_WRITER_WAITING, waiting ? 1 : 0);
  }
}

/** Consumer side. Exactly one RingReader may be live per ring. */
export class RingReader {
  readonly words: Int32Array;
  readonly capacity: number;
  readonly slotWords: number;
  private readonly mask: number;
  private head = 0;       // local, ahead of the stored HEAD by `unreleased`
  private tailCache = 0;
  private released = 0;

  constructor(sab: SharedArrayBuffer) {
    const a = attach(sab);
    this.words = a.w;
    this.capacity = a.capacity;
    this.slotWords = a.slotWords;
    this.mask = a.capacity - 1;
    this.resync();
  }

  /** Takes up the ring where the shared words stand now (at construction, and a standby built ahead taking over from a dead reader). */
  resync(): void {
    this.head = Atomics.load(this.words, RING_HEAD);
    this.released = this.head;
    this.tailCache = Atomics.load(this.words, RING_TAIL);
  }

  /** Word index of the next unread slot, or -1 when the ring is empty. */
  peek(): number {
    if (this.head === this.tailCache) {
      this.tailCache = Atomics.load(this.words, RING_TAIL);
      if (this.head === this.tailCache) return -1;
    }
    return RING_HEADER_WORDS + (this.head & this.mask) * this.slotWords;
  }

  /** Moves past the slot peek() returned (it stays reserved until release()). */
  advance(): void {
    this.head = (this.head + 1) | 0;
  }

  /** Slots read but not yet freed. */
  get unreleased(): number {
    return (this.head - this.released) | 0;
  }

  /** Calls `fn` with the word index of every published slot not yet read, oldest first. */
  forEachUnread(fn: (at: number) => void): void {
    const tail = Atomics.load(this.words, RING_TAIL);
    for (let i = this.head; i !== tail; i = (i + 1) | 0) fn(RING_HEADER_WORDS + (i & this.mask) * this.slotWords);
  }

  /** Frees every slot read so far with one store of HEAD. Returns how many. */
  release(): number {
    const n = (this.head - this.released) | 0;
    if (n === 0) return 0;
    Atomics.store(this.words, RING_HEAD, this.head);
    this.released = this.head;
    return n;
  }

  /** Copies the next message into `dst`, advances and returns true; false when empty. */
  tryRead(dst: Int32Array | number[]): boolean {
    const at = this.peek();
    if (at < 0) return false;
    const n = Math.min(dst.length, this.slotWords);
    for (let i = 0; i < n; i++) dst[i] = this.words[at + i]!;
    this.advance();
    return true;
  }

  /** Messages published and not yet read by this reader (re-reads TAIL). */
  available(): number {
    this.tailCache = Atomics.load(this.words, RING_TAIL);
    return (this.tailCache - this.head) | 0;
  }

  /** True when the producer said it waits for space. */
  writerWaiting(): boolean {
    return Atomics.load(this.words, RING_WRITER_WAITING) !== 0;
  }
}

/** Occupancy of a ring as seen from outside (statistics, hang detection). */
export function ringOccupancy(words: Int32Array): number {
  return (Atomics.load(words, RING_TAIL) - Atomics.load(words, RING_HEAD)) | 0;
}

/** Total messages ever published / freed (u32 wrap), for statistics. */
export function ringCounters(words: Int32Array): { published: number; freed: number } {
  return { published: Atomics.load(words, RING_TAIL) >>> 0, freed: Atomics.load(words, RING_HEAD) >>> 0 };
}
