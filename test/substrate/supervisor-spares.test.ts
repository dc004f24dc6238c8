import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { SupervisorEvent } from '../../src/substrate/supervisor.js';
import { chain, until } from './examples/chain-run.js';
import { SINK_RESULT } from './examples/sink.js';


const threadOf = (e: SupervisorEvent): unknown => e.detail?.['threadId'];

test('a crashed server\'s successor is the spare started before the crash; its refill starts only after the successor runs', async () => {
  // The successor burns 400 ms being built: a refill started at the crash (or a fixed delay
  // after it) would start while it is still being built.
  const { sup, r } = await chain({ count: 1_000_000, ratePerMs: 20, relay1Options: { buildSpinMsFromGeneration: [2, 400] }, supervisor: { spares: 1 } });
  try {
    await until(() => Atomics.load(r, SINK_RESULT.RECEIVED) > 1000, 60_000, 'progress');
    const spawnedBefore = new Set(sup.events.filter((e) => e.type === 'spawn').map(threadOf));
    sup.inject('relay1', 'crash');
    await sup.whenRunning('relay1', 2, 60_000);
    const injected = sup.events.findIndex((e) => e.type === 'fault-injected');
    const running = sup.events.findIndex((e) => e.type === 'running' && e.server === 'relay1' && e.generation === 2);
    assert.ok(spawnedBefore.has(threadOf(sup.events[running]!)), 'the successor runs on a thread spawned before the crash');
    await until(() => sup.events.slice(injected).some((e) => e.type === 'spawn'), 60_000, 'the spare refill');
    const refill = injected + sup.events.slice(injected).findIndex((e) => e.type === 'spawn');
    assert.ok(refill > running, `the refill spawn (event ${refill}) comes after the successor's 'running' (event ${running})`);
    const after = Atomics.load(r, SINK_RESULT.RECEIVED);
    await until(() => Atomics.load(r, SINK_RESULT.RECEIVED) > after + 1000, 60_000, 'traffic after the restart');
  } finally {
    await sup.stop();
  }
});

test('a thread busy with long batches is not taken for hung, even where its other servers wait with messages queued', async () => {
  // Monolithic: one thread. relay1 burns 30 ms per message in batches of 20 (600 ms a
  // pass, over the 400 ms hang timeout); meanwhile relay2 has the previous batch queued
  // and its own heartbeat stands still. The thread works the whole time: no restart.
  // (The loop beats per message, so each 30 ms stays far under the CPU rule's 150 ms as well.)
  const count = 80;
  const { sup, r } = await chain({
    count, ratePerMs: 0, placement: 'monolithic', relay1Options: { spinMsPerMessage: 30 },
    polling: { batch: 20 }, supervisor: { spares: 1, hangTimeoutMs: 400, hangCheckMs: 20 },
  });
  try {
    await until(() => Atomics.load(r, SINK_RESULT.NEXT) >= count, 60_000, 'all messages');
    assert.deepEqual(sup.events.filter((e) => e.type === 'hang').map((e) => e.server), []);
    assert.equal(sup.recoveries.length, 0);
    assert.equal(Atomics.load(r, SINK_RESULT.RECEIVED), count);
  } finally {
    await sup.stop();
  }
});
