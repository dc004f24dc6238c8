// The experiment's delivery sampler: a worker that times when a ring's tail word moves.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DeliverySampler } from '../../src/cli/delivery-sampler.js';
import { ByteRing } from '../../src/abi/byte-ring.js';
import { monotonicMs } from '../../src/substrate/stats.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('the sampler sees each publication of a byte ring from its own thread, on the monotonic clock', async () => {
  const sab = new SharedArrayBuffer(ByteRing.bytesNeeded(4096) + 64);
  const ring = new ByteRing(sab, 64, 4096);
  const sampler = DeliverySampler.start(ring.tailWord());
  await sampler.ready();
  const published: number[] = [];
  for (let i = 0; i < 5; i++) {
    ring.write(new Uint8Array(100));
    published.push(monotonicMs());
    ring.consume(100);
    await sleep(20);
  }
  const samples = await sampler.stop();
  const moved = samples.filter((s) => s.tail > 0);
  assert.deepEqual(moved.map((s) => s.tail), [100, 200, 300, 400, 500], 'every publication, once, in order');
  moved.forEach((s, i) => {
    const lag = s.t - published[i]!;
    // Seen after it happened and long before the next one (20 ms later); no figure on time beyond that.
    assert.ok(lag >= -0.5 && lag < 20, `publication ${i} seen ${lag.toFixed(2)} ms after it`);
  });
});

test('a ring that is not in shared memory cannot be watched from another thread', () => {
  const ring = new ByteRing(new ArrayBuffer(ByteRing.bytesNeeded(64)), 0, 64);
  assert.throws(() => DeliverySampler.start(ring.tailWord()), TypeError);
});
