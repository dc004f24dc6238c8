/**
 * NewReno congestion control: RFC 5681 slow start and congestion avoidance with
 * RFC 3465 appropriate byte counting (L = 2), RFC 5681 eqn (4) on loss.
 * Read first: RFC 5681 §3.1-3.2, RFC 3465 §2, RFC 6582 §3 (the recovery
 * itself — window inflation, partial ACKs — is the engine's; see
 * congestion-control.ts). Slow start, the reductions and undo are loss-based.ts's.
 */
import { LossBasedControl } from './loss-based.js';

export class NewReno extends LossBasedControl {
  readonly name = 'newreno' as const;
  protected readonly beta = 0.5;
  /** RFC 3465 §2.1 bytes_acked counter for congestion avoidance. */
  private bytesAcked = 0;

  get cwnd(): number {
    return this.cwndBytes;
  }

  protected congestionAvoidance(ackedBytes: number): void {
    // RFC 3465 §2.1: "When bytes_acked becomes greater than or equal to the value of
    // the congestion window, bytes_acked is reduced by the value of cwnd. Next,
    // cwnd is incremented by a full-sized segment (SMSS)."
    this.bytesAcked += ackedBytes;
    if (this.bytesAcked >= this.cwndBytes) {
      this.bytesAcked -= this.cwndBytes;
      this.cwndBytes += this.mss;
    }
  }

  protected newStage(): void {
    this.bytesAcked = 0;
  }

  override onRecoveryEnd(now: number): void {
    super.onRecoveryEnd(now);
    this.bytesAcked = 0;
  }

  override undo(now: number): void {
    super.undo(now);
    this.bytesAcked = 0;
  }

  protected scaledCwnd(cwndSegments: number, mss: number): number {
    return Math.round(cwndSegments * mss);
  }
}
