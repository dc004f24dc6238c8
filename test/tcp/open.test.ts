import { test } from 'node:test';
import { runScript } from './harness.js';

// Scripted tests: connection establishment (RFC 9293 §3.5), option negotiation (RFC 7323, RFC 2018).

test('LISTEN → SYN-RECEIVED → ESTABLISHED: passive open with Linux options', () => {
  runScript(`
    0    listen
    0    < S 0:0(0) win 64240 <mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 7>
    0    > S. 0:0(0) ack 1 win 65535 <mss 1460,sackOK,TS val * ecr 100,nop,wscale 3>
    +10  < . 1:1(0) ack 1 win 502 <nop,nop,TS val 110 ecr *>
    +0   event incoming
    +0   accept
    +0   state ESTABLISHED
    +0   info sndMss 1448
    +0   info sndWndScale 7
    +0   info sndWnd 64256
    +0   info srtt 10
  `);
});

test('SYN-SENT → ESTABLISHED: active open, options echoed', () => {
  runScript(`
    0    connect
    0    > S 0:0(0) win 65535 <mss 1460,sackOK,TS val * ecr 0,nop,wscale 3>
    +5   < S. 0:0(0) ack 1 win 65160 <mss 1400,sackOK,TS val 7 ecr *,nop,wscale 7>
    +0   > . 1:1(0) ack 1 <nop,nop,TS val * ecr 7>
    +0   event connected
    +0   state ESTABLISHED
    +0   info sndMss 1388
    +0   info sack true
  `);
});

test('SYN-SENT: the receive window starts at the peer\'s ISN + 1, whatever the ISN', () => {
  // Found against Linux: RCV.ADV was set relative to RCV.NXT = 0 when the SYN went
  // out and kept after RCV.NXT became IRS + 1, so the first ACK advertised a
  // random (16-bit truncated) window that never reopened.
  runScript(`
    0    connect
    0    > S 0:0(0) win 65535 <mss 1460,sackOK,TS val * ecr 0,nop,wscale 3>
    +5   < S. 2147000000:2147000000(0) ack 1 win 65160 <mss 1460,sackOK,TS val 7 ecr *,nop,wscale 7>
    +0   > . 1:1(0) ack 2147000001 win 32768 <nop,nop,TS val * ecr 7>
    +0   event connected
  `);
});

test('no options from the peer: MSS 536, no scaling, no timestamps, no SACK', () => {
  runScript(`
    0    listen
    0    < S 0:0(0) win 8192
    0    > S. 0:0(0) ack 1 win 65535 <mss 1460>
    +1   < . 1:1(0) ack 1 win 8192
    +0   accept
    +0   info sndMss 536
    +0   info timestamps false
    +0   info sack false
    +0   info sndWndScale 0
    +0   info rcvWndScale 0
  `);
});

test('simultaneous open: SYN-SENT → SYN-RECEIVED → ESTABLISHED', () => {
  runScript(`
    0    connect
    0    > S 0:0(0) <mss 1460,sackOK,TS val * ecr 0,nop,wscale 3>
    +1   < S 0:0(0) win 65535 <mss 1460,sackOK,TS val 50 ecr 0,nop,wscale 7>
    +0   > S. 0:0(0) ack 1 <mss 1460,sackOK,TS val * ecr 50,nop,wscale 3>
    +1   < S. 0:0(0) ack 1 win 65535 <mss 1460,sackOK,TS val 51 ecr *,nop,wscale 7>
    +0   state ESTABLISHED
    +0   event connected
  `);
});

test('SYN retransmission backs off 1, 2, 4 s and gives up with ETIMEDOUT', () => {
  runScript(`
    0     connect
    0     > S 0:0(0)
    1000  > S 0:0(0)
    3000  > S 0:0(0)
    7000  > S 0:0(0)
    15000 event error ETIMEDOUT
  `, { synRetries: 3 });
});

test('after a retransmitted SYN the RTO starts at 3 s (RFC 6298 §5.7)', () => {
  runScript(`
    0     connect
    0     > S 0:0(0)
    1000  > S 0:0(0)
    1100  < S. 0:0(0) ack 1 win 65535 <mss 1000>
    +0    > . 1:1(0) ack 1
    +0    info rto 3000
    +0    send 100
    +0    > P. 1:101(100) ack 1
    +3000 > P. 1:101(100) ack 1
  `);
});

test('RST to our SYN: ECONNREFUSED', () => {
  runScript(`
    0    connect
    0    > S 0:0(0)
    +1   < R. 0:0(0) ack 1 win 0
    +0   event error ECONNREFUSED
    +0   state CLOSED
  `);
});

test('SYN-ACK acking something we never sent: RST, stay in SYN-SENT', () => {
  runScript(`
    0    connect
    0    > S 0:0(0)
    +1   < S. 0:0(0) ack 5 win 1000
    +0   > R 5:5(0)
    +0   state SYN-SENT
  `);
});

test('ICMP port unreachable while connecting: ECONNREFUSED', () => {
  runScript(`
    0    connect
    0    > S 0:0(0)
    +1   icmp port-unreachable
    +0   event error ECONNREFUSED
  `);
});

test('SYN-ACK lost: the SYN-ACK is retransmitted, and again on a repeated SYN', () => {
  runScript(`
    0    listen
    0    < S 0:0(0) win 65535 <mss 1460>
    0    > S. 0:0(0) ack 1 <mss 1460>
    1000 > S. 0:0(0) ack 1 <mss 1460>
    1500 < S 0:0(0) win 65535 <mss 1460>
    1500 > S. 0:0(0) ack 1 <mss 1460>
    1600 < . 1:1(0) ack 1 win 65535
    +0   accept
    +0   state ESTABLISHED
  `);
});

test('RST in SYN-RECEIVED (passive): back to LISTEN silently', () => {
  runScript(`
    0    listen
    0    < S 0:0(0) win 65535
    0    > S. 0:0(0) ack 1 <mss 1460>
    +1   < R 1:1(0) win 0
    +0   noevent error
    +0   < S 100:100(0) win 65535
    +0   newiss
    +0   > S. 0:0(0) ack 101 <mss 1460>
  `);
});
