import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createCongestionControl, initialWindowBytes, NewReno } from '../../../src/tcp/congestion/index.js';

const MSS = 1000;

/** One RTT of a window-limited sender: the whole cwnd is acknowledged MSS by MSS. */
function round(cc: NewReno, now: number, rtt: number): number {
  const n = Math.max(1, Math.floor(cc.cwnd / MSS));
  for (let i = 0; i < n; i++) cc.onAck(MSS, now + (rtt * (i + 1)) / n, rtt, cc.cwnd);
  return now + rtt;
}

test('initial window per RFC 6928: min(10*MSS, max(2*MSS, 14600))', () => {
  const cases: Array<[number, number, number]> = [[1460, 10, 14600], [536, 10, 5360], [9000, 10, 18000], [1460, 4, 5840], [1000, 1, 1000]];
  for (const [mss, iw, want] of cases) {
    assert.equal(initialWindowBytes(mss, iw), want, `mss ${mss} iw ${iw}`);
    assert.equal(createCongestionControl('newreno', { mss, initialWindow: iw, now: 0 }).cwnd, want);
  }
  assert.throws(() => new NewReno({ mss: 0, now: 0 }), RangeError);
  assert.throws(() => new NewReno({ mss: 1460, initialWindow: 0, now: 0 }), RangeError);
  const cc = createCongestionControl('newreno', { mss: 1460, now: 0 });
  assert.equal(cc.name, 'newreno');
  assert.equal(cc.ssthresh, Infinity);
});

test('slow start: +MSS per MSS acknowledged, at most 2*MSS per ACK (RFC 3465 L=2), doubles per RTT', () => {
  const cc = new NewReno({ mss: MSS, now: 0 });
  assert.equal(cc.cwnd, 10 * MSS);
  cc.onAck(MSS, 1, 10, Infinity);
  assert.equal(cc.cwnd, 11 * MSS);
  cc.onAck(5 * MSS, 2, 10, Infinity); // stretch ACK: limited to L*SMSS
  assert.equal(cc.cwnd, 13 * MSS);
  cc.onAck(500, 3, 10, Infinity);
  assert.equal(cc.cwnd, 13 * MSS + 500);
  const c2 = new NewReno({ mss: MSS, now: 0 });
  let now = 0;
  for (let r = 0; r < 4; r++) now = round(c2, now, 100);
  assert.equal(c2.cwnd, 160 * MSS);
});

test('slow start with abcLimit 0 (Linux): a stretch ACK for merged segments grows cwnd by all it acknowledges', () => {
  for (const name of ['newreno', 'cubic'] as const) {
    const cc = createCongestionControl(name, { mss: MSS, now: 0, abcLimit: 0 });
    cc.onAck(28 * MSS, 1, 10, Infinity); // one ACK for a 28-segment GRO packet
    assert.equal(cc.cwnd, 38 * MSS, name);
    const limited = createCongestionControl(name, { mss: MSS, now: 0 });
    limited.onAck(28 * MSS, 1, 10, Infinity);
    assert.equal(limited.cwnd, 12 * MSS, `${name}: default L = 2`);
  }
});

test('congestion event: ssthresh = max(FlightSize/2, 2*SMSS), once per recovery; no growth inside', () => {
  const cc = new NewReno({ mss: MSS, now: 0 });
  cc.onCongestionEvent(5, 40 * MSS);
  assert.equal(cc.ssthresh, 20 * MSS);
  assert.equal(cc.cwnd, 20 * MSS);
  assert.ok(cc.inRecovery);
  cc.onCongestionEvent(6, 10 * MSS); // same episode: ignored
  assert.equal(cc.ssthresh, 20 * MSS);
  cc.onAck(MSS, 7, 10, Infinity);
  assert.equal(cc.cwnd, 20 * MSS, 'no growth during recovery');
  cc.onRecoveryEnd(8);
  assert.ok(!cc.inRecovery);
  const small = new NewReno({ mss: MSS, now: 0 });
  small.onCongestionEvent(1, 1500);
  assert.equal(small.ssthresh, 2 * MSS);
});

test('congestion avoidance: +1 MSS per RTT with byte counting (RFC 3465 §2.1)', () => {
  const cc = new NewReno({ mss: MSS, now: 0 });
  cc.onCongestionEvent(0, 40 * MSS);
  cc.onRecoveryEnd(0);
  let now = 0;
  const trace: number[] = [];
  for (let r = 0; r < 10; r++) { now = round(cc, now, 50); trace.push(cc.cwnd / MSS); }
  assert.deepEqual(trace, [21, 22, 23, 24, 25, 26, 27, 28, 29, 30]);
});

test('slow start stops at ssthresh', () => {
  const cc = new NewReno({ mss: MSS, now: 0 });
  cc.onRetransmitTimeout(0, 30 * MSS); // ssthresh 15, cwnd 1
  let now = 0;
  const trace: number[] = [];
  for (let r = 0; r < 6; r++) { now = round(cc, now, 50); trace.push(cc.cwnd / MSS); }
  assert.deepEqual(trace, [2, 4, 8, 15, 16, 17]);
});

test('retransmission timeout: cwnd = 1 MSS; a repeated timeout holds ssthresh (RFC 5681 §3.1)', () => {
  const cc = new NewReno({ mss: MSS, now: 0 });
  cc.onCongestionEvent(0, 40 * MSS);
  cc.onRetransmitTimeout(100, 20 * MSS);
  assert.equal(cc.cwnd, MSS);
  assert.equal(cc.ssthresh, 10 * MSS);
  assert.ok(!cc.inRecovery, 'an RTO ends fast recovery');
  cc.onRetransmitTimeout(300, 20 * MSS / 4);
  assert.equal(cc.ssthresh, 10 * MSS, 'held');
  cc.onAck(MSS, 400, 10, Infinity);
  cc.onRetransmitTimeout(900, 8 * MSS);
  assert.equal(cc.ssthresh, 4 * MSS, 'new data acknowledged in between: recomputed');
});

test('idle restart (RFC 5681 §4.1): RW = min(IW, cwnd) only after an RTO without ACKs', () => {
  const cc = new NewReno({ mss: MSS, now: 0 });
  let now = 0;
  for (let r = 0; r < 3; r++) now = round(cc, now, 100);
  assert.equal(cc.cwnd, 80 * MSS);
  cc.onIdle(now + 200, 300);
  assert.equal(cc.cwnd, 80 * MSS, 'not idle long enough');
  cc.onIdle(now + 301, 300);
  assert.equal(cc.cwnd, 10 * MSS);
  const small = new NewReno({ mss: MSS, now: 0 });
  small.onRetransmitTimeout(0, 10 * MSS);
  small.onIdle(10_000, 1000);
  assert.equal(small.cwnd, MSS, 'min(IW, cwnd)');
});

test('no growth when not cwnd-limited (application-limited sender)', () => {
  const cc = new NewReno({ mss: MSS, now: 0 });
  cc.onAck(MSS, 1, 10, 4 * MSS); // 4 in flight of a 10-segment window
  assert.equal(cc.cwnd, 10 * MSS);
  cc.onAck(MSS, 2, 10, 5 * MSS); // half the window: counts
  assert.equal(cc.cwnd, 11 * MSS);
});

test('setMss: initial window recomputed before any ACK, segment counts kept after', () => {
  const cc = new NewReno({ mss: 536, now: 0 });
  assert.equal(cc.cwnd, 5360);
  cc.setMss(1460);
  assert.equal(cc.cwnd, 14600);
  cc.onCongestionEvent(0, 20 * 1460);
  cc.setMss(1000);
  assert.equal(cc.cwnd, 10 * 1000);
  assert.equal(cc.ssthresh, 10 * 1000);
});
