// The in-process virtual switch: learning, flooding, MTU, back-pressure,
// impairments (loss, delay, rate, reordering), and two real worker threads
// exchanging frames through it into their own substrate packet pools.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { contiguousSlots, RX_FLAG_CSUM_VERIFIED, RX_FLAG_SUPER_FRAME, TX_FLAG_CSUM_PARTIAL, type FrameSlots } from '../../../src/driver/nic/backend.js';
import { tcpChecksumOk } from '../../../src/driver/offload.js';
import { VswitchPort, createVswitch, type VswitchOptions } from '../../../src/driver/nic/vswitch.js';
import type { VswitchWorkerData, VswitchWorkerResult } from './vswitch-worker.js';

const MAC = [0, 1, 2, 3].map((i) => Uint8Array.from([0x02, 0x73, 0x77, 0, 0, i]));
const BROADCAST = new Uint8Array(6).fill(0xff);

function frame(dst: Uint8Array, src: Uint8Array, seq: number, len = 100): Uint8Array {
  const f = new Uint8Array(len);
  f.set(dst, 0); f.set(src, 6); f[12] = 0x88; f[13] = 0xb5;
  new DataView(f.buffer).setUint32(14, seq);
  for (let i = 18; i < len; i++) f[i] = (seq + i) & 0xff;
  return f;
}

function seqOf(f: Uint8Array): number {
  return new DataView(f.buffer, f.byteOffset).getUint32(14);
}

function sw(options: VswitchOptions): VswitchPort[] {
  const d = createVswitch(options);
  return Array.from({ length: options.ports }, (_, p) => new VswitchPort(d, p, { mac: MAC[p]! }));
}

function send(port: VswitchPort, frames: Uint8Array[], slotSize = 2048): number {
  const slots = contiguousSlots(new Uint8Array(frames.length * slotSize), frames.length, slotSize);
  frames.forEach((f, i) => { slots.memory.set(f, slots.offsets[i]!); slots.lengths[i] = f.length; });
  return port.transmit(slots, frames.length);
}

function recv(port: VswitchPort, max = 64, slotSize = 2048): Uint8Array[] {
  const slots: FrameSlots = contiguousSlots(new Uint8Array(max * slotSize), max, slotSize);
  const out: Uint8Array[] = [];
  for (;;) {
    const n = port.receive(slots, max);
    for (let i = 0; i < n; i++) out.push(slots.memory.slice(slots.offsets[i]!, slots.offsets[i]! + slots.lengths[i]!));
    if (n < max) return out;
  }
}

test('vswitch: broadcast floods, unicast goes only to the learnt port', () => {
  const [a, b, c] = sw({ ports: 3 });
  // Every port published its own MAC at attach, so unicast is known at once.
  assert.equal(send(a!, [frame(MAC[1]!, MAC[0]!, 1)]), 1);
  assert.deepEqual(recv(b!).map(seqOf), [1]);
  assert.deepEqual(recv(c!), []);
  send(a!, [frame(BROADCAST, MAC[0]!, 2)]);
  assert.deepEqual(recv(b!).map(seqOf), [2]);
  assert.deepEqual(recv(c!).map(seqOf), [2]);
  // An unknown destination floods too; a source MAC is learnt from traffic.
  const guest = Uint8Array.from([0x02, 0xaa, 0, 0, 0, 1]);
  send(a!, [frame(guest, MAC[0]!, 3)]);
  assert.equal(recv(b!).length + recv(c!).length, 2);
  send(c!, [frame(MAC[0]!, guest, 4)]); // the guest speaks behind port c
  assert.deepEqual(recv(a!).map(seqOf), [4]);
  send(a!, [frame(guest, MAC[0]!, 5)]);
  assert.deepEqual(recv(c!).map(seqOf), [5]);
  assert.deepEqual(recv(b!), []);
  assert.equal(b!.counters.rxFrames, 3);
});

test('vswitch: MTU 1500..65535: oversize frames dropped at the sender, 64 KiB frames pass', () => {
  const [a, b] = sw({ ports: 2, mtu: 65535 });
  const big = frame(MAC[1]!, MAC[0]!, 7, 65535 + 14);
  assert.equal(send(a!, [big, frame(MAC[1]!, MAC[0]!, 8, 65535 + 19)], 70000), 2);
  assert.equal(a!.counters.drops['tx-oversize'], 1);
  const got = recv(b!, 2, 70000);
  assert.equal(got.length, 1);
  assert.deepEqual(got[0], big);
  // Into slots too small for it: counted, not delivered.
  send(a!, [big], 70000);
  assert.deepEqual(recv(b!, 2, 2048), []);
  assert.equal(b!.counters.drops['rx-oversize'], 1);
  const [c] = sw({ ports: 2, mtu: 1500 });
  assert.equal(send(c!, [frame(MAC[1]!, MAC[0]!, 9, 1519)]), 1);
  assert.equal(c!.counters.drops['tx-oversize'], 1);
});

test('vswitch: a full pipe pushes back on unicast; flooding drops per port and counts it', () => {
  const [a, b] = sw({ ports: 2, ringBytes: 8 * 1024 });
  const frames = Array.from({ length: 20 }, (_, i) => frame(MAC[1]!, MAC[0]!, i, 1000));
  const accepted = send(a!, frames);
  assert.ok(accepted > 0 && accepted < 20, `accepted ${accepted}`);
  assert.deepEqual(recv(b!).map(seqOf), frames.slice(0, accepted).map(seqOf));
  assert.equal(send(a!, frames.slice(accepted)), Math.min(20 - accepted, accepted));
  const bcast = Array.from({ length: 20 }, (_, i) => frame(BROADCAST, MAC[0]!, 100 + i, 1000));
  assert.equal(send(a!, bcast), 20);
  assert.ok(a!.counters.drops['tx-egress-full'] > 0);
});

test('vswitch: a point-to-point link pushes back on broadcast frames too (none dropped)', () => {
  const [a, b] = sw({ ports: 2, ringBytes: 8 * 1024, pointToPoint: true });
  const bcast = Array.from({ length: 20 }, (_, i) => frame(BROADCAST, MAC[0]!, i, 1000));
  const accepted = send(a!, bcast);
  assert.ok(accepted > 0 && accepted < 20, `accepted ${accepted}`);
  assert.equal(a!.counters.drops['tx-egress-full'], 0);
  assert.deepEqual(recv(b!).map(seqOf), bcast.slice(0, accepted).map(seqOf));
  assert.throws(() => createVswitch({ ports: 3, pointToPoint: true }), { code: 'ERR_INVALID_ARG_VALUE' });
});

test('vswitch: loss drops the configured share, deterministically from the seed', () => {
  const run = (): number[] => {
    const [a, b] = sw({ ports: 2, ringBytes: 1 << 20, impairments: { loss: 0.3, seed: 42 } });
    const frames = Array.from({ length: 1000 }, (_, i) => frame(MAC[1]!, MAC[0]!, i, 64));
    for (let i = 0; i < 1000; i += 100) send(a!, frames.slice(i, i + 100));
    const got = recv(b!, 1000).map(seqOf);
    assert.equal(got.length + a!.counters.drops['tx-link-loss'], 1000);
    return got;
  };
  const first = run();
  assert.ok(first.length > 600 && first.length < 800, `${first.length} of 1000 delivered`);
  assert.deepEqual(run(), first);
});

test('vswitch: delay and link rate hold frames until due; waitReadable wakes for them', () => {
  // A long delay, so that a loaded machine cannot take longer between send and first recv.
  const [a, b] = sw({ ports: 2, impairments: { delayMs: 400 } });
  const t0 = performance.now();
  send(a!, [frame(MAC[1]!, MAC[0]!, 1)]);
  assert.deepEqual(recv(b!), []);
  assert.ok(b!.nextDueMs() > Date.now());
  assert.equal(b!.waitReadable(2000), true);
  assert.deepEqual(recv(b!).map(seqOf), [1]);
  assert.ok(performance.now() - t0 >= 395, `delivered after ${performance.now() - t0} ms`);

  // 10 frames of 1250 bytes at 1 Mbit/s: 10 ms each on the wire.
  const [c, d] = sw({ ports: 2, impairments: { rateBps: 1e6 } });
  const t1 = performance.now();
  send(c!, Array.from({ length: 10 }, (_, i) => frame(MAC[1]!, MAC[0]!, i, 1250)));
  const got: number[] = [];
  while (got.length < 10 && d!.waitReadable(2000)) got.push(...recv(d!).map(seqOf));
  assert.deepEqual(got, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.ok(performance.now() - t1 >= 90, `10 frames took ${performance.now() - t1} ms`);
});

test('vswitch: reordering delivers every frame, some after their successor', () => {
  const [a, b] = sw({ ports: 2, impairments: { reorder: 0.25, seed: 7 } });
  const frames = Array.from({ length: 200 }, (_, i) => frame(MAC[1]!, MAC[0]!, i, 80));
  send(a!, frames);
  const got: number[] = [];
  while (got.length < 200 && b!.waitReadable(500)) got.push(...recv(b!).map(seqOf));
  assert.deepEqual([...got].sort((x, y) => x - y), frames.map(seqOf));
  const inversions = got.filter((s, i) => i > 0 && s < got[i - 1]!).length;
  assert.ok(inversions > 10, `${inversions} inversions`);
});

function runWorker(data: VswitchWorkerData): Promise<VswitchWorkerResult> {
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL('./vswitch-worker.js', import.meta.url), { workerData: data });
    w.once('message', (m: VswitchWorkerResult) => resolve(m));
    w.once('error', reject);
    w.once('exit', (code) => { if (code !== 0) reject(new Error(`worker exited ${code}`)); });
  });
}

test('vswitch: two worker threads exchange 20000 frames into their own packet pools, in order, intact', async () => {
  const descriptor = createVswitch({ ports: 2, mtu: 1500 });
  const frames = 20000;
  const common = { descriptor, frames, frameLen: 1514 };
  const [source, echo] = await Promise.all([
    runWorker({ ...common, role: 'source', port: 0, mac: [...MAC[0]!], peerMac: [...MAC[1]!] }),
    runWorker({ ...common, role: 'echo', port: 1, mac: [...MAC[1]!], peerMac: [...MAC[0]!] }),
  ]);
  assert.equal(source.sent, frames);
  assert.equal(source.received, frames);
  assert.equal(echo.received, frames);
  assert.ok(source.inOrder, 'echoes arrive in order');
  assert.ok(source.contentOk, 'echoed bytes intact');
});

test('vswitch: an event-loop port is told when frames arrive (Atomics.waitAsync), and stops on close', async () => {
  const [a, b] = sw({ ports: 2, impairments: { delayMs: 5 } });
  const got: number[] = [];
  let resolveAll: () => void = () => {};
  const all = new Promise<void>((r) => { resolveAll = r; });
  b!.setReadableListener(() => {
    got.push(...recv(b!).map(seqOf));
    if (got.length === 30) resolveAll();
  });
  for (let i = 0; i < 3; i++) {
    send(a!, Array.from({ length: 10 }, (_, k) => frame(MAC[1]!, MAC[0]!, i * 10 + k)));
    await new Promise((r) => setTimeout(r, 10));
  }
  await all;
  assert.deepEqual(got, Array.from({ length: 30 }, (_, i) => i));
  await b!.close();
  assert.throws(() => b!.receive(contiguousSlots(new Uint8Array(2048), 1, 2048), 1), { code: 'ERR_NIC_CLOSED' });
});

test('vswitch: a frame keeps its address residue modulo 8 across the switch (word-sized copies), every residue', () => {
  const [a, b] = sw({ ports: 2 });
  send(b!, [frame(MAC[0]!, MAC[1]!, 1)]); // learn b's MAC
  recv(a!);
  for (let r = 0; r < 8; r++) {
    const mem = new Uint8Array(new SharedArrayBuffer(4096));
    const f = frame(MAC[1]!, MAC[0]!, 100 + r, 300 + r);
    mem.set(f, 64 + r);
    const tx: FrameSlots = { memory: mem, offsets: Uint32Array.of(64 + r), lengths: Uint32Array.of(f.length), capacity: 2048 };
    assert.equal(a!.transmit(tx, 1), 1);
    const rxMem = new Uint8Array(new SharedArrayBuffer(8192));
    const rx: FrameSlots = { memory: rxMem, offsets: Uint32Array.of(1024, 3072), lengths: new Uint32Array(2), capacity: 2048 };
    assert.equal(b!.receive(rx, 2), 1);
    const at = rx.offsets[0]!;
    assert.equal((rxMem.byteOffset + at) & 7, r, `residue ${r} kept`);
    assert.ok(at >= 1024 && at < 1032, 'moved forward by less than 8');
    assert.deepEqual(rxMem.subarray(at, at + rx.lengths[0]!), f);
  }
  // A slot too small for the shift still gets the frame, unshifted.
  const mem = new Uint8Array(4096);
  const f = frame(MAC[1]!, MAC[0]!, 999, 1500);
  mem.set(f, 5);
  a!.transmit({ memory: mem, offsets: Uint32Array.of(5), lengths: Uint32Array.of(f.length), capacity: 2048 }, 1);
  const rx: FrameSlots = { memory: new Uint8Array(4096), offsets: Uint32Array.of(0), lengths: new Uint32Array(1), capacity: 1500 };
  assert.equal(b!.receive(rx, 1), 1);
  assert.equal(rx.offsets[0], 0);
  assert.deepEqual(rx.memory.subarray(0, 1500), f);
});

/** A TCP/IPv4 frame from `src` to `dst` with `payload` bytes and an unfilled (zero) TCP checksum. */
function tcpFrame(dst: Uint8Array, src: Uint8Array, payload: number): Uint8Array {
  const f = new Uint8Array(14 + 20 + 20 + payload);
  f.set(dst, 0); f.set(src, 6); f[12] = 0x08; f[13] = 0x00;
  const ip = 14;
  f[ip] = 0x45; f[ip + 2] = (20 + 20 + payload) >> 8; f[ip + 3] = (20 + 20 + payload) & 0xff; f[ip + 8] = 64; f[ip + 9] = 6;
  f.set([10, 0, 0, 2], ip + 12); f.set([10, 0, 0, 1], ip + 16);
  const tcp = ip + 20;
  f[tcp] = 0x9c; f[tcp + 1] = 0x40; f[tcp + 3] = 80; f[tcp + 12] = 5 << 4; f[tcp + 13] = 0x18;
  for (let i = 0; i < payload; i++) f[tcp + 20 + i] = (i * 31) & 0xff;
  return f;
}

test('vswitch: checksum offload — a partial TCP checksum reaches an offload port flagged verified and unfilled, and is completed for a port without offload', () => {
  const d = createVswitch({ ports: 3 });
  const a = new VswitchPort(d, 0, { mac: MAC[0]!, checksumOffload: true });
  const b = new VswitchPort(d, 1, { mac: MAC[1]!, checksumOffload: true });
  const c = new VswitchPort(d, 2, { mac: MAC[2]! });
  const sendPartial = (to: Uint8Array): void => {
    const f = tcpFrame(to, MAC[0]!, 1000);
    const slots = { ...contiguousSlots(new Uint8Array(2048), 1, 2048), txFlags: Uint8Array.of(TX_FLAG_CSUM_PARTIAL) };
    slots.memory.set(f, 0); slots.lengths[0] = f.length;
    assert.equal(a.transmit(slots, 1), 1);
  };
  const recvFlagged = (port: VswitchPort): { frame: Uint8Array; flags: number } => {
    const slots = { ...contiguousSlots(new Uint8Array(2048), 1, 2048), flags: new Uint8Array(1) };
    assert.equal(port.receive(slots, 1), 1);
    return { frame: slots.memory.slice(slots.offsets[0]!, slots.offsets[0]! + slots.lengths[0]!), flags: slots.flags[0]! };
  };
  sendPartial(MAC[1]!);
  const atB = recvFlagged(b);
  assert.equal(atB.flags & RX_FLAG_CSUM_VERIFIED, RX_FLAG_CSUM_VERIFIED);
  assert.equal((atB.frame[50]! << 8) | atB.frame[51]!, 0, 'left unfilled for the offload port');
  sendPartial(MAC[2]!);
  const atC = recvFlagged(c);
  assert.equal(atC.flags, 0);
  assert.ok(tcpChecksumOk(atC.frame, 14, 34, 1020), 'completed for the port without offload');
  assert.equal(a.checksumsCompleted, 1);
  // Flooded (broadcast): one port without offload means the sender completes it for all.
  sendPartial(BROADCAST);
  for (const port of [b, c]) {
    const r = recvFlagged(port);
    assert.equal(r.flags, 0);
    assert.ok(tcpChecksumOk(r.frame, 14, 34, 1020));
  }
  // A port without offload never passes a partial checksum on, whatever the flag says.
  const f = tcpFrame(MAC[1]!, MAC[2]!, 100);
  const slots = { ...contiguousSlots(new Uint8Array(2048), 1, 2048), txFlags: Uint8Array.of(TX_FLAG_CSUM_PARTIAL) };
  slots.memory.set(f, 0); slots.lengths[0] = f.length;
  c.transmit(slots, 1);
  assert.equal(recvFlagged(b).flags, 0);
});

test('vswitch: segmentation offload — a 64 KiB TCP burst crosses whole to a port with tso (flagged super-frame, checksum left to the offload port), never to a port without', () => {
  const d = createVswitch({ ports: 3, mtu: 1500 });
  const a = new VswitchPort(d, 0, { mac: MAC[0]!, checksumOffload: true, tso: true });
  const b = new VswitchPort(d, 1, { mac: MAC[1]!, checksumOffload: true, tso: true });
  const c = new VswitchPort(d, 2, { mac: MAC[2]!, checksumOffload: true });
  const size = 65535 - 40;
  const burst = (to: Uint8Array): FrameSlots & { gsoSizes: Uint32Array } => {
    const f = tcpFrame(to, MAC[0]!, size);
    const slots = { ...contiguousSlots(new Uint8Array(70_000), 1, 70_000), gsoSizes: Uint32Array.of(1460) };
    slots.memory.set(f, 0); slots.lengths[0] = f.length;
    return slots;
  };
  const toB = burst(MAC[1]!);
  assert.equal(a.acceptsSuperFrame(toB.memory, 0, toB.lengths[0]!), true);
  assert.equal(a.transmit(toB, 1), 1);
  const slots = { ...contiguousSlots(new Uint8Array(70_000), 1, 70_000), flags: new Uint8Array(1) };
  assert.equal(b.receive(slots, 1), 1);
  assert.equal(slots.lengths[0], 14 + 65535);
  assert.equal(slots.flags[0], RX_FLAG_SUPER_FRAME | RX_FLAG_CSUM_VERIFIED);
  assert.deepEqual(slots.memory.subarray(slots.offsets[0]!, slots.offsets[0]! + slots.lengths[0]!), toB.memory.subarray(0, 14 + 65535));
  // c takes no super-frames: the sender's driver must cut the burst; sent anyway, it is dropped and counted.
  const toC = burst(MAC[2]!);
  assert.equal(a.acceptsSuperFrame(toC.memory, 0, toC.lengths[0]!), false);
  assert.equal(a.transmit(toC, 1), 1);
  assert.equal(a.counters.drops['tx-oversize'], 1);
  assert.deepEqual(recv(c, 4, 70_000), []);
  // Nor to a broadcast.
  const bc = burst(BROADCAST);
  assert.equal(a.acceptsSuperFrame(bc.memory, 0, bc.lengths[0]!), false);
});
