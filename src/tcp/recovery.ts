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
import { armPto, tlpOnAck, tlpOnDsack } from './tlp.js';
import type { TcpSegment } from '../wire/tcp.js';
import { TcpEventType } from './config.js';
import type { EngineContext } from './context.js';
import { markRetransmit, sendChallengeAck, sendSegment, tsNow } from './output.js';
import { seqDiff, seqGe, seqGt, seqLe, seqLt } from './seqnum.js';
import type { Tcb } from './tcb.js';
import { TcpFlag } from '../wire/tcp.js';
import { rateOnAck } from './delivery.js';
import { rackOnAck, rackRecoveryEnded } from './rack.js';

/** RFC 5681 §3.2 / RFC 6675 DupThresh: the reordering degree assumed until more is seen. */
export const DUP_THRESH = 3;
/** Largest reordering degree believed, segments (Linux net.ipv4.tcp_max_reordering). */
export const MAX_REORDERING = 300;

// ---------------------------------------------------------------- RTT (RFC 6298)

/** One RTT measurement (the caller applied Karn's rule). */
export function rttSample(t: Tcb, r: number): void {
  t.rtt.sample(r);
}

// ---------------------------------------------------------------- scoreboard

/** Reused SACK block objects handed to the scoreboard (no allocation per ACK). */
const blockPool: { start: number; end: number }[] = [
  { start: 0, end: 0 }, { start: 0, end: 0 }, { start: 0, end: 0 }, { start: 0, end: 0 },
];
const blockList: { start: number; end: number }[] = [];

/**
 * Whether seg's first SACK block is a D-SACK (RFC 2883 §4): below the
 * cumulative ACK, or inside the second block (Linux tcp_check_dsack).
 */
export function hasDsack(seg: TcpSegment): boolean {
  if (seg.sackCount === 0) return false;
  const s0 = seg.sack[0]!;
  const e0 = seg.sack[1]!;
  if (seqLt(s0, seg.ack)) return true;
  return seg.sackCount > 1 && seqGe(s0, seg.sack[2]!) && seqLe(e0, seg.sack[3]!);
}

/** Record the SACK blocks of seg (RFC 2018 §5, RFC 6675 Update()), a D-SACK block aside. Returns octets newly SACKed. */
export function updateScoreboard(t: Tcb, seg: TcpSegment, skipFirst = false): number {
  blockList.length = 0;
  for (let i = skipFirst ? 1 : 0; i < seg.sackCount; i++) {
    const b = blockPool[i]!;
    b.start = seg.sack[2 * i]!;
    b.end = seg.sack[2 * i + 1]!;
    blockList.push(b);
  }
  return t.scoreboard.update(t.sndUna, blockList, t.sndMax);
}

/** SND.UNA advanced: forget SACK information below it. */
export function trimScoreboard(t: Tcb): void {
  t.scoreboard.advance(t.sndUna);
}

/** If seq lies in a SACKed range, the end of that range; else seq. */
export function sackedEndAt(t: Tcb, seq: number): number {
  return t.scoreboard.skipSacked(seq);
}

/** SACKed octets in [SND.UNA, seq). */
export function sackedBelow(t: Tcb, seq: number): number {
  return t.scoreboard.sackedIn(t.sndUna, seq);
}

/**
 * RFC 6675 SetPipe: octets in flight. With SACK, the scoreboard's count (not
 * SACKed and not lost, plus retransmitted). Without SACK (NewReno), each
 * duplicate ACK stands for one segment that left the network.
 */
export function pipeBytes(t: Tcb): number {
  if (!t.sackEnabled) return Math.max(0, seqDiff(t.sndMax, t.sndUna) - t.dupAcks * t.sndMss);
  return t.scoreboard.pipe(t.sndUna, t.sndMax);
}

/**
 * RFC 6675 NextSeg for retransmissions: rule (1) (lost, not yet retransmitted),
 * or with `rule3` rule (3) (any unSACKed, not retransmitted octet below the
 * highest SACKed one). Returns the sequence number or -1; the length in t.holeLen.
 */
export function nextLostHole(t: Tcb, rule3: boolean): number {
  const n = t.scoreboard.nextSeg(t.sndUna, t.sndMax, 0);
  if (n === undefined || (n.rule === 3 && !rule3)) return -1;
  t.holeLen = n.len;
  return n.seq;
}

// ---------------------------------------------------------------- ACK processing

/**
 * RFC 9293 §3.10.7.4 "fifth, check the ACK field" for synchronized states,
 * with RFC 5961 §5.2 and the recovery machinery. Returns false when the
 * segment must be dropped.
 */
export function processAck(ctx: EngineContext, t: Tcb, seg: TcpSegment, now: number, updateWindow = true): boolean {
  const ack = seg.ack;
  const una0 = t.sndUna;
  const sacked0 = t.scoreboard.sackedBytes;
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
  const dsack = t.sackEnabled && hasDsack(seg);
  if (dsack) dsackArrived(ctx, t, seg.sack[0]!, seg.sack[1]!, now);
  const sackNew = t.sackEnabled && seg.sackCount > 0 ? updateScoreboard(t, seg, dsack) : 0;
  if (sackNew > 0 && t.scoreboard.reorderedBytes > 0 && !t.rtoEpisode) {
    raiseReordering(ctx, t, Math.ceil(t.scoreboard.reorderedBytes / t.sndMss) + 1);
  }
  if (t.reordering > DUP_THRESH) applyDupThresh(t);
  const rack = t.rack.enabled && t.sackEnabled;
  if (!rack && t.inRecovery && t.rtxLog.length > 0 && sackNew > 0) detectLostRetransmits(ctx, t, ack, now);
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
  // RFC 8985 §6.2: time-based loss detection; a loss it finds starts recovery (§6.2 step 5).
  if (rack && rackOnAck(ctx, t, now, dsack)) rackEnterRecovery(ctx, t, now);
  // RFC 9293 §3.10.7.4: "If SND.UNA =< SEG.ACK =< SND.NXT, the send window should be
  // updated. If (SND.WL1 < SEG.SEQ or (SND.WL1 = SEG.SEQ and SND.WL2 =< SEG.ACK))".
  // (Not from a disordered ACK that passed PAWS only as such: its window is stale, see input.ts.)
  if (updateWindow && (seqLt(t.sndWl1, seg.seq) || (t.sndWl1 === seg.seq && seqLe(t.sndWl2, ack)))) {
    t.sndWnd = wnd;
    t.sndWl1 = seg.seq;
    t.sndWl2 = ack;
    if (wnd > t.maxSndWnd) t.maxSndWnd = wnd;
  }
  if (t.rate !== undefined) rateOnAck(t, now);
  // RFC 6937 §3: DeliveredData = change_in(snd.una) + change_in(SACKd).
  if (t.inRecovery && t.prr) prrOnAck(t, seqDiff(t.sndUna, una0) + t.scoreboard.sackedBytes - sacked0);
  return true;
}

/**
 * RFC 6937 PRR-SSRB, on every ACK of the recovery (the one that started it included):
 * while pipe is above ssthresh, send in proportion to what was delivered
 * (ssthresh / RecoverFS of it), so the window comes down to ssthresh smoothly over one
 * round instead of going silent for half a round then bursting; below ssthresh, slow
 * start back up to it, at most one MSS more than was delivered.
 */
export function prrOnAck(t: Tcb, deliveredData: number): void {
  const delivered = Math.max(0, deliveredData);
  t.prrDelivered += delivered;
  const pipe = pipeBytes(t);
  const ssthresh = t.cc.ssthresh;
  let sndcnt: number;
  if (pipe > ssthresh) {
    sndcnt = Math.ceil((t.prrDelivered * ssthresh) / Math.max(1, t.prrRecoverFs)) - t.prrOut;
  } else {
    const limit = Math.max(t.prrDelivered - t.prrOut, delivered) + t.sndMss;
    sndcnt = Math.min(ssthresh - pipe, limit);
  }
  t.prrCwnd = pipe + Math.max(0, sndcnt);
}

/** The window the sender uses now: PRR's during a recovery that uses it, else the controller's. */
export function recoveryCwnd(t: Tcb): number {
  return t.inRecovery && t.prr ? t.prrCwnd : t.cc.cwnd;
}

/** Bytes (re)sent during a recovery: RFC 6937 prr_out. */
export function prrSent(t: Tcb, bytes: number): void {
  if (t.inRecovery && t.prr) t.prrOut += bytes;
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
  // Linux tcp_clean_rtx_queue: the cumulative ACK covered never-retransmitted data
  // below SACKed data: it arrived late (reordering), it was not lost.
  const highSacked = t.sackEnabled ? t.scoreboard.highestSacked : undefined;
  if (highSacked !== undefined && !t.rtoEpisode && seqGt(highSacked, t.sndUna) && !t.scoreboard.isRetransmitted(t.sndUna)) {
    raiseReordering(ctx, t, Math.ceil(seqDiff(highSacked, t.sndUna) / t.sndMss));
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
      t.rtoEpisode = false;
      t.dupAcks = 0;
      t.cc.onRecoveryEnd(now);
      if (t.rack.enabled) rackRecoveryEnded(t);
    } else if (!t.sackEnabled) {
      // RFC 6582 §3.2 step 5: partial ACK — resend the first unacknowledged segment.
      t.dupAcks = 0;
      retransmitHead(ctx, t, now);
    }
  } else {
    t.dupAcks = 0;
    if (t.rtoEpisode && seqGe(ack, t.recover)) t.rtoEpisode = false;
    t.cc.onAck(acked, now, t.rtt.srtt, seqDiff(t.sndMax, t.sndUna) + acked);
  }
  // RFC 6298 §5.2/5.3: stop the timer when all is acknowledged, else restart it.
  if (t.sndUna === t.sndMax) {
    if (!t.persisting) t.rtoAt = Infinity;
  } else {
    t.persisting = false;
    t.rtoAt = now + t.rtt.rto;
  }
  tlpOnAck(ctx, t, ack, now);
  armPto(ctx, t, now);
  ctx.timersChanged(t);
}

function duplicateAck(ctx: EngineContext, t: Tcb, now: number): void {
  t.dupAcks++;
  if (t.inRecovery) return; // pipe shrinks (pipeBytes); output() sends what fits
  // RFC 6675 §5: recovery also starts when IsLost(HighACK + 1). DupThresh is the
  // reordering degree seen (raiseReordering), as Linux's tp->reordering.
  const lost = t.sackEnabled && t.scoreboard.sackedBytes > 0 && t.scoreboard.isLost(t.sndUna);
  if (t.dupAcks < earlyRetransmitThresh(t) && !lost) return;
  // RFC 6582 §3.2 step 2: no new recovery for losses from the previous window.
  if (!t.sackEnabled && !seqGt((t.sndUna - 1) >>> 0, t.recover) && t.recover !== t.iss) return;
  startRecovery(ctx, t, now);
  retransmitHead(ctx, t, now);
}

/**
 * RACK marked segments lost (RFC 8985 §6.2 step 5, or its timer §6.3): start
 * fast recovery if none runs (RFC 6675 §5 with RACK as the loss detector). The
 * head is resent at once only if it is among the lost; output's NextSeg sends
 * the rest as the window allows.
 */
export function rackEnterRecovery(ctx: EngineContext, t: Tcb, now: number): void {
  if (t.inRecovery || t.rtoEpisode) return;
  startRecovery(ctx, t, now);
  if (t.scoreboard.isLost(t.sndUna) && !t.scoreboard.isRetransmitted(t.sndUna)) retransmitHead(ctx, t, now);
}

function startRecovery(ctx: EngineContext, t: Tcb, now: number): void {
  const flight = seqDiff(t.sndMax, t.sndUna);
  t.inRecovery = true;
  t.recover = t.sndMax;
  t.highRxt = t.sndUna;
  t.cc.onCongestionEvent(now, flight);
  t.ptoAt = Infinity;
  t.tlpHighSeq = -1;
  // RFC 6937 for window-based controllers with SACK (BBR keeps its own packet conservation).
  t.prr = t.sackEnabled && t.cc.wantsRateSamples !== true && ctx.config.prr;
  t.prrRecoverFs = flight;
  t.prrDelivered = 0;
  t.prrOut = 0;
  t.prrCwnd = t.cc.cwnd;
  startUndoEpisode(t, false);
  // The log is kept: the scoreboard keeps its retransmitted marks from an earlier recovery
  // (only an RTO clears them), and a mark whose retransmission was lost, with no log entry
  // left to find it, held its hole until the RTO.
  if (t.sackEnabled) ctx.counters.sackRecoveries++;
  else ctx.counters.newRenoRecoveries++;
  ctx.counters.fastRetransmits++;
}

/**
 * RFC 5827 early retransmit: with fewer than four segments outstanding and nothing new to
 * send, three duplicate ACKs can never come; the threshold is one less than the segments
 * outstanding (so the ACK of a tail loss probe, SACKing the last segment, starts recovery
 * of the one before it). Not once the path was seen to reorder (the adaptive threshold
 * rules then), and only with SACK (the ACKs are known to be for data that left).
 */
function earlyRetransmitThresh(t: Tcb): number {
  const thresh = t.scoreboard.dupThresh;
  if (!t.sackEnabled || t.reordering > DUP_THRESH) return thresh;
  const outstanding = Math.ceil(seqDiff(t.sndMax, t.sndUna) / t.sndMss);
  const dataEnd = (t.sndBufSeq + t.sendBuf.available()) >>> 0;
  const canSendNew = seqGt(dataEnd, t.sndMax) && seqGt((t.sndUna + t.sndWnd) >>> 0, t.sndMax);
  if (outstanding >= 4 || canSendNew) return thresh;
  return Math.min(thresh, Math.max(1, outstanding - 1));
}

/** Resend one segment at SND.UNA (fast retransmit, partial ACK). */
export function retransmitHead(ctx: EngineContext, t: Tcb, now: number): void {
  const dataEnd = (t.sndBufSeq + t.sendBuf.available()) >>> 0;
  let len = Math.min(t.sndMss, Math.max(0, seqDiff(dataEnd, t.sndUna)));
  if (t.sackEnabled) len = Math.min(len, t.scoreboard.distanceToSacked(t.sndUna));
  let flags = TcpFlag.ACK;
  if (t.finQueued && ((t.sndUna + len) >>> 0) === t.finSeq) flags |= TcpFlag.FIN;
  if (len === 0 && (flags & TcpFlag.FIN) === 0) return;
  if (!sendSegment(ctx, t, flags, t.sndUna, len, now)) return;
  markRetransmit(ctx, t, now, len);
  prrSent(t, len);
  if (t.sackEnabled) {
    t.scoreboard.markRetransmitted(t.sndUna, len);
    logRetransmit(t, t.sndUna, len, now);
  }
  t.rttTime = -1;
  const end = (t.sndUna + len + ((flags & TcpFlag.FIN) !== 0 ? 1 : 0)) >>> 0;
  if (seqGt(end, t.highRxt)) t.highRxt = end;
  t.rtoAt = now + t.rtt.rto;
  ctx.timersChanged(t);
}

// ---------------------------------------------------------------- reordering, D-SACK, undo

/**
 * The path reorders by `segments`: raise the reordering degree (DupThresh of
 * IsLost and fast retransmit), bounded by MAX_REORDERING. Never lowered within
 * a connection except by effectiveDupThresh's bound on small flights.
 */
export function raiseReordering(ctx: EngineContext, t: Tcb, segments: number): void {
  const n = Math.min(MAX_REORDERING, segments);
  if (n <= t.reordering) return;
  t.reordering = n;
  ctx.counters.reorderingDetected++;
  applyDupThresh(t);
}

/**
 * DupThresh from the reordering degree; but when no more than that many
 * segments are in flight, half of them (at least 3): else with a small window
 * every loss would wait for the retransmission timer (Linux tcp_time_to_recover's
 * early retransmit, after RFC 5827).
 */
export function applyDupThresh(t: Tcb): void {
  const flightSegs = Math.floor(seqDiff(t.sndMax, t.sndUna) / t.sndMss);
  const n = flightSegs <= t.reordering ? Math.max(DUP_THRESH, flightSegs >> 1) : t.reordering;
  if (n !== t.scoreboard.dupThresh) t.scoreboard.setDupThresh(n);
}

/** A congestion response starts (fast recovery, or an RTO): it may be undone later (RFC 3708). */
export function startUndoEpisode(t: Tcb, rto: boolean): void {
  t.undoActive = true;
  t.undoMarker = t.sndUna;
  t.undoRetrans = 0;
  t.rtoEpisode = rto;
}

/**
 * A D-SACK for [start, end) arrived (RFC 2883): the receiver got those octets
 * twice. If they lie in the current undo episode, one of our retransmissions
 * was spurious: count it, take it as reordering, and once every retransmission
 * of the episode is accounted for, undo the congestion response (RFC 3708 §3,
 * Linux tcp_try_undo_dsack).
 */
function dsackArrived(ctx: EngineContext, t: Tcb, start: number, end: number, now: number): void {
  ctx.counters.dsacksReceived++;
  tlpOnDsack(t, end);
  if (!t.undoActive || t.undoRetrans <= 0 || seqLt(start, t.undoMarker) || !seqGt(end, start)) return;
  const n = Math.min(t.undoRetrans, Math.max(1, Math.ceil(seqDiff(end, start) / t.sndMss)));
  t.undoRetrans -= n;
  ctx.counters.spuriousRetransmits += n;
  raiseReordering(ctx, t, t.reordering + 1);
  if (t.undoRetrans > 0) return;
  t.undoActive = false;
  if (t.cc.undo === undefined) return;
  t.cc.undo(now);
  ctx.counters.spuriousRecoveriesUndone++;
}

// ---------------------------------------------------------------- lost retransmissions

/** Numbers per logged retransmission: seq, end, SND.MAX then, segments sent after it delivered, send time. */
const RTX_ENTRY = 5;
/** Bound on logged retransmissions; the oldest go first. */
const RTX_LOG_MAX = RTX_ENTRY * 1024;

/**
 * Remember a retransmission of [seq, seq+len) in send order: what SND.MAX was when it
 * left, how many segments retransmitted after it have been delivered (0 so far), and when.
 */
export function logRetransmit(t: Tcb, seq: number, len: number, now: number): void {
  if (!t.inRecovery) return;
  if (t.rtxLog.length >= RTX_LOG_MAX) t.rtxLog.splice(0, RTX_ENTRY);
  t.rtxLog.push(seq, (seq + len) >>> 0, t.sndMax, 0, now);
}

/**
 * RFC 6675 cannot see a retransmission lost again: its hole stays marked
 * retransmitted until the RTO, which then goes back over everything in flight.
 * As Linux before RACK (tcp_mark_lost_retrans) and in RACK's spirit (RFC 8985
 * §6.2: a segment is lost when one sent after it was delivered, beyond the
 * reordering window), a retransmission whose range is still neither SACKed nor
 * acknowledged was lost
 *  - when more than DupThresh segments sent after it have been delivered: new
 *    data first sent after it and SACKed that far beyond it, or later
 *    retransmissions (the log is in send order) — the only evidence at the tail
 *    of a transfer, where nothing new is left to send; or
 *  - when anything sent after it was delivered and two smoothed RTTs have
 *    passed since it left (RACK's rule by time, for retransmissions only): a
 *    reordering degree counted in segments grows with the sending rate (a path
 *    that holds frames back 2 ms reorders by hundreds of segments at a few
 *    hundred Mbit/s, and DupThresh follows, up to 300), and a retransmission
 *    lost near the end of a transfer then waited for the RTO.
 * Its mark goes, and NextSeg rule (1) sends it again within this recovery.
 */
function detectLostRetransmits(ctx: EngineContext, t: Tcb, ack: number, now: number): void {
  // This ACK's cumulative part counts as delivered (SND.UNA moves on after this runs).
  const una = seqGt(ack, t.sndUna) ? ack : t.sndUna;
  const high = t.scoreboard.highestSacked;
  const log = t.rtxLog;
  const thresh = t.scoreboard.dupThresh;
  const srtt = t.rtt.srtt;
  // Newest first: segments of later retransmissions found delivered in this pass count
  // for every older one (each delivered entry leaves the log, so it counts once).
  let deliveredAfter = 0;
  for (let r = log.length - RTX_ENTRY; r >= 0; r -= RTX_ENTRY) {
    const seq = log[r]!;
    const end = log[r + 1]!;
    if (seqLe(end, una) || t.scoreboard.sackedIn(seq, end) === seqDiff(end, seq)) {
      deliveredAfter += Math.ceil(seqDiff(end, seq) / t.sndMss);
      log[r + 1] = seq; // delivered: dropped below
      continue;
    }
    const after = log[r + 3]! + deliveredAfter;
    log[r + 3] = after;
    const newDataBeyond = high === undefined ? 0 : seqDiff(high, log[r + 2]!);
    const evidence = after > 0 || newDataBeyond > 0;
    if (newDataBeyond > thresh * t.sndMss || after > thresh || (evidence && srtt !== undefined && now - log[r + 4]! > 2 * srtt)) {
      t.scoreboard.unmarkRetransmitted(seq, seqDiff(end, seq));
      ctx.counters.lostRetransmits++;
      log[r + 1] = seq; // lost: dropped below
    }
  }
  let w = 0;
  for (let r = 0; r < log.length; r += RTX_ENTRY) {
    if (log[r + 1] === log[r]) continue;
    for (let k = 0; k < RTX_ENTRY; k++) log[w++] = log[r + k]!;
  }
  log.length = w;
}
