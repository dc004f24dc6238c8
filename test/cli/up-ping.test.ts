// `newtos up` and `newtos ping` with their link given as flags: Ethernet over UDP
// in QEMU's dgram format and in VXLAN's, and QEMU's stream format over TCP, between
// two processes on loopback (no privileges). ping prints what ping(8) prints and exits as it does; a TCP
// client in this process reaches `up`'s echo server over the same kind of link.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createStack } from '../../src/stack/host.js';
import { freeTcpPort, freeUdpPorts, runCli, startCli } from '../support/cli.js';
import { sendAndCollect } from '../support/tcp-client.js';

function stopAll(children: ChildProcess[]): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
}

test('newtos up --udp (QEMU dgram) answers newtos ping and serves TCP echo; ping exits 0, 1 or 2 as ping(8)', { timeout: 60_000 }, async (t) => {
  const children: ChildProcess[] = [];
  t.after(() => stopAll(children));
  const [upPort, pingPort] = await freeUdpPorts(2) as [number, number];
  const up = await startCli(['up', '--udp', `127.0.0.1:${upPort}`, '--remote', `127.0.0.1:${pingPort}`, '--ip', '10.9.0.1/24', '--echo', '7'], /up: up \(eth0 10\.9\.0\.1\/24\)/, children);

  const link = ['--udp', `127.0.0.1:${pingPort}`, '--remote', `127.0.0.1:${upPort}`, '--ip', '10.9.0.2/24'];
  const ok = await runCli(['ping', ...link, '-c', '3', '--interval-ms', '50', '10.9.0.1']);
  assert.equal(ok.code, 0, ok.stdout + ok.stderr);
  const lines = ok.stdout.split('\n');
  assert.equal(lines[0], 'PING 10.9.0.1 56 data bytes');
  for (const seq of [1, 2, 3]) {
    assert.ok(lines.some((l) => new RegExp(`^64 bytes from 10\\.9\\.0\\.1: icmp_seq=${seq} ttl=64 time=\\d+\\.\\d{3} ms$`).test(l)), `reply ${seq} in:\n${ok.stdout}`);
  }
  assert.match(ok.stdout, /^--- 10\.9\.0\.1 ping statistics ---$/m);
  assert.match(ok.stdout, /^3 packets transmitted, 3 received, 0% packet loss$/m);
  assert.match(ok.stdout, /^rtt min\/avg\/max\/mdev = [\d.]+\/[\d.]+\/[\d.]+\/[\d.]+ ms$/m);

  // Nobody has 10.9.0.77: no reply, exit 1.
  const none = await runCli(['ping', ...link, '-c', '2', '--interval-ms', '0', '--timeout-ms', '300', '10.9.0.77']);
  assert.equal(none.code, 1, none.stdout + none.stderr);
  assert.match(none.stdout, /^2 packets transmitted, 0 received, 100% packet loss$/m);
  assert.doesNotMatch(none.stdout, /rtt min/);

  // Usage errors: exit 2, the flag named, nothing started.
  for (const [args, message] of [
    [['ping', ...link, '-c', '0', '10.9.0.1'], /-c\/--count is out of range/],
    [['ping', ...link, '10.9.0.1', '10.9.0.2'], /one destination address/],
    [['ping', ...link, '10.9.0.300'], /Invalid IP address: 10\.9\.0\.300/],
    [['ping', '--udp', `127.0.0.1:${pingPort}`, '--ip', '10.9.0.2/24', '10.9.0.1'], /--udp needs --remote/],
    [['ping', '--udp', `127.0.0.1:${pingPort}`, '--remote', 'nowhere', '--ip', '10.9.0.2/24', '10.9.0.1'], /--remote: .*'nowhere'/],
    [['up', '--tap', 'tap9', '--udp', `127.0.0.1:${pingPort}`, '--ip', '10.9.0.2/24'], /not both/],
  ] as [string[], RegExp][]) {
    const r = await runCli(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, message);
    assert.doesNotMatch(r.stdout, /PING/);
  }

  // TCP over `up`'s link: a host in this process takes the ping's place on the link.
  const peer = await createStack({
    interfaces: [{ name: 'eth0', addresses: ['10.9.0.3/24'], link: { type: 'udp', mode: 'dgram', local: `127.0.0.1:${pingPort}`, remote: `127.0.0.1:${upPort}` } }],
  });
  t.after(() => peer.close());
  assert.equal(await sendAndCollect(peer, '10.9.0.1', 7, 'over QEMU dgram'), 'over QEMU dgram');
  up.child.kill('SIGTERM');
  const [code] = await once(up.child, 'exit') as [number | null];
  assert.equal(code, 0, up.output());
});

test('newtos up --mode vxlan --vni: ping with the same VNI gets replies, with another none', { timeout: 60_000 }, async (t) => {
  const children: ChildProcess[] = [];
  t.after(() => stopAll(children));
  const [upPort, pingPort] = await freeUdpPorts(2) as [number, number];
  await startCli(['up', '--udp', `127.0.0.1:${upPort}`, '--remote', `127.0.0.1:${pingPort}`, '--mode', 'vxlan', '--vni', '42', '--ip', '10.9.1.1/24'], /up: up/, children);
  const link = ['--udp', `127.0.0.1:${pingPort}`, '--remote', `127.0.0.1:${upPort}`, '--mode', 'vxlan', '--ip', '10.9.1.2/24'];
  const same = await runCli(['ping', ...link, '--vni', '42', '-c', '2', '--interval-ms', '20', '10.9.1.1']);
  assert.equal(same.code, 0, same.stdout + same.stderr);
  assert.match(same.stdout, /^2 packets transmitted, 2 received, 0% packet loss$/m);
  const other = await runCli(['ping', ...link, '--vni', '43', '-c', '1', '--timeout-ms', '500', '10.9.1.1']);
  assert.equal(other.code, 1, other.stdout + other.stderr);
  assert.match(other.stdout, /^1 packets transmitted, 0 received, 100% packet loss$/m);
});

test('newtos up --mode stream listens (remote port 0) and newtos ping --mode stream connects to it', { timeout: 60_000 }, async (t) => {
  const children: ChildProcess[] = [];
  t.after(() => stopAll(children));
  const port = await freeTcpPort();
  await startCli(['up', '--udp', `127.0.0.1:${port}`, '--remote', '127.0.0.1:0', '--mode', 'stream', '--ip', '10.9.2.1/24'], /up: up/, children);
  const r = await runCli(['ping', '--udp', '127.0.0.1:0', '--remote', `127.0.0.1:${port}`, '--mode', 'stream', '--ip', '10.9.2.2/24', '-c', '2', '--interval-ms', '20', '10.9.2.1']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^2 packets transmitted, 2 received, 0% packet loss$/m);
});
