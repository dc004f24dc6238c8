/**
 * Out-of-order reassembly bookkeeping: which byte ranges beyond RCV.NXT have
 * arrived. The bytes themselves are written in place into the receive buffer
 * (ByteRing.writeAt); this only tracks the intervals, like smoltcp's Assembler.
 *
 * Read first: RFC 9293 §3.10.7.4 (segments beyond RCV.NXT are held "for later
 * processing"), RFC 2018 §4 (which SACK blocks a receiver reports and in what
 * order), RFC 7323 §2.3 (window at most 2**30, so offsets fit easily).
 *
 * Offsets are relative to RCV.NXT: offset 0 is the next byte the receiver
 * expects. The caller:
 *   1. trims a segment to the receive window and computes its offset,
 *   2. writes its bytes at that offset and calls `add(offset, len)`,
 *   3. calls `popFront()` (or `frontLength()` + `shift(n)`), advances RCV.NXT and
 *      publishes that many bytes to the application.
 *
 * Memory bound: at most `maxRanges` disjoint ranges are held (issue 4: "a memory
 * bound on the out-of-order queue"). A segment that would create a new range
 * beyond that is rejected — `add` returns false and nothing changes — rather
 * than growing; the caller drops it and counts the drop, and the sender will
 * retransmit. A range starting at offset 0 is always accepted: it fills from
 * RCV.NXT, creates no hole, and is popped right away.
 */

export interface AssemblerOptions {
  /** Largest number of disjoint out-of-order ranges kept. Default 32. */
  readonly maxRanges?: number;
}

/** A SACK block in sequence space: [start, end) (RFC 2018 §3 "Left Edge", "Right Edge"). */
export interface SackBlock {
  readonly start: number;
  readonly end: number;
}

export class Assembler {
  readonly maxRanges: number;
  // Ranges sorted by start, disjoint and non-adjacent: [starts[i], ends[i]).
  private readonly starts: number[];
  private readonly ends: number[];
  /** When each range was last extended or touched by an add (larger = more recent). */
  private readonly stamps: number[];
  private count = 0;
  private clock = 0;

  constructor(options: AssemblerOptions = {}) {
    const max = options.maxRanges ?? 32;
    if (!Number.isInteger(max) || max < 1 || max > 4096) {
      throw new RangeError(`Assembler: maxRanges ${max} must be an integer in [1, 4096]`);
    }
    this.maxRanges = max;
    // Grown as ranges come (every write is at an index <= count), to at most max + 1 (one
    // spare slot for a range at offset 0 that arrives when the bound is reached): most
    // connections never hold a range, and a connection in TIME-WAIT lives a minute more
    // (preallocated, the three arrays were ~6 KB of a control block's ~8.7 KB).
    this.starts = [];
    this.ends = [];
    this.stamps = [];
  }

  /** Number of disjoint ranges held. */
  get rangeCount(): number {
    return this.count;
  }

  isEmpty(): boolean {
    return this.count === 0;
  }

  /** Forget everything (connection reset, or RCV.NXT jumped). */
  clear(): void {
    this.count = 0;
  }

  /**
   * Record that bytes [offset, offset+len) have arrived. Returns false (and
   * changes nothing) when holding them would exceed `maxRanges`; true otherwise,
   * including for data already held (a duplicate) and for len 0.
   */
  add(offset: number, len: number): boolean {
    if (!(offset >= 0 && len >= 0)) throw new RangeError(`Assembler.add: negative offset or length`);
    if (len === 0) return true;
    const end = offset + len;
    // i: first range whose end reaches the new start (touching counts: they merge).
    let i = 0;
    while (i < this.count && this.ends[i]! < offset) i++;
    // j: one past the last range whose start is within the new end.
    let j = i;
    while (j < this.count && this.starts[j]! <= end) j++;
    const stamp = ++this.clock;
    if (i === j) {
      // Disjoint from everything: a new range at index i.
      if (this.count >= this.maxRanges && offset !== 0) return false;
      for (let k = this.count; k > i; k--) this.move(k - 1, k);
      this.starts[i] = offset;
      this.ends[i] = end;
      this.stamps[i] = stamp;
      this.count++;
      return true;
    }
    // Overlaps or touches ranges i..j-1: merge them all into range i.
    this.starts[i] = Math.min(this.starts[i]!, offset);
    this.ends[i] = Math.max(this.ends[j - 1]!, end);
    this.stamps[i] = stamp;
    const removed = j - i - 1;
    if (removed > 0) {
      for (let k = j; k < this.count; k++) this.move(k, k - removed);
      this.count -= removed;
    }
    return true;
  }

  /** Start offset of range k (0 <= k < rangeCount, in offset order): checkpoints read the ranges. */
  rangeStart(k: number): number {
    return this.starts[k]!;
  }

  /** End offset (exclusive) of range k. */
  rangeEnd(k: number): number {
    return this.ends[k]!;
  }

  /** Bytes contiguous from offset 0 (how far RCV.NXT may advance); 0 if there is a hole at 0. */
  frontLength(): number {
    return this.count > 0 && this.starts[0] === 0 ? this.ends[0]! : 0;
  }

  /**
   * RCV.NXT advanced by n: make offsets relative to the new RCV.NXT. Bytes
   * below the new offset 0 are forgotten (ranges are trimmed or dropped).
   */
  shift(n: number): void {
    if (!(n >= 0)) throw new RangeError(`Assembler.shift: negative ${n}`);
    if (n === 0) return;
    let w = 0;
    for (let r = 0; r < this.count; r++) {
      const e = this.ends[r]! - n;
      if (e <= 0) continue;
      this.starts[w] = Math.max(0, this.starts[r]! - n);
      this.ends[w] = e;
      this.stamps[w] = this.stamps[r]!;
      w++;
    }
    this.count = w;
  }

  /** frontLength() followed by shift() by that much; returns how far RCV.NXT advances. */
  popFront(): number {
    const n = this.frontLength();
    if (n > 0) this.shift(n);
    return n;
  }

  /**
   * Up to `max` SACK blocks in sequence space for the current RCV.NXT, most
   * recently added/extended range first. RFC 2018 §4: "The first SACK block
   * ... MUST specify the contiguous block of data containing the segment which
   * triggered this ACK, unless that segment advanced the Acknowledgment Number"
   * and the rest SHOULD repeat the most recently reported blocks — ordering by
   * recency of update gives both. A range at offset 0 (not yet popped) is not
   * reported: it would be below the ACK after popping.
   */
  sackBlocks(rcvNxt: number, max: number): SackBlock[] {
    const idx: number[] = [];
    for (let k = 0; k < this.count; k++) if (this.starts[k]! > 0) idx.push(k);
    idx.sort((a, b) => this.stamps[b]! - this.stamps[a]!);
    const out: SackBlock[] = [];
    // With more ranges than blocks and at least 3 blocks, the last block cycles through
    // the older ranges: a range whose ACKs were lost is reported again, else the sender
    // never learns of it and resends it after its RTO (5 % ACK loss made ~20 % of the
    // retransmissions at 5 % data loss spurious).
    const rotate = max >= 3 && idx.length > max;
    const fixed = rotate ? max - 1 : max;
    for (let k = 0; k < idx.length && out.length < fixed; k++) {
      const r = idx[k]!;
      out.push({ start: (rcvNxt + this.starts[r]!) >>> 0, end: (rcvNxt + this.ends[r]!) >>> 0 });
    }
    if (rotate) {
      const r = idx[fixed + (this.sackCursor++ % (idx.length - fixed))]!;
      out.push({ start: (rcvNxt + this.starts[r]!) >>> 0, end: (rcvNxt + this.ends[r]!) >>> 0 });
    }
    return out;
  }

  /** Which older range the rotating SACK block reports next. */
  private sackCursor = 0;

  /** End of the overlap firstOverlap found. */
  overlapEnd = 0;

  /**
   * The start of the first held part of [s, e) (its end in `overlapEnd`), or -1
   * when none of it is held: the duplicate part of a segment (RFC 2883 D-SACK).
   */
  firstOverlap(s: number, e: number): number {
    let best = -1;
    for (let k = 0; k < this.count; k++) {
      const a = Math.max(s, this.starts[k]!);
      const b = Math.min(e, this.ends[k]!);
      if (b > a && (best < 0 || a < best)) {
        best = a;
        this.overlapEnd = b;
      }
    }
    return best;
  }

  /** The held ranges as [offset, end) pairs in offset order (for tests and diagnostics). */
  ranges(): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    for (let k = 0; k < this.count; k++) out.push([this.starts[k]!, this.ends[k]!]);
    return out;
  }

  private move(from: number, to: number): void {
    this.starts[to] = this.starts[from]!;
    this.ends[to] = this.ends[from]!;
    this.stamps[to] = this.stamps[from]!;
  }
}
