import { test } from 'node:test';
import { PASSIVE, PASSIVE_SACK, SEND_FIVE, runScript } from './harness.js';

// Loss recovery: RFC 6298 timer and back-off, RFC 5681 fast retransmit, RFC 6582
// NewReno partial ACKs, RFC 6675 SACK recovery, RFC 3042 limited transmit.
// After the handshake (RTT 10 ms) the RTO is 200 ms (Linux's minimum).

const FIVE = SEND_FIVE;

test('RTO: retransmission after 200 ms, back-off 400, 800 ms; ACK ends it', () => {
  runScript(PASSIVE + `
    +0   send 1000
    +0   > P. 1:1001(1000) ack 1
    +200 > P. 1:1001(1000) ack 1
    +400 > P. 1:1001(1000) ack 1
    +800 > P. 1:1001(1000) ack 1
    +10  < . 1:1(0) ack 1001 win 65535
    +0   info bytesInFlight 0
    +5000 info state ESTABLISHED
  `);
});

test('RTO: go-back-N from SND.UNA with a one-segment window, then slow start', () => {
  runScript(PASSIVE + FIVE + `
    +200 > . 1:1001(1000) ack 1
    +0   info cwnd 1000
    +10  < . 1:1(0) ack 1001 win 65535
    +0   > . 1001:2001(1000) ack 1
    +0   > . 2001:3001(1000) ack 1
    +10  < . 1:1(0) ack 3001 win 65535
    +0   > . 3001:4001(1000) ack 1
    +0   > P. 4001:5001(1000) ack 1
    +10  < . 1:1(0) ack 5001 win 65535
  `);
});

test('retransmission give-up: ETIMEDOUT after dataRetries', () => {
  runScript(PASSIVE + `
    +0   send 1000
    +0   > P. 1:1001(1000) ack 1
    +200 > P. 1:1001(1000) ack 1
    +400 > P. 1:1001(1000) ack 1
    +800 event error ETIMEDOUT
    +0   state CLOSED
  `, { dataRetries: 2 });
});

test('user timeout: ETIMEDOUT once data stays unacknowledged that long', () => {
  runScript(PASSIVE + `
    +0   send 1000
    +0   > P. 1:1001(1000) ack 1
    +200 > P. 1:1001(1000) ack 1
    +400 event error ETIMEDOUT
  `, { defaults: { userTimeout: 500 } });
});

test('fast retransmit on the third duplicate ACK (NewReno), full ACK ends recovery', () => {
  runScript(PASSIVE + FIVE + `
    +10  < . 1:1(0) ack 1 win 65535
    +0   < . 1:1(0) ack 1 win 65535
    +0   < . 1:1(0) ack 1 win 65535
    +0   > . 1:1001(1000) ack 1
    +0   info ssthresh 3500   // CUBIC: beta 0.7 (RFC 9438 §4.6)
    +10  < . 1:1(0) ack 5001 win 65535
    +0   info bytesInFlight 0
  `);
});

test('NewReno partial ACK retransmits the next hole at once (RFC 6582 §3.2 step 5)', () => {
  runScript(PASSIVE + FIVE + `
    +10  < . 1:1(0) ack 1 win 65535
    +0   < . 1:1(0) ack 1 win 65535
    +0   < . 1:1(0) ack 1 win 65535
    +0   > . 1:1001(1000) ack 1
    +10  < . 1:1(0) ack 2001 win 65535
    +0   > . 2001:3001(1000) ack 1
    +10  < . 1:1(0) ack 5001 win 65535
  `);
});

test('limited transmit: the first two duplicate ACKs each send one new segment (RFC 3042)', () => {
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
    +10  < . 1:1(0) ack 1 win 65535
    +0   > . 10001:11001(1000) ack 1
    +0   < . 1:1(0) ack 1 win 65535
    +0   > P. 11001:12001(1000) ack 1
    +0   < . 1:1(0) ack 1 win 65535
    +0   > . 1:1001(1000) ack 1
  `);
});

test('SACK recovery: holes retransmitted by NextSeg, SACKed data never resent', () => {
  runScript(PASSIVE_SACK + FIVE + `
    +10  < . 1:1(0) ack 1 win 65535 <sack 1001:2001>
    +0   < . 1:1(0) ack 1 win 65535 <sack 3001:4001 1001:2001>
    +0   < . 1:1(0) ack 1 win 65535 <sack 3001:5001 1001:2001>
    +0   > . 1:1001(1000) ack 1
    +0   > . 2001:3001(1000) ack 1
    +10  < . 1:1(0) ack 5001 win 65535
    +0   info bytesInFlight 0
  `);
});

test('SACK: IsLost triggers recovery before three duplicate ACKs when enough is SACKed', () => {
  runScript(PASSIVE_SACK + FIVE + `
    +10  < . 1:1(0) ack 1 win 65535 <sack 1001:3001>
    +0   < . 1:1(0) ack 1 win 65535 <sack 1001:5001>
    +0   > . 1:1001(1000) ack 1
    +10  < . 1:1(0) ack 5001 win 65535
  `);
});

test('RTO after SACK: go-back-N skips SACKed ranges', () => {
  runScript(PASSIVE_SACK + FIVE + `
    +10  < . 1:1(0) ack 1 win 65535 <sack 2001:3001>
    +0   < . 1:1(0) ack 1 win 65535 <sack 4001:5001 2001:3001>
    +190 > . 1:1001(1000) ack 1
    +10  < . 1:1(0) ack 1001 win 65535 <sack 4001:5001 2001:3001>
    +0   > . 1001:2001(1000) ack 1
    +0   > . 3001:4001(1000) ack 1
    +10  < . 1:1(0) ack 5001 win 65535
  `, { rack: false }); // RACK off: with it the hole is found lost 2.5 ms after the SACK (rack.test.ts), long before this path
});

test('zero window: persist probes back off; data flows when the window opens', () => {
  runScript(`
    0    listen
    0    < S 0:0(0) win 65535 <mss 1000>
    0    > S. 0:0(0) ack 1 <mss 1460>
    +10  < . 1:1(0) ack 1 win 0
    +0   accept
    +0   send 1000
    +200 > . 0:0(0) ack 1
    +5   < . 1:1(0) ack 1 win 0
    +395 > . 0:0(0) ack 1
    +5   < . 1:1(0) ack 1 win 0
    +795 > . 0:0(0) ack 1
    +5   < . 1:1(0) ack 1 win 2000
    +0   > P. 1:1001(1000) ack 1
  `);
});

test('ACK for data never sent: challenge ACK, segment dropped', () => {
  runScript(PASSIVE + `
    +0   send 1000
    +0   > P. 1:1001(1000) ack 1
    +10  < P. 1:101(100) ack 5001 win 65535
    +0   > . 1001:1001(0) ack 1
    +0   info recvQueued 0
  `);
});

test('after an RTO pulled SND.NXT back, a bare ACK carries SND.MAX: a peer holding everything would drop SND.NXT as out of window', () => {
  // Both ends timed out at once (a restarted server held both directions past the RTO):
  // each then dropped the other's ACKs, sent from a pulled-back SND.NXT below its RCV.NXT,
  // and the connection never moved again.
  runScript(PASSIVE + `
    +0   < P. 1:1001(1000) ack 1 win 65535
    +0   send 5000
    +0   > . 1:1001(1000) ack 1001
    +0   > . 1001:2001(1000) ack 1001
    +0   > . 2001:3001(1000) ack 1001
    +0   > . 3001:4001(1000) ack 1001
    +0   > P. 4001:5001(1000) ack 1001
    +200 > . 1:1001(1000) ack 1001
    +10  < P. 1:1001(1000) ack 1 win 65535
    +0   > . 5001:5001(0) ack 1001
    +10  < . 1001:1001(0) ack 5001 win 65535
    +0   info bytesInFlight 0
  `);
});
