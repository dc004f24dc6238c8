import { test } from 'node:test';
import { PASSIVE, runScript } from './harness.js';

// Connection termination (RFC 9293 §3.6): active, passive, simultaneous close,
// half-close, TIME-WAIT (2 MSL; MSL = 1 s here), orphan FIN-WAIT-2.

const MSL = { msl: 1000 };

/** Active close after PASSIVE up to the ACK of the peer's FIN (FIN-WAIT-1, FIN-WAIT-2, the peer's FIN). */
const CLOSE_TO_PEER_FIN = `
    +0   shutdown
    +0   > F. 1:1(0) ack 1
    +10  < . 1:1(0) ack 2 win 65535
    +0   state FIN-WAIT-2
    +10  < F. 1:1(0) ack 2 win 65535
    +0   > . 2:2(0) ack 2
`;

test('active close: FIN-WAIT-1 → FIN-WAIT-2 → TIME-WAIT → CLOSED after 2 MSL', () => {
  runScript(PASSIVE + `
    +0   shutdown
    +0   > F. 1:1(0) ack 1
    +0   state FIN-WAIT-1
    +10  < . 1:1(0) ack 2 win 65535
    +0   state FIN-WAIT-2
    +10  < F. 1:1(0) ack 2 win 65535
    +0   > . 2:2(0) ack 2
    +0   state TIME-WAIT
    +0   event end
    +0   event closed
    +0   close
    +1999 state TIME-WAIT
    +1   state GONE
  `, MSL);
});

test('TIME-WAIT limit (maxTimeWait, Linux tcp_max_tw_buckets): with the limit reached the connection ACKs the peer\'s FIN and closes at once', () => {
  runScript(PASSIVE + CLOSE_TO_PEER_FIN + `
    +0   event end
    +0   event closed
    +0   state CLOSED
    +0   close
    +0   state GONE
    +0   counter timeWaitOverflow 1
  `, { ...MSL, maxTimeWait: 0 });
});

test('TIME-WAIT limit: a connection that leaves TIME-WAIT makes room for the next one', () => {
  const closeToTimeWait = CLOSE_TO_PEER_FIN + `
    +0   state TIME-WAIT
    +0   close
  `;
  runScript(PASSIVE + closeToTimeWait + `
    +2000 state GONE
    +0   newiss
    +0   < S 0:0(0) win 65535 <mss 1000>
    +0   > S. 0:0(0) ack 1 <mss 1460>
    +10  < . 1:1(0) ack 1 win 65535
    +0   accept
  ` + closeToTimeWait + `
    +0   counter timeWaitOverflow 0
  `, { ...MSL, maxTimeWait: 1 });
});

test('FIN after queued data: data, then FIN on the last segment', () => {
  runScript(PASSIVE + `
    +0   send 1500
    +0   shutdown
    +0   > . 1:1001(1000) ack 1
    +0   > FP. 1001:1501(500) ack 1
    +10  < . 1:1(0) ack 1502 win 65535
    +0   state FIN-WAIT-2
  `);
});

test('passive close: CLOSE-WAIT → LAST-ACK → CLOSED', () => {
  runScript(PASSIVE + `
    +0   < F. 1:1(0) ack 1 win 65535
    +0   > . 1:1(0) ack 2
    +0   event end
    +0   state CLOSE-WAIT
    +0   send 100
    +0   > P. 1:101(100) ack 2
    +0   close
    +0   > F. 101:101(0) ack 2
    +0   state LAST-ACK
    +10  < . 2:2(0) ack 101 win 65535
    +0   state LAST-ACK
    +10  < . 2:2(0) ack 102 win 65535
    +0   state GONE
  `);
});

test('simultaneous close: FIN-WAIT-1 → CLOSING → TIME-WAIT', () => {
  runScript(PASSIVE + `
    +0   shutdown
    +0   > F. 1:1(0) ack 1
    +5   < F. 1:1(0) ack 1 win 65535
    +0   > . 2:2(0) ack 2
    +0   state CLOSING
    +5   < . 2:2(0) ack 2 win 65535
    +0   state TIME-WAIT
  `, MSL);
});

test('FIN acknowledged together with the peer FIN: FIN-WAIT-1 → TIME-WAIT', () => {
  runScript(PASSIVE + `
    +0   shutdown
    +0   > F. 1:1(0) ack 1
    +5   < F. 1:1(0) ack 2 win 65535
    +0   > . 2:2(0) ack 2
    +0   state TIME-WAIT
  `, MSL);
});

test('half-close: after our FIN the peer still sends, we still receive', () => {
  runScript(PASSIVE + `
    +0   shutdown
    +0   > F. 1:1(0) ack 1
    +5   < . 1:1001(1000) ack 2 win 65535
    +0   < P. 1001:2001(1000) ack 2 win 65535
    +0   > . 2:2(0) ack 2001
    +0   read 2000
    +0   < F. 2001:2001(0) ack 2 win 65535
    +0   > . 2:2(0) ack 2002
    +0   event end
  `, MSL);
});

test('TIME-WAIT: a retransmitted FIN is acknowledged and restarts the 2 MSL timer', () => {
  runScript(PASSIVE + `
    +0   shutdown
    +0   > F. 1:1(0) ack 1
    +5   < F. 1:1(0) ack 2 win 65535
    +0   > . 2:2(0) ack 2
    +0   close
    +1500 < F. 1:1(0) ack 2 win 65535
    +0   > . 2:2(0) ack 2
    +1999 state TIME-WAIT
    +1   state GONE
  `, MSL);
});

test('TIME-WAIT: a new SYN with a higher sequence number opens a new connection', () => {
  runScript(PASSIVE + `
    +0   shutdown
    +0   > F. 1:1(0) ack 1
    +5   < F. 1:1(0) ack 2 win 65535
    +0   > . 2:2(0) ack 2
    +0   close
    +100 newiss
    +0   < S 5000:5000(0) win 65535 <mss 1000>
    +0   > S. 0:0(0) ack 5001 <mss 1460>
  `, MSL);
});

test('FIN out of order: processed once the data before it arrives', () => {
  runScript(PASSIVE + `
    +0   < F. 1001:1001(0) ack 1 win 65535
    +0   > . 1:1(0) ack 1
    +0   state ESTABLISHED
    +0   < . 1:1001(1000) ack 1 win 65535
    +0   > . 1:1(0) ack 1002
    +0   state CLOSE-WAIT
  `);
});

test('close with unread data: RST instead of FIN (RFC 2525 §2.17)', () => {
  runScript(PASSIVE + `
    +0   < P. 1:101(100) ack 1 win 65535
    +0   close
    +0   > R. 1:1(0) ack 101
    +0   state GONE
  `);
});

test('abort: RST <SEQ=SND.NXT>', () => {
  runScript(PASSIVE + `
    +0   send 100
    +0   > P. 1:101(100) ack 1
    +0   abort
    +0   > R. 101:101(0) ack 1
    +0   state GONE
  `);
});

test('orphaned FIN-WAIT-2 is reclaimed after 2 MSL', () => {
  runScript(PASSIVE + `
    +0   close
    +0   > F. 1:1(0) ack 1
    +10  < . 1:1(0) ack 2 win 65535
    +0   state FIN-WAIT-2
    +2000 state GONE
  `, MSL);
});
