/**
 * A one-thread rig around the TCP server core (src/tcp/server.ts) in virtual
 * time: the core gets a real socket table and a real `tcp` packet pool, fake
 * channel endpoints that record what it sends, and a peer that is a second
 * TcpEngine (sans-IO) at REMOTE. The test plays IP (moving segments both ways,
 * and deciding when the pool buffers of sent segments come back, as the driver
 * would after transmitting them), the application (writing the socket block
 * and sending KICK when appWrite says so), and the server loop (poll after a
 * batch, and when idle a park until pollAt or the loop's heartbeat).
 */
import { SeededRng } from '../../src/random/rng.js';
import type { InChannel } from '../../src/substrate/channel.js';
import { RecordingOut } from '../support/recording-out.js';
import { LocalDataStore } from '../../src/substrate/data-store.js';
import { createDoorbell } from '../../src/substrate/doorbell.js';
import { MessageView, MSG_WORDS, NO_POOL } from '../../src/substrate/message.js';
import { PacketPool, PoolDirectory, createPool } from '../../src/substrate/pool.js';
import type { ServerContext, ServerCore } from '../../src/substrate/server.js';
import { ControlBlock, createControlBlock } from '../../src/substrate/stats.js';
import { SocketTable, createSocketTable } from '../../src/abi/socket-table.js';
import type { SocketBlock } from '../../src/abi/socket-block.js';
import { TCP_MSG } from '../../src/abi/protocol.js';
import {
  SegDeliver, TcpAccepted, TcpConnect, TcpConnectReply, TcpKick, TcpListen, TcpListenReply, TcpSegSend, type AnyMessageKind, type ValuesOf,
} from '../../src/abi/message-args.js';
import { TcpEventType, type ConnectionOptions } from '../../src/tcp/config.js';
import { TcpEngine } from '../../src/tcp/engine.js';
import { createServer, type TcpServerOptions } from '../../src/tcp/server.js';

export const LOCAL = 0xc0000201; // 192.0.2.1, the server core
export const REMOTE = 0xc0000202; // 192.0.2.2, the peer engine
export const PEER_PORT = 80;

/** The server loop parks at most this long (src/substrate/server-loop.ts DEFAULT_POLLING.maxParkMs). */
export const LOOP_MAX_PARK_MS = 50;

export interface RigOptions {
  /** Buffers in the server's `tcp` pool. */
  readonly tcpPoolBuffers?: number;
  /** Socket slots in the server's table (default 8). */
  readonly slots?: number;
  readonly connection?: Partial<ConnectionOptions>;
  /** The peer engine's connection options on top of `connection` (e.g. a longer delayed ACK). */
  readonly peerConnection?: Partial<ConnectionOptions>;
}

/** Payload byte at stream position i (so the receiver can check order and integrity). */
export function streamByte(i: number): number {
  return (i * 13 + 5) & 0xff;
}

export function streamBytes(from: number, n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = streamByte(from + i);
  return b;
}

export class TcpServerRig {
  now = 0;
  /** The running core (restart() replaces it with a successor). */
  core: ServerCore;
  readonly table: SocketTable;
  readonly tcpPool: PacketPool;
  /** Segments the core sent that are not delivered to the peer yet. */
  readonly toPeer: MessageView[] = [];
  /** Pool buffers of delivered segments the "driver" still holds (see holdBuffers). */
  readonly heldBuffers: MessageView[] = [];
  /** When true, delivered segments' buffers are kept in heldBuffers instead of given back. */
  holdBuffers = false;
  /** Segments the peer engine sent, not yet delivered to the core. */
  readonly toServer: Uint8Array[] = [];
  readonly sockMessages: MessageView[] = [];
  /** Bytes the peer read from its connection, in order. */
  peerReceived: number[] = [];
  peerConn = -1;
  readonly peer: TcpEngine;
  /** Times at which the core's poll() ran. */
  readonly polls: number[] = [];
  private readonly ipOut: RecordingOut;
  /** The core's channel to SOCK (set `full` for a SOCK that does not read). */
  readonly sockOut: RecordingOut;
  /** What the core keeps in its data store (a successor starts from it). */
  private readonly storeSnapshot: Record<string, unknown>;
  private readonly makeCtx: (generation: number, tcpPool: PacketPool) => ServerContext;
  private generation = 1;
  // The core tells inputs apart by identity: these are the very objects in its ctx.inputs.
  private readonly fromIp: InChannel;
  private readonly fromSock: InChannel;
  private readonly fromApp: InChannel;
  private readonly buffers: PoolDirectory;
  private readonly ipPool: PacketPool;
  private lastIteration = 0;
  private nextReq = 1;

  private constructor(core: ServerCore, parts: {
    table: SocketTable; tcpPool: PacketPool; ipPool: PacketPool; buffers: PoolDirectory; ipOut: RecordingOut; sockOut: RecordingOut;
    inputs: Record<'ip' | 'sock' | 'app', InChannel>;
    storeSnapshot: Record<string, unknown>; makeCtx: (generation: number, tcpPool: PacketPool) => ServerContext;
  }, connection: Partial<ConnectionOptions>) {
    this.core = core;
    this.storeSnapshot = parts.storeSnapshot;
    this.makeCtx = parts.makeCtx;
    this.fromIp = parts.inputs.ip;
    this.fromSock = parts.inputs.sock;
    this.fromApp = parts.inputs.app;
    this.table = parts.table;
    this.tcpPool = parts.tcpPool;
    this.ipPool = parts.ipPool;
    this.buffers = parts.buffers;
    this.ipOut = parts.ipOut;
    this.sockOut = parts.sockOut;
    this.peer = new TcpEngine({
      rng: new SeededRng(99),
      allocator: { alloc: (len) => new Uint8Array(len) },
      transmit: (_src, _dst, bytes) => { this.toServer.push(bytes.slice()); },
      onEvent: (type, conn) => this.onPeerEvent(type, conn),
      defaults: { ...connection },
    });
    this.peer.listen({ addr: REMOTE, port: PEER_PORT, backlog: 8 });
  }

  static async create(o: RigOptions = {}): Promise<TcpServerRig> {
    const tableSab = createSocketTable({ slots: o.slots ?? 8, sendCapacity: 64 * 1024, recvCapacity: 64 * 1024 });
    const tcpPoolSab = createPool({ id: 1, bufSize: 2048, count: o.tcpPoolBuffers ?? 64 });
    const ipPoolSab = createPool({ id: 2, bufSize: 2048, count: 64 });
    const tcpPool = new PacketPool(tcpPoolSab, 0, 1);
    const ipPool = new PacketPool(ipPoolSab, 1, 1);
    const buffers = new PoolDirectory(0);
    buffers.add(tcpPoolSab);
    buffers.add(ipPoolSab);
    const ipOut = new RecordingOut('tcp.ip', 'ip');
    const sockOut = new RecordingOut('tcp.sock', 'sock');
    // CUBIC unless a test says otherwise: the rig's time moves only when a test moves it, and
    // BBR (the stack's default) paces, so its output would wait for time the tests never give.
    const connection: Partial<ConnectionOptions> = { congestion: 'cubic', ...o.connection };
    const options: TcpServerOptions = {
      socketTable: tableSab,
      addresses: [{ address: LOCAL, prefixLength: 24 }],
      connection,
    };
    const rigRef: { rig?: TcpServerRig } = {};
    const inputs = { ip: { name: 'tcp.ip', peer: 'ip' }, sock: { name: 'tcp.sock', peer: 'sock' }, app: { name: 'tcp.app', peer: 'app' } };
    const storeSnapshot: Record<string, unknown> = {};
    const stats = createControlBlock();
    const makeCtx = (generation: number, pool: PacketPool): ServerContext => ({
      name: 'tcp', index: 0, generation,
      inputs,
      outputs: { ip: ipOut, sock: sockOut },
      pools: { tcp: pool },
      buffers,
      store: new LocalDataStore('tcp', { ...storeSnapshot }, (w) => {
        if (w.kind === 'store-set') storeSnapshot[w.key] = w.value;
        else if (w.kind === 'store-delete') delete storeSnapshot[w.key];
      }),
      stats: new ControlBlock(stats),
      options: options as unknown as Record<string, unknown>,
      doorbell: createDoorbell(),
      now: () => rigRef.rig?.now ?? 0,
      log: () => {},
    });
    const core = await createServer(makeCtx(1, tcpPool));
    const rig = new TcpServerRig(core, {
      table: new SocketTable(tableSab), tcpPool, ipPool, buffers, ipOut, sockOut, inputs, storeSnapshot, makeCtx,
    }, { ...connection, ...o.peerConnection });
    rigRef.rig = rig;
    return rig;
  }

  /**
   * The core dies (whatever it kept only in its memory goes with it) and a successor starts
   * on the same socket table, pool and data store, as the supervisor would start one; what
   * it sends at start is collected.
   */
  async restart(): Promise<void> {
    this.generation++;
    // Segments it sent that are still on their way point into the old pool generation: IP drops them as stale.
    this.toPeer.length = 0;
    this.heldBuffers.length = 0;
    this.core = await createServer(this.makeCtx(this.generation, new PacketPool(this.tcpPoolSab, 0, this.generation)));
    this.collect();
  }

  private get tcpPoolSab(): SharedArrayBuffer {
    return this.tcpPool.bytes.buffer as SharedArrayBuffer;
  }

  /** The data store's keys as the core left them. */
  storeKeys(): string[] {
    return Object.keys(this.storeSnapshot);
  }

  private onPeerEvent(type: TcpEventType, conn: number): void {
    if (type === TcpEventType.Incoming) {
      const id = this.peer.accept(conn);
      if (id >= 0) this.peerConn = id;
      return;
    }
    if (type === TcpEventType.Readable) this.peerRead();
  }

  private peerRead(): void {
    if (this.peerConn < 0) return;
    const buf = new Uint8Array(64 * 1024);
    for (;;) {
      const n = this.peer.receive(this.peerConn, buf, this.now);
      if (n === 0) break;
      for (let i = 0; i < n; i++) this.peerReceived.push(buf[i]!);
    }
  }

  /** One iteration of the server loop that carried messages: they go in, then poll. */
  private iteration(): void {
    this.core.poll?.(this.now);
    this.polls.push(this.now);
    this.lastIteration = this.now;
    this.collect();
  }

  private collect(): void {
    for (const m of this.ipOut.take()) if (m.type === TCP_MSG.SEG_SEND) this.toPeer.push(m);
    this.sockMessages.push(...this.sockOut.take());
  }

  private message<K extends AnyMessageKind>(kind: K, values: ValuesOf<K>): MessageView {
    return kind.write(new MessageView(new Int32Array(MSG_WORDS)), values).setGen(1).setPointer(NO_POOL, 0, 0, 0);
  }

  /** SOCK sends CONNECT `request` to the peer (its reply, if any, lands in sockMessages). */
  sendConnect(request: number): void {
    this.core.onMessage(this.message(TcpConnect, { request, remoteAddr: REMOTE, remotePort: PEER_PORT, localAddr: 0, localPort: 0 }), this.fromSock, this.now);
    this.iteration();
  }

  /** SOCK asks for an active open to the peer; returns the socket slot. */
  connect(): number {
    const req = this.nextReq++;
    this.core.onMessage(this.message(TcpConnect, { request: req, remoteAddr: REMOTE, remotePort: PEER_PORT, localAddr: 0, localPort: 0 }), this.fromSock, this.now);
    this.iteration();
    const reply = this.sockMessages.find((m) => m.type === TCP_MSG.CONNECT_REPLY && m.arg(TcpConnectReply.request) === req);
    if (reply === undefined || reply.argI32(TcpConnectReply.slot) < 0) throw new Error('connect refused by the core');
    return reply.argI32(TcpConnectReply.slot);
  }

  /** SOCK sends LISTEN `request` for LOCAL:port (its reply, if any, lands in sockMessages). */
  sendListen(request: number, port: number): void {
    this.core.onMessage(this.message(TcpListen, { request, localAddr: LOCAL, localPort: port, backlog: 8 }), this.fromSock, this.now);
    this.iteration();
  }

  /** SOCK asks the core to listen on LOCAL:port; returns the listener id. */
  listen(port: number): number {
    const req = this.nextReq++;
    this.core.onMessage(this.message(TcpListen, { request: req, localAddr: LOCAL, localPort: port, backlog: 8 }), this.fromSock, this.now);
    this.iteration();
    const reply = this.sockMessages.find((m) => m.type === TCP_MSG.LISTEN_REPLY && m.arg(TcpListenReply.request) === req);
    if (reply === undefined || reply.argI32(TcpListenReply.listener) < 0) throw new Error('listen refused by the core');
    return reply.argI32(TcpListenReply.listener);
  }

  /** The peer engine opens a connection to the core's LOCAL:port (its SYN waits in toServer). */
  peerConnect(port: number): void {
    this.peerConn = this.peer.connect({ localAddr: REMOTE, remoteAddr: LOCAL, remotePort: port }, this.now);
  }

  /** Slots the core handed to SOCK with ACCEPTED so far. */
  acceptedSlots(): number[] {
    return this.sockMessages.filter((m) => m.type === TCP_MSG.ACCEPTED).map((m) => m.argI32(TcpAccepted.slot));
  }

  block(slot: number): SocketBlock {
    return this.table.block(slot);
  }

  /** The application kicks the server about `slot` (after it set flags in the block). */
  kick(slot: number): void {
    this.core.onMessage(this.message(TcpKick, { slot }), this.fromApp, this.now);
    this.iteration();
  }

  /** The application writes into the send ring and kicks when the block asks for it; returns bytes accepted. */
  appWrite(slot: number, data: Uint8Array): number {
    const { accepted, kick } = this.block(slot).appWrite(data);
    if (kick) {
      this.core.onMessage(this.message(TcpKick, { slot }), this.fromApp, this.now);
      this.iteration();
    }
    return accepted;
  }

  /** Delivers every segment the core sent to the peer (buffers given back unless holdBuffers). */
  deliverToPeer(): number {
    let n = 0;
    while (this.toPeer.length > 0) {
      const m = this.toPeer.shift()!;
      const bytes = this.buffers.view(m);
      if (bytes === null) throw new Error('SEG_SEND with a bad pointer');
      this.peer.onSegment(m.arg(TcpSegSend.src), m.arg(TcpSegSend.dst), bytes.slice(), this.now);
      if (this.holdBuffers) this.heldBuffers.push(m);
      else this.buffers.giveBack(m);
      n++;
    }
    return n;
  }

  /**
   * Delivers every segment the peer sent to the core (one SEG_DELIVER each,
   * then the loop's poll). `beforePoll` runs between the two: the application
   * thread acting on what the messages published before the server's poll.
   */
  deliverToServer(beforePoll?: () => void): number {
    let n = 0;
    while (this.toServer.length > 0) {
      const seg = this.toServer.shift()!;
      const i = this.ipPool.alloc();
      if (i < 0) throw new Error('rig: ip pool exhausted');
      const off = this.ipPool.payloadOffset(i);
      this.ipPool.bytes.set(seg, off);
      const v = this.message(SegDeliver, { src: REMOTE, dst: LOCAL, iface: 0, flags: 0, ttl: 64, ipHeaderLen: 0 });
      this.ipPool.lend(v, i, seg.length, off);
      this.core.onMessage(v, this.fromIp, this.now);
      n++;
    }
    if (n > 0) beforePoll?.();
    if (n > 0) this.iteration();
    // The core gave the buffers back; the rig is their owner: sweep them.
    this.ipPool.sweep();
    return n;
  }

  /** The "driver" finally gives back the buffers it held (no message reaches TCP). */
  returnHeldBuffers(): void {
    for (const m of this.heldBuffers.splice(0)) this.buffers.giveBack(m);
  }

  /** Moves segments both ways until neither side has anything to send. */
  exchange(): void {
    for (let k = 0; k < 10_000; k++) {
      const a = this.deliverToPeer();
      const b = this.deliverToServer();
      if (a === 0 && b === 0) return;
    }
    throw new Error('rig: exchange did not settle');
  }

  /**
   * Idle time passes until `until`: the server loop parks until the core's
   * pollAt or its heartbeat (LOOP_MAX_PARK_MS after its last iteration), then
   * polls; the peer's timers fire; segments move.
   */
  runUntil(until: number): void {
    for (let k = 0; k < 100_000; k++) {
      const serverDue = Math.min(this.core.pollAt?.() ?? Infinity, this.lastIteration + LOOP_MAX_PARK_MS);
      const peerDue = this.peer.pollAt();
      const next = Math.max(this.now, Math.min(serverDue, peerDue));
      if (next > until) { this.now = until; return; }
      this.now = next;
      if (serverDue <= this.now) this.iteration();
      if (peerDue <= this.now) this.peer.onTimer(this.now);
      this.collect();
      this.exchange();
    }
    throw new Error('rig: runUntil did not settle');
  }
}
