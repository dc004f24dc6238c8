/**
 * Ethernet frames over a TCP stream, each prefixed by its length as a 4-byte
 * big-endian number: QEMU's `-netdev socket,listen=HOST:PORT` /
 * `-netdev socket,connect=HOST:PORT` and `-netdev stream,server=on|off,addr.type=inet,...`.
 *
 * 'listen' serves one peer at a time (as QEMU does): a second connection while
 * one is open is refused; after the peer leaves the next one is accepted.
 * 'connect' does not reconnect: after the peer closes, frames are dropped as
 * 'tx-no-peer' and the driver should open a new link.
 *
 * A length prefix that cannot be a frame (0, or over 256 KiB) means the stream
 * is out of step: it counts 'rx-bad-encap' and the connection is closed.
 * Lengths that are plausible but over the link's MTU are skipped ('rx-oversize').
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { randomLocalMac } from './backend.js';
import { QueuedLink } from './queued-link.js';

export const STREAM_LENGTH_PREFIX = 4;
/** Above this a length prefix is garbage, not a big frame. */
export const STREAM_MAX_SANE_FRAME = 256 * 1024;

export interface StreamLinkOptions {
  readonly mode: 'listen' | 'connect';
  readonly host: string;
  /** Port to listen on (0: any, see `localPort`) or to connect to. */
  readonly port: number;
  readonly mac?: Uint8Array;
  /** IP MTU (default 1500). */
  readonly mtu?: number;
  readonly rxQueueFrames?: number;
  /** Bytes queued in the socket before `transmit` stops early (default 4 MiB). */
  readonly maxBufferedBytes?: number;
}

export class StreamLink extends QueuedLink {
  readonly kind = 'qemu-stream';
  readonly name: string;
  private peer: Socket | undefined;
  private server: Server | undefined;
  private rest: Buffer = Buffer.alloc(0);
  private readonly maxBufferedBytes: number;
  /** Connections accepted so far (listen mode), refused while busy. */
  accepted = 0;
  refused = 0;

  private constructor(options: StreamLinkOptions, mac: Uint8Array) {
    super(mac, options.mtu ?? 1500, options.rxQueueFrames);
    this.name = `stream ${options.mode} ${options.host}:${options.port}`;
    this.maxBufferedBytes = options.maxBufferedBytes ?? 4 << 20;
  }

  static async open(options: StreamLinkOptions): Promise<StreamLink> {
    const link = new StreamLink(options, options.mac ?? randomLocalMac((n) => randomBytes(n)));
    if (options.mode === 'listen') {
      const server = createServer((socket) => link.onConnection(socket));
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(options.port, options.host, () => { server.off('error', reject); resolve(); });
      });
      link.server = server;
    } else {
      const socket = createConnection({ host: options.host, port: options.port });
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject);
        socket.once('connect', () => { socket.off('error', reject); resolve(); });
      });
      link.attach(socket);
    }
    return link;
  }

  /** The listening port (listen mode). */
  localPort(): number {
    const a = this.server?.address();
    return a !== null && typeof a === 'object' ? a.port : 0;
  }

  /** Whether a peer is connected now. */
  get connected(): boolean {
    return this.peer !== undefined;
  }

  private onConnection(socket: Socket): void {
    if (this.peer !== undefined || this.closed) {
      this.refused++;
      socket.destroy();
      return;
    }
    this.accepted++;
    this.attach(socket);
  }

  private attach(socket: Socket): void {
    this.peer = socket;
    this.rest = Buffer.alloc(0);
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(socket, chunk));
    socket.on('error', (error) => {
      this.counters.lastError = (error as NodeJS.ErrnoException).code ?? error.message;
    });
    socket.on('close', () => {
      if (this.peer === socket) this.peer = undefined;
    });
  }

  private onData(socket: Socket, chunk: Buffer): void {
    if (socket !== this.peer) return;
    const buf = this.rest.length === 0 ? chunk : Buffer.concat([this.rest, chunk]);
    let p = 0;
    while (buf.length - p >= STREAM_LENGTH_PREFIX) {
      const len = buf.readUInt32BE(p);
      if (len === 0 || len > STREAM_MAX_SANE_FRAME) {
        this.counters.drop('rx-bad-encap');
        this.rest = Buffer.alloc(0);
        this.peer = undefined;
        socket.destroy();
        return;
      }
      if (buf.length - p - STREAM_LENGTH_PREFIX < len) break;
      this.deliver(buf.subarray(p + STREAM_LENGTH_PREFIX, p + STREAM_LENGTH_PREFIX + len));
      p += STREAM_LENGTH_PREFIX + len;
    }
    // Keep a copy of a short tail, not a view pinning the whole chunk.
    this.rest = p === buf.length ? Buffer.alloc(0) : Buffer.from(buf.subarray(p));
  }

  override transmit(slots: Parameters<QueuedLink['transmit']>[0], count: number): number {
    const peer = this.peer;
    if (peer === undefined) return super.transmit(slots, count);
    peer.cork();
    try {
      return super.transmit(slots, count);
    } finally {
      peer.uncork();
    }
  }

  protected send(frame: Uint8Array): 'sent' | 'dropped' | 'full' {
    const peer = this.peer;
    if (peer === undefined || peer.destroyed) { this.counters.drop('tx-no-peer'); return 'dropped'; }
    if (peer.writableLength >= this.maxBufferedBytes) return 'full';
    const record = Buffer.allocUnsafe(STREAM_LENGTH_PREFIX + frame.length);
    record.writeUInt32BE(frame.length, 0);
    record.set(frame, STREAM_LENGTH_PREFIX);
    peer.write(record);
    return 'sent';
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.peer?.destroy();
    this.peer = undefined;
    const server = this.server;
    if (server !== undefined) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
