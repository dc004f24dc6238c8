/**
 * Segment arrival for a connection that exists (gVisor rcv.go / connect.go):
 * RFC 9293 §3.10.7.3 (SYN-SENT) and §3.10.7.4 (all other states), with PAWS
 * (RFC 7323 §5), the RFC 5961 RST/SYN/ACK checks, in-place reassembly into
 * the receive ring, delayed ACKs and FIN handling. LISTEN is listener.ts.
 */
import { TcpFlag, type TcpSegment } from '../wire/tcp.js';
import { TcpEventType } from './config.js';
import type { EngineContext } from './context.js';
import { negotiateOptions } from './options.js';
import { output, sendChallengeAck, sendSegment, sendSyn } from './output.js';
import { processAck, rttSample } from './recovery.js';
import { seqAdd, seqDiff, seqGe, seqGt, seqLe, seqLt } from './seqnum.js';
import { TcpState } from './state.js';
import type { Tcb } from './tcb.js';

/** RFC 7323 §5.5: TS.Recent older than 24 days is invalid for PAWS. */
const PAWS_IDLE_MS = 24 * 24 * 3600 * 1000;
/** Linux sysctl tcp_invalid_ratelimit: at most one reply per this many ms to unacceptable pure ACKs. */
const OOW_ACK_REPLY_MS = 500;

export function segmentArrives(ctx: EngineContext, t: Tcb, seg: TcpSegment, now: number): void {
  if (t.state === TcpState.SynSent) synSent(ctx, t, seg, now);
  else synchronized(ctx, t, seg, now);
  if (t.state !== TcpState.Closed) output(ctx, t, now);
}

/** Reply <SEQ=SEG.ACK><CTL=RST> from within a connection. */
function rstForAck(ctx: EngineContext, t: Tcb, seg: TcpSegment, now: number): void {
  ctx.counters.rstsOut++;
  sendSegment(ctx, t, TcpFlag.RST, seg.ack, 0, now);
}

/** The connection failed: report, and go to CLOSED. */
export function connectionError(ctx: EngineContext, t: Tcb, code: 'ECONNREFUSED' | 'ECONNRESET' | 'ETIMEDOUT' | 'EHOSTUNREACH'): void {
  if (code === 'ECONNRESET' || code === 'ECONNREFUSED') ctx.counters.connectionsReset++;
  if (code === 'ETIMEDOUT') ctx.counters.connectionsTimedOut++;
  // A passive connection nobody accepted yet disappears silently (back to LISTEN).
  const visible = t.listenerId < 0 || t.accepted;
  t.state = TcpState.Closed;
  if (visible) ctx.emit(TcpEventType.Error, t.id, code);
  ctx.connectionClosed(t);
}

function establish(ctx: EngineContext, t: Tcb, seg: TcpSegment, now: number): void {
  t.state = TcpState.Established;
  t.sndBufSeq = seqAdd(t.iss, 1);
  // RFC 7323 §2.2: the window of a <SYN> or <SYN,ACK> is never scaled; later ones are.
  const scaled = (seg.flags & TcpFlag.SYN) === 0;
  t.sndWnd = scaled ? seg.window * 2 ** t.sndWndScale : seg.window;
  t.maxSndWnd = t.sndWnd;
  t.sndWl1 = seg.seq;
  t.sndWl2 = seg.ack;
  t.cc.setMss(t.sndMss);
  t.scoreboard.setMss(t.sndMss);
  // Karn: the SYN exchange gives an RTT sample only if nothing was retransmitted.
  if (t.retries === 0 && t.rttTime >= 0) rttSample(t, now - t.rttTime);
  // RFC 6298 §5.7: "if the timer expires awaiting the ACK of a SYN segment ... the RTO
  // MUST be re-initialized to 3 seconds when data transmission begins".
  else if (t.retries > 0 && t.rtt.rto < 3000) t.rtt.reinitialize(3000);
  t.rttTime = -1;
  t.retries = 0;
  t.rtoAt = Infinity;
  t.lastProgress = now;
  t.recover = t.iss;
  armKeepalive(t, now);
  ctx.timersChanged(t);
}

export function armKeepalive(t: Tcb, now: number): void {
  t.keepaliveProbes = 0;
  t.keepaliveAt = t.opts.keepAliveIdle > 0 ? now + t.opts.keepAliveIdle : Infinity;
}

/** RFC 9293 §3.10.7.3. */
function synSent(ctx: EngineContext, t: Tcb, seg: TcpSegment, now: number): void {
  const f = seg.flags;
  const hasAck = (f & TcpFlag.ACK) !== 0;
  // "If SEG.ACK =< ISS or SEG.ACK > SND.NXT, send a reset (unless the RST bit is set)"
  if (hasAck && (seqLe(seg.ack, t.iss) || seqGt(seg.ack, t.sndMax))) {
    ctx.counters.dropBadAck++;
    if ((f & TcpFlag.RST) === 0) rstForAck(ctx, t, seg, now);
    return;
  }
  if ((f & TcpFlag.RST) !== 0) {
    // "If the ACK was acceptable, then signal to the user 'error: connection reset',
    // drop the segment, enter CLOSED state" — a refused connection. Else drop.
    if (hasAck) connectionError(ctx, t, 'ECONNREFUSED');
    return;
  }
  if ((f & TcpFlag.SYN) === 0) return;
  t.irs = seg.seq;
  // Our SYN offered RCV.ADV - RCV.NXT (RCV.NXT was not known then): the same
  // window now starts at IRS + 1. Left relative to the old RCV.NXT, RCV.ADV
  // would be a random distance from the real one (a closed or bogus window).
  const offered = Math.max(0, seqDiff(t.rcvAdv, t.rcvNxt));
  t.rcvNxt = seqAdd(seg.seq, 1);
  t.rcvAdv = seqAdd(t.rcvNxt, offered);
  t.lastAckSent = t.rcvNxt;
  negotiateOptions(t, seg);
  if (t.tsEnabled) t.tsRecentAge = now;
  if (hasAck) {
    t.sndUna = seg.ack;
    establish(ctx, t, seg, now);
    t.ackNow = true;
    ctx.emit(TcpEventType.Connected, t.id);
    return;
  }
  // Simultaneous open: "enter SYN-RECEIVED, form a SYN,ACK segment and send it".
  t.state = TcpState.SynReceived;
  t.offeredWscale = t.offeredWscale && t.opts.windowScaling;
  sendSyn(ctx, t, now);
}

/**
 * A reordered duplicate ACK that PAWS alone would drop, accepted the way Linux
 * accepts it (tcp_disordered_ack in net/ipv4/tcp_input.c). Pure ACKs of a
 * receiver all carry the same SEG.SEQ, so TS.Recent follows whichever arrived
 * last and an ACK overtaken on the path fails R1 (RFC 7323 §5.3) although it
 * is no old duplicate from a wrapped sequence space: dropping it loses the
 * duplicate-ACK count and SACK blocks loss recovery runs on. Accepted when:
 *   1. it is a pure ACK (no data, SYN, FIN or RST);
 *   2. SEG.SEQ = RCV.NXT (nothing newer from the peer came since);
 *   3. SEG.ACK = SND.UNA (a duplicate ACK: it acknowledges nothing new);
 *   4. it would not update the send window by the rules Linux uses
 *      (SEG.SEQ not after SND.WL1; at SND.WL1 neither a larger nor a zero window),
 *      and the caller leaves the window alone;
 *   5. its TSval is behind TS.Recent by at most 1.2 RTO worth of ticks. Like
 *      Linux we count the peer's ticks as ms (RFC 7323 §5.4 allows 1 ms-1 s per
 *      tick; a slower clock only makes the window wider in time).
 */
function isDisorderedAck(t: Tcb, seg: TcpSegment): boolean {
  const f = seg.flags;
  if ((f & TcpFlag.ACK) === 0 || (f & (TcpFlag.SYN | TcpFlag.FIN | TcpFlag.RST)) !== 0 || seg.payloadLen !== 0) return false;
  if (seg.seq !== t.rcvNxt || seg.ack !== t.sndUna) return false;
  const wnd = seg.window * 2 ** t.sndWndScale;
  if (seqGt(seg.seq, t.sndWl1) || (seg.seq === t.sndWl1 && (wnd > t.sndWnd || wnd === 0))) return false;
  return seqDiff(t.tsRecent, seg.tsVal) <= t.rtt.rto * 1.2;
}

/**
 * May an unacceptable segment (PAWS or out of window) get its ACK in reply now?
 * Always for data, SYN and FIN; for a pure ACK at most once per
 * OOW_ACK_REPLY_MS per connection, as Linux (tcp_oow_rate_limited,
 * tcp_invalid_ratelimit): two stacks answering each other's pure ACKs would
 * loop, and reordered old ACKs need no answer. A keepalive probe (a pure ACK
 * below the window) still gets one: probes come far less often.
 */
function replyAllowed(t: Tcb, seg: TcpSegment, now: number): boolean {
  if (seg.payloadLen > 0 || (seg.flags & (TcpFlag.SYN | TcpFlag.FIN)) !== 0) return true;
  if (now - t.oowAckReplyAt < OOW_ACK_REPLY_MS) return false;
  t.oowAckReplyAt = now;
  return true;
}

/** RFC 9293 §3.10.7.4 segment acceptability, on the window we advertised. */
function acceptable(t: Tcb, seg: TcpSegment, segLen: number): boolean {
  const wnd = Math.max(0, seqDiff(t.rcvAdv, t.rcvNxt));
  const seq = seg.seq;
  if (segLen === 0) {
    if (wnd === 0) return seq === t.rcvNxt;
    return seqLe(t.rcvNxt, seq) && seqLt(seq, seqAdd(t.rcvNxt, wnd));
  }
  if (wnd === 0) return false;
  const last = seqAdd(seq, segLen - 1);
  const end = seqAdd(t.rcvNxt, wnd);
  return (seqLe(t.rcvNxt, seq) && seqLt(seq, end)) || (seqLe(t.rcvNxt, last) && seqLt(last, end));
}

function synchronized(ctx: EngineContext, t: Tcb, seg: TcpSegment, now: number): void {
  const f = seg.flags;
  const rst = (f & TcpFlag.RST) !== 0;
  t.lastRecv = now;
  if (t.keepaliveAt !== Infinity || t.keepaliveProbes > 0) {
    armKeepalive(t, now);
    ctx.timersChanged(t);
  }
  // RFC 7323 §5.3 R1 (PAWS), before the sequence check.
  let updateWindow = true;
  if (t.tsEnabled && seg.hasTimestamp && !rst && seqLt(seg.tsVal, t.tsRecent) && now - t.tsRecentAge < PAWS_IDLE_MS) {
    if (!isDisorderedAck(t, seg)) {
      ctx.counters.dropPaws++;
      // R1: "Send an acknowledgement in reply" (for pure ACKs rate-limited, see replyAllowed):
      // on a reordering path these are mostly old ACKs (SEG.ACK < SND.UNA) that need no answer.
      if (replyAllowed(t, seg, now)) t.ackNow = true;
      else ctx.counters.pawsAcksNotAnswered++;
      return;
    }
    // Kept for its duplicate-ACK and SACK information; its stale window is not used.
    ctx.counters.pawsDisorderedAcks++;
    updateWindow = false;
  }
  if ((f & TcpFlag.SYN) !== 0 && seg.seq === t.irs) {
    if (t.state === TcpState.SynReceived && (f & TcpFlag.ACK) === 0) {
      // The peer repeats its SYN (our SYN-ACK was lost): repeat the SYN-ACK.
      sendSyn(ctx, t, now);
      return;
    }
    // A repeated SYN-ACK, or the SYN-ACK of a simultaneous open: the SYN is old
    // (RFC 9293 §3.10.7.4: "only the new parts should be processed"), keep the rest.
    seg.flags = f & ~TcpFlag.SYN;
    seg.seq = seqAdd(seg.seq, 1);
    synchronized(ctx, t, seg, now);
    return;
  }
  const segLen = seg.payloadLen + ((f & TcpFlag.SYN) !== 0 ? 1 : 0) + ((f & TcpFlag.FIN) !== 0 ? 1 : 0);
  if (!acceptable(t, seg, segLen)) {
    // TIME-WAIT: a retransmitted FIN is answered (and restarts the 2 MSL wait) below.
    ctx.counters.dropOutOfWindow++;
    // RFC 2883 §4: data wholly below RCV.NXT arrived twice: report it in a D-SACK block.
    if (!rst && seg.payloadLen > 0 && seqLe(seqAdd(seg.seq, seg.payloadLen), t.rcvNxt)) noteDuplicate(t, seg.seq, seqAdd(seg.seq, seg.payloadLen));
    if (!rst) {
      if (replyAllowed(t, seg, now)) t.ackNow = true;
      else ctx.counters.outOfWindowAcksNotAnswered++;
      if (t.state === TcpState.TimeWait && (f & TcpFlag.FIN) !== 0) t.closeAt = now + 2 * ctx.config.msl;
    }
    return;
  }
  // RFC 7323 §4.3: TS.Recent is updated from segments that cover Last.ACK.sent.
  if (t.tsEnabled && seg.hasTimestamp && seqGe(seg.tsVal, t.tsRecent) && seqLe(seg.seq, t.lastAckSent)) {
    t.tsRecent = seg.tsVal;
    t.tsRecentAge = now;
  }
  if (rst) {
    // RFC 5961 §3.2: reset only on an exact match; in-window otherwise gets a challenge ACK.
    if (seg.seq !== t.rcvNxt) {
      sendChallengeAck(ctx, t, now);
      return;
    }
    switch (t.state) {
      case TcpState.SynReceived:
        connectionError(ctx, t, t.listenerId >= 0 ? 'ECONNRESET' : 'ECONNREFUSED');
        return;
      case TcpState.Established: case TcpState.FinWait1: case TcpState.FinWait2: case TcpState.CloseWait:
        connectionError(ctx, t, 'ECONNRESET');
        return;
      default:
        // CLOSING, LAST-ACK, TIME-WAIT: "enter the CLOSED state, delete the TCB, and return".
        t.state = TcpState.Closed;
        ctx.connectionClosed(t);
        return;
    }
  }
  if ((f & TcpFlag.SYN) !== 0) {
    // RFC 5961 §4.2: a SYN in a synchronized state gets a challenge ACK, whatever its sequence number.
    sendChallengeAck(ctx, t, now);
    return;
  }
  if ((f & TcpFlag.ACK) === 0) return; // "if the ACK bit is off, drop the segment and return"
  if (t.state === TcpState.SynReceived) {
    // "If SND.UNA < SEG.ACK =< SND.NXT, then enter ESTABLISHED state"; else <SEQ=SEG.ACK><CTL=RST>.
    if (!(seqLt(t.sndUna, seg.ack) && seqLe(seg.ack, t.sndMax))) {
      ctx.counters.dropBadAck++;
      rstForAck(ctx, t, seg, now);
      return;
    }
    t.sndUna = seg.ack;
    if (seqLt(t.sndNxt, t.sndUna)) t.sndNxt = t.sndUna;
    establish(ctx, t, seg, now);
    if (t.listenerId >= 0) ctx.passiveEstablished(t);
    else ctx.emit(TcpEventType.Connected, t.id);
    if (t.finQueued) t.state = TcpState.FinWait1; // close() while still SYN-RECEIVED
  } else {
    if (!processAck(ctx, t, seg, now, updateWindow)) return;
    if (t.persisting && t.sndWnd > 0) {
      t.persisting = false;
      t.persistBackoff = 0;
      t.rtoAt = Infinity;
    }
    t.persistProbes = 0;
    const finAcked = t.finQueued && t.sndUna === seqAdd(t.finSeq, 1);
    switch (t.state) {
      case TcpState.FinWait1:
        if (finAcked) {
          t.state = TcpState.FinWait2;
          // Linux tcp_fin_timeout: an orphaned FIN-WAIT-2 does not wait forever.
          if (t.released) t.closeAt = now + 2 * ctx.config.msl;
        }
        break;
      case TcpState.Closing:
        if (finAcked) enterTimeWait(ctx, t, now);
        return;
      case TcpState.LastAck:
        if (finAcked) {
          t.state = TcpState.Closed;
          ctx.emit(TcpEventType.Closed, t.id);
          ctx.connectionClosed(t);
        }
        return;
      default:
        break;
    }
  }
  if (seg.payloadLen > 0) {
    if (t.state === TcpState.Established || t.state === TcpState.FinWait1 || t.state === TcpState.FinWait2) {
      receiveData(ctx, t, seg, now);
    } else {
      t.ackNow = true; // data after the peer's FIN: RFC 9293 "ignore the segment text"
    }
  }
  if ((f & TcpFlag.FIN) !== 0) {
    if (t.state === TcpState.TimeWait) {
      // Retransmitted FIN: acknowledge it and restart the 2 MSL timeout.
      t.ackNow = true;
      t.closeAt = now + 2 * ctx.config.msl;
      ctx.timersChanged(t);
      return;
    }
    if (!t.rcvFinKnown && (t.state === TcpState.Established || t.state === TcpState.FinWait1 || t.state === TcpState.FinWait2 || t.state === TcpState.SynReceived)) {
      t.rcvFinKnown = true;
      t.rcvFinSeq = seqAdd(seg.seq, seg.payloadLen);
      // A FIN beyond a hole is out-of-order data too: ACK at once (RFC 5681 §4.2).
      if (t.rcvNxt !== t.rcvFinSeq) t.ackNow = true;
    }
  }
  if (t.rcvFinKnown && t.rcvNxt === t.rcvFinSeq) processFin(ctx, t, now);
}

function enterTimeWait(ctx: EngineContext, t: Tcb, now: number): void {
  if (!ctx.admitTimeWait(t)) {
    // Too many wait already (Linux tcp_max_tw_buckets): send the ACK the peer's FIN is
    // owed, then close without waiting.
    if (t.ackNow) output(ctx, t, now);
    t.state = TcpState.Closed;
    ctx.emit(TcpEventType.Closed, t.id);
    ctx.connectionClosed(t);
    return;
  }
  t.state = TcpState.TimeWait;
  t.rtoAt = Infinity;
  t.persisting = false;
  t.keepaliveAt = Infinity;
  t.closeAt = now + 2 * ctx.config.msl;
  ctx.timersChanged(t);
  ctx.emit(TcpEventType.Closed, t.id);
}

/** RFC 9293 §3.10.7.4 "eighth, check the FIN bit", once all data before it is in. */
function processFin(ctx: EngineContext, t: Tcb, now: number): void {
  t.rcvFinKnown = false;
  t.rcvNxt = seqAdd(t.rcvNxt, 1);
  t.ackNow = true;
  if (!t.endReported) {
    t.endReported = true;
    ctx.emit(TcpEventType.End, t.id);
  }
  switch (t.state) {
    case TcpState.SynReceived:
    case TcpState.Established:
      t.state = TcpState.CloseWait;
      break;
    case TcpState.FinWait1:
      if (t.sndUna === seqAdd(t.finSeq, 1)) enterTimeWait(ctx, t, now);
      else t.state = TcpState.Closing;
      break;
    case TcpState.FinWait2:
      enterTimeWait(ctx, t, now);
      break;
    default:
      break;
  }
}

/** Place segment text in the receive ring: in order at the tail, out of order at its offset. */
function receiveData(ctx: EngineContext, t: Tcb, seg: TcpSegment, now: number): void {
  let seq = seg.seq;
  let off = seg.headerLen;
  let len = seg.payloadLen;
  const d = seqDiff(t.rcvNxt, seq);
  if (d > 0) {
    // Already received in part: keep only the new bytes, report the old ones (RFC 2883 §4).
    noteDuplicate(t, seq, seqAdd(seq, Math.min(d, len)));
    off += d;
    len -= d;
    seq = t.rcvNxt;
    if (len <= 0) {
      t.ackNow = true;
      return;
    }
  }
  // Trim to the space the ring has (at least the window we advertised).
  const offset = seqDiff(seq, t.rcvNxt);
  const room = t.recvBuf.freeSpace() - offset;
  if (len > room) {
    len = room;
    t.rcvFinKnown = false;
    if (len <= 0) {
      ctx.counters.dropNoRoom++;
      t.ackNow = true;
      return;
    }
  }
  const bytes = seg.bytes.subarray(off, off + len);
  if (offset === 0) {
    const hadHoles = !t.ooo.isEmpty();
    const written = t.recvBuf.writeAt(0, bytes);
    let advance = written;
    if (hadHoles) {
      t.ooo.add(0, written);
      advance = t.ooo.popFront();
    }
    t.recvBuf.advanceTail(advance);
    t.rcvNxt = seqAdd(t.rcvNxt, advance);
    ctx.emit(TcpEventType.Readable, t.id);
    // RFC 9293 §3.8.6.3 / RFC 5681 §4.2: ACK at least every second full-sized
    // segment, within the delayed-ACK bound; at once when a hole was filled. Counted
    // in bytes too: a merged packet or super-frame (GRO, a peer's TSO over a TAP) of
    // two or more full segments is acknowledged at once, as Linux does — it would
    // otherwise wait for a second one or the delayed-ACK timer.
    if (hadHoles) {
      t.ackNow = true;
    } else if (++t.ackPending >= 2 || len >= 2 * t.advMss) {
      t.ackNow = true;
    } else if (t.delackAt === Infinity) {
      t.delackAt = now + t.opts.delayedAckMs;
      ctx.timersChanged(t);
    }
    return;
  }
  const dup = t.ooo.firstOverlap(offset, offset + len);
  if (dup >= 0) noteDuplicate(t, seqAdd(t.rcvNxt, dup), seqAdd(t.rcvNxt, t.ooo.overlapEnd));
  if (!t.ooo.add(offset, len)) {
    ctx.counters.dropOooLimit++;
    t.ackNow = true;
    return;
  }
  t.recvBuf.writeAt(offset, bytes);
  // RFC 5681 §4.2: "an immediate ACK when an out-of-order segment arrives".
  t.ackNow = true;
}

/**
 * A duplicate of [start, end) arrived: with SACK, the next ACK reports it as a
 * D-SACK block (RFC 2883 §4: "the first SACK block ... MUST specify the
 * contiguous block of data in the received packet that triggered this ACK",
 * here the first duplicate part), so the sender can tell a spurious
 * retransmission. The ACK goes at once.
 */
function noteDuplicate(t: Tcb, start: number, end: number): void {
  if (!t.sackEnabled || !seqGt(end, start)) return;
  t.dsackPending = true;
  t.dsackStart = start;
  t.dsackEnd = end;
  t.ackNow = true;
}
