import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IpIdentGenerator } from '../../src/ip/ip-ident.js';
import { SeededRng } from '../../src/random/rng.js';

const A = 0x0a000001; const B = 0x0a000002; const C = 0x0a000003;

test('ident: a reservation of n IDs is followed by the next, per (src, dst, protocol): no ID twice', () => {
  const g = new IpIdentGenerator(new SeededRng(1));
  const seen = new Set<number>();
  let expect = -1;
  let total = 0;
  for (let i = 0; i < 300; i++) {
    const n = 1 + (i % 45); // bursts of 1..45 segments, all at the same instant
    const id = g.reserve(A, B, 6, n, 1000);
    if (expect >= 0) assert.equal(id, expect, 'the next reservation starts where the last ended');
    for (let k = 0; k < n; k++) {
      const v = (id + k) & 0xffff;
      assert.ok(!seen.has(v), `ID ${v} reused`);
      seen.add(v);
    }
    total += n;
    expect = (id + n) & 0xffff;
    // Other destinations and protocols in between never take IDs from this one.
    g.reserve(A, C, 6, 3, 1000);
    g.reserve(A, B, 17, 2, 1000);
  }
  assert.equal(seen.size, total);
});

test('ident: destinations get independent, unpredictable starting points', () => {
  const g = new IpIdentGenerator(new SeededRng(2));
  const starts = new Set<number>();
  for (let d = 0; d < 64; d++) starts.add(g.reserve(A, 0x0b000000 + d, 6, 1, 0));
  assert.ok(starts.size > 60, 'different buckets, different random counters');
  // Two generators (two stacks, or one restarted) with different keys do not agree.
  const h = new IpIdentGenerator(new SeededRng(3));
  let same = 0;
  for (let d = 0; d < 64; d++) if (h.reserve(A, 0x0b000000 + d, 6, 1, 0) === new IpIdentGenerator(new SeededRng(2)).reserve(A, 0x0b000000 + d, 6, 1, 0)) same++;
  assert.ok(same < 8);
});

test('ident: an idle counter jumps ahead by a random amount below the idle time (and at most 1024)', () => {
  const g = new IpIdentGenerator(new SeededRng(4));
  let id = g.reserve(A, B, 17, 1, 0);
  let jumped = 0;
  for (let t = 1; t <= 200; t++) {
    const next = g.reserve(A, B, 17, 1, t * 5000);
    const step = (next - id - 1) & 0xffff;
    assert.ok(step < 1024, `jump ${step}`);
    if (step > 0) jumped++;
    id = next;
  }
  assert.ok(jumped > 150, 'most idle periods move the counter');
  // No time passed: strictly consecutive.
  assert.equal(g.reserve(A, B, 17, 1, 200 * 5000), (id + 1) & 0xffff);
});

test('ident: bad bucket counts are refused', () => {
  assert.throws(() => new IpIdentGenerator(new SeededRng(1), 0), RangeError);
});
