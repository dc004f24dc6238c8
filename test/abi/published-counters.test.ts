import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { CounterPublisher, createCounterBlock, readCounterBlock } from '../../src/abi/published-counters.js';

test('published counters: nothing published reads as {}; a publish reads back whole', () => {
  const sab = createCounterBlock();
  assert.deepEqual(readCounterBlock(sab), {});
  const p = new CounterPublisher(sab, 20);
  p.maybePublish(0, () => ({ rx: 1, drops: { 'bad-checksum': 2 }, links: [{ lastError: '' }] }), true);
  assert.deepEqual(readCounterBlock(sab), { rx: 1, drops: { 'bad-checksum': 2 }, links: [{ lastError: '' }] });
});

test('published counters: a change is copied when the thread goes idle, not on the poll that noted it', () => {
  const sab = createCounterBlock();
  const p = new CounterPublisher(sab, 20);
  let reads = 0;
  const read = (n: number) => () => { reads++; return { n }; };
  p.maybePublish(100, read(1));
  assert.equal(reads, 0, 'the poll on a message\'s way makes no copy');
  assert.deepEqual(readCounterBlock(sab), {});
  assert.equal(p.pollAt(), 0, 'due at once (the thread\'s next idle pass takes it)');
  p.publishIdle(100, read(1));
  assert.deepEqual(readCounterBlock(sab), { n: 1 });
  assert.equal(p.pollAt(), Infinity, 'nothing left');
  p.publishIdle(101, read(9));
  assert.equal(reads, 1, 'idle with nothing noted: no copy');
  // Inside the rate limit: noted, held back until the interval ends, then copied when idle.
  p.maybePublish(110, read(2));
  p.publishIdle(110, read(2));
  assert.deepEqual(readCounterBlock(sab), { n: 1 });
  assert.equal(p.pollAt(), 120, 'the held-back change is due at the end of the interval');
  p.maybePublish(120, read(2));
  assert.deepEqual(readCounterBlock(sab), { n: 1 }, 'still not on the poll');
  p.publishIdle(120, read(2));
  assert.deepEqual(readCounterBlock(sab), { n: 2 });
  assert.equal(p.pollAt(), Infinity);
  p.maybePublish(121, read(3), true);
  assert.deepEqual(readCounterBlock(sab), { n: 3 }, 'force ignores the rate limit');
});

test('published counters: a thread that never goes idle still publishes once a change waited a whole interval', () => {
  const sab = createCounterBlock();
  const p = new CounterPublisher(sab, 20);
  for (let t = 0; t < 20; t += 5) p.maybePublish(t, () => ({ t }));
  assert.deepEqual(readCounterBlock(sab), {});
  p.maybePublish(20, () => ({ t: 20 }));
  assert.deepEqual(readCounterBlock(sab), { t: 20 });
  for (let t = 25; t < 40; t += 5) p.maybePublish(t, () => ({ t }));
  assert.deepEqual(readCounterBlock(sab), { t: 20 }, 'at most one copy per interval');
  p.maybePublish(45, () => ({ t: 45 }));
  assert.deepEqual(readCounterBlock(sab), { t: 45 });
});

test('published counters: a copy larger than the block is counted, the last good copy stays', () => {
  const sab = createCounterBlock(64);
  const p = new CounterPublisher(sab, 0);
  p.maybePublish(0, () => ({ a: 1 }), true);
  p.maybePublish(1, () => ({ long: 'x'.repeat(100) }), true);
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
      for (let i = 0; ; i++) p.maybePublish(i, () => ({ i, twice: 2 * i, pad: 'y'.repeat(i % 200) }), true);
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

test('published counters: while the writer holds the block (preempted mid-publication), a reader gets the copy it read last, not {}', () => {
  const sab = createCounterBlock();
  const p = new CounterPublisher(sab, 0);
  p.maybePublish(0, () => ({ n: 1 }), true);
  assert.deepEqual(readCounterBlock(sab), { n: 1 });
  const seq = new Int32Array(sab, 0, 1);
  Atomics.add(seq, 0, 1); // a publication begun, not finished
  assert.deepEqual(readCounterBlock(sab), { n: 1 });
  assert.deepEqual(readCounterBlock(createCounterBlock()), {}, 'another block: nothing read yet');
  Atomics.add(seq, 0, 1);
  p.maybePublish(1, () => ({ n: 2 }), true);
  assert.deepEqual(readCounterBlock(sab), { n: 2 });
});
