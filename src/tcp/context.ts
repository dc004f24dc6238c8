/**
 * What the per-connection functions (input, output, recovery, timers) need
 * from the engine that owns them. The engine implements it; tests of single
 * functions could implement it too.
 */
import type { TcpHeaderFields } from '../wire/tcp.js';
import type { SegmentAllocator, TcpConfig, TcpErrorCode, TcpEventType, TransmitFn } from './config.js';
import type { TcpCounters } from './counters.js';
import type { Tcb } from './tcb.js';

export interface EngineContext {
  readonly counters: TcpCounters;
  readonly allocator: SegmentAllocator;
  readonly transmit: TransmitFn;
  /** The engine's settings (frozen; config.ts resolveTcpConfig). */
  readonly config: TcpConfig;
  /** Scratch header reused for every segment built (no per-segment objects). */
  readonly hdr: TcpHeaderFields;
  emit(type: TcpEventType, conn: number, code?: TcpErrorCode): void;
  /** RFC 5961 §7 engine-wide rate limit: may a challenge ACK go out now? */
  challengeAckAllowed(now: number): boolean;
  /** A passive connection reached ESTABLISHED: queue it for accept(). */
  passiveEstablished(t: Tcb): void;
  /**
   * May `t` wait in TIME-WAIT? False when `config.maxTimeWait` connections already do (Linux
   * tcp_max_tw_buckets): it closes at once instead (counted as timeWaitOverflow).
   */
  admitTimeWait(t: Tcb): boolean;
  /** The connection reached CLOSED: remove it from the demux (and free it if released). */
  connectionClosed(t: Tcb): void;
  /** Timer fields of t changed: make sure the timer heap will wake for them. */
  timersChanged(t: Tcb): void;
  /** Output failed for lack of buffers: retry this connection later. */
  outputBlocked(t: Tcb): void;
}
