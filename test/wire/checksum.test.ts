import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  fold16, internetChecksum, pseudoHeaderSum, sum16, updateChecksum16, updateChecksum32, verifyChecksum,
} from '../../src/wire/checksum.js';

function reference(bytes: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < bytes.length; i += 2) sum += (bytes[i]! << 8) | (bytes[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

test('RFC 1071 §3 example: words 0001 f203 f4f5 f6f7 sum to ddf2', () => {
  const bytes = Uint8Array.from([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]);
  assert.equal(fold16(sum16(bytes)), 0xddf2);
  assert.equal(internetChecksum(bytes), ~0xddf2 & 0xffff);
});

test('textbook IPv4 header (192.168.0.1 -> 192.168.0.199, checksum b861) verifies and recomputes', () => {
  const hex = '450000730000400040 11b861c0a80001c0a800c7'.replace(/ /g, '');
  const h = Uint8Array.from(Buffer.from(hex, 'hex'));
  assert.ok(verifyChecksum(h));
  const field = (h[10]! << 8) | h[11]!;
  h[10] = 0; h[11] = 0;
  assert.equal(internetChecksum(h), field);
});

test('fast path equals byte-wise reference at every alignment and length', () => {
  fc.assert(fc.property(
    fc.uint8Array({ minLength: 0, maxLength: 3000 }), fc.integer({ min: 0, max: 7 }),
    (data, shift) => {
      const buf = new Uint8Array(data.length + 8);
      buf.set(data, shift);
      const view = buf.subarray(shift, shift + data.length);
      assert.equal(internetChecksum(view), reference(data));
    },
  ), { numRuns: 2000 });
});

test('partial sums of even-offset pieces add up', () => {
  fc.assert(fc.property(fc.uint8Array({ minLength: 2, maxLength: 2000 }), fc.nat(), (data, k) => {
    const cut = (k % (data.length >>> 1)) * 2;
    const joined = sum16(data, 0, cut) + sum16(data, cut, data.length);
    assert.equal(~fold16(joined) & 0xffff, reference(data));
  }));
});

test('RFC 1624 incremental update equals recomputation', () => {
  fc.assert(fc.property(
    fc.uint8Array({ minLength: 20, maxLength: 60 }).filter((d) => d.length % 2 === 0),
    fc.nat(), fc.integer({ min: 0, max: 0xffff }),
    (data, k, newWord) => {
      const at = (k % (data.length >>> 1)) * 2;
      const old = (data[at]! << 8) | data[at + 1]!;
      const before = reference(data);
      data[at] = newWord >>> 8; data[at + 1] = newWord & 0xff;
      const after = reference(data);
      const updated = updateChecksum16(before, old, newWord);
      // 0x0000 and 0xffff are the same one's-complement value.
      assert.ok(updated === after || (updated ^ after) === 0xffff, `${updated} vs ${after}`);
    },
  ));
  const c = updateChecksum32(0x1234, 0x0a000001, 0x0a000002);
  assert.equal(typeof c, 'number');
});

test('pseudo-header sum matches an explicit 12-byte pseudo-header', () => {
  const ph = Uint8Array.from([10, 0, 0, 1, 10, 0, 0, 2, 0, 6, 0x05, 0xdc]);
  assert.equal(fold16(pseudoHeaderSum(0x0a000001, 0x0a000002, 6, 1500)), fold16(sum16(ph)));
});
