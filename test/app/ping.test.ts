/**
 * stack.ping between newtos hosts on the virtual switch (no privileges): echo
 * replies with round-trip times (also fragmented and empty requests, to
 * ourselves and to 127.0.0.1), loss when the peer's filter drops the requests,
 * ICMP errors when it rejects them, local failures (no route, ARP
 * unresolved), and misuse refused with Node's error codes.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createVswitch } from '../../src/driver/nic/vswitch.js';
import { createStack, type Stack } from '../../src/stack/host.js';

describe('stack.ping on the virtual switch', { timeout: 60_000 }, () => {
  let a: Stack;
  let b: Stack;
  let c: Stack;

  before(async () => {
    const sw = { descriptor: createVswitch({ ports: 3 }), nextPort: 0 };
    const host = (name: string, addresses: string[], filter?: string): Promise<Stack> => createStack({
      name, interfaces: [{ name: 'eth0', link: { type: 'vswitch', switch: 'sw0' }, addresses }],
      ...(filter !== undefined ? { filter } : {}),
    }, { switches: { sw0: sw } });
    // One allow rule on a and b keeps PF in the path (a filter that decides nothing is not
    // asked), so the verdict-buffer test below still goes through it.
    a = await host('a', ['10.0.0.1/24'], 'default allow\nallow');
    b = await host('b', ['10.0.0.2/24'], 'default allow\nallow');
    // c refuses echo requests to 10.0.0.3 with an ICMP error and silently drops those to 10.0.0.4.
    c = await host('c', ['10.0.0.3/24', '10.0.0.4/24'], [
      'default allow',
      'reject with admin-prohibited in proto icmp to 10.0.0.3 icmp-type echo-request',
      'drop in proto icmp to 10.0.0.4 icmp-type echo-request',
    ].join('\n'));
  });

  after(async () => {
    await Promise.all([a?.close(), b?.close(), c?.close()]);
  });

  test('replies from another host, with round-trip times measured in IP', async () => {
    const seen: number[] = [];
    const r = await a.ping('10.0.0.2', { count: 3, intervalMs: 20, onReply: (x) => seen.push(x.seq) });
    assert.equal(r.address, '10.0.0.2');
    assert.equal(r.transmitted, 3);
    assert.equal(r.received, 3, JSON.stringify(r));
    assert.equal(r.lossPct, 0);
    assert.deepEqual(r.errors, []);
    assert.deepEqual(r.replies.map((x) => x.seq), [0, 1, 2]);
    assert.deepEqual(seen.sort(), [0, 1, 2]);
    for (const x of r.replies) {
      assert.equal(x.from, '10.0.0.2');
      assert.equal(x.bytes, 56);
      assert.equal(x.ttl, 64);
      assert.ok(x.rttMs > 0 && x.rttMs < 2000, `rtt ${x.rttMs}`);
    }
    assert.ok(r.rtt !== null && r.rtt.minMs <= r.rtt.avgMs && r.rtt.avgMs <= r.rtt.maxMs);
  });

  const sizes: [string, number][] = [['empty data', 0], ['fragmented both ways (4000 bytes)', 4000], ['the largest datagram (65507 bytes)', 65507]];
  for (const [name, size] of sizes) {
    test(`requests with ${name} come back intact`, async () => {
      const r = await a.ping('10.0.0.2', { count: 2, intervalMs: 0, size, timeoutMs: 5000 });
      assert.equal(r.received, 2, JSON.stringify(r));
      assert.equal(r.corrupted, 0);
      assert.ok(r.replies.every((x) => x.bytes === size));
    });
  }

  test('500 requests 1 ms apart are all answered (IP gives back each buffer once its verdict is done)', async () => {
    // Each request and reply is a packet IP builds itself and copies into its pool (256
    // buffers) for the filter's verdict. Those copies once held on until a 5 s sweep, so
    // after ~128 pings in 5 s every later request and reply was lost.
    const r = await a.ping('10.0.0.2', { count: 500, intervalMs: 1, size: 8, timeoutMs: 10_000 });
    assert.equal(r.received, 500, `${r.received} of 500 answered; errors ${JSON.stringify(r.errors.slice(0, 3))}`);
    for (const s of [a, b]) {
      // Counters reach shared memory within 20 ms of the last change. Quiet, IP holds no
      // buffer: not a frame's, not a copy for the filter.
      const server = (): Record<string, number> => s.counters().ip['server'] as Record<string, number>;
      const holding = (): number => (server()['held'] ?? -1) + (server()['verdictCopies'] ?? -1);
      for (let i = 0; i < 100 && holding() !== 0; i++) await new Promise((r) => setTimeout(r, 20));
      assert.equal(server()['held'], 0, `${s.config.name ?? '?'}: ${JSON.stringify(server())}`);
      assert.equal(server()['verdictCopies'], 0, `${s.config.name ?? '?'}: ${JSON.stringify(server())}`);
    }
  });

  test('our own address and 127.0.0.1 answer (loopback)', async () => {
    for (const address of ['10.0.0.1', '127.0.0.1']) {
      const r = await a.ping(address, { count: 2, intervalMs: 0 });
      assert.equal(r.received, 2, `${address}: ${JSON.stringify(r)}`);
      assert.equal(r.replies[0]!.from, address);
    }
  });

  test('requests the peer drops are lost: resolved after the timeout with 100 % loss', async () => {
    const started = performance.now();
    const r = await a.ping('10.0.0.4', { count: 2, intervalMs: 0, timeoutMs: 300 });
    assert.equal(r.transmitted, 2);
    assert.equal(r.received, 0);
    assert.equal(r.lossPct, 100);
    assert.deepEqual(r.errors, []);
    assert.equal(r.rtt, null);
    assert.ok(performance.now() - started >= 290);
  });

  test('requests the peer rejects come back as ICMP errors (admin prohibited)', async () => {
    const r = await a.ping('10.0.0.3', { count: 1, timeoutMs: 3000 });
    assert.equal(r.received, 0);
    assert.equal(r.errors.length, 1, JSON.stringify(r));
    const e = r.errors[0]!;
    assert.equal(e.from, '10.0.0.3');
    assert.equal(e.icmpType, 3);
    assert.equal(e.icmpCode, 13);
    assert.equal(e.code, 'EHOSTUNREACH');
  });

  test('no route: ENETUNREACH at once; nobody answering ARP: EHOSTUNREACH', async () => {
    const noRoute = await a.ping('192.168.77.1', { count: 1, timeoutMs: 3000 });
    assert.deepEqual(noRoute.errors.map((e) => e.code), ['ENETUNREACH']);
    const noArp = await a.ping('10.0.0.99', { count: 1, timeoutMs: 10_000 });
    assert.deepEqual(noArp.errors.map((e) => e.code), ['EHOSTUNREACH'], JSON.stringify(noArp));
    assert.equal(noArp.lossPct, 100);
  });

  const misuse: [string, () => Promise<unknown>, string][] = [
    ['address not a string', () => a.ping(42 as unknown as string), 'ERR_INVALID_ARG_TYPE'],
    ['address not IPv4', () => a.ping('example.com'), 'ERR_INVALID_IP_ADDRESS'],
    ['address with a leading zero', () => a.ping('10.0.0.02'), 'ERR_INVALID_IP_ADDRESS'],
    ['options not an object', () => a.ping('10.0.0.2', 3 as unknown as object), 'ERR_INVALID_ARG_TYPE'],
    ['count 0', () => a.ping('10.0.0.2', { count: 0 }), 'ERR_OUT_OF_RANGE'],
    ['count as a string', () => a.ping('10.0.0.2', { count: '3' as unknown as number }), 'ERR_INVALID_ARG_TYPE'],
    ['size over 65507', () => a.ping('10.0.0.2', { size: 65508 }), 'ERR_OUT_OF_RANGE'],
    ['fractional timeout', () => a.ping('10.0.0.2', { timeoutMs: 1.5 }), 'ERR_OUT_OF_RANGE'],
    ['ttl 0', () => a.ping('10.0.0.2', { ttl: 0 }), 'ERR_OUT_OF_RANGE'],
    ['onReply not a function', () => a.ping('10.0.0.2', { onReply: 1 as unknown as () => void }), 'ERR_INVALID_ARG_TYPE'],
  ];
  for (const [name, call, code] of misuse) {
    test(`misuse is refused: ${name} (${code})`, async () => {
      await assert.rejects(call(), (e: Error & { code?: string }) => { assert.equal(e.code, code); return true; });
    });
  }

  test('a ping in progress when the stack closes ends; a new one is refused (ERR_STACK_CLOSED)', async () => {
    const sw = { descriptor: createVswitch({ ports: 2 }), nextPort: 0 };
    const d = await createStack({ interfaces: [{ name: 'eth0', link: { type: 'vswitch', switch: 'sw0' }, addresses: ['10.1.0.1/24'] }] },
      { switches: { sw0: sw } });
    const running = d.ping('10.1.0.9', { count: 5, intervalMs: 1000, timeoutMs: 5000 });
    await new Promise((r) => setTimeout(r, 100));
    await d.close();
    const r = await running;
    assert.ok(r.transmitted < 5);
    assert.equal(r.received, 0);
    await assert.rejects(d.ping('10.1.0.9'), (e: Error & { code?: string }) => e.code === 'ERR_STACK_CLOSED');
  });
});
