// The I/O bridge: a socket link served by a bridge thread's event loop,
// reached through shared-memory frame pipes and doorbells (src/nic/io-bridge.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { contiguousSlots } from '../../../src/driver/nic/backend.js';
import { BRIDGE_CLOSED, BridgeLink } from '../../../src/driver/nic/io-bridge.js';
import { FramePipe } from '../../../src/driver/nic/frame-pipe.js';
import { DoorbellSleeper, createDoorbell } from '../../../src/substrate/doorbell.js';
import { emitVxlanHeader } from '../../../src/wire/vxlan.js';
import type { InterfaceConfig } from '../../../src/config/stack-config.js';
import { receiveFrames, testFrame, transmitFrames } from '../../support/links.js';

const MAC = Uint8Array.from([0x02, 0, 0, 0, 0, 0x0c]);

async function rawSocket(): Promise<Socket> {
  const s = createSocket('udp4');
  s.bind(0, '127.0.0.1');
  await once(s, 'listening');
  return s;
}

function udpIfc(mode: 'dgram' | 'vxlan', remotePort: number, vni?: number): InterfaceConfig {
  return {
    name: 'eth0', addresses: [], mac: '02:00:00:00:00:0c', mtu: 1500,
    link: { type: 'udp', mode, local: { host: '127.0.0.1', port: 0 }, remote: { host: '127.0.0.1', port: remotePort }, ...(vni === undefined ? {} : { vni }) },
  };
}

test('frame pipe: frames of many sizes go through in order across the wrap; a full pipe refuses', () => {
  const sab = new SharedArrayBuffer(FramePipe.bytesNeeded(1000));
  const producer = new FramePipe(sab, 0, 1000);
  const consumer = new FramePipe(sab, 0, 1000);
  assert.equal(consumer.peekLength(), -1);
  const dst = new Uint8Array(600);
  for (let round = 0; round < 50; round++) {
    const frame = testFrame(MAC, round, 14 + ((round * 97) % 500));
    assert.ok(producer.put(frame));
    const len = consumer.peekLength();
    assert.equal(len, frame.length);
    consumer.copyFrame(len, dst, 3);
    assert.deepEqual(dst.subarray(3, 3 + len), frame);
    consumer.skip(len);
  }
  assert.ok(producer.put(new Uint8Array(600)));
  assert.equal(producer.fits(400), false);
  assert.equal(producer.put(new Uint8Array(400)), false, 'no room: nothing written');
  assert.equal(consumer.peekLength(), 600);
  consumer.skip(600);
  assert.ok(consumer.isEmpty());
});

test('bridged UDP link: frames both ways, the doorbell rings on arrival, close ends the bridge', async (t) => {
  const peer = await rawSocket();
  t.after(() => peer.close());
  const bell = createDoorbell();
  const link = await BridgeLink.open(udpIfc('dgram', peer.address().port), bell);
  let closed = false;
  t.after(async () => { if (!closed) await link.close(); });
  assert.equal(link.kind, 'udp');
  assert.deepEqual(link.mac, MAC);
  assert.equal(link.nextDueMs(), Infinity);

  // Peer → bridge → rx pipe: the bridge rings our doorbell while we wait on it.
  const sleeper = new DoorbellSleeper(bell);
  const frame = testFrame(MAC, 1, 200);
  const addr = /127\.0\.0\.1:(\d+)/.exec(link.name);
  assert.ok(addr !== null, link.name);
  const rung = sleeper.parkAsync(5000, () => link.nextDueMs() === Infinity);
  peer.send(frame, Number(addr[1]), '127.0.0.1');
  assert.equal(await rung, 'woken');
  assert.equal(link.nextDueMs(), 0);
  assert.deepEqual(await receiveFrames(link, 1), [frame]);
  assert.equal(link.nextDueMs(), Infinity);

  // Driver → tx pipe → bridge → peer: exactly the frame.
  const out = Array.from({ length: 30 }, (_, i) => testFrame(MAC, 10 + i, 60 + i * 40));
  const got: Buffer[] = [];
  const all = new Promise<void>((resolve) => peer.on('message', (m: Buffer) => { got.push(m); if (got.length === out.length) resolve(); }));
  await transmitFrames(link, out);
  await all;
  assert.deepEqual(got.map((b) => new Uint8Array(b)), out);

  // Runts and oversize frames are refused on the driver's side and counted.
  const slots = contiguousSlots(new Uint8Array(4096), 2, 2048);
  slots.lengths[0] = 10; slots.lengths[1] = 2000;
  assert.equal(link.transmit(slots, 2), 2);
  await waitFor(() => link.counters.txFrames === out.length);
  const c = link.counters;
  assert.equal(c.rxFrames, 1);
  assert.equal(c.drops['tx-runt'], 1);
  assert.equal(c.drops['tx-oversize'], 1);

  // A datagram from a stranger is dropped in the bridge and the count is visible here.
  const stranger = await rawSocket();
  t.after(() => stranger.close());
  stranger.send(testFrame(MAC, 99, 100), Number(addr[1]), '127.0.0.1');
  await waitFor(() => link.counters.drops['rx-foreign-peer'] === 1);

  await link.close();
  closed = true;
  assert.equal(link.bridgeState, BRIDGE_CLOSED);
});

test('bridged VXLAN link: malformed and foreign-VNI datagrams are counted, good ones delivered', async (t) => {
  const peer = await rawSocket();
  t.after(() => peer.close());
  const link = await BridgeLink.open(udpIfc('vxlan', peer.address().port, 42), createDoorbell());
  t.after(() => link.close());
  const port = Number(/127\.0\.0\.1:(\d+) <->/.exec(link.name)![1]);
  const frame = testFrame(MAC, 5, 300);
  const datagram = (vni: number, f: Uint8Array): Buffer => {
    const b = Buffer.alloc(8 + f.length);
    emitVxlanHeader(b, 0, vni);
    b.set(f, 8);
    return b;
  };
  peer.send(Buffer.from([1, 2, 3]), port, '127.0.0.1'); // shorter than a VXLAN header
  peer.send(datagram(7, frame), port, '127.0.0.1');
  peer.send(datagram(42, frame), port, '127.0.0.1');
  assert.deepEqual(await receiveFrames(link, 1), [frame]);
  await waitFor(() => link.counters.drops['rx-bad-encap'] === 1 && link.counters.drops['rx-wrong-vni'] === 1);
});

test('a bridged link that cannot open rejects with the socket error', async (t) => {
  const taken = await rawSocket();
  t.after(() => taken.close());
  const ifc = udpIfc('dgram', 9);
  const busy: InterfaceConfig = { ...ifc, link: { ...ifc.link, local: { host: '127.0.0.1', port: taken.address().port } } as InterfaceConfig['link'] };
  await assert.rejects(BridgeLink.open(busy, createDoorbell()), (e: Error & { code?: string }) => e.code === 'EADDRINUSE');
});

async function waitFor(cond: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}
