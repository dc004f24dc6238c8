// TCP and UDP figures in a host's statistics: connections by state, opens, resets
// and the RTT summary the TCP server publishes to shared memory (Stack.counters().tcp,
// no message to the server), as `newtos stats` prints them and as Prometheus text
// that a strict reader accepts. Hosts with connections put in known states.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createVswitch } from '../../src/driver/nic/vswitch.js';
import { createStack, type Stack } from '../../src/stack/host.js';
import type { NetSocket } from '../../src/app/net-socket.js';
import type { CounterTree } from '../../src/abi/published-counters.js';
import { hostStatsText, statsPrometheus } from '../../src/stack/stats-text.js';
import { TCP_COUNTER_METRICS, UDP_COUNTER_METRICS } from '../../src/stack/transport-stats-text.js';
import { TCP_STATE_LABELS, TcpCounters } from '../../src/tcp/counters.js';
import { UDP_STAT_NAMES } from '../../src/udp/udp-stats.js';
import { parsePrometheus, promValue } from '../support/prometheus.js';
import { freeTcpPort, freeUdpPorts, runCli, startCli } from '../support/cli.js';

async function twoHosts(): Promise<[Stack, Stack]> {
  const sw = { descriptor: createVswitch({ ports: 2, mtu: 1500 }), nextPort: 0 };
  const host = (name: string, ip: string): Promise<Stack> => createStack({
    name, placement: 'monolithic',
    interfaces: [{ name: 'eth0', link: { type: 'vswitch', switch: 'sw0' }, addresses: [ip] }],
  }, { switches: { sw0: sw } });
  return [await host('a', '10.0.0.1/24'), await host('b', '10.0.0.2/24')];
}

/** Polls `read` until `ok` holds of it (published counters are up to 20 ms old); the last value either way. */
async function settle<T>(read: () => T, ok: (v: T) => boolean, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  let v = read();
  while (!ok(v) && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 10));
    v = read();
  }
  return v;
}

const connections = (tcp: CounterTree): Record<string, number> => tcp['connections'] as Record<string, number>;
const rtt = (tcp: CounterTree): Record<string, number> => tcp['rtt'] as Record<string, number>;

/** Only the states named have connections; the rest are zero. */
function statesAre(tcp: CounterTree, want: Record<string, number>): boolean {
  const c = connections(tcp);
  return c !== undefined && TCP_STATE_LABELS.every((s) => c[s] === (want[s] ?? 0));
}

function connected(s: NetSocket): Promise<void> {
  return new Promise((resolve, reject) => { s.once('connect', resolve); s.once('error', reject); });
}

/** One byte there and back: both ends have an RTT sample from data, not only the handshake. */
async function pingPong(s: NetSocket): Promise<void> {
  s.write('x');
  await once(s, 'data');
}

test('connections in known states show in counters(), the stats text and Prometheus text', { timeout: 120_000 }, async (t) => {
  const [a, b] = await twoHosts();
  t.after(async () => { await b.close(); await a.close(); });
  const accepted: NetSocket[] = [];
  const server = a.net.createServer((s: NetSocket) => {
    // A FIN from the client leaves the server's side in CLOSE-WAIT until it ends (the
    // stack's createServer takes no allowHalfOpen option yet; Duplex's property does it).
    s.allowHalfOpen = true;
    accepted.push(s);
    s.on('data', (d: Buffer) => { if (s.writable) s.write(d); });
  });
  await new Promise<void>((r) => server.listen(7, r));
  const second = a.net.createServer(() => {});
  await new Promise<void>((r) => second.listen(8, r));

  const clients: NetSocket[] = [];
  for (let i = 0; i < 4; i++) {
    const c = b.net.connect({ port: 7, host: '10.0.0.1', allowHalfOpen: true });
    c.on('error', () => {});
    await connected(c);
    await pingPong(c);
    clients.push(c);
  }
  const [, , halfClosed, closed] = clients as [NetSocket, NetSocket, NetSocket, NetSocket];
  // b ends one: b FIN-WAIT-2, a CLOSE-WAIT.
  halfClosed.end();
  // b ends another and a ends it too: b TIME-WAIT; a's side is gone after LAST-ACK.
  closed.end();
  await settle(() => accepted.length, (n) => n === 4);
  const acceptedClosed = accepted.find((s) => s.remotePort === closed.localPort)!;
  await once(acceptedClosed, 'end');
  acceptedClosed.end();
  // Nobody listens on port 9: a answers the SYN with a RST, b's connect is refused.
  const refused = b.net.connect({ port: 9, host: '10.0.0.1' });
  const [err] = await once(refused, 'error') as [NodeJS.ErrnoException];
  assert.equal(err.code, 'ECONNREFUSED');
  // Nobody has 10.0.0.9: b's SYN waits for ARP, the connection stays in SYN-SENT.
  const pending = b.net.connect({ port: 7, host: '10.0.0.9' });
  pending.on('error', () => {});
  t.after(() => pending.destroy());

  const wantA = { listen: 2, established: 2, 'close-wait': 1 };
  const wantB = { established: 2, 'fin-wait-2': 1, 'time-wait': 1, 'syn-sent': 1 };
  const ta = await settle(() => a.counters().tcp, (c) => statesAre(c, wantA));
  const tb = await settle(() => b.counters().tcp, (c) => statesAre(c, wantB));
  assert.deepEqual(connections(ta), { ...Object.fromEntries(TCP_STATE_LABELS.map((s) => [s, 0])), ...wantA });
  assert.deepEqual(connections(tb), { ...Object.fromEntries(TCP_STATE_LABELS.map((s) => [s, 0])), ...wantB });
  assert.equal(ta['passiveOpens'], 4);
  assert.equal(ta['activeOpens'], 0);
  assert.equal(ta['rstsOut'], 1, 'the RST to the SYN for port 9');
  assert.equal(tb['activeOpens'], 6);
  assert.equal(tb['passiveOpens'], 0);
  assert.equal(tb['connectionsReset'], 1, 'the refused connect');
  // RTT over the connections that still carry data: a's two ESTABLISHED and its CLOSE-WAIT,
  // b's two ESTABLISHED and its FIN-WAIT-2 (not TIME-WAIT, not SYN-SENT).
  for (const tcp of [ta, tb]) {
    const r = rtt(tcp);
    assert.equal(r['connections'], 3);
    assert.ok(r['minMs']! >= 0 && r['minMs']! <= r['meanMs']! && r['meanMs']! <= r['maxMs']!, JSON.stringify(r));
  }

  // A datagram to a bound port and one to a port nobody has: UDP figures beside TCP's.
  const sa = a.dgram.createSocket('udp4');
  sa.bind(5000);
  await once(sa, 'listening');
  t.after(() => sa.close());
  const sb = b.dgram.createSocket('udp4');
  t.after(() => sb.close());
  const got = once(sa, 'message');
  sb.send(Buffer.from('hello'), 5000, '10.0.0.1');
  await got;
  sb.send(Buffer.from('nobody'), 5001, '10.0.0.1');
  const udpA = await settle(() => a.udpStats(), (u) => u.dropNoPort === 1);
  assert.equal(udpA.delivered, 1);
  assert.equal(udpA.dropNoPort, 1);

  // `newtos stats` text: the same figures.
  const text = hostStatsText('a', a);
  assert.match(text, /^a +tcp +connections: closed 0 {2}listen 2 {2}syn-sent 0 {2}syn-received 0 {2}established 2 .* close-wait 1 .* time-wait 0$/m);
  assert.match(text, /^a +tcp +opens active 0 passive 4 /m);
  assert.match(text, /^a +tcp +resets sent 1 /m);
  assert.match(text, /^a +tcp +srtt min\/avg\/max [\d.]+\/[\d.]+\/[\d.]+ ms over 3 connections/m);
  assert.match(text, /^a +udp +received 2 delivered 1 sent 0 {2}drops: no-port 1$/m);
  assert.match(hostStatsText('b', b), /^b +tcp +connections: .*syn-sent 1 .*established 2 .*fin-wait-2 1 .*time-wait 1$/m);

  // Prometheus: well-formed, and every TCP and UDP counter is there with its value.
  for (const [host, stack, tcp] of [['a', a, ta], ['b', b, tb]] as const) {
    const udp = stack.udpStats();
    const { families, samples } = parsePrometheus(statsPrometheus(host, stack.snapshot(), stack.socketStats(), stack.linkStats(), stack.driverStats(), { tcp, udp }));
    for (const k of Object.keys(new TcpCounters()) as (keyof TcpCounters)[]) {
      const m = TCP_COUNTER_METRICS[k];
      assert.equal(promValue(samples, m.name, { host, ...m.labels }), tcp[k], `${k} as ${m.name}`);
      assert.equal(families.get(m.name)!.type, 'counter');
    }
    for (const k of UDP_STAT_NAMES) assert.equal(promValue(samples, UDP_COUNTER_METRICS[k].name, { host, ...UDP_COUNTER_METRICS[k].labels }), udp[k], k);
    for (const state of TCP_STATE_LABELS) assert.equal(promValue(samples, 'newtos_tcp_connections', { host, state }), connections(tcp)[state]);
    assert.equal(families.get('newtos_tcp_connections')!.type, 'gauge');
    assert.equal(promValue(samples, 'newtos_tcp_srtt_connections', { host }), 3);
    for (const s of ['min', 'mean', 'max'] as const) {
      assert.equal(promValue(samples, `newtos_tcp_srtt_${s}_seconds`, { host }), rtt(tcp)[`${s}Ms`]! / 1000);
    }
  }
  assert.equal(promValue(parsePrometheus(statsPrometheus('a', a.snapshot(), undefined, undefined, undefined, { tcp: ta, udp: udpA })).samples,
    'newtos_udp_drops_total', { host: 'a', reason: 'no-port' }), 1);
});

test('newtos stats and --prometheus of a running newtos up show its TCP connections', { timeout: 60_000 }, async (t) => {
  const children: ChildProcess[] = [];
  t.after(() => { for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL'); });
  const [upPort, peerPort] = await freeUdpPorts(2) as [number, number];
  const statsPort = await freeTcpPort();
  await startCli(['up', '--udp', `127.0.0.1:${upPort}`, '--remote', `127.0.0.1:${peerPort}`, '--ip', '10.9.0.1/24', '--echo', '7', '--stats-port', String(statsPort)], / up \(/, children);
  const peer = await createStack({
    interfaces: [{ name: 'eth0', addresses: ['10.9.0.2/24'], link: { type: 'udp', mode: 'dgram', local: `127.0.0.1:${peerPort}`, remote: `127.0.0.1:${upPort}` } }],
  });
  t.after(() => peer.close());
  const c = peer.net.connect({ port: 7, host: '10.9.0.1' });
  await connected(c);
  await pingPong(c);
  t.after(() => c.destroy());

  // The connection reaches the published counters within 20 ms of the TCP server's last
  // step: wait for it on /stats itself, then ask as a user does.
  const end = Date.now() + 20_000;
  while (Date.now() < end && !/ established 1 /.test(await (await fetch(`http://127.0.0.1:${statsPort}/stats`)).text())) {
    await new Promise((r) => setTimeout(r, 20));
  }
  const stats = await runCli(['stats', '--port', String(statsPort)]);
  assert.equal(stats.code, 0, stats.stderr);
  assert.match(stats.stdout, /^up +tcp +connections: closed 0 {2}listen 1 {2}syn-sent 0 {2}syn-received 0 {2}established 1 /m);
  assert.match(stats.stdout, /^up +tcp +opens active 0 passive 1 /m);
  assert.match(stats.stdout, /^up +udp +received 0 /m);

  const prom = await runCli(['stats', '--port', String(statsPort), '--prometheus']);
  assert.equal(prom.code, 0, prom.stderr);
  const { samples } = parsePrometheus(prom.stdout);
  assert.equal(promValue(samples, 'newtos_tcp_connections', { host: 'up', state: 'established' }), 1);
  assert.equal(promValue(samples, 'newtos_tcp_connections', { host: 'up', state: 'listen' }), 1);
  assert.equal(promValue(samples, 'newtos_tcp_passive_opens_total', { host: 'up' }), 1);
  assert.equal(promValue(samples, 'newtos_tcp_srtt_connections', { host: 'up' }), 1);
  assert.ok(samples.some((s) => s.name === 'newtos_server_messages_in_total'), 'the existing metrics are still there');
});
