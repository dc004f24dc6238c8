// `newtos ping --tap` and `newtos up --tap` as a user runs them, against the Linux
// kernel: a persistent TAP device made in a namespace this test creates and given
// the Linux side's address there; the command runs in that namespace and attaches
// to the device. ping gets the kernel's replies; up answers the kernel's ping and
// echoes over TCP to socat. Root only (skipped with the reason otherwise).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { CLI } from '../support/cli.js';
import { createRig, run } from '../support/netns.js';
import { startIn, stop, tapTestUnavailable } from '../support/linux-peer.js';

const why = tapTestUnavailable(['ping', 'socat']);

test('newtos ping --tap and newtos up --tap against the Linux kernel on a persistent TAP device', { skip: why || false, timeout: 90_000 }, async (t) => {
  const rig = createRig(t);
  const ns = await rig.netns();
  const dev = rig.linkName('ntc');
  await rig.ip(ns, 'tuntap', 'add', 'dev', dev, 'mode', 'tap');
  await rig.addr(ns, dev, '10.77.0.1/24');
  await rig.up(ns, dev);

  const ping = await run(['ip', 'netns', 'exec', ns, process.execPath, CLI, 'ping', '--tap', dev, '--ip', '10.77.0.2/24', '-c', '3', '--interval-ms', '50', '10.77.0.1'], { allowFailure: true, timeoutMs: 30_000 });
  assert.equal(ping.code, 0, ping.stdout + ping.stderr);
  assert.match(ping.stdout, /^64 bytes from 10\.77\.0\.1: icmp_seq=1 ttl=64 time=/m);
  assert.match(ping.stdout, /^3 packets transmitted, 3 received, 0% packet loss$/m);

  const children: ChildProcess[] = [];
  t.after(async () => { for (const c of children) await stop(c); });
  const up = await startIn(ns, [process.execPath, CLI, 'up', '--tap', dev, '--ip', '10.77.0.2/24', '--echo', '7'], /up: up \(eth0 10\.77\.0\.2\/24\)/, 20_000);
  children.push(up.child);
  const kernelPing = await rig.exec(ns, ['ping', '-c', '2', '-i', '0.2', '-W', '2', '10.77.0.2'], { allowFailure: true });
  assert.equal(kernelPing.code, 0, kernelPing.stdout + kernelPing.stderr);
  const echo = await rig.exec(ns, ['sh', '-c', "printf 'hello over the tap' | socat -t 3 - TCP:10.77.0.2:7"], { allowFailure: true });
  assert.equal(echo.stdout, 'hello over the tap', echo.stderr);
  up.child.kill('SIGTERM');
  const [code] = await new Promise<[number | null]>((resolve) => up.child.once('exit', (c) => resolve([c])));
  assert.equal(code, 0, up.output());
});
