import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ArpCore, type ArpOutput } from '../../src/ip/arp-core.js';
import { ArpOperation } from '../../src/wire/arp.js';
import { MAC_BROADCAST } from '../../src/wire/ethernet.js';

const OUR_MAC = 0x02000000000b;
const OUR_IP = 0x0a630002;
const PEER_MAC = 0x02000000000a;
const PEER_IP = 0x0a630001;

function core(cfg = {}): ArpCore<string> {
  return new ArpCore<string>(OUR_MAC, [OUR_IP], cfg, 0);
}
function reply(from = PEER_MAC, ip = PEER_IP) {
  return { operation: ArpOperation.Reply, senderMac: from, senderIp: ip, targetMac: OUR_MAC, targetIp: OUR_IP } as const;
}
function transmits(out: ArpOutput<string>[]) {
  return out.filter((o) => o.type === 'arp-transmit');
}

test('resolution: request broadcast, packets queued, released by the reply', () => {
  const a = core();
  const out: ArpOutput<string>[] = [];
  assert.equal(a.resolve(PEER_IP, 'p1', 0, out), null);
  assert.equal(a.resolve(PEER_IP, 'p2', 10, out), null);
  const t = transmits(out);
  assert.equal(t.length, 1, 'one request, not one per packet');
  assert.deepEqual(t[0], {
    type: 'arp-transmit', dstMac: MAC_BROADCAST,
    repr: { operation: ArpOperation.Request, senderMac: OUR_MAC, senderIp: OUR_IP, targetMac: 0, targetIp: PEER_IP },
  });
  const out2: ArpOutput<string>[] = [];
  a.onArp(reply(), 50, out2);
  assert.deepEqual(out2, [{ type: 'arp-resolved', ip: PEER_IP, mac: PEER_MAC, packets: ['p1', 'p2'] }]);
  assert.equal(a.resolve(PEER_IP, 'p3', 60, []), PEER_MAC);
  assert.equal(a.snapshot()[0]!.state, 'reachable');
});

test('loss: retries every retransmitMs, gives up after maxProbes and drops the queue', () => {
  const a = core({ retransmitMs: 1000, maxProbes: 3 });
  const out: ArpOutput<string>[] = [];
  a.resolve(PEER_IP, 'p1', 0, out);
  assert.equal(a.pollAt(), 1000);
  a.onTimer(999, out);
  assert.equal(transmits(out).length, 1);
  a.onTimer(1000, out);
  a.onTimer(2000, out);
  assert.equal(transmits(out).length, 3);
  a.onTimer(3000, out);
  assert.deepEqual(out.at(-1), { type: 'arp-dropped', ip: PEER_IP, reason: 'unresolved', packets: ['p1'] });
  assert.equal(a.snapshot().length, 0);
  assert.equal(a.counters.failed, 1);
  assert.equal(a.pollAt(), Infinity);
});

test('loss then success: the second request is answered', () => {
  const a = core();
  const out: ArpOutput<string>[] = [];
  a.resolve(PEER_IP, 'p', 0, out);
  a.onTimer(1000, out); // first request lost, second sent
  a.onArp(reply(), 1200, out);
  assert.equal(transmits(out).length, 2);
  assert.deepEqual(out.at(-1), { type: 'arp-resolved', ip: PEER_IP, mac: PEER_MAC, packets: ['p'] });
});

test('queue per address is bounded; the oldest packet is dropped', () => {
  const a = core({ maxQueuePerAddress: 2 });
  const out: ArpOutput<string>[] = [];
  for (const p of ['a', 'b', 'c']) a.resolve(PEER_IP, p, 0, out);
  assert.deepEqual(out.filter((o) => o.type === 'arp-dropped'), [{ type: 'arp-dropped', ip: PEER_IP, reason: 'queue-full', packets: ['a'] }]);
  const o2: ArpOutput<string>[] = [];
  a.onArp(reply(), 1, o2);
  assert.deepEqual(o2[0], { type: 'arp-resolved', ip: PEER_IP, mac: PEER_MAC, packets: ['b', 'c'] });
});

test('reachable → stale after reachableMs; stale use sends a unicast probe; no answer removes it', () => {
  const a = core({ reachableMs: 30_000, retransmitMs: 1000, maxProbes: 2 });
  a.onArp({ ...reply(), operation: ArpOperation.Request }, 0, []);
  assert.equal(a.snapshot()[0]!.state, 'reachable');
  assert.equal(a.pollAt(), 30_000);
  a.onTimer(30_000, []);
  assert.equal(a.snapshot()[0]!.state, 'stale');
  const out: ArpOutput<string>[] = [];
  assert.equal(a.lookup(PEER_IP, 31_000, out), PEER_MAC, 'stale entries stay usable');
  assert.deepEqual(transmits(out).map((t) => t.type === 'arp-transmit' && t.dstMac), [PEER_MAC]);
  a.onTimer(32_000, out);
  a.onTimer(33_000, out);
  assert.equal(a.snapshot().length, 0);
});

test('stale probe answered: back to reachable', () => {
  const a = core({ reachableMs: 100 });
  a.onArp(reply(), 0, []);
  a.onTimer(100, []);
  const out: ArpOutput<string>[] = [];
  a.lookup(PEER_IP, 150, out);
  a.onArp(reply(), 160, out);
  assert.equal(a.snapshot()[0]!.state, 'reachable');
  assert.equal(a.pollAt(), 260);
});

test('unused stale entries are collected after staleGcMs', () => {
  const a = core({ reachableMs: 100, staleGcMs: 1000 });
  a.onArp(reply(), 0, []);
  a.onTimer(100, []);
  a.onTimer(999, []);
  assert.equal(a.snapshot().length, 1);
  a.onTimer(1100, []);
  assert.equal(a.snapshot().length, 0);
});

test('requests for us are answered and the sender learnt; others are not', () => {
  const a = core();
  const out: ArpOutput<string>[] = [];
  a.onArp({ operation: ArpOperation.Request, senderMac: PEER_MAC, senderIp: PEER_IP, targetMac: 0, targetIp: OUR_IP }, 0, out);
  assert.deepEqual(out, [{
    type: 'arp-transmit', dstMac: PEER_MAC,
    repr: { operation: ArpOperation.Reply, senderMac: OUR_MAC, senderIp: OUR_IP, targetMac: PEER_MAC, targetIp: PEER_IP },
  }]);
  assert.equal(a.lookup(PEER_IP, 1, []), PEER_MAC);
  const o2: ArpOutput<string>[] = [];
  a.onArp({ operation: ArpOperation.Request, senderMac: 0x020000000099, senderIp: 0x0a630009, targetMac: 0, targetIp: 0x0a630077 }, 0, o2);
  assert.deepEqual(o2, []);
  assert.equal(a.snapshot().length, 1, 'RFC 826: not for us, not in cache: not learnt');
});

test('gratuitous ARP updates an existing entry only; conflicts and own MAC ignored', () => {
  const a = core();
  a.onArp(reply(), 0, []);
  const NEW_MAC = 0x0200000000aa;
  a.onArp({ operation: ArpOperation.Request, senderMac: NEW_MAC, senderIp: PEER_IP, targetMac: 0, targetIp: PEER_IP }, 5, []);
  assert.equal(a.lookup(PEER_IP, 6, []), NEW_MAC);
  a.onArp({ operation: ArpOperation.Request, senderMac: 0x0200000000bb, senderIp: 0x0a630050, targetMac: 0, targetIp: 0x0a630050 }, 5, []);
  assert.equal(a.snapshot().length, 1);
  a.onArp({ operation: ArpOperation.Reply, senderMac: 0x0200000000cc, senderIp: OUR_IP, targetMac: OUR_MAC, targetIp: OUR_IP }, 5, []);
  assert.equal(a.counters.conflicts, 1);
  a.onArp({ operation: ArpOperation.Reply, senderMac: OUR_MAC, senderIp: 0x0a630051, targetMac: OUR_MAC, targetIp: OUR_IP }, 5, []);
  assert.equal(a.counters.ignored, 1);
});

test('RFC 5227 probe (sender 0.0.0.0) is answered but not learnt', () => {
  const a = core();
  const out: ArpOutput<string>[] = [];
  a.onArp({ operation: ArpOperation.Request, senderMac: PEER_MAC, senderIp: 0, targetMac: 0, targetIp: OUR_IP }, 0, out);
  assert.equal(transmits(out).length, 1);
  assert.equal(a.snapshot().length, 0);
});

test('announce emits a gratuitous request per address', () => {
  const a = new ArpCore<string>(OUR_MAC, [OUR_IP, OUR_IP + 1]);
  const out: ArpOutput<string>[] = [];
  a.announce(out);
  assert.deepEqual(out.map((o) => o.type === 'arp-transmit' && [o.dstMac, o.repr.senderIp, o.repr.targetIp]),
    [[MAC_BROADCAST, OUR_IP, OUR_IP], [MAC_BROADCAST, OUR_IP + 1, OUR_IP + 1]]);
});

test('global rate limit: scanning 100 addresses sends at most the burst at once', () => {
  const a = core({ requestBurst: 5, requestsPerSecond: 10, maxProbes: 1 });
  const out: ArpOutput<string>[] = [];
  for (let i = 0; i < 100; i++) a.resolve(0x0a630100 + i, `p${i}`, 0, out);
  assert.equal(transmits(out).length, 5);
  assert.equal(a.counters.requestsRateLimited, 95);
  // After 1 s the bucket has refilled by 10 (capped at 5 burst).
  const o2: ArpOutput<string>[] = [];
  a.resolve(0x0a630200, 'late', 1000, o2);
  assert.equal(transmits(o2).length, 1);
});

test('cache bound: full of incomplete entries refuses new ones; stale ones are evicted first', () => {
  const a = core({ maxEntries: 2 });
  const out: ArpOutput<string>[] = [];
  a.resolve(1, 'a', 0, out);
  a.resolve(2, 'b', 0, out);
  a.resolve(3, 'c', 0, out);
  assert.deepEqual(out.at(-1), { type: 'arp-dropped', ip: 3, reason: 'cache-full', packets: ['c'] });
  const b = core({ maxEntries: 2 });
  b.onArp(reply(PEER_MAC, PEER_IP), 0, []);
  b.resolve(5, 'x', 1, []);
  b.resolve(6, 'y', 2, []);
  assert.deepEqual(b.snapshot().map((e) => e.ip).sort(), [5, 6]);
});

test('requests carry the sender address the caller chose (our address on the target subnet)', () => {
  const a = new ArpCore<string>(OUR_MAC, [OUR_IP, 0xc0a80001]);
  const out: ArpOutput<string>[] = [];
  a.resolve(0xc0a80002, 'p', 0, out, 0xc0a80001);
  a.onTimer(1000, out);
  assert.deepEqual(transmits(out).map((t) => t.type === 'arp-transmit' && t.repr.senderIp), [0xc0a80001, 0xc0a80001]);
});

test('forgetLearned: learnt neighbours are asked again, entries still resolving keep their packets', () => {
  const a = core();
  const other = PEER_IP + 1;
  a.onArp(reply(), 0, []);
  const out: ArpOutput<string>[] = [];
  assert.equal(a.resolve(other, 'q1', 0, out), null);
  a.forgetLearned();
  assert.deepEqual(a.snapshot().map((e) => [e.ip, e.state, e.queued]), [[other, 'incomplete', 1]]);
  // The old MAC is not used: a new request goes out and the packet waits for the reply.
  const out2: ArpOutput<string>[] = [];
  assert.equal(a.resolve(PEER_IP, 'p1', 10, out2), null);
  assert.equal(transmits(out2).length, 1);
  const out3: ArpOutput<string>[] = [];
  a.onArp(reply(PEER_MAC + 5), 20, out3);
  assert.deepEqual(out3, [{ type: 'arp-resolved', ip: PEER_IP, mac: PEER_MAC + 5, packets: ['p1'] }]);
});
