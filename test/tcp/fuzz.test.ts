import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Harness, LOCAL, LOCAL_PORT, PASSIVE, PEER_ISN, PEER_PORT, REMOTE } from './harness.js';
import { emitTcp, type TcpRepr } from '../../src/wire/tcp.js';

// Untrusted input never throws: random segments (flags, numbers near the live
// connection's, options, payloads) and random bytes against an engine with a
// listener and an established connection; the engine keeps its invariants.

const segArb = fc.record({
  srcPort: fc.constantFrom(PEER_PORT, PEER_PORT + 1, 1),
  dstPort: fc.constantFrom(LOCAL_PORT, LOCAL_PORT + 1),
  seqOff: fc.integer({ min: -70000, max: 70000 }),
  ackOff: fc.integer({ min: -70000, max: 70000 }),
  flags: fc.integer({ min: 0, max: 255 }),
  window: fc.integer({ min: 0, max: 65535 }),
  mss: fc.option(fc.integer({ min: 0, max: 65535 }), { nil: undefined }),
  windowScale: fc.option(fc.integer({ min: 0, max: 255 }), { nil: undefined }),
  sackPermitted: fc.option(fc.constant(true), { nil: undefined }),
  ts: fc.option(fc.record({ val: fc.nat({ max: 0xffffffff }), ecr: fc.nat({ max: 0xffffffff }) }), { nil: undefined }),
  sack: fc.option(fc.array(fc.record({ l: fc.integer({ min: -5000, max: 70000 }), r: fc.integer({ min: -5000, max: 70000 }) }), { minLength: 1, maxLength: 3 }), { nil: undefined }),
  len: fc.integer({ min: 0, max: 3000 }),
  dt: fc.integer({ min: 0, max: 3000 }),
  raw: fc.option(fc.uint8Array({ maxLength: 80 }), { nil: undefined, freq: 10 }),
});

test('fuzz: random segments never throw and leave the engine consistent', () => {
  fc.assert(fc.property(fc.array(segArb, { minLength: 1, maxLength: 60 }), (segs) => {
    const h = new Harness({ msl: 500 });
    h.run(PASSIVE + `
      +0   send 5000
      +0   > . 1:1001(1000) ack 1
      +0   > . 1001:2001(1000) ack 1
      +0   > . 2001:3001(1000) ack 1
      +0   > . 3001:4001(1000) ack 1
      +0   > P. 4001:5001(1000) ack 1
    `);
    const iss = h.iss!;
    for (const s of segs) {
      h.advance(h.now + s.dt);
      if (s.raw !== undefined) {
        h.injectBytes(s.raw);
        continue;
      }
      const repr: TcpRepr = {
        srcPort: s.srcPort, dstPort: s.dstPort,
        seq: (PEER_ISN + 1 + s.seqOff) >>> 0, ack: (iss + 1 + s.ackOff) >>> 0,
        flags: s.flags, window: s.window,
        ...(s.mss !== undefined ? { mss: s.mss } : {}),
        ...(s.windowScale !== undefined ? { windowScale: s.windowScale } : {}),
        ...(s.sackPermitted ? { sackPermitted: true } : {}),
        ...(s.ts ? { timestamp: s.ts } : {}),
        ...(s.sack ? { sack: s.sack.map((b) => ({ left: (iss + 1 + b.l) >>> 0, right: (iss + 1 + b.r) >>> 0 })) } : {}),
        payload: new Uint8Array(s.len),
      };
      const buf = new Uint8Array(60 + s.len);
      const n = emitTcp(repr, buf, REMOTE, LOCAL);
      h.injectBytes(buf.subarray(0, n));
      // Interleave application calls, as a socket layer would.
      try {
        const info = h.engine.info(h.conn);
        if (info.recvQueued > 0) h.engine.receive(h.conn, new Uint8Array(4096), h.now);
        assert.ok(info.bytesInFlight >= 0 && info.cwnd > 0);
      } catch (e) {
        if ((e as { code?: string }).code !== 'ERR_INVALID_ARG_VALUE') throw e;
      }
    }
    h.advance(h.now + 600_000);
    assert.ok(h.engine.pollAt() > h.now);
  }), { numRuns: 300 });
});
