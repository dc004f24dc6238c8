import { test } from 'node:test';
import assert from 'node:assert/strict';
import { emitVxlanHeader, parseVxlanHeader } from '../../src/wire/vxlan.js';

// RFC 7348 §5 layout, as Linux sends it (VNI 42): flags 0x08, VNI in bytes 4..6.
const LINUX_VNI_42 = Uint8Array.from([0x08, 0, 0, 0, 0x00, 0x00, 0x2a, 0x00]);

const CASES = [
  { name: 'linux header, vni 42', bytes: LINUX_VNI_42, want: { ok: true, value: 42 } },
  { name: 'max vni, reserved bits set are ignored', bytes: Uint8Array.from([0xff, 1, 2, 3, 0xff, 0xff, 0xff, 0x55]), want: { ok: true, value: 0xffffff } },
  { name: 'I flag clear', bytes: Uint8Array.from([0x00, 0, 0, 0, 0, 0, 42, 0]), want: { ok: false, reason: 'no-vni-flag' } },
  { name: 'truncated', bytes: Uint8Array.from([0x08, 0, 0, 0, 0, 0, 42]), want: { ok: false, reason: 'truncated' } },
] as const;

for (const c of CASES) {
  test(`vxlan parse: ${c.name}`, () => {
    assert.deepEqual(parseVxlanHeader(c.bytes), c.want);
  });
}

test('vxlan emit: matches the Linux header and round-trips', () => {
  const b = new Uint8Array(10).fill(0xee);
  emitVxlanHeader(b, 1, 42);
  assert.deepEqual(b.subarray(1, 9), LINUX_VNI_42);
  for (const vni of [0, 1, 0x123456, 0xffffff]) {
    emitVxlanHeader(b, 0, vni);
    assert.deepEqual(parseVxlanHeader(b, 0, 8), { ok: true, value: vni });
  }
});
