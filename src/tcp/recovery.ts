/**
 * Acknowledgment processing and loss recovery (gVisor sack_recovery.go,
 * reno_recovery.go): RTT samples and RTO (RFC 6298 with Karn's rule), the
 * sender's SACK scoreboard (RFC 6675 IsLost / SetPipe / NextSeg, simplified to
 * byte ranges), duplicate ACKs, fast retransmit and fast recovery (RFC 5681
 * §3.2), NewReno partial ACKs when SACK is off (RFC 6582), limited transmit
 * (RFC 3042, applied in output.ts).
 *
 * The scoreboard is a flat sorted array of disjoint SACKed [start, end) pairs
 * above SND.UNA, kept in the control block as plain numbers.
 */
import type { TcpSegment } from '../wire/tcp.js';
import { TcpEventType } from './config.js';
import type { EngineContext } from './context.js';
import { markRetransmit, sendChallengeAck, sendSegment, tsNow } from './output.js';
import { seqDiff, seqGe, seqGt, seqLe, seqLt } from './seqnum.js';
import type { Tcb } from './tcb.js';
import { TcpFlag } from '../wire/tcp.js';

/** RFC 5681 §3.2 / RFC 6675 DupThresh. */
export const DUP_THRESH = 3;
/** Bound on scoreboard ranges (memory bound; older information is merged away). */
const MAX_SACKED_RANGES = 32;

// ---------------------------------------------------------------- RTT (RFC 6298)

/** One RTT measurement (the caller applied Karn's rule). */
export function rttSample(t: Tcb, r: number): void {
  t.rtt.sample(r);
}

// ---------------------------------------------------------------- scoreboard

/** Record the SACK blocks of seg (RFC 2018 §5, RFC 6675 §5 "Update"). Returns bytes newly SACKed. */
export function updateScoreboard(t: Tcb, seg: TcpSegment): number {
  let added = 0;
  for (let i = 0; i < seg.sackCount; i++) {
    let l = seg.sack[2 * i]!;
    const r = seg.sack[2 * i + 1]!;
    // Ignore D-SACKs below SND.UNA, blocks beyond what we sent, and nonsense.
    if (!seqLt(l, r) || !seqGt(r, t.sndUna) || seqGt(r, t.sndMax)) continue;
    if (seqLt(l, t.sndUna)) l = t.sndUna;
    added += insertRange(t, l, r);
  }
  return added;
}

function insertRange(t: Tcb, l: number, r: number): number {
  const a = t.sacked;
  // Find the first range that ends at or after l.
  let i = 0;
  while (i < a.length && seqLt(a[i + 1]!, l)) i += 2;
  let j = i;
  let newStart = l;
  let newEnd = r;
  let covered = 0;
  while (j < a.length && seqLe(a[j]!, r)) {
    if (seqLt(a[j]!, newStart)) newStart = a[j]!;
    if (seqGt(a[j + 1]!, newEnd)) newEnd = a[j + 1]!;
    covered += seqDiff(a[j + 1]!, a[j]!);
    j += 2;
  }
  const before = t.sackedBytes;
  a.splice(i, j - i, newStart, newEnd);
  t.sackedBytes += seqDiff(newEnd, newStart) - covered;
  if (a.length > 2 * MAX_SACKED_RANGES) {
    // Forget the highest range (the sender then just resends more than needed).
    const e = a.pop()!;
    const s = a.pop()!;
    t.sackedBytes -= seqDiff(e, s);
  }
  return t.sackedBytes - before;
}

/** SND.UNA advanced: forget SACK information at or below it. */
export function trimScoreboard(t: Tcb): void {
  const a = t.sacked;
  if (a.length === 0) return;
  let k = 0;
  while (k < a.length && seqLe(a[k + 1]!, t.sndUna)) {
    t.sackedBytes -= seqDiff(a[k + 1]!, a[k]!);
    k += 2;
  }
  if (k > 0) a.splice(0, k);
  if (a.length > 0 && seqLt(a[0]!, t.sndUna)) {
    t.sackedBytes -= seqDiff(t.sndUna, a[0]!);
    a[0] = t.sndUna;
  }
}

export function clearScoreboard(t: Tcb): void {
  t.sacked.length = 0;
  t.sackedBytes = 0;
}

/** If seq lies in a SACKed range, the end of that range; else seq. */
export function sackedEndAt(t: Tcb, seq: number): number {
  const a = t.sacked;
  for (let i = 0; i < a.length; i += 2) {
    if (seqLt(seq, a[i]!)) return seq;
    if (seqLt(seq, a[i + 1]!)) return a[i + 1]!;
  }
  return seq;
}

/**
 * RFC 6675 IsLost, by ranges: every unSACKed byte below the returned edge has
 * more than (DupThresh - 1) * SMSS SACKed bytes above it, so it is lost.
 */
function lossEdge(t: Tcb): number {
  const a = t.sacked;
  const need = (DUP_THRESH - 1) * t.sndMss;
  let acc = 0;
  for (let i = a.length - 2; i >= 0; i -= 2) {
    acc += seqDiff(a[i + 1]!, a[i]!);
    if (acc > need) return a[i]!;
  }
  return t.sndUna;
}

/**
 * RFC 6675 SetPipe: bytes in flight. With SACK: outstanding minus SACKed minus
 * lost, plus lost bytes already retransmitted (below HighRxt). Without SACK
 * (NewReno), each duplicate ACK stands for one segment that left the network.
 */
export function pipeBytes(t: Tcb): number {
  const outstanding = seqDiff(t.sndMax, t.sndUna);
  if (!t.sackEnabled) return Math.max(0, outstanding - t.dupAcks * t.sndMss);
  const edge = lossEdge(t);
  const rxtEdge = seqLt(t.highRxt, edge) ? t.highRxt : edge;
  let lost = 0;
  let retrans = 0;
  let cur = t.sndUna;
  const a = t.sacked;
  for (let i = 0; i <= a.length; i += 2) {
    const holeEnd = i < a.length ? a[i]! : t.sndMax;
    // The hole [cur, holeEnd) clipped to below the loss edge is lost.
    const le = seqLt(holeEnd, edge) ? holeEnd : edge;
    if (seqGt(le, cur)) {
      lost += seqDiff(le, cur);
      const re = seqLt(le, rxtEdge) ? le : rxtEdge;
      if (seqGt(re, cur)) retrans += seqDiff(re, cur);
    }
    if (i < a.length) cur = a[i + 1]!;
    if (!seqLt(cur, edge)) break;
  }
  return Math.max(0, outstanding - t.sackedBytes - lost + retrans);
}

/** SACKed bytes below seq. */
export function sackedBelow(t: Tcb, seq: number): number {
  const a = t.sacked;
  let n = 0;
  for (let i = 0; i < a.length; i += 2) {
    if (!seqLt(a[i]!, seq)) break;
    n += seqDiff(seqLt(a[i + 1]!, seq) ? a[i + 1]! : seq, a[i]!);
  }
  return n;
}

/**
 * RFC 6675 NextSeg rule (1): the first lost, not yet retransmitted byte; with
 * `rule3`, the first unSACKed byte above HighRxt below the highest SACKed byte
 * (rule (3)). -1 if none; the hole's length in t.holeLen.
 */
export function nextLostHole(t: Tcb, rule3: boolean): number {
  const a0 = t.sacked;
  const edge = rule3 ? (a0.length > 0 ? a0[a0.length - 1]! : t.sndUna) : lossEdge(t);
  let s = seqGt(t.highRxt, t.sndUna) ? t.highRxt : t.sndUna;
  const a = t.sacked;
  for (let i = 0; i <= a.length; i += 2) {
    const hs = i === 0 ? t.sndUna : a[i - 1]!;
    const he = i < a.length ? a[i]! : t.sndMax;
    if (!seqLt(s, edge)) return -1;
    if (seqLt(s, hs)) s = hs;
    if (seqLt(s, he)) {
      const end = seqLt(he, edge) ? he : edge;
      if (!seqLt(s, end)) return -1;
      t.holeLen = seqDiff(end, s);
      return s;
    }
  }
  return -1;
}

// ---------------------------------------------------------------- ACK processing

/**
 * RFC 9293 §3.10.7.4 "fifth, check the ACK field" for synchronized states,
 * with RFC 5961 §5.2 and the recovery machinery. Returns false when the
 * segment must be dropped.
 */
export function processAck(ctx: EngineContext, t: Tcb, seg: TcpSegment, now: number): boolean {
  const ack = seg.ack;
  // RFC 5961 §5.2: acceptable iff (SND.UNA - MAX.SND.WND) =< SEG.ACK =< SND.NXT;
  // "All incoming segments whose ACK value doesn't satisfy the above condition
  // MUST be discarded and an ACK sent back."
  if (seqGt(ack, t.sndMax)) {
    ctx.counters.dropBadAck++;
    sendChallengeAck(ctx, t, now);
    return false;
  }
  if (seqLt(ack, (t.sndUna - t.maxSndWnd) >>> 0)) {
    ctx.counters.dropBadAck++;
    sendChallengeAck(ctx, t, now);
    return false;
  }
  const sackNew = t.sackEnabled && seg.sackCount > 0 ? updateScoreboard(t, seg) : 0;
  const wnd = seg.window * 2 ** t.sndWndScale;
  if (seqGt(ack, t.sndUna)) {
    newAck(ctx, t, seg, ack, now);
  } else if (ack === t.sndUna) {
    // RFC 5681 §2 duplicate ACK: no data, no SYN/FIN, same window, data outstanding;
    // RFC 6675 §2: an ACK carrying new SACK information counts as well.
    const outstanding = t.sndMax !== t.sndUna;
    const dup = outstanding && seg.payloadLen === 0 && (seg.flags & (TcpFlag.SYN | TcpFlag.FIN)) === 0
      && (wnd === t.sndWnd || sackNew > 0);
    if (dup) duplicateAck(ctx, t, now);
  }
  // RFC 9293 §3.10.7.4: "If SND.UNA =< SEG.ACK =< SND.NXT, the send window should be
  // updated. If (SND.WL1 < SEG.SEQ or (SND.WL1 = SEG.SEQ and SND.WL2 =< SEG.ACK))".
  if (seqLt(t.sndWl1, seg.seq) || (t.sndWl1 === seg.seq && seqLe(t.sndWl2, ack))) {
    t.sndWnd = wnd;
    t.sndWl1 = seg.seq;
    t.sndWl2 = ack;
    if (wnd > t.maxSndWnd) t.maxSndWnd = wnd;
  }
  return true;
}

function newAck(ctx: EngineContext, t: Tcb, seg: TcpSegment, ack: number, now: number): void {
  const acked = seqDiff(ack, t.sndUna);
  // RTT: RFC 7323 §4.1 timestamps on ACKs of new data, else Karn-timed segment (RFC 6298 §3).
  let rtt = -1;
  if (t.tsEnabled && seg.hasTimestamp && seg.tsEcr !== 0) {
    // Karn's rule for timestamps: an echo older than our last retransmission may be
    // a duplicate's stale TS.Recent (RFC 7323 §4.3 keeps it), which inflates RTO.
    if (!(t.hasRetransmitted && seqLt(seg.tsEcr, t.rtxTsVal))) rtt = seqDiff(tsNow(t, now), seg.tsEcr);
  } else if (t.rttTime >= 0 && seqGe(ack, t.rttSeq)) {
    rtt = now - t.rttTime;
  }
  if (seqGe(ack, t.rttSeq)) t.rttTime = -1;
  if (rtt >= 0) rttSample(t, rtt);
  // Free acknowledged data from the send ring (the SYN and FIN occupy no ring bytes).
  const dataAcked = Math.min(Math.max(0, seqDiff(ack, t.sndBufSeq)), t.sendBuf.available());
  if (dataAcked > 0) {
    t.sendBuf.consume(dataAcked);
    t.sndBufSeq = (t.sndBufSeq + dataAcked) >>> 0;
    if (t.wantWritable) {
      t.wantWritable = false;
      ctx.emit(TcpEventType.Writable, t.id);
    }
  }
  t.sndUna = ack;
  if (seqLt(t.sndNxt, ack)) t.sndNxt = ack;
  t.retries = 0;
  t.lastProgress = now;
  trimScoreboard(t);
  if (t.inRecovery) {
    if (seqGe(ack, t.recover)) {
      // RFC 6582 §3.2 step 4 / RFC 6675 §5: full acknowledgment ends recovery.
      t.inRecovery = false;
      t.dupAcks = 0;
      t.cc.onRecoveryEnd(now);
    } else if (!t.sackEnabled) {
      // RFC 6582 §3.2 step 5: partial ACK — resend the first unacknowledged segment.
      t.dupAcks = 0;
      retransmitHead(ctx, t, now);
    }
  } else {
    t.dupAcks = 0;
    t.cc.onAck(acked, now, t.rtt.srtt, seqDiff(t.sndMax, t.sndUna) + acked);
  }
  // RFC 6298 §5.2/5.3: stop the timer when all is acknowledged, else restart it.
  if (t.sndUna === t.sndMax) {
    if (!t.persisting) t.rtoAt = Infinity;
  } else {
    t.persisting = false;
    t.rtoAt = now + t.rtt.rto;
  }
  ctx.timersChanged(t);
}

function duplicateAck(ctx: EngineContext, t: Tcb, now: number): void {
  t.dupAcks++;
  if (t.inRecovery) return; // pipe shrinks (pipeBytes); output() sends what fits
  const lost = t.sackEnabled && t.sackedBytes > (DUP_THRESH - 1) * t.sndMss;
  if (t.dupAcks < DUP_THRESH && !lost) return;
  // RFC 6582 §3.2 step 2: no new recovery for losses from the previous window.
  if (!t.sackEnabled && !seqGt((t.sndUna - 1) >>> 0, t.recover) && t.recover !== t.iss) return;
  const flight = seqDiff(t.sndMax, t.sndUna);
  t.inRecovery = true;
  t.recover = t.sndMax;
  t.highRxt = t.sndUna;
  t.cc.onCongestionEvent(now, flight);
  if (t.sackEnabled) ctx.counters.sackRecoveries++;
  else ctx.counters.newRenoRecoveries++;
  ctx.counters.fastRetransmits++;
  retransmitHead(ctx, t, now);
}

/** Resend one segment at SND.UNA (fast retransmit, partial ACK). */
export function retransmitHead(ctx: EngineContext, t: Tcb, now: number): void {
  const dataEnd = (t.sndBufSeq + t.sendBuf.available()) >>> 0;
  let len = Math.min(t.sndMss, Math.max(0, seqDiff(dataEnd, t.sndUna)));
  if (t.sackEnabled && t.sacked.length > 0 && seqLt(t.sacked[0]!, (t.sndUna + len) >>> 0)) {
    len = seqDiff(t.sacked[0]!, t.sndUna);
  }
  let flags = TcpFlag.ACK;
  if (t.finQueued && ((t.sndUna + len) >>> 0) === t.finSeq) flags |= TcpFlag.FIN;
  if (len === 0 && (flags & TcpFlag.FIN) === 0) return;
  if (!sendSegment(ctx, t, flags, t.sndUna, len, now)) return;
  markRetransmit(ctx, t, now);
  t.rttTime = -1;
  const end = (t.sndUna + len + ((flags & TcpFlag.FIN) !== 0 ? 1 : 0)) >>> 0;
  if (seqGt(end, t.highRxt)) t.highRxt = end;
  t.rtoAt = now + t.rtt.rto;
  ctx.timersChanged(t);
}
