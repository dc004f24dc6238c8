// Worker side of the virtual-switch tests: one host's driver loop on one port,
// receiving straight into its own substrate packet pool. Loaded by
// vswitch.test.ts; the test runner also loads it as a file, where it does nothing.
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import type { FrameSlots } from '../../../src/driver/nic/backend.js';
import { VswitchPort, type VswitchDescriptor } from '../../../src/driver/nic/vswitch.js';
import { PacketPool, createPool } from '../../../src/substrate/pool.js';

export interface VswitchWorkerData {
  readonly role: 'source' | 'echo';
  readonly descriptor: VswitchDescriptor;
  readonly port: number;
  readonly mac: number[];
  readonly peerMac: number[];
  readonly frames: number;
  readonly frameLen: number;
}

export interface VswitchWorkerResult {
  readonly sent: number;
  readonly received: number;
  readonly inOrder: boolean;
  readonly contentOk: boolean;
  readonly elapsedMs: number;
  readonly parks: number;
}

const BATCH = 32;
/** The echo's hello frame: a minimum-size Ethernet frame, ethertype 0x88b6. */
const ETH_MIN_FRAME = 60;

function slotsFromPool(pool: PacketPool, n: number): FrameSlots {
  const offsets = new Uint32Array(n);
  for (let i = 0; i < n; i++) offsets[i] = pool.payloadOffset(pool.alloc());
  return { memory: pool.bytes, offsets, lengths: new Uint32Array(n), capacity: pool.payloadCapacity };
}

function run(data: VswitchWorkerData): VswitchWorkerResult {
  const port = new VswitchPort(data.descriptor, data.port, { mac: Uint8Array.from(data.mac) });
  const bufSize = Math.ceil((data.frameLen + 128) / 64) * 64;
  const pool = new PacketPool(createPool({ id: data.port, bufSize, count: 2 * BATCH }), data.port, 1);
  const rx = slotsFromPool(pool, BATCH);
  const tx = slotsFromPool(pool, BATCH);
  const mem = rx.memory;
  const view = new DataView(mem.buffer);
  // Payload pattern written once per transmit slot; each frame gets its own
  // sequence number, so a lost, duplicated or reordered frame still shows.
  for (let i = 0; i < BATCH; i++) {
    const off = tx.offsets[i]!;
    for (let b = 18; b < data.frameLen; b++) mem[off + b] = (b * 7) & 0xff;
  }
  // The switch learns MACs from what ports send, and floods a frame for a MAC it has not seen,
  // dropping it where the egress ring is full ('tx-egress-full', as a switch does). So the echo
  // says hello first and the source waits for it: else the source's first window, flooded
  // before the echo ever sent, could meet a full ring (a large MTU, an echo thread that had not
  // started reading yet) and be lost, and both sides would wait for it forever.
  const hello = tx.offsets[0]!;
  if (data.role === 'echo') {
    mem.set(data.peerMac, hello);
    mem.set(data.mac, hello + 6);
    mem[hello + 12] = 0x88; mem[hello + 13] = 0xb6;
    const one = { ...tx, offsets: tx.offsets.subarray(0, 1), lengths: Uint32Array.of(ETH_MIN_FRAME) };
    while (port.transmit(one, 1) === 0) port.waitReadable(1);
  } else {
    let greeted = false;
    while (!greeted) {
      const n = port.receive(rx, BATCH);
      for (let i = 0; i < n; i++) if (mem[rx.offsets[i]! + 12] === 0x88 && mem[rx.offsets[i]! + 13] === 0xb6) greeted = true;
      if (!greeted) port.waitReadable(100);
    }
  }
  const start = performance.now();
  let sent = 0;
  let received = 0;
  let inOrder = true;
  let contentOk = true;
  let parks = 0;
  if (data.role === 'echo') {
    while (received < data.frames) {
      const n = port.receive(rx, BATCH);
      if (n === 0) { parks++; port.waitReadable(2000); continue; }
      // Turn each frame around in place: swap the MACs, send the same slots back.
      for (let i = 0; i < n; i++) {
        const off = rx.offsets[i]!;
        mem.copyWithin(off, off + 6, off + 12);
        mem.set(data.peerMac, off);
        mem.set(data.mac, off + 6);
      }
      received += n;
      let done = 0;
      while (done < n) {
        const part = { ...rx, offsets: rx.offsets.subarray(done, n), lengths: rx.lengths.subarray(done, n) };
        done += port.transmit(part, n - done);
        if (done < n) port.waitReadable(1);
      }
      sent += n;
    }
  } else {
    let expect = 0;
    while (received < data.frames) {
      // Keep a window of frames outstanding.
      if (sent < data.frames && sent - received < 4 * BATCH) {
        const k = Math.min(BATCH, data.frames - sent);
        for (let i = 0; i < k; i++) {
          const off = tx.offsets[i]!;
          mem.set(data.peerMac, off);
          mem.set(data.mac, off + 6);
          mem[off + 12] = 0x88; mem[off + 13] = 0xb5;
          view.setUint32(off + 14, sent + i);
          tx.lengths[i] = data.frameLen;
        }
        sent += port.transmit(tx, k);
      }
      const n = port.receive(rx, BATCH);
      for (let i = 0; i < n; i++) {
        const off = rx.offsets[i]!;
        const seq = view.getUint32(off + 14);
        if (seq !== expect) inOrder = false;
        expect = seq + 1;
        if (rx.lengths[i] !== data.frameLen) contentOk = false;
        for (let b = 18 + (seq % 97); b < data.frameLen && contentOk; b += 97) if (mem[off + b] !== ((b * 7) & 0xff)) contentOk = false;
      }
      received += n;
      if (n === 0 && sent - received >= 4 * BATCH) { parks++; port.waitReadable(2000); }
    }
  }
  return { sent, received, inOrder, contentOk, elapsedMs: performance.now() - start, parks };
}

if (!isMainThread && parentPort !== null) {
  parentPort.postMessage(run(workerData as VswitchWorkerData));
}
