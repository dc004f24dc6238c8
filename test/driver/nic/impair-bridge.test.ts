// The impairing bridge's core (one direction): netem's semantics with a seeded RNG,
// checked by what comes out and when, on a fake clock.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ImpairedDirection, IMPAIR_HOLD_MS } from '../../../src/driver/nic/impair-bridge.js';
import { checkImpairments } from '../../../src/driver/nic/impairment.js';
import { SeededRng } from '../../../src/random/rng.js';

function frame(n: number, len = 100): Uint8Array {
  const f = new Uint8Array(len);
  f[0] = n & 0xff;
  f[1] = n >> 8;
  return f;
}
const id = (f: Uint8Array): number => f[0]! | (f[1]! << 8);

test('no impairment: every frame comes out at once, in order, as a copy', () => {
  const d = new ImpairedDirection({}, new SeededRng(1));
  const f = frame(7);
  d.push(f, 0);
  f[0] = 99; // the reader reuses its buffer
  const out: number[] = [];
  d.takeDue(0, (x) => out.push(id(x)));
  assert.deepEqual(out, [7]);
  assert.equal(d.queued, 0);
});

test('delay holds frames for delayMs; reordered frames skip it and overtake (netem "reorder P delay D")', () => {
  const d = new ImpairedDirection({ delayMs: 2, reorder: 0.25, seed: 3 }, new SeededRng(3));
  const out: number[] = [];
  for (let i = 0; i < 2000; i++) {
    d.push(frame(i), i * 0.01);
    d.takeDue(i * 0.01, (x) => out.push(id(x)));
  }
  d.takeDue(1000, (x) => out.push(id(x)));
  assert.equal(out.length, 2000);
  assert.equal(d.stats.reordered + d.stats.delayed, 2000);
  assert.ok(d.stats.reordered > 350 && d.stats.reordered < 650, `~25 % reordered, got ${d.stats.reordered}`);
  let overtakes = 0;
  for (let i = 1; i < out.length; i++) if (out[i]! < out[i - 1]!) overtakes++;
  assert.ok(overtakes > 0, 'some frames overtook earlier ones');
  assert.equal(d.nextDueMs(), Infinity);
});

test('a delayed frame is not due before its time', () => {
  const d = new ImpairedDirection({ delayMs: 2 }, new SeededRng(1));
  d.push(frame(1), 10);
  const out: number[] = [];
  d.takeDue(11.9, (x) => out.push(id(x)));
  assert.equal(out.length, 0);
  assert.equal(d.nextDueMs(), 12);
  d.takeDue(12, (x) => out.push(id(x)));
  assert.deepEqual(out, [1]);
});

test('loss 1 drops everything; duplicate 1 sends every frame twice', () => {
  const lossy = new ImpairedDirection({ loss: 1 }, new SeededRng(1));
  const dup = new ImpairedDirection({ duplicate: 1 }, new SeededRng(1));
  const out: number[] = [];
  for (let i = 0; i < 10; i++) { lossy.push(frame(i), 0); dup.push(frame(i), 0); }
  lossy.takeDue(1, () => out.push(-1));
  dup.takeDue(1, (x) => out.push(id(x)));
  assert.equal(lossy.stats.lost, 10);
  assert.deepEqual(out, [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9]);
});

test('rate paces frames by their serialisation time', () => {
  const d = new ImpairedDirection({ rateBps: 8_000_000 }, new SeededRng(1)); // 1000 bytes per ms
  for (let i = 0; i < 3; i++) d.push(frame(i, 1000), 0);
  const at: number[] = [];
  for (let t = 0; t <= 4; t += 0.5) d.takeDue(t, () => at.push(t));
  assert.deepEqual(at, [1, 2, 3]);
});

test('without delay, a reordered frame is held until its successor went out (or IMPAIR_HOLD_MS)', () => {
  const d = new ImpairedDirection({ reorder: 1 }, new SeededRng(1));
  const out: number[] = [];
  d.push(frame(1), 0); // held
  d.push(frame(2), 0); // reordered too, but the hold slot is taken: sent at once
  d.takeDue(0, (x) => out.push(id(x)));
  assert.deepEqual(out, [2, 1]);
  d.push(frame(3), 5);
  d.takeDue(5, (x) => out.push(id(x)));
  assert.deepEqual(out, [2, 1]);
  d.takeDue(5 + IMPAIR_HOLD_MS, (x) => out.push(id(x)));
  assert.deepEqual(out, [2, 1, 3]);
});

test('the same seed replays the same run', () => {
  const run = (): number[] => {
    const d = new ImpairedDirection({ loss: 0.1, reorder: 0.2, duplicate: 0.05, delayMs: 1 }, new SeededRng(42));
    const out: number[] = [];
    for (let i = 0; i < 500; i++) { d.push(frame(i), i * 0.1); d.takeDue(i * 0.1, (x) => out.push(id(x))); }
    d.takeDue(1e9, (x) => out.push(id(x)));
    return out;
  };
  assert.deepEqual(run(), run());
});

test('bad impairments are refused naming the field', () => {
  assert.throws(() => checkImpairments({ loss: 2 }, 'impair'), { code: 'ERR_INVALID_ARG_VALUE', message: /impair\.loss/ });
  assert.throws(() => checkImpairments({ delayMs: -1 }), { code: 'ERR_INVALID_ARG_VALUE', message: /impairments\.delayMs/ });
  assert.throws(() => checkImpairments({ rateBps: 0 }), { code: 'ERR_INVALID_ARG_VALUE', message: /rateBps/ });
  assert.throws(() => checkImpairments({ duplicate: -0.1 }), { code: 'ERR_INVALID_ARG_VALUE', message: /duplicate/ });
});
