/**
 * createStack(config): one newtos host, as a set of servers started by the
 * supervisor from a manifest built here (docs/ARCHITECTURE.md "The pieces"), plus the
 * application's side (StackClient) in the calling thread.
 *
 *   driver ⇄ ip ⇄ pf        ip ⇄ tcp ⇄ sock ⇄ app        app → tcp (kicks)
 *
 * Placement is the configuration's `placement`: 'isolated' (a worker per
 * server), 'grouped' (the link side and the transport side in a worker each; with
 * replicas, a worker per replica beside the driver and SOCK), 'monolithic' (all servers
 * in one worker) or 'postmessage' (isolated, with the server-to-server channels over
 * MessagePort instead of shared rings).
 */
import { randomBytes } from 'node:crypto';
import { formatMac, parseMac as parseMacNumber } from '../wire/ethernet.js';
import { NewtosError } from '../errors.js';
import { parseRuleSet } from '../pf/rule-parser.js';
import { checkStackConfig, defaultMaxSockets, DEFAULT_TCP_BUFFER_BYTES, HANG_CPU_MS, PACKET_HANG_CPU_MS, type InterfaceConfig, type Placement, type StackConfig } from '../config/stack-config.js';
import { Supervisor, type ExternalEnds, type RegroupResult, type SupervisorEvent, type SystemSnapshot } from '../substrate/supervisor.js';
import type { ThreadDecision } from '../substrate/thread-monitor.js';
import type { FaultKind } from '../substrate/server-loop.js';
import { createSocketTable, SocketTable } from '../abi/socket-table.js';
import { createVswitch as createVswitchMemory, type VswitchDescriptor } from '../driver/nic/vswitch.js';
import { FrameLink } from '../app/frame-link.js';
import { DnsClient } from '../app/dns-client.js';
import type { IpServerOptions } from '../ip/server.js';
import type { TcpServerOptions } from '../tcp/server.js';
import { TSO_MAX_BYTES } from '../tcp/config.js';
import type { PfServerOptions } from '../pf/server.js';
import { DEFAULT_PF_CONFIG, pfMemoryBytes, readPfMemory, type PfStats } from '../pf/pf-core.js';
import type { DriverServerOptions } from '../driver/server.js';
import type { UdpServerOptions } from '../udp/server.js';
import { createUdpStats, readUdpStats, type UdpStats } from '../udp/udp-stats.js';
import { AppInput, AppOutput } from '../app/app-link.js';
import { createDoorbell, DoorbellRinger } from '../substrate/doorbell.js';
import { createLinkStats, readLinkStats, type LinkStats } from '../driver/nic/link-stats.js';
import { createDriverStats, readDriverStats, type DriverStats } from '../driver/driver-stats.js';
import { createCaptureChannel, LiveCapture, type CapturedFrameSink, type LiveCaptureOptions } from '../driver/nic/capture-channel.js';
import { StackClient } from '../app/client.js';
import { TapBackend } from '../driver/nic/tap.js';
import { parseMac } from '../driver/nic/backend.js';
import type { PingOptions, PingResult } from '../app/ping.js';
import { createCounterBlock, readCounterBlock, type CounterTree } from '../abi/published-counters.js';
import { createEntryFrames, createEntryLoad, createRssTable, RSS_TABLE_SIZE } from '../abi/rss-table.js';
import { ReplicaMonitor, type MonitorDecision } from './replica-monitor.js';
import { PlacementMonitor, type RegroupDecision } from './placement-monitor.js';
import { EventEmitter } from 'node:events';
import { availableParallelism } from 'node:os';

/** The faults `Stack.inject` makes. */
export const FAULT_KINDS: readonly FaultKind[] = ['crash', 'hang', 'exit', 'oom'];

export interface InjectOptions {
  /** Which replica's server (1-based: replica 1 is `tcp`, replica 2 `tcp-1`, ...). Default 1. Driver and SOCK are shared by every replica. */
  readonly replica?: number;
  /** How long to wait for the successor, ms (default 15 000). */
  readonly timeoutMs?: number;
}

/** What `Stack.inject` resolves to once the server runs again. */
export interface InjectResult {
  readonly server: string;
  readonly fault: FaultKind;
  /** How the supervisor saw the death: crash, hang, exit or oom. */
  readonly cause: string;
  /** The death in words (the thread's error, exit code, silent heartbeat). */
  readonly reason: string;
  /** The successor's generation. */
  readonly generation: number;
  /** From the death to the successor running, ms. */
  readonly restartMs: number;
}

/** An in-process virtual switch that hosts attach to by name. */
export interface SwitchAttachment {
  readonly descriptor: VswitchDescriptor;
  /** Next free port. */
  nextPort: number;
}

export interface StackOptions {
  /** Switches by name, for interfaces with link type 'vswitch'. */
  readonly switches?: Readonly<Record<string, SwitchAttachment>>;
  /** Polling policy override for every server thread. */
  readonly polling?: { mode: 'adaptive' | 'busy' | 'sleep' };
  /** Cores the polling policy and the thread monitor assume (default: the machine's; tests). */
  readonly cores?: number;
}

const moduleOf = (rel: string): string => new URL(rel, import.meta.url).href;

/** Whether a rule set can refuse anything: false for none, '' and 'default allow' alone. */
export function filterDecides(text: string | undefined): boolean {
  if (text === undefined || text.trim() === '') return false;
  const r = parseRuleSet(text);
  return !r.ok || r.value.rules.length > 0 || r.value.defaultAction !== 'allow';
}

/**
 * The 'grouped' placement's threads. One replica: the link side (driver, IP, PF) and the
 * transport side (TCP, UDP, SOCK). Measured on 2 cores (a 1-byte round trip between two hosts
 * on the virtual switch): p50 ~0.22 ms against ~0.34 ms isolated and ~0.18 ms monolithic, at
 * half the CPU per round trip of isolated. A crash takes the servers of its thread with it
 * and they restart together, as a monolithic host's do. With replicas: the driver and SOCK
 * in one thread, each replica's IP, PF, TCP and UDP in one of its own.
 */
/** Replica r's servers and pools: `ip`, `tcp`, ... for r = 0 (as with one replica), `ip-1`, `tcp-1`, ... after. */
function named(base: string, r: number): string {
  return r === 0 ? base : `${base}-${r}`;
}

/** What placement 'auto' chose, with the figures behind it. */
export interface PlacementDecision {
  readonly placement: 'isolated' | 'grouped';
  readonly cores: number;
  /** Server threads each placement would run. */
  readonly isolatedThreads: number;
  readonly groupedThreads: number;
  readonly reason: string;
}

/**
 * Placement 'auto': isolated when every server thread of an isolated host and the application's
 * thread can each have a core, else grouped. On fewer cores, isolated threads wait for each
 * other's cores on every hop; grouped cuts the hops that cross threads from eight to two per
 * round trip and uses less CPU for each (2 cores, two hosts on the virtual switch: 64 connections
 * of 1-byte round trips 25-27k/s grouped against 15-24k isolated in bench:rr runs; over one
 * connection the p50s, 0.25-0.57 ms grouped and 0.31-0.69 ms isolated, move 2x between runs and
 * overlap), at the price of coarser fault isolation (a PF crash restarts driver, IP and PF together).
 */
export function autoPlacement(replicas: number, cores: number): PlacementDecision {
  const isolatedThreads = replicas === 1 ? 6 : 2 + 4 * replicas;
  const groupedThreads = groupedPlacement(replicas).length;
  const placement = cores >= isolatedThreads + 1 ? 'isolated' : 'grouped';
  const reason = placement === 'isolated'
    ? `${cores} cores: one for each of ${isolatedThreads} server threads and one for the application`
    : `${cores} cores for ${isolatedThreads} isolated server threads and the application: grouped into ${groupedThreads} threads`;
  return { placement, cores, isolatedThreads, groupedThreads, reason };
}

/**
 * Replicas when the configuration leaves it to the host (placement 'auto', no `replicas`): the
 * most whose isolated server threads (4 each, plus the driver and SOCK) and the application's
 * thread each have a core, at least 1, at most 16. 2 cores: 1; 8: 1; 11: 2; 16: 3; 67: 16. The
 * replica monitor drains those the load does not need and brings them back.
 */
export function autoReplicas(cores: number): number {
  return Math.max(1, Math.min(16, Math.floor((cores - 3) / 4)));
}

export function groupedPlacement(replicas: number): string[][] {
  if (replicas === 1) return [['driver', 'ip', 'pf'], ['tcp', 'udp', 'sock']];
  return [['driver', 'sock'], ...Array.from({ length: replicas }, (_, r) => ['ip', 'pf', 'tcp', 'udp'].map((b) => named(b, r)))];
}

/** Links whose backend can take partial TCP checksums (NicBackend.checksumOffload). */
function canOffloadChecksums(ifc: InterfaceConfig): boolean {
  return ifc.link.type === 'vswitch' || (ifc.link.type === 'tap' && ifc.link.vnetHeader !== false);
}


export class Stack extends EventEmitter {
  readonly net: StackClient['net'];
  readonly http: StackClient['http'];
  readonly dgram: StackClient['dgram'];
  /**
   * The DNS client over this host's UDP (configuration `dns`), or undefined without one.
   * `net.connect({ host: name })` resolves through it unless the connect gives a `lookup`.
   */
  readonly dns: DnsClient | undefined;

  private constructor(
    readonly config: StackConfig,
    readonly supervisor: Supervisor,
    readonly client: StackClient,
    /** Per replica. */
    private readonly udpStatsMemory: readonly SharedArrayBuffer[],
    private readonly captureControl: { channels: ReadonlyMap<string, SharedArrayBuffer>; wake: () => void },
    private readonly linkStatsMemory: SharedArrayBuffer,
    /** Per replica. */
    private readonly counterBlocks: readonly Readonly<Record<'ip' | 'tcp', SharedArrayBuffer>>[],
    private readonly driverStatsMemory: SharedArrayBuffer,
    /** The TAP devices this thread opened and keeps for the driver (closed by close()). */
    private readonly taps: readonly TapBackend[],
    private readonly frameLinks: ReadonlyMap<string, FrameLink>,
    /** Replicas: the driver's indirection table and the per-replica draining words (src/abi/rss-table.ts). */
    readonly steering: { readonly replicas: number; readonly rssTable: SharedArrayBuffer; readonly draining: SharedArrayBuffer; readonly entryLoad: SharedArrayBuffer; readonly entryFrames: SharedArrayBuffer },
    /** The placement the servers run in at start (what 'auto' chose, or the configuration's). */
    private placementNow: Exclude<Placement, 'auto'>,
    /** Placement 'auto' only: what it chose and why; undefined otherwise. */
    readonly placementDecision: PlacementDecision | undefined,
  ) {
    super();
    this.dgram = client.dgram;
    this.net = client.net;
    const dns = config.dns;
    this.dns = dns === undefined ? undefined : new DnsClient({
      createUdpSocket: () => client.dgram.createSocket('udp4'),
      connectTcp: (o) => client.net.connect(o),
      randomId: () => randomBytes(2).readUInt16BE(0),
    }, dns);
    if (this.dns !== undefined) client.lookup = this.dns.lookup;
    this.http = client.http;
    const monitor = config.monitor;
    if (steering.replicas > 1 && monitor !== false && monitor?.enabled !== false) this.startMonitor(monitor ?? {});
    if (monitor !== false && monitor?.enabled !== false) {
      // Thread placement for every host, replicas or not: polling mode and pinning per thread.
      const m = monitor ?? {};
      supervisor.startThreadMonitor({
        polling: m.polling ?? 'auto', pinning: m.pinning ?? true, intervalMs: m.intervalMs ?? 100,
        ...(m.spinAbovePct !== undefined ? { spinAbovePct: m.spinAbovePct } : {}),
      });
      supervisor.on('event', (e: SupervisorEvent) => {
        if (e.type === 'thread-monitor' && e.detail?.['action'] !== 'pin-failed') this.emit('thread-monitor', e.detail as unknown as ThreadDecision);
      });
      const regroup = m.regroup ?? config.placement === 'auto';
      if (regroup && supervisor.manifest.regroup) this.startPlacementMonitor(m, supervisor.cores);
    }
  }

  /**
   * The placement the servers run in now: what 'auto' chose or the configuration said at start,
   * then what the last regroup made.
   */
  get placement(): Exclude<Placement, 'auto'> {
    return this.placementNow;
  }

  private placementMonitor: PlacementMonitor | undefined;
  private placementTimer: NodeJS.Timeout | undefined;

  /**
   * Moves the running servers to another placement, 'isolated' or 'grouped' (Supervisor.regroup:
   * the moved servers go on from their kept state in their new threads; no connection, socket
   * or queued message is lost, traffic pauses for the moved servers' restart). For hosts started
   * 'isolated', 'grouped' or 'auto'. Resolves with what moved; emits 'regroup' with the same.
   */
  async regroup(placement: 'isolated' | 'grouped'): Promise<RegroupResult & { readonly placement: 'isolated' | 'grouped' }> {
    if (placement !== 'isolated' && placement !== 'grouped') {
      throw new NewtosError('ERR_INVALID_ARG_VALUE', `The argument 'placement' must be 'isolated' or 'grouped'. Received ${JSON.stringify(placement)}`);
    }
    const groups = placement === 'grouped' ? groupedPlacement(this.steering.replicas) : this.supervisor.serverNames().map((n) => [n]);
    const r = await this.supervisor.regroup(groups);
    this.placementNow = placement;
    const result = { ...r, placement };
    if (r.stopped > 0) {
      this.placementMonitor?.moved(performance.now());
      this.emit('regroup', result);
    }
    return result;
  }

  /** The placement monitor's decisions so far (src/stack/placement-monitor.ts; empty when it does not run). */
  regroupDecisions(): readonly RegroupDecision[] {
    return this.placementMonitor?.decisions ?? [];
  }

  /** Runs the placement monitor on a timer of this thread (off the data path), fed by the thread monitor's load figure. */
  private startPlacementMonitor(m: Exclude<StackConfig['monitor'], false | undefined>, cores: number): void {
    const replicas = this.steering.replicas;
    const monitor = new PlacementMonitor({
      cores, isolatedThreads: replicas === 1 ? 6 : 2 + 4 * replicas, groupedThreads: groupedPlacement(replicas).length,
      ...(m.regroupHoldMs !== undefined ? { holdMs: m.regroupHoldMs } : {}),
      ...(m.regroupCooldownMs !== undefined ? { cooldownMs: m.regroupCooldownMs } : {}),
    });
    this.placementMonitor = monitor;
    let moving = false;
    this.placementTimer = setInterval(() => {
      const current = this.placementNow;
      if (moving || (current !== 'isolated' && current !== 'grouped')) return;
      const d = monitor.tick(performance.now(), current, this.supervisor.threadOtherLoad());
      if (d === null) return;
      this.emit('placement', d);
      moving = true;
      this.regroup(d.to).catch((err: unknown) => {
        // A restart under way or the host stopping: the next ticks decide again.
        monitor.moved(performance.now());
        this.emit('placement-failed', { decision: d, error: err instanceof Error ? err.message : String(err) });
      }).finally(() => { moving = false; });
    }, m.intervalMs ?? 100);
    this.placementTimer.unref();
  }

  /** The thread monitor's decisions so far: polling modes and pins per server thread (src/substrate/thread-monitor.ts). */
  threadDecisions(): readonly ThreadDecision[] {
    return this.supervisor.threadDecisions();
  }

  private monitor: ReplicaMonitor | undefined;
  private monitorTimer: NodeJS.Timeout | undefined;

  /**
   * The replica monitor (src/stack/replica-monitor.ts) on a timer of this thread, off the
   * data path: it reads the frames per receive queue the driver publishes and the live
   * connections per table entry each replica's TCP publishes, and drains or brings back
   * replicas. Each decision is emitted as 'monitor' with its figures.
   */
  private startMonitor(o: Exclude<StackConfig['monitor'], false | undefined>): void {
    const { replicas, rssTable, draining, entryLoad, entryFrames } = this.steering;
    const monitor = new ReplicaMonitor({
      max: replicas, min: o.minReplicas ?? 1, perReplicaFps: o.perReplicaFps ?? 20_000, holdMs: o.holdMs ?? 1000,
      quietMs: o.quietMs ?? 500,
    }, new Uint8Array(rssTable), new Int32Array(draining), new Int32Array(entryFrames));
    const load = new Int32Array(entryLoad);
    const live = (r: number, e: number): number => Atomics.load(load, r * RSS_TABLE_SIZE + e);
    this.monitor = monitor;
    this.monitorTimer = setInterval(() => {
      const d = monitor.tick(performance.now(), this.driverStats().rxQueueFrames, live);
      if (d !== null) this.emit('monitor', d);
    }, o.intervalMs ?? 100);
    this.monitorTimer.unref();
  }

  /** The replica monitor's decisions so far (empty without replicas or with `monitor.enabled: false`). */
  monitorDecisions(): readonly MonitorDecision[] {
    return this.monitor?.decisions ?? [];
  }

  /** Replicas taking new flows now (the monitor drains the others). */
  activeReplicas(): number {
    return this.monitor?.activeReplicas ?? this.steering.replicas;
  }

  static async start(input: unknown, options: StackOptions = {}): Promise<Stack> {
    const config = checkStackConfig(input);
    if (config.filter !== undefined) {
      // Refuse a bad rule set here, with every line's reason, rather than let PF fail to start.
      const rules = parseRuleSet(config.filter);
      if (!rules.ok) {
        throw new NewtosError('ERR_NEWTOS_CONFIG', `invalid configuration:\n${rules.errors
          .map((e) => `config: filter: line ${e.line}, column ${e.column}: ${e.reason}`).join('\n')}`);
      }
    }
    const offloadIf = config.interfaces.findIndex((i) => i.checksumOffload === true && !canOffloadChecksums(i));
    if (offloadIf >= 0) {
      throw new NewtosError('ERR_NEWTOS_CONFIG', `invalid configuration:\nconfig: interfaces[${offloadIf}].checksumOffload: ${config.interfaces[offloadIf]!.link.type} links cannot complete checksums (virtual-switch ports and TAP devices with a virtio-net header can)`);
    }
    // Unset, with placement 'auto': as many replicas as the cores hold (the replica monitor then
    // drains those the load does not need); else one.
    const replicas = config.replicas ?? (config.placement === 'auto' && config.forwarding !== true && config.rss?.queues === undefined
      ? autoReplicas(options.cores ?? availableParallelism()) : 1);
    if (replicas > 1 && config.rss?.queues !== undefined && config.rss.queues !== replicas) {
      throw new NewtosError('ERR_NEWTOS_CONFIG', `invalid configuration:\nconfig: rss.queues: ${config.rss.queues} differs from replicas: ${replicas} (each replica has one receive queue)`);
    }
    if (replicas > 1 && config.forwarding === true) {
      throw new NewtosError('ERR_NEWTOS_CONFIG', `invalid configuration:\nconfig: replicas: ${replicas} with forwarding: a router runs one replica (forwarded flows are not steered)`);
    }
    const decision = config.placement === 'auto' ? autoPlacement(replicas, options.cores ?? availableParallelism()) : undefined;
    const placement: Exclude<Placement, 'auto'> = decision?.placement ?? (config.placement === 'auto' ? undefined : config.placement) ?? 'isolated';
    const ifaces: InterfaceConfig[] = config.interfaces.map((ifc) => ({
      ...ifc,
      mac: ifc.mac ?? formatMac(0x02 * 2 ** 40 + randomBytes(5).readUIntBE(0, 5)),
      mtu: ifc.mtu ?? 1500,
      // Default on where the link can: the virtual switch (in memory) and a TAP with a virtio-net header.
      checksumOffload: ifc.checksumOffload ?? canOffloadChecksums(ifc),
    }));
    const mtu = Math.max(...ifaces.map((i) => i.mtu ?? 1500));
    const frameSize = mtu > 1500 ? 'segment' : 'frame';
    // Software offloads only matter when frames are small: with TSO, TCP's buffers hold whole bursts.
    const tso = (config.offloads?.tso ?? true) && frameSize === 'frame';
    const gro = (config.offloads?.gro ?? true) && frameSize === 'frame';
    // A TAP with a virtio-net header delivers the kernel's super-frames (up to 64 KiB): segment-size receive buffers.
    // So does a virtual-switch port with segmentation offload (TCP's bursts cross the switch whole).
    const vswitchTso = tso && ifaces.some((i) => i.link.type === 'vswitch');
    const superFrames = vswitchTso || ifaces.some((i) => i.link.type === 'tap' && i.link.vnetHeader !== false);
    const rxSize = superFrames ? 'segment' : frameSize;
    const vswitchPorts: DriverServerOptions['vswitchPorts'] = {};
    let driverDoorbell: SharedArrayBuffer | undefined;
    for (const ifc of ifaces) {
      if (ifc.link.type !== 'vswitch') continue;
      const sw = options.switches?.[ifc.link.switch];
      if (sw === undefined) throw new NewtosError('ERR_NEWTOS_CONFIG', `interface ${ifc.name}: no virtual switch named '${ifc.link.switch}'`);
      if (sw.nextPort >= sw.descriptor.ports) throw new NewtosError('ERR_NEWTOS_CONFIG', `virtual switch '${ifc.link.switch}' has no free port`);
      if ((ifc.mtu ?? 1500) > sw.descriptor.mtu) throw new NewtosError('ERR_NEWTOS_CONFIG', `interface ${ifc.name}: MTU ${ifc.mtu} exceeds the switch's ${sw.descriptor.mtu}`);
      const port = sw.nextPort++;
      (vswitchPorts as Record<string, { descriptor: VswitchDescriptor; port: number }>)[ifc.name] = { descriptor: sw.descriptor, port };
      // The driver's thread parks on the port's doorbell, which senders ring.
      driverDoorbell ??= sw.descriptor.doorbells[port];
    }
    // The driver's thread doorbell, also rung to switch a live capture.
    driverDoorbell ??= createDoorbell();
    // A frame link is a private two-port switch: port 0 the driver's (ringing the driver's own
    // doorbell, so one park waits for it too), port 1 the application thread's (FrameLink).
    const frameSwitches = new Map<string, VswitchDescriptor>();
    for (const ifc of ifaces) {
      if (ifc.link.type !== 'frames') continue;
      const d = createVswitchMemory({ ports: 2, mtu: ifc.mtu ?? 1500, pointToPoint: true });
      const descriptor = { ...d, doorbells: [driverDoorbell, d.doorbells[1]!] };
      frameSwitches.set(ifc.name, descriptor);
      (vswitchPorts as Record<string, { descriptor: VswitchDescriptor; port: number }>)[ifc.name] = { descriptor, port: 0 };
    }
    const captures = ifaces.map(() => createCaptureChannel());
    const linkStats = createLinkStats(ifaces.length);
    const driverStats = createDriverStats();
    const maxSockets = config.limits?.maxSockets ?? defaultMaxSockets(config.tcp);
    const sendBytes = config.tcp?.sendBufferBytes ?? DEFAULT_TCP_BUFFER_BYTES;
    const recvBytes = config.tcp?.receiveBufferBytes ?? DEFAULT_TCP_BUFFER_BYTES;
    // The tables are reserved whole here and touched only as sockets use them (a page of a
    // ring becomes memory when data first passes it); the machine may still refuse the reservation.
    const reserve = (what: string, make: () => SharedArrayBuffer): SharedArrayBuffer => {
      try {
        return make();
      } catch (e) {
        if (!(e instanceof RangeError)) throw e;
        throw new NewtosError('ENOMEM', `cannot reserve the ${what} socket table for ${maxSockets} sockets (limits.maxSockets): ${e.message}`, { cause: e });
      }
    };
    // Per replica: its own socket tables (each replica's TCP and UDP own their slots), counters.
    const socketTables = Array.from({ length: replicas }, () => reserve('TCP', () => createSocketTable({ slots: maxSockets, sendCapacity: sendBytes, recvCapacity: recvBytes, tableEvents: true })));
    // UDP sockets: a send ring holds at least one largest datagram record (RFC 768 over IPv4: 65507 bytes).
    const udpTables = Array.from({ length: replicas }, () => reserve('UDP', () => createSocketTable({ slots: maxSockets, sendCapacity: 128 * 1024, recvCapacity: 256 * 1024, tableEvents: true })));
    const udpStatsBlocks = Array.from({ length: replicas }, () => createUdpStats());
    // Where the driver, IP and TCP servers publish their named counters (Stack.counters()).
    const replicaCounters = Array.from({ length: replicas }, () => ({ ip: createCounterBlock(), tcp: createCounterBlock() }));
    const rssTable = createRssTable(replicas);
    const draining = new SharedArrayBuffer(4 * replicas);
    const entryLoad = createEntryLoad(replicas);
    const entryFrames = createEntryFrames();
    const addresses = ifaces.flatMap((i) => i.addresses.map((a) => ({ address: a.address, prefixLength: a.prefixLength })));

    const ipOptions: IpServerOptions = {
      interfaces: ifaces.map((i) => ({
        name: i.name, mac: parseMacNumber(i.mac!) ?? 0, mtu: i.mtu ?? 1500,
        addresses: i.addresses.map((a) => ({ address: a.address, prefixLen: a.prefixLength })),
      })),
      routes: (config.routes ?? []).map((r) => ({
        prefix: r.destination.address, prefixLen: r.destination.prefixLength, gateway: r.gateway ?? 0,
        iface: r.interface ?? ifaces.find((i) => i.addresses.some((a) => r.gateway !== undefined &&
          ((a.address ^ r.gateway) >>> (32 - a.prefixLength || 32)) === 0))?.name ?? ifaces[0]!.name,
      })),
      forwarding: config.forwarding ?? false,
      ...(config.pmtu !== undefined ? { pmtu: { ...config.pmtu } } : {}),
      // A filter that decides nothing (no rules, default allow: also the default without
      // `filter`) is not asked: every packet would cost two thread hops for an answer known
      // in advance. PF still runs, ready for nothing; as with Linux's empty netfilter, an
      // unused filter costs the data path nothing.
      filter: filterDecides(config.filter),
    };
    const tcpOptions: TcpServerOptions = {
      socketTable: socketTables[0]!, addresses,
      // TCP leaves checksums to the driver when some link completes them (the driver fills them for the others).
      ...(ifaces.some((i) => i.checksumOffload === true) ? { checksumOffload: true } : {}),
      ...(config.tcp?.mslMs !== undefined ? { mslMs: config.tcp.mslMs } : {}),
      ...(config.tcp?.synCookies === false ? { synCookies: 'never' as const } : {}),
      ...(config.tcp?.pathMtuDiscovery === false ? { pathMtuDiscovery: false } : {}),
      ...(config.tcp?.rack !== undefined ? { rack: config.tcp.rack } : {}),
      ...(config.tcp?.tailLossProbes !== undefined ? { tlp: config.tcp.tailLossProbes } : {}),
      connection: {
        mss: mtu - 40, ...(config.tcp?.congestionControl ? { congestion: config.tcp.congestionControl } : {}),
        // Peers with receive offloads (ours, Linux's) acknowledge merged segments with stretch
        // ACKs: grow slow start by all that is acknowledged, as Linux does.
        ...(tso || gro ? { abcLimit: 0 } : {}),
      },
      ...(tso ? { tsoMaxBytes: TSO_MAX_BYTES } : {}),
    };
    const udpOptions: UdpServerOptions = { socketTable: udpTables[0]!, stats: udpStatsBlocks[0]!, addresses: addresses.map((a) => a.address) };
    const pfStates = config.limits?.filterStates ?? DEFAULT_PF_CONFIG.maxStates;
    const pfOptions: PfServerOptions = { rules: config.filter ?? '', interfaces: ifaces.map((i) => i.name), maxStates: pfStates };
    // PF's flow table, counters and rule hits live in memory that outlives its thread.
    const pfRules = parseRuleSet(config.filter ?? '');
    const pfShared = pfMemoryBytes(pfStates, pfRules.ok ? pfRules.value.rules.length : 0);
    /** Filled below, once the TAP devices are open (before the driver starts). */
    const tapFds: Record<string, number> = {};
    const tapWake: { eventFd?: number } = {};
    const driverOptions: DriverServerOptions = {
      interfaces: ifaces, vswitchPorts, captures, linkStats, driverStats, rssQueues: config.rss?.queues ?? 1, vswitchTso, tapFds, tapWake,
      ...(replicas > 1 ? { replicas, rssTable, rssEntryFrames: entryFrames } : {}),
    };
    const transport = placement === 'postmessage' ? 'port' : 'ring';
    const limits = config.limits?.maxHeapMb !== undefined ? { maxOldGenerationSizeMb: config.limits.maxHeapMb } : undefined;
    // Threads of packet servers only (driver, IP, PF, UDP) are held to a shorter hang rule
    // than those with TCP or SOCK (StackConfig.watchdog): a thread takes its servers' longest.
    const hangCpuMs = config.watchdog?.hangCpuMs ?? HANG_CPU_MS;
    // A hangCpuMs given alone holds every thread, as before there were two rules.
    const packetHangCpuMs = config.watchdog?.packetHangCpuMs ?? config.watchdog?.hangCpuMs ?? PACKET_HANG_CPU_MS;
    const server = (name: string, module: string, opts: object, packet = false): object => ({
      name, module: moduleOf(module), options: opts, ...(limits ? { resourceLimits: limits } : {}),
      hangCpuMs: packet ? packetHangCpuMs : hangCpuMs,
    });
    const link = (from: string, to: string, t = transport, capacity = 1024): object => ({ from, to, transport: t, capacity });
    const replicaServers = (r: number): object[] => [
      server(named('ip', r), '../ip/server.js', { ...ipOptions, counters: replicaCounters[r]!.ip, ...(r > 0 ? { replica: r } : {}) }, true),
      // PF builds from its options alone and owns no pool: a warm standby takes over when it dies.
      { ...server(named('pf', r), '../pf/server.js', pfOptions, true), standby: true, sharedBytes: pfShared },
      server(named('tcp', r), '../tcp/server.js', {
        ...tcpOptions, socketTable: socketTables[r]!, counters: replicaCounters[r]!.tcp, ...(replicas > 1 ? { replica: { index: r, rssTable, entryLoad } } : {}),
      }),
      server(named('udp', r), '../udp/server.js', {
        ...udpOptions, socketTable: udpTables[r]!, stats: udpStatsBlocks[r]!, ...(replicas > 1 ? { replica: { index: r, count: replicas } } : {}),
      }, true),
    ];
    const replicaChannels = (r: number): object[] => {
      const [ip, pf, tcp, udp] = ['ip', 'pf', 'tcp', 'udp'].map((b) => named(b, r));
      return [
        link(`driver.${ip}`, `${ip}.driver`), link(`${ip}.driver`, `driver.${ip}`),
        link(`${ip}.pf`, `${pf}.ip`), link(`${pf}.ip`, `${ip}.pf`),
        link(`${ip}.tcp`, `${tcp}.ip`), link(`${tcp}.ip`, `${ip}.tcp`),
        link(`sock.${tcp}`, `${tcp}.sock`, transport, 256), link(`${tcp}.sock`, `sock.${tcp}`, transport, 256),
        link(`app.${tcp}`, `${tcp}.app`, 'ring', 1024),
        link(`${ip}.udp`, `${udp}.ip`), link(`${udp}.ip`, `${ip}.udp`),
        link(`sock.${udp}`, `${udp}.sock`, transport, 256), link(`${udp}.sock`, `sock.${udp}`, transport, 256),
        link(`app.${udp}`, `${udp}.app`, 'ring', 1024),
      ];
    };
    // With replicas, each replica's pools are smaller (the load is spread), down to what one connection needs.
    const share = (count: number): number => replicas === 1 ? count : Math.max(128, Math.ceil(count * 2 / replicas));
    const replicaPools = (r: number): object[] => {
      const pool = (base: string, owner: string, size: string, count: number): object =>
        ({ name: named(base, r), owner: named(owner, r), size, count: share(count), ...(r > 0 ? { as: base } : {}) });
      return [
        // Segment-size: reassembled datagrams (UDP up to 65507 bytes) travel to PF and UDP from here.
        pool('ip', 'ip', 'segment', 256),
        // Frame-size: the small packets IP builds itself (ICMP, RSTs), copied here for PF and the driver.
        pool('ipsmall', 'ip', 'frame', 1024),
        tso ? pool('tcp', 'tcp', 'segment', 512) : pool('tcp', 'tcp', frameSize, mtu > 1500 ? 512 : 2048),
        // Datagrams up to 65507 bytes are built whole (IP fragments them): segment-size buffers.
        pool('udp', 'udp', 'segment', 256),
      ];
    };
    const all = <T>(make: (r: number) => T[]): T[] => Array.from({ length: replicas }, (_, r) => make(r)).flat();
    const manifest = {
      servers: [
        // A UDP link's socket (bound in the driver's I/O bridge thread) is released only when the
        // thread is gone, so its successor must wait for that (manifest.ts restartAfterExit). TAP
        // devices are opened here, in the application thread, and the switch is shared memory: a
        // driver without UDP links restarts at once.
        { ...server('driver', '../driver/server.js', driverOptions, true), ...(ifaces.some((i) => i.link.type === 'udp') ? { restartAfterExit: true } : {}) },
        ...all(replicaServers),
        server('sock', '../sock/server.js', replicas > 1 ? { replicas, draining } : {}),
      ],
      externals: ['app'],
      channels: [
        ...all(replicaChannels),
        link('app.sock', 'sock.app', 'ring', 256), link('sock.app', 'app.sock', 'ring', 256),
        link('app.ip', 'ip.app', 'ring', 256), link('ip.app', 'app.ip', 'ring', 256),
      ],
      pools: [
        { name: 'rx', owner: 'driver', size: rxSize, count: rxSize === 'segment' ? 512 : 2048 },
        // Copybreak: with segment-size receive buffers (a TAP's super-frames) a frame that fits a
        // frame-size buffer is copied into one of these and the big buffer stays posted, so a burst
        // of small frames (a SYN flood, ACKs, requests) holds 2048 small buffers, not 512 big ones.
        ...(rxSize === 'segment' && frameSize === 'frame' ? [{ name: 'rxsmall', owner: 'driver', size: 'frame', count: 2048 }] : []),
        ...(gro ? [{ name: 'gro', owner: 'driver', size: 'segment', count: 128 }] : []),
        ...all(replicaPools),
      ],
      placement: placement === 'grouped' ? { groups: groupedPlacement(replicas) }
        : { mode: placement === 'monolithic' ? 'monolithic' : 'isolated' },
      ...(options.polling !== undefined ? { polling: options.polling } : {}),
      ...(config.watchdog !== undefined || config.restart !== undefined
        ? { supervisor: { ...(config.watchdog?.hangCpuMs !== undefined ? { hangCpuMs: config.watchdog.hangCpuMs } : {}), ...(config.watchdog?.hangTimeoutMs !== undefined ? { hangTimeoutMs: config.watchdog.hangTimeoutMs } : {}), ...(config.restart !== undefined ? { restart: { ...config.restart } } : {}) } } : {}),
      doorbells: { driver: driverDoorbell },
      // Servers may move between the ring placements while they run (Stack.regroup, the placement monitor).
      regroup: placement === 'isolated' || placement === 'grouped',
    };
    // TAP devices are opened here and their fds handed to the driver, which adopts them: a
    // restarted driver takes over the same device (its kernel-side address, state, MAC and
    // namespace survive), instead of a new one.
    const taps: TapBackend[] = [];
    let supervisor: Supervisor;
    try {
      for (const ifc of ifaces) {
        if (ifc.link.type !== 'tap') continue;
        const mac = ifc.mac === undefined ? undefined : parseMac(ifc.mac);
        taps.push(TapBackend.open({ name: ifc.link.device, vnetHdr: ifc.link.vnetHeader !== false, mtu: ifc.mtu ?? 1500, ...(mac ? { mac } : {}) }));
      }
      ifaces.filter((i) => i.link.type === 'tap').forEach((i, k) => { tapFds[i.name] = taps[k]!.fd; });
      // The driver's thread sleeps beside its first TAP device, woken by ringers through this
      // eventfd: it lives as long as the first device's handle here, longer than any ringer.
      const eventFd = taps.length > 0 ? taps[0]!.wakeEventFd() : -1;
      if (eventFd >= 0) tapWake.eventFd = eventFd;
      supervisor = await Supervisor.start(manifest, options.cores !== undefined ? { cores: options.cores } : {});
    } catch (e) {
      for (const t of taps) await t.close();
      throw e;
    }
    const ends: ExternalEnds = supervisor.external('app');
    const client = new StackClient({
      toSock: new AppOutput(ends.outputs['sock']!),
      fromSock: new AppInput(ends.inputs['sock']!),
      toTcp: socketTables.map((_, r) => new AppOutput(ends.outputs[named('tcp', r)]!)),
      tcpTables: socketTables.map((t) => new SocketTable(t)),
      toUdp: udpTables.map((_, r) => new AppOutput(ends.outputs[named('udp', r)]!)),
      udpTables: udpTables.map((t) => new SocketTable(t)),
      toIp: new AppOutput(ends.outputs['ip']!),
      fromIp: ends.inputs['ip']!,
    });
    const ringDriver = new DoorbellRinger(driverDoorbell);
    const captureChannels = new Map(ifaces.map((ifc, i) => [ifc.name, captures[i]!]));
    const frameLinks = new Map([...frameSwitches].map(([name, d]) => [name, new FrameLink(name, d)]));
    return new Stack(config, supervisor, client, udpStatsBlocks, { channels: captureChannels, wake: () => ringDriver.ringAlways() }, linkStats,
      replicaCounters, driverStats, taps, frameLinks, { replicas, rssTable, draining, entryLoad, entryFrames }, placement, decision);
  }

  /**
   * The frame link of interface `name` (configured `link: { type: 'frames' }`): a Duplex
   * stream of Ethernet frames, what the host sends on the interface out, what it receives in
   * (src/app/frame-link.ts). The same object on every call; closed by close().
   */
  frameLink(name: string): FrameLink {
    const link = this.frameLinks.get(name);
    if (link === undefined) {
      throw new NewtosError('ERR_INVALID_ARG_VALUE', `The argument 'name' must name an interface with link type 'frames' (have: ${[...this.frameLinks.keys()].join(', ') || 'none'}). Received '${String(name)}'`);
    }
    return link;
  }

  /** Statistics of every server, read from shared memory (no message to any server). */
  snapshot(): SystemSnapshot {
    return this.supervisor.snapshot();
  }

  /**
   * The named counters of IP (frame, input and output drops by reason, ICMP, reassembly,
   * buffers) and TCP (drops by reason, retransmits, ...), as each server last published them
   * to shared memory (at most 20 ms old), and the links' (linkStats()); no message to any
   * server. Per incarnation: a restarted server counts from zero again.
   */
  counters(): { ip: CounterTree; tcp: CounterTree; links: LinkStats[] } {
    const all = this.counterBlocks.map((_, r) => this.replicaCounters(r));
    return { ...mergeReplicaCounters(all), links: this.linkStats() };
  }

  /** Replica r's IP and TCP counters (counters() is the whole host's). */
  replicaCounters(r: number): { ip: CounterTree; tcp: CounterTree } {
    const b = this.counterBlocks[r];
    if (b === undefined) throw new NewtosError('ERR_OUT_OF_RANGE', `replica ${r} does not exist (this host has ${this.counterBlocks.length})`);
    return { ip: readCounterBlock(b.ip), tcp: readCounterBlock(b.tcp) };
  }

  /**
   * The packet filters' counters, flows in their state tables and hits per rule, read from their
   * memory (summed over replicas). They outlive a PF restart, as the flows do.
   */
  pfStats(): PfStats {
    // Every replica's PF has its memory (the manifest above), sized for the configuration's rules.
    const states = this.config.limits?.filterStates ?? DEFAULT_PF_CONFIG.maxStates;
    const all = this.counterBlocks.map((_, r) => readPfMemory(this.supervisor.sharedMemory(named('pf', r))!, states));
    return all.length === 1 ? all[0]! : sumCounters(all);
  }

  /** The UDP servers' counters, read from shared memory (summed over replicas). */
  udpStats(): UdpStats {
    const all = this.udpStatsMemory.map((m) => readUdpStats(m));
    return all.length === 1 ? all[0]! : sumCounters(all);
  }

  /**
   * ICMP echo to `address`, as the `ping` command: `count` requests (default 4)
   * `intervalMs` apart (1000), each waited for `timeoutMs` (2000), `size` data
   * bytes (56). Resolves to the replies with round-trip times measured in the
   * IP server, the loss, and ICMP errors or send failures (EHOSTUNREACH, ...).
   */
  ping(address: string, options?: PingOptions): Promise<PingResult> {
    return this.client.ping(address, options);
  }

  /**
   * Each interface's link counters (frames, bytes, drops by reason), as the
   * driver last published them (at most 100 ms old while frames move).
   */
  /** The driver's RSS queue and offload counters, read from shared memory (published every 100 ms while frames move). */
  driverStats(): DriverStats {
    return readDriverStats(this.driverStatsMemory, this.steering.replicas > 1 ? this.steering.replicas : this.config.rss?.queues ?? 1);
  }

  linkStats(): LinkStats[] {
    return readLinkStats(this.linkStatsMemory, this.config.interfaces.map((i) => i.name));
  }

  /**
   * Starts capturing an interface's frames while the host runs: resolves once
   * the driver captures (every later frame reaches `sink`, in order, as a
   * copy); `stop()` on the result switches it off. Nothing is copied or sent
   * while no capture runs. One capture per interface at a time (EBUSY).
   */
  capture(iface: string, sink: CapturedFrameSink, options?: LiveCaptureOptions): Promise<LiveCapture> {
    const channel = this.captureControl.channels.get(iface);
    if (channel === undefined) {
      return Promise.reject(new NewtosError('ERR_INVALID_ARG_VALUE', `no interface '${iface}' (have: ${[...this.captureControl.channels.keys()].join(', ')})`));
    }
    return LiveCapture.start(channel, this.captureControl.wake, sink, options);
  }

  /**
   * Fault injection into a running host: makes `server` (driver, ip, pf, tcp, udp, sock)
   * crash (an uncaught error), hang (a loop without heartbeat, found by the supervisor),
   * exit (process.exit in its thread) or run out of memory (only with `limits.maxHeapMb`,
   * which bounds the thread's heap). Resolves once the supervisor has restarted it, with
   * the cause and the restart time; rejects with ERR_UNKNOWN_SERVER (naming the servers),
   * ERR_INVALID_ARG_VALUE, ERR_OUT_OF_RANGE (replica), ERR_INVALID_STATE (oom without a heap limit), EBUSY (its thread is
   * restarting, or the servers are moving between threads), ERR_SERVER_FAILED (crash loop: not
   * restarted) or ETIMEDOUT.
   */
  inject(server: string, fault: FaultKind = 'crash', options: InjectOptions = {}): Promise<InjectResult> {
    return this.untilRecovered(server, options, {
      after: `after the ${fault} fault`,
      checkKind: () => FAULT_KINDS.includes(fault) ? null : new NewtosError('ERR_INVALID_ARG_VALUE', `fault must be one of ${FAULT_KINDS.join(', ')}, not '${String(fault)}'`),
      checkTarget: () => fault === 'oom' && this.config.limits?.maxHeapMb === undefined
        ? new NewtosError('ERR_INVALID_STATE', 'an oom fault needs the host configured with limits.maxHeapMb (without it the thread would fill the machine\'s memory before it dies)')
        : null,
      act: (target) => this.supervisor.inject(target, fault),
      failed: (target, d) => new NewtosError('ERR_SERVER_FAILED', `${target} was not restarted: ${String(d['restartsInWindow'])} restarts within ${String(d['windowMs'])} ms (crash loop)`),
    }).then((r) => ({ ...r, fault }));
  }

  /**
   * Brings back a server the crash-loop limit gave up (`restart.maxRestarts` deaths within
   * `restart.windowMs`: it is 'failed' and, for PF, IP or the driver, the host passes no traffic):
   * its thread restarts as after a death, with a fresh restart window, and its successor takes
   * over what the checkpoints kept (TCP connections included). Resolves once it runs, with the
   * failure's cause and reason and the time from the death that failed it; rejects with
   * ERR_UNKNOWN_SERVER, ERR_OUT_OF_RANGE / ERR_INVALID_ARG_VALUE (replica), ERR_INVALID_STATE (the
   * server has not failed), ERR_SERVER_FAILED (it failed again at once) or ETIMEDOUT.
   */
  revive(server: string, options: InjectOptions = {}): Promise<Omit<InjectResult, 'fault'>> {
    return this.untilRecovered(server, options, {
      after: 'of its revival',
      act: (target) => this.supervisor.revive(target),
      failed: (target) => new NewtosError('ERR_SERVER_FAILED', `${target} failed again after its revival`),
    });
  }

  /**
   * inject and revive: the server `options.replica` names (checked in this order: the name,
   * `checkKind`, the replica, `checkTarget`), `act` on it, then wait for its next generation's
   * 'recovered' event (resolves) or 'failed' one (rejects with `failed`).
   */
  private untilRecovered(server: string, options: InjectOptions, how: {
    readonly after: string;
    readonly checkKind?: () => Error | null;
    readonly checkTarget?: () => Error | null;
    readonly act: (target: string) => void;
    readonly failed: (target: string, detail: Readonly<Record<string, unknown>>) => Error;
  }): Promise<Omit<InjectResult, 'fault'>> {
    const { after, act, failed } = how;
    const names = this.supervisor.serverNames();
    if (typeof server !== 'string' || !names.includes(server)) {
      return Promise.reject(new NewtosError('ERR_UNKNOWN_SERVER', `no server named "${String(server)}" (servers: ${names.join(', ')})`));
    }
    const kindError = how.checkKind?.() ?? null;
    if (kindError !== null) return Promise.reject(kindError);
    const replica = options.replica ?? 1;
    const replicas = this.config.replicas ?? 1;
    if (!Number.isInteger(replica) || replica < 1 || replica > replicas) {
      return Promise.reject(new NewtosError('ERR_OUT_OF_RANGE', `replica must be an integer from 1 to ${replicas} (this host runs ${replicas === 1 ? 'one replica' : `${replicas} replicas`}), not ${String(replica)}`));
    }
    const target = replica === 1 || /-\d+$/.test(server) ? server : `${server}-${replica - 1}`;
    if (!names.includes(target)) {
      return Promise.reject(new NewtosError('ERR_INVALID_ARG_VALUE', `${server} is shared by every replica: it has no replica ${replica} (replicated servers: ${names.filter((n) => /-\d+$/.test(n)).join(', ')})`));
    }
    const targetError = how.checkTarget?.() ?? null;
    if (targetError !== null) return Promise.reject(targetError);
    const timeoutMs = options.timeoutMs ?? 15_000;
    const sup = this.supervisor;
    const next = sup.generation(target) + 1;
    return new Promise((resolve, reject) => {
      const done = (err: Error | null, r?: Omit<InjectResult, 'fault'>): void => {
        clearTimeout(timer);
        sup.off('event', onEvent);
        if (err !== null) reject(err); else resolve(r!);
      };
      const onEvent = (e: SupervisorEvent): void => {
        // A server given up fails in the generation that died (inject), or the revived one.
        if (e.server !== target || (e.generation ?? 0) < (e.type === 'failed' ? next - 1 : next)) return;
        const d = e.detail ?? {};
        if (e.type === 'recovered') done(null, { server: target, cause: String(d['cause']), reason: String(d['reason']), generation: e.generation!, restartMs: Number(d['restartMs']) });
        else if (e.type === 'failed') done(failed(target, d));
      };
      const timer = setTimeout(() => done(new NewtosError('ETIMEDOUT', `${target} did not run again within ${timeoutMs} ms ${after}`)), timeoutMs);
      sup.on('event', onEvent);
      try {
        act(target);
      } catch (e) {
        done(e as Error);
      }
    });
  }

  /** Fast-socket operation counts of this application. */
  socketStats(): ReturnType<StackClient['socketStats']> {
    return this.client.socketStats();
  }

  /**
   * Lets the process exit once the application has nothing else to do, without close(): the
   * servers' threads no longer keep it alive (open sockets, listeners and timers still do).
   */
  unref(): this {
    this.supervisor.unref();
    return this;
  }

  async close(): Promise<void> {
    if (this.monitorTimer !== undefined) clearInterval(this.monitorTimer);
    if (this.placementTimer !== undefined) clearInterval(this.placementTimer);
    this.client.close();
    for (const l of this.frameLinks.values()) l.destroy();
    await this.supervisor.stop();
    this.client.abandonSockets();
    for (const t of this.taps) await t.close();
  }
}

/** Field-wise sum of counter objects of one shape (numbers added, objects recursed). */
/**
 * The host's IP and TCP counters over its replicas: counts and gauges summed, except that a
 * listener (which listens in every replica) counts once and TCP's RTT summary is merged
 * (minimum, maximum, mean weighted by connections).
 */
function mergeReplicaCounters(all: readonly { ip: CounterTree; tcp: CounterTree }[]): { ip: CounterTree; tcp: CounterTree } {
  if (all.length === 1) return all[0]!;
  type Rtt = { connections: number; minMs: number; meanMs: number; maxMs: number };
  const tcp = sumCounters(all.map((x) => x.tcp)) as Record<string, unknown>;
  const states = tcp['connections'] as Record<string, number> | undefined;
  if (states !== undefined && 'listen' in states) {
    states['listen'] = Math.max(...all.map((x) => (x.tcp['connections'] as Record<string, number> | undefined)?.['listen'] ?? 0));
  }
  if (tcp['rtt'] !== undefined) {
    const rtts = all.map((x) => x.tcp['rtt'] as Rtt | undefined).filter((r): r is Rtt => r !== undefined && r.connections > 0);
    const n = rtts.reduce((a, r) => a + r.connections, 0);
    tcp['rtt'] = n === 0 ? { connections: 0, minMs: 0, meanMs: 0, maxMs: 0 } : {
      connections: n, minMs: Math.min(...rtts.map((r) => r.minMs)), maxMs: Math.max(...rtts.map((r) => r.maxMs)),
      meanMs: rtts.reduce((a, r) => a + r.meanMs * r.connections, 0) / n,
    };
  }
  return { ip: sumCounters(all.map((x) => x.ip)), tcp: tcp as CounterTree };
}

function sumCounters<T>(all: readonly T[]): T {
  const add = (a: unknown, b: unknown): unknown => {
    if (typeof a === 'number' && typeof b === 'number') return a + b;
    if (Array.isArray(a) && Array.isArray(b)) return a.map((v: unknown, i) => add(v, b[i]));
    if (typeof a === 'object' && a !== null && typeof b === 'object' && b !== null) {
      return Object.fromEntries(Object.entries(a).map(([k, v]) => [k, add(v, (b as Record<string, unknown>)[k])]));
    }
    return a;
  };
  return all.slice(1).reduce((acc, x) => add(acc, x) as T, all[0]!);
}

export function createStack(config: unknown, options?: StackOptions): Promise<Stack> {
  return Stack.start(config, options);
}
