import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PACE_JITTER_MS, paceSent } from '../../src/tcp/pacing.js';
import type { Tcb } from '../../src/tcp/tcb.js';

/** The fields paceSent reads: a controller pacing at `rate` bytes/ms with a `quantum`. */
const tcb = (rate: number, quantum: number): Tcb => ({ cc: { pacingRate: rate, sendQuantum: quantum }, sndMss: 1000, paceNext: 0 }) as unknown as Tcb;

test('pacing: each send moves the release time on by len / rate', () => {
  const t = tcb(1000, 2000);
  t.paceNext = 10;
  paceSent(t, 2000, 10);
  assert.equal(t.paceNext, 12);
  paceSent(t, 1000, 10);
  assert.equal(t.paceNext, 13, 'sent before the release time: the next release moves on from it');
});

test('pacing: a pace timer that fired late is made up for, up to PACE_JITTER_MS (a fast stream with a small quantum)', () => {
  // 8 Gbit/s = 1e6 bytes/ms: a 64 KiB quantum is 0.066 ms, less than a server loop's wake-up latency.
  const rate = 1e6;
  const t = tcb(rate, 65536);
  paceSent(t, 65536, 0);
  const due = t.paceNext;
  // The timer fires 0.3 ms late: the next release is due.paceNext + len/rate, not now + len/rate.
  paceSent(t, 65536, due + 0.3);
  assert.ok(Math.abs(t.paceNext - (due + 65536 / rate)) < 1e-9, `${t.paceNext}`);
  // Idle far longer than the jitter bound earns PACE_JITTER_MS of credit, no more.
  const later = t.paceNext + 50;
  paceSent(t, 65536, later);
  assert.ok(Math.abs(t.paceNext - (later - PACE_JITTER_MS + 65536 / rate)) < 1e-9, `${t.paceNext}`);
});

test('pacing: a slow stream keeps one send quantum of credit when that is longer than the jitter bound', () => {
  const t = tcb(100, 2000); // 0.8 Mbit/s: a quantum is 20 ms
  paceSent(t, 1000, 100);
  assert.ok(Math.abs(t.paceNext - (100 - 20 + 10)) < 1e-9, `${t.paceNext}`);
});
