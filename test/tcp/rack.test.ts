import { test } from 'node:test';
import { PASSIVE_SACK, SEND_FIVE, runScript } from './harness.js';

// RACK loss detection (RFC 8985 §6). After the handshake (RTT 10 ms, MSS 1000, SACK
// permitted, no timestamps) five segments leave at once; the first is acknowledged
// 10 ms later (RACK.rtt = min_RTT = 10 ms), and a SACK for the third shows the second
// missing: one duplicate ACK, far below DupThresh. reo_wnd = min_RTT/4 = 2.5 ms, so
// the second is lost once RACK.rtt + reo_wnd have passed since it was sent (§6.2 step 5).

const HOLE = SEND_FIVE + `
    +10  < . 1:1(0) ack 1001 win 65535
    +0   < . 1:1(0) ack 1001 win 65535 <sack 2001:3001>
`;

test('RACK: one duplicate ACK, and the hole is resent when reo_wnd has passed (the reordering timer), not at the RTO', () => {
  runScript(PASSIVE_SACK + HOLE + `
    +2.5 > . 1001:2001(1000) ack 1
    +0   counter rackLost 1
    +0   counter rtoTimeouts 0
    +10  < . 1:1(0) ack 5001 win 65535
  `, { rack: true });
});

test('RACK: the missing segment arrives within reo_wnd (reordering): nothing is resent', () => {
  runScript(PASSIVE_SACK + HOLE + `
    +1   < . 1:1(0) ack 3001 win 65535
    +10  < . 1:1(0) ack 5001 win 65535
    +0   counter rackLost 0
    +0   counter fastRetransmits 0
  `, { rack: true });
});

test('RACK: a D-SACK for the resent segment widens reo_wnd (RFC 8985 §6.2 step 4)', () => {
  runScript(PASSIVE_SACK + HOLE + `
    +2.5 > . 1001:2001(1000) ack 1
    +0   info rackReoWndMult 1
    +1   < . 1:1(0) ack 3001 win 65535
    +9.5 < . 1:1(0) ack 5001 win 65535 <sack 1001:2001>
    +0   counter rackReoWndGrown 1
    +0   info rackReoWndMult 2
  `, { rack: true });
});
