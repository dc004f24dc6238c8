// `newtos regroup` against a running `newtos up` (Ethernet over UDP on loopback, no privileges):
// the host, placed 'auto' by the CLI, is moved to the other ring placement and back while it
// runs; `up` prints each move, `top` shows where the servers run, the peer host still answers
// ping through it; a bad placement is a usage error, nothing listening one clear line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { freeTcpPort, freeUdpPorts, runCli, startCli } from '../support/cli.js';
import { until } from '../support/tcp-stream.js';

test('newtos regroup: a running host moves between placements; up prints it, top shows it, ping goes through', { timeout: 90_000 }, async (t) => {
  const children: ChildProcess[] = [];
  t.after(() => { for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL'); });
  const [upPort, peerPort] = await freeUdpPorts(2) as [number, number];
  const statsPort = await freeTcpPort();
  const up = await startCli(['up', '--udp', `127.0.0.1:${upPort}`, '--remote', `127.0.0.1:${peerPort}`, '--ip', '10.9.4.1/24',
    '--stats-port', String(statsPort)], /up: up \(eth0/, children);
  const first = /placement auto → (isolated|grouped)/.exec(up.output())?.[1];
  assert.ok(first !== undefined, up.output());
  const other = first === 'grouped' ? 'isolated' : 'grouped';
  const ping = async (): Promise<void> => {
    const r = await runCli(['ping', '--udp', `127.0.0.1:${peerPort}`, '--remote', `127.0.0.1:${upPort}`, '--ip', '10.9.4.2/24', '-c', '2', '--interval-ms', '100', '10.9.4.1']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
  };
  await ping();
  for (const to of [other, first]) {
    const r = await runCli(['regroup', to, '--port', String(statsPort)]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, new RegExp(`^${to}: \\d+ threads stopped, \\d+ started in \\d+ ms, servers paused \\d+ ms \\(.* → .*\\)$`, 'm'));
    assert.ok(await until(() => new RegExp(`up: regrouped ${to}: `).test(up.output()), 10_000), up.output());
    const top = await runCli(['top', '--port', String(statsPort), '--once', '--interval-ms', '100']);
    assert.equal(top.code, 0, top.stderr);
    assert.match(top.stdout, new RegExp(`^PLACEMENT: ${to} \\(${to === 'isolated' ? 6 : 2} server threads\\)`, 'm'));
    assert.match(top.stdout, /^tcp +running +2|^tcp +running +3/m, 'tcp runs as a later generation');
    await ping();
  }
  const again = await runCli(['regroup', first, '--port', String(statsPort), '--json']);
  assert.equal(again.code, 0, again.stderr);
  assert.equal((JSON.parse(again.stdout) as { stopped: number }).stopped, 0, 'already there: nothing moved');
  const bad = await runCli(['regroup', 'monolithic', '--port', String(statsPort)]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /regroup needs one placement, isolated or grouped, not 'monolithic'/);
});

test('newtos regroup with nothing listening: one line naming the address, exit 1', { timeout: 30_000 }, async () => {
  const port = await freeTcpPort();
  const r = await runCli(['regroup', 'grouped', '--port', String(port)]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, new RegExp(`127\\.0\\.0\\.1:${port}`));
  assert.doesNotMatch(r.stderr, /at .*\.js:\d+/, 'no stack trace');
});
