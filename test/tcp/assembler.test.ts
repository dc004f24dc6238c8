import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Assembler } from '../../src/tcp/assembler.js';

test('table: adds and the resulting ranges', () => {
  const cases: Array<[string, Array<[number, number]>, Array<[number, number]>]> = [
    ['single', [[10, 5]], [[10, 15]]],
    ['disjoint kept sorted', [[20, 5], [5, 5]], [[5, 10], [20, 25]]],
    ['touching merges', [[5, 5], [10, 5]], [[5, 15]]],
    ['touching on the left merges', [[10, 5], [5, 5]], [[5, 15]]],
    ['overlap merges', [[5, 10], [12, 10]], [[5, 22]]],
    ['contained is a no-op', [[5, 10], [7, 2]], [[5, 15]]],
    ['covering swallows several', [[5, 2], [10, 2], [20, 2], [0, 30]], [[0, 30]]],
    ['fill a hole between two', [[0, 5], [10, 5], [5, 5]], [[0, 15]]],
    ['zero length ignored', [[5, 0]], []],
  ];
  for (const [name, adds, want] of cases) {
    const a = new Assembler();
    for (const [o, l] of adds) assert.equal(a.add(o, l), true, name);
    assert.deepEqual(a.ranges(), want, name);
  }
});

test('frontLength, shift and popFront', () => {
  const a = new Assembler();
  a.add(5, 5);
  assert.equal(a.frontLength(), 0, 'hole at 0');
  assert.equal(a.popFront(), 0);
  a.add(0, 3);
  assert.equal(a.frontLength(), 3);
  a.add(3, 2);
  assert.equal(a.popFront(), 10);
  assert.ok(a.isEmpty());
  a.add(4, 4);
  a.add(20, 4);
  a.shift(6); // RCV.NXT moved by 6 by some other means: [4,8) -> [0,2), [20,24) -> [14,18)
  assert.deepEqual(a.ranges(), [[0, 2], [14, 18]]);
  a.shift(16);
  assert.deepEqual(a.ranges(), [[0, 2]]);
  a.shift(10);
  assert.ok(a.isEmpty());
});

test('bounded: a new range beyond maxRanges is rejected, merges and offset 0 are still accepted', () => {
  const a = new Assembler({ maxRanges: 3 });
  assert.ok(a.add(10, 1));
  assert.ok(a.add(20, 1));
  assert.ok(a.add(30, 1));
  assert.equal(a.add(40, 1), false, 'fourth hole');
  assert.deepEqual(a.ranges(), [[10, 11], [20, 21], [30, 31]], 'unchanged after reject');
  assert.ok(a.add(31, 5), 'extends an existing range');
  assert.ok(a.add(15, 1) === false, 'new range between, still over the bound');
  assert.ok(a.add(11, 9), 'bridges two ranges');
  assert.equal(a.rangeCount, 2);
  assert.ok(a.add(50, 1));
  assert.ok(a.add(0, 2), 'in-order data at RCV.NXT is always accepted');
  assert.equal(a.rangeCount, 4);
  assert.equal(a.popFront(), 2);
  assert.equal(a.rangeCount, 3);
  assert.throws(() => new Assembler({ maxRanges: 0 }), RangeError);
  assert.throws(() => a.add(-1, 1), RangeError);
});

test('SACK blocks: most recently updated range first (RFC 2018 §4)', () => {
  const a = new Assembler();
  const nxt = 0xfffffff0; // blocks wrap the sequence space
  a.add(10, 10); // A [10,20)
  a.add(30, 10); // B [30,40)
  a.add(50, 10); // C [50,60)
  assert.deepEqual(a.sackBlocks(nxt, 4), [
    { start: (nxt + 50) >>> 0, end: (nxt + 60) >>> 0 },
    { start: (nxt + 30) >>> 0, end: (nxt + 40) >>> 0 },
    { start: (nxt + 10) >>> 0, end: (nxt + 20) >>> 0 },
  ]);
  a.add(15, 2); // a duplicate inside A: A is the block holding the triggering segment
  assert.deepEqual(a.sackBlocks(nxt, 1), [{ start: (nxt + 10) >>> 0, end: (nxt + 20) >>> 0 }]);
  a.add(40, 10); // joins B and C into [30,60): it comes first
  assert.deepEqual(a.sackBlocks(0, 3), [{ start: 30, end: 60 }, { start: 10, end: 20 }]);
  assert.deepEqual(a.sackBlocks(0, 0), []);
  a.add(0, 5); // in-order data, not yet popped: not reported (it will be cumulatively ACKed)
  assert.deepEqual(a.sackBlocks(0, 3), [{ start: 30, end: 60 }, { start: 10, end: 20 }]);
  a.clear();
  assert.deepEqual(a.sackBlocks(0, 3), []);
});

test('SACK blocks: with more ranges than blocks, the last block cycles through the older ranges', () => {
  const a = new Assembler();
  for (const off of [10, 30, 50, 70, 90]) a.add(off, 5); // most recent: 90, 70, 50, 30, 10
  const thirds: number[] = [];
  for (let i = 0; i < 6; i++) {
    const b = a.sackBlocks(0, 3);
    assert.deepEqual(b.slice(0, 2), [{ start: 90, end: 95 }, { start: 70, end: 75 }]);
    thirds.push(b[2]!.start);
  }
  // Every older range is reported within (ranges - 2) ACKs, so one lost ACK does not hide it.
  assert.deepEqual(thirds, [50, 30, 10, 50, 30, 10]);
  // Two blocks (no room to rotate): the two most recent, as before.
  assert.deepEqual(a.sackBlocks(0, 2), [{ start: 90, end: 95 }, { start: 70, end: 75 }]);
});

type Op = { t: 'add'; off: number; len: number } | { t: 'pop' } | { t: 'shift'; n: number };

function runs(bits: boolean[]): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let i = 0; i < bits.length; i++) {
    if (bits[i] && !bits[i - 1]) out.push([i, i]);
    if (bits[i]) out[out.length - 1]![1] = i + 1;
  }
  return out;
}

test('property: agrees with a bitmap model, including the bound and SACK recency', () => {
  const op: fc.Arbitrary<Op> = fc.oneof(
    { weight: 6, arbitrary: fc.record({ t: fc.constant('add' as const), off: fc.nat(200), len: fc.nat(30) }) },
    { weight: 1, arbitrary: fc.constant({ t: 'pop' as const }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('shift' as const), n: fc.nat(40) }) },
  );
  fc.assert(fc.property(fc.integer({ min: 1, max: 6 }), fc.array(op, { maxLength: 80 }), (max, ops) => {
    const a = new Assembler({ maxRanges: max });
    let bits: boolean[] = [];
    for (const o of ops) {
      if (o.t === 'add') {
        const next = bits.slice();
        for (let k = o.off; k < o.off + o.len; k++) next[k] = true;
        const before = runs(bits).length;
        const grows = runs(next).length > before;
        const expectOk = !(grows && before >= max && o.off !== 0);
        assert.equal(a.add(o.off, o.len), expectOk);
        if (expectOk) {
          bits = next;
          const holder = runs(bits).find((r) => r[0] <= o.off && o.off < r[1]);
          if (o.len > 0 && holder !== undefined && holder[0] > 0) {
            // The range holding this segment is the first SACK block.
            const first = a.sackBlocks(0, 1)[0]!;
            assert.ok(first.start <= o.off && o.off + o.len <= first.end);
          }
        }
      } else if (o.t === 'pop') {
        const r = runs(bits);
        const n = r.length > 0 && r[0]![0] === 0 ? r[0]![1] : 0;
        assert.equal(a.popFront(), n);
        bits = bits.slice(n);
      } else {
        bits = bits.slice(o.n);
        a.shift(o.n);
      }
      const want = runs(bits);
      assert.deepEqual(a.ranges(), want);
      assert.ok(a.rangeCount <= max + 1);
      const blocks = a.sackBlocks(0, 100).map((b) => [b.start, b.end]).sort((x, y) => x[0]! - y[0]!);
      assert.deepEqual(blocks, want.filter((r) => r[0] > 0));
    }
  }), { numRuns: 500 });
});
