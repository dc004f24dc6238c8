// IP, TCP and UDP figures in a host's statistics: connections by state, opens, resets
// and the RTT summary the TCP server publishes to shared memory (Stack.counters().tcp,
// no message to the server), IP's packets and drops by reason (Stack.counters().ip),
// as `newtos stats` prints them and as Prometheus text that a strict reader accepts.
// Hosts with connections put in known states, and packets IP drops for known reasons.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createVswitch } from '../../src/driver/nic/vswitch.js';
import { createStack, type Stack } from '../../src/stack/host.js';
import type { NetSocket } from '../../src/app/net-socket.js';
import type { CounterTree } from '../../src/abi/published-counters.js';
import { hostPrometheus, hostStatsText, statsPrometheus } from '../../src/stack/stats-text.js';
import { TCP_COUNTER_METRICS, UDP_COUNTER_METRICS, type CounterMetric } from '../../src/stack/transport-stats-text.js';
import {
  IP_COUNTER_METRICS, IP_PING_METRICS, IP_PMTU_METRICS, IP_REASON_METRICS, IP_SERVER_GAUGES, IP_SERVER_METRICS,
} from '../../src/stack/ip-stats-text.js';
import { TCP_STATE_LABELS, TcpCounters } from '../../src/tcp/counters.js';
import { UDP_STAT_NAMES } from '../../src/udp/udp-stats.js';
import { parsePrometheus, promValue, type PromFamily, type PromSample } from '../support/prometheus.js';
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

/** Every number in a published counter tree, by its path (`drops.no-route`, `server.held`, ...). */
function leaves(tree: CounterTree, prefix = ''): [string, number][] {
  return Object.entries(tree).flatMap(([k, v]): [string, number][] =>
    typeof v === 'number' ? [[`${prefix}${k}`, v]] : typeof v === 'object' && !Array.isArray(v) ? leaves(v as CounterTree, `${prefix}${k}.`) : []);
}

/** Where each published IP number is exposed: its metric and labels (host aside), and its type. */
function ipMetricOf(path: string): { name: string; labels: Record<string, string>; type: 'counter' | 'gauge' } | undefined {
  const [head, key] = path.split('.') as [string, string | undefined];
  const plain = (table: Readonly<Record<string, CounterMetric>>, k: string, type: 'counter' | 'gauge' = 'counter') =>
    table[k] === undefined ? undefined : { name: table[k].name, labels: { ...table[k].labels }, type };
  if (key === undefined) return plain(IP_COUNTER_METRICS, head);
  if (head in IP_REASON_METRICS) {
    const f = IP_REASON_METRICS[head as keyof typeof IP_REASON_METRICS];
    return f.reasons.includes(key) ? { name: f.name, labels: { reason: key }, type: 'counter' } : undefined;
  }
  if (head === 'pmtu') return key === 'entries' ? { name: 'newtos_ip_pmtu_entries', labels: {}, type: 'gauge' } : plain(IP_PMTU_METRICS, key);
  if (head === 'server') return plain(IP_SERVER_METRICS, key) ?? plain(IP_SERVER_GAUGES, key, 'gauge');
  if (head === 'echo') return plain(IP_PING_METRICS, key);
  return undefined;
}

/** Every number IP published is in the Prometheus text, with its value and type. */
function assertIpExposed(host: string, ip: CounterTree, families: Map<string, PromFamily>, samples: PromSample[]): void {
  const all = leaves(ip);
  assert.ok(all.length > 50, `IP published its counters: ${JSON.stringify(ip)}`);
  for (const [path, v] of all) {
    const m = ipMetricOf(path);
    assert.ok(m !== undefined, `IP's ${path} has a metric`);
    assert.equal(promValue(samples, m.name, { host, ...m.labels }), v, `${path} as ${m.name}${JSON.stringify(m.labels)}`);
    assert.equal(families.get(m.name)!.type, m.type, `${m.name}'s type`);
  }
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

test('connections in known states and IP drops for known reasons show in counters(), the stats text and Prometheus text', { timeout: 120_000 }, async (t) => {
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
  const ta = await settle(() => a.counters().tcp, (c) => statesAre(c, wantA) && c['passiveOpens'] === 4 && c['rstsOut'] === 1);
  // The refused connection is in SYN-SENT too until its RST is processed: a copy published
  // before that matches wantB's states by chance (syn-sent 1, the pending one not there yet).
  // Wait for the copy that has every connect and the reset.
  const tb = await settle(() => b.counters().tcp, (c) => statesAre(c, wantB) && c['activeOpens'] === 6 && c['connectionsReset'] === 1);
  assert.deepEqual(connections(ta), { ...Object.fromEntries(TCP_STATE_LABELS.map((s) => [s, 0])), ...wantA });
  assert.deepEqual(connections(tb), { ...Object.fromEntries(TCP_STATE_LABELS.map((s) => [s, 0])), ...wantB });
  assert.equal(ta['passiveOpens'], 4);
  assert.equal(ta['activeOpens'], 0);
  assert.equal(ta['rstsOut'], 1, 'the RST to the SYN for port 9');
  // (A restart of b's TCP server would start its counters again: the message says if one happened.)
  const restarts = (x: Stack): string => JSON.stringify(x.supervisor.events.filter((e) => ['crash', 'hang', 'exit', 'oom', 'restart'].includes(e.type)).map((e) => [e.type, e.server]));
  assert.equal(tb['activeOpens'], 6, `b's active opens; b's crashes and restarts: ${restarts(b)}; b's TCP: ${JSON.stringify(tb)}`);
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

  // IP: a ping of the subnet's broadcast address, which a does not answer (Linux's
  // default), and one of an address b has no route to (b cannot send it).
  const broadcast = await b.ping('10.0.0.255', { count: 1, timeoutMs: 300 });
  assert.equal(broadcast.received, 0);
  const unroutable = await b.ping('192.0.2.1', { count: 1, timeoutMs: 300 });
  assert.equal(unroutable.errors[0]?.code, 'ENETUNREACH', JSON.stringify(unroutable));
  const ipA = await settle(() => a.counters().ip, (c) => (c['drops'] as Record<string, number> | undefined)?.['echo-broadcast-ignored'] === 1);
  const ipB = await settle(() => b.counters().ip, (c) => (c['txDrops'] as Record<string, number> | undefined)?.['no-route'] === 1);
  assert.equal((ipA['drops'] as Record<string, number>)['echo-broadcast-ignored'], 1);
  assert.equal(ipA['icmpErrorsSent'], 1, 'the port unreachable for the datagram to port 5001');
  assert.equal((ipB['txDrops'] as Record<string, number>)['no-route'], 1);

  // `newtos stats` text: the same figures.
  const text = hostStatsText('a', a);
  assert.match(text, /^a +ip +packets in [1-9]\d* out [1-9]\d* {2}delivered [1-9]\d* forwarded 0 /m);
  assert.match(text, /^a +ip +icmp echo replies 0 errors sent 1 rate-limited 0 suppressed \d+ {2}buffers held \d+ {2}released: /m);
  assert.match(text, /^a +ip +drops: echo-broadcast-ignored 1 {2}tx drops: none {2}frame drops: /m);
  assert.match(hostStatsText('b', b), /^b +ip +drops: .* {2}tx drops: no-route 1 {2}frame drops: /m);
  assert.match(text, /^a +tcp +connections: closed 0 {2}listen 2 {2}syn-sent 0 {2}syn-received 0 {2}established 2 .* close-wait 1 .* time-wait 0$/m);
  assert.match(text, /^a +tcp +opens active 0 passive 4 /m);
  assert.match(text, /^a +tcp +resets sent 1 /m);
  assert.match(text, /^a +tcp +srtt min\/avg\/max [\d.]+\/[\d.]+\/[\d.]+ ms over 3 connections/m);
  assert.match(text, /^a +udp +received 2 delivered 1 sent 0 {2}drops: no-port 1$/m);
  assert.match(hostStatsText('b', b), /^b +tcp +connections: .*syn-sent 1 .*established 2 .*fin-wait-2 1 .*time-wait 1$/m);

  // Prometheus: well-formed, and every TCP and UDP counter is there with its value.
  for (const [host, stack, tcp, ip] of [['a', a, ta, ipA], ['b', b, tb, ipB]] as const) {
    const udp = stack.udpStats();
    const { families, samples } = parsePrometheus(statsPrometheus(host, stack.snapshot(), stack.socketStats(), stack.linkStats(), stack.driverStats(), { ip, tcp, udp }));
    assertIpExposed(host, ip, families, samples);
    assert.equal(promValue(samples, 'newtos_app_late_wakes_total', { host }), 0, 'no application-thread wait outlived its notify');
    assert.equal(promValue(samples, 'newtos_app_duplicate_announcements_total', { host }), 0, 'no server restart: nothing announced twice');
    for (const sv of stack.snapshot().servers) {
      const v = promValue(samples, 'newtos_server_longest_silent_cpu_seconds', { host, server: sv.name });
      assert.ok(v >= 0 && v < 0.15, `${sv.name}: its longest silent CPU run (${v} s) is under the watchdog's 150 ms`);
    }
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
  const { families, samples } = parsePrometheus(statsPrometheus('a', a.snapshot(), undefined, undefined, undefined, { ip: ipA, tcp: ta, udp: udpA }));
  assert.equal(promValue(samples, 'newtos_ip_drops_total', { host: 'a', reason: 'echo-broadcast-ignored' }), 1);
  assert.equal(promValue(samples, 'newtos_ip_drops_total', { host: 'a', reason: 'bad-checksum' }), 0, 'every reason has its sample, zero or not');
  assert.equal(promValue(samples, 'newtos_ip_icmp_errors_sent_total', { host: 'a' }), 1);
  assert.equal(promValue(parsePrometheus(statsPrometheus('b', b.snapshot(), undefined, undefined, undefined, { ip: ipB, tcp: tb, udp: b.udpStats() })).samples,
    'newtos_ip_tx_drops_total', { host: 'b', reason: 'no-route' }), 1);
  assert.equal(families.get('newtos_ip_held_buffers')!.type, 'gauge');
  assert.equal(families.get('newtos_ip_drops_total')!.type, 'counter');
});

test('with replicas, the IP figures are the sum of the replicas\' IP servers (as TCP\'s are), without a replica label', { timeout: 60_000 }, async (t) => {
  const sw = { descriptor: createVswitch({ ports: 2, mtu: 1500 }), nextPort: 0 };
  const host = (name: string, ip: string, replicas: number): Promise<Stack> => createStack({
    name, placement: 'monolithic', replicas, monitor: { enabled: false },
    interfaces: [{ name: 'eth0', link: { type: 'vswitch', switch: 'sw0' }, addresses: [ip] }],
  }, { switches: { sw0: sw } });
  const a = await host('a', '10.0.0.1/24', 2);
  t.after(() => a.close());
  const b = await host('b', '10.0.0.2/24', 1);
  t.after(() => b.close());
  assert.equal((await b.ping('10.0.0.1', { count: 3, intervalMs: 0 })).received, 3);
  assert.equal((await b.ping('10.0.0.255', { count: 1, timeoutMs: 300 })).received, 0);
  const perReplica = (): CounterTree[] => [0, 1].map((r) => a.replicaCounters(r).ip);
  const sum = (path: (ip: CounterTree) => unknown): number => perReplica().reduce((n, ip) => n + Number(path(ip) ?? 0), 0);
  const drop = (ip: CounterTree): unknown => (ip['drops'] as Record<string, number> | undefined)?.['echo-broadcast-ignored'];
  await settle(() => [sum((ip) => ip['echoReplies']), sum(drop)], ([r, d]) => r === 3 && d === 1);
  const { samples } = parsePrometheus(hostPrometheus('a', a));
  assert.equal(promValue(samples, 'newtos_ip_icmp_echo_replies_total', { host: 'a' }), 3);
  assert.equal(promValue(samples, 'newtos_ip_drops_total', { host: 'a', reason: 'echo-broadcast-ignored' }), 1);
  assert.equal(promValue(samples, 'newtos_ip_packets_total', { host: 'a', direction: 'in' }), sum((ip) => ip['rxPackets']));
  assert.equal(promValue(samples, 'newtos_ip_held_buffers', { host: 'a' }), sum((ip) => (ip['server'] as Record<string, number>)['held']));
  assert.ok(samples.filter((x) => x.name.startsWith('newtos_ip_')).every((x) => !('replica' in x.labels)));
  assert.match(hostStatsText('a', a), /^a +ip +icmp echo replies 3 /m);
  assert.match(hostStatsText('a', a), /^a +ip +drops: echo-broadcast-ignored 1 /m);
});

test('newtos stats and --prometheus of a running newtos up show its TCP connections and IP drops', { timeout: 60_000 }, async (t) => {
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

  // An echo request to the subnet's broadcast address: up ignores it (drop echo-broadcast-ignored).
  assert.equal((await peer.ping('10.9.0.255', { count: 1, timeoutMs: 300 })).received, 0);

  // The connection reaches the published counters within 20 ms of the TCP server's last
  // step: wait for it on /stats itself, then ask as a user does.
  const end = Date.now() + 20_000;
  const ready = (text: string): boolean => / established 1 /.test(text) && /drops: echo-broadcast-ignored 1 /.test(text);
  while (Date.now() < end && !ready(await (await fetch(`http://127.0.0.1:${statsPort}/stats`)).text())) {
    await new Promise((r) => setTimeout(r, 20));
  }
  const stats = await runCli(['stats', '--port', String(statsPort)]);
  assert.equal(stats.code, 0, stats.stderr);
  assert.match(stats.stdout, /^up +tcp +connections: closed 0 {2}listen 1 {2}syn-sent 0 {2}syn-received 0 {2}established 1 /m);
  assert.match(stats.stdout, /^up +tcp +opens active 0 passive 1 /m);
  assert.match(stats.stdout, /^up +udp +received 0 /m);
  assert.match(stats.stdout, /^up +ip +packets in [1-9]\d* out [1-9]\d* {2}delivered [1-9]\d* /m);
  assert.match(stats.stdout, /^up +ip +drops: echo-broadcast-ignored 1 {2}tx drops: none {2}frame drops: none$/m);

  const prom = await runCli(['stats', '--port', String(statsPort), '--prometheus']);
  assert.equal(prom.code, 0, prom.stderr);
  const { families, samples } = parsePrometheus(prom.stdout);
  assert.equal(promValue(samples, 'newtos_ip_drops_total', { host: 'up', reason: 'echo-broadcast-ignored' }), 1);
  assert.equal(promValue(samples, 'newtos_ip_drops_total', { host: 'up', reason: 'no-route' }), 0);
  assert.equal(promValue(samples, 'newtos_ip_tx_drops_total', { host: 'up', reason: 'no-route' }), 0);
  assert.ok(promValue(samples, 'newtos_ip_packets_total', { host: 'up', direction: 'in' }) >= 3, 'SYN, ACK, data and the echo request at least');
  assert.ok(promValue(samples, 'newtos_ip_delivered_total', { host: 'up' }) >= 3);
  assert.equal(families.get('newtos_ip_held_buffers')?.type, 'gauge');
  assert.ok(promValue(samples, 'newtos_ip_held_buffers', { host: 'up' }) >= 0);
  assert.equal(promValue(samples, 'newtos_tcp_connections', { host: 'up', state: 'established' }), 1);
  assert.equal(promValue(samples, 'newtos_tcp_connections', { host: 'up', state: 'listen' }), 1);
  assert.equal(promValue(samples, 'newtos_tcp_passive_opens_total', { host: 'up' }), 1);
  assert.equal(promValue(samples, 'newtos_tcp_srtt_connections', { host: 'up' }), 1);
  assert.ok(samples.some((s) => s.name === 'newtos_server_messages_in_total'), 'the existing metrics are still there');
});
