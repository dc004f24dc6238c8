/**
 * TcpEngine: the sans-IO TCP of one host. It hands each arriving segment to its
 * connection (found in demux.ts) or to the listener on its port (listener.ts: the
 * passive open, SYN queue, accept queue and SYN cookies), runs the connections'
 * timers when the heap (timer-heap.ts) says they are due, and offers the
 * application calls (connect, listen, accept, send, receive, shutdown, close,
 * abort). No clock, no randomness, no I/O of its own: `now` is passed into every
 * call, the Rng, the segment allocator, the transmit function and the event
 * callback are injected, the settings resolved once into a frozen `config`
 * (config.ts).
 *
 * Read first: RFC 9293 §3.10 (event processing), then input.ts, output.ts,
 * recovery.ts, timers.ts. Addresses are IPv4 uint32 numbers; connection and
 * listener ids are small integers (separate id spaces), reused after release.
 *
 * Connection lifetime: an id is valid from connect()/accept() until the
 * application calls close() or abort() AND the protocol has reached CLOSED
 * (TIME-WAIT and orphaned FIN-WAIT-2 continue after close() without an id the
 * application can use; no events are emitted for a released connection).
 */
import type { Rng } from '../random/rng.js';
import { ByteRing } from '../abi/byte-ring.js';
import { NewtosError } from '../errors.js';
import {
  TcpFlag, TcpSegment, emitTcpHeader, parseTcpInto, tcpHeaderLenFor, writeTcpChecksum, type TcpHeaderFields,
} from '../wire/tcp.js';
import {
  TcpEventType, resolveTcpConfig, type ConnectionBufferProvider, type ConnectionOptions, type SegmentAllocator, type TcpErrorCode,
  type TcpConfig, type TcpEngineOptions, type TcpEventFn, type TransmitFn,
} from './config.js';
import type { EngineContext } from './context.js';
import { TcpCounters, tcpGauges, type TcpGauges } from './counters.js';
import { armKeepalive, connectionError, segmentArrives } from './input.js';
import { EphemeralPorts } from './ephemeral-ports.js';
import { ConnectionTable } from './demux.js';
import { ListenerTable, type ListenerParams } from './listener.js';
import { SynCookies } from './syn-cookies.js';
import { TS_OPTION_LEN, windowScaleFor } from './options.js';
import { acceptableSeq, output, sendSegment, sendSyn } from './output.js';
import { KeyedTcpSecrets, type TcpSecrets } from './secrets.js';
import { seqAdd, seqDiff, seqGt, seqLe, seqLt } from './seqnum.js';
import { TcpState, stateName } from './state.js';
import { Tcb } from './tcb.js';
import type { RttEstimatorOptions } from './rtt-estimator.js';
import { TimerHeap } from './timer-heap.js';
import { connectionTimer } from './timers.js';

export interface ConnectParams {
  localAddr: number;
  remoteAddr: number;
  remotePort: number;
  /** 0 or absent: an ephemeral port (RFC 6056). */
  localPort?: number;
  options?: Partial<ConnectionOptions>;
}

export interface ListenParams {
  /** 0 = any local address. */
  addr: number;
  port: number;
  /** Accept queue bound (established connections not yet accepted). Default 128. */
  backlog?: number;
  options?: Partial<ConnectionOptions>;
  /** The id to give the listener (a restarted server restoring its listeners); it must be free. */
  id?: number;
}

export type IcmpErrorKind = 'port-unreachable' | 'protocol-unreachable' | 'host-unreachable' | 'net-unreachable' | 'frag-needed';

/** An ICMP error about a segment we sent (from the quoted IP header + 8 bytes of TCP). */
export interface TcpIcmpError {
  kind: IcmpErrorKind;
  /** Our address and port (the quoted segment's source). */
  localAddr: number;
  localPort: number;
  remoteAddr: number;
  remotePort: number;
  /** The quoted segment's sequence number (RFC 5927 §4.1 check). */
  seq: number;
  /** Next-hop MTU for 'frag-needed' (RFC 1191). */
  mtu?: number;
}

export interface ConnectionInfo {
  state: string;
  localAddr: number;
  localPort: number;
  remoteAddr: number;
  remotePort: number;
  sndMss: number;
  sndWndScale: number;
  rcvWndScale: number;
  timestamps: boolean;
  sack: boolean;
  srtt: number;
  rto: number;
  cwnd: number;
  ssthresh: number;
  sndWnd: number;
  bytesInFlight: number;
  recvQueued: number;
  sendQueued: number;
  congestion: string;
  /** Reordering degree seen on the path, segments (the adaptive DupThresh; 3 until reordering is seen). */
  reordering: number;
  /** RACK's reordering-window multiplier (RFC 8985 §6.2 step 4: 1, plus one per D-SACK round). */
  rackReoWndMult: number;
}


export class TcpEngine implements EngineContext {
  readonly counters = new TcpCounters();
  readonly allocator: SegmentAllocator;
  readonly transmit: TransmitFn;
  readonly config: TcpConfig;
  readonly hdr: TcpHeaderFields = {
    srcPort: 0, dstPort: 0, seq: 0, ack: 0, flags: 0, window: 0, urgent: 0, mss: -1, windowScale: -1,
    sackPermitted: false, hasTimestamp: false, tsVal: 0, tsEcr: 0, sack: new Uint32Array(0), sackCount: 0,
  };

  private readonly rng: Rng;
  private readonly rttOptions: RttEstimatorOptions;
  private readonly onEvent: TcpEventFn | undefined;
  private readonly onEnter: ((bufferTag: number) => void) | undefined;
  private readonly onTimeWaitReleased: ((t: Tcb) => void) | undefined;
  /** Connections touched since the last drainTouched (checkpointing: only those changed). */
  private readonly touchedList: Tcb[] = [];
  private readonly buffers: ConnectionBufferProvider | undefined;
  /** Empty rings for TIME-WAIT connections that gave theirs back, by "send/recv" capacity. */
  private readonly idleRings = new Map<string, { readonly send: ByteRing; readonly recv: ByteRing }>();
  private readonly secrets: TcpSecrets;
  private readonly cookies: SynCookies;
  private readonly ports: EphemeralPorts;
  private readonly portFilter: TcpEngineOptions['portFilter'];
  private readonly seg = new TcpSegment();
  private readonly conns: ConnectionTable;
  private readonly listeners: ListenerTable;
  private readonly timers = new TimerHeap();
  /** conns.get, bound once (the timer heap's view of the connections). */
  private readonly connById: (id: number) => Tcb | undefined;
  private readonly blocked: Tcb[] = [];
  private challengeWindowStart = -Infinity;
  // Pending events (parallel arrays, reused) and the engine-call nesting depth.
  private readonly evType: TcpEventType[] = [];
  private readonly evConn: number[] = [];
  private readonly evCode: (TcpErrorCode | undefined)[] = [];
  private evCount = 0;
  private depth = 0;
  /** Connections in TIME-WAIT now (admitTimeWait, connectionClosed). */
  private timeWaits = 0;
  private challengeCount = 0;

  constructor(options: TcpEngineOptions) {
    this.rng = options.rng;
    this.allocator = options.allocator;
    this.transmit = options.transmit;
    this.onEvent = options.onEvent;
    this.onEnter = options.onEnter;
    this.onTimeWaitReleased = options.onTimeWaitReleased;
    this.buffers = options.buffers;
    const c = this.config = resolveTcpConfig(options);
    this.secrets = new KeyedTcpSecrets(this.rng);
    this.cookies = SynCookies.fromRng(this.rng);
    this.ports = new EphemeralPorts({ rng: this.rng, min: c.ephemeralPortMin, max: c.ephemeralPortMax });
    this.portFilter = options.portFilter;
    this.conns = new ConnectionTable(options.onTableChange);
    this.connById = (id) => this.conns.get(id);
    this.listeners = new ListenerTable({
      ctx: this,
      secrets: this.secrets,
      cookies: this.cookies,
      freeRings: () => this.buffers?.free?.() ?? Infinity,
      newConnection: (opts, la, lp, ra, rp) => {
        const t = this.newTcb(opts, la, lp, ra, rp);
        if (t !== undefined) this.enter(t);
        return t;
      },
      sendStateless: (...a) => this.sendStateless(...a),
      replyRst: (src, dst, seg) => this.replyRst(src, dst, seg),
      abort: (t, now) => this.abortTcb(t, now),
    }, this.conns);
    this.rttOptions = { minRtoMs: c.minRto, maxRtoMs: c.maxRto, initialRtoMs: c.initialRto };
  }

  // =================================================================== input

  /** A TCP segment (the IPv4 payload) from src to dst arrived. */
  onSegment(src: number, dst: number, bytes: Uint8Array, now: number, checksumVerified = false): void {
    this.depth++;
    try {
      const c = this.counters;
      c.segmentsIn++;
      const seg = this.seg;
      // Only the link (or the driver's offload) can vouch for a received checksum, per segment.
      const err = parseTcpInto(bytes, src, dst, seg, !checksumVerified);
      if (err !== null) {
        if (err === 'truncated') c.dropTruncated++;
        else if (err === 'bad-data-offset') c.dropBadDataOffset++;
        else c.dropBadChecksum++;
        return;
      }
      if (seg.srcPort === 0 || seg.dstPort === 0 || src === 0 || src === 0xffffffff || (src >>> 28) === 0xe) {
        c.dropInvalidAddress++;
        return;
      }
      const t = this.conns.lookup(dst, seg.dstPort, src, seg.srcPort);
      if (t !== undefined) {
        this.enter(t);
        if ((t.state === TcpState.TimeWait && this.timeWaitReuse(t, seg)) ||
          (t.state === TcpState.SynReceived && this.listeners.cookieSupersedes(t, src, dst, seg, now))) {
          // Gone without a word; the listener takes the segment below.
          t.state = TcpState.Closed;
          this.connectionClosed(t);
        } else {
          segmentArrives(this, t, seg, now);
          this.releaseTimeWaitRings(t);
          return;
        }
      }
      const l = this.listeners.find(dst, seg.dstPort);
      if (l !== undefined) {
        this.listeners.segment(l, src, dst, seg, now);
        return;
      }
      c.dropNoSocket++;
      this.replyRst(src, dst, seg);
    } finally {
      if (--this.depth === 0 && this.evCount > 0) this.flushEvents();
    }
  }

  /**
   * RFC 9293 §3.10.7.4 note / RFC 6191: a new SYN may reopen a TIME-WAIT
   * connection when its sequence number (or timestamp) is beyond the old ones.
   */
  private timeWaitReuse(t: Tcb, seg: TcpSegment): boolean {
    if ((seg.flags & (TcpFlag.SYN | TcpFlag.ACK | TcpFlag.RST)) !== TcpFlag.SYN) return false;
    if (t.tsEnabled && seg.hasTimestamp) return seqGt(seg.tsVal, t.tsRecent);
    return seqGt(seg.seq, t.rcvNxt);
  }

  /** RFC 9293 §3.10.7.1: segment for no connection: RST unless it is one. */
  private replyRst(src: number, dst: number, seg: TcpSegment): void {
    if ((seg.flags & TcpFlag.RST) !== 0) return;
    if ((seg.flags & TcpFlag.ACK) !== 0) {
      // <SEQ=SEG.ACK><CTL=RST>
      this.sendStateless(dst, src, seg.dstPort, seg.srcPort, seg.ack, 0, TcpFlag.RST, 0);
    } else {
      // <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>
      const len = seg.payloadLen + ((seg.flags & TcpFlag.SYN) !== 0 ? 1 : 0) + ((seg.flags & TcpFlag.FIN) !== 0 ? 1 : 0);
      this.sendStateless(dst, src, seg.dstPort, seg.srcPort, 0, seqAdd(seg.seq, len), TcpFlag.RST | TcpFlag.ACK, 0);
    }
    this.counters.rstsOut++;
  }

  /** Build a segment that belongs to no control block (RST replies, SYN-cookie SYN-ACKs). */
  private sendStateless(
    src: number, dst: number, sport: number, dport: number, seq: number, ack: number, flags: number, window: number,
    mss = -1, wscale = -1, sackOk = false, ts = false, tsVal = 0, tsEcr = 0,
  ): void {
    const h = this.hdr;
    h.srcPort = sport; h.dstPort = dport; h.seq = seq; h.ack = ack; h.flags = flags; h.window = window; h.urgent = 0;
    h.mss = mss; h.windowScale = wscale; h.sackPermitted = sackOk; h.hasTimestamp = ts; h.tsVal = tsVal; h.tsEcr = tsEcr;
    h.sackCount = 0;
    const len = tcpHeaderLenFor(h);
    const buf = this.allocator.alloc(len);
    if (buf === undefined) {
      this.counters.allocFailures++;
      return;
    }
    emitTcpHeader(h, buf);
    if (!this.config.checksumOffload) writeTcpChecksum(buf, src, dst);
    this.counters.segmentsOut++;
    this.transmit(src, dst, buf, 0);
  }

  // =================================================================== context

  /**
   * Events are queued and delivered when the outermost engine call returns, so a
   * callback may call back into the engine (receive, send, close) safely.
   */
  emit(type: TcpEventType, conn: number, code?: TcpErrorCode): void {
    if (this.onEvent === undefined) return;
    const i = this.evCount++;
    this.evType[i] = type;
    this.evConn[i] = conn;
    this.evCode[i] = code;
  }

  private flushEvents(): void {
    const fn = this.onEvent!;
    this.depth++;
    try {
      for (let i = 0; i < this.evCount; i++) {
        const type = this.evType[i]!;
        const conn = this.evConn[i]!;
        if (type !== TcpEventType.Incoming) {
          // Nothing more for a connection the application has let go of.
          const t = this.conns.get(conn);
          if (t === undefined || t.released) continue;
        }
        fn(type, conn, this.evCode[i]);
      }
    } finally {
      this.evCount = 0;
      this.depth--;
    }
  }

  challengeAckAllowed(now: number): boolean {
    if (now - this.challengeWindowStart >= 1000) {
      this.challengeWindowStart = now;
      this.challengeCount = 0;
    }
    return ++this.challengeCount <= this.config.challengeAckLimit;
  }

  passiveEstablished(t: Tcb): void {
    this.listeners.established(t);
  }

  admitTimeWait(t: Tcb): boolean {
    if (t.timeWaitCounted) return true;
    if (this.timeWaits >= this.config.maxTimeWait) {
      this.counters.timeWaitOverflow++;
      return false;
    }
    this.timeWaits++;
    t.timeWaitCounted = true;
    return true;
  }

  connectionClosed(t: Tcb): void {
    if (t.timeWaitCounted) {
      t.timeWaitCounted = false;
      this.timeWaits--;
    }
    t.state = TcpState.Closed;
    t.rtoAt = t.delackAt = t.keepaliveAt = t.closeAt = Infinity;
    this.conns.remove(t);
    this.listeners.closed(t);
    if (t.released) this.free(t);
  }

  timersChanged(t: Tcb): void {
    this.timers.schedule(t);
  }

  outputBlocked(t: Tcb): void {
    if (!t.outputBlocked) {
      t.outputBlocked = true;
      this.blocked.push(t);
    }
  }

  // =================================================================== timers

  /**
   * The earliest time onTimer has work (Infinity: none). Output that found no
   * buffer is retried by onTimer and by retryOutput, which the owner calls when
   * buffers may have come back (see hasBlockedOutput).
   */
  pollAt(): number {
    return this.timers.next(this.connById);
  }

  onTimer(now: number): void {
    this.depth++;
    try {
      this.retryOutput(now);
      this.timers.expire(now, this.connById, (t) => {
        this.enter(t);
        connectionTimer(this, t, now);
      });
    } finally {
      if (--this.depth === 0 && this.evCount > 0) this.flushEvents();
    }
  }

  /**
   * Connections whose output found no buffer and waits for retryOutput (or
   * onTimer). pollAt() does not count them: the owner knows best when buffers
   * come back, and must make sure it calls again soon while this is true.
   */
  hasBlockedOutput(): boolean {
    return this.blocked.length > 0;
  }

  /** Retry output of connections that found no buffer (call when buffers were returned). */
  retryOutput(now: number): void {
    this.depth++;
    try {
      if (this.blocked.length === 0) return;
      const list = this.blocked.splice(0);
      for (const t of list) {
        t.outputBlocked = false;
        if (this.conns.has(t) && t.state !== TcpState.Closed) {
          this.enter(t);
          output(this, t, now);
        }
      }
    } finally {
      if (--this.depth === 0 && this.evCount > 0) this.flushEvents();
    }
  }

  private newTcb(opts: ConnectionOptions, la: number, lp: number, ra: number, rp: number): Tcb | undefined {
    let rings: { send: ByteRing; recv: ByteRing; tag: number } | undefined;
    if (this.buffers !== undefined) {
      rings = this.buffers.acquire(opts.sendBufferSize, opts.recvBufferSize);
      if (rings === undefined) {
        this.counters.dropNoBuffers++;
        return undefined;
      }
    }
    const id = this.conns.nextId();
    // A private copy: setNoDelay / setKeepAlive change one connection only.
    const t = new Tcb(id, { ...opts }, this.rttOptions, this.config.maxOooRanges, la, lp, ra, rp, rings, this.rng);
    t.rack.enabled = this.config.rack;
    t.tsOffset = this.rng.nextU32();
    this.conns.add(t);
    return t;
  }

  /**
   * A TIME-WAIT connection its application has closed moves no more data (RFC 9293
   * §3.10.7.4 ignores segment text there; nothing is left to send), so its rings, and
   * the socket slot they are, go back to the provider now rather than after 2 MSL:
   * Linux too keeps only a small timewait sock. The connection keeps its sequence
   * state for the rest of TIME-WAIT, with empty rings shared by all such connections
   * (of each size) that nothing writes.
   */
  private releaseTimeWaitRings(t: Tcb): void {
    if (t.state !== TcpState.TimeWait || !t.released || t.bufferTag < 0 || !this.conns.has(t)) return;
    this.onTimeWaitReleased?.(t);
    const key = `${t.sendBuf.capacity}/${t.recvBuf.capacity}`;
    let idle = this.idleRings.get(key);
    if (idle === undefined) {
      const ring = (capacity: number): ByteRing => new ByteRing(new ArrayBuffer(ByteRing.bytesNeeded(capacity)), 0, capacity);
      idle = { send: ring(t.sendBuf.capacity), recv: ring(t.recvBuf.capacity) };
      this.idleRings.set(key, idle);
    }
    this.buffers?.release(t.detachRings(idle));
  }

  private free(t: Tcb): void {
    if (!this.conns.free(t)) return;
    if (t.bufferTag >= 0) this.buffers?.release(t.bufferTag);
  }

  /** The buffer provider's tag of a connection's rings (-1 for private rings). */
  bufferTag(conn: number): number {
    return this.conn(conn).bufferTag;
  }

  /** Bytes in the send ring not yet sent once (0: everything queued has gone out). */
  unsentBytes(conn: number): number {
    const t = this.conn(conn);
    return Math.max(0, t.sendBuf.available() - Math.max(0, seqDiff(t.sndNxt, t.sndBufSeq)));
  }

  /**
   * Would new data in the send ring wait for a wake-up from outside? Not while
   * two or more full segments are in flight: the peer must ACK them at once
   * (RFC 5681 §4.2, every second full-sized segment), and that ACK runs output,
   * which reads the ring. With less in flight (a lone short request, one
   * segment), the peer may hold its ACK back for its delayed-ACK time (up to
   * 500 ms, RFC 1122 §4.2.3.2); the data written meanwhile waited for it or for
   * our retransmission timer (issue 11's 200 ms stall), where Linux sends a
   * write's full segments at once. Always with Nagle off (the app wants it sent now).
   */
  wantsKick(conn: number): boolean {
    const t = this.conn(conn);
    return t.opts.noDelay || seqDiff(t.sndMax, t.sndUna) < 2 * t.sndMss;
  }

  /** Nothing sent is waiting for an acknowledgment (SND.MAX == SND.UNA): no ACK is coming. */
  nothingInFlight(conn: number): boolean {
    const t = this.conn(conn);
    return t.sndMax === t.sndUna;
  }

  // =================================================================== checkpoint and restore

  /** Work on t starts: it may change (checkpoint it at the end of the batch) and it is in hand. */
  private enter(t: Tcb): void {
    if (!t.touched) {
      t.touched = true;
      this.touchedList.push(t);
    }
    this.onEnter?.(t.bufferTag);
  }

  /** A connection an application call may change. */
  private changing(id: number): Tcb {
    const t = this.conn(id);
    this.enter(t);
    return t;
  }

  /**
   * The connections touched since the last call that still hold their rings, each
   * once (the owner checkpoints them: src/tcp/checkpoint.ts). Clears the list.
   */
  drainTouched(fn: (t: Tcb) => void): void {
    const list = this.touchedList;
    for (let i = 0; i < list.length; i++) {
      const t = list[i]!;
      t.touched = false;
      if (this.conns.has(t) && t.bufferTag >= 0 && t.state !== TcpState.Closed) fn(t);
    }
    list.length = 0;
  }

  /**
   * A successor resumes a connection its predecessor checkpointed: `fill` sets the
   * control block (src/tcp/checkpoint.ts restoreTcb) on the given rings; the
   * connection joins the demux and the timer heap and sends at once what is due
   * (its SYN or SYN-ACK again, or an ACK and the unacknowledged data from SND.UNA).
   * No event is emitted (the application's socket goes on as it was), except for a
   * passive connection that was established but not yet accepted: it joins its
   * listener's accept queue again with an Incoming event, as when it was established.
   */
  restore(rings: { send: ByteRing; recv: ByteRing; tag: number }, fill: (t: Tcb) => void, now: number): number {
    this.depth++;
    try {
      const t = new Tcb(this.conns.nextId(), { ...this.config.defaults }, this.rttOptions, this.config.maxOooRanges, 0, 0, 0, 0, rings);
      t.rack.enabled = this.config.rack;
      fill(t);
      // A restored TIME-WAIT counts toward the limit (admitted whatever the count: it waits already).
      if (t.state === TcpState.TimeWait) {
        this.timeWaits++;
        t.timeWaitCounted = true;
      }
      this.conns.add(t);
      this.conns.insert(t);
      this.enter(t);
      this.listeners.restored(t);
      if (t.state === TcpState.SynSent || t.state === TcpState.SynReceived) {
        sendSyn(this, t, now);
        t.rtoAt = now + t.rtt.rto;
      } else {
        output(this, t, now);
        if (t.sndUna !== t.sndMax && t.rtoAt === Infinity) t.rtoAt = now + t.rtt.rto;
      }
      this.timersChanged(t);
      return t.id;
    } finally {
      if (--this.depth === 0 && this.evCount > 0) this.flushEvents();
    }
  }

  private conn(id: number): Tcb {
    const t = this.conns.get(id);
    if (t === undefined || t.released) throw new NewtosError('ERR_INVALID_ARG_VALUE', `no connection ${id}`);
    return t;
  }

  // =================================================================== application calls

  /** Active open (RFC 9293 §3.10.1 OPEN, active). Returns the connection id; the SYN goes out now. */
  connect(p: ConnectParams, now: number): number {
    this.depth++;
    try {
      const opts = this.connectionOptions(p.options);
      let port = p.localPort ?? 0;
      if (port === 0) {
        port = this.ephemeralPort(p.localAddr, p.remoteAddr, p.remotePort);
      } else if (this.conns.lookup(p.localAddr, port, p.remoteAddr, p.remotePort) !== undefined) {
        throw new NewtosError('EADDRINUSE', `${port} is in use for this remote address`);
      }
      const t = this.newTcb(opts, p.localAddr, port, p.remoteAddr, p.remotePort);
      if (t === undefined) throw new NewtosError('ENOBUFS', 'no buffer memory for a new connection');
      this.enter(t);
      t.accepted = true;
      this.counters.activeOpens++;
      t.iss = this.secrets.isn(p.localAddr, port, p.remoteAddr, p.remotePort, now);
      t.sndUna = t.iss;
      t.sndNxt = t.sndMax = seqAdd(t.iss, 1);
      t.sndBufSeq = t.sndNxt;
      t.recover = t.iss;
      t.rcvWndScale = opts.windowScaling ? windowScaleFor(opts.recvBufferSize) : 0;
      t.state = TcpState.SynSent;
      this.conns.insert(t);
      t.rttTime = now;
      sendSyn(this, t, now);
      t.rtoAt = now + t.rtt.rto;
      this.timersChanged(t);
      return t.id;
    } finally {
      if (--this.depth === 0 && this.evCount > 0) this.flushEvents();
    }
  }

  /**
   * RFC 6056 Algorithm 4 (ephemeral-ports.ts), filtered by tuples in use and the owner's
   * portFilter. With a filter (a stack replica takes only ports whose replies its RSS entry
   * steers back to it) each search starts at a random point: Algorithm 4's successive ports,
   * thinned by the filter, came in runs that a server with replicas of its own (a different
   * Toeplitz input, linear in the port bits) steered onto few of its queues.
   */
  private ephemeralPort(la: number, ra: number, rp: number): number {
    const skip = this.portFilter === undefined ? 0 : this.rng.nextU32() % this.ports.size;
    const port = this.ports.allocate(la, ra, rp, (p) =>
      this.conns.lookup(la, p, ra, rp) === undefined && this.listeners.onPort(p) === undefined
      && (this.portFilter === undefined || this.portFilter(la, p, ra, rp)), skip);
    if (port === undefined) throw new NewtosError('EADDRNOTAVAIL', 'no ephemeral port free for this destination');
    return port;
  }

  private connectionOptions(o: Partial<ConnectionOptions> | undefined): ConnectionOptions {
    return o === undefined ? this.config.defaults : { ...this.config.defaults, ...o };
  }

  /** Passive open. Returns the listener id. */
  listen(p: ListenParams): number {
    return this.listeners.add(p, this.connectionOptions(p.options));
  }

  /** The listeners, as `listen` would re-create them (id included). */
  listenerParams(): ListenerParams[] {
    return this.listeners.params();
  }

  /** The next established connection of a listener, or -1 when none is ready. */
  accept(listenerId: number): number {
    const t = this.listeners.accept(listenerId);
    if (t === undefined) return -1;
    this.enter(t);
    return t.id;
  }

  /** Stop listening; connections not yet accepted are reset. */
  closeListener(listenerId: number, now: number): void {
    this.depth++;
    try {
      this.listeners.close(listenerId, now);
    } finally {
      if (--this.depth === 0 && this.evCount > 0) this.flushEvents();
    }
  }

  /**
   * Queue bytes for sending. Returns how many were accepted (less than
   * data.length when the send buffer is full: a Writable event follows when
   * space frees). Throws EPIPE after shutdown/close or when the connection is gone.
   */
  send(conn: number, data: Uint8Array, now: number): number {
    this.depth++;
    try {
      const t = this.changing(conn);
      const s = t.state;
      if (t.finQueued || !(s === TcpState.Established || s === TcpState.CloseWait || s === TcpState.SynSent || s === TcpState.SynReceived)) {
        throw new NewtosError('EPIPE', 'This socket has been ended by the other party or shut down');
      }
      const n = t.sendBuf.write(data);
      if (n < data.length) t.wantWritable = true;
      if (n > 0) output(this, t, now);
      return n;
    } finally {
      if (--this.depth === 0 && this.evCount > 0) this.flushEvents();
    }
  }

  /** Free space in the send buffer. */
  sendSpace(conn: number): number {
    return this.conn(conn).sendBuf.freeSpace();
  }

  /**
   * The application appended `n` bytes to the send ring itself (shared-memory
   * fast path: sendBuffer(conn).write(...)). Sends what may go now.
   */
  sendQueued(conn: number, now: number): void {
    this.depth++;
    try {
      const t = this.changing(conn);
      if (!t.finQueued) output(this, t, now);
    } finally {
      if (--this.depth === 0 && this.evCount > 0) this.flushEvents();
    }
  }

  /** Ask for a Writable event when acknowledged data frees send-buffer space (fast-socket writers). */
  notifyWritable(conn: number): void {
    this.conn(conn).wantWritable = true;
  }

  /** The socket buffers (for zero-copy use by the socket layer). */
  sendBuffer(conn: number): Tcb['sendBuf'] {
    return this.conn(conn).sendBuf;
  }

  recvBuffer(conn: number): Tcb['recvBuf'] {
    return this.conn(conn).recvBuf;
  }

  /** Bytes ready to read. */
  readable(conn: number): number {
    return this.conn(conn).recvBuf.available();
  }

  /** Whether the peer's FIN has been received (after all data before it). */
  ended(conn: number): boolean {
    return this.conn(conn).endReported;
  }

  /** Copy received bytes into dst and consume them. Returns the count (0: nothing now; see ended()). */
  receive(conn: number, dst: Uint8Array, now: number): number {
    this.depth++;
    try {
      const t = this.changing(conn);
      const n = t.recvBuf.read(dst);
      if (n > 0) this.consumed(t, now);
      return n;
    } finally {
      if (--this.depth === 0 && this.evCount > 0) this.flushEvents();
    }
  }

  /** The application consumed bytes from recvBuffer(conn) itself: maybe open the window. */
  received(conn: number, now: number): void {
    this.depth++;
    try {
      this.consumed(this.conn(conn), now);
    } finally {
      if (--this.depth === 0 && this.evCount > 0) this.flushEvents();
    }
  }

  /**
   * Could the application's reading alone make a window update due (received())? Only
   * while the window we advertised is at most half of what the buffer could offer:
   * beyond that, no read passes the test below (the socket layer need not look).
   */
  windowUpdateOnRead(conn: number): boolean {
    const t = this.conn(conn);
    const s = t.state;
    if (s !== TcpState.Established && s !== TcpState.FinWait1 && s !== TcpState.FinWait2) return false;
    const cur = Math.max(0, seqDiff(t.rcvAdv, t.rcvNxt));
    return 2 * cur <= Math.min(t.recvBuf.capacity, 65535 * 2 ** t.rcvWndScale);
  }

  private consumed(t: Tcb, now: number): void {
    const s = t.state;
    if (s !== TcpState.Established && s !== TcpState.FinWait1 && s !== TcpState.FinWait2) return;
    // Window update (Linux tcp_cleanup_rbuf): when the advertised window has shrunk to
    // half the buffer or less and reading lets it at least double, say so now.
    const cap = t.recvBuf.capacity;
    const cur = Math.max(0, seqDiff(t.rcvAdv, t.rcvNxt));
    const maxWnd = Math.min(t.recvBuf.freeSpace(), 65535 * 2 ** t.rcvWndScale);
    if (2 * cur <= maxWnd && maxWnd - cur >= Math.min(t.advMss, cap >>> 1)) {
      this.enter(t);
      t.ackNow = true;
      output(this, t, now);
    }
  }

  /** Half-close (RFC 9293 CLOSE on the sending side): FIN after the queued data. */
  shutdown(conn: number, now: number): void {
    this.depth++;
    try {
      this.shutdownTcb(this.changing(conn), now);
    } finally {
      if (--this.depth === 0 && this.evCount > 0) this.flushEvents();
    }
  }

  private shutdownTcb(t: Tcb, now: number): void {
    if (t.finQueued) return;
    switch (t.state) {
      case TcpState.SynSent:
        // "Delete the TCB and return 'error: closing' responses to any queued SENDs".
        t.state = TcpState.Closed;
        this.emit(TcpEventType.Closed, t.id);
        this.connectionClosed(t);
        return;
      case TcpState.SynReceived:
        break; // FIN-WAIT-1 once established (input.ts)
      case TcpState.Established:
        t.state = TcpState.FinWait1;
        break;
      case TcpState.CloseWait:
        t.state = TcpState.LastAck;
        break;
      default:
        return;
    }
    t.finQueued = true;
    t.finSeq = seqAdd(t.sndBufSeq, t.sendBuf.available());
    output(this, t, now);
  }

  /**
   * Full close: shutdown, and release the id. Unread received data makes it an
   * abort (RST), as Linux does (RFC 2525 §2.17).
   */
  close(conn: number, now: number): void {
    this.depth++;
    try {
      const t = this.changing(conn);
      if (t.state === TcpState.Closed) {
        t.released = true;
        this.free(t);
        return;
      }
      if (t.recvBuf.available() > 0 && t.state !== TcpState.TimeWait) {
        this.abortTcb(t, now);
        return;
      }
      t.released = true;
      this.shutdownTcb(t, now);
      if (t.state === TcpState.FinWait2 && t.closeAt === Infinity) {
        t.closeAt = now + 2 * this.config.msl;
        this.timersChanged(t);
      }
      this.releaseTimeWaitRings(t);
    } finally {
      if (--this.depth === 0 && this.evCount > 0) this.flushEvents();
    }
  }

  /** RFC 9293 ABORT: RST to the peer when synchronized, connection gone, id released. */
  abort(conn: number, now: number): void {
    this.depth++;
    try {
      this.abortTcb(this.changing(conn), now);
    } finally {
      if (--this.depth === 0 && this.evCount > 0) this.flushEvents();
    }
  }

  private abortTcb(t: Tcb, now: number): void {
    const s = t.state;
    if (s === TcpState.SynReceived || s === TcpState.Established || s === TcpState.FinWait1
        || s === TcpState.FinWait2 || s === TcpState.CloseWait) {
      // <SEQ=SND.NXT><CTL=RST>, SND.NXT being the highest sent (acceptableSeq); with ACK set,
      // as Linux sends it (tcp_send_active_reset).
      this.counters.rstsOut++;
      sendSegment(this, t, TcpFlag.RST | TcpFlag.ACK, acceptableSeq(t), 0, now);
    }
    t.released = true;
    this.connectionClosed(t);
  }

  setNoDelay(conn: number, noDelay: boolean, now: number): void {
    this.depth++;
    try {
      const t = this.changing(conn);
      (t.opts as { noDelay: boolean }).noDelay = noDelay;
      output(this, t, now);
    } finally {
      if (--this.depth === 0 && this.evCount > 0) this.flushEvents();
    }
  }

  /** Enable (idle > 0, ms) or disable (0) keepalive probes. */
  setKeepAlive(conn: number, idleMs: number, now: number): void {
    this.depth++;
    try {
      const t = this.changing(conn);
      (t.opts as { keepAliveIdle: number }).keepAliveIdle = idleMs;
      armKeepalive(t, now);
      this.timersChanged(t);
    } finally {
      if (--this.depth === 0 && this.evCount > 0) this.flushEvents();
    }
  }

  /** ICMP error for one of our segments (RFC 1122 §4.2.3.9, RFC 5927, RFC 1191). */
  onIcmpError(e: TcpIcmpError, now: number): void {
    this.depth++;
    try {
      const t = this.conns.lookup(e.localAddr, e.localPort, e.remoteAddr, e.remotePort);
      if (t === undefined) return;
      this.enter(t);
      // RFC 5927 §4.1: only for a sequence number we have in flight.
      if (!(seqLe(t.sndUna, e.seq) && seqLt(e.seq, t.sndMax)) && !(t.state === TcpState.SynSent && e.seq === t.iss)) return;
      this.counters.icmpErrors++;
      switch (e.kind) {
        case 'port-unreachable':
        case 'protocol-unreachable':
          // Hard errors abort only a connection being opened (Linux; RFC 1122 makes them "hard").
          if (t.state === TcpState.SynSent) connectionError(this, t, 'ECONNREFUSED');
          return;
        case 'host-unreachable':
        case 'net-unreachable':
          // Soft errors (RFC 1122 §4.2.3.9): only fatal while connecting.
          if (t.state === TcpState.SynSent) connectionError(this, t, 'EHOSTUNREACH');
          return;
        case 'frag-needed': {
          const mtu = e.mtu ?? 0;
          if (mtu < 68) return;
          const mss = Math.max(88, mtu - 40 - (t.tsEnabled ? TS_OPTION_LEN : 0));
          // Nothing smaller to send: a segment of ours was too big although SND.MSS fits the MTU
          // (a bug of ours: output.ts cuts every segment by the options it carries), or a
          // stale or forged report. Counted, so a loop of such reports shows.
          if (mss >= t.sndMss) { this.counters.pmtuIgnored++; return; }
          this.counters.pmtuUpdates++;
          t.sndMss = mss;
          t.cc.setMss(mss);
          t.scoreboard.setMss(mss);
          // RFC 1191 §6.5: resend the segments that were too big, now smaller.
          if (t.sndNxt !== t.sndUna) {
            t.sndNxt = t.sndUna;
            output(this, t, now);
          }
          return;
        }
        default:
          return;
      }
    } finally {
      if (--this.depth === 0 && this.evCount > 0) this.flushEvents();
    }
  }

  /** Snapshot of one connection (tests, statistics, getsockopt-like calls). */
  info(conn: number): ConnectionInfo {
    const t = this.conns.get(conn);
    if (t === undefined) throw new NewtosError('ERR_INVALID_ARG_VALUE', `no connection ${conn}`);
    return {
      state: stateName(t.state),
      localAddr: t.localAddr,
      localPort: t.localPort,
      remoteAddr: t.remoteAddr,
      remotePort: t.remotePort,
      sndMss: t.sndMss,
      sndWndScale: t.sndWndScale,
      rcvWndScale: t.rcvWndScale,
      timestamps: t.tsEnabled,
      sack: t.sackEnabled,
      srtt: t.rtt.srtt ?? 0,
      rto: t.rtt.rto,
      cwnd: t.cc.cwnd,
      ssthresh: t.cc.ssthresh,
      sndWnd: t.sndWnd,
      bytesInFlight: seqDiff(t.sndMax, t.sndUna),
      recvQueued: t.recvBuf.available(),
      sendQueued: t.sendBuf.available(),
      congestion: t.cc.name,
      reordering: t.reordering,
      rackReoWndMult: t.rack.reoWndMult,
    };
  }

  /** Raw sequence state of a connection, for debugging logs. */
  debugSeq(conn: number): Record<string, number | boolean> {
    const t = this.conns.get(conn);
    if (t === undefined) return {};
    return { sndUna: t.sndUna >>> 0, sndNxt: t.sndNxt >>> 0, sndMax: t.sndMax >>> 0, sndWnd: t.sndWnd, sndWl1: t.sndWl1 >>> 0, sndWl2: t.sndWl2 >>> 0,
      rcvNxt: t.rcvNxt >>> 0, rcvAdv: t.rcvAdv >>> 0, lastAckSent: t.lastAckSent >>> 0, tsRecent: t.tsRecent >>> 0, sndBufSeq: t.sndBufSeq >>> 0,
      recvFree: t.recvBuf.freeSpace?.() ?? -1, inRecovery: t.inRecovery, retries: t.retries };
  }

  /** Connections by state and the smoothed RTT summary, for statistics (one pass over the control blocks). */
  gauges(): TcpGauges {
    return tcpGauges(this.conns.all(), this.listeners.count());
  }

  /** Number of live control blocks (including TIME-WAIT), for tests and statistics. */
  connectionCount(): number {
    return this.conns.count();
  }
}
