// A socket table's one wake-up word (src/abi/table-events.ts) and the application's loop on it
// (src/app/socket-events.ts): marks taken once, a parked application woken once per park, and,
// across threads, no wait that an event should end left waiting.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { createSocketTable, SocketTable } from '../../src/abi/socket-table.js';
import { AppWait } from '../../src/abi/socket-block.js';
import { H_APP_PARKED } from '../../src/abi/table-events.js';
import { SocketEvents } from '../../src/app/socket-events.js';

const table = (slots: number, tableEvents = true): SocketTable =>
  new SocketTable(createSocketTable({ slots, sendCapacity: 1024, recvCapacity: 1024, tableEvents }));

function taken(take: (fn: (slot: number) => void) => number): number[] {
  const got: number[] = [];
  const n = take((s) => got.push(s));
  assert.equal(n, got.length);
  return got.sort((a, b) => a - b);
}

test('table events: marked slots are taken once, across word and summary boundaries; kicks apart from events', () => {
  const t = table(3000);
  const ev = t.events!;
  const slots = [0, 31, 32, 1023, 1024, 1055, 2999];
  for (const s of slots) ev.markReady(s);
  ev.markReady(32); // twice: taken once
  assert.deepEqual(taken((fn) => ev.takeReady(fn)), slots);
  assert.deepEqual(taken((fn) => ev.takeReady(fn)), [], 'taken: nothing left');
  assert.equal(ev.kicksPending(), false, 'events are not kicks');
  ev.markKick(5);
  ev.markKick(2048);
  assert.equal(ev.kicksPending(), true);
  assert.deepEqual(taken((fn) => ev.takeReady(fn)), [], 'kicks are not events');
  assert.deepEqual(taken((fn) => ev.takeKicks(fn)), [5, 2048]);
  assert.equal(ev.kicksPending(), false);
  // A table without the option keeps per-socket waits: no events object, the same blocks.
  assert.equal(table(4, false).events, undefined);
});

test('table events: a socket block publishes by marking its slot only while its application waits; a parked application is woken once per park', () => {
  const t = table(64);
  const ev = t.events!;
  const b = t.block(9);
  b.reset();
  assert.equal(b.serverPublish(), false);
  assert.deepEqual(taken((fn) => ev.takeReady(fn)), [], 'no one waits: no mark');
  b.setAppWaiting(AppWait.Readable);
  assert.equal(b.serverPublish(), false, 'the application is not parked: a mark, no notify');
  assert.deepEqual(taken((fn) => ev.takeReady(fn)), [9]);
  ev.parked(true);
  assert.equal(b.serverPublish(), true, 'parked: notified');
  assert.equal(Atomics.load(ev.header, H_APP_PARKED), 0, 'the notifier took the parked word back');
  assert.equal(t.block(10).serverPublish(), false, 'not waiting');
  t.block(11).setAppWaiting(AppWait.Readable);
  assert.equal(t.block(11).serverPublish(), false, 'a second mark before the application ran: no second notify');
  assert.deepEqual(taken((fn) => ev.takeReady(fn)), [9, 11]);
  assert.equal(ev.wakes(), 1);
  assert.equal(b.opStats().serverWakeMessages, 0, 'counted by the table, not the socket');
});

test('socket events: a wait ends at once when its event came before it, at an event after it, and at close', async () => {
  const t = table(8);
  const events = new SocketEvents(t.events!);
  const b = t.block(3);
  b.reset();
  const seq = b.eventSeq();
  b.setAppWaiting(AppWait.Readable);
  b.serverPublish();
  await events.wait(3, b, seq); // the sequence moved already
  let ended = false;
  const w = events.wait(3, b, b.eventSeq()).then(() => { ended = true; });
  await new Promise((r) => setTimeout(r, 5));
  assert.equal(ended, false, 'no event: still waiting (the loop sleeps)');
  b.serverPublish();
  await w;
  const c = t.block(4);
  c.reset();
  c.setAppWaiting(AppWait.Readable);
  const pending = events.wait(4, c, c.eventSeq());
  events.close();
  await pending;
});

test('socket events: one loop for a thread\'s tables: a table that wakes the thread un-parks the others, whose events then cost no notify', async () => {
  const ta = table(8), tb = table(8);
  const ea = new SocketEvents(ta.events!), eb = new SocketEvents(tb.events!);
  const a = ta.block(1), b = tb.block(2);
  a.reset(); b.reset();
  a.setAppWaiting(AppWait.Readable); b.setAppWaiting(AppWait.Readable);
  // The loop parks after LOOK_MS without events: wait for it (bounded; a fixed sleep can end
  // before the loop's next turn on a busy machine, timers running first).
  const parked = async (...tables: SocketTable[]): Promise<void> => {
    for (let i = 0; i < 1000 && tables.some((t) => Atomics.load(t.events!.header, H_APP_PARKED) === 0); i++) await new Promise((r) => setTimeout(r, 2));
  };
  const wa = ea.wait(1, a, a.eventSeq());
  const wb = eb.wait(2, b, b.eventSeq());
  await parked(ta, tb);
  assert.equal(Atomics.load(ta.events!.header, H_APP_PARKED), 1, 'idle: table A parked');
  assert.equal(Atomics.load(tb.events!.header, H_APP_PARKED), 1, 'idle: table B parked');
  assert.equal(a.serverPublish(), true, 'A\'s event notifies the parked thread');
  await wa;
  assert.equal(Atomics.load(tb.events!.header, H_APP_PARKED), 0, 'the woken loop un-parked B');
  assert.equal(b.serverPublish(), false, 'B\'s event while the loop looks: a mark, no notify');
  await wb;
  assert.equal(ta.events!.wakes() + tb.events!.wakes(), 1, 'one notify for both events');
  // Parked again, B's outstanding wait (kept from its first park) still wakes it.
  b.setAppWaiting(AppWait.Readable);
  const wb2 = eb.wait(2, b, b.eventSeq());
  await parked(tb);
  assert.equal(Atomics.load(tb.events!.header, H_APP_PARKED), 1, 'B parked again');
  assert.equal(b.serverPublish(), true);
  await wb2;
  ea.close(); eb.close();
});

test('socket events: a server thread publishes one event at a time at random moments on either of two tables, each alone: every one ends its wait (no lost wake-up)', async () => {
  // Each event must end its socket's wait with no later event to help it (a lost notify would
  // leave the marked slot for the next mark): the worker waits for the application's
  // acknowledgement before the next one, bounded; a wait that does not end stalls it. Two
  // tables share the application thread's loop: a table parks while the other wakes it, and
  // keeps its outstanding wait across parks.
  const SLOTS = 40;
  const EVENTS = 3000;
  const sabs = [0, 1].map(() => createSocketTable({ slots: SLOTS, sendCapacity: 1024, recvCapacity: 1024, tableEvents: true }));
  const tables = sabs.map((sab) => new SocketTable(sab));
  for (const t of tables) for (let s = 0; s < SLOTS; s++) t.block(s).reset();
  const ack = new Int32Array(new SharedArrayBuffer(4));
  const events = tables.map((t) => new SocketEvents(t.events!));
  const tableUrl = new URL('../../src/abi/socket-table.js', import.meta.url).href;
  const worker = new Worker(`
    const { workerData, parentPort } = require('node:worker_threads');
    import(${JSON.stringify(tableUrl)}).then(({ SocketTable }) => {
      const ts = workerData.sabs.map((sab) => new SocketTable(sab));
      const ack = new Int32Array(workerData.ack);
      let x = 12345;
      for (let i = 0; i < workerData.events; i++) {
        x = (Math.imul(x, 1103515245) + 12345) & 0x7fffffff;
        const b = ts[(x >>> 4) & 1].block((x >>> 8) % workerData.slots);
        for (let k = 0; b.appWaiting() === 0; k++) {
          if (k > 200000) { parentPort.postMessage({ stalled: i, why: 'the application never waited again' }); return; }
          Atomics.wait(ack, 0, Atomics.load(ack, 0), 0.01);
        }
        // A random moment: the application may be taking marks, about to sleep, or asleep.
        const until = performance.now() + ((x >>> 16) % 120) / 1000;
        while (performance.now() < until);
        const seen = Atomics.load(ack, 0);
        b.serverPublish();
        if (Atomics.wait(ack, 0, seen, 5000) === 'timed-out') { parentPort.postMessage({ stalled: i, why: 'the event did not end its wait' }); return; }
      }
      parentPort.postMessage({ done: true });
    });
  `, { eval: true, workerData: { sabs, ack: ack.buffer, slots: SLOTS, events: EVENTS } });
  const arm = (k: number, s: number): void => {
    const b = tables[k]!.block(s);
    const seq = b.eventSeq();
    b.setAppWaiting(AppWait.Readable | AppWait.State);
    void events[k]!.wait(s, b, seq).then(() => {
      b.setAppWaiting(0);
      Atomics.add(ack, 0, 1);
      Atomics.notify(ack, 0);
      arm(k, s);
    });
  };
  for (let k = 0; k < 2; k++) for (let s = 0; s < SLOTS; s++) arm(k, s);
  const result = await new Promise<{ done?: true; stalled?: number; why?: string }>((resolve, reject) => { worker.once('message', resolve); worker.once('error', reject); });
  await worker.terminate();
  for (const e of events) e.close();
  assert.deepEqual(result, { done: true }, `event ${result.stalled}: ${result.why}`);
  assert.equal(Atomics.load(ack, 0), EVENTS, 'one wait ended per event');
  assert.ok(events[0]!.sleeps > 0 && events[1]!.sleeps > 0, 'both tables slept between events (the notify path ran)');
});
