import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { BYTE_RING_LAYOUT, ByteRing } from '../../src/abi/byte-ring.js';

function ring(capacity: number, shared = false, offset = 0): ByteRing {
  const size = offset + ByteRing.bytesNeeded(capacity);
  const buf = shared ? new SharedArrayBuffer(size) : new ArrayBuffer(size);
  return new ByteRing(buf, offset, capacity);
}

function bytes(...v: number[]): Uint8Array {
  return Uint8Array.from(v);
}

function seq(start: number, n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (start + i) & 0xff;
  return b;
}

/** Put both counters at `c` (an empty ring whose counters are about to wrap). */
function setCounters(buf: ArrayBuffer | SharedArrayBuffer, offset: number, c: number): void {
  const w = new Int32Array(buf, offset, BYTE_RING_LAYOUT.dataOffset >> 2);
  w[BYTE_RING_LAYOUT.headOffset >> 2] = c | 0;
  w[BYTE_RING_LAYOUT.tailOffset >> 2] = c | 0;
}

test('bytesNeeded and argument validation', () => {
  assert.equal(ByteRing.bytesNeeded(1000), BYTE_RING_LAYOUT.dataOffset + 1000);
  const cases: Array<[string, () => unknown]> = [
    ['zero capacity', () => ByteRing.bytesNeeded(0)],
    ['fractional capacity', () => ByteRing.bytesNeeded(1.5)],
    ['unaligned offset', () => new ByteRing(new ArrayBuffer(1024), 2, 10)],
    ['too small buffer', () => new ByteRing(new ArrayBuffer(100), 0, 10)],
    ['offset past end', () => new ByteRing(new ArrayBuffer(1024), 1000, 10)],
  ];
  for (const [name, f] of cases) assert.throws(f, RangeError, name);
});

test('empty ring: nothing to read, everything free', () => {
  const r = ring(10);
  assert.equal(r.available(), 0);
  assert.equal(r.freeSpace(), 10);
  assert.equal(r.read(new Uint8Array(5)), 0);
  assert.equal(r.copyOut(0, new Uint8Array(5)), 0);
  assert.deepEqual(r.views(0, 5), []);
  r.consume(0);
  assert.throws(() => r.consume(1), RangeError);
});

test('full ring: write accepts only what fits, then nothing', () => {
  const r = ring(10);
  assert.equal(r.write(seq(0, 7)), 7);
  assert.equal(r.write(seq(7, 7)), 3);
  assert.equal(r.freeSpace(), 0);
  assert.equal(r.available(), 10);
  assert.equal(r.write(bytes(1)), 0);
  assert.equal(r.writeAt(0, bytes(1)), 0);
  assert.throws(() => r.advanceTail(1), RangeError);
  const out = new Uint8Array(12);
  assert.equal(r.read(out), 10);
  assert.deepEqual(out.subarray(0, 10), seq(0, 10));
  assert.equal(r.freeSpace(), 10);
});

test('wrap-around: data crossing the end reads back intact, views come in two pieces', () => {
  const r = ring(10);
  r.write(seq(0, 8));
  r.consume(6);
  assert.equal(r.write(seq(8, 7)), 7); // occupies physical 8,9,0..4
  assert.equal(r.available(), 9);
  const v = r.views(0, 100);
  assert.equal(v.length, 2);
  assert.deepEqual(Uint8Array.from([...v[0]!, ...v[1]!]), seq(6, 9));
  const mid = new Uint8Array(4);
  assert.equal(r.copyOut(3, mid), 4);
  assert.deepEqual(mid, seq(9, 4));
  const out = new Uint8Array(9);
  assert.equal(r.read(out), 9);
  assert.deepEqual(out, seq(6, 9));
});

test('copyOut with dstOffset and len, and clamping past the published data', () => {
  const r = ring(16);
  r.write(seq(100, 10));
  const dst = new Uint8Array(8).fill(0xee);
  assert.equal(r.copyOut(2, dst, 3, 4), 4);
  assert.deepEqual(dst, bytes(0xee, 0xee, 0xee, 102, 103, 104, 105, 0xee));
  assert.equal(r.copyOut(8, dst, 0), 2, 'only two bytes remain after offset 8');
  assert.equal(r.copyOut(10, dst), 0);
  assert.equal(r.copyOut(50, dst), 0);
  assert.throws(() => r.copyOut(-1, dst), RangeError);
  assert.equal(r.available(), 10, 'copyOut does not consume');
});

test('writeAt beyond the tail is invisible until advanceTail publishes it', () => {
  const r = ring(12);
  r.write(bytes(1, 2));
  assert.equal(r.writeAt(3, bytes(6, 7, 8)), 3); // hole at offset 0..2 from tail
  assert.equal(r.available(), 2, 'not published yet');
  assert.equal(r.writeAt(0, bytes(3, 4, 5)), 3); // fill the hole
  r.advanceTail(6);
  const out = new Uint8Array(8);
  assert.equal(r.read(out), 8);
  assert.deepEqual(out, bytes(1, 2, 3, 4, 5, 6, 7, 8));
});

test('writeAt clamps at the free space and wraps', () => {
  const r = ring(8);
  r.write(seq(0, 6));
  r.consume(5); // head=5 tail=6, free=7
  assert.equal(r.writeAt(4, seq(50, 10)), 3, 'only 3 bytes fit after offset 4');
  assert.equal(r.writeAt(7, bytes(1)), 0);
  assert.equal(r.writeAt(100, bytes(1)), 0);
  assert.throws(() => r.writeAt(-1, bytes(1)), RangeError);
  assert.equal(r.writeAt(0, seq(46, 4)), 4);
  r.advanceTail(7);
  const out = new Uint8Array(8);
  assert.equal(r.read(out), 8);
  assert.deepEqual(out, Uint8Array.from([5, 46, 47, 48, 49, 50, 51, 52]));
});

test('counters wrap at 2**32 for power-of-two capacity and at a multiple of capacity otherwise', () => {
  for (const capacity of [8, 10, 1000, 4093]) {
    const buf = new ArrayBuffer(ByteRing.bytesNeeded(capacity));
    const modulus = capacity * Math.floor(2 ** 32 / capacity);
    setCounters(buf, 0, modulus - 3);
    const r = new ByteRing(buf, 0, capacity);
    let next = 0;
    let expect = 0;
    for (let round = 0; round < 5; round++) {
      const chunk = seq(next, Math.min(7, capacity));
      next += r.write(chunk);
      const out = new Uint8Array(capacity);
      const n = r.read(out);
      assert.deepEqual(out.subarray(0, n), seq(expect, n), `capacity ${capacity} round ${round}`);
      expect += n;
      assert.equal(r.available(), 0);
      assert.equal(r.freeSpace(), capacity);
    }
  }
});

test('large copies (> 64 bytes) across the wrap, at a non-zero byteOffset in a SharedArrayBuffer', () => {
  const r = ring(1000, true, 256);
  const src = seq(3, 700);
  assert.equal(r.write(src), 700);
  r.consume(600);
  assert.equal(r.write(seq(703, 800)), 800);
  const out = new Uint8Array(900);
  assert.equal(r.copyOut(0, out), 900);
  assert.deepEqual(out, seq(603, 900));
  assert.equal(r.read(out), 900);
  assert.deepEqual(out, seq(603, 900));
});

test('capacity 1 works', () => {
  const r = ring(1);
  assert.equal(r.write(bytes(9, 8)), 1);
  assert.equal(r.available(), 1);
  const o = new Uint8Array(1);
  assert.equal(r.read(o), 1);
  assert.equal(o[0], 9);
  assert.equal(r.write(bytes(7)), 1);
});

type Op =
  | { t: 'write'; data: Uint8Array }
  | { t: 'writeAt'; off: number; data: Uint8Array }
  | { t: 'advance'; n: number }
  | { t: 'read'; n: number }
  | { t: 'consume'; n: number }
  | { t: 'copyOut'; off: number; n: number }
  | { t: 'views'; off: number; n: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ t: fc.constant('write' as const), data: fc.uint8Array({ maxLength: 150 }) }),
  fc.record({ t: fc.constant('writeAt' as const), off: fc.nat(120), data: fc.uint8Array({ maxLength: 100 }) }),
  fc.record({ t: fc.constant('advance' as const), n: fc.nat(130) }),
  fc.record({ t: fc.constant('read' as const), n: fc.nat(150) }),
  fc.record({ t: fc.constant('consume' as const), n: fc.nat(130) }),
  fc.record({ t: fc.constant('copyOut' as const), off: fc.nat(130), n: fc.nat(130) }),
  fc.record({ t: fc.constant('views' as const), off: fc.nat(130), n: fc.nat(130) }),
);

test('property: behaves like an array model (published queue + staged bytes past the tail)', () => {
  fc.assert(fc.property(
    fc.integer({ min: 1, max: 120 }), fc.nat(), fc.array(opArb, { maxLength: 60 }),
    (capacity, startRaw, ops) => {
      const buf = new ArrayBuffer(ByteRing.bytesNeeded(capacity));
      const modulus = capacity * Math.floor(2 ** 32 / capacity);
      setCounters(buf, 0, modulus - 1 - (startRaw % 300)); // start near the counter wrap
      const r = new ByteRing(buf, 0, capacity);
      const queue: number[] = []; // published, unconsumed bytes
      const staged: Array<number | undefined> = []; // bytes written past the tail, by offset
      for (const op of ops) {
        const free = capacity - queue.length;
        switch (op.t) {
          case 'write': {
            const n = Math.min(op.data.length, free);
            assert.equal(r.write(op.data), n);
            queue.push(...op.data.subarray(0, n));
            staged.splice(0, n);
            break;
          }
          case 'writeAt': {
            const n = op.off >= free ? 0 : Math.min(op.data.length, free - op.off);
            assert.equal(r.writeAt(op.off, op.data), n);
            for (let k = 0; k < n; k++) staged[op.off + k] = op.data[k];
            break;
          }
          case 'advance': {
            if (op.n > free) { assert.throws(() => r.advanceTail(op.n), RangeError); break; }
            r.advanceTail(op.n);
            const pub = staged.splice(0, op.n);
            for (let k = 0; k < op.n; k++) queue.push(pub[k] ?? -1); // -1: unspecified content
            break;
          }
          case 'read': {
            const dst = new Uint8Array(op.n);
            const n = Math.min(op.n, queue.length);
            assert.equal(r.read(dst), n);
            const want = queue.splice(0, n);
            want.forEach((b, k) => { if (b >= 0) assert.equal(dst[k], b); });
            break;
          }
          case 'consume': {
            if (op.n > queue.length) { assert.throws(() => r.consume(op.n), RangeError); break; }
            r.consume(op.n);
            queue.splice(0, op.n);
            break;
          }
          case 'copyOut': {
            const dst = new Uint8Array(op.n);
            const n = Math.max(0, Math.min(op.n, queue.length - op.off));
            assert.equal(r.copyOut(op.off, dst), n);
            for (let k = 0; k < n; k++) if (queue[op.off + k]! >= 0) assert.equal(dst[k], queue[op.off + k]);
            break;
          }
          case 'views': {
            const n = Math.max(0, Math.min(op.n, queue.length - op.off));
            const v = r.views(op.off, op.n);
            assert.equal(v.reduce((s, a) => s + a.length, 0), n);
            assert.ok(v.length <= 2 && v.every((a) => a.length > 0));
            let k = 0;
            for (const a of v) for (const b of a) { if (queue[op.off + k]! >= 0) assert.equal(b, queue[op.off + k]); k++; }
            break;
          }
        }
        assert.equal(r.available(), queue.length);
        assert.equal(r.freeSpace(), capacity - queue.length);
      }
    },
  ), { numRuns: 400 });
});

test('alignmentAt: the address residue mod 8 of the byte at an offset from the head, across the wrap', () => {
  const sab = new SharedArrayBuffer(ByteRing.bytesNeeded(64) + 8);
  for (const at of [0, 3]) {
    const r = new ByteRing(sab, at === 0 ? 0 : 8, 64);
    r.write(new Uint8Array(40));
    r.consume(37);
    const base = (at === 0 ? 0 : 8) + BYTE_RING_LAYOUT.dataOffset;
    assert.equal(r.alignmentAt(0), (base + 37) & 7);
    assert.equal(r.alignmentAt(2), (base + 39) & 7);
    r.write(new Uint8Array(40)); // wraps: stream offset 27 from the head is physical index 0
    assert.equal(r.alignmentAt(27), base & 7);
  }
});
