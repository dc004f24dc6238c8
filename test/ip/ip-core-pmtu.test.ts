// IP IDs of bursts and path MTU discovery in the IP core (RFC 6864 §4.1, RFC 1191).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SEND_HEADROOM } from '../../src/abi/transport.js';
import { GsoCutter } from '../../src/driver/offload.js';
import { parseIpv4, IpProtocol, emitIpv4 } from '../../src/wire/ipv4.js';
import { MAC_BROADCAST } from '../../src/wire/ethernet.js';
import { IP_A, IP_B, MAC_A, MAC_B, arpFrame, coreAsB, frames, icmpBytes, ipFrame, ofType } from './harness.js';

/** A TCP segment (20-byte header, `data` payload bytes) in a buffer with send headroom. */
function tcpSegment(data: number, seq = 0): { payload: Uint8Array; headroom: number } {
  const buf = new Uint8Array(SEND_HEADROOM + 20 + data);
  const seg = buf.subarray(SEND_HEADROOM);
  seg[0] = 0x30; seg[1] = 0x39; seg[2] = 0x00; seg[3] = 0x50;
  seg[4] = seq >>> 24; seg[5] = seq >>> 16; seg[6] = seq >>> 8; seg[7] = seq;
  seg[12] = 0x50; seg[13] = 0x10;
  return { payload: seg, headroom: SEND_HEADROOM };
}

function readyCore(extra = {}) {
  const ip = coreAsB(extra);
  ip.onFrame(0, arpFrame(1, MAC_A, IP_A, 0, IP_B, MAC_BROADCAST), 0);
  return ip;
}

/** A router's "fragmentation needed" about the datagram header `quoted` (plus 8 bytes), as A sends it. */
function fragNeeded(mtu: number, df = true, src = IP_B): Uint8Array {
  const q = new Uint8Array(28);
  emitIpv4({ tos: 0, ident: 9, dontFragment: df, moreFragments: false, fragmentOffset: 0, ttl: 64, protocol: 6, src, dst: IP_A, options: new Uint8Array(0), payloadLen: 1480 }, q, 0);
  q.set([0x30, 0x39, 0, 0x50, 0, 0, 0, 0], 20);
  return ipFrame(MAC_B, MAC_A, { src: IP_A, dst: IP_B, protocol: IpProtocol.ICMP }, icmpBytes({ kind: 'dest-unreachable', code: 4, nextHopMtu: mtu, data: q }));
}

test('IP IDs: every wire segment of every burst has its own ID (the burst reserves one per segment)', () => {
  const ip = readyCore();
  const cutter = new GsoCutter();
  const ids: number[] = [];
  for (let i = 0; i < 40; i++) {
    // Bursts of 1..12 segments, with small datagrams (ACKs) between them, all at one instant.
    const segs = 1 + (i % 12);
    const b = tcpSegment(segs * 1448 - (i % 3) * 100);
    const outs = ip.send({ protocol: 6, src: IP_B, dst: IP_A, ...b, gsoMss: 1448, dontFragment: false }, 5);
    const f = frames(outs)[0]!;
    const n = f.gsoMss! > 0 ? cutter.cut(f.frame, 0, f.frame.length, f.gsoMss!) : -1;
    if (n < 0) ids.push((f.frame[18]! << 8) | f.frame[19]!);
    for (let k = 0; k < n; k++) ids.push((cutter.memory[cutter.offsets[k]! + 18]! << 8) | cutter.memory[cutter.offsets[k]! + 19]!);
    const ack = frames(ip.send({ protocol: 6, src: IP_B, dst: IP_A, ...tcpSegment(0) }, 5))[0]!;
    ids.push((ack.frame[18]! << 8) | ack.frame[19]!);
  }
  assert.equal(new Set(ids).size, ids.length, 'no IP ID repeats towards one destination');
});

test('PMTU: DF as asked; "fragmentation needed" lowers the path MTU for that destination only', () => {
  const ip = readyCore();
  const f0 = frames(ip.send({ protocol: 6, src: IP_B, dst: IP_A, ...tcpSegment(1460), dontFragment: true }, 0))[0]!;
  const r0 = parseIpv4(f0.frame, 14);
  assert.ok(r0.ok && r0.value.dontFragment);
  const icmp = ofType(ip.onFrame(0, fragNeeded(1280), 10), 'icmp-error');
  assert.equal(icmp[0]!.nextHopMtu, 1280);
  assert.equal(ip.pathMtu(IP_A, 10), 1280);
  assert.equal(ip.pathMtu(IP_A + 5, 10), 1500, 'other destinations keep the interface MTU');
  assert.deepEqual(ip.counters.pmtu, { entries: 1, learned: 1, ignored: 0, expired: 0 });
  // A full-sized DF segment no longer goes: TCP hears EMSGSIZE with the path MTU.
  const e1 = ofType(ip.send({ protocol: 6, src: IP_B, dst: IP_A, ...tcpSegment(1460), dontFragment: true, token: 3 }, 20), 'send-error');
  assert.deepEqual(e1, [{ type: 'send-error', code: 'EMSGSIZE', dst: IP_A, token: 3, nextHopMtu: 1280 }]);
  // A burst cut at the old MSS neither (with or without DF); one cut at the new MSS goes whole.
  const e2 = ofType(ip.send({ protocol: 6, src: IP_B, dst: IP_A, ...tcpSegment(4 * 1448), gsoMss: 1448, dontFragment: true, token: 4 }, 20), 'send-error');
  assert.equal(e2[0]!.nextHopMtu, 1280);
  const f3 = frames(ip.send({ protocol: 6, src: IP_B, dst: IP_A, ...tcpSegment(4 * 1240), gsoMss: 1240, dontFragment: true }, 20));
  assert.equal(f3.length, 1);
  assert.equal(f3[0]!.gsoMss, 1240);
  // Without DF, a datagram is fragmented at the path MTU.
  const f4 = frames(ip.send({ protocol: 17, src: IP_B, dst: IP_A, payload: new Uint8Array(1400), headroom: 0 }, 20));
  assert.equal(f4.length, 2);
  assert.ok(f4.every((x) => x.frame.length - 14 <= 1280));
});

test('PMTU: reports about datagrams we did not send with DF are not believed', () => {
  const ip = readyCore();
  ip.onFrame(0, fragNeeded(1000, false), 0);
  ip.onFrame(0, fragNeeded(1000, true, IP_A + 7), 0);
  assert.equal(ip.pathMtu(IP_A, 0), 1500);
  assert.equal(ip.counters.pmtu.learned, 0);
});

test('PMTU: the entry expires after 10 minutes (timer, counted) and full-sized segments go again', () => {
  const ip = readyCore();
  ip.onFrame(0, fragNeeded(1280), 1000);
  assert.ok(ip.pollAt() <= 601_000);
  ip.onTimer(600_999);
  assert.equal(ip.pathMtu(IP_A, 600_999), 1280);
  ip.onTimer(601_000);
  assert.deepEqual(ip.counters.pmtu, { entries: 0, learned: 1, ignored: 0, expired: 1 });
  assert.equal(ip.pmtuSnapshot(601_000).length, 0);
  assert.equal(frames(ip.send({ protocol: 6, src: IP_B, dst: IP_A, ...tcpSegment(1460), dontFragment: true }, 601_000)).length, 1);
});

test('PMTU: the expiry is configurable', () => {
  const ip = readyCore({ pmtu: { expiresMs: 5_000 } });
  ip.onFrame(0, fragNeeded(1280), 0);
  assert.equal(ip.pathMtu(IP_A, 4_999), 1280);
  assert.equal(ip.pathMtu(IP_A, 5_000), 1500);
});

test('PMTU: a report below 552 locks the path at 552 and DF is cleared (fragments, as Linux)', () => {
  const ip = readyCore();
  const icmp = ofType(ip.onFrame(0, fragNeeded(300), 0), 'icmp-error');
  assert.equal(icmp[0]!.nextHopMtu, 552, 'the transport is told the floor');
  const f = frames(ip.send({ protocol: 6, src: IP_B, dst: IP_A, ...tcpSegment(1000), dontFragment: true }, 1));
  assert.equal(f.length, 2);
  for (const x of f) {
    const r = parseIpv4(x.frame, 14, x.frame.length, false);
    assert.ok(r.ok && !r.value.dontFragment && x.frame.length - 14 <= 552);
  }
});
