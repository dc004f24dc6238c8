/**
 * CUBIC congestion control, RFC 9438.
 *
 * Read first: RFC 9438 §4 (the algorithm: §4.2 window increase function, §4.3
 * Reno-friendly region, §4.4-4.5 concave/convex, §4.6 multiplicative decrease,
 * §4.7 fast convergence, §4.8 timeout, §4.10 slow start), then
 * congestion-control.ts for what the engine does around it.
 *
 * The RFC's formulas are in segments and seconds; the window is kept in bytes
 * and converted (W = cwnd / MSS), and `now` (ms) is converted to seconds.
 *
 * Not done: HyStart++ (RFC 9406). RFC 9438 §4.10: CUBIC "SHOULD use the
 * HyStart++ slow start algorithm [RFC9406] or MAY use the Reno TCP slow start
 * algorithm [RFC5681]"; we use the latter (with RFC 3465 byte counting, L=2).
 * Not done either: spurious congestion event undo (§4.9) and ECN (§4.6's
 * cwnd >= 1 SMSS case).
 */
import type { CongestionControlOptions } from './congestion-control.js';
import { LossBasedControl } from './loss-based.js';

/** RFC 9438 §5: C = 0.4 (segments/s^3). */
export const CUBIC_C = 0.4;
/** RFC 9438 §4.6: beta_cubic = 0.7. */
export const CUBIC_BETA = 0.7;
/** RFC 9438 §4.3: alpha_cubic = 3 * (1 - beta_cubic) / (1 + beta_cubic). */
export const CUBIC_ALPHA = (3 * (1 - CUBIC_BETA)) / (1 + CUBIC_BETA);

export interface CubicOptions extends CongestionControlOptions {
  /** RFC 9438 §4.7 fast convergence; default true. */
  readonly fastConvergence?: boolean;
}

export class Cubic extends LossBasedControl {
  readonly name = 'cubic' as const;
  protected readonly beta = CUBIC_BETA;
  private readonly fastConvergence: boolean;
  private lastRttMs: number | undefined;
  // RFC 9438 state, in segments and seconds.
  /** W_max: window before the last reduction (undefined before any congestion event). */
  private wMax: number | undefined;
  /** W_max before the last reduction (undo). */
  private priorWMax: number | undefined;
  /** cwnd_prior: window when ssthresh was last set (for the §4.3 alpha switch). */
  private cwndPrior = 0;
  /** Start of the current congestion avoidance stage (ms), undefined outside one. */
  private epochStart: number | undefined;
  private k = 0;
  private wEst = 0;
  /** The next congestion avoidance stage follows a timeout (§4.8: K = 0, W_max = cwnd_epoch). */
  private afterTimeout = false;

  constructor(options: CubicOptions) {
    super(options);
    this.fastConvergence = options.fastConvergence ?? true;
  }

  get cwnd(): number {
    return Math.max(this.mss, Math.floor(this.cwndBytes));
  }

  /** W_max in segments (diagnostics, tests). */
  get wMaxSegments(): number | undefined {
    return this.wMax;
  }

  /** K in seconds of the current congestion avoidance stage (diagnostics, tests). */
  get kSeconds(): number {
    return this.k;
  }

  /** W_est in segments (diagnostics, tests). */
  get wEstSegments(): number {
    return this.wEst;
  }

  /** RFC 9438 eqn 1: W_cubic(t) = C*(t-K)^3 + W_max, t in seconds. */
  wCubic(tSeconds: number): number {
    const d = tSeconds - this.k;
    return CUBIC_C * d * d * d + (this.wMax ?? 0);
  }

  override onAck(ackedBytes: number, now: number, rttMs: number | undefined, bytesInFlight: number): void {
    if (rttMs !== undefined && rttMs >= 0) this.lastRttMs = rttMs;
    super.onAck(ackedBytes, now, rttMs, bytesInFlight);
  }

  protected override appLimited(gapMs: number): void {
    // Application-limited: no growth, and (RFC 9438 §5.8) the time spent here
    // should not count towards t, so push the epoch forward by this gap.
    if (this.epochStart !== undefined) this.epochStart += Math.max(0, gapMs);
  }

  protected congestionAvoidance(ackedBytes: number, now: number): void {
    let w = this.cwndBytes / this.mss;
    if (this.epochStart === undefined) this.startEpoch(now, w);
    const t = (now - this.epochStart!) / 1000;
    const segmentsAcked = ackedBytes / this.mss;
    // §4.3: "W_est = W_est + alpha_cubic * segments_acked / cwnd" and "Once W_est has
    // grown to reach the cwnd at the time of most recently setting ssthresh ... the
    // sender SHOULD set alpha_cubic to 1".
    const alpha = this.wEst >= this.cwndPrior ? 1 : CUBIC_ALPHA;
    this.wEst += (alpha * segmentsAcked) / w;
    if (this.wCubic(t) < this.wEst) {
      // §4.3: "If W_cubic(t) is less than W_est, then the sender is in the
      // Reno-friendly region and SHOULD set cwnd to W_est."
      w = this.wEst;
    } else {
      // §4.4/4.5: target = W_cubic(t + RTT) clamped to [cwnd, 1.5*cwnd]; "cwnd
      // MUST be incremented by (target - cwnd)/cwnd for each received new ACK"
      // (per segment acknowledged, since we count bytes).
      const rtt = (this.lastRttMs ?? 0) / 1000;
      const target = Math.min(1.5 * w, Math.max(w, this.wCubic(t + rtt)));
      w += ((target - w) / w) * segmentsAcked;
    }
    this.cwndBytes = w * this.mss;
  }

  private startEpoch(now: number, w: number): void {
    this.epochStart = now;
    // §4.3: "W_est is set equal to cwnd_epoch at the start of the congestion avoidance stage."
    this.wEst = w;
    if (this.afterTimeout || this.wMax === undefined || this.wMax <= w) {
      // §4.8: after a timeout "K is set to 0, and W_max is set to the congestion
      // window size at the beginning of the current congestion avoidance stage".
      // Also when already above W_max (as Linux does): the curve starts convex at w.
      this.wMax = w;
      this.k = 0;
    } else {
      // §4.2 eqn 2: "K = cubic_root((W_max - cwnd_epoch) / C)".
      this.k = Math.cbrt((this.wMax - w) / CUBIC_C);
    }
    this.afterTimeout = false;
  }

  protected override remember(timeout: boolean): void {
    this.priorWMax = this.wMax;
    this.cwndPrior = this.cwndBytes / this.mss;
    // §4.7: "if cwnd < W_max and fast convergence enabled, further reduce W_max:
    // W_max = cwnd * (1 + beta_cubic) / 2; otherwise, remember cwnd before reduction:
    // W_max = cwnd". After a timeout, §4.8 sets W_max when the next stage starts.
    // §4.6: "ssthresh = flight_size * beta_cubic", "cwnd = max(ssthresh, 2)" (segments),
    // "ssthresh = max(ssthresh, 2)" (loss-based.ts); §4.8: "In the case of a timeout,
    // CUBIC follows Reno to reduce cwnd [RFC5681] but sets ssthresh using beta_cubic".
    if (timeout) return;
    const w = this.cwndPrior;
    this.wMax = this.fastConvergence && this.wMax !== undefined && w < this.wMax ? (w * (1 + CUBIC_BETA)) / 2 : w;
  }

  protected newStage(timeout: boolean): void {
    this.epochStart = undefined;
    if (timeout) this.afterTimeout = true;
  }

  override undo(now: number): void {
    // RFC 3708 §3 / Linux bictcp's undo: the window, ssthresh and W_max from before the
    // spurious reduction; a new congestion avoidance epoch starts from there.
    super.undo(now);
    this.wMax = this.priorWMax;
    this.epochStart = undefined;
    this.afterTimeout = false;
  }

  override onIdle(now: number, rtoMs: number): void {
    // RFC 5681 §4.1 restart window; the congestion avoidance stage starts afresh.
    if (now - this.lastAckAt <= rtoMs) return;
    super.onIdle(now, rtoMs);
    this.epochStart = undefined;
  }

  protected scaledCwnd(cwndSegments: number, mss: number): number {
    // Segment counts (W, W_max, W_est) are unchanged; byte values scale.
    return cwndSegments * mss;
  }
}
