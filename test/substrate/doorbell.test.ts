import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { createRing } from '../../src/substrate/ring.js';
import { countWakesIn, createDoorbell, DoorbellRinger, DoorbellSleeper, waitAsync } from '../../src/substrate/doorbell.js';
import { AdaptivePolling, DEFAULT_POLLING, ServerLoop } from '../../src/substrate/server-loop.js';
import type { DoorbellStressResult } from './examples/doorbell-stress.js';
import { readSync, writeSync } from 'node:fs';
import { loadTapAddon, WAIT_READABLE, type TapAddon } from '../../src/driver/nic/tap.js';
import { BELL_COUNTED, BELL_SLEEPING, BELL_WAKE_FD, COUNTED_IN, COUNTED_PARKED, MSG_WORDS, SYS_CORES, SYS_RUNNABLE, SYS_WORDS } from '../../src/substrate/layout.js';
import { RingIn, RingOut } from '../../src/substrate/channel.js';
import { ControlBlock, createControlBlock } from '../../src/substrate/stats.js';
import { PoolDirectory } from '../../src/substrate/pool.js';

function run(data: object): Promise<DoorbellStressResult> {
  const url = new URL('./examples/doorbell-stress.js', import.meta.url);
  return new Promise((resolve, reject) => {
    const w = new Worker(fileURLToPath(url), { workerData: data });
    w.once('message', resolve);
    w.once('error', reject);
  });
}

test('a producer does not notify an awake consumer, and does notify a sleeping one', () => {
  const bell = createDoorbell();
  const ringer = new DoorbellRinger(bell);
  assert.equal(ringer.ring(), false);
  const sleeper = new DoorbellSleeper(bell);
  // stillIdle runs with the flag raised: a ring from there must stop the park.
  const r = sleeper.park(10_000, () => { assert.equal(ringer.ring(), true); return true; });
  assert.equal(r, 'woken');
  assert.equal(new Int32Array(bell)[BELL_SLEEPING], 0, 'the sleeper cleared its own flag');
  assert.equal(sleeper.park(10_000, () => false), 'not-parked');
  assert.equal(sleeper.park(1, () => true), 'timed-out');
});

test('doorbell stress with random pauses on both sides: no lost wake-up, no lost message', async () => {
  const count = 30_000;
  for (const seed of [1, 99]) {
    const ring = createRing(64, 1);
    const bell = createDoorbell();
    const [p, c] = await Promise.all([
      run({ role: 'producer', ring, bell, count, seed: seed * 7 + 3, parkTimeoutMs: 10_000 }),
      run({ role: 'consumer', ring, bell, count, seed, parkTimeoutMs: 10_000 }),
    ]);
    assert.equal(c.received, count);
    assert.equal(c.errors, 0, 'every message, in order');
    assert.equal(c.timeouts, 0, 'no park outlived a waiting message (a lost wake-up would time out after 10 s)');
    assert.ok(c.parks > 100, `the consumer really parked (${c.parks})`);
    assert.ok(p.notifies >= c.wakeups);
    console.log(`# doorbell stress seed ${seed}: ${c.parks} parks, ${c.wakeups} wake-ups, ${p.notifies} notifies`);
  }
});

function tapAddon(): TapAddon | string {
  try { return loadTapAddon(); } catch (e) { return (e as Error).message; }
}

// A thread that owns a device sleeps in poll(2) beside it (a driver beside its TAP): ringers
// then wake it through the doorbell's eventfd. The same stress as above, with the consumer
// sleeping beside a "device" that never has input: every wake-up comes through the eventfd.
test('a sleeper beside a device is woken through its eventfd: no lost wake-up under the stress', async (t) => {
  const addon = tapAddon();
  if (typeof addon === 'string') { t.skip(`needs the TAP addon (its eventfd and poll): ${addon}`); return; }
  const device = addon.eventfd();
  const wake = addon.eventfd();
  t.after(() => { addon.close(device); addon.close(wake); });
  const count = 30_000;
  const ring = createRing(64, 1);
  const bell = createDoorbell();
  const [p, c] = await Promise.all([
    run({ role: 'producer', ring, bell, count, seed: 17, parkTimeoutMs: 10_000 }),
    run({ role: 'consumer', ring, bell, count, seed: 5, parkTimeoutMs: 10_000, besideFds: { device, wake } }),
  ]);
  assert.equal(c.received, count);
  assert.equal(c.errors, 0, 'every message, in order');
  assert.equal(c.timeouts, 0, 'no park outlived a waiting message (a lost wake-up would time out after 10 s)');
  assert.ok(c.parks > 100, `the consumer really parked (${c.parks})`);
  assert.equal(new Int32Array(bell)[BELL_WAKE_FD], wake + 1, 'ringers find the eventfd in the doorbell');
  console.log(`# doorbell stress beside a device: ${c.parks} parks, ${c.wakeups} wake-ups, ${p.notifies} notifies`);
});

test('a sleeper beside a device: the device wakes it, a second sleepBeside is refused, nothing times it out early', (t) => {
  const addon = tapAddon();
  if (typeof addon === 'string') { t.skip(`needs the TAP addon (its eventfd and poll): ${addon}`); return; }
  const device = addon.eventfd();
  const wake = addon.eventfd();
  t.after(() => { addon.close(device); addon.close(wake); });
  const sleeper = new DoorbellSleeper(createDoorbell());
  const drain = new Uint8Array(8);
  const wait = (ms: number): boolean => {
    const ev = addon.wait(device, WAIT_READABLE, Math.max(1, Math.ceil(ms)), wake);
    if ((ev >>> 8) !== 0) readSync(wake, drain);
    return ev !== 0;
  };
  assert.equal(sleeper.sleepBeside(wait, wake), true);
  assert.equal(sleeper.sleepBeside(wait, wake), false, 'one per doorbell');
  assert.equal(sleeper.park(20, () => true), 'timed-out', 'nothing on either fd');
  writeSync(device, new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0]));
  assert.equal(sleeper.park(10_000, () => true), 'woken', 'the device has input');
  readSync(device, drain);
  // A ring from the sleeper's own stillIdle (the race the protocol covers): the eventfd is
  // written before the poll, which returns at once.
  const ringer = new DoorbellRinger(sleeper.words.buffer as SharedArrayBuffer);
  assert.equal(sleeper.park(10_000, () => { assert.equal(ringer.ring(), true); return true; }), 'woken');
  assert.equal(addon.wait(wake, WAIT_READABLE, 0), 0, 'the sleeper drained its eventfd');
});

test('waitAsync keeps the application thread alive and resolves on a ring from another thread', async () => {
  const bell = createDoorbell();
  const sleeper = new DoorbellSleeper(bell);
  const code = `
    const { workerData } = require('node:worker_threads');
    const w = new Int32Array(workerData);
    const until = Date.now() + 30; while (Date.now() < until) {}
    while (Atomics.load(w, ${BELL_SLEEPING}) === 0) {}
    Atomics.add(w, 0, 1); Atomics.notify(w, 0);`;
  const wk = new Worker(code, { eval: true, workerData: bell });
  const r = await sleeper.parkAsync(10_000, () => true);
  assert.equal(r, 'woken');
  await new Promise((res) => wk.once('exit', res));
  assert.equal(await waitAsync(new Int32Array(bell), 0, 12345, 1000), 'not-equal');
});

test('waitAsync: a wait that timed out leaves no waiter behind to take the next single notify; a ring ends the next wait at once', async () => {
  const bell = createDoorbell();
  const w = new Int32Array(bell);
  const t0 = performance.now();
  assert.equal(await waitAsync(w, 0, 0, 20), 'timed-out');
  assert.ok(performance.now() - t0 >= 15, 'the timeout is kept');
  // A producer that sends one notify (DoorbellRinger.ring), from another thread, while the next wait is pending.
  const code = `
    const { workerData } = require('node:worker_threads');
    const w = new Int32Array(workerData);
    while (Atomics.load(w, ${BELL_SLEEPING}) === 0) {}
    Atomics.add(w, 0, 1); Atomics.notify(w, 0, 1);`;
  const wk = new Worker(code, { eval: true, workerData: bell });
  const next = waitAsync(w, 0, 0, 60_000);
  Atomics.store(w, BELL_SLEEPING, 1);
  // Had the timed-out wait's V8 waiter stayed queued, that single notify would have woken it
  // (waiters are woken in order) and this wait would sit out its 60 s.
  const r = await Promise.race([next, new Promise((res) => setTimeout(() => res('still waiting after 10 s'), 10_000).unref())]);
  assert.equal(r, 'ok');
  await new Promise((res) => wk.once('exit', res));
});

test('adaptive polling spins only when the next message is likely sooner than a park', () => {
  const p = new AdaptivePolling('adaptive', 30, 200);
  assert.equal(p.spinUntil(1, 2), -Infinity, 'no history: park');
  for (let t = 0; t < 1; t += 0.005) p.onWork(t); // a message every 5 us
  assert.ok(p.meanGapMs < 0.01);
  const until = p.spinUntil(1, 2);
  assert.ok(until > 0.995 && until <= 0.995 + 0.2, `spins a little past the last arrival (${until})`);
  assert.equal(p.spinUntil(3, 2), -Infinity, 'more runnable threads than cores: park');
  assert.equal(p.spinUntil(2, 2), -Infinity, 'as many runnable threads as cores: park, the application needs one too');
  for (let t = 1; t < 20; t += 1) p.onWork(t); // a message every ms
  assert.equal(p.spinUntil(1, 2), -Infinity, 'sparse traffic, no reply window: park');
  assert.equal(new AdaptivePolling('busy', 30, 200).spinUntil(9, 2), Infinity);
  assert.equal(new AdaptivePolling('sleep', 30, 200).spinUntil(0, 2), -Infinity);
});

test('adaptive polling waits a short reply window after work, even when traffic is sparse', () => {
  const p = new AdaptivePolling('adaptive', 30, 200, 100);
  for (let t = 1; t < 20; t += 1) p.onWork(t); // a request every ms: sparse
  assert.ok(Math.abs(p.spinUntil(1, 2) - (19 + 0.1)) < 1e-9, 'spins 100 us past the last batch, for the reply');
  assert.equal(p.spinUntil(3, 2), -Infinity, 'more runnable threads than cores: park at once');
  const q = new AdaptivePolling('adaptive', 30, 50, 100);
  q.onWork(5);
  assert.ok(Math.abs(q.spinUntil(1, 2) - 5.05) < 1e-9, 'the reply window is capped by maxSpinUs');
});

test('a producer that wakes a parked loop counts it runnable at once, and the woken loop does not count itself again', () => {
  const system = new SharedArrayBuffer(SYS_WORDS * 4);
  const sys = new Int32Array(system);
  Atomics.store(sys, SYS_CORES, 2);
  countWakesIn(system);
  const bell = createDoorbell();
  const words = new Int32Array(bell);
  const waker = new DoorbellRinger(bell);
  const ring = createRing(64, MSG_WORDS);
  const input = new RingIn('in', 'peer', ring, createDoorbell());
  // The loop's re-check before it parks (sleeping flag raised, counted out) is where a
  // producer rings it here: what a producer on another thread would do at that moment.
  let countedDuringPark = -1;
  let stateDuringPark = -1;
  const ringing = Object.create(input) as RingIn;
  ringing.hasMessage = () => {
    if (countedDuringPark < 0) {
      assert.equal(Atomics.load(sys, SYS_RUNNABLE), 0, 'a parking loop is counted out');
      assert.equal(waker.ring(), true);
      countedDuringPark = Atomics.load(sys, SYS_RUNNABLE);
      stateDuringPark = Atomics.load(words, BELL_COUNTED);
    }
    return false;
  };
  const loop = new ServerLoop({
    servers: [{ name: 's', core: { onMessage: () => true }, inputs: [ringing], outputs: [], cb: new ControlBlock(createControlBlock()), pools: [], buffers: new PoolDirectory(0) }],
    sleeper: new DoorbellSleeper(bell),
    system: sys,
    polling: { ...DEFAULT_POLLING, mode: 'sleep', maxParkMs: 1 },
    control: null,
  });
  (loop as unknown as { setRunnable(on: boolean): void }).setRunnable(true);
  assert.equal(Atomics.load(sys, SYS_RUNNABLE), 1);
  loop.iterate();
  assert.equal(countedDuringPark, 1, 'the ringer counted the woken loop in before it ran');
  assert.equal(stateDuringPark, COUNTED_IN);
  assert.equal(Atomics.load(sys, SYS_RUNNABLE), 1, 'the woken loop found itself counted: not counted twice');
  // A doorbell whose owner is not a server loop (the application's: never PARKED) is not counted.
  const appBell = createDoorbell();
  Atomics.store(new Int32Array(appBell), BELL_SLEEPING, 1);
  assert.equal(new DoorbellRinger(appBell).ring(), true);
  assert.equal(Atomics.load(sys, SYS_RUNNABLE), 1);
  // A parked loop rung twice is counted once.
  Atomics.store(words, BELL_COUNTED, COUNTED_PARKED);
  Atomics.sub(sys, SYS_RUNNABLE, 1);
  Atomics.store(words, BELL_SLEEPING, 1);
  waker.ring();
  waker.ring();
  assert.equal(Atomics.load(sys, SYS_RUNNABLE), 1);
});

test('a loop calls its servers\' onIdle only on a pass that found nothing to do, never on a message\'s pass', () => {
  const system = new SharedArrayBuffer(SYS_WORDS * 4);
  const sys = new Int32Array(system);
  Atomics.store(sys, SYS_CORES, 2);
  const bell = createDoorbell();
  const ring = createRing(64, MSG_WORDS);
  const out = new RingOut('out', 's', ring, bell);
  const input = new RingIn('in', 'peer', ring, createDoorbell());
  const events: string[] = [];
  const loop = new ServerLoop({
    servers: [{
      name: 's', inputs: [input], outputs: [], cb: new ControlBlock(createControlBlock()), pools: [], buffers: new PoolDirectory(0),
      core: { onMessage: (m) => { events.push(`message ${m.seq}`); return true; }, poll: () => { events.push('poll'); }, onIdle: () => { events.push('idle'); } },
    }],
    sleeper: new DoorbellSleeper(bell),
    system: sys,
    polling: { ...DEFAULT_POLLING, mode: 'sleep', maxParkMs: 1 },
    control: null,
  });
  out.send(1, 7);
  out.flush();
  loop.iterate();
  assert.deepEqual(events, ['message 7', 'poll'], 'the pass that took the message: no idle work on its way');
  events.length = 0;
  loop.iterate();
  assert.equal(events.filter((e) => e === 'idle').length, 1, 'the next pass found nothing: idle work once, then it parks');
  assert.equal(events.at(-1), 'idle');
});
