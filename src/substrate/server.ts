/**
 * The server contract: what a driver, IP, PF, TCP, UDP or SOCK server writes
 * against. Placement (its own worker, several per worker, or MessagePort
 * transport) is manifest configuration; the server code is the same.
 *
 * A server is an ES module whose `createServer` export is a ServerFactory:
 *
 * ```ts
 * // src/ip/server.ts
 * import type { ServerContext, ServerCore } from '../substrate/index.js';
 * export function createServer(ctx: ServerContext): ServerCore {
 *   const down = ctx.outputs.driver!;            // granted by the manifest
 *   const rules = ctx.store.get('routes');       // survives restarts
 *   return {
 *     onMessage(msg, from, now) {                // one message, in place
 *       const out = down.reserve();
 *       if (out === null) return false;          // full: leave msg queued
 *       out.copyFrom(msg); down.commit();
 *       return true;                             // consumed
 *     },
 *     poll(now) { ... },                         // timers due
 *     pollAt() { return nextTimer; },            // absolute ms, Infinity = none
 *     onPeerRestart(peer, gen, now) { ... },     // re-send outstanding requests
 *   };
 * }
 * ```
 *
 * The manifest names the module (`servers[].module`, a path or file URL of
 * the compiled .js) and grants endpoints: `channels: [{ from: 'ip.driver',
 * to: 'driver.ip' }]` gives server `ip` the output `ctx.outputs.driver` and
 * server `driver` the input `ctx.inputs.ip`. Pools named in `pools[]` are
 * owned by one server (`ctx.pools[name]`, a PacketPool) and readable by their
 * borrowers (`ctx.buffers`, a PoolDirectory).
 *
 * Rules the loop relies on
 * - onMessage gets a MessageView that is valid only during the call. Return
 *   true when the message is consumed, false to leave it queued (back-
 *   pressure; the loop retries later and stops draining that input now).
 * - Everything a message causes must be durable (committed on an output,
 *   held in a pool with `ctx.buffers.hold`, written to shared memory or the
 *   data store) before onMessage returns true: the loop publishes outputs
 *   and only then frees the input slots, so a crash re-delivers, never loses.
 *   A restarted server may therefore see a message twice: tolerate it, or
 *   stamp sequence numbers and dedup them (restart-protocol.ts says which
 *   servers do which).
 * - Messages carry the sender's generation (set by the loop) and a sequence
 *   number (chosen by the server; 0 where the server does not dedup). `onPeerRestart` runs when a peer came back
 *   with a new generation: cancel or re-send what you had outstanding with it
 *   (MINIX ndev style), and drop replies stamped with its old generation.
 * - Never block, never call Atomics.wait, setTimeout or Date.now in a core:
 *   time is the `now` argument (ms, fractional) and `ctx.now()`; timers are
 *   `pollAt()`. The loop parks the thread until the next message or timer.
 */
import type { InChannel, OutChannel } from './channel.js';
import type { MessageView } from './message.js';
import type { PacketPool, PoolDirectory } from './pool.js';
import type { ControlBlock } from './stats.js';
import type { DataStore } from './data-store.js';
import type { FaultKind } from './server-loop.js';

export interface ServerContext {
  /** The server's name in the manifest. */
  readonly name: string;
  /** Index of the server in the manifest (identifies it as a buffer holder). */
  readonly index: number;
  /** Generation of this incarnation (1 for the first start; +1 per restart). */
  readonly generation: number;
  /** Granted inputs by local endpoint name. */
  readonly inputs: Readonly<Record<string, InChannel>>;
  /** Granted outputs by local endpoint name. */
  readonly outputs: Readonly<Record<string, OutChannel>>;
  /** Pools this server owns, by pool name. */
  readonly pools: Readonly<Record<string, PacketPool>>;
  /** Resolves rich pointers into the pools this server may read. */
  readonly buffers: PoolDirectory;
  /** Small key/value state that outlives restarts (this server's namespace). */
  readonly store: DataStore;
  /** This server's shared-memory counters. */
  readonly stats: ControlBlock;
  /**
   * Memory that outlives this server's threads (manifest `sharedBytes`; absent without):
   * zeroed before the first start, exactly as the predecessor left it after a restart, so
   * state kept here survives a crash at any instant if every change is made so that a
   * half-done one is recognisable. A warm standby is built while its predecessor still writes
   * here: read it only once running (at the first message), not in createServer.
   */
  readonly shared?: SharedArrayBuffer;
  /** Manifest `servers[].options`, verbatim. */
  readonly options: Readonly<Record<string, unknown>>;
  /**
   * The doorbell of the thread this server runs in. A server that owns a device
   * (the NIC driver) may hand it to the device so that the device wakes the
   * thread; it must then also implement `hasWork`.
   */
  readonly doorbell: SharedArrayBuffer;
  /**
   * Lets this thread sleep in poll(2) beside a device it owns instead of on its doorbell alone
   * (doorbell.ts DoorbellSleeper.sleepBeside): `wait(timeoutMs)` returns when the device has
   * input, when `eventFd` was written (ringers write it while the thread sleeps) or after
   * timeoutMs, true if something woke it. `eventFd` must outlive every thread that may ring.
   * One per thread: false if another server of the thread took it, or where the host has no
   * doorbell to sleep on; the device then needs a helper that rings the doorbell.
   */
  sleepBeside?(wait: (timeoutMs: number) => boolean, eventFd: number): boolean;
  /** Monotonic ms (same clock as the `now` the loop passes). */
  now(): number;
  /** Records an event in the supervisor's log (off the data path). */
  log(event: string, detail?: Readonly<Record<string, unknown>>): void;
}

export interface ServerCore {
  /** One message from `from`. true = consumed; false = back-pressure, keep it queued. */
  onMessage(msg: MessageView, from: InChannel, now: number): boolean;
  /** Called when `pollAt()` is due (and after every batch). Do timer work here. */
  poll?(now: number): void;
  /** Absolute ms of the next timer, or Infinity. */
  pollAt?(): number;
  /**
   * Work outside the server's channels (a device queue): the loop asks after
   * raising its sleeping flag and does not park while this says true, so a
   * device that rings only sleeping threads never loses a wake-up.
   */
  hasWork?(): boolean;
  /**
   * The thread found nothing to do (called before it spins or parks, so often: keep it cheap
   * when there is nothing to do). For work that should not sit on a message's way through
   * the thread, such as publishing statistics.
   */
  onIdle?(now: number): void;
  /**
   * A fault injected with a target (Supervisor.inject's `detail`, e.g. one TCP connection):
   * true when the core arms it and fires it itself at the moment it chooses (it throws for
   * a crash, spins for a hang, as the loop would); false leaves it to the loop.
   */
  injectFault?(fault: FaultKind, detail: Readonly<Record<string, unknown>>): boolean;
  /**
   * A warm standby calls this once, built and before it sleeps: run the hot path on private
   * data (a scratch copy of the server's engine, made-up packets) so that its code is compiled
   * and optimised when the standby takes over, instead of running cold right when a gap is
   * open. Must touch nothing shared: the predecessor still runs.
   */
  rehearse?(): void;
  /** A peer restarted with a new generation. */
  onPeerRestart?(peer: string, generation: number, now: number): void;
  /** Orderly shutdown. */
  onStop?(): void;
}

/** What a server module exports as `createServer`. */
export type ServerFactory = (ctx: ServerContext) => ServerCore | Promise<ServerCore>;
