import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createVswitch } from '../../src/driver/nic/vswitch.js';
import { createStack, type Stack } from '../../src/stack/host.js';
import type { DgramRemoteInfo, DgramSocket } from '../../src/app/dgram-socket.js';

type Placement = 'isolated' | 'monolithic';

async function twoHosts(placement: Placement): Promise<[Stack, Stack]> {
  const sw = { descriptor: createVswitch({ ports: 2, mtu: 1500 }), nextPort: 0 };
  const host = (name: string, ip: string): Promise<Stack> => createStack({
    name, placement,
    interfaces: [{ name: 'eth0', link: { type: 'vswitch', switch: 'sw0' }, addresses: [ip], mtu: 1500 }],
  }, { switches: { sw0: sw } });
  return [await host('a', '10.0.0.1/24'), await host('b', '10.0.0.2/24')];
}

async function bound(s: DgramSocket, port?: number): Promise<number> {
  s.bind(port);
  await once(s, 'listening');
  return s.address().port;
}

/** Deterministic datagram `seq` of a burst: seq (4 bytes) then bytes derived from it. */
function burstPayload(seq: number, size: number): Buffer {
  const b = Buffer.alloc(size);
  b.writeUInt32BE(seq, 0);
  const h = createHash('sha256').update(String(seq)).digest();
  for (let i = 4; i < size; i++) b[i] = h[i % 32]! ^ (i & 0xff);
  return b;
}

async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 5));
  }
  return true;
}

for (const placement of ['isolated', 'monolithic'] as const) {
  test(`UDP between two hosts on the virtual switch (${placement})`, { timeout: 60_000 }, async (t) => {
    const [a, b] = await twoHosts(placement);
    try {
      await t.test('datagrams both ways, content intact (sizes 0 to 65507, fragmented ones too)', async () => {
        const sa = a.dgram.createSocket('udp4');
        const sb = b.dgram.createSocket({ type: 'udp4' });
        const pa = await bound(sa, 4000);
        assert.equal(pa, 4000);
        assert.deepEqual(sa.address(), { address: '0.0.0.0', family: 'IPv4', port: 4000 });
        // a echoes every datagram back to its sender.
        sa.on('message', (msg: Buffer, rinfo: DgramRemoteInfo) => sa.send(msg, rinfo.port, rinfo.address));
        const got: { msg: Buffer; rinfo: DgramRemoteInfo }[] = [];
        sb.on('message', (msg: Buffer, rinfo: DgramRemoteInfo) => got.push({ msg, rinfo }));
        // First a datagram every 50 ms until one comes back: the hosts resolve each other with
        // ARP meanwhile, and IP queues only 3 packets per unresolved neighbour (more are dropped
        // and counted there), which a burst of fragments would overflow.
        for (let tries = 0; got.length === 0 && tries < 100; tries++) {
          sb.send('hello', 4000, '10.0.0.1');
          await until(() => got.length > 0, 50);
        }
        assert.ok(got.length > 0, 'no echo of the first datagram');
        assert.equal(got[0]!.msg.toString(), 'hello');
        got.length = 0;
        // Echoes of the warm-up still on their way are not counted below.
        await new Promise((r) => setTimeout(r, 100));
        got.length = 0;
        const sizes = [0, 1, 100, 1472, 1473, 9000, 65507];
        const sent = sizes.map((n, i) => burstPayload(i, Math.max(n, 4)).subarray(0, n));
        // (The warm-up above bound sb implicitly on its first send, like Node.)
        for (const m of sent) {
          await new Promise<void>((resolve, reject) => sb.send(m, 4000, '10.0.0.1', (err, bytes) => {
            if (err) reject(err); else { assert.equal(bytes, m.length); resolve(); }
          }));
        }
        assert.ok(await until(() => got.length === sent.length, 10_000), `echoes: got ${got.length} of ${sent.length}`);
        const pb = sb.address().port;
        assert.ok(pb >= 49152, `ephemeral port ${pb}`);
        const bySize = new Map(got.map((g) => [g.msg.length, g]));
        for (const m of sent) {
          const g = bySize.get(m.length);
          assert.ok(g !== undefined, `echo of ${m.length} bytes`);
          assert.ok(g.msg.equals(m), `content of the ${m.length}-byte datagram`);
          assert.deepEqual(g.rinfo, { address: '10.0.0.1', family: 'IPv4', port: 4000, size: m.length });
        }
        await new Promise<void>((resolve) => sa.close(resolve));
        sb.close();
        await once(sb, 'close');
      });

      await t.test('a burst of datagrams: none corrupted, every loss counted', async (st) => {
        const rx = a.dgram.createSocket('udp4');
        const tx = b.dgram.createSocket('udp4');
        await bound(rx, 4001);
        const count = 3000;
        const size = 512;
        const seen = new Set<number>();
        let corrupt = 0;
        rx.on('message', (msg: Buffer) => {
          const seq = msg.length >= 4 ? msg.readUInt32BE(0) : -1;
          if (msg.length !== size || seq >= count || !msg.equals(burstPayload(seq, size)) || seen.has(seq)) corrupt++;
          else seen.add(seq);
        });
        const before = a.udpStats();
        let acked = 0;
        for (let seq = 0; seq < count; seq++) {
          tx.send(burstPayload(seq, size), 4001, '10.0.0.1', (err) => { assert.ifError(err); acked++; });
          // Let the event loop run now and then (both hosts' apps share this thread).
          if (seq % 256 === 255) await new Promise((r) => setImmediate(r));
        }
        assert.ok(await until(() => acked === count, 10_000), `send callbacks: ${acked} of ${count}`);
        const dropped = (): number => a.udpStats().dropRecvRingFull - before.dropRecvRingFull;
        const delivered = (): number => a.udpStats().delivered - before.delivered;
        await until(() => delivered() === count && seen.size + corrupt + dropped() === count, 10_000);
        assert.equal(corrupt, 0, 'corrupted or duplicated datagrams');
        assert.equal(delivered(), count, 'datagrams the receiving UDP server demultiplexed (no loss below UDP)');
        assert.equal(seen.size + dropped(), count, `received ${seen.size}, counted drops ${dropped()}, sent ${count}`);
        assert.ok(seen.size > 0);
        st.diagnostic(`burst: ${count} sent, ${seen.size} received, ${dropped()} dropped at a full receive ring`);
        rx.close();
        tx.close();
      });

      await t.test('a second bind of the same port: EADDRINUSE', async () => {
        const first = a.dgram.createSocket('udp4');
        await bound(first, 4002);
        const second = a.dgram.createSocket('udp4');
        second.bind(4002);
        const [err] = await once(second, 'error') as [Error & { code: string; syscall: string; port: number }];
        assert.equal(err.code, 'EADDRINUSE');
        assert.equal(err.syscall, 'bind');
        assert.equal(err.port, 4002);
        assert.throws(() => second.address(), { code: 'EBADF' });
        // A specific address conflicts with the wildcard binding too.
        const third = a.dgram.createSocket('udp4');
        third.bind(4002, '10.0.0.1');
        const [err3] = await once(third, 'error') as [Error & { code: string }];
        assert.equal(err3.code, 'EADDRINUSE');
        // After close the port is free again (CLOSE and the next BIND travel in order through SOCK).
        first.close();
        const again = a.dgram.createSocket('udp4');
        assert.equal(await bound(again, 4002), 4002);
        again.close();
        second.close();
        third.close();
      });

      await t.test('a datagram to a closed port: ICMP port unreachable back to the sender', async () => {
        const s = b.dgram.createSocket('udp4');
        const before = b.udpStats();
        const beforeA = a.udpStats();
        s.send('anyone there?', 9, '10.0.0.1');
        assert.ok(await until(() => b.udpStats().icmpPortUnreachableIn > before.icmpPortUnreachableIn, 5_000),
          'port unreachable counted where the datagram came from');
        assert.equal(a.udpStats().portUnreachableRequested - beforeA.portUnreachableRequested, 1);
        assert.equal(a.udpStats().dropNoPort - beforeA.dropNoPort, 1);
        s.close();
      });

      await t.test('datagrams to our own address and to 127.0.0.1 (the default) loop back inside the host', async () => {
        const s1 = a.dgram.createSocket('udp4');
        await bound(s1, 4007);
        const got: [string, string][] = [];
        s1.on('message', (m: Buffer, r: DgramRemoteInfo) => got.push([m.toString(), r.address]));
        const s2 = a.dgram.createSocket('udp4');
        s2.send('to self', 4007, '10.0.0.1');
        s2.send('to localhost', 4007);
        assert.ok(await until(() => got.length === 2, 5_000), `got ${JSON.stringify(got)}`);
        assert.deepEqual(got.sort(), [['to localhost', '127.0.0.1'], ['to self', '10.0.0.1']]);
        s1.close();
        s2.close();
      });

      await t.test('connected sockets: only the peer is heard; port unreachable from the peer is ECONNREFUSED', async () => {
        const echo = a.dgram.createSocket('udp4');
        await bound(echo, 4006);
        echo.on('message', (m: Buffer, r: DgramRemoteInfo) => echo.send(m, r.port, r.address));
        const c = b.dgram.createSocket('udp4');
        const heard: string[] = [];
        c.on('message', (m: Buffer) => heard.push(m.toString()));
        await new Promise<void>((resolve) => c.connect(4006, '10.0.0.1', resolve));
        assert.deepEqual(c.remoteAddress(), { address: '10.0.0.1', family: 'IPv4', port: 4006 });
        // Node's rule: with offset and length, a port or address on a connected socket throws.
        assert.throws(() => c.send('xyz', 0, 1, 4006, '10.0.0.1'), { code: 'ERR_SOCKET_DGRAM_IS_CONNECTED' });
        c.send('ping');
        assert.ok(await until(() => heard.includes('ping'), 5_000), 'echo from the peer');
        // Someone else on a writes to c's port: a connected socket does not hear it.
        const other = a.dgram.createSocket('udp4');
        other.send('stranger', c.address().port, '10.0.0.2');
        c.send('ping2');
        assert.ok(await until(() => heard.includes('ping2'), 5_000));
        await new Promise((r) => setTimeout(r, 50));
        assert.ok(!heard.includes('stranger'), 'a datagram from another peer was delivered to a connected socket');
        // A connected socket whose peer has no socket: ECONNREFUSED.
        const d = b.dgram.createSocket('udp4');
        d.connect(4099, '10.0.0.1');
        await once(d, 'connect');
        d.send('hello?');
        const [err] = await once(d, 'error') as [Error & { code: string; syscall: string }];
        assert.equal(err.code, 'ECONNREFUSED');
        d.disconnect();
        assert.throws(() => d.remoteAddress(), { code: 'ERR_SOCKET_DGRAM_NOT_CONNECTED' });
        for (const s of [echo, c, other, d]) s.close();
      });

      await t.test('the UDP server crashes and restarts: bound sockets keep receiving and sending', { skip: placement !== 'isolated' && 'a crash in monolithic placement restarts every server of the host' }, async () => {
        const sa = a.dgram.createSocket('udp4');
        const sb = b.dgram.createSocket('udp4');
        await bound(sa, 4003);
        await bound(sb, 4004);
        const atA: string[] = [];
        const atB: string[] = [];
        sa.on('message', (m: Buffer) => atA.push(m.toString()));
        sb.on('message', (m: Buffer) => atB.push(m.toString()));
        sb.send('before', 4003, '10.0.0.1');
        assert.ok(await until(() => atA.includes('before'), 5_000), 'before the crash');
        a.supervisor.inject('udp', 'crash');
        await a.supervisor.whenRunning('udp', 2, 30_000);
        for (let tries = 0; !atA.includes('after') && tries < 50; tries++) {
          sb.send('after', 4003, '10.0.0.1');
          await until(() => atA.includes('after'), 100);
        }
        assert.ok(atA.includes('after'), 'the successor delivers to the socket bound before the crash');
        sa.send('from a', 4004, '10.0.0.2');
        assert.ok(await until(() => atB.includes('from a'), 5_000), 'the socket sends through the successor');
        // The binding survived: the port is still taken.
        const dup = a.dgram.createSocket('udp4');
        dup.bind(4003);
        const [err] = await once(dup, 'error') as [Error & { code: string }];
        assert.equal(err.code, 'EADDRINUSE');
        dup.close();
        sa.close();
        sb.close();
      });

      await t.test('argument validation throws synchronously with Node codes', () => {
        const s = a.dgram.createSocket('udp4');
        assert.throws(() => s.send('x', 0, '10.0.0.2'), { code: 'ERR_SOCKET_BAD_PORT', name: 'RangeError' });
        assert.throws(() => s.send('x', 70000, '10.0.0.2'), { code: 'ERR_SOCKET_BAD_PORT' });
        assert.throws(() => s.send('x', -1, '10.0.0.2'), { code: 'ERR_SOCKET_BAD_PORT' });
        assert.throws(() => s.bind(65536), { code: 'ERR_SOCKET_BAD_PORT' });
        assert.throws(() => s.send(42 as unknown as string, 1234, '10.0.0.2'), { code: 'ERR_INVALID_ARG_TYPE', name: 'TypeError' });
        assert.throws(() => s.send(Buffer.alloc(4), 2, 4, 1234, '10.0.0.2'), { code: 'ERR_BUFFER_OUT_OF_BOUNDS' });
        assert.throws(() => a.dgram.createSocket('udp5' as 'udp4'), { code: 'ERR_SOCKET_BAD_TYPE' });
        s.close();
        assert.throws(() => s.send('x', 1234, '10.0.0.2'), { code: 'ERR_SOCKET_DGRAM_NOT_RUNNING' });
        assert.throws(() => s.close(), { code: 'ERR_SOCKET_DGRAM_NOT_RUNNING' });
        assert.throws(() => s.address(), { code: 'ERR_SOCKET_DGRAM_NOT_RUNNING' });
      });
    } finally {
      await b.close();
      await a.close();
    }
  });
}
