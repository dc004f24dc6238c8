// A TIME-WAIT connection whose application has closed it gave its socket slot back; it
// must still outlive a crash of the TCP server for the rest of its 2 MSL (kept in the
// data store, src/tcp/server.ts saveTimeWait): host a closes first, its socket closes,
// a's TCP server crashes, and the successor holds the connection in TIME-WAIT.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createVswitch } from '../../src/driver/nic/vswitch.js';
import { createStack, type Stack } from '../../src/stack/host.js';
import type { NetSocket } from '../../src/app/net-socket.js';
import { until } from '../support/tcp-stream.js';

const timeWaits = (s: Stack): number => {
  const c = s.counters().tcp['connections'] as Record<string, number> | undefined;
  return c?.['time-wait'] ?? 0;
};

test('a TIME-WAIT connection the application has closed survives a TCP crash', { timeout: 60_000 }, async () => {
  const sw = { descriptor: createVswitch({ ports: 2 }), nextPort: 0 };
  const host = (name: string, ip: string): Promise<Stack> => createStack({
    name, interfaces: [{ name: 'eth0', link: { type: 'vswitch', switch: 'sw0' }, addresses: [ip] }],
  }, { switches: { sw0: sw } });
  const a = await host('a', '10.0.0.1/24');
  const b = await host('b', '10.0.0.2/24');
  try {
    // b closes its side when a's FIN arrives: a, which closed first, goes to TIME-WAIT.
    const server = b.net.createServer((s: NetSocket) => { s.resume(); s.on('end', () => s.end()); });
    await new Promise<void>((r) => server.listen(9, r));
    const c: NetSocket = a.net.connect({ port: 9, host: '10.0.0.2' });
    await once(c, 'connect');
    c.end('bye');
    c.resume();
    await once(c, 'close');
    assert.ok(await until(() => timeWaits(a) === 1, 5_000), 'a holds the connection in TIME-WAIT');
    const r = await a.inject('tcp', 'crash');
    assert.equal(r.generation, 2);
    assert.ok(await until(() => timeWaits(a) === 1, 5_000), `the successor holds it too (time-wait: ${timeWaits(a)})`);
    const restored = a.supervisor.events.filter((e) => e.type === 'log' && e.server === 'tcp' && e.detail?.['event'] === 'restored');
    assert.equal(restored.at(-1)?.detail?.['timeWait'], 1);
    server.close();
  } finally {
    await b.close();
    await a.close();
  }
});
