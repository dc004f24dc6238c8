/**
 * NewReno congestion control: RFC 5681 slow start and congestion avoidance with
 * RFC 3465 appropriate byte counting (L = 2), RFC 5681 eqn (4) on loss.
 * Read first: RFC 5681 §3.1-3.2, RFC 3465 §2, RFC 6582 §3 (the recovery
 * itself — window inflation, partial ACKs — is the engine's; see
 * congestion-control.ts).
 */
import {
  checkOptions, initialWindowBytes, type CongestionControl, type CongestionControlOptions,
} from './congestion-control.js';

/** RFC 3465 §2.3: "L = 2*SMSS bytes" limit on the increase per ACK in slow start. */
const ABC_L = 2;

export class NewReno implements CongestionControl {
  readonly name = 'newreno' as const;
  private mss: number;
  private readonly iwSegments: number;
  private cwndBytes: number;
  private ssthreshBytes = Infinity;
  /** RFC 3465 §2.1 bytes_acked counter for congestion avoidance. */
  private bytesAcked = 0;
  private recovering = false;
  /** An RTO fired and no new data has been acknowledged since. */
  private rtoPending = false;
  private lastAckAt: number;
  private anyAcked = false;

  private readonly abcL: number;
  /** cwnd and ssthresh before the last reduction (undo). */
  private priorCwnd = 0;
  private priorSsthresh = Infinity;

  /** Slow-start growth cap per ACK in bytes (RFC 3465 L; unlimited when L is 0). */
  private abcLimitBytes(): number {
    return this.abcL > 0 ? this.abcL * this.mss : Infinity;
  }

  constructor(options: CongestionControlOptions) {
    checkOptions(options);
    this.mss = options.mss;
    this.iwSegments = options.initialWindow ?? 10;
    this.abcL = options.abcLimit ?? ABC_L;
    this.cwndBytes = initialWindowBytes(this.mss, this.iwSegments);
    this.lastAckAt = options.now;
  }

  get cwnd(): number {
    return this.cwndBytes;
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

  onAck(ackedBytes: number, now: number, _rttMs: number | undefined, bytesInFlight: number): void {
    this.lastAckAt = now;
    this.rtoPending = false;
    if (!(ackedBytes > 0)) return;
    this.anyAcked = true;
    if (this.recovering) return;
    if (2 * bytesInFlight < this.cwndBytes) return; // not cwnd-limited
    if (this.cwndBytes < this.ssthreshBytes) {
      // RFC 3465 §2.3: "cwnd += min (N, L*SMSS)" per ACK in slow start; RFC 5681 §3.1
      // stops slow start at ssthresh.
      this.cwndBytes = Math.min(this.cwndBytes + Math.min(ackedBytes, this.abcLimitBytes()), this.ssthreshBytes);
      return;
    }
    // RFC 3465 §2.1: "When bytes_acked becomes greater than or equal to the value of
    // the congestion window, bytes_acked is reduced by the value of cwnd. Next,
    // cwnd is incremented by a full-sized segment (SMSS)."
    this.bytesAcked += ackedBytes;
    if (this.bytesAcked >= this.cwndBytes) {
      this.bytesAcked -= this.cwndBytes;
      this.cwndBytes += this.mss;
    }
  }

  onCongestionEvent(_now: number, bytesInFlight: number): void {
    if (this.recovering) return;
    this.priorCwnd = this.cwndBytes;
    this.priorSsthresh = this.ssthreshBytes;
    // RFC 5681 eqn (4): "ssthresh = max (FlightSize / 2, 2*SMSS)"; §3.2 step 2-3.
    this.ssthreshBytes = Math.max(Math.floor(bytesInFlight / 2), 2 * this.mss);
    this.cwndBytes = this.ssthreshBytes;
    this.bytesAcked = 0;
    this.recovering = true;
  }

  onRecoveryEnd(_now: number): void {
    // RFC 6582 §3.2 step 3 (full ACK): "Set cwnd to ... (2) ssthresh" — it already is.
    this.recovering = false;
    this.bytesAcked = 0;
  }

  onRetransmitTimeout(_now: number, bytesInFlight: number): void {
    if (!this.rtoPending) {
      this.priorCwnd = this.cwndBytes;
      this.priorSsthresh = this.ssthreshBytes;
    }
    // RFC 5681 §3.1: "when a TCP sender detects segment loss using the retransmission
    // timer and the given segment has already been retransmitted by way of the
    // retransmission timer at least once, the value of ssthresh is held constant."
    if (!this.rtoPending) this.ssthreshBytes = Math.max(Math.floor(bytesInFlight / 2), 2 * this.mss);
    this.rtoPending = true;
    this.cwndBytes = this.mss; // "LW ... equals 1 full-sized segment"
    this.bytesAcked = 0;
    this.recovering = false;
  }

  onIdle(now: number, rtoMs: number): void {
    if (now - this.lastAckAt <= rtoMs) return;
    // RFC 5681 §4.1: "cwnd is reduced to ... RW = min(IW, cwnd)".
    this.cwndBytes = Math.min(initialWindowBytes(this.mss, this.iwSegments), this.cwndBytes);
    this.lastAckAt = now;
  }

  undo(_now: number): void {
    // RFC 3708 §3 / Linux tcp_undo_cwnd: back to the window before the spurious reduction.
    this.cwndBytes = Math.max(this.cwndBytes, this.priorCwnd);
    this.ssthreshBytes = Math.max(this.ssthreshBytes, this.priorSsthresh);
    this.recovering = false;
    this.rtoPending = false;
    this.bytesAcked = 0;
  }

  setMss(mss: number): void {
    checkOptions({ mss, now: 0 });
    if (!this.anyAcked && !Number.isFinite(this.ssthreshBytes)) {
      this.cwndBytes = initialWindowBytes(mss, this.iwSegments);
    } else {
      this.cwndBytes = Math.max(mss, Math.round((this.cwndBytes / this.mss) * mss));
      if (Number.isFinite(this.ssthreshBytes)) {
        this.ssthreshBytes = Math.max(2 * mss, Math.round((this.ssthreshBytes / this.mss) * mss));
      }
    }
    this.mss = mss;
  }
}
