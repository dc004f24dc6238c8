import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PASSIVE, PASSIVE_SACK, runScript } from './harness.js';

// ESTABLISHED: receiving (delayed ACKs, out-of-order, SACK blocks, windows) and
// sending (initial window, Nagle, PSH), RFC 9293 §3.8.6, RFC 5681 §4.2, RFC 2018.

test('delayed ACK: one segment is acknowledged after 40 ms', () => {
  runScript(PASSIVE + `
    +0   < P. 1:501(500) ack 1 win 65535
    +0   event readable
    +40  > . 1:1(0) ack 501
    +0   read 500
  `);
});

test('delayed ACK: every second segment is acknowledged at once', () => {
  runScript(PASSIVE + `
    +0   < . 1:1001(1000) ack 1 win 65535
    +0   < . 1001:2001(1000) ack 1 win 65535
    +0   > . 1:1(0) ack 2001
    +0   < . 2001:3001(1000) ack 1 win 65535
    +40  > . 1:1(0) ack 3001
  `);
});

test('out-of-order segment: immediate duplicate ACK, immediate ACK when the hole fills', () => {
  runScript(PASSIVE + `
    +0   < . 1001:2001(1000) ack 1 win 65535
    +0   > . 1:1(0) ack 1
    +0   < . 2001:3001(1000) ack 1 win 65535
    +0   > . 1:1(0) ack 1
    +5   < . 1:1001(1000) ack 1 win 65535
    +0   > . 1:1(0) ack 3001
    +0   read 3000
  `);
});

test('SACK blocks: most recent first (RFC 2018 §4), gone once the hole fills', () => {
  runScript(PASSIVE_SACK + `
    +0   < . 1001:2001(1000) ack 1 win 65535
    +0   > . 1:1(0) ack 1 <sack 1001:2001>
    +0   < . 3001:4001(1000) ack 1 win 65535
    +0   > . 1:1(0) ack 1 <sack 3001:4001 1001:2001>
    +0   < . 2001:3001(1000) ack 1 win 65535
    +0   > . 1:1(0) ack 1 <sack 1001:4001>
    +0   < . 1:1001(1000) ack 1 win 65535
    +0   > . 1:1(0) ack 4001 <>
  `);
});

test('old duplicate segment: ACK, data delivered once', () => {
  runScript(PASSIVE + `
    +0   < . 1:1001(1000) ack 1 win 65535
    +0   < . 1:1001(1000) ack 1 win 65535
    +0   > . 1:1(0) ack 1001
    +0   read 1000
  `);
});

test('sending: initial window of 10 segments, PSH on the last, ACK clocking', () => {
  runScript(PASSIVE + `
    +0   send 12000
    +0   > . 1:1001(1000) ack 1
    +0   > . 1001:2001(1000) ack 1
    +0   > . 2001:3001(1000) ack 1
    +0   > . 3001:4001(1000) ack 1
    +0   > . 4001:5001(1000) ack 1
    +0   > . 5001:6001(1000) ack 1
    +0   > . 6001:7001(1000) ack 1
    +0   > . 7001:8001(1000) ack 1
    +0   > . 8001:9001(1000) ack 1
    +0   > . 9001:10001(1000) ack 1
    +10  < . 1:1(0) ack 2001 win 65535
    +0   > . 10001:11001(1000) ack 1
    +0   > P. 11001:12001(1000) ack 1
    +0   info cwnd 12000
  `);
});

test('Nagle: a second small write waits for the ACK of the first', () => {
  runScript(PASSIVE + `
    +0   send 100
    +0   > P. 1:101(100) ack 1
    +0   send 100
    +10  < . 1:1(0) ack 101 win 65535
    +0   > P. 101:201(100) ack 1
  `);
});

test('no-delay: small writes go at once', () => {
  runScript(PASSIVE + `
    +0   nodelay
    +0   send 100
    +0   > P. 1:101(100) ack 1
    +0   send 100
    +0   > P. 101:201(100) ack 1
  `);
});

test('send window: never more than the peer offers; the rest follows the window update', () => {
  runScript(`
    0    listen
    0    < S 0:0(0) win 65535 <mss 1000>
    0    > S. 0:0(0) ack 1 <mss 1460>
    +10  < . 1:1(0) ack 1 win 2500
    +0   accept
    +0   send 4000
    +0   > . 1:1001(1000) ack 1
    +0   > . 1001:2001(1000) ack 1
    +10  < . 1:1(0) ack 2001 win 4000
    +0   > . 2001:3001(1000) ack 1
    +0   > P. 3001:4001(1000) ack 1
  `);
});

test('receive window: advertised from free buffer space, window update when the reader drains it', () => {
  runScript(`
    0    listen
    0    < S 0:0(0) win 65535 <mss 1000>
    0    > S. 0:0(0) ack 1 win 4000 <mss 1460>
    +10  < . 1:1(0) ack 1 win 65535
    +0   accept
    +0   < . 1:1001(1000) ack 1 win 65535
    +0   < . 1001:2001(1000) ack 1 win 65535
    +0   > . 1:1(0) ack 2001 win 2000
    +0   < . 2001:3001(1000) ack 1 win 65535
    +0   < . 3001:4001(1000) ack 1 win 65535
    +0   > . 1:1(0) ack 4001 win 0
    +0   < . 4001:5001(1000) ack 1 win 65535
    +0   > . 1:1(0) ack 4001 win 0
    +10  read 4000
    +0   > . 1:1(0) ack 4001 win 4000
  `, { defaults: { recvBufferSize: 4000 } });
});

test('receiver SWS avoidance: reading a little does not open a tiny window', () => {
  runScript(`
    0    listen
    0    < S 0:0(0) win 65535 <mss 1000>
    0    > S. 0:0(0) ack 1 win 4000 <mss 1460>
    +10  < . 1:1(0) ack 1 win 65535
    +0   accept
    +0   < . 1:2001(2000) ack 1 win 65535
    +0   < . 2001:4001(2000) ack 1 win 65535
    +0   > . 1:1(0) ack 4001 win 0
    +10  read 100
    +0   < . 4001:4001(0) ack 1 win 65535
    +40  read 1900
    +0   > . 1:1(0) ack 4001 win 2000
  `, { defaults: { recvBufferSize: 4000 } });
});

test('out-of-order memory bound: a segment that would open one hole too many is dropped', () => {
  const h = runScript(PASSIVE_SACK + `
    +0   < . 1001:1101(100) ack 1 win 65535
    +0   > . 1:1(0) ack 1 <sack 1001:1101>
    +0   < . 2001:2101(100) ack 1 win 65535
    +0   > . 1:1(0) ack 1 <sack 2001:2101 1001:1101>
    +0   < . 3001:3101(100) ack 1 win 65535
    +0   > . 1:1(0) ack 1 <sack 2001:2101 1001:1101>
  `, { maxOooRanges: 2 });
  assert.equal(h.engine.counters.dropOooLimit, 1);
});

test('data queued in SYN-SENT goes out with the handshake ACK', () => {
  runScript(`
    0    connect
    0    > S 0:0(0)
    +0   send 100
    +10  < S. 0:0(0) ack 1 win 65535 <mss 1000>
    +0   > P. 1:101(100) ack 1
    +0   event connected
  `);
});

test('send after shutdown: EPIPE', () => {
  const h = runScript(PASSIVE + `
    +0   shutdown
    +0   > F. 1:1(0) ack 1
  `);
  assert.throws(() => h.engine.send(h.conn, new Uint8Array(1), h.now), { code: 'EPIPE' });
});

test('window scaling: a 1 MiB buffer advertises with shift 5, windows scaled both ways', () => {
  runScript(`
    0    listen
    0    < S 0:0(0) win 65535 <mss 1460,nop,wscale 2>
    0    > S. 0:0(0) ack 1 win 65535 <mss 1460,nop,wscale 5>
    +10  < . 1:1(0) ack 1 win 1000
    +0   accept
    +0   info sndWnd 4000
    +0   < . 1:1001(1000) ack 1 win 1000
    +0   < . 1001:2001(1000) ack 1 win 1000
    +0   > . 1:1(0) ack 2001 win 32705
  `, { defaults: { recvBufferSize: 1 << 20 } });
});
