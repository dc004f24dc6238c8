// newtos as a VXLAN tunnel endpoint of the Linux kernel (RFC 7348): the
// kernel's vxlan device in a namespace the test makes, the newtos host's
// socket in its I/O bridge thread bound to a veth address in the root
// namespace. Ping and a TCP download (curl) cross the tunnel.
//
//   newtos 10.205.S.2 ─ vxlan vni 77 ─ UDP 10.203.U.1 ══ veth ══ 10.203.U.2 (ns) ─ vx dev 10.205.S.1
//   (test/support/vxlan-peer.ts)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createStack } from '../../src/stack/host.js';
import { createRig, requireRoot } from '../support/netns.js';
import { kernelVtep } from '../support/vxlan-peer.js';

const SIZE = 3 * 1024 * 1024;

test('Linux pings and downloads 3 MB (sha256) from a newtos host across a kernel vxlan tunnel', { timeout: 60_000 }, async (t) => {
  if (!requireRoot(t, ['ping', 'ethtool', 'curl'])) return;
  const rig = createRig(t);
  const sub = 1 + Math.floor(Math.random() * 250);
  const newtosIp = `10.205.${sub}.2`;
  const linuxIp = `10.205.${sub}.1`;
  const { ns, vx, underRoot, underNs, port } = await kernelVtep(rig, 77, `${linuxIp}/24`);
  // The kernel leaves inner TCP/UDP checksums to "hardware" (CHECKSUM_PARTIAL)
  // when a vxlan device sits on a veth; a peer outside the kernel gets them
  // unfinished. A real NIC would fill them in: make the kernel do it.
  await rig.exec(ns, ['ethtool', '-K', vx, 'tx', 'off']);

  const stack = await createStack({
    name: 'vtep',
    interfaces: [{
      name: 'eth0', mtu: 1450, addresses: [`${newtosIp}/24`],
      link: { type: 'udp', mode: 'vxlan', vni: 77, local: `${underRoot}:${port}`, remote: `${underNs}:${port}` },
    }],
  });
  t.after(() => stack.close());
  const served = randomBytes(SIZE);
  const listener = stack.http.serve(http.createServer((_req, res) => {
    res.writeHead(200, { 'content-length': String(SIZE) });
    res.end(served);
  }), 8080);
  t.after(() => listener.close());

  const ping = await rig.exec(ns, ['ping', '-c', '3', '-i', '0.2', '-W', '2', newtosIp], { allowFailure: true });
  assert.equal(ping.code, 0, `ping across vxlan failed:\n${ping.stdout}${ping.stderr}`);
  assert.match(ping.stdout, /3 packets transmitted, 3 received/);

  const dir = mkdtempSync(join(tmpdir(), 'newtos-vxlan-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const out = join(dir, 'got.bin');
  const curl = await rig.exec(ns, ['curl', '-sS', '--max-time', '40', '-o', out, '-w', '%{http_code} %{size_download} %{time_total}',
    `http://${newtosIp}:8080/`], { allowFailure: true, timeoutMs: 45_000 });
  assert.equal(curl.code, 0, `curl failed: ${curl.stderr}`);
  const [code, bytes, seconds] = curl.stdout.trim().split(' ');
  assert.equal(code, '200');
  assert.equal(Number(bytes), SIZE);
  const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
  assert.equal(sha(readFileSync(out)), sha(served));
  if (process.env['NEWTOS_INTEROP_VERBOSE'] === '1') {
    console.error(`vxlan: Linux ← newtos ${(SIZE / Number(seconds) / 1e6).toFixed(1)} MB/s`);
  }
});
