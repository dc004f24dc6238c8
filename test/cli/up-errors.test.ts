// What a careless user meets, as the CLI prints it: a link's port in use, a stats port in
// use, bad port flags, a gateway off every subnet, a stats port nobody listens on, --help
// and --version. Every failure is one clear line naming what failed, a non-zero exit
// before anything says "up", and no stack trace; nothing hangs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { freeTcpPort, freeUdpPorts, runCli } from '../support/cli.js';

const noTrace = (s: string): void => { assert.doesNotMatch(s, /^\s+at /m, s); assert.doesNotMatch(s, /TypeError/, s); };

test('a UDP link whose port is in use: up and ping exit 1 naming EADDRINUSE, the interface and the address', { timeout: 90_000 }, async (t) => {
  const [busy, other] = await freeUdpPorts(2) as [number, number];
  const holder = createSocket('udp4');
  holder.bind(busy, '127.0.0.1');
  await once(holder, 'listening');
  t.after(() => holder.close());
  const link = ['--udp', `127.0.0.1:${busy}`, '--remote', `127.0.0.1:${other}`, '--ip', '10.9.4.1/24'];
  for (const args of [['up', ...link], ['ping', ...link, '-c', '1', '10.9.4.2']]) {
    const r = await runCli(args);
    assert.equal(r.code, 1, `${args[0]}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, new RegExp(`^newtos: .*interface eth0 .*EADDRINUSE 127\\.0\\.0\\.1:${busy}`, 'm'));
    assert.doesNotMatch(r.stdout, /up \(|PING/);
    noTrace(r.stderr);
  }
});

test('--stats-port in use: up exits 1 naming the flag and the port, before "up"', { timeout: 60_000 }, async (t) => {
  const port = await freeTcpPort();
  const holder = createServer().listen(port, '127.0.0.1');
  await once(holder, 'listening');
  t.after(() => holder.close());
  const [a, b] = await freeUdpPorts(2) as [number, number];
  const r = await runCli(['up', '--udp', `127.0.0.1:${a}`, '--remote', `127.0.0.1:${b}`, '--ip', '10.9.5.1/24', '--echo', '7', '--stats-port', String(port)]);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stderr, new RegExp(`^newtos: --stats-port ${port}: cannot listen on 127\\.0\\.0\\.1:${port}: the port is already in use$`, 'm'));
  assert.doesNotMatch(r.stdout, /up \(/);
  noTrace(r.stderr);
});

test('bad flags are refused at parsing, naming the flag (exit 2, nothing started)', { timeout: 60_000 }, async () => {
  const link = ['--udp', '127.0.0.1:1', '--remote', '127.0.0.1:2', '--ip', '10.9.6.1/24'];
  for (const [args, message] of [
    [['up', ...link, '--echo', 'abc'], /^newtos: --echo must be a port from 1 to 65535, not 'abc'$/m],
    [['up', ...link, '--echo', '99999'], /^newtos: --echo must be a port from 1 to 65535, not '99999'$/m],
    [['up', ...link, '--stats-port', '99999'], /^newtos: --stats-port must be a port from 1 to 65535, not '99999'$/m],
    [['up', ...link, '--http', '.', '--echo', '80'], /^newtos: --echo 80: --http serves tcp port 80 already/m],
    [['up', ...link, '--http', '/no/such/dir'], /^newtos: --http needs a directory/m],
    [['up', ...link, '--gw', '10.9.7.1'], /^newtos: --gw: 10\.9\.7\.1 is outside every local subnet \(10\.9\.6\.1\/24\)/m],
    [['ping', ...link, '--gw', '192.168.0.1', '10.9.6.2'], /^newtos: --gw: 192\.168\.0\.1 is outside/m],
    [['up', ...link, '--offload', 'maybe'], /^newtos: --offload must be on or off, not 'maybe'$/m],
    [['up', ...link, '--offload', 'on'], /^newtos: --offload on needs a --tap link/m],
    [['stats', '--port', '99999'], /^newtos: --port must name the stats port/m],
  ] as [string[], RegExp][]) {
    const r = await runCli(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, message);
    assert.equal(r.stdout, '');
    noTrace(r.stderr);
  }
});

test('stats and capture with nothing on the port: one line, exit 1, no stack trace', { timeout: 60_000 }, async () => {
  const port = await freeTcpPort();
  for (const args of [['stats', '--port', String(port)], ['stats', '--port', String(port), '--prometheus'], ['capture', '--port', String(port), '--out', '/dev/null', '--count', '1']]) {
    const r = await runCli(args);
    assert.equal(r.code, 1, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
    assert.equal(r.stderr, `newtos: cannot reach a newtos host on 127.0.0.1:${port}: connection refused (is \`newtos up --stats-port PORT\` running?)\n`);
  }
});

test('--help and -h print each command\'s usage and exit 0; --version and -V print the version', { timeout: 60_000 }, async () => {
  for (const command of ['demo', 'up', 'ping', 'stats', 'capture']) {
    for (const flag of ['--help', '-h']) {
      const r = await runCli([command, flag]);
      assert.equal(r.code, 0, `${command} ${flag}: ${r.stderr}`);
      assert.match(r.stdout, new RegExp(`^usage:\\n  newtos ${command} `));
      assert.equal(r.stderr, '');
    }
  }
  const { version } = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  for (const flag of ['--version', '-V']) {
    const r = await runCli([flag]);
    assert.equal(r.code, 0);
    assert.equal(r.stdout, `${version}\n`);
  }
});
