/**
 * The congestion controller interface the TCP engine drives, and what every
 * controller shares (initial window, restart after idle).
 *
 * Read first: RFC 5681 (slow start, congestion avoidance, §3.2 fast
 * retransmit/recovery, §4.1 restart after idle), RFC 6928 (IW10), RFC 3465
 * (appropriate byte counting), RFC 9438 (CUBIC), RFC 6582 (NewReno recovery).
 *
 * Division of labour with the engine (src/tcp/):
 *  - The engine detects loss (three duplicate ACKs, SACK scoreboard, RTO) and
 *    tells the controller through onCongestionEvent / onRetransmitTimeout.
 *  - After onCongestionEvent, `cwnd` is the post-reduction window
 *    (ssthresh, at least 2 MSS). Window INFLATION during NewReno fast recovery
 *    (RFC 5681 §3.2 steps 3-4 "cwnd = ssthresh + 3*SMSS", "+ SMSS for each
 *    additional duplicate ACK", RFC 6582 §3.2 partial-ACK deflation) is done by
 *    the engine on its own copy; with SACK (RFC 6675) the engine uses `pipe`
 *    against `cwnd` and needs no inflation. The controller ignores onAck
 *    during recovery and resumes growth after onRecoveryEnd.
 *  - Karn's rule and RTT estimation live in rtt-estimator.ts; `rttMs` passed
 *    to onAck is the engine's current SRTT (undefined if none yet).
 *
 * Units: windows in bytes, times `now` in milliseconds (virtual or real).
 * `ssthresh` starts "arbitrarily high" (RFC 5681 §3.1) and is Infinity then.
 */

import type { RateSample } from './delivery-rate.js';

export type CongestionControlName = 'cubic' | 'newreno' | 'bbr';

export interface CongestionControl {
  readonly name: CongestionControlName;
  /** Congestion window in bytes (an integer >= 1 MSS). */
  readonly cwnd: number;
  /** Slow start threshold in bytes; Infinity until the first congestion signal. */
  readonly ssthresh: number;
  /** Whether onCongestionEvent was called and onRecoveryEnd not yet. */
  readonly inRecovery: boolean;
  /**
   * An ACK acknowledged `ackedBytes` new bytes (SND.UNA advanced). `bytesInFlight`
   * is the FlightSize when the ACK arrived, before removing the acknowledged
   * bytes; the window only grows while the sender uses at least half of it
   * (cwnd-limited, as Linux's tcp_is_cwnd_limited in slow start — RFC 9438
   * §4.6 asks for "measures to prevent cwnd from growing when the volume of
   * bytes in flight is smaller than cwnd"). Pass Infinity to skip that check.
   */
  onAck(ackedBytes: number, now: number, rttMs: number | undefined, bytesInFlight: number): void;
  /** Loss detected by duplicate ACKs or SACK: reduce, enter recovery. Once per recovery episode. */
  onCongestionEvent(now: number, bytesInFlight: number): void;
  /** Recovery finished (an ACK covered the recovery point). */
  onRecoveryEnd(now: number): void;
  /** The retransmission timer expired: cwnd = 1 MSS (loss window, RFC 5681 §3.1). */
  onRetransmitTimeout(now: number, bytesInFlight: number): void;
  /**
   * Call before sending new data after a pause. RFC 5681 §4.1: "if TCP has not
   * received a segment for more than one retransmission timeout, cwnd is
   * reduced to ... RW = min(IW, cwnd)". The controller compares `now` with the
   * last ACK it saw (or its creation) and does nothing if that is within rtoMs.
   */
  onIdle(now: number, rtoMs: number): void;
  /** The sender's MSS changed (negotiated, or path MTU). Windows keep their size in segments. */
  setMss(mss: number): void;
  /**
   * A restarted TCP server resumed the connection from its checkpoint: cwnd stays the
   * restart window, ssthresh is what the predecessor had learnt about the path (RFC 5681
   * §3.1: ssthresh is set "to the size of the flight when loss occurred"), so slow start
   * after the restart stops where the path's capacity was found instead of overshooting it.
   */
  resumeSsthresh(ssthresh: number): void;
  /**
   * The last onCongestionEvent / onRetransmitTimeout was spurious (D-SACKs showed
   * every retransmission arrived twice): restore the window from before it
   * (RFC 3708 §3 / RFC 4015, Linux's undo_cwnd) and leave recovery. Optional:
   * a controller without it keeps its reduced window.
   */
  undo?(now: number): void;
  /**
   * Rate-based controllers (BBR) only: the engine keeps a delivery rate
   * estimator (delivery-rate.ts) for the connection and calls onRateSample on
   * every ACK that delivered data, after onAck / onCongestionEvent /
   * onRecoveryEnd; `bytesInFlight` is the pipe after the ACK.
   */
  readonly wantsRateSamples?: boolean;
  onRateSample?(rs: RateSample, now: number, bytesInFlight: number): void;
  /**
   * Pacing rate in bytes per ms (undefined: no pacing; the engine then sends
   * as the windows allow). The engine spaces data segments by len / pacingRate.
   */
  readonly pacingRate?: number;
  /** With pacing, the largest burst to send at once (bytes, >= 1 MSS). */
  readonly sendQuantum?: number;
  /** The estimator found the sender application-limited (for the controller's own use). */
  setRateEstimator?(estimator: { markAppLimited(pipe: number): void }): void;
}

export interface CongestionControlOptions {
  /** Sender MSS in bytes (SMSS). */
  readonly mss: number;
  /** Initial window in segments; default 10 (RFC 6928). */
  readonly initialWindow?: number;
  /**
   * RFC 3465 §2.3's L: the most slow start grows per ACK, in segments (default 2).
   * 0 lifts the limit, as Linux's tcp_slow_start does: needed when the receiver
   * acknowledges merged (GRO) segments with one stretch ACK.
   */
  readonly abcLimit?: number;
  /** Time of creation, ms. */
  readonly now: number;
}

/**
 * RFC 6928 §2: "IW = min (10*MSS, max (2*MSS, 14600))". For another segment
 * count n we scale the byte cap the same way: min(n*MSS, max(2*MSS, n*1460)).
 */
export function initialWindowBytes(mss: number, segments: number): number {
  return Math.min(segments * mss, Math.max(2 * mss, segments * 1460));
}

export function checkOptions(o: CongestionControlOptions): void {
  if (!(Number.isInteger(o.mss) && o.mss > 0 && o.mss <= 0xffff)) {
    throw new RangeError(`congestion control: mss ${o.mss} must be an integer in [1, 65535]`);
  }
  const iw = o.initialWindow ?? 10;
  if (!(Number.isInteger(iw) && iw >= 1 && iw <= 1000)) {
    throw new RangeError(`congestion control: initialWindow ${iw} must be an integer in [1, 1000] segments`);
  }
}
