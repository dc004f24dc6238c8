import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createVswitch } from '../../src/driver/nic/vswitch.js';
import { createStack, type Stack } from '../../src/stack/host.js';
import type { NetSocket } from '../../src/app/net-socket.js';

async function twoHosts(replicas: number): Promise<[Stack, Stack]> {
  const sw = { descriptor: createVswitch({ ports: 2 }), nextPort: 0 };
  const host = (name: string, ip: string): Promise<Stack> => createStack({
    name, placement: 'monolithic', replicas, monitor: { enabled: false }, // fixed: the test counts frames on every queue
    interfaces: [{ name: 'eth0', link: { type: 'vswitch', switch: 'sw0' }, addresses: [ip] }],
  }, { switches: { sw0: sw } });
  return [await host('a', '10.0.0.1/24'), await host('b', '10.0.0.2/24')];
}

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** `flows` connections from b to a's echo listener at once, each echoing `size` bytes; their hashes match. */
async function echoFlows(a: Stack, b: Stack, flows: number, size: number, aAddress = '10.0.0.1'): Promise<void> {
  const server = a.net.createServer((s: NetSocket) => s.pipe(s));
  await new Promise<void>((resolve) => server.listen(7, resolve));
  const got: number[] = [];
  let timer: NodeJS.Timeout | undefined;
  // Bounded, so a stalled flow fails the test with what arrived and the hosts still close
  // (an unbounded wait kept the test file's process, and the whole suite, alive).
  const bound = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`echo flows stalled: bytes back per flow ${got.join(', ')} of ${size}`)), 90_000);
  });
  try {
    await Promise.race([bound, Promise.all(Array.from({ length: flows }, (_, i) => new Promise<void>((resolve, reject) => {
      const data = randomBytes(size);
      const chunks: Buffer[] = [];
      got[i] = 0;
      const c = b.net.connect({ port: 7, host: aAddress });
      c.on('error', reject);
      c.on('connect', () => c.end(data));
      c.on('data', (d: Buffer) => { chunks.push(d); got[i]! += d.length; });
      c.on('end', () => { try { assert.equal(sha(Buffer.concat(chunks)), sha(data)); resolve(); } catch (e) { reject(e as Error); } });
    })))]);
  } finally {
    clearTimeout(timer);
    server.close();
  }
}

for (const replicas of [1, 2, 4]) {
  test(`${replicas} replica(s): flows spread over the receive queues, listener and outgoing connections work`, { timeout: 120_000 }, async () => {
    const [a, b] = await twoHosts(replicas);
    try {
      // Flows both ways: each host's own connects go round-robin over its replicas, each
      // from a local port whose replies are steered back to the replica that opened it, so
      // every queue of both hosts must see frames. Where the flows a listener accepts land
      // depends on the ports the other side chose: with 16 flows from a newtos peer (ports
      // constrained by the peer's own table, and a Toeplitz hash linear in the port bits)
      // one of a's four queues could get none, so that is not asserted.
      await echoFlows(a, b, 16, 64 * 1024);
      await echoFlows(b, a, 16, 64 * 1024, '10.0.0.2');
      // A listener on each host (it listens in every replica), for the host's counters below.
      const idle = [a, b].map((h) => h.net.createServer(() => {}));
      await Promise.all(idle.map((l) => new Promise<void>((resolve) => l.listen(9, resolve))));
      // The servers publish their counters when their thread runs out of work (at most every
      // 20 ms); the driver's every 100 ms while frames move. Under a loaded machine that can
      // lag, so wait (bounded) until both hosts show the listener and the 16 accepted flows.
      const settled = (h: Stack): boolean => {
        const tcp = h.counters().tcp;
        return Number(tcp['passiveOpens']) === 16 && (tcp['connections'] as Record<string, number> | undefined)?.['listen'] === 1 &&
          h.driverStats().rxQueueFrames.every((n) => n > 0);
      };
      for (const t0 = Date.now(); !(settled(a) && settled(b)) && Date.now() - t0 < 5_000;) await new Promise((r) => setTimeout(r, 50));
      for (const h of [a, b]) {
        const q = h.driverStats().rxQueueFrames;
        assert.equal(q.length, replicas);
        assert.ok(q.every((n) => n > 0), `frames per queue: ${q.join(', ')}`);
        let passive = 0;
        for (let r = 0; r < replicas; r++) passive += Number(h.replicaCounters(r).tcp['passiveOpens']);
        assert.equal(passive, 16, 'the one listener of the application accepted all 16, whichever replicas they reached');
        // The host's counters are all replicas': the same 16, and the listener (in every replica) once.
        const host = h.counters().tcp;
        assert.equal(Number(host['passiveOpens']), 16);
        assert.equal(Number(host['activeOpens']), [...Array(replicas).keys()].reduce((n, r) => n + Number(h.replicaCounters(r).tcp['activeOpens']), 0));
        assert.equal((host['connections'] as Record<string, number>)['listen'], 1);
      }
      if (replicas > 1) assert.ok(a.supervisor.snapshot().servers.some((s) => s.name === `tcp-${replicas - 1}`));
      for (const l of idle) l.close();
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
}

test('2 replicas: a crash of replica 1\'s TCP during transfers restarts only tcp-1; every connection of every replica arrives intact', { timeout: 120_000 }, async () => {
  const sw = { descriptor: createVswitch({ ports: 2 }), nextPort: 0 };
  const host = (name: string, ip: string): Promise<Stack> => createStack({
    name, placement: 'isolated', replicas: 2, monitor: { enabled: false },
    interfaces: [{ name: 'eth0', link: { type: 'vswitch', switch: 'sw0' }, addresses: [ip] }],
  }, { switches: { sw0: sw } });
  const a = await host('a', '10.0.0.1/24');
  const b = await host('b', '10.0.0.2/24');
  try {
    const done = echoFlows(a, b, 8, 4 * 1024 * 1024);
    await new Promise((r) => setTimeout(r, 150));
    a.supervisor.inject('tcp-1', 'crash');
    await done;
    const gen = (name: string): number => a.supervisor.snapshot().servers.find((s) => s.name === name)!.generation;
    assert.ok(gen('tcp-1') > gen('tcp'), `tcp-1 generation ${gen('tcp-1')}, tcp ${gen('tcp')}`);
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
});

// A restarted TCP answers every LISTEN it restored again (the first reply may have died in its
// memory); SOCK knows the listener already and must not let the repeat change the listener's
// mapping to its replicas: closing the listener afterwards still closes it in every replica.
test('2 replicas: after each replica\'s TCP restarts, the listener accepts in both and closing it closes it in both', { timeout: 120_000 }, async () => {
  const [a, b] = await twoHosts(2);
  try {
    const server = a.net.createServer((s: NetSocket) => s.pipe(s));
    await new Promise<void>((resolve) => server.listen(7, resolve));
    for (const name of ['tcp', 'tcp-1']) {
      const before = a.supervisor.snapshot().servers.find((s) => s.name === name)!.generation;
      a.supervisor.inject(name, 'crash');
      const t0 = Date.now();
      while (a.supervisor.snapshot().servers.find((s) => s.name === name)!.generation === before && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 20));
    }
    await new Promise((r) => setTimeout(r, 200));
    const connectOnce = (): Promise<string> => new Promise((resolve) => {
      const c = b.net.connect({ port: 7, host: '10.0.0.1' });
      c.on('connect', () => { c.destroy(); resolve('ok'); });
      c.on('error', (e: Error & { code?: string }) => resolve(e.code ?? e.message));
    });
    const open = await Promise.all(Array.from({ length: 16 }, connectOnce));
    assert.deepEqual(open, Array(16).fill('ok'));
    await new Promise((r) => setTimeout(r, 100)); // counters are published every 20 ms
    const opens = [0, 1].map((r) => Number((a.replicaCounters(r).tcp as Record<string, unknown>)['passiveOpens']));
    assert.ok(opens.every((n) => n > 0), `both replicas accepted: passive opens ${opens.join(', ')}`);
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const closed = await Promise.all(Array.from({ length: 16 }, connectOnce));
    assert.deepEqual(closed, Array(16).fill('ECONNREFUSED'), 'no replica still listens');
    assert.equal(a.client.socketStats().duplicateAccepts, 0, 'SOCK kept the repeated LISTEN replies from the application');
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
});
