/**
 * The thread monitor's core (sans-IO, clock injected): fed every ~100 ms with each server
 * thread's loop counters, it chooses the thread's polling mode and whether to pin it to a
 * core. The supervisor runs it on a timer (Supervisor.startThreadMonitor), writes the modes
 * into each thread's doorbell (layout.ts BELL_POLLING) and pins with the OS (taskset).
 *
 * Polling, per thread (`polling: 'auto'`):
 * - **sleep** (park as soon as there is nothing to do, no spinning) once the thread has
 *   taken no message for `sleepAfterMs`: an idle server costs no CPU;
 * - **busy** (spin, never park) when the thread was busy at least `spinAbovePct` of the
 *   last window for `holdMs`, and the machine has a core for it: this host's threads plus
 *   what else runs (at least one core for the application) fit in the cores. Spinning on a
 *   shared core only takes time from the thread it waits for;
 * - **adaptive** otherwise (spin while the next message is predicted sooner than a park
 *   would cost, server-loop.ts AdaptivePolling).
 * Waking is immediate (a message ends 'sleep' on the next tick; cores getting short ends
 * 'busy' at once); going to busy waits for `holdMs`, so a burst does not flip it, and a
 * spinning thread goes back to adaptive only below half the threshold.
 * A fixed `polling` mode is written once to every thread and never changed.
 *
 * Pinning (`pinning: true`): a spinning thread owns a core; each 'busy' thread is pinned
 * to its own core from the highest down, never core 0 (left to the application and the
 * rest), and unpinned when it stops spinning. Threads that park are left to the OS
 * scheduler, which places a woken thread on an idle core better than a fixed choice would.
 * A successor thread (new OS thread id) is pinned again.
 *
 * Every change is reported as a decision with the figures behind it.
 */
import type { PollingMode } from './server-loop.js';

export interface ThreadSample {
  /** Name of the thread's first server. */
  readonly thread: string;
  /** The loop's busy time so far, ms (the leader's control block). */
  readonly busyMs: number;
  /** Messages its servers took so far. */
  readonly messages: number;
  /** OS thread id (0: unknown, cannot be pinned). */
  readonly tid: number;
}

export interface ThreadMonitorOptions {
  /** Cores the machine has for this host (what the spin decision counts on). */
  readonly cores: number;
  /** CPUs to pin to, numbered 0..cpus-1 (default `cores`). */
  readonly cpus?: number;
  /** 'auto' (default) or a mode fixed for every thread. */
  readonly polling?: 'auto' | PollingMode;
  /** Pin spinning threads to cores (default true). */
  readonly pinning?: boolean;
  /** Busy share of the window above which a thread may spin (default 30). */
  readonly spinAbovePct?: number;
  /** No message for this long: park at once (default 2000 ms). */
  readonly sleepAfterMs?: number;
  /** How long the busy share must stay above spinAbovePct before spinning (default 1000 ms). */
  readonly holdMs?: number;
  /** Busy share measured over this window (default 500 ms). */
  readonly windowMs?: number;
}

export interface ThreadDecision {
  readonly at: number;
  readonly thread: string;
  readonly action: 'polling' | 'pin' | 'unpin';
  /** The thread's OS id (0: unknown). */
  readonly tid: number;
  /** Polling modes, or cores ('all' when not pinned). */
  readonly from: string;
  readonly to: string;
  /** The thread's busy share over the window, %. */
  readonly busyPct: number;
  /** ms since the thread last took a message. */
  readonly idleMs: number;
  /** This host's server threads, the machine's cores, and the load of everything else (threads). */
  readonly threads: number;
  readonly cores: number;
  readonly otherLoad: number;
  readonly reason: string;
}

interface ThreadState {
  history: { at: number; busyMs: number }[];
  messages: number;
  lastMessageAt: number;
  mode: PollingMode;
  /** Since when the thread has qualified for 'busy' (NaN: it has not). */
  busySince: number;
  tid: number;
  /** Core pinned to (-1: none). */
  pinned: number;
  busyPct: number;
  /** A decision about its polling was made (a fixed mode is announced once, even unchanged). */
  announced: boolean;
}

export class ThreadMonitor {
  readonly decisions: ThreadDecision[] = [];
  /** The load of everything but this host's server threads (threads, over the window), as of the last tick. */
  otherLoad = 0;
  private readonly threads = new Map<string, ThreadState>();
  private readonly runnable: { at: number; n: number }[] = [];
  private readonly o: Required<ThreadMonitorOptions>;

  constructor(options: ThreadMonitorOptions) {
    this.o = {
      polling: 'auto', pinning: true, cpus: options.cores, spinAbovePct: 30, sleepAfterMs: 2000, holdMs: 1000, windowMs: 500, ...options,
    };
  }

  /** The mode chosen for a thread ('adaptive' before the first tick). */
  modeOf(thread: string): PollingMode {
    return this.threads.get(thread)?.mode ?? 'adaptive';
  }

  /** The core a thread is pinned to, or -1. */
  coreOf(thread: string): number {
    return this.threads.get(thread)?.pinned ?? -1;
  }

  /**
   * One tick: `samples` of every live thread, `runnable` the threads runnable on the
   * machine now (ours and the caller's included; averaged here over the window). Returns
   * the decisions made now (also kept in `decisions`); modeOf / coreOf give the state to apply.
   */
  tick(now: number, samples: readonly ThreadSample[], runnable: number): ThreadDecision[] {
    const made: ThreadDecision[] = [];
    const o = this.o;
    this.runnable.push({ at: now, n: runnable });
    while (this.runnable.length > 1 && now - this.runnable[0]!.at > o.windowMs) this.runnable.shift();
    let sum = 0;
    for (const r of this.runnable) sum += r.n;
    const loadAvg = sum / this.runnable.length;
    // Update each thread's figures.
    for (const s of samples) {
      let st = this.threads.get(s.thread);
      if (st === undefined) {
        st = { history: [], messages: s.messages, lastMessageAt: now, mode: 'adaptive', busySince: NaN, tid: s.tid, pinned: -1, busyPct: 0, announced: o.polling === 'auto' };
        this.threads.set(s.thread, st);
      }
      // A successor thread starts its counters again.
      const last = st.history[st.history.length - 1];
      if (last !== undefined && s.busyMs < last.busyMs) st.history = [];
      if (s.messages !== st.messages) { st.messages = s.messages; st.lastMessageAt = now; }
      st.history.push({ at: now, busyMs: s.busyMs });
      while (st.history.length > 2 && now - st.history[1]!.at >= o.windowMs) st.history.shift();
      const first = st.history[0]!;
      st.busyPct = now > first.at ? Math.min(100, Math.max(0, (s.busyMs - first.busyMs) / (now - first.at) * 100)) : 0;
      if (s.tid !== st.tid) { st.tid = s.tid; st.pinned = -1; }
    }
    const live = new Set(samples.map((s) => s.thread));
    for (const name of [...this.threads.keys()]) if (!live.has(name)) this.threads.delete(name);

    // Everything else that runs (the application's thread included): what is runnable less
    // what our threads account for.
    let ours = 0;
    for (const st of this.threads.values()) ours += st.mode === 'busy' ? 1 : st.busyPct / 100;
    const otherLoad = Math.max(0, loadAvg - ours);
    this.otherLoad = otherLoad;
    const n = this.threads.size;
    const coreFree = n + Math.max(1, otherLoad) <= o.cores;
    const decide = (thread: string, st: ThreadState, action: ThreadDecision['action'], from: string, to: string, reason: string): void => {
      const d: ThreadDecision = {
        at: now, thread, tid: st.tid, action, from, to, busyPct: Math.round(st.busyPct * 10) / 10, idleMs: Math.round(now - st.lastMessageAt),
        threads: n, cores: o.cores, otherLoad: Math.round(otherLoad * 100) / 100, reason,
      };
      made.push(d);
      this.decisions.push(d);
      if (this.decisions.length > 1000) this.decisions.splice(0, this.decisions.length - 500);
    };

    for (const [thread, st] of this.threads) {
      let want: PollingMode;
      let reason: string;
      if (o.polling !== 'auto') {
        want = o.polling;
        reason = 'fixed by configuration';
      } else if (now - st.lastMessageAt >= o.sleepAfterMs) {
        want = 'sleep';
        reason = `no message for ${Math.round(now - st.lastMessageAt)} ms`;
      } else if ((st.busyPct >= o.spinAbovePct || (st.mode === 'busy' && st.busyPct >= o.spinAbovePct / 2)) && coreFree) {
        // Once spinning, it keeps spinning down to half the threshold: no flapping at the edge.
        if (Number.isNaN(st.busySince)) st.busySince = now;
        if (st.mode !== 'busy' && now - st.busySince < o.holdMs) continue;
        want = 'busy';
        reason = `busy ${st.busyPct.toFixed(0)} % ≥ ${o.spinAbovePct} % and a core for it (${n} threads + load ${otherLoad.toFixed(2)} on ${o.cores} cores)`;
      } else {
        st.busySince = NaN;
        want = 'adaptive';
        reason = st.busyPct >= o.spinAbovePct
          ? `no core to spin on (${n} threads + load ${otherLoad.toFixed(2)} on ${o.cores} cores)`
          : `busy ${st.busyPct.toFixed(0)} % < ${o.spinAbovePct} %`;
      }
      if (want !== 'busy') st.busySince = NaN;
      // A fixed mode is reported once per thread, even when it is the one the thread had.
      if (want !== st.mode || !st.announced) {
        decide(thread, st, 'polling', st.mode, want, reason);
        st.mode = want;
      }
      st.announced = true;
    }

    // Pins: each spinning thread its own core, from the highest down, never core 0.
    if (o.pinning) {
      const taken = new Set<number>();
      for (const st of this.threads.values()) if (st.mode === 'busy' && st.pinned >= 0) taken.add(st.pinned);
      for (const [thread, st] of this.threads) {
        if (st.mode !== 'busy' && st.pinned >= 0) {
          decide(thread, st, 'unpin', String(st.pinned), 'all', `polling ${st.mode}: the OS places it`);
          st.pinned = -1;
        } else if (st.mode === 'busy' && st.pinned < 0 && st.tid > 0) {
          let core = -1;
          for (let c = o.cpus - 1; c >= 1; c--) if (!taken.has(c)) { core = c; break; }
          if (core < 0) continue;
          taken.add(core);
          decide(thread, st, 'pin', 'all', String(core), 'spinning: a core of its own');
          st.pinned = core;
        }
      }
    }
    return made;
  }
}
