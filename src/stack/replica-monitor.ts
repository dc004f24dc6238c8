/**
 * The replica monitor's core (sans-IO, clock injected): fed every ~100 ms with the frames
 * each replica's receive queue has taken so far, it decides how many replicas should take
 * new flows, and moves the RSS indirection table (src/abi/rss-table.ts) to match.
 *
 * - Load is frames per second over the last tick, summed over replicas. The wanted count is
 *   ceil(load / perReplicaFps), held within [min, max]; it must stay above (below) the
 *   active count for `holdMs` before the monitor grows (shrinks): no flapping on a burst.
 * - Shrinking marks the highest active replica draining (SOCK sends it no new connection)
 *   and moves its table entries to the others, but only entries that hold no live
 *   connection (`live(replica, entry)`), so no existing flow changes replica; the rest move
 *   on later ticks as their connections end. Growing clears the draining mark and moves
 *   empty entries back round-robin.
 * - Every decision is reported with the figures behind it.
 *
 * A host with replicas runs it on a timer (src/stack/host.ts, configuration `monitor`): the
 * driver publishes frames per receive queue, each replica's TCP its live connections per
 * table entry (rss-table.ts createEntryLoad).
 */
import { ENTRY_MOVING, RSS_TABLE_SIZE } from '../abi/rss-table.js';

export interface MonitorOptions {
  /** Replicas started (the most that can be active). */
  readonly max: number;
  readonly min?: number;
  /** Frames per second one replica is meant to carry before another is brought in. */
  readonly perReplicaFps: number;
  /** How long the wanted count must differ before acting (ms). */
  readonly holdMs?: number;
  /**
   * The load is the frame rate over this window (ms, default 500): the driver publishes its
   * counts every ~100 ms, so a rate over one short tick swings between 0 and twice the truth
   * and the wanted count would never hold still.
   */
  readonly windowMs?: number;
  /**
   * An entry moves only after no TCP frame was steered by it for this long (ms, default
   * 500; with `entryFrames`): a handshake in progress has no connection any table counts
   * yet (a SYN still in the rings, a SYN-ACK sent with a cookie), and its next segment must
   * reach the replica that answered it, not find another one and be reset.
   */
  readonly quietMs?: number;
}

export interface MonitorDecision {
  readonly at: number;
  readonly action: 'grow' | 'shrink';
  readonly from: number;
  readonly to: number;
  /** Frames/s over the last tick, all replicas, and per replica. */
  readonly loadFps: number;
  readonly perReplicaFps: readonly number[];
  /** Table entries moved now, and entries of draining replicas still waiting for their connections to end. */
  readonly entriesMoved: number;
  readonly entriesPending: number;
}

export class ReplicaMonitor {
  private readonly min: number;
  private readonly holdMs: number;
  private active: number;
  private readonly windowMs: number;
  private readonly quietMs: number;
  /** Per entry: the frame count last seen, and since when it has not moved (ms). */
  private readonly lastFrames = new Int32Array(RSS_TABLE_SIZE);
  private readonly quietSince = new Float64Array(RSS_TABLE_SIZE).fill(-Infinity);
  /** (time, frames per replica) samples covering the window, oldest first. */
  private history: { at: number; frames: number[] }[] = [];
  /** Since when the wanted count has differed from the active one (NaN: it has not). */
  private differsSince = NaN;
  /** The decisions made, the latest 500-1000 (older ones are dropped). */
  readonly decisions: MonitorDecision[] = [];

  constructor(
    private readonly options: MonitorOptions,
    private readonly table: Uint8Array,
    private readonly draining: Int32Array,
    /** TCP frames the driver steered per entry (rss-table.ts createEntryFrames); without it entries are always quiet. */
    private readonly entryFrames?: Int32Array,
  ) {
    this.min = Math.max(1, options.min ?? 1);
    this.holdMs = options.holdMs ?? 1000;
    this.windowMs = options.windowMs ?? 500;
    this.quietMs = options.quietMs ?? 500;
    this.active = options.max;
  }

  get activeReplicas(): number {
    return this.active;
  }

  /** One look at the statistics: `rxFrames[r]` frames replica r received so far; `live(r, e)` its connections in entry e. */
  tick(now: number, rxFrames: readonly number[], live: (replica: number, entry: number) => number): MonitorDecision | null {
    const first = this.history.length === 0;
    // The base: the newest sample at least a window old (or the oldest one there is).
    while (this.history.length > 1 && this.history[1]!.at <= now - this.windowMs) this.history.shift();
    const base = this.history[0];
    const dt = base === undefined ? 0 : (now - base.at) / 1000;
    const per = rxFrames.map((f, r) => base === undefined || dt <= 0 ? 0 : Math.max(0, f - (base.frames[r] ?? 0)) / dt);
    this.history.push({ at: now, frames: rxFrames.slice() });
    // Entries of draining replicas move as they empty, whatever else happens.
    const moved = this.rebalance(live, now);
    if (first) return null;
    const load = per.reduce((a, b) => a + b, 0);
    const want = Math.min(this.options.max, Math.max(this.min, Math.ceil(load / this.options.perReplicaFps)));
    if (want === this.active) { this.differsSince = NaN; return null; }
    if (Number.isNaN(this.differsSince)) this.differsSince = now;
    if (now - this.differsSince < this.holdMs) return null;
    const from = this.active;
    this.active = want > from ? from + 1 : from - 1;
    for (let r = 0; r < this.options.max; r++) Atomics.store(this.draining, r, r < this.active ? 0 : 1);
    this.differsSince = NaN;
    const d: MonitorDecision = {
      at: now, action: want > from ? 'grow' : 'shrink', from, to: this.active, loadFps: Math.round(load),
      perReplicaFps: per.map((x) => Math.round(x)), entriesMoved: moved + this.rebalance(live, now), entriesPending: this.pending(),
    };
    this.decisions.push(d);
    // The recent ones only: a host that lives for months under changing load must not grow.
    if (this.decisions.length > 1000) this.decisions.splice(0, this.decisions.length - 500);
    return d;
  }

  /**
   * Moves table entries toward the spread of a fresh table over the active replicas —
   * entry e on replica e mod active — but only entries that hold no live connection and
   * have been quiet for `quietMs`, so no flow changes replica, established or still in its
   * handshake (a draining replica's entries move as they empty).
   * Interleaved, not in blocks: consecutive client ports hash to entries that differ in
   * their low bits (Toeplitz is linear in the port), so a contiguous block per replica
   * could put all of one client's new flows on one replica.
   */
  private rebalance(live: (replica: number, entry: number) => number, now: number): number {
    const frames = this.entryFrames;
    let moved = 0;
    for (let e = 0; e < RSS_TABLE_SIZE; e++) {
      const seen = frames === undefined ? 0 : Atomics.load(frames, e);
      if (seen !== this.lastFrames[e]) { this.lastFrames[e] = seen; this.quietSince[e] = now; }
      const r = this.table[e]!;
      const to = e % this.active;
      if (r === to || live(r, e) > 0 || now - this.quietSince[e]! < this.quietMs) continue;
      if (frames === undefined) { Atomics.store(this.table, e, to); moved++; continue; }
      // Taken only if no frame was counted since `seen` (rss-table.ts createEntryFrames): such a
      // frame read the old entry and its flow stays there. Frames counted from here on wait
      // for the entry to be written and go to `to`.
      if (Atomics.compareExchange(frames, e, seen, seen | ENTRY_MOVING) !== seen) {
        this.lastFrames[e] = Atomics.load(frames, e) & ~ENTRY_MOVING;
        this.quietSince[e] = now;
        continue;
      }
      Atomics.store(this.table, e, to);
      Atomics.and(frames, e, ~ENTRY_MOVING);
      moved++;
    }
    return moved;
  }

  private pending(): number {
    let n = 0;
    for (let e = 0; e < RSS_TABLE_SIZE; e++) if (this.table[e]! >= this.active) n++;
    return n;
  }
}
