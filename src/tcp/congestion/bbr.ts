/**
 * BBR congestion control, version 1: draft-cardwell-iccrg-bbr-congestion-control-00
 * ("BBR Congestion Control", 2017), as Linux's net/ipv4/tcp_bbr.c does it.
 *
 * Read first: the draft's §4.1 (the network path model: BBR.BtlBw, a windowed
 * maximum of delivery rate samples over 10 round trips, and BBR.RTprop, the
 * minimum RTT over 10 s), §4.2 (the control parameters: pacing rate =
 * pacing_gain * BtlBw, cwnd = cwnd_gain * BDP + 3 send quanta), §4.3 (the
 * state machine: STARTUP, DRAIN, PROBE_BW with its eight-phase gain cycle,
 * PROBE_RTT), then delivery-rate.ts (the rate samples it runs on) and
 * congestion-control.ts (what the engine does around a controller).
 *
 * Units: bytes, milliseconds, rates in bytes per millisecond. Rounds are
 * counted in delivered data (§4.1.1.3).
 *
 * How it meets the engine's loss recovery (draft §4.2.3.4, Linux's
 * bbr_set_cwnd_to_recover_or_restore): on a congestion event the window is
 * cut to what is in flight plus what this ACK delivered, and for one round
 * grows only by what is delivered ("packet conservation"); after that it
 * grows back towards the model's target; when recovery ends it is restored to
 * at least what it was before. After a retransmission timeout the window is
 * one segment and grows by what is delivered; after one round it is restored
 * to at least what it was before (Linux restores on leaving its Loss state;
 * the engine does not tell a controller when that happens, a round is close).
 *
 * ACK aggregation (as Linux since 4.19, its "extra_acked"): where ACKs come in
 * bursts — a batching receiver, delayed ACKs, a stack whose threads wake with
 * some latency — data is delivered in lumps, and a window of gain * BDP, with
 * BDP taken from the minimum RTT, runs dry between lumps. An aggregation epoch
 * starts whenever the ACKs fall behind what BtlBw predicts; the data ACKed in
 * the epoch beyond BtlBw * its age is the excess; the window target grows by
 * the largest excess of the last 5-10 rounds (two windows of 5 rounds), at
 * most cwnd and 100 ms at BtlBw, once the pipe was found full. Without it one
 * stream between two hosts on the virtual switch ran at half of CUBIC's rate:
 * its minimum RTT (~0.1 ms) was a tenth of what a busy pipeline's ACKs take.
 *
 * Not done: the draft's per-ACK "rs.losses" deduction (the engine does not
 * report losses per ACK; packet conservation bounds the window instead), and
 * BBRv2/v3's loss- and ECN-driven inflight bounds.
 */
import type { Rng } from '../../random/rng.js';
import {
  checkOptions, initialWindowBytes, type CongestionControl, type CongestionControlOptions,
} from './congestion-control.js';
import type { RateSample } from './delivery-rate.js';
import { WindowedMax } from './windowed-filter.js';

/** §4.3.2: 2/ln(2), the smallest gain that doubles the sending rate each round. */
export const BBR_HIGH_GAIN = 2 / Math.LN2;
/** §4.3.4: the PROBE_BW pacing gain cycle. */
export const BBR_GAIN_CYCLE: readonly number[] = [5 / 4, 3 / 4, 1, 1, 1, 1, 1, 1];
/** §4.1.1.2: BtlBw filter window, in rounds. */
export const BBR_BTLBW_FILTER_ROUNDS = 10;
/** §4.1.2.2: RTprop filter window, ms. */
export const BBR_RTPROP_FILTER_MS = 10_000;
/** §4.3.5: time spent at the minimum window in PROBE_RTT, ms. */
export const BBR_PROBE_RTT_MS = 200;
/** §4.3.2.2: STARTUP ends after 3 rounds without 25 % bandwidth growth. */
const FULL_BW_THRESH = 1.25;
const FULL_BW_COUNT = 3;
/** ACK aggregation: rounds per window of the excess's maximum (two windows are kept). */
const BBR_EXTRA_ACKED_WINDOW_ROUNDS = 5;
/** ACK aggregation: the excess adds at most this many ms of data at BtlBw to the window. */
export const BBR_EXTRA_ACKED_MAX_MS = 100;
/** ACK aggregation: an epoch that has ACKed this many segments starts again. */
const EXTRA_ACKED_EPOCH_RESET_SEGMENTS = 2 ** 20;

export type BbrState = 'startup' | 'drain' | 'probe_bw' | 'probe_rtt';

export interface BbrOptions extends CongestionControlOptions {
  /** Randomizes the first PROBE_BW phase (§4.3.4.4); default: a fixed sequence. */
  readonly rng?: Rng;
}

export class Bbr implements CongestionControl {
  readonly name = 'bbr' as const;
  readonly wantsRateSamples = true;
  private mss: number;
  private readonly iwBytes: number;
  private readonly rng: Rng | undefined;
  private fallbackRandom = 0;

  state: BbrState = 'startup';
  pacingGain = BBR_HIGH_GAIN;
  cwndGain = BBR_HIGH_GAIN;
  private readonly btlBwFilter = new WindowedMax(BBR_BTLBW_FILTER_ROUNDS);
  /** BBR.RTprop (ms), Infinity before the first sample. */
  rtProp = Infinity;
  private rtPropStamp: number;
  private rtPropExpired = false;
  roundCount = 0;
  private nextRoundDelivered = 0;
  roundStart = false;
  filledPipe = false;
  private fullBw = 0;
  private fullBwCount = 0;
  cycleIndex = 0;
  private cycleStamp = 0;
  private probeRttDoneStamp = 0;
  private probeRttRoundDone = false;
  private priorCwnd = 0;
  private packetConservation = false;
  /** Entered recovery (or RTO) and the first ACK since has not been seen. */
  private recoveryStart = false;
  private afterRto = false;
  private rtoRound = 0;
  private idleRestart = false;
  /** C.delivered as of the last sample. */
  private delivered = 0;
  private hasSeenRtt = false;
  private cwndBytes: number;
  private pacing: number;
  private quantum: number;
  private recovering = false;
  /** ACK aggregation: when the current epoch began (ms) and what it has ACKed (bytes). */
  private epochStart = 0;
  private epochAcked = 0;
  /** ACK aggregation: the largest excess of each of two windows, the current one's index, its rounds. */
  private readonly extraAcked = [0, 0];
  private extraAckedIdx = 0;
  private extraAckedRounds = 0;
  private estimator: { markAppLimited(pipe: number): void } | undefined;

  constructor(options: BbrOptions) {
    checkOptions(options);
    this.mss = options.mss;
    this.iwBytes = initialWindowBytes(this.mss, options.initialWindow ?? 10);
    this.rng = options.rng;
    this.cwndBytes = this.iwBytes;
    this.rtPropStamp = options.now;
    // §4.2.1 BBRInitPacingRate: "nominal_bandwidth = InitialCwnd / (SRTT ? SRTT : 1ms)".
    this.pacing = BBR_HIGH_GAIN * this.iwBytes;
    this.quantum = this.computeQuantum();
  }

  get cwnd(): number {
    return Math.max(this.mss, Math.floor(this.cwndBytes));
  }

  get ssthresh(): number {
    return Infinity;
  }

  get inRecovery(): boolean {
    return this.recovering;
  }

  /** BBR.BtlBw in bytes per ms (0 before the first sample). */
  get btlBw(): number {
    return this.btlBwFilter.best;
  }

  get pacingRate(): number {
    return this.pacing;
  }

  get sendQuantum(): number {
    return this.quantum;
  }

  setRateEstimator(estimator: { markAppLimited(pipe: number): void }): void {
    this.estimator = estimator;
  }

  onAck(): void {
    // Growth comes from onRateSample.
  }

  onCongestionEvent(_now: number, _bytesInFlight: number): void {
    if (this.recovering) return;
    this.saveCwnd();
    this.recovering = true;
    this.recoveryStart = true;
  }

  onRecoveryEnd(_now: number): void {
    this.recovering = false;
    this.packetConservation = false;
    this.recoveryStart = false;
    // "BBR.packet_conservation = false; BBRRestoreCwnd()".
    this.cwndBytes = Math.max(this.cwndBytes, this.priorCwnd);
  }

  onRetransmitTimeout(_now: number, _bytesInFlight: number): void {
    if (!this.afterRto) this.saveCwnd();
    this.recovering = false;
    this.packetConservation = false;
    this.recoveryStart = false;
    this.afterRto = true;
    this.rtoRound = this.roundCount;
    this.cwndBytes = this.mss;
    // Linux bbr_set_state(TCP_CA_Loss): restart the full-pipe check with a new round.
    this.fullBw = 0;
    this.roundStart = true;
  }

  onIdle(now: number, _rtoMs: number): void {
    // §4.2.1.1 BBRHandleRestartFromIdle (the engine calls this with nothing in flight):
    // no RFC 5681 restart window; in PROBE_BW pace at the estimated bandwidth.
    this.idleRestart = true;
    if (this.state === 'probe_bw') this.setPacingRateWithGain(1);
    void now;
  }

  /** BBR keeps no ssthresh: a resumed connection learns its model again from rate samples. */
  resumeSsthresh(_ssthresh: number): void {
    // Nothing to restore (ssthresh is Infinity for BBR).
  }

  /**
   * The last recovery or RTO proved spurious: as Linux's bbr_undo_cwnd, forget the
   * full-pipe check's progress and take back the window saved before the reduction.
   */
  undo(_now: number): void {
    this.fullBw = 0;
    this.fullBwCount = 0;
    this.recovering = false;
    this.packetConservation = false;
    this.recoveryStart = false;
    this.afterRto = false;
    this.cwndBytes = Math.max(this.cwndBytes, this.priorCwnd);
  }

  setMss(mss: number): void {
    checkOptions({ mss, now: 0 });
    const scale = mss / this.mss;
    this.cwndBytes = Math.max(mss, this.cwndBytes * scale);
    this.priorCwnd *= scale;
    this.mss = mss;
    this.quantum = this.computeQuantum();
  }

  /** §4.1.1.3-4.3: update the model and state from one rate sample, then the control parameters. */
  onRateSample(rs: RateSample, now: number, bytesInFlight: number): void {
    const priorInflight = bytesInFlight + rs.newlyDelivered;
    this.delivered = rs.totalDelivered;
    if (!this.hasSeenRtt && rs.rtt > 0) {
      // Linux bbr_init_pacing_rate_from_rtt: the first RTT gives the nominal bandwidth.
      this.hasSeenRtt = true;
      if (this.btlBw === 0) this.pacing = (BBR_HIGH_GAIN * this.iwBytes) / rs.rtt;
    }
    this.updateBtlBw(rs);
    this.updateAckAggregation(rs, now);
    this.checkCyclePhase(now, priorInflight);
    this.checkFullPipe(rs);
    this.checkDrain(now, bytesInFlight);
    this.updateRtProp(rs, now);
    this.checkProbeRtt(now, bytesInFlight);
    this.setPacingRateWithGain(this.pacingGain);
    this.quantum = this.computeQuantum();
    this.setCwnd(rs, bytesInFlight);
  }

  /** §4.1.1.3 round counting and §4.1.1.5 BBRUpdateBtlBw. */
  private updateBtlBw(rs: RateSample): void {
    this.roundStart = false;
    if (rs.newlyDelivered > 0 && rs.priorDelivered >= this.nextRoundDelivered) {
      this.nextRoundDelivered = rs.totalDelivered;
      this.roundCount++;
      this.roundStart = true;
      this.packetConservation = false;
    }
    if (rs.deliveryRate > 0 && (rs.deliveryRate >= this.btlBw || !rs.isAppLimited)) {
      this.btlBwFilter.update(rs.deliveryRate, this.roundCount);
    }
  }

  /** ACK aggregation: the excess of this epoch's ACKs over what BtlBw predicts (see the file comment). */
  private updateAckAggregation(rs: RateSample, now: number): void {
    const acked = rs.newlyDelivered;
    if (acked <= 0 || rs.interval <= 0) return;
    if (this.roundStart && ++this.extraAckedRounds >= BBR_EXTRA_ACKED_WINDOW_ROUNDS) {
      this.extraAckedRounds = 0;
      this.extraAckedIdx ^= 1;
      this.extraAcked[this.extraAckedIdx] = 0;
    }
    let expected = this.btlBw * (now - this.epochStart);
    // ACKs at or below the predicted rate: no aggregation now, a new epoch starts.
    if (this.epochAcked <= expected || this.epochAcked + acked >= EXTRA_ACKED_EPOCH_RESET_SEGMENTS * this.mss) {
      this.epochAcked = 0;
      this.epochStart = now;
      expected = 0;
    }
    this.epochAcked += acked;
    const extra = Math.min(this.epochAcked - expected, this.cwndBytes);
    if (extra > this.extraAcked[this.extraAckedIdx]!) this.extraAcked[this.extraAckedIdx] = extra;
  }

  /** What ACK aggregation adds to the window target (bytes): nothing before the pipe was full. */
  get aggregationCwnd(): number {
    if (!this.filledPipe) return 0;
    return Math.min(Math.max(this.extraAcked[0]!, this.extraAcked[1]!), this.btlBw * BBR_EXTRA_ACKED_MAX_MS);
  }

  /** §4.3.2.2 BBRCheckFullPipe. */
  private checkFullPipe(rs: RateSample): void {
    if (this.filledPipe || !this.roundStart || rs.isAppLimited) return;
    if (this.btlBw >= this.fullBw * FULL_BW_THRESH) {
      this.fullBw = this.btlBw;
      this.fullBwCount = 0;
      return;
    }
    if (++this.fullBwCount >= FULL_BW_COUNT) this.filledPipe = true;
  }

  /** §4.3.3 BBRCheckDrain. */
  private checkDrain(now: number, bytesInFlight: number): void {
    if (this.state === 'startup' && this.filledPipe) {
      this.state = 'drain';
      this.pacingGain = 1 / BBR_HIGH_GAIN;
      this.cwndGain = BBR_HIGH_GAIN;
    }
    if (this.state === 'drain' && bytesInFlight <= this.inflight(1)) this.enterProbeBw(now);
  }

  /** §4.3.4.4 BBREnterProbeBW: a random first phase, never the 3/4 one. */
  private enterProbeBw(now: number): void {
    this.state = 'probe_bw';
    this.pacingGain = 1;
    this.cwndGain = 2;
    // "BBR.cycle_index = BBRGainCycleLen - 1 - random_int_between(0, BBRGainCycleLen - 2)"
    const r = this.rng !== undefined ? this.rng.nextU32() % (BBR_GAIN_CYCLE.length - 1) : this.fallbackRandom++ % (BBR_GAIN_CYCLE.length - 1);
    this.cycleIndex = BBR_GAIN_CYCLE.length - 1 - r;
    this.advanceCyclePhase(now);
  }

  private advanceCyclePhase(now: number): void {
    this.cycleStamp = now;
    this.cycleIndex = (this.cycleIndex + 1) % BBR_GAIN_CYCLE.length;
    this.pacingGain = BBR_GAIN_CYCLE[this.cycleIndex]!;
  }

  /** §4.3.4.3 BBRCheckCyclePhase / BBRIsNextCyclePhase. */
  private checkCyclePhase(now: number, priorInflight: number): void {
    if (this.state !== 'probe_bw') return;
    const fullLength = now - this.cycleStamp > this.rtProp;
    let next: boolean;
    if (this.pacingGain === 1) next = fullLength;
    // Probing up lasts a round, and until the pipe holds pacing_gain * BDP or losses say it is full.
    else if (this.pacingGain > 1) next = fullLength && (this.recoveryStart || this.recovering || priorInflight >= this.inflight(this.pacingGain));
    // Draining ends early once the queue it made is gone.
    else next = fullLength || priorInflight <= this.inflight(1);
    if (next) this.advanceCyclePhase(now);
  }

  /** §4.1.2.3 BBRUpdateRTprop. */
  private updateRtProp(rs: RateSample, now: number): void {
    // Before the first sample there is nothing to expire (the controller may be created long before it sends).
    this.rtPropExpired = this.rtProp !== Infinity && now > this.rtPropStamp + BBR_RTPROP_FILTER_MS;
    if (rs.rtt >= 0 && (rs.rtt <= this.rtProp || this.rtPropExpired)) {
      this.rtProp = rs.rtt;
      this.rtPropStamp = now;
    }
  }

  /** §4.3.5 BBRCheckProbeRTT. */
  private checkProbeRtt(now: number, bytesInFlight: number): void {
    if (this.state !== 'probe_rtt' && this.rtPropExpired && !this.idleRestart) {
      this.state = 'probe_rtt';
      this.pacingGain = 1;
      this.cwndGain = 1;
      this.saveCwnd();
      this.probeRttDoneStamp = 0;
    }
    if (this.state === 'probe_rtt') this.handleProbeRtt(now, bytesInFlight);
    this.idleRestart = false;
  }

  private handleProbeRtt(now: number, bytesInFlight: number): void {
    // "Ignore low rate samples during ProbeRTT": C.app_limited = (BW.delivered + packets_in_flight) ? : 1
    this.estimator?.markAppLimited(bytesInFlight);
    if (this.probeRttDoneStamp === 0 && bytesInFlight <= this.minPipeCwnd()) {
      this.probeRttDoneStamp = now + BBR_PROBE_RTT_MS;
      this.probeRttRoundDone = false;
      this.nextRoundDelivered = this.delivered; // "BBR.next_round_delivered = C.delivered"
    } else if (this.probeRttDoneStamp !== 0) {
      if (this.roundStart) this.probeRttRoundDone = true;
      if (this.probeRttRoundDone && now > this.probeRttDoneStamp) {
        this.rtPropStamp = now;
        this.cwndBytes = Math.max(this.cwndBytes, this.priorCwnd);
        // BBRExitProbeRTT
        if (this.filledPipe) this.enterProbeBw(now);
        else this.enterStartup();
      }
    }
  }

  private enterStartup(): void {
    this.state = 'startup';
    this.pacingGain = BBR_HIGH_GAIN;
    this.cwndGain = BBR_HIGH_GAIN;
  }

  /** §4.2.1 BBRSetPacingRateWithGain: never lower before the pipe is full. */
  private setPacingRateWithGain(gain: number): void {
    const rate = gain * this.btlBw;
    if (rate > 0 && (this.filledPipe || rate > this.pacing)) this.pacing = rate;
  }

  /** §4.2.2 BBRSetSendQuantum. */
  private computeQuantum(): number {
    if (this.pacing < 150) return this.mss; // 1.2 Mbit/s
    if (this.pacing < 3000) return 2 * this.mss; // 24 Mbit/s
    return Math.max(2 * this.mss, Math.min(this.pacing, 65536));
  }

  /** §4.2.3.2 BBRInflight: gain * BDP + 3 send quanta (InitialCwnd before any RTT). */
  inflight(gain: number): number {
    if (this.rtProp === Infinity) return this.iwBytes;
    return gain * this.btlBw * this.rtProp + 3 * this.quantum;
  }

  private minPipeCwnd(): number {
    return 4 * this.mss;
  }

  /** §4.2.3.4 BBRSaveCwnd. */
  private saveCwnd(): void {
    if (!this.recovering && this.state !== 'probe_rtt') this.priorCwnd = this.cwndBytes;
    else this.priorCwnd = Math.max(this.priorCwnd, this.cwndBytes);
  }

  /** §4.2.3.6 BBRSetCwnd, with §4.2.3.4 recovery and §4.2.3.5 PROBE_RTT modulation. */
  private setCwnd(rs: RateSample, bytesInFlight: number): void {
    const acked = rs.newlyDelivered;
    if (this.recoveryStart) {
      // "cwnd = packets_in_flight + max(packets_delivered, 1); packet_conservation = true".
      this.recoveryStart = false;
      this.packetConservation = true;
      this.nextRoundDelivered = rs.totalDelivered; // Linux: start a round now
      this.cwndBytes = bytesInFlight + Math.max(acked, this.mss);
    } else if (this.afterRto && this.roundCount > this.rtoRound) {
      this.afterRto = false;
      this.cwndBytes = Math.max(this.cwndBytes, this.priorCwnd);
    }
    const target = this.inflight(this.cwndGain) + this.aggregationCwnd;
    if (this.packetConservation) {
      this.cwndBytes = Math.max(this.cwndBytes, bytesInFlight + acked);
    } else if (this.filledPipe) {
      this.cwndBytes = Math.min(this.cwndBytes + acked, target);
    } else if (this.cwndBytes < target || rs.totalDelivered < this.iwBytes) {
      this.cwndBytes += acked;
    }
    this.cwndBytes = Math.max(this.cwndBytes, this.minPipeCwnd());
    if (this.state === 'probe_rtt') this.cwndBytes = Math.min(this.cwndBytes, this.minPipeCwnd());
  }
}
