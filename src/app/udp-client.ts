/**
 * The application's side of UDP: `stack.dgram` and the fast datagram sockets
 * behind it. Binding is control (SOCK_MSG.UDP_BIND to SOCK, which asks the UDP
 * server; UDP_BIND_REPLY comes back on the app's input ring); closing too
 * (UDP_CLOSE). Datagrams never travel in a message: they are records
 * (src/abi/dgram-record.ts) in the socket block's rings, and the UDP server is
 * kicked (a mark in its table, socket-events.ts KickRing) only when it armed
 * S_TX_ARMED.
 *
 * Each bound socket runs one asynchronous loop: deliver every record in the
 * receive ring, move queued sends into the send ring, then wait for the
 * block's next event (A_WAITING set first, readiness checked again, then a
 * wait with the sequence read before the check through the table's one
 * wake-up: socket-block.ts's rule, so a datagram published meanwhile is never
 * slept through). Sends that
 * do not fit wait in the socket (like libuv's send queue) until the UDP server
 * drains the ring and publishes.
 */
import { KeepAlive } from './keep-alive.js';
import { NewtosError } from '../errors.js';
import type { MessageView } from '../substrate/message.js';
import {
  AppFlag, AppWait, C_APP_CONTROL_MSGS, C_APP_DATA_OPS, C_APP_READINESS_CHECKS, C_BYTES_READ, C_BYTES_WRITTEN,
  S_TX_ARMED, SOCKET_ERROR_CODES, ServerFlag, addOpStats, zeroOpStats, type SocketBlock, type SocketOpStats,
} from '../abi/socket-block.js';
import type { SocketTable } from '../abi/socket-table.js';
import { parseIpv4 } from '../config/stack-config.js';
import { DgramRecordCodec } from '../abi/dgram-record.js';
import { DgramSocket, type DgramAddressInfo, type DgramBinder, type DgramPort, type DgramRemoteInfo, type DgramSocketOptions } from './dgram-socket.js';
import { packSocketHandle, unpackSocketHandle } from '../abi/protocol.js';
import type { AppOutput } from './app-link.js';
import { addTableWakes, tableWakeUps, type KickRing, type SocketEvents } from './socket-events.js';
import { SockUdpBind, SockUdpBindReply, SockUdpClose } from '../abi/message-args.js';

function formatIpv4(a: number): string {
  return `${a >>> 24}.${(a >>> 16) & 0xff}.${(a >>> 8) & 0xff}.${a & 0xff}`;
}

interface PendingBind {
  resolve: (p: DgramPort) => void;
  reject: (e: Error) => void;
  address: string;
  port: number;
}

interface QueuedSend { address: number; port: number; data: Uint8Array; cb: (err: Error | null) => void }

export class UdpClient implements DgramBinder {
  private nextId = 1;
  private readonly binds = new Map<number, PendingBind>();
  private readonly ports = new Set<DatagramPort>();
  /** Counts of the sockets already closed. */
  private readonly closedStats: SocketOpStats = zeroOpStats();
  private closed = false;
  private readonly pendingHold = new KeepAlive();

  /** `dgram`-compatible surface. */
  readonly dgram = {
    createSocket: (options: DgramSocketOptions | 'udp4' | 'udp6', listener?: (msg: Buffer, rinfo: DgramRemoteInfo) => void): DgramSocket =>
      new DgramSocket(this, options, listener),
  };

  /** Per replica: the loop that ends its sockets' waits and the ring of its kicks (table-events.ts). */
  private readonly events: readonly SocketEvents[];
  private readonly kickRings: readonly KickRing[];

  constructor(
    private readonly toSock: AppOutput,
    /** Per replica: the app → UDP kick channel and the UDP socket table. */
    private readonly toUdp: readonly AppOutput[],
    private readonly tables: readonly SocketTable[],
  ) {
    ({ events: this.events, kickRings: this.kickRings } = tableWakeUps('UDP', tables, toUdp));
  }

  bind(address: string, port: number): Promise<DgramPort> {
    const addr = address === '0.0.0.0' ? 0 : parseIpv4(address === 'localhost' ? '127.0.0.1' : address);
    if (addr === undefined) {
      const err = new NewtosError('ENOTFOUND', `getaddrinfo ENOTFOUND ${address}`) as NewtosError & { syscall: string; hostname: string };
      err.syscall = 'getaddrinfo'; err.hostname = address;
      return Promise.reject(err);
    }
    if (this.closed || this.toUdp.length === 0) return Promise.reject(new NewtosError('ERR_STACK_CLOSED', 'the newtos stack is closed or has no UDP'));
    return new Promise((resolve, reject) => {
      const id = this.nextId++;
      // Held until SOCK replies (the bound socket then holds its own while ref'd).
      const release = this.pendingHold.hold();
      this.binds.set(id, { resolve: (p) => { release(); resolve(p); }, reject: (e) => { release(); reject(e); }, address, port });
      this.toSock.send(SockUdpBind, { socket: id, localAddr: addr, localPort: port });
    });
  }

  /** SOCK_MSG.UDP_BIND_REPLY from the app's input ring. */
  onBindReply(msg: MessageView): void {
    const pending = this.binds.get(msg.arg(SockUdpBindReply.socket));
    if (pending === undefined) return;
    this.binds.delete(msg.arg(SockUdpBindReply.socket));
    if (msg.arg(SockUdpBindReply.error) !== 0 || msg.argI32(SockUdpBindReply.handle) === -1) {
      const code = SOCKET_ERROR_CODES[msg.arg(SockUdpBindReply.error) - 1] ?? 'EINVAL';
      const err = new NewtosError(code, `bind ${code} ${pending.address}:${pending.port}`) as NewtosError & { syscall: string; address: string; port: number; errno: number };
      err.syscall = 'bind'; err.address = pending.address; err.port = pending.port;
      pending.reject(err);
      return;
    }
    const { replica, slot } = unpackSocketHandle(msg.arg(SockUdpBindReply.handle));
    const table = this.tables[replica];
    const events = this.events[replica];
    const kickRing = this.kickRings[replica];
    if (table === undefined || events === undefined || kickRing === undefined) {
      pending.reject(new NewtosError('ERR_INTERNAL', `socket handle names unknown replica ${replica}`));
      return;
    }
    table.block(slot).appSetFlags(AppFlag.Adopted);
    const local: DgramAddressInfo = { address: formatIpv4(msg.arg(SockUdpBindReply.address)), family: 'IPv4', port: msg.arg(SockUdpBindReply.port) };
    const port = new DatagramPort(replica, slot, table.block(slot), this.toSock, local, events, kickRing, (p) => {
      this.ports.delete(p);
      addOpStats(this.closedStats, p.block.opStats());
    });
    this.ports.add(port);
    pending.resolve(port);
  }

  /** Fast-socket operation counts over every datagram socket (open and closed). */
  opStats(): SocketOpStats {
    const total = { ...this.closedStats };
    for (const p of this.ports) addOpStats(total, p.block.opStats());
    return addTableWakes(total, this.tables);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const b of this.binds.values()) b.reject(new NewtosError('ERR_STACK_CLOSED', 'the newtos stack is closed'));
    this.binds.clear();
    for (const p of [...this.ports]) p.close();
    for (const e of this.events) e.close();
  }
}

/** One bound datagram socket: a socket block of the UDP socket table. */
class DatagramPort implements DgramPort {
  private readonly records = new DgramRecordCodec();
  private readonly queue: QueuedSend[] = [];
  private onMessage: ((msg: Buffer, rinfo: DgramRemoteInfo) => void) | undefined;
  private onUnreachable: ((remote: DgramAddressInfo) => void) | undefined;
  private closed = false;
  private running = false;
  /** Keeps the event loop alive while the socket is open and ref'd (a pending waitAsync does not). */
  private readonly keepAlive: NodeJS.Timeout;

  constructor(
    private readonly replica: number,
    private readonly slot: number,
    readonly block: SocketBlock,
    private readonly toSock: AppOutput,
    private readonly localInfo: DgramAddressInfo,
    /** The table's wake-up loop and kick ring (socket-events.ts). */
    private readonly events: SocketEvents,
    private readonly kickRing: KickRing,
    private readonly onClose: (p: DatagramPort) => void,
  ) {
    this.keepAlive = setInterval(() => { /* a handle, like a bound socket's */ }, 1 << 30);
  }

  local(): DgramAddressInfo {
    return this.localInfo;
  }

  send(address: string, port: number, data: Uint8Array, cb: (err: Error | null) => void): void {
    const addr = parseIpv4(address === 'localhost' ? '127.0.0.1' : address);
    if (addr === undefined) {
      const err = new NewtosError('ENOTFOUND', `getaddrinfo ENOTFOUND ${address}`) as NewtosError & { syscall: string; hostname: string };
      err.syscall = 'getaddrinfo'; err.hostname = address;
      cb(err);
      return;
    }
    if (this.closed) return;
    this.queue.push({ address: addr, port, data, cb });
    if (this.queue.length === 1) this.flushSends();
    // Still queued: the loop must wait for room too (it may be asleep for readability only).
    if (this.queue.length > 0) this.events.cancel(this.slot);
  }

  /** Move queued datagrams into the send ring; kick the server once if it armed. */
  private flushSends(): void {
    const b = this.block;
    let wrote = false;
    while (this.queue.length > 0) {
      const q = this.queue[0]!;
      if (!this.records.write(b.send, q.address, q.port, q.data)) break;
      this.queue.shift();
      b.counters[C_APP_DATA_OPS]! += 1;
      b.counters[C_BYTES_WRITTEN]! += q.data.length;
      wrote = true;
      q.cb(null);
    }
    // The armed word is read after the records were published, which is all the Dekker pair
    // needs. A kick is a mark (the same slot's marks are one) and the ring goes once per turn
    // of the event loop (KickRing): an app sending in a loop wakes the server once.
    if (wrote && Atomics.load(b.ctrl, S_TX_ARMED) !== 0) this.kickRing.kick(this.slot);
  }

  start(onMessage: (msg: Buffer, rinfo: DgramRemoteInfo) => void, onPortUnreachable?: (remote: DgramAddressInfo) => void): void {
    this.onMessage = onMessage;
    this.onUnreachable = onPortUnreachable;
    if (this.running) return;
    this.running = true;
    void this.loop();
  }

  /** Deliver every record in the receive ring; false when the socket closed meanwhile. */
  private deliver(): boolean {
    const b = this.block;
    for (;;) {
      const p = this.records.peek(b.recv);
      if (p.kind === 'port-unreachable') {
        this.records.consumeNotice(b.recv);
        this.onUnreachable?.({ address: formatIpv4(p.address), family: 'IPv4', port: p.port });
        if (this.closed) return false;
        continue;
      }
      if (p.kind !== 'record') {
        // The server writes whole records only; anything else is a broken invariant, not input.
        if (p.kind === 'corrupt') throw new NewtosError('ERR_INTERNAL', 'corrupt record in a UDP receive ring');
        return true;
      }
      const h = p.header;
      const msg = Buffer.allocUnsafe(h.length);
      this.records.copyPayload(b.recv, h, msg);
      this.records.consume(b.recv, h);
      b.counters[C_APP_DATA_OPS]! += 1;
      b.counters[C_BYTES_READ]! += h.length;
      this.onMessage?.(msg, { address: formatIpv4(h.address), family: 'IPv4', port: h.port, size: h.length });
      if (this.closed) return false;
    }
  }

  private async loop(): Promise<void> {
    const b = this.block;
    while (!this.closed) {
      if (!this.deliver()) return;
      if (this.queue.length > 0) this.flushSends();
      // Sleep: say so, look once more, then wait with the sequence read before looking.
      const seq = b.eventSeq();
      b.setAppWaiting(AppWait.Readable | (this.queue.length > 0 ? AppWait.Writable : 0));
      b.counters[C_APP_READINESS_CHECKS]! += 1;
      const ready = b.recv.available() > 0 ||
        (this.queue.length > 0 && b.send.freeSpace() >= DgramRecordCodec.size(this.queue[0]!.data.length)) ||
        (b.serverFlags() & ServerFlag.Closed) !== 0;
      if (!ready && !this.closed) {
        // Does not keep the thread alive: the socket's own handle does.
        await this.events.wait(this.slot, b, seq);
      }
      // Closed while asleep: the slot may already belong to another socket; touch nothing.
      if (this.closed) return;
      b.setAppWaiting(0);
      // The server closed the socket under us (it never does unless asked): stop.
      if ((b.serverFlags() & ServerFlag.Closed) !== 0) return;
    }
  }

  setRef(ref: boolean): void {
    if (ref) this.keepAlive.ref();
    else this.keepAlive.unref();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.keepAlive);
    // Queued sends that never reached the ring are dropped, as Node drops a closed socket's queue.
    this.queue.length = 0;
    this.block.counters[C_APP_CONTROL_MSGS]! += 1;
    this.toSock.send(SockUdpClose, { handle: packSocketHandle(this.replica, this.slot) });
    // End our own loop's wait so it stops now.
    this.events.cancel(this.slot);
    this.onClose(this);
  }
}
