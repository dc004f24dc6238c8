// The IP core with a packet filter: asynchronous verdicts and the synchronous adapter.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PfCore } from '../../src/pf/pf-core.js';
import { parseRuleSet } from '../../src/pf/rule-parser.js';
import { SyncFilteredIp } from './pf-sync.js';
import { parseIpv4 } from '../../src/wire/ipv4.js';
import { parseIcmp } from '../../src/wire/icmp.js';
import { MAC_BROADCAST } from '../../src/wire/ethernet.js';
import { capturedFrame } from '../fixtures/frames.js';
import { IP_A, IP_B, MAC_A, arpFrame, coreAsB, frames, ofType } from './harness.js';

function pf(text: string): PfCore {
  const r = parseRuleSet(text);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return new PfCore(r.value);
}

test('async verdict: packet parked until onVerdict; allow delivers, pendingIn counted meanwhile', () => {
  const ip = coreAsB({ filter: true });
  const outs = ip.onFrame(0, capturedFrame('40000 \u2192 9999'), 0);
  const req = ofType(outs, 'verdict-request');
  assert.equal(req.length, 1);
  assert.equal(req[0]!.direction, 'in');
  assert.equal(req[0]!.ifName, 'eth0');
  assert.equal(parseIpv4(req[0]!.packet).ok, true);
  assert.equal(ofType(outs, 'deliver').length, 0);
  assert.equal(ip.pendingIn, 1);
  assert.equal(ip.inputBalance(), 0);
  const after = ip.onVerdict(req[0]!.id, { action: 'allow' }, 1);
  assert.equal(ofType(after, 'deliver').length, 1);
  assert.equal(ip.pendingIn, 0);
  assert.equal(ip.inputBalance(), 0);
  // A second answer for the same id is ignored.
  assert.deepEqual(ip.onVerdict(req[0]!.id, { action: 'allow' }, 2), []);
  assert.equal(ip.counters.verdictUnknown, 1);
});

test('async verdict: outgoing packets wait for an out verdict; drop gives EPERM to the transport', () => {
  const ip = coreAsB({ filter: true });
  ip.onFrame(0, arpFrame(1, MAC_A, IP_A, 0, IP_B, MAC_BROADCAST), 0);
  const outs = ip.send({ protocol: 17, src: IP_B, dst: IP_A, payload: new Uint8Array(8), headroom: 0, token: 42 }, 0);
  const req = ofType(outs, 'verdict-request');
  assert.equal(req[0]!.direction, 'out');
  assert.equal(frames(outs).length, 0);
  assert.deepEqual(ip.onVerdict(req[0]!.id, { action: 'drop' }, 1), [{ type: 'send-error', code: 'EPERM', dst: 0, token: 42, nextHopMtu: 0 }]);
});

test('PF restart: pending requests can be asked again; unanswered ones time out with a named drop', () => {
  const ip = coreAsB({ filter: true, verdictTimeoutMs: 500 });
  ip.onFrame(0, capturedFrame('40000 \u2192 9999'), 0);
  ip.onFrame(0, capturedFrame('Echo (ping) request', 0), 100);
  const again = ip.pendingVerdictRequests();
  assert.equal(again.length, 2);
  assert.equal(ip.pollAt(), 500);
  ip.onTimer(500);
  assert.equal(ip.counters.drops['verdict-timeout'], 1);
  assert.equal(ip.pendingVerdictRequests().length, 1);
  // The re-asked request is still answerable.
  assert.equal(ofType(ip.onVerdict(again[1]!.id, { action: 'allow' }, 550), 'verdict-request').length, 1, 'the echo reply asks for its out verdict');
  assert.equal(ip.inputBalance(), 0);
});

test('verdict queue bound', () => {
  const ip = coreAsB({ filter: true, maxPendingVerdicts: 2 });
  for (let i = 0; i < 3; i++) ip.onFrame(0, capturedFrame('40000 \u2192 9999'), 0);
  assert.equal(ip.counters.drops['verdict-queue-full'], 1);
  assert.equal(ip.inputBalance(), 0);
});

test('sync adapter: rules applied both ways; reject sends port unreachable / TCP RST', () => {
  const s = new SyncFilteredIp(coreAsB({ filter: true }), pf(`
default drop
allow proto icmp
reject in proto udp to any port 9999
reject in proto tcp
allow out
`));
  s.onFrame(0, capturedFrame('Who has 10.99.0.2'), 0);
  const echo = frames(s.onFrame(0, capturedFrame('Echo (ping) request', 0), 1));
  assert.equal(echo.length, 1, 'ping allowed in and out');
  const rej = frames(s.onFrame(0, capturedFrame('40000 \u2192 9999'), 2));
  assert.equal(rej.length, 1);
  const icmp = parseIcmp(rej[0]!.frame, 34);
  assert.ok(icmp.ok && icmp.value.kind === 'dest-unreachable' && icmp.value.code === 3);
  const rst = frames(s.onFrame(0, capturedFrame('40001 \u2192 8080 [SYN]'), 3));
  assert.equal(rst.length, 1);
  const t = rst[0]!.frame.subarray(34);
  assert.equal(t[13], 0x14, 'RST+ACK answering a SYN (RFC 9293 §3.10.7.1)');
  assert.equal((t[0]! << 8) | t[1]!, 8080);
  assert.equal((t[2]! << 8) | t[3]!, 40001);
  assert.equal(s.ip.counters.drops.filtered, 2);
  assert.equal(s.ip.inputBalance(), 0);
});

test('sync adapter with keep state: our outgoing UDP opens the way for the reply only', () => {
  const s = new SyncFilteredIp(coreAsB({ filter: true }), pf('default drop\nallow out keep state\n'));
  s.onFrame(0, arpFrame(1, MAC_A, IP_A, 0, IP_B, MAC_BROADCAST), 0);
  // The captured datagram from A (40000 → 9999) is unsolicited: dropped.
  assert.equal(ofType(s.onFrame(0, capturedFrame('40000 \u2192 9999'), 1), 'deliver').length, 0);
  // We send 9999 → 40000 first; now A's datagram is the reply of our flow.
  const seg = new Uint8Array(8); seg[0] = 0x27; seg[1] = 0x0f; seg[2] = 0x9c; seg[3] = 0x40; seg[5] = 8;
  assert.equal(frames(s.send({ protocol: 17, src: IP_B, dst: IP_A, payload: seg, headroom: 0 }, 2)).length, 1);
  assert.equal(ofType(s.onFrame(0, capturedFrame('40000 \u2192 9999'), 3), 'deliver').length, 1);
});
