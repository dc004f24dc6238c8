/**
 * What an application-side socket object needs from the stack: its shared
 * socket block, a way to wake the transport server, a way to wait for the
 * server's next event without blocking the thread, and control requests.
 * The stack client implements it; net.Socket-compatible sockets use it.
 */
import type { SocketBlock } from '../abi/socket-block.js';

export interface SocketAddressInfo {
  readonly address: string;
  readonly port: number;
  readonly family: 'IPv4';
}

export interface SocketPort {
  readonly id: number;
  readonly block: SocketBlock;
  /** Local and remote addresses once known. */
  local(): SocketAddressInfo | undefined;
  remote(): SocketAddressInfo | undefined;
  /** Wake the transport server: data was added to the send ring, or space freed in the receive ring. */
  kick(): void;
  /**
   * Resolve once the block's event sequence differs from `seenSeq` (at once if
   * it already does). A pending wait does not keep the process alive.
   */
  waitForEvent(seenSeq: number): Promise<void>;
  /** A socket option changed (no-delay, keepalive); applied by the transport server. */
  setOption(option: 'noDelay' | 'keepAlive', value: number): void;
  /** The app is done with the socket: FIN (graceful) or RST (abort) and release the block. */
  close(abort: boolean): void;
}

/** What a listening server needs from the stack. */
export interface ListenerPort {
  /** Bound address (port resolved when 0 was asked). */
  local(): SocketAddressInfo;
  /** Stop accepting; resolves when the stack has removed the listener. */
  close(): void;
  /** Whether waiting for connections keeps the process alive. */
  setRef(ref: boolean): void;
}

/** Events a listener receives from the stack client. */
export interface ListenerSink {
  onConnection(socket: import('./net-socket.js').NetSocket): void;
  onError(error: Error): void;
}
