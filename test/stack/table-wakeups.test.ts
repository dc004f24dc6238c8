// Many sockets at once over the tables' one wake-up each way (src/abi/table-events.ts,
// src/app/socket-events.ts): TCP connections and UDP sockets between two hosts exchange
// messages of random sizes, each waiting for its echo before the next; every echo arrives
// whole, on every placement, and the wake-ups are counted by the tables.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createVswitch } from '../../src/driver/nic/vswitch.js';
import { createStack, type Stack } from '../../src/stack/host.js';
import type { NetSocket } from '../../src/app/net-socket.js';

const CONNS = 16;
const ROUNDS = 150;

async function twoHosts(placement: 'isolated' | 'grouped' | 'monolithic'): Promise<[Stack, Stack]> {
  const sw = { descriptor: createVswitch({ ports: 2 }), nextPort: 0 };
  const host = (name: string, ip: string): Promise<Stack> => createStack({
    name, placement, interfaces: [{ name: 'eth0', link: { type: 'vswitch', switch: 'sw0' }, addresses: [ip] }],
  }, { switches: { sw0: sw } });
  return [await host('a', '10.0.0.1/24'), await host('b', '10.0.0.2/24')];
}

/** One TCP connection: ROUNDS messages, each echoed whole before the next goes. */
async function tcpRounds(b: Stack, port: number): Promise<number> {
  const c = b.net.connect({ port, host: '10.0.0.1' });
  c.setNoDelay(true);
  await new Promise<void>((resolve, reject) => { c.once('connect', resolve); c.once('error', reject); });
  let ok = 0;
  for (let r = 0; r < ROUNDS; r++) {
    const msg = randomBytes(1 + (r * 7919) % 3000);
    const got: Buffer[] = [];
    let len = 0;
    const echoed = new Promise<void>((resolve, reject) => {
      const onData = (d: Buffer): void => {
        got.push(d);
        len += d.length;
        if (len >= msg.length) { c.off('data', onData); c.off('error', reject); resolve(); }
      };
      c.on('data', onData);
      c.once('error', reject);
    });
    c.write(msg);
    await echoed;
    if (Buffer.concat(got).equals(msg)) ok++;
  }
  c.end();
  return ok;
}

/** One UDP socket: ROUNDS datagrams, each echoed before the next goes (a lost one is sent again). */
async function udpRounds(b: Stack, port: number): Promise<number> {
  const s = b.dgram.createSocket('udp4');
  await new Promise<void>((resolve) => s.bind(0, () => resolve()));
  let ok = 0;
  for (let r = 0; r < ROUNDS; r++) {
    const msg = randomBytes(1 + (r * 104729) % 1400);
    const echo = await new Promise<Buffer>((resolve) => {
      const resend = setInterval(() => s.send(msg, port, '10.0.0.1'), 500);
      s.once('message', (m: Buffer) => { clearInterval(resend); resolve(m); });
      s.send(msg, port, '10.0.0.1');
    });
    if (echo.equals(msg)) ok++;
  }
  s.close();
  return ok;
}

for (const placement of ['isolated', 'grouped', 'monolithic'] as const) {
  test(`table wake-ups (${placement}): ${CONNS} TCP connections and ${CONNS} UDP sockets, ${ROUNDS} echoed messages each, all whole`, { timeout: 120_000 }, async () => {
    const [a, b] = await twoHosts(placement);
    try {
      const server = a.net.createServer((s: NetSocket) => { s.setNoDelay(true); s.pipe(s); s.on('error', () => undefined); });
      await new Promise<void>((resolve) => server.listen(7, resolve));
      const udp = [];
      for (let i = 0; i < CONNS; i++) {
        const u = a.dgram.createSocket('udp4');
        await new Promise<void>((resolve) => u.bind(9000 + i, () => resolve()));
        u.on('message', (m: Buffer, ri: { port: number; address: string }) => u.send(m, ri.port, ri.address));
        udp.push(u);
      }
      const before = b.socketStats();
      const results = await Promise.all([
        ...Array.from({ length: CONNS }, () => tcpRounds(b, 7)),
        ...Array.from({ length: CONNS }, (_, i) => udpRounds(b, 9000 + i)),
      ]);
      assert.deepEqual(results, new Array<number>(2 * CONNS).fill(ROUNDS), 'every echo whole');
      const after = b.socketStats();
      // Counted (by the tables). Not compared with the operations: when every event finds the
      // other side asleep (a slow run), a round trip may cost more wake-ups than data operations.
      assert.ok(after.serverWakeMessages > before.serverWakeMessages, 'the servers woke the application now and then');
      assert.equal(after.lateWakes, 0, 'no wait ended by its timeout with its word changed');
      server.close();
      for (const u of udp) u.close();
    } finally {
      await b.close();
      await a.close();
    }
  });
}
