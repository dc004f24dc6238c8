/**
 * The SOCK server: the authority for the application's socket requests. It
 * takes control requests from the application (connect, listen, unlisten;
 * UDP bind and close, forwarded to the UDP server when the host has one),
 * forwards them to the transport server of the replica that will own the
 * socket, and tells the application the outcome and every accepted
 * connection. Data never passes through here: it moves in the socket blocks
 * shared between the application and the transport server.
 *
 * State that must survive a restart of this server (which listener of the
 * application is which listener of TCP) is kept in the data store.
 * Requests in flight when SOCK dies are answered again: TCP re-sends nothing,
 * but the application's pending connects are re-issued by their ids because
 * the app ring's unreleased slots are read again by the successor.
 *
 * Replicas (docs/ARCHITECTURE.md, "Replicas"): with N of them SOCK has a pair of
 * channels to each replica's TCP (`tcp`, `tcp-1`, ...) and UDP. A connect goes to
 * the next replica in turn that is not being drained (its TCP picks a local port
 * whose replies are steered back to it); a listen is made in replica 0 first (which
 * picks the port for port 0), then in each other replica on that port, and the
 * application gets one reply and, from every replica, its accepts on its one
 * listener. A UDP bind goes to the replica the driver steers its port to
 * (replicaOfUdpPort); an ephemeral one to the next replica in turn. Handles name
 * the replica (packSocketHandle).
 */
import type { InChannel } from '../substrate/channel.js';
import type { MessageView } from '../substrate/message.js';
import type { ServerContext, ServerCore } from '../substrate/server.js';
import { SOCKET_ERROR_CODES } from '../abi/socket-block.js';
import { SOCK_MSG, TCP_MSG, UDP_MSG, packSocketHandle, unpackSocketHandle } from '../abi/protocol.js';
import { replicaOfUdpPort } from '../abi/rss-table.js';
import {
  SockAccept, SockConnect, SockConnectReply, SockListen, SockListenReply, SockUdpBind, SockUdpBindReply, SockUdpClose, SockUnlisten,
  TcpAccepted, TcpConnect, TcpConnectReply, TcpListen, TcpListenReply, TcpUnlisten, UdpBind, UdpBindReply, UdpClose,
} from '../abi/message-args.js';

export interface SockServerOptions {
  /** Stack replicas (default 1). */
  readonly replicas?: number;
  /** Per replica an Int32 word, nonzero while the monitor drains it: no new connections go there. */
  readonly draining?: SharedArrayBuffer;
}

export interface SockCounters {
  connects: number;
  listens: number;
  accepts: number;
  connectFailures: number;
  releases: number;
  udpBinds: number;
  udpCloses: number;
  unknownMessages: number;
  /** Connects per replica. */
  connectsByReplica: number[];
}

const EINVAL_PLUS_ONE = SOCKET_ERROR_CODES.indexOf('EINVAL') + 1;
const endpoint = (base: string, r: number): string => r === 0 ? base : `${base}-${r}`;
/** Key of a TCP listener: replica and TCP's listener id. */
const listenerKey = (r: number, tcpId: number): number => r * 0x1000000 + tcpId;

interface PendingListen { readonly address: number; readonly backlog: number; port: number; readonly made: [number, number][] }

/**
 * The replica that gets a new connection or port-0 UDP bind: the application's request number
 * modulo the replicas (it numbers its requests in turn, so consecutive connects go round-robin),
 * the next one on when that replica is drained (all drained: the first choice anyway). A pure
 * function of the request, not a counter in this server's memory: a request SOCK's successor
 * receives again (SOCK died before freeing its slot) goes to the replica that already has it,
 * which answers it once; a counter started again from 0 sent it to another replica, which made
 * a second socket, and the first one leaked.
 */
export function replicaForRequest(request: number, replicas: number, drained: (r: number) => boolean): number {
  const first = (request >>> 0) % replicas;
  for (let i = 0; i < replicas; i++) {
    const r = (first + i) % replicas;
    if (!drained(r)) return r;
  }
  return first;
}

export function createServer(ctx: ServerContext): ServerCore {
  const opts = ctx.options as SockServerOptions;
  const replicas = opts.replicas ?? 1;
  const draining = opts.draining === undefined ? null : new Int32Array(opts.draining);
  const toApp = ctx.outputs['app'];
  const toTcp = Array.from({ length: replicas }, (_, r) => ctx.outputs[endpoint('tcp', r)]);
  if (toApp === undefined || toTcp.some((o) => o === undefined)) throw new Error('sock server needs outputs "app" and "tcp" (and "tcp-k" per replica)');
  const fromApp = ctx.inputs['app'];
  const replicaOf = new Map<InChannel | undefined, number>();
  for (let r = 0; r < replicas; r++) {
    replicaOf.set(ctx.inputs[endpoint('tcp', r)], r);
    if (ctx.inputs[endpoint('udp', r)] !== undefined) replicaOf.set(ctx.inputs[endpoint('udp', r)], r);
  }
  // UDP is optional: a host may run without it.
  const toUdp = Array.from({ length: replicas }, (_, r) => ctx.outputs[endpoint('udp', r)]);
  const hasUdp = toUdp.every((o) => o !== undefined);
  // TCP listener (replica, id) → application listener id, and the reverse, persisted.
  const saved = ctx.store.get('listeners') as [number, number][] | undefined;
  const tcpToApp = new Map<number, number>(saved ?? []);
  const appToTcp = new Map<number, number[]>();
  for (const [k, a] of tcpToApp) appToTcp.set(a, [...appToTcp.get(a) ?? [], k]);
  const pendingListens = new Map<number, PendingListen>();
  const counters: SockCounters = {
    connects: 0, listens: 0, accepts: 0, connectFailures: 0, releases: 0, udpBinds: 0, udpCloses: 0, unknownMessages: 0,
    connectsByReplica: new Array<number>(replicas).fill(0),
  };
  const persist = (): void => ctx.store.set('listeners', [...tcpToApp]);
  const drained = (r: number): boolean => draining !== null && Atomics.load(draining, r) !== 0;

  const fromApplication = (msg: MessageView): boolean => {
    switch (msg.type) {
      case SOCK_MSG.CONNECT: {
        const r = replicaForRequest(msg.arg(SockConnect.socket), replicas, drained);
        if (!TcpConnect.send(toTcp[r]!, {
          request: msg.arg(SockConnect.socket), remoteAddr: msg.arg(SockConnect.remoteAddr), remotePort: msg.arg(SockConnect.remotePort),
          localAddr: msg.arg(SockConnect.localAddr), localPort: msg.arg(SockConnect.localPort),
        })) return false;
        counters.connects++;
        counters.connectsByReplica[r]!++;
        return true;
      }
      case SOCK_MSG.LISTEN:
        if (!TcpListen.send(toTcp[0]!, {
          request: msg.arg(SockListen.listener), localAddr: msg.arg(SockListen.localAddr), localPort: msg.arg(SockListen.localPort), backlog: msg.arg(SockListen.backlog),
        })) return false;
        counters.listens++;
        if (replicas > 1) pendingListens.set(msg.arg(SockListen.listener), { address: msg.arg(SockListen.localAddr), backlog: msg.arg(SockListen.backlog), port: 0, made: [] });
        return true;
      case SOCK_MSG.UNLISTEN: {
        const keys = appToTcp.get(msg.arg(SockUnlisten.listener));
        if (keys === undefined) return true;
        while (keys.length > 0) {
          const k = keys[keys.length - 1]!;
          if (!TcpUnlisten.send(toTcp[Math.floor(k / 0x1000000)]!, { listener: k % 0x1000000 })) return false;
          keys.pop();
          tcpToApp.delete(k);
        }
        appToTcp.delete(msg.arg(SockUnlisten.listener));
        persist();
        return true;
      }
      case SOCK_MSG.UDP_BIND: {
        if (!hasUdp) return SockUdpBindReply.send(toApp, { socket: msg.arg(SockUdpBind.socket), handle: -1, error: EINVAL_PLUS_ONE, port: 0, address: 0 });
        const port = msg.arg(SockUdpBind.localPort);
        const r = port !== 0 ? replicaOfUdpPort(port, replicas) : replicaForRequest(msg.arg(SockUdpBind.socket), replicas, () => false);
        if (!UdpBind.send(toUdp[r]!, { request: msg.arg(SockUdpBind.socket), localAddr: msg.arg(SockUdpBind.localAddr), localPort: port })) return false;
        counters.udpBinds++;
        return true;
      }
      case SOCK_MSG.UDP_CLOSE: {
        const h = unpackSocketHandle(msg.arg(SockUdpClose.handle));
        const out = toUdp[h.replica];
        if (out !== undefined && !UdpClose.send(out, { slot: h.slot })) return false;
        counters.udpCloses++;
        return true;
      }
      default:
        counters.unknownMessages++;
        return true;
    }
  };

  /** A listen was made in replica r (or failed there): go on to the next replica, or answer the app. */
  const listenReply = (r: number, msg: MessageView): boolean => {
    const appId = msg.arg(TcpListenReply.request);
    const tcpId = msg.argI32(TcpListenReply.listener);
    const error = msg.arg(TcpListenReply.error);
    const pending = pendingListens.get(appId);
    // A restarted TCP answers again every LISTEN it restored (its first reply may have died
    // with it); one we already have changes nothing and the application heard of it.
    if (pending === undefined && error === 0 && tcpId >= 0 && tcpToApp.get(listenerKey(r, tcpId)) === appId) return true;
    if (pending === undefined || replicas === 1) {
      if (!SockListenReply.send(toApp, { listener: appId, error, port: msg.arg(TcpListenReply.port) })) return false;
      if (tcpId >= 0 && error === 0) {
        tcpToApp.set(listenerKey(r, tcpId), appId);
        appToTcp.set(appId, [listenerKey(r, tcpId)]);
        persist();
      }
      return true;
    }
    if (error !== 0 || tcpId < 0) {
      // Failed in one replica: undo it in those that made it, and tell the app the reason.
      while (pending.made.length > 0) {
        const [mr, mid] = pending.made[pending.made.length - 1]!;
        if (!TcpUnlisten.send(toTcp[mr]!, { listener: mid })) return false;
        pending.made.pop();
      }
      if (!SockListenReply.send(toApp, { listener: appId, error: error === 0 ? EINVAL_PLUS_ONE : error, port: 0 })) return false;
      pendingListens.delete(appId);
      return true;
    }
    if (!pending.made.some(([mr]) => mr === r)) pending.made.push([r, tcpId]);
    if (r === 0) pending.port = msg.arg(TcpListenReply.port);
    if (r + 1 < replicas) {
      // Every replica listens on the port replica 0 chose.
      return TcpListen.send(toTcp[r + 1]!, { request: appId, localAddr: pending.address, localPort: pending.port, backlog: pending.backlog });
    }
    if (!SockListenReply.send(toApp, { listener: appId, error: 0, port: pending.port })) return false;
    pendingListens.delete(appId);
    const keys = pending.made.map(([mr, mid]) => listenerKey(mr, mid));
    for (const k of keys) tcpToApp.set(k, appId);
    appToTcp.set(appId, keys);
    persist();
    return true;
  };

  const fromTransport = (msg: MessageView, r: number): boolean => {
    switch (msg.type) {
      case TCP_MSG.CONNECT_REPLY: {
        const slot = msg.argI32(TcpConnectReply.slot);
        if (!SockConnectReply.send(toApp, {
          socket: msg.arg(TcpConnectReply.request), handle: slot < 0 ? -1 : packSocketHandle(r, slot), error: msg.arg(TcpConnectReply.error),
          localAddr: msg.arg(TcpConnectReply.localAddr), localPort: msg.arg(TcpConnectReply.localPort),
        })) return false;
        if (slot < 0) counters.connectFailures++;
        return true;
      }
      case TCP_MSG.LISTEN_REPLY:
        return listenReply(r, msg);
      case TCP_MSG.ACCEPTED: {
        const appId = tcpToApp.get(listenerKey(r, msg.arg(TcpAccepted.listener)));
        // A listener the app closed meanwhile: the app will refuse (abort) the socket.
        if (!SockAccept.send(toApp, {
          listener: appId ?? 0, handle: packSocketHandle(r, msg.arg(TcpAccepted.slot)), remoteAddr: msg.arg(TcpAccepted.remoteAddr),
          localAddr: msg.arg(TcpAccepted.localAddr), ports: msg.arg(TcpAccepted.ports), generation: msg.arg(TcpAccepted.generation),
        })) return false;
        counters.accepts++;
        return true;
      }
      case UDP_MSG.BIND_REPLY: {
        const slot = msg.argI32(UdpBindReply.slot);
        return SockUdpBindReply.send(toApp, {
          socket: msg.arg(UdpBindReply.request), handle: slot < 0 ? -1 : packSocketHandle(r, slot), error: msg.arg(UdpBindReply.error),
          port: msg.arg(UdpBindReply.port), address: msg.arg(UdpBindReply.address),
        });
      }
      case TCP_MSG.RELEASED:
        counters.releases++;
        return true;
      default:
        counters.unknownMessages++;
        return true;
    }
  };

  return {
    onMessage(msg: MessageView, from: InChannel): boolean {
      return from === fromApp ? fromApplication(msg) : fromTransport(msg, replicaOf.get(from) ?? 0);
    },
  };
}
