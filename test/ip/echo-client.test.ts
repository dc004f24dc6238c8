import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EchoClient } from '../../src/ip/echo-client.js';
import { ECHO_MAX_DATA, EchoStatus } from '../../src/abi/echo.js';
import { parseIcmp } from '../../src/wire/icmp.js';

const DST = 0x0a000002;
const HEADROOM = 38;

function sent(c: EchoClient, id: number, size = 56, now = 0, dst = DST): { seq: number; data: Uint8Array; token: number } {
  const r = c.request(id, dst, size, now, 1000, HEADROOM);
  assert.ok(r.ok);
  // The message sits after `headroom` free bytes and is a valid echo request (checksum included).
  assert.equal(r.message.byteOffset, HEADROOM);
  const m = parseIcmp(r.message);
  assert.ok(m.ok && m.value.kind === 'echo-request');
  assert.equal(m.value.ident, c.ident);
  return { seq: m.value.seq, data: m.value.data.slice(), token: r.token };
}

test('echo client: a reply with the same data from the destination matches, with its RTT', () => {
  const c = new EchoClient(0x1234);
  const { seq, data } = sent(c, 7, 56, 100);
  assert.deepEqual([...data.subarray(0, 4)], [8, 9, 10, 11]);
  const r = c.onReply(DST, 0x1234, seq, data, 63, 100.25);
  assert.deepEqual(r, { id: 7, status: EchoStatus.Reply, rttMs: 0.25, ttl: 63, bytes: 56, from: DST, icmp: 0, error: null });
  assert.equal(c.pending, 0);
  // A duplicate of the same reply matches nothing any more.
  assert.equal(c.onReply(DST, 0x1234, seq, data, 63, 101), null);
  assert.equal(c.counters.unmatchedReplies, 1);
});

const notOurs: [string, (seq: number, data: Uint8Array) => [number, number, number, Uint8Array]][] = [
  ['another identifier', (seq, data) => [DST, 0x4321, seq, data]],
  ['another sequence number', (seq, data) => [DST, 0x1234, (seq + 1) & 0xffff, data]],
  ['another source address', (seq, data) => [DST + 1, 0x1234, seq, data]],
];
for (const [name, mutate] of notOurs) {
  test(`echo client: a reply with ${name} is not ours`, () => {
    const c = new EchoClient(0x1234);
    const { seq, data } = sent(c, 1);
    const [src, ident, s, d] = mutate(seq, data);
    assert.equal(c.onReply(src, ident, s, d, 64, 1), null);
    assert.equal(c.pending, 1);
  });
}

const badData: [string, (d: Uint8Array) => Uint8Array][] = [
  ['a changed byte', (d) => { const x = d.slice(); x[10] ^= 1; return x; }],
  ['a shorter data', (d) => d.subarray(0, 10)],
  ['a longer data', (d) => Uint8Array.from([...d, 0])],
];
for (const [name, mutate] of badData) {
  test(`echo client: a reply with ${name} ends the request as ReplyBadData`, () => {
    const c = new EchoClient(1);
    const { seq, data } = sent(c, 5);
    assert.equal(c.onReply(DST, 1, seq, mutate(data), 64, 1)?.status, EchoStatus.ReplyBadData);
    assert.equal(c.counters.badData, 1);
  });
}

test('echo client: an ICMP error quoting our request ends it with type and code', () => {
  const c = new EchoClient(0xbeef);
  const r = c.request(9, DST, 16, 0, 1000, HEADROOM);
  assert.ok(r.ok);
  const quoted = r.message.subarray(0, 8); // what a router quotes after the IP header
  assert.equal(c.onIcmpError(0x0a000001, DST + 1, 3, 1, quoted), null, 'quote about another destination');
  assert.equal(c.onIcmpError(0x0a000001, DST, 3, 1, quoted.subarray(0, 7)), null, 'quote too short');
  assert.deepEqual(c.onIcmpError(0x0a000001, DST, 11, 0, quoted),
    { id: 9, status: EchoStatus.IcmpError, rttMs: 0, ttl: 0, bytes: 0, from: 0x0a000001, icmp: (11 << 8) | 0, error: null });
  assert.equal(c.pending, 0);
});

test('echo client: send failures come back by token; tokens never collide with pool keys (>= -1)', () => {
  const c = new EchoClient(1);
  const { token } = sent(c, 3);
  assert.ok(token <= -2);
  assert.equal(EchoClient.isEchoToken(-1), false);
  assert.equal(EchoClient.isEchoToken(0), false);
  assert.equal(c.onSendError(-1, 'EHOSTUNREACH'), null);
  assert.deepEqual(c.onSendError(token, 'EHOSTUNREACH'),
    { id: 3, status: EchoStatus.SendFailed, rttMs: 0, ttl: 0, bytes: 0, from: 0, icmp: 0, error: 'EHOSTUNREACH' });
});

test('echo client: refuses oversized data (EMSGSIZE) and too many outstanding requests (ENOBUFS)', () => {
  const c = new EchoClient(1, 2);
  const big = c.request(1, DST, ECHO_MAX_DATA + 1, 0, 1000, HEADROOM);
  assert.ok(!big.ok && big.result.error === 'EMSGSIZE');
  sent(c, 2, ECHO_MAX_DATA);
  sent(c, 3, 0);
  const full = c.request(4, DST, 0, 0, 1000, HEADROOM);
  assert.ok(!full.ok && full.result.error === 'ENOBUFS' && full.result.id === 4);
});

test('echo client: expiry forgets requests at their deadline; pollAt names the earliest', () => {
  const c = new EchoClient(1);
  c.request(1, DST, 0, 0, 100, HEADROOM);
  c.request(2, DST, 0, 50, 100, HEADROOM);
  assert.equal(c.pollAt(), 100);
  assert.equal(c.expire(99), 0);
  assert.equal(c.expire(100), 1);
  assert.equal(c.pollAt(), 150);
  assert.equal(c.expire(150), 1);
  assert.equal(c.pollAt(), Infinity);
  assert.equal(c.counters.expired, 2);
});

test('echo client: sequence numbers skip those still outstanding after wrapping', () => {
  const c = new EchoClient(1, 0x20000);
  const first = sent(c, 0).seq;
  for (let i = 1; i < 0x10000; i++) {
    // Answer all but the first, so only it stays outstanding.
    const { seq, data } = sent(c, i);
    assert.ok(c.onReply(DST, 1, seq, data, 64, 1) !== null);
  }
  const next = sent(c, 0x10000).seq;
  assert.notEqual(next, first);
  assert.equal(c.pending, 2);
});
