/**
 * Packet pools: fixed-size buffers in a SharedArrayBuffer, owned by one
 * server, lent to others by rich pointer (pool id, pool generation, offset,
 * length) so packet bytes are never copied between layers.
 *
 * Layout (layout.ts POOL_*): a one-line header, one state word per buffer,
 * then the buffers (64-byte aligned). A rich pointer's offset is a byte
 * offset into the pool SAB; the buffer it lies in is
 * `(offset - dataStart) / bufSize`. Every buffer starts with POOL_HEADROOM
 * bytes of headroom, so a layer prepends its header in place by moving the
 * pointer's offset back (`prepend()`), never by copying the payload.
 *
 * Buffer state word (one per buffer), kind in the low 2 bits:
 *   FREE      - in the owner's free stack (owner-local memory).
 *   HELD(h)   - kept by server index h beyond the lifetime of a message
 *               (h = the owner right after alloc()).
 *   IN_FLIGHT - referenced by exactly one message sitting in a ring.
 *   RETURNED  - given back by the last holder; the owner sweeps it to FREE.
 *
 * Who writes: the owner writes FREE/HELD(owner) (alloc, free, sweep); after
 * that the word is written only by whoever logically holds the buffer, one at
 * a time, in the causal order of the messages that carry the pointer. A
 * borrower that keeps a buffer after freeing the message's ring slot calls
 * `hold()` first; one that forwards it later calls `transfer()` before
 * publishing; one that is done calls `giveBack()`. A borrower that only
 * forwards the pointer within the same loop iteration needs none of these:
 * the pointer moves from one unreleased ring slot to a published one.
 *
 * The owner's free list is owner-local (the owner alone writes it): returns
 * are seen by a lazy sweep of RETURNED words when the free stack runs dry, so
 * there is no multi-producer return queue. Exhaustion is back-pressure:
 * `alloc()` returns -1 and counts it; nothing throws.
 *
 * Restarts
 * - Borrower death: the supervisor, after the borrower's thread is gone and
 *   before its successor runs, calls `reclaimHeldBy()`: every buffer HELD by
 *   the dead server goes back to the owner, except those still referenced by
 *   unreleased messages in the dead server's input rings (the successor will
 *   read those messages again, and needs the bytes); those become IN_FLIGHT.
 * - Owner death: the successor's `PacketPool` bumps POOL_GEN and frees
 *   everything. Borrowers check `isCurrent()` and drop pointers of an old
 *   generation; their late `giveBack()` of old pointers is ignored.
 *   A borrower that must be sure the bytes it read were not reused under it
 *   re-checks `isCurrent()` after reading (the owner's successor may recycle
 *   a buffer as soon as it starts).
 *
 * Memory ordering: state words use Atomics.load/store (sequentially
 * consistent), so a borrower's reads of a buffer happen-before its RETURNED
 * store, which the owner observes before reusing the buffer.
 */
import {
  BUF_FREE, BUF_HELD, BUF_IN_FLIGHT, BUF_RETURNED, LINE_WORDS, NO_POOL, POOL_BUF_SIZE, POOL_COUNT,
  POOL_GEN, POOL_HEADROOM, POOL_ID, POOL_MAGIC, POOL_MAGIC_WORD, POOL_STATE0,
} from './layout.js';
import { invalidArg } from '../errors.js';
import type { MessageView, RichPointer } from './message.js';

/** Describes a pool's geometry, as the supervisor creates it. */
export interface PoolSpec {
  readonly id: number;
  readonly bufSize: number;
  readonly count: number;
}

function dataStartWords(count: number): number {
  const words = POOL_STATE0 + count;
  return Math.ceil(words / LINE_WORDS) * LINE_WORDS;
}

export function createPool(spec: PoolSpec): SharedArrayBuffer {
  const { id, bufSize, count } = spec;
  if (!Number.isInteger(id) || id < 0 || id >= NO_POOL) throw invalidArg('id', `must be in [0, ${NO_POOL - 1}]`);
  if (!Number.isInteger(bufSize) || bufSize <= POOL_HEADROOM || bufSize % 64 !== 0) {
    throw invalidArg('bufSize', `must be a multiple of 64 above the ${POOL_HEADROOM}-byte headroom, got ${bufSize}`);
  }
  if (!Number.isInteger(count) || count < 1 || count > 1 << 20) throw invalidArg('count', `must be in [1, 2^20], got ${count}`);
  const sab = new SharedArrayBuffer(dataStartWords(count) * 4 + bufSize * count);
  const w = new Int32Array(sab, 0, POOL_STATE0);
  w[POOL_BUF_SIZE] = bufSize;
  w[POOL_COUNT] = count;
  w[POOL_ID] = id;
  w[POOL_GEN] = 0;
  w[POOL_MAGIC_WORD] = POOL_MAGIC;
  return sab;
}

/** Read-side geometry shared by owner and borrowers. */
export class PoolGeometry {
  readonly words: Int32Array;
  readonly bytes: Uint8Array;
  readonly id: number;
  readonly bufSize: number;
  readonly count: number;
  /** Byte offset of buffer 0. */
  readonly dataStart: number;

  constructor(sab: SharedArrayBuffer) {
    const head = new Int32Array(sab, 0, POOL_STATE0);
    if (head[POOL_MAGIC_WORD] !== POOL_MAGIC) throw invalidArg('sab', 'is not a packet pool (bad magic)');
    this.bufSize = head[POOL_BUF_SIZE]!;
    this.count = head[POOL_COUNT]!;
    this.id = head[POOL_ID]!;
    this.dataStart = dataStartWords(this.count) * 4;
    this.words = new Int32Array(sab, 0, POOL_STATE0 + this.count);
    this.bytes = new Uint8Array(sab);
  }

  /** Current owner generation as carried in pointers (16 bits). */
  get generation(): number {
    return Atomics.load(this.words, POOL_GEN) & 0xffff;
  }

  /** Buffer index the byte offset falls in, or -1 if outside the pool. */
  indexOf(offset: number): number {
    const rel = offset - this.dataStart;
    if (rel < 0) return -1;
    const i = Math.floor(rel / this.bufSize);
    return i < this.count ? i : -1;
  }

  /** Byte offset of buffer `i`'s first byte (its headroom). */
  bufferStart(i: number): number {
    return this.dataStart + i * this.bufSize;
  }

  state(i: number): number {
    return Atomics.load(this.words, POOL_STATE0 + i);
  }
}

/** Owner side: allocates, frees, sweeps returns. One live owner per pool. */
export class PacketPool extends PoolGeometry {
  private readonly freeStack: Int32Array;
  private freeTop = 0;
  private readonly ownerState: number;
  /** alloc() calls that found the pool empty (back-pressure events). */
  exhausted = 0;

  /**
   * Attaches the owner. `generation` is the owner's server generation: a new
   * generation (a restarted owner) takes every buffer back and bumps the
   * pool generation so borrowers drop old pointers.
   */
  constructor(sab: SharedArrayBuffer, ownerIndex: number, generation: number) {
    super(sab);
    this.ownerState = ((ownerIndex + 1) << 2) | BUF_HELD;
    this.freeStack = new Int32Array(this.count);
    Atomics.store(this.words, POOL_GEN, generation & 0xffff);
    for (let i = this.count - 1; i >= 0; i--) {
      Atomics.store(this.words, POOL_STATE0 + i, BUF_FREE);
      this.freeStack[this.freeTop++] = i;
    }
  }

  /** Buffers the owner can hand out right now without a sweep. */
  get available(): number {
    return this.freeTop;
  }

  /** A free buffer's index, or -1 when exhausted (back-pressure, not an error). */
  alloc(): number {
    if (this.freeTop === 0 && this.sweep() === 0) {
      this.exhausted++;
      return -1;
    }
    const i = this.freeStack[--this.freeTop]!;
    Atomics.store(this.words, POOL_STATE0 + i, this.ownerState);
    return i;
  }

  /** Owner frees a buffer it still holds (never lent, or lent and returned). */
  free(i: number): void {
    Atomics.store(this.words, POOL_STATE0 + i, BUF_FREE);
    this.freeStack[this.freeTop++] = i;
  }

  /** Moves every RETURNED buffer to the free stack; returns how many. */
  sweep(): number {
    let n = 0;
    const w = this.words;
    for (let i = 0; i < this.count; i++) {
      if (Atomics.load(w, POOL_STATE0 + i) === BUF_RETURNED) {
        Atomics.store(w, POOL_STATE0 + i, BUF_FREE);
        this.freeStack[this.freeTop++] = i;
        n++;
      }
    }
    return n;
  }

  /** Byte offset where the payload of buffer `i` starts (after the headroom). */
  payloadOffset(i: number): number {
    return this.dataStart + i * this.bufSize + POOL_HEADROOM;
  }

  /** Largest payload a buffer takes after the headroom. */
  get payloadCapacity(): number {
    return this.bufSize - POOL_HEADROOM;
  }

  /** Writes a rich pointer to buffer `i`'s bytes [offset, offset+length) into a message. */
  lend(msg: MessageView, i: number, length: number, offset = this.payloadOffset(i)): void {
    Atomics.store(this.words, POOL_STATE0 + i, BUF_IN_FLIGHT);
    msg.setPointer(this.id, this.generation, offset, length);
  }
}

/**
 * Borrower side: resolves rich pointers of pools the server was granted,
 * checks their generation, and holds / transfers / gives buffers back.
 */
export class PoolDirectory {
  private readonly pools: (PoolGeometry | undefined)[] = [];
  private readonly holderState: number;
  /** Pointers dropped because their pool generation is gone (owner restarted). */
  staleDrops = 0;
  /** Pointers naming a pool this server was not granted or outside it. */
  badPointers = 0;

  constructor(holderIndex: number) {
    this.holderState = ((holderIndex + 1) << 2) | BUF_HELD;
  }

  /** Makes a pool's buffers resolvable. */
  add(sab: SharedArrayBuffer): void {
    const g = new PoolGeometry(sab);
    this.pools[g.id] = g;
  }

  /**
   * The bytes of the pool the message points into (use msg.offset/length),
   * or null when the pointer is stale or invalid (counted; drop the message).
   */
  resolve(msg: MessageView): Uint8Array | null {
    const p = this.pools[msg.pool];
    if (p === undefined) { this.badPointers++; return null; }
    if (msg.poolGen !== p.generation) { this.staleDrops++; return null; }
    const i = p.indexOf(msg.offset);
    if (i < 0 || msg.offset + msg.length > p.bufferStart(i) + p.bufSize) { this.badPointers++; return null; }
    return p.bytes;
  }

  /** The pointer's bytes as a view of exactly [offset, offset + length), or null (see resolve). */
  view(msg: MessageView): Uint8Array | null {
    const bytes = this.resolve(msg);
    return bytes === null ? null : bytes.subarray(msg.offset, msg.offset + msg.length);
  }

  /** The geometry of a granted pool, by id. */
  geometry(poolId: number): PoolGeometry | undefined {
    return this.pools[poolId];
  }

  /**
   * The rich pointer naming `view`, when it lies inside one buffer of a granted
   * pool (bytes a core produced in place, e.g. after prepending headers); null
   * for private memory. Lets a server forward what a sans-IO core returned.
   */
  pointerOf(view: Uint8Array): RichPointer | null {
    for (const p of this.pools) {
      if (p === undefined || p.bytes.buffer !== view.buffer) continue;
      const i = p.indexOf(view.byteOffset);
      if (i < 0 || view.byteOffset + view.length > p.bufferStart(i) + p.bufSize) return null;
      return { pool: p.id, poolGen: p.generation, offset: view.byteOffset, length: view.length };
    }
    return null;
  }

  /** True when the pointer's pool generation is still the owner's current one. */
  isCurrent(msg: MessageView): boolean {
    const p = this.pools[msg.pool];
    return p !== undefined && msg.poolGen === p.generation;
  }

  /** Bytes of headroom in front of the pointer's data (room to prepend in place). */
  headroom(msg: MessageView): number {
    const p = this.pools[msg.pool];
    if (p === undefined) return 0;
    const i = p.indexOf(msg.offset);
    return i < 0 ? 0 : msg.offset - p.bufferStart(i);
  }

  /** Extends the data `n` bytes to the front (a header goes there). false if no room. */
  prepend(msg: MessageView, n: number): boolean {
    if (this.headroom(msg) < n) return false;
    msg.setPointer(msg.pool, msg.poolGen, msg.offset - n, msg.length + n);
    return true;
  }

  /** Keep the buffer after freeing the message's slot (call before release). */
  hold(msg: MessageView): boolean {
    return this.setState(msg, this.holderState);
  }

  /** A held buffer is about to travel in a message (call before publish). */
  transfer(msg: MessageView): boolean {
    return this.setState(msg, BUF_IN_FLIGHT);
  }

  /** Done with the buffer: hand it back to its owner. Old-generation pointers are ignored. */
  giveBack(msg: MessageView): boolean {
    return this.setState(msg, BUF_RETURNED);
  }

  private setState(msg: MessageView, state: number): boolean {
    const p = this.pools[msg.pool];
    if (p === undefined || msg.poolGen !== p.generation) return false;
    const i = p.indexOf(msg.offset);
    if (i < 0) return false;
    Atomics.store(p.words, POOL_STATE0 + i, state);
    return true;
  }
}

/**
 * Supervisor, after server `holderIndex` died and before its successor runs:
 * every buffer HELD by it becomes RETURNED, except buffers in `stillQueued`
 * (indices referenced by unreleased messages in its input rings), which
 * become IN_FLIGHT for the successor to process. Returns how many returned.
 */
export function reclaimHeldBy(sab: SharedArrayBuffer, holderIndex: number, stillQueued: ReadonlySet<number>): number {
  const g = new PoolGeometry(sab);
  const held = ((holderIndex + 1) << 2) | BUF_HELD;
  let n = 0;
  const words = g.words;
  for (let i = 0; i < g.count; i++) {
    // A plain read to find candidates: only the dead holder ever set this state, and no one
    // else changes a buffer it holds (a successor's takeover runs this on a hot path).
    if (words[POOL_STATE0 + i] !== held) continue;
    if (stillQueued.has(i)) {
      Atomics.store(g.words, POOL_STATE0 + i, BUF_IN_FLIGHT);
    } else {
      Atomics.store(g.words, POOL_STATE0 + i, BUF_RETURNED);
      n++;
    }
  }
  return n;
}

/** Counts of buffer states, for statistics and tests. */
export function poolCensus(sab: SharedArrayBuffer): { free: number; held: number; inFlight: number; returned: number } {
  const g = new PoolGeometry(sab);
  const c = { free: 0, held: 0, inFlight: 0, returned: 0 };
  for (let i = 0; i < g.count; i++) {
    const k = g.state(i) & 3;
    if (k === BUF_FREE) c.free++;
    else if (k === BUF_RETURNED) c.returned++;
    else if (k === BUF_IN_FLIGHT) c.inFlight++;
    else c.held++;
  }
  return c;
}
