/**
 * The driver crashes while it owns a TAP device, and its successor takes the
 * device over and traffic with the Linux kernel resumes (root; skipped otherwise).
 *
 * The newtos process runs inside a namespace the test made (`ip netns exec`),
 * so the TAP device stays in the namespace the driver opens it in, as with
 * `newtos up --tap`: a successor opening the same name while the dead
 * thread's fd is still open gets EBUSY, and it was open until the process
 * ended (the addon did not close a thread's fds when the thread died).
 *
 *   newtos 10.77.X.2 ── TAP fd ══ DEV 10.77.X.1 (kernel, same namespace)
 *
 * The stack's application thread opens the device and keeps its fd; the driver
 * adopts it. So the successor takes over the same device: the kernel side keeps
 * its ifindex, address and state, and nobody configures it again.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rig } from '../support/netns.js';
import { startIn, tapTestUnavailable } from '../support/linux-peer.js';

const skipReason = tapTestUnavailable(['ping']);

const script = (host: string, dev: string, subnet: number): string => `
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createStack } from ${JSON.stringify(host)};
const sh = promisify(execFile);
const dev = ${JSON.stringify(dev)};
const newtosIp = '10.77.${subnet}.2';
const linuxIp = '10.77.${subnet}.1';
const configure = async () => {
  await sh('ip', ['addr', 'add', linuxIp + '/24', 'dev', dev]);
  await sh('ip', ['link', 'set', dev, 'up']);
};
const ifindex = async () => (await sh('ip', ['-o', 'link', 'show', 'dev', dev])).stdout.split(':')[0];
const kernelPings = async () => {
  const r = await sh('ping', ['-c', '3', '-i', '0.05', '-W', '2', newtosIp]).catch((e) => e);
  return /3 received/.test(r.stdout ?? '') ? 3 : (r.stdout ?? String(r));
};
const stack = await createStack({ name: 'drvtap', interfaces: [{ name: 'eth0', link: { type: 'tap', device: dev }, addresses: [newtosIp + '/24'] }] });
const result = {};
try {
  await configure();
  result.ifindexBefore = await ifindex();
  result.before = { newtos: (await stack.ping(linuxIp, { count: 3, intervalMs: 20, timeoutMs: 3000 })).received, kernel: await kernelPings() };
  stack.supervisor.inject('driver', 'crash');
  await stack.supervisor.whenRunning('driver', 2, 20_000);
  // The successor adopted the same device: no new one, no configuration again.
  result.ifindexAfter = await ifindex();
  let got = 0;
  for (let i = 0; i < 5 && got === 0; i++) got = (await stack.ping(linuxIp, { count: 3, intervalMs: 20, timeoutMs: 2000 })).received;
  result.after = { newtos: got, kernel: await kernelPings() };
} catch (e) {
  result.error = String(e && e.stack || e);
}
result.events = stack.supervisor.events.filter((e) => e.server === 'driver' && ['crash', 'exit', 'restart', 'running', 'failed', 'reaped'].includes(e.type))
  .map((e) => e.type + ' ' + (e.generation ?? '') + ' ' + JSON.stringify(e.detail ?? {}));
result.restarts = stack.snapshot().servers.find((s) => s.name === 'driver').restarts;
console.log('RESULT ' + JSON.stringify(result));
await stack.close();
`;

describe('a driver that owns a TAP device crashes and its successor reopens the device',
  { skip: skipReason === '' ? false : skipReason, timeout: 60_000 }, () => {
    const rig = new Rig();
    const dir = mkdtempSync(join(tmpdir(), 'newtos-drvtap-'));
    after(() => { rig.cleanup(); rmSync(dir, { recursive: true, force: true }); });

    test('ping works both ways before the crash and again after the restart, on the same device with its configuration', async () => {
      const ns = await rig.netns();
      const file = join(dir, 'driver-restart.mjs');
      writeFileSync(file, script(new URL('../../src/stack/host.js', import.meta.url).href, rig.linkName('nt'), randomInt(1, 255)));
      const { child, output } = await startIn(ns, [process.execPath, file], /RESULT .*\n/, 45_000);
      const line = /RESULT (.*)\n/.exec(output())![1]!;
      const r = JSON.parse(line) as { before?: unknown; after?: unknown; error?: string; events: string[]; restarts: number; ifindexBefore?: string; ifindexAfter?: string };
      await new Promise((resolve) => { if (child.exitCode !== null) resolve(null); else child.once('exit', resolve); });
      assert.equal(r.error, undefined, `${r.error ?? ''}\nevents: ${r.events.join('\n')}`);
      assert.deepEqual(r.before, { newtos: 3, kernel: 3 });
      assert.equal(r.restarts, 1, `one restart, no crash loop: ${r.events.join('; ')}`);
      assert.equal(r.ifindexAfter, r.ifindexBefore, 'the same device, kept across the restart');
      assert.deepEqual(r.after, { newtos: 3, kernel: 3 }, `events: ${r.events.join('; ')}`);
    });
  });
