// The --http file server's fast path (src/cli/static-files.ts) against the libraries it
// stands in front of: the same request to a handler with the fast path and to one without
// gets the same status, headers (but Date) and body; a file changed on disk is served
// anew; what the fast path must not answer (Range, conditionals, dotfiles, directories,
// big files, percent-encoded or climbing paths) goes to the libraries. Node's own http
// server on loopback carries the requests: this tests the handler, not the stack.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { SMALL_FILE_MAX, staticFiles, type StaticFilesHandler } from '../../src/cli/static-files.js';

interface Reply { status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }

function fetchRaw(port: number, path: string, method = 'GET', headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const r = httpRequest({ host: '127.0.0.1', port, path, method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    r.on('error', reject);
    r.end();
  });
}

async function serve(h: StaticFilesHandler): Promise<{ server: Server; port: number }> {
  const server = createServer(h);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as AddressInfo).port };
}

const withoutDate = (h: Reply['headers']): Reply['headers'] => { const o = { ...h }; delete o.date; delete o.connection; delete o['keep-alive']; return o; };

test('the fast path answers plain small files exactly as serve-static does, and leaves the rest to it', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'newtos-static-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(join(root, 'sub'));
  writeFileSync(join(root, 'f.txt'), 'hello\n');
  writeFileSync(join(root, 'sub', 'style.css'), 'body { color: red }\n');
  writeFileSync(join(root, 'sub', 'data.json'), '{"a":1}\n');
  writeFileSync(join(root, 'blob.weird-ext'), Buffer.from([0, 1, 2, 3]));
  writeFileSync(join(root, 'noext'), 'x');
  writeFileSync(join(root, 'big.bin'), Buffer.alloc(SMALL_FILE_MAX + 1, 7));
  const huge = randomBytes(3 * 1024 * 1024 + 12345);
  writeFileSync(join(root, 'huge.dat'), huge);
  writeFileSync(join(root, '.secret'), 'dot');
  writeFileSync(join(root, 'index.html'), '<p>index</p>');

  const fast = staticFiles(root);
  const lib = staticFiles(root, { fastPath: false });
  const a = await serve(fast);
  const b = await serve(lib);
  t.after(() => { a.server.close(); b.server.close(); });

  const same = async (path: string, method = 'GET', headers: Record<string, string> = {}): Promise<Reply> => {
    const x = await fetchRaw(a.port, path, method, headers);
    const y = await fetchRaw(b.port, path, method, headers);
    assert.equal(x.status, y.status, `${method} ${path}: status`);
    assert.deepEqual(withoutDate(x.headers), withoutDate(y.headers), `${method} ${path}: headers`);
    assert.deepEqual(x.body, y.body, `${method} ${path}: body`);
    return x;
  };

  // Taken by the fast path: each must count as one.
  const plain = ['/f.txt', '/sub/style.css', '/sub/data.json', '/blob.weird-ext', '/noext', '/f.txt?x=1&y=..%2f'];
  let before = fast.stats.fastPath;
  for (const p of plain) assert.equal((await same(p)).status, 200, p);
  assert.equal((await same('/f.txt', 'HEAD')).body.length, 0);
  assert.equal(fast.stats.fastPath - before, plain.length + 1, 'every plain GET/HEAD of a small file took the fast path');
  assert.equal(fast.stats.reads, 5, 'each file read once, then served from memory');
  // Bigger files are streamed from the file, with the same headers and bytes.
  before = fast.stats.fastPath;
  assert.equal((await same('/big.bin')).body.length, SMALL_FILE_MAX + 1);
  assert.deepEqual((await same('/huge.dat')).body, huge);
  assert.equal((await same('/huge.dat', 'HEAD')).body.length, 0);
  assert.deepEqual((await fetchRaw(a.port, '/huge.dat')).body, huge, 'again, with the reused buffers');
  assert.equal(fast.stats.fastPath - before, 4);
  assert.equal(fast.stats.streamed, 3, 'three GETs streamed (HEAD reads nothing)');
  // A client that goes away mid-file: the server closes the file and goes on serving.
  const fds = readdirSync('/proc/self/fd').length;
  for (let i = 0; i < 5; i++) {
    await new Promise<void>((resolve) => {
      const r = httpRequest({ host: '127.0.0.1', port: a.port, path: '/huge.dat', agent: false }, (res) => {
        res.once('data', () => { r.destroy(); resolve(); });
      });
      r.on('error', () => resolve());
      r.end();
    });
  }
  await new Promise((r) => setTimeout(r, 300));
  assert.ok(readdirSync('/proc/self/fd').length <= fds + 1, 'no file left open by the aborted responses');
  assert.deepEqual((await fetchRaw(a.port, '/huge.dat')).body, huge);
  assert.equal((await fetchRaw(a.port, '/f.txt')).body.toString(), 'hello\n');

  // Left to the libraries: the fast-path count stays.
  before = fast.stats.fastPath;
  const etag = String((await fetchRaw(b.port, '/f.txt')).headers.etag);
  const lastModified = String((await fetchRaw(b.port, '/f.txt')).headers['last-modified']);
  assert.equal((await same('/f.txt', 'GET', { Range: 'bytes=1-3' })).status, 206);
  assert.equal((await same('/f.txt', 'GET', { 'If-None-Match': etag })).status, 304);
  assert.equal((await same('/f.txt', 'GET', { 'If-Modified-Since': lastModified })).status, 304);
  assert.equal((await same('/f.txt', 'GET', { 'If-Match': '"nope"' })).status, 412);
  assert.equal((await same('/.secret')).status, 404);
  assert.equal((await same('/sub')).status, 301);
  assert.equal((await same('/sub/')).status, 200);
  assert.equal((await same('/')).status, 200);
  assert.equal((await same('/%66.txt')).status, 200);
  assert.equal((await same('/sub/../f.txt')).status, 200);
  assert.equal((await same('/no-such.txt')).status, 404);
  assert.equal((await same('/f.txt', 'POST')).status, 405);
  assert.equal(fast.stats.fastPath, before, 'none of these took the fast path');

  // A changed file is served anew (size and mtime move), and one gone is a 404.
  writeFileSync(join(root, 'f.txt'), 'goodbye, world\n');
  utimesSync(join(root, 'f.txt'), new Date(), new Date(Date.now() + 5000));
  const changed = await same('/f.txt');
  assert.equal(changed.body.toString(), 'goodbye, world\n');
  writeFileSync(join(root, 'f.txt'), 'goodbye, WORLD\n'); // same size; mtime and ctime move
  utimesSync(join(root, 'f.txt'), new Date(), new Date(Date.now() + 10_000));
  assert.equal((await same('/f.txt')).body.toString(), 'goodbye, WORLD\n');
  rmSync(join(root, 'f.txt'));
  assert.equal((await same('/f.txt')).status, 404);
});
