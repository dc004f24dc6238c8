import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { SeededRng } from '../../src/random/rng.js';
import { TcpEventType } from '../../src/tcp/config.js';
import { TcpEngine } from '../../src/tcp/engine.js';
import { TcpFlag, emitTcp, parseTcp, type TcpRepr } from '../../src/wire/tcp.js';
import { linuxTransfer, type CapturedSegment } from './fixtures/linux-capture.js';

// Interoperability with Linux, from segments captured between two Linux stacks
// (fixtures/linux-capture.ts): we take one side's place and replay the other
// side's segments, translated to our ISS and timestamps, and check that we
// answer as the Linux peer did.

const CLIENT = ip('10.77.0.1');
const SERVER = ip('10.77.0.2');

function ip(s: string): number {
  return s.split('.').reduce((a, o) => ((a << 8) | Number(o)) >>> 0, 0);
}

function parsed(s: CapturedSegment): TcpRepr {
  const r = parseTcp(Uint8Array.from(Buffer.from(s.hex, 'hex')), ip(s.src), ip(s.dst));
  assert.ok(r.ok);
  return r.value;
}

function optionKinds(bytes: Uint8Array): number[] {
  const hl = (bytes[12]! >>> 4) * 4;
  const kinds: number[] = [];
  for (let i = 20; i < hl;) {
    kinds.push(bytes[i]!);
    if (bytes[i]! <= 1) i++;
    else i += bytes[i + 1]!;
  }
  return kinds;
}

interface Out { bytes: Uint8Array; repr: TcpRepr }

function engineAt(addr: number, out: Out[], events: string[], seed = 3): TcpEngine {
  return new TcpEngine({
    rng: new SeededRng(seed),
    allocator: { alloc: (n) => new Uint8Array(n) },
    transmit: (src, dst, bytes) => {
      assert.equal(src, addr);
      const r = parseTcp(bytes, src, dst);
      assert.ok(r.ok, 'our segment verifies');
      out.push({ bytes, repr: r.value });
    },
    onEvent: (type, _id, code) => events.push(`${type}${code ? ' ' + code : ''}`),
    // Linux's defaults that matter here: 200 ms minimum RTO, 40 ms delayed ACK.
  });
}

/** Re-emit a Linux segment with sequence/ack numbers and TSecr translated to our side. */
function translate(r: TcpRepr, ackDelta: number, tsEcr: number | undefined, src: number, dst: number): Uint8Array {
  const t: TcpRepr = {
    ...r,
    ack: (r.flags & TcpFlag.ACK) !== 0 ? (r.ack + ackDelta) >>> 0 : r.ack,
    ...(r.timestamp && tsEcr !== undefined ? { timestamp: { val: r.timestamp.val, ecr: r.timestamp.ecr === 0 ? 0 : tsEcr } } : {}),
  };
  const buf = new Uint8Array(60 + (r.payload?.length ?? 0));
  const n = emitTcp(t, buf, src, dst);
  return buf.subarray(0, n);
}

const clientSegs = linuxTransfer.filter((s) => s.src === '10.77.0.1' && parsed(s).dstPort === 5001);
const serverSegs = linuxTransfer.filter((s) => s.src === '10.77.0.2' && parsed(s).srcPort === 5001);

test('fixtures: a Linux handshake, 6000-byte transfer, close, and a refused connect', () => {
  assert.ok(clientSegs.length >= 6);
  assert.ok(serverSegs.length >= 4);
  const last = parsed(linuxTransfer.at(-1)!);
  assert.equal(last.flags, TcpFlag.RST | TcpFlag.ACK);
});

test('our SYN has the same option layout as Linux\'s SYN', () => {
  const out: Out[] = [];
  const e = engineAt(CLIENT, out, []);
  e.connect({ localAddr: CLIENT, remoteAddr: SERVER, remotePort: 5001 }, 0);
  const linuxSyn = Uint8Array.from(Buffer.from(linuxTransfer[0]!.hex, 'hex'));
  assert.deepEqual(optionKinds(out[0]!.bytes), optionKinds(linuxSyn));
  assert.equal(out[0]!.bytes.length, linuxSyn.length);
});

test('passive open answering Linux\'s SYN like Linux: SYN-ACK options, then the whole transfer and close', () => {
  const out: Out[] = [];
  const events: string[] = [];
  const e = engineAt(SERVER, out, events);
  const l = e.listen({ addr: SERVER, port: 5001 });
  const syn = parsed(clientSegs[0]!);
  e.onSegment(CLIENT, SERVER, Uint8Array.from(Buffer.from(clientSegs[0]!.hex, 'hex')), 0);
  const synAck = out[0]!.repr;
  const linuxSynAck = parsed(serverSegs[0]!);
  assert.equal(synAck.flags, TcpFlag.SYN | TcpFlag.ACK);
  assert.equal(synAck.ack, (syn.seq + 1) >>> 0);
  assert.equal(synAck.mss, linuxSynAck.mss);
  assert.equal(synAck.sackPermitted, linuxSynAck.sackPermitted);
  assert.equal(synAck.timestamp?.ecr, syn.timestamp!.val, 'TSecr echoes the SYN');
  assert.ok(synAck.windowScale !== undefined, 'window scale answered');
  assert.deepEqual(optionKinds(out[0]!.bytes), optionKinds(Uint8Array.from(Buffer.from(serverSegs[0]!.hex, 'hex'))));
  // Replay the rest of the client's side, acking our ISS instead of Linux's.
  const ackDelta = (synAck.seq - linuxSynAck.seq) >>> 0;
  let conn = -1;
  const hash = createHash('sha256');
  const ours = createHash('sha256');
  const buf = new Uint8Array(65536);
  let t = 0;
  for (const s of clientSegs.slice(1)) {
    t = s.tUs / 1000;
    const r = parsed(s);
    if (r.payload && r.payload.length > 0) hash.update(r.payload);
    const lastTs = [...out].reverse().find((o) => o.repr.timestamp)?.repr.timestamp?.val;
    e.onSegment(CLIENT, SERVER, translate(r, ackDelta, lastTs, CLIENT, SERVER), t);
    if (conn < 0 && events.includes(`${TcpEventType.Incoming}`)) conn = e.accept(l);
    if (conn >= 0) {
      for (let n = e.receive(conn, buf, t); n > 0; n = e.receive(conn, buf, t)) ours.update(buf.subarray(0, n));
    }
  }
  assert.ok(conn >= 0, 'connection accepted');
  assert.equal(ours.digest('hex'), hash.digest('hex'), 'received exactly the bytes Linux sent');
  assert.ok(events.includes(`${TcpEventType.End}`), 'end of stream');
  // Linux acknowledged the client's FIN at once; so do we, with the same relative ack.
  const linuxFinAck = serverSegs.find((s) => (parsed(s).flags & TcpFlag.FIN) !== 0)!;
  const ourAcks = out.filter((o) => (o.repr.flags & TcpFlag.ACK) !== 0).map((o) => (o.repr.ack - syn.seq) >>> 0);
  assert.equal(Math.max(...ourAcks), (parsed(linuxFinAck).ack - syn.seq) >>> 0);
  assert.equal(e.info(conn).state, 'CLOSE-WAIT');
  // Close as the Linux server did: FIN, and the client's last ACK (translated) ends it.
  e.close(conn, t);
  const fin = out.at(-1)!.repr;
  assert.equal(fin.flags, TcpFlag.FIN | TcpFlag.ACK);
  const lastAck = parsed(clientSegs.at(-1)!);
  assert.equal(lastAck.flags, TcpFlag.ACK);
  e.onSegment(CLIENT, SERVER, translate(lastAck, ackDelta, fin.timestamp!.val, CLIENT, SERVER), t + 1);
  assert.equal(e.connectionCount(), 0, 'LAST-ACK → CLOSED');
});

test('active open completed by Linux\'s SYN-ACK: scaling 10, MSS 1448, SACK, timestamps', () => {
  const out: Out[] = [];
  const events: string[] = [];
  const e = engineAt(CLIENT, out, events);
  const linuxSynAck = parsed(serverSegs[0]!);
  const conn = e.connect({ localAddr: CLIENT, remoteAddr: SERVER, remotePort: 5001, localPort: linuxSynAck.dstPort }, 0);
  const ourSyn = out[0]!.repr;
  const linuxSyn = parsed(clientSegs[0]!);
  const ackDelta = (ourSyn.seq - linuxSyn.seq) >>> 0;
  e.onSegment(SERVER, CLIENT, translate(linuxSynAck, ackDelta, ourSyn.timestamp!.val, SERVER, CLIENT), 0.1);
  assert.deepEqual(events, [`${TcpEventType.Connected}`]);
  const info = e.info(conn);
  assert.equal(info.state, 'ESTABLISHED');
  assert.equal(info.sndWndScale, 10);
  assert.equal(info.sndMss, 1448);
  assert.equal(info.sack, true);
  assert.equal(info.timestamps, true);
  const ack = out[1]!.repr;
  assert.equal(ack.flags, TcpFlag.ACK);
  assert.equal(ack.ack, (linuxSynAck.seq + 1) >>> 0);
  assert.equal(ack.timestamp?.ecr, linuxSynAck.timestamp!.val);
  // Like Linux's third segment: NOP NOP TS, 32-byte header.
  assert.deepEqual(optionKinds(out[1]!.bytes), optionKinds(Uint8Array.from(Buffer.from(clientSegs[1]!.hex, 'hex'))));
});

test('Linux\'s RST,ACK to our SYN: ECONNREFUSED', () => {
  const out: Out[] = [];
  const events: string[] = [];
  const e = engineAt(CLIENT, out, events);
  const rst = parsed(linuxTransfer.at(-1)!);
  const linuxSyn = parsed(linuxTransfer.at(-2)!);
  e.connect({ localAddr: CLIENT, remoteAddr: SERVER, remotePort: 5002, localPort: rst.dstPort }, 0);
  const ackDelta = (out[0]!.repr.seq - linuxSyn.seq) >>> 0;
  e.onSegment(SERVER, CLIENT, translate(rst, ackDelta, undefined, SERVER, CLIENT), 0.1);
  assert.deepEqual(events, [`${TcpEventType.Error} ECONNREFUSED`]);
});

test('our RST for a closed port matches Linux\'s: RST,ACK, seq 0, ack SYN+1, window 0', () => {
  const out: Out[] = [];
  const e = engineAt(SERVER, out, []);
  const syn = linuxTransfer.at(-2)!;
  e.onSegment(CLIENT, SERVER, Uint8Array.from(Buffer.from(syn.hex, 'hex')), 0);
  const linuxRst = Uint8Array.from(Buffer.from(linuxTransfer.at(-1)!.hex, 'hex'));
  assert.equal(Buffer.from(out[0]!.bytes).toString('hex'), Buffer.from(linuxRst).toString('hex'));
});
