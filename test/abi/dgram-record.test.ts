import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ByteRing } from '../../src/abi/byte-ring.js';
import { DGRAM_MAX_PAYLOAD, DGRAM_RECORD_HEADER, DgramRecordCodec } from '../../src/abi/dgram-record.js';

function ring(capacity: number): ByteRing {
  return new ByteRing(new SharedArrayBuffer(ByteRing.bytesNeeded(capacity)), 0, capacity);
}

test('record header layout: u16 length, u32 address, u16 port, big-endian', () => {
  const r = ring(64);
  assert.ok(new DgramRecordCodec().write(r, 0x0a000001, 0x1234, Uint8Array.of(0xaa, 0xbb)));
  const raw = new Uint8Array(10);
  r.copyOut(0, raw);
  assert.deepEqual([...raw], [0x00, 0x02, 0x0a, 0x00, 0x00, 0x01, 0x12, 0x34, 0xaa, 0xbb]);
});

const cases: { name: string; capacity: number; sizes: number[]; written: number }[] = [
  { name: 'exact fit', capacity: 2 * DGRAM_RECORD_HEADER + 10, sizes: [5, 5], written: 2 },
  { name: 'second does not fit: not written at all', capacity: 30, sizes: [10, 10], written: 1 },
  { name: 'empty datagrams', capacity: 32, sizes: [0, 0, 0, 0], written: 4 },
  { name: 'too large for any record', capacity: 1 << 17, sizes: [DGRAM_MAX_PAYLOAD + 1], written: 0 },
  { name: 'the largest datagram', capacity: 1 << 17, sizes: [DGRAM_MAX_PAYLOAD], written: 1 },
];

for (const c of cases) {
  test(`records: ${c.name}`, () => {
    const r = ring(c.capacity);
    const codec = new DgramRecordCodec();
    const written = c.sizes.filter((n, i) => codec.write(r, i, i + 1, new Uint8Array(n).fill(i + 1))).length;
    assert.equal(written, c.written);
    for (let i = 0; i < written; i++) {
      const p = codec.peek(r);
      assert.equal(p.kind, 'record');
      if (p.kind !== 'record') return;
      assert.deepEqual(p.header, { length: c.sizes[i], address: i, port: i + 1 });
      const dst = new Uint8Array(p.header.length);
      codec.copyPayload(r, p.header, dst);
      assert.ok(dst.every((b) => b === i + 1));
      codec.consume(r, p.header);
    }
    assert.equal(codec.peek(r).kind, 'empty');
  });
}

test('bytes that are not a record are reported corrupt, never thrown', () => {
  const r = ring(64);
  r.write(Uint8Array.of(1, 2, 3)); // shorter than a header
  assert.equal(new DgramRecordCodec().peek(r).kind, 'corrupt');
  const r2 = ring(64);
  r2.write(Uint8Array.of(0xff, 0xfe, 0, 0, 0, 0, 0, 0)); // length beyond what is there (and beyond the maximum)
  assert.equal(new DgramRecordCodec().peek(r2).kind, 'corrupt');
});

test('property: any sequence of records survives the ring in order across wrap-around', () => {
  fc.assert(fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 40 }), (payloads) => {
    const r = ring(701);
    const w = new DgramRecordCodec();
    const rd = new DgramRecordCodec();
    let next = 0;
    for (let i = 0; i < payloads.length; i++) {
      // Write until full, then read one, so the ring wraps at odd offsets.
      while (!w.write(r, i * 7, i, payloads[i]!)) {
        const p = rd.peek(r);
        if (p.kind !== 'record') return false;
        const dst = new Uint8Array(p.header.length);
        rd.copyPayload(r, p.header, dst);
        if (p.header.port !== next || Buffer.compare(dst, payloads[next]!) !== 0) return false;
        rd.consume(r, p.header);
        next++;
      }
    }
    for (;;) {
      const p = rd.peek(r);
      if (p.kind === 'empty') break;
      if (p.kind !== 'record') return false;
      const dst = new Uint8Array(p.header.length);
      rd.copyPayload(r, p.header, dst);
      if (p.header.address !== next * 7 || Buffer.compare(dst, payloads[next]!) !== 0) return false;
      rd.consume(r, p.header);
      next++;
    }
    return next === payloads.length;
  }));
});

test('a port-unreachable notice travels in order with the datagrams, without payload', () => {
  const r = ring(64);
  const c = new DgramRecordCodec();
  assert.ok(c.write(r, 1, 2, Uint8Array.of(9)));
  assert.ok(c.writeNotice(r, 0x0a000001, 53));
  const first = c.peek(r);
  assert.equal(first.kind, 'record');
  if (first.kind === 'record') c.consume(r, first.header);
  assert.deepEqual(c.peek(r), { kind: 'port-unreachable', address: 0x0a000001, port: 53 });
  c.consumeNotice(r);
  assert.equal(c.peek(r).kind, 'empty');
});
