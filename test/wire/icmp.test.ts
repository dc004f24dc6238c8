import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { IcmpType, emitIcmp, icmpLen, isIcmpErrorType, parseIcmp, type IcmpRepr } from '../../src/wire/icmp.js';
import { parseIpv4 } from '../../src/wire/ipv4.js';
import { capturedFrame } from '../fixtures/frames.js';

function icmpOf(frame: Uint8Array): { bytes: Uint8Array; start: number; end: number } {
  const ip = parseIpv4(frame, 14);
  assert.ok(ip.ok);
  const start = 14 + 20;
  return { bytes: frame, start, end: start + ip.value.payloadLen };
}

test('captured echo request and reply', () => {
  let ident = -1;
  for (const [info, kind] of [['Echo (ping) request', 'echo-request'], ['Echo (ping) reply', 'echo-reply']] as const) {
    const { bytes, start, end } = icmpOf(capturedFrame(info));
    const r = parseIcmp(bytes, start, end);
    assert.ok(r.ok);
    assert.equal(r.value.kind, kind);
    assert.ok(r.value.kind === 'echo-request' || r.value.kind === 'echo-reply');
    if (ident === -1) ident = r.value.ident;
    assert.equal(r.value.ident, ident);
    assert.equal(r.value.seq, 1);
    assert.equal(r.value.data.length, 56);
    // ping -p 6e6577746f73 fills the pattern "newtos" after the 16-byte timestamp.
    assert.ok(Buffer.from(r.value.data).toString('latin1').includes('newtos'));
    const out = new Uint8Array(icmpLen(r.value));
    emitIcmp(r.value, out);
    assert.deepEqual(out, bytes.subarray(start, end));
  }
});

test('captured port unreachable quotes our UDP datagram', () => {
  const { bytes, start, end } = icmpOf(capturedFrame('Destination unreachable (Port unreachable)'));
  const r = parseIcmp(bytes, start, end);
  assert.ok(r.ok && r.value.kind === 'dest-unreachable');
  assert.equal(r.value.code, 3);
  const quoted = parseIpv4(r.value.data, 0, r.value.data.length, true);
  assert.ok(quoted.ok);
  assert.equal(quoted.value.protocol, 17);
  assert.equal((r.value.data[20]! << 8) | r.value.data[21]!, 40000);
});

test('captured time exceeded and fragmentation needed (next-hop MTU 1000)', () => {
  const te = icmpOf(capturedFrame('Time-to-live exceeded'));
  const r1 = parseIcmp(te.bytes, te.start, te.end);
  assert.ok(r1.ok && r1.value.kind === 'time-exceeded');
  assert.equal(r1.value.code, 0);
  const fn = icmpOf(capturedFrame('Destination unreachable (Fragmentation needed)'));
  const r2 = parseIcmp(fn.bytes, fn.start, fn.end);
  assert.ok(r2.ok && r2.value.kind === 'dest-unreachable');
  assert.equal(r2.value.code, 4);
  assert.equal(r2.value.nextHopMtu, 1000);
  for (const x of [te, fn]) {
    const r = parseIcmp(x.bytes, x.start, x.end);
    assert.ok(r.ok);
    const out = new Uint8Array(icmpLen(r.value));
    emitIcmp(r.value, out);
    assert.deepEqual(out, x.bytes.subarray(x.start, x.end));
  }
});

test('parameter problem pointer and unknown types round trip', () => {
  const reprs: IcmpRepr[] = [
    { kind: 'parameter-problem', code: 0, pointer: 9, data: new Uint8Array(28) },
    { kind: 'other', type: 13, code: 0, rest: 0xdeadbeef, data: new Uint8Array(12) },
  ];
  for (const repr of reprs) {
    const buf = new Uint8Array(icmpLen(repr));
    emitIcmp(repr, buf);
    const back = parseIcmp(buf);
    assert.ok(back.ok);
    assert.deepEqual(back.value, repr);
  }
});

test('parse rejects truncated and bad checksum', () => {
  assert.equal((r => !r.ok && r.reason)(parseIcmp(new Uint8Array(7))), 'truncated');
  const buf = new Uint8Array(12);
  emitIcmp({ kind: 'echo-request', ident: 1, seq: 2, data: new Uint8Array(4) }, buf);
  buf[9] ^= 1;
  assert.equal((r => !r.ok && r.reason)(parseIcmp(buf)), 'bad-checksum');
});

test('error type classification (RFC 1122 §3.2.2)', () => {
  assert.ok(isIcmpErrorType(IcmpType.DestUnreachable));
  assert.ok(isIcmpErrorType(IcmpType.TimeExceeded));
  assert.ok(isIcmpErrorType(IcmpType.ParameterProblem));
  assert.ok(!isIcmpErrorType(IcmpType.EchoRequest));
  assert.ok(!isIcmpErrorType(IcmpType.EchoReply));
});

test('round trip property over all kinds', () => {
  const data = fc.uint8Array({ maxLength: 100 });
  const arb: fc.Arbitrary<IcmpRepr> = fc.oneof(
    fc.record({ kind: fc.constantFrom('echo-request' as const, 'echo-reply' as const), ident: fc.integer({ min: 0, max: 0xffff }), seq: fc.integer({ min: 0, max: 0xffff }), data }),
    fc.record({ kind: fc.constant('dest-unreachable' as const), code: fc.constant(4), nextHopMtu: fc.integer({ min: 0, max: 0xffff }), data }),
    fc.record({ kind: fc.constant('time-exceeded' as const), code: fc.integer({ min: 0, max: 1 }), data }),
  );
  fc.assert(fc.property(arb, (r) => {
    const buf = new Uint8Array(icmpLen(r));
    emitIcmp(r, buf);
    const back = parseIcmp(buf);
    assert.ok(back.ok);
    assert.deepEqual({ ...back.value, data: Array.from(back.value.data) }, { ...r, data: Array.from(r.data) });
  }), { numRuns: 1000 });
});
