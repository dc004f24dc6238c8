import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { CounterPublisher, createCounterBlock, readCounterBlock } from '../../src/abi/published-counters.js';

test('published counters: nothing published reads as {}; a publish reads back whole', () => {
  const sab = createCounterBlock();
  assert.deepEqual(readCounterBlock(sab), {});
  const p = new CounterPublisher(sab, 20);
  p.maybePublish(0, () => ({ rx: 1, drops: { 'bad-checksum': 2 }, links: [{ lastError: '' }] }));
  assert.deepEqual(readCounterBlock(sab), { rx: 1, drops: { 'bad-checksum': 2 }, links: [{ lastError: '' }] });
});

test('published counters: a change inside the rate limit waits for pollAt, then goes out', () => {
  const sab = createCounterBlock();
  const p = new CounterPublisher(sab, 20);
  p.maybePublish(100, () => ({ n: 1 }));
  assert.equal(p.pollAt(), Infinity, 'nothing skipped');
  p.maybePublish(110, () => ({ n: 2 }));
  assert.deepEqual(readCounterBlock(sab), { n: 1 });
  assert.equal(p.pollAt(), 120, 'the skipped change is due at the end of the interval');
  p.maybePublish(120, () => ({ n: 2 }));
  assert.deepEqual(readCounterBlock(sab), { n: 2 });
  assert.equal(p.pollAt(), Infinity);
  p.maybePublish(121, () => ({ n: 3 }), true);
  assert.deepEqual(readCounterBlock(sab), { n: 3 }, 'force ignores the rate limit');
});

test('published counters: a copy larger than the block is counted, the last good copy stays', () => {
  const sab = createCounterBlock(64);
  const p = new CounterPublisher(sab, 0);
  p.maybePublish(0, () => ({ a: 1 }));
  p.maybePublish(1, () => ({ long: 'x'.repeat(100) }));
  assert.equal(p.oversize, 1);
  assert.deepEqual(readCounterBlock(sab), { a: 1 });
});

test('published counters: a reader never sees a torn copy while a worker publishes as fast as it can', async () => {
  const sab = createCounterBlock();
  const url = new URL('../../src/abi/published-counters.js', import.meta.url).href;
  const worker = new Worker(`
    const { workerData } = require('node:worker_threads');
    import(workerData.url).then(({ CounterPublisher }) => {
      const p = new CounterPublisher(workerData.sab, 0);
      for (let i = 0; ; i++) p.maybePublish(i, () => ({ i, twice: 2 * i, pad: 'y'.repeat(i % 200) }));
    });
  `, { eval: true, workerData: { sab, url } });
  let reads = 0;
  let last = -1;
  // Read for 300 ms from the first copy seen (the worker may take a while to start on a loaded machine).
  let until = performance.now() + 30_000;
  try {
    while (performance.now() < until) {
      const c = readCounterBlock(sab) as { i?: number; twice?: number; pad?: string };
      if (c.i === undefined) { await new Promise((r) => setTimeout(r, 5)); continue; }
      if (reads === 0) until = performance.now() + 300;
      assert.equal(c.twice, 2 * c.i);
      assert.equal(c.pad, 'y'.repeat(c.i % 200));
      assert.ok(c.i >= last, 'copies never go backwards');
      last = c.i;
      reads++;
      if (reads % 100 === 0) await new Promise((r) => setImmediate(r));
    }
  } finally {
    await worker.terminate();
  }
  assert.ok(reads > 0);
});
