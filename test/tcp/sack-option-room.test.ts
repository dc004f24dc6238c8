import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PASSIVE_SACK, runScript } from './harness.js';

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

test('a full data segment that carries SACK blocks is cut so each piece stays within MSS + 20 bytes of header', () => {
  const h = runScript(PASSIVE_SACK + `
    +0   < . 1001:2001(1000) ack 1 win 65535
    +0   > . 1:1(0) ack 1 <sack 1001:2001>
    +0   < . 3001:4001(1000) ack 1 win 65535
    +0   > . 1:1(0) ack 1 <sack 3001:4001 1001:2001>
    +0   send 1000
    +0   > P. 1:1001(1000) ack 1 <sack 3001:4001 1001:2001>
  `);
  const last = h.sent.at(-1)!;
  assert.equal(last.bytes.length - (last.repr.payload?.length ?? 0), 20 + 4 + 16, 'two SACK blocks: 20 option bytes');
  assert.equal(last.gsoMss, 1000 - 20, 'cut at the MSS less the SACK option');
  for (const size of wireSizes(h)) assert.ok(size <= 1000 + 20, `a ${size}-byte segment exceeds MSS + 20`);
});

test('without SACK blocks a full segment is sent whole', () => {
  const h = runScript(PASSIVE_SACK + `
    +0   send 1000
    +0   > P. 1:1001(1000) ack 1
  `);
  assert.equal(h.sent.at(-1)!.gsoMss, 0);
});
