/**
 * The application side of a newtos host: `net`- and `http`-compatible objects
 * backed by fast sockets. Control requests go to the SOCK server over the
 * app's ring; replies and accept notices come back on the app's input ring.
 * Data never goes through a message: sockets read and write the socket
 * blocks in the transport servers' socket tables, and kick a transport server
 * (one KICK message) only when it asked for it (docs/ARCHITECTURE.md "Fast sockets").
 */
import { NewtosError } from '../errors.js';
import { formatIpv4Address } from '../wire/ipv4-address.js';
import { lateAsyncWakes } from '../substrate/doorbell.js';
import type { MessageView } from '../substrate/message.js';
import { NetServer, type ListenProvider, type NetServerOptions } from './net-server.js';
import { NetSocket, socketError, type NetSocketOptions } from './net-socket.js';
import type { ListenerPort, ListenerSink, SocketAddressInfo, SocketPort } from './socket-port.js';
import { createHttpAgent, serveHttp } from './http.js';
import { normalizeConnectArgs, notFound, resolveHost, type ConnectOptions, type LookupFunction } from './connect-options.js';
import { KeepAlive } from './keep-alive.js';
import { addTableWakes, tableWakeUps, type KickRing, type SocketEvents } from './socket-events.js';
import { parseIpv4 } from '../config/stack-config.js';
import { AppFlag, SOCKET_ERROR_CODES, ServerFlag, addOpStats, zeroOpStats, type SocketOpStats } from '../abi/socket-block.js';
import type { SocketTable } from '../abi/socket-table.js';
import { SOCK_MSG, SocketOption, unpackSocketHandle } from '../abi/protocol.js';
import type { AppChannelMemory, AppInput, AppOutput } from './app-link.js';
import { PingClient, type PingOptions, type PingResult } from './ping.js';
import { UdpClient } from './udp-client.js';
import type http from 'node:http';
import { SockAccept, SockConnect, unpackPorts, SockConnectReply, SockListen, SockListenReply, SockUnlisten, TcpKick, TcpSetOption } from '../abi/message-args.js';

export const formatIpv4 = formatIpv4Address;

function info(address: number, port: number): SocketAddressInfo {
  return { address: formatIpv4(address), port, family: 'IPv4' };
}

/** Node's AbortError for an aborted connect or listen. */
export function abortError(signal: AbortSignal): Error {
  const err = new Error('The operation was aborted', { cause: signal.reason }) as Error & { code: string };
  err.name = 'AbortError';
  err.code = 'ABORT_ERR';
  return err;
}

function errorFromIndex(plusOne: number): string {
  return SOCKET_ERROR_CODES[plusOne - 1] ?? 'EIO';
}

/** The application's links into one host's servers. */
export interface ClientLinks {
  readonly toSock: AppOutput;
  readonly fromSock: AppInput;
  /** Per replica: the app → TCP kick channel and the TCP socket table. */
  readonly toTcp: readonly AppOutput[];
  readonly tcpTables: readonly SocketTable[];
  /** Per replica: the app → UDP kick channel and the UDP socket table (absent: no UDP). */
  readonly toUdp?: readonly AppOutput[];
  readonly udpTables?: readonly SocketTable[];
  /** The app ⇄ IP channels (echo requests for ping); `fromIp` shares fromSock's doorbell. */
  readonly toIp?: AppOutput;
  readonly fromIp?: AppChannelMemory;
}

interface PendingConnect {
  socket: NetSocket;
  target: SocketAddressInfo;
}

interface ListenerEntry {
  sink: ListenerSink;
  resolve: (port: ListenerPort) => void;
  reject: (err: Error) => void;
  local: SocketAddressInfo | undefined;
  requested: { port: number; host: string };
}

export class StackClient implements ListenProvider {
  private nextId = 1;
  private readonly connects = new Map<number, PendingConnect>();
  private readonly listeners = new Map<number, ListenerEntry>();
  private readonly ports = new Set<FastSocketPort>();
  /** Counts of the sockets already closed. */
  private readonly closedStats: SocketOpStats = zeroOpStats();
  private closed = false;
  /** Accepts of a socket we already had, and replies to a listen already answered (announced again by a restarted TCP server). */
  private duplicateAnnouncements = 0;

  /** `net`-compatible surface. */
  readonly net = {
    createServer: (listenerOrOptions?: ((s: NetSocket) => void) | object, maybeListener?: (s: NetSocket) => void): NetServer => {
      const listener = typeof listenerOrOptions === 'function' ? listenerOrOptions as (s: NetSocket) => void : maybeListener;
      const options = typeof listenerOrOptions === 'function' || listenerOrOptions === undefined ? {} : listenerOrOptions as NetServerOptions;
      return new NetServer(this, listener, options);
    },
    connect: (...args: unknown[]): NetSocket => this.connect(...args),
    createConnection: (...args: unknown[]): NetSocket => this.connect(...args),
    /** `new stack.net.Socket(options)`, then `.connect(...)`. */
    Socket: this.socketClass(),
  };

  /** Keeps the process alive while a connect waits for its reply or a ref'd listener listens. */
  private readonly keepAlive = new KeepAlive();
  /**
   * How host names other than IPv4 literals and 'localhost' become addresses when a
   * connect gives no `lookup` of its own (Node's dns.lookup signature); none: ENOTFOUND.
   */
  lookup: LookupFunction | undefined;

  /** `http` helpers: serve an unmodified http.Server, or get an Agent for clients. */
  readonly http = {
    serve: (server: http.Server, port: number, host?: string, cb?: () => void): NetServer => serveHttp(this.net, server, port, host, cb),
    agent: (options?: http.AgentOptions): http.Agent => createHttpAgent(this.net, options),
  };

  private readonly udp: UdpClient;
  /** Per TCP replica: the loop that ends its sockets' waits (socket-events.ts), and its kicks' ring. */
  private readonly tcpEvents: readonly SocketEvents[];
  private readonly kickRings: readonly KickRing[];
  /** `dgram`-compatible surface (UDP over fast datagram sockets). */
  readonly dgram: UdpClient['dgram'];

  constructor(private readonly links: ClientLinks) {
    this.udp = new UdpClient(links.toSock, links.toUdp ?? [], links.udpTables ?? []);
    this.dgram = this.udp.dgram;
    ({ events: this.tcpEvents, kickRings: this.kickRings } = tableWakeUps('TCP', links.tcpTables, links.toTcp));
    if (links.toIp !== undefined && links.fromIp !== undefined) {
      const pinger = new PingClient(links.toIp);
      this.pinger = pinger;
      links.fromSock.attach(links.fromIp, (msg) => pinger.onMessage(msg));
    }
    links.fromSock.start((msg) => this.onMessage(msg));
  }

  /** The TCP socket tables, one per replica (shared memory: rings and connection checkpoints), for diagnostics. */
  tcpSocketTables(): readonly SocketTable[] {
    return this.links.tcpTables;
  }

  private readonly pinger: PingClient | undefined;

  /** ICMP echo to `address` (see src/app/ping.ts). */
  ping(address: string, options?: PingOptions): Promise<PingResult> {
    if (this.pinger === undefined) return Promise.reject(new NewtosError('ERR_NEWTOS_NO_ICMP', 'this host has no application channel to its IP server'));
    return this.pinger.ping(address, options);
  }

  // ---- connect --------------------------------------------------------------

  connect(...args: unknown[]): NetSocket {
    const { options, cb } = normalizeConnectArgs(args);
    const socket = new NetSocket({ connector: this, ...(options.allowHalfOpen !== undefined ? { allowHalfOpen: options.allowHalfOpen } : {}) });
    this.connectSocket(socket, options, cb);
    return socket;
  }

  /** A net.Socket class of this stack: `new stack.net.Socket().connect(port, host)`, as Node's. */
  private socketClass(): new (options?: NetSocketOptions) => NetSocket {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const client = this;
    return class Socket extends NetSocket {
      constructor(options: NetSocketOptions = {}) { super({ connector: client, ...options }); }
    };
  }

  /** Starts the connection of `socket` (SocketConnector, for socket.connect()). */
  connectSocket(socket: NetSocket, opts: ConnectOptions, cb: (() => void) | undefined): void {
    if (opts.path) throw new NewtosError('ERR_INVALID_ARG_VALUE', `newtos has no local (IPC) sockets: cannot connect to path '${opts.path}'`);
    const port = typeof opts.port === 'string' && opts.port.trim() !== '' ? Number(opts.port) : opts.port;
    if (typeof port !== 'number' || !Number.isInteger(port) || port <= 0 || port > 65535) {
      const err = new NewtosError('ERR_SOCKET_BAD_PORT', `Port should be > 0 and < 65536. Received ${String(opts.port)}.`);
      err.name = 'RangeError';
      throw err;
    }
    if (opts.family !== undefined && opts.family !== 0 && opts.family !== 4) {
      throw new NewtosError('ERR_INVALID_ARG_VALUE', `newtos speaks IPv4 only: family ${String(opts.family)} is not supported`);
    }
    const host = opts.host === undefined ? 'localhost' : String(opts.host);
    if (opts.noDelay === true) socket.setNoDelay(true);
    if (opts.keepAlive === true) socket.setKeepAlive(true, opts.keepAliveInitialDelay ?? 0);
    if (opts.timeout !== undefined) socket.setTimeout(opts.timeout);
    if (cb !== undefined) socket.once('connect', cb);
    const target: SocketAddressInfo = { address: host, port, family: 'IPv4' };
    socket._beginConnect(target);
    // Held until the stack replies: the wait on the app's ring alone keeps no process alive.
    const release = this.keepAlive.hold();
    socket.once('close', release);
    socket.once('connect', release);
    const signal = opts.signal;
    if (signal !== undefined) {
      const abort = (): void => { socket.destroy(abortError(signal)); };
      if (signal.aborted) { queueMicrotask(abort); return; }
      signal.addEventListener('abort', abort, { once: true });
      socket.once('close', () => signal.removeEventListener('abort', abort));
    }
    resolveHost(host, opts.lookup ?? this.lookup, (err, address, looked) => {
      if (looked) socket.emit('lookup', err, address, 4, host);
      if (socket.destroyed) return;
      if (err !== null) { socket._failConnect(err); return; }
      const remote = parseIpv4(address)!;
      const local = opts.localAddress === undefined || opts.localAddress === null ? 0 : parseIpv4(String(opts.localAddress));
      if (local === undefined) { socket._failConnect(notFound(String(opts.localAddress))); return; }
      if (this.closed) { socket._failConnect(new NewtosError('ERR_STACK_CLOSED', 'the newtos stack is closed')); return; }
      const resolved: SocketAddressInfo = { address, port, family: 'IPv4' };
      socket._beginConnect(resolved);
      const id = this.nextId++;
      this.connects.set(id, { socket, target: resolved });
      const localPort = typeof opts.localPort === 'number' ? opts.localPort : 0;
      this.links.toSock.send(SockConnect, { socket: id, remoteAddr: remote, remotePort: port, localAddr: local, localPort });
    });
  }

  // ---- listen -----------------------------------------------------------------

  listen(options: { port: number; host: string; backlog: number }, sink: ListenerSink): Promise<ListenerPort> {
    const addr = options.host === '::' || options.host === '0.0.0.0' ? 0 : parseIpv4(options.host);
    if (addr === undefined) return Promise.reject(new NewtosError('ENOTFOUND', `getaddrinfo ENOTFOUND ${options.host}`));
    if (this.closed) return Promise.reject(new NewtosError('ERR_STACK_CLOSED', 'the newtos stack is closed'));
    return new Promise((resolve, reject) => {
      const id = this.nextId++;
      // Held until SOCK replies (the listener then holds its own while ref'd).
      const release = this.keepAlive.hold();
      this.listeners.set(id, {
        sink, local: undefined, requested: { port: options.port, host: options.host },
        resolve: (p) => { release(); resolve(p); }, reject: (e) => { release(); reject(e); },
      });
      this.links.toSock.send(SockListen, { listener: id, localAddr: addr, localPort: options.port, backlog: Math.max(1, Math.min(options.backlog, 4096)) });
    });
  }

  // ---- messages from SOCK --------------------------------------------------------

  private onMessage(msg: MessageView): void {
    switch (msg.type) {
      case SOCK_MSG.CONNECT_REPLY: {
        const pending = this.connects.get(msg.arg(SockConnectReply.socket));
        if (pending === undefined) return;
        this.connects.delete(msg.arg(SockConnectReply.socket));
        if (msg.arg(SockConnectReply.error) !== 0 || msg.argI32(SockConnectReply.handle) === -1) {
          pending.socket._failConnect(socketError(errorFromIndex(msg.arg(SockConnectReply.error)), 'connect', pending.target));
          return;
        }
        const port = this.makePort(msg.arg(SockConnectReply.handle), info(msg.arg(SockConnectReply.localAddr), msg.arg(SockConnectReply.localPort)), pending.target);
        if (pending.socket.destroyed) { port.close(false); return; }
        pending.socket._attach(port, false);
        return;
      }
      case SOCK_MSG.LISTEN_REPLY: {
        const entry = this.listeners.get(msg.arg(SockListenReply.listener));
        if (entry === undefined) return;
        // A second reply (a restarted TCP answers its restored LISTENs again): it is listening already.
        if (entry.local !== undefined) { this.duplicateAnnouncements++; return; }
        if (msg.arg(SockListenReply.error) !== 0) {
          this.listeners.delete(msg.arg(SockListenReply.listener));
          const code = errorFromIndex(msg.arg(SockListenReply.error));
          const err = new NewtosError(code, `listen ${code}: address already in use ${entry.requested.host}:${entry.requested.port}`) as NewtosError & { syscall: string; address: string; port: number };
          if (code !== 'EADDRINUSE') err.message = `listen ${code} ${entry.requested.host}:${entry.requested.port}`;
          err.syscall = 'listen';
          err.address = entry.requested.host;
          err.port = entry.requested.port;
          entry.reject(err);
          return;
        }
        const id = msg.arg(SockListenReply.listener);
        entry.local = { address: entry.requested.host === '0.0.0.0' ? '0.0.0.0' : entry.requested.host, port: msg.arg(SockListenReply.port), family: 'IPv4' };
        const local = entry.local;
        // A listening server keeps the process alive while ref'd, as Node's does.
        let release: (() => void) | undefined = this.keepAlive.hold();
        entry.resolve({
          local: () => local,
          close: () => {
            release?.();
            release = undefined;
            this.listeners.delete(id);
            this.links.toSock.send(SockUnlisten, { listener: id });
          },
          setRef: (ref) => {
            if (!this.listeners.has(id)) return;
            if (ref) release ??= this.keepAlive.hold();
            else { release?.(); release = undefined; }
          },
        });
        return;
      }
      case SOCK_MSG.ACCEPT: {
        // A TCP server's successor announces again the connections it resumed that we had not
        // taken when it started (the first accept may have died with its predecessor): one we
        // have is not a new connection.
        // An accept for an earlier use of the slot (announced again after we took, closed and
        // the server gave the slot to a newer connection) is not this one's either.
        if (!this.newAccept(msg.arg(SockAccept.handle), msg.arg(SockAccept.generation))) { this.duplicateAnnouncements++; return; }
        const entry = this.listeners.get(msg.arg(SockAccept.listener));
        const { remotePort, localPort } = unpackPorts(msg.arg(SockAccept.ports));
        const port = this.makePort(msg.arg(SockAccept.handle), info(msg.arg(SockAccept.localAddr), localPort), info(msg.arg(SockAccept.remoteAddr), remotePort));
        if (entry === undefined || entry.local === undefined) { port.close(true); return; }
        const socket = new NetSocket();
        socket._attach(port, true);
        entry.sink.onConnection(socket);
        return;
      }
      case SOCK_MSG.UDP_BIND_REPLY:
        this.udp.onBindReply(msg);
        return;
      default:
        return;
    }
  }

  /**
   * Is an accept for `handle` at slot `generation` one we have not taken? Not when we have
   * (AppFlag.Adopted in its block), nor when the slot went to another connection since (its
   * generation moved on), nor for a slot no table has.
   */
  private newAccept(handle: number, generation: number): boolean {
    const { replica, slot } = unpackSocketHandle(handle);
    const table = this.links.tcpTables[replica];
    if (table === undefined || slot >= table.slots) return false;
    return (table.block(slot).appFlags() & AppFlag.Adopted) === 0 && (table.generation(slot) >>> 0) === (generation >>> 0);
  }

  private makePort(handle: number, local: SocketAddressInfo, remote: SocketAddressInfo): FastSocketPort {
    const { replica, slot } = unpackSocketHandle(handle);
    const table = this.links.tcpTables[replica];
    const kick = this.links.toTcp[replica];
    const events = this.tcpEvents[replica];
    const ring = this.kickRings[replica];
    if (table === undefined || kick === undefined || events === undefined || ring === undefined) throw new NewtosError('ERR_INTERNAL', `socket handle names unknown replica ${replica}`);
    table.block(slot).appSetFlags(AppFlag.Adopted);
    const port = new FastSocketPort(handle, slot, table, kick, ring, events, local, remote, (p) => {
      this.ports.delete(p);
      addOpStats(this.closedStats, p.block.opStats());
    });
    this.ports.add(port);
    return port;
  }

  /**
   * Fast-socket operation counts over every socket this client opened (open and closed).
   * `lateWakes`: waits of this thread (sockets, the application channel; every client of the
   * thread shares the count) that ended by their timeout although their word had changed, a
   * notify that never came; 0 unless something is wrong. `duplicateAccepts`: accepts of a
   * socket this client already had and replies to a listen already answered, announced again
   * by a TCP server's successor (ignored).
   */
  socketStats(): SocketOpStats & { messagesToSock: number; lateWakes: number; duplicateAccepts: number } {
    const total = { ...this.closedStats };
    for (const p of this.ports) addOpStats(total, p.block.opStats());
    // TCP and the application wake each other once per table, not per socket (table-events.ts).
    addTableWakes(total, this.links.tcpTables);
    addOpStats(total, this.udp.opStats());
    return { ...total, messagesToSock: this.links.toSock.sent, lateWakes: lateAsyncWakes(), duplicateAccepts: this.duplicateAnnouncements };
  }

  /**
   * After the servers stopped: every socket still open is told its connection is gone (the
   * Closed flag a TCP server sets when it releases one) and woken. Readers see the end of the
   * stream, pending writes fail with EPIPE, and no socket keeps waiting for an event.
   */
  abandonSockets(): void {
    for (const p of [...this.ports]) {
      p.block.serverSetFlags(ServerFlag.Closed);
      p.block.serverPublish();
    }
    for (const e of this.tcpEvents) e.close();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.keepAlive.clear();
    this.links.fromSock.stop();
    this.links.toSock.close();
    for (const t of this.links.toTcp) t.close();
    this.udp.close();
    for (const t of this.links.toUdp ?? []) t.close();
    this.pinger?.close();
    this.links.toIp?.close();
    for (const p of this.connects.values()) p.socket._failConnect(new NewtosError('ERR_STACK_CLOSED', 'the newtos stack is closed'));
    this.connects.clear();
  }
}

/** SocketPort over a TCP socket block. */
class FastSocketPort implements SocketPort {
  readonly block;
  private closed = false;

  constructor(
    readonly id: number,
    private readonly slot: number,
    table: SocketTable,
    private readonly toTcp: AppOutput,
    private readonly ring: KickRing,
    private readonly events: SocketEvents,
    private readonly localInfo: SocketAddressInfo,
    private readonly remoteInfo: SocketAddressInfo,
    private readonly onClose: (p: FastSocketPort) => void,
  ) {
    this.block = table.block(slot);
  }

  local(): SocketAddressInfo { return this.localInfo; }
  remote(): SocketAddressInfo { return this.remoteInfo; }

  kick(): void {
    // A mark in the table and one ring per event-loop turn (socket-events.ts KickRing).
    this.ring.kick(this.slot);
  }

  waitForEvent(seenSeq: number): Promise<void> {
    return this.events.wait(this.slot, this.block, seenSeq);
  }

  setOption(option: 'noDelay' | 'keepAlive', value: number): void {
    this.block.countControlMessage();
    this.toTcp.send(TcpSetOption, { slot: this.slot, option: option === 'noDelay' ? SocketOption.NoDelay : SocketOption.KeepAlive, value });
  }

  close(abort: boolean): void {
    if (this.closed) return;
    this.closed = true;
    this.block.appSetFlags(abort ? AppFlag.Abort | AppFlag.Close : AppFlag.Close);
    this.block.countControlMessage();
    this.toTcp.send(TcpKick, { slot: this.slot });
    this.onClose(this);
    // A wait still pending (the socket was destroyed while waiting) ends now.
    this.events.cancel(this.slot);
  }
}
