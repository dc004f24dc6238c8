/**
 * A newtos host with 1, 2 and 4 replicas against Linux over TAP (root, test/support/netns.ts):
 * ping (ARP to every replica, ICMP), 8 connections from Linux to a newtos listener and 8 from
 * newtos to a Linux listener (they go to the replicas in turn), every byte hashed, and frames
 * on every receive queue.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Rig } from '../support/netns.js';
import { hashingServer, pythonSource, sha, startIn, stop, tapHost, tapTestUnavailable } from '../support/linux-peer.js';

const skip = tapTestUnavailable(['ping', 'python3']);
const FLOWS = 8;
const SIZE = 1024 * 1024;

/** Python: accept FLOWS connections on HOST:PORT, answer each with "<sha256> <length>\n" of what it read. */
function pythonHashServer(host: string, port: number): string {
  return [
    'import socket, hashlib, threading',
    's = socket.socket()', 's.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)',
    `s.bind(('${host}', ${port}))`, 's.listen(64)', 'print("ready", flush=True)',
    'def serve(c):',
    '    h = hashlib.sha256(); n = 0',
    '    while True:',
    '        b = c.recv(262144)',
    '        if not b: break',
    '        h.update(b); n += len(b)',
    '    c.sendall(("%s %d\\n" % (h.hexdigest(), n)).encode()); c.close()',
    `for _ in range(${FLOWS}):`,
    '    c, _ = s.accept(); threading.Thread(target=serve, args=(c,)).start()',
  ].join('\n');
}

for (const replicas of [1, 2, 4]) test(`${replicas} replica${replicas > 1 ? 's' : ''} against Linux over TAP: ping, connections both ways, every queue used`, { skip: skip || false, timeout: 120_000 }, async () => {
  const rig = new Rig();
  let stop1: (() => Promise<void>) | undefined;
  const h = await tapHost(rig, `rep${replicas}`, { config: { replicas, monitor: { enabled: false } } });
  try {
    const ping = await rig.exec(h.ns, ['ping', '-c', '3', '-i', '0.2', '-W', '2', h.newtosIp], { allowFailure: true, timeoutMs: 20_000 });
    assert.match(ping.stdout, /3 received/);
    // Linux → newtos.
    const server = await hashingServer(h.stack, 9000);
    const inbound = await Promise.all(Array.from({ length: FLOWS }, (_, i) =>
      rig.exec(h.ns, ['python3', '-u', '-c', pythonSource(h.newtosIp, 9000, SIZE, i + 1)], { allowFailure: true, timeoutMs: 60_000 })));
    for (const r of inbound) {
      const [sent, got] = r.stdout.trim().split('\n');
      assert.ok(sent !== undefined && sent === got, `sent ${sent}, newtos read ${got}`);
    }
    server.close();
    // newtos → Linux.
    const peer = await startIn(h.ns, ['python3', '-u', '-c', pythonHashServer(h.linuxIp, 9001)], /ready/);
    stop1 = () => stop(peer.child);
    await Promise.all(Array.from({ length: FLOWS }, () => new Promise<void>((resolve, reject) => {
      const data = randomBytes(SIZE);
      let reply = '';
      const c = h.stack.net.connect({ port: 9001, host: h.linuxIp });
      c.on('error', reject);
      c.on('connect', () => c.end(data));
      c.on('data', (d: Buffer) => { reply += d.toString(); });
      c.on('end', () => { try { assert.equal(reply.trim(), `${sha(data)} ${SIZE}`); resolve(); } catch (e) { reject(e as Error); } });
    })));
    await new Promise((r) => setTimeout(r, 300));
    const q = h.stack.driverStats().rxQueueFrames;
    assert.equal(q.length, replicas);
    assert.ok(q.every((f) => f > 0), `frames per queue: ${q.join(', ')}`);
  } finally {
    await stop1?.();
    await h.stack.close();
    rig.cleanup();
  }
});
