/**
 * The server loop: one per thread, driving one server (isolated placement)
 * or several (monolithic placement). Each iteration:
 *
 *   1. drain every input (up to `batch` messages each) into the cores'
 *      onMessage; a core that returns false blocks that input (back-pressure);
 *   2. run cores' poll(now) when they had work, were woken, or pollAt is due;
 *   3. publish every output (one tail store per ring) and ring consumers;
 *   4. only then free the input slots read (one head store per ring), so a
 *      crash between 3 and 4 re-delivers (duplicates, deduped by seq) and a
 *      crash before 3 loses nothing (unpublished outputs vanish, inputs are
 *      read again) — the restart protocol's foundation;
 *   5. when idle: spin while the adaptive policy predicts a message sooner
 *      than a park + wake-up costs, else park on the doorbell until rung or
 *      the earliest pollAt (doorbell.ts has the no-lost-wake-up protocol).
 *
 * Polling policy (the thesis's "efficient polling" future work):
 * - 'busy': never park. 'sleep': park as soon as idle. 'adaptive': keep an
 *   EWMA of the gaps between batches; spin if that gap is below twice the
 *   park+wake cost (~30 us measured here), for at most about two gaps; when
 *   traffic is sparser, still spin for `replySpinUs` after each batch that
 *   did work: on an idle host a request crosses driver, IP, PF, TCP and the
 *   application and its reply comes back the same way within a few hundred
 *   microseconds, so a server that just passed work on is likely to get the
 *   answer soon, and a park there costs a wake-up per hop (about a dozen for
 *   one HTTP request over TAP). Neither spins while the system block says
 *   more threads are runnable than there are cores (a spinner would steal
 *   the core of a thread that has work): our own runnable threads, or the
 *   machine's load average when other processes make it higher.
 */
import { performance } from 'node:perf_hooks';
import { receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import type { InEndpoint, OutEndpoint } from './channel.js';
import type { DoorbellSleeper } from './doorbell.js';
import type { ServerCore } from './server.js';
import type { ControlBlock } from './stats.js';
import type { PacketPool, PoolDirectory } from './pool.js';
import { releaseDeadLoop } from './takeover.js';
import { BELL_CONTROL, BELL_COUNTED, BELL_POLLING, COUNTED_IN, COUNTED_PARKED, POLL_OVERRIDE_NONE, ServerState, SYS_CORES, SYS_LOADAVG_X100, SYS_RUNNABLE } from './layout.js';

export type PollingMode = 'adaptive' | 'busy' | 'sleep';

/** BELL_POLLING values (layout.ts POLL_OVERRIDE_*) by index: none, adaptive, busy, sleep. */
export const POLL_MODES: readonly (PollingMode | undefined)[] = [undefined, 'adaptive', 'busy', 'sleep'];

export interface PollingOptions {
  readonly mode: PollingMode;
  /** Estimated cost of parking and being woken, microseconds. */
  readonly parkCostUs: number;
  /** Longest spin before parking, microseconds. */
  readonly maxSpinUs: number;
  /** Spin after a batch that did work even when traffic is sparse (waiting for a reply), microseconds; 0: never. */
  readonly replySpinUs: number;
  /** Longest park (the heartbeat advances at least this often), ms. */
  readonly maxParkMs: number;
  /** Messages taken from one input per iteration. */
  readonly batch: number;
}

export const DEFAULT_POLLING: PollingOptions = {
  mode: 'adaptive', parkCostUs: 30, maxSpinUs: 200, replySpinUs: 100, maxParkMs: 50, batch: 256,
};

/** Decides how long an idle loop spins before parking. Pure: time is passed in. */
export class AdaptivePolling {
  private gapEwma: number;
  private lastWork = -Infinity;
  private readonly parkCost: number;
  private readonly maxSpin: number;
  private readonly replySpin: number;

  constructor(readonly mode: PollingMode, parkCostUs: number, maxSpinUs: number, replySpinUs = 0) {
    this.parkCost = parkCostUs / 1000;
    this.maxSpin = maxSpinUs / 1000;
    this.replySpin = Math.min(replySpinUs, maxSpinUs) / 1000;
    this.gapEwma = 10 * this.parkCost;
  }

  /** An iteration found work at `now`. */
  onWork(now: number): void {
    if (this.lastWork !== -Infinity) {
      const gap = Math.min(now - this.lastWork, 10 * this.parkCost);
      this.gapEwma += (gap - this.gapEwma) / 8;
    }
    this.lastWork = now;
  }

  /** Recent mean gap between batches, ms. */
  get meanGapMs(): number { return this.gapEwma; }

  /**
   * Until when (ms) an idle loop should keep spinning; <= now means park now. `mode`
   * overrides the configured one (the supervisor's thread monitor, BELL_POLLING).
   */
  spinUntil(runnable: number, cores: number, mode: PollingMode = this.mode): number {
    if (mode === 'busy') return Infinity;
    if (mode === 'sleep') return -Infinity;
    // The application's thread (and whatever else runs) is not counted in `runnable`: keep a
    // core for it. A spin that holds the last free core takes it from the thread whose reply it
    // waits for (measured on 2 cores: a 1-byte round trip between two isolated hosts at a p50
    // of ~0.9 ms with the gate at runnable > cores, ~0.34 ms with this one, as with no spinning).
    if (runnable >= cores) return -Infinity;
    if (this.gapEwma > 2 * this.parkCost) return this.replySpin > 0 ? this.lastWork + this.replySpin : -Infinity;
    return this.lastWork + Math.max(Math.min(2 * this.gapEwma + this.parkCost, this.maxSpin), this.replySpin);
  }
}

/** Control messages the supervisor posts on a thread's control port. */
export type ControlMessage =
  | { readonly kind: 'peer-restarted'; readonly target: string; readonly peer: string; readonly generation: number }
  | { readonly kind: 'fault'; readonly target: string; readonly fault: FaultKind; readonly detail?: Readonly<Record<string, unknown>> }
  | { readonly kind: 'reattach'; readonly target: string; readonly endpoint: string; readonly direction: 'in' | 'out'; readonly port: MessagePort }
  | { readonly kind: 'stop' }
  /** Leave the loop at once without stopping the servers (no onStop): they go on in another thread (Supervisor.regroup). */
  | { readonly kind: 'retire' };

export type FaultKind = 'crash' | 'hang' | 'exit' | 'oom';

/** A peer server whose restarts a server learns of from its generation word (ServerLoop.watchPeers). */
export interface PeerWatch {
  readonly name: string;
  readonly cb: ControlBlock;
  /** The generation this server last heard of (built with, seen, or told by the supervisor). */
  seen: number;
}

/** One server as the loop drives it. */
export interface HostedServer {
  readonly name: string;
  readonly core: ServerCore;
  readonly inputs: readonly InEndpoint[];
  readonly outputs: readonly OutEndpoint[];
  readonly cb: ControlBlock;
  readonly pools: readonly PacketPool[];
  readonly buffers: PoolDirectory;
  /** Its peer servers (external parties have no generation word). */
  readonly peers?: readonly PeerWatch[];
  /** Re-points a port-transport endpoint after its peer restarted. */
  reattach?(endpoint: string, direction: 'in' | 'out', port: MessagePort): void;
}

export interface LoopOptions {
  readonly servers: readonly HostedServer[];
  readonly sleeper: DoorbellSleeper;
  /** System block (layout.ts SYS_*). */
  readonly system: Int32Array;
  readonly polling: PollingOptions;
  readonly control: MessagePort | null;
  /** Clock in ms (performance.now by default). */
  readonly now?: () => number;
}

/** A blocked output has room again (the producer should retry). */
function spaceAgain(outputs: readonly OutEndpoint[]): boolean {
  for (let i = 0; i < outputs.length; i++) if (outputs[i]!.spaceAvailable()) return true;
  return false;
}

export class ServerLoop {
  private readonly servers: readonly HostedServer[];
  private readonly leader: ControlBlock;
  private readonly policy: AdaptivePolling;
  private readonly now: () => number;
  private readonly blocked: boolean[][];
  private stopped = false;
  /** Left the loop for a 'retire': the servers go on elsewhere, the thread ends. */
  retired = false;
  private pendingFault: { server: HostedServer; fault: FaultKind; at: number } | null = null;
  private woken = true;

  constructor(private readonly o: LoopOptions) {
    this.servers = o.servers;
    this.leader = o.servers[0]!.cb;
    this.policy = new AdaptivePolling(o.polling.mode, o.polling.parkCostUs, o.polling.maxSpinUs, o.polling.replySpinUs);
    this.now = o.now ?? (() => performance.now());
    this.blocked = o.servers.map((s) => s.inputs.map(() => false));
    // Servers of this thread restart together: none is told of the others' restarts.
    const here = new Set(o.servers.map((s) => s.name));
    this.watched = o.servers.map((s) => (s.peers ?? []).filter((p) => !here.has(p.name)));
  }

  /** Per server, the peers in other threads whose generation words watchPeers reads. */
  private readonly watched: readonly (readonly PeerWatch[])[];

  /**
   * A standby's loop, built ahead, taking over from a dead one: every ring endpoint re-reads
   * where its ring stands (the predecessor moved them since the build).
   */
  resync(): void {
    for (const s of this.servers) {
      for (const c of s.inputs) c.resync?.();
      for (const c of s.outputs) c.resync?.();
    }
  }

  /** A standby's loop, built ahead: each server rehearses its hot path on private data (ServerCore.rehearse). */
  rehearse(): void {
    for (const s of this.servers) s.core.rehearse?.();
  }

  /** Runs until a 'stop' control message. Throws (crashing the thread) on an injected crash. */
  run(): void {
    this.setRunnable(true);
    for (const s of this.servers) s.cb.state = ServerState.Running;
    try {
      while (!this.stopped) this.iterate();
    } finally {
      // Out for good: 0, not PARKED, so no late producer counts a stopped loop back in.
      releaseDeadLoop(this.o.sleeper.words, this.o.system);
    }
    for (const s of this.servers) { if (!this.retired) s.core.onStop?.(); s.cb.state = ServerState.Stopped; }
  }

  /**
   * A peer restarted: its successor's generation is `generation`. Told once per generation, by
   * whichever comes first: the peer's generation word (watchPeers, at the next pass after the
   * successor was given its generation) or the supervisor's 'peer-restarted' message, which
   * comes only after the successor said it runs and the supervisor's thread got to it.
   */
  private peerRestarted(s: HostedServer, peer: string, generation: number, now: number): void {
    const w = s.peers?.find((p) => p.name === peer);
    if (w !== undefined) {
      if (generation <= w.seen) return;
      w.seen = generation;
    }
    s.core.onPeerRestart?.(peer, generation, now);
  }

  /** One load per peer: a generation word that moved means the peer restarted (peerRestarted). */
  private watchPeers(now: number): void {
    for (let si = 0; si < this.servers.length; si++) {
      const s = this.servers[si]!;
      const peers = this.watched[si]!;
      for (let i = 0; i < peers.length; i++) {
        const p = peers[i]!;
        const g = p.cb.generation;
        if (g > p.seen) this.peerRestarted(s, p.name, g, now);
      }
    }
  }

  /** One pass: drain, poll, publish, release, then spin or park if idle. */
  iterate(): void {
    const t0 = this.now();
    if (this.o.control !== null && this.o.sleeper.takeControl()) this.drainControl();
    if (this.stopped) return;
    this.watchPeers(t0);
    let work = 0;
    const batch = this.o.polling.batch;
    for (let si = 0; si < this.servers.length; si++) {
      const s = this.servers[si]!;
      s.cb.beat();
      const core = s.core;
      let taken = 0;
      const blocked = this.blocked[si]!;
      for (let ci = 0; ci < s.inputs.length; ci++) {
        const ch = s.inputs[ci]!;
        blocked[ci] = false;
        for (let n = 0; n < batch; n++) {
          const m = ch.peek();
          if (m === null) break;
          if (!core.onMessage(m, ch, t0)) { blocked[ci] = true; s.cb.addBackpressure(); break; }
          ch.advance();
          taken++;
          // A beat per message, not only per pass: a thread busy with a long batch (a
          // monolithic host with 1000 connections under load) is working, not hung.
          s.cb.beat();
        }
      }
      if (core.poll !== undefined && (taken > 0 || this.woken || (core.pollAt?.() ?? Infinity) <= t0 || spaceAgain(s.outputs))) core.poll(t0);
      if (taken > 0) { s.cb.addIn(taken); s.cb.markFirstMessage(); }
      work += taken;
    }
    this.woken = false;
    // Publish before release: see the file comment.
    for (const s of this.servers) {
      let sent = 0;
      for (const out of s.outputs) sent += out.flush();
      if (sent > 0) { s.cb.addOut(sent); work += sent; }
    }
    // Fire an injected fault mid-stream: on an iteration that moved messages
    // (or soon anyway, for a server with no traffic).
    if (this.pendingFault !== null && (work > 0 || t0 - this.pendingFault.at > 2)) this.fault(this.pendingFault.server, this.pendingFault.fault);
    for (const s of this.servers) for (const ch of s.inputs) ch.release();
    const t1 = this.now();
    if (work > 0) {
      this.policy.onWork(t1);
      this.leader.addBusy(t1 - t0);
      return;
    }
    this.idle(t1);
    this.leader.addIdle(this.now() - t0);
  }

  private idle(now: number): void {
    for (let si = 0; si < this.servers.length; si++) this.servers[si]!.core.onIdle?.(now);
    const sys = this.o.system;
    // Runnable threads: ours (exact) or the whole machine's (load average), whichever is more.
    const runnable = Math.max(Atomics.load(sys, SYS_RUNNABLE), Atomics.load(sys, SYS_LOADAVG_X100) / 100);
    const override = Atomics.load(this.o.sleeper.words, BELL_POLLING);
    const until = this.policy.spinUntil(runnable, Atomics.load(sys, SYS_CORES) || 1, override === POLL_OVERRIDE_NONE ? this.policy.mode : POLL_MODES[override] ?? this.policy.mode);
    if (now < until) { this.leader.addSpins(1); return; }
    let due = Infinity;
    for (const s of this.servers) { const t = s.core.pollAt?.() ?? Infinity; if (t < due) due = t; }
    const timeout = Math.min(due - now, this.pendingFault !== null ? 1 : this.o.polling.maxParkMs);
    if (timeout <= 0) return;
    this.setRunnable(false);
    const r = this.o.sleeper.park(timeout, () => this.stillIdle());
    this.setRunnable(true);
    if (r !== 'not-parked') this.leader.addPark(r === 'woken');
    this.woken = true;
  }

  /**
   * Counts this thread in (or out of) SYS_RUNNABLE, remembering it in BELL_COUNTED for the
   * supervisor. A producer that woke us may have counted us in already (doorbell.ts).
   */
  private setRunnable(on: boolean): void {
    const bell = this.o.sleeper.words;
    if (on) {
      if (Atomics.exchange(bell, BELL_COUNTED, COUNTED_IN) !== COUNTED_IN) Atomics.add(this.o.system, SYS_RUNNABLE, 1);
    } else if (Atomics.compareExchange(bell, BELL_COUNTED, COUNTED_IN, COUNTED_PARKED) === COUNTED_IN) {
      Atomics.sub(this.o.system, SYS_RUNNABLE, 1);
    }
  }

  /** Re-check after raising the sleeping flag: anything that should keep us up? */
  private stillIdle(): boolean {
    for (let si = 0; si < this.servers.length; si++) {
      const s = this.servers[si]!;
      const blocked = this.blocked[si]!;
      for (let ci = 0; ci < s.inputs.length; ci++) if (!blocked[ci] && s.inputs[ci]!.hasMessage()) return false;
      for (const out of s.outputs) if (out.spaceAvailable()) return false;
      if (s.core.hasWork?.() === true) return false;
    }
    if (this.o.control !== null && Atomics.load(this.o.sleeper.words, BELL_CONTROL) !== 0) return false;
    return true;
  }

  private drainControl(): void {
    const port = this.o.control!;
    for (;;) {
      const got = receiveMessageOnPort(port);
      if (got === undefined) break;
      const m = got.message as ControlMessage;
      if (m.kind === 'stop') { this.stopped = true; continue; }
      if (m.kind === 'retire') { this.stopped = true; this.retired = true; continue; }
      const s = this.servers.find((x) => x.name === m.target);
      if (s === undefined) continue;
      if (m.kind === 'peer-restarted') this.peerRestarted(s, m.peer, m.generation, this.now());
      else if (m.kind === 'fault') {
        // A targeted fault the core takes fires when the core meets its target.
        if (m.detail === undefined || s.core.injectFault?.(m.fault, m.detail) !== true) this.pendingFault = { server: s, fault: m.fault, at: this.now() };
      }
      else if (m.kind === 'reattach') s.reattach?.(m.endpoint, m.direction, m.port);
    }
    this.woken = true;
  }

  /**
   * Injected faults fire after outputs are published and before inputs are
   * freed: the worst moment, so the tests see re-delivered duplicates.
   */
  private fault(s: HostedServer, fault: FaultKind): void {
    s.cb.markFault();
    if (fault === 'crash') throw new Error(`injected crash in ${s.name}`);
    if (fault === 'exit') process.exit(70);
    if (fault === 'hang') for (;;) { /* spin forever without a heartbeat */ }
    // 'oom': grow the heap until the worker's resourceLimits kill the thread.
    const hog: unknown[] = [];
    for (;;) hog.push(new Array<number>(1 << 20).fill(hog.length));
  }
}
