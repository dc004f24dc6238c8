// Fuzz: random and mutated real frames through every parser. No parser may
// throw, read outside its bytes, or let bytes past `end` change its answer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseEthernet } from '../../src/wire/ethernet.js';
import { parseArp } from '../../src/wire/arp.js';
import { parseIpv4, ipv4HeaderLen } from '../../src/wire/ipv4.js';
import { parseIcmp } from '../../src/wire/icmp.js';
import { parseUdp } from '../../src/wire/udp.js';
import { TcpSegment, parseTcpInto } from '../../src/wire/tcp.js';
import { readPcap, PcapWriter } from '../../src/wire/pcap.js';
import { summarizePacket } from '../../src/pf/packet-summary.js';
import { Mutator, strictBytes } from './mutator.js';

type Outcome = unknown;

/** Every parser on every layer of one frame; returns a comparable summary of all results. */
function parseAll(f: Uint8Array, end: number, lean = false): Outcome[] {
  const res: Outcome[] = [];
  const eth = parseEthernet(f, 0, end);
  res.push(eth);
  const hl = eth.ok ? (eth.value.vlan ? 18 : 14) : 14;
  res.push(parseArp(f, hl, end));
  for (const ck of [true, false]) {
    const ip = parseIpv4(f, hl, end, ck);
    res.push(ip.ok && !lean ? { ok: true, ...ip.value, options: Array.from(ip.value.options) } : ip);
    if (!ip.ok) continue;
    const s = hl + ipv4HeaderLen(ip.value);
    const e = s + ip.value.payloadLen;
    const icmp = parseIcmp(f, s, e, ck);
    res.push(icmp.ok && !lean ? { ...icmp.value, data: Array.from(icmp.value.data) } : icmp);
    res.push(parseUdp(f, s, e, ip.value.src, ip.value.dst, ck));
    const seg = new TcpSegment();
    const err = parseTcpInto(f.subarray(s, e), ip.value.src, ip.value.dst, seg, ck);
    res.push(err ?? (lean ? seg.flags : seg.toRepr()));
    const sum = summarizePacket(f.subarray(hl, end));
    res.push(sum);
  }
  return res;
}

test('parsers: 150k random/mutated frames never throw', () => {
  const m = new Mutator(0xcafe);
  let parsedIp = 0;
  for (let i = 0; i < 150_000; i++) {
    const f = m.next();
    const r = parseAll(f, f.length, true);
    if ((r[2] as { ok: boolean }).ok) parsedIp++;
  }
  // The mutator must reach deep layers, not just fail at the Ethernet header.
  assert.ok(parsedIp > 30_000, `only ${parsedIp} frames had a valid IPv4 header`);
});

test('parsers: 15k random/mutated frames, identical results with garbage after end', () => {
  const m = new Mutator(0xf00d);
  for (let i = 0; i < 15_000; i++) {
    const f = m.next();
    const exact = parseAll(f, f.length);
    // The same bytes followed by garbage, end = f.length: any read past end would show.
    const padded = new Uint8Array(f.length + 64);
    padded.set(f);
    for (let k = f.length; k < padded.length; k++) padded[k] = m.rng.nextU32();
    const again = parseAll(padded, f.length);
    assert.deepEqual(stripViews(again), stripViews(exact), `case ${i}`);
  }
});

test('parsers: 20k frames through strict views that throw on out-of-range reads', () => {
  const m = new Mutator(0xbeef);
  for (let i = 0; i < 20_000; i++) {
    const f = m.next();
    parseAll(strictBytes(f), f.length);
  }
});

test('pcap reader: 20k random and mutated files never throw and stay in bounds', () => {
  const m = new Mutator(7);
  const w = new PcapWriter();
  for (let i = 0; i < 5; i++) w.write(m.mutated(), i * 1000);
  const good = w.bytes();
  for (let i = 0; i < 20_000; i++) {
    const b = i % 4 === 0 ? m.random(200) : good.slice(0, m.int(good.length + 1));
    if (i % 4 !== 0 && b.length > 0) b[m.int(b.length)] = m.rng.nextU32();
    const r = readPcap(b);
    if (r.ok) for (const rec of r.value.records) assert.ok(rec.data.byteOffset + rec.data.length <= b.byteOffset + b.length);
  }
});

function stripViews(x: unknown): unknown {
  return JSON.parse(JSON.stringify(x, (_k, v) => (v instanceof Uint8Array ? Array.from(v) : v)));
}
