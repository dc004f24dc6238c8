/**
 * What CUBIC and NewReno share: both are loss-based window controllers on RFC 5681's
 * frame, and differ only in how congestion avoidance grows the window and by how much
 * a loss shrinks it (beta). Shared here:
 *  - slow start with RFC 3465 byte counting (L segments per ACK), growth only while
 *    cwnd-limited (see CongestionControl.onAck);
 *  - the reduction on loss (RFC 5681 §3.2: ssthresh = max(FlightSize * beta, 2*SMSS),
 *    cwnd = ssthresh, once per recovery) and on timeout (§3.1: cwnd = 1 SMSS, ssthresh
 *    held for a repeated timeout of the same segment);
 *  - undo of a spurious reduction (RFC 3708 §3, Linux tcp_undo_cwnd), restart after
 *    idle (§4.1), resumeSsthresh, and setMss (windows keep their size in segments).
 *
 * A subclass gives beta, the congestion avoidance step, and the state of its own that
 * goes with a reduction (remember, newStage) or an undo.
 */
import {
  checkOptions, initialWindowBytes, type CongestionControl, type CongestionControlOptions,
} from './congestion-control.js';

/** RFC 3465 §2.3: "L = 2*SMSS bytes" limit on the increase per ACK in slow start. */
const ABC_L = 2;

export abstract class LossBasedControl implements CongestionControl {
  abstract readonly name: 'cubic' | 'newreno';
  /** Multiplicative decrease on loss: ssthresh = FlightSize * beta (NewReno 1/2, CUBIC 0.7). */
  protected abstract readonly beta: number;
  protected mss: number;
  protected readonly iwSegments: number;
  protected cwndBytes: number;
  protected ssthreshBytes = Infinity;
  protected recovering = false;
  /** An RTO fired and no new data has been acknowledged since. */
  protected rtoPending = false;
  protected lastAckAt: number;
  protected anyAcked = false;
  private readonly abcL: number;
  /** cwnd and ssthresh before the last reduction (undo). */
  private priorCwnd = 0;
  private priorSsthresh = Infinity;

  constructor(options: CongestionControlOptions) {
    checkOptions(options);
    this.mss = options.mss;
    this.iwSegments = options.initialWindow ?? 10;
    this.abcL = options.abcLimit ?? ABC_L;
    this.cwndBytes = initialWindowBytes(this.mss, this.iwSegments);
    this.lastAckAt = options.now;
  }

  abstract get cwnd(): number;

  get ssthresh(): number {
    return this.ssthreshBytes;
  }

  get inRecovery(): boolean {
    return this.recovering;
  }

  resumeSsthresh(ssthresh: number): void {
    if (Number.isFinite(ssthresh) && ssthresh > 0) this.ssthreshBytes = Math.max(ssthresh, 2 * this.mss);
  }

  /** Slow-start growth cap per ACK in bytes (RFC 3465 L; unlimited when L is 0). */
  private abcLimitBytes(): number {
    return this.abcL > 0 ? this.abcL * this.mss : Infinity;
  }

  onAck(ackedBytes: number, now: number, _rttMs: number | undefined, bytesInFlight: number): void {
    const previousAck = this.lastAckAt;
    this.lastAckAt = now;
    this.rtoPending = false;
    if (!(ackedBytes > 0)) return;
    this.anyAcked = true;
    if (this.recovering) return;
    if (2 * bytesInFlight < this.cwndBytes) {
      this.appLimited(now - previousAck);
      return;
    }
    if (this.cwndBytes < this.ssthreshBytes) {
      // RFC 3465 §2.3: "cwnd += min (N, L*SMSS)" per ACK in slow start; RFC 5681 §3.1
      // stops slow start at ssthresh.
      this.cwndBytes = Math.min(this.cwndBytes + Math.min(ackedBytes, this.abcLimitBytes()), this.ssthreshBytes);
      return;
    }
    this.congestionAvoidance(ackedBytes, now);
  }

  /** Congestion avoidance: an ACK of `ackedBytes` while cwnd-limited, cwnd >= ssthresh. */
  protected abstract congestionAvoidance(ackedBytes: number, now: number): void;

  /** An ACK while not cwnd-limited, `gapMs` after the previous one: no growth. */
  protected appLimited(_gapMs: number): void {}

  /** ssthresh is about to be lowered (a loss, or a timeout when `timeout`): keep what goes with it. */
  protected remember(_timeout: boolean): void {}

  /** The window was just reduced: a new growth stage starts. */
  protected abstract newStage(timeout: boolean): void;

  onCongestionEvent(_now: number, bytesInFlight: number): void {
    if (this.recovering) return;
    this.lowerSsthresh(bytesInFlight, false);
    this.cwndBytes = this.ssthreshBytes;
    this.newStage(false);
    this.recovering = true;
  }

  onRecoveryEnd(_now: number): void {
    // RFC 6582 §3.2 step 3 (full ACK): "Set cwnd to ... (2) ssthresh" — it already is.
    this.recovering = false;
  }

  onRetransmitTimeout(_now: number, bytesInFlight: number): void {
    // RFC 5681 §3.1: "when a TCP sender detects segment loss using the retransmission
    // timer and the given segment has already been retransmitted by way of the
    // retransmission timer at least once, the value of ssthresh is held constant."
    if (!this.rtoPending) this.lowerSsthresh(bytesInFlight, true);
    this.rtoPending = true;
    this.cwndBytes = this.mss; // "LW ... equals 1 full-sized segment"
    this.newStage(true);
    this.recovering = false;
  }

  private lowerSsthresh(bytesInFlight: number, timeout: boolean): void {
    this.priorCwnd = this.cwndBytes;
    this.priorSsthresh = this.ssthreshBytes;
    this.remember(timeout);
    // RFC 5681 eqn (4) "ssthresh = max (FlightSize / 2, 2*SMSS)", with CUBIC's beta (RFC 9438 §4.6).
    this.ssthreshBytes = Math.max(Math.floor(bytesInFlight * this.beta), 2 * this.mss);
  }

  undo(_now: number): void {
    // RFC 3708 §3 / Linux tcp_undo_cwnd: back to the window before the spurious reduction.
    this.cwndBytes = Math.max(this.cwndBytes, this.priorCwnd);
    this.ssthreshBytes = Math.max(this.ssthreshBytes, this.priorSsthresh);
    this.recovering = false;
    this.rtoPending = false;
  }

  onIdle(now: number, rtoMs: number): void {
    if (now - this.lastAckAt <= rtoMs) return;
    // RFC 5681 §4.1: "cwnd is reduced to ... RW = min(IW, cwnd)".
    this.cwndBytes = Math.min(initialWindowBytes(this.mss, this.iwSegments), this.cwndBytes);
    this.lastAckAt = now;
  }

  /** cwnd in bytes after an MSS change (NewReno keeps whole bytes, CUBIC a fraction). */
  protected abstract scaledCwnd(cwndSegments: number, mss: number): number;

  setMss(mss: number): void {
    checkOptions({ mss, now: 0 });
    if (!this.anyAcked && !Number.isFinite(this.ssthreshBytes)) {
      this.cwndBytes = initialWindowBytes(mss, this.iwSegments);
    } else {
      this.cwndBytes = Math.max(mss, this.scaledCwnd(this.cwndBytes / this.mss, mss));
      if (Number.isFinite(this.ssthreshBytes)) {
        this.ssthreshBytes = Math.max(2 * mss, Math.round((this.ssthreshBytes / this.mss) * mss));
      }
    }
    this.mss = mss;
  }
}
