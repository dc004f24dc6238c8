/**
 * The sender's SACK scoreboard: which octets of [SND.UNA, SND.NXT) the receiver
 * has SACKed, which we have retransmitted, which are lost, how much is in the
 * pipe, and what to send next during loss recovery.
 *
 * Read first: RFC 6675 §2-4 (definitions, IsLost, SetPipe, NextSeg), RFC 2018
 * §3-4 (SACK blocks), RFC 2883 (D-SACK: a first block below the ACK or inside
 * the second block reports a duplicate).
 *
 * Representation: disjoint sorted ranges as offsets from `base` (= SND.UNA as
 * last seen), so sequence wrap-around only matters at the edges, where
 * seqnum.ts handles it. Memory is bounded by `maxRanges` for SACKed ranges and
 * for retransmission marks. When a new SACKed range would exceed the bound,
 * the highest range is forgotten (and when marks would, the two closest are
 * merged, which only over-counts pipe): SACK information is advisory (RFC 2018 §8:
 * the sender must keep SACKed data until cumulatively ACKed anyway), so losing
 * some only makes us more conservative, never wrong.
 *
 * Retransmission marks: RFC 6675 keeps one high-water mark, HighRxt, and
 * SetPipe (b) counts every octet <= HighRxt as retransmitted. We keep the
 * retransmitted ranges themselves (`markRetransmitted`), which is the same when
 * retransmissions go in order (as NextSeg makes them) and more precise when
 * they do not; rule (1.a) "S2 is greater than HighRxt" becomes "S2 has not
 * been retransmitted". After an RTO the engine decides whether to forget marks
 * (`clearRetransmitted`) or everything (`clear`).
 *
 * Not done: NextSeg rule (4), the rescue retransmission (RFC 6675 §4, a
 * SHOULD-level last resort); the engine may add it with `highestSacked`.
 */
import { seqDiff, seqGt } from './seqnum.js';

export interface SackScoreboardOptions {
  /** Sender MSS (SMSS) used by IsLost's byte rule and NextSeg segment sizes. */
  readonly mss: number;
  /** RFC 6675 §2: DupThresh, default 3. */
  readonly dupThresh?: number;
  /** Bound on stored SACKed ranges and on stored retransmission marks; default 64. */
  readonly maxRanges?: number;
}

/** A SACK block as received: [start, end) in sequence space. */
export interface SackBlockInput {
  readonly start: number;
  readonly end: number;
}

/** What NextSeg chose: which rule, and the sequence range [seq, seq+len). */
export interface NextSegment {
  readonly rule: 1 | 2 | 3;
  readonly seq: number;
  readonly len: number;
}

/** Named drop counters: blocks we refused to record and why. */
export interface SackScoreboardCounters {
  /** Empty/reversed blocks, or blocks reaching beyond SND.NXT. */
  invalidBlocks: number;
  /** Blocks entirely below SND.UNA (D-SACK, RFC 2883, or stale). */
  belowUnaBlocks: number;
  /** SACKed ranges forgotten because of the memory bound. */
  droppedRanges: number;
}

/** Sorted disjoint [start, end) offset ranges with a fixed maximum count. */
class RangeSet {
  readonly starts: number[] = [];
  readonly ends: number[] = [];

  get count(): number {
    return this.starts.length;
  }

  /** Insert [s, e), merging. Returns the number of octets newly covered. */
  add(s: number, e: number): number {
    let i = 0;
    while (i < this.count && this.ends[i]! < s) i++;
    let j = i;
    let covered = 0;
    while (j < this.count && this.starts[j]! <= e) {
      covered += Math.max(0, Math.min(e, this.ends[j]!) - Math.max(s, this.starts[j]!));
      j++;
    }
    if (i === j) {
      this.starts.splice(i, 0, s);
      this.ends.splice(i, 0, e);
      return e - s;
    }
    const ns = Math.min(s, this.starts[i]!);
    const ne = Math.max(e, this.ends[j - 1]!);
    this.starts.splice(i, j - i, ns);
    this.ends.splice(i, j - i, ne);
    return e - s - covered;
  }

  /** Remove [s, e) from the set. */
  remove(s: number, e: number): void {
    for (let r = 0; r < this.count; r++) {
      const a = this.starts[r]!;
      const b = this.ends[r]!;
      if (b <= s || a >= e) continue;
      if (a < s && b > e) { // split
        this.starts.splice(r + 1, 0, e);
        this.ends.splice(r + 1, 0, b);
        this.ends[r] = s;
        return;
      }
      if (a < s) { this.ends[r] = s; continue; }
      if (b > e) { this.starts[r] = e; continue; }
      this.starts.splice(r, 1);
      this.ends.splice(r, 1);
      r--;
    }
  }

  /** Drop everything below offset n and subtract n from the rest. */
  shift(n: number): void {
    let w = 0;
    for (let r = 0; r < this.count; r++) {
      const e = this.ends[r]! - n;
      if (e <= 0) continue;
      this.starts[w] = Math.max(0, this.starts[r]! - n);
      this.ends[w] = e;
      w++;
    }
    this.starts.length = w;
    this.ends.length = w;
  }

  /** Drop the highest range; returns false if empty. */
  popHighest(): boolean {
    if (this.count === 0) return false;
    this.starts.pop();
    this.ends.pop();
    return true;
  }

  /** Merge the two neighbouring ranges with the smallest gap between them (over-approximates). */
  mergeClosest(): void {
    let best = 1;
    for (let r = 2; r < this.count; r++) {
      if (this.starts[r]! - this.ends[r - 1]! < this.starts[best]! - this.ends[best - 1]!) best = r;
    }
    this.ends[best - 1] = this.ends[best]!;
    this.starts.splice(best, 1);
    this.ends.splice(best, 1);
  }

  clear(): void {
    this.starts.length = 0;
    this.ends.length = 0;
  }

  /** Index of the range containing offset x, or -1. */
  find(x: number): number {
    for (let r = 0; r < this.count; r++) {
      if (x < this.starts[r]!) return -1;
      if (x < this.ends[r]!) return r;
    }
    return -1;
  }

  /** Octets of [s, e) covered by the set. */
  overlap(s: number, e: number): number {
    let n = 0;
    for (let r = 0; r < this.count; r++) {
      const a = Math.max(s, this.starts[r]!);
      const b = Math.min(e, this.ends[r]!);
      if (b > a) n += b - a;
    }
    return n;
  }

  /** First offset >= x not covered by the set. */
  firstUncovered(x: number): number {
    for (let r = 0; r < this.count; r++) {
      if (this.ends[r]! <= x) continue;
      if (this.starts[r]! > x) return x;
      x = this.ends[r]!;
    }
    return x;
  }

  /** First start of a range strictly after x, or Infinity. */
  nextStartAfter(x: number): number {
    for (let r = 0; r < this.count; r++) if (this.starts[r]! > x) return this.starts[r]!;
    return Infinity;
  }
}

export class SackScoreboard {
  /** RFC 6675 DupThresh; the engine raises it with the reordering it sees (setDupThresh). */
  dupThresh: number;
  /**
   * Reordering shown by the last `update`: how far (octets) below the highest
   * SACKed octet a never-retransmitted range was newly SACKed (it arrived
   * late, not lost: Linux tcp_check_sack_reordering); 0 if none.
   */
  reorderedBytes = 0;
  readonly maxRanges: number;
  readonly counters: SackScoreboardCounters = { invalidBlocks: 0, belowUnaBlocks: 0, droppedRanges: 0 };
  private mss: number;
  private base = 0;
  private baseSet = false;
  private readonly sacked = new RangeSet();
  private readonly rexmit = new RangeSet();
  /** Ranges a time-based detector (RACK, RFC 8985) marked lost, besides IsLost's gaps. */
  private readonly lost = new RangeSet();
  private sackedTotal = 0;
  private highRxtOffset = 0;

  constructor(options: SackScoreboardOptions) {
    this.mss = checkMss(options.mss);
    this.dupThresh = options.dupThresh ?? 3;
    this.maxRanges = options.maxRanges ?? 64;
    if (!(Number.isInteger(this.dupThresh) && this.dupThresh >= 1)) throw new RangeError('SackScoreboard: dupThresh must be >= 1');
    if (!(Number.isInteger(this.maxRanges) && this.maxRanges >= 1)) throw new RangeError('SackScoreboard: maxRanges must be >= 1');
  }

  setMss(mss: number): void {
    this.mss = checkMss(mss);
  }

  /** A new DupThresh (segments, >= 1): the reordering degree the engine measured. */
  setDupThresh(n: number): void {
    if (!(Number.isInteger(n) && n >= 1)) throw new RangeError('SackScoreboard: dupThresh must be >= 1');
    this.dupThresh = n;
  }

  /** Forget all SACK information and retransmission marks. */
  clear(): void {
    this.sacked.clear();
    this.rexmit.clear();
    this.lost.clear();
    this.sackedTotal = 0;
    this.highRxtOffset = 0;
  }

  /** Forget the marks of markLost (after an RTO everything is resent from SND.UNA anyway). */
  clearLost(): void {
    this.lost.clear();
  }

  /**
   * RACK (RFC 8985 §6.2 step 5) found [seq, seq+len) lost: IsLost holds for
   * it whatever DupThresh says, so pipe stops counting it and NextSeg rule (1)
   * sends it. SACKed octets in it stay SACKed (they are never lost).
   */
  markLost(seq: number, len: number): void {
    const s = Math.max(0, seqDiff(seq, this.base));
    const e = seqDiff(seq, this.base) + len;
    if (e <= s) return;
    this.lost.add(s, e);
    while (this.lost.count > this.maxRanges) this.lost.mergeClosest();
  }

  /** Forget retransmission marks only (e.g. after an RTO, everything is resent anyway). */
  clearRetransmitted(): void {
    this.rexmit.clear();
    this.highRxtOffset = 0;
  }

  /** Octets currently SACKed above SND.UNA. */
  get sackedBytes(): number {
    return this.sackedTotal;
  }

  /** One past the highest SACKed octet (sequence number), or undefined if nothing is SACKed. */
  get highestSacked(): number | undefined {
    const n = this.sacked.count;
    return n === 0 ? undefined : (this.base + this.sacked.ends[n - 1]!) >>> 0;
  }

  /** One past the highest retransmitted octet (RFC 6675 HighRxt + 1), or undefined. */
  get highRxt(): number | undefined {
    return this.highRxtOffset === 0 ? undefined : (this.base + this.highRxtOffset) >>> 0;
  }

  /** How many SACKed ranges the scoreboard holds (sackedRange(k) for k below it, lowest first). */
  get sackedRangeCount(): number {
    return this.sacked.count;
  }

  /** The k-th SACKed range, lowest first: [start, end) as sequence numbers. */
  sackedRange(k: number): readonly [number, number] {
    return [(this.base + this.sacked.starts[k]!) >>> 0, (this.base + this.sacked.ends[k]!) >>> 0];
  }

  /**
   * A successor taking over a connection (tcp/checkpoint.ts): the ranges its predecessor's
   * peer had SACKed, above `sndUna` and below `sndMax`, are SACKed again (retransmission and
   * lost marks are not: the successor resends what it must from SND.UNA). Replaces what the
   * scoreboard held; returns the octets SACKed now.
   */
  restoreSacked(sndUna: number, sndMax: number, ranges: readonly (readonly [number, number])[]): number {
    this.clear();
    this.base = sndUna >>> 0;
    this.baseSet = true;
    const limit = seqDiff(sndMax, this.base);
    for (const [start, end] of ranges) {
      const s = Math.max(0, seqDiff(start, this.base));
      const e = Math.min(seqDiff(end, this.base), limit);
      if (e > s) this.sacked.add(s, e);
    }
    while (this.sacked.count > this.maxRanges) this.sacked.popHighest();
    this.sackedTotal = this.sacked.overlap(0, Infinity);
    return this.sackedTotal;
  }

  /** SND.UNA moved to `sndUna`: drop everything below it. */
  advance(sndUna: number): void {
    if (!this.baseSet) {
      this.base = sndUna >>> 0;
      this.baseSet = true;
      return;
    }
    const d = seqDiff(sndUna, this.base);
    if (d <= 0) return; // old or equal ACK: nothing to drop
    this.sacked.shift(d);
    this.rexmit.shift(d);
    this.lost.shift(d);
    this.highRxtOffset = Math.max(0, this.highRxtOffset - d);
    this.base = sndUna >>> 0;
    this.sackedTotal = this.sacked.overlap(0, Infinity);
  }

  /**
   * Process an ACK's SACK blocks (RFC 6675 Update()). Blocks reaching beyond
   * SND.NXT or empty are ignored and counted; parts below SND.UNA are cut off
   * (a block wholly below is a D-SACK or stale and only counted). Returns the
   * number of octets newly SACKed by this ACK (RFC 6675 §2's "SACK information
   * that covers new data" test for counting duplicate ACKs).
   */
  update(sndUna: number, blocks: readonly SackBlockInput[], sndNxt: number): number {
    this.advance(sndUna);
    const limit = seqDiff(sndNxt, this.base);
    let newly = 0;
    let dropped = false;
    const highBefore = this.sacked.count === 0 ? 0 : this.sacked.ends[this.sacked.count - 1]!;
    this.reorderedBytes = 0;
    for (const b of blocks) {
      const s = seqDiff(b.start, this.base);
      const e = seqDiff(b.end, this.base);
      if (!seqGt(b.end, b.start) || e > limit) { this.counters.invalidBlocks++; continue; }
      if (e <= 0) { this.counters.belowUnaBlocks++; continue; }
      const lo = Math.max(0, s);
      // Octets newly SACKed below data SACKed before, none of them retransmitted: they
      // arrived late (reordering), they were not lost.
      const below = Math.min(e, highBefore);
      if (lo < below && below - lo > this.sacked.overlap(lo, below) && this.rexmit.overlap(lo, below) === 0) {
        this.reorderedBytes = Math.max(this.reorderedBytes, highBefore - lo);
      }
      newly += this.sacked.add(lo, e);
      while (this.sacked.count > this.maxRanges) {
        this.sacked.popHighest();
        this.counters.droppedRanges++;
        dropped = true;
      }
    }
    if (newly > 0 || dropped) this.sackedTotal = this.sacked.overlap(0, Infinity);
    return newly;
  }

  /** Record that [seq, seq+len) was retransmitted (RFC 6675 HighRxt, per range). */
  markRetransmitted(seq: number, len: number): void {
    const s = Math.max(0, seqDiff(seq, this.base));
    const e = seqDiff(seq, this.base) + len;
    if (e <= s) return;
    this.rexmit.add(s, e);
    // Over the bound, over-approximate: counting a few extra octets as retransmitted
    // makes pipe larger (more conservative), never smaller.
    while (this.rexmit.count > this.maxRanges) this.rexmit.mergeClosest();
    this.highRxtOffset = Math.max(this.highRxtOffset, e);
  }

  /**
   * The retransmission of [seq, seq+len) was lost (the engine's lost-retransmission
   * detection): forget its mark, so NextSeg rule (1) sends it again and pipe stops
   * counting it.
   */
  unmarkRetransmitted(seq: number, len: number): void {
    const s = Math.max(0, seqDiff(seq, this.base));
    const e = seqDiff(seq, this.base) + len;
    if (e > s) this.rexmit.remove(s, e);
  }

  /** The first octet at or after `seq` that is not SACKed (`seq` itself when it is not). */
  skipSacked(seq: number): number {
    const x = seqDiff(seq, this.base);
    if (x < 0) return seq >>> 0;
    return (this.base + this.sacked.firstUncovered(x)) >>> 0;
  }

  /** Octets SACKed within [from, to). */
  sackedIn(from: number, to: number): number {
    const e = seqDiff(to, this.base);
    if (e <= 0) return 0;
    return this.sacked.overlap(Math.max(0, seqDiff(from, this.base)), e);
  }

  /** Distance from `seq` to the first SACKed octet at or after it (Infinity if none). */
  distanceToSacked(seq: number): number {
    const x = seqDiff(seq, this.base);
    if (x < 0) return Infinity;
    if (this.sacked.find(x) >= 0) return 0;
    return this.sacked.nextStartAfter(x) - x;
  }

  isSacked(seq: number): boolean {
    const x = seqDiff(seq, this.base);
    return x >= 0 && this.sacked.find(x) >= 0;
  }

  isRetransmitted(seq: number): boolean {
    const x = seqDiff(seq, this.base);
    return x >= 0 && this.rexmit.find(x) >= 0;
  }

  /**
   * RFC 6675 §4 IsLost(SeqNum): "true when either DupThresh discontiguous SACKed
   * sequences have arrived above 'SeqNum' or more than (DupThresh - 1) * SMSS
   * bytes with sequence numbers greater than 'SeqNum' have been SACKed."
   * A SACKed octet is not lost (it arrived); octets below SND.UNA are not lost.
   */
  isLost(seq: number): boolean {
    const x = seqDiff(seq, this.base);
    if (x < 0 || this.sacked.find(x) >= 0) return false;
    if (this.lost.find(x) >= 0) return true;
    let i = 0;
    while (i < this.sacked.count && this.sacked.ends[i]! <= x) i++;
    return this.gapLost(i);
  }

  /** Whether the un-SACKed gap just below SACKed range i (ranges i.. are above) is lost. */
  private gapLost(i: number): boolean {
    const above = this.sacked.count - i;
    if (above >= this.dupThresh) return true;
    let bytes = 0;
    for (let r = i; r < this.sacked.count; r++) bytes += this.sacked.ends[r]! - this.sacked.starts[r]!;
    return bytes > (this.dupThresh - 1) * this.mss;
  }

  /**
   * RFC 6675 §4 SetPipe(): over the octets of [HighACK, HighData] not SACKed,
   * "(a) If IsLost (S1) returns false: Pipe is incremented by 1 octet." and
   * "(b) If S1 <= HighRxt: Pipe is incremented by 1 octet" (here: if S1 was
   * retransmitted). sndUna should equal the last `advance`/`update`.
   */
  pipe(sndUna: number, sndNxt: number): number {
    this.advance(sndUna);
    const end = seqDiff(sndNxt, this.base);
    if (end <= 0) return 0;
    let pipe = 0;
    let gapStart = 0;
    for (let i = 0; i <= this.sacked.count && gapStart < end; i++) {
      const gapEnd = Math.min(end, i < this.sacked.count ? this.sacked.starts[i]! : end);
      if (gapEnd > gapStart) {
        if (i === this.sacked.count || !this.gapLost(i)) pipe += gapEnd - gapStart - this.lost.overlap(gapStart, gapEnd);
        pipe += this.rexmit.overlap(gapStart, gapEnd);
      }
      if (i < this.sacked.count) gapStart = this.sacked.ends[i]!;
    }
    return pipe;
  }

  /**
   * RFC 6675 §4 NextSeg(), rules (1)-(3). `newDataAllowed` is how many octets of
   * new data rule (2) may send (unsent data the receive window allows; 0 if
   * none). Returns undefined when nothing qualifies.
   *  (1) the first un-SACKed, not yet retransmitted S2 below the highest SACKed
   *      octet with IsLost(S2): one segment from S2;
   *  (2) else new data from SND.NXT;
   *  (3) else the first un-SACKed, not yet retransmitted octet below the highest
   *      SACKed octet, lost or not.
   * Segments stop at the next SACKed or already retransmitted octet.
   */
  nextSeg(sndUna: number, sndNxt: number, newDataAllowed: number): NextSegment | undefined {
    this.advance(sndUna);
    const r1 = this.firstCandidate(true, seqDiff(sndNxt, this.base));
    if (r1 !== undefined) return r1;
    if (newDataAllowed > 0) return { rule: 2, seq: sndNxt >>> 0, len: Math.min(this.mss, newDataAllowed) };
    return this.firstCandidate(false, 0);
  }

  /**
   * The first not yet retransmitted octet of a lost gap (requireLost) or of any
   * gap below the highest SACKed octet. With requireLost, octets markLost
   * marked count as well, up to `end` (the offset of SND.NXT): RACK may find
   * data above the highest SACKed octet lost (a tail sent before a delivered
   * retransmission).
   */
  private firstCandidate(requireLost: boolean, end: number): NextSegment | undefined {
    let gapStart = 0;
    const n = this.sacked.count;
    for (let i = 0; i <= n; i++) {
      const gapEnd = i < n ? this.sacked.starts[i]! : end;
      if (i === n && (!requireLost || this.lost.count === 0)) break;
      if (gapEnd > gapStart) {
        if (i < n && (!requireLost || this.gapLost(i))) {
          const s = this.rexmit.firstUncovered(gapStart);
          if (s < gapEnd) {
            const stop = Math.min(gapEnd, this.rexmit.nextStartAfter(s), s + this.mss);
            return { rule: requireLost ? 1 : 3, seq: (this.base + s) >>> 0, len: stop - s };
          }
        } else if (requireLost) {
          // Only the octets RACK marked lost in this gap.
          for (let r = 0; r < this.lost.count; r++) {
            const a = Math.max(gapStart, this.lost.starts[r]!);
            const b = Math.min(gapEnd, this.lost.ends[r]!);
            if (b <= a) continue;
            const s = this.rexmit.firstUncovered(a);
            if (s < b) {
              const stop = Math.min(b, this.rexmit.nextStartAfter(s), s + this.mss);
              return { rule: 1, seq: (this.base + s) >>> 0, len: stop - s };
            }
          }
        }
      }
      if (i < n) gapStart = this.sacked.ends[i]!;
    }
    return undefined;
  }
}

function checkMss(mss: number): number {
  if (!(Number.isInteger(mss) && mss > 0 && mss <= 0xffff)) throw new RangeError(`SackScoreboard: mss ${mss} out of range`);
  return mss;
}
