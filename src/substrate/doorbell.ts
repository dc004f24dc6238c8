/**
 * Doorbell: one word per server thread that producers ring after publishing,
 * plus the sleeper's own "sleeping" flag (the thesis's MWAIT stand-in).
 *
 * Protocol (layout.ts BELL_*)
 * - The sleeper (the thread that owns the doorbell, and only it) parks like
 *   this:  v = load(COUNT); store(SLEEPING, 1); re-check every input;
 *          if still nothing: Atomics.wait(COUNT, v, timeout); store(SLEEPING, 0).
 * - A producer, after its Atomics.store of a ring's TAIL:
 *          if load(SLEEPING) == 1: add(COUNT, 1); notify(COUNT).
 * - Why no wake-up is lost: all of these are sequentially consistent. Either
 *   the producer's load of SLEEPING comes after the sleeper's store of 1 (then
 *   it bumps COUNT; the sleeper's wait either sees COUNT != v and returns at
 *   once, or is already waiting and is notified), or it comes before, and then
 *   the producer's TAIL store also precedes the sleeper's re-check, which sees
 *   the message and does not park.
 * - Only the sleeper writes SLEEPING. A producer that cleared it could race
 *   with the sleeper's next "store 1" and erase it, and the next producer
 *   would skip its notify: a lost wake-up.
 * - CONTROL is set by the supervisor when it posted a control message on the
 *   thread's MessagePort; the loop swaps it back to 0 and drains the port.
 *
 * Wake accounting (the loops' spin gate, server-loop.ts): a loop about to park marks its
 * BELL_COUNTED word PARKED as it takes itself out of SYS_RUNNABLE. A producer whose ring
 * wakes it counts it back in at once (compare-and-swap PARKED -> COUNTED, then SYS_RUNNABLE
 * + 1), so the woken thread is counted while it still waits for a core, not only once it
 * runs: a spinning loop sees it and parks instead of holding the core it needs. The woken
 * loop, finding itself counted, does not count again. A thread's ringers count into the
 * block `countWakesIn` gave them (the process's system block); without one they do not.
 *
 * Sleeping beside a device (BELL_WAKE_FD, ServerContext.sleepBeside): a thread that owns a device
 * (a NIC driver's TAP) may sleep in poll(2) on the device and an eventfd instead of on COUNT,
 * so a frame wakes it straight from the kernel, not through a helper thread's ring. The
 * protocol is the same: a producer that finds SLEEPING set bumps COUNT, notifies, and also
 * writes the eventfd named in BELL_WAKE_FD, which wakes the poll(2); the sleeper reads the
 * eventfd back to zero after it woke. The eventfd outlives every thread that may ring.
 *
 * Forwarding (BELL_FORWARD): on a host whose servers may move between threads each server
 * has a doorbell of its own, and producers ring that. While the server shares a thread led by
 * another, its doorbell names the leader's, and a ringer rings that one instead: one more load
 * per ring. The doorbells a thread may be forwarded to are made known to it with `knowBells`
 * (the supervisor's thread: when it makes them; a server thread: from its assignment). Why no
 * wake-up is lost when the supervisor moves a server: it writes the forward before it starts
 * the thread that now runs the server, and that thread looks at every input before it first
 * parks; a producer that read the old forward published its message before the write, so
 * before that first look.
 *
 * The application thread, which must not block, uses `waitAsync()` below: it
 * keeps a ref'd timer while the asynchronous wait is pending, because on
 * Node 20 a pending Atomics.waitAsync alone does not keep a thread alive.
 */
import { writeSync } from 'node:fs';
import { isMainThread } from 'node:worker_threads';
import {
  BELL_CONTROL, BELL_COUNT, BELL_COUNTED, BELL_FORWARD, BELL_ID, BELL_SLEEPING, BELL_WAKE_FD, BELL_WORDS, COUNTED_IN, COUNTED_PARKED, SYS_RUNNABLE,
} from './layout.js';

/** What a ringer writes to a sleeper's eventfd (a 64-bit 1). */
const EVENTFD_ONE = new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0]);

/** Wakes a sleeper that sleeps beside a device (BELL_WAKE_FD): one write(2) to its eventfd. */
function wakeFd(w: Int32Array): void {
  const f = Atomics.load(w, BELL_WAKE_FD);
  if (f === 0) return;
  try {
    writeSync(f - 1, EVENTFD_ONE);
  } catch {
    // EAGAIN: the counter is full, so the sleeper is being woken anyway. EBADF cannot
    // happen while its host runs (the eventfd outlives every ringer); nothing to do either way.
  }
}

/** The system block this thread's ringers count woken loops into (null: none). */
let wakeBlock: Int32Array | null = null;

/** Makes this thread's ringers count the loops they wake into `system` (layout.ts SYS_*). */
export function countWakesIn(system: SharedArrayBuffer): void {
  wakeBlock = new Int32Array(system);
}

/** The block given to countWakesIn in this thread, to hand to helper threads. */
export function wakeCountBlock(): SharedArrayBuffer | null {
  return wakeBlock === null ? null : wakeBlock.buffer as SharedArrayBuffer;
}

/** Doorbells made in this thread so far (their BELL_ID); only the main thread numbers its doorbells. */
let bellsMade = 0;

/** Doorbells ringers in this thread may be forwarded to, by BELL_ID. */
const knownBells = new Map<number, Int32Array>();

export function createDoorbell(): SharedArrayBuffer {
  const sab = new SharedArrayBuffer(BELL_WORDS * 4);
  // Forward targets are made where supervisors run (the main thread); a doorbell a server
  // thread makes for itself is never one (id 0).
  if (isMainThread) Atomics.store(new Int32Array(sab), BELL_ID, ++bellsMade);
  return sab;
}

/** Makes doorbells known to this thread's ringers as forward targets (see the file comment). */
export function knowBells(bells: readonly SharedArrayBuffer[]): void {
  for (const b of bells) {
    const w = new Int32Array(b);
    const id = Atomics.load(w, BELL_ID);
    if (id !== 0) knownBells.set(id, w);
  }
}

/** Forgets doorbells knowBells made known (a host that stopped). */
export function forgetBells(bells: readonly SharedArrayBuffer[]): void {
  for (const b of bells) {
    const id = Atomics.load(new Int32Array(b), BELL_ID);
    if (knownBells.get(id)?.buffer === b) knownBells.delete(id);
  }
}

/** Rings that found a forward to a doorbell this thread does not know (rang their own instead). */
let unknownForwards = 0;

/** How many rings in this thread met a forward to an unknown doorbell (a bug if ever non-zero). */
export function unknownBellForwards(): number {
  return unknownForwards;
}

/** Producer-side handle: ring a thread's doorbell. */
export class DoorbellRinger {
  private readonly own: Int32Array;
  /** The last forward met and the doorbell it named (saves the map lookup while it holds). */
  private forwardId = 0;
  private forwardTo: Int32Array;
  /** Notifies actually sent (the sleeper was parked or about to). */
  notifies = 0;

  constructor(sab: SharedArrayBuffer) {
    this.own = new Int32Array(sab);
    this.forwardTo = this.own;
  }

  /** The doorbell to ring now: this one, or the one it forwards to. */
  private target(): Int32Array {
    const f = Atomics.load(this.own, BELL_FORWARD);
    if (f === 0) return this.own;
    if (f === this.forwardId) return this.forwardTo;
    const t = knownBells.get(f);
    if (t === undefined) { unknownForwards++; return this.own; }
    this.forwardId = f; this.forwardTo = t;
    return t;
  }

  /** Call after publishing. Costs two loads when the owner is awake. */
  ring(): boolean {
    const w = this.target();
    if (Atomics.load(w, BELL_SLEEPING) === 0) return false;
    Atomics.add(w, BELL_COUNT, 1);
    Atomics.notify(w, BELL_COUNT, 1);
    wakeFd(w);
    if (wakeBlock !== null && Atomics.compareExchange(w, BELL_COUNTED, COUNTED_PARKED, COUNTED_IN) === COUNTED_PARKED) {
      Atomics.add(wakeBlock, SYS_RUNNABLE, 1);
    }
    this.notifies++;
    return true;
  }

  /** Rings regardless of the sleeping flag (supervisor control, shutdown). */
  ringAlways(): void {
    const w = this.target();
    Atomics.add(w, BELL_COUNT, 1);
    Atomics.notify(w, BELL_COUNT);
    wakeFd(w);
  }

  /** Supervisor: flags a pending control message and wakes the owner. */
  signalControl(): void {
    Atomics.store(this.target(), BELL_CONTROL, 1);
    this.ringAlways();
  }
}

/** Result of a park. */
export type ParkResult = 'woken' | 'timed-out' | 'not-parked';

/** Owner-side handle: park until rung. Only the owning thread may use it. */
export class DoorbellSleeper {
  readonly words: Int32Array;
  /**
   * Set by `sleepBeside`: sleeps in poll(2) on a device and the doorbell's eventfd for at most
   * the given ms instead of on COUNT; true if something woke it.
   */
  private fdWait: ((timeoutMs: number) => boolean) | null = null;

  constructor(sab: SharedArrayBuffer) {
    this.words = new Int32Array(sab);
  }

  /**
   * From now on park in `wait` (poll(2) on a device and on `eventFd`), and have ringers write
   * `eventFd` too (BELL_WAKE_FD). One per doorbell: false if another wait was set already.
   * `eventFd` must stay open as long as anything may ring this doorbell.
   */
  sleepBeside(wait: (timeoutMs: number) => boolean, eventFd: number): boolean {
    if (this.fdWait !== null || !Number.isInteger(eventFd) || eventFd < 0) return false;
    this.fdWait = wait;
    Atomics.store(this.words, BELL_WAKE_FD, eventFd + 1);
    return true;
  }

  /**
   * Parks until the doorbell rings or `timeoutMs` passes. `stillIdle` is
   * called after the sleeping flag is raised; it must re-check every input
   * and return false if anything arrived (then we do not park).
   */
  park(timeoutMs: number, stillIdle: () => boolean): ParkResult {
    const v = this.announce(stillIdle);
    if (v === null) return 'not-parked';
    if (this.fdWait !== null) {
      // A ring that came between the announce and the poll(2) wrote the eventfd: poll returns at once.
      const woken = this.fdWait(timeoutMs) || Atomics.load(this.words, BELL_COUNT) !== v;
      Atomics.store(this.words, BELL_SLEEPING, 0);
      return woken ? 'woken' : 'timed-out';
    }
    const r = Atomics.wait(this.words, BELL_COUNT, v, timeoutMs);
    Atomics.store(this.words, BELL_SLEEPING, 0);
    return r === 'timed-out' ? 'timed-out' : 'woken';
  }

  /**
   * Non-blocking park for a thread that may not block (the application thread).
   * `ref` false: the pending park does not keep the thread alive (see waitAsync).
   */
  async parkAsync(timeoutMs: number, stillIdle: () => boolean, ref = true): Promise<ParkResult> {
    const v = this.announce(stillIdle);
    if (v === null) return 'not-parked';
    const r = await waitAsync(this.words, BELL_COUNT, v, timeoutMs, ref);
    Atomics.store(this.words, BELL_SLEEPING, 0);
    return r === 'timed-out' ? 'timed-out' : 'woken';
  }

  /**
   * The first half of a park (the protocol's order): the count to wait on, read before
   * raising SLEEPING, or null when `stillIdle` found work (SLEEPING lowered again).
   */
  private announce(stillIdle: () => boolean): number | null {
    const w = this.words;
    const v = Atomics.load(w, BELL_COUNT);
    Atomics.store(w, BELL_SLEEPING, 1);
    if (stillIdle()) return v;
    Atomics.store(w, BELL_SLEEPING, 0);
    return null;
  }

  /** True (and cleared) if the supervisor flagged a control message. */
  takeControl(): boolean {
    if (Atomics.load(this.words, BELL_CONTROL) === 0) return false;
    return Atomics.exchange(this.words, BELL_CONTROL, 0) !== 0;
  }
}

/** Atomics.waitAsync (ES2024; in Node 20, missing from the ES2022 lib typings). */
type AtomicsWaitAsync = (w: Int32Array, index: number, value: number, timeout?: number) =>
  | { async: false; value: 'not-equal' | 'timed-out' }
  | { async: true; value: Promise<'ok' | 'timed-out'> };

/** Waits that ended by their timeout although the word had changed: a notify that never arrived. */
let lateWakes = 0;

/** How many asynchronous waits in this thread timed out with their word already changed (a lost notify, caught by the timeout). */
export function lateAsyncWakes(): number {
  return lateWakes;
}

/**
 * Atomics.waitAsync with the timeout kept by a JavaScript timer, not by V8.
 * Resolves 'ok', 'not-equal' or 'timed-out'. `ref` false: the pending wait does
 * not keep the thread alive (Node 20 lets a thread exit with only a pending
 * waitAsync; a ref'd wait holds its timer, which does).
 *
 * Why not V8's own timeout: V8 posts a delayed task per timed waitAsync that stays
 * on the thread's platform queue until its time comes, even when a notify ended the
 * wait at once, and Node removes each fired task with a linear search. An application
 * thread doing some 20k socket waits per second with a 60 s timeout piles up about a
 * million of them and stalls in that search (seen in bench:rr's last rows: round trips
 * of minutes, the thread at 100 % in PerIsolatePlatformData::DeleteFromScheduledTasks).
 * A Node timer costs O(1) to start and clear. When it fires, the wait is given up
 * and the V8 waiter it leaves behind is released with a notify on the same word:
 * only this thread waits on the words it waits on (a doorbell's owner, a socket's
 * application), and a stale waiter must not take the single notify a producer sends
 * (DoorbellRinger.ring) from the next wait.
 * `late`: whether a timeout means a notify that never arrived, where the word having changed
 * does not say it (a socket table's wait, kept across parks while the word moves; default:
 * the word changed).
 */
export function waitAsync(
  w: Int32Array, index: number, value: number, timeoutMs: number, ref = true, late?: () => boolean,
): Promise<'ok' | 'not-equal' | 'timed-out'> {
  const res = (Atomics as unknown as { waitAsync: AtomicsWaitAsync }).waitAsync(w, index, value);
  if (!res.async) return Promise.resolve(res.value);
  return new Promise((resolve) => {
    let settled = false;
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      if (late !== undefined ? late() : Atomics.load(w, index) !== value) lateWakes++;
      Atomics.notify(w, index);
      resolve('timed-out');
    }, Number.isFinite(timeoutMs) ? Math.max(0, timeoutMs) : 2 ** 31 - 1);
    if (!ref) timer.unref();
    void res.value.then(() => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve('ok');
    });
  });
}
