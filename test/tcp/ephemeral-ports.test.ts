import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EphemeralPorts } from '../../src/tcp/ephemeral-ports.js';
import { SeededRng } from '../../src/random/rng.js';

const L = 0x0a000001;
const R = 0x5db8d822;

test('range validation and defaults', () => {
  const p = new EphemeralPorts({ rng: new SeededRng(1) });
  assert.equal(p.min, 49152);
  assert.equal(p.max, 65535);
  assert.equal(p.size, 16384);
  const bad: Array<[string, number, number]> = [['min 0', 0, 100], ['max too big', 1000, 70000], ['inverted', 5000, 4000], ['fraction', 1000.5, 2000]];
  for (const [name, min, max] of bad) assert.throws(() => new EphemeralPorts({ rng: new SeededRng(1), min, max }), RangeError, name);
  assert.throws(() => new EphemeralPorts({ rng: new SeededRng(1), tableLength: 0 }), RangeError);
});

test('collision avoidance: ports in use are skipped; every port is handed out once before exhaustion', () => {
  const p = new EphemeralPorts({ rng: new SeededRng(2), min: 40000, max: 40999 });
  const used = new Set<number>();
  for (let i = 0; i < 1000; i++) {
    const port = p.allocate(L, R, 443, (x) => !used.has(x));
    assert.ok(port !== undefined && port >= 40000 && port <= 40999, `allocation ${i}`);
    assert.ok(!used.has(port));
    used.add(port);
  }
  let calls = 0;
  assert.equal(p.allocate(L, R, 443, (x) => { calls++; return !used.has(x); }), undefined, 'exhausted');
  assert.equal(calls, 1000, 'each port tried exactly once');
  used.delete(40500);
  assert.equal(p.allocate(L, R, 443, (x) => !used.has(x)), 40500, 'a freed port is found again');
});

test('exhaustion of a tiny range, and single-port ranges', () => {
  const p = new EphemeralPorts({ rng: new SeededRng(3), min: 5000, max: 5002 });
  const used = new Set<number>();
  for (let i = 0; i < 3; i++) used.add(p.allocate(L, R, 80, (x) => !used.has(x))!);
  assert.deepEqual([...used].sort(), [5000, 5001, 5002]);
  assert.equal(p.allocate(L, R, 80, (x) => !used.has(x)), undefined);
  const one = new EphemeralPorts({ rng: new SeededRng(3), min: 7, max: 7 });
  assert.equal(one.allocate(L, R, 80, () => true), 7);
  assert.equal(one.allocate(L, R, 80, () => false), undefined);
});

test('successive connections to one destination get successive ports (Algorithm 4)', () => {
  const p = new EphemeralPorts({ rng: new SeededRng(4) });
  const a = p.allocate(L, R, 443, () => true)!;
  const b = p.allocate(L, R, 443, () => true)!;
  const c = p.allocate(L, R, 443, () => true)!;
  assert.equal((b - p.min) % p.size, (a - p.min + 1) % p.size);
  assert.equal((c - p.min) % p.size, (a - p.min + 2) % p.size);
});

test('distribution: first ports towards 20 000 destinations are spread evenly over the range', () => {
  const p = new EphemeralPorts({ rng: new SeededRng(5), tableLength: 65536 });
  const buckets = new Array<number>(16).fill(0);
  const n = 20_000;
  for (let i = 0; i < n; i++) {
    const port = p.allocate(L, R + i, 443, () => true)!;
    buckets[Math.floor(((port - p.min) * 16) / p.size)]!++;
  }
  // Chi-square with 15 degrees of freedom: 99.9th percentile is about 37.7.
  const expected = n / 16;
  const chi2 = buckets.reduce((s, o) => s + ((o - expected) ** 2) / expected, 0);
  assert.ok(chi2 < 37.7, `chi2 ${chi2.toFixed(1)} buckets ${buckets.join(',')}`);
});

test('a replica filter: every port returned satisfies it', () => {
  const p = new EphemeralPorts({ rng: new SeededRng(6) });
  const used = new Set<number>();
  const replica = 2;
  const mapsHere = (port: number): boolean => ((port * 2654435761) >>> 0) % 4 === replica; // stand-in for an RSS hash
  for (let i = 0; i < 500; i++) {
    const port = p.allocate(L, R, 80, (x) => !used.has(x) && mapsHere(x))!;
    assert.ok(port !== undefined && mapsHere(port) && !used.has(port));
    used.add(port);
  }
});

test('deterministic from the seed; another key gives another sequence', () => {
  const seq = (seed: number): number[] => {
    const p = new EphemeralPorts({ rng: new SeededRng(seed) });
    return [0, 1, 2, 3].map((i) => p.allocate(L, R, 1000 + i, () => true)!);
  };
  assert.deepEqual(seq(7), seq(7));
  assert.notDeepEqual(seq(7), seq(8));
});
