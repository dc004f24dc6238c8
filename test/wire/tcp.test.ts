import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  TcpFlag, TcpSegment, emitTcp, formatTcp, parseTcp, parseTcpInto, tcpHeaderLen, verifyTcpChecksum,
  type TcpRepr,
} from '../../src/wire/tcp.js';
import { linuxTransfer } from '../tcp/fixtures/linux-capture.js';

function ip(s: string): number {
  return s.split('.').reduce((a, o) => ((a << 8) | Number(o)) >>> 0, 0);
}
function hex(s: string): Uint8Array {
  return Uint8Array.from(Buffer.from(s, 'hex'));
}
const A = ip('10.77.0.1');
const B = ip('10.77.0.2');

test('Linux SYN: options MSS, SACK-permitted, timestamps, window scale', () => {
  const syn = linuxTransfer[0]!;
  const r = parseTcp(hex(syn.hex), ip(syn.src), ip(syn.dst));
  assert.ok(r.ok);
  const v = r.value;
  assert.equal(v.flags, TcpFlag.SYN);
  assert.equal(v.dstPort, 5001);
  assert.equal(v.mss, 1460);
  assert.equal(v.sackPermitted, true);
  assert.equal(v.windowScale, 10);
  assert.equal(v.timestamp?.ecr, 0);
  assert.equal(v.window, 64240);
  assert.equal(tcpHeaderLen(v), 40);
});

test('every captured Linux segment parses, verifies and re-emits byte for byte', () => {
  for (const s of linuxTransfer) {
    const bytes = hex(s.hex);
    assert.ok(verifyTcpChecksum(bytes, ip(s.src), ip(s.dst)), `checksum of ${s.hex.slice(0, 40)}`);
    const r = parseTcp(bytes, ip(s.src), ip(s.dst));
    assert.ok(r.ok, `parse ${s.hex.slice(0, 40)}`);
    const out = new Uint8Array(bytes.length);
    assert.equal(emitTcp(r.value, out, ip(s.src), ip(s.dst)), bytes.length);
    assert.deepEqual(Buffer.from(out).toString('hex'), s.hex, formatTcp(r.value));
  }
});

const cases: { name: string; bytes: Uint8Array; reason: string }[] = [
  { name: 'empty', bytes: new Uint8Array(0), reason: 'truncated' },
  { name: '19 bytes', bytes: new Uint8Array(19), reason: 'truncated' },
  { name: 'data offset 4', bytes: Uint8Array.from([0, 1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0x40, 0, 0, 0, 0, 0, 0, 0]), reason: 'bad-data-offset' },
  { name: 'data offset past end', bytes: Uint8Array.from([0, 1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0x60, 0, 0, 0, 0, 0, 0, 0]), reason: 'bad-data-offset' },
  { name: 'bad checksum', bytes: Uint8Array.from([0, 1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0x50, 0x02, 0, 0, 0, 0, 0, 0]), reason: 'bad-checksum' },
];
for (const c of cases) {
  test(`rejects: ${c.name}`, () => {
    const r = parseTcp(c.bytes, A, B);
    assert.deepEqual(r, { ok: false, reason: c.reason });
  });
}

test('checksum offload: a zero checksum is accepted when verification is off', () => {
  const r = parseTcp(cases[4]!.bytes, A, B, { verifyChecksum: false });
  assert.ok(r.ok);
  assert.equal(r.value.flags, TcpFlag.SYN);
});

test('malformed and unknown options: skipped like Linux, segment kept', () => {
  const base = (opts: number[]): Uint8Array => {
    const optLen = (opts.length + 3) & ~3;
    const b = new Uint8Array(20 + optLen);
    b[12] = ((20 + optLen) / 4) << 4;
    b[13] = TcpFlag.SYN;
    b.set(opts, 20);
    return b;
  };
  const table: { name: string; opts: number[]; expect: Partial<TcpRepr> }[] = [
    { name: 'unknown kind 30 len 4 then MSS', opts: [30, 4, 9, 9, 2, 4, 5, 0xb4], expect: { mss: 1460 } },
    { name: 'MSS with wrong length ignored', opts: [2, 3, 5, 1, 1, 1, 1, 1], expect: {} },
    { name: 'length 0 stops parsing', opts: [30, 0, 2, 4, 5, 0xb4, 0, 0], expect: {} },
    { name: 'length past end stops parsing', opts: [3, 3, 7, 30, 9, 0, 0, 0], expect: { windowScale: 7 } },
    { name: 'EOL ends options', opts: [0, 2, 4, 5, 0xb4], expect: {} },
    { name: 'SACK block odd length ignored', opts: [1, 1, 5, 9, 0, 0, 0, 1, 0, 0, 0, 2, 0], expect: {} },
    { name: 'kind with no length byte at end', opts: [1, 1, 1, 3], expect: {} },
  ];
  for (const t of table) {
    const r = parseTcp(base(t.opts), A, B, { verifyChecksum: false });
    assert.ok(r.ok, t.name);
    assert.equal(r.value.mss, t.expect.mss, t.name);
    assert.equal(r.value.windowScale, t.expect.windowScale, t.name);
    assert.equal(r.value.sack, undefined, t.name);
  }
});

const reprArb = fc.record({
  srcPort: fc.integer({ min: 0, max: 65535 }),
  dstPort: fc.integer({ min: 0, max: 65535 }),
  seq: fc.nat({ max: 0xffffffff }),
  ack: fc.nat({ max: 0xffffffff }),
  flags: fc.integer({ min: 0, max: 255 }),
  window: fc.integer({ min: 0, max: 65535 }),
  mss: fc.option(fc.integer({ min: 0, max: 65535 }), { nil: undefined }),
  windowScale: fc.option(fc.integer({ min: 0, max: 14 }), { nil: undefined }),
  sackPermitted: fc.option(fc.constant(true), { nil: undefined }),
  timestamp: fc.option(fc.record({ val: fc.nat({ max: 0xffffffff }), ecr: fc.nat({ max: 0xffffffff }) }), { nil: undefined }),
  sack: fc.option(fc.array(fc.record({ left: fc.nat({ max: 0xffffffff }), right: fc.nat({ max: 0xffffffff }) }), { minLength: 1, maxLength: 4 }), { nil: undefined }),
  payload: fc.uint8Array({ maxLength: 64 }),
});

test('round trip: emit then parse gives the repr back (SACK trimmed to what fits)', () => {
  fc.assert(fc.property(reprArb, (r0) => {
    const r = Object.fromEntries(Object.entries(r0).filter(([, v]) => v !== undefined)) as unknown as TcpRepr;
    const buf = new Uint8Array(60 + r.payload!.length);
    const n = emitTcp(r, buf, A, B);
    assert.ok(n > 0 && n <= buf.length);
    assert.equal(n, tcpHeaderLen(r) + r.payload!.length);
    const p = parseTcp(buf.subarray(0, n), A, B);
    assert.ok(p.ok);
    const expected: Record<string, unknown> = { ...r };
    if (r.sack) expected.sack = r.sack.slice(0, p.value.sack?.length ?? 0);
    if (r.sack && (p.value.sack?.length ?? 0) === 0) delete expected.sack;
    assert.deepEqual({ ...p.value, payload: Array.from(p.value.payload!) }, { ...expected, payload: Array.from(r.payload!) });
    assert.ok(tcpHeaderLen(r) <= 60);
  }), { numRuns: 500 });
});

test('parser never throws on random bytes and reuses one TcpSegment', () => {
  const seg = new TcpSegment();
  fc.assert(fc.property(fc.uint8Array({ maxLength: 100 }), (b) => {
    const err = parseTcpInto(b, A, B, seg, false);
    if (err === null) assert.ok(seg.headerLen >= 20 && seg.headerLen <= b.length);
  }), { numRuns: 2000 });
});

test('emit into a short buffer returns -1', () => {
  const r: TcpRepr = { srcPort: 1, dstPort: 2, seq: 0, ack: 0, flags: TcpFlag.SYN, window: 0, mss: 1460 };
  assert.equal(emitTcp(r, new Uint8Array(23), A, B), -1);
  assert.equal(emitTcp(r, new Uint8Array(24), A, B), 24);
});
