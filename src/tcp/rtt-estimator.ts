/**
 * Retransmission timeout from round-trip time samples.
 *
 * Read first: RFC 6298 (the whole of it is short), then RFC 7323 Appendix G
 * (RTT samples from timestamps). Times are milliseconds (fractional allowed).
 *
 * What this does NOT do, on purpose — the engine's job:
 *  - Karn's rule, RFC 6298 §3: "RTT samples MUST NOT be made using segments
 *    that were retransmitted (and thus for which it is ambiguous whether the
 *    reply was for the first instance of the packet or a later instance)." The
 *    caller simply does not call `sample` for those (timestamps, RFC 7323 §4,
 *    remove the ambiguity).
 *  - RFC 6298 §5.7: after a timed-out SYN, re-initialise RTO to 3 s when data
 *    transmission begins: call `reinitialize(3000)`.
 *  - Starting and stopping the timer itself (RFC 6298 §5).
 *
 * Minimum RTO: RFC 6298 (2.4) says "Whenever RTO is computed, if it is less
 * than 1 second, then the RTO SHOULD be rounded up to 1 second." Linux uses
 * 200 ms (TCP_RTO_MIN), as do most deployed stacks, and we follow Linux by
 * default (`minRtoMs`); set it to 1000 for the RFC's value. (Linux applies its
 * floor to the variance term, RTO ~ SRTT + max(200 ms, 4*RTTVAR); we apply the
 * floor to the whole RTO as the RFC does.)
 */

export interface RttEstimatorOptions {
  /** Floor for RTO. Default 200 ms (Linux); RFC 6298 (2.4) says 1000. */
  readonly minRtoMs?: number;
  /** Ceiling for RTO and its back-off. Default 120 s (Linux TCP_RTO_MAX); RFC 6298 (2.5): at least 60 s. */
  readonly maxRtoMs?: number;
  /** RTO before any sample. Default 1 s, RFC 6298 (2.1). */
  readonly initialRtoMs?: number;
  /** Clock granularity G of RFC 6298 §2. Default 1 ms. */
  readonly granularityMs?: number;
}

/** RFC 6298 §2: alpha = 1/8, beta = 1/4, K = 4. */
const ALPHA = 1 / 8;
const BETA = 1 / 4;
const K = 4;

export class RttEstimator {
  readonly minRtoMs: number;
  readonly maxRtoMs: number;
  readonly granularityMs: number;
  private srttMs: number | undefined;
  private rttvarMs = 0;
  /** RTO as computed from the estimates (before back-off), already clamped. */
  private baseRtoMs: number;
  private backoffCount = 0;
  private currentRtoMs: number;

  constructor(options: RttEstimatorOptions = {}) {
    this.minRtoMs = options.minRtoMs ?? 200;
    this.maxRtoMs = options.maxRtoMs ?? 120_000;
    this.granularityMs = options.granularityMs ?? 1;
    const initial = options.initialRtoMs ?? 1000;
    if (!(this.minRtoMs > 0 && this.maxRtoMs >= this.minRtoMs && this.granularityMs >= 0 && initial > 0)) {
      throw new RangeError('RttEstimator: need 0 < minRtoMs <= maxRtoMs, granularityMs >= 0, initialRtoMs > 0');
    }
    this.baseRtoMs = this.clamp(initial);
    this.currentRtoMs = this.baseRtoMs;
  }

  /** Current retransmission timeout in ms, including back-off. */
  get rto(): number {
    return this.currentRtoMs;
  }

  /** Smoothed RTT (SRTT), undefined before the first sample. */
  get srtt(): number | undefined {
    return this.srttMs;
  }

  /** RTT variation (RTTVAR); 0 before the first sample. */
  get rttvar(): number {
    return this.rttvarMs;
  }

  /** How many times `backoff` has doubled the RTO since the last sample. */
  get backoffs(): number {
    return this.backoffCount;
  }

  /**
   * Feed one RTT measurement R (ms, >= 0). Ends any back-off: RFC 6298 §5
   * (5.7 note) — the backed-off RTO is kept only "until an acknowledgment is
   * received for a segment that was not retransmitted", i.e. a valid sample.
   */
  sample(rttMs: number): void {
    if (!(rttMs >= 0 && Number.isFinite(rttMs))) return; // nonsense in, nothing changes
    if (this.srttMs === undefined) {
      // (2.2) "SRTT <- R, RTTVAR <- R/2"
      this.srttMs = rttMs;
      this.rttvarMs = rttMs / 2;
    } else {
      // (2.3) "RTTVAR <- (1 - beta) * RTTVAR + beta * |SRTT - R'|" then
      //       "SRTT <- (1 - alpha) * SRTT + alpha * R'" — in that order (old SRTT in RTTVAR).
      this.rttvarMs = (1 - BETA) * this.rttvarMs + BETA * Math.abs(this.srttMs - rttMs);
      this.srttMs = (1 - ALPHA) * this.srttMs + ALPHA * rttMs;
    }
    // "RTO <- SRTT + max (G, K*RTTVAR)", then (2.4)/(2.5) bounds.
    this.baseRtoMs = this.clamp(this.srttMs + Math.max(this.granularityMs, K * this.rttvarMs));
    this.backoffCount = 0;
    this.currentRtoMs = this.baseRtoMs;
  }

  /**
   * The retransmission timer expired. RFC 6298 (5.5): "The host MUST set RTO
   * <- RTO * 2 ("back off the timer"). The maximum value discussed in (2.5)
   * above may be used to provide an upper bound to this doubling operation."
   */
  backoff(): void {
    this.backoffCount++;
    this.currentRtoMs = Math.min(this.maxRtoMs, this.currentRtoMs * 2);
  }

  /**
   * Forget the estimates and start again from `rtoMs` (RFC 6298 §5.7: 3 s after
   * a timed-out SYN; also (5.7)'s "MAY clear SRTT and RTTVAR" after backing off
   * several times).
   */
  reinitialize(rtoMs: number): void {
    this.srttMs = undefined;
    this.rttvarMs = 0;
    this.backoffCount = 0;
    this.baseRtoMs = this.clamp(rtoMs);
    this.currentRtoMs = this.baseRtoMs;
  }

  private clamp(ms: number): number {
    return Math.min(this.maxRtoMs, Math.max(this.minRtoMs, ms));
  }
}
