// The driver server's transmit path: software GSO into a virtual-switch port whose ring takes
// a burst only in part. The driver keeps its place in that burst for when the message comes
// again; a burst of another channel (each replica's IP has its own) that comes first must be
// cut and sent itself, not be taken for the half-sent one and given back unsent, and both
// resume where they stopped when offered in turn.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DRIVER_MSG } from '../../src/abi/protocol.js';
import { FrameTx } from '../../src/abi/message-args.js';
import { TxFlag } from '../../src/abi/protocol.js';
import { createServer, type DriverServerOptions } from '../../src/driver/server.js';
import { createDriverStats, readDriverStats } from '../../src/driver/driver-stats.js';
import { contiguousSlots } from '../../src/driver/nic/backend.js';
import { VswitchPort, createVswitch } from '../../src/driver/nic/vswitch.js';
import { LocalDataStore } from '../../src/substrate/data-store.js';
import { createDoorbell } from '../../src/substrate/doorbell.js';
import { MSG_WORDS, MessageView } from '../../src/substrate/message.js';
import { PacketPool, PoolDirectory, createPool } from '../../src/substrate/pool.js';
import type { InChannel } from '../../src/substrate/channel.js';
import type { ServerContext } from '../../src/substrate/server.js';
import { ControlBlock, createControlBlock } from '../../src/substrate/stats.js';
import { RecordingOut } from '../support/recording-out.js';

const DRIVER_MAC = [0x02, 0, 0, 0, 0, 1];
const PEER_MAC = [0x02, 0, 0, 0, 0, 2];
const MSS = 1000;
const SEGMENTS = 8;

/** An Ethernet/IPv4/TCP burst of SEGMENTS * MSS bytes from port `sport`, each byte its offset mod 251. */
function burst(into: Uint8Array, at: number, sport: number): number {
  const payload = SEGMENTS * MSS;
  const f = into.subarray(at, at + 14 + 20 + 20 + payload);
  f.set(PEER_MAC, 0); f.set(DRIVER_MAC, 6); f[12] = 0x08; f[13] = 0x00;
  const v = new DataView(f.buffer, f.byteOffset, f.length);
  v.setUint8(14, 0x45); v.setUint16(16, 40 + payload); v.setUint8(22, 64); v.setUint8(23, 6);
  v.setUint32(26, 0x0a000001); v.setUint32(30, 0x0a000002);
  v.setUint16(34, sport); v.setUint16(36, 80); v.setUint32(38, 1_000_000); v.setUint8(46, 5 << 4); v.setUint8(47, 0x18);
  for (let i = 0; i < payload; i++) f[54 + i] = i % 251;
  return f.length;
}

test('driver tx: a burst half sent into a full switch port does not swallow another channel\'s burst', async () => {
  const descriptor = createVswitch({ ports: 2, ringBytes: 5 * 1600 });
  const peer = new VswitchPort(descriptor, 1, { mac: Uint8Array.from(PEER_MAC) });
  const rxSab = createPool({ id: 1, bufSize: 2048, count: 8 });
  const txSab = createPool({ id: 2, bufSize: 16384, count: 4 });
  const tx = new PacketPool(txSab, 1, 1);
  const buffers = new PoolDirectory(0);
  buffers.add(txSab);
  const stats = createDriverStats();
  const options: DriverServerOptions = {
    interfaces: [{ name: 'eth0', link: { type: 'vswitch', switch: 'sw' }, mac: '02:00:00:00:00:01', addresses: [] }],
    vswitchPorts: { eth0: { descriptor, port: 0 } },
    driverStats: stats,
  };
  const ctx: ServerContext = {
    name: 'driver', index: 0, generation: 1, inputs: {}, outputs: { ip: new RecordingOut('driver.ip', 'ip') },
    pools: { rx: new PacketPool(rxSab, 0, 1) }, buffers,
    store: new LocalDataStore('driver', {}, () => {}),
    stats: new ControlBlock(createControlBlock()),
    options: options as unknown as Record<string, unknown>,
    doorbell: createDoorbell(),
    now: () => performance.now(),
    log: () => {},
  };
  const server = await createServer(ctx);
  // The switch learns the peer's MAC (a frame from it), so frames to it wait for room instead of being flooded and dropped.
  const hello = contiguousSlots(new Uint8Array(2048), 1, 2048);
  hello.memory.set([...Uint8Array.from(DRIVER_MAC), ...Uint8Array.from(PEER_MAC), 0x88, 0xb5], 0); hello.lengths[0] = 60;
  assert.equal(peer.transmit(hello, 1), 1);

  const message = (sport: number): MessageView => {
    const i = tx.alloc();
    const len = burst(tx.bytes, tx.payloadOffset(i), sport);
    const m = new MessageView(new Int32Array(MSG_WORDS)).set(DRIVER_MSG.FRAME_TX, 1, 0);
    tx.lend(m, i, len);
    m.setArg(FrameTx.iface, 0).setArg(FrameTx.txFlags, TxFlag.Gso).setArg(FrameTx.gsoMss, MSS);
    return m;
  };
  const from = {} as InChannel;
  const received = new Map<number, number[]>();
  const drain = (): void => {
    const slots = contiguousSlots(new Uint8Array(64 * 2048), 64, 2048);
    const n = peer.receive(slots, 64);
    for (let k = 0; k < n; k++) {
      const f = slots.memory.subarray(slots.offsets[k]!, slots.offsets[k]! + slots.lengths[k]!);
      if (f[12] !== 0x08) continue;
      const v = new DataView(f.buffer, f.byteOffset, f.length);
      const sport = v.getUint16(34);
      const off = v.getUint32(38) - 1_000_000;
      // Each segment's bytes are the burst's bytes at its offset.
      for (let j = 54; j < f.length; j++) assert.equal(f[j], (off + j - 54) % 251, `port ${sport} byte ${off + j - 54}`);
      received.set(sport, [...(received.get(sport) ?? []), off]);
    }
  };
  const a = message(1111);
  const b = message(2222);
  assert.equal(server.onMessage(a, from, performance.now()), false, 'the port takes only part of the first burst');
  drain();
  const aFirst = received.get(1111)?.length ?? 0;
  assert.ok(aFirst > 0 && aFirst < SEGMENTS, `part of the burst went (${aFirst} of ${SEGMENTS})`);
  // Another channel's burst comes before the first one is offered again.
  assert.equal(server.onMessage(b, from, performance.now()), false, 'the second burst is cut and waits for room itself');
  drain();
  for (let round = 0; round < 20; round++) {
    const aDone = server.onMessage(a, from, performance.now());
    drain();
    const bDone = server.onMessage(b, from, performance.now());
    drain();
    if (aDone && bDone) break;
  }
  const offsets = (p: number): number[] => (received.get(p) ?? []).sort((x, y) => x - y);
  const all = Array.from({ length: SEGMENTS }, (_, k) => k * MSS);
  // Each segment once: each burst resumed where it stopped.
  assert.deepEqual(offsets(2222), all, 'every segment of the second burst, once');
  assert.deepEqual(offsets(1111), all, 'every segment of the first burst, once');
  server.poll?.(performance.now()); // publishes the counters
  const s = readDriverStats(stats, 1);
  assert.deepEqual([s.gsoBursts, s.gsoSegments, s.gsoRestarted], [2, 2 * SEGMENTS, 0]);
  peer.close?.();
});
