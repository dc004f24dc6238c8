// The placement monitor's decisions (issue 15), sans-IO with an injected clock: it groups an
// isolated host when the cores free for it fall short of a core per server thread and splits a
// grouped one when they come back, only after the figures held for holdMs, never within
// cooldownMs of a move, and not for a dip shorter than the hold.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PlacementMonitor, type RingPlacement } from '../../src/stack/placement-monitor.js';

/** Ticks every 100 ms from `t0` for `ms` at `otherLoad`, moving as decided; returns the decisions' times. */
function run(m: PlacementMonitor, state: { placement: RingPlacement; t: number }, ms: number, otherLoad: number): number[] {
  const at: number[] = [];
  for (const end = state.t + ms; state.t < end; state.t += 100) {
    const d = m.tick(state.t, state.placement, otherLoad);
    if (d === null) continue;
    assert.equal(d.from, state.placement);
    state.placement = d.to;
    m.moved(state.t);
    at.push(state.t);
  }
  return at;
}

test('placement monitor: 8 cores and 6 isolated threads: stays isolated while the machine is quiet, groups under a load that leaves too few cores, splits when it goes', () => {
  const m = new PlacementMonitor({ cores: 8, isolatedThreads: 6, groupedThreads: 2, holdMs: 1000, cooldownMs: 5000 });
  const s = { placement: 'isolated' as RingPlacement, t: 0 };
  // Quiet (the application's thread only): 8 - 1 = 7 cores for 6 threads.
  assert.deepEqual(run(m, s, 10_000, 1), []);
  // Another program takes 2.6 cores: 5.4 left, short of 6 by more than half a core: grouped after the hold.
  const grouped = run(m, s, 3000, 2.6);
  assert.equal(grouped.length, 1);
  assert.ok(grouped[0]! >= 10_000 + 1000 && grouped[0]! <= 10_000 + 1100, `grouped at ${grouped[0]}`);
  assert.equal(s.placement, 'grouped');
  const d = m.decisions.at(-1)!;
  assert.equal(d.to, 'grouped');
  assert.equal(d.coresLeft, 5.4);
  assert.match(d.reason, /5\.40 cores left/);
  // The load goes: splits again, but not before the cooldown after the last move has passed.
  const split = run(m, s, 8000, 0.5);
  assert.equal(split.length, 1);
  assert.ok(split[0]! >= grouped[0]! + 5000, `split at ${split[0]}, ${split[0]! - grouped[0]!} ms after grouping`);
  assert.equal(s.placement, 'isolated');
  assert.equal(m.decisions.length, 2);
});

test('placement monitor: no move for a load dip shorter than the hold, nor at the edge (hysteresis of half a core)', () => {
  const m = new PlacementMonitor({ cores: 8, isolatedThreads: 6, groupedThreads: 2, holdMs: 1000, cooldownMs: 0 });
  const s = { placement: 'isolated' as RingPlacement, t: 0 };
  for (let i = 0; i < 10; i++) {
    assert.deepEqual(run(m, s, 800, 3), []); // 5 cores left, but only for 800 ms
    assert.deepEqual(run(m, s, 500, 0), []);
  }
  // 2.3 others: 5.7 left, within half a core of 6: isolated stays.
  assert.deepEqual(run(m, s, 5000, 2.3), []);
  // Grouped at 5.7 cores left stays grouped too: splitting needs 6.
  s.placement = 'grouped';
  assert.deepEqual(run(m, s, 5000, 2.3), []);
  assert.equal(run(m, s, 2000, 2).length, 1, 'splits at 6 cores left');
});

test('placement monitor: on 2 cores an isolated host (6 threads) is grouped, and a grouped one stays grouped', () => {
  const m = new PlacementMonitor({ cores: 2, isolatedThreads: 6, groupedThreads: 2, holdMs: 300 });
  const s = { placement: 'isolated' as RingPlacement, t: 0 };
  assert.equal(run(m, s, 1000, 0).length, 1);
  assert.equal(s.placement, 'grouped');
  assert.deepEqual(run(m, s, 60_000, 0), []);
});

test('placement monitor: a regroup made by hand starts the cooldown', () => {
  const m = new PlacementMonitor({ cores: 2, isolatedThreads: 6, groupedThreads: 2, holdMs: 0, cooldownMs: 10_000 });
  m.moved(0); // split by hand at t = 0
  assert.equal(m.tick(5000, 'isolated', 1), null);
  assert.equal(m.tick(10_000, 'isolated', 1)?.to, 'grouped');
});

test('replicas left to the host (placement auto): as many as the cores hold, isolated threads and the application each a core', async () => {
  const { autoReplicas, createStack } = await import('../../src/stack/host.js');
  const { createVswitch } = await import('../../src/driver/nic/vswitch.js');
  assert.deepEqual([1, 2, 7, 8, 10, 11, 14, 15, 16, 67, 200].map(autoReplicas), [1, 1, 1, 1, 1, 2, 2, 3, 3, 16, 16]);
  // A host told it has 11 cores starts 2 replicas, isolated; one with 2 cores, 1, grouped.
  const sw = { descriptor: createVswitch({ ports: 2 }), nextPort: 0 };
  const config = { placement: 'auto', interfaces: [{ name: 'eth0', link: { type: 'vswitch', switch: 'sw0' }, addresses: ['10.0.0.1/24'] }] };
  const big = await createStack(config, { switches: { sw0: sw }, cores: 11 });
  try {
    assert.equal(big.steering.replicas, 2);
    assert.equal(big.placement, 'isolated');
    assert.equal(big.supervisor.threads().length, 10);
  } finally {
    await big.close();
  }
  const small = await createStack(config, { switches: { sw0: sw }, cores: 2 });
  try {
    assert.equal(small.steering.replicas, 1);
    assert.equal(small.placement, 'grouped');
  } finally {
    await small.close();
  }
});
