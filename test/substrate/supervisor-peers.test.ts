// A server hears of a peer's restart from the peer's generation word, at its next pass after
// the successor was given its generation (server-loop.ts watchPeers), not only from the
// supervisor's 'peer-restarted' message, which comes after the successor said it runs and the
// supervisor's thread got to it (relay2, with nothing to do while relay1 is down, is parked: the
// supervisor rings it when it gives the successor its generation); and it hears of each
// generation once, whichever came first.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chain, until } from './examples/chain-run.js';
import { SINK_RESULT } from './examples/sink.js';

test('relay2 hears of relay1\'s restart from its generation word, before relay1\'s successor runs, and once per generation', async () => {
  const count = 40_000;
  // relay1's successors take 300 ms to build: the supervisor's message can only come after that.
  const { sup, r } = await chain({ count, ratePerMs: 20, supervisor: { spares: 1 }, relay1Options: { buildSpinMsFromGeneration: [2, 300] } });
  try {
    await until(() => Atomics.load(r, SINK_RESULT.RECEIVED) > 2000, 30_000, 'traffic');
    for (const generation of [2, 3]) {
      sup.inject('relay1', 'crash');
      await sup.whenRunning('relay1', generation, 30_000);
      await until(() => sup.events.some((e) => e.type === 'peer-notified' && e.server === 'relay2' && e.detail?.['peerGeneration'] === generation), 10_000, 'the supervisor told relay2');
    }
    await until(() => Atomics.load(r, SINK_RESULT.NEXT) >= count, 90_000, 'all messages');
    const heard = sup.events.filter((e) => e.type === 'log' && e.server === 'relay2' && e.detail?.['event'] === 'peer-restart-seen' && e.detail['peer'] === 'relay1');
    assert.deepEqual(heard.map((e) => e.detail!['generation']), [2, 3], 'each generation once');
    for (const e of heard) {
      const running = sup.events.find((x) => x.type === 'running' && x.server === 'relay1' && x.generation === e.detail!['generation'])!;
      assert.ok((e.detail!['at'] as number) < running.t, `generation ${String(e.detail!['generation'])}: heard at ${String(e.detail!['at'])}, its successor ran at ${running.t}`);
    }
    assert.equal(Atomics.load(r, SINK_RESULT.GAPS), 0, 'nothing lost');
  } finally {
    await sup.stop();
  }
});
