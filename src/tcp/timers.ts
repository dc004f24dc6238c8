/**
 * Per-connection timers (gVisor timer.go): retransmission with back-off
 * (RFC 6298 §5), SYN/SYN-ACK retransmission, the persist timer with zero-window
 * probes (RFC 9293 §3.8.6.1), delayed ACK (§3.8.6.3), keepalive (§3.8.4), user
 * timeout (RFC 9293 §3.8.3, RFC 5482), TIME-WAIT and orphaned FIN-WAIT-2.
 *
 * Each timer is an absolute deadline in the control block (Infinity = off); the
 * heap (timer-heap.ts) only decides when to call `connectionTimer`.
 */
import { TcpFlag } from '../wire/tcp.js';
import { TcpEventType } from './config.js';
import type { EngineContext } from './context.js';
import { connectionError } from './input.js';
import { markRetransmit, output, sendSegment, sendSyn } from './output.js';
import { rackEnterRecovery, startUndoEpisode } from './recovery.js';
import { rackDetectLoss, rackReset } from './rack.js';
import { tailLossProbe } from './tlp.js';
import { seqAdd, seqDiff } from './seqnum.js';
import { TcpState } from './state.js';
import type { Tcb } from './tcb.js';

/** The earliest deadline of t. */
export function nextDeadline(t: Tcb): number {
  return Math.min(t.rtoAt, t.delackAt, t.keepaliveAt, t.closeAt, t.paceAt, t.ptoAt, t.rackAt);
}

export function connectionTimer(ctx: EngineContext, t: Tcb, now: number): void {
  if (t.closeAt <= now) {
    t.closeAt = Infinity;
    if (t.state === TcpState.TimeWait || t.state === TcpState.FinWait2) {
      const wasTimeWait = t.state === TcpState.TimeWait;
      t.state = TcpState.Closed;
      if (!wasTimeWait) ctx.emit(TcpEventType.Closed, t.id);
      ctx.connectionClosed(t);
      return;
    }
  }
  if (t.rtoAt <= now) {
    t.rtoAt = Infinity;
    retransmitTimeout(ctx, t, now);
    if (t.state === TcpState.Closed) return;
  }
  if (t.ptoAt <= now) {
    t.ptoAt = Infinity;
    tailLossProbe(ctx, t, now);
  }
  if (t.rackAt <= now) {
    // RFC 8985 §6.3: the reordering timer; whatever it marks lost goes out below.
    t.rackAt = Infinity;
    if (rackDetectLoss(ctx, t, now)) rackEnterRecovery(ctx, t, now);
  }
  // The pace timer (pacing.ts) only lets output run again, below.
  if (t.paceAt <= now) t.paceAt = Infinity;
  if (t.delackAt <= now) {
    t.delackAt = Infinity;
    if (t.ackPending > 0) {
      ctx.counters.delayedAcks++;
      t.ackNow = true;
    }
  }
  if (t.keepaliveAt <= now) {
    keepalive(ctx, t, now);
    if (t.state === TcpState.Closed) return;
  }
  output(ctx, t, now);
}

function retransmitTimeout(ctx: EngineContext, t: Tcb, now: number): void {
  if (t.persisting) {
    // Zero-window probe, as Linux (tcp_xmit_probe_skb): an ACK with SEG.SEQ = SND.UNA - 1
    // that the receiver must answer with its current window. Probing continues while
    // the peer answers; persistProbes is reset by every acceptable ACK.
    if (++t.persistProbes > ctx.config.dataRetries) {
      connectionError(ctx, t, 'ETIMEDOUT');
      return;
    }
    ctx.counters.zeroWindowProbes++;
    sendSegment(ctx, t, TcpFlag.ACK, seqAdd(t.sndUna, -1), 0, now);
    t.persistBackoff++;
    t.rtoAt = now + Math.min(ctx.config.maxRto, t.rtt.rto * 2 ** t.persistBackoff);
    ctx.timersChanged(t);
    return;
  }
  if (t.state === TcpState.SynSent || t.state === TcpState.SynReceived) {
    if (++t.retries > ctx.config.synRetries) {
      connectionError(ctx, t, 'ETIMEDOUT');
      return;
    }
    markRetransmit(ctx, t, now);
    ctx.counters.rtoTimeouts++;
    t.rtt.backoff();
    t.rttTime = -1;
    sendSyn(ctx, t, now);
    t.rtoAt = now + t.rtt.rto;
    ctx.timersChanged(t);
    return;
  }
  if (t.sndUna === t.sndMax) return;
  t.retries++;
  if (t.retries > ctx.config.dataRetries || (t.opts.userTimeout > 0 && now - t.lastProgress >= t.opts.userTimeout)) {
    connectionError(ctx, t, 'ETIMEDOUT');
    return;
  }
  ctx.counters.rtoTimeouts++;
  t.ptoAt = Infinity;
  t.tlpHighSeq = -1;
  // RFC 5681 eq. 4 and §3.1: ssthresh from the flight, cwnd = loss window (1 segment).
  t.cc.onRetransmitTimeout(now, seqDiff(t.sndMax, t.sndUna));
  // A second timeout for the same data continues the episode (its first reduction is the one to undo).
  if (!(t.undoActive && t.rtoEpisode)) startUndoEpisode(t, true);
  t.inRecovery = false;
  t.dupAcks = 0;
  // RFC 6582 §4: after a timeout, recover = highest sequence number transmitted.
  t.recover = t.sndMax;
  t.highRxt = t.sndUna;
  // RFC 6298 §5.5: back off the timer.
  t.rtt.backoff();
  t.rttTime = -1;
  // RFC 6675 §5.1: keep the SACK information, forget what was retransmitted.
  t.scoreboard.clearRetransmitted();
  t.scoreboard.clearLost();
  rackReset(t);
  t.rtxLog.length = 0;
  // Go back: resend from SND.UNA (output skips what the receiver SACKed).
  t.sndNxt = t.sndUna;
}

function keepalive(ctx: EngineContext, t: Tcb, now: number): void {
  if (t.state !== TcpState.Established && t.state !== TcpState.CloseWait) {
    t.keepaliveAt = Infinity;
    return;
  }
  if (t.sndMax !== t.sndUna) {
    // Data outstanding: the retransmission timer watches the peer.
    t.keepaliveAt = now + t.opts.keepAliveIdle;
    return;
  }
  if (t.keepaliveProbes >= t.opts.keepAliveCount) {
    connectionError(ctx, t, 'ETIMEDOUT');
    return;
  }
  // RFC 9293 §3.8.4: a probe is a segment with SEG.SEQ = SND.NXT - 1 and no data.
  ctx.counters.keepAliveProbes++;
  t.keepaliveProbes++;
  sendSegment(ctx, t, TcpFlag.ACK, seqAdd(t.sndNxt, -1), 0, now);
  t.keepaliveAt = now + t.opts.keepAliveInterval;
  ctx.timersChanged(t);
}
