import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createVswitch } from '../../src/driver/nic/vswitch.js';
import { createStack } from '../../src/stack/host.js';
import type { NetSocket } from '../../src/app/net-socket.js';
import { BELL_WORDS } from '../../src/substrate/layout.js';

type WaitAsync = (w: Int32Array, index: number, value: number, timeout?: number) => unknown;

// V8 gives every Atomics.waitAsync with a timeout a delayed task on the thread's platform
// queue, kept until it fires even when a notify ended the wait at once; Node removes fired
// tasks from that queue by a linear search, so timed waits by the thousand per second cost
// the application thread dearly. Its channel from SOCK (a doorbell) parks without one (a ring
// of its own once a second bounds a lost wake-up). The socket waits still have one (see
// FastSocketPort.waitForEvent in src/app/client.ts): not counted here.
test('the application thread parks on its channel without a timeout: no V8 delayed task per park', { timeout: 60_000 }, async () => {
  const atomics = Atomics as unknown as { waitAsync: WaitAsync };
  const original = atomics.waitAsync;
  let timed = 0;
  let untimed = 0;
  atomics.waitAsync = (w, index, value, timeout) => {
    // Doorbells are BELL_WORDS words; socket blocks are larger.
    if (w.buffer.byteLength === BELL_WORDS * 4) { if (timeout === undefined || timeout === Infinity) untimed++; else timed++; }
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
    // Connects: each reply comes over the channel from SOCK, so the channel parks between them.
    const before = { timed, untimed };
    const rounds = 100;
    for (let i = 0; i < rounds; i++) {
      const c = await new Promise<NetSocket>((resolve, reject) => {
        const s = b.net.connect({ port: 7, host: '10.0.0.1' }, () => resolve(s));
        s.once('error', reject);
      });
      await new Promise<void>((resolve) => { c.once('data', () => resolve()); c.write('x'); });
      c.destroy();
    }
    const waits = untimed - before.untimed;
    assert.ok(timed - before.timed <= 5, `doorbell parks with a timeout during ${rounds} connects: ${timed - before.timed}`);
    assert.ok(waits >= rounds / 2, `the channel parked between connects (${waits} parks without a timeout)`);
    server.close();
  } finally {
    atomics.waitAsync = original;
    await b.close();
    await a.close();
  }
});
