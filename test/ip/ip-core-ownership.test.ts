// Buffer ownership in the IP core: every buffer given with a token comes back exactly once,
// as a frame or delivery carrying the token or as a `released` output with a reason, and
// only when the core no longer refers to it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IpOutput } from '../../src/ip/ip-types.js';
import { SEND_HEADROOM } from '../../src/abi/transport.js';
import { MAC_BROADCAST } from '../../src/wire/ethernet.js';
import { IP_A, IP_B, IP_B2, IP_C, MAC_A, MAC_B, MAC_C, arpFrame, coreAsB, frames, icmpBytes, ipFrame, ofType } from './harness.js';

const MAC_B2 = 0x02000000001b;

/** What became of each token, in the order the outputs said it. */
class Ledger {
  readonly fates = new Map<number, string[]>();
  /** Every output seen, in order (to check what comes before a release). */
  readonly all: IpOutput[] = [];

  take(outs: IpOutput[]): IpOutput[] {
    for (const o of outs) {
      this.all.push(o);
      if ((o.type === 'frame' || o.type === 'deliver') && o.token !== undefined) this.note(o.token, o.type);
      if (o.type === 'released') this.note(o.token, `released:${o.reason}`);
    }
    return outs;
  }

  fate(token: number): string[] {
    return this.fates.get(token) ?? [];
  }

  private note(token: number, what: string): void {
    const f = this.fates.get(token) ?? [];
    f.push(what);
    this.fates.set(token, f);
  }
}

const tcpHeader = (): Uint8Array => { const t = new Uint8Array(20); t[12] = 0x50; t[13] = 0x10; return t; };

/** A transport's segment in a buffer with room for the headers, as TCP and UDP send them. */
function segment(bytes: number): { payload: Uint8Array; headroom: number } {
  const buf = new Uint8Array(SEND_HEADROOM + bytes);
  return { payload: buf.subarray(SEND_HEADROOM), headroom: SEND_HEADROOM };
}

const echoRequest = (): Uint8Array => icmpBytes({ kind: 'echo-request', ident: 1, seq: 1, data: new Uint8Array(8) });

/** B with A's MAC learnt. */
function knowingA(extra: Parameters<typeof coreAsB>[0] = {}): ReturnType<typeof coreAsB> {
  const ip = coreAsB(extra);
  ip.onFrame(0, arpFrame(2, MAC_A, IP_A, MAC_B, IP_B, MAC_B), 0);
  return ip;
}

/** A router between A (eth0) and C (eth1, MTU 1000), knowing A's MAC only. */
function router(filter: boolean): ReturnType<typeof coreAsB> {
  const ip = coreAsB({ forwarding: true, filter, arp: { retransmitMs: 1000, maxProbes: 8 } }, true);
  ip.onFrame(0, arpFrame(1, MAC_A, IP_A, 0, IP_B, MAC_BROADCAST), 0);
  return ip;
}

test('received frames the core does not keep are accounted for by the same call', () => {
  const ip = coreAsB();
  const l = new Ledger();
  l.take(ip.onFrame(0, ipFrame(MAC_B, MAC_A, { src: IP_A, dst: IP_B, protocol: 6 }, tcpHeader()), 0, false, 0, 1));
  assert.deepEqual(l.fate(1), ['deliver'], 'a TCP segment goes up in place');
  l.take(ip.onFrame(0, ipFrame(0x020000000099, MAC_A, { src: IP_A, dst: IP_B, protocol: 6 }, tcpHeader()), 0, false, 0, 2));
  assert.deepEqual(l.fate(2), ['released:dropped'], 'not for our MAC');
  const bad = ipFrame(MAC_B, MAC_A, { src: IP_A, dst: IP_B, protocol: 6 }, tcpHeader());
  bad[24] = bad[24]! ^ 0xff; // IPv4 header checksum
  l.take(ip.onFrame(0, bad, 0, false, 0, 3));
  assert.deepEqual(l.fate(3), ['released:dropped'], 'bad header checksum');
  l.take(ip.onFrame(0, ipFrame(MAC_B, MAC_A, { src: IP_A, dst: IP_B, protocol: 1 }, echoRequest()), 0, false, 0, 4));
  assert.deepEqual(l.fate(4), ['released:consumed'], 'an echo request is answered with a copy');
  l.take(ip.onFrame(0, arpFrame(1, MAC_A, IP_A, 0, IP_B, MAC_BROADCAST), 0, false, 0, 5));
  assert.deepEqual(l.fate(5), ['released:consumed'], 'ARP');
  l.take(ip.onFrame(0, ipFrame(MAC_B, MAC_A, { src: IP_A, dst: IP_B, protocol: 17, moreFragments: true }, new Uint8Array(16)), 0, false, 0, 6));
  assert.deepEqual(l.fate(6), ['released:reassembly'], 'a fragment is copied for reassembly');
  l.take(ip.onFrame(0, ipFrame(MAC_B, MAC_A, { src: IP_A, dst: IP_B, protocol: 1 }, icmpBytes({ kind: 'echo-reply', ident: 1, seq: 1, data: new Uint8Array(4) })), 0, false, 0, 7));
  assert.deepEqual(l.fate(7), ['deliver'], 'an echo reply goes to the server in place');
  // The echo request's reply (to A, whose MAC we now know) is the core's copy: no token.
  assert.ok(frames(l.all).some((f) => f.token === undefined));
  assert.equal(ip.heldBuffers, 0);
  assert.equal(ip.counters.released.consumed, 2);
});

test('with the filter, an inbound packet is kept until its verdict: allow delivers it, drop, reject and timeout release it', () => {
  const ip = knowingA({ filter: true, verdictTimeoutMs: 2000 });
  const l = new Ledger();
  const ask = (token: number, protocol: number, payload: Uint8Array, now: number): number => {
    const outs = l.take(ip.onFrame(0, ipFrame(MAC_B, MAC_A, { src: IP_A, dst: IP_B, protocol }, payload), now, false, 0, token));
    assert.deepEqual(l.fate(token), [], `token ${token} kept while its verdict is asked`);
    return ofType(outs, 'verdict-request')[0]!.id;
  };
  const allow = ask(1, 6, tcpHeader(), 0);
  const drop = ask(2, 17, new Uint8Array(8), 0);
  const reject = ask(3, 6, tcpHeader(), 0);
  ask(4, 17, new Uint8Array(8), 10);
  assert.equal(ip.heldBuffers, 4);
  l.take(ip.onVerdict(allow, { action: 'allow' }, 1));
  l.take(ip.onVerdict(drop, { action: 'drop' }, 1));
  const rejected = l.take(ip.onVerdict(reject, { action: 'reject', icmpCode: 13 }, 1));
  assert.deepEqual(l.fate(1), ['deliver']);
  assert.deepEqual(l.fate(2), ['released:verdict-drop']);
  assert.deepEqual(l.fate(3), ['released:verdict-reject']);
  // The RST quoting the rejected segment comes first (asked for its own out verdict).
  assert.deepEqual(rejected.map((o) => o.type), ['verdict-request', 'released']);
  assert.deepEqual(l.fate(4), []);
  l.take(ip.onTimer(2009));
  assert.deepEqual(l.fate(4), [], 'not before its deadline');
  l.take(ip.onTimer(2010));
  assert.deepEqual(l.fate(4), ['released:verdict-timeout']);
  // The RST's own verdict times out too; it is the core's packet: no token.
  l.take(ip.onTimer(5000));
  assert.equal(ip.heldBuffers, 0);
  assert.equal(ip.counters.released['verdict-timeout'], 1);
});

test('a local datagram waiting for ARP leaves with its token when the neighbour answers', () => {
  const ip = coreAsB();
  const l = new Ledger();
  l.take(ip.send({ protocol: 6, src: 0, dst: IP_A, ...segment(20), token: 1 }, 0));
  assert.deepEqual(l.fate(1), [], 'kept in the ARP queue');
  assert.equal(ip.heldBuffers, 1);
  const outs = l.take(ip.onFrame(0, arpFrame(2, MAC_A, IP_A, MAC_B, IP_B, MAC_B), 500, false, 0, 2));
  assert.deepEqual(l.fate(1), ['frame']);
  assert.deepEqual(l.fate(2), ['released:consumed']);
  assert.equal(frames(outs)[0]!.token, 1);
  // Now known: the next one leaves at once.
  l.take(ip.send({ protocol: 6, src: 0, dst: IP_A, ...segment(20), token: 3 }, 600));
  assert.deepEqual(l.fate(3), ['frame']);
  assert.equal(ip.heldBuffers, 0);
});

test('a local datagram ARP gives up on is released after its send-error (timeout, queue overflow, global bound, full table)', () => {
  const ip = coreAsB({ arp: { retransmitMs: 1000, maxProbes: 3, maxQueuePerAddress: 2, maxQueuedTotal: 3, maxEntries: 3 } });
  const l = new Ledger();
  const send = (token: number, dst: number, now: number): IpOutput[] => l.take(ip.send({ protocol: 6, src: 0, dst, ...segment(20), token }, now));
  send(1, 0x0a630010, 0);
  send(2, 0x0a630010, 0);
  send(3, 0x0a630010, 0);
  assert.deepEqual(l.fate(1), ['released:arp-queue-full'], 'the oldest of one address goes');
  send(4, 0x0a630011, 0);
  send(5, 0x0a630012, 0);
  assert.deepEqual(l.fate(2), ['released:arp-queue-full'], 'the oldest of all goes past the global bound');
  send(6, 0x0a630013, 0);
  assert.deepEqual(l.fate(6), ['released:arp-cache-full'], 'no entry left for a fourth address');
  assert.deepEqual([3, 4, 5].map((t) => l.fate(t)), [[], [], []]);
  assert.equal(ip.heldBuffers, 3);
  for (let t = 1000; t <= 3000; t += 1000) l.take(ip.onTimer(t));
  assert.deepEqual([3, 4, 5].map((t) => l.fate(t)), [['released:arp-unresolved'], ['released:arp-unresolved'], ['released:arp-unresolved']]);
  // Each release comes after the send-error that reports it (the server reads the buffer for it).
  for (const token of [1, 2, 3, 4, 5, 6]) {
    const err = l.all.findIndex((o) => o.type === 'send-error' && o.token === token);
    const rel = l.all.findIndex((o) => o.type === 'released' && o.token === token);
    assert.ok(err !== -1 && err < rel, `token ${token}: send-error ${err} before released ${rel}`);
  }
  assert.equal(ip.heldBuffers, 0);
  assert.deepEqual(
    [ip.counters.released['arp-queue-full'], ip.counters.released['arp-cache-full'], ip.counters.released['arp-unresolved']], [2, 1, 3],
  );
});

test('local sends the core does not keep: no route, loopback, no headroom; with the filter, kept until the out verdict', () => {
  const ip = knowingA({ filter: true });
  const l = new Ledger();
  l.take(ip.send({ protocol: 17, src: 0, dst: 0x08080808, ...segment(8), token: 1 }, 0));
  assert.deepEqual(l.fate(1), ['released:dropped'], 'no route');
  l.take(ip.send({ protocol: 17, src: 0, dst: IP_B, ...segment(8), token: 2 }, 0));
  assert.deepEqual(l.fate(2), ['released:loopback'], 'to ourselves: delivered as a copy');
  const copied = l.take(ip.send({ protocol: 17, src: 0, dst: IP_A, payload: new Uint8Array(8), headroom: 0, token: 3 }, 0));
  assert.deepEqual(l.fate(3), ['released:copied'], 'no room for the headers: sent from a copy');
  const allowed = ofType(l.take(ip.send({ protocol: 17, src: 0, dst: IP_A, ...segment(8), token: 4 }, 0)), 'verdict-request')[0]!.id;
  const dropped = ofType(l.take(ip.send({ protocol: 17, src: 0, dst: IP_A, ...segment(8), token: 5 }, 0)), 'verdict-request')[0]!.id;
  assert.deepEqual([l.fate(4), l.fate(5)], [[], []]);
  l.take(ip.onVerdict(allowed, { action: 'allow' }, 1));
  l.take(ip.onVerdict(dropped, { action: 'drop' }, 1));
  assert.deepEqual(l.fate(4), ['frame']);
  assert.deepEqual(l.fate(5), ['released:verdict-drop']);
  l.take(ip.onVerdict(ofType(copied, 'verdict-request')[0]!.id, { action: 'allow' }, 1));
  assert.deepEqual(l.fate(3), ['released:copied'], 'the copy leaves without the token');
  assert.equal(ip.heldBuffers, 0);
});

test('a kept datagram larger than the MTU is released once its fragments are made, after them', () => {
  const ip = knowingA({ filter: true });
  const l = new Ledger();
  const id = ofType(l.take(ip.send({ protocol: 17, src: 0, dst: IP_A, ...segment(3000), token: 1 }, 0)), 'verdict-request')[0]!.id;
  assert.deepEqual(l.fate(1), []);
  const outs = l.take(ip.onVerdict(id, { action: 'allow' }, 1));
  assert.deepEqual(l.fate(1), ['released:fragmented']);
  assert.deepEqual(outs.map((o) => o.type), ['frame', 'frame', 'frame', 'released']);
  assert.ok(frames(outs).every((f) => f.token === undefined), 'fragments are copies');
  assert.equal(ip.heldBuffers, 0);
});

test('forwarding without the filter: the frame waits for ARP and leaves in place with its token; TTL exceeded releases it', () => {
  const ip = router(false);
  const l = new Ledger();
  l.take(ip.onFrame(0, ipFrame(MAC_B, MAC_A, { src: IP_A, dst: IP_C, protocol: 17 }, new Uint8Array(8)), 0, false, 0, 1));
  assert.deepEqual(l.fate(1), [], 'kept while C is resolved');
  const outs = l.take(ip.onFrame(1, arpFrame(2, MAC_C, IP_C, MAC_B2, IP_B2, MAC_B2), 100, false, 0, 2));
  assert.deepEqual(l.fate(1), ['frame']);
  assert.equal(frames(outs).find((f) => f.token === 1)?.ifIndex, 1);
  l.take(ip.onFrame(0, ipFrame(MAC_B, MAC_A, { src: IP_A, dst: IP_C, protocol: 17, ttl: 1 }, new Uint8Array(8)), 200, false, 0, 3));
  assert.deepEqual(l.fate(3), ['released:dropped'], 'TTL exceeded: answered with a copy');
  l.take(ip.onFrame(0, ipFrame(MAC_B, MAC_A, { src: IP_A, dst: IP_C, protocol: 17 }, new Uint8Array(1400)), 300, false, 0, 4));
  assert.deepEqual(l.fate(4), ['released:fragmented'], 'cut for the 1000-byte link');
  assert.equal(ip.heldBuffers, 0);
});

test('forwarding with the filter: a frame kept through two verdicts and ARP for more than 5 s is released by no one and leaves once', () => {
  const ip = router(true);
  const l = new Ledger();
  const inId = ofType(l.take(ip.onFrame(0, ipFrame(MAC_B, MAC_A, { src: IP_A, dst: IP_C, protocol: 17 }, new Uint8Array(8)), 0, false, 0, 1)), 'verdict-request')[0]!.id;
  const outId = ofType(l.take(ip.onVerdict(inId, { action: 'allow' }, 1990)), 'verdict-request')[0]!.id;
  assert.deepEqual(l.fate(1), [], 'kept for the out verdict');
  l.take(ip.onVerdict(outId, { action: 'allow' }, 3980));
  for (let t = 4000; t <= 6500; t += 250) l.take(ip.onTimer(t));
  assert.deepEqual(l.fate(1), [], 'kept in the ARP queue past 5 s');
  assert.equal(ip.heldBuffers, 1);
  const outs = l.take(ip.onFrame(1, arpFrame(2, MAC_C, IP_C, MAC_B2, IP_B2, MAC_B2), 6600, false, 0, 2));
  assert.deepEqual(l.fate(1), ['frame']);
  assert.equal(frames(outs).find((f) => f.token === 1)?.ifIndex, 1);
  assert.equal(ip.heldBuffers, 0);
});

test('exactly once: every token of a mixed run is sent or released once, and none stays held', () => {
  const ip = router(true);
  const l = new Ledger();
  let token = 1;
  const verdicts: number[] = [];
  const note = (outs: IpOutput[]): void => { for (const r of ofType(l.take(outs), 'verdict-request')) verdicts.push(r.id); };
  for (let t = 0; t < 40; t++) {
    const now = t * 100;
    const dst = [IP_C, IP_B, 0x0a630177, IP_A][t % 4]!;
    note(ip.onFrame(0, ipFrame(MAC_B, MAC_A, { src: IP_A, dst, protocol: [6, 17, 1][t % 3]!, ttl: t % 5 === 0 ? 1 : 64 }, t % 3 === 2 ? echoRequest() : tcpHeader()), now, false, 0, token++));
    note(ip.send({ protocol: 17, src: 0, dst: [IP_A, IP_C, 0x0a630155][t % 3]!, ...segment(t % 7 === 0 ? 1600 : 20), token: token++ }, now));
    // Answer some verdicts, in a mixed order, and leave others to time out.
    while (verdicts.length > 3) {
      const id = verdicts.splice(t % verdicts.length, 1)[0]!;
      note(ip.onVerdict(id, [{ action: 'allow' as const }, { action: 'drop' as const }, { action: 'reject' as const, icmpCode: 13 }][id % 3]!, now));
    }
    if (t === 20) note(ip.onFrame(1, arpFrame(2, MAC_C, IP_C, MAC_B2, IP_B2, MAC_B2), now));
    note(ip.onTimer(now));
  }
  for (let now = 4000; now < 20_000; now += 500) note(ip.onTimer(now));
  for (let k = 1; k < token; k++) assert.equal(l.fate(k).length, 1, `token ${k}: ${JSON.stringify(l.fate(k))}`);
  const seen = new Set([...l.fates.values()].map((f) => f[0]));
  for (const f of ['deliver', 'frame', 'released:dropped', 'released:fragmented', 'released:verdict-drop', 'released:verdict-reject',
    'released:verdict-timeout', 'released:arp-unresolved']) assert.ok(seen.has(f), `the run covers ${f}`);
  assert.equal(ip.heldBuffers, 0);
  assert.equal(ip.pendingVerdicts, 0);
});
