// `newtos up --tap NAME` for a device that does not exist creates it (as QEMU does), and
// says that it is down with no address and which commands configure the Linux side;
// once the user runs them, the kernel reaches the host. A persistent device that exists
// but is down gets the one command it needs. `--offload off` on a TAP still works end
// to end (no virtio-net header). Root only (skipped with the reason otherwise).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { CLI } from '../support/cli.js';
import { createRig, run } from '../support/netns.js';
import { startIn, stop, tapTestUnavailable } from '../support/linux-peer.js';

const why = tapTestUnavailable(['ping']);

test('newtos up --tap on a missing device says it created it and how to configure it; a down device is named', { skip: why || false, timeout: 90_000 }, async (t) => {
  const rig = createRig(t);
  const ns = await rig.netns();
  const dev = rig.linkName('ntn');
  const children: ChildProcess[] = [];
  t.after(async () => { for (const c of children) await stop(c); });

  const up = await startIn(ns, [process.execPath, CLI, 'up', '--tap', dev, '--ip', '10.79.0.2/24', '--offload', 'off'], /up: up \(eth0 10\.79\.0\.2\/24\)/, 20_000);
  children.push(up.child);
  const note = new RegExp(`newtos: created TAP device ${dev}; it is down with no address .*run: (ip addr add 10\\.79\\.0\\.1/24 dev ${dev} && ip link set ${dev} up)`);
  const m = note.exec(up.output());
  assert.ok(m !== null, up.output());
  // The commands it printed, run as printed, make the host reachable.
  await rig.exec(ns, ['sh', '-c', m[1]!]);
  const kernelPing = await rig.exec(ns, ['ping', '-c', '2', '-i', '0.2', '-W', '2', '10.79.0.2'], { allowFailure: true });
  assert.equal(kernelPing.code, 0, kernelPing.stdout + kernelPing.stderr);
  await stop(up.child);

  // A persistent device, down: ping --tap says so (and, the device being down, gets no reply).
  const down = rig.linkName('ntd');
  await rig.ip(ns, 'tuntap', 'add', 'dev', down, 'mode', 'tap');
  const r = await run(['ip', 'netns', 'exec', ns, process.execPath, CLI, 'ping', '--tap', down, '--ip', '10.79.1.2/24', '-c', '1', '--timeout-ms', '300', '10.79.1.1'], { allowFailure: true, timeoutMs: 30_000 });
  assert.match(r.stderr, new RegExp(`newtos: TAP device ${down} is down; for Linux to reach 10\\.79\\.1\\.2, run: ip link set ${down} up`));
});
