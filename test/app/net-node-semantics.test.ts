// Node's net.Socket semantics on a newtos stack, as `newtos run` relies on them (two hosts on
// the virtual switch): new Socket().connect(), 'localhost' as the stack's own loopback, the
// lookup option and the stack's lookup hook, signal, keepAlive before connect, errno and
// err.name as Node's, bytesRead/bytesWritten after close.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createStack, createVswitch, type Stack } from '../../src/index.js';
import type { NetSocket } from '../../src/app/net-socket.js';
import type { LookupFunction } from '../../src/app/connect-options.js';

const sw = createVswitch({ ports: 2 });
const mk = (ip: string): Promise<Stack> => createStack({ interfaces: [{ name: 'eth0', link: { type: 'vswitch', switch: 'sw' }, addresses: [ip] }] }, { switches: { sw } });
const [a, b] = await Promise.all([mk('10.0.0.1/24'), mk('10.0.0.2/24')]);
after(async () => { await Promise.all([a.close(), b.close()]); });
const server = a.net.createServer((s) => { s.on('data', (d) => s.end(d)); s.on('error', () => undefined); });
server.listen(7);
await once(server, 'listening');

async function echo(s: NetSocket, text: string): Promise<string> {
  let got = '';
  s.setEncoding('utf8');
  s.on('data', (d: string) => { got += d; });
  await once(s, 'connect');
  s.write(text);
  await once(s, 'close');
  return got;
}

test('new stack.net.Socket().connect(port, host) connects, and bytesRead/bytesWritten stay after close', async () => {
  const s = new b.net.Socket();
  assert.equal(s.connect(7, '10.0.0.1'), s);
  assert.equal(s.connecting, true);
  assert.throws(() => s.connect(7, '10.0.0.1'), { code: 'ERR_SOCKET_CONNECTING' });
  assert.equal(await echo(s, 'hello'), 'hello');
  assert.equal(s.bytesRead, 5);
  assert.equal(s.bytesWritten, 5);
});

test("'localhost' is the stack's own loopback", async () => {
  const s = a.net.connect(7, 'localhost');
  let remote: string | undefined;
  s.once('connect', () => { remote = s.remoteAddress; });
  assert.equal(await echo(s, 'loop'), 'loop');
  assert.equal(remote, '127.0.0.1');
});

test('host names go through the lookup option, else the stack lookup hook, else ENOTFOUND', async () => {
  const looked: string[] = [];
  const lookup: LookupFunction = (h, _o, cb) => { looked.push(h); cb(null, '10.0.0.1', 4); };
  // The lookup answers at once, so 'lookup' is emitted inside connect() (as Node does):
  // listen before connecting.
  const s = new b.net.Socket();
  const lookupEvent = once(s, 'lookup');
  s.connect({ port: 7, host: 'server.test', lookup });
  assert.equal(await echo(s, 'named'), 'named');
  assert.deepEqual(looked, ['server.test']);
  assert.deepEqual((await lookupEvent).slice(0, 3), [null, '10.0.0.1', 4]);

  const none = b.net.connect(7, 'nowhere.test');
  const [err] = await once(none, 'error') as [NodeJS.ErrnoException & { hostname: string }];
  assert.equal(err.code, 'ENOTFOUND');
  assert.equal(err.syscall, 'getaddrinfo');
  assert.equal(err.hostname, 'nowhere.test');

  b.client.lookup = (h, _o, cb) => cb(null, h === 'hooked.test' ? '10.0.0.1' : '', 4);
  try {
    assert.equal(await echo(b.net.connect(7, 'hooked.test'), 'hook'), 'hook');
  } finally {
    b.client.lookup = undefined;
  }
});

test('a refused connect fails as Node: code, errno, syscall, address, port, name', async () => {
  const s = b.net.connect(8, '10.0.0.1');
  const [err] = await once(s, 'error') as [NodeJS.ErrnoException & { address: string; port: number }];
  assert.equal(err.code, 'ECONNREFUSED');
  assert.equal(err.errno, -111);
  assert.equal(err.syscall, 'connect');
  assert.equal(err.address, '10.0.0.1');
  assert.equal(err.port, 8);
  assert.equal(err.name, 'Error');
  assert.equal(err.message, 'connect ECONNREFUSED 10.0.0.1:8');
});

test('signal: an aborted connect fails with AbortError', async () => {
  const pre = b.net.connect({ port: 7, host: '10.0.0.1', signal: AbortSignal.abort() });
  const [e1] = await once(pre, 'error') as [Error & { code: string }];
  assert.equal(e1.name, 'AbortError');
  assert.equal(e1.code, 'ABORT_ERR');
  const ac = new AbortController();
  // 10.0.0.9 does not answer ARP: the connect is still pending when it is aborted.
  const pending = b.net.connect({ port: 7, host: '10.0.0.9', signal: ac.signal });
  queueMicrotask(() => ac.abort());
  const [e2] = await once(pending, 'error') as [Error];
  assert.equal(e2.name, 'AbortError');
  assert.equal(pending.destroyed, true);
});

test('keepAlive and noDelay given before the connection exists still connect and echo', async () => {
  const s = new b.net.Socket();
  s.setKeepAlive(true, 1000);
  s.connect({ port: 7, host: '10.0.0.1', noDelay: true, keepAlive: true, keepAliveInitialDelay: 500 });
  assert.equal(await echo(s, 'ka'), 'ka');
});

test('createServer({ allowHalfOpen: true }): the server answers after the client ended its side; without it the server side ends', async () => {
  const run = async (allowHalfOpen: boolean | undefined): Promise<{ got: string; serverHalfOpen: boolean }> => {
    let serverHalfOpen = false;
    const srv = a.net.createServer(allowHalfOpen === undefined ? {} : { allowHalfOpen }, (s) => {
      let req = '';
      s.on('error', () => undefined);
      s.on('data', (d) => { req += d; });
      // The client's FIN: a half-open server may still write its answer (a moment later, after
      // the tick in which a socket without allowHalfOpen ends its own side, as Node's does).
      s.on('end', () => setTimeout(() => {
        serverHalfOpen = !s.writableEnded;
        if (serverHalfOpen) s.end(`answer to ${req}`);
      }, 20));
    });
    srv.listen(7010);
    await once(srv, 'listening');
    const c = b.net.connect({ host: '10.0.0.1', port: 7010, allowHalfOpen: true });
    let got = '';
    c.setEncoding('utf8');
    c.on('data', (d: string) => { got += d; });
    await once(c, 'connect');
    c.end('question');
    await once(c, 'close');
    srv.close();
    return { got, serverHalfOpen };
  };
  assert.deepEqual(await run(true), { got: 'answer to question', serverHalfOpen: true });
  assert.deepEqual(await run(undefined), { got: '', serverHalfOpen: false });
  const paused = a.net.createServer({ pauseOnConnect: true });
  assert.equal(paused.pauseOnConnect, true);
  assert.throws(() => a.net.createServer(null as unknown as object), { code: 'ERR_INVALID_ARG_TYPE' });
});
