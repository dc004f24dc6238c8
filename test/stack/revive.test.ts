// A server the crash-loop limit gave up comes back with Stack.revive: PF (in the path of
// every packet: one allow rule) fails after two crashes with restart.maxRestarts 1, the host
// passes no traffic, and once revived a TCP stream that was open all along carries on with
// every byte intact and no error; revive refuses a server that has not failed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createVswitch } from '../../src/driver/nic/vswitch.js';
import { createStack } from '../../src/stack/host.js';
import type { NetSocket } from '../../src/app/net-socket.js';

async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const t0 = Date.now();
  while (!cond() && Date.now() - t0 < ms) await new Promise((r) => setTimeout(r, 10));
  return cond();
}

test('revive: a failed PF comes back and an open TCP stream carries on intact', { timeout: 90_000 }, async (t) => {
  const sw = { descriptor: createVswitch({ ports: 2 }), nextPort: 0 };
  const a = await createStack({
    name: 'a', filter: 'default allow\nallow', restart: { maxRestarts: 1, windowMs: 600_000 },
    interfaces: [{ name: 'eth0', link: { type: 'vswitch', switch: 'sw0' }, addresses: ['10.0.0.1/24'] }],
  }, { switches: { sw0: sw } });
  t.after(() => a.close());
  const b = await createStack({ name: 'b', interfaces: [{ name: 'eth0', link: { type: 'vswitch', switch: 'sw0' }, addresses: ['10.0.0.2/24'] }] }, { switches: { sw0: sw } });
  t.after(() => b.close());

  const rx = createHash('sha256');
  let received = 0;
  const troubles: string[] = [];
  const server = a.net.createServer((s: NetSocket) => {
    s.on('data', (d: Buffer) => { received += d.length; rx.update(d); });
    s.on('error', (e) => troubles.push(`server side: ${e.message}`));
  });
  await new Promise<void>((r) => server.listen(5001, r));
  const c = b.net.connect({ port: 5001, host: '10.0.0.1' });
  c.on('error', (e) => troubles.push(`client side: ${e.message}`));
  await once(c, 'connect');
  const tx = createHash('sha256');
  let sent = 0;
  const send = (n: number): void => {
    const chunk = Buffer.alloc(n);
    for (let i = 0; i < n; i++) chunk[i] = (sent + i) & 0xff;
    tx.update(chunk);
    sent += n;
    c.write(chunk);
  };

  send(200_000);
  assert.ok(await until(() => received === sent, 15_000), `before: ${received}/${sent}`);
  await a.inject('pf', 'crash');
  send(100_000);
  assert.ok(await until(() => received === sent, 15_000), `after one restart: ${received}/${sent}`);
  // The second death within the window is one too many: PF is given up.
  await assert.rejects(a.inject('pf', 'crash'), (e: Error & { code?: string }) => e.code === 'ERR_SERVER_FAILED');
  assert.equal(a.snapshot().servers.find((s) => s.name === 'pf')!.stateName, 'failed');
  await assert.rejects(a.inject('pf', 'crash'), (e: Error & { code?: string }) => e.code === 'ERR_SERVER_FAILED');
  const before = received;
  send(100_000);
  await new Promise((r) => setTimeout(r, 1000));
  assert.ok(received - before < 100_000, `with PF failed the host passes no traffic (${received - before} of 100000 bytes arrived)`);

  const r = await a.revive('pf');
  assert.equal(r.server, 'pf');
  assert.equal(r.cause, 'crash');
  assert.equal(r.generation, 3);
  assert.match(r.reason, /^revived after a crash loop \(Error: injected crash in pf\)$/);
  assert.ok(r.restartMs >= 1000, `timed from the death that failed it (${r.restartMs} ms)`);
  assert.equal(a.snapshot().servers.find((s) => s.name === 'pf')!.stateName, 'running');
  assert.ok(a.supervisor.events.some((e) => e.type === 'revive' && e.server === 'pf'));
  send(100_000);
  assert.ok(await until(() => received === sent, 30_000), `after the revival: ${received}/${sent}`);
  c.end();
  await new Promise((r2) => setTimeout(r2, 200));
  assert.equal(rx.digest('hex'), tx.digest('hex'), 'every byte intact, in order');
  assert.deepEqual(troubles, [], 'the connection saw no error');

  // A fresh window: the next crash restarts it again.
  const again = await a.inject('pf', 'crash');
  assert.equal(again.generation, 4);
  await assert.rejects(a.revive('pf'), (e: Error & { code?: string }) => e.code === 'ERR_INVALID_STATE' && /not failed/.test(e.message));
  await assert.rejects(a.revive('nope'), (e: Error & { code?: string }) => e.code === 'ERR_UNKNOWN_SERVER');
  server.close();
});
