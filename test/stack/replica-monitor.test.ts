import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ReplicaMonitor } from '../../src/stack/replica-monitor.js';
import { ENTRY_MOVING, RSS_TABLE_SIZE, createRssTable } from '../../src/abi/rss-table.js';

/** Feeds the monitor `fps` frames/s spread evenly over the replicas for `ms`, one tick per 100 ms. */
function feed(m: ReplicaMonitor, frames: number[], clock: { now: number }, fps: number, ms: number, live: (r: number, e: number) => number): void {
  for (let t = 0; t < ms; t += 100) {
    clock.now += 100;
    for (let r = 0; r < frames.length; r++) frames[r]! += fps / 10 / frames.length;
    m.tick(clock.now, frames, live);
  }
}

test('monitor: a load step down shrinks to 1 replica, a step up grows back to 4; draining skips entries with live connections until they end', () => {
  const table = new Uint8Array(createRssTable(4));
  const draining = new Int32Array(4);
  const m = new ReplicaMonitor({ max: 4, perReplicaFps: 10_000, holdMs: 500 }, table, draining);
  const clock = { now: 0 };
  const frames = [0, 0, 0, 0];
  // Entry 3 (replica 3's) holds a live connection.
  let liveIn3 = 1;
  const live = (r: number, e: number): number => (e === 3 && r === table[3] ? liveIn3 : 0);
  feed(m, frames, clock, 35_000, 2000, live);
  assert.equal(m.activeReplicas, 4, 'held at 4 under 35k frames/s');
  assert.equal(m.decisions.length, 0);
  feed(m, frames, clock, 2_000, 5000, live);
  assert.equal(m.activeReplicas, 1);
  assert.deepEqual(m.decisions.map((d) => d.action), ['shrink', 'shrink', 'shrink']);
  assert.deepEqual([...draining], [0, 1, 1, 1]);
  // Every entry moved to replica 0 but the one with a live connection.
  assert.equal(table[3], 3);
  assert.equal(table.filter((r) => r === 0).length, RSS_TABLE_SIZE - 1);
  assert.ok(m.decisions.at(-1)!.entriesPending >= 1);
  liveIn3 = 0;
  feed(m, frames, clock, 2_000, 200, live);
  assert.equal(table[3], 0, 'the entry moved once its connection ended');
  feed(m, frames, clock, 38_000, 5000, live);
  assert.equal(m.activeReplicas, 4);
  assert.deepEqual([...draining], [0, 0, 0, 0]);
  for (let r = 0; r < 4; r++) assert.equal(table.filter((x) => x === r).length, RSS_TABLE_SIZE / 4);
  // Interleaved again, as a fresh table: a contiguous block per replica would put a client's
  // consecutive ports (entries differing in their low bits) all on one replica.
  assert.deepEqual([...table], [...new Uint8Array(createRssTable(4))]);
  const d = m.decisions.at(-1)!;
  assert.equal(d.action, 'grow');
  assert.ok(d.loadFps > 30_000, `decision carries its figures: ${JSON.stringify(d)}`);
});

test('monitor: a burst shorter than the hold time changes nothing', () => {
  const table = new Uint8Array(createRssTable(2));
  const m = new ReplicaMonitor({ max: 2, perReplicaFps: 10_000, holdMs: 1000 }, table, new Int32Array(2));
  const clock = { now: 0 };
  const frames = [0, 0];
  feed(m, frames, clock, 15_000, 2000, () => 0);
  feed(m, frames, clock, 1_000, 500, () => 0);
  feed(m, frames, clock, 15_000, 2000, () => 0);
  assert.equal(m.decisions.length, 0);
  assert.equal(m.activeReplicas, 2);
});

test('monitor: its decision list keeps the recent ones only (a host under changing load for months does not grow)', () => {
  const table = new Uint8Array(createRssTable(2));
  const m = new ReplicaMonitor({ max: 2, perReplicaFps: 10_000, holdMs: 0, windowMs: 100 }, table, new Int32Array(2));
  const clock = { now: 0 };
  const frames = [0, 0];
  // Load swings between 2k and 15k frames/s every 300 ms: a shrink or a grow each swing.
  for (let k = 0; k < 1400; k++) feed(m, frames, clock, k % 2 === 0 ? 2_000 : 15_000, 300, () => 0);
  assert.ok(m.decisions.length >= 500 && m.decisions.length <= 1000, `${m.decisions.length} decisions kept`);
  assert.equal(m.decisions.at(-1)!.at, Math.max(...m.decisions.map((d) => d.at)), 'the latest is kept');
});

test('monitor: an entry moves only after no TCP frame was steered by it for quietMs (a handshake in flight stays with its replica)', () => {
  // A SYN steered by entry 5 to replica 1 is still in the rings (no connection counts it):
  // moving the entry then sent the peer's next segment to replica 0, which reset it.
  const table = new Uint8Array(createRssTable(2));
  const draining = new Int32Array(2);
  const entryFrames = new Int32Array(RSS_TABLE_SIZE);
  const m = new ReplicaMonitor({ max: 2, perReplicaFps: 10_000, holdMs: 0, quietMs: 300 }, table, draining, entryFrames);
  const clock = { now: 0 };
  const frames = [0, 0];
  const none = (): number => 0;
  m.tick(clock.now, frames, none);
  // Entry 5 (replica 1's) carries a frame on every tick while the load drops.
  for (let i = 0; i < 5; i++) {
    Atomics.add(entryFrames, 5, 1);
    clock.now += 100;
    m.tick(clock.now, frames, none);
  }
  assert.equal(m.activeReplicas, 1);
  assert.equal(table[5], 1, 'a busy entry stays with its replica');
  assert.equal(table[7], 0, 'a quiet entry of the drained replica moved at once');
  // Quiet for less than quietMs: still there; after: moved.
  clock.now += 200;
  m.tick(clock.now, frames, none);
  assert.equal(table[5], 1);
  clock.now += 200;
  m.tick(clock.now, frames, none);
  assert.equal(table[5], 0, 'moved once quiet for 300 ms');
  assert.equal(table.filter((r) => r === 1).length, 0);
});

test('monitor: a frame counted between its look at an entry and the move keeps the entry where it is (compare-and-swap of the count); moved once quiet again', () => {
  const table = new Uint8Array(createRssTable(2));
  const draining = new Int32Array(2);
  const entryFrames = new Int32Array(RSS_TABLE_SIZE);
  const m = new ReplicaMonitor({ max: 2, perReplicaFps: 10_000, holdMs: 0, quietMs: 300 }, table, draining, entryFrames);
  const clock = { now: 0 };
  const frames = [0, 0];
  // The driver counts a frame of entry 7 (replica 1's) just after the monitor looked at the
  // count of the quiet entry, while it asks for the entry's live connections (the step before
  // the move): once, on the first tick that would move it.
  let raced = 0;
  const live = (_r: number, e: number): number => {
    if (e === 7 && raced === 0) { Atomics.add(entryFrames, 7, 1); raced = clock.now; }
    return 0;
  };
  m.tick(clock.now, frames, live);
  for (let i = 0; i < 10 && raced === 0; i++) { clock.now += 100; m.tick(clock.now, frames, live); }
  assert.ok(raced > 0, 'the monitor got to the point of moving entry 7');
  assert.equal(m.activeReplicas, 1);
  assert.equal(table[7], 1, 'the frame counted after the look keeps the entry on its replica');
  assert.equal(Atomics.load(entryFrames, 7) & ENTRY_MOVING, 0, 'never left taken');
  // Quiet again for quietMs from that frame on: then it moves.
  clock.now += 200; m.tick(clock.now, frames, live);
  assert.equal(table[7], 1, 'not before quietMs after the frame');
  for (let i = 0; i < 3; i++) { clock.now += 100; m.tick(clock.now, frames, live); }
  assert.equal(table[7], 0, 'moved once quiet for quietMs');
  assert.equal(Atomics.load(entryFrames, 7) & ENTRY_MOVING, 0);
});
