// The TCP server core (src/tcp/server.ts) in one thread and virtual time (server-rig.ts).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ServerFlag } from '../../src/abi/socket-block.js';
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

/**
 * The lost wake-up at connection open: the server publishes Connected and the
 * application, in its own thread, writes at once, before the server's next
 * poll. TX must already be armed then (the app kicks only when S_TX_ARMED is
 * set), because with nothing in flight no ACK will come to run the output.
 * The rig stops between the message that opened the connection and the poll.
 * Only an active open has that window: the app learns its slot from the
 * CONNECT_REPLY and watches the block's flags, while an accepted slot reaches
 * the app with ACCEPTED, published after the poll (those cases check that a
 * write right after accept is sent all the same).
 */
describe('tcp server: data written the moment the connection opens is sent', () => {
  const REQUEST = 300;
  const cases: readonly { name: string; noDelay: boolean; passive: boolean; early?: boolean }[] = [
    { name: 'active open (connect), written during SYN-SENT, Nagle on', noDelay: false, passive: false, early: true },
    { name: 'active open (connect), Nagle on', noDelay: false, passive: false },
    { name: 'active open (connect), noDelay', noDelay: true, passive: false },
    { name: 'passive open (accept), Nagle on', noDelay: false, passive: true },
    { name: 'passive open (accept), noDelay', noDelay: true, passive: true },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const rig = await TcpServerRig.create({ connection: { noDelay: c.noDelay } });
      let slot = -1;
      let wroteAt: 'connected' | 'never' = 'never'; // 'connected': written (at Connected, or before it in SYN-SENT)
      const appWritesOnConnected = (): void => {
        if (c.passive) slot = rig.acceptedSlots()[0] ?? -1;
        if (slot < 0 || wroteAt !== 'never') return;
        if ((rig.block(slot).serverFlags() & ServerFlag.Connected) === 0) return;
        assert.equal(rig.appWrite(slot, streamBytes(0, REQUEST)), REQUEST);
        wroteAt = 'connected';
      };
      if (c.passive) {
        rig.listen(8080);
        rig.peerConnect(8080);
      } else {
        slot = rig.connect();
        if (c.early === true) {
          // The app has its slot (CONNECT_REPLY) and writes before the SYN-ACK.
          assert.equal(rig.appWrite(slot, streamBytes(0, REQUEST)), REQUEST);
          wroteAt = 'connected';
        }
      }
      // Move segments both ways; the app acts between each delivery and the poll after it.
      for (let k = 0; k < 20; k++) {
        const a = rig.deliverToPeer();
        const b = rig.deliverToServer(appWritesOnConnected);
        // A passive open's slot reaches the app only with ACCEPTED, which the loop publishes after the poll.
        appWritesOnConnected();
        if (a === 0 && b === 0) break;
      }
      assert.equal(wroteAt, 'connected', 'the app saw Connected');
      // The peer sends nothing: only the server's own wake-ups may move the request.
      rig.runUntil(rig.now + 1_000);
      assert.equal(rig.peerReceived.length, REQUEST, 'the request written at Connected reached the peer');
    });
  }
});

/**
 * The other side of the same gap, later in a connection: TX is disarmed while
 * data is in flight (the coming ACK runs the output, which reads the ring). The
 * ACK for everything arrives, its output finds the ring empty, and only then
 * the app writes: no kick (disarmed), nothing in flight, so no ACK will come.
 * The poll after that message must see the waiting bytes and send them.
 */
describe('tcp server: data written while the last ACK is being processed is sent', () => {
  it('Nagle on, the app writes between the ACK that empties the flight and the poll', async () => {
    const rig = await TcpServerRig.create();
    const slot = rig.connect();
    rig.exchange();
    assert.ok(rig.peerConn >= 0);
    // A first request: armed at open, so the write kicks and it goes out.
    assert.equal(rig.appWrite(slot, streamBytes(0, 1000)), 1000);
    assert.equal(rig.deliverToPeer(), 1);
    assert.equal(Atomics.load(rig.block(slot).ctrl, 4 /* S_TX_ARMED */), 0, 'disarmed while the request is in flight');
    // The peer's (delayed) ACK for it; the app writes again just as it is processed.
    if (rig.toServer.length === 0) {
      rig.now = rig.peer.pollAt();
      assert.ok(Number.isFinite(rig.now), 'the peer has a delayed ACK pending');
      rig.peer.onTimer(rig.now);
    }
    assert.equal(rig.toServer.length, 1, 'one ACK from the peer');
    let wrote = false;
    rig.deliverToServer(() => {
      assert.equal(rig.appWrite(slot, streamBytes(1000, 300)), 300, 'no kick: TX is not armed');
      wrote = true;
    });
    assert.ok(wrote, 'the peer ACKed');
    rig.runUntil(rig.now + 1_000);
    assert.equal(rig.peerReceived.length, 1300, 'the second write reached the peer');
    assert.deepEqual(Uint8Array.from(rig.peerReceived), streamBytes(0, 1300));
  });
});
