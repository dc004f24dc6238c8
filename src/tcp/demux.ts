/**
 * The engine's connections: control blocks by id (small integers, reused after
 * release) and by 4-tuple, for demultiplexing arriving segments (RFC 9293 §3.10.7,
 * "find the TCB"). A connection gets its id when created (take) and is found by its
 * 4-tuple only between insert and remove (from its first segment out or in until it
 * reaches CLOSED); a TIME-WAIT connection stays found though its application may have
 * released it.
 *
 * The 4-tuple table is keyed by the remote address and port (what varies most on a
 * server), each bucket a chain through Tcb.nextInBucket of the connections that
 * differ only in the local side.
 */
import type { Tcb } from './tcb.js';

export class ConnectionTable {
  private readonly byId: (Tcb | undefined)[] = [];
  private readonly freeIds: number[] = [];
  /** key remoteAddr * 65536 + remotePort → chain of Tcbs (nextInBucket). */
  private readonly byTuple = new Map<number, Tcb>();

  /**
   * `onChange`: a connection entered (+1) or left (-1) the 4-tuple table
   * (TcpEngineOptions.onTableChange).
   */
  constructor(private readonly onChange?: (t: Tcb, delta: 1 | -1) => void) {}

  /** The id the next connection will take (take it with add). */
  nextId(): number {
    return this.freeIds.length > 0 ? this.freeIds[this.freeIds.length - 1]! : this.byId.length;
  }

  /** Give t its id slot (t.id from nextId()). */
  add(t: Tcb): void {
    if (this.freeIds.length > 0 && this.freeIds[this.freeIds.length - 1] === t.id) this.freeIds.pop();
    else if (t.id !== this.byId.length) throw new Error(`tcp: connection id ${t.id} is not the next free one`);
    this.byId[t.id] = t;
  }

  get(id: number): Tcb | undefined {
    return this.byId[id];
  }

  /** t leaves the id table (its id is free again); nothing when it already left. */
  free(t: Tcb): boolean {
    if (this.byId[t.id] !== t) return false;
    this.byId[t.id] = undefined;
    this.freeIds.push(t.id);
    return true;
  }

  /** Is t still the connection with its id (not freed, id not reused)? */
  has(t: Tcb): boolean {
    return this.byId[t.id] === t;
  }

  /** Every connection with an id (with holes: undefined), for passes over all of them. */
  all(): readonly (Tcb | undefined)[] {
    return this.byId;
  }

  count(): number {
    let n = 0;
    for (const t of this.byId) if (t !== undefined) n++;
    return n;
  }

  lookup(localAddr: number, localPort: number, remoteAddr: number, remotePort: number): Tcb | undefined {
    let t = this.byTuple.get(remoteAddr * 65536 + remotePort) ?? null;
    while (t !== null) {
      if (t.localPort === localPort && t.localAddr === localAddr) return t;
      t = t.nextInBucket;
    }
    return undefined;
  }

  insert(t: Tcb): void {
    const k = t.remoteAddr * 65536 + t.remotePort;
    t.nextInBucket = this.byTuple.get(k) ?? null;
    this.byTuple.set(k, t);
    this.onChange?.(t, 1);
  }

  remove(t: Tcb): void {
    const k = t.remoteAddr * 65536 + t.remotePort;
    let p = this.byTuple.get(k);
    if (p === undefined) return;
    if (p === t) {
      if (t.nextInBucket === null) this.byTuple.delete(k);
      else this.byTuple.set(k, t.nextInBucket);
      t.nextInBucket = null;
      this.onChange?.(t, -1);
      return;
    }
    while (p.nextInBucket !== null) {
      if (p.nextInBucket === t) {
        p.nextInBucket = t.nextInBucket;
        t.nextInBucket = null;
        this.onChange?.(t, -1);
        return;
      }
      p = p.nextInBucket;
    }
  }
}
