/**
 * Fast sockets (docs/ARCHITECTURE.md "Fast sockets", the thesis's "sockets that expose
 * information to the application"): a socket's send and receive buffers and a
 * small block of state words live in shared memory between the application
 * thread and the transport server (TCP or UDP). The application reads, writes
 * and checks readiness by touching memory; a message is needed only for control
 * (create, bind, listen, connect, accept, shutdown, close) and to wake a side
 * that sleeps.
 *
 * Layout of one socket block at `byteOffset` (a multiple of 64):
 *
 *   line 0  server-owned words  (stored only by the transport server)
 *     S_STATE       SocketState
 *     S_FLAGS       ServerFlag bits (CONNECTED, PEER_FIN, ERROR, CLOSED, ...)
 *     S_ERROR       index into SOCKET_ERROR_CODES, valid once ERROR is set
 *     S_EVENT_SEQ   bumped (Atomics.add) after every change the app may wait on
 *     S_TX_ARMED    1 = "I drained your send buffer; kick me when you add data"
 *     S_RX_ARMED    1 = "my window is nearly closed; kick me when you free space"
 *                   (the one word the app also stores: its kick consumes the arming, 1 → 0)
 *     S_CONNECT_REQ the request id + 1 of the CONNECT that opened the socket (0: accepted),
 *                   so a successor of the server knows which CONNECT a slot answers
 *     S_LISTENER    the listener id + 1 of the listener that accepted the connection (0:
 *                   none), so a successor can announce it again
 *   line 1  app-owned words (stored only by the application thread)
 *     A_FLAGS       AppFlag bits (SHUT_WR, CLOSE, ABORT, NO_DELAY, ADOPTED)
 *     A_WAITING     nonzero while the app waits for an event of the socket (on S_EVENT_SEQ,
 *                   or on its table's word: table-events.ts)
 *   line 2  counters (Float64, each written by one side only; read racily for stats)
 *   then    send ring (app produces, server consumes)   ByteRing
 *   then    receive ring (server produces, app consumes) ByteRing
 *
 * Wake-up rules (the doorbell rules of the channels, applied per socket):
 *  - Only the sleeper sets and clears its own "sleeping" word: the app owns
 *    A_WAITING; the server owns S_TX_ARMED / S_RX_ARMED, except that the app's
 *    receive kick takes S_RX_ARMED back to 0 (compare-and-exchange): one kick per
 *    arming, however many reads follow, and the server re-arms if still needed.
 *  - The app, before sleeping, sets A_WAITING, then re-checks readiness, and
 *    only then waits on S_EVENT_SEQ with the value it read before the re-check,
 *    so an event published in between is never lost (waitAsync returns at once
 *    when the word already differs).
 *  - The server publishes (data into the receive ring, flags) and THEN bumps
 *    S_EVENT_SEQ, and notifies only when A_WAITING is set. In a table with one
 *    wake-up for all its sockets (TCP's; table-events.ts) it marks the slot ready
 *    there instead, and the application waits on the table's word, not on
 *    S_EVENT_SEQ: the same order holds with the mark in place of the notify.
 *  - The app publishes data into the send ring and THEN reads S_TX_ARMED; the
 *    server sets S_TX_ARMED and THEN re-checks the ring before it stops looking,
 *    so one of the two always sees the other (a classic Dekker pair over
 *    sequentially consistent Atomics).
 * When the TCP server arms which word: src/tcp/socket-arming.ts.
 */
import { ByteRing } from './byte-ring.js';
import type { TableEvents } from './table-events.js';

export const SocketState = {
  Free: 0,
  Connecting: 1,
  Open: 2,
  Listening: 3,
  Closed: 4,
} as const;
export type SocketState = (typeof SocketState)[keyof typeof SocketState];

export const ServerFlag = {
  Connected: 1,
  /** The peer sent FIN: after the receive ring drains, the app reads EOF. */
  PeerFin: 2,
  Error: 4,
  /** The server has released the connection; no more events will come. */
  Closed: 8,
  /** Our FIN was sent after the app's shutdown. */
  FinSent: 16,
} as const;

/** What a sleeping app waits for (A_WAITING bits). */
export const AppWait = {
  Readable: 1,
  Writable: 2,
  /** Anything else: connect, close, errors (always published). */
  State: 4,
} as const;

export const AppFlag = {
  ShutWr: 1,
  Close: 2,
  Abort: 4,
  NoDelay: 8,
  /**
   * The application has the socket (it took the accept or the connect reply that named this
   * slot). A successor of the server announces again every connection it resumes without
   * it, since the announcement may have died with its predecessor; the application ignores
   * an announcement of a slot it already has.
   */
  Adopted: 16,
} as const;

/** Error codes that can cross from the server to the app, by index (append only: indexes are wire values). */
export const SOCKET_ERROR_CODES = [
  'ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRINUSE', 'EPIPE', 'ECONNABORTED',
  'EADDRNOTAVAIL', 'EINVAL', 'EAGAIN', 'ENOBUFS',
] as const;
export type SocketErrorCode = (typeof SOCKET_ERROR_CODES)[number];

const LINE = 64;
export const S_STATE = 0;
export const S_FLAGS = 1;
export const S_ERROR = 2;
export const S_EVENT_SEQ = 3;
export const S_TX_ARMED = 4;
export const S_RX_ARMED = 5;
export const S_CONNECT_REQ = 6;
export const S_LISTENER = 7;
export const A_FLAGS = LINE / 4;
export const A_WAITING = LINE / 4 + 1;
const CTRL_BYTES = 2 * LINE;
/** Float64 counter indexes (within the counters line). */
export const C_APP_DATA_OPS = 0;
export const C_APP_READINESS_CHECKS = 1;
export const C_APP_CONTROL_MSGS = 2;
export const C_APP_WAKE_MSGS = 3;
export const C_SERVER_WAKE_MSGS = 4;
export const C_BYTES_WRITTEN = 5;
export const C_BYTES_READ = 6;
const COUNTERS = 8;
const COUNTERS_BYTES = COUNTERS * 8;
const RINGS_OFFSET = CTRL_BYTES + COUNTERS_BYTES;

/** `n` rounded up to a whole number of 64-byte cache lines (exact beyond 2^31). */
export function align64(n: number): number {
  return Math.ceil(n / 64) * 64;
}

/** One socket's shared state, as seen from either side. */
export class SocketBlock {
  readonly ctrl: Int32Array;
  readonly counters: Float64Array;
  /** App → server bytes. */
  readonly send: ByteRing;
  /** Server → app bytes. */
  readonly recv: ByteRing;

  static bytesNeeded(sendCapacity: number, recvCapacity: number): number {
    return RINGS_OFFSET + align64(ByteRing.bytesNeeded(sendCapacity)) + align64(ByteRing.bytesNeeded(recvCapacity));
  }

  constructor(
    readonly buffer: SharedArrayBuffer | ArrayBuffer,
    readonly byteOffset: number,
    readonly sendCapacity: number,
    readonly recvCapacity: number,
    /** The table's wake-up, when the application waits on it rather than on S_EVENT_SEQ. */
    private readonly events?: TableEvents,
    /** This block's slot in that table. */
    private readonly slot = -1,
  ) {
    this.ctrl = new Int32Array(buffer, byteOffset, CTRL_BYTES / 4);
    this.counters = new Float64Array(buffer, byteOffset + CTRL_BYTES, COUNTERS);
    const sendAt = byteOffset + RINGS_OFFSET;
    this.send = new ByteRing(buffer, sendAt, sendCapacity);
    this.recv = new ByteRing(buffer, sendAt + align64(ByteRing.bytesNeeded(sendCapacity)), recvCapacity);
  }

  /** Zero the block for a new socket. Only while neither side uses it. */
  reset(): void {
    this.ctrl.fill(0);
    this.counters.fill(0);
    this.send.reset();
    this.recv.reset();
  }

  // ---- server side -------------------------------------------------------

  /**
   * Publish a state change to the app, waking it if it sleeps (in a table with one wake-up:
   * marking the slot ready, which wakes the app only if it sleeps on the table). Returns true
   * if a wake-up was sent.
   */
  serverPublish(): boolean {
    Atomics.add(this.ctrl, S_EVENT_SEQ, 1);
    if (Atomics.load(this.ctrl, A_WAITING) !== 0) {
      if (this.events !== undefined) return this.events.markReady(this.slot);
      Atomics.notify(this.ctrl, S_EVENT_SEQ);
      this.counters[C_SERVER_WAKE_MSGS]! += 1;
      return true;
    }
    return false;
  }

  serverSetState(state: SocketState): void {
    Atomics.store(this.ctrl, S_STATE, state);
  }

  serverSetFlags(bits: number): void {
    Atomics.or(this.ctrl, S_FLAGS, bits);
  }

  serverSetError(code: SocketErrorCode): void {
    Atomics.store(this.ctrl, S_ERROR, SOCKET_ERROR_CODES.indexOf(code));
    Atomics.or(this.ctrl, S_FLAGS, ServerFlag.Error);
  }

  /** The socket answers the application's CONNECT `request` (connectRequest). */
  serverSetConnectRequest(request: number): void {
    Atomics.store(this.ctrl, S_CONNECT_REQ, (request + 1) | 0);
  }

  /** The request of the CONNECT that opened the socket (serverSetConnectRequest), or undefined. */
  connectRequest(): number | undefined {
    const v = Atomics.load(this.ctrl, S_CONNECT_REQ);
    return v === 0 ? undefined : (v - 1) >>> 0;
  }

  /** The socket is a connection listener `id` accepted (listener()). */
  serverSetListener(id: number): void {
    Atomics.store(this.ctrl, S_LISTENER, (id + 1) | 0);
  }

  /** The listener that accepted the connection (serverSetListener), or undefined. */
  listener(): number | undefined {
    const v = Atomics.load(this.ctrl, S_LISTENER);
    return v === 0 ? undefined : (v - 1) >>> 0;
  }

  /** Ask for a kick when the app adds data; returns true if data is already there (keep going). */
  serverArmTx(): boolean {
    Atomics.store(this.ctrl, S_TX_ARMED, 1);
    return this.send.available() > 0;
  }

  serverDisarmTx(): void {
    Atomics.store(this.ctrl, S_TX_ARMED, 0);
  }

  serverArmRx(): void {
    Atomics.store(this.ctrl, S_RX_ARMED, 1);
  }

  serverDisarmRx(): void {
    Atomics.store(this.ctrl, S_RX_ARMED, 0);
  }

  /** Is the receive kick armed (not yet disarmed, nor consumed by the app's kick)? */
  serverRxArmed(): boolean {
    return Atomics.load(this.ctrl, S_RX_ARMED) !== 0;
  }

  appFlags(): number {
    return Atomics.load(this.ctrl, A_FLAGS);
  }

  /**
   * Has the application taken the socket (AppFlag.Adopted) or let it go (Close, Abort)? A
   * restarted server announces again only sockets for which neither holds.
   */
  appTookOrLeft(): boolean {
    return (this.appFlags() & (AppFlag.Adopted | AppFlag.Close | AppFlag.Abort)) !== 0;
  }

  // ---- app side ------------------------------------------------------------

  state(): SocketState {
    return Atomics.load(this.ctrl, S_STATE) as SocketState;
  }

  serverFlags(): number {
    return Atomics.load(this.ctrl, S_FLAGS);
  }

  error(): SocketErrorCode | undefined {
    if ((this.serverFlags() & ServerFlag.Error) === 0) return undefined;
    return SOCKET_ERROR_CODES[Atomics.load(this.ctrl, S_ERROR)] ?? 'ECONNRESET';
  }

  eventSeq(): number {
    return Atomics.load(this.ctrl, S_EVENT_SEQ);
  }

  appSetFlags(bits: number): void {
    Atomics.or(this.ctrl, A_FLAGS, bits);
  }

  appClearFlags(bits: number): void {
    Atomics.and(this.ctrl, A_FLAGS, ~bits);
  }

  /**
   * App writes into the send buffer. Returns bytes accepted and whether the
   * server must be kicked (it had armed itself because it drained the buffer).
   */
  appWrite(src: Uint8Array): { accepted: number; kick: boolean } {
    const accepted = this.send.write(src);
    this.counters[C_APP_DATA_OPS]! += 1;
    this.counters[C_BYTES_WRITTEN]! += accepted;
    const kick = accepted > 0 && Atomics.load(this.ctrl, S_TX_ARMED) !== 0;
    // A table's kick is a mark; the table counts the rings that woke its server.
    if (kick && this.events === undefined) this.counters[C_APP_WAKE_MSGS]! += 1;
    return { accepted, kick };
  }

  /** App reads from the receive buffer. `kick` when the server waits for window space. */
  appRead(dst: Uint8Array): { read: number; kick: boolean } {
    const read = this.recv.read(dst);
    this.counters[C_APP_DATA_OPS]! += 1;
    this.counters[C_BYTES_READ]! += read;
    // One kick per arming: the first read after the server armed takes the arming back.
    const kick = read > 0 && Atomics.load(this.ctrl, S_RX_ARMED) !== 0 && Atomics.compareExchange(this.ctrl, S_RX_ARMED, 1, 0) === 1;
    if (kick && this.events === undefined) this.counters[C_APP_WAKE_MSGS]! += 1;
    return { read, kick };
  }

  /** Readiness by memory reads: bytes readable, bytes writable. */
  appReadiness(): { readable: number; writable: number; flags: number } {
    this.counters[C_APP_READINESS_CHECKS]! += 1;
    return { readable: this.recv.available(), writable: this.send.freeSpace(), flags: this.serverFlags() };
  }

  countControlMessage(): void {
    this.counters[C_APP_CONTROL_MSGS]! += 1;
  }

  /** AppWait bits while sleeping, 0 when awake. Only the app stores this word. */
  setAppWaiting(bits: number): void {
    Atomics.store(this.ctrl, A_WAITING, bits);
  }

  /** Server side: what the app sleeps for (0: it is awake). */
  appWaiting(): number {
    return Atomics.load(this.ctrl, A_WAITING);
  }

  /** Operations done without a message vs messages sent, for the fast-socket share. */
  opStats(): SocketOpStats {
    const c = this.counters;
    return {
      dataOps: c[C_APP_DATA_OPS]!,
      readinessChecks: c[C_APP_READINESS_CHECKS]!,
      controlMessages: c[C_APP_CONTROL_MSGS]!,
      appWakeMessages: c[C_APP_WAKE_MSGS]!,
      serverWakeMessages: c[C_SERVER_WAKE_MSGS]!,
      bytesWritten: c[C_BYTES_WRITTEN]!,
      bytesRead: c[C_BYTES_READ]!,
    };
  }
}

export interface SocketOpStats {
  dataOps: number;
  readinessChecks: number;
  controlMessages: number;
  appWakeMessages: number;
  serverWakeMessages: number;
  bytesWritten: number;
  bytesRead: number;
}

/** All counts zero (a total to add into). */
export function zeroOpStats(): SocketOpStats {
  return { dataOps: 0, readinessChecks: 0, controlMessages: 0, appWakeMessages: 0, serverWakeMessages: 0, bytesWritten: 0, bytesRead: 0 };
}

export function addOpStats(into: SocketOpStats, s: SocketOpStats): SocketOpStats {
  into.dataOps += s.dataOps;
  into.readinessChecks += s.readinessChecks;
  into.controlMessages += s.controlMessages;
  into.appWakeMessages += s.appWakeMessages;
  into.serverWakeMessages += s.serverWakeMessages;
  into.bytesWritten += s.bytesWritten;
  into.bytesRead += s.bytesRead;
  return into;
}

/** Share of socket operations (data ops + readiness checks) done without any message, in percent. */
export function withoutMessagePct(s: SocketOpStats): number {
  const ops = s.dataOps + s.readinessChecks;
  const msgs = s.controlMessages + s.appWakeMessages + s.serverWakeMessages;
  return ops === 0 ? 0 : (100 * ops) / (ops + msgs);
}
