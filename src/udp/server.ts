/**
 * The UDP server: a thin worker entry around UdpCore (RFC 768, RFC 1122 §4.1),
 * with datagram sockets as fast sockets (docs/ARCHITECTURE.md "Fast sockets").
 *
 * Sockets. Every datagram socket is a block of the UDP socket table shared
 * with the application (socket-table.ts); its rings carry datagram records
 * (dgram-record.ts: u16 length, u32 address, u16 port, payload). The server
 * owns slot allocation: BIND from SOCK allocates a slot and binds it in the
 * core, CLOSE from SOCK sends what is still queued, unbinds and frees it.
 *
 * App → network. The application writes a record into the send ring and sends
 * KICK only when this server armed S_TX_ARMED (it does so whenever it drained
 * the ring; the arm-then-recheck pair of socket-block.ts means a record is
 * never left behind). A slot is always either armed or in `busy`, which the
 * poll drains. Each record becomes a datagram built in place in a buffer of
 * the `udp` pool: the payload is copied once from the ring to
 * POOL_HEADROOM + 8, the core writes the UDP header in front
 * (UdpCore.emitInPlace), and the buffer goes to IP by rich pointer
 * (DGRAM_SEND) with the headroom for IPv4 and Ethernet.
 *
 * Network → app. SEG_DELIVER points into the driver's frame; the core
 * demultiplexes; the payload is copied once into the socket's receive ring as
 * a record (dropped and counted when the ring has no room: UDP may), the
 * socket's event sequence is bumped (the app is woken only if it sleeps), and
 * the frame goes back to its owner. A datagram for a port nobody bound is
 * handed back to IP (SEND_ICMP_ERROR, pointer moved back over the IPv4 header
 * IP left in front) for an ICMP port unreachable (RFC 1122 §4.1.3.1).
 *
 * Restarts. Bindings (slot, address, port, and the BIND request that made
 * them) are kept in the data store; a successor binds them again, and the
 * socket table (shared memory) still holds every socket's rings. A BIND can
 * come twice (see onBind): the second one gets the first one's slot.
 *
 * Inputs: ip (SEG_DELIVER, ICMP_ERROR), sock (BIND, CLOSE), app (KICK).
 * Outputs: ip (DGRAM_SEND, SEND_ICMP_ERROR), sock (BIND_REPLY). Pool: `udp`.
 */
import { webcrypto } from 'node:crypto';
import { cryptoRng } from '../random/rng.js';
import type { InChannel } from '../substrate/channel.js';
import type { MessageView } from '../substrate/message.js';
import { Outbox } from '../substrate/outbox.js';
import type { PacketPool } from '../substrate/pool.js';
import { replicaOfUdpPort } from '../abi/rss-table.js';
import type { ServerContext, ServerCore } from '../substrate/server.js';
import { AppWait, SOCKET_ERROR_CODES, ServerFlag, SocketState, type SocketErrorCode } from '../abi/socket-block.js';
import { SocketTable } from '../abi/socket-table.js';
import { IP_MSG, UDP_MSG } from '../abi/protocol.js';
import { UDP_HEADER_LEN } from '../wire/udp.js';
import { DgramRecordCodec } from '../abi/dgram-record.js';
import { UdpCore } from './udp-core.js';
import { UdpStatsWriter } from './udp-stats.js';
import { IcmpError, SegDeliver, SendIcmpError, UdpBind, UdpBindReply, UdpClose, UdpDgramSend, UdpKick, type ValuesOf } from '../abi/message-args.js';

export interface UdpServerOptions {
  /** The UDP socket table shared with the application (createSocketTable). */
  readonly socketTable: SharedArrayBuffer;
  /** Counters in shared memory (createUdpStats). */
  readonly stats: SharedArrayBuffer;
  /** Our addresses (binding to any other is EADDRNOTAVAIL). */
  readonly addresses: readonly number[];
  /**
   * In a host with replicas: this replica's index and the count. The driver steers a UDP
   * datagram by its destination port (src/abi/rss-table.ts replicaOfUdpPort), so an
   * ephemeral port here is one that maps to this replica.
   */
  readonly replica?: { readonly index: number; readonly count: number };
}

interface Binding {
  readonly slot: number;
  readonly address: number;
  readonly port: number;
  /** The application's BIND request the slot answers (absent in bindings stored before it was kept). */
  readonly request?: number;
}

const BINDINGS_KEY = 'bindings';
/** Records sent from one socket before the next socket gets a turn. */
const SEND_BUDGET = 64;
/** ICMP type << 8 | code of port unreachable (RFC 792). */
const PORT_UNREACHABLE = (3 << 8) | 3;

function errorIndex(code: string): number {
  const i = SOCKET_ERROR_CODES.indexOf(code as SocketErrorCode);
  return i < 0 ? SOCKET_ERROR_CODES.indexOf('EINVAL') + 1 : i + 1;
}

export function createServer(ctx: ServerContext): ServerCore {
  const opts = ctx.options as unknown as UdpServerOptions;
  const table = new SocketTable(opts.socketTable);
  const stats = new UdpStatsWriter(opts.stats);
  const pool: PacketPool | undefined = ctx.pools['udp'];
  const toIp = ctx.outputs['ip'];
  const toSock = ctx.outputs['sock'];
  if (pool === undefined || toIp === undefined || toSock === undefined) throw new Error('udp server needs pool "udp" and outputs "ip", "sock"');
  const fromIp = ctx.inputs['ip'];
  const fromSock = ctx.inputs['sock'];
  const local = new Set(opts.addresses.map((a) => a >>> 0));
  const replica = opts.replica;
  const core = new UdpCore({
    rng: cryptoRng((a) => webcrypto.getRandomValues(a)), isLocalAddress: (a) => local.has(a >>> 0),
    ...(replica !== undefined ? { ephemeralPortFilter: (port: number) => replicaOfUdpPort(port, replica.count) === replica.index } : {}),
  });
  const records = new DgramRecordCodec();
  /** Largest payload one pool buffer takes after the UDP header. */
  const maxPayload = pool.payloadCapacity - UDP_HEADER_LEN;

  const bound = new Map<number, Binding>();
  /**
   * BIND request → its binding, while the slot is bound. A BIND can come twice: the loop
   * re-delivers the messages of a batch whose thread died before it freed them
   * (server-loop.ts), ours (UDP, or a monolithic host's one thread) or SOCK's (its successor
   * reads the application's unfreed BIND again and sends it on with the same request). The
   * second one gets the slot (and port) of the first, not a second slot and ephemeral port
   * that no application would ever know of, and so never close. The request is kept in the
   * persisted binding, written in the same store write as the binding itself (before the
   * reply goes out), so a successor knows which BIND each of its slots answers.
   */
  const byRequest = new Map<number, Binding>();
  const freeSlots: number[] = [];
  /** Slots whose send ring may hold records and which are not armed. */
  const busy = new Set<number>();
  /** Replies to SOCK that did not fit; sent first on the next poll. */
  const pendingSock = new Outbox<ValuesOf<typeof UdpBindReply>>((reply) => UdpBindReply.send(toSock, reply));
  let now = ctx.now();

  const persist = (): void => ctx.store.set(BINDINGS_KEY, [...bound.values()]);

  const replySock = (reply: ValuesOf<typeof UdpBindReply>): void => { pendingSock.send(reply); };

  // A successor takes over the bindings of its predecessor; everything else is in the socket table.
  const saved = ctx.store.get(BINDINGS_KEY) as Binding[] | undefined;
  for (const b of saved ?? []) {
    if (!core.bind(b.slot, b.address, b.port).ok) continue;
    bound.set(b.slot, b);
    busy.add(b.slot);
    if (b.request !== undefined) byRequest.set(b.request, b);
  }
  for (let s = table.slots - 1; s >= 0; s--) if (!bound.has(s)) freeSlots.push(s);
  // A BIND reply could have died in the predecessor's memory (SOCK's channel full) after its
  // BIND was consumed: every binding the application has not taken (AppFlag.Adopted) is
  // answered again; an application that had the first reply ignores the second.
  for (const b of bound.values()) {
    if (b.request === undefined || table.block(b.slot).appTookOrLeft()) continue;
    replySock({ request: b.request, slot: b.slot, error: 0, port: b.port, address: b.address });
  }

  // ---- control -----------------------------------------------------------------

  function onBind(msg: MessageView): void {
    const req = msg.arg(UdpBind.request);
    const again = byRequest.get(req);
    if (again !== undefined) {
      // The same BIND again (re-delivered): its socket, replied again in case the first
      // reply died with a predecessor (the application ignores a second one).
      replySock({ request: req, slot: again.slot, error: 0, port: again.port, address: again.address });
      return;
    }
    const address = msg.arg(UdpBind.localAddr);
    const slot = freeSlots.pop();
    if (slot === undefined) {
      stats.add('bindFailures');
      replySock({ request: req, slot: -1, error: errorIndex('ENOBUFS'), port: 0, address: 0 });
      return;
    }
    const r = core.bind(slot, address, msg.arg(UdpBind.localPort));
    if (!r.ok) {
      freeSlots.push(slot);
      stats.add('bindFailures');
      replySock({ request: req, slot: -1, error: errorIndex(r.code), port: 0, address: 0 });
      return;
    }
    table.recycle(slot);
    const block = table.block(slot);
    block.serverSetState(SocketState.Open);
    // The ring is empty: ask for a kick with the first record.
    block.serverArmTx();
    const b: Binding = { slot, address, port: r.port, request: req };
    bound.set(slot, b);
    byRequest.set(req, b);
    persist();
    stats.add('binds');
    replySock({ request: req, slot, error: 0, port: r.port, address });
  }

  function onClose(slot: number): void {
    const b = bound.get(slot);
    if (b === undefined) return;
    // What the app queued before closing still goes out, as far as buffers and the channel allow now.
    if (!drain(slot, Infinity)) stats.add('dropAtClose');
    core.unbind(slot);
    bound.delete(slot);
    if (b.request !== undefined && byRequest.get(b.request) === b) byRequest.delete(b.request);
    busy.delete(slot);
    persist();
    const block = table.block(slot);
    block.serverDisarmTx();
    block.serverSetState(SocketState.Closed);
    block.serverSetFlags(ServerFlag.Closed);
    block.serverPublish();
    freeSlots.push(slot);
    stats.add('closes');
  }

  // ---- app → network -----------------------------------------------------------

  /**
   * Send up to `budget` records of `slot`. Returns true when the ring is empty
   * (nothing left to do), false when it stopped on the budget or for lack of
   * a pool buffer or channel room.
   */
  function drain(slot: number, budget: number): boolean {
    const block = table.block(slot);
    const ring = block.send;
    let sent = 0;
    let empty = false;
    for (;;) {
      const p = records.peek(ring);
      if (p.kind === 'empty') { empty = true; break; }
      if (p.kind === 'corrupt' || p.kind === 'port-unreachable') {
        // Not a record: the app broke the format. Discard what is there and go on.
        stats.add('dropBadRecord');
        ring.consume(ring.available());
        continue;
      }
      const h = p.header;
      if (h.length > maxPayload) {
        stats.add('dropTooBig');
        records.consume(ring, h);
        continue;
      }
      if (sent >= budget) break;
      const m = toIp!.reserve();
      if (m === null) { stats.add('sendStalls'); break; }
      const i = pool!.alloc();
      if (i < 0) { stats.add('sendStalls'); break; }
      const off = pool!.payloadOffset(i);
      records.copyPayload(ring, h, pool!.bytes, off + UDP_HEADER_LEN);
      const d = core.emitInPlace(slot, h.address, h.port, pool!.bytes, off, h.length);
      records.consume(ring, h);
      if (d === null) { pool!.free(i); continue; }
      pool!.lend(m, i, UDP_HEADER_LEN + h.length, off);
      UdpDgramSend.start(m).src(d.src).dst(d.dst).txFlags(0);
      toIp!.commit();
      stats.add('sent');
      sent++;
    }
    // An app that sleeps until its send ring has room again.
    if (sent > 0 && (block.appWaiting() & AppWait.Writable) !== 0) block.serverPublish();
    return empty;
  }

  /** Drain a slot and arm it when empty (arm, then look again: see socket-block.ts). */
  function service(slot: number): void {
    if (!bound.has(slot)) { busy.delete(slot); return; }
    const block = table.block(slot);
    for (;;) {
      if (!drain(slot, SEND_BUDGET)) { busy.add(slot); return; }
      if (!block.serverArmTx()) { busy.delete(slot); return; }
      // A record arrived between the drain and the arm: keep going, disarmed.
      block.serverDisarmTx();
    }
  }

  function onKick(slot: number): void {
    stats.add('kicks');
    if (!bound.has(slot)) return;
    table.block(slot).serverDisarmTx();
    service(slot);
  }

  // ---- network → app ---------------------------------------------------------------

  function onDeliver(msg: MessageView): void {
    const payload = ctx.buffers.view(msg);
    if (payload === null) { stats.add('unknownMessages'); return; }
    const hlen = msg.arg(SegDeliver.ipHeaderLen);
    const quotable = hlen >= 20 && ctx.buffers.headroom(msg) >= hlen;
    const bytes = ctx.buffers.resolve(msg)!;
    const datagram = quotable ? bytes.subarray(msg.offset - hlen, msg.offset + msg.length) : payload;
    const r = core.onDatagram({ src: msg.arg(SegDeliver.src), dst: msg.arg(SegDeliver.dst), payload, datagram });
    stats.add('received');
    switch (r.type) {
      case 'deliver': {
        stats.add('delivered');
        const block = table.block(r.socket);
        if (records.write(block.recv, r.srcAddr, r.srcPort, r.data)) block.serverPublish();
        else stats.add('dropRecvRingFull');
        break;
      }
      case 'port-unreachable': {
        stats.add('dropNoPort');
        if (quotable) {
          // The frame goes on to IP with the datagram (IP gives it back to its owner).
          const m = toIp!.reserve();
          if (m !== null) {
            m.setPointer(msg.pool, msg.poolGen, msg.offset - hlen, msg.length + hlen);
            SendIcmpError.start(m).typeCode(PORT_UNREACHABLE);
            toIp!.commit();
            stats.add('portUnreachableRequested');
            return;
          }
        }
        stats.add('portUnreachableNotSent');
        break;
      }
      case 'drop':
        stats.add(r.reason === 'truncated' ? 'dropTruncated' : r.reason === 'bad-length' ? 'dropBadLength' : 'dropBadChecksum');
        break;
    }
    ctx.buffers.giveBack(msg);
  }

  function onIcmpError(msg: MessageView): void {
    stats.add('icmpErrorsIn');
    if (msg.arg(IcmpError.typeCode) === PORT_UNREACHABLE) {
      stats.add('icmpPortUnreachableIn');
      // Tell the socket that sent the datagram, in its receive ring (a connected socket reports
      // ECONNREFUSED, as Linux does, RFC 1122 §4.1.3.3): quoted source = us, destination = them.
      const localAddr = msg.arg(IcmpError.quotedSrc);
      const localPort = msg.arg(IcmpError.ports) >>> 16;
      for (const b of bound.values()) {
        if (b.port !== localPort || (b.address !== 0 && b.address !== localAddr)) continue;
        const block = table.block(b.slot);
        if (records.writeNotice(block.recv, msg.arg(IcmpError.quotedDst), msg.arg(IcmpError.ports) & 0xffff)) block.serverPublish();
        else stats.add('dropRecvRingFull');
        break;
      }
    }
    if (msg.hasBuffer) ctx.buffers.giveBack(msg);
  }

  return {
    onMessage(msg: MessageView, from: InChannel, t: number): boolean {
      now = t;
      if (from === fromIp) {
        if (msg.type === IP_MSG.SEG_DELIVER) onDeliver(msg);
        else if (msg.type === IP_MSG.ICMP_ERROR) onIcmpError(msg);
        else { stats.add('unknownMessages'); if (msg.hasBuffer) ctx.buffers.giveBack(msg); }
        return true;
      }
      if (from === fromSock) {
        if (pendingSock.length > 64) return false; // SOCK is not reading: back-pressure
        if (msg.type === UDP_MSG.BIND) onBind(msg);
        else if (msg.type === UDP_MSG.CLOSE) onClose(msg.arg(UdpClose.slot));
        else stats.add('unknownMessages');
        return true;
      }
      // The application: kicks (as messages from a table without table events).
      if (msg.type === UDP_MSG.KICK && msg.arg(UdpKick.slot) < table.slots) onKick(msg.arg(UdpKick.slot));
      else stats.add('unknownMessages');
      return true;
    },
    poll(t: number): void {
      now = t;
      pendingSock.retry();
      // The application's kicks come as marks in the table (table-events.ts), not messages.
      table.events?.takeKicks(onKick);
      if (busy.size > 0) for (const slot of [...busy]) service(slot);
    },
    pollAt(): number {
      if (table.events?.kicksPending() === true) return now;
      return busy.size > 0 || pendingSock.length > 0 ? now + 1 : Infinity;
    },
    hasWork(): boolean {
      // A kick marked after the loop's last pass: it rang our doorbell only if we slept.
      return table.events?.kicksPending() === true;
    },
  };
}
