// createStack fails clearly instead of hanging: a UDP link whose local port is taken
// rejects with EADDRINUSE naming the interface and the address (before, the driver was
// restarted again and again and createStack never settled), and the failed start leaves
// no thread behind (the process exits by itself).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { createStack } from '../../src/stack/host.js';
import { freeUdpPorts, scriptFile } from '../support/cli.js';

test('createStack rejects with EADDRINUSE when a UDP link\'s port is in use', { timeout: 60_000 }, async (t) => {
  const [busy, other] = await freeUdpPorts(2) as [number, number];
  const holder = createSocket('udp4');
  holder.bind(busy, '127.0.0.1');
  await once(holder, 'listening');
  t.after(() => holder.close());
  await assert.rejects(createStack({
    interfaces: [{ name: 'wan0', addresses: ['10.9.8.1/24'], link: { type: 'udp', mode: 'dgram', local: `127.0.0.1:${busy}`, remote: `127.0.0.1:${other}` } }],
  }), (e: Error & { code?: string }) => {
    assert.equal(e.code, 'EADDRINUSE');
    assert.match(e.message, new RegExp(`interface wan0 \\(udp dgram link 127\\.0\\.0\\.1:${busy} to 127\\.0\\.0\\.1:${other}\\).*EADDRINUSE`));
    return true;
  });
});

test('after a failed createStack no thread keeps the process alive', { timeout: 60_000 }, async (t) => {
  const [busy, other] = await freeUdpPorts(2) as [number, number];
  const holder = createSocket('udp4');
  holder.bind(busy, '127.0.0.1');
  await once(holder, 'listening');
  t.after(() => holder.close());
  const host = new URL('../../src/stack/host.js', import.meta.url).href;
  const script = `import { createStack } from ${JSON.stringify(host)};
createStack({ interfaces: [{ name: 'eth0', addresses: ['10.9.8.1/24'], link: { type: 'udp', mode: 'dgram', local: '127.0.0.1:${busy}', remote: '127.0.0.1:${other}' } }] })
  .then(() => console.log('started'), (e) => console.log('refused', e.code));`;
  const child = spawn(process.execPath, [scriptFile(t, script)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (b: Buffer) => { out += b.toString(); });
  const [code] = await once(child, 'exit') as [number | null];
  assert.equal(code, 0);
  assert.equal(out, 'refused EADDRINUSE\n');
});
