import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { addressesFor, checkDnsName, encodeDnsQuery, parseDnsResponse, DNS_TYPE_A, DNS_TYPE_CNAME } from '../../src/wire/dns.js';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));

test('a query for example.com is the RFC 1035 §4.1 message dig sends (without EDNS)', () => {
  // ID 0xbeef, RD, QDCOUNT 1; 7"example"3"com"0, QTYPE A, QCLASS IN.
  assert.deepEqual(encodeDnsQuery(0xbeef, 'example.com'), hex(`
    beef 0100 0001 0000 0000 0000
    07 6578616d706c65 03 636f6d 00 0001 0001`));
  assert.deepEqual(encodeDnsQuery(1, 'example.com.'), encodeDnsQuery(1, 'example.com'));
  assert.throws(() => encodeDnsQuery(1, 'a..b'), RangeError);
  assert.equal(checkDnsName('x'.repeat(64) + '.com'), 'has a label longer than 63 bytes');
  assert.equal(checkDnsName(Array(128).fill('a').join('.')), 'is longer than 255 bytes on the wire');
  assert.equal(checkDnsName(''), 'is empty');
});

/** Response to "alias.example.test": CNAME www.example.test (compressed into the question), then its A. */
const cnameResponse = hex(`
  1234 8180 0001 0002 0000 0000
  05 616c696173 07 6578616d706c65 04 74657374 00 0001 0001
  c00c 0005 0001 0000012c 0006 03 777777 c012
  c030 0001 0001 0000012c 0004 0a000001`);

test('parses answers with name compression and follows the CNAME chain', () => {
  const p = parseDnsResponse(cnameResponse);
  assert.ok(p.ok);
  assert.equal(p.response.id, 0x1234);
  assert.equal(p.response.rcode, 0);
  assert.equal(p.response.truncated, false);
  assert.deepEqual(p.response.question, { name: 'alias.example.test', type: DNS_TYPE_A, class: 1 });
  assert.deepEqual(p.response.answers.map((a) => [a.name, a.type, a.data]), [
    ['alias.example.test', DNS_TYPE_CNAME, 'www.example.test'],
    ['www.example.test', DNS_TYPE_A, '10.0.0.1'],
  ]);
  assert.deepEqual(addressesFor(p.response.answers, 'ALIAS.example.test.'), { addresses: ['10.0.0.1'], target: 'www.example.test', loop: false });
  // Only the CNAME: the chain ends at a name to ask for.
  assert.deepEqual(addressesFor(p.response.answers.slice(0, 1), 'alias.example.test'), { addresses: [], target: 'www.example.test', loop: false });
  // A CNAME loop is reported, not followed forever.
  const loop = [{ name: 'a', type: DNS_TYPE_CNAME, class: 1, ttl: 0, data: 'b' }, { name: 'b', type: DNS_TYPE_CNAME, class: 1, ttl: 0, data: 'a' }];
  assert.equal(addressesFor(loop, 'a').loop, true);
});

test('flags: NXDOMAIN rcode, truncation keeps the whole answers, QR clear is not a response', () => {
  const nx = parseDnsResponse(hex('0001 8183 0001 0000 0000 0000 01 78 00 0001 0001'));
  assert.ok(nx.ok);
  assert.equal(nx.response.rcode, 3);
  // TC set, ANCOUNT 2 but the second answer cut short: the first is kept.
  const tc = parseDnsResponse(hex('0002 8380 0001 0002 0000 0000 01 78 00 0001 0001 c00c 0001 0001 00000001 0004 01020304 c00c 0001'));
  assert.ok(tc.ok);
  assert.equal(tc.response.truncated, true);
  assert.deepEqual(tc.response.answers.map((a) => a.data), ['1.2.3.4']);
  assert.deepEqual(parseDnsResponse(hex('0001 0100 0001 0000 0000 0000 01 78 00 0001 0001')), { ok: false, reason: 'not a response (QR clear)' });
});

test('hostile messages are refused with a reason, never followed or thrown', () => {
  const bad = (s: string): string => { const p = parseDnsResponse(hex(s)); assert.equal(p.ok, false); return (p as { reason: string }).reason; };
  assert.match(bad('0001 8180'), /shorter than a DNS header/);
  // A pointer to itself (a loop) and a forward pointer.
  assert.match(bad('0001 8180 0001 0000 0000 0000 c00c 0001 0001'), /backwards/);
  assert.match(bad('0001 8180 0001 0000 0000 0000 c020 0001 0001'), /backwards/);
  assert.match(bad('0001 8180 0001 0000 0000 0000 05 6162'), /past the end/);
  assert.match(bad('0001 8180 0001 0000 0000 0000 40'), /reserved label type/);
  assert.match(bad('0001 8180 0000 0001 0000 0000 00 0001 0001 00000001 0003 010203'), /A record of 3 bytes/);
  // A name of 64-byte... labels adding up past 255 bytes.
  const long = Array(5).fill('3f' + '61'.repeat(63)).join('') + '00';
  assert.match(bad(`0001 8180 0001 0000 0000 0000 ${long} 0001 0001`), /longer than 255/);
  fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
    const p = parseDnsResponse(bytes);
    return typeof p.ok === 'boolean';
  }), { numRuns: 2000 });
});
