import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Supervisor } from '../../src/substrate/supervisor.js';
import { chainManifest, createSinkResults, type ChainOptions } from './examples/chain.js';
import { SINK_RESULT } from './examples/sink.js';
import { pumpFold, pumpMix } from './examples/ring-pump.js';

async function runChain(o: ChainOptions): Promise<{ r: Int32Array; sup: Supervisor }> {
  const results = createSinkResults();
  const r = new Int32Array(results);
  const sup = await Supervisor.start(chainManifest(o, results));
  const t0 = Date.now();
  while (Atomics.load(r, SINK_RESULT.NEXT) < o.count && Date.now() - t0 < 90_000) await new Promise((res) => setTimeout(res, 5));
  return { r, sup };
}

function expected(count: number): number {
  let c = 0;
  for (let i = 0; i < count; i++) c = pumpFold(c, i, pumpMix(i));
  return c;
}

const placements: [string, ChainOptions][] = [
  ['isolated, ring, adaptive polling', { count: 100_000 }],
  ['monolithic (all four servers in one thread), ring', { count: 100_000, placement: 'monolithic' }],
  ['isolated, MessagePort transport', { count: 20_000, transport: 'port' }],
  ['isolated, ring, sleep-always polling, with pool buffers', { count: 50_000, usePool: true, polling: { mode: 'sleep' } }],
  ['isolated, ring, busy polling (4 spinning threads on 2 cores)', { count: 20_000, polling: { mode: 'busy' } }],
];

for (const [name, o] of placements) {
  test(`same server code, placement ${name}: every message once, in order`, async () => {
    const { r, sup } = await runChain(o);
    try {
      assert.equal(Atomics.load(r, SINK_RESULT.RECEIVED), o.count);
      assert.equal(Atomics.load(r, SINK_RESULT.DUPLICATES), 0);
      assert.equal(Atomics.load(r, SINK_RESULT.GAPS), 0);
      assert.equal(Atomics.load(r, SINK_RESULT.BAD_PAYLOAD), 0);
      assert.equal(Atomics.load(r, SINK_RESULT.CHECKSUM), expected(o.count));
      const snap = sup.snapshot();
      const relay1 = snap.servers.find((s) => s.name === 'relay1')!;
      assert.equal(relay1.msgsIn, o.count);
      assert.equal(relay1.msgsOut, o.count);
      if (o.placement === 'monolithic') assert.ok(snap.servers.every((s) => s.thread === 'source'));
      if (o.transport !== 'port') assert.equal(relay1.outputs[0]!.messages, o.count);
    } finally {
      await sup.stop();
    }
  });
}
