/**
 * The IP server: IpCore (ARP, ICMP, routing, fragments) wired to its channels.
 *
 * Buffers. Frames from the driver and segments from TCP/UDP arrive by rich
 * pointer and are processed in place: the core prepends the IPv4 and Ethernet
 * headers into the transport's headroom and the same buffer goes on to the
 * driver; a received frame's payload goes on to TCP/UDP as a pointer into the
 * driver's buffer. Nothing is copied on those paths. Packets the core builds
 * itself (ARP, ICMP, RST, fragments, reassembled datagrams) live in private
 * memory and are copied once into one of this server's pools to travel: `ipsmall`
 * (frame-sized buffers, many) when they fit, else `ip` (segment-sized, few).
 *
 * A buffer the core keeps past the message that brought it (waiting for a
 * filter verdict or for ARP) is *held*; it is transferred when the core emits
 * it, given back when the core reports the send failed, and given back by a
 * sweep after HELD_MAX_MS otherwise (the core does not report every internal
 * drop, e.g. ARP queue overflow or a fragmented original).
 *
 * The packet filter: with `filter: true` every packet in and out waits for a
 * VERDICT from the PF server; IP holds the packet, PF only reads it. After a PF
 * restart every pending request is asked again (onPeerRestart).
 *
 * Echo requests for the application (`stack.ping`): ECHO_REQUEST on the app's
 * channel; EchoClient builds the request and matches replies, ICMP errors
 * quoting it and local send failures, answered with ECHO_RESULT. An echo
 * request to one of our own addresses comes back from the core's loopback as a
 * delivered ICMP message; this server answers it as the core answers requests
 * from the wire.
 */
import { randomInt, webcrypto } from 'node:crypto';
import { cryptoRng } from '../random/rng.js';
import type { InChannel } from '../substrate/channel.js';
import { Outbox } from '../substrate/outbox.js';
import { DebugEvery } from '../substrate/debug-log.js';
import { MessageView, type RichPointer } from '../substrate/message.js';
import { MSG_WORDS } from '../substrate/layout.js';
import type { PacketPool } from '../substrate/pool.js';
import type { ServerContext, ServerCore } from '../substrate/server.js';
import { DRIVER_MSG, Direction, IP_MSG, PF_MSG, RxFlag, TCP_MSG, TxFlag, UDP_MSG, Verdict as VerdictCode } from '../abi/protocol.js';
import type { Verdict } from '../abi/verdict.js';
import { emitIcmp, icmpLen, parseIcmp } from '../wire/icmp.js';
import { IpProtocol } from '../wire/ipv4.js';
import { IpCore } from './ip-core.js';
import { SEND_HEADROOM } from '../abi/transport.js';
import type { IpConfig, IpOutput } from './ip-types.js';
import { EchoClient, type EchoResult } from './echo-client.js';
import { ECHO_SEND_ERRORS, EchoStatus } from '../abi/echo.js';
import { CounterPublisher } from '../abi/published-counters.js';
import {
  EchoRequest, EchoResult as EchoResultMsg, FrameRx, FrameTx, IcmpError, SegDeliver, SendIcmpError, TcpSegSend, VerdictReply, VerdictRequest,
  type AnyMessageKind, type ValuesOf,
} from '../abi/message-args.js';

export type IpServerOptions = Partial<IpConfig> & Pick<IpConfig, 'interfaces'> & {
  /** Where to publish the core's and server's counters (src/abi/published-counters.ts). */
  readonly counters?: SharedArrayBuffer;
  /** The stack replica this IP serves (default 0): replicas after the first do not answer ARP (ArpConfig.answerRequests). */
  readonly replica?: number;
};

const HELD_MAX_MS = 5_000;
const CONFIG_KEY = 'config';
/** Stop taking new packets this close to the core's verdict bound (IpConfig.maxPendingVerdicts, 1024). */
const VERDICTS_HIGH_WATER = 1024 - 64;

interface Held {
  ptr: RichPointer;
  since: number;
  /** For a transport's datagram waiting in the core (ARP): who sent it, to report a failure. */
  origin?: { src: number; dst: number; protocol: number };
}

interface Outgoing<K extends AnyMessageKind = AnyMessageKind> { channel: string; ptr: RichPointer | null; kind: K; values: ValuesOf<K> }

export function createServer(ctx: ServerContext): ServerCore {
  const stored = ctx.store.get(CONFIG_KEY) as IpServerOptions | undefined;
  const given = stored ?? (ctx.options as unknown as IpServerOptions);
  if (stored === undefined) ctx.store.set(CONFIG_KEY, given);
  const config: IpServerOptions = (given.replica ?? 0) === 0 ? given : { ...given, arp: { ...given.arp, answerRequests: false } };
  let now = ctx.now();
  const core = new IpCore(config, { rng: cryptoRng((a) => webcrypto.getRandomValues(a)) }, now);
  const pool: PacketPool | undefined = ctx.pools['ip'];
  if (pool === undefined) throw new Error('ip server needs pool "ip"');
  /** Frame-sized buffers for the small packets IP builds (ICMP, RSTs, ARP-delayed frames); optional. */
  const small: PacketPool | undefined = ctx.pools['ipsmall'];
  const ownPools = small === undefined ? [pool] : [small, pool];
  /** Give a buffer of one of our pools back to its free list. */
  const freeOwn = (p: RichPointer): boolean => {
    const own = ownPools.find((x) => x.id === p.pool);
    if (own === undefined) return false;
    own.free(own.indexOf(p.offset));
    return true;
  };
  /** True when `p` is down to its last quarter (after taking back what borrowers returned). */
  const low = (p: PacketPool): boolean => p.available < p.count / 4 && (p.sweep(), p.available < p.count / 4);
  const fromDriver = ctx.inputs['driver'];
  const fromPf = ctx.inputs['pf'];
  const fromApp = ctx.inputs['app'];
  /** The application's channel is blocked until pool buffers come back. */
  let appBlocked = false;
  /** Echo requests of the application; a fresh ICMP identifier per incarnation. */
  const echo = new EchoClient(randomInt(0x10000));
  const filterOn = config.filter === true && ctx.outputs['pf'] !== undefined;

  /** Buffers the core still references, by pool id << 24 | buffer index. */
  const held = new Map<number, Held>();
  /** Verdict request id → key of the held buffer to give back when its verdict is done (releaseAfterVerdict). */
  const verdictBuffers = new Map<number, number>();
  /** Outputs that did not fit in their channel; flushed first on each poll. */
  const backlog = new Outbox<Outgoing>((o) => tryPost(o));
  const scratch = new MessageView(new Int32Array(MSG_WORDS));
  const debug = new DebugEvery();
  const counterBlock = (ctx.options as IpServerOptions).counters;
  const published = counterBlock === undefined ? null : new CounterPublisher(counterBlock);
  const counters = {
    privateCopies: 0, heldSwept: 0, staleInputs: 0, backlogged: 0, unknownMessages: 0, badIcmpRequests: 0,
    /** ECHO_RESULTs dropped because the application's ring was full (it times the request out). */
    echoResultsDropped: 0, loopbackEchoReplies: 0,
    /** Held buffers given back as soon as their verdict was done (rather than by the sweep). */
    releasedAfterVerdict: 0,
    /** Packets dropped because no `ip` pool buffer was free to show them to PF (counted by the core as filtered too). */
    verdictNoBuffer: 0,
    /** Verdict requests asked again after a PF restart (those PF had taken and not answered). */
    verdictsReasked: 0,
    /** Frames dropped because no `ip` pool buffer was free to copy them into. */
    txNoBuffer: 0,
  };

  const key = (p: RichPointer): number => {
    const pg = ctx.buffers.geometry(p.pool);
    return pg === undefined ? -1 : p.pool * 0x1000000 + pg.indexOf(p.offset);
  };

  const withScratch = (p: RichPointer): MessageView => scratch.setPointer(p.pool, p.poolGen, p.offset, p.length);

  const post = <K extends AnyMessageKind>(o: Outgoing<K>): void => {
    if (!backlog.send(o)) counters.backlogged++;
  };

  const tryPost = <K extends AnyMessageKind>(o: Outgoing<K>): boolean => {
    const out = ctx.outputs[o.channel];
    if (out === undefined) return true; // no such peer in this host: drop
    const m = out.reserve();
    if (m === null) return false;
    o.kind.write(m, o.values);
    if (o.ptr === null) m.setPointer(0xffff, 0, 0, 0);
    else m.setPointer(o.ptr.pool, o.ptr.poolGen, o.ptr.offset, o.ptr.length);
    out.commit();
    return true;
  };

  /** A pointer for bytes the core produced: in place when they lie in a pool, else one copy into ours. */
  const pointerFor = (bytes: Uint8Array): { ptr: RichPointer; inPlace: boolean } | null => {
    const p = ctx.buffers.pointerOf(bytes);
    if (p !== null) return { ptr: p, inPlace: true };
    for (const own of ownPools) {
      if (bytes.length > own.payloadCapacity) continue;
      const i = own.alloc();
      if (i < 0) continue;
      const off = own.payloadOffset(i);
      own.bytes.set(bytes, off);
      counters.privateCopies++;
      return { ptr: { pool: own.id, poolGen: own.generation, offset: off, length: bytes.length }, inPlace: false };
    }
    return null;
  };

  /** The buffer a pointer names is leaving with a message: if we held it, say so to the pool. */
  const departing = (p: RichPointer): void => {
    const k = key(p);
    if (held.delete(k)) ctx.buffers.transfer(withScratch(p));
  };

  const transportChannel = (protocol: number): string | undefined => (protocol === 6 ? 'tcp' : protocol === 17 ? 'udp' : undefined);

  /**
   * A local datagram could not be sent (ARP failed, no route, larger than the path MTU
   * with DF): tell its transport as the ICMP_ERROR it would get from a router (host or
   * net unreachable, RFC 1122 §3.2.2.1; fragmentation needed with the MTU, RFC 1191 §4),
   * quoting the transport header's first 8 bytes (ports and TCP sequence number), so a
   * connecting socket fails with EHOSTUNREACH and TCP sends smaller segments.
   */
  const reportSendError = (code: string, origin: NonNullable<Held['origin']>, segment: Uint8Array, mtu: number): void => {
    const tooBig = code === 'EMSGSIZE' && mtu >= 68 && origin.protocol === IpProtocol.TCP;
    if (code !== 'EHOSTUNREACH' && code !== 'ENETUNREACH' && !tooBig) return;
    const ch = transportChannel(origin.protocol);
    if (ch === undefined || ctx.outputs[ch] === undefined || segment.length < 8) return;
    const quoted = segment.slice(0, 8);
    const ports = ((quoted[0]! << 24) | (quoted[1]! << 16) | (quoted[2]! << 8) | quoted[3]!) >>> 0;
    const loc = pointerFor(quoted);
    if (loc === null) return;
    post({
      channel: ch, ptr: loc.ptr, kind: IcmpError, values: {
        typeCode: (3 << 8) | (tooBig ? 4 : code === 'EHOSTUNREACH' ? 1 : 0), mtu: tooBig ? mtu : 0, quotedSrc: origin.src, quotedDst: origin.dst, ports, protocol: origin.protocol,
      },
    });
  };

  const ifIndexOf = (name: string): number => Math.max(0, config.interfaces.findIndex((i) => i.name === name));

  /** Emit the core's outputs. Returns the keys of pool buffers that left in a message. */
  const handle = (outs: IpOutput[]): Set<number> => {
    const left = new Set<number>();
    for (const o of outs) {
      switch (o.type) {
        case 'frame': {
          const loc = pointerFor(o.frame);
          if (loc === null) { counters.txNoBuffer++; break; }
          if (loc.inPlace) { departing(loc.ptr); left.add(key(loc.ptr)); }
          const partial = o.checksumPartial === true ? TxFlag.ChecksumPartial : 0;
          post({ channel: 'driver', ptr: loc.ptr, kind: FrameTx, values: (o.gsoMss ?? 0) > 0 ? { iface: o.ifIndex, txFlags: TxFlag.Gso | partial, gsoMss: o.gsoMss! } : { iface: o.ifIndex, txFlags: partial, gsoMss: 0 } });
          break;
        }
        case 'deliver': {
          if (o.protocol === IpProtocol.ICMP) { icmpDelivered(o); break; }
          const ch = transportChannel(o.protocol);
          if (ch === undefined) break;
          // The IPv4 header travels just before the pointer (a5), so UDP can quote the
          // whole datagram in a port unreachable (SEND_ICMP_ERROR) without a copy.
          const hlen = o.datagram.buffer === o.payload.buffer ? o.payload.byteOffset - o.datagram.byteOffset : 0;
          const withHeader = hlen >= 20 && hlen <= 60;
          const loc = pointerFor(withHeader ? o.datagram.subarray(0, hlen + o.payload.length) : o.payload);
          if (loc === null) break;
          if (loc.inPlace) { departing(loc.ptr); left.add(key(loc.ptr)); }
          const ptr = withHeader ? { ...loc.ptr, offset: loc.ptr.offset + hlen, length: loc.ptr.length - hlen } : loc.ptr;
          post({ channel: ch, ptr, kind: SegDeliver, values: { src: o.src, dst: o.dst, iface: o.ifIndex, flags: o.checksumVerified === true ? 1 : 0, ttl: o.ttl, ipHeaderLen: withHeader ? hlen : 0 } });
          break;
        }
        case 'icmp-error': {
          if (o.protocol === IpProtocol.ICMP) {
            const r = echo.onIcmpError(o.reporter, o.origDst, o.icmpType, o.icmpCode, o.quoted);
            if (r !== null) echoResult(r);
            break;
          }
          const ch = transportChannel(o.protocol);
          if (ch === undefined) break;
          const q = o.quoted;
          const ports = q.length >= 4 ? ((q[0]! << 24) | (q[1]! << 16) | (q[2]! << 8) | q[3]!) >>> 0 : 0;
          const loc = q.length > 0 ? pointerFor(q.slice()) : null; // always a private copy: small
          post({
            channel: ch, ptr: loc?.ptr ?? null, kind: IcmpError,
            values: { typeCode: (o.icmpType << 8) | o.icmpCode, mtu: o.nextHopMtu, quotedSrc: o.origSrc, quotedDst: o.origDst, ports, protocol: o.protocol },
          });
          break;
        }
        case 'verdict-request': {
          // PF reads the packet where it lies and never holds it; a private packet gets a copy in our pool.
          const loc = pointerFor(o.packet);
          if (loc === null) { counters.verdictNoBuffer++; handle(core.onVerdict(o.id, { action: 'drop' }, now)); break; }
          if (!loc.inPlace) held.set(key(loc.ptr), { ptr: loc.ptr, since: now });
          // Buffers that are done once the verdict is: our copy for PF, or a received frame.
          if (!loc.inPlace || o.direction === 'in') verdictBuffers.set(o.id, key(loc.ptr));
          post({
            channel: 'pf', ptr: loc.ptr, kind: VerdictRequest,
            values: { request: o.id, direction: o.direction === 'in' ? Direction.In : Direction.Out, iface: ifIndexOf(o.ifName) },
          });
          break;
        }
        case 'send-error': {
          if (EchoClient.isEchoToken(o.token)) {
            const r = echo.onSendError(o.token, o.code);
            if (r !== null) echoResult(r);
            break;
          }
          const h = held.get(o.token);
          if (h !== undefined) {
            held.delete(o.token);
            const m = withScratch(h.ptr);
            const bytes = h.origin !== undefined ? ctx.buffers.view(m) : null;
            if (bytes !== null) reportSendError(o.code, h.origin!, bytes, o.nextHopMtu);
            ctx.buffers.giveBack(m);
          }
          break;
        }
      }
    }
    return left;
  };

  /** Tell the application how an echo request ended; never queued behind frames (it times out instead). */
  const echoResult = (r: EchoResult): void => {
    const detail = r.status === EchoStatus.IcmpError ? r.icmp
      : r.status === EchoStatus.SendFailed ? ECHO_SEND_ERRORS.indexOf(r.error ?? 'ENOBUFS')
        : Math.min(0xffffffff, Math.round(r.rttMs * 1000));
    if (!tryPost({ channel: 'app', ptr: null, kind: EchoResultMsg, values: { request: r.id, status: r.status, detail, from: r.from, ttl: r.ttl, dataBytes: r.bytes } })) {
      counters.echoResultsDropped++;
    }
  };

  /** ICMP the core delivered: echo replies for us, or an echo request we sent to ourselves. */
  const icmpDelivered = (o: Extract<IpOutput, { type: 'deliver' }>): void => {
    const m = parseIcmp(o.payload);
    if (!m.ok) return;
    const ic = m.value;
    if (ic.kind === 'echo-reply') {
      const r = echo.onReply(o.src, ic.ident, ic.seq, ic.data, o.ttl, now);
      if (r !== null) echoResult(r);
    } else if (ic.kind === 'echo-request') {
      // Only loopback delivers a request (the core answers the wire's): answer as
      // it would (RFC 1122 §3.2.2.6), back to ourselves.
      const reply = { kind: 'echo-reply' as const, ident: ic.ident, seq: ic.seq, data: ic.data };
      const buf = new Uint8Array(SEND_HEADROOM + icmpLen(reply));
      emitIcmp(reply, buf, SEND_HEADROOM);
      counters.loopbackEchoReplies++;
      handle(core.send({ protocol: IpProtocol.ICMP, src: o.dst, dst: o.src, payload: buf.subarray(SEND_HEADROOM), headroom: SEND_HEADROOM }, now));
    }
  };

  /** app → ip: send an echo request. */
  const echoRequest = (msg: MessageView): void => {
    const dst = msg.arg(EchoRequest.dst);
    const r = echo.request(msg.arg(EchoRequest.request), dst, msg.arg(EchoRequest.dataBytes), now, msg.arg(EchoRequest.forgetAfterMs), SEND_HEADROOM);
    if (!r.ok) { echoResult(r.result); return; }
    const ttl = msg.arg(EchoRequest.ttl);
    handle(core.send({
      protocol: IpProtocol.ICMP, src: 0, dst, payload: r.message, headroom: SEND_HEADROOM, token: r.token,
      ...(ttl > 0 && ttl < 256 ? { ttl } : {}),
    }, now));
  };

  /**
   * The core answered verdict `id`: give back the buffer PF read for it, unless it
   * left with a message or an output still points into it (a forwarded frame's
   * verdict out). The private copy made for PF is never what the core emits (it
   * emits its own bytes), and after an inbound verdict the core has delivered,
   * answered (copying what it keeps) or dropped the packet: nothing else refers
   * to those buffers, and holding them until the sweep starved the pools (a
   * ping burst lost every reply once 256 copies waited in the `ip` pool).
   */
  const releaseAfterVerdict = (id: number, outs: IpOutput[], left: Set<number>): void => {
    const k = verdictBuffers.get(id);
    if (k === undefined) return;
    verdictBuffers.delete(id);
    const h = held.get(k);
    if (h === undefined || left.has(k)) return;
    const refers = (bytes: Uint8Array): boolean => {
      const p = ctx.buffers.pointerOf(bytes);
      return p !== null && key(p) === k;
    };
    for (const o of outs) {
      // (A transport's delivery in place left with its message; ICMP was handled at once.)
      if ((o.type === 'verdict-request' && refers(o.packet)) || (o.type === 'frame' && refers(o.frame))) return;
    }
    held.delete(k);
    counters.releasedAfterVerdict++;
    if (!freeOwn(h.ptr)) ctx.buffers.giveBack(withScratch(h.ptr));
  };

  /** After the core saw a pooled buffer: it left, it is still referenced (hold it), or it is done (give it back). */
  const settle = (msg: MessageView, left: Set<number>, maybeRetained: boolean): void => {
    const p: RichPointer = { pool: msg.pool, poolGen: msg.poolGen, offset: msg.offset, length: msg.length };
    const k = key(p);
    if (left.has(k)) return;
    if (maybeRetained) {
      if (ctx.buffers.hold(msg)) held.set(k, { ptr: p, since: now });
    } else {
      ctx.buffers.giveBack(msg);
    }
  };

  const fromFrame = (msg: MessageView): void => {
    const frame = ctx.buffers.view(msg);
    if (frame === null) { counters.staleInputs++; return; }
    const outs = core.onFrame(msg.arg(FrameRx.iface), frame, now, (msg.arg(FrameRx.rxFlags) & RxFlag.ChecksumVerified) !== 0, msg.arg(FrameRx.gsoSize));
    const retained = outs.some((o) => o.type === 'verdict-request' && o.packet.buffer === frame.buffer &&
      o.packet.byteOffset >= frame.byteOffset && o.packet.byteOffset < frame.byteOffset + frame.length);
    settle(msg, handle(outs), retained);
  };

  /** TCP's SEG_SEND or UDP's DGRAM_SEND: their src, dst and txFlags words are the same (test/abi/message-args.test.ts). */
  const fromTransport = (msg: MessageView, protocol: number): void => {
    const payload = ctx.buffers.view(msg);
    if (payload === null) { counters.staleInputs++; return; }
    const k = key({ pool: msg.pool, poolGen: msg.poolGen, offset: msg.offset, length: msg.length });
    const outs = core.send({
      protocol, src: msg.arg(TcpSegSend.src), dst: msg.arg(TcpSegSend.dst), payload, headroom: ctx.buffers.headroom(msg), token: k,
      ...((msg.arg(TcpSegSend.txFlags) & TxFlag.Gso) !== 0 && protocol === 6 ? { gsoMss: msg.arg(TcpSegSend.gsoMss) } : {}),
      ...((msg.arg(TcpSegSend.txFlags) & TxFlag.ChecksumPartial) !== 0 && protocol === 6 ? { checksumPartial: true } : {}),
      ...((msg.arg(TcpSegSend.txFlags) & TxFlag.DontFragment) !== 0 ? { dontFragment: true } : {}),
    }, now);
    const left = handle(outs);
    const failure = outs.find((o) => o.type === 'send-error' && o.token === k);
    const origin = { src: msg.arg(TcpSegSend.src), dst: msg.arg(TcpSegSend.dst), protocol };
    // Failed at once (no route): report it now; a held datagram's later failure is reported by handle().
    if (failure !== undefined && failure.type === 'send-error') reportSendError(failure.code, origin, payload, failure.nextHopMtu);
    // Not sent and not failed: the core keeps it (verdict pending, ARP queue) or copied it
    // (fragments); the sweep returns what it never emits.
    settle(msg, left, failure === undefined);
    const h = failure === undefined ? held.get(k) : undefined;
    if (h !== undefined) h.origin = origin;
  };

  /** A transport asks for an ICMP error about a datagram it was delivered (UDP: port unreachable). */
  const icmpErrorRequest = (msg: MessageView): void => {
    const datagram = msg.hasBuffer ? ctx.buffers.view(msg) : null;
    const type = msg.arg(SendIcmpError.typeCode) >>> 8;
    if (datagram === null || (type !== 3 && type !== 12)) counters.badIcmpRequests++;
    else handle(core.sendIcmpError(datagram, type === 3 ? 'dest-unreachable' : 'parameter-problem', msg.arg(SendIcmpError.typeCode) & 0xff, now));
    // The core copied what it quotes: the buffer goes back to its owner (the driver's rx pool).
    if (msg.hasBuffer) ctx.buffers.giveBack(msg);
  };

  const verdictOf = (code: number): Verdict => {
    switch (code) {
      case VerdictCode.Accept: return { action: 'allow' };
      case VerdictCode.RejectRst: return { action: 'reject', icmpCode: 3 };
      case VerdictCode.RejectIcmp: return { action: 'reject', icmpCode: 13 };
      default: return { action: 'drop' };
    }
  };

  const sweep = (): void => {
    for (const [k, h] of held) {
      if (now - h.since > HELD_MAX_MS) {
        held.delete(k);
        counters.heldSwept++;
        if (!freeOwn(h.ptr)) ctx.buffers.giveBack(withScratch(h.ptr));
      }
    }
    // Verdicts that never came (timed out in the core) for buffers the sweep took.
    for (const [id, k] of verdictBuffers) if (!held.has(k)) verdictBuffers.delete(id);
  };

  // Say who we are on every link (gratuitous ARP, RFC 5227 §3 announcement).
  handle(core.announce(now));

  return {
    onMessage(msg: MessageView, from: InChannel, t: number): boolean {
      now = t;
      // Verdicts are always taken: each ends a pending request. Refusing them while our
      // backlog to PF is long could deadlock (PF blocked on its output to us, we on PF's input).
      if (from === fromPf) {
        if (msg.type === PF_MSG.VERDICT) {
          const outs = core.onVerdict(msg.arg(VerdictReply.request), verdictOf(msg.arg(VerdictReply.verdict)), now);
          releaseAfterVerdict(msg.arg(VerdictReply.request), outs, handle(outs));
        }
        return true;
      }
      // New packets wait in their rings (back-pressure to the driver and the transports) while
      // the backlog is long or the verdict table nears its bound, instead of being dropped
      // below the transports as 'verdict-queue-full'.
      if (backlog.length > 256 || core.pendingVerdicts >= VERDICTS_HIGH_WATER) return false;
      if (from === fromDriver) {
        if (msg.type === DRIVER_MSG.FRAME_RX) fromFrame(msg);
        else if (msg.hasBuffer) ctx.buffers.giveBack(msg);
        return true;
      }
      if (from === fromApp) {
        // An echo request costs up to two of our buffers until it leaves (PF's copy, then the
        // frame's): leave the last quarter of the pool it needs to the wire's traffic, and let
        // the application's ring hold the rest of a burst (back-pressure; pollAt retries).
        const needs = small !== undefined && msg.arg(EchoRequest.dataBytes) + 8 + 20 + 18 <= small.payloadCapacity ? small : pool;
        if (msg.type === IP_MSG.ECHO_REQUEST && low(needs)) {
          appBlocked = true;
          return false;
        }
        appBlocked = false;
        if (msg.type === IP_MSG.ECHO_REQUEST) echoRequest(msg);
        else counters.unknownMessages++;
        return true;
      }
      if (msg.type === TCP_MSG.SEG_SEND) fromTransport(msg, 6);
      else if (msg.type === UDP_MSG.DGRAM_SEND) fromTransport(msg, 17);
      else if (msg.type === IP_MSG.SEND_ICMP_ERROR) icmpErrorRequest(msg);
      else { counters.unknownMessages++; if (msg.hasBuffer) ctx.buffers.giveBack(msg); }
      return true;
    },
    poll(t: number): void {
      now = t;
      if (debug.due(now)) {
        const c = core.counters;
        const nz = (r: Record<string, number>): Record<string, number> => Object.fromEntries(Object.entries(r).filter(([, v]) => v !== 0));
        ctx.log('ip-debug', {
          ...counters, echo: { ...echo.counters, pending: echo.pending }, held: held.size, backlog: backlog.length, rxFrames: c.rxFrames, rxPackets: c.rxPackets, delivered: c.delivered,
          txPackets: c.txPackets, txFrames: c.txFrames, drops: nz(c.drops), txDrops: nz(c.txDrops), frameDrops: nz(c.frameDrops),
          verdictRequests: c.verdictRequests, verdictUnknown: c.verdictUnknown,
        });
      }
      backlog.retry();
      if (core.pollAt() <= now) handle(core.onTimer(now));
      if (held.size > 0) sweep();
      if (echo.pending > 0 && echo.pollAt() <= now) echo.expire(now);
      published?.maybePublish(now, () => ({ ...core.counters, server: { ...counters, held: held.size, backlog: backlog.length, poolAvailable: pool.available, smallPoolAvailable: small?.available ?? 0, appBlocked: appBlocked ? 1 : 0 }, echo: { ...echo.counters } }));
    },
    pollAt(): number {
      if (backlog.length > 0 || appBlocked) return now + 1;
      return Math.min(core.pollAt(), held.size > 0 ? now + HELD_MAX_MS : Infinity, echo.pending > 0 ? echo.pollAt() : Infinity,
        published?.pollAt() ?? Infinity);
    },
    onPeerRestart(peer: string, _generation: number, t: number): void {
      // MINIX ndev style: the filter lost our questions; ask them all again.
      // Not those still in the ring to PF or in our backlog (its successor reads them: same
      // ring), nor those whose verdict already waits for us: asked twice, PF's successor
      // would work through every request twice right when the gap is to be short.
      if (peer === 'pf' && filterOn) {
        const inFlight = new Set<number>();
        ctx.outputs['pf']?.forEachQueued?.((m) => { if (m.type === IP_MSG.VERDICT_REQUEST) inFlight.add(m.arg(VerdictRequest.request)); });
        backlog.forEach((o) => { if (o.channel === 'pf' && o.kind === VerdictRequest) inFlight.add(o.values['request']!); });
        fromPf?.forEachQueued?.((m) => { if (m.type === PF_MSG.VERDICT) inFlight.add(m.arg(VerdictReply.request)); });
        let asked = 0;
        for (const r of core.pendingVerdictRequests()) if (!inFlight.has(r.id)) { handle([r]); asked++; }
        counters.verdictsReasked += asked;
      }
      // The driver's links may be new devices (a TAP created again): learn the neighbours again.
      if (peer === 'driver') handle(core.linksReset(t));
    },
  };
}
