import { test } from 'node:test';
import { PASSIVE_SACK, runScript } from './harness.js';

// RFC 6937 Proportional Rate Reduction (PRR-SSRB) against RFC 6675's "cwnd = ssthresh at
// once". NewReno, MSS 1000, SACK, RTT 10 ms. Slow start takes the window to 20 segments
// (10..29), the first of them is lost and every later one is SACKed one ACK at a time.
// The first two duplicate ACKs send two new segments each (limited transmit: SACKed bytes
// are not in flight), so at the third: flight 24000, ssthresh 12000, RecoverFS 24000,
// pipe 21000 after the fast retransmit.

const seg = (n: number, len = 1000): string => `${1 + n * 1000}:${1 + n * 1000 + len}(${len})`;

/** Handshake, 40000 bytes queued, ten ACKs of slow start: segments 10..29 in flight. */
function slowStartTo20(): string {
  let s = PASSIVE_SACK + '    +0   send 40000\n';
  for (let i = 0; i < 10; i++) s += `    +0   > . ${seg(i)} ack 1\n`;
  for (let i = 0; i < 10; i++) {
    s += `    +${i === 0 ? 10 : 0}  < . 1:1(0) ack ${1 + (i + 1) * 1000} win 65535\n`;
    s += `    +0   > . ${seg(10 + 2 * i)} ack 1\n    +0   > . ${seg(11 + 2 * i)} ack 1\n`;
  }
  return s;
}

/** The k-th duplicate ACK: segment 10 lost, segments 11..10+k SACKed. */
const dup = (k: number): string => `    +0   < . 1:1(0) ack 10001 win 65535 <sack 11001:${11001 + k * 1000}>\n`;

test('PRR: in the proportional phase the sender keeps sending, one segment per two ACKs (ssthresh / RecoverFS = 1/2)', () => {
  runScript(slowStartTo20()
    + '    +10  ' + dup(1).trim().slice(4) + '\n'
    + `    +0   > . ${seg(30)} ack 1\n    +0   > . ${seg(31)} ack 1\n` // limited transmit
    + dup(2) + `    +0   > . ${seg(32)} ack 1\n    +0   > . ${seg(33)} ack 1\n`
    + dup(3) + `    +0   > . ${seg(10)} ack 1\n` // fast retransmit: prr_out 1000
    + '    +0   info ssthresh 12000\n'
    // sndcnt = ceil(prr_delivered * 12000 / 24000) - prr_out: 2000, 3000 delivered give 0, 500
    + dup(4) + dup(5)
    + dup(6) + `    +0   > . ${seg(34)} ack 1\n` // 4000 delivered: 2000 - 1000
    + dup(7)
    + dup(8) + `    +0   > . ${seg(35)} ack 1\n` // 6000 delivered: 3000 - 2000
    + dup(9)
    + dup(10) + `    +0   > . ${seg(36)} ack 1\n`,
  { defaults: { congestion: 'newreno' } });
});

test('without PRR (RFC 6675): silent until pipe falls below cwnd = ssthresh', () => {
  runScript(slowStartTo20()
    + '    +10  ' + dup(1).trim().slice(4) + '\n'
    + `    +0   > . ${seg(30)} ack 1\n    +0   > . ${seg(31)} ack 1\n`
    + dup(2) + `    +0   > . ${seg(32)} ack 1\n    +0   > . ${seg(33)} ack 1\n`
    + dup(3) + `    +0   > . ${seg(10)} ack 1\n`
    // cwnd 12000, pipe 24000 - k * 1000: nothing until the 13th duplicate ACK.
    + dup(4) + dup(5) + dup(6) + dup(7) + dup(8) + dup(9) + dup(10) + dup(11) + dup(12)
    + dup(13) + `    +0   > . ${seg(34)} ack 1\n`,
  { defaults: { congestion: 'newreno' }, prr: false });
});
