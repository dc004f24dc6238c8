// The driver server's receive path with a virtual-switch port as its link and IP as a
// recording channel: when every receive buffer is lent out (IP and the transports behind it
// still hold them) the frames waiting in the link are no work. The loop parks and looks at
// the pool again shortly, instead of spinning on an empty pool and taking the core of the
// threads that would give the buffers back (bench:flood on 2 cores).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DRIVER_MSG } from '../../src/abi/protocol.js';
import { createServer, type DriverServerOptions } from '../../src/driver/server.js';
import { createDriverStats, readDriverStats } from '../../src/driver/driver-stats.js';
import { contiguousSlots } from '../../src/driver/nic/backend.js';
import { VswitchPort, createVswitch } from '../../src/driver/nic/vswitch.js';
import { LocalDataStore } from '../../src/substrate/data-store.js';
import { createDoorbell } from '../../src/substrate/doorbell.js';
import { PacketPool, PoolDirectory, createPool } from '../../src/substrate/pool.js';
import type { ServerContext, ServerCore } from '../../src/substrate/server.js';
import { ControlBlock, createControlBlock } from '../../src/substrate/stats.js';
import { RecordingOut } from '../support/recording-out.js';

const DRIVER_MAC = Uint8Array.from([0x02, 0, 0, 0, 0, 1]);
const PEER_MAC = Uint8Array.from([0x02, 0, 0, 0, 0, 2]);
const RX_BUFFERS = 4;

function frame(seq: number): Uint8Array {
  const f = new Uint8Array(60);
  f.set(DRIVER_MAC, 0); f.set(PEER_MAC, 6); f[12] = 0x88; f[13] = 0xb5;
  new DataView(f.buffer).setUint32(14, seq);
  return f;
}

async function rig(): Promise<{ server: ServerCore; peer: VswitchPort; toIp: RecordingOut; pool: PacketPool; buffers: PoolDirectory; stats: SharedArrayBuffer; now: () => number }> {
  const descriptor = createVswitch({ ports: 2 });
  const peer = new VswitchPort(descriptor, 1, { mac: PEER_MAC });
  const rxSab = createPool({ id: 1, bufSize: 2048, count: RX_BUFFERS });
  const pool = new PacketPool(rxSab, 0, 1);
  const buffers = new PoolDirectory(1); // IP's side: gives the frames back
  buffers.add(rxSab);
  const toIp = new RecordingOut('driver.ip', 'ip');
  const stats = createDriverStats();
  const options: DriverServerOptions = {
    interfaces: [{ name: 'eth0', link: { type: 'vswitch', switch: 'sw' }, mac: '02:00:00:00:00:01', addresses: [] }],
    vswitchPorts: { eth0: { descriptor, port: 0 } },
    driverStats: stats,
  };
  const now = (): number => performance.now();
  const ctx: ServerContext = {
    name: 'driver', index: 0, generation: 1, inputs: {}, outputs: { ip: toIp },
    pools: { rx: pool }, buffers: new PoolDirectory(0),
    store: new LocalDataStore('driver', {}, () => {}),
    stats: new ControlBlock(createControlBlock()),
    options: options as unknown as Record<string, unknown>,
    doorbell: createDoorbell(),
    now,
    log: () => {},
  };
  return { server: await createServer(ctx), peer, toIp, pool, buffers, stats, now };
}

function send(peer: VswitchPort, frames: Uint8Array[]): void {
  const slots = contiguousSlots(new Uint8Array(frames.length * 2048), frames.length, 2048);
  frames.forEach((f, i) => { slots.memory.set(f, slots.offsets[i]!); slots.lengths[i] = f.length; });
  assert.equal(peer.transmit(slots, frames.length), frames.length);
}

test('driver rx: with every receive buffer lent out, waiting frames are no work until a buffer comes back', async () => {
  const { server, peer, toIp, buffers, stats, now } = await rig();
  try {
    send(peer, Array.from({ length: 10 }, (_, i) => frame(i)));
    assert.equal(server.hasWork?.(), true, 'frames wait and buffers are free');
    server.poll?.(now());
    const lent = toIp.take();
    assert.deepEqual(lent.map((m) => m.type), Array(RX_BUFFERS).fill(DRIVER_MSG.FRAME_RX), 'one frame per buffer');
    // IP still holds all of them: the next receive finds no buffer to post.
    const t = now();
    server.poll?.(t);
    assert.equal(toIp.take().length, 0);
    assert.equal(server.hasWork?.(), false, 'no buffer to receive into: park, do not spin');
    const at = server.pollAt?.() ?? Infinity;
    assert.ok(at > t && at - t <= 1, `looks at the pool again shortly (pollAt ${at - t} ms from now)`);
    // IP gives one back: the frames are work again and the next one comes in.
    buffers.giveBack(lent[0]!);
    assert.equal(server.hasWork?.(), true, 'a buffer came back');
    server.poll?.(now());
    assert.equal(toIp.take().length, 1);
  } finally {
    server.onStop?.();
  }
  assert.equal(readDriverStats(stats, 1).rxNoBufferEpisodes, 1, 'counted once (published at stop)');
});

// Copybreak: with segment-size receive buffers (a TAP's super-frames) a small frame leaves in a
// frame-size copy and the big buffer stays posted, so a burst of small frames is not limited by
// the few big buffers (bench:flood: 512 segment buffers held 5 ms of a 100k SYN/s flood).
test('driver rx: small frames go on in frame-size copies while the segment-size buffers stay posted; without a small buffer they go in the big ones', async () => {
  const descriptor = createVswitch({ ports: 2 });
  const peer = new VswitchPort(descriptor, 1, { mac: PEER_MAC });
  const bigSab = createPool({ id: 1, bufSize: 65536, count: 2 });
  const smallSab = createPool({ id: 2, bufSize: 2048, count: 3 });
  const big = new PacketPool(bigSab, 0, 1);
  const small = new PacketPool(smallSab, 0, 1);
  const toIp = new RecordingOut('driver.ip', 'ip');
  const stats = createDriverStats();
  const now = (): number => performance.now();
  const server = await createServer({
    name: 'driver', index: 0, generation: 1, inputs: {}, outputs: { ip: toIp },
    pools: { rx: big, rxsmall: small }, buffers: new PoolDirectory(0),
    store: new LocalDataStore('driver', {}, () => {}),
    stats: new ControlBlock(createControlBlock()),
    options: {
      interfaces: [{ name: 'eth0', link: { type: 'vswitch', switch: 'sw' }, mac: '02:00:00:00:00:01', addresses: [] }],
      vswitchPorts: { eth0: { descriptor, port: 0 } },
      driverStats: stats,
    } as unknown as Record<string, unknown>,
    doorbell: createDoorbell(),
    now,
    log: () => {},
  });
  try {
    const frames = Array.from({ length: 6 }, (_, i) => frame(i));
    send(peer, frames);
    for (let i = 0; i < 3 && toIp.messages.length < 5; i++) server.poll?.(now());
    const got = toIp.take();
    // Three small copies, then (no small buffer left) the two big buffers; the sixth waits.
    assert.deepEqual(got.map((m) => m.pool), [2, 2, 2, 1, 1], 'small pool first, then the big one');
    got.forEach((m, i) => {
      const pool = m.pool === 2 ? small : big;
      assert.deepEqual([...pool.bytes.subarray(m.offset, m.offset + m.length)], [...frames[i]!], `frame ${i} intact`);
    });
    const smallOne = got[0]!;
    assert.equal((smallSab.byteLength > 0 ? small.bytes.byteOffset + smallOne.offset : 0) % 8, (big.bytes.byteOffset + big.payloadOffset(0)) % 8, 'the copy keeps the address residue mod 8 of where it was read');
  } finally {
    server.onStop?.();
  }
  assert.equal(readDriverStats(stats, 1).rxCopied, 3);
});
