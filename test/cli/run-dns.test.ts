// `newtos run --dns`: an unmodified client (fetch, http.get, net.Socket().connect()) names its
// server 'api.test', which only a DNS server on another newtos host knows; the names resolve
// over the client host's own UDP. The server host (this process) runs an Express app and the
// DNS server (test/support/dns-server.ts) behind Ethernet over UDP on loopback.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { createStack } from '../../src/stack/host.js';
import { dnsServer } from '../support/dns-server.js';
import { freeUdpPorts, runCli } from '../support/cli.js';

const require = createRequire(import.meta.url);
const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/run/', import.meta.url));

test('newtos run --dns: an unmodified client reaches its server by a name only DNS knows', { timeout: 120_000 }, async () => {
  const [serverPort, clientPort] = await freeUdpPorts(2) as [number, number];
  const server = await createStack({
    name: 'server', placement: 'monolithic',
    interfaces: [{ name: 'eth0', link: { type: 'udp', mode: 'dgram', local: `127.0.0.1:${serverPort}`, remote: `127.0.0.1:${clientPort}` }, addresses: ['10.77.0.1/24'] }],
  });
  try {
    const { queries } = await dnsServer(server, { 'api.test': '10.77.0.1' });
    // The same routes as test/fixtures/run/express-app.cjs.
    const express = require('express') as (() => { use: (...a: unknown[]) => void; get: (...a: unknown[]) => void; post: (...a: unknown[]) => void }) & { json: () => unknown; static: (dir: string) => unknown };
    const app = express();
    app.use(express.json());
    app.use('/static', express.static(`${FIXTURES}public`));
    const items: unknown[] = [];
    app.get('/api/items', (req: { socket: { remoteAddress: string } }, res: { json: (v: unknown) => void }) => res.json({ items, peer: req.socket.remoteAddress }));
    app.post('/api/items', (req: { body: unknown }, res: { status: (n: number) => { json: (v: unknown) => void } }) => {
      items.push(req.body);
      res.status(201).json({ count: items.length });
    });
    const listener = server.http.serve(http.createServer(app as unknown as http.RequestListener), 3000);
    const r = await runCli(['run', '--udp', `127.0.0.1:${clientPort}`, '--remote', `127.0.0.1:${serverPort}`, '--ip', '10.77.0.2/24',
      '--dns', '10.77.0.1', '--', 'node', `${FIXTURES}client.mjs`, 'http://api.test:3000/']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    const out = JSON.parse(r.stdout) as Record<string, Record<string, unknown>>;
    assert.deepEqual(out['post'], { status: 201, body: { count: 1 } });
    assert.deepEqual(out['list'], { status: 200, body: { items: [{ name: 'first' }], peer: '10.77.0.2' } });
    assert.equal(out['static']!['body'], 'a static file served by express over newtos\n');
    assert.equal(out['raw']!['statusLine'], 'HTTP/1.1 200 OK');
    assert.ok(queries.includes('api.test'), `the DNS server was asked: ${queries.join(', ')}`);
    listener.close();
  } finally {
    await server.close();
  }
});

test('newtos run --dns refuses a bad resolver before starting the program', { timeout: 30_000 }, async () => {
  const r = await runCli(['run', '--udp', '127.0.0.1:1', '--remote', '127.0.0.1:2', '--ip', '10.0.0.1/24', '--dns', 'resolver.example', '--', 'node', '-e', 'console.log("ran")']);
  assert.equal(r.code, 2);
  assert.doesNotMatch(r.stdout, /ran/);
  assert.match(r.stderr, /--dns: must be a resolver's IPv4 address/);
});
