import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { runScript } from './harness.js';

// PAWS (RFC 7323 §5.3 R1) and the reordered duplicate ACKs it lets through, as
// Linux does (tcp_disordered_ack): see isDisorderedAck in src/tcp/input.ts.
//
// The preamble: a passive open with timestamps and SACK, MSS 1000, window 60000.
// The engine sends 15 segments' worth: 10 go out (initial window), 5 wait. The
// peer's first duplicate ACK (TSval 1030) sets TS.Recent to 1030 and lets one
// more segment out (limited transmit, RFC 3042). RTO is 200 ms (min RTO after a
// 10 ms RTT), so the replay window is 240 ticks.
const SEG = 988; // MSS 1000 minus the 12-byte timestamp option
/** New data: the send ring's k-th segment. */
const data = (k: number): string => `> . ${1 + k * SEG}:${1 + (k + 1) * SEG}(${SEG}) ack 1`;
const PREAMBLE = `
  0    listen
  0    < S 0:0(0) win 60000 <mss 1000,sackOK,TS val 1000 ecr 0>
  0    > S. 0:0(0) ack 1 <mss 1460,sackOK,TS val * ecr 1000>
  +10  < . 1:1(0) ack 1 win 60000 <TS val 1010 ecr *>
  +0   accept
  +0   send 15000
${Array.from({ length: 10 }, (_, k) => `  +0   ${data(k)}`).join('\n')}
  +1   < . 1:1(0) ack 1 win 60000 <TS val 1030 ecr *>
  +0   ${data(10)}
`;
/** After a PAWS drop: R1's "send an acknowledgement in reply", TSecr still TS.Recent. */
const PAWS_ACK = `> . ${1 + 11 * SEG}:${1 + 11 * SEG}(0) ack 1 <TS val * ecr 1030>`;

interface Case {
  readonly name: string;
  /** The segment from the peer, harness syntax. */
  readonly seg: string;
  readonly accepted: boolean;
  /** What the engine sends in reply, harness syntax. */
  readonly replies: readonly string[];
}

const CASES: readonly Case[] = [
  // Accepted: reordered duplicate ACKs with an older TSval.
  { name: 'duplicate ACK 20 ticks behind, same window: the 2nd dup ACK, limited transmit',
    seg: '. 1:1(0) ack 1 win 60000 <TS val 1010 ecr *>', accepted: true, replies: [data(11)] },
  { name: 'with a smaller window: the window is not used (and by RFC 5681 it is no dup ACK)',
    seg: '. 1:1(0) ack 1 win 50000 <TS val 1010 ecr *>', accepted: true, replies: [] },
  { name: 'with a SACK block: the scoreboard takes it, the pipe opens',
    seg: `. 1:1(0) ack 1 win 60000 <TS val 1029 ecr *,sack ${1 + SEG}:${1 + 2 * SEG}>`, accepted: true, replies: [data(11), data(12)] },
  { name: 'at the edge of the replay window (1.2 RTO = 240 ticks)',
    seg: '. 1:1(0) ack 1 win 60000 <TS val 790 ecr *>', accepted: true, replies: [data(11)] },
  // Still dropped by PAWS.
  { name: 'beyond the replay window (241 ticks)', seg: '. 1:1(0) ack 1 win 60000 <TS val 789 ecr *>', accepted: false, replies: [PAWS_ACK] },
  { name: 'ACK of new data (SEG.ACK > SND.UNA)',
    seg: `. 1:1(0) ack ${1 + SEG} win 60000 <TS val 1010 ecr *>`, accepted: false, replies: [PAWS_ACK] },
  { name: 'carries data', seg: 'P. 1:101(100) ack 1 win 60000 <TS val 1010 ecr *>', accepted: false, replies: [PAWS_ACK] },
  { name: 'carries FIN', seg: 'F. 1:1(0) ack 1 win 60000 <TS val 1010 ecr *>', accepted: false, replies: [PAWS_ACK] },
  { name: 'a larger window (would update the window)', seg: '. 1:1(0) ack 1 win 65000 <TS val 1010 ecr *>', accepted: false, replies: [PAWS_ACK] },
  { name: 'a zero window', seg: '. 1:1(0) ack 1 win 0 <TS val 1010 ecr *>', accepted: false, replies: [PAWS_ACK] },
  { name: 'SEG.SEQ is not RCV.NXT', seg: '. 2:2(0) ack 1 win 60000 <TS val 1010 ecr *>', accepted: false, replies: [PAWS_ACK] },
];

describe('PAWS and disordered ACKs (RFC 7323 §5.3, Linux tcp_disordered_ack)', () => {
  for (const c of CASES) {
    it(`${c.accepted ? 'accepts' : 'drops'}: ${c.name}`, () => {
      const h = runScript(PREAMBLE);
      const sndWnd = h.info().sndWnd;
      h.run(`
        +1 < ${c.seg}
        ${c.replies.map((r) => `+0 ${r}`).join('\n')}
      `);
      assert.equal(h.engine.counters.dropPaws, c.accepted ? 0 : 1);
      assert.equal(h.engine.counters.pawsDisorderedAcks, c.accepted ? 1 : 0);
      assert.equal(h.info().sndWnd, sndWnd, 'the window of a disordered ACK is not used');
    });
  }

  it('replies to pure ACKs dropped by PAWS are rate-limited (one per 500 ms, as Linux); to data, not', () => {
    // Everything acknowledged (TS.Recent 1030), nothing in flight: no timer interferes.
    const h = runScript(`
      0    listen
      0    < S 0:0(0) win 60000 <mss 1000,sackOK,TS val 1000 ecr 0>
      0    > S. 0:0(0) ack 1 <mss 1460,sackOK,TS val * ecr 1000>
      +10  < . 1:1(0) ack 1 win 60000 <TS val 1010 ecr *>
      +0   accept
      +0   send ${SEG}
      +0   > P. 1:${1 + SEG}(${SEG}) ack 1
      +1   < . 1:1(0) ack ${1 + SEG} win 60000 <TS val 1030 ecr *>
    `);
    // A reordered old ACK (for nothing: SEG.ACK < SND.UNA), then more of them.
    const oldAck = '. 1:1(0) ack 1 win 60000 <TS val 1010 ecr *>';
    const reply = `> . ${1 + SEG}:${1 + SEG}(0) ack 1 <TS val * ecr 1030>`;
    h.run(`
      +1   < ${oldAck}
      +0   ${reply}
      +100 < ${oldAck}
      +100 < ${oldAck}
      +0   < P. 1:101(100) ack ${1 + SEG} win 60000 <TS val 1010 ecr *>
      +0   ${reply}
      +0   < P. 1:101(100) ack ${1 + SEG} win 60000 <TS val 1010 ecr *>
      +0   ${reply}
      +301 < ${oldAck}
      +0   ${reply}
    `);
    assert.equal(h.engine.counters.dropPaws, 6);
    assert.equal(h.engine.counters.pawsAcksNotAnswered, 2);
  });

  it('an accepted disordered ACK does not move TS.Recent back', () => {
    const h = runScript(PREAMBLE);
    h.run(`
      +1  < . 1:1(0) ack 1 win 60000 <TS val 1010 ecr *>
      +0  ${data(11)}
      +0  < P. 1:2(1) ack 1 win 60000 <TS val 1040 ecr *>
      +40 > . ${1 + 12 * SEG}:${1 + 12 * SEG}(0) ack 2 <TS val * ecr 1040>
    `);
    assert.equal(h.engine.counters.pawsDisorderedAcks, 1);
  });

  it('reordered duplicate ACKs drive recovery exactly as the same ACKs in order', () => {
    const run = (ts1: number, ts2: number): { sent: string[]; paws: number; accepted: number; fast: number } => {
      const h = runScript(PREAMBLE);
      h.run(`
        +1 < . 1:1(0) ack 1 win 60000 <TS val ${ts1} ecr *,sack ${1 + SEG}:${1 + 2 * SEG}>
        +0 ${data(11)}
        +0 ${data(12)}
        +0 < . 1:1(0) ack 1 win 60000 <TS val ${ts2} ecr *,sack ${1 + SEG}:${1 + 3 * SEG}>
        +0 > . 1:${1 + SEG}(${SEG}) ack 1
      `);
      const c = h.engine.counters;
      return { sent: h.sent.map((x) => `${x.repr.seq}:${x.repr.payload?.length ?? 0}`), paws: c.dropPaws, accepted: c.pawsDisorderedAcks, fast: c.fastRetransmits };
    };
    const inOrder = run(1031, 1032);
    const reordered = run(1029, 1028);
    assert.deepEqual(reordered.sent, inOrder.sent);
    assert.equal(reordered.fast, 1);
    assert.equal(reordered.accepted, 2);
    assert.equal(reordered.paws, 0);
    assert.equal(inOrder.accepted, 0);
  });
});
