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
 * Ownership is explicit. Every pool buffer handed to the core (a received
 * frame, a transport's datagram, a datagram to quote in an ICMP error) goes with
 * a token (tokenOf), and the core says, exactly once, what became of it: a frame
 * or delivery carrying the token (the buffer leaves in that message, transferred
 * if we held it past its own), or a `released` output with a reason (given back
 * to its owner at once). A call whose outputs name neither kept the buffer (a
 * filter verdict, ARP): it moves to `held` past its message until a later output
 * names it. The core keeps buffers
 * only in bounded, timed queues, so nothing here sweeps or guesses: `held`
 * empties when traffic stops. Private packets PF must read are copied into our
 * pool, and that copy is freed once the verdict is answered or timed out.
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
import { CounterPublisher, type CounterTree } from '../abi/published-counters.js';
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

const CONFIG_KEY = 'config';
/** Stop taking new packets this close to the core's verdict bound (IpConfig.maxPendingVerdicts, 1024). */
const VERDICTS_HIGH_WATER = 1024 - 64;

/** A buffer the core kept past the message that brought it (ctx.buffers.hold): transferred when it leaves. */
interface Held {
  ptr: RichPointer;
  /** For a transport's datagram: who sent it, to report a failure. */
  origin?: { src: number; dst: number; protocol: number };
}

interface Outgoing<K extends AnyMessageKind = AnyMessageKind> { channel: string; ptr: RichPointer | null; kind: K; values: ValuesOf<K> }

/** The server's own counters (beside the core's IpCounters), published under `server` with its gauges. */
export function newIpServerCounters() {
  return {
    privateCopies: 0, staleInputs: 0, backlogged: 0, unknownMessages: 0, badIcmpRequests: 0,
    /** ECHO_RESULTs dropped because the application's ring was full (it times the request out). */
    echoResultsDropped: 0, loopbackEchoReplies: 0,
    /** Packets dropped because no `ip` pool buffer was free to show them to PF (counted by the core as filtered too). */
    verdictNoBuffer: 0,
    /** Verdict requests asked again after a PF restart (those PF had taken and not answered). */
    verdictsReasked: 0,
    /** Frames dropped because no `ip` pool buffer was free to copy them into. */
    txNoBuffer: 0,
  };
}
export type IpServerCounters = ReturnType<typeof newIpServerCounters>;

/** What the server publishes under `server` beside its counters: its state now. */
export interface IpServerGauges {
  /** Callers' buffers the core keeps past their message (ARP queue, filter verdict). */
  held: number;
  /** Our copies of private packets PF is reading. */
  verdictCopies: number;
  /** Outputs waiting for room in their channel. */
  backlog: number;
  /** Free buffers of the `ip` pool and of the `ipsmall` pool (0 without it). */
  poolAvailable: number;
  smallPoolAvailable: number;
  /** 1 while the application's channel is not read for want of pool buffers. */
  appBlocked: number;
}

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

  /** Buffers the core kept past their message, by token, until it sends or releases them. */
  const held = new Map<number, Held>();
  /** Our copies of private packets for PF to read, by verdict request id. */
  const verdictCopies = new Map<number, RichPointer>();
  /** Outputs that did not fit in their channel; flushed first on each poll. */
  const backlog = new Outbox<Outgoing>((o) => tryPost(o));
  const scratch = new MessageView(new Int32Array(MSG_WORDS));
  const debug = new DebugEvery();
  const counterBlock = (ctx.options as IpServerOptions).counters;
  const published = counterBlock === undefined ? null : new CounterPublisher(counterBlock);
  /** What the counter block shows (published-counters.ts). */
  const readCounters = (): CounterTree => {
    const gauges: IpServerGauges = {
      held: held.size, verdictCopies: verdictCopies.size, backlog: backlog.length, poolAvailable: pool.available, smallPoolAvailable: small?.available ?? 0, appBlocked: appBlocked ? 1 : 0,
    };
    return { ...core.counters, server: { ...counters, ...gauges }, echo: { ...echo.counters } };
  };
  const counters = newIpServerCounters();

  /**
   * A buffer's token: pool generation, pool id and buffer index, so a buffer of a restarted
   * owner's pool is not taken for the old one the core may still keep.
   */
  const tokenOf = (pool: number, poolGen: number, index: number): number => ((poolGen & 0xffff) * 0x100 + (pool & 0xff)) * 0x1000000 + index;

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

  /**
   * The buffer of the message in hand, lent to the core for this one call. Most buffers are
   * sent on or released within the call: they never enter `held` (no map entry, no record per
   * packet); one the core keeps past the call moves there (keepIfKept).
   */
  const inHand = { live: false, token: -1, msg: null as MessageView | null, origin: undefined as Held['origin'] };

  /** The message's buffer goes to the core under its token; the origin of a transport's datagram goes with it. */
  const lend = (msg: MessageView, origin?: Held['origin']): number => {
    const pg = ctx.buffers.geometry(msg.pool);
    const k = pg === undefined ? -1 : tokenOf(msg.pool, msg.poolGen, pg.indexOf(msg.offset));
    inHand.live = true; inHand.token = k; inHand.msg = msg; inHand.origin = origin;
    return k;
  };

  /** After the core's call: a buffer it neither sent nor released is kept past its message. */
  const keepIfKept = (msg: MessageView, k: number): void => {
    if (!inHand.live || inHand.token !== k) return;
    inHand.live = false; inHand.msg = null;
    const ptr: RichPointer = { pool: msg.pool, poolGen: msg.poolGen, offset: msg.offset, length: msg.length };
    held.set(k, inHand.origin === undefined ? { ptr } : { ptr, origin: inHand.origin });
    ctx.buffers.hold(msg);
  };

  /**
   * The core is done with the buffer of `token`: it leaves in a message now (`inMessage`;
   * one we kept past its own is transferred before the message is published), or not
   * (back to its owner). Tokens we never lent (echo requests, private memory) are ignored.
   */
  const settle = (token: number | undefined, inMessage: boolean): void => {
    if (token === undefined) return;
    if (inHand.live && inHand.token === token) {
      inHand.live = false;
      if (!inMessage) ctx.buffers.giveBack(inHand.msg!);
      inHand.msg = null;
      return;
    }
    const h = held.get(token);
    if (h === undefined) return;
    held.delete(token);
    if (inMessage) ctx.buffers.transfer(withScratch(h.ptr));
    else ctx.buffers.giveBack(withScratch(h.ptr));
  };

  /** Where a lent buffer lies and who sent it, while the core has not settled it (send-error reports). */
  const lentBuffer = (token: number): { view: Uint8Array | null; origin: Held['origin'] } | undefined => {
    if (inHand.live && inHand.token === token) return { view: ctx.buffers.view(inHand.msg!), origin: inHand.origin };
    const h = held.get(token);
    return h === undefined ? undefined : { view: ctx.buffers.view(withScratch(h.ptr)), origin: h.origin };
  };

  const transportChannel = (protocol: number): string | undefined => (protocol === 6 ? 'tcp' : protocol === 17 ? 'udp' : undefined);

  /**
   * A local datagram could not be sent (ARP failed, no route, larger than the path MTU
   * with DF): tell its transport as the ICMP_ERROR it would get from a router (host or
   * net unreachable, RFC 1122 §3.2.2.1; fragmentation needed with the MTU, RFC 1191 §4),
   * quoting the transport header's first 8 bytes (ports and TCP sequence number), so a
   * connecting socket fails with EHOSTUNREACH and TCP sends smaller segments.
   */
  const reportSendError = (code: string, origin: Readonly<NonNullable<Held['origin']>>, segment: Uint8Array, mtu: number): void => {
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

  /** Emit the core's outputs. */
  const handle = (outs: IpOutput[]): void => {
    for (const o of outs) {
      switch (o.type) {
        case 'frame': {
          const loc = pointerFor(o.frame);
          settle(o.token, loc !== null && loc.inPlace);
          if (loc === null) { counters.txNoBuffer++; break; }
          const partial = o.checksumPartial === true ? TxFlag.ChecksumPartial : 0;
          post({ channel: 'driver', ptr: loc.ptr, kind: FrameTx, values: (o.gsoMss ?? 0) > 0 ? { iface: o.ifIndex, txFlags: TxFlag.Gso | partial, gsoMss: o.gsoMss! } : { iface: o.ifIndex, txFlags: partial, gsoMss: 0 } });
          break;
        }
        case 'deliver': {
          // ICMP is read here and its buffer given back.
          if (o.protocol === IpProtocol.ICMP) { icmpDelivered(o); settle(o.token, false); break; }
          const ch = transportChannel(o.protocol);
          if (ch === undefined) { settle(o.token, false); break; }
          // The IPv4 header travels just before the pointer (a5), so UDP can quote the
          // whole datagram in a port unreachable (SEND_ICMP_ERROR) without a copy.
          const hlen = o.datagram.buffer === o.payload.buffer ? o.payload.byteOffset - o.datagram.byteOffset : 0;
          const withHeader = hlen >= 20 && hlen <= 60;
          const loc = pointerFor(withHeader ? o.datagram.subarray(0, hlen + o.payload.length) : o.payload);
          settle(o.token, loc !== null && loc.inPlace);
          if (loc === null) break;
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
          // PF reads the packet where it lies (a buffer the core keeps until the verdict) and never
          // holds it; a private packet gets a copy in our pool (one, however often it is asked).
          const copy = verdictCopies.get(o.id);
          const loc = copy !== undefined ? { ptr: copy, inPlace: false } : pointerFor(o.packet);
          if (loc === null) { counters.verdictNoBuffer++; handle(core.onVerdict(o.id, { action: 'drop' }, now)); break; }
          if (!loc.inPlace) verdictCopies.set(o.id, loc.ptr);
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
          // The buffer is still ours to read: the core releases it after this.
          const lent = lentBuffer(o.token);
          const bytes = lent?.origin !== undefined ? lent.view : null;
          if (bytes !== null) reportSendError(o.code, lent!.origin!, bytes, o.nextHopMtu);
          else if (o.datagram !== undefined) sendErrorAboutCopy(o.code, o.datagram, o.nextHopMtu);
          break;
        }
        case 'released':
          settle(o.token, false);
          break;
      }
    }
  };

  /** A send-error about a datagram the core had copied (its sender's buffer given back): quote the copy. */
  const sendErrorAboutCopy = (code: string, datagram: Uint8Array, mtu: number): void => {
    const hlen = (datagram[0]! & 0x0f) << 2;
    if (datagram.length < hlen + 8) return;
    const v = new DataView(datagram.buffer, datagram.byteOffset, hlen);
    reportSendError(code, { src: v.getUint32(12), dst: v.getUint32(16), protocol: datagram[9]! }, datagram.subarray(hlen), mtu);
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

  /** The verdict `id` is done (answered or timed out in the core): our copy of its packet for PF goes back to our pool. */
  const verdictDone = (id: number): void => {
    const copy = verdictCopies.get(id);
    if (copy === undefined) return;
    verdictCopies.delete(id);
    freeOwn(copy);
  };

  const fromFrame = (msg: MessageView): void => {
    const frame = ctx.buffers.view(msg);
    if (frame === null) { counters.staleInputs++; return; }
    const k = lend(msg);
    handle(core.onFrame(msg.arg(FrameRx.iface), frame, now, (msg.arg(FrameRx.rxFlags) & RxFlag.ChecksumVerified) !== 0, msg.arg(FrameRx.gsoSize), k));
    keepIfKept(msg, k);
  };

  /** TCP's SEG_SEND or UDP's DGRAM_SEND: their src, dst and txFlags words are the same (test/abi/message-args.test.ts). */
  const fromTransport = (msg: MessageView, protocol: number): void => {
    const payload = ctx.buffers.view(msg);
    if (payload === null) { counters.staleInputs++; return; }
    const k = lend(msg, { src: msg.arg(TcpSegSend.src), dst: msg.arg(TcpSegSend.dst), protocol });
    handle(core.send({
      protocol, src: msg.arg(TcpSegSend.src), dst: msg.arg(TcpSegSend.dst), payload, headroom: ctx.buffers.headroom(msg), token: k,
      ...((msg.arg(TcpSegSend.txFlags) & TxFlag.Gso) !== 0 && protocol === 6 ? { gsoMss: msg.arg(TcpSegSend.gsoMss) } : {}),
      ...((msg.arg(TcpSegSend.txFlags) & TxFlag.ChecksumPartial) !== 0 && protocol === 6 ? { checksumPartial: true } : {}),
      ...((msg.arg(TcpSegSend.txFlags) & TxFlag.DontFragment) !== 0 ? { dontFragment: true } : {}),
    }, now));
    keepIfKept(msg, k);
  };

  /** A transport asks for an ICMP error about a datagram it was delivered (UDP: port unreachable). */
  const icmpErrorRequest = (msg: MessageView): void => {
    const datagram = msg.hasBuffer ? ctx.buffers.view(msg) : null;
    const type = msg.arg(SendIcmpError.typeCode) >>> 8;
    if (datagram === null || (type !== 3 && type !== 12)) {
      counters.badIcmpRequests++;
      if (msg.hasBuffer) ctx.buffers.giveBack(msg);
      return;
    }
    const k = lend(msg);
    handle(core.sendIcmpError(datagram, type === 3 ? 'dest-unreachable' : 'parameter-problem', msg.arg(SendIcmpError.typeCode) & 0xff, now, false, k));
    keepIfKept(msg, k);
  };

  const verdictOf = (code: number): Verdict => {
    switch (code) {
      case VerdictCode.Accept: return { action: 'allow' };
      case VerdictCode.RejectRst: return { action: 'reject', icmpCode: 3 };
      case VerdictCode.RejectIcmp: return { action: 'reject', icmpCode: 13 };
      default: return { action: 'drop' };
    }
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
          const id = msg.arg(VerdictReply.request);
          handle(core.onVerdict(id, verdictOf(msg.arg(VerdictReply.verdict)), now));
          // PF has read the packet: answered, or too late (the core timed it out).
          verdictDone(id);
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
      if (core.pollAt() <= now) {
        handle(core.onTimer(now));
        for (const id of verdictCopies.keys()) if (!core.verdictPending(id)) verdictDone(id);
      }
      if (echo.pending > 0 && echo.pollAt() <= now) echo.expire(now);
      published?.maybePublish(now, readCounters);
    },
    onIdle(t: number): void {
      published?.publishIdle(t, readCounters);
    },
    pollAt(): number {
      if (backlog.length > 0 || appBlocked) return now + 1;
      return Math.min(core.pollAt(), echo.pending > 0 ? echo.pollAt() : Infinity,
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
