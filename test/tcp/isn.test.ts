import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IsnGenerator } from '../../src/tcp/isn.js';
import { SeededRng } from '../../src/random/rng.js';
import { SipHash24 } from '../../src/random/siphash.js';
import { seqDiff } from '../../src/tcp/seqnum.js';

const A = 0x0a000001; // 10.0.0.1
const B = 0x0a000002; // 10.0.0.2

test('ISN = M + F: F is SipHash-2-4 of (local, remote, ports) and M ticks every 4 us', () => {
  const key = Uint8Array.from({ length: 16 }, (_, i) => i * 7);
  const g = new IsnGenerator(key);
  const words = Uint32Array.from([A, B, (40000 << 16) | 80]);
  const f = new SipHash24(key).hashWords(words);
  assert.equal(g.offset(A, 40000, B, 80), f);
  assert.equal(g.isn(A, 40000, B, 80, 0), f);
  assert.equal(g.isn(A, 40000, B, 80, 1), (f + 250) >>> 0, '1 ms = 250 ticks of 4 us');
  assert.equal(g.isn(A, 40000, B, 80, 0.004), (f + 1) >>> 0, '4 us = one tick');
  assert.equal(g.clock(2 ** 32 / 250), 0, 'M wraps at 2**32 (about 4.77 hours)');
});

test('the same connection-id gets increasing ISNs over time (old duplicates stay below)', () => {
  const g = IsnGenerator.fromRng(new SeededRng(1));
  let prev = g.isn(A, 1234, B, 443, 0);
  for (let t = 1; t < 10_000_000; t += 123_457) {
    const next = g.isn(A, 1234, B, 443, t);
    const d = seqDiff(next, prev);
    assert.ok(d > 0, `at t=${t}`);
    prev = next;
  }
});

test('different connection-ids, or a different key, give unrelated ISNs', () => {
  const g = IsnGenerator.fromRng(new SeededRng(2));
  const other = IsnGenerator.fromRng(new SeededRng(3));
  const base = g.isn(A, 1000, B, 80, 5);
  const variants = [
    g.isn(A, 1001, B, 80, 5), g.isn(A, 1000, B, 81, 5), g.isn(A + 1, 1000, B, 80, 5),
    g.isn(A, 1000, B + 1, 80, 5), g.isn(B, 80, A, 1000, 5), other.isn(A, 1000, B, 80, 5),
  ];
  for (const v of variants) assert.notEqual(v, base);
  // An attacker's own connections do not reveal the offset of another port: over 20 000
  // consecutive source ports the offsets are spread over the whole space (each bit ~half set).
  const bits = new Array<number>(32).fill(0);
  const n = 20_000;
  for (let p = 0; p < n; p++) {
    const f = g.offset(A, 30000 + p, B, 80);
    for (let b = 0; b < 32; b++) bits[b]! += (f >>> b) & 1;
  }
  for (let b = 0; b < 32; b++) assert.ok(Math.abs(bits[b]! / n - 0.5) < 0.02, `bit ${b}: ${bits[b]! / n}`);
});
