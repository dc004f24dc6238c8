/**
 * What must happen between a server thread's death and its successor's first
 * message, in one place for both ways a successor starts:
 *
 * - a spare the supervisor activates after it saw the death (supervisor.ts
 *   onDeath), which does these steps on its own thread first;
 * - the group's warm standby: a worker that already built the next generation
 *   of the servers and waits on the doorbell's BELL_STANDBY word. The dying
 *   thread promotes it itself (worker-host.ts, on its way out), or the
 *   supervisor does for a death the thread could not report (out of memory, a
 *   hang, a terminate). The standby then runs these steps and its loop without
 *   any message between threads: a restart in well under a millisecond of
 *   thread work, where a spare waits for the supervisor's thread to see the
 *   death, for a postMessage and for its build.
 *
 * The standby word (BELL_STANDBY), moved only by compare-and-swap:
 *   NONE → ARMING      supervisor, before it sends the standby its assignment
 *   ARMING → ARMED     the standby, once built (fails if the supervisor dropped it)
 *   ARMED → PROMOTED   the dying thread or the supervisor: the standby takes over
 *   ARMING|ARMED → DROPPED  the supervisor, when it restarts the group some other
 *                      way or stops: the standby must never run
 *   PROMOTED|DROPPED → NONE  the supervisor, when it arms the next standby
 * Whoever wins ARMED → PROMOTED writes the death time first (BELL_F64_DEATH_AT).
 * A hung thread is terminated before the supervisor promotes: the standby and
 * the thread it replaces never run the same servers at once.
 */
import { PoolGeometry, reclaimHeldBy } from './pool.js';
import {
  BELL_COUNTED, COUNTED_IN, BELL_F64_DEATH_AT, BELL_SLEEPING, BELL_STANDBY, MSG_OFFSET, MSG_POOL, MSG_WORDS,
  RING_CAPACITY, RING_HEAD, RING_HEADER_WORDS, RING_TAIL, SYS_RUNNABLE,
} from './layout.js';

export const STANDBY_NONE = 0;
export const STANDBY_ARMING = 1;
export const STANDBY_ARMED = 2;
export const STANDBY_PROMOTED = 3;
export const STANDBY_DROPPED = 4;

/** Buffers a dead server held that went back to their owner, per pool id (only pools with some). */
export type Reclaimed = { readonly pool: number; readonly buffers: number }[];

/**
 * Every buffer of `pools` HELD by server `holderIndex` goes back to its owner, except those
 * still referenced by unreleased messages in its input rings (the successor processes them).
 */
export function reclaimFor(holderIndex: number, inputRings: readonly SharedArrayBuffer[], pools: readonly SharedArrayBuffer[]): Reclaimed {
  const out: { pool: number; buffers: number }[] = [];
  for (const sab of pools) {
    const geometry = new PoolGeometry(sab);
    const queued = new Set<number>();
    for (const ring of inputRings) {
      const w = new Int32Array(ring);
      const cap = w[RING_CAPACITY]!;
      const tail = Atomics.load(w, RING_TAIL);
      for (let i = Atomics.load(w, RING_HEAD); i !== tail; i = (i + 1) | 0) {
        const at = RING_HEADER_WORDS + (i & (cap - 1)) * MSG_WORDS;
        if ((w[at + MSG_POOL]! & 0xffff) !== geometry.id) continue;
        const idx = geometry.indexOf(w[at + MSG_OFFSET]! >>> 0);
        if (idx >= 0) queued.add(idx);
      }
    }
    const n = reclaimHeldBy(sab, holderIndex, queued);
    if (n > 0) out.push({ pool: geometry.id, buffers: n });
  }
  return out;
}

/** Takes back an ended (dead or stopped) loop's count in SYS_RUNNABLE if it still held one, and its sleeping flag. */
export function releaseDeadLoop(bell: Int32Array, system: Int32Array): void {
  if (Atomics.exchange(bell, BELL_COUNTED, 0) === COUNTED_IN) Atomics.sub(system, SYS_RUNNABLE, 1);
  Atomics.store(bell, BELL_SLEEPING, 0);
}

/**
 * Promotes the thread's armed standby, if it has one: true when this call did (the caller
 * must then start no other successor), or when someone else already had.
 */
export function promoteStandby(bellSab: SharedArrayBuffer, deathAt: number): boolean {
  const bell = new Int32Array(bellSab);
  const state = Atomics.load(bell, BELL_STANDBY);
  if (state === STANDBY_PROMOTED) return true;
  if (state !== STANDBY_ARMED) return false;
  new Float64Array(bellSab)[BELL_F64_DEATH_AT] = deathAt;
  const was = Atomics.compareExchange(bell, BELL_STANDBY, STANDBY_ARMED, STANDBY_PROMOTED);
  if (was === STANDBY_ARMED) { Atomics.notify(bell, BELL_STANDBY); return true; }
  return was === STANDBY_PROMOTED;
}

/** When the promoter said the thread died (monotonic ms). */
export function deathTime(bellSab: SharedArrayBuffer): number {
  return new Float64Array(bellSab)[BELL_F64_DEATH_AT]!;
}
