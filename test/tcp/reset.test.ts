import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PASSIVE, runScript } from './harness.js';

// RST generation and acceptance (RFC 9293 §3.5.2, §3.10.7), RFC 5961 blind
// in-window attack mitigations with rate-limited challenge ACKs.

test('segment for no connection: RST (ACK off → <SEQ=0><ACK=SEG.SEQ+SEG.LEN><RST,ACK>)', () => {
  runScript(`
    0    < S 0:0(0) win 65535
    0    > R. 0:0(0) ack 1
    +0   < P. 1:101(100) ack 77 win 65535
    +0   > R 77:77(0)
    +0   < R 1:1(0) win 0
  `);
});

test('RST with SEQ = RCV.NXT: ECONNRESET', () => {
  runScript(PASSIVE + `
    +0   < R 1:1(0) win 0
    +0   event error ECONNRESET
    +0   state CLOSED
  `);
});

test('RST in window but not exact: challenge ACK, connection kept (RFC 5961 §3.2)', () => {
  runScript(PASSIVE + `
    +0   < R 100:100(0) win 0
    +0   > . 1:1(0) ack 1
    +0   state ESTABLISHED
    +0   noevent error
  `);
});

test('RST outside the window: dropped silently', () => {
  runScript(PASSIVE + `
    +0   < R 900000:900000(0) win 0
    +0   state ESTABLISHED
  `);
});

test('SYN in ESTABLISHED: challenge ACK (RFC 5961 §4.2)', () => {
  runScript(PASSIVE + `
    +0   < S 500:500(0) win 65535
    +0   > . 1:1(0) ack 1
    +0   state ESTABLISHED
  `);
});

test('challenge ACKs are rate limited engine-wide (RFC 5961 §7)', () => {
  runScript(PASSIVE + `
    +0   < R 100:100(0) win 0
    +0   > . 1:1(0) ack 1
    +0   < R 200:200(0) win 0
    +0   > . 1:1(0) ack 1
    +0   < R 300:300(0) win 0
    +0   < R 400:400(0) win 0
    +1000 < R 500:500(0) win 0
    +0   > . 1:1(0) ack 1
  `, { challengeAckLimit: 2 });
});

test('out-of-window data: ACK, not accepted', () => {
  runScript(PASSIVE + `
    +0   < . 900000:901000(1000) ack 1 win 65535
    +0   > . 1:1(0) ack 1
    +0   info recvQueued 0
  `);
});

test('out-of-window pure ACKs get at most one ACK per 500 ms (as Linux tcp_invalid_ratelimit); data always one', () => {
  const h = runScript(PASSIVE + `
    +0   < . 900000:900000(0) ack 1 win 65535
    +0   > . 1:1(0) ack 1
    +100 < . 900000:900000(0) ack 1 win 65535
    +100 < . 900000:900000(0) ack 1 win 65535
    +0   < . 900000:901000(1000) ack 1 win 65535
    +0   > . 1:1(0) ack 1
    +300 < . 0:0(0) ack 1 win 65535
    +0   > . 1:1(0) ack 1
  `);
  // The last one is a keepalive probe (SEG.SEQ = RCV.NXT - 1): answered once the interval passed.
  assert.equal(h.engine.counters.dropOutOfWindow, 5);
  assert.equal(h.engine.counters.outOfWindowAcksNotAnswered, 2);
});

test('PAWS: a segment with an old timestamp is dropped with an ACK (RFC 7323 §5.3)', () => {
  runScript(`
    0    listen
    0    < S 0:0(0) win 65535 <mss 1000,TS val 1000 ecr 0>
    0    > S. 0:0(0) ack 1 <mss 1460,TS val * ecr 1000>
    +10  < . 1:1(0) ack 1 win 65535 <TS val 1010 ecr *>
    +0   accept
    +0   < . 1:101(100) ack 1 win 65535 <TS val 1020 ecr *>
    +0   < . 101:201(100) ack 1 win 65535 <TS val 900 ecr *>
    +0   > . 1:1(0) ack 101 <TS val * ecr 1020>
    +0   info recvQueued 100
  `);
});

test('RST in SYN-SENT without an acceptable ACK is ignored', () => {
  runScript(`
    0    connect
    0    > S 0:0(0)
    +1   < R 0:0(0) win 0
    +0   state SYN-SENT
  `);
});

test('RST in TIME-WAIT closes at once', () => {
  runScript(PASSIVE + `
    +0   shutdown
    +0   > F. 1:1(0) ack 1
    +5   < F. 1:1(0) ack 2 win 65535
    +0   > . 2:2(0) ack 2
    +0   close
    +10  < R 2:2(0) win 0
    +0   state GONE
  `, { msl: 1000 });
});
