import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { createRing, RingReader, RingWriter, ringOccupancy, ringCounters } from '../../src/substrate/ring.js';
import { MessageView, encodeMessage, decodeMessage, MSG_WORDS, type MessageRepr } from '../../src/substrate/message.js';
import { pumpFold, pumpMix, type RingPumpResult } from './examples/ring-pump.js';
import { RING_TAIL, RING_HEAD } from '../../src/substrate/layout.js';

function pair(capacity: number, slotWords = MSG_WORDS): { w: RingWriter; r: RingReader; sab: SharedArrayBuffer } {
  const sab = createRing(capacity, slotWords);
  return { sab, w: new RingWriter(sab), r: new RingReader(sab) };
}

test('empty ring: peek is -1, release frees nothing', () => {
  const { r, w } = pair(4);
  assert.equal(r.peek(), -1);
  assert.equal(r.release(), 0);
  assert.equal(r.available(), 0);
  assert.equal(w.free(), 4);
  assert.equal(w.publish(), 0);
});

test('committed but unpublished slots are invisible to the consumer', () => {
  const { r, w } = pair(4);
  assert.ok(w.tryWrite([7]));
  assert.equal(r.peek(), -1);
  assert.equal(w.publish(), 1);
  assert.notEqual(r.peek(), -1);
});

test('full ring: reserve is -1 until the consumer releases', () => {
  const { r, w } = pair(4);
  for (let i = 0; i < 4; i++) assert.ok(w.tryWrite([i]));
  assert.equal(w.reserve(), -1);
  assert.equal(w.tryWrite([9]), false);
  w.publish();
  const dst = [0];
  assert.ok(r.tryRead(dst));
  assert.equal(dst[0], 0);
  // Read but not released: still full for the producer.
  assert.equal(w.reserve(), -1);
  assert.equal(r.release(), 1);
  assert.ok(w.tryWrite([4]));
  w.publish();
  const got: number[] = [];
  while (r.tryRead(dst)) got.push(dst[0]!);
  assert.deepEqual(got, [1, 2, 3, 4]);
});

test('wrap-around many times keeps FIFO order and counters wrap as u32', () => {
  const { sab } = pair(8, 2);
  // Start both counters just below 2^32 to cross the u32 wrap.
  const words = new Int32Array(sab);
  words[RING_HEAD] = -5; words[RING_TAIL] = -5;
  const w2 = new RingWriter(sab); const r2 = new RingReader(sab);
  let next = 0; let expect = 0;
  const dst = [0, 0];
  for (let round = 0; round < 100; round++) {
    for (let k = 0; k < 5; k++) { assert.ok(w2.tryWrite([next, ~next])); next++; }
    w2.publish();
    for (let k = 0; k < 5; k++) {
      assert.ok(r2.tryRead(dst));
      assert.equal(dst[0], expect); assert.equal(dst[1], ~expect);
      expect++;
    }
    r2.release();
  }
  assert.equal(ringOccupancy(words), 0);
  assert.equal(ringCounters(words).published, (-5 + 500) >>> 0);
});

test('batches: one publish exposes the whole batch; one release frees it', () => {
  const { r, w, sab } = pair(16);
  for (let i = 0; i < 10; i++) assert.ok(w.tryWrite([i]));
  assert.equal(w.pending, 10);
  assert.equal(r.available(), 0);
  assert.equal(w.publish(), 10);
  assert.equal(r.available(), 10);
  const dst = [0];
  for (let i = 0; i < 10; i++) assert.ok(r.tryRead(dst));
  assert.equal(r.unreleased, 10);
  assert.equal(ringOccupancy(new Int32Array(sab)), 10);
  assert.equal(r.release(), 10);
  assert.equal(ringOccupancy(new Int32Array(sab)), 0);
});

test('a successor attaching to the same SAB resumes at the published counters', () => {
  const { w, r, sab } = pair(8, 1);
  for (let i = 0; i < 3; i++) w.tryWrite([i]);
  w.publish();
  w.tryWrite([99]); // committed, never published: lost with the writer
  const dst = [0];
  r.tryRead(dst); r.release(); // consumed 0
  r.tryRead(dst);              // read 1 but died before release
  const w2 = new RingWriter(sab); const r2 = new RingReader(sab);
  w2.tryWrite([3]); w2.publish();
  const got: number[] = [];
  while (r2.tryRead(dst)) got.push(dst[0]!);
  assert.deepEqual(got, [1, 2, 3]);
});

test('bad parameters are rejected', () => {
  for (const [cap, words] of [[3, 4], [0, 4], [1, 4], [8, 0], [1 << 25, 1]] as const) {
    assert.throws(() => createRing(cap, words), { code: 'ERR_INVALID_ARG_VALUE' }, `${cap}x${words}`);
  }
  assert.throws(() => new RingReader(new SharedArrayBuffer(1024)), { code: 'ERR_INVALID_ARG_VALUE' });
});

test('message fields round-trip through a ring slot', () => {
  fc.assert(fc.property(
    fc.record({
      type: fc.integer({ min: 0, max: 0xffff }), flags: fc.integer({ min: 0, max: 0xffff }),
      gen: fc.nat({ max: 0xffffffff }), seq: fc.nat({ max: 0xffffffff }),
      pool: fc.integer({ min: 0, max: 0xffff }), poolGen: fc.integer({ min: 0, max: 0xffff }),
      offset: fc.nat({ max: 0xffffffff }), length: fc.nat({ max: 0xffffffff }),
      args: fc.array(fc.nat({ max: 0xffffffff }), { minLength: 6, maxLength: 6 }),
    }),
    (m: MessageRepr) => {
      const { w, r } = pair(2);
      const at = w.reserve();
      encodeMessage(m, w.words, at);
      w.commit(); w.publish();
      assert.deepEqual(decodeMessage(r.words, r.peek()), m);
    },
  ), { numRuns: 300 });
});

test('MessageView writes in place without disturbing neighbours', () => {
  const words = new Int32Array(MSG_WORDS * 3).fill(-1);
  const v = new MessageView(words).at(MSG_WORDS);
  v.set(0x0f01, 3, 42).setPointer(5, 2, 4096, 1500).setArg(0, 0xdeadbeef).setArg(5, 7);
  assert.equal(v.type, 0x0f01); assert.equal(v.gen, 3); assert.equal(v.seq, 42);
  assert.equal(v.pool, 5); assert.equal(v.poolGen, 2); assert.equal(v.offset, 4096); assert.equal(v.length, 1500);
  assert.equal(v.arg(0), 0xdeadbeef); assert.equal(v.argI32(0), 0xdeadbeef | 0); assert.equal(v.arg(5), 7);
  assert.equal(words[MSG_WORDS - 1], -1);
  assert.equal(words[2 * MSG_WORDS], -1);
  const u = new MessageView(words).at(2 * MSG_WORDS).copyFrom(v);
  assert.deepEqual(u.toRepr(), v.toRepr());
});

function runWorker(data: object): Promise<RingPumpResult> {
  const url = new URL('./examples/ring-pump.js', import.meta.url);
  return new Promise((resolve, reject) => {
    const wk = new Worker(fileURLToPath(url), { workerData: data });
    wk.once('message', resolve);
    wk.once('error', reject);
    wk.once('exit', (code) => { if (code !== 0) reject(new Error(`worker exit ${code}`)); });
  });
}

test('two workers pass 20 million messages in order with a matching checksum', async () => {
  const count = 20_000_000;
  const sab = createRing(1024, MSG_WORDS);
  const [p, c] = await Promise.all([
    runWorker({ role: 'producer', sab, count, maxBatch: 64, seed: 12345 }),
    runWorker({ role: 'consumer', sab, count, maxBatch: 64, seed: 0 }),
  ]);
  let expected = 0;
  for (let i = 0; i < count; i++) expected = pumpFold(expected, i, pumpMix(i));
  assert.equal(c.errors, 0);
  assert.equal(c.count, count);
  assert.equal(p.checksum, expected);
  assert.equal(c.checksum, expected);
  console.log(`# ring: ${count} msgs in ${c.ms.toFixed(0)} ms = ${(count / c.ms / 1000).toFixed(1)} M msg/s (2 cores, shared machine)`);
});
