/**
 * Link impairments, as netem gives them (this kernel and many containers have
 * none): loss, duplication, reordering, delay and a serialisation rate, drawn
 * from a seeded RNG so a run can be repeated. Shared by the virtual switch
 * (vswitch.ts, decided by the sending port) and the `newtos impair` bridge
 * between two TAP devices (impair-bridge.ts).
 *
 * Decisions are made per frame, in a fixed order (loss, duplicate, reorder),
 * each draw only when its probability is above 0, so a seed replays the same
 * run for the same options.
 */
import { invalidArg } from '../../errors.js';
import type { Rng } from '../../random/rng.js';

export interface LinkImpairments {
  /** Probability of dropping a frame, 0..1. */
  readonly loss?: number;
  /** Probability that a kept frame is sent twice, 0..1 (the copy takes the same path). */
  readonly duplicate?: number;
  /** Probability that a frame overtakes the ones before it, 0..1 (see the user for how). */
  readonly reorder?: number;
  /** One-way delay in ms added to every frame. */
  readonly delayMs?: number;
  /** Egress rate in bits per second (absent: unlimited). */
  readonly rateBps?: number;
  /** Seed of the impairment RNG. */
  readonly seed?: number;
}

/** Refuses impossible values, naming the field (`path.loss`, ...). */
export function checkImpairments(imp: LinkImpairments, path = 'impairments'): void {
  for (const [name, p] of [['loss', imp.loss], ['duplicate', imp.duplicate], ['reorder', imp.reorder]] as const) {
    if (p !== undefined && !(p >= 0 && p <= 1)) throw invalidArg(`${path}.${name}`, 'must be in 0..1');
  }
  if (imp.delayMs !== undefined && !(imp.delayMs >= 0 && Number.isFinite(imp.delayMs))) throw invalidArg(`${path}.delayMs`, 'must be >= 0');
  if (imp.rateBps !== undefined && !(imp.rateBps > 0 && Number.isFinite(imp.rateBps))) throw invalidArg(`${path}.rateBps`, 'must be > 0');
  if (imp.seed !== undefined && !Number.isInteger(imp.seed)) throw invalidArg(`${path}.seed`, 'must be an integer');
}

/** The per-frame decisions of one direction of a link (sans-IO: the caller passes the time). */
export class Impairment {
  /** When the link is busy until (rate), ms on the caller's clock. */
  private busyUntil = 0;

  constructor(readonly imp: LinkImpairments, private readonly rng: Rng) {}

  private draw(p: number | undefined): boolean {
    return p !== undefined && p > 0 && this.rng.nextU32() < p * 2 ** 32;
  }

  /** Whether this frame is lost. */
  lose(): boolean {
    return this.draw(this.imp.loss);
  }

  /** Whether this (kept) frame is also sent a second time. */
  duplicate(): boolean {
    return this.draw(this.imp.duplicate);
  }

  /** Whether this frame is reordered. */
  reorder(): boolean {
    return this.draw(this.imp.reorder);
  }

  /**
   * When a frame of `len` bytes handed over at `now` leaves the link: after the
   * frames before it have been serialised at the rate, plus the delay. With
   * `skipDelay` (a netem-style reordered frame) the delay is not added.
   */
  deliverAt(len: number, now: number, skipDelay = false): number {
    let at = now;
    if (this.imp.rateBps !== undefined) {
      this.busyUntil = Math.max(now, this.busyUntil) + (len * 8 * 1000) / this.imp.rateBps;
      at = this.busyUntil;
    }
    if (!skipDelay && this.imp.delayMs !== undefined) at += this.imp.delayMs;
    return at;
  }
}
