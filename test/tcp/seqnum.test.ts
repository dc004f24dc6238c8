import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  seqAdd, seqDiff, seqGe, seqGt, seqInWindow, seqLe, seqLt, seqMax, seqMin,
} from '../../src/tcp/seqnum.js';

const MAX = 0xffffffff;

test('seqAdd wraps modulo 2**32', () => {
  const cases: Array<[string, number, number, number]> = [
    ['plain', 1000, 500, 1500],
    ['wrap at top', MAX, 1, 0],
    ['wrap by many', 0xfffffff0, 0x20, 0x10],
    ['negative', 5, -10, 0xfffffffb],
    ['zero', 0, 0, 0],
    ['add 2**31', 0, 0x80000000, 0x80000000],
  ];
  for (const [name, a, n, want] of cases) assert.equal(seqAdd(a, n), want, name);
});

test('seqDiff is the signed distance across the wrap', () => {
  const cases: Array<[string, number, number, number]> = [
    ['forward', 1500, 1000, 500],
    ['backward', 1000, 1500, -500],
    ['across wrap forward', 0x10, 0xfffffff0, 0x20],
    ['across wrap backward', 0xfffffff0, 0x10, -0x20],
    ['equal', 7, 7, 0],
    ['max positive', 0x7fffffff, 0, 0x7fffffff],
    ['half space is -2**31', 0x80000000, 0, -0x80000000],
  ];
  for (const [name, a, b, want] of cases) assert.equal(seqDiff(a, b), want, name);
});

test('comparisons across the wrap', () => {
  const cases: Array<[string, number, number, boolean, boolean, boolean, boolean]> = [
    // name, a, b, lt, le, gt, ge
    ['less', 1, 2, true, true, false, false],
    ['equal', 5, 5, false, true, false, true],
    ['greater', 9, 2, false, false, true, true],
    ['MAX before 0', MAX, 0, true, true, false, false],
    ['0 after MAX', 0, MAX, false, false, true, true],
    ['0xfffffff0 before 0x10', 0xfffffff0, 0x10, true, true, false, false],
    ['just under half apart', 0, 0x7fffffff, true, true, false, false],
  ];
  for (const [name, a, b, lt, le, gt, ge] of cases) {
    assert.equal(seqLt(a, b), lt, `${name} lt`);
    assert.equal(seqLe(a, b), le, `${name} le`);
    assert.equal(seqGt(a, b), gt, `${name} gt`);
    assert.equal(seqGe(a, b), ge, `${name} ge`);
  }
});

test('seqMax / seqMin pick by sequence order, not numeric order', () => {
  assert.equal(seqMax(MAX, 3), 3);
  assert.equal(seqMin(MAX, 3), MAX);
  assert.equal(seqMax(100, 200), 200);
  assert.equal(seqMin(100, 200), 100);
  assert.equal(seqMax(4, 4), 4);
});

test('seqInWindow', () => {
  const cases: Array<[string, number, number, number, boolean]> = [
    ['start is inside', 100, 100, 10, true],
    ['last is inside', 109, 100, 10, true],
    ['end is outside', 110, 100, 10, false],
    ['before start', 99, 100, 10, false],
    ['zero window holds nothing', 100, 100, 0, false],
    ['wrapping window, high side', MAX, 0xfffffff0, 0x20, true],
    ['wrapping window, low side', 0x0f, 0xfffffff0, 0x20, true],
    ['wrapping window, end', 0x10, 0xfffffff0, 0x20, false],
    ['full space minus one', 0xfffffffe, 0, MAX, true],
    ['full space minus one excludes last', MAX, 0, MAX, false],
  ];
  for (const [name, x, start, len, want] of cases) assert.equal(seqInWindow(x, start, len), want, name);
});

test('properties: add/diff inverse, ordering consistent with diff', () => {
  const u32 = fc.integer({ min: 0, max: MAX });
  const delta = fc.integer({ min: -0x7fffffff, max: 0x7fffffff });
  fc.assert(fc.property(u32, delta, (a, d) => {
    const b = seqAdd(a, d);
    assert.ok(b >= 0 && b <= MAX && Number.isInteger(b));
    assert.equal(seqDiff(b, a), d);
    assert.equal(seqLt(a, b), d > 0);
    assert.equal(seqGt(a, b), d < 0);
    assert.equal(seqLe(a, b), d >= 0);
    assert.equal(seqGe(a, b), d <= 0);
    assert.equal(seqMax(a, b), d >= 0 ? b : a);
    assert.equal(seqMin(a, b), d >= 0 ? a : b);
  }), { numRuns: 2000 });
});

test('property: seqInWindow matches offset arithmetic', () => {
  const u32 = fc.integer({ min: 0, max: MAX });
  fc.assert(fc.property(u32, fc.integer({ min: 0, max: 1 << 30 }), fc.integer({ min: -100, max: (1 << 30) + 100 }),
    (start, len, off) => {
      const x = seqAdd(start, off);
      assert.equal(seqInWindow(x, start, len), off >= 0 && off < len);
    }), { numRuns: 2000 });
});
