/**
 * Passive open (gVisor accept.go): the listeners of an engine, each with its SYN
 * queue (half-open connections, bounded by synQueueSize), its accept queue
 * (established, bounded by the backlog), and SYN cookies when the SYN queue is
 * full (or always, as configured). The engine hands a segment for no connection to
 * the listener on its port (segment), and tells it when one of its connections is
 * established (established) or closed (closed); the rest is decided here.
 *
 * Read first: RFC 9293 §3.10.7.2 (segment arrives in LISTEN), RFC 4987 §3.6
 * (SYN cookies), RFC 7323 §2.2/§3.2 (which options a SYN-ACK may carry).
 */
import { NewtosError } from '../errors.js';
import { TcpFlag, type TcpSegment } from '../wire/tcp.js';
import { TcpEventType, type ConnectionOptions } from './config.js';
import type { EngineContext } from './context.js';
import type { ConnectionTable } from './demux.js';
import { segmentArrives } from './input.js';
import { DEFAULT_MSS, MAX_WSCALE, TS_OPTION_LEN, negotiateOptions, windowScaleFor } from './options.js';
import { sendSyn } from './output.js';
import type { TcpSecrets } from './secrets.js';
import { seqAdd, seqLe, seqLt } from './seqnum.js';
import { SYN_COOKIE_PERIOD_MS, decodeCookieTimestamp, encodeCookieTimestamp, type SynCookies } from './syn-cookies.js';
import { TcpState } from './state.js';
import type { Tcb } from './tcb.js';

export class Listener {
  readonly id: number;
  readonly addr: number;
  readonly port: number;
  readonly backlog: number;
  readonly opts: ConnectionOptions;
  /** Established connections waiting for accept(), oldest first. */
  readonly acceptQueue: number[] = [];
  /** Half-open (SYN-RECEIVED) connections created from this listener. */
  synCount = 0;
  /** When this listener last answered with a SYN cookie (ms; cookie ACKs are accepted for a while after). */
  lastOverflow = -Infinity;

  constructor(id: number, addr: number, port: number, backlog: number, opts: ConnectionOptions) {
    this.id = id;
    this.addr = addr;
    this.port = port;
    this.backlog = backlog;
    this.opts = opts;
  }
}

/** What a listener's passive opens need from the engine that owns it. */
export interface ListenHost {
  /** The engine (its config, counters and allocator; the context of segmentArrives and sendSyn). */
  readonly ctx: EngineContext;
  readonly secrets: TcpSecrets;
  readonly cookies: SynCookies;
  /** Rings free for new connections now (ConnectionBufferProvider.free); Infinity when unknown. */
  freeRings(): number;
  /** A new connection with its id and rings, in hand, not yet in the demux; undefined when no rings could be had. */
  newConnection(opts: ConnectionOptions, la: number, lp: number, ra: number, rp: number): Tcb | undefined;
  /** A segment that belongs to no control block (RST replies, cookie SYN-ACKs). */
  sendStateless(
    src: number, dst: number, sport: number, dport: number, seq: number, ack: number, flags: number, window: number,
    mss?: number, wscale?: number, sackOk?: boolean, ts?: boolean, tsVal?: number, tsEcr?: number,
  ): void;
  /** RFC 9293 §3.10.7.1: RST for a segment that has no connection. */
  replyRst(src: number, dst: number, seg: TcpSegment): void;
  /** ABORT the connection (RST when synchronized, gone). */
  abort(t: Tcb, now: number): void;
}

export interface ListenerParams { id: number; addr: number; port: number; backlog: number }

/** What became of the ACK completing a SYN-cookie handshake (acceptCookie). */
const enum CookieAck { Accepted, Dropped, Invalid }

/** An engine's listeners: by id (small integers, reused) and by local port. */
export class ListenerTable {
  private readonly byId: (Listener | undefined)[] = [];
  private readonly freeIds: number[] = [];
  private readonly byPort = new Map<number, Listener[]>();

  constructor(private readonly host: ListenHost, private readonly conns: ConnectionTable) {}

  get(id: number): Listener | undefined {
    return this.byId[id];
  }

  /** The listener for a segment to addr:port: one on that address, else one on any address (0). */
  find(addr: number, port: number): Listener | undefined {
    const list = this.byPort.get(port);
    if (list === undefined) return undefined;
    let any: Listener | undefined;
    for (const l of list) {
      if (l.addr === addr) return l;
      if (l.addr === 0) any = l;
    }
    return any;
  }

  /** Some listener on this port, whatever its address (ephemeral ports avoid them). */
  onPort(port: number): Listener | undefined {
    const list = this.byPort.get(port);
    return list !== undefined && list.length > 0 ? list[0] : undefined;
  }

  /** A new listener (with the given id when `p.id` is set: it must be free). Returns its id. */
  add(p: { addr: number; port: number; backlog?: number; id?: number }, opts: ConnectionOptions): number {
    const list = this.byPort.get(p.port) ?? [];
    for (const l of list) {
      if (l.addr === p.addr || l.addr === 0 || p.addr === 0) throw new NewtosError('EADDRINUSE', `port ${p.port} is already listening`);
    }
    let id: number;
    if (p.id !== undefined) {
      if (!Number.isInteger(p.id) || p.id < 0 || this.byId[p.id] !== undefined) throw new NewtosError('ERR_INVALID_ARG_VALUE', `listener id ${p.id} is taken`);
      id = p.id;
      for (let k = this.byId.length; k < id; k++) { this.byId[k] = undefined; this.freeIds.push(k); }
      const at = this.freeIds.indexOf(id);
      if (at >= 0) this.freeIds.splice(at, 1);
    } else {
      id = this.freeIds.length > 0 ? this.freeIds.pop()! : this.byId.length;
    }
    const l = new Listener(id, p.addr, p.port, p.backlog ?? 128, opts);
    this.byId[id] = l;
    list.push(l);
    this.byPort.set(p.port, list);
    return id;
  }

  /** Stop listening; its connections not yet accepted (established or half-open) are aborted. */
  close(id: number, now: number): void {
    const l = this.byId[id];
    if (l === undefined) return;
    this.byId[id] = undefined;
    this.freeIds.push(id);
    const list = this.byPort.get(l.port)!;
    list.splice(list.indexOf(l), 1);
    if (list.length === 0) this.byPort.delete(l.port);
    for (const c of l.acceptQueue.splice(0)) {
      const t = this.conns.get(c);
      if (t !== undefined) this.host.abort(t, now);
    }
    for (const t of this.conns.all()) {
      if (t !== undefined && t.listenerId === id && t.inSynQueue) this.host.abort(t, now);
    }
  }

  /** The listeners, as `add` would re-create them (id included). */
  params(): ListenerParams[] {
    const out: ListenerParams[] = [];
    for (const l of this.byId) if (l !== undefined) out.push({ id: l.id, addr: l.addr, port: l.port, backlog: l.backlog });
    return out;
  }

  count(): number {
    let n = 0;
    for (const l of this.byId) if (l !== undefined) n++;
    return n;
  }

  /** The next established connection of a listener (now the application's), or undefined when none is ready. */
  accept(id: number): Tcb | undefined {
    const l = this.byId[id];
    if (l === undefined) throw new NewtosError('ERR_INVALID_ARG_VALUE', `no listener ${id}`);
    const c = l.acceptQueue.shift();
    if (c === undefined) return undefined;
    const t = this.conns.get(c)!;
    t.accepted = true;
    return t;
  }

  /** RFC 9293 §3.10.7.2 "If the state is LISTEN": a segment for no connection, to listener l. */
  segment(l: Listener, src: number, dst: number, seg: TcpSegment, now: number): void {
    const h = this.host;
    const cfg = h.ctx.config;
    const counters = h.ctx.counters;
    const f = seg.flags;
    if ((f & TcpFlag.RST) !== 0) return; // "An incoming RST segment could not be valid ... ignored"
    if ((f & TcpFlag.ACK) !== 0) {
      // Maybe the third segment of a SYN-cookie handshake; otherwise <SEQ=SEG.ACK><CTL=RST>.
      if ((f & TcpFlag.SYN) === 0 && cfg.synCookies !== 'never') {
        const r = this.acceptCookie(l, src, dst, seg, now);
        // A genuine cookie with no room to accept it: dropped without a word, so the
        // peer's retransmission (or its data) tries again later (Linux
        // tcp_v4_syn_recv_sock: ListenOverflows, discard; an RST would kill it).
        if (r !== CookieAck.Invalid) return;
      }
      counters.dropListenNonSyn++;
      h.replyRst(src, dst, seg);
      return;
    }
    if ((f & TcpFlag.SYN) === 0) {
      counters.dropListenNonSyn++;
      return;
    }
    if (l.acceptQueue.length >= l.backlog) {
      // Linux drops SYNs while the accept queue is full; the peer retries.
      counters.dropSynQueueFull++;
      return;
    }
    if (h.ctx.allocator.lowOnBuffers?.() === true) {
      counters.dropSynNoBuffers++;
      return;
    }
    // Half-open connections hold sockets (their rings): at most as many as stay free, so a
    // flood leaves half of the free sockets to everything else (SYN cookies answer the rest).
    const queueFull = l.synCount >= cfg.synQueueSize;
    const noRoom = !queueFull && l.synCount >= h.freeRings();
    if (cfg.synCookies === 'always' || ((queueFull || noRoom) && cfg.synCookies === 'auto')) {
      this.sendCookieSynAck(l, src, dst, seg, now);
      return;
    }
    if (queueFull) {
      counters.dropSynQueueFull++;
      return;
    }
    if (noRoom) {
      counters.dropSynNoBuffers++;
      return;
    }
    const t = h.newConnection(l.opts, dst, seg.dstPort, src, seg.srcPort);
    if (t === undefined) return;
    t.listenerId = l.id;
    t.inSynQueue = true;
    l.synCount++;
    counters.passiveOpens++;
    t.irs = seg.seq;
    t.rcvNxt = seqAdd(seg.seq, 1);
    t.lastAckSent = t.rcvNxt;
    negotiateOptions(t, seg);
    t.tsRecentAge = now;
    t.iss = h.secrets.isn(dst, seg.dstPort, src, seg.srcPort, now);
    t.sndUna = t.iss;
    t.sndNxt = t.sndMax = seqAdd(t.iss, 1);
    t.sndBufSeq = t.sndNxt;
    t.state = TcpState.SynReceived;
    this.conns.insert(t);
    t.rttTime = now;
    sendSyn(h.ctx, t, now);
    t.rtoAt = now + t.rtt.rto;
    h.ctx.timersChanged(t);
  }

  /**
   * SYN cookie SYN-ACK (RFC 4987 §3.6, syn-cookies.ts: Linux's layout): no
   * state is kept; the ISS encodes the MSS, and with timestamps our TSval's low
   * bits carry the peer's window scale and SACK-permitted.
   */
  private sendCookieSynAck(l: Listener, src: number, dst: number, seg: TcpSegment, now: number): void {
    const h = this.host;
    const o = l.opts;
    const peerMss = seg.mss >= 0 ? seg.mss : DEFAULT_MSS;
    const iss = h.cookies.encode(dst, seg.dstPort, src, seg.srcPort, seg.seq, Math.min(peerMss, o.mss), now);
    const ts = seg.hasTimestamp && o.timestamps;
    const wsOk = ts && seg.windowScale >= 0 && o.windowScaling;
    const sackOk = ts && seg.sackPermitted && o.sack;
    let tsVal = 0;
    if (ts) {
      const base = (Math.floor(now) + h.secrets.hash(dst, seg.dstPort, src, seg.srcPort, 0x75, 0)) >>> 0;
      tsVal = encodeCookieTimestamp(base, { wscale: wsOk ? seg.windowScale : undefined, sackPermitted: sackOk });
    }
    l.lastOverflow = now;
    h.ctx.counters.synCookiesSent++;
    h.sendStateless(
      dst, src, seg.dstPort, seg.srcPort, iss, seqAdd(seg.seq, 1), TcpFlag.SYN | TcpFlag.ACK,
      Math.min(65535, o.recvBufferSize), o.mss, wsOk ? windowScaleFor(o.recvBufferSize) : -1, sackOk, ts, tsVal, seg.tsVal,
    );
  }

  /**
   * A segment for connection t, still SYN-RECEIVED, that ACKs something else: is it the
   * ACK of a cookie SYN-ACK we sent for the same SYN? It is when t was made from that SYN
   * sent again (the SYN queue was full the first time, had room the second: two SYN-ACKs
   * with different ISSs) and the peer completed the handshake it saw first. Then t must
   * give way (the caller closes it silently) and the cookie path takes the ACK: answered
   * with RST as an unacceptable ACK, a connection that did nothing wrong was reset (1000
   * connects at once on a loaded machine reset over 100 of them). Linux has the same window
   * between a cookie and a later request sock; its SYN timer rarely fires before the first
   * SYN-ACK is read, ours did under load.
   */
  cookieSupersedes(t: Tcb, src: number, dst: number, seg: TcpSegment, now: number): boolean {
    const h = this.host;
    const f = seg.flags;
    if (t.listenerId < 0 || t.state !== TcpState.SynReceived || (f & (TcpFlag.ACK | TcpFlag.SYN | TcpFlag.RST)) !== TcpFlag.ACK) return false;
    if (seqLt(t.sndUna, seg.ack) && seqLe(seg.ack, t.sndMax)) return false; // its own ACK
    const l = this.byId[t.listenerId];
    const cfg = h.ctx.config;
    if (l === undefined || cfg.synCookies === 'never' || !this.cookiesRecent(l, now)) return false;
    if (h.cookies.validate(dst, seg.dstPort, src, seg.srcPort, seg.seq, seg.ack, now) === undefined) return false;
    h.ctx.counters.synCookiesOverSynReceived++;
    return true;
  }

  /** Cookie ACKs are taken only shortly after l sent cookies (Linux tcp_synq_no_recent_overflow). */
  private cookiesRecent(l: Listener, now: number): boolean {
    return this.host.ctx.config.synCookies === 'always' || now - l.lastOverflow < 2 * SYN_COOKIE_PERIOD_MS;
  }

  /**
   * The ACK of a SYN-cookie handshake: a connection when the cookie is good and
   * the accept queue has room (Accepted), a silent drop when it is good but the
   * queue is full or no control block can be had (Dropped), else Invalid (the
   * caller answers with RST).
   */
  private acceptCookie(l: Listener, src: number, dst: number, seg: TcpSegment, now: number): CookieAck {
    const h = this.host;
    const counters = h.ctx.counters;
    if (!this.cookiesRecent(l, now)) return CookieAck.Invalid;
    const cookieMss = h.cookies.validate(dst, seg.dstPort, src, seg.srcPort, seg.seq, seg.ack, now);
    if (cookieMss === undefined) {
      counters.dropBadCookie++;
      return CookieAck.Invalid;
    }
    if (l.acceptQueue.length >= l.backlog) {
      counters.dropCookieAcceptQueueFull++;
      return CookieAck.Dropped;
    }
    const iss = seqAdd(seg.ack, -1);
    const peerIsn = seqAdd(seg.seq, -1);
    const t = h.newConnection(l.opts, dst, seg.dstPort, src, seg.srcPort);
    if (t === undefined) return CookieAck.Dropped;
    counters.synCookiesAccepted++;
    counters.passiveOpens++;
    t.listenerId = l.id;
    t.irs = peerIsn;
    t.rcvNxt = seg.seq;
    t.lastAckSent = t.rcvNxt;
    // The window our cookie SYN-ACK advertised (unscaled, RFC 7323 §2.2).
    t.rcvAdv = seqAdd(t.rcvNxt, Math.min(65535, l.opts.recvBufferSize));
    t.iss = iss;
    t.sndUna = t.iss;
    t.sndNxt = t.sndMax = seqAdd(iss, 1);
    t.sndBufSeq = t.sndNxt;
    const o = l.opts;
    t.tsEnabled = seg.hasTimestamp && o.timestamps && seg.tsEcr !== 0;
    let mss = cookieMss;
    if (t.tsEnabled) {
      const c = decodeCookieTimestamp(seg.tsEcr);
      t.sackEnabled = c.sackPermitted && o.sack;
      if (c.wscale !== undefined && o.windowScaling) {
        // The bits hold the PEER's shift; ours follows from our buffer, as in the SYN-ACK.
        t.offeredWscale = true;
        t.sndWndScale = Math.min(c.wscale, MAX_WSCALE);
        t.rcvWndScale = windowScaleFor(o.recvBufferSize);
      }
      t.tsRecent = seg.tsVal;
      t.tsRecentAge = now;
      t.tsOffset = (seg.tsEcr + 64 - Math.floor(now)) >>> 0;
      mss -= TS_OPTION_LEN;
    }
    t.sndMss = Math.max(64, Math.min(mss, o.mss - (t.tsEnabled ? TS_OPTION_LEN : 0)));
    t.state = TcpState.SynReceived;
    this.conns.insert(t);
    segmentArrives(h.ctx, t, seg, now);
    return CookieAck.Accepted;
  }

  /** A passive connection reached ESTABLISHED: from its listener's SYN queue to its accept queue. */
  established(t: Tcb): void {
    const l = this.byId[t.listenerId];
    if (t.inSynQueue) {
      t.inSynQueue = false;
      if (l !== undefined) l.synCount--;
    }
    if (l === undefined) {
      // The listener went away meanwhile: reset the connection.
      this.host.abort(t, 0);
      return;
    }
    l.acceptQueue.push(t.id);
    this.host.ctx.emit(TcpEventType.Incoming, l.id);
  }

  /**
   * A connection reached CLOSED: it leaves its listener's queues. One never accepted
   * is released (no application will close it).
   */
  closed(t: Tcb): void {
    if (t.listenerId < 0) return;
    const l = this.byId[t.listenerId];
    if (t.inSynQueue) {
      t.inSynQueue = false;
      if (l !== undefined) l.synCount--;
    }
    if (!t.accepted) {
      if (l !== undefined) {
        const i = l.acceptQueue.indexOf(t.id);
        if (i >= 0) l.acceptQueue.splice(i, 1);
      }
      t.released = true;
    }
  }

  /**
   * A restored connection (engine.restore) takes its place in its listener's queues
   * again: half-open in the SYN queue; established but never accepted (nor handed to
   * the application) in the accept queue, with an Incoming event, as when it was
   * established.
   */
  restored(t: Tcb): void {
    const l = t.listenerId >= 0 ? this.byId[t.listenerId] : undefined;
    if (t.inSynQueue) {
      if (l !== undefined) l.synCount++;
      else t.inSynQueue = false;
    }
    if (l !== undefined && !t.accepted && !t.inSynQueue && t.state !== TcpState.SynReceived) {
      l.acceptQueue.push(t.id);
      this.host.ctx.emit(TcpEventType.Incoming, l.id);
    }
  }
}
