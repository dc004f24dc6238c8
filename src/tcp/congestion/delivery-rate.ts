/**
 * Delivery rate estimation, draft-cheng-iccrg-delivery-rate-estimation-02:
 * every data transmission keeps a snapshot of the connection's delivery
 * counters, and every ACK that delivers data (cumulatively or by SACK) turns
 * the snapshot of the most recently sent delivered transmission into a rate
 * sample: bytes delivered over the longer of the send and the ACK interval
 * (§3.3: the ACK interval alone overestimates with ACK compression, the send
 * interval alone with a burst on a slow link).
 *
 * Sans-IO: the caller passes `now` (ms, fractional) and what it knows of the
 * sequence space. Sequence numbers are unsigned 32-bit, compared with
 * seqnum.ts. Memory is bounded: at most `maxRecords` transmissions are
 * remembered; when full the oldest is forgotten (it then yields no sample,
 * which only costs one sample).
 *
 * Differences from the draft, on purpose:
 *  - C.delivered is given by the caller as a running total (bytes below
 *    SND.UNA plus bytes SACKed above it), not summed per packet: the engine has
 *    no per-packet structure, only the send ring and the SACK scoreboard.
 *  - The minimum RTT that bounds the interval (§3.3 "RS.interval < MinRTT")
 *    is the smallest RTT this estimator has seen (Linux uses its windowed
 *    tcp_min_rtt); the caller may pass a better one.
 *  - A transmission is a record of any length (a TSO burst of up to 64 KiB is
 *    one): an ACK that moves SND.UNA into a record delivers part of it, and that
 *    part yields a sample from the record's snapshot, as Linux takes one from a
 *    TSO skb acknowledged in part (tcp_clean_rtx_queue → tcp_rate_skb_delivered);
 *    the record stays for the rest. Without that, an ACK every other segment
 *    that falls inside bursts gave no sample at all.
 *  - An ACK that yields no sample has priorDelivered 0 (Linux: the rate sample's
 *    prior_delivered stays 0), so it never starts a BBR round: with C.delivered
 *    there, every such ACK started one, three rounds went by in a few ACKs, and
 *    BBR's STARTUP ended long before the pipe was full (a 10 MB transfer over
 *    100 ms RTT and 1 % loss with TSO took 7-10 s in simulation instead of 2).
 */
import { seqDiff, seqLe } from '../seqnum.js';

/** One rate sample (draft §2.3 "RS."). Times in ms, sizes in bytes, rate in bytes per ms. */
export interface RateSample {
  /** C.delivered of the snapshot the sample starts from. */
  priorDelivered: number;
  /** Bytes delivered over the interval (RS.delivered). */
  delivered: number;
  /** max(send_elapsed, ack_elapsed), ms; -1 when no valid sample. */
  interval: number;
  /** delivered / interval in bytes per ms; 0 when no valid sample. */
  deliveryRate: number;
  /** The snapshot was taken while the sender was application-limited (RS.is_app_limited). */
  isAppLimited: boolean;
  /** RTT of the most recently sent delivered transmission (ms), -1 if it was a retransmission or none. */
  rtt: number;
  /** Bytes this ACK newly delivered (cumulatively or by SACK). */
  newlyDelivered: number;
  /** C.delivered after this ACK. */
  totalDelivered: number;
}

export interface DeliveryRateOptions {
  /** Most transmissions remembered at once (default 4096). */
  readonly maxRecords?: number;
}

/** Is [start, end) (above SND.UNA) fully SACKed? */
export type SackedFn = (start: number, end: number) => boolean;

export class DeliveryRateEstimator {
  /** C.delivered: bytes delivered so far. */
  delivered = 0;
  /** C.delivered_time: when C.delivered last grew (ms). */
  deliveredTime = 0;
  /** C.first_sent_time: send time of the transmission the last sample ended with. */
  firstSentTime = 0;
  /**
   * C.app_limited: 0 when not application-limited, else the C.delivered value
   * beyond which the sender is no longer considered application-limited.
   */
  appLimited = 0;
  /** Smallest RTT seen in samples (ms). */
  minRtt = Infinity;
  /** The last sample (reused object: copy what you keep). */
  readonly sample: RateSample = {
    priorDelivered: 0, delivered: 0, interval: -1, deliveryRate: 0, isAppLimited: false, rtt: -1, newlyDelivered: 0, totalDelivered: 0,
  };

  private readonly cap: number;
  // A ring of transmission records in send order, as parallel arrays (no object per segment).
  private readonly start: Uint32Array;
  private readonly end: Uint32Array;
  private readonly recDelivered: Float64Array;
  private readonly recDeliveredTime: Float64Array;
  private readonly recFirstSent: Float64Array;
  private readonly recSent: Float64Array;
  /** bit 0: app-limited at send; bit 1: a retransmission; bit 2: delivered (slot free). */
  private readonly flags: Uint8Array;
  private head = 0;
  private count = 0;
  /** Records that are retransmissions and not yet removed: while > 0 ACK processing scans all records. */
  private retransmissions = 0;
  /** SND.UNA at the last ACK (NaN before the first): a record it moved into was delivered in part. */
  private lastUna = NaN;

  constructor(options: DeliveryRateOptions = {}) {
    const cap = options.maxRecords ?? 4096;
    if (!(Number.isInteger(cap) && cap >= 1)) throw new RangeError('DeliveryRateEstimator: maxRecords must be an integer >= 1');
    this.cap = cap;
    this.start = new Uint32Array(cap);
    this.end = new Uint32Array(cap);
    this.recDelivered = new Float64Array(cap);
    this.recDeliveredTime = new Float64Array(cap);
    this.recFirstSent = new Float64Array(cap);
    this.recSent = new Float64Array(cap);
    this.flags = new Uint8Array(cap);
  }

  /** Transmissions remembered and not yet delivered (diagnostics, tests). */
  get records(): number {
    let n = 0;
    for (let k = 0; k < this.count; k++) if ((this.flags[(this.head + k) % this.cap]! & 4) === 0) n++;
    return n;
  }

  /**
   * Draft §3.2 "Transmitting a data packet": [seq, seq+len) goes out now;
   * `nothingInFlight` is SND.NXT == SND.UNA (before this send), when the
   * send and ACK intervals restart; `retransmission` marks a resend.
   */
  onSend(seq: number, len: number, now: number, nothingInFlight: boolean, retransmission: boolean): void {
    if (len <= 0) return;
    if (nothingInFlight) {
      this.firstSentTime = now;
      this.deliveredTime = now;
    }
    if (this.count === this.cap) this.dropOldest();
    const i = (this.head + this.count) % this.cap;
    this.count++;
    this.start[i] = seq >>> 0;
    this.end[i] = (seq + len) >>> 0;
    this.recDelivered[i] = this.delivered;
    this.recDeliveredTime[i] = this.deliveredTime;
    this.recFirstSent[i] = this.firstSentTime;
    this.recSent[i] = now;
    this.flags[i] = (this.appLimited !== 0 ? 1 : 0) | (retransmission ? 2 : 0);
    if (retransmission) this.retransmissions++;
  }

  /**
   * Draft §3.3 "Detecting application-limited phases": call when the sender
   * stops for lack of data. `unsent` is the data queued but not sent, `pipe`
   * the bytes in flight; the sender is application-limited when less than a
   * segment waits and the window is not the limit. (The draft's lost_out <=
   * retrans_out condition is the caller's: pass `lossPending` true to skip.)
   */
  checkAppLimited(unsent: number, mss: number, pipe: number, cwnd: number, lossPending = false): void {
    if (unsent < mss && pipe < cwnd && !lossPending) {
      // "C.app_limited = (C.delivered + C.pipe) ? : 1"
      this.appLimited = this.delivered + pipe > 0 ? this.delivered + pipe : 1;
    }
  }

  /** Mark the sender application-limited now (BBR's PROBE_RTT does, draft-cardwell §4.3.5). */
  markAppLimited(pipe: number): void {
    this.appLimited = this.delivered + pipe > 0 ? this.delivered + pipe : 1;
  }

  /**
   * Draft §3.3 "Upon receiving ACK": SND.UNA is now `sndUna`, `totalDelivered`
   * the bytes delivered so far (monotonic; smaller values are ignored),
   * `isSacked` says whether a range above SND.UNA is fully SACKed (undefined:
   * nothing is SACKed). Returns the sample (this.sample) or undefined when
   * this ACK delivered nothing. `minRtt` bounds the interval from below
   * (default: the smallest RTT seen, this sample's included).
   */
  onAck(now: number, sndUna: number, totalDelivered: number, isSacked: SackedFn | undefined, minRtt?: number): RateSample | undefined {
    const newly = totalDelivered - this.delivered;
    if (!(newly > 0)) return undefined;
    this.delivered = totalDelivered;
    this.deliveredTime = now;
    const rs = this.sample;
    rs.newlyDelivered = newly;
    rs.totalDelivered = totalDelivered;
    const unaMoved = Number.isNaN(this.lastUna) || seqDiff(sndUna, this.lastUna) > 0;
    this.lastUna = sndUna >>> 0;
    // The most recently sent delivered transmission (largest send time; the draft's
    // "P.delivered > RS.prior_delivered" picks the same one but ties on a burst).
    let best = -1;
    let bestSent = -Infinity;
    const full = this.retransmissions > 0;
    let n = this.count;
    for (let k = 0; k < n; k++) {
      const i = (this.head + k) % this.cap;
      if ((this.flags[i]! & 4) !== 0) continue;
      const s = this.start[i]!;
      const e = this.end[i]!;
      if (seqLe(e, sndUna) || (isSacked !== undefined && seqDiff(s, sndUna) >= 0 && isSacked(s, e))) {
        if (this.recSent[i]! >= bestSent) {
          bestSent = this.recSent[i]!;
          best = i;
        }
        this.flags[i]! |= 4;
        if ((this.flags[i]! & 2) !== 0) this.retransmissions--;
      } else if (unaMoved && seqDiff(sndUna, s) > 0 && seqDiff(e, sndUna) > 0) {
        // This ACK delivered the record's head (a burst acknowledged in part): a sample, the record stays.
        if (this.recSent[i]! >= bestSent) {
          bestSent = this.recSent[i]!;
          best = i;
        }
        if (!full && isSacked === undefined) break;
      } else if (!full && isSacked === undefined) {
        // No retransmission among the records and nothing SACKed: they are in sequence
        // order, so none after this one is delivered either.
        break;
      }
    }
    // Free the delivered records at the head.
    while (this.count > 0 && (this.flags[this.head]! & 4) !== 0) {
      this.head = (this.head + 1) % this.cap;
      this.count--;
    }
    n = this.count;
    // "if (C.app_limited and C.delivered > C.app_limited) C.app_limited = 0"
    if (this.appLimited !== 0 && this.delivered > this.appLimited) this.appLimited = 0;
    rs.interval = -1;
    rs.deliveryRate = 0;
    rs.rtt = -1;
    if (best < 0) {
      rs.priorDelivered = 0;
      rs.delivered = 0;
      rs.isAppLimited = this.appLimited !== 0;
      return rs;
    }
    rs.priorDelivered = this.recDelivered[best]!;
    rs.isAppLimited = (this.flags[best]! & 1) !== 0;
    const sendElapsed = this.recSent[best]! - this.recFirstSent[best]!;
    const ackElapsed = this.deliveredTime - this.recDeliveredTime[best]!;
    this.firstSentTime = this.recSent[best]!;
    if ((this.flags[best]! & 2) === 0) {
      rs.rtt = now - this.recSent[best]!;
      if (rs.rtt < this.minRtt) this.minRtt = rs.rtt;
    }
    rs.delivered = this.delivered - rs.priorDelivered;
    const interval = Math.max(sendElapsed, ackElapsed);
    // §3.3: "Normally we expect interval >= MinRTT. Note that rate may still be
    // over-estimated when a spuriously retransmitted skb was first (s)acked".
    if (interval < (minRtt ?? this.minRtt) || !(interval > 0)) return rs;
    rs.interval = interval;
    rs.deliveryRate = rs.delivered / interval;
    return rs;
  }

  private dropOldest(): void {
    if ((this.flags[this.head]! & 6) === 2) this.retransmissions--;
    this.head = (this.head + 1) % this.cap;
    this.count--;
  }
}
