/**
 * RACK loss detection (RFC 8985 §6): a segment is lost when one sent after it
 * has been delivered and more than RACK.rtt + RACK.reo_wnd have passed since
 * it was sent. Time, not DupThresh: a lost retransmission, a loss in a small
 * flight or at the tail of a burst is found without waiting for three
 * duplicate ACKs or the RTO, and on a path that reorders, a segment late by less
 * than reo_wnd is not resent.
 *
 * Alongside RFC 6675's IsLost (Linux keeps only RACK when it is on): RACK adds
 * lost marks to the scoreboard (SackScoreboard.markLost), which pipe and
 * NextSeg then honour, and replaces the SACK-distance lost-retransmission
 * detection of recovery.ts.
 *
 * Transmissions are kept in send order ("tsorted", §6.1) as flat quadruples in
 * the control block: [seq, end, xmitTime, flags]. A retransmission cuts its
 * range out of the older record and becomes a new record at the tail.
 */
import type { EngineContext } from './context.js';
import { DUP_THRESH } from './recovery.js';
import { seqDiff, seqGe, seqGt, seqLe, seqLt } from './seqnum.js';
import type { Tcb } from './tcb.js';

/** Record flag: the octets of this record are a retransmission. */
const RETRANSMITTED = 1;
/** Record flag: RACK marked the record lost (and it has not been sent again since). */
const LOST = 2;
/** Fields per record. */
const REC = 4;
/** Bound on records kept (the oldest go: the RTO still covers their data). */
const MAX_RECORDS = 8192;
/** RFC 8985 §6.2 step 4: DSACK-free recoveries after which reo_wnd shrinks back. */
const REO_WND_PERSIST = 16;

/** Per-connection RACK state (RFC 8985 §6.1). */
export class RackState {
  /** Whether RACK runs on this connection (engine option `rack`; it needs SACK). */
  enabled = true;
  /** Transmission records in send order, [seq, end, xmitTime, flags] each. */
  readonly sent: number[] = [];
  /** RACK.xmit_ts / RACK.end_seq of the most recently sent segment delivered; xmitTs < 0: none. */
  xmitTs = -1;
  endSeq = 0;
  /** RACK.rtt: the RTT of that segment; RACK.min_RTT over the connection. */
  rtt = 0;
  minRtt = Infinity;
  /** RACK.fack: the highest end sequence delivered (for reordering detection, §6.2 step 3). */
  fack = 0;
  fackSet = false;
  reorderingSeen = false;
  reoWndMult = 1;
  reoWndPersist = 0;
  /** RACK.dsack_round: SND.NXT when the last DSACK round began; undefined: none. */
  dsackRound: number | undefined = undefined;
  /** The reordering window last used, ms. */
  reoWnd = 0;
}

/** Forget every transmission record (after an RTO everything goes again from SND.UNA). */
export function rackReset(t: Tcb): void {
  t.rack.sent.length = 0;
  t.rackAt = Infinity;
}

/** [seq, seq+len) left at `now` (called for every segment carrying data). */
export function rackOnSend(t: Tcb, seq: number, len: number, now: number): void {
  const r = t.rack;
  if (!r.enabled || !t.sackEnabled || len <= 0) return;
  const end = (seq + len) >>> 0;
  const retransmit = seqLt(seq, t.sndMax);
  if (retransmit) cutOut(r.sent, seq, end);
  if (r.sent.length >= MAX_RECORDS * REC) r.sent.splice(0, REC);
  r.sent.push(seq, end, now, retransmit ? RETRANSMITTED : 0);
}

/** Remove [seq, end) from every record (its octets are being sent again). */
function cutOut(sent: number[], seq: number, end: number): void {
  for (let i = 0; i < sent.length; i += REC) {
    const a = sent[i]!;
    const b = sent[i + 1]!;
    if (seqLe(b, seq) || seqGe(a, end)) continue;
    if (seqLt(a, seq) && seqGt(b, end)) {
      // Split: [a, seq) keeps this slot, [end, b) follows with the same time.
      sent.splice(i + REC, 0, end, b, sent[i + 2]!, sent[i + 3]!);
      sent[i + 1] = seq;
      return;
    }
    if (seqLt(a, seq)) { sent[i + 1] = seq; continue; }
    if (seqGt(b, end)) { sent[i] = end; continue; }
    sent.splice(i, REC);
    i -= REC;
  }
}

/**
 * An ACK was processed (SND.UNA and the scoreboard are up to date). RFC 8985
 * §6.2 steps 1-5: update RACK from the delivered segments, adapt reo_wnd to
 * D-SACKs, mark what is lost. Returns true when new losses were marked; arms
 * or stops the reordering timer (§6.3, t.rackAt).
 */
export function rackOnAck(ctx: EngineContext, t: Tcb, now: number, dsack: boolean): boolean {
  const r = t.rack;
  const sent = r.sent;
  let w = 0;
  for (let i = 0; i < sent.length; i += REC) {
    const seq = sent[i]!;
    const end = sent[i + 1]!;
    const xmit = sent[i + 2]!;
    const flags = sent[i + 3]!;
    const delivered = seqLe(end, t.sndUna) || t.scoreboard.sackedIn(seq, end) === seqDiff(end, seq);
    if (!delivered) {
      if (w !== i) { sent[w] = seq; sent[w + 1] = end; sent[w + 2] = xmit; sent[w + 3] = flags; }
      w += REC;
      continue;
    }
    // Step 2: RACK.segment is the most recently sent delivered segment; a retransmission
    // acknowledged sooner than min_RTT was the original's ACK (ambiguous: no sample).
    const rtt = now - xmit;
    if ((flags & RETRANSMITTED) !== 0 && rtt < r.minRtt) continue;
    if ((flags & RETRANSMITTED) === 0 && rtt < r.minRtt) r.minRtt = rtt;
    if (xmit > r.xmitTs || (xmit === r.xmitTs && seqGt(end, r.endSeq))) {
      r.xmitTs = xmit;
      r.endSeq = end;
      r.rtt = rtt;
    }
    // Step 3: delivered below the highest delivered, never retransmitted: reordering.
    if (r.fackSet && seqLt(end, r.fack) && (flags & RETRANSMITTED) === 0) r.reorderingSeen = true;
    if (!r.fackSet || seqGt(end, r.fack)) { r.fack = end; r.fackSet = true; }
  }
  sent.length = w;
  // Step 4: DSACK rounds widen the reordering window (RACK_update_reo_wnd).
  if (r.dsackRound !== undefined && seqGe(t.sndUna, r.dsackRound)) r.dsackRound = undefined;
  if (r.dsackRound === undefined && dsack) {
    r.dsackRound = t.sndMax;
    r.reoWndMult++;
    r.reoWndPersist = REO_WND_PERSIST;
    ctx.counters.rackReoWndGrown++;
  }
  return rackDetectLoss(ctx, t, now);
}

/** RFC 8985 §6.2 step 4: a recovery ended; after 16 without a D-SACK reo_wnd shrinks back. */
export function rackRecoveryEnded(t: Tcb): void {
  const r = t.rack;
  if (--r.reoWndPersist <= 0) r.reoWndMult = 1;
}

/** RFC 8985 §6.2 step 4, RACK.reo_wnd in ms. */
function reoWnd(t: Tcb): number {
  const r = t.rack;
  const reordering = r.reorderingSeen || t.reordering > DUP_THRESH;
  if (!reordering && (t.inRecovery || t.scoreboard.sackedBytes >= DUP_THRESH * t.sndMss)) return 0;
  const srtt = t.rtt.srtt ?? r.rtt;
  const base = r.minRtt === Infinity ? srtt : r.minRtt;
  return Math.min(r.reoWndMult * base / 4, srtt);
}

/**
 * RFC 8985 §6.2 step 5 (RACK_detect_loss): every segment sent before
 * RACK.segment and outstanding for longer than RACK.rtt + reo_wnd is lost;
 * the timer waits for the earliest of the others.
 */
export function rackDetectLoss(ctx: EngineContext, t: Tcb, now: number): boolean {
  const r = t.rack;
  let timeout = 0;
  let marked = false;
  if (r.xmitTs >= 0) {
    r.reoWnd = reoWnd(t);
    const sent = r.sent;
    for (let i = 0; i < sent.length; i += REC) {
      const seq = sent[i]!;
      const end = sent[i + 1]!;
      const xmit = sent[i + 2]!;
      const flags = sent[i + 3]!;
      // RACK_sent_after(RACK.xmit_ts, RACK.end_seq, seg.xmit_ts, seg.end_seq); records are in send order.
      if (!(r.xmitTs > xmit || (r.xmitTs === xmit && seqGt(r.endSeq, end)))) break;
      if ((flags & LOST) !== 0) continue;
      const remaining = xmit + r.rtt + r.reoWnd - now;
      if (remaining > 0) {
        if (remaining > timeout) timeout = remaining;
        continue;
      }
      sent[i + 3] = flags | LOST;
      t.scoreboard.markLost(seq, seqDiff(end, seq));
      ctx.counters.rackLost++;
      if ((flags & RETRANSMITTED) !== 0) {
        // The retransmission itself was lost: NextSeg may send it again.
        t.scoreboard.unmarkRetransmitted(seq, seqDiff(end, seq));
        ctx.counters.lostRetransmits++;
      }
      marked = true;
    }
  }
  const at = timeout > 0 ? now + timeout : Infinity;
  if (at !== t.rackAt) {
    t.rackAt = at;
    ctx.timersChanged(t);
  }
  return marked;
}
