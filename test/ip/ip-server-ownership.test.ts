// The IP server's buffer ownership, with the server core in one thread and virtual time: a
// driver's frame it lends to the core comes back exactly when the core says so, never while
// the core still refers to it, and a quiet server holds nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DRIVER_MSG, IP_MSG, PF_MSG, Verdict } from '../../src/abi/protocol.js';
import { createCounterBlock, readCounterBlock, type CounterTree } from '../../src/abi/published-counters.js';
import { createServer, type IpServerOptions } from '../../src/ip/server.js';
import type { InChannel } from '../../src/substrate/channel.js';
import { RecordingOut } from '../support/recording-out.js';
import { LocalDataStore } from '../../src/substrate/data-store.js';
import { createDoorbell } from '../../src/substrate/doorbell.js';
import { BUF_IN_FLIGHT, BUF_RETURNED, MSG_WORDS, NO_POOL } from '../../src/substrate/layout.js';
import { MessageView } from '../../src/substrate/message.js';
import { PacketPool, PoolDirectory, createPool } from '../../src/substrate/pool.js';
import type { ServerContext, ServerCore } from '../../src/substrate/server.js';
import { ControlBlock, createControlBlock } from '../../src/substrate/stats.js';
import { IP_A, IP_B, IP_B2, IP_C, MAC_A, MAC_B, MAC_C, arpFrame, icmpBytes, ipFrame } from './harness.js';

const MAC_B2 = 0x02000000001b;
const IP_INDEX = 0;
const DRIVER_INDEX = 1;

class Rig {
  now = 0;
  readonly driverPool: PacketPool;
  readonly ipPool: PacketPool;
  readonly toDriver = new RecordingOut('ip.driver', 'driver');
  readonly toPf = new RecordingOut('ip.pf', 'pf');
  readonly inputs: Record<'driver' | 'pf' | 'app' | 'tcp' | 'udp', InChannel> = {
    driver: { name: 'ip.driver', peer: 'driver' }, pf: { name: 'ip.pf', peer: 'pf' }, app: { name: 'ip.app', peer: 'app' },
    tcp: { name: 'ip.tcp', peer: 'tcp' }, udp: { name: 'ip.udp', peer: 'udp' },
  };
  readonly counterBlock = createCounterBlock();
  readonly server: ServerCore;

  constructor() {
    const driverSab = createPool({ id: 1, bufSize: 2048, count: 16 });
    const ipSab = createPool({ id: 2, bufSize: 2048, count: 16 });
    this.driverPool = new PacketPool(driverSab, DRIVER_INDEX, 1);
    this.ipPool = new PacketPool(ipSab, IP_INDEX, 1);
    const buffers = new PoolDirectory(IP_INDEX);
    buffers.add(driverSab);
    buffers.add(ipSab);
    const options: IpServerOptions = {
      interfaces: [
        { name: 'eth0', mac: MAC_B, mtu: 1500, addresses: [{ address: IP_B, prefixLen: 24 }] },
        { name: 'eth1', mac: MAC_B2, mtu: 1500, addresses: [{ address: IP_B2, prefixLen: 24 }] },
      ],
      forwarding: true, filter: true, verdictTimeoutMs: 2000, arp: { retransmitMs: 1000, maxProbes: 8 },
      counters: this.counterBlock,
    };
    const ctx: ServerContext = {
      name: 'ip', index: IP_INDEX, generation: 1, inputs: this.inputs,
      outputs: { driver: this.toDriver, pf: this.toPf },
      pools: { ip: this.ipPool }, buffers,
      store: new LocalDataStore('ip', {}, () => {}),
      stats: new ControlBlock(createControlBlock()),
      options: options as unknown as Record<string, unknown>,
      doorbell: createDoorbell(),
      now: () => this.now,
      log: () => {},
    };
    this.server = createServer(ctx) as ServerCore;
    this.toDriver.take(); // the announcements
  }

  /** The driver lends a received frame (as its rx path does); returns the buffer's index. */
  receive(ifIndex: number, frame: Uint8Array): number {
    const i = this.driverPool.alloc();
    assert.ok(i >= 0);
    this.driverPool.bytes.set(frame, this.driverPool.payloadOffset(i));
    const m = new MessageView(new Int32Array(MSG_WORDS)).set(DRIVER_MSG.FRAME_RX, 0, 0);
    this.driverPool.lend(m, i, frame.length);
    m.setArg(0, ifIndex);
    assert.equal(this.server.onMessage(m, this.inputs.driver, this.now), true);
    return i;
  }

  verdict(request: number, verdict: number): void {
    const m = new MessageView(new Int32Array(MSG_WORDS)).set(PF_MSG.VERDICT, 0, 0).setPointer(NO_POOL, 0, 0, 0);
    m.setArg(0, request).setArg(1, verdict);
    assert.equal(this.server.onMessage(m, this.inputs.pf, this.now), true);
  }

  /** The verdict requests sent to PF since the last call: [request id, buffer pool, buffer index]. */
  requests(): [number, number, number][] {
    return this.toPf.take().filter((m) => m.type === IP_MSG.VERDICT_REQUEST)
      .map((m) => [m.arg(0), m.pool, m.pool === 1 ? this.driverPool.indexOf(m.offset) : this.ipPool.indexOf(m.offset)]);
  }

  pollUntil(t: number, step = 50): void {
    for (; this.now <= t; this.now += step) this.server.poll?.(this.now);
    this.now = t;
  }

  driverState(i: number): number { return this.driverPool.state(i) & 3; }

  serverCounters(): Record<string, number> {
    this.server.poll?.(this.now);
    this.server.onIdle?.(this.now); // as the loop's next pass, which finds nothing to do, publishes
    return (readCounterBlock(this.counterBlock) as Record<string, CounterTree>)['server'] as unknown as Record<string, number>;
  }
}

test('a forwarded frame kept for two verdicts and then ARP for more than 5 s is not given back before it leaves, and leaves transferred', () => {
  const rig = new Rig();
  const frame = ipFrame(MAC_B, MAC_A, { src: IP_A, dst: IP_C, protocol: 17 }, new Uint8Array(8));
  const i = rig.receive(0, frame);
  const [[inId, inPool, inIndex]] = rig.requests() as [[number, number, number]];
  assert.deepEqual([inPool, inIndex], [1, i], 'PF reads the frame where it lies');
  rig.pollUntil(1990);
  rig.verdict(inId, Verdict.Accept);
  const [[outId]] = rig.requests() as [[number, number, number]];
  assert.notEqual(rig.driverState(i), BUF_RETURNED, 'kept for the out verdict');
  rig.pollUntil(3980);
  rig.verdict(outId, Verdict.Accept);
  // The next hop is unknown: ARP asks (frames of our own pool) and the frame waits.
  rig.pollUntil(6500);
  assert.notEqual(rig.driverState(i), BUF_RETURNED, 'kept in the ARP queue 6.5 s after it came');
  assert.ok(rig.toDriver.take().every((m) => m.pool !== 1), 'nothing sent from the driver\'s buffer yet');
  rig.now = 6600;
  rig.receive(1, arpFrame(2, MAC_C, IP_C, MAC_B2, IP_B2, MAC_B2));
  const sent = rig.toDriver.take().filter((m) => m.type === DRIVER_MSG.FRAME_TX && m.pool === 1);
  assert.equal(sent.length, 1);
  assert.equal(rig.driverPool.indexOf(sent[0]!.offset), i);
  assert.equal(rig.driverState(i), BUF_IN_FLIGHT, 'transferred with its message');
  rig.pollUntil(7000);
  assert.equal(rig.serverCounters()['held'], 0);
});

test('frames the core is done with go back at once; a quiet server holds no buffer and no copy for PF', () => {
  const rig = new Rig();
  // An echo request for us: PF is asked about it, then about our reply (a copy in our pool for PF to read).
  const request = rig.receive(0, ipFrame(MAC_B, MAC_A, { src: IP_A, dst: IP_B, protocol: 1 }, icmpBytes({ kind: 'echo-request', ident: 1, seq: 1, data: new Uint8Array(8) })));
  const [[inId]] = rig.requests() as [[number, number, number]];
  assert.equal(rig.serverCounters()['held'], 1);
  rig.now = 10;
  rig.verdict(inId, Verdict.Accept);
  assert.equal(rig.driverState(request), BUF_RETURNED, 'answered: given back at once');
  const [[replyId, replyPool]] = rig.requests() as [[number, number, number]];
  assert.equal(replyPool, 2, 'our reply, copied into our pool for PF');
  const free = rig.ipPool.available;
  // PF never answers: the verdict times out, and the copy comes back to our pool then.
  rig.pollUntil(2100);
  assert.equal(rig.ipPool.available, free + 1, 'the copy for PF is freed when its verdict times out');
  rig.verdict(replyId, Verdict.Accept); // too late: ignored
  // A frame dropped on arrival (not for our MAC) goes back in the same call.
  const other = rig.receive(0, ipFrame(0x020000000099, MAC_A, { src: IP_A, dst: IP_B, protocol: 17 }, new Uint8Array(8)));
  assert.equal(rig.driverState(other), BUF_RETURNED);
  rig.pollUntil(2200);
  const c = rig.serverCounters();
  assert.deepEqual([c['held'], c['verdictCopies']], [0, 0], JSON.stringify(c));
});
