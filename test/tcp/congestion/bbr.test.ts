import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Bbr, BBR_EXTRA_ACKED_MAX_MS, BBR_GAIN_CYCLE, DeliveryRateEstimator, BBR_HIGH_GAIN, BBR_PROBE_RTT_MS, BBR_RTPROP_FILTER_MS, createCongestionControl, type RateSample,
} from '../../../src/tcp/congestion/index.js';
import { WindowedMax } from '../../../src/tcp/congestion/windowed-filter.js';
import { SeededRng } from '../../../src/random/rng.js';

const MSS = 1000;
const RTT = 10;

/**
 * A fed path: each call is one ACK. `round: true` makes the sample start a new
 * round (its prior_delivered is the total at the previous round start).
 */
class Feeder {
  total = 0;
  now = 0;
  private roundMark = 0;
  constructor(readonly cc: Bbr) {}

  ack(o: { newly?: number; rate: number; rtt?: number; inflight: number; appLimited?: boolean; round?: boolean; dt?: number }): void {
    const newly = o.newly ?? MSS;
    this.now += o.dt ?? 1;
    const prior = o.round === false ? this.roundMark - 1 : this.total;
    if (o.round !== false) this.roundMark = this.total + newly;
    this.total += newly;
    const rs: RateSample = {
      priorDelivered: prior, delivered: newly, interval: RTT, deliveryRate: o.rate, isAppLimited: o.appLimited ?? false,
      rtt: o.rtt ?? RTT, newlyDelivered: newly, totalDelivered: this.total,
    };
    this.cc.onRateSample(rs, this.now, o.inflight);
  }

  /** Rounds at `rate` (one ACK each), RTT apart. */
  rounds(n: number, rate: number, inflight: number, rtt = RTT): void {
    for (let i = 0; i < n; i++) this.ack({ rate, inflight, rtt, dt: rtt });
  }
}

/** STARTUP with doubling rates 1000..8000 B/ms, then a plateau until the pipe is full. */
function toDrain(rng?: SeededRng): Feeder {
  const f = new Feeder(new Bbr({ mss: MSS, now: 0, ...(rng ? { rng } : {}) }));
  for (const r of [1000, 2000, 4000, 8000]) f.ack({ rate: r, inflight: 300_000, dt: RTT });
  f.rounds(3, 8000, 300_000);
  return f;
}

test('factory: bbr by name, rate samples wanted, pacing from the start', () => {
  const cc = createCongestionControl('bbr', { mss: 1460, now: 0 });
  assert.equal(cc.name, 'bbr');
  assert.equal(cc.wantsRateSamples, true);
  assert.equal(cc.cwnd, 14600);
  assert.equal(cc.ssthresh, Infinity);
  // draft §4.2.1: high_gain * InitialCwnd / 1 ms before any RTT is known.
  assert.ok(Math.abs(cc.pacingRate! - BBR_HIGH_GAIN * 14600) < 1e-6);
});

test('STARTUP: pacing gain 2/ln2, cwnd grows by what is delivered, pacing follows BtlBw', () => {
  const f = new Feeder(new Bbr({ mss: MSS, now: 0 }));
  const cc = f.cc;
  assert.equal(cc.state, 'startup');
  assert.equal(cc.pacingGain, BBR_HIGH_GAIN);
  f.ack({ newly: 5000, rate: 1000, inflight: 5000, dt: RTT });
  assert.equal(cc.cwnd, 15_000);
  assert.equal(cc.btlBw, 1000);
  assert.equal(cc.rtProp, RTT);
  assert.ok(Math.abs(cc.pacingRate - BBR_HIGH_GAIN * 1000) < 1e-9);
  f.ack({ newly: 5000, rate: 2000, inflight: 10_000, dt: RTT });
  assert.equal(cc.cwnd, 20_000);
  assert.equal(cc.btlBw, 2000);
  assert.equal(cc.roundCount, 2);
});

test('STARTUP → DRAIN after three rounds without 25 % more bandwidth; DRAIN → PROBE_BW once inflight <= BDP', () => {
  const f = new Feeder(new Bbr({ mss: MSS, now: 0 }));
  const cc = f.cc;
  for (const r of [1000, 2000, 4000, 8000]) f.ack({ rate: r, inflight: 300_000, dt: RTT });
  f.rounds(2, 8000, 300_000);
  assert.equal(cc.state, 'startup', 'two rounds of plateau are not enough');
  assert.equal(cc.filledPipe, false);
  f.rounds(1, 9000, 300_000); // +12.5 %: still no growth worth counting
  assert.equal(cc.filledPipe, true);
  assert.equal(cc.state, 'drain');
  assert.ok(Math.abs(cc.pacingGain - 1 / BBR_HIGH_GAIN) < 1e-12);
  assert.ok(Math.abs(cc.pacingRate - 9000 / BBR_HIGH_GAIN) < 1e-6, 'pacing below the bandwidth drains the queue');
  f.ack({ rate: 9000, inflight: 200_000, round: false });
  assert.equal(cc.state, 'drain', `inflight above BDP + 3 quanta (${cc.inflight(1)})`);
  f.ack({ rate: 9000, inflight: 90_000, round: false });
  assert.equal(cc.state, 'probe_bw');
  assert.equal(cc.cwndGain, 2);
});

test('STARTUP: app-limited rounds do not count towards a full pipe', () => {
  const f = new Feeder(new Bbr({ mss: MSS, now: 0 }));
  f.rounds(1, 1000, 5000);
  for (let i = 0; i < 5; i++) f.ack({ rate: 1000, inflight: 5000, appLimited: true, dt: RTT });
  assert.equal(f.cc.filledPipe, false);
  assert.equal(f.cc.state, 'startup');
});

test('PROBE_BW: a random first phase other than 3/4, then the cycle 5/4, 3/4, 1 x 6', () => {
  const seen = new Set<number>();
  for (let s = 1; s <= 40; s++) {
    const f = toDrain(new SeededRng(s));
    f.ack({ rate: 8000, inflight: 50_000, round: false });
    assert.equal(f.cc.state, 'probe_bw');
    // BBREnterProbeBW picks 7 - [0, 6] and advances once: every index but 1 (the 3/4 phase).
    assert.notEqual(f.cc.cycleIndex, 1);
    assert.equal(f.cc.pacingGain, BBR_GAIN_CYCLE[f.cc.cycleIndex]);
    seen.add(f.cc.cycleIndex);
  }
  assert.ok(seen.size >= 5, `first phases are spread: ${[...seen].join(',')}`);
});

test('PROBE_BW phases: gain 1 lasts RTprop; 5/4 until inflight reaches 5/4 BDP; 3/4 ends early at BDP', () => {
  const f = toDrain(new SeededRng(3));
  const cc = f.cc;
  const bdp = 8000 * RTT;
  f.ack({ rate: 8000, inflight: 50_000, round: false });
  // Walk to the 5/4 phase: in gain-1 phases, one RTprop passes per ACK.
  for (let i = 0; i < 10 && cc.cycleIndex !== 0; i++) f.ack({ rate: 8000, inflight: bdp, dt: RTT + 1 });
  assert.equal(cc.cycleIndex, 0);
  assert.equal(cc.pacingGain, 5 / 4);
  assert.ok(Math.abs(cc.pacingRate - 1.25 * 8000) < 1e-9);
  f.ack({ rate: 8000, inflight: bdp, dt: RTT + 1 });
  assert.equal(cc.cycleIndex, 0, 'a round passed but the pipe does not yet hold 5/4 BDP');
  f.ack({ rate: 8000, inflight: 1.25 * bdp + 3 * cc.sendQuantum, dt: 1 });
  assert.equal(cc.cycleIndex, 1, 'inflight reached 5/4 BDP after a full RTprop: drain');
  assert.equal(cc.pacingGain, 3 / 4);
  f.ack({ rate: 8000, inflight: 2 * bdp, dt: 1 });
  assert.equal(cc.cycleIndex, 1, 'the queue is not drained yet and RTprop has not passed');
  f.ack({ rate: 8000, inflight: bdp, dt: 1 });
  assert.equal(cc.cycleIndex, 2, 'inflight back at BDP: the 3/4 phase ends early');
  assert.equal(cc.pacingGain, 1);
  f.ack({ rate: 8000, inflight: bdp, dt: RTT / 2 });
  assert.equal(cc.cycleIndex, 2, 'gain 1: half an RTprop is not a phase');
  f.ack({ rate: 8000, inflight: bdp, dt: RTT });
  assert.equal(cc.cycleIndex, 3);
});

test('PROBE_BW: cwnd is capped at cwnd_gain x BDP + 3 send quanta', () => {
  const f = toDrain(new SeededRng(5));
  const cc = f.cc;
  f.ack({ rate: 8000, inflight: 50_000, round: false });
  // ACKs at exactly BtlBw (800 bytes every 0.1 ms): no aggregation beyond one ACK's data.
  for (let i = 0; i < 2000; i++) f.ack({ newly: 800, rate: 8000, inflight: 80_000, dt: 0.1, round: false });
  assert.ok(cc.aggregationCwnd <= MSS + 1e-6, `aggregation ${cc.aggregationCwnd}`);
  assert.ok(Math.abs(cc.cwnd - Math.floor(2 * 8000 * RTT + 3 * cc.sendQuantum + cc.aggregationCwnd)) <= 1, `cwnd ${cc.cwnd}`);
});

test('ACK aggregation: data ACKed in lumps beyond BtlBw widens the window by the largest lump, for 5-10 rounds', () => {
  const start = new Feeder(new Bbr({ mss: MSS, now: 0 }));
  for (const r of [1000, 2000, 4000]) start.ack({ newly: 40_000, rate: r, inflight: 300_000, dt: 0.1 });
  assert.equal(start.cc.state, 'startup');
  assert.equal(start.cc.aggregationCwnd, 0, 'nothing before the pipe was full');
  const f = toDrain(new SeededRng(5));
  const cc = f.cc;
  f.ack({ rate: 8000, inflight: 50_000, round: false });
  const target = (): number => Math.floor(2 * 8000 * RTT + 3 * cc.sendQuantum);
  // The same average rate (8000 B/ms), ACKed in 40 KB lumps every 5 ms: each lump is 40 KB the window must hold.
  for (let i = 0; i < 40; i++) f.ack({ newly: 40_000, rate: 8000, inflight: 80_000, dt: 5, round: i % 2 === 0 });
  assert.ok(Math.abs(cc.aggregationCwnd - 40_000) <= 1, `aggregation ${cc.aggregationCwnd}`);
  assert.ok(Math.abs(cc.cwnd - (target() + 40_000)) <= 1, `cwnd ${cc.cwnd}`);
  // Lumps far above BtlBw: the excess counts from the epoch's start, capped at cwnd.
  for (let i = 0; i < 5; i++) f.ack({ newly: 100_000, rate: 8000, inflight: 80_000, dt: 0.5, round: false });
  assert.ok(cc.aggregationCwnd > 40_000 && cc.aggregationCwnd <= cc.cwnd, `aggregation ${cc.aggregationCwnd}, cwnd ${cc.cwnd}`);
  // A pause (the lumps' data had run ahead of BtlBw), then smooth ACKs: the lumps are forgotten after two windows of 5 rounds.
  f.ack({ newly: 8000, rate: 8000, inflight: 80_000, dt: 100 });
  for (let r = 0; r < 11; r++) f.ack({ newly: 8000, rate: 8000, inflight: 80_000, dt: 1 });
  assert.ok(cc.aggregationCwnd <= 8000, `aggregation ${cc.aggregationCwnd}`);
  for (let i = 0; i < 400; i++) f.ack({ newly: 800, rate: 8000, inflight: 80_000, dt: 0.1, round: false });
  assert.ok(cc.cwnd <= target() + 8000, `cwnd ${cc.cwnd} back near ${target()}`);
});

test('ACK aggregation: at most 100 ms of data at BtlBw', () => {
  const f = toDrain(new SeededRng(5));
  const cc = f.cc;
  f.ack({ rate: 8000, inflight: 50_000, round: false });
  // A window already wide (10 MB), then one ACK of 5 MB after a pause: the excess is capped at 100 ms * BtlBw.
  for (let i = 0; i < 200; i++) f.ack({ newly: 50_000, rate: 8000, inflight: 80_000, dt: 0.001, round: false });
  assert.ok(cc.cwnd > 8000 * BBR_EXTRA_ACKED_MAX_MS, `cwnd ${cc.cwnd}`);
  assert.equal(cc.aggregationCwnd, 8000 * BBR_EXTRA_ACKED_MAX_MS);
});

test('BtlBw: a windowed maximum over 10 rounds; app-limited samples below it are ignored', () => {
  const f = toDrain();
  const cc = f.cc;
  f.rounds(1, 2000, 50_000);
  assert.equal(cc.btlBw, 8000, 'a lower sample does not lower the maximum');
  f.ack({ rate: 12_000, inflight: 50_000, appLimited: true, dt: RTT });
  assert.equal(cc.btlBw, 12_000, 'an app-limited sample above the estimate is still taken');
  f.rounds(12, 3000, 50_000);
  assert.equal(cc.btlBw, 3000, 'the old maximum expired after 10 rounds');
});

test('PROBE_RTT: after 10 s without a lower RTT, cwnd 4 segments for 200 ms and a round, then back', () => {
  const f = toDrain();
  const cc = f.cc;
  const estimator = new DeliveryRateEstimator();
  cc.setRateEstimator(estimator);
  f.ack({ rate: 8000, inflight: 50_000, round: false });
  assert.equal(cc.state, 'probe_bw');
  const before = cc.cwnd;
  // RTT samples above RTprop (a queue) for more than 10 s.
  let guard = 0;
  while ((cc.state as string) !== 'probe_rtt' && guard++ < 2000) f.ack({ rate: 8000, inflight: 80_000, rtt: 15, dt: RTT });
  assert.equal(cc.state, 'probe_rtt');
  assert.ok(f.now > BBR_RTPROP_FILTER_MS);
  assert.equal(cc.cwnd, 4 * MSS);
  assert.equal(cc.pacingGain, 1);
  assert.equal(cc.rtProp, 15, 'the expired RTprop took the fresh sample');
  assert.ok(estimator.appLimited > 0, 'samples taken while probing are marked app-limited');
  f.ack({ rate: 8000, inflight: 4 * MSS, rtt: 12, dt: 1 }); // drained to the minimum: the 200 ms start
  const start = f.now;
  f.ack({ rate: 8000, inflight: 4 * MSS, dt: 50 }); // a round passes
  assert.equal(cc.state, 'probe_rtt', 'not yet 200 ms');
  while (f.now - start <= BBR_PROBE_RTT_MS) f.ack({ rate: 8000, inflight: 4 * MSS, dt: 50, round: false });
  assert.equal(cc.state, 'probe_bw');
  assert.equal(cc.rtProp, 10, 'the lower RTT seen while probing');
  assert.ok(cc.cwnd >= before, `cwnd restored: ${cc.cwnd} >= ${before}`);
});

test('PROBE_RTT before the pipe was full returns to STARTUP', () => {
  const f = new Feeder(new Bbr({ mss: MSS, now: 0 }));
  let guard = 0;
  // Growing bandwidth every round: the pipe never fills; RTT samples stay above the first.
  f.ack({ rate: 100, inflight: 10_000, rtt: RTT, dt: RTT });
  let rate = 100;
  while ((f.cc.state as string) !== 'probe_rtt' && guard++ < 100) f.ack({ rate: rate *= 1.3, inflight: 10_000, rtt: 20, dt: 1000 });
  assert.equal(f.cc.filledPipe, false);
  assert.equal(f.cc.state, 'probe_rtt');
  // Samples taken while probing are app-limited (the estimator is told so).
  f.ack({ rate: 1000, inflight: 4 * MSS, dt: 1, appLimited: true });
  for (let i = 0; i < 10; i++) f.ack({ rate: 1000, inflight: 4 * MSS, dt: 50, appLimited: true });
  assert.equal(f.cc.state, 'startup');
  assert.equal(f.cc.pacingGain, BBR_HIGH_GAIN);
});

test('loss recovery: packet conservation for a round, then growth to the target; the old cwnd comes back at the end', () => {
  const f = toDrain();
  const cc = f.cc;
  f.ack({ rate: 8000, inflight: 50_000, round: false });
  for (let i = 0; i < 50; i++) f.ack({ newly: 10_000, rate: 8000, inflight: 150_000, dt: 0.1, round: false });
  const before = cc.cwnd;
  cc.onCongestionEvent(f.now, 150_000);
  assert.equal(cc.inRecovery, true);
  f.ack({ newly: 2000, rate: 8000, inflight: 60_000, round: false });
  assert.equal(cc.cwnd, 62_000, 'cwnd = inflight + delivered');
  f.ack({ newly: 1000, rate: 8000, inflight: 40_000, round: false });
  assert.equal(cc.cwnd, 62_000, 'packet conservation: not below inflight + delivered, no growth');
  f.ack({ newly: 1000, rate: 8000, inflight: 40_000 }); // the next round
  assert.equal(cc.cwnd, 63_000, 'after a round it grows by what is delivered again');
  cc.onRecoveryEnd(f.now);
  assert.equal(cc.inRecovery, false);
  assert.equal(cc.cwnd, before);
});

test('retransmission timeout: one segment, growth by what is delivered, the old cwnd back after a round', () => {
  const f = toDrain();
  const cc = f.cc;
  f.ack({ rate: 8000, inflight: 50_000, round: false });
  for (let i = 0; i < 500; i++) f.ack({ newly: 800, rate: 8000, inflight: 150_000, dt: 0.1, round: false });
  const before = cc.cwnd;
  cc.onRetransmitTimeout(f.now, 150_000);
  assert.equal(cc.cwnd, MSS);
  f.ack({ newly: MSS, rate: 8000, inflight: 0, round: false });
  assert.equal(cc.cwnd, 4 * MSS, 'never below 4 segments once an ACK came (MinPipeCwnd)');
  f.ack({ newly: MSS, rate: 8000, inflight: MSS });
  assert.equal(cc.cwnd, before);
});

test('idle restart: in PROBE_BW pace at the estimated bandwidth, and no PROBE_RTT on that ACK', () => {
  const f = toDrain(new SeededRng(9));
  const cc = f.cc;
  f.ack({ rate: 8000, inflight: 50_000, round: false });
  for (let i = 0; i < 10 && cc.cycleIndex !== 0; i++) f.ack({ rate: 8000, inflight: 80_000, dt: RTT + 1 });
  assert.equal(cc.pacingGain, 5 / 4);
  cc.onIdle(f.now + 1000, 200);
  assert.equal(cc.pacingRate, 8000);
});

test('send quantum (draft §4.2.2): 1 segment below 1.2 Mbit/s, 2 below 24 Mbit/s, else 1 ms of data up to 64 KiB', () => {
  const f = new Feeder(new Bbr({ mss: MSS, now: 0 }));
  // Before any sample the pacing rate is high_gain * IW per ms.
  assert.ok(Math.abs(f.cc.sendQuantum - BBR_HIGH_GAIN * 10_000) < 1e-6);
  const slow = new Feeder(new Bbr({ mss: MSS, now: 0 }));
  slow.ack({ rate: 40, rtt: 1000, inflight: 1000 }); // 0.32 Mbit/s; pacing from the first RTT: 2.885 * 10000 / 1000
  assert.equal(slow.cc.sendQuantum, MSS);
  const mid = new Feeder(new Bbr({ mss: MSS, now: 0 }));
  mid.ack({ rate: 400, rtt: 100, inflight: 1000 });
  assert.equal(mid.cc.sendQuantum, 2 * MSS);
  const fast = new Feeder(new Bbr({ mss: MSS, now: 0 }));
  fast.ack({ rate: 100_000, rtt: 1, inflight: 1000 });
  assert.equal(fast.cc.sendQuantum, 65536);
});

test('windowed max: best of the window, expires, and restarts on a new maximum', () => {
  const w = new WindowedMax(10);
  assert.equal(w.best, 0);
  w.update(5, 0);
  w.update(3, 1);
  w.update(4, 6);
  assert.equal(w.best, 5);
  w.update(2, 11);
  assert.equal(w.best, 4, 'the 5 from time 0 expired; the 4 from time 6 is next');
  w.update(9, 12);
  assert.equal(w.best, 9);
  w.update(1, 40);
  assert.equal(w.best, 1, 'everything expired');
  assert.throws(() => new WindowedMax(0), RangeError);
});

test('setMss keeps the window in segments', () => {
  const cc = new Bbr({ mss: 1000, now: 0 });
  cc.setMss(500);
  assert.equal(cc.cwnd, 5000);
});
