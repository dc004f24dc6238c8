import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Harness, LOCAL, REMOTE } from './harness.js';
import { TSO_MAX_BYTES, TcpEventType, resolveTcpConfig } from '../../src/tcp/config.js';
import { transfer } from './sim.js';

// Engine API: ephemeral ports (RFC 6056), ids, event delivery, back-pressure.

test('ephemeral ports: in range, distinct per connection, the owner\'s filter applies', () => {
  const h = new Harness({ ephemeralPortMin: 40000, ephemeralPortMax: 40100, portFilter: (_la, p) => p % 2 === 0 });
  const ports = new Set<number>();
  for (let i = 0; i < 20; i++) {
    const c = h.engine.connect({ localAddr: LOCAL, remoteAddr: REMOTE, remotePort: 80 }, 0);
    const p = h.engine.info(c).localPort;
    assert.ok(p >= 40000 && p <= 40100 && p % 2 === 0, `port ${p}`);
    ports.add(p);
  }
  assert.equal(ports.size, 20);
});

test('ephemeral ports with a filter (a replica\'s) are spread over the range, not a run of successive ports', () => {
  // Algorithm 4 gives one destination successive ports; thinned by a replica's filter they
  // came in runs (every 2nd port here), which a server with replicas of its own steered onto
  // few of its queues. With a filter each search starts at a random point of the range.
  const h = new Harness({ ephemeralPortMin: 32768, ephemeralPortMax: 60999, portFilter: (_la, p) => p % 2 === 0 });
  const ports: number[] = [];
  for (let i = 0; i < 16; i++) ports.push(h.engine.info(h.engine.connect({ localAddr: LOCAL, remoteAddr: REMOTE, remotePort: 80 }, 0)).localPort);
  const steps = ports.slice(1).map((p, i) => Math.abs(p - ports[i]!));
  assert.ok(steps.filter((d) => d === 2).length <= 2, `successive ports: ${ports.join(', ')}`);
  // Spread: all four quarters of the range are used.
  const quarters = new Set(ports.map((p) => Math.floor((p - 32768) / ((60999 - 32768 + 1) / 4))));
  assert.equal(quarters.size, 4, ports.join(', '));
});

test('ephemeral ports exhausted: EADDRNOTAVAIL', () => {
  const h = new Harness({ ephemeralPortMin: 40000, ephemeralPortMax: 40001 });
  h.engine.connect({ localAddr: LOCAL, remoteAddr: REMOTE, remotePort: 80 }, 0);
  h.engine.connect({ localAddr: LOCAL, remoteAddr: REMOTE, remotePort: 80 }, 0);
  assert.throws(() => h.engine.connect({ localAddr: LOCAL, remoteAddr: REMOTE, remotePort: 80 }, 0), { code: 'EADDRNOTAVAIL' });
});

test('events may call back into the engine: a Readable handler reads and closes', () => {
  const h = new Harness({
    onEvent: (type, conn) => {
      if (type === TcpEventType.Readable) {
        const buf = new Uint8Array(1000);
        assert.equal(h.engine.receive(conn, buf, h.now), 100);
        h.engine.close(conn, h.now);
      }
    },
  });
  h.run(`
    0    listen
    0    < S 0:0(0) win 65535 <mss 1000>
    0    > S. 0:0(0) ack 1 <mss 1460>
    +10  < . 1:1(0) ack 1 win 65535
    +0   accept
    +0   < P. 1:101(100) ack 1 win 65535
    +0   > F. 1:1(0) ack 101
    +0   state FIN-WAIT-1
  `);
});

test('allocator back-pressure: nothing is lost, output resumes on retryOutput', () => {
  let deny = false;
  const h = new Harness({ allocator: { alloc: (n) => (deny ? undefined : new Uint8Array(n)) } });
  h.run(`
    0    listen
    0    < S 0:0(0) win 65535 <mss 1000>
    0    > S. 0:0(0) ack 1 <mss 1460>
    +10  < . 1:1(0) ack 1 win 65535
    +0   accept
  `);
  deny = true;
  assert.equal(h.engine.send(h.conn, new Uint8Array(3000), h.now), 3000);
  assert.equal(h.pending().length, 0);
  assert.ok(h.engine.counters.allocFailures > 0);
  deny = false;
  h.engine.retryOutput(h.now);
  h.run(`
    +0   > . 1:1001(1000) ack 1
    +0   > . 1001:2001(1000) ack 1
    +0   > P. 2001:3001(1000) ack 1
  `);
});

test('connection ids are reused after release', () => {
  const h = new Harness();
  const a = h.engine.connect({ localAddr: LOCAL, remoteAddr: REMOTE, remotePort: 80 }, 0);
  h.engine.abort(a, 0);
  const b = h.engine.connect({ localAddr: LOCAL, remoteAddr: REMOTE, remotePort: 81 }, 0);
  assert.equal(a, b);
  assert.equal(h.engine.connectionCount(), 1);
});

test('sim: a transfer is deterministic for a seed (replayable)', () => {
  const a = transfer(42, 256 * 1024, { loss: 0.05, reorder: 0.05 });
  const b = transfer(42, 256 * 1024, { loss: 0.05, reorder: 0.05 });
  assert.ok(a.ok && b.ok);
  assert.equal(a.segments, b.segments);
  assert.equal(a.virtualMs, b.virtualMs);
});

test('setNoDelay changes one connection, not the defaults of others', () => {
  const h = new Harness();
  const a = h.engine.connect({ localAddr: LOCAL, remoteAddr: REMOTE, remotePort: 80 }, 0);
  h.engine.setNoDelay(a, true, 0);
  assert.equal(h.engine.config.defaults.noDelay, false);
  const b = h.engine.connect({ localAddr: LOCAL, remoteAddr: REMOTE, remotePort: 81 }, 0);
  assert.notEqual(a, b);
  assert.equal(h.engine.config.defaults.noDelay, false);
});

test('the configuration is resolved once, frozen, and checked', () => {
  const h = new Harness();
  assert.ok(Object.isFrozen(h.engine.config));
  assert.ok(Object.isFrozen(h.engine.config.defaults));
  assert.equal(h.engine.config.msl, 30_000);
  assert.equal(resolveTcpConfig({ tsoMaxBytes: 1e9 }).tsoMaxBytes, TSO_MAX_BYTES);
  assert.throws(() => resolveTcpConfig({ minRto: 500, maxRto: 100 }), RangeError);
  assert.throws(() => resolveTcpConfig({ ephemeralPortMin: 0 }), RangeError);
  assert.throws(() => resolveTcpConfig({ msl: -1 }), RangeError);
  assert.throws(() => resolveTcpConfig({ defaults: { recvBufferSize: 0 } }), RangeError);
});
