/**
 * Puts Node's own `net`, `http`, `https`, `tls`, `dgram` and the global `fetch` on a
 * newtos host, for an application that does not know newtos (`newtos run`). The module
 * objects are patched in place and `syncBuiltinESMExports()` makes ESM named imports see
 * the patch:
 *
 * - net.connect / createConnection / `new net.Socket()` open newtos connections (a socket
 *   made from an fd or a handle — stdio pipes, child_process — stays Node's own);
 * - net.Server.prototype.listen / close / address / ref / unref / listening: every
 *   net.Server (http.Server, https.Server, tls.Server, net.createServer's) listens on
 *   newtos and gets its connections through its 'connection' event, as Node's onconnection
 *   gives them (noDelay, keepAlive, allowHalfOpen, pauseOnConnect, maxConnections kept);
 * - http.Agent's createConnection (it holds the original net.createConnection);
 * - tls.connect without a `socket` runs TLS over a newtos connection;
 * - dgram.createSocket makes newtos UDP sockets;
 * - fetch: Node's bundled undici calls net.connect / tls.connect at call time, so the
 *   patch above carries it with no dispatcher of its own.
 * Local (IPC) paths and handles stay on the kernel: newtos has no local sockets.
 */
import dgram from 'node:dgram';
import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import { syncBuiltinESMExports } from 'node:module';
import type { Stack } from '../stack/host.js';
import type { NetServer } from '../app/net-server.js';
import type { NetSocket } from '../app/net-socket.js';
import { normalizeConnectArgs } from '../app/connect-options.js';
import { abortError } from '../app/client.js';

const kListener = Symbol('newtos.listener');
const kClosing = Symbol('newtos.closing');

/** The fields of Node 20's net.Server that its onconnection reads. */
interface NodeServer extends net.Server {
  [kListener]?: NetServer;
  [kClosing]?: boolean;
  _connections: number;
  _unref?: boolean;
  noDelay?: boolean;
  keepAlive?: boolean;
  /** Seconds (Node 20 keeps it so). */
  keepAliveInitialDelay?: number;
  allowHalfOpen?: boolean;
  pauseOnConnect?: boolean;
}

type AnyFn = (...args: unknown[]) => unknown;

function listenHost(host: unknown): string {
  if (host === undefined || host === null || host === '' || host === '::' || host === '0.0.0.0') return '0.0.0.0';
  if (host === 'localhost' || host === '::1') return '127.0.0.1';
  return String(host);
}

function maybeEmitClose(server: NodeServer): void {
  if (server[kClosing] === true && server._connections === 0) {
    server[kClosing] = false;
    process.nextTick(() => server.emit('close'));
  }
}

/** Node's onconnection, for a newtos socket accepted on behalf of `server`. */
function onConnection(server: NodeServer, socket: NetSocket): void {
  if (server.maxConnections !== undefined && server.maxConnections !== null && server._connections >= server.maxConnections) {
    server.emit('drop', { localAddress: socket.localAddress, localPort: socket.localPort, localFamily: socket.localFamily,
      remoteAddress: socket.remoteAddress, remotePort: socket.remotePort, remoteFamily: socket.remoteFamily });
    socket.destroy();
    return;
  }
  if (server.noDelay === true) socket.setNoDelay(true);
  if (server.keepAlive === true) socket.setKeepAlive(true, (server.keepAliveInitialDelay ?? 0) * 1000);
  socket.allowHalfOpen = server.allowHalfOpen === true;
  (socket as unknown as { server: net.Server; _server: net.Server }).server = server;
  (socket as unknown as { _server: net.Server })._server = server;
  server._connections++;
  socket.once('close', () => { server._connections--; maybeEmitClose(server); });
  if (server.pauseOnConnect === true) socket.pause();
  server.emit('connection', socket);
}

export interface InterposeOptions {
  /** Names that resolve without DNS (the `lookup` hook of every connect), besides 'localhost'. */
  readonly hosts?: Readonly<Record<string, string>>;
}

/** Patches Node's modules onto `stack`; returns a function that puts the originals back. */
export function interpose(stack: Stack, options: InterposeOptions = {}): () => void {
  const hosts = new Map(Object.entries(options.hosts ?? {}));
  // The host table first, then the stack's DNS client (configuration `dns`), if any.
  const dnsLookup = stack.client.lookup;
  stack.client.lookup = (hostname, opts, cb) => {
    const address = hosts.get(hostname);
    if (address !== undefined) { queueMicrotask(() => cb(null, address, 4)); return; }
    if (dnsLookup !== undefined) { dnsLookup(hostname, opts, cb); return; }
    const err = Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND', errno: -3008, syscall: 'getaddrinfo', hostname });
    queueMicrotask(() => cb(err, '', 4));
  };
  const proto = net.Server.prototype as unknown as Record<string, unknown>;
  const listeningDesc = Object.getOwnPropertyDescriptor(net.Server.prototype, 'listening')!;
  const orig = {
    connect: net.connect, createConnection: net.createConnection, Socket: net.Socket, Stream: (net as unknown as { Stream: unknown }).Stream,
    listen: proto['listen'] as AnyFn, close: proto['close'] as AnyFn, address: proto['address'] as AnyFn,
    ref: proto['ref'] as AnyFn, unref: proto['unref'] as AnyFn,
    agentCreateConnection: http.Agent.prototype.createConnection,
    tlsConnect: tls.connect, createSocket: dgram.createSocket,
  };
  const NewtosSocket = stack.net.Socket;

  const connect = function connect(...args: unknown[]): unknown {
    const { options: o } = normalizeConnectArgs(args);
    if (o.path) return (orig.connect as AnyFn)(...args);
    return stack.net.connect(...args);
  };
  function Socket(this: unknown, options?: { fd?: unknown; handle?: unknown }): unknown {
    // Node's own subclasses initialise themselves with ReflectApply(net.Socket, this, ...) on the
    // module's current net.Socket (tls.TLSSocket over its wrapped stream): give them the original.
    if (new.target === undefined && this instanceof orig.Socket) {
      (orig.Socket as unknown as AnyFn).apply(this, [options]);
      return this;
    }
    if (options !== undefined && options !== null && (typeof options.fd === 'number' || options.handle)) {
      return new orig.Socket(options as net.SocketConstructorOpts);
    }
    return new NewtosSocket(options as object);
  }
  Socket.prototype = NewtosSocket.prototype;
  Object.defineProperty(Socket, Symbol.hasInstance, { value: (x: unknown) => x instanceof NewtosSocket || x instanceof orig.Socket });

  const patchedListen = function listen(this: NodeServer, ...args: unknown[]): NodeServer {
    const last = args[args.length - 1];
    const cb = typeof last === 'function' ? last as () => void : undefined;
    const rest = cb === undefined ? args : args.slice(0, -1);
    const first = rest[0];
    let port: unknown; let host: unknown; let backlog: unknown; let signal: AbortSignal | undefined;
    if (typeof first === 'object' && first !== null) {
      const o = first as Record<string, unknown>;
      // A pipe path, an fd or a handle: the kernel's, as before.
      if (o['path'] || typeof o['fd'] === 'number' || o['handle'] || o['_handle']) return orig.listen.apply(this, args) as NodeServer;
      ({ port, host, backlog } = o);
      signal = o['signal'] as AbortSignal | undefined;
    } else if (typeof first === 'string' && !/^\d+$/.test(first)) {
      return orig.listen.apply(this, args) as NodeServer;
    } else {
      port = first;
      if (typeof rest[1] === 'string') { host = rest[1]; backlog = rest[2]; } else backlog = rest[1];
    }
    const listener = stack.net.createServer();
    const p = port === undefined || port === null ? 0 : Number(port);
    if (cb !== undefined) this.once('listening', cb);
    listener.on('connection', (socket) => onConnection(this, socket));
    listener.on('error', (err) => { if (this[kListener] === listener) this[kListener] = undefined; this.emit('error', err); });
    listener.once('listening', () => { if (this[kListener] === listener) this.emit('listening'); });
    listener.listen({ port: p, host: listenHost(host), ...(typeof backlog === 'number' ? { backlog } : {}) });
    this[kListener] = listener;
    this[kClosing] = false;
    this._connections ??= 0;
    if (this._unref === true) listener.unref();
    if (signal !== undefined) {
      const abort = (): void => { if (this[kListener] === listener) this.close(); };
      if (signal.aborted) queueMicrotask(abort); else signal.addEventListener('abort', abort, { once: true });
    }
    return this;
  };
  const patchedClose = function close(this: NodeServer, cb?: (err?: Error) => void): NodeServer {
    const listener = this[kListener];
    if (listener === undefined) return orig.close.call(this, cb) as NodeServer;
    if (typeof cb === 'function') this.once('close', cb);
    this[kListener] = undefined;
    this[kClosing] = true;
    listener.close();
    maybeEmitClose(this);
    return this;
  };
  const patchedAddress = function address(this: NodeServer): unknown {
    const listener = this[kListener];
    return listener === undefined ? orig.address.call(this) : listener.address();
  };
  const patchedRef = function ref(this: NodeServer): NodeServer { this[kListener]?.ref(); return orig.ref.call(this) as NodeServer; };
  const patchedUnref = function unref(this: NodeServer): NodeServer { this[kListener]?.unref(); return orig.unref.call(this) as NodeServer; };

  const tlsConnect = function connect(...args: unknown[]): tls.TLSSocket {
    const last = args[args.length - 1];
    const cb = typeof last === 'function' ? last as () => void : undefined;
    const rest = cb === undefined ? args : args.slice(0, -1);
    let o: tls.ConnectionOptions = {};
    if (typeof rest[0] === 'object' && rest[0] !== null) o = { ...(rest[0] as tls.ConnectionOptions) };
    else {
      o.port = Number(rest[0]);
      if (typeof rest[1] === 'string') { o.host = rest[1]; if (typeof rest[2] === 'object') o = { ...(rest[2] as object), ...o }; }
      else if (typeof rest[1] === 'object' && rest[1] !== null) o = { ...(rest[1] as object), ...o };
    }
    if (o.socket || o.path) return (orig.tlsConnect as AnyFn)(...args) as tls.TLSSocket;
    const host = o.host ?? 'localhost';
    const raw = stack.net.connect({ host, port: o.port, ...(o.lookup ? { lookup: o.lookup } : {}), ...((o as { localAddress?: string }).localAddress ? { localAddress: (o as { localAddress?: string }).localAddress } : {}),
      ...(o.timeout !== undefined ? { timeout: o.timeout } : {}) });
    const servername = o.servername ?? (net.isIP(host) === 0 ? host : undefined);
    const secure = orig.tlsConnect({ ...o, host, socket: raw, ...(servername !== undefined ? { servername } : {}) }, cb);
    raw.once('error', (err) => { if (!secure.destroyed) secure.destroy(err); });
    const signal = (o as { signal?: AbortSignal }).signal;
    if (signal !== undefined) {
      const abort = (): void => { secure.destroy(abortError(signal)); };
      if (signal.aborted) queueMicrotask(abort); else signal.addEventListener('abort', abort, { once: true });
    }
    return secure;
  };

  const mnet = net as unknown as Record<string, unknown>;
  mnet['connect'] = connect;
  mnet['createConnection'] = connect;
  mnet['Socket'] = Socket;
  mnet['Stream'] = Socket;
  proto['listen'] = patchedListen;
  proto['close'] = patchedClose;
  proto['address'] = patchedAddress;
  proto['ref'] = patchedRef;
  proto['unref'] = patchedUnref;
  Object.defineProperty(net.Server.prototype, 'listening', {
    ...listeningDesc,
    get(this: NodeServer) { return this[kListener] !== undefined ? this[kListener].listening : listeningDesc.get!.call(this) as boolean; },
  });
  http.Agent.prototype.createConnection = connect as typeof http.Agent.prototype.createConnection;
  (tls as unknown as Record<string, unknown>)['connect'] = tlsConnect;
  (dgram as unknown as Record<string, unknown>)['createSocket'] = (...a: unknown[]) => (stack.dgram.createSocket as AnyFn)(...a);
  syncBuiltinESMExports();

  return () => {
    Object.assign(mnet, { connect: orig.connect, createConnection: orig.createConnection, Socket: orig.Socket, Stream: orig.Stream });
    Object.assign(proto, { listen: orig.listen, close: orig.close, address: orig.address, ref: orig.ref, unref: orig.unref });
    Object.defineProperty(net.Server.prototype, 'listening', listeningDesc);
    http.Agent.prototype.createConnection = orig.agentCreateConnection;
    (tls as unknown as Record<string, unknown>)['connect'] = orig.tlsConnect;
    (dgram as unknown as Record<string, unknown>)['createSocket'] = orig.createSocket;
    syncBuiltinESMExports();
    stack.client.lookup = dnsLookup;
  };
}
