// The warm standby (supervisor.ts, takeover.ts): a worker that built a server's next
// generation ahead and waits on a shared word; the dying thread promotes it, or the
// supervisor does (a hang, after terminating the hung thread). Nothing may be lost or
// processed twice, the restart policy still holds, and a server without the manifest's
// `standby` never gets one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Supervisor, SupervisorEvent } from '../../src/substrate/supervisor.js';
import { chain, until } from './examples/chain-run.js';
import { SINK_RESULT } from './examples/sink.js';

const armed = (sup: Supervisor, generation: number): SupervisorEvent | undefined =>
  sup.events.find((e) => e.type === 'standby' && e.server === 'relay1' && e.generation === generation && e.detail?.['action'] === 'armed');
const runningOf = (sup: Supervisor, generation: number): SupervisorEvent | undefined =>
  sup.events.find((e) => e.type === 'running' && e.server === 'relay1' && e.generation === generation);

function exactlyOnce(r: Int32Array, count: number): void {
  assert.equal(Atomics.load(r, SINK_RESULT.RECEIVED), count, 'every message arrived');
  assert.equal(Atomics.load(r, SINK_RESULT.GAPS), 0, 'none missing');
  assert.equal(Atomics.load(r, SINK_RESULT.BAD_PAYLOAD), 0, 'none damaged');
}

for (const fault of ['crash', 'exit'] as const) {
  test(`a ${fault}: the standby the dying thread promoted takes over; every message exactly once`, async () => {
    const count = 60_000;
    const { sup, r } = await chain({ count, ratePerMs: 30, relay1Standby: true, supervisor: { spares: 1 } });
    try {
      await until(() => armed(sup, 2) !== undefined, 30_000, 'the standby armed');
      const standbyThread = armed(sup, 2)!.detail!['threadId'];
      await until(() => Atomics.load(r, SINK_RESULT.RECEIVED) > 2000, 30_000, 'traffic');
      sup.inject('relay1', fault);
      const injected = sup.events.length - 1;
      await sup.whenRunning('relay1', 2, 30_000);
      const running = runningOf(sup, 2)!;
      assert.equal(running.detail!['threadId'], standbyThread, 'generation 2 runs on the standby\'s thread');
      const report = running.detail!['standby'] as { deathAt: number; promotedAt: number } | undefined;
      assert.ok(report !== undefined && report.deathAt > 0 && report.promotedAt >= report.deathAt, 'it reports its promotion');
      const restart = sup.events.find((e) => e.type === 'restart' && e.server === 'relay1')!;
      assert.equal(restart.detail!['standby'], true);
      assert.equal(restart.detail!['delayMs'], 0);
      assert.equal(sup.recoveries.length, 1);
      assert.equal(sup.recoveries[0]!.cause, fault);
      assert.equal(sup.recoveries[0]!.generation, 2);
      assert.ok(Number.isFinite(sup.recoveries[0]!.runningAt), 'the recovery has its running time');
      // No spare was activated for it: the first spawn after the fault is a refill or the next standby.
      const between = sup.events.slice(injected, sup.events.indexOf(running));
      assert.deepEqual(between.filter((e) => e.type === 'spawn'), [], 'nothing was spawned between the fault and the standby running');
      await until(() => Atomics.load(r, SINK_RESULT.NEXT) >= count, 90_000, 'all messages');
      exactlyOnce(r, count);
      assert.equal(sup.snapshot().servers.find((s) => s.name === 'relay1')!.generation, 2);
    } finally {
      await sup.stop();
    }
  });
}

test('a hang: the supervisor terminates the hung thread first, then promotes the standby; nothing lost', async () => {
  const count = 40_000;
  const { sup, r } = await chain({ count, ratePerMs: 30, relay1Standby: true, supervisor: { spares: 1, hangTimeoutMs: 300, hangCheckMs: 20 } });
  try {
    await until(() => armed(sup, 2) !== undefined, 30_000, 'the standby armed');
    const standbyThread = armed(sup, 2)!.detail!['threadId'];
    sup.inject('relay1', 'hang');
    await sup.whenRunning('relay1', 2, 30_000);
    const reaped = sup.events.findIndex((e) => e.type === 'reaped' && e.server === 'relay1');
    const running = runningOf(sup, 2)!;
    assert.ok(reaped >= 0 && reaped < sup.events.indexOf(running), 'the hung thread was gone before the standby ran');
    assert.equal(running.detail!['threadId'], standbyThread);
    assert.equal(sup.recoveries[0]!.cause, 'hang');
    await until(() => Atomics.load(r, SINK_RESULT.NEXT) >= count, 90_000, 'all messages');
    exactlyOnce(r, count);
  } finally {
    await sup.stop();
  }
});

test('the restart policy holds: a crash soon after a restart backs off without a standby; the next standby comes once it would not', async () => {
  const { sup, r } = await chain({
    count: 1_000_000, ratePerMs: 20, relay1Standby: true,
    supervisor: { spares: 1, restart: { backoffBaseMs: 30, backoffResetMs: 1500, maxRestarts: 5, windowMs: 60_000 } },
  });
  try {
    await until(() => armed(sup, 2) !== undefined, 30_000, 'the standby armed');
    sup.inject('relay1', 'crash');
    await sup.whenRunning('relay1', 2, 30_000);
    const restartedAt = sup.events.find((e) => e.type === 'restart' && e.generation === 2)!.t;
    sup.inject('relay1', 'crash');
    await sup.whenRunning('relay1', 3, 30_000);
    const second = sup.events.find((e) => e.type === 'restart' && e.generation === 3)!;
    assert.equal(second.detail!['standby'], undefined, 'the quick second crash went the supervisor\'s way');
    assert.deepEqual(sup.events.filter((e) => e.type === 'backoff').map((e) => e.detail!['delayMs']), [30]);
    await until(() => armed(sup, 4) !== undefined, 30_000, 'a standby for generation 4');
    assert.ok(armed(sup, 4)!.t >= restartedAt + 1500, 'armed only once a crash would restart at once again');
    const before = Atomics.load(r, SINK_RESULT.RECEIVED);
    await until(() => Atomics.load(r, SINK_RESULT.RECEIVED) > before + 1000, 30_000, 'traffic after both restarts');
    assert.equal(Atomics.load(r, SINK_RESULT.GAPS), 0);
  } finally {
    await sup.stop();
  }
});

test('no standby without the manifest\'s standby, nor for a server whose channels are ports', async () => {
  for (const o of [{}, { relay1Standby: true, transport: 'port' as const }]) {
    const { sup } = await chain({ count: 1_000_000, ratePerMs: 5, supervisor: { spares: 1 }, ...o });
    try {
      await new Promise((resolve) => setTimeout(resolve, 600));
      assert.deepEqual(sup.events.filter((e) => e.type === 'standby'), []);
    } finally {
      await sup.stop();
    }
  }
});
