/**
 * Single-producer single-consumer byte ring over caller-provided memory.
 *
 * This is the socket buffer: TCP's send buffer (the application produces,
 * TCP consumes when data is acknowledged) and receive buffer (TCP produces,
 * including out-of-order data written in place, the application consumes).
 * The memory may be a plain ArrayBuffer (both sides in one thread) or a
 * SharedArrayBuffer (producer and consumer in different threads). Read first:
 * the ECMAScript memory model (ECMA-262 §29: Atomics operations are
 * sequentially consistent and synchronize-with each other), and gVisor's
 * `pkg/tcpip/link/sharedmem/pipe` for the same idea with fixed slots.
 *
 * Layout at `byteOffset` (which must be a multiple of 4), see `BYTE_RING_LAYOUT`:
 *
 *   +0    head   u32  stored ONLY by the consumer (bytes consumed, free-running)
 *   +64   tail   u32  stored ONLY by the producer (bytes published, free-running)
 *   +128  data   `capacity` bytes
 *
 * head and tail sit on different 64-byte cache lines so the two sides do not
 * false-share. A zero-filled region is a valid empty ring, so a fresh
 * SharedArrayBuffer needs no initialisation.
 *
 * Memory-ordering invariants (what makes this lock-free and correct):
 *  1. Only the producer stores `tail`; only the consumer stores `head`. Each
 *     side reads the other's word with Atomics.load.
 *  2. The producer writes data bytes with plain stores and THEN publishes them
 *     with Atomics.store(tail). A consumer that Atomics.load's a tail value
 *     sees every byte written before that store (store/load on the same
 *     location synchronize-with; plain accesses before/after are ordered by
 *     happens-before).
 *  3. The consumer reads data bytes and THEN releases them with
 *     Atomics.store(head). The producer only overwrites a byte after it has
 *     loaded a head value past it, so a byte is never overwritten while read.
 *  4. Bytes beyond `tail` belong to the producer: `writeAt` may fill them in any
 *     order without publishing (TCP places out-of-order segments there);
 *     `advanceTail` publishes them. Bytes in [head, tail) belong to the
 *     consumer: `copyOut` / `views` may read them at any offset without
 *     consuming (TCP re-reads unacknowledged data to retransmit it).
 *
 * Counters: head and tail count bytes modulo M, where M is the largest multiple
 * of `capacity` not above 2**32 — exactly 2**32 (truly free-running u32) when
 * the capacity is a power of two. Any capacity from 1 to 2**31-1 works; the
 * physical index of a counter c is c mod capacity, which stays consistent
 * across the wrap because M is a multiple of capacity.
 *
 * Hot path: available, freeSpace, advanceTail and consume allocate nothing;
 * write, writeAt, copyOut and read allocate no byte buffers — copies of up to
 * 64 bytes are a loop, larger ones go through TypedArray.set and may create one
 * short-lived subarray view per contiguous piece (amortised over >= 64 bytes).
 * `views` returns one or two subarray views (that is its purpose).
 * Misuse (negative offsets, publishing or consuming more than exists) throws:
 * those are broken invariants of the caller, never untrusted input.
 */

/** Byte offsets inside the ring's region, relative to `byteOffset`. */
export const BYTE_RING_LAYOUT = {
  /** Offset of the head word (consumer-owned). */
  headOffset: 0,
  /** Offset of the tail word (producer-owned). */
  tailOffset: 64,
  /** Offset of the first data byte. */
  dataOffset: 128,
} as const;

const HEAD = BYTE_RING_LAYOUT.headOffset >> 2;
const TAIL = BYTE_RING_LAYOUT.tailOffset >> 2;
const TWO_32 = 0x1_0000_0000;

export class ByteRing {
  /** Usable bytes. */
  readonly capacity: number;
  /** The control words (head at index `HEAD`, tail at index `TAIL`). */
  private readonly ctrl: Int32Array;
  /** The data area. */
  private readonly data: Uint8Array;
  /** Counter modulus: largest multiple of capacity <= 2**32. */
  private readonly modulus: number;

  /** Bytes of memory a ring of `capacity` usable bytes occupies. */
  static bytesNeeded(capacity: number): number {
    checkCapacity(capacity);
    return BYTE_RING_LAYOUT.dataOffset + capacity;
  }

  /**
   * Attach to the ring at `byteOffset` in `buffer`. Does not write: several
   * threads attach to the same memory, one as producer and one as consumer.
   * Zero-filled memory is an empty ring; `reset` re-initialises when no other
   * side is attached.
   */
  constructor(buffer: ArrayBuffer | SharedArrayBuffer, byteOffset: number, capacity: number) {
    checkCapacity(capacity);
    if (!Number.isInteger(byteOffset) || byteOffset < 0 || byteOffset % 4 !== 0) {
      throw new RangeError(`ByteRing: byteOffset ${byteOffset} must be a non-negative multiple of 4`);
    }
    if (byteOffset + ByteRing.bytesNeeded(capacity) > buffer.byteLength) {
      throw new RangeError(`ByteRing: ${ByteRing.bytesNeeded(capacity)} bytes at ${byteOffset} exceed the buffer`);
    }
    this.capacity = capacity;
    this.ctrl = new Int32Array(buffer, byteOffset, BYTE_RING_LAYOUT.dataOffset >> 2);
    this.data = new Uint8Array(buffer, byteOffset + BYTE_RING_LAYOUT.dataOffset, capacity);
    this.modulus = capacity * Math.floor(TWO_32 / capacity);
  }

  /**
   * Where the producer's published-bytes counter (the tail) lives: a reader in another thread
   * may Atomics.load it (an observer, never a side of the ring) to see when bytes are published.
   */
  tailWord(): { readonly buffer: ArrayBuffer | SharedArrayBuffer; readonly index: number } {
    return { buffer: this.ctrl.buffer, index: (this.ctrl.byteOffset >> 2) + TAIL };
  }

  /** Empty the ring. Only when neither side is concurrently using it. */
  reset(): void {
    Atomics.store(this.ctrl, HEAD, 0);
    Atomics.store(this.ctrl, TAIL, 0);
  }

  // ---- shared helpers -------------------------------------------------

  private load(word: number): number {
    return Atomics.load(this.ctrl, word) >>> 0;
  }

  private fill(head: number, tail: number): number {
    const d = tail - head;
    return d < 0 ? d + this.modulus : d;
  }

  /**
   * Address of the byte `offsetFromHead` bytes into the published data, modulo 8
   * (its offset in the underlying buffer). A copy between two shared buffers is
   * many times faster when source and destination agree modulo 8 (V8 then moves
   * whole words), so producers place packet payloads to match (see ALIGNMENT.md
   * in the closing notes: every buffer puts TCP stream byte k at an address ≡ k).
   */
  alignmentAt(offsetFromHead: number): number {
    return (this.data.byteOffset + this.index(this.load(HEAD), offsetFromHead)) & 7;
  }

  /** Physical index of the byte `off` bytes after counter value `c` (off <= capacity). */
  private index(c: number, off: number): number {
    const i = (c % this.capacity) + off;
    return i >= this.capacity ? i - this.capacity : i;
  }

  private bump(c: number, n: number): number {
    const v = c + n;
    return v >= this.modulus ? v - this.modulus : v;
  }

  /** Copy src[srcStart, srcStart+n) into the data area starting at physical index i. */
  private copyIn(i: number, src: Uint8Array, srcStart: number, n: number): void {
    const first = Math.min(n, this.capacity - i);
    copyBytes(this.data, i, src, srcStart, first);
    if (n > first) copyBytes(this.data, 0, src, srcStart + first, n - first);
  }

  // ---- counters (restart recovery) -----------------------------------

  /**
   * The free-running head counter (bytes ever consumed, modulo the counter modulus).
   * A TCP server's checkpoint records it, and its successor learns how many bytes
   * were consumed since with `countDistance` (src/tcp/checkpoint.ts).
   */
  headCount(): number {
    return this.load(HEAD);
  }

  /** The free-running tail counter (bytes ever published, modulo the counter modulus). */
  tailCount(): number {
    return this.load(TAIL);
  }

  /** Bytes from counter value `from` to the later value `to` (the counters wrap at the modulus). */
  countDistance(from: number, to: number): number {
    return this.fill(from >>> 0, to >>> 0);
  }

  // ---- producer -------------------------------------------------------

  /** Bytes the producer may still write (capacity minus published, unconsumed bytes). */
  freeSpace(): number {
    return this.capacity - this.fill(this.load(HEAD), this.load(TAIL));
  }

  /** Append as much of `src` as fits and publish it. Returns the bytes accepted. */
  write(src: Uint8Array): number {
    const tail = this.load(TAIL);
    const n = Math.min(src.length, this.capacity - this.fill(this.load(HEAD), tail));
    if (n === 0) return 0;
    this.copyIn(this.index(tail, 0), src, 0, n);
    Atomics.store(this.ctrl, TAIL, this.bump(tail, n) | 0);
    return n;
  }

  /**
   * Write `src` at `offsetFromTail` bytes past the tail WITHOUT publishing
   * (out-of-order data placed in its final position). Writes only within the
   * free space; returns the bytes written, which may be fewer than src.length
   * (0 when the offset is at or beyond the free space).
   */
  writeAt(offsetFromTail: number, src: Uint8Array): number {
    if (offsetFromTail < 0) throw new RangeError(`ByteRing.writeAt: negative offset ${offsetFromTail}`);
    const tail = this.load(TAIL);
    const free = this.capacity - this.fill(this.load(HEAD), tail);
    if (offsetFromTail >= free) return 0;
    const n = Math.min(src.length, free - offsetFromTail);
    if (n === 0) return 0;
    this.copyIn(this.index(tail, offsetFromTail), src, 0, n);
    return n;
  }

  /** Publish `n` bytes already placed after the tail (by writeAt). */
  advanceTail(n: number): void {
    const tail = this.load(TAIL);
    const free = this.capacity - this.fill(this.load(HEAD), tail);
    if (!(n >= 0 && n <= free && Number.isInteger(n))) {
      throw new RangeError(`ByteRing.advanceTail: ${n} is not in [0, ${free}]`);
    }
    if (n > 0) Atomics.store(this.ctrl, TAIL, this.bump(tail, n) | 0);
  }

  // ---- consumer -------------------------------------------------------

  /** Published bytes not yet consumed. */
  available(): number {
    return this.fill(this.load(HEAD), this.load(TAIL));
  }

  /**
   * Copy up to `len` bytes starting `offsetFromHead` bytes past the head into
   * `dst` at `dstOffset`, without consuming. Returns the bytes copied: at most
   * `available() - offsetFromHead`, and at most the room in dst.
   */
  copyOut(offsetFromHead: number, dst: Uint8Array, dstOffset = 0, len = dst.length - dstOffset): number {
    if (offsetFromHead < 0 || dstOffset < 0) {
      throw new RangeError(`ByteRing.copyOut: negative offset`);
    }
    const head = this.load(HEAD);
    const avail = this.fill(head, this.load(TAIL));
    const n = Math.min(len, dst.length - dstOffset, avail - offsetFromHead);
    if (n <= 0) return 0;
    this.copyOutRaw(this.index(head, offsetFromHead), dst, dstOffset, n);
    return n;
  }

  private copyOutRaw(i: number, dst: Uint8Array, dstOffset: number, n: number): void {
    const first = Math.min(n, this.capacity - i);
    copyBytes(dst, dstOffset, this.data, i, first);
    if (n > first) copyBytes(dst, dstOffset + first, this.data, 0, n - first);
  }

  /**
   * Zero-copy views of up to `len` published bytes starting `offsetFromHead`
   * past the head: one view, or two when the range wraps (empty array when
   * nothing is there). The views alias the ring: they are valid until the
   * consumer consumes those bytes.
   */
  views(offsetFromHead: number, len: number): Uint8Array[] {
    if (offsetFromHead < 0) throw new RangeError(`ByteRing.views: negative offset ${offsetFromHead}`);
    const head = this.load(HEAD);
    const n = Math.min(len, this.fill(head, this.load(TAIL)) - offsetFromHead);
    if (n <= 0) return [];
    const i = this.index(head, offsetFromHead);
    const first = Math.min(n, this.capacity - i);
    const a = this.data.subarray(i, i + first);
    return n > first ? [a, this.data.subarray(0, n - first)] : [a];
  }

  /** Copy up to dst.length published bytes into dst and consume them. Returns the count. */
  read(dst: Uint8Array): number {
    const head = this.load(HEAD);
    const n = Math.min(dst.length, this.fill(head, this.load(TAIL)));
    if (n === 0) return 0;
    this.copyOutRaw(this.index(head, 0), dst, 0, n);
    Atomics.store(this.ctrl, HEAD, this.bump(head, n) | 0);
    return n;
  }

  /** Consume (discard) `n` published bytes, freeing their space for the producer. */
  consume(n: number): void {
    const head = this.load(HEAD);
    const avail = this.fill(head, this.load(TAIL));
    if (!(n >= 0 && n <= avail && Number.isInteger(n))) {
      throw new RangeError(`ByteRing.consume: ${n} is not in [0, ${avail}]`);
    }
    if (n > 0) Atomics.store(this.ctrl, HEAD, this.bump(head, n) | 0);
  }
}

function checkCapacity(capacity: number): void {
  if (!Number.isInteger(capacity) || capacity < 1 || capacity > 0x7fffffff) {
    throw new RangeError(`ByteRing: capacity ${capacity} must be an integer in [1, 2**31-1]`);
  }
}

/** Below this many bytes a plain loop beats creating a subarray view for TypedArray.set. */
const SMALL_COPY = 64;

/**
 * dst[dstOff, dstOff+n) = src[srcOff, srcOff+n). Small copies loop (no
 * allocation); large ones use TypedArray.set, which needs a subarray view unless
 * the whole of src is copied — one short-lived view object per >= 64 bytes moved.
 */
function copyBytes(dst: Uint8Array, dstOff: number, src: Uint8Array, srcOff: number, n: number): void {
  if (n <= SMALL_COPY) {
    for (let k = 0; k < n; k++) dst[dstOff + k] = src[srcOff + k]!;
  } else if (srcOff === 0 && n === src.length) {
    dst.set(src, dstOff);
  } else {
    dst.set(src.subarray(srcOff, srcOff + n), dstOff);
  }
}
