/**
 * The supervisor: the microkernel and reincarnation-server roles, off the
 * data path. From a validated manifest it creates every ring, doorbell,
 * control block and packet pool, starts each thread (placement group) on a
 * warm spare worker with only the endpoints the manifest grants its servers,
 * and then only watches:
 *
 * - crash: the worker's 'error' (uncaught exception; ERR_WORKER_OUT_OF_MEMORY
 *   when resourceLimits are hit) or 'exit' events;
 * - hang: a thread's heartbeat words unchanged while it ran hangCpuMs on a CPU (its own
 *   clock, so waiting for a core never counts; a server's own hangCpuMs, the longest of a
 *   thread's servers, replaces it), or unchanged for hangTimeoutMs while its
 *   input rings hold messages (the thread is then terminated).
 *
 * Restart: buffers the dead servers HELD go back to their owners (pool.ts),
 * generation + 1, the thread's channels (same rings: nothing published is
 * lost) are handed to a warm spare that already loaded the server modules,
 * so the successor runs within a few ms instead of a worker start (~20-25
 * ms here); for servers marked `restartAfterExit` (OS resources that go only
 * with their thread, like the driver's TAP fd) only after the dead thread has
 * exited (reap). A thread whose servers allow it (`standby`) also has a warm
 * standby that built the next generation ahead and waits on a shared word:
 * the dying thread promotes it on its way out, so the successor runs without
 * waiting for this thread at all (takeover.ts); the supervisor learns of it
 * afterwards, counts the restart and arms the next standby once the restart
 * policy would restart at once again (no back-off pending). Once it says 'running', every peer gets a 'peer-restarted'
 * control message (onPeerRestart: re-send outstanding requests, drop replies
 * of the old generation). Quick successive restarts back off exponentially;
 * more than maxRestarts within windowMs marks the server failed (crash loop).
 * Every event is appended to `events` with a timestamp and emitted as 'event'.
 *
 * Statistics (`snapshot()`) are read straight from shared memory, never by
 * asking a server. `inject()` crashes, hangs, exits or OOMs any server.
 */
import { EventEmitter } from 'node:events';
import { availableParallelism, loadavg } from 'node:os';
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import { createRing, ringCounters, ringOccupancy } from './ring.js';
import { countWakesIn, createDoorbell, DoorbellRinger, forgetBells, knowBells } from './doorbell.js';
import { createPool, poolCensus, PoolGeometry } from './pool.js';
import { ControlBlock, createControlBlock, monotonicMs, type ServerCounters } from './stats.js';
import { SupervisorDataStore, type StoreWrite } from './data-store.js';
import { formatIssues, partitionIssues, validateManifest, type ChannelSpec, type Manifest, type ManifestIssue, type PoolManifestSpec, type ServerSpec } from './manifest.js';
import type { ChannelGrant, HostAssignment, HostReport, ServerAssignment } from './host.js';
import { POLL_MODES, type ControlMessage, type FaultKind } from './server-loop.js';
import { ThreadMonitor, type ThreadDecision, type ThreadMonitorOptions } from './thread-monitor.js';
import { execFile } from 'node:child_process';
import {
  deathTime, promoteStandby, reclaimFor, releaseDeadLoop, STANDBY_ARMED, STANDBY_ARMING, STANDBY_DROPPED, STANDBY_PROMOTED,
} from './takeover.js';
import type { StandbyReport, StandbyTakeover } from './worker-host.js';
import { readFileSync } from 'node:fs';
import {
  BELL_FORWARD, BELL_ID, BELL_STANDBY, MSG_WORDS, ServerState,
  SYS_CORES, SYS_LOADAVG_X100, SYS_RUNNABLE, SYS_WORDS, BELL_POLLING, BELL_SLEEPING, BELL_TID, POLL_OVERRIDE_NONE,
} from './layout.js';
import { NewtosError } from '../errors.js';

export type SupervisorEventType =
  | 'spawn' | 'spare-ready' | 'running' | 'crash' | 'oom' | 'exit' | 'hang' | 'backoff' | 'restart'
  | 'failed' | 'first-message' | 'peer-notified' | 'reclaim' | 'fault-injected' | 'stopped' | 'log' | 'reaped' | 'recovered'
  | 'thread-monitor' | 'standby' | 'regroup' | 'revive';

export interface SupervisorEvent {
  /** Monotonic ms (stats.ts monotonicMs). */
  readonly t: number;
  /** Wall-clock ms since the epoch. */
  readonly wall: number;
  readonly type: SupervisorEventType;
  readonly server?: string;
  readonly generation?: number;
  readonly detail?: Readonly<Record<string, unknown>>;
}

/** One restart, from death to the successor's first processed message. */
export interface Recovery {
  readonly server: string;
  readonly generation: number;
  readonly cause: 'crash' | 'oom' | 'exit' | 'hang';
  /** Why, in words: the thread's error, its exit code, or how long its heartbeat stood still. */
  readonly reason: string;
  /** When the server died (the injected fault's own timestamp when known). */
  readonly downAt: number;
  /** When the supervisor noticed. */
  readonly detectedAt: number;
  /** When the successor said it runs (NaN until then); runningAt - downAt is the restart time. */
  runningAt: number;
  firstMessageAt: number;
  /** firstMessageAt - downAt, ms (NaN until the successor processed a message). */
  recoveryMs: number;
  /** The successor was the thread's warm standby (promoted, not activated by the supervisor). */
  readonly standby?: boolean;
}

export interface ChannelStats {
  readonly endpoint: string;
  readonly peer: string;
  readonly transport: 'ring' | 'port';
  /** Messages published (outputs) or freed (inputs) on the ring, ever. */
  readonly messages: number;
  readonly occupancy: number;
}

export interface ServerSnapshot extends ServerCounters {
  readonly name: string;
  /** Name of the first server of its thread (owner of the loop counters). */
  readonly thread: string;
  readonly stateName: string;
  /**
   * The longest CPU time its thread ran without a heartbeat that the watchdog saw, ms: the
   * margin against `hangRuleMs`. Timed from the watchdog's first look at a still
   * heartbeat, so it understates by up to hangCheckMs (0: none seen).
   */
  readonly longestSilentCpuMs: number;
  /** The CPU hang rule of its thread now, ms (the longest of its servers' hangCpuMs; the supervisor's for those without). */
  readonly hangRuleMs: number;
  readonly inputs: readonly ChannelStats[];
  readonly outputs: readonly ChannelStats[];
}

export interface PoolSnapshot {
  readonly name: string;
  readonly owner: string;
  readonly buffers: number;
  readonly free: number;
  readonly held: number;
  readonly inFlight: number;
  readonly returned: number;
}

export interface SystemSnapshot {
  readonly at: number;
  readonly runnableThreads: number;
  readonly cores: number;
  readonly servers: readonly ServerSnapshot[];
  readonly pools: readonly PoolSnapshot[];
}

export interface SupervisorStartOptions {
  /** Override the worker entry (tests). */
  readonly workerEntry?: URL;
  /** Override the number of cores the polling policy assumes. */
  readonly cores?: number;
  /** Bound on start(): every server running within this many ms, else ETIMEDOUT (default 30 s). */
  readonly startTimeoutMs?: number;
}

/** Default SupervisorStartOptions.startTimeoutMs. */
export const START_TIMEOUT_MS = 30_000;

interface ServerRt {
  readonly spec: ServerSpec;
  readonly index: number;
  readonly cb: ControlBlock;
  /** Its memory that outlives its threads (spec.sharedBytes), made once. */
  readonly shared?: SharedArrayBuffer;
  /**
   * The doorbell its producers ring: its thread's, or with manifest.regroup one of its own,
   * forwarded to its thread's while another server leads that thread (doorbell.ts).
   */
  bell: SharedArrayBuffer;
  group: GroupRt;
  readonly inputs: ChannelRt[];
  readonly outputs: ChannelRt[];
  lastHeartbeat: number;
  lastBeatChange: number;
  /** The generation whose 'running' the supervisor took last (a standby bumps the generation before). */
  runningGeneration: number;
}

interface ChannelRt {
  readonly spec: ChannelSpec;
  readonly from: ServerRt;
  readonly fromEndpoint: string;
  readonly to: ServerRt;
  readonly toEndpoint: string;
  readonly sab: SharedArrayBuffer | null;
  /** For port transport: the ends not yet handed out. */
  fromPort: MessagePort | null;
  toPort: MessagePort | null;
}

interface PoolRt {
  readonly spec: PoolManifestSpec;
  readonly id: number;
  readonly sab: SharedArrayBuffer;
  readonly owner: ServerRt;
  readonly geometry: PoolGeometry;
}

interface GroupRt {
  readonly id: number;
  readonly servers: ServerRt[];
  readonly doorbell: SharedArrayBuffer;
  readonly ringer: DoorbellRinger;
  readonly limitsKey: string;
  worker: Worker | null;
  control: MessagePort | null;
  state: 'starting' | 'running' | 'dead' | 'failed' | 'stopping' | 'stopped';
  loopStarted: boolean;
  deathHandled: boolean;
  restartTimes: number[];
  consecutive: number;
  lastRestartAt: number;
  /** Why the crash-loop limit gave the thread up (state 'failed'), for revive(). */
  failure: { readonly cause: Recovery['cause']; readonly reason: string; readonly at: number } | null;
  pendingRecoveries: Recovery[];
  running: Promise<void>;
  resolveRunning: () => void;
  activatedAt: number;
  /** The thread's warm standby (built, or being built), if it has one. */
  standby: StandbyRt | null;
  /** Whether the thread may have a standby at all (servers allow it, rings only, no pool owned). */
  standbyAllowed: boolean;
  standbyTimer: NodeJS.Timeout | undefined;
  /** The thread's CPU time (ns) when the hang detector first saw its heartbeat still while it ran; NaN: none. */
  hangCpuFromNs: number;
  /** The longest CPU time (ms) the thread ran without a heartbeat that the hang detector saw end. */
  longestSilentCpuMs: number;
  /**
   * Whether the CPU hang rule applies: rings only. A port channel takes any number of messages
   * in one pass (no back-pressure), so a thread may flush thousands in one long silent stretch
   * (24-52 ms of CPU seen for 20000 messages); such threads have the wall-clock rule alone.
   */
  cpuRule: boolean;
}

/** What Supervisor.regroup did. */
export interface RegroupResult {
  /** The threads before and after, by server names. */
  readonly from: readonly (readonly string[])[];
  readonly to: readonly (readonly string[])[];
  /** Threads stopped and started (threads whose servers stayed together kept running). */
  readonly stopped: number;
  readonly started: number;
  /** From the call until every new thread ran, ms (the new threads' workers start first). */
  readonly durationMs: number;
  /** From the first thread told to stop until every new thread ran, ms: what the moved servers paused. */
  readonly pauseMs: number;
}

type RunningReport = { kind: 'running'; receivedAt: number; builtAt: number; standby?: StandbyReport };
type WorkerReport = HostReport | RunningReport | { kind: 'stopped' } | { kind: 'retired' } | { kind: 'spare-ready' } | { kind: 'armed' }
  | { kind: 'exiting'; code: number } | { kind: 'crashing'; error: string; name?: string };

interface StandbyRt {
  readonly worker: Worker;
  /** The supervisor's end of the standby's control port (the group's once it takes over). */
  readonly control: MessagePort;
  /** The generation it built. */
  readonly generation: number;
  /** Its 'running' report, when it came before the supervisor learnt of the death it followed. */
  pendingRunning: RunningReport | null;
  /** It died after its promotion, before the supervisor adopted it. */
  died: { cause: Recovery['cause']; detail: Record<string, unknown> } | null;
}

interface Spare {
  readonly worker: Worker;
  readonly ready: Promise<boolean>;
}

const STATE_NAMES = ['starting', 'running', 'dead', 'failed', 'stopped'];
const REFILL_DELAY_MS = 100;
/** A standby is armed this long after its thread runs (not to compete with a start or a successor for CPU). */
const STANDBY_DELAY_MS = 200;
/** After a standby died before it was needed: wait this long before the next. */
const STANDBY_RETRY_MS = 2000;
/**
 * A dead thread of a group with `restartAfterExit` gets this long to exit by
 * itself (a crashed one is still unwinding when its 'crashing' report comes),
 * then terminate(), and that much again to be gone; after that its successor
 * starts anyway (and may find the resource busy: a crash and a retry).
 */
const EXIT_WAIT_MS = 500;
/** A thread told to retire (Supervisor.regroup) that has not ended after this long is terminated. */
const RETIRE_WAIT_MS = 1000;
/** After a thread's 'error' event, the longest wait for its 'crashing' report or 'exit' before restarting it (watchWorker). */
const ERROR_EXIT_WAIT_MS = 100;

export interface ExternalInput {
  readonly ring: SharedArrayBuffer;
  /** The external party's own doorbell (wait on it). */
  readonly doorbell: SharedArrayBuffer;
  /** The producing server's doorbell (ring it after freeing slots if the producer waits). */
  readonly producerDoorbell: SharedArrayBuffer;
  readonly peer: string;
}

export interface ExternalOutput {
  readonly ring: SharedArrayBuffer;
  /** The consuming server's doorbell (ring it after publishing). */
  readonly doorbell: SharedArrayBuffer;
  readonly peer: string;
}

export interface ExternalEnds {
  readonly doorbell: SharedArrayBuffer;
  readonly inputs: Readonly<Record<string, ExternalInput>>;
  readonly outputs: Readonly<Record<string, ExternalOutput>>;
}

/**
 * Forwards a server thread's stdout/stderr to the process's own. Reading a thread's stream
 * refs the thread's internal port in Node 20 (a stream the parent reads keeps the process
 * alive), which Node itself turns off for the streams it pipes by default; without the same
 * switch a host whose threads are unref()'d would still hold the process. The switch is a
 * symbol Node does not export, found by its description; where it is missing only unref()
 * is weaker (the process waits for the host's close()).
 */
function forwardOutput(from: NodeJS.ReadableStream, to: NodeJS.WritableStream): void {
  const k = Object.getOwnPropertySymbols(from).find((sym) => sym.description === 'kIncrementsPortRef');
  if (k !== undefined) (from as unknown as Record<symbol, unknown>)[k] = false;
  from.on('data', (b: Buffer) => { to.write(b); });
}

/**
 * One system block (layout.ts SYS_*) for every host this process runs: the loops' spin gate
 * counts the runnable server threads of all of them, since they share the machine's cores
 * (two hosts on a virtual switch, each counting only its own threads, would both spin on
 * two cores). This thread's ringers (the application's) count the loops they wake into it.
 */
let processSystem: SharedArrayBuffer | null = null;
function processSystemBlock(): SharedArrayBuffer {
  if (processSystem === null) {
    processSystem = new SharedArrayBuffer(SYS_WORDS * 4);
    countWakesIn(processSystem);
  }
  return processSystem;
}

export class Supervisor extends EventEmitter {
  readonly manifest: Manifest;
  readonly events: SupervisorEvent[] = [];
  readonly recoveries: Recovery[] = [];
  readonly store = new SupervisorDataStore();
  private readonly servers: ServerRt[] = [];
  private readonly byName = new Map<string, ServerRt>();
  /** External parties (manifest.externals): a stand-in ServerRt each, never started or watched. */
  private readonly externalRts = new Map<string, ServerRt>();
  private readonly channels: ChannelRt[] = [];
  private readonly pools: PoolRt[] = [];
  private readonly groups: GroupRt[] = [];
  private threadMonitor: ThreadMonitor | null = null;
  private threadMonitorTimer: NodeJS.Timeout | undefined;
  /** The process's system block, shared by every supervisor here (processSystemBlock). */
  private readonly system = processSystemBlock();
  private readonly sys = new Int32Array(this.system);
  /** Cores this host's polling and thread monitor assume (SupervisorStartOptions.cores, else the machine's). */
  readonly cores: number;
  private readonly spares = new Map<string, Spare[]>();
  /** Workers whose thread has exited ('exit' seen). */
  private readonly exitedWorkers = new WeakSet<Worker>();
  private readonly workerEntry: URL;
  private readonly modules: string[];
  private hangTimer: NodeJS.Timeout | null = null;
  /** When checkHangs last read the load average (monotonic ms). */
  private loadavgReadAt = -Infinity;
  private firstMsgTimer: NodeJS.Timeout | null = null;
  private stopping = false;
  /**
   * Set while start() runs: a server that dies before every server first ran fails the
   * start with its error (a port in use, a device that cannot be opened), not a restart
   * loop that never reports.
   */
  private failStart: ((err: Error) => void) | null = null;
  /** Whether the server threads may let the process exit (unref()). */
  private threadsUnrefd = false;

  private constructor(manifest: Manifest, opts: SupervisorStartOptions) {
    super();
    this.manifest = manifest;
    this.workerEntry = opts.workerEntry ?? new URL('./worker-host.js', import.meta.url);
    this.modules = [...new Set(manifest.servers.map((s) => s.module))];
    this.cores = opts.cores ?? availableParallelism();
    // The block is the process's: the loops' spin gate assumes the most cores any host here was given.
    for (let c = Atomics.load(this.sys, SYS_CORES); c < this.cores; c = Atomics.load(this.sys, SYS_CORES)) {
      if (Atomics.compareExchange(this.sys, SYS_CORES, c, this.cores) === c) break;
    }
    Atomics.store(this.sys, SYS_LOADAVG_X100, Math.round(loadavg()[0]! * 100));
    this.build();
  }

  /** Validates the manifest (throws ERR_MANIFEST naming each bad field), builds and starts everything. */
  static async start(manifest: unknown, opts: SupervisorStartOptions = {}): Promise<Supervisor> {
    const r = validateManifest(manifest);
    if (!r.ok) throw manifestError(r.issues);
    const sup = new Supervisor(r.value, opts);
    await sup.startAll(opts.startTimeoutMs ?? START_TIMEOUT_MS);
    return sup;
  }

  // ---------------------------------------------------------------- build

  private build(): void {
    const m = this.manifest;
    m.servers.forEach((spec, index) => {
      const cb = new ControlBlock(createControlBlock());
      cb.prepareSuccessor(1, false);
      const rt: ServerRt = {
        spec, index, cb, ...(spec.sharedBytes !== undefined ? { shared: new SharedArrayBuffer(spec.sharedBytes) } : {}), bell: m.doorbells[spec.name] ?? (m.regroup ? createDoorbell() : undefined as unknown as SharedArrayBuffer),
        group: undefined as unknown as GroupRt, inputs: [], outputs: [], lastHeartbeat: -1, lastBeatChange: 0, runningGeneration: 0,
      };
      this.servers.push(rt); this.byName.set(spec.name, rt);
    });
    if (m.regroup) knowBells(this.servers.map((s) => s.bell));
    for (const names of m.groups) {
      const servers = names.map((n) => this.byName.get(n)!);
      if (m.regroup) { this.groups.push(this.newGroup(servers)); continue; }
      const doorbell = names.map((n) => m.doorbells[n]).find((d) => d !== undefined) ?? createDoorbell();
      const g = this.newGroup(servers, doorbell);
      for (const s of servers) s.bell = doorbell;
      this.groups.push(g);
    }
    for (const name of m.externals) this.externalRts.set(name, this.externalStandIn(name));
    const party = (name: string): ServerRt => this.byName.get(name) ?? this.externalRts.get(name)!;
    for (const spec of m.channels) {
      const [fromName, fromEndpoint] = spec.from.split('.') as [string, string];
      const [toName, toEndpoint] = spec.to.split('.') as [string, string];
      const from = party(fromName); const to = party(toName);
      const ch: ChannelRt = {
        spec, from, fromEndpoint, to, toEndpoint,
        sab: spec.transport === 'ring' ? createRing(spec.capacity, MSG_WORDS) : null,
        fromPort: null, toPort: null,
      };
      if (spec.transport === 'port') { const mc = new MessageChannel(); ch.fromPort = mc.port1; ch.toPort = mc.port2; }
      from.outputs.push(ch); to.inputs.push(ch);
      this.channels.push(ch);
    }
    m.pools.forEach((spec, id) => {
      const sab = createPool({ id, bufSize: spec.bufSize, count: spec.count });
      this.pools.push({ spec, id, sab, owner: this.byName.get(spec.owner)!, geometry: new PoolGeometry(sab) });
    });
    for (const g of this.groups) { g.standbyAllowed = this.standbyAllowed(g); g.cpuRule = ringsOnly(g); }
  }

  private nextGroupId = 0;

  /**
   * A thread for `servers` (not started). Its doorbell: `doorbell`, or with manifest.regroup
   * its leader's own, where the others' forward to (a server with a doorbell made elsewhere
   * leads, so whatever rings that doorbell need not know of forwards).
   */
  private newGroup(list: readonly ServerRt[], doorbell?: SharedArrayBuffer): GroupRt {
    const servers = [...list];
    if (doorbell === undefined) {
      const lead = servers.findIndex((s) => this.manifest.doorbells[s.spec.name] !== undefined);
      if (lead > 0) servers.unshift(...servers.splice(lead, 1));
      doorbell = servers[0]!.bell;
      const leaderId = Atomics.load(new Int32Array(doorbell), BELL_ID);
      for (const s of servers) Atomics.store(new Int32Array(s.bell), BELL_FORWARD, s === servers[0] ? 0 : leaderId);
    }
    const limits = servers.find((s) => s.spec.resourceLimits)?.spec.resourceLimits;
    let resolveRunning = (): void => {};
    const running = new Promise<void>((res) => { resolveRunning = res; });
    const g: GroupRt = {
      id: this.nextGroupId++, servers, doorbell, ringer: new DoorbellRinger(doorbell), limitsKey: JSON.stringify(limits ?? {}),
      worker: null, control: null, state: 'starting', loopStarted: false, deathHandled: false,
      restartTimes: [], consecutive: 0, lastRestartAt: -Infinity, failure: null, pendingRecoveries: [], running, resolveRunning, activatedAt: 0,
      standby: null, standbyAllowed: false, standbyTimer: undefined, hangCpuFromNs: NaN, longestSilentCpuMs: 0, cpuRule: true,
    };
    for (const s of servers) s.group = g;
    return g;
  }

  /** Whether a thread may have a warm standby: its servers allow it, rings only, no pool owned. */
  private standbyAllowed(g: GroupRt): boolean {
    return this.manifest.supervisor.spares > 0
      && g.servers.every((s) => s.spec.standby === true && s.spec.restartAfterExit !== true)
      && ringsOnly(g)
      && !this.pools.some((p) => p.owner.group === g);
  }

  /** A ServerRt for an external party: only its doorbell and channel lists are used. */
  private externalStandIn(name: string): ServerRt {
    const doorbell = createDoorbell();
    const group = {
      id: -1, servers: [], doorbell, ringer: new DoorbellRinger(doorbell), limitsKey: '', worker: null, control: null,
      state: 'running', loopStarted: false, deathHandled: false, restartTimes: [], consecutive: 0,
      lastRestartAt: -Infinity, failure: null, pendingRecoveries: [], running: Promise.resolve(), resolveRunning: () => {},
    } as unknown as GroupRt;
    const cb = new ControlBlock(createControlBlock());
    const rt: ServerRt = {
      spec: { name, module: '', options: {} }, index: -1, cb, bell: doorbell, group, inputs: [], outputs: [], lastHeartbeat: -1, lastBeatChange: 0, runningGeneration: 0,
    };
    group.servers.push(rt);
    return rt;
  }

  /**
   * The channel ends of an external party (manifest.externals), for the thread
   * that plays it (the application): per endpoint the ring and the doorbell to
   * ring after publishing (outputs: the consumer's) or to wait on (inputs: its
   * own), and for inputs also the producer's doorbell, to ring after freeing
   * slots when the producer waits for space.
   */
  external(name: string): ExternalEnds {
    const rt = this.externalRts.get(name);
    if (rt === undefined) throw new NewtosError('ERR_INVALID_ARG_VALUE', `"${name}" is not an external party of this manifest`);
    const inputs: Record<string, ExternalInput> = {};
    const outputs: Record<string, ExternalOutput> = {};
    for (const c of rt.inputs) inputs[c.toEndpoint] = { ring: c.sab!, doorbell: rt.group.doorbell, producerDoorbell: c.from.bell, peer: c.from.spec.name };
    for (const c of rt.outputs) outputs[c.fromEndpoint] = { ring: c.sab!, doorbell: c.to.bell, peer: c.to.spec.name };
    return { doorbell: rt.group.doorbell, inputs, outputs };
  }

  /**
   * Starts every group; rejects (after stopping what started) when a server dies before all
   * run, with that server's error and code, or when they do not all run within `timeoutMs`.
   */
  private async startAll(timeoutMs: number): Promise<void> {
    const takes = this.groups.map((g) => this.spawn(g.limitsKey, this.resourceLimitsOf(g)));
    for (const key of new Set(this.groups.map((g) => g.limitsKey))) this.fillSpares(key);
    const failed = new Promise<never>((_, reject) => { this.failStart = reject; });
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const late = this.groups.filter((g) => g.state !== 'running').flatMap((g) => g.servers.map((s) => s.spec.name));
        reject(new NewtosError('ETIMEDOUT', `start-up timed out: ${late.join(', ')} not running after ${timeoutMs} ms`));
      }, timeoutMs);
    });
    const start = async (): Promise<void> => {
      const workers = await Promise.all(takes.map(async (s) => { await s.ready; return s.worker; }));
      this.groups.forEach((g, i) => this.activate(g, workers[i]!));
      await Promise.all(this.groups.map((g) => g.running));
    };
    try {
      await Promise.race([start(), failed, timedOut]);
    } catch (e) {
      this.failStart = null;
      await this.stop(0);
      for (const s of takes) await s.worker.terminate();
      throw e;
    } finally {
      clearTimeout(timer);
      this.failStart = null;
    }
    this.hangTimer = setInterval(() => this.checkHangs(), this.manifest.supervisor.hangCheckMs);
    this.hangTimer.unref();
    for (const g of this.groups) this.scheduleStandby(g, STANDBY_DELAY_MS);
  }

  private resourceLimitsOf(g: GroupRt): ServerSpec['resourceLimits'] {
    return g.servers.find((s) => s.spec.resourceLimits)?.spec.resourceLimits;
  }

  // ---------------------------------------------------------------- workers

  private spawn(limitsKey: string, limits: ServerSpec['resourceLimits']): Spare {
    const worker = new Worker(this.workerEntry, {
      workerData: { preload: this.modules },
      ...(limits ? { resourceLimits: limits } : {}),
      // Not piped into process.stdout by Node (a pipe per thread: 'unpipe', 'error', 'close',
      // ... listeners on process.stdout, so a few stacks push it past its 10 listeners and
      // every later pipe into it warns MaxListenersExceededWarning). Forwarded with a
      // listener on the thread's own stream instead: any number of stacks, no warning.
      stdout: true, stderr: true,
    });
    forwardOutput(worker.stdout, process.stdout);
    forwardOutput(worker.stderr, process.stderr);
    worker.once('exit', () => this.exitedWorkers.add(worker));
    this.log('spawn', undefined, undefined, { limits: limitsKey, threadId: worker.threadId });
    const ready = new Promise<boolean>((resolve) => {
      const done = (ok: boolean): void => {
        worker.off('message', onMsg); worker.off('error', onErr); worker.off('exit', onExit);
        resolve(ok);
      };
      const onMsg = (m: { kind?: string }): void => { if (m.kind === 'spare-ready') done(true); };
      const onErr = (err: Error): void => { this.log('crash', undefined, undefined, { spare: true, error: String(err) }); done(false); };
      const onExit = (): void => done(false);
      worker.on('message', onMsg); worker.on('error', onErr); worker.on('exit', onExit);
    });
    // After the listeners: a 'message' listener added to a worker refs it again in Node 20.
    if (this.threadsUnrefd) worker.unref();
    return { worker, ready };
  }

  private fillSpares(key: string): void {
    if (this.stopping) return;
    const list = this.spares.get(key) ?? [];
    this.spares.set(key, list);
    const limits = JSON.parse(key) as ServerSpec['resourceLimits'];
    while (list.length < this.manifest.supervisor.spares) {
      const s = this.spawn(key, Object.keys(limits ?? {}).length > 0 ? limits : undefined);
      list.push(s);
      void s.ready.then((ok) => {
        if (ok) this.log('spare-ready');
        else { const i = list.indexOf(s); if (i >= 0) list.splice(i, 1); }
      });
    }
  }

  /**
   * A ready spare for the group. The replacement spare is not started here but
   * once the successor says 'running', and REFILL_DELAY_MS after that (refillAfter):
   * a worker start burns ~20 ms of CPU and up to ~300 ms of a loaded 2-core
   * machine's time, which would delay the successor we are starting right now
   * (its activation message, its build, its first messages).
   */
  private takeSpare(g: GroupRt): Promise<Worker> {
    return this.takeSpareOf(g.limitsKey, this.resourceLimitsOf(g));
  }

  private async takeSpareOf(limitsKey: string, limits: ServerSpec['resourceLimits']): Promise<Worker> {
    const list = this.spares.get(limitsKey) ?? [];
    while (list.length > 0) {
      const s = list.shift()!;
      if (await s.ready) return s.worker;
    }
    const s = this.spawn(limitsKey, limits);
    if (!(await s.ready)) throw new NewtosError('ERR_WORKER_START', 'a server thread failed to start');
    return s.worker;
  }

  /** Refills the spares of a group's kind after its successor runs (see takeSpare). */
  private refillAfter(g: GroupRt): void {
    setTimeout(() => this.fillSpares(g.limitsKey), REFILL_DELAY_MS).unref();
  }

  /** Hands a ready worker the group's assignment. */
  private activate(g: GroupRt, worker: Worker): void {
    const control = new MessageChannel();
    const { assignment, transfer } = this.assignmentOf(g, 0, control.port2);
    g.control?.close();
    g.worker = worker; g.control = control.port1; g.state = 'starting'; g.loopStarted = false; g.deathHandled = false;
    for (const s of g.servers) { s.cb.state = ServerState.Starting; s.lastHeartbeat = -1; }
    this.watchWorker(g, worker);
    if (this.threadsUnrefd) worker.unref(); // after the listeners (see spawn)
    g.activatedAt = monotonicMs();
    worker.postMessage({ kind: 'activate', assignment }, transfer);
  }

  /** Reports and death events of a group's thread (its current one, or its standby until it takes over). */
  private watchWorker(g: GroupRt, worker: Worker): void {
    worker.on('message', (m: WorkerReport) => this.onReport(g, worker, m));
    /**
     * The thread's error, kept until its restart may begin. The 'error' event comes on a channel
     * of its own and can overtake the thread's last reports: its store writes (a UDP binding
     * written just before the crash; seen in 1 of 5 runs of socket-limits' "UDP bind in flight")
     * and its 'crashing' report. A successor built then would start from a store without them.
     * So the restart waits for the 'crashing' report (onReport, after every earlier message) or
     * the 'exit' event, which Node emits only after every message the thread posted; bounded.
     */
    let error: { cause: 'oom' | 'crash'; detail: Record<string, unknown> } | null = null;
    worker.on('error', (err: Error & { code?: string }) => {
      const cause = err.code === 'ERR_WORKER_OUT_OF_MEMORY' ? 'oom' : 'crash';
      if (g.standby?.worker === worker) { this.standbyDied(g, cause, { error: err.message, code: err.code }); return; }
      if (g.worker !== worker) return;
      error = { cause, detail: { error: err.message, code: err.code } };
      const e = error;
      setTimeout(() => { if (g.worker === worker) void this.onDeath(g, e.cause, e.detail); }, ERROR_EXIT_WAIT_MS).unref();
    });
    worker.on('exit', (code) => {
      if (g.standby?.worker === worker) { this.standbyDied(g, 'exit', { code }); return; }
      if (g.worker !== worker) return;
      if (g.state === 'stopping' || g.state === 'stopped') { g.state = 'stopped'; return; }
      if (error !== null) void this.onDeath(g, error.cause, error.detail);
      else void this.onDeath(g, 'exit', { code });
    });
  }

  /**
   * The group's assignment for a thread: its servers at the current generation + `ahead` (1
   * for a standby built before the death it will follow), every granted channel, pool and
   * the store as it is now.
   */
  private assignmentOf(g: GroupRt, ahead: number, controlEnd: MessagePort): { assignment: HostAssignment; transfer: MessagePort[] } {
    const generationOf = (s: ServerRt): number => s.cb.generation + ahead;
    const transfer: MessagePort[] = [controlEnd];
    const peerBell = (s: ServerRt): SharedArrayBuffer => s.bell;
    // A server peer's control block (not an external party's stand-in): its generation word.
    const peerCb = (s: ServerRt): { peerControlBlock?: SharedArrayBuffer } => (s.index >= 0 ? { peerControlBlock: s.cb.sab } : {});
    const assignments: ServerAssignment[] = g.servers.map((s) => {
      const inputs: ChannelGrant[] = s.inputs.map((c) => {
        let port: MessagePort | undefined;
        if (c.spec.transport === 'port') { port = this.portEnd(c, 'to', g); transfer.push(port); }
        return { endpoint: c.toEndpoint, peer: c.from.spec.name, transport: c.spec.transport, ...(c.sab ? { sab: c.sab } : {}), ...(port ? { port } : {}), peerBell: peerBell(c.from), ...peerCb(c.from) };
      });
      const outputs: ChannelGrant[] = s.outputs.map((c) => {
        let port: MessagePort | undefined;
        if (c.spec.transport === 'port') { port = this.portEnd(c, 'from', g); transfer.push(port); }
        return { endpoint: c.fromEndpoint, peer: c.to.spec.name, transport: c.spec.transport, ...(c.sab ? { sab: c.sab } : {}), ...(port ? { port } : {}), peerBell: peerBell(c.to), ...peerCb(c.to) };
      });
      return {
        name: s.spec.name, index: s.index, generation: generationOf(s), module: s.spec.module, options: s.spec.options,
        controlBlock: s.cb.sab, ...(s.shared !== undefined ? { shared: s.shared } : {}), inputs, outputs,
        ownedPools: this.pools.filter((p) => p.owner === s).map((p) => ({ name: p.spec.as ?? p.spec.name, sab: p.sab })),
        readablePools: this.pools.filter((p) => p.spec.readers.includes(s.spec.name)).map((p) => p.sab),
        store: this.store.snapshot(s.spec.name),
      };
    });
    const assignment: HostAssignment = {
      servers: assignments, doorbell: g.doorbell, system: this.system, polling: this.manifest.polling, control: controlEnd,
      ...(this.manifest.regroup ? { bells: this.servers.map((s) => s.bell) } : {}),
    };
    return { assignment, transfer };
  }

  // ---------------------------------------------------------------- warm standby

  /** Arms the group's standby after `delayMs` (and after any back-off the restart policy still holds). */
  private scheduleStandby(g: GroupRt, delayMs: number): void {
    if (!g.standbyAllowed || this.stopping || g.standby !== null) return;
    clearTimeout(g.standbyTimer);
    g.standbyTimer = setTimeout(() => { g.standbyTimer = undefined; void this.armStandby(g); }, delayMs);
    g.standbyTimer.unref();
  }

  /**
   * Starts a worker, hands it the group's assignment one generation ahead and lets it build
   * and wait (worker-host.ts). Only while the restart policy would restart the thread at once:
   * a death within backoffResetMs of the last restart, or one that reaches maxRestarts, goes
   * the supervisor's way (back-off, crash-loop limit), so no standby is armed then.
   */
  private async armStandby(g: GroupRt): Promise<void> {
    if (!g.standbyAllowed || this.stopping || g.standby !== null) return;
    if (g.state !== 'running') { this.scheduleStandby(g, STANDBY_DELAY_MS); return; }
    const p = this.manifest.supervisor.restart;
    const now = monotonicMs();
    const recent = g.restartTimes.filter((t) => now - t < p.windowMs);
    let wait = g.lastRestartAt + p.backoffResetMs - now;
    if (recent.length >= p.maxRestarts - 1) wait = Math.max(wait, recent[0]! + p.windowMs - now);
    if (wait > 0) { this.scheduleStandby(g, wait + 1); return; }
    const bell = new Int32Array(g.doorbell);
    Atomics.store(bell, BELL_STANDBY, STANDBY_ARMING);
    const spare = this.spawn(g.limitsKey, this.resourceLimitsOf(g));
    const control = new MessageChannel();
    const sb: StandbyRt = { worker: spare.worker, control: control.port1, generation: g.servers[0]!.cb.generation + 1, pendingRunning: null, died: null };
    g.standby = sb;
    this.watchWorker(g, sb.worker);
    if (this.threadsUnrefd) sb.worker.unref(); // after the listeners (see spawn)
    const ok = await spare.ready;
    if (g.standby !== sb) return; // dropped meanwhile (and terminated)
    if (!ok || this.stopping || g.state !== 'running' || g.servers[0]!.cb.generation + 1 !== sb.generation) { this.dropStandby(g); this.scheduleStandby(g, STANDBY_DELAY_MS); return; }
    const { assignment, transfer } = this.assignmentOf(g, 1, control.port2);
    const takeover: StandbyTakeover = { reclaimPools: g.servers.map((s) => this.reclaimPoolsOf(s)) };
    sb.worker.postMessage({ kind: 'arm', assignment, takeover }, transfer);
  }

  /** The standby will not be used (the group restarts another way, or stops): it must never run. */
  private dropStandby(g: GroupRt): void {
    const sb = g.standby;
    if (sb === null) return;
    g.standby = null;
    const bell = new Int32Array(g.doorbell);
    for (const from of [STANDBY_ARMING, STANDBY_ARMED]) Atomics.compareExchange(bell, BELL_STANDBY, from, STANDBY_DROPPED);
    Atomics.notify(bell, BELL_STANDBY);
    sb.control.close();
    void sb.worker.terminate().catch(() => undefined);
  }

  /** The standby's thread ended: before its promotion, a new one later; after, the group's death once adopted. */
  private standbyDied(g: GroupRt, cause: Recovery['cause'], detail: Record<string, unknown>): void {
    const sb = g.standby!;
    const bell = new Int32Array(g.doorbell);
    let state = Atomics.compareExchange(bell, BELL_STANDBY, STANDBY_ARMED, STANDBY_DROPPED);
    if (state === STANDBY_ARMING) state = Atomics.compareExchange(bell, BELL_STANDBY, STANDBY_ARMING, STANDBY_DROPPED);
    if (state === STANDBY_PROMOTED) { sb.died ??= { cause, detail }; return; }
    this.log('standby', g.servers[0]!.spec.name, sb.generation, { action: 'died', cause, ...detail });
    g.standby = null;
    sb.control.close();
    this.scheduleStandby(g, STANDBY_RETRY_MS);
  }

  /**
   * The group's thread died and its standby was promoted (by the dying thread, or just now by
   * the supervisor): the restart is counted, the standby becomes the group's thread, and its
   * 'running' report, if it came first, is taken now.
   */
  private adoptStandby(g: GroupRt, cause: Recovery['cause'], detail: Record<string, unknown>, detectedAt: number): void {
    const sb = g.standby!;
    g.standby = null;
    const deathAt = deathTime(g.doorbell);
    for (const s of g.servers) this.log(cause, s.spec.name, sb.generation - 1, { ...detail, standby: true });
    const reason = reasonOf(cause, detail);
    const now = monotonicMs();
    g.restartTimes = g.restartTimes.filter((t) => detectedAt - t < this.manifest.supervisor.restart.windowMs);
    g.restartTimes.push(now);
    g.lastRestartAt = now;
    g.consecutive = 0;
    g.pendingRecoveries = g.servers.map((s) => ({
      server: s.spec.name, generation: sb.generation, cause, reason,
      downAt: deathAt > 0 ? deathAt : detectedAt, detectedAt, runningAt: NaN, firstMessageAt: NaN, recoveryMs: NaN, standby: true,
    }));
    this.recoveries.push(...g.pendingRecoveries);
    for (const r of g.pendingRecoveries) this.log('restart', r.server, r.generation, { cause, delayMs: 0, standby: true });
    this.watchFirstMessages();
    g.control?.close();
    g.worker = sb.worker; g.control = sb.control; g.state = 'starting'; g.loopStarted = false; g.deathHandled = false;
    for (const s of g.servers) s.lastHeartbeat = -1;
    g.activatedAt = detectedAt;
    if (sb.pendingRunning !== null) this.onReport(g, sb.worker, sb.pendingRunning);
    if (sb.died !== null) void this.onDeath(g, sb.died.cause, sb.died.detail);
  }

  /**
   * The port end of channel `c` for group `g`'s side. On a restart the old
   * pair died with the thread: make a new pair and re-attach the live peer.
   */
  private portEnd(c: ChannelRt, side: 'from' | 'to', g: GroupRt): MessagePort {
    let end = side === 'from' ? c.fromPort : c.toPort;
    if (end === null) {
      const mc = new MessageChannel();
      end = mc.port1;
      const other = mc.port2;
      const peer = side === 'from' ? c.to : c.from;
      if (peer.group === g) {
        if (side === 'from') c.toPort = other; else c.fromPort = other;
      } else {
        this.control(peer.group, {
          kind: 'reattach', target: peer.spec.name, endpoint: side === 'from' ? c.toEndpoint : c.fromEndpoint,
          direction: side === 'from' ? 'in' : 'out', port: other,
        }, [other]);
      }
    }
    if (side === 'from') c.fromPort = null; else c.toPort = null;
    return end;
  }

  private onReport(g: GroupRt, worker: Worker, m: WorkerReport): void {
    if (m.kind === 'store-set' || m.kind === 'store-delete') { this.store.apply(m as StoreWrite); return; }
    const sb = g.standby;
    if (sb !== null && sb.worker === worker) {
      // The standby, before the supervisor adopted it.
      if (m.kind === 'armed') { this.log('standby', g.servers[0]!.spec.name, sb.generation, { action: 'armed', threadId: worker.threadId }); }
      else if (m.kind === 'running') sb.pendingRunning = m;
      else if (m.kind === 'crashing') this.standbyDied(g, 'crash', { error: m.error, name: m.name ?? 'Error' });
      else if (m.kind === 'exiting') this.standbyDied(g, 'exit', { code: m.code });
      else if (m.kind === 'log') this.log('log', m.server, undefined, { event: m.event, ...(m.detail ?? {}) });
      return;
    }
    if (m.kind === 'crashing') {
      // An uncaught error left the server loop; the thread runs no more server code.
      if (g.worker === worker && g.state !== 'stopping' && g.state !== 'stopped') void this.onDeath(g, 'crash', { error: m.error, name: m.name ?? 'Error' });
      return;
    }
    if (m.kind === 'exiting') {
      // process.exit() in the thread: its exit handlers ran, no more JS runs
      // there; the 'exit' event would come ~20 ms later.
      if (g.worker === worker && g.state !== 'stopping' && g.state !== 'stopped') void this.onDeath(g, 'exit', { code: m.code });
      return;
    }
    if (m.kind === 'log') { this.log('log', m.server, undefined, { event: m.event, ...(m.detail ?? {}) }); return; }
    if (g.worker !== worker) return;
    if (m.kind === 'running') {
      g.state = 'running'; g.loopStarted = true;
      const now = monotonicMs();
      const detail = {
        activatedAt: g.activatedAt, receivedAt: m.receivedAt, builtAt: m.builtAt, threadId: worker.threadId,
        ...(m.standby !== undefined ? { standby: m.standby } : {}),
      };
      // Successors (after a restart or a regroup), not a first start: their peers must hear of it.
      const successors = g.servers.some((s) => s.runningGeneration > 0 && s.cb.generation > s.runningGeneration);
      for (const s of g.servers) {
        s.cb.markRunning();
        this.log('running', s.spec.name, s.cb.generation, detail);
        s.lastBeatChange = now;
        s.runningGeneration = s.cb.generation;
      }
      // A standby ran before this thread heard of it: its own clock says when.
      const runningAt = m.standby !== undefined ? m.builtAt : now;
      for (const r of g.pendingRecoveries) {
        r.runningAt = runningAt;
        this.log('recovered', r.server, r.generation, { cause: r.cause, reason: r.reason, restartMs: runningAt - r.downAt, ...(m.standby !== undefined ? { standby: true } : {}) });
      }
      if (m.standby !== undefined) {
        g.servers.forEach((s, i) => {
          for (const x of m.standby!.reclaimed[i] ?? []) this.log('reclaim', s.spec.name, s.cb.generation - 1, { pool: this.pools[x.pool]?.spec.name ?? x.pool, buffers: x.buffers });
        });
      }
      if (successors) {
        this.notifyPeers(g); this.refillAfter(g); this.scheduleStandby(g, STANDBY_DELAY_MS);
      }
      g.resolveRunning();
    } else if (m.kind === 'stopped') {
      g.state = 'stopped';
      for (const s of g.servers) this.log('stopped', s.spec.name, s.cb.generation);
    }
  }

  // ---------------------------------------------------------------- failure handling

  private async onDeath(g: GroupRt, cause: Recovery['cause'], detail: Record<string, unknown>): Promise<void> {
    // A thread told to stop or retire (regroup) is not restarted: its servers stop, or go on elsewhere.
    if (g.deathHandled || this.stopping || g.state === 'stopping' || g.state === 'stopped') return;
    g.deathHandled = true;
    if (this.failStart !== null) {
      const names = g.servers.map((s) => s.spec.name).join(', ');
      const code = typeof detail['code'] === 'string' ? detail['code'] : 'ERR_SERVER_START';
      const why = typeof detail['error'] === 'string' ? detail['error'] : `its thread ended (${cause}, exit code ${String(detail['code'])})`;
      this.failStart(new NewtosError(code, `${names} could not start: ${why}`));
      return;
    }
    const detectedAt = monotonicMs();
    const old = g.worker;
    if (g.standby !== null) {
      // A hung thread must be gone before its standby runs the same servers.
      if (cause === 'hang' && old !== null && Atomics.load(new Int32Array(g.doorbell), BELL_STANDBY) === STANDBY_ARMED) await this.reap(g, old, true);
      if (this.stopping) return;
      const faults = g.servers.map((s) => s.cb.faultAt).filter((t) => t > 0);
      if (g.standby !== null && promoteStandby(g.doorbell, faults.length > 0 ? Math.min(...faults) : detectedAt)) {
        this.adoptStandby(g, cause, detail, detectedAt);
        return;
      }
      this.dropStandby(g);
    }
    g.state = 'dead';
    for (const s of g.servers) {
      s.cb.state = ServerState.Dead;
      this.log(cause, s.spec.name, s.cb.generation, detail);
    }
    // A hung thread is terminated; like one that must be gone first (restartAfterExit), waited
    // for with a bound: terminate() never settles for a thread stuck in a native call.
    if (old !== null && (cause === 'hang' || g.servers.some((s) => s.spec.restartAfterExit === true))) await this.reap(g, old, cause === 'hang');
    if (this.stopping) return;
    // Take back the dead loop's runnable count if it still held one.
    releaseDeadLoop(new Int32Array(g.doorbell), this.sys);
    g.loopStarted = false;
    // Crash-loop limit and back-off.
    const p = this.manifest.supervisor.restart;
    g.restartTimes = g.restartTimes.filter((t) => detectedAt - t < p.windowMs);
    if (g.restartTimes.length >= p.maxRestarts) {
      g.state = 'failed';
      g.failure = { cause, reason: reasonOf(cause, detail), at: g.servers[0]!.cb.faultAt > 0 ? g.servers[0]!.cb.faultAt : detectedAt };
      for (const s of g.servers) {
        s.cb.state = ServerState.Failed;
        this.log('failed', s.spec.name, s.cb.generation, { cause, reason: reasonOf(cause, detail), restartsInWindow: g.restartTimes.length, windowMs: p.windowMs, ...(p.retryAfterMs > 0 ? { retryAfterMs: p.retryAfterMs } : {}) });
      }
      // restart.retryAfterMs: revived by itself after a cool-down (a revive by hand meanwhile wins).
      if (p.retryAfterMs > 0) {
        const failure = g.failure;
        const timer = setTimeout(() => {
          if (this.stopping || g.state !== 'failed' || g.failure !== failure) return;
          this.revive(g.servers[0]!.spec.name);
        }, p.retryAfterMs);
        timer.unref();
      }
      return;
    }
    g.consecutive = detectedAt - g.lastRestartAt < p.backoffResetMs ? g.consecutive + 1 : 0;
    const delay = g.consecutive === 0 ? 0 : Math.min(p.backoffBaseMs * 2 ** (g.consecutive - 1), p.backoffMaxMs);
    await this.restartGroup(g, cause, reasonOf(cause, detail), (s) => s.cb.faultAt > 0 ? s.cb.faultAt : detectedAt, detectedAt, delay);
  }

  /** The dead thread's successor: after `delayMs` (back-off), a new generation of its servers on a spare worker. */
  private async restartGroup(g: GroupRt, cause: Recovery['cause'], reason: string, downAt: (s: ServerRt) => number, detectedAt: number, delay: number, counted = true): Promise<void> {
    g.pendingRecoveries = g.servers.map((s) => ({
      server: s.spec.name, generation: s.cb.generation + 1, cause, reason,
      downAt: downAt(s), detectedAt, runningAt: NaN, firstMessageAt: NaN, recoveryMs: NaN,
    }));
    if (delay > 0) {
      for (const s of g.servers) this.log('backoff', s.spec.name, s.cb.generation, { delayMs: delay });
      await new Promise((r) => setTimeout(r, delay));
      if (this.stopping) return;
    }
    // A revival is not counted toward the crash-loop limit (it starts a fresh window).
    if (counted) g.restartTimes.push(monotonicMs());
    g.lastRestartAt = monotonicMs();
    // Give back what the dead servers held, then the new generation.
    for (const s of g.servers) this.reclaim(s);
    for (const s of g.servers) s.cb.prepareSuccessor(s.cb.generation + 1, true);
    this.wakePeers(g.servers);
    this.recoveries.push(...g.pendingRecoveries);
    for (const r of g.pendingRecoveries) this.log('restart', r.server, r.generation, { cause, delayMs: delay });
    this.watchFirstMessages();
    const worker = await this.takeSpare(g);
    if (this.stopping) { await worker.terminate(); return; }
    this.activate(g, worker);
  }

  /**
   * Waits until a dead thread is gone, for servers whose OS resources go only
   * with their thread (`restartAfterExit`: a TAP device's fd, closed when the
   * thread's environment is torn down). A successor started at the 'crashing'
   * report would reopen the device while the old fd is still open (EBUSY).
   * Bounded: EXIT_WAIT_MS for the thread to end, then terminate() and as long
   * again. A hung thread (`terminateNow`) is terminated at once.
   */
  private async reap(g: GroupRt, worker: Worker, terminateNow: boolean): Promise<void> {
    const t0 = monotonicMs();
    const gone = (): Promise<boolean> => new Promise((resolve) => {
      if (this.exitedWorkers.has(worker)) { resolve(true); return; }
      const timer = setTimeout(() => { worker.off('exit', onExit); resolve(false); }, EXIT_WAIT_MS);
      const onExit = (): void => { clearTimeout(timer); resolve(true); };
      worker.once('exit', onExit);
    });
    let terminated = false;
    let exited = this.exitedWorkers.has(worker);
    if (!exited && !terminateNow) exited = await gone();
    if (!exited) {
      terminated = true;
      void worker.terminate().catch(() => undefined);
      exited = await gone();
    }
    for (const s of g.servers) this.log('reaped', s.spec.name, s.cb.generation, { waitedMs: monotonicMs() - t0, terminated, exited });
  }

  /**
   * Rings the doorbell of every peer of `servers` (their generations just went up): a parked
   * peer looks at the generation words at once (server-loop.ts watchPeers), not at its next
   * message, which may only come from the successor.
   */
  private wakePeers(servers: readonly ServerRt[]): void {
    const rung = new Set<SharedArrayBuffer>();
    for (const s of servers) {
      for (const c of [...s.inputs, ...s.outputs]) {
        const peer = c.from === s ? c.to : c.from;
        if (peer.index < 0 || rung.has(peer.bell)) continue;
        rung.add(peer.bell);
        new DoorbellRinger(peer.bell).ringAlways();
      }
    }
  }

  /** The pools whose buffers a dead `s` may hold: every pool but its own (its successor resets those). */
  private reclaimPoolsOf(s: ServerRt): SharedArrayBuffer[] {
    return this.pools.filter((p) => p.owner !== s).map((p) => p.sab);
  }

  /** takeover.ts reclaimFor over reclaimPoolsOf(s), exempting buffers still queued to `s`. */
  private reclaim(s: ServerRt): void {
    const rings = s.inputs.flatMap((c) => c.sab !== null ? [c.sab] : []);
    for (const x of reclaimFor(s.index, rings, this.reclaimPoolsOf(s))) this.log('reclaim', s.spec.name, s.cb.generation, { pool: this.pools[x.pool]?.spec.name ?? x.pool, buffers: x.buffers });
  }

  private notifyPeers(g: GroupRt): void {
    const notified = new Set<string>();
    for (const s of g.servers) {
      for (const c of [...s.inputs, ...s.outputs]) {
        const peer = c.from === s ? c.to : c.from;
        if (peer.group === g) continue;
        if (peer.index < 0) {
          // An external party (the application): it learns of restarts through an event.
          this.emit('peer-restarted', { external: peer.spec.name, server: s.spec.name, generation: s.cb.generation });
          continue;
        }
        const key = `${peer.spec.name}<${s.spec.name}`;
        if (notified.has(key)) continue;
        notified.add(key);
        this.control(peer.group, { kind: 'peer-restarted', target: peer.spec.name, peer: s.spec.name, generation: s.cb.generation });
        this.log('peer-notified', peer.spec.name, peer.cb.generation, { peer: s.spec.name, peerGeneration: s.cb.generation });
      }
    }
    g.pendingRecoveries = [];
  }

  private watchFirstMessages(): void {
    if (this.firstMsgTimer !== null) return;
    this.firstMsgTimer = setInterval(() => {
      let pending = 0;
      for (const r of this.recoveries) {
        if (!Number.isNaN(r.firstMessageAt)) continue;
        const s = this.byName.get(r.server)!;
        const gen = s.cb.generation;
        if (gen > r.generation) continue; // superseded
        if (gen < r.generation) { pending++; continue; } // a standby that has not yet taken over
        const at = s.cb.firstMessageAt;
        if (at > 0) {
          r.firstMessageAt = at;
          r.recoveryMs = at - r.downAt;
          this.log('first-message', r.server, r.generation, { recoveryMs: r.recoveryMs, cause: r.cause });
        } else pending++;
      }
      if (pending === 0 && this.firstMsgTimer !== null) { clearInterval(this.firstMsgTimer); this.firstMsgTimer = null; }
    }, 1);
    this.firstMsgTimer.unref();
  }

  private checkHangs(): void {
    const now = monotonicMs();
    // The kernel moves the 1-minute load average every 5 s: once a second is fresh enough, and
    // the read (a system call, tens of microseconds when cold) stays off most of these ticks,
    // which run on the application's thread.
    if (now - this.loadavgReadAt >= 1000) {
      this.loadavgReadAt = now;
      Atomics.store(this.sys, SYS_LOADAVG_X100, Math.round(loadavg()[0]! * 100));
    }
    const { hangTimeoutMs: timeout, hangCpuMs } = this.manifest.supervisor;
    for (const g of this.groups) {
      if (g.state !== 'running' || !g.loopStarted) { g.hangCpuFromNs = NaN; continue; }
      // A hang is the thread's, not one server's: the servers of a thread (every server of
      // a monolithic host) share one loop, so while one of them works through a long batch
      // the others' heartbeats stand still with messages queued. Any heartbeat of the
      // thread that moved means its loop runs (a false positive under load restarted all
      // six servers of a monolithic host during a 1000-connection test).
      let moved = false;
      for (const s of g.servers) {
        const hb = s.cb.heartbeat;
        if (hb !== s.lastHeartbeat) { s.lastHeartbeat = hb; s.lastBeatChange = now; moved = true; }
      }
      const words = new Int32Array(g.doorbell);
      const tid = Atomics.load(words, BELL_TID);
      if (moved) {
        for (const s of g.servers) s.lastBeatChange = now;
        if (!Number.isNaN(g.hangCpuFromNs)) {
          // A silent run that ended: how close it came to the CPU rule (one read, only after a silence).
          const ran = (threadCpuNs(tid) - g.hangCpuFromNs) / 1e6;
          if (ran > g.longestSilentCpuMs) g.longestSilentCpuMs = ran;
          g.hangCpuFromNs = NaN;
        }
        continue;
      }
      const lead = g.servers[0]!;
      const silent = now - lead.lastBeatChange;
      // A loop that runs without beating: the thread's own CPU clock says whether it ran or
      // waited for a core, so this rule holds on a machine with more threads than cores. A
      // parked thread (sleeping flag up) runs nothing; its clock is not read.
      if (tid > 0 && g.cpuRule && Atomics.load(words, BELL_SLEEPING) === 0) {
        const cpu = threadCpuNs(tid);
        const ruleMs = hangRuleOf(g.servers, hangCpuMs);
        if (Number.isNaN(g.hangCpuFromNs)) g.hangCpuFromNs = cpu;
        else if (cpu - g.hangCpuFromNs >= ruleMs * 1e6) {
          void this.onDeath(g, 'hang', { heartbeat: lead.cb.heartbeat, queued: queuedFor(g), silentMs: Math.round(silent), cpuMs: Math.round((cpu - g.hangCpuFromNs) / 1e6), ruleMs });
          continue;
        }
      } else g.hangCpuFromNs = NaN;
      if (silent < timeout) continue;
      const queued = queuedFor(g);
      // An idle loop still beats: it parks for at most polling.maxParkMs. So a heartbeat
      // silent for twice the timeout is a hang even with nothing queued (a server hung
      // while its host was idle), where the park bound is well below the timeout.
      const idleHung = this.manifest.polling.maxParkMs * 4 <= timeout && silent >= 2 * timeout;
      if (queued > 0 || idleHung) void this.onDeath(g, 'hang', { heartbeat: lead.cb.heartbeat, queued, silentMs: Math.round(silent) });
    }
  }

  // ---------------------------------------------------------------- public API

  private regrouping = false;

  /** The threads now, each as its servers' names (leader first). */
  threads(): string[][] {
    return this.groups.map((g) => g.servers.map((s) => s.spec.name));
  }

  /**
   * Moves servers between threads while they run (manifest.regroup): `groups` is the new
   * placement, every server in exactly one group. Threads whose servers stay together go on
   * untouched; every other thread is told to leave its loop at the next pass (no onStop: its
   * servers are not stopped, they move), and once it has ended, its servers are started in the
   * new threads as their next generation, from the state they kept in shared memory and the
   * store, on the same rings, the doorbells forwarded, and their peers told as after a restart
   * (outstanding requests sent again). Nothing queued is lost: it waits in the rings. Not a
   * failure: no restart is counted. Rejects with ERR_INVALID_ARG_VALUE for a bad placement,
   * ERR_REGROUP_UNSUPPORTED without manifest.regroup, EBUSY while a thread restarts or another
   * regroup runs.
   */
  async regroup(groups: readonly (readonly string[])[], timeoutMs = START_TIMEOUT_MS): Promise<RegroupResult> {
    if (!this.manifest.regroup) throw new NewtosError('ERR_REGROUP_UNSUPPORTED', 'this host was not started with servers that may move between threads (manifest regroup: true; placements "isolated", "grouped" and "auto")');
    if (!Array.isArray(groups)) throw new NewtosError('ERR_INVALID_ARG_TYPE', 'groups must be an array of arrays of server names');
    const issues = partitionIssues(new Set(this.byName.keys()), groups.map((g) => (Array.isArray(g) ? g : [g]) as unknown[]));
    if (issues.length > 0) throw new NewtosError('ERR_INVALID_ARG_VALUE', `invalid placement: ${formatIssues(issues)}`);
    if (this.stopping) throw new NewtosError('ERR_SERVER_STOPPED', 'the host is stopping');
    if (this.regrouping) throw new NewtosError('EBUSY', 'another regroup is running');
    const notRunning = this.groups.filter((g) => g.state !== 'running').flatMap((g) => g.servers.map((s) => s.spec.name));
    if (notRunning.length > 0) throw new NewtosError('EBUSY', `${notRunning.join(', ')} not running (a restart is under way)`);
    const from = this.threads();
    const key = (names: readonly string[]): string => [...names].sort().join(',');
    const wanted = new Set(groups.map(key));
    const kept = this.groups.filter((g) => wanted.has(key(g.servers.map((s) => s.spec.name))));
    const keptKeys = new Set(kept.map((g) => key(g.servers.map((s) => s.spec.name))));
    const leaving = this.groups.filter((g) => !kept.includes(g));
    const arriving = groups.filter((names) => !keptKeys.has(key(names)));
    if (leaving.length === 0) return { from, to: from, stopped: 0, started: 0, durationMs: 0, pauseMs: 0 };
    this.regrouping = true;
    const t0 = monotonicMs();
    try {
      this.log('regroup', undefined, undefined, { action: 'start', from, to: groups });
      // The new threads' workers first (a worker start costs ~20 ms of CPU, hundreds of ms on a
      // busy small machine): nothing stops before they are ready, so the pause is the moved
      // servers' hand-over, not thread start-up.
      const workers = await Promise.all(arriving.map((names) => {
        const limits = names.map((n: string) => this.byName.get(n)!.spec.resourceLimits).find((l: ServerSpec['resourceLimits']) => l !== undefined);
        return this.takeSpareOf(JSON.stringify(limits ?? {}), limits);
      }));
      const readyAt = monotonicMs();
      if (this.stopping || this.groups.some((g) => g.state !== 'running')) {
        for (const w of workers) void w.terminate();
        throw new NewtosError('EBUSY', this.stopping ? 'the host is stopping' : 'a thread restarted while the new threads started');
      }
      for (const g of leaving) { clearTimeout(g.standbyTimer); this.dropStandby(g); }
      await Promise.all(leaving.map((g) => this.retire(g)));
      for (const g of leaving) {
        releaseDeadLoop(new Int32Array(g.doorbell), this.sys);
        g.control?.close(); g.control = null;
        for (const s of g.servers) {
          this.reclaim(s);
          s.cb.prepareSuccessor(s.cb.generation + 1, false);
        }
        this.wakePeers(g.servers);
      }
      const fresh = arriving.map((names) => this.newGroup(names.map((n: string) => this.byName.get(n)!)));
      this.groups.splice(0, this.groups.length, ...kept, ...fresh);
      for (const g of fresh) { g.standbyAllowed = this.standbyAllowed(g); g.cpuRule = ringsOnly(g); }
      this.watchFirstMessages();
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new NewtosError('ETIMEDOUT', `regroup timed out: ${fresh.filter((g) => g.state !== 'running').flatMap((g) => g.servers.map((s) => s.spec.name)).join(', ')} not running after ${timeoutMs} ms`)), timeoutMs);
        timer.unref();
      });
      try {
        await Promise.race([(async () => {
          if (this.stopping) { for (const w of workers) void w.terminate(); return; }
          fresh.forEach((g, i) => this.activate(g, workers[i]!));
          await Promise.all(fresh.map((g) => g.running));
        })(), timedOut]);
      } finally {
        clearTimeout(timer);
      }
      const to = this.threads();
      const now = monotonicMs();
      const result: RegroupResult = { from, to, stopped: leaving.length, started: fresh.length, durationMs: now - t0, pauseMs: now - readyAt };
      this.log('regroup', undefined, undefined, { action: 'done', ...result });
      for (const k of new Set(fresh.map((g) => g.limitsKey))) setTimeout(() => this.fillSpares(k), REFILL_DELAY_MS).unref();
      return result;
    } finally {
      this.regrouping = false;
    }
  }

  /**
   * Tells a thread to leave its loop for good without stopping its servers, and waits until it
   * has ended (RETIRE_WAIT_MS, then it is terminated: a thread that does not answer is hung,
   * and its servers' successors must not run beside it).
   */
  private retire(g: GroupRt): Promise<void> {
    const w = g.worker;
    g.state = 'stopping';
    if (w === null || this.exitedWorkers.has(w)) { g.state = 'stopped'; return Promise.resolve(); }
    // Its 'retired' report is the last thing its loop does before process.exit(): no server code
    // runs there after it. Servers whose OS resources go only with their thread wait for the exit.
    const untilExit = g.servers.some((s) => s.spec.restartAfterExit === true);
    return new Promise<void>((resolve) => {
      const done = (): void => { clearTimeout(timer); w.off('message', onMsg); g.state = 'stopped'; resolve(); };
      const timer = setTimeout(() => {
        this.log('regroup', g.servers[0]!.spec.name, undefined, { action: 'terminate', waitedMs: RETIRE_WAIT_MS });
        void w.terminate().catch(() => undefined);
      }, RETIRE_WAIT_MS);
      const onMsg = (m: { kind?: string }): void => { if (m.kind === 'retired' && !untilExit) done(); };
      w.on('message', onMsg);
      w.once('exit', done);
      this.control(g, { kind: 'retire' });
    });
  }

  /**
   * Fault injection: make a named server crash, hang, exit or run out of memory. With
   * `detail`, a server that knows the target fires it itself when it meets it (the TCP
   * server: `{ port }`, the connection with that local or remote port, while it processes
   * it); a server that does not fires it at once, as without.
   */
  inject(server: string, fault: FaultKind, detail?: Readonly<Record<string, unknown>>): void {
    const s = this.byName.get(server);
    if (s === undefined) throw this.unknownServer(server);
    // A thread that is dead (between its death and its successor), failed or moving (regroup) has no
    // loop to take the fault: it would be dropped, and whoever waits for the restart would wait for nothing.
    if (s.group.state === 'failed') throw new NewtosError('ERR_SERVER_FAILED', `${server} has failed (crash loop) and is not restarted: nothing to inject into`);
    if (this.regrouping) throw new NewtosError('EBUSY', `the servers are moving between threads (regroup): inject into ${server} once that is done`);
    // A successor that is starting has its control port already: the fault waits there and fires when it runs.
    if (s.group.control === null || (s.group.state !== 'running' && s.group.state !== 'starting')) {
      throw new NewtosError('EBUSY', `${server} is restarting (its thread is ${s.group.state}): inject once it runs again`);
    }
    this.log('fault-injected', server, s.cb.generation, { fault, ...(detail ?? {}) });
    this.control(s.group, { kind: 'fault', target: server, fault, ...(detail !== undefined ? { detail } : {}) });
  }

  /**
   * Brings back a server the crash-loop limit gave up (failed): its thread restarts as after a
   * death, on a spare worker, with a fresh restart window (the limit counts again from zero).
   * What it held is taken back and its peers are told, as in any restart; its successor takes
   * over the connections, verdicts and routes the checkpoints kept. The recovery it makes
   * (recoveries, the 'recovered' event) has the failure's cause and reason, and its restart time
   * runs from the death that failed it. Throws ERR_UNKNOWN_SERVER, or ERR_INVALID_STATE when the
   * server's thread has not failed.
   */
  revive(server: string): void {
    const s = this.byName.get(server);
    if (s === undefined) throw this.unknownServer(server);
    const g = s.group;
    if (g.state !== 'failed' || g.failure === null) throw new NewtosError('ERR_INVALID_STATE', `${server} is ${g.state}, not failed: only a server the crash-loop limit gave up is revived`);
    if (this.stopping) throw new NewtosError('ERR_INVALID_STATE', 'the supervisor is stopping');
    const f = g.failure;
    g.failure = null;
    g.state = 'dead';
    g.restartTimes = [];
    g.consecutive = 0;
    for (const x of g.servers) this.log('revive', x.spec.name, x.cb.generation, { cause: f.cause, reason: f.reason, failedForMs: monotonicMs() - f.at });
    void this.restartGroup(g, f.cause, `revived after a crash loop (${f.reason})`, () => f.at, monotonicMs(), 0, false);
  }

  /** The names of the servers, in manifest order. */
  serverNames(): string[] {
    return this.servers.map((s) => s.spec.name);
  }

  private unknownServer(server: string): NewtosError {
    return new NewtosError('ERR_UNKNOWN_SERVER', `no server named "${server}" (servers: ${this.serverNames().join(', ')})`);
  }

  /** Current generation of a server. */
  generation(server: string): number {
    return this.byName.get(server)?.cb.generation ?? 0;
  }

  /** A server's memory that outlives its threads (manifest sharedBytes), if it has some: for reading its figures. */
  sharedMemory(server: string): SharedArrayBuffer | undefined {
    return this.byName.get(server)?.shared;
  }

  /** Resolves when every thread is running (e.g. after a restart). */
  async whenRunning(server: string, generation: number, timeoutMs = 30_000): Promise<void> {
    const s = this.byName.get(server);
    if (s === undefined) throw this.unknownServer(server);
    const t0 = monotonicMs();
    while (!(s.runningGeneration >= generation && s.group.state === 'running')) {
      if (monotonicMs() - t0 > timeoutMs) throw new NewtosError('ETIMEDOUT', `${server} did not reach generation ${generation}`);
      await new Promise((r) => setTimeout(r, 2));
    }
  }

  /**
   * Starts the thread monitor (thread-monitor.ts) on a timer of this thread: every
   * `intervalMs` it reads each thread's loop counters from shared memory, writes the
   * polling mode it chose into the thread's doorbell and pins spinning threads with
   * `taskset` (util-linux; where it is missing or fails, the decision says so and the
   * thread stays unpinned). Each decision is logged as a 'thread-monitor' event.
   */
  startThreadMonitor(options: Omit<ThreadMonitorOptions, 'cores'> & { readonly intervalMs?: number; readonly cores?: number }): ThreadMonitor {
    if (this.threadMonitor !== null) return this.threadMonitor;
    const cores = options.cores ?? this.cores;
    // Pins name positions in the CPUs this process may use (a container's cpuset may not start at 0).
    const allowed = allowedCpus();
    const monitor = new ThreadMonitor({ cpus: allowed.length, ...options, cores });
    this.threadMonitor = monitor;
    const tick = (): void => {
      if (this.stopping) return;
      const samples = [];
      const bells: { name: string; words: Int32Array }[] = [];
      for (const g of this.groups) {
        if (g.state !== 'running') continue;
        const leader = g.servers[0]!;
        const words = new Int32Array(g.doorbell);
        let messages = 0;
        for (const s of g.servers) messages += s.cb.msgsIn;
        samples.push({ thread: leader.spec.name, busyMs: leader.cb.busyMs, messages, tid: Atomics.load(words, BELL_TID) });
        bells.push({ name: leader.spec.name, words });
      }
      const made = monitor.tick(monotonicMs(), samples, runnableNow());
      for (const { name, words } of bells) {
        const v = POLL_MODES.indexOf(monitor.modeOf(name));
        Atomics.store(words, BELL_POLLING, v < 0 ? POLL_OVERRIDE_NONE : v);
      }
      for (const d of made) {
        this.log('thread-monitor', d.thread, undefined, { ...d });
        // A pin names the thread by the OS id it had in this tick's sample.
        if (d.action === 'polling' || d.tid <= 0) continue;
        const list = d.action === 'pin' ? String(allowed[Number(d.to)] ?? d.to) : allowed.join(',');
        execFile('taskset', ['-pc', list, String(d.tid)], (err) => {
          if (err !== null) this.log('thread-monitor', d.thread, undefined, { action: 'pin-failed', cores: list, tid: d.tid, error: err.message.split('\n')[0] });
        });
      }
    };
    this.threadMonitorTimer = setInterval(tick, options.intervalMs ?? 100);
    this.threadMonitorTimer.unref();
    return monitor;
  }

  /** The thread monitor's figure for the load of everything but this host's server threads (0 when it does not run). */
  threadOtherLoad(): number {
    return this.threadMonitor?.otherLoad ?? 0;
  }

  /** The thread monitor's decisions so far (empty when it does not run). */
  threadDecisions(): readonly ThreadDecision[] {
    return this.threadMonitor?.decisions ?? [];
  }

  /** Statistics of every server, read from shared memory. */
  snapshot(): SystemSnapshot {
    const chan = (c: ChannelRt, out: boolean): ChannelStats => {
      const w = c.sab === null ? null : new Int32Array(c.sab);
      const counters = w === null ? { published: 0, freed: 0 } : ringCounters(w);
      return {
        endpoint: out ? c.fromEndpoint : c.toEndpoint, peer: out ? c.to.spec.name : c.from.spec.name,
        transport: c.spec.transport, messages: out ? counters.published : counters.freed,
        occupancy: w === null ? 0 : ringOccupancy(w),
      };
    };
    return {
      at: monotonicMs(),
      runnableThreads: Atomics.load(this.sys, SYS_RUNNABLE),
      cores: this.cores,
      servers: this.servers.map((s) => {
        const c = s.cb.snapshot();
        return {
          ...c, name: s.spec.name, thread: s.group.servers[0]!.spec.name, stateName: STATE_NAMES[c.state] ?? String(c.state),
          longestSilentCpuMs: Math.round(s.group.longestSilentCpuMs * 10) / 10,
          hangRuleMs: hangRuleOf(s.group.servers, this.manifest.supervisor.hangCpuMs),
          inputs: s.inputs.map((x) => chan(x, false)), outputs: s.outputs.map((x) => chan(x, true)),
        };
      }),
      pools: this.pools.map((p) => ({ name: p.spec.name, owner: p.owner.spec.name, buffers: p.spec.count, ...poolCensus(p.sab) })),
    };
  }

  /**
   * Lets the process exit while the servers still run (Worker.unref on every server thread,
   * spare and successor): for a host that lives as long as its application does, as under
   * `newtos run`. The application's own sockets and timers still keep it alive.
   */
  unref(): void {
    this.threadsUnrefd = true;
    for (const g of this.groups) g.worker?.unref();
    for (const list of this.spares.values()) for (const s of list) s.worker.unref();
    for (const g of this.groups) g.standby?.worker.unref();
  }

  /** Stops every thread (orderly 'stop', then terminate after `graceMs`) and the spares. */
  async stop(graceMs = 1000): Promise<void> {
    this.stopping = true;
    if (this.hangTimer) clearInterval(this.hangTimer);
    if (this.threadMonitorTimer) clearInterval(this.threadMonitorTimer);
    if (this.firstMsgTimer) clearInterval(this.firstMsgTimer);
    const waits: Promise<unknown>[] = [];
    for (const g of this.groups) {
      clearTimeout(g.standbyTimer);
      const sb = g.standby;
      if (sb !== null) { this.dropStandby(g); waits.push(sb.worker.terminate().catch(() => undefined)); }
      const w = g.worker;
      if (w === null || g.state === 'dead' || g.state === 'failed' || g.state === 'stopped') { if (w) waits.push(w.terminate()); continue; }
      g.state = 'stopping';
      waits.push(new Promise<void>((resolve) => {
        const timer = setTimeout(() => { void w.terminate().then(() => resolve()); }, graceMs);
        w.once('exit', () => { clearTimeout(timer); resolve(); });
        this.control(g, { kind: 'stop' });
      }));
    }
    for (const list of this.spares.values()) for (const s of list.splice(0)) waits.push(s.worker.terminate());
    await Promise.all(waits);
    // The system block outlives this host (one per process): take back the count of a thread
    // terminated while counted, and leave no word a late producer could count in again.
    for (const g of this.groups) releaseDeadLoop(new Int32Array(g.doorbell), this.sys);
    for (const g of this.groups) g.control?.close();
    if (this.manifest.regroup) forgetBells(this.servers.map((s) => s.bell));
  }

  private control(g: GroupRt, m: ControlMessage, transfer: MessagePort[] = []): void {
    if (g.control === null) return;
    g.control.postMessage(m, transfer);
    g.ringer.signalControl();
  }

  private log(type: SupervisorEventType, server?: string, generation?: number, detail?: Record<string, unknown>): void {
    const e: SupervisorEvent = {
      t: monotonicMs(), wall: Date.now(), type,
      ...(server !== undefined ? { server } : {}), ...(generation !== undefined ? { generation } : {}), ...(detail ? { detail } : {}),
    };
    this.events.push(e);
    if (this.events.length > 100_000) this.events.splice(0, this.events.length - 50_000);
    this.emit('event', e);
  }
}

/** The CPUs this process may run on (/proc/self/status Cpus_allowed_list), or 0..n-1. */
function allowedCpus(): number[] {
  try {
    const line = /^Cpus_allowed_list:\s*(\S+)/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
    if (line !== undefined) {
      const cpus: number[] = [];
      for (const part of line.split(',')) {
        const [a, b] = part.split('-').map(Number);
        for (let c = a!; c <= (b ?? a!); c++) cpus.push(c);
      }
      if (cpus.length > 0 && cpus.every(Number.isInteger)) return cpus;
    }
  } catch { /* not Linux */ }
  return Array.from({ length: availableParallelism() }, (_, i) => i);
}

/**
 * Threads runnable on the machine now (/proc/stat procs_running, this one included), or the
 * 1-minute load average where there is no /proc: the thread monitor needs what runs now, a
 * minute's average lags behind a spinning thread that just started or stopped.
 */
function runnableNow(): number {
  try {
    const m = /^procs_running\s+(\d+)/m.exec(readFileSync('/proc/stat', 'utf8'));
    if (m !== null) return Number(m[1]);
  } catch { /* not Linux */ }
  return loadavg()[0]!;
}

/** The CPU hang rule of a thread holding `servers`, ms: the longest of their own rules, `dflt` for a server without one. */
function hangRuleOf(servers: readonly { readonly spec: ServerSpec }[], dflt: number): number {
  let rule = 0;
  for (const s of servers) rule = Math.max(rule, s.spec.hangCpuMs ?? dflt);
  return rule;
}

/** A death's cause and detail in words, for logs and `newtos up`. */
function reasonOf(cause: Recovery['cause'], detail: Readonly<Record<string, unknown>>): string {
  if (cause === 'hang') {
    const queued = Number(detail['queued'] ?? 0);
    const cpu = detail['cpuMs'];
    const rule = typeof detail['ruleMs'] === 'number' ? ` (its rule: ${detail['ruleMs']} ms)` : '';
    return `no heartbeat for ${String(detail['silentMs'])} ms${typeof cpu === 'number' ? ` while it ran ${cpu} ms on a CPU${rule}` : ''}${queued > 0 ? ` with ${queued} messages waiting` : ''}`;
  }
  if (cause === 'oom') return `out of memory${typeof detail['error'] === 'string' ? ` (${detail['error']})` : ''}`;
  if (cause === 'exit') return `exit code ${String(detail['code'])}`;
  const err = detail['error'];
  const name = typeof detail['name'] === 'string' ? detail['name'] : 'Error';
  return typeof err === 'string' ? `${name}: ${err}` : 'crashed';
}

export function manifestError(issues: readonly ManifestIssue[]): NewtosError & { issues: readonly ManifestIssue[] } {
  const err = new NewtosError('ERR_MANIFEST', `invalid manifest: ${formatIssues(issues)}`) as NewtosError & { issues: readonly ManifestIssue[] };
  err.issues = issues;
  return err;
}

/** Whether every channel of a thread's servers is a ring. */
function ringsOnly(g: GroupRt): boolean {
  return g.servers.every((s) => [...s.inputs, ...s.outputs].every((c) => c.spec.transport === 'ring'));
}

/** Messages waiting in a thread's input rings. */
function queuedFor(g: GroupRt): number {
  let queued = 0;
  for (const s of g.servers) for (const c of s.inputs) if (c.sab !== null) queued += ringOccupancy(new Int32Array(c.sab));
  return queued;
}

/**
 * CPU time a thread of this process has run, ns (Linux: the first field of
 * /proc/self/task/TID/schedstat); NaN where it cannot be read, which never counts as a hang.
 */
export function threadCpuNs(tid: number): number {
  try {
    const text = readFileSync(`/proc/self/task/${tid}/schedstat`, 'latin1');
    const ns = Number(text.slice(0, text.indexOf(' ')));
    return Number.isFinite(ns) ? ns : NaN;
  } catch {
    return NaN;
  }
}
