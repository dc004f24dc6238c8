// Regression: an active open must advertise a window anchored at the peer's ISN.
// RCV.ADV was computed when our SYN left (RCV.NXT still 0) and never re-anchored, so
// for about half of all peer ISNs every later window field was garbage and a bulk
// transfer towards the connecting side stalled (found by the two-host http test).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SeededRng } from '../../src/random/rng.js';
import { TcpEngine } from '../../src/tcp/engine.js';
import { TcpFlag, emitTcp, parseTcp } from '../../src/wire/tcp.js';

const A = 0x0a000001;
const B = 0x0a000002;

for (const peerIsn of [0x00001000, 0x40000000, 0x7fff0000, 0x80010000, 0xf0000000, 0xfffffff0]) {
  test(`window after SYN-ACK with peer ISN ${peerIsn.toString(16)} reflects the free receive buffer`, () => {
    const sent: Uint8Array[] = [];
    const engine = new TcpEngine({
      rng: new SeededRng(1),
      allocator: { alloc: (n) => new Uint8Array(n) },
      transmit: (_s, _d, bytes) => { sent.push(bytes.slice()); },
      defaults: { recvBufferSize: 256 * 1024 },
    });
    engine.connect({ localAddr: A, remoteAddr: B, remotePort: 80 }, 0);
    const syn = parseTcp(sent[0]!, A, B, {});
    assert.ok(syn.ok);
    const buf = new Uint8Array(60);
    const n = emitTcp({
      srcPort: 80, dstPort: syn.value.srcPort, seq: peerIsn, ack: (syn.value.seq + 1) >>> 0,
      flags: TcpFlag.SYN | TcpFlag.ACK, window: 65535, mss: 1460, windowScale: 7, sackPermitted: true,
    }, buf, B, A);
    engine.onSegment(B, A, buf.subarray(0, n), 1);
    const ack = parseTcp(sent[sent.length - 1]!, A, B, {});
    assert.ok(ack.ok);
    assert.equal(ack.value.flags & TcpFlag.ACK, TcpFlag.ACK);
    const scale = syn.value.windowScale ?? 0;
    const window = ack.value.window * 2 ** scale;
    assert.ok(window > 200 * 1024 && window <= 256 * 1024, `advertised ${window} bytes (field ${ack.value.window}, scale ${scale})`);
  });
}
