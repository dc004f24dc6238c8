/**
 * The sans-IO packet filter: one verdict per IPv4 datagram, from an ordered
 * rule set (rules.ts) and an optional state table.
 *
 * State ("keep state"): when an allow rule with keep state admits a packet, a
 * state entry for its flow is made; later packets of that flow in either
 * direction (same 5-tuple, or reversed = the replies), and ICMP errors quoting
 * a packet of the flow, pass without consulting the rules. For ICMP echo the
 * identifier stands in for the ports. Entries expire after an idle timeout per
 * protocol; a TCP entry lives `tcpOpeningMs` until its handshake completed (the initiator
 * acknowledged the answer), `tcpIdleMs` after, and `tcpClosingMs` once a FIN or RST is seen.
 * The table is bounded; when it is full a new flow takes the place of one that never
 * completed (a half-open TCP flow, an unanswered UDP or ICMP one; counted as statesEvicted),
 * so a flood of spoofed SYNs cannot lock real connections out, and an established flow is
 * never evicted. With no such entry, packets still get their rule's verdict but no state
 * (counted as stateTableFull).
 */
import { emitIpv4, IpProtocol } from '../wire/ipv4.js';
import { IcmpType } from '../wire/icmp.js';
import { inPrefix } from '../wire/ipv4-address.js';
import { summarizePacket, type PacketSummary } from './packet-summary.js';
import { TcpFlag, type AddressMatch, type PortRange, type Rule, type RuleSet } from './rules.js';
import { ALLOW, DROP, type Direction, type Verdict } from '../abi/verdict.js';
import { FlowPhase, FlowTable, flowTableBytes } from './flow-table.js';

export interface PfConfig {
  readonly maxStates: number;
  /** A TCP flow whose handshake has not completed (a half-open one). */
  readonly tcpOpeningMs: number;
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
  tcpOpeningMs: 30_000,
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
  /** Flows that never completed, dropped from a full table to make room for a new one. */
  statesEvicted: number;
}

export interface PfRequest {
  readonly direction: Direction;
  readonly ifName: string;
  readonly packet: Uint8Array;
}

const COUNTER_NAMES: readonly (keyof PfCounters)[] = [
  'evaluated', 'allowed', 'dropped', 'rejected', 'unparseable', 'stateHits', 'statesCreated', 'statesExpired', 'stateTableFull', 'defaultHits', 'statesEvicted',
];

/*
 * The filter's memory (pfMemoryBytes): a header, the counters, the hits of up to
 * `ruleCapacity` rules (float64 each) and the flow table. The packet filter server keeps it
 * in memory that outlives its thread, so a restarted filter goes on with every flow it had
 * admitted and every count.
 */
const MEM_MAGIC = 0;
const MEM_MAX_STATES = 1;
const MAGIC = 0x50463031; // "PF01"
const COUNTERS_AT = 64;
const HITS_AT = COUNTERS_AT + 16 * 8;

/** Bytes of memory a PfCore with `maxStates` states and hits for `ruleCapacity` rules uses. */
export function pfMemoryBytes(maxStates: number = DEFAULT_PF_CONFIG.maxStates, ruleCapacity = 0): number {
  return HITS_AT + ruleCapacity * 8 + flowTableBytes(maxStates);
}

/** How many rules' hits memory of `byteLength` bytes has room for beside a table of `maxStates` (negative: too small). */
function ruleCapacityOf(byteLength: number, maxStates: number): number {
  return Math.floor((byteLength - HITS_AT - flowTableBytes(maxStates)) / 8);
}

/** A packet filter's figures as read from its memory (by anyone, while it runs). */
export interface PfStats extends PfCounters {
  /** Flows in the state table now. */
  readonly states: number;
  /** Hits per rule, for the rules whose hits are in the memory. */
  readonly ruleHits: readonly number[];
}

/** Reads the figures of a PfCore's memory (zero for one not used yet). */
export function readPfMemory(memory: ArrayBufferLike, maxStates: number = DEFAULT_PF_CONFIG.maxStates, rules = Infinity): PfStats {
  const ruleCapacity = Math.max(0, ruleCapacityOf(memory.byteLength, maxStates));
  const counters = memoryCounters(new Float64Array(memory, COUNTERS_AT, COUNTER_NAMES.length)).toJSON();
  const table = new FlowTable(memory, HITS_AT + ruleCapacity * 8, maxStates);
  return { ...counters, states: table.size, ruleHits: Array.from(new Float64Array(memory, HITS_AT, Math.min(ruleCapacity, rules))) };
}

/**
 * The counters over float64 slots (so `counters.allowed++` lands in the memory). A class whose
 * accessors sit on its prototype, one per COUNTER_NAMES entry (defined below), not accessors
 * per object: every PfCore's counters then share one shape, and code compiled for a
 * rehearsal's scratch core (rehearseFilter) runs on the real one without deoptimising.
 */
class MemoryCounters {
  constructor(readonly slots: Float64Array) {}
  toJSON(): PfCounters {
    const out: Record<string, number> = {};
    COUNTER_NAMES.forEach((name, i) => { out[name] = this.slots[i]!; });
    return out as unknown as PfCounters;
  }
}
COUNTER_NAMES.forEach((name, i) => {
  Object.defineProperty(MemoryCounters.prototype, name, {
    get(this: MemoryCounters): number { return this.slots[i]!; },
    set(this: MemoryCounters, v: number): void { this.slots[i] = v; },
  });
});

/** The counters in `slots` (MemoryCounters with its accessors typed). */
function memoryCounters(slots: Float64Array): MemoryCounters & PfCounters {
  return new MemoryCounters(slots) as MemoryCounters & PfCounters;
}

export class PfCore {
  readonly config: PfConfig;
  readonly counters: PfCounters;
  private ruleSet: RuleSet;
  private ruleHits: Float64Array;
  private readonly memory: ArrayBufferLike;
  private readonly ruleCapacity: number;
  private readonly states: FlowTable;
  private opened = false;
  private nextSweep = Infinity;

  /**
   * `memory`: pfMemoryBytes(config.maxStates, n) bytes, zeroed or as a predecessor left them
   * (its flows, counters and, for the first n rules, hits go on); without, a private buffer.
   * Nothing is written to it before the first check(), onTimer() or open().
   */
  constructor(ruleSet: RuleSet, config: Partial<PfConfig> = {}, memory?: ArrayBufferLike) {
    this.config = { ...DEFAULT_PF_CONFIG, ...config };
    this.memory = memory ?? new ArrayBuffer(pfMemoryBytes(this.config.maxStates, ruleSet.rules.length));
    this.ruleCapacity = ruleCapacityOf(this.memory.byteLength, this.config.maxStates);
    if (this.ruleCapacity < 0) throw new RangeError(`packet filter memory of ${this.memory.byteLength} bytes is too small for ${this.config.maxStates} states`);
    this.counters = memoryCounters(new Float64Array(this.memory, COUNTERS_AT, COUNTER_NAMES.length));
    this.ruleSet = ruleSet;
    this.ruleHits = this.hitsFor(ruleSet);
    this.states = new FlowTable(this.memory, HITS_AT + this.ruleCapacity * 8, this.config.maxStates);
  }

  private hitsFor(ruleSet: RuleSet): Float64Array {
    const n = ruleSet.rules.length;
    // Rules beyond the memory's room count in private memory (lost with the thread).
    return n <= this.ruleCapacity ? new Float64Array(this.memory, HITS_AT, n) : new Float64Array(n);
  }

  /**
   * Takes the memory over (idempotent; check() and onTimer() call it): a fresh one is laid
   * out, a predecessor's is checked and, if it died mid-change, repaired.
   */
  open(now: number): void {
    if (this.opened) return;
    const h = new Int32Array(this.memory, 0, 2);
    if (h[MEM_MAGIC] === 0) {
      h[MEM_MAX_STATES] = this.config.maxStates;
      h[MEM_MAGIC] = MAGIC;
    } else if (h[MEM_MAGIC] !== MAGIC || h[MEM_MAX_STATES] !== this.config.maxStates) {
      throw new RangeError(`packet filter memory holds another layout (magic ${h[MEM_MAGIC]}, ${h[MEM_MAX_STATES]} states)`);
    }
    this.states.open();
    this.opened = true;
    this.nextSweep = this.states.size > 0 ? now + this.config.sweepIntervalMs : Infinity;
  }

  get rules(): RuleSet { return this.ruleSet; }

  /** Replace the rules (hit counters restart; states stay, so open connections survive a reload). */
  setRules(ruleSet: RuleSet): void {
    this.ruleSet = ruleSet;
    this.ruleHits = this.hitsFor(ruleSet);
    this.ruleHits.fill(0);
  }

  /** Hits per rule, in rule order. */
  hits(): readonly number[] { return Array.from(this.ruleHits); }

  get stateCount(): number { return this.states.size; }

  check(req: PfRequest, now: number): Verdict {
    if (!this.opened) this.open(now);
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
    if (!this.opened) this.open(now);
    if (now < this.nextSweep) return;
    this.counters.statesExpired += this.states.sweep(now);
    this.nextSweep = this.states.size > 0 ? now + this.config.sweepIntervalMs : Infinity;
  }

  pollAt(): number { return this.nextSweep; }

  private stateAllows(s: PacketSummary, now: number): boolean {
    if (this.states.size === 0) return false;
    if (s.inner !== null) {
      // An ICMP error about a packet of a tracked flow (RFC 792 quote) is related traffic.
      const inner = s.inner;
      return this.live(inner.protocol, inner.src, portOf(inner, true), inner.dst, portOf(inner, false), now) >= 0 ||
        this.live(inner.protocol, inner.dst, portOf(inner, false), inner.src, portOf(inner, true), now) >= 0;
    }
    if (!s.hasL4 && (s.protocol === IpProtocol.TCP || s.protocol === IpProtocol.UDP || s.protocol === IpProtocol.ICMP)) return false;
    // The entry's first direction is its initiator's (createState).
    let reverse = false;
    let e = this.live(s.protocol, s.src, portOf(s, true), s.dst, portOf(s, false), now);
    if (e < 0) {
      e = this.live(s.protocol, s.dst, portOf(s, false), s.src, portOf(s, true), now);
      reverse = true;
    }
    if (e < 0) return false;
    const protocol = this.states.protocol(e);
    let phase = this.states.phase(e);
    if (phase !== FlowPhase.Closing) {
      const tcp = protocol === IpProtocol.TCP;
      if (tcp && (s.tcpFlags & (TcpFlag.FIN | TcpFlag.RST)) !== 0) phase = FlowPhase.Closing;
      else if (reverse && phase === FlowPhase.New) phase = tcp ? FlowPhase.Replied : FlowPhase.Established;
      else if (!reverse && phase === FlowPhase.Replied && (s.tcpFlags & (TcpFlag.SYN | TcpFlag.ACK)) === TcpFlag.ACK) phase = FlowPhase.Established;
      this.states.setPhase(e, phase);
    }
    this.states.setExpiresAt(e, now + this.idle(protocol, phase));
    return true;
  }

  /** The unexpired entry of the flow, or -1 (an expired one is removed). */
  private live(protocol: number, a: number, ap: number, b: number, bp: number, now: number): number {
    const e = this.states.find(protocol, a, ap, b, bp);
    if (e < 0) return -1;
    if (this.states.expiresAt(e) <= now) {
      this.states.remove(e);
      this.counters.statesExpired++;
      return -1;
    }
    return e;
  }

  private createState(s: PacketSummary, now: number): void {
    if (!s.hasL4 && (s.protocol === IpProtocol.TCP || s.protocol === IpProtocol.UDP || s.protocol === IpProtocol.ICMP)) return;
    if (s.protocol === IpProtocol.ICMP && s.icmpType !== IcmpType.EchoRequest) return;
    const src = portOf(s, true);
    const dst = portOf(s, false);
    // Absent: stateAllows looked the flow up both ways just before (and removed it if expired).
    const expires = now + this.idle(s.protocol, FlowPhase.New);
    if (this.states.insert(s.protocol, s.src, src, s.dst, dst, expires) < 0) {
      // Full: the new flow takes the place of one that never completed, if one is near.
      if (this.states.evictOne(neverCompleted, EVICT_LOOK) < 0 || this.states.insert(s.protocol, s.src, src, s.dst, dst, expires) < 0) {
        this.counters.stateTableFull++;
        return;
      }
      this.counters.statesEvicted++;
    }
    this.counters.statesCreated++;
    if (this.nextSweep === Infinity) this.nextSweep = now + this.config.sweepIntervalMs;
  }

  private idle(protocol: number, phase: FlowPhase): number {
    switch (protocol) {
      case IpProtocol.TCP:
        return phase === FlowPhase.Closing ? this.config.tcpClosingMs : phase === FlowPhase.Established ? this.config.tcpIdleMs : this.config.tcpOpeningMs;
      case IpProtocol.UDP: return this.config.udpIdleMs;
      case IpProtocol.ICMP: return this.config.icmpIdleMs;
      default: return this.config.otherIdleMs;
    }
  }
}

/** Entries a full table looks at for one to evict before it gives up (stateTableFull). */
const EVICT_LOOK = 64;

const neverCompleted = (p: FlowPhase): boolean => p === FlowPhase.New || p === FlowPhase.Replied;

function portOf(s: PacketSummary, source: boolean): number {
  if (s.protocol === IpProtocol.ICMP) return s.icmpIdent;
  return source ? s.srcPort : s.dstPort;
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

/**
 * Runs the filter's hot path on made-up traffic against a scratch PfCore with `ruleSet` (its
 * own memory; nothing shared is touched): TCP, UDP and ICMP echo both ways, new flows and
 * known ones, the sweep. A warm standby does this so its successor's first verdicts run
 * compiled code (cold, the first few took ~0.3 ms each here). Returns the verdicts given.
 */
export function rehearseFilter(ruleSet: RuleSet, ifName: string, rounds = 4000): number {
  // Shared memory, as the real one has: the same typed-array kinds reach the compiled code.
  const pf = new PfCore(ruleSet, { maxStates: 512, sweepIntervalMs: 50 }, new SharedArrayBuffer(pfMemoryBytes(512, ruleSet.rules.length)));
  const packets: Uint8Array[] = [];
  const A = 0x0a000001;
  const B = 0x0a000002;
  const l4 = (protocol: number, sport: number, dport: number, flags: number): Uint8Array => {
    const h = new Uint8Array(protocol === IpProtocol.TCP ? 20 : 8);
    if (protocol === IpProtocol.ICMP) { h[0] = IcmpType.EchoRequest; h[4] = sport >>> 8; h[5] = sport; return h; }
    h[0] = sport >>> 8; h[1] = sport; h[2] = dport >>> 8; h[3] = dport;
    if (protocol === IpProtocol.TCP) { h[12] = 0x50; h[13] = flags; }
    else { h[4] = 0; h[5] = 8; }
    return h;
  };
  for (let i = 0; i < 64; i++) {
    const protocol = i % 4 === 3 ? IpProtocol.UDP : i % 8 === 6 ? IpProtocol.ICMP : IpProtocol.TCP;
    const t = l4(protocol, 40000 + i, 80 + (i % 3), i % 5 === 0 ? 0x02 : 0x10);
    const b = new Uint8Array(20 + t.length);
    emitIpv4({
      tos: 0, ident: i, dontFragment: true, moreFragments: false, fragmentOffset: 0, ttl: 64, protocol,
      src: i % 2 === 0 ? A : B, dst: i % 2 === 0 ? B : A, options: new Uint8Array(0), payloadLen: t.length,
    }, b);
    b.set(t, 20);
    packets.push(b);
  }
  let n = 0;
  for (let r = 0; r < rounds; r++) {
    const packet = packets[r % packets.length]!;
    pf.check({ direction: r % 2 === 0 ? 'in' : 'out', ifName, packet }, r);
    if (r % 256 === 0) pf.onTimer(r);
    n++;
  }
  return n;
}
