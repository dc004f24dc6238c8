// QEMU stream framing (4-byte big-endian length, then the frame) over TCP on
// loopback: two newtos links, a raw peer that splits records at every byte,
// a peer that sends garbage lengths, and one-peer-at-a-time listening.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createConnection, type Socket } from 'node:net';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { StreamLink } from '../../../src/driver/nic/stream-link.js';
import { receiveFrames, testFrame, transmitFrames } from '../../support/links.js';

const MAC = Uint8Array.from([0x02, 0, 0, 0, 0, 0x5e]);

function record(frame: Uint8Array): Buffer {
  const b = Buffer.alloc(4 + frame.length);
  b.writeUInt32BE(frame.length, 0);
  b.set(frame, 4);
  return b;
}

async function rawPeer(port: number): Promise<Socket> {
  const s = createConnection({ host: '127.0.0.1', port });
  await once(s, 'connect');
  return s;
}

async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond() && Date.now() < deadline) await sleep(2);
}

test('stream link: listen and connect links exchange frames both ways', async (t) => {
  const server = await StreamLink.open({ mode: 'listen', host: '127.0.0.1', port: 0, mac: MAC });
  t.after(() => server.close());
  const client = await StreamLink.open({ mode: 'connect', host: '127.0.0.1', port: server.localPort() });
  t.after(() => client.close());
  await until(() => server.connected);
  const up = Array.from({ length: 200 }, (_, i) => testFrame(MAC, i, 60 + (i * 37) % 1454));
  await transmitFrames(client, up);
  assert.deepEqual(await receiveFrames(server, up.length), up);
  const down = Array.from({ length: 30 }, (_, i) => testFrame(MAC, 900 + i, 1514));
  await transmitFrames(server, down);
  assert.deepEqual(await receiveFrames(client, down.length), down);
  assert.equal(server.counters.dropped() + client.counters.dropped(), 0);
});

test('stream link: records split at every byte and coalesced are reassembled', async (t) => {
  const link = await StreamLink.open({ mode: 'listen', host: '127.0.0.1', port: 0 });
  t.after(() => link.close());
  const peer = await rawPeer(link.localPort());
  t.after(() => peer.destroy());
  const frames = [testFrame(MAC, 1, 64), testFrame(MAC, 2, 1514), testFrame(MAC, 3, 15)];
  const bytes = Buffer.concat(frames.map(record));
  // First record byte by byte, the rest in one write.
  const cut = 4 + 64;
  for (let i = 0; i < cut; i++) {
    peer.write(bytes.subarray(i, i + 1));
    await sleep(0);
  }
  peer.write(bytes.subarray(cut));
  assert.deepEqual(await receiveFrames(link, 3), frames);
});

test('stream link: the wire format is length then frame (what QEMU -netdev stream expects)', async (t) => {
  const link = await StreamLink.open({ mode: 'listen', host: '127.0.0.1', port: 0 });
  t.after(() => link.close());
  const peer = await rawPeer(link.localPort());
  t.after(() => peer.destroy());
  await until(() => link.connected);
  const frame = testFrame(MAC, 9, 100);
  const got = once(peer, 'data');
  await transmitFrames(link, [frame]);
  const [data] = await got as [Buffer];
  assert.deepEqual(data, record(frame));
});

test('stream link: a garbage length closes the connection (rx-bad-encap); oversized frames are skipped', async (t) => {
  const link = await StreamLink.open({ mode: 'listen', host: '127.0.0.1', port: 0, mtu: 1500 });
  t.after(() => link.close());
  const peer = await rawPeer(link.localPort());
  const ok = testFrame(MAC, 5, 80);
  peer.write(Buffer.concat([record(new Uint8Array(3000)), record(ok)]));
  assert.deepEqual(await receiveFrames(link, 1), [ok]);
  assert.equal(link.counters.drops['rx-oversize'], 1);
  const closed = once(peer, 'close');
  peer.write(Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2, 3]));
  await closed;
  assert.equal(link.counters.drops['rx-bad-encap'], 1);
  await until(() => !link.connected);
  await transmitFrames(link, [ok]);
  assert.equal(link.counters.drops['tx-no-peer'], 1);
  // The next peer is accepted and works.
  const next = await rawPeer(link.localPort());
  t.after(() => next.destroy());
  next.write(record(ok));
  assert.deepEqual(await receiveFrames(link, 1), [ok]);
});

test('stream link: one peer at a time, like QEMU listen', async (t) => {
  const link = await StreamLink.open({ mode: 'listen', host: '127.0.0.1', port: 0 });
  t.after(() => link.close());
  const first = await rawPeer(link.localPort());
  t.after(() => first.destroy());
  await until(() => link.connected);
  const second = await rawPeer(link.localPort());
  await once(second, 'close');
  assert.equal(link.accepted, 1);
  assert.equal(link.refused, 1);
});
