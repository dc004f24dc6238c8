// `newtos up --tap --offload on|off` as tcpdump on the TAP sees it: with offloads on
// (the default) newtos's TCP frames reach the kernel with partial checksums ("cksum
// incorrect" in tcpdump -vv) and as super-segments over the MTU; with --offload off
// every frame is MTU-sized with a correct checksum. Root only (skipped with the reason
// otherwise).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { CLI } from '../support/cli.js';
import { createRig } from '../support/netns.js';
import { startIn, stop, tapTestUnavailable } from '../support/linux-peer.js';

const why = tapTestUnavailable(['socat', 'tcpdump']);

test('tcpdump on the TAP: offload on shows partial checksums and super-segments, --offload off neither', { skip: why || false, timeout: 120_000 }, async (t) => {
  const rig = createRig(t);
  const ns = await rig.netns();
  const dev = rig.linkName('nto');
  await rig.ip(ns, 'tuntap', 'add', 'dev', dev, 'mode', 'tap');
  await rig.addr(ns, dev, '10.80.0.1/24');
  await rig.up(ns, dev);
  const children: ChildProcess[] = [];
  t.after(async () => { for (const c of children) await stop(c); });

  /** tcpdump -vv of the frames newtos sends while the kernel fetches 1 MB from its echo. */
  const capture = async (offload: 'on' | 'off'): Promise<string> => {
    const up = await startIn(ns, [process.execPath, CLI, 'up', '--tap', dev, '--ip', '10.80.0.2/24', '--echo', '7', '--offload', offload], /up: up/, 20_000);
    children.push(up.child);
    const dump = spawn('ip', ['netns', 'exec', ns, 'tcpdump', '-l', '-n', '-vv', '-i', dev, 'tcp and src host 10.80.0.2'], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(dump);
    let text = '';
    dump.stdout.on('data', (b: Buffer) => { text += b.toString(); });
    let err = '';
    await new Promise<void>((resolve) => dump.stderr.on('data', (b: Buffer) => { err += b.toString(); if (/listening on/.test(err)) resolve(); }));
    const fetched = await rig.exec(ns, ['sh', '-c', 'head -c 1000000 /dev/zero | socat -t 3 - TCP:10.80.0.2:7 | wc -c'], { allowFailure: true });
    assert.equal(fetched.stdout.trim(), '1000000', `${fetched.stderr} ${up.output()}`);
    dump.kill('SIGINT');
    await once(dump, 'exit');
    await stop(up.child);
    return text;
  };
  const lengths = (dump: string): number[] => [...dump.matchAll(/length (\d+)\)/g)].map((m) => Number(m[1]));

  const on = await capture('on');
  assert.match(on, /cksum 0x[0-9a-f]+ \(incorrect/, 'partial checksums with offloads on');
  assert.ok(lengths(on).some((n) => n > 1500), `super-segments with offloads on: ${Math.max(...lengths(on))}`);

  const off = await capture('off');
  assert.ok(lengths(off).length > 100, off.slice(0, 500));
  assert.doesNotMatch(off, /incorrect/);
  assert.ok(lengths(off).every((n) => n <= 1500), `largest IP datagram ${Math.max(...lengths(off))}`);
});
