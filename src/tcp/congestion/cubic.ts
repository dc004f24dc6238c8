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
import {
  checkOptions, initialWindowBytes, type CongestionControl, type CongestionControlOptions,
} from './congestion-control.js';

/** RFC 9438 §5: C = 0.4 (segments/s^3). */
export const CUBIC_C = 0.4;
/** RFC 9438 §4.6: beta_cubic = 0.7. */
export const CUBIC_BETA = 0.7;
/** RFC 9438 §4.3: alpha_cubic = 3 * (1 - beta_cubic) / (1 + beta_cubic). */
export const CUBIC_ALPHA = (3 * (1 - CUBIC_BETA)) / (1 + CUBIC_BETA);
const ABC_L = 2;

export interface CubicOptions extends CongestionControlOptions {
  /** RFC 9438 §4.7 fast convergence; default true. */
  readonly fastConvergence?: boolean;
}

export class Cubic implements CongestionControl {
  readonly name = 'cubic' as const;
  private mss: number;
  private readonly iwSegments: number;
  private readonly fastConvergence: boolean;
  private cwndBytes: number;
  private ssthreshBytes = Infinity;
  private recovering = false;
  private rtoPending = false;
  private lastAckAt: number;
  private anyAcked = false;
  private lastRttMs: number | undefined;
  // RFC 9438 state, in segments and seconds.
  /** W_max: window before the last reduction (undefined before any congestion event). */
  private wMax: number | undefined;
  /** cwnd_prior: window when ssthresh was last set (for the §4.3 alpha switch). */
  private cwndPrior = 0;
  /** Start of the current congestion avoidance stage (ms), undefined outside one. */
  private epochStart: number | undefined;
  private k = 0;
  private wEst = 0;
  /** The next congestion avoidance stage follows a timeout (§4.8: K = 0, W_max = cwnd_epoch). */
  private afterTimeout = false;

  private readonly abcL: number;
  /** State before the last reduction (undo): cwnd, ssthresh (bytes), W_max (segments). */
  private prior = { cwnd: 0, ssthresh: Infinity, wMax: undefined as number | undefined };

  /** Slow-start growth cap per ACK in bytes (RFC 3465 L; unlimited when L is 0). */
  private abcLimitBytes(): number {
    return this.abcL > 0 ? this.abcL * this.mss : Infinity;
  }

  constructor(options: CubicOptions) {
    checkOptions(options);
    this.mss = options.mss;
    this.iwSegments = options.initialWindow ?? 10;
    this.abcL = options.abcLimit ?? ABC_L;
    this.fastConvergence = options.fastConvergence ?? true;
    this.cwndBytes = initialWindowBytes(this.mss, this.iwSegments);
    this.lastAckAt = options.now;
  }

  get cwnd(): number {
    return Math.max(this.mss, Math.floor(this.cwndBytes));
  }

  get ssthresh(): number {
    return this.ssthreshBytes;
  }

  resumeSsthresh(ssthresh: number): void {
    if (Number.isFinite(ssthresh) && ssthresh > 0) this.ssthreshBytes = Math.max(ssthresh, 2 * this.mss);
  }

  get inRecovery(): boolean {
    return this.recovering;
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

  onAck(ackedBytes: number, now: number, rttMs: number | undefined, bytesInFlight: number): void {
    const previousAck = this.lastAckAt;
    this.lastAckAt = now;
    this.rtoPending = false;
    if (rttMs !== undefined && rttMs >= 0) this.lastRttMs = rttMs;
    if (!(ackedBytes > 0)) return;
    this.anyAcked = true;
    if (this.recovering) return;
    if (2 * bytesInFlight < this.cwndBytes) {
      // Application-limited: no growth, and (RFC 9438 §5.8) the time spent here
      // should not count towards t, so push the epoch forward by this gap.
      if (this.epochStart !== undefined) this.epochStart += Math.max(0, now - previousAck);
      return;
    }
    if (this.cwndBytes < this.ssthreshBytes) {
      // §4.10: Reno slow start (RFC 5681 §3.1 with RFC 3465 byte counting).
      this.cwndBytes = Math.min(this.cwndBytes + Math.min(ackedBytes, this.abcLimitBytes()), this.ssthreshBytes);
      return;
    }
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

  onCongestionEvent(_now: number, bytesInFlight: number): void {
    if (this.recovering) return;
    this.prior = { cwnd: this.cwndBytes, ssthresh: this.ssthreshBytes, wMax: this.wMax };
    const w = this.cwndBytes / this.mss;
    this.cwndPrior = w;
    // §4.7: "if cwnd < W_max and fast convergence enabled, further reduce W_max:
    // W_max = cwnd * (1 + beta_cubic) / 2; otherwise, remember cwnd before reduction: W_max = cwnd".
    this.wMax = this.fastConvergence && this.wMax !== undefined && w < this.wMax ? (w * (1 + CUBIC_BETA)) / 2 : w;
    // §4.6: "ssthresh = flight_size * beta_cubic", "cwnd = max(ssthresh, 2)" (segments),
    // "ssthresh = max(ssthresh, 2)".
    this.ssthreshBytes = Math.max(Math.floor(bytesInFlight * CUBIC_BETA), 2 * this.mss);
    this.cwndBytes = this.ssthreshBytes;
    this.epochStart = undefined;
    this.recovering = true;
  }

  onRecoveryEnd(_now: number): void {
    this.recovering = false;
  }

  onRetransmitTimeout(_now: number, bytesInFlight: number): void {
    // §4.8: "In the case of a timeout, CUBIC follows Reno to reduce cwnd [RFC5681] but
    // sets ssthresh using beta_cubic (same as in Section 4.6)". RFC 5681 §3.1: a
    // repeated timeout for the same segment holds ssthresh constant.
    if (!this.rtoPending) {
      this.prior = { cwnd: this.cwndBytes, ssthresh: this.ssthreshBytes, wMax: this.wMax };
      this.cwndPrior = this.cwndBytes / this.mss;
      this.ssthreshBytes = Math.max(Math.floor(bytesInFlight * CUBIC_BETA), 2 * this.mss);
    }
    this.rtoPending = true;
    this.cwndBytes = this.mss;
    this.epochStart = undefined;
    this.afterTimeout = true;
    this.recovering = false;
  }

  undo(_now: number): void {
    // RFC 3708 §3 / Linux bictcp's undo: the window, ssthresh and W_max from before the
    // spurious reduction; a new congestion avoidance epoch starts from there.
    this.cwndBytes = Math.max(this.cwndBytes, this.prior.cwnd);
    this.ssthreshBytes = Math.max(this.ssthreshBytes, this.prior.ssthresh);
    this.wMax = this.prior.wMax;
    this.epochStart = undefined;
    this.afterTimeout = false;
    this.recovering = false;
    this.rtoPending = false;
  }

  onIdle(now: number, rtoMs: number): void {
    if (now - this.lastAckAt <= rtoMs) return;
    // RFC 5681 §4.1 restart window; the congestion avoidance stage starts afresh.
    this.cwndBytes = Math.min(initialWindowBytes(this.mss, this.iwSegments), this.cwndBytes);
    this.epochStart = undefined;
    this.lastAckAt = now;
  }

  setMss(mss: number): void {
    checkOptions({ mss, now: 0 });
    if (!this.anyAcked && !Number.isFinite(this.ssthreshBytes)) {
      this.cwndBytes = initialWindowBytes(mss, this.iwSegments);
    } else {
      // Segment counts (W, W_max, W_est) are unchanged; byte values scale.
      this.cwndBytes = Math.max(mss, (this.cwndBytes / this.mss) * mss);
      if (Number.isFinite(this.ssthreshBytes)) {
        this.ssthreshBytes = Math.max(2 * mss, Math.round((this.ssthreshBytes / this.mss) * mss));
      }
    }
    this.mss = mss;
  }
}
