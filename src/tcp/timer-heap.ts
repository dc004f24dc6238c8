/**
 * When the engine's connections have timer work: one binary min-heap of (deadline,
 * connection id) for all of them. What a timer does is in timers.ts; each connection
 * keeps its deadlines itself, and Tcb.heapAt is the heap entry that counts for it.
 *
 * Entries are never removed from the middle: a timer stopped or moved later leaves
 * a stale entry (its deadline no longer t.heapAt, or earlier than any timer of t),
 * settled when it reaches the top (next, expire). Moving a timer earlier pushes a
 * new entry.
 */
import { TcpState } from './state.js';
import type { Tcb } from './tcb.js';
import { nextDeadline } from './timers.js';

export class TimerHeap {
  // Parallel arrays: deadline, connection id.
  private readonly at: number[] = [];
  private readonly id: number[] = [];

  /** Number of entries, stale ones included (tests). */
  get size(): number {
    return this.at.length;
  }

  /** Timer fields of t changed: make sure the heap will wake for them. */
  schedule(t: Tcb): void {
    const d = nextDeadline(t);
    if (d < t.heapAt) {
      t.heapAt = d;
      this.push(d, t.id);
    }
  }

  /** The earliest deadline of a live connection (Infinity: none); settles stale entries on top. */
  next(conn: (id: number) => Tcb | undefined): number {
    while (this.at.length > 0) {
      const at = this.at[0]!;
      const t = conn(this.id[0]!);
      if (t === undefined || t.heapAt !== at) {
        this.pop();
        continue;
      }
      const d = nextDeadline(t);
      if (d <= at) return at;
      this.pop();
      t.heapAt = Infinity;
      this.schedule(t);
    }
    return Infinity;
  }

  /**
   * Run `fire` for each connection with a deadline at or before `now`, each once per
   * entry, and schedule it again for its next deadline unless it is gone or CLOSED.
   */
  expire(now: number, conn: (id: number) => Tcb | undefined, fire: (t: Tcb) => void): void {
    while (this.at.length > 0 && this.at[0]! <= now) {
      const at = this.at[0]!;
      const id = this.id[0]!;
      this.pop();
      const t = conn(id);
      if (t === undefined || t.heapAt !== at) continue;
      t.heapAt = Infinity;
      if (nextDeadline(t) <= now) fire(t);
      if (conn(id) === t && t.state !== TcpState.Closed) this.schedule(t);
    }
  }

  private push(at: number, id: number): void {
    const a = this.at;
    const b = this.id;
    let i = a.length;
    a.push(at);
    b.push(id);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p]! <= at) break;
      a[i] = a[p]!;
      b[i] = b[p]!;
      i = p;
    }
    a[i] = at;
    b[i] = id;
  }

  private pop(): void {
    const a = this.at;
    const b = this.id;
    const lastAt = a.pop()!;
    const lastId = b.pop()!;
    const n = a.length;
    if (n === 0) return;
    let i = 0;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n && a[c + 1]! < a[c]!) c++;
      if (a[c]! >= lastAt) break;
      a[i] = a[c]!;
      b[i] = b[c]!;
      i = c;
    }
    a[i] = lastAt;
    b[i] = lastId;
  }
}
