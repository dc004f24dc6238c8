// Software GSO and GRO in the driver (src/driver/offload.ts): bursts cut into
// valid wire segments, and segments merged back, checked with the wire codecs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { GroMerger, GsoCutter, tcpFrameLayout, type TcpFrameLayout } from '../../src/driver/offload.js';
import { emitEthernet } from '../../src/wire/ethernet.js';
import { emitIpv4, parseIpv4 } from '../../src/wire/ipv4.js';
import { TcpFlag, emitTcpHeader, tcpHeaderLenFor, verifyTcpChecksum, writeTcpChecksum, type TcpHeaderFields } from '../../src/wire/tcp.js';

const SRC = 0x0a000002;
const DST = 0x0a000001;

interface BurstOptions {
  payload: Uint8Array;
  flags?: number;
  seq?: number;
  ident?: number;
  timestamps?: boolean;
  tsVal?: number;
  srcPort?: number;
  /** Fill the TCP checksum (a burst from TCP has it unfilled; a wire frame has it). */
  checksum?: boolean;
}

/** An Ethernet + IPv4 + TCP frame carrying `payload`, at offset 2 of its buffer (as pools align them). */
function frame(o: BurstOptions): { buf: Uint8Array; off: number; len: number } {
  const h: TcpHeaderFields = {
    srcPort: o.srcPort ?? 40000, dstPort: 5001, seq: o.seq ?? 1000, ack: 777, flags: o.flags ?? TcpFlag.ACK, window: 500, urgent: 0,
    mss: -1, windowScale: -1, sackPermitted: false, hasTimestamp: o.timestamps ?? true, tsVal: o.tsVal ?? 42, tsEcr: 7, sack: [], sackCount: 0,
  };
  const thl = tcpHeaderLenFor(h);
  const len = 14 + 20 + thl + o.payload.length;
  const buf = new Uint8Array(len + 2);
  const off = 2;
  emitEthernet({ dst: 0x020000000001, src: 0x020000000002, ethertype: 0x0800, vlan: null }, buf, off);
  emitIpv4({
    tos: 0, ident: o.ident ?? 100, dontFragment: true, moreFragments: false, fragmentOffset: 0, ttl: 64, protocol: 6,
    src: SRC, dst: DST, options: new Uint8Array(0), payloadLen: thl + o.payload.length,
  }, buf, off + 14);
  const seg = buf.subarray(off + 34, off + len);
  emitTcpHeader(h, seg);
  seg.set(o.payload, thl);
  if (o.checksum === true) writeTcpChecksum(seg, SRC, DST);
  return { buf, off, len };
}

function payloadOf(n: number, seed = 1): Uint8Array {
  const p = new Uint8Array(n);
  for (let i = 0; i < n; i++) p[i] = (i * 31 + seed * 7 + (i >>> 8)) & 0xff;
  return p;
}

/** Checks one wire frame fully and returns its TCP view. */
function checkWire(buf: Uint8Array, off: number, len: number): { seq: number; flags: number; ident: number; payload: Uint8Array } {
  const ip = parseIpv4(buf, off + 14, off + len, true);
  assert.ok(ip.ok, `IPv4 header invalid: ${ip.ok ? '' : ip.reason}`);
  assert.equal(14 + 20 + ip.value.payloadLen, len, 'IPv4 total length matches the frame');
  const seg = buf.subarray(off + 34, off + len);
  assert.ok(verifyTcpChecksum(seg, SRC, DST), 'TCP checksum valid');
  const thl = (seg[12]! >>> 4) << 2;
  const seq = ((seg[4]! << 24) | (seg[5]! << 16) | (seg[6]! << 8) | seg[7]!) >>> 0;
  return { seq, flags: seg[13]!, ident: ip.value.ident, payload: seg.subarray(thl) };
}

test('GSO: a burst becomes MSS-sized segments with their own lengths, IDs, sequence numbers, flags and checksums', () => {
  const payload = payloadOf(10_000);
  const f = frame({ payload, flags: TcpFlag.ACK | TcpFlag.PSH | TcpFlag.FIN | TcpFlag.CWR, seq: 0xfffff000, ident: 0xfffe });
  const g = new GsoCutter();
  const n = g.cut(f.buf, f.off, f.len, 1448);
  assert.equal(n, 7);
  const got: number[] = [];
  for (let k = 0; k < n; k++) {
    const w = checkWire(g.memory, g.offsets[k]!, g.lengths[k]!);
    assert.equal(w.seq, (0xfffff000 + k * 1448) >>> 0, 'sequence numbers follow the payload (wrapping)');
    assert.equal(w.ident, (0xfffe + k) & 0xffff, 'IPv4 identification consecutive');
    assert.equal((w.flags & TcpFlag.FIN) !== 0, k === n - 1, 'FIN only on the last');
    assert.equal((w.flags & TcpFlag.PSH) !== 0, k === n - 1, 'PSH only on the last');
    assert.equal((w.flags & TcpFlag.CWR) !== 0, k === 0, 'CWR only on the first');
    assert.equal(w.payload.length, k < n - 1 ? 1448 : 10_000 - 6 * 1448);
    got.push(...w.payload);
  }
  assert.deepEqual(Uint8Array.from(got), payload);
});

test('GSO refuses what is not a TCP/IPv4 burst', () => {
  const g = new GsoCutter();
  const f = frame({ payload: payloadOf(3000) });
  const udp = f.buf.slice();
  udp[f.off + 14 + 9] = 17;
  assert.equal(g.cut(udp, f.off, f.len, 1448), -1);
  const frag = f.buf.slice();
  frag[f.off + 14 + 6] = 0x20; // MF
  assert.equal(g.cut(frag, f.off, f.len, 1448), -1);
  assert.equal(g.cut(f.buf, f.off, 40, 1448), -1, 'truncated');
  const long = f.buf.slice();
  long[f.off + 14 + 2] = 0xff; long[f.off + 14 + 3] = 0xff; // total length beyond the frame
  assert.equal(g.cut(long, f.off, f.len, 1448), -1);
});

/** Runs GRO over wire frames the way the driver does: candidates, then runs. */
function groAll(frames: { buf: Uint8Array; off: number; len: number }[], maxBytes = 65535): { buf: Uint8Array; off: number; len: number }[] {
  const m = new GroMerger();
  const lay: (TcpFrameLayout | null)[] = frames.map((f) => (m.candidate(f.buf, f.off, f.len, false) ? m.last : null));
  const out: { buf: Uint8Array; off: number; len: number }[] = [];
  let k = 0;
  while (k < frames.length) {
    const first = lay[k];
    if (first === null || first === undefined) { out.push(frames[k]!); k++; continue; }
    let j = k + 1;
    let bytes = first.ipHeaderLen + first.tcpHeaderLen + first.payloadLen;
    while (j < frames.length) {
      const lb = lay[j];
      if (lb === null || lb === undefined || !m.joins(frames[j - 1]!.buf, lay[j - 1]!, frames[j]!.buf, lb, first.payloadLen, bytes, maxBytes)) break;
      bytes += lb.payloadLen;
      j++;
    }
    if (j - k === 1) { out.push(frames[k]!); k++; continue; }
    const dst = new Uint8Array(70_000);
    const len = m.merge(frames.slice(k, j).map((f, q) => ({ mem: f.buf, off: f.off, layout: lay[k + q]! })), dst, 2);
    out.push({ buf: dst, off: 2, len });
    k = j;
  }
  return out;
}

/** A merged packet's TCP checksum is left stale (it is marked verified): refill it to check the rest. */
function refilled(f: { buf: Uint8Array; off: number; len: number }): { buf: Uint8Array; off: number; len: number } {
  const buf = f.buf.slice();
  writeTcpChecksum(buf.subarray(f.off + 34, f.off + f.len), SRC, DST);
  return { buf, off: f.off, len: f.len };
}

test('GRO merges in-sequence segments of one flow and keeps the payload, window and PSH of the last', () => {
  const payload = payloadOf(20_000, 3);
  const f = frame({ payload, flags: TcpFlag.ACK | TcpFlag.PSH });
  const g = new GsoCutter();
  const n = g.cut(f.buf, f.off, f.len, 1448);
  const wire = Array.from({ length: n }, (_, k) => ({ buf: g.memory.slice(g.offsets[k]!, g.offsets[k]! + g.lengths[k]!), off: 0, len: g.lengths[k]! }));
  const merged = groAll(wire);
  assert.equal(merged.length, 1);
  const w = checkWire(refilled(merged[0]!).buf, merged[0]!.off, merged[0]!.len);
  assert.deepEqual(w.payload, payload);
  assert.equal(w.seq, 1000);
  assert.ok((w.flags & TcpFlag.PSH) !== 0);
});

test('GRO keeps apart what Linux keeps apart: bad checksum, other flow, gap, other options, short or PSH segment, size cap', () => {
  const seg = (seq: number, n: number, o: Partial<BurstOptions> = {}): { buf: Uint8Array; off: number; len: number } =>
    frame({ payload: payloadOf(n, seq), seq, checksum: true, ...o });
  const m = new GroMerger();
  const bad = seg(1000, 1000);
  bad.buf[bad.off + bad.len - 1] ^= 0xff;
  assert.equal(m.candidate(bad.buf, bad.off, bad.len, false), false);
  assert.equal(m.badChecksums, 1);
  assert.equal(m.candidate(bad.buf, bad.off, bad.len, true), true, 'a link that checked the checksum is trusted');
  const syn = seg(1000, 10, { flags: TcpFlag.SYN | TcpFlag.ACK });
  assert.equal(m.candidate(syn.buf, syn.off, syn.len, false), false, 'control segments pass on');
  const pure = seg(1000, 0);
  assert.equal(m.candidate(pure.buf, pure.off, pure.len, false), false, 'pure ACKs pass on');

  assert.equal(groAll([seg(1000, 1000), seg(2000, 1000, { srcPort: 1 })]).length, 2, 'other flow');
  assert.equal(groAll([seg(1000, 1000), seg(2001, 1000)]).length, 2, 'sequence gap');
  assert.equal(groAll([seg(1000, 1000), seg(2000, 1000, { tsVal: 43 })]).length, 2, 'other timestamp');
  assert.equal(groAll([seg(1000, 500), seg(1500, 1000)]).length, 2, 'a segment longer than the first');
  assert.equal(groAll([seg(1000, 1000, { flags: TcpFlag.ACK | TcpFlag.PSH }), seg(2000, 1000)]).length, 2, 'PSH ends a run');
  assert.equal(groAll([seg(1000, 1000), seg(2000, 1000), seg(3000, 1000)], 20 + 32 + 2000).length, 2, 'size cap');
  const three = groAll([seg(1000, 1000), seg(2000, 1000), seg(3000, 400), seg(3400, 1000)]);
  assert.equal(three.length, 2, 'a short segment ends the run it joins');
  assert.equal(tcpFrameLayout(three[0]!.buf, three[0]!.off, three[0]!.len)!.payloadLen, 2400);
});

test('GSO then GRO gives back the burst for any payload and MSS (property)', () => {
  fc.assert(fc.property(fc.integer({ min: 1, max: 60_000 }), fc.integer({ min: 64, max: 9000 }), fc.integer({ min: 0, max: 0xffffffff }),
    (n, mss, seq) => {
      const payload = payloadOf(n, mss);
      const f = frame({ payload, seq });
      const g = new GsoCutter();
      const count = g.cut(f.buf, f.off, f.len, mss);
      assert.equal(count, Math.ceil(n / mss));
      const wire = Array.from({ length: count }, (_, k) => ({ buf: g.memory.slice(g.offsets[k]!, g.offsets[k]! + g.lengths[k]!), off: 0, len: g.lengths[k]! }));
      for (const w of wire) checkWire(w.buf, w.off, w.len);
      const merged = groAll(wire);
      assert.equal(merged.length, 1);
      assert.deepEqual(checkWire(refilled(merged[0]!).buf, merged[0]!.off, merged[0]!.len).payload, payload);
    }), { numRuns: 60 });
});
