import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PASSIVE_SACK, SEND_FIVE, runScript } from './harness.js';

// RFC 9293 §3.7.1: a segment's options come out of its data. SND.MSS (here 1000, no
// timestamps) leaves no room for SACK blocks, so a data segment that carries them must be
// cut smaller, or it exceeds the path MTU (with DF set: dropped at every hop, resent forever).

/** Every on-wire segment the engine's buffers turn into: header + at most gsoMss (or all) data. */
function wireSizes(h: ReturnType<typeof runScript>): number[] {
  return h.sent.flatMap((s) => {
    const hl = s.bytes.length - (s.repr.payload?.length ?? 0);
    const data = (s.repr.payload?.length ?? 0);
    if (s.gsoMss === 0) return [hl + data];
    const out: number[] = [];
    for (let at = 0; at < data; at += s.gsoMss) out.push(hl + Math.min(s.gsoMss, data - at));
    return out;
  });
}

test('a full-sized retransmission that carries SACK blocks is cut so each piece stays within MSS + 20 bytes of header', () => {
  // Five segments out, then the peer's data arrives out of order (we hold it and SACK it),
  // then three duplicate ACKs: the fast retransmission of a full segment carries our SACK block.
  const h = runScript(PASSIVE_SACK + SEND_FIVE + `
    +5   < . 1001:2001(1000) ack 1 win 65535
    +0   > . 5001:5001(0) ack 1 <sack 1001:2001>
    +5   < . 1:1(0) ack 1 win 65535 <sack 1001:2001>
    +0   < . 1:1(0) ack 1 win 65535 <sack 1001:3001>
    +0   < . 1:1(0) ack 1 win 65535 <sack 1001:4001>
    +0   > . 1:1001(1000) ack 1 <sack 1001:2001>
  `);
  const last = h.sent.at(-1)!;
  assert.equal(last.bytes.length - (last.repr.payload?.length ?? 0), 20 + 12, 'one SACK block: 12 option bytes');
  assert.equal(last.gsoMss, 1000 - 12, 'cut at the MSS less the SACK option');
  for (const size of wireSizes(h)) assert.ok(size <= 1000 + 20, `a ${size}-byte segment exceeds MSS + 20`);
});

test('without SACK blocks a full segment is sent whole', () => {
  const h = runScript(PASSIVE_SACK + `
    +0   send 1000
    +0   > P. 1:1001(1000) ack 1
  `);
  assert.equal(h.sent.at(-1)!.gsoMss, 0);
});

test('while SACK blocks are carried, data is sized to the smaller room: whole segments, no short piece after each', () => {
  const h = runScript(PASSIVE_SACK + `
    +0   < . 1001:2001(1000) ack 1 win 65535
    +0   > . 1:1(0) ack 1 <sack 1001:2001>
    +0   nodelay
    +0   send 1960
    +0   > . 1:989(988) ack 1 <sack 1001:2001>
    +0   > P. 989:1961(972) ack 1 <sack 1001:2001>
  `);
  assert.deepEqual(h.sent.slice(-2).map((s) => s.gsoMss), [0, 0], 'neither needed cutting');
});
