/**
 * The sans-IO packet filter: one verdict per IPv4 datagram, from an ordered
 * rule set (rules.ts) and an optional state table.
 *
 * State ("keep state"): when an allow rule with keep state admits a packet, a
 * state entry for its flow is made; later packets of that flow in either
 * direction (same 5-tuple, or reversed = the replies), and ICMP errors quoting
 * a packet of the flow, pass without consulting the rules. For ICMP echo the
 * identifier stands in for the ports. Entries expire after an idle timeout per
 * protocol; TCP entries shorten to `tcpClosingMs` once a FIN or RST is seen.
 * The table is bounded; when full, packets still get their rule's verdict but
 * no state (counted as stateTableFull).
 */
import { IpProtocol } from '../wire/ipv4.js';
import { IcmpType } from '../wire/icmp.js';
import { inPrefix } from '../wire/ipv4-address.js';
import { summarizePacket, type PacketSummary } from './packet-summary.js';
import { TcpFlag, type AddressMatch, type PortRange, type Rule, type RuleSet } from './rules.js';
import { ALLOW, DROP, type Direction, type Verdict } from '../abi/verdict.js';

export interface PfConfig {
  readonly maxStates: number;
  readonly tcpIdleMs: number;
  readonly tcpClosingMs: number;
  readonly udpIdleMs: number;
  readonly icmpIdleMs: number;
  readonly otherIdleMs: number;
  /** How often expired states are swept (lookups also ignore expired entries). */
  readonly sweepIntervalMs: number;
}

export const DEFAULT_PF_CONFIG: PfConfig = {
  maxStates: 65_536,
  tcpIdleMs: 3_600_000,
  tcpClosingMs: 30_000,
  udpIdleMs: 60_000,
  icmpIdleMs: 30_000,
  otherIdleMs: 60_000,
  sweepIntervalMs: 10_000,
};

export interface PfCounters {
  evaluated: number;
  allowed: number;
  dropped: number;
  rejected: number;
  unparseable: number;
  stateHits: number;
  statesCreated: number;
  statesExpired: number;
  stateTableFull: number;
  defaultHits: number;
}

export interface PfRequest {
  readonly direction: Direction;
  readonly ifName: string;
  readonly packet: Uint8Array;
}

interface State { expiresAt: number; closing: boolean; readonly protocol: number }

export class PfCore {
  readonly config: PfConfig;
  readonly counters: PfCounters = {
    evaluated: 0, allowed: 0, dropped: 0, rejected: 0, unparseable: 0, stateHits: 0, statesCreated: 0,
    statesExpired: 0, stateTableFull: 0, defaultHits: 0,
  };
  private ruleSet: RuleSet;
  private ruleHits: number[];
  private readonly states = new Map<string, State>();
  private nextSweep = Infinity;

  constructor(ruleSet: RuleSet, config: Partial<PfConfig> = {}) {
    this.config = { ...DEFAULT_PF_CONFIG, ...config };
    this.ruleSet = ruleSet;
    this.ruleHits = ruleSet.rules.map(() => 0);
  }

  get rules(): RuleSet { return this.ruleSet; }

  /** Replace the rules (hit counters restart; states stay, so open connections survive a reload). */
  setRules(ruleSet: RuleSet): void {
    this.ruleSet = ruleSet;
    this.ruleHits = ruleSet.rules.map(() => 0);
  }

  /** Hits per rule, in rule order. */
  hits(): readonly number[] { return this.ruleHits; }

  get stateCount(): number { return this.states.size; }

  check(req: PfRequest, now: number): Verdict {
    this.counters.evaluated++;
    const s = summarizePacket(req.packet);
    if (s === null) {
      this.counters.unparseable++;
      this.counters.dropped++;
      return DROP;
    }
    if (this.stateAllows(s, now)) {
      this.counters.stateHits++;
      this.counters.allowed++;
      return ALLOW;
    }
    const rules = this.ruleSet.rules;
    for (let i = 0; i < rules.length; i++) {
      const r = rules[i]!;
      if (!matches(r, req, s)) continue;
      this.ruleHits[i]!++;
      if (r.action === 'allow') {
        if (r.keepState) this.createState(s, now);
        this.counters.allowed++;
        return ALLOW;
      }
      if (r.action === 'drop') {
        this.counters.dropped++;
        return DROP;
      }
      this.counters.rejected++;
      return { action: 'reject', icmpCode: r.rejectCode };
    }
    this.counters.defaultHits++;
    if (this.ruleSet.defaultAction === 'allow') {
      this.counters.allowed++;
      return ALLOW;
    }
    this.counters.dropped++;
    return DROP;
  }

  onTimer(now: number): void {
    if (now < this.nextSweep) return;
    for (const [k, st] of this.states) {
      if (st.expiresAt <= now) {
        this.states.delete(k);
        this.counters.statesExpired++;
      }
    }
    this.nextSweep = this.states.size > 0 ? now + this.config.sweepIntervalMs : Infinity;
  }

  pollAt(): number { return this.nextSweep; }

  private stateAllows(s: PacketSummary, now: number): boolean {
    if (this.states.size === 0) return false;
    if (s.inner !== null) {
      // An ICMP error about a packet of a tracked flow (RFC 792 quote) is related traffic.
      const inner = s.inner;
      return this.live(flowKey(inner.protocol, inner.src, portOf(inner, true), inner.dst, portOf(inner, false)), now) !== null ||
        this.live(flowKey(inner.protocol, inner.dst, portOf(inner, false), inner.src, portOf(inner, true)), now) !== null;
    }
    if (!s.hasL4 && (s.protocol === IpProtocol.TCP || s.protocol === IpProtocol.UDP || s.protocol === IpProtocol.ICMP)) return false;
    const fwd = this.live(flowKey(s.protocol, s.src, portOf(s, true), s.dst, portOf(s, false)), now);
    const st = fwd ?? this.live(flowKey(s.protocol, s.dst, portOf(s, false), s.src, portOf(s, true)), now);
    if (st === null) return false;
    if (s.protocol === IpProtocol.TCP && (s.tcpFlags & (TcpFlag.FIN | TcpFlag.RST)) !== 0) st.closing = true;
    st.expiresAt = now + this.idle(st);
    return true;
  }

  private live(key: string, now: number): State | null {
    const st = this.states.get(key);
    if (st === undefined) return null;
    if (st.expiresAt <= now) {
      this.states.delete(key);
      this.counters.statesExpired++;
      return null;
    }
    return st;
  }

  private createState(s: PacketSummary, now: number): void {
    if (!s.hasL4 && (s.protocol === IpProtocol.TCP || s.protocol === IpProtocol.UDP || s.protocol === IpProtocol.ICMP)) return;
    if (s.protocol === IpProtocol.ICMP && s.icmpType !== IcmpType.EchoRequest) return;
    if (this.states.size >= this.config.maxStates) {
      this.counters.stateTableFull++;
      return;
    }
    const st: State = { expiresAt: 0, closing: false, protocol: s.protocol };
    st.expiresAt = now + this.idle(st);
    this.states.set(flowKey(s.protocol, s.src, portOf(s, true), s.dst, portOf(s, false)), st);
    this.counters.statesCreated++;
    if (this.nextSweep === Infinity) this.nextSweep = now + this.config.sweepIntervalMs;
  }

  private idle(st: State): number {
    switch (st.protocol) {
      case IpProtocol.TCP: return st.closing ? this.config.tcpClosingMs : this.config.tcpIdleMs;
      case IpProtocol.UDP: return this.config.udpIdleMs;
      case IpProtocol.ICMP: return this.config.icmpIdleMs;
      default: return this.config.otherIdleMs;
    }
  }
}

function portOf(s: PacketSummary, source: boolean): number {
  if (s.protocol === IpProtocol.ICMP) return s.icmpIdent;
  return source ? s.srcPort : s.dstPort;
}

function flowKey(protocol: number, a: number, ap: number, b: number, bp: number): string {
  return `${protocol}|${a}:${ap}|${b}:${bp}`;
}

function addressMatches(m: AddressMatch | null, address: number): boolean {
  if (m === null) return true;
  return inPrefix(address, m.address, m.prefixLen) !== m.negate;
}

function portsMatch(ranges: readonly PortRange[] | null, port: number): boolean {
  if (ranges === null) return true;
  for (const r of ranges) if (port >= r.from && port <= r.to) return true;
  return false;
}

/** Does rule `r` match this packet? Criteria on absent transport headers never match. */
export function matches(r: Rule, req: PfRequest, s: PacketSummary): boolean {
  if (r.direction !== null && r.direction !== req.direction) return false;
  if (r.iface !== null && r.iface !== req.ifName) return false;
  if (r.protocol !== null && r.protocol !== s.protocol) return false;
  if (!addressMatches(r.src, s.src) || !addressMatches(r.dst, s.dst)) return false;
  const needsL4 = r.srcPorts !== null || r.dstPorts !== null || r.tcpFlags !== null || r.icmpType !== null;
  if (needsL4 && !s.hasL4) return false;
  if (!portsMatch(r.srcPorts, s.srcPort) || !portsMatch(r.dstPorts, s.dstPort)) return false;
  if (r.tcpFlags !== null && (s.tcpFlags & r.tcpFlags.mask) !== r.tcpFlags.set) return false;
  if (r.icmpType !== null && r.icmpType !== s.icmpType) return false;
  if (r.icmpCode !== null && r.icmpCode !== s.icmpCode) return false;
  return true;
}
