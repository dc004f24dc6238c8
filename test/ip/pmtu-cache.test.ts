import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PmtuCache } from '../../src/ip/pmtu-cache.js';

const D = 0x0a000002;

test('pmtu cache: only lowers, expires after 10 minutes by default, counted', () => {
  const c = new PmtuCache();
  assert.equal(c.learn(D, 1280, 1500, 0)?.mtu, 1280);
  assert.equal(c.learn(D, 1400, 1500, 10), null, 'a larger report is ignored');
  assert.equal(c.learn(D, 1500, 1500, 10), null);
  assert.equal(c.lookup(D, 599_999)?.mtu, 1280);
  assert.equal(c.pollAt(), 600_000);
  assert.deepEqual(c.counters, { entries: 1, learned: 1, ignored: 2, expired: 0 });
  c.expire(600_000);
  assert.equal(c.lookup(D, 600_000), undefined);
  assert.deepEqual(c.counters, { entries: 0, learned: 1, ignored: 2, expired: 1 });
  assert.equal(c.pollAt(), Infinity);
});

test('pmtu cache: a lower report refreshes the entry; the expiry is configurable', () => {
  const c = new PmtuCache({ expiresMs: 1000 });
  c.learn(D, 1400, 1500, 0);
  c.learn(D, 1280, 1500, 800);
  assert.equal(c.lookup(D, 1500)?.mtu, 1280, 'lowered at 800 ms, lives until 1800');
  assert.equal(c.lookup(D, 1800), undefined, 'expired on lookup');
  assert.equal(c.counters.expired, 1);
});

test('pmtu cache: reports below the floor (552) lock the entry at the floor; nonsense is ignored', () => {
  const c = new PmtuCache();
  assert.equal(c.learn(D, 60, 1500, 0), null, 'below 68: no IPv4 link is that small');
  const e = c.learn(D, 300, 1500, 0);
  assert.deepEqual({ mtu: e?.mtu, locked: e?.locked }, { mtu: 552, locked: true });
  assert.equal(c.learn(D, 200, 1500, 1), null, 'already at the floor');
  assert.equal(c.learn(0x0a000003, 300, 552, 0), null, 'an interface MTU at the floor is not lowered');
});

test('pmtu cache: bounded; the entry nearest expiry makes room', () => {
  const c = new PmtuCache({ maxEntries: 3 });
  for (let i = 0; i < 5; i++) c.learn(D + i, 1000, 1500, i);
  assert.deepEqual(c.snapshot().map((e) => e.dst - D), [2, 3, 4]);
  assert.equal(c.counters.entries, 3);
});
