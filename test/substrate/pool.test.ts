import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPool, PacketPool, PoolDirectory, poolCensus, reclaimHeldBy } from '../../src/substrate/pool.js';
import { MessageView, MSG_WORDS } from '../../src/substrate/message.js';
import { POOL_FRAME_BUF, POOL_HEADROOM, POOL_SEGMENT_BUF } from '../../src/substrate/layout.js';
import { Supervisor } from '../../src/substrate/supervisor.js';
import { exampleModule } from './examples/chain.js';
import { fileURLToPath } from 'node:url';

const OWNER = 0;
const BORROWER = 1;

function setup(count = 4, bufSize = POOL_FRAME_BUF): { sab: SharedArrayBuffer; pool: PacketPool; dir: PoolDirectory; msg: MessageView } {
  const sab = createPool({ id: 7, bufSize, count });
  const pool = new PacketPool(sab, OWNER, 1);
  const dir = new PoolDirectory(BORROWER);
  dir.add(sab);
  return { sab, pool, dir, msg: new MessageView(new Int32Array(MSG_WORDS)) };
}

test('size classes: a 1500-byte frame and a 64 KiB segment fit after the headroom', () => {
  assert.ok(POOL_FRAME_BUF - POOL_HEADROOM >= 1514);
  assert.ok(POOL_SEGMENT_BUF - POOL_HEADROOM >= 65536);
  const { pool } = setup(2, POOL_SEGMENT_BUF);
  assert.equal(pool.payloadCapacity, POOL_SEGMENT_BUF - POOL_HEADROOM);
});

test('lend, read through the rich pointer, give back, sweep', () => {
  const { sab, pool, dir, msg } = setup();
  const i = pool.alloc();
  assert.ok(i >= 0);
  pool.bytes.set([1, 2, 3], pool.payloadOffset(i));
  pool.lend(msg, i, 3);
  assert.deepEqual(poolCensus(sab), { free: 3, held: 0, inFlight: 1, returned: 0 });
  const bytes = dir.resolve(msg);
  assert.ok(bytes !== null);
  assert.deepEqual([...bytes.subarray(msg.offset, msg.offset + msg.length)], [1, 2, 3]);
  assert.equal(msg.pool, 7);
  assert.ok(dir.giveBack(msg));
  assert.deepEqual(poolCensus(sab), { free: 3, held: 0, inFlight: 0, returned: 1 });
  assert.equal(pool.sweep(), 1);
  assert.equal(pool.available, 4);
});

test('headroom: a layer prepends its header in place, never past the buffer start', () => {
  const { pool, dir, msg } = setup();
  const i = pool.alloc();
  pool.lend(msg, i, 100);
  assert.equal(dir.headroom(msg), POOL_HEADROOM);
  const before = msg.offset;
  assert.ok(dir.prepend(msg, 20));
  assert.equal(msg.offset, before - 20);
  assert.equal(msg.length, 120);
  assert.equal(dir.prepend(msg, POOL_HEADROOM), false);
  assert.equal(msg.offset, before - 20);
});

test('exhaustion is back-pressure: alloc returns -1, counts it, and recovers after a return', () => {
  const { pool, dir, msg } = setup(3);
  const got = [pool.alloc(), pool.alloc(), pool.alloc()];
  assert.deepEqual([...got].sort(), [0, 1, 2]);
  assert.equal(pool.alloc(), -1);
  assert.equal(pool.alloc(), -1);
  assert.equal(pool.exhausted, 2);
  pool.lend(msg, got[1]!, 10);
  dir.giveBack(msg);
  assert.equal(pool.alloc(), got[1]);
});

test('owner restart: borrowers drop old-generation pointers and their late returns are ignored', () => {
  const { sab, pool, dir, msg } = setup();
  pool.lend(msg, pool.alloc(), 8);
  const successor = new PacketPool(sab, OWNER, 2);
  assert.equal(dir.resolve(msg), null);
  assert.equal(dir.staleDrops, 1);
  assert.equal(dir.giveBack(msg), false);
  assert.equal(successor.available, 4);
  assert.deepEqual(poolCensus(sab), { free: 4, held: 0, inFlight: 0, returned: 0 });
});

test('bad pointers are dropped and counted, never thrown', () => {
  const { dir, msg } = setup();
  msg.setPointer(99, 1, 0, 10);
  assert.equal(dir.resolve(msg), null);
  msg.setPointer(7, 1, 1 << 30, 10);
  assert.equal(dir.resolve(msg), null);
  assert.equal(dir.badPointers, 2);
});

test('reclaimHeldBy returns held buffers except those still queued to the dead borrower', () => {
  const { sab, pool, dir, msg } = setup(4);
  const held: number[] = [];
  for (let k = 0; k < 3; k++) { const i = pool.alloc(); pool.lend(msg, i, 1); dir.hold(msg); held.push(i); }
  assert.equal(poolCensus(sab).held, 3);
  assert.equal(reclaimHeldBy(sab, BORROWER, new Set([held[0]!])), 2);
  assert.deepEqual(poolCensus(sab), { free: 1, held: 0, inFlight: 1, returned: 2 });
  assert.equal(reclaimHeldBy(sab, 5, new Set()), 0);
});

test('reclaim after a borrower worker is killed: the supervisor gives its buffers back to the owner', async () => {
  const results = new SharedArrayBuffer(4);
  const sup = await Supervisor.start({
    servers: [
      { name: 'source', module: exampleModule('source'), options: { count: 2000, ratePerMs: 0, pool: 'frames' } },
      { name: 'hoarder', module: fileURLToPath(new URL('./examples/hoarder.js', import.meta.url)), options: { results } },
    ],
    channels: [{ from: 'source.out', to: 'hoarder.in', capacity: 64 }],
    pools: [{ name: 'frames', owner: 'source', size: 'frame', count: 256 }],
    supervisor: { spares: 1 },
  });
  try {
    const r = new Int32Array(results);
    const t0 = Date.now();
    while (Atomics.load(r, 0) < 256 && Date.now() - t0 < 60_000) await new Promise((res) => setTimeout(res, 5));
    assert.equal(Atomics.load(r, 0), 256, 'hoarder holds the whole pool');
    const snap = sup.snapshot().pools[0]!;
    assert.equal(snap.held, 256);
    // The source's counters reach shared memory on its next loop pass: give it time
    // (on a loaded machine it may not have run since the pool ran dry).
    const t1 = Date.now();
    while (sup.snapshot().servers[0]!.poolExhausted === 0 && Date.now() - t1 < 10_000) await new Promise((res) => setTimeout(res, 5));
    assert.ok(sup.snapshot().servers[0]!.poolExhausted > 0, 'source saw exhaustion as back-pressure');
    sup.inject('hoarder', 'crash');
    await sup.whenRunning('hoarder', 2, 60_000);
    // The successor hoards again from the returned buffers: the source could allocate.
    while (Atomics.load(r, 0) < 512 && Date.now() - t0 < 60_000) await new Promise((res) => setTimeout(res, 5));
    assert.equal(Atomics.load(r, 0), 512);
    assert.ok(sup.events.some((e) => e.type === 'reclaim' && e.server === 'hoarder' && (e.detail?.buffers as number) > 0));
  } finally {
    await sup.stop();
  }
});
