// Two newtos hosts joined by an Ethernet-over-UDP link (QEMU dgram format) on
// loopback: the driver reaches its socket through an I/O bridge thread.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { createStack, type Stack } from '../../src/stack/host.js';
import type { NetSocket } from '../../src/app/net-socket.js';

const SIZE = 4 * 1024 * 1024;

/** Two distinct free UDP ports on 127.0.0.1 (bound, read, released). */
async function freePorts(): Promise<[number, number]> {
  const a = createSocket('udp4');
  const b = createSocket('udp4');
  a.bind(0, '127.0.0.1'); b.bind(0, '127.0.0.1');
  await Promise.all([once(a, 'listening'), once(b, 'listening')]);
  const ports: [number, number] = [a.address().port, b.address().port];
  a.close(); b.close();
  return ports;
}

function sha(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

test('two hosts over a UDP dgram link: a 4 MB TCP transfer arrives intact; an idle driver parks', { timeout: 60_000 }, async (t) => {
  const [pa, pb] = await freePorts();
  const host = (name: string, ip: string, local: number, remote: number): Promise<Stack> => createStack({
    name,
    interfaces: [{
      name: 'eth0', addresses: [ip],
      link: { type: 'udp', mode: 'dgram', local: `127.0.0.1:${local}`, remote: `127.0.0.1:${remote}` },
    }],
  });
  const a = await host('a', '10.9.0.1/24', pa, pb);
  t.after(() => a.close());
  const b = await host('b', '10.9.0.2/24', pb, pa);
  t.after(() => b.close());

  const data = randomBytes(SIZE);
  const server = a.net.createServer((s: NetSocket) => s.end(data));
  await new Promise<void>((resolve) => server.listen(5001, resolve));
  t.after(() => server.close());
  const chunks: Buffer[] = [];
  await new Promise<void>((resolve, reject) => {
    const c = b.net.connect({ port: 5001, host: '10.9.0.1' });
    c.on('error', reject);
    c.on('data', (d: Buffer) => chunks.push(d));
    c.on('end', () => { c.end(); resolve(); });
  });
  const got = Buffer.concat(chunks);
  assert.equal(got.length, SIZE);
  assert.equal(sha(got), sha(data));

  // The link counters, published by the driver from the bridge's figures.
  await sleep(200);
  const [la] = a.linkStats();
  const [lb] = b.linkStats();
  assert.equal(la!.iface, 'eth0');
  assert.ok(la!.txBytes > SIZE && lb!.rxBytes > SIZE, `tx ${la!.txBytes} B, rx ${lb!.rxBytes} B`);
  // (The kernel may drop a datagram the socket buffer had no room for: not counted by us.)
  assert.ok(lb!.rxFrames <= la!.txFrames && lb!.rxFrames > 0.99 * la!.txFrames, `a sent ${la!.txFrames} frames, b received ${lb!.rxFrames}`);

  // Idle: the driver must park until a frame comes (no 1 ms polling). With
  // the loop's longest park of 50 ms that is ~10 parks in half a second;
  // polling the link would be hundreds.
  await sleep(200);
  const driverParks = (s: Stack): number => s.snapshot().servers.find((x) => x.name === 'driver')!.parks;
  const before = driverParks(a);
  await sleep(500);
  const parks = driverParks(a) - before;
  assert.ok(parks < 60, `idle driver parked ${parks} times in 500 ms`);
});

test('two hosts over a QEMU stream link (length-prefixed frames on TCP): 1 MB each way through echo', { timeout: 60_000 }, async (t) => {
  const [port] = await freePorts(); // a free UDP port number is very likely free for TCP too; EADDRINUSE would fail loudly
  // Remote port 0: a listens (as QEMU's -netdev socket,listen=); b connects.
  const a = await createStack({
    name: 'a', interfaces: [{ name: 'eth0', addresses: ['10.9.1.1/24'], link: { type: 'udp', mode: 'stream', local: `127.0.0.1:${port}`, remote: '127.0.0.1:0' } }],
  });
  t.after(() => a.close());
  const b = await createStack({
    name: 'b', interfaces: [{ name: 'eth0', addresses: ['10.9.1.2/24'], link: { type: 'udp', mode: 'stream', local: '127.0.0.1:0', remote: `127.0.0.1:${port}` } }],
  });
  t.after(() => b.close());
  const server = a.net.createServer((s: NetSocket) => s.pipe(s));
  await new Promise<void>((resolve) => server.listen(7, resolve));
  t.after(() => server.close());
  const data = randomBytes(1024 * 1024);
  const chunks: Buffer[] = [];
  await new Promise<void>((resolve, reject) => {
    const c = b.net.connect({ port: 7, host: '10.9.1.1' });
    c.on('error', reject);
    c.on('connect', () => c.end(data));
    c.on('data', (d: Buffer) => chunks.push(d));
    c.on('end', () => resolve());
  });
  assert.equal(sha(Buffer.concat(chunks)), sha(data));
});
