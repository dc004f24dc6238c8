// After stack.close() nothing of the stack keeps the process alive, even with sockets the
// application never closed: a socket waiting on its event word holds a ref'd timer, and
// before abandonSockets() such a process never exited (3 runs in 5 hung).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const script = (host: string, vswitch: string): string => `
import { createVswitch } from ${JSON.stringify(vswitch)};
import { createStack } from ${JSON.stringify(host)};
const sw = { descriptor: createVswitch({ ports: 2 }), nextPort: 0 };
const mk = (name, ip) => createStack({ name, interfaces: [{ name: 'eth0', link: { type: 'vswitch', switch: 'sw0' }, addresses: [ip] }] }, { switches: { sw0: sw } });
const a = await mk('a', '10.0.0.1/24');
const b = await mk('b', '10.0.0.2/24');
const server = a.net.createServer((s) => { s.on('data', (d) => s.end(d)); });
await new Promise((r) => server.listen(9, r));
let open = 0;
for (let i = 0; i < 20; i++) {
  await new Promise((resolve, reject) => {
    const c = b.net.connect({ port: 9, host: '10.0.0.1' });
    c.on('error', reject);
    c.on('connect', () => c.write('hello ' + i));
    c.on('data', () => undefined);
    c.on('end', () => { c.end(); resolve(); });
  });
}
// One more connection left open on both sides, a read pending on each.
await new Promise((resolve) => { const c = b.net.connect({ port: 9, host: '10.0.0.1' }); c.on('connect', resolve); c.on('data', () => undefined); c.on('error', () => undefined); open++; });
server.close();
await b.close();
await a.close();
console.log('closed, open sockets left:', open);
`;

// A socket destroyed while it waits on its event word (here the client, destroyed with a
// read pending; its peer echoes through pipe()): the wait held its keep-alive until its 60 s
// timeout, and the process lingered that long after everything was closed.
const destroyedScript = (host: string, vswitch: string): string => `
import { createVswitch } from ${JSON.stringify(vswitch)};
import { createStack } from ${JSON.stringify(host)};
const sw = { descriptor: createVswitch({ ports: 2 }), nextPort: 0 };
const mk = (name, ip) => createStack({ name, interfaces: [{ name: 'eth0', link: { type: 'vswitch', switch: 'sw0' }, addresses: [ip] }] }, { switches: { sw0: sw } });
const a = await mk('a', '10.0.0.1/24');
const b = await mk('b', '10.0.0.2/24');
const server = a.net.createServer((s) => s.pipe(s));
await new Promise((r) => server.listen(7, r));
const c = b.net.connect({ port: 7, host: '10.0.0.1' });
c.on('data', () => undefined);
await new Promise((r) => c.on('connect', r));
c.write('x');
await new Promise((r) => setTimeout(r, 200));
c.destroy();
server.close();
await b.close();
await a.close();
console.log('closed after a destroy');
`;

const cases = [
  { name: 'with sockets the app left open', script, says: /closed, open sockets left: 1/ },
  { name: 'with a socket destroyed while it waited for data', script: destroyedScript, says: /closed after a destroy/ },
];

for (const c of cases) test(`the process exits after stack.close(), ${c.name}`, { timeout: 60_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'newtos-close-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'close.mjs');
  writeFileSync(file, c.script(
    new URL('../../src/stack/host.js', import.meta.url).href,
    new URL('../../src/driver/nic/vswitch.js', import.meta.url).href,
  ));
  const child = spawn(process.execPath, [file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { out += d.toString(); });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  // Generous: the script itself takes a few seconds; a hang never ends.
  const hung = new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 40_000).unref());
  const r = await Promise.race([exited, hung]);
  if (r === 'hung') child.kill('SIGKILL');
  assert.notEqual(r, 'hung', `the process did not exit after stack.close():\n${out}`);
  assert.equal(r, 0, out);
  assert.match(out, c.says);
});
