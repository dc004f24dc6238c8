import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PASSIVE, runScript } from './harness.js';

// Keepalive (RFC 9293 §3.8.4), path MTU (RFC 1191 via ICMP), timer heap behaviour.

test('keepalive: probes after the idle time, answered probes keep the connection', () => {
  runScript(PASSIVE + `
    +0    keepalive 1000
    +1000 > . 0:0(0) ack 1
    +10   < . 1:1(0) ack 1 win 65535
    +1000 > . 0:0(0) ack 1
    +0    state ESTABLISHED
  `);
});

test('keepalive: unanswered probes every interval, then ETIMEDOUT', () => {
  runScript(PASSIVE + `
    +0    keepalive 1000
    +1000 > . 0:0(0) ack 1
    +100  > . 0:0(0) ack 1
    +100  > . 0:0(0) ack 1
    +100  event error ETIMEDOUT
  `, { defaults: { keepAliveInterval: 100, keepAliveCount: 3 } });
});

test('ICMP fragmentation needed: MSS shrinks and the flight is resent in smaller segments', () => {
  runScript(PASSIVE + `
    +0   send 2000
    +0   > . 1:1001(1000) ack 1
    +0   > P. 1001:2001(1000) ack 1
    +5   icmp frag-needed 576
    +0   > . 1:537(536) ack 1
    +0   > . 537:1073(536) ack 1
    +0   > . 1073:1609(536) ack 1
    +0   > P. 1609:2001(392) ack 1
    +0   info sndMss 536
  `);
});

test('ICMP fragmentation needed with an MTU that fits SND.MSS changes nothing and is counted', () => {
  const h = runScript(PASSIVE + `
    +0   send 1000
    +0   > P. 1:1001(1000) ack 1
    +5   icmp frag-needed 1040
    +0   info sndMss 1000
  `);
  assert.equal(h.engine.counters.pmtuIgnored, 1);
  assert.equal(h.engine.counters.pmtuUpdates, 0);
});

test('ICMP host unreachable on an established connection is a soft error: ignored', () => {
  runScript(PASSIVE + `
    +0   icmp host-unreachable
    +0   state ESTABLISHED
    +0   noevent error
  `);
});

test('pollAt: Infinity when idle, the earliest deadline otherwise', () => {
  const h = runScript(PASSIVE);
  assert.equal(h.engine.pollAt(), Infinity);
  h.run(`
    +0   < . 1:101(100) ack 1 win 65535
  `);
  const at = h.engine.pollAt();
  assert.ok(at <= h.now + 40 && at > h.now, `delayed ACK deadline ${at}`);
});
