/**
 * A `net.Server`-compatible listener over newtos: listen(port[, host][, backlog][, cb])
 * or listen({ port, host, backlog }), 'listening', 'connection', 'close',
 * 'error' (EADDRINUSE and friends, with Node's message shape), address(),
 * close(cb), getConnections(cb), maxConnections, ref()/unref().
 *
 * An unmodified Node `http.Server` runs on it: every accepted NetSocket is also
 * given to `http.Server` through its 'connection' event (see http.ts).
 */
import { EventEmitter } from 'node:events';
import { NewtosError } from '../errors.js';
import type { NetSocket } from './net-socket.js';
import type { ListenerPort, ListenerSink, SocketAddressInfo } from './socket-port.js';

export interface ListenOptions {
  port?: number;
  host?: string;
  backlog?: number;
}

/** What the server asks of the stack client. */
export interface ListenProvider {
  listen(options: { port: number; host: string; backlog: number }, sink: ListenerSink): Promise<ListenerPort>;
}

/** net.createServer's options, as Node 20 applies them to every accepted socket. */
export interface NetServerOptions {
  /** The peer's FIN does not end our side: the socket stays writable until end() (default false). */
  allowHalfOpen?: boolean;
  /** Accepted sockets start paused (no 'data' until resume()). */
  pauseOnConnect?: boolean;
  noDelay?: boolean;
  keepAlive?: boolean;
  keepAliveInitialDelay?: number;
}

export class NetServer extends EventEmitter {
  readonly allowHalfOpen: boolean;
  readonly pauseOnConnect: boolean;
  private readonly noDelay: boolean;
  private readonly keepAlive: boolean;
  private readonly keepAliveInitialDelay: number;
  private port: ListenerPort | undefined;
  private readonly connections = new Set<NetSocket>();
  private closing = false;
  private isRefd = true;
  maxConnections: number | undefined;

  constructor(private readonly provider: ListenProvider, connectionListener?: (socket: NetSocket) => void, options: NetServerOptions = {}) {
    super();
    if (typeof options !== 'object' || options === null) {
      throw new NewtosError('ERR_INVALID_ARG_TYPE', `The "options" argument must be of type object. Received ${options === null ? 'null' : typeof options}`);
    }
    this.allowHalfOpen = options.allowHalfOpen === true;
    this.pauseOnConnect = options.pauseOnConnect === true;
    this.noDelay = options.noDelay === true;
    this.keepAlive = options.keepAlive === true;
    this.keepAliveInitialDelay = options.keepAliveInitialDelay ?? 0;
    if (connectionListener !== undefined) this.on('connection', connectionListener);
  }

  get listening(): boolean {
    return this.port !== undefined;
  }

  listen(...args: unknown[]): this {
    let opts: ListenOptions = {};
    let cb: (() => void) | undefined;
    if (typeof args[args.length - 1] === 'function') cb = args.pop() as () => void;
    if (typeof args[0] === 'object' && args[0] !== null) opts = args[0] as ListenOptions;
    else {
      opts.port = args[0] as number | undefined;
      if (typeof args[1] === 'string') { opts.host = args[1]; if (typeof args[2] === 'number') opts.backlog = args[2]; }
      else if (typeof args[1] === 'number') opts.backlog = args[1];
    }
    const port = opts.port ?? 0;
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) {
      throw new NewtosError('ERR_SOCKET_BAD_PORT', `options.port should be >= 0 and < 65536. Received ${String(port)}.`);
    }
    if (this.port !== undefined) throw new NewtosError('ERR_SERVER_ALREADY_LISTEN', 'Listen method has been called more than once without closing.');
    if (cb !== undefined) this.once('listening', cb);
    const host = opts.host ?? '0.0.0.0';
    this.closing = false;
    this.provider.listen({ port, host, backlog: opts.backlog ?? 511 }, {
      onConnection: (socket) => this.accept(socket),
      onError: (err) => this.emit('error', err),
    }).then((lp) => {
      if (this.closing) { lp.close(); return; }
      this.port = lp;
      lp.setRef(this.isRefd);
      this.emit('listening');
    }, (err: Error) => {
      this.emit('error', err);
    });
    return this;
  }

  private accept(socket: NetSocket): void {
    if (this.maxConnections !== undefined && this.connections.size >= this.maxConnections) {
      socket.destroy();
      this.emit('drop', { localAddress: socket.localAddress, localPort: socket.localPort, remoteAddress: socket.remoteAddress, remotePort: socket.remotePort });
      return;
    }
    // Node's net.Server hands these to each accepted socket (lib/net.js onconnection).
    socket.allowHalfOpen = this.allowHalfOpen;
    if (this.noDelay) socket.setNoDelay(true);
    if (this.keepAlive) socket.setKeepAlive(true, this.keepAliveInitialDelay);
    if (this.pauseOnConnect) socket.pause();
    this.connections.add(socket);
    socket.once('close', () => {
      this.connections.delete(socket);
      this.maybeClosed();
    });
    this.emit('connection', socket);
  }

  address(): SocketAddressInfo | null {
    return this.port?.local() ?? null;
  }

  close(cb?: (err?: Error) => void): this {
    if (this.port === undefined) {
      const err = new NewtosError('ERR_SERVER_NOT_RUNNING', 'Server is not running.');
      if (cb !== undefined) queueMicrotask(() => cb(err));
      this.closing = true;
      return this;
    }
    if (cb !== undefined) this.once('close', cb);
    this.port.close();
    this.port = undefined;
    this.closing = true;
    this.maybeClosed();
    return this;
  }

  private maybeClosed(): void {
    if (this.closing && this.port === undefined && this.connections.size === 0) {
      this.closing = false;
      queueMicrotask(() => this.emit('close'));
    }
  }

  getConnections(cb: (err: Error | null, count: number) => void): this {
    const n = this.connections.size;
    queueMicrotask(() => cb(null, n));
    return this;
  }

  ref(): this {
    this.isRefd = true;
    this.port?.setRef(true);
    return this;
  }

  unref(): this {
    this.isRefd = false;
    this.port?.setRef(false);
    return this;
  }
}
