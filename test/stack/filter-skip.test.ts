// A packet filter that decides nothing is not asked (issue 16): with no `filter`, an empty
// one or `default allow` alone, IP sends no verdict request per packet (two thread hops
// each way saved); one rule puts PF back in the path of every packet.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createVswitch } from '../../src/driver/nic/vswitch.js';
import { createStack, filterDecides, type Stack } from '../../src/stack/host.js';
import type { NetSocket } from '../../src/app/net-socket.js';
import { until } from '../support/tcp-stream.js';

test('filterDecides: only rule sets that can refuse something', () => {
  for (const t of [undefined, '', '  \n', 'default allow', '# nothing\ndefault allow\n']) assert.equal(filterDecides(t), false, JSON.stringify(t));
  for (const t of ['default drop', 'allow in proto tcp', 'default allow\nallow', 'default allow\ndrop in proto udp']) assert.equal(filterDecides(t), true, t);
});

async function echoed(filter: string | undefined): Promise<{ requests: number; pfIn: number }> {
  const sw = { descriptor: createVswitch({ ports: 2 }), nextPort: 0 };
  const host = (name: string, ip: string): Promise<Stack> => createStack({
    name, ...(filter !== undefined ? { filter } : {}), interfaces: [{ name: 'eth0', link: { type: 'vswitch', switch: 'sw0' }, addresses: [ip] }],
  }, { switches: { sw0: sw } });
  const a = await host('a', '10.0.0.1/24');
  const b = await host('b', '10.0.0.2/24');
  try {
    const server = a.net.createServer((s: NetSocket) => s.pipe(s));
    await new Promise<void>((r) => server.listen(7, r));
    const c = b.net.connect({ port: 7, host: '10.0.0.1' });
    let got = '';
    c.on('data', (d: Buffer) => { got += d.toString(); });
    await new Promise<void>((r, j) => { c.once('connect', r); c.once('error', j); });
    c.write('hello through the filter');
    assert.ok(await until(() => got === 'hello through the filter', 15_000), got);
    c.destroy();
    await new Promise((r) => setTimeout(r, 100)); // counters are published every ~20 ms
    const ip = a.counters().ip;
    return { requests: Number(ip['verdictRequests']), pfIn: a.snapshot().servers.find((s) => s.name === 'pf')!.msgsIn };
  } finally {
    await b.close();
    await a.close();
  }
}

test('no filter: IP asks PF nothing while a connection echoes; one allow rule: every packet is asked', { timeout: 60_000 }, async () => {
  const none = await echoed(undefined);
  assert.deepEqual(none, { requests: 0, pfIn: 0 });
  assert.deepEqual(await echoed('default allow'), { requests: 0, pfIn: 0 });
  const one = await echoed('default allow\nallow');
  assert.ok(one.requests >= 6, `verdict requests ${one.requests}`);
  assert.equal(one.pfIn, one.requests, 'PF took every request');
});
