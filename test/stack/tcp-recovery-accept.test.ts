// TCP crashes while connections to a listener are being opened and accepted (issue 13):
// 30 clients on host b connect at once to an echo server on host a, and a's TCP server
// crashes in the middle of the handshakes and accepts. Every connection that the client
// saw open must work afterwards (its echo comes back intact) or be reset with an error
// the client sees; none may hang, and every connection the server accepted is usable.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createVswitch } from '../../src/driver/nic/vswitch.js';
import { createStack, type Stack } from '../../src/stack/host.js';
import type { NetSocket } from '../../src/app/net-socket.js';

const N = 30;

async function twoHosts(): Promise<[Stack, Stack]> {
  const sw = { descriptor: createVswitch({ ports: 2 }), nextPort: 0 };
  const host = (name: string, ip: string): Promise<Stack> => createStack({
    name, interfaces: [{ name: 'eth0', link: { type: 'vswitch', switch: 'sw0' }, addresses: [ip] }],
  }, { switches: { sw0: sw } });
  return [await host('a', '10.0.0.1/24'), await host('b', '10.0.0.2/24')];
}

/** Connects, then echoes `text`; resolves with what came back or the error code. */
function echoClient(b: Stack, text: string): Promise<string> {
  return new Promise((resolve) => {
    const c: NetSocket = b.net.connect({ port: 7, host: '10.0.0.1' });
    let got = '';
    const timer = setTimeout(() => { c.destroy(); resolve(`timeout after ${JSON.stringify(got)}`); }, 30_000);
    c.on('error', (e: Error & { code?: string }) => { clearTimeout(timer); resolve(`error ${e.code ?? e.message}`); });
    c.on('connect', () => c.write(text));
    c.on('data', (d: Buffer) => {
      got += d.toString();
      if (got.length >= text.length) { clearTimeout(timer); c.end(); resolve(got); }
    });
  });
}

test(`TCP crashes while ${N} connections open to a listener: each works afterwards or is reset, none hangs`, { timeout: 120_000 }, async (t) => {
  const [a, b] = await twoHosts();
  try {
    let accepted = 0;
    const serverErrors: string[] = [];
    const echo = a.net.createServer((s: NetSocket) => {
      accepted++;
      s.on('error', (e: Error & { code?: string }) => serverErrors.push(e.code ?? e.message));
      s.pipe(s);
    });
    await new Promise<void>((r) => echo.listen(7, r));
    const clients = Array.from({ length: N }, (_, i) => echoClient(b, `hello ${i};`));
    // In the middle of the handshakes and accepts: once a third has been accepted.
    while (accepted < N / 3) await new Promise((r) => setImmediate(r));
    const restart = a.inject('tcp', 'crash');
    const results = await Promise.all(clients);
    await restart;
    const ok = results.filter((r, i) => r === `hello ${i};`).length;
    const reset = results.filter((r) => r === 'error ECONNRESET').length;
    const log = a.supervisor.events.filter((e) => e.type === 'log' && e.server === 'tcp' && e.detail?.['event'] === 'restored').map((e) => e.detail);
    t.diagnostic(`echoed ${ok}, reset ${reset}, accepted by the app ${accepted}; successor: ${JSON.stringify(log)}`);
    assert.equal(ok + reset, N, `every client either echoed or was reset: ${JSON.stringify(results)}`);
    assert.ok(ok >= 1, 'connections work after the restart');
    // And the listener takes new connections.
    assert.equal(await echoClient(b, 'after;'), 'after;');
    echo.close();
  } finally {
    await b.close();
    await a.close();
  }
});
