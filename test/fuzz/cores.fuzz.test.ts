// Fuzz: random and mutated real frames through the IP core (with ARP, ICMP,
// reassembly, forwarding), through the packet filter (async and sync), and
// deliveries through the UDP core. Nothing may throw, and every counter
// balance must hold after every single input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IpCore } from '../../src/ip/ip-core.js';
import { FRAME_DROP_REASONS, type IpOutput } from '../../src/ip/ip-types.js';
import { SyncFilteredIp } from '../ip/pf-sync.js';
import { PfCore } from '../../src/pf/pf-core.js';
import { parseRuleSet } from '../../src/pf/rule-parser.js';
import { UdpCore } from '../../src/udp/udp-core.js';
import { SeededRng } from '../../src/random/rng.js';
import { Reassembler } from '../../src/ip/reassembly.js';
import { parseIpv4 } from '../../src/wire/ipv4.js';
import { Mutator } from './mutator.js';
import { IP_B, IP_B2, MAC_B } from '../ip/harness.js';

function makeIp(filter: boolean): IpCore {
  return new IpCore({
    interfaces: [
      { name: 'eth0', mac: MAC_B, mtu: 1500, addresses: [{ address: IP_B, prefixLen: 24 }] },
      { name: 'eth1', mac: 0x02000000001b, mtu: 576, addresses: [{ address: IP_B2, prefixLen: 24 }] },
    ],
    routes: [{ prefix: 0, prefixLen: 0, gateway: 0x0a630001, iface: 'eth0' }],
    forwarding: true,
    filter,
    icmpErrorBurst: 1000,
    reassembly: { maxBytes: 256 * 1024, timeoutMs: 5000 },
  }, { rng: new SeededRng(11) });
}

function checkIp(ip: IpCore, label: string): void {
  const c = ip.counters;
  assert.equal(ip.inputBalance(), 0, `${label}: input balance`);
  let frameDrops = 0;
  for (const k of FRAME_DROP_REASONS) frameDrops += c.frameDrops[k];
  assert.equal(c.rxFrames, c.rxArp + c.rxPackets + frameDrops, `${label}: frame balance`);
}

function checkOutputs(outs: IpOutput[]): void {
  for (const o of outs) {
    if (o.type === 'frame') {
      assert.ok(o.frame.length >= 14 && o.frame.length <= 1518, `frame length ${o.frame.length}`);
    }
    if (o.type === 'deliver') assert.ok(parseIpv4(o.datagram, 0, o.datagram.length, false).ok);
  }
}

const RULES = parseRuleSet(`
default drop
allow out keep state
allow in proto icmp
allow in proto udp to any port 1-60000
reject in proto tcp flags S/SA
reject with admin-prohibited in from 10.99.0.0/16
allow in on eth1
`);

test('IP core (forwarding, no filter): 60k random/mutated frames, balances hold after each', () => {
  const ip = makeIp(false);
  const udp = new UdpCore({ rng: new SeededRng(2), isLocalAddress: (a) => a === IP_B || a === IP_B2 });
  udp.bind(1, 0, 9999);
  udp.bind(2, 0, 53);
  const m = new Mutator(0x1234);
  let now = 0;
  let delivered = 0;
  for (let i = 0; i < 60_000; i++) {
    now += m.int(50);
    const outs = ip.onFrame(m.int(3) === 0 ? 1 : 0, m.next(), now);
    checkOutputs(outs);
    for (const o of outs) {
      if (o.type === 'deliver' && o.protocol === 17) {
        delivered++;
        const r = udp.onDatagram(o);
        if (r.type === 'port-unreachable') checkOutputs(ip.sendIcmpError(r.datagram, 'dest-unreachable', 3, now));
      }
    }
    if (ip.pollAt() <= now) checkOutputs(ip.onTimer(now));
    checkIp(ip, `case ${i}`);
  }
  const u = udp.counters;
  assert.equal(u.received, delivered);
  assert.equal(u.received, u.delivered + Object.values(u.drops).reduce((a, b) => a + b, 0));
  assert.ok(ip.counters.delivered > 1000, 'fuzzing reaches local delivery');
  assert.ok(ip.counters.forwarded > 100, 'fuzzing reaches forwarding');
  assert.ok(ip.counters.fragmentsHeld > 100, 'fuzzing reaches reassembly');
});

test('IP core + PF (sync adapter, stateful rules): 40k frames and sends', () => {
  assert.ok(RULES.ok);
  const s = new SyncFilteredIp(makeIp(true), new PfCore(RULES.value, { maxStates: 500 }));
  const m = new Mutator(0x4321);
  let now = 0;
  for (let i = 0; i < 40_000; i++) {
    now += m.int(50);
    if (m.int(5) === 0) {
      const payload = m.random(3000);
      checkOutputs(s.send({ protocol: [1, 6, 17][m.int(3)]!, src: 0, dst: m.rng.nextU32(), payload, headroom: 0, dontFragment: m.int(2) === 0 }, now));
    } else {
      checkOutputs(s.onFrame(m.int(2), m.next(), now));
    }
    if (s.pollAt() <= now) checkOutputs(s.onTimer(now));
    checkIp(s.ip, `case ${i}`);
    const p = s.pf.counters;
    assert.equal(p.evaluated, p.allowed + p.dropped + p.rejected);
  }
  assert.ok(s.pf.counters.evaluated > 10_000);
  assert.equal(s.ip.pendingIn, 0, 'the sync adapter answers everything');
});

test('IP core with async verdicts answered late, out of order, or never: 30k frames, each frame\'s buffer accounted for once', () => {
  const ip = makeIp(true);
  const m = new Mutator(0x777);
  const waiting: number[] = [];
  // How often each frame's token was sent on or released (exactly once when all is done).
  const fates = new Map<number, number>();
  const take = (outs: IpOutput[]): IpOutput[] => {
    for (const o of outs) {
      const t = o.type === 'released' || ((o.type === 'frame' || o.type === 'deliver') && o.token !== undefined) ? o.token! : undefined;
      if (t !== undefined) fates.set(t, (fates.get(t) ?? 0) + 1);
    }
    return outs;
  };
  let now = 0;
  for (let i = 0; i < 30_000; i++) {
    now += m.int(20);
    for (const o of take(ip.onFrame(m.int(2), m.next(), now, false, 0, i))) if (o.type === 'verdict-request') waiting.push(o.id);
    // Answer a random waiting request (sometimes twice, sometimes a stale id).
    if (waiting.length > 0 && m.int(3) !== 0) {
      const k = m.int(waiting.length);
      const id = waiting[k]!;
      if (m.int(4) !== 0) waiting.splice(k, 1);
      const verdicts = [{ action: 'allow' as const }, { action: 'drop' as const }, { action: 'reject' as const, icmpCode: 13 }];
      for (const o of take(ip.onVerdict(id, verdicts[m.int(3)]!, now))) if (o.type === 'verdict-request') waiting.push(o.id);
    }
    if (ip.pollAt() <= now) take(ip.onTimer(now));
    checkIp(ip, `case ${i}`);
  }
  assert.ok(ip.counters.drops['verdict-timeout'] > 0 || ip.counters.verdictUnknown > 0);
  for (let t = now; t < now + 60_000; t += 500) take(ip.onTimer(t));
  assert.equal(ip.heldBuffers, 0);
  for (let i = 0; i < 30_000; i++) assert.equal(fates.get(i), 1, `frame ${i}: ${fates.get(i) ?? 0} fates`);
});

test('reassembler: 100k mutated fragments, memory bound never exceeded', () => {
  const r = new Reassembler({ maxBytes: 64 * 1024, maxDatagrams: 16, timeoutMs: 1000 });
  const m = new Mutator(0x99);
  let now = 0;
  let complete = 0;
  for (let i = 0; i < 100_000; i++) {
    now += m.int(5);
    const f = m.next();
    const p = parseIpv4(f, 14, f.length, false);
    if (!p.ok) continue;
    // Force fragment-ness on half of them, with small random offsets so pieces meet.
    const repr = m.int(2) === 0 ? { ...p.value, moreFragments: m.int(2) === 0, fragmentOffset: 8 * m.int(8), ident: m.int(4) } : p.value;
    const o = r.add(repr, f, 14, now);
    if (o.type === 'complete') {
      complete++;
      assert.ok(parseIpv4(o.datagram).ok, 'reassembled datagrams are well formed');
    }
    assert.ok(r.bytesHeld <= 64 * 1024 && r.bytesHeld >= 0);
    assert.ok(r.datagramsInProgress <= 16);
    if (r.pollAt() <= now) r.onTimer(now);
  }
  assert.ok(complete > 0);
});
