import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  DEFAULT_RSS_KEY, RSS_TABLE_SIZE, RssSteering, ToeplitzHash, tupleBytesV4,
} from '../../../src/driver/nic/rss.js';

function ip(s: string): number {
  return s.split('.').reduce((a, o) => a * 256 + Number(o), 0) >>> 0;
}

// Microsoft, "Verifying the RSS Hash Calculation" (also the Intel 82599
// datasheet §7.1.2.8.3 "RSS Verification Suite"), IPv4 with the default key.
const VECTORS = [
  { src: '66.9.149.187', sport: 2794, dst: '161.142.100.80', dport: 1766, ipv4: 0x323e8fc2, tcp: 0x51ccc178 },
  { src: '199.92.111.2', sport: 14230, dst: '65.69.140.83', dport: 4739, ipv4: 0xd718262a, tcp: 0xc626b0ea },
  { src: '24.19.198.95', sport: 12898, dst: '12.22.207.184', dport: 38024, ipv4: 0xd2d0a5de, tcp: 0x5c2b394a },
  { src: '38.27.205.30', sport: 48228, dst: '209.142.163.6', dport: 2217, ipv4: 0x82989176, tcp: 0xafc7327f },
  { src: '153.39.163.191', sport: 44251, dst: '202.188.127.2', dport: 1303, ipv4: 0x5d1809c5, tcp: 0x10e828a2 },
];

/** Microsoft's ComputeHash pseudo-code, bit by bit, as an independent reference. */
function referenceHash(key: Uint8Array, input: Uint8Array): number {
  let result = 0;
  for (let bit = 0; bit < input.length * 8; bit++) {
    if ((input[bit >> 3]! & (0x80 >> (bit & 7))) === 0) continue;
    let window = 0;
    for (let k = 0; k < 32; k++) {
      const kb = bit + k;
      const set = ((key[kb >> 3] ?? 0) & (0x80 >> (kb & 7))) !== 0;
      window = (window << 1) | (set ? 1 : 0);
    }
    result ^= window;
  }
  return result >>> 0;
}

for (const v of VECTORS) {
  test(`toeplitz: verification vector ${v.src}:${v.sport} -> ${v.dst}:${v.dport}`, () => {
    const h = new ToeplitzHash();
    assert.equal(h.hashV4(ip(v.src), ip(v.dst), v.sport, v.dport), v.tcp);
    assert.equal(h.hashV4Addrs(ip(v.src), ip(v.dst)), v.ipv4);
    const bytes = tupleBytesV4(ip(v.src), ip(v.dst), v.sport, v.dport);
    assert.equal(h.hashBytes(bytes), v.tcp);
    assert.equal(h.hashBytes(bytes, 0, 8), v.ipv4);
    assert.equal(referenceHash(DEFAULT_RSS_KEY, bytes), v.tcp);
  });
}

test('toeplitz: table-driven hash equals the bit-by-bit definition for random keys and inputs', () => {
  fc.assert(fc.property(
    fc.uint8Array({ minLength: 16, maxLength: 40 }),
    fc.uint8Array({ minLength: 0, maxLength: 12 }),
    (key, input) => {
      fc.pre(input.length <= key.length - 4);
      assert.equal(new ToeplitzHash(key).hashBytes(input), referenceHash(key, input));
    },
  ), { numRuns: 200 });
});

// --- frames ---

function ipv4Frame(opts: {
  protocol: number; src: string; dst: string; sport?: number; dport?: number;
  fragOffset?: number; moreFragments?: boolean; vlan?: boolean; truncateTo?: number;
}): Uint8Array {
  const l4 = opts.protocol === 6 ? 20 : 8;
  const vlan = opts.vlan === true ? 4 : 0;
  const f = new Uint8Array(14 + vlan + 20 + l4);
  const v = new DataView(f.buffer);
  let p = 12;
  if (vlan) { v.setUint16(p, 0x8100); v.setUint16(p + 2, 7); p += 4; }
  v.setUint16(p, 0x0800); p += 2;
  f[p] = 0x45;
  v.setUint16(p + 2, 20 + l4);
  v.setUint16(p + 6, ((opts.moreFragments === true ? 1 : 0) << 13) | (opts.fragOffset ?? 0));
  f[p + 8] = 64; f[p + 9] = opts.protocol;
  v.setUint32(p + 12, ip(opts.src)); v.setUint32(p + 16, ip(opts.dst));
  v.setUint16(p + 20, opts.sport ?? 0); v.setUint16(p + 22, opts.dport ?? 0);
  return opts.truncateTo === undefined ? f : f.subarray(0, opts.truncateTo);
}

const V0 = VECTORS[0]!;
const STEER_CASES = [
  { name: 'tcp uses the 4-tuple', frame: ipv4Frame({ protocol: 6, src: V0.src, dst: V0.dst, sport: V0.sport, dport: V0.dport }), reason: 'hash-4tuple', hash: V0.tcp },
  { name: 'udp uses the 4-tuple', frame: ipv4Frame({ protocol: 17, src: V0.src, dst: V0.dst, sport: V0.sport, dport: V0.dport }), reason: 'hash-4tuple', hash: V0.tcp },
  { name: 'vlan-tagged tcp', frame: ipv4Frame({ protocol: 6, src: V0.src, dst: V0.dst, sport: V0.sport, dport: V0.dport, vlan: true }), reason: 'hash-4tuple', hash: V0.tcp },
  { name: 'icmp uses the 2-tuple', frame: ipv4Frame({ protocol: 1, src: V0.src, dst: V0.dst }), reason: 'hash-2tuple', hash: V0.ipv4 },
  { name: 'first fragment uses the 2-tuple', frame: ipv4Frame({ protocol: 17, src: V0.src, dst: V0.dst, sport: 1, dport: 2, moreFragments: true }), reason: 'hash-2tuple', hash: V0.ipv4 },
  { name: 'later fragment uses the 2-tuple', frame: ipv4Frame({ protocol: 17, src: V0.src, dst: V0.dst, fragOffset: 185 }), reason: 'hash-2tuple', hash: V0.ipv4 },
  { name: 'arp goes to queue 0', frame: Uint8Array.from([...new Uint8Array(12), 0x08, 0x06, ...new Uint8Array(28)]), reason: 'not-ipv4', hash: 0 },
  { name: 'runt frame', frame: new Uint8Array(10), reason: 'truncated', hash: 0 },
  { name: 'truncated ip header', frame: ipv4Frame({ protocol: 6, src: V0.src, dst: V0.dst, truncateTo: 30 }), reason: 'truncated', hash: 0 },
] as const;

for (const c of STEER_CASES) {
  test(`steer: ${c.name}`, () => {
    const rss = new RssSteering({ queues: 4 });
    const d = rss.steer(c.frame);
    assert.equal(d.reason, c.reason);
    assert.equal(d.hash, c.hash);
    assert.equal(d.queue, c.hash === 0 ? 0 : (c.hash & (RSS_TABLE_SIZE - 1)) % 4);
  });
}

test('steer: untrusted bytes never throw and always give a valid queue', () => {
  const rss = new RssSteering({ queues: 3 });
  fc.assert(fc.property(fc.uint8Array({ maxLength: 80 }), (bytes) => {
    if (bytes.length >= 14) { bytes[12] = 0x08; bytes[13] = 0x00; }
    const d = rss.steer(bytes);
    assert.ok(d.queue >= 0 && d.queue < 3);
  }), { numRuns: 500 });
});

test('flow director: an exact rule overrides the hash, removing it restores the hash', () => {
  const rss = new RssSteering({ queues: 4 });
  const frame = ipv4Frame({ protocol: 6, src: V0.src, dst: V0.dst, sport: V0.sport, dport: V0.dport });
  const hashed = rss.steer(frame).queue;
  const other = (hashed + 1) % 4;
  const tuple = { protocol: 6, src: ip(V0.src), dst: ip(V0.dst), srcPort: V0.sport, dstPort: V0.dport };
  rss.addRule(tuple, other);
  assert.deepEqual(rss.steer(frame), { queue: other, reason: 'rule', hash: 0 });
  assert.equal(rss.queueOfTuple(tuple), other);
  // A different protocol or port is not matched.
  assert.equal(rss.steer(ipv4Frame({ protocol: 17, src: V0.src, dst: V0.dst, sport: V0.sport, dport: V0.dport })).reason, 'hash-4tuple');
  assert.equal(rss.removeRule(tuple), true);
  assert.equal(rss.steer(frame).queue, hashed);
  assert.throws(() => rss.addRule(tuple, 4), { code: 'ERR_INVALID_ARG_VALUE' });
});

test('indirection table: spread over fewer queues moves every entry into range', () => {
  const rss = new RssSteering({ queues: 4 });
  rss.spread(2);
  for (let h = 0; h < RSS_TABLE_SIZE; h++) assert.ok(rss.queueOfHash(h) < 2);
  assert.throws(() => new RssSteering({ queues: 0 }), { code: 'ERR_INVALID_ARG_VALUE' });
});

test('findPortForQueue: every queue gets ports whose reply frames steer back to it', () => {
  const queues = 4;
  const rss = new RssSteering({ queues });
  const local = ip('10.0.0.2');
  const remote = ip('10.0.0.1');
  for (let queue = 0; queue < queues; queue++) {
    const taken = new Set<number>();
    for (let n = 0; n < 20; n++) {
      const port = rss.findPortForQueue({ local, remote, remotePort: 80, queue, inUse: (p) => taken.has(p) });
      assert.ok(port !== undefined && port >= 49152 && port <= 65535);
      assert.ok(!taken.has(port));
      taken.add(port);
      // The remote's reply: src = remote:80, dst = local:port.
      const reply = ipv4Frame({ protocol: 6, src: '10.0.0.1', dst: '10.0.0.2', sport: 80, dport: port });
      assert.equal(rss.steer(reply).queue, queue);
    }
  }
});

test('findPortForQueue: respects the range, wraps from startAt, and reports exhaustion', () => {
  const rss = new RssSteering({ queues: 2 });
  const args = { local: ip('10.1.1.1'), remote: ip('10.1.1.2'), remotePort: 443 };
  const q0 = [] as number[];
  for (let p = 5000; p <= 5031; p++) if (rss.queueOfTuple({ protocol: 6, src: args.remote, dst: args.local, srcPort: 443, dstPort: p }) === 0) q0.push(p);
  assert.ok(q0.length > 0);
  const last = q0[q0.length - 1]!;
  // Starting just after the last qualifying port wraps around to the first.
  assert.equal(rss.findPortForQueue({ ...args, queue: 0, low: 5000, high: 5031, startAt: last + 1 }), q0[0]);
  assert.equal(rss.findPortForQueue({ ...args, queue: 0, low: 5000, high: 5031, inUse: () => true }), undefined);
});

test('replica steering: a frame counted while the monitor moves its entry waits for the move and goes to the new replica; the count stays below the moving bit', async () => {
  const { Worker } = await import('node:worker_threads');
  const { ENTRY_MOVING, ENTRY_COUNT_MASK } = await import('../../../src/abi/rss-table.js');
  const table = new Uint8Array(new SharedArrayBuffer(RSS_TABLE_SIZE));
  const frames = new Int32Array(new SharedArrayBuffer(RSS_TABLE_SIZE * 4));
  for (let e = 0; e < RSS_TABLE_SIZE; e++) table[e] = 1;
  const rss = new RssSteering({ queues: 2, replicas: true, table, entryFrames: frames });
  const frame = ipv4Frame({ protocol: 6, src: V0.src, dst: V0.dst, sport: V0.sport, dport: V0.dport });
  const e = V0.tcp & (RSS_TABLE_SIZE - 1);
  assert.equal(rss.steer(frame).queue, 1);
  assert.equal(Atomics.load(frames, e), 1, 'counted');
  // Another thread plays the monitor: takes the entry, holds it 20 ms, writes replica 0, lets go.
  const sync = new Int32Array(new SharedArrayBuffer(4));
  const w = new Worker(`
    const { workerData: { table, frames, sync, e, MOVING } } = require('node:worker_threads');
    const t = new Uint8Array(table), f = new Int32Array(frames), s = new Int32Array(sync);
    Atomics.or(f, e, MOVING);
    Atomics.store(s, 0, 1); Atomics.notify(s, 0);
    const until = Date.now() + 20; while (Date.now() < until) {}
    Atomics.store(t, e, 0);
    Atomics.and(f, e, ~MOVING);
  `, { eval: true, workerData: { table: table.buffer, frames: frames.buffer, sync: sync.buffer, e, MOVING: ENTRY_MOVING } });
  const exited = new Promise((r) => w.once('exit', r));
  Atomics.wait(sync, 0, 0, 10_000);
  assert.equal(rss.steer(frame).queue, 0, 'read after the move, not the old replica');
  assert.ok(rss.movingWaits > 0, 'it waited');
  await exited;
  // Near the top of the count, the driver takes it down, never into the moving bit.
  Atomics.store(frames, e, ENTRY_COUNT_MASK - 1);
  rss.steer(frame);
  const after = Atomics.load(frames, e);
  assert.equal(after & ENTRY_MOVING, 0);
  assert.ok(after < ENTRY_COUNT_MASK, `count ${after}`);
});
