/**
 * A `net.Socket`-compatible Duplex over a newtos fast socket.
 *
 * Data never travels in a message: `write` copies into the shared send ring and
 * `read` copies out of the shared receive ring; readiness is a memory read of
 * the socket block. The socket sends a message only to wake the TCP server
 * (when it armed itself after draining our send ring, or waits for window
 * space) and for control (connect, options, close). When it cannot progress it
 * waits on the block's event word with Atomics.waitAsync.
 *
 * Node semantics kept: 'connect'/'ready', 'data', 'end' (peer FIN), 'close',
 * 'error' with Node error codes and `syscall`/`address`/`port` like Node's own,
 * 'timeout' from setTimeout, 'drain' through Writable back-pressure,
 * allowHalfOpen, end() = FIN after queued data, destroy() = close,
 * resetAndDestroy() = RST.
 */
import { Duplex } from 'node:stream';
import { constants as osConstants } from 'node:os';
import { NewtosError } from '../errors.js';
import { normalizeConnectArgs, type ConnectOptions } from './connect-options.js';
import { AppFlag, AppWait, ServerFlag, type SocketErrorCode } from '../abi/socket-block.js';
import type { SocketAddressInfo, SocketPort } from './socket-port.js';

const READ_CHUNK = 64 * 1024;

/**
 * A Buffer for a read of n bytes from the receive ring, starting at the address
 * residue (mod 8) of the ring's next byte when it is large: then the copy out of
 * shared memory moves whole words (many times faster than a misaligned one).
 */
function readBuffer(n: number, residue: number): Buffer {
  if (n < 1024) return Buffer.allocUnsafe(n);
  const b = Buffer.allocUnsafeSlow(n + 7);
  const d = (residue - b.byteOffset) & 7;
  return b.subarray(d, d + n);
}

/** Who opens the connection of a socket made with `new Socket()` and then connect()ed. */
export interface SocketConnector {
  connectSocket(socket: NetSocket, options: ConnectOptions, cb: (() => void) | undefined): void;
}

export interface NetSocketOptions {
  allowHalfOpen?: boolean;
  /** The stack that connect() goes through (set by the stack's net.Socket). */
  connector?: SocketConnector;
  /** High-water mark of the Writable side, bytes. */
  writableHighWaterMark?: number;
  readableHighWaterMark?: number;
}

interface PendingWrite {
  chunk: Uint8Array;
  offset: number;
  callback: (error?: Error | null) => void;
}

/** Build a Node-style error for a socket failure: `code`, `errno` (libuv's, negative), `syscall`, `address`, `port`. */
export function socketError(code: SocketErrorCode | string, syscall: string, remote?: SocketAddressInfo): NewtosError {
  const where = remote === undefined ? '' : ` ${remote.address}:${remote.port}`;
  const err = new NewtosError(code, `${syscall} ${code}${where}`) as NewtosError & { syscall: string; address?: string; port?: number; errno?: number };
  const errno = (osConstants.errno as Record<string, number | undefined>)[code];
  if (errno !== undefined) err.errno = -errno;
  err.syscall = syscall;
  if (remote !== undefined) { err.address = remote.address; err.port = remote.port; }
  return err;
}

export class NetSocket extends Duplex {
  private port: SocketPort | undefined;
  private pendingWrite: PendingWrite | undefined;
  private readWanted = false;
  private waiting = false;
  private sawEof = false;
  private finalCallback: ((error?: Error | null) => void) | undefined;
  private idleTimeoutMs = 0;
  private idleTimer: NodeJS.Timeout | undefined;
  private isRefd = true;
  private refTimer: NodeJS.Timeout | undefined;
  private connectingNow = false;
  private connectSyscallTarget: SocketAddressInfo | undefined;
  private noDelay = false;
  /** setKeepAlive() before the connection exists: applied once attached (initial delay in ms, 0 off). */
  private keepAliveMs: number | undefined;
  /** Counters of the fast socket, kept when it is released (bytesRead/bytesWritten after close). */
  private finalStats: ReturnType<SocketPort['block']['opStats']> | undefined;
  private readonly connector: SocketConnector | undefined;

  constructor(options: NetSocketOptions = {}) {
    super({
      allowHalfOpen: options.allowHalfOpen ?? false,
      ...(options.writableHighWaterMark !== undefined ? { writableHighWaterMark: options.writableHighWaterMark } : {}),
      ...(options.readableHighWaterMark !== undefined ? { readableHighWaterMark: options.readableHighWaterMark } : {}),
      // Like net.Socket: keep ordering of destroy/close events, emit 'close'.
      emitClose: true,
      autoDestroy: true,
    });
    this.connector = options.connector;
  }

  /**
   * socket.connect(options[, cb]) / (port[, host][, cb]), as Node's: for a socket made with
   * `new net.Socket()` on a stack (the stack's net.Socket, or `newtos run`).
   */
  connect(...args: unknown[]): this {
    if (this.connector === undefined) {
      throw new NewtosError('ERR_INVALID_STATE', 'this socket belongs to no newtos stack: make it with stack.net.Socket or stack.net.connect()');
    }
    if (this.port !== undefined || this.connectingNow) {
      throw new NewtosError('ERR_SOCKET_CONNECTING', 'Socket is already connected or connecting');
    }
    const { options, cb } = normalizeConnectArgs(args);
    this.connector.connectSocket(this, options, cb);
    return this;
  }

  // ---- wiring by the stack client ----------------------------------------------

  /** Called while a connect is in progress (so `connecting` and errors read right). */
  _beginConnect(target: SocketAddressInfo): void {
    this.connectingNow = true;
    this.connectSyscallTarget = target;
  }

  /** Attach the fast socket once the stack created it; `connected` for accepted sockets. */
  _attach(port: SocketPort, connected: boolean): void {
    this.port = port;
    if (this.noDelay) port.setOption('noDelay', 1);
    if (this.keepAliveMs !== undefined && this.keepAliveMs > 0) port.setOption('keepAlive', this.keepAliveMs);
    if (connected) {
      this.connectingNow = false;
      this.onEvent();
      this.startReading();
    } else {
      this.armWait();
    }
  }

  /**
   * Reads ahead once connected, as Node's net.Socket does (`read(0)` after connect and for
   * an accepted socket): data fills the readable buffer up to its high-water mark before
   * anyone listens, and a socket nobody reads from still waits on its block, so a reset
   * or close reaches it ('error', 'close') as it reaches a Node socket.
   */
  private startReading(): void {
    if (this.port !== undefined && !this.destroyed && this.readable && !this.isPaused()) this.read(0);
  }

  /** The stack could not even start the connection (no route, no free socket, bad address). */
  _failConnect(err: Error): void {
    this.connectingNow = false;
    this.destroy(err);
  }

  // ---- Node's socket surface ------------------------------------------------

  get connecting(): boolean {
    return this.connectingNow;
  }

  get pending(): boolean {
    return this.port === undefined || this.connectingNow;
  }

  get readyState(): 'opening' | 'open' | 'readOnly' | 'writeOnly' | 'closed' {
    if (this.connectingNow) return 'opening';
    if (this.destroyed) return 'closed';
    if (this.readable && this.writable) return 'open';
    if (this.readable) return 'readOnly';
    if (this.writable) return 'writeOnly';
    return 'closed';
  }

  get remoteAddress(): string | undefined { return this.port?.remote()?.address; }
  get remotePort(): number | undefined { return this.port?.remote()?.port; }
  get remoteFamily(): string | undefined { return this.port?.remote()?.family; }
  get localAddress(): string | undefined { return this.port?.local()?.address; }
  get localPort(): number | undefined { return this.port?.local()?.port; }
  get localFamily(): string | undefined { return this.port?.local()?.family; }
  get bytesRead(): number { return (this.port?.block.opStats() ?? this.finalStats)?.bytesRead ?? 0; }
  get bytesWritten(): number { return (this.port?.block.opStats() ?? this.finalStats)?.bytesWritten ?? 0; }

  address(): SocketAddressInfo | Record<string, never> {
    return this.port?.local() ?? {};
  }

  setNoDelay(noDelay = true): this {
    this.noDelay = noDelay;
    this.port?.setOption('noDelay', noDelay ? 1 : 0);
    return this;
  }

  setKeepAlive(enable = false, initialDelay = 0): this {
    this.keepAliveMs = enable ? Math.max(1, initialDelay) : 0;
    this.port?.setOption('keepAlive', this.keepAliveMs);
    return this;
  }

  setTimeout(timeout: number, callback?: () => void): this {
    if (typeof timeout !== 'number' || !(timeout >= 0) || !Number.isFinite(timeout)) {
      throw new NewtosError('ERR_OUT_OF_RANGE', `The value of "timeout" is out of range. It must be a non-negative finite number. Received ${String(timeout)}`);
    }
    this.idleTimeoutMs = timeout;
    if (callback !== undefined) {
      if (timeout === 0) this.removeListener('timeout', callback); else this.once('timeout', callback);
    }
    this.touch();
    return this;
  }

  get timeout(): number | undefined {
    return this.idleTimeoutMs === 0 ? undefined : this.idleTimeoutMs;
  }

  ref(): this {
    this.isRefd = true;
    this.idleTimer?.ref();
    this.updateKeepAlive();
    return this;
  }

  unref(): this {
    this.isRefd = false;
    this.idleTimer?.unref();
    this.updateKeepAlive();
    return this;
  }

  /**
   * A socket asleep on its event word keeps the process alive while ref'd, as a libuv handle
   * does; unref() lets go at once, also of a wait already pending (an idle keep-alive socket
   * of an http.Agent or of fetch is unref'd while it waits).
   */
  private updateKeepAlive(): void {
    const want = this.waiting && this.isRefd && !this.destroyed;
    if (want && this.refTimer === undefined) this.refTimer = setInterval(() => { /* keep the event loop alive */ }, 1 << 30);
    else if (!want && this.refTimer !== undefined) { clearInterval(this.refTimer); this.refTimer = undefined; }
  }

  /** Close with RST (Node's socket.resetAndDestroy()). */
  resetAndDestroy(): this {
    this.finalStats = this.port?.block.opStats() ?? this.finalStats;
    this.port?.close(true);
    this.port = undefined;
    this.destroy();
    return this;
  }

  /** Fast-socket counters of this socket (operations vs messages). */
  /**
   * @internal Where the stack publishes received bytes for this socket (the receive ring's
   * tail word): an observer thread may watch it to time deliveries apart from this thread's
   * event loop (`newtos experiment faults`). Undefined before the socket is attached.
   */
  receiveTailWord(): ReturnType<SocketPort['block']['recv']['tailWord']> | undefined {
    return this.port?.block.recv.tailWord();
  }

  fastSocketStats(): ReturnType<SocketPort['block']['opStats']> | undefined {
    return this.port?.block.opStats() ?? this.finalStats;
  }

  // ---- stream implementation -------------------------------------------------

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.pendingWrite = { chunk, offset: 0, callback };
    this.flushWrite();
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.finalCallback = callback;
    this.flushFinal();
  }

  override _read(): void {
    this.readWanted = true;
    this.pump();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.clearIdle();
    this.waiting = false;
    this.updateKeepAlive();
    const port = this.port;
    this.port = undefined;
    this.connectingNow = false;
    if (port !== undefined) {
      this.finalStats = port.block.opStats();
      port.close(false);
    }
    const pw = this.pendingWrite;
    this.pendingWrite = undefined;
    pw?.callback(error ?? socketError('EPIPE', 'write'));
    callback(error);
  }

  // ---- the engine of the socket: progress on memory, wait on events ----------

  private onEvent(): void {
    if (this.port === undefined) return;
    const flags = this.port.block.serverFlags();
    if (this.connectingNow) {
      if ((flags & ServerFlag.Connected) !== 0) {
        this.connectingNow = false;
        this.touch();
        this.emit('connect');
        this.emit('ready');
        this.startReading();
      } else if ((flags & (ServerFlag.Error | ServerFlag.Closed)) !== 0) {
        this.connectingNow = false;
        const code = this.port.block.error() ?? 'ECONNREFUSED';
        this.destroy(socketError(code, 'connect', this.connectSyscallTarget ?? this.port.remote()));
        return;
      } else {
        this.armWait();
        return;
      }
    }
    this.flushWrite();
    this.flushFinal();
    if (this.readWanted) this.pump();
    this.checkError();
  }

  private checkError(): void {
    if (this.port === undefined || this.destroyed) return;
    const block = this.port.block;
    const flags = block.serverFlags();
    if ((flags & ServerFlag.Error) !== 0 && block.recv.available() === 0) {
      this.destroy(socketError(block.error() ?? 'ECONNRESET', 'read'));
    }
  }

  private pump(): void {
    const port = this.port;
    if (port === undefined || this.connectingNow || this.sawEof) return;
    const block = port.block;
    for (;;) {
      const { readable, flags } = block.appReadiness();
      if (readable > 0) {
        const buf = readBuffer(Math.min(readable, READ_CHUNK), block.recv.alignmentAt(0));
        const { read, kick } = block.appRead(buf);
        if (kick) port.kick();
        this.touch();
        if (!this.push(read === buf.length ? buf : buf.subarray(0, read))) {
          this.readWanted = false;
          return;
        }
        if (this.port === undefined) return;
        continue;
      }
      if ((flags & ServerFlag.PeerFin) !== 0 && block.recv.available() === 0) {
        this.sawEof = true;
        this.readWanted = false;
        this.push(null);
        return;
      }
      if ((flags & (ServerFlag.Error | ServerFlag.Closed)) !== 0) {
        this.checkError();
        if ((flags & ServerFlag.Error) === 0 && !this.sawEof) {
          // Closed without FIN or error: treat as end of stream.
          this.sawEof = true;
          this.push(null);
        }
        return;
      }
      this.armWait();
      return;
    }
  }

  private flushWrite(): void {
    const port = this.port;
    const pw = this.pendingWrite;
    if (port === undefined || pw === undefined || this.connectingNow) return;
    const block = port.block;
    while (pw.offset < pw.chunk.length) {
      const flags = block.serverFlags();
      if ((flags & (ServerFlag.Error | ServerFlag.Closed)) !== 0) {
        this.pendingWrite = undefined;
        pw.callback(socketError(block.error() ?? 'EPIPE', 'write'));
        return;
      }
      const { accepted, kick } = block.appWrite(pw.offset === 0 ? pw.chunk : pw.chunk.subarray(pw.offset));
      if (kick) port.kick();
      if (accepted === 0) {
        this.armWait();
        return;
      }
      pw.offset += accepted;
      this.touch();
    }
    this.pendingWrite = undefined;
    pw.callback();
  }

  private flushFinal(): void {
    const port = this.port;
    const cb = this.finalCallback;
    if (port === undefined || cb === undefined || this.connectingNow || this.pendingWrite !== undefined) return;
    this.finalCallback = undefined;
    port.block.appSetFlags(AppFlag.ShutWr);
    port.block.countControlMessage();
    port.kick();
    cb();
  }

  private armWait(): void {
    const port = this.port;
    if (port === undefined) return;
    const block = port.block;
    if (this.waiting) {
      // Already asleep on the event word, maybe for something else: widen what we
      // wait for, then look once more (the same order as below).
      block.setAppWaiting(this.waitBits());
      if (this.readyNow(block)) queueMicrotask(() => { if (this.port === port) this.onEvent(); });
      return;
    }
    this.waiting = true;
    // Order matters (no lost wake-up): read the event sequence, say we sleep, then
    // look once more. An event published before the look is seen by it; one
    // published after it changed the sequence, so the wait returns at once.
    const seq = block.eventSeq();
    block.setAppWaiting(this.waitBits());
    if (this.readyNow(block)) {
      block.setAppWaiting(0);
      this.waiting = false;
      queueMicrotask(() => { if (this.port === port) this.onEvent(); });
      return;
    }
    this.updateKeepAlive();
    port.waitForEvent(seq).then(() => {
      this.waiting = false;
      this.updateKeepAlive();
      if (this.port !== port) return;
      block.setAppWaiting(0);
      this.onEvent();
    }, (err: unknown) => {
      this.waiting = false;
      this.updateKeepAlive();
      this.destroy(err instanceof Error ? err : new Error(String(err)));
    });
  }

  private waitBits(): number {
    const wantWrite = this.pendingWrite !== undefined || this.finalCallback !== undefined;
    return AppWait.State | (this.readWanted ? AppWait.Readable : 0) | (wantWrite ? AppWait.Writable : 0);
  }

  /** Could any waiting operation progress now? (memory reads only) */
  private readyNow(block: SocketPort['block']): boolean {
    const flags = block.serverFlags();
    if ((flags & (ServerFlag.Error | ServerFlag.Closed)) !== 0) return true;
    if (this.connectingNow) return (flags & ServerFlag.Connected) !== 0;
    if (this.readWanted && (block.recv.available() > 0 || (flags & ServerFlag.PeerFin) !== 0)) return true;
    if (this.pendingWrite !== undefined && block.send.freeSpace() > 0) return true;
    return false;
  }

  private touch(): void {
    if (this.idleTimeoutMs === 0) { this.clearIdle(); return; }
    if (this.idleTimer !== undefined) { this.idleTimer.refresh(); return; }
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      this.emit('timeout');
    }, this.idleTimeoutMs);
    if (!this.isRefd) this.idleTimer.unref();
  }

  private clearIdle(): void {
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }
}
