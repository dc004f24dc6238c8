import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  EtherType, EthernetFrame, MAC_BROADCAST, emitEthernet, ethernetHeaderLen, formatMac, isMulticastMac, parseEthernet,
  parseMac, type EthernetRepr,
} from '../../src/wire/ethernet.js';
import { capturedFrame, hexBytes } from '../fixtures/frames.js';

const A = 0x02000000000a;
const B = 0x02000000000b;

test('parse: captured ARP request is broadcast from 02:00:00:00:00:0a', () => {
  const f = capturedFrame('Who has 10.99.0.2');
  const r = parseEthernet(f);
  assert.ok(r.ok);
  assert.deepEqual(r.value, { dst: MAC_BROADCAST, src: A, ethertype: EtherType.ARP, vlan: null });
  assert.equal(ethernetHeaderLen(r.value), 14);
});

test('parse: captured 802.1Q frame has VLAN 100, PCP 5 and inner IPv4', () => {
  const f = capturedFrame('Echo (ping) request  id=0x1234');
  const r = parseEthernet(f);
  assert.ok(r.ok);
  assert.deepEqual(r.value, { dst: B, src: A, ethertype: EtherType.IPv4, vlan: { pcp: 5, dei: false, vid: 100 } });
  assert.equal(ethernetHeaderLen(r.value), 18);
  const v = EthernetFrame.check(f);
  assert.ok(v.ok);
  assert.equal(v.value.payload()[0], 0x45);
});

test('emit reproduces captured headers byte for byte (untagged and tagged)', () => {
  for (const f of [capturedFrame('Echo (ping) request', 0), capturedFrame('Echo (ping) request  id=0x1234')]) {
    const r = parseEthernet(f);
    assert.ok(r.ok);
    const out = new Uint8Array(ethernetHeaderLen(r.value));
    assert.equal(emitEthernet(r.value, out), out.length);
    assert.deepEqual(out, f.subarray(0, out.length));
  }
});

test('emit at an offset writes only its own bytes', () => {
  const buf = new Uint8Array(40).fill(0xee);
  emitEthernet({ dst: B, src: A, ethertype: EtherType.ARP, vlan: null }, buf, 10);
  assert.equal(buf[9], 0xee);
  assert.equal(buf[24], 0xee);
  assert.deepEqual(buf.subarray(10, 24), hexBytes('02000000000b 02000000000a 0806'));
});

const cases: { name: string; hex: string; reason: string }[] = [
  { name: 'empty', hex: '', reason: 'truncated' },
  { name: '13 bytes', hex: 'ffffffffffff02000000000a08', reason: 'truncated' },
  { name: 'tag without TCI', hex: 'ffffffffffff02000000000a810000', reason: 'truncated-vlan' },
  { name: '802.3 length field', hex: 'ffffffffffff02000000000a0040', reason: 'not-ethernet-ii' },
  { name: 'Q-in-Q', hex: 'ffffffffffff02000000000a810000648100', reason: 'stacked-vlan' },
  { name: 'tagged 802.3 length', hex: 'ffffffffffff02000000000a810000640010', reason: 'not-ethernet-ii' },
];
for (const c of cases) {
  test(`parse rejects ${c.name} as ${c.reason}`, () => {
    const r = parseEthernet(hexBytes(c.hex));
    assert.equal(r.ok, false);
    assert.equal(!r.ok && r.reason, c.reason);
  });
}

test('MAC text round trip and multicast bit', () => {
  assert.equal(formatMac(A), '02:00:00:00:00:0a');
  assert.equal(parseMac('02:00:00:00:00:0A'), A);
  assert.equal(parseMac('02:00:00:00:00'), null);
  assert.equal(parseMac('02:00:00:00:00:0g'), null);
  assert.ok(isMulticastMac(MAC_BROADCAST));
  assert.ok(isMulticastMac(0x01005e000001));
  assert.ok(!isMulticastMac(A));
});

const mac = fc.integer({ min: 0, max: 2 ** 48 - 1 });
const repr: fc.Arbitrary<EthernetRepr> = fc.record({
  dst: mac, src: mac, ethertype: fc.integer({ min: 0x0600, max: 0xffff }).filter((t) => t !== 0x8100 && t !== 0x88a8),
  vlan: fc.option(fc.record({ pcp: fc.integer({ min: 0, max: 7 }), dei: fc.boolean(), vid: fc.integer({ min: 0, max: 4095 }) })),
});

test('round trip: parse(emit(repr)) = repr', () => {
  fc.assert(fc.property(repr, fc.integer({ min: 0, max: 7 }), (r, off) => {
    const buf = new Uint8Array(off + 18);
    const n = emitEthernet(r, buf, off);
    const back = parseEthernet(buf, off, off + n);
    assert.ok(back.ok);
    assert.deepEqual(back.value, r);
  }), { numRuns: 2000 });
});
