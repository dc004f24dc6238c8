import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Reassembler } from '../../src/ip/reassembly.js';
import { fragmentDatagram } from '../../src/ip/fragmentation.js';
import { IpProtocol, emitIpv4, parseIpv4, type Ipv4Repr } from '../../src/wire/ipv4.js';
import { capturedFrame } from '../fixtures/frames.js';

const base: Ipv4Repr = {
  tos: 0, ident: 0x4242, dontFragment: false, moreFragments: false, fragmentOffset: 0, ttl: 64,
  protocol: IpProtocol.UDP, src: 0x0a630001, dst: 0x0a630002, options: new Uint8Array(0), payloadLen: 0,
};

function payloadOf(n: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 7 + 3) & 0xff);
}

/** Fragment bytes: one IPv4 packet for payload[start, end) of a datagram. */
function frag(payload: Uint8Array, start: number, end: number, more: boolean, r: Partial<Ipv4Repr> = {}): { repr: Ipv4Repr; bytes: Uint8Array } {
  const repr: Ipv4Repr = { ...base, ...r, moreFragments: more, fragmentOffset: start, payloadLen: end - start };
  const bytes = new Uint8Array(20 + end - start);
  emitIpv4(repr, bytes);
  bytes.set(payload.subarray(start, end), 20);
  return { repr, bytes };
}

function splits(payload: Uint8Array, size: number): { repr: Ipv4Repr; bytes: Uint8Array }[] {
  const out = [];
  for (let at = 0; at < payload.length; at += size) {
    const end = Math.min(payload.length, at + size);
    out.push(frag(payload, at, end, end < payload.length));
  }
  return out;
}

function permutations<T>(xs: T[]): T[][] {
  if (xs.length <= 1) return [xs];
  return xs.flatMap((x, i) => permutations([...xs.slice(0, i), ...xs.slice(i + 1)]).map((p) => [x, ...p]));
}

function checkComplete(datagram: Uint8Array, payload: Uint8Array): void {
  const r = parseIpv4(datagram);
  assert.ok(r.ok, 'reassembled datagram parses with a valid checksum');
  assert.equal(r.value.moreFragments, false);
  assert.equal(r.value.fragmentOffset, 0);
  assert.deepEqual(datagram.subarray(20), payload);
}

test('every order of 5 fragments reassembles to the original (120 orders)', () => {
  const payload = payloadOf(36);
  const parts = splits(payload, 8);
  assert.equal(parts.length, 5);
  for (const order of permutations(parts)) {
    const r = new Reassembler();
    const outcomes = order.map((p) => r.add(p.repr, p.bytes, 0, 0));
    assert.deepEqual(outcomes.slice(0, 4).map((o) => o.type), ['held', 'held', 'held', 'held']);
    const last = outcomes[4]!;
    assert.equal(last.type, 'complete');
    if (last.type === 'complete') checkComplete(last.datagram, payload);
    assert.equal(r.bytesHeld, 0);
    assert.equal(r.datagramsInProgress, 0);
  }
});

test('every order with one exact duplicate: duplicate ignored, datagram completes', () => {
  const payload = payloadOf(24);
  const parts = splits(payload, 8);
  for (const dupIndex of [0, 1, 2]) {
    for (const order of permutations([...parts, parts[dupIndex]!])) {
      const r = new Reassembler();
      let complete: Uint8Array | null = null;
      const types: string[] = [];
      for (const p of order) {
        const o = r.add(p.repr, p.bytes, 0, 0);
        types.push(o.type === 'dropped' ? o.reason : o.type);
        if (o.type === 'complete') complete = o.datagram;
      }
      // The duplicate either arrives before completion (ignored) or after (starts a new, harmless partial datagram).
      assert.ok(complete !== null, `order ${types.join(',')}`);
      checkComplete(complete, payload);
    }
  }
});

test('captured Linux fragments of ping -s 3000 reassemble in every order', () => {
  const fr = [
    capturedFrame('Fragmented IP protocol (proto=ICMP 1, off=0,', 0),
    capturedFrame('Fragmented IP protocol (proto=ICMP 1, off=1480,', 0),
    capturedFrame('Echo (ping) request', 1),
  ];
  for (const order of permutations([0, 1, 2])) {
    const r = new Reassembler();
    let done: Uint8Array | null = null;
    for (const i of order) {
      const p = parseIpv4(fr[i]!, 14);
      assert.ok(p.ok);
      const o = r.add(p.value, fr[i]!, 14, 0);
      if (o.type === 'complete') done = o.datagram;
    }
    assert.ok(done !== null);
    const d = parseIpv4(done);
    assert.ok(d.ok);
    assert.equal(d.value.payloadLen, 3008);
  }
});

const overlapCases: { name: string; second: [number, number, boolean] }[] = [
  { name: 'partial overlap from the left', second: [8, 24, true] },
  { name: 'contained in an earlier fragment', second: [0, 8, true] },
  { name: 'covering an earlier fragment', second: [0, 32, true] },
  { name: 'same start, different length', second: [0, 24, true] },
];
for (const c of overlapCases) {
  test(`overlap (${c.name}) discards the whole datagram`, () => {
    const payload = payloadOf(64);
    const r = new Reassembler();
    const a = frag(payload, 0, 16, true);
    assert.equal(r.add(a.repr, a.bytes, 0, 0).type, 'held');
    const b = frag(payload, c.second[0], c.second[1], c.second[2]);
    assert.deepEqual(r.add(b.repr, b.bytes, 0, 0), { type: 'dropped', reason: 'reassembly-overlap' });
    assert.equal(r.datagramsInProgress, 0);
    assert.equal(r.bytesHeld, 0);
  });
}

test('conflicting last fragments and fragments past the end are refused', () => {
  const payload = payloadOf(64);
  const r = new Reassembler();
  const last = frag(payload, 32, 40, false);
  r.add(last.repr, last.bytes, 0, 0);
  const beyond = frag(payload, 40, 48, true);
  assert.deepEqual(r.add(beyond.repr, beyond.bytes, 0, 0), { type: 'dropped', reason: 'reassembly-conflict' });
  const r2 = new Reassembler();
  r2.add(last.repr, last.bytes, 0, 0);
  const otherLast = frag(payload, 40, 48, false);
  assert.deepEqual(r2.add(otherLast.repr, otherLast.bytes, 0, 0), { type: 'dropped', reason: 'reassembly-conflict' });
});

test('non-last fragment whose length is not a multiple of 8 is refused', () => {
  const r = new Reassembler();
  const f = frag(payloadOf(20), 0, 12, true);
  assert.deepEqual(r.add(f.repr, f.bytes, 0, 0), { type: 'dropped', reason: 'reassembly-bad-length' });
});

test('timeout: incomplete datagram expires after timeoutMs; first-fragment quote kept for ICMP', () => {
  const payload = payloadOf(40);
  const r = new Reassembler({ timeoutMs: 30_000 });
  const f0 = frag(payload, 0, 16, true);
  r.add(f0.repr, f0.bytes, 0, 1000);
  const f1 = frag(payload, 16, 24, true);
  r.add(f1.repr, f1.bytes, 0, 20_000); // later fragments do not restart the timer
  assert.equal(r.pollAt(), 31_000);
  assert.deepEqual(r.onTimer(30_999), []);
  const exp = r.onTimer(31_000);
  assert.equal(exp.length, 1);
  assert.equal(exp[0]!.ident, 0x4242);
  assert.equal(exp[0]!.firstFragmentQuote!.length, 28, 'header + 8 bytes');
  assert.equal(r.bytesHeld, 0);
  assert.equal(r.stats.timedOut, 1);
  // Without fragment zero there is no quote (no ICMP time exceeded, RFC 1122 §3.3.2).
  const r2 = new Reassembler({ timeoutMs: 10 });
  r2.add(f1.repr, f1.bytes, 0, 0);
  assert.equal(r2.onTimer(10)[0]!.firstFragmentQuote, null);
});

test('tiny-fragment flood stays within the memory bound and evicts oldest datagrams', () => {
  const r = new Reassembler({ maxBytes: 64 * 1024, fragmentOverhead: 128, maxDatagrams: 1000, maxFragmentsPerDatagram: 10_000 });
  const payload = payloadOf(65_000);
  let held = 0;
  for (let id = 0; id < 50; id++) {
    for (let at = 8; at < 8 * 200; at += 16) { // every other 8-byte piece: never completes
      const f = frag(payload, at, at + 8, true, { ident: id });
      if (r.add(f.repr, f.bytes, 0, 0).type === 'held') held++;
      assert.ok(r.bytesHeld <= 64 * 1024);
    }
  }
  assert.ok(held > 0);
  assert.ok(r.stats.evicted > 0);
});

test('too many fragments per datagram discards it', () => {
  const r = new Reassembler({ maxFragmentsPerDatagram: 4 });
  const payload = payloadOf(80);
  const outcomes = [0, 16, 32, 48, 64].map((at) => { const f = frag(payload, at, at + 8, true); return r.add(f.repr, f.bytes, 0, 0); });
  assert.deepEqual(outcomes.at(-1), { type: 'dropped', reason: 'reassembly-too-many-fragments' });
});

test('datagram count bound evicts the oldest', () => {
  const r = new Reassembler({ maxDatagrams: 2 });
  const payload = payloadOf(32);
  for (const id of [1, 2, 3]) { const f = frag(payload, 0, 8, true, { ident: id }); r.add(f.repr, f.bytes, 0, 0); }
  assert.equal(r.datagramsInProgress, 2);
  assert.equal(r.stats.evicted, 1);
  // Datagram 1 is gone: its last fragment now starts a new partial datagram.
  const last = frag(payload, 8, 32, false, { ident: 1 });
  assert.equal(r.add(last.repr, last.bytes, 0, 0).type, 'held');
});

test('fragmentDatagram then reassembly round trip, with options copied per RFC 791', () => {
  // Option 0x83 (loose source route, copied) and 0x07 (record route, not copied).
  const options = Uint8Array.from([0x83, 7, 4, 1, 2, 3, 4, 0x07, 7, 4, 0, 0, 0, 0, 0, 0]);
  const payload = payloadOf(3000);
  const repr: Ipv4Repr = { ...base, options, payloadLen: payload.length };
  const frags = fragmentDatagram(repr, payload, 1500, 18)!;
  assert.equal(frags.length, 3);
  const parsed = frags.map((f) => parseIpv4(f, 18));
  assert.ok(parsed.every((p) => p.ok));
  const reprs = parsed.map((p) => (p.ok ? p.value : base));
  assert.deepEqual(reprs.map((r) => [r.fragmentOffset, r.moreFragments, r.options.length]), [[0, true, 16], [1464, true, 8], [2936, false, 8]]);
  assert.ok(frags.every((f) => f.length - 18 <= 1500));
  assert.deepEqual(Array.from(reprs[1]!.options), [0x83, 7, 4, 1, 2, 3, 4, 0]);
  const r = new Reassembler();
  let done: Uint8Array | null = null;
  for (const f of frags.reverse()) {
    const p = parseIpv4(f, 18);
    assert.ok(p.ok);
    const o = r.add(p.value, f, 18, 0);
    if (o.type === 'complete') done = o.datagram;
  }
  assert.ok(done !== null);
  const d = parseIpv4(done);
  assert.ok(d.ok);
  assert.deepEqual(d.value.options, options);
  assert.deepEqual(done.subarray(20 + options.length), payload);
});

test('fragmentDatagram refuses an MTU too small for 8 bytes', () => {
  assert.equal(fragmentDatagram({ ...base, payloadLen: 100 }, payloadOf(100), 27, 0), null);
});
