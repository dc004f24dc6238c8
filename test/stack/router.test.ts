// A newtos host as an IPv4 router between two virtual switches (forwarding on), with
// the default offloads: TCP bursts and merged packets it receives are larger than the
// MTU, and must leave it as wire-sized segments (GSO on output, as Linux forwards GRO'd
// packets), not be refused with "fragmentation needed".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createVswitch } from '../../src/driver/nic/vswitch.js';
import { createStack, type Stack } from '../../src/stack/host.js';
import type { NetSocket } from '../../src/app/net-socket.js';

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

async function routed(offloads?: { tso: boolean; gro: boolean }): Promise<{ a: Stack; r: Stack; b: Stack }> {
  const sw0 = { descriptor: createVswitch({ ports: 2 }), nextPort: 0 };
  const sw1 = { descriptor: createVswitch({ ports: 2 }), nextPort: 0 };
  const switches = { sw0, sw1 };
  const extra = offloads === undefined ? {} : { offloads };
  const a = await createStack({
    name: 'a', ...extra, interfaces: [{ name: 'eth0', link: { type: 'vswitch', switch: 'sw0' }, addresses: ['10.1.0.2/24'] }],
    routes: [{ destination: '10.2.0.0/24', gateway: '10.1.0.1' }],
  }, { switches });
  const r = await createStack({
    name: 'r', ...extra, forwarding: true,
    interfaces: [
      { name: 'eth0', link: { type: 'vswitch', switch: 'sw0' }, addresses: ['10.1.0.1/24'] },
      { name: 'eth1', link: { type: 'vswitch', switch: 'sw1' }, addresses: ['10.2.0.1/24'] },
    ],
  }, { switches });
  const b = await createStack({
    name: 'b', ...extra, interfaces: [{ name: 'eth0', link: { type: 'vswitch', switch: 'sw1' }, addresses: ['10.2.0.2/24'] }],
    routes: [{ destination: '10.1.0.0/24', gateway: '10.2.0.1' }],
  }, { switches });
  return { a, r, b };
}

/** `size` random bytes from a to b's echo server and back through the router. */
async function echo(a: Stack, b: Stack, size: number): Promise<boolean> {
  const server = b.net.createServer((s: NetSocket) => s.pipe(s));
  await new Promise<void>((resolve) => server.listen(7, resolve));
  const data = randomBytes(size);
  const chunks: Buffer[] = [];
  const client = a.net.connect({ port: 7, host: '10.2.0.2' });
  const ended = await Promise.race([
    new Promise<boolean>((resolve, reject) => {
      client.on('error', reject);
      client.on('connect', () => client.end(data));
      client.on('data', (c: Buffer) => chunks.push(c));
      client.on('end', () => resolve(true));
    }),
    new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 30_000).unref()),
  ]);
  client.destroy();
  server.close();
  return ended && sha(Buffer.concat(chunks)) === sha(data);
}

for (const offloads of [undefined, { tso: false, gro: true }] as const) {
  test(`a newtos router forwards bulk TCP both ways intact with offloads ${JSON.stringify(offloads ?? 'default')}, re-segmenting what arrived larger than the MTU`, { timeout: 90_000 }, async () => {
    const { a, r, b } = await routed(offloads);
    try {
      assert.equal(await echo(a, b, 2 * 1024 * 1024), true, 'echo through the router intact');
      const ip = r.counters().ip as { txDrops?: Record<string, number> } & Record<string, unknown>;
      assert.equal(ip.txDrops?.['frag-needed'] ?? 0, 0, `no "fragmentation needed" at the router: ${JSON.stringify(ip.txDrops)}`);
      assert.equal(ip['txFragments'], 0, 'TCP is re-segmented, never fragmented');
      assert.ok((ip['forwarded'] as number) > 0);
      await new Promise((res) => setTimeout(res, 300));
      const d = r.driverStats();
      assert.ok(d.gsoBursts + d.tsoBursts > 0, `the router sent bursts on (cut or whole): ${JSON.stringify(d)}`);
    } finally {
      await b.close();
      await r.close();
      await a.close();
    }
  });
}
