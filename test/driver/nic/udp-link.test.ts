// Ethernet over UDP: raw-frame datagrams (QEMU dgram / socket,udp) between two
// newtos links on loopback, the exact datagram format a QEMU peer sees, drop
// reasons, and VXLAN against the Linux kernel's own vxlan device.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { contiguousSlots, formatMac } from '../../../src/driver/nic/backend.js';
import { UdpLink, VxlanLink } from '../../../src/driver/nic/udp-link.js';
import { emitVxlanHeader } from '../../../src/wire/vxlan.js';
import { receiveFrames, testFrame, transmitFrames } from '../../support/links.js';
import { ArpPingResponder, ipv4 } from '../../support/frames.js';
import { createRig, requireRoot } from '../../support/netns.js';
import { kernelVtep } from '../../support/vxlan-peer.js';

const MAC_A = Uint8Array.from([0x02, 0, 0, 0, 0, 0x0a]);
const MAC_B = Uint8Array.from([0x02, 0, 0, 0, 0, 0x0b]);

async function rawSocket(): Promise<Socket> {
  const s = createSocket('udp4');
  s.bind(0, '127.0.0.1');
  await once(s, 'listening');
  return s;
}

test('udp link: two links on loopback exchange frames both ways; the listener learns its peer', async (t) => {
  const a = await UdpLink.open({ local: { address: '127.0.0.1', port: 0 }, mac: MAC_A });
  t.after(() => a.close());
  const b = await UdpLink.open({ local: { address: '127.0.0.1', port: 0 }, remote: a.localEndpoint(), mac: MAC_B });
  t.after(() => b.close());
  let wakeups = 0;
  a.setReadableListener(() => { wakeups++; });

  const toA = Array.from({ length: 50 }, (_, i) => testFrame(MAC_B, i, 60 + i * 20));
  await transmitFrames(b, toA);
  const gotA = await receiveFrames(a, toA.length);
  assert.deepEqual(gotA, toA);
  assert.ok(wakeups >= 1);
  assert.deepEqual(a.remoteEndpoint(), b.localEndpoint());

  const toB = Array.from({ length: 20 }, (_, i) => testFrame(MAC_A, 100 + i, 1514));
  await transmitFrames(a, toB);
  assert.deepEqual(await receiveFrames(b, toB.length), toB);
  assert.equal(a.counters.rxFrames, 50);
  assert.equal(b.counters.txFrames, 50);
  assert.equal(a.counters.txBytes, 20 * 1514);
  assert.equal(a.counters.dropped() + b.counters.dropped(), 0);
});

test('udp link: the datagram is exactly the frame (what QEMU -netdev dgram sends and expects)', async (t) => {
  const qemu = await rawSocket();
  t.after(() => qemu.close());
  const q = qemu.address();
  const link = await UdpLink.open({ local: { address: '127.0.0.1', port: 0 }, remote: { address: '127.0.0.1', port: q.port } });
  t.after(() => link.close());
  const frame = testFrame(MAC_A, 7, 300);
  const got = once(qemu, 'message');
  await transmitFrames(link, [frame]);
  const [msg] = await got as [Buffer];
  assert.deepEqual(new Uint8Array(msg), frame);
  qemu.send(Buffer.from(frame), link.localEndpoint().port, '127.0.0.1');
  assert.deepEqual(await receiveFrames(link, 1), [frame]);
});

test('udp link: drops by reason (foreign peer, runt, oversize, slot too small, no peer)', async (t) => {
  const peer = await rawSocket();
  const stranger = await rawSocket();
  t.after(() => { peer.close(); stranger.close(); });
  const link = await UdpLink.open({ local: { address: '127.0.0.1', port: 0 }, remote: { address: '127.0.0.1', port: peer.address().port }, mtu: 1500 });
  t.after(() => link.close());
  const port = link.localEndpoint().port;
  const send = (s: Socket, len: number): void => { s.send(Buffer.alloc(len, 0xab), port, '127.0.0.1'); };
  send(stranger, 100);
  send(peer, 10); // runt
  send(peer, 1600); // over MTU 1500 + 18
  send(peer, 1000); // fine, but will not fit a 500-byte slot
  send(peer, 200); // fine
  const deadline = Date.now() + 3000;
  while (link.queued < 2 && Date.now() < deadline) await sleep(2);
  const small = contiguousSlots(new Uint8Array(4 * 500), 4, 500);
  assert.equal(link.receive(small, 4), 1);
  assert.equal(small.lengths[0], 200);
  const d = link.counters.drops;
  assert.deepEqual([d['rx-foreign-peer'], d['rx-runt'], d['rx-oversize']], [1, 1, 2]);

  const lonely = await UdpLink.open({ local: { address: '127.0.0.1', port: 0 } });
  t.after(() => lonely.close());
  await transmitFrames(lonely, [testFrame(MAC_A, 1)]);
  assert.equal(lonely.counters.drops['tx-no-peer'], 1);
});

test('vxlan link: decapsulates its VNI only, counts foreign, malformed and wrong-VNI datagrams', async (t) => {
  const vtep = await rawSocket();
  t.after(() => vtep.close());
  const link = await VxlanLink.open({ local: { address: '127.0.0.1', port: 0 }, remote: { address: '127.0.0.1', port: vtep.address().port }, vni: 42 });
  t.after(() => link.close());
  const port = link.localEndpoint().port;
  const frame = testFrame(MAC_B, 3, 200);
  const encap = (vni: number, flags = 0x08): Buffer => {
    const b = Buffer.alloc(8 + frame.length);
    emitVxlanHeader(b, 0, vni);
    b[0] = flags;
    b.set(frame, 8);
    return b;
  };
  vtep.send(encap(7), port, '127.0.0.1');
  vtep.send(encap(42, 0x00), port, '127.0.0.1');
  vtep.send(Buffer.from([8, 0, 0]), port, '127.0.0.1');
  vtep.send(encap(42), port, '127.0.0.1');
  assert.deepEqual(await receiveFrames(link, 1), [frame]);
  await sleep(20);
  const d = link.counters.drops;
  assert.deepEqual([d['rx-wrong-vni'], d['rx-bad-encap']], [1, 2]);
  // Outgoing frames carry the I flag and VNI 42.
  const got = once(vtep, 'message');
  await transmitFrames(link, [frame]);
  const [msg] = await got as [Buffer];
  assert.deepEqual([...msg.subarray(0, 8)], [0x08, 0, 0, 0, 0, 0, 42, 0]);
  assert.deepEqual(new Uint8Array(msg.subarray(8)), frame);
  await assert.rejects(VxlanLink.open({ local: { address: '127.0.0.1', port: 0 }, remote: { address: '127.0.0.1' }, vni: 1 << 24 }),
    { code: 'ERR_INVALID_ARG_VALUE' });
});

test('vxlan link: the kernel pings through its vxlan device to a newtos VTEP', async (t) => {
  if (!requireRoot(t, ['ping'])) return;
  const rig = createRig(t);
  const { ns, vx, underRoot, underNs, port } = await kernelVtep(rig, 42, '10.204.0.1/24');

  const mac = Uint8Array.from([0x02, 0x76, 0x78, 0, 0, 0x2a]);
  const link = await VxlanLink.open({ local: { address: underRoot, port }, remote: { address: underNs, port }, vni: 42, mac });
  t.after(() => link.close());
  const responder = new ArpPingResponder(mac, ipv4('10.204.0.2'));
  const slots = contiguousSlots(new Uint8Array(new SharedArrayBuffer(16 * 2048)), 16, 2048);
  const tx = contiguousSlots(new Uint8Array(16 * 2048), 16, 2048);
  let finished = false;
  link.setReadableListener(() => {
    const n = link.receive(slots, 16);
    let out = 0;
    for (let i = 0; i < n; i++) {
      const off = slots.offsets[i]!;
      const reply = responder.answer(slots.memory.subarray(off, off + slots.lengths[i]!));
      if (reply === null) continue;
      tx.memory.set(reply, tx.offsets[out]!);
      tx.lengths[out++] = reply.length;
    }
    if (out > 0 && !finished) link.transmit(tx, out);
  });
  const ping = await rig.exec(ns, ['ping', '-c', '3', '-i', '0.2', '-W', '2', '10.204.0.2'], { allowFailure: true, timeoutMs: 15_000 });
  finished = true;
  assert.equal(ping.code, 0, `ping through vxlan failed:\n${ping.stdout}${ping.stderr}\n${JSON.stringify(link.counters.snapshot())}`);
  assert.ok(responder.stats.arpRequests >= 1 && responder.stats.echoRequests >= 3, JSON.stringify(responder.stats));
  const neigh = await rig.ip(ns, 'neigh', 'show', '10.204.0.2', 'dev', vx);
  assert.ok(neigh.stdout.includes(formatMac(mac)), neigh.stdout);
  assert.equal(link.counters.dropped(), 0, JSON.stringify(link.counters.snapshot().drops));
});
