import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SackScoreboard, type SackBlockInput } from '../../src/tcp/sack-scoreboard.js';

const MSS = 1000;
const blk = (start: number, end: number): SackBlockInput => ({ start: start >>> 0, end: end >>> 0 });

test('RFC 6675 loss detection: the third SACKed segment above a hole marks it lost (bytes rule)', () => {
  // Ten segments [0, 10000) outstanding; segment 0 is lost, 1, 2, 3 arrive and are SACKed.
  const sb = new SackScoreboard({ mss: MSS });
  const una = 0;
  const nxt = 10 * MSS;
  assert.equal(sb.update(una, [blk(1000, 2000)], nxt), 1000);
  assert.equal(sb.isLost(0), false, 'one segment SACKed above');
  sb.update(una, [blk(1000, 3000)], nxt);
  assert.equal(sb.isLost(0), false, '2*SMSS is not more than (DupThresh-1)*SMSS');
  sb.update(una, [blk(1000, 4000)], nxt);
  assert.equal(sb.isLost(0), true, '3 segments SACKed above');
  assert.equal(sb.isLost(999), true);
  assert.equal(sb.isLost(1500), false, 'SACKed octets are not lost');
  assert.equal(sb.isLost(5000), false, 'nothing SACKed above');
  assert.equal(sb.isSacked(1000), true);
  assert.equal(sb.isSacked(4000), false);
  assert.equal(sb.highestSacked, 4000);
  // SetPipe: hole [0,1000) lost -> 0; [4000,10000) not lost -> 6000.
  assert.equal(sb.pipe(una, nxt), 6000);
  // NextSeg rule (1): retransmit the hole.
  assert.deepEqual(sb.nextSeg(una, nxt, 5000), { rule: 1, seq: 0, len: 1000 });
  sb.markRetransmitted(0, 1000);
  assert.equal(sb.pipe(una, nxt), 7000, 'SetPipe (b): the retransmission is in flight');
  // Now rule (2): new data, since no other lost octet exists.
  assert.deepEqual(sb.nextSeg(una, nxt, 5000), { rule: 2, seq: nxt, len: 1000 });
  assert.deepEqual(sb.nextSeg(una, nxt, 300), { rule: 2, seq: nxt, len: 300 });
  // Nothing new allowed, no unretransmitted hole below the highest SACK: nothing (rule 3 fails too).
  assert.equal(sb.nextSeg(una, nxt, 0), undefined);
});

test('RFC 6675 IsLost count rule: DupThresh discontiguous SACKed sequences with small segments', () => {
  const sb = new SackScoreboard({ mss: MSS });
  // 100-byte segments: holes at 0, 200, 400; SACKed 100, 300, 500 (300 bytes, < 2*SMSS)
  sb.update(0, [blk(100, 200), blk(300, 400)], 2000);
  assert.equal(sb.isLost(0), false, 'two discontiguous blocks above');
  sb.update(0, [blk(500, 600)], 2000);
  assert.equal(sb.isLost(0), true, 'three discontiguous blocks above');
  assert.equal(sb.isLost(200), false, 'only two above 200');
  assert.deepEqual(sb.nextSeg(0, 2000, 0), { rule: 1, seq: 0, len: 100 }, 'segment stops at the SACKed block');
  // Rule (3): after retransmitting the lost hole, the hole at 200 is not lost but below the highest SACK.
  sb.markRetransmitted(0, 100);
  assert.deepEqual(sb.nextSeg(0, 2000, 0), { rule: 3, seq: 200, len: 100 });
  assert.deepEqual(sb.nextSeg(0, 2000, 50), { rule: 2, seq: 2000, len: 50 }, 'rule 2 before rule 3');
});

test('advance drops what is cumulatively acknowledged, across the sequence wrap', () => {
  const base = 0xfffff000;
  const sb = new SackScoreboard({ mss: MSS });
  const nxt = (base + 10 * MSS) >>> 0;
  sb.update(base, [blk(base + 1000, base + 4000), blk(base + 6000, base + 7000)], nxt);
  assert.equal(sb.sackedBytes, 4000);
  assert.ok(sb.isLost(base));
  sb.markRetransmitted(base, 1000);
  sb.advance((base + 5000) >>> 0); // hole filled, ACK jumps over the first block
  assert.equal(sb.sackedBytes, 1000);
  assert.equal(sb.isSacked((base + 2000) >>> 0), false, 'below SND.UNA');
  assert.equal(sb.isSacked((base + 6500) >>> 0), true);
  assert.equal(sb.highRxt, undefined, 'retransmission below SND.UNA forgotten');
  assert.equal(sb.pipe((base + 5000) >>> 0, nxt), 4000, '[5000,6000) and [7000,10000) not lost');
  sb.advance(base); // an old ACK changes nothing
  assert.equal(sb.sackedBytes, 1000);
});

test('invalid and D-SACK blocks are ignored and counted', () => {
  const sb = new SackScoreboard({ mss: MSS });
  const una = 5000;
  const nxt = 10000;
  const newly = sb.update(una, [
    blk(3000, 4000), // D-SACK below SND.UNA (RFC 2883)
    blk(6000, 6000), // empty
    blk(7000, 6500), // reversed
    blk(9000, 11000), // beyond SND.NXT
    blk(4000, 6000), // straddles SND.UNA: the part above counts
    blk(0x80000000, 0x80001000), // nonsense far away
  ], nxt);
  assert.equal(newly, 1000);
  assert.equal(sb.sackedBytes, 1000);
  assert.deepEqual(sb.counters, { invalidBlocks: 4, belowUnaBlocks: 1, droppedRanges: 0 });
  assert.equal(sb.update(una, [blk(5500, 6000)], nxt), 0, 'D-SACK inside an existing block: nothing new');
});

test('memory bound: at most maxRanges SACKed ranges and retransmission marks', () => {
  const sb = new SackScoreboard({ mss: 10, maxRanges: 4 });
  const blocks = [];
  for (let i = 0; i < 20; i++) blocks.push(blk(100 + i * 20, 110 + i * 20));
  sb.update(0, blocks, 10_000);
  assert.equal(sb.counters.droppedRanges, 16);
  assert.equal(sb.sackedBytes, 40);
  assert.equal(sb.highestSacked, 170, 'the lowest ranges are kept');
  for (let i = 0; i < 20; i++) sb.markRetransmitted(i * 5, 1);
  // Merging over-approximates: pipe can only be larger than with exact marks.
  assert.ok(sb.pipe(0, 10_000) >= 20);
});

// ---------------------------------------------------------------------------
// Octet-level model taken literally from RFC 6675 §4.

interface Model { sacked: boolean[]; rexmit: boolean[]; }

function modelIsLost(m: Model, s: number, mss: number): boolean {
  if (m.sacked[s]) return false;
  let runs = 0;
  let bytes = 0;
  for (let k = s + 1; k < m.sacked.length; k++) {
    if (m.sacked[k]) { bytes++; if (!m.sacked[k - 1]) runs++; }
  }
  return runs >= 3 || bytes > 2 * mss;
}

function modelPipe(m: Model, nxt: number, mss: number): number {
  let pipe = 0;
  for (let s = 0; s < nxt; s++) {
    if (m.sacked[s]) continue;
    if (!modelIsLost(m, s, mss)) pipe++;
    if (m.rexmit[s]) pipe++;
  }
  return pipe;
}

function modelNextSeg(m: Model, nxt: number, mss: number, newAllowed: number): { rule: number; seq: number; len: number } | undefined {
  let high = -1;
  for (let s = 0; s < nxt; s++) if (m.sacked[s]) high = s;
  const pick = (lost: boolean): { rule: number; seq: number; len: number } | undefined => {
    for (let s = 0; s < high; s++) {
      if (m.sacked[s] || m.rexmit[s]) continue;
      if (lost && !modelIsLost(m, s, mss)) continue;
      let len = 0;
      while (len < mss && s + len < high && !m.sacked[s + len] && !m.rexmit[s + len]) len++;
      return { rule: lost ? 1 : 3, seq: s, len };
    }
    return undefined;
  };
  return pick(true) ?? (newAllowed > 0 ? { rule: 2, seq: nxt, len: Math.min(mss, newAllowed) } : undefined) ?? pick(false);
}

test('property: IsLost, SetPipe and NextSeg agree with an octet-level RFC 6675 model', () => {
  const N = 60;
  const mss = 4;
  const op = fc.oneof(
    fc.record({ t: fc.constant('sack' as const), s: fc.nat(N), len: fc.integer({ min: 1, max: 10 }) }),
    fc.record({ t: fc.constant('rexmit' as const), s: fc.nat(N - 1), len: fc.integer({ min: 1, max: 6 }) }),
    fc.record({ t: fc.constant('ack' as const), n: fc.nat(8) }),
  );
  fc.assert(fc.property(fc.nat(), fc.array(op, { maxLength: 30 }), fc.nat(6), (baseRaw, ops, newAllowed) => {
    const base = (0xffffffe0 + (baseRaw % 64)) >>> 0; // around the wrap
    const sb = new SackScoreboard({ mss, maxRanges: 1000 });
    let una = 0; // offsets from base
    const nxt = N;
    const m: Model = { sacked: new Array<boolean>(N).fill(false), rexmit: new Array<boolean>(N).fill(false) };
    const abs = (x: number): number => (base + x) >>> 0;
    sb.advance(abs(0));
    for (const o of ops) {
      if (o.t === 'sack') {
        const e = Math.min(N, o.s + o.len);
        let fresh = 0;
        for (let k = Math.max(una, o.s); k < e; k++) { if (!m.sacked[k]) fresh++; m.sacked[k] = true; }
        assert.equal(sb.update(abs(una), [blk(abs(o.s), abs(e))], abs(nxt)), o.s >= e ? 0 : fresh);
      } else if (o.t === 'rexmit') {
        const e = Math.min(N, o.s + o.len);
        for (let k = Math.max(una, o.s); k < e; k++) m.rexmit[k] = true;
        sb.markRetransmitted(abs(o.s), e - o.s);
      } else {
        una = Math.min(nxt, una + o.n);
        sb.advance(abs(una));
      }
      // The model's world below SND.UNA is gone.
      const view: Model = { sacked: m.sacked.map((v, k) => k >= una && v), rexmit: m.rexmit.map((v, k) => k >= una && v) };
      for (let k = 0; k < una; k++) view.sacked[k] = true; // acknowledged: neither lost nor in the pipe
      for (let s = una; s < nxt; s++) {
        assert.equal(sb.isSacked(abs(s)), view.sacked[s], `isSacked ${s}`);
        assert.equal(sb.isLost(abs(s)), modelIsLost(view, s, mss), `isLost ${s}`);
      }
      assert.equal(sb.pipe(abs(una), abs(nxt)), modelPipe(view, nxt, mss), 'pipe');
      const want = modelNextSeg(view, nxt, mss, newAllowed);
      const got = sb.nextSeg(abs(una), abs(nxt), newAllowed);
      assert.deepEqual(got, want === undefined ? undefined : { ...want, seq: abs(want.seq) } as typeof got);
    }
  }), { numRuns: 300 });
});
