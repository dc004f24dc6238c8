// The outbox of messages that did not fit a full channel (src/substrate/outbox.ts): sent at
// once while there is room, kept in order when not, retried first, counted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Outbox } from '../../src/substrate/outbox.js';
import { DebugEvery } from '../../src/substrate/debug-log.js';

/** A channel with `room` free slots that records what went. */
function channel(room: number): { room: number; sent: number[]; put: (n: number) => boolean } {
  const ch = {
    room, sent: [] as number[],
    put: (n: number): boolean => { if (ch.room === 0) return false; ch.room--; ch.sent.push(n); return true; },
  };
  return ch;
}

test('outbox: sends at once while there is room', () => {
  const ch = channel(3);
  const box = new Outbox(ch.put);
  assert.equal(box.send(1), true);
  assert.equal(box.send(2), true);
  assert.deepEqual(ch.sent, [1, 2]);
  assert.equal(box.length, 0);
  assert.equal(box.queued, 0);
});

test('outbox: keeps what does not fit, in order, and newer items queue behind it', () => {
  const ch = channel(1);
  const box = new Outbox(ch.put);
  assert.equal(box.send(1), true);
  assert.equal(box.send(2), false);
  ch.room = 5; // room again, but 2 waits: 3 must not overtake it
  assert.equal(box.send(3), false);
  assert.deepEqual(ch.sent, [1]);
  assert.equal(box.length, 2);
  assert.equal(box.queued, 2);
  const seen: number[] = [];
  box.forEach((n) => seen.push(n));
  assert.deepEqual(seen, [2, 3]);
  assert.equal(box.retry(), 2);
  assert.deepEqual(ch.sent, [1, 2, 3]);
  assert.equal(box.length, 0);
  assert.equal(box.queued, 2, 'queued counts what was ever kept');
});

test('outbox: retry stops at the first item that does not fit and keeps the rest', () => {
  const ch = channel(0);
  const box = new Outbox(ch.put);
  for (let n = 0; n < 200; n++) box.send(n);
  assert.equal(box.length, 200);
  assert.equal(box.retry(), 0);
  const expected: number[] = [];
  for (let round = 0; box.length > 0; round++) {
    ch.room = 7;
    const went = box.retry();
    assert.equal(went, Math.min(7, 200 - expected.length));
    for (let k = 0; k < went; k++) expected.push(expected.length);
    assert.deepEqual(ch.sent, expected, `round ${round}`);
  }
  assert.equal(box.queued, 200);
  // Empty again: the next item goes at once.
  ch.room = 1;
  assert.equal(box.send(200), true);
  assert.equal(box.queued, 200);
});

test('debug log: due at most once every NEWTOS_DEBUG_TCP_MS, never when unset or 0', () => {
  assert.equal(new DebugEvery({}).due(0), false);
  assert.equal(new DebugEvery({ NEWTOS_DEBUG_TCP_MS: '0' }).due(1e9), false);
  assert.equal(new DebugEvery({ NEWTOS_DEBUG_TCP_MS: 'x' }).due(1e9), false);
  const d = new DebugEvery({ NEWTOS_DEBUG_TCP_MS: '100' });
  assert.equal(d.everyMs, 100);
  assert.equal(d.due(5), true);
  assert.equal(d.due(50), false);
  assert.equal(d.due(104), false);
  assert.equal(d.due(105), true);
  assert.equal(d.due(300), true);
});
