/**
 * The TCP server: a thin worker entry around TcpEngine (docs/ARCHITECTURE.md,
 * "Layers": one server, one folder). It wires the engine to its channels and to the socket table it
 * shares with the application:
 *
 * - Connections' send and receive rings are socket blocks in the socket table
 *   (a ConnectionBufferProvider), so the application writes and reads them
 *   directly (fast sockets). The application sends KICK only when this server
 *   asked for it: S_TX_ARMED when every queued byte has been sent once, and
 *   S_RX_ARMED when the receive window has shrunk to half the buffer. Those
 *   words are socket-arming.ts's: at the end of each poll it looks at the slots
 *   marked since (the engine worked on the connection, the app kicked), not at
 *   every live socket.
 * - Segments are built straight into buffers of this server's pool with
 *   headroom for the IPv4 and Ethernet headers and lent to IP by rich pointer.
 * - Received segments are read in place from the driver's buffer (pointer from
 *   IP), the engine copies the payload into the socket's receive ring, and the
 *   buffer goes back to its owner.
 * - Engine events become socket-block flags and one event-sequence bump each;
 *   the application is woken only when it sleeps.
 *
 * Inputs: ip (SEG_DELIVER, ICMP_ERROR), sock (CONNECT, LISTEN, UNLISTEN),
 * app (KICK, SET_OPTION). Outputs: ip (SEG_SEND), sock (replies, ACCEPTED,
 * RELEASED). Pool: `tcp`.
 */
import { randomInt, webcrypto } from 'node:crypto';
import { cryptoRng } from '../random/rng.js';
import type { InChannel } from '../substrate/channel.js';
import { Outbox } from '../substrate/outbox.js';
import { DebugEvery } from '../substrate/debug-log.js';
import type { MessageView } from '../substrate/message.js';
import type { PacketPool } from '../substrate/pool.js';
import type { ServerContext, ServerCore } from '../substrate/server.js';
import {
  ServerFlag, SocketState, AppFlag, SOCKET_ERROR_CODES, type SocketErrorCode,
} from '../abi/socket-block.js';
import { SocketTable } from '../abi/socket-table.js';
import { IP_MSG, SocketOption, TCP_MSG, TxFlag } from '../abi/protocol.js';
import type { ConnectionOptions, TcpErrorCode } from './config.js';
import { TcpEventType } from './config.js';
import { TcpEngine, type IcmpErrorKind } from './engine.js';
import { SocketArming } from './socket-arming.js';
import { NewtosError } from '../errors.js';
import { CounterPublisher, type CounterTree } from '../abi/published-counters.js';
import { monotonicMs } from '../substrate/stats.js';
import { ByteRing } from '../abi/byte-ring.js';
import type { FaultKind } from '../substrate/server-loop.js';
import { CheckpointArea, CK, CK_FIELDS, CK_SERVER } from '../abi/tcb-checkpoint.js';
import { resumable, restoreTcb, savedConnection, writeCheckpoint, type CheckpointClock } from './checkpoint.js';
import type { Tcb } from './tcb.js';
import { TcpState, stateName } from './state.js';
import { ToeplitzHash } from '../random/toeplitz.js';
import { entryOfConnection, RSS_TABLE_SIZE } from '../abi/rss-table.js';
import {
  IcmpError, SegDeliver, TcpAccepted, TcpConnect, TcpConnectReply, TcpKick, TcpListen, TcpListenReply, TcpReleased, TcpSegSend, TcpSetOption, TcpUnlisten,
  outgoing, packPorts, sendOutgoing, type Outgoing,
} from '../abi/message-args.js';

export interface TcpServerOptions {
  /** The socket table shared with the application (createSocketTable). */
  readonly socketTable: SharedArrayBuffer;
  /** Local addresses with prefix lengths, to choose a source address for connect. */
  readonly addresses: readonly { address: number; prefixLength: number }[];
  readonly checksumOffload?: boolean;
  /**
   * TCP segmentation offload: bursts of up to this many payload bytes go to IP as one
   * segment (TxFlag.Gso) and the driver cuts them up (0 or absent: off). Needs a pool of
   * segment-size buffers.
   */
  readonly tsoMaxBytes?: number;
  readonly mslMs?: number;
  readonly synCookies?: 'auto' | 'always' | 'never';
  /**
   * Path MTU discovery (RFC 1191; default on, as Linux's ip_no_pmtu_disc=0): every segment
   * goes with DF, and "fragmentation needed" lowers the MSS. Off: segments may be fragmented.
   */
  readonly pathMtuDiscovery?: boolean;
  /** RACK (RFC 8985 §6) and tail loss probes (§7): TcpEngineOptions.rack / .tlp. */
  readonly rack?: boolean;
  readonly tlp?: boolean;
  readonly connection?: Partial<ConnectionOptions>;
  /** Where to publish the engine's counters (src/abi/published-counters.ts). */
  readonly counters?: SharedArrayBuffer;
  /**
   * In a host with replicas: this replica's index and the driver's indirection table
   * (src/abi/rss-table.ts). Connections it opens take a local port whose replies the
   * driver steers back to it.
   */
  readonly replica?: { readonly index: number; readonly rssTable: SharedArrayBuffer; readonly entryLoad?: SharedArrayBuffer };
}

/** Data-store key of the listeners (engine.listenerParams). */
const TIME_WAIT_PREFIX = 'time-wait:';
const LISTENERS_KEY = 'tcp-listeners';

interface SlotState {
  conn: number;
  /** The engine released the rings. */
  engineDone: boolean;
  /** The application was told about the socket (connect reply or accept). */
  handedOut: boolean;
  /** The application set Close (or Abort). */
  appClosed: boolean;
  /** App flags already acted on. */
  seenFlags: number;
  /** S_TX_ARMED as last stored (written only by socket-arming.ts). */
  txArmed: boolean;
  /** The application's CONNECT request the slot answers (-1: an accepted socket). */
  request?: number;
}

interface PendingTx { i: number; off: number; len: number; src: number; dst: number; gsoMss: number }

function errorIndex(code: string): number {
  const i = SOCKET_ERROR_CODES.indexOf(code as SocketErrorCode);
  return i < 0 ? 1 : i + 1;
}

const ICMP_KIND: Record<number, IcmpErrorKind> = {
  [(3 << 8) | 0]: 'net-unreachable',
  [(3 << 8) | 1]: 'host-unreachable',
  [(3 << 8) | 2]: 'protocol-unreachable',
  [(3 << 8) | 3]: 'port-unreachable',
  [(3 << 8) | 4]: 'frag-needed',
};

export function createServer(ctx: ServerContext): ServerCore {
  const opts = ctx.options as unknown as TcpServerOptions;
  const table = new SocketTable(opts.socketTable);
  const pool: PacketPool | undefined = ctx.pools['tcp'];
  const toIp = ctx.outputs['ip'];
  const toSock = ctx.outputs['sock'];
  if (pool === undefined || toIp === undefined || toSock === undefined) throw new Error('tcp server needs pool "tcp" and outputs "ip", "sock"');
  const fromIp = ctx.inputs['ip'];
  const fromSock = ctx.inputs['sock'];
  const checksumOffload = opts.checksumOffload ?? false;
  const txFlags = (checksumOffload ? TxFlag.ChecksumPartial : 0) | (opts.pathMtuDiscovery === false ? 0 : TxFlag.DontFragment);

  const slots: (SlotState | undefined)[] = new Array(table.slots);
  const freeSlots: number[] = [];
  const checkpoints = table.checkpoints;
  /** The slot whose connection the engine is working on (its W_IN_HAND word is 1), or -1. */
  let inHandSlot = -1;
  /** A fault injected into the processing of one connection (injectFault): its local or remote port. */
  let armedFault: { fault: FaultKind; port: number } | null = null;
  const live = new Set<number>();
  /**
   * CONNECT request → the slot that answers it, while the slot is taken. A CONNECT can come
   * twice: the loop re-delivers the messages of a batch whose thread died before it freed
   * them (server-loop.ts), ours or SOCK's. The second one gets the first one's socket,
   * not a second socket that no application would ever know of, and so never close.
   */
  const byRequest = new Map<number, number>();
  /** Slots with new data or space since the last publish (published once per batch). */
  const dirty = new Set<number>();
  /** Segments that did not fit in IP's ring; sent first on the next poll. */
  const pendingTx = new Outbox<PendingTx>((tx) => sendSegment(tx));
  /** Messages to SOCK that did not fit; sent first on the next poll. */
  const pendingSock = new Outbox<Outgoing>((o) => sendOutgoing(toSock, o));
  const debug = new DebugEvery();
  let now = ctx.now();
  // Checkpoints carry times on a process-wide monotonic clock too: a successor's own clock
  // (its worker's) has another origin.
  const monoOffset = monotonicMs() - now;
  const clock = (): CheckpointClock => ({ now, mono: now + monoOffset });
  const published = opts.counters === undefined ? null : new CounterPublisher(opts.counters);
  /** What the counter block shows (published-counters.ts). */
  const readCounters = (): CounterTree => ({ ...engine.counters, ...engine.gauges() });

  const maybeFree = (slot: number): void => {
    const st = slots[slot];
    if (st === undefined || !st.engineDone || (st.handedOut && !st.appClosed)) return;
    slots[slot] = undefined;
    live.delete(slot);
    if (st.request !== undefined && byRequest.get(st.request) === slot) byRequest.delete(st.request);
    freeSlots.push(slot);
    if (st.handedOut) pendingSock.send(outgoing(TcpReleased, { slot }));
  };

  /**
   * Out of free slots: act now on every close the application has set in a block (AppFlag
   * Close or Abort) whose kick is still on its way, as that kick will: the application sends
   * it straight to us and a new CONNECT through SOCK, and a batch that drains SOCK's ring
   * first saw the CONNECT while the closed socket still held its slot, and answered ENOBUFS
   * although the application had made room (socket-limits test, fresh-clone CI runs: once a
   * connection that was over, once one in TIME-WAIT, whose slot the close gives back at once).
   */
  const reclaimClosed = (): void => {
    for (const slot of [...live]) {
      const st = slots[slot];
      if (st === undefined || st.appClosed || !st.handedOut) continue;
      if ((table.block(slot).appFlags() & (AppFlag.Close | AppFlag.Abort)) === 0) continue;
      onKick(slot);
    }
  };

  // Live connections per indirection-table entry, this replica's row (src/abi/rss-table.ts). A
  // successor counts the connections it restores apart and then writes its whole row at once
  // (publishEntryLoad): until then the row keeps its predecessor's counts. Zeroed first, the
  // row said "no connection" for a moment, and a replica monitor looking then, with the flows
  // quiet (a regroup pauses every server), moved the entries of live connections to another
  // replica, which answered their segments with resets.
  const entryLoad = opts.replica?.entryLoad === undefined ? undefined : ((r) => {
    const row = new Int32Array(r.entryLoad!, r.index * RSS_TABLE_SIZE * 4, RSS_TABLE_SIZE);
    const hasher = new ToeplitzHash();
    let restoring: Int32Array | null = new Int32Array(RSS_TABLE_SIZE);
    return {
      change: (t: Tcb, delta: 1 | -1): void => {
        const e = entryOfConnection(hasher, t.localAddr, t.localPort, t.remoteAddr, t.remotePort);
        if (restoring !== null) restoring[e]! += delta;
        else Atomics.add(row, e, delta);
      },
      publish: (): void => {
        for (let i = 0; i < RSS_TABLE_SIZE; i++) Atomics.store(row, i, restoring![i]!);
        restoring = null;
      },
    };
  })(opts.replica);

  const replicaPorts = opts.replica === undefined ? undefined : ((r) => {
    const hasher = new ToeplitzHash();
    const rssTable = new Uint8Array(r.rssTable);
    return (localAddr: number, localPort: number, remoteAddr: number, remotePort: number): boolean =>
      rssTable[entryOfConnection(hasher, localAddr, localPort, remoteAddr, remotePort)] === r.index;
  })(opts.replica);

  const engine: TcpEngine = new TcpEngine({
    rng: cryptoRng((a) => webcrypto.getRandomValues(a)),
    checksumOffload,
    tsoMaxBytes: Math.min(opts.tsoMaxBytes ?? 0, pool.payloadCapacity - 60),
    msl: opts.mslMs ?? 30_000,
    synCookies: opts.synCookies ?? 'auto',
    ...(opts.rack !== undefined ? { rack: opts.rack } : {}),
    ...(opts.tlp !== undefined ? { tlp: opts.tlp } : {}),
    ...(replicaPorts !== undefined ? { portFilter: replicaPorts } : {}),
    ...(entryLoad !== undefined ? { onTableChange: entryLoad.change } : {}),
    defaults: {
      ...opts.connection,
      sendBufferSize: table.sendCapacity,
      recvBufferSize: table.recvCapacity,
    },
    buffers: {
      acquire: () => {
        if (freeSlots.length === 0) reclaimClosed();
        const slot = freeSlots.pop();
        if (slot === undefined) return undefined;
        table.recycle(slot); // also clears the slot's checkpoint
        const block = table.block(slot);
        slots[slot] = { conn: -1, engineDone: false, handedOut: false, appClosed: false, seenFlags: 0, txArmed: false };
        live.add(slot);
        return { send: block.send, recv: block.recv, tag: slot };
      },
      free: () => freeSlots.length,
      release: (slot) => {
        const st = slots[slot];
        if (st === undefined) return;
        st.engineDone = true;
        // The connection is gone (or keeps only its TIME-WAIT sequence state): nothing to resume.
        checkpoints.clear(slot);
        if (inHandSlot === slot) inHandSlot = -1;
        const block = table.block(slot);
        block.serverSetFlags(ServerFlag.Closed);
        block.serverSetState(SocketState.Closed);
        block.serverPublish();
        maybeFree(slot);
      },
    },
    allocator: {
      alloc: (len, align = 0) => {
        if (pendingTx.length >= 256 || len + 7 > pool.payloadCapacity) return undefined;
        const i = pool.alloc();
        if (i < 0) return undefined;
        const base = pool.payloadOffset(i);
        const off = base + ((align - (pool.bytes.byteOffset + base)) & 7);
        return pool.bytes.subarray(off, off + len);
      },
      // A quarter of the pool (and of the transmit backlog) is kept for existing connections.
      // (`available` counts only what is already swept back: sweep before saying no.)
      lowOnBuffers: () => pendingTx.length >= 192 || (pool.available < pool.count >> 2 && (pool.sweep(), pool.available < pool.count >> 2)),
    },
    transmit: (src, dst, bytes, gsoMss) => {
      // The segment names its pool buffer by where it lies (the allocator's view into the pool).
      if (bytes.buffer !== pool.bytes.buffer) throw new Error('tcp server: transmit of bytes not allocated from its pool');
      const off = bytes.byteOffset - pool.bytes.byteOffset;
      const i = pool.indexOf(bytes.byteOffset);
      if (i < 0) throw new Error('tcp server: transmit of bytes outside its pool\'s buffers');
      const tx: PendingTx = { i, off, len: bytes.length, src, dst, gsoMss };
      pendingTx.send(tx);
    },
    onEvent: (type, conn, code) => onEngineEvent(type, conn, code),
    onTimeWaitReleased: (t) => saveTimeWait(t),
    onEnter: (tag) => {
      if (tag !== inHandSlot) {
        if (inHandSlot >= 0) checkpoints.setInHand(inHandSlot, false);
        if (tag >= 0) checkpoints.setInHand(tag, true);
        inHandSlot = tag;
      }
      // The engine works on the connection: its arming may change (socket-arming.ts).
      if (tag >= 0) arming.mark(tag);
      if (armedFault !== null && tag >= 0) maybeFault(tag);
    },
  });

  /** The fast-socket wake-up words of the slots (socket-arming.ts). */
  const arming = new SocketArming(table.slots, {
    engine,
    block: (slot) => table.block(slot),
    active: (slot) => {
      const st = slots[slot];
      // After close/abort the engine owns the connection alone (its id is no longer the app's).
      return st === undefined || st.conn < 0 || st.engineDone || st.appClosed ? undefined : st;
    },
  });

  // Listeners outlive a restart of this server (the restart protocol's state, in the data
  // store): the successor listens again with the same ids, which SOCK maps to the app's.
  // Connections resume from their checkpoints in the socket slots (resumeConnections).
  const twScratch = new CheckpointArea(new ArrayBuffer(CheckpointArea.bytesNeeded(1)), 0, 1);
  /** Data-store key → when its 2 MSL are over (process-wide monotonic ms). */
  const twExpiry = new Map<string, number>();
  let twPrunedAt = 0;
  /**
   * Listener id → the LISTEN request it answers, kept with the listener: a successor answers
   * every LISTEN again (the reply may have died in its predecessor's memory, SOCK's channel
   * full, and the application's listen() would wait for ever); one already answered is ignored.
   */
  const listenRequests = new Map<number, number>();
  const persistListeners = (): void => ctx.store.set(LISTENERS_KEY, engine.listenerParams().map((l) => ({ ...l, request: listenRequests.get(l.id) })));
  for (const l of (ctx.store.get(LISTENERS_KEY) as (ReturnType<TcpEngine['listenerParams']>[number] & { request?: number })[] | undefined) ?? []) {
    try {
      const id = engine.listen(l);
      if (l.request === undefined) continue;
      listenRequests.set(id, l.request);
      pendingSock.send(outgoing(TcpListenReply, { request: l.request, listener: id, error: 0, port: l.port }));
    } catch (e) {
      ctx.log('listener-lost', { id: l.id, port: l.port, error: String(e) });
    }
  }
  const restored = engine.listenerParams().length;
  const resumed = resumeConnections();
  const timeWait = resumeTimeWaits();
  entryLoad?.publish();
  const announced = announceUnadopted();
  if (restored > 0 || resumed.connections > 0 || resumed.reset.length > 0 || timeWait > 0) ctx.log('restored', { listeners: restored, ...resumed, timeWait, announced });

  /**
   * The accepts and connect replies the application may never have had: the predecessor
   * handed a slot out (its checkpoint says so) by a message that could still wait in its
   * memory when it died (SOCK's channel full), or in a batch whose outputs never went out.
   * Every slot handed out that the application has not taken (AppFlag.Adopted) nor closed
   * is announced again, as the accept of its listener or the reply to its CONNECT; an
   * application that did get the first one ignores the second. A connection reset here is
   * announced too, so the application hears of it and closes the slot.
   */
  function announceUnadopted(): number {
    let n = 0;
    for (let s = 0; s < table.slots; s++) {
      const st = slots[s];
      if (st === undefined) continue;
      const block = table.block(s);
      if (!st.handedOut || block.appTookOrLeft()) continue;
      const info = st.conn >= 0 && !st.engineDone ? engine.info(st.conn) : undefined;
      const listener = block.listener();
      const request = block.connectRequest();
      if (listener !== undefined) {
        pendingSock.send(outgoing(TcpAccepted, {
          listener, slot: s, remoteAddr: info?.remoteAddr ?? 0, localAddr: info?.localAddr ?? 0,
          ports: packPorts(info?.remotePort ?? 0, info?.localPort ?? 0), generation: table.generation(s),
        }));
      } else if (request !== undefined) {
        pendingSock.send(outgoing(TcpConnectReply, { request, slot: s, error: 0, localAddr: info?.localAddr ?? 0, localPort: info?.localPort ?? 0 }));
      } else continue;
      n++;
    }
    return n;
  }

  /**
   * TIME-WAIT connections whose application has closed them gave their socket slot back
   * (engine.releaseTimeWaitRings), and with it their checkpoint: each is kept in the data
   * store instead, its checkpoint fields under its 4-tuple, until its 2 MSL are over, so a
   * successor still answers a retransmitted FIN with an ACK and keeps old duplicates of the
   * connection out (RFC 9293 §3.4.2), as the predecessor would have.
   */
  function saveTimeWait(t: Tcb): void {
    const c = clock();
    writeCheckpoint(twScratch, 0, t, 0, c);
    const b = twScratch.fieldBase(0, twScratch.committedCopy(0));
    const key = `${TIME_WAIT_PREFIX}${t.localAddr}:${t.localPort}:${t.remoteAddr}:${t.remotePort}`;
    const expires = c.mono + Math.max(0, t.closeAt - c.now);
    // Entries whose 2 MSL are over go (checked here, at most once a second).
    if (c.mono - twPrunedAt > 1000) {
      twPrunedAt = c.mono;
      for (const [k, e] of twExpiry) if (e <= c.mono) { twExpiry.delete(k); ctx.store.delete(k); }
    }
    twExpiry.set(key, expires);
    ctx.store.set(key, Array.from(twScratch.f64.subarray(b, b + CK_FIELDS)));
  }

  /** The successor's side of saveTimeWait: every TIME-WAIT connection whose 2 MSL are not over, on private empty rings. */
  function resumeTimeWaits(): number {
    const c = clock();
    let n = 0;
    // A 4-tuple a resumed connection uses now was taken over from TIME-WAIT (a new SYN, RFC
    // 6191): its saved entry is stale.
    const inUse = new Set<string>();
    for (const s of live) {
      const st = slots[s];
      if (st === undefined || st.conn < 0) continue;
      const i = engine.info(st.conn);
      inUse.add(`${TIME_WAIT_PREFIX}${i.localAddr}:${i.localPort}:${i.remoteAddr}:${i.remotePort}`);
    }
    for (const key of ctx.store.keys()) {
      if (!key.startsWith(TIME_WAIT_PREFIX)) continue;
      if (inUse.has(key)) { ctx.store.delete(key); continue; }
      const fields = ctx.store.get(key) as number[] | undefined;
      const b = twScratch.fieldBase(0, 0);
      if (fields === undefined || fields.length !== CK_FIELDS) { ctx.store.delete(key); continue; }
      twScratch.f64.set(fields, b);
      const expires = fields[CK.mono]! + Math.max(0, fields[CK.closeAt]! - fields[CK.now]!);
      if (expires <= c.mono || fields[CK.state] !== TcpState.TimeWait) { ctx.store.delete(key); continue; }
      const ring = (): ByteRing => new ByteRing(new ArrayBuffer(ByteRing.bytesNeeded(64)), 0, 64);
      try {
        engine.restore({ send: ring(), recv: ring(), tag: -1 }, (t) => {
          restoreTcb(t, twScratch, 0, 0, { clock: c, msl: engine.config.msl, peerFinPublished: false });
          // No ring to measure against: the saved sequence space is the truth, nothing to send.
          t.sndUna = fields[CK.sndMax]! >>> 0;
          t.sndNxt = t.sndUna;
          t.sndMax = t.sndUna;
          t.sndBufSeq = t.sndUna;
          t.rcvNxt = fields[CK.rcvNxt]! >>> 0;
          t.ackNow = false;
          t.released = true;
        }, now);
        twExpiry.set(key, expires);
        n++;
      } catch (e) {
        ctx.store.delete(key);
        ctx.log('time-wait-lost', { key, error: String(e) });
      }
    }
    return n;
  }

  /**
   * The restart path: every slot the predecessor left. A slot with a checkpoint of a
   * connection in progress is resumed on its rings (checkpoint.ts) and keeps its
   * generation, so the application's socket goes on untouched. A connection that was in
   * hand when the last two incarnations died is reset instead (ECONNRESET for it alone:
   * no crash loop). A slot the app still holds without a checkpoint to resume from gets
   * ECONNRESET (unless it already ended) and stays the app's until it closes it: given to
   * a new connection, the old socket would read and write the new one's rings. Free
   * slots, slots never handed out and slots the app has closed are free again.
   */
  function resumeConnections(): { connections: number; reset: { slot: number; reason: string }[] } {
    const reset: { slot: number; reason: string }[] = [];
    let connections = 0;
    // Strikes count consecutive deaths with the same connection in hand.
    let inHand = -1;
    for (let s = 0; s < table.slots; s++) {
      if (table.generation(s) === 0) continue;
      if (checkpoints.inHand(s) && inHand < 0) inHand = s;
      checkpoints.setInHand(s, false);
    }
    const rc = { clock: clock(), msl: engine.config.msl };
    for (let s = table.slots - 1; s >= 0; s--) {
      if (table.generation(s) === 0) { freeSlots.push(s); continue; }
      const strikes = s === inHand ? checkpoints.strikes(s) + 1 : 0;
      if (checkpoints.strikes(s) !== strikes) checkpoints.setStrikes(s, strikes);
      const block = table.block(s);
      const appFlags = block.appFlags();
      const appGone = (appFlags & (AppFlag.Close | AppFlag.Abort)) !== 0;
      const saved = savedConnection(checkpoints, s);
      const ended = (block.serverFlags() & (ServerFlag.Error | ServerFlag.Closed)) !== 0;
      let why = '';
      if (saved === undefined) why = 'no checkpoint';
      else if (!resumable(saved.state)) why = `checkpoint in state ${stateName(saved.state)}`;
      else if ((block.serverFlags() & ServerFlag.Error) !== 0) why = 'the application was told of an error';
      else if (strikes >= 2) why = `in hand when the TCP server died ${strikes} times in a row`;
      if (saved !== undefined && why === '') {
        const handedOut = (saved.server & CK_SERVER.handedOut) !== 0;
        const st: SlotState = {
          conn: -1, engineDone: false, handedOut, appClosed: (saved.server & CK_SERVER.appClosed) !== 0,
          seenFlags: saved.server >>> 8, txArmed: false,
        };
        slots[s] = st;
        live.add(s);
        remember(s, st, block.connectRequest());
        // In hand while it is rebuilt: a connection whose restore kills the successor counts a strike.
        checkpoints.setInHand(s, true);
        inHandSlot = s;
        try {
          const peerFinPublished = (block.serverFlags() & ServerFlag.PeerFin) !== 0;
          st.conn = engine.restore({ send: block.send, recv: block.recv, tag: s },
            (t) => restoreTcb(t, checkpoints, s, saved.copy, { ...rc, peerFinPublished }), now);
          connections++;
          continue;
        } catch (e) {
          why = `restore failed: ${String(e)}`;
          slots[s] = undefined;
          live.delete(s);
        }
      }
      // A connect whose SYN-SENT state has no checkpoint died in the batch that made it:
      // checkpoints are written before a batch's outputs go out, so the application never
      // got its reply, and the CONNECT comes again (its batch never freed it).
      const neverAnswered = saved === undefined && block.state() === SocketState.Connecting;
      if (block.state() === SocketState.Free || appGone || neverAnswered) {
        checkpoints.clear(s);
        freeSlots.push(s);
        continue;
      }
      reset.push({ slot: s, reason: why });
      const resetNow = saved !== undefined && strikes >= 2;
      const held: SlotState = { conn: -1, engineDone: true, handedOut: true, appClosed: false, seenFlags: 0, txArmed: false };
      slots[s] = held;
      remember(s, held, block.connectRequest());
      if (!ended) block.serverSetError('ECONNRESET');
      block.serverSetState(SocketState.Closed);
      block.serverSetFlags(ServerFlag.Closed);
      block.serverPublish();
      checkpoints.clear(s);
      if (resetNow) resetPeer(s, saved);
    }
    return { connections, reset };
  }

  /** Slot s answers CONNECT `request` (if it came from one): a second such CONNECT gets s. */
  function remember(s: number, st: SlotState, request: number | undefined): void {
    if (request === undefined) return;
    st.request = request;
    byRequest.set(request, s);
  }

  /** Tell the peer of a connection we reset ourselves (RST from the saved sequence numbers). */
  function resetPeer(slot: number, saved: NonNullable<ReturnType<typeof savedConnection>>): void {
    if (saved.state === TcpState.SynSent) return;
    // A throwaway control block on private, empty rings (nothing to resend): abort() sends
    // <SEQ=SND.NXT><CTL=RST,ACK> with SND.NXT = SND.MAX, at or beyond the peer's RCV.NXT: an
    // exact match resets it, else the peer's challenge ACK (RFC 5961 §3.2) meets no
    // connection here and gets a RST at its own SEG.ACK.
    const ring = (): ByteRing => new ByteRing(new ArrayBuffer(ByteRing.bytesNeeded(1024)), 0, 1024);
    try {
      const conn = engine.restore({ send: ring(), recv: ring(), tag: -1 }, (t) => {
        restoreTcb(t, checkpoints, slot, saved.copy, { clock: clock(), msl: 0, peerFinPublished: false });
        t.ackNow = false;
        t.finQueued = false;
        t.sndNxt = t.sndMax;
        t.sndBufSeq = t.sndMax;
      }, now);
      engine.abort(conn, now);
    } catch (e) {
      ctx.log('reset-failed', { slot, error: String(e) });
    }
  }

  /** An injected fault armed for one connection fires as the engine starts work on it. */
  function maybeFault(slot: number): void {
    const st = slots[slot];
    if (armedFault === null || st === undefined || st.conn < 0 || st.engineDone) return;
    const info = engine.info(st.conn);
    if (info.localPort !== armedFault.port && info.remotePort !== armedFault.port) return;
    const fault = armedFault.fault;
    armedFault = null;
    ctx.stats.markFault();
    if (fault === 'hang') for (;;) { /* spin without a heartbeat: the supervisor's hang check */ }
    throw new Error(`injected crash while processing the connection of slot ${slot} (port ${info.localPort} → ${info.remotePort})`);
  }

  function sendSegment(tx: PendingTx): boolean {
    const m = toIp!.reserve();
    if (m === null) return false;
    pool!.lend(m, tx.i, tx.len, tx.off);
    TcpSegSend.start(m).src(tx.src).dst(tx.dst).txFlags(txFlags | (tx.gsoMss > 0 ? TxFlag.Gso : 0)).gsoMss(tx.gsoMss);
    toIp!.commit();
    return true;
  }

  function slotOf(conn: number): number {
    return engine.bufferTag(conn);
  }

  function onEngineEvent(type: TcpEventType, conn: number, code?: TcpErrorCode): void {
    if (type === TcpEventType.Incoming) {
      for (let id = engine.accept(conn); id >= 0; id = engine.accept(conn)) acceptConnection(conn, id);
      return;
    }
    const slot = slotOf(conn);
    const st = slots[slot];
    if (st === undefined) return;
    st.conn = conn;
    const block = table.block(slot);
    switch (type) {
      case TcpEventType.Connected:
        block.serverSetState(SocketState.Open);
        arming.armAtOpen(slot, now);
        block.serverSetFlags(ServerFlag.Connected);
        break;
      case TcpEventType.End:
        block.serverSetFlags(ServerFlag.PeerFin);
        break;
      case TcpEventType.Error:
        block.serverSetError((code ?? 'ECONNRESET') as SocketErrorCode);
        break;
      case TcpEventType.Closed:
        block.serverSetFlags(ServerFlag.Closed);
        break;
      default:
        // Readable, Writable: the rings already say it. One publish per slot at the
        // end of the batch (poll) instead of one per segment: fewer app wake-ups.
        dirty.add(slot);
        return;
    }
    block.serverPublish();
  }

  function acceptConnection(listenerId: number, conn: number): void {
    const slot = slotOf(conn);
    const st = slots[slot];
    if (st === undefined) return;
    st.conn = conn;
    st.handedOut = true;
    const info = engine.info(conn);
    const block = table.block(slot);
    block.serverSetState(SocketState.Open);
    arming.armAtOpen(slot, now);
    block.serverSetFlags(ServerFlag.Connected);
    block.serverSetListener(listenerId);
    block.serverPublish();
    pendingSock.send(outgoing(TcpAccepted, {
      listener: listenerId, slot, remoteAddr: info.remoteAddr, localAddr: info.localAddr,
      ports: packPorts(info.remotePort, info.localPort), generation: table.generation(slot),
    }));
  }

  function sourceFor(dst: number): number {
    let best = opts.addresses[0]?.address ?? 0;
    let bestLen = -1;
    for (const a of opts.addresses) {
      const mask = a.prefixLength === 0 ? 0 : (0xffffffff << (32 - a.prefixLength)) >>> 0;
      if (((a.address & mask) >>> 0) === ((dst & mask) >>> 0) && a.prefixLength > bestLen) {
        best = a.address;
        bestLen = a.prefixLength;
      }
    }
    return best;
  }

  function onConnect(msg: MessageView): void {
    const req = msg.arg(TcpConnect.request);
    const answered = byRequest.get(req);
    if (answered !== undefined) {
      // The same CONNECT again (re-delivered): the socket it already has, replied again in
      // case the first reply died with a predecessor (the application ignores a second one).
      const st = slots[answered]!;
      if (st.appClosed) return;
      const info = st.conn >= 0 && !st.engineDone ? engine.info(st.conn) : undefined;
      pendingSock.send(outgoing(TcpConnectReply, { request: req, slot: answered, error: 0, localAddr: info?.localAddr ?? 0, localPort: info?.localPort ?? 0 }));
      return;
    }
    const remote = msg.arg(TcpConnect.remoteAddr);
    const local = msg.arg(TcpConnect.localAddr) === 0 ? sourceFor(remote) : msg.arg(TcpConnect.localAddr);
    try {
      const conn = engine.connect({ localAddr: local, remoteAddr: remote, remotePort: msg.arg(TcpConnect.remotePort), localPort: msg.arg(TcpConnect.localPort) }, now);
      const slot = slotOf(conn);
      const st = slots[slot]!;
      st.conn = conn;
      st.handedOut = true;
      table.block(slot).serverSetState(SocketState.Connecting);
      table.block(slot).serverSetConnectRequest(req);
      remember(slot, st, req);
      const info = engine.info(conn);
      pendingSock.send(outgoing(TcpConnectReply, { request: req, slot, error: 0, localAddr: info.localAddr, localPort: info.localPort }));
    } catch (e) {
      const code = e instanceof NewtosError ? e.code : 'ENOBUFS';
      pendingSock.send(outgoing(TcpConnectReply, { request: req, slot: -1, error: errorIndex(code), localAddr: 0, localPort: 0 }));
    }
  }

  function onListen(msg: MessageView): void {
    const req = msg.arg(TcpListen.request);
    const addr = msg.arg(TcpListen.localAddr);
    let port = msg.arg(TcpListen.localPort);
    const backlog = msg.arg(TcpListen.backlog);
    let id = -1;
    let error = 0;
    const tryListen = (p: number): boolean => {
      try {
        id = engine.listen({ addr, port: p, backlog });
        port = p;
        return true;
      } catch (e) {
        error = errorIndex(e instanceof NewtosError ? e.code : 'EADDRINUSE');
        return false;
      }
    };
    if (port !== 0) tryListen(port);
    else {
      // Port 0: an ephemeral port nobody listens on.
      for (let k = 0; k < 64 && id < 0; k++) {
        const p = randomInt(32768, 61000);
        if (tryListen(p)) error = 0;
      }
    }
    if (id >= 0) {
      listenRequests.set(id, req);
      persistListeners();
    }
    pendingSock.send(outgoing(TcpListenReply, id >= 0
      ? { request: req, listener: id, error: 0, port }
      : { request: req, listener: -1, error: error || errorIndex('EADDRINUSE'), port: 0 }));
  }

  function onKick(slot: number): void {
    // A kick takes an arming back (or says the app wants something): look at the slot again.
    arming.mark(slot);
    const st = slots[slot];
    if (st === undefined || st.conn < 0 || st.engineDone || st.appClosed) {
      if (st !== undefined) {
        const flags = table.block(slot).appFlags();
        if ((flags & AppFlag.Close) !== 0) { st.appClosed = true; maybeFree(slot); }
      }
      return;
    }
    const block = table.block(slot);
    const flags = block.appFlags();
    const fresh = flags & ~st.seenFlags;
    st.seenFlags |= fresh;
    const conn = st.conn;
    if ((fresh & AppFlag.NoDelay) !== 0) engine.setNoDelay(conn, true, now);
    engine.sendQueued(conn, now);
    if (slots[slot] === undefined) return;
    engine.received(conn, now);
    if (slots[slot] === undefined) return;
    if ((fresh & AppFlag.Abort) !== 0) {
      st.appClosed = true;
      engine.abort(conn, now);
    } else if ((fresh & AppFlag.Close) !== 0) {
      st.appClosed = true;
      engine.close(conn, now);
    } else if ((fresh & AppFlag.ShutWr) !== 0) {
      engine.shutdown(conn, now);
    }
    if (slots[slot] !== undefined) maybeFree(slot);
  }

  function onOption(msg: MessageView): void {
    const st = slots[msg.arg(TcpSetOption.slot)];
    if (st === undefined || st.conn < 0 || st.engineDone || st.appClosed) return;
    if (msg.arg(TcpSetOption.option) === SocketOption.NoDelay) engine.setNoDelay(st.conn, msg.arg(TcpSetOption.value) !== 0, now);
    else if (msg.arg(TcpSetOption.option) === SocketOption.KeepAlive) engine.setKeepAlive(st.conn, msg.arg(TcpSetOption.value), now);
  }

  function onIcmpError(msg: MessageView): void {
    const kind = ICMP_KIND[msg.arg(IcmpError.typeCode)];
    const quoted = msg.hasBuffer ? ctx.buffers.view(msg) : null;
    if (kind !== undefined && quoted !== null && quoted.length >= 8) {
      const seq = ((quoted[4]! << 24) | (quoted[5]! << 16) | (quoted[6]! << 8) | quoted[7]!) >>> 0;
      engine.onIcmpError({
        kind, localAddr: msg.arg(IcmpError.quotedSrc), remoteAddr: msg.arg(IcmpError.quotedDst),
        localPort: msg.arg(IcmpError.ports) >>> 16, remotePort: msg.arg(IcmpError.ports) & 0xffff, seq,
        ...(kind === 'frag-needed' ? { mtu: msg.arg(IcmpError.mtu) } : {}),
      }, now);
    }
    if (msg.hasBuffer) ctx.buffers.giveBack(msg);
  }

  /**
   * End of a batch: a checkpoint of every connection the batch changed (checkpoint.ts), and
   * no connection is in hand any more. Before the loop publishes the batch's outputs: a
   * successor never resumes from a state older than what the peer or the app was sent.
   */
  function checkpointChanged(): void {
    const c = clock();
    engine.drainTouched((t) => {
      const slot = t.bufferTag;
      const st = slots[slot];
      if (st === undefined || st.engineDone) return;
      const server = (st.handedOut ? CK_SERVER.handedOut : 0) | (st.appClosed ? CK_SERVER.appClosed : 0) | (st.seenFlags << 8);
      writeCheckpoint(checkpoints, slot, t, server, c);
    });
    if (inHandSlot >= 0) {
      checkpoints.setInHand(inHandSlot, false);
      inHandSlot = -1;
    }
  }

  return {
    /** A fault for the connection with this local or remote port (detail.port): it fires as the engine next works on it. */
    injectFault(fault: FaultKind, detail: Readonly<Record<string, unknown>>): boolean {
      const port = detail['port'];
      if (typeof port !== 'number' || (fault !== 'crash' && fault !== 'hang')) return false;
      armedFault = { fault, port };
      return true;
    },
    onMessage(msg: MessageView, from: InChannel, t: number): boolean {
      now = t;
      if (from === fromIp) {
        if (msg.type === IP_MSG.SEG_DELIVER) {
          const bytes = ctx.buffers.view(msg);
          if (bytes !== null) engine.onSegment(msg.arg(SegDeliver.src), msg.arg(SegDeliver.dst), bytes, now, (msg.arg(SegDeliver.flags) & 1) !== 0);
          ctx.buffers.giveBack(msg);
        } else if (msg.type === IP_MSG.ICMP_ERROR) {
          onIcmpError(msg);
        }
        return true;
      }
      if (from === fromSock) {
        if (pendingSock.length > 64) return false; // SOCK is not reading: back-pressure
        if (msg.type === TCP_MSG.CONNECT) onConnect(msg);
        else if (msg.type === TCP_MSG.LISTEN) onListen(msg);
        else if (msg.type === TCP_MSG.UNLISTEN) {
          engine.closeListener(msg.arg(TcpUnlisten.listener), now);
          listenRequests.delete(msg.arg(TcpUnlisten.listener));
          persistListeners();
        }
        return true;
      }
      // The application: kicks and options.
      if (msg.type === TCP_MSG.KICK) onKick(msg.arg(TcpKick.slot));
      else if (msg.type === TCP_MSG.SET_OPTION) onOption(msg);
      return true;
    },
    poll(t: number): void {
      now = t;
      if (debug.due(now)) {
        for (const slot of live) {
          const st = slots[slot]!;
          if (st.conn < 0 || st.engineDone || st.appClosed) continue;
          const b = table.block(slot);
          ctx.log('tcp-debug', {
            slot, ...engine.info(st.conn), ...engine.debugSeq(st.conn), unsent: engine.unsentBytes(st.conn), txArmed: st.txArmed, rxArmed: b.serverRxArmed(),
            ringSend: b.send.available(), ringRecvFree: b.recv.freeSpace(), appWaiting: b.appWaiting(), pendingTx: pendingTx.length,
            pollAt: engine.pollAt() - now,
          });
        }
      }
      pendingSock.retry();
      pendingTx.retry();
      // The application's kicks come as marks in the table (table-events.ts), not messages.
      table.events?.takeKicks(onKick);
      if (engine.pollAt() <= now) engine.onTimer(now);
      else if (pendingTx.length === 0) engine.retryOutput(now);
      arming.visitMarked(now);
      for (const slot of dirty) if (slots[slot] !== undefined) table.block(slot).serverPublish();
      dirty.clear();
      checkpointChanged();
      // Running counts and what the engine holds now (connections by state, RTTs): one
      // pass over the control blocks at most every 20 ms, only when something ran.
      published?.maybePublish(now, readCounters);
    },
    onIdle(t: number): void {
      published?.publishIdle(t, readCounters);
    },
    pollAt(): number {
      // Output that found the pool empty waits for buffers that IP or the driver give back
      // by a state word in the pool, with no message to wake us: look again in 1 ms.
      if (table.events?.kicksPending() === true) return now;
      const retry = pendingTx.length > 0 || pendingSock.length > 0 || engine.hasBlockedOutput();
      return Math.min(retry ? now + 1 : engine.pollAt(), published?.pollAt() ?? Infinity);
    },
    hasWork(): boolean {
      // A kick marked after the loop's last pass: it rang our doorbell only if we slept.
      return table.events?.kicksPending() === true;
    },
  };
}
