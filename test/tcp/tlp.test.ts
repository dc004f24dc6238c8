import { test } from 'node:test';
import { PASSIVE_SACK, SEND_FIVE, runScript } from './harness.js';

// Tail loss probe (RFC 8985 §7) and early retransmit (RFC 5827). After the handshake
// (RTT 10 ms, MSS 1000, SACK permitted, no timestamps) five segments leave; the peer
// acknowledges the first three. PTO = 2·SRTT = 20 ms; the RTO would fire at 220 ms.

const FIVE = SEND_FIVE + `
    +10  < . 1:1(0) ack 3001 win 65535
`;

test('TLP: the last two segments lost: a probe at 2·SRTT resends the last, its SACK starts an early retransmit of the other, no RTO', () => {
  runScript(PASSIVE_SACK + FIVE + `
    +20  > . 4001:5001(1000) ack 1
    +0   counter tlpProbes 1
    +10  < . 1:1(0) ack 3001 win 65535 <sack 4001:5001>
    +0   > . 3001:4001(1000) ack 1
    +10  < . 1:1(0) ack 5001 win 65535
    +0   counter rtoTimeouts 0
    +0   counter fastRetransmits 1
  `);
});

test('TLP: the probe repaired the only loss (its ACK has no D-SACK): a window reduction, as a recovery would make', () => {
  runScript(PASSIVE_SACK + FIVE + `
    +20  > . 4001:5001(1000) ack 1
    +10  < . 1:1(0) ack 5001 win 65535
    +0   counter tlpRecoveries 1
    +0   info cwnd 8400
    +0   counter rtoTimeouts 0
  `);
});

test('TLP: a D-SACK shows the probe was not needed: no reduction', () => {
  runScript(PASSIVE_SACK + FIVE + `
    +20  > . 4001:5001(1000) ack 1
    +10  < . 1:1(0) ack 5001 win 65535 <sack 4001:5001>
    +0   counter tlpRecoveries 0
    +0   info cwnd 12000
  `);
});

test('without TLP the same tail loss waits for the RTO (220 ms)', () => {
  runScript(PASSIVE_SACK + FIVE + `
    +200 > . 3001:4001(1000) ack 1
    +0   counter rtoTimeouts 1
  `, { tlp: false });
});

test('no probe once a duplicate ACK or SACK shows the loss (the "open" state only)', () => {
  runScript(PASSIVE_SACK + SEND_FIVE + `
    +10  < . 1:1(0) ack 1 win 65535 <sack 2001:3001>
    +190 > . 1:1001(1000) ack 1
    +0   counter tlpProbes 0
  `, { rack: false }); // RACK off: with it the hole is found lost 2.5 ms after the SACK (rack.test.ts), long before this path
});
