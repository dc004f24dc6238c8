import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chain, sleep, until } from './examples/chain-run.js';
import { SINK_RESULT } from './examples/sink.js';
import { fileURLToPath } from 'node:url';
import { Supervisor, threadCpuNs } from '../../src/substrate/supervisor.js';


function exactlyOnce(r: Int32Array, count: number): void {
  assert.equal(Atomics.load(r, SINK_RESULT.RECEIVED), count);
  assert.equal(Atomics.load(r, SINK_RESULT.GAPS), 0);
  assert.equal(Atomics.load(r, SINK_RESULT.BAD_PAYLOAD), 0);
}

test('out of memory under worker resourceLimits is detected as oom and restarted; nothing lost', async () => {
  const count = 40_000;
  // A thread that allocates without a pass until its heap limit also runs without a heartbeat:
  // with the default hangCpuMs the hang rule takes it first (cause 'hang'); this test is about the
  // worker's own out-of-memory exit, so both hang rules are set out of its way.
  const { sup, r } = await chain({ count, ratePerMs: 40, relay1Limits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 4 }, supervisor: { spares: 1, hangTimeoutMs: 10_000, hangCpuMs: 10_000 } });
  try {
    await sleep(200);
    sup.inject('relay1', 'oom');
    await sup.whenRunning('relay1', 2, 60_000);
    await until(() => Atomics.load(r, SINK_RESULT.NEXT) >= count, 90_000, 'all messages');
    exactlyOnce(r, count);
    assert.equal(sup.recoveries[0]!.cause, 'oom');
    assert.ok(sup.events.some((e) => e.type === 'oom' && e.server === 'relay1'));
  } finally {
    await sup.stop();
  }
});

test('a thread that spins without a heartbeat is taken for hung by its own CPU clock, long before the wall-clock timeout', async () => {
  const count = 40_000;
  // hangTimeoutMs a minute: only the CPU rule (hangCpuMs of CPU time without a pass) can see this hang in time.
  const { sup, r } = await chain({ count, ratePerMs: 40, supervisor: { spares: 1, hangTimeoutMs: 60_000, hangCpuMs: 50 } });
  try {
    await sleep(200);
    sup.inject('relay1', 'hang');
    await sup.whenRunning('relay1', 2, 20_000);
    await until(() => Atomics.load(r, SINK_RESULT.NEXT) >= count, 90_000, 'all messages');
    exactlyOnce(r, count);
    const hang = sup.events.find((e) => e.type === 'hang' && e.server === 'relay1');
    assert.ok(hang !== undefined, 'a hang event');
    const cpuMs = hang.detail!['cpuMs'] as number;
    assert.ok(cpuMs >= 50, `it ran ${cpuMs} ms on a CPU without a heartbeat`);
    assert.equal(sup.recoveries[0]!.cause, 'hang');
    console.log(`# CPU-rule hang: ${String(hang.detail!['silentMs'])} ms silent, ${cpuMs} ms on a CPU, restarted in ${sup.recoveries[0]!.recoveryMs.toFixed(1)} ms to the first message`);
  } finally {
    await sup.stop();
  }
});

test('threadCpuNs reads a thread\'s own CPU clock: it grows while the thread runs; NaN for a thread that is not ours', () => {
  if (process.platform !== 'linux') return;
  const before = threadCpuNs(process.pid);
  assert.ok(Number.isFinite(before) && before > 0, `the main thread's clock (${before})`);
  // Spin until the clock says 20 ms ran (bounded by 10 s of wall time: a loaded machine gives less than a core).
  const t0 = performance.now();
  let ranMs = 0;
  while (performance.now() - t0 < 10_000 && (ranMs = (threadCpuNs(process.pid) - before) / 1e6) < 20) { /* run */ }
  assert.ok(ranMs >= 20, `the clock moved ${ranMs} ms in ${(performance.now() - t0).toFixed(0)} ms of spinning`);
  assert.ok(Number.isNaN(threadCpuNs(0x7fffffff)));
});

test('crash loop: past maxRestarts within the window the server is marked failed, with back-off between restarts', async () => {
  const { sup } = await chain({
    count: 1_000_000, ratePerMs: 20,
    supervisor: { spares: 1, restart: { maxRestarts: 2, windowMs: 60_000, backoffBaseMs: 30, backoffResetMs: 60_000 } },
  });
  try {
    for (let g = 1; g <= 2; g++) {
      sup.inject('relay2', 'crash');
      await sup.whenRunning('relay2', g + 1, 60_000);
    }
    sup.inject('relay2', 'crash');
    await until(() => sup.events.some((e) => e.type === 'failed' && e.server === 'relay2'), 60_000, 'failed event');
    const relay2 = sup.snapshot().servers.find((s) => s.name === 'relay2')!;
    assert.equal(relay2.stateName, 'failed');
    assert.equal(relay2.restarts, 2);
    const backoffs = sup.events.filter((e) => e.type === 'backoff' && e.server === 'relay2').map((e) => e.detail!.delayMs);
    assert.deepEqual(backoffs, [30], 'the second quick restart waited backoffBaseMs');
    for (const e of sup.events) assert.ok(e.t > 0 && e.wall > 0, 'every event has timestamps');
  } finally {
    await sup.stop();
  }
});

test('data store outlives a restart: the source resumes from its stored position, the sink dedups the overlap', async () => {
  const count = 60_000;
  const { sup, r } = await chain({ count, ratePerMs: 30, supervisor: { spares: 1 } });
  try {
    await until(() => Atomics.load(r, SINK_RESULT.RECEIVED) > 20_000, 60_000, 'progress');
    const stored = sup.store.get('source', 'sent') as number;
    assert.ok(stored >= 4096, `source stored its position (${stored})`);
    sup.inject('source', 'crash');
    await sup.whenRunning('source', 2, 60_000);
    await until(() => Atomics.load(r, SINK_RESULT.NEXT) >= count, 90_000, 'all messages');
    exactlyOnce(r, count);
    assert.ok(Atomics.load(r, SINK_RESULT.DUPLICATES) > 0, 'the successor re-sent from its stored position');
    assert.equal(sup.store.get('source', 'sent'), count);
    assert.ok(sup.events.some((e) => e.type === 'peer-notified' && e.server === 'relay1' && e.detail!.peer === 'source'));
  } finally {
    await sup.stop();
  }
});

test('inject into a server whose thread is restarting throws EBUSY (the fault would have nowhere to go)', async () => {
  const { sup } = await chain({ count: 1_000_000, ratePerMs: 20, supervisor: { spares: 1 } });
  try {
    let during: unknown;
    sup.on('event', (e: { type: string; server?: string }) => {
      if (e.type === 'crash' && e.server === 'relay1' && during === undefined) {
        try { sup.inject('relay1', 'crash'); during = 'accepted'; } catch (err) { during = err; }
      }
    });
    sup.inject('relay1', 'crash');
    await sup.whenRunning('relay1', 2, 60_000);
    assert.equal((during as { code?: string }).code, 'EBUSY', String(during));
    assert.match(String((during as Error).message), /relay1 is restarting/);
    assert.equal(sup.recoveries.length, 1, 'one fault, one restart');
  } finally {
    await sup.stop();
  }
});

test('inject on an unknown server throws ERR_UNKNOWN_SERVER', async () => {
  const { sup } = await chain({ count: 10 });
  try {
    assert.throws(() => sup.inject('nope', 'crash'), { code: 'ERR_UNKNOWN_SERVER' });
  } finally {
    await sup.stop();
  }
});

test('restartAfterExit: after a crash the successor starts only once the dead thread has exited; nothing lost', async () => {
  const count = 20_000;
  const { sup, r } = await chain({ count, ratePerMs: 40, relay1RestartAfterExit: true, supervisor: { spares: 1 } });
  try {
    await until(() => Atomics.load(r, SINK_RESULT.RECEIVED) > 2000, 60_000, 'progress');
    sup.inject('relay1', 'crash');
    await sup.whenRunning('relay1', 2, 60_000);
    await until(() => Atomics.load(r, SINK_RESULT.NEXT) >= count, 90_000, 'all messages');
    exactlyOnce(r, count);
    const types = sup.events.filter((e) => e.server === 'relay1' && ['crash', 'reaped', 'restart', 'running'].includes(e.type)).map((e) => e.type);
    assert.deepEqual(types, ['running', 'crash', 'reaped', 'restart', 'running']);
    const reaped = sup.events.find((e) => e.type === 'reaped')!;
    assert.equal(reaped.detail?.['exited'], true, JSON.stringify(reaped.detail));
    // Without the flag a server restarts at the crash report, before its thread is gone.
    sup.inject('relay2', 'crash');
    await sup.whenRunning('relay2', 2, 60_000);
    assert.equal(sup.events.filter((e) => e.type === 'reaped' && e.server === 'relay2').length, 0);
  } finally {
    await sup.stop();
  }
});

test('monolithic placement: a crash takes the whole thread down; all four servers come back together, nothing lost', async () => {
  const count = 40_000;
  const { sup, r } = await chain({ count, ratePerMs: 30, placement: 'monolithic', supervisor: { spares: 1 } });
  try {
    await until(() => Atomics.load(r, SINK_RESULT.RECEIVED) > 5000, 60_000, 'progress');
    sup.inject('relay2', 'crash');
    await sup.whenRunning('relay2', 2, 60_000);
    await until(() => Atomics.load(r, SINK_RESULT.NEXT) >= count, 90_000, 'all messages');
    exactlyOnce(r, count);
    assert.deepEqual(sup.snapshot().servers.map((s) => s.generation), [2, 2, 2, 2]);
  } finally {
    await sup.stop();
  }
});

test('MessagePort transport: after a relay restart the supervisor re-attaches fresh ports and traffic flows again', async () => {
  const count = 1_000_000;
  const { sup, r } = await chain({ count, ratePerMs: 20, transport: 'port', supervisor: { spares: 1 } });
  try {
    await until(() => Atomics.load(r, SINK_RESULT.RECEIVED) > 2000, 60_000, 'progress');
    sup.inject('relay1', 'crash');
    await sup.whenRunning('relay1', 2, 60_000);
    const after = Atomics.load(r, SINK_RESULT.RECEIVED);
    await until(() => Atomics.load(r, SINK_RESULT.RECEIVED) > after + 2000, 60_000, 'traffic through the re-attached ports');
    // Port transport keeps nothing across a crash: messages queued in the dead
    // thread's ports are gone (gaps), which is why the stack uses rings.
    assert.equal(Atomics.load(r, SINK_RESULT.BAD_PAYLOAD), 0);
  } finally {
    await sup.stop();
  }
});

test('a successor starts from every store write its predecessor made before it crashed, even when the thread\'s error event overtakes them', async () => {
  // The thread's 'error' event comes on a channel of its own and can arrive before the store
  // writes the thread posted just before it; a successor built at that event would miss them.
  // Seen here at a thread's first crash, in about one of seven with the 20000 writes below
  // (later crashes of the same server did not show it), so: ten hosts, a first crash each
  // (without the supervisor's wait for the thread's last reports this failed in 2 of 4 runs of 5 hosts).
  const writes = 20_000;
  const module = fileURLToPath(new URL('./examples/store-crash.js', import.meta.url));
  for (let run = 0; run < 10; run++) {
    const sup = await Supervisor.start({ servers: [{ name: 'storer', module, options: { writes, crashes: 1 } }], channels: [], pools: [], placement: { mode: 'isolated' } });
    try {
      await until(() => sup.store.snapshot('storer')['seen-2'] !== undefined, 30_000, 'the successor reported what it found');
      const seen = sup.store.snapshot('storer')['seen-2'] as { i: number; gen: number } | null;
      assert.deepEqual(seen === null ? null : { i: seen.i, gen: seen.gen }, { i: writes, gen: 1 }, `run ${run}: the successor found its predecessor's last write`);
      assert.equal(sup.recoveries[0]!.cause, 'crash');
    } finally {
      await sup.stop();
    }
  }
});
