import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Supervisor, type Recovery } from '../../src/substrate/supervisor.js';
import { chainManifest, createSinkResults } from './examples/chain.js';
import { SINK_RESULT } from './examples/sink.js';
import { pumpFold, pumpMix } from './examples/ring-pump.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function waitUntil(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

function expectedChecksum(count: number): number {
  let c = 0;
  for (let i = 0; i < count; i++) c = pumpFold(c, i, pumpMix(i));
  return c;
}

test('chain in workers: crash, hang and exit of each relay mid-stream; sink gets every message once, in order', async () => {
  const count = 150_000;
  const results = createSinkResults();
  const r = new Int32Array(results);
  const sup = await Supervisor.start(chainManifest({
    count, ratePerMs: 40, usePool: true,
    supervisor: { spares: 2, hangTimeoutMs: 400, hangCheckMs: 10, restart: { backoffResetMs: 100 } },
  }, results));
  try {
    const faults: [string, 'crash' | 'hang' | 'exit'][] = [
      ['relay1', 'crash'], ['relay2', 'crash'], ['relay1', 'hang'], ['relay2', 'hang'], ['relay1', 'exit'], ['relay2', 'exit'],
    ];
    for (const [server, fault] of faults) {
      await sleep(250);
      const gen = sup.generation(server);
      const before = Atomics.load(r, SINK_RESULT.RECEIVED);
      sup.inject(server, fault);
      await sup.whenRunning(server, gen + 1, 60_000);
      await waitUntil(() => Atomics.load(r, SINK_RESULT.RECEIVED) > before + 100, 60_000, `${server} flowing after ${fault}`);
    }
    await waitUntil(() => Atomics.load(r, SINK_RESULT.NEXT) >= count, 60_000, 'all messages at the sink');
    await sleep(50);
    assert.equal(Atomics.load(r, SINK_RESULT.RECEIVED), count, 'every message exactly once');
    assert.equal(Atomics.load(r, SINK_RESULT.GAPS), 0, 'no message lost');
    assert.equal(Atomics.load(r, SINK_RESULT.BAD_PAYLOAD), 0, 'payloads intact');
    assert.equal(Atomics.load(r, SINK_RESULT.CHECKSUM), expectedChecksum(count), 'in order');
    assert.ok(Atomics.load(r, SINK_RESULT.PEER_RESTARTS) >= 2, 'sink was told relay2 restarted');
    await waitUntil(() => sup.recoveries.every((x) => !Number.isNaN(x.recoveryMs)), 30_000, 'recovery times');
    const recs: Recovery[] = sup.recoveries;
    // Six injected faults; on a heavily loaded machine a thread starved of CPU
    // for hangTimeoutMs with work queued is (correctly, by the rule) taken for
    // hung and restarted too, so more restarts are allowed, never fewer.
    if (recs.length !== 6) console.log(`# extra restarts: ${recs.map((x) => `${x.server}/${x.cause}`).join(', ')}`);
    assert.ok(recs.length >= 6);
    for (const [server, fault] of faults) assert.ok(recs.some((x) => x.server === server && x.cause === (fault === 'hang' ? 'hang' : fault)), `${server} ${fault}`);
    const snap = sup.snapshot();
    const relay1 = snap.servers.find((s) => s.name === 'relay1')!;
    assert.ok(relay1.restarts >= 3);
    assert.ok(snap.runnableThreads >= 0 && snap.runnableThreads <= 4, `runnable count stays sane across deaths (${snap.runnableThreads})`);
    assert.equal(relay1.generation, relay1.restarts + 1);
    assert.equal(snap.servers.find((s) => s.name === 'sink')!.inputs[0]!.messages >= count, true);
    const types = new Set(sup.events.map((e) => e.type));
    for (const t of ['fault-injected', 'crash', 'hang', 'exit', 'restart', 'running', 'peer-notified', 'first-message']) assert.ok(types.has(t as never), t);
    if (process.env.SUBSTRATE_DEBUG) for (const e of sup.events) if (e.type !== "log") console.log(e.t.toFixed(2), e.type, e.server ?? "", e.generation ?? "", JSON.stringify(e.detail ?? {}));
    const fmt = (xs: Recovery[]): string => xs.map((x) => `${x.server}/${x.cause} ${x.recoveryMs.toFixed(2)}ms`).join(', ');
    const crashLike = recs.filter((x) => x.cause !== 'hang').map((x) => x.recoveryMs).sort((a, b) => a - b);
    console.log(`# crash-to-successor-first-message: ${fmt(recs)}; median (crash/exit) ${crashLike[Math.floor(crashLike.length / 2)]!.toFixed(2)} ms (2 cores, shared machine); duplicates dropped at sink: ${Atomics.load(r, SINK_RESULT.DUPLICATES)}`);
  } finally {
    await sup.stop();
  }
  await sleep(20);
});
