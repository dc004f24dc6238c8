/**
 * What the per-connection functions (input, output, recovery, timers) need
 * from the engine that owns them. The engine implements it; tests of single
 * functions could implement it too.
 */
import type { TcpHeaderFields } from '../wire/tcp.js';
import type { SegmentAllocator, TcpErrorCode, TcpEventType, TransmitFn } from './config.js';
import type { TcpCounters } from './counters.js';
import type { Tcb } from './tcb.js';

export interface EngineContext {
  readonly counters: TcpCounters;
  readonly allocator: SegmentAllocator;
  readonly transmit: TransmitFn;
  readonly checksumOffload: boolean;
  /** TSO burst limit in bytes (0: off); see TcpEngineOptions.tsoMaxBytes. */
  readonly tsoMaxBytes: number;
  /** RFC 6937 Proportional Rate Reduction in SACK recoveries (TcpEngineOptions.prr). */
  readonly prr: boolean;
  /** RFC 8985 §7 tail loss probes (TcpEngineOptions.tlp). */
  readonly tlp: boolean;
  /** Scratch header reused for every segment built (no per-segment objects). */
  readonly hdr: TcpHeaderFields;
  readonly msl: number;
  readonly synRetries: number;
  readonly dataRetries: number;
  readonly minRto: number;
  readonly maxRto: number;
  readonly initialRto: number;
  emit(type: TcpEventType, conn: number, code?: TcpErrorCode): void;
  /** RFC 5961 §7 engine-wide rate limit: may a challenge ACK go out now? */
  challengeAckAllowed(now: number): boolean;
  /** A passive connection reached ESTABLISHED: queue it for accept(). */
  passiveEstablished(t: Tcb): void;
  /** The connection reached CLOSED: remove it from the demux (and free it if released). */
  connectionClosed(t: Tcb): void;
  /** Timer fields of t changed: make sure the timer heap will wake for them. */
  timersChanged(t: Tcb): void;
  /** Output failed for lack of buffers: retry this connection later. */
  outputBlocked(t: Tcb): void;
}
