// `newtos inject` against a running `newtos up` (Ethernet over UDP on loopback, no
// privileges): a TCP connection from a host in this process to up's echo server stays
// open and carries on while tcp and pf of the up host are crashed through its control
// port; `up` prints each restart with its cause and time; the errors a user meets are
// one line each.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createStack } from '../../src/stack/host.js';
import type { NetSocket } from '../../src/app/net-socket.js';
import { freeTcpPort, freeUdpPorts, runCli, startCli } from '../support/cli.js';

async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const t0 = Date.now();
  while (!cond() && Date.now() - t0 < ms) await new Promise((r) => setTimeout(r, 10));
  return cond();
}

test('newtos inject crashes tcp and pf of a running newtos up; an open connection carries on; up prints each restart', { timeout: 90_000 }, async (t) => {
  const children: ChildProcess[] = [];
  t.after(() => { for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL'); });
  const [upPort, peerPort] = await freeUdpPorts(2) as [number, number];
  const statsPort = await freeTcpPort();
  const up = await startCli(['up', '--udp', `127.0.0.1:${upPort}`, '--remote', `127.0.0.1:${peerPort}`, '--ip', '10.9.2.1/24',
    '--echo', '7', '--stats-port', String(statsPort)], /up: up \(eth0/, children);

  const peer = await createStack({
    interfaces: [{ name: 'eth0', addresses: ['10.9.2.2/24'], link: { type: 'udp', mode: 'dgram', local: `127.0.0.1:${peerPort}`, remote: `127.0.0.1:${upPort}` } }],
  });
  t.after(() => peer.close());
  const client: NetSocket = peer.net.connect({ port: 7, host: '10.9.2.1' });
  let got = '';
  let sent = '';
  const troubles: string[] = [];
  client.on('data', (d: Buffer) => { got += d.toString(); });
  client.on('error', (e) => troubles.push(`error ${e.message}`));
  client.on('close', () => troubles.push('close'));
  await once(client, 'connect');
  const echo = async (text: string): Promise<void> => {
    sent += text;
    client.write(text);
    assert.ok(await until(() => got === sent, 15_000), `echo of ${JSON.stringify(text)}: got ${JSON.stringify(got)}`);
  };
  await echo('before;');

  for (const server of ['tcp', 'pf']) {
    const r = await runCli(['inject', server, '--port', String(statsPort)]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, new RegExp(`^${server} crashed \\(Error: injected crash in ${server}\\) → restarted in \\d+ ms \\(generation 2\\)$`, 'm'));
    await echo(`after-${server};`);
  }
  assert.deepEqual(troubles, [], 'the connection saw no error and no close');
  assert.ok(await until(() => /pf crashed/.test(up.output()), 5_000));
  for (const server of ['tcp', 'pf']) {
    assert.match(up.output(), new RegExp(`^up: ${server} crashed \\(Error: injected crash in ${server}\\) → restarted in \\d+ ms \\(generation 2\\)$`, 'm'));
  }

  // A JSON answer for scripts.
  const j = await runCli(['inject', 'sock', '--fault', 'exit', '--port', String(statsPort), '--json']);
  assert.equal(j.code, 0, j.stdout + j.stderr);
  const body = JSON.parse(j.stdout) as { server: string; cause: string; reason: string; generation: number; restartMs: number };
  assert.equal(body.server, 'sock');
  assert.equal(body.cause, 'exit');
  assert.equal(body.reason, 'exit code 70');
  assert.ok(body.restartMs > 0);
  await echo('after-sock;');

  // The errors: an unknown server names the servers; a replica this host does not run; GET refused.
  const unknown = await runCli(['inject', 'tpc', '--port', String(statsPort)]);
  assert.equal(unknown.code, 1);
  assert.equal(unknown.stderr, 'newtos: no server named "tpc" (servers: driver, ip, pf, tcp, udp, sock)\n');
  const replica = await runCli(['inject', 'tcp', '--replica', '2', '--port', String(statsPort)]);
  assert.equal(replica.code, 1);
  assert.match(replica.stderr, /^newtos: replica must be an integer from 1 to 1 \(this host runs one replica\), not 2\n$/);
  const get = await fetch(`http://127.0.0.1:${statsPort}/inject?server=tcp`);
  assert.equal(get.status, 405);
  const oom = await runCli(['inject', 'tcp', '--fault', 'oom', '--port', String(statsPort)]);
  assert.equal(oom.code, 1);
  assert.match(oom.stderr, /limits\.maxHeapMb/);

  client.destroy();
  up.child.kill('SIGTERM');
  const [code] = await once(up.child, 'exit') as [number | null];
  assert.equal(code, 0, up.output());
});

test('newtos inject: usage errors exit 2, nothing listening is one line and exit 1', { timeout: 30_000 }, async () => {
  const port = await freeTcpPort();
  const none = await runCli(['inject', 'tcp', '--port', String(port)]);
  assert.equal(none.code, 1);
  assert.equal(none.stderr, `newtos: cannot reach a newtos host on 127.0.0.1:${port}: connection refused (is \`newtos up --stats-port PORT\` running?)\n`);
  for (const [args, message] of [
    [['inject', '--port', String(port)], /inject needs one server name/],
    [['inject', 'tcp'], /--port must name the stats port/],
    [['inject', 'tcp', '--port', String(port), '--fault', 'melt'], /--fault must be one of crash, hang, exit, oom, not 'melt'/],
    [['inject', 'tcp', '--port', String(port), '--replica', '0'], /--replica must be a positive integer/],
  ] as [string[], RegExp][]) {
    const r = await runCli(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.match(r.stderr, /newtos inject SERVER --port PORT/);
  }
  const help = await runCli(['inject', '--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /newtos inject SERVER --port PORT \[--fault crash\|hang\|exit\|oom\] \[--replica N\]/);
});

// `newtos revive` brings back a server a crash loop had given up: a host whose configuration
// allows one restart (restart.maxRestarts 1) prints "NOT restarted" with the command to run at
// the second crash, and `newtos revive udp --port` has it running again.
test('newtos revive: a server given up after a crash loop runs again; one that has not failed is refused', { timeout: 90_000 }, async (t) => {
  const children: ChildProcess[] = [];
  t.after(() => { for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL'); });
  const [upPort, peerPort] = await freeUdpPorts(2) as [number, number];
  const statsPort = await freeTcpPort();
  const dir = mkdtempSync(join(tmpdir(), 'newtos-revive-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const config = join(dir, 'host.json');
  writeFileSync(config, JSON.stringify({
    name: 'rv', restart: { maxRestarts: 1, windowMs: 600_000 },
    interfaces: [{ name: 'eth0', addresses: ['10.9.4.1/24'], link: { type: 'udp', mode: 'dgram', local: `127.0.0.1:${upPort}`, remote: `127.0.0.1:${peerPort}` } }],
  }));
  const up = await startCli(['up', '--config', config, '--stats-port', String(statsPort)], /rv: up \(/, children);
  const first = await runCli(['inject', 'udp', '--port', String(statsPort)]);
  assert.equal(first.code, 0, first.stderr);
  const second = await runCli(['inject', 'udp', '--port', String(statsPort)]);
  assert.equal(second.code, 1);
  assert.match(second.stderr, /udp was not restarted: 1 restarts within 600000 ms \(crash loop\)/);
  assert.ok(await until(() => /NOT restarted/.test(up.output()), 5_000), up.output());
  assert.match(up.output(), /udp crashed \(Error: injected crash in udp\) → NOT restarted: 1 restarts within 600000 ms \(crash loop; brought back with `newtos revive udp --port PORT`\)/);

  const r = await runCli(['revive', 'udp', '--port', String(statsPort)]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^udp revived \(it had failed: revived after a crash loop \(Error: injected crash in udp\)\) → running again, generation 3, \d+ ms after the death that failed it\n$/);
  assert.ok(await until(() => /udp crashed .* → restarted in \d+ ms \(generation 3\)/.test(up.output()), 5_000), up.output());
  const again = await runCli(['revive', 'udp', '--port', String(statsPort), '--json']);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /udp is running, not failed/);
  const usage = await runCli(['revive', '--port', String(statsPort)]);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /revive needs one server name/);
  const get = await fetch(`http://127.0.0.1:${statsPort}/revive?server=udp`);
  assert.equal(get.status, 405);
  up.child.kill('SIGTERM');
  const [code] = await once(up.child, 'exit') as [number | null];
  assert.equal(code, 0, up.output());
});
