import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ArpOperation, emitArp, parseArp, type ArpRepr } from '../../src/wire/arp.js';
import { capturedFrame, hexBytes } from '../fixtures/frames.js';

const A = 0x02000000000a;
const B = 0x02000000000b;
const IP_A = 0x0a630001;
const IP_B = 0x0a630002;

const fixtures: { name: string; info: string; repr: ArpRepr }[] = [
  { name: 'request', info: 'Who has 10.99.0.2', repr: { operation: ArpOperation.Request, senderMac: A, senderIp: IP_A, targetMac: 0xffffffffffff, targetIp: IP_B } },
  { name: 'reply', info: '10.99.0.2 is at', repr: { operation: ArpOperation.Reply, senderMac: B, senderIp: IP_B, targetMac: A, targetIp: IP_A } },
  { name: 'gratuitous', info: 'Gratuitous ARP', repr: { operation: ArpOperation.Request, senderMac: A, senderIp: IP_A, targetMac: 0xffffffffffff, targetIp: IP_A } },
];

for (const f of fixtures) {
  test(`captured ARP ${f.name}: parse and emit`, () => {
    const frame = capturedFrame(f.info);
    const r = parseArp(frame, 14);
    assert.ok(r.ok);
    assert.deepEqual(r.value, f.repr);
    const out = new Uint8Array(28);
    assert.equal(emitArp(f.repr, out), 28);
    assert.deepEqual(out, frame.subarray(14, 42));
  });
}

const bad: { name: string; hex: string; reason: string }[] = [
  { name: 'short', hex: '0001080006040001', reason: 'truncated' },
  { name: 'token ring', hex: '0006080006040001' + '00'.repeat(20), reason: 'unsupported-hardware' },
  { name: 'IPv6 protocol', hex: '000186dd06040001' + '00'.repeat(20), reason: 'unsupported-protocol' },
  { name: 'hlen 8', hex: '0001080008040001' + '00'.repeat(20), reason: 'bad-address-length' },
  { name: 'RARP op 3', hex: '0001080006040003' + '00'.repeat(20), reason: 'unknown-operation' },
];
for (const c of bad) {
  test(`parse rejects ${c.name} as ${c.reason}`, () => {
    const r = parseArp(hexBytes(c.hex));
    assert.equal(!r.ok && r.reason, c.reason);
  });
}

test('round trip property', () => {
  const mac = fc.integer({ min: 0, max: 2 ** 48 - 1 });
  const ip = fc.integer({ min: 0, max: 0xffffffff });
  fc.assert(fc.property(
    fc.record({ operation: fc.constantFrom(ArpOperation.Request, ArpOperation.Reply), senderMac: mac, senderIp: ip, targetMac: mac, targetIp: ip }),
    (r) => {
      const buf = new Uint8Array(28);
      emitArp(r as ArpRepr, buf);
      const back = parseArp(buf);
      assert.ok(back.ok);
      assert.deepEqual(back.value, r);
    }), { numRuns: 1000 });
});
