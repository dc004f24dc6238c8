import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fold16, internetChecksum, pseudoHeaderSum } from '../../src/wire/checksum.js';
import {
  VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4, completePartialChecksum, emitVirtioNetHdr, parseVirtioNetHdr,
} from '../../src/wire/virtio-net.js';

test('virtio-net header: little-endian layout round-trips; short input is truncated', () => {
  const h = { flags: VIRTIO_NET_HDR_F_NEEDS_CSUM, gsoType: VIRTIO_NET_HDR_GSO_TCPV4, hdrLen: 54, gsoSize: 1460, csumStart: 34, csumOffset: 16 };
  const b = new Uint8Array(12);
  emitVirtioNetHdr(b, 1, h, true);
  assert.deepEqual([...b.subarray(1, 11)], [1, 1, 54, 0, 0xb4, 0x05, 34, 0, 16, 0]);
  assert.deepEqual(parseVirtioNetHdr(b, 1, true), { ok: true, value: h });
  assert.deepEqual(parseVirtioNetHdr(b, 3, true), { ok: false, reason: 'truncated' });
});

test('partial checksum completion equals a full computation (UDP, odd length)', () => {
  const src = 0x0a000001;
  const dst = 0x0a000002;
  const udp = Uint8Array.from([0x30, 0x39, 0x00, 0x09, 0x00, 0x0d, 0, 0, 0x68, 0x65, 0x6c, 0x6c, 0x6f]);
  const full = udp.slice();
  new DataView(full.buffer).setUint16(6, internetChecksum(full, 0, full.length, pseudoHeaderSum(src, dst, 17, udp.length)));
  // Linux CHECKSUM_PARTIAL: the field holds the folded pseudo-header sum.
  const frame = new Uint8Array(34 + udp.length);
  frame.set(udp, 34);
  new DataView(frame.buffer).setUint16(40, fold16(pseudoHeaderSum(src, dst, 17, udp.length)));
  assert.ok(completePartialChecksum(frame, frame.length, 34, 6));
  assert.deepEqual(frame.subarray(34), full);
  assert.equal(completePartialChecksum(frame, frame.length, 34, 200), false);
});
