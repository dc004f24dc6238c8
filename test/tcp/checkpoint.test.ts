// The TCB checkpoint a restarted TCP server resumes from (src/tcp/checkpoint.ts): what
// the successor takes over from the predecessor's control block.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ByteRing } from '../../src/abi/byte-ring.js';
import { CheckpointArea } from '../../src/abi/tcb-checkpoint.js';
import { restoreTcb, writeCheckpoint } from '../../src/tcp/checkpoint.js';
import { DEFAULT_CONNECTION_OPTIONS, type CongestionAlgorithm } from '../../src/tcp/config.js';
import { TcpState } from '../../src/tcp/state.js';
import { Tcb } from '../../src/tcp/tcb.js';
import { Harness, runScript } from './harness.js';

function tcb(congestion: CongestionAlgorithm, rings: { send: ByteRing; recv: ByteRing; tag: number }): Tcb {
  const t = new Tcb(1, { ...DEFAULT_CONNECTION_OPTIONS, congestion }, { minRtoMs: 200, maxRtoMs: 60_000, initialRtoMs: 1000 }, 16, 0x0a000001, 80, 0x0a000002, 40000, rings);
  t.state = TcpState.Established;
  t.sndMss = 1460;
  t.cc.setMss(1460);
  return t;
}

for (const congestion of ['cubic', 'newreno'] as const) {
  test(`a resumed connection (${congestion}) keeps the ssthresh its predecessor learnt, with the restart window as cwnd`, () => {
    const ring = (): ByteRing => new ByteRing(new ArrayBuffer(ByteRing.bytesNeeded(65536)), 0, 65536);
    const rings = { send: ring(), recv: ring(), tag: 0 };
    const area = new CheckpointArea(new ArrayBuffer(CheckpointArea.bytesNeeded(1)), 0, 1);
    const before = tcb(congestion, rings);
    const iw = before.cc.cwnd;
    // A loss with 200 KB in flight: ssthresh comes down from "arbitrarily high".
    before.cc.onCongestionEvent(1000, 200_000);
    before.cc.onRecoveryEnd(1100);
    const learnt = before.cc.ssthresh;
    assert.ok(Number.isFinite(learnt) && learnt < 200_000);
    writeCheckpoint(area, 0, before, 0, { now: 1200, mono: 1200 });
    const after = tcb(congestion, rings);
    restoreTcb(after, area, 0, area.committedCopy(0), { clock: { now: 5, mono: 1210 }, msl: 30_000, peerFinPublished: false });
    assert.equal(after.cc.ssthresh, learnt);
    assert.equal(after.cc.cwnd, iw, 'the restart window');
  });
}

test('a connection established but not yet accepted when TCP died is offered to accept() again by the successor', () => {
  const h = runScript(`
    0    listen
    0    < S 0:0(0) win 65535 <mss 1460>
    0    > S. 0:0(0) ack 1
    +5   < . 1:1(0) ack 1 win 65535
    +0   event incoming
  `);
  // The predecessor dies before anyone accepted: its checkpoint says established, not accepted.
  const conns = (h.engine as unknown as { conns: { all(): readonly (Tcb | undefined)[] } }).conns.all();
  const before = conns.find((c) => c !== undefined && c.state === TcpState.Established)!;
  assert.equal(before.accepted, false);
  const area = new CheckpointArea(new ArrayBuffer(CheckpointArea.bytesNeeded(1)), 0, 1);
  writeCheckpoint(area, 0, before, 0, { now: h.now, mono: h.now });

  const next = new Harness();
  next.now = h.now;
  for (const l of h.engine.listenerParams()) next.engine.listen(l);
  const ring = (): ByteRing => new ByteRing(new ArrayBuffer(ByteRing.bytesNeeded(65536)), 0, 65536);
  const id = next.engine.restore({ send: ring(), recv: ring(), tag: 0 },
    (t) => restoreTcb(t, area, 0, area.committedCopy(0), { clock: { now: h.now, mono: h.now }, msl: 30_000, peerFinPublished: false }), next.now);
  assert.deepEqual(next.events.map((e) => e.type), ['incoming'], 'the listener says a connection is ready');
  const listener = h.engine.listenerParams()[0]!.id;
  assert.equal(next.engine.accept(listener), id, 'accept() returns the resumed connection');
  assert.equal(next.engine.accept(listener), -1);
  assert.equal(next.engine.info(id).state, 'ESTABLISHED');
});

// The sender's SACK scoreboard is part of the checkpoint: a successor resending from SND.UNA
// skips what the peer holds already, instead of resending it and waiting for the peer's next
// ACKs to SACK it again.
test('a resumed connection keeps its SACK scoreboard: the ranges the peer SACKed above SND.UNA, the lowest CK_MAX_SACKED of them', () => {
  const ring = (): ByteRing => new ByteRing(new ArrayBuffer(ByteRing.bytesNeeded(1 << 20)), 0, 1 << 20);
  const rings = { send: ring(), recv: ring(), tag: 0 };
  const area = new CheckpointArea(new ArrayBuffer(CheckpointArea.bytesNeeded(1)), 0, 1);
  const before = tcb('cubic', rings);
  before.sackEnabled = true;
  const una = 1_000_000;
  before.sndUna = una; before.sndNxt = una + 200 * 1460; before.sndMax = before.sndNxt; before.sndBufSeq = una;
  // The peer SACKed every other segment above a lost first one: 20 ranges (CK_MAX_SACKED is 16).
  const blocks = Array.from({ length: 20 }, (_, k) => ({ start: una + (2 * k + 1) * 1460, end: una + (2 * k + 2) * 1460 }));
  for (let k = 0; k < blocks.length; k += 4) before.scoreboard.update(una, blocks.slice(k, k + 4), before.sndMax);
  assert.equal(before.scoreboard.sackedRangeCount, 20);
  writeCheckpoint(area, 0, before, 0, { now: 1200, mono: 1200 });
  const after = tcb('cubic', rings);
  restoreTcb(after, area, 0, area.committedCopy(0), { clock: { now: 5, mono: 1210 }, msl: 30_000, peerFinPublished: false });
  assert.equal(after.sndUna, una);
  assert.equal(after.sndNxt, una, 'the successor resends from SND.UNA');
  assert.equal(after.scoreboard.sackedRangeCount, 16);
  for (let k = 0; k < 16; k++) assert.deepEqual(after.scoreboard.sackedRange(k), [blocks[k]!.start, blocks[k]!.end]);
  assert.equal(after.scoreboard.sackedBytes, 16 * 1460);
  assert.equal(after.scoreboard.highestSacked, blocks[15]!.end);

  // Without SACK negotiated nothing is restored.
  const plain = tcb('cubic', rings);
  plain.sndUna = una; plain.sndNxt = una + 4 * 1460; plain.sndMax = plain.sndNxt;
  writeCheckpoint(area, 0, plain, 0, { now: 1300, mono: 1300 });
  const plainAfter = tcb('cubic', rings);
  restoreTcb(plainAfter, area, 0, area.committedCopy(0), { clock: { now: 5, mono: 1310 }, msl: 30_000, peerFinPublished: false });
  assert.equal(plainAfter.scoreboard.sackedBytes, 0);
});
