// The TCP server core (src/tcp/server.ts) in one thread and virtual time (server-rig.ts).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TcpServerRig, streamBytes, LOOP_MAX_PARK_MS } from './server-rig.js';

describe('tcp server: output that found the pool empty', () => {
  it('is retried within a few ms of the buffers coming back, with no message to wake the server', async () => {
    const rig = await TcpServerRig.create({ tcpPoolBuffers: 8, connection: { noDelay: true } });
    const slot = rig.connect();
    rig.exchange();
    assert.ok(rig.peerConn >= 0, 'handshake completed');
    const total = 30_000;
    // The driver keeps the buffers of what it transmitted for now (e.g. a TAP write that waits).
    rig.holdBuffers = true;
    assert.equal(rig.appWrite(slot, streamBytes(0, total)), total);
    const firstBurst = rig.toPeer.length;
    assert.equal(firstBurst, 8, 'the 8-buffer pool ran dry mid-window');
    // The peer ACKs the burst while the driver still holds the buffers: the ACKs'
    // output finds the pool empty again, and now nothing is in flight — no ACK,
    // no retransmission timer will run the output.
    rig.exchange();
    assert.equal(rig.toPeer.length, 0);
    assert.ok(rig.peerReceived.length < total);
    const got = rig.peerReceived.length;
    // The driver gives the buffers back: pool state words only, no message to TCP.
    rig.now += 0.5;
    rig.holdBuffers = false;
    rig.returnHeldBuffers();
    // Well before the loop's heartbeat would poll anyway.
    rig.runUntil(rig.now + 5);
    assert.ok(rig.peerReceived.length > got,
      `no retry within 5 ms of the buffers coming back (peer still at ${rig.peerReceived.length} bytes; the loop's ${LOOP_MAX_PARK_MS} ms heartbeat would be the only wake-up)`);
    // Everything arrives, intact and in order.
    rig.runUntil(rig.now + 2_000);
    assert.equal(rig.peerReceived.length, total);
    assert.deepEqual(Uint8Array.from(rig.peerReceived), streamBytes(0, total));
  });
});
