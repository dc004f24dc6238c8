import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UdpCore } from '../../src/udp/udp-core.js';
import { SeededRng } from '../../src/random/rng.js';
import { parseIpv4 } from '../../src/wire/ipv4.js';
import { parseUdp } from '../../src/wire/udp.js';
import { capturedFrame } from '../fixtures/frames.js';
import { coreAsB, frames, ofType, IP_A, IP_B, MAC_A, MAC_B, arpFrame } from '../ip/harness.js';

const OURS = new Set([IP_B, 0x0a630102]);
function udp(): UdpCore {
  return new UdpCore({ rng: new SeededRng(3), isLocalAddress: (a) => OURS.has(a) });
}

const bindCases: { name: string; first: [number, number]; second: [number, number]; result: string }[] = [
  { name: 'same wildcard port', first: [0, 53], second: [0, 53], result: 'EADDRINUSE' },
  { name: 'specific after wildcard', first: [0, 53], second: [IP_B, 53], result: 'EADDRINUSE' },
  { name: 'wildcard after specific', first: [IP_B, 53], second: [0, 53], result: 'EADDRINUSE' },
  { name: 'same specific', first: [IP_B, 53], second: [IP_B, 53], result: 'EADDRINUSE' },
  { name: 'two different specific addresses', first: [IP_B, 53], second: [0x0a630102, 53], result: 'ok' },
  { name: 'different ports', first: [0, 53], second: [0, 54], result: 'ok' },
  { name: 'foreign address', first: [0, 1], second: [0x01020304, 53], result: 'EADDRNOTAVAIL' },
  { name: 'port out of range', first: [0, 1], second: [0, 70000], result: 'EINVAL' },
];
for (const c of bindCases) {
  test(`bind: ${c.name} → ${c.result}`, () => {
    const u = udp();
    assert.ok(u.bind(1, ...c.first).ok);
    const r = u.bind(2, ...c.second);
    assert.equal(r.ok ? 'ok' : r.code, c.result);
  });
}

test('bind twice with the same socket is EINVAL; unbind frees the port', () => {
  const u = udp();
  assert.ok(u.bind(1, 0, 53).ok);
  assert.equal((r => !r.ok && r.code)(u.bind(1, 0, 54)), 'EINVAL');
  assert.ok(u.unbind(1));
  assert.ok(!u.unbind(1));
  assert.ok(u.bind(2, 0, 53).ok);
});

test('ephemeral ports: in range, distinct, respecting a replica filter; exhaustion is EAGAIN', () => {
  const u = new UdpCore({ rng: new SeededRng(1), isLocalAddress: () => true, ephemeralPortFilter: (p) => p % 4 === 1 });
  const ports = new Set<number>();
  for (let s = 1; s <= 100; s++) {
    const r = u.bind(s, 0, 0);
    assert.ok(r.ok);
    assert.ok(r.port >= 49152 && r.port <= 65535 && r.port % 4 === 1);
    ports.add(r.port);
  }
  assert.equal(ports.size, 100);
  const small = new UdpCore({ rng: new SeededRng(1), isLocalAddress: () => true, ephemeralPortFilter: (p) => p === 50000 });
  assert.ok(small.bind(1, 0, 0).ok);
  assert.equal((r => !r.ok && r.code)(small.bind(2, 0, 0)), 'EAGAIN');
});

function delivered(frame: Uint8Array) {
  const ip = coreAsB();
  const d = ofType(ip.onFrame(0, frame, 0), 'deliver')[0]!;
  return { ip, d };
}

test('the captured datagram to port 9999 is delivered to the socket bound there, exact address first', () => {
  const u = udp();
  u.bind(10, 0, 9999);
  u.bind(11, IP_B, 9999 + 1);
  const { d } = delivered(capturedFrame('40000 \u2192 9999'));
  const r = u.onDatagram(d);
  assert.equal(r.type, 'deliver');
  if (r.type === 'deliver') {
    assert.equal(r.socket, 10);
    assert.equal(r.srcAddr, IP_A);
    assert.equal(r.srcPort, 40000);
    assert.equal(Buffer.from(r.data).toString(), 'hello newtos');
  }
  const u2 = udp();
  u2.bind(1, 0, 9999);
  assert.equal(u2.unbind(1), true);
  u2.bind(2, IP_B, 9999);
  u2.bind(3, 0x0a630102, 9999);
  const r2 = u2.onDatagram(d);
  assert.ok(r2.type === 'deliver' && r2.socket === 2);
});

test('closed port: port-unreachable request; the IP core turns it into the ICMP message', () => {
  const u = udp();
  const { ip, d } = delivered(capturedFrame('40000 \u2192 9999'));
  ip.onFrame(0, arpFrame(1, MAC_A, IP_A, 0, IP_B, MAC_B), 0);
  const r = u.onDatagram(d);
  assert.equal(r.type, 'port-unreachable');
  if (r.type === 'port-unreachable') {
    const f = frames(ip.sendIcmpError(r.datagram, 'dest-unreachable', 3, 1));
    assert.equal(f.length, 1);
  }
  assert.equal(u.counters.drops['no-port'], 1);
});

test('checksum: bad is dropped, zero is accepted (RFC 768), counters balance', () => {
  const u = udp();
  u.bind(1, 0, 9999);
  const { d } = delivered(capturedFrame('40000 \u2192 9999'));
  const bad = d.payload.slice(); bad[9] ^= 1;
  assert.deepEqual(u.onDatagram({ ...d, payload: bad }), { type: 'drop', reason: 'bad-checksum' });
  const none = d.payload.slice(); none[6] = 0; none[7] = 0;
  assert.equal(u.onDatagram({ ...d, payload: none }).type, 'deliver');
  assert.deepEqual(u.onDatagram({ ...d, payload: d.payload.subarray(0, 5) }), { type: 'drop', reason: 'truncated' });
  const c = u.counters;
  assert.equal(c.received, c.delivered + Object.values(c.drops).reduce((a, b) => a + b, 0));
});

test('send: builds a checksummed datagram with headroom that the IP core sends without copying', () => {
  const u = udp();
  const b = u.bind(1, 0, 0);
  assert.ok(b.ok);
  const t = u.send(1, IP_A, 7777, new TextEncoder().encode('ping'));
  assert.ok(t !== null);
  const ip = coreAsB();
  ip.onFrame(0, arpFrame(1, MAC_A, IP_A, 0, IP_B, MAC_B), 0);
  const f = frames(ip.send(t, 1));
  assert.equal(f[0]!.frame.buffer, t.payload.buffer);
  const r = parseIpv4(f[0]!.frame, 14);
  assert.ok(r.ok);
  const p = parseUdp(f[0]!.frame, 34, 34 + r.value.payloadLen, r.value.src, r.value.dst);
  assert.ok(p.ok);
  assert.deepEqual(p.value, { srcPort: b.port, dstPort: 7777, payloadLen: 4 });
  assert.equal(u.send(99, IP_A, 1, new Uint8Array(1)), null);
});
