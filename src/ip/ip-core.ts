/**
 * The sans-IO IPv4 core of the IP server: Ethernet in, Ethernet out, datagrams
 * up to transports and down from them. Read RFC 791 (IPv4), RFC 792 (ICMP),
 * RFC 1122 §3 (host requirements), RFC 1812 §4-5 (router requirements) first.
 *
 * Inputs (each returns the IpOutput[] it caused):
 *   onFrame(ifIndex, frame, now)   an Ethernet frame received on an interface
 *   send(datagram, now)            a datagram from a transport
 *   sendIcmpError(...)             a transport asks for an ICMP error (UDP port unreachable)
 *   onVerdict(id, verdict, now)    the packet filter's answer to a verdict-request
 *   onTimer(now)                   when now >= pollAt(): ARP, reassembly and verdict timeouts
 *   announce(now)                  gratuitous ARP on every interface
 *
 * Input path:  frame → Ethernet/VLAN/MAC checks → ARP core | IPv4 validation →
 *   local?  reassembly → verdict(in) → ICMP | deliver to transport
 *   else    forwarding? route, TTL → verdict(in) → TTL-1 → output path
 * Output path: route → verdict(out) → fragment (or frag-needed) → ARP → frame.
 *
 * Packet-filter verdicts are asynchronous: with `config.filter` the core emits
 * a verdict-request and parks the packet until onVerdict (or a timeout); the
 * PF server can restart meanwhile and the core re-asks (pendingVerdictRequests).
 * test/ip/pf-sync.ts wires a PfCore in directly for tests.
 *
 * Ownership: a frame given to onFrame may be modified in place (TTL on
 * forward, link header on output) and outputs may be views into it; a
 * TransportSend payload's headroom is written over with the headers. A buffer
 * given with a token is the caller's until the core says what became of it,
 * exactly once (IpOutput in ip-types.ts): it left as a frame or delivery that
 * carries the token, or a `released` output gives it back with a reason. The
 * core keeps a buffer only in a pending verdict or an ARP queue, both bounded
 * and timed, so every kept buffer is released or sent in bounded time.
 */
import { ArpCore, type ArpOutput } from './arp-core.js';
import { parseArp, emitArp, ARP_PACKET_LEN } from '../wire/arp.js';
import { updateChecksum16, updateChecksum32 } from '../wire/checksum.js';
import { writeTcpChecksum } from '../wire/tcp.js';
import {
  EtherType, MAC_BROADCAST, emitEthernet, ETH_HEADER_LEN, ETH_VLAN_HEADER_LEN, isMulticastMac, parseEthernet,
} from '../wire/ethernet.js';
import { IcmpType, UnreachableCode, TimeExceededCode, emitIcmp, icmpLen, parseIcmp } from '../wire/icmp.js';
import {
  IPV4_CHECKSUM, IPV4_MAX_PACKET_LEN, IPV4_MIN_HEADER_LEN, IPV4_TTL, IpProtocol, type Ipv4Repr, emitIpv4, ipv4HeaderLen, parseIpv4,
} from '../wire/ipv4.js';
import {
  inPrefix, isLimitedBroadcast, isLoopback, isMulticast, isReservedClassE, isThisNetwork, subnetBroadcast,
} from '../wire/ipv4-address.js';
import type { Rng } from '../random/rng.js';
import type { Verdict, VerdictRequest, Direction } from '../abi/verdict.js';
import { buildIcmpError, icmpErrorSuppressed } from './icmp-error.js';
import { fragmentDatagram } from './fragmentation.js';
import { IpIdentGenerator } from './ip-ident.js';
import { PmtuCache, type PmtuEntry } from './pmtu-cache.js';
import { Reassembler } from './reassembly.js';
import { RouteTable, type Route } from './route-table.js';
import { buildTcpReset } from './tcp-reset.js';
import { TokenBucket } from './token-bucket.js';
import {
  DEFAULT_IP_CONFIG, FRAME_DROP_REASONS, IP_DROP_REASONS, RELEASE_REASONS, TX_DROP_REASONS, zeroCounts,
  type FrameDropReason, type IpConfig, type IpCounters, type IpDropReason, type IpInterfaceConfig, type IpOutput,
  type ReleaseReason, type TransportSend,
} from './ip-types.js';

import { LINK_HEADROOM, SEND_HEADROOM } from '../abi/transport.js';

const ALL_HOSTS = 0xe0000001;

/** An IPv4 packet at buf[ip, ip + len), with free bytes before it for the link header. */
interface OutPacket {
  readonly buf: Uint8Array;
  readonly ip: number;
  readonly len: number;
  /** A TCP segmentation-offload burst: payload bytes per wire segment (the driver cuts it up). */
  readonly gsoMss?: number;
  /** TCP with its checksum not filled (or not to be trusted): the driver or the link completes it. */
  readonly checksumPartial?: boolean;
}

/** What waits in an ARP queue: the packet and who to tell if resolution fails. */
/** The destination address in an outgoing packet's IPv4 header. */
function ipv4Dst(pkt: OutPacket): number {
  const b = pkt.buf;
  const o = pkt.ip + 16;
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

interface Queued {
  readonly pkt: OutPacket;
  readonly ctx: SendContext;
}

interface Iface {
  readonly index: number;
  readonly config: IpInterfaceConfig;
  readonly arp: ArpCore<Queued>;
}

interface SendContext {
  /** Locally originated (errors go to the transport) or forwarded (errors go to the source). */
  readonly local: boolean;
  /** Echoed in a send-error (0 when the sender gave none). */
  readonly token: number;
  /** The token of the caller's buffer the packet lies in; undefined for the core's own memory. */
  readonly buffer?: number | undefined;
}

type Pending =
  | {
    readonly kind: 'local-in'; readonly deadline: number; readonly ifIndex: number; readonly datagram: Uint8Array; readonly linkBroadcast: boolean;
    readonly checksumVerified?: boolean; readonly token: number | undefined;
  }
  | {
    readonly kind: 'forward-in'; readonly deadline: number; readonly ifIndex: number; readonly pkt: OutPacket;
    readonly outIf: number; readonly nextHop: number; readonly token: number | undefined;
  }
  | {
    readonly kind: 'out'; readonly deadline: number; readonly ifIndex: number; readonly pkt: OutPacket;
    readonly nextHop: number; readonly ctx: SendContext;
  };

export interface IpCoreDeps {
  readonly rng: Rng;
}

export class IpCore {
  readonly counters: IpCounters;
  private cfg: IpConfig;
  private readonly ifaces: Iface[];
  private readonly ifByName = new Map<string, number>();
  private readonly routes: RouteTable;
  private readonly reassembler: Reassembler;
  private readonly icmpBucket: TokenBucket;
  private readonly pending = new Map<number, Pending>();
  private pendingInCount = 0;
  private nextVerdictId = 1;
  private readonly idents: IpIdentGenerator;
  private readonly pmtu: PmtuCache;
  /** The frame onFrame is handling came with its transport checksum checked. */
  private rxChecksumVerified = false;
  /** GSO segment size of the frame being received (a super-frame or merged packet), else 0. */
  private rxGsoSize = 0;
  private out: IpOutput[] = [];
  /** Tokens of the callers' buffers kept in a pending verdict or an ARP queue. */
  private readonly holding = new Set<number>();
  /**
   * The buffer the running call was given (or the pending verdict it answers): unless
   * the call keeps, sends or releases it, end() releases it with `currentReason`.
   */
  private current: number | undefined;
  private currentSettled = true;
  private currentReason: ReleaseReason = 'consumed';

  constructor(config: Partial<IpConfig> & Pick<IpConfig, 'interfaces'>, deps: IpCoreDeps, now = 0) {
    this.cfg = { ...DEFAULT_IP_CONFIG, ...config };
    this.pmtu = new PmtuCache(this.cfg.pmtu);
    this.counters = {
      rxFrames: 0, rxArp: 0, rxPackets: 0, frameDrops: zeroCounts(FRAME_DROP_REASONS), drops: zeroCounts(IP_DROP_REASONS),
      delivered: 0, forwarded: 0, fragmentsHeld: 0, reassembled: 0, reassemblyTimeouts: 0, loopback: 0,
      txPackets: 0, txFrames: 0, txFragments: 0, txDrops: zeroCounts(TX_DROP_REASONS),
      echoReplies: 0, icmpErrorsSent: 0, icmpErrorsRateLimited: 0, icmpErrorsSuppressed: 0, verdictRequests: 0, verdictUnknown: 0,
      released: zeroCounts(RELEASE_REASONS), pmtu: this.pmtu.counters,
    };
    this.ifaces = this.cfg.interfaces.map((c, index) => {
      this.ifByName.set(c.name, index);
      return { index, config: c, arp: new ArpCore<Queued>(c.mac, c.addresses.map((a) => a.address), this.cfg.arp, now) };
    });
    this.routes = new RouteTable();
    for (const i of this.ifaces) {
      for (const a of i.config.addresses) {
        if (a.prefixLen < 32) this.routes.add({ prefix: a.address, prefixLen: a.prefixLen, gateway: 0, iface: i.config.name });
      }
    }
    for (const r of this.cfg.routes) this.routes.add(r);
    this.reassembler = new Reassembler(this.cfg.reassembly);
    this.icmpBucket = new TokenBucket(this.cfg.icmpErrorsPerSecond, this.cfg.icmpErrorBurst, now);
    this.idents = new IpIdentGenerator(deps.rng);
  }

  /** The configuration as plain data (routes as currently installed). */
  currentConfig(): IpConfig {
    return { ...this.cfg, routes: this.cfg.routes.slice() };
  }

  addRoute(route: Route): void {
    this.cfg = { ...this.cfg, routes: [...this.cfg.routes, route] };
    this.routes.add(route);
  }

  removeRoute(prefix: number, prefixLen: number, gateway?: number): number {
    this.cfg = {
      ...this.cfg,
      routes: this.cfg.routes.filter((r) => !(r.prefix === prefix && r.prefixLen === prefixLen && (gateway === undefined || r.gateway === gateway))),
    };
    return this.routes.remove(prefix, prefixLen, gateway);
  }

  /** Packets waiting for an input verdict (part of the input balance). */
  get pendingIn(): number { return this.pendingInCount; }

  /** Verdict requests outstanding, in and out (bounded by maxPendingVerdicts). */
  get pendingVerdicts(): number { return this.pending.size; }

  /** Is verdict request `id` still waiting for its answer? */
  verdictPending(id: number): boolean { return this.pending.has(id); }

  /** Callers' buffers the core keeps now (each still to be sent or released). */
  get heldBuffers(): number { return this.holding.size; }

  /** rxPackets + reassembled − (delivered + forwarded + fragmentsHeld + pendingIn + drops); always 0. */
  inputBalance(): number {
    const c = this.counters;
    let drops = 0;
    for (const k of IP_DROP_REASONS) drops += c.drops[k];
    return c.rxPackets + c.reassembled - (c.delivered + c.forwarded + c.fragmentsHeld + this.pendingInCount + drops);
  }

  /** The path MTUs learnt and not yet expired (RFC 1191), for statistics and tests. */
  pmtuSnapshot(now: number): PmtuEntry[] {
    this.pmtu.expire(now);
    return this.pmtu.snapshot();
  }

  /**
   * The path MTU towards `dst` now: a learnt one (RFC 1191) or the MTU of the
   * interface its route leaves by; 0 when there is no route.
   */
  pathMtu(dst: number, now: number): number {
    const choice = this.routes.lookup(dst);
    const ifIndex = choice === null ? -1 : (this.ifByName.get(choice.route.iface) ?? -1);
    if (ifIndex === -1) return 0;
    return Math.min(this.ifaces[ifIndex]!.config.mtu, this.pmtu.lookup(dst, now)?.mtu ?? Infinity);
  }

  arpSnapshot(ifIndex: number): ReturnType<ArpCore<Queued>['snapshot']> {
    return this.ifaces[ifIndex]?.arp.snapshot() ?? [];
  }

  // ---------------------------------------------------------------- inputs

  /**
   * `checksumVerified`: the link (or the driver's receive offload) already checked the
   * transport checksum; the delivery says so and the transport skips its own check.
   * `gsoSize`: the frame is a TCP super-frame or merged packet made of segments of that
   * many payload bytes; forwarded, it leaves as a burst cut at that size (GSO).
   * `token`: the frame's buffer is the caller's, to be accounted for (IpOutput).
   */
  onFrame(ifIndex: number, frame: Uint8Array, now: number, checksumVerified = false, gsoSize = 0, token?: number): IpOutput[] {
    const out = this.begin(token);
    this.rxChecksumVerified = checksumVerified;
    this.rxGsoSize = gsoSize;
    this.counters.rxFrames++;
    const iface = this.ifaces[ifIndex];
    if (iface === undefined) return this.frameDrop('frame-bad-interface');
    const eth = parseEthernet(frame);
    if (!eth.ok) return this.frameDrop(`frame-${eth.reason}`);
    const e = eth.value;
    if ((e.vlan?.vid ?? null) !== (iface.config.vlan ?? null)) return this.frameDrop('frame-vlan-mismatch');
    const linkBroadcast = isMulticastMac(e.dst);
    if (e.dst !== iface.config.mac && !linkBroadcast) return this.frameDrop('frame-not-for-us');
    const hl = e.vlan === null ? ETH_HEADER_LEN : ETH_VLAN_HEADER_LEN;
    if (e.ethertype === EtherType.ARP) {
      const a = parseArp(frame, hl);
      if (!a.ok) return this.frameDrop(`arp-${a.reason}`);
      this.counters.rxArp++;
      const arpOut: ArpOutput<Queued>[] = [];
      iface.arp.onArp(a.value, now, arpOut);
      this.handleArp(iface, arpOut, now);
      return this.end(out);
    }
    if (e.ethertype !== EtherType.IPv4) return this.frameDrop('frame-unknown-ethertype');
    this.counters.rxPackets++;
    this.ipInput(iface, frame, hl, linkBroadcast, now);
    return this.end(out);
  }

  send(d: TransportSend, now: number): IpOutput[] {
    const out = this.begin(d.token);
    this.sendLocal(d, now);
    return this.end(out);
  }

  /**
   * A transport asks for an ICMP error about `datagram` (a whole IPv4 datagram
   * as delivered), e.g. UDP port unreachable (RFC 1122 §4.1.3.1). The quote is a copy:
   * a buffer given with `token` is released by the same call.
   */
  sendIcmpError(
    datagram: Uint8Array, kind: 'dest-unreachable' | 'parameter-problem', code: number, now: number, linkBroadcast = false, token?: number,
  ): IpOutput[] {
    const out = this.begin(token);
    const r = parseIpv4(datagram, 0, datagram.length, false);
    if (r.ok) this.icmpErrorAbout(r.value, datagram.subarray(0, ipv4HeaderLen(r.value) + r.value.payloadLen), kind, code, 0, linkBroadcast, now);
    return this.end(out);
  }

  onVerdict(id: number, verdict: Verdict, now: number): IpOutput[] {
    const out = this.begin();
    const p = this.pending.get(id);
    if (p === undefined) {
      this.counters.verdictUnknown++;
      return this.end(out);
    }
    this.pending.delete(id);
    if (p.kind !== 'out') this.pendingInCount--;
    this.resume(bufferOf(p));
    if (verdict.action === 'allow') this.continueAfterVerdict(p, now);
    else this.refuse(p, verdict, now);
    return this.end(out);
  }

  onTimer(now: number): IpOutput[] {
    const out = this.begin();
    for (const iface of this.ifaces) {
      const arpOut: ArpOutput<Queued>[] = [];
      iface.arp.onTimer(now, arpOut);
      this.handleArp(iface, arpOut, now);
    }
    for (const x of this.reassembler.onTimer(now)) {
      this.counters.reassemblyTimeouts++;
      // RFC 1122 §3.3.2: time exceeded (code 1) only if fragment zero arrived.
      if (x.firstFragmentQuote !== null) {
        const q = x.firstFragmentQuote;
        const r = parseIpv4(q, 0, q.length, false);
        const repr = r.ok ? r.value : quotedRepr(q);
        if (repr !== null) this.icmpErrorAbout(repr, q, 'time-exceeded', TimeExceededCode.ReassemblyTimeout, 0, false, now);
      }
    }
    if (this.pmtu.pollAt() <= now) this.pmtu.expire(now);
    for (const [id, p] of this.pending) {
      if (p.deadline > now) break;
      this.pending.delete(id);
      if (p.kind === 'out') {
        this.counters.txDrops['verdict-timeout']++;
        if (p.ctx.local) this.sendError('ENOBUFS', 0, p.ctx.token, 0);
      } else {
        this.pendingInCount--;
        this.counters.drops['verdict-timeout']++;
      }
      this.release(bufferOf(p), 'verdict-timeout');
    }
    return this.end(out);
  }

  /** When onTimer next has work (ms); Infinity when nothing is pending. */
  pollAt(): number {
    let at = Math.min(this.reassembler.pollAt(), this.pmtu.pollAt());
    for (const i of this.ifaces) at = Math.min(at, i.arp.pollAt());
    const first = this.pending.values().next();
    if (!first.done) at = Math.min(at, first.value.deadline);
    return at;
  }

  announce(_now: number): IpOutput[] {
    const out = this.begin();
    for (const iface of this.ifaces) {
      const arpOut: ArpOutput<Queued>[] = [];
      iface.arp.announce(arpOut);
      this.handleArp(iface, arpOut, _now);
    }
    return this.end(out);
  }

  /**
   * The driver restarted: its links may be new devices (a TAP is created again
   * when the dead driver's fd closes, and its kernel side gets a new MAC), so
   * neighbours learnt before may be wrong. Forget them and announce our
   * addresses again.
   */
  linksReset(now: number): IpOutput[] {
    for (const iface of this.ifaces) iface.arp.forgetLearned();
    return this.announce(now);
  }

  /** The verdict requests still unanswered, to ask again after a packet-filter restart. */
  pendingVerdictRequests(): VerdictRequest[] {
    const list: VerdictRequest[] = [];
    for (const [id, p] of this.pending) list.push(this.verdictRequest(id, p));
    return list;
  }

  // ---------------------------------------------------------------- input path

  private ipInput(iface: Iface, bytes: Uint8Array, off: number, linkBroadcast: boolean, now: number): void {
    const p = parseIpv4(bytes, off);
    if (!p.ok) return this.drop(p.reason);
    const r = p.value;
    const src = r.src; const dst = r.dst;
    // RFC 1812 §5.3.7 / RFC 1122 §3.2.1.3: martian sources and destinations.
    if (isMulticast(src) || isReservedClassE(src) || isLoopback(src) || this.isSubnetBroadcast(src) ||
      this.localIf(src) !== -1 || (isThisNetwork(src) && !isLimitedBroadcast(dst))) return this.drop('martian-source');
    if (isLoopback(dst) || isThisNetwork(dst)) return this.drop('martian-destination');
    let local = this.localIf(dst) !== -1 || isLimitedBroadcast(dst) || this.isSubnetBroadcast(dst);
    if (isMulticast(dst)) {
      if (dst !== ALL_HOSTS) return this.drop('multicast-not-joined');
      local = true;
    }
    const total = ipv4HeaderLen(r) + r.payloadLen;
    if (!local) return this.forwardInput(iface, r, bytes, off, total, linkBroadcast, now);
    if (r.moreFragments || r.fragmentOffset !== 0) {
      const res = this.reassembler.add(r, bytes, off, now);
      if (res.type === 'dropped') return this.drop(res.reason);
      // The reassembler copied the fragment: the frame is done with.
      this.currentReason = 'reassembly';
      this.counters.fragmentsHeld++;
      if (res.type === 'held') return;
      this.counters.reassembled++;
      return this.askIn({
        kind: 'local-in', deadline: now + this.cfg.verdictTimeoutMs, ifIndex: iface.index, datagram: res.datagram, linkBroadcast, token: undefined,
      }, now);
    }
    this.askIn({
      kind: 'local-in', deadline: now + this.cfg.verdictTimeoutMs, ifIndex: iface.index,
      datagram: bytes.subarray(off, off + total), linkBroadcast, checksumVerified: this.rxChecksumVerified, token: this.current,
    }, now);
  }

  private forwardInput(
    iface: Iface, r: Ipv4Repr, bytes: Uint8Array, off: number, total: number, linkBroadcast: boolean, now: number,
  ): void {
    if (!this.cfg.forwarding || linkBroadcast) return this.drop('not-for-us');
    const datagram = bytes.subarray(off, off + total);
    const choice = this.routes.lookup(r.dst);
    const outIf = choice === null ? -1 : (this.ifByName.get(choice.route.iface) ?? -1);
    if (choice === null || outIf === -1) {
      this.icmpErrorAbout(r, datagram, 'dest-unreachable', UnreachableCode.Net, 0, false, now);
      return this.drop('no-route');
    }
    // RFC 1812 §5.3.1: a router MUST NOT forward a datagram whose TTL would reach 0.
    if (r.ttl <= 1) {
      this.icmpErrorAbout(r, datagram, 'time-exceeded', TimeExceededCode.TtlExceeded, 0, false, now);
      return this.drop('ttl-exceeded');
    }
    // A checksum the link vouched for may never have been filled (a peer's partial checksum, a
    // GRO-merged packet): whoever sends it on must complete it, as Linux does with CHECKSUM_PARTIAL.
    const partial = this.rxChecksumVerified && r.protocol === IpProtocol.TCP;
    // A super-frame or merged packet goes on as a burst the driver cuts to wire size, as Linux
    // forwards GRO'd packets (GSO on output), not as IP fragments or "fragmentation needed".
    const gso = r.protocol === IpProtocol.TCP && this.rxGsoSize > 0 ? this.rxGsoSize : 0;
    this.askIn({
      kind: 'forward-in', deadline: now + this.cfg.verdictTimeoutMs, ifIndex: iface.index,
      pkt: { buf: bytes, ip: off, len: total, ...(partial ? { checksumPartial: true } : {}), ...(gso > 0 ? { gsoMss: gso } : {}) },
      outIf, nextHop: choice.nextHop, token: this.current,
    }, now);
  }

  private askIn(p: Pending, now: number): void {
    if (!this.cfg.filter) return this.continueAfterVerdict(p, now);
    if (this.pending.size >= this.cfg.maxPendingVerdicts) return this.drop('verdict-queue-full');
    this.pendingInCount++;
    this.keep(bufferOf(p));
    this.ask(p);
  }

  private ask(p: Pending): void {
    const id = this.nextVerdictId++;
    this.pending.set(id, p);
    this.counters.verdictRequests++;
    this.out.push(this.verdictRequest(id, p));
  }

  private verdictRequest(id: number, p: Pending): VerdictRequest {
    const direction: Direction = p.kind === 'out' ? 'out' : 'in';
    const packet = p.kind === 'local-in' ? p.datagram : p.pkt.buf.subarray(p.pkt.ip, p.pkt.ip + p.pkt.len);
    return { type: 'verdict-request', id, direction, ifName: this.ifaces[p.ifIndex]!.config.name, packet };
  }

  private continueAfterVerdict(p: Pending, now: number): void {
    switch (p.kind) {
      case 'local-in': return this.localInput(p.ifIndex, p.datagram, p.linkBroadcast, now, p.checksumVerified === true, p.token);
      case 'forward-in': {
        this.counters.forwarded++;
        const b = p.pkt.buf; const at = p.pkt.ip;
        // Too big with DF: report before touching the TTL, so the quote is the datagram as received (as Linux does).
        // A burst whose segments fit is not too big: it is cut on the way out.
        if (p.pkt.len > this.ifaces[p.outIf]!.config.mtu && (b[at + 6]! & 0x40) !== 0 && !this.segmentsFit(p.pkt, this.ifaces[p.outIf]!.config.mtu)) {
          return this.transmit(p.pkt, p.outIf, p.nextHop, { local: false, token: 0, buffer: p.token }, now);
        }
        // RFC 1812 §5.3.1: decrement TTL; RFC 1624: update the checksum incrementally.
        const oldWord = (b[at + IPV4_TTL]! << 8) | b[at + IPV4_TTL + 1]!;
        b[at + IPV4_TTL] = b[at + IPV4_TTL]! - 1;
        const newWord = (b[at + IPV4_TTL]! << 8) | b[at + IPV4_TTL + 1]!;
        const ck = updateChecksum16((b[at + IPV4_CHECKSUM]! << 8) | b[at + IPV4_CHECKSUM + 1]!, oldWord, newWord);
        b[at + IPV4_CHECKSUM] = ck >>> 8; b[at + IPV4_CHECKSUM + 1] = ck;
        return this.askOut(p.pkt, p.outIf, p.nextHop, { local: false, token: 0, buffer: p.token }, now);
      }
      case 'out': return this.transmit(p.pkt, p.ifIndex, p.nextHop, p.ctx, now);
    }
  }

  /** Would ARP refuse the next hop of a reply to `src` now (ArpCore.wouldRefuse)? */
  private replyUnsendable(src: number, now: number): boolean {
    // No route lookup per SYN unless some neighbour table is refusing (a flood).
    if (!this.ifaces.some((i) => i.arp.refusing(now))) return false;
    const choice = this.routes.lookup(src);
    if (choice === null) return false;
    const i = this.ifByName.get(choice.route.iface);
    return i !== undefined && this.ifaces[i]!.arp.wouldRefuse(choice.nextHop, now);
  }

  private localInput(ifIndex: number, datagram: Uint8Array, linkBroadcast: boolean, now: number, checksumVerified: boolean, token: number | undefined): void {
    const p = parseIpv4(datagram, 0, datagram.length, false);
    if (!p.ok) return this.drop(p.reason); // Cannot happen: validated before the verdict.
    const r = p.value;
    const hlen = ipv4HeaderLen(r);
    const payload = datagram.subarray(hlen, hlen + r.payloadLen);
    if (r.protocol === IpProtocol.ICMP) return this.icmpInput(ifIndex, r, datagram, payload, linkBroadcast, now, token);
    if (this.cfg.transports.includes(r.protocol)) {
      // A SYN (SYN without ACK) whose SYN-ACK ARP could not send — the neighbour table is full
      // of addresses still resolving and the source is not among them: a random-source SYN
      // flood — is dropped here, before TCP builds a reply (a SYN cookie) that ARP would drop.
      if (r.protocol === IpProtocol.TCP && payload.length >= 14 && (payload[13]! & 0x12) === 0x02 && this.replyUnsendable(r.src, now)) {
        return this.drop('syn-neighbour-table-full');
      }
      this.counters.delivered++;
      this.out.push({
        type: 'deliver', protocol: r.protocol, src: r.src, dst: r.dst, ttl: r.ttl, tos: r.tos, ifIndex, datagram, payload, checksumVerified,
        ...this.leaving(token),
      });
      return;
    }
    // RFC 1122 §3.2.2.1: protocol unreachable for a transport we do not have.
    this.icmpErrorAbout(r, datagram, 'dest-unreachable', UnreachableCode.Protocol, 0, linkBroadcast, now);
    this.drop('unknown-protocol');
  }

  private icmpInput(
    ifIndex: number, r: Ipv4Repr, datagram: Uint8Array, payload: Uint8Array, linkBroadcast: boolean, now: number, token: number | undefined,
  ): void {
    const ic = parseIcmp(payload);
    if (!ic.ok) return this.drop(`icmp-${ic.reason}`);
    const m = ic.value;
    switch (m.kind) {
      case 'echo-request': {
        const toGroup = linkBroadcast || this.localIf(r.dst) === -1;
        if (toGroup && !this.cfg.echoBroadcasts) return this.drop('echo-broadcast-ignored');
        this.counters.delivered++;
        this.counters.echoReplies++;
        // RFC 1122 §3.2.2.6: the reply carries the request's data; its source is
        // the address the request was sent to (or ours on that interface for broadcasts).
        const reply = { kind: 'echo-reply' as const, ident: m.ident, seq: m.seq, data: m.data };
        const buf = new Uint8Array(SEND_HEADROOM + icmpLen(reply));
        emitIcmp(reply, buf, SEND_HEADROOM);
        const src = toGroup ? this.ifaceAddress(ifIndex, r.src) : r.dst;
        this.sendLocal({ protocol: IpProtocol.ICMP, src, dst: r.src, payload: buf.subarray(SEND_HEADROOM), headroom: SEND_HEADROOM, tos: r.tos }, now);
        return;
      }
      case 'dest-unreachable':
      case 'time-exceeded':
      case 'parameter-problem': {
        const q = quotedRepr(m.data);
        if (q === null) return this.drop('icmp-bad-quote');
        this.counters.delivered++;
        const type = m.kind === 'dest-unreachable' ? IcmpType.DestUnreachable : m.kind === 'time-exceeded' ? IcmpType.TimeExceeded : IcmpType.ParameterProblem;
        let nextHopMtu = m.kind === 'dest-unreachable' ? m.nextHopMtu : 0;
        if (m.kind === 'dest-unreachable' && m.code === UnreachableCode.FragmentationNeeded) nextHopMtu = this.learnPmtu(q, nextHopMtu, now);
        this.out.push({
          type: 'icmp-error', protocol: q.protocol, icmpType: type, icmpCode: m.code,
          nextHopMtu, reporter: r.src, origSrc: q.src, origDst: q.dst,
          quoted: m.data.subarray(ipv4HeaderLen(q)),
        });
        return;
      }
      default:
        // Echo replies and other messages go to whoever listens for ICMP.
        this.counters.delivered++;
        this.out.push({ type: 'deliver', protocol: IpProtocol.ICMP, src: r.src, dst: r.dst, ttl: r.ttl, tos: r.tos, ifIndex, datagram, payload, ...this.leaving(token) });
    }
  }

  /**
   * "Fragmentation needed" about a datagram `q` (its quoted header): remember the path
   * MTU to its destination (RFC 1191 §5) if we sent it with DF and it is lower than
   * what we knew. Returns the MTU to tell the transport: the path MTU now in force
   * (a report below the floor is raised to it), or the report as it came.
   */
  private learnPmtu(q: Ipv4Repr, reported: number, now: number): number {
    if (this.localIf(q.src) === -1 || !q.dontFragment) return reported;
    const current = this.pathMtu(q.dst, now);
    if (current === 0) return reported;
    const e = this.pmtu.learn(q.dst, reported, current, now);
    if (e !== null) return e.mtu;
    // Not lower than what we know (a report about a segment sent before we learnt it):
    // the transport may not know the path MTU yet, so tell it the one in force.
    return reported >= 68 ? Math.min(reported, this.pathMtu(q.dst, now)) : reported;
  }

  // ---------------------------------------------------------------- output path

  private sendLocal(d: TransportSend, now: number): void {
    const token = d.token ?? 0;
    const total = IPV4_MIN_HEADER_LEN + d.payload.length;
    if (total > IPV4_MAX_PACKET_LEN) {
      this.counters.txDrops['too-big']++;
      this.sendError('EMSGSIZE', d.dst, token, 0);
      return this.release(d.token, 'dropped');
    }
    let ifIndex: number;
    let nextHop: number;
    const localIf = this.localIf(d.dst);
    if (localIf !== -1 || isLoopback(d.dst)) return this.loopback(d, localIf, now);
    if (isLimitedBroadcast(d.dst)) {
      ifIndex = d.src !== 0 ? this.localIf(d.src) : 0;
      nextHop = d.dst;
      if (ifIndex === -1 || this.ifaces[ifIndex] === undefined) {
        this.counters.txDrops['no-route']++;
        this.sendError('ENETUNREACH', d.dst, token, 0);
        return this.release(d.token, 'dropped');
      }
    } else {
      const choice = this.routes.lookup(d.dst);
      ifIndex = choice === null ? -1 : (this.ifByName.get(choice.route.iface) ?? -1);
      if (choice === null || ifIndex === -1) {
        this.counters.txDrops['no-route']++;
        this.sendError('ENETUNREACH', d.dst, token, 0);
        return this.release(d.token, 'dropped');
      }
      nextHop = choice.nextHop;
    }
    const src = d.src !== 0 ? d.src : this.ifaceAddress(ifIndex, nextHop);
    if (src === 0) {
      this.counters.txDrops['no-source-address']++;
      this.sendError('EHOSTUNREACH', d.dst, token, 0);
      return this.release(d.token, 'dropped');
    }
    const partial = d.checksumPartial === true && d.protocol === IpProtocol.TCP && (d.gsoMss ?? 0) === 0;
    if (d.src === 0 && !partial) completeTransportChecksum(d.protocol, d.payload, src);
    // RFC 1191 §3: DF as the transport asks, unless the path MTU is locked at its floor (pmtu-cache.ts).
    const dontFragment = (d.dontFragment ?? false) && this.pmtu.lookup(d.dst, now)?.locked !== true;
    const repr: Ipv4Repr = {
      tos: d.tos ?? 0, ident: this.idents.reserve(src, d.dst, d.protocol, wireDatagrams(d), now), dontFragment, moreFragments: false,
      fragmentOffset: 0, ttl: d.ttl ?? this.cfg.defaultTtl, protocol: d.protocol, src, dst: d.dst, options: EMPTY, payloadLen: d.payload.length,
    };
    let pkt: OutPacket;
    let buffer = d.token;
    if (d.headroom >= SEND_HEADROOM && d.payload.byteOffset >= SEND_HEADROOM) {
      // Prepend in place: the headers go into the payload buffer's headroom.
      const buf = new Uint8Array(d.payload.buffer, d.payload.byteOffset - SEND_HEADROOM, SEND_HEADROOM + d.payload.length);
      pkt = { buf, ip: LINK_HEADROOM, len: total, gsoMss: d.gsoMss ?? 0, checksumPartial: partial };
    } else {
      const buf = new Uint8Array(SEND_HEADROOM + d.payload.length);
      buf.set(d.payload, SEND_HEADROOM);
      pkt = { buf, ip: LINK_HEADROOM, len: total, gsoMss: d.gsoMss ?? 0, checksumPartial: partial };
      this.release(buffer, 'copied');
      buffer = undefined;
    }
    emitIpv4(repr, pkt.buf, pkt.ip);
    this.counters.txPackets++;
    this.askOut(pkt, ifIndex, nextHop, { local: true, token, buffer }, now);
  }

  private loopback(d: TransportSend, localIf: number, now: number): void {
    const src = d.src !== 0 ? d.src : d.dst;
    // As on the wire path: a transport that left the source to us summed the pseudo-header with 0.0.0.0.
    if (d.src === 0) completeTransportChecksum(d.protocol, d.payload, src);
    const repr: Ipv4Repr = {
      tos: d.tos ?? 0, ident: this.idents.reserve(src, d.dst, d.protocol, 1, now), dontFragment: false, moreFragments: false, fragmentOffset: 0,
      ttl: d.ttl ?? this.cfg.defaultTtl, protocol: d.protocol, src, dst: d.dst, options: EMPTY, payloadLen: d.payload.length,
    };
    const datagram = new Uint8Array(IPV4_MIN_HEADER_LEN + d.payload.length);
    emitIpv4(repr, datagram, 0);
    datagram.set(d.payload, IPV4_MIN_HEADER_LEN);
    this.counters.loopback++;
    this.out.push({
      // A TSO burst or a partial checksum was never filled; the segment never left memory either.
      checksumVerified: (d.gsoMss ?? 0) > 0 || (d.checksumPartial === true && d.protocol === IpProtocol.TCP),
      type: 'deliver', protocol: d.protocol, src, dst: d.dst, ttl: repr.ttl, tos: repr.tos, ifIndex: localIf, datagram,
      payload: datagram.subarray(IPV4_MIN_HEADER_LEN),
    });
    this.release(d.token, 'loopback');
  }

  private askOut(pkt: OutPacket, ifIndex: number, nextHop: number, ctx: SendContext, now: number): void {
    if (!this.cfg.filter) return this.transmit(pkt, ifIndex, nextHop, ctx, now);
    // A next hop ARP cannot take now (table full of entries still resolving: a random-source
    // SYN flood's SYN-ACKs) is dropped before the filter's round trip, which it would only
    // survive to be dropped by ARP after it.
    if (ctx.local && this.ifaces[ifIndex]!.arp.wouldRefuse(nextHop, now)) {
      this.counters.txDrops['arp-cache-full']++;
      this.sendError('ENOBUFS', nextHop, ctx.token, 0);
      return this.release(ctx.buffer, 'dropped');
    }
    if (this.pending.size >= this.cfg.maxPendingVerdicts) {
      this.counters.txDrops['verdict-queue-full']++;
      if (ctx.local) this.sendError('ENOBUFS', 0, ctx.token, 0);
      return this.release(ctx.buffer, 'dropped');
    }
    this.keep(ctx.buffer);
    this.ask({ kind: 'out', deadline: now + this.cfg.verdictTimeoutMs, ifIndex, pkt, nextHop, ctx });
  }

  /** Does every segment of the burst `pkt` (gsoMss payload bytes each) fit `mtu`? False for a non-burst. */
  private segmentsFit(pkt: OutPacket, mtu: number): boolean {
    if ((pkt.gsoMss ?? 0) <= 0) return false;
    const ihl = (pkt.buf[pkt.ip]! & 0x0f) << 2;
    const thl = (pkt.buf[pkt.ip + ihl + 12]! >>> 4) << 2;
    return ihl + thl + pkt.gsoMss! <= mtu;
  }

  private transmit(pkt: OutPacket, ifIndex: number, nextHop: number, ctx: SendContext, now: number): void {
    const iface = this.ifaces[ifIndex]!;
    let mtu = iface.config.mtu;
    if (ctx.local) {
      // What we send ourselves keeps to the path MTU learnt for its destination (RFC 1191 §3).
      const b = pkt.buf; const at = pkt.ip + 16;
      const e = this.pmtu.lookup(((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0, now);
      if (e !== undefined && e.mtu < mtu) mtu = e.mtu;
    }
    if (pkt.len <= mtu) return this.linkOut(iface, pkt, nextHop, ctx, now);
    if ((pkt.gsoMss ?? 0) > 0) {
      // A TSO burst: the driver cuts it into segments that must each fit the MTU.
      if (this.segmentsFit(pkt, mtu)) return this.linkOut(iface, pkt, nextHop, ctx, now);
      if (ctx.local) {
        // Our own TCP's MSS outgrew the path MTU (learnt after it built the burst): it
        // hears EMSGSIZE with the MTU and sends again smaller, cut at the new size.
        this.counters.txDrops['frag-needed']++;
        const v = new DataView(pkt.buf.buffer, pkt.buf.byteOffset + pkt.ip, 20);
        this.sendError('EMSGSIZE', v.getUint32(16), ctx.token, mtu, copyOf(pkt, ctx));
        return this.release(ctx.buffer, 'dropped');
      }
      // The MSS outgrew this route's MTU: an ordinary (checksummed) datagram, which
      // DF turns into "fragmentation needed" for TCP's path-MTU discovery below.
      fillTcpChecksum(pkt.buf, pkt.ip, pkt.len);
      pkt = { buf: pkt.buf, ip: pkt.ip, len: pkt.len };
    }
    if (pkt.checksumPartial === true) {
      // Fragments carry pieces of the segment: its checksum must be whole first.
      fillTcpChecksum(pkt.buf, pkt.ip, pkt.len);
      pkt = { buf: pkt.buf, ip: pkt.ip, len: pkt.len };
    }
    const p = parseIpv4(pkt.buf, pkt.ip, pkt.ip + pkt.len, false);
    if (!p.ok) return this.release(ctx.buffer, 'dropped'); // Cannot happen: we built or validated it.
    const r = p.value;
    if (r.dontFragment) {
      this.counters.txDrops['frag-needed']++;
      // RFC 1191 §4: report the next-hop MTU.
      if (ctx.local) this.sendError('EMSGSIZE', r.dst, ctx.token, mtu, copyOf(pkt, ctx));
      else this.icmpErrorAbout(r, pkt.buf.subarray(pkt.ip, pkt.ip + pkt.len), 'dest-unreachable', UnreachableCode.FragmentationNeeded, mtu, false, now);
      return this.release(ctx.buffer, 'dropped');
    }
    const hlen = ipv4HeaderLen(r);
    const frags = fragmentDatagram(r, pkt.buf.subarray(pkt.ip + hlen, pkt.ip + pkt.len), mtu, LINK_HEADROOM);
    if (frags === null) {
      this.counters.txDrops['too-big']++;
      if (ctx.local) this.sendError('EMSGSIZE', r.dst, ctx.token, mtu, copyOf(pkt, ctx));
      return this.release(ctx.buffer, 'dropped');
    }
    this.counters.txFragments += frags.length;
    // The fragments are copies: the original's buffer is done with, whatever ARP makes them wait for.
    const fragCtx: SendContext = { local: ctx.local, token: ctx.token };
    for (const f of frags) this.linkOut(iface, { buf: f, ip: LINK_HEADROOM, len: f.length - LINK_HEADROOM }, nextHop, fragCtx, now);
    this.release(ctx.buffer, 'fragmented');
  }

  private linkOut(iface: Iface, pkt: OutPacket, nextHop: number, ctx: SendContext, now: number): void {
    let mac: number | null;
    if (isLimitedBroadcast(nextHop) || this.isSubnetBroadcastOn(iface, nextHop)) mac = MAC_BROADCAST;
    else if (isMulticast(nextHop)) mac = 0x01005e000000 + (nextHop & 0x7fffff); // RFC 1112 §6.4
    else {
      const arpOut: ArpOutput<Queued>[] = [];
      // Kept while ARP queues it; sent or released at once otherwise.
      this.keep(ctx.buffer);
      mac = iface.arp.resolve(nextHop, { pkt, ctx }, now, arpOut, this.ifaceAddress(iface.index, nextHop));
      this.handleArp(iface, arpOut, now);
    }
    if (mac !== null) this.emitFrame(iface, pkt, mac, ctx.buffer);
  }

  /** `token`: the caller's buffer `pkt` lies in, which leaves with the frame (or is released when it must be copied). */
  private emitFrame(iface: Iface, pkt: OutPacket, mac: number, token: number | undefined): void {
    const vlan = iface.config.vlan ?? null;
    const ehl = vlan === null ? ETH_HEADER_LEN : ETH_VLAN_HEADER_LEN;
    let buf = pkt.buf;
    let ip = pkt.ip;
    let carried = token;
    if (ip < ehl) {
      buf = new Uint8Array(ehl + pkt.len);
      buf.set(pkt.buf.subarray(pkt.ip, pkt.ip + pkt.len), ehl);
      ip = ehl;
      this.release(token, 'copied');
      carried = undefined;
    }
    emitEthernet({ dst: mac, src: iface.config.mac, ethertype: EtherType.IPv4, vlan: vlan === null ? null : { pcp: 0, dei: false, vid: vlan } }, buf, ip - ehl);
    this.counters.txFrames++;
    this.out.push({
      type: 'frame', ifIndex: iface.index, frame: buf.subarray(ip - ehl, ip + pkt.len), gsoMss: pkt.gsoMss ?? 0,
      ...(pkt.checksumPartial === true ? { checksumPartial: true } : {}), ...this.leaving(carried),
    });
  }

  private handleArp(iface: Iface, arpOut: ArpOutput<Queued>[], _now: number): void {
    for (const a of arpOut) {
      switch (a.type) {
        case 'arp-transmit': {
          const vlan = iface.config.vlan ?? null;
          const frame = new Uint8Array((vlan === null ? ETH_HEADER_LEN : ETH_VLAN_HEADER_LEN) + ARP_PACKET_LEN);
          const hl = emitEthernet({ dst: a.dstMac, src: iface.config.mac, ethertype: EtherType.ARP, vlan: vlan === null ? null : { pcp: 0, dei: false, vid: vlan } }, frame, 0);
          emitArp(a.repr, frame, hl);
          this.counters.txFrames++;
          this.out.push({ type: 'frame', ifIndex: iface.index, frame });
          break;
        }
        case 'arp-resolved':
          for (const q of a.packets) this.emitFrame(iface, q.pkt, a.mac, q.ctx.buffer);
          break;
        case 'arp-dropped':
          this.counters.txDrops[`arp-${a.reason}`] += a.packets.length;
          for (const q of a.packets) {
            if (a.reason === 'unresolved') this.hostUnreachable(q, _now);
            else if (q.ctx.local) this.sendError('ENOBUFS', ipv4Dst(q.pkt), q.ctx.token, 0);
            // At once, not after a delay: the SYN-ACKs of a random-source SYN flood (each to a
            // source that never answers ARP) would otherwise hold all of TCP's buffers, and the
            // connections in use could not send.
            this.release(q.ctx.buffer, `arp-${a.reason}`);
          }
          break;
      }
    }
  }

  /**
   * The next hop never answered ARP: tell the local transport (EHOSTUNREACH,
   * once per datagram: only for its first fragment) or the source of a
   * forwarded datagram (ICMP host unreachable, RFC 1812 §5.2.7.1).
   */
  private hostUnreachable(q: Queued, now: number): void {
    const r = parseIpv4(q.pkt.buf, q.pkt.ip, q.pkt.ip + q.pkt.len, false);
    if (!r.ok || r.value.fragmentOffset !== 0) return;
    if (q.ctx.local) {
      return this.sendError('EHOSTUNREACH', r.value.dst, q.ctx.token, 0, copyOf(q.pkt, q.ctx));
    }
    this.icmpErrorAbout(r.value, q.pkt.buf.subarray(q.pkt.ip, q.pkt.ip + q.pkt.len), 'dest-unreachable', UnreachableCode.Host, 0, false, now);
  }

  // ---------------------------------------------------------------- refusal and ICMP errors

  private refuse(p: Pending, verdict: Verdict, now: number): void {
    this.refuseWith(p, verdict, now);
    // After the RST or ICMP error, which copy what they quote.
    this.release(bufferOf(p), verdict.action === 'reject' ? 'verdict-reject' : 'verdict-drop');
  }

  private refuseWith(p: Pending, verdict: Verdict, now: number): void {
    if (p.kind === 'out') {
      this.counters.txDrops.filtered++;
      if (p.ctx.local) return this.sendError('EPERM', 0, p.ctx.token, 0);
    } else {
      this.counters.drops.filtered++;
    }
    if (verdict.action !== 'reject') return;
    const datagram = p.kind === 'local-in' ? p.datagram : p.pkt.buf.subarray(p.pkt.ip, p.pkt.ip + p.pkt.len);
    const r = parseIpv4(datagram, 0, datagram.length, false);
    if (!r.ok) return;
    const hlen = ipv4HeaderLen(r.value);
    if (r.value.protocol === IpProtocol.TCP && r.value.fragmentOffset === 0) {
      const rst = buildTcpReset(datagram.subarray(hlen, hlen + r.value.payloadLen), r.value.src, r.value.dst, SEND_HEADROOM);
      if (rst !== null && icmpErrorSuppressed(r.value, datagram, hlen, false, (a) => this.isSubnetBroadcast(a)) === null) {
        this.sendLocal({ protocol: IpProtocol.TCP, src: r.value.dst, dst: r.value.src, payload: rst.subarray(SEND_HEADROOM), headroom: SEND_HEADROOM }, now);
      }
      return;
    }
    this.icmpErrorAbout(r.value, datagram, 'dest-unreachable', verdict.icmpCode, 0, p.kind === 'local-in' && p.linkBroadcast, now);
  }

  /** Send an ICMP error about `orig` (whose bytes are `datagram`) if RFC 1122 and the rate limit allow. */
  private icmpErrorAbout(
    orig: Ipv4Repr, datagram: Uint8Array, kind: 'dest-unreachable' | 'time-exceeded' | 'parameter-problem',
    code: number, value: number, linkBroadcast: boolean, now: number,
  ): void {
    const hlen = ipv4HeaderLen(orig);
    if (icmpErrorSuppressed(orig, datagram, hlen, linkBroadcast, (a) => this.isSubnetBroadcast(a)) !== null) {
      this.counters.icmpErrorsSuppressed++;
      return;
    }
    if (!this.icmpBucket.take(now)) {
      this.counters.icmpErrorsRateLimited++;
      return;
    }
    this.counters.icmpErrorsSent++;
    const msg = buildIcmpError(kind, code, value, datagram, SEND_HEADROOM);
    // Source: the address the datagram was sent to when it is ours, else the outgoing interface's.
    const src = this.localIf(orig.dst) !== -1 ? orig.dst : 0;
    this.sendLocal({ protocol: IpProtocol.ICMP, src, dst: orig.src, payload: msg.subarray(SEND_HEADROOM), headroom: SEND_HEADROOM, tos: 0xc0 }, now);
  }

  private sendError(
    code: 'EHOSTUNREACH' | 'ENETUNREACH' | 'EMSGSIZE' | 'EPERM' | 'ENOBUFS', dst: number, token: number, nextHopMtu: number, datagram?: Uint8Array,
  ): void {
    this.out.push(datagram === undefined ? { type: 'send-error', code, dst, token, nextHopMtu } : { type: 'send-error', code, dst, token, nextHopMtu, datagram });
  }

  // ---------------------------------------------------------------- addresses

  /** Index of the interface owning `address`, or -1. */
  private localIf(address: number): number {
    for (const i of this.ifaces) for (const a of i.config.addresses) if (a.address === address) return i.index;
    return -1;
  }

  private isSubnetBroadcastOn(iface: Iface, address: number): boolean {
    for (const a of iface.config.addresses) {
      if (a.prefixLen < 31 && subnetBroadcast(a.address, a.prefixLen) === address) return true;
    }
    return false;
  }

  private isSubnetBroadcast(address: number): boolean {
    for (const i of this.ifaces) if (this.isSubnetBroadcastOn(i, address)) return true;
    return false;
  }

  /** Our address on interface `ifIndex`, preferring one on the same subnet as `peer`; 0 if none. */
  private ifaceAddress(ifIndex: number, peer: number): number {
    const addrs = this.ifaces[ifIndex]?.config.addresses ?? [];
    for (const a of addrs) if (inPrefix(peer, a.address, a.prefixLen)) return a.address;
    return addrs[0]?.address ?? 0;
  }

  // ---------------------------------------------------------------- plumbing

  private begin(token?: number): IpOutput[] {
    this.out = [];
    this.resume(token);
    return this.out;
  }

  /** The call now handles the buffer of `token` (given to it, or kept until now). */
  private resume(token: number | undefined): void {
    if (token !== undefined) this.holding.delete(token);
    this.current = token;
    this.currentSettled = token === undefined;
    this.currentReason = 'consumed';
  }

  private end(out: IpOutput[]): IpOutput[] {
    // Last, after every output that reads the buffer.
    if (!this.currentSettled) this.release(this.current, this.currentReason);
    this.current = undefined;
    this.currentSettled = true;
    return out;
  }

  /** The core keeps the buffer of `token` (a pending verdict, an ARP queue). */
  private keep(token: number | undefined): void {
    if (token === undefined) return;
    this.holding.add(token);
    if (token === this.current) this.currentSettled = true;
  }

  /** The buffer of `token` leaves in the output being built: the fields that say so. */
  private leaving(token: number | undefined): { token?: number } {
    if (token === undefined) return {};
    this.holding.delete(token);
    if (token === this.current) this.currentSettled = true;
    return { token };
  }

  /** Done with the buffer of `token` without sending it: give it back to the caller. */
  private release(token: number | undefined, reason: ReleaseReason): void {
    if (token === undefined) return;
    this.holding.delete(token);
    if (token === this.current) this.currentSettled = true;
    this.counters.released[reason]++;
    this.out.push({ type: 'released', token, reason });
  }

  private frameDrop(reason: FrameDropReason): IpOutput[] {
    this.counters.frameDrops[reason]++;
    this.currentReason = 'dropped';
    return this.end(this.out);
  }

  private drop(reason: IpDropReason): void {
    this.counters.drops[reason]++;
    this.currentReason = 'dropped';
  }
}

const EMPTY = new Uint8Array(0);

/** A packet the core copied out of its sender's buffer (no longer the sender's to read), for a send-error. */
function copyOf(pkt: OutPacket, ctx: SendContext): Uint8Array | undefined {
  return ctx.buffer === undefined ? pkt.buf.subarray(pkt.ip, pkt.ip + pkt.len) : undefined;
}

/** The token of the caller's buffer a pending packet lies in. */
function bufferOf(p: Pending): number | undefined {
  return p.kind === 'out' ? p.ctx.buffer : p.token;
}

/**
 * How many datagrams `d` becomes on the wire before any fragmentation: a TCP
 * segmentation-offload burst is cut into one per gsoMss payload bytes, and each
 * gets its own IP ID (the driver numbers them from the burst's, RFC 6864 §4.1).
 */
function wireDatagrams(d: TransportSend): number {
  const mss = d.gsoMss ?? 0;
  if (mss <= 0 || d.protocol !== IpProtocol.TCP || d.payload.length < 20) return 1;
  const data = d.payload.length - ((d.payload[12]! >>> 4) << 2);
  return Math.min(0xffff, Math.max(1, Math.ceil(data / mss)));
}

/**
 * A transport that let the core choose the source address computed its
 * checksum with source 0.0.0.0; add the chosen source to the pseudo-header sum
 * (RFC 1624 incremental update). UDP's "zero means none" is preserved.
 */
function completeTransportChecksum(protocol: number, seg: Uint8Array, src: number): void {
  const at = protocol === IpProtocol.UDP ? 6 : protocol === IpProtocol.TCP ? 16 : -1;
  if (at < 0 || seg.length < at + 2) return;
  const old = (seg[at]! << 8) | seg[at + 1]!;
  if (protocol === IpProtocol.UDP && old === 0) return;
  let ck = updateChecksum32(old, 0, src);
  if (protocol === IpProtocol.UDP && ck === 0) ck = 0xffff;
  seg[at] = ck >>> 8; seg[at + 1] = ck;
}

/**
 * The header quoted in an ICMP error: only the header must be complete (the
 * quote is usually cut after 8 payload bytes, so total length is not checked).
 */
function quotedRepr(q: Uint8Array): Ipv4Repr | null {
  if (q.length < IPV4_MIN_HEADER_LEN || q[0]! >>> 4 !== 4) return null;
  const hlen = (q[0]! & 0x0f) << 2;
  if (hlen < IPV4_MIN_HEADER_LEN || hlen > q.length) return null;
  const ff = (q[6]! << 8) | q[7]!;
  const u32 = (at: number): number => ((q[at]! << 24) | (q[at + 1]! << 16) | (q[at + 2]! << 8) | q[at + 3]!) >>> 0;
  return {
    tos: q[1]!, ident: (q[4]! << 8) | q[5]!, dontFragment: (ff & 0x4000) !== 0, moreFragments: (ff & 0x2000) !== 0,
    fragmentOffset: (ff & 0x1fff) << 3, ttl: q[8]!, protocol: q[9]!, src: u32(12), dst: u32(16),
    options: q.subarray(IPV4_MIN_HEADER_LEN, hlen), payloadLen: q.length - hlen,
  };
}

/** Fills the TCP checksum of the TCP/IPv4 packet buf[ip, ip + len) (RFC 9293 §3.1: over the pseudo-header and segment). */
function fillTcpChecksum(buf: Uint8Array, ip: number, len: number): void {
  const v = new DataView(buf.buffer, buf.byteOffset + ip, 20);
  writeTcpChecksum(buf.subarray(ip + ((buf[ip]! & 0x0f) << 2), ip + len), v.getUint32(12), v.getUint32(16));
}
