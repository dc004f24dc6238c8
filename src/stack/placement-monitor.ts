/**
 * The placement monitor's core (sans-IO, clock injected): fed every ~100 ms with the cores the
 * host was given and the load of everything else on the machine (the thread monitor's
 * `otherLoad`: threads runnable less what this host's server threads account for), it decides
 * when the host's servers should move between the two ring placements:
 *
 * - **isolated** (a thread per server: a crash takes one server; every hop crosses threads)
 *   while every server thread and the application can each have a core of their own;
 * - **grouped** (the link side and the transport side in a thread each, per replica) when they
 *   cannot: on too few cores, isolated threads wait for each other's cores on every hop.
 *
 * That is placement 'auto's rule at start-up (host.ts autoPlacement), kept up while the host
 * runs and the machine's load changes. The cores left for the host are `cores` less the other
 * load, counting at least one for the application. To split, the cores must suffice for
 * `holdMs` without a break; to group, they must fall short by at least half a core for
 * `holdMs`; after a change (or a regroup made by hand, `moved`) nothing moves for
 * `cooldownMs`. Moving costs every moved server a restart from its kept state (tens of ms of
 * pause, nothing lost), so it must not follow every burst.
 */
export type RingPlacement = 'isolated' | 'grouped';

export interface PlacementMonitorOptions {
  /** Cores the host was given. */
  readonly cores: number;
  /** Server threads of each placement. */
  readonly isolatedThreads: number;
  readonly groupedThreads: number;
  /** How long the cores must speak for a change before it is made (default 3000 ms). */
  readonly holdMs?: number;
  /** No change for this long after one (default 30000 ms). */
  readonly cooldownMs?: number;
}

export interface RegroupDecision {
  readonly at: number;
  readonly from: RingPlacement;
  readonly to: RingPlacement;
  readonly cores: number;
  /** Load of everything else (threads), averaged by the thread monitor. */
  readonly otherLoad: number;
  /** Cores left for this host's server threads: cores less max(1, otherLoad). */
  readonly coresLeft: number;
  readonly isolatedThreads: number;
  readonly groupedThreads: number;
  readonly reason: string;
}

export class PlacementMonitor {
  readonly decisions: RegroupDecision[] = [];
  private readonly o: Required<PlacementMonitorOptions>;
  /** Since when the figures have asked for the other placement (NaN: they do not). */
  private wantSince = NaN;
  private lastMoveAt = -Infinity;

  constructor(options: PlacementMonitorOptions) {
    this.o = { holdMs: 3000, cooldownMs: 30_000, ...options };
  }

  /** A regroup was made (by this monitor's decision or by hand) at `now`: the cooldown starts. */
  moved(now: number): void {
    this.lastMoveAt = now;
    this.wantSince = NaN;
  }

  /** One tick: the placement to move to now, or null. The caller moves and then calls `moved`. */
  tick(now: number, current: RingPlacement, otherLoad: number): RegroupDecision | null {
    const o = this.o;
    const coresLeft = o.cores - Math.max(1, otherLoad);
    const want: RingPlacement = current === 'grouped'
      ? (coresLeft >= o.isolatedThreads ? 'isolated' : 'grouped')
      : (coresLeft < o.isolatedThreads - 0.5 ? 'grouped' : 'isolated');
    if (want === current) { this.wantSince = NaN; return null; }
    if (Number.isNaN(this.wantSince)) this.wantSince = now;
    if (now - this.wantSince < o.holdMs || now - this.lastMoveAt < o.cooldownMs) return null;
    const load = otherLoad.toFixed(2);
    const reason = want === 'grouped'
      ? `${coresLeft.toFixed(2)} cores left (${o.cores} less load ${load}, at least 1 for the application) for ${o.isolatedThreads} isolated threads for ${Math.round(now - this.wantSince)} ms: grouped into ${o.groupedThreads}`
      : `${coresLeft.toFixed(2)} cores left (${o.cores} less load ${load}, at least 1 for the application): one for each of ${o.isolatedThreads} isolated threads for ${Math.round(now - this.wantSince)} ms`;
    const d: RegroupDecision = {
      at: now, from: current, to: want, cores: o.cores, otherLoad: Math.round(otherLoad * 100) / 100,
      coresLeft: Math.round(coresLeft * 100) / 100, isolatedThreads: o.isolatedThreads, groupedThreads: o.groupedThreads, reason,
    };
    this.decisions.push(d);
    if (this.decisions.length > 1000) this.decisions.splice(0, this.decisions.length - 500);
    this.wantSince = NaN;
    return d;
  }
}
