import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { UDP_HEADER_LEN, emitUdp, parseUdp } from '../../src/wire/udp.js';
import { parseIpv4 } from '../../src/wire/ipv4.js';
import { capturedFrame } from '../fixtures/frames.js';

const IP_A = 0x0a630001;
const IP_B = 0x0a630002;

test('captured datagram 40000 -> 9999 "hello newtos": parse and emit', () => {
  const f = capturedFrame('40000 \u2192 9999');
  const ip = parseIpv4(f, 14);
  assert.ok(ip.ok);
  const r = parseUdp(f, 34, 34 + ip.value.payloadLen, ip.value.src, ip.value.dst);
  assert.ok(r.ok);
  assert.deepEqual(r.value, { srcPort: 40000, dstPort: 9999, payloadLen: 12 });
  assert.equal(Buffer.from(f.subarray(42, 54)).toString(), 'hello newtos');
  const out = new Uint8Array(20);
  out.set(f.subarray(42, 54), 8);
  emitUdp(r.value, out, 0, IP_A, IP_B);
  assert.deepEqual(out, f.subarray(34, 54));
});

test('receive: zero checksum means none (RFC 768); wrong checksum is rejected', () => {
  const f = capturedFrame('40000 \u2192 9999');
  const seg = f.slice(34, 54);
  seg[6] = 0; seg[7] = 0;
  assert.ok(parseUdp(seg, 0, 20, IP_A, IP_B).ok);
  const bad = f.slice(34, 54);
  bad[10] ^= 0x40;
  assert.equal((r => !r.ok && r.reason)(parseUdp(bad, 0, 20, IP_A, IP_B)), 'bad-checksum');
  // Wrong pseudo-header (different destination) is a checksum failure too.
  assert.equal((r => !r.ok && r.reason)(parseUdp(f, 34, 54, IP_A, IP_B + 1)), 'bad-checksum');
});

test('length field must lie within [8, available]', () => {
  const seg = new Uint8Array(12);
  seg[5] = 7;
  assert.equal((r => !r.ok && r.reason)(parseUdp(seg, 0, 12, 0, 0)), 'bad-length');
  seg[5] = 13;
  assert.equal((r => !r.ok && r.reason)(parseUdp(seg, 0, 12, 0, 0)), 'bad-length');
  assert.equal((r => !r.ok && r.reason)(parseUdp(seg, 0, 7, 0, 0)), 'truncated');
});

test('emit never sends a zero checksum: 0 becomes 0xffff', () => {
  // Search for a payload whose checksum computes to zero.
  const buf = new Uint8Array(UDP_HEADER_LEN + 2);
  for (let v = 0; v < 0x10000; v++) {
    buf[8] = v >>> 8; buf[9] = v;
    emitUdp({ srcPort: 1, dstPort: 2, payloadLen: 2 }, buf, 0, 1, 2);
    if (buf[6] === 0xff && buf[7] === 0xff) {
      assert.ok(parseUdp(buf, 0, 10, 1, 2).ok);
      return;
    }
  }
  assert.fail('no payload hit the all-ones case');
});

test('round trip with random payloads and addresses', () => {
  fc.assert(fc.property(
    fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffff }), fc.uint8Array({ maxLength: 600 }),
    fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 0xffffffff }),
    (sp, dp, data, src, dst) => {
      const buf = new Uint8Array(8 + data.length);
      buf.set(data, 8);
      emitUdp({ srcPort: sp, dstPort: dp, payloadLen: data.length }, buf, 0, src, dst);
      const r = parseUdp(buf, 0, buf.length, src, dst);
      assert.ok(r.ok);
      assert.deepEqual(r.value, { srcPort: sp, dstPort: dp, payloadLen: data.length });
    }), { numRuns: 1000 });
});
