import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PfCore, pfMemoryBytes, rehearseFilter } from '../../src/pf/pf-core.js';
import { parseRuleSet } from '../../src/pf/rule-parser.js';
import type { RuleSet } from '../../src/pf/rules.js';
import type { Direction, Verdict } from '../../src/abi/verdict.js';
import { emitIpv4, type Ipv4Repr } from '../../src/wire/ipv4.js';
import { capturedFrame } from '../fixtures/frames.js';

function rules(text: string): RuleSet {
  const r = parseRuleSet(text);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.value;
}

const A = 0x0a630001; const B = 0x0a630002;

/** An IPv4 packet with a transport header: ports/flags for TCP/UDP, type/code/ident for ICMP. */
function pkt(p: { proto: number; src?: number; dst?: number; sport?: number; dport?: number; flags?: number; type?: number; code?: number; ident?: number; fragOff?: number; inner?: Uint8Array }): Uint8Array {
  let l4: Uint8Array;
  if (p.proto === 6) { l4 = new Uint8Array(20); l4[12] = 0x50; l4[13] = p.flags ?? 0x02; }
  else if (p.proto === 17) l4 = new Uint8Array(8);
  else if (p.proto === 1) { l4 = new Uint8Array(8 + (p.inner?.length ?? 0)); l4[0] = p.type ?? 8; l4[1] = p.code ?? 0; l4[4] = (p.ident ?? 0) >>> 8; l4[5] = p.ident ?? 0; if (p.inner) l4.set(p.inner, 8); }
  else l4 = new Uint8Array(8);
  if (p.proto === 6 || p.proto === 17) { l4[0] = (p.sport ?? 1000) >>> 8; l4[1] = p.sport ?? 1000; l4[2] = (p.dport ?? 80) >>> 8; l4[3] = p.dport ?? 80; }
  const repr: Ipv4Repr = {
    tos: 0, ident: 1, dontFragment: false, moreFragments: false, fragmentOffset: p.fragOff ?? 0, ttl: 64, protocol: p.proto,
    src: p.src ?? A, dst: p.dst ?? B, options: new Uint8Array(0), payloadLen: l4.length,
  };
  const b = new Uint8Array(20 + l4.length);
  emitIpv4(repr, b);
  b.set(l4, 20);
  return b;
}

const R = `
default drop
allow in on eth0 proto tcp to 10.99.0.2 port 22 flags S/SA
drop in proto tcp from 10.99.0.0/24 port 1000-1999
reject in proto udp to any port 53
reject with admin-prohibited in proto udp
allow in proto icmp icmp-type echo-request
allow in from !10.0.0.0/8
allow out
`;

const table: { name: string; dir: Direction; ifName: string; packet: Uint8Array; verdict: Verdict; rule: number | null }[] = [
  { name: 'SYN to ssh on eth0', dir: 'in', ifName: 'eth0', packet: pkt({ proto: 6, dport: 22, flags: 0x02 }), verdict: { action: 'allow' }, rule: 0 },
  { name: 'SYN to ssh on eth1 (iface mismatch) falls to the port rule', dir: 'in', ifName: 'eth1', packet: pkt({ proto: 6, sport: 1500, dport: 22 }), verdict: { action: 'drop' }, rule: 1 },
  { name: 'SYN+ACK to ssh does not match S/SA', dir: 'in', ifName: 'eth0', packet: pkt({ proto: 6, sport: 5000, dport: 22, flags: 0x12 }), verdict: { action: 'drop' }, rule: null },
  { name: 'UDP 53 rejected with port unreachable', dir: 'in', ifName: 'eth0', packet: pkt({ proto: 17, dport: 53 }), verdict: { action: 'reject', icmpCode: 3 }, rule: 2 },
  { name: 'other UDP rejected admin-prohibited', dir: 'in', ifName: 'eth0', packet: pkt({ proto: 17, dport: 54 }), verdict: { action: 'reject', icmpCode: 13 }, rule: 3 },
  { name: 'echo request allowed', dir: 'in', ifName: 'eth0', packet: pkt({ proto: 1, type: 8 }), verdict: { action: 'allow' }, rule: 4 },
  { name: 'echo reply (not matched) from 10/8: default drop', dir: 'in', ifName: 'eth0', packet: pkt({ proto: 1, type: 0 }), verdict: { action: 'drop' }, rule: null },
  { name: 'anything from outside 10/8 (negated prefix)', dir: 'in', ifName: 'eth0', packet: pkt({ proto: 47, src: 0xc0a80001 }), verdict: { action: 'allow' }, rule: 5 },
  { name: 'out allowed', dir: 'out', ifName: 'eth0', packet: pkt({ proto: 17 }), verdict: { action: 'allow' }, rule: 6 },
  { name: 'non-first fragment never matches port rules', dir: 'in', ifName: 'eth0', packet: pkt({ proto: 17, dport: 53, fragOff: 8 }), verdict: { action: 'reject', icmpCode: 13 }, rule: 3 },
];

for (const c of table) {
  test(`match: ${c.name}`, () => {
    const pf = new PfCore(rules(R));
    assert.deepEqual(pf.check({ direction: c.dir, ifName: c.ifName, packet: c.packet }, 0), c.verdict);
    const hits = pf.hits();
    assert.deepEqual(hits.map((h, i) => (h > 0 ? i : -1)).filter((i) => i >= 0), c.rule === null ? [] : [c.rule]);
    assert.equal(pf.counters.defaultHits, c.rule === null ? 1 : 0);
  });
}

test('garbage is dropped and counted as unparseable', () => {
  const pf = new PfCore(rules('default allow'));
  assert.deepEqual(pf.check({ direction: 'in', ifName: 'x', packet: new Uint8Array(5) }, 0), { action: 'drop' });
  assert.equal(pf.counters.unparseable, 1);
});

const STATEFUL = `
default drop
allow out keep state
`;

test('keep state: replies of connections we opened pass, unsolicited traffic does not', () => {
  const pf = new PfCore(rules(STATEFUL));
  const syn = pkt({ proto: 6, src: B, dst: A, sport: 40001, dport: 8080, flags: 0x02 });
  const synAck = pkt({ proto: 6, src: A, dst: B, sport: 8080, dport: 40001, flags: 0x12 });
  const stranger = pkt({ proto: 6, src: A, dst: B, sport: 8080, dport: 40002, flags: 0x12 });
  assert.equal(pf.check({ direction: 'in', ifName: 'e', packet: synAck }, 0).action, 'drop', 'before the SYN');
  assert.equal(pf.check({ direction: 'out', ifName: 'e', packet: syn }, 1).action, 'allow');
  assert.equal(pf.stateCount, 1);
  assert.equal(pf.check({ direction: 'in', ifName: 'e', packet: synAck }, 2).action, 'allow');
  assert.equal(pf.check({ direction: 'in', ifName: 'e', packet: stranger }, 2).action, 'drop');
  assert.equal(pf.counters.stateHits, 1);
});

test('keep state: UDP replies and ICMP echo replies; ICMP errors about our flows are related', () => {
  const pf = new PfCore(rules(STATEFUL));
  const q = pkt({ proto: 17, src: B, dst: A, sport: 5353, dport: 53 });
  pf.check({ direction: 'out', ifName: 'e', packet: q }, 0);
  assert.equal(pf.check({ direction: 'in', ifName: 'e', packet: pkt({ proto: 17, src: A, dst: B, sport: 53, dport: 5353 }) }, 1).action, 'allow');
  pf.check({ direction: 'out', ifName: 'e', packet: pkt({ proto: 1, src: B, dst: A, type: 8, ident: 77 }) }, 0);
  assert.equal(pf.check({ direction: 'in', ifName: 'e', packet: pkt({ proto: 1, src: A, dst: B, type: 0, ident: 77 }) }, 1).action, 'allow');
  assert.equal(pf.check({ direction: 'in', ifName: 'e', packet: pkt({ proto: 1, src: A, dst: B, type: 0, ident: 78 }) }, 1).action, 'drop');
  // Port unreachable quoting our UDP query (header + 8 bytes).
  const err = pkt({ proto: 1, src: A, dst: B, type: 3, code: 3, inner: q.subarray(0, 28) });
  assert.equal(pf.check({ direction: 'in', ifName: 'e', packet: err }, 2).action, 'allow');
  const unrelated = pkt({ proto: 1, src: A, dst: B, type: 3, code: 3, inner: pkt({ proto: 17, src: B, dst: A, sport: 1, dport: 2 }).subarray(0, 28) });
  assert.equal(pf.check({ direction: 'in', ifName: 'e', packet: unrelated }, 2).action, 'drop');
});

test('captured Linux TCP handshake passes a stateful host filter (client side)', () => {
  const pf = new PfCore(rules(STATEFUL));
  const ip = (info: string) => capturedFrame(info).subarray(14);
  assert.equal(pf.check({ direction: 'out', ifName: 'e', packet: ip('40001 \u2192 8080 [SYN]') }, 0).action, 'allow');
  assert.equal(pf.check({ direction: 'in', ifName: 'e', packet: ip('8080 \u2192 40001 [SYN, ACK]') }, 1).action, 'allow');
  assert.equal(pf.check({ direction: 'in', ifName: 'e', packet: ip('8080 \u2192 40001 [FIN, ACK]') }, 2).action, 'allow');
});

test('state timeouts: idle entries expire; FIN shortens TCP entries', () => {
  const pf = new PfCore(rules(STATEFUL), { udpIdleMs: 1000, tcpIdleMs: 100_000, tcpClosingMs: 500, sweepIntervalMs: 100 });
  pf.check({ direction: 'out', ifName: 'e', packet: pkt({ proto: 17, src: B, dst: A, sport: 1, dport: 2 }) }, 0);
  const reply = pkt({ proto: 17, src: A, dst: B, sport: 2, dport: 1 });
  assert.equal(pf.check({ direction: 'in', ifName: 'e', packet: reply }, 900).action, 'allow', 'refreshes');
  assert.equal(pf.check({ direction: 'in', ifName: 'e', packet: reply }, 1899).action, 'allow');
  assert.equal(pf.check({ direction: 'in', ifName: 'e', packet: reply }, 2900).action, 'drop', 'expired');
  pf.check({ direction: 'out', ifName: 'e', packet: pkt({ proto: 6, src: B, dst: A, sport: 3, dport: 4, flags: 0x02 }) }, 3000);
  pf.check({ direction: 'in', ifName: 'e', packet: pkt({ proto: 6, src: A, dst: B, sport: 4, dport: 3, flags: 0x11 }) }, 3001);
  assert.equal(pf.check({ direction: 'in', ifName: 'e', packet: pkt({ proto: 6, src: A, dst: B, sport: 4, dport: 3, flags: 0x10 }) }, 3600).action, 'drop');
  assert.ok(pf.pollAt() < Infinity);
  pf.onTimer(10_000);
  assert.equal(pf.stateCount, 0);
  assert.equal(pf.pollAt(), Infinity);
});

test('state table bound: a new flow takes an unanswered one\'s place; with only answered flows, the rule verdict still applies and no state is made', () => {
  const pf = new PfCore(rules(STATEFUL), { maxStates: 2 });
  const out = (sport: number, now: number): string => pf.check({ direction: 'out', ifName: 'e', packet: pkt({ proto: 17, src: B, dst: A, sport, dport: 9 }) }, now).action;
  const back = (dport: number, now: number): string => pf.check({ direction: 'in', ifName: 'e', packet: pkt({ proto: 17, src: A, dst: B, sport: 9, dport }) }, now).action;
  out(1, 0); out(2, 0);
  assert.equal(back(1, 1), 'allow', 'flow 1 answered');
  out(3, 2); // full: takes unanswered flow 2's place
  assert.equal(pf.counters.statesEvicted, 1);
  assert.equal(back(2, 3), 'drop', 'flow 2 was evicted');
  assert.equal(back(3, 3), 'allow', 'flow 3 has state (and is answered now)');
  assert.equal(back(1, 3), 'allow', 'the answered flow stays');
  out(4, 4); // full of answered flows: no state
  assert.equal(pf.stateCount, 2);
  assert.equal(pf.counters.stateTableFull, 1);
  assert.equal(back(4, 5), 'drop');
});

test('setRules keeps states and restarts hit counters', () => {
  const pf = new PfCore(rules(STATEFUL));
  pf.check({ direction: 'out', ifName: 'e', packet: pkt({ proto: 17, src: B, dst: A, sport: 1, dport: 2 }) }, 0);
  pf.setRules(rules('default drop'));
  assert.deepEqual(pf.hits(), []);
  assert.equal(pf.check({ direction: 'in', ifName: 'e', packet: pkt({ proto: 17, src: A, dst: B, sport: 2, dport: 1 }) }, 1).action, 'allow');
});

test('a successor PfCore over its predecessor\'s memory keeps the admitted flows, counters and rule hits', () => {
  const parsed = { value: rules('default drop\nallow in proto tcp to any port 7 flags S/SA keep state') };
  const memory = new SharedArrayBuffer(pfMemoryBytes(1024, parsed.value.rules.length));
  const first = new PfCore(parsed.value, { maxStates: 1024 }, memory);
  const syn = pkt({ proto: 6, src: B, dst: A, sport: 40000, dport: 7, flags: 0x02 });
  const reply = pkt({ proto: 6, src: A, dst: B, sport: 7, dport: 40000, flags: 0x12 });
  assert.equal(first.check({ direction: 'in', ifName: 'eth0', packet: syn }, 0).action, 'allow');
  assert.equal(first.check({ direction: 'out', ifName: 'eth0', packet: reply }, 1).action, 'allow');
  // The successor: built over the same memory (as a standby is, before it takes over).
  const next = new PfCore(parsed.value, { maxStates: 1024 }, memory);
  assert.equal(next.check({ direction: 'out', ifName: 'eth0', packet: reply }, 2).action, 'allow', 'the reply still passes: the flow survived');
  assert.equal(next.stateCount, 1);
  assert.deepEqual(next.hits(), [1]);
  assert.equal(next.counters.evaluated, 3);
  assert.equal(next.counters.stateHits, 2);
  // Without the memory, the same reply would be refused (the default drops it).
  const fresh = new PfCore(parsed.value, { maxStates: 1024 });
  assert.equal(fresh.check({ direction: 'out', ifName: 'eth0', packet: reply }, 2).action, 'drop');
});

test('rehearseFilter runs the hot path on made-up packets with any rule set, on a scratch core', () => {
  for (const text of [R, STATEFUL, 'default allow', 'default drop\nallow in proto tcp to any port 80 flags S/SA keep state']) {
    assert.equal(rehearseFilter(rules(text), 'eth0', 1000), 1000);
  }
});

/** A server's filter: SYNs to port 80 open state, everything else needs one (the replies too). */
const SERVER = 'default drop\nallow in proto tcp to any port 80 flags S/SA keep state';

test('a SYN flood from random sources cannot take the state table from real connections: half-open states are evicted when it is full, established ones never', () => {
  const pf = new PfCore(rules(SERVER), { maxStates: 64 });
  const v = (direction: Direction, p: Parameters<typeof pkt>[0], now: number): string => pf.check({ direction, ifName: 'e', packet: pkt(p) }, now).action;
  // A real client connects first and completes its handshake.
  assert.equal(v('in', { proto: 6, src: A, dst: B, sport: 5000, dport: 80, flags: 0x02 }, 0), 'allow');
  assert.equal(v('out', { proto: 6, src: B, dst: A, sport: 80, dport: 5000, flags: 0x12 }, 0), 'allow');
  assert.equal(v('in', { proto: 6, src: A, dst: B, sport: 5000, dport: 80, flags: 0x10 }, 0), 'allow');
  // The flood: 10x the table, random sources, each SYN answered (SYN-ACK out), never completed.
  let x = 7;
  for (let i = 0; i < 640; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    const src = 0x0b000000 | (x >>> 8);
    assert.equal(v('in', { proto: 6, src, dst: B, sport: x & 0xffff, dport: 80, flags: 0x02 }, 1 + i), 'allow');
    assert.equal(v('out', { proto: 6, src: B, dst: src, sport: 80, dport: x & 0xffff, flags: 0x12 }, 1 + i), 'allow', `flood SYN-ACK ${i}: its state was just made`);
  }
  assert.equal(pf.stateCount, 64);
  assert.ok(pf.counters.statesEvicted >= 640 - 63, `half-open states evicted (${pf.counters.statesEvicted})`);
  assert.equal(pf.counters.stateTableFull, 0);
  // The established connection still passes both ways.
  assert.equal(v('out', { proto: 6, src: B, dst: A, sport: 80, dport: 5000, flags: 0x18 }, 700), 'allow', 'established flow kept');
  // A new real client still gets its handshake through while the table is full of the flood.
  assert.equal(v('in', { proto: 6, src: A, dst: B, sport: 5001, dport: 80, flags: 0x02 }, 701), 'allow');
  assert.equal(v('out', { proto: 6, src: B, dst: A, sport: 80, dport: 5001, flags: 0x12 }, 701), 'allow', 'its SYN-ACK finds its state');
  assert.equal(v('in', { proto: 6, src: A, dst: B, sport: 5001, dport: 80, flags: 0x10 }, 702), 'allow');
});

test('half-open TCP states expire after tcpOpeningMs; established ones after tcpIdleMs', () => {
  const pf = new PfCore(rules(SERVER), { tcpOpeningMs: 1000, tcpIdleMs: 100_000 });
  const v = (direction: Direction, p: Parameters<typeof pkt>[0], now: number): string => pf.check({ direction, ifName: 'e', packet: pkt(p) }, now).action;
  v('in', { proto: 6, src: A, dst: B, sport: 6000, dport: 80, flags: 0x02 }, 0);
  v('out', { proto: 6, src: B, dst: A, sport: 80, dport: 6000, flags: 0x12 }, 0);
  assert.equal(v('out', { proto: 6, src: B, dst: A, sport: 80, dport: 6000, flags: 0x12 }, 1001), 'drop', 'half-open: gone after tcpOpeningMs');
  v('in', { proto: 6, src: A, dst: B, sport: 6001, dport: 80, flags: 0x02 }, 2000);
  v('out', { proto: 6, src: B, dst: A, sport: 80, dport: 6001, flags: 0x12 }, 2000);
  v('in', { proto: 6, src: A, dst: B, sport: 6001, dport: 80, flags: 0x10 }, 2000);
  assert.equal(v('out', { proto: 6, src: B, dst: A, sport: 80, dport: 6001, flags: 0x18 }, 50_000), 'allow', 'established: kept past tcpOpeningMs');
});
