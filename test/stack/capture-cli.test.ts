// `newtos capture` against a running `newtos up` (a separate process, attached
// by an Ethernet-over-UDP link to a host in this test): the pcap holds the
// frames of a ping and of a TCP handshake, read back with our pcap reader and,
// when installed, tshark.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createStack } from '../../src/stack/host.js';
import { readPcap } from '../../src/wire/pcap.js';
import { freeTcpPort, freeUdpPorts, startCli as cli } from '../support/cli.js';
import { sendAndCollect } from '../support/tcp-client.js';

test('newtos capture writes a pcap of a running host\'s interface: a ping and a TCP handshake', { timeout: 60_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'newtos-capture-'));
  const children: ChildProcess[] = [];
  t.after(() => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  const [upPort, ourPort] = await freeUdpPorts(2) as [number, number];
  const statsPort = await freeTcpPort();
  const config = join(dir, 'up.json');
  writeFileSync(config, JSON.stringify({
    name: 'captured',
    interfaces: [{ name: 'eth0', addresses: ['10.7.0.1/24'], link: { type: 'udp', mode: 'dgram', local: `127.0.0.1:${upPort}`, remote: `127.0.0.1:${ourPort}` } }],
  }));
  const up = await cli(['up', '--config', config, '--echo', '7', '--stats-port', String(statsPort)], /captured: up/, children);

  const peer = await createStack({
    interfaces: [{ name: 'eth0', addresses: ['10.7.0.2/24'], link: { type: 'udp', mode: 'dgram', local: `127.0.0.1:${ourPort}`, remote: `127.0.0.1:${upPort}` } }],
  });
  t.after(() => peer.close());
  // Warm-up: both ARP caches filled before the capture starts, so what follows is exact.
  assert.equal((await peer.ping('10.7.0.1', { count: 1, intervalMs: 0 })).received, 1);

  // 3 echo requests in, 3 replies out, then SYN in, SYN-ACK out, ACK in: 9 frames.
  const pcap = join(dir, 'eth0.pcap');
  const capture = await cli(['capture', '--port', String(statsPort), '--iface', 'eth0', '--out', pcap, '--count', '9'], /capturing on eth0/, children);
  assert.equal((await peer.ping('10.7.0.1', { count: 3, intervalMs: 0 })).received, 3);
  assert.equal(await sendAndCollect(peer, '10.7.0.1', 7, 'echo me'), 'echo me');
  const [code] = await once(capture.child, 'exit') as [number];
  assert.equal(code, 0, capture.output());
  assert.match(capture.output(), /wrote \d+ bytes/);

  const file = readPcap(readFileSync(pcap));
  assert.ok(file.ok, 'a valid pcap file');
  const records = file.value.records;
  assert.equal(records.length, 9);
  const ip = (d: Uint8Array, at: number): string => Array.from(d.subarray(at, at + 4)).join('.');
  const summary = records.map((r) => {
    const d = r.data;
    const l4 = 14 + (d[14]! & 0x0f) * 4;
    const what = d[23] === 1 ? `icmp${d[l4]}` : d[23] === 6 ? `tcp${d[l4 + 13]!.toString(16)}` : `proto${d[23]}`;
    return `${ip(d, 26)}>${ip(d, 30)} ${what}`;
  });
  assert.deepEqual(summary.slice(0, 6).sort(), [
    '10.7.0.1>10.7.0.2 icmp0', '10.7.0.1>10.7.0.2 icmp0', '10.7.0.1>10.7.0.2 icmp0',
    '10.7.0.2>10.7.0.1 icmp8', '10.7.0.2>10.7.0.1 icmp8', '10.7.0.2>10.7.0.1 icmp8',
  ]);
  assert.deepEqual(summary.slice(6, 8), ['10.7.0.2>10.7.0.1 tcp2', '10.7.0.1>10.7.0.2 tcp12']);
  assert.match(summary[8]!, /^10\.7\.0\.2>10\.7\.0\.1 tcp1[0-9]$/, 'the client\'s ACK (maybe with data)');

  if (spawnSync('sh', ['-c', 'command -v tshark']).status === 0) {
    const r = spawnSync('tshark', ['-r', pcap, '-T', 'fields', '-e', 'ip.src', '-e', 'icmp.type', '-e', 'tcp.flags.syn'], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, 9);
    assert.equal(lines.filter((l) => /\t8\t/.test(l)).length, 3, `tshark sees 3 echo requests:\n${r.stdout}`);
  }
  // A capture without limits, ended by SIGINT: the host stops it cleanly, nothing captured is lost.
  const pcap2 = join(dir, 'sigint.pcap');
  const open = await cli(['capture', '--port', String(statsPort), '--out', pcap2], /capturing on eth0/, children);
  assert.equal((await peer.ping('10.7.0.1', { count: 2, intervalMs: 0 })).received, 2);
  open.child.kill('SIGINT');
  const [code2] = await once(open.child, 'exit') as [number];
  assert.equal(code2, 0, open.output());
  const second = readPcap(readFileSync(pcap2));
  assert.ok(second.ok);
  assert.equal(second.value.records.length, 4, 'both echo requests and both replies');

  // The link's counters on the same control port (Prometheus text).
  const metrics = await (await fetch(`http://127.0.0.1:${statsPort}/metrics`)).text();
  const rx = /newtos_link_frames_total\{host="captured",iface="eth0",direction="rx"\} (\d+)/.exec(metrics);
  assert.ok(rx !== null && Number(rx[1]) >= 4, `link rx frames in:\n${metrics.split('\n').filter((l) => l.includes('link')).join('\n')}`);
  assert.match(metrics, /newtos_link_drops_total\{host="captured",iface="eth0",reason="rx-foreign-peer"\} 0/);
  // The driver's RSS queue counter (one queue) saw at least the frames the link received.
  const q = /newtos_driver_rx_queue_frames_total\{host="captured",queue="0"\} (\d+)/.exec(metrics);
  assert.ok(q !== null && Number(q[1]) >= 4, `driver queue frames in:\n${metrics.split('\n').filter((l) => l.includes('driver')).join('\n')}`);
  up.child.kill('SIGTERM');
  await once(up.child, 'exit');
});
