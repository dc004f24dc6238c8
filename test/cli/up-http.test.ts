// `newtos up --http DIR` as a user runs it, over Ethernet in UDP datagrams on loopback,
// fetched by raw HTTP/1.1 requests from a host in this process: a path that climbs out
// of DIR (raw `..`, percent-encoded, mixed) is refused and never returns a sibling
// folder's bytes; index.html, a directory listing, content types, Range and HEAD work.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createStack, type Stack } from '../../src/stack/host.js';
import { freeUdpPorts, startCli } from '../support/cli.js';

interface Reply { status: number; headers: Record<string, string>; body: string }

/** Sends one raw request (Connection: close) and parses the reply. */
function request(stack: Stack, raw: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const c = stack.net.connect({ port: 80, host: '10.9.3.1' });
    let got = '';
    c.on('error', reject);
    c.on('connect', () => c.write(raw));
    c.on('data', (d: Buffer) => { got += d.toString('latin1'); });
    c.on('close', () => {
      const at = got.indexOf('\r\n\r\n');
      const [statusLine, ...lines] = got.slice(0, at).split('\r\n');
      const headers: Record<string, string> = {};
      for (const l of lines) { const i = l.indexOf(':'); headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim(); }
      resolve({ status: Number(statusLine!.split(' ')[1]), headers, body: got.slice(at + 4) });
    });
  });
}

const get = (path: string, extra = '', method = 'GET'): string => `${method} ${path} HTTP/1.1\r\nHost: 10.9.3.1\r\nConnection: close\r\n${extra}\r\n`;

test('newtos up --http serves DIR only: traversal refused, index, listing, types, Range, HEAD', { timeout: 90_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'newtos-http-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const www = join(dir, 'www');
  mkdirSync(join(www, 'sub'), { recursive: true });
  mkdirSync(join(dir, 'www2'));
  const secret = 'SECRET-OF-THE-SIBLING-FOLDER';
  writeFileSync(join(dir, 'www2', 'secret.txt'), secret);
  writeFileSync(join(dir, 'secret.txt'), secret);
  writeFileSync(join(www, 'index.html'), '<h1>the index</h1>\n');
  const text = 'abcdefghijklmnopqrstuvwxyz0123456789';
  writeFileSync(join(www, 'letters.txt'), text);
  writeFileSync(join(www, 'sub', 'style.css'), 'body { color: red }\n');
  writeFileSync(join(www, 'sub', 'data.json'), '{"a":1}\n');

  const children: ChildProcess[] = [];
  t.after(() => { for (const c of children) if (c.exitCode === null) c.kill('SIGKILL'); });
  const [upPort, peerPort] = await freeUdpPorts(2) as [number, number];
  const up = await startCli(['up', '--udp', `127.0.0.1:${upPort}`, '--remote', `127.0.0.1:${peerPort}`, '--ip', '10.9.3.1/24', '--http', www], /up: up \(/, children);
  // A file server's send rings are 4 MiB (Linux's tcp_wmem maximum), which leaves room for 481 sockets.
  assert.match(up.output(), /serving .* over http on port 80 \(send buffers 4 MiB, at most 481 TCP sockets\)/);
  const peer = await createStack({
    interfaces: [{ name: 'eth0', addresses: ['10.9.3.2/24'], link: { type: 'udp', mode: 'dgram', local: `127.0.0.1:${peerPort}`, remote: `127.0.0.1:${upPort}` } }],
  });
  t.after(() => peer.close());

  for (const path of [
    '/../www2/secret.txt', '/../secret.txt', '/sub/../../www2/secret.txt', '/%2e%2e/www2/secret.txt', '/%2E%2E/secret.txt',
    '/%2e%2e%2fwww2%2fsecret.txt', '/..%2fwww2/secret.txt', '/sub/%2e%2e/%2e%2e/www2/secret.txt', '/..%5cwww2%5csecret.txt',
  ]) {
    const r = await request(peer, get(path));
    assert.ok(r.status === 403 || r.status === 404 || r.status === 400, `${path}: status ${r.status}`);
    assert.ok(!r.body.includes(secret), `${path}: the sibling's bytes were served`);
  }

  const index = await request(peer, get('/'));
  assert.equal(index.status, 200);
  assert.match(index.headers['content-type']!, /^text\/html/);
  assert.equal(index.body, '<h1>the index</h1>\n');

  const redirect = await request(peer, get('/sub'));
  assert.equal(redirect.status, 301);
  assert.equal(redirect.headers['location'], '/sub/');
  const listing = await request(peer, get('/sub/'));
  assert.equal(listing.status, 200);
  assert.match(listing.headers['content-type']!, /^text\/html/);
  assert.match(listing.body, /style\.css/);
  assert.match(listing.body, /data\.json/);

  const css = await request(peer, get('/sub/style.css'));
  assert.equal(css.status, 200);
  assert.match(css.headers['content-type']!, /^text\/css/);
  const json = await request(peer, get('/sub/data.json'));
  assert.match(json.headers['content-type']!, /^application\/json/);

  const range = await request(peer, get('/letters.txt', 'Range: bytes=3-9\r\n'));
  assert.equal(range.status, 206);
  assert.equal(range.headers['content-range'], `bytes 3-9/${text.length}`);
  assert.equal(range.body, text.slice(3, 10));
  const tail = await request(peer, get('/letters.txt', 'Range: bytes=-4\r\n'));
  assert.equal(tail.body, text.slice(-4));
  const unsatisfiable = await request(peer, get('/letters.txt', 'Range: bytes=1000-2000\r\n'));
  assert.equal(unsatisfiable.status, 416);
  assert.ok(!unsatisfiable.body.includes(text), '416 carries no file');

  const head = await request(peer, get('/letters.txt', '', 'HEAD'));
  assert.equal(head.status, 200);
  assert.equal(head.headers['content-length'], String(text.length));
  assert.equal(head.body, '');

  assert.equal((await request(peer, get('/no-such-file.txt'))).status, 404);
  assert.equal((await request(peer, get('/letters.txt', '', 'DELETE'))).status, 405);
});
