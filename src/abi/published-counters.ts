/**
 * A server's named counters (drop reasons and friends), published to shared
 * memory so the application, tests and `newtos stats` read them without
 * sending the server a message (docs/ARCHITECTURE.md "Statistics"; every
 * drop path has its own counter).
 *
 * The server owns its counters as plain objects (IpCounters, TcpCounters,
 * NicCounters snapshots: nested records of numbers) and publishes a copy at
 * most every `everyMs`. Its poll only notes that something may have changed
 * (`maybePublish`); the copy is made when its thread next finds nothing to do
 * (`publishIdle`, from the core's onIdle), so a packet's path through the
 * thread never carries it: on a quiet host, where every packet meets cold
 * caches, the copy took a quarter of the time from a TAP frame in to its reply
 * out. A thread that never runs out of work still publishes from its poll once
 * a change has waited a whole interval. A change the rate limit held back is
 * due at `pollAt()` (the server adds it to its own pollAt), so the last values
 * always arrive even when the server then goes idle. The copy is JSON text in
 * a SharedArrayBuffer behind a sequence lock, so the writer never waits and a
 * reader never sees a half-written copy:
 *
 *   words[0] SEQ   odd while the writer copies; even when stable (writer only)
 *   words[1] LEN   bytes of JSON text at byte 8
 *
 * Reader: s1 = SEQ (retry if odd); copy LEN bytes; retry unless SEQ == s1.
 * Values are per incarnation: a restarted server starts again from zero.
 */

const SEQ = 0;
const LEN = 1;
const HEADER_BYTES = 8;
const DEFAULT_BYTES = 32 * 1024;

export type CounterTree = { readonly [name: string]: number | string | CounterTree | readonly CounterTree[] };

export function createCounterBlock(bytes = DEFAULT_BYTES): SharedArrayBuffer {
  return new SharedArrayBuffer(HEADER_BYTES + bytes);
}

export class CounterPublisher {
  private readonly words: Int32Array;
  private readonly bytes: Uint8Array;
  private readonly encoder = new TextEncoder();
  private next = 0;
  /** A change not yet published (noted by maybePublish). */
  private dirty = false;
  /** When the oldest unpublished change was noted. */
  private dirtySince = 0;
  /** Copies that did not fit the block (never expected; counted rather than thrown). */
  oversize = 0;

  constructor(sab: SharedArrayBuffer, private readonly everyMs = 20) {
    this.words = new Int32Array(sab, 0, 2);
    this.bytes = new Uint8Array(sab, HEADER_BYTES);
  }

  /**
   * From the server's poll: something may have changed. Published here only with `force`, or
   * when the change has waited a whole interval (a thread that never went idle meanwhile);
   * otherwise by publishIdle.
   */
  maybePublish(now: number, read: () => CounterTree, force = false): void {
    if (!this.dirty) { this.dirty = true; this.dirtySince = now; }
    if (force || (now >= this.next && now - this.dirtySince >= this.everyMs)) this.publish(now, read);
  }

  /** From the server's onIdle (its thread has nothing to do): publish a noted change if the rate limit allows. */
  publishIdle(now: number, read: () => CounterTree): void {
    if (this.dirty && now >= this.next) this.publish(now, read);
  }

  private publish(now: number, read: () => CounterTree): void {
    this.dirty = false;
    this.next = now + this.everyMs;
    const text = this.encoder.encode(JSON.stringify(read()));
    if (text.length > this.bytes.length) { this.oversize++; return; }
    Atomics.add(this.words, SEQ, 1);
    this.bytes.set(text);
    Atomics.store(this.words, LEN, text.length);
    Atomics.add(this.words, SEQ, 1);
  }

  /** When the server should poll again to publish a skipped change (Infinity: nothing skipped). */
  pollAt(): number {
    return this.dirty ? this.next : Infinity;
  }
}

/** The last copy read from each block: what a reader gets while the writer holds the block. */
const lastRead = new WeakMap<SharedArrayBuffer, CounterTree>();

/**
 * The last published copy, or {} if nothing was published yet. A writer preempted in the middle
 * of a publication (a busy machine with more threads than cores) holds the block for as long as
 * it waits for a core: the reader does not wait for it, it gets the copy it read last (a
 * publication older), never an empty tree.
 */
export function readCounterBlock(sab: SharedArrayBuffer): CounterTree {
  const words = new Int32Array(sab, 0, 2);
  const bytes = new Uint8Array(sab, HEADER_BYTES);
  for (let attempt = 0; attempt < 1000; attempt++) {
    const s1 = Atomics.load(words, SEQ);
    if ((s1 & 1) !== 0) continue;
    const len = Atomics.load(words, LEN);
    if (len === 0) return {};
    const copy = bytes.slice(0, Math.min(len, bytes.length));
    if (Atomics.load(words, SEQ) !== s1) continue;
    const tree = JSON.parse(new TextDecoder().decode(copy)) as CounterTree;
    lastRead.set(sab, tree);
    return tree;
  }
  return lastRead.get(sab) ?? {};
}
