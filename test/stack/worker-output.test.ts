// Several stacks in one process add no listener to process.stdout / process.stderr (each
// server thread's output used to be piped into them, ~7 pipes a stack, so a fourth pipe
// from the application warned MaxListenersExceededWarning, as the README's example did),
// and what a server thread prints still reaches the process's stdout.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { createStack } from '../../src/stack/host.js';
import { createVswitch } from '../../src/driver/nic/vswitch.js';
import { scriptFile } from '../support/cli.js';

const EVENTS = ['unpipe', 'error', 'close', 'finish', 'drain', 'end'];

test('three stacks: no listener on process.stdout/stderr, no warning when the app pipes into stdout', { timeout: 90_000 }, async (t) => {
  const warnings: Error[] = [];
  const onWarning = (w: Error): void => { warnings.push(w); };
  process.on('warning', onWarning);
  t.after(() => process.off('warning', onWarning));
  const count = (): number => EVENTS.reduce((n, e) => n + process.stdout.listenerCount(e) + process.stderr.listenerCount(e), 0);
  const before = count();
  const sw = { descriptor: createVswitch({ ports: 3 }), nextPort: 0 };
  const stacks: Awaited<ReturnType<typeof createStack>>[] = [];
  for (let i = 1; i <= 3; i++) {
    stacks.push(await createStack({ interfaces: [{ name: 'eth0', link: { type: 'vswitch', switch: 'sw' }, addresses: [`10.0.0.${i}/24`] }] }, { switches: { sw } }));
  }
  t.after(async () => { for (const s of stacks) await s.close(); });
  assert.equal(count(), before, 'listeners added to process.stdout/stderr by the stacks');
  // What the README's example does: pipe a response into process.stdout (here with nothing in it).
  const app = new PassThrough();
  app.pipe(process.stdout, { end: false });
  app.unpipe(process.stdout);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(warnings.map((w) => `${w.name}: ${w.message}`), []);
});

test('a server thread\'s console output reaches the process\'s stdout', { timeout: 60_000 }, async (t) => {
  const supervisor = new URL('../../src/substrate/supervisor.js', import.meta.url).href;
  const server = fileURLToPath(new URL('../support/chatty-server.js', import.meta.url));
  const script = `import { Supervisor } from ${JSON.stringify(supervisor)};
const sup = await Supervisor.start({ servers: [{ name: 'chatty', module: ${JSON.stringify(server)}, options: {} }], channels: [] });
await new Promise((r) => setTimeout(r, 200));
await sup.stop();`;
  const child = spawn(process.execPath, [scriptFile(t, script)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (b: Buffer) => { out += b.toString(); });
  child.stderr.on('data', (b: Buffer) => { err += b.toString(); });
  const [code] = await once(child, 'exit') as [number | null];
  assert.equal(code, 0, err);
  assert.match(out, /^chatty server thread says hello on stdout$/m);
  assert.match(err, /^chatty server thread says hello on stderr$/m);
});

test('a host whose threads are unref()\'d lets the process exit though its threads\' output is forwarded', { timeout: 60_000 }, async (t) => {
  const index = new URL('../../src/index.js', import.meta.url).href;
  const script = `import { createStack, createVswitch } from ${JSON.stringify(index)};
const sw = createVswitch({ ports: 2 });
const a = await createStack({ interfaces: [{ name: 'eth0', link: { type: 'vswitch', switch: 'sw' }, addresses: ['10.0.0.1/24'] }] }, { switches: { sw } });
a.unref();
console.log('unref');`;
  const child = spawn(process.execPath, [scriptFile(t, script)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (b: Buffer) => { out += b.toString(); });
  child.stderr.on('data', (b: Buffer) => { err += b.toString(); });
  // Bounded: a process the threads hold is killed and the test says so.
  const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  const [code, signal] = await once(child, 'exit') as [number | null, string | null];
  clearTimeout(killer);
  assert.equal(signal, null, `the process did not exit by itself within 20 s (stdout: ${out})`);
  assert.equal(code, 0, err);
  assert.match(out, /^unref$/m);
});
