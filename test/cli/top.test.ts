// `newtos top` against a running `newtos up --replicas 2` (Ethernet over UDP on loopback, no
// privileges): one frame (--once) names every server of both replicas with its state and
// restarts, the receive queues (the drained one marked) and the monitor's decision that `up`
// printed; a restart shows in its row; nothing listening is one clear line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { freeTcpPort, freeUdpPorts, runCli, startCli } from '../support/cli.js';

async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const t0 = Date.now();
  while (!cond() && Date.now() - t0 < ms) await new Promise((r) => setTimeout(r, 20));
  return cond();
}

test('newtos top --once: servers of every replica, queues, restarts and the monitor of a running newtos up', { timeout: 90_000 }, async (t) => {
  const children: ChildProcess[] = [];
  t.after(() => { for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL'); });
  const [upPort, peerPort] = await freeUdpPorts(2) as [number, number];
  const statsPort = await freeTcpPort();
  const up = await startCli(['up', '--udp', `127.0.0.1:${upPort}`, '--remote', `127.0.0.1:${peerPort}`, '--ip', '10.9.3.1/24',
    '--replicas', '2', '--placement', 'isolated', '--stats-port', String(statsPort)], /up: up \(eth0/, children);
  // The monitor drains the idle host's second replica about a second after start.
  assert.ok(await until(() => /up: monitor: shrink 2 → 1 replicas/.test(up.output()), 20_000), up.output());
  const inj = await runCli(['inject', 'tcp', '--replica', '2', '--port', String(statsPort)]);
  assert.equal(inj.code, 0, inj.stdout + inj.stderr);

  const r = await runCli(['top', '--port', String(statsPort), '--once', '--interval-ms', '200']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^newtos top — up: 10 servers, 2 replica\(s\) \(1 taking new flows\)/m);
  for (const s of ['driver', 'ip', 'pf', 'tcp', 'udp', 'ip-1', 'pf-1', 'udp-1', 'sock']) {
    assert.match(r.stdout, new RegExp(`^${s} +running +1 +0 `, 'm'), `${s} row`);
  }
  assert.match(r.stdout, /^tcp-1 +running +2 +1 /m, 'the injected crash shows as generation 2, one restart');
  assert.match(r.stdout, /RECEIVE QUEUES \(frames\/s\): q0 \d+ {2}q1 \(draining\) \d+/);
  assert.match(r.stdout, /^ {2}[\d.]+ s: shrink 2 → 1 at \d+ frames\/s$/m);
  // Every thread (isolated: one per server) with the polling mode the thread monitor chose.
  const threads = /^THREADS: (.*)$/m.exec(r.stdout)?.[1] ?? '';
  const modes = threads.split(/ {2}/).map((x) => /^(\S+) (adaptive|sleep|busy)( @core \d+)?$/.exec(x)?.[1]);
  assert.deepEqual(modes.slice().sort(), ['driver', 'ip', 'ip-1', 'pf', 'pf-1', 'sock', 'tcp', 'tcp-1', 'udp', 'udp-1'], threads);
  assert.ok(!r.stdout.includes('\u001b['), '--once prints no terminal control sequences');
});

test('newtos top with nothing listening: one line naming the address, exit 1', { timeout: 30_000 }, async () => {
  const port = await freeTcpPort();
  const r = await runCli(['top', '--port', String(port), '--once']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, new RegExp(`cannot reach a newtos host on 127\\.0\\.0\\.1:${port}: connection refused`));
  assert.doesNotMatch(r.stderr, /at .*\.js:\d+/, 'no stack trace');
});
