/**
 * One direction of an impairing bridge (`newtos impair`): frames go in as they
 * are read from one device and come out, impaired (impairment.ts), when they
 * are due on the other. Sans-IO: the caller reads, writes and passes the time.
 *
 * Reordering follows netem's "reorder P delay D": with a delay, a reordered
 * frame skips the delay and so overtakes the frames still waiting. Without a
 * delay there is nothing to overtake, so (as the virtual switch does) a
 * reordered frame is held back until the next frame has gone out, or 1 ms.
 *
 * Every kept frame is copied once (the reader's buffer is reused); the two
 * queues are FIFOs because, for a constant delay and rate, due times only grow
 * within each.
 */
import { Impairment, type LinkImpairments } from './impairment.js';
import type { Rng } from '../../random/rng.js';

/** How long a held-back frame waits for a successor at most, ms (delay 0 only). */
export const IMPAIR_HOLD_MS = 1;

export interface ImpairDirectionStats {
  /** Frames handed in. */
  frames: number;
  lost: number;
  duplicated: number;
  /** Frames sent ahead of the ones before them. */
  reordered: number;
  /** Frames that waited the delay. */
  delayed: number;
  /** Frames handed out (copies included). */
  sent: number;
  /** Frames the output device refused. */
  sendErrors: number;
}

class Fifo {
  private frames: Uint8Array[] = [];
  private times: number[] = [];
  private head = 0;

  get size(): number {
    return this.frames.length - this.head;
  }

  push(frame: Uint8Array, at: number): void {
    this.frames.push(frame);
    this.times.push(at);
  }

  firstAt(): number {
    return this.head < this.frames.length ? this.times[this.head]! : Infinity;
  }

  shift(): Uint8Array {
    const f = this.frames[this.head]!;
    this.head++;
    if (this.head > 1024 && this.head * 2 > this.frames.length) {
      this.frames = this.frames.slice(this.head);
      this.times = this.times.slice(this.head);
      this.head = 0;
    }
    return f;
  }
}

export class ImpairedDirection {
  readonly stats: ImpairDirectionStats = { frames: 0, lost: 0, duplicated: 0, reordered: 0, delayed: 0, sent: 0, sendErrors: 0 };
  private readonly impairment: Impairment;
  private readonly delayed = new Fifo();
  private readonly early = new Fifo();
  private held: { frame: Uint8Array; since: number } | null = null;

  constructor(readonly imp: LinkImpairments, rng: Rng) {
    this.impairment = new Impairment(imp, rng);
  }

  /** A frame arrived at `now` (ms); it is copied. */
  push(frame: Uint8Array, now: number): void {
    this.stats.frames++;
    const imp = this.impairment;
    if (imp.lose()) {
      this.stats.lost++;
      return;
    }
    const copies = imp.duplicate() ? 2 : 1;
    if (copies === 2) this.stats.duplicated++;
    const delay = this.imp.delayMs ?? 0;
    for (let c = 0; c < copies; c++) {
      const copy = frame.slice();
      const reorder = imp.reorder();
      if (reorder) this.stats.reordered++;
      if (reorder && delay === 0 && this.held === null) {
        this.held = { frame: copy, since: now };
        continue;
      }
      const at = imp.deliverAt(copy.length, now, reorder);
      if (reorder) {
        this.early.push(copy, at);
      } else {
        if (delay > 0) this.stats.delayed++;
        this.delayed.push(copy, at);
      }
    }
  }

  /** When the next frame is due (ms), or Infinity. */
  nextDueMs(): number {
    return Math.min(this.early.firstAt(), this.delayed.firstAt(), this.held === null ? Infinity : this.held.since + IMPAIR_HOLD_MS);
  }

  /** Hands every frame due at `now` to `out`, in order of due time. */
  takeDue(now: number, out: (frame: Uint8Array) => void): void {
    for (;;) {
      const a = this.early.firstAt();
      const b = this.delayed.firstAt();
      const t = Math.min(a, b);
      if (t > now) break;
      out(a <= b ? this.early.shift() : this.delayed.shift());
      // A held frame goes out right after its successor.
      if (this.held !== null) {
        out(this.held.frame);
        this.held = null;
      }
    }
    if (this.held !== null && now - this.held.since >= IMPAIR_HOLD_MS) {
      out(this.held.frame);
      this.held = null;
    }
  }

  /** Frames waiting. */
  get queued(): number {
    return this.early.size + this.delayed.size + (this.held === null ? 0 : 1);
  }
}
