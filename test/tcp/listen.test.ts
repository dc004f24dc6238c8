import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Harness, LOCAL, LOCAL_PORT, PEER_ISN, REMOTE, runScript } from './harness.js';
import { TcpFlag, emitTcp } from '../../src/wire/tcp.js';
import { ByteRing } from '../../src/abi/byte-ring.js';

// LISTEN: SYN queue, accept queue (backlog), SYN cookies (RFC 4987 §3.6).

/** Injects one segment from REMOTE:port to the listener's port (with `data` zero bytes of payload). */
function injectSeg(h: Harness, port: number, seq: number, ack: number, flags: number, data = 0): void {
  const b = new Uint8Array(40 + data);
  h.injectBytes(b.subarray(0, emitTcp({ srcPort: port, dstPort: LOCAL_PORT, seq, ack, flags, window: 65535, payload: new Uint8Array(data) }, b, REMOTE, LOCAL)));
}

test('SYN cookies when the SYN queue is full: stateless SYN-ACK, options restored from the cookie', () => {
  const h = runScript(`
    0    listen
    0    < S 0:0(0) win 64240 <mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 7>
    0    > S. 0:0(0) ack 1 win 65535 <mss 1460,sackOK,TS val * ecr 100,nop,wscale 3>
    +10  < . 1:1(0) ack 1 win 502 <nop,nop,TS val 110 ecr *>
    +0   event incoming
    +0   accept
    +0   state ESTABLISHED
    +0   info sndMss 1448
    +0   info sndWndScale 7
    +0   info rcvWndScale 3
    +0   info sack true
    +0   info timestamps true
    +0   < P. 1:101(100) ack 1 win 502 <nop,nop,TS val 120 ecr *>
    +0   read 100
    +0   > . 1:1(0) ack 101 win 32768   // reading opens the scaled window past 64 KiB
  `, { synQueueSize: 0 });
  assert.equal(h.engine.counters.synCookiesSent, 1);
  assert.equal(h.engine.counters.synCookiesAccepted, 1);
});

test('SYN cookie without timestamps: MSS from the table, no scaling or SACK', () => {
  runScript(`
    0    listen
    0    < S 0:0(0) win 64240 <mss 1400,sackOK,nop,wscale 7>
    0    > S. 0:0(0) ack 1 win 65535 <mss 1460>
    +10  < . 1:1(0) ack 1 win 5000
    +0   accept
    +0   info sndMss 1300
    +0   info sndWndScale 0
    +0   info sack false
  `, { synCookies: 'always' });
});

test('a forged cookie is answered with RST and creates nothing', () => {
  const h = runScript(`
    0    listen
    0    < S 0:0(0) win 64240 <mss 1460>
    0    > S. 0:0(0) ack 1 <mss 1460>
    +10  < . 1:1(0) ack 12345 win 5000
    +0   > R 12345:12345(0)
  `, { synCookies: 'always' });
  assert.equal(h.engine.counters.dropBadCookie, 1);
  assert.equal(h.engine.connectionCount(), 0);
});

test('a valid cookie ACK while the accept queue is full is dropped silently (no RST); its retry is accepted later', () => {
  const h = new Harness({ synCookies: 'always' });
  h.run('0 listen 1');
  const seg = (port: number, seq: number, ack: number, flags: number): void => injectSeg(h, port, seq, ack, flags);
  // Two SYNs answered with cookies while the accept queue is still empty.
  seg(41001, PEER_ISN, 0, TcpFlag.SYN);
  seg(41002, PEER_ISN, 0, TcpFlag.SYN);
  const [a, b] = h.pending();
  assert.ok(a !== undefined && b !== undefined && a.flags === (TcpFlag.SYN | TcpFlag.ACK) && b.flags === a.flags);
  h.nextSent(); h.nextSent();
  // The first ACK fills the queue (backlog 1); the second carries a valid cookie but finds no room.
  seg(41001, PEER_ISN + 1, (a.seq + 1) >>> 0, TcpFlag.ACK);
  seg(41002, PEER_ISN + 1, (b.seq + 1) >>> 0, TcpFlag.ACK);
  assert.deepEqual(h.pending().filter((r) => (r.flags & TcpFlag.RST) !== 0), [], 'no RST for a genuine cookie');
  assert.equal(h.engine.counters.dropCookieAcceptQueueFull, 1);
  assert.equal(h.engine.counters.dropBadCookie, 0);
  assert.equal(h.engine.counters.synCookiesAccepted, 1);
  assert.equal(h.engine.connectionCount(), 1);
  // accept() makes room; the peer's next segment (same cookie) completes its connection.
  assert.ok(h.engine.accept(h.listener) >= 0);
  seg(41002, PEER_ISN + 1, (b.seq + 1) >>> 0, TcpFlag.ACK);
  assert.equal(h.engine.counters.synCookiesAccepted, 2);
  assert.ok(h.engine.accept(h.listener) >= 0);
  assert.deepEqual(h.pending().filter((r) => (r.flags & TcpFlag.RST) !== 0), []);
});

test('SYN queue bound without cookies: extra SYNs are dropped', () => {
  const h = new Harness({ synQueueSize: 2, synCookies: 'never' });
  h.run('0 listen');
  for (let i = 0; i < 4; i++) {
    const buf = new Uint8Array(40);
    const n = emitTcp({ srcPort: 41000 + i, dstPort: LOCAL_PORT, seq: PEER_ISN, ack: 0, flags: TcpFlag.SYN, window: 65535 }, buf, REMOTE, LOCAL);
    h.injectBytes(buf.subarray(0, n));
  }
  assert.equal(h.pending().length, 2);
  assert.equal(h.engine.counters.dropSynQueueFull, 2);
});

test('accept queue full (backlog): SYNs are dropped until accept() makes room', () => {
  const h = new Harness();
  h.run('0 listen 1');
  const handshake = (port: number): void => {
    const syn = new Uint8Array(40);
    h.injectBytes(syn.subarray(0, emitTcp({ srcPort: port, dstPort: LOCAL_PORT, seq: PEER_ISN, ack: 0, flags: TcpFlag.SYN, window: 65535 }, syn, REMOTE, LOCAL)));
    const synAck = h.pending().at(-1);
    if (synAck === undefined || synAck.dstPort !== port || (synAck.flags & TcpFlag.SYN) === 0) return;
    const ack = new Uint8Array(40);
    h.injectBytes(ack.subarray(0, emitTcp({ srcPort: port, dstPort: LOCAL_PORT, seq: PEER_ISN + 1, ack: (synAck.seq + 1) >>> 0, flags: TcpFlag.ACK, window: 65535 }, ack, REMOTE, LOCAL)));
  };
  handshake(41001);
  const before = h.pending().length;
  handshake(41002);
  assert.equal(h.pending().length, before, 'second SYN dropped while the backlog is full');
  assert.ok(h.engine.accept(h.listener) >= 0);
  handshake(41003);
  assert.ok(h.engine.accept(h.listener) >= 0);
});

test('closing a listener resets connections nobody accepted', () => {
  const h = runScript(`
    0    listen
    0    < S 0:0(0) win 65535 <mss 1000>
    0    > S. 0:0(0) ack 1 <mss 1460>
    +10  < . 1:1(0) ack 1 win 65535
  `);
  h.engine.closeListener(h.listener, h.now);
  const rst = h.nextSent();
  assert.ok(rst !== undefined && (rst.repr.flags & TcpFlag.RST) !== 0);
  assert.equal(h.engine.connectionCount(), 0);
});

test('listen on a port in use: EADDRINUSE', () => {
  const h = new Harness();
  h.run('0 listen');
  assert.throws(() => h.engine.listen({ addr: LOCAL, port: LOCAL_PORT }), { code: 'EADDRINUSE' });
  assert.throws(() => h.engine.listen({ addr: 0, port: LOCAL_PORT }), { code: 'EADDRINUSE' });
});

test('SYNs are dropped while the segment buffers left are kept for existing connections', () => {
  let low = false;
  const h = new Harness({ allocator: { alloc: (len) => new Uint8Array(len), lowOnBuffers: () => low } });
  const lid = h.engine.listen({ addr: LOCAL, port: LOCAL_PORT, backlog: 8 });
  const syn = (seq: number, sport: number): void => {
    const b = new Uint8Array(64);
    h.injectBytes(b.subarray(0, emitTcp({ srcPort: sport, dstPort: LOCAL_PORT, seq, ack: 0, flags: TcpFlag.SYN, window: 65535 }, b, REMOTE, LOCAL)));
  };
  low = true;
  syn(PEER_ISN, 40000);
  assert.equal(h.sent.length, 0, 'no SYN-ACK while low on buffers');
  assert.equal(h.engine.counters.dropSynNoBuffers, 1);
  low = false;
  syn(PEER_ISN, 40000);
  assert.equal(h.sent.length, 1, 'answered once buffers are back');
  assert.equal(h.sent[0]!.repr.flags, TcpFlag.SYN | TcpFlag.ACK);
  assert.equal(lid >= 0, true);
});

test('a cookie ACK that finds the SYN-RECEIVED entry of the same SYN sent again completes the cookie handshake (no RST)', () => {
  // 1000 connects at once on a loaded machine: the SYN queue overflowed, a SYN was answered
  // with a cookie, the peer's SYN timer fired before that SYN-ACK reached it and its SYN came
  // again when the queue had room: a SYN-RECEIVED entry with another ISS. The peer completes
  // the handshake it saw first (the cookie); answering its ACK with RST reset connections
  // that had done nothing wrong (test/stack/socket-limits.test.ts under load).
  const h = new Harness({ synQueueSize: 1 });
  h.run('0 listen');
  const seg = (port: number, seq: number, ack: number, flags: number, data = 0): void => injectSeg(h, port, seq, ack, flags, data);
  seg(41000, PEER_ISN, 0, TcpFlag.SYN); // fills the SYN queue (size 1)
  seg(41001, PEER_ISN, 0, TcpFlag.SYN); // answered with a cookie
  const [first, cookie] = h.pending();
  assert.ok(first !== undefined && cookie !== undefined);
  h.nextSent(); h.nextSent();
  assert.equal(h.engine.counters.synCookiesSent, 1);
  seg(41000, PEER_ISN + 1, (first.seq + 1) >>> 0, TcpFlag.ACK); // the queue has room again
  seg(41001, PEER_ISN, 0, TcpFlag.SYN); // the same SYN again: a SYN-RECEIVED entry
  const again = h.pending().find((r) => r.flags === (TcpFlag.SYN | TcpFlag.ACK));
  assert.ok(again !== undefined && again.seq !== cookie.seq, 'a stateful SYN-ACK with its own ISS');
  while (h.nextSent() !== undefined) { /* drain */ }
  // The peer ACKs the cookie SYN-ACK, with data.
  seg(41001, PEER_ISN + 1, (cookie.seq + 1) >>> 0, TcpFlag.ACK | TcpFlag.PSH, 100);
  assert.deepEqual(h.pending().filter((r) => (r.flags & TcpFlag.RST) !== 0), [], 'no RST for the cookie the peer completed');
  assert.equal(h.engine.counters.dropBadAck, 0);
  assert.ok(h.engine.accept(h.listener) >= 0);
  const c = h.engine.accept(h.listener);
  assert.ok(c >= 0, 'the cookie connection is accepted');
  assert.equal(h.engine.info(c).state, 'ESTABLISHED');
  assert.equal(h.engine.info(c).recvQueued, 100);
});

test('a SYN flood cannot take every socket: half-open connections stay within the free rings, SYN cookies answer the rest, and a real client still connects', () => {
  // A socket table of 8 connections' rings (the TCP server's provider, in small).
  const RINGS = 8;
  let free = RINGS;
  const h = new Harness({
    buffers: {
      acquire: () => {
        if (free === 0) return undefined;
        free--;
        const ring = new ByteRing(new ArrayBuffer(ByteRing.bytesNeeded(4096)), 0, 4096);
        return { send: ring, recv: new ByteRing(new ArrayBuffer(ByteRing.bytesNeeded(4096)), 0, 4096), tag: free };
      },
      release: () => { free++; },
      free: () => free,
    },
  });
  h.run('0 listen 16');
  const seg = (port: number, seq: number, ack: number, flags: number): void => injectSeg(h, port, seq, ack, flags);
  // 100 spoofed SYNs (different ports), never completed.
  for (let p = 0; p < 100; p++) seg(20000 + p, PEER_ISN, 0, TcpFlag.SYN);
  assert.equal(h.pending().filter((r) => r.flags === (TcpFlag.SYN | TcpFlag.ACK)).length, 100, 'every SYN answered');
  assert.equal(h.engine.connectionCount(), 4, 'half-open connections: as many as the rings left free');
  assert.equal(free, 4);
  assert.equal(h.engine.counters.synCookiesSent, 96);
  assert.equal(h.engine.counters.dropNoBuffers, 0);
  // A real client: its SYN gets a cookie, its ACK a connection (rings were left for it).
  while (h.pending().length > 0) h.nextSent();
  seg(41000, PEER_ISN, 0, TcpFlag.SYN);
  const synAck = h.pending()[0]!;
  h.nextSent();
  seg(41000, PEER_ISN + 1, (synAck.seq + 1) >>> 0, TcpFlag.ACK);
  assert.equal(h.engine.counters.synCookiesAccepted, 1);
  assert.ok(h.engine.accept(h.listener) >= 0, 'the real client\'s connection is accepted');
  assert.equal(free, 3);
});
