/**
 * Builds the servers of one thread from the supervisor's assignment: attaches
 * the granted rings / ports, pools, store and control block, loads each
 * server module and calls its `createServer(ctx)`, and returns the loop ready
 * to run. The same code runs one server (isolated placement) or several
 * (monolithic placement) on a thread.
 */
import { pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';
import type { MessagePort } from 'node:worker_threads';
import { PortIn, PortOut, RingIn, RingOut, type InEndpoint, type OutEndpoint } from './channel.js';
import { countWakesIn, DoorbellSleeper, knowBells } from './doorbell.js';
import { PacketPool, PoolDirectory } from './pool.js';
import { ControlBlock } from './stats.js';
import { LocalDataStore, type StoreWrite } from './data-store.js';
import { ServerLoop, type HostedServer, type PeerWatch, type PollingOptions } from './server-loop.js';
import type { ServerContext, ServerFactory } from './server.js';
import { NewtosError } from '../errors.js';
import { BELL_WAKE_FD } from './layout.js';

/** One granted channel end. */
export interface ChannelGrant {
  /** Local endpoint name (ctx.inputs / ctx.outputs key). */
  readonly endpoint: string;
  readonly peer: string;
  readonly transport: 'ring' | 'port';
  readonly sab?: SharedArrayBuffer;
  readonly port?: MessagePort;
  /** Doorbell of the peer's thread (consumer for outputs, producer for inputs). */
  readonly peerBell: SharedArrayBuffer;
  /** The peer server's control block (absent for an external party): its generation word says when it restarted. */
  readonly peerControlBlock?: SharedArrayBuffer;
}

export interface ServerAssignment {
  readonly name: string;
  readonly index: number;
  readonly generation: number;
  readonly module: string;
  readonly options: Readonly<Record<string, unknown>>;
  readonly controlBlock: SharedArrayBuffer;
  /** The server's memory that outlives its threads (ServerSpec.sharedBytes). */
  readonly shared?: SharedArrayBuffer;
  readonly inputs: readonly ChannelGrant[];
  readonly outputs: readonly ChannelGrant[];
  readonly ownedPools: readonly { readonly name: string; readonly sab: SharedArrayBuffer }[];
  readonly readablePools: readonly SharedArrayBuffer[];
  readonly store: Readonly<Record<string, unknown>>;
}

export interface HostAssignment {
  readonly servers: readonly ServerAssignment[];
  readonly doorbell: SharedArrayBuffer;
  readonly system: SharedArrayBuffer;
  readonly polling: PollingOptions;
  readonly control: MessagePort | null;
  /** With manifest.regroup: every server's doorbell, for this thread's ringers to follow forwards. */
  readonly bells?: readonly SharedArrayBuffer[];
}

/** Messages a host sends to the supervisor (besides 'running' / 'spare-ready'). */
export type HostReport =
  | StoreWrite
  | { readonly kind: 'log'; readonly server: string; readonly event: string; readonly detail?: Readonly<Record<string, unknown>> };

/** Resolves a manifest module reference (path or file: URL) to an import specifier. */
export function moduleUrl(module: string): string {
  return module.startsWith('file:') ? module : pathToFileURL(module).href;
}

export async function buildHost(a: HostAssignment, report: (r: HostReport) => void): Promise<ServerLoop> {
  if (a.bells !== undefined) knowBells(a.bells);
  const hosted: HostedServer[] = [];
  // A doorbell another thread slept on beside a device (before a regroup) is not this one's
  // until a server of this thread asks again (ServerContext.sleepBeside). Safe for a warm
  // standby built on a running thread's doorbell too: a thread with a standby holds only
  // servers that allow one, and a server that sleeps beside a device owns it (the driver).
  Atomics.store(new Int32Array(a.doorbell), BELL_WAKE_FD, 0);
  const sleeper = new DoorbellSleeper(a.doorbell);
  for (const s of a.servers) hosted.push(await buildServer(s, a.doorbell, sleeper, report));
  // One loop per thread: this thread's ringers count the loops they wake into its system block.
  countWakesIn(a.system);
  return new ServerLoop({
    servers: hosted,
    sleeper,
    system: new Int32Array(a.system),
    polling: a.polling,
    control: a.control,
  });
}

async function buildServer(s: ServerAssignment, doorbell: SharedArrayBuffer, sleeper: DoorbellSleeper, report: (r: HostReport) => void): Promise<HostedServer> {
  const inputs: InEndpoint[] = [];
  const outputs: OutEndpoint[] = [];
  const inByName: Record<string, InEndpoint> = {};
  const outByName: Record<string, OutEndpoint> = {};
  for (const g of s.inputs) {
    const ep = g.transport === 'ring' ? new RingIn(g.endpoint, g.peer, g.sab!, g.peerBell) : new PortIn(g.endpoint, g.peer, g.port!);
    inputs.push(ep); inByName[g.endpoint] = ep;
  }
  for (const g of s.outputs) {
    const ep = g.transport === 'ring' ? new RingOut(g.endpoint, g.peer, g.sab!, g.peerBell) : new PortOut(g.endpoint, g.peer, g.port!, g.peerBell);
    ep.setGeneration(s.generation);
    outputs.push(ep); outByName[g.endpoint] = ep;
  }
  const pools: Record<string, PacketPool> = {};
  for (const p of s.ownedPools) pools[p.name] = new PacketPool(p.sab, s.index, s.generation);
  const buffers = new PoolDirectory(s.index);
  for (const sab of s.readablePools) buffers.add(sab);
  const cb = new ControlBlock(s.controlBlock);
  const ctx: ServerContext = {
    name: s.name,
    index: s.index,
    generation: s.generation,
    inputs: inByName,
    outputs: outByName,
    pools,
    buffers,
    store: new LocalDataStore(s.name, s.store, report),
    stats: cb,
    ...(s.shared !== undefined ? { shared: s.shared } : {}),
    options: s.options,
    doorbell,
    sleepBeside: (wait, eventFd) => sleeper.sleepBeside(wait, eventFd),
    now: () => performance.now(),
    log: (event, detail) => report({ kind: 'log', server: s.name, event, ...(detail ? { detail } : {}) }),
  };
  const mod = await import(moduleUrl(s.module)) as { createServer?: ServerFactory };
  if (typeof mod.createServer !== 'function') {
    throw new NewtosError('ERR_SERVER_MODULE', `${s.module} does not export a createServer(ctx) function`);
  }
  const core = await mod.createServer(ctx);
  // Every peer server once, with the generation it has now: the loop watches for the next.
  const peers = new Map<string, PeerWatch>();
  for (const g of [...s.inputs, ...s.outputs]) {
    if (g.peerControlBlock === undefined || peers.has(g.peer)) continue;
    const pcb = new ControlBlock(g.peerControlBlock);
    peers.set(g.peer, { name: g.peer, cb: pcb, seen: pcb.generation });
  }
  return {
    name: s.name, core, inputs, outputs, cb, pools: Object.values(pools), buffers, peers: [...peers.values()],
    reattach(endpoint, direction, port) {
      if (direction === 'in') (inByName[endpoint] as PortIn | undefined)?.replacePort?.(port);
      else (outByName[endpoint] as PortOut | undefined)?.replacePort?.(port);
    },
  };
}
