import { test } from 'node:test';
import { PASSIVE_SACK, SEND_FIVE, SEND_TEN, runScript } from './harness.js';

// D-SACK (RFC 2883), spurious-retransmission detection and undo (RFC 3708),
// the reordering-adaptive duplicate-ACK threshold (Linux tp->reordering).
// After the handshake (RTT 10 ms, MSS 1000, SACK permitted, no timestamps).

const FIVE = SEND_FIVE;

test('receiver: a duplicate of data already acknowledged gets a D-SACK block below the ACK (RFC 2883 §4.1.1)', () => {
  runScript(PASSIVE_SACK + `
    +0   < . 1:1001(1000) ack 1 win 65535
    +0   < . 1001:2001(1000) ack 1 win 65535
    +0   > . 1:1(0) ack 2001
    +10  < . 1:1001(1000) ack 1 win 65535
    +0   > . 1:1(0) ack 2001 <sack 1:1001>
    +0   counter dsacksSent 1
  `);
});

test('receiver: a partly duplicate segment reports only its old part', () => {
  runScript(PASSIVE_SACK + `
    +0   < . 1:1001(1000) ack 1 win 65535
    +0   < . 1001:2001(1000) ack 1 win 65535
    +0   > . 1:1(0) ack 2001
    +10  < . 1501:2501(1000) ack 1 win 65535
    +0   > . 1:1(0) ack 2501 <sack 1501:2001>
  `);
});

test('receiver: a duplicate of out-of-order data: D-SACK first, then the SACK block holding it (RFC 2883 §4.1.2)', () => {
  runScript(PASSIVE_SACK + `
    +0   < . 1001:2001(1000) ack 1 win 65535
    +0   > . 1:1(0) ack 1 <sack 1001:2001>
    +0   < . 1001:2001(1000) ack 1 win 65535
    +0   > . 1:1(0) ack 1 <sack 1001:2001 1001:2001>
    +0   < . 3001:4001(1000) ack 1 win 65535
    +0   > . 1:1(0) ack 1 <sack 3001:4001 1001:2001>
  `);
});

test('receiver: no D-SACK without SACK permitted', () => {
  runScript(`
    0    listen
    0    < S 0:0(0) win 65535 <mss 1000>
    0    > S. 0:0(0) ack 1 <mss 1460>
    +10  < . 1:1(0) ack 1 win 65535
    +0   accept
    +0   < . 1:1001(1000) ack 1 win 65535
    +0   < . 1001:2001(1000) ack 1 win 65535
    +0   > . 1:1(0) ack 2001
    +10  < . 1:1001(1000) ack 1 win 65535
    +0   > . 1:1(0) ack 2001
    +0   counter dsacksSent 0
  `);
});

test('sender: a D-SACK for the fast retransmission shows it spurious; the window is restored (RFC 3708)', () => {
  runScript(PASSIVE_SACK + FIVE + `
    +10  < . 1:1(0) ack 1 win 65535 <sack 1001:2001>
    +0   < . 1:1(0) ack 1 win 65535 <sack 1001:3001>
    +0   < . 1:1(0) ack 1 win 65535 <sack 1001:4001>
    +0   > . 1:1001(1000) ack 1
    +0   info cwnd 3500
    // The original segment 1 was only late: the cumulative ACK covers it, then the
    // retransmission arrives as a duplicate and the receiver says so.
    +0   < . 1:1(0) ack 5001 win 65535
    +5   < . 1:1(0) ack 5001 win 65535 <sack 1:1001>
    +0   counter dsacksReceived 1
    +0   counter spuriousRetransmits 1
    +0   counter spuriousRecoveriesUndone 1
    +0   info cwnd 10000
    +0   info ssthresh Infinity
  `);
});

test('sender: a D-SACK for a duplicate the network made (nothing retransmitted) undoes nothing', () => {
  runScript(PASSIVE_SACK + FIVE + `
    +10  < . 1:1(0) ack 2001 win 65535
    +0   < . 1:1(0) ack 2001 win 65535 <sack 1:1001>
    +0   counter dsacksReceived 1
    +0   counter spuriousRetransmits 0
    +0   counter spuriousRecoveriesUndone 0
  `);
});

test('sender: a spurious RTO undone by D-SACK restores the window (RFC 3708 for timeouts)', () => {
  runScript(PASSIVE_SACK + `
    +0   send 1000
    +0   > P. 1:1001(1000) ack 1
    +200 > P. 1:1001(1000) ack 1
    +0   info cwnd 1000
    +5   < . 1:1(0) ack 1001 win 65535
    +5   < . 1:1(0) ack 1001 win 65535 <sack 1:1001>
    +0   counter spuriousRetransmits 1
    +0   counter spuriousRecoveriesUndone 1
    +0   info cwnd 10000
  `);
});

test('reordering seen in SACKs raises DupThresh at once: the late segment is not retransmitted', () => {
  runScript(PASSIVE_SACK + SEND_TEN + `
    // 5 and 6 arrive first, then 3 and 4 (never retransmitted: reordering, degree 4),
    // which is the third duplicate ACK: with DupThresh 3 segment 2 would be resent.
    +10  < . 1:1(0) ack 1001 win 65535
    +0   < . 1:1(0) ack 1001 win 65535 <sack 4001:5001>
    +0   < . 1:1(0) ack 1001 win 65535 <sack 4001:6001>
    +0   < . 1:1(0) ack 1001 win 65535 <sack 2001:6001>
    +0   info reordering 5
    +0   counter reorderingDetected 1
    +0   counter fastRetransmits 0
    +0   < . 1:1(0) ack 6001 win 65535
    +0   counter retransmits 0
    +0   info reordering 5
  `);
});

test('a lost retransmission is sent again once data sent after it is SACKed beyond DupThresh (no RTO)', () => {
  runScript(PASSIVE_SACK + SEND_TEN + `
    +10  < . 1:1(0) ack 1 win 65535 <sack 1001:2001>
    +0   < . 1:1(0) ack 1 win 65535 <sack 1001:3001>
    +0   < . 1:1(0) ack 1 win 65535 <sack 1001:4001>
    +0   > . 1:1001(1000) ack 1
    +0   send 10000
    +0   < . 1:1(0) ack 1 win 65535 <sack 1001:10001>
    +0   > . 10001:11001(1000) ack 1
    +0   > . 11001:12001(1000) ack 1
    +0   > . 12001:13001(1000) ack 1
    +0   > . 13001:14001(1000) ack 1
    +0   > . 14001:15001(1000) ack 1
    +0   > . 15001:16001(1000) ack 1
    // Segments sent after the retransmission arrive; the retransmission does not.
    +10  < . 1:1(0) ack 1 win 65535 <sack 1001:13001>
    +0   > . 16001:17001(1000) ack 1
    +0   > . 17001:18001(1000) ack 1
    +0   > . 18001:19001(1000) ack 1
    +0   counter lostRetransmits 0
    +0   < . 1:1(0) ack 1 win 65535 <sack 1001:14001>
    +0   counter lostRetransmits 1
    +0   > . 1:1001(1000) ack 1
    +0   > P. 19001:20001(1000) ack 1
    +10  < . 1:1(0) ack 20001 win 65535
    +0   counter rtoTimeouts 0
  `, { rack: false }); // RACK off: it finds the lost retransmission by time at the first SACK above it (rack.ts); this is the SACK-distance path
});

test('at the tail (no new data to send), a lost retransmission is sent again once retransmissions sent after it are SACKed beyond DupThresh (no RTO)', () => {
  runScript(PASSIVE_SACK + SEND_TEN + `
    // Two holes, both lost: everything is retransmitted, nothing new is left to send.
    +10  < . 1:1(0) ack 1 win 65535 <sack 1001:2001 6001:10001>
    +0   > . 1:1001(1000) ack 1
    +0   > . 2001:3001(1000) ack 1
    +0   > . 3001:4001(1000) ack 1
    +0   > . 4001:5001(1000) ack 1
    +0   > . 5001:6001(1000) ack 1
    // The retransmissions sent after the first arrive; the first does not.
    +10  < . 1:1(0) ack 1 win 65535 <sack 1001:3001 6001:10001>
    +0   < . 1:1(0) ack 1 win 65535 <sack 1001:4001 6001:10001>
    +0   < . 1:1(0) ack 1 win 65535 <sack 1001:5001 6001:10001>
    +0   counter lostRetransmits 0
    +0   < . 1:1(0) ack 1 win 65535 <sack 1001:10001>
    +0   counter lostRetransmits 1
    +0   > . 1:1001(1000) ack 1
    +10  < . 1:1(0) ack 10001 win 65535
    +0   counter rtoTimeouts 0
  `, { rack: false }); // RACK off: this is the SACK-distance path (RACK finds it by time)
});

test('a retransmission of one recovery lost again is still found in the next (its mark outlives the recovery, so must its log entry)', () => {
  // Recovery 1 (recover 10001) retransmits 10001 and 12001, above its recovery point; it ends at ACK 10001, and
  // recovery 2 starts with the head. 12001's retransmission was lost: the data sent after it is SACKed.
  runScript(PASSIVE_SACK + SEND_TEN + `
    +10  < . 1:1(0) ack 1 win 65535 <sack 1001:4001>
    +0   > . 1:1001(1000) ack 1
    +0   send 10000
    +0   < . 1:1(0) ack 1 win 65535 <sack 1001:10001>
    +0   > . 10001:11001(1000) ack 1
    +0   > . 11001:12001(1000) ack 1
    +0   > . 12001:13001(1000) ack 1
    +0   > . 13001:14001(1000) ack 1
    +0   > . 14001:15001(1000) ack 1
    +0   > . 15001:16001(1000) ack 1
    +10  < . 1:1(0) ack 1 win 65535 <sack 1001:10001 11001:12001 13001:16001>
    +0   > . 1:1001(1000) ack 1
    +0   > . 10001:11001(1000) ack 1
    +0   > . 12001:13001(1000) ack 1
    +0   > . 16001:17001(1000) ack 1
    +0   > . 17001:18001(1000) ack 1
    +0   > . 18001:19001(1000) ack 1
    +0   > P. 19001:20001(1000) ack 1
    +10  < . 1:1(0) ack 10001 win 65535 <sack 11001:12001 13001:16001>
    +0   counter sackRecoveries 1
    +0   < . 1:1(0) ack 10001 win 65535 <sack 11001:12001 13001:17001>
    +0   counter sackRecoveries 2
    +0   > . 10001:11001(1000) ack 1
    +0   counter lostRetransmits 1
    +10  < . 1:1(0) ack 12001 win 65535 <sack 13001:20001>
    +0   counter lostRetransmits 2
    +0   > . 12001:13001(1000) ack 1
    +10  < . 1:1(0) ack 20001 win 65535
    +0   counter rtoTimeouts 0
  `, { rack: false }); // RACK off: the SACK-distance path
});

test('a lost retransmission with fewer than DupThresh segments delivered after it is sent again two SRTTs after it left (RACK-like, by time)', () => {
  // SRTT is 10 ms here. Three holes retransmitted at once; the later two arrive, the first does not: one
  // segment after it at +5 ms (too soon), two at +25 ms (still below DupThresh, but 2 SRTTs have passed).
  runScript(PASSIVE_SACK + SEND_TEN + `
    +10  < . 1:1(0) ack 1 win 65535 <sack 1001:4001 5001:6001 7001:10001>
    +0   > . 1:1001(1000) ack 1
    +0   > . 4001:5001(1000) ack 1
    +0   > . 6001:7001(1000) ack 1
    +5   < . 1:1(0) ack 1 win 65535 <sack 1001:6001 7001:10001>
    +0   counter lostRetransmits 0
    +20  < . 1:1(0) ack 1 win 65535 <sack 1001:10001>
    +0   counter lostRetransmits 1
    +0   > . 1:1001(1000) ack 1
    +10  < . 1:1(0) ack 10001 win 65535
    +0   counter rtoTimeouts 0
  `, { rack: false }); // RACK off: RACK finds it by time on its own path
});

test('going back after an RTO, a segment stops at SACKed data and the piece before it still goes (RFC 6675 §5.1)', () => {
  runScript(PASSIVE_SACK + `
    +0   send 3000
    +0   > . 1:1001(1000) ack 1
    +0   > . 1001:2001(1000) ack 1
    +0   > P. 2001:3001(1000) ack 1
    +10  < . 1:1(0) ack 1 win 65535 <sack 1501:3001>
    +190 > . 1:1001(1000) ack 1
    +10  < . 1:1(0) ack 1001 win 65535 <sack 1501:3001>
    +0   > . 1001:1501(500) ack 1
    +10  < . 1:1(0) ack 3001 win 65535
    +0   counter retransmits 2
  `, { rack: false }); // RACK off: with it the hole is found lost 2.5 ms after the SACK (rack.test.ts), long before this path
});
