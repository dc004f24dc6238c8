import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createVswitch } from '../../src/driver/nic/vswitch.js';
import { createStack } from '../../src/stack/host.js';
import type { NetSocket } from '../../src/app/net-socket.js';

type WaitAsync = (w: Int32Array, index: number, value: number, timeout?: number) => unknown;

// V8 gives every Atomics.waitAsync with a timeout a delayed task on the thread's platform
// queue, kept until it fires even when a notify ended the wait at once; Node removes fired
// tasks from that queue by a linear search. The application thread waits once per socket
// event, so a timeout per wait piled up tasks by the million under load (64 connections of
// request/response stalled the thread for minutes after a few minutes of traffic).
test('the application thread waits for socket events and its channel without a timeout: no V8 delayed task per wait', { timeout: 60_000 }, async () => {
  const atomics = Atomics as unknown as { waitAsync: WaitAsync };
  const original = atomics.waitAsync;
  let timed = 0;
  let untimed = 0;
  atomics.waitAsync = (w, index, value, timeout) => {
    if (timeout === undefined || timeout === Infinity) untimed++; else timed++;
    return original.call(Atomics, w, index, value, timeout);
  };
  const sw = { descriptor: createVswitch({ ports: 2, mtu: 1500 }), nextPort: 0 };
  const host = (name: string, ip: string): ReturnType<typeof createStack> => createStack({
    name, placement: 'monolithic', interfaces: [{ name: 'eth0', link: { type: 'vswitch', switch: 'sw0' }, addresses: [ip] }],
  }, { switches: { sw0: sw } });
  const a = await host('a', '10.0.0.1/24');
  const b = await host('b', '10.0.0.2/24');
  try {
    const server = a.net.createServer((s: NetSocket) => { s.setNoDelay(true); s.on('data', (d: Buffer) => s.write(d)); });
    await new Promise<void>((resolve) => server.listen(7, resolve));
    const c = await new Promise<NetSocket>((resolve, reject) => {
      const s = b.net.connect({ port: 7, host: '10.0.0.1' }, () => resolve(s));
      s.once('error', reject);
    });
    c.setNoDelay(true);
    const before = { timed, untimed };
    const rounds = 500;
    for (let i = 0; i < rounds; i++) await new Promise<void>((resolve) => { c.once('data', () => resolve()); c.write('x'); });
    const waits = untimed - before.untimed;
    assert.ok(timed - before.timed <= 5, `waits with a timeout during ${rounds} round trips: ${timed - before.timed}`);
    assert.ok(waits >= rounds / 2, `the round trips waited (${waits} waits without a timeout)`);
    c.destroy();
    server.close();
  } finally {
    atomics.waitAsync = original;
    await b.close();
    await a.close();
  }
});
