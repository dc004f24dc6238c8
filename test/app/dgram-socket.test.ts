import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { NewtosError } from '../../src/errors.js';
import { DgramSocket, validateDgramPort, type DgramBinder, type DgramPort, type DgramRemoteInfo } from '../../src/app/dgram-socket.js';

interface Sent { address: string; port: number; data: Buffer }

/** A binder whose ports record what is sent; binds of `busy` ports fail with EADDRINUSE. */
function fakeBinder(busy: number[] = []): DgramBinder & { sent: Sent[]; binds: { address: string; port: number }[]; deliver?: (m: Buffer, r: DgramRemoteInfo) => void; closed: number } {
  const b = {
    sent: [] as Sent[],
    binds: [] as { address: string; port: number }[],
    deliver: undefined as ((m: Buffer, r: DgramRemoteInfo) => void) | undefined,
    closed: 0,
    bind(address: string, port: number): Promise<DgramPort> {
      b.binds.push({ address, port });
      if (busy.includes(port)) {
        const err = new NewtosError('EADDRINUSE', `bind EADDRINUSE ${address}:${port}`);
        return Promise.reject(err);
      }
      const local = { address, family: 'IPv4' as const, port: port === 0 ? 50000 : port };
      return Promise.resolve({
        local: () => local,
        send: (a: string, p: number, d: Uint8Array, cb: (e: Error | null) => void) => { b.sent.push({ address: a, port: p, data: Buffer.from(d) }); cb(null); },
        start: (fn: (m: Buffer, r: DgramRemoteInfo) => void) => { b.deliver = fn; },
        setRef: () => undefined,
        close: () => { b.closed++; },
      });
    },
  };
  return b;
}

test('validateDgramPort follows Node (numbers and numeric strings in range)', () => {
  const good: [unknown, boolean, number][] = [[1, false, 1], ['53', false, 53], [0, true, 0], [65535, false, 65535], ['  80 ', false, 80]];
  for (const [p, zero, want] of good) assert.equal(validateDgramPort(p, zero), want, `port ${String(p)}`);
  const bad: [unknown, boolean][] = [[0, false], [65536, true], [-1, true], [1.5, true], ['', true], ['x', true], [null, true], [undefined, true], [{}, true], [NaN, true]];
  for (const [p, zero] of bad) assert.throws(() => validateDgramPort(p, zero), { code: 'ERR_SOCKET_BAD_PORT', name: 'RangeError' }, `port ${String(p)}`);
});

test('implicit bind on the first send; sends queued while binding go out after it, in order', async () => {
  const binder = fakeBinder();
  const s = new DgramSocket(binder, 'udp4');
  const results: number[] = [];
  s.send('one', 7, '10.0.0.9', (err, n) => { assert.equal(err, null); results.push(n); });
  s.send(Buffer.from('two'), 7, '10.0.0.9', (err, n) => { assert.equal(err, null); results.push(n); });
  assert.deepEqual(binder.binds, [{ address: '0.0.0.0', port: 0 }]);
  await once(s, 'listening');
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(binder.sent.map((x) => x.data.toString()), ['one', 'two']);
  assert.deepEqual(results, [3, 3]);
  assert.deepEqual(s.address(), { address: '0.0.0.0', family: 'IPv4', port: 50000 });
  s.close();
});

test('send forms: offset/length, arrays, default address, callback as third argument', async () => {
  const binder = fakeBinder();
  const s = new DgramSocket(binder, { type: 'udp4' });
  s.bind(1234);
  await once(s, 'listening');
  s.send(Buffer.from('abcdef'), 1, 3, 9, '10.0.0.1');
  s.send(['ab', Buffer.from('cd'), Uint8Array.of(0x65)], 9, '10.0.0.1');
  await new Promise<void>((resolve) => s.send('x', 9, () => resolve()));
  assert.deepEqual(binder.sent.map((x) => [x.data.toString(), x.address, x.port]), [
    ['bcd', '10.0.0.1', 9], ['abcde', '10.0.0.1', 9], ['x', '127.0.0.1', 9],
  ]);
  s.close();
});

test('a datagram larger than 65507 bytes fails with EMSGSIZE in the callback', async () => {
  const s = new DgramSocket(fakeBinder(), 'udp4');
  const [err] = await new Promise<[Error | null]>((resolve) => s.send(Buffer.alloc(65508), 9, '10.0.0.1', (e) => resolve([e])));
  assert.equal((err as NewtosError).code, 'EMSGSIZE');
  s.close();
});

test('bind: callback on listening, ERR_SOCKET_ALREADY_BOUND, EADDRINUSE as an error event', async () => {
  const s = new DgramSocket(fakeBinder([53]), 'udp4');
  let called = false;
  s.bind({ port: 1000, address: '10.0.0.1' }, () => { called = true; });
  assert.throws(() => s.bind(1001), { code: 'ERR_SOCKET_ALREADY_BOUND' });
  await once(s, 'listening');
  assert.ok(called);
  assert.deepEqual(s.address(), { address: '10.0.0.1', family: 'IPv4', port: 1000 });
  s.close();
  const t = new DgramSocket(fakeBinder([53]), 'udp4');
  t.bind(53);
  const [err] = await once(t, 'error') as [NewtosError];
  assert.equal(err.code, 'EADDRINUSE');
  t.close();
});

test('messages are emitted with rinfo; close emits close once and stops the socket', async () => {
  const binder = fakeBinder();
  const got: [string, DgramRemoteInfo][] = [];
  const s = new DgramSocket(binder, 'udp4', (m, r) => got.push([m.toString(), r]));
  s.bind(4444);
  await once(s, 'listening');
  const rinfo = { address: '10.0.0.2', family: 'IPv4' as const, port: 9, size: 2 };
  binder.deliver!(Buffer.from('hi'), rinfo);
  assert.deepEqual(got, [['hi', rinfo]]);
  let closes = 0;
  s.on('close', () => closes++);
  s.close();
  assert.throws(() => s.close(), { code: 'ERR_SOCKET_DGRAM_NOT_RUNNING' });
  await new Promise((r) => setImmediate(r));
  assert.equal(closes, 1);
  assert.equal(binder.closed, 1);
});

test('createSocket types: udp4 only', () => {
  assert.throws(() => new DgramSocket(fakeBinder(), 'udp6'), { code: 'ERR_SOCKET_BAD_TYPE', name: 'TypeError' });
  assert.throws(() => new DgramSocket(fakeBinder(), { type: 'tcp' as 'udp4' }), { code: 'ERR_SOCKET_BAD_TYPE' });
});

test('connect: implicit bind, connect event, sends to the peer, Node errors for misuse', async () => {
  const binder = fakeBinder();
  const s = new DgramSocket(binder, 'udp4');
  assert.throws(() => s.remoteAddress(), { code: 'ERR_SOCKET_DGRAM_NOT_CONNECTED' });
  assert.throws(() => s.disconnect(), { code: 'ERR_SOCKET_DGRAM_NOT_CONNECTED' });
  assert.throws(() => s.connect(0, '10.0.0.1'), { code: 'ERR_SOCKET_BAD_PORT' });
  s.connect(53, '10.0.0.1');
  assert.throws(() => s.connect(54, '10.0.0.1'), { code: 'ERR_SOCKET_DGRAM_IS_CONNECTED' });
  s.send('early'); // waits for the connect
  await once(s, 'connect');
  assert.deepEqual(s.remoteAddress(), { address: '10.0.0.1', family: 'IPv4', port: 53 });
  assert.throws(() => s.send('x', 0, 1, 53, '10.0.0.1'), { code: 'ERR_SOCKET_DGRAM_IS_CONNECTED' });
  await new Promise<void>((resolve) => s.send('late', () => resolve()));
  assert.deepEqual(binder.sent.map((x) => [x.data.toString(), x.address, x.port]), [['early', '10.0.0.1', 53], ['late', '10.0.0.1', 53]]);
  // Only the peer is heard.
  const got: string[] = [];
  s.on('message', (m: Buffer) => got.push(m.toString()));
  binder.deliver!(Buffer.from('peer'), { address: '10.0.0.1', family: 'IPv4', port: 53, size: 4 });
  binder.deliver!(Buffer.from('other'), { address: '10.0.0.7', family: 'IPv4', port: 53, size: 5 });
  assert.deepEqual(got, ['peer']);
  s.disconnect();
  s.close();
});
