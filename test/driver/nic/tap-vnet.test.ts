// TAP with IFF_VNET_HDR (checksum offload, TSO) against the real kernel:
// ping through the header path, a kernel UDP datagram with a partial checksum
// completed here, and a 14600-byte TCP super-frame the kernel cuts into ten
// MTU-sized segments with correct checksums (seen by tcpdump on the far side).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as yieldToLoop, setTimeout as sleep } from 'node:timers/promises';
import { RX_FLAG_CSUM_VERIFIED, contiguousSlots, formatMac } from '../../../src/driver/nic/backend.js';
import { TapBackend } from '../../../src/driver/nic/tap.js';
import { internetChecksum, pseudoHeaderSum, verifyChecksum } from '../../../src/wire/checksum.js';
import { readPcap } from '../../../src/wire/pcap.js';
import { ArpPingResponder, ipv4 } from '../../support/frames.js';
import { createRig, requireRoot, type Rig } from '../../support/netns.js';

const OUR_MAC = Uint8Array.from([0x02, 0x76, 0x6e, 0x65, 0x74, 0x01]);
const SLOT = 65536 + 64;

async function vnetTap(rig: Rig, t: { after: (fn: () => unknown) => void }, cidr: string): Promise<{ tap: TapBackend; ns: string }> {
  const tap = TapBackend.open({ name: rig.linkName('ntos'), mac: OUR_MAC, vnetHdr: true });
  t.after(() => tap.close());
  rig.adoptRootLink(tap.name);
  const ns = await rig.netns();
  await rig.moveLink(tap.name, ns);
  await rig.addr(ns, tap.name, cidr);
  await rig.up(ns, tap.name);
  return { tap, ns };
}

test('tap vnet: ping works through the virtio-net header path', async (t) => {
  if (!requireRoot(t, ['ping'])) return;
  const rig = createRig(t);
  const { tap, ns } = await vnetTap(rig, t, '10.205.0.1/24');
  const responder = new ArpPingResponder(OUR_MAC, ipv4('10.205.0.2'));
  const rx = contiguousSlots(new Uint8Array(8 * SLOT), 8, SLOT);
  const tx = contiguousSlots(new Uint8Array(8 * 2048), 8, 2048);
  let done = false;
  const ping = rig.exec(ns, ['ping', '-c', '2', '-i', '0.2', '-W', '2', '10.205.0.2'], { allowFailure: true }).finally(() => { done = true; });
  while (!done) {
    tap.waitReadable(10);
    const n = tap.receive(rx, 8);
    let out = 0;
    for (let i = 0; i < n; i++) {
      const reply = responder.answer(rx.memory.subarray(rx.offsets[i]!, rx.offsets[i]! + rx.lengths[i]!));
      if (reply !== null) { tx.memory.set(reply, tx.offsets[out]!); tx.lengths[out++] = reply.length; }
    }
    if (out > 0) tap.transmit(tx, out);
    await yieldToLoop();
  }
  const r = await ping;
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.equal(tap.counters.dropped(), 0, JSON.stringify(tap.counters.snapshot().drops));
});

test('tap vnet: a kernel UDP datagram arrives with a partial checksum, which we complete correctly', async (t) => {
  if (!requireRoot(t)) return;
  const rig = createRig(t);
  const { tap, ns } = await vnetTap(rig, t, '10.205.1.1/24');
  await rig.ip(ns, 'neigh', 'add', '10.205.1.2', 'lladdr', formatMac(OUR_MAC), 'dev', tap.name);
  await rig.exec(ns, ['bash', '-c', 'echo newtos-offload-check > /dev/udp/10.205.1.2/9']);
  const rx = { ...contiguousSlots(new Uint8Array(8 * SLOT), 8, SLOT), flags: new Uint8Array(8).fill(0xff) };
  let udp: Uint8Array | undefined;
  let udpFlags = 0;
  for (let i = 0; i < 200 && udp === undefined; i++) {
    tap.waitReadable(10);
    const n = tap.receive(rx, 8);
    for (let k = 0; k < n; k++) {
      const f = rx.memory.subarray(rx.offsets[k]!, rx.offsets[k]! + rx.lengths[k]!);
      if (f[12] === 0x08 && f[13] === 0 && f[23] === 17) { udp = f.slice(); udpFlags = rx.flags[k]!; }
    }
  }
  assert.ok(udp !== undefined, 'the UDP datagram arrived');
  assert.ok(tap.offload.rxPartialChecksums >= 1, JSON.stringify(tap.offload));
  assert.equal(udpFlags, RX_FLAG_CSUM_VERIFIED);
  const v = new DataView(udp.buffer);
  const udpLen = v.getUint16(38);
  assert.notEqual(v.getUint16(40), 0, 'checksum filled in');
  assert.ok(verifyChecksum(udp, 34, 34 + udpLen, pseudoHeaderSum(v.getUint32(26), v.getUint32(30), 17, udpLen)), 'UDP checksum valid');
  assert.equal(new TextDecoder().decode(udp.subarray(42, 34 + udpLen)), 'newtos-offload-check\n');
});

/** An Ethernet + IPv4 + TCP frame with `payload`, full IP checksum, TCP checksum left for TSO. */
function tcpSuperFrame(dstMac: Uint8Array, src: number, dst: number, payload: Uint8Array): Uint8Array {
  const f = new Uint8Array(14 + 20 + 20 + payload.length);
  const v = new DataView(f.buffer);
  f.set(dstMac, 0); f.set(OUR_MAC, 6); v.setUint16(12, 0x0800);
  f[14] = 0x45; v.setUint16(16, f.length - 14); v.setUint16(18, 1); v.setUint16(20, 0x4000); f[22] = 64; f[23] = 6;
  v.setUint32(26, src); v.setUint32(30, dst);
  v.setUint16(24, internetChecksum(f, 14, 34));
  v.setUint16(34, 40000); v.setUint16(36, 5555); v.setUint32(38, 1000); v.setUint32(42, 1);
  f[46] = 5 << 4; f[47] = 0x18; v.setUint16(48, 65535);
  f.set(payload, 54);
  return f;
}

test('tap vnet: a 14600-byte TCP frame leaves the kernel as ten MTU segments with valid checksums (TSO)', async (t) => {
  if (!requireRoot(t, ['tcpdump', 'ethtool'])) return;
  const rig = createRig(t);
  const { tap, ns } = await vnetTap(rig, t, '10.206.0.1/24');
  const far = await rig.netns();
  const veth = await rig.veth(ns, far);
  await rig.addr(ns, veth.a, '10.207.0.1/24');
  await rig.addr(far, veth.b, '10.207.0.2/24');
  await rig.up(ns, veth.a);
  await rig.up(far, veth.b);
  await rig.exec(ns, ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
  // Make the kernel segment and checksum in software before the veth (veth would pass the
  // super-frame and its partial checksum on as they are).
  const ethtool = await rig.exec(ns, ['ethtool', '-K', veth.a, 'tso', 'off', 'gso', 'off', 'tx', 'off'], { allowFailure: true });
  if (ethtool.code !== 0) { t.skip(`ethtool -K failed: ${ethtool.stderr.trim()}`); return; }
  const link = await rig.ip(ns, '-o', 'link', 'show', tap.name);
  const kernelMac = Uint8Array.from(/link\/ether ([0-9a-f:]{17})/.exec(link.stdout)![1]!.split(':').map((h) => parseInt(h, 16)));

  const dir = mkdtempSync(join(tmpdir(), 'newtos-tso-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const pcapPath = join(dir, 'far.pcap');
  const dump = spawn('ip', ['netns', 'exec', far, 'tcpdump', '-i', veth.b, '-n', '-U', '-c', '10', '-w', pcapPath, 'tcp and port 5555'],
    { stdio: ['ignore', 'ignore', 'pipe'] });
  t.after(() => { if (dump.exitCode === null) dump.kill(); });
  let stderr = '';
  dump.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  for (let i = 0; i < 300 && !stderr.includes('listening'); i++) await sleep(10);
  assert.ok(stderr.includes('listening'), `tcpdump did not start: ${stderr}`);

  const payload = Uint8Array.from({ length: 14600 }, (_, i) => (i * 13) & 0xff);
  const frame = tcpSuperFrame(kernelMac, ipv4('10.206.0.2'), ipv4('10.207.0.2'), payload);
  const tx = contiguousSlots(new Uint8Array(SLOT), 1, SLOT);
  tx.memory.set(frame, 0);
  tx.lengths[0] = frame.length;
  assert.equal(tap.transmit(tx, 1), 1);
  assert.equal(tap.offload.txSuperFrames, 1);
  assert.equal(tap.counters.dropped(), 0, JSON.stringify(tap.counters.snapshot().drops));

  const timer = setTimeout(() => dump.kill(), 5000);
  await once(dump, 'exit');
  clearTimeout(timer);
  const file = readPcap(readFileSync(pcapPath));
  assert.ok(file.ok);
  const segments = file.value.records.map((r) => r.data);
  assert.equal(segments.length, 10, stderr);
  const joined: number[] = [];
  for (const s of segments) {
    const v = new DataView(s.buffer, s.byteOffset, s.byteLength);
    const ipLen = v.getUint16(16);
    assert.ok(s.length <= 1514 && ipLen <= 1500, `segment of ${s.length} bytes`);
    assert.ok(verifyChecksum(s, 14, 34), 'IPv4 header checksum valid');
    assert.ok(verifyChecksum(s, 34, 14 + ipLen, pseudoHeaderSum(v.getUint32(26), v.getUint32(30), 6, ipLen - 20)), 'TCP checksum valid');
    joined.push(...s.subarray(54, 14 + ipLen));
  }
  assert.deepEqual(Uint8Array.from(joined), payload);
});
