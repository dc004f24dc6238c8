// The thread monitor's core with an injected clock and fed loop counters (issue 15): it
// parks idle threads, lets busy ones spin only when the machine has a core for them,
// pins spinning threads to cores of their own, and says why each time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ThreadMonitor, type ThreadSample } from '../../src/substrate/thread-monitor.js';

/** A thread that was busy `pct` % of the time since the start and took `messages`. */
class Fed {
  busyMs = 0;
  messages = 0;
  constructor(readonly thread: string, public tid: number) {}
  advance(ms: number, pct: number, messages: number): void { this.busyMs += ms * pct / 100; this.messages += messages; }
  sample(): ThreadSample { return { thread: this.thread, busyMs: this.busyMs, messages: this.messages, tid: this.tid }; }
}

/** Runs `ms` of 100 ms ticks; each thread busy `pct[i]` % with messages when pct > 0. */
function run(m: ThreadMonitor, at: { now: number }, threads: Fed[], ms: number, pct: number[], runnable: number): void {
  for (let t = 0; t < ms; t += 100) {
    at.now += 100;
    threads.forEach((f, i) => f.advance(100, pct[i]!, pct[i]! > 0 ? 50 : 0));
    m.tick(at.now, threads.map((f) => f.sample()), runnable);
  }
}

test('thread monitor: an idle thread parks at once after 2 s without a message; one message wakes it', () => {
  const m = new ThreadMonitor({ cores: 2 });
  const at = { now: 0 };
  const t = new Fed('ip', 11);
  run(m, at, [t], 1900, [0], 1);
  assert.equal(m.modeOf('ip'), 'adaptive');
  run(m, at, [t], 200, [0], 1);
  assert.equal(m.modeOf('ip'), 'sleep');
  const d = m.decisions.at(-1)!;
  assert.equal(d.action, 'polling');
  assert.equal(d.to, 'sleep');
  assert.match(d.reason, /^no message for \d+ ms$/);
  run(m, at, [t], 100, [1], 1);
  assert.equal(m.modeOf('ip'), 'adaptive', 'woken on the next tick, no hold');
});

test('thread monitor: a busy thread spins after the hold only where a core is free, and is pinned to its own', () => {
  const m = new ThreadMonitor({ cores: 4, cpus: 4 });
  const at = { now: 0 };
  const a = new Fed('driver', 21);
  const b = new Fed('tcp', 22);
  run(m, at, [a, b], 900, [80, 60], 3);
  assert.equal(m.modeOf('driver'), 'adaptive', 'not before holdMs');
  run(m, at, [a, b], 700, [80, 60], 3);
  assert.equal(m.modeOf('driver'), 'busy');
  assert.equal(m.modeOf('tcp'), 'busy');
  // Highest cores first, never core 0.
  assert.deepEqual([m.coreOf('driver'), m.coreOf('tcp')].sort(), [2, 3]);
  const pin = m.decisions.find((d) => d.action === 'pin' && d.thread === 'driver')!;
  assert.equal(pin.tid, 21);
  assert.match(m.decisions.find((d) => d.to === 'busy')!.reason, /a core for it \(2 threads \+ load [\d.]+ on 4 cores\)/);
  // The machine fills up: spinning ends at once, and the pins go.
  run(m, at, [a, b], 600, [80, 60], 8);
  assert.equal(m.modeOf('driver'), 'adaptive');
  assert.equal(m.coreOf('driver'), -1);
  assert.match(m.decisions.find((d) => d.thread === 'driver' && d.from === 'busy')!.reason, /^no core to spin on/);
  assert.ok(m.decisions.some((d) => d.action === 'unpin' && d.thread === 'driver' && d.to === 'all'));
});

test('thread monitor: no spinning on a machine without a core to spare, however busy', () => {
  const m = new ThreadMonitor({ cores: 2 });
  const at = { now: 0 };
  const threads = ['driver', 'ip', 'tcp'].map((n, i) => new Fed(n, i + 1));
  run(m, at, threads, 5000, [90, 90, 90], 4);
  for (const t of threads) assert.equal(m.modeOf(t.thread), 'adaptive');
  assert.equal(m.decisions.length, 0);
});

test('thread monitor: a spinning thread keeps spinning down to half the threshold, then goes back to adaptive', () => {
  const m = new ThreadMonitor({ cores: 4 });
  const at = { now: 0 };
  const t = new Fed('driver', 5);
  run(m, at, [t], 2000, [50], 2);
  assert.equal(m.modeOf('driver'), 'busy');
  run(m, at, [t], 2000, [20], 2);
  assert.equal(m.modeOf('driver'), 'busy', '20 % is above half of 30 %');
  run(m, at, [t], 1000, [10], 2);
  assert.equal(m.modeOf('driver'), 'adaptive');
});

test('thread monitor: more spinning threads than spare cores: the rest spin unpinned; a successor thread is pinned again', () => {
  const m = new ThreadMonitor({ cores: 8, cpus: 3 });
  const at = { now: 0 };
  const threads = ['a', 'b', 'c'].map((n, i) => new Fed(n, 100 + i));
  run(m, at, threads, 2000, [70, 70, 70], 4);
  const cores = threads.map((t) => m.coreOf(t.thread));
  assert.deepEqual(cores.filter((c) => c >= 0).sort(), [1, 2], 'cores 2 and 1, never 0');
  assert.equal(cores.filter((c) => c < 0).length, 1);
  const pinned = threads.find((t) => m.coreOf(t.thread) === 2)!;
  // Its thread died and a successor runs with a new OS id: pinned again.
  pinned.tid = 999;
  const before = m.decisions.length;
  run(m, at, threads, 100, [70, 70, 70], 4);
  const again = m.decisions.slice(before).find((d) => d.action === 'pin')!;
  assert.equal(again.tid, 999);
});

test('thread monitor: a fixed polling mode is written once per thread and never changed; pinning off pins nothing', () => {
  const m = new ThreadMonitor({ cores: 4, polling: 'busy', pinning: false });
  const at = { now: 0 };
  const t = new Fed('tcp', 7);
  run(m, at, [t], 5000, [0], 1);
  assert.equal(m.modeOf('tcp'), 'busy');
  assert.deepEqual(m.decisions.map((d) => [d.action, d.to, d.reason]), [['polling', 'busy', 'fixed by configuration']]);
  assert.equal(m.coreOf('tcp'), -1);
});
