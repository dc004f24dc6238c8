/**
 * Tail loss probe (RFC 8985 §7, without RACK): when the last segments of a flight are lost no
 * duplicate ACK comes and only the RTO (200 ms at least) would resend them. After
 * 2·SRTT without an ACK (plus a delayed ACK's worth when one segment is in flight)
 * the sender resends its most recent segment once; the ACK of that probe, with its
 * SACK, starts the ordinary recovery of whatever else was lost. A probe that repaired
 * a loss (its ACK came without a D-SACK for it) gets a congestion response (§7.4.2);
 * one the receiver already had (a D-SACK for it) gets none.
 */
import { TcpFlag } from '../wire/tcp.js';
import type { EngineContext } from './context.js';
import { markRetransmit, sendSegment } from './output.js';
import { seqDiff, seqGe, seqLe, seqLt } from './seqnum.js';
import type { Tcb } from './tcb.js';

/** RFC 8985 §7.2 WCDelAckT: the worst-case delayed ACK a lone segment may wait for. */
const WC_DEL_ACK_MS = 200;
/** Floor on the PTO (Linux TCP_TIMEOUT_MIN-like: timer granularity on a fast path). */
const MIN_PTO_MS = 10;

/**
 * §7.2's conditions, as Linux: SACK on, no probe out yet, and the connection "open": not in
 * a recovery or RTO episode or persisting, no duplicate ACK and no SACKed data (the losses
 * show already; recovery or the RTO deals with them).
 */
function probing(ctx: EngineContext, t: Tcb): boolean {
  return ctx.config.tlp && t.sackEnabled && !t.inRecovery && !t.rtoEpisode && !t.persisting && t.tlpHighSeq < 0
    && t.dupAcks === 0 && t.scoreboard.sackedBytes === 0;
}

/** Arms (or re-arms) the probe timeout after new data left or an ACK made progress. */
export function armPto(ctx: EngineContext, t: Tcb, now: number): void {
  if (t.sndUna === t.sndMax) {
    if (t.ptoAt !== Infinity) { t.ptoAt = Infinity; ctx.timersChanged(t); }
    return;
  }
  const srtt = t.rtt.srtt;
  // §7.2: not during a recovery or RTO episode, with one probe outstanding at most, and with SACK.
  if (srtt === undefined || !probing(ctx, t)) {
    t.ptoAt = Infinity;
    return;
  }
  let pto = 2 * srtt;
  if (seqDiff(t.sndMax, t.sndUna) <= t.sndMss) pto += WC_DEL_ACK_MS;
  pto = Math.max(pto, MIN_PTO_MS);
  // The RTO comes first anyway: leave it alone.
  if (now + pto >= t.rtoAt) { t.ptoAt = Infinity; return; }
  t.ptoAt = now + pto;
  ctx.timersChanged(t);
}

/** The probe timeout fired: resend the most recent segment (§7.3), then wait for the RTO. */
export function tailLossProbe(ctx: EngineContext, t: Tcb, now: number): void {
  if (t.sndUna === t.sndMax || !probing(ctx, t)) return;
  const dataEnd = (t.sndBufSeq + t.sendBuf.available()) >>> 0;
  // The data end as sent: SND.MAX less the FIN if it went.
  const finSent = t.finQueued && seqLt(t.finSeq, t.sndMax);
  const sentEnd = finSent ? t.finSeq : (seqLt(dataEnd, t.sndMax) ? dataEnd : t.sndMax);
  const len = Math.min(t.sndMss, Math.max(0, seqDiff(sentEnd, t.sndUna)));
  const seq = (sentEnd - len) >>> 0;
  let flags = TcpFlag.ACK;
  if (finSent) flags |= TcpFlag.FIN;
  if (len === 0 && !finSent) return;
  if (!sendSegment(ctx, t, flags, seq, len, now)) return;
  markRetransmit(ctx, t, now, Math.max(1, len));
  t.rttTime = -1; // Karn
  t.tlpHighSeq = t.sndMax;
  t.tlpDsacked = false;
  ctx.counters.tlpProbes++;
  t.rtoAt = now + t.rtt.rto;
  ctx.timersChanged(t);
}

/** A D-SACK arrived: if it covers the probe, the probe was not needed (§7.4.1). */
export function tlpOnDsack(t: Tcb, end: number): void {
  if (t.tlpHighSeq >= 0 && seqLe(end, t.tlpHighSeq) && seqGe(end, (t.tlpHighSeq - t.sndMss - 1) >>> 0)) t.tlpDsacked = true;
}

/**
 * The cumulative ACK reached SND.MAX as of the probe: the episode ends. Without a D-SACK
 * for the probe, the probe repaired a loss: respond as a recovery would (§7.4.2).
 */
export function tlpOnAck(ctx: EngineContext, t: Tcb, ack: number, now: number): void {
  if (t.tlpHighSeq < 0 || seqLt(ack, t.tlpHighSeq)) return;
  const repaired = !t.tlpDsacked;
  t.tlpHighSeq = -1;
  if (!repaired) return;
  ctx.counters.tlpRecoveries++;
  // As Linux (tcp_process_tlp_ack): a window reduction from the current window.
  t.cc.onCongestionEvent(now, t.cc.cwnd);
  t.cc.onRecoveryEnd(now);
}
