import { test } from 'node:test';
import assert from 'node:assert/strict';
import { transfer, type LinkConfig } from './sim.js';
import { TSO_MAX_BYTES, type ConnectionOptions } from '../../src/tcp/config.js';

// Two engines over a simulated link in virtual time: every transfer must arrive
// intact (SHA-256 of the byte stream) and both sides must close cleanly.
// A failure prints the seed and link: replay with transfer(seed, bytes, link, conn).

interface Case { name: string; seed: number; mb: number; link: Partial<LinkConfig>; conn?: Partial<ConnectionOptions>; tso?: boolean }

const cases: Case[] = [];
const MB = 1 << 20;
let seed = 100;
for (const loss of [0, 0.01, 0.02, 0.05, 0.1, 0.15, 0.2]) {
  for (const reorder of [0, 0.1]) {
    for (const sack of [true, false]) {
      // Fewer bytes where loss makes virtual time (not CPU) long; the sweep still moves tens of MB.
      const mb = loss <= 0.02 ? 8 : loss <= 0.05 ? 4 : loss <= 0.1 ? 2 : 1;
      cases.push({
        name: `loss ${loss * 100}% reorder ${reorder * 100}% ${sack ? 'SACK' : 'NewReno'}`,
        seed: seed++, mb, link: { loss, reorder, duplicate: 0.01, corrupt: 0.005 }, conn: { sack },
      });
    }
  }
}
cases.push({ name: 'no timestamps, no window scaling, 64 KiB buffers', seed: seed++, mb: 4, link: { loss: 0.02, reorder: 0.05 }, conn: { timestamps: false, windowScaling: false, recvBufferSize: 65535, sendBufferSize: 65536 } });
cases.push({ name: 'newreno congestion control', seed: seed++, mb: 4, link: { loss: 0.02 }, conn: { congestion: 'newreno' } });
cases.push({ name: 'small buffers (8 KiB) and MSS 536', seed: seed++, mb: 1, link: { loss: 0.05, reorder: 0.1 }, conn: { recvBufferSize: 8192, sendBufferSize: 8192, mss: 536 } });
cases.push({ name: 'long fat pipe: 50 ms delay, 1 Gbit/s, 4 MiB buffers', seed: seed++, mb: 16, link: { delayMs: 50, bandwidth: 1e6, queueLimit: 2000, loss: 0.001 }, conn: { recvBufferSize: 4 * MB, sendBufferSize: 4 * MB } });
cases.push({ name: 'heavy duplication and corruption', seed: seed++, mb: 2, link: { duplicate: 0.2, corrupt: 0.1 } });

// TSO: the sender hands out bursts of up to 64 KiB that the link cuts into MSS segments
// (the driver's software GSO), with Linux's unlimited slow-start byte counting.
for (const loss of [0, 0.02, 0.1]) {
  cases.push({
    name: `TSO bursts, loss ${loss * 100}% reorder 10%`, seed: seed++, mb: loss <= 0.02 ? 8 : 2, tso: true,
    link: { loss, reorder: 0.1, duplicate: 0.01, corrupt: 0.005 }, conn: { abcLimit: 0, recvBufferSize: MB, sendBufferSize: MB },
  });
}

// BBR (draft-cardwell-iccrg-bbr-congestion-control-00) with its delivery rate
// estimator and pacing, through the same kinds of links.
for (const [name, link, conn, tso] of [
  ['loss 2% reorder 10% SACK', { loss: 0.02, reorder: 0.1, duplicate: 0.01, corrupt: 0.005 }, {}, false],
  ['loss 5% reorder 25% NewReno (no SACK)', { loss: 0.05, reorder: 0.25, duplicate: 0.01 }, { sack: false }, false],
  ['long fat pipe, loss 1%', { delayMs: 50, bandwidth: 1e6, queueLimit: 2000, loss: 0.01 }, { recvBufferSize: 4 * MB, sendBufferSize: 4 * MB }, false],
  ['TSO bursts, loss 2%, shallow queue', { loss: 0.02, queueLimit: 30 }, { abcLimit: 0, recvBufferSize: MB, sendBufferSize: MB }, true],
] as const) {
  cases.push({ name: `BBR, ${name}`, seed: seed++, mb: 4, link, conn: { congestion: 'bbr', ...conn }, tso });
}

let total = 0;
for (const c of cases) {
  test(`sim: ${c.mb} MB, ${c.name}`, () => {
    const r = transfer(c.seed, c.mb * MB, c.link, c.conn, c.tso === true ? { tsoMaxBytes: TSO_MAX_BYTES } : {});
    total += r.bytes;
    assert.ok(r.ok, `FAILED seed=${c.seed} link=${JSON.stringify(c.link)} conn=${JSON.stringify(c.conn)}: `
      + `received ${r.bytes}/${c.mb * MB} virtual ${r.virtualMs.toFixed(0)} ms, hashes ${r.sentHash.slice(0, 8)}/${r.recvHash.slice(0, 8)}, `
      + `last events ${r.events.join(' | ')}`);
    if (c.link.corrupt) assert.ok(r.dropsBadChecksum > 0, 'corrupted segments were caught by the checksum');
    if (c.tso === true) assert.ok(r.bursts > 0 && r.segments > 2 * r.bursts, `TSO bursts were sent and cut (${r.bursts} bursts, ${r.segments} segments)`);
    // segmentsOut counts what went on the wire, a TSO burst as the segments it is cut into
    // (as retransmits do, and Linux's OutSegs): the two are comparable.
    assert.equal(r.segmentsOut, r.sentSegments, 'segments counted as sent = segments the link carried from A');
  });
}

test('sim: BBR paces: no burst much above its send quantum, where CUBIC sends its window at once', () => {
  // The receiving application stops reading for 100 ms: the window closes, and when it
  // reopens the sender may send a whole window at once (no ACK clock to spread it).
  const link = { delayMs: 20, bandwidth: 1e5, queueLimit: 1000, readerPauseAtMs: 150, readerPauseMs: 100 };
  const conn = { recvBufferSize: 256 * 1024, sendBufferSize: 4 * MB };
  const bbr = transfer(7, 4 * MB, link, { ...conn, congestion: 'bbr' });
  const cubic = transfer(7, 4 * MB, link, { ...conn, congestion: 'cubic' });
  assert.ok(bbr.ok && cubic.ok);
  // The quantum is 1 ms of data at the pacing rate (at most 64 KiB); a pace timer firing
  // late may let one more quantum go (pacing.ts slack).
  assert.ok(bbr.maxBurstBytes <= 2 * 65536, `BBR burst ${bbr.maxBurstBytes}`);
  assert.ok(cubic.maxBurstBytes > 2 * 65536, `CUBIC burst ${cubic.maxBurstBytes} (the check can fail)`);
});

test('sim: BBR with TSO bursts fills a long fat pipe as fast as without (its STARTUP is not cut short)', () => {
  // 100 ms RTT, 1 Gbit/s, 1 % loss: bursts of two segments acknowledged in halves once gave
  // ACKs with no rate sample that each started a round, and STARTUP ended at ~4 Mbit/s
  // (7-10 s of virtual time against 1.7-2.1 s without TSO).
  const link = { delayMs: 50, bandwidth: 1e6, queueLimit: 2000, loss: 0.01 };
  const conn = { congestion: 'bbr' as const, recvBufferSize: 4 * MB, sendBufferSize: 4 * MB };
  for (const seed of [1, 2]) {
    const plain = transfer(seed, 8 * MB, link, conn);
    const tso = transfer(seed, 8 * MB, link, { ...conn, abcLimit: 0 }, { tsoMaxBytes: TSO_MAX_BYTES });
    assert.ok(plain.ok && tso.ok);
    assert.ok(tso.bursts > 0);
    assert.ok(tso.virtualMs <= 1.5 * plain.virtualMs, `seed ${seed}: TSO ${tso.virtualMs.toFixed(0)} ms of virtual time, without ${plain.virtualMs.toFixed(0)} ms`);
  }
});

test('sim: the sweep moved tens of megabytes', () => {
  assert.ok(total >= 40 * MB, `${total} bytes`);
});
