/**
 * A `dgram.Socket`-compatible UDP socket over a newtos datagram port (the
 * fast socket of src/stack/udp-client.ts). Follows Node 20's lib/dgram.js for
 * what users can observe: argument validation and its error codes (thrown
 * synchronously), the implicit bind on the first send, sends queued while
 * binding, 'listening' / 'message' / 'close' / 'error' events, send callbacks
 * (or 'error' without one), address() and ref/unref, and connected sockets
 * (connect / disconnect / remoteAddress; only the peer's datagrams are
 * delivered; an ICMP port unreachable from the peer is an 'error' with
 * ECONNREFUSED, as Linux reports it on a connected socket).
 *
 * One deliberate difference: bind() validates its port like send() does
 * (ERR_SOCKET_BAD_PORT); Node 20 hands it to libuv unchecked, so bind(70000)
 * there binds port 4464.
 *
 * Only 'udp4' exists (newtos has no IPv6). No DNS: addresses are IPv4
 * literals; 'localhost' is 127.0.0.1 as Node's default lookup gives it.
 */
import { EventEmitter } from 'node:events';
import { NewtosError } from '../errors.js';
import { DGRAM_MAX_PAYLOAD } from '../abi/dgram-record.js';

export interface DgramAddressInfo {
  address: string;
  family: 'IPv4';
  port: number;
}

export interface DgramRemoteInfo extends DgramAddressInfo {
  size: number;
}

/** A bound datagram socket in the stack (what DgramSocket drives). */
export interface DgramPort {
  local(): DgramAddressInfo;
  /** Queue one datagram; `cb` runs once it is in the socket's send buffer (or failed). */
  send(address: string, port: number, data: Uint8Array, cb: (err: Error | null) => void): void;
  /**
   * Start delivering received datagrams, and ICMP port unreachable about a datagram this
   * socket sent to `remote` (in order with the datagrams).
   */
  start(onMessage: (msg: Buffer, rinfo: DgramRemoteInfo) => void, onPortUnreachable?: (remote: DgramAddressInfo) => void): void;
  setRef(ref: boolean): void;
  close(): void;
}

/** Binds datagram sockets (StackClient's UDP side). */
export interface DgramBinder {
  /** Resolves with the bound port, or rejects with a Node-style bind error. */
  bind(address: string, port: number): Promise<DgramPort>;
}

export interface DgramSocketOptions {
  type: 'udp4' | 'udp6';
  reuseAddr?: boolean;
  recvBufferSize?: number;
  sendBufferSize?: number;
}

export type SendCallback = (error: Error | null, bytes: number) => void;
export type DgramMessage = string | ArrayBufferView | readonly (string | ArrayBufferView)[];

const enum BindState { Unbound, Binding, Bound }

function nodeError(code: string, message: string, Kind: new (m: string) => Error = Error): NewtosError {
  // Node throws these as RangeError / TypeError with a code: keep both the class and the name.
  const e = new NewtosError(code, message);
  if (Kind !== Error) {
    Object.setPrototypeOf(e, Object.create(Kind.prototype, { constructor: { value: Kind } }));
    e.name = Kind.name;
  }
  return e;
}

/** Node's validatePort: a number or numeric string in [0 or 1, 65535]. */
export function validateDgramPort(port: unknown, allowZero: boolean): number {
  if ((typeof port !== 'number' && typeof port !== 'string') ||
    (typeof port === 'string' && port.trim().length === 0) ||
    +port !== (+port >>> 0) || +port > 0xffff || (+port === 0 && !allowZero)) {
    throw nodeError('ERR_SOCKET_BAD_PORT',
      `Port should be ${allowZero ? '>=' : '>'} 0 and < 65536. Received ${typeof port === 'string' ? `type string ('${port}')` : String(port)}.`, RangeError);
  }
  return +port | 0;
}

function invalidArgType(name: string, expected: string, actual: unknown): NewtosError {
  return nodeError('ERR_INVALID_ARG_TYPE', `The "${name}" argument must be ${expected}. Received ${actual === null ? 'null' : typeof actual}`, TypeError);
}

function toBytes(v: unknown): Uint8Array {
  if (typeof v === 'string') return Buffer.from(v);
  if (ArrayBuffer.isView(v)) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  throw invalidArgType('buffer', 'of type string or an instance of Buffer, TypedArray, or DataView', v);
}

export class DgramSocket extends EventEmitter {
  readonly type: 'udp4';
  private state = BindState.Unbound;
  private port: DgramPort | undefined;
  private closed = false;
  private refed = true;
  /** Connected peer (connect()), and a connect waiting for the bind. */
  private remote: DgramAddressInfo | undefined;
  private connecting = false;
  /** Sends issued before the bind completed (Node's state.queue). */
  private queue: (() => void)[] = [];

  constructor(private readonly binder: DgramBinder, options: DgramSocketOptions | 'udp4' | 'udp6', listener?: (msg: Buffer, rinfo: DgramRemoteInfo) => void) {
    super();
    const type = typeof options === 'string' ? options : options?.type;
    if (type !== 'udp4') {
      throw nodeError('ERR_SOCKET_BAD_TYPE', type === 'udp6'
        ? 'Bad socket type specified. newtos has no IPv6: the valid type is udp4'
        : 'Bad socket type specified. Valid types are: udp4, udp6', TypeError);
    }
    this.type = type;
    if (typeof listener === 'function') this.on('message', listener);
  }

  // ---- bind -------------------------------------------------------------------

  bind(port?: number | { port?: number; address?: string; exclusive?: boolean } | ((...a: unknown[]) => void),
    address?: string | ((...a: unknown[]) => void), callback?: () => void): this {
    this.healthCheck();
    if (this.state !== BindState.Unbound) throw nodeError('ERR_SOCKET_ALREADY_BOUND', 'Socket is already bound');
    const args = [port, address, callback];
    let cb: (() => void) | undefined;
    for (let i = args.length - 1; i >= 0; i--) if (typeof args[i] === 'function') { cb = args[i] as () => void; break; }
    let p: unknown = port;
    let addr: unknown = address;
    if (p !== null && typeof p === 'object') {
      addr = (p as { address?: string }).address;
      p = (p as { port?: number }).port;
    }
    if (typeof p === 'function') p = undefined;
    if (typeof addr === 'function') addr = undefined;
    const portNum = p === undefined || p === null ? 0 : validateDgramPort(p, true);
    if (addr !== undefined && addr !== null && addr !== '' && typeof addr !== 'string') throw invalidArgType('address', 'of type string', addr);
    const host = typeof addr === 'string' && addr !== '' ? addr : '0.0.0.0';
    if (cb !== undefined) {
      const onListening = (): void => { this.off('error', onError); cb!.call(this); };
      const onError = (): void => { this.off('listening', onListening); };
      this.once('listening', onListening);
      this.once('error', onError);
    }
    this.state = BindState.Binding;
    this.binder.bind(host, portNum).then((bound) => {
      if (this.closed) { bound.close(); return; }
      this.port = bound;
      this.state = BindState.Bound;
      bound.setRef(this.refed);
      bound.start((msg, rinfo) => this.onDatagram(msg, rinfo), (remote) => this.onPortUnreachable(remote));
      this.emit('listening');
      this.flushQueue();
    }, (err: Error) => {
      this.state = BindState.Unbound;
      this.queue = [];
      if (!this.closed) this.emit('error', err);
    });
    return this;
  }

  // ---- send -------------------------------------------------------------------

  /**
   * send(msg[, offset, length], port[, address][, callback]) as in Node:
   * msg is a string, Buffer, TypedArray, DataView or an array of them.
   */
  /** On a connected socket. */
  send(msg: DgramMessage, callback?: SendCallback): void;
  send(msg: DgramMessage, port: number | string, address?: string | SendCallback, callback?: SendCallback): void;
  send(msg: DgramMessage, offset: number, length: number, port: number | string, address?: string | SendCallback, callback?: SendCallback): void;
  send(msg: unknown, offset?: unknown, length?: unknown, port?: unknown, address?: unknown, callback?: unknown): void {
    if (this.remote !== undefined || this.connecting) {
      this.sendConnected(msg, offset, length, port, address, callback);
      return;
    }
    let data: Uint8Array;
    // Node's rule: an address or a (non-function) 4th argument means the offset/length form.
    if (address || (port && typeof port !== 'function')) {
      if (Array.isArray(msg)) throw invalidArgType('buffer', 'of type string or an instance of Buffer, TypedArray, or DataView', msg);
      data = toBytes(msg);
      const off = (offset as number) >>> 0;
      const len = (length as number) >>> 0;
      if (off > data.byteLength) throw nodeError('ERR_BUFFER_OUT_OF_BOUNDS', '"offset" is outside of buffer bounds', RangeError);
      if (off + len > data.byteLength) throw nodeError('ERR_BUFFER_OUT_OF_BOUNDS', '"length" is outside of buffer bounds', RangeError);
      data = data.subarray(off, off + len);
    } else {
      callback = port;
      port = offset;
      address = length;
      data = Array.isArray(msg) ? Buffer.concat(msg.map((m) => toBytes(m))) : toBytes(msg);
    }
    const portNum = validateDgramPort(port, false);
    if (typeof address === 'function') { callback = address; address = undefined; }
    if (address !== undefined && address !== null && typeof address !== 'string') throw invalidArgType('address', 'of type string', address);
    const cb = typeof callback === 'function' ? callback as SendCallback : undefined;
    this.healthCheck();
    const host = typeof address === 'string' && address !== '' ? address : '127.0.0.1';
    if (this.state === BindState.Unbound) this.bind({ port: 0 });
    // A copy: the caller may reuse its buffer as soon as send returns (Node copies into the kernel later, we copy now).
    const bytes = Buffer.from(data);
    const doSend = (): void => this.doSend(host, portNum, bytes, cb);
    if (this.state !== BindState.Bound) { this.queue.push(doSend); return; }
    doSend();
  }

  /** Node's send on a connected socket: (msg[, offset, length][, callback]); a port or address is an error. */
  private sendConnected(msg: unknown, offset: unknown, length: unknown, port: unknown, address: unknown, callback: unknown): void {
    let data: Uint8Array;
    if (typeof length === 'number') {
      data = toBytes(msg);
      const off = (offset as number) >>> 0;
      const len = length >>> 0;
      if (off > data.byteLength) throw nodeError('ERR_BUFFER_OUT_OF_BOUNDS', '"offset" is outside of buffer bounds', RangeError);
      if (off + len > data.byteLength) throw nodeError('ERR_BUFFER_OUT_OF_BOUNDS', '"length" is outside of buffer bounds', RangeError);
      data = data.subarray(off, off + len);
      if (typeof port === 'function') callback = port;
      else if (port || address) throw nodeError('ERR_SOCKET_DGRAM_IS_CONNECTED', 'Already connected');
    } else {
      data = Array.isArray(msg) ? Buffer.concat(msg.map((m) => toBytes(m))) : toBytes(msg);
      callback = offset;
    }
    const cb = typeof callback === 'function' ? callback as SendCallback : undefined;
    this.healthCheck();
    const bytes = Buffer.from(data);
    const doSend = (): void => { if (this.remote !== undefined) this.doSend(this.remote.address, this.remote.port, bytes, cb); };
    if (this.state !== BindState.Bound || this.remote === undefined) { this.queue.push(doSend); return; }
    doSend();
  }

  /** Run what waited for the bind (and a connect's completion), in order. */
  private flushQueue(): void {
    if (this.state !== BindState.Bound) return;
    const q = this.queue;
    this.queue = [];
    for (const f of q) f();
  }

  // ---- connected sockets --------------------------------------------------------

  /** connect(port[, address][, callback]): the default peer; implicit bind like send. */
  connect(port: unknown, address?: string | (() => void), callback?: () => void): void {
    const p = validateDgramPort(port, false);
    if (typeof address === 'function') { callback = address; address = undefined; }
    if (address !== undefined && typeof address !== 'string') throw invalidArgType('address', 'of type string', address);
    this.healthCheck();
    if (this.remote !== undefined || this.connecting) throw nodeError('ERR_SOCKET_DGRAM_IS_CONNECTED', 'Already connected');
    this.connecting = true;
    if (typeof callback === 'function') this.once('connect', callback);
    const host = address === undefined || address === '' ? '127.0.0.1' : address === 'localhost' ? '127.0.0.1' : address;
    const finish = (): void => {
      if (this.closed) return;
      this.connecting = false;
      this.remote = { address: host, family: 'IPv4', port: p };
      this.emit('connect');
    };
    if (this.state === BindState.Unbound) this.bind({ port: 0 });
    // Sends issued from now on wait behind the connect (in the queue) until it completes.
    this.queue.unshift(finish);
    if (this.state === BindState.Bound) process.nextTick(() => this.flushQueue());
  }

  disconnect(): void {
    this.healthCheck();
    if (this.remote === undefined) throw nodeError('ERR_SOCKET_DGRAM_NOT_CONNECTED', 'Not connected');
    this.remote = undefined;
  }

  remoteAddress(): DgramAddressInfo {
    this.healthCheck();
    if (this.remote === undefined) throw nodeError('ERR_SOCKET_DGRAM_NOT_CONNECTED', 'Not connected');
    return { ...this.remote };
  }

  private onDatagram(msg: Buffer, rinfo: DgramRemoteInfo): void {
    // A connected socket receives only from its peer (Linux filters in udp4_lib_lookup).
    if (this.remote !== undefined && (rinfo.address !== this.remote.address || rinfo.port !== this.remote.port)) return;
    this.emit('message', msg, rinfo);
  }

  private onPortUnreachable(remote: DgramAddressInfo): void {
    const r = this.remote;
    if (r === undefined || r.address !== remote.address || r.port !== remote.port) return;
    const err = new NewtosError('ECONNREFUSED', 'recvmsg ECONNREFUSED') as NewtosError & { syscall: string; address: string; port: number };
    err.syscall = 'recvmsg'; err.address = r.address; err.port = r.port;
    this.emit('error', err);
  }

  private doSend(host: string, port: number, bytes: Uint8Array, cb: SendCallback | undefined): void {
    const done = (err: Error | null): void => {
      if (cb !== undefined) process.nextTick(cb, err, err === null ? bytes.length : 0);
      else if (err !== null) process.nextTick(() => this.emit('error', err));
    };
    if (this.port === undefined || this.closed) return;
    if (bytes.length > DGRAM_MAX_PAYLOAD) {
      const err = new NewtosError('EMSGSIZE', `send EMSGSIZE ${host}:${port}`) as NewtosError & { syscall: string; address: string; port: number };
      err.syscall = 'send'; err.address = host; err.port = port;
      done(err);
      return;
    }
    this.port.send(host, port, bytes, done);
  }

  // ---- the rest of the surface ----------------------------------------------------

  address(): DgramAddressInfo {
    this.healthCheck();
    if (this.port === undefined) {
      const err = new NewtosError('EBADF', 'getsockname EBADF') as NewtosError & { syscall: string };
      err.syscall = 'getsockname';
      throw err;
    }
    return { ...this.port.local() };
  }

  close(callback?: () => void): this {
    this.healthCheck();
    if (typeof callback === 'function') this.once('close', callback);
    this.closed = true;
    this.queue = [];
    this.port?.close();
    this.port = undefined;
    process.nextTick(() => this.emit('close'));
    return this;
  }

  ref(): this {
    this.refed = true;
    this.port?.setRef(true);
    return this;
  }

  unref(): this {
    this.refed = false;
    this.port?.setRef(false);
    return this;
  }

  private healthCheck(): void {
    if (this.closed) throw nodeError('ERR_SOCKET_DGRAM_NOT_RUNNING', 'Not running');
  }
}
