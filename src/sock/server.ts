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
 */
import type { InChannel, OutChannel } from '../substrate/channel.js';
import type { MessageView } from '../substrate/message.js';
import type { ServerContext, ServerCore } from '../substrate/server.js';
import { SOCKET_ERROR_CODES } from '../abi/socket-block.js';
import { SOCK_MSG, TCP_MSG, UDP_MSG, packSocketHandle, unpackSocketHandle } from '../abi/protocol.js';

export interface SockCounters {
  connects: number;
  listens: number;
  accepts: number;
  connectFailures: number;
  releases: number;
  udpBinds: number;
  udpCloses: number;
  unknownMessages: number;
}

const EINVAL_PLUS_ONE = SOCKET_ERROR_CODES.indexOf('EINVAL') + 1;

export function createServer(ctx: ServerContext): ServerCore {
  const toApp = ctx.outputs['app'];
  const toTcp = ctx.outputs['tcp'];
  if (toApp === undefined || toTcp === undefined) throw new Error('sock server needs outputs "app" and "tcp"');
  const fromApp = ctx.inputs['app'];
  // UDP is optional: a host may run without it.
  const toUdp = ctx.outputs['udp'];
  // TCP listener id → application listener id, and the reverse, persisted.
  const saved = ctx.store.get('listeners') as [number, number][] | undefined;
  const tcpToApp = new Map<number, number>(saved ?? []);
  const appToTcp = new Map<number, number>([...tcpToApp].map(([t, a]) => [a, t]));
  const counters: SockCounters = { connects: 0, listens: 0, accepts: 0, connectFailures: 0, releases: 0, udpBinds: 0, udpCloses: 0, unknownMessages: 0 };
  const persist = (): void => ctx.store.set('listeners', [...tcpToApp]);

  const send = (out: OutChannel, type: number, a: readonly number[]): boolean =>
    out.send(type, 0, a[0], a[1], a[2], a[3], a[4], a[5]);

  const fromApplication = (msg: MessageView): boolean => {
    switch (msg.type) {
      case SOCK_MSG.CONNECT:
        counters.connects++;
        return send(toTcp, TCP_MSG.CONNECT, [msg.arg(0), msg.arg(1), msg.arg(2), msg.arg(3), msg.arg(4)]);
      case SOCK_MSG.LISTEN:
        counters.listens++;
        return send(toTcp, TCP_MSG.LISTEN, [msg.arg(0), msg.arg(1), msg.arg(2), msg.arg(3)]);
      case SOCK_MSG.UNLISTEN: {
        const tcpId = appToTcp.get(msg.arg(0));
        if (tcpId === undefined) return true;
        if (!send(toTcp, TCP_MSG.UNLISTEN, [tcpId])) return false;
        appToTcp.delete(msg.arg(0));
        tcpToApp.delete(tcpId);
        persist();
        return true;
      }
      case SOCK_MSG.UDP_BIND:
        counters.udpBinds++;
        if (toUdp === undefined) return send(toApp, SOCK_MSG.UDP_BIND_REPLY, [msg.arg(0), -1, EINVAL_PLUS_ONE, 0, 0]);
        return send(toUdp, UDP_MSG.BIND, [msg.arg(0), msg.arg(1), msg.arg(2)]);
      case SOCK_MSG.UDP_CLOSE:
        counters.udpCloses++;
        return toUdp === undefined || send(toUdp, UDP_MSG.CLOSE, [unpackSocketHandle(msg.arg(0)).slot]);
      default:
        counters.unknownMessages++;
        return true;
    }
  };

  const fromTransport = (msg: MessageView): boolean => {
    switch (msg.type) {
      case TCP_MSG.CONNECT_REPLY: {
        const slot = msg.argI32(1);
        if (slot < 0) counters.connectFailures++;
        return send(toApp, SOCK_MSG.CONNECT_REPLY, [
          msg.arg(0), slot < 0 ? -1 : packSocketHandle(0, slot), msg.arg(2), msg.arg(3), msg.arg(4),
        ]);
      }
      case TCP_MSG.LISTEN_REPLY: {
        const appId = msg.arg(0);
        const tcpId = msg.argI32(1);
        if (!send(toApp, SOCK_MSG.LISTEN_REPLY, [appId, msg.arg(2), msg.arg(3)])) return false;
        if (tcpId >= 0 && msg.arg(2) === 0) {
          tcpToApp.set(tcpId, appId);
          appToTcp.set(appId, tcpId);
          persist();
        }
        return true;
      }
      case TCP_MSG.ACCEPTED: {
        const appId = tcpToApp.get(msg.arg(0));
        counters.accepts++;
        // A listener the app closed meanwhile: the app will refuse (abort) the socket.
        return send(toApp, SOCK_MSG.ACCEPT, [
          appId ?? 0, packSocketHandle(0, msg.arg(1)), msg.arg(2), msg.arg(3), msg.arg(4), msg.arg(5),
        ]);
      }
      case UDP_MSG.BIND_REPLY: {
        const slot = msg.argI32(1);
        return send(toApp, SOCK_MSG.UDP_BIND_REPLY, [
          msg.arg(0), slot < 0 ? -1 : packSocketHandle(0, slot), msg.arg(2), msg.arg(3), msg.arg(4),
        ]);
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
      return from === fromApp ? fromApplication(msg) : fromTransport(msg);
    },
  };
}
