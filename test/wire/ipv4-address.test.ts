import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  formatIpv4Address, inPrefix, isLimitedBroadcast, isMulticast, parseIpv4Address, parseIpv4Cidr, prefixMask, subnetBroadcast,
} from '../../src/wire/ipv4-address.js';

const parses: [string, number | null][] = [
  ['10.99.0.1', 0x0a630001], ['255.255.255.255', 0xffffffff], ['0.0.0.0', 0],
  ['256.0.0.1', null], ['1.2.3', null], ['1.2.3.4.5', null], ['1..3.4', null], ['+1.2.3.4', null], ['a.b.c.d', null],
];
for (const [text, want] of parses) {
  test(`parseIpv4Address(${JSON.stringify(text)}) = ${want}`, () => assert.equal(parseIpv4Address(text), want));
}

test('format, masks, prefixes, broadcast, multicast', () => {
  assert.equal(formatIpv4Address(0xc0a80001), '192.168.0.1');
  assert.equal(prefixMask(0), 0);
  assert.equal(prefixMask(24), 0xffffff00);
  assert.equal(prefixMask(32), 0xffffffff);
  assert.ok(inPrefix(0x0a630001, 0x0a630000, 24));
  assert.ok(!inPrefix(0x0a640001, 0x0a630000, 16));
  assert.ok(inPrefix(0x01020304, 0, 0));
  assert.equal(subnetBroadcast(0x0a630001, 24), 0x0a6300ff);
  assert.ok(isMulticast(0xe0000001));
  assert.ok(!isMulticast(0xf0000001));
  assert.ok(isLimitedBroadcast(0xffffffff));
  assert.deepEqual(parseIpv4Cidr('10.0.0.0/8'), { address: 0x0a000000, prefixLen: 8 });
  assert.deepEqual(parseIpv4Cidr('10.0.0.1'), { address: 0x0a000001, prefixLen: 32 });
  assert.equal(parseIpv4Cidr('10.0.0.0/33'), null);
  assert.equal(parseIpv4Cidr('10.0.0.0/'), null);
});
