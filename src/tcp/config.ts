import type { Tcb } from './tcb.js';
/**
 * The TCP engine's injected dependencies, options and events: everything the
 * socket layer (TCP server, net.Socket-compatible API) needs to know to drive it.
 *
 * Output path (zero-copy ready): for each segment the engine asks the injected
 * `SegmentAllocator` for a buffer of exactly the segment's length, builds the
 * header and copies the payload from the send ring into it, and hands it to
 * `transmit(src, dst, bytes)`. The buffer then belongs to the caller (it may be
 * a subarray of a pool buffer with IP headroom in front). `alloc` returning
 * undefined is back-pressure: the engine keeps the data queued and retries on
 * the next call into it (or `retryOutput`), it never throws and loses nothing
 * but pure ACKs (which later traffic repeats).
 */
import type { Rng } from '../random/rng.js';
import type { ByteRing } from '../abi/byte-ring.js';

/** Where segments are built. Returns a buffer of exactly `len` bytes, or undefined when out of buffers. */
export interface SegmentAllocator {
  /**
   * A buffer of exactly `len` bytes. `align` (0-7), when given, asks that the
   * buffer start at an address ≡ align (mod 8) in its memory, so the payload
   * copied into it lines up with the send ring (ByteRing.alignmentAt); an
   * allocator may ignore it.
   */
  alloc(len: number, align?: number): Uint8Array | undefined;
  /**
   * True while the buffers left are the reserve of the connections that exist: a SYN is then
   * dropped (the peer retries) instead of answered. Under a SYN flood the SYN-ACKs (waiting
   * for filter verdicts and ARP) otherwise took every buffer, and established connections
   * could not send.
   */
  lowOnBuffers?(): boolean;
}

/**
 * Receives each built segment (a full TCP header + payload, checksum filled unless offloaded).
 * `gsoMss` > 0: a segmentation-offload burst longer than one MSS; its checksum is NOT filled and
 * whoever puts it on a link cuts it into `gsoMss`-byte segments with their own checksums (TSO).
 */
/** Largest TSO burst payload: an IPv4 datagram of 65535 bytes minus IP and the largest TCP header. */
export const TSO_MAX_BYTES = 65535 - 20 - 60;

export type TransmitFn = (src: number, dst: number, bytes: Uint8Array, gsoMss: number) => void;

/** Event kinds for the socket layer. `conn` is the connection id; for `incoming`, the listener id. */
export const TcpEventType = {
  /** Active open completed (SYN-SENT → ESTABLISHED). */
  Connected: 1,
  /** A listener has a connection ready for `accept` (conn = listener id). */
  Incoming: 2,
  /** New in-order data in the receive buffer. */
  Readable: 3,
  /** Send buffer space was freed after the application found it full. */
  Writable: 4,
  /** The peer's FIN arrived and all data before it was made readable: end of stream. */
  End: 5,
  /**
   * The protocol finished: the connection reached TIME-WAIT or CLOSED after a
   * normal close (not sent after `Error`, nor after the application's close()).
   * The id stays valid (readable data remains readable) until close()/abort().
   */
  Closed: 6,
  /** A fatal error, the connection is CLOSED; `code` is a Node error code (ECONNREFUSED, ECONNRESET, ETIMEDOUT, EHOSTUNREACH). */
  Error: 7,
} as const;
export type TcpEventType = (typeof TcpEventType)[keyof typeof TcpEventType];

export type TcpErrorCode = 'ECONNREFUSED' | 'ECONNRESET' | 'ETIMEDOUT' | 'EHOSTUNREACH' | 'ENETUNREACH';

/**
 * Events are queued inside the engine and delivered, in order, just before the
 * outermost engine call (onSegment, onTimer, send, ...) returns; the callback
 * may call back into the engine. Nothing is delivered for released connections.
 */
export type TcpEventFn = (type: TcpEventType, conn: number, code?: TcpErrorCode) => void;

export type CongestionAlgorithm = 'cubic' | 'newreno' | 'bbr';

/** Per-connection settings (defaults in DEFAULT_CONNECTION_OPTIONS). */
export interface ConnectionOptions {
  /** Send buffer (send ring) capacity in bytes. */
  sendBufferSize: number;
  /** Receive buffer (receive ring) capacity in bytes; the advertised window comes from its free space. */
  recvBufferSize: number;
  /** MSS we advertise and the ceiling for what we send (path MTU minus 40). */
  mss: number;
  /** Disable Nagle's algorithm (RFC 9293 §3.7.4). */
  noDelay: boolean;
  /** Keepalive probes (RFC 9293 §3.8.4): off when 0, else idle time in ms before the first probe. */
  keepAliveIdle: number;
  keepAliveInterval: number;
  keepAliveCount: number;
  /** RFC 5482/9293 user timeout in ms: give up when data stays unacknowledged this long (0 = only by retry count). */
  userTimeout: number;
  congestion: CongestionAlgorithm;
  /** Offer/accept RFC 7323 timestamps, window scaling, RFC 2018 SACK. */
  timestamps: boolean;
  windowScaling: boolean;
  sack: boolean;
  /** Delayed ACK upper bound in ms (RFC 9293 §3.8.6.3: < 0.5 s; Linux 40 ms min). */
  delayedAckMs: number;
  /** RFC 3465 L for slow start, in segments (2); 0: no limit, as Linux (see CongestionControlOptions). */
  abcLimit: number;
}

export const DEFAULT_CONNECTION_OPTIONS: ConnectionOptions = {
  sendBufferSize: 256 * 1024,
  recvBufferSize: 256 * 1024,
  mss: 1460,
  noDelay: false,
  abcLimit: 2,
  keepAliveIdle: 0,
  keepAliveInterval: 75_000,
  keepAliveCount: 9,
  userTimeout: 0,
  congestion: 'bbr',
  timestamps: true,
  windowScaling: true,
  sack: true,
  delayedAckMs: 40,
};

/**
 * Where connections' send and receive rings live. The TCP server places them
 * in the socket table shared with the application (fast sockets); without a
 * provider each connection gets private rings. `acquire` returning undefined
 * means no memory: an active open fails with ENOBUFS, a SYN is dropped.
 * `release` is called once the engine will never touch the rings again.
 */
export interface ConnectionBufferProvider {
  acquire(sendSize: number, recvSize: number): { send: ByteRing; recv: ByteRing; tag: number } | undefined;
  /**
   * How many connections' rings acquire could give now (at least). A SYN makes a half-open
   * connection, which holds rings, only while they outnumber the listener's half-open ones:
   * past that it is answered with a SYN cookie, which holds nothing, so a SYN flood cannot take
   * every socket (undefined: no such limit).
   */
  free?(): number;
  release(tag: number): void;
}

export interface TcpEngineOptions {
  rng: Rng;
  buffers?: ConnectionBufferProvider;
  allocator: SegmentAllocator;
  transmit: TransmitFn;
  onEvent?: TcpEventFn;
  /**
   * Called as the engine starts work on a connection (a segment for it, its timer, an
   * application call that may change it), with the connection's buffer tag (-1: none).
   * A TCP server marks the connection "in hand" with it (src/tcp/checkpoint.ts).
   */
  onEnter?: (bufferTag: number) => void;
  /**
   * A TIME-WAIT connection its application has closed is about to give its rings (and
   * socket slot) back: its last chance to be saved elsewhere (a TCP server keeps it in
   * its data store, so that a successor still has it for the rest of its 2 MSL).
   */
  onTimeWaitReleased?: (t: Tcb) => void;
  /**
   * Leave the checksums of outgoing segments unfilled (TxFlag.ChecksumPartial): the driver
   * or the link completes them. Received segments are verified unless the link vouched for them.
   */
  checksumOffload?: boolean;
  /**
   * TCP segmentation offload: the largest payload handed to `transmit` in one burst (bytes;
   * 0 or below one MSS: off). Bursts are whole MSS multiples, cut up below (see TransmitFn).
   * Congestion control, SACK and retransmission still count in MSS-sized segments.
   */
  tsoMaxBytes?: number;
  /**
   * RFC 6937 Proportional Rate Reduction for the window during SACK recoveries of CUBIC
   * and NewReno (default true); false: RFC 6675's cwnd = ssthresh at once.
   */
  prr?: boolean;
  /**
   * RACK loss detection (RFC 8985 §6) on connections with SACK: a segment is lost when
   * one sent after it was delivered and RACK.rtt + reo_wnd have passed, besides RFC
   * 6675's DupThresh rule. Default false for now: on (Linux's net.ipv4.tcp_recovery = 1) it
   * made 19 % of segments spurious retransmissions in bench:loss's 5 % loss + 25 % reorder
   * case, against 4 % off (reo_wnd = min_RTT/4 is shorter than the link's reordering delay).
   */
  rack?: boolean;
  /** RFC 8985 §7 tail loss probes with SACK (default true). */
  tlp?: boolean;
  /** Maximum segment lifetime in ms; TIME-WAIT lasts 2 MSL (RFC 9293 §3.4.2). Default 30 s (Linux's 60 s TIME-WAIT). */
  msl?: number;
  /**
   * Connections waiting in TIME-WAIT at most (Linux tcp_max_tw_buckets); one that would
   * be one more closes at once, after the ACK of its peer's FIN. Default 32768 (each keeps
   * its control block, ~3 KB, for 2 MSL).
   */
  maxTimeWait?: number;
  /** SYN retransmissions before ETIMEDOUT (Linux tcp_syn_retries = 6). */
  synRetries?: number;
  /** Data retransmissions before ETIMEDOUT (Linux tcp_retries2 = 15). */
  dataRetries?: number;
  /** RTO bounds in ms (RFC 6298 §2: min 1 s SHOULD; Linux uses 200 ms). */
  minRto?: number;
  maxRto?: number;
  initialRto?: number;
  /** SYN queue bound per listener (half-open connections); beyond it, SYN cookies. */
  synQueueSize?: number;
  /** 'auto': cookies when the SYN queue is full (Linux tcp_syncookies = 1); 'always'; 'never' (drop). */
  synCookies?: 'auto' | 'always' | 'never';
  /** RFC 5961 §7: challenge ACKs per second, engine-wide (Linux tcp_challenge_ack_limit 1000). */
  challengeAckLimit?: number;
  /** RFC 6056 ephemeral port range (Linux default 32768–60999). */
  ephemeralPortMin?: number;
  ephemeralPortMax?: number;
  /**
   * Extra condition on ephemeral ports (e.g. software RSS: the 4-tuple must hash to
   * this replica). Called with a candidate port; false skips it.
   */
  portFilter?: (localAddr: number, localPort: number, remoteAddr: number, remotePort: number) => boolean;
  /**
   * A connection entered (+1) or left (-1) the engine's connection table (software RSS:
   * a replica's TCP counts its live connections per indirection-table entry, so the
   * replica monitor moves only entries that hold none).
   */
  onTableChange?: (t: Tcb, delta: 1 | -1) => void;
  /** Max out-of-order ranges kept per connection (memory bound on the OOO queue). */
  maxOooRanges?: number;
  /** Defaults for connections created by connect() and by listeners. */
  defaults?: Partial<ConnectionOptions>;
}

/**
 * The engine's settings, resolved once: every TcpEngineOptions default filled in,
 * checked (resolveTcpConfig) and frozen. The engine and the per-connection functions
 * (through EngineContext.config) read it; nothing copies its fields.
 */
export interface TcpConfig {
  readonly checksumOffload: boolean;
  /** TSO burst limit in bytes (0: off), at most TSO_MAX_BYTES. */
  readonly tsoMaxBytes: number;
  readonly prr: boolean;
  readonly rack: boolean;
  readonly tlp: boolean;
  readonly msl: number;
  readonly maxTimeWait: number;
  readonly synRetries: number;
  readonly dataRetries: number;
  readonly minRto: number;
  readonly maxRto: number;
  readonly initialRto: number;
  readonly synQueueSize: number;
  readonly synCookies: 'auto' | 'always' | 'never';
  readonly challengeAckLimit: number;
  readonly ephemeralPortMin: number;
  readonly ephemeralPortMax: number;
  readonly maxOooRanges: number;
  /** Connection defaults (DEFAULT_CONNECTION_OPTIONS overridden by TcpEngineOptions.defaults), frozen too. */
  readonly defaults: Readonly<ConnectionOptions>;
}

/** TcpEngineOptions → the frozen TcpConfig. Throws RangeError on a setting the engine cannot run with. */
export function resolveTcpConfig(o: Omit<TcpEngineOptions, 'rng' | 'allocator' | 'transmit'>): TcpConfig {
  const c: TcpConfig = {
    checksumOffload: o.checksumOffload ?? false,
    tsoMaxBytes: Math.max(0, Math.min(o.tsoMaxBytes ?? 0, TSO_MAX_BYTES)),
    prr: o.prr ?? true,
    rack: o.rack ?? false,
    tlp: o.tlp ?? true,
    msl: o.msl ?? 30_000,
    maxTimeWait: o.maxTimeWait ?? 32_768,
    synRetries: o.synRetries ?? 6,
    dataRetries: o.dataRetries ?? 15,
    minRto: o.minRto ?? 200,
    maxRto: o.maxRto ?? 120_000,
    initialRto: o.initialRto ?? 1000,
    synQueueSize: o.synQueueSize ?? 256,
    synCookies: o.synCookies ?? 'auto',
    challengeAckLimit: o.challengeAckLimit ?? 1000,
    ephemeralPortMin: o.ephemeralPortMin ?? 32768,
    ephemeralPortMax: o.ephemeralPortMax ?? 60999,
    maxOooRanges: o.maxOooRanges ?? 256,
    defaults: Object.freeze({ ...DEFAULT_CONNECTION_OPTIONS, ...o.defaults }),
  };
  const count = (name: keyof TcpConfig, v: number): void => {
    if (!(v >= 0) || Number.isNaN(v)) throw new RangeError(`tcp: ${name} must be a number >= 0, not ${v}`);
  };
  for (const k of ['msl', 'maxTimeWait', 'synRetries', 'dataRetries', 'minRto', 'maxRto', 'initialRto', 'synQueueSize', 'challengeAckLimit', 'maxOooRanges'] as const) count(k, c[k]);
  if (c.minRto > c.maxRto) throw new RangeError(`tcp: minRto ${c.minRto} is above maxRto ${c.maxRto}`);
  if (!(c.ephemeralPortMin >= 1 && c.ephemeralPortMin <= c.ephemeralPortMax && c.ephemeralPortMax <= 65535)) {
    throw new RangeError(`tcp: ephemeral port range ${c.ephemeralPortMin}-${c.ephemeralPortMax} is not within 1-65535`);
  }
  if (c.synCookies !== 'auto' && c.synCookies !== 'always' && c.synCookies !== 'never') throw new RangeError(`tcp: synCookies '${String(c.synCookies)}'`);
  const d = c.defaults;
  if (!(d.sendBufferSize > 0 && d.recvBufferSize > 0 && d.mss > 0)) throw new RangeError('tcp: connection buffers and MSS must be > 0');
  return Object.freeze(c);
}
