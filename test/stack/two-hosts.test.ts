import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createVswitch } from '../../src/driver/nic/vswitch.js';
import { autoPlacement, createStack, type Stack } from '../../src/stack/host.js';
import type { NetSocket } from '../../src/app/net-socket.js';
import type { DriverStats } from '../../src/driver/driver-stats.js';

type Placement = 'isolated' | 'grouped' | 'monolithic' | 'postmessage';

async function twoHosts(
  placement: Placement, mtu = 1500, offloads?: { tso: boolean; gro: boolean }, rssQueues?: number, checksumOffload?: [boolean, boolean],
  offloadsB = offloads,
): Promise<[Stack, Stack]> {
  const sw = { descriptor: createVswitch({ ports: 2, mtu }), nextPort: 0 };
  const host = (name: string, ip: string, csum: boolean | undefined, off = offloads): Promise<Stack> => createStack({
    name, placement, ...(off !== undefined ? { offloads: off } : {}), ...(rssQueues !== undefined ? { rss: { queues: rssQueues } } : {}),
    interfaces: [{ name: 'eth0', link: { type: 'vswitch', switch: 'sw0' }, addresses: [ip], mtu, ...(csum === undefined ? {} : { checksumOffload: csum }) }],
  }, { switches: { sw0: sw } });
  const a = await host('a', '10.0.0.1/24', checksumOffload?.[0]);
  const b = await host('b', '10.0.0.2/24', checksumOffload?.[1], offloadsB);
  return [a, b];
}

/** `started` rejects with ERR_NEWTOS_CONFIG and a message matching `reason`. */
async function refusedConfig(started: Promise<Stack>, reason: RegExp): Promise<void> {
  await assert.rejects(started, (e: Error & { code?: string }) => {
    assert.equal(e.code, 'ERR_NEWTOS_CONFIG');
    assert.match(e.message, reason);
    return true;
  });
}

function sha(buf: Uint8Array): string {
  return createHash('sha256').update(buf).digest('hex');
}

/** Echo `size` random bytes from b to a's echo server and back; returns the received bytes' hash and the sent hash. */
async function echoRoundTrip(a: Stack, b: Stack, size: number): Promise<{ sent: string; got: string }> {
  const server = a.net.createServer((s: NetSocket) => s.pipe(s));
  await new Promise<void>((resolve) => server.listen(7, resolve));
  const data = randomBytes(size);
  const chunks: Buffer[] = [];
  const client = b.net.connect({ port: 7, host: '10.0.0.1' });
  await new Promise<void>((resolve, reject) => {
    client.on('error', reject);
    client.on('connect', () => { client.end(data); });
    client.on('data', (c: Buffer) => chunks.push(c));
    client.on('end', () => resolve());
  });
  server.close();
  return { sent: sha(data), got: sha(Buffer.concat(chunks)) };
}

for (const placement of ['monolithic', 'grouped', 'isolated'] as const) {
  test(`echo over TCP between two hosts on the virtual switch (${placement})`, { timeout: 60_000 }, async () => {
    const [a, b] = await twoHosts(placement);
    try {
      const r = await echoRoundTrip(a, b, 2 * 1024 * 1024);
      assert.equal(r.got, r.sent);
    } finally {
      await b.close();
      await a.close();
    }
  });
}

test('placement auto: grouped below a core per isolated server thread plus one for the application, isolated from there; the decision says why', async () => {
  assert.equal(autoPlacement(1, 2).placement, 'grouped');
  assert.equal(autoPlacement(1, 6).placement, 'grouped', 'six server threads and the application need seven cores');
  assert.equal(autoPlacement(1, 7).placement, 'isolated');
  assert.equal(autoPlacement(2, 8).placement, 'grouped', 'two replicas: driver, SOCK and four servers each');
  assert.equal(autoPlacement(2, 11).placement, 'isolated');
  assert.match(autoPlacement(1, 2).reason, /2 cores for 6 isolated server threads/);
  // Replicas left to the host too (autoReplicas): 1 up to 10 cores, 3 at 16 (2 + 4 × 3 threads).
  for (const [cores, placement, threads] of [[2, 'grouped', 2], [10, 'isolated', 6], [16, 'isolated', 14]] as const) {
    const sw = { descriptor: createVswitch({ ports: 2 }), nextPort: 0 };
    const s = await createStack({ name: 'h', placement: 'auto', interfaces: [{ name: 'eth0', link: { type: 'vswitch', switch: 'sw0' }, addresses: ['10.0.0.1/24'] }] }, { switches: { sw0: sw }, cores });
    try {
      assert.equal(s.placement, placement);
      assert.equal(s.placementDecision?.cores, cores);
      assert.equal(new Set(s.snapshot().servers.map((x) => x.thread)).size, threads, `${cores} cores: ${threads} server threads`);
    } finally {
      await s.close();
    }
  }
});

test('grouped placement: two threads per host; a crash of PF restarts the link side (driver, IP, PF) together, the transport side runs on, and an echo across the crash arrives intact', { timeout: 90_000 }, async () => {
  const [a, b] = await twoHosts('grouped');
  try {
    const gen = (s: Stack, name: string): number => s.snapshot().servers.find((x) => x.name === name)!.generation;
    const server = a.net.createServer((s: NetSocket) => s.pipe(s));
    await new Promise<void>((resolve) => server.listen(7, resolve));
    const data = randomBytes(8 * 1024 * 1024);
    const chunks: Buffer[] = [];
    let got = 0;
    let injected: Promise<unknown> | null = null;
    const client = b.net.connect({ port: 7, host: '10.0.0.1' });
    await new Promise<void>((resolve, reject) => {
      client.on('error', reject);
      client.on('connect', () => { client.end(data); });
      client.on('data', (c: Buffer) => {
        chunks.push(c);
        got += c.length;
        if (injected === null && got > data.length / 4) injected = a.inject('pf', 'crash');
      });
      client.on('end', () => resolve());
    });
    const r = await injected! as { server: string; cause: string };
    assert.equal(r.cause, 'crash');
    server.close();
    assert.equal(sha(Buffer.concat(chunks)), sha(data), 'echo intact across the crash');
    // PF's thread holds the driver and IP too: all three are in their second generation; TCP, UDP and SOCK in their first.
    for (const name of ['driver', 'ip', 'pf']) assert.equal(gen(a, name), 2, `${name} restarted with PF`);
    for (const name of ['tcp', 'udp', 'sock']) assert.equal(gen(a, name), 1, `${name} ran on`);
    for (const name of ['driver', 'ip', 'pf', 'tcp', 'udp', 'sock']) assert.equal(gen(b, name), 1);
  } finally {
    await b.close();
    await a.close();
  }
});

test('64 connections opened at once to a peer not yet resolved by ARP all wait for the resolution: no SYN dropped, none retransmitted', { timeout: 60_000 }, async () => {
  const [a, b] = await twoHosts('monolithic');
  try {
    const server = a.net.createServer((s: NetSocket) => s.pipe(s));
    await new Promise<void>((resolve) => server.listen(7, resolve));
    const socks = await Promise.all(Array.from({ length: 64 }, () => new Promise<NetSocket>((resolve, reject) => {
      const c = b.net.connect({ port: 7, host: '10.0.0.1' }, () => resolve(c));
      c.once('error', reject);
    })));
    // IP and TCP publish their counters to shared memory at most every 20 ms: the connects can
    // finish before IP's first publication, so wait for it (bounded).
    let ip = b.counters().ip as { txDrops?: Record<string, number> };
    for (const t0 = Date.now(); ip.txDrops === undefined && Date.now() - t0 < 5000; ip = b.counters().ip as { txDrops?: Record<string, number> }) {
      await new Promise((r) => setTimeout(r, 10));
    }
    await new Promise((r) => setTimeout(r, 50)); // and one more publication of both after the last SYN-ACK
    ip = b.counters().ip as { txDrops?: Record<string, number> };
    const tcp = b.counters().tcp as Record<string, number>;
    assert.ok(ip.txDrops !== undefined, 'IP published its counters');
    assert.equal(ip.txDrops['arp-queue-full'], 0, 'no packet shed while ARP resolved');
    assert.equal(tcp['rtoTimeouts'], 0, 'no SYN waited for its retransmission');
    assert.equal(tcp['activeOpens'], 64);
    for (const s of socks) s.destroy();
    server.close();
  } finally {
    await b.close();
    await a.close();
  }
});

test('TSO/GRO: the same echo with offloads on moves the data through IP in far fewer messages than with them off; bursts cross the switch whole, or are cut and merged in software for a host without TSO', { timeout: 90_000 }, async () => {
  type Offloads = { tso: boolean; gro: boolean };
  const ipMessages = async (offloads: Offloads, check: (a: DriverStats, b: DriverStats) => void, offloadsB = offloads): Promise<number> => {
    const [a, b] = await twoHosts('monolithic', 1500, offloads, undefined, undefined, offloadsB);
    try {
      const r = await echoRoundTrip(a, b, 2 * 1024 * 1024);
      assert.equal(r.got, r.sent, `echo intact with ${JSON.stringify([offloads, offloadsB])}`);
      const ip = (s: Stack): number => s.snapshot().servers.find((x) => x.name === 'ip')!.msgsIn;
      await new Promise((r) => setTimeout(r, 300)); // the driver publishes its counters every 100 ms
      check(a.driverStats(), b.driverStats());
      return ip(a) + ip(b);
    } finally {
      await b.close();
      await a.close();
    }
  };
  const off = await ipMessages({ tso: false, gro: false }, (a, b) => {
    assert.ok([a, b].every((x) => x.gsoBursts === 0 && x.groPackets === 0 && x.tsoBursts === 0), `no offload work: ${JSON.stringify([a, b])}`);
  });
  const on = await ipMessages({ tso: true, gro: true }, (a, b) => {
    // Both ports take super-frames: every burst crosses the switch whole, nothing is cut or merged.
    assert.ok([a, b].every((x) => x.tsoBursts > 0 && x.rxSuperFrames > 0 && x.gsoBursts === 0), `bursts whole: ${JSON.stringify([a, b])}`);
  });
  await ipMessages({ tso: true, gro: true }, (a, b) => {
    // b takes no super-frames: a's driver cuts its bursts (software GSO) and b merges them again (GRO).
    assert.ok(a.gsoBursts > 0 && a.gsoSegments > 2 * a.gsoBursts && a.tsoBursts === 0, `a cut its bursts: ${JSON.stringify(a)}`);
    assert.ok(b.groPackets > 0 && b.groMerged > 2 * b.groPackets, `b merged them: ${JSON.stringify(b)}`);
  }, { tso: false, gro: true });
  // 4 MiB cross the switch (2 MiB each way): ~2900 MSS segments, each seen by IP once from the
  // driver and once from TCP, plus ACKs and PF verdicts. Bursts and merged packets cut that down.
  assert.ok(off > 2 * 2900, `offloads off: ${off} IP messages`);
  assert.ok(on * 3 < off, `offloads on: ${on} IP messages vs ${off} off`);
});

test('checksum offload on the switch: TCP leaves checksums unfilled between offload ports, and they are filled for a host without offload (each MTU, both ways)', { timeout: 90_000 }, async () => {
  for (const mtu of [1500, 65535]) {
    // Both ports with offload (the default): no checksum is filled or checked on the way.
    let [a, b] = await twoHosts('monolithic', mtu);
    try {
      const r = await echoRoundTrip(a, b, 1024 * 1024);
      assert.equal(r.got, r.sent);
      await new Promise((res) => setTimeout(res, 300));
      assert.deepEqual([a.driverStats().checksumsFilled, b.driverStats().checksumsFilled], [0, 0]);
    } finally {
      await b.close();
      await a.close();
    }
    // b without offload: a's port fills what a's TCP left partial; b's TCP checks every checksum.
    [a, b] = await twoHosts('monolithic', mtu, undefined, undefined, [true, false]);
    try {
      const r = await echoRoundTrip(a, b, 1024 * 1024);
      assert.equal(r.got, r.sent);
      await new Promise((res) => setTimeout(res, 300));
      assert.ok(a.driverStats().checksumsFilled > 0, `a filled checksums for b (MTU ${mtu}): ${JSON.stringify(a.driverStats())}`);
      // b's TCP fills its own checksums; only its TSO bursts (never filled by TCP) are filled by its port.
      const db = b.driverStats();
      assert.ok(db.checksumsFilled <= db.tsoBursts, `b filled only its bursts: ${JSON.stringify(db)}`);
      for (const s of [a, b]) assert.equal(s.counters().tcp['dropBadChecksum'], 0);
    } finally {
      await b.close();
      await a.close();
    }
  }
});

test('replicas with other rss.queues or forwarding, and checksumOffload on a link that cannot complete checksums are refused with the field and the reason, not ignored', async () => {
  const sw = { descriptor: createVswitch({ ports: 2 }), nextPort: 0 };
  await refusedConfig(createStack({
    interfaces: [{ name: 'eth0', link: { type: 'vswitch', switch: 'sw0' }, addresses: ['10.0.0.1/24'] }], replicas: 4, rss: { queues: 2 },
  }, { switches: { sw0: sw } }), /config: rss\.queues: 2 differs from replicas: 4/);
  await refusedConfig(createStack({
    interfaces: [{ name: 'eth0', link: { type: 'vswitch', switch: 'sw0' }, addresses: ['10.0.0.1/24'] }], replicas: 2, forwarding: true,
  }, { switches: { sw0: sw } }), /config: replicas: 2 with forwarding/);
  await refusedConfig(createStack({
    interfaces: [{
      name: 'eth0', addresses: ['10.0.0.1/24'], checksumOffload: true,
      link: { type: 'udp', mode: 'dgram', local: '127.0.0.1:0', remote: '127.0.0.1:9' },
    }],
  }), /interfaces\[0\]\.checksumOffload: udp links cannot complete checksums/);
});

test('software RSS: the driver spreads flows over its receive queues by Toeplitz hash and counts them', { timeout: 60_000 }, async () => {
  const [a, b] = await twoHosts('monolithic', 1500, undefined, 4);
  try {
    const server = a.net.createServer((s: NetSocket) => s.pipe(s));
    await new Promise<void>((resolve) => server.listen(7, resolve));
    await Promise.all(Array.from({ length: 12 }, (_, i) => new Promise<void>((resolve, reject) => {
      const c = b.net.connect({ port: 7, host: '10.0.0.1' });
      let got = 0;
      c.on('error', reject);
      c.on('connect', () => c.end(Buffer.alloc(20_000, i)));
      c.on('data', (d: Buffer) => { got += d.length; });
      c.on('end', () => (got === 20_000 ? resolve() : reject(new Error(`connection ${i}: ${got} bytes back`))));
    })));
    server.close();
    await new Promise((r) => setTimeout(r, 300));
    const queues = a.driverStats().rxQueueFrames;
    assert.equal(queues.length, 4);
    assert.ok(queues.filter((n) => n > 0).length >= 2, `12 flows land on more than one queue: ${queues.join(',')}`);
    const link = a.linkStats()[0]!;
    assert.equal(queues.reduce((x, y) => x + y, 0), link.rxFrames, 'every received frame was steered to a queue');
  } finally {
    await b.close();
    await a.close();
  }
});

test('a bad packet-filter rule set is refused by createStack with line and reason', async () => {
  const sw = { descriptor: createVswitch({ ports: 2 }), nextPort: 0 };
  await refusedConfig(createStack({
    interfaces: [{ name: 'eth0', link: { type: 'vswitch', switch: 'sw0' }, addresses: ['10.0.0.1/24'] }],
    filter: 'allow in proto tcp\nallow sideways proto tcp\n',
  }, { switches: { sw0: sw } }), /filter: line 2, column \d+: /);
});
