import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createCongestionControl, Cubic, CUBIC_ALPHA } from '../../../src/tcp/congestion/index.js';

const MSS = 1000;

/** One RTT of a window-limited sender ending at now + rtt; returns the new now. */
function round(cc: Cubic, now: number, rtt: number): number {
  const n = Math.max(1, Math.floor(cc.cwnd / MSS));
  for (let i = 0; i < n; i++) cc.onAck(MSS, now + (rtt * (i + 1)) / n, rtt, cc.cwnd);
  return now + rtt;
}

/** A CUBIC sender that has grown to `w` segments in slow start and then sees a loss with `w` in flight. */
function afterLoss(w: number, now = 0): Cubic {
  const cc = new Cubic({ mss: MSS, initialWindow: w, now });
  cc.onCongestionEvent(now, w * MSS);
  cc.onRecoveryEnd(now);
  return cc;
}

test('factory and constants', () => {
  const cc = createCongestionControl('cubic', { mss: 1460, now: 0 });
  assert.equal(cc.name, 'cubic');
  assert.equal(cc.cwnd, 14600);
  assert.ok(Math.abs(CUBIC_ALPHA - 0.9 / 1.7) < 1e-12);
});

test('multiplicative decrease: beta 0.7 of flight size, W_max = cwnd, K = cbrt((W_max - cwnd_epoch)/C)', () => {
  const cc = afterLoss(100);
  assert.equal(cc.ssthresh, 70 * MSS);
  assert.equal(cc.cwnd, 70 * MSS);
  assert.equal(cc.wMaxSegments, 100);
  cc.onAck(MSS, 1, 100, Infinity); // first ACK of the congestion avoidance stage
  assert.ok(Math.abs(cc.kSeconds - Math.cbrt(30 / 0.4)) < 1e-9, `K ${cc.kSeconds}`);
  const tiny = afterLoss(2);
  assert.equal(tiny.ssthresh, 2 * MSS, 'at least 2 segments');
});

test('fast convergence (RFC 9438 §4.7): a loss below W_max sets W_max = cwnd * (1 + beta) / 2', () => {
  const cc = afterLoss(100);
  cc.onCongestionEvent(10, 70 * MSS); // at cwnd 70 < W_max 100
  assert.ok(Math.abs(cc.wMaxSegments! - 70 * 0.85) < 1e-9);
  assert.equal(cc.ssthresh, 49 * MSS);
  const off = new Cubic({ mss: MSS, initialWindow: 100, now: 0, fastConvergence: false });
  off.onCongestionEvent(0, 100 * MSS);
  off.onRecoveryEnd(0);
  off.onCongestionEvent(10, 70 * MSS);
  assert.equal(off.wMaxSegments, 70);
});

test('concave then convex growth follows W_cubic(t) = C(t-K)^3 + W_max (RTT 100 ms, W_max 100)', () => {
  const cc = afterLoss(100);
  const rtt = 100;
  let now = 0;
  const k = Math.cbrt(30 / 0.4);
  const wCubic = (t: number): number => 0.4 * (t - k) ** 3 + 100;
  let checked = 0;
  let wEst = 70; // RFC 9438 §4.3 model: +alpha_cubic per RTT below cwnd_prior (100), +1 above
  for (let r = 0; r < 70; r++) {
    now = round(cc, now, rtt);
    wEst += wEst >= 100 ? 1 : CUBIC_ALPHA;
    const t = now / 1000;
    const w = cc.cwnd / MSS;
    // The window chases max(W_cubic(t + RTT), W_est) each RTT; it stays within a couple
    // of segments of the curve. Beyond t ~ 6 s the Reno-friendly W_est takes over.
    const want = Math.max(wCubic(t), wEst);
    assert.ok(Math.abs(w - want) <= Math.max(2, 0.03 * want), `t=${t.toFixed(1)} cwnd ${w.toFixed(2)} vs W_cubic ${want.toFixed(2)}`);
    checked++;
  }
  assert.equal(checked, 70);
  // Plateau near W_max around t = K (concave approach), growth beyond it afterwards (convex probing).
  assert.ok(cc.cwnd / MSS > 110, `convex region reached: ${cc.cwnd / MSS}`);
});

test('Reno-friendly region (RFC 9438 §4.3): short RTT, small window grows like W_est', () => {
  const cc = afterLoss(20); // cwnd 14, W_max 20, K = cbrt(15) ~ 2.47 s
  const rtt = 10;
  let now = 0;
  let prev = cc.cwnd / MSS;
  const slopes: number[] = [];
  for (let r = 0; r < 40; r++) {
    now = round(cc, now, rtt);
    const w = cc.cwnd / MSS;
    slopes.push(w - prev);
    prev = w;
    assert.ok(Math.abs(cc.wEstSegments - cc.cwnd / MSS) < 1, 'cwnd tracks W_est');
  }
  // Below cwnd_prior (20) the slope is alpha_cubic ~0.53 segment per RTT, above it 1 (Reno).
  const early = slopes.slice(1, 6);
  for (const s of early) assert.ok(Math.abs(s - CUBIC_ALPHA) < 0.15, `early slope ${s}`);
  const late = slopes.slice(-5);
  for (const s of late) assert.ok(Math.abs(s - 1) < 0.15, `late slope ${s}`);
});

test('retransmission timeout (RFC 9438 §4.8): cwnd 1 MSS, ssthresh beta*flight, then slow start and K = 0', () => {
  const cc = new Cubic({ mss: MSS, initialWindow: 100, now: 0 });
  cc.onRetransmitTimeout(0, 100 * MSS);
  assert.equal(cc.cwnd, MSS);
  assert.equal(cc.ssthresh, 70 * MSS);
  cc.onRetransmitTimeout(1000, 100 * MSS);
  assert.equal(cc.ssthresh, 70 * MSS, 'repeated timeout holds ssthresh');
  let now = 1000;
  const rtt = 100;
  while (cc.cwnd < cc.ssthresh) now = round(cc, now, rtt);
  // Slow start stops at ssthresh; the rest of that round's ACKs are congestion avoidance.
  assert.ok(cc.cwnd >= 70 * MSS && cc.cwnd < 71 * MSS, `cwnd ${cc.cwnd}`);
  now = round(cc, now, rtt);
  assert.equal(cc.kSeconds, 0);
  assert.equal(cc.wMaxSegments, 70);
  // Convex from the start (K = 0): W_cubic(t) = 70 + 0.4 t^3, against the Reno-friendly
  // W_est = 70 + alpha_cubic per RTT (cwnd_prior is 100, the window at the timeout).
  const start = now - rtt;
  let rounds = 1;
  while (now - start < 3000) {
    now = round(cc, now, rtt);
    rounds++;
    const t = (now - start) / 1000;
    const want = Math.max(70 + 0.4 * t ** 3, 70 + CUBIC_ALPHA * rounds);
    const w = cc.cwnd / MSS;
    assert.ok(Math.abs(w - want) < 2, `t=${t} cwnd ${w} want ${want}`);
  }
  assert.ok(cc.cwnd / MSS > 70 + 0.4 * 27 - 2, 'the cubic term dominates by 3 s');
});

test('recovery: no growth, one reduction per episode', () => {
  const cc = new Cubic({ mss: MSS, initialWindow: 50, now: 0 });
  cc.onCongestionEvent(0, 50 * MSS);
  const w = cc.cwnd;
  cc.onAck(10 * MSS, 10, 50, Infinity);
  cc.onCongestionEvent(20, 50 * MSS);
  assert.equal(cc.cwnd, w);
  assert.ok(cc.inRecovery);
  cc.onRecoveryEnd(30);
  cc.onAck(MSS, 40, 50, Infinity);
  assert.ok(cc.cwnd >= w);
});

test('application-limited time does not count towards t', () => {
  const limited = afterLoss(100);
  const busy = afterLoss(100);
  let now = 0;
  for (let r = 0; r < 5; r++) { round(limited, now, 100); now = round(busy, now, 100); }
  // limited: 2 s of ACKs while using a quarter of the window
  for (let i = 1; i <= 20; i++) limited.onAck(MSS, now + i * 100, 100, 10 * MSS);
  const frozen = limited.cwnd;
  assert.ok(frozen <= busy.cwnd + MSS);
  // Then back to window-limited: it continues from where it was, not 2 s further on the curve.
  let nowL = now + 2000;
  let nowB = now;
  for (let r = 0; r < 5; r++) { nowL = round(limited, nowL, 100); nowB = round(busy, nowB, 100); }
  assert.ok(Math.abs(limited.cwnd - busy.cwnd) <= 2 * MSS, `${limited.cwnd} vs ${busy.cwnd}`);
});

test('idle restart and setMss', () => {
  const cc = new Cubic({ mss: MSS, now: 0 });
  let now = 0;
  for (let r = 0; r < 4; r++) now = round(cc, now, 100); // slow start to 160 segments
  cc.onCongestionEvent(now, 100 * MSS);
  cc.onRecoveryEnd(now);
  for (let r = 0; r < 5; r++) now = round(cc, now, 100);
  cc.onIdle(now + 500, 1000);
  assert.ok(cc.cwnd > 70 * MSS);
  cc.onIdle(now + 1001, 1000);
  assert.equal(cc.cwnd, 10 * MSS);
  const m = new Cubic({ mss: 536, now: 0 });
  m.setMss(1460);
  assert.equal(m.cwnd, 14600);
});
