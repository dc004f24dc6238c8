/**
 * The engine's side of delivery rate estimation (congestion/delivery-rate.ts)
 * for controllers that run on rate samples (BBR): what each transmission and
 * each ACK tell the estimator, taken from the control block and the SACK
 * scoreboard. Only connections whose controller wants samples (Tcb.rate) pay
 * for any of it.
 */
import { pipeBytes } from './recovery.js';
import { seqDiff, seqLt } from './seqnum.js';
import type { Tcb } from './tcb.js';

/** A data segment [seq, seq+len) is being transmitted now (sendSegment). */
export function rateOnSend(t: Tcb, seq: number, len: number, now: number): void {
  t.rate!.onSend(seq, len, now, t.sndMax === t.sndUna, seqLt(seq, t.sndMax));
}

/**
 * An acceptable ACK was processed (processAck): C.delivered is the data below
 * SND.UNA plus what is SACKed above it. Feeds the sample to the controller.
 */
export function rateOnAck(t: Tcb, now: number): void {
  const rate = t.rate!;
  const sb = t.scoreboard;
  const sacked = t.sackEnabled ? sb.sackedBytes : 0;
  const total = seqDiff(t.sndUna, t.iss) + sacked;
  const rs = rate.onAck(now, t.sndUna, total, sacked > 0 ? (s, e) => sb.sackedIn(s, e) === seqDiff(e, s) : undefined);
  if (rs !== undefined) t.cc.onRateSample?.(rs, now, inFlight(t));
}

/** Bytes in flight: RFC 6675 pipe when SACK information or recovery makes it differ from SND.MAX - SND.UNA. */
function inFlight(t: Tcb): number {
  return t.inRecovery || (t.sackEnabled && t.scoreboard.sackedBytes > 0) ? pipeBytes(t) : seqDiff(t.sndMax, t.sndUna);
}

/**
 * Output stopped with the windows open: if it was for lack of data, the
 * sender is application-limited (draft-cheng-iccrg-delivery-rate-estimation §3.3).
 */
export function rateOnOutputStopped(t: Tcb): void {
  const unsent = t.sendBuf.available() - seqDiff(t.sndNxt, t.sndBufSeq);
  if (unsent >= t.sndMss) return;
  t.rate!.checkAppLimited(unsent, t.sndMss, inFlight(t), t.cc.cwnd, t.inRecovery);
}
