import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_CONNECTION_OPTIONS } from '../../src/tcp/config.js';
import { ConnectionTable } from '../../src/tcp/demux.js';
import { TcpState } from '../../src/tcp/state.js';
import { Tcb } from '../../src/tcp/tcb.js';
import { TimerHeap } from '../../src/tcp/timer-heap.js';

// The engine's connection lookup (demux.ts) and timer heap (timer-heap.ts), on their own.

const RTT = { minRtoMs: 200, maxRtoMs: 120_000, initialRtoMs: 1000 };

function tcb(table: ConnectionTable, lp: number, ra: number, rp: number, la = 1): Tcb {
  const t = new Tcb(table.nextId(), { ...DEFAULT_CONNECTION_OPTIONS, sendBufferSize: 1024, recvBufferSize: 1024 }, RTT, 4, la, lp, ra, rp);
  table.add(t);
  return t;
}

test('demux: connections that differ only in the local side share a bucket and are each found', () => {
  const changes: number[] = [];
  const table = new ConnectionTable((_t, d) => changes.push(d));
  const a = tcb(table, 80, 7, 5000);
  const b = tcb(table, 81, 7, 5000);
  const c = tcb(table, 80, 7, 5000, 2);
  for (const t of [a, b, c]) table.insert(t);
  assert.equal(table.lookup(1, 80, 7, 5000), a);
  assert.equal(table.lookup(1, 81, 7, 5000), b);
  assert.equal(table.lookup(2, 80, 7, 5000), c);
  assert.equal(table.lookup(1, 80, 7, 5001), undefined);
  table.remove(b); // the middle of the chain
  assert.equal(table.lookup(1, 81, 7, 5000), undefined);
  assert.equal(table.lookup(1, 80, 7, 5000), a);
  assert.equal(table.lookup(2, 80, 7, 5000), c);
  table.remove(b); // twice: nothing
  assert.deepEqual(changes, [1, 1, 1, -1]);
});

test('demux: ids are reused after free, and a freed connection is no longer the id\'s', () => {
  const table = new ConnectionTable();
  const a = tcb(table, 80, 7, 5000);
  const b = tcb(table, 81, 7, 5000);
  assert.deepEqual([a.id, b.id], [0, 1]);
  assert.ok(table.free(a));
  assert.ok(!table.free(a));
  assert.ok(!table.has(a));
  assert.equal(table.count(), 1);
  const c = tcb(table, 82, 7, 5000);
  assert.equal(c.id, 0);
  assert.equal(table.get(0), c);
  assert.throws(() => table.add(new Tcb(5, { ...DEFAULT_CONNECTION_OPTIONS }, RTT, 4, 1, 1, 1, 1)));
});

test('timer heap: fires in deadline order, settles entries of stopped or moved timers, and reschedules', () => {
  const table = new ConnectionTable();
  const conn = (id: number): Tcb | undefined => table.get(id);
  const heap = new TimerHeap();
  const a = tcb(table, 80, 7, 5000);
  const b = tcb(table, 81, 7, 5000);
  const c = tcb(table, 82, 7, 5000);
  a.state = b.state = c.state = TcpState.Established;
  a.rtoAt = 300; heap.schedule(a);
  b.delackAt = 100; heap.schedule(b);
  c.keepaliveAt = 200; heap.schedule(c);
  assert.equal(heap.next(conn), 100);
  b.delackAt = Infinity; // stopped: its entry is stale
  assert.equal(heap.next(conn), 200);
  c.keepaliveAt = 250; // moved later: settled and pushed again
  assert.equal(heap.next(conn), 250);
  const fired: number[] = [];
  heap.expire(260, conn, (t) => { fired.push(t.id); t.keepaliveAt = 1000; });
  assert.deepEqual(fired, [c.id]);
  assert.equal(heap.next(conn), 300);
  heap.expire(2000, conn, (t) => {
    fired.push(t.id);
    if (t === a) t.rtoAt = Infinity; else t.keepaliveAt = Infinity;
  });
  assert.deepEqual(fired, [c.id, a.id, c.id]);
  assert.equal(heap.next(conn), Infinity);
  assert.equal(heap.size, 0);
});
