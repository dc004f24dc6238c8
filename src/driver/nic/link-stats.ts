/**
 * Link counters in shared memory, so every NIC backend's frames, bytes and
 * drops by reason (NicCounters, kept in the driver's thread, some of them
 * published there by I/O bridge threads) can be read by the application, the
 * CLI and Prometheus without a message to the driver.
 *
 * Layout: per interface index i, LINK_STAT_SLOTS Float64 values at
 * i * LINK_STAT_SLOTS: rxFrames, rxBytes, txFrames, txBytes, then one per
 * NIC_DROP_REASONS entry. Written only by the driver (plain stores: statistics,
 * a torn read is harmless and the next publish repairs it).
 *
 * The driver publishes at most every `everyMs` while frames move, and once
 * more after they stop (`dueAt` asks for that one extra poll), so an idle host
 * shows final figures without waking up for nothing.
 */
import { NIC_DROP_REASONS, type NicBackend, type NicDropReason } from './backend.js';

export const LINK_STAT_SLOTS = 4 + NIC_DROP_REASONS.length;

export function createLinkStats(interfaces: number): SharedArrayBuffer {
  return new SharedArrayBuffer(Math.max(1, interfaces) * LINK_STAT_SLOTS * 8);
}

/** The driver's side. */
export class LinkStatsPublisher {
  private readonly values: Float64Array;
  private lastAt = -Infinity;
  private publishedMoved = 0;

  constructor(sab: SharedArrayBuffer, private readonly backends: readonly NicBackend[], private readonly everyMs = 100) {
    this.values = new Float64Array(sab);
  }

  /** `moved`: a count that grows with every frame (the driver's rx + tx frames). */
  maybePublish(now: number, moved: number): void {
    if (moved === this.publishedMoved && this.lastAt !== -Infinity) return;
    if (now - this.lastAt < this.everyMs) return;
    this.publish();
    this.lastAt = now;
    this.publishedMoved = moved;
  }

  /** When the next publish is due: Infinity while nothing moved since the last one. */
  dueAt(moved: number): number {
    return moved === this.publishedMoved && this.lastAt !== -Infinity ? Infinity : this.lastAt + this.everyMs;
  }

  publish(): void {
    const v = this.values;
    this.backends.forEach((b, i) => {
      const c = b.counters;
      const at = i * LINK_STAT_SLOTS;
      v[at] = c.rxFrames; v[at + 1] = c.rxBytes; v[at + 2] = c.txFrames; v[at + 3] = c.txBytes;
      for (let r = 0; r < NIC_DROP_REASONS.length; r++) v[at + 4 + r] = c.drops[NIC_DROP_REASONS[r]!];
    });
  }
}

export interface LinkStats {
  readonly iface: string;
  readonly rxFrames: number;
  readonly rxBytes: number;
  readonly txFrames: number;
  readonly txBytes: number;
  readonly drops: Readonly<Record<NicDropReason, number>>;
}

/** Reads every interface's published counters. */
export function readLinkStats(sab: SharedArrayBuffer, names: readonly string[]): LinkStats[] {
  const v = new Float64Array(sab);
  return names.map((iface, i) => {
    const at = i * LINK_STAT_SLOTS;
    const drops = Object.fromEntries(NIC_DROP_REASONS.map((r, k) => [r, v[at + 4 + k]!])) as Record<NicDropReason, number>;
    return { iface, rxFrames: v[at]!, rxBytes: v[at + 1]!, txFrames: v[at + 2]!, txBytes: v[at + 3]!, drops };
  });
}
