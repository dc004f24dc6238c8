import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { IpProtocol, Ipv4Packet, emitIpv4, ipv4HeaderLen, parseIpv4, type Ipv4Repr } from '../../src/wire/ipv4.js';
import { capturedFrame, hexBytes } from '../fixtures/frames.js';

const IP_A = 0x0a630001;
const IP_B = 0x0a630002;

test('captured echo request: every field', () => {
  const f = capturedFrame('Echo (ping) request', 0);
  const r = parseIpv4(f, 14);
  assert.ok(r.ok);
  const v = r.value;
  assert.equal(v.tos, 0);
  assert.equal(v.ident, (f[18]! << 8) | f[19]!);
  assert.equal(v.dontFragment, true);
  assert.equal(v.moreFragments, false);
  assert.equal(v.fragmentOffset, 0);
  assert.equal(v.ttl, 64);
  assert.equal(v.protocol, IpProtocol.ICMP);
  assert.equal(v.src, IP_A);
  assert.equal(v.dst, IP_B);
  assert.equal(v.options.length, 0);
  assert.equal(v.payloadLen, 64);
  const p = Ipv4Packet.check(f, 14);
  assert.ok(p.ok);
  assert.equal(p.value.checksum, (f[24]! << 8) | f[25]!);
  assert.notEqual(p.value.checksum, 0);
});

test('captured fragments of ping -s 3000: offsets, MF and lengths', () => {
  const parts = [
    capturedFrame('Fragmented IP protocol (proto=ICMP 1, off=0,', 0),
    capturedFrame('Fragmented IP protocol (proto=ICMP 1, off=1480,', 0),
    capturedFrame('Echo (ping) request', 1),
  ].map((f) => parseIpv4(f, 14));
  const id = parts[0]!.ok ? parts[0]!.value.ident : -1;
  const got = parts.map((r) => r.ok && [r.value.ident, r.value.fragmentOffset, r.value.moreFragments, r.value.payloadLen]);
  assert.deepEqual(got, [[id, 0, true, 1480], [id, 1480, true, 1480], [id, 2960, false, 48]]);
});

test('emit reproduces every captured IPv4 header byte for byte', () => {
  for (const info of ['Echo (ping) request', 'Destination unreachable (Port unreachable)', '40001 \u2192 8080 [SYN]',
    'Fragmented IP protocol (proto=ICMP 1, off=1480,', 'Time-to-live exceeded']) {
    const f = capturedFrame(info);
    const r = parseIpv4(f, 14);
    assert.ok(r.ok, info);
    const out = new Uint8Array(ipv4HeaderLen(r.value));
    emitIpv4(r.value, out);
    assert.deepEqual(out, f.subarray(14, 14 + out.length), info);
  }
});

test('Ethernet padding after total length is ignored', () => {
  const f = capturedFrame('40000 \u2192 9999');
  const padded = new Uint8Array(f.length + 10);
  padded.set(f);
  const r = parseIpv4(padded, 14);
  assert.ok(r.ok);
  assert.equal(r.value.payloadLen, 20);
});

test('options: IHL honoured, kept raw, padded on emit', () => {
  // Record-route option (type 7, len 7, ptr 4, one empty slot) plus EOL padding.
  const repr: Ipv4Repr = {
    tos: 0, ident: 1, dontFragment: false, moreFragments: false, fragmentOffset: 0, ttl: 1,
    protocol: IpProtocol.UDP, src: IP_A, dst: IP_B, options: hexBytes('07070400000000'), payloadLen: 3,
  };
  assert.equal(ipv4HeaderLen(repr), 28);
  const buf = new Uint8Array(31);
  assert.equal(emitIpv4(repr, buf), 28);
  assert.equal(buf[0], 0x47);
  assert.equal(buf[27], 0);
  const back = parseIpv4(buf);
  assert.ok(back.ok);
  assert.deepEqual(back.value.options, hexBytes('0707040000000000'));
  assert.equal(back.value.payloadLen, 3);
});

const good = '4500001c000100004011' + '0000' + '0a6300010a630002' + '0000000000000000';
function withChecksum(hex: string): Uint8Array {
  const b = hexBytes(hex);
  const r = parseIpv4(b, 0, b.length, false);
  if (r.ok) emitIpv4(r.value, b);
  return b;
}
const bad: { name: string; bytes: () => Uint8Array; reason: string }[] = [
  { name: '19 bytes', bytes: () => hexBytes('45'.padEnd(38, '0')), reason: 'truncated' },
  { name: 'version 6', bytes: () => hexBytes('6' + good.slice(1)), reason: 'bad-version' },
  { name: 'IHL 4', bytes: () => hexBytes('44' + good.slice(2)), reason: 'bad-header-length' },
  { name: 'IHL 15 beyond bytes', bytes: () => hexBytes('4f' + good.slice(2)), reason: 'truncated' },
  { name: 'total length < IHL', bytes: () => hexBytes('45000010' + good.slice(8)), reason: 'bad-total-length' },
  { name: 'total length beyond bytes', bytes: () => hexBytes('450000ff' + good.slice(8)), reason: 'truncated' },
  { name: 'fragment past 65535', bytes: () => withChecksum('4500001c00011fff4011' + good.slice(20)), reason: 'bad-fragment' },
  { name: 'checksum wrong', bytes: () => hexBytes(good), reason: 'bad-checksum' },
];
for (const c of bad) {
  test(`parse rejects ${c.name} as ${c.reason}`, () => {
    const r = parseIpv4(c.bytes());
    assert.equal(r.ok ? 'ok' : r.reason, c.reason);
  });
}

test('checksum verification can be skipped (offload)', () => {
  assert.ok(parseIpv4(hexBytes(good), 0, 28, false).ok);
});

const reprArb: fc.Arbitrary<Ipv4Repr> = fc.record({
  tos: fc.integer({ min: 0, max: 255 }),
  ident: fc.integer({ min: 0, max: 0xffff }),
  dontFragment: fc.boolean(),
  moreFragments: fc.boolean(),
  fragmentOffset: fc.integer({ min: 0, max: 7000 }).map((x) => x * 8),
  ttl: fc.integer({ min: 0, max: 255 }),
  protocol: fc.integer({ min: 0, max: 255 }),
  src: fc.integer({ min: 0, max: 0xffffffff }),
  dst: fc.integer({ min: 0, max: 0xffffffff }),
  options: fc.integer({ min: 0, max: 10 }).chain((n) => fc.uint8Array({ minLength: 4 * n, maxLength: 4 * n })),
  payloadLen: fc.integer({ min: 0, max: 1500 }),
});

test('round trip: parse(emit(repr)) = repr', () => {
  fc.assert(fc.property(reprArb, (r) => {
    const buf = new Uint8Array(ipv4HeaderLen(r) + r.payloadLen);
    emitIpv4(r, buf);
    const back = parseIpv4(buf);
    assert.ok(back.ok);
    assert.deepEqual({ ...back.value, options: Array.from(back.value.options) }, { ...r, options: Array.from(r.options) });
  }), { numRuns: 2000 });
});
