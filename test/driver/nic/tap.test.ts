// The TAP backend against the real kernel: the kernel pings an address on the
// TAP's far side, and this test, reading the kernel's frames through the addon,
// answers its ARP request and echo requests.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { contiguousSlots, formatMac, type FrameSlots } from '../../../src/driver/nic/backend.js';
import { TapBackend, loadTapAddon, type TapAddon } from '../../../src/driver/nic/tap.js';
import { PcapCapture } from '../../../src/driver/nic/capture.js';
import { readPcap } from '../../../src/wire/pcap.js';
import { createRig, requireRoot, rigUnavailableReason } from '../../support/netns.js';
import { ArpPingResponder, ipv4 } from '../../support/frames.js';

const OUR_MAC = Uint8Array.from([0x02, 0x6e, 0x74, 0x6f, 0x73, 0x01]);

/** Serve ARP/ping on `tap` until `done` settles; returns frames answered. */
async function serve(tap: TapBackend, responder: ArpPingResponder, done: Promise<unknown>): Promise<void> {
  let finished = false;
  void done.finally(() => { finished = true; });
  const rx = contiguousSlots(new Uint8Array(new SharedArrayBuffer(32 * 2048)), 32, 2048);
  const txMemory = new Uint8Array(32 * 2048);
  const tx = contiguousSlots(txMemory, 32, 2048);
  while (!finished) {
    tap.waitReadable(10);
    const n = tap.receive(rx, 32);
    let out = 0;
    for (let i = 0; i < n; i++) {
      const off = rx.offsets[i]!;
      const reply = responder.answer(rx.memory.subarray(off, off + rx.lengths[i]!));
      if (reply === null) continue;
      txMemory.set(reply, tx.offsets[out]!);
      tx.lengths[out++] = reply.length;
    }
    if (out > 0) assert.equal(tap.transmit(tx, out), out);
    await yieldToLoop();
  }
}

test('tap: the kernel pings through a TAP device answered from TypeScript', async (t) => {
  if (!requireRoot(t, ['ping'])) return;
  const rig = createRig(t);
  const tap = TapBackend.open({ name: rig.linkName('ntos'), mac: OUR_MAC });
  t.after(() => tap.close());
  rig.adoptRootLink(tap.name);
  assert.match(tap.name, /^ntos[0-9a-f]{6}/);
  const ns = await rig.netns();
  await rig.moveLink(tap.name, ns); // the fd stays attached to the device
  await rig.addr(ns, tap.name, '10.201.0.1/24');
  await rig.up(ns, tap.name);

  const responder = new ArpPingResponder(OUR_MAC, ipv4('10.201.0.2'));
  const { capture, bytes } = PcapCapture.inMemory();
  capture.attach(tap);
  const ping = rig.exec(ns, ['ping', '-c', '3', '-i', '0.2', '-W', '2', '10.201.0.2'], { allowFailure: true, timeoutMs: 15_000 });
  await serve(tap, responder, ping);
  capture.close();
  const result = await ping;
  assert.equal(result.code, 0, `ping failed:\n${result.stdout}${result.stderr}`);
  assert.match(result.stdout, /3 received/);
  assert.ok(responder.stats.arpRequests >= 1, 'saw the kernel ARP request');
  assert.ok(responder.stats.echoRequests >= 3, 'saw three echo requests');
  const neigh = await rig.ip(ns, 'neigh', 'show', '10.201.0.2');
  assert.ok(neigh.stdout.includes(formatMac(OUR_MAC)), `kernel learned our MAC: ${neigh.stdout}`);
  const c = tap.counters;
  assert.ok(c.rxFrames >= 4 && c.txFrames >= 4, JSON.stringify(c.snapshot()));
  assert.equal(c.dropped(), 0, JSON.stringify(c.snapshot().drops));
  // The capture saw the exchange: ARP request in, reply out, echo requests in, replies out.
  const file = readPcap(bytes());
  assert.ok(file.ok);
  const kinds = file.value.records.map((r) => {
    const d = r.data;
    const type = (d[12]! << 8) | d[13]!;
    if (type === 0x0806) return `arp-${d[21]}`;
    if (type === 0x0800 && d[23] === 1) return `icmp-${d[14 + (d[14]! & 15) * 4]}`;
    return 'other';
  });
  assert.ok(kinds.includes('arp-1') && kinds.includes('arp-2'), kinds.join(','));
  assert.equal(kinds.filter((k) => k === 'icmp-8').length, 3, kinds.join(','));
  assert.equal(kinds.filter((k) => k === 'icmp-0').length, 3, kinds.join(','));
});

test('tap: frames larger than the slot are dropped and counted, the link keeps working', async (t) => {
  if (!requireRoot(t, ['ping'])) return;
  const rig = createRig(t);
  const tap = TapBackend.open({ name: rig.linkName('ntos'), mac: OUR_MAC, mtu: 1500 });
  t.after(() => tap.close());
  rig.adoptRootLink(tap.name);
  const ns = await rig.netns();
  await rig.moveLink(tap.name, ns);
  await rig.addr(ns, tap.name, '10.202.0.1/24');
  await rig.up(ns, tap.name);
  // Static neighbour entry: no ARP needed, the kernel sends the echo request at once.
  await rig.ip(ns, 'neigh', 'add', '10.202.0.2', 'lladdr', formatMac(OUR_MAC), 'dev', tap.name);
  const big = rig.exec(ns, ['ping', '-c', '1', '-W', '1', '-s', '1000', '10.202.0.2'], { allowFailure: true });
  // Receive into 200-byte slots: the 1042-byte echo request does not fit.
  const small: FrameSlots = contiguousSlots(new Uint8Array(8 * 200), 8, 200);
  for (let i = 0; i < 100 && tap.counters.drops['rx-oversize'] === 0; i++) {
    tap.waitReadable(20);
    tap.receive(small, 8);
    await yieldToLoop();
  }
  await big;
  assert.ok(tap.counters.drops['rx-oversize'] >= 1, JSON.stringify(tap.counters.snapshot()));
  // Small frames still arrive into the same slots.
  const responder = new ArpPingResponder(OUR_MAC, ipv4('10.202.0.2'));
  const ping = rig.exec(ns, ['ping', '-c', '1', '-W', '2', '10.202.0.2'], { allowFailure: true });
  await serve(tap, responder, ping);
  assert.equal((await ping).code, 0);
});

test('tap: transmit drops runts and oversized frames by reason, sends the rest', async (t) => {
  if (!requireRoot(t)) return;
  const rig = createRig(t);
  const tap = TapBackend.open({ name: rig.linkName('ntos'), mac: OUR_MAC, mtu: 1500 });
  t.after(() => tap.close());
  rig.adoptRootLink(tap.name);
  const memory = new Uint8Array(4 * 2048);
  const slots = contiguousSlots(memory, 4, 2048);
  slots.lengths.set([60, 10, 1600, 60]);
  // The device is down: the kernel refuses writes with EIO; they count as tx-error.
  assert.equal(tap.transmit(slots, 4), 4);
  assert.equal(tap.counters.drops['tx-runt'], 1);
  assert.equal(tap.counters.drops['tx-oversize'], 1);
  assert.equal(tap.counters.drops['tx-error'], 2);
  assert.equal(tap.counters.lastError, 'EIO');
  assert.equal(tap.counters.txFrames, 0);
  assert.equal(tap.counters.txBytes, 0);
});

test('tap: without the addon the backend throws ERR_TAP_UNAVAILABLE with the reason', (t) => {
  const saved = process.env.NEWTOS_TAP_ADDON;
  process.env.NEWTOS_TAP_ADDON = '/nonexistent/tap.node';
  t.after(() => {
    if (saved === undefined) delete process.env.NEWTOS_TAP_ADDON; else process.env.NEWTOS_TAP_ADDON = saved;
  });
  assert.throws(() => TapBackend.open({ name: 'x' }), (e: Error & { code?: string }) => {
    assert.equal(e.code, 'ERR_TAP_UNAVAILABLE');
    assert.match(e.message, /missing/);
    return true;
  });
});

test('tap: the addon is built on Linux (npm install builds native/)', (t) => {
  if (process.platform !== 'linux') { t.skip('TAP is Linux-only'); return; }
  if (rigUnavailableReason() !== '') { t.skip('only checked where the kernel tests run (root)'); return; }
  const addon: TapAddon = loadTapAddon();
  assert.equal(typeof addon.readBatch, 'function');
  // Argument validation happens in C and throws, never crashes.
  assert.throws(() => addon.readBatch(-1, new Uint8Array(10), Uint32Array.of(5), 100, new Uint32Array(1), 1, new Uint32Array(3)),
    { code: 'ERR_OUT_OF_RANGE' });
  assert.throws(() => addon.writeBatch(-1, new Uint8Array(10), Uint32Array.of(0), Uint32Array.of(11), 1, new Uint32Array(4)),
    { code: 'ERR_OUT_OF_RANGE' });
  assert.throws(() => (addon.readBatch as (...a: unknown[]) => number)(-1, 'nope'), { code: 'ERR_INVALID_ARG_TYPE' });
  assert.throws(() => addon.close(-1), { code: 'EBADF' });
});
