// A server of the assembled stack crashes and the supervisor restarts it, while a
// TCP connection between two hosts on the virtual switch is open: the connection
// carries data again after the restart and ping works. UDP's own restart test
// is in udp.test.ts.
// One pair of hosts for all the cases (each crashes one more server of host a).
// For TCP itself, the last test: its connections carry on (resumed from their
// checkpoints, test/stack/tcp-recovery.test.ts has the transfers), its listeners
// come back, and new connections work both ways.
import { after, before, describe, it, test } from 'node:test';
import assert from 'node:assert/strict';
import { createVswitch } from '../../src/driver/nic/vswitch.js';
import { createStack, type Stack } from '../../src/stack/host.js';
import type { NetServer } from '../../src/app/net-server.js';
import type { NetSocket } from '../../src/app/net-socket.js';
import { sendAndCollect } from '../support/tcp-client.js';

async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const t0 = Date.now();
  while (!cond() && Date.now() - t0 < ms) await new Promise((r) => setTimeout(r, 10));
  return cond();
}

describe('a crashed server of the assembled stack comes back and an open TCP connection carries on', { timeout: 60_000 }, () => {
  let a: Stack | undefined;
  let b: Stack | undefined;
  let echo: NetServer | undefined;
  let client: NetSocket | undefined;
  let got = '';
  let sent = '';

  before(async () => {
    const sw = { descriptor: createVswitch({ ports: 2 }), nextPort: 0 };
    const host = (name: string, ip: string): Promise<Stack> => createStack({
      // One allow rule keeps PF in the path of every packet (an empty filter is not asked).
      name, filter: 'default allow\nallow', interfaces: [{ name: 'eth0', link: { type: 'vswitch', switch: 'sw0' }, addresses: [ip] }],
    }, { switches: { sw0: sw } });
    a = await host('a', '10.0.0.1/24');
    b = await host('b', '10.0.0.2/24');
    echo = a.net.createServer((s: NetSocket) => s.pipe(s));
    await new Promise<void>((resolve) => echo!.listen(7, resolve));
    client = b.net.connect({ port: 7, host: '10.0.0.1' });
    client.on('data', (d: Buffer) => { got += d.toString(); });
    await new Promise<void>((resolve, reject) => { client!.on('connect', resolve); client!.on('error', reject); });
    sent = 'before;';
    client.write(sent);
    assert.ok(await until(() => got === sent, 5_000), `echo before any crash: ${JSON.stringify(got)}`);
  });

  after(async () => {
    client?.destroy();
    echo?.close();
    await b?.close();
    await a?.close();
  });

  for (const server of ['driver', 'ip', 'pf', 'sock'] as const) {
    it(`${server} crashes on host a`, async () => {
      a!.supervisor.inject(server, 'crash');
      await a!.supervisor.whenRunning(server, 2, 20_000);
      sent += `after-${server};`;
      client!.write(`after-${server};`);
      // A segment lost with the dead server is retransmitted (RTO, a few hundred ms here).
      assert.ok(await until(() => got === sent, 10_000), `echo after the restart: ${JSON.stringify(got)}`);
      const ping = await b!.ping('10.0.0.1', { count: 3, intervalMs: 20, timeoutMs: 3000 });
      assert.equal(ping.received, 3, JSON.stringify(ping));
      const restarts = a!.snapshot().servers.find((s) => s.name === server)!.restarts;
      assert.equal(restarts, 1, `${server} restarted once`);
      assert.equal(a!.snapshot().servers.find((s) => s.name === 'tcp')!.restarts, 0);
    });
  }
});

test('TCP crashes: its open connections carry on (one nobody reads from), its listener accepts again, new connections work both ways', { timeout: 60_000 }, async () => {
  const sw = { descriptor: createVswitch({ ports: 2 }), nextPort: 0 };
  const host = (name: string, ip: string): Promise<Stack> => createStack({
    name, interfaces: [{ name: 'eth0', link: { type: 'vswitch', switch: 'sw0' }, addresses: [ip] }],
  }, { switches: { sw0: sw } });
  const a = await host('a', '10.0.0.1/24');
  const b = await host('b', '10.0.0.2/24');
  try {
    const seen: string[] = [];
    let serverSide = 0;
    const echo = a.net.createServer((s: NetSocket) => {
      serverSide++;
      s.on('error', (e: Error & { code?: string }) => seen.push(`a:${e.code ?? e.message}`));
      s.pipe(s);
    });
    await new Promise<void>((resolve) => echo.listen(7, resolve));
    // Two open connections: one the client reads, one nobody has read from yet.
    const reading = b.net.connect({ port: 7, host: '10.0.0.1' });
    let got = '';
    reading.on('data', (d: Buffer) => { got += d.toString(); });
    const idle = b.net.connect({ port: 7, host: '10.0.0.1' });
    for (const c of [reading, idle]) c.on('error', (e: Error & { code?: string }) => seen.push(`b:${e.code ?? e.message}`));
    await Promise.all([reading, idle].map((c) => new Promise<void>((resolve, reject) => { c.once('connect', resolve); c.once('error', reject); })));
    assert.ok(await until(() => serverSide === 2, 5_000));

    a.supervisor.inject('tcp', 'crash');
    await a.supervisor.whenRunning('tcp', 2, 20_000);
    // Resumed from their checkpoints: both connections echo as before, nobody sees an error.
    reading.write('anyone there?');
    assert.ok(await until(() => got === 'anyone there?', 10_000), `echo after the crash: ${JSON.stringify(got)}`);
    let idleGot = '';
    idle.write('hello?');
    idle.on('data', (d: Buffer) => { idleGot += d.toString(); });
    assert.ok(await until(() => idleGot === 'hello?', 10_000), `idle echo after the crash: ${JSON.stringify(idleGot)}`);
    assert.deepEqual(seen, []);
    reading.destroy();
    idle.destroy();

    // The listener is back: a new connection is echoed.
    assert.equal(await sendAndCollect(b, '10.0.0.1', 7, 'after the tcp restart'), 'after the tcp restart');
    // And host a connects out again.
    const back = b.net.createServer((s: NetSocket) => s.pipe(s));
    await new Promise<void>((resolve) => back.listen(9, resolve));
    assert.equal(await sendAndCollect(a, '10.0.0.2', 9, 'from a'), 'from a');
    assert.equal(a.snapshot().servers.find((s) => s.name === 'tcp')!.restarts, 1);
    back.close();
    echo.close();
  } finally {
    await b.close();
    await a.close();
  }
});
