import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SEND_HEADROOM } from '../../src/abi/transport.js';
import type { IpOutput } from '../../src/ip/ip-types.js';
import { parseIpv4, IpProtocol } from '../../src/wire/ipv4.js';
import { parseIcmp } from '../../src/wire/icmp.js';
import { parseEthernet, MAC_BROADCAST } from '../../src/wire/ethernet.js';
import { parseArp } from '../../src/wire/arp.js';
import { parseUdp, emitUdp } from '../../src/wire/udp.js';
import { capturedFrame } from '../fixtures/frames.js';
import { IP_A, IP_B, IP_B2, IP_C, MAC_A, MAC_B, MAC_C, arpFrame, coreAsB, frames, icmpBytes, ipFrame, ofType } from './harness.js';

function icmpOfFrame(f: Uint8Array) {
  const e = parseEthernet(f);
  assert.ok(e.ok);
  const ip = parseIpv4(f, 14);
  assert.ok(ip.ok);
  const start = 14 + 20;
  return { ip: ip.value, icmp: parseIcmp(f, start, start + ip.value.payloadLen), bytes: f.subarray(start, start + ip.value.payloadLen) };
}

test('answers the captured Linux ARP request exactly as Linux did', () => {
  const ip = coreAsB();
  const outs = ip.onFrame(0, capturedFrame('Who has 10.99.0.2'), 0);
  const f = frames(outs);
  assert.equal(f.length, 1);
  assert.deepEqual(f[0]!.frame, capturedFrame('10.99.0.2 is at'));
});

test('captured echo request → echo reply whose ICMP bytes equal the Linux reply', () => {
  const ip = coreAsB();
  ip.onFrame(0, capturedFrame('Who has 10.99.0.2'), 0); // learn A's MAC
  const outs = ip.onFrame(0, capturedFrame('Echo (ping) request', 0), 1);
  const f = frames(outs);
  assert.equal(f.length, 1);
  const ours = icmpOfFrame(f[0]!.frame);
  const linux = icmpOfFrame(capturedFrame('Echo (ping) reply', 0));
  assert.deepEqual(ours.bytes, linux.bytes);
  assert.equal(ours.ip.src, IP_B);
  assert.equal(ours.ip.dst, IP_A);
  assert.deepEqual(f[0]!.frame.subarray(0, 14), capturedFrame('Echo (ping) reply', 0).subarray(0, 14));
  assert.equal(ip.counters.echoReplies, 1);
  assert.equal(ip.inputBalance(), 0);
});

test('echo request from an unknown peer: reply waits for ARP, then leaves', () => {
  const ip = coreAsB();
  const o1 = ip.onFrame(0, capturedFrame('Echo (ping) request', 0), 0);
  const f1 = frames(o1);
  assert.equal(f1.length, 1);
  const e = parseEthernet(f1[0]!.frame);
  assert.ok(e.ok && e.value.ethertype === 0x0806 && e.value.dst === MAC_BROADCAST);
  const o2 = ip.onFrame(0, capturedFrame('10.99.0.2 is at').slice(), 5); // wrong direction: B's own reply, ignored
  assert.equal(frames(o2).length, 0);
  const o3 = ip.onFrame(0, arpFrame(2, MAC_A, IP_A, MAC_B, IP_B, MAC_B), 10);
  const f3 = frames(o3);
  assert.equal(f3.length, 1);
  assert.equal(icmpOfFrame(f3[0]!.frame).icmp.ok && (icmpOfFrame(f3[0]!.frame).icmp as { value: { kind: string } }).value.kind, 'echo-reply');
});

test('captured fragmented echo request (ping -s 3000): reassembled, answered in fragments like Linux', () => {
  const ip = coreAsB();
  ip.onFrame(0, capturedFrame('Who has 10.99.0.2'), 0);
  const parts = [
    capturedFrame('Fragmented IP protocol (proto=ICMP 1, off=1480,', 0),
    capturedFrame('Echo (ping) request', 1),
    capturedFrame('Fragmented IP protocol (proto=ICMP 1, off=0,', 0),
  ];
  const outs = parts.flatMap((p, i) => ip.onFrame(0, p, i));
  const f = frames(outs);
  assert.equal(f.length, 3);
  const ours = f.map((x) => parseIpv4(x.frame, 14)).map((r) => (r.ok ? [r.value.fragmentOffset, r.value.moreFragments, r.value.payloadLen] : null));
  const linux = [
    capturedFrame('Fragmented IP protocol (proto=ICMP 1, off=0,', 1), capturedFrame('Fragmented IP protocol (proto=ICMP 1, off=1480,', 1),
    capturedFrame('Echo (ping) reply', 1),
  ].map((x) => parseIpv4(x, 14)).map((r) => (r.ok ? [r.value.fragmentOffset, r.value.moreFragments, r.value.payloadLen] : null));
  assert.deepEqual(ours, linux);
  // The payload bytes are the same as Linux's reply fragments (ICMP header included in the first).
  assert.deepEqual(f[1]!.frame.subarray(34), capturedFrame('Fragmented IP protocol (proto=ICMP 1, off=1480,', 1).subarray(34));
  assert.equal(ip.counters.fragmentsHeld, 3);
  assert.equal(ip.counters.reassembled, 1);
  assert.equal(ip.inputBalance(), 0);
});

test('captured UDP to a closed port: ICMP port unreachable identical to Linux', () => {
  const ip = coreAsB();
  ip.onFrame(0, capturedFrame('Who has 10.99.0.2'), 0);
  const outs = ip.onFrame(0, capturedFrame('40000 \u2192 9999'), 1);
  const d = ofType(outs, 'deliver');
  assert.equal(d.length, 1);
  assert.equal(d[0]!.protocol, IpProtocol.UDP);
  const u = parseUdp(d[0]!.payload, 0, d[0]!.payload.length, d[0]!.src, d[0]!.dst);
  assert.ok(u.ok && u.value.dstPort === 9999);
  // The UDP core finds no socket and asks for port unreachable:
  const err = frames(ip.sendIcmpError(d[0]!.datagram, 'dest-unreachable', 3, 2));
  assert.equal(err.length, 1);
  const ours = icmpOfFrame(err[0]!.frame);
  const linux = icmpOfFrame(capturedFrame('Destination unreachable (Port unreachable)'));
  assert.deepEqual(ours.bytes, linux.bytes);
  assert.equal(ours.ip.tos, linux.ip.tos);
  assert.equal(ours.ip.ttl, linux.ip.ttl);
});

test('received ICMP errors become icmp-error notifications for the transport', () => {
  // Play A receiving B's captured port unreachable / frag needed.
  const { IpCore } = { IpCore: coreAsB().constructor as typeof import('../../src/ip/ip-core.js').IpCore };
  const a = new IpCore({ interfaces: [{ name: 'eth0', mac: MAC_A, mtu: 1500, addresses: [{ address: IP_A, prefixLen: 24 }] }] },
    { rng: { nextU32: () => 1 } });
  const o1 = ofType(a.onFrame(0, capturedFrame('Destination unreachable (Port unreachable)'), 0), 'icmp-error');
  assert.equal(o1.length, 1);
  assert.deepEqual({ ...o1[0]!, quoted: Array.from(o1[0]!.quoted.subarray(0, 4)) }, {
    type: 'icmp-error', protocol: 17, icmpType: 3, icmpCode: 3, nextHopMtu: 0, reporter: IP_B, origSrc: IP_A, origDst: IP_B,
    quoted: [0x9c, 0x40, 0x27, 0x0f],
  });
  const o2 = ofType(a.onFrame(0, capturedFrame('Destination unreachable (Fragmentation needed)'), 0), 'icmp-error');
  assert.equal(o2[0]!.nextHopMtu, 1000);
  assert.equal(o2[0]!.protocol, 1);
  const o3 = ofType(a.onFrame(0, capturedFrame('Time-to-live exceeded'), 0), 'icmp-error');
  assert.equal(o3[0]!.icmpType, 11);
  assert.equal(a.inputBalance(), 0);
});

test('input validation: each bad packet is counted under its own reason', () => {
  const ip = coreAsB();
  const good = capturedFrame('Echo (ping) request', 0);
  const mutate = (fn: (f: Uint8Array) => void): Uint8Array => { const f = good.slice(); fn(f); return f; };
  const cases: [string, Uint8Array][] = [
    ['bad-checksum', mutate((f) => { f[24] ^= 1; })],
    ['bad-version', mutate((f) => { f[14] = 0x65; })],
    ['bad-header-length', mutate((f) => { f[14] = 0x44; })],
    ['truncated', good.subarray(0, 30)],
    ['bad-total-length', mutate((f) => { f[16] = 0; f[17] = 10; })],
  ];
  for (const [reason, f] of cases) {
    const before = ip.counters.drops[reason as 'truncated'];
    ip.onFrame(0, f, 0);
    assert.equal(ip.counters.drops[reason as 'truncated'], before + 1, reason);
  }
  assert.equal(ip.inputBalance(), 0);
});

test('frames not for us, wrong VLAN, unknown ethertype are counted and ignored', () => {
  const ip = coreAsB();
  const req = capturedFrame('Echo (ping) request', 0);
  const other = req.slice(); other[5] = 0x0c;
  ip.onFrame(0, other, 0);
  ip.onFrame(0, capturedFrame('Echo (ping) request  id=0x1234'), 0); // tagged VLAN 100, we are untagged
  const v6 = req.slice(); v6[12] = 0x86; v6[13] = 0xdd;
  ip.onFrame(0, v6, 0);
  assert.equal(ip.counters.frameDrops['frame-not-for-us'], 1);
  assert.equal(ip.counters.frameDrops['frame-vlan-mismatch'], 1);
  assert.equal(ip.counters.frameDrops['frame-unknown-ethertype'], 1);
});

test('VLAN interface: accepts its tag and tags what it sends', () => {
  const { IpCore } = { IpCore: coreAsB().constructor as typeof import('../../src/ip/ip-core.js').IpCore };
  const ip = new IpCore({ interfaces: [{ name: 'vlan100', mac: MAC_B, mtu: 1500, vlan: 100, addresses: [{ address: 0x0a636402, prefixLen: 24 }] }] },
    { rng: { nextU32: () => 1 } });
  const outs = ip.onFrame(0, capturedFrame('Echo (ping) request  id=0x1234'), 0);
  const f = frames(outs);
  assert.equal(f.length, 1); // ARP request for 10.99.100.1, tagged
  const e = parseEthernet(f[0]!.frame);
  assert.ok(e.ok);
  assert.deepEqual(e.value.vlan, { pcp: 0, dei: false, vid: 100 });
  assert.equal(e.value.ethertype, 0x0806);
});

test('transport send: headers prepended in place in the headroom, ARP first, then frame', () => {
  const ip = coreAsB();
  ip.onFrame(0, arpFrame(1, MAC_A, IP_A, 0, IP_B, MAC_BROADCAST), 0);
  const pool = new Uint8Array(2048);
  const data = pool.subarray(SEND_HEADROOM, SEND_HEADROOM + 8 + 5);
  data.set([104, 101, 108, 108, 111], 8);
  emitUdp({ srcPort: 1234, dstPort: 9999, payloadLen: 5 }, data, 0, IP_B, IP_A);
  const outs = ip.send({ protocol: IpProtocol.UDP, src: IP_B, dst: IP_A, payload: data, headroom: SEND_HEADROOM }, 1);
  const f = frames(outs);
  assert.equal(f.length, 1);
  assert.equal(f[0]!.frame.buffer, pool.buffer, 'no copy: the frame is a view into the pool buffer');
  assert.equal(f[0]!.frame.byteOffset, SEND_HEADROOM - 34);
  const r = parseIpv4(f[0]!.frame, 14);
  assert.ok(r.ok);
  assert.ok(parseUdp(f[0]!.frame, 34, 34 + r.value.payloadLen, IP_B, IP_A).ok);
});

test('transport send with src 0: the core picks the source and completes the UDP checksum', () => {
  const ip = coreAsB();
  ip.onFrame(0, arpFrame(1, MAC_A, IP_A, 0, IP_B, MAC_BROADCAST), 0);
  const seg = new Uint8Array(8 + 3);
  seg.set([1, 2, 3], 8);
  emitUdp({ srcPort: 5, dstPort: 6, payloadLen: 3 }, seg, 0, 0, IP_A);
  const f = frames(ip.send({ protocol: IpProtocol.UDP, src: 0, dst: IP_A, payload: seg, headroom: 0 }, 1));
  const r = parseIpv4(f[0]!.frame, 14);
  assert.ok(r.ok);
  assert.equal(r.value.src, IP_B);
  assert.ok(parseUdp(f[0]!.frame, 34, 34 + r.value.payloadLen, IP_B, IP_A).ok);
});

test('send errors: no route, DF too big (EMSGSIZE with MTU), local fragmentation otherwise', () => {
  const ip = coreAsB();
  ip.onFrame(0, arpFrame(1, MAC_A, IP_A, 0, IP_B, MAC_BROADCAST), 0);
  const e1 = ofType(ip.send({ protocol: 17, src: 0, dst: 0x08080808, payload: new Uint8Array(8), headroom: 0, token: 7 }, 0), 'send-error');
  assert.deepEqual(e1, [{ type: 'send-error', code: 'ENETUNREACH', dst: 0x08080808, token: 7, nextHopMtu: 0 }]);
  const e2 = ofType(ip.send({ protocol: 17, src: 0, dst: IP_A, payload: new Uint8Array(2000), headroom: 0, dontFragment: true, token: 8 }, 0), 'send-error');
  // Sent from a copy (no headroom): the error carries the copy to quote.
  assert.deepEqual(e2.map(({ datagram: _, ...e }) => e), [{ type: 'send-error', code: 'EMSGSIZE', dst: IP_A, token: 8, nextHopMtu: 1500 }]);
  assert.equal(e2[0]!.datagram?.length, 2020);
  const f = frames(ip.send({ protocol: 17, src: 0, dst: IP_A, payload: new Uint8Array(2000), headroom: 0 }, 0));
  assert.equal(f.length, 2);
  assert.ok(f.every((x) => x.frame.length - 14 <= 1500));
});

test('default gateway: off-link destinations go to the gateway MAC', () => {
  const ip = coreAsB({ routes: [{ prefix: 0, prefixLen: 0, gateway: IP_A, iface: 'eth0' }] });
  const outs = ip.send({ protocol: 17, src: 0, dst: 0x08080808, payload: new Uint8Array(8), headroom: 0 }, 0);
  const arp = frames(outs).map((x) => parseArp(x.frame, 14));
  assert.ok(arp[0]!.ok && arp[0]!.value.targetIp === IP_A, 'resolves the gateway, not the destination');
});

test('loopback: sending to our own address delivers locally', () => {
  const ip = coreAsB();
  const d = ofType(ip.send({ protocol: 17, src: 0, dst: IP_B, payload: new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]), headroom: 0 }, 0), 'deliver');
  assert.equal(d.length, 1);
  assert.equal(d[0]!.src, IP_B);
});

test('loopback with the source left to IP: the UDP checksum is completed (the receiver verifies it)', () => {
  const ip = coreAsB();
  const seg = new Uint8Array(11);
  seg.set([7, 8, 9], 8);
  emitUdp({ srcPort: 5, dstPort: 6, payloadLen: 3 }, seg, 0, 0, IP_B);
  const d = ofType(ip.send({ protocol: 17, src: 0, dst: IP_B, payload: seg, headroom: 0 }, 0), 'deliver');
  assert.equal(d.length, 1);
  const u = parseUdp(d[0]!.payload, 0, d[0]!.payload.length, d[0]!.src, d[0]!.dst, true);
  assert.ok(u.ok, `checksum verifies: ${u.ok ? '' : u.reason}`);
});

test('unknown protocol: protocol unreachable sent, drop counted', () => {
  const ip = coreAsB({ transports: [17] });
  ip.onFrame(0, arpFrame(1, MAC_A, IP_A, 0, IP_B, MAC_BROADCAST), 0);
  const outs = ip.onFrame(0, ipFrame(MAC_B, MAC_A, { src: IP_A, dst: IP_B, protocol: 6 }, new Uint8Array(20)), 1);
  const f = frames(outs);
  assert.equal(f.length, 1);
  const i = icmpOfFrame(f[0]!.frame);
  assert.ok(i.icmp.ok && i.icmp.value.kind === 'dest-unreachable' && i.icmp.value.code === 2);
  assert.equal(ip.counters.drops['unknown-protocol'], 1);
});

test('forwarding is off by default: not-for-us', () => {
  const ip = coreAsB({}, true);
  ip.onFrame(0, ipFrame(MAC_B, MAC_A, { src: IP_A, dst: IP_C, protocol: 17 }, new Uint8Array(8)), 0);
  assert.equal(ip.counters.drops['not-for-us'], 1);
  assert.equal(ip.counters.forwarded, 0);
});

function router(): ReturnType<typeof coreAsB> {
  const ip = coreAsB({ forwarding: true }, true);
  ip.onFrame(1, arpFrame(1, MAC_C, IP_C, 0, IP_B2, MAC_BROADCAST), 0); // learn C on eth1
  ip.onFrame(0, arpFrame(1, MAC_A, IP_A, 0, IP_B, MAC_BROADCAST), 0); // learn A on eth0
  return ip;
}

test('forwarding: TTL decremented, checksum updated, out the other interface', () => {
  const ip = router();
  const outs = ip.onFrame(0, ipFrame(MAC_B, MAC_A, { src: IP_A, dst: IP_C, protocol: 17, ttl: 9 }, new Uint8Array(8)), 1);
  const f = frames(outs);
  assert.equal(f.length, 1);
  assert.equal(f[0]!.ifIndex, 1);
  const r = parseIpv4(f[0]!.frame, 14);
  assert.ok(r.ok, 'checksum still valid after the incremental update');
  assert.equal(r.value.ttl, 8);
  const e = parseEthernet(f[0]!.frame);
  assert.ok(e.ok && e.value.dst === MAC_C && e.value.src === 0x02000000001b);
  assert.equal(ip.counters.forwarded, 1);
});

test('forwarding: TTL 1 → ICMP time exceeded to the source (like the captured Linux router)', () => {
  const ip = router();
  const outs = ip.onFrame(0, ipFrame(MAC_B, MAC_A, { src: IP_A, dst: IP_C, protocol: 17, ttl: 1 }, new Uint8Array(8)), 1);
  const f = frames(outs);
  assert.equal(f.length, 1);
  assert.equal(f[0]!.ifIndex, 0);
  const i = icmpOfFrame(f[0]!.frame);
  assert.ok(i.icmp.ok && i.icmp.value.kind === 'time-exceeded' && i.icmp.value.code === 0);
  assert.equal(ip.counters.drops['ttl-exceeded'], 1);
});

test('forwarding the captured DF ping to a 1000-byte MTU link → frag needed with MTU 1000, like Linux', () => {
  const ip = router();
  const req = capturedFrame('Echo (ping) request', 4); // ping -M do -s 1300 10.99.1.1
  const r0 = parseIpv4(req, 14);
  assert.ok(r0.ok && r0.value.dontFragment && r0.value.dst === IP_C);
  const f = frames(ip.onFrame(0, req, 1));
  assert.equal(f.length, 1);
  const ours = icmpOfFrame(f[0]!.frame);
  const linux = icmpOfFrame(capturedFrame('Destination unreachable (Fragmentation needed)'));
  assert.ok(ours.icmp.ok && linux.icmp.ok);
  assert.equal(ours.icmp.value.kind, 'dest-unreachable');
  if (ours.icmp.value.kind === 'dest-unreachable' && linux.icmp.value.kind === 'dest-unreachable') {
    assert.equal(ours.icmp.value.code, 4);
    assert.equal(ours.icmp.value.nextHopMtu, linux.icmp.value.nextHopMtu);
  }
  // Linux quotes 548 bytes (576 in all) of the datagram as received, TTL not yet decremented; so do we.
  assert.deepEqual(ours.bytes, linux.bytes);
});

test('forwarding without DF fragments to the smaller MTU', () => {
  const ip = router();
  const f = frames(ip.onFrame(0, ipFrame(MAC_B, MAC_A, { src: IP_A, dst: IP_C, protocol: 17 }, new Uint8Array(1400)), 1));
  assert.equal(f.length, 2);
  assert.ok(f.every((x) => x.ifIndex === 1 && x.frame.length - 14 <= 1000));
});

test('no route when forwarding: ICMP net unreachable', () => {
  const ip = router();
  const f = frames(ip.onFrame(0, ipFrame(MAC_B, MAC_A, { src: IP_A, dst: 0x08080808, protocol: 17 }, new Uint8Array(8)), 1));
  const i = icmpOfFrame(f[0]!.frame);
  assert.ok(i.icmp.ok && i.icmp.value.kind === 'dest-unreachable' && i.icmp.value.code === 0);
  assert.equal(ip.counters.drops['no-route'], 1);
});

test('ICMP errors are never sent about ICMP errors, broadcasts, multicast or non-first fragments', () => {
  const ip = coreAsB({ transports: [] });
  ip.onFrame(0, arpFrame(1, MAC_A, IP_A, 0, IP_B, MAC_BROADCAST), 0);
  const cases: Uint8Array[] = [
    ipFrame(MAC_B, MAC_A, { src: IP_A, dst: 0x0a6300ff, protocol: 99 }, new Uint8Array(8)), // subnet broadcast
    ipFrame(MAC_BROADCAST, MAC_A, { src: IP_A, dst: IP_B, protocol: 99 }, new Uint8Array(8)), // link broadcast
    ipFrame(MAC_B, MAC_A, { src: IP_A, dst: 0xffffffff, protocol: 99 }, new Uint8Array(8)),
  ];
  for (const c of cases) assert.equal(frames(ip.onFrame(0, c, 1)).length, 0);
  // An ICMP error about an ICMP error: the UDP core asking about a delivered ICMP error datagram.
  const errDatagram = capturedFrame('Destination unreachable (Port unreachable)').subarray(14);
  assert.equal(frames(ip.sendIcmpError(errDatagram, 'dest-unreachable', 3, 1)).length, 0);
  // Non-first fragment.
  const frag = ipFrame(MAC_B, MAC_A, { src: IP_A, dst: IP_B, protocol: 17, fragmentOffset: 8 }, new Uint8Array(8)).subarray(14);
  assert.equal(frames(ip.sendIcmpError(frag, 'dest-unreachable', 3, 1)).length, 0);
  assert.equal(ip.counters.icmpErrorsSuppressed, 5);
  assert.equal(ip.counters.icmpErrorsSent, 0);
});

test('ICMP error rate limit: a token bucket caps bursts and refills over time', () => {
  const ip = coreAsB({ transports: [], icmpErrorBurst: 3, icmpErrorsPerSecond: 2 });
  ip.onFrame(0, arpFrame(1, MAC_A, IP_A, 0, IP_B, MAC_BROADCAST), 0);
  const probe = ipFrame(MAC_B, MAC_A, { src: IP_A, dst: IP_B, protocol: 99 }, new Uint8Array(8));
  let sent = 0;
  for (let i = 0; i < 10; i++) sent += frames(ip.onFrame(0, probe.slice(), 0)).length;
  assert.equal(sent, 3);
  assert.equal(ip.counters.icmpErrorsRateLimited, 7);
  let later = 0;
  for (let i = 0; i < 10; i++) later += frames(ip.onFrame(0, probe.slice(), 1000)).length;
  assert.equal(later, 2, 'one second at 2/s refills two tokens');
  assert.equal(ip.counters.drops['unknown-protocol'], 20);
  assert.equal(ip.inputBalance(), 0);
});

test('broadcast echo requests are ignored by default (Linux icmp_echo_ignore_broadcasts)', () => {
  const ip = coreAsB();
  const req = icmpBytes({ kind: 'echo-request', ident: 1, seq: 1, data: new Uint8Array(4) });
  ip.onFrame(0, ipFrame(MAC_BROADCAST, MAC_A, { src: IP_A, dst: 0x0a6300ff, protocol: 1 }, req), 0);
  assert.equal(ip.counters.drops['echo-broadcast-ignored'], 1);
});

test('martian sources and destinations are dropped', () => {
  const ip = coreAsB();
  for (const src of [0x7f000001, 0xe0000001, IP_B, 0x0a6300ff]) ip.onFrame(0, ipFrame(MAC_B, MAC_A, { src, dst: IP_B, protocol: 17 }, new Uint8Array(8)), 0);
  ip.onFrame(0, ipFrame(MAC_B, MAC_A, { src: IP_A, dst: 0x7f000001, protocol: 17 }, new Uint8Array(8)), 0);
  assert.equal(ip.counters.drops['martian-source'], 4);
  assert.equal(ip.counters.drops['martian-destination'], 1);
});

test('reassembly timeout sends time exceeded (code 1) when fragment zero arrived', () => {
  const ip = coreAsB({ reassembly: { timeoutMs: 1000 } });
  ip.onFrame(0, arpFrame(1, MAC_A, IP_A, 0, IP_B, MAC_BROADCAST), 0);
  ip.onFrame(0, capturedFrame('Fragmented IP protocol (proto=ICMP 1, off=0,', 0), 0);
  assert.equal(ip.pollAt(), 1000);
  const f = frames(ip.onTimer(1000));
  assert.equal(f.length, 1);
  const i = icmpOfFrame(f[0]!.frame);
  assert.ok(i.icmp.ok && i.icmp.value.kind === 'time-exceeded' && i.icmp.value.code === 1);
  assert.equal(ip.counters.reassemblyTimeouts, 1);
});

test('announce sends gratuitous ARP', () => {
  const ip = coreAsB();
  const f = frames(ip.announce(0));
  const a = parseArp(f[0]!.frame, 14);
  assert.ok(a.ok && a.value.senderIp === IP_B && a.value.targetIp === IP_B);
});

test('config is plain data and survives a JSON round trip into a new core', () => {
  const ip = coreAsB({ routes: [{ prefix: 0, prefixLen: 0, gateway: IP_A, iface: 'eth0' }] });
  ip.addRoute({ prefix: 0x0b000000, prefixLen: 8, gateway: IP_A, iface: 'eth0', metric: 3 });
  const saved = JSON.parse(JSON.stringify(ip.currentConfig()));
  const { IpCore } = { IpCore: ip.constructor as typeof import('../../src/ip/ip-core.js').IpCore };
  const again = new IpCore(saved, { rng: { nextU32: () => 0 } });
  assert.deepEqual(again.currentConfig(), ip.currentConfig());
  assert.equal(ip.removeRoute(0x0b000000, 8), 1);
});

test('an interface with two subnets asks ARP from the address on the target subnet', () => {
  const { IpCore } = { IpCore: coreAsB().constructor as typeof import('../../src/ip/ip-core.js').IpCore };
  const ip = new IpCore({
    interfaces: [{ name: 'eth0', mac: MAC_B, mtu: 1500, addresses: [{ address: IP_B, prefixLen: 24 }, { address: 0xc0a80001, prefixLen: 24 }] }],
  }, { rng: { nextU32: () => 1 } });
  const f = frames(ip.send({ protocol: 17, src: 0, dst: 0xc0a80002, payload: new Uint8Array(8), headroom: 0 }, 0));
  const a = parseArp(f[0]!.frame, 14);
  assert.ok(a.ok && a.value.senderIp === 0xc0a80001 && a.value.targetIp === 0xc0a80002);
});

test('ARP queue or cache full: each dropped local datagram is reported at once (ENOBUFS), so its buffer goes back', () => {
  // A random-source SYN flood's SYN-ACKs: one datagram per address that never answers.
  const ip = coreAsB({ arp: { maxEntries: 8, maxQueuedTotal: 4 } });
  const reported: number[] = [];
  for (let k = 0; k < 20; k++) {
    const outs = ip.send({ protocol: 6, src: 0, dst: 0x0a630010 + k, payload: new Uint8Array(20), headroom: 34, token: 100 + k }, 0);
    for (const e of ofType(outs, 'send-error')) {
      assert.equal(e.code, 'ENOBUFS');
      reported.push(e.token);
    }
  }
  // 4 wait (the newest of the 8 with an entry; the other 12 found the table full), every other
  // one was reported: none is left for a sweep to find.
  const waiting = [104, 105, 106, 107];
  assert.deepEqual(reported.sort((x, y) => x - y), Array.from({ length: 20 }, (_, k) => 100 + k).filter((t) => !waiting.includes(t)));
  assert.equal(ip.arpSnapshot(0).reduce((n, e) => n + e.queued, 0), 4);
  assert.equal(ip.counters.txDrops['arp-queue-full'] + ip.counters.txDrops['arp-cache-full'], 16);
});

test('with the filter on, a datagram ARP cannot take is dropped before its verdict is asked', () => {
  const ip = coreAsB({ filter: true, arp: { maxEntries: 2 } });
  const ask = (k: number, now: number): IpOutput[] => {
    const outs = ip.send({ protocol: 6, src: 0, dst: 0x0a630010 + k, payload: new Uint8Array(20), headroom: 34, token: 100 + k }, now);
    for (const v of ofType(outs, 'verdict-request')) outs.push(...ip.onVerdict(v.id, { action: 'allow' }, now));
    return outs;
  };
  ask(0, 0); ask(1, 0);
  // The table is full of two resolutions; the third is refused by ARP after its verdict...
  const third = ask(2, 1);
  assert.equal(ofType(third, 'verdict-request').length, 1);
  assert.deepEqual(ofType(third, 'send-error').map((e) => e.code), ['ENOBUFS']);
  // ...and from then on before it.
  const fourth = ask(3, 2);
  assert.equal(ofType(fourth, 'verdict-request').length, 0);
  assert.deepEqual(ofType(fourth, 'send-error').map((e) => [e.code, e.token]), [['ENOBUFS', 103]]);
});

test('ARP never answered: local sender gets EHOSTUNREACH once per datagram; forwarded source gets host unreachable', () => {
  const ip = coreAsB({ arp: { retransmitMs: 1000, maxProbes: 3 } });
  const o1 = ip.send({ protocol: 17, src: 0, dst: 0x0a630063, payload: new Uint8Array(3000), headroom: 0, token: 5 }, 0);
  assert.equal(frames(o1).length, 1, 'one ARP request for three fragments');
  let errors: IpOutput[] = [];
  for (let t = 1000; t <= 3000; t += 1000) errors = errors.concat(ip.onTimer(t));
  const sendErrors = ofType(errors, 'send-error');
  assert.deepEqual(sendErrors.map(({ datagram: _, ...e }) => e), [{ type: 'send-error', code: 'EHOSTUNREACH', dst: 0x0a630063, token: 5, nextHopMtu: 0 }]);
  // The datagram was copied (no headroom) and cut: the error quotes its first fragment.
  const quoted = sendErrors[0]!.datagram!;
  assert.equal(quoted[9], 17);
  assert.equal(new DataView(quoted.buffer, quoted.byteOffset).getUint32(16), 0x0a630063);
  assert.equal(ip.counters.txDrops['arp-unresolved'], 3);

  const r = router();
  r.onFrame(0, ipFrame(MAC_B, MAC_A, { src: IP_A, dst: 0x0a630177, protocol: 17 }, new Uint8Array(8)), 0);
  let outs: IpOutput[] = [];
  for (let t = 1000; t <= 3000; t += 1000) outs = outs.concat(r.onTimer(t));
  const f = frames(outs).filter((x) => x.ifIndex === 0);
  assert.equal(f.length, 1);
  const i = icmpOfFrame(f[0]!.frame);
  assert.ok(i.icmp.ok && i.icmp.value.kind === 'dest-unreachable' && i.icmp.value.code === 1);
  assert.equal(i.ip.dst, IP_A);
});

test('linksReset (the driver restarted): learnt neighbours are forgotten and our addresses announced again', () => {
  const ip = coreAsB();
  ip.onFrame(0, capturedFrame('Who has 10.99.0.2'), 0); // learn A's MAC
  assert.equal(ip.arpSnapshot(0).length, 1);
  const announced = frames(ip.linksReset(5));
  assert.equal(announced.length, 1);
  const arp = parseArp(announced[0]!.frame, 14);
  assert.ok(arp.ok);
  assert.equal(arp.value.senderIp, IP_B);
  assert.equal(arp.value.targetIp, IP_B, 'gratuitous: sender = target');
  assert.deepEqual(ip.arpSnapshot(0), []);
  // The next echo reply to A asks for A's MAC again instead of using the old one.
  const f = frames(ip.onFrame(0, capturedFrame('Echo (ping) request', 0), 10));
  assert.equal(f.length, 1);
  const e = parseEthernet(f[0]!.frame);
  assert.ok(e.ok && e.value.ethertype === 0x0806 && e.value.dst === MAC_BROADCAST);
});

test('a SYN whose SYN-ACK ARP could not send (table full of unresolved neighbours) is dropped before TCP; a known neighbour\'s SYN is delivered', () => {
  const ip = coreAsB({ arp: { maxEntries: 4 } });
  // A resolved neighbour (A), then the table filled with addresses that never answer.
  ip.onFrame(0, arpFrame(2, MAC_A, IP_A, MAC_B, IP_B, MAC_B), 0);
  for (let k = 0; k < 6; k++) ip.send({ protocol: 6, src: 0, dst: 0x0a630010 + k, payload: new Uint8Array(20), headroom: 34, token: k }, 1);
  const tcp = (flags: number): Uint8Array => { const t = new Uint8Array(20); t[12] = 0x50; t[13] = flags; return t; };
  const deliveredFrom = (src: number, flags: number): number => ofType(ip.onFrame(0, ipFrame(MAC_B, MAC_A, { src, dst: IP_B, protocol: 6 }, tcp(flags)), 2), 'deliver').length;
  assert.equal(deliveredFrom(0x0a630050, 0x02), 0, 'a flood SYN from an unknown source');
  assert.equal(ip.counters.drops['syn-neighbour-table-full'], 1);
  assert.equal(deliveredFrom(IP_A, 0x02), 1, 'the known neighbour\'s SYN');
  assert.equal(deliveredFrom(0x0a630051, 0x10), 1, 'not a SYN (an ACK, maybe of a cookie): delivered');
  assert.equal(deliveredFrom(0x0a630052, 0x12), 1, 'a SYN-ACK: delivered');
  assert.equal(ip.counters.drops['syn-neighbour-table-full'], 1);
});
