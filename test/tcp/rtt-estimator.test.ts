import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { RttEstimator } from '../../src/tcp/rtt-estimator.js';

function close(actual: number | undefined, expected: number, name: string): void {
  assert.ok(actual !== undefined && Math.abs(actual - expected) < 1e-9, `${name}: ${actual} != ${expected}`);
}

test('initial RTO is 1 s (RFC 6298 (2.1)) and there is no SRTT', () => {
  const e = new RttEstimator();
  assert.equal(e.rto, 1000);
  assert.equal(e.srtt, undefined);
});

test('RFC 6298 (2.2)/(2.3) values, computed by hand', () => {
  // Minimum RTO set low so the RFC arithmetic is visible.
  const e = new RttEstimator({ minRtoMs: 1, granularityMs: 1 });
  const steps: Array<[string, number, number, number, number]> = [
    // name, R, SRTT, RTTVAR, RTO
    // first: SRTT=R=100, RTTVAR=50, RTO=100+max(1,200)=300
    ['first sample', 100, 100, 50, 300],
    // RTTVAR=0.75*50+0.25*|100-200|=62.5 ; SRTT=0.875*100+0.125*200=112.5 ; RTO=112.5+250=362.5
    ['second sample', 200, 112.5, 62.5, 362.5],
    // RTTVAR=0.75*62.5+0.25*|112.5-112.5|=46.875 ; SRTT=112.5 ; RTO=112.5+187.5=300
    ['equal to SRTT', 112.5, 112.5, 46.875, 300],
    // RTTVAR=0.75*46.875+0.25*12.5=38.28125 ; SRTT=0.875*112.5+0.125*100=110.9375 ; RTO=110.9375+153.125
    ['smaller', 100, 110.9375, 38.28125, 264.0625],
  ];
  for (const [name, r, srtt, rttvar, rto] of steps) {
    e.sample(r);
    close(e.srtt, srtt, `${name} srtt`);
    close(e.rttvar, rttvar, `${name} rttvar`);
    close(e.rto, rto, `${name} rto`);
  }
});

test('clock granularity G wins when 4*RTTVAR is smaller', () => {
  const e = new RttEstimator({ minRtoMs: 1, granularityMs: 10 });
  e.sample(2); // RTTVAR=1, 4*RTTVAR=4 < G=10 -> RTO=12
  close(e.rto, 12, 'rto');
});

test('min and max clamp: default 200 ms floor (Linux), RFC 1 s floor when asked', () => {
  const linux = new RttEstimator();
  linux.sample(1); // 1 + 2 = 3 ms -> 200
  assert.equal(linux.rto, 200);
  const rfc = new RttEstimator({ minRtoMs: 1000 });
  rfc.sample(100); // 300 -> 1000
  assert.equal(rfc.rto, 1000);
  const capped = new RttEstimator({ maxRtoMs: 5000 });
  capped.sample(4000); // 4000 + 8000 -> 5000
  assert.equal(capped.rto, 5000);
  assert.throws(() => new RttEstimator({ minRtoMs: 10, maxRtoMs: 5 }), RangeError);
});

test('backoff doubles up to the cap, and a new sample ends it', () => {
  const e = new RttEstimator({ maxRtoMs: 60_000 });
  const want = [2000, 4000, 8000, 16000, 32000, 60000, 60000];
  want.forEach((w, i) => {
    e.backoff();
    assert.equal(e.rto, w, `backoff ${i + 1}`);
    assert.equal(e.backoffs, i + 1);
  });
  e.sample(100); // 100 + 200 = 300
  assert.equal(e.rto, 300);
  assert.equal(e.backoffs, 0);
});

test('reinitialize (RFC 6298 §5.7: 3 s after a timed-out SYN)', () => {
  const e = new RttEstimator();
  e.sample(50);
  e.backoff();
  e.reinitialize(3000);
  assert.equal(e.rto, 3000);
  assert.equal(e.srtt, undefined);
  e.sample(100);
  close(e.srtt, 100, 'first sample again');
});

test('invalid samples are ignored', () => {
  const e = new RttEstimator();
  for (const bad of [-1, NaN, Infinity]) e.sample(bad);
  assert.equal(e.srtt, undefined);
  assert.equal(e.rto, 1000);
});

test('property: RTO always within [min, max] and >= SRTT', () => {
  fc.assert(fc.property(fc.array(fc.oneof(fc.double({ min: 0, max: 10_000, noNaN: true }), fc.constant(-1)), { maxLength: 50 }),
    (xs) => {
      const e = new RttEstimator();
      for (const x of xs) {
        if (x < 0) e.backoff(); else e.sample(x);
        assert.ok(e.rto >= 200 && e.rto <= 120_000);
        if (e.backoffs === 0 && e.srtt !== undefined) assert.ok(e.rto >= Math.min(e.srtt, 120_000));
      }
    }), { numRuns: 300 });
});
