// Node's http.Server over newtos (src/api/http.ts) gets its sockets as net.Server
// would give them: with noDelay (http.Server's default since Node 18). Without it, a
// response written in two pieces waits under Nagle for the peer's ACK of the first,
// which Linux delays by ~40 ms: wrk over TAP saw p50 25-44 ms for a 6-byte file.
//
// Deterministic check, no timing: the serving host's packet filter drops the client's
// pure ACKs (flags A/AP: ACK without PSH), so the first piece is never acknowledged.
// The second piece is written only once the client has the first. With noDelay it
// leaves at once in a segment of its own; under Nagle it is held, and reaches the
// client only inside the RTO's retransmission, which starts with the first piece.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { createVswitch } from '../../src/driver/nic/vswitch.js';
import { createStack, type Stack } from '../../src/stack/host.js';

/** TCP payload of an Ethernet/IPv4/TCP frame (empty for anything else). */
function tcpPayload(f: Uint8Array): Uint8Array {
  if (f[12] !== 0x08 || f[13] !== 0x00 || f[23] !== 6) return new Uint8Array(0);
  const ihl = (f[14]! & 0x0f) * 4;
  const total = (f[16]! << 8) | f[17]!;
  const tcp = 14 + ihl;
  return f.subarray(tcp + (f[tcp + 12]! >> 4) * 4, 14 + total);
}

test('http.serve: the server sockets have noDelay, so a response piece is not held by Nagle', { timeout: 60_000 }, async (t) => {
  const sw = { descriptor: createVswitch({ ports: 2 }), nextPort: 0 };
  const host = (ip: string, filter?: string): Promise<Stack> => createStack({
    interfaces: [{ name: 'eth0', link: { type: 'vswitch', switch: 'sw0' }, addresses: [ip] }],
    ...(filter !== undefined ? { filter } : {}),
  }, { switches: { sw0: sw } });
  const a = await host('10.9.0.1/24', 'default allow\ndrop in proto tcp to any port 80 flags A/AP\n');
  t.after(() => a.close());
  const b = await host('10.9.0.2/24');
  t.after(() => b.close());

  const sent: Uint8Array[] = [];
  const capture = await a.capture('eth0', (dir, bytes) => { if (dir === 'tx') sent.push(bytes.slice()); });
  let finish: (() => void) | undefined;
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-length': 10 });
    res.write('PART1');
    finish = () => res.end('PART2');
  });
  const listener = a.http.serve(server, 80);
  t.after(() => listener.close());
  await new Promise<void>((resolve) => listener.once('listening', resolve));

  // Keep-alive: with 'Connection: close' the last piece goes with the FIN, which Nagle never holds.
  const agent = b.http.agent({ keepAlive: true });
  t.after(() => agent.destroy());
  const body = await new Promise<string>((resolve, reject) => {
    const req = http.get({ host: '10.9.0.1', port: 80, path: '/', agent }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => {
        text += d.toString();
        if (text === 'PART1') finish!();
      });
      res.on('end', () => resolve(text));
    });
    req.on('error', reject);
  });
  await capture.stop();
  assert.equal(body, 'PART1PART2');
  const starts = sent.map((f) => Buffer.from(tcpPayload(f)).toString('latin1'));
  assert.ok(starts.some((p) => p.startsWith('PART2')),
    `the second piece left in a segment of its own (payloads sent: ${JSON.stringify(starts.filter((p) => p !== ''))})`);
});
