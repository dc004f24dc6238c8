import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Harness, LOCAL, LOCAL_PORT, PEER_ISN, REMOTE, runScript } from './harness.js';
import { TcpFlag, emitTcp } from '../../src/wire/tcp.js';

// LISTEN: SYN queue, accept queue (backlog), SYN cookies (RFC 4987 §3.6).

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
  const seg = (port: number, seq: number, ack: number, flags: number): void => {
    const b = new Uint8Array(40);
    h.injectBytes(b.subarray(0, emitTcp({ srcPort: port, dstPort: LOCAL_PORT, seq, ack, flags, window: 65535 }, b, REMOTE, LOCAL)));
  };
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
